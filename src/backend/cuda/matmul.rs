//! Host side of kernels/gemm.cu: kernel and tile choice, split-K, batches, and the matmul/addmm
//! entry points.

use super::device::CudaDevice;
use super::elementwise::cast;
use super::launch::{max_blocks, tiles, Args, Pod};
use super::nvrtc::GEMM;
use super::rt::LaunchDims;
use super::storage::CudaStorage;
use super::storage::Dv;
use crate::error::{Error, Result};
use crate::storage::DType;
use crate::tensor::layout::coalesce;
use crate::tensor::Layout;

/// `GemmParams` in gemm.cu.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct GemmParams {
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub a_rs: i64,
    pub a_cs: i64,
    pub b_rs: i64,
    pub b_cs: i64,
    pub c_rs: i64,
    pub c_cs: i64,
    pub c_split: i64,
    pub c_hs: i64,
    pub a_off: i64,
    pub b_off: i64,
    pub c_off: i64,
    pub batch: i64,
    pub bshape: [i64; 4],
    pub bsa: [i64; 4],
    pub bsb: [i64; 4],
    pub bsc: [i64; 4],
    pub alpha: f64,
    pub beta: f64,
    pub nbd: i32,
    pub bias_mode: i32,
    pub a_kfast: i32,
    pub b_kfast: i32,
    pub splits: i32,
    pub pad: i32,
}
// SAFETY: repr(C), numbers only, mirrors the C struct.
unsafe impl Pod for GemmParams {}

/// A matrix operand: storage, row and column strides, offset (elements).
#[derive(Copy, Clone)]
pub(crate) struct MatRef<'a> {
    pub s: &'a CudaStorage,
    pub rs: usize,
    pub cs: usize,
    pub off: usize,
}

impl<'a> MatRef<'a> {
    /// The matrix in the last two dims of `l` (batch dims go through [`Batch`]).
    fn of(s: &'a CudaStorage, l: &Layout) -> MatRef<'a> {
        let nd = l.ndim();
        MatRef {
            s,
            rs: l.strides()[nd - 2],
            cs: l.strides()[nd - 1],
            off: l.offset(),
        }
    }
}

/// The output: `C(m, n)` at `off + m * rs + (n % split) * cs + (n / split) * hs`.
#[derive(Copy, Clone)]
pub(crate) struct OutRef<'a> {
    pub s: &'a CudaStorage,
    pub rs: usize,
    pub cs: usize,
    pub split: usize,
    pub hs: usize,
    pub off: usize,
}

impl<'a> OutRef<'a> {
    /// A contiguous row-major output with `n` columns.
    fn rows(s: &'a CudaStorage, n: usize) -> OutRef<'a> {
        OutRef {
            s,
            rs: n,
            cs: 1,
            split: n,
            hs: 0,
            off: 0,
        }
    }
}

/// Batch dims: sizes and the batch strides of A, B and C.
#[derive(Clone, Default)]
pub(crate) struct Batch {
    pub shape: Vec<usize>,
    pub sa: Vec<usize>,
    pub sb: Vec<usize>,
    pub sc: Vec<usize>,
}

/// Which kernel runs a product, and its tile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub name: &'static str,
    pub splitk_name: &'static str,
    pub tile: usize,
    pub splits: usize,
}

/// Kernel, tile and split-K count for an (m, n, k) product with `batch` batches.
pub(crate) fn plan(
    dtype: DType,
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    sm: u32,
    tf32: bool,
) -> Result<Plan> {
    let (name, splitk_name, tile) = match dtype {
        DType::F32 if tf32 => ("gemm_tf32", "gemm_splitk_f32", 128),
        DType::F32 => {
            let big = tiles(m, 128) * tiles(n, 128) * batch;
            if big >= sm as usize {
                ("gemm_f32", "gemm_splitk_f32", 128)
            } else {
                ("gemm_small_f32", "gemm_splitk_f32", 64)
            }
        }
        DType::F64 => ("gemm_f64", "gemm_splitk_f64", 64),
        DType::I64 => ("gemm_i64", "gemm_splitk_i64", 64),
        other => {
            return Err(Error::not_implemented(format!(
                "\"addmm_cuda\" not implemented for '{}'",
                other.scalar_name()
            )))
        }
    };
    let blocks = tiles(m, tile) * tiles(n, tile);
    let splits = if batch == 1 && blocks < sm as usize && k >= 2048 {
        (2 * sm as usize)
            .div_ceil(blocks.max(1))
            .min(k / 512)
            .clamp(2, 64)
    } else {
        1
    };
    Ok(Plan {
        name,
        splitk_name,
        tile,
        splits,
    })
}

