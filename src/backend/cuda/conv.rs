//! Host side of conv2d on the GPU: im2col (kernels/conv.cu) and our GEMM (kernels/gemm.cu).
//!
//! Forward, per chunk of samples and group: `out = W_g @ cols_g + bias`, written straight into
//! NCHW through the GEMM's split-column output. Backward: the output gradient is first transposed
//! to `[O, N*P]`; the input gradient is `col2im(W_g^T @ dout_g)` and the weight gradient
//! `dout_g @ cols_g^T` (accumulated over chunks; split-K when the batch is long and the matrix
//! small); the bias gradient is a sum over N, H, W. The column buffer is capped at 256 MiB.

use std::sync::Arc;

use super::device::CudaDevice;
use super::elementwise::copy_strided;
use super::launch::{grid_for, launch_1d, Args, Pod, Window};
use super::matmul::{gemm, Batch, MatRef, OutRef};
use super::nvrtc::CONV;
use super::rt::LaunchDims;
use super::storage::{CudaStorage, Dv};
use crate::backend::geometry::{ConvGeom, ConvNeeds};
use crate::error::{Error, Result};
use crate::storage::DType;
use crate::tensor::Layout;

/// `ConvGeo` in conv.cu.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
struct ConvGeo {
    n: i64,
    c: i64,
    h: i64,
    w: i64,
    kh: i64,
    kw: i64,
    oh: i64,
    ow: i64,
    win: Window,
}
// SAFETY: repr(C), integers only (`Window` is repr(C) i64s, so no padding).
unsafe impl Pod for ConvGeo {}
const _: () = assert!(std::mem::size_of::<ConvGeo>() == 14 * 8);

const COLS_BUDGET: usize = 256 << 20;

fn geo(g: &ConvGeom, n: usize) -> ConvGeo {
    ConvGeo {
        n: n as i64,
        c: g.c as i64,
        h: g.h as i64,
        w: g.w as i64,
        kh: g.kh as i64,
        kw: g.kw as i64,
        oh: g.oh as i64,
        ow: g.ow as i64,
        win: Window::new(g.stride, g.pad, g.dilation),
    }
}

/// Samples per chunk so that the column buffer stays within budget.
fn chunk(g: &ConvGeom, elem: usize) -> usize {
    let per_sample = (g.c * g.kh * g.kw * g.p()).max(1) * elem;
    (COLS_BUDGET / per_sample).clamp(1, g.n.max(1))
}

/// `(first sample, samples)` of each chunk of `nb` (at least 1) samples out of `n`.
fn chunks(n: usize, nb: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).step_by(nb).map(move |n0| (n0, nb.min(n - n0)))
}

fn names(dtype: DType, wide: bool) -> Result<(&'static str, &'static str)> {
    Ok(match (dtype, wide) {
        (DType::F32, false) => ("im2col_f32", "col2im_f32"),
        (DType::F32, true) => ("im2col_f32_w", "col2im_f32_w"),
        (DType::F64, false) => ("im2col_f64", "col2im_f64"),
        (DType::F64, true) => ("im2col_f64_w", "col2im_f64_w"),
        (other, _) => return Err(Error::not_implemented_for("slow_conv2d_cuda", other)),
    })
}

fn wide(g: &ConvGeom, nb: usize) -> bool {
    let lim = i32::MAX as usize;
    g.c * g.kh * g.kw * nb * g.p() > lim || nb * g.c * g.h * g.w > lim
}

fn im2col(dev: &CudaDevice, x: u64, cols: &CudaStorage, g: &ConvGeom, nb: usize) -> Result<()> {
    let (name, _) = names(cols.dtype(), wide(g, nb))?;
    let rows = g.c * g.kh * g.kw;
    let cg = geo(g, nb);
    let mut a = Args::new();
    a.pod(&cg).ptr(x).ptr(cols.ptr());
    let cols_per_row = nb * g.p();
    let dims = LaunchDims {
        grid: [
            grid_for(cols_per_row, 256, 4096),
            rows.clamp(1, 65_535) as u32,
            1,
        ],
        block: [256, 1, 1],
        smem: 0,
    };
    if rows * cols_per_row == 0 {
        return Ok(());
    }
    dev.launch(&CONV, name, dims, &mut a)
}

fn col2im(dev: &CudaDevice, cols: &CudaStorage, dx: u64, g: &ConvGeom, nb: usize) -> Result<()> {
    let (_, name) = names(cols.dtype(), wide(g, nb))?;
    let mut a = Args::new();
    a.pod(&geo(g, nb)).ptr(cols.ptr()).ptr(dx);
    launch_1d(dev, &CONV, name, nb * g.c * g.h * g.w, &mut a)
}

fn single() -> Batch {
    Batch {
        shape: vec![1],
        sa: vec![0],
        sb: vec![0],
        sc: vec![0],
    }
}

