/* test_ops_math.c — the ops added for ONNX coverage (variadic Max/Min/Sum/Mean, unary math,
 * activations, Mod, bit ops, comparisons...) on hand-built nodes: the edge cases ONNX's own
 * conformance cases leave out (NaN, broadcasting across many inputs, integer sign rules,
 * rounding ties). Expected values are computed by hand. */
#include <float.h>
#include <stdint.h>

#include "op_harness.h"


/* ---- Max, Min, Sum, Mean ---- */

static void test_max_min_nan_and_broadcast(void)
{
    /* three inputs broadcast (3,1), (4), () -> (3,4); NaN anywhere wins, like NumPy's maximum */
    tcase t = mk("Max", 3, 1);
    lp_tensor *in[3] = { F32(2, D(3, 1), 1, NAN, -5), F32(1, D(4), 0, 2, -1, NAN), F32(0, NULL, -2) }, *y[1];
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    CHECK(dims_are(y[0], 2, D(3, 4)));
    CHECK_F32S(y[0], 0, 1, 2, 1, NAN, NAN, NAN, NAN, NAN, 0, 2, -1, NAN);
    done(&t, 3, in, 1, y);

    t = mk("Min", 2, 1);
    lp_tensor *in2[2] = { F32(1, D(3), NAN, 1, 3), F32(1, D(3), 0, NAN, 2) };
    CHECK_OK(eval(&t, 13, 2, in2, 1, y));
    CHECK_F32S(y[0], 0, NAN, NAN, 2);
    done(&t, 2, in2, 1, y);

    /* one input: the identity */
    t = mk("Max", 1, 1);
    lp_tensor *in1[1] = { F32(1, D(2), -1, 4) };
    CHECK_OK(eval(&t, 13, 1, in1, 1, y));
    CHECK_F32S(y[0], 0, -1, 4);
    done(&t, 1, in1, 1, y);
}

static void test_max_min_integers_exact(void)
{
    /* int64 beyond 2^53 stays exact; uint8 compares unsigned */
    tcase t = mk("Max", 2, 1);
    lp_tensor *in[2] = { I64(1, D(2), (INT64_C(1) << 60) + 1, -3), I64(1, D(2), INT64_C(1) << 60, INT64_MIN) }, *y[1];
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_INTS(y[0], LP_I64, (INT64_C(1) << 60) + 1, -3);
    done(&t, 2, in, 1, y);

    t = mk("Min", 2, 1);
    lp_tensor *u8[2] = { U8(1, D(3), 200, 0, 7), U8(0, NULL, 100) };
    CHECK_OK(eval(&t, 13, 2, u8, 1, y));
    CHECK_INTS(y[0], LP_U8, 100, 0, 7);
    done(&t, 2, u8, 1, y);
}

static void test_sum_mean(void)
{
    tcase t = mk("Sum", 3, 1);
    lp_tensor *in[3] = { F32(2, D(2, 1), 1, 2), F32(1, D(3), 10, 20, 30), F32(0, NULL, 100) }, *y[1];
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    CHECK(dims_are(y[0], 2, D(2, 3)));
    CHECK_F32S(y[0], 0, 111, 121, 131, 112, 122, 132);
    done(&t, 3, in, 1, y);

    t = mk("Mean", 2, 1);
    lp_tensor *in2[2] = { F32(1, D(3), 1, 2, NAN), F32(1, D(1), 4) };
    CHECK_OK(eval(&t, 13, 2, in2, 1, y));
    CHECK_F32S(y[0], 0, 2.5f, 3, NAN);
    done(&t, 2, in2, 1, y);

    /* Sum and Mean take floats only; mixed dtypes and non-broadcastable shapes fail */
    t = mk("Sum", 2, 1);
    lp_tensor *bad[2] = { I64(1, D(1), 1), I64(1, D(1), 2) };
    CHECK(eval(&t, 13, 2, bad, 1, y) != LP_OK);
    done(&t, 2, bad, 1, y);
    t = mk("Max", 2, 1);
    lp_tensor *mix[2] = { F32(1, D(1), 1), I64(1, D(1), 2) };
    CHECK(eval(&t, 13, 2, mix, 1, y) != LP_OK);
    done(&t, 2, mix, 1, y);
    t = mk("Min", 2, 1);
    lp_tensor *shp[2] = { F32(1, D(2), 1, 2), F32(1, D(3), 1, 2, 3) };
    CHECK(eval(&t, 13, 2, shp, 1, y) != LP_OK);
    done(&t, 2, shp, 1, y);
}

