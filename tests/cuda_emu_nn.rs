//! Losses and batch normalisation on the CPU emulator of the CUDA backend (`cuda-emu` feature),
//! against the CPU: every reduction, float32 and float64, class weights, ignore_index, label
//! smoothing and probability targets, and batch_norm in training (with and without running
//! statistics, whose in-place updates are compared too) and evaluation mode. Odd shapes (batch 1,
//! 7, 33; 3, 5 and 37 channels) throughout. layer_norm, whose CUDA path is made of tensor ops, and conv_transpose2d. Run: `cargo test --features cuda-emu --test cuda_emu_nn`.
#![cfg(feature = "cuda-emu")]

use rustgrad::ops::nn::Reduction;
use rustgrad::tensor::random::Generator;
use rustgrad::{DType, Device, Result, Tensor};

mod emu_common;
use emu_common::{assert_close, check, randn_of, values, CPU, GPU};

const REDUCTIONS: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];
const DTYPES: [DType; 2] = [DType::F32, DType::F64];

/// (rtol, atol) for comparing emulated-CUDA results with the CPU's in `dtype`.
fn tol(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-12, 1e-12),
        _ => (1e-5, 1e-6),
    }
}

/// Uniform values in [0, 1) of `dtype` on the CPU.
fn rand_of(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
    Tensor::rand(shape, dtype, CPU, Some(&mut Generator::new(seed))).unwrap()
}

/// A loss of the operands `t` with a reduction.
type Loss = fn(&[Tensor], Reduction) -> Result<Tensor>;

/// Compares `loss` on the emulated device with the CPU for every reduction: the value and the
/// gradients of every floating operand.
fn check_reductions(what: &str, inputs: &[Tensor], loss: Loss) {
    let (rtol, atol) = tol(inputs[0].dtype());
    for red in REDUCTIONS {
        check(
            &format!("{what} {red:?}"),
            inputs,
            |t| loss(t, red),
            rtol,
            atol,
        );
    }
}

#[test]
fn pointwise_losses_every_reduction() {
    // (N, C) and (N, C, L); batch 1, 7 and 33.
    let shapes: [&[usize]; 5] = [&[1, 3], &[7, 5], &[33, 3], &[7, 3, 5], &[1]];
    for dtype in DTYPES {
        for (k, &shape) in shapes.iter().enumerate() {
            let seed = 10 * k as u64 + if dtype == DType::F64 { 1000 } else { 0 };
            let x = randn_of(shape, dtype, seed);
            let t = randn_of(shape, dtype, seed + 1);
            let last = &shape[shape.len() - 1..];
            let t_row = randn_of(last, dtype, seed + 2);
            // Probabilities in (0, 1), logits with large magnitudes, positive weights.
            let p = x.sigmoid().unwrap();
            let q = rand_of(shape, dtype, seed + 3);
            let logits = x.mul_scalar(6.0).unwrap();
            let w = rand_of(shape, dtype, seed + 4).add_scalar(0.5).unwrap();
            let w_row = rand_of(last, dtype, seed + 5).add_scalar(0.5).unwrap();
            let pw_row = rand_of(last, dtype, seed + 6).mul_scalar(3.0).unwrap();
            let cases: [(&str, Vec<Tensor>, Loss); 11] = [
                ("mse", vec![x.clone(), t.clone()], |t, r| {
                    t[0].mse_loss(&t[1], r)
                }),
                (
                    "mse broadcast target",
                    vec![x.clone(), t_row.clone()],
                    |t, r| t[0].mse_loss(&t[1], r),
                ),
                ("l1", vec![x.clone(), t.clone()], |t, r| {
                    t[0].l1_loss(&t[1], r)
                }),
                (
                    "l1 broadcast target",
                    vec![x.clone(), t_row.clone()],
                    |t, r| t[0].l1_loss(&t[1], r),
                ),
                // sign(0) = 0: no gradient where input and target are equal.
                ("l1 equal operands", vec![x.clone(), x.clone()], |t, r| {
                    t[0].l1_loss(&t[1], r)
                }),
                ("bce", vec![p.clone(), q.clone()], |t, r| {
                    t[0].binary_cross_entropy(&t[1], None, r)
                }),
                (
                    "bce weight",
                    vec![p.clone(), q.clone(), w.clone()],
                    |t, r| t[0].binary_cross_entropy(&t[1], Some(&t[2]), r),
                ),
                (
                    "bce_with_logits",
                    vec![logits.clone(), q.clone()],
                    |t, r| t[0].binary_cross_entropy_with_logits(&t[1], None, None, r),
                ),
                (
                    "bce_with_logits weight",
                    vec![logits.clone(), q.clone(), w_row.clone()],
                    |t, r| t[0].binary_cross_entropy_with_logits(&t[1], Some(&t[2]), None, r),
                ),
                (
                    "bce_with_logits pos_weight",
                    vec![logits.clone(), q.clone(), pw_row.clone()],
                    |t, r| t[0].binary_cross_entropy_with_logits(&t[1], None, Some(&t[2]), r),
                ),
                (
                    "bce_with_logits weight and pos_weight",
                    vec![logits.clone(), q.clone(), w.clone(), pw_row.clone()],
                    |t, r| {
                        t[0].binary_cross_entropy_with_logits(&t[1], Some(&t[2]), Some(&t[3]), r)
                    },
                ),
            ];
            for (name, inputs, loss) in &cases {
                check_reductions(&format!("{name} {dtype:?} {shape:?}"), inputs, *loss);
            }
        }
    }
}

