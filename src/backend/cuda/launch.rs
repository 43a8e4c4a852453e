//! Launch plumbing shared by the kernel families: choosing a kernel by name and dtype, kernel
//! arguments as cuLaunchKernel wants them, the argument structs several kernel files read (`Geo`,
//! `Window`), op codes, and the launch-configuration arithmetic (unit-tested below).
//!
//! Kernels are found by name: each family's host file writes out the full name of every kernel it
//! may launch (`"max_pool_fwd_f32"`), so `grep -rw` finds the launch and the `KERNEL void
//! max_pool_fwd_f32(` that defines it in kernels/; the unit tests in kernel_names.rs check both
//! directions.

use std::ffi::c_void;

use super::device::CudaDevice;
use super::nvrtc::KernelSource;
use super::rt::LaunchDims;
use crate::error::Result;
use crate::storage::DType;
use crate::tensor::layout::coalesce;
use crate::tensor::Layout;

/// The most dims a kernel's strided geometry holds (`RG_MAX_DIMS` in common.cuh).
pub const MAX_DIMS: usize = 8;

/// Threads per block of the elementwise kernels.
pub const BLOCK: u32 = 256;

/// Kernels of one family for each dtype, in [`dtype_index`] order: f32, f64, i64, u8 (bool).
pub(crate) type PerDtype = [&'static str; 4];

/// [`PerDtype`], each with its 64-bit-index twin (`_w`) second.
pub(crate) type PerDtypeWide = [[&'static str; 2]; 4];

/// Index of a dtype in kernel-name tables: f32, f64, i64, u8 (bool). Computing kernels only
/// see these (the seam widens storage dtypes); copies and fills refuse storage dtypes before
/// they get here, so a storage dtype is given its compute dtype's kernels.
pub(crate) fn dtype_index(d: DType) -> usize {
    match d.compute_dtype() {
        DType::F64 => 1,
        DType::I64 => 2,
        DType::Bool => 3,
        _ => 0,
    }
}

/// The kernel of `names` for `dtype`, 32- or 64-bit indexed.
pub(crate) fn pick_wide(names: &PerDtypeWide, dtype: DType, wide: bool) -> &'static str {
    names[dtype_index(dtype)][wide as usize]
}

/// The float32 or float64 kernel of `[f32, f64]` by `dtype`; for any other dtype, the CPU
/// kernels' error: `"what" not implemented for 'dtype'`.
pub(crate) fn float_kernel(
    [f32, f64]: [&'static str; 2],
    dtype: DType,
    what: &str,
) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok(f32),
        DType::F64 => Ok(f64),
        other => Err(crate::Error::not_implemented_for(what, other)),
    }
}

/// The code of `$name` in the table `op_codes::$table`, found when the crate is compiled (a name
/// missing from the table does not build), e.g. `op_code!(UNARY, "U_EXPM1")`.
macro_rules! op_code {
    ($table:ident, $name:literal) => {
        const {
            use $crate::backend::cuda::op_codes;
            op_codes::code(&op_codes::$table, $name)
        }
    };
}
pub(crate) use op_code;

/// Launches a grid-stride kernel over `n` items (no launch when `n == 0`).
pub(crate) fn launch_1d(
    dev: &CudaDevice,
    src: &'static KernelSource,
    name: &'static str,
    n: usize,
    args: &mut Args,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let dims = LaunchDims {
        grid: [grid_for(n, BLOCK, max_blocks(dev.props().sm_count)), 1, 1],
        block: [BLOCK, 1, 1],
        smem: 0,
    };
    dev.launch(src, name, dims, args)
}

/// Plain-old-data that may be passed to a kernel by value.
///
/// # Safety
/// `#[repr(C)]`, no padding that the kernel reads, no pointers to host memory, and the same
/// layout as the matching struct in the kernel sources.
pub unsafe trait Pod: Copy {}

/// Kernel arguments: each value stored in its own 8-byte-aligned words, plus its size (the
/// emulator checks sizes against the kernel's signature).
#[derive(Default)]
pub struct Args {
    words: Vec<u64>,
    starts: Vec<usize>,
    sizes: Vec<u32>,
}

impl Args {
    pub fn new() -> Args {
        Args {
            words: Vec::with_capacity(64),
            starts: Vec::with_capacity(16),
            sizes: Vec::with_capacity(16),
        }
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> &mut Self {
        let start = self.words.len();
        let n = bytes.len().div_ceil(8).max(1);
        self.words.resize(start + n, 0);
        // SAFETY: the destination holds n * 8 >= bytes.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.words.as_mut_ptr().add(start) as *mut u8,
                bytes.len(),
            )
        };
        self.starts.push(start);
        self.sizes.push(bytes.len() as u32);
        self
    }

    /// A device pointer.
    pub fn ptr(&mut self, p: u64) -> &mut Self {
        self.push_bytes(&p.to_ne_bytes())
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.push_bytes(&v.to_ne_bytes())
    }
    /// A size or count as the kernels take them (`long long`).
    pub fn usize(&mut self, v: usize) -> &mut Self {
        self.i64(v as i64)
    }
    /// A struct by value.
    pub fn pod<T: Pod>(&mut self, v: &T) -> &mut Self {
        // SAFETY: Pod types are plain bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>())
        };
        self.push_bytes(bytes)
    }

    pub fn sizes(&self) -> &[u32] {
        &self.sizes
    }

    /// Pointers to each argument, valid until `self` is next modified.
    pub fn pointers(&mut self) -> Vec<*mut c_void> {
        let base = self.words.as_mut_ptr();
        self.starts
            .iter()
            // SAFETY: every start indexes into `words`.
            .map(|&s| unsafe { base.add(s) } as *mut c_void)
            .collect()
    }
}

