//! Tensor methods: operators, elementwise math, comparisons, matrix products and in-place
//! arithmetic.

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use super::convert::{self, Arg};
use super::tensor::PyTensor;
use super::{compute, IntoPy};
use crate::backend::{BinaryOp, UnaryOp};
use crate::ops::binary::binary_op;
use crate::ops::Operand;
use crate::storage::DType;
use crate::tensor::{Scalar, Tensor};

type R = PyResult<PyTensor>;

impl PyTensor {
    /// `op(self, other)` for operators: NotImplemented for unsupported operand types.
    fn binop(
        &self,
        py: Python<'_>,
        op: BinaryOp,
        other: &Bound<'_, PyAny>,
        reflected: bool,
    ) -> PyResult<Py<PyAny>> {
        let Some(arg) = convert::arg(other) else {
            return Ok(py.NotImplemented());
        };
        let me = Operand::Tensor(&self.t);
        let (a, b) = if reflected {
            (arg.operand(), me)
        } else {
            (me, arg.operand())
        };
        let out = compute(py, self.work(), || binary_op(op, a, b)).py()?;
        PyTensor::from(out).into_py_any(py)
    }

    /// `&`, `|`, `^`: two bool operands take the logical kernel; integers (and the errors for
    /// floats) go to the bitwise functions written in Python (`rustgrad.bitwise_and`, ...), so an
    /// integer `a & b` is bitwise, never a logical truth value.
    fn bitwise(
        slf: &Bound<'_, Self>,
        op: BinaryOp,
        name: &str,
        other: &Bound<'_, PyAny>,
        reflected: bool,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Some(arg) = convert::arg(other) else {
            return Ok(py.NotImplemented());
        };
        let other_is_bool = match &arg {
            Arg::Tensor(t) => t.dtype() == DType::Bool,
            Arg::Scalar(s) => matches!(s, Scalar::Bool(_)),
        };
        if slf.get().t.dtype() == DType::Bool && other_is_bool {
            return slf.get().binop(py, op, other, reflected);
        }
        // The three ops commute, so `1 & t` is `bitwise_and(t, 1)`.
        let out = py.import("rustgrad")?.getattr(name)?.call1((slf, other))?;
        Ok(out.unbind())
    }

    /// `self op= other` in place; returns self.
    fn inplace(slf: &Bound<'_, Self>, op: BinaryOp, other: &Bound<'_, PyAny>) -> PyResult<()> {
        inplace_arg(slf, op, convert::arg_or_err(other, "other")?)
    }

    fn unary(&self, py: Python<'_>, op: UnaryOp) -> R {
        Ok(
            compute(py, self.work(), || crate::ops::unary::unary_op(op, &self.t))
                .py()?
                .into(),
        )
    }
}

/// Scales `other` by `alpha` (for add/sub's `alpha=`), with PyTorch's checks: a number or a 0-dim
/// tensor; a bool only for bool results; no float alpha for integer operands.
fn scaled(fname: &str, this: &Tensor, arg: Arg, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<Arg> {
    let Some(alpha_obj) = alpha else {
        return Ok(arg);
    };
    let alpha = match convert::scalar(alpha_obj) {
        Some(a) => a,
        None => match alpha_obj.cast::<PyTensor>() {
            Ok(t) if t.get().t.ndim() == 0 => t.get().t.item().py()?,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "{fname}(): argument 'alpha' must be Number, not {}",
                    alpha_obj.get_type().name()?
                )))
            }
        },
    };
    let other_dtype = match &arg {
        Arg::Tensor(t) => t.dtype(),
        Arg::Scalar(s) => s.default_dtype(),
    };
    let result = crate::ops::result_type(&[Operand::Tensor(this), arg.operand()]);
    if matches!(alpha, Scalar::Bool(_)) && result != DType::Bool {
        return Err(PyRuntimeError::new_err(
            "Boolean alpha only supported for Boolean results.",
        ));
    }
    if matches!(alpha, Scalar::Float(_))
        && !this.dtype().is_floating_point()
        && !other_dtype.is_floating_point()
    {
        return Err(PyRuntimeError::new_err(
            "For integral input tensors, argument alpha must not be a floating point number.",
        ));
    }
    if alpha == Scalar::Int(1) || alpha == Scalar::Float(1.0) || alpha == Scalar::Bool(true) {
        return Ok(arg);
    }
    Ok(match arg {
        Arg::Tensor(t) => Arg::Tensor(t.mul_scalar(alpha).py()?),
        Arg::Scalar(s) => Arg::Scalar(match (s, alpha) {
            (Scalar::Int(a), Scalar::Int(b)) => Scalar::Int(a * b),
            _ => Scalar::Float(s.to_f64() * alpha.to_f64()),
        }),
    })
}

