/* elementwise_logic.c — comparisons (Equal, Less, Greater, GreaterOrEqual, LessOrEqual), Not,
 * And, Or, Xor, BitShift and Where, all with numpy broadcasting. Bool tensors hold one byte per element, 0 or 1. */
#include <string.h>

#include "ops/elementwise_util.h"

/* ---- comparisons: any numeric A, B of one dtype -> bool ---- */

typedef enum cmp_op { CMP_EQ, CMP_LT, CMP_GT, CMP_GE, CMP_LE } cmp_op;

static bool cmp_f64(cmp_op op, double a, double b)
{
    switch (op) {
    case CMP_EQ: return a == b;
    case CMP_LT: return a < b;
    case CMP_GT: return a > b;
    case CMP_GE: return a >= b;
    case CMP_LE: return a <= b;
    }
    return false;
}

static bool cmp_int(cmp_op op, lp_dtype t, int64_t a, int64_t b)
{
    switch (op) {
    case CMP_EQ: return a == b;
    case CMP_LT: return lp_ew_int_less(t, a, b);
    case CMP_GT: return lp_ew_int_less(t, b, a);
    case CMP_GE: return !lp_ew_int_less(t, a, b);
    case CMP_LE: return !lp_ew_int_less(t, b, a);
    }
    return false;
}

/* a, b: any shapes of one dtype; y: bool, their broadcast. Floats compare as doubles (exact);
 * integers as int64 so that large int64 values stay distinct. */
static lp_status run_compare(const lp_run_ctx *c, cmp_op op)
{
    const lp_tensor *a = c->in[0], *b = c->in[1];
    lp_tensor *y = c->out[0];
    if (a->dtype != b->dtype || y->dtype != LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "dtypes %s, %s -> %s do not match",
                             lp_dtype_traits_of(a->dtype)->name, lp_dtype_traits_of(b->dtype)->name,
                             lp_dtype_traits_of(y->dtype)->name);
    lp_ew_iter it;
    LP_TRY(lp_ew_iter_bcast(&it, c->node, y, 2, c->in));
    int64_t n = lp_tensor_numel(y);
    uint8_t *ys = y->data;
    if (lp_ew_is_float(a->dtype)) {
        const lp_dtype_traits *t = lp_dtype_traits_of(a->dtype);
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it))
            ys[i] = cmp_f64(op, t->get(a->data, it.off[0]), t->get(b->data, it.off[1]));
    } else {
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it))
            ys[i] = cmp_int(op, a->dtype, lp_ew_geti(a, it.off[0]), lp_ew_geti(b, it.off[1]));
    }
    return LP_OK;
}

static lp_status infer_compare(lp_infer_ctx *c)
{
    lp_dtype dt;
    LP_TRY(lp_ew_same_dtype(c, 0, 2, &dt));
    LP_TRY(lp_ew_check_dtype(c->node, dt, false, "input 0"));
    return lp_ew_infer_bcast(c, 2, LP_BOOL);
}

#define COMPARE_OP(Name, OP)                                                             \
    static lp_status run_##Name(const lp_run_ctx *c) { return run_compare(c, OP); }      \
    const lp_op_def lp_opdef_##Name = { .name = #Name, .min_in = 2, .max_in = 2, .min_out = 1, \
                                        .max_out = 1, .infer = infer_compare, .run = run_##Name };

COMPARE_OP(Equal, CMP_EQ)
COMPARE_OP(Less, CMP_LT)
COMPARE_OP(Greater, CMP_GT)
COMPARE_OP(GreaterOrEqual, CMP_GE)
COMPARE_OP(LessOrEqual, CMP_LE)

/* ---- Not, And, Or, Xor: bool only ---- */

static lp_status check_bool(const lp_node *node, lp_dtype t, const char *what)
{
    if (t != LOWP_UNDEFINED && t != LP_BOOL)
        return lp_node_error(node, LOWP_ERR_SHAPE, "%s has dtype %s, expected bool", what,
                             lp_dtype_traits_of(t)->name);
    return LP_OK;
}

/* x: bool, any shape; y: bool, the same. */
static lp_status run_Not(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    LP_TRY(check_bool(c->node, x->dtype, "input 0"));
    LP_TRY(check_bool(c->node, y->dtype, "output 0"));
    int64_t n = lp_tensor_numel(x);
    if (lp_tensor_numel(y) != n)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output size differs from the input's");
    const uint8_t *xs = x->data;
    uint8_t *ys = y->data;
    for (int64_t i = 0; i < n; i++)
        ys[i] = !xs[i];
    return LP_OK;
}

static lp_status infer_Not(lp_infer_ctx *c)
{
    LP_TRY(check_bool(c->node, c->in[0]->dtype, "input 0"));
    c->out[0].dtype = LP_BOOL;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_Not = { .name = "Not", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                 .infer = infer_Not, .run = run_Not };

typedef enum bool_op { BOOL_AND, BOOL_OR, BOOL_XOR } bool_op;

/* a, b: bool, any shapes; y: bool, their broadcast. */
static lp_status run_bool(const lp_run_ctx *c, bool_op op)
{
    const lp_tensor *a = c->in[0], *b = c->in[1];
    lp_tensor *y = c->out[0];
    LP_TRY(check_bool(c->node, a->dtype, "input 0"));
    LP_TRY(check_bool(c->node, b->dtype, "input 1"));
    LP_TRY(check_bool(c->node, y->dtype, "output 0"));
    lp_ew_iter it;
    LP_TRY(lp_ew_iter_bcast(&it, c->node, y, 2, c->in));
    const uint8_t *as = a->data, *bs = b->data;
    uint8_t *ys = y->data;
    int64_t n = lp_tensor_numel(y);
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
        bool p = as[it.off[0]] != 0, q = bs[it.off[1]] != 0;
        ys[i] = op == BOOL_AND ? p && q : op == BOOL_OR ? p || q : p != q;
    }
    return LP_OK;
}

