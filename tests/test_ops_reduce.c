/* test_ops_reduce.c — reductions, ArgMax, Softmax and LogSoftmax on hand-built nodes with
 * hand-computed answers, and their shape inference with unknown axes and symbolic dims. */
#include <float.h>
#include <stdint.h>

#include "op_harness.h"

/* The (3,2,2) tensor of ONNX's reduce examples: 1..12. */
#define X322() F32(3, D(3, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)

/* ---- reductions (sums of small integers in float32 are exact) ---- */

static void test_reduce_sum_axes_input(void)
{
    tcase t = mk("ReduceSum", 2, 1);
    lp_tensor *in[2] = { X322(), I64(1, D(1), 1) }, *y;
    CHECK_OK(eval(&t, 13, 2, in, 1, &y));
    CHECK(dims_are(y, 3, D(3, 1, 2)));
    CHECK_F32S(y, 0, 4, 6, 12, 14, 20, 22);
    done(&t, 2, in, 1, &y);

    t = mk("ReduceSum", 2, 1);
    attr_int(&t, "keepdims", 0);
    lp_tensor *in2[2] = { X322(), I64(1, D(2), -1, 0) };
    CHECK_OK(eval(&t, 13, 2, in2, 1, &y));
    CHECK(dims_are(y, 1, D(2)));
    CHECK_F32S(y, 0, 1 + 2 + 5 + 6 + 9 + 10, 3 + 4 + 7 + 8 + 11 + 12);
    done(&t, 2, in2, 1, &y);

    /* empty axes: reduce everything, unless noop_with_empty_axes */
    t = mk("ReduceSum", 2, 1);
    lp_tensor *in3[2] = { X322(), mkt(LP_I64, 1, D(0), NULL) };
    CHECK_OK(eval(&t, 13, 2, in3, 1, &y));
    CHECK(dims_are(y, 3, D(1, 1, 1)));
    CHECK_F32S(y, 0, 78);
    done(&t, 2, in3, 1, &y);

    t = mk("ReduceSum", 2, 1);
    attr_int(&t, "noop_with_empty_axes", 1);
    lp_tensor *in4[2] = { X322(), mkt(LP_I64, 1, D(0), NULL) };
    CHECK_OK(eval(&t, 13, 2, in4, 1, &y));
    CHECK(dims_are(y, 3, D(3, 2, 2)));
    CHECK_F32S(y, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    done(&t, 2, in4, 1, &y);

    /* the axes input omitted altogether (opset 13) */
    t = mk("ReduceSum", 1, 1);
    attr_int(&t, "keepdims", 0);
    lp_tensor *in5[1] = { X322() };
    CHECK_OK(eval(&t, 13, 1, in5, 1, &y));
    CHECK(dims_are(y, 0, NULL));
    CHECK_F32S(y, 0, 78);
    done(&t, 1, in5, 1, &y);
}

static void test_reduce_sum_attribute_before_13(void)
{
    tcase t = mk("ReduceSum", 1, 1);
    attr_ints(&t, "axes", 1, D(2));
    attr_int(&t, "keepdims", 0);
    lp_tensor *in[1] = { X322() }, *y;
    CHECK_OK(eval(&t, 11, 1, in, 1, &y));
    CHECK(dims_are(y, 2, D(3, 2)));
    CHECK_F32S(y, 0, 3, 7, 11, 15, 19, 23);
    done(&t, 1, in, 1, &y);
}

static void test_reduce_mean_max_min_prod_l2(void)
{
    tcase t = mk("ReduceMean", 1, 1);
    attr_ints(&t, "axes", 1, D(-2));
    lp_tensor *in[1] = { X322() }, *y;
    CHECK_OK(eval(&t, 13, 1, in, 1, &y));
    CHECK(dims_are(y, 3, D(3, 1, 2)));
    CHECK_F32S(y, 0, 2, 3, 6, 7, 10, 11);
    done(&t, 1, in, 1, &y);

    t = mk("ReduceMean", 1, 1); /* default: all axes, keepdims */
    lp_tensor *in2[1] = { X322() };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    CHECK(dims_are(y, 3, D(1, 1, 1)));
    CHECK_F32S(y, 0, 6.5f);
    done(&t, 1, in2, 1, &y);

    t = mk("ReduceMax", 1, 1);
    attr_ints(&t, "axes", 1, D(1));
    attr_int(&t, "keepdims", 0);
    lp_tensor *in3[1] = { F32(2, D(2, 3), -1, NAN, 2, -5, -7, -6) };
    CHECK_OK(eval(&t, 13, 1, in3, 1, &y));
    CHECK_F32S(y, 0, NAN, -5); /* NaN propagates, as in NumPy */
    done(&t, 1, in3, 1, &y);

    t = mk("ReduceMin", 1, 1);
    attr_ints(&t, "axes", 1, D(0));
    lp_tensor *in4[1] = { I32(2, D(2, 3), 5, -2, 7, 1, 3, INT32_MIN) };
    CHECK_OK(eval(&t, 13, 1, in4, 1, &y));
    CHECK(dims_are(y, 2, D(1, 3)));
    CHECK_INTS(y, LP_I32, 1, -2, INT32_MIN);
    done(&t, 1, in4, 1, &y);

    t = mk("ReduceProd", 1, 1);
    attr_ints(&t, "axes", 1, D(1));
    attr_int(&t, "keepdims", 0);
    lp_tensor *in5[1] = { X322() };
    CHECK_OK(eval(&t, 13, 1, in5, 1, &y));
    CHECK_F32S(y, 0, 3, 8, 35, 48, 99, 120);
    done(&t, 1, in5, 1, &y);

    /* L2 of rows (3,4) and (6,8): 5 and 10 exactly */
    t = mk("ReduceL2", 1, 1);
    attr_ints(&t, "axes", 1, D(-1));
    attr_int(&t, "keepdims", 0);
    lp_tensor *in6[1] = { F32(2, D(2, 2), 3, 4, 6, 8) };
    CHECK_OK(eval(&t, 13, 1, in6, 1, &y));
    CHECK_F32S(y, 0, 5, 10);
    done(&t, 1, in6, 1, &y);
}

static void test_reduce_int_types(void)
{
    /* int64 sums stay exact past 2^53; uint8 sums wrap like NumPy's sum().astype(uint8) */
    tcase t = mk("ReduceSum", 1, 1);
    attr_int(&t, "keepdims", 0);
    lp_tensor *in[1] = { I64(1, D(2), INT64_C(1) << 60, 1) }, *y;
    CHECK_OK(eval(&t, 11, 1, in, 1, &y));
    CHECK_INTS(y, LP_I64, (INT64_C(1) << 60) + 1);
    done(&t, 1, in, 1, &y);

    t = mk("ReduceSum", 1, 1);
    lp_tensor *in2[1] = { mkt(LP_U8, 1, D(2), (const uint8_t[]){ 200, 100 }) };
    CHECK_OK(eval(&t, 11, 1, in2, 1, &y));
    CHECK_INTS(y, LP_U8, 44);
    done(&t, 1, in2, 1, &y);

    /* integer mean truncates: (1 + 2) / 2 -> 1 */
    t = mk("ReduceMean", 1, 1);
    lp_tensor *in3[1] = { I32(1, D(2), 1, 2) };
    CHECK_OK(eval(&t, 13, 1, in3, 1, &y));
    CHECK_INTS(y, LP_I32, 1);
    done(&t, 1, in3, 1, &y);

    t = mk("ReduceMax", 1, 1);
    lp_tensor *in4[1] = { mkt(LP_U64, 1, D(2), (const uint64_t[]){ 5, UINT64_MAX }) };
    CHECK_OK(eval(&t, 13, 1, in4, 1, &y));
    CHECK(y && ((const uint64_t *)y->data)[0] == UINT64_MAX);
    done(&t, 1, in4, 1, &y);
}

static void test_reduce_empty_dim(void)
{
    /* reducing a zero-length dim gives the identity of the reduction */
    tcase t = mk("ReduceSum", 1, 1);
    attr_ints(&t, "axes", 1, D(1));
    attr_int(&t, "keepdims", 0);
    lp_tensor *in[1] = { mkt(LP_F32, 2, D(2, 0), NULL) }, *y;
    CHECK_OK(eval(&t, 11, 1, in, 1, &y));
    CHECK_F32S(y, 0, 0, 0);
    done(&t, 1, in, 1, &y);

    t = mk("ReduceMax", 1, 1);
    attr_ints(&t, "axes", 1, D(1));
    lp_tensor *in2[1] = { mkt(LP_F32, 2, D(2, 0), NULL) };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    CHECK_F32S(y, 0, -INFINITY, -INFINITY);
    done(&t, 1, in2, 1, &y);
}

static void test_reduce_infer_unknowns(void)
{
    tcase t = mk("ReduceSum", 2, 1);
    int64_t sym;
    CHECK_OK(lp_graph_sym(t.g, "batch", &sym));
    lp_vinfo x = { .dtype = LP_F32, .shape = { 3, { sym, 1, 5 } } };
    lp_vinfo axes = { .dtype = LP_I64, .shape = { 1, { 1 } } }; /* value not known */
    const lp_vinfo *in[2] = { &x, &axes };
    lp_vinfo out = { 0 };
    lp_infer_ctx c = { .node = t.node, .opset = 13, .n_in = 2, .n_out = 1, .in = in, .out = &out };
    CHECK_OK(lp_opdef_ReduceSum.infer(&c));
    /* keepdims: rank stays; a dim of 1 stays 1, every other dim is 1 or itself: unknown */
    CHECK(out.dtype == LP_F32 && out.shape.ndim == 3);
    CHECK(out.shape.d[0] == LP_DIM_UNKNOWN && out.shape.d[1] == 1 && out.shape.d[2] == LP_DIM_UNKNOWN);

    attr_int(&t, "keepdims", 0);
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_ReduceSum.infer(&c));
    CHECK(out.shape.ndim == -1);

    /* known axes: the symbolic dim survives when not reduced */
    lp_tensor *ax = I64(1, D(1), -1);
    axes.value = ax;
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_ReduceSum.infer(&c));
    CHECK(out.shape.ndim == 2 && out.shape.d[0] == sym && out.shape.d[1] == 1);

    /* unknown rank in, unknown rank out */
    x.shape.ndim = -1;
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_ReduceSum.infer(&c));
    CHECK(out.shape.ndim == -1 && out.dtype == LP_F32);

    /* an axis out of range is a definite error naming the node */
    x.shape = (lp_shape){ 2, { sym, 3 } };
    lp_tensor_free(ax);
    ax = I64(1, D(1), 2);
    axes.value = ax;
    CHECK(lp_opdef_ReduceSum.infer(&c) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "n0") != NULL);
    lp_tensor_free(ax);

    /* ArgMax keeps the symbolic dims it does not reduce */
    lp_vinfo xa = { .dtype = LP_F32, .shape = { 2, { sym, LP_DIM_UNKNOWN } } };
    const lp_vinfo *ina[1] = { &xa };
    lp_infer_ctx ca = { .node = t.node, .opset = 13, .n_in = 1, .n_out = 1, .in = ina, .out = &out };
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_ArgMax.infer(&ca)); /* axis 0, keepdims 0 (set above) */
    CHECK(out.dtype == LP_I64 && out.shape.ndim == 1 && out.shape.d[0] == LP_DIM_UNKNOWN);
    memset(&out, 0, sizeof out);
    CHECK_OK(lp_opdef_Softmax.infer(&ca));
    CHECK(out.shape.ndim == 2 && out.shape.d[0] == sym);
    lp_graph_free(t.g);
}

