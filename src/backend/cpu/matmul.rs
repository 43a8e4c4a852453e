//! Matrix multiplication through the `gemm` crate: strided operands (transposes cost nothing),
//! batches, and an accumulate form used by fused ops (linear's bias, conv's weight gradient).

use crate::backend::cpu::threads::{self, SyncPtr};
use crate::backend::dispatch::View;
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, CpuStorage, Element};
use crate::tensor::layout::{Dims, Layout};

/// From this many multiply-adds up, a product's output is split into blocks, one per thread,
/// each a single-threaded gemm (gemm's own threading goes through rayon; see threads.rs for why
/// we don't). Measured on 2 cores: 64x784x128 runs in 60-65 us split against 104 us on one
/// thread, and 1024^3 splits as well as gemm's own threads do.
const SPLIT_FLOPS: usize = 1 << 21;

/// Strides of a matrix operand: (row stride, column stride).
#[derive(Copy, Clone, Debug)]
pub struct Mat {
    pub offset: usize,
    pub rs: isize,
    pub cs: isize,
}

/// Per-batch offsets of a layout whose last two dims are the matrix.
fn batch_offsets(layout: &Layout) -> Vec<usize> {
    let nd = layout.ndim();
    let batch = Layout::from_parts(
        Dims::from_slice(&layout.shape()[..nd - 2]),
        Dims::from_slice(&layout.strides()[..nd - 2]),
        layout.offset(),
    );
    crate::tensor::layout::StridedOffsets::new(&batch).collect()
}

/// `out (+)= lhs @ rhs` for every batch: `lhs` is [B.., m, k], `rhs` is [B.., k, n] (batch dims
/// already broadcast to the same shape) and `out` is a contiguous [B.., m, n].
pub fn matmul_into<T: CpuElement>(
    out: &mut [T],
    lhs: &[T],
    ll: &Layout,
    rhs: &[T],
    rl: &Layout,
    accumulate: bool,
) -> Result<()> {
    let nd = ll.ndim();
    if nd < 2 || rl.ndim() != nd {
        return Err(Error::internal(
            "matmul_into expects batched matrices of equal rank",
        ));
    }
    let (m, k) = (ll.shape()[nd - 2], ll.shape()[nd - 1]);
    let n = rl.shape()[nd - 1];
    let lb = batch_offsets(ll);
    let rb = batch_offsets(rl);
    let (lrs, lcs) = (ll.strides()[nd - 2] as isize, ll.strides()[nd - 1] as isize);
    let (rrs, rcs) = (rl.strides()[nd - 2] as isize, rl.strides()[nd - 1] as isize);
    let mn = m * n;
    if mn == 0 {
        return Ok(());
    }
    let flops = m * n * k;
    let batches = lb.len();
    let lmat = |offset| Mat {
        offset,
        rs: lrs,
        cs: lcs,
    };
    let rmat = |offset| Mat {
        offset,
        rs: rrs,
        cs: rcs,
    };
    let run = |o: &mut [T], a: usize, b: usize, threads: usize| {
        gemm_one(
            o,
            (m, n, k),
            lhs,
            lmat(a),
            rhs,
            rmat(b),
            accumulate,
            threads,
        )
    };
    let threads = if flops >= SPLIT_FLOPS {
        threads::num_threads()
    } else {
        1
    };
    if batches > 1 && threads == 1 && flops * batches >= SPLIT_FLOPS {
        // Many small products: one thread each.
        let chunk = batches.div_ceil(threads::num_threads() * 4) * mn;
        threads::par_chunks_mut(out, chunk, |start, o| {
            let first = start / mn;
            for (j, o) in o.chunks_mut(mn).enumerate() {
                run(o, lb[first + j], rb[first + j], 1);
            }
        });
    } else {
        for ((o, &a), &b) in out.chunks_mut(mn).zip(&lb).zip(&rb) {
            run(o, a, b, threads);
        }
    }
    Ok(())
}

/// One product `out (+)= A @ B` with A (m x k) and B (k x n) given by strides; `out` row-major.
#[allow(clippy::too_many_arguments)]
pub fn gemm_one<T: CpuElement>(
    out: &mut [T],
    (m, n, k): (usize, usize, usize),
    a: &[T],
    am: Mat,
    b: &[T],
    bm: Mat,
    accumulate: bool,
    threads: usize,
) {
    debug_assert!(out.len() >= m * n);
    match T::DTYPE {
        // SAFETY: `out` holds m x n row-major elements.
        crate::DType::F32 | crate::DType::F64 => unsafe {
            gemm_raw(
                out.as_mut_ptr(),
                n,
                (m, n, k),
                a,
                am,
                b,
                bm,
                accumulate,
                threads,
            )
        },
        _ => naive_gemm(out, (m, n, k), a, am, b, bm, accumulate),
    }
}

