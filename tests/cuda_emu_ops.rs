//! Every CUDA op, forward and backward, against the CPU result, on the CPU emulator of the CUDA
//! backend (the `cuda-emu` feature): the same kernel sources, launch arithmetic, argument packing
//! and host code as on a GPU, so these tests catch indexing, tiling, synchronisation and
//! dispatch bugs without one. Odd shapes (1, 7, 33, 1000, non-multiples of the GEMM tiles)
//! throughout. Run: `cargo test --features cuda-emu --test cuda_emu_ops`.
#![cfg(feature = "cuda-emu")]
// `&[x.clone()]` reads better than `std::slice::from_ref(&x)` in the op tables.
#![allow(clippy::cloned_ref_to_slice_refs)]

use rustgrad::backend::cuda::host_reads;
use rustgrad::ops::nn::{Padding2d, Reduction};
use rustgrad::optim::{Adam, AdamOptions, Sgd, SgdOptions};
use rustgrad::tensor::random::Generator;
use rustgrad::{DType, Device, Scalar, Tensor, TensorIndex};

mod emu_common;
use emu_common::{assert_close, check, randn, randn64, values, CPU, GPU};

const F32: (f64, f64) = (1e-4, 1e-5);

#[test]
fn unary_ops_forward_and_backward() {
    use rustgrad::backend::UnaryOp as U;
    let ops: &[U] = &[
        U::Neg,
        U::Abs,
        U::Square,
        U::Relu,
        U::Exp,
        U::Sin,
        U::Cos,
        U::Tanh,
        U::Sigmoid,
        U::Expm1,
        U::Floor,
        U::Ceil,
        U::Round,
        U::Trunc,
        U::Sign,
        U::Gelu,
        U::GeluTanh,
        U::Silu,
        U::Erf,
        U::Erfc,
        U::Atan,
        U::Sinh,
        U::Cosh,
        U::Asinh,
        U::Exp2,
        U::LeakyRelu(0.1),
        U::Elu(1.5),
        U::Softplus {
            beta: 2.0,
            threshold: 3.0,
        },
        U::PowScalar(3.0),
        U::RPowScalar(1.7),
        U::Clamp {
            min: Some(-0.5),
            max: Some(0.7),
        },
    ];
    for (k, shape) in [vec![1], vec![7], vec![33], vec![1000], vec![7, 33]]
        .iter()
        .enumerate()
    {
        let x = randn(shape, k as u64);
        for &op in ops {
            check(
                &format!("{op:?} {shape:?}"),
                &[x.clone()],
                |t| rustgrad::ops::unary::unary_op(op, &t[0]),
                F32.0,
                F32.1,
            );
        }
        // Positive-domain ops.
        let p = x.abs().unwrap().add_scalar(0.1).unwrap();
        for op in [
            U::Log,
            U::Sqrt,
            U::Rsqrt,
            U::Log1p,
            U::Reciprocal,
            U::PowScalar(0.5),
            U::Lgamma,
            U::Digamma,
            U::Polygamma(1),
            U::Polygamma(2),
            U::Log2,
            U::Log10,
        ] {
            check(
                &format!("{op:?} {shape:?}"),
                &[p.clone()],
                |t| rustgrad::ops::unary::unary_op(op, &t[0]),
                F32.0,
                F32.1,
            );
        }
        // Ops defined on (-1, 1), and acosh above 1.
        let u = x.tanh().unwrap().mul_scalar(0.9).unwrap();
        for op in [U::Tan, U::Asin, U::Acos, U::Atanh] {
            check(
                &format!("{op:?} {shape:?}"),
                &[u.clone()],
                |t| rustgrad::ops::unary::unary_op(op, &t[0]),
                F32.0,
                F32.1,
            );
        }
        check(
            &format!("Acosh {shape:?}"),
            &[p.add_scalar(1.0).unwrap()],
            |t| rustgrad::ops::unary::unary_op(U::Acosh, &t[0]),
            F32.0,
            F32.1,
        );
    }
    // erfinv inside (-1, 1).
    let u = randn(&[1000], 8).tanh().unwrap().mul_scalar(0.9).unwrap();
    check(
        "erfinv",
        &[u],
        |t| rustgrad::ops::unary::unary_op(U::Erfinv, &t[0]),
        F32.0,
        F32.1,
    );
    // A transposed (non-contiguous) input and float64.
    let x = randn(&[33, 7], 5).transpose(0, 1).unwrap();
    check(
        "tanh of a transposed view",
        &[x],
        |t| t[0].tanh(),
        F32.0,
        F32.1,
    );
    let x = randn64(&[7, 33], 6);
    check("sigmoid f64", &[x], |t| t[0].sigmoid(), 1e-12, 1e-12);
    // Bool results.
    let x = randn(&[33], 7).log().unwrap(); // NaN for negative inputs
    check(
        "isnan",
        &[x],
        |t| rustgrad::ops::unary::unary_op(U::IsNan, &t[0]),
        0.0,
        0.0,
    );
}