/* ---- ArgMax ---- */

static void test_argmax(void)
{
    /* ties: the first index by default, the last with select_last_index */
    tcase t = mk("ArgMax", 1, 1);
    attr_int(&t, "axis", 1);
    lp_tensor *in[1] = { F32(2, D(2, 3), 2, 2, 1, 0, 5, 5) }, *y;
    CHECK_OK(eval(&t, 13, 1, in, 1, &y));
    CHECK(dims_are(y, 2, D(2, 1)));
    CHECK_INTS(y, LP_I64, 0, 1);
    done(&t, 1, in, 1, &y);

    t = mk("ArgMax", 1, 1);
    attr_int(&t, "axis", -1);
    attr_int(&t, "keepdims", 0);
    attr_int(&t, "select_last_index", 1);
    lp_tensor *in2[1] = { F32(2, D(2, 3), 2, 2, 1, 0, 5, 5) };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    CHECK(dims_are(y, 1, D(2)));
    CHECK_INTS(y, LP_I64, 1, 2);
    done(&t, 1, in2, 1, &y);

    /* default axis 0 over a (3,2) int32 input */
    t = mk("ArgMax", 1, 1);
    lp_tensor *in3[1] = { I32(2, D(3, 2), 1, 9, 7, -3, 4, 9) };
    CHECK_OK(eval(&t, 13, 1, in3, 1, &y));
    CHECK(dims_are(y, 2, D(1, 2)));
    CHECK_INTS(y, LP_I64, 1, 0);
    done(&t, 1, in3, 1, &y);

    /* NaN counts as the maximum (NumPy) */
    t = mk("ArgMax", 1, 1);
    lp_tensor *in4[1] = { F32(1, D(3), 1, NAN, 3) };
    CHECK_OK(eval(&t, 13, 1, in4, 1, &y));
    CHECK_INTS(y, LP_I64, 1);
    done(&t, 1, in4, 1, &y);
}

