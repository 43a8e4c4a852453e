//! Every kernel file compiles with NVRTC to PTX for sm_80 and sm_90, its PTX entry points are
//! exactly the `KERNEL void name(` lines the file writes out (no entry point made by a macro), and
//! ptxas (inside NVRTC) accepts it as sm_90 machine code within the resources a launch may take:
//! registers for its largest block (1024 threads, or the kernel's `__launch_bounds__`), static
//! shared memory, no spills. The emulator refuses blocks larger than those bounds, so the host
//! side keeps to them too. Needs no GPU: NVRTC is a compiler library. NVRTC comes from the PyPI
//! package nvidia-cuda-nvrtc==13.0.* (found through RUSTGRAD_NVRTC_DIR, the active
//! virtual environment, or the `python3` on PATH); without it the test says so and passes.
//! Also built with `cuda-emu` (NVRTC does not care which runtime runs the kernels), so CI builds
//! the crate once for this test and the emulator tests.
#![cfg(feature = "cuda")]

use std::collections::BTreeSet;

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
    // One thread per kernel file (NVRTC compiles separate programs concurrently).
    let failures: Vec<String> = std::thread::scope(|s| {
        let jobs: Vec<_> = nvrtc::ALL
            .iter()
            .map(|k| {
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for arch in [80u32, 90] {
                        let text = match nvrtc::compile(k, arch, nvrtc::Output::Ptx, &[]) {
                            Ok((ptx, _)) => String::from_utf8_lossy(&ptx).into_owned(),
                            Err(e) => {
                                failures.push(format!("{} compute_{arch}: {e}", k.name));
                                continue;
                            }
                        };
                        if !text.contains(&format!(".target sm_{arch}")) {
                            failures.push(format!("{}: PTX not for sm_{arch}", k.name));
                        }
                        // The module's symbols are exactly the kernels the file writes out.
                        let entries: BTreeSet<String> =
                            ptx_max_threads(&text).into_iter().map(|(n, _)| n).collect();
                        let written = written_kernels(k.code);
                        if entries != written {
                            failures.push(format!(
                                "{}: PTX entries {:?} are not the `KERNEL void name(` of the file {:?}",
                                k.name,
                                entries.difference(&written).collect::<Vec<_>>(),
                                written.difference(&entries).collect::<Vec<_>>()
                            ));
                        }
                        // Machine code for the H100's sm_90 only: ptxas finds the same
                        // classes of error for both, and CI time is short.
                        if arch == 90 {
                            let verbose = ["--ptxas-options=-v"];
                            match nvrtc::compile(k, arch, nvrtc::Output::Cubin, &verbose) {
                                Ok((_, log)) => failures.extend(
                                    resource_overruns(&text, &log)
                                        .into_iter()
                                        .map(|e| format!("{}: {e}", k.name)),
                                ),
                                Err(e) => {
                                    failures.push(format!("{} sm_{arch} (ptxas): {e}", k.name))
                                }
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        jobs.into_iter()
            .flat_map(|j| {
                j.join()
                    .unwrap_or_else(|_| vec!["a compile thread panicked".into()])
            })
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The names of the `KERNEL void [__launch_bounds__(..)] name(` lines of a kernel file.
fn written_kernels(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|l| l.trim_start().strip_prefix("KERNEL void "))
        .map(|rest| {
            let rest = match rest.strip_prefix("__launch_bounds__(") {
                Some(r) => r.split_once(')').map_or("", |(_, r)| r.trim_start()),
                None => rest,
            };
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Registers per multiprocessor block, and the static shared memory a kernel may declare.
const REGISTERS_PER_BLOCK: u32 = 65_536;
const STATIC_SMEM: u32 = 48 * 1024;

/// What ptxas reports for one kernel.
#[derive(Debug, Default)]
struct Usage {
    registers: u32,
    spill_bytes: u32,
    smem: u32,
}

/// Each function's usage from a `ptxas -v` log (kernels, and device functions not inlined).
fn ptxas_usage(log: &str) -> Vec<(String, Usage)> {
    let number_before = |line: &str, unit: &str| -> Option<u32> {
        let head = &line[..line.find(unit)?];
        head.rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
    };
    let mut out: Vec<(String, Usage)> = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Function properties for ").nth(1) {
            out.push((rest.trim().to_string(), Usage::default()));
        } else if let Some((_, usage)) = out.last_mut() {
            if line.contains("bytes spill stores") {
                usage.spill_bytes = number_before(line, " bytes spill stores").unwrap_or(0)
                    + number_before(line, " bytes spill loads").unwrap_or(0);
            } else if line.contains("registers") {
                usage.registers = number_before(line, " registers").unwrap_or(0);
                usage.smem = number_before(line, " bytes smem").unwrap_or(0);
            }
        }
    }
    out
}

/// Each kernel's `.maxntid` (its `__launch_bounds__`) in PTX, as threads per block.
fn ptx_max_threads(ptx: &str) -> Vec<(String, u32)> {
    ptx.split(".entry ")
        .skip(1)
        .map(|entry| {
            let name: String = entry
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let head = entry.split('{').next().unwrap_or("");
            let threads = head
                .split(".maxntid")
                .nth(1)
                .map(|dims| {
                    dims.lines()
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .map(|d| d.trim().parse::<u32>().unwrap_or(1))
                        .product()
                })
                .unwrap_or(1024);
            (name, threads)
        })
        .collect()
}

/// Kernels that could not launch with their largest block, or that spill or declare too much
/// shared memory.
fn resource_overruns(ptx: &str, ptxas_log: &str) -> Vec<String> {
    let bounds = ptx_max_threads(ptx);
    let usage = ptxas_usage(ptxas_log);
    let mut errors = Vec::new();
    for (name, threads) in bounds {
        let Some((_, u)) = usage.iter().find(|(n, _)| *n == name) else {
            errors.push(format!("{name}: no ptxas report"));
            continue;
        };
        // Registers are allocated per warp, in units of 8 per thread.
        let needed = u.registers.next_multiple_of(8) * threads.next_multiple_of(32);
        if needed > REGISTERS_PER_BLOCK {
            errors.push(format!(
                "{name}: {} registers x {threads} threads exceed {REGISTERS_PER_BLOCK}; \
                 give it __launch_bounds__ for the block it is launched with",
                u.registers
            ));
        }
        if u.spill_bytes > 0 {
            errors.push(format!("{name}: spills {} bytes", u.spill_bytes));
        }
        if u.smem > STATIC_SMEM {
            errors.push(format!("{name}: {} bytes of static shared memory", u.smem));
        }
    }
    errors
}

#[test]
fn resource_check_finds_overruns() {
    let ptx = ".visible .entry fits(\n.param .u64 a\n)\n.maxntid 256, 1, 1\n{\n}\n\
               .visible .entry heavy(\n.param .u64 a\n)\n{\n}\n";
    let log = "ptxas info    : Function properties for fits\n\
               ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
               ptxas info    : Used 200 registers, used 1 barriers, 16896 bytes smem\n\
               ptxas info    : Function properties for heavy\n\
               ptxas         .     8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads\n\
               ptxas info    : Used 65 registers, used 0 barriers\n";
    let errors = resource_overruns(ptx, log);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("heavy: 65 registers x 1024 threads"),
        "{errors:?}"
    );
    assert_eq!(errors[1], "heavy: spills 8 bytes");
    let usage = ptxas_usage(log);
    assert_eq!((usage[0].1.registers, usage[0].1.smem), (200, 16896));
}

#[test]
fn disk_cache_round_trip() {
    register_pip_nvrtc();
    let info = match loader::ensure_nvrtc() {
        Ok(i) => i,
        Err(e) => {
            if std::env::var("RUSTGRAD_REQUIRE_NVRTC").is_ok_and(|v| v == "1") {
                panic!("NVRTC required but not found: {e}");
            }
            eprintln!("SKIPPED: NVRTC not found");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("rg-kcache-{}", std::process::id()));
    std::env::set_var("RUSTGRAD_CACHE_DIR", &dir);
    let a = nvrtc::ptx(&nvrtc::ELEMENTWISE, 80, true).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].to_string_lossy().into_owned();
    // The key names the NVRTC that compiled it (13.0 in CI; whatever is installed elsewhere).
    let suffix = format!("-sm80-nvrtc{}.{}.ptx", info.version.0, info.version.1);
    assert!(
        name.starts_with("elementwise-") && name.ends_with(&suffix),
        "{name}"
    );
    assert_eq!(
        name.trim_end_matches(".ptx"),
        nvrtc::cache_key(
            "elementwise",
            &nvrtc::full_source(&nvrtc::ELEMENTWISE),
            80,
            nvrtc::Output::Ptx,
            info.version
        )
    );
    let b = nvrtc::ptx(&nvrtc::ELEMENTWISE, 80, false).unwrap();
    assert_eq!(a, b);
    // A file already on disk under a key is used as it is (this proves the read path: the
    // memory cache has never seen sm_86).
    let src = nvrtc::full_source(&nvrtc::ELEMENTWISE);
    let key86 = nvrtc::cache_key("elementwise", &src, 86, nvrtc::Output::Ptx, info.version);
    let planted = "//\n.version 9.0\n.target sm_86\n// planted\n";
    std::fs::write(dir.join(format!("{key86}.ptx")), planted).unwrap();
    let c = nvrtc::ptx(&nvrtc::ELEMENTWISE, 86, false).unwrap();
    assert_eq!(c.to_str().unwrap(), planted);
    // A damaged file is ignored: compiled afresh and replaced.
    let key89 = nvrtc::cache_key("elementwise", &src, 89, nvrtc::Output::Ptx, info.version);
    let f89 = dir.join(format!("{key89}.ptx"));
    std::fs::write(&f89, b"not ptx").unwrap();
    let d = nvrtc::ptx(&nvrtc::ELEMENTWISE, 89, false).unwrap();
    assert!(d.to_string_lossy().contains(".target sm_89"));
    assert!(String::from_utf8_lossy(&std::fs::read(&f89).unwrap()).contains(".target sm_89"));
    // Machine code (what a GPU NVRTC knows gets): an ELF image, stored as .cubin, read back.
    let e = nvrtc::image(&nvrtc::OPTIM, 90, nvrtc::Output::Cubin, true).unwrap();
    assert!(e.starts_with(b"\x7fELF"));
    let key90 = nvrtc::cache_key(
        "optim",
        &nvrtc::full_source(&nvrtc::OPTIM),
        90,
        nvrtc::Output::Cubin,
        info.version,
    );
    let f90 = dir.join(format!("{key90}.cubin"));
    assert_eq!(std::fs::read(&f90).unwrap(), *e);
    // PTX images end in the NUL cuModuleLoadData reads up to; cubins are passed as they are.
    let p = nvrtc::image(&nvrtc::OPTIM, 90, nvrtc::Output::Ptx, true).unwrap();
    assert_eq!(p.last(), Some(&0));
    assert_eq!(p.iter().filter(|&&b| b == 0).count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
