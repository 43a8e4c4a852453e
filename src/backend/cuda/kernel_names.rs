//! Kernels are found by name, not by position: every kernel name the host writes is defined,
//! literally, in kernels/ (`KERNEL void name(`), every kernel defined there is launched by name,
//! and the op-code table of op_codes.rs matches both the kernels and the Rust ops.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::elementwise::{binary_code, unary_code};
use super::nn::point_code;
use super::op_codes::{self, CodeTable};
use crate::backend::PointLoss;
use crate::backend::{BinaryOp, UnaryOp};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (path, text) of the files under `dir` (recursively) whose name ends with one of `exts`.
fn files(dir: &Path, exts: &[&str]) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(files(&p, exts));
        } else if exts
            .iter()
            .any(|x| p.to_str().is_some_and(|s| s.ends_with(x)))
        {
            let text = std::fs::read_to_string(&p).unwrap();
            out.push((p, text));
        }
    }
    out
}

/// The kernel sources: kernels/*.cu and common.cuh (not the emulator's own files).
fn kernel_sources() -> Vec<(PathBuf, String)> {
    let dir = root().join("kernels");
    let mut v: Vec<_> = files(&dir, &[".cu", ".cuh"])
        .into_iter()
        .filter(|(p, _)| p.parent() == Some(dir.as_path()))
        .collect();
    assert!(v.len() >= 9, "kernels/ not found");
    v.sort();
    v
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `KERNEL void [__launch_bounds__(..)] name(` in the kernel sources: name -> file.
fn defined_kernels() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, text) in kernel_sources() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix("KERNEL void ") else {
                continue;
            };
            let mut rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix("__launch_bounds__(") {
                rest = r
                    .split_once(')')
                    .expect("__launch_bounds__(..)")
                    .1
                    .trim_start();
            }
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            assert!(
                rest[name.len()..].starts_with('('),
                "{file}: cannot read the kernel name in `{line}`"
            );
            assert!(
                out.insert(name.clone(), file.clone()).is_none(),
                "kernel {name} defined twice"
            );
        }
    }
    out
}

/// The string literals of the CUDA backend's host code that spell an identifier (`"gemm_f32"`).
fn host_identifier_literals() -> BTreeSet<String> {
    let dir = root().join("src").join("backend").join("cuda");
    let mut out = BTreeSet::new();
    for (path, text) in files(&dir, &[".rs"]) {
        if path.ends_with("kernel_names.rs") {
            continue;
        }
        // `"` + identifier + `"`: never spans two literals, whatever the quotes in comments.
        let parts: Vec<&str> = text.split('"').collect();
        for w in parts.iter().skip(1).take(parts.len().saturating_sub(2)) {
            if !w.is_empty()
                && w.chars().all(is_ident)
                && !w.starts_with(|c: char| c.is_ascii_digit())
            {
                out.insert(w.to_string());
            }
        }
    }
    out
}

/// Looks like a kernel name: a dtype suffix, optionally the 64-bit-index `_w`.
fn looks_like_kernel(name: &str) -> bool {
    let base = name.strip_suffix("_w").unwrap_or(name);
    name.contains('_')
        && ["_f32", "_f64", "_i64", "_u8"]
            .iter()
            .any(|s| base.ends_with(s))
}

#[test]
fn kernel_entry_points_are_written_out() {
    for (path, text) in kernel_sources() {
        let file = path.display();
        assert!(!text.contains("##"), "{file}: token pasting (`##`)");
        // No kernel declared inside a macro: a `#define` body continues with `\`.
        let mut in_define = false;
        for line in text.lines() {
            let t = line.trim_start();
            if t.starts_with("#define") {
                in_define = true;
            }
            if in_define && t.contains("KERNEL") && !t.starts_with("#define KERNEL") {
                panic!("{file}: a kernel declared in a macro: `{line}`");
            }
            in_define = in_define && line.trim_end().ends_with('\\');
        }
    }
}

#[test]
fn every_kernel_the_host_names_is_defined_and_every_defined_kernel_is_named() {
    let defined = defined_kernels();
    assert!(defined.len() > 300, "{} kernels found", defined.len());
    let literals = host_identifier_literals();
    let named: BTreeSet<&str> = literals
        .iter()
        .map(String::as_str)
        .filter(|n| defined.contains_key(*n) || looks_like_kernel(n))
        .collect();
    let undefined: Vec<&&str> = named
        .iter()
        .filter(|n| !defined.contains_key(**n))
        .collect();
    assert!(
        undefined.is_empty(),
        "named by src/backend/cuda but not defined as `KERNEL void name(` in kernels/: {undefined:?}"
    );
    let unnamed: Vec<&String> = defined
        .keys()
        .filter(|k| !named.contains(k.as_str()))
        .collect();
    assert!(
        unnamed.is_empty(),
        "defined in kernels/ but never named (in full) by src/backend/cuda: {unnamed:?}"
    );
}

