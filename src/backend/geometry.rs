//! The geometry of the windowed and row-wise ops, shared by every backend: shapes and
//! hyper-parameters of convolution, pooling, normalisation, loss rows and resampling, and the
//! output-size and window arithmetic PyTorch defines for them. The ops build these after their
//! argument checks; the kernels of each backend read them.

use crate::storage::Float;

// ----- convolution ------------------------------------------------------------------------------

/// Shapes and hyper-parameters of one convolution (all sizes already checked).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Output channels.
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub stride: [usize; 2],
    /// Padding before the first row / column (the padding after is implied by `oh`, `ow`).
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl ConvGeom {
    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }
    /// Output channels per group.
    pub fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of one group's column matrix (`C/groups * kh * kw`).
    pub fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Output positions per channel.
    pub fn p(&self) -> usize {
        self.oh * self.ow
    }
    pub fn input_len(&self) -> usize {
        self.c * self.h * self.w
    }
    pub fn output_len(&self) -> usize {
        self.o * self.p()
    }
    pub fn cols_len(&self) -> usize {
        self.groups * self.k() * self.p()
    }
    /// True when the input itself is the column matrix (1x1 kernel, unit stride, no padding).
    pub fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0, 0]
    }
    /// Multiply-adds of one sample's product.
    pub fn macs_per_sample(&self) -> usize {
        self.o * self.k() * self.p()
    }
}

/// Which gradients a backward pass computes.
#[derive(Copy, Clone, Debug, Default)]
pub struct ConvNeeds {
    pub input: bool,
    pub weight: bool,
    pub bias: bool,
}

// ----- pooling ----------------------------------------------------------------------------------

/// Shape and hyper-parameters of a max pooling.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MaxPoolGeom {
    /// N * C.
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
}

/// PyTorch's pooling output size (`pooling_output_shape_pad_lr` with equal padding); below 1 when
/// the input is too small (the caller reports it).
pub fn pooling_output_size(
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> i64 {
    let (i, k, p, s, d) = (
        input as i64,
        kernel as i64,
        pad as i64,
        stride as i64,
        dilation as i64,
    );
    let num = i + 2 * p - d * (k - 1) - 1 + if ceil_mode { s - 1 } else { 0 };
    let mut out = num.div_euclid(s) + 1;
    // The last window must start inside the input or the left padding.
    if ceil_mode && (out - 1) * s >= i + p {
        out -= 1;
    }
    out
}

/// One output's window along one axis: input positions `start..end`, and the factor this axis
/// contributes to the divisor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Win {
    pub start: usize,
    pub end: usize,
    pub count: usize,
}

/// Windows of avg_pool2d along one axis (PyTorch's clipping; `count` is the padded window size
/// when padding counts, else the number of real inputs).
pub fn avg_windows(
    len: usize,
    k: usize,
    stride: usize,
    pad: usize,
    out: usize,
    count_include_pad: bool,
) -> Vec<Win> {
    (0..out)
        .map(|o| {
            let start = (o * stride) as isize - pad as isize;
            let end = (start + k as isize).min((len + pad) as isize);
            let pool = (end - start).max(0) as usize;
            let s = start.max(0) as usize;
            let e = (end.min(len as isize).max(0) as usize).max(s);
            Win {
                start: s,
                end: e,
                count: if count_include_pad { pool } else { e - s },
            }
        })
        .collect()
}

/// Windows of adaptive average pooling along one axis: `floor(o*len/out)..ceil((o+1)*len/out)`.
pub fn adaptive_windows(len: usize, out: usize) -> Vec<Win> {
    (0..out)
        .map(|o| {
            let start = o * len / out;
            let end = ((o + 1) * len).div_ceil(out);
            Win {
                start,
                end,
                count: end - start,
            }
        })
        .collect()
}

/// Average pooling as per-axis windows over `planes` of `h x w`.
#[derive(Clone, Debug, PartialEq)]
pub struct AvgGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub rows: Vec<Win>,
    pub cols: Vec<Win>,
    /// A fixed divisor (avg_pool2d's divisor_override) instead of the window counts.
    pub divisor: Option<f64>,
}

// ----- normalisation and loss rows ---------------------------------------------------------------

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
    pub fn numel(&self) -> usize {
        self.n * self.c * self.s
    }
}

/// Rows of class scores: `n` samples, `c` classes, `s` positions per sample.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RowGeom {
    pub n: usize,
    pub c: usize,
    pub s: usize,
}

impl RowGeom {
    pub fn rows(&self) -> usize {
        self.n * self.s
    }
    pub fn numel(&self) -> usize {
        self.n * self.c * self.s
    }
}

/// Options shared by the cross-entropy kernels.
#[derive(Copy, Clone, Debug)]
pub struct CeOptions {
    pub ignore_index: i64,
    pub label_smoothing: f64,
}

// ----- resampling -------------------------------------------------------------------------------

/// The input taps of one output position along one axis.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub l0: f64,
    pub l1: f64,
}

/// Nearest-neighbour source indices (PyTorch's `nearest_idx`, computed in float32 as it does).
pub fn nearest_taps(input: usize, output: usize, scale: Option<f64>) -> Vec<Tap> {
    (0..output)
        .map(|o| {
            let i = if output == input {
                o
            } else if output == 2 * input {
                o >> 1
            } else {
                let s: f32 = match scale {
                    Some(s) if s > 0.0 => (1.0 / s) as f32,
                    _ => input as f32 / output as f32,
                };
                ((o as f32 * s).floor() as usize).min(input.saturating_sub(1))
            };
            Tap {
                i0: i,
                i1: i,
                l0: 1.0,
                l1: 0.0,
            }
        })
        .collect()
}

