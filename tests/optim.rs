//! The fused optimizer updates from Rust: formulas, options, aliasing, errors, threads.

use rustgrad::optim::{adam_step, sgd_step, Adam, AdamOptions, Sgd, SgdOptions};
use rustgrad::{DType, Device, Error, Tensor};

fn t64(v: &[f64]) -> Tensor {
    Tensor::from_slice(v, &[v.len()]).unwrap()
}

fn leaf(v: &[f64]) -> Tensor {
    t64(v).requires_grad_(true).unwrap()
}

/// A one-tensor list.
fn one(t: &Tensor) -> &[Tensor] {
    std::slice::from_ref(t)
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

/// PyTorch's SGD on one element, written out.
fn sgd_ref(p: f64, g: f64, buf: Option<f64>, o: &SgdOptions) -> (f64, Option<f64>) {
    let mut d = if o.maximize { -g } else { g };
    if o.weight_decay != 0.0 {
        d += o.weight_decay * p;
    }
    let mut nb = None;
    if o.momentum != 0.0 {
        let b = match buf {
            None => d,
            Some(b) => b * o.momentum + (1.0 - o.dampening) * d,
        };
        nb = Some(b);
        d = if o.nesterov { d + o.momentum * b } else { b };
    }
    (p - o.lr * d, nb)
}

#[test]
fn sgd_struct_matches_the_formula_over_steps() {
    for o in [
        SgdOptions::new(0.1),
        SgdOptions::new(0.1).momentum(0.9),
        SgdOptions::new(0.05)
            .momentum(0.8)
            .dampening(0.3)
            .weight_decay(0.01),
        SgdOptions::new(0.1)
            .momentum(0.9)
            .nesterov(true)
            .maximize(true)
            .weight_decay(0.1),
    ] {
        let w = leaf(&[1.0, -2.0, 0.5]);
        let mut opt = Sgd::new(vec![w.clone()], o.clone()).unwrap();
        let mut p = vec![1.0, -2.0, 0.5];
        let mut bufs: Vec<Option<f64>> = vec![None; 3];
        for step in 0..5 {
            let g: Vec<f64> = (0..3)
                .map(|i| (i as f64 - 1.0) * 0.3 + step as f64)
                .collect();
            w.set_grad(Some(t64(&g))).unwrap();
            opt.step().unwrap();
            for i in 0..3 {
                let (np, nb) = sgd_ref(p[i], g[i], bufs[i], &o);
                p[i] = np;
                bufs[i] = nb;
            }
            close(&values(&w), &p, 1e-14);
        }
        assert_eq!(opt.momentum_buffer(0).is_some(), o.momentum != 0.0);
        assert!(w.is_leaf() && w.grad_fn().is_none());
        opt.zero_grad();
        assert!(w.grad().is_none());
        // Without gradients a step changes nothing.
        let before = values(&w);
        opt.step().unwrap();
        assert_eq!(values(&w), before);
    }
}

#[test]
fn sgd_float32() {
    let w = Tensor::from_slice(&[1.0f32, 2.0], &[2])
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let mut opt = Sgd::new(vec![w.clone()], SgdOptions::new(0.5).momentum(0.5)).unwrap();
    for _ in 0..2 {
        w.set_grad(Some(Tensor::from_slice(&[1.0f32, -1.0], &[2]).unwrap()))
            .unwrap();
        opt.step().unwrap();
    }
    // buf: 1, then 1.5; p: 1 - 0.5 - 0.75.
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![-0.25, 3.25]);
    assert_eq!(w.dtype(), DType::F32);
}

#[test]
fn adam_one_step_by_hand() {
    let w = leaf(&[1.0]);
    let mut opt = Adam::new(vec![w.clone()], AdamOptions::new(0.1)).unwrap();
    w.set_grad(Some(t64(&[0.5]))).unwrap();
    opt.step().unwrap();
    // m = 0.05, v = 0.00025; bias corrections 0.1 and 0.001: p = 1 - 0.1 * 0.5 / (0.5 + 1e-8).
    close(&values(&w), &[1.0 - 0.1 * 0.5 / (0.5 + 1e-8)], 1e-15);
    assert_eq!(opt.step_count(0), 1.0);

    // AdamW decays the parameter first: p = 2 * (1 - 0.1 * 0.5), then the same Adam move.
    let w = leaf(&[2.0]);
    let mut opt = Adam::new(vec![w.clone()], AdamOptions::adamw(0.1).weight_decay(0.5)).unwrap();
    w.set_grad(Some(t64(&[0.5]))).unwrap();
    opt.step().unwrap();
    close(
        &values(&w),
        &[2.0 * (1.0 - 0.05) - 0.1 * 0.5 / (0.5 + 1e-8)],
        1e-15,
    );
}

