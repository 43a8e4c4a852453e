//! Host side of kernels/elementwise.cu: unary and binary maps, where, casts and strided copies,
//! fills, and moving tensors between the host and a device.

use std::sync::Arc;

use super::device::CudaDevice;
use super::launch::{grid_for, max_blocks, Args, Geo, Pod, BLOCK};
use super::nvrtc::ELEMENTWISE;
use super::rt::LaunchDims;
use super::storage::CudaStorage;
use crate::backend::{BinaryOp, UnaryOp};
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Device, Storage, StorageData};
use crate::tensor::{Layout, Scalar, Tensor};

/// Index of a dtype in kernel-name tables: f32, f64, i64, u8 (bool).
pub(crate) fn dtype_index(d: DType) -> usize {
    match d {
        DType::F32 => 0,
        DType::F64 => 1,
        DType::I64 => 2,
        DType::Bool => 3,
    }
}

/// `name_f32`, `name_f64`, `name_i64` or `name_u8`, and with `_w` for 64-bit indexing.
macro_rules! kname {
    ($prefix:literal, $dtype:expr, $wide:expr) => {{
        const N: [[&str; 2]; 4] = [
            [concat!($prefix, "_f32"), concat!($prefix, "_f32_w")],
            [concat!($prefix, "_f64"), concat!($prefix, "_f64_w")],
            [concat!($prefix, "_i64"), concat!($prefix, "_i64_w")],
            [concat!($prefix, "_u8"), concat!($prefix, "_u8_w")],
        ];
        N[$crate::backend::cuda::elementwise::dtype_index($dtype)][$wide as usize]
    }};
}

/// Launches a grid-stride kernel over `n` items (no launch when `n == 0`).
pub(crate) fn launch_1d(
    dev: &CudaDevice,
    src: &'static super::nvrtc::KernelSource,
    name: &'static str,
    n: usize,
    args: &mut Args,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let dims = LaunchDims {
        grid: [grid_for(n, BLOCK, max_blocks(dev.props().sm_count)), 1, 1],
        block: [BLOCK, 1, 1],
        smem: 0,
    };
    dev.launch(src, name, dims, args)
}

/// Parameters of a unary op (`UParams` in elementwise.cu).
#[repr(C)]
#[derive(Copy, Clone, Default)]
pub(crate) struct UParams {
    pub p0: f64,
    pub p1: f64,
    pub i0: i64,
    pub i1: i64,
    pub flags: i32,
    pub pad: i32,
}
// SAFETY: repr(C), numbers only, mirrors the C struct.
unsafe impl Pod for UParams {}

fn clamp_params(min: Option<f64>, max: Option<f64>) -> UParams {
    UParams {
        p0: min.unwrap_or(0.0),
        p1: max.unwrap_or(0.0),
        // Integer bounds as the CPU casts them (`as i64` saturates).
        i0: min.map_or(0, |v| v as i64),
        i1: max.map_or(0, |v| v as i64),
        flags: min.is_some() as i32 | ((max.is_some() as i32) << 1),
        pad: 0,
    }
}

/// The kernel's op code (`UnaryCode`) and parameters.
fn unary_code(op: UnaryOp) -> (i32, UParams) {
    let p = |p0: f64, p1: f64| UParams {
        p0,
        p1,
        ..Default::default()
    };
    let none = UParams::default();
    match op {
        UnaryOp::Neg => (0, none),
        UnaryOp::Abs => (1, none),
        UnaryOp::Sign => (2, none),
        UnaryOp::Square => (3, none),
        UnaryOp::Relu => (4, none),
        UnaryOp::Exp => (5, none),
        UnaryOp::Log => (6, none),
        UnaryOp::Sqrt => (7, none),
        UnaryOp::Rsqrt => (8, none),
        UnaryOp::Sin => (9, none),
        UnaryOp::Cos => (10, none),
        UnaryOp::Tanh => (11, none),
        UnaryOp::Sigmoid => (12, none),
        UnaryOp::Log1p => (13, none),
        UnaryOp::Expm1 => (14, none),
        UnaryOp::Reciprocal => (15, none),
        UnaryOp::Floor => (16, none),
        UnaryOp::Ceil => (17, none),
        UnaryOp::Round => (18, none),
        UnaryOp::Trunc => (19, none),
        UnaryOp::Gelu => (20, none),
        UnaryOp::GeluTanh => (21, none),
        UnaryOp::Silu => (22, none),
        UnaryOp::Erf => (23, none),
        UnaryOp::LeakyRelu(s) => (24, p(s, 0.0)),
        UnaryOp::Elu(a) => (25, p(a, 0.0)),
        UnaryOp::Softplus { beta, threshold } => (26, p(beta, threshold)),
        UnaryOp::PowScalar(e) => (27, p(e, 0.0)),
        UnaryOp::RPowScalar(b) => (28, p(b, 0.0)),
        UnaryOp::Clamp { min, max } => (29, clamp_params(min, max)),
        UnaryOp::LogicalNot => (30, none),
        UnaryOp::IsNan => (31, none),
    }
}

