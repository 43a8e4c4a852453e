//! Optimizers: fused, in-place parameter updates with PyTorch's exact formulas.
//!
//! One call updates every parameter of a group: [`sgd_step`] and [`adam_step`] are what the Python
//! optimizers (`rustgrad.optim.SGD`, `Adam`, `AdamW`) call once per group, and [`Sgd`] / [`Adam`]
//! are optimizer objects for Rust users. Updates record no autograd history and bump the version
//! counters of what they write, as PyTorch's in-place updates under `no_grad` do.
//!
//! Concurrency: a step writes each parameter and its state under its storage's write lock. All
//! written storages are locked first, in one fixed order (by address), and only then are the
//! gradients' storages read-locked, so a step never holds a read lock while it waits for a write
//! lock. A gradient that shares storage with something the step writes is copied before any lock
//! is taken (as `backend::copy_into` copies an aliasing source).

pub mod adam;
#[cfg(feature = "cuda")]
mod cuda;
pub mod sgd;

use std::sync::Arc;

use parking_lot::{RwLockReadGuard, RwLockWriteGuard};

pub use adam::{adam_step, Adam, AdamOptions};
pub use sgd::{sgd_step, Sgd, SgdOptions};

use crate::error::{fmt_shape, Error, Result};
use crate::storage::{Buffer, CpuElement, Device, Float, Storage, StorageData};
use crate::tensor::layout::StridedOffsets;
use crate::tensor::{Layout, Tensor};

/// A tensor's storage and layout, captured once so that a step sees one consistent view.
#[derive(Clone)]
pub(crate) struct Operand {
    pub storage: Arc<Storage>,
    pub layout: Layout,
}

impl Operand {
    pub fn of(t: &Tensor) -> Operand {
        let body = t.body();
        Operand {
            storage: body.storage,
            layout: body.layout,
        }
    }
    fn key(&self) -> usize {
        Arc::as_ptr(&self.storage) as usize
    }
}

/// Checks common to every optimizer: one gradient per parameter, float CPU parameters, and
/// gradients of the parameter's shape and dtype.
pub(crate) fn check_params(who: &str, params: &[Tensor], grads: &[Tensor]) -> Result<()> {
    if params.len() != grads.len() {
        return Err(Error::runtime(format!(
            "{who}: expected one gradient per parameter, got {} parameters and {} gradients",
            params.len(),
            grads.len()
        )));
    }
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        let dtype = p.dtype();
        if !dtype.is_floating_point() {
            return Err(Error::runtime(format!(
                "{who}: parameter {i} has dtype {dtype}; only floating-point parameters can be optimized"
            )));
        }
        check_cpu(who, p)?;
        check_like(who, "gradient", i, p, g)?;
        check_writable(who, "parameter", i, &p.layout())?;
    }
    Ok(())
}

/// Checks of an optimizer object's parameter list (PyTorch's messages where it has them).
pub(crate) fn check_new_params(params: &[Tensor]) -> Result<()> {
    if params.is_empty() {
        return Err(Error::value("optimizer got an empty parameter list"));
    }
    for (i, p) in params.iter().enumerate() {
        if !p.is_leaf() && !p.retains_grad() {
            return Err(Error::value("can't optimize a non-leaf Tensor"));
        }
        if !p.dtype().is_floating_point() {
            return Err(Error::value(format!(
                "parameter {i} has dtype {}; only floating-point tensors can be optimized",
                p.dtype()
            )));
        }
    }
    Ok(())
}

/// A state tensor (or gradient) must match its parameter's shape, dtype and device.
pub(crate) fn check_like(who: &str, what: &str, i: usize, p: &Tensor, t: &Tensor) -> Result<()> {
    let (ps, ts) = (p.shape(), t.shape());
    if ps != ts {
        return Err(Error::runtime(format!(
            "{who}: {what} of parameter {i} has shape {} but the parameter has shape {}",
            fmt_shape(&ts),
            fmt_shape(&ps)
        )));
    }
    if p.dtype() != t.dtype() {
        return Err(Error::runtime(format!(
            "{who}: {what} of parameter {i} has dtype {} but the parameter has dtype {}",
            t.dtype(),
            p.dtype()
        )));
    }
    if p.device() != t.device() {
        return Err(Error::runtime(format!(
            "Expected all tensors to be on the same device, but found at least two devices, {} and {}!",
            p.device(),
            t.device()
        )));
    }
    Ok(())
}