/// Bilinear taps (PyTorch's `area_pixel_compute_scale` / `compute_source_index_and_lambda`),
/// computed in the element type `T` as PyTorch does.
pub fn linear_taps<T: Float>(
    input: usize,
    output: usize,
    align_corners: bool,
    scale: Option<f64>,
) -> Vec<Tap> {
    let ratio: T = if align_corners {
        if output > 1 {
            T::from_f64((input - 1) as f64) / T::from_f64((output - 1) as f64)
        } else {
            T::zero()
        }
    } else {
        match scale {
            Some(s) if s > 0.0 => T::from_f64(1.0 / s),
            _ => T::from_f64(input as f64) / T::from_f64(output as f64),
        }
    };
    (0..output)
        .map(|o| {
            if output == input {
                return Tap {
                    i0: o,
                    i1: o,
                    l0: 1.0,
                    l1: 0.0,
                };
            }
            let real = if align_corners {
                ratio * T::from_f64(o as f64)
            } else {
                let r = ratio * (T::from_f64(o as f64) + T::from_f64(0.5)) - T::from_f64(0.5);
                if r < T::zero() {
                    T::zero()
                } else {
                    r
                }
            };
            let i0 = (real.floor().to_f64() as usize).min(input - 1);
            let l1 = (real - T::from_f64(i0 as f64))
                .max_val(T::zero())
                .min_val(T::one());
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            Tap {
                i0,
                i1,
                l0: (T::one() - l1).to_f64(),
                l1: l1.to_f64(),
            }
        })
        .collect()
}

/// Resampling geometry: `planes` of `h x w` to `rows.len() x cols.len()`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResampleGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub rows: Vec<Tap>,
    pub cols: Vec<Tap>,
    /// One tap per axis (nearest): a plain gather.
    pub nearest: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_pytorch() {
        // floor mode
        assert_eq!(pooling_output_size(9, 2, 0, 2, 1, false), 4);
        assert_eq!(pooling_output_size(10, 3, 1, 2, 1, false), 5);
        // ceil mode adds a partial window...
        assert_eq!(pooling_output_size(9, 3, 0, 2, 1, true), 4);
        assert_eq!(pooling_output_size(10, 3, 0, 2, 1, true), 5);
        // ...unless it would start in the right padding.
        assert_eq!(pooling_output_size(9, 2, 1, 2, 1, true), 5);
        assert_eq!(pooling_output_size(10, 2, 1, 2, 1, true), 6);
        assert_eq!(pooling_output_size(5, 2, 1, 2, 1, true), 3);
        // dilation
        assert_eq!(pooling_output_size(10, 3, 0, 1, 2, false), 6);
        // too small
        assert_eq!(pooling_output_size(1, 3, 0, 1, 1, false), -1);
    }

    #[test]
    fn nearest_indices() {
        let idx = |i, o, s| -> Vec<usize> { nearest_taps(i, o, s).iter().map(|t| t.i0).collect() };
        assert_eq!(idx(4, 8, None), vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(idx(3, 7, None), vec![0, 0, 0, 1, 1, 2, 2]);
        assert_eq!(idx(8, 3, None), vec![0, 2, 5]);
        // A given scale factor decides the source index (not in / out).
        assert_eq!(idx(5, 7, Some(1.5)), vec![0, 0, 1, 2, 2, 3, 4]);
    }

    #[test]
    fn bilinear_taps_half_pixel_and_corners() {
        let t = linear_taps::<f64>(2, 4, false, None);
        // src = 0.5 * (o + 0.5) - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 -> (1, 1).
        assert_eq!((t[0].i0, t[0].i1, t[0].l1), (0, 1, 0.0));
        assert_eq!((t[1].i0, t[1].l1), (0, 0.25));
        assert_eq!((t[2].i0, t[2].l1), (0, 0.75));
        assert_eq!((t[3].i0, t[3].i1), (1, 1));
        let t = linear_taps::<f64>(3, 5, true, None);
        assert_eq!((t[1].i0, t[1].l1), (0, 0.5));
        assert_eq!((t[4].i0, t[4].i1, t[4].l1), (2, 2, 0.0));
    }

    #[test]
    fn avg_windows_count_padding_as_asked() {
        let w = avg_windows(9, 3, 2, 1, 5, true);
        assert_eq!(
            w[0],
            Win {
                start: 0,
                end: 2,
                count: 3
            }
        );
        assert_eq!(
            w[4],
            Win {
                start: 7,
                end: 9,
                count: 3
            }
        );
        let w = avg_windows(9, 3, 2, 1, 5, false);
        assert_eq!(w[0].count, 2);
        // ceil mode: the last window hangs over the end (padded size limited to len + pad).
        let w = avg_windows(10, 3, 2, 0, 5, true);
        assert_eq!(
            w[4],
            Win {
                start: 8,
                end: 10,
                count: 2
            }
        );
    }

    #[test]
    fn adaptive_windows_overlap_like_pytorch() {
        let w = adaptive_windows(10, 3);
        assert_eq!(
            w,
            vec![
                Win {
                    start: 0,
                    end: 4,
                    count: 4
                },
                Win {
                    start: 3,
                    end: 7,
                    count: 4
                },
                Win {
                    start: 6,
                    end: 10,
                    count: 4
                },
            ]
        );
        assert_eq!(
            adaptive_windows(9, 1),
            vec![Win {
                start: 0,
                end: 9,
                count: 9
            }]
        );
    }
}
