/* normalize.c — LRN (local response normalization across channels) and
 * MeanVarianceNormalization. Both compute in double and round once on store. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_util.h"

static lp_status infer_same_float(lp_infer_ctx *c)
{
    LP_TRY(lp_ew_check_dtype(c->node, c->in[0]->dtype, true, "input 0"));
    c->out[0].dtype = c->in[0]->dtype;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

/* ---- LRN: x (N, C, d...); y = x / (bias + alpha / size * sum of x^2 over the channels
 * [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta ---- */

static lp_status run_LRN(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t size = lp_attr_int(c->node, "size", 0);
    double alpha = lp_attr_float(c->node, "alpha", 1e-4f), beta = lp_attr_float(c->node, "beta", 0.75f);
    double bias = lp_attr_float(c->node, "bias", 1.0f);
    if (size < 1)
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "size must be >= 1, got %lld", (long long)size);
    if (x->ndim < 2 || !lp_ew_is_float(x->dtype) || y->dtype != x->dtype || lp_tensor_numel(y) != lp_tensor_numel(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected a float input (N, C, ...) and an output like it");
    int64_t N = x->dims[0], C = x->dims[1], inner = lp_numel(x->ndim - 2, x->dims + 2);
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < inner; i++) {
                double sq = 0;
                for (int64_t k = ch - lo; k <= ch + hi; k++)
                    if (k >= 0 && k < C) {
                        double v = t->get(x->data, (n * C + k) * inner + i);
                        sq += v * v;
                    }
                int64_t at = (n * C + ch) * inner + i;
                lp_ew_setd(y, at, t->get(x->data, at) / pow(bias + alpha / (double)size * sq, beta));
            }
    return LP_OK;
}

const lp_op_def lp_opdef_LRN = { .name = "LRN", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                 .infer = infer_same_float, .run = run_LRN };

/* ---- MeanVarianceNormalization: y = (x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9) over `axes`
 * (default 0, 2, 3), the epsilon ONNX's function body uses ---- */

static lp_status run_MeanVarianceNormalization(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    if (!lp_ew_is_float(x->dtype) || y->dtype != x->dtype || lp_tensor_numel(y) != lp_tensor_numel(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected a float input and an output like it");
    const int64_t *axes, dflt[3] = { 0, 2, 3 };
    int na = lp_attr_ints(c->node, "axes", &axes);
    if (na < 0) {
        axes = dflt;
        na = 3;
    }
    bool red[LP_MAX_DIMS] = { 0 };
    for (int i = 0; i < na; i++) {
        int a;
        LP_TRY(lp_op_axis(c->node, axes[i], x->ndim, &a));
        red[a] = true;
    }
    /* kept dims index the statistics; reduced ones are summed over */
    int64_t stride[LP_MAX_DIMS], n_stat = 1;
    for (int k = x->ndim - 1; k >= 0; k--) {
        stride[k] = red[k] ? 0 : n_stat;
        if (!red[k])
            n_stat *= x->dims[k];
    }
    int64_t n = lp_tensor_numel(x), count = n_stat ? n / n_stat : 0;
    double *sum = calloc((size_t)(2 * n_stat + 1), sizeof *sum), *sq = sum + n_stat;
    if (!sum)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    lp_ew_iter it;
    lp_ew_iter_init(&it, x->ndim, x->dims);
    lp_ew_iter_add(&it, stride);
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
        double v = t->get(x->data, i);
        sum[it.off[0]] += v;
        sq[it.off[0]] += v * v;
    }
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) { /* the iterator has wrapped to the start */
        double mean = sum[it.off[0]] / (double)count, var = sq[it.off[0]] / (double)count - mean * mean;
        lp_ew_setd(y, i, (t->get(x->data, i) - mean) / (sqrt(var > 0 ? var : 0) + 1e-9));
    }
    free(sum);
    return LP_OK;
}

const lp_op_def lp_opdef_MeanVarianceNormalization = {
    .name = "MeanVarianceNormalization", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = infer_same_float, .run = run_MeanVarianceNormalization
};
