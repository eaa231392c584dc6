/* elementwise.c — arithmetic with broadcasting (Add, Sub, Mul, Div, Pow), unary math,
 * activations and Clip. Comparisons, logic and Where live in elementwise_logic.c, Cast in
 * elementwise_cast.c.
 *
 * Float types compute in double and round once on store (lp_ew_setd); for + - * / on float32
 * that equals float32 arithmetic exactly. Integer types compute in int64 and wrap modulo
 * 2^bits on store, as NumPy does; integer Div truncates toward zero (ONNX Runtime, and
 * NumPy's (a / b).astype). */
#include <float.h>
#include <math.h>

#include "ops/elementwise_util.h"

#define UNARY_IO .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1

/* Fails unless t is unknown or a numeric type other than bool: arithmetic takes numbers. */
static lp_status check_number(const lp_node *node, lp_dtype t, const char *what)
{
    LP_TRY(lp_ew_check_dtype(node, t, false, what));
    if (t == LP_BOOL)
        return lp_node_error(node, LOWP_ERR_SHAPE, "%s is bool, expected a number", what);
    return LP_OK;
}

/* ---- binary arithmetic ---- */

/* BIN_MOD: the remainder takes the divisor's sign (Python's %, Mod fmod=0); BIN_FMOD: the
 * dividend's (C's fmod and %, Mod fmod=1). */
typedef enum bin_op { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MOD, BIN_FMOD } bin_op;

static double arith_f64(bin_op op, double a, double b)
{
    switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    case BIN_POW: return pow(a, b);
    case BIN_FMOD: return fmod(a, b);
    case BIN_MOD: {
        double r = fmod(a, b);
        return r != 0 && (r < 0) != (b < 0) ? r + b : r;
    }
    }
    return 0;
}

/* base^e wrapping modulo 2^64; a negative e gives the truncated 1 / base^|e|. */
static int64_t int_pow(int64_t base, int64_t e)
{
    if (e < 0)
        return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    for (; e; e >>= 1, b *= b)
        if (e & 1)
            r *= b;
    return (int64_t)r;
}

/* Integer a op b in wrapping arithmetic (unsigned, so that overflow is defined). `t` is the
 * dtype a and b were read from (uint64 divides unsigned). */
static int64_t arith_int(bin_op op, lp_dtype t, int64_t a, int64_t b)
{
    switch (op) {
    case BIN_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
    case BIN_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
    case BIN_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
    case BIN_DIV:
        if (b == 0)
            return 0; /* NumPy's answer; in C it would be undefined */
        if (t == LP_U64)
            return (int64_t)((uint64_t)a / (uint64_t)b);
        if (b == -1)
            return (int64_t)(0 - (uint64_t)a); /* INT64_MIN / -1 wraps */
        return a / b;
    case BIN_POW: return int_pow(a, b);
    case BIN_MOD:
    case BIN_FMOD: {
        if (b == 0)
            return 0; /* NumPy's answer; in C it would be undefined */
        if (t == LP_U64)
            return (int64_t)((uint64_t)a % (uint64_t)b);
        if (b == -1)
            return 0; /* INT64_MIN % -1 would trap */
        int64_t r = a % b;
        return op == BIN_MOD && r != 0 && (r < 0) != (b < 0) ? r + b : r;
    }
    }
    return 0;
}

/* y = a op b, all float32: plain loops when nothing broadcasts, the iterator otherwise. */
static void arith_f32(bin_op op, const lp_tensor *A, const lp_tensor *B, lp_tensor *Y, lp_ew_iter *it)
{
    const float *a = A->data, *b = B->data;
    float *y = Y->data;
    int64_t n = lp_tensor_numel(Y);
    if (lp_tensor_numel(A) == n && lp_tensor_numel(B) == n) {
        switch (op) {
        case BIN_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; return;
        case BIN_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; return;
        case BIN_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; return;
        case BIN_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i]; return;
        case BIN_POW:
        case BIN_MOD:
        case BIN_FMOD: break;
        }
    }
    for (int64_t i = 0; i < n; i++, lp_ew_iter_next(it))
        y[i] = (float)arith_f64(op, a[it->off[0]], b[it->off[1]]);
}

