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
pub mod sgd;

use std::sync::Arc;

use parking_lot::{RwLockReadGuard, RwLockWriteGuard};

pub use adam::{adam_step, Adam, AdamOptions};
pub use sgd::{sgd_step, Sgd, SgdOptions};

use crate::error::{fmt_shape, Error, Result};
use crate::storage::{Storage, StorageData};
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

/// Checks common to every optimizer: one gradient per parameter, float parameters, and
/// gradients of the parameter's shape, dtype and device.
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
        return Err(Error::device_mismatch(p.device(), t.device()));
    }
    Ok(())
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

    /// The storages one update writes (distinct, in the order given) and the one it reads.
    pub fn operands(
        &mut self,
        written: &[&Operand],
        read: &Operand,
    ) -> Result<(Vec<&mut StorageData>, &StorageData)> {
        let mut slots: Vec<Option<&mut StorageData>> = written.iter().map(|_| None).collect();
        for (key, guard) in self.write_keys.iter().zip(self.write.iter_mut()) {
            if let Some(j) = written.iter().position(|o| o.key() == *key) {
                slots[j] = Some(&mut **guard);
            }
        }
        let written = slots
            .into_iter()
            .map(|s| {
                s.ok_or_else(|| Error::internal("an optimizer step wrote an unlocked storage"))
            })
            .collect::<Result<Vec<_>>>()?;
        let i = self
            .read_keys
            .binary_search(&read.key())
            .map_err(|_| Error::internal("an optimizer step read an unlocked storage"))?;
        Ok((written, &self.read[i]))
    }
}

/// An update's operand missing from its locks (a broken invariant).
fn missing() -> Error {
    Error::internal("an optimizer update lost one of its operands")
}

/// Bumps the version counter of every written storage (autograd sees the in-place update).
pub(crate) fn bump_versions(storages: &[Arc<Storage>]) {
    for s in storages {
        s.bump_version();
    }
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
