// Elementwise kernels: unary maps, broadcast binary maps, where, dtype conversion (strided
// copies), fills. Operands are strided views described by a Geo (common.cuh); outputs of maps are
// contiguous. The op codes (`U_*`: UnaryCode, `B_*`: BinaryCode) are declared by the host from its
// table in src/backend/cuda/op_codes.rs, so the host and the kernels read them by name; each kernel
// has a 32-bit-index form and a `_w` (64-bit) form for tensors whose offsets exceed 2^31.
//
// Semantics follow the CPU kernels (src/backend/cpu/elementwise.rs): NaN propagation, integer
// wrap-around, PyTorch's floor division and remainder signs, conversions that saturate.

// ----- conversions (as the CPU's `convert`) ---------------------------------------------------

RG_DEV i64 f2i(double v) {
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18) return 0x7fffffffffffffffLL;
    if (v <= -9.2233720368547758e18) return (i64)0x8000000000000000ULL;
    return (i64)v;
}

template <typename S, typename D> struct Conv {
    RG_DEV static D run(S v) { return (D)(double)v; }
};
template <typename S> struct Conv<S, i64> {
    RG_DEV static i64 run(S v) { return f2i((double)v); }
};
template <typename S> struct Conv<S, u8> {
    RG_DEV static u8 run(S v) { return v != (S)0 ? 1 : 0; }
};
template <> struct Conv<i64, i64> {
    RG_DEV static i64 run(i64 v) { return v; }
};
template <> struct Conv<u8, i64> {
    RG_DEV static i64 run(u8 v) { return v != 0 ? 1 : 0; }
};
template <> struct Conv<i64, u8> {
    RG_DEV static u8 run(i64 v) { return v != 0 ? 1 : 0; }
};
template <> struct Conv<u8, u8> {
    RG_DEV static u8 run(u8 v) { return v != 0 ? 1 : 0; }
};
template <> struct Conv<u8, float> {
    RG_DEV static float run(u8 v) { return v != 0 ? 1.0f : 0.0f; }
};
template <> struct Conv<u8, double> {
    RG_DEV static double run(u8 v) { return v != 0 ? 1.0 : 0.0; }
};

// ----- unary ---------------------------------------------------------------------------------

// Parameters of a unary op: floats in p0/p1, integer clamp bounds in i0/i1, flags bit 0 = has
// min, bit 1 = has max.
struct UParams {
    double p0, p1;
    i64 i0, i1;
    int flags;
    int pad;
};

template <typename T> RG_DEV T gelu_tanh(T x) {
    const T k = (T)0.7978845608028654;  // sqrt(2 / pi)
    return (T)0.5 * x * ((T)1 + rg_tanh(k * (x + (T)0.044715 * x * x * x)));
}

// ----- special functions (as src/backend/cpu/special.rs, in double) ---------------------------

RG_DEV double rg_digamma(double x) {
    const double pi = 3.141592653589793;
    if (x == 0.0) return signbit(x) ? 1.0 / 0.0 : -1.0 / 0.0;
    double shift = 0.0;
    if (x < 0.0) {
        if (x == floor(x)) return 0.0 / 0.0;
        shift = -pi / tan(pi * x);  // reflection: psi(x) = psi(1 - x) - pi cot(pi x)
        x = 1.0 - x;
    }
    if (x != x || x == 1.0 / 0.0) return x;
    while (x < 10.0) {
        shift -= 1.0 / x;
        x += 1.0;
    }
    double r = 1.0 / (x * x);
    double series = r * (1.0 / 12.0 - r * (1.0 / 120.0 - r * (1.0 / 252.0 - r * (1.0 / 240.0
                    - r * (1.0 / 132.0 - r * (691.0 / 32760.0 - r / 12.0))))));
    return shift + log(x) - 0.5 / x - series;
}

