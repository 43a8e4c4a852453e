//! Host side of kernels/pool.cu: max pooling with indices, average pooling over window tables,
//! and nearest / bilinear resampling over tap tables.

use super::launch::{float_kernel, launch_1d, Args, Pod, Window};
use super::nvrtc::POOL;
use super::storage::{upload, CudaStorage, Dv};
use crate::backend::geometry::{AvgGeom, MaxPoolGeom, ResampleGeom};
use crate::error::Result;
use crate::storage::DType;

/// `PoolGeo` in pool.cu.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
struct PoolGeo {
    planes: i64,
    h: i64,
    w: i64,
    oh: i64,
    ow: i64,
    kh: i64,
    kw: i64,
    win: Window,
}
// SAFETY: repr(C), integers only (`Window` is repr(C) i64s, so no padding).
unsafe impl Pod for PoolGeo {}
const _: () = assert!(std::mem::size_of::<PoolGeo>() == 13 * 8);

fn max_geo(g: &MaxPoolGeom) -> PoolGeo {
    PoolGeo {
        planes: g.planes as i64,
        h: g.h as i64,
        w: g.w as i64,
        oh: g.oh as i64,
        ow: g.ow as i64,
        kh: g.kernel[0] as i64,
        kw: g.kernel[1] as i64,
        win: Window::new(g.stride, g.pad, g.dilation),
    }
}

/// Max pooling of contiguous planes: (values, int64 indices within each plane).
pub(crate) fn max_pool2d_forward(x: Dv<'_>, g: &MaxPoolGeom) -> Result<(CudaStorage, CudaStorage)> {
    let dev = x.s.device();
    let name = float_kernel(
        ["max_pool_fwd_f32", "max_pool_fwd_f64"],
        x.s.dtype(),
        "max_pool2d",
    )?;
    let n = g.planes * g.oh * g.ow;
    let out = CudaStorage::alloc(dev, x.s.dtype(), n)?;
    let idx = CudaStorage::alloc(dev, DType::I64, n)?;
    let mut a = Args::new();
    a.pod(&max_geo(g))
        .ptr(x.ptr())
        .ptr(out.ptr())
        .ptr(idx.ptr());
    launch_1d(dev, &POOL, name, n, &mut a)?;
    Ok((out, idx))
}

/// Gradient of max pooling: each output gradient added at its argmax.
pub(crate) fn max_pool2d_backward(gy: Dv<'_>, idx: Dv<'_>, g: &MaxPoolGeom) -> Result<CudaStorage> {
    let dev = gy.s.device();
    let name = float_kernel(
        ["max_pool_bwd_f32", "max_pool_bwd_f64"],
        gy.s.dtype(),
        "max_pool2d_backward",
    )?;
    let dx = CudaStorage::zeros(dev, gy.s.dtype(), g.planes * g.h * g.w)?;
    let mut a = Args::new();
    a.pod(&max_geo(g))
        .ptr(gy.ptr())
        .ptr(idx.ptr())
        .ptr(dx.ptr());
    launch_1d(dev, &POOL, name, g.planes * g.oh * g.ow, &mut a)?;
    Ok(dx)
}

/// The geometry of a table-driven kernel (average pooling, resampling): `planes` of `h x w` to
/// `oh x ow`, the window read from tables rather than from `kh, kw` and `Window`.
fn table_geo(planes: usize, (h, w): (usize, usize), (oh, ow): (usize, usize)) -> PoolGeo {
    PoolGeo {
        planes: planes as i64,
        h: h as i64,
        w: w as i64,
        oh: oh as i64,
        ow: ow as i64,
        ..Default::default()
    }
}

/// Items a table-driven kernel runs over (one per output element of the forward), and its result:
/// uninitialised for the forward, zeros (which it adds into) for the adjoint.
fn table_out(x: Dv<'_>, pg: &PoolGeo, forward: bool) -> Result<(usize, CudaStorage)> {
    let (dev, dtype) = (x.s.device(), x.s.dtype());
    let n_fwd = (pg.planes * pg.oh * pg.ow) as usize;
    let out = if forward {
        CudaStorage::alloc(dev, dtype, n_fwd)?
    } else {
        CudaStorage::zeros(dev, dtype, (pg.planes * pg.h * pg.w) as usize)?
    };
    Ok((n_fwd, out))
}

/// The window table (rows then cols; start, end, count) on the device.
fn windows(dev: &std::sync::Arc<super::device::CudaDevice>, g: &AvgGeom) -> Result<CudaStorage> {
    let table: Vec<i64> = g
        .rows
        .iter()
        .chain(&g.cols)
        .flat_map(|w| [w.start as i64, w.end as i64, w.count as i64])
        .collect();
    upload(dev, &table)
}

/// Average pooling forward (`forward`) or its adjoint.
pub(crate) fn avg_pool2d(x: Dv<'_>, g: &AvgGeom, forward: bool) -> Result<CudaStorage> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let name = if forward {
        float_kernel(
            ["avg_pool_fwd_f32", "avg_pool_fwd_f64"],
            dtype,
            "avg_pool2d_out_frame",
        )?
    } else {
        float_kernel(
            ["avg_pool_bwd_f32", "avg_pool_bwd_f64"],
            dtype,
            "avg_pool2d_backward_out_frame",
        )?
    };
    let pg = table_geo(g.planes, (g.h, g.w), (g.rows.len(), g.cols.len()));
    let (n, out) = table_out(x, &pg, forward)?;
    let win = windows(dev, g)?;
    let mut a = Args::new();
    a.pod(&pg)
        .ptr(win.ptr())
        .f64(g.divisor.unwrap_or(0.0))
        .ptr(x.ptr())
        .ptr(out.ptr());
    launch_1d(dev, &POOL, name, n, &mut a)?;
    Ok(out)
}

/// Resampling forward (`forward`) or its adjoint.
pub(crate) fn resample(x: Dv<'_>, g: &ResampleGeom, forward: bool) -> Result<CudaStorage> {
    let dev = x.s.device();
    let dtype = x.s.dtype();
    let name = if forward {
        float_kernel(
            ["resample_fwd_f32", "resample_fwd_f64"],
            dtype,
            "upsample_bilinear2d_out_frame",
        )?
    } else {
        float_kernel(
            ["resample_bwd_f32", "resample_bwd_f64"],
            dtype,
            "upsample_bilinear2d_backward_out_frame",
        )?
    };
    let pg = table_geo(g.planes, (g.h, g.w), (g.rows.len(), g.cols.len()));
    let (n, out) = table_out(x, &pg, forward)?;
    let taps: Vec<f64> = g
        .rows
        .iter()
        .chain(&g.cols)
        .flat_map(|t| [t.i0 as f64, t.i1 as f64, t.l0, t.l1])
        .collect();
    let taps = upload(dev, &taps)?;
    let mut a = Args::new();
    a.pod(&pg)
        .ptr(taps.ptr())
        .i32(g.nearest as i32)
        .ptr(x.ptr())
        .ptr(out.ptr());
    launch_1d(dev, &POOL, name, n, &mut a)?;
    Ok(out)
}
