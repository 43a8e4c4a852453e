//! Errors of the CUDA backend on the CPU emulator (`cuda-emu` feature): bad targets and indices
//! found by kernels (reported at the next synchronising call), mixing devices, and out of memory.
//! One test function: the status word and the memory limit are per process, and tests of one
//! binary run in parallel threads.
#![cfg(feature = "cuda-emu")]

use rustgrad::ops::nn::Reduction;
use rustgrad::{DType, Device, Tensor};

const GPU: Device = Device::Cuda(0);

#[test]
fn kernel_reported_errors_mixing_devices_and_oom() {
    // Before the device is opened: a 64 MiB device.
    std::env::set_var("RUSTGRAD_EMU_MEM_LIMIT", (64usize << 20).to_string());
    let x = Tensor::randn(&[4, 5], DType::F32, GPU, None).unwrap();

    // A target out of range: IndexError with PyTorch's CPU message, at the next sync.
    let y = Tensor::from_slice(&[0i64, 5, 1, 1], &[4])
        .unwrap()
        .to_device(GPU)
        .unwrap();
    let e = x
        .cross_entropy(&y, None, -100, Reduction::Mean, 0.0)
        .and_then(|l| l.item().map(|_| ()))
        .expect_err("target 5 of 5 classes");
    assert!(matches!(e, rustgrad::Error::Index(_)), "{e:?}");
    assert_eq!(e.to_string(), "Target 5 is out of bounds.");
    // Reported once; the device stays usable.
    rustgrad::backend::cuda::synchronize(None).unwrap();
    assert_eq!(x.sum().unwrap().to_vec::<f32>().unwrap().len(), 1);

    let idx = Tensor::from_slice(&[0i64, 7], &[2])
        .unwrap()
        .to_device(GPU)
        .unwrap();
    let e = x
        .index_select(1, &idx)
        .and_then(|t| t.to_vec::<f32>())
        .expect_err("index 7 of 5");
    assert!(matches!(e, rustgrad::Error::Index(_)), "{e:?}");
    let e = x
        .gather(
            1,
            &Tensor::from_slice(&[5i64; 4], &[4, 1])
                .unwrap()
                .to_device(GPU)
                .unwrap(),
        )
        .and_then(|t| t.to_vec::<f32>())
        .expect_err("gather index 5 of 5");
    assert_eq!(
        e,
        rustgrad::Error::index("index 5 is out of bounds for dimension 1 with size 5")
    );
    rustgrad::backend::cuda::synchronize(None).unwrap();

    // Mixing devices.
    let c = Tensor::ones(&[4, 5], DType::F32, Device::Cpu).unwrap();
    for r in [x.add(&c), c.mul(&x), x.matmul(&c.t().unwrap())] {
        assert_eq!(
            r.expect_err("cpu with cuda").to_string(),
            "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
        );
    }

    // Memory accounting (exact: this test is alone in its process).
    let before = rustgrad::backend::cuda::memory_allocated(0);
    let t = Tensor::zeros(&[1000], DType::F32, GPU).unwrap();
    assert_eq!(rustgrad::backend::cuda::memory_allocated(0), before + 4000);
    assert!(rustgrad::backend::cuda::max_memory_allocated(0) >= before + 4000);
    drop(t);
    assert_eq!(rustgrad::backend::cuda::memory_allocated(0), before);

    // Out of memory: PyTorch's message, and nothing leaked.
    let before = rustgrad::backend::cuda::memory_allocated(0);
    let e = Tensor::zeros(&[1 << 30], DType::F32, GPU).expect_err("4 GiB on a 64 MiB device");
    let msg = e.to_string();
    assert!(
        msg.starts_with("CUDA out of memory. Tried to allocate 4.00 GiB."),
        "{msg}"
    );
    assert!(matches!(e, rustgrad::Error::Runtime(_)));
    assert_eq!(rustgrad::backend::cuda::memory_allocated(0), before);
    // An op whose output does not fit.
    let big = Tensor::zeros(&[3000, 3000], DType::F32, GPU).unwrap(); // 36 MB
    let e = big.add_scalar(1.0).expect_err("a second 36 MB");
    assert!(
        e.to_string()
            .starts_with("CUDA out of memory. Tried to allocate"),
        "{e}"
    );
    drop(big);
    assert!(x.add_scalar(1.0).is_ok());

    tf32_matmul();
}

/// Rounds to TF32 as `cvt.rna.tf32.f32` does (10 mantissa bits, nearest, ties away from zero).
fn round_tf32(x: f32) -> f32 {
    let b = x.to_bits();
    if b & 0x7f80_0000 == 0x7f80_0000 {
        return x;
    }
    f32::from_bits((b + 0x1000) & 0xffff_e000)
}

/// The TF32 tensor-core path (allow_tf32, a process-wide switch, so tested here, alone in its
/// process): equals the product of the TF32-rounded inputs accumulated in float32, and differs
/// from the float32 product.
fn tf32_matmul() {
    let (m, k, n) = (130, 70, 129);
    let a = Tensor::randn(&[m, k], DType::F32, Device::Cpu, None).unwrap();
    let b = Tensor::randn(&[k, n], DType::F32, Device::Cpu, None).unwrap();
    let (ga, gb) = (a.to_device(GPU).unwrap(), b.to_device(GPU).unwrap());
    let fp32 = ga.matmul(&gb).unwrap().to_vec::<f32>().unwrap();
    rustgrad::backend::cuda::set_allow_tf32(true);
    let tf32 = ga.matmul(&gb).and_then(|t| t.to_vec::<f32>());
    // Transposed operands take other load paths of the same kernel.
    let tf32_t = ga
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .t()
        .unwrap()
        .matmul(&gb)
        .and_then(|t| t.to_vec::<f32>());
    rustgrad::backend::cuda::set_allow_tf32(false);
    let (tf32, tf32_t) = (tf32.unwrap(), tf32_t.unwrap());
    let av: Vec<f32> = a
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(round_tf32)
        .collect();
    let bv: Vec<f32> = b
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(round_tf32)
        .collect();
    let mut differs = 0;
    for i in 0..m {
        for j in 0..n {
            let (mut exact, mut mag) = (0f64, 0f64);
            for p in 0..k {
                let prod = av[i * k + p] as f64 * bv[p * n + j] as f64;
                exact += prod;
                mag += prod.abs();
            }
            for got in [tf32[i * n + j], tf32_t[i * n + j]] {
                assert!(
                    (got as f64 - exact).abs() <= 1e-5 * mag + 1e-6,
                    "tf32 ({i}, {j}): {got} vs {exact}"
                );
            }
            differs += (tf32[i * n + j] != fp32[i * n + j]) as usize;
        }
    }
    assert!(
        differs > m * n / 2,
        "TF32 results equal float32 ones: TF32 path not taken?"
    );
}
