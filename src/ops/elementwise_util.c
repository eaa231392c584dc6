/* elementwise_util.c — broadcast iteration, exact integer access and infer steps shared by
 * the elementwise and reduction kernels. */
#include "ops/elementwise_util.h"

#include <math.h>
#include <string.h>

bool lp_ew_is_float(lp_dtype t)
{
    return t == LP_F32 || t == LP_F64 || t == LP_F16 || t == LP_BF16;
}

bool lp_ew_is_int(lp_dtype t) { return lp_dtype_valid(t) && !lp_ew_is_float(t); }

/* Integer access, one pair per type. The narrowing casts in the setters wrap modulo 2^bits
 * (C defines this for unsigned targets; GCC and Clang define it for signed ones). */
#define INT_ACCESS(tag, ctype)                                                            \
    static int64_t geti_##tag(const void *p, int64_t i) { return (int64_t)((const ctype *)p)[i]; } \
    static void seti_##tag(void *p, int64_t i, int64_t v) { ((ctype *)p)[i] = (ctype)v; }

INT_ACCESS(u8, uint8_t)
INT_ACCESS(i8, int8_t)
INT_ACCESS(u16, uint16_t)
INT_ACCESS(i16, int16_t)
INT_ACCESS(i32, int32_t)
INT_ACCESS(i64, int64_t)
INT_ACCESS(u32, uint32_t)
INT_ACCESS(u64, uint64_t)

static int64_t geti_bool(const void *p, int64_t i) { return ((const uint8_t *)p)[i] != 0; }
static void seti_bool(void *p, int64_t i, int64_t v) { ((uint8_t *)p)[i] = v != 0; }

static const struct {
    int64_t (*get)(const void *p, int64_t i);
    void (*set)(void *p, int64_t i, int64_t v);
} int_access[LP_DTYPE_COUNT] = {
    [LP_U8] = { geti_u8, seti_u8 },     [LP_I8] = { geti_i8, seti_i8 },
    [LP_U16] = { geti_u16, seti_u16 },  [LP_I16] = { geti_i16, seti_i16 },
    [LP_I32] = { geti_i32, seti_i32 },  [LP_I64] = { geti_i64, seti_i64 },
    [LP_U32] = { geti_u32, seti_u32 },  [LP_U64] = { geti_u64, seti_u64 },
    [LP_BOOL] = { geti_bool, seti_bool },
};

int64_t lp_ew_geti(const lp_tensor *t, int64_t i)
{
    LP_ASSERT((unsigned)t->dtype < LP_DTYPE_COUNT && int_access[t->dtype].get);
    return int_access[t->dtype].get(t->data, i);
}

void lp_ew_seti(lp_tensor *t, int64_t i, int64_t v)
{
    LP_ASSERT((unsigned)t->dtype < LP_DTYPE_COUNT && int_access[t->dtype].set);
    int_access[t->dtype].set(t->data, i, v);
}

/* d rounded to float32 toward zero, with the last bit set when inexact ("round to odd").
 * A second rounding of that float to float16 or bfloat16 (both far narrower than float32)
 * then gives the correctly rounded result, where double -> float -> half would round twice. */
static float f64_to_f32_odd(double d)
{
    float f = (float)d;
    if ((double)f == d || isnan(d))
        return f;
    if (fabs((double)f) > fabs(d))
        f = nextafterf(f, 0.0f);
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u |= 1;
    memcpy(&f, &u, sizeof f);
    return f;
}

void lp_ew_setd(lp_tensor *t, int64_t i, double v)
{
    if (t->dtype == LP_F16)
        ((uint16_t *)t->data)[i] = lp_f32_to_f16(f64_to_f32_odd(v));
    else if (t->dtype == LP_BF16)
        ((uint16_t *)t->data)[i] = lp_f32_to_bf16(f64_to_f32_odd(v));
    else
        lp_dtype_traits_of(t->dtype)->set(t->data, i, v);
}

/* ---- broadcast iteration ---- */

