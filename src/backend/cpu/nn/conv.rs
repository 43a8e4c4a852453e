//! 2-D convolution and its backward pass: float32 on AVX-512 CPUs runs the direct kernels of
//! conv_direct.rs (no column matrix) where they pay; everything else is im2col + gemm, below.
//!
//! For one sample the input `[C, H, W]` is unfolded into a column matrix `[C*kh*kw, OH*OW]` (row
//! `(c, i, j)` holds the input pixels kernel tap `(i, j)` of channel `c` sees at every output
//! position, zero where it falls into the padding). Group `g` then is one product
//! `out[g] (Og x P) = W[g] (Og x K) @ cols[g] (K x P)` with `K = C/groups*kh*kw`, `P = OH*OW`.
//! The backward uses the same matrices: `dcols = W^T @ dout` folded back by col2im (the adjoint of
//! im2col) for the input gradient, and `dW += dout @ cols^T` for the weight gradient. Operands
//! are passed to gemm by strides, so no transpose is ever materialised.
//!
//! Work is split over the batch (one column buffer per task, reused for its samples) when there
//! are enough samples for every thread; otherwise samples run one after another with gemm itself
//! multithreaded. A 1x1 kernel with unit stride and no padding needs no columns at all.

use super::conv_direct::{self as direct, Plan};
use crate::backend::cpu::matmul::{gemm_one, Mat};
use crate::backend::cpu::threads::{self, split_ranges, SyncPtr};
use crate::backend::geometry::{ConvGeom, ConvNeeds};
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, DType};

/// Below this many multiply-adds a convolution runs on the calling thread.
const PARALLEL_MACS: usize = 1 << 18;

/// The output positions `lo..hi` whose input coordinate `o * stride + shift` lies in `0..len`.
pub fn valid_range(shift: isize, stride: usize, len: usize, out: usize) -> (usize, usize) {
    let s = stride as isize;
    let ceil_div = |a: isize| -> isize { (a + s - 1).div_euclid(s) };
    let lo = if shift >= 0 { 0 } else { ceil_div(-shift) };
    let hi = ceil_div(len as isize - shift).max(0);
    let lo = (lo.max(0) as usize).min(out);
    let hi = (hi as usize).clamp(lo, out);
    (lo, hi)
}

