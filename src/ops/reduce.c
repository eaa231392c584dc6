/* reduce.c — reductions over a set of axes (ReduceSum, ReduceMean, ReduceMax, ReduceMin,
 * ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp), ArgMax and
 * ArgMin. Softmax and LogSoftmax live in reduce_softmax.c.
 *
 * Float types and Mean/L1/L2/SumSquare/LogSum/LogSumExp of any type accumulate in double and round once on store (integer
 * Mean truncates like NumPy's mean().astype). Integer Sum/Prod/Max/Min stay exact in int64,
 * Sum and Prod wrapping modulo 2^bits. Max and Min propagate NaN, like NumPy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_util.h"
#include "ops/reduce.h"

typedef enum red_kind {
    RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD, RED_L2, RED_L1, RED_SUMSQ, RED_LOGSUM, RED_LOGSUMEXP
} red_kind;

/* What a reduction does to an input of a given rank. */
typedef struct red_plan {
    bool noop;                  /* empty axes and noop_with_empty_axes: the output is the input */
    bool reduced[LP_MAX_DIMS];
} red_plan;

/* The axes: input 1 when the node has one (ReduceSum from opset 13, every Reduce* from 18),
 * else the `axes` attribute (absent: none). `from_input` says whether input 1 is present, `t`
 * is its value, NULL when not known, which gives *n_out = -1. */
static lp_status red_axes(const lp_node *node, bool from_input, const lp_tensor *t, int64_t *axes,
                          int *n_out)
{
    *n_out = -1;
    if (from_input) {
        if (!t)
            return LP_OK;
        int64_t n = lp_tensor_numel(t);
        if (!lp_ew_is_int(t->dtype) || t->dtype == LP_BOOL || n > LP_MAX_DIMS)
            return lp_node_error(node, LOWP_ERR_SHAPE, "the axes input must hold at most %d integers, got %lld %s values",
                                 LP_MAX_DIMS, (long long)n, lp_dtype_traits_of(t->dtype)->name);
        for (int64_t i = 0; i < n; i++)
            axes[i] = lp_ew_geti(t, i);
        *n_out = (int)n;
        return LP_OK;
    }
    const int64_t *vals;
    int n = lp_attr_ints(node, "axes", &vals);
    if (n > LP_MAX_DIMS)
        return lp_node_error(node, LOWP_ERR_SHAPE, "%d axes given, at most %d supported", n, LP_MAX_DIMS);
    for (int i = 0; i < n; i++)
        axes[i] = vals[i];
    *n_out = n < 0 ? 0 : n;
    return LP_OK;
}

static lp_status red_plan_make(const lp_node *node, int rank, const int64_t *axes, int n, red_plan *p)
{
    memset(p, 0, sizeof *p);
    if (n == 0) {
        p->noop = lp_attr_int(node, "noop_with_empty_axes", 0) != 0;
        for (int k = 0; k < rank; k++)
            p->reduced[k] = !p->noop;
        return LP_OK;
    }
    for (int i = 0; i < n; i++) {
        int a;
        LP_TRY(lp_op_axis(node, axes[i], rank, &a));
        p->reduced[a] = true;
    }
    return LP_OK;
}

lp_status lp_reduce_window(const lp_run_ctx *c, bool *noop, bool *reduced)
{
    bool from_input = c->n_in > 1 && c->in[1];
    int64_t axes[LP_MAX_DIMS];
    int n_axes;
    LP_TRY(red_axes(c->node, from_input, from_input ? c->in[1] : NULL, axes, &n_axes));
    if (n_axes < 0)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the axes are not known");
    red_plan p;
    LP_TRY(red_plan_make(c->node, c->in[0]->ndim, axes, n_axes, &p));
    *noop = p.noop;
    memcpy(reduced, p.reduced, sizeof p.reduced);
    return LP_OK;
}

static lp_status infer_reduce(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, false, "input 0"));
    if (x->dtype == LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input 0 is bool, expected a number");
    bool keepdims = lp_attr_int(c->node, "keepdims", 1) != 0;
    bool from_input = c->n_in > 1 && c->in[1];
    int64_t axes[LP_MAX_DIMS];
    int n;
    LP_TRY(red_axes(c->node, from_input, from_input ? c->in[1]->value : NULL, axes, &n));
    y->dtype = x->dtype;
    int rank = x->shape.ndim;
    if (rank < 0 || (n < 0 && !keepdims)) {
        y->shape.ndim = -1;
        return LP_OK;
    }
    if (n < 0) { /* axes not known: each dim stays or becomes 1 */
        y->shape.ndim = rank;
        for (int k = 0; k < rank; k++)
            y->shape.d[k] = x->shape.d[k] == 1 ? 1 : LP_DIM_UNKNOWN;
        return LP_OK;
    }
    red_plan p;
    LP_TRY(red_plan_make(c->node, rank, axes, n, &p));
    int nd = 0;
    for (int k = 0; k < rank; k++) {
        if (!p.reduced[k])
            y->shape.d[nd++] = x->shape.d[k];
        else if (keepdims)
            y->shape.d[nd++] = 1;
    }
    y->shape.ndim = nd;
    return LP_OK;
}