fn binary_code(op: BinaryOp) -> (i32, UParams) {
    let none = UParams::default();
    match op {
        BinaryOp::Add => (0, none),
        BinaryOp::Sub => (1, none),
        BinaryOp::Mul => (2, none),
        BinaryOp::Div => (3, none),
        BinaryOp::Pow => (4, none),
        BinaryOp::Maximum => (5, none),
        BinaryOp::Minimum => (6, none),
        BinaryOp::FloorDivide => (7, none),
        BinaryOp::Remainder => (8, none),
        BinaryOp::Eq => (9, none),
        BinaryOp::Ne => (10, none),
        BinaryOp::Lt => (11, none),
        BinaryOp::Le => (12, none),
        BinaryOp::Gt => (13, none),
        BinaryOp::Ge => (14, none),
        BinaryOp::LogicalAnd => (15, none),
        BinaryOp::LogicalOr => (16, none),
        BinaryOp::LogicalXor => (17, none),
        BinaryOp::ReluBackward => (18, none),
        BinaryOp::LeakyReluBackward(s) => (19, UParams { p0: s, ..none }),
        BinaryOp::SigmoidBackward => (20, none),
        BinaryOp::TanhBackward => (21, none),
        BinaryOp::GeluBackward => (22, none),
        BinaryOp::GeluTanhBackward => (23, none),
        BinaryOp::SiluBackward => (24, none),
        BinaryOp::ClampBackward { min, max } => (25, clamp_params(min, max)),
        BinaryOp::Fmod => (26, none),
    }
}

fn not_for(op: impl std::fmt::Debug, dtype: DType) -> Error {
    Error::not_implemented(format!(
        "\"{op:?}\" not implemented for '{}'",
        dtype.scalar_name()
    ))
}

/// The CPU kernels' dtype checks, with their messages.
fn check_unary(op: UnaryOp, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 => Ok(()),
        DType::I64 if op.integer_ok() => Ok(()),
        DType::Bool => match op {
            UnaryOp::LogicalNot
            | UnaryOp::IsNan
            | UnaryOp::Abs
            | UnaryOp::Relu
            | UnaryOp::Square
            | UnaryOp::Sign => Ok(()),
            UnaryOp::Neg => Err(Error::runtime(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.",
            )),
            other => Err(not_for(other, dtype)),
        },
        _ => Err(not_for(op, dtype)),
    }
}

fn check_binary(op: BinaryOp, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 => Ok(()),
        DType::I64 => match op {
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Maximum
            | BinaryOp::Minimum
            | BinaryOp::Pow
            | BinaryOp::FloorDivide
            | BinaryOp::Remainder
            | BinaryOp::Fmod => Ok(()),
            o if o.returns_bool() => Ok(()),
            other => Err(not_for(other, dtype)),
        },
        DType::Bool => match op {
            BinaryOp::Add
            | BinaryOp::LogicalOr
            | BinaryOp::Maximum
            | BinaryOp::Mul
            | BinaryOp::LogicalAnd
            | BinaryOp::Minimum
            | BinaryOp::LogicalXor
            | BinaryOp::Ne
            | BinaryOp::Eq
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => Ok(()),
            BinaryOp::Sub => Err(Error::runtime(
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.",
            )),
            other => Err(not_for(other, dtype)),
        },
    }
}

fn internal_mismatch(a: DType, b: DType) -> Error {
    Error::runtime(format!(
        "internal error: kernel operands of different dtypes ({a} and {b})"
    ))
}

fn same_device(a: &CudaStorage, b: &CudaStorage) -> Result<()> {
    if a.ordinal() != b.ordinal() {
        return Err(Error::runtime(format!(
            "Expected all tensors to be on the same device, but found at least two devices, cuda:{} and cuda:{}!",
            a.ordinal(),
            b.ordinal()
        )));
    }
    Ok(())
}