/// `C = alpha * A @ B + beta * C (+ bias)`, batched. `bias` (contiguous, with its offset) is added
/// per row (`mode` 1) or per column (`mode` 2).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    dev: &std::sync::Arc<CudaDevice>,
    (m, n, k): (usize, usize, usize),
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: OutRef<'_>,
    bias: Option<(&CudaStorage, usize, i32)>,
    alpha: f64,
    beta: f64,
    batch: &Batch,
) -> Result<()> {
    let dtype = c.s.dtype();
    if a.s.dtype() != dtype || b.s.dtype() != dtype {
        return Err(Error::runtime(format!(
            "expected m1 and m2 to have the same dtype, but got: {} != {}",
            a.s.dtype(),
            b.s.dtype()
        )));
    }
    let nb: usize = batch.shape.iter().product();
    if m == 0 || n == 0 || nb == 0 {
        return Ok(());
    }
    if batch.shape.len() > 4 {
        return Err(Error::internal("more than 4 batch dims in gemm"));
    }
    let props = dev.props();
    let tf32 = dtype == DType::F32 && super::allow_tf32() && props.cc.0 >= 8;
    let p = plan(dtype, m, n, k, nb, props.sm_count, tf32)?;
    let mut g = GemmParams {
        m: m as i64,
        n: n as i64,
        k: k as i64,
        a_rs: a.rs as i64,
        a_cs: a.cs as i64,
        b_rs: b.rs as i64,
        b_cs: b.cs as i64,
        c_rs: c.rs as i64,
        c_cs: c.cs as i64,
        c_split: c.split.max(1) as i64,
        c_hs: c.hs as i64,
        a_off: a.off as i64,
        b_off: b.off as i64,
        c_off: c.off as i64,
        batch: nb as i64,
        alpha,
        beta,
        nbd: batch.shape.len() as i32,
        bias_mode: bias.map_or(0, |b| b.2),
        a_kfast: (a.cs == 1 || m == 1) as i32,
        b_kfast: (b.rs == 1 && n > 1) as i32,
        splits: p.splits as i32,
        ..Default::default()
    };
    for (d, &s) in batch.shape.iter().enumerate() {
        g.bshape[d] = s as i64;
        g.bsa[d] = batch.sa[d] as i64;
        g.bsb[d] = batch.sb[d] as i64;
        g.bsc[d] = batch.sc[d] as i64;
    }
    let workspace = if p.splits > 1 {
        Some(dev.alloc(p.splits * m * n * dtype.size_in_bytes())?)
    } else {
        None
    };
    // The bias of a band starting at row r0: a per-row bias (mode 1) moves with the rows.
    let bias_at = |r0: usize| {
        bias.map_or(0, |(s, off, mode)| {
            s.ptr_at(off + if mode == 1 { r0 } else { 0 })
        })
    };
    // grid.y holds the row tiles (at most 65535): taller products run in bands of rows.
    let band_tiles = 65_535usize;
    let row_tiles = tiles(m, p.tile);
    let mut t0 = 0;
    while t0 < row_tiles {
        let t1 = (t0 + band_tiles).min(row_tiles);
        let mut gb = g;
        let r0 = t0 * p.tile;
        let bias_ptr = bias_at(r0);
        gb.m = (m.min(t1 * p.tile) - r0) as i64;
        gb.a_off += (r0 * a.rs) as i64;
        gb.c_off += (r0 * c.rs) as i64;
        let z = if p.splits > 1 {
            p.splits
        } else {
            nb.min(65_535)
        };
        let dims = LaunchDims {
            grid: [tiles(n, p.tile) as u32, (t1 - t0) as u32, z as u32],
            block: [256, 1, 1],
            smem: 0,
        };
        let mut args = Args::new();
        args.pod(&gb)
            .ptr(a.s.ptr())
            .ptr(b.s.ptr())
            .ptr(c.s.ptr())
            .ptr(bias_ptr)
            .ptr(workspace.as_ref().map_or(0, |w| w.ptr()));
        dev.launch(&GEMM, p.name, dims, &mut args)?;
        if let Some(w) = &workspace {
            // The reduction reads the workspace of this band (rows 0..gb.m of it).
            let mut args = Args::new();
            args.pod(&gb).ptr(w.ptr()).ptr(c.s.ptr()).ptr(bias_ptr);
            let total = gb.m as usize * n;
            let dims = LaunchDims {
                grid: [
                    super::launch::grid_for(total, 256, max_blocks(props.sm_count)),
                    1,
                    1,
                ],
                block: [256, 1, 1],
                smem: 0,
            };
            dev.launch(&GEMM, p.splitk_name, dims, &mut args)?;
        }
        t0 = t1;
    }
    Ok(())
}

/// A copy with unit stride in one of the two matrix dims when neither has it (or a view of `x`).
fn matrix_friendly(x: &CudaStorage, l: &Layout) -> Result<Option<(CudaStorage, Layout)>> {
    let nd = l.ndim();
    let (rows, cols) = (l.shape()[nd - 2], l.shape()[nd - 1]);
    let (rs, cs) = (l.strides()[nd - 2], l.strides()[nd - 1]);
    if cs == 1 || rs == 1 || rows <= 1 || cols <= 1 {
        return Ok(None);
    }
    let c = cast(x, l, x.dtype())?;
    Ok(Some((c, Layout::contiguous(l.shape()))))
}