#[test]
fn binary_ops_with_broadcasting() {
    let pairs: &[(&[usize], &[usize])] = &[
        (&[1], &[1]),
        (&[7], &[7]),
        (&[1000], &[1]),
        (&[7, 1], &[1, 33]),
        (&[3, 1, 5], &[4, 1]),
        (&[2, 7, 33], &[33]),
    ];
    for (k, (sa, sb)) in pairs.iter().enumerate() {
        let a = randn(sa, 10 + k as u64);
        let b = randn(sb, 20 + k as u64);
        let bp = b.abs().unwrap().add_scalar(0.5).unwrap();
        let ap = a.abs().unwrap().add_scalar(0.5).unwrap();
        let name = |op: &str| format!("{op} {sa:?} {sb:?}");
        check(
            &name("add"),
            &[a.clone(), b.clone()],
            |t| t[0].add(&t[1]),
            F32.0,
            F32.1,
        );
        check(
            &name("sub"),
            &[a.clone(), b.clone()],
            |t| t[0].sub(&t[1]),
            F32.0,
            F32.1,
        );
        check(
            &name("mul"),
            &[a.clone(), b.clone()],
            |t| t[0].mul(&t[1]),
            F32.0,
            F32.1,
        );
        check(
            &name("div"),
            &[a.clone(), bp.clone()],
            |t| t[0].div(&t[1]),
            F32.0,
            F32.1,
        );
        check(
            &name("pow"),
            &[ap.clone(), b.clone()],
            |t| t[0].pow(&t[1]),
            F32.0,
            F32.1,
        );
        check(
            &name("maximum"),
            &[a.clone(), b.clone()],
            |t| t[0].maximum(&t[1]),
            F32.0,
            F32.1,
        );
        check(
            &name("minimum"),
            &[a.clone(), b.clone()],
            |t| t[0].minimum(&t[1]),
            F32.0,
            F32.1,
        );
        check(
            &name("remainder"),
            &[a.clone(), bp.clone()],
            |t| t[0].remainder(&t[1]),
            F32.0,
            1e-5,
        );
        check(
            &name("fmod"),
            &[a.clone(), bp.clone()],
            |t| t[0].fmod(&t[1]),
            F32.0,
            1e-5,
        );
        check(
            &name("floor_divide"),
            &[a.clone(), bp.clone()],
            |t| t[0].floor_divide(&t[1]),
            0.0,
            0.0,
        );
        check(
            &name("lt"),
            &[a.clone(), b.clone()],
            |t| t[0].lt(&t[1]),
            0.0,
            0.0,
        );
        check(
            &name("eq"),
            &[a.clone(), a.clone()],
            |t| t[0].eq(&t[1]),
            0.0,
            0.0,
        );
        check(
            &name("add_scalar"),
            &[a.clone()],
            |t| t[0].add_scalar(2.5),
            F32.0,
            F32.1,
        );
        check(
            &name("rsub_scalar"),
            &[a.clone()],
            |t| t[0].rsub_scalar(2.5),
            F32.0,
            F32.1,
        );
        check(
            &name("rdiv_scalar"),
            &[bp.clone()],
            |t| t[0].rdiv_scalar(2.5),
            F32.0,
            F32.1,
        );
    }
    // Integers and mixed dtypes (type promotion on the device).
    let i = Tensor::arange(
        Scalar::Int(-7),
        Scalar::Int(26),
        Scalar::Int(1),
        DType::I64,
        CPU,
    )
    .unwrap();
    let j = Tensor::arange(
        Scalar::Int(1),
        Scalar::Int(34),
        Scalar::Int(1),
        DType::I64,
        CPU,
    )
    .unwrap();
    check(
        "i64 add",
        &[i.clone(), j.clone()],
        |t| t[0].add(&t[1]),
        0.0,
        0.0,
    );
    check(
        "i64 mul",
        &[i.clone(), j.clone()],
        |t| t[0].mul(&t[1]),
        0.0,
        0.0,
    );
    check(
        "i64 floor_divide",
        &[i.clone(), j.clone()],
        |t| t[0].floor_divide(&t[1]),
        0.0,
        0.0,
    );
    check(
        "i64 fmod",
        &[i.clone(), j.clone()],
        |t| t[0].fmod(&t[1]),
        0.0,
        0.0,
    );
    check(
        "i64 remainder",
        &[i.clone(), j.clone()],
        |t| t[0].remainder(&t[1]),
        0.0,
        0.0,
    );
    check(
        "i64 / i64 is float",
        &[i.clone(), j.clone()],
        |t| t[0].div(&t[1]),
        F32.0,
        F32.1,
    );
    let x = randn(&[33], 3);
    check(
        "f32 + i64",
        &[x.clone(), j.clone()],
        |t| t[0].add(&t[1]),
        F32.0,
        F32.1,
    );
    check(
        "f32 + f64",
        &[x.clone(), randn64(&[33], 4)],
        |t| t[0].add(&t[1]),
        F32.0,
        F32.1,
    );
    // where / masked_fill.
    let c = randn(&[7, 33], 8).gt_scalar(0.0).unwrap();
    check(
        "where",
        &[c.clone(), randn(&[7, 33], 9), randn(&[33], 10)],
        |t| Tensor::where_(&t[0], &t[1], &t[2]),
        F32.0,
        F32.1,
    );
    check(
        "masked_fill",
        &[randn(&[7, 33], 11), c],
        |t| t[0].masked_fill(&t[1], -1.5),
        F32.0,
        F32.1,
    );
}