#[test]
fn binary_cross_entropy_at_zero_and_one() {
    // log clamped at -100 in the forward; infinite and 1e12-scaled gradients at the ends.
    let x = [0.0, 1.0, 0.0, 1.0, 0.5, 1e-30, 1.0 - 1e-7];
    let t = [0.0, 1.0, 0.3, 0.6, 1.0, 1.0, 0.0];
    for dtype in DTYPES {
        let x = Tensor::from_slice(&x, &[7])
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let t = Tensor::from_slice(&t, &[7])
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        check_reductions(&format!("bce ends {dtype:?}"), &[x, t], |t, r| {
            t[0].binary_cross_entropy(&t[1], None, r)
        });
    }
}

/// Input shapes of the class losses: unbatched, (N, C) and (N, C, d1, ...), with batch 1, 7 and
/// 33, 3, 5 and 37 classes (37: more classes than a warp has lanes).
const CLASS_SHAPES: [&[usize]; 7] = [
    &[5],
    &[1, 3],
    &[7, 5],
    &[33, 3],
    &[7, 37],
    &[7, 3, 5],
    &[1, 5, 3, 2],
];

/// The input's shape without its class dim.
fn target_shape(shape: &[usize]) -> Vec<usize> {
    let cd = usize::from(shape.len() > 1);
    let mut s = shape.to_vec();
    s.remove(cd);
    s
}

/// The class ignored by the `ignore` cases (a valid class index, so that the kernels must skip
/// it rather than merely range-check it).
const IGNORED: i64 = 1;

/// Class targets for an input of `shape`; with `ignore`, every third row (from row 1) is
/// `IGNORED`, and row 0 never is.
fn class_targets(shape: &[usize], ignore: bool) -> Tensor {
    let ts = target_shape(shape);
    let c = shape[usize::from(shape.len() > 1)] as i64;
    let rows: usize = ts.iter().product();
    let v: Vec<i64> = (0..rows as i64)
        .map(|r| {
            if ignore && r % 3 == 1 {
                IGNORED
            } else {
                (r * 7 + 2) % c
            }
        })
        .collect();
    Tensor::from_slice(&v, &ts).unwrap()
}

