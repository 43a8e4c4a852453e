//! Host side of kernels/index.cu: index_select, index_add, gather, scatter (add), and advanced
//! indexing in leading form, all reading int64 positions on the device.

use super::device::CudaDevice;
use super::launch::{dtype_index, launch_1d, Args, PerDtype, Pod, MAX_DIMS};
use super::nvrtc::INDEX;
use super::storage::{CudaStorage, Dv};
use crate::error::{Error, Result};
use crate::tensor::Layout;

const INDEX_SELECT: PerDtype = [
    "index_select_f32",
    "index_select_f64",
    "index_select_i64",
    "index_select_u8",
];
const INDEX_ADD: PerDtype = [
    "index_add_f32",
    "index_add_f64",
    "index_add_i64",
    "index_add_u8",
];
const GATHER: PerDtype = ["gather_f32", "gather_f64", "gather_i64", "gather_u8"];
const SCATTER_SET: PerDtype = [
    "scatter_set_f32",
    "scatter_set_f64",
    "scatter_set_i64",
    "scatter_set_u8",
];
const SCATTER_ADD: PerDtype = [
    "scatter_add_f32",
    "scatter_add_f64",
    "scatter_add_i64",
    "scatter_add_u8",
];
const INDEX_LEAD: PerDtype = [
    "index_lead_f32",
    "index_lead_f64",
    "index_lead_i64",
    "index_lead_u8",
];
const INDEX_PUT_LEAD_SET: PerDtype = [
    "index_put_lead_set_f32",
    "index_put_lead_set_f64",
    "index_put_lead_set_i64",
    "index_put_lead_set_u8",
];
const INDEX_PUT_LEAD_ADD: PerDtype = [
    "index_put_lead_add_f32",
    "index_put_lead_add_f64",
    "index_put_lead_add_i64",
    "index_put_lead_add_u8",
];

/// Launches `name` over `n` items with the arguments every kernel in index.cu takes:
/// `(geometry, source, int64 positions, destination, status)`.
fn launch_index<G: Pod>(
    dev: &CudaDevice,
    name: &'static str,
    g: &G,
    src: u64,
    idx: u64,
    out: u64,
    n: usize,
) -> Result<()> {
    let mut a = Args::new();
    a.pod(g).ptr(src).ptr(idx).ptr(out).ptr(dev.status_ptr());
    launch_1d(dev, &INDEX, name, n, &mut a)
}

/// `DimGeo` in index.cu.
#[repr(C)]
#[derive(Copy, Clone)]
struct DimGeo {
    outer: i64,
    size: i64,
    inner: i64,
    count: i64,
    dim: i64,
}
// SAFETY: repr(C), integers only.
unsafe impl Pod for DimGeo {}

fn dim_geo(shape: &[usize], dim: usize, count: usize) -> DimGeo {
    DimGeo {
        outer: shape[..dim].iter().product::<usize>() as i64,
        size: shape[dim] as i64,
        inner: shape[dim + 1..].iter().product::<usize>() as i64,
        count: count as i64,
        dim: dim as i64,
    }
}

/// `src` (contiguous, `shape`) with rows `idx` (contiguous int64, `count`) picked along `dim`.
pub(crate) fn index_select(
    src: Dv<'_>,
    shape: &[usize],
    dim: usize,
    idx: Dv<'_>,
    count: usize,
) -> Result<CudaStorage> {
    let dev = src.s.device();
    let g = dim_geo(shape, dim, count);
    let n = (g.outer * g.count * g.inner) as usize;
    let out = CudaStorage::alloc(dev, src.s.dtype(), n)?;
    let name = INDEX_SELECT[dtype_index(src.s.dtype())];
    launch_index(dev, name, &g, src.ptr(), idx.ptr(), out.ptr(), n)?;
    Ok(out)
}

/// Adds `src` (contiguous, `shape` with `count` along `dim`) into `out` (contiguous, `shape` with
/// `size` along `dim`) at rows `idx`.
pub(crate) fn index_add(
    out: &CudaStorage,
    out_shape: &[usize],
    dim: usize,
    idx: Dv<'_>,
    src: Dv<'_>,
    count: usize,
) -> Result<()> {
    let dev = out.device();
    let g = dim_geo(out_shape, dim, count);
    let n = (g.outer * g.count * g.inner) as usize;
    let name = INDEX_ADD[dtype_index(out.dtype())];
    launch_index(dev, name, &g, src.ptr(), idx.ptr(), out.ptr(), n)
}

