// Fused optimizer updates over one contiguous parameter and its state, with the CPU's formulas
// and order of operations (src/optim/sgd.rs, adam.rs). Hyper-parameters arrive in double and are
// cast to the element type first, as PyTorch casts Python scalars.

struct SgdParams {
    double lr, momentum, dampening, weight_decay;
    int maximize, nesterov, first, has_buf;
};

template <typename T>
RG_DEV void sgd(const SgdParams q, i64 n, T* p, const T* g, T* buf) {
    const T neg_lr = (T)(-q.lr), mom = (T)q.momentum, omd = (T)(1.0 - q.dampening), wd = (T)q.weight_decay;
    const bool use_wd = q.weight_decay != 0.0;
    GRID_LOOP(i, n) {
        T d = q.maximize ? -g[i] : g[i];
        if (use_wd) d = d + wd * p[i];
        if (q.has_buf) {
            T nb = q.first ? d : buf[i] * mom + omd * d;
            buf[i] = nb;
            d = q.nesterov ? d + mom * nb : nb;
        }
        p[i] += neg_lr * d;
    }
}

struct AdamParams {
    double weight_decay, decay, lerp_weight, beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size;
    int maximize, wd_mode, lerp_small, amsgrad;  // wd_mode: 0 none, 1 L2, 2 decoupled
};

template <typename T>
RG_DEV void adam(const AdamParams q, i64 n, T* p, const T* g, T* m, T* v, T* vmax) {
    const T wd = (T)q.weight_decay, decay = (T)q.decay, lw = (T)q.lerp_weight;
    const T omlw = (T)1 - lw, b2 = (T)q.beta2, omb2 = (T)q.one_minus_beta2;
    const T bc2 = (T)q.bias_correction2_sqrt, eps = (T)q.eps, nss = (T)q.neg_step_size;
    GRID_LOOP(i, n) {
        T gi = q.maximize ? -g[i] : g[i];
        T pi = p[i];
        if (q.wd_mode == 2) pi = pi * decay;
        else if (q.wd_mode == 1) gi += wd * pi;
        T mi = m[i];
        mi = q.lerp_small ? mi + lw * (gi - mi) : gi - (gi - mi) * omlw;
        T vi = v[i] * b2 + omb2 * gi * gi;
        T second = vi;
        if (q.amsgrad) {
            T vm = vmax[i];
            vm = (rg_isnan(vm) || rg_isnan(vi)) ? vm + vi : (vm >= vi ? vm : vi);
            vmax[i] = vm;
            second = vm;
        }
        T denom = rg_sqrt(second) / bc2 + eps;
        pi += nss * mi / denom;
        p[i] = pi;
        m[i] = mi;
        v[i] = vi;
    }
}

KERNEL void sgd_f32(SgdParams q, i64 n, float* p, const float* g, float* buf) { sgd<float>(q, n, p, g, buf); }
KERNEL void sgd_f64(SgdParams q, i64 n, double* p, const double* g, double* buf) { sgd<double>(q, n, p, g, buf); }
KERNEL void adam_f32(AdamParams q, i64 n, float* p, const float* g, float* m, float* v, float* vmax) {
    adam<float>(q, n, p, g, m, v, vmax);
}
KERNEL void adam_f64(AdamParams q, i64 n, double* p, const double* g, double* m, double* v, double* vmax) {
    adam<double>(q, n, p, g, m, v, vmax);
}
