// Random fills from Philox4x32-10 with the CPU's counter arithmetic (src/tensor/random.rs,
// fill_from_stream): value i of a draw that reserved counters from `start` takes the Philox block
// `start + i / per_block` and its words `(i % per_block) * words_per_value ..`, where
// per_block = 4 / words_per_value. So a seed gives the same numbers on every device (normal
// samples may differ in the last bit of float64, from the device's log and cos).

RG_DEV U4 block_for(u64 key, u64 start, i64 i, int per_block) { return philox4x32(key, start + (u64)(i / per_block)); }

RG_DEV double box_muller(double u1, double u2) {
    u1 = 1.0 - u1;  // (0, 1]: the log is finite
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

KERNEL void rand_uniform_f32(u64 key, u64 start, i64 n, float* out) {
    GRID_LOOP(i, n) {
        U4 b = block_for(key, start, i, 4);
        out[i] = uniform_f32(u4_get(b, (int)(i % 4)));
    }
}

KERNEL void rand_uniform_f64(u64 key, u64 start, i64 n, double* out) {
    GRID_LOOP(i, n) {
        U4 b = block_for(key, start, i, 2);
        int w = (int)(i % 2) * 2;
        out[i] = uniform_f64(u4_get(b, w), u4_get(b, w + 1));
    }
}

KERNEL void rand_normal_f32(u64 key, u64 start, i64 n, float* out) {
    GRID_LOOP(i, n) {
        U4 b = block_for(key, start, i, 2);
        int w = (int)(i % 2) * 2;
        out[i] = (float)box_muller((double)uniform_f32(u4_get(b, w)), (double)uniform_f32(u4_get(b, w + 1)));
    }
}

KERNEL void rand_normal_f64(u64 key, u64 start, i64 n, double* out) {
    GRID_LOOP(i, n) {
        U4 b = philox4x32(key, start + (u64)i);
        out[i] = box_muller(uniform_f64(b.x, b.y), uniform_f64(b.z, b.w));
    }
}

// Integers in [low, low + range).
KERNEL void rand_int_i64(u64 key, u64 start, i64 n, i64 low, u64 range, i64* out) {
    GRID_LOOP(i, n) {
        U4 b = block_for(key, start, i, 2);
        int w = (int)(i % 2) * 2;
        u64 r = (((u64)u4_get(b, w) << 32) | (u64)u4_get(b, w + 1)) % range;
        out[i] = (i64)((u64)low + r);
    }
}

// Dropout's keep mask scaled by 1 / (1 - p): 0 with probability p.
template <typename T>
RG_DEV void dropout_mask(u64 key, u64 start, i64 n, double p, double scale, T* out) {
    GRID_LOOP(i, n) {
        U4 b = block_for(key, start, i, 4);
        double u = (double)uniform_f32(u4_get(b, (int)(i % 4)));
        out[i] = u < p ? (T)0 : (T)scale;
    }
}
KERNEL void dropout_mask_f32(u64 key, u64 start, i64 n, double p, double scale, float* out) {
    dropout_mask<float>(key, start, n, p, scale, out);
}
KERNEL void dropout_mask_f64(u64 key, u64 start, i64 n, double p, double scale, double* out) {
    dropout_mask<double>(key, start, n, p, scale, out);
}
