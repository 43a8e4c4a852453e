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
    bump_versions, check_distinct, check_like, check_params, check_writable, py_float,
    read_contiguous, readable_grads, scalar, sorted_storages, Locks, Operand, Work,
};
use crate::backend::cpu::threads::{par_split_mut, SyncPtr, PARALLEL_THRESHOLD};
use crate::error::{Error, Result};
use crate::storage::{CpuElement, Float};
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
        let locks = Locks::acquire(&write_storages, &read_storages);
        for i in 0..n {
            let targets = Targets {
                p: &p_ops[i],
                m: &m_ops[i],
                v: &v_ops[i],
                vmax: vmax_ops.get(i),
                g: &g_ops[i],
            };
            #[cfg(feature = "cuda")]
            if params[i].device().is_cuda() {
                super::cuda::adam(
                    &locks,
                    targets.p,
                    targets.g,
                    targets.m,
                    targets.v,
                    targets.vmax,
                    steps[i],
                    options,
                )?;
                continue;
            }
            crate::with_float_dtype!(params[i].dtype(),
                T => update::<T>(&locks, targets, steps[i], options)?,
                else return Err(Error::runtime("Adam: parameters must be floating point")));
        }
    }
    bump_versions(&write_storages);
    Ok(())
}

/// The operands of one parameter's update.
#[derive(Clone, Copy)]
struct Targets<'a> {
    p: &'a Operand,
    m: &'a Operand,
    v: &'a Operand,
    vmax: Option<&'a Operand>,
    g: &'a Operand,
}

fn update<T: Float + CpuElement>(
    locks: &Locks<'_>,
    t: Targets<'_>,
    step: f64,
    o: &AdamOptions,
) -> Result<()> {
    let grad = read_contiguous(locks.slice::<T>(t.g)?, &t.g.layout)?;
    // SAFETY: the parameter and its state tensors are distinct storages (check_distinct), each
    // sliced once here while this parameter is updated.
    let (mut pw, mut mw, mut vw) = unsafe {
        (
            Work::new(locks.slice_mut::<T>(t.p)?, &t.p.layout)?,
            Work::new(locks.slice_mut::<T>(t.m)?, &t.m.layout)?,
            Work::new(locks.slice_mut::<T>(t.v)?, &t.v.layout)?,
        )
    };
    let mut vmw = match t.vmax {
        // SAFETY: as above.
        Some(vm) => Some(Work::new(unsafe { locks.slice_mut::<T>(vm)? }, &vm.layout)?),
        None => None,
    };
    let k = Scalars::<T>::new(o, step);
    run(
        Slices {
            p: pw.slice(),
            m: mw.slice(),
            v: vw.slice(),
            vmax: vmw.as_mut().map(|w| w.slice()),
        },
        &grad,
        &k,
    );
    pw.finish();
    mw.finish();
    vw.finish();
    if let Some(w) = vmw {
        w.finish();
    }
    Ok(())
}

/// The hyper-parameters of one parameter's step in the element type. As in PyTorch, the bias
/// corrections and the step size are computed in double precision, then cast.
#[derive(Clone, Copy)]
struct Scalars<T> {
    maximize: bool,
    weight_decay: T,
    l2: bool,
    decoupled: bool,
    decay: T,
    lerp_weight: T,
    lerp_small: bool,
    one_minus_lerp_weight: T,
    beta2: T,
    one_minus_beta2: T,
    bias_correction2_sqrt: T,
    eps: T,
    neg_step_size: T,
}

impl<T: Float> Scalars<T> {
    fn new(o: &AdamOptions, step: f64) -> Self {
        let (beta1, beta2) = o.betas;
        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2 = 1.0 - beta2.powf(step);
        let step_size = o.lr / bias_correction1;
        let weight = 1.0 - beta1;
        let has_wd = o.weight_decay != 0.0;
        Scalars {
            maximize: o.maximize,
            weight_decay: scalar(o.weight_decay),
            l2: has_wd && !o.decoupled_weight_decay,
            decoupled: has_wd && o.decoupled_weight_decay,
            decay: scalar(1.0 - o.lr * o.weight_decay),
            lerp_weight: scalar(weight),
            lerp_small: weight.abs() < 0.5,
            one_minus_lerp_weight: T::one() - scalar::<T>(weight),
            beta2: scalar(beta2),
            one_minus_beta2: scalar(1.0 - beta2),
            bias_correction2_sqrt: scalar(bias_correction2.powf(0.5)),
            eps: scalar(o.eps),
            neg_step_size: scalar(-step_size),
        }
    }
}

/// The state slices of one parameter (contiguous, same length).
struct Slices<'a, T> {
    p: &'a mut [T],
    m: &'a mut [T],
    v: &'a mut [T],
    vmax: Option<&'a mut [T]>,
}

// The element loops take the options as compile-time constants (maximize, the weight-decay
// mode, the lerp branch), so each loop is branch-free and vectorizes; `kernel` picks the instance.