RG_DEV double rg_zeta(double s, double q) {
    const double den[12] = {12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1892437580.3183792,
                            74724249600.0, -2950130727918.164, 116467828143500.67,
                            -4597978722407473.0, 1.8152105401943546e17, -7.166165256175667e18};
    const double eps = 2.220446049250313e-16;
    if (s == 1.0) return 1.0 / 0.0;
    if (s < 1.0 || s != s || q != q) return 0.0 / 0.0;
    if (q <= 0.0) {
        if (q == floor(q)) return 1.0 / 0.0;
        if (s != floor(s)) return 0.0 / 0.0;
    }
    double sum = pow(q, -s), a = q, term = 0.0;
    int i = 0;
    while (i < 9 || a <= 9.0) {
        i += 1;
        a += 1.0;
        term = pow(a, -s);
        sum += term;
        if (fabs(term / sum) < eps) return sum;
    }
    double w = a;
    sum += term * w / (s - 1.0) - 0.5 * term;
    double rising = 1.0, k = 0.0;
    for (int j = 0; j < 12; j++) {
        rising *= s + k;
        term /= w;
        double t = rising * term / den[j];
        sum += t;
        if (fabs(t / sum) < eps) break;
        k += 1.0;
        rising *= s + k;
        term /= w;
        k += 1.0;
    }
    return sum;
}

RG_DEV double rg_polygamma(int n, double x) {
    const double pi = 3.141592653589793;
    if (n == 0) return rg_digamma(x);
    double reflected = 0.0, sign = 1.0;
    if (n == 1 && x < 0.5) {
        double s = sin(pi * x);  // psi1(x) = pi^2 / sin^2(pi x) - psi1(1 - x)
        reflected = pi * pi / (s * s);
        sign = -1.0;
        x = 1.0 - x;
    }
    double factorial = 1.0;
    for (int k = 2; k <= n; k++) factorial *= (double)k;
    double odd = (n % 2 == 1) ? 1.0 : -1.0;
    return reflected + sign * odd * factorial * rg_zeta((double)n + 1.0, x);
}

RG_DEV double rg_erfinv(double y) {
    if (y != y || y < -1.0 || y > 1.0) return 0.0 / 0.0;
    if (y == 1.0 || y == -1.0) return y / 0.0;
    if (y == 0.0) return y;
    double t = 1.0 - fabs(y);
    if (t < 1e-8) {  // deep tail: asymptotic guess, then Newton on ln erfc(x) = ln t
        double l = -log(t), x = sqrt(l);
        for (int it = 0; it < 2; it++) {
            double g = l - log(x * 1.7724538509055159);
            x = sqrt(g > 0.25 ? g : 0.25);
        }
        for (int it = 0; it < 3; it++) {
            double e = erfc(x);
            double slope = -1.1283791670955126 * exp(-x * x) / e;
            x -= (log(e) + l) / slope;
        }
        return y < 0.0 ? -x : x;
    }
    double w = -log((1.0 - y) * (1.0 + y)), p;
    if (w < 5.0) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w; p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3.0;
        p = -0.000200214257;
        p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w; p = 2.83297682 + p * w;
    }
    double x = p * y;
    for (int it = 0; it < 2; it++) {  // Halley steps on erf(x) - y
        double err = y > 0.5 ? (1.0 - y) - erfc(x) : (y < -0.5 ? erfc(-x) - (1.0 + y) : erf(x) - y);
        double u = err / (1.1283791670955126 * exp(-x * x));
        x -= u / (1.0 + x * u);
    }
    return x;
}

