/* shape_copy.c — ops that move elements without arithmetic: Transpose, Concat, Split, Slice,
 * Gather, Expand, Tile, Pad. Kernels copy elem-size bytes, so every dtype works. */
#include <string.h>

#include "ops/shape_copy.h"

/* ---- shared pieces ---- */

static size_t esize(const lp_tensor *t) { return lp_dtype_traits_of(t->dtype)->size; }

/* C-order element strides of dims[0..n). */
static void strides_of(int n, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int k = n - 1; k >= 0; k--) {
        st[k] = s;
        s *= dims[k];
    }
}

/* y (dims[0..n), dense) = x[off + sum_k i_k * st[k]]: the kernel of Transpose, Slice and
 * Expand, which differ only in the source strides (permuted, stepped, zero). */
static void copy_strided(char *y, const char *x, size_t es, int n, const int64_t *dims,
                         int64_t off, const int64_t *st)
{
    int64_t total = lp_numel(n, dims);
    if (total == 0)
        return;
    int64_t inner = n > 0 ? dims[n - 1] : 1, inner_st = n > 0 ? st[n - 1] : 1;
    int64_t idx[LP_MAX_DIMS] = { 0 };
    for (int64_t row = 0; row < total / inner; row++) {
        int64_t src = off;
        for (int k = 0; k < n - 1; k++)
            src += idx[k] * st[k];
        if (inner_st == 1) {
            memcpy(y, x + src * es, (size_t)inner * es);
        } else {
            for (int64_t i = 0; i < inner; i++)
                memcpy(y + i * es, x + (src + i * inner_st) * es, es);
        }
        y += inner * es;
        lp_index_next(n - 1, dims, idx, NULL, NULL);
    }
}

/* Integer values of a run-time input (NULL: *count = -1). */
static lp_status tensor_ints(const lp_node *n, const lp_tensor *t, int64_t *vals, int max, int *count)
{
    lp_vinfo v = { .value = (lp_tensor *)t };
    return lp_vinfo_ints(n, &v, vals, max, count);
}

static void shape_unknown_dims(lp_shape *s, int ndim)
{
    s->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        s->d[i] = LP_DIM_UNKNOWN;
}

/* The length of a 1-D input when its shape says so, else -1. */
static int vinfo_len(const lp_vinfo *v)
{
    if (!v || v->shape.ndim != 1 || !lp_dim_known(v->shape.d[0]) || v->shape.d[0] > INT32_MAX)
        return -1;
    return (int)v->shape.d[0];
}

/* Two descriptions of the same dim: known beats symbolic beats unknown; a clash of known
 * values fails. */
static lp_status merge_dim(const lp_node *n, int axis, int64_t *have, int64_t d)
{
    if (lp_dim_known(d) && lp_dim_known(*have) && d != *have)
        return lp_node_error(n, LOWP_ERR_SHAPE, "inputs disagree on dim %d: %lld vs %lld", axis,
                             (long long)*have, (long long)d);
    if (lp_dim_known(d) || *have == LP_DIM_UNKNOWN)
        *have = d;
    return LP_OK;
}

/* ---- Transpose: y.dims[k] = x.dims[perm[k]]; perm defaults to reversing the axes ---- */

static lp_status transpose_perm(const lp_node *n, int rank, int *perm)
{
    const int64_t *p;
    int k = lp_attr_ints(n, "perm", &p);
    if (k < 0) {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
        return LP_OK;
    }
    if (k != rank)
        return lp_node_error(n, LOWP_ERR_SHAPE, "perm has %d entries for rank %d", k, rank);
    bool seen[LP_MAX_DIMS] = { false };
    for (int i = 0; i < k; i++) {
        if (p[i] < 0 || p[i] >= rank || seen[p[i]])
            return lp_node_error(n, LOWP_ERR_SHAPE, "perm is not a permutation of 0..%d", rank - 1);
        seen[p[i]] = true;
        perm[i] = (int)p[i];
    }
    return LP_OK;
}

static lp_status transpose_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    y->dtype = x->dtype;
    int r = x->shape.ndim;
    if (r < 0) {
        const int64_t *p;
        int k = lp_attr_ints(c->node, "perm", &p);
        if (k >= 0 && k <= LP_MAX_DIMS)
            shape_unknown_dims(&y->shape, k);
        else
            y->shape.ndim = -1;
        return LP_OK;
    }
    int perm[LP_MAX_DIMS];
    LP_TRY(transpose_perm(c->node, r, perm));
    y->shape.ndim = r;
    for (int k = 0; k < r; k++)
        y->shape.d[k] = x->shape.d[perm[k]];
    return LP_OK;
}