/// Strided geometry of up to four operands over one shape (`Geo` in common.cuh).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Geo {
    pub ndim: i32,
    pub pad: i32,
    pub n: i64,
    pub shape: [i64; MAX_DIMS],
    pub st: [[i64; MAX_DIMS]; 4],
    pub off: [i64; 4],
}

// SAFETY: repr(C), integers only, mirrors the C struct (int, int, then 8-byte fields).
unsafe impl Pod for Geo {}

impl Geo {
    /// The geometry of `operands` (each already broadcast to `shape`), with mergeable dims
    /// merged. None when more than MAX_DIMS dims remain (the caller copies through a contiguous
    /// buffer first) or when the shape is empty.
    pub fn new(shape: &[usize], operands: &[&Layout]) -> Option<Geo> {
        let strides: Vec<&[usize]> = operands.iter().map(|l| l.strides()).collect();
        let (cshape, cstrides) = coalesce(shape, &strides)?;
        if cshape.len() > MAX_DIMS || operands.len() > 4 {
            return None;
        }
        let mut g = Geo {
            ndim: cshape.len() as i32,
            pad: 0,
            n: shape.iter().product::<usize>() as i64,
            shape: [1; MAX_DIMS],
            st: [[0; MAX_DIMS]; 4],
            off: [0; 4],
        };
        for (d, &s) in cshape.iter().enumerate() {
            g.shape[d] = s as i64;
        }
        for (k, (st, l)) in cstrides.iter().zip(operands).enumerate() {
            for (d, &s) in st.iter().enumerate() {
                g.st[k][d] = s as i64;
            }
            g.off[k] = l.offset() as i64;
        }
        Some(g)
    }

    /// True when every operand's element offsets and the element count fit in 32 bits, so the
    /// kernels may index with 32-bit arithmetic.
    pub fn fits_u32(&self) -> bool {
        const LIM: i64 = i32::MAX as i64;
        if self.n > LIM {
            return false;
        }
        (0..4).all(|k| {
            let span: i64 = (0..self.ndim as usize)
                .map(|d| (self.shape[d] - 1) * self.st[k][d])
                .sum();
            self.off[k] + span <= LIM
        })
    }
}