#[test]
fn reductions() {
    for (k, shape) in [
        vec![1],
        vec![7],
        vec![1000],
        vec![7, 33],
        vec![3, 7, 33],
        vec![2, 1000],
    ]
    .iter()
    .enumerate()
    {
        let x = randn(shape, 30 + k as u64);
        let nd = shape.len() as i64;
        let tol = (1e-4, 1e-4);
        check(
            &format!("sum {shape:?}"),
            &[x.clone()],
            |t| t[0].sum(),
            tol.0,
            tol.1,
        );
        check(
            &format!("mean {shape:?}"),
            &[x.clone()],
            |t| t[0].mean(),
            tol.0,
            tol.1,
        );
        check(
            &format!("max {shape:?}"),
            &[x.clone()],
            |t| t[0].max(),
            0.0,
            0.0,
        );
        for d in 0..nd {
            for keep in [false, true] {
                check(
                    &format!("sum({d}, {keep}) {shape:?}"),
                    &[x.clone()],
                    |t| t[0].sum_dims(&[d], keep),
                    tol.0,
                    tol.1,
                );
                check(
                    &format!("mean({d}, {keep}) {shape:?}"),
                    &[x.clone()],
                    |t| t[0].mean_dims(&[d], keep),
                    tol.0,
                    tol.1,
                );
                check(
                    &format!("max({d}) values {shape:?}"),
                    &[x.clone()],
                    |t| Ok(t[0].max_dim(d, keep)?.0),
                    0.0,
                    0.0,
                );
                check(
                    &format!("max({d}) indices {shape:?}"),
                    &[x.clone()],
                    |t| Ok(t[0].max_dim(d, keep)?.1),
                    0.0,
                    0.0,
                );
                check(
                    &format!("argmax({d}) {shape:?}"),
                    &[x.clone()],
                    |t| t[0].argmax(Some(d), keep),
                    0.0,
                    0.0,
                );
            }
        }
        check(
            &format!("argmax(None) {shape:?}"),
            &[x.clone()],
            |t| t[0].argmax(None, false),
            0.0,
            0.0,
        );
    }
    // Several dims at once, and a non-contiguous input.
    let x = randn(&[3, 7, 33], 40);
    check(
        "sum over (0, 2)",
        &[x.clone()],
        |t| t[0].sum_dims(&[0, 2], false),
        1e-4,
        1e-4,
    );
    check(
        "mean over (-1, -2) keepdim",
        &[x.clone()],
        |t| t[0].mean_dims(&[-1, -2], true),
        1e-4,
        1e-4,
    );
    let xt = x.permute(&[2, 0, 1]).unwrap();
    check(
        "sum of a permuted view over 1",
        &[xt.clone()],
        |t| t[0].sum_dims(&[1], false),
        1e-4,
        1e-4,
    );
    check(
        "argmax of a permuted view",
        &[xt],
        |t| t[0].argmax(Some(2), false),
        0.0,
        0.0,
    );
    // Ties: the first index, as on the CPU.
    let ties = Tensor::from_slice(&[1.0f32, 3.0, 3.0, 0.0, 3.0, 2.0], &[2, 3]).unwrap();
    check(
        "argmax ties",
        &[ties.clone()],
        |t| t[0].argmax(Some(1), false),
        0.0,
        0.0,
    );
    check(
        "max_dim ties",
        &[ties],
        |t| Ok(t[0].max_dim(0, false)?.1),
        0.0,
        0.0,
    );
    // Integers and float64.
    let i = Tensor::arange(
        Scalar::Int(0),
        Scalar::Int(231),
        Scalar::Int(1),
        DType::I64,
        CPU,
    )
    .unwrap()
    .reshape(&[7, 33])
    .unwrap();
    check(
        "i64 sum",
        &[i.clone()],
        |t| t[0].sum_dims(&[1], false),
        0.0,
        0.0,
    );
    check("i64 max", &[i], |t| Ok(t[0].max_dim(0, false)?.0), 0.0, 0.0);
    check(
        "f64 sum",
        &[randn64(&[1000], 41)],
        |t| t[0].sum(),
        1e-12,
        1e-12,
    );
}

#[test]
fn softmax_and_log_softmax() {
    for (k, (shape, dims)) in [
        (vec![1], vec![0]),
        (vec![7, 33], vec![0, 1, -1]),
        (vec![3, 1000], vec![1]),
        (vec![2, 7, 5], vec![0, 1, 2]),
    ]
    .iter()
    .enumerate()
    {
        let x = randn(shape, 50 + k as u64).mul_scalar(3.0).unwrap();
        for &d in dims {
            check(
                &format!("softmax({d}) {shape:?}"),
                &[x.clone()],
                |t| t[0].softmax(d),
                1e-4,
                1e-6,
            );
            check(
                &format!("log_softmax({d}) {shape:?}"),
                &[x.clone()],
                |t| t[0].log_softmax(d),
                1e-4,
                1e-5,
            );
        }
    }
    let x = randn64(&[7, 33], 59);
    check(
        "log_softmax f64",
        &[x],
        |t| t[0].log_softmax(1),
        1e-12,
        1e-12,
    );
}

