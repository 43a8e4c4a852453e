//! Tensor methods: `x[key]`, `x[key] = value` and the indexing ops (gather, scatter, masks, where).

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PyList, PySlice, PyTuple};
use pyo3::IntoPyObjectExt;

use super::convert::{self, Arg};
use super::tensor::PyTensor;
use super::{compute, IntoPy};
use crate::ops::index::TensorIndex;
use crate::ops::Operand;
use crate::storage::{DType, Device};
use crate::tensor::Tensor;

type R = PyResult<PyTensor>;

/// Parses a Python index (`x[key]`) into index entries.
fn parse_index(key: &Bound<'_, PyAny>) -> PyResult<Vec<TensorIndex>> {
    if let Ok(tuple) = key.cast::<PyTuple>() {
        return tuple.iter().map(|k| parse_one_index(&k)).collect();
    }
    Ok(vec![parse_one_index(key)?])
}

fn opt_i64(obj: Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if obj.is_none() {
        Ok(None)
    } else {
        convert::int(&obj, "slice indices").map(Some).map_err(|_| {
            PyTypeError::new_err(
                "slice indices must be integers or None or have an __index__ method",
            )
        })
    }
}

fn parse_one_index(k: &Bound<'_, PyAny>) -> PyResult<TensorIndex> {
    if k.is_none() {
        return Ok(TensorIndex::NewAxis);
    }
    if k.is_instance_of::<PyEllipsis>() {
        return Ok(TensorIndex::Ellipsis);
    }
    if let Ok(s) = k.cast::<PySlice>() {
        return Ok(TensorIndex::Slice {
            start: opt_i64(s.getattr("start")?)?,
            stop: opt_i64(s.getattr("stop")?)?,
            step: opt_i64(s.getattr("step")?)?,
        });
    }
    if let Ok(t) = k.cast::<PyTensor>() {
        let t = &t.get().t;
        if t.ndim() == 0 && t.dtype() == DType::I64 {
            return Ok(TensorIndex::Int(t.item().py()?.to_i64()));
        }
        return Ok(TensorIndex::Tensor(t.clone()));
    }
    if k.is_instance_of::<pyo3::types::PyBool>() {
        return Ok(TensorIndex::Tensor(
            Tensor::scalar(k.extract::<bool>()?, DType::Bool, Device::Cpu).py()?,
        ));
    }
    if let Ok(i) = convert::int(k, "index") {
        return Ok(TensorIndex::Int(i));
    }
    if k.is_instance_of::<PyList>() || k.hasattr("__array__")? {
        let t = convert::tensor_from_data(k, None)?;
        let t = if t.dtype() == DType::Bool || t.dtype() == DType::I64 || t.numel() > 0 {
            t
        } else {
            t.to_dtype(DType::I64).py()?
        };
        return Ok(TensorIndex::Tensor(t));
    }
    Err(PyIndexError::new_err(
        "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices",
    ))
}

#[pymethods]
impl PyTensor {
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> R {
        // Fast path: one integer.
        if key.is_exact_instance_of::<pyo3::types::PyInt>() {
            let i: i64 = key.extract()?;
            if self.t.ndim() == 0 {
                return Err(PyIndexError::new_err("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"));
            }
            return Ok(self.t.select(0, i).py()?.into());
        }
        let spec = parse_index(key)?;
        Ok(compute(py, self.work(), || self.t.index(&spec))
            .py()?
            .into())
    }
    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let spec = parse_index(key)?;
        let value = match convert::arg(value) {
            Some(Arg::Tensor(t)) => t,
            Some(Arg::Scalar(s)) => Tensor::scalar(s, self.t.dtype(), self.t.device()).py()?,
            None => convert::tensor_from_data(value, Some(self.t.dtype()))?,
        };
        compute(py, self.work(), || self.t.index_assign(&spec, &value)).py()
    }
    fn masked_fill_<'py>(
        slf: Bound<'py, Self>,
        mask: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        let m = convert::tensor(mask, "mask")?;
        let v = match convert::arg_or_err(value, "value")? {
            Arg::Scalar(s) => s,
            Arg::Tensor(t) => t.item().py()?,
        };
        slf.get().t.masked_fill_(&m, v).py()?;
        Ok(slf)
    }

    // ----- indexing ops --------------------------------------------------------------------------

    fn index_select(&self, dim: i64, index: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .index_select(dim, &convert::tensor(index, "index")?)
            .py()?
            .into())
    }
    fn gather(&self, dim: i64, index: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .gather(dim, &convert::tensor(index, "index")?)
            .py()?
            .into())
    }
    fn scatter(&self, dim: i64, index: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>) -> R {
        let index = convert::tensor(index, "index")?;
        let src = match convert::arg_or_err(src, "src")? {
            Arg::Tensor(t) => t,
            Arg::Scalar(s) => {
                Tensor::full(&index.shape(), s, self.t.dtype(), self.t.device()).py()?
            }
        };
        Ok(self.t.scatter(dim, &index, &src).py()?.into())
    }
    fn scatter_add(&self, dim: i64, index: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .scatter_add(
                dim,
                &convert::tensor(index, "index")?,
                &convert::tensor(src, "src")?,
            )
            .py()?
            .into())
    }
    fn index_add(&self, dim: i64, index: &Bound<'_, PyAny>, source: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .index_add(
                dim,
                &convert::tensor(index, "index")?,
                &convert::tensor(source, "source")?,
            )
            .py()?
            .into())
    }
    fn masked_fill(&self, mask: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> R {
        let m = convert::tensor(mask, "mask")?;
        let v = match convert::arg_or_err(value, "value")? {
            Arg::Scalar(s) => s,
            Arg::Tensor(t) => t.item().py()?,
        };
        Ok(self.t.masked_fill(&m, v).py()?.into())
    }
    fn masked_select(&self, mask: &Bound<'_, PyAny>) -> R {
        Ok(self
            .t
            .masked_select(&convert::tensor(mask, "mask")?)
            .py()?
            .into())
    }
    #[pyo3(signature = (*, as_tuple=false))]
    fn nonzero<'py>(&self, py: Python<'py>, as_tuple: bool) -> PyResult<Bound<'py, PyAny>> {
        let nz = self.t.nonzero().py()?;
        if as_tuple {
            let cols: Vec<PyTensor> = nz.unbind(1).py()?.into_iter().map(PyTensor::from).collect();
            return PyTuple::new(py, cols)?.into_bound_py_any(py);
        }
        PyTensor::from(nz).into_bound_py_any(py)
    }
    #[pyo3(name = "where")]
    fn where_(&self, condition: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>) -> R {
        let c = convert::tensor(condition, "condition")?;
        let o = convert::arg_or_err(other, "other")?;
        Ok(
            crate::ops::binary::where_operands(&c, Operand::Tensor(&self.t), o.operand())
                .py()?
                .into(),
        )
    }
}
