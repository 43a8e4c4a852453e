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

// Entry points, for each element type and op: a block-per-row kernel (`red_rows_*`, each row split
// over several blocks when `partial` is given), the pass that combines split rows (`red_finish_*`)
// and a thread-per-output kernel (`red_cols_*`). Sums, means and products of bool are int64.

typedef SumOp<float, float, false> SumF32;
typedef SumOp<float, float, true> MeanF32;
typedef ProdOp<float, float> ProdF32;
typedef ExtremeOp<float, float, true, 0> MaxF32;
typedef ExtremeOp<float, float, false, 0> MinF32;
typedef ExtremeOp<float, i64, true, 1> ArgmaxF32;
typedef ExtremeOp<float, i64, false, 1> ArgminF32;
typedef LogicOp<float, true> AllF32;
typedef LogicOp<float, false> AnyF32;
KERNEL void red_rows_sum_f32(RedGeo g, const float* x, SumF32::OutT* out, SumF32::A* partial) {
    red_rows<float, SumF32>(g, x, out, partial);
}
KERNEL void red_finish_sum_f32(RedGeo g, int splits, const SumF32::A* partial, SumF32::OutT* out) {
    red_finish<float, SumF32>(g, splits, partial, out);
}
KERNEL void red_cols_sum_f32(RedGeo g, const float* x, SumF32::OutT* out) { red_cols<float, SumF32>(g, x, out); }
KERNEL void red_rows_mean_f32(RedGeo g, const float* x, MeanF32::OutT* out, MeanF32::A* partial) {
    red_rows<float, MeanF32>(g, x, out, partial);
}
KERNEL void red_finish_mean_f32(RedGeo g, int splits, const MeanF32::A* partial, MeanF32::OutT* out) {
    red_finish<float, MeanF32>(g, splits, partial, out);
}
KERNEL void red_cols_mean_f32(RedGeo g, const float* x, MeanF32::OutT* out) { red_cols<float, MeanF32>(g, x, out); }
KERNEL void red_rows_prod_f32(RedGeo g, const float* x, ProdF32::OutT* out, ProdF32::A* partial) {
    red_rows<float, ProdF32>(g, x, out, partial);
}
KERNEL void red_finish_prod_f32(RedGeo g, int splits, const ProdF32::A* partial, ProdF32::OutT* out) {
    red_finish<float, ProdF32>(g, splits, partial, out);
}
KERNEL void red_cols_prod_f32(RedGeo g, const float* x, ProdF32::OutT* out) { red_cols<float, ProdF32>(g, x, out); }
KERNEL void red_rows_max_f32(RedGeo g, const float* x, MaxF32::OutT* out, MaxF32::A* partial) {
    red_rows<float, MaxF32>(g, x, out, partial);
}
KERNEL void red_finish_max_f32(RedGeo g, int splits, const MaxF32::A* partial, MaxF32::OutT* out) {
    red_finish<float, MaxF32>(g, splits, partial, out);
}
KERNEL void red_cols_max_f32(RedGeo g, const float* x, MaxF32::OutT* out) { red_cols<float, MaxF32>(g, x, out); }
KERNEL void red_rows_min_f32(RedGeo g, const float* x, MinF32::OutT* out, MinF32::A* partial) {
    red_rows<float, MinF32>(g, x, out, partial);
}
KERNEL void red_finish_min_f32(RedGeo g, int splits, const MinF32::A* partial, MinF32::OutT* out) {
    red_finish<float, MinF32>(g, splits, partial, out);
}
KERNEL void red_cols_min_f32(RedGeo g, const float* x, MinF32::OutT* out) { red_cols<float, MinF32>(g, x, out); }
KERNEL void red_rows_argmax_f32(RedGeo g, const float* x, ArgmaxF32::OutT* out, ArgmaxF32::A* partial) {
    red_rows<float, ArgmaxF32>(g, x, out, partial);
}
KERNEL void red_finish_argmax_f32(RedGeo g, int splits, const ArgmaxF32::A* partial, ArgmaxF32::OutT* out) {
    red_finish<float, ArgmaxF32>(g, splits, partial, out);
}
KERNEL void red_cols_argmax_f32(RedGeo g, const float* x, ArgmaxF32::OutT* out) { red_cols<float, ArgmaxF32>(g, x, out); }
KERNEL void red_rows_argmin_f32(RedGeo g, const float* x, ArgminF32::OutT* out, ArgminF32::A* partial) {
    red_rows<float, ArgminF32>(g, x, out, partial);
}
KERNEL void red_finish_argmin_f32(RedGeo g, int splits, const ArgminF32::A* partial, ArgminF32::OutT* out) {
    red_finish<float, ArgminF32>(g, splits, partial, out);
}
KERNEL void red_cols_argmin_f32(RedGeo g, const float* x, ArgminF32::OutT* out) { red_cols<float, ArgminF32>(g, x, out); }
KERNEL void red_rows_all_f32(RedGeo g, const float* x, AllF32::OutT* out, AllF32::A* partial) {
    red_rows<float, AllF32>(g, x, out, partial);
}
KERNEL void red_finish_all_f32(RedGeo g, int splits, const AllF32::A* partial, AllF32::OutT* out) {
    red_finish<float, AllF32>(g, splits, partial, out);
}
KERNEL void red_cols_all_f32(RedGeo g, const float* x, AllF32::OutT* out) { red_cols<float, AllF32>(g, x, out); }
KERNEL void red_rows_any_f32(RedGeo g, const float* x, AnyF32::OutT* out, AnyF32::A* partial) {
    red_rows<float, AnyF32>(g, x, out, partial);
}
KERNEL void red_finish_any_f32(RedGeo g, int splits, const AnyF32::A* partial, AnyF32::OutT* out) {
    red_finish<float, AnyF32>(g, splits, partial, out);
}
KERNEL void red_cols_any_f32(RedGeo g, const float* x, AnyF32::OutT* out) { red_cols<float, AnyF32>(g, x, out); }