static double red_init(red_kind kind)
{
    switch (kind) {
    case RED_MAX: return -INFINITY;
    case RED_MIN: return INFINITY;
    case RED_PROD: return 1;
    default: return 0;
    }
}

static double red_step(red_kind kind, double acc, double v)
{
    switch (kind) {
    case RED_SUM:
    case RED_MEAN: return acc + v;
    case RED_L2:
    case RED_SUMSQ: return acc + v * v;
    case RED_L1: return acc + fabs(v);
    case RED_LOGSUM: return acc + v;
    case RED_LOGSUMEXP: return acc + exp(v); /* v already less the slice's max */
    case RED_PROD: return acc * v;
    case RED_MAX: return v > acc || isnan(v) ? v : acc;
    case RED_MIN: return v < acc || isnan(v) ? v : acc;
    }
    return acc;
}

/* Integer Sum, Prod, Max, Min over int64 values read from dtype t; Max and Min start from
 * t's lowest/highest value, which is also the result of an empty reduction. */
static int64_t red_init_int(red_kind kind, lp_dtype t)
{
    int bits = 8 * (int)lp_dtype_traits_of(t)->size;
    bool sgn = lp_dtype_traits_of(t)->is_signed;
    uint64_t top = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1; /* unsigned max */
    if (kind == RED_MAX)
        return sgn ? (int64_t)(~(top >> 1)) : 0;
    if (kind == RED_MIN)
        return sgn ? (int64_t)(top >> 1) : (int64_t)top;
    return kind == RED_PROD ? 1 : 0;
}

static int64_t red_step_int(red_kind kind, lp_dtype t, int64_t acc, int64_t v)
{
    switch (kind) {
    case RED_SUM: return (int64_t)((uint64_t)acc + (uint64_t)v);
    case RED_PROD: return (int64_t)((uint64_t)acc * (uint64_t)v);
    case RED_MAX: return lp_ew_int_less(t, acc, v) ? v : acc;
    case RED_MIN: return lp_ew_int_less(t, v, acc) ? v : acc;
    default: return acc; /* the others take the double path */
    }
}

/* x: (d0, ..., dr-1); y: the same with reduced dims set to 1 (keepdims) or dropped; both
 * orders are the same in memory. Element i of x adds into y[off], off from y's strides with
 * 0 along reduced dims. */
