// conv2d as im2col + our GEMM (gemm.cu). For a chunk of samples n0..n0+nb:
//   cols[(c * kh + i) * kw + j][(n - n0) * P + oy * OW + ox] = x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
// (zero in the padding), so group g's column matrix is the row block [g*K, (g+1)*K) with
// K = C/groups * kh * kw. col2im is its adjoint, written as a gather (each input pixel sums the
// column entries it fed), so it needs no atomics and is deterministic.
//
// im2col: grid.y walks the rows (c, i, j) of the column matrix, so a thread decomposes only its
// column index. Index arithmetic is 32-bit unless the host asks for the `_w` (64-bit) forms.

struct ConvGeo {
    i64 n, c, h, w;      // input (n: samples in this chunk)
    i64 kh, kw, oh, ow;  // kernel and output
    i64 sh, sw, ph, pw, dh, dw;
};

template <typename T, typename I>
RG_DEV void im2col(const ConvGeo& g, const T* x, T* cols) {
    const I p = (I)(g.oh * g.ow), np = (I)g.n * p, kk = (I)(g.kh * g.kw);
    const I rows = (I)g.c * kk;
    const I ow = (I)g.ow, kw = (I)g.kw, h = (I)g.h, w = (I)g.w, c_ = (I)g.c;
    for (I r = blockIdx.y; r < rows; r += gridDim.y) {
        I c = r / kk, t = r - c * kk;
        I i = t / kw, jj = t - i * kw;
        i64 dy = (i64)i * g.dh - g.ph, dx = (i64)jj * g.dw - g.pw;
        for (I j = (I)blockIdx.x * blockDim.x + threadIdx.x; j < np; j += (I)gridDim.x * blockDim.x) {
            I n = j / p, q = j - n * p;
            I oy = q / ow, ox = q - oy * ow;
            i64 iy = (i64)oy * g.sh + dy, ix = (i64)ox * g.sw + dx;
            T v = (T)0;
            if (iy >= 0 && iy < (i64)h && ix >= 0 && ix < (i64)w)
                v = x[((n * c_ + c) * h + (I)iy) * w + (I)ix];
            cols[r * np + j] = v;
        }
    }
}

template <typename T, typename I>
RG_DEV void col2im(const ConvGeo& g, const T* cols, T* dx) {
    const I p = (I)(g.oh * g.ow), np = (I)g.n * p, kk = (I)(g.kh * g.kw);
    const I h = (I)g.h, w = (I)g.w, c_ = (I)g.c, ow = (I)g.ow;
    const I total = (I)g.n * c_ * h * w;
    for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (I)gridDim.x * blockDim.x) {
        I t = idx / w;
        I x = idx - t * w;
        I t2 = t / h;
        I y = t - t2 * h;
        I n = t2 / c_;
        I c = t2 - n * c_;
        T s = (T)0;
        for (i64 i = 0; i < g.kh; ++i) {
            i64 ty = (i64)y + g.ph - i * g.dh;
            if (ty < 0) break;  // ty only decreases with i
            if (ty % g.sh != 0) continue;
            i64 oy = ty / g.sh;
            if (oy >= g.oh) continue;
            for (i64 jj = 0; jj < g.kw; ++jj) {
                i64 tx = (i64)x + g.pw - jj * g.dw;
                if (tx < 0) break;
                if (tx % g.sw != 0) continue;
                i64 ox = tx / g.sw;
                if (ox >= g.ow) continue;
                s += cols[((I)(c * kk) + (I)(i * g.kw + jj)) * np + n * p + (I)oy * ow + (I)ox];
            }
        }
        dx[idx] = s;
    }
}

KERNEL void im2col_f32(ConvGeo g, const float* x, float* cols) { im2col<float, u32>(g, x, cols); }
KERNEL void im2col_f32_w(ConvGeo g, const float* x, float* cols) { im2col<float, i64>(g, x, cols); }
KERNEL void im2col_f64(ConvGeo g, const double* x, double* cols) { im2col<double, u32>(g, x, cols); }
KERNEL void im2col_f64_w(ConvGeo g, const double* x, double* cols) { im2col<double, i64>(g, x, cols); }
KERNEL void col2im_f32(ConvGeo g, const float* cols, float* dx) { col2im<float, u32>(g, cols, dx); }
KERNEL void col2im_f32_w(ConvGeo g, const float* cols, float* dx) { col2im<float, i64>(g, cols, dx); }
KERNEL void col2im_f64(ConvGeo g, const double* cols, double* dx) { col2im<double, u32>(g, cols, dx); }
KERNEL void col2im_f64_w(ConvGeo g, const double* cols, double* dx) { col2im<double, i64>(g, cols, dx); }
