//! Matrix multiplication through the `gemm` crate: strided operands (transposes cost nothing),
//! batches, and an accumulate form used by fused ops (linear's bias, conv's weight gradient).

use rayon::prelude::*;

use crate::backend::cpu::nn::SyncPtr;
use crate::error::{Error, Result};
use crate::storage::{Buffer, CpuElement, CpuStorage, Element};
use crate::tensor::layout::{Dims, Layout};

/// Below this many multiply-adds a product runs on one thread. gemm's threads pay off late for
/// the skinny products of training (batch 64): on 2 cores, 64x784x128 and 64x3136x128 run
/// 1.5-2x faster on one thread, 512^3 is faster on two.
const GEMM_PARALLEL_FLOPS: usize = 1 << 25;
/// From this many multiply-adds up to [`GEMM_PARALLEL_FLOPS`], blocks of the output run on
/// separate threads, each a single-threaded gemm. Measured on 2 cores, alternating in one
/// process: 64x3136x128 1.5x faster than one thread; 64x784x128 1.15x in a loop but the MLP
/// step 0.6x, because between a training step's products the pool falls asleep and waking it
/// costs more than half of a 100-microsecond product saves.
const SPLIT_FLOPS: usize = 1 << 24;

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
        return Err(Error::runtime(
            "internal error: matmul_into expects batched matrices of equal rank",
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
    if batches > 1 && flops < GEMM_PARALLEL_FLOPS * 4 && flops * batches >= GEMM_PARALLEL_FLOPS {
        out.par_chunks_mut(mn)
            .zip(lb.par_iter().zip(rb.par_iter()))
            .for_each(|(o, (&a, &b))| run(o, a, b, 1));
    } else if (SPLIT_FLOPS..GEMM_PARALLEL_FLOPS).contains(&flops)
        && rayon::current_num_threads() > 1
        && matches!(T::DTYPE, crate::DType::F32 | crate::DType::F64)
    {
        // Mid-sized products: the output split into blocks, one single-threaded gemm each.
        // Splitting the columns halves each thread's packing of B, the rows that of A: split
        // the side of the larger operand.
        let parts = rayon::current_num_threads();
        let by_cols = n > m;
        let (len, align) = if by_cols { (n, 16) } else { (m, 8) };
        let block = len.div_ceil(parts).next_multiple_of(align);
        for ((o, &a), &b) in out.chunks_mut(mn).zip(&lb).zip(&rb) {
            let dst = SyncPtr(o.as_mut_ptr());
            (0..len.div_ceil(block)).into_par_iter().for_each(|i| {
                let (start, size) = (i * block, block.min(len - i * block));
                // SAFETY: blocks are disjoint parts of `o` (m x n row-major), and the operand
                // offsets stay inside the blocks' rows or columns of A and B.
                unsafe {
                    if by_cols {
                        gemm_raw(
                            dst.get().add(start),
                            n,
                            (m, size, k),
                            lhs,
                            lmat(a),
                            rhs,
                            rmat(b + start * rcs as usize),
                            accumulate,
                            1,
                        );
                    } else {
                        gemm_raw(
                            dst.get().add(start * n),
                            n,
                            (size, n, k),
                            lhs,
                            lmat(a + start * lrs as usize),
                            rhs,
                            rmat(b),
                            accumulate,
                            1,
                        );
                    }
                }
            });
        }
    } else {
        let threads = if flops >= GEMM_PARALLEL_FLOPS {
            rayon::current_num_threads()
        } else {
            1
        };
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
/// others are left untouched).
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
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
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
                parallelism,
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
