//! Criterion benches of the CPU kernels (run: `cargo bench --bench kernels`; one group:
//! `cargo bench --bench kernels -- conv`).

use criterion::{criterion_group, criterion_main, Criterion};
use rustgrad::ops::nn::conv::Padding2d;
use rustgrad::{DType, Device, Tensor};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F32, Device::Cpu, None).unwrap()
}

fn matmul(c: &mut Criterion) {
    for n in [256, 1024] {
        let (a, b) = (randn(&[n, n]), randn(&[n, n]));
        c.bench_function(&format!("matmul_{n}_f32"), |bench| {
            bench.iter(|| a.matmul(&b).unwrap())
        });
    }
}

/// The three passes of the seed ConvNet's second convolution (64x32x14x14 -> 64, 3x3, pad 1).
fn conv(c: &mut Criterion) {
    let (x, w, gy) = (
        randn(&[64, 32, 14, 14]),
        randn(&[64, 32, 3, 3]),
        randn(&[64, 64, 14, 14]),
    );
    let pad = Padding2d::Explicit([1, 1]);
    c.bench_function("conv2d_forward", |bench| {
        bench.iter(|| x.conv2d(&w, None, [1, 1], pad, [1, 1], 1).unwrap())
    });
    // The input gradient is the transposed convolution of the output gradient.
    c.bench_function("conv2d_input_grad", |bench| {
        bench.iter(|| {
            gy.conv_transpose2d(&w, None, [1, 1], [1, 1], [0, 0], 1, [1, 1])
                .unwrap()
        })
    });
    let wr = w.clone().requires_grad_(true).unwrap();
    c.bench_function("conv2d_weight_grad", |bench| {
        bench.iter(|| {
            let y = x.conv2d(&wr, None, [1, 1], pad, [1, 1], 1).unwrap();
            rustgrad::autograd::backward(&[y], &[Some(gy.clone())], false, false, None).unwrap();
        })
    });
}

fn add_small(c: &mut Criterion) {
    let (a, b) = (randn(&[100]), randn(&[100]));
    c.bench_function("add_100_f32", |bench| bench.iter(|| a.add(&b).unwrap()));
}

criterion_group!(benches, matmul, conv, add_small);
criterion_main!(benches);
