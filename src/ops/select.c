/* select.c — ops whose output size depends on input values: NonZero, Compress, Unique, TopK.
 *
 * NonZero, Compress and Unique compute their result outright (select_* functions allocate the
 * outputs). Their infer does so when the inputs' values are known — at compile time for
 * constants, and at run time for the engine's dynamic steps, which infer with the actual
 * inputs before sizing the outputs (docs/architecture.md) — and answers unknown dims
 * otherwise; their run computes again and copies into the outputs the engine sized. TopK's
 * output size depends only on k, so its infer needs only k's value. Every size chosen by
 * values is checked against LP_MAX_VALUE_SIZED_ELEMS (lp_op_check_count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise_util.h"

#define MAX_OUT 4

static size_t esize(const lp_tensor *t) { return lp_dtype_traits_of(t->dtype)->size; }

/* Hands computed tensors to infer's outputs (which own them afterwards). */
static void give_outputs(lp_infer_ctx *c, lp_tensor **t)
{
    for (int k = 0; k < c->n_out && k < MAX_OUT; k++) {
        lp_vinfo_give(&c->out[k], t[k]);
        t[k] = NULL;
    }
}

/* Copies computed tensors into run's preallocated outputs and frees them. */
static lp_status copy_outputs(const lp_run_ctx *c, lp_tensor **t)
{
    lp_status st = LP_OK;
    for (int k = 0; k < MAX_OUT; k++) {
        lp_status sk = k < c->n_out ? lp_op_copy_computed(c, k, t[k]) : (lp_tensor_free(t[k]), LP_OK);
        st = st == LP_OK ? sk : st;
        t[k] = NULL;
    }
    return st;
}

static bool all_values_known(const lp_infer_ctx *c)
{
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i] && !c->in[i]->value)
            return false;
    return true;
}

/* Output 0 of an op selecting some of x's items when the selection is not known yet: the
 * items are elements of flattened x (no `axis`: 1-D) or slices along `axis` (that dim unknown). */
static lp_status infer_selected_slices(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    const lp_attr *a = lp_node_attr(c->node, "axis");
    c->out[0].dtype = x->dtype;
    if (!a) {
        c->out[0].shape.ndim = 1;
        c->out[0].shape.d[0] = LP_DIM_UNKNOWN;
    } else if (x->shape.ndim >= 0) {
        int axis;
        LP_TRY(lp_op_axis(c->node, a->i, x->shape.ndim, &axis));
        c->out[0].shape = x->shape;
        c->out[0].shape.d[axis] = LP_DIM_UNKNOWN;
    } else {
        c->out[0].shape.ndim = -1;
    }
    return LP_OK;
}

/* Element i of x is non-zero (NaN is). */
static bool nonzero_at(const lp_tensor *x, int64_t i)
{
    if (lp_ew_is_float(x->dtype))
        return lp_dtype_traits_of(x->dtype)->get(x->data, i) != 0;
    return lp_ew_geti(x, i) != 0;
}

/* ---- NonZero: x (any shape) -> int64 (rank, count), the coordinates in C order ---- */

static lp_status select_nonzero(const lp_node *n, const lp_tensor *x, lp_tensor **out)
{
    if (!lp_dtype_valid(x->dtype))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported", lp_dtype_traits_of(x->dtype)->name);
    int64_t numel = lp_tensor_numel(x), count = 0, total;
    for (int64_t i = 0; i < numel; i++)
        count += nonzero_at(x, i);
    LP_TRY(lp_op_check_count(n, x->ndim, count, "NonZero output", &total));
    int64_t dims[2] = { x->ndim, count };
    LP_TRY(lp_tensor_new(LP_I64, 2, dims, out));
    int64_t *y = (*out)->data, j = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (!nonzero_at(x, i))
            continue;
        for (int64_t r = i, k = x->ndim - 1; k >= 0; k--) {
            y[k * count + j] = r % x->dims[k];
            r /= x->dims[k];
        }
        j++;
    }
    return LP_OK;
}

