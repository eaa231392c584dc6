/* grad_elementwise.c — backward of the broadcasting binary ops, the pointwise activations,
 * Softmax/LogSoftmax and the mean/sum reductions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/dnnl_nn.h"
#include "train/dnnl_train.h"
#include "train/grad.h"

/* ---------------- binary, broadcasting ---------------- */

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW } bin_kind;

static bool same_shape(const lp_tensor *a, const lp_tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->dims, b->dims, (size_t)a->ndim * sizeof *a->dims);
}

/* d (NULL: nothing) = (fresh ? 0 : d) + s * g over n values, vectorized (s is 1 or -1: exact). */
static void add_scaled(float *d, const float *g, float s, int64_t n, bool fresh)
{
    if (!d)
        return;
    if (fresh) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            d[i] = 0.0f + s * g[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            d[i] += s * g[i];
    }
}

/* Add in training: equal float32 shapes (a residual sum) in a vectorized loop -- the reference
 * kernel's value (a float sum rounded once, as its double sum rounded back) -- else the kernel
 * (which LOWP_KERNELS=reference always runs). */
static lp_status add_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    const lp_tensor *a = c->in[0], *b = c->in[1];
    lp_tensor *y = c->out[0];
    if (a->dtype == LP_F32 && b->dtype == LP_F32 && y->dtype == LP_F32 && same_shape(a, b) && same_shape(a, y) &&
        lp_dnt_enabled()) {
        const float *A = a->data, *B = b->data;
        float *Y = y->data;
        int64_t n = lp_tensor_numel(y);
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            Y[i] = A[i] + B[i];
        return LP_OK;
    }
    if (y->nbytes) /* the row is fwd_overwrites: the kernel gets zeros as usual */
        memset(y->data, 0, y->nbytes);
    return lp_op_get(c->node->op)->run(c);
}

/* y = a (op) b with numpy broadcasting; din[k] += dL/dk reduced over k's broadcast dims. */
static lp_status binary_backward(const lp_grad_ctx *c, bin_kind kind)
{
    const lp_tensor *a = c->in[0], *b = c->in[1], *y = c->out[0];
    const float *g = c->dout[0]->data;
    LP_TRY(lp_grad_want_f32(c, a, "A"));
    LP_TRY(lp_grad_want_f32(c, b, "B"));
    int64_t n = lp_tensor_numel(y);
    const float *A = a->data, *B = b->data, *Y = y->data;
    float *dA = c->din[0] ? c->din[0]->data : NULL, *dB = c->din[1] ? c->din[1]->data : NULL;
    if ((kind == BIN_ADD || kind == BIN_SUB) && same_shape(a, y) && same_shape(b, y)) {
        /* a residual sum: the gradient passes through, no offsets to walk; a fresh gradient
         * (bwd_overwrites) is written, 0 + g as adding to its zeros would give */
        float sb = kind == BIN_ADD ? 1.0f : -1.0f;
        add_scaled(dA, g, 1.0f, n, c->din_fresh & 1u);
        add_scaled(dB, g, sb, n, c->din_fresh >> 1 & 1u);
        return LP_OK;
    }
    lp_grad_zero_fresh(c);
    int64_t *oa = lp_grad_bcast_offsets(a->ndim, a->dims, y->ndim, y->dims);
    int64_t *ob = lp_grad_bcast_offsets(b->ndim, b->dims, y->ndim, y->dims);
    if (!oa || !ob) {
        free(oa);
        free(ob);
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        float av = A[oa[i]], bv = B[ob[i]], gi = g[i];
        float ga, gb;
        switch (kind) {
        case BIN_ADD: ga = gi; gb = gi; break;
        case BIN_SUB: ga = gi; gb = -gi; break;
        case BIN_MUL: ga = gi * bv; gb = gi * av; break;
        case BIN_DIV: ga = gi / bv; gb = -gi * av / (bv * bv); break;
        default: /* POW: y = a^b */
            ga = bv == 0 ? 0.0f : gi * bv * powf(av, bv - 1.0f);
            gb = av > 0 ? gi * Y[i] * logf(av) : 0.0f;
            break;
        }
        if (dA)
            dA[oa[i]] += ga;
        if (dB)
            dB[ob[i]] += gb;
    }
    free(oa);
    free(ob);
    return LP_OK;
}

