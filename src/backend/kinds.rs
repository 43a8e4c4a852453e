//! What a kernel computes: the kinds of elementwise maps, reductions and losses. Ops pick a kind;
//! every backend implements each kind (CPU expressions in backend/cpu, CUDA ones in kernels/).

/// Elementwise functions of one tensor. Parameters travel with the op.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Square,
    Relu,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Log1p,
    Expm1,
    Reciprocal,
    Floor,
    Ceil,
    Round,
    Trunc,
    /// GELU with the exact (erf) form.
    Gelu,
    /// GELU with the tanh approximation.
    GeluTanh,
    Silu,
    Erf,
    LeakyRelu(f64),
    Elu(f64),
    Softplus {
        beta: f64,
        threshold: f64,
    },
    /// `x ** exponent` for a scalar exponent.
    PowScalar(f64),
    /// `exponent ** x` for a scalar base.
    RPowScalar(f64),
    Clamp {
        min: Option<f64>,
        max: Option<f64>,
    },
    LogicalNot,
    IsNan,
}

impl UnaryOp {
    /// True for ops whose result is bool.
    pub fn returns_bool(self) -> bool {
        matches!(self, UnaryOp::LogicalNot | UnaryOp::IsNan)
    }
    /// True for ops defined on integer tensors too (the rest need floats).
    pub fn integer_ok(self) -> bool {
        matches!(
            self,
            UnaryOp::Neg
                | UnaryOp::Abs
                | UnaryOp::Sign
                | UnaryOp::Square
                | UnaryOp::Relu
                | UnaryOp::Clamp { .. }
                | UnaryOp::LogicalNot
                | UnaryOp::IsNan
                | UnaryOp::Floor
                | UnaryOp::Ceil
                | UnaryOp::Round
                | UnaryOp::Trunc
        )
    }
}

/// Elementwise functions of two broadcast tensors (of one dtype).
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    FloorDivide,
    /// Python's `%`: the remainder with the divisor's sign.
    Remainder,
    /// C's `fmod`: the remainder with the dividend's sign.
    Fmod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
    /// `grad * (x > 0)`: (grad, x).
    ReluBackward,
    /// (grad, x).
    LeakyReluBackward(f64),
    /// `grad * y * (1 - y)`: (grad, sigmoid output).
    SigmoidBackward,
    /// `grad * (1 - y^2)`: (grad, tanh output).
    TanhBackward,
    /// (grad, x).
    GeluBackward,
    /// (grad, x).
    GeluTanhBackward,
    /// (grad, x).
    SiluBackward,
    /// (grad, x): grad where min <= x <= max.
    ClampBackward {
        min: Option<f64>,
        max: Option<f64>,
    },
}

impl BinaryOp {
    pub fn returns_bool(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::LogicalAnd
                | BinaryOp::LogicalOr
                | BinaryOp::LogicalXor
        )
    }
}

/// Reductions over a set of dims.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
    Prod,
    Max,
    Min,
    ArgMax,
    ArgMin,
    All,
    Any,
}

/// The pointwise losses.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum PointLoss {
    Mse,
    L1,
    /// Binary cross-entropy of probabilities (log clamped at -100, as PyTorch).
    Bce,
    /// Binary cross-entropy of logits.
    BceWithLogits,
}

/// What a random fill draws.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Draw {
    /// Uniform in [0, 1).
    Uniform,
    /// Standard normal.
    Normal,
    /// int64 values in `low..low + range`.
    Int { low: i64, range: u64 },
    /// Dropout's keep mask: 0 with probability `p`, else `scale`.
    Dropout { p: f64, scale: f64 },
}

impl Draw {
    /// Words of the Philox stream each value uses (every backend reserves the same counters).
    pub fn words_per_value(self, dtype: crate::storage::DType) -> usize {
        use crate::storage::DType;
        match (self, dtype) {
            (Draw::Uniform, DType::F64) => 2,
            (Draw::Uniform, _) => 1,
            (Draw::Normal, DType::F64) => 4,
            (Draw::Normal, _) => 2,
            (Draw::Int { .. }, _) => 2,
            (Draw::Dropout { .. }, _) => 1,
        }
    }
}
