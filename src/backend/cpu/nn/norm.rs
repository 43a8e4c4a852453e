//! Batch normalisation over (N, C, S): per-channel statistics, the affine normalisation, and the
//! backward pass, each one sweep per channel (channels in parallel).

use super::{sum_and_dot_f64, sum_and_sq_f64};
use crate::backend::cpu::threads::SyncPtr;
use crate::backend::cpu::threads::{self, PARALLEL_THRESHOLD};
use crate::error::Result;
use crate::storage::{Buffer, CpuElement, Float};

/// The layout of a batch-norm input: `n` samples of `c` channels of `s` contiguous elements.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NormGeom {
    pub n: usize,
    pub c: usize,
    pub s: usize,
}

impl NormGeom {
    /// Elements per channel.
    pub fn m(&self) -> usize {
        self.n * self.s
    }
    fn numel(&self) -> usize {
        self.n * self.c * self.s
    }
    /// The `s`-element runs of channel `ch`, sample by sample.
    fn runs<'a, T>(&self, x: &'a [T], ch: usize) -> impl Iterator<Item = &'a [T]> + 'a {
        let (c, s) = (self.c, self.s);
        (0..self.n).map(move |n| &x[(n * c + ch) * s..(n * c + ch + 1) * s])
    }
}

/// Runs `f(channel)` for every channel, in parallel for big inputs; collects the results.
fn per_channel<R: Send>(g: &NormGeom, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if g.numel() >= PARALLEL_THRESHOLD && g.c > 1 {
        threads::par_map(g.c, f)
    } else {
        (0..g.c).map(f).collect()
    }
}

/// Per-channel mean and biased variance (two passes, accumulated in f64).
pub fn channel_stats<T: Float + CpuElement>(x: &[T], g: &NormGeom) -> (Vec<f64>, Vec<f64>) {
    let m = g.m() as f64;
    per_channel(g, |ch| {
        let mut sum = 0.0f64;
        for run in g.runs(x, ch) {
            sum += sum_and_sq_f64(run, 0.0).0;
        }
        let mean = sum / m;
        let mut sq = 0.0f64;
        for run in g.runs(x, ch) {
            sq += sum_and_sq_f64(run, mean).1;
        }
        (mean, sq / m)
    })
    .into_iter()
    .unzip()
}

/// `y = (x - mean) * invstd * weight + bias`, computed as `x * alpha + beta` per channel.
pub fn normalize<T: Float + CpuElement>(
    x: &[T],
    g: &NormGeom,
    mean: &[f64],
    invstd: &[f64],
    weight: Option<&[T]>,
    bias: Option<&[T]>,
) -> Result<Buffer<T>> {
    let mut out = Buffer::<T>::uninit(g.numel())?;
    let ptr = SyncPtr(out.as_mut_ptr());
    per_channel(g, |ch| {
        let w = weight.map_or(1.0, |w| w[ch].to_f64());
        let b = bias.map_or(0.0, |b| b[ch].to_f64());
        let alpha = T::from_f64(invstd[ch] * w);
        let beta = T::from_f64(b - mean[ch] * invstd[ch] * w);
        for n in 0..g.n {
            let start = (n * g.c + ch) * g.s;
            // SAFETY: channel `ch` of sample `n` is written by this task only.
            let dst = unsafe { ptr.slice(start, g.s) };
            for (d, &v) in dst.iter_mut().zip(&x[start..start + g.s]) {
                *d = v * alpha + beta;
            }
        }
    });
    Ok(out)
}

/// Gradients of batch normalisation (each present when asked for).
pub struct NormGrads<T: CpuElement> {
    pub input: Option<Buffer<T>>,
    pub weight: Option<Vec<f64>>,
    pub bias: Option<Vec<f64>>,
}