/// Runs `cases` (name, weighted, ignore, loss) for every class shape, dtype and reduction, on the
/// scores `x`, class targets, and (when weighted) positive class weights as the third operand.
fn check_class_loss(op: &str, cases: &[(&str, bool, bool, Loss)]) {
    for dtype in DTYPES {
        for (k, &shape) in CLASS_SHAPES.iter().enumerate() {
            let seed = 100 + 10 * k as u64 + if dtype == DType::F64 { 1000 } else { 0 };
            let x = randn_of(shape, dtype, seed).mul_scalar(2.0).unwrap();
            let c = shape[usize::from(shape.len() > 1)];
            let w = rand_of(&[c], dtype, seed + 1).add_scalar(0.2).unwrap();
            for &(name, weighted, ignore, loss) in cases {
                let mut inputs = vec![x.clone(), class_targets(shape, ignore)];
                if weighted {
                    inputs.push(w.clone());
                }
                check_reductions(&format!("{op} {name} {dtype:?} {shape:?}"), &inputs, loss);
            }
        }
    }
}

#[test]
fn cross_entropy_class_targets() {
    check_class_loss(
        "cross_entropy",
        &[
            ("plain", false, false, |t, r| {
                t[0].cross_entropy(&t[1], None, -100, r, 0.0)
            }),
            ("weight", true, false, |t, r| {
                t[0].cross_entropy(&t[1], Some(&t[2]), -100, r, 0.0)
            }),
            ("ignore_index", false, true, |t, r| {
                t[0].cross_entropy(&t[1], None, IGNORED, r, 0.0)
            }),
            ("weight ignore_index", true, true, |t, r| {
                t[0].cross_entropy(&t[1], Some(&t[2]), IGNORED, r, 0.0)
            }),
            ("label_smoothing", false, false, |t, r| {
                t[0].cross_entropy(&t[1], None, -100, r, 0.1)
            }),
            ("weight ignore_index label_smoothing", true, true, |t, r| {
                t[0].cross_entropy(&t[1], Some(&t[2]), IGNORED, r, 0.25)
            }),
        ],
    );
}

#[test]
fn nll_loss_class_targets() {
    check_class_loss(
        "nll_loss",
        &[
            ("plain", false, false, |t, r| {
                t[0].nll_loss(&t[1], None, -100, r)
            }),
            ("weight", true, false, |t, r| {
                t[0].nll_loss(&t[1], Some(&t[2]), -100, r)
            }),
            ("ignore_index", false, true, |t, r| {
                t[0].nll_loss(&t[1], None, IGNORED, r)
            }),
            ("weight ignore_index", true, true, |t, r| {
                t[0].nll_loss(&t[1], Some(&t[2]), IGNORED, r)
            }),
            // Through log_softmax, as a classifier uses it.
            ("of log_softmax", true, true, |t, r| {
                let cd = i64::from(t[0].ndim() > 1);
                t[0].log_softmax(cd)?
                    .nll_loss(&t[1], Some(&t[2]), IGNORED, r)
            }),
        ],
    );
}

#[test]
fn cross_entropy_probability_targets() {
    let cases: [(&str, bool, f64); 4] = [
        ("plain", false, 0.0),
        ("weight", true, 0.0),
        ("label_smoothing", false, 0.15),
        ("weight label_smoothing", true, 0.3),
    ];
    for dtype in DTYPES {
        for (k, &shape) in CLASS_SHAPES.iter().enumerate() {
            let seed = 300 + 10 * k as u64 + if dtype == DType::F64 { 1000 } else { 0 };
            let cd = usize::from(shape.len() > 1);
            let x = randn_of(shape, dtype, seed).mul_scalar(2.0).unwrap();
            // Probabilities along the class dim (the targets receive gradients too).
            let p = randn_of(shape, dtype, seed + 1).softmax(cd as i64).unwrap();
            let w = rand_of(&[shape[cd]], dtype, seed + 2)
                .add_scalar(0.2)
                .unwrap();
            let (rtol, atol) = tol(dtype);
            for (name, weighted, eps) in cases {
                let mut inputs = vec![x.clone(), p.clone()];
                if weighted {
                    inputs.push(w.clone());
                }
                for red in REDUCTIONS {
                    check(
                        &format!("cross_entropy probabilities {name} {dtype:?} {shape:?} {red:?}"),
                        &inputs,
                        |t| t[0].cross_entropy(&t[1], t.get(2), -100, red, eps),
                        rtol,
                        atol,
                    );
                }
            }
        }
    }
}