static lp_status run_reduce(const lp_run_ctx *c, red_kind kind)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    bool from_input = c->n_in > 1 && c->in[1];
    int64_t axes[LP_MAX_DIMS];
    int n_axes;
    LP_TRY(red_axes(c->node, from_input, from_input ? c->in[1] : NULL, axes, &n_axes));
    red_plan p;
    LP_TRY(red_plan_make(c->node, x->ndim, axes, n_axes, &p));

    int64_t ystride[LP_MAX_DIMS], n_y = 1, count = 1;
    for (int k = x->ndim - 1; k >= 0; k--) {
        ystride[k] = p.reduced[k] ? 0 : n_y;
        if (p.reduced[k])
            count *= x->dims[k];
        else
            n_y *= x->dims[k];
    }
    if (y->dtype != x->dtype || lp_tensor_numel(y) != n_y)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output does not match the reduced input");
    if (!lp_dtype_valid(x->dtype) || x->dtype == LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported",
                             lp_dtype_traits_of(x->dtype)->name);
    int64_t n_x = lp_tensor_numel(x);
    if (p.noop) {
        if (n_x)
            memcpy(y->data, x->data, x->nbytes);
        return LP_OK;
    }
    lp_ew_iter it;
    lp_ew_iter_init(&it, x->ndim, x->dims);
    lp_ew_iter_add(&it, ystride);

    bool exact_int = kind == RED_SUM || kind == RED_PROD || kind == RED_MAX || kind == RED_MIN;
    if (lp_ew_is_int(x->dtype) && exact_int) {
        for (int64_t j = 0; j < n_y; j++)
            lp_ew_seti(y, j, red_init_int(kind, x->dtype));
        for (int64_t i = 0; i < n_x; i++, lp_ew_iter_next(&it)) {
            int64_t o = it.off[0];
            lp_ew_seti(y, o, red_step_int(kind, x->dtype, lp_ew_geti(y, o), lp_ew_geti(x, i)));
        }
        return LP_OK;
    }

    /* LogSumExp takes two passes: each slice's max, then the sum of exp(v - max). */
    double *acc = malloc((size_t)(n_y ? n_y : 1) * 2 * sizeof *acc), *mx = acc + (n_y ? n_y : 1);
    if (!acc)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld accumulators", (long long)n_y);
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    bool is_float = lp_ew_is_float(x->dtype);
    for (int64_t j = 0; j < n_y; j++) {
        acc[j] = red_init(kind);
        mx[j] = kind == RED_LOGSUMEXP ? -INFINITY : 0;
    }
    if (kind == RED_LOGSUMEXP) {
        for (int64_t i = 0; i < n_x; i++, lp_ew_iter_next(&it)) {
            double v = is_float ? t->get(x->data, i) : lp_ew_int_to_double(x->dtype, lp_ew_geti(x, i));
            mx[it.off[0]] = red_step(RED_MAX, mx[it.off[0]], v);
        }
        lp_ew_iter_init(&it, x->ndim, x->dims); /* the second pass starts over */
        lp_ew_iter_add(&it, ystride);
        for (int64_t j = 0; j < n_y; j++)
            if (isinf(mx[j]))
                mx[j] = 0; /* an all -inf (or +inf) slice: exp of the raw values gives 0 (inf) */
    }
    if (x->dtype == LP_F32) {
        const float *xs = x->data;
        for (int64_t i = 0; i < n_x; i++, lp_ew_iter_next(&it))
            acc[it.off[0]] = red_step(kind, acc[it.off[0]], xs[i] - mx[it.off[0]]);
    } else {
        for (int64_t i = 0; i < n_x; i++, lp_ew_iter_next(&it)) {
            double v = is_float ? t->get(x->data, i) : lp_ew_int_to_double(x->dtype, lp_ew_geti(x, i));
            acc[it.off[0]] = red_step(kind, acc[it.off[0]], v - mx[it.off[0]]);
        }
    }
    for (int64_t j = 0; j < n_y; j++) {
        double v = acc[j];
        switch (kind) {
        case RED_MEAN: v /= (double)count; break;
        case RED_L2: v = sqrt(v); break;
        case RED_LOGSUM: v = log(v); break;
        case RED_LOGSUMEXP: v = mx[j] + log(v); break;
        default: break;
        }
        lp_ew_setd(y, j, v);
    }
    free(acc);
    return LP_OK;
}

#define REDUCE_OP(Name, KIND)                                                            \
    static lp_status run_##Name(const lp_run_ctx *c) { return run_reduce(c, KIND); }     \
    const lp_op_def lp_opdef_##Name = { .name = #Name, .min_in = 1, .max_in = 2, .min_out = 1, \
                                        .max_out = 1, .infer = infer_reduce, .run = run_##Name };

REDUCE_OP(ReduceSum, RED_SUM)
REDUCE_OP(ReduceMean, RED_MEAN)
REDUCE_OP(ReduceMax, RED_MAX)
REDUCE_OP(ReduceMin, RED_MIN)
REDUCE_OP(ReduceProd, RED_PROD)
REDUCE_OP(ReduceL2, RED_L2)
REDUCE_OP(ReduceL1, RED_L1)
REDUCE_OP(ReduceSumSquare, RED_SUMSQ)
REDUCE_OP(ReduceLogSum, RED_LOGSUM)
REDUCE_OP(ReduceLogSumExp, RED_LOGSUMEXP)

/* ---- ArgMax, ArgMin ---- */

/* True when v should replace the current best: larger, or equal with select_last_index.
 * NaN counts as the maximum, as in NumPy (the first NaN, or the last with select_last). */
static bool argmax_better(double v, double best, bool last)
{
    if (isnan(best))
        return last && isnan(v);
    if (isnan(v))
        return true;
    return last ? v >= best : v > best;
}

static lp_status infer_arg(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, false, "input 0"));
    y->dtype = LP_I64;
    int rank = x->shape.ndim;
    if (rank < 0) {
        y->shape.ndim = -1;
        return LP_OK;
    }
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), rank, &axis));
    bool keepdims = lp_attr_int(c->node, "keepdims", 1) != 0;
    int nd = 0;
    for (int k = 0; k < rank; k++) {
        if (k != axis)
            y->shape.d[nd++] = x->shape.d[k];
        else if (keepdims)
            y->shape.d[nd++] = 1;
    }
    y->shape.ndim = nd;
    return LP_OK;
}

/* x: (outer, n, inner) around `axis`; y: int64 (outer, inner) in either keepdims layout.
 * ArgMin is ArgMax of -x (NaN still counts as the extreme, as in NumPy's argmin). */