template <typename T> RG_DEV T unary_float(int op, T v, const UParams& p) {
    switch (op) {
        case U_NEG: return -v;
        case U_ABS: return rg_fabs(v);
        case U_SIGN: return v > (T)0 ? (T)1 : (v < (T)0 ? (T)-1 : v);
        case U_SQUARE: return v * v;
        case U_RELU: return (v > (T)0 || rg_isnan(v)) ? v : (T)0;
        case U_EXP: return rg_exp(v);
        case U_LOG: return rg_log(v);
        case U_SQRT: return rg_sqrt(v);
        case U_RSQRT: return (T)1 / rg_sqrt(v);
        case U_SIN: return rg_sin(v);
        case U_COS: return rg_cos(v);
        case U_TANH: return rg_tanh(v);
        // Trigonometric, hyperbolic, base-2 and base-10 functions (tmethods).
        case U_TAN: return rg_tan(v);
        case U_ASIN: return rg_asin(v);
        case U_ACOS: return rg_acos(v);
        case U_ATAN: return rg_atan(v);
        case U_SINH: return rg_sinh(v);
        case U_COSH: return rg_cosh(v);
        case U_ASINH: return rg_asinh(v);
        case U_ACOSH: return rg_acosh(v);
        case U_ATANH: return rg_atanh(v);
        case U_EXP2: return rg_exp2(v);
        case U_LOG2: return rg_log2(v);
        case U_LOG10: return rg_log10(v);
        case U_SIGMOID: return rg_sigmoid(v);
        case U_LOG1P: return rg_log1p(v);
        case U_EXPM1: return rg_expm1(v);
        case U_RECIPROCAL: return (T)1 / v;
        case U_FLOOR: return rg_floor(v);
        case U_CEIL: return rg_ceil(v);
        case U_ROUND: return rg_rint(v);
        case U_TRUNC: return rg_trunc(v);
        case U_GELU: return (T)0.5 * v * ((T)1 + rg_erf(v * (T)0.7071067811865476));
        case U_GELU_TANH: return gelu_tanh(v);
        case U_SILU: return v * rg_sigmoid(v);
        case U_ERF: return rg_erf(v);
        // special functions
        case U_LGAMMA: return (T)lgamma((double)v);
        case U_DIGAMMA: return (T)rg_digamma((double)v);
        case U_ERFINV: return (T)rg_erfinv((double)v);
        case U_ERFC: return (T)erfc((double)v);
        case U_POLYGAMMA: return (T)rg_polygamma((int)p.p0, (double)v);
        case U_LEAKY_RELU: return v > (T)0 ? v : v * (T)p.p0;
        case U_ELU: return v > (T)0 ? v : (T)p.p0 * rg_expm1(v);
        case U_SOFTPLUS: {
            T b = (T)p.p0;
            return v * b > (T)p.p1 ? v : rg_log1p(rg_exp(v * b)) / b;
        }
        case U_POW_SCALAR: {
            if (p.p0 == 2.0) return v * v;
            if (p.p0 == 1.0) return v;
            if (p.p0 == 0.5) return rg_sqrt(v);
            return rg_pow(v, (T)p.p0);
        }
        case U_RPOW_SCALAR: return rg_pow((T)p.p0, v);
        case U_CLAMP: {
            if (rg_isnan(v)) return v;
            T r = v;
            if ((p.flags & 1) && r < (T)p.p0) r = (T)p.p0;
            if ((p.flags & 2) && r > (T)p.p1) r = (T)p.p1;
            return r;
        }
        default: return v;
    }
}

RG_DEV i64 unary_int(int op, i64 v, const UParams& p) {
    switch (op) {
        case U_NEG: return (i64)(0ULL - (u64)v);
        case U_ABS: return v < 0 ? (i64)(0ULL - (u64)v) : v;
        case U_SIGN: return v > 0 ? 1 : (v < 0 ? -1 : 0);
        case U_SQUARE: return (i64)((u64)v * (u64)v);
        case U_RELU: return v > 0 ? v : 0;
        case U_CLAMP: {
            i64 r = v;
            if ((p.flags & 1) && r < p.i0) r = p.i0;
            if ((p.flags & 2) && r > p.i1) r = p.i1;
            return r;
        }
        default: return v;  // floor, ceil, round, trunc: the identity
    }
}

template <typename T> struct UnaryOp;
template <> struct UnaryOp<float> {
    RG_DEV static float run(int op, float v, const UParams& p) { return unary_float(op, v, p); }
};
template <> struct UnaryOp<double> {
    RG_DEV static double run(int op, double v, const UParams& p) { return unary_float(op, v, p); }
};
template <> struct UnaryOp<i64> {
    RG_DEV static i64 run(int op, i64 v, const UParams& p) { return unary_int(op, v, p); }
};
template <> struct UnaryOp<u8> {
    // abs, relu, square, sign of a bool: the bool itself.
    RG_DEV static u8 run(int op, u8 v, const UParams& p) { return v != 0 ? 1 : 0; }
};