#[test]
fn matmul_shapes_batches_and_strides() {
    // TF32 is a process-wide switch: its test lives in cuda_emu_errors.rs, alone in its process.
    let cases: &[(&[usize], &[usize])] = &[
        (&[1, 1], &[1, 1]),
        (&[7, 33], &[33, 1]),
        (&[33, 65], &[65, 67]),
        (&[130, 70], &[70, 129]),
        (&[1, 1000], &[1000, 7]),
        (&[33], &[33, 7]),
        (&[7, 33], &[33]),
        (&[33], &[33]),
        (&[3, 7, 33], &[3, 33, 5]),
        (&[2, 1, 7, 9], &[3, 9, 4]),
        (&[5, 17, 9], &[9, 3]),
    ];
    for (k, (sa, sb)) in cases.iter().enumerate() {
        let a = randn(sa, 60 + k as u64);
        let b = randn(sb, 70 + k as u64);
        check(
            &format!("matmul {sa:?} @ {sb:?}"),
            &[a, b],
            |t| t[0].matmul(&t[1]),
            1e-4,
            1e-4,
        );
    }
    // Transposed operands through strides (no copy): A^T B, A B^T, A^T B^T.
    let a = randn(&[65, 33], 80);
    let b = randn(&[67, 65], 81);
    check(
        "a.t() @ b.t()",
        &[a.clone(), b.clone()],
        |t| t[0].t()?.matmul(&t[1].t()?),
        1e-4,
        1e-4,
    );
    check(
        "a.t() @ a",
        &[a.clone()],
        |t| t[0].t()?.matmul(&t[0]),
        1e-4,
        1e-4,
    );
    check(
        "b @ a",
        &[b.clone(), a.clone()],
        |t| t[0].matmul(&t[1]),
        1e-4,
        1e-4,
    );
    let bt = randn(&[3, 9, 7], 82);
    check(
        "batched transposed",
        &[bt.clone(), randn(&[3, 9, 5], 83)],
        |t| t[0].transpose(1, 2)?.matmul(&t[1]),
        1e-4,
        1e-4,
    );
    // A sliced (offset, strided) operand.
    let big = randn(&[40, 50], 84);
    check(
        "sliced operand",
        &[big, randn(&[20, 11], 85)],
        |t| t[0].narrow(0, 3, 33)?.narrow(1, 5, 20)?.matmul(&t[1]),
        1e-4,
        1e-4,
    );
    // bmm, linear (addmm) and float64.
    check(
        "bmm",
        &[randn(&[4, 7, 33], 86), randn(&[4, 33, 9], 87)],
        |t| t[0].bmm(&t[1]),
        1e-4,
        1e-4,
    );
    check(
        "linear",
        &[randn(&[7, 33], 88), randn(&[65, 33], 89), randn(&[65], 90)],
        |t| t[0].linear(&t[1], Some(&t[2])),
        1e-4,
        1e-4,
    );
    check(
        "linear without bias",
        &[randn(&[1, 33], 91), randn(&[7, 33], 92)],
        |t| t[0].linear(&t[1], None),
        1e-4,
        1e-4,
    );
    check(
        "f64 matmul",
        &[randn64(&[33, 65], 93), randn64(&[65, 7], 94)],
        |t| t[0].matmul(&t[1]),
        1e-12,
        1e-12,
    );
    // Bigger than one tile in every direction, k not a multiple of the k-tile.
    check(
        "matmul 200x77x150",
        &[randn(&[200, 77], 95), randn(&[77, 150], 96)],
        |t| t[0].matmul(&t[1]),
        1e-4,
        1e-4,
    );
}