/// Unfolds one sample `x` (`[C, H, W]`) into `cols` (`[C*kh*kw, OH*OW]`).
pub fn im2col<T: CpuElement>(x: &[T], cols: &mut [T], g: &ConvGeom) {
    let (p, hw) = (g.p(), g.h * g.w);
    let zero = T::zero();
    for c in 0..g.c {
        let plane = &x[c * hw..(c + 1) * hw];
        for i in 0..g.kh {
            let dy = (i * g.dilation[0]) as isize - g.pad[0] as isize;
            let (y0, y1) = valid_range(dy, g.stride[0], g.h, g.oh);
            for j in 0..g.kw {
                let dx = (j * g.dilation[1]) as isize - g.pad[1] as isize;
                let (x0, x1) = valid_range(dx, g.stride[1], g.w, g.ow);
                let row = (c * g.kh + i) * g.kw + j;
                let dst = &mut cols[row * p..(row + 1) * p];
                dst[..y0 * g.ow].fill(zero);
                dst[y1 * g.ow..].fill(zero);
                for oy in y0..y1 {
                    let iy = (oy * g.stride[0]) as isize + dy;
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let seg = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    seg[..x0].fill(zero);
                    seg[x1..].fill(zero);
                    if x0 < x1 {
                        let start = (x0 * g.stride[1]) as isize + dx;
                        let start = start as usize;
                        if g.stride[1] == 1 {
                            seg[x0..x1].copy_from_slice(&src[start..start + (x1 - x0)]);
                        } else {
                            for (k, v) in seg[x0..x1].iter_mut().enumerate() {
                                *v = src[start + k * g.stride[1]];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the input pixel it came from.
/// `dx` (`[C, H, W]`) must be initialised (zero) by the caller.
pub fn col2im<T: CpuElement + std::ops::AddAssign>(cols: &[T], dx: &mut [T], g: &ConvGeom) {
    let (p, hw) = (g.p(), g.h * g.w);
    for c in 0..g.c {
        let plane = &mut dx[c * hw..(c + 1) * hw];
        for i in 0..g.kh {
            let dy = (i * g.dilation[0]) as isize - g.pad[0] as isize;
            let (y0, y1) = valid_range(dy, g.stride[0], g.h, g.oh);
            for j in 0..g.kw {
                let dx_ = (j * g.dilation[1]) as isize - g.pad[1] as isize;
                let (x0, x1) = valid_range(dx_, g.stride[1], g.w, g.ow);
                if x0 >= x1 {
                    continue;
                }
                let row = (c * g.kh + i) * g.kw + j;
                let src = &cols[row * p..(row + 1) * p];
                for oy in y0..y1 {
                    let iy = ((oy * g.stride[0]) as isize + dy) as usize;
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    let seg = &src[oy * g.ow + x0..oy * g.ow + x1];
                    let start = ((x0 * g.stride[1]) as isize + dx_) as usize;
                    if g.stride[1] == 1 {
                        for (d, &v) in dst[start..start + seg.len()].iter_mut().zip(seg) {
                            *d += v;
                        }
                    } else {
                        for (k, &v) in seg.iter().enumerate() {
                            dst[start + k * g.stride[1]] += v;
                        }
                    }
                }
            }
        }
    }
}

/// Runs `f` on each range in parallel; the first error wins.
fn try_for_each_range(
    ranges: Vec<std::ops::Range<usize>>,
    f: impl Fn(std::ops::Range<usize>) -> Result<()> + Sync,
) -> Result<()> {
    threads::par_map(ranges.len(), |i| f(ranges[i].clone()))
        .into_iter()
        .collect()
}

/// How a batch is processed: `tasks` parallel tasks over the samples, and gemm's own threads.
fn split_work(g: &ConvGeom) -> (usize, usize) {
    let threads = threads::num_threads();
    let total = g.macs_per_sample() * g.n;
    if threads == 1 || total < PARALLEL_MACS {
        (1, 1)
    } else if g.n >= threads {
        (threads, 1)
    } else {
        (1, threads)
    }
}

fn row_major(offset: usize, cols: usize) -> Mat {
    Mat {
        offset,
        rs: cols as isize,
        cs: 1,
    }
}

fn transposed(offset: usize, cols: usize) -> Mat {
    Mat {
        offset,
        rs: 1,
        cs: cols as isize,
    }
}

/// One sample's forward: `out_n` (`[O, P]`) from `x_n` (`[C, H, W]`).
fn forward_sample<T: CpuElement>(
    x_n: &[T],
    out_n: &mut [T],
    cols: &mut [T],
    w: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
    threads: usize,
) {
    let (og, k, p) = (g.og(), g.k(), g.p());
    let src: &[T] = if g.pointwise() {
        x_n
    } else {
        im2col(x_n, cols, g);
        cols
    };
    if let Some(b) = bias {
        for (row, &v) in out_n.chunks_mut(p.max(1)).zip(b) {
            row.fill(v);
        }
    }
    for grp in 0..g.groups {
        gemm_one(
            &mut out_n[grp * og * p..(grp + 1) * og * p],
            (og, p, k),
            w,
            row_major(grp * og * k, k),
            src,
            row_major(grp * k * p, p),
            bias.is_some(),
            threads,
        );
    }
}

/// Reinterprets a slice of `T` as f32 when `T` is f32.
fn as_f32<T: CpuElement>(s: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32 (same size, alignment and bit validity).
    (T::DTYPE == DType::F32)
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len()) })
}

/// Mutable form of [`as_f32`].
fn as_f32_mut<T: CpuElement>(s: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: T is f32 (same size, alignment and bit validity).
    (T::DTYPE == DType::F32)
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut f32, s.len()) })
}

/// Plans of the direct float32 kernels for a geometry (see `conv_direct`): the forward plan
/// (also the weight gradient's), and the stride-1 transposed plan of the input gradient. Each is
/// `None` where the direct kernels do not apply (no AVX-512, too few output channels per group
/// to fill vector lanes, a stride or padding the transposed form cannot express).
struct DirectPlans {
    forward: Option<Plan>,
    transposed: Option<Plan>,
}

/// Output channels per group below which the direct kernels waste too many lanes.
const DIRECT_MIN_CHANNELS: usize = 8;

fn direct_plans<T: CpuElement>(g: &ConvGeom) -> DirectPlans {
    if T::DTYPE != DType::F32 || !direct::available() {
        return DirectPlans {
            forward: None,
            transposed: None,
        };
    }
    let forward = (g.og() >= DIRECT_MIN_CHANNELS)
        .then(|| {
            Plan::new(
                (g.c, g.h, g.w),
                (g.og(), g.kh, g.kw),
                (g.oh, g.ow),
                g.stride,
                g.pad,
                g.dilation,
                g.groups,
            )
        })
        .filter(Plan::fits);
    // dx[c, y, x] = sum_{o,i,j} dy[o, y + pad - i*d, x + pad - j*d] * w[o, c, i, j]: a stride-1
    // convolution of dy, padded by (k-1)*d - pad, with the flipped, transposed kernel.
    let reach = [(g.kh - 1) * g.dilation[0], (g.kw - 1) * g.dilation[1]];
    let transposed = (g.stride == [1, 1]
        && g.cg() >= DIRECT_MIN_CHANNELS
        && reach[0] >= g.pad[0]
        && reach[1] >= g.pad[1])
        .then(|| {
            Plan::new(
                (g.o, g.oh, g.ow),
                (g.cg(), g.kh, g.kw),
                (g.h, g.w),
                [1, 1],
                [reach[0] - g.pad[0], reach[1] - g.pad[1]],
                g.dilation,
                g.groups,
            )
        })
        .filter(Plan::fits);
    DirectPlans {
        forward,
        transposed,
    }
}

/// Whether to run the direct kernels with one task per thread over the batch (otherwise the
/// gemm path, whose gemm is multithreaded, serves small batches of big images better).
fn direct_pays(g: &ConvGeom) -> bool {
    let (tasks, gemm_threads) = split_work(g);
    tasks > 1 || gemm_threads == 1
}

/// `conv2d(x, w) + bias` for contiguous `x` `[N, C, H, W]` and `w` `[O, C/groups, kh, kw]`; the
/// result is a contiguous `[N, O, OH, OW]`.
pub fn conv2d_forward<T: CpuElement>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
) -> Result<Buffer<T>> {
    let mut out = Buffer::<T>::uninit(g.n * g.output_len())?;
    let (in_len, out_len) = (g.input_len(), g.output_len());
    if out_len == 0 {
        return Ok(out);
    }
    if let (Some(plan), true) = (direct_plans::<T>(g).forward, direct_pays(g)) {
        if let (Some(xf), Some(wf), Some(of)) =
            (as_f32(x), as_f32(w), as_f32_mut(out.as_mut_slice()))
        {
            let bf = bias.and_then(as_f32);
            direct_forward(xf, wf, bf, of, &plan, g)?;
            return Ok(out);
        }
    }
    let cols_len = if g.pointwise() { 0 } else { g.cols_len() };
    let (tasks, gemm_threads) = split_work(g);
    if tasks == 1 {
        let mut cols = Buffer::<T>::uninit(cols_len)?;
        for (n, out_n) in out.as_mut_slice().chunks_mut(out_len).enumerate() {
            let x_n = &x[n * in_len..(n + 1) * in_len];
            forward_sample(x_n, out_n, cols.as_mut_slice(), w, bias, g, gemm_threads);
        }
        return Ok(out);
    }
    let ranges = split_ranges(g.n, tasks);
    let ptr = SyncPtr(out.as_mut_ptr());
    try_for_each_range(ranges, |r| {
        let mut cols = Buffer::<T>::uninit(cols_len)?;
        for n in r {
            // SAFETY: each sample's output block is written by exactly one task.
            let out_n = unsafe { ptr.slice(n * out_len, out_len) };
            let x_n = &x[n * in_len..(n + 1) * in_len];
            forward_sample(x_n, out_n, cols.as_mut_slice(), w, bias, g, 1);
        }
        Ok(())
    })?;
    Ok(out)
}

/// The forward pass with the direct kernels, one task per thread over the batch.
fn direct_forward(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    plan: &Plan,
    g: &ConvGeom,
) -> Result<()> {
    let wpack = direct::pack_weights(w, plan, false);
    let bias_pad = bias.map(|b| {
        let mut v = vec![0.0f32; g.groups * plan.opad];
        for grp in 0..g.groups {
            v[grp * plan.opad..grp * plan.opad + plan.og]
                .copy_from_slice(&b[grp * plan.og..(grp + 1) * plan.og]);
        }
        v
    });
    let (in_len, out_len) = (g.input_len(), g.output_len());
    let (tasks, _) = split_work(g);
    let ptr = SyncPtr(out.as_mut_ptr());
    let run = |r: std::ops::Range<usize>| -> Result<()> {
        let mut padded = Buffer::<f32>::zeros(plan.padded_len())?;
        let mut scratch = Buffer::<f32>::uninit(plan.p() * plan.opad)?;
        for n in r {
            plan.pad_input(&x[n * in_len..(n + 1) * in_len], padded.as_mut_slice());
            // SAFETY: each sample's output block is written by exactly one task; the kernels
            // are available (the plan exists) and the buffers have the plan's sizes.
            unsafe {
                let out_n = ptr.slice(n * out_len, out_len);
                direct::forward_sample(
                    plan,
                    padded.as_slice(),
                    &wpack,
                    bias_pad.as_deref(),
                    scratch.as_mut_slice(),
                    out_n,
                );
            }
        }
        Ok(())
    };
    if tasks == 1 {
        run(0..g.n)
    } else {
        try_for_each_range(split_ranges(g.n, tasks), run)
    }
}

/// Gradients of a convolution (each present when asked for).
pub struct ConvGrads<T: CpuElement> {
    pub input: Option<Buffer<T>>,
    pub weight: Option<Buffer<T>>,
    pub bias: Option<Buffer<T>>,
}

/// What the backward pass shares across tasks: the geometry, its direct plans and packed
/// (flipped) weights for the transposed plan.
struct Shared<'a, T: CpuElement> {
    g: &'a ConvGeom,
    needs: ConvNeeds,
    w: &'a [T],
    direct: DirectPlans,
    wt_pack: Vec<f32>,
}

