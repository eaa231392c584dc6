/* shape_ops.c — ops that only relabel a tensor's shape (Flatten, Reshape, Squeeze, Unsqueeze,
 * Identity, Dropout) or make tensors from shapes and attributes (Shape, Size, Constant,
 * ConstantOfShape, Range). Ops that move elements are in shape_copy.c, Resize in resize.c. */
#include <math.h>
#include <string.h>

#include "ops/op.h"

/* ---- shared pieces ---- */

/* y = x byte for byte: the kernel of every op here whose output is its input reshaped. */
static lp_status copy_bytes(const lp_node *n, const lp_tensor *x, lp_tensor *y)
{
    if (x->nbytes != y->nbytes)
        return lp_node_error(n, LOWP_ERR_INTERNAL, "output holds %zu bytes, input %zu",
                             y->nbytes, x->nbytes);
    if (x->nbytes)
        memcpy(y->data, x->data, x->nbytes);
    return LP_OK;
}

static lp_status run_copy(const lp_run_ctx *c) { return copy_bytes(c->node, c->in[0], c->out[0]); }

/* Product of dims as a dim: known when all are known (or one is 0); a lone symbol times
 * ones stays that symbol; anything else is unknown. */
static int64_t dims_product(int n, const int64_t *d)
{
    int64_t p = 1, sym = 1;
    int n_unknown = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] == 0)
            return 0;
        if (lp_dim_known(d[i])) {
            if (__builtin_mul_overflow(p, d[i], &p))
                return LP_DIM_UNKNOWN; /* past 2^63 elements: a later check refuses it */
        } else {
            n_unknown++;
            sym = d[i];
        }
    }
    if (n_unknown == 0)
        return p;
    return n_unknown == 1 && p == 1 ? sym : LP_DIM_UNKNOWN;
}

static void shape_unknown_dims(lp_shape *s, int ndim)
{
    s->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        s->d[i] = LP_DIM_UNKNOWN;
}

/* Reads the axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13.
 * *n = -1 when they are given but not known; *given = false when absent. */
static lp_status axes_of(const lp_node *node, int64_t opset, const lp_vinfo *input, int64_t *axes,
                         int *n, bool *given)
{
    *given = false;
    *n = -1;
    if (opset < 13) {
        const int64_t *a;
        int k = lp_attr_ints(node, "axes", &a);
        if (k < 0)
            return LP_OK;
        if (k > LP_MAX_DIMS)
            return lp_node_error(node, LOWP_ERR_UNSUPPORTED, "%d axes, at most %d supported", k, LP_MAX_DIMS);
        memcpy(axes, a, (size_t)k * sizeof *a);
        *given = true;
        *n = k;
        return LP_OK;
    }
    if (!input)
        return LP_OK;
    *given = true;
    return lp_vinfo_ints(node, input, axes, LP_MAX_DIMS, n);
}

/* Squeeze (sign -1) / Unsqueeze (+1) of a rank-r input by axes known only by their count, if
 * the axes input's shape gives it: the output rank r + sign * count with unknown dims, or an
 * unknown rank. */
static void rank_by_axes_count(const lp_vinfo *axes, int r, int sign, lp_shape *y)
{
    const lp_shape *as = &axes->shape;
    int64_t out = r >= 0 && as->ndim == 1 && lp_dim_known(as->d[0]) ? r + sign * as->d[0] : -1;
    if (out >= 0 && out <= LP_MAX_DIMS)
        shape_unknown_dims(y, (int)out);
    else
        y->ndim = -1;
}

/* ---- Flatten: (d0..dk-1, dk..dn-1) -> (d0*..*dk-1, dk*..*dn-1) ---- */

static lp_status flatten_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    int64_t axis = lp_attr_int(c->node, "axis", 1);
    y->dtype = x->dtype;
    shape_unknown_dims(&y->shape, 2);
    int r = x->shape.ndim;
    if (r < 0) {
        if (axis == 0)
            y->shape.d[0] = 1;
        return LP_OK;
    }
    if (axis < 0 && c->opset >= 11)
        axis += r;
    if (axis < 0 || axis > r)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "axis %lld is out of range for rank %d",
                             (long long)lp_attr_int(c->node, "axis", 1), r);
    y->shape.d[0] = dims_product((int)axis, x->shape.d);
    y->shape.d[1] = dims_product(r - (int)axis, x->shape.d + axis);
    return LP_OK;
}