fn check_cpu(who: &str, p: &Tensor) -> Result<()> {
    match p.device() {
        Device::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => Ok(()),
        #[allow(unreachable_patterns)]
        d => Err(Error::not_implemented(format!(
            "{who}: the fused update has no kernel for {d} tensors"
        ))),
    }
}

/// A written tensor must not have two elements on one memory location (an expanded view).
pub(crate) fn check_writable(who: &str, what: &str, i: usize, layout: &Layout) -> Result<()> {
    let overlap = layout
        .shape()
        .iter()
        .zip(layout.strides())
        .any(|(&d, &s)| d > 1 && s == 0);
    if overlap {
        return Err(Error::runtime(format!(
            "{who}: {what} {i} has more than one element referring to a single memory location; clone() it first"
        )));
    }
    Ok(())
}

/// The tensors one parameter's update writes must be distinct storages (a parameter and its own
/// state cannot alias; separate parameters may share a storage and are updated one after the other).
pub(crate) fn check_distinct(who: &str, i: usize, written: &[&Operand]) -> Result<()> {
    for (a, x) in written.iter().enumerate() {
        for y in &written[a + 1..] {
            if x.key() == y.key() {
                return Err(Error::runtime(format!(
                    "{who}: the state of parameter {i} shares memory with the parameter or with another of its state tensors; give each its own storage (clone())"
                )));
            }
        }
    }
    Ok(())
}

/// Gradients as the step reads them: a copy where the gradient shares storage with anything the
/// step writes, so reading it never overlaps a write and never needs a lock we already hold.
pub(crate) fn readable_grads(grads: &[Tensor], written: &[Operand]) -> Result<Vec<Operand>> {
    let mut keys: Vec<usize> = written.iter().map(Operand::key).collect();
    keys.sort_unstable();
    grads
        .iter()
        .map(|g| {
            let op = Operand::of(g);
            if keys.binary_search(&op.key()).is_ok() {
                Ok(Operand::of(&crate::backend::cast(g, g.dtype())?))
            } else {
                Ok(op)
            }
        })
        .collect()
}

/// The storages of a step, locked: writes first (sorted by address), then reads (sorted).
pub(crate) struct Locks<'a> {
    write_keys: Vec<usize>,
    write: Vec<RwLockWriteGuard<'a, StorageData>>,
    read_keys: Vec<usize>,
    read: Vec<RwLockReadGuard<'a, StorageData>>,
}

/// Distinct storages in address order.
pub(crate) fn sorted_storages<'a>(ops: impl Iterator<Item = &'a Operand>) -> Vec<Arc<Storage>> {
    let mut v: Vec<Arc<Storage>> = ops.map(|o| o.storage.clone()).collect();
    v.sort_unstable_by_key(|s| Arc::as_ptr(s) as usize);
    v.dedup_by_key(|s| Arc::as_ptr(s) as usize);
    v
}

