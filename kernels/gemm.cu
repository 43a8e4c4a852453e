// Matrix products: C = alpha * A @ B (+ beta * C) (+ bias), batched, every operand strided.
//
// SIMT kernels (float32, float64, int64): a block computes a BM x BN tile of C with 256 threads,
// each holding a TM x TN register tile; K advances in BK steps through double-buffered shared
// memory (global loads for the next step are in flight while the current one computes).
// The TF32 kernel (float32 with allow_tf32, sm_80+) computes the same tiles with
// mma.sync.m16n8k8 tensor-core instructions: 8 warps, each a 64 x 32 sub-tile.
//
// Operand A(m, k) lives at A[a_off + batch_a + m * a_rs + k * a_cs], B(k, n) likewise, so
// transposes are strides. C(m, n) lives at C[c_off + batch_c + m * c_rs + (n % c_split) * c_cs
// + (n / c_split) * c_hs]: with c_split = P and c_hs = O * P a [M = O, N = batch * P] product lands
// directly in NCHW order (conv2d's forward). Split-K (grid.z over K ranges) writes raw partial
// sums to a workspace that gemm_splitk_* reduces with the epilogue.

struct GemmParams {
    i64 m, n, k;
    i64 a_rs, a_cs, b_rs, b_cs;
    i64 c_rs, c_cs, c_split, c_hs;
    i64 a_off, b_off, c_off;
    i64 batch;
    i64 bshape[4], bsa[4], bsb[4], bsc[4];
    double alpha, beta;
    int nbd;        // batch dims in use (0..4)
    int bias_mode;  // 0: none, 1: bias[m], 2: bias[n]
    int a_kfast;    // A's k index has unit stride (choose the coalesced load mapping)
    int b_kfast;    // B's k index has unit stride
    int splits;     // > 1: split-K over grid.z, raw sums to the workspace
    int pad;
};

RG_DEV void batch_offsets(const GemmParams& p, i64 b, i64& oa, i64& ob, i64& oc) {
    oa = p.a_off;
    ob = p.b_off;
    oc = p.c_off;
    for (int d = p.nbd - 1; d >= 0; --d) {
        i64 q = b / p.bshape[d];
        i64 r = b - q * p.bshape[d];
        oa += r * p.bsa[d];
        ob += r * p.bsb[d];
        oc += r * p.bsc[d];
        b = q;
    }
}

RG_DEV i64 c_index(const GemmParams& p, i64 m, i64 n) {
    i64 hi = n / p.c_split;
    return m * p.c_rs + (n - hi * p.c_split) * p.c_cs + hi * p.c_hs;
}

template <typename T> RG_DEV T epilogue(const GemmParams& p, T acc, const T* C, i64 ci, const T* bias, i64 m, i64 n) {
    T v = p.alpha == 1.0 ? acc : (T)(p.alpha * (double)acc);
    if (p.beta != 0.0) v += (T)(p.beta * (double)C[ci]);
    if (p.bias_mode == 1) v += bias[m];
    else if (p.bias_mode == 2) v += bias[n];
    return v;
}

// The K range of this block (all of K, or its split).
RG_DEV void k_range(const GemmParams& p, int bk, i64& k_begin, i64& k_end) {
    if (p.splits <= 1) {
        k_begin = 0;
        k_end = p.k;
        return;
    }
    i64 chunk = (p.k + p.splits - 1) / p.splits;
    chunk = (chunk + bk - 1) / bk * bk;
    k_begin = (i64)blockIdx.z * chunk;
    k_end = k_begin + chunk < p.k ? k_begin + chunk : p.k;
}

// Loads this thread's share of an A tile (BM x BK) and B tile (BK x BN) into registers.
// Element e of the thread's share: A: e = tid + i * NT; if A's k is the fast index, consecutive
// threads take consecutive k (coalesced), else consecutive m. B likewise over k / n.
template <typename T, int BM, int BN, int BK, int NT>
RG_DEV void load_tiles(const GemmParams& p, const T* A, const T* B, i64 m0, i64 n0, i64 k0, i64 k_end,
                       T* ra, T* rb) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < BM * BK / NT; ++i) {
        int e = tid + i * NT;
        int mm, kk;
        if (p.a_kfast) {
            mm = e / BK;
            kk = e % BK;
        } else {
            kk = e / BM;
            mm = e % BM;
        }
        i64 m = m0 + mm, k = k0 + kk;
        ra[i] = (m < p.m && k < k_end) ? A[m * p.a_rs + k * p.a_cs] : (T)0;
    }
