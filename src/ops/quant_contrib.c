/* quant_contrib.c — the com.microsoft quantized ops ONNX Runtime's quantizer emits for CPU:
 * QLinearAdd, QLinearMul, QLinearConcat, QLinearGlobalAveragePool, QLinearSigmoid,
 * QLinearLeakyRelu (QOperator form: 8-bit in, 8-bit out), QGemm, DynamicQuantizeMatMul and
 * MatMulIntegerToFloat (integer products, float or 8-bit out). Semantics per ORT's
 * docs/ContribOperators.md: each is its float definition between dequantization of the
 * inputs and quantization of the output (lp_requant: x / scale, round half to even, + zero
 * point, saturate); integer products accumulate exactly in int32 (ops/quant.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm_ref.h"
#include "ops/matmul_ref.h"
#include "ops/quant.h"
#include "ops/requant.h"

static const lp_tensor *opt_in(const lp_run_ctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }

static bool is_q8(lp_dtype t) { return t == LP_U8 || t == LP_I8; }

/* Input i, when its type is known, is 8-bit; *t gets the type. */
static lp_status want_q8_in(const lp_infer_ctx *c, int i, const char *what, lp_dtype *t)
{
    *t = lp_in_dtype(c, i);
    if (*t != LOWP_UNDEFINED && !is_q8(*t))
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "%s is %s; uint8 and int8 are supported", what,
                             lp_dtype_traits_of(*t)->name);
    return LP_OK;
}

/* A quantized operand: its tensor and per-tensor scale and zero point. */
typedef struct qarg {
    const lp_tensor *t;
    float scale;
    int32_t zp;
} qarg;

/* Reads operand (x, scale, zp) of node n: x u8/i8, scale a float32 scalar, zp (may be NULL:
 * 0) one value of x's type. */
static lp_status qarg_of(const lp_node *n, const lp_tensor *x, const lp_tensor *s, const lp_tensor *zp,
                         const char *what, qarg *q)
{
    if (!x || !s)
        return lp_node_error(n, LOWP_ERR_FORMAT, "%s or its scale is missing", what);
    if (!is_q8(x->dtype))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s is %s; uint8 and int8 are supported", what,
                             lp_dtype_traits_of(x->dtype)->name);
    if (s->dtype != LP_F32 || lp_tensor_numel(s) != 1)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s's scale must be one float32 value", what);
    if (zp && (zp->dtype != x->dtype || lp_tensor_numel(zp) != 1))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s's zero point must be one %s value", what,
                             lp_dtype_traits_of(x->dtype)->name);
    *q = (qarg){ .t = x, .scale = *(const float *)s->data, .zp = zp ? (int32_t)lp_tensor_get(zp, 0) : 0 };
    return LP_OK;
}

static float deq(const qarg *q, int64_t i)
{
    int32_t v = q->t->dtype == LP_U8 ? ((const uint8_t *)q->t->data)[i] : ((const int8_t *)q->t->data)[i];
    return (float)(v - q->zp) * q->scale;
}

/* y[i] = quantize(v, y's scale and zero point) */
static void store_q(lp_tensor *y, int64_t i, float v, float scale, int32_t zp)
{
    int32_t lo, hi;
    lp_quant_range(y->dtype == LP_I8, &lo, &hi);
    int32_t q = lp_requant(v / scale, zp, lo, hi);
    if (y->dtype == LP_U8)
        ((uint8_t *)y->data)[i] = (uint8_t)q;
    else
        ((int8_t *)y->data)[i] = (int8_t)q;
}

/* The output's scale (input si) and zero point (input zi, may be absent: 0 of type `dt`). */
static lp_status out_q(const lp_run_ctx *c, int si, int zi, lp_dtype dt, float *scale, int32_t *zp)
{
    qarg q;
    lp_tensor fake = { .dtype = dt };
    LP_TRY(qarg_of(c->node, &fake, opt_in(c, si), opt_in(c, zi), "the output", &q));
    *scale = q.scale;
    *zp = q.zp;
    return LP_OK;
}

/* ---------------- QLinearAdd, QLinearMul ---------------- */

/* A, A_scale, A_zero_point?, B, B_scale, B_zero_point?, C_scale, C_zero_point? */
static lp_status qbin_infer(lp_infer_ctx *c)
{
    const lp_shape *s[2] = { lp_in_shape(c, 0), lp_in_shape(c, 3) };
    LP_TRY(want_q8_in(c, 0, "A", &c->out[0].dtype));
    if (s[0]->ndim < 0 || s[1]->ndim < 0) {
        c->out[0].shape.ndim = -1;
        return LP_OK;
    }
    return lp_broadcast_shapes(c->node, 2, s, &c->out[0].shape);
}

