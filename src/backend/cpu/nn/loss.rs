//! Loss kernels: cross-entropy as one fused log-softmax + NLL pass (class-index or probability
//! targets, class weights, ignore_index, label smoothing), NLL, and the pointwise losses.
//!
//! Inputs are seen as (N, C, S): row `r = n * S + s` holds the C class scores of sample `n` at
//! spatial position `s`, with class stride `S`. A row's loss is `-sum_c a_c * logp_c` where the
//! coefficients `a` come from the target (and weights and smoothing); its gradient with respect
//! to the scores is `softmax * sum(a) - a`.

use crate::backend::cpu::threads::SyncPtr;
use crate::backend::cpu::threads::{self, PARALLEL_THRESHOLD};
use crate::backend::geometry::{CeOptions, RowGeom};
use crate::backend::PointLoss;
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, Float};

impl RowGeom {
    /// Offset of class 0 of row `r` (class stride is `s`).
    #[inline]
    fn base(&self, r: usize) -> usize {
        (r / self.s) * self.c * self.s + r % self.s
    }
}

/// The target of a cross-entropy.
#[derive(Copy, Clone)]
pub enum Target<'a, T> {
    /// A class index per row.
    Class(&'a [i64]),
    /// Class probabilities, the input's shape.
    Prob(&'a [T]),
}

/// Checks every class index that is not `ignore_index` (PyTorch's IndexError on the first bad one).
pub fn check_targets(target: &[i64], classes: usize, ignore_index: i64) -> Result<()> {
    for &t in target {
        if t != ignore_index && (t < 0 || t >= classes as i64) {
            return Err(Error::index(format!("Target {t} is out of bounds.")));
        }
    }
    Ok(())
}

/// Runs `f(row)` for every row (in parallel for big inputs), collecting the results in order.
fn per_row<R: Send>(g: &RowGeom, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if g.numel() >= PARALLEL_THRESHOLD {
        threads::par_map(g.rows(), f)
    } else {
        (0..g.rows()).map(f).collect()
    }
}

/// Max and log-sum-exp of one row.
#[inline]
fn row_lse<T: Float>(x: &[T], base: usize, c: usize, stride: usize) -> f64 {
    let mut m = f64::NEG_INFINITY;
    for k in 0..c {
        let v = x[base + k * stride].to_f64();
        if v > m || v.is_nan() {
            m = v;
        }
    }
    if m == f64::NEG_INFINITY || m.is_nan() {
        return m;
    }
    let mut sum = 0.0;
    for k in 0..c {
        sum += (x[base + k * stride].to_f64() - m).exp();
    }
    m + sum.ln()
}

/// What the forward pass gives: per-row losses, per-row log-sum-exp (kept for the backward),
/// and the mean reduction's denominator.
pub struct CeForward<T: CpuElement> {
    pub loss: Buffer<T>,
    pub lse: Buffer<T>,
    pub total_weight: f64,
}

/// Fused log-softmax + negative log-likelihood, per row. Class targets must have been checked.
pub fn cross_entropy_forward<T: Float + CpuElement>(
    x: &[T],
    target: Target<'_, T>,
    weight: Option<&[T]>,
    g: &RowGeom,
    opt: CeOptions,
) -> Result<CeForward<T>> {
    let (c, s) = (g.c, g.s);
    let eps = opt.label_smoothing;
    let w = |k: usize| weight.map_or(1.0, |w| w[k].to_f64());
    let rows = per_row(g, |r| {
        let base = g.base(r);
        let lse = row_lse(x, base, c, s);
        let logp = |k: usize| x[base + k * s].to_f64() - lse;
        match target {
            Target::Class(t) => {
                let t = t[r];
                if t == opt.ignore_index {
                    return (0.0, lse, 0.0);
                }
                let t = t as usize;
                let wt = w(t);
                let mut loss = -wt * logp(t);
                if eps > 0.0 {
                    let smooth: f64 = (0..c).map(|k| -w(k) * logp(k)).sum();
                    loss = (1.0 - eps) * loss + eps / c as f64 * smooth;
                }
                (loss, lse, wt)
            }
            Target::Prob(p) => {
                let loss: f64 = (0..c)
                    .map(|k| {
                        let tk = p[base + k * s].to_f64() * (1.0 - eps) + eps / c as f64;
                        -tk * w(k) * logp(k)
                    })
                    .sum();
                (loss, lse, 1.0)
            }
        }
    });
    let n = rows.len();
    let total_weight = rows.iter().map(|r| r.2).sum();
    Ok(CeForward {
        loss: Buffer::from_iter_exact(n, rows.iter().map(|r| T::from_f64(r.0)))?,
        lse: Buffer::from_iter_exact(n, rows.iter().map(|r| T::from_f64(r.1)))?,
        total_weight,
    })
}

/// The gradient reaching each row's loss: one scale for reduced losses, or one value per row.
#[derive(Copy, Clone)]
pub enum RowGrad<'a, T> {
    Scalar(f64),
    PerRow(&'a [T]),
}

impl<T: Float> RowGrad<'_, T> {
    #[inline]
    fn at(&self, r: usize) -> f64 {
        match self {
            RowGrad::Scalar(v) => *v,
            RowGrad::PerRow(g) => g[r].to_f64(),
        }
    }
}