static lp_status run_arg(const lp_run_ctx *c, bool min)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), x->ndim, &axis));
    bool last = lp_attr_int(c->node, "select_last_index", 0) != 0;
    int64_t outer = lp_numel(axis, x->dims), n = x->dims[axis];
    int64_t inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    if (y->dtype != LP_I64 || lp_tensor_numel(y) != outer * inner)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output does not match the reduced input");
    if (!lp_dtype_valid(x->dtype))
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported",
                             lp_dtype_traits_of(x->dtype)->name);
    if (n == 0 && outer * inner > 0)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "cannot take the %s of an empty axis %d", c->node->op_type, axis);
    int64_t *ys = y->data;
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    bool is_float = lp_ew_is_float(x->dtype);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i, best = 0;
            for (int64_t k = 1; k < n; k++) {
                int64_t at = base + k * inner, cur = base + best * inner;
                bool better;
                if (is_float) {
                    double v = t->get(x->data, at), b = t->get(x->data, cur);
                    better = min ? argmax_better(-v, -b, last) : argmax_better(v, b, last);
                } else {
                    int64_t v = lp_ew_geti(x, at), b = lp_ew_geti(x, cur);
                    better = (min ? lp_ew_int_less(x->dtype, v, b) : lp_ew_int_less(x->dtype, b, v)) || (last && v == b);
                }
                if (better)
                    best = k;
            }
            ys[o * inner + i] = best;
        }
    }
    return LP_OK;
}

static lp_status run_ArgMax(const lp_run_ctx *c) { return run_arg(c, false); }
static lp_status run_ArgMin(const lp_run_ctx *c) { return run_arg(c, true); }
const lp_op_def lp_opdef_ArgMax = { .name = "ArgMax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                    .infer = infer_arg, .run = run_ArgMax };
const lp_op_def lp_opdef_ArgMin = { .name = "ArgMin", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                    .infer = infer_arg, .run = run_ArgMin };

/* ---- CumSum: running sums along one axis (input 1: a scalar axis) ---- */

static lp_status cumsum_axis(const lp_node *n, const lp_tensor *a, int rank, int *axis)
{
    if (!a || lp_tensor_numel(a) != 1 || (a->dtype != LP_I32 && a->dtype != LP_I64))
        return lp_node_error(n, LOWP_ERR_SHAPE, "the axis input must be one int32 or int64 value");
    return lp_op_axis(n, lp_tensor_get_int(a, 0), rank, axis);
}

/* x: (outer, n, inner) around the axis; y: the same. exclusive: y[k] sums x[0..k) (reverse:
 * x(k..n)); floats add in double, integers wrap. */
static lp_status run_CumSum(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int axis;
    LP_TRY(cumsum_axis(c->node, c->in[1], x->ndim, &axis));
    if (y->dtype != x->dtype || lp_tensor_numel(y) != lp_tensor_numel(x) || !lp_dtype_valid(x->dtype) ||
        x->dtype == LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input and output must be one numeric dtype and size");
    bool excl = lp_attr_int(c->node, "exclusive", 0) != 0, rev = lp_attr_int(c->node, "reverse", 0) != 0;
    int64_t outer = lp_numel(axis, x->dims), n = x->dims[axis];
    int64_t inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    bool is_float = lp_ew_is_float(x->dtype);
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            double sd = 0;
            int64_t si = 0;
            for (int64_t s = 0; s < n; s++) {
                int64_t k = rev ? n - 1 - s : s, at = (o * n + k) * inner + i;
                if (is_float) {
                    double v = t->get(x->data, at);
                    if (!excl)
                        sd += v;
                    lp_ew_setd(y, at, sd);
                    if (excl)
                        sd += v;
                } else {
                    int64_t v = lp_ew_geti(x, at);
                    if (!excl)
                        si = (int64_t)((uint64_t)si + (uint64_t)v);
                    lp_ew_seti(y, at, si);
                    if (excl)
                        si = (int64_t)((uint64_t)si + (uint64_t)v);
                }
            }
        }
    }
    return LP_OK;
}

static lp_status infer_CumSum(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, false, "input 0"));
    const lp_shape *as = &c->in[1]->shape;
    if (as->ndim > 1 || (lp_shape_static(as) && lp_numel(as->ndim, as->d) != 1))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the axis input must be a scalar");
    if (x->shape.ndim >= 0 && c->in[1]->value) {
        int axis;
        LP_TRY(cumsum_axis(c->node, c->in[1]->value, x->shape.ndim, &axis));
    }
    c->out[0].dtype = x->dtype;
    c->out[0].shape = x->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_CumSum = { .name = "CumSum", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                    .infer = infer_CumSum, .run = run_CumSum };