/* a: any shape, b: any shape, y: their broadcast; y has a's dtype (Pow: b may differ). */
static lp_status run_binary(const lp_run_ctx *c, bin_op op)
{
    const lp_tensor *a = c->in[0], *b = c->in[1];
    lp_tensor *y = c->out[0];
    if (a->dtype != y->dtype || (op != BIN_POW && b->dtype != a->dtype))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "dtypes %s, %s -> %s do not match",
                             lp_dtype_traits_of(a->dtype)->name, lp_dtype_traits_of(b->dtype)->name,
                             lp_dtype_traits_of(y->dtype)->name);
    lp_ew_iter it;
    LP_TRY(lp_ew_iter_bcast(&it, c->node, y, 2, c->in));
    int64_t n = lp_tensor_numel(y);
    const lp_dtype_traits *ta = lp_dtype_traits_of(a->dtype), *tb = lp_dtype_traits_of(b->dtype);

    if (a->dtype == LP_F32 && b->dtype == LP_F32) {
        arith_f32(op, a, b, y, &it);
    } else if (lp_ew_is_float(y->dtype)) {
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it))
            lp_ew_setd(y, i, arith_f64(op, ta->get(a->data, it.off[0]), tb->get(b->data, it.off[1])));
    } else if (lp_ew_is_float(b->dtype)) {
        /* Pow of an integer base by a float exponent: NumPy's power(a, b).astype(a.dtype) */
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it))
            lp_ew_setd(y, i, pow(lp_ew_int_to_double(a->dtype, lp_ew_geti(a, it.off[0])),
                                 tb->get(b->data, it.off[1])));
    } else {
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it))
            lp_ew_seti(y, i, arith_int(op, a->dtype, lp_ew_geti(a, it.off[0]), lp_ew_geti(b, it.off[1])));
    }
    return LP_OK;
}

static lp_status infer_arith(lp_infer_ctx *c)
{
    lp_dtype dt;
    LP_TRY(lp_ew_same_dtype(c, 0, 2, &dt));
    LP_TRY(check_number(c->node, dt, "input 0"));
    return lp_ew_infer_bcast(c, 2, dt);
}

/* Pow: opset 12 lets the exponent have its own numeric type; the result has the base's. */
static lp_status infer_pow(lp_infer_ctx *c)
{
    lp_dtype base = c->in[0]->dtype, ex = c->in[1]->dtype;
    LP_TRY(check_number(c->node, base, "the base"));
    LP_TRY(check_number(c->node, ex, "the exponent"));
    if (c->opset < 12) {
        lp_dtype dt;
        LP_TRY(lp_ew_same_dtype(c, 0, 2, &dt));
    }
    return lp_ew_infer_bcast(c, 2, base);
}

#define BINARY_OP(Name, OP, INFER)                                                       \
    static lp_status run_##Name(const lp_run_ctx *c) { return run_binary(c, OP); }       \
    const lp_op_def lp_opdef_##Name = { .name = #Name, .min_in = 2, .max_in = 2, .min_out = 1, \
                                        .max_out = 1, .infer = INFER, .run = run_##Name };

BINARY_OP(Add, BIN_ADD, infer_arith)
BINARY_OP(Sub, BIN_SUB, infer_arith)
BINARY_OP(Mul, BIN_MUL, infer_arith)
BINARY_OP(Div, BIN_DIV, infer_arith)
BINARY_OP(Pow, BIN_POW, infer_pow)

static lp_status run_Mod(const lp_run_ctx *c)
{
    return run_binary(c, lp_attr_int(c->node, "fmod", 0) ? BIN_FMOD : BIN_MOD);
}
const lp_op_def lp_opdef_Mod = { .name = "Mod", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                 .infer = infer_arith, .run = run_Mod };

/* Before opset 7, a 1-D slope of X's channel count (dim 1) applies per channel, as if its
 * shape were (C, 1, ..., 1). */