static lp_status infer_NonZero(lp_infer_ctx *c)
{
    LP_TRY(lp_ew_check_dtype(c->node, c->in[0]->dtype, false, "input 0"));
    if (all_values_known(c)) {
        lp_tensor *t[MAX_OUT] = { 0 };
        LP_TRY(select_nonzero(c->node, c->in[0]->value, &t[0]));
        give_outputs(c, t);
        return LP_OK;
    }
    c->out[0].dtype = LP_I64;
    c->out[0].shape.ndim = 2;
    c->out[0].shape.d[0] = c->in[0]->shape.ndim >= 0 ? c->in[0]->shape.ndim : LP_DIM_UNKNOWN;
    c->out[0].shape.d[1] = LP_DIM_UNKNOWN;
    return LP_OK;
}

static lp_status run_NonZero(const lp_run_ctx *c)
{
    lp_tensor *t[MAX_OUT] = { 0 };
    LP_TRY(select_nonzero(c->node, c->in[0], &t[0]));
    return copy_outputs(c, t);
}

const lp_op_def lp_opdef_NonZero = { .name = "NonZero", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                     .infer = infer_NonZero, .run = run_NonZero };

/* ---- Compress: the slices of x along `axis` (flattened x without it) where cond is true ---- */

static lp_status select_compress(const lp_node *n, const lp_tensor *x, const lp_tensor *cond, lp_tensor **out)
{
    const lp_attr *a = lp_node_attr(n, "axis");
    int axis = -1;
    if (a)
        LP_TRY(lp_op_axis(n, a->i, x->ndim, &axis));
    if (cond->dtype != LP_BOOL || cond->ndim != 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "the condition must be a 1-D bool tensor");
    int64_t len = axis < 0 ? lp_tensor_numel(x) : x->dims[axis];
    int64_t outer = axis < 0 ? 1 : lp_numel(axis, x->dims);
    int64_t inner = axis < 0 ? 1 : lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    int64_t nc = cond->dims[0] < len ? cond->dims[0] : len, count = 0;
    if (cond->dims[0] > len)
        return lp_node_error(n, LOWP_ERR_SHAPE, "the condition has %lld values for a dim of %lld",
                             (long long)cond->dims[0], (long long)len);
    const uint8_t *cs = cond->data;
    for (int64_t i = 0; i < nc; i++)
        count += cs[i] != 0;
    int64_t dims[LP_MAX_DIMS];
    int nd = 1;
    dims[0] = count;
    if (axis >= 0) {
        nd = x->ndim;
        memcpy(dims, x->dims, (size_t)nd * sizeof *dims);
        dims[axis] = count;
    }
    size_t es = esize(x);
    if (!es)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported", lp_dtype_traits_of(x->dtype)->name);
    LP_TRY(lp_tensor_new(x->dtype, nd, dims, out));
    char *dst = (*out)->data;
    size_t block = (size_t)inner * es;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < nc; i++)
            if (cs[i]) {
                memcpy(dst, (const char *)x->data + (size_t)(o * len + i) * block, block);
                dst += block;
            }
    return LP_OK;
}

static lp_status infer_Compress(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    if (c->in[1]->dtype != LOWP_UNDEFINED && c->in[1]->dtype != LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "the condition must be bool");
    if (all_values_known(c)) {
        lp_tensor *t[MAX_OUT] = { 0 };
        LP_TRY(select_compress(c->node, x->value, c->in[1]->value, &t[0]));
        give_outputs(c, t);
        return LP_OK;
    }
    return infer_selected_slices(c);
}

static lp_status run_Compress(const lp_run_ctx *c)
{
    lp_tensor *t[MAX_OUT] = { 0 };
    LP_TRY(select_compress(c->node, c->in[0], c->in[1], &t[0]));
    return copy_outputs(c, t);
}

const lp_op_def lp_opdef_Compress = { .name = "Compress", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                      .infer = infer_Compress, .run = run_Compress };

