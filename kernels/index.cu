// Index kernels: index_select / index_add along a dim, gather / scatter (scatter_add), and
// advanced indexing (`x[idx0, idx1, ...]`) and its put form, with int64 positions read on the
// device. Negative positions count from the end; an out-of-range position is skipped and reported
// (the host raises PyTorch's IndexError at the next synchronising call).

// (outer, size, inner) around the indexed dim of a contiguous tensor.
struct DimGeo {
    i64 outer, size, inner;
    i64 count;  // positions in the index
    i64 dim;    // the dim (for messages)
};

// Atomic accumulation for every element type (bool: logical or).
RG_DEV void acc_add(float* p, float v) { atomicAdd(p, v); }
RG_DEV void acc_add(double* p, double v) { atomicAdd(p, v); }
RG_DEV void acc_add(i64* p, i64 v) { atomicAdd((u64*)p, (u64)v); }
// Every writer of a bool stores the same 1, so a plain byte store loses nothing; an atomicOr on
// the enclosing 32-bit word would reach past the end of a buffer whose length is not a multiple
// of 4 (compute-sanitizer reports it).
RG_DEV void acc_add(u8* p, u8 v) {
    if (v) *(volatile u8*)p = 1;
}

RG_DEV bool fix_pos(i64& v, i64 size) {
    if (v < -size || v >= size) return false;
    if (v < 0) v += size;
    return true;
}

// out[o, j, i] = src[o, idx[j], i]
template <typename T>
RG_DEV void index_select(const DimGeo g, const T* src, const i64* idx, T* out, RgStatus* st) {
    GRID_LOOP(e, g.outer * g.count * g.inner) {
        i64 i = e % g.inner, t = e / g.inner;
        i64 j = t % g.count, o = t / g.count;
        i64 v = idx[j];
        if (!fix_pos(v, g.size)) {
            rg_report(st, RG_ERR_INDEX_SELECT, v, g.dim, g.size);
            out[e] = (T)0;
            continue;
        }
        out[e] = src[(o * g.size + v) * g.inner + i];
    }
}

// out[o, idx[j], i] += src[o, j, i]  (out holds a copy of self)
template <typename T>
RG_DEV void index_add(const DimGeo g, const T* src, const i64* idx, T* out, RgStatus* st) {
    GRID_LOOP(e, g.outer * g.count * g.inner) {
        i64 i = e % g.inner, t = e / g.inner;
        i64 j = t % g.count, o = t / g.count;
        i64 v = idx[j];
        if (!fix_pos(v, g.size)) {
            rg_report(st, RG_ERR_INDEX, v, g.dim, g.size);
            continue;
        }
        acc_add(out + (o * g.size + v) * g.inner + i, src[e]);
    }
}

// gather / scatter over an index of shape ishape (contiguous): element e of the index has
// coordinates c; the addressed element of self / out has c with c[dim] replaced by index[e].
struct GatherGeo {
    int ndim, dim;
    i64 n;                        // elements of the index
    i64 size;                     // self.shape[dim]
    i64 ishape[RG_MAX_DIMS];      // index shape
    i64 self_st[RG_MAX_DIMS];     // strides of self / out (contiguous)
    i64 src_st[RG_MAX_DIMS];      // strides of src (scatter) in elements
    i64 src_off;
};

RG_DEV void gather_offsets(const GatherGeo& g, i64 e, i64 pos, i64& self_off, i64& src_off) {
    self_off = 0;
    src_off = g.src_off;
    for (int d = g.ndim - 1; d >= 0; --d) {
        i64 c = e % g.ishape[d];
        e /= g.ishape[d];
        self_off += (d == g.dim ? pos : c) * g.self_st[d];
        src_off += c * g.src_st[d];
    }
}

template <typename T>
RG_DEV void gather(const GatherGeo g, const T* self, const i64* idx, T* out, RgStatus* st) {
    GRID_LOOP(e, g.n) {
        i64 v = idx[e];
        if (!fix_pos(v, g.size)) {
            rg_report(st, RG_ERR_INDEX, v, g.dim, g.size);
            out[e] = (T)0;
            continue;
        }
        i64 so, unused;
        gather_offsets(g, e, v, so, unused);
        out[e] = self[so];
    }
}