#[test]
fn conv2d_forward_and_both_grads() {
    struct C {
        n: usize,
        cin: usize,
        cout: usize,
        hw: [usize; 2],
        k: [usize; 2],
        stride: [usize; 2],
        pad: Padding2d,
        dil: [usize; 2],
        groups: usize,
        bias: bool,
    }
    let e = |p: [usize; 2]| Padding2d::Explicit(p);
    let cases = [
        C {
            n: 1,
            cin: 1,
            cout: 1,
            hw: [1, 1],
            k: [1, 1],
            stride: [1, 1],
            pad: e([0, 0]),
            dil: [1, 1],
            groups: 1,
            bias: false,
        },
        C {
            n: 2,
            cin: 1,
            cout: 4,
            hw: [7, 7],
            k: [3, 3],
            stride: [1, 1],
            pad: e([1, 1]),
            dil: [1, 1],
            groups: 1,
            bias: true,
        },
        C {
            n: 1,
            cin: 3,
            cout: 5,
            hw: [9, 11],
            k: [3, 2],
            stride: [2, 3],
            pad: e([1, 0]),
            dil: [1, 1],
            groups: 1,
            bias: true,
        },
        C {
            n: 2,
            cin: 4,
            cout: 6,
            hw: [8, 7],
            k: [3, 3],
            stride: [1, 1],
            pad: e([2, 2]),
            dil: [2, 1],
            groups: 2,
            bias: true,
        },
        C {
            n: 1,
            cin: 6,
            cout: 6,
            hw: [5, 5],
            k: [3, 3],
            stride: [1, 1],
            pad: Padding2d::Same,
            dil: [1, 1],
            groups: 6,
            bias: false,
        },
        C {
            n: 3,
            cin: 2,
            cout: 3,
            hw: [6, 5],
            k: [2, 2],
            stride: [1, 1],
            pad: Padding2d::Valid,
            dil: [1, 1],
            groups: 1,
            bias: true,
        },
        // A seed-like layer: 32 channels in, 7x7, padding 1 (the GEMM sees K = 288, N = 49).
        C {
            n: 2,
            cin: 32,
            cout: 33,
            hw: [7, 7],
            k: [3, 3],
            stride: [1, 1],
            pad: e([1, 1]),
            dil: [1, 1],
            groups: 1,
            bias: true,
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let x = randn(&[c.n, c.cin, c.hw[0], c.hw[1]], 100 + i as u64);
        let w = randn(&[c.cout, c.cin / c.groups, c.k[0], c.k[1]], 200 + i as u64);
        let mut inputs = vec![x, w];
        if c.bias {
            inputs.push(randn(&[c.cout], 300 + i as u64));
        }
        check(
            &format!("conv2d case {i}"),
            &inputs,
            |t| t[0].conv2d(&t[1], t.get(2), c.stride, c.pad, c.dil, c.groups),
            1e-4,
            1e-4,
        );
    }
    // Unbatched input.
    check(
        "conv2d unbatched",
        &[randn(&[2, 5, 5], 400), randn(&[3, 2, 3, 3], 401)],
        |t| t[0].conv2d(&t[1], None, [1, 1], Padding2d::Explicit([1, 1]), [1, 1], 1),
        1e-4,
        1e-4,
    );
}

#[test]
fn pooling() {
    let x = randn(&[2, 3, 9, 11], 500);
    type Pool = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool);
    let cases: &[Pool] = &[
        ([2, 2], [2, 2], [0, 0], [1, 1], false),
        ([3, 3], [2, 2], [1, 1], [1, 1], false),
        ([3, 2], [2, 3], [1, 1], [1, 1], true),
        ([2, 2], [1, 1], [0, 0], [2, 2], false),
        ([1, 1], [1, 1], [0, 0], [1, 1], false),
    ];
    for (i, &(k, s, p, d, ceil)) in cases.iter().enumerate() {
        check(
            &format!("max_pool2d {i}"),
            &[x.clone()],
            |t| Ok(t[0].max_pool2d(k, s, p, d, ceil)?.0),
            0.0,
            0.0,
        );
        check(
            &format!("max_pool2d indices {i}"),
            &[x.clone()],
            |t| Ok(t[0].max_pool2d(k, s, p, d, ceil)?.1),
            0.0,
            0.0,
        );
        if d == [1, 1] {
            for (cip, div) in [(true, None), (false, None), (true, Some(5))] {
                check(
                    &format!("avg_pool2d {i} {cip} {div:?}"),
                    &[x.clone()],
                    |t| t[0].avg_pool2d(k, s, p, ceil, cip, div),
                    1e-5,
                    1e-6,
                );
            }
        }
    }
    // Ties inside a window and a 3-d (unbatched) input.
    let ones = Tensor::ones(&[1, 4, 4], DType::F32, CPU).unwrap();
    check(
        "max_pool2d ties",
        &[ones.clone()],
        |t| Ok(t[0].max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?.1),
        0.0,
        0.0,
    );
    check(
        "max_pool2d ties grad",
        &[ones],
        |t| Ok(t[0].max_pool2d([2, 2], [1, 1], [0, 0], [1, 1], false)?.0),
        0.0,
        0.0,
    );
    check(
        "adaptive_avg_pool2d",
        &[randn(&[2, 3, 7, 9], 501)],
        |t| t[0].adaptive_avg_pool2d([3, 4]),
        1e-5,
        1e-6,
    );
}

#[test]
fn cross_entropy_forward_and_backward() {
    let x = randn(&[7, 5], 600);
    let y = Tensor::from_slice(&[0i64, 4, 2, 2, 1, 3, 0], &[7]).unwrap();
    let w = randn(&[5], 601).abs().unwrap();
    for red in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        check(
            &format!("ce {red:?}"),
            &[x.clone(), y.clone()],
            |t| t[0].cross_entropy(&t[1], None, -100, red, 0.0),
            1e-5,
            1e-6,
        );
        check(
            &format!("ce weight {red:?}"),
            &[x.clone(), y.clone(), w.clone()],
            |t| t[0].cross_entropy(&t[1], Some(&t[2]), -100, red, 0.0),
            1e-5,
            1e-6,
        );
        check(
            &format!("ce ignore {red:?}"),
            &[x.clone(), y.clone()],
            |t| t[0].cross_entropy(&t[1], None, 2, red, 0.0),
            1e-5,
            1e-6,
        );
        check(
            &format!("ce smoothing {red:?}"),
            &[x.clone(), y.clone(), w.clone()],
            |t| t[0].cross_entropy(&t[1], Some(&t[2]), 0, red, 0.1),
            1e-5,
            1e-6,
        );
    }
    // Many classes, a single sample, spatial targets, probability targets.
    let big = randn(&[3, 1000], 602);
    let yb = Tensor::from_slice(&[999i64, 0, 517], &[3]).unwrap();
    check(
        "ce 1000 classes",
        &[big, yb],
        |t| t[0].cross_entropy(&t[1], None, -100, Reduction::Mean, 0.0),
        1e-5,
        1e-6,
    );
    check(
        "ce unbatched",
        &[randn(&[7], 603), Tensor::from_slice(&[3i64], &[]).unwrap()],
        |t| t[0].cross_entropy(&t[1], None, -100, Reduction::Mean, 0.0),
        1e-5,
        1e-6,
    );
    let ys = Tensor::from_slice(&[0i64, 1, 2, 1, 0, 2, 2, 1], &[2, 2, 2]).unwrap();
    check(
        "ce spatial",
        &[randn(&[2, 3, 2, 2], 604), ys],
        |t| t[0].cross_entropy(&t[1], None, -100, Reduction::Mean, 0.0),
        1e-5,
        1e-6,
    );
    let probs = randn(&[7, 5], 605).softmax(1).unwrap();
    check(
        "ce probabilities",
        &[x.clone(), probs],
        |t| t[0].cross_entropy(&t[1], None, -100, Reduction::Mean, 0.2),
        1e-5,
        1e-6,
    );
    // All targets ignored: NaN, as PyTorch.
    let all = Tensor::full(&[7], -100i64, DType::I64, CPU).unwrap();
    check(
        "ce all ignored",
        &[x.clone(), all],
        |t| t[0].cross_entropy(&t[1], None, -100, Reduction::Mean, 0.0),
        0.0,
        0.0,
    );
    // nll_loss on log-probabilities and mse.
    check(
        "nll_loss",
        &[x.clone(), y.clone()],
        |t| {
            t[0].log_softmax(1)?
                .nll_loss(&t[1], None, -100, Reduction::Mean)
        },
        1e-5,
        1e-6,
    );
    check(
        "mse_loss",
        &[x.clone(), randn(&[7, 5], 606)],
        |t| t[0].mse_loss(&t[1], Reduction::Mean),
        1e-5,
        1e-6,
    );
}