typedef SumOp<double, double, false> SumF64;
typedef SumOp<double, double, true> MeanF64;
typedef ProdOp<double, double> ProdF64;
typedef ExtremeOp<double, double, true, 0> MaxF64;
typedef ExtremeOp<double, double, false, 0> MinF64;
typedef ExtremeOp<double, i64, true, 1> ArgmaxF64;
typedef ExtremeOp<double, i64, false, 1> ArgminF64;
typedef LogicOp<double, true> AllF64;
typedef LogicOp<double, false> AnyF64;
KERNEL void red_rows_sum_f64(RedGeo g, const double* x, SumF64::OutT* out, SumF64::A* partial) {
    red_rows<double, SumF64>(g, x, out, partial);
}
KERNEL void red_finish_sum_f64(RedGeo g, int splits, const SumF64::A* partial, SumF64::OutT* out) {
    red_finish<double, SumF64>(g, splits, partial, out);
}
KERNEL void red_cols_sum_f64(RedGeo g, const double* x, SumF64::OutT* out) { red_cols<double, SumF64>(g, x, out); }
KERNEL void red_rows_mean_f64(RedGeo g, const double* x, MeanF64::OutT* out, MeanF64::A* partial) {
    red_rows<double, MeanF64>(g, x, out, partial);
}
KERNEL void red_finish_mean_f64(RedGeo g, int splits, const MeanF64::A* partial, MeanF64::OutT* out) {
    red_finish<double, MeanF64>(g, splits, partial, out);
}
KERNEL void red_cols_mean_f64(RedGeo g, const double* x, MeanF64::OutT* out) { red_cols<double, MeanF64>(g, x, out); }
KERNEL void red_rows_prod_f64(RedGeo g, const double* x, ProdF64::OutT* out, ProdF64::A* partial) {
    red_rows<double, ProdF64>(g, x, out, partial);
}
KERNEL void red_finish_prod_f64(RedGeo g, int splits, const ProdF64::A* partial, ProdF64::OutT* out) {
    red_finish<double, ProdF64>(g, splits, partial, out);
}
KERNEL void red_cols_prod_f64(RedGeo g, const double* x, ProdF64::OutT* out) { red_cols<double, ProdF64>(g, x, out); }
KERNEL void red_rows_max_f64(RedGeo g, const double* x, MaxF64::OutT* out, MaxF64::A* partial) {
    red_rows<double, MaxF64>(g, x, out, partial);
}
KERNEL void red_finish_max_f64(RedGeo g, int splits, const MaxF64::A* partial, MaxF64::OutT* out) {
    red_finish<double, MaxF64>(g, splits, partial, out);
}
KERNEL void red_cols_max_f64(RedGeo g, const double* x, MaxF64::OutT* out) { red_cols<double, MaxF64>(g, x, out); }
KERNEL void red_rows_min_f64(RedGeo g, const double* x, MinF64::OutT* out, MinF64::A* partial) {
    red_rows<double, MinF64>(g, x, out, partial);
}
KERNEL void red_finish_min_f64(RedGeo g, int splits, const MinF64::A* partial, MinF64::OutT* out) {
    red_finish<double, MinF64>(g, splits, partial, out);
}
KERNEL void red_cols_min_f64(RedGeo g, const double* x, MinF64::OutT* out) { red_cols<double, MinF64>(g, x, out); }
KERNEL void red_rows_argmax_f64(RedGeo g, const double* x, ArgmaxF64::OutT* out, ArgmaxF64::A* partial) {
    red_rows<double, ArgmaxF64>(g, x, out, partial);
}
KERNEL void red_finish_argmax_f64(RedGeo g, int splits, const ArgmaxF64::A* partial, ArgmaxF64::OutT* out) {
    red_finish<double, ArgmaxF64>(g, splits, partial, out);
}
KERNEL void red_cols_argmax_f64(RedGeo g, const double* x, ArgmaxF64::OutT* out) { red_cols<double, ArgmaxF64>(g, x, out); }
KERNEL void red_rows_argmin_f64(RedGeo g, const double* x, ArgminF64::OutT* out, ArgminF64::A* partial) {
    red_rows<double, ArgminF64>(g, x, out, partial);
}
KERNEL void red_finish_argmin_f64(RedGeo g, int splits, const ArgminF64::A* partial, ArgminF64::OutT* out) {
    red_finish<double, ArgminF64>(g, splits, partial, out);
}
KERNEL void red_cols_argmin_f64(RedGeo g, const double* x, ArgminF64::OutT* out) { red_cols<double, ArgminF64>(g, x, out); }
KERNEL void red_rows_all_f64(RedGeo g, const double* x, AllF64::OutT* out, AllF64::A* partial) {
    red_rows<double, AllF64>(g, x, out, partial);
}
KERNEL void red_finish_all_f64(RedGeo g, int splits, const AllF64::A* partial, AllF64::OutT* out) {
    red_finish<double, AllF64>(g, splits, partial, out);
}
KERNEL void red_cols_all_f64(RedGeo g, const double* x, AllF64::OutT* out) { red_cols<double, AllF64>(g, x, out); }
KERNEL void red_rows_any_f64(RedGeo g, const double* x, AnyF64::OutT* out, AnyF64::A* partial) {
    red_rows<double, AnyF64>(g, x, out, partial);
}
KERNEL void red_finish_any_f64(RedGeo g, int splits, const AnyF64::A* partial, AnyF64::OutT* out) {
    red_finish<double, AnyF64>(g, splits, partial, out);
}
KERNEL void red_cols_any_f64(RedGeo g, const double* x, AnyF64::OutT* out) { red_cols<double, AnyF64>(g, x, out); }