template <typename T, bool ACC>
RG_DEV void scatter(const GatherGeo g, const T* src, const i64* idx, T* out, RgStatus* st) {
    GRID_LOOP(e, g.n) {
        i64 v = idx[e];
        if (!fix_pos(v, g.size)) {
            rg_report(st, RG_ERR_INDEX, v, g.dim, g.size);
            continue;
        }
        i64 oo, so;
        gather_offsets(g, e, v, oo, so);
        if (ACC)
            acc_add(out + oo, src[so]);
        else
            out[oo] = src[so];
    }
}

// Advanced indexing in leading form: the k indexed dims first. pos is [k, n] (broadcast,
// contiguous); the rest dims (up to 8) follow. src is strided; out is [n, rest] contiguous.
struct LeadGeo {
    int k, rdim;
    i64 n, rest;
    i64 lsize[RG_MAX_DIMS], lst[RG_MAX_DIMS], ldim[RG_MAX_DIMS];  // indexed dims: size, stride, original dim
    i64 rshape[RG_MAX_DIMS], rst[RG_MAX_DIMS];                    // rest dims of src (or dst)
    i64 off;
    i64 vst_lead;                                                 // values: stride of the n index
    i64 vrst[RG_MAX_DIMS];                                        // values: strides of the rest dims
    i64 voff;
};

RG_DEV bool lead_offset(const LeadGeo& g, const i64* pos, i64 j, i64& off, RgStatus* st) {
    off = g.off;
    for (int d = 0; d < g.k; ++d) {
        i64 v = pos[(i64)d * g.n + j];
        if (!fix_pos(v, g.lsize[d])) {
            rg_report(st, RG_ERR_INDEX, v, g.ldim[d], g.lsize[d]);
            return false;
        }
        off += v * g.lst[d];
    }
    return true;
}

RG_DEV i64 rest_offset(int nd, const i64* shape, const i64* st, i64 r) {
    i64 off = 0;
    for (int d = nd - 1; d >= 0; --d) {
        i64 c = r % shape[d];
        r /= shape[d];
        off += c * st[d];
    }
    return off;
}

template <typename T>
RG_DEV void index_lead(const LeadGeo g, const T* src, const i64* pos, T* out, RgStatus* st) {
    GRID_LOOP(e, g.n * g.rest) {
        i64 j = e / g.rest, r = e - j * g.rest;
        i64 off;
        if (!lead_offset(g, pos, j, off, st)) {
            out[e] = (T)0;
            continue;
        }
        out[e] = src[off + rest_offset(g.rdim, g.rshape, g.rst, r)];
    }
}

// out (a contiguous copy of dst in leading form) gets values[j, r] written or added at pos[:, j].
template <typename T, bool ACC>
RG_DEV void index_put_lead(const LeadGeo g, const T* values, const i64* pos, T* out, RgStatus* st) {
    GRID_LOOP(e, g.n * g.rest) {
        i64 j = e / g.rest, r = e - j * g.rest;
        i64 off;
        if (!lead_offset(g, pos, j, off, st)) continue;
        off += rest_offset(g.rdim, g.rshape, g.rst, r);
        T v = values[g.voff + j * g.vst_lead + rest_offset(g.rdim, g.rshape, g.vrst, r)];
        if (ACC)
            acc_add(out + off, v);
        else
            out[off] = v;
    }
}

