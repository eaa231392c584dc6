/* qlower.c — integer-operator (QOperator) models on the fast paths: before a plan is compiled
 * for the oneDNN backend, each QLinear* / QGemm node becomes DequantizeLinear -> float op ->
 * QuantizeLinear, and DynamicQuantizeMatMul / MatMulIntegerToFloat become the dynamic form
 * [DynamicQuantizeLinear ->] MatMulInteger -> Cast -> Mul(a_scale * b_scale) [-> Add(bias)].
 *
 * Why a rewrite rather than builders of their own: the QDQ lowering (kernels/dnnl_int8.c)
 * already turns DQ -> Conv | MatMul | Gemm -> Q into one u8/s8 x s8 primitive with the zero
 * points, bias and requantization inside, keeps 8-bit values in the layout the convolutions
 * choose, moves them through Concat / MaxPool / Resize without dequantizing, and the dynamic
 * form is one INT8 matmul with its scale and bias as post-ops. The rewrite gives QOperator
 * files all of that, and every later improvement of those paths, with no second set of
 * primitives to keep in step. Reference plans (LOWP_KERNELS=reference) do not rewrite: they run
 * the operators' own kernels (ops/quant.c, ops/quant_contrib.c), which the tests compare with.
 *
 * Numerics — how the rewritten graph can differ from the operators' definitions:
 * - QLinearConv / QLinearMatMul / QGemm with 8-bit results requantize with one float32
 *   multiplier, round((acc + bias) * (s_x * s_w / s_y)) + zp_y (ONNX's reference, ONNX
 *   Runtime's MLAS). The QDQ form rounds the same real number computed in another order
 *   (oneDNN: (acc + bias) * (s_x * s_w * (1 / s_y))): integer sums are exact, so only an
 *   element whose exact value lies within float32 rounding of a .5 boundary can land one
 *   quantization step away.
 * - QLinearAdd / Mul / Sigmoid / LeakyRelu / GlobalAveragePool / Concat are defined as the
 *   float op between dequantization and quantization: the QDQ form is that definition; its
 *   float32 arithmetic (oneDNN's sigmoid, a float sum for the average) differs from a table or
 *   a double sum by rounding only, again at most one step at ties.
 * - MatMulIntegerToFloat / DynamicQuantizeMatMul: the same integers, then (float)acc *
 *   (a_scale * b_scale[col]) + bias in the order ONNX Runtime forms it; oneDNN applies the
 *   scale and bias as post-ops in float32 (within an ulp or two of the reference).
 * Constant weights w (u8/s8) whose w - w_zero_point all fit int8 become s8 with no zero point:
 * exact, and what oneDNN's INT8 kernels take. */
#include "engine/qlower.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/infer.h"
#include "ops/op.h"

typedef struct lw {
    lp_graph *g;
    bool axis_ok;               /* per-axis DequantizeLinear needs opset 13 */
} lw;

static int arg(const lp_node *n, int k) { return k < n->n_in ? n->in[k] : -1; }

static const lp_tensor *cval(const lp_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == LP_VALUE_CONST ? g->values[v].init : NULL;
}

static bool is_q8(lp_dtype t) { return t == LP_U8 || t == LP_I8; }

/* A float32 constant of 1 or `count` positive finite values (rank <= 1). */
static bool scale_ok(const lp_graph *g, int v, int64_t count)
{
    const lp_tensor *t = cval(g, v);
    if (!t || t->dtype != LP_F32 || t->ndim > 1)
        return false;
    int64_t k = lp_tensor_numel(t);
    if (k != 1 && k != count)
        return false;
    for (int64_t i = 0; i < k; i++) {
        float s = ((const float *)t->data)[i];
        if (!(s > 0) || !isfinite(s))
            return false;
    }
    return true;
}

/* Absent, or a u8/s8 constant of 1 or `count` values (rank <= 1). */
static bool zp_ok(const lp_graph *g, int v, int64_t count)
{
    if (v < 0)
        return true;
    const lp_tensor *t = cval(g, v);
    return t && is_q8(t->dtype) && t->ndim <= 1 && (lp_tensor_numel(t) == 1 || lp_tensor_numel(t) == count);
}

static int64_t count_of(const lp_graph *g, int v) { return v >= 0 ? lp_tensor_numel(g->values[v].init) : 1; }

/* Two parameter inputs (constants, or absent) that hold the same values. */
static bool same_param(const lp_graph *g, int a, int b)
{
    if (a == b)
        return true;
    const lp_tensor *ta = cval(g, a), *tb = cval(g, b);
    return ta && tb && lp_tensor_equal(ta, tb);
}