const lp_op_def lp_opdef_Flatten = {
    .name = "Flatten", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = flatten_infer, .run = run_copy,
};

/* ---- Reshape: data, shape (int64, 0 = copy the input dim unless allowzero, -1 = inferred) ---- */

/* When the element counts of `in` and `out` can be compared, checks them, and fills
 * out[neg] (the -1 entry, neg < 0 if none). Symbols present on both sides cancel. */
static lp_status reshape_resolve(const lp_node *node, const lp_shape *in, int64_t *out, int nd, int neg)
{
    int64_t rest[LP_MAX_DIMS];
    int n_rest = in->ndim;
    memcpy(rest, in->d, (size_t)n_rest * sizeof *rest);
    int64_t p_in = 1, p_out = 1;
    bool known = true;
    for (int i = 0; i < nd; i++) {
        if (i == neg)
            continue;
        if (lp_dim_known(out[i])) {
            if (__builtin_mul_overflow(p_out, out[i], &p_out))
                return lp_node_error(node, LOWP_ERR_SHAPE, "the target shape has more than 2^63 elements");
            continue;
        }
        int j = 0;
        while (j < n_rest && !(rest[j] == out[i] && rest[j] <= LP_DIM_SYM0))
            j++;
        if (j == n_rest) {
            known = false;
            continue;
        }
        rest[j] = rest[--n_rest]; /* the symbol cancels */
    }
    for (int j = 0; j < n_rest; j++) {
        if (lp_dim_known(rest[j])) {
            if (__builtin_mul_overflow(p_in, rest[j], &p_in))
                return lp_node_error(node, LOWP_ERR_SHAPE, "the input has more than 2^63 elements");
        } else
            known = false;
    }
    if (!known)
        return LP_OK;
    if (neg >= 0) {
        if (p_out == 0 || p_in % p_out != 0)
            return lp_node_error(node, LOWP_ERR_SHAPE, "cannot infer the -1 dim: %lld elements into %lld",
                                 (long long)p_in, (long long)p_out);
        out[neg] = p_in / p_out;
    } else if (p_in != p_out) {
        return lp_node_error(node, LOWP_ERR_SHAPE, "cannot reshape %lld elements into %lld",
                             (long long)p_in, (long long)p_out);
    }
    return LP_OK;
}

static lp_status reshape_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0], *s = c->in[1];
    lp_vinfo *y = &c->out[0];
    bool allowzero = c->opset >= 14 && lp_attr_int(c->node, "allowzero", 0);
    y->dtype = x->dtype;
    int64_t want[LP_MAX_DIMS];
    int n;
    LP_TRY(lp_vinfo_ints(c->node, s, want, LP_MAX_DIMS, &n));
    if (n < 0) {
        /* Values unknown: the rank is the length of the shape input, when known. */
        if (s->shape.ndim == 1 && lp_dim_known(s->shape.d[0]) && s->shape.d[0] <= LP_MAX_DIMS)
            shape_unknown_dims(&y->shape, (int)s->shape.d[0]);
        else
            y->shape.ndim = -1;
        return LP_OK;
    }
    int neg = -1;
    bool has_zero = false;
    for (int i = 0; i < n; i++) {
        int64_t w = want[i];
        if (w == -1) {
            if (neg >= 0)
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "shape has more than one -1");
            neg = i;
            y->shape.d[i] = LP_DIM_UNKNOWN;
        } else if (w == 0 && !allowzero) {
            if (x->shape.ndim >= 0 && i >= x->shape.ndim)
                return lp_node_error(c->node, LOWP_ERR_SHAPE,
                                     "shape[%d] = 0 copies a dim the rank-%d input does not have", i, x->shape.ndim);
            y->shape.d[i] = x->shape.ndim >= 0 ? x->shape.d[i] : LP_DIM_UNKNOWN;
        } else if (w < -1) {
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "shape[%d] = %lld is invalid", i, (long long)w);
        } else {
            has_zero |= w == 0;
            y->shape.d[i] = w;
        }
    }
    if (has_zero && neg >= 0)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "shape has both -1 and 0 with allowzero set");
    y->shape.ndim = n;
    if (x->shape.ndim >= 0)
        LP_TRY(reshape_resolve(c->node, &x->shape, y->shape.d, n, neg));
    return LP_OK;
}

