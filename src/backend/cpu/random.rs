//! Random fills on the CPU: values drawn from the Philox stream (crate::tensor::random), element
//! `i` from the words its counter gives it, so every backend draws the same numbers.

use crate::backend::kinds::Draw;
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, CpuStorage, DType, Element};
use crate::tensor::random::{box_muller, philox4x32, uniform_f32, uniform_f64};

/// `len` values of `draw` from the stream `key`, counters from `start` on (`words_per_value`
/// words per value). Integers are int64.
pub fn draw(len: usize, dtype: DType, draw: Draw, key: u64, start: u64) -> Result<CpuStorage> {
    let words = draw.words_per_value(dtype);
    match (draw, dtype) {
        (Draw::Uniform, DType::F32) => filled(len, key, start, words, |w| uniform_f32(w[0])),
        (Draw::Uniform, DType::F64) => filled(len, key, start, words, |w| uniform_f64(w[0], w[1])),
        (Draw::Normal, DType::F32) => filled(len, key, start, words, |w| {
            box_muller(uniform_f32(w[0]) as f64, uniform_f32(w[1]) as f64) as f32
        }),
        (Draw::Normal, DType::F64) => filled(len, key, start, words, |w| {
            box_muller(uniform_f64(w[0], w[1]), uniform_f64(w[2], w[3]))
        }),
        (Draw::Uniform | Draw::Normal, other) => Err(Error::internal(format!(
            "a {other} tensor cannot hold floating-point draws"
        ))),
        (Draw::Int { low, range }, _) => filled(len, key, start, words, |w| {
            let r = ((w[0] as u64) << 32 | w[1] as u64) % range;
            (low as i128 + r as i128) as i64
        }),
        (Draw::Dropout { p, scale }, _) => crate::with_dtype!(dtype, T => {
            filled(len, key, start, words, |w| {
                if (uniform_f32(w[0]) as f64) < p { T::zero() } else { T::from_f64(scale) }
            })
        }),
    }
}

/// A new buffer of `len` values `f(words of value i)`.
fn filled<T: CpuElement>(
    len: usize,
    key: u64,
    start: u64,
    words_per_value: usize,
    f: impl Fn(&[u32]) -> T + Sync,
) -> Result<CpuStorage> {
    let mut buf = Buffer::<T>::uninit(len)?;
    fill_from_stream(key, start, buf.as_mut_slice(), words_per_value, f);
    Ok(T::wrap(buf))
}

/// Fills `out[i]` with `f(words of element i)`, element i using counter `start + i / per_block`
/// and words `(i % per_block) * words_per_value ..` of that block. Runs in parallel on big outputs.
fn fill_from_stream<T: Send>(
    key: u64,
    start: u64,
    out: &mut [T],
    words_per_value: usize,
    f: impl Fn(&[u32]) -> T + Sync,
) {
    let per_block = 4 / words_per_value;
    let chunk_values = 4096 * per_block;
    let fill = |first: usize, chunk: &mut [T]| {
        for (j, slot) in chunk.iter_mut().enumerate() {
            let i = first + j;
            let block = philox4x32(key, start.wrapping_add((i / per_block) as u64));
            let w = (i % per_block) * words_per_value;
            *slot = f(&block[w..w + words_per_value]);
        }
    };
    if out.len() > 1 << 16 {
        super::threads::par_chunks_mut(out, chunk_values, fill);
    } else {
        fill(0, out);
    }
}