#[test]
fn fill_copy_cast_index_gather_scatter() {
    let x = randn(&[7, 33], 800);
    // fill_ and copy_ into views of device tensors.
    let g = x.to_device(GPU).unwrap();
    let c = x.clone().contiguous().unwrap().mul_scalar(1.0).unwrap();
    for t in [&g, &c] {
        t.narrow(1, 3, 5).unwrap().fill_(2.5).unwrap();
        t.select(0, 6)
            .unwrap()
            .copy_(&t.select(0, 0).unwrap())
            .unwrap();
        t.narrow(0, 1, 2)
            .unwrap()
            .copy_(&Tensor::full(&[33], 7i64, DType::I64, t.device()).unwrap())
            .unwrap();
    }
    assert_close("fill_/copy_ on views", &g, &c, 0.0, 0.0);
    let ct = randn(&[33, 7], 801);
    let gt = ct.to_device(GPU).unwrap();
    let cc = Tensor::zeros(&[7, 33], DType::F32, CPU).unwrap();
    let gc = cc.to_device(GPU).unwrap();
    cc.copy_(&ct.t().unwrap()).unwrap();
    gc.copy_(&gt.t().unwrap()).unwrap();
    assert_close("copy_ from a transposed view", &gc, &cc, 0.0, 0.0);
    // copy_ across devices, both ways.
    let back = Tensor::zeros(&[7, 33], DType::F32, CPU).unwrap();
    back.copy_(&gc).unwrap();
    assert_eq!(values(&back), values(&cc));
    // Casts between every pair of dtypes.
    let mixed = Tensor::from_slice(&[-2.7f64, -0.5, 0.0, 0.4, 1.0, 3.9, 1e10], &[7]).unwrap();
    for from in [DType::F32, DType::F64, DType::I64, DType::Bool] {
        let src = mixed.to_dtype(from).unwrap();
        for to in [DType::F32, DType::F64, DType::I64, DType::Bool] {
            check(
                &format!("cast {from:?} -> {to:?}"),
                &[src.clone()],
                |t| t[0].to_dtype(to),
                0.0,
                0.0,
            );
        }
    }
    check(
        "cast of a strided view",
        &[x.clone()],
        |t| t[0].t()?.to_dtype(DType::F64),
        0.0,
        0.0,
    );
    // contiguous of permuted 4-d views, cat, stack.
    let y = randn(&[2, 3, 4, 5], 802);
    check(
        "contiguous permuted",
        &[y.clone()],
        |t| t[0].permute(&[3, 1, 0, 2])?.contiguous(),
        0.0,
        0.0,
    );
    check(
        "cat",
        &[x.clone(), randn(&[2, 33], 803)],
        |t| Tensor::cat(&[t[0].clone(), t[1].clone()], 0),
        0.0,
        0.0,
    );
    check(
        "stack",
        &[x.clone(), x.mul_scalar(2.0).unwrap()],
        |t| Tensor::stack(&[t[0].clone(), t[1].clone()], 1),
        0.0,
        0.0,
    );
    // Indexing: basic and advanced.
    let i = Tensor::from_slice(&[6i64, 0, 3, 3, -1], &[5]).unwrap();
    check(
        "index_select",
        &[x.clone(), i.clone()],
        |t| t[0].index_select(0, &t[1].remainder_scalar(7)?),
        0.0,
        0.0,
    );
    check(
        "advanced index",
        &[x.clone(), i.clone()],
        |t| t[0].advanced_index(&[Some(t[1].clone())]),
        0.0,
        0.0,
    );
    check(
        "index with slice and tensor",
        &[x.clone(), i.clone()],
        |t| {
            t[0].index(&[
                TensorIndex::Slice {
                    start: Some(1),
                    stop: None,
                    step: Some(2),
                },
                TensorIndex::Tensor(t[1].add_scalar(7)?),
            ])
        },
        0.0,
        0.0,
    );
    let vals = randn(&[5, 33], 804);
    check(
        "index_put accumulate",
        &[x.clone(), i.clone(), vals.clone()],
        |t| t[0].index_put(&[Some(t[1].clone())], &t[2], true),
        1e-5,
        1e-6,
    );
    let uniq = Tensor::from_slice(&[6i64, 0, 3], &[3]).unwrap();
    check(
        "index_put",
        &[x.clone(), uniq, randn(&[3, 33], 805)],
        |t| t[0].index_put(&[Some(t[1].clone())], &t[2], false),
        0.0,
        0.0,
    );
    // gather / scatter / scatter_add along each dim.
    let gi = Tensor::randint(
        0,
        7,
        &[4, 33],
        DType::I64,
        CPU,
        Some(&mut Generator::new(806)),
    )
    .unwrap();
    check(
        "gather dim 0",
        &[x.clone(), gi.clone()],
        |t| t[0].gather(0, &t[1]),
        0.0,
        0.0,
    );
    let gj = Tensor::randint(
        0,
        33,
        &[7, 9],
        DType::I64,
        CPU,
        Some(&mut Generator::new(807)),
    )
    .unwrap();
    check(
        "gather dim 1",
        &[x.clone(), gj.clone()],
        |t| t[0].gather(1, &t[1]),
        0.0,
        0.0,
    );
    let src = randn(&[7, 9], 808);
    check(
        "scatter_add dim 1",
        &[x.clone(), gj.clone(), src.clone()],
        |t| t[0].scatter_add(1, &t[1], &t[2]),
        1e-5,
        1e-6,
    );
    // scatter with unique positions per row (duplicates are order-dependent on any device).
    let perm: Vec<i64> = (0..7)
        .flat_map(|r| (0..9).map(move |c| ((c * 3 + r) % 33) as i64))
        .collect();
    let pj = Tensor::from_slice(&perm, &[7, 9]).unwrap();
    check(
        "scatter dim 1",
        &[x.clone(), pj, src],
        |t| t[0].scatter(1, &t[1], &t[2]),
        0.0,
        0.0,
    );
    check(
        "index_add",
        &[
            x.clone(),
            Tensor::from_slice(&[1i64, 1, 4], &[3]).unwrap(),
            randn(&[3, 33], 809),
        ],
        |t| t[0].index_add(0, &t[1], &t[2]),
        1e-5,
        1e-6,
    );
    check(
        "masked_select",
        &[x.clone()],
        |t| t[0].masked_select(&t[0].gt_scalar(0.5)?),
        0.0,
        0.0,
    );
}