/* ---- unary math and activations ---- */

static void test_round_half_to_even_and_sign(void)
{
    tcase t = mk("Round", 1, 1);
    lp_tensor *in[1] = { F32(1, D(8), 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4999998f, NAN) }, *y[1];
    CHECK_OK(eval(&t, 11, 1, in, 1, y));
    CHECK_F32S(y[0], 0, 0, 2, 2, -0.0f, -2, -2, 2, NAN);
    done(&t, 1, in, 1, y);

    t = mk("Sign", 1, 1);
    lp_tensor *f[1] = { F32(1, D(4), -3, 0, 7, NAN) };
    CHECK_OK(eval(&t, 13, 1, f, 1, y));
    CHECK_F32S(y[0], 0, -1, 0, 1, NAN);
    done(&t, 1, f, 1, y);
    t = mk("Sign", 1, 1);
    lp_tensor *i[1] = { I64(1, D(3), INT64_MIN, 0, 5) };
    CHECK_OK(eval(&t, 13, 1, i, 1, y));
    CHECK_INTS(y[0], LP_I64, -1, 0, 1);
    done(&t, 1, i, 1, y);
}

static void test_activation_formulas(void)
{
    /* Softplus must not overflow for large x (exp(100) in float32 would be inf) */
    tcase t = mk("Softplus", 1, 1);
    lp_tensor *in[1] = { F32(1, D(3), 100, 0, -100) }, *y[1];
    CHECK_OK(eval(&t, 13, 1, in, 1, y));
    /* 1e-6 relative: log(2) and exp(-100) computed in double, rounded once to float32 */
    CHECK_F32S(y[0], 1e-6, 100, 0.693147181f, 3.72007598e-44f);
    done(&t, 1, in, 1, y);

    t = mk("Celu", 1, 1);
    attr_float(&t, "alpha", 2.0f);
    lp_tensor *c[1] = { F32(1, D(2), -2, 3) };
    CHECK_OK(eval(&t, 13, 1, c, 1, y));
    CHECK_F32S(y[0], 1e-6, 2.0f * (expf(-1.0f) - 1.0f), 3);
    done(&t, 1, c, 1, y);

    t = mk("Shrink", 1, 1);
    attr_float(&t, "lambd", 1.5f);
    attr_float(&t, "bias", 1.0f);
    lp_tensor *s[1] = { mkt(LP_I8, 1, D(5), (const int8_t[]){ -3, -1, 0, 1, 3 }) };
    CHECK_OK(eval(&t, 13, 1, s, 1, y));
    CHECK_INTS(y[0], LP_I8, -2, 0, 0, 0, 2);
    done(&t, 1, s, 1, y);

    t = mk("IsInf", 1, 1);
    attr_int(&t, "detect_positive", 0);
    lp_tensor *f[1] = { F32(1, D(4), -INFINITY, INFINITY, NAN, 1) };
    CHECK_OK(eval(&t, 10, 1, f, 1, y));
    CHECK_INTS(y[0], LP_BOOL, 1, 0, 0, 0);
    done(&t, 1, f, 1, y);

    /* integer input to a float-only op is refused at infer */
    t = mk("Sin", 1, 1);
    lp_tensor *bad[1] = { I64(1, D(1), 1) };
    CHECK(eval(&t, 7, 1, bad, 1, y) != LP_OK);
    done(&t, 1, bad, 1, y);
}

