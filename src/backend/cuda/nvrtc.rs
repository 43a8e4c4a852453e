//! Kernel sources and their compilation: CUDA C in `kernels/`, embedded at build time, compiled by
//! NVRTC for the device's architecture on first use, cached in memory and on disk.
//!
//! NVRTC compiles to PTX, which the driver compiles for the device when loading. PTX from an
//! NVRTC newer than the driver (13.1 or 13.2 on a 13.0 driver) is refused by the driver
//! (CUDA_ERROR_UNSUPPORTED_PTX_VERSION), a cubin is not (CUDA's minor-version compatibility), so
//! with such an NVRTC the kernels are compiled to machine code for the device's architecture
//! (when NVRTC knows it): whichever NVRTC 13.x the process ends up with, the kernels load.
//!
//! The disk cache lives under the user's cache folder (`$RUSTGRAD_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/rustgrad/kernels`, else `~/.cache/rustgrad/kernels`); a file's name is its key:
//! module name, a hash of the full source and compile options, the architecture, the output kind
//! and the NVRTC version, so a changed kernel, another GPU or another NVRTC never reuses a stale
//! file. `RUSTGRAD_KERNEL_CACHE=0` turns the disk cache off.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One kernel file.
#[derive(Debug)]
pub struct KernelSource {
    /// Module name (the file's stem).
    pub name: &'static str,
    pub code: &'static str,
}

/// Included before every kernel file.
pub const COMMON: &str = include_str!("../../../kernels/common.cuh");

macro_rules! kernel_file {
    ($ident:ident, $name:literal) => {
        pub const $ident: KernelSource = KernelSource {
            name: $name,
            code: include_str!(concat!("../../../kernels/", $name, ".cu")),
        };
    };
}

kernel_file!(ELEMENTWISE, "elementwise");
kernel_file!(REDUCE, "reduce");
kernel_file!(GEMM, "gemm");
kernel_file!(CONV, "conv");
kernel_file!(POOL, "pool");
kernel_file!(NN, "nn");
kernel_file!(RANDOM, "random");
kernel_file!(OPTIM, "optim");
kernel_file!(INDEX, "index");

/// Every kernel file (the compile tests walk this list).
pub const ALL: &[&KernelSource] = &[
    &ELEMENTWISE,
    &REDUCE,
    &GEMM,
    &CONV,
    &POOL,
    &NN,
    &RANDOM,
    &OPTIM,
    &INDEX,
];

/// The source NVRTC compiles: the op-code declarations generated from
/// [`op_codes`](super::op_codes), the common header, then the file (line numbers restart for each
/// of the two). Its hash is part of the disk cache's key, so a changed table recompiles.
pub fn full_source(k: &KernelSource) -> String {
    format!(
        "{}#line 1 \"common.cuh\"\n{COMMON}\n#line 1 \"{}.cu\"\n{}",
        super::op_codes::c_declarations(),
        k.name,
        k.code
    )
}

/// NVRTC options for architecture `arch` (`80`): compute_80 for PTX, sm_80 for a cubin.
pub fn options(arch: u32, output: Output) -> Vec<String> {
    let target = match output {
        Output::Ptx => format!("--gpu-architecture=compute_{arch}"),
        Output::Cubin => format!("--gpu-architecture=sm_{arch}"),
    };
    vec![
        target,
        "--std=c++17".into(),
        "--fmad=true".into(),
        // Line info for compute-sanitizer and profilers; no effect on the code.
        "--generate-line-info".into(),
    ]
}

/// 64-bit FNV-1a: a stable hash (std's hasher may change between Rust releases).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The cache key of a module; its file name is the key plus [`Output::extension`].
pub fn cache_key(name: &str, source: &str, arch: u32, output: Output, nvrtc: (i32, i32)) -> String {
    let mut bytes = source.as_bytes().to_vec();
    for o in options(arch, output) {
        bytes.push(0);
        bytes.extend_from_slice(o.as_bytes());
    }
    format!(
        "{name}-{:016x}-sm{arch}-nvrtc{}.{}",
        fnv1a64(&bytes),
        nvrtc.0,
        nvrtc.1
    )
}

