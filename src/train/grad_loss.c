/* grad_loss.c — backward of the loss ops a training graph may carry itself:
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (with class weights, ignore_index and
 * the three reductions, as ops/loss.c computes them). Per element (n, d) with target t and
 * weight w_t (0 when ignored), dLoss/dinput[n, t, d] = -w_t * gl(n, d), where gl is the output
 * gradient (none), its value (sum), or its value over the sum of the weights used (mean).
 * SoftmaxCrossEntropyLoss then goes through log-softmax: ds = dlogp - softmax * sum_k dlogp,
 * dlogp also taking the gradient of the optional log_prob output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/grad.h"

static lp_status loss_backward(const lp_grad_ctx *c, bool softmax)
{
    const lp_tensor *x = c->in[0], *target = c->in[1], *w = c->n_in > 2 ? c->in[2] : NULL;
    LP_TRY(lp_grad_want_f32(c, x, "input"));
    if (!c->din[0])
        return LP_OK;
    if (x->ndim < 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "backward: the input must have rank >= 2");
    int64_t N = x->dims[0], C = x->dims[1], D = lp_numel(x->ndim - 2, x->dims + 2);
    if (lp_tensor_numel(target) != N * D || (w && lp_tensor_numel(w) != C))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "backward: target or weight of the wrong size");
    const char *red = lp_attr_str(c->node, "reduction", "mean");
    bool has_ii = lp_node_attr(c->node, "ignore_index") != NULL;
    int64_t ignore = lp_attr_int(c->node, "ignore_index", 0);
    double wsum = 0;
    for (int64_t i = 0; i < N * D; i++) {
        int64_t t = lp_tensor_get_int(target, i);
        if (!(has_ii && t == ignore))
            wsum += w ? lp_tensor_get(w, t) : 1.0;
    }
    const float *g = c->dout[0] ? c->dout[0]->data : NULL;
    const float *glp = softmax && c->n_out > 1 && c->dout[1] ? c->dout[1]->data : NULL;
    const float *X = x->data;
    float *dx = c->din[0]->data;
    double *lp = softmax ? malloc((size_t)(C ? C : 1) * 2 * sizeof *lp) : NULL;
    if (softmax && !lp)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory");
    double *dl = lp ? lp + C : NULL;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t i = n * D + d, t = lp_tensor_get_int(target, i);
            bool ignored = has_ii && t == ignore;
            if (!ignored && (t < 0 || t >= C)) {
                free(lp);
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "backward: target %lld outside [0, %lld)", (long long)t,
                                     (long long)C);
            }
            double wt = ignored ? 0 : w ? lp_tensor_get(w, t) : 1.0;
            double gl = !g ? 0 : !strcmp(red, "none") ? g[i] : !strcmp(red, "sum") ? g[0] : g[0] / wsum;
            if (!softmax) {
                if (!ignored)
                    dx[(n * C + t) * D + d] += (float)(-wt * gl);
                continue;
            }
            double mx = -INFINITY, s = 0, sd = 0;
            for (int64_t k = 0; k < C; k++)
                mx = X[(n * C + k) * D + d] > mx ? X[(n * C + k) * D + d] : mx;
            for (int64_t k = 0; k < C; k++)
                s += exp(X[(n * C + k) * D + d] - mx);
            for (int64_t k = 0; k < C; k++) {
                lp[k] = X[(n * C + k) * D + d] - mx - log(s);
                dl[k] = (glp ? glp[(n * C + k) * D + d] : 0) + (!ignored && k == t ? -wt * gl : 0);
                sd += dl[k];
            }
            for (int64_t k = 0; k < C; k++)
                dx[(n * C + k) * D + d] += (float)(dl[k] - exp(lp[k]) * sd);
        }
    free(lp);
    return LP_OK;
}

static lp_status nll_bw(const lp_grad_ctx *c) { return loss_backward(c, false); }
static lp_status sce_bw(const lp_grad_ctx *c) { return loss_backward(c, true); }
const lp_grad_def lp_graddef_NegativeLogLikelihoodLoss = {
    .name = "NegativeLogLikelihoodLoss", .diff_in = 1, .backward = nll_bw,
};
const lp_grad_def lp_graddef_SoftmaxCrossEntropyLoss = {
    .name = "SoftmaxCrossEntropyLoss", .diff_in = 1, .backward = sce_bw,
};
