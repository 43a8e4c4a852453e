//! Matrix products: matmul (1-D, 2-D, batched with broadcasting), mm, bmm, and linear as one
//! fused `x @ w^T + b`.

use crate::autograd::{grad0, record, Saved};
use crate::backend;
use crate::error::{ensure, Error, Result};
use crate::ops::common_device;
use crate::tensor::{broadcast_shapes, Dims, Tensor};

fn check_dtypes(a: &Tensor, b: &Tensor) -> Result<()> {
    ensure!(
        a.dtype() == b.dtype(),
        Error::runtime(format!(
            "expected m1 and m2 to have the same dtype, but got: {} != {}",
            a.dtype()
                .name()
                .replace("float32", "float")
                .replace("float64", "double")
                .replace("int64", "long"),
            b.dtype()
                .name()
                .replace("float32", "float")
                .replace("float64", "double")
                .replace("int64", "long")
        ))
    );
    ensure!(
        a.dtype() != crate::DType::Bool,
        Error::not_implemented("\"addmm_impl_cpu_\" not implemented for 'Bool'")
    );
    Ok(())
}

impl Tensor {
    /// `self @ other` with PyTorch's rules for 1-D, 2-D and batched operands.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        common_device(&[self, other])?;
        check_dtypes(self, other)?;
        let (sa, sb) = (self.shape(), other.shape());
        match (sa.len(), sb.len()) {
            (0, _) | (_, 0) => Err(Error::runtime(format!(
                "both arguments to matmul need to be at least 1D, but they are {}D and {}D",
                sa.len(),
                sb.len()
            ))),
            (1, 1) => {
                ensure!(
                    sa[0] == sb[0],
                    Error::runtime(format!(
                        "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements, but got {} and {} elements respectively",
                        sa[0], sb[0], sa[0], sb[0]
                    ))
                );
                self.unsqueeze(0)?
                    .mm(&other.unsqueeze(1)?)?
                    .reshape_dims(&[])
            }
            (2, 1) => {
                ensure!(
                    sa[1] == sb[0],
                    Error::runtime(format!(
                        "size mismatch, got input ({}), mat ({}x{}), vec ({})",
                        sa[0], sa[0], sa[1], sb[0]
                    ))
                );
                self.mm(&other.unsqueeze(1)?)?.squeeze(Some(1))
            }
            (1, 2) => self.unsqueeze(0)?.mm(other)?.squeeze(Some(0)),
            (2, 2) => self.mm(other),
            (_, 1) => {
                let out = self.batched_matmul(&other.unsqueeze(1)?)?;
                out.squeeze(Some(-1))
            }
            (1, _) => {
                let out = self.unsqueeze(0)?.batched_matmul(other)?;
                out.squeeze(Some(-2))
            }
            _ => self.batched_matmul(other),
        }
    }

    /// Matrix product of two 2-D tensors.
    pub fn mm(&self, other: &Tensor) -> Result<Tensor> {
        common_device(&[self, other])?;
        check_dtypes(self, other)?;
        let (sa, sb) = (self.shape(), other.shape());
        ensure!(
            sa.len() == 2,
            Error::runtime(format!("self must be a matrix, got {}-D tensor", sa.len()))
        );
        ensure!(
            sb.len() == 2,
            Error::runtime(format!("mat2 must be a matrix, got {}-D tensor", sb.len()))
        );
        ensure!(
            sa[1] == sb[0],
            Error::runtime(format!(
                "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
                sa[0], sa[1], sb[0], sb[1]
            ))
        );
        self.batched_matmul(other)
    }

    /// Batched product of two 3-D tensors with equal batch sizes.
    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        let (sa, sb) = (self.shape(), other.shape());
        ensure!(sa.len() == 3, Error::runtime("batch1 must be a 3D tensor"));
        ensure!(sb.len() == 3, Error::runtime("batch2 must be a 3D tensor"));
        ensure!(
            sb[0] == sa[0] && sb[1] == sa[2],
            Error::runtime(format!(
                "Expected size for first two dimensions of batch2 tensor to be: [{}, {}] but got: [{}, {}].",
                sa[0], sa[2], sb[0], sb[1]
            ))
        );
        self.batched_matmul(other)
    }

    /// [.., m, k] @ [.., k, n] with broadcast batch dims (both at least 2-D).
    fn batched_matmul(&self, other: &Tensor) -> Result<Tensor> {
        common_device(&[self, other])?;
        check_dtypes(self, other)?;
        let (sa, sb) = (self.shape(), other.shape());
        let (na, nb) = (sa.len(), sb.len());
        let (m, k, k2, n) = (sa[na - 2], sa[na - 1], sb[nb - 2], sb[nb - 1]);
        ensure!(
            k == k2,
            if na == 2 && nb == 2 {
                Error::runtime(format!(
                    "mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n})"
                ))
            } else {
                Error::runtime(format!(
                    "Expected size for first two dimensions of batch2 tensor to be: [{}, {k}] but got: [{}, {k2}].",
                    sa[..na - 2].iter().product::<usize>(),
                    sb[..nb - 2].iter().product::<usize>()
                ))
            }
        );
        let batch = broadcast_shapes(&sa[..na - 2], &sb[..nb - 2])?;
        let mut la_shape = batch.clone();
        la_shape.extend_from_slice(&[m, k]);
        let mut lb_shape = batch.clone();
        lb_shape.extend_from_slice(&[k, n]);
        let la = self.layout().broadcast_to(&la_shape);
        let lb = other.layout().broadcast_to(&lb_shape);
        let out = backend::matmul(self, &la, other, &lb)?;
        record(
            "MmBackward0",
            &[self, other],
            &[&out],
            || vec![Saved::Input(0), Saved::Input(1)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let (a, b) = (ctx.saved(0), ctx.saved(1));
                let ga = ctx
                    .needs_input_grad(0)
                    .then(|| g.batched_matmul(&b.transpose(-1, -2)?)?.sum_to_shape(&sa))
                    .transpose()?;
                let gb = ctx
                    .needs_input_grad(1)
                    .then(|| a.transpose(-1, -2)?.batched_matmul(g)?.sum_to_shape(&sb))
                    .transpose()?;
                Ok(vec![ga, gb])
            },
        )?;
        Ok(out)
    }

    /// `self @ weight^T + bias` over the last dim of `self`, as one fused kernel.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let mut inputs = vec![self, weight];
        if let Some(b) = bias {
            inputs.push(b);
        }
        common_device(&inputs)?;
        check_dtypes(self, weight)?;
        let xs = self.shape();
        let ws = weight.shape();
        ensure!(
            ws.len() == 2,
            Error::runtime(format!(
                "t() expects a tensor with <= 2 dimensions, but self is {}D",
                ws.len()
            ))
        );
        ensure!(
            !xs.is_empty(),
            Error::runtime(
                "both arguments to linear need to be at least 1D, but they are 0D and 2D"
            )
        );
        let in_f = *xs.last().unwrap_or(&0);
        let rows: usize = xs[..xs.len() - 1].iter().product();
        ensure!(
            in_f == ws[1],
            Error::runtime(format!(
                "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
                rows, in_f, ws[1], ws[0]
            ))
        );
        if let Some(b) = bias {
            ensure!(
                b.dtype() == self.dtype(),
                Error::runtime("expected bias to have the same dtype as input")
            );
            let bs = b.shape();
            ensure!(
                bs.len() <= 1 && (bs.is_empty() || bs[0] == ws[0] || bs[0] == 1),
                Error::runtime(format!(
                    "The size of tensor a ({}) must match the size of tensor b ({}) at non-singleton dimension 1",
                    ws[0],
                    bs.first().copied().unwrap_or(1)
                ))
            );
        }
        let out_f = ws[0];
        let x2 = self.detach().reshape_dims(&[rows, in_f])?;
        let wt = weight.detach().layout().transpose(0, 1);
        let out2 = backend::addmm(bias, &x2, &x2.layout(), weight, &wt)?;
        let mut out_shape: Dims = xs[..xs.len() - 1].iter().copied().collect();
        out_shape.push(out_f);
        let out = out2.reshape_dims(&out_shape)?;
        let has_bias = bias.is_some();
        record(
            "AddmmBackward0",
            &inputs,
            &[&out],
            || vec![Saved::Input(0), Saved::Input(1)],
            move |ctx, grads| {
                let g = grad0(grads)?;
                let (x, w) = (ctx.saved(0), ctx.saved(1));
                let g2 = g.reshape_dims(&[rows, out_f])?;
                let gx = ctx
                    .needs_input_grad(0)
                    .then(|| g2.mm(w)?.reshape_dims(&xs))
                    .transpose()?;
                let gw = ctx
                    .needs_input_grad(1)
                    .then(|| g2.t()?.mm(&x.reshape_dims(&[rows, in_f])?))
                    .transpose()?;
                let mut out = vec![gx, gw];
                if has_bias {
                    out.push(
                        ctx.needs_input_grad(2)
                            .then(|| g2.sum_dims(&[0], false))
                            .transpose()?,
                    );
                }
                Ok(out)
            },
        )?;
        Ok(out)
    }
}
