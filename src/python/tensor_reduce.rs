//! Tensor methods: reductions (sum, mean, var, max, ...), cumulative sums and softmax.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use super::convert;
use super::tensor::PyTensor;
use super::{compute, IntoPy};
use crate::tensor::Tensor;

type R = PyResult<PyTensor>;

fn return_type<'py>(
    py: Python<'py>,
    name: &str,
    values: Tensor,
    indices: Tensor,
) -> PyResult<Bound<'py, PyAny>> {
    let cls = py.import("rustgrad.return_types")?.getattr(name)?;
    cls.call1((PyTensor::from(values), PyTensor::from(indices)))
}

#[pymethods]
impl PyTensor {
    // ----- reductions ----------------------------------------------------------------------------

    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumsum(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let dtype = convert::dtype(dtype)?;
        Ok(compute(py, self.work(), || self.t.cumsum(dim, dtype))
            .py()?
            .into())
    }

    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn sum(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let dtype = convert::dtype(dtype)?;
        let out = compute(py, self.work(), || {
            let x = match dtype {
                Some(d) => self.t.to_dtype(d)?,
                None => self.t.clone(),
            };
            x.sum_dims(&dims, keepdim)
        })
        .py()?;
        Ok(out.into())
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn mean(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let dtype = convert::dtype(dtype)?;
        let out = compute(py, self.work(), || {
            let x = match dtype {
                Some(d) => self.t.to_dtype(d)?,
                None => self.t.clone(),
            };
            x.mean_dims(&dims, keepdim)
        })
        .py()?;
        Ok(out.into())
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn prod(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let dtype = convert::dtype(dtype)?;
        let x = match dtype {
            Some(d) => self.t.to_dtype(d).py()?,
            None => self.t.clone(),
        };
        Ok(compute(py, self.work(), || x.prod_dims(&dims, keepdim))
            .py()?
            .into())
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        Ok(
            compute(py, self.work(), || self.t.var_dims(&dims, c, keepdim))
                .py()?
                .into(),
        )
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let dims = convert::dims(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        Ok(
            compute(py, self.work(), || self.t.std_dims(&dims, c, keepdim))
                .py()?
                .into(),
        )
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.extreme(py, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.extreme(py, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> R {
        Ok(compute(py, self.work(), || self.t.argmax(dim, keepdim))
            .py()?
            .into())
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, py: Python<'_>, dim: Option<i64>, keepdim: bool) -> R {
        Ok(compute(py, self.work(), || self.t.argmin(dim, keepdim))
            .py()?
            .into())
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        Ok(self.t.all_dims(&convert::dims(dim)?, keepdim).py()?.into())
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        Ok(self.t.any_dims(&convert::dims(dim)?, keepdim).py()?.into())
    }
    #[pyo3(signature = (dim, keepdim=false))]
    fn logsumexp(&self, py: Python<'_>, dim: &Bound<'_, PyAny>, keepdim: bool) -> R {
        let dims = convert::dims(Some(dim))?;
        Ok(
            compute(py, self.work(), || self.t.logsumexp(&dims, keepdim))
                .py()?
                .into(),
        )
    }
    #[pyo3(signature = (p=None, dim=None, keepdim=false))]
    fn norm(
        &self,
        p: Option<&Bound<'_, PyAny>>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> R {
        let p = match p {
            None => 2.0,
            Some(v) if v.is_none() => 2.0,
            Some(v) => match v.extract::<String>() {
                Ok(s) if s == "fro" => 2.0,
                Ok(s) => return Err(PyValueError::new_err(format!("unsupported norm type {s}"))),
                Err(_) => v.extract::<f64>()?,
            },
        };
        Ok(self.t.norm(p, &convert::dims(dim)?, keepdim).py()?.into())
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn softmax(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match convert::dtype(dtype)? {
            Some(d) => self.t.to_dtype(d).py()?,
            None => self.t.clone(),
        };
        Ok(compute(py, self.work(), || x.softmax(dim)).py()?.into())
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn log_softmax(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match convert::dtype(dtype)? {
            Some(d) => self.t.to_dtype(d).py()?,
            None => self.t.clone(),
        };
        Ok(compute(py, self.work(), || x.log_softmax(dim)).py()?.into())
    }
}

impl PyTensor {
    fn extreme<'py>(
        &self,
        py: Python<'py>,
        dim: Option<&Bound<'py, PyAny>>,
        keepdim: bool,
        want_max: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => {
                let out = if want_max { self.t.max() } else { self.t.min() };
                PyTensor::from(out.py()?).into_bound_py_any(py)
            }
            Some(d) if d.is_none() => self.extreme(py, None, keepdim, want_max),
            Some(d) => {
                if let Ok(other) = d.cast::<PyTensor>() {
                    // max(other) is maximum(self, other).
                    let o = other.get().t.clone();
                    let out = if want_max {
                        self.t.maximum(&o)
                    } else {
                        self.t.minimum(&o)
                    };
                    return PyTensor::from(out.py()?).into_bound_py_any(py);
                }
                let d: i64 = convert::int(d, "dim")?;
                let (v, i) = if want_max {
                    self.t.max_dim(d, keepdim)
                } else {
                    self.t.min_dim(d, keepdim)
                }
                .py()?;
                return_type(py, if want_max { "max" } else { "min" }, v, i)
            }
        }
    }
}
