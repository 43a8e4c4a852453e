//! In-place ops (add_, mul_, copy_, zero_, ...) and how they rewrite autograd history.
//!
//! An in-place op computes its result out of place, writes it into the tensor's storage (bumping
//! the version counter that saved tensors check) and, when autograd is recording, makes the
//! tensor's `grad_fn` the node of that result. While recording, the op reads a copy of the old
//! value, so a backward rule that needs it (mul_ needs it for the other operand) still has it.
//!
//! When the tensor is a view of a base that takes part in autograd, the base's history is rewritten
//! too: a `CopySlices` node routes the base's gradient around the written region and through it.

use crate::autograd::{grad0, is_grad_enabled, record};
use crate::backend::{self, BinaryOp, UnaryOp};
use crate::error::{ensure, fmt_shape, Error, Result};
use crate::ops::{binary::binary_op, can_cast, result_type, unary::unary_op, Operand};
use crate::tensor::layout::{Dims, Layout};
use crate::tensor::{Scalar, Tensor};

impl Tensor {
    /// Errors PyTorch raises before any in-place write under grad mode.
    fn check_inplace(&self) -> Result<()> {
        if !is_grad_enabled() {
            return Ok(());
        }
        if self.is_leaf() && self.requires_grad() {
            return Err(Error::runtime(
                "a leaf Variable that requires grad is being used in an in-place operation.",
            ));
        }
        if let Some(base) = self.view_base() {
            if base.is_leaf() && base.requires_grad() {
                return Err(Error::runtime(
                    "a view of a leaf Variable that requires grad is being used in an in-place operation.",
                ));
            }
        }
        Ok(())
    }

