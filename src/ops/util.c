/* util.c — helpers shared by op implementations: axes, broadcasting, constant inputs. */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

#include "ops/op.h"

lp_status lp_op_axis(const lp_node *n, int64_t axis, int rank, int *axis_out)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return lp_node_error(n, LOWP_ERR_SHAPE, "axis %lld is out of range for rank %d",
                             (long long)axis, rank);
    *axis_out = (int)a;
    return LP_OK;
}

lp_status lp_broadcast_shapes(const lp_node *node, int n, const lp_shape *const *in, lp_shape *out)
{
    int nd = 0;
    for (int i = 0; i < n; i++) {
        if (in[i]->ndim < 0) {
            out->ndim = -1;
            return LP_OK;
        }
        if (in[i]->ndim > nd)
            nd = in[i]->ndim;
    }
    out->ndim = nd;
    for (int k = 0; k < nd; k++) {
        int64_t d = 1;
        for (int i = 0; i < n; i++) {
            int off = nd - in[i]->ndim;
            if (k < off)
                continue;
            int64_t e = in[i]->d[k - off];
            if (e == 1)
                continue;
            if (d == 1 || d == e)
                d = e;
            else if (lp_dim_known(d) && lp_dim_known(e))
                return lp_node_error(node, LOWP_ERR_SHAPE,
                                     "cannot broadcast dim %d: %lld vs %lld", k, (long long)d, (long long)e);
            else if (!lp_dim_known(d) && lp_dim_known(e))
                d = e; /* an unknown dim must be 1 or equal to the known one; take the known */
            else if (lp_dim_known(d) && !lp_dim_known(e))
                ; /* keep the known */
            else
                d = LP_DIM_UNKNOWN; /* two different unknowns */
        }
        out->d[k] = d;
    }
    return LP_OK;
}

void lp_broadcast_strides(int in_nd, const int64_t *in, int out_nd, const int64_t *out,
                          int64_t *strides)
{
    int64_t s = 1;
    for (int k = out_nd - 1; k >= 0; k--) {
        int j = k - (out_nd - in_nd);
        if (j < 0) {
            strides[k] = 0;
            continue;
        }
        strides[k] = (in[j] == 1 && out[k] != 1) ? 0 : s;
        s *= in[j];
    }
}

lp_status lp_vinfo_ints(const lp_node *node, const lp_vinfo *v, int64_t *vals, int max, int *n_out)
{
    *n_out = -1;
    if (!v || !v->value)
        return LP_OK;
    const lp_tensor *t = v->value;
    int64_t n = lp_tensor_numel(t);
    if (n > max)
        return lp_node_error(node, LOWP_ERR_UNSUPPORTED, "constant input has %lld values, at most %d supported",
                             (long long)n, max);
    if (lp_dtype_traits_of(t->dtype)->is_float)
        return lp_node_error(node, LOWP_ERR_FORMAT, "expected an integer tensor, got %s",
                             lp_dtype_traits_of(t->dtype)->name);
    for (int64_t i = 0; i < n; i++)
        vals[i] = lp_tensor_get_int(t, i);
    *n_out = (int)n;
    return LP_OK;
}

const lp_shape *lp_in_shape(const lp_infer_ctx *c, int i)
{
    static const lp_shape unknown = { .ndim = -1 };
    return i < c->n_in && c->in[i] ? &c->in[i]->shape : &unknown;
}

lp_dtype lp_in_dtype(const lp_infer_ctx *c, int i)
{
    return i < c->n_in && c->in[i] ? c->in[i]->dtype : LOWP_UNDEFINED;
}

lp_status lp_need_inputs(const lp_run_ctx *c, int count)
{
    for (int i = 0; i < count; i++)
        if (i >= c->n_in || !c->in[i])
            return lp_node_error(c->node, LOWP_ERR_FORMAT, "required input %d is missing", i);
    return LP_OK;
}

void lp_shape_of(const lp_tensor *t, lp_shape *s)
{
    s->ndim = t->ndim;
    memcpy(s->d, t->dims, sizeof s->d);
}

void lp_vinfo_set(lp_vinfo *v, lp_dtype dtype, int ndim, const int64_t *dims)
{
    v->dtype = dtype;
    v->shape.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        v->shape.d[i] = dims[i];
}

lp_status lp_op_check_count(const lp_node *n, int64_t a, int64_t b, const char *what, int64_t *out)
{
    if (a < 0 || b < 0 || (a && b > LP_MAX_VALUE_SIZED_ELEMS / a))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%s: %lld x %lld elements is negative or more than the %lld "
                             "lowp allows (docs/limits.md)", what, (long long)a, (long long)b,
                             (long long)LP_MAX_VALUE_SIZED_ELEMS);
    *out = a * b;
    return LP_OK;
}

/* Bottom-up merge sort through a scratch array: stable, O(n log n), no recursion. */
lp_status lp_sort_indices(int64_t *idx, int64_t n, int (*cmp)(const void *ctx, int64_t a, int64_t b),
                          const void *ctx)
{
    if (n < 2)
        return LP_OK;
    int64_t *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory sorting %lld items", (long long)n);
    int64_t *src = idx, *dst = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = cmp(ctx, src[j], src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        memcpy(idx, src, (size_t)n * sizeof *idx);
    free(tmp);
    return LP_OK;
}

void lp_vinfo_give(lp_vinfo *v, lp_tensor *t)
{
    if (!t)
        return;
    lp_vinfo_set(v, t->dtype, t->ndim, t->dims);
    v->value = t;
}

lp_status lp_op_copy_computed(const lp_run_ctx *c, int k, lp_tensor *t)
{
    lp_tensor *o = k < c->n_out ? c->out[k] : NULL;
    lp_status st = LP_OK;
    if (o && t) {
        if (o->dtype != t->dtype || o->nbytes != t->nbytes)
            st = lp_node_error(c->node, LOWP_ERR_INTERNAL, "output %d was sized for another result", k);
        else if (o->nbytes)
            memcpy(o->data, t->data, o->nbytes);
    }
    lp_tensor_free(t);
    return st;
}