void lp_ew_iter_init(lp_ew_iter *it, int nd, const int64_t *dims)
{
    memset(it, 0, sizeof *it);
    it->nd = nd;
    if (nd)
        memcpy(it->dims, dims, (size_t)nd * sizeof *dims);
}

void lp_ew_iter_add(lp_ew_iter *it, const int64_t *stride)
{
    LP_ASSERT(it->n_ops < LP_EW_MAX_OPERANDS);
    if (it->nd)
        memcpy(it->stride[it->n_ops], stride, (size_t)it->nd * sizeof *stride);
    it->n_ops++;
}

void lp_ew_iter_next(lp_ew_iter *it)
{
    for (int k = it->nd - 1; k >= 0; k--) {
        for (int j = 0; j < it->n_ops; j++)
            it->off[j] += it->stride[j][k];
        if (++it->idx[k] < it->dims[k])
            return;
        for (int j = 0; j < it->n_ops; j++)
            it->off[j] -= it->stride[j][k] * it->dims[k];
        it->idx[k] = 0;
    }
}

lp_status lp_ew_iter_bcast(lp_ew_iter *it, const lp_node *node, const lp_tensor *y, int n,
                           const lp_tensor *const *in)
{
    lp_ew_iter_init(it, y->ndim, y->dims);
    for (int j = 0; j < n; j++) {
        const lp_tensor *x = in[j];
        bool ok = x->ndim <= y->ndim;
        for (int k = 0; ok && k < x->ndim; k++) {
            int64_t d = x->dims[k], e = y->dims[y->ndim - x->ndim + k];
            ok = d == e || d == 1;
        }
        if (!ok) {
            char xs[128], ys[128];
            return lp_node_error(node, LOWP_ERR_SHAPE, "input %d of shape %s does not broadcast to the output shape %s",
                                 j, lp_shape_str(x->ndim, x->dims, xs, sizeof xs),
                                 lp_shape_str(y->ndim, y->dims, ys, sizeof ys));
        }
        int64_t stride[LP_MAX_DIMS];
        lp_broadcast_strides(x->ndim, x->dims, y->ndim, y->dims, stride);
        lp_ew_iter_add(it, stride);
    }
    return LP_OK;
}

/* ---- infer steps ---- */

lp_status lp_ew_check_dtype(const lp_node *node, lp_dtype t, bool float_only, const char *what)
{
    if (t == LOWP_UNDEFINED)
        return LP_OK;
    if (!lp_dtype_valid(t))
        return lp_node_error(node, LOWP_ERR_UNSUPPORTED, "%s has dtype %s, which is not supported",
                             what, lp_dtype_traits_of(t)->name);
    if (float_only && !lp_ew_is_float(t))
        return lp_node_error(node, LOWP_ERR_SHAPE, "%s has dtype %s, expected a float type",
                             what, lp_dtype_traits_of(t)->name);
    return LP_OK;
}

lp_status lp_ew_same_dtype(const lp_infer_ctx *c, int first, int n, lp_dtype *dtype_out)
{
    lp_dtype dt = LOWP_UNDEFINED;
    int from = -1;
    for (int i = first; i < first + n && i < c->n_in; i++) {
        if (!c->in[i] || c->in[i]->dtype == LOWP_UNDEFINED)
            continue;
        if (dt != LOWP_UNDEFINED && c->in[i]->dtype != dt)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "inputs %d and %d have different dtypes (%s, %s)",
                                 from, i, lp_dtype_traits_of(dt)->name,
                                 lp_dtype_traits_of(c->in[i]->dtype)->name);
        dt = c->in[i]->dtype;
        from = i;
    }
    *dtype_out = dt;
    return LP_OK;
}

lp_status lp_ew_infer_bcast(lp_infer_ctx *c, int n, lp_dtype dtype)
{
    const lp_shape *shapes[LP_EW_MAX_OPERANDS];
    int k = 0;
    for (int i = 0; i < n && i < c->n_in; i++)
        if (c->in[i])
            shapes[k++] = &c->in[i]->shape;
    c->out[0].dtype = dtype;
    return lp_broadcast_shapes(c->node, k, shapes, &c->out[0].shape);
}