static lp_status add_bw(const lp_grad_ctx *c) { return binary_backward(c, BIN_ADD); }
static lp_status sub_bw(const lp_grad_ctx *c) { return binary_backward(c, BIN_SUB); }
static lp_status mul_bw(const lp_grad_ctx *c) { return binary_backward(c, BIN_MUL); }
static lp_status div_bw(const lp_grad_ctx *c) { return binary_backward(c, BIN_DIV); }
static lp_status pow_bw(const lp_grad_ctx *c) { return binary_backward(c, BIN_POW); }

/* Add runs on oneDNN-laid-out tensors as on plain ones (equal shapes, one layout: the tape
 * checks), a residual sum between convolutions */
const lp_grad_def lp_graddef_Add = { .name = "Add", .diff_in = 3, .param_in = 3, .forward = add_forward,
                                     .backward = add_bw, .fwd_overwrites = true, .bwd_overwrites = true,
                                     .layout = LP_LAYOUT_SAME, .fixed_scalars = true };
const lp_grad_def lp_graddef_Sub = { .name = "Sub", .diff_in = 3, .param_in = 3, .backward = sub_bw,
                                     .bwd_overwrites = true, .fixed_scalars = true };
const lp_grad_def lp_graddef_Mul = { .name = "Mul", .diff_in = 3, .param_in = 3, .backward = mul_bw,
                                     .fixed_scalars = true };
const lp_grad_def lp_graddef_Div = { .name = "Div", .diff_in = 3, .param_in = 3, .backward = div_bw,
                                     .fixed_scalars = true };
/* the exponent of a Pow is a constant in every exported model seen (x^2, x^0.5): not trained */
const lp_grad_def lp_graddef_Pow = { .name = "Pow", .diff_in = 3, .param_in = 1, .backward = pow_bw,
                                     .fixed_scalars = true };

/* ---------------- unary ---------------- */

typedef float (*unary_fn)(const lp_grad_ctx *c, float x, float y, const float *p);

/* The oneDNN eltwise algorithm of a unary op (dnnl_nn.h's fast path), with its parameters;
 * false for the ops that have none (or whose edge cases differ from the twin's, e.g. Sqrt at
 * 0, Clip at its bounds). */
typedef struct elt_alg {
    dnnl_alg_kind_t alg;
    float alpha, beta;
    bool use_dst;                  /* the backward reads y, not x */
} elt_alg;

static bool elt_alg_of(const lp_node *n, elt_alg *e)
{
    const char *op = n->op_type;
    *e = (elt_alg){ dnnl_alg_kind_undef, 0, 0, false };
    if (!strcmp(op, "Relu"))
        *e = (elt_alg){ dnnl_eltwise_relu_use_dst_for_bwd, 0, 0, true };
    else if (!strcmp(op, "LeakyRelu"))
        *e = (elt_alg){ dnnl_eltwise_relu, lp_attr_float(n, "alpha", 0.01f), 0, false };
    else if (!strcmp(op, "Sigmoid"))
        *e = (elt_alg){ dnnl_eltwise_logistic_use_dst_for_bwd, 0, 0, true };
    else if (!strcmp(op, "Tanh"))
        *e = (elt_alg){ dnnl_eltwise_tanh_use_dst_for_bwd, 0, 0, true };
    else if (!strcmp(op, "Exp"))
        *e = (elt_alg){ dnnl_eltwise_exp_use_dst_for_bwd, 0, 0, true };
    else if (!strcmp(op, "Log"))
        *e = (elt_alg){ dnnl_eltwise_log, 0, 0, false };
    return e->alg != dnnl_alg_kind_undef;
}

