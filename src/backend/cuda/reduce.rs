//! Host side of kernels/reduce.cu: reductions over dims, max/min along a dim, softmax.

use super::elementwise::cast;
use super::launch::{
    dtype_index, float_kernel, launch_1d, max_blocks, row_block, Args, PerDtype, Pod, MAX_DIMS,
};
use super::nvrtc::REDUCE;
use super::rt::LaunchDims;
use super::storage::CudaStorage;
use crate::backend::ReduceOp;
use crate::error::Result;
use crate::storage::DType;
use crate::tensor::layout::coalesce;
use crate::tensor::{Dims, Layout};

/// Block size of the block-per-row reductions (`RED_BLOCK` in reduce.cu).
const RED_BLOCK: u32 = 256;

/// Kept and reduced index spaces of a reduction (`RedGeo` in reduce.cu).
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub(crate) struct RedGeo {
    pub kdim: i32,
    pub rdim: i32,
    pub nk: i64,
    pub nr: i64,
    pub kshape: [i64; MAX_DIMS],
    pub kst: [i64; MAX_DIMS],
    pub rshape: [i64; MAX_DIMS],
    pub rst: [i64; MAX_DIMS],
    pub off: i64,
}
// SAFETY: repr(C), integers only, mirrors the C struct.
unsafe impl Pod for RedGeo {}

/// Merges and packs one index space; None when it has more than MAX_DIMS dims after merging.
fn space(shape: &[usize], strides: &[usize]) -> Option<(i32, [i64; MAX_DIMS], [i64; MAX_DIMS])> {
    let mut sh = [1i64; MAX_DIMS];
    let mut st = [0i64; MAX_DIMS];
    if shape.contains(&0) {
        return Some((0, sh, st));
    }
    let (cs, cst) = coalesce(shape, &[strides])?;
    if cs.len() > MAX_DIMS {
        return None;
    }
    for (d, (&s, &t)) in cs.iter().zip(cst[0].iter()).enumerate() {
        sh[d] = s as i64;
        st[d] = t as i64;
    }
    Some((cs.len() as i32, sh, st))
}

impl RedGeo {
    /// The geometry reducing `dims` (sorted) of `layout`; None when either space has too many dims.
    pub fn new(layout: &Layout, dims: &[usize]) -> Option<RedGeo> {
        let (mut ks, mut kst, mut rs, mut rst) =
            (Dims::new(), Dims::new(), Dims::new(), Dims::new());
        for d in 0..layout.ndim() {
            if dims.contains(&d) {
                rs.push(layout.shape()[d]);
                rst.push(layout.strides()[d]);
            } else {
                ks.push(layout.shape()[d]);
                kst.push(layout.strides()[d]);
            }
        }
        let (kdim, kshape, kstv) = space(&ks, &kst)?;
        let (rdim, rshape, rstv) = space(&rs, &rst)?;
        Some(RedGeo {
            kdim,
            rdim,
            nk: ks.iter().product::<usize>() as i64,
            nr: rs.iter().product::<usize>() as i64,
            kshape,
            kst: kstv,
            rshape,
            rst: rstv,
            off: layout.offset() as i64,
        })
    }
}

/// The reduction's output dtype (as the CPU kernel).
fn out_dtype(op: ReduceOp, dtype: DType) -> DType {
    match op {
        ReduceOp::Sum | ReduceOp::Prod if !dtype.is_floating_point() => DType::I64,
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
        ReduceOp::All | ReduceOp::Any => DType::Bool,
        _ => dtype,
    }
}

/// Bytes of one partial result (`Op::A` in reduce.cu).
fn partial_bytes(op: ReduceOp) -> usize {
    match op {
        ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Prod => 8,
        ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin => 16,
        ReduceOp::All | ReduceOp::Any => 4,
    }
}

/// The kernels of a reduction, each for every dtype ([`PerDtype`] order): a block per output row
/// (split over several blocks when rows are long and few), the pass that combines split rows, and
/// a thread per output.
struct RedKernels {
    rows: PerDtype,
    finish: PerDtype,
    cols: PerDtype,
}