static lp_status new_const(lp_graph *g, const char *base, const char *what, lp_tensor *t, int *v)
{
    char name[300];
    snprintf(name, sizeof name, "%s_%s", base, what);
    lp_status st = lp_graph_new_value(g, name, v);
    if (st != LP_OK) {
        lp_tensor_free(t);
        return st;
    }
    lp_graph_set_const(g, *v, t);
    return LP_OK;
}

static lp_status new_value(lp_graph *g, const char *base, const char *what, int *v)
{
    char name[300];
    snprintf(name, sizeof name, "%s_%s", base, what);
    return lp_graph_new_value(g, name, v);
}

static lp_status add_node(lp_graph *g, const char *base, const char *what, const char *op, int n_in, const int *in,
                          int n_out, const int *out, int *idx)
{
    char name[300];
    snprintf(name, sizeof name, "%s%s%s", base, *what ? "/" : "", what);
    int k;
    LP_TRY(lp_graph_add_node(g, name, op, "", n_in, in, n_out, out, &k));
    if (idx)
        *idx = k;
    return LP_OK;
}

static lp_status attr_int(lp_graph *g, int ni, const char *name, int64_t v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_INT, .i = v };
    return lp_node_add_attr(&g->nodes[ni], &a);
}

static lp_status attr_float(lp_graph *g, int ni, const char *name, float v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_FLOAT, .f = v };
    return lp_node_add_attr(&g->nodes[ni], &a);
}

/* Copies the attributes of node `from` named in `names` (NULL-terminated; NULL: all). */
static lp_status copy_attrs(lp_graph *g, int from, int to, const char *const *names)
{
    for (int k = 0; k < g->nodes[from].n_attr; k++) {
        const lp_attr *a = &g->nodes[from].attrs[k];
        bool want = !names;
        for (int j = 0; names && names[j] && !want; j++)
            want = strcmp(names[j], a->name) == 0;
        if (want) {
            lp_attr copy = *a; /* the node array does not move while a node gains an attribute */
            LP_TRY(lp_node_add_attr(&g->nodes[to], &copy));
        }
    }
    return LP_OK;
}

/* DequantizeLinear(x, s, z) [axis] into a new float value *out. An activation (per tensor)
 * already dequantized with the same parameters reuses that node's output, so that the
 * QuantizeLinear which made it keeps one reader (the engine stores such a pair as 8 bits). */
static lp_status dq(lw *w, int x, int s, int z, int axis, const char *base, const char *what, int *out)
{
    lp_graph *g = w->g;
    if (axis < 0 && g->values[x].kind != LP_VALUE_CONST)
        for (int i = 0; i < g->n_nodes; i++) {
            const lp_node *n = &g->nodes[i];
            if (!n->dead && n->op == LP_OP_DequantizeLinear && !*n->domain && n->n_out == 1 && n->out[0] >= 0 &&
                arg(n, 0) == x && same_param(g, arg(n, 1), s) && same_param(g, arg(n, 2), z) &&
                lp_tensor_numel(g->values[s].init) == 1) {
                *out = n->out[0];
                return LP_OK;
            }
        }
    LP_TRY(new_value(g, base, what, out));
    int in[3] = { x, s, z }, idx;
    LP_TRY(add_node(g, base, what, "DequantizeLinear", z >= 0 ? 3 : 2, in, 1, out, &idx));
    if (axis >= 0)
        LP_TRY(attr_int(g, idx, "axis", axis));
    return LP_OK;
}

/* QuantizeLinear(f, s, z) into the existing value y. */
static lp_status q(lw *w, int f, int s, int z, int y, const char *base)
{
    int in[3] = { f, s, z };
    return add_node(w->g, base, "q", "QuantizeLinear", z >= 0 ? 3 : 2, in, 1, &y, NULL);
}

/* ---- constant weights ---- */

/* A constant 8-bit weight wv with zero point wz (absent, 1 or dims[axis] values): when every
 * w - zp fits int8, an s8 constant of those values (*w8: a new value, or wv itself when wv is
 * s8 and zp is absent or zero) and no zero point (*z8 = -1); else wv and wz unchanged. */