#[test]
fn random_streams_match_the_cpu() {
    for dtype in [DType::F32, DType::F64] {
        let c = Tensor::randn(&[1000], dtype, CPU, Some(&mut Generator::new(5))).unwrap();
        let g = Tensor::randn(&[1000], dtype, GPU, Some(&mut Generator::new(5))).unwrap();
        assert_close(&format!("randn {dtype:?}"), &g, &c, 1e-6, 1e-6);
        let c = Tensor::rand(&[33], dtype, CPU, Some(&mut Generator::new(6))).unwrap();
        let g = Tensor::rand(&[33], dtype, GPU, Some(&mut Generator::new(6))).unwrap();
        assert_close(&format!("rand {dtype:?}"), &g, &c, 0.0, 0.0);
    }
    let c = Tensor::randint(-3, 17, &[77], DType::I64, CPU, Some(&mut Generator::new(7))).unwrap();
    let g = Tensor::randint(-3, 17, &[77], DType::I64, GPU, Some(&mut Generator::new(7))).unwrap();
    assert_close("randint", &g, &c, 0.0, 0.0);
}

/// Parameters after `steps` optimizer steps on CPU and GPU copies, with fixed gradients.
fn run_optimizer(
    dev: Device,
    steps: usize,
    adam: Option<AdamOptions>,
    sgd: Option<SgdOptions>,
) -> Vec<Tensor> {
    let shapes: [&[usize]; 3] = [&[1], &[7, 33], &[1000]];
    let params: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            randn(s, 900 + i as u64)
                .to_device(dev)
                .unwrap()
                .requires_grad_(true)
                .unwrap()
        })
        .collect();
    let mut sgd = sgd.map(|o| Sgd::new(params.clone(), o).unwrap());
    let mut adam = adam.map(|o| Adam::new(params.clone(), o).unwrap());
    for step in 0..steps {
        for (i, p) in params.iter().enumerate() {
            let g = randn(&p.shape(), 1000 + (step * 10 + i) as u64)
                .to_device(dev)
                .unwrap();
            p.set_grad(Some(g)).unwrap();
        }
        if let Some(o) = sgd.as_mut() {
            o.step().unwrap();
        }
        if let Some(o) = adam.as_mut() {
            o.step().unwrap();
        }
    }
    params
}

#[test]
fn sgd_and_adam_updates() {
    let sgds = [
        SgdOptions::new(0.1),
        SgdOptions::new(0.05).momentum(0.9).weight_decay(0.01),
        SgdOptions::new(0.05).momentum(0.9).nesterov(true),
        SgdOptions::new(0.05)
            .momentum(0.5)
            .dampening(0.3)
            .maximize(true),
    ];
    for (i, o) in sgds.into_iter().enumerate() {
        let c = run_optimizer(CPU, 3, None, Some(o.clone()));
        let g = run_optimizer(GPU, 3, None, Some(o));
        for (k, (pg, pc)) in g.iter().zip(&c).enumerate() {
            assert_close(&format!("sgd {i} param {k}"), pg, pc, 1e-5, 1e-6);
        }
    }
    let adams = [
        AdamOptions::new(1e-2),
        AdamOptions::new(1e-2)
            .betas(0.8, 0.99)
            .eps(1e-6)
            .weight_decay(0.1),
        AdamOptions::new(1e-2).amsgrad(true),
        AdamOptions::adamw(1e-2).weight_decay(0.05),
    ];
    for (i, o) in adams.into_iter().enumerate() {
        let c = run_optimizer(CPU, 3, Some(o.clone()), None);
        let g = run_optimizer(GPU, 3, Some(o), None);
        for (k, (pg, pc)) in g.iter().zip(&c).enumerate() {
            assert_close(&format!("adam {i} param {k}"), pg, pc, 1e-5, 1e-6);
        }
    }
}