static bool prelu_legacy_channels(int64_t opset, int x_nd, const int64_t *x_dims, int s_nd, const int64_t *s_dims)
{
    return opset < 7 && x_nd > 2 && s_nd == 1 && s_dims[0] == x_dims[1] && s_dims[0] != 1;
}

/* x: any shape; slope: broadcastable to x (unidirectionally); y: x's shape and dtype. */
static lp_status run_PRelu(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *slope = c->in[1];
    lp_tensor *y = c->out[0];
    lp_tensor per_channel;
    if (prelu_legacy_channels(c->opset, x->ndim, x->dims, slope->ndim, slope->dims)) {
        per_channel = *slope; /* a view with trailing 1 dims; never freed */
        per_channel.ndim = x->ndim - 1;
        for (int k = 1; k < per_channel.ndim; k++)
            per_channel.dims[k] = 1;
        slope = &per_channel;
    }
    const lp_tensor *xs[2] = { x, slope };
    if (x->dtype != slope->dtype || y->dtype != x->dtype || lp_tensor_numel(y) != lp_tensor_numel(x))
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "X, slope and Y must share a dtype and Y X's shape");
    lp_ew_iter it;
    LP_TRY(lp_ew_iter_bcast(&it, c->node, y, 2, xs));
    int64_t n = lp_tensor_numel(y);
    if (lp_ew_is_float(x->dtype)) {
        const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
            double v = t->get(x->data, it.off[0]);
            lp_ew_setd(y, i, v < 0 ? v * t->get(slope->data, it.off[1]) : v);
        }
    } else {
        for (int64_t i = 0; i < n; i++, lp_ew_iter_next(&it)) {
            int64_t v = lp_ew_geti(x, it.off[0]);
            lp_ew_seti(y, i, x->dtype != LP_U64 && v < 0 ? arith_int(BIN_MUL, x->dtype, v, lp_ew_geti(slope, it.off[1])) : v);
        }
    }
    return LP_OK;
}

static lp_status infer_PRelu(lp_infer_ctx *c)
{
    const lp_shape *xs = &c->in[0]->shape, *ss = &c->in[1]->shape;
    if (prelu_legacy_channels(c->opset, xs->ndim, xs->d, ss->ndim, ss->d)) {
        c->out[0].dtype = c->in[0]->dtype;
        c->out[0].shape = *xs;
        return LP_OK;
    }
    LP_TRY(infer_arith(c));
    const lp_shape *x = &c->in[0]->shape, *y = &c->out[0].shape;
    if (x->ndim >= 0 && y->ndim >= 0 && y->ndim != x->ndim)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "slope has more dims than X (it must broadcast to X)");
    c->out[0].shape = *x;
    return LP_OK;
}
const lp_op_def lp_opdef_PRelu = { .name = "PRelu", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                   .infer = infer_PRelu, .run = run_PRelu };

/* ---- unary math and activations ---- */

/* One element of a float type, computed in double; p: the op's attributes (alpha, beta). */
typedef double (*unary_fn)(double x, const double *p);
/* One element of an integer type (t: its dtype, for uint64); NULL for float-only ops. */
typedef int64_t (*unary_int_fn)(int64_t x, lp_dtype t);

/* x: any shape, y: the same shape and dtype. */
static lp_status run_unary(const lp_run_ctx *c, unary_fn f, unary_int_fn fi, const double *p)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t n = lp_tensor_numel(x);
    if (y->dtype != x->dtype || lp_tensor_numel(y) != n)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output does not match the input's dtype and size");
    if (x->dtype == LP_F32) {
        const float *xs = x->data;
        float *ys = y->data;
        for (int64_t i = 0; i < n; i++)
            ys[i] = (float)f(xs[i], p);
    } else if (lp_ew_is_float(x->dtype)) {
        const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
        for (int64_t i = 0; i < n; i++)
            lp_ew_setd(y, i, f(t->get(x->data, i), p));
    } else if (fi && x->dtype != LP_BOOL) {
        for (int64_t i = 0; i < n; i++)
            lp_ew_seti(y, i, fi(lp_ew_geti(x, i), x->dtype));
    } else {
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported",
                             lp_dtype_traits_of(x->dtype)->name);
    }
    return LP_OK;
}

