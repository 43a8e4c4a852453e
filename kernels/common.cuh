// Shared by every kernel file: scalar types, the kernel declaration macro, strided indexing,
// per-type math overloads, warp/block reductions, Philox and deferred error reports.
//
// The host compiles each kernel file as the op-code declarations it generates from its table
// (src/backend/cuda/op_codes.rs: UnaryCode, BinaryCode, PointKind, RgStatusCode), `common.cuh`,
// then the file (NVRTC, no includes).
// The same sources also build natively against emu/emu.h (RG_EMU) for the CPU emulator that the
// test suite uses where no GPU exists, so kernels use only what both understand: no CUDA headers,
// inline PTX only behind `#ifndef RG_EMU` with an emulated twin.

#ifndef RG_COMMON_CUH
#define RG_COMMON_CUH

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned char u8;

#ifdef RG_EMU
#define KERNEL static
#else
#define KERNEL extern "C" __global__
#endif

#define RG_MAX_DIMS 8
#define RG_DEV __device__ __forceinline__

// ----- deferred errors -----------------------------------------------------------------------
// Kernels never trap: a bad index or target is skipped and reported here. The host reads this
// word (in mapped host memory) at the next synchronising call and raises the Python error. The
// codes (`RG_ERR_*`) are declared from src/backend/cuda/op_codes.rs.

struct RgStatus {
    int code;
    int pad;
    i64 a, b, c;
};

RG_DEV void rg_report(RgStatus* st, int code, i64 a, i64 b, i64 c) {
    if (atomicCAS(&st->code, 0, -1) == 0) {
        st->a = a;
        st->b = b;
        st->c = c;
        __threadfence_system();
        atomicExch(&st->code, code);
    }
}

// ----- strided geometry ----------------------------------------------------------------------
// Up to four operands over one (coalesced) shape; operand k's element at multi-index i lives at
// off[k] + sum_d i_d * st[k][d]. Matches `Geo` in src/backend/cuda/launch.rs.

struct Geo {
    int ndim;
    int pad;
    i64 n;
    i64 shape[RG_MAX_DIMS];
    i64 st[4][RG_MAX_DIMS];
    i64 off[4];
};

// Offset of element `i` (row-major over the shape) for operand `k`.
template <typename I>
RG_DEV I geo_offset(const Geo& g, int k, I i) {
    if (g.ndim <= 1) return (I)g.off[k] + (g.ndim == 1 ? i * (I)g.st[k][0] : (I)0);
    I off = (I)g.off[k];
    for (int d = g.ndim - 1; d >= 0; --d) {
        I s = (I)g.shape[d];
        I q = i / s;
        off += (i - q * s) * (I)g.st[k][d];
        i = q;
    }
    return off;
}

// Offsets of element `i` for the first `K` operands at once (one index decomposition).
template <typename I, int K>
RG_DEV void geo_offsets(const Geo& g, I i, I* out) {
    if (g.ndim <= 1) {
#pragma unroll
        for (int k = 0; k < K; ++k) out[k] = (I)g.off[k] + (g.ndim == 1 ? i * (I)g.st[k][0] : (I)0);
        return;
    }
#pragma unroll
    for (int k = 0; k < K; ++k) out[k] = (I)g.off[k];
    for (int d = g.ndim - 1; d >= 0; --d) {
        I s = (I)g.shape[d];
        I q = i / s;
        I r = i - q * s;
#pragma unroll
        for (int k = 0; k < K; ++k) out[k] += r * (I)g.st[k][d];
        i = q;
    }
}

// ----- math overloads (float and double) -------------------------------------------------------

RG_DEV float rg_exp(float x) { return expf(x); }
RG_DEV double rg_exp(double x) { return exp(x); }
RG_DEV float rg_log(float x) { return logf(x); }
RG_DEV double rg_log(double x) { return log(x); }
RG_DEV float rg_sqrt(float x) { return sqrtf(x); }
RG_DEV double rg_sqrt(double x) { return sqrt(x); }
RG_DEV float rg_sin(float x) { return sinf(x); }
RG_DEV double rg_sin(double x) { return sin(x); }
RG_DEV float rg_cos(float x) { return cosf(x); }
RG_DEV double rg_cos(double x) { return cos(x); }
RG_DEV float rg_tanh(float x) { return tanhf(x); }
RG_DEV double rg_tanh(double x) { return tanh(x); }
// Trigonometric, hyperbolic, base-2 and base-10 functions (tmethods).
RG_DEV float rg_tan(float x) { return tanf(x); }
RG_DEV double rg_tan(double x) { return tan(x); }
RG_DEV float rg_asin(float x) { return asinf(x); }
RG_DEV double rg_asin(double x) { return asin(x); }
RG_DEV float rg_acos(float x) { return acosf(x); }
RG_DEV double rg_acos(double x) { return acos(x); }
RG_DEV float rg_atan(float x) { return atanf(x); }
RG_DEV double rg_atan(double x) { return atan(x); }
RG_DEV float rg_sinh(float x) { return sinhf(x); }
RG_DEV double rg_sinh(double x) { return sinh(x); }
RG_DEV float rg_cosh(float x) { return coshf(x); }
RG_DEV double rg_cosh(double x) { return cosh(x); }
RG_DEV float rg_asinh(float x) { return asinhf(x); }
RG_DEV double rg_asinh(double x) { return asinh(x); }
RG_DEV float rg_acosh(float x) { return acoshf(x); }
RG_DEV double rg_acosh(double x) { return acosh(x); }
RG_DEV float rg_atanh(float x) { return atanhf(x); }
RG_DEV double rg_atanh(double x) { return atanh(x); }
RG_DEV float rg_exp2(float x) { return exp2f(x); }
RG_DEV double rg_exp2(double x) { return exp2(x); }
RG_DEV float rg_log2(float x) { return log2f(x); }
RG_DEV double rg_log2(double x) { return log2(x); }
RG_DEV float rg_log10(float x) { return log10f(x); }
RG_DEV double rg_log10(double x) { return log10(x); }
RG_DEV float rg_log1p(float x) { return log1pf(x); }
RG_DEV double rg_log1p(double x) { return log1p(x); }
RG_DEV float rg_expm1(float x) { return expm1f(x); }
RG_DEV double rg_expm1(double x) { return expm1(x); }
RG_DEV float rg_floor(float x) { return floorf(x); }
RG_DEV double rg_floor(double x) { return floor(x); }
RG_DEV float rg_ceil(float x) { return ceilf(x); }
RG_DEV double rg_ceil(double x) { return ceil(x); }
RG_DEV float rg_rint(float x) { return rintf(x); }
RG_DEV double rg_rint(double x) { return rint(x); }
RG_DEV float rg_trunc(float x) { return truncf(x); }
RG_DEV double rg_trunc(double x) { return trunc(x); }
RG_DEV float rg_erf(float x) { return erff(x); }
RG_DEV double rg_erf(double x) { return erf(x); }
RG_DEV float rg_pow(float x, float y) { return powf(x, y); }
RG_DEV double rg_pow(double x, double y) { return pow(x, y); }
RG_DEV float rg_fabs(float x) { return fabsf(x); }
RG_DEV double rg_fabs(double x) { return fabs(x); }
RG_DEV float rg_fmod(float x, float y) { return fmodf(x, y); }
RG_DEV double rg_fmod(double x, double y) { return fmod(x, y); }