template <typename T> RG_DEV u8 unary_test(int op, T v) {
    if (op == U_ISNAN) return rg_isnan(v) ? 1 : 0;
    return v == (T)0 ? 1 : 0;  // U_LOGICAL_NOT
}

template <typename T, typename I>
RG_DEV void unary_body(int op, UParams p, const Geo& g, const T* x, T* out) {
    GRID_LOOP(i, g.n) {
        I o = geo_offset<I>(g, 0, (I)i);
        out[i] = UnaryOp<T>::run(op, x[o], p);
    }
}

template <typename T, typename I>
RG_DEV void unary_test_body(int op, const Geo& g, const T* x, u8* out) {
    GRID_LOOP(i, g.n) {
        I o = geo_offset<I>(g, 0, (I)i);
        out[i] = unary_test<T>(op, x[o]);
    }
}

KERNEL void ew_unary_f32(int op, UParams p, Geo g, const float* x, float* out) {
    unary_body<float, u32>(op, p, g, x, out);
}
KERNEL void ew_unary_f32_w(int op, UParams p, Geo g, const float* x, float* out) {
    unary_body<float, i64>(op, p, g, x, out);
}
KERNEL void ew_unary_test_f32(int op, Geo g, const float* x, u8* out) { unary_test_body<float, u32>(op, g, x, out); }
KERNEL void ew_unary_test_f32_w(int op, Geo g, const float* x, u8* out) { unary_test_body<float, i64>(op, g, x, out); }
KERNEL void ew_unary_f64(int op, UParams p, Geo g, const double* x, double* out) {
    unary_body<double, u32>(op, p, g, x, out);
}
KERNEL void ew_unary_f64_w(int op, UParams p, Geo g, const double* x, double* out) {
    unary_body<double, i64>(op, p, g, x, out);
}
KERNEL void ew_unary_test_f64(int op, Geo g, const double* x, u8* out) { unary_test_body<double, u32>(op, g, x, out); }
KERNEL void ew_unary_test_f64_w(int op, Geo g, const double* x, u8* out) {
    unary_test_body<double, i64>(op, g, x, out);
}
KERNEL void ew_unary_i64(int op, UParams p, Geo g, const i64* x, i64* out) { unary_body<i64, u32>(op, p, g, x, out); }
KERNEL void ew_unary_i64_w(int op, UParams p, Geo g, const i64* x, i64* out) { unary_body<i64, i64>(op, p, g, x, out); }
KERNEL void ew_unary_test_i64(int op, Geo g, const i64* x, u8* out) { unary_test_body<i64, u32>(op, g, x, out); }
KERNEL void ew_unary_test_i64_w(int op, Geo g, const i64* x, u8* out) { unary_test_body<i64, i64>(op, g, x, out); }
KERNEL void ew_unary_u8(int op, UParams p, Geo g, const u8* x, u8* out) { unary_body<u8, u32>(op, p, g, x, out); }
KERNEL void ew_unary_u8_w(int op, UParams p, Geo g, const u8* x, u8* out) { unary_body<u8, i64>(op, p, g, x, out); }
KERNEL void ew_unary_test_u8(int op, Geo g, const u8* x, u8* out) { unary_test_body<u8, u32>(op, g, x, out); }
KERNEL void ew_unary_test_u8_w(int op, Geo g, const u8* x, u8* out) { unary_test_body<u8, i64>(op, g, x, out); }

// ----- binary --------------------------------------------------------------------------------

