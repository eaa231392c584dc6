/* test_ops_elementwise.c — the elementwise ops (arithmetic, unary math, activations, Clip,
 * comparisons, logic, Where, Cast) on hand-built nodes with hand-computed answers. */
#include <float.h>
#include <stdint.h>

#include "op_harness.h"

/* ---- arithmetic ---- */

static void test_add_broadcast_3x1_1x4(void)
{
    tcase t = mk("Add", 2, 1);
    lp_tensor *in[2] = { F32(2, D(3, 1), 1, 2, 3), F32(2, D(1, 4), 10, 20, 30, 40) }, *y;
    CHECK_OK(eval(&t, 14, 2, in, 1, &y));
    CHECK(dims_are(y, 2, D(3, 4)));
    CHECK_F32S(y, 0, 11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43);
    done(&t, 2, in, 1, &y);
}

static void test_sub_scalar_and_rank_broadcast(void)
{
    tcase t = mk("Sub", 2, 1);
    lp_tensor *in[2] = { F32(0, NULL, 10), F32(2, D(2, 3), 1, 2, 3, 4, 5, 6) }, *y;
    CHECK_OK(eval(&t, 14, 2, in, 1, &y));
    CHECK(dims_are(y, 2, D(2, 3)));
    CHECK_F32S(y, 0, 9, 8, 7, 6, 5, 4);
    done(&t, 2, in, 1, &y);

    t = mk("Mul", 2, 1);
    lp_tensor *in2[2] = { F32(3, D(2, 1, 3), 1, 2, 3, 4, 5, 6), F32(1, D(3), 1, 10, 100) };
    CHECK_OK(eval(&t, 7, 2, in2, 1, &y));
    CHECK(dims_are(y, 3, D(2, 1, 3)));
    CHECK_F32S(y, 0, 1, 20, 300, 4, 50, 600);
    done(&t, 2, in2, 1, &y);
}

static void test_div_float_same_shape(void)
{
    tcase t = mk("Div", 2, 1);
    lp_tensor *in[2] = { F32(1, D(4), 1, -3, 0, 1), F32(1, D(4), 4, 2, 0, 0) }, *y;
    CHECK_OK(eval(&t, 14, 2, in, 1, &y));
    CHECK_F32S(y, 0, 0.25f, -1.5f, NAN, INFINITY);
    done(&t, 2, in, 1, &y);
}

static void test_int_arith_wraps_and_truncates(void)
{
    tcase t = mk("Div", 2, 1);
    lp_tensor *in[2] = { I32(1, D(5), -7, 7, 7, -8, INT32_MIN), I32(1, D(5), 2, -2, 0, 3, -1) }, *y;
    CHECK_OK(eval(&t, 14, 2, in, 1, &y));
    /* truncation toward zero; x / 0 gives 0 (NumPy); INT32_MIN / -1 wraps to itself */
    CHECK_INTS(y, LP_I32, -3, -3, 0, -2, INT32_MIN);
    done(&t, 2, in, 1, &y);

    t = mk("Add", 2, 1);
    lp_tensor *a8[2] = { mkt(LP_I8, 1, D(2), (const int8_t[]){ 127, -128 }),
                         mkt(LP_I8, 1, D(2), (const int8_t[]){ 1, -1 }) };
    CHECK_OK(eval(&t, 14, 2, a8, 1, &y));
    CHECK_INTS(y, LP_I8, -128, 127);
    done(&t, 2, a8, 1, &y);

    t = mk("Sub", 2, 1);
    lp_tensor *u8[2] = { mkt(LP_U8, 1, D(2), (const uint8_t[]){ 0, 200 }),
                         mkt(LP_U8, 0, NULL, (const uint8_t[]){ 1 }) };
    CHECK_OK(eval(&t, 14, 2, u8, 1, &y));
    CHECK_INTS(y, LP_U8, 255, 199);
    done(&t, 2, u8, 1, &y);

    /* int64 stays exact beyond 2^53, where a double path would round */
    t = mk("Mul", 2, 1);
    lp_tensor *i64[2] = { I64(1, D(2), (INT64_C(1) << 60) + 1, 3), I64(1, D(2), 1, -5) };
    CHECK_OK(eval(&t, 14, 2, i64, 1, &y));
    CHECK_INTS(y, LP_I64, (INT64_C(1) << 60) + 1, -15);
    done(&t, 2, i64, 1, &y);
}

