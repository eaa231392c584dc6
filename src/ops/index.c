/* index.c — indexed reads and writes: GatherElements, GatherND, ScatterElements (and its
 * opset-9 name Scatter), ScatterND, OneHot.
 *
 * Indices are int32 or int64, negative ones count from the end of their dim; an index outside
 * [-dim, dim) fails naming the node. Plain copies move element-size bytes, so every dtype
 * works; scatter reductions (add, mul, max, min) take numbers: floats in double, integers
 * exactly (add and mul wrapping), and when several updates hit one element they apply in
 * order, as ONNX's reference does. */
#include <math.h>
#include <string.h>

#include "base/limits.h"
#include "ops/elementwise_util.h"

static size_t esize(const lp_tensor *t) { return lp_dtype_traits_of(t->dtype)->size; }

static lp_status check_indices_dtype(const lp_node *n, lp_dtype t)
{
    if (t != LOWP_UNDEFINED && t != LP_I32 && t != LP_I64)
        return lp_node_error(n, LOWP_ERR_SHAPE, "indices must be int32 or int64, got %s", lp_dtype_traits_of(t)->name);
    return LP_OK;
}

/* Element i of `ind` as an index into a dim of size d, normalized to [0, d). */
static lp_status index_at(const lp_node *n, const lp_tensor *ind, int64_t i, int64_t d, int64_t *out)
{
    int64_t v = lp_tensor_get_int(ind, i);
    *out = 0;
    if (v < -d || v >= d)
        return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "index %lld is out of range for a dim of %lld",
                             (long long)v, (long long)d);
    *out = v < 0 ? v + d : v;
    return LP_OK;
}

/* ---- scatter reductions ---- */

typedef enum scat_red { SCAT_NONE, SCAT_ADD, SCAT_MUL, SCAT_MAX, SCAT_MIN } scat_red;

static lp_status scatter_reduction(const lp_node *n, scat_red *out)
{
    static const char *const names[] = { "none", "add", "mul", "max", "min" };
    const char *r = lp_attr_str(n, "reduction", "none");
    for (int i = 0; i < 5; i++)
        if (strcmp(r, names[i]) == 0) {
            *out = (scat_red)i;
            return LP_OK;
        }
    return lp_node_error(n, LOWP_ERR_FORMAT, "reduction must be none, add, mul, max or min, got '%s'", r);
}

/* y[dst] = red(y[dst], u[src]). */
static void scatter_one(scat_red red, lp_tensor *y, int64_t dst, const lp_tensor *u, int64_t src)
{
    size_t es = esize(y);
    if (red == SCAT_NONE) {
        memcpy((char *)y->data + (size_t)dst * es, (const char *)u->data + (size_t)src * es, es);
    } else if (lp_ew_is_float(y->dtype)) {
        const lp_dtype_traits *t = lp_dtype_traits_of(y->dtype);
        double a = t->get(y->data, dst), b = t->get(u->data, src);
        double r = red == SCAT_ADD ? a + b : red == SCAT_MUL ? a * b : red == SCAT_MAX ? (b > a ? b : a) : (b < a ? b : a);
        lp_ew_setd(y, dst, r);
    } else {
        int64_t a = lp_ew_geti(y, dst), b = lp_ew_geti(u, src), r;
        if (red == SCAT_ADD)
            r = (int64_t)((uint64_t)a + (uint64_t)b);
        else if (red == SCAT_MUL)
            r = (int64_t)((uint64_t)a * (uint64_t)b);
        else if (red == SCAT_MAX)
            r = lp_ew_int_less(y->dtype, a, b) ? b : a;
        else
            r = lp_ew_int_less(y->dtype, b, a) ? b : a;
        lp_ew_seti(y, dst, r);
    }
}

static lp_status check_scatter_dtypes(const lp_run_ctx *c, scat_red red)
{
    const lp_tensor *x = c->in[0], *u = c->in[2];
    if (u->dtype != x->dtype || c->out[0]->dtype != x->dtype || !esize(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "data, updates and output must share one dtype");
    if (red != SCAT_NONE && x->dtype == LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "a scatter reduction needs numbers, got bool");
    LP_TRY(check_indices_dtype(c->node, c->in[1]->dtype));
    memcpy(c->out[0]->data, x->data, x->nbytes);
    return LP_OK;
}

/* ---- GatherElements, ScatterElements ---- */

/* Offsets for an index tensor of dims `dims` walking a data tensor of dims `ddims` (same rank):
 * element i of the index tensor sits at data offset it.off[0] with the `axis` coordinate 0. */
static void elements_iter(lp_ew_iter *it, int nd, const int64_t *dims, const int64_t *ddims)
{
    int64_t stride[LP_MAX_DIMS], s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        stride[k] = s;
        s *= ddims[k];
    }
    lp_ew_iter_init(it, nd, dims);
    lp_ew_iter_add(it, stride);
}