/* The activations' training forward: oneDNN's eltwise, or the op's reference kernel. */
static lp_status elt_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    elt_alg e;
    if (c->in[0]->dtype == LP_F32 && elt_alg_of(c->node, &e)) {
        lp_status st = lp_dnt_eltwise_forward((lp_dnt_op **)f->cache, e.alg, e.alpha, e.beta,
                                              lp_tensor_numel(c->in[0]), c->in[0]->data, c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_grad_run_kernel(f);
}

/* dx += g * f'(x, y); p: up to four op parameters read once. The rows are bwd_overwrites: a
 * fresh dx is written (0 + term, what adding to zeros gives). oneDNN's eltwise backward
 * first, where the op has an algorithm. */
static lp_status unary_backward(const lp_grad_ctx *c, unary_fn f, const float *p)
{
    const lp_tensor *x = c->in[0], *y = c->out[0];
    LP_TRY(lp_grad_want_f32(c, x, "X"));
    if (!c->din[0])
        return LP_OK;
    const float *X = x->data, *Y = y->data, *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    int64_t n = lp_tensor_numel(x);
    bool fresh = c->din_fresh & 1u;
    elt_alg e;
    if (elt_alg_of(c->node, &e) && y->dtype == LP_F32) {
        lp_status st = lp_dnt_eltwise_backward((lp_dnt_op **)c->cache, e.alg, e.alpha, e.beta, n,
                                               e.use_dst ? Y : X, g, dx, fresh);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    for (int64_t i = 0; i < n; i++)
        dx[i] = (fresh ? 0.0f : dx[i]) + g[i] * f(c, X[i], Y[i], p);
    return LP_OK;
}

static float d_leaky(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)y;
    return x > 0 ? 1.0f : p[0];
}
/* Clip passes the gradient where x lies inside [min, max] (PyTorch's clamp does the same) */
static float d_clip(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)y;
    return x >= p[0] && x <= p[1] ? 1.0f : 0.0f;
}
static float d_sigmoid(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)x, (void)p;
    return y * (1.0f - y);
}
static float d_tanh(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)x, (void)p;
    return 1.0f - y * y;
}
static float d_erf(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)y, (void)p;
    return 1.1283791670955126f * expf(-x * x); /* 2/sqrt(pi) e^(-x^2) */
}
static float d_sqrt(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)x, (void)p;
    return y > 0 ? 0.5f / y : 0.0f;
}
static float d_exp(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)x, (void)p;
    return y;
}
static float d_log(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)y, (void)p;
    return 1.0f / x;
}
static float d_neg(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)x, (void)y, (void)p;
    return -1.0f;
}
static float d_recip(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)x, (void)p;
    return -y * y;
}
static float d_identity(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)x, (void)y, (void)p;
    return 1.0f;
}
/* y = max(0, min(1, alpha x + beta)) */
static float d_hardsigmoid(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)y;
    float t = p[0] * x + p[1];
    return t > 0 && t < 1 ? p[0] : 0.0f;
}
/* y = x * max(0, min(1, x/6 + 1/2)) */
static float d_hardswish(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)y, (void)p;
    return x < -3 ? 0.0f : x > 3 ? 1.0f : x / 3.0f + 0.5f;
}

/* Relu is on every hot path: oneDNN's eltwise (elt_forward), else plain loops (the same
 * values as the reference kernel, which computes x < 0 ? 0 : x in double and rounds back,
 * exact for float32). */
static lp_status relu_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    if (c->in[0]->dtype != LP_F32 || lp_dnt_enabled())
        return elt_forward(f);
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    for (int64_t i = 0, n = lp_tensor_numel(c->in[0]); i < n; i++)
        y[i] = x[i] < 0 ? 0.0f : x[i];
    return LP_OK;
}

static float d_relu(const lp_grad_ctx *c, float x, float y, const float *p)
{
    (void)c, (void)y, (void)p;
    return x > 0 ? 1.0f : 0.0f;
}
static lp_status relu_bw(const lp_grad_ctx *c) { return unary_backward(c, d_relu, NULL); }
static lp_status leaky_bw(const lp_grad_ctx *c)
{
    float p[1] = { lp_attr_float(c->node, "alpha", 0.01f) };
    return unary_backward(c, d_leaky, p);
}
/* Clip's float bounds (opset < 11: the attributes; from 11: the optional scalar inputs). */
static void clip_bounds(const lp_node *n, int64_t opset, int n_in, const lp_tensor *const *in, float *p)
{
    p[0] = -INFINITY;
    p[1] = INFINITY;
    if (opset < 11) {
        p[0] = lp_attr_float(n, "min", -INFINITY);
        p[1] = lp_attr_float(n, "max", INFINITY);
    } else
        for (int k = 1; k <= 2 && k < n_in; k++)
            if (in[k] && lp_tensor_numel(in[k]) == 1)
                p[k - 1] = (float)lp_tensor_get(in[k], 0);
}