template <typename T> RG_DEV T binary_float(int op, T x, T y, const UParams& p) {
    switch (op) {
        case B_ADD: return x + y;
        case B_SUB: return x - y;
        case B_MUL: return x * y;
        case B_DIV: return x / y;
        case B_POW: return rg_pow(x, y);
        case B_MAXIMUM: return (rg_isnan(x) || rg_isnan(y)) ? x + y : (x >= y ? x : y);
        case B_MINIMUM: return (rg_isnan(x) || rg_isnan(y)) ? x + y : (x <= y ? x : y);
        case B_FLOOR_DIVIDE: return rg_floor(x / y);
        case B_REMAINDER: {
            T r = (T)fmod((double)x, (double)y);
            return (r != (T)0 && ((r < (T)0) != (y < (T)0))) ? r + y : r;
        }
        case B_FMOD: return (T)fmod((double)x, (double)y);
        case B_RELU_BACKWARD: return y > (T)0 ? x : (T)0;
        case B_LEAKY_RELU_BACKWARD: return y > (T)0 ? x : x * (T)p.p0;
        case B_SIGMOID_BACKWARD: return x * y * ((T)1 - y);
        case B_TANH_BACKWARD: return x * ((T)1 - y * y);
        case B_GELU_BACKWARD: {
            T cdf = (T)0.5 * ((T)1 + rg_erf(y * (T)0.7071067811865476));
            T pdf = rg_exp((T)-0.5 * y * y) * (T)0.3989422804014327;
            return x * (cdf + y * pdf);
        }
        case B_GELU_TANH_BACKWARD: {
            const T k = (T)0.7978845608028654;
            T inner = k * (y + (T)0.044715 * y * y * y);
            T t = rg_tanh(inner);
            T d = (T)0.5 * ((T)1 + t) + (T)0.5 * y * ((T)1 - t * t) * k * ((T)1 + (T)3 * (T)0.044715 * y * y);
            return x * d;
        }
        case B_SILU_BACKWARD: {
            T s = rg_sigmoid(y);
            return x * (s * ((T)1 + y * ((T)1 - s)));
        }
        case B_CLAMP_BACKWARD: {
            bool ok = (!(p.flags & 1) || y > (T)p.p0) && (!(p.flags & 2) || y < (T)p.p1);
            return ok ? x : (T)0;
        }
        default: return x;
    }
}

RG_DEV i64 binary_int(int op, i64 x, i64 y, RgStatus* st) {
    switch (op) {
        case B_ADD: return (i64)((u64)x + (u64)y);
        case B_SUB: return (i64)((u64)x - (u64)y);
        case B_MUL: return (i64)((u64)x * (u64)y);
        case B_MAXIMUM: return x > y ? x : y;
        case B_MINIMUM: return x < y ? x : y;
        case B_POW: {
            if (y < 0) {
                rg_report(st, RG_ERR_NEG_POW, 0, 0, 0);
                return 0;
            }
            u64 base = (u64)x, r = 1;
            u64 e = y > 0xffffffffLL ? 0xffffffffULL : (u64)y;
            while (e) {
                if (e & 1) r *= base;
                base *= base;
                e >>= 1;
            }
            return (i64)r;
        }
        case B_FLOOR_DIVIDE: {
            if (y == 0) {
                rg_report(st, RG_ERR_ZERO_DIV, 0, 0, 0);
                return 0;
            }
            if (y == -1) return (i64)(0ULL - (u64)x);  // wraps like Rust's wrapping_div
            i64 q = x / y;
            return q - ((x % y) != 0 && ((x < 0) != (y < 0)) ? 1 : 0);
        }
        case B_REMAINDER: {
            if (y == 0) {
                rg_report(st, RG_ERR_ZERO_DIV, 0, 0, 0);
                return 0;
            }
            if (y == -1) return 0;
            i64 r = x % y;
            return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
        }
        case B_FMOD: {
            if (y == 0) {
                rg_report(st, RG_ERR_ZERO_DIV, 0, 0, 0);
                return 0;
            }
            return y == -1 ? 0 : x % y;
        }
        default: return x;
    }
}

template <typename T> RG_DEV u8 binary_test(int op, T x, T y) {
    switch (op) {
        case B_EQ: return x == y;
        case B_NE: return x != y;
        case B_LT: return x < y;
        case B_LE: return x <= y;
        case B_GT: return x > y;
        case B_GE: return x >= y;
        case B_LOGICAL_AND: return x != (T)0 && y != (T)0;
        case B_LOGICAL_OR: return x != (T)0 || y != (T)0;
        case B_LOGICAL_XOR: return (x != (T)0) != (y != (T)0);
        default: return 0;
    }
}

