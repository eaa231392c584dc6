/* quant.c — quantized tensors and integer kernels: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger.
 * Integer products accumulate exactly in int32 (zero points subtracted first); every
 * float -> 8-bit step goes through lp_requant (requant.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ops/conv_ref.h"
#include "ops/gemm_ref.h"
#include "ops/matmul_ref.h"
#include "ops/quant.h"
#include "ops/requant.h"

static const lp_tensor *opt_in(const lp_run_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }

static bool is_q8(lp_dtype t) { return t == LP_U8 || t == LP_I8; }

static lp_status want_q8(const lp_node *n, lp_dtype t, const char *what)
{
    if (t == LOWP_UNDEFINED || is_q8(t))
        return LP_OK;
    return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s is %s; uint8 and int8 are supported",
                         what, lp_dtype_traits_of(t)->name);
}

static lp_status want_type(const lp_node *n, lp_dtype t, lp_dtype want, const char *what)
{
    if (t == LOWP_UNDEFINED || t == want)
        return LP_OK;
    return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s is %s, expected %s", what,
                         lp_dtype_traits_of(t)->name, lp_dtype_traits_of(want)->name);
}

/* Element i of an integer tensor (uint8, int8, int32) as int32. */
static int32_t get_i32(const lp_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LP_U8: return ((const uint8_t *)t->data)[i];
    case LP_I8: return ((const int8_t *)t->data)[i];
    default: return ((const int32_t *)t->data)[i];
    }
}

/* A zero point (NULL: 0) or scale entry: one value for a per-tensor parameter, else entry j. */
static int32_t zp_at(const lp_tensor *zp, int64_t j)
{
    return zp ? get_i32(zp, lp_tensor_numel(zp) == 1 ? 0 : j) : 0;
}

static float scale_at(const lp_tensor *s, int64_t j)
{
    return ((const float *)s->data)[lp_tensor_numel(s) == 1 ? 0 : j];
}

/* A scale or zero point must have 1 element or one of the listed counts (0 entries end the
 * list); the dtype is checked by the caller. Rank <= 1 unless `any_rank`. */
static lp_status check_param(const lp_node *n, const lp_tensor *t, const char *what, bool any_rank,
                             int64_t count1, int64_t count2)
{
    int64_t k = lp_tensor_numel(t);
    if ((!any_rank && t->ndim > 1) || (k != 1 && k != count1 && k != count2))
        return lp_node_error(n, LOWP_ERR_SHAPE, "%s has %lld values, expected 1%s", what, (long long)k,
                             count1 > 1 ? " or one per channel/row/column" : "");
    return LP_OK;
}

/* The scale is float32, the zero point u8/i8 (int32 for a dequantized int32 tensor). */
static lp_status check_types(const lp_node *n, const lp_tensor *scale, const lp_tensor *zp, const char *what)
{
    if (scale && scale->dtype != LP_F32)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s scale is %s, expected float32", what,
                             lp_dtype_traits_of(scale->dtype)->name);
    if (zp && !is_q8(zp->dtype) && zp->dtype != LP_I32)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s zero point is %s, expected uint8 or int8", what,
                             lp_dtype_traits_of(zp->dtype)->name);
    return LP_OK;
}

/* ---------------- QuantizeLinear, DequantizeLinear ---------------- */

/* Per-tensor (scale has one value) or, from opset 13, per-axis along `axis` (scale is 1-D
 * with x.shape[axis] values). */
static lp_status qaxis_infer(const lp_infer_ctx *c)
{
    const lp_shape *x = lp_in_shape(c, 0), *s = lp_in_shape(c, 1);
    if (s->ndim < 0)
        return LP_OK;
    bool one = true;
    for (int i = 0; i < s->ndim; i++)
        one = one && s->d[i] == 1;
    if (one)
        return LP_OK;
    if (s->ndim > 1)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "scale has rank %d, expected a scalar or a vector", s->ndim);
    if (c->opset < 13)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "per-axis scales need opset 13 (this node is opset %lld)",
                             (long long)c->opset);
    if (x->ndim < 0)
        return LP_OK;
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 1), x->ndim, &axis));
    if (lp_dim_known(s->d[0]) && lp_dim_known(x->d[axis]) && s->d[0] != x->d[axis])
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "scale has %lld values but axis %d has %lld",
                             (long long)s->d[0], axis, (long long)x->d[axis]);
    return LP_OK;
}