static lp_status qbin_run(const lp_run_ctx *c, bool mul)
{
    qarg a, b;
    float sc;
    int32_t zc;
    lp_tensor *y = c->out[0];
    LP_TRY(qarg_of(c->node, c->in[0], c->in[1], opt_in(c, 2), "A", &a));
    LP_TRY(qarg_of(c->node, c->in[3], c->in[4], opt_in(c, 5), "B", &b));
    LP_TRY(out_q(c, 6, 7, y->dtype, &sc, &zc));
    int64_t sa[LP_MAX_DIMS], sb[LP_MAX_DIMS], idx[LP_MAX_DIMS] = { 0 };
    lp_broadcast_strides(a.t->ndim, a.t->dims, y->ndim, y->dims, sa);
    lp_broadcast_strides(b.t->ndim, b.t->dims, y->ndim, y->dims, sb);
    int64_t total = lp_tensor_numel(y), ia = 0, ib = 0;
    for (int64_t i = 0; i < total; i++) {
        float fa = deq(&a, ia), fb = deq(&b, ib);
        store_q(y, i, mul ? fa * fb : fa + fb, sc, zc);
        for (int d = y->ndim - 1; d >= 0; d--) { /* odometer over y's index */
            ia += sa[d];
            ib += sb[d];
            if (++idx[d] < y->dims[d])
                break;
            ia -= sa[d] * y->dims[d];
            ib -= sb[d] * y->dims[d];
            idx[d] = 0;
        }
    }
    return LP_OK;
}

static lp_status qadd_run(const lp_run_ctx *c) { return qbin_run(c, false); }
static lp_status qmul_run(const lp_run_ctx *c) { return qbin_run(c, true); }

const lp_op_def lp_opdef_QLinearAdd = {
    .name = "QLinearAdd", .domain = "com.microsoft", .min_in = 7, .max_in = 8, .min_out = 1, .max_out = 1,
    .optional_in = 0x24u, /* A_zero_point, B_zero_point */
    .infer = qbin_infer, .run = qadd_run,
};

const lp_op_def lp_opdef_QLinearMul = {
    .name = "QLinearMul", .domain = "com.microsoft", .min_in = 7, .max_in = 8, .min_out = 1, .max_out = 1,
    .optional_in = 0x24u,
    .infer = qbin_infer, .run = qmul_run,
};

/* ---------------- QLinearSigmoid, QLinearLeakyRelu ---------------- */

/* X, X_scale, X_zero_point?, Y_scale, Y_zero_point? */
static lp_status qunary_infer(lp_infer_ctx *c)
{
    LP_TRY(want_q8_in(c, 0, "X", &c->out[0].dtype));
    c->out[0].shape = *lp_in_shape(c, 0);
    return LP_OK;
}

/* Each of the 256 inputs maps to one output: a table, as the function is computed in float
 * on the dequantized value either way. */
static lp_status qunary_run(const lp_run_ctx *c, float (*f)(float x, float alpha), float alpha)
{
    qarg x;
    float sy;
    int32_t zy;
    lp_tensor *y = c->out[0];
    LP_TRY(qarg_of(c->node, c->in[0], c->in[1], opt_in(c, 2), "X", &x));
    LP_TRY(out_q(c, 3, 4, y->dtype, &sy, &zy));
    uint8_t table[256];
    int32_t lo, hi;
    lp_quant_range(y->dtype == LP_I8, &lo, &hi);
    int base = x.t->dtype == LP_I8 ? -128 : 0;
    for (int k = 0; k < 256; k++)
        table[k] = (uint8_t)lp_requant(f((float)(base + k - x.zp) * x.scale, alpha) / sy, zy, lo, hi);
    const uint8_t *in = x.t->data;
    uint8_t *out = y->data;
    int64_t n = lp_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) /* int8 bytes index the table offset by 128 */
        out[i] = table[(uint8_t)(in[i] - (uint8_t)base)];
    return LP_OK;
}

static float sigmoid_f(float x, float alpha)
{
    (void)alpha;
    return 1.0f / (1.0f + expf(-x));
}

static float leaky_f(float x, float alpha) { return x >= 0 ? x : alpha * x; }

