//! Helpers shared by the tests of the CUDA backend on its CPU emulator (`cuda-emu` feature):
//! random inputs, and comparison of an op on the emulated device with the CPU result.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use rustgrad::backend::cuda::host_reads;
use rustgrad::tensor::random::Generator;
use rustgrad::{DType, Device, Result, Tensor};

pub const GPU: Device = Device::Cuda(0);
pub const CPU: Device = Device::Cpu;

/// Standard normal values of `dtype` on the CPU, from the generator seeded with `seed`.
pub fn randn_of(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
    let mut g = Generator::new(seed);
    Tensor::randn(shape, dtype, CPU, Some(&mut g)).unwrap()
}

pub fn randn(shape: &[usize], seed: u64) -> Tensor {
    randn_of(shape, DType::F32, seed)
}

pub fn randn64(shape: &[usize], seed: u64) -> Tensor {
    randn_of(shape, DType::F64, seed)
}

pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_device(CPU)
        .unwrap()
        .contiguous()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec::<f64>()
        .unwrap()
}

/// Asserts `gpu` (on the device) equals `cpu` in shape, dtype and values within tolerance.
pub fn assert_close(what: &str, gpu: &Tensor, cpu: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(gpu.device(), GPU, "{what}: result not on the GPU");
    assert_eq!(cpu.device(), CPU, "{what}: reference not on the CPU");
    assert_eq!(gpu.shape(), cpu.shape(), "{what}: shapes differ");
    assert_eq!(gpu.dtype(), cpu.dtype(), "{what}: dtypes differ");
    let (g, c) = (values(gpu), values(cpu));
    let mut worst = (0.0f64, 0usize);
    for (i, (a, b)) in g.iter().zip(&c).enumerate() {
        if a.is_nan() && b.is_nan() || a == b {
            continue;
        }
        let err = (a - b).abs() - (atol + rtol * b.abs());
        if err.is_nan() || err > worst.0 {
            worst = (if err.is_nan() { f64::INFINITY } else { err }, i);
        }
    }
    assert!(
        worst.0 <= 0.0,
        "{what}: element {} differs: gpu {} cpu {} (shape {:?})",
        worst.1,
        g[worst.1],
        c[worst.1],
        cpu.shape()
    );
}

/// Runs `f` on the CPU inputs and on device copies of them; compares the outputs and, when the
/// output is floating point, the gradients of every floating input for a random weighting of
/// the output.
pub fn check(
    what: &str,
    inputs: &[Tensor],
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    rtol: f64,
    atol: f64,
) {
    let leaves = |dev: Device| -> Vec<Tensor> {
        inputs
            .iter()
            .map(|t| {
                let t = t.to_device(dev).unwrap().detach();
                if t.dtype().is_floating_point() {
                    t.requires_grad_(true).unwrap()
                } else {
                    t
                }
            })
            .collect()
    };
    let (xc, xg) = (leaves(CPU), leaves(GPU));
    let yc = f(&xc).unwrap_or_else(|e| panic!("{what} (cpu): {e}"));
    let reads = host_reads();
    let yg = f(&xg).unwrap_or_else(|e| panic!("{what} (gpu): {e}"));
    let host_ok = what.starts_with("masked_select");
    assert!(
        host_ok || host_reads() == reads,
        "{what}: the forward read device memory back to the host"
    );
    assert_close(what, &yg, &yc, rtol, atol);
    if !yc.dtype().is_floating_point() || !yc.requires_grad() {
        return;
    }
    let w = randn(&yc.shape(), 99).to_dtype(yc.dtype()).unwrap();
    let wg = w.to_device(GPU).unwrap();
    yc.mul(&w).unwrap().sum().unwrap().backward().unwrap();
    let reads = host_reads();
    yg.mul(&wg)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap_or_else(|e| panic!("{what} (gpu backward): {e}"));
    assert!(
        host_ok || host_reads() == reads,
        "{what}: the backward read device memory back to the host"
    );
    // Gradients may be accumulated with atomics, in any order on a GPU (and in reverse on the
    // emulator with RG_EMU_ORDER=reverse): a few ulps, even where the forward is exact.
    let (grad_rtol, grad_atol) = if yc.dtype() == DType::F64 {
        (rtol.max(1e-10), atol.max(1e-12))
    } else {
        (rtol.max(1e-5), atol.max(1e-6))
    };
    for (i, (c, g)) in xc.iter().zip(&xg).enumerate() {
        match (c.grad(), g.grad()) {
            (Some(gc), Some(gg)) => assert_close(
                &format!("{what}: grad of input {i}"),
                &gg,
                &gc,
                grad_rtol,
                grad_atol,
            ),
            (None, None) => {}
            (a, b) => panic!(
                "{what}: grad of input {i}: cpu {:?} gpu {:?}",
                a.is_some(),
                b.is_some()
            ),
        }
    }
}