static lp_status qaxis_setup(const lp_run_ctx *c, const lp_tensor *x, const lp_tensor *s, const lp_tensor *zp,
                             int64_t *count, int64_t *inner)
{
    const lp_node *n = c->node;
    LP_TRY(check_types(n, s, zp, "the"));
    int64_t k = lp_tensor_numel(s);
    if (zp && lp_tensor_numel(zp) != k)
        return lp_node_error(n, LOWP_ERR_SHAPE, "scale has %lld values but the zero point %lld",
                             (long long)k, (long long)lp_tensor_numel(zp));
    *count = *inner = 1;
    if (k == 1)
        return LP_OK;
    if (s->ndim != 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "scale has rank %d, expected a scalar or a vector", s->ndim);
    if (c->opset < 13)
        return lp_node_error(n, LOWP_ERR_SHAPE, "per-axis scales need opset 13 (this node is opset %lld)",
                             (long long)c->opset);
    int axis;
    LP_TRY(lp_op_axis(n, lp_attr_int(n, "axis", 1), x->ndim, &axis));
    if (x->dims[axis] != k)
        return lp_node_error(n, LOWP_ERR_SHAPE, "scale has %lld values but axis %d has %lld",
                             (long long)k, axis, (long long)x->dims[axis]);
    *count = k;
    *inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    return LP_OK;
}

static lp_status quantize_infer(lp_infer_ctx *c)
{
    lp_dtype xt = lp_in_dtype(c, 0), zt = c->n_in > 2 && c->in[2] ? lp_in_dtype(c, 2) : LP_U8;
    if (xt != LOWP_UNDEFINED && xt != LP_F32 && xt != LP_I32)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "x is %s; float32 and int32 are supported",
                             lp_dtype_traits_of(xt)->name);
    LP_TRY(want_type(c->node, lp_in_dtype(c, 1), LP_F32, "y_scale"));
    LP_TRY(want_q8(c->node, zt, "y_zero_point"));
    LP_TRY(qaxis_infer(c));
    c->out[0].dtype = zt;
    c->out[0].shape = *lp_in_shape(c, 0);
    return LP_OK;
}

/* x: any shape -> y = saturate(round_half_even(x / scale[ch]) + zp[ch]), ch the position
 * along `axis` (per-axis) or 0 (per-tensor). */
static lp_status quantize_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    const lp_tensor *x = c->in[0], *s = c->in[1], *zp = opt_in(c, 2);
    lp_tensor *y = c->out[0];
    int64_t count, inner;
    LP_TRY(qaxis_setup(c, x, s, zp, &count, &inner));
    if (x->dtype != LP_F32 && x->dtype != LP_I32)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "x is %s; float32 and int32 are supported",
                             lp_dtype_traits_of(x->dtype)->name);
    if (!is_q8(y->dtype))
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "y is %s; uint8 and int8 are supported",
                             lp_dtype_traits_of(y->dtype)->name);
    int32_t lo, hi;
    lp_quant_range(y->dtype == LP_I8, &lo, &hi);
    int64_t total = lp_tensor_numel(x);
    for (int64_t i = 0; i < total; i++) {
        int64_t ch = (i / inner) % count;
        float xv = x->dtype == LP_F32 ? ((const float *)x->data)[i] : (float)((const int32_t *)x->data)[i];
        int32_t q = lp_requant(xv / scale_at(s, ch), zp_at(zp, ch), lo, hi);
        if (y->dtype == LP_U8)
            ((uint8_t *)y->data)[i] = (uint8_t)q;
        else
            ((int8_t *)y->data)[i] = (int8_t)q;
    }
    return LP_OK;
}

const lp_op_def lp_opdef_QuantizeLinear = {
    .name = "QuantizeLinear", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = quantize_infer, .run = quantize_run,
};