/* ---- Softmax, LogSoftmax: results within 1e-6 relative — each is one exp and one division
 * computed in double and rounded to float32 (0.5 ulp = 6e-8), plus libm's last bit. ---- */

static void test_softmax_opset13_single_axis(void)
{
    /* (2,2,2) with axis -1: each pair (a, a+1) -> (1/(1+e), e/(1+e)) */
    float lo = (float)(1 / (1 + exp(1.0))), hi = (float)(exp(1.0) / (1 + exp(1.0)));
    tcase t = mk("Softmax", 1, 1);
    lp_tensor *in[1] = { F32(3, D(2, 2, 2), 0, 1, 2, 3, 4, 5, 6, 7) }, *y;
    CHECK_OK(eval(&t, 13, 1, in, 1, &y));
    CHECK_F32S(y, 1e-6, lo, hi, lo, hi, lo, hi, lo, hi);
    done(&t, 1, in, 1, &y);

    /* axis 1: pairs (x[i,0,k], x[i,1,k]) differ by 2 */
    float lo2 = (float)(1 / (1 + exp(2.0))), hi2 = (float)(exp(2.0) / (1 + exp(2.0)));
    t = mk("Softmax", 1, 1);
    attr_int(&t, "axis", 1);
    lp_tensor *in2[1] = { F32(3, D(2, 2, 2), 0, 1, 2, 3, 4, 5, 6, 7) };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    CHECK_F32S(y, 1e-6, lo2, lo2, hi2, hi2, lo2, lo2, hi2, hi2);
    done(&t, 1, in2, 1, &y);
}

