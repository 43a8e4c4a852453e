//! interpolate: nearest and bilinear resampling of `(N, C, H, W)` input, as a linear map whose
//! backward is its adjoint.

use std::sync::Arc;

use crate::backend::geometry::{self, ResampleGeom};
use crate::backend::{run, tensor};
use crate::error::{ensure, Error, Result};
use crate::ops::nn::{apply_linear, kernel_operand, LinearMap};
use crate::storage::DType;
use crate::tensor::{Dims, Tensor};

/// Resampling modes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InterpolateMode {
    Nearest,
    Bilinear,
}

impl InterpolateMode {
    /// `"nearest"` or `"bilinear"`.
    pub fn parse(s: &str) -> Result<InterpolateMode> {
        match s {
            "nearest" => Ok(InterpolateMode::Nearest),
            "bilinear" => Ok(InterpolateMode::Bilinear),
            other => Err(Error::not_implemented(format!(
                "interpolate: mode '{other}' is not supported (rustgrad has 'nearest' and 'bilinear')"
            ))),
        }
    }
    fn name(self) -> &'static str {
        match self {
            InterpolateMode::Nearest => "nearest",
            InterpolateMode::Bilinear => "bilinear",
        }
    }
}

impl Tensor {
    /// Resizes a `(N, C, H, W)` tensor to `size`. With `scale_factor` given, source positions are
    /// computed from it (PyTorch's behaviour when `recompute_scale_factor` is not True).
    /// `align_corners` applies to bilinear only (None means False); nearest refuses it.
    pub fn interpolate(
        &self,
        size: [usize; 2],
        mode: InterpolateMode,
        align_corners: Option<bool>,
        scale_factor: Option<[f64; 2]>,
    ) -> Result<Tensor> {
        let s = self.shape();
        if mode == InterpolateMode::Nearest && align_corners.is_some() {
            return Err(Error::value(
                "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear",
            ));
        }
        if s.len() != 4 {
            return Err(Error::not_implemented(match (s.len(), mode) {
                (3 | 5, InterpolateMode::Bilinear) => {
                    format!("Got {}D input, but bilinear mode needs 4D input", s.len())
                }
                (n, m) => format!(
                    "Input Error: Only 3D, 4D and 5D input Tensors supported (got {n}D) for the modes: nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {})",
                    m.name()
                ),
            }));
        }
        let (h, w) = (s[2], s[3]);
        ensure!(
            h > 0 && w > 0 && size[0] > 0 && size[1] > 0,
            Error::runtime(format!(
                "Input and output sizes should be greater than 0, but got input (H: {h}, W: {w}) output (H: {}, W: {})",
                size[0], size[1]
            ))
        );
        ensure!(
            self.dtype().is_floating_point(),
            Error::not_implemented_for(
                match mode {
                    InterpolateMode::Nearest => "upsample_nearest2d_out_frame",
                    InterpolateMode::Bilinear => "upsample_bilinear2d_out_frame",
                },
                self.dtype()
            )
        );
        let scale = |i: usize| scale_factor.map(|f| f[i]);
        let (rows, cols) = match mode {
            InterpolateMode::Nearest => (
                geometry::nearest_taps(h, size[0], scale(0)),
                geometry::nearest_taps(w, size[1], scale(1)),
            ),
            InterpolateMode::Bilinear => {
                let ac = align_corners.unwrap_or(false);
                // Weights are computed in the element type, as PyTorch does.
                if self.dtype() == DType::F32 {
                    (
                        geometry::linear_taps::<f32>(h, size[0], ac, scale(0)),
                        geometry::linear_taps::<f32>(w, size[1], ac, scale(1)),
                    )
                } else {
                    (
                        geometry::linear_taps::<f64>(h, size[0], ac, scale(0)),
                        geometry::linear_taps::<f64>(w, size[1], ac, scale(1)),
                    )
                }
            }
        };
        let geom = ResampleGeom {
            planes: s[0] * s[1],
            h,
            w,
            rows,
            cols,
            nearest: mode == InterpolateMode::Nearest,
        };
        let out_shape: Dims = Dims::from_slice(&[s[0], s[1], size[0], size[1]]);
        apply_linear(
            ResampleMap {
                geom: Arc::new(geom),
                in_shape: s,
                out_shape,
                mode,
            },
            self,
        )
    }
}

#[derive(Clone)]
struct ResampleMap {
    geom: Arc<ResampleGeom>,
    in_shape: Dims,
    out_shape: Dims,
    mode: InterpolateMode,
}

impl ResampleMap {
    fn run(&self, t: &Tensor, forward: bool) -> Result<Tensor> {
        let tc = kernel_operand(t)?;
        let geom = &self.geom;
        let shape = if forward {
            &self.out_shape
        } else {
            &self.in_shape
        };
        let data = run!(B: x = &tc => B::resample(x, geom, forward));
        Ok(tensor(data, shape))
    }
}

impl LinearMap for ResampleMap {
    fn name(&self) -> &'static str {
        match self.mode {
            InterpolateMode::Nearest => "UpsampleNearest2DBackward0",
            InterpolateMode::Bilinear => "UpsampleBilinear2DBackward0",
        }
    }
    fn adjoint_name(&self) -> &'static str {
        match self.mode {
            InterpolateMode::Nearest => "UpsampleNearest2DBackwardBackward0",
            InterpolateMode::Bilinear => "UpsampleBilinear2DBackwardBackward0",
        }
    }
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true)
    }
    fn adjoint(&self, g: &Tensor) -> Result<Tensor> {
        self.run(g, false)
    }
}