static lp_status dequantize_infer(lp_infer_ctx *c)
{
    lp_dtype xt = lp_in_dtype(c, 0), zt = lp_in_dtype(c, 2);
    if (xt != LOWP_UNDEFINED && !is_q8(xt) && xt != LP_I32)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "x is %s; uint8, int8 and int32 are supported",
                             lp_dtype_traits_of(xt)->name);
    if (xt != LOWP_UNDEFINED && zt != LOWP_UNDEFINED && xt != zt)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "x is %s but the zero point %s",
                             lp_dtype_traits_of(xt)->name, lp_dtype_traits_of(zt)->name);
    LP_TRY(want_type(c->node, lp_in_dtype(c, 1), LP_F32, "x_scale"));
    LP_TRY(qaxis_infer(c));
    c->out[0].dtype = LP_F32;
    c->out[0].shape = *lp_in_shape(c, 0);
    return LP_OK;
}

/* x: any shape -> y = (x - zp[ch]) * scale[ch] */
static lp_status dequantize_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    const lp_tensor *x = c->in[0], *s = c->in[1], *zp = opt_in(c, 2);
    int64_t count, inner;
    LP_TRY(qaxis_setup(c, x, s, zp, &count, &inner));
    if (!is_q8(x->dtype) && x->dtype != LP_I32)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "x is %s; uint8, int8 and int32 are supported",
                             lp_dtype_traits_of(x->dtype)->name);
    float *y = c->out[0]->data;
    int64_t total = lp_tensor_numel(x);
    if (inner == 1 && count > 1 && total % count == 0) {
        /* the channel is the last axis (a MatMul's per-column weight scales): rows of `count` */
        int32_t *zs = malloc((size_t)count * sizeof *zs);
        if (!zs)
            return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        for (int64_t k = 0; k < count; k++)
            zs[k] = zp_at(zp, k);
        const float *sc = s->data;
        for (int64_t r = 0; r < total / count; r++)
            for (int64_t k = 0; k < count; k++)
                y[r * count + k] = (float)((int64_t)get_i32(x, r * count + k) - zs[k]) * sc[k];
        free(zs);
        return LP_OK;
    }
    /* runs of `inner` elements share a channel: its scale and zero point once per run (this
     * folds every weight of a quantized model at compile time) */
    for (int64_t i0 = 0, run = 0; i0 < total; i0 += inner, run++) {
        int64_t ch = run % count, n = total - i0 < inner ? total - i0 : inner;
        int32_t z = zp_at(zp, ch);
        float sc = scale_at(s, ch);
        float *yr = y + i0;
        switch (x->dtype) {
        case LP_U8:
            for (int64_t k = 0; k < n; k++)
                yr[k] = (float)((int64_t)((const uint8_t *)x->data)[i0 + k] - z) * sc;
            break;
        case LP_I8:
            for (int64_t k = 0; k < n; k++)
                yr[k] = (float)((int64_t)((const int8_t *)x->data)[i0 + k] - z) * sc;
            break;
        default:
            for (int64_t k = 0; k < n; k++)
                yr[k] = (float)((int64_t)((const int32_t *)x->data)[i0 + k] - z) * sc;
        }
    }
    return LP_OK;
}

const lp_op_def lp_opdef_DequantizeLinear = {
    .name = "DequantizeLinear", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = dequantize_infer, .run = dequantize_run,
};

/* ---------------- DynamicQuantizeLinear ---------------- */

static lp_status dynq_infer(lp_infer_ctx *c)
{
    LP_TRY(want_type(c->node, lp_in_dtype(c, 0), LP_F32, "x"));
    c->out[0].dtype = LP_U8;
    c->out[0].shape = *lp_in_shape(c, 0);
    if (c->n_out > 1)
        lp_vinfo_set(&c->out[1], LP_F32, 0, NULL);
    if (c->n_out > 2)
        lp_vinfo_set(&c->out[2], LP_U8, 0, NULL);
    return LP_OK;
}

/* One element of DynamicQuantizeLinear's output (see dynq_run). */
static inline int32_t dynq_one(float x, float scale, float magic, float fzp)
{
    float v = x / scale;
    v = v > -512.0f ? v : -512.0f;
    v = v < 512.0f ? v : 512.0f;
    float q = (v + magic) - magic + fzp;
    q = q > 0.0f ? q : 0.0f;
    q = q < 255.0f ? q : 255.0f;
    q = x == x ? q : fzp;
    return (int32_t)q;
}

