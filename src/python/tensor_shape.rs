//! Tensor methods: views, reshapes, permutations, splits and copies.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::convert;
use super::memory_format;
use super::tensor::PyTensor;
use super::{compute, IntoPy};

type R = PyResult<PyTensor>;

#[pymethods]
impl PyTensor {
    // ----- views and shapes ----------------------------------------------------------------------

    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> R {
        if shape.len() == 1 {
            if let Ok(Some(d)) = convert::dtype(Some(&shape.get_item(0)?)) {
                if d != self.t.dtype() {
                    return Err(PyRuntimeError::new_err(
                        "view(dtype) is only supported for the tensor's own dtype",
                    ));
                }
                return Ok(self.t.clone().into());
            }
        }
        Ok(self.t.view(&convert::shape_args(shape)?).py()?.into())
    }
    fn view_as(&self, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        let s: Vec<i64> = o.shape().iter().map(|&d| d as i64).collect();
        Ok(self.t.view(&s).py()?.into())
    }
    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.reshape(&convert::shape_args(shape)?).py()?.into())
    }
    fn reshape_as(&self, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(self.t.reshape_dims(&o.shape()).py()?.into())
    }
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.permute(&convert::shape_args(dims)?).py()?.into())
    }
    fn transpose(&self, dim0: i64, dim1: i64) -> R {
        Ok(self.t.transpose(dim0, dim1).py()?.into())
    }
    fn swapaxes(&self, axis0: i64, axis1: i64) -> R {
        self.transpose(axis0, axis1)
    }
    fn t(&self) -> R {
        Ok(self.t.t().py()?.into())
    }
    #[getter(T)]
    fn big_t(&self) -> R {
        let n = self.t.ndim() as i64;
        let perm: Vec<i64> = (0..n).rev().collect();
        Ok(self.t.permute(&perm).py()?.into())
    }
    #[getter(mT)]
    fn matrix_t(&self) -> R {
        if self.t.ndim() < 2 {
            return Err(PyRuntimeError::new_err(
                "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.",
            ));
        }
        Ok(self.t.transpose(-2, -1).py()?.into())
    }
    #[pyo3(signature = (*sizes))]
    fn expand(&self, sizes: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.expand(&convert::shape_args(sizes)?).py()?.into())
    }
    fn expand_as(&self, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(self.t.broadcast_to(&o.shape()).py()?.into())
    }
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> R {
        let dims = convert::dims(dim)?;
        if dims.is_empty() {
            return Ok(self.t.squeeze(None).py()?.into());
        }
        let nd = self.t.ndim();
        let mut ds: Vec<usize> = dims
            .iter()
            .map(|&d| crate::tensor::normalize_dim(d, nd))
            .collect::<crate::Result<_>>()
            .py()?;
        ds.sort_unstable();
        let mut out = self.t.clone();
        for &d in ds.iter().rev() {
            out = out.squeeze(Some(d as i64)).py()?;
        }
        Ok(out.into())
    }
    fn unsqueeze(&self, dim: i64) -> R {
        Ok(self.t.unsqueeze(dim).py()?.into())
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: i64, end_dim: i64) -> R {
        Ok(self.t.flatten(start_dim, end_dim).py()?.into())
    }
    fn unflatten(&self, dim: i64, sizes: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .unflatten(dim, &convert::int_list(sizes, "sizes")?)
            .py()?
            .into())
    }
    fn narrow(&self, dim: i64, start: i64, length: usize) -> R {
        Ok(self.t.narrow(dim, start, length).py()?.into())
    }
    fn select(&self, dim: i64, index: i64) -> R {
        Ok(self.t.select(dim, index).py()?.into())
    }
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split<'py>(
        &self,
        py: Python<'py>,
        split_size_or_sections: &Bound<'py, PyAny>,
        dim: i64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let parts = if split_size_or_sections.is_instance_of::<pyo3::types::PyInt>() {
            self.t
                .split(split_size_or_sections.extract::<usize>()?, dim)
                .py()?
        } else {
            let sizes: Vec<usize> =
                convert::sizes(&convert::int_list(split_size_or_sections, "split_sizes")?)?;
            self.t.split_sizes(&sizes, dim).py()?
        };
        PyTuple::new(py, parts.into_iter().map(PyTensor::from))
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk<'py>(
        &self,
        py: Python<'py>,
        chunks: usize,
        dim: i64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            self.t
                .chunk(chunks, dim)
                .py()?
                .into_iter()
                .map(PyTensor::from),
        )
    }
    #[pyo3(signature = (dim=0))]
    fn unbind<'py>(&self, py: Python<'py>, dim: i64) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.t.unbind(dim).py()?.into_iter().map(PyTensor::from))
    }
    #[pyo3(signature = (*sizes))]
    fn repeat(&self, sizes: &Bound<'_, PyTuple>) -> R {
        let r = convert::sizes(&convert::shape_args(sizes)?)?;
        Ok(self.t.repeat(&r).py()?.into())
    }
    #[pyo3(signature = (*dims))]
    fn flip(&self, dims: &Bound<'_, PyTuple>) -> R {
        Ok(self.t.flip(&convert::shape_args(dims)?).py()?.into())
    }
    #[pyo3(signature = (memory_format=None))]
    fn contiguous(&self, memory_format: Option<&Bound<'_, PyAny>>) -> R {
        memory_format::check(memory_format, "contiguous", self.t.ndim())?;
        Ok(self.t.contiguous().py()?.into())
    }
    #[pyo3(signature = (*, memory_format=None))]
    fn clone(&self, py: Python<'_>, memory_format: Option<&Bound<'_, PyAny>>) -> R {
        memory_format::check(memory_format, "clone", self.t.ndim())?;
        Ok(compute(py, self.work(), || self.t.copy()).py()?.into())
    }
}