/// Weight-decay modes (a const parameter of the loops).
const WD_NONE: u8 = 0;
const WD_L2: u8 = 1;
const WD_DECOUPLED: u8 = 2;

/// The element update, in PyTorch's order of operations.
#[inline(always)]
fn element<T: Float, const MAX: bool, const WD: u8, const SMALL: bool>(
    p: &mut T,
    m: &mut T,
    v: &mut T,
    vmax: Option<&mut T>,
    g: T,
    k: &Scalars<T>,
) {
    let mut g = if MAX { -g } else { g };
    if WD == WD_DECOUPLED {
        *p = *p * k.decay;
    } else if WD == WD_L2 {
        g += k.weight_decay * *p;
    }
    // exp_avg.lerp_(grad, 1 - beta1), with PyTorch's two-sided lerp formula.
    *m = if SMALL {
        *m + k.lerp_weight * (g - *m)
    } else {
        g - (g - *m) * k.one_minus_lerp_weight
    };
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    *v = *v * k.beta2 + k.one_minus_beta2 * g * g;
    let second = match vmax {
        Some(vm) => {
            *vm = vm.max_val(*v);
            *vm
        }
        None => *v,
    };
    let denom = second.sqrt() / k.bias_correction2_sqrt + k.eps;
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    *p += k.neg_step_size * *m / denom;
}

fn plain_loop<T: Float, const MAX: bool, const WD: u8, const SMALL: bool>(
    s: Slices<'_, T>,
    g: &[T],
    k: Scalars<T>,
) {
    let Slices { p, m, v, .. } = s;
    for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
        element::<T, MAX, WD, SMALL>(p, m, v, None, g, &k);
    }
}

fn amsgrad_loop<T: Float, const MAX: bool, const WD: u8, const SMALL: bool>(
    s: Slices<'_, T>,
    g: &[T],
    k: Scalars<T>,
) {
    let Slices { p, m, v, vmax } = s;
    let Some(vm) = vmax else {
        return plain_loop::<T, MAX, WD, SMALL>(
            Slices {
                p,
                m,
                v,
                vmax: None,
            },
            g,
            k,
        );
    };
    for ((((p, m), v), vm), &g) in p.iter_mut().zip(m).zip(v).zip(vm).zip(g) {
        element::<T, MAX, WD, SMALL>(p, m, v, Some(vm), g, &k);
    }
}

type Loop<T> = for<'a> fn(Slices<'a, T>, &'a [T], Scalars<T>);

/// The loop instance for these options.
fn kernel<T: Float>(k: &Scalars<T>, amsgrad: bool) -> Loop<T> {
    let wd = if k.decoupled {
        WD_DECOUPLED
    } else if k.l2 {
        WD_L2
    } else {
        WD_NONE
    };
    macro_rules! pick {
        ($($a:literal $m:literal $w:ident $s:literal),*) => {
            match (amsgrad, k.maximize, wd, k.lerp_small) {
                $(($a, $m, $w, $s) => if $a {
                    amsgrad_loop::<T, $m, $w, $s> as Loop<T>
                } else {
                    plain_loop::<T, $m, $w, $s> as Loop<T>
                },)*
                _ => plain_loop::<T, false, WD_NONE, true> as Loop<T>,
            }
        };
    }
    pick!(
        false false WD_NONE false, false false WD_NONE true, false false WD_L2 false,
        false false WD_L2 true, false false WD_DECOUPLED false, false false WD_DECOUPLED true,
        false true WD_NONE false, false true WD_NONE true, false true WD_L2 false,
        false true WD_L2 true, false true WD_DECOUPLED false, false true WD_DECOUPLED true,
        true false WD_NONE false, true false WD_NONE true, true false WD_L2 false,
        true false WD_L2 true, true false WD_DECOUPLED false, true false WD_DECOUPLED true,
        true true WD_NONE false, true true WD_NONE true, true true WD_L2 false,
        true true WD_L2 true, true true WD_DECOUPLED false, true true WD_DECOUPLED true
    )
}

fn run<T: Float>(s: Slices<'_, T>, g: &[T], k: &Scalars<T>) {
    let n = s.p.len();
    let kernel = kernel(k, s.vmax.is_some());
    let k = *k;
    if n < PARALLEL_THRESHOLD {
        return kernel(s, g, k);
    }
    let Slices { p, m, v, vmax } = s;
    let (m, v) = (SyncPtr(m.as_mut_ptr()), SyncPtr(v.as_mut_ptr()));
    let vmax = vmax.map(|vm| SyncPtr(vm.as_mut_ptr()));
    par_split_mut(p, |start, p| {
        let len = p.len();
        // SAFETY: every state buffer has p's length; each chunk writes its own range of each.
        let s = unsafe {
            Slices {
                p,
                m: m.slice(start, len),
                v: v.slice(start, len),
                vmax: vmax.map(|vm| vm.slice(start, len)),
            }
        };
        kernel(s, &g[start..start + len], k)
    });
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