const lp_op_def lp_opdef_Reshape = {
    .name = "Reshape", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = reshape_infer, .run = run_copy,
};

/* ---- Squeeze: drops size-1 axes (the given ones, or all) ---- */

static lp_status squeeze_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    y->dtype = x->dtype;
    int64_t axes[LP_MAX_DIMS];
    int n;
    bool given;
    LP_TRY(axes_of(c->node, c->opset, c->n_in > 1 ? c->in[1] : NULL, axes, &n, &given));
    int r = x->shape.ndim;
    if (r < 0) {
        y->shape.ndim = -1;
        return LP_OK;
    }
    if (given && n < 0) {
        rank_by_axes_count(c->in[1], r, -1, &y->shape);
        return LP_OK;
    }
    bool drop[LP_MAX_DIMS] = { false };
    if (given && n > 0) {
        for (int i = 0; i < n; i++) {
            int a;
            LP_TRY(lp_op_axis(c->node, axes[i], r, &a));
            if (drop[a])
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "axis %d is listed twice", a);
            if (lp_dim_known(x->shape.d[a]) && x->shape.d[a] != 1)
                return lp_node_error(c->node, LOWP_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a,
                                     (long long)x->shape.d[a]);
            drop[a] = true;
        }
    } else {
        for (int a = 0; a < r; a++) {
            if (!lp_dim_known(x->shape.d[a])) { /* might be 1: the rank is unknown */
                y->shape.ndim = -1;
                return LP_OK;
            }
            drop[a] = x->shape.d[a] == 1;
        }
    }
    int k = 0;
    for (int a = 0; a < r; a++)
        if (!drop[a])
            y->shape.d[k++] = x->shape.d[a];
    y->shape.ndim = k;
    return LP_OK;
}

const lp_op_def lp_opdef_Squeeze = {
    .name = "Squeeze", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = squeeze_infer, .run = run_copy,
};

/* ---- Unsqueeze: inserts size-1 axes at the given positions of the output ---- */

static lp_status unsqueeze_infer(lp_infer_ctx *c)
{
    const lp_vinfo *x = c->in[0];
    lp_vinfo *y = &c->out[0];
    y->dtype = x->dtype;
    int64_t axes[LP_MAX_DIMS];
    int n;
    bool given;
    LP_TRY(axes_of(c->node, c->opset, c->n_in > 1 ? c->in[1] : NULL, axes, &n, &given));
    if (!given)
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "axes are required");
    int r = x->shape.ndim;
    if (n < 0) {
        rank_by_axes_count(c->in[1], r, +1, &y->shape);
        return LP_OK;
    }
    if (r < 0) {
        y->shape.ndim = -1;
        return LP_OK;
    }
    int out_r = r + n;
    if (out_r > LP_MAX_DIMS)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "output rank %d exceeds %d", out_r, LP_MAX_DIMS);
    bool ins[LP_MAX_DIMS] = { false };
    for (int i = 0; i < n; i++) {
        int a;
        LP_TRY(lp_op_axis(c->node, axes[i], out_r, &a));
        if (ins[a])
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "axis %d is listed twice", a);
        ins[a] = true;
    }
    for (int a = 0, k = 0; a < out_r; a++)
        y->shape.d[a] = ins[a] ? 1 : x->shape.d[k++];
    y->shape.ndim = out_r;
    return LP_OK;
}

const lp_op_def lp_opdef_Unsqueeze = {
    .name = "Unsqueeze", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = unsqueeze_infer, .run = run_copy,
};

/* ---- Identity ---- */

static lp_status identity_infer(lp_infer_ctx *c)
{
    c->out[0].dtype = c->in[0]->dtype;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_Identity = {
    .name = "Identity", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = identity_infer, .run = run_copy,
};

/* ---- Dropout: at inference the identity; the optional mask is all true ---- */

/* Opset 12 made ratio and training_mode inputs. lowp runs inference; training with ratio 0
 * is still the identity, any other ratio would need a random mask. */
static lp_status dropout_check_training(const lp_node *n, const lp_tensor *ratio, const lp_tensor *mode)
{
    if (!mode || lp_tensor_numel(mode) == 0 || lp_tensor_get(mode, 0) == 0)
        return LP_OK;
    double r = ratio && lp_tensor_numel(ratio) > 0 ? lp_tensor_get(ratio, 0) : 0.5;
    if (r != 0)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "training_mode = true with ratio %g is not supported", r);
    return LP_OK;
}

