// Losses and batch normalisation, with the CPU kernels' formulas (src/backend/cpu/nn/loss.rs and
// norm.rs), accumulating in double.
//
// Cross-entropy rows: the input is (N, C, S); row r = n * S + s holds C scores with class stride
// S. One warp per row (lanes over classes, shuffles for the row's max and sums). Forward writes
// per-row loss, log-sum-exp and weight (the target's class weight, 0 on ignored rows; the host sums
// weights on the device for the mean). Out-of-range class targets are skipped and reported.

struct RowGeo {
    i64 n, c, s;
    i64 ignore_index;
    double eps;  // label smoothing
    int prob;    // probability targets (the input's shape) instead of class indices
    int has_weight;
};

RG_DEV i64 row_base(const RowGeo& g, i64 r) { return (r / g.s) * g.c * g.s + r % g.s; }

RG_DEV double warp_sum_d(double v) { return warp_sum(v); }

RG_DEV double warp_max_d(double v) { return warp_max(v); }

// Warp w of the grid handles rows w, w + warps, ...
#define WARP_ROWS(r, rows)                                                              \
    for (i64 r = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < (i64)(rows); \
         r += ((i64)gridDim.x * blockDim.x) >> 5)

template <typename T>
RG_DEV double row_lse(const RowGeo& g, const T* x, i64 base, int lane) {
    double m = -__longlong_as_double(0x7ff0000000000000LL);
    for (i64 k = lane; k < g.c; k += 32) {
        double v = (double)x[base + k * g.s];
        m = (v > m || v != v) ? v : m;
    }
    m = warp_max_d(m);
    if (m == -__longlong_as_double(0x7ff0000000000000LL) || m != m) return m;
    double s = 0.0;
    for (i64 k = lane; k < g.c; k += 32) s += exp((double)x[base + k * g.s] - m);
    s = warp_sum_d(s);
    return m + log(s);
}

template <typename T>
RG_DEV void ce_fwd(const RowGeo g, const T* x, const i64* tcls, const T* tprob, const T* w, T* loss, T* lse,
                   T* wrow, RgStatus* st) {
    const int lane = threadIdx.x & 31;
    const double cinv = 1.0 / (double)g.c;
    WARP_ROWS(r, g.n * g.s) {
        i64 base = row_base(g, r);
        double l = row_lse(g, x, base, lane);
        double out = 0.0, wt = 0.0;
        if (!g.prob) {
            i64 t = tcls[r];
            bool valid = t != g.ignore_index;
            if (valid && (t < 0 || t >= g.c)) {
                if (lane == 0) rg_report(st, RG_ERR_TARGET, t, 0, 0);
                valid = false;
            }
            if (valid) {
                wt = g.has_weight ? (double)w[t] : 1.0;
                out = -wt * ((double)x[base + t * g.s] - l);
                if (g.eps > 0.0) {
                    double smooth = 0.0;
                    for (i64 k = lane; k < g.c; k += 32)
                        smooth += -(g.has_weight ? (double)w[k] : 1.0) * ((double)x[base + k * g.s] - l);
                    smooth = warp_sum_d(smooth);
                    out = (1.0 - g.eps) * out + g.eps * cinv * smooth;
                }
            }
        } else {
            double acc = 0.0;
            for (i64 k = lane; k < g.c; k += 32) {
                double tk = (double)tprob[base + k * g.s] * (1.0 - g.eps) + g.eps * cinv;
                acc += -tk * (g.has_weight ? (double)w[k] : 1.0) * ((double)x[base + k * g.s] - l);
            }
            out = warp_sum_d(acc);
            wt = 1.0;
        }
        if (lane == 0) {
            loss[r] = (T)out;
            lse[r] = (T)l;
            wrow[r] = (T)wt;
        }
    }
}

