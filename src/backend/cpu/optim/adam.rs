//! The fused Adam / AdamW update of one parameter (see crate::optim::adam for the formulas).

use super::{read_contiguous, scalar, Work};
use crate::backend::cpu::threads::{par_split_mut, SyncPtr, PARALLEL_THRESHOLD};
use crate::backend::dispatch::{View, ViewMut};
use crate::backend::kernels::AdamState;
use crate::error::Result;
use crate::optim::AdamOptions;
use crate::storage::{CpuElement, CpuStorage, Float};

/// Updates one parameter and its state (distinct storages); `step` is its step count.
pub(crate) fn update<T: Float + CpuElement>(
    p: ViewMut<'_, CpuStorage>,
    g: View<'_, CpuStorage>,
    (m, v, vmax): AdamState<'_, CpuStorage>,
    step: f64,
    o: &AdamOptions,
) -> Result<()> {
    let grad = read_contiguous(g.storage.slice::<T>()?, g.layout)?;
    let mut pw = Work::new(p.storage.slice_mut::<T>()?, p.layout)?;
    let mut mw = Work::new(m.storage.slice_mut::<T>()?, m.layout)?;
    let mut vw = Work::new(v.storage.slice_mut::<T>()?, v.layout)?;
    let mut vmw = match vmax {
        Some(vm) => Some(Work::new(vm.storage.slice_mut::<T>()?, vm.layout)?),
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