typedef SumOp<i64, i64, false> SumI64;
typedef SumOp<i64, i64, true> MeanI64;
typedef ProdOp<i64, i64> ProdI64;
typedef ExtremeOp<i64, i64, true, 0> MaxI64;
typedef ExtremeOp<i64, i64, false, 0> MinI64;
typedef ExtremeOp<i64, i64, true, 1> ArgmaxI64;
typedef ExtremeOp<i64, i64, false, 1> ArgminI64;
typedef LogicOp<i64, true> AllI64;
typedef LogicOp<i64, false> AnyI64;
KERNEL void red_rows_sum_i64(RedGeo g, const i64* x, SumI64::OutT* out, SumI64::A* partial) {
    red_rows<i64, SumI64>(g, x, out, partial);
}
KERNEL void red_finish_sum_i64(RedGeo g, int splits, const SumI64::A* partial, SumI64::OutT* out) {
    red_finish<i64, SumI64>(g, splits, partial, out);
}
KERNEL void red_cols_sum_i64(RedGeo g, const i64* x, SumI64::OutT* out) { red_cols<i64, SumI64>(g, x, out); }
KERNEL void red_rows_mean_i64(RedGeo g, const i64* x, MeanI64::OutT* out, MeanI64::A* partial) {
    red_rows<i64, MeanI64>(g, x, out, partial);
}
KERNEL void red_finish_mean_i64(RedGeo g, int splits, const MeanI64::A* partial, MeanI64::OutT* out) {
    red_finish<i64, MeanI64>(g, splits, partial, out);
}
KERNEL void red_cols_mean_i64(RedGeo g, const i64* x, MeanI64::OutT* out) { red_cols<i64, MeanI64>(g, x, out); }
KERNEL void red_rows_prod_i64(RedGeo g, const i64* x, ProdI64::OutT* out, ProdI64::A* partial) {
    red_rows<i64, ProdI64>(g, x, out, partial);
}
KERNEL void red_finish_prod_i64(RedGeo g, int splits, const ProdI64::A* partial, ProdI64::OutT* out) {
    red_finish<i64, ProdI64>(g, splits, partial, out);
}
KERNEL void red_cols_prod_i64(RedGeo g, const i64* x, ProdI64::OutT* out) { red_cols<i64, ProdI64>(g, x, out); }
KERNEL void red_rows_max_i64(RedGeo g, const i64* x, MaxI64::OutT* out, MaxI64::A* partial) {
    red_rows<i64, MaxI64>(g, x, out, partial);
}
KERNEL void red_finish_max_i64(RedGeo g, int splits, const MaxI64::A* partial, MaxI64::OutT* out) {
    red_finish<i64, MaxI64>(g, splits, partial, out);
}
KERNEL void red_cols_max_i64(RedGeo g, const i64* x, MaxI64::OutT* out) { red_cols<i64, MaxI64>(g, x, out); }
KERNEL void red_rows_min_i64(RedGeo g, const i64* x, MinI64::OutT* out, MinI64::A* partial) {
    red_rows<i64, MinI64>(g, x, out, partial);
}
KERNEL void red_finish_min_i64(RedGeo g, int splits, const MinI64::A* partial, MinI64::OutT* out) {
    red_finish<i64, MinI64>(g, splits, partial, out);
}
KERNEL void red_cols_min_i64(RedGeo g, const i64* x, MinI64::OutT* out) { red_cols<i64, MinI64>(g, x, out); }
KERNEL void red_rows_argmax_i64(RedGeo g, const i64* x, ArgmaxI64::OutT* out, ArgmaxI64::A* partial) {
    red_rows<i64, ArgmaxI64>(g, x, out, partial);
}
KERNEL void red_finish_argmax_i64(RedGeo g, int splits, const ArgmaxI64::A* partial, ArgmaxI64::OutT* out) {
    red_finish<i64, ArgmaxI64>(g, splits, partial, out);
}
KERNEL void red_cols_argmax_i64(RedGeo g, const i64* x, ArgmaxI64::OutT* out) { red_cols<i64, ArgmaxI64>(g, x, out); }
KERNEL void red_rows_argmin_i64(RedGeo g, const i64* x, ArgminI64::OutT* out, ArgminI64::A* partial) {
    red_rows<i64, ArgminI64>(g, x, out, partial);
}
KERNEL void red_finish_argmin_i64(RedGeo g, int splits, const ArgminI64::A* partial, ArgminI64::OutT* out) {
    red_finish<i64, ArgminI64>(g, splits, partial, out);
}
KERNEL void red_cols_argmin_i64(RedGeo g, const i64* x, ArgminI64::OutT* out) { red_cols<i64, ArgminI64>(g, x, out); }
KERNEL void red_rows_all_i64(RedGeo g, const i64* x, AllI64::OutT* out, AllI64::A* partial) {
    red_rows<i64, AllI64>(g, x, out, partial);
}
KERNEL void red_finish_all_i64(RedGeo g, int splits, const AllI64::A* partial, AllI64::OutT* out) {
    red_finish<i64, AllI64>(g, splits, partial, out);
}
KERNEL void red_cols_all_i64(RedGeo g, const i64* x, AllI64::OutT* out) { red_cols<i64, AllI64>(g, x, out); }
KERNEL void red_rows_any_i64(RedGeo g, const i64* x, AnyI64::OutT* out, AnyI64::A* partial) {
    red_rows<i64, AnyI64>(g, x, out, partial);
}
KERNEL void red_finish_any_i64(RedGeo g, int splits, const AnyI64::A* partial, AnyI64::OutT* out) {
    red_finish<i64, AnyI64>(g, splits, partial, out);
}
KERNEL void red_cols_any_i64(RedGeo g, const i64* x, AnyI64::OutT* out) { red_cols<i64, AnyI64>(g, x, out); }