/// The disk cache folder, or None when disabled or no home is known.
pub fn cache_dir() -> Option<PathBuf> {
    if std::env::var("RUSTGRAD_KERNEL_CACHE").is_ok_and(|v| v == "0") {
        return None;
    }
    if let Some(d) = std::env::var_os("RUSTGRAD_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("rustgrad").join("kernels"));
    }
    #[cfg(windows)]
    if let Some(d) = std::env::var_os("LOCALAPPDATA") {
        return Some(PathBuf::from(d).join("rustgrad").join("kernels"));
    }
    std::env::var_os("HOME").map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("rustgrad")
            .join("kernels")
    })
}

/// The architecture to compile for: the device's, or the newest NVRTC knows that is not newer.
pub fn pick_arch(cc: (i32, i32), supported: &[i32]) -> Result<u32, String> {
    let want = cc.0 * 10 + cc.1;
    supported
        .iter()
        .copied()
        .filter(|&a| a <= want)
        .max()
        .map(|a| a as u32)
        .ok_or_else(|| {
            format!(
                "the GPU's compute capability {}.{} is older than any this NVRTC supports (oldest: {})",
                cc.0,
                cc.1,
                supported
                    .iter()
                    .min()
                    .map(|a| format!("{}.{}", a / 10, a % 10))
                    .unwrap_or_else(|| "none".into())
            )
        })
}

/// What to compile for a device of compute capability `cc` given the architecture `arch` that
/// [`pick_arch`] chose, NVRTC's version and the CUDA version the driver supports: PTX, which
/// the driver compiles for the device, unless NVRTC is newer than the driver (whose PTX the
/// driver would refuse) and knows the device's own architecture: then a cubin.
pub fn output_for(cc: (i32, i32), arch: u32, nvrtc: (i32, i32), driver: (i32, i32)) -> Output {
    if nvrtc > driver && (cc.0 * 10 + cc.1) as u32 == arch {
        Output::Cubin
    } else {
        Output::Ptx
    }
}

/// The architectures NVRTC can compile for.
pub fn supported_archs() -> Result<Vec<i32>, String> {
    crate::backend::cuda::loader::ensure_nvrtc()?;
    use cudarc::nvrtc::sys;
    let mut n = 0;
    // SAFETY: NVRTC is loaded (ensure_nvrtc); valid out-pointers sized by the first call.
    unsafe {
        if sys::nvrtcGetNumSupportedArchs(&mut n) != sys::nvrtcResult::NVRTC_SUCCESS || n <= 0 {
            return Err("nvrtcGetNumSupportedArchs failed".into());
        }
        let mut archs = vec![0i32; n as usize];
        if sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) != sys::nvrtcResult::NVRTC_SUCCESS {
            return Err("nvrtcGetSupportedArchs failed".into());
        }
        Ok(archs)
    }
}

/// What a compile produced.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// PTX for a virtual architecture (the driver compiles it when loading).
    Ptx,
    /// Machine code for one real architecture (ptxas runs inside NVRTC).
    Cubin,
}

impl Output {
    /// The cache file's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Output::Ptx => "ptx",
            Output::Cubin => "cubin",
        }
    }
}