static lp_status transpose_run(const lp_run_ctx *c)
{
    /* x: (d0..dr-1) -> y: (d[perm[0]]..d[perm[r-1]]) */
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int perm[LP_MAX_DIMS];
    LP_TRY(transpose_perm(c->node, x->ndim, perm));
    int64_t xst[LP_MAX_DIMS], st[LP_MAX_DIMS];
    strides_of(x->ndim, x->dims, xst);
    for (int k = 0; k < x->ndim; k++) {
        if (y->ndim != x->ndim || y->dims[k] != x->dims[perm[k]])
            return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dim %d does not match", k);
        st[k] = xst[perm[k]];
    }
    copy_strided(y->data, x->data, esize(x), x->ndim, y->dims, 0, st);
    return LP_OK;
}

const lp_op_def lp_opdef_Transpose = {
    .name = "Transpose", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = transpose_infer, .run = transpose_run,
};

/* ---- Concat: inputs of one rank, equal but for `axis`, joined along it ---- */

static lp_status concat_infer(lp_infer_ctx *c)
{
    lp_vinfo *y = &c->out[0];
    int r = -1;
    y->dtype = LOWP_UNDEFINED;
    for (int i = 0; i < c->n_in; i++) {
        const lp_vinfo *x = c->in[i];
        if (!x)
            return lp_node_error(c->node, LOWP_ERR_FORMAT, "input %d is missing", i);
        if (x->dtype != LOWP_UNDEFINED) {
            if (y->dtype != LOWP_UNDEFINED && y->dtype != x->dtype)
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "inputs differ in type");
            y->dtype = x->dtype;
        }
        if (x->shape.ndim >= 0) {
            if (r >= 0 && r != x->shape.ndim)
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "inputs have ranks %d and %d", r, x->shape.ndim);
            r = x->shape.ndim;
        }
    }
    if (r < 0) {
        y->shape.ndim = -1;
        return LP_OK;
    }
    if (!lp_node_attr(c->node, "axis"))
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "axis is required");
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), r, &axis));
    shape_unknown_dims(&y->shape, r);
    int64_t sum = 0;
    for (int i = 0; i < c->n_in; i++) {
        const lp_shape *s = &c->in[i]->shape;
        if (s->ndim < 0) {
            sum = LP_DIM_UNKNOWN;
            continue;
        }
        for (int k = 0; k < r; k++)
            if (k != axis)
                LP_TRY(merge_dim(c->node, k, &y->shape.d[k], s->d[k]));
        if (sum >= 0 && lp_dim_known(s->d[axis]))
            sum += s->d[axis];
        else if (c->n_in == 1)
            sum = s->d[axis]; /* a lone input keeps its symbol */
        else
            sum = LP_DIM_UNKNOWN;
    }
    y->shape.d[axis] = sum;
    return LP_OK;
}

static lp_status concat_run(const lp_run_ctx *c)
{
    /* x_i: (outer, a_i, inner) -> y: (outer, sum a_i, inner) */
    lp_tensor *y = c->out[0];
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), y->ndim, &axis));
    size_t es = esize(y);
    int64_t outer = lp_numel(axis, y->dims), inner = lp_numel(y->ndim - axis - 1, y->dims + axis + 1);
    int64_t sum = 0;
    for (int i = 0; i < c->n_in; i++) {
        const lp_tensor *x = c->in[i];
        if (x->ndim != y->ndim)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "inputs have ranks %d and %d", x->ndim, y->ndim);
        for (int k = 0; k < y->ndim; k++)
            if (k != axis && x->dims[k] != y->dims[k])
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "inputs disagree on dim %d", k);
        sum += x->dims[axis];
    }
    if (sum != y->dims[axis])
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dim %d does not match", axis);
    char *dst = y->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int i = 0; i < c->n_in; i++) {
            const lp_tensor *x = c->in[i];
            size_t block = (size_t)(x->dims[axis] * inner) * es;
            if (block)
                memcpy(dst, (const char *)x->data + o * block, block);
            dst += block;
        }
    }
    return LP_OK;
}

const lp_op_def lp_opdef_Concat = {
    .name = "Concat", .min_in = 1, .max_in = 1 << 16, .min_out = 1, .max_out = 1,
    .infer = concat_infer, .run = concat_run,
};

/* ---- Split: along `axis` into parts of the given lengths (attribute before opset 13, input
 * from 13), or into equal parts ---- */

#define SPLIT_MAX 1024