static void test_pow_types(void)
{
    tcase t = mk("Pow", 2, 1);
    lp_tensor *in[2] = { F32(1, D(3), 1, 2, 3), I64(1, D(3), 4, 5, -1) }, *y;
    CHECK_OK(eval(&t, 15, 2, in, 1, &y));
    check_f32s(y, (const float[]){ 1, 32, 1.0f / 3 }, 3, 1e-7); /* pow rounded once: 0.5 ulp */
    done(&t, 2, in, 1, &y);

    /* integer base, float exponent: result keeps the base's type (conformance: 1, 32, 729) */
    t = mk("Pow", 2, 1);
    lp_tensor *in2[2] = { I32(1, D(3), 1, 2, 3), F32(1, D(3), 4, 5, 6) };
    CHECK_OK(eval(&t, 15, 2, in2, 1, &y));
    CHECK_INTS(y, LP_I32, 1, 32, 729);
    done(&t, 2, in2, 1, &y);

    t = mk("Pow", 2, 1);
    lp_tensor *in3[2] = { I64(1, D(4), 3, -2, 2, 5), I64(0, NULL, 3) };
    CHECK_OK(eval(&t, 15, 2, in3, 1, &y));
    CHECK_INTS(y, LP_I64, 27, -8, 8, 125);
    done(&t, 2, in3, 1, &y);

    /* before opset 12 the exponent must share the base's type */
    t = mk("Pow", 2, 1);
    lp_tensor *in4[2] = { F32(1, D(1), 2), I64(1, D(1), 2) };
    CHECK(eval(&t, 7, 2, in4, 1, &y) == LOWP_ERR_SHAPE);
    done(&t, 2, in4, 1, &y);
}

static void test_half_and_double_paths(void)
{
    /* float16 (1.5, 2) * (2, -0.25) = (3, -0.5): 0x3E00 * 0x4000 -> 0x4200, 0x4000 * 0xB400 -> 0xB800 */
    tcase t = mk("Mul", 2, 1);
    lp_tensor *in[2] = { mkt(LP_F16, 1, D(2), (const uint16_t[]){ 0x3E00, 0x4000 }),
                         mkt(LP_F16, 1, D(2), (const uint16_t[]){ 0x4000, 0xB400 }) }, *y;
    CHECK_OK(eval(&t, 14, 2, in, 1, &y));
    CHECK(y && y->dtype == LP_F16 && ((const uint16_t *)y->data)[0] == 0x4200 && ((const uint16_t *)y->data)[1] == 0xB800);
    done(&t, 2, in, 1, &y);

    t = mk("Sqrt", 1, 1);
    lp_tensor *in2[1] = { mkt(LP_F64, 1, D(2), (const double[]){ 2, 9 }) };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    CHECK(y && y->dtype == LP_F64 && ((const double *)y->data)[0] == sqrt(2.0) && ((const double *)y->data)[1] == 3);
    done(&t, 1, in2, 1, &y);
}

/* ---- unary math: float32 results rounded from double, so within 0.5 ulp (6e-8 relative);
 * the tolerance 1e-6 leaves room for libm's own last-bit differences. ---- */

static void check_unary(const char *op, double (*ref)(double))
{
    static const float xs[] = { 0.001f, 0.5f, 1.0f, 2.5f, 7.0f, 30.0f };
    tcase t = mk(op, 1, 1);
    lp_tensor *in[1] = { mkt(LP_F32, 1, D(6), xs) }, *y;
    CHECK_OK(eval(&t, 13, 1, in, 1, &y));
    float want[6];
    for (int i = 0; i < 6; i++)
        want[i] = (float)ref(xs[i]);
    check_f32s(y, want, 6, 1e-6);
    done(&t, 1, in, 1, &y);
}

static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_reciprocal(double x) { return 1 / x; }

