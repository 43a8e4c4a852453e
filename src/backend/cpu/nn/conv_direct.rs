//! Direct float32 convolution with AVX-512: no column matrix, no gemm packing.
//!
//! Every product a convolution needs has the form
//! `acc[o][t] += sum_it A[it][o] * B[iter_off[it] + col_off[t]]`: 16 output channels per vector
//! (`o`, up to 4 vectors = 64 channels) times 6 or 8 columns `t` per register tile (up to
//! 24 accumulators; more columns would run out of general registers for their offsets), and `B` a zero-padded input read at precomputed offsets:
//! - forward: `it` runs over kernel taps `k = (c, i, j)` (`iter_off[k]` the tap's offset in the
//!   padded input, `A` the packed weights `[k][o]`), columns are output pixels (`col_off[t]` the
//!   pixel's offset);
//! - weight gradient: `it` runs over output pixels (`A` the output gradient transposed to
//!   `[p][o]`), columns are kernel taps;
//! - input gradient (stride 1): the forward form applied to the padded output gradient with the
//!   flipped, transposed weights.
//!
//! Stride and dilation only change the offset tables. Results of the forward form are written
//! as `[pixel][channel]` and transposed to `[channel][pixel]` by 16x16 register blocks. The
//! caller checks [`available`] first.

/// f32 lanes per vector.
const LANES: usize = 16;

/// True when the CPU runs AVX-512F (never on other architectures).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A convolution over zero-padded input planes, as the kernels see it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Input channels, height and width.
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    /// Padding before the first row / column (the padded planes cover every position read).
    pub pad: [usize; 2],
    pub hp: usize,
    pub wp: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub groups: usize,
    /// Input channels per group.
    pub cg: usize,
    /// Output channels per group, and that rounded up to whole vectors.
    pub og: usize,
    pub opad: usize,
    /// Offset of each kernel tap `(c, i, j)` of a group within its padded planes.
    pub taps: Vec<isize>,
    /// Offset of each output pixel's window origin in the padded plane.
    pub pixels: Vec<isize>,
}

impl Plan {
    /// The plan of a convolution with `groups` groups mapping `cin` channels of `h x w` to
    /// `groups * og` channels of `oh x ow`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (cin, h, w): (usize, usize, usize),
        (og, kh, kw): (usize, usize, usize),
        (oh, ow): (usize, usize),
        stride: [usize; 2],
        pad: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Plan {
        let reach = |o: usize, s: usize, k: usize, d: usize| (o.max(1) - 1) * s + (k - 1) * d + 1;
        let hp = (pad[0] + h).max(reach(oh, stride[0], kh, dilation[0]));
        let wp = (pad[1] + w).max(reach(ow, stride[1], kw, dilation[1]));
        let cg = cin / groups;
        let mut taps = Vec::with_capacity(cg * kh * kw);
        for c in 0..cg {
            for i in 0..kh {
                for j in 0..kw {
                    taps.push((c * hp * wp + i * dilation[0] * wp + j * dilation[1]) as isize);
                }
            }
        }
        let mut pixels = Vec::with_capacity(oh * ow);
        for y in 0..oh {
            for x in 0..ow {
                pixels.push((y * stride[0] * wp + x * stride[1]) as isize);
            }
        }
        Plan {
            cin,
            h,
            w,
            pad,
            hp,
            wp,
            kh,
            kw,
            oh,
            ow,
            groups,
            cg,
            og,
            opad: og.div_ceil(LANES) * LANES,
            taps,
            pixels,
        }
    }

    /// Kernel taps per group.
    pub fn k(&self) -> usize {
        self.taps.len()
    }
    /// Output pixels per channel.
    pub fn p(&self) -> usize {
        self.pixels.len()
    }
    /// Length of the padded input of one sample.
    pub fn padded_len(&self) -> usize {
        self.cin * self.hp * self.wp
    }
    /// Length of one sample's output.
    pub fn output_len(&self) -> usize {
        self.groups * self.og * self.p()
    }
    /// Whether the kernels may run this plan (scatter indices fit in i32).
    pub fn fits(&self) -> bool {
        self.output_len() < i32::MAX as usize && self.padded_len() < isize::MAX as usize / 4
    }

