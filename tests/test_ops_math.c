/* test_ops_math.c — the ops added for ONNX coverage (variadic Max/Min/Sum/Mean, unary math,
 * activations, Mod, bit ops, comparisons...) on hand-built nodes: the edge cases ONNX's own
 * conformance cases leave out (NaN, broadcasting across many inputs, integer sign rules,
 * rounding ties). Expected values are computed by hand. */
#include <float.h>
#include <stdint.h>

#include "op_harness.h"

#define I64(nd, dims, ...) mkt(LP_I64, nd, dims, (const int64_t[]){ __VA_ARGS__ })
#define BOOL(nd, dims, ...) mkt(LP_BOOL, nd, dims, (const uint8_t[]){ __VA_ARGS__ })

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

int main(void)
{
    RUN(test_max_min_nan_and_broadcast);
    RUN(test_max_min_integers_exact);
    RUN(test_sum_mean);
    return TEST_SUMMARY("test_ops_math");
}