#[test]
fn layer_norm_on_device_matches_cpu() {
    // (input shape, normalized shape): rows of 1, 33 and 1000 elements, one or two trailing dims.
    let cases: [(&[usize], &[usize]); 4] = [
        (&[7, 33], &[33]),
        (&[2, 3, 1000], &[3, 1000]),
        (&[5, 1], &[1]),
        (&[3, 7], &[3, 7]),
    ];
    for dtype in DTYPES {
        let (rtol, atol) = tol(dtype);
        for (i, (shape, ns)) in cases.iter().enumerate() {
            let seed = 40 + i as u64;
            let inputs = [
                randn_of(shape, dtype, seed),
                randn_of(ns, dtype, seed + 1),
                randn_of(ns, dtype, seed + 2),
            ];
            let ns = ns.to_vec();
            check(
                &format!("layer_norm {shape:?} {dtype:?}"),
                &inputs,
                |t| t[0].layer_norm(&ns, Some(&t[1]), Some(&t[2]), 1e-5),
                rtol * 10.0,
                atol * 10.0,
            );
            check(
                &format!("layer_norm plain {shape:?} {dtype:?}"),
                &inputs[..1],
                |t| t[0].layer_norm(&ns, None, None, 1e-5),
                rtol * 10.0,
                atol * 10.0,
            );
        }
    }
}

#[test]
fn conv_transpose2d_on_device_matches_cpu() {
    // (x, w, stride, padding, output_padding, groups, dilation)
    type Case = (
        &'static [usize],
        &'static [usize],
        [usize; 2],
        [usize; 2],
        [usize; 2],
        usize,
        [usize; 2],
    );
    let cases: [Case; 3] = [
        (
            &[2, 3, 4, 5],
            &[3, 2, 3, 3],
            [1, 1],
            [0, 0],
            [0, 0],
            1,
            [1, 1],
        ),
        (
            &[2, 4, 5, 4],
            &[4, 3, 3, 2],
            [2, 3],
            [1, 0],
            [1, 2],
            1,
            [1, 1],
        ),
        (
            &[1, 4, 3, 3],
            &[4, 2, 3, 3],
            [2, 2],
            [1, 1],
            [0, 0],
            2,
            [2, 1],
        ),
    ];
    for dtype in DTYPES {
        let (rtol, atol) = tol(dtype);
        for (i, &(xs, ws, s, p, op, g, d)) in cases.iter().enumerate() {
            let seed = 60 + i as u64;
            let inputs = [
                randn_of(xs, dtype, seed),
                randn_of(ws, dtype, seed + 1),
                randn_of(&[ws[1] * g], dtype, seed + 2),
            ];
            check(
                &format!("conv_transpose2d {xs:?} {ws:?} {dtype:?}"),
                &inputs,
                |t| t[0].conv_transpose2d(&t[1], Some(&t[2]), s, p, op, g, d),
                rtol * 10.0,
                atol * 10.0,
            );
        }
    }
}

/// Which of weight and bias a batch_norm case has.
#[derive(Copy, Clone, Debug)]
enum Affine {
    None,
    WeightAndBias,
    Weight,
    Bias,
}

/// batch_norm's mode: training with or without running statistics, or evaluation.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Mode {
    Train,
    TrainNoRunning,
    Eval,
}