static lp_status dropout_infer(lp_infer_ctx *c)
{
    const lp_vinfo *ratio = c->n_in > 1 ? c->in[1] : NULL, *mode = c->n_in > 2 ? c->in[2] : NULL;
    if (c->opset >= 12 && mode && mode->value && (!ratio || ratio->value))
        LP_TRY(dropout_check_training(c->node, ratio ? ratio->value : NULL, mode->value));
    identity_infer(c);
    if (c->n_out > 1) {
        /* The mask was bool from opset 10, of the data type before. */
        c->out[1].dtype = c->opset >= 10 ? LP_BOOL : c->in[0]->dtype;
        c->out[1].shape = c->in[0]->shape;
    }
    return LP_OK;
}

static lp_status dropout_run(const lp_run_ctx *c)
{
    if (c->opset >= 12 && c->n_in > 2)
        LP_TRY(dropout_check_training(c->node, c->in[1], c->in[2]));
    LP_TRY(copy_bytes(c->node, c->in[0], c->out[0]));
    lp_tensor *mask = c->n_out > 1 ? c->out[1] : NULL;
    if (mask) {
        const lp_dtype_traits *tr = lp_dtype_traits_of(mask->dtype);
        int64_t n = lp_tensor_numel(mask);
        for (int64_t i = 0; i < n; i++)
            tr->set(mask->data, i, 1.0);
    }
    return LP_OK;
}

const lp_op_def lp_opdef_Dropout = {
    .name = "Dropout", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 2,
    .infer = dropout_infer, .run = dropout_run,
};

/* ---- Shape: int64 [end - start], the input's dims (start/end attributes from opset 15) ---- */

static void shape_range(const lp_node *n, int64_t opset, int rank, int *start, int *end)
{
    int64_t s = 0, e = rank;
    if (opset >= 15) {
        s = lp_attr_int(n, "start", 0);
        e = lp_attr_int(n, "end", rank);
    }
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    *start = (int)s;
    *end = e > s ? (int)e : (int)s;
}

static lp_status shape_infer(lp_infer_ctx *c)
{
    const lp_shape *xs = &c->in[0]->shape;
    lp_vinfo *y = &c->out[0];
    y->dtype = LP_I64;
    y->shape.ndim = 1;
    if (xs->ndim < 0) {
        y->shape.d[0] = LP_DIM_UNKNOWN;
        return LP_OK;
    }
    int s, e;
    shape_range(c->node, c->opset, xs->ndim, &s, &e);
    y->shape.d[0] = e - s;
    for (int i = s; i < e; i++)
        if (!lp_dim_known(xs->d[i]))
            return LP_OK;
    int64_t len = e - s;
    LP_TRY(lp_tensor_new(LP_I64, 1, &len, &y->value));
    if (len)
        memcpy(y->value->data, xs->d + s, (size_t)len * sizeof(int64_t));
    return LP_OK;
}

static lp_status shape_run(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int s, e;
    shape_range(c->node, c->opset, x->ndim, &s, &e);
    if (y->dtype != LP_I64 || lp_tensor_numel(y) != e - s)
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output is not int64[%d]", e - s);
    if (e > s)
        memcpy(y->data, x->dims + s, (size_t)(e - s) * sizeof(int64_t));
    return LP_OK;
}

const lp_op_def lp_opdef_Shape = {
    .name = "Shape", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = shape_infer, .run = shape_run,
};

/* ---- Size: int64 scalar, the element count ---- */

static lp_status size_infer(lp_infer_ctx *c)
{
    const lp_shape *xs = &c->in[0]->shape;
    lp_vinfo *y = &c->out[0];
    y->dtype = LP_I64;
    y->shape.ndim = 0;
    if (xs->ndim < 0)
        return LP_OK;
    int64_t n = dims_product(xs->ndim, xs->d);
    if (!lp_dim_known(n))
        return LP_OK;
    LP_TRY(lp_tensor_new(LP_I64, 0, NULL, &y->value));
    *(int64_t *)y->value->data = n;
    return LP_OK;
}

static lp_status size_run(const lp_run_ctx *c)
{
    lp_tensor *y = c->out[0];
    if (y->dtype != LP_I64 || lp_tensor_numel(y) != 1)
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output is not an int64 scalar");
    *(int64_t *)y->data = lp_tensor_numel(c->in[0]);
    return LP_OK;
}