/// `op(x)` into a new contiguous storage.
pub(crate) fn unary(op: UnaryOp, x: &CudaStorage, layout: &Layout) -> Result<CudaStorage> {
    check_unary(op, x.dtype())?;
    let n = layout.numel();
    let dev = x.device();
    let out_dtype = if op.returns_bool() {
        DType::Bool
    } else {
        x.dtype()
    };
    let out = CudaStorage::alloc(dev, out_dtype, n)?;
    if n == 0 {
        return Ok(out);
    }
    let Some(g) = Geo::new(layout.shape(), &[layout]) else {
        let c = cast(x, layout, x.dtype())?;
        return unary(op, &c, &Layout::contiguous(layout.shape()));
    };
    let wide = !g.fits_u32();
    let (code, p) = unary_code(op);
    let mut a = Args::new();
    let name = if op.returns_bool() {
        a.i32(code).pod(&g).ptr(x.ptr()).ptr(out.ptr());
        kname!("ew_unary_test", x.dtype(), wide)
    } else {
        a.i32(code).pod(&p).pod(&g).ptr(x.ptr()).ptr(out.ptr());
        kname!("ew_unary", x.dtype(), wide)
    };
    launch_1d(dev, &ELEMENTWISE, name, n, &mut a)?;
    Ok(out)
}

/// `op(a, b)` with both broadcast to `shape`, into a new contiguous storage.
pub(crate) fn binary(
    op: BinaryOp,
    x: &CudaStorage,
    lx: &Layout,
    y: &CudaStorage,
    ly: &Layout,
    shape: &[usize],
) -> Result<CudaStorage> {
    if x.dtype() != y.dtype() {
        return Err(internal_mismatch(x.dtype(), y.dtype()));
    }
    same_device(x, y)?;
    let dtype = x.dtype();
    check_binary(op, dtype)?;
    let n: usize = shape.iter().product();
    let dev = x.device();
    let test = op.returns_bool() || dtype == DType::Bool;
    let out = CudaStorage::alloc(dev, if test { DType::Bool } else { dtype }, n)?;
    if n == 0 {
        return Ok(out);
    }
    let (bx, by) = (lx.broadcast_to(shape), ly.broadcast_to(shape));
    let Some(g) = Geo::new(shape, &[&bx, &by]) else {
        let cx = cast(x, &bx, dtype)?;
        let cy = cast(y, &by, dtype)?;
        let c = Layout::contiguous(shape);
        return binary(op, &cx, &c, &cy, &c, shape);
    };
    let wide = !g.fits_u32();
    let (code, p) = binary_code(op);
    let mut a = Args::new();
    let name = if test && dtype != DType::Bool {
        a.i32(code).pod(&g).ptr(x.ptr()).ptr(y.ptr()).ptr(out.ptr());
        kname!("ew_binary_test", dtype, wide)
    } else {
        a.i32(code)
            .pod(&p)
            .pod(&g)
            .ptr(x.ptr())
            .ptr(y.ptr())
            .ptr(out.ptr())
            .ptr(dev.status_ptr());
        kname!("ew_binary", dtype, wide)
    };
    launch_1d(dev, &ELEMENTWISE, name, n, &mut a)?;
    Ok(out)
}

/// `cond ? a : b` broadcast to `shape`.
pub(crate) fn where_(
    c: &CudaStorage,
    lc: &Layout,
    x: &CudaStorage,
    lx: &Layout,
    y: &CudaStorage,
    ly: &Layout,
    shape: &[usize],
) -> Result<CudaStorage> {
    if x.dtype() != y.dtype() {
        return Err(internal_mismatch(x.dtype(), y.dtype()));
    }
    if c.dtype() != DType::Bool {
        return Err(internal_mismatch(c.dtype(), DType::Bool));
    }
    same_device(c, x)?;
    same_device(x, y)?;
    let n: usize = shape.iter().product();
    let dev = x.device();
    let out = CudaStorage::alloc(dev, x.dtype(), n)?;
    if n == 0 {
        return Ok(out);
    }
    let (bc, bx, by) = (
        lc.broadcast_to(shape),
        lx.broadcast_to(shape),
        ly.broadcast_to(shape),
    );
    let Some(g) = Geo::new(shape, &[&bc, &bx, &by]) else {
        let cc = cast(c, &bc, DType::Bool)?;
        let cx = cast(x, &bx, x.dtype())?;
        let cy = cast(y, &by, y.dtype())?;
        let l = Layout::contiguous(shape);
        return where_(&cc, &l, &cx, &l, &cy, &l, shape);
    };
    let mut a = Args::new();
    a.pod(&g)
        .ptr(c.ptr())
        .ptr(x.ptr())
        .ptr(y.ptr())
        .ptr(out.ptr());
    launch_1d(
        dev,
        &ELEMENTWISE,
        kname!("ew_where", x.dtype(), !g.fits_u32()),
        n,
        &mut a,
    )?;
    Ok(out)
}