/// `conv2d(x, w) + bias` for contiguous `x` [N, C, H, W] and `w` [O, C/groups, kh, kw].
pub(crate) fn conv2d_forward(
    x: Dv<'_>,
    w: Dv<'_>,
    bias: Option<Dv<'_>>,
    g: &ConvGeom,
) -> Result<CudaStorage> {
    let dev: &Arc<CudaDevice> = x.s.device();
    let dtype = x.s.dtype();
    names(dtype, false)?;
    let p = g.p();
    let out = CudaStorage::alloc(dev, dtype, g.n * g.o * p)?;
    if g.n * g.o * p == 0 {
        return Ok(out);
    }
    let (og, k) = (g.og(), g.k());
    let nb = chunk(g, dtype.size_in_bytes());
    let cols = CudaStorage::alloc(dev, dtype, g.c * g.kh * g.kw * nb * p)?;
    for (n0, nbc) in chunks(g.n, nb) {
        let np = nbc * p;
        im2col(dev, x.s.ptr_at(x.off + n0 * g.c * g.h * g.w), &cols, g, nbc)?;
        for grp in 0..g.groups {
            gemm(
                dev,
                (og, np, k),
                MatRef {
                    s: w.s,
                    rs: k,
                    cs: 1,
                    off: w.off + grp * og * k,
                },
                MatRef {
                    s: &cols,
                    rs: np,
                    cs: 1,
                    off: grp * k * np,
                },
                OutRef {
                    s: &out,
                    rs: p,
                    cs: 1,
                    split: p,
                    hs: g.o * p,
                    off: n0 * g.o * p + grp * og * p,
                },
                bias.map(|b| (b.s, b.off + grp * og, 1)),
                1.0,
                0.0,
                &single(),
            )?;
        }
    }
    Ok(out)
}

/// Storages of the three gradients (each when asked for).
pub(crate) type ConvGrads = (
    Option<CudaStorage>,
    Option<CudaStorage>,
    Option<CudaStorage>,
);

/// The backward pass: input, weight and bias gradients from the output gradient `gy`.
pub(crate) fn conv2d_backward(
    gy: Dv<'_>,
    x: Option<Dv<'_>>,
    w: Option<Dv<'_>>,
    g: &ConvGeom,
    needs: ConvNeeds,
) -> Result<ConvGrads> {
    let dev: &Arc<CudaDevice> = gy.s.device();
    let dtype = gy.s.dtype();
    names(dtype, false)?;
    let p = g.p();
    let np_all = g.n * p;
    let (og, k) = (g.og(), g.k());
    // Both the input and the weight gradient go through the column buffer.
    let need_cols = (needs.input && w.is_some()) || (needs.weight && x.is_some());
    // dout as [O, N * P], contiguous.
    let dout_t = if need_cols {
        let t = CudaStorage::alloc(dev, dtype, g.o * np_all)?;
        let src = Layout::from_parts(
            [g.o, g.n, p].into_iter().collect(),
            [p, g.o * p, 1].into_iter().collect(),
            gy.off,
        );
        copy_strided(&t, &Layout::contiguous(&[g.o, g.n, p]), gy.s, &src)?;
        Some(t)
    } else {
        None
    };
    let nb = chunk(g, dtype.size_in_bytes());
    let cols = if need_cols && g.n * p > 0 {
        Some(CudaStorage::alloc(dev, dtype, g.c * g.kh * g.kw * nb * p)?)
    } else {
        None
    };
    let mut gx = None;
    if let (true, Some(w), Some(dt), Some(cols)) = (needs.input, w, &dout_t, &cols) {
        let out = CudaStorage::alloc(dev, dtype, g.n * g.c * g.h * g.w)?;
        for (n0, nbc) in chunks(g.n, nb) {
            let np = nbc * p;
            for grp in 0..g.groups {
                gemm(
                    dev,
                    (k, np, og),
                    MatRef {
                        s: w.s,
                        rs: 1,
                        cs: k,
                        off: w.off + grp * og * k,
                    },
                    MatRef {
                        s: dt,
                        rs: np_all,
                        cs: 1,
                        off: grp * og * np_all + n0 * p,
                    },
                    OutRef {
                        s: cols,
                        rs: np,
                        cs: 1,
                        split: np,
                        hs: 0,
                        off: grp * k * np,
                    },
                    None,
                    1.0,
                    0.0,
                    &single(),
                )?;
            }
            col2im(dev, cols, out.ptr_at(n0 * g.c * g.h * g.w), g, nbc)?;
        }
        gx = Some(out);
    } else if needs.input {
        gx = Some(CudaStorage::zeros(dev, dtype, g.n * g.c * g.h * g.w)?);
    }
    let mut gw = None;
    if let (true, Some(x), Some(dt), Some(cols)) = (needs.weight, x, &dout_t, &cols) {
        let out = CudaStorage::zeros(dev, dtype, g.o * k)?;
        for (n0, nbc) in chunks(g.n, nb) {
            let np = nbc * p;
            im2col(dev, x.s.ptr_at(x.off + n0 * g.c * g.h * g.w), cols, g, nbc)?;
            for grp in 0..g.groups {
                gemm(
                    dev,
                    (og, k, np),
                    MatRef {
                        s: dt,
                        rs: np_all,
                        cs: 1,
                        off: grp * og * np_all + n0 * p,
                    },
                    MatRef {
                        s: cols,
                        rs: 1,
                        cs: np,
                        off: grp * k * np,
                    },
                    OutRef {
                        s: &out,
                        rs: k,
                        cs: 1,
                        split: k,
                        hs: 0,
                        off: grp * og * k,
                    },
                    None,
                    1.0,
                    if n0 == 0 { 0.0 } else { 1.0 },
                    &single(),
                )?;
            }
        }
        gw = Some(out);
    } else if needs.weight {
        gw = Some(CudaStorage::zeros(dev, dtype, g.o * k)?);
    }
    let gb = if needs.bias {
        let l = Layout::from_parts(
            [g.n, g.o, p].into_iter().collect(),
            [g.o * p, p, 1].into_iter().collect(),
            gy.off,
        );
        Some(super::reduce::reduce(
            crate::backend::ReduceOp::Sum,
            gy.s,
            &l,
            &[0, 2],
        )?)
    } else {
        None
    };
    Ok((gx, gw, gb))
}