/* ---- Unique: the distinct elements (or slices along `axis`) of x ---- */

/* x seen as (outer, n, inner): item k is the slice x[:, k, :]. */
typedef struct slices {
    const lp_tensor *x;
    int64_t outer, n, inner;
    bool is_float;
} slices;

/* Compares items a and b element by element (floats as doubles, NaN after everything and
 * equal to NaN; integers exactly). */
static int slice_cmp(const void *ctx, int64_t a, int64_t b)
{
    const slices *s = ctx;
    const lp_dtype_traits *t = lp_dtype_traits_of(s->x->dtype);
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            int64_t pa = (o * s->n + a) * s->inner + i, pb = (o * s->n + b) * s->inner + i;
            if (s->is_float) {
                double u = t->get(s->x->data, pa), v = t->get(s->x->data, pb);
                if (isnan(u) || isnan(v)) {
                    if (isnan(u) != isnan(v))
                        return isnan(u) ? 1 : -1;
                } else if (u != v) {
                    return u < v ? -1 : 1;
                }
            } else {
                int64_t u = lp_ew_geti(s->x, pa), v = lp_ew_geti(s->x, pb);
                if (u != v)
                    return lp_ew_int_less(s->x->dtype, u, v) ? -1 : 1;
            }
        }
    return 0;
}

static int by_value(const void *ctx, int64_t a, int64_t b)
{
    const int64_t *v = ctx;
    return v[a] < v[b] ? -1 : v[a] > v[b];
}

/* Outputs: Y (the unique items), indices (first occurrence of each), inverse_indices (the
 * item of Y each input item equals), counts. sorted=1 orders Y ascending, else by first
 * occurrence. */
static lp_status select_unique(const lp_node *n, const lp_tensor *x, lp_tensor **out)
{
    const lp_attr *a = lp_node_attr(n, "axis");
    bool sorted = lp_attr_int(n, "sorted", 1) != 0;
    slices s = { .x = x, .outer = 1, .n = lp_tensor_numel(x), .inner = 1, .is_float = lp_ew_is_float(x->dtype) };
    int axis = -1;
    if (a) {
        LP_TRY(lp_op_axis(n, a->i, x->ndim, &axis));
        s.outer = lp_numel(axis, x->dims);
        s.n = x->dims[axis];
        s.inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    }
    size_t es = esize(x);
    if (!es)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported", lp_dtype_traits_of(x->dtype)->name);
    int64_t N = s.n, *order = malloc((size_t)(2 * N + 1) * sizeof *order), *group = order + N;
    int64_t *first = NULL, *cnt = NULL;
    lp_status st = LP_OK;
    if (!order)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld items", (long long)N);
    for (int64_t i = 0; i < N; i++)
        order[i] = i;
    if ((st = lp_sort_indices(order, N, slice_cmp, &s)) != LP_OK)
        goto done;
    /* groups of equal items in sorted order; the sort is stable, so a group's first index is
     * its first occurrence */
    int64_t G = 0;
    first = malloc((size_t)(N + 1) * sizeof *first);
    cnt = calloc((size_t)(N + 1), sizeof *cnt);
    if (!first || !cnt) {
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld items", (long long)N);
        goto done;
    }
    for (int64_t r = 0; r < N; r++) {
        if (r == 0 || slice_cmp(&s, order[r - 1], order[r]) != 0)
            first[G++] = order[r];
        group[order[r]] = G - 1;
        cnt[G - 1]++;
    }
    /* rank[g]: position of group g in Y */
    int64_t *rank = order, *pos = malloc((size_t)(G + 1) * sizeof *pos);
    if (!pos) {
        st = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld items", (long long)G);
        goto done;
    }
    for (int64_t g = 0; g < G; g++)
        pos[g] = g;
    if (!sorted && (st = lp_sort_indices(pos, G, by_value, first)) != LP_OK) {
        free(pos);
        goto done;
    }
    for (int64_t k = 0; k < G; k++)
        rank[pos[k]] = k;
    int64_t ydims[LP_MAX_DIMS], gd[1] = { G }, nd[1] = { N };
    int ynd = 1;
    ydims[0] = G;
    if (axis >= 0) {
        ynd = x->ndim;
        memcpy(ydims, x->dims, (size_t)ynd * sizeof *ydims);
        ydims[axis] = G;
    }
    if ((st = lp_tensor_new(x->dtype, ynd, ydims, &out[0])) == LP_OK &&
        (st = lp_tensor_new(LP_I64, 1, gd, &out[1])) == LP_OK &&
        (st = lp_tensor_new(LP_I64, 1, nd, &out[2])) == LP_OK &&
        (st = lp_tensor_new(LP_I64, 1, gd, &out[3])) == LP_OK) {
        int64_t *idx = out[1]->data, *inv = out[2]->data, *cn = out[3]->data;
        size_t block = (size_t)s.inner * es;
        for (int64_t k = 0; k < G; k++) {
            int64_t g = pos[k];
            idx[k] = first[g];
            cn[k] = cnt[g];
            for (int64_t o = 0; o < s.outer; o++)
                memcpy((char *)out[0]->data + (size_t)(o * G + k) * block,
                       (const char *)x->data + (size_t)(o * N + first[g]) * block, block);
        }
        for (int64_t i = 0; i < N; i++)
            inv[i] = rank[group[i]];
    }
    free(pos);
done:
    free(order);
    free(first);
    free(cnt);
    return st;
}