fn copy_name(src: DType, dst: DType, wide: bool) -> &'static str {
    macro_rules! row {
        ($s:literal) => {
            [
                [
                    concat!("ew_copy_", $s, "_f32"),
                    concat!("ew_copy_", $s, "_f32_w"),
                ],
                [
                    concat!("ew_copy_", $s, "_f64"),
                    concat!("ew_copy_", $s, "_f64_w"),
                ],
                [
                    concat!("ew_copy_", $s, "_i64"),
                    concat!("ew_copy_", $s, "_i64_w"),
                ],
                [
                    concat!("ew_copy_", $s, "_u8"),
                    concat!("ew_copy_", $s, "_u8_w"),
                ],
            ]
        };
    }
    const NAMES: [[[&str; 2]; 4]; 4] = [row!("f32"), row!("f64"), row!("i64"), row!("u8")];
    NAMES[dtype_index(src)][dtype_index(dst)][wide as usize]
}

/// `dst[dl] = convert(src[sl])` for two strided views of one shape (dst not self-overlapping).
pub(crate) fn copy_strided(
    dst: &CudaStorage,
    dl: &Layout,
    src: &CudaStorage,
    sl: &Layout,
) -> Result<()> {
    same_device(dst, src)?;
    let n = dl.numel();
    if n == 0 {
        return Ok(());
    }
    let dev = dst.device();
    if dst.dtype() == src.dtype() {
        if let (Some(rd), Some(rs)) = (dl.contiguous_range(), sl.contiguous_range()) {
            if sl.shape() == dl.shape() {
                let es = dst.dtype().size_in_bytes();
                return dev.dtod(dst.ptr_at(rd.start), src.ptr_at(rs.start), n * es);
            }
        }
    }
    match Geo::new(dl.shape(), &[dl, sl]) {
        Some(g) => {
            let mut a = Args::new();
            a.pod(&g).ptr(src.ptr()).ptr(dst.ptr());
            launch_1d(
                dev,
                &ELEMENTWISE,
                copy_name(src.dtype(), dst.dtype(), !g.fits_u32()),
                n,
                &mut a,
            )
        }
        None => {
            // More than eight dims that do not merge: one launch per index of the first dim.
            for i in 0..dl.shape()[0] {
                copy_strided(dst, &dl.select(0, i), src, &sl.select(0, i))?;
            }
            Ok(())
        }
    }
}

/// A contiguous copy of a strided view, converted to `dtype`.
pub(crate) fn cast(x: &CudaStorage, layout: &Layout, dtype: DType) -> Result<CudaStorage> {
    let n = layout.numel();
    let out = CudaStorage::alloc(x.device(), dtype, n)?;
    copy_strided(&out, &Layout::contiguous(layout.shape()), x, layout)?;
    Ok(out)
}

/// Writes `src` (already broadcast to `dl`'s shape) into the strided destination.
pub(crate) fn copy_into(
    dst: &mut CudaStorage,
    dl: &Layout,
    src: &CudaStorage,
    sl: &Layout,
) -> Result<()> {
    copy_strided(dst, dl, src, sl)
}

/// Fills a strided view with one value.
pub(crate) fn fill(dst: &mut CudaStorage, layout: &Layout, value: Scalar) -> Result<()> {
    fill_view(dst, layout, value)
}

fn fill_view(dst: &CudaStorage, layout: &Layout, value: Scalar) -> Result<()> {
    let n = layout.numel();
    if n == 0 {
        return Ok(());
    }
    let dev = dst.device();
    let dtype = dst.dtype();
    let zero = match dtype {
        DType::F32 => value.cast::<f32>().to_bits() == 0,
        DType::F64 => value.cast::<f64>().to_bits() == 0,
        DType::I64 => value.cast::<i64>() == 0,
        DType::Bool => value.cast::<u8>() == 0,
    };
    if zero {
        if let Some(r) = layout.contiguous_range() {
            return dev.memset(dst.ptr_at(r.start), 0, n * dtype.size_in_bytes());
        }
    }
    let Some(g) = Geo::new(layout.shape(), &[layout]) else {
        for i in 0..layout.shape()[0] {
            fill_view(dst, &layout.select(0, i), value)?;
        }
        return Ok(());
    };
    let mut a = Args::new();
    a.pod(&g);
    match dtype {
        DType::F32 => a.f32(value.cast::<f32>()),
        DType::F64 => a.f64(value.cast::<f64>()),
        DType::I64 => a.i64(value.cast::<i64>()),
        DType::Bool => a.i32(value.cast::<u8>() as i32),
    };
    a.ptr(dst.ptr());
    launch_1d(
        dev,
        &ELEMENTWISE,
        kname!("ew_fill", dtype, !g.fits_u32()),
        n,
        &mut a,
    )
}

