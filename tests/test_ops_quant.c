/* test_ops_quant.c — the requantize step, Quantize/Dequantize/DynamicQuantizeLinear, and the
 * integer kernels (ConvInteger, MatMulInteger exactly; QLinearConv, QLinearMatMul within one
 * quantization step of a double-precision reference) on random shapes with zero points,
 * per-channel/per-row/per-column parameters, groups, strides and pads (fixed seed). */
#include <math.h>
#include <stdint.h>

#include "ops/op.h"
#include "ops/requant.h"
#include "test.h"

#include "op_harness.h"

static lp_tensor *rand_q8(lp_dtype dt, int nd, const int64_t *dims)
{
    lp_tensor *x = mkt(dt, nd, dims, NULL);
    for (int64_t i = 0; x && i < lp_tensor_numel(x); i++) {
        if (dt == LP_U8)
            ((uint8_t *)x->data)[i] = (uint8_t)rng_int(0, 255);
        else
            ((int8_t *)x->data)[i] = (int8_t)rng_int(-128, 127);
    }
    return x;
}

static int32_t q8_at(const lp_tensor *t, int64_t i)
{
    return t->dtype == LP_U8 ? ((const uint8_t *)t->data)[i] : ((const int8_t *)t->data)[i];
}

static lp_tensor *zp_tensor(lp_dtype dt, int nd, const int64_t *dims, int lo_hi_spread)
{
    lp_tensor *z = mkt(dt, nd, dims, NULL);
    for (int64_t i = 0; z && i < lp_tensor_numel(z); i++) {
        int v = rng_int(-lo_hi_spread, lo_hi_spread);
        if (dt == LP_U8)
            ((uint8_t *)z->data)[i] = (uint8_t)(128 + v);
        else
            ((int8_t *)z->data)[i] = (int8_t)v;
    }
    return z;
}

static lp_tensor *scales(int nd, const int64_t *dims, float lo, float hi)
{
    lp_tensor *s = mkt(LP_F32, nd, dims, NULL);
    for (int64_t i = 0; s && i < lp_tensor_numel(s); i++)
        ((float *)s->data)[i] = lo + (hi - lo) * (rng_float() + 1) / 2;
    return s;
}

/* ---------------- requantize ---------------- */

static void test_requant(void)
{
    /* ties go to even */
    CHECK(lp_requant(0.5f, 0, -128, 127) == 0);
    CHECK(lp_requant(1.5f, 0, -128, 127) == 2);
    CHECK(lp_requant(2.5f, 0, -128, 127) == 2);
    CHECK(lp_requant(-0.5f, 0, -128, 127) == 0);
    CHECK(lp_requant(-1.5f, 0, -128, 127) == -2);
    CHECK(lp_requant(2.5001f, 0, -128, 127) == 3);
    /* zero point after rounding, then saturation */
    CHECK(lp_requant(2.5f, 10, 0, 255) == 12);
    CHECK(lp_requant(300.0f, 0, 0, 255) == 255);
    CHECK(lp_requant(-3.0f, 1, 0, 255) == 0);
    CHECK(lp_requant(126.5f, 1, -128, 127) == 127);
    CHECK(lp_requant(INFINITY, 0, -128, 127) == 127);
    CHECK(lp_requant(-INFINITY, 0, -128, 127) == -128);
    CHECK(lp_requant(1e30f, 0, 0, 255) == 255);
    CHECK(lp_requant(NAN, 7, 0, 255) == 7);
}

/* ---------------- QuantizeLinear / DequantizeLinear ---------------- */