/// Per-task scratch and partial sums of the backward pass.
struct Scratch<T: CpuElement> {
    cols: Buffer<T>,
    dcols: Buffer<T>,
    dw: Vec<T>,
    db: Vec<T>,
    /// Direct kernels: padded input, padded output gradient, transposed output gradient, and
    /// the weight gradient in `[group][tap][opad]` layout.
    xpad: Buffer<f32>,
    gpad: Buffer<f32>,
    gt: Vec<f32>,
    dwt: Vec<f32>,
    /// The transposed plan's `[pixel][channel]` results before they become `[channel][pixel]`.
    gt_dx: Vec<f32>,
}

impl<T: CpuElement> Shared<'_, T> {
    fn scratch(&self) -> Result<Scratch<T>> {
        let (g, needs) = (self.g, self.needs);
        let gemm_w = needs.weight && self.direct.forward.is_none() && !g.pointwise();
        let gemm_x = needs.input && self.direct.transposed.is_none() && !g.pointwise();
        let fwd = self.direct.forward.as_ref().filter(|_| needs.weight);
        let tr = self.direct.transposed.as_ref().filter(|_| needs.input);
        Ok(Scratch {
            cols: Buffer::<T>::uninit(if gemm_w { g.cols_len() } else { 0 })?,
            dcols: Buffer::<T>::uninit(if gemm_x { g.cols_len() } else { 0 })?,
            dw: if needs.weight && self.direct.forward.is_none() {
                vec![T::zero(); g.o * g.k()]
            } else {
                Vec::new()
            },
            db: if needs.bias {
                vec![T::zero(); g.o]
            } else {
                Vec::new()
            },
            xpad: Buffer::<f32>::zeros(fwd.map_or(0, Plan::padded_len))?,
            gpad: Buffer::<f32>::zeros(tr.map_or(0, Plan::padded_len))?,
            gt: vec![0.0; fwd.map_or(0, |p| p.p() * p.opad)],
            dwt: vec![0.0; fwd.map_or(0, |p| p.groups * p.k() * p.opad)],
            gt_dx: vec![0.0; tr.map_or(0, |p| p.p() * p.opad)],
        })
    }
}