template <typename T> RG_DEV bool rg_isnan(T x) { return x != x; }

template <typename T> struct Limits;
template <> struct Limits<float> {
    RG_DEV static float inf() { return __int_as_float(0x7f800000); }
    RG_DEV static float lowest() { return -inf(); }
    RG_DEV static float highest() { return inf(); }
};
template <> struct Limits<double> {
    RG_DEV static double inf() { return __longlong_as_double(0x7ff0000000000000LL); }
    RG_DEV static double lowest() { return -inf(); }
    RG_DEV static double highest() { return inf(); }
};
template <> struct Limits<i64> {
    RG_DEV static i64 lowest() { return (i64)0x8000000000000000ULL; }
    RG_DEV static i64 highest() { return 0x7fffffffffffffffLL; }
};
template <> struct Limits<u8> {
    RG_DEV static u8 lowest() { return 0; }
    RG_DEV static u8 highest() { return 1; }
};

// Stable logistic function.
template <typename T> RG_DEV T rg_sigmoid(T x) {
    if (x >= (T)0) return (T)1 / ((T)1 + rg_exp(-x));
    T e = rg_exp(x);
    return e / ((T)1 + e);
}

// ----- reductions ------------------------------------------------------------------------------

template <typename T> RG_DEV T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename T> RG_DEV T warp_max(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        T u = __shfl_xor_sync(0xffffffffu, v, o);
        v = (u > v || rg_isnan(u)) ? u : v;
    }
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` holds 32 values; the call synchronises, so it may be reused right after.
template <typename T> RG_DEV T block_sum(T v, T* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T r = lane < nwarps ? scratch[lane] : (T)0;
    r = warp_sum(r);
    return r;
}

template <typename T> RG_DEV T block_max(T v, T* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T r = lane < nwarps ? scratch[lane] : Limits<T>::lowest();
    r = warp_max(r);
    return r;
}

// ----- Philox4x32-10 (same function and counter arithmetic as src/tensor/random.rs) -----------

struct U4 {
    u32 x, y, z, w;
};

RG_DEV U4 philox4x32(u64 key, u64 counter) {
    u32 k0 = (u32)key, k1 = (u32)(key >> 32);
    u32 c0 = (u32)counter, c1 = (u32)(counter >> 32), c2 = 0, c3 = 0;
#pragma unroll
    for (int i = 0; i < 10; ++i) {
        u64 p0 = (u64)0xD2511F53u * (u64)c0;
        u64 p1 = (u64)0xCD9E8D57u * (u64)c2;
        u32 n0 = (u32)(p1 >> 32) ^ c1 ^ k0;
        u32 n1 = (u32)p1;
        u32 n2 = (u32)(p0 >> 32) ^ c3 ^ k1;
        u32 n3 = (u32)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    U4 r = {c0, c1, c2, c3};
    return r;
}

RG_DEV u32 u4_get(const U4& v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

// Uniform float in [0, 1) from 24 bits; uniform double from 53 bits (as random.rs).
RG_DEV float uniform_f32(u32 bits) { return (float)(bits >> 8) * (1.0f / 16777216.0f); }
RG_DEV double uniform_f64(u32 hi, u32 lo) {
    u64 bits = (((u64)hi << 32) | (u64)lo) >> 11;
    return (double)bits * (1.0 / 9007199254740992.0);
}

// ----- grid helpers -----------------------------------------------------------------------------

// A grid-stride loop over `n` items with 64-bit counters.
#define GRID_LOOP(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (i64)(n); i += (i64)gridDim.x * blockDim.x)

#endif  // RG_COMMON_CUH
