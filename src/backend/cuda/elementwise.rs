//! Host side of kernels/elementwise.cu: unary and binary maps, where, casts and strided copies,
//! fills, and moving tensors between the host and a device.
//!
//! The unary and binary kernels take an op code: the position of the op's name (`U_EXPM1`) in the
//! table of src/backend/cuda/op_codes.rs, from which the kernels' enums are also generated.

use super::launch::{dtype_index, launch_1d, op_code, pick_wide, Args, Geo, PerDtypeWide, Pod};
use super::nvrtc::ELEMENTWISE;
use super::storage::CudaStorage;
use crate::backend::{BinaryOp, UnaryOp};
use crate::error::{Error, Result};
use crate::storage::{DType, Device};
use crate::tensor::{Layout, Scalar};

// Kept at its old path for the callers outside the CUDA backend.

const UNARY: PerDtypeWide = [
    ["ew_unary_f32", "ew_unary_f32_w"],
    ["ew_unary_f64", "ew_unary_f64_w"],
    ["ew_unary_i64", "ew_unary_i64_w"],
    ["ew_unary_u8", "ew_unary_u8_w"],
];
const UNARY_TEST: PerDtypeWide = [
    ["ew_unary_test_f32", "ew_unary_test_f32_w"],
    ["ew_unary_test_f64", "ew_unary_test_f64_w"],
    ["ew_unary_test_i64", "ew_unary_test_i64_w"],
    ["ew_unary_test_u8", "ew_unary_test_u8_w"],
];
const BINARY: PerDtypeWide = [
    ["ew_binary_f32", "ew_binary_f32_w"],
    ["ew_binary_f64", "ew_binary_f64_w"],
    ["ew_binary_i64", "ew_binary_i64_w"],
    ["ew_binary_u8", "ew_binary_u8_w"],
];
/// Comparisons and logical ops into bool; none for bool operands, which `ew_binary_u8` serves.
const BINARY_TEST: PerDtypeWide = [
    ["ew_binary_test_f32", "ew_binary_test_f32_w"],
    ["ew_binary_test_f64", "ew_binary_test_f64_w"],
    ["ew_binary_test_i64", "ew_binary_test_i64_w"],
    ["", ""],
];
const WHERE: PerDtypeWide = [
    ["ew_where_f32", "ew_where_f32_w"],
    ["ew_where_f64", "ew_where_f64_w"],
    ["ew_where_i64", "ew_where_i64_w"],
    ["ew_where_u8", "ew_where_u8_w"],
];
const FILL: PerDtypeWide = [
    ["ew_fill_f32", "ew_fill_f32_w"],
    ["ew_fill_f64", "ew_fill_f64_w"],
    ["ew_fill_i64", "ew_fill_i64_w"],
    ["ew_fill_u8", "ew_fill_u8_w"],
];
/// `ew_copy_<source>_<destination>`, by source dtype.
const COPY: [PerDtypeWide; 4] = [
    [
        ["ew_copy_f32_f32", "ew_copy_f32_f32_w"],
        ["ew_copy_f32_f64", "ew_copy_f32_f64_w"],
        ["ew_copy_f32_i64", "ew_copy_f32_i64_w"],
        ["ew_copy_f32_u8", "ew_copy_f32_u8_w"],
    ],
    [
        ["ew_copy_f64_f32", "ew_copy_f64_f32_w"],
        ["ew_copy_f64_f64", "ew_copy_f64_f64_w"],
        ["ew_copy_f64_i64", "ew_copy_f64_i64_w"],
        ["ew_copy_f64_u8", "ew_copy_f64_u8_w"],
    ],
    [
        ["ew_copy_i64_f32", "ew_copy_i64_f32_w"],
        ["ew_copy_i64_f64", "ew_copy_i64_f64_w"],
        ["ew_copy_i64_i64", "ew_copy_i64_i64_w"],
        ["ew_copy_i64_u8", "ew_copy_i64_u8_w"],
    ],
    [
        ["ew_copy_u8_f32", "ew_copy_u8_f32_w"],
        ["ew_copy_u8_f64", "ew_copy_u8_f64_w"],
        ["ew_copy_u8_i64", "ew_copy_u8_i64_w"],
        ["ew_copy_u8_u8", "ew_copy_u8_u8_w"],
    ],
];

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

/// The kernel's op code (the op's position in the unary-op table) and parameters.
pub(super) fn unary_code(op: UnaryOp) -> (i32, UParams) {
    let p = |p0: f64, p1: f64| UParams {
        p0,
        p1,
        ..Default::default()
    };
    let params = match op {
        UnaryOp::LeakyRelu(s) => p(s, 0.0),
        UnaryOp::Elu(a) => p(a, 0.0),
        UnaryOp::Softplus { beta, threshold } => p(beta, threshold),
        UnaryOp::PowScalar(e) => p(e, 0.0),
        UnaryOp::RPowScalar(b) => p(b, 0.0),
        UnaryOp::Clamp { min, max } => clamp_params(min, max),
        UnaryOp::Polygamma(n) => p(n as f64, 0.0),
        _ => UParams::default(),
    };
    (op.code(), params)
}

