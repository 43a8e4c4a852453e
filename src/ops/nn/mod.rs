//! Neural-network ops, each a single op with its own backward rule.
//!
//! Kernels run through `backend::run!`, which picks the backend of the operands' device.
//! Backward rules use fused kernels during an ordinary backward and differentiable tensor ops
//! (or ops whose own backward is known) when a higher-order graph is being recorded.

pub mod conv;
pub mod dropout;
pub mod interpolate;
pub mod layer_norm;
pub mod loss;
pub mod norm;
pub mod pool;
pub mod softmax;

pub use conv::Padding2d;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// How a loss reduces its per-element values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Keep one value per element (or per sample).
    None,
    /// The (weighted) mean.
    #[default]
    Mean,
    /// The sum.
    Sum,
}

impl Reduction {
    /// `"none" | "mean" | "sum"`, as PyTorch's `reduction=` argument.
    pub fn parse(s: &str) -> Result<Reduction> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            other => Err(Error::value(format!(
                "{other} is not a valid value for reduction"
            ))),
        }
    }
}

/// `t` as a contiguous tensor that shares no autograd history (what kernels read).
pub(crate) fn kernel_operand(t: &Tensor) -> Result<Tensor> {
    t.detach().contiguous()
}

/// A linear map of its input (pooling, resampling) given by a forward kernel and its adjoint.
/// Its backward is the adjoint, and the adjoint's backward is the map again, so gradients of
/// any order are exact.
pub(crate) trait LinearMap: Clone + Send + Sync + 'static {
    /// The node name of the map.
    fn name(&self) -> &'static str;
    /// The node name of its adjoint (the map's backward).
    fn adjoint_name(&self) -> &'static str;
    /// Applies the map (no autograd).
    fn apply(&self, x: &Tensor) -> Result<Tensor>;
    /// Applies the adjoint (no autograd).
    fn adjoint(&self, g: &Tensor) -> Result<Tensor>;
}

/// The map applied to `x`, recording its backward.
pub(crate) fn apply_linear<M: LinearMap>(map: M, x: &Tensor) -> Result<Tensor> {
    let out = map.apply(x)?;
    crate::autograd::record(map.name(), &[x], &[&out], Vec::new, move |_, grads| {
        let g = crate::autograd::grad0(grads)?;
        Ok(vec![Some(apply_adjoint(map.clone(), g)?)])
    })?;
    Ok(out)
}

/// The adjoint applied to `g`, recording its backward (the map itself).
pub(crate) fn apply_adjoint<M: LinearMap>(map: M, g: &Tensor) -> Result<Tensor> {
    let out = map.adjoint(g)?;
    crate::autograd::record(
        map.adjoint_name(),
        &[g],
        &[&out],
        Vec::new,
        move |_, grads| {
            let gg = crate::autograd::grad0(grads)?;
            Ok(vec![Some(apply_linear(map.clone(), gg)?)])
        },
    )?;
    Ok(out)
}

/// Formats a shape as `torch.Size([2, 3])` (messages PyTorch raises from Python).
pub(crate) fn torch_size(shape: &[usize]) -> String {
    format!("torch.Size({})", crate::error::fmt_shape(shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_parse() {
        assert_eq!(Reduction::parse("none").unwrap(), Reduction::None);
        assert_eq!(Reduction::parse("sum").unwrap(), Reduction::Sum);
        assert_eq!(
            Reduction::parse("avg").unwrap_err(),
            Error::value("avg is not a valid value for reduction")
        );
    }
}