const lp_op_def lp_opdef_Size = {
    .name = "Size", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = size_infer, .run = size_run,
};

/* ---- Constant: the tensor in `value`, or (opset 12+) value_float(s) / value_int(s) ---- */

static lp_status constant_tensor(const lp_node *n, lp_tensor **out)
{
    const lp_attr *a = NULL;
    for (int i = 0; i < n->n_attr && !a; i++)
        if (strncmp(n->attrs[i].name, "value", 5) == 0 || strcmp(n->attrs[i].name, "sparse_value") == 0)
            a = &n->attrs[i];
    if (!a)
        return lp_node_error(n, LOWP_ERR_FORMAT, "no value attribute");
    int64_t len = a->n;
    lp_status st;
    if (strcmp(a->name, "value") == 0 && a->type == LP_ATTR_TENSOR && a->t) {
        st = lp_tensor_clone(a->t, out);
    } else if (strcmp(a->name, "value_float") == 0 && a->type == LP_ATTR_FLOAT) {
        if ((st = lp_tensor_new(LP_F32, 0, NULL, out)) == LP_OK)
            *(float *)(*out)->data = a->f;
    } else if (strcmp(a->name, "value_floats") == 0 && a->type == LP_ATTR_FLOATS) {
        if ((st = lp_tensor_new(LP_F32, 1, &len, out)) == LP_OK && len)
            memcpy((*out)->data, a->floats, (size_t)len * sizeof(float));
    } else if (strcmp(a->name, "value_int") == 0 && a->type == LP_ATTR_INT) {
        if ((st = lp_tensor_new(LP_I64, 0, NULL, out)) == LP_OK)
            *(int64_t *)(*out)->data = a->i;
    } else if (strcmp(a->name, "value_ints") == 0 && a->type == LP_ATTR_INTS) {
        if ((st = lp_tensor_new(LP_I64, 1, &len, out)) == LP_OK && len)
            memcpy((*out)->data, a->ints, (size_t)len * sizeof(int64_t));
    } else {
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "attribute '%s' is not supported", a->name);
    }
    if (st != LP_OK)
        return lp_error_prefix(st, "node '%s' (%s)", n->name, n->op_type);
    return LP_OK;
}

static lp_status constant_infer(lp_infer_ctx *c)
{
    lp_tensor *t;
    LP_TRY(constant_tensor(c->node, &t));
    lp_vinfo_set(&c->out[0], t->dtype, t->ndim, t->dims);
    c->out[0].value = t;
    return LP_OK;
}

static lp_status constant_run(const lp_run_ctx *c)
{
    lp_tensor *t;
    LP_TRY(constant_tensor(c->node, &t));
    lp_status st = t->dtype == c->out[0]->dtype ? copy_bytes(c->node, t, c->out[0])
                   : lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dtype does not match the value");
    lp_tensor_free(t);
    return st;
}

const lp_op_def lp_opdef_Constant = {
    .name = "Constant", .min_in = 0, .max_in = 0, .min_out = 1, .max_out = 1,
    .infer = constant_infer, .run = constant_run,
};

/* ---- ConstantOfShape: a tensor of dims `input` filled with `value` (default float 0) ---- */

static lp_status cos_value(const lp_node *n, lp_dtype *dtype, const void **elem)
{
    static const float zero = 0.0f;
    const lp_attr *a = lp_node_attr(n, "value");
    *dtype = LP_F32;
    *elem = &zero;
    if (!a)
        return LP_OK;
    if (a->type != LP_ATTR_TENSOR || !a->t || lp_tensor_numel(a->t) != 1 || !lp_dtype_valid(a->t->dtype))
        return lp_node_error(n, LOWP_ERR_FORMAT, "value must be a one-element numeric tensor");
    *dtype = a->t->dtype;
    *elem = a->t->data;
    return LP_OK;
}

