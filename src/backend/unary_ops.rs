// The elementwise unary ops: one entry each, in one table that everything else is generated from.
// Documented at its `mod` line in backend/mod.rs: the CUDA op codes also `include!` this file
// (and build.rs includes them), so keep it a plain `macro_rules!` with no `use`.
//
// `unary_ops!(m)` calls macro `m` with the table. Each entry of `methods` is
//     docs  Variant method "CODE" node saves dtypes,
// * `Variant`: the `UnaryOp` variant; `method`: the Tensor method (Rust and Python) and the
//   `rustgrad.method` function; `"CODE"`: the kernels' op code (its position in this table is
//   its value; kernels/elementwise.cu has one `case` per code);
// * `node`: the autograd node's name, or `none` for ops without a gradient;
// * `saves`: what the backward reads (`nothing`, `input`, `output`);
// * `dtypes`: `float` (integer inputs compute in float32), `any` (integers too, same dtype out)
//   or `test` (any input, bool out).
// The entries of `others` (ops with parameters, and ops PyTorch has only as functions of
// torch.nn.functional) carry their fields and have hand-written methods (ops/unary.rs) instead.
// Adding an op: an entry here, its CPU expression (backend/cpu/elementwise.rs), its CUDA
// expression (kernels/elementwise.cu), its test (tests/test_unary_ops.py); a differentiable op
// also gets its backward formula in ops/unary.rs. See docs/adding-an-op.md.

macro_rules! unary_ops {
    ($then:ident) => {
        $then! {
            methods {
                /// `-x`.
                Neg neg "U_NEG" "NegBackward0" nothing any,
                /// `|x|`.
                Abs abs "U_ABS" "AbsBackward0" input any,
                /// -1, 0 or 1.
                Sign sign "U_SIGN" "SignBackward0" nothing any,
                /// `x * x`.
                Square square "U_SQUARE" "PowBackward0" input any,
                /// `max(x, 0)`.
                Relu relu "U_RELU" "ReluBackward0" output any,
                /// `e^x`.
                Exp exp "U_EXP" "ExpBackward0" output float,
                /// Natural logarithm.
                Log log "U_LOG" "LogBackward0" input float,
                /// Square root.
                Sqrt sqrt "U_SQRT" "SqrtBackward0" output float,
                /// `1 / sqrt(x)`.
                Rsqrt rsqrt "U_RSQRT" "RsqrtBackward0" output float,
                /// Sine.
                Sin sin "U_SIN" "SinBackward0" input float,
                /// Cosine.
                Cos cos "U_COS" "CosBackward0" input float,
                /// Hyperbolic tangent.
                Tanh tanh "U_TANH" "TanhBackward0" output float,
                // Trigonometric, hyperbolic, base-2 and base-10 functions (tmethods).
                /// Tangent.
                Tan tan "U_TAN" "TanBackward0" output float,
                /// Inverse sine.
                Asin asin "U_ASIN" "AsinBackward0" input float,
                /// Inverse cosine.
                Acos acos "U_ACOS" "AcosBackward0" input float,
                /// Inverse tangent.
                Atan atan "U_ATAN" "AtanBackward0" input float,
                /// Hyperbolic sine.
                Sinh sinh "U_SINH" "SinhBackward0" input float,
                /// Hyperbolic cosine.
                Cosh cosh "U_COSH" "CoshBackward0" input float,
                /// Inverse hyperbolic sine.
                Asinh asinh "U_ASINH" "AsinhBackward0" input float,
                /// Inverse hyperbolic cosine.
                Acosh acosh "U_ACOSH" "AcoshBackward0" input float,
                /// Inverse hyperbolic tangent.
                Atanh atanh "U_ATANH" "AtanhBackward0" input float,
                /// `2^x`.
                Exp2 exp2 "U_EXP2" "Exp2Backward0" output float,
                /// Base-2 logarithm.
                Log2 log2 "U_LOG2" "Log2Backward0" input float,
                /// Base-10 logarithm.
                Log10 log10 "U_LOG10" "Log10Backward0" input float,
                /// Logistic sigmoid.
                Sigmoid sigmoid "U_SIGMOID" "SigmoidBackward0" output float,
                /// `ln(1 + x)`.
                Log1p log1p "U_LOG1P" "Log1PBackward0" input float,
                /// `e^x - 1`.
                Expm1 expm1 "U_EXPM1" "Expm1Backward0" output float,
                /// `1 / x`.
                Reciprocal reciprocal "U_RECIPROCAL" "ReciprocalBackward0" output float,
                /// Round down.
                Floor floor "U_FLOOR" "FloorBackward0" nothing any,
                /// Round up.
                Ceil ceil "U_CEIL" "CeilBackward0" nothing any,
                /// Round half to even.
                Round round "U_ROUND" "RoundBackward0" nothing any,
                /// Round toward zero.
                Trunc trunc "U_TRUNC" "TruncBackward0" nothing any,
                /// The error function.
                Erf erf "U_ERF" "ErfBackward0" input float,
                /// Logical not (bool result).
                LogicalNot logical_not "U_LOGICAL_NOT" none nothing test,
                /// NaN test (bool result).
                IsNan isnan "U_ISNAN" none nothing test,
                // special functions (backend/cpu/special.rs)
                /// ln|Γ(x)|.
                Lgamma lgamma "U_LGAMMA" "LgammaBackward0" input float,
                /// The digamma function d/dx ln Γ(x).
                Digamma digamma "U_DIGAMMA" "DigammaBackward0" input float,
                /// The inverse error function.
                Erfinv erfinv "U_ERFINV" "ErfinvBackward0" output float,
                /// The complementary error function `1 - erf(x)`.
                Erfc erfc "U_ERFC" "ErfcBackward0" input float,
            }
            others {
                /// SiLU (swish): `x * sigmoid(x)`.
                Silu "U_SILU" "SiluBackward0" input float,
                /// GELU with the exact (erf) form.
                Gelu "U_GELU" "GeluBackward0" input float,
                /// GELU with the tanh approximation.
                GeluTanh "U_GELU_TANH" "GeluBackward0" input float,
                /// `x` where positive, else `negative_slope * x`.
                LeakyRelu(f64) "U_LEAKY_RELU" "LeakyReluBackward0" input float,
                /// `x` where positive, else `alpha * (e^x - 1)`.
                Elu(f64) "U_ELU" "EluBackward0" input float,
                /// `ln(1 + e^(beta x)) / beta`, linear above `threshold`.
                Softplus { beta: f64, threshold: f64 } "U_SOFTPLUS" "SoftplusBackward0" input float,
                /// `x ** exponent` for a scalar exponent.
                PowScalar(f64) "U_POW_SCALAR" "PowBackward0" input float,
                /// `base ** x` for a scalar base.
                RPowScalar(f64) "U_RPOW_SCALAR" "PowBackward1" output float,
                /// `x` clamped into `[min, max]` (either bound optional).
                Clamp { min: Option<f64>, max: Option<f64> } "U_CLAMP" "ClampBackward1" input any,
                /// The n-th derivative of digamma (a special function).
                Polygamma(u32) "U_POLYGAMMA" "PolygammaBackward0" input float,
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use unary_ops;
