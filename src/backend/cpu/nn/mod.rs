//! CPU kernels of the neural-network ops.
//!
//! Kernels take contiguous operands (the ops make them so) as typed slices and return new
//! buffers; parallel loops split work so that each task writes its own part of the output.

pub mod conv;
pub mod conv_direct;
pub mod interpolate;
pub mod loss;
pub mod norm;
pub mod pool;
pub mod softmax;

use crate::storage::Float;

/// Independent partial sums in the reductions below: enough to hide add latency and let LLVM
/// vectorise (the summation order differs from a serial loop, as in PyTorch's reductions).
const PARTIALS: usize = 16;

/// Sum of a slice in its own type.
#[inline]
pub fn sum<T: Float>(v: &[T]) -> T {
    let mut acc = [T::zero(); PARTIALS];
    let chunks = v.chunks_exact(PARTIALS);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let mut total = T::zero();
    for a in acc {
        total += a;
    }
    for &x in rest {
        total += x;
    }
    total
}

/// `(sum(g), sum(g * (x - shift)))` accumulated in f64 (batch-norm backward).
#[inline]
pub fn sum_and_dot_f64<T: Float>(g: &[T], x: &[T], shift: f64) -> (f64, f64) {
    let (mut sg, mut sd) = ([0.0f64; PARTIALS], [0.0f64; PARTIALS]);
    let (gc, xc) = (g.chunks_exact(PARTIALS), x.chunks_exact(PARTIALS));
    let (gr, xr) = (gc.remainder(), xc.remainder());
    for (gs, xs) in gc.zip(xc) {
        for i in 0..PARTIALS {
            let gv = gs[i].to_f64();
            sg[i] += gv;
            sd[i] += gv * (xs[i].to_f64() - shift);
        }
    }
    let (mut a, mut b) = (sg.iter().sum::<f64>(), sd.iter().sum::<f64>());
    for (&gv, &xv) in gr.iter().zip(xr) {
        a += gv.to_f64();
        b += gv.to_f64() * (xv.to_f64() - shift);
    }
    (a, b)
}

/// `(sum(x), sum((x - shift)^2))` accumulated in f64 (batch-norm statistics).
#[inline]
pub fn sum_and_sq_f64<T: Float>(x: &[T], shift: f64) -> (f64, f64) {
    let (mut s, mut q) = ([0.0f64; PARTIALS], [0.0f64; PARTIALS]);
    let chunks = x.chunks_exact(PARTIALS);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..PARTIALS {
            let v = c[i].to_f64();
            s[i] += v;
            q[i] += (v - shift) * (v - shift);
        }
    }
    let (mut a, mut b) = (s.iter().sum::<f64>(), q.iter().sum::<f64>());
    for &v in rest {
        let v = v.to_f64();
        a += v;
        b += (v - shift) * (v - shift);
    }
    (a, b)
}