/// `out (+)= A @ B` into `m x n` elements at `out` with row stride `out_rs` (float types only;
/// others are left untouched), over `threads` threads.
///
/// # Safety
/// `out` must be valid for writes of every element `i * out_rs + j` (i < m, j < n), which no
/// one else accesses meanwhile; `am` and `bm` must address elements inside `a` and `b`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: CpuElement>(
    out: *mut T,
    out_rs: usize,
    (m, n, k): (usize, usize, usize),
    a: &[T],
    am: Mat,
    b: &[T],
    bm: Mat,
    accumulate: bool,
    threads: usize,
) {
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                std::slice::from_raw_parts_mut(out.add(i * out_rs), n).fill(T::zero());
            }
        }
        return;
    }
    if threads > 1 {
        // One block of the output per thread, each a single-threaded gemm. Splitting the
        // columns halves each thread's packing of B, the rows that of A: split the side of the
        // larger operand, and the columns of a square product (single-threaded gemm packs A
        // again for every 768 columns, so halves of 1024 columns pack it once, not twice:
        // 1024^3 on 2 threads, alternating, 7.6 against 7.85 ms median of 8 runs).
        let by_cols = n >= m;
        let (len, align) = if by_cols { (n, 16) } else { (m, 8) };
        let block = len.div_ceil(threads).next_multiple_of(align);
        let dst = SyncPtr(out);
        let shift = |mat: Mat, by: usize, stride: isize| Mat {
            offset: (mat.offset as isize + by as isize * stride) as usize,
            ..mat
        };
        threads::parallel_for(len.div_ceil(block), |i| {
            let (start, size) = (i * block, block.min(len - i * block));
            let (o, dims, am, bm) = if by_cols {
                (start, (m, size, k), am, shift(bm, start, bm.cs))
            } else {
                (start * out_rs, (size, n, k), shift(am, start, am.rs), bm)
            };
            // SAFETY: blocks are disjoint parts of the output, and the operand offsets stay
            // inside the blocks' rows of A or columns of B.
            unsafe { gemm_raw(dst.get().add(o), out_rs, dims, a, am, b, bm, accumulate, 1) }
        });
        return;
    }
    macro_rules! call_gemm {
        ($t:ty) => {{
            let (o, a, b) = (
                out as *mut $t,
                a.as_ptr() as *const $t,
                b.as_ptr() as *const $t,
            );
            gemm::gemm::<$t>(
                m,
                n,
                k,
                o,
                1,
                out_rs as isize,
                accumulate,
                a.add(am.offset),
                am.cs,
                am.rs,
                b.add(bm.offset),
                bm.cs,
                bm.rs,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }};
    }
    match T::DTYPE {
        crate::DType::F32 => call_gemm!(f32),
        crate::DType::F64 => call_gemm!(f64),
        _ => {}
    }
}

fn naive_gemm<T: Element>(
    out: &mut [T],
    (m, n, k): (usize, usize, usize),
    a: &[T],
    am: Mat,
    b: &[T],
    bm: Mat,
    accumulate: bool,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i64;
            for p in 0..k {
                let x = a[(am.offset as isize + i as isize * am.rs + p as isize * am.cs) as usize]
                    .to_i64();
                let y = b[(bm.offset as isize + p as isize * bm.rs + j as isize * bm.cs) as usize]
                    .to_i64();
                acc = acc.wrapping_add(x.wrapping_mul(y));
            }
            let o = &mut out[i * n + j];
            *o = T::from_i64(if accumulate {
                o.to_i64().wrapping_add(acc)
            } else {
                acc
            });
        }
    }
}

/// `lhs @ rhs` for batched operands of one dtype, into a new contiguous buffer.
pub fn matmul(lhs: &CpuStorage, ll: &Layout, rhs: &CpuStorage, rl: &Layout) -> Result<CpuStorage> {
    let nd = ll.ndim();
    let mut shape = Dims::from_slice(&ll.shape()[..nd - 1]);
    shape.push(rl.shape()[nd - 1]);
    let numel: usize = shape.iter().product();
    crate::with_dtype!(lhs.dtype(), T => {
        let mut out = Buffer::<T>::uninit(numel)?;
        matmul_into(out.as_mut_slice(), lhs.slice::<T>()?, ll, rhs.slice::<T>()?, rl, false)?;
        Ok(T::wrap(out))
    })
}

/// `bias + a @ b` for 2-D operands; `bias` is a contiguous row of `b`'s column count.
pub fn addmm(
    bias: Option<View<'_, CpuStorage>>,
    a: View<'_, CpuStorage>,
    b: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
    let (m, n) = (a.shape()[0], b.shape()[1]);
    crate::with_dtype!(a.dtype(), T => {
        let mut out = Buffer::<T>::uninit(m * n)?;
        let o = out.as_mut_slice();
        if let Some(bias) = bias {
            let row = bias.slice::<T>()?;
            for chunk in o.chunks_mut(n.max(1)) {
                chunk.copy_from_slice(&row[..chunk.len()]);
            }
        }
        let (x, y) = (a.storage.slice::<T>()?, b.storage.slice::<T>()?);
        matmul_into(o, x, a.layout, y, b.layout, bias.is_some())?;
        Ok(T::wrap(out))
    })
}