#[rustfmt::skip]
fn red_kernels(op: ReduceOp) -> RedKernels {
    let k = |rows, finish, cols| RedKernels { rows, finish, cols };
    match op {
        ReduceOp::Sum => k(
            ["red_rows_sum_f32", "red_rows_sum_f64", "red_rows_sum_i64", "red_rows_sum_u8"],
            ["red_finish_sum_f32", "red_finish_sum_f64", "red_finish_sum_i64", "red_finish_sum_u8"],
            ["red_cols_sum_f32", "red_cols_sum_f64", "red_cols_sum_i64", "red_cols_sum_u8"],
        ),
        ReduceOp::Mean => k(
            ["red_rows_mean_f32", "red_rows_mean_f64", "red_rows_mean_i64", "red_rows_mean_u8"],
            ["red_finish_mean_f32", "red_finish_mean_f64", "red_finish_mean_i64", "red_finish_mean_u8"],
            ["red_cols_mean_f32", "red_cols_mean_f64", "red_cols_mean_i64", "red_cols_mean_u8"],
        ),
        ReduceOp::Prod => k(
            ["red_rows_prod_f32", "red_rows_prod_f64", "red_rows_prod_i64", "red_rows_prod_u8"],
            ["red_finish_prod_f32", "red_finish_prod_f64", "red_finish_prod_i64", "red_finish_prod_u8"],
            ["red_cols_prod_f32", "red_cols_prod_f64", "red_cols_prod_i64", "red_cols_prod_u8"],
        ),
        ReduceOp::Max => k(
            ["red_rows_max_f32", "red_rows_max_f64", "red_rows_max_i64", "red_rows_max_u8"],
            ["red_finish_max_f32", "red_finish_max_f64", "red_finish_max_i64", "red_finish_max_u8"],
            ["red_cols_max_f32", "red_cols_max_f64", "red_cols_max_i64", "red_cols_max_u8"],
        ),
        ReduceOp::Min => k(
            ["red_rows_min_f32", "red_rows_min_f64", "red_rows_min_i64", "red_rows_min_u8"],
            ["red_finish_min_f32", "red_finish_min_f64", "red_finish_min_i64", "red_finish_min_u8"],
            ["red_cols_min_f32", "red_cols_min_f64", "red_cols_min_i64", "red_cols_min_u8"],
        ),
        ReduceOp::ArgMax => k(
            ["red_rows_argmax_f32", "red_rows_argmax_f64", "red_rows_argmax_i64", "red_rows_argmax_u8"],
            ["red_finish_argmax_f32", "red_finish_argmax_f64", "red_finish_argmax_i64", "red_finish_argmax_u8"],
            ["red_cols_argmax_f32", "red_cols_argmax_f64", "red_cols_argmax_i64", "red_cols_argmax_u8"],
        ),
        ReduceOp::ArgMin => k(
            ["red_rows_argmin_f32", "red_rows_argmin_f64", "red_rows_argmin_i64", "red_rows_argmin_u8"],
            ["red_finish_argmin_f32", "red_finish_argmin_f64", "red_finish_argmin_i64", "red_finish_argmin_u8"],
            ["red_cols_argmin_f32", "red_cols_argmin_f64", "red_cols_argmin_i64", "red_cols_argmin_u8"],
        ),
        ReduceOp::All => k(
            ["red_rows_all_f32", "red_rows_all_f64", "red_rows_all_i64", "red_rows_all_u8"],
            ["red_finish_all_f32", "red_finish_all_f64", "red_finish_all_i64", "red_finish_all_u8"],
            ["red_cols_all_f32", "red_cols_all_f64", "red_cols_all_i64", "red_cols_all_u8"],
        ),
        ReduceOp::Any => k(
            ["red_rows_any_f32", "red_rows_any_f64", "red_rows_any_i64", "red_rows_any_u8"],
            ["red_finish_any_f32", "red_finish_any_f64", "red_finish_any_i64", "red_finish_any_u8"],
            ["red_cols_any_f32", "red_cols_any_f64", "red_cols_any_i64", "red_cols_any_u8"],
        ),
    }
}