/* Clip (ReLU6 in mobilenets) in training, float32: the reference kernel's rule (min first, NaN
 * stays NaN) in plain float loops -- the same values, without its per-element dtype calls (the
 * kernel itself with LOWP_KERNELS=reference, test_train_twins' comparison). */
static lp_status clip_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    bool flt = c->in[0]->dtype == LP_F32 && lp_dnt_enabled(); /* LOWP_KERNELS=reference: the kernel */
    for (int k = 1; k <= 2 && k < c->n_in; k++)
        flt &= !c->in[k] || (c->in[k]->dtype == LP_F32 && lp_tensor_numel(c->in[k]) == 1);
    if (!flt)
        return lp_grad_run_kernel(f);
    float p[2];
    clip_bounds(c->node, c->opset, c->n_in, c->in, p);
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data, lo = p[0], hi = p[1];
    int64_t n = lp_tensor_numel(c->in[0]);
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
    return LP_OK;
}

static lp_status clip_bw(const lp_grad_ctx *c)
{
    float p[2];
    clip_bounds(c->node, c->opset, c->n_in, c->in, p);
    if (c->in[0]->dtype == LP_F32 && c->din[0] && lp_dnt_enabled()) { /* d_clip's rule, inlined: hot in mobilenets */
        const float *x = c->in[0]->data, *g = c->dout[0]->data;
        float *dx = c->din[0]->data, lo = p[0], hi = p[1];
        int64_t n = lp_tensor_numel(c->in[0]);
        /* branch-free and vectorized (omp simd): with data-dependent branches, mispredictions
         * made this loop a third of a mobilenet step */
        if (c->din_fresh & 1u) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                dx[i] = 0.0f + g[i] * (float)((x[i] >= lo) & (x[i] <= hi));
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                dx[i] += g[i] * (float)((x[i] >= lo) & (x[i] <= hi));
        }
        return LP_OK;
    }
    if (c->in[0]->dtype != LP_F32 && c->din[0]) {
        /* an integer Clip (narrow fake-quantized weights): the straight-through gradient of
         * the integer values, passed where they lie inside the bounds */
        lp_grad_zero_fresh(c);
        const float *g = c->dout[0]->data;
        float *dx = c->din[0]->data;
        for (int64_t i = 0; i < lp_tensor_numel(c->in[0]); i++) {
            double v = lp_tensor_get(c->in[0], i);
            dx[i] += v >= p[0] && v <= p[1] ? g[i] : 0.0f;
        }
        return LP_OK;
    }
    return unary_backward(c, d_clip, p);
}
static lp_status sigmoid_bw(const lp_grad_ctx *c) { return unary_backward(c, d_sigmoid, NULL); }
static lp_status tanh_bw(const lp_grad_ctx *c) { return unary_backward(c, d_tanh, NULL); }
static lp_status erf_bw(const lp_grad_ctx *c) { return unary_backward(c, d_erf, NULL); }
static lp_status sqrt_bw(const lp_grad_ctx *c) { return unary_backward(c, d_sqrt, NULL); }
static lp_status exp_bw(const lp_grad_ctx *c) { return unary_backward(c, d_exp, NULL); }
static lp_status log_bw(const lp_grad_ctx *c) { return unary_backward(c, d_log, NULL); }
static lp_status neg_bw(const lp_grad_ctx *c) { return unary_backward(c, d_neg, NULL); }
static lp_status recip_bw(const lp_grad_ctx *c) { return unary_backward(c, d_recip, NULL); }
static lp_status identity_bw(const lp_grad_ctx *c) { return unary_backward(c, d_identity, NULL); }
static lp_status hardsigmoid_bw(const lp_grad_ctx *c)
{
    float p[2] = { lp_attr_float(c->node, "alpha", 0.2f), lp_attr_float(c->node, "beta", 0.5f) };
    return unary_backward(c, d_hardsigmoid, p);
}
static lp_status hardswish_bw(const lp_grad_ctx *c) { return unary_backward(c, d_hardswish, NULL); }

/* Elementwise: they run on oneDNN-laid-out tensors as on plain ones (LP_LAYOUT_SAME), so an
 * activation between two convolutions keeps them in oneDNN's layout */
#define UNARY_ROW(op, fn)                                                                    \
    const lp_grad_def lp_graddef_##op = { .name = #op, .diff_in = 1, .backward = fn, .free_cache = lp_dnt_op_free, \
                                          .bwd_overwrites = true, .layout = LP_LAYOUT_SAME };