// dx = up_r * (softmax * sum(a) - a); for probability targets also dt = -up_r (1 - eps) w logp.
// `up` is the upstream gradient per row (stride 1) or one value (stride 0), already divided by the
// mean's denominator.
template <typename T>
RG_DEV void ce_bwd(const RowGeo g, const T* x, const i64* tcls, const T* tprob, const T* w, const T* lse, const T* up,
                   i64 up_stride, T* dx, T* dt) {
    const int lane = threadIdx.x & 31;
    const double cinv = 1.0 / (double)g.c;
    WARP_ROWS(r, g.n * g.s) {
        i64 base = row_base(g, r);
        double gr = (double)up[r * up_stride];
        double l = (double)lse[r];
        if (!g.prob) {
            i64 t = tcls[r];
            bool valid = t != g.ignore_index && t >= 0 && t < g.c;
            if (!valid) {
                for (i64 k = lane; k < g.c; k += 32) dx[base + k * g.s] = (T)0;
                continue;
            }
            double sum_w = 0.0;
            if (g.has_weight) {
                for (i64 k = lane; k < g.c; k += 32) sum_w += (double)w[k];
                sum_w = warp_sum_d(sum_w);
            } else {
                sum_w = (double)g.c;
            }
            double wt = g.has_weight ? (double)w[t] : 1.0;
            double total = (1.0 - g.eps) * wt + g.eps * cinv * sum_w;
            for (i64 k = lane; k < g.c; k += 32) {
                double a = g.eps * cinv * (g.has_weight ? (double)w[k] : 1.0);
                if (k == t) a += (1.0 - g.eps) * wt;
                double p = exp((double)x[base + k * g.s] - l);
                dx[base + k * g.s] = (T)(gr * (p * total - a));
            }
        } else {
            double total = 0.0;
            for (i64 k = lane; k < g.c; k += 32)
                total += ((double)tprob[base + k * g.s] * (1.0 - g.eps) + g.eps * cinv) *
                         (g.has_weight ? (double)w[k] : 1.0);
            total = warp_sum_d(total);
            for (i64 k = lane; k < g.c; k += 32) {
                double wk = g.has_weight ? (double)w[k] : 1.0;
                double a = ((double)tprob[base + k * g.s] * (1.0 - g.eps) + g.eps * cinv) * wk;
                double logp = (double)x[base + k * g.s] - l;
                dx[base + k * g.s] = (T)(gr * (exp(logp) * total - a));
                if (dt) dt[base + k * g.s] = (T)(-gr * (1.0 - g.eps) * wk * logp);
            }
        }
    }
}

// The coefficients a of class targets, the input's shape (0 on ignored rows); one thread per
// element.
template <typename T>
RG_DEV void ce_coef(const RowGeo g, const i64* tcls, const T* w, T* a) {
    const double cinv = 1.0 / (double)g.c;
    GRID_LOOP(i, g.n * g.c * g.s) {
        i64 n = i / (g.c * g.s), rest = i - n * g.c * g.s;
        i64 k = rest / g.s, s = rest - k * g.s;
        i64 t = tcls[n * g.s + s];
        double v = 0.0;
        if (t != g.ignore_index && t >= 0 && t < g.c) {
            v = g.eps * cinv * (g.has_weight ? (double)w[k] : 1.0);
            if (k == t) v += (1.0 - g.eps) * (g.has_weight ? (double)w[t] : 1.0);
        }
        a[i] = (T)v;
    }
}

// NLL of log-probabilities: one thread per row.
template <typename T>
RG_DEV void nll_fwd(const RowGeo g, const T* x, const i64* t, const T* w, T* loss, T* wrow, RgStatus* st) {
    GRID_LOOP(r, g.n * g.s) {
        i64 tr = t[r];
        double l = 0.0, wt = 0.0;
        if (tr != g.ignore_index) {
            if (tr < 0 || tr >= g.c) {
                rg_report(st, RG_ERR_TARGET, tr, 0, 0);
            } else {
                wt = g.has_weight ? (double)w[tr] : 1.0;
                l = -wt * (double)x[row_base(g, r) + tr * g.s];
            }
        }
        loss[r] = (T)l;
        wrow[r] = (T)wt;
    }
}

// dx (zeroed by the host) gets -w_t * up_r at each row's target.
template <typename T>
RG_DEV void nll_bwd(const RowGeo g, const i64* t, const T* w, const T* up, i64 up_stride, T* dx) {
    GRID_LOOP(r, g.n * g.s) {
        i64 tr = t[r];
        if (tr != g.ignore_index && tr >= 0 && tr < g.c) {
            double wt = g.has_weight ? (double)w[tr] : 1.0;
            dx[row_base(g, r) + tr * g.s] = (T)(-wt * (double)up[r * up_stride]);
        }
    }
}