static lp_status check_same_rank(const lp_node *n, const lp_tensor *x, const lp_tensor *ind, int axis)
{
    bool ok = x->ndim == ind->ndim;
    for (int k = 0; ok && k < x->ndim; k++)
        ok = k == axis || ind->dims[k] <= x->dims[k];
    if (!ok)
        return lp_node_error(n, LOWP_ERR_SHAPE, "indices must have data's rank and no larger dims off the axis");
    return LP_OK;
}

/* x: data (r dims); ind: (r dims); y: ind's shape, y[i] = x[i with i[axis] = ind[i]]. */
static lp_status run_GatherElements(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *ind = c->in[1];
    lp_tensor *y = c->out[0];
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), x->ndim, &axis));
    LP_TRY(check_indices_dtype(c->node, ind->dtype));
    LP_TRY(check_same_rank(c->node, x, ind, axis));
    if (y->dtype != x->dtype || lp_tensor_numel(y) != lp_tensor_numel(ind) || !esize(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output must have the indices' shape and data's dtype");
    int64_t astride = lp_numel(x->ndim - axis - 1, x->dims + axis + 1), n = lp_tensor_numel(ind);
    size_t es = esize(x);
    lp_ew_iter it;
    elements_iter(&it, ind->ndim, ind->dims, x->dims);
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
        int64_t j;
        LP_TRY(index_at(c->node, ind, i, x->dims[axis], &j));
        int64_t src = it.off[0] + (j - it.idx[axis]) * astride;
        memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)src * es, es);
    }
    return LP_OK;
}

static lp_status infer_GatherElements(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *ind = c->in[1];
    LP_TRY(check_indices_dtype(c->node, ind->dtype));
    if (x->shape.ndim >= 0 && ind->shape.ndim >= 0 && x->shape.ndim != ind->shape.ndim)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "indices have rank %d, data %d", ind->shape.ndim, x->shape.ndim);
    if (x->shape.ndim >= 0) {
        int axis;
        LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), x->shape.ndim, &axis));
    }
    c->out[0].dtype = x->dtype;
    c->out[0].shape = ind->shape;
    return LP_OK;
}

/* x: data; ind, u: the same shape (data's rank); y = x, then y[i with i[axis] = ind[i]] = u[i]. */
static lp_status run_ScatterElements(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *ind = c->in[1], *u = c->in[2];
    lp_tensor *y = c->out[0];
    scat_red red;
    LP_TRY(scatter_reduction(c->node, &red));
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), x->ndim, &axis));
    LP_TRY(check_same_rank(c->node, x, ind, axis));
    if (u->ndim != ind->ndim || memcmp(u->dims, ind->dims, (size_t)u->ndim * sizeof u->dims[0]) ||
        lp_tensor_numel(y) != lp_tensor_numel(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "updates must have the indices' shape, output data's");
    LP_TRY(check_scatter_dtypes(c, red));
    int64_t astride = lp_numel(x->ndim - axis - 1, x->dims + axis + 1), n = lp_tensor_numel(ind);
    lp_ew_iter it;
    elements_iter(&it, ind->ndim, ind->dims, x->dims);
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
        int64_t j;
        LP_TRY(index_at(c->node, ind, i, x->dims[axis], &j));
        scatter_one(red, y, it.off[0] + (j - it.idx[axis]) * astride, u, i);
    }
    return LP_OK;
}

static lp_status infer_scatter(lp_infer_ctx *c)
{
    LP_TRY(check_indices_dtype(c->node, c->in[1]->dtype));
    lp_dtype dt = c->in[0]->dtype, du = c->in[2]->dtype;
    if (dt != LOWP_UNDEFINED && du != LOWP_UNDEFINED && dt != du)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "updates have dtype %s, data %s",
                             lp_dtype_traits_of(du)->name, lp_dtype_traits_of(dt)->name);
    scat_red red;
    LP_TRY(scatter_reduction(c->node, &red));
    c->out[0].dtype = dt;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_GatherElements = { .name = "GatherElements", .min_in = 2, .max_in = 2, .min_out = 1,
                                            .max_out = 1, .infer = infer_GatherElements, .run = run_GatherElements };
const lp_op_def lp_opdef_ScatterElements = { .name = "ScatterElements", .min_in = 3, .max_in = 3, .min_out = 1,
                                             .max_out = 1, .infer = infer_scatter, .run = run_ScatterElements };
const lp_op_def lp_opdef_Scatter = { .name = "Scatter", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                     .infer = infer_scatter, .run = run_ScatterElements };

