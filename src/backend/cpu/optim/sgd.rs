//! The fused SGD update of one parameter (see crate::optim::sgd for the formulas).

use super::{read_contiguous, scalar, Work};
use crate::backend::cpu::threads::{par_split_mut, SyncPtr};
use crate::backend::dispatch::{View, ViewMut};
use crate::error::Result;
use crate::optim::SgdOptions;
use crate::storage::{CpuElement, CpuStorage, Float};

/// Updates one parameter (and its momentum buffer, distinct storages).
pub(crate) fn update<T: Float + CpuElement>(
    p: ViewMut<'_, CpuStorage>,
    g: View<'_, CpuStorage>,
    buf: Option<ViewMut<'_, CpuStorage>>,
    first: bool,
    o: &SgdOptions,
) -> Result<()> {
    let grad = read_contiguous(g.storage.slice::<T>()?, g.layout)?;
    let mut pw = Work::new(p.storage.slice_mut::<T>()?, p.layout)?;
    let k = Scalars::<T>::new(o);
    match buf {
        Some(b) => {
            let mut bw = Work::new(b.storage.slice_mut::<T>()?, b.layout)?;
            run_momentum(pw.slice(), bw.slice(), &grad, first, &k);
            bw.finish();
        }
        None => run_plain(pw.slice(), &grad, &k),
    }
    pw.finish();
    Ok(())
}

/// The hyper-parameters in the element type (PyTorch casts Python scalars to it).
#[derive(Clone, Copy)]
struct Scalars<T> {
    neg_lr: T,
    momentum: T,
    one_minus_dampening: T,
    weight_decay: T,
    use_weight_decay: bool,
    nesterov: bool,
    maximize: bool,
}

impl<T: Float> Scalars<T> {
    fn new(o: &SgdOptions) -> Self {
        Scalars {
            neg_lr: scalar(-o.lr),
            momentum: scalar(o.momentum),
            one_minus_dampening: scalar(1.0 - o.dampening),
            weight_decay: scalar(o.weight_decay),
            use_weight_decay: o.weight_decay != 0.0,
            nesterov: o.nesterov,
            maximize: o.maximize,
        }
    }
}

// The element loops take every option as a compile-time constant, so each loop is branch-free
// and vectorizes; `run_plain` and `run_momentum` pick the instance for the options at hand.

/// The gradient after maximize and weight decay (`grad.add(param, alpha=weight_decay)`).
#[inline(always)]
fn direction<T: Float, const MAX: bool, const WD: bool>(g: T, p: T, k: &Scalars<T>) -> T {
    let g = if MAX { -g } else { g };
    if WD {
        g + k.weight_decay * p
    } else {
        g
    }
}

fn plain_loop<T: Float, const MAX: bool, const WD: bool>(p: &mut [T], g: &[T], k: Scalars<T>) {
    for (p, &g) in p.iter_mut().zip(g) {
        let d = direction::<T, MAX, WD>(g, *p, &k);
        *p += k.neg_lr * d;
    }
}

fn momentum_loop<T: Float, const MAX: bool, const WD: bool, const FIRST: bool, const NEST: bool>(
    p: &mut [T],
    buf: &mut [T],
    g: &[T],
    k: Scalars<T>,
) {
    for ((p, b), &g) in p.iter_mut().zip(buf.iter_mut()).zip(g) {
        let d = direction::<T, MAX, WD>(g, *p, &k);
        // buf.mul_(momentum).add_(grad, alpha=1 - dampening); a clone of grad at first.
        let nb = if FIRST {
            d
        } else {
            *b * k.momentum + k.one_minus_dampening * d
        };
        *b = nb;
        let d = if NEST { d + k.momentum * nb } else { nb };
        *p += k.neg_lr * d;
    }
}

type PlainLoop<T> = fn(&mut [T], &[T], Scalars<T>);
type MomentumLoop<T> = fn(&mut [T], &mut [T], &[T], Scalars<T>);

fn plain_kernel<T: Float>(k: &Scalars<T>) -> PlainLoop<T> {
    match (k.maximize, k.use_weight_decay) {
        (false, false) => plain_loop::<T, false, false>,
        (false, true) => plain_loop::<T, false, true>,
        (true, false) => plain_loop::<T, true, false>,
        (true, true) => plain_loop::<T, true, true>,
    }
}

fn momentum_kernel<T: Float>(k: &Scalars<T>, first: bool) -> MomentumLoop<T> {
    macro_rules! pick {
        ($($m:literal $w:literal $f:literal $n:literal),*) => {
            match (k.maximize, k.use_weight_decay, first, k.nesterov) {
                $(($m, $w, $f, $n) => momentum_loop::<T, $m, $w, $f, $n>,)*
            }
        };
    }
    pick!(
        false false false false, false false false true, false false true false, false false true true,
        false true false false, false true false true, false true true false, false true true true,
        true false false false, true false false true, true false true false, true false true true,
        true true false false, true true false true, true true true false, true true true true
    )
}

fn run_plain<T: Float>(p: &mut [T], g: &[T], k: &Scalars<T>) {
    let kernel = plain_kernel(k);
    let k = *k;
    par_split_mut(p, |start, p| kernel(p, &g[start..start + p.len()], k));
}

fn run_momentum<T: Float>(p: &mut [T], buf: &mut [T], g: &[T], first: bool, k: &Scalars<T>) {
    let kernel = momentum_kernel(k, first);
    let k = *k;
    let buf = SyncPtr(buf.as_mut_ptr());
    par_split_mut(p, |start, p| {
        // SAFETY: the momentum buffer has p's length; each chunk writes its own range.
        let b = unsafe { buf.slice(start, p.len()) };
        kernel(p, b, &g[start..start + p.len()], k)
    });
}
