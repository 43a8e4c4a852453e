//! dropout: zeroes elements with probability `p` (Philox draws from the default generator) and
//! scales the rest by `1 / (1 - p)`; its backward multiplies by the same mask.

use crate::autograd::{grad0, record, Saved};
use crate::backend::{self, BinaryOp};
use crate::error::{ensure, Error, Result};
use crate::tensor::Tensor;

impl Tensor {
    /// Dropout as `torch.nn.functional.dropout`: the input itself when not training or `p == 0`.
    pub fn dropout(&self, p: f64, training: bool) -> Result<Tensor> {
        ensure!(
            (0.0..=1.0).contains(&p),
            Error::value(format!(
                "dropout probability has to be between 0 and 1, but got {p}"
            ))
        );
        if !training || p == 0.0 || self.numel() == 0 {
            return Ok(self.clone());
        }
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented_for("bernoulli_scalar_cpu_", self.dtype())
        );
        let shape = self.shape();
        let mask = Tensor::dropout_mask(&shape, p, self.dtype(), self.device())?;
        let out = backend::binary(BinaryOp::Mul, &self.detach(), &mask, &shape)?;
        record(
            "NativeDropoutBackward0",
            &[self],
            &[&out],
            || vec![Saved::Aux(mask)],
            |ctx, grads| Ok(vec![Some(grad0(grads)?.mul(ctx.saved(0))?)]),
        )?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Device, Tensor};

    #[test]
    fn dropout_scales_survivors_and_is_identity_in_eval() {
        crate::manual_seed(0);
        let x = Tensor::ones(&[1000], DType::F64, Device::Cpu).unwrap();
        let y = x.dropout(0.25, true).unwrap().to_vec::<f64>().unwrap();
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        assert!(y
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-12));
        assert!((650..850).contains(&kept), "{kept}");
        let same = x.dropout(0.25, false).unwrap();
        assert!(same.same_tensor(&x));
        assert!(x.dropout(1.5, true).is_err());
    }
}
