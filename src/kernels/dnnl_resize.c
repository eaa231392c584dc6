/* dnnl_resize.c — Resize and Upsample in the oneDNN backend: lowp's own separable kernel on
 * the layouts oneDNN steps keep (plain NCHW, channels-last, channel-blocked nChw8c/16c), so
 * the convolutions around a U-Net's upsampling keep theirs. It samples exactly as the
 * reference kernel does (the same taps, ops/resize.h) for every mode and
 * coordinate_transformation_mode; oneDNN's resampling primitive is not used because its
 * coordinate rules match ONNX's only for some of them.
 *
 * y[o, h, w, :] = sum_i wh_i * (sum_j ww_j * x[o, ih_i, iw_j, :]), the inner sum done once per
 * source row into a small cache of rows (taps of neighbouring outputs overlap), in float;
 * the reference sums the products wh_i * ww_j in double. Nearest copies exactly.
 *
 * 8-bit data (docs/engine.md, "INT8 that flows"): a source stored as u8/s8 integers q (a
 * DequantizeLinear output: (q - zp) * s) is read as such, and a Resize followed by
 * QuantizeLinear -> DequantizeLinear writes the pair's integers. The sums run in the result's
 * units: x_units = (q - zp_x) * (s_x / s_y) (s_x alone for a float result, 1 / s_y for a float
 * source), y = round_half_even(y_units) + zp_y, saturated -- the reference's
 * round(interp(dequantized) / s_y) up to float rounding, so at most one step apart at a tie;
 * nearest with equal parameters copies the integers exactly. */
#include <omp.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "ops/resize.h"

#define RS_RING 8               /* cached source rows per thread (taps span at most 4) */

typedef enum rs_layout { RS_PLAIN, RS_NHWC, RS_BLOCK8, RS_BLOCK16 } rs_layout;

static const char *const layout_name[] = { "plain", "channels-last", "nChw8c", "nChw16c" };

typedef struct rs_axis {
    int n;
    bool outside;               /* the extrapolation value (tf_crop_and_resize) */
    int64_t idx[4];             /* source offsets: index times the stride along the axis */
    float w[4];
} rs_axis;

/* How the result is stored: float, the 8-bit integers, or float dequantized from them (a
 * requantized result read by float kernels). */
typedef enum rs_out { RS_OUT_F32, RS_OUT_Q, RS_OUT_QF } rs_out;

typedef struct rs_state {
    dnnl_memory_t src, dst;
    dnnl_data_type_t src_dt;                /* f32, u8 or s8 */
    float src_mul, src_zp;                  /* x_units = (x - src_zp) * src_mul */
    rs_out out;
    dnnl_data_type_t dst_dt;
    int32_t dst_zp, dst_lo, dst_hi;
    float dst_scale;                        /* RS_OUT_QF: (q - zp) * dst_scale */
    int64_t outer, ih, iw, oh, ow, vec;     /* x: [outer][ih][iw][vec], y: [outer][oh][ow][vec] */
    int64_t chunks;                         /* output row ranges per outer index */
    rs_axis *hx, *wx;                       /* per output row / column */
    bool any_outside;
    float extrap;
    int threads;
    float *ring;                            /* threads x (RS_RING + 1) rows of ow * vec floats
                                               (the last: an 8-bit result's row in float) */
} rs_state;

static void rs_free(void *arg)
{
    rs_state *s = arg;
    if (!s)
        return;
    free(s->hx);
    free(s->wx);
    free(s->ring);
    free(s);
}

/* The horizontal pass of source row xr (elements of type T) into `row` (ow * vec floats, in
 * the result's units). */
#define RS_ROW(T)                                                                                  \
    static void rs_row_##T(const rs_state *s, const T *xr, float *row)                             \
    {                                                                                              \
        int64_t V = s->vec;                                                                        \
        float zp = s->src_zp, mul = s->src_mul;                                                    \
        for (int64_t ow = 0; ow < s->ow; ow++) {                                                   \
            const rs_axis *b = &s->wx[ow];                                                         \
            float *d = row + ow * V;                                                               \
            if (b->n == 0) {                                                                       \
                memset(d, 0, (size_t)V * sizeof *d);                                               \
                continue;                                                                          \
            }                                                                                      \
            const T *x0 = xr + b->idx[0];                                                          \
            float w0 = b->w[0] * mul;                                                              \
            _Pragma("omp simd") for (int64_t v = 0; v < V; v++) d[v] = w0 * ((float)x0[v] - zp);   \
            for (int j = 1; j < b->n; j++) {                                                       \
                const T *xj = xr + b->idx[j];                                                      \
                float wj = b->w[j] * mul;                                                          \
                _Pragma("omp simd") for (int64_t v = 0; v < V; v++) d[v] += wj * ((float)xj[v] - zp); \
            }                                                                                      \
        }                                                                                          \
    }
