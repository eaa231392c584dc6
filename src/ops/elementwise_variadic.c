/* elementwise_variadic.c — Max, Min, Sum, Mean: one or more inputs of one dtype, numpy
 * broadcasting across all of them.
 *
 * Floats combine in double and round once on store; Max and Min propagate NaN like NumPy's
 * maximum/minimum (a NaN in any input makes that element NaN). Integers (Max, Min only:
 * Sum and Mean take floats) compare exactly in int64, uint64 unsigned. */
#include <math.h>
#include <stdlib.h>

#include "ir/infer.h"
#include "ops/elementwise_util.h"

typedef enum var_op { VAR_MAX, VAR_MIN, VAR_SUM, VAR_MEAN } var_op;

static double var_f64(var_op op, double acc, double v)
{
    switch (op) {
    case VAR_MAX: return isnan(acc) || v < acc ? acc : v; /* NaN in v: v */
    case VAR_MIN: return isnan(acc) || v > acc ? acc : v;
    case VAR_SUM:
    case VAR_MEAN: return acc + v;
    }
    return acc;
}

static int64_t var_int(var_op op, lp_dtype t, int64_t acc, int64_t v)
{
    if (op == VAR_MAX)
        return lp_ew_int_less(t, acc, v) ? v : acc;
    return lp_ew_int_less(t, v, acc) ? v : acc; /* VAR_MIN */
}

/* in[0..n): any shapes of one dtype; y: their broadcast. Each input is folded into an
 * accumulator of y's size through a two-operand iterator (the accumulator, the input). */
static lp_status run_variadic(const lp_run_ctx *c, var_op op)
{
    lp_tensor *y = c->out[0];
    int64_t n = lp_tensor_numel(y);
    bool is_float = lp_ew_is_float(y->dtype);
    for (int j = 0; j < c->n_in; j++)
        if (!c->in[j] || c->in[j]->dtype != y->dtype)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "input %d is missing or not of the output's dtype %s",
                                 j, lp_dtype_traits_of(y->dtype)->name);
    if (!lp_dtype_valid(y->dtype) || y->dtype == LP_BOOL || (!is_float && (op == VAR_SUM || op == VAR_MEAN)))
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported",
                             lp_dtype_traits_of(y->dtype)->name);
    size_t cell = is_float ? sizeof(double) : sizeof(int64_t);
    void *acc = malloc((size_t)(n ? n : 1) * cell);
    if (!acc)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld elements", (long long)n);
    double *ad = acc;
    int64_t *ai = acc;
    const lp_dtype_traits *t = lp_dtype_traits_of(y->dtype);
    lp_status st = LP_OK;
    for (int j = 0; j < c->n_in && st == LP_OK; j++) {
        lp_ew_iter it;
        if ((st = lp_ew_iter_bcast(&it, c->node, y, 1, &c->in[j])) != LP_OK)
            break;
        const lp_tensor *x = c->in[j];
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
            if (is_float) {
                double v = t->get(x->data, it.off[0]);
                ad[i] = j ? var_f64(op, ad[i], v) : v;
            } else {
                int64_t v = lp_ew_geti(x, it.off[0]);
                ai[i] = j ? var_int(op, y->dtype, ai[i], v) : v;
            }
        }
    }
    for (int64_t i = 0; st == LP_OK && i < n; i++) {
        if (is_float)
            lp_ew_setd(y, i, op == VAR_MEAN ? ad[i] / c->n_in : ad[i]);
        else
            lp_ew_seti(y, i, ai[i]);
    }
    free(acc);
    return st;
}

static lp_status infer_variadic(lp_infer_ctx *c, bool float_only)
{
    lp_dtype dt;
    LP_TRY(lp_ew_same_dtype(c, 0, c->n_in, &dt));
    LP_TRY(lp_ew_check_dtype(c->node, dt, float_only, "input 0"));
    if (dt == LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input 0 is bool, expected a number");
    const lp_shape *shapes[LP_MAX_NODE_IO];
    int k = 0;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->in[i])
            return lp_node_error(c->node, LOWP_ERR_FORMAT, "input %d is empty", i);
        shapes[k++] = &c->in[i]->shape;
    }
    c->out[0].dtype = dt;
    return lp_broadcast_shapes(c->node, k, shapes, &c->out[0].shape);
}

static lp_status infer_any(lp_infer_ctx *c) { return infer_variadic(c, false); }
static lp_status infer_float(lp_infer_ctx *c) { return infer_variadic(c, true); }

#define VARIADIC_OP(Name, OP, INFER)                                                     \
    static lp_status run_##Name(const lp_run_ctx *c) { return run_variadic(c, OP); }     \
    const lp_op_def lp_opdef_##Name = { .name = #Name, .min_in = 1, .max_in = LP_MAX_NODE_IO,  \
                                        .min_out = 1, .max_out = 1, .infer = INFER, .run = run_##Name };

VARIADIC_OP(Max, VAR_MAX, infer_any)
VARIADIC_OP(Min, VAR_MIN, infer_any)
VARIADIC_OP(Sum, VAR_SUM, infer_float)
VARIADIC_OP(Mean, VAR_MEAN, infer_float)