static void test_prelu_broadcast(void)
{
    /* slope (3,1) against X (2,3,2); and the opset-6 1-D per-channel slope */
    tcase t = mk("PRelu", 2, 1);
    lp_tensor *in[2] = { F32(3, D(2, 3, 2), -1, 1, -1, 1, -1, 1, -2, 2, -2, 2, -2, 2), F32(2, D(3, 1), 1, 2, 3) }, *y[1];
    CHECK_OK(eval(&t, 16, 2, in, 1, y));
    CHECK(dims_are(y[0], 3, D(2, 3, 2)));
    CHECK_F32S(y[0], 0, -1, 1, -2, 1, -3, 1, -2, 2, -4, 2, -6, 2);
    done(&t, 2, in, 1, y);

    t = mk("PRelu", 2, 1);
    lp_tensor *old[2] = { F32(3, D(1, 3, 2), -1, -1, -1, -1, -1, 1), F32(1, D(3), 1, 2, 3) };
    CHECK_OK(eval(&t, 6, 2, old, 1, y));
    CHECK_F32S(y[0], 0, -1, -1, -2, -2, -3, 1);
    done(&t, 2, old, 1, y);

    /* a slope that does not broadcast to X (would enlarge it) is refused */
    t = mk("PRelu", 2, 1);
    lp_tensor *bad[2] = { F32(1, D(2), 1, 2), F32(2, D(3, 2), 1, 2, 3, 4, 5, 6) };
    CHECK(eval(&t, 16, 2, bad, 1, y) != LP_OK);
    done(&t, 2, bad, 1, y);
}

/* ---- Mod, BitShift, comparisons, logic ---- */

static void test_mod_sign_rules(void)
{
    /* fmod=0: the remainder takes the divisor's sign (Python); fmod=1: the dividend's (C) */
    tcase t = mk("Mod", 2, 1);
    lp_tensor *in[2] = { I32(1, D(6), -7, 7, -7, 7, 5, INT32_MIN), I32(1, D(6), 3, -3, -3, 3, 0, -1) }, *y[1];
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK_INTS(y[0], LP_I32, 2, -2, -1, 1, 0, 0);
    done(&t, 2, in, 1, y);

    t = mk("Mod", 2, 1);
    attr_int(&t, "fmod", 1);
    lp_tensor *in2[2] = { I32(1, D(4), -7, 7, -7, 7), I32(1, D(4), 3, -3, -3, 3) };
    CHECK_OK(eval(&t, 13, 2, in2, 1, y));
    CHECK_INTS(y[0], LP_I32, -1, 1, -1, 1);
    done(&t, 2, in2, 1, y);

    t = mk("Mod", 2, 1);
    attr_int(&t, "fmod", 1);
    lp_tensor *f[2] = { F32(1, D(3), -4.5f, 4.5f, 1), F32(1, D(3), 2, -2, 0) };
    CHECK_OK(eval(&t, 13, 2, f, 1, y));
    CHECK_F32S(y[0], 0, -0.5f, 0.5f, NAN);
    done(&t, 2, f, 1, y);

    t = mk("Mod", 2, 1);
    lp_tensor *f0[2] = { F32(1, D(2), -4.5f, 4.5f), F32(0, NULL, 2) };
    CHECK_OK(eval(&t, 13, 2, f0, 1, y));
    CHECK_F32S(y[0], 0, 1.5f, 0.5f);
    done(&t, 2, f0, 1, y);
}

static void test_bitshift_and_logic(void)
{
    tcase t = mk("BitShift", 2, 1);
    attr_str(&t, "direction", "LEFT");
    lp_tensor *in[2] = { U8(1, D(4), 1, 3, 255, 1), U8(1, D(4), 1, 7, 1, 8) }, *y[1];
    CHECK_OK(eval(&t, 11, 2, in, 1, y));
    CHECK_INTS(y[0], LP_U8, 2, 128, 254, 0); /* shifts past the width give 0 */
    done(&t, 2, in, 1, y);

    t = mk("BitShift", 2, 1);
    attr_str(&t, "direction", "RIGHT");
    lp_tensor *r[2] = { mkt(LP_U64, 1, D(2), (const uint64_t[]){ UINT64_MAX, 8 }), mkt(LP_U64, 0, NULL, (const uint64_t[]){ 63 }) };
    CHECK_OK(eval(&t, 11, 2, r, 1, y));
    CHECK_INTS(y[0], LP_U64, 1, 0);
    done(&t, 2, r, 1, y);

    t = mk("BitShift", 2, 1);
    attr_str(&t, "direction", "UP");
    lp_tensor *bad[2] = { U8(1, D(1), 1), U8(1, D(1), 1) };
    CHECK(eval(&t, 11, 2, bad, 1, y) != LP_OK);
    done(&t, 2, bad, 1, y);

    t = mk("GreaterOrEqual", 2, 1);
    lp_tensor *g[2] = { F32(1, D(4), 1, 2, NAN, 3), F32(1, D(1), 2) };
    CHECK_OK(eval(&t, 16, 2, g, 1, y));
    CHECK_INTS(y[0], LP_BOOL, 0, 1, 0, 1); /* NaN compares false */
    done(&t, 2, g, 1, y);

    t = mk("Xor", 2, 1);
    lp_tensor *x[2] = { BOOL(2, D(2, 1), 0, 1), BOOL(1, D(2), 0, 1) };
    CHECK_OK(eval(&t, 7, 2, x, 1, y));
    CHECK_INTS(y[0], LP_BOOL, 0, 1, 1, 0);
    done(&t, 2, x, 1, y);
}