static lp_status fit_s8(lw *w, int wv, int wz, int axis, const char *base, int *w8, int *z8)
{
    lp_graph *g = w->g;
    const lp_tensor *W = g->values[wv].init, *Z = cval(g, wz);
    int64_t total = lp_tensor_numel(W), nz = Z ? lp_tensor_numel(Z) : 1;
    int64_t inner = nz > 1 ? lp_numel(W->ndim - axis - 1, W->dims + axis + 1) : 1, ch = nz > 1 ? W->dims[axis] : 1;
    bool fits = true, zero = true;
    for (int64_t i = 0; i < nz && Z; i++)
        zero = zero && lp_tensor_get_int(Z, i) == 0;
    for (int64_t i = 0; i < total && fits; i++) {
        int64_t d = lp_tensor_get_int(W, i) - (Z ? lp_tensor_get_int(Z, nz == 1 ? 0 : (i / inner) % ch) : 0);
        fits = d >= -128 && d <= 127;
    }
    *w8 = wv;
    *z8 = wz;
    if (!fits)
        return LP_OK;
    *z8 = -1;
    if (W->dtype == LP_I8 && zero)
        return LP_OK;
    lp_tensor *t;
    LP_TRY(lp_tensor_new(LP_I8, W->ndim, W->dims, &t));
    for (int64_t i = 0; i < total; i++)
        ((int8_t *)t->data)[i] =
            (int8_t)(lp_tensor_get_int(W, i) - (Z ? lp_tensor_get_int(Z, nz == 1 ? 0 : (i / inner) % ch) : 0));
    return new_const(g, base, "w8", t, w8);
}

/* A constant of `count` copies of the one value of constant v (a zero point or scale that
 * must match a per-axis partner's length). */
static lp_status expand(lw *w, int v, int64_t count, const char *base, int *out)
{
    const lp_tensor *t = w->g->values[v].init;
    lp_tensor *e;
    LP_TRY(lp_tensor_new(t->dtype, 1, &count, &e));
    size_t es = lp_dtype_traits_of(t->dtype)->size;
    for (int64_t i = 0; i < count; i++)
        memcpy((char *)e->data + (size_t)i * es, t->data, es);
    return new_const(w->g, base, "expanded", e, out);
}

/* Can weight wv (constant u8/s8) with scale ws and zero point wz be dequantized per tensor or
 * along `axis` here? */
static bool weight_ok(const lw *w, int wv, int ws, int wz, int axis)
{
    const lp_graph *g = w->g;
    const lp_tensor *W = cval(g, wv);
    if (!W || !is_q8(W->dtype) || axis >= W->ndim)
        return false;
    int64_t ch = axis >= 0 ? W->dims[axis] : 1;
    if (!scale_ok(g, ws, ch) || !zp_ok(g, wz, ch) || (wz >= 0 && cval(g, wz)->dtype != W->dtype))
        return false;
    bool per_axis = count_of(g, ws) > 1 || count_of(g, wz) > 1;
    return !per_axis || (axis >= 0 && w->axis_ok);
}

/* The weight's DequantizeLinear (after fit_s8), its scale in *s_used (the per-axis form's
 * when the zero point is per axis) and *axis_used (-1: per tensor). */
static lp_status weight_dq(lw *w, int wv, int ws, int wz, int axis, const char *base, int *wf, int *s_used,
                           int *axis_used)
{
    lp_graph *g = w->g;
    int w8, z8;
    LP_TRY(fit_s8(w, wv, wz, axis, base, &w8, &z8));
    int64_t ns = count_of(g, ws), nz = z8 >= 0 ? count_of(g, z8) : 1, ch = axis >= 0 ? g->values[wv].init->dims[axis] : 1;
    if (ns == 1 && nz > 1)
        LP_TRY(expand(w, ws, ch, base, &ws));
    else if (nz == 1 && ns > 1 && z8 >= 0)
        LP_TRY(expand(w, z8, ch, base, &z8));
    bool per_axis = count_of(g, ws) > 1;
    *s_used = ws;
    *axis_used = per_axis ? axis : -1;
    return dq(w, w8, ws, z8, *axis_used, base, "dqw", wf);
}

/* An int32 bias b whose scale is s_a * s_w[c] (QLinearConv's B, QGemm's C) dequantized:
 * per axis `axis` of b when s_w is per axis. */
static lp_status bias_dq(lw *w, int b, int sa, int sw, int axis, const char *base, int *bf)
{
    lp_graph *g = w->g;
    const lp_tensor *A = g->values[sa].init, *W = g->values[sw].init;
    int64_t k = lp_tensor_numel(W);
    lp_tensor *t;
    LP_TRY(lp_tensor_new(LP_F32, 1, &k, &t));
    for (int64_t i = 0; i < k; i++) /* the product as the INT8 kernels form it (s_x * s_w[c]) */
        ((float *)t->data)[i] = ((const float *)A->data)[0] * ((const float *)W->data)[i];
    int bs;
    LP_TRY(new_const(g, base, "bscale", t, &bs));
    return dq(w, b, bs, -1, k > 1 ? axis : -1, base, "dqb", bf);
}