/* the activations with a oneDNN forward too */
#define ACT_ROW(op, fn)                                                                      \
    const lp_grad_def lp_graddef_##op = { .name = #op, .diff_in = 1, .forward = elt_forward, .backward = fn, \
                                          .free_cache = lp_dnt_op_free, .fwd_overwrites = true,          \
                                          .bwd_overwrites = true, .layout = LP_LAYOUT_SAME };
ACT_ROW(LeakyRelu, leaky_bw)
const lp_grad_def lp_graddef_Clip = { .name = "Clip", .diff_in = 1, .forward = clip_forward, .backward = clip_bw,
                                      .free_cache = lp_dnt_op_free, .fwd_overwrites = true, .bwd_overwrites = true,
                                      .layout = LP_LAYOUT_SAME };
ACT_ROW(Sigmoid, sigmoid_bw)
ACT_ROW(Tanh, tanh_bw)
UNARY_ROW(Erf, erf_bw)
UNARY_ROW(Sqrt, sqrt_bw)
UNARY_ROW(Exp, exp_bw)
UNARY_ROW(Log, log_bw)
UNARY_ROW(Neg, neg_bw)
UNARY_ROW(Reciprocal, recip_bw)
UNARY_ROW(HardSigmoid, hardsigmoid_bw)
UNARY_ROW(HardSwish, hardswish_bw)
UNARY_ROW(Identity, identity_bw)
#undef UNARY_ROW
#undef ACT_ROW
const lp_grad_def lp_graddef_Relu = { .name = "Relu", .diff_in = 1, .forward = relu_forward, .backward = relu_bw,
                                      .free_cache = lp_dnt_op_free, .fwd_overwrites = true, .bwd_overwrites = true,
                                      .layout = LP_LAYOUT_SAME };

/* ---------------- Softmax, LogSoftmax ---------------- */

/* The (outer, n, inner) view of the softmax axis: opset >= 13 normalizes along `axis` alone;
 * before, over the flattened dims from `axis` on (the 2-D coercion). */
static lp_status softmax_geom(const lp_node *node, int64_t opset, const lp_tensor *x, int64_t *outer, int64_t *n,
                              int64_t *inner)
{
    int ax;
    LP_TRY(lp_op_axis(node, lp_attr_int(node, "axis", opset >= 13 ? -1 : 1), x->ndim, &ax));
    *outer = lp_numel(ax, x->dims);
    if (opset >= 13) {
        *n = x->dims[ax];
        *inner = lp_numel(x->ndim - ax - 1, x->dims + ax + 1);
    } else {
        *n = lp_numel(x->ndim - ax, x->dims + ax);
        *inner = 1;
    }
    return LP_OK;
}

/* The training forward: oneDNN's softmax, or the op's reference kernel. */
static lp_status softmax_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    int64_t outer, n, inner;
    if (c->in[0]->dtype == LP_F32 && softmax_geom(c->node, c->opset, c->in[0], &outer, &n, &inner) == LP_OK) {
        lp_status st = lp_dnt_softmax_forward((lp_dnt_op **)f->cache, !strcmp(c->node->op_type, "LogSoftmax"),
                                              outer, n, inner, c->in[0]->data, c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_op_get(c->node->op)->run(c);
}

static lp_status softmax_backward(const lp_grad_ctx *c, bool log)
{
    LP_TRY(lp_grad_want_f32(c, c->in[0], "input"));
    if (!c->din[0])
        return LP_OK;
    int64_t outer, n, inner;
    LP_TRY(softmax_geom(c->node, c->opset, c->in[0], &outer, &n, &inner));
    const float *Y = c->out[0]->data, *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    lp_status fast = lp_dnt_softmax_backward((lp_dnt_op **)c->cache, log, outer, n, inner, Y, g, dx,
                                             c->din_fresh & 1u);
    if (fast != LOWP_ERR_UNSUPPORTED)
        return fast;
    lp_grad_zero_fresh(c);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t base = o * n * inner + in;
            double s = 0;
            for (int64_t k = 0; k < n; k++) {
                int64_t i = base + k * inner;
                s += log ? g[i] : g[i] * Y[i];
            }
            for (int64_t k = 0; k < n; k++) {
                int64_t i = base + k * inner;
                /* softmax: y (g - <g, y>); log-softmax: g - e^y <g, 1> */
                dx[i] += log ? g[i] - expf(Y[i]) * (float)s : Y[i] * (g[i] - (float)s);
            }
        }
    return LP_OK;
}