    /// Copies one sample `[cin, h, w]` into the interior of `padded` (borders stay as they
    /// are: zero, when the buffer was zeroed once).
    pub fn pad_input(&self, x: &[f32], padded: &mut [f32]) {
        let (hw, phw) = (self.h * self.w, self.hp * self.wp);
        assert!(x.len() >= self.cin * hw && padded.len() >= self.padded_len());
        for c in 0..self.cin {
            let src = &x[c * hw..(c + 1) * hw];
            let dst = &mut padded[c * phw..(c + 1) * phw];
            let first = self.pad[0] * self.wp + self.pad[1];
            #[cfg(target_arch = "x86_64")]
            if available() {
                // SAFETY: AVX-512F is present; the `h` rows of `w` floats lie inside `src` and,
                // `wp` apart from `first` on, inside `dst` (the plan's padded plane).
                unsafe {
                    avx512::copy_rows(
                        src.as_ptr(),
                        dst.as_mut_ptr().add(first),
                        self.h,
                        self.w,
                        self.wp,
                    )
                };
                continue;
            }
            for y in 0..self.h {
                let d = first + y * self.wp;
                dst[d..d + self.w].copy_from_slice(&src[y * self.w..(y + 1) * self.w]);
            }
        }
    }
}

/// Packs weights `[groups*og, cg, kh, kw]` as `[group][tap][opad]` (zero lanes past `og`).
/// With `flip`, packs the weights of the transposed convolution instead: `w` is
/// `[groups*cg_t, og_t, kh, kw]` read as `[group][tap = (o, kh-1-i, kw-1-j)][c]`.
pub fn pack_weights(w: &[f32], plan: &Plan, flip: bool) -> Vec<f32> {
    let (k, opad, og, cg) = (plan.k(), plan.opad, plan.og, plan.cg);
    let khw = plan.kh * plan.kw;
    let mut out = vec![0.0f32; plan.groups * k * opad];
    for g in 0..plan.groups {
        for o in 0..og {
            for c in 0..cg {
                for i in 0..plan.kh {
                    for j in 0..plan.kw {
                        let tap = (c * plan.kh + i) * plan.kw + j;
                        let src = if flip {
                            // Transposed: this plan's input channel c is the original output
                            // channel, its output channel o the original input channel.
                            let (fi, fj) = (plan.kh - 1 - i, plan.kw - 1 - j);
                            ((g * cg + c) * og + o) * khw + fi * plan.kw + fj
                        } else {
                            ((g * og + o) * cg + c) * khw + i * plan.kw + j
                        };
                        out[(g * k + tap) * opad + o] = w[src];
                    }
                }
            }
        }
    }
    out
}

/// Forward (or transposed-forward) convolution of one sample: `padded` holds the sample's
/// padded input, `out` receives `[groups*og, oh, ow]`; `scratch` holds `p * opad` floats.
///
/// # Safety
/// [`available`] must be true; the buffers must have the plan's sizes.
pub unsafe fn forward_sample(
    plan: &Plan,
    padded: &[f32],
    wpack: &[f32],
    bias: Option<&[f32]>,
    scratch: &mut [f32],
    out: &mut [f32],
) {
    debug_assert!(padded.len() >= plan.padded_len() && out.len() >= plan.output_len());
    debug_assert!(scratch.len() >= plan.p() * plan.opad);
    #[cfg(target_arch = "x86_64")]
    avx512::forward_sample(plan, padded, wpack, bias, scratch, out);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (plan, padded, wpack, bias, scratch, out);
}

/// Transposes one group's output gradient `[og, p]` (rows of `gy`) into `gt` `[p][opad]`.
///
/// # Safety
/// [`available`] must be true; `gt` must hold `p * opad` floats.
pub unsafe fn transpose_grad(plan: &Plan, gy: &[f32], g: usize, gt: &mut [f32]) {
    let (p, og, opad) = (plan.p(), plan.og, plan.opad);
    debug_assert!(gy.len() >= (g + 1) * og * p && gt.len() >= p * opad);
    #[cfg(target_arch = "x86_64")]
    avx512::transpose(gy.as_ptr().add(g * og * p), og, p, p, gt.as_mut_ptr(), opad);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (gy, g, gt, p, og, opad);
}

/// Adds one sample's weight gradient to `dwt` (`[group][tap][opad]`): `padded` holds the
/// sample's padded input, `gt` its output gradient transposed by [`transpose_grad`] for group
/// `g` (call once per group).
///
/// # Safety
/// [`available`] must be true; buffers must have the plan's sizes.
pub unsafe fn weight_grad_group(
    plan: &Plan,
    g: usize,
    padded: &[f32],
    gt: &[f32],
    dwt: &mut [f32],
) {
    debug_assert!(gt.len() >= plan.p() * plan.opad);
    debug_assert!(dwt.len() >= plan.groups * plan.k() * plan.opad);
    #[cfg(target_arch = "x86_64")]
    avx512::weight_grad_group(plan, g, padded, gt, dwt);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (plan, g, padded, gt, dwt);
}