/* Part lengths: *n = number given, 0 when absent (equal split), -1 when given but unknown. */
static lp_status split_sizes(const lp_node *node, int64_t opset, const lp_vinfo *input,
                             const lp_tensor *run_input, int64_t *sizes, int *n)
{
    *n = 0;
    if (opset < 13) {
        const int64_t *a;
        int k = lp_attr_ints(node, "split", &a);
        if (k > SPLIT_MAX)
            return lp_node_error(node, LOWP_ERR_UNSUPPORTED, "more than %d parts", SPLIT_MAX);
        if (k > 0) {
            memcpy(sizes, a, (size_t)k * sizeof *a);
            *n = k;
        }
        return LP_OK;
    }
    if (run_input)
        return tensor_ints(node, run_input, sizes, SPLIT_MAX, n);
    if (input)
        return lp_vinfo_ints(node, input, sizes, SPLIT_MAX, n);
    return LP_OK;
}

/* Fills sizes[0..n_out) from the given lengths or an equal split of dim `d` (maybe unknown). */
static lp_status split_parts(const lp_node *node, int64_t d, int n_given, int n_out, int64_t *sizes)
{
    if (n_given < 0) {
        for (int i = 0; i < n_out; i++)
            sizes[i] = LP_DIM_UNKNOWN;
        return LP_OK;
    }
    if (n_given == 0) {
        if (lp_dim_known(d) && d % n_out != 0)
            return lp_node_error(node, LOWP_ERR_SHAPE, "dim %lld does not split into %d equal parts",
                                 (long long)d, n_out);
        for (int i = 0; i < n_out; i++)
            sizes[i] = lp_dim_known(d) ? d / n_out : n_out == 1 ? d : LP_DIM_UNKNOWN;
        return LP_OK;
    }
    if (n_given != n_out)
        return lp_node_error(node, LOWP_ERR_SHAPE, "%d split lengths for %d outputs", n_given, n_out);
    int64_t sum = 0;
    for (int i = 0; i < n_out; i++) {
        if (sizes[i] < 0)
            return lp_node_error(node, LOWP_ERR_SHAPE, "split length %lld is negative", (long long)sizes[i]);
        sum += sizes[i];
    }
    if (lp_dim_known(d) && sum != d)
        return lp_node_error(node, LOWP_ERR_SHAPE, "split lengths add up to %lld, dim is %lld",
                             (long long)sum, (long long)d);
    return LP_OK;
}

static lp_status split_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    if (c->n_out > SPLIT_MAX)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "more than %d outputs", SPLIT_MAX);
    int64_t sizes[SPLIT_MAX];
    int n;
    LP_TRY(split_sizes(c->node, c->opset, c->n_in > 1 ? c->in[1] : NULL, NULL, sizes, &n));
    for (int i = 0; i < c->n_out; i++) {
        c->out[i].dtype = x->dtype;
        c->out[i].shape = x->shape;
    }
    int r = x->shape.ndim;
    if (r < 0)
        return LP_OK;
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), r, &axis));
    LP_TRY(split_parts(c->node, x->shape.d[axis], n, c->n_out, sizes));
    for (int i = 0; i < c->n_out; i++)
        c->out[i].shape.d[axis] = sizes[i];
    return LP_OK;
}

static lp_status split_run(const lp_run_ctx *c)
{
    /* x: (outer, sum a_i, inner) -> y_i: (outer, a_i, inner) */
    const lp_tensor *x = c->in[0];
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), x->ndim, &axis));
    int64_t sizes[SPLIT_MAX];
    int n;
    if (c->n_out > SPLIT_MAX)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "more than %d outputs", SPLIT_MAX);
    LP_TRY(split_sizes(c->node, c->opset, NULL, c->n_in > 1 ? c->in[1] : NULL, sizes, &n));
    LP_TRY(split_parts(c->node, x->dims[axis], n, c->n_out, sizes));
    size_t es = esize(x);
    int64_t outer = lp_numel(axis, x->dims), inner = lp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    size_t row = (size_t)(x->dims[axis] * inner) * es;
    size_t start = 0;
    for (int i = 0; i < c->n_out; i++) {
        size_t block = (size_t)(sizes[i] * inner) * es;
        lp_tensor *y = c->out[i];
        if (y) {
            if (y->nbytes != (size_t)outer * block)
                return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output %d has the wrong size", i);
            for (int64_t o = 0; o < outer && block; o++)
                memcpy((char *)y->data + o * block, (const char *)x->data + o * row + start, block);
        }
        start += block;
    }
    return LP_OK;
}

const lp_op_def lp_opdef_Split = {
    .name = "Split", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = SPLIT_MAX,
    .infer = split_infer, .run = split_run,
};

/* ---- Slice: x[starts:ends:steps] along `axes` (attributes before opset 10, inputs from 10) ---- */