/// The backward pass. With `training` the statistics were the batch's own (so the input gradient
/// flows through mean and variance too); otherwise they were constants (running statistics).
#[allow(clippy::too_many_arguments)]
pub fn normalize_backward<T: Float + CpuElement>(
    gy: &[T],
    x: &[T],
    g: &NormGeom,
    mean: &[f64],
    invstd: &[f64],
    weight: Option<&[T]>,
    training: bool,
    need_input: bool,
) -> Result<NormGrads<T>> {
    let mut dx = if need_input {
        Some(Buffer::<T>::uninit(g.numel())?)
    } else {
        None
    };
    let ptr = dx.as_mut().map(|d| SyncPtr(d.as_mut_ptr()));
    let m = g.m() as f64;
    let sums = per_channel(g, |ch| {
        let mu = mean[ch];
        let (mut sum_g, mut dot) = (0.0f64, 0.0f64);
        for (gr, xr) in g.runs(gy, ch).zip(g.runs(x, ch)) {
            let (a, b) = sum_and_dot_f64(gr, xr, mu);
            sum_g += a;
            dot += b;
        }
        if let Some(ptr) = ptr {
            let is = invstd[ch];
            let w = weight.map_or(1.0, |w| w[ch].to_f64());
            let scale = is * w;
            // training: dx = (g - mean(g) - (x - mu) * dot * invstd^2 / M) * invstd * w
            let (k, gmean) = if training {
                (dot * is * is / m, sum_g / m)
            } else {
                (0.0, 0.0)
            };
            let (k, gmean, scale, mu_t) = (
                T::from_f64(k),
                T::from_f64(gmean),
                T::from_f64(scale),
                T::from_f64(mu),
            );
            for n in 0..g.n {
                let start = (n * g.c + ch) * g.s;
                // SAFETY: channel `ch` of sample `n` is written by this task only.
                let dst = unsafe { ptr.slice(start, g.s) };
                let (gr, xr) = (&gy[start..start + g.s], &x[start..start + g.s]);
                for ((d, &gv), &xv) in dst.iter_mut().zip(gr).zip(xr) {
                    *d = (gv - (xv - mu_t) * k - gmean) * scale;
                }
            }
        }
        (sum_g, dot * invstd[ch])
    });
    let (db, dw): (Vec<f64>, Vec<f64>) = sums.into_iter().unzip();
    Ok(NormGrads {
        input: dx,
        weight: Some(dw),
        bias: Some(db),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_normalisation_per_channel() {
        // n=2, c=2, s=2: channel 0 holds 1,2,5,6 and channel 1 holds 3,4,7,8.
        let g = NormGeom { n: 2, c: 2, s: 2 };
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let (mean, var) = channel_stats(&x, &g);
        assert_eq!(mean, vec![3.5, 5.5]);
        assert_eq!(var, vec![4.25, 4.25]);
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / v.sqrt()).collect();
        let y = normalize(&x, &g, &mean, &invstd, Some(&[2.0, 1.0]), Some(&[0.0, 1.0])).unwrap();
        let y = y.as_slice();
        assert!((y[0] - 2.0 * (1.0 - 3.5) / 4.25f64.sqrt()).abs() < 1e-12);
        assert!((y[7] - (1.0 + (8.0 - 5.5) / 4.25f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn eval_backward_is_a_scaling() {
        let g = NormGeom { n: 1, c: 2, s: 2 };
        let x = [1.0, 2.0, 3.0, 4.0];
        let gy = [1.0, 1.0, 2.0, 2.0];
        let r =
            normalize_backward(&gy, &x, &g, &[0.0, 1.0], &[0.5, 2.0], None, false, true).unwrap();
        assert_eq!(r.input.unwrap().as_slice(), &[0.5, 0.5, 4.0, 4.0]);
        assert_eq!(r.bias.unwrap(), vec![2.0, 4.0]);
        // dw = sum(g * (x - mean) * invstd)
        assert_eq!(r.weight.unwrap(), vec![1.5, 20.0]);
    }
}