// The cross-entropy kernels need more than 64 registers, so they cannot take 1024-thread blocks;
// warp_rows launches them with 256.
KERNEL void __launch_bounds__(256) ce_fwd_f32(RowGeo g, const float* x, const i64* tc, const float* tp,
                                              const float* w, float* loss, float* lse, float* wrow, RgStatus* st) {
    ce_fwd<float>(g, x, tc, tp, w, loss, lse, wrow, st);
}
KERNEL void __launch_bounds__(256) ce_bwd_f32(RowGeo g, const float* x, const i64* tc, const float* tp,
                                              const float* w, const float* lse, const float* up, i64 ups, float* dx,
                                              float* dt) {
    ce_bwd<float>(g, x, tc, tp, w, lse, up, ups, dx, dt);
}
KERNEL void ce_coef_f32(RowGeo g, const i64* tc, const float* w, float* a) { ce_coef<float>(g, tc, w, a); }
KERNEL void nll_fwd_f32(RowGeo g, const float* x, const i64* t, const float* w, float* loss, float* wrow,
                        RgStatus* st) {
    nll_fwd<float>(g, x, t, w, loss, wrow, st);
}
KERNEL void nll_bwd_f32(RowGeo g, const i64* t, const float* w, const float* up, i64 ups, float* dx) {
    nll_bwd<float>(g, t, w, up, ups, dx);
}
KERNEL void __launch_bounds__(256) ce_fwd_f64(RowGeo g, const double* x, const i64* tc, const double* tp,
                                              const double* w, double* loss, double* lse, double* wrow, RgStatus* st) {
    ce_fwd<double>(g, x, tc, tp, w, loss, lse, wrow, st);
}
KERNEL void __launch_bounds__(256) ce_bwd_f64(RowGeo g, const double* x, const i64* tc, const double* tp,
                                              const double* w, const double* lse, const double* up, i64 ups,
                                              double* dx, double* dt) {
    ce_bwd<double>(g, x, tc, tp, w, lse, up, ups, dx, dt);
}
KERNEL void ce_coef_f64(RowGeo g, const i64* tc, const double* w, double* a) { ce_coef<double>(g, tc, w, a); }
KERNEL void nll_fwd_f64(RowGeo g, const double* x, const i64* t, const double* w, double* loss, double* wrow,
                        RgStatus* st) {
    nll_fwd<double>(g, x, t, w, loss, wrow, st);
}
KERNEL void nll_bwd_f64(RowGeo g, const i64* t, const double* w, const double* up, i64 ups, double* dx) {
    nll_bwd<double>(g, t, w, up, ups, dx);
}

// ----- pointwise losses ------------------------------------------------------------------------

// `kind` is a PointKind (`P_*`, declared from src/backend/cuda/op_codes.rs).
template <typename T>
RG_DEV void point_loss(int kind, i64 n, const T* x, const T* t, const T* w, const T* pw, T* out, RgStatus* st) {
    GRID_LOOP(i, n) {
        T xv = x[i], tv = t[i];
        T wv = w ? w[i] : (T)1;
        T pv = pw ? pw[i] : (T)1;
        T r;
        if (kind == P_MSE) {
            T d = xv - tv;
            r = d * d * wv;
        } else if (kind == P_L1) {
            r = rg_fabs(xv - tv) * wv;
        } else if (kind == P_BCE) {
            if (!(xv >= (T)0 && xv <= (T)1)) rg_report(st, RG_ERR_BCE_INPUT, 0, 0, 0);
            if (!(tv >= (T)0 && tv <= (T)1)) rg_report(st, RG_ERR_BCE_TARGET, 0, 0, 0);
            T log1m = rg_log1p(-xv), logx = rg_log(xv);
            if (log1m < (T)-100) log1m = (T)-100;
            if (logx < (T)-100) logx = (T)-100;
            r = ((tv - (T)1) * log1m - tv * logx) * wv;
        } else {  // P_BCE_LOGITS
            T min0 = xv < (T)0 ? xv : (T)0;
            T log_sig = min0 - rg_log1p(rg_exp(-rg_fabs(xv)));
            T lw = (pv - (T)1) * tv + (T)1;
            r = (((T)1 - tv) * xv - log_sig * lw) * wv;
        }
        out[i] = r;
    }
}

KERNEL void point_loss_f32(int kind, i64 n, const float* x, const float* t, const float* w, const float* pw, float* out,
                           RgStatus* st) {
    point_loss<float>(kind, n, x, t, w, pw, out, st);
}
KERNEL void point_loss_f64(int kind, i64 n, const double* x, const double* t, const double* w, const double* pw,
                           double* out, RgStatus* st) {
    point_loss<double>(kind, n, x, t, w, pw, out, st);
}