/// The CUDA device of `device`, opened on first use (a clear error when CUDA cannot be used).
pub(crate) fn device_of(device: Device) -> Result<Arc<CudaDevice>> {
    match device {
        Device::Cuda(i) => super::device::get(i),
        Device::Cpu => Err(Error::runtime("internal error: expected a CUDA device")),
    }
}

/// Uploads contiguous host elements into a new device storage.
pub(crate) fn upload<T: CpuElement>(dev: &Arc<CudaDevice>, data: &[T]) -> Result<CudaStorage> {
    let s = CudaStorage::alloc(dev, T::DTYPE, data.len())?;
    // SAFETY: plain elements viewed as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(data.as_ptr() as *const u8, std::mem::size_of_val(data))
    };
    if !bytes.is_empty() {
        dev.htod(s.buffer(), bytes)?;
    }
    Ok(s)
}

/// A copy of `x` on `device` (host to device, device to host, or between devices).
pub(crate) fn transfer(x: &Tensor, device: Device) -> Result<Tensor> {
    if let (Device::Cuda(a), Device::Cuda(b)) = (x.device(), device) {
        if a != b {
            // Between devices through the host (peer copies are not worth it for this rare case).
            let host = transfer(x, Device::Cpu)?;
            return transfer(&host, device);
        }
    }
    let body = x.body();
    let shape = body.layout.shape().to_vec();
    let data = body.storage.read();
    match (&*data, device) {
        (StorageData::Cpu(c), Device::Cuda(_)) => {
            let dev = device_of(device)?;
            let s = crate::with_dtype!(c.dtype(), T => {
                let all = c.slice::<T>()?;
                match body.layout.contiguous_range() {
                    Some(r) => upload(&dev, &all[r])?,
                    None => {
                        let v: Vec<T> = crate::tensor::layout::StridedOffsets::new(&body.layout).map(|o| all[o]).collect();
                        upload(&dev, &v)?
                    }
                }
            });
            Ok(Tensor::from_storage(
                Storage::new(StorageData::Cuda(s)),
                &shape,
            ))
        }
        (StorageData::Cuda(g), Device::Cpu) => {
            let contiguous;
            let (src, start) = match body.layout.contiguous_range() {
                Some(r) => (g, r.start),
                None => {
                    contiguous = cast(g, &body.layout, g.dtype())?;
                    (&contiguous, 0)
                }
            };
            let n = body.layout.numel();
            let cpu = crate::with_dtype!(g.dtype(), T => {
                let mut buf = Buffer::<T>::uninit(n)?;
                download(src, start, buf.as_mut_slice())?;
                T::wrap(buf)
            });
            Ok(Tensor::from_storage(Storage::cpu(cpu), &shape))
        }
        (StorageData::Cuda(g), Device::Cuda(_)) => {
            let out = cast(g, &body.layout, g.dtype())?;
            Ok(Tensor::from_storage(
                Storage::new(StorageData::Cuda(out)),
                &shape,
            ))
        }
        (StorageData::Cpu(_), Device::Cpu) => Ok(x.clone()),
    }
}

/// Copies `out.len()` elements starting at element `start` of `src` to the host (synchronising).
pub(crate) fn download<T: CpuElement>(
    src: &CudaStorage,
    start: usize,
    out: &mut [T],
) -> Result<()> {
    if out.is_empty() {
        return src.device().synchronize();
    }
    // SAFETY: plain elements viewed as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u8, std::mem::size_of_val(out))
    };
    src.device().dtoh(bytes, src.ptr_at(start))
}

/// Reads a small contiguous device storage into a Vec (a synchronising call).
#[allow(dead_code)]
pub(crate) fn to_host_vec<T: CpuElement>(src: &CudaStorage) -> Result<Vec<T>> {
    let mut v = vec![T::default(); src.len()];
    download(src, 0, &mut v)?;
    Ok(v)
}

/// The CPU storage of a host tensor (helper for rare host-side fallbacks).
#[allow(dead_code)]
pub(crate) fn cpu_of(t: &Tensor) -> Result<CpuStorage> {
    let h = transfer(t, Device::Cpu)?;
    let body = h.body();
    let data = body.storage.read();
    let c = data.as_cpu()?;
    Ok(crate::with_dtype!(c.dtype(), T => T::wrap(Buffer::from_slice(c.slice::<T>()?)?)))
}