static lp_status qsigmoid_run(const lp_run_ctx *c) { return qunary_run(c, sigmoid_f, 0); }
static lp_status qleaky_run(const lp_run_ctx *c)
{
    return qunary_run(c, leaky_f, lp_attr_float(c->node, "alpha", 0.01f));
}

const lp_op_def lp_opdef_QLinearSigmoid = {
    .name = "QLinearSigmoid", .domain = "com.microsoft", .min_in = 4, .max_in = 5, .min_out = 1, .max_out = 1,
    .optional_in = 0x4u, /* X_zero_point */
    .infer = qunary_infer, .run = qsigmoid_run,
};

const lp_op_def lp_opdef_QLinearLeakyRelu = {
    .name = "QLinearLeakyRelu", .domain = "com.microsoft", .min_in = 4, .max_in = 5, .min_out = 1, .max_out = 1,
    .optional_in = 0x4u,
    .infer = qunary_infer, .run = qleaky_run,
};

/* ---------------- QLinearConcat ---------------- */

/* Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input; attribute axis. */
static lp_status qconcat_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    if ((c->n_in - 2) % 3 != 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "QLinearConcat takes Y_scale, Y_zero_point and triples "
                                                 "(X, X_scale, X_zero_point); it has %d inputs", c->n_in);
    LP_TRY(want_q8_in(c, 1, "Y_zero_point", &c->out[0].dtype));
    const lp_shape *s0 = lp_in_shape(c, 2);
    if (s0->ndim < 0) {
        c->out[0].shape.ndim = -1;
        return LP_OK;
    }
    int axis;
    LP_TRY(lp_op_axis(n, lp_attr_int(n, "axis", 0), s0->ndim, &axis));
    lp_shape y = *s0;
    for (int k = 5; k < c->n_in; k += 3) {
        const lp_shape *s = lp_in_shape(c, k);
        if (s->ndim < 0) {
            c->out[0].shape.ndim = -1;
            return LP_OK;
        }
        if (s->ndim != y.ndim)
            return lp_node_error(n, LOWP_ERR_SHAPE, "input %d has rank %d, the first %d", k, s->ndim, y.ndim);
        for (int d = 0; d < y.ndim; d++) {
            if (d == axis)
                y.d[d] = lp_dim_known(y.d[d]) && lp_dim_known(s->d[d]) ? y.d[d] + s->d[d] : LP_DIM_UNKNOWN;
            else if (lp_dim_known(y.d[d]) && lp_dim_known(s->d[d]) && y.d[d] != s->d[d])
                return lp_node_error(n, LOWP_ERR_SHAPE, "input %d has dim %d = %lld, the first %lld", k, d,
                                     (long long)s->d[d], (long long)y.d[d]);
        }
    }
    c->out[0].shape = y;
    return LP_OK;
}

/* y = concat over axis of quantize(dequantize(x_k)) */
static lp_status qconcat_run(const lp_run_ctx *c)
{
    lp_tensor *y = c->out[0];
    float sy;
    int32_t zy;
    LP_TRY(out_q(c, 0, 1, y->dtype, &sy, &zy));
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), y->ndim, &axis));
    int64_t outer = lp_numel(axis, y->dims), inner = lp_numel(y->ndim - axis - 1, y->dims + axis + 1);
    int64_t off = 0; /* position along the axis */
    for (int k = 2; k + 1 < c->n_in; k += 3) {
        qarg x;
        LP_TRY(qarg_of(c->node, c->in[k], opt_in(c, k + 1), opt_in(c, k + 2), "X", &x));
        int64_t len = x.t->dims[axis];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < len * inner; j++)
                store_q(y, (o * y->dims[axis] + off) * inner + j, deq(&x, o * len * inner + j), sy, zy);
        off += len;
    }
    return LP_OK;
}

const lp_op_def lp_opdef_QLinearConcat = {
    .name = "QLinearConcat", .domain = "com.microsoft", .min_in = 5, .max_in = 1 << 16,
    .min_out = 1, .max_out = 1,
    .infer = qconcat_infer, .run = qconcat_run,
};

/* ---------------- QLinearGlobalAveragePool ---------------- */

