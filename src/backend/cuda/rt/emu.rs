//! The runtime on the CPU emulator (test-only `cuda-emu` feature): device memory is host memory,
//! launches run synchronously through kernels/emu (the same kernel sources, compiled natively).
//!
//! `RUSTGRAD_EMU_MEM_LIMIT` (bytes) caps the emulated device memory, to test out-of-memory paths.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use super::{LaunchDims, Props, RtError};

type R<T> = Result<T, RtError>;

extern "C" {
    fn rg_emu_init();
    fn rg_emu_launch(
        name: *const c_char,
        gx: u32,
        gy: u32,
        gz: u32,
        bx: u32,
        by: u32,
        bz: u32,
        smem: u32,
        params: *mut *mut c_void,
        sizes: *const u32,
        nparams: u32,
        err: *mut c_char,
        errlen: u32,
    ) -> i32;
}

const ALIGN: usize = 256;

pub(crate) fn availability() -> Result<usize, String> {
    Ok(1)
}

pub(crate) struct Module;

#[derive(Copy, Clone)]
pub(crate) struct Function;

pub(crate) struct RtDevice {
    props: Props,
    allocs: Mutex<HashMap<u64, usize>>,
    used: AtomicUsize,
    limit: usize,
    /// The error word kernels write (stands in for mapped pinned memory).
    status: Box<std::cell::UnsafeCell<[u64; 8]>>,
}

// SAFETY: the status word is written by kernels (serialised by the emulator's launch lock) and
// read by the host after launches return, as with the mapped memory of a real device.
unsafe impl Sync for RtDevice {}

impl RtDevice {
    pub(crate) fn open(ordinal: usize) -> R<RtDevice> {
        if ordinal != 0 {
            return Err(RtError::Other(format!(
                "CUDA error: invalid device ordinal (device {ordinal} requested, 1 available)"
            )));
        }
        static INIT: Once = Once::new();
        // SAFETY: registers the kernel table once.
        INIT.call_once(|| unsafe { rg_emu_init() });
        let limit = std::env::var("RUSTGRAD_EMU_MEM_LIMIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8usize << 30);
        Ok(RtDevice {
            props: Props {
                name: "rustgrad CUDA emulator".into(),
                cc: (9, 0),
                driver: (13, 0),
                sm_count: 4,
                total_mem: limit,
            },
            allocs: Mutex::new(HashMap::new()),
            used: AtomicUsize::new(0),
            limit,
            status: Box::new(std::cell::UnsafeCell::new([0; 8])),
        })
    }

    pub(crate) fn props(&self) -> &Props {
        &self.props
    }

    pub(crate) fn alloc(&self, bytes: usize) -> R<u64> {
        let size = bytes.max(1).div_ceil(ALIGN) * ALIGN;
        if self.used.load(Ordering::Relaxed) + size > self.limit {
            return Err(RtError::OutOfMemory);
        }
        let layout =
            std::alloc::Layout::from_size_align(size, ALIGN).map_err(|_| RtError::OutOfMemory)?;
        // SAFETY: non-zero size.
        let p = unsafe { std::alloc::alloc(layout) };
        if p.is_null() {
            return Err(RtError::OutOfMemory);
        }
        // Garbage, as fresh device memory is: NaN bytes expose reads of unwritten memory.
        // SAFETY: `size` bytes were just allocated.
        unsafe { std::ptr::write_bytes(p, 0xff, size) };
        self.used.fetch_add(size, Ordering::Relaxed);
        if let Ok(mut a) = self.allocs.lock() {
            a.insert(p as u64, size);
        }
        Ok(p as u64)
    }

    pub(crate) fn release_cached(&self) {}

    pub(crate) fn free(&self, ptr: u64) {
        let size = self.allocs.lock().ok().and_then(|mut a| a.remove(&ptr));
        if let Some(size) = size {
            self.used.fetch_sub(size, Ordering::Relaxed);
            if let Ok(layout) = std::alloc::Layout::from_size_align(size, ALIGN) {
                // SAFETY: allocated in `alloc` with this layout.
                unsafe { std::alloc::dealloc(ptr as *mut u8, layout) };
            }
        }
    }

    fn check_range(&self, ptr: u64, bytes: usize, what: &str) -> R<()> {
        let a = self
            .allocs
            .lock()
            .map_err(|_| RtError::Other("emulator lock poisoned".into()))?;
        let ok = a
            .iter()
            .any(|(&base, &size)| ptr >= base && ptr + bytes as u64 <= base + size as u64);
        if ok || bytes == 0 {
            Ok(())
        } else {
            Err(RtError::Other(format!(
                "CUDA error: an illegal memory access was encountered ({what} outside any allocation)"
            )))
        }
    }

    pub(crate) fn htod(&self, dst: u64, src: &[u8]) -> R<()> {
        self.check_range(dst, src.len(), "host-to-device copy")?;
        // SAFETY: checked to lie in one allocation.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }

    pub(crate) fn dtoh(&self, dst: &mut [u8], src: u64) -> R<()> {
        self.check_range(src, dst.len(), "device-to-host copy")?;
        // SAFETY: as above.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    pub(crate) fn dtod(&self, dst: u64, src: u64, bytes: usize) -> R<()> {
        self.check_range(dst, bytes, "device-to-device copy")?;
        self.check_range(src, bytes, "device-to-device copy")?;
        // SAFETY: as above; `copy` allows overlap.
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, bytes) };
        Ok(())
    }

