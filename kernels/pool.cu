// Pooling and resampling over contiguous (planes, H, W): max_pool2d with argmax indices and its
// backward, average pooling over per-axis windows (avg_pool2d in all its modes and
// adaptive_avg_pool2d), and nearest / bilinear interpolation. Window and tap tables come from the
// host (the same tables the CPU kernels use); one thread per output element; backward passes
// scatter with atomicAdd into a zeroed gradient.

struct PoolGeo {
    i64 planes, h, w, oh, ow;
    i64 kh, kw, sh, sw, ph, pw, dh, dw;
};

// The CPU's max_window: [start, end) stepping by dil, start moved past the padding by whole steps.
RG_DEV void max_window(i64 o, i64 stride, i64 pad, i64 k, i64 dil, i64 len, i64& s, i64& e) {
    i64 start = o * stride - pad;
    i64 end = start + (k - 1) * dil + 1;
    if (end > len) end = len;
    while (start < 0) start += dil;
    s = start;
    e = end < 0 ? 0 : end;
}

template <typename T>
RG_DEV void max_pool_fwd(const PoolGeo& g, const T* x, T* out, i64* idx) {
    i64 ohw = g.oh * g.ow, hw = g.h * g.w;
    GRID_LOOP(i, g.planes * ohw) {
        i64 p = i / ohw, q = i - p * ohw;
        i64 oy = q / g.ow, ox = q - oy * g.ow;
        i64 y0, y1, x0, x1;
        max_window(oy, g.sh, g.ph, g.kh, g.dh, g.h, y0, y1);
        max_window(ox, g.sw, g.pw, g.kw, g.dw, g.w, x0, x1);
        const T* plane = x + p * hw;
        T best = Limits<T>::lowest();
        i64 best_i = y0 * g.w + x0;
        for (i64 iy = y0; iy < y1; iy += g.dh)
            for (i64 ix = x0; ix < x1; ix += g.dw) {
                i64 j = iy * g.w + ix;
                T v = plane[j];
                if (v > best || rg_isnan(v)) {
                    best = v;
                    best_i = j;
                }
            }
        out[i] = best;
        idx[i] = best_i;
    }
}

template <typename T>
RG_DEV void max_pool_bwd(const PoolGeo& g, const T* gy, const i64* idx, T* dx) {
    i64 ohw = g.oh * g.ow, hw = g.h * g.w;
    GRID_LOOP(i, g.planes * ohw) {
        i64 p = i / ohw;
        i64 j = idx[i];
        if (j >= 0 && j < hw) atomicAdd(dx + p * hw + j, gy[i]);
    }
}

// Window tables: rows then cols, three i64 each (start, end, count).
template <typename T>
RG_DEV void avg_pool_fwd(const PoolGeo& g, const i64* win, double divisor, const T* x, T* out) {
    i64 ohw = g.oh * g.ow, hw = g.h * g.w;
    GRID_LOOP(i, g.planes * ohw) {
        i64 p = i / ohw, q = i - p * ohw;
        i64 oy = q / g.ow, ox = q - oy * g.ow;
        const i64* ry = win + oy * 3;
        const i64* rx = win + (g.oh + ox) * 3;
        double d = divisor > 0.0 ? divisor : (double)(ry[2] * rx[2]);
        const T* plane = x + p * hw;
        T sum = (T)0;
        for (i64 iy = ry[0]; iy < ry[1]; ++iy)
            for (i64 ix = rx[0]; ix < rx[1]; ++ix) sum += plane[iy * g.w + ix];
        out[i] = d == 0.0 ? (T)0 : sum / (T)d;
    }
}

template <typename T>
RG_DEV void avg_pool_bwd(const PoolGeo& g, const i64* win, double divisor, const T* gy, T* dx) {
    i64 ohw = g.oh * g.ow, hw = g.h * g.w;
    GRID_LOOP(i, g.planes * ohw) {
        i64 p = i / ohw, q = i - p * ohw;
        i64 oy = q / g.ow, ox = q - oy * g.ow;
        const i64* ry = win + oy * 3;
        const i64* rx = win + (g.oh + ox) * 3;
        double d = divisor > 0.0 ? divisor : (double)(ry[2] * rx[2]);
        T f = d == 0.0 ? (T)0 : (T)1 / (T)d;
        T v = gy[i] * f;
        T* plane = dx + p * hw;
        for (i64 iy = ry[0]; iy < ry[1]; ++iy)
            for (i64 ix = rx[0]; ix < rx[1]; ++ix) atomicAdd(plane + iy * g.w + ix, v);
    }
}