static void test_quantize_per_tensor(void)
{
    tcase t = mk("QuantizeLinear", 3, 1);
    lp_tensor *in[3] = { F32(1, D(7), 0, 2, 3, 1000, -254, -1000, 1.0f), F32(0, NULL, 2), U8(0, NULL, 128) }, *y[1];
    CHECK_OK(eval(&t, 13, 3, in, 1, y));
    const uint8_t want[7] = { 128, 129, 130, 255, 1, 0, 128 }; /* 3/2 = 1.5 -> 2; 1/2 = 0.5 -> 0 */
    CHECK(y[0] && y[0]->dtype == LP_U8);
    for (int i = 0; y[0] && i < 7; i++)
        CHECK_MSG(((uint8_t *)y[0]->data)[i] == want[i], "element %d: %d", i, ((uint8_t *)y[0]->data)[i]);
    done(&t, 3, in, 1, y);
    /* no zero point: uint8 with zp 0 */
    t = mk("QuantizeLinear", 2, 1);
    lp_tensor *in2[2] = { F32(1, D(3), -1, 0.49f, 77.5f), F32(0, NULL, 0.5f) };
    CHECK_OK(eval(&t, 10, 2, in2, 1, y));
    CHECK(y[0] && y[0]->dtype == LP_U8 && ((uint8_t *)y[0]->data)[0] == 0 && ((uint8_t *)y[0]->data)[1] == 1 &&
          ((uint8_t *)y[0]->data)[2] == 155);
    done(&t, 2, in2, 1, y);
    /* int8 output */
    t = mk("QuantizeLinear", 3, 1);
    lp_tensor *in3[3] = { F32(1, D(4), -300, -0.25f, 0.25f, 300), F32(0, NULL, 0.5f), I8(0, NULL, -1) };
    CHECK_OK(eval(&t, 13, 3, in3, 1, y));
    const int8_t want8[4] = { -128, -1, -1, 127 };
    for (int i = 0; y[0] && i < 4; i++)
        CHECK(((int8_t *)y[0]->data)[i] == want8[i]);
    done(&t, 3, in3, 1, y);
}

/* Per-axis along axis 1 (default) and axis -1; round trip within half a step. */
static void test_quantize_dequantize_axis(void)
{
    rng_seed(21);
    for (int trial = 0; trial < 8; trial++) {
        lp_dtype qt = trial & 1 ? LP_I8 : LP_U8;
        int axis = trial & 2 ? -1 : 1;
        int64_t dims[4] = { 2, 3, 4, 5 }, C = axis == 1 ? 3 : 5, inner = axis == 1 ? 20 : 1;
        tcase t = mk("QuantizeLinear", 3, 1);
        if (axis != 1 || trial & 4)
            attr_int(&t, "axis", axis);
        lp_tensor *in[3] = { rand_f32(4, dims), scales(1, D(C), 0.002f, 0.02f), zp_tensor(qt, 1, D(C), 20) }, *y[1];
        CHECK_OK(eval(&t, 13, 3, in, 1, y));
        const float *x = in[0]->data, *s = in[1]->data;
        int bad = 0;
        for (int64_t i = 0; y[0] && i < 120; i++) {
            int64_t c = (i / inner) % C;
            double want = rint((double)(x[i] / s[c])) + q8_at(in[2], c);
            int32_t lo, hi;
            lp_quant_range(qt == LP_I8, &lo, &hi);
            want = want < lo ? lo : want > hi ? hi : want;
            bad += q8_at(y[0], i) != (int32_t)want;
        }
        CHECK_MSG(bad == 0, "trial %d: %d off", trial, bad);
        /* dequantize back: within half a step where nothing saturated */
        tcase t2 = mk("DequantizeLinear", 3, 1);
        if (axis != 1)
            attr_int(&t2, "axis", axis);
        lp_tensor *in2[3] = { y[0], in[1], in[2] }, *z[1];
        CHECK_OK(eval(&t2, 13, 3, in2, 1, z));
        bad = 0;
        for (int64_t i = 0; z[0] && i < 120; i++) {
            int64_t c = (i / inner) % C;
            int32_t q = q8_at(y[0], i);
            bool sat = q == (qt == LP_I8 ? -128 : 0) || q == (qt == LP_I8 ? 127 : 255);
            CHECK(((float *)z[0]->data)[i] == (float)(q - q8_at(in[2], c)) * s[c]);
            bad += !sat && fabs(((float *)z[0]->data)[i] - x[i]) > 0.5 * s[c] * (1 + 1e-6);
        }
        CHECK(bad == 0);
        lp_tensor_free(z[0]);
        lp_graph_free(t2.g);
        done(&t, 3, in, 1, y);
    }
}