#pragma unroll
    for (int i = 0; i < BK * BN / NT; ++i) {
        int e = tid + i * NT;
        int nn, kk;
        if (p.b_kfast) {
            nn = e / BK;
            kk = e % BK;
        } else {
            kk = e / BN;
            nn = e % BN;
        }
        i64 n = n0 + nn, k = k0 + kk;
        rb[i] = (n < p.n && k < k_end) ? B[k * p.b_rs + n * p.b_cs] : (T)0;
    }
}

// Stores the registers of load_tiles into shared tiles As[BK][BM + PAD], Bs[BK][BN + PAD], through
// `conv` (the identity, or rounding to TF32).
template <typename T, typename S, int BM, int BN, int BK, int NT, int PAD, typename Conv>
RG_DEV void store_tiles(const GemmParams& p, const T* ra, const T* rb, S* As, S* Bs, Conv conv) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < BM * BK / NT; ++i) {
        int e = tid + i * NT;
        int mm, kk;
        if (p.a_kfast) {
            mm = e / BK;
            kk = e % BK;
        } else {
            kk = e / BM;
            mm = e % BM;
        }
        As[kk * (BM + PAD) + mm] = conv(ra[i]);
    }
#pragma unroll
    for (int i = 0; i < BK * BN / NT; ++i) {
        int e = tid + i * NT;
        int nn, kk;
        if (p.b_kfast) {
            nn = e / BK;
            kk = e % BK;
        } else {
            kk = e / BN;
            nn = e % BN;
        }
        Bs[kk * (BN + PAD) + nn] = conv(rb[i]);
    }
}

template <typename T> struct Identity {
    RG_DEV T operator()(T v) const { return v; }
};

// ----- SIMT ------------------------------------------------------------------------------------

template <typename T, int BM, int BN, int BK, int TM, int TN>
RG_DEV void gemm_simt(const GemmParams& p, const T* A, const T* B, T* C, const T* bias, T* W) {
    const int NT = 256, PAD = 4;
    __shared__ __align__(16) T As[2][BK * (BM + PAD)];
    __shared__ __align__(16) T Bs[2][BK * (BN + PAD)];
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const i64 m0 = (i64)blockIdx.y * BM, n0 = (i64)blockIdx.x * BN;
    i64 k_begin, k_end;
    k_range(p, BK, k_begin, k_end);
    i64 zstep = p.splits > 1 ? p.batch : (i64)gridDim.z;
    for (i64 bz = p.splits > 1 ? 0 : blockIdx.z; bz < p.batch; bz += zstep) {
        i64 oa, ob, oc;
        batch_offsets(p, bz, oa, ob, oc);
        const T* Ab = A + oa;
        const T* Bb = B + ob;
        T acc[TM][TN];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = (T)0;
        T ra[BM * BK / NT], rb[BK * BN / NT];
        load_tiles<T, BM, BN, BK, NT>(p, Ab, Bb, m0, n0, k_begin, k_end, ra, rb);
        store_tiles<T, T, BM, BN, BK, NT, PAD>(p, ra, rb, As[0], Bs[0], Identity<T>());
        __syncthreads();
        int cur = 0;
        for (i64 k0 = k_begin; k0 < k_end; k0 += BK) {
            bool more = k0 + BK < k_end;
            if (more) load_tiles<T, BM, BN, BK, NT>(p, Ab, Bb, m0, n0, k0 + BK, k_end, ra, rb);
            const T* as = As[cur];
            const T* bs = Bs[cur];
#pragma unroll
            for (int kk = 0; kk < BK; ++kk) {
                T a[TM], b[TN];
#pragma unroll
                for (int i = 0; i < TM / 2; ++i) {
                    a[i] = as[kk * (BM + PAD) + ty * (TM / 2) + i];
                    a[i + TM / 2] = as[kk * (BM + PAD) + BM / 2 + ty * (TM / 2) + i];
                }
#pragma unroll
                for (int j = 0; j < TN / 2; ++j) {
                    b[j] = bs[kk * (BN + PAD) + tx * (TN / 2) + j];
                    b[j + TN / 2] = bs[kk * (BN + PAD) + BN / 2 + tx * (TN / 2) + j];
                }
#pragma unroll
                for (int i = 0; i < TM; ++i)
#pragma unroll
                    for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
            }
            if (more) store_tiles<T, T, BM, BN, BK, NT, PAD>(p, ra, rb, As[cur ^ 1], Bs[cur ^ 1], Identity<T>());
            __syncthreads();
            cur ^= 1;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            i64 m = m0 + (i < TM / 2 ? ty * (TM / 2) + i : BM / 2 + ty * (TM / 2) + (i - TM / 2));
#pragma unroll
            for (int j = 0; j < TN; ++j) {
                i64 n = n0 + (j < TN / 2 ? tx * (TN / 2) + j : BN / 2 + tx * (TN / 2) + (j - TN / 2));
                if (m < p.m && n < p.n) {
                    if (p.splits > 1) {
                        W[((i64)blockIdx.z * p.m + m) * p.n + n] = acc[i][j];
                    } else {
                        i64 ci = oc + c_index(p, m, n);
                        C[ci] = epilogue(p, acc[i][j], C, ci, bias, m, n);
                    }
                }
            }
        }
    }
}