static lp_status infer_unary(lp_infer_ctx *c, bool float_only)
{
    const lp_vinfo *x = c->in[0];
    if (float_only)
        LP_TRY(lp_ew_check_dtype(c->node, x->dtype, true, "input 0"));
    else
        LP_TRY(check_number(c->node, x->dtype, "input 0"));
    c->out[0].dtype = x->dtype;
    c->out[0].shape = x->shape;
    return LP_OK;
}

static lp_status infer_unary_float(lp_infer_ctx *c) { return infer_unary(c, true); }
static lp_status infer_unary_number(lp_infer_ctx *c) { return infer_unary(c, false); }

static double f_sqrt(double x, const double *p) { (void)p; return sqrt(x); }
static double f_exp(double x, const double *p) { (void)p; return exp(x); }
static double f_log(double x, const double *p) { (void)p; return log(x); }
static double f_neg(double x, const double *p) { (void)p; return -x; }
static double f_abs(double x, const double *p) { (void)p; return fabs(x); }
static double f_reciprocal(double x, const double *p) { (void)p; return 1.0 / x; }
static double f_erf(double x, const double *p) { (void)p; return erf(x); }
static double f_tanh(double x, const double *p) { (void)p; return tanh(x); }
static double f_sigmoid(double x, const double *p) { (void)p; return 1.0 / (1.0 + exp(-x)); }
/* NaN passes through the comparisons below, as through NumPy's clip and maximum. */
static double f_relu(double x, const double *p) { (void)p; return x < 0 ? 0.0 : x; }
static double f_leaky_relu(double x, const double *p) { return x < 0 ? p[0] * x : x; }
/* max(0, min(1, alpha * x + beta)) */
static double f_hard_sigmoid(double x, const double *p)
{
    double v = p[0] * x + p[1];
    return v < 0 ? 0.0 : v > 1 ? 1.0 : v;
}
static double f_hard_swish(double x, const double *p)
{
    (void)p;
    return x * f_hard_sigmoid(x, (const double[]){ 1.0 / 6.0, 0.5 });
}