/// Stride, padding and dilation of a 2-D window: the last six fields (`sh, sw, ph, pw, dh, dw`)
/// of both `ConvGeo` in conv.cu and `PoolGeo` in pool.cu.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Window {
    sh: i64,
    sw: i64,
    ph: i64,
    pw: i64,
    dh: i64,
    dw: i64,
}

impl Window {
    pub fn new(stride: [usize; 2], pad: [usize; 2], dilation: [usize; 2]) -> Window {
        Window {
            sh: stride[0] as i64,
            sw: stride[1] as i64,
            ph: pad[0] as i64,
            pw: pad[1] as i64,
            dh: dilation[0] as i64,
            dw: dilation[1] as i64,
        }
    }
}

/// Blocks for a grid-stride loop over `n` items: enough to cover them, at most `max_blocks`.
pub fn grid_for(n: usize, block: u32, max_blocks: u32) -> u32 {
    let need = n.div_ceil(block.max(1) as usize);
    need.clamp(1, max_blocks.max(1) as usize) as u32
}

/// The most blocks a grid-stride kernel is given: enough to fill every SM several times.
pub fn max_blocks(sm_count: u32) -> u32 {
    sm_count.max(1).saturating_mul(32).min(1 << 20)
}

/// Tiles of `tile` covering `n`.
pub fn tiles(n: usize, tile: usize) -> usize {
    n.div_ceil(tile.max(1))
}

/// The power of two threads (32..=1024) a block-per-row reduction uses for rows of `len`.
pub fn row_block(len: usize) -> u32 {
    let mut t = 32usize;
    while t < len && t < 1024 {
        t *= 2;
    }
    t as u32
}

/// The most dynamic shared memory a block may use (sm_90's opt-in limit: 227 KiB).
pub const MAX_SMEM: u32 = 227 * 1024;