KERNEL void index_select_f32(DimGeo g, const float* src, const i64* idx, float* out, RgStatus* st) {
    index_select<float>(g, src, idx, out, st);
}
KERNEL void gather_f32(GatherGeo g, const float* self, const i64* idx, float* out, RgStatus* st) {
    gather<float>(g, self, idx, out, st);
}
KERNEL void index_lead_f32(LeadGeo g, const float* src, const i64* pos, float* out, RgStatus* st) {
    index_lead<float>(g, src, pos, out, st);
}
KERNEL void scatter_set_f32(GatherGeo g, const float* src, const i64* idx, float* out, RgStatus* st) {
    scatter<float, false>(g, src, idx, out, st);
}
KERNEL void index_put_lead_set_f32(LeadGeo g, const float* values, const i64* pos, float* out, RgStatus* st) {
    index_put_lead<float, false>(g, values, pos, out, st);
}
KERNEL void index_select_f64(DimGeo g, const double* src, const i64* idx, double* out, RgStatus* st) {
    index_select<double>(g, src, idx, out, st);
}
KERNEL void gather_f64(GatherGeo g, const double* self, const i64* idx, double* out, RgStatus* st) {
    gather<double>(g, self, idx, out, st);
}
KERNEL void index_lead_f64(LeadGeo g, const double* src, const i64* pos, double* out, RgStatus* st) {
    index_lead<double>(g, src, pos, out, st);
}
KERNEL void scatter_set_f64(GatherGeo g, const double* src, const i64* idx, double* out, RgStatus* st) {
    scatter<double, false>(g, src, idx, out, st);
}
KERNEL void index_put_lead_set_f64(LeadGeo g, const double* values, const i64* pos, double* out, RgStatus* st) {
    index_put_lead<double, false>(g, values, pos, out, st);
}
KERNEL void index_select_i64(DimGeo g, const i64* src, const i64* idx, i64* out, RgStatus* st) {
    index_select<i64>(g, src, idx, out, st);
}
KERNEL void gather_i64(GatherGeo g, const i64* self, const i64* idx, i64* out, RgStatus* st) {
    gather<i64>(g, self, idx, out, st);
}
KERNEL void index_lead_i64(LeadGeo g, const i64* src, const i64* pos, i64* out, RgStatus* st) {
    index_lead<i64>(g, src, pos, out, st);
}
KERNEL void scatter_set_i64(GatherGeo g, const i64* src, const i64* idx, i64* out, RgStatus* st) {
    scatter<i64, false>(g, src, idx, out, st);
}
KERNEL void index_put_lead_set_i64(LeadGeo g, const i64* values, const i64* pos, i64* out, RgStatus* st) {
    index_put_lead<i64, false>(g, values, pos, out, st);
}
KERNEL void index_select_u8(DimGeo g, const u8* src, const i64* idx, u8* out, RgStatus* st) {
    index_select<u8>(g, src, idx, out, st);
}
KERNEL void gather_u8(GatherGeo g, const u8* self, const i64* idx, u8* out, RgStatus* st) {
    gather<u8>(g, self, idx, out, st);
}
KERNEL void index_lead_u8(LeadGeo g, const u8* src, const i64* pos, u8* out, RgStatus* st) {
    index_lead<u8>(g, src, pos, out, st);
}
KERNEL void scatter_set_u8(GatherGeo g, const u8* src, const i64* idx, u8* out, RgStatus* st) {
    scatter<u8, false>(g, src, idx, out, st);
}
KERNEL void index_put_lead_set_u8(LeadGeo g, const u8* values, const i64* pos, u8* out, RgStatus* st) {
    index_put_lead<u8, false>(g, values, pos, out, st);
}
KERNEL void index_add_f32(DimGeo g, const float* src, const i64* idx, float* out, RgStatus* st) {
    index_add<float>(g, src, idx, out, st);
}
KERNEL void scatter_add_f32(GatherGeo g, const float* src, const i64* idx, float* out, RgStatus* st) {
    scatter<float, true>(g, src, idx, out, st);
}
KERNEL void index_put_lead_add_f32(LeadGeo g, const float* values, const i64* pos, float* out, RgStatus* st) {
    index_put_lead<float, true>(g, values, pos, out, st);
}
KERNEL void index_add_f64(DimGeo g, const double* src, const i64* idx, double* out, RgStatus* st) {
    index_add<double>(g, src, idx, out, st);
}
KERNEL void scatter_add_f64(GatherGeo g, const double* src, const i64* idx, double* out, RgStatus* st) {
    scatter<double, true>(g, src, idx, out, st);
}
KERNEL void index_put_lead_add_f64(LeadGeo g, const double* values, const i64* pos, double* out, RgStatus* st) {
    index_put_lead<double, true>(g, values, pos, out, st);
}
KERNEL void index_add_i64(DimGeo g, const i64* src, const i64* idx, i64* out, RgStatus* st) {
    index_add<i64>(g, src, idx, out, st);
}
KERNEL void scatter_add_i64(GatherGeo g, const i64* src, const i64* idx, i64* out, RgStatus* st) {
    scatter<i64, true>(g, src, idx, out, st);
}
KERNEL void index_put_lead_add_i64(LeadGeo g, const i64* values, const i64* pos, i64* out, RgStatus* st) {
    index_put_lead<i64, true>(g, values, pos, out, st);
}
KERNEL void index_add_u8(DimGeo g, const u8* src, const i64* idx, u8* out, RgStatus* st) {
    index_add<u8>(g, src, idx, out, st);
}
KERNEL void scatter_add_u8(GatherGeo g, const u8* src, const i64* idx, u8* out, RgStatus* st) {
    scatter<u8, true>(g, src, idx, out, st);
}
KERNEL void index_put_lead_add_u8(LeadGeo g, const u8* values, const i64* pos, u8* out, RgStatus* st) {
    index_put_lead<u8, true>(g, values, pos, out, st);
}
