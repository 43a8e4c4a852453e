//! Batch normalisation over (N, C, S): per-channel statistics, the affine normalisation, and the
//! backward pass, each one sweep per channel (channels in parallel). Layer normalisation over
//! rows of D contiguous elements: the same, per row (rows in parallel).

use super::{sum_and_dot_f64, sum_and_sq_f64};
use crate::backend::cpu::threads::SyncPtr;
use crate::backend::cpu::threads::{self, PARALLEL_THRESHOLD};
use crate::backend::geometry::NormGeom;
use crate::error::Result;
use crate::storage::{Buffer, CpuElement, Float};

impl NormGeom {
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

/// Rows per parallel task of layer norm: fixed by the sizes only, so that the per-task partial
/// sums of the weight and bias gradients, and hence the results, do not depend on the threads.
fn rows_per_task(rows: usize, d: usize) -> usize {
    (PARALLEL_THRESHOLD / 4)
        .div_ceil(d.max(1))
        .clamp(1, rows.max(1))
}

/// Layer normalisation of `rows` rows of `d` contiguous elements: `y = (x - mean) * invstd *
/// weight + bias` per row, `weight` and `bias` per column. Also returns each row's mean and
/// inverse standard deviation (from the biased variance).
pub fn layer_normalize<T: Float + CpuElement>(
    x: &[T],
    d: usize,
    eps: f64,
    weight: Option<&[T]>,
    bias: Option<&[T]>,
) -> Result<(Buffer<T>, Vec<f64>, Vec<f64>)> {
    let rows = x.len().checked_div(d).unwrap_or(0);
    let mut out = Buffer::<T>::uninit(x.len())?;
    let mut stats = vec![(0.0f64, 0.0f64); rows];
    let per_task = rows_per_task(rows, d);
    let dst = SyncPtr(out.as_mut_ptr());
    let run = |first: usize, stats: &mut [(f64, f64)]| {
        for (i, st) in stats.iter_mut().enumerate() {
            let r = first + i;
            let row = &x[r * d..(r + 1) * d];
            let mean = sum_and_sq_f64(row, 0.0).0 / d as f64;
            let invstd = 1.0 / (sum_and_sq_f64(row, mean).1 / d as f64 + eps).sqrt();
            *st = (mean, invstd);
            // SAFETY: row `r` of the output is written by this task only.
            let y = unsafe { dst.slice(r * d, d) };
            let (m, is) = (T::from_f64(mean), T::from_f64(invstd));
            match (weight, bias) {
                (None, None) => y.iter_mut().zip(row).for_each(|(y, &v)| *y = (v - m) * is),
                _ => {
                    for (j, (y, &v)) in y.iter_mut().zip(row).enumerate() {
                        let w = weight.map_or(T::one(), |w| w[j]);
                        let b = bias.map_or(T::zero(), |b| b[j]);
                        *y = (v - m) * is * w + b;
                    }
                }
            }
        }
    };
    if x.len() >= PARALLEL_THRESHOLD && rows > per_task {
        threads::par_chunks_mut(&mut stats, per_task, |first, part| run(first, part));
    } else {
        run(0, &mut stats);
    }
    let (mean, invstd) = stats.into_iter().unzip();
    Ok((out, mean, invstd))
}

/// Gradients of layer normalisation: the input's (when `need_input`), and the per-column sums
/// `sum_rows(gy * xhat)` and `sum_rows(gy)` that are the weight's and the bias's.
#[allow(clippy::too_many_arguments)]
pub fn layer_normalize_backward<T: Float + CpuElement>(
    gy: &[T],
    x: &[T],
    d: usize,
    mean: &[f64],
    invstd: &[f64],
    weight: Option<&[T]>,
    need_input: bool,
) -> Result<NormGrads<T>> {
    let rows = mean.len();
    let mut dx = if need_input {
        Some(Buffer::<T>::uninit(x.len())?)
    } else {
        None
    };
    let dst = dx.as_mut().map(|b| SyncPtr(b.as_mut_ptr()));
    let per_task = rows_per_task(rows, d);
    // Each task: its rows' input gradients, and its partial column sums (dw, db).
    let task = |t: usize| -> (Vec<f64>, Vec<f64>) {
        let (mut dw, mut db) = (vec![0.0f64; d], vec![0.0f64; d]);
        for r in t * per_task..rows.min((t + 1) * per_task) {
            let (g, xr) = (&gy[r * d..(r + 1) * d], &x[r * d..(r + 1) * d]);
            let (mu, is) = (mean[r], invstd[r]);
            let (mut sum_gw, mut dot) = (0.0f64, 0.0f64);
            for j in 0..d {
                let gv = g[j].to_f64();
                let xhat = (xr[j].to_f64() - mu) * is;
                dw[j] += gv * xhat;
                db[j] += gv;
                let gw = gv * weight.map_or(1.0, |w| w[j].to_f64());
                sum_gw += gw;
                dot += gw * xhat;
            }
            if let Some(dst) = dst {
                // dx = invstd * (gw - mean(gw) - xhat * mean(gw * xhat))
                let (a, b) = (sum_gw / d as f64, dot / d as f64);
                // SAFETY: row `r` of the input gradient is written by this task only.
                let out = unsafe { dst.slice(r * d, d) };
                for j in 0..d {
                    let gw = g[j].to_f64() * weight.map_or(1.0, |w| w[j].to_f64());
                    let xhat = (xr[j].to_f64() - mu) * is;
                    out[j] = T::from_f64(is * (gw - a - xhat * b));
                }
            }
        }
        (dw, db)
    };
    let tasks = rows.div_ceil(per_task);
    let parts = if x.len() >= PARALLEL_THRESHOLD && tasks > 1 {
        threads::par_map(tasks, task)
    } else {
        (0..tasks).map(task).collect()
    };
    let (mut dw, mut db) = (vec![0.0f64; d], vec![0.0f64; d]);
    for (pw, pb) in parts {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
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
    fn layer_norm_rows() {
        // Two rows of 4; weight and bias per column.
        let x = [1.0, 2.0, 3.0, 4.0, -2.0, 0.0, 0.0, 2.0];
        let (w, b) = ([1.0, 2.0, 1.0, 0.5], [0.0, 0.0, 1.0, 0.0]);
        let (y, mean, invstd) = layer_normalize(&x, 4, 0.0, Some(&w), Some(&b)).unwrap();
        assert_eq!(mean, vec![2.5, 0.0]);
        assert!((invstd[0] - 1.0 / 1.25f64.sqrt()).abs() < 1e-15);
        assert!((invstd[1] - 1.0 / 2.0f64.sqrt()).abs() < 1e-15);
        let y = y.as_slice();
        assert!((y[1] - 2.0 * (2.0 - 2.5) / 1.25f64.sqrt()).abs() < 1e-12);
        assert!((y[6] - 1.0).abs() < 1e-12);
        // The gradient of sum(y) with no weight is zero for the input (rows sum to zero);
        // the bias gradient counts the rows, the weight's sums xhat per column.
        let gy = [1.0; 8];
        let r = layer_normalize_backward(&gy, &x, 4, &mean, &invstd, None, true).unwrap();
        assert!(r.input.unwrap().as_slice().iter().all(|v| v.abs() < 1e-12));
        assert_eq!(r.bias.unwrap(), vec![2.0; 4]);
        let dw = r.weight.unwrap();
        let xhat0 = (1.0 - 2.5) / 1.25f64.sqrt() + (-2.0) / 2.0f64.sqrt();
        assert!((dw[0] - xhat0).abs() < 1e-12);
    }

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