/* ---- reductions, ArgMin, CumSum, Hardmax ---- */

static void test_reduce_logsumexp_stable_and_argmin(void)
{
    /* exp(1000) overflows double; the max-shifted sum does not */
    tcase t = mk("ReduceLogSumExp", 1, 1);
    attr_ints(&t, "axes", 1, D(-1));
    attr_int(&t, "keepdims", 0);
    lp_tensor *in[1] = { F32(2, D(2, 2), 1000, 1000, -INFINITY, -INFINITY) }, *y[1];
    CHECK_OK(eval(&t, 13, 1, in, 1, y));
    /* 1e-6 relative: log(2) computed in double, rounded once to float32 */
    CHECK_F32S(y[0], 1e-6, 1000.693147f, -INFINITY);
    done(&t, 1, in, 1, y);

    t = mk("ReduceSumSquare", 1, 1);
    lp_tensor *sq[1] = { F32(1, D(3), -1, 2, -3) };
    CHECK_OK(eval(&t, 13, 1, sq, 1, y));
    CHECK(dims_are(y[0], 1, D(1)));
    CHECK_F32S(y[0], 0, 14);
    done(&t, 1, sq, 1, y);

    /* ArgMin: first minimum, or the last with select_last_index; NaN counts as the extreme */
    t = mk("ArgMin", 1, 1);
    attr_int(&t, "axis", -1);
    attr_int(&t, "select_last_index", 1);
    lp_tensor *am[1] = { F32(2, D(2, 4), 3, 1, 2, 1, 0, NAN, -5, NAN) };
    CHECK_OK(eval(&t, 13, 1, am, 1, y));
    CHECK_INTS(y[0], LP_I64, 3, 3);
    done(&t, 1, am, 1, y);
}

static void test_cumsum_modes_and_hardmax(void)
{
    /* exclusive + reverse along axis -1 */
    tcase t = mk("CumSum", 2, 1);
    attr_int(&t, "exclusive", 1);
    attr_int(&t, "reverse", 1);
    lp_tensor *in[2] = { I32(2, D(2, 3), 1, 2, 3, 4, 5, 6), I64(0, NULL, -1) }, *y[1];
    CHECK_OK(eval(&t, 14, 2, in, 1, y));
    CHECK_INTS(y[0], LP_I32, 5, 3, 0, 11, 6, 0);
    done(&t, 2, in, 1, y);

    t = mk("CumSum", 2, 1);
    lp_tensor *bad[2] = { F32(1, D(2), 1, 2), I64(0, NULL, 1) };
    CHECK(eval(&t, 14, 2, bad, 1, y) != LP_OK); /* axis out of range */
    done(&t, 2, bad, 1, y);

    /* Hardmax: ties go to the first maximum */
    t = mk("Hardmax", 1, 1);
    lp_tensor *h[1] = { F32(2, D(2, 3), 1, 3, 3, -1, -2, -3) };
    CHECK_OK(eval(&t, 13, 1, h, 1, y));
    CHECK_F32S(y[0], 0, 0, 1, 0, 1, 0, 0);
    done(&t, 1, h, 1, y);
}

/* ---- GatherElements, ScatterElements, GatherND, Trilu, losses ---- */

