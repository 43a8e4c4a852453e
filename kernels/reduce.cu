// Reductions over a set of dims (sum, mean, prod, max, min, argmax, argmin, all, any), max/min
// along a dim with indices, and softmax / log_softmax with their backward.
//
// A reduction sees its input as kept x reduced index spaces (RedGeo: each up to 8 coalesced dims).
// Three shapes of work:
//   red_rows: one block per kept element (threads stride over the reduced elements), optionally
//             split over grid.y into partial results that red_finish combines;
//   red_cols: one thread per kept element looping over the reduced ones (few reduced elements).
// Accumulation is in double for float sums and products (as the CPU kernels), i64 for integers.
// Max/min propagate NaN and keep the first of equal extremes, as PyTorch.

struct RedGeo {
    int kdim, rdim;
    i64 nk, nr;
    i64 kshape[RG_MAX_DIMS], kst[RG_MAX_DIMS];
    i64 rshape[RG_MAX_DIMS], rst[RG_MAX_DIMS];
    i64 off;
};

RG_DEV i64 dims_offset(int nd, const i64* shape, const i64* st, i64 i) {
    if (nd == 1) return i * st[0];
    i64 off = 0;
    for (int d = nd - 1; d >= 0; --d) {
        i64 q = i / shape[d];
        off += (i - q * shape[d]) * st[d];
        i = q;
    }
    return off;
}

// ----- accumulators ---------------------------------------------------------------------------

template <typename T> struct SumAcc { typedef double A; };
template <> struct SumAcc<i64> { typedef i64 A; };
template <> struct SumAcc<u8> { typedef i64 A; };

// Sum (and mean: `mean` divides by the count for floats, as the CPU kernel).
template <typename T, typename O, bool MEAN> struct SumOp {
    typedef typename SumAcc<T>::A A;
    typedef O OutT;
    RG_DEV static A init() { return (A)0; }
    RG_DEV static A load(T v, i64) { return (A)v; }
    RG_DEV static A combine(A a, A b) { return a + b; }
    RG_DEV static O finish(A a, i64 n) { return MEAN ? (O)((double)a / (double)n) : (O)a; }
};
template <bool MEAN> struct SumOp<i64, i64, MEAN> {
    typedef i64 A;
    typedef i64 OutT;
    RG_DEV static A init() { return 0; }
    RG_DEV static A load(i64 v, i64) { return v; }
    RG_DEV static A combine(A a, A b) { return (i64)((u64)a + (u64)b); }
    RG_DEV static i64 finish(A a, i64) { return a; }
};
template <bool MEAN> struct SumOp<u8, i64, MEAN> {
    typedef i64 A;
    typedef i64 OutT;
    RG_DEV static A init() { return 0; }
    RG_DEV static A load(u8 v, i64) { return v != 0 ? 1 : 0; }
    RG_DEV static A combine(A a, A b) { return a + b; }
    RG_DEV static i64 finish(A a, i64) { return a; }
};

template <typename T, typename O> struct ProdOp {
    typedef double A;
    typedef O OutT;
    RG_DEV static A init() { return 1.0; }
    RG_DEV static A load(T v, i64) { return (double)v; }
    RG_DEV static A combine(A a, A b) { return a * b; }
    RG_DEV static O finish(A a, i64) { return (O)a; }
};
template <> struct ProdOp<i64, i64> {
    typedef i64 A;
    typedef i64 OutT;
    RG_DEV static A init() { return 1; }
    RG_DEV static A load(i64 v, i64) { return v; }
    RG_DEV static A combine(A a, A b) { return (i64)((u64)a * (u64)b); }
    RG_DEV static i64 finish(A a, i64) { return a; }
};
template <> struct ProdOp<u8, i64> {
    typedef i64 A;
    typedef i64 OutT;
    RG_DEV static A init() { return 1; }
    RG_DEV static A load(u8 v, i64) { return v != 0 ? 1 : 0; }
    RG_DEV static A combine(A a, A b) { return a * b; }
    RG_DEV static i64 finish(A a, i64) { return a; }
};

