//! Scalar math the standard library lacks.

/// The error function, accurate to the last bit of f64 (musl's implementation via `libm`).
#[inline]
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// Logistic sigmoid without overflow for large |x|.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
