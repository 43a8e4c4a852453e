// A CPU emulator of the CUDA execution model, for testing our kernels where no GPU exists.
//
// Each CUDA thread is a fiber; the threads of a block run on one OS thread and switch only at
// __syncthreads, warp collectives (__shfl_*_sync, __syncwarp, __ballot_sync) and exit, so block
// barriers, shared memory and warp shuffles behave as on the GPU. `__shared__` variables become
// function statics (blocks run one after another). Launches are synchronous. Built only with the
// `cuda-emu` cargo feature (tests); see emu.cpp for the scheduler.
#ifndef RG_EMU_H
#define RG_EMU_H

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#define RG_EMU 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
};
struct float2 {
    float x, y;
};
struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
struct __attribute__((aligned(16))) double2 {
    double x, y;
};
struct __attribute__((aligned(16))) int4 {
    int x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline double2 make_double2(double x, double y) { return double2{x, y}; }

namespace rg_emu {
struct Fiber;
extern Fiber* g_cur;
extern uint3 g_block_idx;
extern dim3 g_block_dim;
extern dim3 g_grid_dim;
extern unsigned char* g_dyn_smem;
const uint3& thread_idx();
void syncthreads();
// Warp collective: deposits `v` for this lane, waits for the lanes of `mask`, returns the slots.
const unsigned long long* warp_exchange(unsigned mask, unsigned long long v);
void trap(const char* what);
}  // namespace rg_emu

#define threadIdx (::rg_emu::thread_idx())
#define blockIdx (::rg_emu::g_block_idx)
#define blockDim (::rg_emu::g_block_dim)
#define gridDim (::rg_emu::g_grid_dim)
#define warpSize 32

inline void __syncthreads() { rg_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { rg_emu::warp_exchange(mask, 0); }
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
inline void __trap() { rg_emu::trap("__trap()"); }

namespace rg_emu {
template <typename T> inline unsigned long long to_bits(T v) {
    static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
    unsigned long long b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <typename T> inline T from_bits(unsigned long long b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}
inline unsigned lane_id() { return thread_idx().x % 32u; }
}  // namespace rg_emu

// Lanes are numbered by the linear thread index within the block (x fastest), as on the GPU.
namespace rg_emu {
unsigned linear_lane();
}

template <typename T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    const unsigned long long* s = rg_emu::warp_exchange(mask, rg_emu::to_bits(v));
    unsigned lane = rg_emu::linear_lane();
    unsigned base = lane - lane % (unsigned)width;
    return rg_emu::from_bits<T>(s[base + ((unsigned)src % (unsigned)width)]);
}
template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    const unsigned long long* s = rg_emu::warp_exchange(mask, rg_emu::to_bits(v));
    unsigned lane = rg_emu::linear_lane();
    unsigned base = lane - lane % (unsigned)width;
    unsigned src = (lane % (unsigned)width) ^ (unsigned)lane_mask;
    if (src >= (unsigned)width) return v;
    return rg_emu::from_bits<T>(s[base + src]);
}
template <typename T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const unsigned long long* s = rg_emu::warp_exchange(mask, rg_emu::to_bits(v));
    unsigned lane = rg_emu::linear_lane();
    unsigned in_seg = lane % (unsigned)width;
    if (in_seg + delta >= (unsigned)width) return v;
    return rg_emu::from_bits<T>(s[lane + delta]);
}
template <typename T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    const unsigned long long* s = rg_emu::warp_exchange(mask, rg_emu::to_bits(v));
    unsigned lane = rg_emu::linear_lane();
    unsigned in_seg = lane % (unsigned)width;
    if (in_seg < delta) return v;
    return rg_emu::from_bits<T>(s[lane - delta]);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    const unsigned long long* s = rg_emu::warp_exchange(mask, pred ? 1 : 0);
    unsigned r = 0;
    for (unsigned l = 0; l < 32; ++l)
        if ((mask >> l) & 1u) r |= (s[l] ? 1u : 0u) << l;
    return r;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// Atomics: threads of the emulator never run concurrently, so plain read-modify-writes are atomic.