RG_DEV u8 binary_bool(int op, u8 a, u8 b) {
    bool x = a != 0, y = b != 0;
    switch (op) {
        case B_ADD: case B_LOGICAL_OR: case B_MAXIMUM: return x || y;
        case B_MUL: case B_LOGICAL_AND: case B_MINIMUM: return x && y;
        case B_LOGICAL_XOR: case B_NE: return x != y;
        case B_EQ: return x == y;
        case B_LT: return !x && y;
        case B_LE: return !x || y;
        case B_GT: return x && !y;
        case B_GE: return x || !y;
        default: return 0;
    }
}

template <typename T> struct BinaryOp;
template <> struct BinaryOp<float> {
    RG_DEV static float run(int op, float x, float y, const UParams& p, RgStatus*) { return binary_float(op, x, y, p); }
};
template <> struct BinaryOp<double> {
    RG_DEV static double run(int op, double x, double y, const UParams& p, RgStatus*) { return binary_float(op, x, y, p); }
};
template <> struct BinaryOp<i64> {
    RG_DEV static i64 run(int op, i64 x, i64 y, const UParams&, RgStatus* st) { return binary_int(op, x, y, st); }
};
template <> struct BinaryOp<u8> {
    RG_DEV static u8 run(int op, u8 x, u8 y, const UParams&, RgStatus*) { return binary_bool(op, x, y); }
};

template <typename T, typename I>
RG_DEV void binary_body(int op, UParams p, const Geo& g, const T* a, const T* b, T* out, RgStatus* st) {
    GRID_LOOP(i, g.n) {
        I o[2];
        geo_offsets<I, 2>(g, (I)i, o);
        out[i] = BinaryOp<T>::run(op, a[o[0]], b[o[1]], p, st);
    }
}

template <typename T, typename I>
RG_DEV void binary_test_body(int op, const Geo& g, const T* a, const T* b, u8* out) {
    GRID_LOOP(i, g.n) {
        I o[2];
        geo_offsets<I, 2>(g, (I)i, o);
        out[i] = binary_test<T>(op, a[o[0]], b[o[1]]);
    }
}