/// Compiles one kernel file; the error holds NVRTC's log. `extra` options follow the defaults.
pub fn compile(
    k: &KernelSource,
    arch: u32,
    output: Output,
    extra: &[&str],
) -> Result<(Vec<u8>, String), String> {
    crate::backend::cuda::loader::ensure_nvrtc()?;
    use cudarc::nvrtc::sys;
    let src = CString::new(full_source(k)).map_err(|_| "kernel source holds a NUL byte")?;
    let name = CString::new(format!("{}.cu", k.name)).map_err(|_| "bad kernel file name")?;
    let mut opts: Vec<String> = options(arch, output);
    opts.extend(extra.iter().map(|s| s.to_string()));
    let copts: Vec<CString> = opts
        .iter()
        .map(|o| CString::new(o.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|_| "bad NVRTC option")?;
    let ptrs: Vec<*const std::ffi::c_char> = copts.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: NVRTC is loaded; every pointer is a live NUL-terminated string; the program is
    // destroyed on every path.
    unsafe {
        let mut prog = std::ptr::null_mut();
        let r = sys::nvrtcCreateProgram(
            &mut prog,
            src.as_ptr(),
            name.as_ptr(),
            0,
            std::ptr::null(),
            std::ptr::null(),
        );
        if r != sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(format!("nvrtcCreateProgram failed for {}", k.name));
        }
        let r = sys::nvrtcCompileProgram(prog, ptrs.len() as i32, ptrs.as_ptr());
        let mut log_len = 0usize;
        let mut log = String::new();
        if sys::nvrtcGetProgramLogSize(prog, &mut log_len) == sys::nvrtcResult::NVRTC_SUCCESS
            && log_len > 1
        {
            let mut buf = vec![0u8; log_len];
            if sys::nvrtcGetProgramLog(prog, buf.as_mut_ptr() as *mut std::ffi::c_char)
                == sys::nvrtcResult::NVRTC_SUCCESS
            {
                buf.truncate(log_len.saturating_sub(1));
                log = String::from_utf8_lossy(&buf).into_owned();
            }
        }
        let out = if r == sys::nvrtcResult::NVRTC_SUCCESS {
            let mut size = 0usize;
            let (size_ok, data) = match output {
                Output::Ptx => {
                    let ok =
                        sys::nvrtcGetPTXSize(prog, &mut size) == sys::nvrtcResult::NVRTC_SUCCESS;
                    let mut buf = vec![0u8; size];
                    let ok = ok
                        && sys::nvrtcGetPTX(prog, buf.as_mut_ptr() as *mut std::ffi::c_char)
                            == sys::nvrtcResult::NVRTC_SUCCESS;
                    (ok, buf)
                }
                Output::Cubin => {
                    let ok =
                        sys::nvrtcGetCUBINSize(prog, &mut size) == sys::nvrtcResult::NVRTC_SUCCESS;
                    let mut buf = vec![0u8; size];
                    let ok = ok
                        && sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr() as *mut std::ffi::c_char)
                            == sys::nvrtcResult::NVRTC_SUCCESS;
                    (ok, buf)
                }
            };
            if size_ok {
                Ok((data, log))
            } else {
                Err(format!("NVRTC produced no output for {}", k.name))
            }
        } else {
            Err(format!(
                "NVRTC could not compile the kernel file {}.cu for compute_{arch}:\n{log}",
                k.name
            ))
        };
        sys::nvrtcDestroyProgram(&mut prog);
        out
    }
}

/// The module image the driver loads (`cuModuleLoadData`): PTX text ending in its NUL, or a
/// cubin, for one module and architecture: from memory, from disk, or freshly compiled (and then
/// stored). `fresh` skips both caches (a cached file the driver refused).
pub fn image(
    k: &KernelSource,
    arch: u32,
    output: Output,
    fresh: bool,
) -> Result<Arc<Vec<u8>>, String> {
    static MEMORY: Mutex<Option<HashMap<String, Arc<Vec<u8>>>>> = Mutex::new(None);
    let info = crate::backend::cuda::loader::ensure_nvrtc()?;
    let key = format!(
        "{}.{}",
        cache_key(k.name, &full_source(k), arch, output, info.version),
        output.extension()
    );
    if !fresh {
        if let Some(p) = MEMORY
            .lock()
            .ok()
            .and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned()))
        {
            return Ok(p);
        }
    }
    let dir = cache_dir();
    let file = dir.as_ref().map(|d| d.join(&key));
    let mut bytes: Option<Vec<u8>> = None;
    if !fresh {
        if let Some(f) = &file {
            if let Ok(b) = std::fs::read(f) {
                if looks_valid(&b, output) {
                    bytes = Some(b);
                }
            }
        }
    }
    let mut bytes = match bytes {
        Some(b) => b,
        None => {
            let (mut b, _log) = compile(k, arch, output, &[])?;
            if output == Output::Ptx {
                while b.last() == Some(&0) {
                    b.pop();
                }
            }
            if let (Some(d), Some(f)) = (&dir, &file) {
                store(d, f, &b);
            }
            b
        }
    };
    if output == Output::Ptx {
        if bytes.contains(&0) {
            return Err("PTX holds a NUL byte".into());
        }
        // cuModuleLoadData reads PTX up to its NUL.
        bytes.push(0);
    }
    let c = Arc::new(bytes);
    if let Ok(mut m) = MEMORY.lock() {
        m.get_or_insert_with(HashMap::new).insert(key, c.clone());
    }
    Ok(c)
}

/// PTX text for one module and architecture (see [`image`]).
pub fn ptx(k: &KernelSource, arch: u32, fresh: bool) -> Result<CString, String> {
    let img = image(k, arch, Output::Ptx, fresh)?;
    CString::from_vec_with_nul(img.to_vec()).map_err(|_| "PTX holds a NUL byte".to_string())
}