// ----- batch normalisation over (N, C, S) ---------------------------------------------------------

struct NormGeo {
    i64 n, c, s;
};

// Per-channel mean and biased variance (two passes), one block per channel.
template <typename T>
RG_DEV void bn_stats(const NormGeo g, const T* x, double* mean, double* var) {
    __shared__ double scratch[32];
    i64 m = g.n * g.s;
    for (i64 ch = blockIdx.x; ch < g.c; ch += gridDim.x) {
        double s = 0.0;
        for (i64 i = threadIdx.x; i < m; i += blockDim.x) {
            i64 n = i / g.s, k = i - n * g.s;
            s += (double)x[(n * g.c + ch) * g.s + k];
        }
        s = block_sum(s, scratch);
        double mu = s / (double)m;
        double q = 0.0;
        for (i64 i = threadIdx.x; i < m; i += blockDim.x) {
            i64 n = i / g.s, k = i - n * g.s;
            double d = (double)x[(n * g.c + ch) * g.s + k] - mu;
            q += d * d;
        }
        q = block_sum(q, scratch);
        if (threadIdx.x == 0) {
            mean[ch] = mu;
            var[ch] = q / (double)m;
        }
        __syncthreads();
    }
}

// New running statistics (unbiased variance; written to nrm / nrv, which the host copies into the
// running tensors) and invstd = 1 / sqrt(var + eps), per channel.
template <typename T>
RG_DEV void bn_update(i64 c, const double* mean, const double* var, const T* rm, const T* rv, T* nrm, T* nrv,
                      double momentum, double m, double eps, double* invstd) {
    GRID_LOOP(ch, c) {
        if (rm) nrm[ch] = (T)(momentum * mean[ch] + (1.0 - momentum) * (double)rm[ch]);
        if (rv) nrv[ch] = (T)(momentum * (var[ch] * m / (m - 1.0)) + (1.0 - momentum) * (double)rv[ch]);
        invstd[ch] = 1.0 / sqrt(var[ch] + eps);
    }
}

// Evaluation: the running statistics as mean and invstd.
template <typename T>
RG_DEV void bn_eval_stats(i64 c, const T* rm, const T* rv, double eps, double* mean, double* invstd) {
    GRID_LOOP(ch, c) {
        mean[ch] = (double)rm[ch];
        invstd[ch] = 1.0 / sqrt((double)rv[ch] + eps);
    }
}

// y = x * alpha + beta with alpha = invstd * w, beta = b - mean * invstd * w (as the CPU).
template <typename T>
RG_DEV void bn_norm(const NormGeo g, const T* x, const double* mean, const double* invstd, const T* w, const T* b,
                    T* y) {
    GRID_LOOP(i, g.n * g.c * g.s) {
        i64 ch = (i / g.s) % g.c;
        double wv = w ? (double)w[ch] : 1.0, bv = b ? (double)b[ch] : 0.0;
        T alpha = (T)(invstd[ch] * wv);
        T beta = (T)(bv - mean[ch] * invstd[ch] * wv);
        y[i] = x[i] * alpha + beta;
    }
}

// Per channel: sum(g) and sum(g * (x - mean)); one block per channel.
template <typename T>
RG_DEV void bn_bwd_sums(const NormGeo g, const T* gy, const T* x, const double* mean, double* sum_g, double* dot) {
    __shared__ double scratch[32];
    i64 m = g.n * g.s;
    for (i64 ch = blockIdx.x; ch < g.c; ch += gridDim.x) {
        double mu = mean[ch];
        double s = 0.0, d = 0.0;
        for (i64 i = threadIdx.x; i < m; i += blockDim.x) {
            i64 n = i / g.s, k = i - n * g.s;
            i64 j = (n * g.c + ch) * g.s + k;
            double gv = (double)gy[j];
            s += gv;
            d += gv * ((double)x[j] - mu);
        }
        s = block_sum(s, scratch);
        d = block_sum(d, scratch);
        if (threadIdx.x == 0) {
            sum_g[ch] = s;
            dot[ch] = d;
        }
        __syncthreads();
    }
}