static void test_gather_scatter_elements(void)
{
    /* axis 1, negative indices count from the end */
    tcase t = mk("GatherElements", 2, 1);
    attr_int(&t, "axis", 1);
    lp_tensor *in[2] = { F32(2, D(2, 3), 1, 2, 3, 4, 5, 6), I64(2, D(2, 2), -1, 0, 1, 1) }, *y[1];
    CHECK_OK(eval(&t, 13, 2, in, 1, y));
    CHECK(dims_are(y[0], 2, D(2, 2)));
    CHECK_F32S(y[0], 0, 3, 1, 5, 5);
    done(&t, 2, in, 1, y);

    t = mk("GatherElements", 2, 1);
    lp_tensor *oob[2] = { F32(1, D(2), 1, 2), I64(1, D(1), 2) };
    CHECK(eval(&t, 13, 2, oob, 1, y) != LP_OK);
    done(&t, 2, oob, 1, y);

    /* duplicate indices with reduction add accumulate; mul multiplies */
    t = mk("ScatterElements", 3, 1);
    attr_str(&t, "reduction", "add");
    lp_tensor *sc[3] = { F32(1, D(3), 1, 1, 1), I64(1, D(3), 0, 0, -1), F32(1, D(3), 2, 3, 4) };
    CHECK_OK(eval(&t, 16, 3, sc, 1, y));
    CHECK_F32S(y[0], 0, 6, 1, 5);
    done(&t, 3, sc, 1, y);

    t = mk("ScatterElements", 3, 1);
    attr_str(&t, "reduction", "avg");
    lp_tensor *bad[3] = { F32(1, D(1), 1), I64(1, D(1), 0), F32(1, D(1), 2) };
    CHECK(eval(&t, 16, 3, bad, 1, y) != LP_OK);
    done(&t, 3, bad, 1, y);

    /* GatherND with batch_dims 1: data (2,2,2), indices (2,1) -> rows data[b, idx[b]] */
    t = mk("GatherND", 2, 1);
    attr_int(&t, "batch_dims", 1);
    lp_tensor *nd[2] = { F32(3, D(2, 2, 2), 0, 1, 2, 3, 4, 5, 6, 7), I64(2, D(2, 1), 1, 0) };
    CHECK_OK(eval(&t, 13, 2, nd, 1, y));
    CHECK(dims_are(y[0], 2, D(2, 2)));
    CHECK_F32S(y[0], 0, 2, 3, 4, 5);
    done(&t, 2, nd, 1, y);
}