/// Compares batch_norm on the emulated device with the CPU: the output, the gradients of the
/// input and of the weight and bias, and the running statistics afterwards (updated in place in
/// training, unchanged in evaluation).
fn check_batch_norm(shape: &[usize], dtype: DType, affine: Affine, mode: Mode, seed: u64) {
    let c = shape[1];
    let what = format!("batch_norm {shape:?} {dtype:?} {affine:?} {mode:?}");
    let x = randn_of(shape, dtype, seed)
        .mul_scalar(3.0)
        .unwrap()
        .add_scalar(1.5)
        .unwrap();
    let w = randn_of(&[c], dtype, seed + 1);
    let b = randn_of(&[c], dtype, seed + 2);
    let rm0 = randn_of(&[c], dtype, seed + 3);
    let rv0 = rand_of(&[c], dtype, seed + 4).add_scalar(0.5).unwrap();
    let running = |dev: Device| {
        let copy = |t: &Tensor| t.to_device(dev).unwrap().mul_scalar(1.0).unwrap();
        (copy(&rm0), copy(&rv0))
    };
    let (cpu_running, gpu_running) = (running(CPU), running(GPU));
    let mut inputs = vec![x];
    inputs.extend(match affine {
        Affine::None => vec![],
        Affine::WeightAndBias => vec![w, b],
        Affine::Weight => vec![w],
        Affine::Bias => vec![b],
    });
    let (momentum, eps) = (0.3, 1e-3);
    let bn = |t: &[Tensor]| {
        let (rm, rv) = if t[0].device() == GPU {
            &gpu_running
        } else {
            &cpu_running
        };
        let (w, b) = match affine {
            Affine::None => (None, None),
            Affine::WeightAndBias => (t.get(1), t.get(2)),
            Affine::Weight => (t.get(1), None),
            Affine::Bias => (None, t.get(1)),
        };
        let (rm, rv) = match mode {
            Mode::TrainNoRunning => (None, None),
            _ => (Some(rm), Some(rv)),
        };
        t[0].batch_norm(rm, rv, w, b, mode != Mode::Eval, momentum, eps)
    };
    if mode != Mode::Eval && shape[0] * shape[2..].iter().product::<usize>() == 1 {
        // One value per channel: the same ValueError on both devices.
        let on = |dev: Device| {
            let t: Vec<Tensor> = inputs.iter().map(|t| t.to_device(dev).unwrap()).collect();
            bn(&t).expect_err("one value per channel in training")
        };
        assert_eq!(on(GPU), on(CPU), "{what}");
        return;
    }
    let (rtol, atol) = tol(dtype);
    check(&what, &inputs, bn, rtol, atol);
    for (name, g, c, start) in [
        ("running_mean", &gpu_running.0, &cpu_running.0, &rm0),
        ("running_var", &gpu_running.1, &cpu_running.1, &rv0),
    ] {
        assert_close(&format!("{what}: {name}"), g, c, rtol, atol);
        let changed = values(c) != values(start);
        assert_eq!(
            changed,
            mode == Mode::Train,
            "{what}: {name} updated only when training with running statistics"
        );
    }
}

#[test]
fn batch_norm_training_and_evaluation() {
    // (N, C), (N, C, L) and (N, C, H, W); 578 and 1001 values per channel exceed a block of
    // 256 threads.
    let shapes: [&[usize]; 9] = [
        &[1, 5],
        &[7, 3],
        &[33, 5],
        &[1, 3, 7],
        &[7, 5, 9],
        &[33, 3, 1],
        &[1, 5, 3, 3],
        &[2, 3, 17, 17],
        &[7, 3, 11, 13],
    ];
    let affines = [
        Affine::WeightAndBias,
        Affine::None,
        Affine::Weight,
        Affine::Bias,
    ];
    for dtype in DTYPES {
        for (k, &shape) in shapes.iter().enumerate() {
            for (a, &affine) in affines.iter().enumerate() {
                for mode in [Mode::Train, Mode::TrainNoRunning, Mode::Eval] {
                    let seed = 500 + 10 * k as u64 + a as u64;
                    check_batch_norm(shape, dtype, affine, mode, seed);
                }
            }
        }
    }
}