/// Gradients of [`cross_entropy_forward`]: with respect to the scores, and (for probability
/// targets, when asked) the target.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_backward<T: Float + CpuElement>(
    x: &[T],
    target: Target<'_, T>,
    weight: Option<&[T]>,
    lse: &[T],
    grad: RowGrad<'_, T>,
    g: &RowGeom,
    opt: CeOptions,
    need_target: bool,
) -> Result<(Buffer<T>, Option<Buffer<T>>)> {
    let (c, s) = (g.c, g.s);
    let eps = opt.label_smoothing;
    let mut dx = Buffer::<T>::uninit(g.numel())?;
    let mut dt = if need_target && matches!(target, Target::Prob(_)) {
        Some(Buffer::<T>::uninit(g.numel())?)
    } else {
        None
    };
    let px = SyncPtr(dx.as_mut_ptr());
    let pt = dt.as_mut().map(|d| SyncPtr(d.as_mut_ptr()));
    let w = |k: usize| weight.map_or(1.0, |w| w[k].to_f64());
    let sum_w: f64 = (0..c).map(w).sum();
    per_row(g, |r| {
        let base = g.base(r);
        let gr = grad.at(r);
        let l = lse[r].to_f64();
        // SAFETY (all writes below): row r's elements base + k*s are written by this task only.
        let put = |p: SyncPtr<T>, k: usize, v: f64| unsafe {
            *p.0.add(base + k * s) = T::from_f64(v);
        };
        match target {
            Target::Class(t) => {
                let t = t[r];
                if t == opt.ignore_index {
                    (0..c).for_each(|k| put(px, k, 0.0));
                    return;
                }
                let t = t as usize;
                let wt = w(t);
                let total = (1.0 - eps) * wt + eps / c as f64 * sum_w;
                for k in 0..c {
                    let mut a = eps / c as f64 * w(k);
                    if k == t {
                        a += (1.0 - eps) * wt;
                    }
                    let p = (x[base + k * s].to_f64() - l).exp();
                    put(px, k, gr * (p * total - a));
                }
            }
            Target::Prob(tp) => {
                let a =
                    |k: usize| (tp[base + k * s].to_f64() * (1.0 - eps) + eps / c as f64) * w(k);
                let total: f64 = (0..c).map(a).sum();
                for k in 0..c {
                    let logp = x[base + k * s].to_f64() - l;
                    put(px, k, gr * (logp.exp() * total - a(k)));
                    if let Some(pt) = pt {
                        put(pt, k, -gr * (1.0 - eps) * w(k) * logp);
                    }
                }
            }
        }
    });
    Ok((dx, dt))
}

