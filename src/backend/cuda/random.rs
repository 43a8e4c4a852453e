//! Host side of kernels/random.cu: random fills on the device with the CPU's Philox counters.

use super::device::device_of;
use super::launch::{launch_1d, Args};
use super::nvrtc::RANDOM;
use super::storage::{tensor, CudaStorage};
use crate::error::{Error, Result};
use crate::storage::{DType, Device};
use crate::tensor::Tensor;

/// What to draw.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Draw {
    Uniform,
    Normal,
    /// Integers in `low..low + range`.
    Int {
        low: i64,
        range: u64,
    },
    /// Dropout's scaled keep mask.
    Dropout {
        p: f64,
        scale: f64,
    },
}

/// Words of randomness per value, as the CPU draws them (the counters reserved are the same).
pub(crate) fn words_per_value(draw: Draw, dtype: DType) -> usize {
    match (draw, dtype) {
        (Draw::Uniform, DType::F64) => 2,
        (Draw::Uniform, _) => 1,
        (Draw::Normal, DType::F64) => 4,
        (Draw::Normal, _) => 2,
        (Draw::Int { .. }, _) => 2,
        (Draw::Dropout { .. }, _) => 1,
    }
}

/// A new device tensor of `shape` filled from the stream `(key, start)` (counters reserved by the
/// caller for `numel * words_per_value` words).
pub(crate) fn fill(
    shape: &[usize],
    dtype: DType,
    device: Device,
    draw: Draw,
    key: u64,
    start: u64,
) -> Result<Tensor> {
    let dev = device_of(device)?;
    let n = crate::tensor::layout::checked_numel(shape)?;
    let out_dtype = match draw {
        Draw::Int { .. } => DType::I64,
        _ => dtype,
    };
    let s = CudaStorage::alloc(&dev, out_dtype, n)?;
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
    launch_1d(&dev, &RANDOM, name, n, &mut a)?;
    Ok(tensor(s, shape))
}
