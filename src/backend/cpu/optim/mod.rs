//! The fused optimizer updates on the CPU: one pass over each parameter and its state, the
//! element loops instantiated per option set so that each is branch-free and vectorizes.

pub(super) mod adam;
pub(super) mod sgd;

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, Float};
use crate::tensor::layout::StridedOffsets;
use crate::tensor::Layout;

/// Casts an `f64` hyper-parameter to the element type, as PyTorch casts Python scalars to the
/// tensor's compute type.
#[inline]
fn scalar<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

/// A contiguous view of a strided operand to compute on: the operand's own elements when it is
/// contiguous, else a gathered copy that [`Work::finish`] scatters back.
enum Work<'a, T: CpuElement> {
    Direct(&'a mut [T]),
    Gathered {
        copy: Buffer<T>,
        dst: &'a mut [T],
        layout: Layout,
    },
}

impl<'a, T: CpuElement> Work<'a, T> {
    pub fn new(storage: &'a mut [T], layout: &Layout) -> Result<Self> {
        match layout.contiguous_range() {
            Some(r) => Ok(Work::Direct(&mut storage[r])),
            None => {
                let copy = Buffer::from_iter_exact(
                    layout.numel(),
                    StridedOffsets::new(layout).map(|o| storage[o]),
                )?;
                Ok(Work::Gathered {
                    copy,
                    dst: storage,
                    layout: layout.clone(),
                })
            }
        }
    }

    pub fn slice(&mut self) -> &mut [T] {
        match self {
            Work::Direct(s) => s,
            Work::Gathered { copy, .. } => copy.as_mut_slice(),
        }
    }

    /// Writes a gathered copy back into the strided operand.
    pub fn finish(self) {
        if let Work::Gathered { copy, dst, layout } = self {
            for (o, &v) in StridedOffsets::new(&layout).zip(copy.as_slice()) {
                dst[o] = v;
            }
        }
    }
}

/// A gradient's elements in row-major order: borrowed when contiguous, else gathered.
fn read_contiguous<'a, T: CpuElement>(storage: &'a [T], layout: &Layout) -> Result<Cow<'a, [T]>> {
    match layout.contiguous_range() {
        Some(r) => Ok(Cow::Borrowed(&storage[r])),
        None => {
            let mut v = Vec::new();
            v.try_reserve_exact(layout.numel()).map_err(|_| {
                Error::out_of_memory(layout.numel() * T::DTYPE.size_in_bytes(), "CPU")
            })?;
            v.extend(StridedOffsets::new(layout).map(|o| storage[o]));
            Ok(Cow::Owned(v))
        }
    }
}
