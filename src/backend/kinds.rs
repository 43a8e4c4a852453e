//! What a kernel computes: the kinds of elementwise maps, reductions and losses. Ops pick a kind;
//! every backend implements each kind (CPU expressions in backend/cpu, CUDA ones in kernels/).

/// The dtype rule of a table entry (`unary_ops.rs`).
macro_rules! unary_dtypes {
    (test, returns_bool) => {
        true
    };
    ($other:ident, returns_bool) => {
        false
    };
    (float, integer_ok) => {
        false
    };
    ($other:ident, integer_ok) => {
        true
    };
}

/// `UnaryOp` and its properties from the table of `unary_ops.rs`.
macro_rules! define_unary_op {
    (
        methods {
            $( $(#[$doc:meta])* $v:ident $m:ident $code:literal $node:tt $saves:ident $dtypes:ident ),* $(,)?
        }
        others {
            $( $(#[$pdoc:meta])* $pv:ident $( ( $($pt:ty),* ) )? $( { $($pf:ident : $pft:ty),* } )?
               $pcode:literal $pnode:tt $psaves:ident $pdtypes:ident ),* $(,)?
        }
    ) => {
        /// Elementwise functions of one tensor (the table in `unary_ops.rs`). Parameters travel
        /// with the op.
        #[derive(Copy, Clone, Debug, PartialEq)]
        pub enum UnaryOp {
            $( $(#[$doc])* $v, )*
            $( $(#[$pdoc])* $pv $( ( $($pt),* ) )? $( { $($pf : $pft),* } )?, )*
        }

        /// The ops in table order.
        #[derive(Copy, Clone)]
        enum TablePosition {
            $( $v, )*
            $( $pv, )*
        }

        impl UnaryOp {
            /// The ops that are Tensor methods, with their names (`Tensor.name`,
            /// `rustgrad.name`).
            pub const METHODS: &'static [(UnaryOp, &'static str)] =
                &[$( (UnaryOp::$v, stringify!($m)), )*];

            /// One op of each kind in table order (parameters at their defaults), for tests that
            /// walk the table.
            #[cfg(test)]
            pub fn each_kind() -> Vec<UnaryOp> {
                vec![
                    $( UnaryOp::$v, )*
                    $( UnaryOp::$pv $( ( $(<$pt>::default()),* ) )? $( { $($pf: <$pft>::default()),* } )?, )*
                ]
            }

            /// True for ops whose result is bool.
            pub fn returns_bool(self) -> bool {
                match self {
                    $( UnaryOp::$v => unary_dtypes!($dtypes, returns_bool), )*
                    $( UnaryOp::$pv { .. } => unary_dtypes!($pdtypes, returns_bool), )*
                }
            }

            /// True for ops defined on integer tensors too (the rest compute in float).
            pub fn integer_ok(self) -> bool {
                match self {
                    $( UnaryOp::$v => unary_dtypes!($dtypes, integer_ok), )*
                    $( UnaryOp::$pv { .. } => unary_dtypes!($pdtypes, integer_ok), )*
                }
            }

            /// The op code kernels take: the op's position in the table (whose `"U_*"` names
            /// make the kernels' enum in the same order).
            pub fn code(self) -> i32 {
                let position = match self {
                    $( UnaryOp::$v => TablePosition::$v, )*
                    $( UnaryOp::$pv { .. } => TablePosition::$pv, )*
                };
                position as i32
            }
        }
    };
}

super::unary_ops::unary_ops!(define_unary_op);

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