static void test_quant_errors(void)
{
    /* per-axis before opset 13 */
    tcase t = mk("QuantizeLinear", 3, 1);
    lp_tensor *in[3] = { rand_f32(2, D(2, 3)), scales(1, D(3), 0.1f, 0.2f), zp_tensor(LP_U8, 1, D(3), 3) }, *y[1];
    CHECK(eval(&t, 10, 3, in, 1, y) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "opset 13") != NULL);
    /* scale count not matching the axis */
    CHECK(eval(&t, 13, 3, (lp_tensor *[]){ in[0], in[1], in[2] }, 1, y) == LP_OK);
    lp_tensor_free(y[0]);
    attr_int(&t, "axis", 0);
    CHECK(eval(&t, 13, 3, in, 1, y) == LOWP_ERR_SHAPE);
    done(&t, 3, in, 1, y);
    /* a float zero point is refused */
    t = mk("QuantizeLinear", 3, 1);
    lp_tensor *in2[3] = { rand_f32(1, D(4)), F32(0, NULL, 0.1f), F32(0, NULL, 0) };
    CHECK(eval(&t, 13, 3, in2, 1, y) == LOWP_ERR_UNSUPPORTED);
    done(&t, 3, in2, 1, y);
}

static void test_dynamic_quantize(void)
{
    /* the ONNX spec's example */
    tcase t = mk("DynamicQuantizeLinear", 1, 3);
    lp_tensor *in[1] = { F32(1, D(6), 0, 2, -3, -2.5f, 1.34f, 0.5f) }, *y[3];
    CHECK_OK(eval(&t, 11, 1, in, 3, y));
    CHECK(y[1] && y[1]->ndim == 0 && y[2] && y[2]->ndim == 0 && y[2]->dtype == LP_U8);
    if (y[2]) {
        float s = ((float *)y[1]->data)[0];
        CHECK_NEAR(s, 5.0 / 255, 1e-8);
        CHECK(((uint8_t *)y[2]->data)[0] == 153);
        const uint8_t want[6] = { 153, 255, 0, 26, 221, 179 };
        for (int i = 0; i < 6; i++)
            CHECK(((uint8_t *)y[0]->data)[i] == want[i]);
    }
    done(&t, 1, in, 3, y);
    /* all zeros: scale 0, zero point 0, output 0 — no division by zero */
    t = mk("DynamicQuantizeLinear", 1, 3);
    in[0] = F32(1, D(3), 0, 0, 0);
    CHECK_OK(eval(&t, 11, 1, in, 3, y));
    CHECK(y[2] && ((float *)y[1]->data)[0] == 0 && ((uint8_t *)y[2]->data)[0] == 0 && ((uint8_t *)y[0]->data)[1] == 0);
    done(&t, 1, in, 3, y);
    /* 1003 values (blocks of 8 and a tail): ties, values that saturate, NaN; every element as
     * the scalar definition round-half-even(x / scale) + zp, saturated, NaN -> zp */
    t = mk("DynamicQuantizeLinear", 1, 3);
    int64_t n = 1003;
    in[0] = NULL;
    lp_tensor_new(LP_F32, 1, &n, &in[0]);
    float *x = in[0]->data;
    uint64_t rng = 7;
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lowp_random_uniform(&rng) * 4.0 - 1.5);
    x[0] = -1.0f, x[1] = 1.55f; /* the range: scale 0.01, zero point 100 */
    for (int64_t i = 2; i < 300; i++)
        x[i] = ((float)(i % 200) - 100.0f + 0.5f) * 0.01f; /* near-ties */
    x[17] = x[1001] = NAN;
    x[18] = 1e30f, x[19] = -1e30f; /* saturate... and widen the range */
    CHECK_OK(eval(&t, 11, 1, in, 3, y));
    if (y[2]) {
        float s = ((float *)y[1]->data)[0];
        int32_t zp = ((uint8_t *)y[2]->data)[0];
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += ((uint8_t *)y[0]->data)[i] != (uint8_t)lp_requant(x[i] / s, zp, 0, 255);
        CHECK_MSG(bad == 0, "%d of %lld elements differ from the scalar definition", bad, (long long)n);
    }
    done(&t, 1, in, 3, y);
    /* the same with a moderate range, so that most values fall inside it */
    t = mk("DynamicQuantizeLinear", 1, 3);
    lp_tensor_new(LP_F32, 1, &n, &in[0]);
    x = in[0]->data;
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lowp_random_uniform(&rng) * 2.55 - 1.0);
    for (int64_t i = 0; i < 200; i++)
        x[i + 400] = ((float)i - 100.0f + 0.5f) * 0.01f;
    /* the extremes and a later NaN in one vector lane (index mod 8 = 3): the NaN must not
     * wipe what the lane saw before it */
    x[3] = -1.2f, x[11] = 1.8f, x[995] = NAN;
    CHECK_OK(eval(&t, 11, 1, in, 3, y));
    if (y[2]) {
        float s = ((float *)y[1]->data)[0];
        int32_t zp = ((uint8_t *)y[2]->data)[0];
        int bad = 0, mid = 0;
        for (int64_t i = 0; i < n; i++) {
            uint8_t want = (uint8_t)lp_requant(x[i] / s, zp, 0, 255);
            bad += ((uint8_t *)y[0]->data)[i] != want;
            mid += want > 0 && want < 255;
        }
        CHECK_MSG(bad == 0, "%d of %lld elements differ from the scalar definition", bad, (long long)n);
        CHECK(mid > 900); /* the comparison covered unsaturated values */
        float lo = 0, hi = 0; /* the range ignores the NaN */
        for (int64_t i = 0; i < n; i++)
            if (!isnan(x[i]))
                lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
        CHECK(s == (hi - lo) / 255.0f);
    }
    done(&t, 1, in, 3, y);
}