fn backward_sample<T: CpuElement + std::ops::AddAssign>(
    sh: &Shared<'_, T>,
    gy_n: &[T],
    x_n: &[T],
    dx_n: Option<&mut [T]>,
    s: &mut Scratch<T>,
    threads: usize,
) {
    let (g, needs, w) = (sh.g, sh.needs, sh.w);
    let (og, k, p) = (g.og(), g.k(), g.p());
    if let Some(dx_n) = dx_n {
        if let (Some(plan), Some(gf), Some(dxf)) =
            (&sh.direct.transposed, as_f32(gy_n), as_f32_mut(dx_n))
        {
            plan.pad_input(gf, s.gpad.as_mut_slice());
            // SAFETY: the plan exists, so the kernels are available; sizes match the plan.
            unsafe {
                direct::forward_sample(
                    plan,
                    s.gpad.as_slice(),
                    &sh.wt_pack,
                    None,
                    &mut s.gt_dx,
                    dxf,
                )
            };
        } else if g.pointwise() {
            // dx[g] (Cg x HW) = W[g]^T (Cg x Og) @ dy[g] (Og x P), written straight into dx.
            for grp in 0..g.groups {
                gemm_one(
                    &mut dx_n[grp * k * p..(grp + 1) * k * p],
                    (k, p, og),
                    w,
                    transposed(grp * og * k, k),
                    gy_n,
                    row_major(grp * og * p, p),
                    false,
                    threads,
                );
            }
        } else {
            let dcols = s.dcols.as_mut_slice();
            for grp in 0..g.groups {
                gemm_one(
                    &mut dcols[grp * k * p..(grp + 1) * k * p],
                    (k, p, og),
                    w,
                    transposed(grp * og * k, k),
                    gy_n,
                    row_major(grp * og * p, p),
                    false,
                    threads,
                );
            }
            dx_n.fill(T::zero());
            col2im(dcols, dx_n, g);
        }
    }
    if needs.weight {
        if let (Some(plan), Some(xf), Some(gf)) = (&sh.direct.forward, as_f32(x_n), as_f32(gy_n)) {
            plan.pad_input(xf, s.xpad.as_mut_slice());
            for grp in 0..g.groups {
                // SAFETY: the plan exists, so the kernels are available; sizes match the plan.
                unsafe {
                    direct::transpose_grad(plan, gf, grp, &mut s.gt);
                    direct::weight_grad_group(plan, grp, s.xpad.as_slice(), &s.gt, &mut s.dwt);
                }
            }
        } else {
            let src: &[T] = if g.pointwise() {
                x_n
            } else {
                im2col(x_n, s.cols.as_mut_slice(), g);
                s.cols.as_slice()
            };
            for grp in 0..g.groups {
                // dW[g] (Og x K) += dy[g] (Og x P) @ cols[g]^T (P x K).
                gemm_one(
                    &mut s.dw[grp * og * k..(grp + 1) * og * k],
                    (og, k, p),
                    gy_n,
                    row_major(grp * og * p, p),
                    src,
                    transposed(grp * k * p, p),
                    true,
                    threads,
                );
            }
        }
    }
    if needs.bias {
        for (acc, row) in s.db.iter_mut().zip(gy_n.chunks(p.max(1))) {
            *acc += row_sum(row);
        }
    }
}

