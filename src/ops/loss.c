/* loss.c — NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (the forward losses training
 * will differentiate).
 *
 * Both see the input as (N, C, D) — D the product of the trailing dims d1..dk, 1 when there are
 * none — and the target as (N, D) class indices. Per element: loss = -w[t] * input[n, t, d], with
 * w[t] = 0 where t == ignore_index (w = 1 without a weight input). Reductions: "none" keeps
 * (N, d1..dk), "sum" adds, "mean" divides the sum by the sum of the weights used (so ignored
 * elements count neither way; 0/0 gives NaN, as ONNX's reference does). Computed in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_util.h"

typedef enum loss_red { LOSS_NONE, LOSS_SUM, LOSS_MEAN } loss_red;

static lp_status loss_reduction(const lp_node *n, loss_red *out)
{
    const char *r = lp_attr_str(n, "reduction", "mean");
    if (strcmp(r, "none") == 0)
        *out = LOSS_NONE;
    else if (strcmp(r, "sum") == 0)
        *out = LOSS_SUM;
    else if (strcmp(r, "mean") == 0)
        *out = LOSS_MEAN;
    else
        return lp_node_error(n, LOWP_ERR_FORMAT, "reduction must be none, sum or mean, got '%s'", r);
    return LP_OK;
}

/* Output 0: (N, d1..dk) for "none", a scalar otherwise; output 1 (SCE's log_prob, when asked
 * for): the input's shape. Checks that the target is (N, d1..dk) and the weight (C). */
static lp_status infer_loss(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *t = c->in[1], *w = c->n_in > 2 ? c->in[2] : NULL;
    loss_red red;
    LP_TRY(loss_reduction(c->node, &red));
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    if (t->dtype != LOWP_UNDEFINED && t->dtype != LP_I32 && t->dtype != LP_I64)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the target has dtype %s, expected int32 or int64",
                             lp_dtype_traits_of(t->dtype)->name);
    if (w && w->dtype != LOWP_UNDEFINED && x->dtype != LOWP_UNDEFINED && w->dtype != x->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the weight's dtype differs from the input's");
    const lp_shape *xs = &x->shape, *ts = &t->shape;
    if (xs->ndim >= 0 && xs->ndim < 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the input must have rank >= 2 (N, C, ...), got %d", xs->ndim);
    if (xs->ndim >= 0 && ts->ndim >= 0) {
        bool ok = ts->ndim == xs->ndim - 1;
        for (int k = 0; ok && k < ts->ndim; k++) {
            int64_t a = ts->d[k], b = xs->d[k ? k + 1 : 0];
            ok = !lp_dim_known(a) || !lp_dim_known(b) || a == b;
        }
        if (!ok)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "the target's shape must be the input's without dim 1");
    }
    if (w && w->shape.ndim >= 0 && w->shape.ndim != 1)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the weight must be 1-D (C)");
    c->out[0].dtype = x->dtype;
    if (red != LOSS_NONE) {
        c->out[0].shape.ndim = 0;
    } else if (xs->ndim >= 0) {
        c->out[0].shape.ndim = xs->ndim - 1;
        for (int k = 0; k < xs->ndim - 1; k++)
            c->out[0].shape.d[k] = xs->d[k ? k + 1 : 0];
    } else {
        c->out[0].shape = *ts;
    }
    if (c->n_out > 1) {
        c->out[1].dtype = x->dtype;
        c->out[1].shape = *xs;
    }
    return LP_OK;
}