/* ---------------- integer convolution ---------------- */

/* acc[n][m][oh][ow] = sum (x - xzp) * (w[m] - wzp[m]) over the group's channels and window */
static void ref_conv_int(const lp_tensor *x, int32_t xzp, const lp_tensor *w, const lp_tensor *wzp, int64_t group,
                         const int64_t *s, const int64_t *d, const int64_t *p, const int64_t *yd, int64_t *acc)
{
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], M = w->dims[0];
    int64_t Cg = C / group, Mg = M / group, kh = w->dims[2], kw = w->dims[3], OH = yd[2], OW = yd[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int32_t wz = wzp ? q8_at(wzp, lp_tensor_numel(wzp) == 1 ? 0 : m) : 0;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t sum = 0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t a = 0; a < kh; a++)
                            for (int64_t b = 0; b < kw; b++) {
                                int64_t h = oh * s[0] - p[0] + a * d[0], v = ow * s[1] - p[1] + b * d[1];
                                if (h < 0 || h >= H || v < 0 || v >= W)
                                    continue;
                                int64_t ci = (m / Mg) * Cg + c;
                                sum += (int64_t)(q8_at(x, ((n * C + ci) * H + h) * W + v) - xzp) *
                                       (q8_at(w, ((m * Cg + c) * kh + a) * kw + b) - wz);
                            }
                    acc[((n * M + m) * OH + oh) * OW + ow] = sum;
                }
        }
}