typedef SumOp<u8, i64, false> SumU8;
typedef SumOp<u8, i64, true> MeanU8;
typedef ProdOp<u8, i64> ProdU8;
typedef ExtremeOp<u8, u8, true, 0> MaxU8;
typedef ExtremeOp<u8, u8, false, 0> MinU8;
typedef ExtremeOp<u8, i64, true, 1> ArgmaxU8;
typedef ExtremeOp<u8, i64, false, 1> ArgminU8;
typedef LogicOp<u8, true> AllU8;
typedef LogicOp<u8, false> AnyU8;
KERNEL void red_rows_sum_u8(RedGeo g, const u8* x, SumU8::OutT* out, SumU8::A* partial) {
    red_rows<u8, SumU8>(g, x, out, partial);
}
KERNEL void red_finish_sum_u8(RedGeo g, int splits, const SumU8::A* partial, SumU8::OutT* out) {
    red_finish<u8, SumU8>(g, splits, partial, out);
}
KERNEL void red_cols_sum_u8(RedGeo g, const u8* x, SumU8::OutT* out) { red_cols<u8, SumU8>(g, x, out); }
KERNEL void red_rows_mean_u8(RedGeo g, const u8* x, MeanU8::OutT* out, MeanU8::A* partial) {
    red_rows<u8, MeanU8>(g, x, out, partial);
}
KERNEL void red_finish_mean_u8(RedGeo g, int splits, const MeanU8::A* partial, MeanU8::OutT* out) {
    red_finish<u8, MeanU8>(g, splits, partial, out);
}
KERNEL void red_cols_mean_u8(RedGeo g, const u8* x, MeanU8::OutT* out) { red_cols<u8, MeanU8>(g, x, out); }
KERNEL void red_rows_prod_u8(RedGeo g, const u8* x, ProdU8::OutT* out, ProdU8::A* partial) {
    red_rows<u8, ProdU8>(g, x, out, partial);
}
KERNEL void red_finish_prod_u8(RedGeo g, int splits, const ProdU8::A* partial, ProdU8::OutT* out) {
    red_finish<u8, ProdU8>(g, splits, partial, out);
}
KERNEL void red_cols_prod_u8(RedGeo g, const u8* x, ProdU8::OutT* out) { red_cols<u8, ProdU8>(g, x, out); }
KERNEL void red_rows_max_u8(RedGeo g, const u8* x, MaxU8::OutT* out, MaxU8::A* partial) {
    red_rows<u8, MaxU8>(g, x, out, partial);
}
KERNEL void red_finish_max_u8(RedGeo g, int splits, const MaxU8::A* partial, MaxU8::OutT* out) {
    red_finish<u8, MaxU8>(g, splits, partial, out);
}
KERNEL void red_cols_max_u8(RedGeo g, const u8* x, MaxU8::OutT* out) { red_cols<u8, MaxU8>(g, x, out); }
KERNEL void red_rows_min_u8(RedGeo g, const u8* x, MinU8::OutT* out, MinU8::A* partial) {
    red_rows<u8, MinU8>(g, x, out, partial);
}
KERNEL void red_finish_min_u8(RedGeo g, int splits, const MinU8::A* partial, MinU8::OutT* out) {
    red_finish<u8, MinU8>(g, splits, partial, out);
}
KERNEL void red_cols_min_u8(RedGeo g, const u8* x, MinU8::OutT* out) { red_cols<u8, MinU8>(g, x, out); }
KERNEL void red_rows_argmax_u8(RedGeo g, const u8* x, ArgmaxU8::OutT* out, ArgmaxU8::A* partial) {
    red_rows<u8, ArgmaxU8>(g, x, out, partial);
}
KERNEL void red_finish_argmax_u8(RedGeo g, int splits, const ArgmaxU8::A* partial, ArgmaxU8::OutT* out) {
    red_finish<u8, ArgmaxU8>(g, splits, partial, out);
}
KERNEL void red_cols_argmax_u8(RedGeo g, const u8* x, ArgmaxU8::OutT* out) { red_cols<u8, ArgmaxU8>(g, x, out); }
KERNEL void red_rows_argmin_u8(RedGeo g, const u8* x, ArgminU8::OutT* out, ArgminU8::A* partial) {
    red_rows<u8, ArgminU8>(g, x, out, partial);
}
KERNEL void red_finish_argmin_u8(RedGeo g, int splits, const ArgminU8::A* partial, ArgminU8::OutT* out) {
    red_finish<u8, ArgminU8>(g, splits, partial, out);
}
KERNEL void red_cols_argmin_u8(RedGeo g, const u8* x, ArgminU8::OutT* out) { red_cols<u8, ArgminU8>(g, x, out); }
KERNEL void red_rows_all_u8(RedGeo g, const u8* x, AllU8::OutT* out, AllU8::A* partial) {
    red_rows<u8, AllU8>(g, x, out, partial);
}
KERNEL void red_finish_all_u8(RedGeo g, int splits, const AllU8::A* partial, AllU8::OutT* out) {
    red_finish<u8, AllU8>(g, splits, partial, out);
}
KERNEL void red_cols_all_u8(RedGeo g, const u8* x, AllU8::OutT* out) { red_cols<u8, AllU8>(g, x, out); }
KERNEL void red_rows_any_u8(RedGeo g, const u8* x, AnyU8::OutT* out, AnyU8::A* partial) {
    red_rows<u8, AnyU8>(g, x, out, partial);
}
KERNEL void red_finish_any_u8(RedGeo g, int splits, const AnyU8::A* partial, AnyU8::OutT* out) {
    red_finish<u8, AnyU8>(g, splits, partial, out);
}
KERNEL void red_cols_any_u8(RedGeo g, const u8* x, AnyU8::OutT* out) { red_cols<u8, AnyU8>(g, x, out); }

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

