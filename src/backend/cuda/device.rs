//! One CUDA device as the ops see it: lazily opened, with its kernel modules, its memory
//! accounting, its launch bookkeeping and its error reporting.
//!
//! Errors follow PyTorch's conventions:
//! * out of memory: `CUDA out of memory. Tried to allocate ...` (after emptying the pool's cache
//!   and retrying once);
//! * a launch the driver refuses: an error naming the kernel, at once;
//! * a kernel fault: the driver reports it at the next synchronising call (a copy to the host,
//!   `synchronize()`); the error names the kernels queued since the previous synchronisation,
//!   the last first. With `RUSTGRAD_CUDA_LAUNCH_BLOCKING=1` every launch synchronises, so the
//!   error names exactly the failing kernel;
//! * bad indices and targets found by kernels: the IndexError PyTorch raises on the CPU, at the
//!   next synchronising call (kernels skip the bad element and report it in the status word).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::launch::{op_code, Args};
use super::nvrtc::KernelSource;
use super::rt::{self, Function, LaunchDims, Module, RtDevice, RtError};
use crate::error::{format_bytes, Error, Result};
use crate::storage::Device;

/// How many recently queued kernel names a fault report lists.
const RECENT: usize = 8;

/// A device and everything cached for it.
pub(crate) struct CudaDevice {
    pub ordinal: usize,
    rt: RtDevice,
    arch: OnceLock<std::result::Result<u32, String>>,
    modules: Mutex<HashMap<&'static str, Arc<Module>>>,
    functions: Mutex<HashMap<&'static str, Function>>,
    /// Kernels allowed more than 48 KiB of dynamic shared memory, with the amount allowed.
    big_smem: Mutex<HashMap<&'static str, u32>>,
    allocated: AtomicUsize,
    peak: AtomicUsize,
    recent: Mutex<VecDeque<&'static str>>,
    launch_blocking: bool,
    /// Set after an error that leaves the context unusable (a kernel fault).
    poisoned: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave their data inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The number of CUDA devices, or why CUDA cannot be used.
pub(crate) fn availability() -> std::result::Result<usize, String> {
    rt::availability()
}

/// The CUDA device of `device`, opened on first use (a clear error when CUDA cannot be used).
pub(crate) fn device_of(device: Device) -> Result<Arc<CudaDevice>> {
    match device {
        Device::Cuda(i) => get(i),
        Device::Cpu => Err(Error::internal("expected a CUDA device")),
    }
}

/// The devices opened so far, by ordinal.
static DEVICES: Mutex<Vec<Option<Arc<CudaDevice>>>> = Mutex::new(Vec::new());

/// The device `ordinal`, opened on first use.
pub(crate) fn get(ordinal: usize) -> Result<Arc<CudaDevice>> {
    let mut devs = lock(&DEVICES);
    if let Some(Some(d)) = devs.get(ordinal) {
        return Ok(d.clone());
    }
    let count = availability().map_err(Error::runtime)?;
    if ordinal >= count {
        return Err(Error::runtime(format!(
            "CUDA error: invalid device ordinal (cuda:{ordinal} requested, {count} device{} available)",
            if count == 1 { "" } else { "s" }
        )));
    }
    let rt = RtDevice::open(ordinal).map_err(Error::from)?;
    let d = Arc::new(CudaDevice {
        ordinal,
        rt,
        arch: OnceLock::new(),
        modules: Mutex::new(HashMap::new()),
        functions: Mutex::new(HashMap::new()),
        big_smem: Mutex::new(HashMap::new()),
        allocated: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        recent: Mutex::new(VecDeque::new()),
        launch_blocking: std::env::var("RUSTGRAD_CUDA_LAUNCH_BLOCKING")
            .or_else(|_| std::env::var("CUDA_LAUNCH_BLOCKING"))
            .is_ok_and(|v| v == "1"),
        poisoned: Mutex::new(None),
    });
    if devs.len() <= ordinal {
        devs.resize(ordinal + 1, None);
    }
    devs[ordinal] = Some(d.clone());
    Ok(d)
}

/// Devices opened so far (for `synchronize()` of all). Opens none: opening one creates its
/// context, which costs memory on that GPU (and fails on a GPU another process holds
/// exclusively), and a device nothing was queued on has nothing to wait for.
pub(crate) fn opened() -> Vec<Arc<CudaDevice>> {
    lock(&DEVICES).iter().flatten().cloned().collect()
}

thread_local! {
    static HOST_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Device-to-host copies this thread has made (each one waits for the device): tests use it to
/// prove that ops stay on the device.
pub(crate) fn host_reads() -> u64 {
    HOST_READS.with(|c| c.get())
}

/// Device memory owned by a tensor storage; freed (stream-ordered) on drop, unless it belongs to
/// another library (a DLPack producer) that `owner` keeps it alive for.
pub(crate) struct DeviceBuffer {
    ptr: u64,
    bytes: usize,
    dev: Arc<CudaDevice>,
    owner: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl DeviceBuffer {
    pub fn ptr(&self) -> u64 {
        self.ptr
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    pub fn device(&self) -> &Arc<CudaDevice> {
        &self.dev
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if self.bytes > 0 && self.owner.is_none() {
            self.dev.rt.free(self.ptr);
            self.dev.allocated.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

impl CudaDevice {
    pub fn props(&self) -> &rt::Props {
        self.rt.props()
    }

    fn check_usable(&self) -> Result<()> {
        match &*lock(&self.poisoned) {
            Some(why) => Err(Error::runtime(format!(
                "CUDA error: the device can no longer be used after an earlier error ({why}); restart the process"
            ))),
            None => Ok(()),
        }
    }

    /// `bytes` of device memory (contents undefined).
    pub fn alloc(self: &Arc<Self>, bytes: usize) -> Result<DeviceBuffer> {
        if bytes == 0 {
            return Ok(DeviceBuffer {
                ptr: 0,
                bytes: 0,
                dev: self.clone(),
                owner: None,
            });
        }
        self.check_usable()?;
        if bytes > self.props().total_mem {
            // More than the device has: the driver may answer "invalid argument" for absurd sizes.
            return Err(self.oom(bytes));
        }
        let ptr = match self.rt.alloc(bytes) {
            Ok(p) => p,
            Err(RtError::OutOfMemory) => {
                // Give the pool's cached blocks back and try once more, as PyTorch does.
                self.rt.release_cached();
                match self.rt.alloc(bytes) {
                    Ok(p) => p,
                    Err(RtError::OutOfMemory) => return Err(self.oom(bytes)),
                    Err(e) => return Err(self.driver_error(e)),
                }
            }
            Err(e) => return Err(self.driver_error(e)),
        };
        let now = self.allocated.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Ok(DeviceBuffer {
            ptr,
            bytes,
            dev: self.clone(),
            owner: None,
        })
    }

    /// Wraps `bytes` of device memory at `ptr` that `owner` keeps alive (never freed by us).
    ///
    /// # Safety
    /// `ptr` must address `bytes` bytes of this device's memory for as long as `owner` lives.
    #[cfg_attr(not(feature = "python"), allow(dead_code))] // used by the DLPack bindings
    pub unsafe fn external(
        self: &Arc<Self>,
        ptr: u64,
        bytes: usize,
        owner: Box<dyn std::any::Any + Send + Sync>,
    ) -> DeviceBuffer {
        DeviceBuffer {
            ptr,
            bytes,
            dev: self.clone(),
            owner: Some(owner),
        }
    }

    /// Waits for all work on every stream of this device's context (work another library queued
    /// on its own streams included).
    #[cfg_attr(not(feature = "python"), allow(dead_code))] // used by the DLPack bindings
    pub fn synchronize_context(&self) -> Result<()> {
        self.check_usable()?;
        self.rt.synchronize_context().map_err(|e| self.fault(e))
    }

    /// A failed driver call (an allocation other than out of memory, a function lookup): the
    /// driver also reports there the fault of a kernel queued earlier, which poisons the context
    /// like one found at a synchronisation.
    fn driver_error(&self, e: RtError) -> Error {
        match e {
            RtError::Other(m) if is_sticky(&m) => self.fault(RtError::Other(m)),
            e => e.into(),
        }
    }

    /// PyTorch's out-of-memory message.
    fn oom(&self, bytes: usize) -> Error {
        let (free, total) = self.rt.mem_info().unwrap_or((0, self.props().total_mem));
        Error::runtime(format!(
            "CUDA out of memory. Tried to allocate {}. GPU {} has a total capacity of {} of which {} is free. Of the allocated memory {} is allocated by rustgrad.",
            format_bytes(bytes),
            self.ordinal,
            format_bytes(total),
            format_bytes(free),
            format_bytes(self.allocated.load(Ordering::Relaxed))
        ))
    }

    /// Bytes held by live tensors on this device.
    pub fn memory_allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }
    pub fn max_memory_allocated(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn htod(&self, dst: &DeviceBuffer, src: &[u8]) -> Result<()> {
        self.check_usable()?;
        if src.len() > dst.bytes {
            return Err(Error::internal("host-to-device copy past the buffer"));
        }
        self.rt.htod(dst.ptr, src).map_err(|e| self.fault(e))
    }

    /// Copies device bytes at `src` into `dst` and waits (a synchronising call: deferred kernel
    /// errors surface here).
    pub fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        self.check_usable()?;
        HOST_READS.with(|c| c.set(c.get() + 1));
        self.rt.dtoh(dst, src).map_err(|e| self.fault(e))?;
        self.after_sync()
    }

    pub fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        self.check_usable()?;
        self.rt.dtod(dst, src, bytes).map_err(|e| self.fault(e))
    }

    pub fn memset(&self, dst: u64, value: u8, bytes: usize) -> Result<()> {
        self.check_usable()?;
        self.rt
            .memset8(dst, value, bytes)
            .map_err(|e| self.fault(e))
    }

    /// Waits for every queued kernel; raises deferred errors.
    pub fn synchronize(&self) -> Result<()> {
        self.check_usable()?;
        self.rt.synchronize().map_err(|e| self.fault(e))?;
        self.after_sync()
    }

    /// The device address of the status word kernels report bad indices into.
    pub fn status_ptr(&self) -> u64 {
        self.rt.status().1
    }

    fn after_sync(&self) -> Result<()> {
        lock(&self.recent).clear();
        let (host, _) = self.rt.status();
        // SAFETY: the status word is 64 bytes of mapped host memory owned by the runtime; no
        // kernel runs after a synchronisation until the next launch from this thread.
        let (code, a, b, c) = unsafe {
            let code = std::ptr::read_volatile(host as *const i32);
            if code == 0 {
                return Ok(());
            }
            let a = std::ptr::read_volatile(host.add(8) as *const i64);
            let b = std::ptr::read_volatile(host.add(16) as *const i64);
            let c = std::ptr::read_volatile(host.add(24) as *const i64);
            std::ptr::write_volatile(host as *mut i32, 0);
            (code, a, b, c)
        };
        Err(status_error(code, a, b, c))
    }

    /// A runtime error from a copy or synchronisation (or a kernel fault another call reported):
    /// kernel faults poison the context and are reported with the kernels that were in flight.
    fn fault(&self, e: RtError) -> Error {
        match e {
            RtError::OutOfMemory => self.oom(0),
            RtError::Other(msg) => {
                let recent: Vec<&str> = lock(&self.recent).iter().rev().copied().collect();
                let sticky = is_sticky(&msg);
                let full = if recent.is_empty() {
                    msg
                } else {
                    format!(
                        "{msg}; CUDA reports kernel errors asynchronously, so it may come from any kernel queued since the previous synchronisation; most recent first: {}. Set RUSTGRAD_CUDA_LAUNCH_BLOCKING=1 to find the exact kernel",
                        recent.join(", ")
                    )
                };
                if sticky {
                    *lock(&self.poisoned) = Some(full.clone());
                }
                Error::runtime(full)
            }
        }
    }

    /// The architecture kernels are compiled for.
    #[cfg_attr(feature = "cuda-emu", allow(dead_code))]
    fn arch(&self) -> Result<u32> {
        self.arch
            .get_or_init(|| {
                let supported = super::nvrtc::supported_archs()?;
                super::nvrtc::pick_arch(self.props().cc, &supported)
            })
            .clone()
            .map_err(|e| Error::runtime(format!("CUDA: {e}")))
    }

    fn module(&self, src: &'static KernelSource) -> Result<Arc<Module>> {
        let mut mods = lock(&self.modules);
        if let Some(m) = mods.get(src.name) {
            return Ok(m.clone());
        }
        #[cfg(not(feature = "cuda-emu"))]
        let m = {
            use super::nvrtc::{image, output_for, Output};
            let arch = self.arch()?;
            let nvrtc = super::loader::ensure_nvrtc()
                .map_err(Error::runtime)?
                .version;
            let output = output_for(self.props().cc, arch, nvrtc, self.props().driver);
            // A cached file the driver refuses (truncated, or from another driver): compile
            // afresh once; an image the driver refuses still: the other kind (PTX from an NVRTC
            // newer than the versions say is refused, a cubin is not).
            let mut tries = vec![(output, false), (output, true)];
            let cc = self.props().cc;
            if output == Output::Cubin {
                tries.push((Output::Ptx, false));
            } else if (cc.0 * 10 + cc.1) as u32 == arch {
                tries.push((Output::Cubin, false));
            }
            let mut loaded = Err(RtError::Other("no module image".into()));
            for (output, fresh) in tries {
                let img = image(src, arch, output, fresh).map_err(Error::runtime)?;
                loaded = self.rt.load_module(&img);
                match &loaded {
                    Ok(_) => break,
                    // An earlier kernel's fault, reported here: no image would load.
                    Err(RtError::Other(m)) if is_sticky(m) => break,
                    Err(_) => {}
                }
            }
            loaded.map_err(|e| match e {
                RtError::Other(m) if is_sticky(&m) => self.fault(RtError::Other(m)),
                e => Error::runtime(format!(
                    "CUDA: the driver could not load the kernels of {}.cu: {}",
                    src.name,
                    Error::from(e)
                )),
            })?
        };
        #[cfg(feature = "cuda-emu")]
        let m = self.rt.load_module(&[]).map_err(Error::from)?;
        let m = Arc::new(m);
        mods.insert(src.name, m.clone());
        Ok(m)
    }

    fn function(&self, src: &'static KernelSource, name: &'static str) -> Result<Function> {
        if let Some(f) = lock(&self.functions).get(name) {
            return Ok(*f);
        }
        let m = self.module(src)?;
        let f = self
            .rt
            .get_function(&m, name)
            .map_err(|e| self.driver_error(e))?;
        lock(&self.functions).insert(name, f);
        Ok(f)
    }

    /// Queues kernel `name` of `src`. A launch the driver refuses is an error naming the kernel.
    pub fn launch(
        &self,
        src: &'static KernelSource,
        name: &'static str,
        dims: LaunchDims,
        args: &mut Args,
    ) -> Result<()> {
        self.check_usable()?;
        super::launch::check_dims(&dims).map_err(|e| {
            Error::runtime(format!("CUDA error: invalid launch of kernel {name}: {e}"))
        })?;
        let f = self.function(src, name)?;
        if dims.smem > 48 * 1024 {
            // The attribute is a per-kernel ceiling: raise it whenever a launch needs more than
            // any before (a launch above it fails with "invalid argument").
            let mut big = lock(&self.big_smem);
            if big.get(name).is_none_or(|&allowed| allowed < dims.smem) {
                self.rt
                    .set_max_dynamic_smem(&f, dims.smem)
                    .map_err(|e| Error::runtime(format!("{} (kernel {name})", Error::from(e))))?;
                big.insert(name, dims.smem);
            }
        }
        let mut params = args.pointers();
        self.rt
            .launch(&f, name, dims, &mut params, args.sizes())
            .map_err(|e| match e {
                RtError::OutOfMemory => self.oom(0),
                // A fault of a kernel queued earlier, reported by this call (launches are
                // asynchronous), or by the emulator of this one: it poisons the context and is
                // reported with the kernels in flight, this one first.
                RtError::Other(m) if is_sticky(&m) => {
                    self.note_launch(name);
                    self.fault(RtError::Other(m))
                }
                RtError::Other(m) => Error::runtime(format!(
                    "{m} (kernel {name}, grid {:?}, block {:?}, {} bytes of shared memory)",
                    dims.grid, dims.block, dims.smem
                )),
            })?;
        self.note_launch(name);
        if self.launch_blocking {
            self.rt.synchronize().map_err(|e| match e {
                RtError::Other(m) => {
                    let full = format!("{m} (in kernel {name})");
                    *lock(&self.poisoned) = Some(full.clone());
                    Error::runtime(full)
                }
                RtError::OutOfMemory => self.oom(0),
            })?;
            self.after_sync()?;
        }
        Ok(())
    }

    pub fn mem_info(&self) -> Result<(usize, usize)> {
        self.rt.mem_info().map_err(Error::from)
    }

    /// Remembers a queued kernel for fault reports.
    fn note_launch(&self, name: &'static str) {
        let mut r = lock(&self.recent);
        if r.len() == RECENT {
            r.pop_front();
        }
        r.push_back(name);
    }
}

/// True for driver errors after which the context cannot be used again (kernel faults).
fn is_sticky(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "illegal",
        "misaligned",
        "launch failure",
        "launch_failed",
        "launch failed",
        "assert",
        "exception",
        "trap",
        "hardware_stack_error",
        "launch timed out",
        "launch_timeout",
        "invalid program counter",
        "invalid_pc",
        "address space",
        "address_space",
        "uncorrectable ecc",
        "ecc_uncorrectable",
    ]
    .iter()
    .any(|w| m.contains(w))
}

// The status word starts zeroed and is zeroed after each report: zero must mean no error.
const _: () = assert!(op_code!(STATUS, "RG_OK") == 0);

/// The Python error a kernel's status report stands for (`RG_ERR_*`, by name from op_codes.rs).
pub(crate) fn status_error(code: i32, a: i64, b: i64, c: i64) -> Error {
    const INDEX: i32 = op_code!(STATUS, "RG_ERR_INDEX");
    const TARGET: i32 = op_code!(STATUS, "RG_ERR_TARGET");
    const INDEX_SELECT: i32 = op_code!(STATUS, "RG_ERR_INDEX_SELECT");
    const ZERO_DIV: i32 = op_code!(STATUS, "RG_ERR_ZERO_DIV");
    const NEG_POW: i32 = op_code!(STATUS, "RG_ERR_NEG_POW");
    const BCE_INPUT: i32 = op_code!(STATUS, "RG_ERR_BCE_INPUT");
    const BCE_TARGET: i32 = op_code!(STATUS, "RG_ERR_BCE_TARGET");
    match code {
        INDEX => Error::index(format!(
            "index {a} is out of bounds for dimension {b} with size {c}"
        )),
        TARGET => Error::index(format!("Target {a} is out of bounds.")),
        INDEX_SELECT => Error::index("index out of range in self"),
        ZERO_DIV => Error::runtime("ZeroDivisionError"),
        NEG_POW => Error::runtime("Integers to negative integer powers are not allowed."),
        BCE_INPUT => Error::runtime("all elements of input should be between 0 and 1"),
        BCE_TARGET => Error::runtime("all elements of target should be between 0 and 1"),
        other => Error::runtime(format!("CUDA kernel reported error code {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_faults_are_sticky() {
        assert!(is_sticky("CUDA error: an illegal memory access was encountered (CUDA_ERROR_ILLEGAL_ADDRESS) in cuStreamSynchronize"));
        assert!(is_sticky("CUDA error: unspecified launch failure (CUDA_ERROR_LAUNCH_FAILED) in cuMemcpyDtoHAsync"));
        assert!(is_sticky(
            "misaligned address (CUDA_ERROR_MISALIGNED_ADDRESS)"
        ));
        assert!(!is_sticky(
            "CUDA error: invalid argument (CUDA_ERROR_INVALID_VALUE) in cuLaunchKernel"
        ));
        assert!(!is_sticky("CUDA error: out of memory"));
        assert!(is_sticky(
            "CUDA error: uncorrectable ECC error encountered (CUDA_ERROR_ECC_UNCORRECTABLE) in cuModuleLoadData"
        ));
        assert!(is_sticky("CUDA error: operation not supported on global/shared address space (CUDA_ERROR_INVALID_ADDRESS_SPACE) in cuStreamSynchronize"));
        assert!(!is_sticky(
            "CUDA error: a PTX JIT compilation failed, necessary symbols missing (CUDA_ERROR_INVALID_PTX)"
        ));
        assert!(is_sticky(
            "CUDA error: invalid program counter (CUDA_ERROR_INVALID_PC) in cuStreamSynchronize"
        ));
        assert!(is_sticky("CUDA error: an illegal instruction was encountered (CUDA_ERROR_ILLEGAL_INSTRUCTION) in cuLaunchKernel"));
        assert!(is_sticky(
            "CUDA error: device-side assert triggered (CUDA_ERROR_ASSERT) in cuMemAllocAsync"
        ));
    }

    #[test]
    fn status_codes_map_to_pytorch_errors() {
        assert_eq!(
            status_error(op_code!(STATUS, "RG_ERR_INDEX"), 10, 0, 5),
            Error::index("index 10 is out of bounds for dimension 0 with size 5")
        );
        assert_eq!(
            status_error(op_code!(STATUS, "RG_ERR_TARGET"), 10, 0, 0),
            Error::index("Target 10 is out of bounds.")
        );
        assert!(matches!(status_error(99, 0, 0, 0), Error::Runtime(_)));
    }
}