RS_ROW(float)
RS_ROW(uint8_t)
RS_ROW(int8_t)

static void rs_row(const rs_state *s, const void *xr, float *row)
{
    if (s->src_dt == dnnl_u8)
        rs_row_uint8_t(s, xr, row);
    else if (s->src_dt == dnnl_s8)
        rs_row_int8_t(s, xr, row);
    else
        rs_row_float(s, xr, row);
}

static size_t dt_size(dnnl_data_type_t dt) { return dt == dnnl_u8 || dt == dnnl_s8 ? 1 : 4; }

/* lp_requant's rounding in a form that vectorizes: v clamped to a range that saturates either
 * way, rounded half to even by adding and subtracting 1.5 * 2^23, plus the zero point,
 * clamped; NaN gives the zero point. */
static inline float rs_q(float v, float zp, float lo, float hi)
{
    const float magic = 12582912.0f;
    float c = v < -512.f ? -512.f : v > 512.f ? 512.f : v;
    float r = (c + magic) - magic + zp;
    r = r < lo ? lo : r > hi ? hi : r;
    return v == v ? r : zp;
}

/* Row yr (n values in the result's units) stored at y (element offset `at`) as s->out says;
 * 8-bit stores 8 values at a time with SSE2 (the compiler keeps the float -> u8 loop scalar). */
static void rs_store(const rs_state *s, const float *yr, void *y, int64_t at, int64_t n)
{
    const float zp = (float)s->dst_zp, lo = (float)s->dst_lo, hi = (float)s->dst_hi, sc = s->dst_scale;
    int64_t i = 0;
    if (s->out == RS_OUT_QF) {
        float *o = (float *)y + at;
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            o[k] = (rs_q(yr[k], zp, lo, hi) - zp) * sc;
        return;
    }
#if defined(__SSE2__)
    const __m128 vlo = _mm_set1_ps(-512.0f), vhi = _mm_set1_ps(512.0f), vm = _mm_set1_ps(12582912.0f),
                 vz = _mm_set1_ps(zp), qlo = _mm_set1_ps(lo), qhi = _mm_set1_ps(hi);
    for (; i + 8 <= n; i += 8) {
        __m128i q[2];
        for (int h = 0; h < 2; h++) {
            __m128 x4 = _mm_loadu_ps(yr + i + 4 * h);
            __m128 v = _mm_min_ps(_mm_max_ps(x4, vlo), vhi);
            v = _mm_add_ps(_mm_sub_ps(_mm_add_ps(v, vm), vm), vz);
            v = _mm_min_ps(_mm_max_ps(v, qlo), qhi);
            __m128 ord = _mm_cmpord_ps(x4, x4); /* NaN lanes take the zero point */
            v = _mm_or_ps(_mm_and_ps(ord, v), _mm_andnot_ps(ord, vz));
            q[h] = _mm_cvttps_epi32(v);
        }
        __m128i w = _mm_packs_epi32(q[0], q[1]); /* -128..255 fit int16 */
        if (s->dst_dt == dnnl_u8)
            _mm_storel_epi64((__m128i *)((uint8_t *)y + at + i), _mm_packus_epi16(w, w));
        else
            _mm_storel_epi64((__m128i *)((int8_t *)y + at + i), _mm_packs_epi16(w, w));
    }
#endif
    if (s->dst_dt == dnnl_u8) {
        uint8_t *o = (uint8_t *)y + at;
        for (; i < n; i++)
            o[i] = (uint8_t)(int32_t)rs_q(yr[i], zp, lo, hi);
    } else {
        int8_t *o = (int8_t *)y + at;
        for (; i < n; i++)
            o[i] = (int8_t)(int32_t)rs_q(yr[i], zp, lo, hi);
    }
}