static double f_floor(double x, const double *p) { (void)p; return floor(x); }
static double f_ceil(double x, const double *p) { (void)p; return ceil(x); }
/* Ties to even (the default rounding mode), as ONNX and NumPy's round. */
static double f_round(double x, const double *p) { (void)p; return nearbyint(x); }
static double f_sign(double x, const double *p) { (void)p; return x > 0 ? 1.0 : x < 0 ? -1.0 : x; } /* 0, -0, NaN */
static double f_sin(double x, const double *p) { (void)p; return sin(x); }
static double f_cos(double x, const double *p) { (void)p; return cos(x); }
static double f_tan(double x, const double *p) { (void)p; return tan(x); }
static double f_asin(double x, const double *p) { (void)p; return asin(x); }
static double f_acos(double x, const double *p) { (void)p; return acos(x); }
static double f_atan(double x, const double *p) { (void)p; return atan(x); }
static double f_sinh(double x, const double *p) { (void)p; return sinh(x); }
static double f_cosh(double x, const double *p) { (void)p; return cosh(x); }
static double f_asinh(double x, const double *p) { (void)p; return asinh(x); }
static double f_acosh(double x, const double *p) { (void)p; return acosh(x); }
static double f_atanh(double x, const double *p) { (void)p; return atanh(x); }
static double f_softsign(double x, const double *p) { (void)p; return x / (1.0 + fabs(x)); }
/* log(1 + exp(x)) without overflowing exp for large x. */
static double f_softplus(double x, const double *p) { (void)p; return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double f_elu(double x, const double *p) { return x < 0 ? p[0] * expm1(x) : x; }
/* p: alpha, gamma */
static double f_selu(double x, const double *p) { return x <= 0 ? p[1] * p[0] * expm1(x) : p[1] * x; }
static double f_celu(double x, const double *p) { return x > 0 ? x : p[0] * expm1(x / p[0]); }
static double f_thresholded_relu(double x, const double *p) { return x > p[0] ? x : 0.0; }
/* p: bias, lambd */
static double f_shrink(double x, const double *p) { return x < -p[1] ? x + p[0] : x > p[1] ? x - p[0] : 0.0; }

static int64_t i_sign(int64_t x, lp_dtype t) { return x == 0 ? 0 : (t != LP_U64 && x < 0) ? -1 : 1; }
static int64_t i_neg(int64_t x, lp_dtype t) { (void)t; return (int64_t)(0 - (uint64_t)x); }
static int64_t i_abs(int64_t x, lp_dtype t) { return t == LP_U64 || x >= 0 ? x : i_neg(x, t); }
static int64_t i_relu(int64_t x, lp_dtype t) { return t == LP_U64 || x >= 0 ? x : 0; }

#define UNARY_OP(Name, F, FI, INFER)                                                     \
    static lp_status run_##Name(const lp_run_ctx *c) { return run_unary(c, F, FI, NULL); } \
    const lp_op_def lp_opdef_##Name = { .name = #Name, UNARY_IO, .infer = INFER, .run = run_##Name };

UNARY_OP(Sqrt, f_sqrt, NULL, infer_unary_float)
UNARY_OP(Exp, f_exp, NULL, infer_unary_float)
UNARY_OP(Log, f_log, NULL, infer_unary_float)
UNARY_OP(Neg, f_neg, i_neg, infer_unary_number)
UNARY_OP(Abs, f_abs, i_abs, infer_unary_number)
UNARY_OP(Reciprocal, f_reciprocal, NULL, infer_unary_float)
UNARY_OP(Erf, f_erf, NULL, infer_unary_float)
UNARY_OP(Tanh, f_tanh, NULL, infer_unary_float)
UNARY_OP(Sigmoid, f_sigmoid, NULL, infer_unary_float)
UNARY_OP(HardSwish, f_hard_swish, NULL, infer_unary_float)
UNARY_OP(Relu, f_relu, i_relu, infer_unary_number)
UNARY_OP(Floor, f_floor, NULL, infer_unary_float)
UNARY_OP(Ceil, f_ceil, NULL, infer_unary_float)
UNARY_OP(Round, f_round, NULL, infer_unary_float)
UNARY_OP(Sign, f_sign, i_sign, infer_unary_number)
UNARY_OP(Sin, f_sin, NULL, infer_unary_float)
UNARY_OP(Cos, f_cos, NULL, infer_unary_float)
UNARY_OP(Tan, f_tan, NULL, infer_unary_float)
UNARY_OP(Asin, f_asin, NULL, infer_unary_float)
UNARY_OP(Acos, f_acos, NULL, infer_unary_float)
UNARY_OP(Atan, f_atan, NULL, infer_unary_float)
UNARY_OP(Sinh, f_sinh, NULL, infer_unary_float)
UNARY_OP(Cosh, f_cosh, NULL, infer_unary_float)
UNARY_OP(Asinh, f_asinh, NULL, infer_unary_float)
UNARY_OP(Acosh, f_acosh, NULL, infer_unary_float)
UNARY_OP(Atanh, f_atanh, NULL, infer_unary_float)
UNARY_OP(Softsign, f_softsign, NULL, infer_unary_float)
UNARY_OP(Softplus, f_softplus, NULL, infer_unary_float)

/* Unary ops with float attributes: ATTR_OP(Name, f, infer, {attr, default}...) reads the
 * attributes into p[] in order. */
typedef struct unary_attr { const char *name; float dflt; } unary_attr;

static lp_status run_unary_attrs(const lp_run_ctx *c, unary_fn f, int n, const unary_attr *a)
{
    double p[4];
    for (int i = 0; i < n && i < 4; i++)
        p[i] = lp_attr_float(c->node, a[i].name, a[i].dflt);
    return run_unary(c, f, NULL, p);
}

#define ATTR_OP(Name, F, INFER, ...)                                                     \
    static lp_status run_##Name(const lp_run_ctx *c)                                     \
    {                                                                                    \
        static const unary_attr a[] = { __VA_ARGS__ };                                   \
        return run_unary_attrs(c, F, (int)(sizeof a / sizeof a[0]), a);                  \
    }                                                                                    \
    const lp_op_def lp_opdef_##Name = { .name = #Name, UNARY_IO, .infer = INFER, .run = run_##Name };

ATTR_OP(Elu, f_elu, infer_unary_float, { "alpha", 1.0f })
ATTR_OP(Selu, f_selu, infer_unary_float, { "alpha", 1.67326319217681884765625f }, { "gamma", 1.05070102214813232421875f })
ATTR_OP(Celu, f_celu, infer_unary_float, { "alpha", 1.0f })
ATTR_OP(ThresholdedRelu, f_thresholded_relu, infer_unary_float, { "alpha", 1.0f })

/* Shrink takes every numeric type: integers go through double (exact below 2^53). */
static lp_status run_Shrink(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    double p[2] = { lp_attr_float(c->node, "bias", 0.0f), lp_attr_float(c->node, "lambd", 0.5f) };
    if (lp_ew_is_float(x->dtype))
        return run_unary(c, f_shrink, NULL, p);
    int64_t n = lp_tensor_numel(x);
    if (y->dtype != x->dtype || lp_tensor_numel(y) != n || !lp_ew_is_int(x->dtype) || x->dtype == LP_BOOL)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output does not match the input's dtype and size");
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    for (int64_t i = 0; i < n; i++)
        t->set(y->data, i, f_shrink(t->get(x->data, i), p));
    return LP_OK;
}
const lp_op_def lp_opdef_Shrink = { .name = "Shrink", UNARY_IO, .infer = infer_unary_number, .run = run_Shrink };

/* ---- IsNaN, IsInf: float -> bool ---- */

static lp_status run_float_test(const lp_run_ctx *c, bool want_nan)
{
    const lp_tensor *x = c->in[0];
    lp_tensor *y = c->out[0];
    int64_t n = lp_tensor_numel(x);
    if (!lp_ew_is_float(x->dtype) || y->dtype != LP_BOOL || lp_tensor_numel(y) != n)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "expected a float input and a bool output of its size");
    bool neg = lp_attr_int(c->node, "detect_negative", 1) != 0, pos = lp_attr_int(c->node, "detect_positive", 1) != 0;
    const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
    uint8_t *ys = y->data;
    for (int64_t i = 0; i < n; i++) {
        double v = t->get(x->data, i);
        ys[i] = want_nan ? isnan(v) : isinf(v) && (v > 0 ? pos : neg);
    }
    return LP_OK;
}

