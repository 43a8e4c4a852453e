//! Stochastic gradient descent with momentum, dampening, weight decay, Nesterov and maximize:
//! PyTorch's `torch.optim.SGD` update (its single-tensor path), fused over a whole group.
//!
//! Per parameter, with `g` its gradient (negated when maximizing):
//! ```text
//! g = g + weight_decay * p                      (when weight_decay != 0)
//! buf = g                                       (first step: a copy of g)
//! buf = momentum * buf + (1 - dampening) * g    (later steps)
//! g = g + momentum * buf  (Nesterov)  or  g = buf
//! p = p - lr * g
//! ```

use super::{
    bump_versions, check_distinct, check_like, check_params, check_writable, missing, py_float,
    readable_grads, sorted_storages, Locks, Operand,
};
use crate::backend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// SGD hyper-parameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct SgdOptions {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

impl Default for SgdOptions {
    fn default() -> Self {
        SgdOptions {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdOptions {
    /// Plain SGD with learning rate `lr`; chain the other options.
    pub fn new(lr: f64) -> Self {
        SgdOptions {
            lr,
            ..Default::default()
        }
    }
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }

    /// PyTorch's argument checks, with its messages (`ValueError` in Python).
    pub fn validate(&self) -> Result<()> {
        if self.lr < 0.0 {
            return Err(Error::value(format!(
                "Invalid learning rate: {}",
                py_float(self.lr)
            )));
        }
        if self.momentum < 0.0 {
            return Err(Error::value(format!(
                "Invalid momentum value: {}",
                py_float(self.momentum)
            )));
        }
        if self.weight_decay < 0.0 {
            return Err(Error::value(format!(
                "Invalid weight_decay value: {}",
                py_float(self.weight_decay)
            )));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::value(
                "Nesterov momentum requires a momentum and zero dampening",
            ));
        }
        Ok(())
    }
}

/// One SGD step over a group, in place and without autograd recording.
///
/// `momentum_buffers` has one entry per parameter when `momentum != 0` (it is ignored otherwise):
/// `None` entries (a parameter's first step) are filled with a new buffer holding a copy of the
/// (decayed) gradient, as PyTorch does.
pub fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    momentum_buffers: &mut [Option<Tensor>],
    options: &SgdOptions,
) -> Result<()> {
    const WHO: &str = "SGD";
    check_params(WHO, params, grads)?;
    let use_momentum = options.momentum != 0.0;
    if use_momentum && momentum_buffers.len() != params.len() {
        return Err(Error::runtime(format!(
            "{WHO}: expected one momentum buffer (or None) per parameter, got {} parameters and {} buffers",
            params.len(),
            momentum_buffers.len()
        )));
    }

    // Validate everything and allocate new buffers before anything is written, so an error
    // leaves parameters and state untouched.
    let mut first = vec![false; params.len()];
    let mut bufs: Vec<Tensor> = Vec::new();
    if use_momentum {
        for (i, (p, b)) in params.iter().zip(momentum_buffers.iter()).enumerate() {
            if let Some(b) = b {
                check_like(WHO, "momentum_buffer", i, p, b)?;
                check_writable(WHO, "momentum_buffer", i, &b.layout())?;
            }
        }
        for (i, (p, b)) in params.iter().zip(momentum_buffers.iter()).enumerate() {
            bufs.push(match b {
                Some(b) => b.clone(),
                None => {
                    first[i] = true;
                    Tensor::zeros(&p.shape(), p.dtype(), p.device())?
                }
            });
        }
    }

    let p_ops: Vec<Operand> = params.iter().map(Operand::of).collect();
    let b_ops: Vec<Operand> = bufs.iter().map(Operand::of).collect();
    for (i, p) in p_ops.iter().enumerate() {
        if let Some(b) = b_ops.get(i) {
            check_distinct(WHO, i, &[p, b])?;
        }
    }
    let written: Vec<Operand> = p_ops.iter().chain(&b_ops).cloned().collect();
    let g_ops = readable_grads(grads, &written)?;

    let write_storages = sorted_storages(written.iter());
    let read_storages = sorted_storages(g_ops.iter());
    {
        let mut locks = Locks::acquire(&write_storages, &read_storages);
        for i in 0..params.len() {
            let (p, g, b) = (&p_ops[i], &g_ops[i], b_ops.get(i));
            let mut written = vec![p];
            written.extend(b);
            let (mut w, gd) = locks.operands(&written, g)?;
            let buf = match b {
                Some(b) => Some((w.pop().ok_or_else(missing)?, &b.layout)),
                None => None,
            };
            let pd = w.pop().ok_or_else(missing)?;
            let device = params[i].device();
            backend::sgd_update(
                device,
                (pd, &p.layout),
                (gd, &g.layout),
                buf,
                first[i],
                options,
            )?;
        }
    }
    bump_versions(&write_storages);

    if use_momentum {
        for (slot, b) in momentum_buffers.iter_mut().zip(bufs) {
            if slot.is_none() {
                *slot = Some(b);
            }
        }
    }
    Ok(())
}

