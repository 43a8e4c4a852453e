//! Creation: zeros, ones, full, arange, linspace, eye, rand, randn, randint, randperm.

use crate::backend::{self, Draw};
use crate::error::{ensure, Error, Result};
use crate::storage::{Buffer, CpuElement, DType, Device, Element};
use crate::tensor::layout::checked_numel;
use crate::tensor::random::{self, default_generator, Generator};
use crate::tensor::{Scalar, Tensor};
use crate::with_dtype;

fn on_device(t: Tensor, device: Device) -> Result<Tensor> {
    if device == Device::Cpu {
        Ok(t)
    } else {
        t.to_device(device)
    }
}

impl Tensor {
    /// A tensor of `shape` filled with `value`.
    pub fn full(
        shape: &[usize],
        value: impl Into<Scalar>,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        backend::check_available(device)?;
        backend::full(shape, value.into(), dtype, device)
    }

    pub fn zeros(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::full(shape, Scalar::Int(0), dtype, device)
    }

    pub fn ones(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::full(shape, Scalar::Int(1), dtype, device)
    }

    /// A zero-dimensional tensor holding `value`.
    pub fn scalar(value: impl Into<Scalar>, dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::full(&[], value, dtype, device)
    }

    /// A 1-D tensor from a Vec (float32 for f32 data, etc.).
    pub fn from_vec<T: CpuElement>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_slice(&data, shape)
    }

    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::zeros(&self.shape(), self.dtype(), self.device())
    }
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::ones(&self.shape(), self.dtype(), self.device())
    }
    pub fn full_like(&self, value: impl Into<Scalar>) -> Result<Tensor> {
        Tensor::full(&self.shape(), value, self.dtype(), self.device())
    }

    /// Values `start, start+step, ...` below `end`, as `torch.arange`.
    pub fn arange(
        start: Scalar,
        end: Scalar,
        step: Scalar,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        let (s, e, st) = (start.to_f64(), end.to_f64(), step.to_f64());
        ensure!(st != 0.0, Error::runtime("step must be nonzero"));
        ensure!(
            s.is_finite() && e.is_finite(),
            Error::runtime(format!("unsupported range: {s} -> {e}"))
        );
        ensure!(
            (st > 0.0 && e >= s) || (st < 0.0 && e <= s),
            Error::runtime("upper bound and larger bound inconsistent with step sign")
        );
        let n = ((e - s) / st).ceil() as usize;
        let t = with_dtype!(dtype, T => {
            let buf = Buffer::<T>::from_iter_exact(n, (0..n).map(|i| T::from_f64(s + i as f64 * st)))?;
            Tensor::from_buffer(buf, &[n])
        });
        on_device(t, device)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive.
    pub fn linspace(
        start: f64,
        end: f64,
        steps: usize,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        let step = if steps > 1 {
            (end - start) / (steps - 1) as f64
        } else {
            0.0
        };
        let half = steps / 2;
        // Fill from both ends, as PyTorch does, so the last value is exactly `end`.
        let value = |i: usize| {
            if i < half {
                start + step * i as f64
            } else {
                end - step * (steps - 1 - i) as f64
            }
        };
        let t = with_dtype!(dtype, T => {
            let buf = Buffer::<T>::from_iter_exact(steps, (0..steps).map(|i| T::from_f64(value(i))))?;
            Tensor::from_buffer(buf, &[steps])
        });
        on_device(t, device)
    }

    /// An `n x m` matrix with ones on the diagonal.
    pub fn eye(n: usize, m: usize, dtype: DType, device: Device) -> Result<Tensor> {
        checked_numel(&[n, m])?;
        let t = with_dtype!(dtype, T => {
            let mut buf = Buffer::<T>::zeros(n * m)?;
            let data = buf.as_mut_slice();
            for i in 0..n.min(m) {
                data[i * m + i] = T::one();
            }
            Tensor::from_buffer(buf, &[n, m])
        });
        on_device(t, device)
    }

    /// Uniform samples in [0, 1), from `generator` or the default generator.
    pub fn rand(
        shape: &[usize],
        dtype: DType,
        device: Device,
        generator: Option<&mut Generator>,
    ) -> Result<Tensor> {
        ensure!(
            dtype.is_floating_point(),
            Error::not_implemented_for("check_uniform_bounds", dtype)
        );
        random_fill(shape, dtype, device, generator, Draw::Uniform)
    }

    /// Standard normal samples (Box-Muller over Philox uniforms).
    pub fn randn(
        shape: &[usize],
        dtype: DType,
        device: Device,
        generator: Option<&mut Generator>,
    ) -> Result<Tensor> {
        ensure!(
            dtype.is_floating_point(),
            Error::not_implemented_for("normal_kernel_cpu", dtype)
        );
        random_fill(shape, dtype, device, generator, Draw::Normal)
    }

    /// Integers uniformly drawn from `low..high`.
    pub fn randint(
        low: i64,
        high: i64,
        shape: &[usize],
        dtype: DType,
        device: Device,
        generator: Option<&mut Generator>,
    ) -> Result<Tensor> {
        ensure!(
            high > low,
            Error::runtime(format!(
                "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
            ))
        );
        let range = (high as i128 - low as i128) as u128 as u64;
        let t = random_fill(
            shape,
            DType::I64,
            device,
            generator,
            Draw::Int { low, range },
        )?;
        if dtype == DType::I64 {
            Ok(t)
        } else {
            crate::autograd::no_grad(|| t.to_dtype(dtype))
        }
    }

    /// A random permutation of `0..n` (Fisher-Yates).
    pub fn randperm(
        n: usize,
        dtype: DType,
        device: Device,
        generator: Option<&mut Generator>,
    ) -> Result<Tensor> {
        let mut perm: Vec<i64> = (0..n as i64).collect();
        let (key, start) = reserve(generator, n.max(1) * 2);
        let words = random::words(key, start, n.max(1) * 2);
        for i in (1..n).rev() {
            let r = ((words[2 * i] as u64) << 32 | words[2 * i + 1] as u64) % (i as u64 + 1);
            perm.swap(i, r as usize);
        }
        let t = Tensor::from_slice(&perm, &[n])?;
        let t = if dtype == DType::I64 {
            t
        } else {
            crate::autograd::no_grad(|| t.to_dtype(dtype))?
        };
        on_device(t, device)
    }

    /// Bernoulli(1 - p) keep-mask scaled by 1 / (1 - p), for dropout.
    pub(crate) fn dropout_mask(
        shape: &[usize],
        p: f64,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
        random_fill(shape, dtype, device, None, Draw::Dropout { p, scale })
    }
}

/// A new tensor of `draw`s from `generator` (or the default one) on `device`.
fn random_fill(
    shape: &[usize],
    dtype: DType,
    device: Device,
    generator: Option<&mut Generator>,
    draw: Draw,
) -> Result<Tensor> {
    let numel = checked_numel(shape)?;
    // Check the device before drawing, so a failed call leaves the generator untouched.
    backend::check_available(device)?;
    // Storage dtypes draw in their compute dtype (the same values as it) and are rounded once.
    let wide = dtype.compute_dtype();
    let (key, start) = reserve(generator, numel * draw.words_per_value(wide));
    let data = backend::run_on!(device, B => B::random(device, numel, wide, draw, key, start));
    let drawn = backend::tensor(data, shape);
    if wide == dtype {
        Ok(drawn)
    } else {
        backend::cast(&drawn, dtype)
    }
}

fn reserve(generator: Option<&mut Generator>, words: usize) -> (u64, u64) {
    match generator {
        Some(g) => g.reserve(words),
        None => default_generator().lock().reserve(words),
    }
}