static void test_trilu_and_losses(void)
{
    tcase t = mk("Trilu", 2, 1);
    attr_int(&t, "upper", 0);
    lp_tensor *in[2] = { F32(2, D(3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9), I64(0, NULL, -1) }, *y[2];
    CHECK_OK(eval(&t, 14, 2, in, 1, y));
    CHECK_F32S(y[0], 0, 0, 0, 0, 4, 0, 0, 7, 8, 0);
    done(&t, 2, in, 1, y);

    /* NLL mean divides by the weights of the targets not ignored; all ignored: 0/0 = NaN */
    t = mk("NegativeLogLikelihoodLoss", 3, 1);
    attr_int(&t, "ignore_index", 1);
    lp_tensor *nl[3] = { F32(2, D(3, 2), -1, -2, -3, -4, -5, -6), I64(1, D(3), 0, 1, 1), F32(1, D(2), 2, 10) };
    CHECK_OK(eval(&t, 13, 3, nl, 1, y));
    CHECK(dims_are(y[0], 0, NULL));
    CHECK_F32S(y[0], 0, 1); /* (2 * 1) / 2 */
    done(&t, 3, nl, 1, y);

    t = mk("NegativeLogLikelihoodLoss", 2, 1);
    attr_int(&t, "ignore_index", 0);
    lp_tensor *all[2] = { F32(2, D(1, 2), -1, -2), I64(1, D(1), 0) };
    CHECK_OK(eval(&t, 13, 2, all, 1, y));
    CHECK_F32S(y[0], 0, NAN);
    done(&t, 2, all, 1, y);

    /* a target outside [0, C) that is not ignored is an error */
    t = mk("NegativeLogLikelihoodLoss", 2, 1);
    lp_tensor *oob[2] = { F32(2, D(1, 2), -1, -2), I64(1, D(1), 2) };
    CHECK(eval(&t, 13, 2, oob, 1, y) != LP_OK);
    done(&t, 2, oob, 1, y);

    /* SCE: equal scores give log_prob = -log(C) and loss log(C) */
    t = mk("SoftmaxCrossEntropyLoss", 2, 2);
    attr_str(&t, "reduction", "none");
    lp_tensor *sce[2] = { F32(2, D(1, 4), 7, 7, 7, 7), I64(1, D(1), 2) };
    CHECK_OK(eval(&t, 13, 2, sce, 2, y));
    /* 1e-6 relative: log(4) in double rounded once */
    CHECK_F32S(y[0], 1e-6, 1.38629436f);
    CHECK_F32S(y[1], 1e-6, -1.38629436f, -1.38629436f, -1.38629436f, -1.38629436f);
    done(&t, 2, sce, 2, y);
}

/* ---- outputs sized by values: NonZero, Unique, TopK, Compress, OneHot ---- */

static void test_nonzero_unique(void)
{
    tcase t = mk("NonZero", 1, 1);
    lp_tensor *in[1] = { F32(2, D(2, 2), 0, NAN, -0.0f, 3) }, *y[4];
    CHECK_OK(eval(&t, 13, 1, in, 1, y));
    CHECK(dims_are(y[0], 2, D(2, 2))); /* NaN counts as non-zero, -0 does not */
    CHECK_INTS(y[0], LP_I64, 0, 1, 1, 1);
    done(&t, 1, in, 1, y);

    /* sorted=0 keeps first-occurrence order; all four outputs */
    t = mk("Unique", 1, 4);
    attr_int(&t, "sorted", 0);
    lp_tensor *u[1] = { I64(1, D(6), 2, 1, 1, 3, 4, 3) };
    CHECK_OK(eval(&t, 11, 1, u, 4, y));
    CHECK_INTS(y[0], LP_I64, 2, 1, 3, 4);
    CHECK_INTS(y[1], LP_I64, 0, 1, 3, 4);
    CHECK_INTS(y[2], LP_I64, 0, 1, 1, 2, 3, 2);
    CHECK_INTS(y[3], LP_I64, 1, 2, 2, 1);
    done(&t, 1, u, 4, y);

    /* rows along axis 0, sorted lexicographically */
    t = mk("Unique", 1, 1);
    attr_int(&t, "axis", 0);
    lp_tensor *r[1] = { F32(2, D(3, 2), 2, 1, 1, 5, 2, 1) };
    CHECK_OK(eval(&t, 11, 1, r, 1, y));
    CHECK(dims_are(y[0], 2, D(2, 2)));
    CHECK_F32S(y[0], 0, 1, 5, 2, 1);
    done(&t, 1, r, 1, y);
}

static void test_topk_compress_onehot(void)
{
    /* smallest 2 along axis 0; ties keep the lower index first */
    tcase t = mk("TopK", 2, 2);
    attr_int(&t, "axis", 0);
    attr_int(&t, "largest", 0);
    lp_tensor *in[2] = { F32(2, D(3, 2), 3, 1, 1, 1, 2, 0), I64(1, D(1), 2) }, *y[2];
    CHECK_OK(eval(&t, 11, 2, in, 2, y));
    CHECK(dims_are(y[0], 2, D(2, 2)));
    CHECK_F32S(y[0], 0, 1, 0, 2, 1);
    CHECK_INTS(y[1], LP_I64, 1, 2, 2, 0);
    done(&t, 2, in, 2, y);

    t = mk("TopK", 2, 2);
    lp_tensor *big[2] = { F32(1, D(2), 1, 2), I64(1, D(1), 3) };
    CHECK(eval(&t, 11, 2, big, 2, y) != LP_OK); /* k larger than the axis */
    done(&t, 2, big, 2, y);

    /* Compress without axis flattens; a condition shorter than the input is allowed */
    t = mk("Compress", 2, 1);
    lp_tensor *cp[2] = { F32(2, D(2, 2), 1, 2, 3, 4), BOOL(1, D(3), 0, 1, 1) };
    CHECK_OK(eval(&t, 11, 2, cp, 1, y));
    CHECK_F32S(y[0], 0, 2, 3);
    done(&t, 2, cp, 1, y);

    /* OneHot: negative index counts from depth, out of range is all off; axis 0 */
    t = mk("OneHot", 3, 1);
    attr_int(&t, "axis", 0);
    lp_tensor *oh[3] = { I64(1, D(3), -1, 0, 5), F32(0, NULL, 3), F32(1, D(2), -1, 9) };
    CHECK_OK(eval(&t, 11, 3, oh, 1, y));
    CHECK(dims_are(y[0], 2, D(3, 3)));
    CHECK_F32S(y[0], 0, -1, 9, -1, -1, -1, -1, 9, -1, -1);
    done(&t, 3, oh, 1, y);

    /* a depth past the documented bound is refused before anything is allocated */
    t = mk("OneHot", 3, 1);
    lp_tensor *huge[3] = { I64(1, D(2), 0, 1), F32(0, NULL, 1e12f), F32(1, D(2), 0, 1) };
    CHECK(eval(&t, 11, 3, huge, 1, y) != LP_OK);
    done(&t, 3, huge, 1, y);
}

static void test_space_depth_roundtrip_and_unpool(void)
{
    /* SpaceToDepth then DepthToSpace (DCR) gives the input back */
    lp_tensor *x = rand_f32(4, D(1, 2, 4, 6)), *deep[1], *back[1];
    tcase t = mk("SpaceToDepth", 1, 1);
    attr_int(&t, "blocksize", 2);
    lp_tensor *in[1] = { x };
    CHECK_OK(eval(&t, 13, 1, in, 1, deep));
    CHECK(dims_are(deep[0], 4, D(1, 8, 2, 3)));
    tcase t2 = mk("DepthToSpace", 1, 1);
    attr_int(&t2, "blocksize", 2);
    CHECK_OK(eval(&t2, 13, 1, deep, 1, back));
    CHECK(back[0] && memcmp(back[0]->data, x->data, x->nbytes) == 0);
    done(&t2, 1, deep, 1, back);
    done(&t, 1, in, 0, NULL);

    /* MaxUnpool: an index outside the output fails */
    t = mk("MaxUnpool", 2, 1);
    attr_ints(&t, "kernel_shape", 2, D(2, 2));
    attr_ints(&t, "strides", 2, D(2, 2));
    lp_tensor *up[2] = { F32(4, D(1, 1, 1, 1), 7), I64(4, D(1, 1, 1, 1), 4) }, *y[1];
    CHECK(eval(&t, 11, 2, up, 1, y) != LP_OK);
    done(&t, 2, up, 1, y);
}

/* ---- NonMaxSuppression, RoiAlign, GridSample, DFT, windows ---- */

static void test_nms_and_roialign(void)
{
    /* three boxes, the second overlaps the first (IoU 0.81), the third is apart; corners given
     * in either order; max 2 per class */
    tcase t = mk("NonMaxSuppression", 5, 1);
    lp_tensor *in[5] = { F32(3, D(1, 3, 4), 0, 0, 1, 1, 0.1f, 0.1f, 1, 1, 3, 3, 2, 2),
                         F32(3, D(1, 1, 3), 0.9f, 0.95f, 0.5f), I64(1, D(1), 2), F32(1, D(1), 0.5f),
                         F32(1, D(1), 0.0f) }, *y[1];
    CHECK_OK(eval(&t, 11, 5, in, 1, y));
    CHECK(dims_are(y[0], 2, D(2, 3)));
    CHECK_INTS(y[0], LP_I64, 0, 0, 1, 0, 0, 2);
    done(&t, 5, in, 1, y);

    /* RoiAlign avg over a constant plane gives the constant; a bad batch index fails */
    t = mk("RoiAlign", 3, 1);
    attr_int(&t, "output_height", 2);
    attr_int(&t, "output_width", 2);
    lp_tensor *x = mkt(LP_F32, 4, D(1, 1, 4, 4), NULL);
    for (int i = 0; i < 16; i++)
        ((float *)x->data)[i] = 3;
    lp_tensor *ra[3] = { x, F32(2, D(1, 4), 0.5f, 0.5f, 2.5f, 2.5f), I64(1, D(1), 0) };
    CHECK_OK(eval(&t, 16, 3, ra, 1, y));
    CHECK(dims_are(y[0], 4, D(1, 1, 2, 2)));
    CHECK_F32S(y[0], 1e-6, 3, 3, 3, 3);
    ((int64_t *)ra[2]->data)[0] = 1;
    lp_tensor *y2[1];
    CHECK(eval(&t, 16, 3, ra, 1, y2) != LP_OK);
    lp_tensor_free(y2[0]);
    done(&t, 3, ra, 1, y);
}

static void test_gridsample_corners_and_padding(void)
{
    /* align_corners=1: grid (-1,-1) and (1,1) hit the corner pixels exactly; (3, 0) is outside:
     * zeros padding gives 0, border the edge pixel */
    lp_tensor *y[1];
    const char *pads[2] = { "zeros", "border" };
    /* (3, 0) maps to pixel x = 2, y = 0.5: border clamps x to 1, between 2 and 4 */
    const float far[2] = { 0, 3 };
    for (int p = 0; p < 2; p++) {
        tcase t = mk("GridSample", 2, 1);
        attr_int(&t, "align_corners", 1);
        attr_str(&t, "padding_mode", pads[p]);
        lp_tensor *in[2] = { F32(4, D(1, 1, 2, 2), 1, 2, 3, 4), F32(4, D(1, 1, 3, 2), -1, -1, 1, 1, 3, 0) };
        CHECK_OK(eval(&t, 16, 2, in, 1, y));
        CHECK(dims_are(y[0], 4, D(1, 1, 1, 3)));
        CHECK_F32S(y[0], 1e-6, 1, 4, far[p]);
        done(&t, 2, in, 1, y);
    }
}

static void test_dft_and_windows(void)
{
    /* DFT of [1, 2, 3, 4] (real): [10, -2+2i, -2, -2-2i]; inverse gives it back */
    tcase t = mk("DFT", 1, 1);
    lp_tensor *in[1] = { F32(3, D(1, 4, 1), 1, 2, 3, 4) }, *y[1], *z[1];
    CHECK_OK(eval(&t, 17, 1, in, 1, y));
    CHECK(dims_are(y[0], 3, D(1, 4, 2)));
    const float want[8] = { 10, 0, -2, 2, -2, 0, -2, -2 };
    for (int i = 0; y[0] && i < 8; i++)
        CHECK_NEAR(((float *)y[0]->data)[i], want[i], 1e-5); /* double sums of 4 terms, rounded to float32 */
    tcase ti = mk("DFT", 1, 1);
    attr_int(&ti, "inverse", 1);
    CHECK_OK(eval(&ti, 17, 1, y, 1, z));
    const float back[8] = { 1, 0, 2, 0, 3, 0, 4, 0 };
    for (int i = 0; z[0] && i < 8; i++)
        CHECK_NEAR(((float *)z[0]->data)[i], back[i], 1e-5);
    done(&ti, 1, y, 1, z);
    done(&t, 1, in, 0, NULL);

    /* symmetric Hann of 5: [0, .5, 1, .5, 0]; a negative size fails */
    t = mk("HannWindow", 1, 1);
    attr_int(&t, "periodic", 0);
    lp_tensor *w[1] = { I64(0, NULL, 5) };
    CHECK_OK(eval(&t, 17, 1, w, 1, y));
    const float hann[5] = { 0, 0.5f, 1, 0.5f, 0 };
    for (int i = 0; y[0] && i < 5; i++)
        CHECK_NEAR(((float *)y[0]->data)[i], hann[i], 1e-7); /* cos in double, one float32 rounding */
    done(&t, 1, w, 1, y);
    t = mk("HannWindow", 1, 1);
    lp_tensor *neg[1] = { I64(0, NULL, -3) };
    CHECK(eval(&t, 17, 1, neg, 1, y) != LP_OK);
    done(&t, 1, neg, 1, y);
}

int main(void)
{
    RUN(test_max_min_nan_and_broadcast);
    RUN(test_max_min_integers_exact);
    RUN(test_sum_mean);
    RUN(test_round_half_to_even_and_sign);
    RUN(test_activation_formulas);
    RUN(test_prelu_broadcast);
    RUN(test_mod_sign_rules);
    RUN(test_bitshift_and_logic);
    RUN(test_reduce_logsumexp_stable_and_argmin);
    RUN(test_cumsum_modes_and_hardmax);
    RUN(test_gather_scatter_elements);
    RUN(test_trilu_and_losses);
    RUN(test_nonzero_unique);
    RUN(test_topk_compress_onehot);
    RUN(test_space_depth_roundtrip_and_unpool);
    RUN(test_nms_and_roialign);
    RUN(test_gridsample_corners_and_padding);
    RUN(test_dft_and_windows);
    return TEST_SUMMARY("test_ops_math");
}