typedef struct slice_args {
    int n;                      /* number of sliced axes, when axes_known */
    bool axes_known;            /* which axes are sliced is known */
    bool known;                 /* everything is known */
    int64_t starts[LP_MAX_DIMS], ends[LP_MAX_DIMS], axes[LP_MAX_DIMS], steps[LP_MAX_DIMS];
} slice_args;

/* Reads the arguments from attributes, or from inputs given as vinfos (infer) or tensors (run). */
static lp_status slice_args_read(const lp_node *node, int64_t opset, int n_in,
                                 const lp_vinfo *const *vin, const lp_tensor *const *tin, slice_args *a)
{
    /* counts of starts, ends, axes, steps: -1 absent, -2 given with an unknown value */
    int cnt[4] = { -1, -1, -1, -1 };
    if (opset < 10) {
        const char *names[3] = { "starts", "ends", "axes" };
        int64_t *dst[3] = { a->starts, a->ends, a->axes };
        for (int i = 0; i < 3; i++) {
            const int64_t *v;
            cnt[i] = lp_attr_ints(node, names[i], &v);
            if (cnt[i] > LP_MAX_DIMS)
                return lp_node_error(node, LOWP_ERR_UNSUPPORTED, "more than %d axes", LP_MAX_DIMS);
            if (cnt[i] > 0)
                memcpy(dst[i], v, (size_t)cnt[i] * sizeof *v);
        }
    } else {
        int64_t *dst[4] = { a->starts, a->ends, a->axes, a->steps };
        for (int i = 0; i < 4 && i + 1 < n_in; i++) {
            if (vin && vin[i + 1])
                LP_TRY(lp_vinfo_ints(node, vin[i + 1], dst[i], LP_MAX_DIMS, &cnt[i]));
            else if (tin && tin[i + 1])
                LP_TRY(tensor_ints(node, tin[i + 1], dst[i], LP_MAX_DIMS, &cnt[i]));
            else
                continue;
            if (cnt[i] < 0)
                cnt[i] = -2;
        }
    }
    if (cnt[0] == -1 || cnt[1] == -1)
        return lp_node_error(node, LOWP_ERR_FORMAT, "starts and ends are required");
    a->known = cnt[0] >= 0 && cnt[1] >= 0 && cnt[2] != -2 && cnt[3] != -2;
    a->axes_known = cnt[2] >= 0 || (cnt[2] == -1 && cnt[0] >= 0);
    a->n = cnt[2] >= 0 ? cnt[2] : cnt[0];
    if (!a->axes_known)
        return LP_OK;
    for (int i = 0; i < 4; i++)
        if (cnt[i] >= 0 && cnt[i] != a->n)
            return lp_node_error(node, LOWP_ERR_SHAPE, "starts, ends, axes and steps differ in length");
    for (int i = 0; i < a->n; i++) {
        if (cnt[2] < 0)
            a->axes[i] = i;
        if (cnt[3] < 0)
            a->steps[i] = 1;
        if (a->known && a->steps[i] == 0)
            return lp_node_error(node, LOWP_ERR_SHAPE, "step %d is zero", i);
    }
    return LP_OK;
}

/* Clamps start/end as ONNX specifies and returns the length of the slice of a dim. */
static int64_t slice_clamp(int64_t dim, int64_t *start, int64_t end, int64_t step)
{
    int64_t s = *start, e = end;
    if (s < 0)
        s += dim;
    if (e < 0)
        e += dim;
    int64_t len;
    if (step > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
        len = e > s ? (e - s - 1) / step + 1 : 0;
    } else {
        s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
        e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
        len = dim > 0 && s > e ? (s - e - 1) / -(step < -dim ? -dim : step) + 1 : 0;
    }
    *start = s;
    return len;
}

/* Normalizes the axes against rank r: no repeats. */
static lp_status slice_axes(const lp_node *node, slice_args *a, int r)
{
    bool seen[LP_MAX_DIMS] = { false };
    for (int i = 0; i < a->n; i++) {
        int ax;
        LP_TRY(lp_op_axis(node, a->axes[i], r, &ax));
        if (seen[ax])
            return lp_node_error(node, LOWP_ERR_SHAPE, "axis %d is listed twice", ax);
        seen[ax] = true;
        a->axes[i] = ax;
    }
    return LP_OK;
}