/// SGD as an optimizer object for Rust users: owns the parameter list and the momentum buffers.
///
/// ```
/// use rustgrad::optim::{Sgd, SgdOptions};
/// use rustgrad::{DType, Device, Tensor};
/// let w = Tensor::ones(&[3], DType::F64, Device::Cpu)?.requires_grad_(true)?;
/// let mut opt = Sgd::new(vec![w.clone()], SgdOptions::new(0.1).momentum(0.9))?;
/// w.mul_scalar(2.0)?.sum()?.backward()?;
/// opt.step()?;
/// assert_eq!(w.to_vec::<f64>()?, vec![0.8, 0.8, 0.8]);
/// opt.zero_grad();
/// # Ok::<(), rustgrad::Error>(())
/// ```
pub struct Sgd {
    params: Vec<Tensor>,
    options: SgdOptions,
    momentum_buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    /// Checks the options (PyTorch's messages) and the parameters (float leaves).
    pub fn new(params: impl IntoIterator<Item = Tensor>, options: SgdOptions) -> Result<Sgd> {
        options.validate()?;
        let params: Vec<Tensor> = params.into_iter().collect();
        super::check_new_params(&params)?;
        let n = params.len();
        Ok(Sgd {
            params,
            options,
            momentum_buffers: vec![None; n],
        })
    }

    /// Updates every parameter that has a gradient; parameters without one are skipped.
    pub fn step(&mut self) -> Result<()> {
        let mut params = Vec::new();
        let mut grads = Vec::new();
        let mut bufs = Vec::new();
        let mut index = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            if let Some(g) = p.grad() {
                params.push(p.clone());
                grads.push(g);
                bufs.push(self.momentum_buffers[i].clone());
                index.push(i);
            }
        }
        sgd_step(&params, &grads, &mut bufs, &self.options)?;
        for (i, b) in index.into_iter().zip(bufs) {
            self.momentum_buffers[i] = b;
        }
        Ok(())
    }

    /// Clears every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        for p in &self.params {
            // Clearing a gradient cannot fail.
            let _ = p.set_grad(None);
        }
    }

    pub fn params(&self) -> &[Tensor] {
        &self.params
    }
    pub fn options(&self) -> &SgdOptions {
        &self.options
    }
    /// Changes the learning rate (what an LR scheduler does).
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        SgdOptions {
            lr,
            ..self.options.clone()
        }
        .validate()?;
        self.options.lr = lr;
        Ok(())
    }
    /// The momentum buffer of parameter `i` (None before its first step or without momentum).
    pub fn momentum_buffer(&self, i: usize) -> Option<&Tensor> {
        self.momentum_buffers.get(i).and_then(|b| b.as_ref())
    }
}
