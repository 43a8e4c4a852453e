//! The runtime on a real GPU: the CUDA driver API through cudarc's raw bindings.
//!
//! One primary context and one non-blocking stream per device; memory from the driver's
//! stream-ordered pool (freed memory stays cached in the pool, as PyTorch's caching allocator
//! does); copies and launches queue on the stream. Every call into the driver happens after
//! [`availability`] has checked that the library loads and that the driver is new enough for
//! every symbol the bindings use, so cudarc's loader never panics.

use std::ffi::{c_void, CStr, CString};
use std::sync::OnceLock;

use cudarc::driver::sys;

use super::{LaunchDims, Props, RtError};
use crate::backend::cuda::loader;

type R<T> = Result<T, RtError>;

/// The driver's name and description of an error code.
pub(crate) fn describe(r: sys::CUresult) -> String {
    let mut name: *const std::ffi::c_char = std::ptr::null();
    let mut desc: *const std::ffi::c_char = std::ptr::null();
    // SAFETY: both calls write a pointer to a static string (or leave it null).
    unsafe {
        sys::cuGetErrorName(r, &mut name);
        sys::cuGetErrorString(r, &mut desc);
    }
    let s = |p: *const std::ffi::c_char| {
        if p.is_null() {
            None
        } else {
            // SAFETY: the driver returns NUL-terminated static strings.
            Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        }
    };
    match (s(name), s(desc)) {
        (Some(n), Some(d)) => format!("{d} ({n})"),
        (Some(n), None) => n,
        _ => format!("CUDA driver error {}", r as i32),
    }
}

fn check(r: sys::CUresult, what: &str) -> R<()> {
    match r {
        sys::CUresult::CUDA_SUCCESS => Ok(()),
        sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => Err(RtError::OutOfMemory),
        e => Err(RtError::Other(format!(
            "CUDA error: {} in {what}",
            describe(e)
        ))),
    }
}

/// The number of usable devices, or why there are none. Checks (once): the driver library
/// loads, cuInit succeeds, the driver supports CUDA 13.0, at least one device exists, NVRTC loads.
pub(crate) fn availability() -> Result<usize, String> {
    static STATE: OnceLock<Result<usize, String>> = OnceLock::new();
    let r = STATE.get_or_init(probe_driver).clone()?;
    loader::ensure_nvrtc()
        .map(|_| r)
        .map_err(|e| format!("CUDA is not available: {e}"))
}

fn probe_driver() -> Result<usize, String> {
    if !loader::driver_present() {
        return Err("CUDA is not available: the NVIDIA driver library (libcuda.so.1) was not found; install an NVIDIA driver that supports CUDA 13.0 or newer".into());
    }
    let probe = std::panic::catch_unwind(|| -> Result<usize, String> {
        // cuInit and cuDriverGetVersion exist in every driver; the version gates the rest.
        // SAFETY: plain driver calls with valid out-pointers.
        let r = unsafe { sys::cuInit(0) };
        if r != sys::CUresult::CUDA_SUCCESS {
            return Err(format!(
                "CUDA is not available: cuInit failed: {}",
                describe(r)
            ));
        }
        let mut version = 0;
        // SAFETY: as above.
        let r = unsafe { sys::cuDriverGetVersion(&mut version) };
        if r != sys::CUresult::CUDA_SUCCESS {
            return Err(format!("CUDA is not available: {}", describe(r)));
        }
        if version < 13000 {
            return Err(format!(
                "CUDA is not available: the NVIDIA driver supports CUDA {}.{}, but rustgrad's kernels need CUDA 13.0 or newer; update the NVIDIA driver",
                version / 1000,
                (version % 1000) / 10
            ));
        }
        let mut count = 0;
        // SAFETY: as above.
        let r = unsafe { sys::cuDeviceGetCount(&mut count) };
        if r != sys::CUresult::CUDA_SUCCESS || count <= 0 {
            return Err("CUDA is not available: no CUDA-capable device was found".into());
        }
        Ok(count as usize)
    });
    probe.unwrap_or_else(|_| {
        Err("CUDA is not available: the NVIDIA driver could not be loaded".into())
    })
}