static lp_status infer_float_test(lp_infer_ctx *c)
{
    LP_TRY(lp_ew_check_dtype(c->node, c->in[0]->dtype, true, "input 0"));
    c->out[0].dtype = LP_BOOL;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

static lp_status run_IsNaN(const lp_run_ctx *c) { return run_float_test(c, true); }
static lp_status run_IsInf(const lp_run_ctx *c) { return run_float_test(c, false); }
const lp_op_def lp_opdef_IsNaN = { .name = "IsNaN", UNARY_IO, .infer = infer_float_test, .run = run_IsNaN };
const lp_op_def lp_opdef_IsInf = { .name = "IsInf", UNARY_IO, .infer = infer_float_test, .run = run_IsInf };

static lp_status run_HardSigmoid(const lp_run_ctx *c)
{
    double p[2] = { lp_attr_float(c->node, "alpha", 0.2f), lp_attr_float(c->node, "beta", 0.5f) };
    return run_unary(c, f_hard_sigmoid, NULL, p);
}
const lp_op_def lp_opdef_HardSigmoid = { .name = "HardSigmoid", UNARY_IO, .infer = infer_unary_float,
                                         .run = run_HardSigmoid };

static lp_status run_LeakyRelu(const lp_run_ctx *c)
{
    double p[1] = { lp_attr_float(c->node, "alpha", 0.01f) };
    return run_unary(c, f_leaky_relu, NULL, p);
}
const lp_op_def lp_opdef_LeakyRelu = { .name = "LeakyRelu", UNARY_IO, .infer = infer_unary_float,
                                       .run = run_LeakyRelu };

/* ---- Clip ---- */

/* Clip's bounds: opset < 11 the float attributes min/max (defaulting to the float range);
 * from 11 the optional scalar inputs 1 and 2. A bound above `max` wins: min is applied first. */
static lp_status clip_bound(const lp_run_ctx *c, int k, const lp_tensor **out)
{
    *out = NULL;
    if (c->opset < 11 || k >= c->n_in || !c->in[k])
        return LP_OK;
    const lp_tensor *b = c->in[k];
    if (b->dtype != c->in[0]->dtype || lp_tensor_numel(b) != 1)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "input %d must be a single %s, got %s with %lld values",
                             k, lp_dtype_traits_of(c->in[0]->dtype)->name, lp_dtype_traits_of(b->dtype)->name,
                             (long long)lp_tensor_numel(b));
    *out = b;
    return LP_OK;
}

