//! Ops: one file per family. An op checks its arguments, computes its output shape and dtype, runs
//! the kernel through `crate::backend`, and records its backward rule, all in one place.
//!
//! Backward rules are written with tensor ops, so gradients of gradients (create_graph) come for
//! free. Where a fused kernel is faster, a rule uses it when no graph is being recorded
//! (`is_grad_enabled()` is false during an ordinary backward) and the composite form otherwise.

pub mod binary;
pub mod index;
pub mod inplace;
pub mod matmul;
pub mod nn;
pub mod reduce;
pub mod shape;
pub mod unary;

use crate::error::{Error, Result};
use crate::storage::{Category, DType, Device};
use crate::tensor::{Scalar, Tensor};

/// A binary op's operand: a tensor or a Python-style number.
#[derive(Clone, Copy)]
pub enum Operand<'a> {
    Tensor(&'a Tensor),
    Scalar(Scalar),
}

impl<'a> From<&'a Tensor> for Operand<'a> {
    fn from(t: &'a Tensor) -> Self {
        Operand::Tensor(t)
    }
}

/// PyTorch's result type: dimensioned tensors outrank zero-dim tensors, which outrank Python
/// numbers, except that an operand of a higher category (bool < integer < float) promotes.
pub fn result_type(operands: &[Operand<'_>]) -> DType {
    let (mut dim, mut zero, mut wrapped): (Option<DType>, Option<DType>, Option<DType>) =
        (None, None, None);
    let promote = |acc: Option<DType>, d: DType| Some(acc.map_or(d, |a| a.promote(d)));
    for op in operands {
        match op {
            Operand::Tensor(t) if t.ndim() > 0 => dim = promote(dim, t.dtype()),
            Operand::Tensor(t) => zero = promote(zero, t.dtype()),
            Operand::Scalar(s) => wrapped = promote(wrapped, s.default_dtype()),
        }
    }
    fn combine(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
        match (higher, lower) {
            (Some(h), _) if h.is_floating_point() => Some(h),
            (Some(h), Some(l)) if h == DType::Bool || l.is_floating_point() => Some(h.promote(l)),
            (None, Some(l)) => Some(l),
            (h, _) => h,
        }
    }
    combine(dim, combine(zero, wrapped)).unwrap_or_else(DType::default_float)
}

/// The common device of `tensors`, with PyTorch's message when they differ.
pub fn common_device(tensors: &[&Tensor]) -> Result<Device> {
    let first = tensors.first().map(|t| t.device()).unwrap_or(Device::Cpu);
    for t in &tensors[1..] {
        let d = t.device();
        if d != first {
            return Err(Error::device_mismatch(first, d));
        }
    }
    Ok(first)
}

/// True when a value of `from` may be written into a tensor of `to` (PyTorch's `canCast`).
pub fn can_cast(from: DType, to: DType) -> bool {
    from.category() <= to.category()
}

/// The input made into a tensor of `dtype` on `device`.
pub(crate) fn operand_tensor(op: Operand<'_>, dtype: DType, device: Device) -> Result<Tensor> {
    match op {
        Operand::Tensor(t) if t.dtype() == dtype => Ok(t.clone()),
        Operand::Tensor(t) => t.to_dtype(dtype),
        Operand::Scalar(s) => Tensor::scalar(s, dtype, device),
    }
}

/// Float dtype for ops that only make sense on floats (integers become the default float).
pub(crate) fn float_dtype(dtype: DType) -> DType {
    if dtype.category() == Category::Floating {
        dtype
    } else {
        DType::default_float()
    }
}

impl Tensor {
    /// Sums a gradient down to `shape` (the inverse of broadcasting `shape` up to this shape).
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor> {
        let own = self.shape();
        if own.as_slice() == shape {
            return Ok(self.clone());
        }
        let lead = own.len().checked_sub(shape.len()).ok_or_else(|| {
            Error::runtime(format!(
                "sum_to: cannot reduce {} to {}",
                crate::error::fmt_shape(&own),
                crate::error::fmt_shape(shape)
            ))
        })?;
        let mut dims: Vec<i64> = (0..lead as i64).collect();
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && own[lead + i] != 1 {
                dims.push((lead + i) as i64);
            }
        }
        let summed = if dims.is_empty() {
            self.clone()
        } else {
            self.sum_dims(&dims, true)?
        };
        summed.reshape(&shape.iter().map(|&d| d as i64).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_pytorch() {
        let i = Tensor::from_slice(&[1i64, 2], &[2]).unwrap();
        let f = Tensor::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
        let d0 = Tensor::scalar(1.0, DType::F64, Device::Cpu).unwrap();
        let b = Tensor::from_slice(&[1u8, 0], &[2]).unwrap();
        assert_eq!(
            result_type(&[(&i).into(), Operand::Scalar(Scalar::Float(2.5))]),
            DType::F32
        );
        assert_eq!(result_type(&[(&f).into(), (&d0).into()]), DType::F32);
        assert_eq!(result_type(&[(&i).into(), (&d0).into()]), DType::F64);
        assert_eq!(
            result_type(&[(&b).into(), Operand::Scalar(Scalar::Int(2))]),
            DType::I64
        );
        assert_eq!(
            result_type(&[(&i).into(), Operand::Scalar(Scalar::Bool(true))]),
            DType::I64
        );
        assert_eq!(result_type(&[(&i).into(), (&f).into()]), DType::F32);
    }
}