void lp_dynamic_range(const float *xd, int64_t total, float *mn_out, float *mx_out)
{
    /* the range, including 0 (NaN ignored) */
    float mn = 0.0f, mx = 0.0f;
    int64_t i = 0;
#if defined(__SSE2__)
    __m128 mn4[2] = { _mm_setzero_ps(), _mm_setzero_ps() }, mx4[2] = { _mm_setzero_ps(), _mm_setzero_ps() };
    for (; i + 8 <= total; i += 8)
        for (int h = 0; h < 2; h++) { /* minps(x, m) is x < m ? x : m: a NaN x leaves m */
            __m128 x4 = _mm_loadu_ps(xd + i + 4 * h);
            mn4[h] = _mm_min_ps(x4, mn4[h]);
            mx4[h] = _mm_max_ps(x4, mx4[h]);
        }
    float lanes[8];
    _mm_storeu_ps(lanes, _mm_min_ps(mn4[0], mn4[1]));
    _mm_storeu_ps(lanes + 4, _mm_max_ps(mx4[0], mx4[1]));
    for (int k = 0; k < 4; k++) {
        mn = lanes[k] < mn ? lanes[k] : mn;
        mx = lanes[4 + k] > mx ? lanes[4 + k] : mx;
    }
#endif
    for (; i < total; i++) {
        mn = xd[i] < mn ? xd[i] : mn;
        mx = xd[i] > mx ? xd[i] : mx;
    }
    *mn_out = mn;
    *mx_out = mx;
}

void lp_dynamic_params(float mn, float mx, float *scale_out, uint8_t *zp_out)
{
    float scale = (mx - mn) / 255.0f;
    *scale_out = scale;
    *zp_out = (uint8_t)(scale > 0.0f ? lp_requant(0.0f - mn / scale, 0, 0, 255) : 0);
}

void lp_dynamic_apply(const float *xd, int64_t total, uint8_t *y, float scale, uint8_t zp)
{
    if (!(scale > 0.0f)) {
        memset(y, zp, (size_t)total);
        return;
    }
    /* lp_requant's rounding in a form that vectorizes (blocks of 8): x / scale clamped to a
     * range that saturates either way, rounded half to even by adding and subtracting
     * 1.5 * 2^23; NaN gives the zero point */
    const float magic = 12582912.0f, fzp = (float)zp;
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128 vs = _mm_set1_ps(scale), vlo = _mm_set1_ps(-512.0f), vhi = _mm_set1_ps(512.0f),
                 vm = _mm_set1_ps(magic), vz = _mm_set1_ps(fzp), v0 = _mm_setzero_ps(), v255 = _mm_set1_ps(255.0f);
    for (; i + 8 <= total; i += 8) {
        __m128i q[2];
        for (int h = 0; h < 2; h++) {
            __m128 x4 = _mm_loadu_ps(xd + i + 4 * h);
            __m128 v = _mm_min_ps(_mm_max_ps(_mm_div_ps(x4, vs), vlo), vhi);
            v = _mm_add_ps(_mm_sub_ps(_mm_add_ps(v, vm), vm), vz);
            v = _mm_min_ps(_mm_max_ps(v, v0), v255);
            __m128 ord = _mm_cmpord_ps(x4, x4); /* NaN lanes take the zero point */
            v = _mm_or_ps(_mm_and_ps(ord, v), _mm_andnot_ps(ord, vz));
            q[h] = _mm_cvttps_epi32(v);
        }
        __m128i w = _mm_packs_epi32(q[0], q[1]); /* 0..255 fit int16, then u8 */
        _mm_storel_epi64((__m128i *)(y + i), _mm_packus_epi16(w, w));
    }
#endif
    for (; i < total; i++)
        y[i] = (uint8_t)dynq_one(xd[i], scale, magic, fzp);
}

/* x: any shape -> y (uint8), scale, zero point as the ONNX spec computes them (ops/quant.h):
 * scale = (max(0, max x) - min(0, min x)) / 255, zp = saturate(round(0 - min / scale)),
 * y = saturate(round(x / scale) + zp). All zeros give scale 0, zp 0, y 0. */