static lp_status slice_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    slice_args a;
    LP_TRY(slice_args_read(c->node, c->opset, c->n_in, c->in, NULL, &a));
    y->dtype = x->dtype;
    y->shape = x->shape;
    int r = x->shape.ndim;
    if (r < 0)
        return LP_OK;
    if (!a.axes_known) { /* nothing known about which axes change */
        shape_unknown_dims(&y->shape, r);
        return LP_OK;
    }
    LP_TRY(slice_axes(c->node, &a, r));
    for (int i = 0; i < a.n; i++) {
        int ax = (int)a.axes[i];
        int64_t d = x->shape.d[ax];
        if (!a.known)
            y->shape.d[ax] = LP_DIM_UNKNOWN;
        else if (lp_dim_known(d))
            y->shape.d[ax] = slice_clamp(d, &a.starts[i], a.ends[i], a.steps[i]);
        else if (!(a.starts[i] == 0 && a.ends[i] >= INT32_MAX && a.steps[i] == 1))
            y->shape.d[ax] = LP_DIM_UNKNOWN; /* a full slice [0:] keeps even a symbol */
    }
    return LP_OK;
}

lp_status lp_slice_window(const lp_run_ctx *c, int64_t *start, int64_t *step, int64_t *len)
{
    const lp_tensor *x = c->in[0];
    slice_args a;
    LP_TRY(slice_args_read(c->node, c->opset, c->n_in, NULL, c->in, &a));
    if (!a.known)
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "arguments are missing");
    LP_TRY(slice_axes(c->node, &a, x->ndim));
    for (int k = 0; k < x->ndim; k++) {
        start[k] = 0;
        step[k] = 1;
        len[k] = x->dims[k];
    }
    for (int i = 0; i < a.n; i++) {
        int ax = (int)a.axes[i];
        len[ax] = slice_clamp(x->dims[ax], &a.starts[i], a.ends[i], a.steps[i]);
        start[ax] = len[ax] > 0 ? a.starts[i] : 0;
        step[ax] = a.steps[i];
    }
    return LP_OK;
}

static lp_status slice_run(const lp_run_ctx *c)
{
    /* x: (d0..dr-1) -> y: (len0..lenr-1), y[i] = x[start + i * step] per axis */
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t xst[LP_MAX_DIMS], st[LP_MAX_DIMS], len[LP_MAX_DIMS], start[LP_MAX_DIMS], step[LP_MAX_DIMS];
    LP_TRY(lp_slice_window(c, start, step, len));
    strides_of(x->ndim, x->dims, xst);
    int64_t off = 0;
    for (int k = 0; k < x->ndim; k++) {
        st[k] = xst[k] * step[k];
        off += start[k] * xst[k];
    }
    for (int k = 0; k < x->ndim; k++)
        if (y->ndim != x->ndim || len[k] != y->dims[k])
            return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dim %d does not match", k);
    copy_strided(y->data, x->data, esize(x), x->ndim, y->dims, off, st);
    return LP_OK;
}

const lp_op_def lp_opdef_Slice = {
    .name = "Slice", .min_in = 1, .max_in = 5, .min_out = 1, .max_out = 1,
    .infer = slice_infer, .run = slice_run,
};

/* ---- Gather: y = x indexed along `axis` by `indices` (negative counts from the end) ---- */

static lp_status gather_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *ind = c->in[1];
    lp_vinfo *y = &c->out[0];
    y->dtype = x->dtype;
    if (ind->dtype != LOWP_UNDEFINED && ind->dtype != LP_I32 && ind->dtype != LP_I64)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "indices must be int32 or int64");
    int r = x->shape.ndim, q = ind->shape.ndim;
    if (r < 0 || q < 0) {
        y->shape.ndim = -1;
        return LP_OK;
    }
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), r, &axis));
    if (q + r - 1 > LP_MAX_DIMS)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "output rank %d exceeds %d", q + r - 1, LP_MAX_DIMS);
    /* y: x.dims[:axis] + indices.dims + x.dims[axis+1:] */
    int k = 0;
    for (int i = 0; i < axis; i++)
        y->shape.d[k++] = x->shape.d[i];
    for (int i = 0; i < q; i++)
        y->shape.d[k++] = ind->shape.d[i];
    for (int i = axis + 1; i < r; i++)
        y->shape.d[k++] = x->shape.d[i];
    y->shape.ndim = k;
    return LP_OK;
}