/* X, x_scale, x_zero_point, y_scale, y_zero_point; channels_last: X is (N, spatial..., C). */
static lp_status qgap_infer(lp_infer_ctx *c)
{
    const lp_shape *x = lp_in_shape(c, 0);
    c->out[0].dtype = lp_in_dtype(c, 0);
    c->out[0].shape = *x;
    if (x->ndim < 0)
        return LP_OK;
    if (x->ndim < 3)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "X has rank %d, expected at least 3", x->ndim);
    bool last = lp_attr_int(c->node, "channels_last", 0) != 0;
    for (int d = last ? 1 : 2; d < (last ? x->ndim - 1 : x->ndim); d++)
        c->out[0].shape.d[d] = 1;
    return LP_OK;
}

/* y[n, c] = quantize(mean over the spatial positions of dequantize(x[n, c, ...])) */
static lp_status qgap_run(const lp_run_ctx *c)
{
    qarg x;
    float sy;
    int32_t zy;
    lp_tensor *y = c->out[0];
    LP_TRY(qarg_of(c->node, c->in[0], c->in[1], opt_in(c, 2), "X", &x));
    LP_TRY(out_q(c, 3, 4, y->dtype, &sy, &zy));
    bool last = lp_attr_int(c->node, "channels_last", 0) != 0;
    const lp_tensor *t = x.t;
    int64_t N = t->dims[0], C = last ? t->dims[t->ndim - 1] : t->dims[1];
    int64_t P = lp_tensor_numel(t) / (N > 0 && C > 0 ? N * C : 1);
    if (P == 0)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "X has no spatial positions");
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t sum = 0; /* of x - zp: exact */
            for (int64_t p = 0; p < P; p++) {
                int64_t i = last ? (n * P + p) * C + ch : (n * C + ch) * P + p;
                sum += (int64_t)(t->dtype == LP_U8 ? ((const uint8_t *)t->data)[i] : ((const int8_t *)t->data)[i]) -
                       x.zp;
            }
            store_q(y, n * C + ch, (float)((double)sum / (double)P * x.scale), sy, zy);
        }
    return LP_OK;
}

const lp_op_def lp_opdef_QLinearGlobalAveragePool = {
    .name = "QLinearGlobalAveragePool", .domain = "com.microsoft", .min_in = 5, .max_in = 5, .min_out = 1,
    .max_out = 1, .optional_in = 0x14u, /* x_zero_point, y_zero_point */
    .infer = qgap_infer, .run = qgap_run,
};

/* ---------------- integer products with float or 8-bit results ---------------- */

/* A per-column parameter (scale or zero point) of B (K, N): one value, or N. */
static lp_status check_col_param(const lp_node *n, const lp_tensor *t, int64_t N, const char *what)
{
    if (t && lp_tensor_numel(t) != 1 && lp_tensor_numel(t) != N)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%s has %lld values, expected 1 or %lld", what,
                             (long long)lp_tensor_numel(t), (long long)N);
    return LP_OK;
}

static float col_scale(const lp_tensor *s, int64_t j)
{
    return ((const float *)s->data)[lp_tensor_numel(s) == 1 ? 0 : j];
}

/* A bias broadcast onto (..., N): a float (or int32 for QGemm) tensor of N values or one. */
static lp_status check_bias(const lp_node *n, const lp_tensor *b, lp_dtype want, int64_t N)
{
    if (b && (b->dtype != want || (lp_tensor_numel(b) != N && lp_tensor_numel(b) != 1)))
        return lp_node_error(n, LOWP_ERR_SHAPE, "the bias must be %lld %s values", (long long)N,
                             lp_dtype_traits_of(want)->name);
    return LP_OK;
}

/* y = acc[r, j] * s_a * s_b[j] + bias[j], the product in float as ORT forms it */
static void acc_to_float(const int32_t *acc, int64_t rows, int64_t N, float sa, const lp_tensor *sb,
                         const lp_tensor *bias, float *y)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < N; j++) {
            float v = (float)acc[r * N + j] * (sa * col_scale(sb, j));
            if (bias)
                v += ((const float *)bias->data)[lp_tensor_numel(bias) == 1 ? 0 : j];
            y[r * N + j] = v;
        }
}

static lp_status float_mm_infer(lp_infer_ctx *c, int bi)
{
    c->out[0].dtype = LP_F32;
    return lp_matmul_infer(c->node, lp_in_shape(c, 0), lp_in_shape(c, bi), &c->out[0].shape);
}

/* MatMulIntegerToFloat: A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias? ->
 * (A - a_zp)(B - b_zp) * a_scale * b_scale[col] + bias (float). */
static lp_status mmitf_infer(lp_infer_ctx *c) { return float_mm_infer(c, 1); }