void lp_dynamic_quantize(const float *xd, int64_t total, uint8_t *y, float *scale_out, uint8_t *zp_out)
{
    float mn, mx;
    lp_dynamic_range(xd, total, &mn, &mx);
    lp_dynamic_params(mn, mx, scale_out, zp_out);
    lp_dynamic_apply(xd, total, y, *scale_out, *zp_out);
}

static lp_status dynq_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 1));
    const lp_tensor *x = c->in[0];
    if (x->dtype != LP_F32)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "x is %s, expected float32",
                             lp_dtype_traits_of(x->dtype)->name);
    float scale;
    uint8_t zp;
    lp_dynamic_quantize(x->data, lp_tensor_numel(x), c->out[0]->data, &scale, &zp);
    if (c->n_out > 1 && c->out[1])
        *(float *)c->out[1]->data = scale;
    if (c->n_out > 2 && c->out[2])
        *(uint8_t *)c->out[2]->data = zp;
    return LP_OK;
}

const lp_op_def lp_opdef_DynamicQuantizeLinear = {
    .name = "DynamicQuantizeLinear", .min_in = 1, .max_in = 1, .min_out = 3, .max_out = 3,
    .infer = dynq_infer, .run = dynq_run,
};

/* ---------------- integer convolution: ConvInteger, QLinearConv ---------------- */

/* int32 copies with zero points subtracted: dst[i] = t[i] - zp[(i / per) % numel(zp)] —
 * `per` elements share one zero-point entry (a channel's weights, a matrix row). */
static int32_t *minus_zp(const lp_tensor *t, const lp_tensor *zp, int64_t per)
{
    int64_t total = lp_tensor_numel(t), nz = zp ? lp_tensor_numel(zp) : 1;
    int32_t *d = malloc((size_t)(total > 0 ? total : 1) * sizeof *d);
    if (!d)
        return NULL;
    for (int64_t i = 0; i < total; i++)
        d[i] = get_i32(t, i) - zp_at(zp, per ? (i / per) % nz : 0);
    return d;
}

static lp_status conv_int_infer(lp_infer_ctx *c, int xi, int wi, lp_dtype out_dtype)
{
    LP_TRY(want_q8(c->node, lp_in_dtype(c, xi), "x"));
    LP_TRY(want_q8(c->node, lp_in_dtype(c, wi), "w"));
    c->out[0].dtype = out_dtype;
    return lp_conv_infer(c->node, lp_in_shape(c, xi), lp_in_shape(c, wi), &c->out[0].shape);
}

/* x: (N,C,in...) u8/i8, w: (M,C/group,k...) u8/i8 -> acc: (N,M,out...) int32 =
 * conv(x - x_zp, w - w_zp[m]); the result is malloc'ed (caller frees) unless `into`. */
static lp_status conv_int_acc(const lp_run_ctx *c, const lp_tensor *x, const lp_tensor *xzp, const lp_tensor *w,
                              const lp_tensor *wzp, lp_conv *cv, int32_t *into, int32_t **acc_out)
{
    const lp_node *n = c->node;
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "x and w must be uint8 or int8");
    LP_TRY(lp_conv_setup(n, x, w, cv));
    if (xzp) {
        LP_TRY(check_param(n, xzp, "x_zero_point", false, 1, 1));
        LP_TRY(check_types(n, NULL, xzp, "x"));
    }
    if (wzp) {
        LP_TRY(check_param(n, wzp, "w_zero_point", false, cv->M, 1));
        LP_TRY(check_types(n, NULL, wzp, "w"));
    }
    int64_t K = cv->C / cv->group * lp_window_kprod(&cv->win);
    if (K > LP_GEMM_I32_MAX_K)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "reduction of %lld terms could overflow int32", (long long)K);
    int64_t ysize = cv->N * cv->M * lp_window_outprod(&cv->win);
    int32_t *x32 = minus_zp(x, xzp, 0), *w32 = minus_zp(w, wzp, cv->M ? lp_tensor_numel(w) / cv->M : 1);
    int32_t *acc = into ? into : malloc((size_t)(ysize > 0 ? ysize : 1) * sizeof *acc);
    lp_status st;
    if (!x32 || !w32 || !acc)
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    else
        st = lp_conv_i32(n, cv, x32, w32, acc);
    free(x32);
    free(w32);
    if (st != LP_OK && !into)
        free(acc);
    else if (!into)
        *acc_out = acc;
    return st;
}