// A candidate extreme: its value and flat index in the reduced space.
template <typename T> struct Arg {
    T v;
    i64 i;
};

template <typename T> RG_DEV bool is_nan_v(T v) { return v != v; }

// True when a should win over b (NaN first, then the larger / smaller, ties to the lower index).
template <typename T, bool MAX> RG_DEV bool arg_better(const Arg<T>& a, const Arg<T>& b) {
    bool an = is_nan_v(a.v), bn = is_nan_v(b.v);
    if (an || bn) {
        if (an && bn) return a.i < b.i;
        return an;
    }
    if (MAX ? a.v > b.v : a.v < b.v) return true;
    if (a.v == b.v) return a.i < b.i;
    return false;
}

// MODE 0: the value, 1: the index.
template <typename T, typename O, bool MAX, int MODE> struct ExtremeOp {
    typedef Arg<T> A;
    typedef O OutT;
    RG_DEV static A init() {
        A a;
        a.v = MAX ? Limits<T>::lowest() : Limits<T>::highest();
        a.i = 0x7fffffffffffffffLL;
        return a;
    }
    RG_DEV static A load(T v, i64 i) {
        A a;
        a.v = v;
        a.i = i;
        return a;
    }
    RG_DEV static A combine(A a, A b) { return arg_better<T, MAX>(a, b) ? a : b; }
    RG_DEV static O finish(A a, i64) { return MODE == 0 ? (O)a.v : (O)a.i; }
};

template <typename T, bool ALL> struct LogicOp {
    typedef int A;
    typedef u8 OutT;
    RG_DEV static A init() { return ALL ? 1 : 0; }
    RG_DEV static A load(T v, i64) { return v != (T)0 ? 1 : 0; }
    RG_DEV static A combine(A a, A b) { return ALL ? (a & b) : (a | b); }
    RG_DEV static u8 finish(A a, i64) { return (u8)a; }
};

// ----- kernels ---------------------------------------------------------------------------------

#define RED_BLOCK 256

// One block per kept element (grid-stride over grid.x); grid.y splits the reduced range.
template <typename T, typename Op>
RG_DEV void red_rows(const RedGeo& g, const T* x, typename Op::OutT* out, typename Op::A* partial) {
    typedef typename Op::A A;
    __shared__ __align__(16) unsigned char raw[RED_BLOCK * sizeof(A)];
    A* sh = reinterpret_cast<A*>(raw);
    i64 splits = gridDim.y;
    i64 chunk = (g.nr + splits - 1) / splits;
    i64 r0 = (i64)blockIdx.y * chunk;
    i64 r1 = r0 + chunk < g.nr ? r0 + chunk : g.nr;
    for (i64 k = blockIdx.x; k < g.nk; k += gridDim.x) {
        i64 base = g.off + dims_offset(g.kdim, g.kshape, g.kst, k);
        A acc = Op::init();
        for (i64 r = r0 + threadIdx.x; r < r1; r += blockDim.x)
            acc = Op::combine(acc, Op::load(x[base + dims_offset(g.rdim, g.rshape, g.rst, r)], r));
        sh[threadIdx.x] = acc;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if ((int)threadIdx.x < s) sh[threadIdx.x] = Op::combine(sh[threadIdx.x], sh[threadIdx.x + s]);
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            if (splits == 1)
                out[k] = Op::finish(sh[0], g.nr);
            else
                partial[k * splits + blockIdx.y] = sh[0];
        }
        __syncthreads();
    }
}

// One thread per kept element: combines its `splits` partial results.
template <typename T, typename Op>
RG_DEV void red_finish(const RedGeo& g, int splits, const typename Op::A* partial, typename Op::OutT* out) {
    GRID_LOOP(k, g.nk) {
        typename Op::A acc = Op::init();
        for (int s = 0; s < splits; ++s) acc = Op::combine(acc, partial[k * splits + s]);
        out[k] = Op::finish(acc, g.nr);
    }
}