#[test]
fn amsgrad_keeps_the_max_of_second_moments() {
    let p = leaf(&[0.0]);
    let m = t64(&[0.0]);
    let v = t64(&[0.0]);
    let vmax = t64(&[0.0]);
    let o = AdamOptions::new(0.01).amsgrad(true);
    adam_step(
        one(&p),
        &[t64(&[10.0])],
        one(&m),
        one(&v),
        one(&vmax),
        &[1.0],
        &o,
    )
    .unwrap();
    let big = values(&vmax)[0];
    adam_step(
        one(&p),
        &[t64(&[0.0])],
        one(&m),
        one(&v),
        one(&vmax),
        &[2.0],
        &o,
    )
    .unwrap();
    assert!(values(&v)[0] < big);
    assert_eq!(values(&vmax)[0], big);
}

#[test]
fn options_are_validated_with_pytorch_messages() {
    let w = vec![leaf(&[1.0])];
    let msg = |e: Error| match e {
        Error::Value(m) => m,
        other => panic!("expected a ValueError, got {other:?}"),
    };
    let e = Sgd::new(w.clone(), SgdOptions::new(-0.1)).err().unwrap();
    assert_eq!(msg(e), "Invalid learning rate: -0.1");
    let e = Sgd::new(w.clone(), SgdOptions::new(0.1).nesterov(true))
        .err()
        .unwrap();
    assert_eq!(
        msg(e),
        "Nesterov momentum requires a momentum and zero dampening"
    );
    let e = Sgd::new(w.clone(), SgdOptions::new(0.1).momentum(-1.0))
        .err()
        .unwrap();
    assert_eq!(msg(e), "Invalid momentum value: -1.0");
    let e = Adam::new(w.clone(), AdamOptions::new(0.1).betas(1.0, 0.9))
        .err()
        .unwrap();
    assert_eq!(msg(e), "Invalid beta parameter at index 0: 1.0");
    let e = Adam::new(w.clone(), AdamOptions::new(0.1).eps(-1e-8))
        .err()
        .unwrap();
    assert_eq!(msg(e), "Invalid epsilon value: -1e-08");
    let e = Sgd::new(vec![], SgdOptions::new(0.1)).err().unwrap();
    assert_eq!(msg(e), "optimizer got an empty parameter list");
    let nonleaf = leaf(&[1.0]).mul_scalar(2.0).unwrap();
    let e = Sgd::new(vec![nonleaf], SgdOptions::new(0.1)).err().unwrap();
    assert_eq!(msg(e), "can't optimize a non-leaf Tensor");
}

#[test]
fn an_aliasing_gradient_is_read_from_a_copy() {
    // The gradient shares the parameter's storage: no deadlock, and the old values are used.
    let p = leaf(&[1.0, 2.0, 4.0]);
    let g = p.detach();
    sgd_step(one(&p), &[g], &mut [], &SgdOptions::new(0.25)).unwrap();
    assert_eq!(values(&p), vec![0.75, 1.5, 3.0]);
    // A transposed view of the parameter as its own gradient.
    let base = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let g = base.transpose(0, 1).unwrap();
    let p = base.detach();
    sgd_step(one(&p), &[g], &mut [], &SgdOptions::new(1.0)).unwrap();
    assert_eq!(values(&p), vec![0.0, -1.0, 1.0, 0.0]);
}

#[test]
fn parameters_sharing_one_storage_are_updated_in_turn() {
    let base = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0], &[4]).unwrap();
    let a = base.narrow(0, 0, 2).unwrap();
    let b = base.narrow(0, 2, 2).unwrap();
    let mut bufs = vec![None, None];
    let o = SgdOptions::new(0.5).momentum(0.9);
    sgd_step(
        &[a.clone(), b.clone()],
        &[t64(&[2.0, 2.0]), t64(&[4.0, 4.0])],
        &mut bufs,
        &o,
    )
    .unwrap();
    assert_eq!(values(&base), vec![0.0, 1.0, 1.0, 2.0]);
    assert_eq!(values(bufs[1].as_ref().unwrap()), vec![4.0, 4.0]);
}

#[test]
fn non_contiguous_parameter_and_state() {
    let base = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let p = base.transpose(0, 1).unwrap(); // [3, 2], strides [1, 3]
    let m = Tensor::zeros(&[2, 3], DType::F64, Device::Cpu)
        .unwrap()
        .transpose(0, 1)
        .unwrap();
    let v = Tensor::zeros(&[3, 2], DType::F64, Device::Cpu).unwrap();
    let g = Tensor::from_slice(&[1.0f64, -1.0, 2.0, -2.0, 3.0, -3.0], &[3, 2]).unwrap();
    let o = AdamOptions::new(0.1);
    adam_step(one(&p), one(&g), one(&m), one(&v), &[], &[1.0], &o).unwrap();
    // The same update on contiguous copies.
    let pc = p.contiguous().unwrap();
    let pc_before = Tensor::from_slice(&[1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0], &[3, 2]).unwrap();
    let (m2, v2) = (
        Tensor::zeros(&[3, 2], DType::F64, Device::Cpu).unwrap(),
        Tensor::zeros(&[3, 2], DType::F64, Device::Cpu).unwrap(),
    );
    adam_step(one(&pc_before), &[g], one(&m2), &[v2], &[], &[1.0], &o).unwrap();
    assert_eq!(values(&pc), values(&pc_before));
    assert_eq!(values(&m), values(&m2));
}