/* ---- the operators ---- */

/* X (non-constant or constant), scale, zero point: per tensor. */
static bool act_ok(const lp_graph *g, int x, int s, int z) { return x >= 0 && scale_ok(g, s, 1) && zp_ok(g, z, 1); }

/* The float result yf quantized into node ni's output with the node's inputs si, zi (scale,
 * zero point); ni is then replaced. */
static lp_status requant_out(lw *w, int ni, int yf, int si, int zi, const char *base, bool *done)
{
    const lp_node *n = &w->g->nodes[ni];
    LP_TRY(q(w, yf, arg(n, si), arg(n, zi), n->out[0], base));
    w->g->nodes[ni].dead = true;
    *done = true;
    return LP_OK;
}

static void kill(lw *w, int ni, bool *done)
{
    w->g->nodes[ni].dead = true;
    *done = true;
}

/* QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B? */
static lp_status lower_qconv(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int x = arg(n, 0), b = arg(n, 8), y = n->out[0];
    const lp_tensor *W = cval(g, arg(n, 3)), *B = cval(g, b);
    if (!act_ok(g, x, arg(n, 1), arg(n, 2)) || !act_ok(g, y, arg(n, 6), arg(n, 7)) || !W || W->ndim < 3 ||
        !weight_ok(w, arg(n, 3), arg(n, 4), arg(n, 5), 0) ||
        (b >= 0 && (!B || B->dtype != LP_I32 || B->ndim != 1 || B->dims[0] != W->dims[0])))
        return LP_OK;
    int in[3] = { -1, -1, -1 }, sw, axis, yf, idx;
    LP_TRY(dq(w, x, arg(&g->nodes[ni], 1), arg(&g->nodes[ni], 2), -1, base, "dqx", &in[0]));
    n = &g->nodes[ni];
    LP_TRY(weight_dq(w, arg(n, 3), arg(n, 4), arg(n, 5), 0, base, &in[1], &sw, &axis));
    if (b >= 0)
        LP_TRY(bias_dq(w, b, arg(&g->nodes[ni], 1), sw, 0, base, &in[2]));
    LP_TRY(new_value(g, base, "f", &yf));
    LP_TRY(add_node(g, base, "", "Conv", b >= 0 ? 3 : 2, in, 1, &yf, &idx));
    LP_TRY(copy_attrs(g, ni, idx, NULL));
    return requant_out(w, ni, yf, 6, 7, base, done);
}

/* QLinearMatMul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp (a per tensor; b a
 * constant per tensor or per column of a matrix, or an activation per tensor). */
static lp_status lower_qmatmul(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int a = arg(n, 0), b = arg(n, 3), y = n->out[0];
    const lp_tensor *B = cval(g, b);
    int baxis = B && B->ndim == 2 ? 1 : -1;
    if (!act_ok(g, a, arg(n, 1), arg(n, 2)) || !act_ok(g, y, arg(n, 6), arg(n, 7)) || b < 0 ||
        (B ? !weight_ok(w, b, arg(n, 4), arg(n, 5), baxis) : !act_ok(g, b, arg(n, 4), arg(n, 5))))
        return LP_OK;
    int in[2], sw, axis, yf;
    LP_TRY(dq(w, a, arg(n, 1), arg(n, 2), -1, base, "dqa", &in[0]));
    n = &g->nodes[ni];
    if (B)
        LP_TRY(weight_dq(w, b, arg(n, 4), arg(n, 5), baxis, base, &in[1], &sw, &axis));
    else
        LP_TRY(dq(w, b, arg(n, 4), arg(n, 5), -1, base, "dqb", &in[1]));
    LP_TRY(new_value(g, base, "f", &yf));
    LP_TRY(add_node(g, base, "", "MatMul", 2, in, 1, &yf, NULL));
    return requant_out(w, ni, yf, 6, 7, base, done);
}

/* QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?; alpha, transA, transB.
 * Y = alpha * (A'B' + C) * a_scale * b_scale[col]: Gemm(DQ(A), DQ(B), DQ(C), alpha,
 * beta = alpha) with C's scale a_scale * b_scale[col]. */