static void test_conv_integer_random(void)
{
    rng_seed(31);
    for (int trial = 0; trial < 48; trial++) {
        bool qlinear = trial % 2 == 1;
        lp_dtype xt = trial % 4 < 2 ? LP_U8 : LP_I8, wt = trial % 3 == 0 ? LP_U8 : LP_I8;
        int64_t group = trial % 5 == 0 ? rng_int(2, 3) : 1, N = rng_int(1, 2);
        int64_t C = group * rng_int(1, 4), M = group * rng_int(1, 4);
        if (trial % 6 == 5)
            group = C = M = rng_int(2, 5); /* depthwise */
        int64_t k[2] = { rng_int(1, 3), rng_int(1, 3) }, s[2] = { rng_int(1, 2), rng_int(1, 3) };
        int64_t d[2] = { rng_int(1, 2), 1 }, p[4] = { rng_int(0, 1), rng_int(0, 2), rng_int(0, 1), rng_int(0, 2) };
        int64_t H = (k[0] - 1) * d[0] + 1 + rng_int(0, 7), W = k[1] + rng_int(0, 7);
        int64_t yd[4] = { N, M, (H + p[0] + p[2] - ((k[0] - 1) * d[0] + 1)) / s[0] + 1, (W + p[1] + p[3] - k[1]) / s[1] + 1 };
        bool per_channel = trial % 3 != 2;
        lp_tensor *x = rand_q8(xt, 4, D(N, C, H, W)), *w = rand_q8(wt, 4, D(M, C / group, k[0], k[1]));
        lp_tensor *xzp = zp_tensor(xt, 0, NULL, 30), *wzp = per_channel ? zp_tensor(wt, 1, D(M), 10) : zp_tensor(wt, 0, NULL, 10);
        tcase t = mk(qlinear ? "QLinearConv" : "ConvInteger", qlinear ? 9 : 4, 1);
        if (group > 1)
            attr_int(&t, "group", group);
        attr_ints(&t, "strides", 2, s);
        attr_ints(&t, "dilations", 2, d);
        attr_ints(&t, "pads", 4, p);
        lp_tensor *y[1];
        int64_t *ref = malloc((size_t)(yd[0] * yd[1] * yd[2] * yd[3]) * sizeof *ref);
        ref_conv_int(x, q8_at(xzp, 0), w, wzp, group, s, d, p, yd, ref);
        if (!qlinear) {
            lp_tensor *in[4] = { x, w, xzp, wzp };
            CHECK_OK(eval(&t, 10, 4, in, 1, y));
            CHECK(dims_are(y[0], 4, yd) && y[0]->dtype == LP_I32);
            int bad = 0;
            for (int64_t i = 0; dims_are(y[0], 4, yd) && i < lp_tensor_numel(y[0]); i++)
                bad += ((int32_t *)y[0]->data)[i] != ref[i];
            CHECK_MSG(bad == 0, "trial %d: %d off", trial, bad);
            done(&t, 4, in, 1, y);
        } else {
            /* scales chosen so outputs spread over the range; bias in the accumulator domain */
            lp_tensor *xs = scales(0, NULL, 0.01f, 0.03f), *ws = scales(per_channel ? 1 : 0, D(M), 0.002f, 0.01f);
            lp_tensor *ys = scales(0, NULL, 0.02f, 0.2f), *yzp = zp_tensor(xt, 0, NULL, 20);
            lp_tensor *b = mkt(LP_I32, 1, D(M), NULL);
            for (int64_t m = 0; m < M; m++)
                ((int32_t *)b->data)[m] = rng_int(-2000, 2000);
            lp_tensor *in[9] = { x, xs, xzp, w, ws, wzp, ys, yzp, b };
            CHECK_OK(eval(&t, 10, 9, in, 1, y));
            CHECK(dims_are(y[0], 4, yd) && y[0]->dtype == xt);
            int bad = 0, inexact = 0;
            int32_t lo, hi;
            lp_quant_range(xt == LP_I8, &lo, &hi);
            int64_t P = yd[2] * yd[3];
            for (int64_t i = 0; dims_are(y[0], 4, yd) && i < lp_tensor_numel(y[0]); i++) {
                int64_t m = (i / P) % M;
                double real = (double)(ref[i] + ((int32_t *)b->data)[m]) * ((float *)xs->data)[0] *
                              ((float *)ws->data)[per_channel ? m : 0] / ((float *)ys->data)[0] + q8_at(yzp, 0);
                double want = real < lo ? lo : real > hi ? hi : real;
                /* within one quantization step of the exact real-valued result */
                bad += fabs(q8_at(y[0], i) - want) > 1.0;
                inexact += q8_at(y[0], i) != (int32_t)(want < lo ? lo : want > hi ? hi : rint(want));
            }
            CHECK_MSG(bad == 0, "trial %d: %d outputs beyond one step", trial, bad);
            CHECK_MSG(inexact <= 2, "trial %d: %d outputs not the nearest level", trial, inexact);
            done(&t, 9, in, 1, y);
        }
        free(ref);
    }
}