// Sums the split-K partial products and applies the epilogue.
template <typename T>
RG_DEV void gemm_splitk(const GemmParams& p, const T* W, T* C, const T* bias) {
    GRID_LOOP(i, p.m * p.n) {
        i64 m = i / p.n, n = i - m * p.n;
        T acc = (T)0;
        for (int s = 0; s < p.splits; ++s) acc += W[((i64)s * p.m + m) * p.n + n];
        i64 ci = p.c_off + c_index(p, m, n);
        C[ci] = epilogue(p, acc, C, ci, bias, m, n);
    }
}

KERNEL void __launch_bounds__(256) gemm_f32(GemmParams p, const float* A, const float* B, float* C, const float* bias, float* W) {
    gemm_simt<float, 128, 128, 8, 8, 8>(p, A, B, C, bias, W);
}
KERNEL void __launch_bounds__(256) gemm_small_f32(GemmParams p, const float* A, const float* B, float* C, const float* bias, float* W) {
    gemm_simt<float, 64, 64, 16, 4, 4>(p, A, B, C, bias, W);
}
KERNEL void __launch_bounds__(256) gemm_f64(GemmParams p, const double* A, const double* B, double* C, const double* bias, double* W) {
    gemm_simt<double, 64, 64, 8, 4, 4>(p, A, B, C, bias, W);
}
KERNEL void __launch_bounds__(256) gemm_i64(GemmParams p, const i64* A, const i64* B, i64* C, const i64* bias, i64* W) {
    gemm_simt<i64, 64, 64, 8, 4, 4>(p, A, B, C, bias, W);
}
KERNEL void gemm_splitk_f32(GemmParams p, const float* W, float* C, const float* bias) { gemm_splitk<float>(p, W, C, bias); }
KERNEL void gemm_splitk_f64(GemmParams p, const double* W, double* C, const double* bias) { gemm_splitk<double>(p, W, C, bias); }
KERNEL void gemm_splitk_i64(GemmParams p, const i64* W, i64* C, const i64* bias) { gemm_splitk<i64>(p, W, C, bias); }

// ----- TF32 tensor cores -----------------------------------------------------------------------

// Round to TF32 (10 mantissa bits, nearest, ties away from zero), as the bit pattern mma reads.
RG_DEV float round_tf32(float x) {
#if defined(RG_EMU)
    u32 b = __float_as_uint(x);
    if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & 0xffffe000u;
    return __uint_as_float(b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    u32 r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return __uint_as_float(r);
#else
    return x;
#endif
}

struct ToTf32 {
    RG_DEV float operator()(float v) const { return round_tf32(v); }
};

// d += a (16x8, row) * b (8x8, col). Fragments (lane l, gid = l / 4, tig = l % 4):
//   a[r]: row gid + 8 * (r % 2), col tig + 4 * (r / 2);  b[r]: k tig + 4 * r, n gid;
//   d[r]: row gid + 8 * (r / 2), col 2 * tig + r % 2.
RG_DEV void mma_tf32(float* d, const float* a, const float* b) {
#if defined(RG_EMU)
    static float As[32][16][8], Bs[32][8][8];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int gid = lane >> 2, tig = lane & 3;
    for (int r = 0; r < 4; ++r) As[w][gid + 8 * (r % 2)][tig + 4 * (r / 2)] = a[r];
    for (int r = 0; r < 2; ++r) Bs[w][tig + 4 * r][gid] = b[r];
    __syncwarp();
    for (int r = 0; r < 4; ++r) {
        int row = gid + 8 * (r / 2), col = 2 * tig + (r % 2);
        float s = d[r];
        for (int k = 0; k < 8; ++k) s += As[w][row][k] * Bs[w][k][col];
        d[r] = s;
    }
    __syncwarp();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])), "r"(__float_as_uint(a[2])),
          "r"(__float_as_uint(a[3])), "r"(__float_as_uint(b[0])), "r"(__float_as_uint(b[1])));