static void test_unary_math(void)
{
    check_unary("Sqrt", sqrt);
    check_unary("Exp", exp);
    check_unary("Log", log);
    check_unary("Erf", erf);
    check_unary("Tanh", tanh);
    check_unary("Sigmoid", ref_sigmoid);
    check_unary("Reciprocal", ref_reciprocal);

    tcase t = mk("Log", 1, 1);
    lp_tensor *in[1] = { F32(1, D(3), 0, -1, 1) }, *y;
    CHECK_OK(eval(&t, 13, 1, in, 1, &y));
    CHECK_F32S(y, 0, -INFINITY, NAN, 0);
    done(&t, 1, in, 1, &y);

    t = mk("Sigmoid", 1, 1);
    lp_tensor *in2[1] = { F32(1, D(3), -1000, 0, 1000) };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    CHECK_F32S(y, 0, 0, 0.5f, 1);
    done(&t, 1, in2, 1, &y);
}

static void test_neg_abs_int_and_float(void)
{
    tcase t = mk("Neg", 1, 1);
    lp_tensor *in[1] = { I32(1, D(3), 5, -7, INT32_MIN) }, *y;
    CHECK_OK(eval(&t, 13, 1, in, 1, &y));
    CHECK_INTS(y, LP_I32, -5, 7, INT32_MIN);
    done(&t, 1, in, 1, &y);

    t = mk("Abs", 1, 1);
    lp_tensor *in2[1] = { F32(1, D(3), -2.5f, 0, 3) };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    CHECK_F32S(y, 0, 2.5f, 0, 3);
    done(&t, 1, in2, 1, &y);

    t = mk("Abs", 1, 1);
    lp_tensor *in3[1] = { I64(1, D(2), -(INT64_C(1) << 60) - 1, 4) };
    CHECK_OK(eval(&t, 13, 1, in3, 1, &y));
    CHECK_INTS(y, LP_I64, (INT64_C(1) << 60) + 1, 4);
    done(&t, 1, in3, 1, &y);
}

static void test_activations(void)
{
    tcase t = mk("Relu", 1, 1);
    lp_tensor *in[1] = { F32(1, D(4), -1, 0, 2, NAN) }, *y;
    CHECK_OK(eval(&t, 14, 1, in, 1, &y));
    CHECK_F32S(y, 0, 0, 0, 2, NAN);
    done(&t, 1, in, 1, &y);

    t = mk("Relu", 1, 1);
    lp_tensor *in_i[1] = { mkt(LP_I8, 1, D(3), (const int8_t[]){ -5, 0, 9 }) };
    CHECK_OK(eval(&t, 14, 1, in_i, 1, &y));
    CHECK_INTS(y, LP_I8, 0, 0, 9);
    done(&t, 1, in_i, 1, &y);

    t = mk("LeakyRelu", 1, 1);
    attr_float(&t, "alpha", 0.1f);
    lp_tensor *in2[1] = { F32(1, D(3), -2, 0, 3) };
    CHECK_OK(eval(&t, 16, 1, in2, 1, &y));
    check_f32s(y, (const float[]){ -0.2f, 0, 3 }, 3, 1e-7);
    done(&t, 1, in2, 1, &y);

    t = mk("LeakyRelu", 1, 1); /* default alpha 0.01 */
    lp_tensor *in3[1] = { F32(1, D(1), -100) };
    CHECK_OK(eval(&t, 16, 1, in3, 1, &y));
    check_f32s(y, (const float[]){ -1 }, 1, 1e-7);
    done(&t, 1, in3, 1, &y);

    /* conformance example: alpha 0.5, beta 0.6 on (-1, 0, 1) -> (0.1, 0.6, 1) */
    t = mk("HardSigmoid", 1, 1);
    attr_float(&t, "alpha", 0.5f);
    attr_float(&t, "beta", 0.6f);
    lp_tensor *in4[1] = { F32(1, D(3), -1, 0, 1) };
    CHECK_OK(eval(&t, 6, 1, in4, 1, &y));
    check_f32s(y, (const float[]){ 0.1f, 0.6f, 1 }, 3, 1e-6);
    done(&t, 1, in4, 1, &y);

    t = mk("HardSigmoid", 1, 1); /* defaults alpha 0.2, beta 0.5 */
    lp_tensor *in5[1] = { F32(1, D(3), -10, 1, 10) };
    CHECK_OK(eval(&t, 6, 1, in5, 1, &y));
    check_f32s(y, (const float[]){ 0, 0.7f, 1 }, 3, 1e-6);
    done(&t, 1, in5, 1, &y);

    /* HardSwish: x * clamp(x / 6 + 0.5, 0, 1) */
    t = mk("HardSwish", 1, 1);
    lp_tensor *in6[1] = { F32(1, D(4), -4, -1, 1, 4) };
    CHECK_OK(eval(&t, 14, 1, in6, 1, &y));
    check_f32s(y, (const float[]){ 0, -1.0f / 3, 2.0f / 3, 4 }, 4, 1e-6);
    done(&t, 1, in6, 1, &y);
}