static lp_status lower_qgemm(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int a = arg(n, 0), b = arg(n, 3), c = arg(n, 6), ys = arg(n, 7), y = n->out[0];
    const lp_tensor *B = cval(g, b), *C = cval(g, c);
    bool tb = lp_attr_int(n, "transB", 0) != 0;
    if (!act_ok(g, a, arg(n, 1), arg(n, 2)) || !B || B->ndim != 2 || !weight_ok(w, b, arg(n, 4), arg(n, 5), tb ? 0 : 1) ||
        (ys >= 0 && !act_ok(g, y, ys, arg(n, 8))))
        return LP_OK;
    int64_t N = B->dims[tb ? 0 : 1];
    bool per_col = count_of(g, arg(n, 4)) > 1 || count_of(g, arg(n, 5)) > 1;
    if (c >= 0 && (!C || C->dtype != LP_I32 || C->ndim > 2 ||
                   (per_col && (C->ndim == 0 || C->dims[C->ndim - 1] != N))))
        return LP_OK;
    float alpha = lp_attr_float(n, "alpha", 1.0f);
    int in[3] = { -1, -1, -1 }, sw, axis, yf = y, idx;
    LP_TRY(dq(w, a, arg(n, 1), arg(n, 2), -1, base, "dqa", &in[0]));
    n = &g->nodes[ni];
    LP_TRY(weight_dq(w, b, arg(n, 4), arg(n, 5), tb ? 0 : 1, base, &in[1], &sw, &axis));
    if (c >= 0)
        LP_TRY(bias_dq(w, c, arg(&g->nodes[ni], 1), sw, C->ndim - 1, base, &in[2]));
    if (ys >= 0)
        LP_TRY(new_value(g, base, "f", &yf));
    LP_TRY(add_node(g, base, "", "Gemm", c >= 0 ? 3 : 2, in, 1, &yf, &idx));
    static const char *const keep[] = { "alpha", "transA", "transB", NULL };
    LP_TRY(copy_attrs(g, ni, idx, keep));
    if (c >= 0)
        LP_TRY(attr_float(g, idx, "beta", alpha));
    if (ys >= 0)
        LP_TRY(q(w, yf, ys, arg(&g->nodes[ni], 8), y, base));
    kill(w, ni, done);
    return LP_OK;
}

/* QLinearAdd / QLinearMul: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp. */
static lp_status lower_qbinary(lw *w, int ni, const char *op, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int y = n->out[0];
    if (!act_ok(g, arg(n, 0), arg(n, 1), arg(n, 2)) || !act_ok(g, arg(n, 3), arg(n, 4), arg(n, 5)) ||
        !act_ok(g, y, arg(n, 6), arg(n, 7)))
        return LP_OK;
    int in[2], yf;
    for (int k = 0; k < 2; k++) {
        n = &g->nodes[ni];
        LP_TRY(dq(w, arg(n, 3 * k), arg(n, 3 * k + 1), arg(n, 3 * k + 2), -1, base, k ? "dqb" : "dqa", &in[k]));
    }
    LP_TRY(new_value(g, base, "f", &yf));
    LP_TRY(add_node(g, base, "", op, 2, in, 1, &yf, NULL));
    return requant_out(w, ni, yf, 6, 7, base, done);
}

/* QLinearSigmoid / QLinearLeakyRelu: X, X_scale, X_zp, Y_scale, Y_zp. */
static lp_status lower_qunary(lw *w, int ni, const char *op, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int y = n->out[0];
    if (!act_ok(g, arg(n, 0), arg(n, 1), arg(n, 2)) || !act_ok(g, y, arg(n, 3), arg(n, 4)))
        return LP_OK;
    int xf, yf, idx;
    LP_TRY(dq(w, arg(n, 0), arg(n, 1), arg(n, 2), -1, base, "dqx", &xf));
    LP_TRY(new_value(g, base, "f", &yf));
    LP_TRY(add_node(g, base, "", op, 1, &xf, 1, &yf, &idx));
    static const char *const keep[] = { "alpha", NULL };
    LP_TRY(copy_attrs(g, ni, idx, keep));
    return requant_out(w, ni, yf, 3, 4, base, done);
}

/* QLinearConcat: Y_scale, Y_zp, then (X, X_scale, X_zp) per input; axis. */
static lp_status lower_qconcat(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int y = n->out[0], k = (n->n_in - 2) / 3;
    if ((n->n_in - 2) % 3 != 0 || k < 1 || k > LP_MAX_NODE_IO || !act_ok(g, y, arg(n, 0), arg(n, 1)))
        return LP_OK;
    for (int i = 0; i < k; i++)
        if (!act_ok(g, arg(n, 2 + 3 * i), arg(n, 3 + 3 * i), arg(n, 4 + 3 * i)))
            return LP_OK;
    int in[LP_MAX_NODE_IO], yf, idx;
    for (int i = 0; i < k; i++) {
        n = &g->nodes[ni];
        LP_TRY(dq(w, arg(n, 2 + 3 * i), arg(n, 3 + 3 * i), arg(n, 4 + 3 * i), -1, base, "dqx", &in[i]));
    }
    LP_TRY(new_value(g, base, "f", &yf));
    LP_TRY(add_node(g, base, "", "Concat", k, in, 1, &yf, &idx));
    static const char *const keep[] = { "axis", NULL };
    LP_TRY(copy_attrs(g, ni, idx, keep));
    return requant_out(w, ni, yf, 0, 1, base, done);
}

