/* reduce_softmax.c — Softmax, LogSoftmax and Hardmax (1 at the first maximum of each row, 0
 * elsewhere).
 *
 * The opset decides what is normalized. Before 13 the input is coerced to 2-D at `axis`
 * (default 1) and each row of the flattened trailing dims sums to one; from 13 only the single
 * dim `axis` (default -1) is normalized. Both views are (outer, n, inner) with
 * opset < 13: outer = d0*...*d(axis-1), n = d(axis)*...*d(r-1), inner = 1;
 * opset >= 13: outer = d0*...*d(axis-1), n = d(axis), inner = d(axis+1)*...*d(r-1).
 * Each row is computed in double after subtracting its maximum, so large inputs do not overflow. */
#include <math.h>
#include <stdlib.h>

#include "ops/elementwise_util.h"

static int64_t softmax_default_axis(int64_t opset) { return opset < 13 ? 1 : -1; }

static lp_status infer_softmax(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    if (x->shape.ndim >= 0) {
        int axis;
        LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", softmax_default_axis(c->opset)),
                          x->shape.ndim, &axis));
    }
    c->out[0].dtype = x->dtype;
    c->out[0].shape = x->shape;
    return LP_OK;
}

typedef enum smax_kind { SMAX_SOFT, SMAX_LOG, SMAX_HARD } smax_kind;

/* One row: r[0..n) -> its softmax, log-softmax or hardmax, in place. */
static void softmax_row(double *r, int64_t n, smax_kind kind)
{
    double max = -INFINITY, sum = 0;
    int64_t at = 0;
    for (int64_t k = 0; k < n; k++)
        if (r[k] > max || (isnan(r[k]) && !isnan(max))) {
            max = r[k];
            at = k;
        }
    if (kind == SMAX_HARD) {
        for (int64_t k = 0; k < n; k++)
            r[k] = k == at;
        return;
    }
    bool log_out = kind == SMAX_LOG;
    for (int64_t k = 0; k < n; k++)
        sum += exp(r[k] - max);
    for (int64_t k = 0; k < n; k++)
        r[k] = log_out ? r[k] - max - log(sum) : exp(r[k] - max) / sum;
}

/* x: (outer, n, inner) as above; y: the same. */
static lp_status run_softmax(const lp_run_ctx *c, smax_kind kind)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    if (!lp_ew_is_float(x->dtype) || y->dtype != x->dtype || lp_tensor_numel(y) != lp_tensor_numel(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input and output must be one float dtype and size");
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", softmax_default_axis(c->opset)), x->ndim, &axis));
    int64_t outer = lp_numel(axis, x->dims), n, inner;
    if (c->opset < 13) {
        n = lp_numel(x->ndim - axis, x->dims + axis);
        inner = 1;
    } else {
        n = x->dims[axis];
        inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    }
    if (n == 0 || outer * inner == 0)
        return LP_OK;
    double *row = malloc((size_t)n * sizeof *row);
    if (!row)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory for a row of %lld", (long long)n);
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            if (x->dtype == LP_F32) {
                const float *xs = x->data;
                float *ys = y->data;
                for (int64_t k = 0; k < n; k++)
                    row[k] = xs[base + k * inner];
                softmax_row(row, n, kind);
                for (int64_t k = 0; k < n; k++)
                    ys[base + k * inner] = (float)row[k];
            } else {
                for (int64_t k = 0; k < n; k++)
                    row[k] = t->get(x->data, base + k * inner);
                softmax_row(row, n, kind);
                for (int64_t k = 0; k < n; k++)
                    lp_ew_setd(y, base + k * inner, row[k]);
            }
        }
    }
    free(row);
    return LP_OK;
}

static lp_status run_Softmax(const lp_run_ctx *c) { return run_softmax(c, SMAX_SOFT); }
static lp_status run_LogSoftmax(const lp_run_ctx *c) { return run_softmax(c, SMAX_LOG); }
static lp_status run_Hardmax(const lp_run_ctx *c) { return run_softmax(c, SMAX_HARD); }

const lp_op_def lp_opdef_Softmax = { .name = "Softmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                     .infer = infer_softmax, .run = run_Softmax };
const lp_op_def lp_opdef_LogSoftmax = { .name = "LogSoftmax", .min_in = 1, .max_in = 1, .min_out = 1,
                                        .max_out = 1, .infer = infer_softmax, .run = run_LogSoftmax };
const lp_op_def lp_opdef_Hardmax = { .name = "Hardmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                     .infer = infer_softmax, .run = run_Hardmax };