static lp_status softmax_bw(const lp_grad_ctx *c) { return softmax_backward(c, false); }
static lp_status logsoftmax_bw(const lp_grad_ctx *c) { return softmax_backward(c, true); }
const lp_grad_def lp_graddef_Softmax = { .name = "Softmax", .diff_in = 1, .forward = softmax_forward,
                                         .backward = softmax_bw, .free_cache = lp_dnt_op_free,
                                         .bwd_overwrites = true };
const lp_grad_def lp_graddef_LogSoftmax = { .name = "LogSoftmax", .diff_in = 1, .forward = softmax_forward,
                                            .backward = logsoftmax_bw, .free_cache = lp_dnt_op_free,
                                            .bwd_overwrites = true };

/* ---------------- ReduceMean, ReduceSum ---------------- */

/* dx += g broadcast back over the reduced axes (divided by the count for the mean). */
static lp_status reduce_backward(const lp_grad_ctx *c, bool mean, int64_t axes_input_opset)
{
    const lp_tensor *x = c->in[0];
    LP_TRY(lp_grad_want_f32(c, x, "data"));
    if (!c->din[0])
        return LP_OK;
    int64_t axes[LP_MAX_DIMS];
    int na = 0;
    if (c->opset >= axes_input_opset) {
        if (c->n_in > 1 && c->in[1]) {
            int64_t cnt = lp_tensor_numel(c->in[1]);
            if (cnt > x->ndim)
                return lp_node_error(c->node, LOWP_ERR_FORMAT, "backward: %lld axes for rank %d",
                                     (long long)cnt, x->ndim);
            for (int64_t i = 0; i < cnt; i++)
                axes[na++] = lp_tensor_get_int(c->in[1], i);
        }
    } else {
        const int64_t *v;
        int cnt = lp_attr_ints(c->node, "axes", &v);
        if (cnt > x->ndim)
            return lp_node_error(c->node, LOWP_ERR_FORMAT, "backward: %d axes for rank %d", cnt, x->ndim);
        for (int i = 0; i < cnt; i++)
            axes[na++] = v[i];
    }
    bool reduced[LP_MAX_DIMS] = { false };
    if (na == 0) {
        if (lp_attr_int(c->node, "noop_with_empty_axes", 0)) {
            float *dx = c->din[0]->data;
            const float *g = c->dout[0]->data;
            for (int64_t i = 0; i < lp_tensor_numel(x); i++)
                dx[i] += g[i];
            return LP_OK;
        }
        for (int k = 0; k < x->ndim; k++)
            reduced[k] = true;
    }
    for (int i = 0; i < na; i++) {
        int ax;
        LP_TRY(lp_op_axis(c->node, axes[i], x->ndim, &ax));
        reduced[ax] = true;
    }
    /* g viewed with the reduced dims kept as 1, broadcast to x */
    lp_tensor gk;
    int64_t kd[LP_MAX_DIMS];
    int64_t count = 1;
    for (int k = 0; k < x->ndim; k++) {
        kd[k] = reduced[k] ? 1 : x->dims[k];
        count *= reduced[k] ? x->dims[k] : 1;
    }
    lp_tensor_view(&gk, LP_F32, x->ndim, kd, c->dout[0]->data);
    int64_t *off = lp_grad_bcast_offsets(gk.ndim, gk.dims, x->ndim, x->dims);
    if (!off)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory");
    const float *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    float s = mean && count ? 1.0f / (float)count : 1.0f;
    for (int64_t i = 0; i < lp_tensor_numel(x); i++)
        dx[i] += s * g[off[i]];
    free(off);
    return LP_OK;
}

static lp_status reducemean_bw(const lp_grad_ctx *c) { return reduce_backward(c, true, 18); }
static lp_status reducesum_bw(const lp_grad_ctx *c) { return reduce_backward(c, false, 13); }
const lp_grad_def lp_graddef_ReduceMean = { .name = "ReduceMean", .diff_in = 1, .backward = reducemean_bw };
const lp_grad_def lp_graddef_ReduceSum = { .name = "ReduceSum", .diff_in = 1, .backward = reducesum_bw };