static lp_status transpose(lw *w, int x, const int64_t *perm, int r, const char *base, const char *what, int *out)
{
    int idx;
    LP_TRY(new_value(w->g, base, what, out));
    LP_TRY(add_node(w->g, base, what, "Transpose", 1, &x, 1, out, &idx));
    lp_attr a = { .name = "perm", .type = LP_ATTR_INTS, .n = r, .ints = (int64_t *)perm };
    return lp_node_add_attr(&w->g->nodes[idx], &a);
}

/* QLinearGlobalAveragePool: X, x_scale, x_zp, y_scale, y_zp; channels_last (N, spatial..., C)
 * goes through Transposes to (N, C, spatial...) and back. */
static lp_status lower_qgap(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int x = arg(n, 0), y = n->out[0], r = x >= 0 ? g->values[x].shape.ndim : -1;
    bool last = lp_attr_int(n, "channels_last", 0) != 0;
    if (!act_ok(g, x, arg(n, 1), arg(n, 2)) || !act_ok(g, y, arg(n, 3), arg(n, 4)) || (last && (r < 3 || r > LP_MAX_DIMS)))
        return LP_OK;
    int xf, yf;
    LP_TRY(dq(w, x, arg(n, 1), arg(n, 2), -1, base, "dqx", &xf));
    if (last) {
        int64_t to_first[LP_MAX_DIMS] = { 0 }, to_last[LP_MAX_DIMS] = { 0 };
        to_first[1] = r - 1;
        for (int d = 2; d < r; d++)
            to_first[d] = d - 1;
        for (int d = 1; d < r - 1; d++)
            to_last[d] = d + 1;
        to_last[r - 1] = 1;
        int xt, pooled;
        LP_TRY(transpose(w, xf, to_first, r, base, "nchw", &xt));
        LP_TRY(new_value(g, base, "pooled", &pooled));
        LP_TRY(add_node(g, base, "", "GlobalAveragePool", 1, &xt, 1, &pooled, NULL));
        LP_TRY(transpose(w, pooled, to_last, r, base, "nhwc", &yf));
    } else {
        LP_TRY(new_value(g, base, "f", &yf));
        LP_TRY(add_node(g, base, "", "GlobalAveragePool", 1, &xf, 1, &yf, NULL));
    }
    return requant_out(w, ni, yf, 3, 4, base, done);
}

/* MatMulInteger(aq, B, az, bz) -> Cast -> Mul(Mul(as, bs)) [-> Add(bias)] into y: ONNX
 * Runtime's dynamic form (B constant: made s8 without zero point when it fits). */
static lp_status integer_tail(lw *w, int aq, int as, int az, int b, int bs, int bz, int bias, int y, const char *base)
{
    lp_graph *g = w->g;
    const lp_tensor *B = cval(g, b);
    int b8 = b, z8 = bz;
    if (B && B->ndim == 2)
        LP_TRY(fit_s8(w, b, bz, 1, base, &b8, &z8));
    int acc, accf, s, scaled = bias >= 0 ? -1 : y, idx;
    LP_TRY(new_value(g, base, "acc", &acc));
    int mi[4] = { aq, b8, az, z8 };
    LP_TRY(add_node(g, base, "", "MatMulInteger", z8 >= 0 ? 4 : az >= 0 ? 3 : 2, mi, 1, &acc, NULL));
    LP_TRY(new_value(g, base, "accf", &accf));
    LP_TRY(add_node(g, base, "cast", "Cast", 1, &acc, 1, &accf, &idx));
    LP_TRY(attr_int(g, idx, "to", LOWP_FLOAT));
    /* (acc * a_scale) * b_scale: two post-ops of the INT8 matmul (a run-time scalar, then a
     * constant per column), where a_scale * b_scale would be a step of its own */
    LP_TRY(new_value(g, base, "scale", &s));
    int si[2] = { accf, as };
    LP_TRY(add_node(g, base, "scale", "Mul", 2, si, 1, &s, NULL));
    if (bias >= 0)
        LP_TRY(new_value(g, base, "scaled", &scaled));
    int mu[2] = { s, bs };
    LP_TRY(add_node(g, base, "mul", "Mul", 2, mu, 1, &scaled, NULL));
    if (bias >= 0) {
        int ad[2] = { scaled, bias };
        LP_TRY(add_node(g, base, "bias", "Add", 2, ad, 1, &y, NULL));
    }
    return LP_OK;
}