#else
    __trap();  // the host never selects this kernel below sm_80
#endif
}

// 128 x 128 tiles, BK = 16, 8 warps in a 2 (m) x 4 (n) grid, each 64 x 32 = 4 x 4 mma tiles.
KERNEL void __launch_bounds__(256) gemm_tf32(GemmParams p, const float* A, const float* B, float* C, const float* bias, float* W) {
    const int BM = 128, BN = 128, BK = 16, NT = 256, PAD = 8;
    __shared__ __align__(16) float As[2][BK * (BM + PAD)];
    __shared__ __align__(16) float Bs[2][BK * (BN + PAD)];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int gid = lane >> 2, tig = lane & 3;
    const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
    const i64 m0 = (i64)blockIdx.y * BM, n0 = (i64)blockIdx.x * BN;
    i64 k_begin, k_end;
    k_range(p, BK, k_begin, k_end);
    i64 zstep = p.splits > 1 ? p.batch : (i64)gridDim.z;
    for (i64 bz = p.splits > 1 ? 0 : blockIdx.z; bz < p.batch; bz += zstep) {
        i64 oa, ob, oc;
        batch_offsets(p, bz, oa, ob, oc);
        const float* Ab = A + oa;
        const float* Bb = B + ob;
        float acc[4][4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
        float ra[BM * BK / NT], rb[BK * BN / NT];
        load_tiles<float, BM, BN, BK, NT>(p, Ab, Bb, m0, n0, k_begin, k_end, ra, rb);
        store_tiles<float, float, BM, BN, BK, NT, PAD>(p, ra, rb, As[0], Bs[0], ToTf32());
        __syncthreads();
        int cur = 0;
        for (i64 k0 = k_begin; k0 < k_end; k0 += BK) {
            bool more = k0 + BK < k_end;
            if (more) load_tiles<float, BM, BN, BK, NT>(p, Ab, Bb, m0, n0, k0 + BK, k_end, ra, rb);
            const float* as = As[cur];
            const float* bs = Bs[cur];
#pragma unroll
            for (int k8 = 0; k8 < BK; k8 += 8) {
                float af[4][4], bf[4][2];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    int row = wm + i * 16 + gid;
#pragma unroll
                    for (int r = 0; r < 4; ++r)
                        af[i][r] = as[(k8 + tig + 4 * (r / 2)) * (BM + PAD) + row + 8 * (r % 2)];
                }
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    int col = wn + j * 8 + gid;
#pragma unroll
                    for (int r = 0; r < 2; ++r) bf[j][r] = bs[(k8 + tig + 4 * r) * (BN + PAD) + col];
                }
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) mma_tf32(acc[i][j], af[i], bf[j]);
            }
            if (more) store_tiles<float, float, BM, BN, BK, NT, PAD>(p, ra, rb, As[cur ^ 1], Bs[cur ^ 1], ToTf32());
            __syncthreads();
            cur ^= 1;
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    i64 m = m0 + wm + i * 16 + gid + 8 * (r / 2);
                    i64 n = n0 + wn + j * 8 + 2 * tig + (r % 2);
                    if (m < p.m && n < p.n) {
                        if (p.splits > 1) {
                            W[((i64)blockIdx.z * p.m + m) * p.n + n] = acc[i][j][r];
                        } else {
                            i64 ci = oc + c_index(p, m, n);
                            C[ci] = epilogue(p, acc[i][j][r], C, ci, bias, m, n);
                        }
                    }
                }
    }
}