/* ---- Clip ---- */

static void test_clip_inputs_and_attributes(void)
{
    tcase t = mk("Clip", 3, 1);
    lp_tensor *in[3] = { F32(1, D(5), -3, -1, 0, 4, NAN), F32(0, NULL, -1), F32(0, NULL, 2) }, *y;
    CHECK_OK(eval(&t, 13, 3, in, 1, &y));
    CHECK_F32S(y, 0, -1, -1, 0, 2, NAN);
    done(&t, 3, in, 1, &y);

    /* only max given (min omitted); int8 */
    t = mk("Clip", 3, 1);
    lp_tensor *in2[3] = { mkt(LP_I8, 1, D(3), (const int8_t[]){ -100, 5, 100 }), NULL,
                          mkt(LP_I8, 0, NULL, (const int8_t[]){ 10 }) };
    CHECK_OK(eval(&t, 13, 3, in2, 1, &y));
    CHECK_INTS(y, LP_I8, -100, 5, 10);
    done(&t, 3, in2, 1, &y);

    /* min > max: everything becomes max */
    t = mk("Clip", 3, 1);
    lp_tensor *in3[3] = { F32(1, D(3), -5, 0, 5), F32(0, NULL, 3), F32(0, NULL, 1) };
    CHECK_OK(eval(&t, 13, 3, in3, 1, &y));
    CHECK_F32S(y, 0, 1, 1, 1);
    done(&t, 3, in3, 1, &y);

    /* opset 6: attributes, the missing one defaulting to the float range */
    t = mk("Clip", 1, 1);
    attr_float(&t, "min", -0.5f);
    lp_tensor *in4[1] = { F32(1, D(3), -5, 0.25f, INFINITY) };
    CHECK_OK(eval(&t, 6, 1, in4, 1, &y));
    CHECK_F32S(y, 0, -0.5f, 0.25f, FLT_MAX);
    done(&t, 1, in4, 1, &y);

    /* no bounds at all (opset 13): identity */
    t = mk("Clip", 1, 1);
    lp_tensor *in5[1] = { I64(1, D(2), INT64_MIN, INT64_MAX) };
    CHECK_OK(eval(&t, 13, 1, in5, 1, &y));
    CHECK_INTS(y, LP_I64, INT64_MIN, INT64_MAX);
    done(&t, 1, in5, 1, &y);
}

/* ---- comparisons, logic, Where ---- */

static void test_compare(void)
{
    tcase t = mk("Equal", 2, 1);
    lp_tensor *in[2] = { I64(2, D(2, 2), INT64_MAX, 1, 2, 3), I64(1, D(2), INT64_MAX - 1, 1) }, *y;
    CHECK_OK(eval(&t, 13, 2, in, 1, &y));
    CHECK_INTS(y, LP_BOOL, 0, 1, 0, 0);
    done(&t, 2, in, 1, &y);

    t = mk("Less", 2, 1);
    lp_tensor *in2[2] = { F32(2, D(3, 1), 1, 2, NAN), F32(1, D(2), 2, 1) };
    CHECK_OK(eval(&t, 13, 2, in2, 1, &y));
    CHECK(dims_are(y, 2, D(3, 2)));
    CHECK_INTS(y, LP_BOOL, 1, 0, 0, 0, 0, 0);
    done(&t, 2, in2, 1, &y);

    t = mk("Greater", 2, 1);
    lp_tensor *in3[2] = { mkt(LP_U64, 1, D(2), (const uint64_t[]){ UINT64_MAX, 1 }),
                          mkt(LP_U64, 0, NULL, (const uint64_t[]){ 2 }) };
    CHECK_OK(eval(&t, 13, 2, in3, 1, &y));
    CHECK_INTS(y, LP_BOOL, 1, 0);
    done(&t, 2, in3, 1, &y);
}

