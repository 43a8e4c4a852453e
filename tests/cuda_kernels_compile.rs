//! Every kernel file compiles with NVRTC to PTX for sm_80 and sm_90, and ptxas (inside NVRTC)
//! accepts it as machine code for both. Needs no GPU: NVRTC is a compiler library. NVRTC comes
//! from the PyPI package nvidia-cuda-nvrtc==13.0.* (found through RUSTGRAD_NVRTC_DIR, the active
//! virtual environment, or the `python3` on PATH); without it the test says so and passes.
#![cfg(all(feature = "cuda", not(feature = "cuda-emu")))]

use rustgrad::backend::cuda::{loader, nvrtc};

/// Registers the pip package's library folder as the Python layer would.
fn register_pip_nvrtc() {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import importlib.util, os\ns = importlib.util.find_spec('nvidia')\nprint('\\n'.join(os.path.join(p, 'cu13', 'lib') for p in (s.submodule_search_locations or [])) if s else '')",
        ])
        .output();
    if let Ok(o) = out {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if !line.trim().is_empty() {
                loader::add_nvrtc_search_dir(line.trim().into());
            }
        }
    }
}

#[test]
fn every_kernel_compiles_for_sm80_and_sm90() {
    register_pip_nvrtc();
    if let Err(e) = loader::ensure_nvrtc() {
        if std::env::var("RUSTGRAD_REQUIRE_NVRTC").is_ok_and(|v| v == "1") {
            panic!("NVRTC required but not found: {e}");
        }
        eprintln!("SKIPPED: NVRTC not found ({e})");
        return;
    }
    let mut failures = Vec::new();
    for k in nvrtc::ALL {
        for arch in [80u32, 90] {
            match nvrtc::compile(k, arch, nvrtc::Output::Ptx, &[]) {
                Ok((ptx, _)) => {
                    let text = String::from_utf8_lossy(&ptx);
                    assert!(text.contains(&format!(".target sm_{arch}")), "{}", k.name);
                }
                Err(e) => failures.push(format!("{} compute_{arch}: {e}", k.name)),
            }
            if let Err(e) = nvrtc::compile(k, arch, nvrtc::Output::Cubin, &[]) {
                failures.push(format!("{} sm_{arch} (ptxas): {e}", k.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn disk_cache_round_trip() {
    register_pip_nvrtc();
    if loader::ensure_nvrtc().is_err() {
        eprintln!("SKIPPED: NVRTC not found");
        return;
    }
    let dir = std::env::temp_dir().join(format!("rg-kcache-{}", std::process::id()));
    std::env::set_var("RUSTGRAD_CACHE_DIR", &dir);
    let a = nvrtc::ptx(&nvrtc::ELEMENTWISE, 80, true).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].to_string_lossy().into_owned();
    assert!(name.starts_with("elementwise-") && name.ends_with("-sm80-nvrtc13.0.ptx"), "{name}");
    let b = nvrtc::ptx(&nvrtc::ELEMENTWISE, 80, false).unwrap();
    assert_eq!(a, b);
    std::fs::remove_dir_all(&dir).unwrap();
}