/// Checks a launch against the hardware limits of every GPU we target (threads per block, block
/// and grid dims, shared memory), so that a bad configuration is an error naming the kernel,
/// also on the emulator, which would otherwise run it.
pub fn check_dims(d: &LaunchDims) -> std::result::Result<(), String> {
    let [gx, gy, gz] = d.grid;
    let [bx, by, bz] = d.block;
    let threads = bx as u64 * by as u64 * bz as u64;
    if gx == 0 || gy == 0 || gz == 0 || threads == 0 {
        return Err(format!(
            "empty launch (grid {:?}, block {:?})",
            d.grid, d.block
        ));
    }
    if threads > 1024 || bz > 64 {
        return Err(format!(
            "block {:?} exceeds 1024 threads or 64 in z",
            d.block
        ));
    }
    if gx > i32::MAX as u32 || gy > 65_535 || gz > 65_535 {
        return Err(format!(
            "grid {:?} exceeds (2^31 - 1, 65535, 65535)",
            d.grid
        ));
    }
    if d.smem > MAX_SMEM {
        return Err(format!(
            "{} bytes of shared memory exceed {MAX_SMEM}",
            d.smem
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_limits_are_checked() {
        let ok = |grid, block, smem| check_dims(&LaunchDims { grid, block, smem });
        assert!(ok([1, 1, 1], [256, 1, 1], 0).is_ok());
        assert!(ok([i32::MAX as u32, 65_535, 65_535], [32, 32, 1], MAX_SMEM).is_ok());
        assert!(ok([0, 1, 1], [256, 1, 1], 0).is_err());
        assert!(ok([1, 1, 1], [1025, 1, 1], 0).is_err());
        assert!(ok([1, 1, 1], [1, 1, 65], 0).is_err());
        assert!(ok([1, 65_536, 1], [256, 1, 1], 0).is_err());
        assert!(ok([1, 1, 65_536], [256, 1, 1], 0).is_err());
        assert!(ok([1, 1, 1], [256, 1, 1], MAX_SMEM + 1).is_err());
        // What the grid helpers produce stays inside the limits.
        for n in [0usize, 1, 255, 256, 257, 1 << 31, usize::MAX / 2] {
            let g = grid_for(n, BLOCK, max_blocks(132));
            assert!(ok([g, 1, 1], [BLOCK, 1, 1], 0).is_ok(), "{n}");
            assert!(
                g as usize * BLOCK as usize >= n.min(max_blocks(132) as usize * BLOCK as usize)
            );
        }
        for len in [0usize, 1, 31, 32, 33, 1000, 1 << 40] {
            let b = row_block(len);
            assert!(b.is_power_of_two() && (32..=1024).contains(&b));
            assert!(b as usize >= len.min(1024));
        }
        assert_eq!(max_blocks(u32::MAX), 1 << 20);
        assert_eq!(max_blocks(0), 32);
    }

    #[test]
    fn grids_cover_and_cap() {
        assert_eq!(grid_for(0, 256, 100), 1);
        assert_eq!(grid_for(1, 256, 100), 1);
        assert_eq!(grid_for(256, 256, 100), 1);
        assert_eq!(grid_for(257, 256, 100), 2);
        assert_eq!(grid_for(1_000_000, 256, 100), 100);
        assert_eq!(max_blocks(132), 132 * 32);
        assert_eq!(tiles(1000, 128), 8);
        assert_eq!(tiles(1024, 128), 8);
        assert_eq!(tiles(1, 128), 1);
        assert_eq!(row_block(1), 32);
        assert_eq!(row_block(33), 64);
        assert_eq!(row_block(10_000), 1024);
    }

    #[test]
    fn args_are_word_aligned_with_sizes() {
        let mut a = Args::new();
        a.ptr(0xdead_beef).i32(-1).f32(1.5).f64(2.0).i64(7);
        assert_eq!(a.sizes(), &[8, 4, 4, 8, 8]);
        let p = a.pointers();
        assert_eq!(p.len(), 5);
        for ptr in &p {
            assert_eq!(*ptr as usize % 8, 0);
        }
        // SAFETY: pointers into `a`, read as the types pushed.
        unsafe {
            assert_eq!(*(p[0] as *const u64), 0xdead_beef);
            assert_eq!(*(p[1] as *const i32), -1);
            assert_eq!(*(p[2] as *const f32), 1.5);
            assert_eq!(*(p[3] as *const f64), 2.0);
        }
    }

    #[test]
    fn geometry_coalesces_and_checks_widths() {
        let c = Layout::contiguous(&[4, 5, 6]);
        let g = Geo::new(&[4, 5, 6], &[&c]).unwrap();
        assert_eq!(g.ndim, 1);
        assert_eq!(g.shape[0], 120);
        assert!(g.fits_u32());
        // A row broadcast over a matrix keeps two dims.
        let row = Layout::contiguous(&[6]).broadcast_to(&[4, 6]);
        let m = Layout::contiguous(&[4, 6]);
        let g = Geo::new(&[4, 6], &[&m, &row]).unwrap();
        assert_eq!(g.ndim, 2);
        assert_eq!(&g.st[1][..2], &[0, 1]);
        // Transposed operands.
        let t = Layout::contiguous(&[3, 7]).transpose(0, 1);
        let g = Geo::new(&[7, 3], &[&t]).unwrap();
        assert_eq!((g.shape[0], g.shape[1]), (7, 3));
        assert_eq!((g.st[0][0], g.st[0][1]), (1, 7));
        // Offsets beyond 32 bits need 64-bit indexing.
        let big = Layout::from_parts(
            [3].into_iter().collect(),
            [1 << 31].into_iter().collect(),
            0,
        );
        assert!(!Geo::new(&[3], &[&big]).unwrap().fits_u32());
        // Nine non-mergeable dims do not fit.
        let shape = [2usize; 9];
        let l = Layout::contiguous(&shape).permute(&[8, 7, 6, 5, 4, 3, 2, 1, 0]);
        assert!(Geo::new(&shape, &[&l]).is_none());
        // Empty shapes launch nothing.
        assert!(Geo::new(&[0, 3], &[&Layout::contiguous(&[0, 3])]).is_none());
        assert_eq!(std::mem::size_of::<Geo>(), 8 + 8 + 64 + 256 + 32);
    }
}