impl<'a> Locks<'a> {
    /// Takes every write lock, then every read lock; `write` and `read` are disjoint and sorted.
    pub fn acquire(write: &'a [Arc<Storage>], read: &'a [Arc<Storage>]) -> Locks<'a> {
        let write_keys = write.iter().map(|s| Arc::as_ptr(s) as usize).collect();
        let write_guards = write.iter().map(|s| s.write()).collect();
        let read_keys = read.iter().map(|s| Arc::as_ptr(s) as usize).collect();
        let read_guards = read.iter().map(|s| s.read()).collect();
        Locks {
            write_keys,
            write: write_guards,
            read_keys,
            read: read_guards,
        }
    }

    /// The whole buffer of a write-locked storage, mutably.
    ///
    /// # Safety
    /// The caller must not hold another slice of the same storage while this one lives.
    // A mutable slice from `&self` is the point: the write guards give exclusive access to
    // distinct storages, and a step needs a parameter and its state mutably at once.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut<'s, T: CpuElement>(&'s self, op: &Operand) -> Result<&'s mut [T]> {
        let i = self
            .write_keys
            .binary_search(&op.key())
            .map_err(|_| internal("storage not write-locked"))?;
        let data: &StorageData = &self.write[i];
        let s = data.as_cpu()?.slice::<T>()?;
        // SAFETY: the write guard gives this step exclusive access to the storage; the caller
        // promises not to alias the slice, and the slice cannot outlive the guard (it borrows self).
        Ok(unsafe { std::slice::from_raw_parts_mut(s.as_ptr() as *mut T, s.len()) })
    }

    /// The device storage of a write-locked storage.
    #[cfg(feature = "cuda")]
    pub fn cuda_write(&self, op: &Operand) -> Result<&crate::backend::cuda::CudaStorage> {
        let i = self
            .write_keys
            .binary_search(&op.key())
            .map_err(|_| internal("storage not write-locked"))?;
        match &*self.write[i] {
            StorageData::Cuda(s) => Ok(s),
            StorageData::Cpu(_) => Err(internal("expected a CUDA storage")),
        }
    }

    /// The device storage of a read-locked storage.
    #[cfg(feature = "cuda")]
    pub fn cuda_read(&self, op: &Operand) -> Result<&crate::backend::cuda::CudaStorage> {
        let i = self
            .read_keys
            .binary_search(&op.key())
            .map_err(|_| internal("storage not read-locked"))?;
        match &*self.read[i] {
            StorageData::Cuda(s) => Ok(s),
            StorageData::Cpu(_) => Err(internal("expected a CUDA storage")),
        }
    }

    /// The whole buffer of a read-locked storage.
    pub fn slice<T: CpuElement>(&self, op: &Operand) -> Result<&[T]> {
        let i = self
            .read_keys
            .binary_search(&op.key())
            .map_err(|_| internal("storage not read-locked"))?;
        self.read[i].as_cpu()?.slice::<T>()
    }
}

fn internal(what: &str) -> Error {
    Error::runtime(format!("internal error in the optimizer step: {what}"))
}

/// A contiguous view of a strided operand to compute on: the operand's own elements when it is
/// contiguous, else a gathered copy that [`Work::finish`] scatters back.
pub(crate) enum Work<'a, T: CpuElement> {
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
pub(crate) fn read_contiguous<'a, T: CpuElement>(
    storage: &'a [T],
    layout: &Layout,
) -> Result<std::borrow::Cow<'a, [T]>> {
    match layout.contiguous_range() {
        Some(r) => Ok(std::borrow::Cow::Borrowed(&storage[r])),
        None => {
            let mut v = Vec::new();
            v.try_reserve_exact(layout.numel()).map_err(|_| {
                Error::out_of_memory(layout.numel() * T::DTYPE.size_in_bytes(), "CPU")
            })?;
            v.extend(StridedOffsets::new(layout).map(|o| storage[o]));
            Ok(std::borrow::Cow::Owned(v))
        }
    }
}

/// Bumps the version counter of every written storage (autograd sees the in-place update).
pub(crate) fn bump_versions(storages: &[Arc<Storage>]) {
    for s in storages {
        s.bump_version();
    }
}

/// Casts an `f64` hyper-parameter to the element type, as PyTorch casts Python scalars to the
/// tensor's compute type.
#[inline]
pub(crate) fn scalar<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

/// Formats a float as Python's `repr` does (`0.1`, `1.0`, `1e-08`), so that messages from Rust
/// read like PyTorch's.
pub(crate) fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::py_float;

    #[test]
    fn floats_print_as_python_does() {
        for (v, s) in [
            (0.1, "0.1"),
            (-0.1, "-0.1"),
            (1.0, "1.0"),
            (1e-8, "1e-08"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (0.999, "0.999"),
        ] {
            assert_eq!(py_float(v), s);
        }
    }
}