/* ---------------- integer matmul ---------------- */

static void test_matmul_integer_random(void)
{
    rng_seed(41);
    for (int trial = 0; trial < 24; trial++) {
        bool qlinear = trial % 2 == 1;
        lp_dtype at = trial % 4 < 2 ? LP_U8 : LP_I8, bt = trial % 3 == 0 ? LP_U8 : LP_I8;
        int64_t Bn = rng_int(1, 3), M = rng_int(1, 9), K = rng_int(1, 40), N = rng_int(1, 21);
        bool batched = trial % 5 != 0, per_row = trial % 3 != 1;
        int na = batched ? 3 : 2;
        lp_tensor *a = rand_q8(at, na, batched ? D(Bn, M, K) : D(M, K)), *b = rand_q8(bt, 2, D(K, N));
        lp_tensor *azp = per_row ? zp_tensor(at, 1, D(M), 20) : zp_tensor(at, 0, NULL, 20);
        lp_tensor *bzp = per_row ? zp_tensor(bt, 1, D(N), 20) : zp_tensor(bt, 1, D(1), 20);
        int64_t nb = batched ? Bn : 1, ydims[3] = { Bn, M, N };
        int64_t *ref = malloc((size_t)(nb * M * N) * sizeof *ref);
        for (int64_t q = 0; q < nb; q++)
            for (int64_t r = 0; r < M; r++)
                for (int64_t c = 0; c < N; c++) {
                    int64_t s = 0;
                    for (int64_t p = 0; p < K; p++)
                        s += (int64_t)(q8_at(a, (q * M + r) * K + p) - q8_at(azp, per_row ? r : 0)) *
                             (q8_at(b, p * N + c) - q8_at(bzp, per_row ? c : 0));
                    ref[(q * M + r) * N + c] = s;
                }
        lp_tensor *y[1];
        const int64_t *yd = batched ? ydims : ydims + 1;
        if (!qlinear) {
            tcase t = mk("MatMulInteger", 4, 1);
            lp_tensor *in[4] = { a, b, azp, bzp };
            CHECK_OK(eval(&t, 10, 4, in, 1, y));
            CHECK(dims_are(y[0], na, yd) && y[0]->dtype == LP_I32);
            int bad = 0;
            for (int64_t i = 0; dims_are(y[0], na, yd) && i < nb * M * N; i++)
                bad += ((int32_t *)y[0]->data)[i] != ref[i];
            CHECK_MSG(bad == 0, "trial %d: %d off", trial, bad);
            done(&t, 4, in, 1, y);
        } else {
            tcase t = mk("QLinearMatMul", 8, 1);
            lp_tensor *as = per_row ? scales(1, D(M), 0.01f, 0.03f) : scales(0, NULL, 0.01f, 0.03f);
            lp_tensor *bs = per_row ? scales(1, D(N), 0.005f, 0.02f) : scales(1, D(1), 0.005f, 0.02f);
            lp_tensor *ys = scales(0, NULL, 0.05f, 0.2f), *yzp = zp_tensor(bt, 0, NULL, 10);
            lp_tensor *in[8] = { a, as, azp, b, bs, bzp, ys, yzp };
            CHECK_OK(eval(&t, 10, 8, in, 1, y));
            CHECK(dims_are(y[0], na, yd) && y[0]->dtype == bt);
            int32_t lo, hi;
            lp_quant_range(bt == LP_I8, &lo, &hi);
            int bad = 0;
            for (int64_t i = 0; dims_are(y[0], na, yd) && i < nb * M * N; i++) {
                int64_t r = (i / N) % M, c = i % N;
                double real = (double)ref[i] * ((float *)as->data)[per_row ? r : 0] * ((float *)bs->data)[per_row ? c : 0] /
                              ((float *)ys->data)[0] + q8_at(yzp, 0);
                double want = real < lo ? lo : real > hi ? hi : real;
                bad += fabs(q8_at(y[0], i) - want) > 1.0; /* one quantization step */
            }
            CHECK_MSG(bad == 0, "trial %d: %d beyond one step", trial, bad);
            done(&t, 8, in, 1, y);
        }
        free(ref);
    }
}