/// The identifiers (comments included: a default branch names its code there) of the kernel
/// sources that start with `prefix` and go on.
fn kernel_identifiers(prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, text) in kernel_sources() {
        for w in text.split(|c: char| !is_ident(c)) {
            if w.len() > prefix.len() && w.starts_with(prefix) {
                out.insert(w.to_string());
            }
        }
    }
    out
}

#[test]
fn op_code_tables_match_the_kernels() {
    let tables: [(&CodeTable, &str); 4] = [
        (&op_codes::UNARY, "U_"),
        (&op_codes::BINARY, "B_"),
        (&op_codes::POINT_LOSS, "P_"),
        (&op_codes::STATUS, "RG_ERR_"),
    ];
    for (table, prefix) in tables {
        let names: BTreeSet<String> = table.names.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names.len(),
            table.names.len(),
            "{}: a name twice",
            table.c_name
        );
        let in_table: BTreeSet<String> = names
            .iter()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect();
        let used = kernel_identifiers(prefix);
        assert_eq!(
            used, in_table,
            "{}: the `{prefix}*` names the kernels use and the table's differ",
            table.c_name
        );
        // The kernels' enums come only from the table.
        let decl = format!("enum {}", table.c_name);
        for (path, text) in kernel_sources() {
            assert!(!text.contains(&decl), "{}: declares {decl}", path.display());
        }
    }
    // The C enums number the names by their place in the table.
    let c = op_codes::c_declarations();
    for t in op_codes::TABLES {
        let mut decl = format!("enum {} {{\n", t.c_name);
        for (i, n) in t.names.iter().enumerate() {
            decl += &format!("    {n} = {i},\n");
        }
        assert!(c.contains(&(decl + "};\n")), "{c}");
    }
}

/// Every code of `table` is reached by exactly one of `codes`.
fn check_bijective(table: &CodeTable, codes: &[i32]) {
    let mut seen = vec![0usize; table.names.len()];
    for &c in codes {
        seen[c as usize] += 1;
    }
    for (name, n) in table.names.iter().zip(seen) {
        assert_eq!(n, 1, "{}: {name} is reached by {n} Rust ops", table.c_name);
    }
}

#[test]
fn every_rust_op_has_its_own_code() {
    use BinaryOp as B;
    use UnaryOp as U;
    // One op of each kind of the unary table (backend/unary_ops.rs).
    let unary = U::each_kind();
    let codes: Vec<i32> = unary.iter().map(|&op| unary_code(op).0).collect();
    check_bijective(&op_codes::UNARY, &codes);
    assert_eq!(
        unary_code(U::Expm1).0,
        op_codes::code(&op_codes::UNARY, "U_EXPM1")
    );

    let binary = [
        B::Add,
        B::Sub,
        B::Mul,
        B::Div,
        B::Pow,
        B::Maximum,
        B::Minimum,
        B::FloorDivide,
        B::Remainder,
        B::Fmod,
        B::Eq,
        B::Ne,
        B::Lt,
        B::Le,
        B::Gt,
        B::Ge,
        B::LogicalAnd,
        B::LogicalOr,
        B::LogicalXor,
        B::ReluBackward,
        B::LeakyReluBackward(0.1),
        B::SigmoidBackward,
        B::TanhBackward,
        B::GeluBackward,
        B::GeluTanhBackward,
        B::SiluBackward,
        B::ClampBackward {
            min: None,
            max: None,
        },
    ];
    let codes: Vec<i32> = binary.iter().map(|&op| binary_code(op).0).collect();
    check_bijective(&op_codes::BINARY, &codes);
    assert_eq!(
        binary_code(B::Fmod).0,
        op_codes::code(&op_codes::BINARY, "B_FMOD")
    );

    let point = [
        PointLoss::Mse,
        PointLoss::L1,
        PointLoss::Bce,
        PointLoss::BceWithLogits,
    ];
    let codes: Vec<i32> = point.iter().map(|&k| point_code(k)).collect();
    check_bijective(&op_codes::POINT_LOSS, &codes);
}