/* A constant (K, N) 8-bit B with per-tensor / per-column float scale and zero point, and an
 * absent or float32 bias. */
static bool int_b_ok(const lp_graph *g, int b, int bs, int bz, int bias)
{
    const lp_tensor *B = cval(g, b);
    if (!B || !is_q8(B->dtype) || B->ndim != 2 || !scale_ok(g, bs, B->dims[1]) || !zp_ok(g, bz, B->dims[1]) ||
        (bz >= 0 && cval(g, bz)->dtype != B->dtype))
        return false;
    return bias < 0 || (g->values[bias].dtype == LP_F32 || g->values[bias].dtype == LOWP_UNDEFINED);
}

/* DynamicQuantizeMatMul: A (float), B, b_scale, b_zp?, bias?. */
static lp_status lower_dqmm(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int a = arg(n, 0), y = n->out[0];
    if (a < 0 || !int_b_ok(g, arg(n, 1), arg(n, 2), arg(n, 3), arg(n, 4)))
        return LP_OK;
    int o[3];
    LP_TRY(new_value(g, base, "aq", &o[0]));
    LP_TRY(new_value(g, base, "as", &o[1]));
    LP_TRY(new_value(g, base, "az", &o[2]));
    LP_TRY(add_node(g, base, "dql", "DynamicQuantizeLinear", 1, &a, 3, o, NULL));
    n = &g->nodes[ni];
    LP_TRY(integer_tail(w, o[0], o[1], o[2], arg(n, 1), arg(n, 2), arg(n, 3), arg(n, 4), y, base));
    kill(w, ni, done);
    return LP_OK;
}

/* MatMulIntegerToFloat: A, B, a_scale, b_scale, a_zp?, b_zp?, bias?. */
static lp_status lower_mmitf(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    int a = arg(n, 0), as = arg(n, 2), az = arg(n, 4), y = n->out[0];
    if (a < 0 || as < 0 || !int_b_ok(g, arg(n, 1), arg(n, 3), arg(n, 5), arg(n, 6)))
        return LP_OK;
    LP_TRY(integer_tail(w, a, as, az, arg(n, 1), arg(n, 3), arg(n, 5), arg(n, 6), y, base));
    kill(w, ni, done);
    return LP_OK;
}

/* MatMulInteger with a constant B whose B - b_zp fits int8: B as s8, no zero point (exact). */
static lp_status fit_mmint(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    const lp_tensor *B = cval(g, arg(n, 1));
    int bz = arg(n, 3);
    if (!B || !is_q8(B->dtype) || B->ndim != 2 || !zp_ok(g, bz, B->dims[1]) ||
        (bz >= 0 && cval(g, bz)->dtype != B->dtype) || (B->dtype == LP_I8 && bz < 0))
        return LP_OK;
    int b8, z8;
    LP_TRY(fit_s8(w, arg(n, 1), bz, 1, base, &b8, &z8));
    if (z8 >= 0)
        return LP_OK;
    n = &g->nodes[ni];
    g->nodes[ni].in[1] = b8;
    if (n->n_in > 3)
        g->nodes[ni].in[3] = -1;
    *done = true;
    return LP_OK;
}

/* A value of one element by its (inferred) shape. */
static bool one_value(const lp_graph *g, int v)
{
    const lp_shape *s = &g->values[v].shape;
    return s->ndim >= 0 && lp_shape_static(s) && lp_numel(s->ndim, s->d) == 1;
}

/* ONNX Runtime's dynamic form scales the integer product by Mul(acc, Mul(x_scale, w_scale)),
 * x_scale a run-time scalar (DynamicQuantizeLinear's), w_scale constant: the inner Mul would be
 * a step of its own on the reference kernel, so the product becomes Mul(Mul(acc, x_scale),
 * w_scale) -- two post-ops of the integer convolution / matmul (one more float rounding). */