fn looks_valid(bytes: &[u8], output: Output) -> bool {
    match output {
        Output::Ptx => looks_like_ptx(bytes),
        // An ELF header at least; the driver checks the rest (a refused file is recompiled).
        Output::Cubin => bytes.len() > 64 && bytes.starts_with(b"\x7fELF"),
    }
}

fn looks_like_ptx(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let s = String::from_utf8_lossy(head);
    s.contains(".version") && s.contains(".target") && !bytes.contains(&0)
}

/// Writes a cache file atomically (temp file in the same folder, then rename); failures only
/// cost a recompilation next time.
fn store(dir: &std::path::Path, file: &std::path::Path, bytes: &[u8]) {
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // Unique per process and call: two threads (two devices) may store the same key at once.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        file.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("kernels"),
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, file).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_follow_source_arch_and_version() {
        let key = |src, arch, output, v| cache_key("gemm", src, arch, output, v);
        let a = key("src", 80, Output::Ptx, (13, 0));
        assert!(
            a.starts_with("gemm-") && a.ends_with("-sm80-nvrtc13.0"),
            "{a}"
        );
        assert_eq!(a, key("src", 80, Output::Ptx, (13, 0)), "stable");
        assert_ne!(a, key("src2", 80, Output::Ptx, (13, 0)));
        assert_ne!(a, key("src", 90, Output::Ptx, (13, 0)));
        assert_ne!(a, key("src", 80, Output::Ptx, (13, 1)));
        assert_ne!(a, key("src", 80, Output::Cubin, (13, 0)));
        // FNV-1a reference values.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn arch_is_the_newest_not_above_the_device() {
        let s = [75, 80, 86, 87, 88, 89, 90, 100, 103, 110, 120, 121];
        assert_eq!(pick_arch((9, 0), &s), Ok(90));
        assert_eq!(pick_arch((8, 9), &s), Ok(89));
        assert_eq!(pick_arch((9, 5), &s), Ok(90));
        assert_eq!(pick_arch((13, 0), &s), Ok(121));
        assert!(pick_arch((7, 0), &s).unwrap_err().contains("7.0"));
    }

    #[test]
    fn ptx_unless_nvrtc_is_newer_than_the_driver() {
        let s = [75, 80, 86, 87, 88, 89, 90, 100, 103, 110, 120, 121];
        // H100 with the pinned NVRTC 13.0 on a 13.0 driver (or a newer driver): PTX.
        let cc = (9, 0);
        let arch = pick_arch(cc, &s).unwrap();
        assert_eq!(output_for(cc, arch, (13, 0), (13, 0)), Output::Ptx);
        assert_eq!(output_for(cc, arch, (13, 0), (13, 2)), Output::Ptx);
        // NVRTC 13.2 on a 13.0 driver: machine code, which the older driver loads.
        assert_eq!(output_for(cc, arch, (13, 2), (13, 0)), Output::Cubin);
        assert_eq!(options(arch, Output::Cubin)[0], "--gpu-architecture=sm_90");
        assert_eq!(
            options(arch, Output::Ptx)[0],
            "--gpu-architecture=compute_90"
        );
        // A GPU newer than NVRTC knows: PTX for the newest it knows, compiled by the driver.
        let cc = (9, 5);
        let arch = pick_arch(cc, &s).unwrap();
        assert_eq!(
            (arch, output_for(cc, arch, (13, 2), (13, 0))),
            (90, Output::Ptx)
        );
        assert_eq!(Output::Cubin.extension(), "cubin");
        assert_eq!(Output::Ptx.extension(), "ptx");
    }

    #[test]
    fn ptx_files_are_recognised() {
        assert!(looks_like_ptx(b"//\n.version 9.0\n.target sm_80\n"));
        assert!(!looks_like_ptx(b"garbage"));
        assert!(!looks_like_ptx(b".version .target \0"));
        let mut elf = b"\x7fELF".to_vec();
        elf.resize(200, 1);
        assert!(looks_valid(&elf, Output::Cubin));
        assert!(!looks_valid(&elf[..40], Output::Cubin));
        assert!(!looks_valid(
            b"//\n.version 9.0\n.target sm_80\n",
            Output::Cubin
        ));
        assert!(!looks_valid(&elf, Output::Ptx));
    }

    #[test]
    fn every_kernel_file_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "cu")
                    .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = ALL.iter().map(|k| k.name.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }
}