/// `GatherGeo` in index.cu.
#[repr(C)]
#[derive(Copy, Clone)]
struct GatherGeo {
    ndim: i32,
    dim: i32,
    n: i64,
    size: i64,
    ishape: [i64; MAX_DIMS],
    self_st: [i64; MAX_DIMS],
    src_st: [i64; MAX_DIMS],
    src_off: i64,
}
// SAFETY: repr(C), integers only.
unsafe impl Pod for GatherGeo {}

fn gather_geo(
    self_shape: &[usize],
    dim: usize,
    ishape: &[usize],
    src: Option<&Layout>,
) -> Result<GatherGeo> {
    let nd = ishape.len();
    if nd > MAX_DIMS {
        return Err(Error::not_implemented(format!(
            "gather/scatter on CUDA supports at most {MAX_DIMS} dims"
        )));
    }
    let own = crate::tensor::contiguous_strides(self_shape);
    let mut g = GatherGeo {
        ndim: nd as i32,
        dim: dim as i32,
        n: ishape.iter().product::<usize>() as i64,
        size: self_shape.get(dim).copied().unwrap_or(1) as i64,
        ishape: [1; MAX_DIMS],
        self_st: [0; MAX_DIMS],
        src_st: [0; MAX_DIMS],
        src_off: src.map_or(0, |l| l.offset() as i64),
    };
    for (d, &len) in ishape.iter().enumerate().take(nd) {
        g.ishape[d] = len as i64;
        g.self_st[d] = own.get(d).copied().unwrap_or(0) as i64;
        if let Some(l) = src {
            g.src_st[d] = l.strides()[d] as i64;
        }
    }
    Ok(g)
}

/// `out[e] = self[coords(e) with dim replaced by idx[e]]` over the index's shape.
pub(crate) fn gather(
    slf: Dv<'_>,
    self_shape: &[usize],
    dim: usize,
    idx: Dv<'_>,
    ishape: &[usize],
) -> Result<CudaStorage> {
    let dev = slf.s.device();
    let g = gather_geo(self_shape, dim, ishape, None)?;
    let n = g.n as usize;
    let out = CudaStorage::alloc(dev, slf.s.dtype(), n)?;
    let name = GATHER[dtype_index(slf.s.dtype())];
    launch_index(dev, name, &g, slf.ptr(), idx.ptr(), out.ptr(), n)?;
    Ok(out)
}

/// Writes (or adds) `src` (strided, `sl`) into `out` (contiguous, `out_shape`) at `idx` along `dim`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scatter(
    out: &CudaStorage,
    out_shape: &[usize],
    dim: usize,
    idx: Dv<'_>,
    ishape: &[usize],
    src: &CudaStorage,
    sl: &Layout,
    accumulate: bool,
) -> Result<()> {
    let dev = out.device();
    let g = gather_geo(out_shape, dim, ishape, Some(sl))?;
    let name = if accumulate {
        SCATTER_ADD[dtype_index(out.dtype())]
    } else {
        SCATTER_SET[dtype_index(out.dtype())]
    };
    let n = g.n as usize;
    launch_index(dev, name, &g, src.ptr(), idx.ptr(), out.ptr(), n)
}

/// `LeadGeo` in index.cu.
#[repr(C)]
#[derive(Copy, Clone)]
struct LeadGeo {
    k: i32,
    rdim: i32,
    n: i64,
    rest: i64,
    lsize: [i64; MAX_DIMS],
    lst: [i64; MAX_DIMS],
    ldim: [i64; MAX_DIMS],
    rshape: [i64; MAX_DIMS],
    rst: [i64; MAX_DIMS],
    off: i64,
    vst_lead: i64,
    vrst: [i64; MAX_DIMS],
    voff: i64,
}
// SAFETY: repr(C), integers only.
unsafe impl Pod for LeadGeo {}