static lp_status split_scale(lw *w, int ni, const char *base, bool *done)
{
    lp_graph *g = w->g;
    const lp_node *n = &g->nodes[ni];
    if (n->n_in != 2 || *n->domain || n->in[0] < 0 || n->in[1] < 0)
        return LP_OK;
    for (int k = 0; k < 2; k++) {
        int acc = n->in[k], m = n->in[1 - k], pa = g->values[acc].producer, pm = g->values[m].producer;
        if (pa < 0 || pm < 0 || g->nodes[pa].op != LP_OP_Cast || g->nodes[pa].n_in < 1 || g->nodes[pm].op != LP_OP_Mul ||
            *g->nodes[pm].domain || g->nodes[pm].n_in != 2 || lp_graph_use_count(g, m) != 1)
            continue;
        int src = g->nodes[pa].in[0], ps = src >= 0 ? g->values[src].producer : -1;
        if (ps < 0 || (g->nodes[ps].op != LP_OP_MatMulInteger && g->nodes[ps].op != LP_OP_ConvInteger))
            continue;
        for (int j = 0; j < 2; j++) {
            int sv = g->nodes[pm].in[j], wv = g->nodes[pm].in[1 - j];
            if (sv < 0 || wv < 0 || g->values[sv].kind == LP_VALUE_CONST || !one_value(g, sv) || !cval(g, wv) ||
                cval(g, wv)->dtype != LP_F32)
                continue;
            int t, in[2] = { acc, sv };
            LP_TRY(new_value(g, base, "xscaled", &t));
            LP_TRY(add_node(g, base, "xscale", "Mul", 2, in, 1, &t, NULL));
            g->nodes[ni].in[0] = t;
            g->nodes[ni].in[1] = wv;
            g->nodes[pm].dead = true;
            *done = true;
            return LP_OK;
        }
    }
    return LP_OK;
}

static lp_status lower_graph(lp_graph *g, bool axis_ok, int *n_lowered)
{
    lw w = { .g = g, .axis_ok = axis_ok };
    int count = 0, n0 = g->n_nodes;
    for (int i = 0; i < n0; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead || n->op < 0 || n->n_out != 1 || n->out[0] < 0)
            continue;
        char base[200];
        snprintf(base, sizeof base, "%s", n->name);
        bool done = false;
        lp_status st = LP_OK;
        switch (n->op) {
        case LP_OP_QLinearConv: st = lower_qconv(&w, i, base, &done); break;
        case LP_OP_QLinearMatMul: st = lower_qmatmul(&w, i, base, &done); break;
        case LP_OP_QGemm: st = lower_qgemm(&w, i, base, &done); break;
        case LP_OP_QLinearAdd: st = lower_qbinary(&w, i, "Add", base, &done); break;
        case LP_OP_QLinearMul: st = lower_qbinary(&w, i, "Mul", base, &done); break;
        case LP_OP_QLinearSigmoid: st = lower_qunary(&w, i, "Sigmoid", base, &done); break;
        case LP_OP_QLinearLeakyRelu: st = lower_qunary(&w, i, "LeakyRelu", base, &done); break;
        case LP_OP_QLinearConcat: st = lower_qconcat(&w, i, base, &done); break;
        case LP_OP_QLinearGlobalAveragePool: st = lower_qgap(&w, i, base, &done); break;
        case LP_OP_DynamicQuantizeMatMul: st = lower_dqmm(&w, i, base, &done); break;
        case LP_OP_MatMulIntegerToFloat: st = lower_mmitf(&w, i, base, &done); break;
        case LP_OP_MatMulInteger: st = fit_mmint(&w, i, base, &done); break;
        case LP_OP_Mul: st = split_scale(&w, i, base, &done); break;
        default: break;
        }
        if (st != LP_OK)
            return st;
        count += done;
    }
    *n_lowered += count;
    if (!count)
        return LP_OK;
    LP_TRY(lp_graph_compact(g));
    LP_TRY(lp_graph_toposort(g));
    return LP_OK;
}

typedef struct lower_walk {
    bool axis_ok;
    int count;
} lower_walk;

static lp_status lower_sub(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent; (void)node; (void)depth;
    lower_walk *lwk = user;
    return lower_graph(sub, lwk->axis_ok, &lwk->count);
}

/* The bodies too: an If the plan inlines (its condition known by then, as Silero VAD's
 * sample-rate branch) brings its nodes into the plan after this pass has run, so they are
 * lowered here, in the plan's own copy of the bodies. A body that stays a sub-plan is lowered
 * again when that plan is compiled, which finds nothing left to do. The opset is the model's. */
lp_status lp_lower_qoperators(lp_graph *g, int *n_lowered)
{
    lower_walk lwk = { .axis_ok = lp_graph_opset(g, "") >= 13 };
    LP_TRY(lower_graph(g, lwk.axis_ok, &lwk.count));
    LP_TRY(lp_graph_walk_subgraphs(g, lower_sub, &lwk));
    if (n_lowered)
        *n_lowered = lwk.count;
    return LP_OK;
}