/// Batched `a @ b` over layouts broadcast in their batch dims; the result is contiguous.
pub(crate) fn matmul(
    a: &CudaStorage,
    la: &Layout,
    b: &CudaStorage,
    lb: &Layout,
) -> Result<CudaStorage> {
    let nd = la.ndim();
    let (m, k, n) = (la.shape()[nd - 2], la.shape()[nd - 1], lb.shape()[nd - 1]);
    let bshape = &la.shape()[..nd - 2];
    let nb: usize = bshape.iter().product();
    let dev = a.device();
    let out = CudaStorage::zeros(dev, a.dtype(), nb * m * n)?;
    if nb * m * n == 0 {
        return Ok(out);
    }
    let fa = matrix_friendly(a, la)?;
    let fb = matrix_friendly(b, lb)?;
    let (a, la) = fa.as_ref().map_or((a, la), |(s, l)| (s, l));
    let (b, lb) = fb.as_ref().map_or((b, lb), |(s, l)| (s, l));
    let cl = Layout::contiguous(&out_shape(bshape, m, n));
    let bst = |l: &Layout| l.strides()[..nd - 2].to_vec();
    let (sa, sb, sc) = (bst(la), bst(lb), bst(&cl));
    let batch = match coalesce(bshape, &[&sa, &sb, &sc]) {
        Some((shape, st)) if shape.len() <= 4 => Batch {
            shape: shape.to_vec(),
            sa: st[0].to_vec(),
            sb: st[1].to_vec(),
            sc: st[2].to_vec(),
        },
        Some(_) => {
            // Too many batch dims that do not merge: make both operands contiguous.
            let ca = cast(a, la, a.dtype())?;
            let cb = cast(b, lb, b.dtype())?;
            return matmul(
                &ca,
                &Layout::contiguous(la.shape()),
                &cb,
                &Layout::contiguous(lb.shape()),
            );
        }
        None => Batch::default(),
    };
    gemm(
        dev,
        (m, n, k),
        MatRef::of(a, la),
        MatRef::of(b, lb),
        OutRef::rows(&out, n),
        None,
        1.0,
        0.0,
        &batch,
    )?;
    Ok(out)
}

fn out_shape(batch: &[usize], m: usize, n: usize) -> Vec<usize> {
    let mut s = batch.to_vec();
    s.push(m);
    s.push(n);
    s
}

/// `bias + a @ b` for 2-D `a` [m, k] and `b` [k, n]; `bias` is a contiguous row of `n`.
pub(crate) fn addmm(
    bias: Option<Dv<'_>>,
    a: &CudaStorage,
    la: &Layout,
    b: &CudaStorage,
    lb: &Layout,
) -> Result<CudaStorage> {
    let (m, k, n) = (la.shape()[0], la.shape()[1], lb.shape()[1]);
    let dev = a.device();
    let out = CudaStorage::alloc(dev, a.dtype(), m * n)?;
    if m * n == 0 {
        return Ok(out);
    }
    let fa = matrix_friendly(a, la)?;
    let fb = matrix_friendly(b, lb)?;
    let (a, la) = fa.as_ref().map_or((a, la), |(s, l)| (s, l));
    let (b, lb) = fb.as_ref().map_or((b, lb), |(s, l)| (s, l));
    let bias_ref = match bias {
        Some(b) if b.s.dtype() != a.dtype() => {
            return Err(Error::runtime(
                "expected bias to have the same dtype as input",
            ))
        }
        Some(b) => Some((b.s, b.off, 2)),
        None => None,
    };
    gemm(
        dev,
        (m, n, k),
        MatRef::of(a, la),
        MatRef::of(b, lb),
        OutRef::rows(&out, n),
        bias_ref,
        1.0,
        0.0,
        &Batch {
            shape: vec![1],
            sa: vec![0],
            sb: vec![0],
            sc: vec![0],
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_pick_tiles_and_split_k() {
        // Big square products use 128 tiles and no split.
        let p = plan(DType::F32, 4096, 4096, 4096, 1, 132, false).unwrap();
        assert_eq!((p.name, p.tile, p.splits), ("gemm_f32", 128, 1));
        // Small outputs with a long K split it.
        let p = plan(DType::F32, 64, 288, 50_176, 1, 132, false).unwrap();
        assert_eq!(p.name, "gemm_small_f32");
        assert!(p.splits > 1 && p.splits <= 64, "{p:?}");
        // Batched small products do not split K.
        let p = plan(DType::F32, 64, 64, 4096, 8, 132, false).unwrap();
        assert_eq!(p.splits, 1);
        assert_eq!(
            plan(DType::F32, 512, 512, 512, 1, 132, true).unwrap().name,
            "gemm_tf32"
        );
        assert_eq!(
            plan(DType::F64, 10, 10, 10, 1, 132, false).unwrap().name,
            "gemm_f64"
        );
        assert!(plan(DType::Bool, 1, 1, 1, 1, 132, false).is_err());
        assert_eq!(std::mem::size_of::<GemmParams>(), 31 * 8 + 2 * 8 + 6 * 4);
    }
}