#[test]
fn synchronize_and_bad_ordinals() {
    assert!(rustgrad::backend::cuda::synchronize(Some(0)).is_ok());
    let e = rustgrad::backend::cuda::synchronize(Some(3)).expect_err("no cuda:3");
    assert!(e.to_string().contains("invalid device ordinal"), "{e}");
    let e = Tensor::zeros(&[2], DType::F32, Device::Cuda(1)).expect_err("no cuda:1");
    assert!(e.to_string().contains("invalid device ordinal"), "{e}");
}

/// The seed ConvNet (conv 1->32, relu, pool, conv 32->64, relu, pool, fc 3136->128, relu, fc 128->10)
/// trained a few SGD steps on the CPU and on the device from the same initial weights and batch.
fn seed_convnet_losses(dev: Device, steps: usize) -> Vec<f64> {
    let shapes: [&[usize]; 8] = [
        &[32, 1, 3, 3],
        &[32],
        &[64, 32, 3, 3],
        &[64],
        &[128, 3136],
        &[128],
        &[10, 128],
        &[10],
    ];
    let params: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let fan_in: usize = if s.len() > 1 {
                s[1..].iter().product()
            } else {
                shapes[i - 1][1..].iter().product()
            };
            randn(s, 1100 + i as u64)
                .mul_scalar(1.0 / (fan_in as f64).sqrt())
                .unwrap()
                .to_device(dev)
                .unwrap()
                .requires_grad_(true)
                .unwrap()
        })
        .collect();
    let mut opt = Sgd::new(params.clone(), SgdOptions::new(0.05).momentum(0.9)).unwrap();
    let x = randn(&[8, 1, 28, 28], 1200).to_device(dev).unwrap();
    let y = Tensor::from_slice(&[3i64, 7, 0, 9, 1, 1, 5, 2], &[8])
        .unwrap()
        .to_device(dev)
        .unwrap();
    let p = &params;
    let mut losses = Vec::new();
    let mut reads = host_reads();
    for _ in 0..steps {
        opt.zero_grad();
        let e = Padding2d::Explicit([1, 1]);
        let h = x
            .conv2d(&p[0], Some(&p[1]), [1, 1], e, [1, 1], 1)
            .unwrap()
            .relu()
            .unwrap();
        let h = h
            .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
            .unwrap()
            .0;
        let h = h
            .conv2d(&p[2], Some(&p[3]), [1, 1], e, [1, 1], 1)
            .unwrap()
            .relu()
            .unwrap();
        let h = h
            .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
            .unwrap()
            .0;
        let h = h.view(&[-1, 3136]).unwrap();
        let h = h.linear(&p[4], Some(&p[5])).unwrap().relu().unwrap();
        let logits = h.linear(&p[6], Some(&p[7])).unwrap();
        assert_eq!(logits.device(), dev);
        let loss = logits
            .cross_entropy(&y, None, -100, Reduction::Mean, 0.0)
            .unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
        if dev.is_cuda() {
            assert_eq!(
                host_reads(),
                reads,
                "a training step read device memory back to the host"
            );
        }
        losses.push(loss.item().unwrap().to_f64());
        reads = host_reads();
    }
    losses
}

#[test]
fn seed_convnet_trains_on_the_device_like_the_cpu() {
    let cpu = seed_convnet_losses(CPU, 6);
    let gpu = seed_convnet_losses(GPU, 6);
    for (s, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        assert!(
            (g - c).abs() <= 1e-4 * c.abs().max(1.0),
            "step {s}: gpu {g} cpu {c} ({gpu:?} vs {cpu:?})"
        );
    }
    assert!(cpu[5] < cpu[0], "the loss goes down: {cpu:?}");
}

#[test]
fn cumsum_on_device_matches_cpu() {
    for shape in [&[1][..], &[7], &[1000], &[7, 33], &[3, 7, 5]] {
        for dim in 0..shape.len() as i64 {
            let what = format!("cumsum {shape:?} dim {dim}");
            check(
                &what,
                &[randn(shape, 3)],
                |t| t[0].cumsum(dim, None),
                F32.0,
                F32.1,
            );
            check(
                &what,
                &[randn64(shape, 4)],
                |t| t[0].cumsum(-1 - dim, None),
                1e-12,
                1e-12,
            );
            let ints = randn64(shape, 5)
                .mul_scalar(10.0)
                .unwrap()
                .to_dtype(DType::I64)
                .unwrap();
            check(&what, &[ints], |t| t[0].cumsum(dim, None), 0.0, 0.0);
        }
    }
    // A strided (transposed) input.
    check(
        "cumsum transposed",
        &[randn(&[33, 7], 6)],
        |t| t[0].t()?.cumsum(1, None),
        F32.0,
        F32.1,
    );
}
