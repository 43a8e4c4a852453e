//! The CUDA backend: our kernels compiled by NVRTC and launched through cudarc (issue 5).