KERNEL void ew_binary_f32(int op, UParams p, Geo g, const float* a, const float* b, float* out, RgStatus* st) {
    binary_body<float, u32>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_f32_w(int op, UParams p, Geo g, const float* a, const float* b, float* out, RgStatus* st) {
    binary_body<float, i64>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_f64(int op, UParams p, Geo g, const double* a, const double* b, double* out, RgStatus* st) {
    binary_body<double, u32>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_f64_w(int op, UParams p, Geo g, const double* a, const double* b, double* out, RgStatus* st) {
    binary_body<double, i64>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_i64(int op, UParams p, Geo g, const i64* a, const i64* b, i64* out, RgStatus* st) {
    binary_body<i64, u32>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_i64_w(int op, UParams p, Geo g, const i64* a, const i64* b, i64* out, RgStatus* st) {
    binary_body<i64, i64>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_u8(int op, UParams p, Geo g, const u8* a, const u8* b, u8* out, RgStatus* st) {
    binary_body<u8, u32>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_u8_w(int op, UParams p, Geo g, const u8* a, const u8* b, u8* out, RgStatus* st) {
    binary_body<u8, i64>(op, p, g, a, b, out, st);
}
KERNEL void ew_binary_test_f32(int op, Geo g, const float* a, const float* b, u8* out) {
    binary_test_body<float, u32>(op, g, a, b, out);
}
KERNEL void ew_binary_test_f32_w(int op, Geo g, const float* a, const float* b, u8* out) {
    binary_test_body<float, i64>(op, g, a, b, out);
}
KERNEL void ew_binary_test_f64(int op, Geo g, const double* a, const double* b, u8* out) {
    binary_test_body<double, u32>(op, g, a, b, out);
}
KERNEL void ew_binary_test_f64_w(int op, Geo g, const double* a, const double* b, u8* out) {
    binary_test_body<double, i64>(op, g, a, b, out);
}
KERNEL void ew_binary_test_i64(int op, Geo g, const i64* a, const i64* b, u8* out) {
    binary_test_body<i64, u32>(op, g, a, b, out);
}
KERNEL void ew_binary_test_i64_w(int op, Geo g, const i64* a, const i64* b, u8* out) {
    binary_test_body<i64, i64>(op, g, a, b, out);
}

// ----- where ---------------------------------------------------------------------------------

template <typename T, typename I>
RG_DEV void where_body(const Geo& g, const u8* c, const T* a, const T* b, T* out) {
    GRID_LOOP(i, g.n) {
        I o[3];
        geo_offsets<I, 3>(g, (I)i, o);
        out[i] = c[o[0]] ? a[o[1]] : b[o[2]];
    }
}

KERNEL void ew_where_f32(Geo g, const u8* c, const float* a, const float* b, float* out) {
    where_body<float, u32>(g, c, a, b, out);
}
KERNEL void ew_where_f32_w(Geo g, const u8* c, const float* a, const float* b, float* out) {
    where_body<float, i64>(g, c, a, b, out);
}
KERNEL void ew_where_f64(Geo g, const u8* c, const double* a, const double* b, double* out) {
    where_body<double, u32>(g, c, a, b, out);
}
KERNEL void ew_where_f64_w(Geo g, const u8* c, const double* a, const double* b, double* out) {
    where_body<double, i64>(g, c, a, b, out);
}
KERNEL void ew_where_i64(Geo g, const u8* c, const i64* a, const i64* b, i64* out) {
    where_body<i64, u32>(g, c, a, b, out);
}
KERNEL void ew_where_i64_w(Geo g, const u8* c, const i64* a, const i64* b, i64* out) {
    where_body<i64, i64>(g, c, a, b, out);
}
KERNEL void ew_where_u8(Geo g, const u8* c, const u8* a, const u8* b, u8* out) { where_body<u8, u32>(g, c, a, b, out); }
KERNEL void ew_where_u8_w(Geo g, const u8* c, const u8* a, const u8* b, u8* out) {
    where_body<u8, i64>(g, c, a, b, out);
}

// ----- strided copy with conversion: dst is operand 0, src operand 1 ---------------------------

template <typename S, typename D, typename I>
RG_DEV void copy_body(const Geo& g, const S* src, D* dst) {
    GRID_LOOP(i, g.n) {
        I o[2];
        geo_offsets<I, 2>(g, (I)i, o);
        dst[o[0]] = Conv<S, D>::run(src[o[1]]);
    }
}

KERNEL void ew_copy_f32_f32(Geo g, const float* src, float* dst) { copy_body<float, float, u32>(g, src, dst); }
KERNEL void ew_copy_f32_f32_w(Geo g, const float* src, float* dst) { copy_body<float, float, i64>(g, src, dst); }
KERNEL void ew_copy_f32_f64(Geo g, const float* src, double* dst) { copy_body<float, double, u32>(g, src, dst); }
KERNEL void ew_copy_f32_f64_w(Geo g, const float* src, double* dst) { copy_body<float, double, i64>(g, src, dst); }
KERNEL void ew_copy_f32_i64(Geo g, const float* src, i64* dst) { copy_body<float, i64, u32>(g, src, dst); }
KERNEL void ew_copy_f32_i64_w(Geo g, const float* src, i64* dst) { copy_body<float, i64, i64>(g, src, dst); }
KERNEL void ew_copy_f32_u8(Geo g, const float* src, u8* dst) { copy_body<float, u8, u32>(g, src, dst); }
KERNEL void ew_copy_f32_u8_w(Geo g, const float* src, u8* dst) { copy_body<float, u8, i64>(g, src, dst); }
KERNEL void ew_copy_f64_f32(Geo g, const double* src, float* dst) { copy_body<double, float, u32>(g, src, dst); }
KERNEL void ew_copy_f64_f32_w(Geo g, const double* src, float* dst) { copy_body<double, float, i64>(g, src, dst); }
KERNEL void ew_copy_f64_f64(Geo g, const double* src, double* dst) { copy_body<double, double, u32>(g, src, dst); }
KERNEL void ew_copy_f64_f64_w(Geo g, const double* src, double* dst) { copy_body<double, double, i64>(g, src, dst); }
KERNEL void ew_copy_f64_i64(Geo g, const double* src, i64* dst) { copy_body<double, i64, u32>(g, src, dst); }
KERNEL void ew_copy_f64_i64_w(Geo g, const double* src, i64* dst) { copy_body<double, i64, i64>(g, src, dst); }
KERNEL void ew_copy_f64_u8(Geo g, const double* src, u8* dst) { copy_body<double, u8, u32>(g, src, dst); }
KERNEL void ew_copy_f64_u8_w(Geo g, const double* src, u8* dst) { copy_body<double, u8, i64>(g, src, dst); }
KERNEL void ew_copy_i64_f32(Geo g, const i64* src, float* dst) { copy_body<i64, float, u32>(g, src, dst); }
KERNEL void ew_copy_i64_f32_w(Geo g, const i64* src, float* dst) { copy_body<i64, float, i64>(g, src, dst); }
KERNEL void ew_copy_i64_f64(Geo g, const i64* src, double* dst) { copy_body<i64, double, u32>(g, src, dst); }
KERNEL void ew_copy_i64_f64_w(Geo g, const i64* src, double* dst) { copy_body<i64, double, i64>(g, src, dst); }
KERNEL void ew_copy_i64_i64(Geo g, const i64* src, i64* dst) { copy_body<i64, i64, u32>(g, src, dst); }
KERNEL void ew_copy_i64_i64_w(Geo g, const i64* src, i64* dst) { copy_body<i64, i64, i64>(g, src, dst); }
KERNEL void ew_copy_i64_u8(Geo g, const i64* src, u8* dst) { copy_body<i64, u8, u32>(g, src, dst); }
KERNEL void ew_copy_i64_u8_w(Geo g, const i64* src, u8* dst) { copy_body<i64, u8, i64>(g, src, dst); }
KERNEL void ew_copy_u8_f32(Geo g, const u8* src, float* dst) { copy_body<u8, float, u32>(g, src, dst); }
KERNEL void ew_copy_u8_f32_w(Geo g, const u8* src, float* dst) { copy_body<u8, float, i64>(g, src, dst); }
KERNEL void ew_copy_u8_f64(Geo g, const u8* src, double* dst) { copy_body<u8, double, u32>(g, src, dst); }
KERNEL void ew_copy_u8_f64_w(Geo g, const u8* src, double* dst) { copy_body<u8, double, i64>(g, src, dst); }
KERNEL void ew_copy_u8_i64(Geo g, const u8* src, i64* dst) { copy_body<u8, i64, u32>(g, src, dst); }
KERNEL void ew_copy_u8_i64_w(Geo g, const u8* src, i64* dst) { copy_body<u8, i64, i64>(g, src, dst); }
KERNEL void ew_copy_u8_u8(Geo g, const u8* src, u8* dst) { copy_body<u8, u8, u32>(g, src, dst); }
KERNEL void ew_copy_u8_u8_w(Geo g, const u8* src, u8* dst) { copy_body<u8, u8, i64>(g, src, dst); }

// ----- fill (strided destination: operand 0) ---------------------------------------------------

template <typename T, typename I>
RG_DEV void fill_body(const Geo& g, T v, T* dst) {
    GRID_LOOP(i, g.n) {
        I o = geo_offset<I>(g, 0, (I)i);
        dst[o] = v;
    }
}

KERNEL void ew_fill_f32(Geo g, float v, float* dst) { fill_body<float, u32>(g, v, dst); }
KERNEL void ew_fill_f32_w(Geo g, float v, float* dst) { fill_body<float, i64>(g, v, dst); }
KERNEL void ew_fill_f64(Geo g, double v, double* dst) { fill_body<double, u32>(g, v, dst); }
KERNEL void ew_fill_f64_w(Geo g, double v, double* dst) { fill_body<double, i64>(g, v, dst); }
KERNEL void ew_fill_i64(Geo g, i64 v, i64* dst) { fill_body<i64, u32>(g, v, dst); }
KERNEL void ew_fill_i64_w(Geo g, i64 v, i64* dst) { fill_body<i64, i64>(g, v, dst); }
KERNEL void ew_fill_u8(Geo g, int v, u8* dst) { fill_body<u8, u32>(g, (u8)(v != 0), dst); }
KERNEL void ew_fill_u8_w(Geo g, int v, u8* dst) { fill_body<u8, i64>(g, (u8)(v != 0), dst); }