KERNEL void extreme_rows_max_f32(RedGeo g, const float* x, float* v, i64* i) { extreme_rows<float, true>(g, x, v, i); }
KERNEL void extreme_rows_min_f32(RedGeo g, const float* x, float* v, i64* i) { extreme_rows<float, false>(g, x, v, i); }
KERNEL void extreme_cols_max_f32(RedGeo g, const float* x, float* v, i64* i) { extreme_cols<float, true>(g, x, v, i); }
KERNEL void extreme_cols_min_f32(RedGeo g, const float* x, float* v, i64* i) { extreme_cols<float, false>(g, x, v, i); }
KERNEL void extreme_rows_max_f64(RedGeo g, const double* x, double* v, i64* i) {
    extreme_rows<double, true>(g, x, v, i);
}
KERNEL void extreme_rows_min_f64(RedGeo g, const double* x, double* v, i64* i) {
    extreme_rows<double, false>(g, x, v, i);
}
KERNEL void extreme_cols_max_f64(RedGeo g, const double* x, double* v, i64* i) {
    extreme_cols<double, true>(g, x, v, i);
}
KERNEL void extreme_cols_min_f64(RedGeo g, const double* x, double* v, i64* i) {
    extreme_cols<double, false>(g, x, v, i);
}
KERNEL void extreme_rows_max_i64(RedGeo g, const i64* x, i64* v, i64* i) { extreme_rows<i64, true>(g, x, v, i); }
KERNEL void extreme_rows_min_i64(RedGeo g, const i64* x, i64* v, i64* i) { extreme_rows<i64, false>(g, x, v, i); }
KERNEL void extreme_cols_max_i64(RedGeo g, const i64* x, i64* v, i64* i) { extreme_cols<i64, true>(g, x, v, i); }
KERNEL void extreme_cols_min_i64(RedGeo g, const i64* x, i64* v, i64* i) { extreme_cols<i64, false>(g, x, v, i); }
KERNEL void extreme_rows_max_u8(RedGeo g, const u8* x, u8* v, i64* i) { extreme_rows<u8, true>(g, x, v, i); }
KERNEL void extreme_rows_min_u8(RedGeo g, const u8* x, u8* v, i64* i) { extreme_rows<u8, false>(g, x, v, i); }
KERNEL void extreme_cols_max_u8(RedGeo g, const u8* x, u8* v, i64* i) { extreme_cols<u8, true>(g, x, v, i); }
KERNEL void extreme_cols_min_u8(RedGeo g, const u8* x, u8* v, i64* i) { extreme_cols<u8, false>(g, x, v, i); }

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
KERNEL void __launch_bounds__(1024) softmax_rows_f32(const float* x, float* y, i64 outer, i64 c, int log) {
    softmax_rows<float>(x, y, outer, c, log);
}
KERNEL void __launch_bounds__(256) softmax_cols_f32(const float* x, float* y, i64 outer, i64 c, i64 inner, int log) {
    softmax_cols<float>(x, y, outer, c, inner, log);
}
KERNEL void __launch_bounds__(1024) softmax_bwd_rows_f32(const float* g, const float* y, float* gx, i64 outer, i64 c,
                                                         int log) {
    softmax_bwd_rows<float>(g, y, gx, outer, c, log);
}
KERNEL void __launch_bounds__(256) softmax_bwd_cols_f32(const float* g, const float* y, float* gx, i64 outer, i64 c,
                                                        i64 inner, int log) {
    softmax_bwd_cols<float>(g, y, gx, outer, c, inner, log);
}
KERNEL void __launch_bounds__(1024) softmax_rows_f64(const double* x, double* y, i64 outer, i64 c, int log) {
    softmax_rows<double>(x, y, outer, c, log);
}
KERNEL void __launch_bounds__(256) softmax_cols_f64(const double* x, double* y, i64 outer, i64 c, i64 inner, int log) {
    softmax_cols<double>(x, y, outer, c, inner, log);
}
KERNEL void __launch_bounds__(1024) softmax_bwd_rows_f64(const double* g, const double* y, double* gx, i64 outer,
                                                         i64 c, int log) {
    softmax_bwd_rows<double>(g, y, gx, outer, c, log);
}
KERNEL void __launch_bounds__(256) softmax_bwd_cols_f64(const double* g, const double* y, double* gx, i64 outer,
                                                        i64 c, i64 inner, int log) {
    softmax_bwd_cols<double>(g, y, gx, outer, c, inner, log);
}

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