/// A loaded module (kept for the life of the process, as its functions are cached).
pub(crate) struct Module(sys::CUmodule);
// SAFETY: module handles are valid in any thread that binds the context.
unsafe impl Send for Module {}
unsafe impl Sync for Module {}

/// A kernel function handle.
#[derive(Copy, Clone)]
pub(crate) struct Function(sys::CUfunction);
// SAFETY: as for modules.
unsafe impl Send for Function {}
unsafe impl Sync for Function {}

/// One device: its primary context, stream and memory pool.
pub(crate) struct RtDevice {
    ctx: sys::CUcontext,
    stream: sys::CUstream,
    pool: Option<sys::CUmemoryPool>,
    props: Props,
    /// Mapped pinned host memory the kernels report errors into (see common.cuh: RgStatus).
    status_host: *mut c_void,
    status_dev: u64,
}
// SAFETY: the handles are thread-agnostic; every call binds the context to the calling thread.
unsafe impl Send for RtDevice {}
unsafe impl Sync for RtDevice {}

impl RtDevice {
    pub(crate) fn open(ordinal: usize) -> R<RtDevice> {
        let count = availability().map_err(RtError::Other)?;
        if ordinal >= count {
            return Err(RtError::Other(format!(
                "CUDA error: invalid device ordinal (device {ordinal} requested, {count} available)"
            )));
        }
        let mut dev = 0;
        // SAFETY: the driver is loaded and initialised (availability); out-pointers are valid.
        unsafe {
            check(sys::cuDeviceGet(&mut dev, ordinal as i32), "cuDeviceGet")?;
            let mut ctx = std::ptr::null_mut();
            check(
                sys::cuDevicePrimaryCtxRetain(&mut ctx, dev),
                "cuDevicePrimaryCtxRetain",
            )?;
            check(sys::cuCtxSetCurrent(ctx), "cuCtxSetCurrent")?;
            let mut stream = std::ptr::null_mut();
            check(
                sys::cuStreamCreate(
                    &mut stream,
                    sys::CUstream_flags::CU_STREAM_NON_BLOCKING as u32,
                ),
                "cuStreamCreate",
            )?;
            let attr = |a: sys::CUdevice_attribute| -> i32 {
                let mut v = 0;
                if sys::cuDeviceGetAttribute(&mut v, a, dev) == sys::CUresult::CUDA_SUCCESS {
                    v
                } else {
                    0
                }
            };
            use sys::CUdevice_attribute as A;
            let cc = (
                attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
            );
            let sm_count = attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT).max(1) as u32;
            let pools = attr(A::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED) != 0;
            let mut name_buf = [0 as std::ffi::c_char; 256];
            let name = if sys::cuDeviceGetName(name_buf.as_mut_ptr(), 255, dev)
                == sys::CUresult::CUDA_SUCCESS
            {
                CStr::from_ptr(name_buf.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            } else {
                format!("CUDA device {ordinal}")
            };
            let mut total = 0usize;
            check(
                sys::cuDeviceTotalMem_v2(&mut total, dev),
                "cuDeviceTotalMem",
            )?;
            let pool = if pools {
                let mut pool = std::ptr::null_mut();
                if sys::cuDeviceGetDefaultMemPool(&mut pool, dev) == sys::CUresult::CUDA_SUCCESS {
                    // Keep freed memory in the pool instead of returning it at every sync.
                    let mut threshold = u64::MAX;
                    sys::cuMemPoolSetAttribute(
                        pool,
                        sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                        &mut threshold as *mut u64 as *mut c_void,
                    );
                    Some(pool)
                } else {
                    None
                }
            } else {
                None
            };
            let mut driver = 0;
            check(sys::cuDriverGetVersion(&mut driver), "cuDriverGetVersion")?;
            let mut status_host = std::ptr::null_mut();
            check(
                sys::cuMemHostAlloc(
                    &mut status_host,
                    64,
                    sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE,
                ),
                "cuMemHostAlloc",
            )?;
            std::ptr::write_bytes(status_host as *mut u8, 0, 64);
            let mut status_dev = 0;
            check(
                sys::cuMemHostGetDevicePointer_v2(&mut status_dev, status_host, 0),
                "cuMemHostGetDevicePointer",
            )?;
            Ok(RtDevice {
                ctx,
                stream,
                pool,
                props: Props {
                    name,
                    cc,
                    driver: (driver / 1000, (driver % 1000) / 10),
                    sm_count,
                    total_mem: total,
                },
                status_host,
                status_dev,
            })
        }
    }

