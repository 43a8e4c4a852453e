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

    bad_loss_operands_match_the_cpu();
    tf32_matmul();
}

/// A loss of `(input, target, weight)`.
type Loss = fn(&Tensor, &Tensor, &Tensor) -> rustgrad::Result<Tensor>;

/// Bad class targets (out of range, negative; with class weights, label smoothing, spatial
/// targets, every reduction) and binary_cross_entropy operands outside [0, 1]: on the device the
/// kernels report them at the next synchronising call, with the error kind and message the CPU
/// raises at once. One bad element per case (with several, a GPU reports whichever thread came
/// first).
fn bad_loss_operands_match_the_cpu() {
    let class = |shape: &[usize], targets: &[i64], tshape: &[usize]| {
        (
            Tensor::randn(shape, DType::F32, Device::Cpu, None).unwrap(),
            Tensor::from_slice(targets, tshape).unwrap(),
        )
    };
    let (x, y5) = class(&[4, 5], &[0, 5, 1, 1], &[4]);
    let (_, y_neg) = class(&[4, 5], &[0, 1, 4, -1], &[4]);
    let (xs, ys) = class(&[2, 3, 2, 2], &[0, 1, 2, 1, 0, 2, 3, 1], &[2, 2, 2]);
    let w = Tensor::ones(&[5], DType::F32, Device::Cpu).unwrap();
    let w3 = Tensor::ones(&[3], DType::F32, Device::Cpu).unwrap();
    let half = Tensor::full(&[4, 5], 0.5, DType::F32, Device::Cpu).unwrap();
    let out_of_unit = Tensor::from_slice(&[0.5f32, 0.2, 1.5, 0.0], &[4]).unwrap();
    let unit = Tensor::from_slice(&[0.5f32, 0.2, 1.0, 0.0], &[4]).unwrap();
    let cases: Vec<(&str, [&Tensor; 3], Loss)> = vec![
        ("ce target 5 of 5", [&x, &y5, &w], |x, y, _| {
            x.cross_entropy(y, None, -100, Reduction::Sum, 0.0)
        }),
        ("ce target -1", [&x, &y_neg, &w], |x, y, _| {
            x.cross_entropy(y, None, -100, Reduction::None, 0.0)
        }),
        ("ce weight", [&x, &y5, &w], |x, y, w| {
            x.cross_entropy(y, Some(w), -100, Reduction::Mean, 0.0)
        }),
        ("ce label_smoothing", [&x, &y_neg, &w], |x, y, w| {
            x.cross_entropy(y, Some(w), 2, Reduction::Mean, 0.1)
        }),
        ("ce spatial", [&xs, &ys, &w3], |x, y, w| {
            x.cross_entropy(y, Some(w), -100, Reduction::None, 0.0)
        }),
        ("ce f64", [&x, &y_neg, &w], |x, y, _| {
            x.to_dtype(DType::F64)?
                .cross_entropy(y, None, -100, Reduction::Mean, 0.0)
        }),
        ("nll target 5 of 5", [&x, &y5, &w], |x, y, _| {
            x.nll_loss(y, None, -100, Reduction::Mean)
        }),
        ("nll target -1 weight", [&x, &y_neg, &w], |x, y, w| {
            x.nll_loss(y, Some(w), -100, Reduction::Sum)
        }),
        ("nll spatial f64", [&xs, &ys, &w3], |x, y, _| {
            x.to_dtype(DType::F64)?
                .nll_loss(y, None, 0, Reduction::None)
        }),
        ("bce input", [&out_of_unit, &unit, &w], |x, y, _| {
            x.binary_cross_entropy(y, None, Reduction::Mean)
        }),
        ("bce target", [&unit, &out_of_unit, &w], |x, y, _| {
            x.binary_cross_entropy(y, None, Reduction::None)
        }),
        ("bce target f64", [&half, &half, &w], |x, y, _| {
            x.to_dtype(DType::F64)?
                .binary_cross_entropy(&y.mul_scalar(-1.0)?, None, Reduction::Sum)
        }),
    ];
    for (what, [x, y, w], loss) in cases {
        let on_cpu = loss(x, y, w).expect_err(what);
        let (gx, gy, gw) = (
            x.to_device(GPU).unwrap(),
            y.to_device(GPU).unwrap(),
            w.to_device(GPU).unwrap(),
        );
        let on_gpu = loss(&gx, &gy, &gw)
            .and_then(|l| l.to_dtype(DType::F64)?.to_vec::<f64>())
            .expect_err(what);
        assert_eq!(on_gpu, on_cpu, "{what}");
        // Reported once: the device is usable again.
        rustgrad::backend::cuda::synchronize(None).unwrap();
    }
    // A target equal to ignore_index need not be a class: no error on either device.
    for dev in [Device::Cpu, GPU] {
        let (x, y) = (x.to_device(dev).unwrap(), y5.to_device(dev).unwrap());
        let ce = x.cross_entropy(&y, None, 5, Reduction::Mean, 0.1);
        let nll = x.nll_loss(&y, None, 5, Reduction::Sum);
        for l in [ce, nll] {
            l.and_then(|l| l.to_vec::<f32>())
                .unwrap_or_else(|e| panic!("ignore_index 5 on {dev:?}: {e}"));
        }
    }
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