/// Reduces sorted `dims` of the strided `x`; the output has the kept dims, contiguous.
pub(crate) fn reduce(
    op: ReduceOp,
    x: &CudaStorage,
    layout: &Layout,
    dims: &[usize],
) -> Result<CudaStorage> {
    let dtype = x.dtype();
    let n_out: usize = (0..layout.ndim())
        .filter(|d| !dims.contains(d))
        .map(|d| layout.shape()[d])
        .product();
    let dev = x.device();
    let out = CudaStorage::alloc(dev, out_dtype(op, dtype), n_out)?;
    if n_out == 0 {
        return Ok(out);
    }
    let Some(g) = RedGeo::new(layout, dims) else {
        // Too many dims that do not merge: gather kept dims first, reduced dims last, contiguous.
        let (p, kept) = reorder(layout, dims);
        let c = cast(x, &layout.permute(&p), dtype)?;
        let nd = layout.ndim();
        let red: Vec<usize> = (kept..nd).collect();
        return reduce(
            op,
            &c,
            &Layout::contiguous(layout.permute(&p).shape()),
            &red,
        );
    };
    let sm = dev.props().sm_count;
    let (k, di) = (red_kernels(op), dtype_index(dtype));
    let mut a = Args::new();
    if g.nr <= 32 && g.nk >= 256 {
        a.pod(&g).ptr(x.ptr()).ptr(out.ptr());
        return launch_grid(dev, k.cols[di], n_out, &mut a).map(|_| out);
    }
    // Few outputs with many elements each: split every row over several blocks.
    let target = (sm as usize) * 4;
    let splits = if g.nk < target as i64 && g.nr >= 16_384 {
        ((target / g.nk.max(1) as usize).max(2))
            .min((g.nr as usize).div_ceil(4096))
            .min(1024)
    } else {
        1
    };
    let partial = if splits > 1 {
        Some(dev.alloc(n_out * splits * partial_bytes(op))?)
    } else {
        None
    };
    let block = row_block(g.nr as usize).min(RED_BLOCK);
    a.pod(&g)
        .ptr(x.ptr())
        .ptr(out.ptr())
        .ptr(partial.as_ref().map_or(0, |p| p.ptr()));
    launch_rows(dev, k.rows[di], n_out, splits as u32, block, &mut a)?;
    if let Some(p) = &partial {
        let mut f = Args::new();
        f.pod(&g).i32(splits as i32).ptr(p.ptr()).ptr(out.ptr());
        launch_grid(dev, k.finish[di], n_out, &mut f)?;
    }
    Ok(out)
}

/// Blocks for a block-per-output kernel (grid-stride beyond the cap).
fn grid_rows(n_out: usize, sm: u32) -> u32 {
    n_out.clamp(1, max_blocks(sm) as usize) as u32
}

/// Launches a block-per-row kernel over `rows` rows (`splits` blocks per row) of `block` threads.
fn launch_rows(
    dev: &super::device::CudaDevice,
    name: &'static str,
    rows: usize,
    splits: u32,
    block: u32,
    a: &mut Args,
) -> Result<()> {
    let dims = LaunchDims {
        grid: [grid_rows(rows, dev.props().sm_count), splits, 1],
        block: [block, 1, 1],
        smem: 0,
    };
    dev.launch(&REDUCE, name, dims, a)
}

fn launch_grid(
    dev: &super::device::CudaDevice,
    name: &'static str,
    n: usize,
    a: &mut Args,
) -> Result<()> {
    launch_1d(dev, &REDUCE, name, n, a)
}

/// The permutation putting kept dims first and `dims` last, and the number of kept dims.
fn reorder(layout: &Layout, dims: &[usize]) -> (Vec<usize>, usize) {
    let mut p: Vec<usize> = (0..layout.ndim()).filter(|d| !dims.contains(d)).collect();
    let kept = p.len();
    p.extend_from_slice(dims);
    (p, kept)
}

/// Max or min along `dim` with int64 indices, the dim removed.
pub(crate) fn extreme_along(
    x: &CudaStorage,
    layout: &Layout,
    dim: usize,
    want_max: bool,
) -> Result<(CudaStorage, CudaStorage)> {
    // Checked by the caller (backend::extreme_along): the dim is not empty.
    let n_red = layout.shape()[dim];
    let dev = x.device();
    let n_out = layout.numel() / n_red;
    let vals = CudaStorage::alloc(dev, x.dtype(), n_out)?;
    let idx = CudaStorage::alloc(dev, DType::I64, n_out)?;
    if n_out == 0 {
        return Ok((vals, idx));
    }
    let Some(g) = RedGeo::new(layout, &[dim]) else {
        let (p, kept) = reorder(layout, &[dim]);
        let c = cast(x, &layout.permute(&p), x.dtype())?;
        return extreme_along(
            &c,
            &Layout::contiguous(layout.permute(&p).shape()),
            kept,
            want_max,
        );
    };
    /// `[min, max]` for each dtype.
    const ROWS_X: [[&str; 2]; 4] = [
        ["extreme_rows_min_f32", "extreme_rows_max_f32"],
        ["extreme_rows_min_f64", "extreme_rows_max_f64"],
        ["extreme_rows_min_i64", "extreme_rows_max_i64"],
        ["extreme_rows_min_u8", "extreme_rows_max_u8"],
    ];
    const COLS_X: [[&str; 2]; 4] = [
        ["extreme_cols_min_f32", "extreme_cols_max_f32"],
        ["extreme_cols_min_f64", "extreme_cols_max_f64"],
        ["extreme_cols_min_i64", "extreme_cols_max_i64"],
        ["extreme_cols_min_u8", "extreme_cols_max_u8"],
    ];
    let di = dtype_index(x.dtype());
    let mut a = Args::new();
    a.pod(&g).ptr(x.ptr()).ptr(vals.ptr()).ptr(idx.ptr());
    if n_red <= 32 {
        launch_grid(dev, COLS_X[di][want_max as usize], n_out, &mut a)?;
    } else {
        let block = row_block(n_red).min(RED_BLOCK);
        launch_rows(dev, ROWS_X[di][want_max as usize], n_out, 1, block, &mut a)?;
    }
    Ok((vals, idx))
}