#[pymethods]
impl PyTensor {
    // ----- operators -----------------------------------------------------------------------------

    fn __add__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Add, o, false)
    }
    fn __radd__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Add, o, true)
    }
    fn __sub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Sub, o, false)
    }
    fn __rsub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Sub, o, true)
    }
    fn __mul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Mul, o, false)
    }
    fn __rmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Mul, o, true)
    }
    fn __truediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Div, o, false)
    }
    fn __rtruediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Div, o, true)
    }
    fn __floordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::FloorDivide, o, false)
    }
    fn __rfloordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::FloorDivide, o, true)
    }
    fn __mod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Remainder, o, false)
    }
    fn __rmod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Remainder, o, true)
    }
    fn __pow__(
        &self,
        py: Python<'_>,
        o: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let _ = modulo;
        if let Some(Scalar::Float(e)) = convert::scalar(o) {
            return PyTensor::from(compute(py, self.work(), || self.t.pow_scalar(e)).py()?)
                .into_py_any(py);
        }
        if let (Some(Scalar::Int(e)), true) =
            (convert::scalar(o), self.t.dtype().is_floating_point())
        {
            return PyTensor::from(compute(py, self.work(), || self.t.pow_scalar(e as f64)).py()?)
                .into_py_any(py);
        }
        self.binop(py, BinaryOp::Pow, o, false)
    }
    fn __rpow__(
        &self,
        py: Python<'_>,
        o: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let _ = modulo;
        self.binop(py, BinaryOp::Pow, o, true)
    }
    fn __matmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(other) = o.cast::<PyTensor>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get().t.clone();
        let work = self.work().max(other.numel()) * 8;
        PyTensor::from(compute(py, work, || self.t.matmul(&other)).py()?).into_py_any(py)
    }
    fn __rmatmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(other) = o.cast::<PyTensor>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get().t.clone();
        PyTensor::from(compute(py, self.work(), || other.matmul(&self.t)).py()?).into_py_any(py)
    }
    fn __and__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bitwise(slf, BinaryOp::LogicalAnd, "bitwise_and", o, false)
    }
    fn __rand__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bitwise(slf, BinaryOp::LogicalAnd, "bitwise_and", o, true)
    }
    fn __or__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bitwise(slf, BinaryOp::LogicalOr, "bitwise_or", o, false)
    }
    fn __ror__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bitwise(slf, BinaryOp::LogicalOr, "bitwise_or", o, true)
    }
    fn __xor__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bitwise(slf, BinaryOp::LogicalXor, "bitwise_xor", o, false)
    }
    fn __rxor__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::bitwise(slf, BinaryOp::LogicalXor, "bitwise_xor", o, true)
    }
    fn __eq__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Eq, o, false)
    }
    fn __ne__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ne, o, false)
    }
    fn __lt__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Lt, o, false)
    }
    fn __le__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Le, o, false)
    }
    fn __gt__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Gt, o, false)
    }
    fn __ge__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ge, o, false)
    }
    fn __iadd__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Add, o)
    }
    fn __isub__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Sub, o)
    }
    fn __imul__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Mul, o)
    }
    fn __itruediv__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        PyTensor::inplace(slf, BinaryOp::Div, o)
    }
    fn __ipow__(
        slf: &Bound<'_, Self>,
        o: &Bound<'_, PyAny>,
        modulo: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = modulo;
        PyTensor::inplace(slf, BinaryOp::Pow, o)
    }
    fn __neg__(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Neg)
    }
    fn __pos__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }
    fn __abs__(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Abs)
    }
    fn __invert__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let dtype = slf.get().t.dtype();
        if dtype.is_floating_point() {
            return Err(PyTypeError::new_err(
                "~ (operator.invert) is only implemented on integer and Boolean-type tensors",
            ));
        }
        if dtype != DType::Bool {
            // Integers: bitwise, in Python's bitwise_not.
            return Ok(py
                .import("rustgrad")?
                .getattr("bitwise_not")?
                .call1((slf,))?
                .unbind());
        }
        slf.get().unary(py, UnaryOp::LogicalNot)?.into_py_any(py)
    }

    // ----- arithmetic methods --------------------------------------------------------------------

    #[pyo3(signature = (other, *, alpha=None))]
    fn add(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        let arg = scaled("add", &self.t, convert::arg_or_err(other, "other")?, alpha)?;
        Ok(compute(py, self.work(), || {
            binary_op(BinaryOp::Add, Operand::Tensor(&self.t), arg.operand())
        })
        .py()?
        .into())
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        let arg = scaled("sub", &self.t, convert::arg_or_err(other, "other")?, alpha)?;
        Ok(compute(py, self.work(), || {
            binary_op(BinaryOp::Sub, Operand::Tensor(&self.t), arg.operand())
        })
        .py()?
        .into())
    }
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn div(&self, py: Python<'_>, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> R {
        let arg = convert::arg_or_err(other, "other")?;
        let out = compute(py, self.work(), || -> crate::Result<Tensor> {
            let q = binary_op(BinaryOp::Div, Operand::Tensor(&self.t), arg.operand())?;
            match rounding_mode {
                None => Ok(q),
                Some("floor") => binary_op(BinaryOp::FloorDivide, Operand::Tensor(&self.t), arg.operand()),
                Some("trunc") => {
                    let t = q.trunc()?;
                    let dt = crate::ops::result_type(&[Operand::Tensor(&self.t), arg.operand()]);
                    t.to_dtype(dt)
                }
                Some(other) => Err(crate::Error::value(format!(
                    "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{other}'"
                ))),
            }
        })
        .py()?;
        Ok(out.into())
    }
    fn mul(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let arg = convert::arg_or_err(other, "other")?;
        Ok(compute(py, self.work(), || {
            binary_op(BinaryOp::Mul, Operand::Tensor(&self.t), arg.operand())
        })
        .py()?
        .into())
    }
    fn pow(&self, py: Python<'_>, exponent: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__pow__(py, exponent, None)
    }
    fn true_divide(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        self.div(py, other, None)
    }
    fn floor_divide(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::FloorDivide, other, false)
    }
    fn remainder(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Remainder, other, false)
    }
    /// C's fmod: the remainder with the sign of the dividend (its gradient is PyTorch's: 1 and
    /// -trunc(self / other)).
    fn fmod(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let arg = convert::arg_or_err(other, "fmod(): argument 'other' (position 1)")?;
        Ok(compute(py, self.work(), || {
            binary_op(BinaryOp::Fmod, Operand::Tensor(&self.t), arg.operand())
        })
        .py()?
        .into())
    }
    fn maximum(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(compute(py, self.work(), || self.t.maximum(&o)).py()?.into())
    }
    fn minimum(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(compute(py, self.work(), || self.t.minimum(&o)).py()?.into())
    }
    fn eq(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Eq, o, false)
    }
    fn ne(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ne, o, false)
    }
    fn lt(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Lt, o, false)
    }
    fn le(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Le, o, false)
    }
    fn gt(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Gt, o, false)
    }
    fn ge(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::Ge, o, false)
    }
    fn logical_and(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalAnd, o, false)
    }
    fn logical_or(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalOr, o, false)
    }
    fn logical_xor(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.binop(py, BinaryOp::LogicalXor, o, false)
    }
    fn equal(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let o = convert::tensor(other, "other")?;
        if o.shape() != self.t.shape() {
            return Ok(false);
        }
        Ok(self.t.eq(&o).py()?.all_dims(&[], false).py()?.item().py()? == Scalar::Bool(true))
    }

    fn negative(&self, py: Python<'_>) -> R {
        self.unary(py, UnaryOp::Neg)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp(&self, py: Python<'_>, min: Option<f64>, max: Option<f64>) -> R {
        Ok(compute(py, self.work(), || self.t.clamp(min, max))
            .py()?
            .into())
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip(&self, py: Python<'_>, min: Option<f64>, max: Option<f64>) -> R {
        self.clamp(py, min, max)
    }
    fn clamp_min(&self, py: Python<'_>, min: f64) -> R {
        self.clamp(py, Some(min), None)
    }
    fn clamp_max(&self, py: Python<'_>, max: f64) -> R {
        self.clamp(py, None, Some(max))
    }
    /// A special function: the n-th derivative of digamma.
    fn polygamma(&self, py: Python<'_>, n: i64) -> R {
        Ok(compute(py, self.work(), || self.t.polygamma(n))
            .py()?
            .into())
    }

    // ----- matrix products -----------------------------------------------------------------------

    fn matmul(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "other")?;
        Ok(compute(py, self.work() * 8, || self.t.matmul(&o))
            .py()?
            .into())
    }
    fn mm(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "mat2")?;
        Ok(compute(py, self.work() * 8, || self.t.mm(&o)).py()?.into())
    }
    fn bmm(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "mat2")?;
        Ok(compute(py, self.work() * 8, || self.t.bmm(&o)).py()?.into())
    }
    fn dot(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> R {
        let o = convert::tensor(other, "tensor")?;
        if self.t.ndim() != 1 || o.ndim() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "1D tensors expected, but got {}D and {}D tensors",
                self.t.ndim(),
                o.ndim()
            )));
        }
        Ok(compute(py, self.work(), || self.t.matmul(&o)).py()?.into())
    }

    // ----- arithmetic in place -------------------------------------------------------------------

    #[pyo3(signature = (other, *, alpha=None))]
    fn add_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Self>> {
        let arg = scaled(
            "add_",
            &slf.get().t,
            convert::arg_or_err(other, "other")?,
            alpha,
        )?;
        inplace_arg(&slf, BinaryOp::Add, arg)?;
        Ok(slf)
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub_<'py>(
        slf: Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
        alpha: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Self>> {
        let arg = scaled(
            "sub_",
            &slf.get().t,
            convert::arg_or_err(other, "other")?,
            alpha,
        )?;
        inplace_arg(&slf, BinaryOp::Sub, arg)?;
        Ok(slf)
    }
    fn mul_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        inplace_arg(&slf, BinaryOp::Mul, convert::arg_or_err(other, "other")?)?;
        Ok(slf)
    }
    fn div_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        inplace_arg(&slf, BinaryOp::Div, convert::arg_or_err(other, "other")?)?;
        Ok(slf)
    }
    fn pow_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        inplace_arg(&slf, BinaryOp::Pow, convert::arg_or_err(other, "exponent")?)?;
        Ok(slf)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(
        slf: Bound<'_, Self>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> PyResult<Bound<'_, Self>> {
        slf.get().t.clamp_(min, max).py()?;
        Ok(slf)
    }
    fn relu_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.relu_().py()?;
        Ok(slf)
    }
    fn neg_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Neg).py()?;
        Ok(slf)
    }
    fn exp_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Exp).py()?;
        Ok(slf)
    }
    fn sqrt_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Sqrt).py()?;
        Ok(slf)
    }
    fn sigmoid_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Sigmoid).py()?;
        Ok(slf)
    }
    fn tanh_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Tanh).py()?;
        Ok(slf)
    }
    fn abs_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().t.unary_(UnaryOp::Abs).py()?;
        Ok(slf)
    }
}

fn inplace_arg(slf: &Bound<'_, PyTensor>, op: BinaryOp, arg: Arg) -> PyResult<()> {
    let t = &slf.get().t;
    compute(slf.py(), t.numel(), || match &arg {
        Arg::Tensor(o) => t.binary_tensor_(op, o),
        Arg::Scalar(s) => t.binary_scalar_(op, *s),
    })
    .py()
}

/// The Tensor methods of the unary ops of the table's `methods` section, from
/// backend/unary_ops.rs (also `rustgrad.<name>`: python/rustgrad/__init__.py reads
/// `_C.UNARY_OPS`).
macro_rules! unary_py_methods {
    (
        methods {
            $( $(#[$doc:meta])* $v:ident $m:ident $code:literal $node:tt $saves:ident $dtypes:ident ),* $(,)?
        }
        others { $($others:tt)* }
    ) => {
        #[pymethods]
        impl PyTensor {
            $(
                $(#[$doc])*
                fn $m(&self, py: Python<'_>) -> R {
                    self.unary(py, UnaryOp::$v)
                }
            )*
        }
    };
}

crate::backend::unary_ops::unary_ops!(unary_py_methods);