static lp_status gather_run(const lp_run_ctx *c)
{
    /* x: (outer, d, inner), indices: (n) flattened -> y: (outer, n, inner) */
    const lp_tensor *x = c->in[0], *ind = c->in[1];
    lp_tensor *y = c->out[0];
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", 0), x->ndim, &axis));
    if (ind->dtype != LP_I32 && ind->dtype != LP_I64)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "indices must be int32 or int64");
    int64_t d = x->dims[axis], n = lp_tensor_numel(ind);
    int64_t outer = lp_numel(axis, x->dims);
    size_t block = (size_t)lp_numel(x->ndim - axis - 1, x->dims + axis + 1) * esize(x);
    if (y->nbytes != (size_t)(outer * n) * block)
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output has the wrong size");
    for (int64_t j = 0; j < n; j++) {
        int64_t i = lp_tensor_get_int(ind, j);
        if (i < -d || i >= d)
            return lp_node_error(c->node, LOWP_ERR_INVALID_ARGUMENT,
                                 "index %lld is out of range for dim %lld", (long long)i, (long long)d);
    }
    char *dst = y->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < n; j++) {
            int64_t i = lp_tensor_get_int(ind, j);
            if (i < 0)
                i += d;
            memcpy(dst, (const char *)x->data + (o * d + i) * block, block);
            dst += block;
        }
    }
    return LP_OK;
}

const lp_op_def lp_opdef_Gather = {
    .name = "Gather", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = gather_infer, .run = gather_run,
};

/* ---- Expand: x broadcast (both ways) with the dims in `shape` ---- */

static lp_status expand_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *s = c->in[1];
    lp_vinfo *y = &c->out[0];
    y->dtype = x->dtype;
    lp_shape target;
    int n;
    LP_TRY(lp_vinfo_ints(c->node, s, target.d, LP_MAX_DIMS, &n));
    if (n < 0) {
        n = vinfo_len(s);
        if (n < 0 || n > LP_MAX_DIMS) {
            y->shape.ndim = -1;
            return LP_OK;
        }
        shape_unknown_dims(&target, n);
    } else {
        for (int i = 0; i < n; i++)
            if (target.d[i] < 0)
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "shape[%d] = %lld is negative", i,
                                     (long long)target.d[i]);
    }
    target.ndim = n;
    const lp_shape *both[2] = { &x->shape, &target };
    return lp_broadcast_shapes(c->node, 2, both, &y->shape);
}

static lp_status expand_run(const lp_run_ctx *c)
{
    /* x: (..., 1 or d, ...) -> y: (..., d, ...); broadcast dims read with stride 0 */
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    if (y->ndim < x->ndim)
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output rank is below the input's");
    for (int k = 0; k < x->ndim; k++) {
        int64_t xd = x->dims[k], yd = y->dims[y->ndim - x->ndim + k];
        if (xd != 1 && xd != yd)
            return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dim does not match");
    }
    int64_t st[LP_MAX_DIMS];
    lp_broadcast_strides(x->ndim, x->dims, y->ndim, y->dims, st);
    copy_strided(y->data, x->data, esize(x), y->ndim, y->dims, 0, st);
    return LP_OK;
}

const lp_op_def lp_opdef_Expand = {
    .name = "Expand", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = expand_infer, .run = expand_run,
};

/* ---- Tile: y.dims[k] = x.dims[k] * repeats[k] ---- */

static lp_status tile_repeats(const lp_node *n, const int64_t *rep, int count, int rank)
{
    if (count != rank)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%d repeats for rank %d", count, rank);
    for (int k = 0; k < count; k++)
        if (rep[k] < 0)
            return lp_node_error(n, LOWP_ERR_SHAPE, "repeats[%d] = %lld is negative", k, (long long)rep[k]);
    return LP_OK;
}

static lp_status tile_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    y->dtype = x->dtype;
    y->shape = x->shape;
    int r = x->shape.ndim;
    if (r < 0)
        return LP_OK;
    int64_t rep[LP_MAX_DIMS];
    int n;
    LP_TRY(lp_vinfo_ints(c->node, c->in[1], rep, LP_MAX_DIMS, &n));
    if (n >= 0)
        LP_TRY(tile_repeats(c->node, rep, n, r));
    for (int k = 0; k < r; k++) {
        int64_t d = x->shape.d[k];
        if (n < 0)
            y->shape.d[k] = d == 0 ? 0 : LP_DIM_UNKNOWN;
        else if (rep[k] == 0 || d == 0)
            y->shape.d[k] = 0;
        else if (lp_dim_known(d))
            y->shape.d[k] = d * rep[k];
        else if (rep[k] != 1)
            y->shape.d[k] = LP_DIM_UNKNOWN; /* a symbol survives only one repeat */
    }
    return LP_OK;
}