static lp_status convint_infer(lp_infer_ctx *c) { return conv_int_infer(c, 0, 1, LP_I32); }

static lp_status convint_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    lp_conv cv;
    return conv_int_acc(c, c->in[0], opt_in(c, 2), c->in[1], opt_in(c, 3), &cv, c->out[0]->data, NULL);
}

const lp_op_def lp_opdef_ConvInteger = {
    .name = "ConvInteger", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
    .infer = convint_infer, .run = convint_run,
};

static lp_status qlconv_infer(lp_infer_ctx *c)
{
    lp_dtype yt = lp_in_dtype(c, 7);
    LP_TRY(want_q8(c->node, yt, "y_zero_point"));
    LP_TRY(conv_int_infer(c, 0, 3, yt != LOWP_UNDEFINED ? yt : lp_in_dtype(c, 0)));
    if (c->n_in > 8 && c->in[8])
        LP_TRY(want_type(c->node, lp_in_dtype(c, 8), LP_I32, "B"));
    return LP_OK;
}

/* x: (N,C,in...), w: (M,C/group,k...), B: (M) int32 -> y: (N,M,out...) =
 * requant((conv(x - x_zp, w - w_zp[m]) + B[m]) * x_scale * w_scale[m] / y_scale, y_zp) */
static lp_status qlconv_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 8)); /* all but B are required by the spec */
    const lp_node *n = c->node;
    const lp_tensor *xs = c->in[1], *ws = c->in[4], *ys = c->in[6], *yzp = c->in[7], *b = opt_in(c, 8);
    lp_tensor *y = c->out[0];
    LP_TRY(check_types(n, xs, NULL, "x"));
    LP_TRY(check_types(n, ws, NULL, "w"));
    LP_TRY(check_types(n, ys, yzp, "y"));
    LP_TRY(check_param(n, xs, "x_scale", false, 1, 1));
    LP_TRY(check_param(n, ys, "y_scale", false, 1, 1));
    LP_TRY(check_param(n, yzp, "y_zero_point", false, 1, 1));
    if (!is_q8(y->dtype))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "y must be uint8 or int8");
    lp_conv cv;
    int32_t *acc = NULL;
    LP_TRY(conv_int_acc(c, c->in[0], c->in[2], c->in[3], c->in[5], &cv, NULL, &acc));
    lp_status st = check_param(n, ws, "w_scale", false, cv.M, 1);
    if (st == LP_OK && b && (b->dtype != LP_I32 || b->ndim != 1 || b->dims[0] != cv.M))
        st = lp_node_error(n, LOWP_ERR_SHAPE, "B must be an int32 vector of %lld values", (long long)cv.M);
    if (st != LP_OK) {
        free(acc);
        return st;
    }
    int32_t lo, hi, y_zp = zp_at(yzp, 0);
    lp_quant_range(y->dtype == LP_I8, &lo, &hi);
    int64_t P = lp_window_outprod(&cv.win);
    float x_scale = scale_at(xs, 0), y_scale = scale_at(ys, 0);
    for (int64_t bi = 0; bi < cv.N; bi++)
        for (int64_t m = 0; m < cv.M; m++) {
            /* the multiplier as the ONNX reference forms it, in float32; the product in double */
            float mult = x_scale * scale_at(ws, m) / y_scale;
            int32_t bias = b ? ((const int32_t *)b->data)[m] : 0;
            const int32_t *a = acc + (bi * cv.M + m) * P;
            int64_t o = (bi * cv.M + m) * P;
            for (int64_t p = 0; p < P; p++) {
                int32_t q = lp_requant((float)((double)((int64_t)a[p] + bias) * mult), y_zp, lo, hi);
                if (y->dtype == LP_U8)
                    ((uint8_t *)y->data)[o + p] = (uint8_t)q;
                else
                    ((int8_t *)y->data)[o + p] = (int8_t)q;
            }
        }
    free(acc);
    return LP_OK;
}