static lp_status infer_Unique(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, false, "input 0"));
    if (all_values_known(c)) {
        lp_tensor *t[MAX_OUT] = { 0 };
        lp_status st = select_unique(c->node, x->value, t);
        if (st == LP_OK)
            give_outputs(c, t);
        for (int k = 0; k < MAX_OUT; k++)
            lp_tensor_free(t[k]);
        return st;
    }
    LP_TRY(infer_selected_slices(c));
    for (int k = 1; k < c->n_out; k++) {
        c->out[k].dtype = LP_I64;
        c->out[k].shape.ndim = 1;
        c->out[k].shape.d[0] = LP_DIM_UNKNOWN;
    }
    return LP_OK;
}

static lp_status run_Unique(const lp_run_ctx *c)
{
    lp_tensor *t[MAX_OUT] = { 0 };
    lp_status st = select_unique(c->node, c->in[0], t);
    if (st != LP_OK) {
        for (int k = 0; k < MAX_OUT; k++)
            lp_tensor_free(t[k]);
        return st;
    }
    return copy_outputs(c, t);
}

const lp_op_def lp_opdef_Unique = { .name = "Unique", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 4,
                                    .infer = infer_Unique, .run = run_Unique };

/* ---- TopK: the k largest (or smallest) items along `axis`, and their indices ---- */

/* k from input 1 (opset >= 10) or the attribute k; -1 in *k when not known. */
static lp_status topk_k(const lp_node *n, int64_t opset, const lp_tensor *kt, int64_t *k)
{
    *k = -1;
    if (opset < 10) {
        *k = lp_attr_int(n, "k", -1);
    } else if (kt) {
        if (lp_tensor_numel(kt) != 1 || kt->dtype != LP_I64)
            return lp_node_error(n, LOWP_ERR_SHAPE, "K must be one int64 value");
        *k = lp_tensor_get_int(kt, 0);
        if (*k < 0)
            return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "K is %lld, must be >= 0", (long long)*k);
    }
    return LP_OK;
}