static lp_status tile_run(const lp_run_ctx *c)
{
    /* x: (d0..dr-1) -> y: (d0*rep0..), y[i] = x[i mod d]; rows along the last axis are
     * copied whole, `rep` times */
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t rep[LP_MAX_DIMS];
    int n;
    LP_TRY(tensor_ints(c->node, c->in[1], rep, LP_MAX_DIMS, &n));
    LP_TRY(tile_repeats(c->node, rep, n, x->ndim));
    for (int k = 0; k < x->ndim; k++)
        if (y->ndim != x->ndim || y->dims[k] != x->dims[k] * rep[k])
            return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dim %d does not match", k);
    if (lp_tensor_numel(y) == 0)
        return LP_OK;
    int r = x->ndim;
    size_t es = esize(x);
    int64_t xst[LP_MAX_DIMS], idx[LP_MAX_DIMS] = { 0 };
    strides_of(r, x->dims, xst);
    int64_t inner = r > 0 ? x->dims[r - 1] : 1, times = r > 0 ? rep[r - 1] : 1;
    size_t row = (size_t)inner * es;
    int64_t rows = lp_tensor_numel(y) / (inner * times);
    char *dst = y->data;
    for (int64_t j = 0; j < rows; j++) {
        int64_t src = 0;
        for (int k = 0; k < r - 1; k++)
            src += (idx[k] % x->dims[k]) * xst[k];
        for (int64_t t = 0; t < times; t++) {
            memcpy(dst, (const char *)x->data + src * es, row);
            dst += row;
        }
        lp_index_next(r - 1, y->dims, idx, NULL, NULL);
    }
    return LP_OK;
}

const lp_op_def lp_opdef_Tile = {
    .name = "Tile", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = tile_infer, .run = tile_run,
};

/* ---- Pad: pads = [begin_0..begin_r-1, end_0..end_r-1] (negative crops); modes constant,
 * reflect, edge. Attributes pads/value before opset 11, inputs pads/constant_value from 11. ---- */

typedef lp_pad_mode pad_mode;

static lp_status pad_mode_of(const lp_node *n, pad_mode *m)
{
    const char *s = lp_attr_str(n, "mode", "constant");
    if (strcmp(s, "constant") == 0)
        *m = PAD_CONSTANT;
    else if (strcmp(s, "reflect") == 0)
        *m = PAD_REFLECT;
    else if (strcmp(s, "edge") == 0)
        *m = PAD_EDGE;
    else
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "mode '%s' is not supported", s);
    return LP_OK;
}

/* Pads from the attribute or input 1; *n = -1 when not known. */
static lp_status pad_pads(const lp_node *node, int64_t opset, const lp_vinfo *vin, const lp_tensor *tin,
                          int64_t *pads, int *n)
{
    if (opset < 11) {
        const int64_t *p;
        int k = lp_attr_ints(node, "pads", &p);
        if (k < 0)
            return lp_node_error(node, LOWP_ERR_FORMAT, "pads are required");
        if (k > 2 * LP_MAX_DIMS)
            return lp_node_error(node, LOWP_ERR_UNSUPPORTED, "%d pads, at most %d supported", k, 2 * LP_MAX_DIMS);
        memcpy(pads, p, (size_t)k * sizeof *p);
        *n = k;
        return LP_OK;
    }
    if (tin)
        return tensor_ints(node, tin, pads, 2 * LP_MAX_DIMS, n);
    return lp_vinfo_ints(node, vin, pads, 2 * LP_MAX_DIMS, n);
}

static lp_status pad_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    pad_mode mode;
    LP_TRY(pad_mode_of(c->node, &mode));
    if (c->opset >= 11 && (c->n_in < 2 || !c->in[1]))
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "pads are required");
    y->dtype = x->dtype;
    y->shape = x->shape;
    int r = x->shape.ndim;
    int64_t pads[2 * LP_MAX_DIMS];
    int n;
    LP_TRY(pad_pads(c->node, c->opset, c->opset >= 11 ? c->in[1] : NULL, NULL, pads, &n));
    if (r < 0)
        return LP_OK;
    if (n < 0) {
        shape_unknown_dims(&y->shape, r);
        return LP_OK;
    }
    if (n != 2 * r)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "%d pads for rank %d", n, r);
    for (int k = 0; k < r; k++) {
        int64_t d = x->shape.d[k], p = pads[k] + pads[k + r];
        if (lp_dim_known(d)) {
            if (d + p < 0)
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "pads make dim %d negative", k);
            y->shape.d[k] = d + p;
        } else if (p != 0) {
            y->shape.d[k] = LP_DIM_UNKNOWN;
        }
    }
    return LP_OK;
}