static lp_status cos_infer(lp_infer_ctx *c)
{
    const lp_vinfo *s = c->in[0];
    lp_vinfo *y = &c->out[0];
    const void *elem;
    LP_TRY(cos_value(c->node, &y->dtype, &elem));
    int64_t dims[LP_MAX_DIMS];
    int n;
    LP_TRY(lp_vinfo_ints(c->node, s, dims, LP_MAX_DIMS, &n));
    if (n < 0) {
        if (s->shape.ndim == 1 && lp_dim_known(s->shape.d[0]) && s->shape.d[0] <= LP_MAX_DIMS)
            shape_unknown_dims(&y->shape, (int)s->shape.d[0]);
        else
            y->shape.ndim = -1;
        return LP_OK;
    }
    for (int i = 0; i < n; i++)
        if (dims[i] < 0)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "dim %d is negative (%lld)", i, (long long)dims[i]);
    lp_vinfo_set(y, y->dtype, n, dims);
    return LP_OK;
}

static lp_status cos_run(const lp_run_ctx *c)
{
    lp_tensor *y = c->out[0];
    lp_dtype dtype;
    const void *elem;
    LP_TRY(cos_value(c->node, &dtype, &elem));
    if (dtype != y->dtype)
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output dtype does not match the value");
    size_t es = lp_dtype_traits_of(dtype)->size;
    int64_t n = lp_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)y->data + i * es, elem, es);
    return LP_OK;
}

const lp_op_def lp_opdef_ConstantOfShape = {
    .name = "ConstantOfShape", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = cos_infer, .run = cos_run,
};

/* ---- Range: start, start + delta, ... up to (not including) limit; scalars of one type ---- */

static lp_status range_count(const lp_node *n, const lp_tensor *start, const lp_tensor *limit,
                             const lp_tensor *delta, int64_t *count)
{
    if (lp_tensor_numel(start) != 1 || lp_tensor_numel(limit) != 1 || lp_tensor_numel(delta) != 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "start, limit and delta must be scalars");
    double s = lp_tensor_get(start, 0), l = lp_tensor_get(limit, 0), d = lp_tensor_get(delta, 0);
    if (d == 0 || isnan(d) || isnan(s) || isnan(l))
        return lp_node_error(n, LOWP_ERR_INVALID_ARGUMENT, "delta must be non-zero and values finite");
    double k = ceil((l - s) / d);
    if (k > (double)(INT64_C(1) << 40))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "range of %g elements is too large", k);
    *count = k > 0 ? (int64_t)k : 0;
    return LP_OK;
}

static lp_status range_infer(lp_infer_ctx *c)
{
    lp_vinfo *y = &c->out[0];
    y->dtype = c->in[0]->dtype;
    for (int i = 1; i < 3; i++)
        if (y->dtype != LOWP_UNDEFINED && c->in[i]->dtype != LOWP_UNDEFINED && c->in[i]->dtype != y->dtype)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "start, limit and delta differ in type");
    y->shape.ndim = 1;
    y->shape.d[0] = LP_DIM_UNKNOWN;
    if (c->in[0]->value && c->in[1]->value && c->in[2]->value)
        LP_TRY(range_count(c->node, c->in[0]->value, c->in[1]->value, c->in[2]->value, &y->shape.d[0]));
    return LP_OK;
}

static lp_status range_run(const lp_run_ctx *c)
{
    const lp_tensor *start = c->in[0], *delta = c->in[2];
    lp_tensor *y = c->out[0];
    int64_t n;
    LP_TRY(range_count(c->node, start, c->in[1], delta, &n));
    if (y->ndim != 1 || y->dims[0] != n || y->dtype != start->dtype)
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "output is not %s[%lld]",
                             lp_dtype_traits_of(start->dtype)->name, (long long)n);
    const lp_dtype_traits *tr = lp_dtype_traits_of(y->dtype);
    if (tr->is_float) {
        double s = lp_tensor_get(start, 0), d = lp_tensor_get(delta, 0);
        for (int64_t i = 0; i < n; i++)
            tr->set(y->data, i, s + (double)i * d);
    } else if (y->dtype == LP_I64) { /* exact beyond 2^53 */
        int64_t s = lp_tensor_get_int(start, 0), d = lp_tensor_get_int(delta, 0);
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)y->data)[i] = s + i * d;
    } else {
        int64_t s = lp_tensor_get_int(start, 0), d = lp_tensor_get_int(delta, 0);
        for (int64_t i = 0; i < n; i++)
            tr->set(y->data, i, (double)(s + i * d));
    }
    return LP_OK;
}

const lp_op_def lp_opdef_Range = {
    .name = "Range", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = range_infer, .run = range_run,
};
