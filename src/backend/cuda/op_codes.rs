// The one table of the integer codes that the host and the kernels exchange. Documented at its
// `mod` line in mod.rs: build.rs also `include!`s this file, and an included file may not hold
// inner doc comments. Keep it plain: consts and functions over them, no `use`.

/// One C enum: its type name and its constants; a constant's value is its position.
pub struct CodeTable {
    pub c_name: &'static str,
    pub names: &'static [&'static str],
}

// The unary maps of kernels/elementwise.cu (the `op` argument of `ew_unary_*` and
// `ew_unary_test_*`) are the table of backend/unary_ops.rs, in its order.
include!("../unary_ops.rs");

/// `UNARY` from the unary-op table: its `"U_*"` names in table order.
macro_rules! unary_code_table {
    (
        methods {
            $( $(#[$doc:meta])* $v:ident $m:ident $code:literal $node:tt $saves:ident $dtypes:ident ),* $(,)?
        }
        others {
            $( $(#[$pdoc:meta])* $pv:ident $( ( $($pt:ty),* ) )? $( { $($pf:ident : $pft:ty),* } )?
               $pcode:literal $pnode:tt $psaves:ident $pdtypes:ident ),* $(,)?
        }
    ) => {
        /// The unary maps: the `op` argument of `ew_unary_*` and `ew_unary_test_*`.
        pub const UNARY: CodeTable = CodeTable {
            c_name: "UnaryCode",
            names: &[$( $code, )* $( $pcode, )*],
        };
    };
}

unary_ops!(unary_code_table);

/// The binary maps of kernels/elementwise.cu: the `op` argument of `ew_binary_*` and
/// `ew_binary_test_*`.
pub const BINARY: CodeTable = CodeTable {
    c_name: "BinaryCode",
    names: &[
        "B_ADD",
        "B_SUB",
        "B_MUL",
        "B_DIV",
        "B_POW",
        "B_MAXIMUM",
        "B_MINIMUM",
        "B_FLOOR_DIVIDE",
        "B_REMAINDER",
        "B_EQ",
        "B_NE",
        "B_LT",
        "B_LE",
        "B_GT",
        "B_GE",
        "B_LOGICAL_AND",
        "B_LOGICAL_OR",
        "B_LOGICAL_XOR",
        "B_RELU_BACKWARD",
        "B_LEAKY_RELU_BACKWARD",
        "B_SIGMOID_BACKWARD",
        "B_TANH_BACKWARD",
        "B_GELU_BACKWARD",
        "B_GELU_TANH_BACKWARD",
        "B_SILU_BACKWARD",
        "B_CLAMP_BACKWARD",
        "B_FMOD",
    ],
};

/// The pointwise losses of kernels/nn.cu: the `kind` argument of `point_loss_*`.
pub const POINT_LOSS: CodeTable = CodeTable {
    c_name: "PointKind",
    names: &["P_MSE", "P_L1", "P_BCE", "P_BCE_LOGITS"],
};

/// What a kernel reports in the status word (`rg_report` in common.cuh); the host raises the
/// error at the next synchronising call (`status_error` in device.rs has the messages).
pub const STATUS: CodeTable = CodeTable {
    c_name: "RgStatusCode",
    names: &[
        "RG_OK",
        // index a out of bounds for dimension b with size c
        "RG_ERR_INDEX",
        // Target a is out of bounds.
        "RG_ERR_TARGET",
        // index out of range in self
        "RG_ERR_INDEX_SELECT",
        // ZeroDivisionError
        "RG_ERR_ZERO_DIV",
        // Integers to negative integer powers are not allowed.
        "RG_ERR_NEG_POW",
        // all elements of input should be between 0 and 1
        "RG_ERR_BCE_INPUT",
        // all elements of target should be between 0 and 1
        "RG_ERR_BCE_TARGET",
    ],
};

/// Every table, in the order their C declarations are emitted.
pub const TABLES: &[&CodeTable] = &[&UNARY, &BINARY, &POINT_LOSS, &STATUS];

/// The code of `name` in `table`: its position. Evaluated at compile time where the caller asks
/// for a const (see `op_code!`), so a name missing from the table does not build.
pub const fn code(table: &CodeTable, name: &str) -> i32 {
    let mut i = 0;
    while i < table.names.len() {
        if str_eq(table.names[i], name) {
            return i as i32;
        }
        i += 1;
    }
    panic!("not an op code of its table (src/backend/cuda/op_codes.rs)")
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The C declarations of every table (`enum UnaryCode { U_NEG = 0, ... };`), which the host puts
/// before each kernel file it compiles: in NVRTC's source (so also in the disk cache's key) and in
/// the emulator's native build.
pub fn c_declarations() -> String {
    let mut s = String::from(
        "// Generated from src/backend/cuda/op_codes.rs: the codes the host passes to kernels.\n",
    );
    for t in TABLES {
        s.push_str("enum ");
        s.push_str(t.c_name);
        s.push_str(" {\n");
        for (i, n) in t.names.iter().enumerate() {
            s.push_str("    ");
            s.push_str(n);
            s.push_str(" = ");
            s.push_str(&i.to_string());
            s.push_str(",\n");
        }
        s.push_str("};\n");
    }
    s
}