/* ---- GatherND, ScatterND ---- */

/* Data offset (in elements) of the slice that row `row` of ind (..., q) addresses in x, after
 * `batch_dims` leading dims shared by both; *slice_out = elements per slice. */
static lp_status nd_offset(const lp_node *n, const lp_tensor *x, const lp_tensor *ind, int batch_dims,
                           int64_t row, int64_t rows_per_batch, int64_t *off)
{
    int q = (int)ind->dims[ind->ndim - 1];
    int64_t batch = row / rows_per_batch, o = 0;
    /* the batch index in x's first batch_dims dims (same dims as ind's) */
    int64_t bstride = lp_numel(x->ndim - batch_dims, x->dims + batch_dims);
    o = batch * bstride;
    for (int k = 0; k < q; k++) {
        int64_t d = x->dims[batch_dims + k], j;
        LP_TRY(index_at(n, ind, row * q + k, d, &j));
        o += j * lp_numel(x->ndim - batch_dims - k - 1, x->dims + batch_dims + k + 1);
    }
    *off = o;
    return LP_OK;
}

static lp_status nd_check(const lp_node *n, const lp_tensor *x, const lp_tensor *ind, int b)
{
    LP_TRY(check_indices_dtype(n, ind->dtype));
    if (ind->ndim < 1 || b < 0 || b >= ind->ndim || b >= x->ndim ||
        ind->dims[ind->ndim - 1] > x->ndim - b)
        return lp_node_error(n, LOWP_ERR_SHAPE, "indices (rank %d) do not fit data (rank %d) with batch_dims %d",
                             ind->ndim, x->ndim, b);
    for (int k = 0; k < b; k++)
        if (x->dims[k] != ind->dims[k])
            return lp_node_error(n, LOWP_ERR_SHAPE, "batch dim %d differs between data and indices", k);
    return LP_OK;
}

/* x: (b..., d...), ind: (b..., m..., q); y: (b..., m..., d[q:]...). */
static lp_status run_GatherND(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *ind = c->in[1];
    lp_tensor *y = c->out[0];
    int b = (int)lp_attr_int(c->node, "batch_dims", 0);
    LP_TRY(nd_check(c->node, x, ind, b));
    int q = (int)ind->dims[ind->ndim - 1];
    int64_t rows = lp_numel(ind->ndim - 1, ind->dims), per_batch = lp_numel(ind->ndim - 1 - b, ind->dims + b);
    size_t slice = (size_t)lp_numel(x->ndim - b - q, x->dims + b + q) * esize(x);
    if (y->dtype != x->dtype || y->nbytes != (size_t)rows * slice || !esize(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output does not match the gathered slices");
    for (int64_t r = 0; r < rows; r++) {
        int64_t off;
        LP_TRY(nd_offset(c->node, x, ind, b, r, per_batch ? per_batch : 1, &off));
        if (slice)
            memcpy((char *)y->data + (size_t)r * slice, (const char *)x->data + (size_t)off * esize(x), slice);
    }
    return LP_OK;
}

static lp_status infer_GatherND(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *ind = c->in[1];
    LP_TRY(check_indices_dtype(c->node, ind->dtype));
    int b = (int)lp_attr_int(c->node, "batch_dims", 0), r = x->shape.ndim, m = ind->shape.ndim;
    c->out[0].dtype = x->dtype;
    if (r < 0 || m < 0 || !lp_dim_known(ind->shape.d[m - 1])) {
        c->out[0].shape.ndim = -1;
        return LP_OK;
    }
    int64_t q = ind->shape.d[m - 1];
    if (m < 1 || b < 0 || b >= m || b >= r || q > r - b)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "indices (rank %d) do not fit data (rank %d) with batch_dims %d",
                             m, r, b);
    int nd = 0;
    for (int k = 0; k < m - 1; k++)
        c->out[0].shape.d[nd++] = ind->shape.d[k];
    for (int k = b + (int)q; k < r; k++)
        c->out[0].shape.d[nd++] = x->shape.d[k];
    if (nd > LP_MAX_DIMS)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "output rank %d exceeds %d", nd, LP_MAX_DIMS);
    c->out[0].shape.ndim = nd;
    return LP_OK;
}