/// The gradient of `loss(t)` with respect to `t[0]`, as a differentiable tensor
/// (`create_graph`): the losses' and batch_norm's backward as tensor ops, with the class
/// coefficients and running statistics built on the device.
fn grad_of(t: &[Tensor], loss: impl Fn(&[Tensor]) -> Result<Tensor>) -> Result<Tensor> {
    let l = loss(t)?;
    let g = rustgrad::autograd::grad(&[l], &t[..1], &[None], true, true, false)?;
    Ok(g[0].clone().expect("a gradient for the input"))
}

#[test]
fn gradients_with_create_graph() {
    for dtype in DTYPES {
        let (rtol, atol) = tol(dtype);
        let seed = if dtype == DType::F64 { 1700 } else { 700 };
        for (k, &shape) in [&[7usize, 5][..], &[7, 3, 5], &[33, 37]].iter().enumerate() {
            let seed = seed + 10 * k as u64;
            let x = randn_of(shape, dtype, seed);
            let c = shape[1];
            let w = rand_of(&[c], dtype, seed + 1).add_scalar(0.2).unwrap();
            let y = class_targets(shape, true);
            let p = randn_of(shape, dtype, seed + 2).softmax(1).unwrap();
            let q = rand_of(shape, dtype, seed + 3);
            let pw = rand_of(&shape[shape.len() - 1..], dtype, seed + 8)
                .mul_scalar(3.0)
                .unwrap();
            let cases: [(&str, Vec<Tensor>, Loss); 4] = [
                (
                    "cross_entropy",
                    vec![x.clone(), y.clone(), w.clone()],
                    |t, r| t[0].cross_entropy(&t[1], Some(&t[2]), IGNORED, r, 0.2),
                ),
                (
                    "cross_entropy probabilities",
                    vec![x.clone(), p, w.clone()],
                    |t, r| t[0].cross_entropy(&t[1], Some(&t[2]), -100, r, 0.2),
                ),
                ("nll_loss", vec![x.clone(), y, w.clone()], |t, r| {
                    t[0].nll_loss(&t[1], Some(&t[2]), IGNORED, r)
                }),
                ("bce_with_logits", vec![x.clone(), q, pw], |t, r| {
                    t[0].binary_cross_entropy_with_logits(&t[1], None, Some(&t[2]), r)
                }),
            ];
            for (name, inputs, loss) in &cases {
                for red in [Reduction::Mean, Reduction::Sum] {
                    check(
                        &format!("create_graph {name} {dtype:?} {shape:?} {red:?}"),
                        inputs,
                        |t| grad_of(t, |t| loss(t, red)),
                        rtol,
                        atol,
                    );
                }
            }
            // batch_norm: the gradient of a weighted sum of its output.
            let (b, rm) = (
                randn_of(&[c], dtype, seed + 4),
                randn_of(&[c], dtype, seed + 5),
            );
            let rv = rand_of(&[c], dtype, seed + 6).add_scalar(0.5).unwrap();
            let out_w = randn_of(shape, dtype, seed + 7);
            for training in [true, false] {
                check(
                    &format!("create_graph batch_norm {dtype:?} {shape:?} training {training}"),
                    &[
                        x.clone(),
                        w.clone(),
                        b.clone(),
                        rm.clone(),
                        rv.clone(),
                        out_w.clone(),
                    ],
                    |t| {
                        grad_of(t, |t| {
                            // Running statistics only in evaluation (leaves are not updated in place).
                            let (rm, rv) = if training {
                                (None, None)
                            } else {
                                (Some(&t[3]), Some(&t[4]))
                            };
                            let (w, b) = (Some(&t[1]), Some(&t[2]));
                            t[0].batch_norm(rm, rv, w, b, training, 0.1, 1e-3)?
                                .mul(&t[5])?
                                .sum()
                        })
                    },
                    rtol,
                    atol,
                );
            }
        }
    }
}
