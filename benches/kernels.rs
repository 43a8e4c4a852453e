//! Criterion benches of the CPU kernels (run: `cargo bench --bench kernels`).

use criterion::{criterion_group, criterion_main, Criterion};
use rustgrad::{DType, Device, Tensor};

fn matmul(c: &mut Criterion) {
    let a = Tensor::randn(&[256, 256], DType::F32, Device::Cpu, None).unwrap();
    let b = Tensor::randn(&[256, 256], DType::F32, Device::Cpu, None).unwrap();
    c.bench_function("matmul_256_f32", |bench| {
        bench.iter(|| a.matmul(&b).unwrap())
    });
}

fn add_small(c: &mut Criterion) {
    let a = Tensor::randn(&[100], DType::F32, Device::Cpu, None).unwrap();
    let b = Tensor::randn(&[100], DType::F32, Device::Cpu, None).unwrap();
    c.bench_function("add_100_f32", |bench| bench.iter(|| a.add(&b).unwrap()));
}

criterion_group!(benches, matmul, add_small);
criterion_main!(benches);