static void test_not_and(void)
{
    tcase t = mk("Not", 1, 1);
    lp_tensor *in[1] = { BOOL(1, D(3), 1, 0, 1) }, *y;
    CHECK_OK(eval(&t, 1, 1, in, 1, &y));
    CHECK_INTS(y, LP_BOOL, 0, 1, 0);
    done(&t, 1, in, 1, &y);

    t = mk("And", 2, 1);
    lp_tensor *in2[2] = { BOOL(2, D(2, 1), 1, 0), BOOL(2, D(1, 3), 1, 0, 1) };
    CHECK_OK(eval(&t, 7, 2, in2, 1, &y));
    CHECK(dims_are(y, 2, D(2, 3)));
    CHECK_INTS(y, LP_BOOL, 1, 0, 1, 0, 0, 0);
    done(&t, 2, in2, 1, &y);

    t = mk("And", 2, 1);
    lp_tensor *in3[2] = { BOOL(1, D(1), 1), F32(1, D(1), 1) };
    CHECK(eval(&t, 7, 2, in3, 1, &y) == LOWP_ERR_SHAPE);
    done(&t, 2, in3, 1, &y);
}

static void test_where_three_way_broadcast(void)
{
    tcase t = mk("Where", 3, 1);
    lp_tensor *in[3] = { BOOL(2, D(2, 1), 1, 0), F32(1, D(3), 1, 2, 3), F32(0, NULL, -1) }, *y;
    CHECK_OK(eval(&t, 16, 3, in, 1, &y));
    CHECK(dims_are(y, 2, D(2, 3)));
    CHECK_F32S(y, 0, 1, 2, 3, -1, -1, -1);
    done(&t, 3, in, 1, &y);

    t = mk("Where", 3, 1);
    lp_tensor *in2[3] = { BOOL(1, D(2), 0, 1), I64(1, D(2), 1, 2), I64(1, D(2), 9, 8) };
    CHECK_OK(eval(&t, 16, 3, in2, 1, &y));
    CHECK_INTS(y, LP_I64, 9, 2);
    done(&t, 3, in2, 1, &y);
}

/* ---- Cast ---- */

static lp_tensor *cast_to(lp_tensor *x, lp_dtype to, lp_tensor **y_out)
{
    tcase t = mk("Cast", 1, 1);
    attr_int(&t, "to", to);
    lp_tensor *in[1] = { x };
    CHECK_OK(eval(&t, 13, 1, in, 1, y_out));
    lp_graph_free(t.g);
    return x;
}

static void test_cast_float_to_int(void)
{
    lp_tensor *y;
    lp_tensor *x = cast_to(F32(1, D(6), -1.7f, 2.9f, NAN, 1e10f, -1e10f, -0.5f), LP_I32, &y);
    CHECK_INTS(y, LP_I32, -1, 2, 0, INT32_MAX, INT32_MIN, 0); /* truncate, saturate, NaN -> 0 */
    lp_tensor_free(x);
    lp_tensor_free(y);

    x = cast_to(F32(1, D(3), 300, -5, 254.9f), LP_U8, &y);
    CHECK_INTS(y, LP_U8, 255, 0, 254);
    lp_tensor_free(x);
    lp_tensor_free(y);

    x = cast_to(F32(1, D(3), 0, -0.0f, NAN), LP_BOOL, &y);
    CHECK_INTS(y, LP_BOOL, 0, 0, 1);
    lp_tensor_free(x);
    lp_tensor_free(y);
}