// One thread per kept element looping over the reduced elements.
template <typename T, typename Op>
RG_DEV void red_cols(const RedGeo& g, const T* x, typename Op::OutT* out) {
    GRID_LOOP(k, g.nk) {
        i64 base = g.off + dims_offset(g.kdim, g.kshape, g.kst, k);
        typename Op::A acc = Op::init();
        for (i64 r = 0; r < g.nr; ++r)
            acc = Op::combine(acc, Op::load(x[base + dims_offset(g.rdim, g.rshape, g.rst, r)], r));
        out[k] = Op::finish(acc, g.nr);
    }
}

#define RED_KERNELS(NAME, S, T, OP)                                                                     \
    KERNEL void red_rows_##NAME##_##S(RedGeo g, const T* x, OP::OutT* out, OP::A* partial) {               \
        red_rows<T, OP>(g, x, out, partial);                                                            \
    }                                                                                                   \
    KERNEL void red_finish_##NAME##_##S(RedGeo g, int splits, const OP::A* partial, OP::OutT* out) {       \
        red_finish<T, OP>(g, splits, partial, out);                                                     \
    }                                                                                                   \
    KERNEL void red_cols_##NAME##_##S(RedGeo g, const T* x, OP::OutT* out) { red_cols<T, OP>(g, x, out); }

#define COMMA ,
#define RED_ALL_OPS(S, T, SUMO)                                          \
    RED_KERNELS(sum, S, T, SumOp<T COMMA SUMO COMMA false>)              \
    RED_KERNELS(mean, S, T, SumOp<T COMMA SUMO COMMA true>)              \
    RED_KERNELS(prod, S, T, ProdOp<T COMMA SUMO>)                        \
    RED_KERNELS(max, S, T, ExtremeOp<T COMMA T COMMA true COMMA 0>)      \
    RED_KERNELS(min, S, T, ExtremeOp<T COMMA T COMMA false COMMA 0>)     \
    RED_KERNELS(argmax, S, T, ExtremeOp<T COMMA i64 COMMA true COMMA 1>) \
    RED_KERNELS(argmin, S, T, ExtremeOp<T COMMA i64 COMMA false COMMA 1>) \
    RED_KERNELS(all, S, T, LogicOp<T COMMA true>)                        \
    RED_KERNELS(any, S, T, LogicOp<T COMMA false>)

RED_ALL_OPS(f32, float, float)
RED_ALL_OPS(f64, double, double)
RED_ALL_OPS(i64, i64, i64)
RED_ALL_OPS(u8, u8, i64)

// Max or min along one dim with indices (the dim removed): one thread per output when the dim
// is short, else one block per output. Both outputs at once.
template <typename T, bool MAX>
RG_DEV void extreme_rows(const RedGeo& g, const T* x, T* vals, i64* idx) {
    typedef Arg<T> A;
    typedef ExtremeOp<T, T, MAX, 0> Op;
    __shared__ __align__(16) unsigned char raw[RED_BLOCK * sizeof(A)];
    A* sh = reinterpret_cast<A*>(raw);
    for (i64 k = blockIdx.x; k < g.nk; k += gridDim.x) {
        i64 base = g.off + dims_offset(g.kdim, g.kshape, g.kst, k);
        A acc = Op::init();
        for (i64 r = threadIdx.x; r < g.nr; r += blockDim.x)
            acc = Op::combine(acc, Op::load(x[base + dims_offset(g.rdim, g.rshape, g.rst, r)], r));
        sh[threadIdx.x] = acc;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if ((int)threadIdx.x < s) sh[threadIdx.x] = Op::combine(sh[threadIdx.x], sh[threadIdx.x + s]);
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            vals[k] = sh[0].v;
            idx[k] = sh[0].i;
        }
        __syncthreads();
    }
}