    pub(crate) fn props(&self) -> &Props {
        &self.props
    }

    /// Makes the context current on this thread (cheap when it already is).
    ///
    /// Asks the driver which context is current instead of remembering it per thread: another
    /// device's `open` on this thread, or another library in the process (PyTorch, CuPy), may
    /// have made a different context current since, and a call under the wrong context fails
    /// (a module loaded into it, a launch on our stream) or lands on the wrong device.
    fn bind(&self) -> R<()> {
        let mut cur: sys::CUcontext = std::ptr::null_mut();
        // SAFETY: valid out-pointer; a thread-local read in the driver.
        let r = unsafe { sys::cuCtxGetCurrent(&mut cur) };
        if r == sys::CUresult::CUDA_SUCCESS && cur == self.ctx {
            return Ok(());
        }
        // SAFETY: a retained primary context.
        check(unsafe { sys::cuCtxSetCurrent(self.ctx) }, "cuCtxSetCurrent")
    }

    /// `bytes` of device memory (stream-ordered).
    pub(crate) fn alloc(&self, bytes: usize) -> R<u64> {
        self.bind()?;
        let mut p = 0;
        // SAFETY: valid out-pointer; the stream belongs to this context.
        let r = unsafe {
            if self.pool.is_some() {
                sys::cuMemAllocAsync(&mut p, bytes.max(1), self.stream)
            } else {
                sys::cuMemAlloc_v2(&mut p, bytes.max(1))
            }
        };
        check(r, "cuMemAllocAsync").map(|_| p)
    }

    /// Returns memory cached by the pool to the device (before retrying a failed allocation).
    pub(crate) fn release_cached(&self) {
        if self.bind().is_err() {
            return;
        }
        // SAFETY: stream and pool of this context.
        unsafe {
            sys::cuStreamSynchronize(self.stream);
            if let Some(pool) = self.pool {
                sys::cuMemPoolTrimTo(pool, 0);
            }
        }
    }

    pub(crate) fn free(&self, ptr: u64) {
        if self.bind().is_err() {
            return;
        }
        // SAFETY: `ptr` came from `alloc` on this device and is freed once (CudaBuffer's drop);
        // stream order makes pending kernels finish with it first.
        unsafe {
            if self.pool.is_some() {
                sys::cuMemFreeAsync(ptr, self.stream);
            } else {
                sys::cuMemFree_v2(ptr);
            }
        }
    }