static void test_cast_int_and_bool(void)
{
    lp_tensor *y;
    lp_tensor *x = cast_to(I32(1, D(3), 300, -1, 5), LP_I8, &y); /* wraps modulo 256 */
    CHECK_INTS(y, LP_I8, 44, -1, 5);
    lp_tensor_free(x);
    lp_tensor_free(y);

    x = cast_to(I64(1, D(2), -1, 2), LP_U64, &y);
    CHECK(y && ((const uint64_t *)y->data)[0] == UINT64_MAX && ((const uint64_t *)y->data)[1] == 2);
    lp_tensor_free(x);
    lp_tensor_free(y);

    x = cast_to(BOOL(1, D(2), 1, 0), LP_F32, &y);
    CHECK_F32S(y, 0, 1, 0);
    lp_tensor_free(x);
    lp_tensor_free(y);

    x = cast_to(I64(1, D(2), (INT64_C(1) << 40) + 1, -3), LP_F64, &y);
    CHECK(y && ((const double *)y->data)[0] == 1099511627777.0 && ((const double *)y->data)[1] == -3.0);
    lp_tensor_free(x);
    lp_tensor_free(y);
}

static void test_cast_half_types(void)
{
    lp_tensor *y;
    /* 1 + 2^-11 + 2^-40 lies just above the midpoint of float16's 1 and 1 + 2^-10: it must
     * round up (0x3C01). Rounding to float32 first would land on the midpoint and round to
     * even (0x3C00). */
    double d[2] = { 1.0 + ldexp(1, -11) + ldexp(1, -40), 65520.0 };
    lp_tensor *x = cast_to(mkt(LP_F64, 1, D(2), d), LP_F16, &y);
    CHECK(y && ((const uint16_t *)y->data)[0] == 0x3C01);
    CHECK(y && ((const uint16_t *)y->data)[1] == 0x7C00); /* 65520 rounds to inf */
    lp_tensor_free(x);
    lp_tensor_free(y);

    x = cast_to(F32(1, D(2), 1.0f, -2.0f), LP_BF16, &y);
    CHECK(y && ((const uint16_t *)y->data)[0] == 0x3F80 && ((const uint16_t *)y->data)[1] == 0xC000);
    lp_tensor *z;
    cast_to(y, LP_F32, &z);
    CHECK_F32S(z, 0, 1, -2);
    lp_tensor_free(x);
    lp_tensor_free(y);
    lp_tensor_free(z);

    x = cast_to(mkt(LP_F16, 1, D(2), (const uint16_t[]){ 0x3555, 0xFC00 }), LP_F64, &y);
    CHECK(y && ((const double *)y->data)[0] == 0.333251953125 && ((const double *)y->data)[1] == -INFINITY);
    lp_tensor_free(x);
    lp_tensor_free(y);
}

/* ---- infer: unknowns, symbols, and definite errors ---- */

static void test_infer_symbolic_and_unknown(void)
{
    tcase t = mk("Add", 2, 1);
    int64_t sym_n;
    CHECK_OK(lp_graph_sym(t.g, "N", &sym_n));
    lp_vinfo a = { .dtype = LP_F32, .shape = { 2, { sym_n, 1 } } };
    lp_vinfo b = { .dtype = LOWP_UNDEFINED, .shape = { 2, { 1, 4 } } };
    const lp_vinfo *in[2] = { &a, &b };
    lp_vinfo out = { 0 };
    lp_infer_ctx c = { .node = t.node, .opset = 14, .n_in = 2, .n_out = 1, .in = in, .out = &out };
    CHECK_OK(lp_opdef_Add.infer(&c));
    CHECK(out.dtype == LP_F32 && out.shape.ndim == 2 && out.shape.d[0] == sym_n && out.shape.d[1] == 4);

    /* an unknown dim against a known one takes the known; an unknown rank gives an unknown rank */
    a.shape = (lp_shape){ 1, { LP_DIM_UNKNOWN } };
    b.shape = (lp_shape){ 2, { 3, 5 } };
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_Add.infer(&c));
    CHECK(out.shape.ndim == 2 && out.shape.d[0] == 3 && out.shape.d[1] == 5);
    b.shape.ndim = -1;
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_Add.infer(&c));
    CHECK(out.shape.ndim == -1);

    /* Where: symbolic dims through three inputs, output bool for comparisons */
    lp_vinfo cnd = { .dtype = LP_BOOL, .shape = { 1, { sym_n } } };
    a.shape = (lp_shape){ 2, { 7, 1 } };
    b = (lp_vinfo){ .dtype = LP_F32, .shape = { 0, { 0 } } };
    const lp_vinfo *in3[3] = { &cnd, &a, &b };
    lp_infer_ctx c3 = { .node = t.node, .opset = 16, .n_in = 3, .n_out = 1, .in = in3, .out = &out };
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_Where.infer(&c3));
    CHECK(out.dtype == LP_F32 && out.shape.ndim == 2 && out.shape.d[0] == 7 && out.shape.d[1] == sym_n);
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_Less.infer(&c));
    CHECK(out.dtype == LP_BOOL);

    /* unary ops copy symbolic shapes */
    lp_vinfo u = { .dtype = LP_F32, .shape = { 3, { sym_n, LP_DIM_UNKNOWN, 2 } } };
    const lp_vinfo *in1[1] = { &u };
    lp_infer_ctx c1 = { .node = t.node, .opset = 13, .n_in = 1, .n_out = 1, .in = in1, .out = &out };
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_Tanh.infer(&c1));
    CHECK(out.shape.ndim == 3 && out.shape.d[0] == sym_n && out.shape.d[1] == LP_DIM_UNKNOWN && out.shape.d[2] == 2);
    lp_graph_free(t.g);
}

