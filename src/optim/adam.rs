//! Adam and AdamW: PyTorch's `torch.optim.Adam` update (its single-tensor path), fused over a
//! whole group. AdamW is Adam with decoupled weight decay.
//!
//! Per parameter, with `g` its gradient (negated when maximizing) and `t` its step count:
//! ```text
//! p = p * (1 - lr * weight_decay)                   (decoupled weight decay, AdamW)
//! g = g + weight_decay * p                          (classic L2 weight decay, Adam)
//! m = lerp(m, g, 1 - beta1)
//! v = beta2 * v + (1 - beta2) * g * g
//! v_max = max(v_max, v)                             (amsgrad; v_max replaces v below)
//! denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//! p = p - lr / (1 - beta1^t) * m / denom
//! ```

use super::{
    bump_versions, check_distinct, check_like, check_params, check_writable, missing, py_float,
    readable_grads, sorted_storages, Locks, Operand,
};
use crate::backend;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Adam / AdamW hyper-parameters (PyTorch's names; `Default` is Adam's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamOptions {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// AdamW: decay the parameter directly instead of adding `weight_decay * p` to the gradient.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamOptions {
    fn default() -> Self {
        AdamOptions {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamOptions {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f64) -> Self {
        AdamOptions {
            lr,
            ..Default::default()
        }
    }
    /// AdamW with learning rate `lr` and PyTorch's AdamW defaults (`weight_decay = 1e-2`).
    pub fn adamw(lr: f64) -> Self {
        AdamOptions {
            lr,
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..Default::default()
        }
    }
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }

    /// PyTorch's argument checks, with its messages (`ValueError` in Python).
    pub fn validate(&self) -> Result<()> {
        let in_unit = |b: f64| (0.0..1.0).contains(&b);
        if self.lr.is_nan() || self.lr < 0.0 {
            return Err(Error::value(format!(
                "Invalid learning rate: {}",
                py_float(self.lr)
            )));
        }
        if self.eps.is_nan() || self.eps < 0.0 {
            return Err(Error::value(format!(
                "Invalid epsilon value: {}",
                py_float(self.eps)
            )));
        }
        if !in_unit(self.betas.0) {
            return Err(Error::value(format!(
                "Invalid beta parameter at index 0: {}",
                py_float(self.betas.0)
            )));
        }
        if !in_unit(self.betas.1) {
            return Err(Error::value(format!(
                "Invalid beta parameter at index 1: {}",
                py_float(self.betas.1)
            )));
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return Err(Error::value(format!(
                "Invalid weight_decay value: {}",
                py_float(self.weight_decay)
            )));
        }
        Ok(())
    }
}

/// One Adam step over a group, in place and without autograd recording.
///
/// `steps[i]` is parameter `i`'s step count, already incremented for this step (1 on the first).
/// `max_exp_avg_sqs` has one tensor per parameter when `amsgrad`, and is ignored otherwise.
pub fn adam_step(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    max_exp_avg_sqs: &[Tensor],
    steps: &[f64],
    options: &AdamOptions,
) -> Result<()> {
    let who = if options.decoupled_weight_decay {
        "AdamW"
    } else {
        "Adam"
    };
    check_params(who, params, grads)?;
    let n = params.len();
    let lists: [(&str, usize); 3] = [
        ("exp_avg", exp_avgs.len()),
        ("exp_avg_sq", exp_avg_sqs.len()),
        ("step", steps.len()),
    ];
    for (what, len) in lists {
        if len != n {
            return Err(Error::runtime(format!(
                "{who}: expected one {what} per parameter, got {n} parameters and {len}"
            )));
        }
    }
    if options.amsgrad && max_exp_avg_sqs.len() != n {
        return Err(Error::runtime(format!(
            "{who}: amsgrad needs one max_exp_avg_sq per parameter, got {n} parameters and {}",
            max_exp_avg_sqs.len()
        )));
    }
    for (i, p) in params.iter().enumerate() {
        let mut states = vec![("exp_avg", &exp_avgs[i]), ("exp_avg_sq", &exp_avg_sqs[i])];
        if options.amsgrad {
            states.push(("max_exp_avg_sq", &max_exp_avg_sqs[i]));
        }
        for (what, s) in states {
            check_like(who, what, i, p, s)?;
            check_writable(who, what, i, &s.layout())?;
        }
        if steps[i].is_nan() || steps[i] < 1.0 {
            return Err(Error::runtime(format!(
                "{who}: step count of parameter {i} is {}; it must be at least 1 (counts are incremented before the update)",
                steps[i]
            )));
        }
    }

    let ops = |ts: &[Tensor]| ts.iter().map(Operand::of).collect::<Vec<_>>();
    let p_ops = ops(params);
    let m_ops = ops(exp_avgs);
    let v_ops = ops(exp_avg_sqs);
    let vmax_ops = if options.amsgrad {
        ops(max_exp_avg_sqs)
    } else {
        Vec::new()
    };
    for i in 0..n {
        let mut written = vec![&p_ops[i], &m_ops[i], &v_ops[i]];
        if let Some(vm) = vmax_ops.get(i) {
            written.push(vm);
        }
        check_distinct(who, i, &written)?;
    }
    let written: Vec<Operand> = p_ops
        .iter()
        .chain(&m_ops)
        .chain(&v_ops)
        .chain(&vmax_ops)
        .cloned()
        .collect();
    let g_ops = readable_grads(grads, &written)?;

    let write_storages = sorted_storages(written.iter());
    let read_storages = sorted_storages(g_ops.iter());
    {
        let mut locks = Locks::acquire(&write_storages, &read_storages);
        for i in 0..n {
            let (p, g, m, v, vmax) = (&p_ops[i], &g_ops[i], &m_ops[i], &v_ops[i], vmax_ops.get(i));
            let mut written = vec![p, m, v];
            written.extend(vmax);
            let (w, gd) = locks.operands(&written, g)?;
            let mut w = w.into_iter();
            let mut next = || w.next().ok_or_else(missing);
            let (pd, md, vd) = (next()?, next()?, next()?);
            let vmax = match vmax {
                Some(x) => Some((next()?, &x.layout)),
                None => None,
            };
            let state = ((md, &m.layout), (vd, &v.layout), vmax);
            let device = params[i].device();
            backend::adam_update(
                device,
                (pd, &p.layout),
                (gd, &g.layout),
                state,
                steps[i],
                options,
            )?;
        }
    }
    bump_versions(&write_storages);
    Ok(())
}

/// Per-parameter Adam state.
#[derive(Clone)]
struct State {
    step: f64,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    max_exp_avg_sq: Option<Tensor>,
}

/// Adam / AdamW as an optimizer object for Rust users.
///
/// ```
/// use rustgrad::optim::{Adam, AdamOptions};
/// use rustgrad::{DType, Device, Tensor};
/// let w = Tensor::ones(&[2], DType::F64, Device::Cpu)?.requires_grad_(true)?;
/// let mut opt = Adam::new(vec![w.clone()], AdamOptions::adamw(0.1))?;
/// w.sum()?.backward()?;
/// opt.step()?;
/// opt.zero_grad();
/// # Ok::<(), rustgrad::Error>(())
/// ```
pub struct Adam {
    params: Vec<Tensor>,
    options: AdamOptions,
    state: Vec<Option<State>>,
}

impl Adam {
    /// Checks the options (PyTorch's messages) and the parameters (float leaves).
    pub fn new(params: impl IntoIterator<Item = Tensor>, options: AdamOptions) -> Result<Adam> {
        options.validate()?;
        let params: Vec<Tensor> = params.into_iter().collect();
        super::check_new_params(&params)?;
        let n = params.len();
        Ok(Adam {
            params,
            options,
            state: vec![None; n],
        })
    }

    /// Updates every parameter that has a gradient; parameters without one are skipped.
    pub fn step(&mut self) -> Result<()> {
        let mut params = Vec::new();
        let mut grads = Vec::new();
        let mut index = Vec::new();
        let mut states = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = p.grad() else { continue };
            let zeros = || Tensor::zeros(&p.shape(), p.dtype(), p.device());
            let mut s = match &self.state[i] {
                Some(s) => s.clone(),
                None => State {
                    step: 0.0,
                    exp_avg: zeros()?,
                    exp_avg_sq: zeros()?,
                    max_exp_avg_sq: None,
                },
            };
            if self.options.amsgrad && s.max_exp_avg_sq.is_none() {
                s.max_exp_avg_sq = Some(zeros()?);
            }
            s.step += 1.0;
            params.push(p.clone());
            grads.push(g);
            index.push(i);
            states.push(s);
        }
        let m: Vec<Tensor> = states.iter().map(|s| s.exp_avg.clone()).collect();
        let v: Vec<Tensor> = states.iter().map(|s| s.exp_avg_sq.clone()).collect();
        let vmax: Vec<Tensor> = states
            .iter()
            .filter_map(|s| s.max_exp_avg_sq.clone())
            .collect();
        let steps: Vec<f64> = states.iter().map(|s| s.step).collect();
        adam_step(&params, &grads, &m, &v, &vmax, &steps, &self.options)?;
        for (i, s) in index.into_iter().zip(states) {
            self.state[i] = Some(s);
        }
        Ok(())
    }

    /// Clears every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        for p in &self.params {
            let _ = p.set_grad(None);
        }
    }

    pub fn params(&self) -> &[Tensor] {
        &self.params
    }
    pub fn options(&self) -> &AdamOptions {
        &self.options
    }
    /// Changes the learning rate (what an LR scheduler does).
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        AdamOptions {
            lr,
            ..self.options.clone()
        }
        .validate()?;
        self.options.lr = lr;
        Ok(())
    }
    /// Parameter `i`'s step count (0 before its first step).
    pub fn step_count(&self, i: usize) -> f64 {
        self.state
            .get(i)
            .and_then(|s| s.as_ref())
            .map_or(0.0, |s| s.step)
    }
}