/// The coefficients `a` of class targets as a tensor of the input's shape (0 on ignored rows):
/// `a_c = (1 - eps) * w_t * [c == t] + eps / C * w_c`. Used by the differentiable backward.
pub fn class_coefficients<T: Float + CpuElement>(
    target: &[i64],
    weight: Option<&[T]>,
    g: &RowGeom,
    opt: CeOptions,
) -> Result<Buffer<T>> {
    let (c, s) = (g.c, g.s);
    let eps = opt.label_smoothing;
    let mut out = Buffer::<T>::zeros(g.numel())?;
    let o = out.as_mut_slice();
    let w = |k: usize| weight.map_or(1.0, |w| w[k].to_f64());
    for (r, &t) in target.iter().enumerate().take(g.rows()) {
        if t == opt.ignore_index {
            continue;
        }
        let base = g.base(r);
        if eps > 0.0 {
            for k in 0..c {
                o[base + k * s] = T::from_f64(eps / c as f64 * w(k));
            }
        }
        let t = t as usize;
        let v = o[base + t * s].to_f64() + (1.0 - eps) * w(t);
        o[base + t * s] = T::from_f64(v);
    }
    Ok(out)
}

/// NLL of log-probabilities per row (`-w_t * x_t`, 0 on ignored rows) and the total weight.
pub fn nll_forward<T: Float + CpuElement>(
    x: &[T],
    target: &[i64],
    weight: Option<&[T]>,
    g: &RowGeom,
    ignore_index: i64,
) -> Result<(Buffer<T>, f64)> {
    let mut loss = Buffer::<T>::uninit(g.rows())?;
    let mut total = 0.0;
    for (r, (l, &t)) in loss.as_mut_slice().iter_mut().zip(target).enumerate() {
        if t == ignore_index {
            *l = T::zero();
            continue;
        }
        let t = t as usize;
        let wt = weight.map_or(1.0, |w| w[t].to_f64());
        total += wt;
        *l = T::from_f64(-wt * x[g.base(r) + t * g.s].to_f64());
    }
    Ok((loss, total))
}

/// Gradient of [`nll_forward`]: `-w_t * grad` at each row's target, zero elsewhere.
pub fn nll_backward<T: Float + CpuElement>(
    target: &[i64],
    weight: Option<&[T]>,
    grad: RowGrad<'_, T>,
    g: &RowGeom,
    ignore_index: i64,
) -> Result<Buffer<T>> {
    let mut dx = Buffer::<T>::zeros(g.numel())?;
    let d = dx.as_mut_slice();
    for (r, &t) in target.iter().enumerate().take(g.rows()) {
        if t == ignore_index {
            continue;
        }
        let t = t as usize;
        let wt = weight.map_or(1.0, |w| w[t].to_f64());
        d[g.base(r) + t * g.s] = T::from_f64(-wt * grad.at(r));
    }
    Ok(dx)
}

/// One element's loss; `w` multiplies it, `pw` is the positive-class weight (logits form only).
#[inline]
fn point<T: Float>(kind: PointLoss, x: T, t: T, w: T, pw: T) -> T {
    let one = T::one();
    match kind {
        PointLoss::Mse => {
            let d = x - t;
            d * d * w
        }
        PointLoss::L1 => (x - t).abs() * w,
        PointLoss::Bce => {
            let hundred = T::from_f64(-100.0);
            let log1m = (-x).ln_1p().max_val(hundred);
            let logx = x.ln().max_val(hundred);
            ((t - one) * log1m - t * logx) * w
        }
        PointLoss::BceWithLogits => {
            // log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|))
            let zero = T::zero();
            let min0 = if x < zero { x } else { zero };
            let log_sig = min0 - (-x.abs()).exp().ln_1p();
            let lw = (pw - one) * t + one;
            ((one - t) * x - log_sig * lw) * w
        }
    }
}