/// The kernel's op code (`BinaryCode`, by name) and parameters.
pub(super) fn binary_code(op: BinaryOp) -> (i32, UParams) {
    let none = UParams::default();
    match op {
        BinaryOp::Add => (op_code!(BINARY, "B_ADD"), none),
        BinaryOp::Sub => (op_code!(BINARY, "B_SUB"), none),
        BinaryOp::Mul => (op_code!(BINARY, "B_MUL"), none),
        BinaryOp::Div => (op_code!(BINARY, "B_DIV"), none),
        BinaryOp::Pow => (op_code!(BINARY, "B_POW"), none),
        BinaryOp::Maximum => (op_code!(BINARY, "B_MAXIMUM"), none),
        BinaryOp::Minimum => (op_code!(BINARY, "B_MINIMUM"), none),
        BinaryOp::FloorDivide => (op_code!(BINARY, "B_FLOOR_DIVIDE"), none),
        BinaryOp::Remainder => (op_code!(BINARY, "B_REMAINDER"), none),
        BinaryOp::Eq => (op_code!(BINARY, "B_EQ"), none),
        BinaryOp::Ne => (op_code!(BINARY, "B_NE"), none),
        BinaryOp::Lt => (op_code!(BINARY, "B_LT"), none),
        BinaryOp::Le => (op_code!(BINARY, "B_LE"), none),
        BinaryOp::Gt => (op_code!(BINARY, "B_GT"), none),
        BinaryOp::Ge => (op_code!(BINARY, "B_GE"), none),
        BinaryOp::LogicalAnd => (op_code!(BINARY, "B_LOGICAL_AND"), none),
        BinaryOp::LogicalOr => (op_code!(BINARY, "B_LOGICAL_OR"), none),
        BinaryOp::LogicalXor => (op_code!(BINARY, "B_LOGICAL_XOR"), none),
        BinaryOp::ReluBackward => (op_code!(BINARY, "B_RELU_BACKWARD"), none),
        BinaryOp::LeakyReluBackward(s) => (
            op_code!(BINARY, "B_LEAKY_RELU_BACKWARD"),
            UParams { p0: s, ..none },
        ),
        BinaryOp::SigmoidBackward => (op_code!(BINARY, "B_SIGMOID_BACKWARD"), none),
        BinaryOp::TanhBackward => (op_code!(BINARY, "B_TANH_BACKWARD"), none),
        BinaryOp::GeluBackward => (op_code!(BINARY, "B_GELU_BACKWARD"), none),
        BinaryOp::GeluTanhBackward => (op_code!(BINARY, "B_GELU_TANH_BACKWARD"), none),
        BinaryOp::SiluBackward => (op_code!(BINARY, "B_SILU_BACKWARD"), none),
        BinaryOp::ClampBackward { min, max } => {
            (op_code!(BINARY, "B_CLAMP_BACKWARD"), clamp_params(min, max))
        }
        BinaryOp::Fmod => (op_code!(BINARY, "B_FMOD"), none),
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
        other => Err(storage_dtype_here(other)),
    }
}

/// A storage dtype reached a computing kernel (the seam widens them first).
fn storage_dtype_here(dtype: DType) -> Error {
    Error::internal(format!("a CUDA kernel was given {dtype} data"))
}

/// Copies and fills of the storage dtypes have no CUDA kernels yet.
fn check_memory_dtype(dtype: DType) -> Result<()> {
    if dtype.is_storage_only() {
        return Err(Error::not_implemented(format!(
            "{dtype} tensors on CUDA: converting or filling them is not implemented yet"
        )));
    }
    Ok(())
}

fn internal_mismatch(a: DType, b: DType) -> Error {
    Error::internal(format!("kernel operands of different dtypes ({a} and {b})"))
}

fn same_device(a: &CudaStorage, b: &CudaStorage) -> Result<()> {
    if a.ordinal() != b.ordinal() {
        return Err(Error::device_mismatch(
            Device::Cuda(a.ordinal()),
            Device::Cuda(b.ordinal()),
        ));
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
        pick_wide(&UNARY_TEST, x.dtype(), wide)
    } else {
        a.i32(code).pod(&p).pod(&g).ptr(x.ptr()).ptr(out.ptr());
        pick_wide(&UNARY, x.dtype(), wide)
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
        pick_wide(&BINARY_TEST, dtype, wide)
    } else {
        a.i32(code)
            .pod(&p)
            .pod(&g)
            .ptr(x.ptr())
            .ptr(y.ptr())
            .ptr(out.ptr())
            .ptr(dev.status_ptr());
        pick_wide(&BINARY, dtype, wide)
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
        pick_wide(&WHERE, x.dtype(), !g.fits_u32()),
        n,
        &mut a,
    )?;
    Ok(out)
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
    check_memory_dtype(dst.dtype())?;
    check_memory_dtype(src.dtype())?;
    match Geo::new(dl.shape(), &[dl, sl]) {
        Some(g) => {
            let mut a = Args::new();
            a.pod(&g).ptr(src.ptr()).ptr(dst.ptr());
            launch_1d(
                dev,
                &ELEMENTWISE,
                pick_wide(&COPY[dtype_index(src.dtype())], dst.dtype(), !g.fits_u32()),
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
    check_memory_dtype(dtype)?;
    let zero = match dtype {
        DType::F32 => value.cast::<f32>().to_bits() == 0,
        DType::F64 => value.cast::<f64>().to_bits() == 0,
        DType::I64 => value.cast::<i64>() == 0,
        _ => value.cast::<u8>() == 0,
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
        _ => a.i32(value.cast::<u8>() as i32),
    };
    a.ptr(dst.ptr());
    launch_1d(
        dev,
        &ELEMENTWISE,
        pick_wide(&FILL, dtype, !g.fits_u32()),
        n,
        &mut a,
    )
}