/// (outer, C, inner) of a contiguous shape around `dim`.
fn around(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    (
        shape[..dim].iter().product(),
        shape[dim],
        shape[dim + 1..].iter().product(),
    )
}

fn contiguous_operand(x: &CudaStorage, layout: &Layout) -> Result<Option<CudaStorage>> {
    match layout.contiguous_range() {
        Some(r) if r.start == 0 => Ok(None),
        _ => Ok(Some(cast(x, layout, x.dtype())?)),
    }
}

/// Runs a softmax-family kernel along `dim` over `inputs` (each made contiguous; the first gives
/// the shape, dtype and device) into a new contiguous output: a block per row when `dim` is
/// innermost, else a thread per (outer, inner) pair.
fn softmax_family(
    (rows, cols): (&'static str, &'static str),
    inputs: &[(&CudaStorage, &Layout)],
    dim: usize,
    log: bool,
) -> Result<CudaStorage> {
    let (x, layout) = inputs[0];
    let n = layout.numel();
    let dev = x.device();
    let out = CudaStorage::alloc(dev, x.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    let owned = inputs
        .iter()
        .map(|&(s, l)| contiguous_operand(s, l))
        .collect::<Result<Vec<_>>>()?;
    let (outer, c, inner) = around(layout.shape(), dim);
    let mut a = Args::new();
    for (o, &(s, _)) in owned.iter().zip(inputs) {
        a.ptr(o.as_ref().unwrap_or(s).ptr());
    }
    a.ptr(out.ptr()).usize(outer).usize(c);
    if inner == 1 {
        a.i32(log as i32);
        launch_rows(dev, rows, outer, 1, row_block(c), &mut a)?;
    } else {
        a.usize(inner).i32(log as i32);
        launch_grid(dev, cols, outer * inner, &mut a)?;
    }
    Ok(out)
}

/// softmax or log_softmax along `dim`.
pub(crate) fn softmax(
    x: &CudaStorage,
    layout: &Layout,
    dim: usize,
    log: bool,
) -> Result<CudaStorage> {
    let rows = float_kernel(
        ["softmax_rows_f32", "softmax_rows_f64"],
        x.dtype(),
        "softmax_lastdim_kernel_impl",
    )?;
    let cols = float_kernel(
        ["softmax_cols_f32", "softmax_cols_f64"],
        x.dtype(),
        "softmax_lastdim_kernel_impl",
    )?;
    softmax_family((rows, cols), &[(x, layout)], dim, log)
}

/// The fused softmax backward from the output `y` and the gradient `g`.
pub(crate) fn softmax_backward(
    g: &CudaStorage,
    lg: &Layout,
    y: &CudaStorage,
    ly: &Layout,
    dim: usize,
    log: bool,
) -> Result<CudaStorage> {
    let rows = float_kernel(
        ["softmax_bwd_rows_f32", "softmax_bwd_rows_f64"],
        g.dtype(),
        "softmax_backward_data",
    )?;
    let cols = float_kernel(
        ["softmax_bwd_cols_f32", "softmax_bwd_cols_f64"],
        g.dtype(),
        "softmax_backward_data",
    )?;
    softmax_family((rows, cols), &[(g, lg), (y, ly)], dim, log)
}

/// Cumulative sum along `dim` (from the end when `reverse`), contiguous result.
pub(crate) fn cumsum(
    x: &CudaStorage,
    layout: &Layout,
    dim: usize,
    reverse: bool,
) -> Result<CudaStorage> {
    let name = match x.dtype() {
        DType::F32 => "cumsum_f32",
        DType::F64 => "cumsum_f64",
        DType::I64 => "cumsum_i64",
        other => return Err(crate::Error::not_implemented_for("cumsum_cuda", other)),
    };
    let n = layout.numel();
    let dev = x.device();
    let out = CudaStorage::alloc(dev, x.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    let owned = contiguous_operand(x, layout)?;
    let (outer, c, inner) = around(layout.shape(), dim);
    let mut a = Args::new();
    a.ptr(owned.as_ref().unwrap_or(x).ptr())
        .ptr(out.ptr())
        .usize(outer)
        .usize(c)
        .usize(inner)
        .i32(reverse as i32);
    launch_grid(dev, name, outer * inner, &mut a)?;
    Ok(out)
}