    /// Copies host bytes to the device (queued; `src` is staged before this returns).
    pub(crate) fn htod(&self, dst: u64, src: &[u8]) -> R<()> {
        if src.is_empty() {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: `dst` holds at least `src.len()` bytes (callers allocate it so). For pageable
        // host memory the driver stages the data before returning, so `src` may be freed after.
        check(
            unsafe {
                sys::cuMemcpyHtoDAsync_v2(
                    dst,
                    src.as_ptr() as *const c_void,
                    src.len(),
                    self.stream,
                )
            },
            "cuMemcpyHtoDAsync",
        )
    }

    /// Copies device bytes to the host and waits for them (a synchronising call).
    pub(crate) fn dtoh(&self, dst: &mut [u8], src: u64) -> R<()> {
        self.bind()?;
        if !dst.is_empty() {
            // SAFETY: `src` holds at least `dst.len()` bytes.
            check(
                unsafe {
                    sys::cuMemcpyDtoHAsync_v2(
                        dst.as_mut_ptr() as *mut c_void,
                        src,
                        dst.len(),
                        self.stream,
                    )
                },
                "cuMemcpyDtoHAsync",
            )?;
        }
        self.synchronize()
    }

    pub(crate) fn dtod(&self, dst: u64, src: u64, bytes: usize) -> R<()> {
        if bytes == 0 {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: both ranges lie in live allocations of this device.
        check(
            unsafe { sys::cuMemcpyDtoDAsync_v2(dst, src, bytes, self.stream) },
            "cuMemcpyDtoDAsync",
        )
    }

    pub(crate) fn memset8(&self, dst: u64, value: u8, bytes: usize) -> R<()> {
        if bytes == 0 {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: the range lies in a live allocation.
        check(
            unsafe { sys::cuMemsetD8Async(dst, value, bytes, self.stream) },
            "cuMemsetD8Async",
        )
    }

    /// Loads a module image: PTX text ending in a NUL, or a cubin.
    pub(crate) fn load_module(&self, image: &[u8]) -> R<Module> {
        if image.is_empty() || (!image.starts_with(b"\x7fELF") && image.last() != Some(&0)) {
            return Err(RtError::Other(
                "internal error: a PTX image without its terminating NUL".into(),
            ));
        }
        self.bind()?;
        let mut m = std::ptr::null_mut();
        // SAFETY: a NUL-terminated PTX image or an ELF cubin (checked above), alive for the call.
        check(
            unsafe { sys::cuModuleLoadData(&mut m, image.as_ptr() as *const c_void) },
            "cuModuleLoadData",
        )?;
        Ok(Module(m))
    }

    pub(crate) fn get_function(&self, m: &Module, name: &str) -> R<Function> {
        self.bind()?;
        let cname = CString::new(name).map_err(|_| RtError::Other("bad kernel name".into()))?;
        let mut f = std::ptr::null_mut();
        // SAFETY: a loaded module and a NUL-terminated name.
        check(
            unsafe { sys::cuModuleGetFunction(&mut f, m.0, cname.as_ptr()) },
            &format!("cuModuleGetFunction({name})"),
        )?;
        Ok(Function(f))
    }

    /// Allows a kernel more than 48 KiB of dynamic shared memory.
    pub(crate) fn set_max_dynamic_smem(&self, f: &Function, bytes: u32) -> R<()> {
        self.bind()?;
        // SAFETY: a valid function handle.
        check(
            unsafe {
                sys::cuFuncSetAttribute(
                    f.0,
                    sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    bytes as i32,
                )
            },
            "cuFuncSetAttribute",
        )
    }

    /// Queues a launch. `params` points at each argument's value, as cuLaunchKernel expects.
    pub(crate) fn launch(
        &self,
        f: &Function,
        _name: &str,
        d: LaunchDims,
        params: &mut [*mut c_void],
        _sizes: &[u32],
    ) -> R<()> {
        self.bind()?;
        // SAFETY: `params` matches the kernel's parameter list (launch.rs builds it from the
        // kernel's signature); the pointed-to values live until this call returns.
        check(
            unsafe {
                sys::cuLaunchKernel(
                    f.0,
                    d.grid[0],
                    d.grid[1],
                    d.grid[2],
                    d.block[0],
                    d.block[1],
                    d.block[2],
                    d.smem,
                    self.stream,
                    params.as_mut_ptr(),
                    std::ptr::null_mut(),
                )
            },
            "cuLaunchKernel",
        )
    }

    /// Waits for all queued work.
    pub(crate) fn synchronize(&self) -> R<()> {
        self.bind()?;
        // SAFETY: our stream.
        check(
            unsafe { sys::cuStreamSynchronize(self.stream) },
            "cuStreamSynchronize",
        )
    }

    /// Waits for all work on every stream of the context (`cuCtxSynchronize`).
    #[cfg_attr(not(feature = "python"), allow(dead_code))] // used by the DLPack bindings
    pub(crate) fn synchronize_context(&self) -> R<()> {
        self.bind()?;
        // SAFETY: our context is current after bind.
        check(unsafe { sys::cuCtxSynchronize() }, "cuCtxSynchronize")
    }

    /// (free, total) device memory.
    pub(crate) fn mem_info(&self) -> R<(usize, usize)> {
        self.bind()?;
        let (mut free, mut total) = (0, 0);
        // SAFETY: valid out-pointers.
        check(
            unsafe { sys::cuMemGetInfo_v2(&mut free, &mut total) },
            "cuMemGetInfo",
        )?;
        Ok((free, total))
    }

    /// The error word kernels write (host view) and its device address.
    pub(crate) fn status(&self) -> (*mut u8, u64) {
        (self.status_host as *mut u8, self.status_dev)
    }
}
