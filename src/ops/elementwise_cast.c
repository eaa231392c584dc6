/* elementwise_cast.c — Cast (and CastLike, which takes the target dtype from its second
 * input) between every numeric dtype lowp holds (bool, the integer types,
 * float16, bfloat16, float32, float64). String is not supported.
 *
 * Rules, following NumPy's astype: float -> int truncates toward zero, saturating at the
 * type's range and taking NaN to 0 (where a C cast would be undefined); int -> int wraps
 * modulo 2^bits; anything -> bool is "!= 0" (NaN is true); every float result is rounded
 * once, to nearest even. */
#include <string.h>

#include "ops/elementwise_util.h"

/* x: any shape and dtype; y: the same shape, dtype `to`. */
static lp_status run_Cast(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t n = lp_tensor_numel(x);
    if (!lp_dtype_valid(x->dtype) || !lp_dtype_valid(y->dtype))
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "cast from %s to %s is not supported",
                             lp_dtype_traits_of(x->dtype)->name, lp_dtype_traits_of(y->dtype)->name);
    if (lp_tensor_numel(y) != n)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output size differs from the input's");
    if (x->dtype == y->dtype) {
        if (n)
            memcpy(y->data, x->data, (size_t)n * lp_dtype_traits_of(x->dtype)->size);
        return LP_OK;
    }
    if (lp_ew_is_float(x->dtype)) {
        const lp_dtype_traits *tx = lp_dtype_traits_of(x->dtype);
        for (int64_t i = 0; i < n; i++)
            lp_ew_setd(y, i, tx->get(x->data, i)); /* float -> double is exact */
    } else if (lp_ew_is_int(y->dtype)) {
        for (int64_t i = 0; i < n; i++)
            lp_ew_seti(y, i, lp_ew_geti(x, i));
    } else if (y->dtype == LP_F32) {
        float *ys = y->data;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = lp_ew_geti(x, i);
            ys[i] = x->dtype == LP_U64 ? (float)(uint64_t)v : (float)v;
        }
    } else {
        /* int -> float64/float16/bfloat16 via double: exact below 2^53 */
        for (int64_t i = 0; i < n; i++)
            lp_ew_setd(y, i, lp_ew_int_to_double(x->dtype, lp_ew_geti(x, i)));
    }
    return LP_OK;
}

static lp_status infer_Cast(lp_infer_ctx *c)
{
    const lp_attr *to = lp_node_attr(c->node, "to");
    if (!to || to->type != LP_ATTR_INT)
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "missing the integer attribute 'to'");
    lp_dtype dt = (lp_dtype)to->i;
    if (to->i < 0 || to->i >= LP_DTYPE_COUNT || !lp_dtype_valid(dt))
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "cast to dtype %lld (%s) is not supported",
                             (long long)to->i, lp_dtype_traits_of(dt)->name);
    LP_TRY(lp_ew_check_dtype(c->node, c->in[0]->dtype, false, "input 0"));
    c->out[0].dtype = dt;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_Cast = { .name = "Cast", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                  .infer = infer_Cast, .run = run_Cast };

/* CastLike: Cast to the dtype of input 1 (whose values are not read). */
static lp_status infer_CastLike(lp_infer_ctx *c)
{
    lp_dtype dt = c->in[1]->dtype;
    LP_TRY(lp_ew_check_dtype(c->node, c->in[0]->dtype, false, "input 0"));
    LP_TRY(lp_ew_check_dtype(c->node, dt, false, "input 1"));
    c->out[0].dtype = dt;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_CastLike = { .name = "CastLike", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                      .infer = infer_CastLike, .run = run_Cast };
