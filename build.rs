//! Build script. Does nothing unless the test-only `cuda-emu` feature is on: then it compiles every
//! kernel file in kernels/ natively (with kernels/emu/emu.h standing in for the CUDA built-ins)
//! into a static library, together with a registry that maps each kernel's name to a launcher,
//! so the CUDA backend's code paths run on the CPU emulator in tests. Each file is compiled as
//! the host's NVRTC source is: the op-code declarations generated from
//! src/backend/cuda/op_codes.rs, common.cuh, then the file.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cuda-emu")]
    emu::build();
}

/// The op-code table the host reads (see its `mod` line in src/backend/cuda/mod.rs).
#[cfg(feature = "cuda-emu")]
#[allow(dead_code)]
mod op_codes {
    include!("src/backend/cuda/op_codes.rs");
}

#[cfg(feature = "cuda-emu")]
mod emu {
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    /// Kernel names (`KERNEL void name(`) in the preprocessed source, each with the most threads
    /// per block its `__launch_bounds__` allows (1024 without one).
    fn kernel_names(expanded: &str) -> Vec<(String, u32)> {
        let mut names = Vec::new();
        let mut rest = expanded;
        while let Some(i) = rest.find("__rg_kernel__") {
            rest = &rest[i + "__rg_kernel__".len()..];
            let after = rest.trim_start();
            let Some(mut after) = after.strip_prefix("void").map(str::trim_start) else {
                continue;
            };
            let mut max_threads = 1024;
            if let Some(rest) = after.strip_prefix("__launch_bounds__") {
                let (bounds, r) = rest.split_once(')').unwrap_or(("", ""));
                let first = bounds.trim_start_matches([' ', '(']).split(',').next();
                max_threads = first
                    .and_then(|b| b.trim().parse().ok())
                    .expect("__launch_bounds__ with a literal thread count");
                after = r.trim_start();
            }
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push((name, max_threads));
            }
        }
        names
    }

    pub fn build() {
        let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
        let out = PathBuf::from(std::env::var("OUT_DIR").expect("out dir"));
        let kdir = root.join("kernels");
        println!("cargo:rerun-if-changed={}", kdir.display());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&kdir)
            .expect("kernels/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cu"))
            .collect();
        files.sort();
        println!("cargo:rerun-if-changed=src/backend/cuda/op_codes.rs");
        println!("cargo:rerun-if-changed=src/backend/unary_ops.rs");
        let codes = out.join("rg_op_codes.h");
        std::fs::write(&codes, super::op_codes::c_declarations()).expect("write op codes");
        let common = kdir.join("common.cuh");
        let header = kdir.join("emu").join("emu.h");
        let mut build = cc::Build::new();
        build
            .cpp(true)
            .std("c++17")
            .opt_level(2)
            .flag_if_supported("-fno-strict-aliasing")
            .flag_if_supported("-Wno-unused-parameter")
            .flag_if_supported("-Wno-unused-function")
            .flag_if_supported("-Wno-unused-variable")
            .flag_if_supported("-Wno-unused-but-set-variable")
            .flag_if_supported("-Wno-unknown-pragmas")
            .flag_if_supported("-Wno-sign-compare")
            .include(kdir.join("emu"))
            .file(kdir.join("emu").join("emu.cpp"));
        let mut init = String::from("#include \"emu.h\"\n");
        let mut calls = String::new();
        for f in &files {
            let stem = f.file_stem().and_then(|s| s.to_str()).expect("file name");
            // Preprocess with KERNEL marked, to find kernel names made by macros too.
            let scan_src = out.join(format!("scan_{stem}.cpp"));
            std::fs::write(
                &scan_src,
                format!(
                    "#define RG_SCAN 1\n#include \"{}\"\n#include \"{}\"\n#undef KERNEL\n#define KERNEL __rg_kernel__\n#include \"{}\"\n",
                    codes.display(),
                    common.display(),
                    f.display()
                ),
            )
            .expect("write scan source");
            let expanded = cc::Build::new().cpp(true).file(&scan_src).expand();
            let names = kernel_names(&String::from_utf8_lossy(&expanded));
            let mut src = String::new();
            writeln!(src, "#include \"{}\"", header.display()).ok();
            writeln!(src, "#include \"{}\"", codes.display()).ok();
            writeln!(src, "#include \"{}\"", common.display()).ok();
            writeln!(src, "#include \"{}\"", f.display()).ok();
            writeln!(src, "static const rg_emu::Entry rg_entries[] = {{").ok();
            for (n, max_threads) in &names {
                writeln!(src, "    RG_EMU_ENTRY({n}, {max_threads}),").ok();
            }
            if names.is_empty() {
                writeln!(src, "    {{nullptr, nullptr, 0, nullptr, 0}},").ok();
            }
            writeln!(src, "}};").ok();
            writeln!(
                src,
                "extern \"C\" void rg_emu_register_{stem}() {{ rg_emu::add_entries(rg_entries, {}); }}",
                names.len()
            )
            .ok();
            let path = out.join(format!("emu_{stem}.cpp"));
            std::fs::write(&path, src).expect("write emu source");
            build.file(&path);
            writeln!(init, "extern \"C\" void rg_emu_register_{stem}();").ok();
            writeln!(calls, "    rg_emu_register_{stem}();").ok();
        }
        writeln!(init, "extern \"C\" void rg_emu_init() {{\n{calls}}}").ok();
        let init_path = out.join("emu_init.cpp");
        std::fs::write(&init_path, init).expect("write emu init");
        build.file(&init_path);
        build.compile("rgemu");
        let _ = Path::new(&root);
    }
}