#[test]
fn errors_leave_everything_untouched() {
    let a = leaf(&[1.0, 2.0]);
    let b = leaf(&[3.0]);
    // The second gradient has the wrong shape: nothing is written, not even the first parameter.
    let e = sgd_step(
        &[a.clone(), b.clone()],
        &[t64(&[1.0, 1.0]), t64(&[1.0, 1.0])],
        &mut [None, None],
        &SgdOptions::new(0.1).momentum(0.9),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("gradient of parameter 1 has shape [2]"),
        "{e}"
    );
    assert_eq!(values(&a), vec![1.0, 2.0]);
    // State aliasing its parameter is refused.
    let mut bufs = vec![Some(a.detach())];
    let e = sgd_step(
        one(&a),
        &[t64(&[1.0, 1.0])],
        &mut bufs,
        &SgdOptions::new(0.1).momentum(0.9),
    )
    .unwrap_err();
    assert!(e.to_string().contains("shares memory"), "{e}");
    assert_eq!(values(&a), vec![1.0, 2.0]);
    // Integer parameters and a dtype mismatch.
    let i = Tensor::from_slice(&[1i64], &[1]).unwrap();
    assert!(sgd_step(one(&i), one(&i), &mut [], &SgdOptions::new(0.1)).is_err());
    let f32g = Tensor::from_slice(&[1.0f32, 1.0], &[2]).unwrap();
    let e = sgd_step(one(&a), &[f32g], &mut [], &SgdOptions::new(0.1)).unwrap_err();
    assert!(e.to_string().contains("dtype float32"), "{e}");
    // Adam with a step count of zero (counts are incremented before the update).
    let z = t64(&[0.0, 0.0]);
    let e = adam_step(
        one(&a),
        &[t64(&[1.0, 1.0])],
        one(&z),
        &[t64(&[0.0, 0.0])],
        &[],
        &[0.0],
        &AdamOptions::new(0.1),
    )
    .unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
    assert_eq!(values(&a), vec![1.0, 2.0]);
}

#[test]
fn steps_bump_versions() {
    let p = leaf(&[1.0]);
    let before = p.version();
    sgd_step(one(&p), &[t64(&[1.0])], &mut [], &SgdOptions::new(0.1)).unwrap();
    assert!(p.version() > before);
}

#[test]
fn large_parameters_run_in_parallel_chunks() {
    let n = 200_001;
    let init: Vec<f64> = (0..n).map(|i| (i as f64 * 0.001).sin()).collect();
    let grad: Vec<f64> = (0..n).map(|i| (i as f64 * 0.002).cos()).collect();
    let p = Tensor::from_slice(&init, &[n]).unwrap();
    let g = Tensor::from_slice(&grad, &[n]).unwrap();
    let o = SgdOptions::new(0.1).momentum(0.9).weight_decay(0.01);
    let mut bufs = vec![None];
    for _ in 0..2 {
        sgd_step(one(&p), one(&g), &mut bufs, &o).unwrap();
    }
    let got = values(&p);
    for i in (0..n).step_by(9973) {
        let (p1, b1) = sgd_ref(init[i], grad[i], None, &o);
        let (p2, _) = sgd_ref(p1, grad[i], b1, &o);
        assert!((got[i] - p2).abs() < 1e-14, "{i}");
    }
}

#[test]
fn threads_step_concurrently_on_shared_gradients() {
    // Several threads update their own parameters from one shared gradient tensor at once.
    let g = Tensor::from_slice(&vec![1.0f64; 50_000], &[50_000]).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let g = g.clone();
            std::thread::spawn(move || {
                let p = Tensor::full(&[50_000], k as f64, DType::F64, Device::Cpu).unwrap();
                let mut bufs = vec![None];
                for _ in 0..10 {
                    sgd_step(
                        one(&p),
                        one(&g),
                        &mut bufs,
                        &SgdOptions::new(0.01).momentum(0.5),
                    )
                    .unwrap();
                }
                (k, p.to_vec::<f64>().unwrap())
            })
        })
        .collect();
    for h in handles {
        let (k, v) = h.join().unwrap();
        let mut p = k as f64;
        let mut b = None;
        for _ in 0..10 {
            let (np, nb) = sgd_ref(p, 1.0, b, &SgdOptions::new(0.01).momentum(0.5));
            p = np;
            b = nb;
        }
        assert!(v.iter().all(|&x| (x - p).abs() < 1e-14));
    }
}