static void test_infer_errors_name_the_node(void)
{
    lp_tensor *y;
    tcase t = mk("Add", 2, 1);
    lp_tensor *in[2] = { F32(1, D(3), 1, 2, 3), F32(1, D(4), 1, 2, 3, 4) };
    CHECK(eval(&t, 14, 2, in, 1, &y) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "n0") != NULL);
    done(&t, 2, in, 1, &y);

    t = mk("Add", 2, 1);
    lp_tensor *in2[2] = { F32(1, D(1), 1), I32(1, D(1), 1) };
    CHECK(eval(&t, 14, 2, in2, 1, &y) == LOWP_ERR_SHAPE);
    done(&t, 2, in2, 1, &y);

    t = mk("Sqrt", 1, 1);
    lp_tensor *in3[1] = { I32(1, D(1), 4) };
    CHECK(eval(&t, 13, 1, in3, 1, &y) == LOWP_ERR_SHAPE);
    done(&t, 1, in3, 1, &y);

    t = mk("Cast", 1, 1);
    attr_int(&t, "to", LP_STRING);
    lp_tensor *in4[1] = { F32(1, D(1), 4) };
    CHECK(eval(&t, 13, 1, in4, 1, &y) == LOWP_ERR_UNSUPPORTED);
    done(&t, 1, in4, 1, &y);

    t = mk("Cast", 1, 1); /* no 'to' */
    lp_tensor *in5[1] = { F32(1, D(1), 4) };
    CHECK(eval(&t, 13, 1, in5, 1, &y) != LP_OK);
    done(&t, 1, in5, 1, &y);

    /* run with an output that does not fit the inputs: an error, not a crash */
    t = mk("Mul", 2, 1);
    lp_tensor *a = F32(1, D(3), 1, 2, 3), *b = F32(1, D(3), 1, 2, 3), *bad = F32(1, D(2), 0, 0);
    const lp_tensor *rin[2] = { a, b };
    lp_tensor *rout[1] = { bad };
    lp_run_ctx rc = { .node = t.node, .opset = 14, .n_in = 2, .n_out = 1, .in = rin, .out = rout };
    CHECK(lp_opdef_Mul.run(&rc) == LOWP_ERR_SHAPE);
    lp_tensor_free(a);
    lp_tensor_free(b);
    lp_tensor_free(bad);
    lp_graph_free(t.g);
}

int main(void)
{
    RUN(test_add_broadcast_3x1_1x4);
    RUN(test_sub_scalar_and_rank_broadcast);
    RUN(test_div_float_same_shape);
    RUN(test_int_arith_wraps_and_truncates);
    RUN(test_pow_types);
    RUN(test_half_and_double_paths);
    RUN(test_unary_math);
    RUN(test_neg_abs_int_and_float);
    RUN(test_activations);
    RUN(test_clip_inputs_and_attributes);
    RUN(test_compare);
    RUN(test_not_and);
    RUN(test_where_three_way_broadcast);
    RUN(test_cast_float_to_int);
    RUN(test_cast_int_and_bool);
    RUN(test_cast_half_types);
    RUN(test_infer_symbolic_and_unknown);
    RUN(test_infer_errors_name_the_node);
    return TEST_SUMMARY("test_ops_elementwise");
}