/// Pointwise losses of same-shape contiguous operands: per element (`reduce == false`, a buffer)
/// or summed (in f64, the buffer then holds that one value).
pub fn pointwise_loss<T: Float + CpuElement>(
    kind: PointLoss,
    x: &[T],
    t: &[T],
    w: Option<&[T]>,
    pw: Option<&[T]>,
    reduce: bool,
) -> Result<Buffer<T>> {
    let n = x.len();
    let at = |i: usize| {
        point(
            kind,
            x[i],
            t[i],
            w.map_or(T::one(), |w| w[i]),
            pw.map_or(T::one(), |p| p[i]),
        )
    };
    if reduce {
        let sum: f64 = if n >= PARALLEL_THRESHOLD {
            let chunk = threads::chunk_len(n);
            threads::par_map(n.div_ceil(chunk), |c| {
                (c * chunk..n.min((c + 1) * chunk))
                    .map(|i| at(i).to_f64())
                    .sum::<f64>()
            })
            .into_iter()
            .sum()
        } else {
            (0..n).map(|i| at(i).to_f64()).sum()
        };
        return Buffer::from_slice(&[T::from_f64(sum)]);
    }
    let mut out = Buffer::<T>::uninit(n)?;
    if n >= PARALLEL_THRESHOLD {
        threads::par_split_mut(out.as_mut_slice(), |start, o| {
            for (j, o) in o.iter_mut().enumerate() {
                *o = at(start + j);
            }
        });
    } else {
        for (i, o) in out.as_mut_slice().iter_mut().enumerate() {
            *o = at(i);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_spatial_inputs() {
        let g = RowGeom { n: 2, c: 3, s: 4 };
        assert_eq!(g.rows(), 8);
        assert_eq!(g.base(0), 0);
        assert_eq!(g.base(3), 3);
        assert_eq!(g.base(4), 12);
        assert_eq!(g.base(7), 15);
    }

    #[test]
    fn out_of_range_targets_name_the_target() {
        let err = check_targets(&[0, 10, 2], 5, -100).unwrap_err();
        assert_eq!(err, Error::index("Target 10 is out of bounds."));
        assert!(check_targets(&[0, -100, 4], 5, -100).is_ok());
        assert!(check_targets(&[-1], 5, -100).is_err());
    }

    #[test]
    fn cross_entropy_of_uniform_scores_is_log_c() {
        let g = RowGeom { n: 2, c: 4, s: 1 };
        let x = [0.0f64; 8];
        let opt = CeOptions {
            ignore_index: -100,
            label_smoothing: 0.0,
        };
        let f = cross_entropy_forward(&x, Target::Class(&[1, 3]), None, &g, opt).unwrap();
        for &l in f.loss.as_slice() {
            assert!((l - 4f64.ln()).abs() < 1e-12);
        }
        assert_eq!(f.total_weight, 2.0);
        let (dx, _) = cross_entropy_backward(
            &x,
            Target::Class(&[1, 3]),
            None,
            f.lse.as_slice(),
            RowGrad::Scalar(1.0),
            &g,
            opt,
            false,
        )
        .unwrap();
        assert_eq!(
            dx.as_slice(),
            &[0.25, -0.75, 0.25, 0.25, 0.25, 0.25, 0.25, -0.75]
        );
    }

    #[test]
    fn coefficients_sum_like_the_fused_gradient() {
        let g = RowGeom { n: 1, c: 3, s: 2 };
        let opt = CeOptions {
            ignore_index: 7,
            label_smoothing: 0.3,
        };
        let a = class_coefficients::<f64>(&[2, 7], Some(&[1.0, 2.0, 3.0]), &g, opt).unwrap();
        // Row 0 (s = 0): eps/C * w_c, plus (1 - eps) * w_2 at class 2; row 1 ignored.
        let a = a.as_slice();
        assert!((a[0] - 0.1).abs() < 1e-12 && (a[2] - 0.2).abs() < 1e-12);
        assert!((a[4] - (0.3 + 0.7 * 3.0)).abs() < 1e-12);
        assert_eq!((a[1], a[3], a[5]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn pointwise_losses() {
        let x = [0.5f64, 0.25];
        let t = [1.0, 0.0];
        let mse = pointwise_loss(PointLoss::Mse, &x, &t, None, None, true).unwrap();
        assert_eq!(mse.as_slice(), &[0.25 + 0.0625]);
        let bce = pointwise_loss(PointLoss::Bce, &x, &t, None, None, false).unwrap();
        assert!((bce.as_slice()[0] - 2f64.ln()).abs() < 1e-12);
        assert!((bce.as_slice()[1] - (4.0f64 / 3.0).ln()).abs() < 1e-12);
        // logits 0 with target 1 and pos_weight 3: 3 * log(2).
        let l = pointwise_loss(
            PointLoss::BceWithLogits,
            &[0.0],
            &[1.0],
            None,
            Some(&[3.0]),
            false,
        )
        .unwrap();
        assert!((l.as_slice()[0] - 3.0 * 2f64.ln()).abs() < 1e-12);
    }
}