// Tap tables: rows then cols, four doubles each (i0, i1, l0, l1); `nearest` uses i0 only.
template <typename T>
RG_DEV void resample_fwd(const PoolGeo& g, const double* taps, int nearest, const T* x, T* out) {
    i64 ohw = g.oh * g.ow, hw = g.h * g.w;
    GRID_LOOP(i, g.planes * ohw) {
        i64 p = i / ohw, q = i - p * ohw;
        i64 oy = q / g.ow, ox = q - oy * g.ow;
        const double* ty = taps + oy * 4;
        const double* tx = taps + (g.oh + ox) * 4;
        const T* plane = x + p * hw;
        i64 y0 = (i64)ty[0], y1 = (i64)ty[1], x0 = (i64)tx[0], x1 = (i64)tx[1];
        if (nearest) {
            out[i] = plane[y0 * g.w + x0];
        } else {
            T h0 = (T)ty[2], h1 = (T)ty[3], w0 = (T)tx[2], w1 = (T)tx[3];
            T t0 = plane[y0 * g.w + x0] * w0 + plane[y0 * g.w + x1] * w1;
            T t1 = plane[y1 * g.w + x0] * w0 + plane[y1 * g.w + x1] * w1;
            out[i] = t0 * h0 + t1 * h1;
        }
    }
}

template <typename T>
RG_DEV void resample_bwd(const PoolGeo& g, const double* taps, int nearest, const T* gy, T* dx) {
    i64 ohw = g.oh * g.ow, hw = g.h * g.w;
    GRID_LOOP(i, g.planes * ohw) {
        i64 p = i / ohw, q = i - p * ohw;
        i64 oy = q / g.ow, ox = q - oy * g.ow;
        const double* ty = taps + oy * 4;
        const double* tx = taps + (g.oh + ox) * 4;
        T* plane = dx + p * hw;
        i64 y0 = (i64)ty[0], y1 = (i64)ty[1], x0 = (i64)tx[0], x1 = (i64)tx[1];
        T v = gy[i];
        if (nearest) {
            atomicAdd(plane + y0 * g.w + x0, v);
        } else {
            T h0 = (T)ty[2], h1 = (T)ty[3], w0 = (T)tx[2], w1 = (T)tx[3];
            atomicAdd(plane + y0 * g.w + x0, h0 * w0 * v);
            atomicAdd(plane + y0 * g.w + x1, h0 * w1 * v);
            atomicAdd(plane + y1 * g.w + x0, h1 * w0 * v);
            atomicAdd(plane + y1 * g.w + x1, h1 * w1 * v);
        }
    }
}

KERNEL void max_pool_fwd_f32(PoolGeo g, const float* x, float* out, i64* idx) { max_pool_fwd<float>(g, x, out, idx); }
KERNEL void max_pool_bwd_f32(PoolGeo g, const float* gy, const i64* idx, float* dx) {
    max_pool_bwd<float>(g, gy, idx, dx);
}
KERNEL void avg_pool_fwd_f32(PoolGeo g, const i64* win, double d, const float* x, float* out) {
    avg_pool_fwd<float>(g, win, d, x, out);
}
KERNEL void avg_pool_bwd_f32(PoolGeo g, const i64* win, double d, const float* gy, float* dx) {
    avg_pool_bwd<float>(g, win, d, gy, dx);
}
KERNEL void resample_fwd_f32(PoolGeo g, const double* taps, int nearest, const float* x, float* out) {
    resample_fwd<float>(g, taps, nearest, x, out);
}
KERNEL void resample_bwd_f32(PoolGeo g, const double* taps, int nearest, const float* gy, float* dx) {
    resample_bwd<float>(g, taps, nearest, gy, dx);
}
KERNEL void max_pool_fwd_f64(PoolGeo g, const double* x, double* out, i64* idx) {
    max_pool_fwd<double>(g, x, out, idx);
}
KERNEL void max_pool_bwd_f64(PoolGeo g, const double* gy, const i64* idx, double* dx) {
    max_pool_bwd<double>(g, gy, idx, dx);
}
KERNEL void avg_pool_fwd_f64(PoolGeo g, const i64* win, double d, const double* x, double* out) {
    avg_pool_fwd<double>(g, win, d, x, out);
}
KERNEL void avg_pool_bwd_f64(PoolGeo g, const i64* win, double d, const double* gy, double* dx) {
    avg_pool_bwd<double>(g, win, d, gy, dx);
}
KERNEL void resample_fwd_f64(PoolGeo g, const double* taps, int nearest, const double* x, double* out) {
    resample_fwd<double>(g, taps, nearest, x, out);
}
KERNEL void resample_bwd_f64(PoolGeo g, const double* taps, int nearest, const double* gy, double* dx) {
    resample_bwd<double>(g, taps, nearest, gy, dx);
}