/* ---------------- Sum, Mean, Max, Min (variadic, broadcasting), Where ---------------- */

/* y = f(x_0, ..., x_n-1): Sum and Mean pass g (over n) to every input; Max and Min to the
 * first input holding the extreme value (the forward's choice among ties). */
static lp_status variadic_backward(const lp_grad_ctx *c, int kind /* 0 sum, 1 mean, 2 max, 3 min */)
{
    const lp_tensor *y = c->out[0];
    int n = c->n_in;
    if (n > 64)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "backward: more than 64 inputs");
    int64_t *off[64] = { NULL };
    lp_status st = LP_OK;
    for (int k = 0; k < n && st == LP_OK; k++) {
        st = lp_grad_want_f32(c, c->in[k], "input");
        if (st == LP_OK && !(off[k] = lp_grad_bcast_offsets(c->in[k]->ndim, c->in[k]->dims, y->ndim, y->dims)))
            st = lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory");
    }
    const float *g = c->dout[0]->data, *Y = y->data;
    for (int64_t i = 0; st == LP_OK && i < lp_tensor_numel(y); i++) {
        if (kind <= 1) {
            float gi = kind ? g[i] / (float)n : g[i];
            for (int k = 0; k < n; k++)
                if (c->din[k])
                    ((float *)c->din[k]->data)[off[k][i]] += gi;
            continue;
        }
        for (int k = 0; k < n; k++)
            if (((const float *)c->in[k]->data)[off[k][i]] == Y[i]) {
                if (c->din[k])
                    ((float *)c->din[k]->data)[off[k][i]] += g[i];
                break;
            }
    }
    for (int k = 0; k < n; k++)
        free(off[k]);
    return st;
}

static lp_status sum_bw(const lp_grad_ctx *c) { return variadic_backward(c, 0); }
static lp_status mean_bw(const lp_grad_ctx *c) { return variadic_backward(c, 1); }
static lp_status max_bw(const lp_grad_ctx *c) { return variadic_backward(c, 2); }
static lp_status min_bw(const lp_grad_ctx *c) { return variadic_backward(c, 3); }
const lp_grad_def lp_graddef_Sum = { .name = "Sum", .diff_in = ~0u, .param_in = ~0u, .backward = sum_bw,
                                     .fixed_scalars = true };
const lp_grad_def lp_graddef_Mean = { .name = "Mean", .diff_in = ~0u, .param_in = ~0u, .backward = mean_bw,
                                      .fixed_scalars = true };
const lp_grad_def lp_graddef_Max = { .name = "Max", .diff_in = ~0u, .backward = max_bw };
const lp_grad_def lp_graddef_Min = { .name = "Min", .diff_in = ~0u, .backward = min_bw };

/* y = cond ? a : b (broadcasting): a gets g where cond holds, b elsewhere. */
static lp_status where_bw(const lp_grad_ctx *c)
{
    const lp_tensor *cond = c->in[0], *y = c->out[0];
    for (int k = 1; k <= 2; k++)
        LP_TRY(lp_grad_want_f32(c, c->in[k], k == 1 ? "X" : "Y"));
    int64_t *oc = lp_grad_bcast_offsets(cond->ndim, cond->dims, y->ndim, y->dims);
    int64_t *oa = lp_grad_bcast_offsets(c->in[1]->ndim, c->in[1]->dims, y->ndim, y->dims);
    int64_t *ob = lp_grad_bcast_offsets(c->in[2]->ndim, c->in[2]->dims, y->ndim, y->dims);
    lp_status st = oc && oa && ob ? LP_OK : lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory");
    const float *g = c->dout[0]->data;
    for (int64_t i = 0; st == LP_OK && i < lp_tensor_numel(y); i++) {
        bool pick_a = lp_tensor_get(cond, oc[i]) != 0;
        lp_tensor *d = c->din[pick_a ? 1 : 2];
        if (d)
            ((float *)d->data)[(pick_a ? oa : ob)[i]] += g[i];
    }
    free(oc);
    free(oa);
    free(ob);
    return st;
}

const lp_grad_def lp_graddef_Where = { .name = "Where", .diff_in = 6, .param_in = 6, .backward = where_bw,
                                       .fixed_scalars = true };