static void test_softmax_opset11_flattens(void)
{
    /* opset 11, default axis 1: (2,2,2) is seen as (2,4): each row of 4 sums to one */
    double s = 1 + exp(1.0) + exp(2.0) + exp(3.0);
    float p0 = (float)(1 / s), p1 = (float)(exp(1.0) / s), p2 = (float)(exp(2.0) / s), p3 = (float)(exp(3.0) / s);
    tcase t = mk("Softmax", 1, 1);
    lp_tensor *in[1] = { F32(3, D(2, 2, 2), 0, 1, 2, 3, 4, 5, 6, 7) }, *y;
    CHECK_OK(eval(&t, 11, 1, in, 1, &y));
    CHECK_F32S(y, 1e-6, p0, p1, p2, p3, p0, p1, p2, p3);
    done(&t, 1, in, 1, &y);

    t = mk("LogSoftmax", 1, 1);
    attr_int(&t, "axis", 1);
    lp_tensor *in2[1] = { F32(3, D(2, 2, 2), 0, 1, 2, 3, 4, 5, 6, 7) };
    CHECK_OK(eval(&t, 11, 1, in2, 1, &y));
    float l = (float)log(s);
    CHECK_F32S(y, 1e-6, -l, 1 - l, 2 - l, 3 - l, -l, 1 - l, 2 - l, 3 - l);
    done(&t, 1, in2, 1, &y);
}

static void test_softmax_large_numbers(void)
{
    /* exp(1000) overflows: the max is subtracted first */
    float lo = (float)(1 / (1 + exp(1.0))), hi = (float)(exp(1.0) / (1 + exp(1.0)));
    tcase t = mk("Softmax", 1, 1);
    lp_tensor *in[1] = { F32(2, D(2, 2), 1000, 1001, -1000, -999) }, *y;
    CHECK_OK(eval(&t, 13, 1, in, 1, &y));
    CHECK_F32S(y, 1e-6, lo, hi, lo, hi);
    done(&t, 1, in, 1, &y);

    t = mk("LogSoftmax", 1, 1);
    lp_tensor *in2[1] = { F32(2, D(1, 3), 1000, 1000, 1000) };
    CHECK_OK(eval(&t, 13, 1, in2, 1, &y));
    float l = (float)-log(3.0);
    CHECK_F32S(y, 1e-6, l, l, l);
    done(&t, 1, in2, 1, &y);

    t = mk("Softmax", 1, 1);
    lp_tensor *in3[1] = { I32(1, D(2), 1, 2) };
    CHECK(eval(&t, 13, 1, in3, 1, &y) == LOWP_ERR_SHAPE);
    done(&t, 1, in3, 1, &y);
}

int main(void)
{
    RUN(test_reduce_sum_axes_input);
    RUN(test_reduce_sum_attribute_before_13);
    RUN(test_reduce_mean_max_min_prod_l2);
    RUN(test_reduce_int_types);
    RUN(test_reduce_empty_dim);
    RUN(test_reduce_infer_unknowns);
    RUN(test_argmax);
    RUN(test_softmax_opset13_single_axis);
    RUN(test_softmax_opset11_flattens);
    RUN(test_softmax_large_numbers);
    return TEST_SUMMARY("test_ops_reduce");
}