    pub(crate) fn memset8(&self, dst: u64, value: u8, bytes: usize) -> R<()> {
        self.check_range(dst, bytes, "memset")?;
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(dst as *mut u8, value, bytes) };
        Ok(())
    }

    pub(crate) fn load_module(&self, _image: &[u8]) -> R<Module> {
        Ok(Module)
    }

    pub(crate) fn get_function(&self, _m: &Module, _name: &str) -> R<Function> {
        Ok(Function)
    }

    pub(crate) fn set_max_dynamic_smem(&self, _f: &Function, _bytes: u32) -> R<()> {
        Ok(())
    }

    pub(crate) fn launch(
        &self,
        _f: &Function,
        name: &str,
        d: LaunchDims,
        params: &mut [*mut c_void],
        sizes: &[u32],
    ) -> R<()> {
        let cname = CString::new(name).map_err(|_| RtError::Other("bad kernel name".into()))?;
        let mut err = [0 as c_char; 512];
        // SAFETY: `params` matches the kernel's parameters (as for the driver); the emulator
        // reads them during this synchronous call only.
        let r = unsafe {
            rg_emu_launch(
                cname.as_ptr(),
                d.grid[0],
                d.grid[1],
                d.grid[2],
                d.block[0],
                d.block[1],
                d.block[2],
                d.smem,
                params.as_mut_ptr(),
                sizes.as_ptr(),
                params.len() as u32,
                err.as_mut_ptr(),
                err.len() as u32,
            )
        };
        if r == 0 {
            return Ok(());
        }
        // SAFETY: the emulator NUL-terminates its message.
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Err(RtError::Other(format!(
            "CUDA error: {msg} in cuLaunchKernel"
        )))
    }

    pub(crate) fn synchronize(&self) -> R<()> {
        Ok(())
    }

    /// The emulator runs every launch to completion: nothing is ever pending.
    #[cfg_attr(not(feature = "python"), allow(dead_code))] // used by the DLPack bindings
    pub(crate) fn synchronize_context(&self) -> R<()> {
        Ok(())
    }

    pub(crate) fn mem_info(&self) -> R<(usize, usize)> {
        let used = self.used.load(Ordering::Relaxed);
        Ok((self.limit.saturating_sub(used), self.limit))
    }

    pub(crate) fn status(&self) -> (*mut u8, u64) {
        let p = self.status.get() as *mut u8;
        (p, p as u64)
    }
}