static lp_status mmitf_run(const lp_run_ctx *c)
{
    const lp_node *n = c->node;
    const lp_tensor *a = c->in[0], *b = c->in[1], *sa = c->in[2], *sb = c->in[3], *bias = opt_in(c, 6);
    lp_matmul mm;
    if (sa->dtype != LP_F32 || lp_tensor_numel(sa) != 1 || sb->dtype != LP_F32)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "a_scale must be one float32 value, b_scale float32");
    int32_t *acc = malloc((size_t)(lp_tensor_numel(c->out[0]) > 0 ? lp_tensor_numel(c->out[0]) : 1) * sizeof *acc);
    if (!acc)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = lp_qmatmul_acc(c, a, opt_in(c, 4), b, opt_in(c, 5), &mm, acc);
    if (st == LP_OK && b->ndim != 2)
        st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "B must be a matrix");
    if (st == LP_OK)
        st = check_col_param(n, sb, mm.N, "b_scale");
    if (st == LP_OK)
        st = check_bias(n, bias, LP_F32, mm.N);
    if (st == LP_OK)
        acc_to_float(acc, mm.count * mm.M, mm.N, *(const float *)sa->data, sb, bias, c->out[0]->data);
    free(acc);
    return st;
}

const lp_op_def lp_opdef_MatMulIntegerToFloat = {
    .name = "MatMulIntegerToFloat", .domain = "com.microsoft", .min_in = 4, .max_in = 7, .min_out = 1, .max_out = 1,
    .infer = mmitf_infer, .run = mmitf_run,
};

/* DynamicQuantizeMatMul: A (float), B (u8/i8 (K, N)), b_scale, b_zero_point?, bias? -> A
 * quantized as DynamicQuantizeLinear does (u8, its own scale and zero point), times
 * (B - b_zp), * a_scale * b_scale[col] + bias. */
static lp_status dqmm_infer(lp_infer_ctx *c) { return float_mm_infer(c, 1); }

static lp_status dqmm_run(const lp_run_ctx *c)
{
    const lp_node *n = c->node;
    const lp_tensor *a = c->in[0], *b = c->in[1], *sb = c->in[2], *bias = opt_in(c, 4);
    if (a->dtype != LP_F32 || sb->dtype != LP_F32)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "A and b_scale must be float32");
    lp_tensor *aq = NULL, *azp = NULL;
    int32_t *acc = NULL;
    lp_status st = lp_tensor_new(LP_U8, a->ndim, a->dims, &aq);
    if (st == LP_OK)
        st = lp_tensor_new(LP_U8, 0, NULL, &azp);
    float sa = 0;
    if (st == LP_OK) {
        uint8_t zp;
        lp_dynamic_quantize(a->data, lp_tensor_numel(a), aq->data, &sa, &zp);
        *(uint8_t *)azp->data = zp;
        int64_t total = lp_tensor_numel(c->out[0]);
        acc = malloc((size_t)(total > 0 ? total : 1) * sizeof *acc);
        if (!acc)
            st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    lp_matmul mm;
    if (st == LP_OK)
        st = lp_qmatmul_acc(c, aq, azp, b, opt_in(c, 3), &mm, acc);
    if (st == LP_OK && b->ndim != 2)
        st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "B must be a matrix");
    if (st == LP_OK)
        st = check_col_param(n, sb, mm.N, "b_scale");
    if (st == LP_OK)
        st = check_bias(n, bias, LP_F32, mm.N);
    if (st == LP_OK)
        acc_to_float(acc, mm.count * mm.M, mm.N, sa, sb, bias, c->out[0]->data);
    free(acc);
    lp_tensor_free(aq);
    lp_tensor_free(azp);
    return st;
}

const lp_op_def lp_opdef_DynamicQuantizeMatMul = {
    .name = "DynamicQuantizeMatMul", .domain = "com.microsoft", .min_in = 3, .max_in = 5, .min_out = 1,
    .max_out = 1, .infer = dqmm_infer, .run = dqmm_run,
};

/* QGemm: A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale?, y_zero_point?;
 * alpha, transA, transB. Y = alpha * (A' - a_zp)(B' - b_zp) * a_scale * b_scale[col] + C's
 * float value (C int32, zero point 0, scale alpha * a_scale * b_scale[col]); quantized with
 * (y_scale, y_zero_point) when y_scale is given, else float. */