const lp_op_def lp_opdef_QLinearConv = {
    .name = "QLinearConv", .min_in = 8, .max_in = 9, .min_out = 1, .max_out = 1,
    .infer = qlconv_infer, .run = qlconv_run,
};

/* ---------------- integer matmul: MatMulInteger, QLinearMatMul ---------------- */

/* Zero point / scale layout for a matmul operand. A: one value, one per row (M), or one per
 * row of each batch matrix ([..., M, 1]); B: one value, one per column (N), or per column of
 * each batch matrix ([..., 1, N]). Entry index of A's element i / B's element i: */
static int64_t a_entry(const lp_matmul *mm, int64_t i, int64_t nparam)
{
    return nparam == 1 ? 0 : (i / mm->K) % nparam; /* (batch * M + row) mod count */
}

static int64_t b_entry(const lp_matmul *mm, int64_t i, int64_t nparam)
{
    if (nparam == 1)
        return 0;
    int64_t col = i % mm->N, batch = i / (mm->K * mm->N);
    return (batch * mm->N + col) % nparam;
}

static lp_status check_ab_param(const lp_node *n, const lp_tensor *t, const lp_tensor *m, bool is_a,
                                const lp_matmul *mm, const char *what)
{
    int64_t batch = lp_numel(m->ndim > 2 ? m->ndim - 2 : 0, m->dims);
    int64_t per = is_a ? mm->M : mm->N;
    return check_param(n, t, what, true, per, batch * per);
}

/* int32 copy of a (or b) minus its zero point per tensor/row/column. */
static int32_t *ab_minus_zp(const lp_tensor *t, const lp_tensor *zp, bool is_a, const lp_matmul *mm)
{
    int64_t total = lp_tensor_numel(t), nz = zp ? lp_tensor_numel(zp) : 1;
    int32_t *d = malloc((size_t)(total > 0 ? total : 1) * sizeof *d);
    if (!d)
        return NULL;
    for (int64_t i = 0; i < total; i++)
        d[i] = get_i32(t, i) - zp_at(zp, is_a ? a_entry(mm, i, nz) : b_entry(mm, i, nz));
    return d;
}

/* a: (..., M, K), b: (..., K, N) u8/i8 -> acc: (..., M, N) int32 = (a - a_zp) * (b - b_zp) */
lp_status lp_qmatmul_acc(const lp_run_ctx *c, const lp_tensor *a, const lp_tensor *azp, const lp_tensor *b,
                                const lp_tensor *bzp, lp_matmul *mm, int32_t *acc)
{
    const lp_node *n = c->node;
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "A and B must be uint8 or int8");
    LP_TRY(lp_matmul_setup(n, a, b, mm));
    if (azp) {
        LP_TRY(check_types(n, NULL, azp, "a"));
        LP_TRY(check_ab_param(n, azp, a, true, mm, "a_zero_point"));
    }
    if (bzp) {
        LP_TRY(check_types(n, NULL, bzp, "b"));
        LP_TRY(check_ab_param(n, bzp, b, false, mm, "b_zero_point"));
    }
    if (mm->K > LP_GEMM_I32_MAX_K)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "reduction of %lld terms could overflow int32", (long long)mm->K);
    int32_t *a32 = ab_minus_zp(a, azp, true, mm), *b32 = ab_minus_zp(b, bzp, false, mm);
    lp_status st = LP_OK;
    if (!a32 || !b32) {
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    } else {
        for (int64_t i = 0; i < mm->count; i++) {
            int64_t ao, bo;
            lp_matmul_offsets(mm, i, &ao, &bo);
            lp_gemm_i32(mm->M, mm->N, mm->K, a32 + ao, mm->K, 1, b32 + bo, mm->N, 0, acc + i * mm->M * mm->N, mm->N);
        }
    }
    free(a32);
    free(b32);
    return st;
}

static lp_status mmint_infer(lp_infer_ctx *c)
{
    LP_TRY(want_q8(c->node, lp_in_dtype(c, 0), "A"));
    LP_TRY(want_q8(c->node, lp_in_dtype(c, 1), "B"));
    c->out[0].dtype = LP_I32;
    return lp_matmul_infer(c->node, lp_in_shape(c, 0), lp_in_shape(c, 1), &c->out[0].shape);
}