// dx = (g - (x - mean) * k - gmean) * scale; also the weight and bias gradients (thread per
// channel part).
template <typename T>
RG_DEV void bn_bwd_input(const NormGeo g, const T* gy, const T* x, const double* mean, const double* invstd,
                         const double* sum_g, const double* dot, const T* w, int training, T* dx) {
    double m = (double)(g.n * g.s);
    GRID_LOOP(i, g.n * g.c * g.s) {
        i64 ch = (i / g.s) % g.c;
        double is = invstd[ch];
        double scale = is * (w ? (double)w[ch] : 1.0);
        double k = training ? dot[ch] * is * is / m : 0.0;
        double gmean = training ? sum_g[ch] / m : 0.0;
        T kt = (T)k, gm = (T)gmean, sc = (T)scale, mu = (T)mean[ch];
        dx[i] = (gy[i] - (x[i] - mu) * kt - gm) * sc;
    }
}

template <typename T>
RG_DEV void bn_bwd_params(i64 c, const double* sum_g, const double* dot, const double* invstd, T* gw, T* gb) {
    GRID_LOOP(ch, c) {
        if (gw) gw[ch] = (T)(dot[ch] * invstd[ch]);
        if (gb) gb[ch] = (T)sum_g[ch];
    }
}

KERNEL void bn_stats_f32(NormGeo g, const float* x, double* mean, double* var) { bn_stats<float>(g, x, mean, var); }
KERNEL void bn_update_f32(i64 c, const double* mean, const double* var, const float* rm, const float* rv, float* nrm,
                          float* nrv, double momentum, double m, double eps, double* invstd) {
    bn_update<float>(c, mean, var, rm, rv, nrm, nrv, momentum, m, eps, invstd);
}
KERNEL void bn_eval_stats_f32(i64 c, const float* rm, const float* rv, double eps, double* mean, double* invstd) {
    bn_eval_stats<float>(c, rm, rv, eps, mean, invstd);
}
KERNEL void bn_norm_f32(NormGeo g, const float* x, const double* mean, const double* invstd, const float* w,
                        const float* b, float* y) {
    bn_norm<float>(g, x, mean, invstd, w, b, y);
}
KERNEL void bn_bwd_sums_f32(NormGeo g, const float* gy, const float* x, const double* mean, double* sum_g,
                            double* dot) {
    bn_bwd_sums<float>(g, gy, x, mean, sum_g, dot);
}
KERNEL void bn_bwd_input_f32(NormGeo g, const float* gy, const float* x, const double* mean, const double* invstd,
                             const double* sum_g, const double* dot, const float* w, int training, float* dx) {
    bn_bwd_input<float>(g, gy, x, mean, invstd, sum_g, dot, w, training, dx);
}
KERNEL void bn_bwd_params_f32(i64 c, const double* sum_g, const double* dot, const double* invstd, float* gw,
                              float* gb) {
    bn_bwd_params<float>(c, sum_g, dot, invstd, gw, gb);
}
KERNEL void bn_stats_f64(NormGeo g, const double* x, double* mean, double* var) { bn_stats<double>(g, x, mean, var); }
KERNEL void bn_update_f64(i64 c, const double* mean, const double* var, const double* rm, const double* rv,
                          double* nrm, double* nrv, double momentum, double m, double eps, double* invstd) {
    bn_update<double>(c, mean, var, rm, rv, nrm, nrv, momentum, m, eps, invstd);
}
KERNEL void bn_eval_stats_f64(i64 c, const double* rm, const double* rv, double eps, double* mean, double* invstd) {
    bn_eval_stats<double>(c, rm, rv, eps, mean, invstd);
}
KERNEL void bn_norm_f64(NormGeo g, const double* x, const double* mean, const double* invstd, const double* w,
                        const double* b, double* y) {
    bn_norm<double>(g, x, mean, invstd, w, b, y);
}
KERNEL void bn_bwd_sums_f64(NormGeo g, const double* gy, const double* x, const double* mean, double* sum_g,
                            double* dot) {
    bn_bwd_sums<double>(g, gy, x, mean, sum_g, dot);
}
KERNEL void bn_bwd_input_f64(NormGeo g, const double* gy, const double* x, const double* mean, const double* invstd,
                             const double* sum_g, const double* dot, const double* w, int training, double* dx) {
    bn_bwd_input<double>(g, gy, x, mean, invstd, sum_g, dot, w, training, dx);
}
KERNEL void bn_bwd_params_f64(i64 c, const double* sum_g, const double* dot, const double* invstd, double* gw,
                              double* gb) {
    bn_bwd_params<double>(c, sum_g, dot, invstd, gw, gb);
}