static lp_status rs_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    rs_state *s = arg;
    void *xh = NULL, *yh = NULL;
    dnnl_memory_get_data_handle(s->src, &xh);
    dnnl_memory_get_data_handle(s->dst, &yh);
    const size_t xsz = dt_size(s->src_dt);
    const char *x = xh;
    const int64_t rowx = s->iw * s->vec, rowy = s->ow * s->vec, items = s->outer * s->chunks;
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int64_t it = 0; it < items; it++) {
        int tid = omp_get_thread_num();
        float *ring = s->ring + (size_t)(tid < s->threads ? tid : 0) * (RS_RING + 1) * (size_t)rowy;
        float *qrow = ring + (size_t)RS_RING * (size_t)rowy;
        int64_t tag[RS_RING];
        for (int k = 0; k < RS_RING; k++)
            tag[k] = -1;
        int64_t o = it / s->chunks, ck = it % s->chunks;
        int64_t h0 = ck * s->oh / s->chunks, h1 = (ck + 1) * s->oh / s->chunks;
        const char *xo = x + (size_t)(o * s->ih * rowx) * xsz;
        int64_t yo = o * s->oh * rowy;
        for (int64_t oh = h0; oh < h1; oh++) {
            const rs_axis *a = &s->hx[oh];
            float *yr = s->out == RS_OUT_F32 ? (float *)yh + yo + oh * rowy : qrow;
            if (a->outside || a->n == 0) {
                float v = a->outside ? s->extrap : 0.f;
                for (int64_t i = 0; i < rowy; i++)
                    yr[i] = v;
            } else {
                const float *rows[4] = { 0 };
                for (int t = 0; t < a->n; t++) {
                    int64_t ih = a->idx[t] / rowx;
                    int slot = (int)(ih % RS_RING); /* the taps of one row are within 4 rows: distinct slots */
                    if (tag[slot] != ih) {
                        rs_row(s, xo + (size_t)(ih * rowx) * xsz, ring + (size_t)slot * (size_t)rowy);
                        tag[slot] = ih;
                    }
                    rows[t] = ring + (size_t)slot * (size_t)rowy;
                }
                const float *r0 = rows[0];
                float w0 = a->w[0];
#pragma omp simd
                for (int64_t i = 0; i < rowy; i++)
                    yr[i] = w0 * r0[i];
                for (int t = 1; t < a->n; t++) {
                    const float *rt = rows[t];
                    float wt = a->w[t];
#pragma omp simd
                    for (int64_t i = 0; i < rowy; i++)
                        yr[i] += wt * rt[i];
                }
                if (s->any_outside)
                    for (int64_t ow = 0; ow < s->ow; ow++)
                        if (s->wx[ow].outside)
                            for (int64_t v = 0; v < s->vec; v++)
                                yr[ow * s->vec + v] = s->extrap;
            }
            if (s->out != RS_OUT_F32)
                rs_store(s, yr, yh, yo + oh * rowy, rowy);
        }
    }
    return LP_OK;
}

/* The sampling plan of node n for its compiled shapes. */
static lp_status plan_of(const lp_graph *g, const lp_node *n, lp_resize_plan *plan)
{
    lp_tensor hx, hy;
    const lp_tensor *in[LP_MAX_NODE_IO] = { 0 };
    lp_tensor *out[1] = { &hy };
    const lp_value *vx = &g->values[n->in[0]], *vy = &g->values[n->out[0]];
    lp_tensor_view(&hx, vx->dtype, vx->shape.ndim, vx->shape.d, NULL);
    lp_tensor_view(&hy, vy->dtype, vy->shape.ndim, vy->shape.d, NULL);
    in[0] = &hx;
    for (int k = 1; k < n->n_in && k < LP_MAX_NODE_IO; k++)
        in[k] = n->in[k] >= 0 ? g->values[n->in[k]].init : NULL;
    lp_run_ctx c = { .node = n, .opset = lp_graph_opset(g, n->domain), .n_in = n->n_in, .n_out = 1,
                     .in = in, .out = out };
    return lp_resize_plan_make(&c, plan);
}

/* The fast kernel resizes the spatial axes only: batch and channel axes map one to one. */
static bool keeps_outer_axes(const lp_resize_plan *p, const int64_t *dims)
{
    for (int k = 0; k < 2; k++)
        for (int64_t o = 0; o < dims[k]; o++) {
            const lp_resize_taps *t = &p->taps[p->first[k] + o];
            if (t->n != 1 || t->outside || t->idx[0] != o || t->w[0] != 1.0)
                return false;
        }
    return true;
}

