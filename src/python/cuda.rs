//! `rustgrad._C._cuda_*`: device queries and settings for `rustgrad.cuda` and
//! `rustgrad.backends.cuda` (present only in builds with the `cuda` feature).

use pyo3::prelude::*;

use super::IntoPy;
use crate::backend::cuda;

#[pyfunction]
fn _cuda_is_available() -> bool {
    cuda::is_available()
}

#[pyfunction]
fn _cuda_device_count() -> usize {
    cuda::device_count()
}

#[pyfunction]
fn _cuda_unavailable_reason() -> String {
    cuda::unavailable_reason()
}

#[pyfunction]
#[pyo3(signature = (device=None))]
fn _cuda_synchronize(py: Python<'_>, device: Option<usize>) -> PyResult<()> {
    py.detach(|| cuda::synchronize(device)).py()
}

#[pyfunction]
#[pyo3(signature = (device=0))]
fn _cuda_memory_allocated(device: usize) -> usize {
    cuda::memory_allocated(device)
}

#[pyfunction]
#[pyo3(signature = (device=0))]
fn _cuda_max_memory_allocated(device: usize) -> usize {
    cuda::max_memory_allocated(device)
}

#[pyfunction]
#[pyo3(signature = (device=0))]
fn _cuda_device_name(device: usize) -> PyResult<String> {
    cuda::device_name(device).py()
}

#[pyfunction]
#[pyo3(signature = (device=0))]
fn _cuda_get_device_capability(device: usize) -> PyResult<(i32, i32)> {
    cuda::device_capability(device).py()
}

#[pyfunction]
#[pyo3(signature = (device=0))]
fn _cuda_mem_get_info(device: usize) -> PyResult<(usize, usize)> {
    cuda::mem_get_info(device).py()
}

#[pyfunction]
fn _cuda_set_allow_tf32(allow: bool) {
    cuda::set_allow_tf32(allow)
}

#[pyfunction]
fn _cuda_get_allow_tf32() -> bool {
    cuda::allow_tf32()
}

/// Registers a folder to search for NVRTC (`site-packages/nvidia/cu13/lib`).
#[pyfunction]
fn _cuda_add_nvrtc_dir(path: std::path::PathBuf) {
    cuda::add_nvrtc_search_dir(path)
}

/// Where NVRTC was loaded from and its version, or why it cannot be loaded.
#[pyfunction]
fn _cuda_nvrtc_info() -> PyResult<(Option<String>, (i32, i32))> {
    let info = cuda::loader::ensure_nvrtc().map_err(pyo3::exceptions::PyRuntimeError::new_err)?;
    Ok((info.path.map(|p| p.display().to_string()), info.version))
}

/// Compiles every kernel file with NVRTC for each architecture (`80` for compute_80), PTX and,
/// when `cubin` is true, machine code too (ptxas); returns `(file, arch, error or "")` per compile.
/// Needs no GPU.
#[pyfunction]
#[pyo3(signature = (archs, cubin=false))]
fn _cuda_compile_kernels(
    py: Python<'_>,
    archs: Vec<u32>,
    cubin: bool,
) -> PyResult<Vec<(String, u32, String)>> {
    cuda::loader::ensure_nvrtc().map_err(pyo3::exceptions::PyRuntimeError::new_err)?;
    Ok(py.detach(|| {
        let mut out = Vec::new();
        for k in cuda::nvrtc::ALL {
            for &arch in &archs {
                let mut err = String::new();
                if let Err(e) = cuda::nvrtc::compile(k, arch, cuda::nvrtc::Output::Ptx, &[]) {
                    err = e;
                } else if cubin {
                    if let Err(e) = cuda::nvrtc::compile(k, arch, cuda::nvrtc::Output::Cubin, &[]) {
                        err = e;
                    }
                }
                out.push((k.name.to_string(), arch, err));
            }
        }
        out
    }))
}

/// True in test builds whose `cuda` device is the CPU emulator (the `cuda-emu` feature).
#[pyfunction]
fn _cuda_is_emulator() -> bool {
    cfg!(feature = "cuda-emu")
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_cuda_is_available, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_device_count, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_unavailable_reason, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_synchronize, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_memory_allocated, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_max_memory_allocated, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_device_name, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_get_device_capability, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_mem_get_info, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_set_allow_tf32, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_get_allow_tf32, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_add_nvrtc_dir, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_nvrtc_info, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_compile_kernels, m)?)?;
    m.add_function(wrap_pyfunction!(_cuda_is_emulator, m)?)?;
    Ok(())
}