fn lead_geo(layout: &Layout, k: usize, n: usize, dims: &[usize]) -> Result<LeadGeo> {
    let nd = layout.ndim();
    let rest_dims = nd - k;
    if k > MAX_DIMS || rest_dims > MAX_DIMS {
        return Err(Error::not_implemented(format!(
            "advanced indexing on CUDA supports at most {MAX_DIMS} indexed and {MAX_DIMS} other dims"
        )));
    }
    let mut g = LeadGeo {
        k: k as i32,
        rdim: rest_dims as i32,
        n: n as i64,
        rest: layout.shape()[k..].iter().product::<usize>() as i64,
        lsize: [1; MAX_DIMS],
        lst: [0; MAX_DIMS],
        ldim: [0; MAX_DIMS],
        rshape: [1; MAX_DIMS],
        rst: [0; MAX_DIMS],
        off: layout.offset() as i64,
        vst_lead: 0,
        vrst: [0; MAX_DIMS],
        voff: 0,
    };
    for d in 0..k {
        g.lsize[d] = layout.shape()[d] as i64;
        g.lst[d] = layout.strides()[d] as i64;
        g.ldim[d] = dims.get(d).copied().unwrap_or(d) as i64;
    }
    for d in 0..rest_dims {
        g.rshape[d] = layout.shape()[k + d] as i64;
        g.rst[d] = layout.strides()[k + d] as i64;
    }
    Ok(g)
}

/// `src[pos[0][j], ..., pos[k-1][j], rest...]` for src in leading form (strided `sl`); `pos` is
/// `[k, n]` contiguous int64; `dims` are the indexed dims of the original tensor (for messages).
pub(crate) fn index_lead(
    src: &CudaStorage,
    sl: &Layout,
    pos: Dv<'_>,
    k: usize,
    n: usize,
    dims: &[usize],
) -> Result<CudaStorage> {
    let dev = src.device();
    let g = lead_geo(sl, k, n, dims)?;
    let total = n * g.rest as usize;
    let out = CudaStorage::alloc(dev, src.dtype(), total)?;
    let name = INDEX_LEAD[dtype_index(src.dtype())];
    launch_index(dev, name, &g, src.ptr(), pos.ptr(), out.ptr(), total)?;
    Ok(out)
}

/// Writes (or adds) `values` (strided `vl`, shape `[n, rest...]`) into `out` (a contiguous copy
/// of the destination in leading form, `shape`) at `pos`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn index_put_lead(
    out: &CudaStorage,
    shape: &[usize],
    pos: Dv<'_>,
    k: usize,
    n: usize,
    values: &CudaStorage,
    vl: &Layout,
    accumulate: bool,
    dims: &[usize],
) -> Result<()> {
    let dev = out.device();
    let mut g = lead_geo(&Layout::contiguous(shape), k, n, dims)?;
    let vk = vl.ndim() - (shape.len() - k);
    // values: [bcast..., rest...] with the bcast block flattened to n (it is contiguous in j only
    // when its strides merge; otherwise copy it first).
    let bshape: Vec<usize> = vl.shape()[..vk].to_vec();
    let bst: Vec<usize> = vl.strides()[..vk].to_vec();
    let merged = crate::tensor::layout::coalesce(&bshape, &[&bst]);
    let vst_lead = match merged {
        Some((s, st)) if s.len() <= 1 => st[0].first().copied().unwrap_or(0),
        None => 0,
        _ => {
            let c = super::elementwise::cast(values, vl, values.dtype())?;
            return index_put_lead(
                out,
                shape,
                pos,
                k,
                n,
                &c,
                &Layout::contiguous(vl.shape()),
                accumulate,
                dims,
            );
        }
    };
    g.vst_lead = vst_lead as i64;
    g.voff = vl.offset() as i64;
    for d in 0..(shape.len() - k) {
        g.vrst[d] = vl.strides()[vk + d] as i64;
    }
    let name = if accumulate {
        INDEX_PUT_LEAD_ADD[dtype_index(out.dtype())]
    } else {
        INDEX_PUT_LEAD_SET[dtype_index(out.dtype())]
    };
    let total = n * g.rest as usize;
    launch_index(dev, name, &g, values.ptr(), pos.ptr(), out.ptr(), total)
}