/* logp: (N, C, D) log-probabilities as doubles; target: (N, D); w: (C) or NULL; y: per `red`. */
static lp_status nll(const lp_run_ctx *c, const double *logp, int64_t N, int64_t C, int64_t D,
                     const lp_tensor *target, const lp_tensor *w, lp_tensor *y)
{
    loss_red red;
    LP_TRY(loss_reduction(c->node, &red));
    const lp_attr *ii = lp_node_attr(c->node, "ignore_index");
    bool has_ii = ii != NULL;
    int64_t ignore = has_ii ? lp_attr_int(c->node, "ignore_index", 0) : 0;
    if (lp_tensor_numel(target) != N * D || (w && lp_tensor_numel(w) != C))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the target must hold N*D = %lld values and the weight C = %lld",
                             (long long)(N * D), (long long)C);
    if (lp_tensor_numel(y) != (red == LOSS_NONE ? N * D : 1))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the output does not match the reduction");
    const lp_dtype_traits *tw = w ? lp_dtype_traits_of(w->dtype) : NULL;
    double sum = 0, wsum = 0;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t d = 0; d < D; d++) {
            int64_t i = n * D + d, t = lp_ew_geti(target, i);
            double loss = 0, wt = 0;
            if (!has_ii || t != ignore) {
                if (t < 0 || t >= C)
                    return lp_node_error(c->node, LOWP_ERR_SHAPE, "target value %lld at %lld is outside [0, %lld)",
                                         (long long)t, (long long)i, (long long)C);
                wt = tw ? tw->get(w->data, t) : 1.0;
                loss = -wt * logp[(n * C + t) * D + d];
            }
            if (red == LOSS_NONE)
                lp_ew_setd(y, i, loss);
            sum += loss;
            wsum += wt;
        }
    }
    if (red != LOSS_NONE)
        lp_ew_setd(y, 0, red == LOSS_SUM ? sum : sum / wsum);
    return LP_OK;
}

/* The input as doubles (N, C, D), NULL on allocation failure. */
static double *loss_input(const lp_run_ctx *c, int64_t *N, int64_t *C, int64_t *D)
{
    const lp_tensor *x = c->in[0];
    *N = x->dims[0];
    *C = x->dims[1];
    *D = lp_numel(x->ndim - 2, x->dims + 2);
    int64_t n = lp_tensor_numel(x);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    for (int64_t i = 0; i < n; i++)
        v[i] = t->get(x->data, i);
    return v;
}

static lp_status run_NegativeLogLikelihoodLoss(const lp_run_ctx *c)
{
    int64_t N, C, D;
    if (c->in[0]->ndim < 2 || !lp_ew_is_float(c->in[0]->dtype))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the input must be a float tensor of rank >= 2");
    double *logp = loss_input(c, &N, &C, &D);
    if (!logp)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = nll(c, logp, N, C, D, c->in[1], c->n_in > 2 ? c->in[2] : NULL, c->out[0]);
    free(logp);
    return st;
}

/* scores (N, C, D) -> log_softmax over C (stable: minus the max), then the NLL above. */
static lp_status run_SoftmaxCrossEntropyLoss(const lp_run_ctx *c)
{
    int64_t N, C, D;
    if (c->in[0]->ndim < 2 || !lp_ew_is_float(c->in[0]->dtype))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the scores must be a float tensor of rank >= 2");
    double *v = loss_input(c, &N, &C, &D);
    if (!v)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t n = 0; n < N; n++) {
        for (int64_t d = 0; d < D; d++) {
            double *p = v + n * C * D + d, mx = -INFINITY, s = 0;
            for (int64_t k = 0; k < C; k++)
                mx = p[k * D] > mx ? p[k * D] : mx;
            for (int64_t k = 0; k < C; k++)
                s += exp(p[k * D] - mx);
            double lse = mx + log(s);
            for (int64_t k = 0; k < C; k++)
                p[k * D] -= lse;
        }
    }
    lp_status st = nll(c, v, N, C, D, c->in[1], c->n_in > 2 ? c->in[2] : NULL, c->out[0]);
    lp_tensor *lp = c->n_out > 1 ? c->out[1] : NULL;
    if (st == LP_OK && lp) {
        if (lp_tensor_numel(lp) != N * C * D)
            st = lp_node_error(c->node, LOWP_ERR_SHAPE, "log_prob must have the scores' shape");
        for (int64_t i = 0; st == LP_OK && i < N * C * D; i++)
            lp_ew_setd(lp, i, v[i]);
    }
    free(v);
    return st;
}

const lp_op_def lp_opdef_NegativeLogLikelihoodLoss = {
    .name = "NegativeLogLikelihoodLoss", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = infer_loss, .run = run_NegativeLogLikelihoodLoss
};
const lp_op_def lp_opdef_SoftmaxCrossEntropyLoss = {
    .name = "SoftmaxCrossEntropyLoss", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 2,
    .infer = infer_loss, .run = run_SoftmaxCrossEntropyLoss
};