bool dn_resize_supports(const lp_graph *g, const lp_node *n)
{
    if (n->n_in < 1 || n->n_out != 1 || n->out[0] < 0 || !dn_value_f32(g, n->in[0]) || !dn_value_f32(g, n->out[0]))
        return false;
    const lp_shape *xs = &g->values[n->in[0]].shape, *ys = &g->values[n->out[0]].shape;
    if (xs->ndim < 3 || xs->ndim > 4 || lp_numel(xs->ndim, xs->d) == 0 || lp_numel(ys->ndim, ys->d) == 0)
        return false;
    for (int k = 1; k < n->n_in; k++)
        if (n->in[k] >= 0 && !dn_value_const(g, n->in[k]))
            return false;
    lp_resize_plan plan;
    lp_status st = plan_of(g, n, &plan);
    bool ok = st == LP_OK && keeps_outer_axes(&plan, ys->d);
    lp_resize_plan_free(&plan);
    return ok;
}

/* How md stores a rank-3/4 float tensor, if it is one of the layouts the kernel walks. */
static bool layout_of(const dnnl_memory_desc_t *md, rs_layout *out)
{
    if (md->format_kind != dnnl_blocked || md->offset0 != 0 || md->extra.flags ||
        (md->data_type != dnnl_f32 && md->data_type != dnnl_u8 && md->data_type != dnnl_s8))
        return false;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int nd = md->ndims;
    const int64_t *d = md->padded_dims, *s = b->strides;
    int64_t hw = nd == 4 ? d[2] * d[3] : d[2], w = d[nd - 1];
    if (b->inner_nblks == 0) {
        bool plain = s[nd - 1] == 1 && (nd == 3 || s[2] == w) && s[1] == hw && s[0] == d[1] * hw;
        bool nhwc = s[1] == 1 && s[nd - 1] == d[1] && (nd == 3 || s[2] == w * d[1]) && s[0] == hw * d[1];
        *out = plain ? RS_PLAIN : RS_NHWC;
        return plain || nhwc;
    }
    if (b->inner_nblks != 1 || b->inner_idxs[0] != 1 || (b->inner_blks[0] != 8 && b->inner_blks[0] != 16))
        return false;
    int64_t k = b->inner_blks[0];
    if (s[nd - 1] != k || (nd == 4 && s[2] != w * k) || s[1] != hw * k || s[0] != d[1] * hw)
        return false;
    *out = k == 8 ? RS_BLOCK8 : RS_BLOCK16;
    return true;
}

static void md_of(dnnl_memory_desc_t *md, rs_layout l, int nd, const int64_t *dims, dnnl_data_type_t dt)
{
    static const dnnl_format_tag_t tags[2][4] = {
        { dnnl_abc, dnnl_acb, dnnl_aBc8b, dnnl_aBc16b },
        { dnnl_abcd, dnnl_acdb, dnnl_aBcd8b, dnnl_aBcd16b },
    };
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, nd, d, dt, tags[nd - 3][l]);
}

/* Per output coordinate of one axis: taps as offsets (index * stride). */
static rs_axis *axis_of(const lp_resize_plan *p, int k, int64_t n_out, int64_t stride, bool *any_outside)
{
    rs_axis *a = calloc((size_t)n_out + 1, sizeof *a);
    for (int64_t o = 0; a && o < n_out; o++) {
        const lp_resize_taps *t = &p->taps[p->first[k] + o];
        a[o].n = t->n;
        a[o].outside = t->outside;
        *any_outside |= t->outside;
        for (int j = 0; j < t->n; j++) {
            a[o].idx[j] = t->idx[j] * stride;
            a[o].w[j] = (float)t->w[j];
        }
    }
    return a;
}

bool dn_md_like(const dnnl_memory_desc_t *like, int nd, const int64_t *dims, dnnl_memory_desc_t *out)
{
    rs_layout l;
    if (nd < 3 || nd > 4 || like->ndims != nd || !layout_of(like, &l)) {
        dn_plain_md(out, dnnl_f32, nd, dims);
        return false;
    }
    md_of(out, l, nd, dims, dnnl_f32);
    return true;
}

