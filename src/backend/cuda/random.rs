//! Host side of kernels/random.cu: random fills on the device with the CPU's Philox counters.

use std::sync::Arc;

use super::device::CudaDevice;
use super::launch::{launch_1d, Args};
use super::nvrtc::RANDOM;
use super::storage::CudaStorage;
use crate::backend::Draw;
use crate::error::{Error, Result};
use crate::storage::DType;

/// `n` values filled from the stream `(key, start)` (counters reserved by the caller for
/// `n * draw.words_per_value(dtype)` words).
pub(crate) fn fill(
    dev: &Arc<CudaDevice>,
    n: usize,
    dtype: DType,
    draw: Draw,
    key: u64,
    start: u64,
) -> Result<CudaStorage> {
    let out_dtype = match draw {
        Draw::Int { .. } => DType::I64,
        _ => dtype,
    };
    let s = CudaStorage::alloc(dev, out_dtype, n)?;
    let mut a = Args::new();
    a.u64(key).u64(start).usize(n);
    let name = match (draw, out_dtype) {
        (Draw::Uniform, DType::F32) => "rand_uniform_f32",
        (Draw::Uniform, DType::F64) => "rand_uniform_f64",
        (Draw::Normal, DType::F32) => "rand_normal_f32",
        (Draw::Normal, DType::F64) => "rand_normal_f64",
        (Draw::Int { low, range }, _) => {
            a.i64(low).u64(range);
            "rand_int_i64"
        }
        (Draw::Dropout { p, scale }, DType::F32) => {
            a.f64(p).f64(scale);
            "dropout_mask_f32"
        }
        (Draw::Dropout { p, scale }, DType::F64) => {
            a.f64(p).f64(scale);
            "dropout_mask_f64"
        }
        (_, other) => {
            return Err(Error::not_implemented(format!(
                "\"check_uniform_bounds\" not implemented for '{}'",
                other.scalar_name()
            )))
        }
    };
    a.ptr(s.ptr());
    launch_1d(dev, &RANDOM, name, n, &mut a)?;
    Ok(s)
}