inline int atomicCAS(int* p, int cmp, int v) {
    int old = *p;
    if (old == cmp) *p = v;
    return old;
}
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp, unsigned long long v) {
    unsigned long long old = *p;
    if (old == cmp) *p = v;
    return old;
}
inline int atomicExch(int* p, int v) {
    int old = *p;
    *p = v;
    return old;
}
inline float atomicAdd(float* p, float v) {
    float old = *p;
    *p = old + v;
    return old;
}
inline double atomicAdd(double* p, double v) {
    double old = *p;
    *p = old + v;
    return old;
}
inline int atomicAdd(int* p, int v) {
    int old = *p;
    *p = old + v;
    return old;
}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
    unsigned old = *p;
    *p = old + v;
    return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    unsigned long long old = *p;
    *p = old + v;
    return old;
}
inline unsigned atomicOr(unsigned* p, unsigned v) {
    unsigned old = *p;
    *p = old | v;
    return old;
}
inline int atomicMax(int* p, int v) {
    int old = *p;
    if (v > old) *p = v;
    return old;
}

// Bit casts and integer intrinsics.
inline float __int_as_float(int v) { return rg_emu::from_bits<float>((unsigned)v); }
inline int __float_as_int(float v) { return (int)(unsigned)rg_emu::to_bits(v); }
inline float __uint_as_float(unsigned v) { return rg_emu::from_bits<float>(v); }
inline unsigned __float_as_uint(float v) { return (unsigned)rg_emu::to_bits(v); }
inline double __longlong_as_double(long long v) { return rg_emu::from_bits<double>((unsigned long long)v); }
inline long long __double_as_longlong(double v) { return (long long)rg_emu::to_bits(v); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz((unsigned)v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
template <typename T> inline T __ldg(const T* p) { return *p; }

// Math: the host library stands in for CUDA's (results agree within a few ulps).
using std::ceil;
using std::cos;
using std::erf;
using std::erfc;
using std::exp;
using std::expm1;
using std::fabs;
using std::floor;
using std::fmod;
using std::log;
using std::lgamma;
using std::log1p;
using std::signbit;
using std::tan;
using std::pow;
using std::rint;
using std::sin;
using std::sqrt;
using std::tanh;
using std::trunc;
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// The registry entry of one kernel: its name and a launcher that unpacks `void** params` into
// the kernel's own parameter types (as cuLaunchKernel's kernelParams).
namespace rg_emu {
typedef void (*Runner)(void** params);
struct Entry {
    const char* name;
    Runner run;
    unsigned arity;
    const unsigned* sizes;  // sizeof each parameter, checked against what the host passes
    unsigned max_threads;   // per block: the kernel's __launch_bounds__, else 1024
};
void add_entries(const Entry* e, int n);

template <typename F, F f> struct Launcher;
template <typename... A, void (*f)(A...)> struct Launcher<void (*)(A...), f> {
    template <std::size_t... I> static void call(void** p, std::index_sequence<I...>) {
        f(*static_cast<typename std::remove_cv<typename std::remove_reference<A>::type>::type*>(p[I])...);
    }
    static void run(void** p) { call(p, std::index_sequence_for<A...>{}); }
    static constexpr unsigned arity = sizeof...(A);
    static constexpr unsigned sizes[sizeof...(A) + 1] = {
        (unsigned)sizeof(typename std::remove_cv<typename std::remove_reference<A>::type>::type)..., 0u};
};
}  // namespace rg_emu

#define RG_EMU_ENTRY(name, max_threads)                                                          \
    {#name, &::rg_emu::Launcher<decltype(&name), &name>::run, ::rg_emu::Launcher<decltype(&name), &name>::arity, \
     ::rg_emu::Launcher<decltype(&name), &name>::sizes, max_threads}

#endif  // RG_EMU_H