lp_status dn_resize_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    int x = n->in[0], y = ch->out_value;
    const dn_quant *qy = &ch->q_tail;
    if (ch->n_post || (y != n->out[0] && !qy->on) || !dn_resize_supports(g, n))
        return LOWP_ERR_UNSUPPORTED;
    const lp_shape *xs = &g->values[x].shape, *ys = &g->values[y].shape;
    int nd = xs->ndim;
    dnnl_memory_desc_t have, want, dst_md;
    dn_quant qx = { 0 };
    dn_value_md(pc, x, &have);
    dn_value_quantized(pc, x, &qx);
    bool out_priv = priv && dn_value_private_ok(pc, y);
    rs_layout lay = RS_PLAIN;
    if (!(out_priv && layout_of(&have, &lay)))
        lay = RS_PLAIN; /* plain output: read plain (a reorder of the smaller tensor, upsampling) */
    else if (lay == RS_PLAIN && nd == 4 && xs->d[1] > 1)
        /* a plain source (a graph output, IS-Net's decoder) with a private result: one sample
           per inner loop is slow (2.6 s for IS-Net's 64-channel 512 -> 1024 upsampling); read it
           as oneDNN's FP32 kernels store features (nChw16c, what Winograd convolutions take),
           or channels-last when there are few channels */
        lay = xs->d[1] >= 16 ? RS_BLOCK16 : RS_NHWC;
    /* an 8-bit source is read as its integers in any layout the kernel walks; a float one
       as float */
    dnnl_data_type_t src_dt = qx.on ? qx.dt : dnnl_f32;
    md_of(&want, lay, nd, xs->d, src_dt);
    md_of(&dst_md, lay, nd, ys->d, qy->on && out_priv ? qy->dt : dnnl_f32);
    rs_state *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing Resize");
    st->custom_arg = s;
    st->custom_free = rs_free;
    LP_TRY(dn_input_q(st, pc, x, &want, &qx, &s->src));
    LP_TRY(dn_mem_value(st, pc, y, &dst_md, &s->dst));
    dn_set_output(st, pc, y, &dst_md);
    s->src_dt = src_dt;
    s->src_zp = qx.on ? (float)qx.zp : 0.f;
    s->src_mul = (qx.on ? qx.scale : 1.f) / (qy->on ? qy->scale : 1.f);
    s->out = !qy->on ? RS_OUT_F32 : out_priv ? RS_OUT_Q : RS_OUT_QF;
    if (qy->on) {
        s->dst_dt = qy->dt;
        s->dst_zp = qy->zp;
        s->dst_scale = qy->scale;
        s->dst_lo = qy->dt == dnnl_s8 ? -128 : 0;
        s->dst_hi = qy->dt == dnnl_s8 ? 127 : 255;
        if (out_priv)
            st->out_q = *qy;
    }

    lp_resize_plan plan;
    LP_TRY(plan_of(g, n, &plan));
    int64_t cpad = want.padded_dims[1];
    s->vec = lay == RS_PLAIN ? 1 : lay == RS_NHWC ? xs->d[1] : lay == RS_BLOCK8 ? 8 : 16;
    s->outer = lay == RS_PLAIN ? xs->d[0] * xs->d[1] : lay == RS_NHWC ? xs->d[0] : xs->d[0] * (cpad / s->vec);
    s->ih = nd == 4 ? xs->d[2] : 1;
    s->oh = nd == 4 ? ys->d[2] : 1;
    s->iw = xs->d[nd - 1];
    s->ow = ys->d[nd - 1];
    s->extrap = (float)plan.extrapolation / (qy->on ? qy->scale : 1.f);
    s->threads = pc->threads > 0 ? pc->threads : 1;
    s->chunks = s->outer >= s->threads ? 1 : (2 * s->threads + s->outer - 1) / s->outer;
    if (s->chunks > s->oh)
        s->chunks = s->oh;
    if (nd == 4) {
        bool h_outside = false; /* whole rows: rs_run checks each row's flag */
        s->hx = axis_of(&plan, 2, s->oh, s->iw * s->vec, &h_outside);
    } else { /* one row: a single tap of weight 1 */
        s->hx = calloc(2, sizeof *s->hx);
        if (s->hx)
            s->hx[0] = (rs_axis){ .n = 1, .w = { 1.f } };
    }
    s->wx = axis_of(&plan, nd - 1, s->ow, s->vec, &s->any_outside);
    lp_resize_plan_free(&plan);
    s->ring = malloc((size_t)s->threads * (RS_RING + 1) * (size_t)(s->ow * s->vec) * sizeof *s->ring + 64);
    if (!s->hx || !s->wx || !s->ring)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing Resize");
    st->custom = rs_run;
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%slowp:%s%s%s", k ? "," : "", layout_name[lay],
             qx.on ? (qx.dt == dnnl_u8 ? ",u8 in" : ",s8 in") : "",
             qy->on ? (qy->dt == dnnl_u8 ? ",int8 u8 out" : ",int8 s8 out") : "");
    return LP_OK;
}