static lp_status mmint_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    lp_matmul mm;
    return lp_qmatmul_acc(c, c->in[0], opt_in(c, 2), c->in[1], opt_in(c, 3), &mm, c->out[0]->data);
}

const lp_op_def lp_opdef_MatMulInteger = {
    .name = "MatMulInteger", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
    .infer = mmint_infer, .run = mmint_run,
};

static lp_status qlmm_infer(lp_infer_ctx *c)
{
    lp_dtype yt = lp_in_dtype(c, 7);
    LP_TRY(want_q8(c->node, lp_in_dtype(c, 0), "a"));
    LP_TRY(want_q8(c->node, lp_in_dtype(c, 3), "b"));
    LP_TRY(want_q8(c->node, yt, "y_zero_point"));
    c->out[0].dtype = yt != LOWP_UNDEFINED ? yt : lp_in_dtype(c, 0);
    return lp_matmul_infer(c->node, lp_in_shape(c, 0), lp_in_shape(c, 3), &c->out[0].shape);
}

/* a: (..., M, K), b: (..., K, N) -> y: (..., M, N) =
 * requant((a - a_zp) * (b - b_zp) * a_scale[row] * b_scale[col] / y_scale, y_zp) */
static lp_status qlmm_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 8));
    const lp_node *n = c->node;
    const lp_tensor *a = c->in[0], *as = c->in[1], *b = c->in[3], *bs = c->in[4], *ys = c->in[6], *yzp = c->in[7];
    lp_tensor *y = c->out[0];
    LP_TRY(check_types(n, as, NULL, "a"));
    LP_TRY(check_types(n, bs, NULL, "b"));
    LP_TRY(check_types(n, ys, yzp, "y"));
    LP_TRY(check_param(n, ys, "y_scale", false, 1, 1));
    LP_TRY(check_param(n, yzp, "y_zero_point", false, 1, 1));
    if (!is_q8(y->dtype))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "y must be uint8 or int8");
    int64_t total = lp_tensor_numel(y);
    int32_t *acc = malloc((size_t)(total > 0 ? total : 1) * sizeof *acc);
    if (!acc)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_matmul mm;
    lp_status st = lp_qmatmul_acc(c, a, c->in[2], b, c->in[5], &mm, acc);
    if (st == LP_OK)
        st = check_ab_param(n, as, a, true, &mm, "a_scale");
    if (st == LP_OK)
        st = check_ab_param(n, bs, b, false, &mm, "b_scale");
    if (st != LP_OK) {
        free(acc);
        return st;
    }
    int32_t lo, hi, y_zp = zp_at(yzp, 0);
    lp_quant_range(y->dtype == LP_I8, &lo, &hi);
    float y_scale = scale_at(ys, 0);
    int64_t nas = lp_tensor_numel(as), nbs = lp_tensor_numel(bs);
    for (int64_t i = 0; i < mm.count; i++) {
        int64_t ao, bo;
        lp_matmul_offsets(&mm, i, &ao, &bo);
        for (int64_t r = 0; r < mm.M; r++)
            for (int64_t j = 0; j < mm.N; j++) {
                /* the scale entries of the first element of row r of a and column j of b */
                float sa = scale_at(as, a_entry(&mm, ao + r * mm.K, nas));
                float sb = scale_at(bs, b_entry(&mm, bo + j, nbs));
                float mult = sa * sb / y_scale;
                int64_t o = (i * mm.M + r) * mm.N + j;
                int32_t q = lp_requant((float)((double)acc[o] * mult), y_zp, lo, hi);
                if (y->dtype == LP_U8)
                    ((uint8_t *)y->data)[o] = (uint8_t)q;
                else
                    ((int8_t *)y->data)[o] = (int8_t)q;
            }
    }
    free(acc);
    return LP_OK;
}

const lp_op_def lp_opdef_QLinearMatMul = {
    .name = "QLinearMatMul", .min_in = 8, .max_in = 8, .min_out = 1, .max_out = 1,
    .infer = qlmm_infer, .run = qlmm_run,
};