template <typename T, bool MAX>
RG_DEV void extreme_cols(const RedGeo& g, const T* x, T* vals, i64* idx) {
    typedef ExtremeOp<T, T, MAX, 0> Op;
    GRID_LOOP(k, g.nk) {
        i64 base = g.off + dims_offset(g.kdim, g.kshape, g.kst, k);
        typename Op::A acc = Op::init();
        for (i64 r = 0; r < g.nr; ++r)
            acc = Op::combine(acc, Op::load(x[base + dims_offset(g.rdim, g.rshape, g.rst, r)], r));
        vals[k] = acc.v;
        idx[k] = acc.i;
    }
}

#define EXTREME(S, T)                                                                                          \
    KERNEL void extreme_rows_max_##S(RedGeo g, const T* x, T* v, i64* i) { extreme_rows<T, true>(g, x, v, i); }   \
    KERNEL void extreme_rows_min_##S(RedGeo g, const T* x, T* v, i64* i) { extreme_rows<T, false>(g, x, v, i); }  \
    KERNEL void extreme_cols_max_##S(RedGeo g, const T* x, T* v, i64* i) { extreme_cols<T, true>(g, x, v, i); }   \
    KERNEL void extreme_cols_min_##S(RedGeo g, const T* x, T* v, i64* i) { extreme_cols<T, false>(g, x, v, i); }
EXTREME(f32, float)
EXTREME(f64, double)
EXTREME(i64, i64)
EXTREME(u8, u8)

// ----- softmax -----------------------------------------------------------------------------------
// Contiguous input seen as (outer, C, inner). inner == 1: one block per row (blockDim a power of two
// >= 32); otherwise one thread per (outer, inner) column stepping through C with stride inner.

template <typename T>
RG_DEV void softmax_rows(const T* x, T* y, i64 outer, i64 c, int log) {
    __shared__ T scratch[32];
    for (i64 row = blockIdx.x; row < outer; row += gridDim.x) {
        const T* xr = x + row * c;
        T* yr = y + row * c;
        T m = Limits<T>::lowest();
        for (i64 k = threadIdx.x; k < c; k += blockDim.x) {
            T v = xr[k];
            m = (v > m || rg_isnan(v)) ? v : m;
        }
        m = block_max(m, scratch);
        T s = (T)0;
        for (i64 k = threadIdx.x; k < c; k += blockDim.x) s += rg_exp(xr[k] - m);
        s = block_sum(s, scratch);
        if (log) {
            T lse = m + rg_log(s);
            for (i64 k = threadIdx.x; k < c; k += blockDim.x) yr[k] = xr[k] - lse;
        } else {
            T inv = (T)1 / s;
            for (i64 k = threadIdx.x; k < c; k += blockDim.x) yr[k] = rg_exp(xr[k] - m) * inv;
        }
        __syncthreads();
    }
}

template <typename T>
RG_DEV void softmax_cols(const T* x, T* y, i64 outer, i64 c, i64 inner, int log) {
    GRID_LOOP(col, outer * inner) {
        i64 o = col / inner, in = col - o * inner;
        const T* xc = x + o * c * inner + in;
        T* yc = y + o * c * inner + in;
        T m = Limits<T>::lowest();
        for (i64 k = 0; k < c; ++k) {
            T v = xc[k * inner];
            m = (v > m || rg_isnan(v)) ? v : m;
        }
        T s = (T)0;
        for (i64 k = 0; k < c; ++k) s += rg_exp(xc[k * inner] - m);
        if (log) {
            T lse = m + rg_log(s);
            for (i64 k = 0; k < c; ++k) yc[k * inner] = xc[k * inner] - lse;
        } else {
            T inv = (T)1 / s;
            for (i64 k = 0; k < c; ++k) yc[k * inner] = rg_exp(xc[k * inner] - m) * inv;
        }
    }
}