/* Source index of output index o along a dim of size d padded by `begin`; -1 = fill. */
int64_t lp_pad_source(int64_t o, int64_t begin, int64_t d, lp_pad_mode mode)
{
    int64_t i = o - begin;
    if (i >= 0 && i < d)
        return i;
    if (mode == PAD_CONSTANT)
        return -1;
    if (mode == PAD_EDGE)
        return i < 0 ? 0 : d - 1;
    if (d == 1)
        return 0;
    int64_t period = 2 * (d - 1); /* reflect: ... 2 1 | 0 1 2 .. d-1 | d-2 ... */
    i %= period;
    if (i < 0)
        i += period;
    return i < d ? i : period - i;
}

/* The constant_value input (opset 11+) when given and not empty, else NULL; checks its type. */
static lp_status pad_fill_input(const lp_run_ctx *c, const lp_tensor **out)
{
    const lp_tensor *cv = c->opset >= 11 && c->n_in > 2 ? c->in[2] : NULL;
    *out = NULL;
    if (!cv || lp_tensor_numel(cv) == 0)
        return LP_OK;
    if (cv->dtype != c->in[0]->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "constant_value is %s, data is %s",
                             lp_dtype_traits_of(cv->dtype)->name, lp_dtype_traits_of(c->in[0]->dtype)->name);
    *out = cv;
    return LP_OK;
}

/* Mode and pads of a run (checked against the input's rank). */
static lp_status pad_geometry(const lp_run_ctx *c, pad_mode *mode, int64_t *pads)
{
    LP_TRY(pad_mode_of(c->node, mode));
    int n;
    LP_TRY(pad_pads(c->node, c->opset, NULL, c->opset >= 11 ? c->in[1] : NULL, pads, &n));
    if (n != 2 * c->in[0]->ndim)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "%d pads for rank %d", n, c->in[0]->ndim);
    return LP_OK;
}

lp_status lp_pad_window(const lp_run_ctx *c, lp_pad_mode *mode, int64_t *pads, double *fill)
{
    const lp_tensor *cv;
    LP_TRY(pad_geometry(c, mode, pads));
    LP_TRY(pad_fill_input(c, &cv));
    *fill = cv ? lp_tensor_get(cv, 0) : c->opset < 11 ? lp_attr_float(c->node, "value", 0.0f) : 0.0;
    return LP_OK;
}

static lp_status pad_run(const lp_run_ctx *c)
{
    /* x: (d0..dr-1) -> y: (d0+b0+e0, ..); y[i] = x[i - b] inside, fill/reflect/edge outside */
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    pad_mode mode;
    int r = x->ndim;
    int64_t pads[2 * LP_MAX_DIMS];
    LP_TRY(pad_geometry(c, &mode, pads));
    for (int k = 0; k < r; k++) {
        if (y->ndim != r || y->dims[k] != x->dims[k] + pads[k] + pads[k + r])
            return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dim %d does not match", k);
        if (mode != PAD_CONSTANT && x->dims[k] == 0 && y->dims[k] > 0)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "cannot %s-pad empty dim %d",
                                 mode == PAD_EDGE ? "edge" : "reflect", k);
    }
    /* The fill element, in the data type. */
    size_t es = esize(x);
    unsigned char fill[16] = { 0 };
    const lp_tensor *cv;
    LP_TRY(pad_fill_input(c, &cv));
    if (cv) {
        memcpy(fill, cv->data, es);
    } else if (c->opset < 11) {
        lp_dtype_traits_of(x->dtype)->set(fill, 0, lp_attr_float(c->node, "value", 0.0f));
    }
    int64_t total = lp_tensor_numel(y);
    if (total == 0)
        return LP_OK;
    int64_t xst[LP_MAX_DIMS], idx[LP_MAX_DIMS] = { 0 };
    strides_of(r, x->dims, xst);
    int64_t inner = r > 0 ? y->dims[r - 1] : 1;
    char *dst = y->data;
    for (int64_t row = 0; row < total / inner; row++) {
        /* offset of the source row, or -1 when the whole row is fill */
        int64_t src = 0;
        for (int k = 0; k < r - 1 && src >= 0; k++) {
            int64_t i = lp_pad_source(idx[k], pads[k], x->dims[k], mode);
            src = i < 0 ? -1 : src + i * xst[k];
        }
        for (int64_t o = 0; o < inner; o++, dst += es) {
            int64_t i = r > 0 ? lp_pad_source(o, pads[r - 1], x->dims[r - 1], mode) : 0;
            if (src < 0 || i < 0)
                memcpy(dst, fill, es);
            else
                memcpy(dst, (const char *)x->data + (src + i) * es, es);
        }
        lp_index_next(r - 1, y->dims, idx, NULL, NULL);
    }
    return LP_OK;
}

const lp_op_def lp_opdef_Pad = {
    .name = "Pad", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = pad_infer, .run = pad_run,
};
