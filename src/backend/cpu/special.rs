//! Special functions of the unary-op table (lgamma, digamma, polygamma, erfinv, erfc), in f64.
//!
//! kernels/elementwise.cu has the same algorithms for the CUDA backend; keep the two in step.
//! Edge values follow PyTorch: digamma(±0) = ∓inf, NaN at the negative integers; lgamma is
//! ln|Γ(x)| (inf at the poles); polygamma(n ≥ 1) is (-1)^(n+1) n! ζ(n+1, x).

use std::f64::consts::PI;

/// ln|Γ(x)| (musl's implementation via `libm`).
#[inline]
pub fn lgamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The complementary error function `1 - erf(x)` without cancellation (musl's, via `libm`).
#[inline]
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// The digamma function ψ(x) = d/dx ln Γ(x).
pub fn digamma(x: f64) -> f64 {
    if x == 0.0 {
        // PyTorch's (and SciPy's) convention: the sign of the zero picks the side of the pole.
        return if x.is_sign_negative() {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
    }
    if x < 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        // Reflection: ψ(1 - x) - ψ(x) = π cot(πx).
        return digamma(1.0 - x) - PI / (PI * x).tan();
    }
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    // Recurrence ψ(x) = ψ(x + 1) - 1/x up to x ≥ 10, then the asymptotic series.
    let (mut x, mut shift) = (x, 0.0);
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    // Σ B_2k / (2k x^2k) for k = 1..7, in Horner form in 1/x².
    let series = r
        * (1.0 / 12.0
            - r * (1.0 / 120.0
                - r * (1.0 / 252.0
                    - r * (1.0 / 240.0 - r * (1.0 / 132.0 - r * (691.0 / 32760.0 - r / 12.0))))));
    shift + x.ln() - 0.5 / x - series
}

/// (2k)! / B_2k for k = 1..12: the Euler–Maclaurin correction terms of the Hurwitz zeta.
const ZETA_DENOMINATORS: [f64; 12] = [
    12.0,
    -720.0,
    30240.0,
    -1209600.0,
    47900160.0,
    -1892437580.3183792,
    74724249600.0,
    -2950130727918.164,
    116467828143500.67,
    -4597978722407473.0,
    1.8152105401943546e17,
    -7.166165256175667e18,
];

/// The Hurwitz zeta function ζ(s, q) = Σ_k (q + k)^-s for s > 1: the first terms summed directly,
/// the tail by the Euler–Maclaurin formula.
pub fn zeta(s: f64, q: f64) -> f64 {
    if s == 1.0 {
        return f64::INFINITY;
    }
    if s < 1.0 || s.is_nan() || q.is_nan() {
        return f64::NAN;
    }
    if q <= 0.0 {
        if q == q.floor() {
            return f64::INFINITY;
        }
        if s != s.floor() {
            return f64::NAN; // (q + k)^-s is complex for a negative base
        }
    }
    let mut sum = q.powf(-s);
    let mut a = q;
    let mut term = 0.0;
    let mut i = 0;
    while i < 9 || a <= 9.0 {
        i += 1;
        a += 1.0;
        term = a.powf(-s);
        sum += term;
        if (term / sum).abs() < f64::EPSILON {
            return sum;
        }
    }
    let w = a;
    sum += term * w / (s - 1.0) - 0.5 * term;
    let mut rising = 1.0; // s (s + 1) ... (s + 2j - 2)
    let mut k = 0.0;
    for d in ZETA_DENOMINATORS {
        rising *= s + k;
        term /= w;
        let t = rising * term / d;
        sum += t;
        if (t / sum).abs() < f64::EPSILON {
            break;
        }
        k += 1.0;
        rising *= s + k;
        term /= w;
        k += 1.0;
    }
    sum
}

/// The n-th derivative of the digamma function.
pub fn polygamma(n: u32, x: f64) -> f64 {
    match n {
        0 => digamma(x),
        1 if x < 0.5 => {
            // Reflection: ψ₁(1 - x) + ψ₁(x) = π² / sin²(πx).
            let s = (PI * x).sin();
            PI * PI / (s * s) - polygamma(1, 1.0 - x)
        }
        _ => {
            let factorial = libm::tgamma(n as f64 + 1.0);
            let sign = if n % 2 == 1 { 1.0 } else { -1.0 };
            sign * factorial * zeta(n as f64 + 1.0, x)
        }
    }
}

/// The inverse error function: a rational first guess refined by two Halley steps on erf.
pub fn erfinv(y: f64) -> f64 {
    if y.is_nan() || !(-1.0..=1.0).contains(&y) {
        return f64::NAN;
    }
    if y.abs() == 1.0 {
        return y * f64::INFINITY;
    }
    if y == 0.0 {
        return y; // keeps the sign of zero
    }
    let t = 1.0 - y.abs();
    if t < 1e-8 {
        // Deep tail: erfc(x) ~ e^(-x²) / (x √π) for a first guess, then Newton on
        // ln erfc(x) = ln t (nearly quadratic in x, so three steps reach full precision).
        let l = -t.ln();
        let mut x = l.sqrt();
        for _ in 0..2 {
            x = (l - (x * PI.sqrt()).ln()).max(0.25).sqrt();
        }
        for _ in 0..3 {
            let e = erfc(x);
            let slope = -std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp() / e;
            x -= (e.ln() + l) / slope;
        }
        return x.copysign(y);
    }
    // Giles' single-precision approximation, good to about 1e-7 relative.
    let w = -((1.0 - y) * (1.0 + y)).ln();
    let p = if w < 5.0 {
        let w = w - 2.5;
        [
            3.43273939e-07,
            -3.5233877e-06,
            -4.39150654e-06,
            0.00021858087,
            -0.00125372503,
            -0.00417768164,
            0.246640727,
            1.50140941,
        ]
        .iter()
        .fold(2.81022636e-08, |p, c| c + p * w)
    } else {
        let w = w.sqrt() - 3.0;
        [
            0.000100950558,
            0.00134934322,
            -0.00367342844,
            0.00573950773,
            -0.0076224613,
            0.00943887047,
            1.00167406,
            2.83297682,
        ]
        .iter()
        .fold(-0.000200214257, |p, c| c + p * w)
    };
    let mut x = p * y;
    for _ in 0..2 {
        // f = erf(x) - y, f' = 2/√π e^(-x²), f'' = -2x f'.
        let err = if y > 0.5 {
            (1.0 - y) - erfc(x) // erf(x) - y, without cancellation near 1
        } else if y < -0.5 {
            erfc(-x) - (1.0 + y)
        } else {
            libm::erf(x) - y
        };
        let u = err / (std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp());
        x -= u / (1.0 + x * u);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn digamma_known_values() {
        // ψ(1) = -γ, ψ(1/2) = -γ - 2 ln 2.
        let euler = 0.5772156649015329;
        assert!(close(digamma(1.0), -euler, 1e-14));
        assert!(close(digamma(0.5), -euler - 2.0 * 2f64.ln(), 1e-14));
        assert!(digamma(-2.0).is_nan());
        assert_eq!(digamma(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn polygamma_known_values() {
        // ψ₁(1) = π²/6, ψ₂(1) = -2 ζ(3).
        assert!(close(polygamma(1, 1.0), PI * PI / 6.0, 1e-14));
        assert!(close(polygamma(2, 1.0), -2.0 * 1.2020569031595942, 1e-14));
    }

    #[test]
    fn erfinv_inverts_erf() {
        for &y in &[-0.999999, -0.7, -1e-9, 0.3, 0.5, 0.9, 0.99999999] {
            assert!(close(libm::erf(erfinv(y)), y, 1e-15), "{y}");
        }
        // The deep tail, against erfc (erf rounds to 1 there).
        for &t in &[1e-9, 1e-12, 1e-15] {
            let y = 1.0 - t;
            let tail = 1.0 - y; // t as the f64 y holds it
            assert!(close(erfc(erfinv(y)), tail, 1e-12), "{t}");
        }
    }
}