// Backward from the output y: softmax: gx = y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g).
template <typename T>
RG_DEV void softmax_bwd_rows(const T* g, const T* y, T* gx, i64 outer, i64 c, int log) {
    __shared__ T scratch[32];
    for (i64 row = blockIdx.x; row < outer; row += gridDim.x) {
        const T* gr = g + row * c;
        const T* yr = y + row * c;
        T* dr = gx + row * c;
        T s = (T)0;
        for (i64 k = threadIdx.x; k < c; k += blockDim.x) s += log ? gr[k] : gr[k] * yr[k];
        s = block_sum(s, scratch);
        for (i64 k = threadIdx.x; k < c; k += blockDim.x)
            dr[k] = log ? gr[k] - rg_exp(yr[k]) * s : yr[k] * (gr[k] - s);
        __syncthreads();
    }
}

template <typename T>
RG_DEV void softmax_bwd_cols(const T* g, const T* y, T* gx, i64 outer, i64 c, i64 inner, int log) {
    GRID_LOOP(col, outer * inner) {
        i64 o = col / inner, in = col - o * inner;
        i64 base = o * c * inner + in;
        T s = (T)0;
        for (i64 k = 0; k < c; ++k) {
            i64 j = base + k * inner;
            s += log ? g[j] : g[j] * y[j];
        }
        for (i64 k = 0; k < c; ++k) {
            i64 j = base + k * inner;
            gx[j] = log ? g[j] - rg_exp(y[j]) * s : y[j] * (g[j] - s);
        }
    }
}

// The column kernels (a thread per (outer, inner) pair, 256-thread blocks) need up to 72 registers.
#define SOFTMAX(S, T)                                                                                       \
    KERNEL void __launch_bounds__(1024) softmax_rows_##S(const T* x, T* y, i64 outer, i64 c, int log) {                            \
        softmax_rows<T>(x, y, outer, c, log);                                                               \
    }                                                                                                       \
    KERNEL void __launch_bounds__(256) softmax_cols_##S(const T* x, T* y, i64 outer, i64 c, i64 inner,      \
                                                        int log) {                                          \
        softmax_cols<T>(x, y, outer, c, inner, log);                                                        \
    }                                                                                                       \
    KERNEL void __launch_bounds__(1024) softmax_bwd_rows_##S(const T* g, const T* y, T* gx, i64 outer, i64 c, int log) {           \
        softmax_bwd_rows<T>(g, y, gx, outer, c, log);                                                       \
    }                                                                                                       \
    KERNEL void __launch_bounds__(256) softmax_bwd_cols_##S(const T* g, const T* y, T* gx, i64 outer,       \
                                                            i64 c, i64 inner, int log) {                    \
        softmax_bwd_cols<T>(g, y, gx, outer, c, inner, log);                                                \
    }
SOFTMAX(f32, float)
SOFTMAX(f64, double)

// ----- cumulative sum ----------------------------------------------------------------------------
// A thread per (outer, inner) column scans its `n` elements in order (from the end when
// `reverse`), accumulating in A (double for floats, as the CPU).
template <typename T, typename A>
RG_DEV void cumsum_cols(const T* x, T* y, i64 outer, i64 n, i64 inner, int reverse) {
    GRID_LOOP(e, outer * inner) {
        i64 base = (e / inner) * n * inner + e % inner;
        A acc = (A)0;
        for (i64 k = 0; k < n; ++k) {
            i64 at = base + (reverse ? n - 1 - k : k) * inner;
            acc += (A)x[at];
            y[at] = (T)acc;
        }
    }
}

KERNEL void cumsum_f32(const float* x, float* y, i64 outer, i64 n, i64 inner, int reverse) {
    cumsum_cols<float, double>(x, y, outer, n, inner, reverse);
}
KERNEL void cumsum_f64(const double* x, double* y, i64 outer, i64 n, i64 inner, int reverse) {
    cumsum_cols<double, double>(x, y, outer, n, inner, reverse);
}
KERNEL void cumsum_i64(const i64* x, i64* y, i64 outer, i64 n, i64 inner, int reverse) {
    cumsum_cols<i64, u64>(x, y, outer, n, inner, reverse);
}
