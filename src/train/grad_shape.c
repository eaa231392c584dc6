/* grad_shape.c — backward of the ops that move data without arithmetic: the reshapes
 * (Flatten, Reshape, Squeeze, Unsqueeze: the gradient keeps its bytes), Transpose, Concat,
 * and Dropout with its training-mode forward (a seeded mask, scaled by 1/(1-ratio)). */
#include <stdlib.h>
#include <string.h>

#include "train/grad.h"

/* Same element count, same order: dx += g. */
static lp_status reshape_bw(const lp_grad_ctx *c)
{
    if (!c->din[0])
        return LP_OK;
    LP_TRY(lp_grad_want_f32(c, c->in[0], "data"));
    int64_t n = lp_tensor_numel(c->in[0]);
    if (lp_tensor_numel(c->dout[0]) != n)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "backward: output has a different element count");
    const float *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    for (int64_t i = 0; i < n; i++)
        dx[i] += g[i];
    return LP_OK;
}

const lp_grad_def lp_graddef_Flatten = { .name = "Flatten", .diff_in = 1, .backward = reshape_bw };
const lp_grad_def lp_graddef_Reshape = { .name = "Reshape", .diff_in = 1, .backward = reshape_bw };
const lp_grad_def lp_graddef_Squeeze = { .name = "Squeeze", .diff_in = 1, .backward = reshape_bw };
const lp_grad_def lp_graddef_Unsqueeze = { .name = "Unsqueeze", .diff_in = 1, .backward = reshape_bw };

/* y = x.transpose(perm): dx[perm^-1] += g, walking y in order. */
static lp_status transpose_bw(const lp_grad_ctx *c)
{
    const lp_tensor *x = c->in[0];
    LP_TRY(lp_grad_want_f32(c, x, "data"));
    if (!c->din[0])
        return LP_OK;
    int nd = x->ndim, perm[LP_MAX_DIMS];
    const int64_t *p;
    int np = lp_attr_ints(c->node, "perm", &p);
    if (np >= 0 && np != nd)
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "backward: perm has %d entries for rank %d", np, nd);
    for (int k = 0; k < nd; k++) {
        perm[k] = np < 0 ? nd - 1 - k : (int)p[k];
        if (perm[k] < 0 || perm[k] >= nd)
            return lp_node_error(c->node, LOWP_ERR_FORMAT, "backward: bad perm");
    }
    int64_t xs[LP_MAX_DIMS], ys[LP_MAX_DIMS], yd[LP_MAX_DIMS], idx[LP_MAX_DIMS] = { 0 };
    int64_t s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        xs[k] = s;
        s *= x->dims[k];
    }
    for (int k = 0; k < nd; k++) {
        ys[k] = xs[perm[k]];   /* step in x per step along y's dim k */
        yd[k] = x->dims[perm[k]];
    }
    const float *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    int64_t n = lp_tensor_numel(x), o = 0;
    for (int64_t i = 0; i < n; i++) {
        dx[o] += g[i];
        lp_index_next(nd, yd, idx, ys, &o);
    }
    return LP_OK;
}

const lp_grad_def lp_graddef_Transpose = { .name = "Transpose", .diff_in = 1, .backward = transpose_bw };

/* y = concat(x_0..x_n) along axis: each x_k gets its slab of g. */
static lp_status concat_bw(const lp_grad_ctx *c)
{
    const lp_tensor *y = c->out[0];
    int ax;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), y->ndim, &ax));
    int64_t outer = lp_numel(ax, y->dims), inner = lp_numel(y->ndim - ax - 1, y->dims + ax + 1);
    int64_t ystride = y->dims[ax] * inner, at = 0;
    const float *g = c->dout[0]->data;
    for (int k = 0; k < c->n_in; k++) {
        const lp_tensor *x = c->in[k];
        if (!x)
            continue;
        LP_TRY(lp_grad_want_f32(c, x, "input"));
        int64_t w = (x->ndim > ax ? x->dims[ax] : 0) * inner;
        if (c->din[k]) {
            float *dx = c->din[k]->data;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < w; i++)
                    dx[o * w + i] += g[o * ystride + at + i];
        }
        at += w;
    }
    return LP_OK;
}

const lp_grad_def lp_graddef_Concat = { .name = "Concat", .diff_in = ~0u, .backward = concat_bw };

/* ---------------- Dropout ---------------- */

typedef struct dropout_saved {
    int64_t n;
    float scale;
    uint8_t *keep;
} dropout_saved;

static void dropout_free(void *p)
{
    dropout_saved *s = p;
    if (s) {
        free(s->keep);
        free(s);
    }
}

static lp_status dropout_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    const lp_tensor *x = c->in[0];
    double ratio = 0.5;
    if (c->opset >= 12) {
        if (c->n_in > 1 && c->in[1] && lp_tensor_numel(c->in[1]) > 0)
            ratio = lp_tensor_get(c->in[1], 0);
    } else
        ratio = lp_attr_float(c->node, "ratio", 0.5f);
    if (!f->training || ratio <= 0 || x->dtype != LP_F32) {
        /* the identity: the op's own kernel (it also fills the mask output with ones) */
        lp_run_ctx rc = *c;
        int n_in = c->n_in > 1 ? 1 : c->n_in; /* no training_mode input: inference semantics */
        rc.n_in = n_in;
        return lp_op_get(lp_op_find("", "Dropout"))->run(&rc);
    }
    if (ratio >= 1)
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "training: dropout ratio %g must be below 1", ratio);
    int64_t n = lp_tensor_numel(x);
    dropout_saved *s = calloc(1, sizeof *s);
    if (s)
        s->keep = malloc((size_t)(n ? n : 1));
    if (!s || !s->keep) {
        dropout_free(s);
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "training: out of memory");
    }
    s->n = n;
    s->scale = (float)(1.0 / (1.0 - ratio));
    uint64_t rng = f->seed;
    const float *X = x->data;
    float *Y = c->out[0]->data;
    lp_tensor *mask = c->n_out > 1 ? c->out[1] : NULL;
    for (int64_t i = 0; i < n; i++) {
        s->keep[i] = lowp_random_uniform(&rng) >= ratio;
        Y[i] = s->keep[i] ? X[i] * s->scale : 0.0f;
        if (mask)
            lp_dtype_traits_of(mask->dtype)->set(mask->data, i, s->keep[i]);
    }
    *f->saved = s;
    return LP_OK;
}

static lp_status dropout_bw(const lp_grad_ctx *c)
{
    if (!c->din[0])
        return LP_OK;
    const dropout_saved *s = c->saved;
    if (!s)
        return reshape_bw(c);
    const float *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    for (int64_t i = 0; i < s->n; i++)
        dx[i] += s->keep[i] ? g[i] * s->scale : 0.0f;
    return LP_OK;
}

const lp_grad_def lp_graddef_Dropout = {
    .name = "Dropout", .diff_in = 1, .forward = dropout_forward, .backward = dropout_bw, .free_saved = dropout_free,
};