static lp_status qgemm_infer(lp_infer_ctx *c)
{
    const lp_shape *a = lp_in_shape(c, 0), *b = lp_in_shape(c, 3);
    bool ta = lp_attr_int(c->node, "transA", 0) != 0, tb = lp_attr_int(c->node, "transB", 0) != 0;
    bool quantized = c->n_in > 7 && c->in[7];
    c->out[0].dtype = !quantized ? LP_F32 : c->n_in > 8 && c->in[8] ? lp_in_dtype(c, 8) : lp_in_dtype(c, 0);
    c->out[0].shape.ndim = 2;
    c->out[0].shape.d[0] = a->ndim == 2 ? a->d[ta ? 1 : 0] : LP_DIM_UNKNOWN;
    c->out[0].shape.d[1] = b->ndim == 2 ? b->d[tb ? 0 : 1] : LP_DIM_UNKNOWN;
    if ((a->ndim >= 0 && a->ndim != 2) || (b->ndim >= 0 && b->ndim != 2))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "A and B must be matrices");
    return LP_OK;
}

/* Element (i, j) of a 2-D 8-bit tensor, transposed when `t`, minus its zero point. */
static int32_t q8_at(const lp_tensor *x, bool t, int64_t i, int64_t j, int32_t zp)
{
    int64_t k = t ? j * x->dims[1] + i : i * x->dims[1] + j;
    return (x->dtype == LP_U8 ? ((const uint8_t *)x->data)[k] : ((const int8_t *)x->data)[k]) - zp;
}

static lp_status qgemm_run(const lp_run_ctx *c)
{
    const lp_node *n = c->node;
    const lp_tensor *A = c->in[0], *B = c->in[3], *sb = c->in[4], *zb = c->in[5], *C = opt_in(c, 6);
    lp_tensor *y = c->out[0];
    qarg a;
    LP_TRY(qarg_of(n, A, c->in[1], c->in[2], "A", &a));
    bool ta = lp_attr_int(n, "transA", 0) != 0, tb = lp_attr_int(n, "transB", 0) != 0;
    float alpha = lp_attr_float(n, "alpha", 1.0f);
    if (!is_q8(B->dtype) || B->ndim != 2 || A->ndim != 2 || sb->dtype != LP_F32 || (zb && zb->dtype != B->dtype))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "A and B must be 8-bit matrices, b_scale float32");
    int64_t M = A->dims[ta ? 1 : 0], K = A->dims[ta ? 0 : 1], N = B->dims[tb ? 0 : 1];
    if (B->dims[tb ? 1 : 0] != K)
        return lp_node_error(n, LOWP_ERR_SHAPE, "A has %lld columns but B %lld rows", (long long)K,
                             (long long)B->dims[tb ? 1 : 0]);
    LP_TRY(check_col_param(n, sb, N, "b_scale"));
    LP_TRY(check_col_param(n, zb, N, "b_zero_point"));
    if (C && (C->dtype != LP_I32 || (lp_tensor_numel(C) != 1 && lp_tensor_numel(C) != N && lp_tensor_numel(C) != M * N)))
        return lp_node_error(n, LOWP_ERR_SHAPE, "C must be int32 broadcastable to (%lld, %lld)", (long long)M,
                             (long long)N);
    if (K > LP_GEMM_I32_MAX_K)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "reduction of %lld terms could overflow int32", (long long)K);
    bool quantized = c->n_in > 7 && c->in[7];
    float sy = 1;
    int32_t zy = 0;
    if (quantized)
        LP_TRY(out_q(c, 7, 8, y->dtype, &sy, &zy));
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int32_t zbj = zb ? (int32_t)lp_tensor_get(zb, lp_tensor_numel(zb) == 1 ? 0 : j) : 0;
            int64_t acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += (int64_t)q8_at(A, ta, i, k, a.zp) * q8_at(B, tb, k, j, zbj);
            if (C) {
                int64_t nc = lp_tensor_numel(C);
                acc += ((const int32_t *)C->data)[nc == 1 ? 0 : nc == N ? j : i * N + j];
            }
            float v = (float)acc * (alpha * a.scale * col_scale(sb, j));
            if (quantized)
                store_q(y, i * N + j, v, sy, zy);
            else
                ((float *)y->data)[i * N + j] = v;
        }
    return LP_OK;
}

const lp_op_def lp_opdef_QGemm = {
    .name = "QGemm", .domain = "com.microsoft", .min_in = 6, .max_in = 9, .min_out = 1, .max_out = 1,
    .infer = qgemm_infer, .run = qgemm_run,
};
