//! Finding the two shared libraries the GPU backend needs, without any set-up by the user.
//!
//! * The driver (`libcuda.so.1`) comes with the NVIDIA driver; cudarc finds it by name.
//! * NVRTC (`libnvrtc.so.13`) comes from the PyPI package `nvidia-cuda-nvrtc` (the `cuda` extra
//!   of rustgrad), which installs it under `site-packages/nvidia/cu13/lib`. That folder is not on
//!   the loader's path, so we open its builtins library and then NVRTC itself by full path with
//!   `RTLD_GLOBAL`; cudarc's later load by soname then finds the library already in the process.
//!
//! cudarc panics when it calls into a library it cannot load, so nothing here or elsewhere calls
//! into cudarc before [`driver_present`] / [`ensure_nvrtc`] said the library is there.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Folders to search for NVRTC, registered by the Python layer (`nvidia/cu13/lib` of every
/// `site-packages` on `sys.path`) before the first use.
static SEARCH_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// How to get NVRTC, for error messages.
pub const NVRTC_HINT: &str = "install it with `pip install 'rustgrad[cuda]'` (the PyPI package nvidia-cuda-nvrtc==13.0.*), or set RUSTGRAD_NVRTC_DIR to the folder holding libnvrtc.so.13";

/// Adds a folder to search for `libnvrtc` (no effect once NVRTC is loaded).
pub fn add_nvrtc_search_dir(dir: PathBuf) {
    if let Ok(mut dirs) = SEARCH_DIRS.lock() {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
}

/// True when the NVIDIA driver library can be loaded.
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: `is_culib_present` only tries to dlopen candidate names (no symbol is called).
    *PRESENT.get_or_init(|| {
        std::panic::catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() })
            .unwrap_or(false)
    })
}

/// The folders searched for NVRTC, in order.
pub fn nvrtc_search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("RUSTGRAD_NVRTC_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Ok(reg) = SEARCH_DIRS.lock() {
        dirs.extend(reg.iter().cloned());
    }
    // Pure-Rust users in a virtual environment: its site-packages too.
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        for lib in ["lib", "lib64"] {
            let base = Path::new(&venv).join(lib);
            if let Ok(entries) = std::fs::read_dir(&base) {
                for e in entries.flatten() {
                    let p = e
                        .path()
                        .join("site-packages")
                        .join("nvidia")
                        .join("cu13")
                        .join("lib");
                    dirs.push(p);
                }
            }
        }
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(root) = std::env::var_os(var) {
            dirs.push(Path::new(&root).join("lib64"));
            dirs.push(Path::new(&root).join("lib"));
        }
    }
    dirs
}

/// The NVRTC library and its builtins in `dir` (the `.alt` variants are skipped).
pub fn nvrtc_files_in(dir: &Path) -> Option<(PathBuf, Option<PathBuf>)> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut lib = None;
    let mut builtins = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains(".alt.") {
            continue;
        }
        if name.starts_with("libnvrtc-builtins.so") {
            builtins = Some(e.path());
        } else if name.starts_with("libnvrtc.so") && (name != "libnvrtc.so" || lib.is_none()) {
            // A versioned name (libnvrtc.so.13) wins over the bare development link.
            lib = Some(e.path());
        }
    }
    lib.map(|l| (l, builtins))
}

/// Where NVRTC was loaded from (`None`: found by the system loader).
#[derive(Clone, Debug)]
pub struct NvrtcInfo {
    pub path: Option<PathBuf>,
    pub version: (i32, i32),
}

/// Loads NVRTC once; the error names what is missing and how to get it.
pub fn ensure_nvrtc() -> Result<NvrtcInfo, String> {
    static STATE: OnceLock<Result<NvrtcInfo, String>> = OnceLock::new();
    if let Some(s) = STATE.get() {
        return s.clone();
    }
    // Only a successful load is cached: a later call may find a folder registered since.
    let r = load_nvrtc();
    if r.is_ok() {
        let _ = STATE.set(r.clone());
    }
    r
}

fn load_nvrtc() -> Result<NvrtcInfo, String> {
    let mut opened: Option<PathBuf> = None;
    let mut tried = Vec::new();
    for dir in nvrtc_search_dirs() {
        let Some((lib, builtins)) = nvrtc_files_in(&dir) else {
            continue;
        };
        tried.push(dir.display().to_string());
        if let Some(b) = &builtins {
            // The builtins first: NVRTC opens them by name when it compiles.
            if open_global(b).is_err() {
                continue;
            }
        }
        if open_global(&lib).is_ok() {
            opened = Some(lib);
            break;
        }
    }
    // SAFETY: only dlopen attempts by name; no symbol is called.
    let present = std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
        .unwrap_or(false);
    if !present {
        let searched = if tried.is_empty() {
            String::new()
        } else {
            format!(" (found but could not load: {})", tried.join(", "))
        };
        return Err(format!(
            "NVRTC (libnvrtc.so.13), which compiles rustgrad's GPU kernels, was not found{searched}; {NVRTC_HINT}"
        ));
    }
    let version = std::panic::catch_unwind(|| {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: the library is loaded (checked above); nvrtcVersion writes two ints.
        let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
        (r, major, minor)
    })
    .map_err(|_| format!("NVRTC could not be loaded; {NVRTC_HINT}"))?;
    if r_ok(version.0) {
        Ok(NvrtcInfo {
            path: opened,
            version: (version.1, version.2),
        })
    } else {
        Err(format!(
            "NVRTC does not answer (nvrtcVersion failed); {NVRTC_HINT}"
        ))
    }
}

fn r_ok(r: cudarc::nvrtc::sys::nvrtcResult) -> bool {
    r == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS
}

/// dlopen with RTLD_NOW | RTLD_GLOBAL; the handle is kept for the life of the process.
fn open_global(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        // SAFETY: loading NVRTC runs no initialisers that depend on our state.
        let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }
            .map_err(|e| e.to_string())?;
        static KEEP: Mutex<Vec<Library>> = Mutex::new(Vec::new());
        if let Ok(mut keep) = KEEP.lock() {
            keep.push(lib);
        } else {
            std::mem::forget(lib);
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        // SAFETY: as above.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
        std::mem::forget(lib);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvrtc_files_skip_alt_builds() {
        let dir = std::env::temp_dir().join(format!("rg-nvrtc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "libnvrtc.so.13",
            "libnvrtc.alt.so.13",
            "libnvrtc-builtins.so.13.0",
            "libnvrtc-builtins.alt.so.13.0",
        ] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let (lib, builtins) = nvrtc_files_in(&dir).unwrap();
        assert_eq!(lib.file_name().unwrap(), "libnvrtc.so.13");
        assert_eq!(
            builtins.unwrap().file_name().unwrap(),
            "libnvrtc-builtins.so.13.0"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(nvrtc_files_in(Path::new("/nonexistent/rustgrad")).is_none());
    }
}