static lp_status infer_bool(lp_infer_ctx *c)
{
    LP_TRY(check_bool(c->node, c->in[0]->dtype, "input 0"));
    LP_TRY(check_bool(c->node, c->in[1]->dtype, "input 1"));
    return lp_ew_infer_bcast(c, 2, LP_BOOL);
}

#define BOOL_OP(Name, OP)                                                                \
    static lp_status run_##Name(const lp_run_ctx *c) { return run_bool(c, OP); }         \
    const lp_op_def lp_opdef_##Name = { .name = #Name, .min_in = 2, .max_in = 2, .min_out = 1, \
                                        .max_out = 1, .infer = infer_bool, .run = run_##Name };

BOOL_OP(And, BOOL_AND)
BOOL_OP(Or, BOOL_OR)
BOOL_OP(Xor, BOOL_XOR)

/* ---- BitShift: unsigned integers ---- */

/* x, amount: one unsigned dtype, any shapes; y: their broadcast. Shifting by the type's width
 * or more gives 0 (where C's shift would be undefined). */
static lp_status run_BitShift(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *s = c->in[1];
    lp_tensor *y = c->out[0];
    const char *dir = lp_attr_str(c->node, "direction", "");
    bool left = strcmp(dir, "LEFT") == 0;
    if (!left && strcmp(dir, "RIGHT") != 0)
        return lp_node_error(c->node, LOWP_ERR_FORMAT, "direction must be LEFT or RIGHT, got '%s'", dir);
    if (x->dtype != s->dtype || y->dtype != x->dtype || !lp_ew_is_int(x->dtype) || x->dtype == LP_BOOL ||
        lp_dtype_traits_of(x->dtype)->is_signed)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected unsigned integer inputs and output of one dtype");
    int bits = 8 * (int)lp_dtype_traits_of(x->dtype)->size;
    lp_ew_iter it;
    LP_TRY(lp_ew_iter_bcast(&it, c->node, y, 2, c->in));
    int64_t n = lp_tensor_numel(y);
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
        uint64_t v = (uint64_t)lp_ew_geti(x, it.off[0]), k = (uint64_t)lp_ew_geti(s, it.off[1]);
        lp_ew_seti(y, i, k >= (uint64_t)bits ? 0 : (int64_t)(left ? v << k : v >> k));
    }
    return LP_OK;
}

static lp_status infer_BitShift(lp_infer_ctx *c)
{
    lp_dtype dt;
    LP_TRY(lp_ew_same_dtype(c, 0, 2, &dt));
    if (dt != LOWP_UNDEFINED && (!lp_ew_is_int(dt) || dt == LP_BOOL || lp_dtype_traits_of(dt)->is_signed))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input 0 has dtype %s, expected an unsigned integer type",
                             lp_dtype_traits_of(dt)->name);
    return lp_ew_infer_bcast(c, 2, dt);
}

const lp_op_def lp_opdef_BitShift = { .name = "BitShift", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                      .infer = infer_BitShift, .run = run_BitShift };

/* ---- Where ---- */

/* cond: bool, x, y: one dtype, all broadcast to out: out = cond ? x : y, copied bytewise. */
static lp_status run_Where(const lp_run_ctx *c)
{
    const lp_tensor *cond = c->in[0], *x = c->in[1], *y = c->in[2];
    lp_tensor *out = c->out[0];
    LP_TRY(check_bool(c->node, cond->dtype, "the condition"));
    if (x->dtype != y->dtype || out->dtype != x->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "dtypes %s, %s -> %s do not match",
                             lp_dtype_traits_of(x->dtype)->name, lp_dtype_traits_of(y->dtype)->name,
                             lp_dtype_traits_of(out->dtype)->name);
    size_t es = lp_dtype_traits_of(out->dtype)->size;
    if (!es)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported",
                             lp_dtype_traits_of(out->dtype)->name);
    lp_ew_iter it;
    LP_TRY(lp_ew_iter_bcast(&it, c->node, out, 3, c->in));
    const uint8_t *cs = cond->data;
    const char *xs = x->data, *ys = y->data;
    char *os = out->data;
    int64_t n = lp_tensor_numel(out);
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
        const char *src = cs[it.off[0]] ? xs + (size_t)it.off[1] * es : ys + (size_t)it.off[2] * es;
        memcpy(os + (size_t)i * es, src, es);
    }
    return LP_OK;
}

static lp_status infer_Where(lp_infer_ctx *c)
{
    lp_dtype dt;
    LP_TRY(check_bool(c->node, c->in[0]->dtype, "the condition"));
    LP_TRY(lp_ew_same_dtype(c, 1, 2, &dt));
    LP_TRY(lp_ew_check_dtype(c->node, dt, false, "input 1"));
    return lp_ew_infer_bcast(c, 3, dt);
}

const lp_op_def lp_opdef_Where = { .name = "Where", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                   .infer = infer_Where, .run = run_Where };