/// The sum of a row (vectorised for float types; the bias gradient).
fn row_sum<T: CpuElement + std::ops::AddAssign>(row: &[T]) -> T {
    match (as_f32(row), T::DTYPE) {
        (Some(r), _) => {
            let s = super::sum(r);
            T::from_f64(s as f64)
        }
        (None, DType::F64) => {
            // SAFETY: T is f64.
            let r = unsafe { std::slice::from_raw_parts(row.as_ptr() as *const f64, row.len()) };
            T::from_f64(super::sum(r))
        }
        _ => {
            let mut total = T::zero();
            for &v in row {
                total += v;
            }
            total
        }
    }
}

/// Gradients of [`conv2d_forward`] given the output gradient `gy` (`[N, O, OH, OW]`, contiguous).
/// The input `x` is needed for the weight gradient and the weight `w` for the input gradient.
/// The column matrix (gemm path) is built once per sample, only for the weight gradient.
pub fn conv2d_backward<T: CpuElement + std::ops::AddAssign>(
    gy: &[T],
    x: Option<&[T]>,
    w: Option<&[T]>,
    g: &ConvGeom,
    needs: ConvNeeds,
) -> Result<ConvGrads<T>> {
    let (in_len, out_len) = (g.input_len(), g.output_len());
    let missing = || Error::internal("conv2d backward without its operands");
    if needs.weight && x.is_none_or(|x| x.len() < g.n * in_len)
        || needs.input && w.is_none_or(|w| w.len() < g.o * g.k())
        || gy.len() < g.n * out_len
    {
        return Err(missing());
    }
    let needs = ConvNeeds {
        input: needs.input && w.is_some(),
        weight: needs.weight && x.is_some(),
        bias: needs.bias,
    };
    let (x, w) = (x.unwrap_or(&[]), w.unwrap_or(&[]));
    let mut dx = if needs.input {
        Some(Buffer::<T>::zeros(g.n * in_len)?)
    } else {
        None
    };
    let mut direct = if direct_pays(g) {
        direct_plans::<T>(g)
    } else {
        DirectPlans {
            forward: None,
            transposed: None,
        }
    };
    if !needs.weight {
        direct.forward = None;
    }
    if !needs.input {
        direct.transposed = None;
    }
    let wt_pack = match (&direct.transposed, as_f32(w)) {
        (Some(plan), Some(wf)) => direct::pack_weights(wf, plan, true),
        _ => Vec::new(),
    };
    let sh = Shared {
        g,
        needs,
        w,
        direct,
        wt_pack,
    };
    // The sample slice of x (empty when the weight gradient is not asked for).
    let x_of = |n: usize| -> &[T] {
        if needs.weight {
            &x[n * in_len..(n + 1) * in_len]
        } else {
            &[]
        }
    };
    let (tasks, gemm_threads) = split_work(g);
    let ptr = dx.as_mut().map(|d| SyncPtr(d.as_mut_ptr()));
    // The samples of `r` into one scratch (and its partial weight and bias gradients).
    let run = |r: std::ops::Range<usize>, gemm_threads: usize| -> Result<Scratch<T>> {
        let mut s = sh.scratch()?;
        for n in r {
            // SAFETY: each sample's input-gradient block is written by exactly one task.
            let dx_n = ptr.map(|p| unsafe { p.slice(n * in_len, in_len) });
            let gy_n = &gy[n * out_len..(n + 1) * out_len];
            backward_sample(&sh, gy_n, x_of(n), dx_n, &mut s, gemm_threads);
        }
        Ok(s)
    };
    let partials: Vec<Scratch<T>> = if tasks == 1 || out_len == 0 {
        vec![run(0..g.n, gemm_threads)?]
    } else {
        let ranges = split_ranges(g.n, tasks);
        threads::par_map(ranges.len(), |i| run(ranges[i].clone(), 1))
            .into_iter()
            .collect::<Result<Vec<_>>>()?
    };
    let w_len = g.o * g.k();
    let weight = if needs.weight {
        let mut out = Buffer::<T>::zeros(w_len)?;
        let o = out.as_mut_slice();
        for part in &partials {
            match (&sh.direct.forward, as_f32_mut(o)) {
                (Some(plan), Some(of)) => direct::unpack_weight_grad(plan, &part.dwt, of),
                _ => {
                    for (d, &v) in o.iter_mut().zip(&part.dw) {
                        *d += v;
                    }
                }
            }
        }
        Some(out)
    } else {
        None
    };
    let bias = if needs.bias {
        let mut out = Buffer::<T>::zeros(g.o)?;
        for part in &partials {
            for (d, &v) in out.as_mut_slice().iter_mut().zip(&part.db) {
                *d += v;
            }
        }
        Some(out)
    } else {
        None
    };
    Ok(ConvGrads {
        input: dx,
        weight,
        bias,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(h: usize, w: usize, k: usize, stride: usize, pad: usize, dil: usize) -> ConvGeom {
        let out = |n: usize| (n + 2 * pad - dil * (k - 1) - 1) / stride + 1;
        ConvGeom {
            n: 1,
            c: 1,
            h,
            w,
            o: 1,
            kh: k,
            kw: k,
            oh: out(h),
            ow: out(w),
            stride: [stride; 2],
            pad: [pad; 2],
            dilation: [dil; 2],
            groups: 1,
        }
    }

    /// im2col by the definition, one element at a time.
    fn naive_im2col(x: &[f64], g: &ConvGeom) -> Vec<f64> {
        let mut cols = vec![0.0; g.k() * g.p()];
        for c in 0..g.c {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let row = (c * g.kh + i) * g.kw + j;
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let iy =
                                (oy * g.stride[0] + i * g.dilation[0]) as isize - g.pad[0] as isize;
                            let ix =
                                (ox * g.stride[1] + j * g.dilation[1]) as isize - g.pad[1] as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                cols[row * g.p() + oy * g.ow + ox] =
                                    x[(c * g.h + iy as usize) * g.w + ix as usize];
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    #[test]
    fn valid_ranges() {
        // stride 1, shift -1 (pad 1): output 0 reads -1 (invalid), outputs 1..=5 read 0..=4.
        assert_eq!(valid_range(-1, 1, 5, 5), (1, 5));
        assert_eq!(valid_range(1, 1, 5, 5), (0, 4));
        // stride 2, shift -1: output o reads 2o-1; valid for o = 1, 2 (reads 1, 3) when len 4.
        assert_eq!(valid_range(-1, 2, 4, 3), (1, 3));
        assert_eq!(valid_range(-7, 2, 4, 3), (3, 3));
        assert_eq!(valid_range(9, 1, 4, 3), (0, 0));
    }

    #[test]
    fn im2col_matches_the_definition() {
        for &(h, w, k, s, p, d) in &[
            (5, 6, 3, 1, 1, 1),
            (7, 5, 3, 2, 1, 1),
            (6, 6, 2, 2, 0, 1),
            (8, 7, 3, 1, 2, 2),
            (5, 5, 1, 3, 0, 1),
            (4, 9, 3, 3, 1, 2),
        ] {
            let g = geom(h, w, k, s, p, d);
            let x: Vec<f64> = (0..h * w).map(|v| v as f64 + 1.0).collect();
            let mut cols = vec![f64::NAN; g.k() * g.p()];
            im2col(&x, &mut cols, &g);
            assert_eq!(cols, naive_im2col(&x, &g), "{g:?}");
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for arbitrary x and c.
        for &(h, w, k, s, p, d) in &[(5, 6, 3, 1, 1, 1), (7, 5, 3, 2, 1, 1), (8, 7, 3, 2, 2, 2)] {
            let g = geom(h, w, k, s, p, d);
            let x: Vec<f64> = (0..h * w).map(|v| ((v * 7) % 11) as f64 - 5.0).collect();
            let c: Vec<f64> = (0..g.k() * g.p())
                .map(|v| ((v * 5) % 13) as f64 - 6.0)
                .collect();
            let mut cols = vec![0.0; c.len()];
            im2col(&x, &mut cols, &g);
            let mut back = vec![0.0; x.len()];
            col2im(&c, &mut back, &g);
            let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "{g:?}");
        }
    }

    #[test]
    fn forward_matches_direct_convolution() {
        // Two groups, bias, stride 2, padding 1, on 2 samples.
        let g = ConvGeom {
            n: 2,
            c: 4,
            h: 5,
            w: 6,
            o: 6,
            kh: 3,
            kw: 2,
            oh: 3,
            ow: 4,
            stride: [2, 2],
            pad: [1, 1],
            dilation: [1, 1],
            groups: 2,
        };
        let x: Vec<f64> = (0..g.n * g.c * g.h * g.w)
            .map(|v| ((v * 37) % 17) as f64 - 8.0)
            .collect();
        let w: Vec<f64> = (0..g.o * g.cg() * g.kh * g.kw)
            .map(|v| ((v * 13) % 7) as f64 - 3.0)
            .collect();
        let b: Vec<f64> = (0..g.o).map(|v| v as f64 * 0.5).collect();
        let out = conv2d_forward(&x, &w, Some(&b), &g).unwrap();
        for n in 0..g.n {
            for o in 0..g.o {
                let grp = o / g.og();
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = b[o];
                        for ci in 0..g.cg() {
                            let c = grp * g.cg() + ci;
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let iy = (oy * 2 + i) as isize - 1;
                                    let ix = (ox * 2 + j) as isize - 1;
                                    if iy < 0 || ix < 0 || iy >= 5 || ix >= 6 {
                                        continue;
                                    }
                                    acc += x
                                        [((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize]
                                        * w[((o * g.cg() + ci) * g.kh + i) * g.kw + j];
                                }
                            }
                        }
                        let got = out.as_slice()[((n * g.o + o) * g.oh + oy) * g.ow + ox];
                        assert_eq!(got, acc, "n{n} o{o} ({oy},{ox})");
                    }
                }
            }
        }
    }

    /// The direct float32 kernels (AVX-512) against the gemm path in float64.
    #[test]
    fn direct_kernels_match_the_gemm_path() {
        if !direct::available() {
            return;
        }
        #[allow(clippy::type_complexity)]
        let cases: &[(
            usize,
            usize,
            usize,
            usize,
            usize,
            (usize, usize),
            [usize; 2],
            [usize; 2],
            [usize; 2],
            usize,
        )] = &[
            // (n, c, h, w, o, (kh, kw), stride, pad, dilation, groups)
            (2, 8, 7, 6, 16, (3, 3), [1, 1], [1, 1], [1, 1], 1),
            (3, 9, 6, 7, 20, (3, 2), [1, 1], [1, 0], [1, 1], 1),
            (2, 16, 9, 8, 72, (3, 3), [2, 1], [1, 2], [1, 1], 1),
            (1, 8, 10, 9, 8, (3, 3), [1, 1], [2, 2], [2, 2], 1),
            (2, 16, 6, 6, 32, (3, 3), [1, 1], [1, 1], [1, 1], 2),
            (2, 8, 5, 5, 8, (4, 4), [1, 1], [1, 1], [1, 1], 1),
            (1, 10, 5, 7, 12, (1, 1), [1, 1], [0, 0], [1, 1], 1),
            (2, 1, 9, 9, 32, (3, 3), [1, 1], [1, 1], [1, 1], 1),
        ];
        for &(n, c, h, w, o, (kh, kw), stride, pad, dilation, groups) in cases {
            let out = |len: usize, k: usize, s: usize, p: usize, d: usize| {
                (len + 2 * p - d * (k - 1) - 1) / s + 1
            };
            let g = ConvGeom {
                n,
                c,
                h,
                w,
                o,
                kh,
                kw,
                oh: out(h, kh, stride[0], pad[0], dilation[0]),
                ow: out(w, kw, stride[1], pad[1], dilation[1]),
                stride,
                pad,
                dilation,
                groups,
            };
            let val = |i: usize, m: usize| ((i * m) % 23) as f64 / 11.0 - 1.0;
            let x: Vec<f64> = (0..g.n * g.input_len()).map(|i| val(i, 7)).collect();
            let wt: Vec<f64> = (0..g.o * g.k()).map(|i| val(i, 5)).collect();
            let b: Vec<f64> = (0..g.o).map(|i| val(i, 3)).collect();
            let gy: Vec<f64> = (0..g.n * g.output_len()).map(|i| val(i, 13)).collect();
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let (xf, wf, bf, gf) = (f(&x), f(&wt), f(&b), f(&gy));
            let plans = direct_plans::<f32>(&g);
            assert!(plans.forward.is_some(), "{g:?}");
            let close = |a: &[f32], e: &[f64], what: &str| {
                assert_eq!(a.len(), e.len());
                let scale = e.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (i, (&a, &e)) in a.iter().zip(e).enumerate() {
                    assert!(
                        (a as f64 - e).abs() <= 1e-5 * scale,
                        "{what} {i}: {a} vs {e} ({g:?})"
                    );
                }
            };
            let y64 = conv2d_forward(&x, &wt, Some(&b), &g).unwrap();
            let y32 = conv2d_forward(&xf, &wf, Some(&bf), &g).unwrap();
            close(y32.as_slice(), y64.as_slice(), "y");
            let all = ConvNeeds {
                input: true,
                weight: true,
                bias: true,
            };
            let r64 = conv2d_backward(&gy, Some(&x), Some(&wt), &g, all).unwrap();
            let r32 = conv2d_backward(&gf, Some(&xf), Some(&wf), &g, all).unwrap();
            close(
                r32.input.unwrap().as_slice(),
                r64.input.unwrap().as_slice(),
                "dx",
            );
            close(
                r32.weight.unwrap().as_slice(),
                r64.weight.unwrap().as_slice(),
                "dw",
            );
            close(
                r32.bias.unwrap().as_slice(),
                r64.bias.unwrap().as_slice(),
                "db",
            );
        }
    }
}