static lp_status infer_TopK(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    LP_TRY(lp_ew_check_dtype(c->node, x->dtype, false, "input 0"));
    int64_t k;
    LP_TRY(topk_k(c->node, c->opset, c->n_in > 1 && c->in[1] ? c->in[1]->value : NULL, &k));
    for (int o = 0; o < c->n_out; o++) {
        c->out[o].dtype = o == 0 ? x->dtype : LP_I64;
        c->out[o].shape = x->shape;
    }
    if (x->shape.ndim < 0)
        return LP_OK;
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", -1), x->shape.ndim, &axis));
    int64_t d = x->shape.d[axis], total;
    if (k >= 0 && lp_dim_known(d) && k > d)
        return lp_node_error(c->node, LOWP_ERR_INVALID_ARGUMENT, "K = %lld is larger than axis %d (%lld)",
                             (long long)k, axis, (long long)d);
    if (k >= 0)
        LP_TRY(lp_op_check_count(c->node, k, 1, "TopK output", &total));
    for (int o = 0; o < c->n_out; o++)
        c->out[o].shape.d[axis] = k >= 0 ? k : LP_DIM_UNKNOWN;
    return LP_OK;
}

typedef struct topk_row {
    const double *v;
    bool largest;
} topk_row;

/* Larger (or smaller) first; equal values keep index order (the sort is stable). NaN sorts as
 * the largest, like NumPy. */
static int topk_cmp(const void *ctx, int64_t a, int64_t b)
{
    const topk_row *r = ctx;
    double u = r->v[a], w = r->v[b];
    if (isnan(u) || isnan(w)) {
        if (isnan(u) == isnan(w))
            return 0;
        return (isnan(u) == r->largest) ? -1 : 1;
    }
    if (u == w)
        return 0;
    return (u > w) == r->largest ? -1 : 1;
}

/* x: (outer, n, inner) around the axis; values, indices: (outer, k, inner). */
static lp_status run_TopK(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *yv = c->out[0], *yi = c->n_out > 1 ? c->out[1] : NULL;
    int axis;
    int64_t k;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", -1), x->ndim, &axis));
    LP_TRY(topk_k(c->node, c->opset, c->n_in > 1 ? c->in[1] : NULL, &k));
    int64_t outer = lp_numel(axis, x->dims), n = x->dims[axis];
    int64_t inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    if (k < 0 || k > n || yv->dtype != x->dtype || lp_tensor_numel(yv) != outer * k * inner ||
        (yi && (yi->dtype != LP_I64 || lp_tensor_numel(yi) != outer * k * inner)))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "K = %lld does not fit axis %d (%lld) or the outputs",
                             (long long)k, axis, (long long)n);
    topk_row row = { .largest = lp_attr_int(c->node, "largest", 1) != 0 };
    double *v = malloc((size_t)(n + 1) * sizeof *v);
    int64_t *idx = malloc((size_t)(n + 1) * sizeof *idx);
    lp_status st = LP_OK;
    if (!v || !idx)
        st = lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "out of memory for a row of %lld", (long long)n);
    row.v = v;
    bool is_float = lp_ew_is_float(x->dtype);
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    size_t es = esize(x);
    for (int64_t o = 0; o < outer && st == LP_OK; o++) {
        for (int64_t i = 0; i < inner && st == LP_OK; i++) {
            int64_t base = o * n * inner + i, obase = o * k * inner + i;
            for (int64_t j = 0; j < n; j++) {
                int64_t at = base + j * inner;
                v[j] = is_float ? t->get(x->data, at) : lp_ew_int_to_double(x->dtype, lp_ew_geti(x, at));
                idx[j] = j;
            }
            if ((st = lp_sort_indices(idx, n, topk_cmp, &row)) != LP_OK)
                break;
            for (int64_t j = 0; j < k; j++) {
                memcpy((char *)yv->data + (size_t)(obase + j * inner) * es,
                       (const char *)x->data + (size_t)(base + idx[j] * inner) * es, es);
                if (yi)
                    ((int64_t *)yi->data)[obase + j * inner] = idx[j];
            }
        }
    }
    free(v);
    free(idx);
    return st;
}

const lp_op_def lp_opdef_TopK = { .name = "TopK", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 2,
                                  .infer = infer_TopK, .run = run_TopK };