/* x: data; ind: (m..., q); u: (m..., d[q:]...); y = x, then the addressed slices get u's. */
static lp_status run_ScatterND(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *ind = c->in[1], *u = c->in[2];
    lp_tensor *y = c->out[0];
    scat_red red;
    LP_TRY(scatter_reduction(c->node, &red));
    LP_TRY(nd_check(c->node, x, ind, 0));
    int q = (int)ind->dims[ind->ndim - 1];
    int64_t rows = lp_numel(ind->ndim - 1, ind->dims), slice = lp_numel(x->ndim - q, x->dims + q);
    if (lp_tensor_numel(u) != rows * slice || lp_tensor_numel(y) != lp_tensor_numel(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "updates must hold %lld slices of %lld elements",
                             (long long)rows, (long long)slice);
    LP_TRY(check_scatter_dtypes(c, red));
    for (int64_t r = 0; r < rows; r++) {
        int64_t off;
        LP_TRY(nd_offset(c->node, x, ind, 0, r, rows ? rows : 1, &off));
        for (int64_t e = 0; e < slice; e++)
            scatter_one(red, y, off + e, u, r * slice + e);
    }
    return LP_OK;
}

const lp_op_def lp_opdef_GatherND = { .name = "GatherND", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                      .infer = infer_GatherND, .run = run_GatherND };
const lp_op_def lp_opdef_ScatterND = { .name = "ScatterND", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                       .infer = infer_scatter, .run = run_ScatterND };

/* ---- OneHot: indices (any numeric), depth (a scalar), values [off, on] -> indices' shape with
 * a new dim of `depth` at `axis`; on where the index (negative: + depth) matches, off
 * elsewhere, all off for an index out of range. ---- */

static lp_status onehot_depth(const lp_node *n, const lp_tensor *d, int64_t *out)
{
    if (lp_tensor_numel(d) != 1 || !lp_dtype_valid(d->dtype) || d->dtype == LP_BOOL)
        return lp_node_error(n, LOWP_ERR_SHAPE, "depth must be one number");
    double v = lp_tensor_get(d, 0);
    if (!(v >= 1) || v > (double)LP_MAX_VALUE_SIZED_ELEMS)
        return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "depth %g is not in [1, %lld]", v,
                             (long long)LP_MAX_VALUE_SIZED_ELEMS);
    *out = (int64_t)v;
    return LP_OK;
}

static lp_status infer_OneHot(lp_infer_ctx *c)
{
    const lp_vinfo *ind = c->in[0], *d = c->in[1], *vals = c->in[2];
    LP_TRY(lp_ew_check_dtype(c->node, ind->dtype, false, "the indices"));
    int r = ind->shape.ndim;
    c->out[0].dtype = vals->dtype;
    if (r < 0) {
        c->out[0].shape.ndim = -1;
        return LP_OK;
    }
    if (r + 1 > LP_MAX_DIMS)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "output rank %d exceeds %d", r + 1, LP_MAX_DIMS);
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", -1), r + 1, &axis));
    int64_t depth = LP_DIM_UNKNOWN, total;
    if (d->value) {
        LP_TRY(onehot_depth(c->node, d->value, &depth));
        if (lp_shape_static(&ind->shape))
            LP_TRY(lp_op_check_count(c->node, lp_numel(r, ind->shape.d), depth, "OneHot output", &total));
    }
    c->out[0].shape.ndim = r + 1;
    for (int k = 0, j = 0; k < r + 1; k++)
        c->out[0].shape.d[k] = k == axis ? depth : ind->shape.d[j++];
    return LP_OK;
}

/* ind: (outer, inner) split at axis; y: (outer, depth, inner). */
static lp_status run_OneHot(const lp_run_ctx *c)
{
    const lp_tensor *ind = c->in[0], *vals = c->in[2];
    lp_tensor *y = c->out[0];
    int64_t depth, total;
    LP_TRY(onehot_depth(c->node, c->in[1], &depth));
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", -1), ind->ndim + 1, &axis));
    LP_TRY(lp_op_check_count(c->node, lp_tensor_numel(ind), depth, "OneHot output", &total));
    size_t es = esize(y);
    if (lp_tensor_numel(vals) != 2 || vals->dtype != y->dtype || lp_tensor_numel(y) != total || !es)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "values must be [off, on] of the output's dtype");
    int64_t outer = lp_numel(axis, ind->dims), inner = lp_numel(ind->ndim - axis, ind->dims + axis);
    const char *off = vals->data, *on = off + es;
    char *dst = y->data;
    bool is_float = lp_ew_is_float(ind->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < depth; k++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = o * inner + i;
                int64_t v = INT64_MAX; /* a float index too large (or NaN) matches nothing */
                if (!is_float)
                    v = lp_ew_geti(ind, at);
                else if (fabs(lp_tensor_get(ind, at)) < 0x1p62)
                    v = (int64_t)lp_tensor_get(ind, at);
                if (v < 0)
                    v += depth;
                memcpy(dst + (size_t)((o * depth + k) * inner + i) * es, v == k ? on : off, es);
            }
    return LP_OK;
}

const lp_op_def lp_opdef_OneHot = { .name = "OneHot", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                    .infer = infer_OneHot, .run = run_OneHot };