static void test_integer_infer(void)
{
    tcase t = mk("QLinearConv", 8, 1);
    lp_vinfo x = { .dtype = LP_U8, .shape = { 4, { LP_DIM_SYM0, 3, 9, LP_DIM_UNKNOWN } } };
    lp_vinfo w = { .dtype = LP_I8, .shape = { 4, { 6, 3, 3, 3 } } };
    lp_vinfo sc = { .dtype = LP_F32, .shape = { 0 } }, zu = { .dtype = LP_U8, .shape = { 0 } }, zi = { .dtype = LP_I8, .shape = { 0 } };
    const lp_vinfo *in[8] = { &x, &sc, &zu, &w, &sc, &zi, &sc, &zu };
    lp_vinfo out[1];
    CHECK_OK(infer_only(&t, 10, 8, in, 1, out));
    CHECK(out[0].dtype == LP_U8 && out[0].shape.ndim == 4 && out[0].shape.d[0] == LP_DIM_SYM0 &&
          out[0].shape.d[1] == 6 && out[0].shape.d[2] == 7 && out[0].shape.d[3] == LP_DIM_UNKNOWN);
    lp_vinfo xf = { .dtype = LP_F32, .shape = { .ndim = -1 } };
    in[0] = &xf;
    CHECK(infer_only(&t, 10, 8, in, 1, out) == LOWP_ERR_UNSUPPORTED);
    lp_graph_free(t.g);
    t = mk("MatMulInteger", 2, 1);
    lp_vinfo a = { .dtype = LP_U8, .shape = { 2, { 4, 8 } } }, b = { .dtype = LP_I8, .shape = { 2, { 8, LP_DIM_SYM0 } } };
    const lp_vinfo *in2[2] = { &a, &b };
    CHECK_OK(infer_only(&t, 10, 2, in2, 1, out));
    CHECK(out[0].dtype == LP_I32 && out[0].shape.ndim == 2 && out[0].shape.d[1] == LP_DIM_SYM0);
    lp_graph_free(t.g);
}

int main(void)
{
    RUN(test_requant);
    RUN(test_quantize_per_tensor);
    RUN(test_quantize_dequantize_axis);
    RUN(test_quant_errors);
    RUN(test_dynamic_quantize);
    RUN(test_conv_integer_random);
    RUN(test_matmul_integer_random);
    RUN(test_integer_infer);
    return TEST_SUMMARY("test_ops_quant");
}