    /// Replaces this tensor's value by `compute(old value)`, in place, with autograd history.
    /// `others` are the other tensors `compute` reads (to know whether to record).
    pub(crate) fn apply_inplace(
        &self,
        others: &[&Tensor],
        compute: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<()> {
        self.check_inplace()?;
        let base_tracked = self.view_base().is_some_and(|b| b.requires_grad());
        let track = is_grad_enabled()
            && (self.requires_grad() || base_tracked || others.iter().any(|t| t.requires_grad()));
        let source = if track { self.copy()? } else { self.clone() };
        let result = compute(&source)?;
        let (own, got) = (self.shape(), result.shape());
        ensure!(
            own == got,
            Error::runtime(format!(
                "output with shape {} doesn't match the broadcast shape {}",
                fmt_shape(&own),
                fmt_shape(&got)
            ))
        );
        ensure!(
            can_cast(result.dtype(), self.dtype()),
            Error::runtime(format!(
                "result type {} can't be cast to the desired output type {}",
                result.dtype().scalar_name(),
                self.dtype().scalar_name()
            ))
        );
        check_no_internal_overlap(&self.layout())?;
        crate::autograd::no_grad(|| backend::copy_into(self, &result))?;
        if track && result.requires_grad() {
            self.adopt_history(&result)?;
        }
        Ok(())
    }

    /// After this tensor's data was overwritten with `result`'s value: makes `result`'s history
    /// this tensor's (through `CopySlices` on the base when this tensor is a view).
    pub(crate) fn adopt_history(&self, result: &Tensor) -> Result<()> {
        match self.view_base() {
            Some(base) => self.rebase_view_history(base, result),
            None => {
                let result = if result.dtype() == self.dtype() {
                    result.clone()
                } else {
                    result.to_dtype(self.dtype())?
                };
                if let Some(node) = result.grad_fn() {
                    self.set_grad_fn(node, result.output_nr());
                }
                Ok(())
            }
        }
    }

    /// Marks this tensor's data as changed in place (a custom Function's `ctx.mark_dirty`).
    pub fn bump_version(&self) {
        self.storage().bump_version();
    }

    /// After writing `value` into this view of `base`: `base` gets a CopySlices node and this view
    /// becomes a view of the new `base`.
    fn rebase_view_history(&self, base: &Tensor, value: &Tensor) -> Result<()> {
        let base_layout = base.layout();
        ensure!(
            base_layout.is_contiguous(),
            Error::not_implemented("in-place operations on views of non-contiguous tensors are not supported by autograd")
        );
        let view = self.layout();
        let rel = Layout::from_parts(
            view.dims().clone(),
            Dims::from_slice(view.strides()),
            view.offset() - base_layout.offset(),
        );
        let base_shape = base.shape();
        let region = rel.clone();
        record(
            "CopySlices",
            &[base, value],
            &[base],
            Vec::new,
            move |_, grads| {
                let g = grad0(grads)?;
                let in_region = g.gather_view(&region)?;
                let g_base = g.sub(&in_region.scatter_view(&base_shape, &region)?)?;
                Ok(vec![Some(g_base), Some(in_region)])
            },
        )?;
        let shape = base.shape();
        record(
            "AsStridedBackward0",
            &[base],
            &[self],
            Vec::new,
            move |_, grads| Ok(vec![Some(grad0(grads)?.scatter_view(&shape, &rel)?)]),
        )
    }

    fn binary_inplace(&self, op: BinaryOp, other: Operand<'_>) -> Result<()> {
        let others: Vec<&Tensor> = match other {
            Operand::Tensor(t) => vec![t],
            Operand::Scalar(_) => vec![],
        };
        // The result dtype must fit in self (PyTorch refuses int_tensor.add_(1.5)).
        let rt = result_type(&[Operand::Tensor(self), other]);
        let rt = if op == BinaryOp::Div && !rt.is_floating_point() {
            crate::DType::default_float()
        } else {
            rt
        };
        ensure!(
            can_cast(rt, self.dtype()),
            Error::runtime(format!(
                "result type {} can't be cast to the desired output type {}",
                rt.scalar_name(),
                self.dtype().scalar_name()
            ))
        );
        self.apply_inplace(&others, |old| binary_op(op, Operand::Tensor(old), other))
    }

    /// `self += other`.
    pub fn add_(&self, other: &Tensor) -> Result<()> {
        self.binary_inplace(BinaryOp::Add, Operand::Tensor(other))
    }
    /// `self -= other`.
    pub fn sub_(&self, other: &Tensor) -> Result<()> {
        self.binary_inplace(BinaryOp::Sub, Operand::Tensor(other))
    }
    /// `self *= other`.
    pub fn mul_(&self, other: &Tensor) -> Result<()> {
        self.binary_inplace(BinaryOp::Mul, Operand::Tensor(other))
    }
    /// `self /= other`.
    pub fn div_(&self, other: &Tensor) -> Result<()> {
        self.binary_inplace(BinaryOp::Div, Operand::Tensor(other))
    }
    /// `self op= scalar` for add, sub, mul, div, pow.
    pub fn binary_scalar_(&self, op: BinaryOp, value: impl Into<Scalar>) -> Result<()> {
        self.binary_inplace(op, Operand::Scalar(value.into()))
    }
    /// `self op= other` for any binary op (pow_, floor_divide_, ...).
    pub fn binary_tensor_(&self, op: BinaryOp, other: &Tensor) -> Result<()> {
        self.binary_inplace(op, Operand::Tensor(other))
    }

    /// Applies a unary op in place (relu_, clamp_, neg_, ...).
    pub fn unary_(&self, op: UnaryOp) -> Result<()> {
        self.apply_inplace(&[], |old| unary_op(op, old))
    }

    pub fn relu_(&self) -> Result<()> {
        self.unary_(UnaryOp::Relu)
    }

    pub fn clamp_(&self, min: Option<f64>, max: Option<f64>) -> Result<()> {
        if min.is_none() && max.is_none() {
            return Err(Error::runtime(
                "torch.clamp: At least one of 'min' or 'max' must not be None",
            ));
        }
        self.unary_(UnaryOp::Clamp { min, max })
    }

    /// Sets every element to `value`.
    pub fn fill_(&self, value: impl Into<Scalar>) -> Result<()> {
        let value = value.into();
        if !is_grad_enabled()
            || !self.requires_grad() && !self.view_base().is_some_and(|b| b.requires_grad())
        {
            self.check_inplace()?;
            check_no_internal_overlap(&self.layout())?;
            return backend::fill(self, value);
        }
        self.apply_inplace(&[], |old| {
            let zeroed = old.mul_scalar(0.0)?;
            zeroed.add(&Tensor::scalar(value, old.dtype(), old.device())?)
        })
    }

    /// Sets every element to zero.
    pub fn zero_(&self) -> Result<()> {
        self.fill_(Scalar::Int(0))
    }

    /// Copies `src` (broadcast to this shape, converted to this dtype) into this tensor.
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        let shape = self.shape();
        crate::tensor::broadcast_shapes(&shape, &src.shape()).and_then(|b| {
            if b == shape {
                Ok(())
            } else {
                Err(Error::runtime(format!(
                    "output with shape {} doesn't match the broadcast shape {}",
                    fmt_shape(&shape),
                    fmt_shape(&b)
                )))
            }
        })?;
        let tracked = is_grad_enabled()
            && (src.requires_grad()
                || self.requires_grad()
                || self.view_base().is_some_and(|b| b.requires_grad()));
        if !tracked {
            self.check_inplace()?;
            check_no_internal_overlap(&self.layout())?;
            return backend::copy_into(self, src);
        }
        let dtype = self.dtype();
        self.apply_inplace(&[src], |old| {
            // The new value is src; the old value only passes a zero gradient.
            let value = src.to_dtype(dtype)?.broadcast_to(&old.shape())?;
            value.add(&old.mul_scalar(0.0)?)
        })
    }

    /// `masked_fill_`: writes `value` where `mask` is true.
    pub fn masked_fill_(&self, mask: &Tensor, value: impl Into<Scalar>) -> Result<()> {
        let value = value.into();
        self.apply_inplace(&[], |old| old.masked_fill(mask, value))
    }
}

/// A written-to tensor must not have two elements on one memory location (an expanded view).
fn check_no_internal_overlap(layout: &Layout) -> Result<()> {
    let overlap = layout
        .shape()
        .iter()
        .zip(layout.strides())
        .any(|(&d, &s)| d > 1 && s == 0);
    ensure!(
        !overlap,
        Error::runtime(
            "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation."
        )
    );
    Ok(())
}
