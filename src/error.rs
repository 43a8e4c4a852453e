//! One error type for the whole crate.
//!
//! Each variant corresponds to the Python exception PyTorch raises for that kind of failure, so the
//! Python layer maps variants to exception types and never has to parse messages. Messages follow
//! PyTorch's wording wherever PyTorch has one.

/// Every fallible rustgrad operation returns this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Shapes, sizes, dtypes, devices and autograd misuse: Python `RuntimeError`.
    #[error("{0}")]
    Runtime(String),
    /// A bad argument value: Python `ValueError`.
    #[error("{0}")]
    Value(String),
    /// An index out of range: Python `IndexError`.
    #[error("{0}")]
    Index(String),
    /// An argument of the wrong kind: Python `TypeError`.
    #[error("{0}")]
    Type(String),
    /// A feature that this build or this op does not support: Python `NotImplementedError`.
    #[error("{0}")]
    NotImplemented(String),
    /// Reading or writing a file failed: Python `OSError`.
    #[error("{0}")]
    Io(String),
    /// A broken invariant inside rustgrad (a bug, never the caller's input): Python
    /// `RuntimeError`, as PyTorch's internal asserts.
    #[error("internal error: {0} (this is a bug in rustgrad; please report it)")]
    Internal(String),
    /// An error raised by user code the engine called back into (a Python hook or a custom
    /// Function's backward): carried unchanged so the caller gets the original exception.
    #[error("{0}")]
    External(ExternalError),
}

/// A foreign error value carried through the engine (compared by identity).
#[derive(Clone)]
pub struct ExternalError(pub std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl ExternalError {
    /// The carried value, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl PartialEq for ExternalError {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for ExternalError {}

impl std::fmt::Debug for ExternalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExternalError({:?})", self.0.to_string())
    }
}

impl std::fmt::Display for ExternalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn runtime(msg: impl Into<String>) -> Self {
        Error::Runtime(msg.into())
    }
    pub fn value(msg: impl Into<String>) -> Self {
        Error::Value(msg.into())
    }
    pub fn index(msg: impl Into<String>) -> Self {
        Error::Index(msg.into())
    }
    pub fn type_error(msg: impl Into<String>) -> Self {
        Error::Type(msg.into())
    }
    pub fn not_implemented(msg: impl Into<String>) -> Self {
        Error::NotImplemented(msg.into())
    }

    /// Wraps an error raised by user code called from the engine (see [`Error::External`]).
    pub fn external(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::External(ExternalError(std::sync::Arc::new(e)))
    }

    /// A broken invariant (see [`Error::Internal`]).
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }

    /// PyTorch's message for operands on two devices (the accelerator named first).
    pub fn device_mismatch(a: crate::storage::Device, b: crate::storage::Device) -> Self {
        let (a, b) = if a == crate::storage::Device::Cpu {
            (b, a)
        } else {
            (a, b)
        };
        Error::Runtime(format!(
            "Expected all tensors to be on the same device, but found at least two devices, {a} and {b}!"
        ))
    }

    /// PyTorch's message for two shapes that do not broadcast.
    pub fn broadcast(dim: usize, size_a: usize, size_b: usize) -> Self {
        Error::Runtime(format!(
            "The size of tensor a ({size_a}) must match the size of tensor b ({size_b}) at non-singleton dimension {dim}"
        ))
    }

    /// PyTorch's message for an index past the end of a dimension.
    pub fn index_out_of_range(index: i64, dim: usize, size: usize) -> Self {
        Error::Index(format!(
            "index {index} is out of bounds for dimension {dim} with size {size}"
        ))
    }

    /// PyTorch's message for a dimension argument out of range.
    pub fn dim_out_of_range(dim: i64, ndim: usize) -> Self {
        let (lo, hi) = if ndim == 0 {
            (-1, 0)
        } else {
            (-(ndim as i64), ndim as i64 - 1)
        };
        Error::Index(format!(
            "Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
        ))
    }

    /// PyTorch's message for a kernel run on a dtype it does not support.
    pub fn not_implemented_for(kernel: &str, dtype: crate::storage::DType) -> Self {
        Error::NotImplemented(format!(
            "\"{kernel}\" not implemented for '{}'",
            dtype.scalar_name()
        ))
    }

    /// An allocation the allocator refused.
    pub fn out_of_memory(bytes: usize, device: &str) -> Self {
        Error::Runtime(format!(
            "{device}: out of memory. Tried to allocate {}",
            format_bytes(bytes)
        ))
    }
}

/// Renders a byte count as PyTorch does in its out-of-memory messages ("1.50 GiB").
pub fn format_bytes(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Formats a shape as PyTorch prints it in messages: `[64, 3136]`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Formats a shape with signed entries (as given by the user, `-1` included).
pub fn fmt_ishape(shape: &[i64]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Shorthand used by argument checks: `ensure!(cond, Error::runtime(..))`.
macro_rules! ensure {
    ($cond:expr, $err:expr) => {
        if !$cond {
            return Err($err);
        }
    };
}
pub(crate) use ensure;