// The AVX-512 intrinsics are stable since Rust 1.89, above the crate's declared rust-version
// (1.85): building this module needs 1.89 (reported for the lead to raise rust-version).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod avx512 {
    use super::{Plan, LANES};
    use std::arch::x86_64::*;

    type Acc<const NV: usize, const C: usize> = [[__m512; C]; NV];

    /// Bytes of the streamed operand per block: a quarter of a 1 MiB L2. Streamed
    /// in order, it arrives from L2 as fast as from L1, while every block boundary costs a
    /// store and reload of all partial sums: at the seed's conv2 (72 KiB of weights), 16 KiB
    /// blocks measured 3-4% slower than none on Zen 4, and no different on Emerald Rapids.
    const BLOCK_BYTES: usize = 256 * 1024;

    /// `acc[v][t] += sum_{it < n} A[it * a_step + 16 v ..][lanes] * B[iter_off[it] + col[t]]`.
    ///
    /// # Safety
    /// Every address read must lie in the buffers behind `a` and `b`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const NV: usize, const C: usize>(
        mut acc: Acc<NV, C>,
        n: usize,
        a: *const f32,
        a_step: usize,
        b: *const f32,
        iter_off: *const isize,
        col: &[isize; C],
    ) -> Acc<NV, C> {
        let mut a = a;
        let (mut off, end) = (iter_off, iter_off.add(n));
        while off < end {
            let pb = b.offset(*off);
            off = off.add(1);
            let mut av = [_mm512_setzero_ps(); NV];
            for (v, r) in av.iter_mut().enumerate() {
                *r = _mm512_loadu_ps(a.add(v * LANES));
            }
            for t in 0..C {
                let bt = _mm512_set1_ps(*pb.offset(col[t]));
                for v in 0..NV {
                    acc[v][t] = _mm512_fmadd_ps(av[v], bt, acc[v][t]);
                }
            }
            a = a.add(a_step);
        }
        acc
    }

    /// Column offsets of the tile starting at `start` (past the end: repeats of the last valid
    /// one, computed but never stored), and how many are valid.
    fn columns<const C: usize>(table: &[isize], start: usize) -> ([isize; C], usize) {
        let valid = (table.len() - start).min(C);
        let mut col = [table[start]; C];
        col[..valid].copy_from_slice(&table[start..start + valid]);
        (col, valid)
    }

    /// Copies `rows` rows of `w` floats, packed in `src`, to rows `dst_stride` apart at `dst`:
    /// 16 floats per masked move, where a memcpy call per short row would cost more.
    ///
    /// # Safety
    /// Both regions must lie in their buffers.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn copy_rows(
        src: *const f32,
        dst: *mut f32,
        rows: usize,
        w: usize,
        dst_stride: usize,
    ) {
        for y in 0..rows {
            let (s, d) = (src.add(y * w), dst.add(y * dst_stride));
            for x in (0..w).step_by(LANES) {
                let m = lanes(w - x);
                _mm512_mask_storeu_ps(d.add(x), m, _mm512_maskz_loadu_ps(m, s.add(x)));
            }
        }
    }

    /// Lanes `0..n` of a mask.
    fn lanes(n: usize) -> __mmask16 {
        if n >= LANES {
            u16::MAX
        } else {
            (1u16 << n) - 1
        }
    }

    /// `dst[c * dst_stride + r] = src[r * src_stride + c]` for `r < rows`, `c < cols`, by
    /// 16x16 blocks transposed in registers.
    ///
    /// # Safety
    /// Both regions must lie in their buffers.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn transpose(
        src: *const f32,
        rows: usize,
        cols: usize,
        src_stride: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        for r0 in (0..rows).step_by(LANES) {
            let nr = (rows - r0).min(LANES);
            for c0 in (0..cols).step_by(LANES) {
                let nc = (cols - c0).min(LANES);
                let mut m = [_mm512_setzero_ps(); LANES];
                for (i, row) in m.iter_mut().enumerate().take(nr) {
                    *row = _mm512_maskz_loadu_ps(lanes(nc), src.add((r0 + i) * src_stride + c0));
                }
                let t = transpose16(m);
                for (j, col) in t.iter().enumerate().take(nc) {
                    _mm512_mask_storeu_ps(dst.add((c0 + j) * dst_stride + r0), lanes(nr), *col);
                }
            }
        }
    }

    /// Transposes a 16x16 block held as 16 row vectors.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn transpose16(r: [__m512; LANES]) -> [__m512; LANES] {
        // Stage 1 and 2: within 128-bit lanes, gather 4x4 blocks (u[4q + m] holds column
        // 4L + m of rows 4q..4q+4 in 128-bit lane L).
        let mut u = [_mm512_setzero_ps(); LANES];
        for q in 0..4 {
            let lo01 = _mm512_unpacklo_ps(r[4 * q], r[4 * q + 1]);
            let hi01 = _mm512_unpackhi_ps(r[4 * q], r[4 * q + 1]);
            let lo23 = _mm512_unpacklo_ps(r[4 * q + 2], r[4 * q + 3]);
            let hi23 = _mm512_unpackhi_ps(r[4 * q + 2], r[4 * q + 3]);
            let pd = |x: __m512| _mm512_castps_pd(x);
            let ps = |x: __m512d| _mm512_castpd_ps(x);
            u[4 * q] = ps(_mm512_unpacklo_pd(pd(lo01), pd(lo23)));
            u[4 * q + 1] = ps(_mm512_unpackhi_pd(pd(lo01), pd(lo23)));
            u[4 * q + 2] = ps(_mm512_unpacklo_pd(pd(hi01), pd(hi23)));
            u[4 * q + 3] = ps(_mm512_unpackhi_pd(pd(hi01), pd(hi23)));
        }
        // Stage 3 and 4: move the 128-bit lanes into place.
        let mut out = [_mm512_setzero_ps(); LANES];
        for m in 0..4 {
            let a = _mm512_shuffle_f32x4::<0x88>(u[m], u[4 + m]);
            let b = _mm512_shuffle_f32x4::<0xdd>(u[m], u[4 + m]);
            let c = _mm512_shuffle_f32x4::<0x88>(u[8 + m], u[12 + m]);
            let d = _mm512_shuffle_f32x4::<0xdd>(u[8 + m], u[12 + m]);
            out[m] = _mm512_shuffle_f32x4::<0x88>(a, c);
            out[8 + m] = _mm512_shuffle_f32x4::<0xdd>(a, c);
            out[4 + m] = _mm512_shuffle_f32x4::<0x88>(b, d);
            out[12 + m] = _mm512_shuffle_f32x4::<0xdd>(b, d);
        }
        out
    }

    /// One group's output channels `oc..oc + 16 NV` for every pixel tile (forward form):
    /// partial sums in `scratch` `[p][opad]`, final values transposed into `out` `[o][p]` 16
    /// pixels at a time while they are still in L1.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_chunk<const NV: usize, const C: usize>(
        plan: &Plan,
        g: usize,
        oc: usize,
        padded: &[f32],
        wpack: &[f32],
        bias: Option<&[f32]>,
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        let (k, p, opad) = (plan.k(), plan.p(), plan.opad);
        let a = wpack.as_ptr().add(g * k * opad + oc);
        let b = padded.as_ptr().add(g * plan.cg * plan.hp * plan.wp);
        let mut init = [[_mm512_setzero_ps(); C]; NV];
        if let Some(bias) = bias {
            for (v, row) in init.iter_mut().enumerate() {
                *row = [_mm512_loadu_ps(bias.as_ptr().add(g * opad + oc + v * LANES)); C];
            }
        }
        let s = scratch.as_mut_ptr().add(oc);
        // Taps in blocks whose weights stay in L2 across all pixel tiles; partial sums wait in
        // `scratch` between blocks.
        let block = (BLOCK_BYTES / (NV * LANES * 4)).max(1);
        let last = (k.max(1) - 1) / block * block;
        let channels = (plan.og - oc).min(NV * LANES);
        let dst = out.as_mut_ptr().add((g * plan.og + oc) * p);
        for k0 in (0..k.max(1)).step_by(block) {
            let n = block.min(k - k0);
            let mut flushed = 0;
            for start in (0..p).step_by(C) {
                let (col, valid) = columns::<C>(&plan.pixels, start);
                let mut acc = init;
                if k0 > 0 {
                    for (v, row) in acc.iter_mut().enumerate() {
                        for (t, r) in row.iter_mut().enumerate().take(valid) {
                            *r = _mm512_loadu_ps(s.add((start + t) * opad + v * LANES));
                        }
                    }
                }
                let acc = tile::<NV, C>(
                    acc,
                    n,
                    a.add(k0 * opad),
                    opad,
                    b,
                    plan.taps.as_ptr().add(k0),
                    &col,
                );
                for (v, row) in acc.iter().enumerate() {
                    for (t, &value) in row.iter().enumerate().take(valid) {
                        _mm512_storeu_ps(s.add((start + t) * opad + v * LANES), value);
                    }
                }
                if k0 == last {
                    let done = start + valid;
                    while flushed < done && (done - flushed >= LANES || done == p) {
                        let rows = (done - flushed).min(LANES);
                        transpose(
                            s.add(flushed * opad),
                            rows,
                            channels,
                            opad,
                            dst.add(flushed),
                            p,
                        );
                        flushed += rows;
                    }
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn forward_sample(
        plan: &Plan,
        padded: &[f32],
        wpack: &[f32],
        bias: Option<&[f32]>,
        scratch: &mut [f32],
        out: &mut [f32],
    ) {
        for g in 0..plan.groups {
            for oc in (0..plan.opad).step_by(4 * LANES) {
                let (x, w, s) = (padded, wpack, &mut *scratch);
                match (plan.opad - oc) / LANES {
                    1 => forward_chunk::<1, 8>(plan, g, oc, x, w, bias, s, out),
                    2 => forward_chunk::<2, 8>(plan, g, oc, x, w, bias, s, out),
                    3 => forward_chunk::<3, 8>(plan, g, oc, x, w, bias, s, out),
                    _ => forward_chunk::<4, 6>(plan, g, oc, x, w, bias, s, out),
                }
            }
        }
    }

    /// One group's weight-gradient channels `oc..oc + 16 NV`, added into `dwt` `[tap][opad]`.
    #[target_feature(enable = "avx512f")]
    unsafe fn weight_chunk<const NV: usize, const C: usize>(
        plan: &Plan,
        g: usize,
        oc: usize,
        padded: &[f32],
        gt: &[f32],
        dwt: &mut [f32],
    ) {
        let (k, p, opad) = (plan.k(), plan.p(), plan.opad);
        let a = gt.as_ptr().add(oc);
        let b = padded.as_ptr().add(g * plan.cg * plan.hp * plan.wp);
        let d = dwt.as_mut_ptr().add(g * k * opad + oc);
        // Pixels in blocks whose output gradients stay in L2 across all tap tiles.
        let block = (BLOCK_BYTES / (NV * LANES * 4)).max(1);
        for p0 in (0..p).step_by(block) {
            let n = block.min(p - p0);
            for start in (0..k).step_by(C) {
                let (col, valid) = columns::<C>(&plan.taps, start);
                let zero = [[_mm512_setzero_ps(); C]; NV];
                let acc = tile::<NV, C>(
                    zero,
                    n,
                    a.add(p0 * opad),
                    opad,
                    b,
                    plan.pixels.as_ptr().add(p0),
                    &col,
                );
                for (v, row) in acc.iter().enumerate() {
                    for (t, &value) in row.iter().enumerate().take(valid) {
                        let dst = d.add((start + t) * opad + v * LANES);
                        _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), value));
                    }
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn weight_grad_group(
        plan: &Plan,
        g: usize,
        padded: &[f32],
        gt: &[f32],
        dwt: &mut [f32],
    ) {
        for oc in (0..plan.opad).step_by(4 * LANES) {
            match (plan.opad - oc) / LANES {
                1 => weight_chunk::<1, 8>(plan, g, oc, padded, gt, dwt),
                2 => weight_chunk::<2, 8>(plan, g, oc, padded, gt, dwt),
                3 => weight_chunk::<3, 8>(plan, g, oc, padded, gt, dwt),
                _ => weight_chunk::<4, 6>(plan, g, oc, padded, gt, dwt),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn transpose_blocks_and_edges() {
            if !super::super::available() {
                return;
            }
            for &(rows, cols) in &[(16, 16), (37, 21), (5, 40), (1, 1), (196, 64)] {
                let src: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
                let mut dst = vec![-1.0f32; cols * (rows + 3)];
                // SAFETY: both regions lie in their buffers; AVX-512 is available.
                unsafe { transpose(src.as_ptr(), rows, cols, cols, dst.as_mut_ptr(), rows + 3) };
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(dst[c * (rows + 3) + r], src[r * cols + c], "{rows}x{cols}");
                    }
                }
                // Padding columns of the destination are untouched.
                assert_eq!(dst[rows], -1.0);
            }
        }
    }
}

/// `dwt` (`[group][tap][opad]`) as weights `[groups*og, cg, kh, kw]`, added into `dw`.
pub fn unpack_weight_grad(plan: &Plan, dwt: &[f32], dw: &mut [f32]) {
    let (k, opad, og) = (plan.k(), plan.opad, plan.og);
    for g in 0..plan.groups {
        for tap in 0..k {
            let row = &dwt[(g * k + tap) * opad..(g * k + tap) * opad + og];
            for (o, &v) in row.iter().enumerate() {
                dw[(g * og + o) * k + tap] += v;
            }
        }
    }
}