/* x: any shape; y: the same. */
static lp_status run_Clip(const lp_run_ctx *c)
{
    const lp_tensor *x = c->in[0], *min_t, *max_t;
    lp_tensor *y = c->out[0];
    int64_t n = lp_tensor_numel(x);
    LP_TRY(clip_bound(c, 1, &min_t));
    LP_TRY(clip_bound(c, 2, &max_t));
    if (y->dtype != x->dtype || lp_tensor_numel(y) != n)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output does not match the input's dtype and size");

    if (lp_ew_is_float(x->dtype)) {
        const lp_dtype_traits *t = lp_dtype_traits_of(x->dtype);
        double lo = -INFINITY, hi = INFINITY;
        if (c->opset < 11) {
            lo = lp_attr_float(c->node, "min", -FLT_MAX);
            hi = lp_attr_float(c->node, "max", FLT_MAX);
        }
        if (min_t)
            lo = t->get(min_t->data, 0);
        if (max_t)
            hi = t->get(max_t->data, 0);
        for (int64_t i = 0; i < n; i++) {
            double v = t->get(x->data, i); /* NaN stays NaN */
            v = v < lo ? lo : v;
            t->set(y->data, i, v > hi ? hi : v);
        }
    } else if (lp_ew_is_int(x->dtype) && x->dtype != LP_BOOL) {
        lp_dtype dt = x->dtype;
        int64_t lo = min_t ? lp_ew_geti(min_t, 0) : 0, hi = max_t ? lp_ew_geti(max_t, 0) : 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = lp_ew_geti(x, i);
            if (min_t && lp_ew_int_less(dt, v, lo))
                v = lo;
            if (max_t && lp_ew_int_less(dt, hi, v))
                v = hi;
            lp_ew_seti(y, i, v);
        }
    } else {
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "dtype %s is not supported",
                             lp_dtype_traits_of(x->dtype)->name);
    }
    return LP_OK;
}

static lp_status infer_Clip(lp_infer_ctx *c)
{
    lp_dtype dt;
    LP_TRY(lp_ew_same_dtype(c, 0, 3, &dt));
    LP_TRY(lp_ew_check_dtype(c->node, dt, c->opset < 12, "input 0"));
    LP_TRY(check_number(c->node, dt, "input 0"));
    for (int k = 1; k < c->n_in; k++) {
        const lp_shape *s = c->in[k] ? &c->in[k]->shape : NULL;
        if (s && lp_shape_static(s) && lp_numel(s->ndim, s->d) != 1)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "input %d (a bound) must be a scalar", k);
    }
    c->out[0].dtype = dt;
    c->out[0].shape = c->in[0]->shape;
    return LP_OK;
}

const lp_op_def lp_opdef_Clip = { .name = "Clip", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 1,
                                  .infer = infer_Clip, .run = run_Clip };
