/* test_kernels_int8.c — the INT8 lowering of QDQ graphs (src/kernels/dnnl_int8.c) against
 * the reference plan of the same graph (QuantizeLinear/DequantizeLinear and float kernels),
 * on randomized shapes (fixed seed): convolutions with odd sizes, strides, pads, dilations,
 * groups and depthwise; per-tensor and per-channel weights; u8 asymmetric and s8 symmetric
 * activations; with and without ReLU/Clip, residual Add, bias; results requantized (u8 out)
 * or float; Gemm, MatMul (constant weights, and two activations as in attention); taps; and
 * the quantized zoo models.
 *
 * Error bounds (STYLE.md item 7: within one quantization step of the reference):
 *  - A float result of an INT8 op: the INT8 kernel accumulates the integers exactly and
 *    scales once; the reference multiplies dequantized floats and sums in float. They differ
 *    only by float rounding: normalized error (max|fast - ref| / max|ref|) <= 1e-5.
 *  - A requantized result (Q -> DQ after the op): the integers may differ by one where the
 *    float value lies within rounding noise of a .5 boundary: |fast - ref| <= s_y (+ 1e-5
 *    of max|ref| for the float part).
 *  - An op reading a requantized intermediate y (a chain): each y element within one step
 *    s_y moves output c by at most s_y * sum_k |w[c,k]|: the bound is that L1 norm times s_y
 *    (+ 1e-5 of max|ref|). In practice flips are rare and the error far smaller.
 *  - Whole models (zoo): argmax equal on every sample, logits within 5 % of max|logit|
 *    (observed ~0.5 %: a few one-step flips per layer, propagated through 5-20 layers).
 *
 * Usage: test_kernels_int8 [-v]   (-v prints each plan's steps; LOWP_TEST_SEED=N other cases) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/session.h"
#include "graph_builder.h"
#include "kernels/dnnl.h"
#include "kernels/dnnl_internal.h"
#include "lowp.h"
#include "onnx/model.h"
#include "quant/quantize.h"
#include "test.h"

#define TOL_F32 1e-5

static int verbose;
static uint64_t rng_state = 0x1a7e8c0ffee5ULL;

static uint64_t next_u64(void) { return lowp_random_next(&rng_state); }
static int rnd(int lo, int hi) { return lo + (int)(next_u64() % (uint64_t)(hi - lo + 1)); }
static double rndu(void) { return lowp_random_uniform(&rng_state); }

/* ---- graphs (graph_builder.h) with contents drawn from rng_state ---- */

/* A graph input, uniform in [lo, hi). */
static int gb_input(gb *b, int nd, const int64_t *dims, float lo, float hi)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LOWP_FLOAT, nd, dims, &t));
    for (int64_t i = 0; t && i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)(lo + (hi - lo) * rndu());
    return gb_feed(b, t);
}

/* ---- the quantizer's patterns ---- */

/* A graph input that is quantized keeps off the rounding ties where oneDNN and ONNX may land
 * one step apart (lp_test_off_ties): the bounds here do not carry that step, and with 10^4
 * inputs a case would meet one. */
static void off_ties(gb *b, int x, float s)
{
    for (int i = 0; i < b->n_feed; i++)
        if (b->g->inputs[i] == x)
            lp_test_off_ties(b->feed[i]->data, lp_tensor_numel(b->feed[i]), s);
}

/* x -> QuantizeLinear -> DequantizeLinear over [lo, hi] (u8 asymmetric or s8 symmetric);
 * returns the DQ output, *scale its step. */
static int act_qdq(gb *b, int x, double lo, double hi, bool sym, float *scale)
{
    int32_t zp;
    lp_qparams(lo, hi, sym, scale, &zp);
    off_ties(b, x, *scale);
    int s = gb_scalar(b, LOWP_FLOAT, *scale), z = gb_scalar(b, sym ? LP_I8 : LP_U8, zp);
    int in[3] = { x, s, z };
    int q = gb_op(b, "QuantizeLinear", 3, in);
    in[0] = q;
    return gb_op(b, "DequantizeLinear", 3, in);
}

/* Random int8 weights (symmetric, [-127, 127]) of shape dims, per channel along `axis` (-1:
 * per tensor), through DequantizeLinear; *l1 gets the largest sum of |w_float| over an
 * output channel (dim `out_axis`). */
static int weight_dq_l1(gb *b, int nd, const int64_t *dims, int axis, int out_axis, float *scales_out, double *l1)
{
    lp_tensor *q, *s, *z;
    lp_tensor_new(LP_I8, nd, dims, &q);
    int64_t nch = axis >= 0 ? dims[axis] : 1, inner = 1;
    for (int i = axis + 1; axis >= 0 && i < nd; i++)
        inner *= dims[i];
    lp_tensor_new(LP_F32, axis >= 0 ? 1 : 0, &nch, &s);
    lp_tensor_new(LP_I8, axis >= 0 ? 1 : 0, &nch, &z);
    for (int64_t c = 0; c < nch; c++) {
        ((float *)s->data)[c] = (float)((0.3 + rndu()) / 127.0);
        scales_out[c] = ((float *)s->data)[c];
        ((int8_t *)z->data)[c] = 0;
    }
    int64_t n = lp_tensor_numel(q), no = dims[out_axis], inner_o = 1;
    for (int i = out_axis + 1; i < nd; i++)
        inner_o *= dims[i];
    double *sums = calloc((size_t)no, sizeof *sums);
    for (int64_t i = 0; i < n; i++) {
        int v = rnd(-127, 127);
        ((int8_t *)q->data)[i] = (int8_t)v;
        int64_t c = axis >= 0 ? (i / inner) % nch : 0;
        sums[(i / inner_o) % no] += abs(v) * (double)((float *)s->data)[c];
    }
    *l1 = 0;
    for (int64_t c = 0; c < no; c++)
        *l1 = fmax(*l1, sums[c]);
    free(sums);
    int in[3] = { gb_tensor(b, q), gb_tensor(b, s), gb_tensor(b, z) };
    int y = gb_op(b, "DequantizeLinear", 3, in);
    if (axis >= 0)
        attr_i(b, "axis", axis);
    return y;
}

static int weight_dq(gb *b, int nd, const int64_t *dims, int axis, float *scales_out, double *l1)
{
    return weight_dq_l1(b, nd, dims, axis, 0, scales_out, l1);
}

/* An int32 bias of n values with scale s_x * s_w[c] through DequantizeLinear. */
static int bias_dq(gb *b, int64_t n, float s_x, const float *s_w, bool per_channel)
{
    lp_tensor *q, *s, *z;
    lp_tensor_new(LP_I32, 1, &n, &q);
    int64_t ns = per_channel ? n : 1;
    lp_tensor_new(LP_F32, per_channel ? 1 : 0, &ns, &s);
    lp_tensor_new(LP_I32, per_channel ? 1 : 0, &ns, &z);
    for (int64_t c = 0; c < n; c++) {
        ((int32_t *)q->data)[c] = rnd(-3000, 3000);
        if (c < ns) {
            ((float *)s->data)[c] = s_x * s_w[per_channel ? c : 0];
            ((int32_t *)z->data)[c] = 0;
        }
    }
    int in[3] = { gb_tensor(b, q), gb_tensor(b, s), gb_tensor(b, z) };
    int y = gb_op(b, "DequantizeLinear", 3, in);
    if (per_channel)
        attr_i(b, "axis", 0);
    return y;
}

/* ---- running and comparing ---- */

static void print_plan(const char *what, const lp_plan *p)
{
    char buf[256];
    printf("  plan %s: %d steps\n", what, p->n_steps);
    for (int s = 0; s < p->n_steps; s++)
        printf("    %s\n", lp_plan_step_str(p, s, buf, sizeof buf));
}

/* Steps whose description says INT8, and the count of reference fallbacks / oneDNN ref. */
static void count_steps(const lp_plan *p, int *int8, int *bad)
{
    char buf[256];
    *int8 = *bad = 0;
    for (int s = 0; s < p->n_steps; s++) {
        const char *d = lp_plan_step_str(p, s, buf, sizeof buf);
        *int8 += strstr(d, "int8") != NULL;
        *bad += p->steps[s].kernel == &lp_kernel_dnnl && (strstr(d, "reference fallback") || strstr(d, "ref:"));
    }
}

/* Compiles b's graph for the reference kernels and for all backends; checks the number of
 * INT8 steps (and of all steps when want_steps >= 0) and compares every output with absolute
 * tolerance `tol` + 1e-5 of max|ref|. */
static void check_int8_steps(const char *what, gb *b, int want_int8, int want_steps, double tol)
{
    lp_plan *pf = NULL;
    gb_compare_plans(what, b, TOL_F32, &(gb_compare_opt){ .atol = tol, .verbose = verbose }, &pf);
    if (!pf)
        return;
    if (verbose)
        print_plan(what, pf);
    int n8, bad;
    count_steps(pf, &n8, &bad);
    CHECK_MSG(bad == 0, "%s: %d steps fell back to reference implementations", what, bad);
    CHECK_MSG(n8 == want_int8, "%s: %d INT8 steps, expected %d", what, n8, want_int8);
    CHECK_MSG(want_steps < 0 || pf->n_steps == want_steps, "%s: %d steps, expected %d", what, pf->n_steps, want_steps);
    lp_plan_free(pf);
}

static void check_int8(const char *what, gb *b, int want_int8, double tol)
{
    check_int8_steps(what, b, want_int8, -1, tol);
}

/* ---- Conv ---- */

/* Whether the last random_qconv is a depthwise convolution (one input and output channel per
 * group) of stride 1 with padding: with an asymmetric u8 source and a float result lowp runs
 * it in FP32 (dnnl_int8.c, int8_loses: oneDNN's INT8 kernel for it is slower). */
static bool last_dw_fp32;

/* A random convolution geometry over x (N, C, spatial...); returns the Conv's output. */
static int random_qconv(gb *b, int xdq, float s_x, int nsp, const int64_t *xd, int64_t *yd, bool per_channel,
                        int force_group, double *l1, char *desc, size_t dlen)
{
    /* unpadded dims: the zero point becomes a bias */
    gb_conv cv = gb_conv_random(&rng_state, nsp, xd, force_group ? force_group : -1, GB_CONV_UNPADDED);
    last_dw_fp32 = cv.group == cv.C && cv.M == cv.C && cv.C > 1;
    bool padded = false;
    for (int i = 0; i < nsp; i++) {
        padded |= cv.p[i] + cv.p[nsp + i] > 0;
        last_dw_fp32 &= cv.s[i] == 1;
    }
    last_dw_fp32 &= padded;
    int64_t wd[5];
    gb_conv_wdims(&cv, wd);
    float s_w[512];
    int w = weight_dq(b, nsp + 2, wd, per_channel ? 0 : -1, s_w, l1);
    int bias = rnd(0, 3) ? bias_dq(b, cv.M, s_x, s_w, per_channel) : -1;
    int y = gb_conv_node(b, &cv, xdq, xd, w, bias, yd);
    char geo[128];
    gb_conv_str(&cv, geo, sizeof geo);
    snprintf(desc, dlen, "%s %s%s", geo, per_channel ? "per-channel" : "per-tensor", bias >= 0 ? " bias" : "");
    return y;
}

/* Conv (+ReLU|Clip) (+residual) with a float result, a requantized result as the graph
 * output, or a requantized result read by a second INT8 convolution (u8 between them). */
static void test_conv_int8_random(void)
{
    for (int t = 0; t < 60; t++) {
        gb *b = gb_new(13);
        int nsp = t % 10 == 3 ? 1 : t % 10 == 7 ? 3 : 2;
        int64_t xd[5] = { rnd(1, 3), rnd(1, 17) };
        for (int i = 0; i < nsp; i++)
            xd[2 + i] = nsp == 3 ? rnd(3, 7) : rnd(3, 19);
        bool sym = t % 4 == 1, per_channel = t % 3 != 2;
        double lo = sym ? -1.0 : -0.2 - 0.8 * rndu(), hi = 0.5 + rndu();
        int x = gb_input(b, nsp + 2, xd, (float)lo, (float)hi);
        float s_x, s_y = 0;
        int xdq = act_qdq(b, x, lo, hi, sym, &s_x);
        int64_t yd[5];
        char desc[200], what[260];
        double l1;
        int y = random_qconv(b, xdq, s_x, nsp, xd, yd, per_channel, 0, &l1, desc, sizeof desc);
        bool dw_fp32 = last_dw_fp32 && !sym && nsp < 3; /* (oneDNN's 3-D one is no jit_int8) */
        int act = rnd(0, 2);
        bool residual = t % 5 == 4;
        dw_fp32 &= !residual; /* (a residual Add is a sum post-op: that one stays INT8) */
        if (residual) {
            int r = gb_input(b, nsp + 2, yd, -1.f, 1.f);
            y = op2(b, "Add", y, r);
        }
        if (act == 1)
            y = op1(b, "Relu", y);
        else if (act == 2) {
            int in[3] = { y, gb_scalar(b, LOWP_FLOAT, 0.0), gb_scalar(b, LOWP_FLOAT, 2.0) };
            y = gb_op(b, "Clip", 3, in);
        }
        int out = t % 3; /* 0: float, 1: requantized output, 2: requantized into a 1x1 INT8 conv */
        int n8 = dw_fp32 && (out == 0 || residual) ? 0 : 1;
        double tol = 0;
        if (out >= 1 && !residual) {
            /* the output range: a guess from the weights' L1 norm (the exact range does not matter) */
            double r = 0.6 * l1 * fmax(fabs(lo), fabs(hi)) + 0.1;
            y = act_qdq(b, y, act ? 0.0 : -r, r, false, &s_y);
            tol = s_y * 1.0001;
            if (out == 2) {
                int64_t wd[5] = { rnd(1, 6), yd[1], 1, 1, 1 }, sp[3] = { 1, 1, 1 }, pz[6] = { 0 };
                float s_w2[512];
                double l1b;
                int w2 = weight_dq(b, nsp + 2, wd, per_channel ? 0 : -1, s_w2, &l1b);
                int in[2] = { y, w2 };
                y = gb_op(b, "Conv", 2, in);
                attr_ints(b, "strides", nsp, sp);
                attr_ints(b, "pads", 2 * nsp, pz);
                tol = s_y * l1b * 1.0001;
                n8 = 2;
            }
        }
        gb_output(b, y);
        snprintf(what, sizeof what, "%s %s%s%s%s", desc, sym ? "s8" : "u8", act == 1 ? " relu" : act == 2 ? " clip" : "",
                 residual ? " residual" : "", out == 0 || residual ? " f32-out" : out == 1 ? " u8-out" : " u8->conv");
        check_int8(what, b, n8, tol);
        gb_free(b);
    }
}

/* An asymmetric u8 input quantized from plain NCHW into the channels-last layout oneDNN's
 * INT8 convolutions take: oneDNN 2.6.3's reorder gets the zero point wrong there for more than
 * 16 channels not a multiple of 4 at 64 or 256 positions per channel (nearly every value off),
 * so lowp changes the layout and quantizes in two reorders (dn_reorder_q). Both convolution
 * kinds: unpadded (the zero point folded into the bias, brgconv) and padded (oneDNN's source
 * zero point, jit_int8). Float result: int32 sums scaled once, within 1e-5 of max|ref|. */
static void test_conv_int8_zp_layout(void)
{
    static const int64_t shapes[][3] = { { 17, 8, 8 }, { 23, 8, 8 }, { 18, 16, 16 }, { 33, 4, 16 }, { 26, 8, 8 } };
    for (size_t t = 0; t < 2 * sizeof shapes / sizeof *shapes; t++) {
        const int64_t *sh = shapes[t / 2];
        int64_t pad = (int64_t)(t % 2), M = 8, xd[4] = { 1, sh[0], sh[1], sh[2] }, wd[4] = { M, sh[0], 3, 3 },
                p[4] = { pad, pad, pad, pad };
        gb *b = gb_new(13);
        float s_x, s_w[512];
        double l1;
        int x = gb_input(b, 4, xd, -1.f, 1.f);
        int in[2] = { act_qdq(b, x, -1.0, 1.0, false, &s_x), weight_dq(b, 4, wd, 0, s_w, &l1) };
        int y = gb_op(b, "Conv", 2, in);
        attr_ints(b, "pads", 4, p);
        gb_output(b, y);
        char what[96];
        snprintf(what, sizeof what, "u8 zp 128 C%lld %lldx%lld pad %lld", (long long)sh[0], (long long)sh[1],
                 (long long)sh[2], (long long)pad);
        check_int8(what, b, 1, 0);
        gb_free(b);
    }
}

/* A step that falls back to the reference kernels reads an 8-bit value another step stored
 * in its own layout (DynamicQuantizeLinear's u8, channels-last) as plain integers of that type:
 * ConvInteger forced to the fallback (it once got a float copy: "x and w must be uint8 or
 * int8"). Integer sums: exact. */
static void test_convint_fallback(void)
{
    gb *b = gb_new(13);
    int64_t xd[4] = { 1, 5, 6, 7 }, wd[4] = { 4, 5, 3, 3 }, n1 = 1;
    int x = gb_input(b, 4, xd, -1.f, 2.f);
    /* made by a float convolution (a permutation of the channels times 0.5, exact): it stores x
       channels-last, and DynamicQuantizeLinear its u8 result alike */
    int64_t fd[4] = { 5, 5, 1, 1 };
    lp_tensor *fw;
    lp_tensor_new(LOWP_FLOAT, 4, fd, &fw);
    for (int64_t i = 0; i < 25; i++)
        ((float *)fw->data)[i] = i % 5 == (i / 5 + 1) % 5 ? 0.5f : 0.f;
    x = op2(b, "Conv", x, gb_tensor(b, fw));
    int dq[3] = { gb_value(b, "q"), gb_value(b, "s"), gb_value(b, "z") };
    lp_graph_add_node(b->g, "dql", "DynamicQuantizeLinear", "", 1, &x, 3, dq, &b->last_node);
    lp_tensor *w, *wz;
    lp_tensor_new(LP_I8, 4, wd, &w);
    lp_tensor_new(LP_I8, 0, &n1, &wz);
    for (int64_t i = 0; i < lp_tensor_numel(w); i++)
        ((int8_t *)w->data)[i] = (int8_t)rnd(-127, 127);
    ((int8_t *)wz->data)[0] = 0;
    int in[4] = { dq[0], gb_tensor(b, w), dq[2], gb_tensor(b, wz) };
    int y = op1(b, "Cast", gb_op(b, "ConvInteger", 4, in));
    attr_i(b, "to", LOWP_FLOAT);
    gb_output(b, y);
    const lp_tensor *feed[1] = { b->feed[0] };
    lp_plan_options ro = lp_plan_options_default();
    ro.reference_only = true;
    lp_plan *pr = NULL, *pf = NULL;
    setenv("LOWP_DNNL_TEST_FALLBACK", "ConvInteger", 1);
    CHECK_OK(lp_plan_compile_opt(b->g, feed, NULL, &pf));
    unsetenv("LOWP_DNNL_TEST_FALLBACK");
    CHECK_OK(lp_plan_compile_opt(b->g, feed, &ro, &pr));
    if (pf && pr) {
        char buf[256];
        int fb = 0, private_q = 0;
        for (int k = 0; k < pf->n_steps; k++) {
            fb += strstr(lp_plan_step_str(pf, k, buf, sizeof buf), "reference fallback") != NULL;
            private_q += pf->steps[k].kernel == &lp_kernel_dnnl && ((const dn_step *)pf->steps[k].state)->out_private;
        }
        CHECK_MSG(fb == 1 && private_q >= 1, "%d fallback steps, %d private outputs", fb, private_q);
        if (verbose)
            print_plan("ConvInteger fallback", pf);
        CHECK_OK(lp_plan_run(pr, feed, NULL, NULL));
        CHECK_OK(lp_plan_run(pf, feed, NULL, NULL));
        const lp_tensor *a = &pf->vals[pf->g->outputs[0]], *r = &pr->vals[pr->g->outputs[0]];
        CHECK_MSG(memcmp(a->data, r->data, (size_t)a->nbytes) == 0, "the fallback's sums differ");
    }
    lp_plan_free(pr);
    lp_plan_free(pf);
    gb_free(b);
}

/* A ResNet block's end in a quantized model: Conv + Add(DequantizeLinear residual) + Relu,
 * requantized, the residual coming from another INT8 convolution. With the residual
 * quantized at zero point 0 (after a ReLU) the convolution writes 8 bits and sums the
 * residual's integers -- in place when its result stays in oneDNN's layout (read by the
 * next INT8 convolution); with another zero point it keeps the float sum. */
static void test_conv_int8_residual(void)
{
    for (int t = 0; t < 12; t++) {
        gb *b = gb_new(13);
        int64_t C = rnd(1, 24), M = rnd(1, 24), H = rnd(3, 12), W = rnd(3, 12);
        int64_t xd[4] = { rnd(1, 2), C, H, W }, wd[4] = { M, C, 3, 3 }, w1d[4] = { M, C, 1, 1 };
        int64_t p1[4] = { 1, 1, 1, 1 };
        bool zp0 = t % 4 != 3, into_conv = t % 2 == 1;
        float s_x, s_r, s_y, s_w[512], s_w1[512];
        double l1, l1r;
        int x = gb_input(b, 4, xd, -1.f, 1.f);
        int xdq = act_qdq(b, x, -1.0, 1.0, false, &s_x);
        int in1[3] = { xdq, weight_dq(b, 4, w1d, 0, s_w1, &l1r), -1 };
        int r = gb_op(b, "Conv", 2, in1);
        if (zp0)
            r = op1(b, "Relu", r);
        int rdq = act_qdq(b, r, zp0 ? 0.0 : -l1r, l1r, false, &s_r);
        int in[3] = { xdq, weight_dq(b, 4, wd, 0, s_w, &l1), -1 };
        in[2] = bias_dq(b, M, s_x, s_w, true);
        int y = gb_op(b, "Conv", 3, in);
        attr_ints(b, "pads", 4, p1);
        y = op1(b, "Relu", op2(b, "Add", y, rdq));
        y = act_qdq(b, y, 0.0, l1 + l1r, false, &s_y);
        double tol = s_y * 1.0001;
        int n8 = 2;
        if (into_conv) {
            int64_t w2d[4] = { rnd(1, 6), M, 1, 1 };
            float s_w2[512];
            double l1b;
            int in2[2] = { y, weight_dq(b, 4, w2d, 0, s_w2, &l1b) };
            y = gb_op(b, "Conv", 2, in2);
            tol = s_y * l1b * 1.0001;
            n8 = 3;
        }
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "residual C%lld M%lld %lldx%lld zp %s%s", (long long)C, (long long)M, (long long)H,
                 (long long)W, zp0 ? "0" : "!= 0", into_conv ? " -> conv" : "");
        check_int8(what, b, n8, tol);
        const lp_tensor *feed[1] = { b->feed[0] };
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile(b->g, feed, &p));
        if (p) {
            const dn_step *st = NULL; /* the step running Conv + Add */
            char buf[256], desc[256] = "";
            for (int k = 0; k < p->n_steps; k++)
                if (strstr(lp_plan_step_str(p, k, buf, sizeof buf), "Conv+Add") && p->steps[k].kernel == &lp_kernel_dnnl) {
                    st = p->steps[k].state;
                    strcpy(desc, buf);
                }
            CHECK_MSG(st != NULL, "%s: no oneDNN Conv+Add step", what);
            if (st) {
                bool requant = strstr(desc, "Relu+QuantizeLinear") != NULL;
                CHECK_MSG(requant == zp0, "%s: step '%s'", what, desc);
                bool in_place = st->share_in >= 0;
                CHECK_MSG(in_place == (zp0 && into_conv), "%s: residual %s", what, in_place ? "in place" : "copied");
            }
            lp_plan_free(p);
        }
        gb_free(b);
    }
}

/* The weights whose compensation oneDNN 2.6.3's reorder to channels-last (hwio, hwigo: its
 * gemm convolutions' layout) left 0: 8 output channels of 8 weights each, over every split of
 * the 8 into input channels per group x window, in 1, 2 and 3 dimensions and 1, 2, 4, 8
 * groups; a u8 input with a zero point and padding (the zero point goes to oneDNN, whose
 * weights then carry its compensation) and an s8 one (an s8 source's compensation). The
 * int32 sums are exact and scaled once: within 1e-5 of max|ref| (lowp's int8_weights). */
static void test_conv_int8_comp8x8(void)
{
    static const int64_t splits[][4] = { /* nsp, C per group, window (3-D: 1 x it) */
        { 1, 1, 8 },    { 1, 2, 4 },    { 1, 8, 1 },    { 2, 1, 2, 4 }, { 2, 1, 4, 2 },
        { 2, 1, 8, 1 }, { 2, 2, 2, 2 }, { 2, 8, 1, 1 }, { 3, 1, 2, 4 },
    };
    for (size_t t = 0; t < 8 * sizeof splits / sizeof *splits; t++) {
        const int64_t *sp = splits[t / 8];
        int nsp = (int)sp[0];
        int64_t group = (int64_t)1 << (t % 4), cg = sp[1], M = 8;
        int64_t xd[5] = { 1, group * cg }, wd[5] = { M, cg }, p[6] = { 0 }, ones[3] = { 1, 1, 1 };
        for (int i = 0; i < nsp; i++) {
            int64_t k = nsp < 3 ? sp[2 + i] : i == 0 ? 1 : sp[1 + i]; /* 3-D: 1 x the 2-D window */
            xd[2 + i] = k + 3;
            wd[2 + i] = k;
            p[nsp + i] = i == nsp - 1; /* padded at the end of the last axis */
        }
        bool sym = t % 8 >= 4; /* (every split with 1, 2, 4, 8 groups, u8 then s8) */
        gb *b = gb_new(13);
        float s_x, s_w[8];
        double l1;
        int x = gb_input(b, nsp + 2, xd, -1.f, 1.5f);
        int in[2] = { act_qdq(b, x, -1.0, 1.5, sym, &s_x), weight_dq(b, nsp + 2, wd, 0, s_w, &l1) };
        int y = gb_op(b, "Conv", 2, in);
        attr_i(b, "group", group);
        attr_ints(b, "pads", 2 * nsp, p);
        attr_ints(b, "strides", nsp, ones);
        gb_output(b, y);
        char what[120];
        snprintf(what, sizeof what, "conv%dd 8x8 weights C%lld M8 g%lld %s", nsp, (long long)xd[1], (long long)group,
                 sym ? "s8" : "u8 zp");
        /* (the 1-D and 2-D depthwise ones with a zero point run in FP32:
         * test_conv_int8_dw_posts; oneDNN's 3-D one is no jit_int8) */
        check_int8(what, b, group == 8 && cg == 1 && !sym && nsp < 3 ? 0 : 1, 0);
        gb_free(b);
    }
}

/* A grouped INT8 convolution (more than 16 output channels per group: oneDNN's gemm kernel)
 * followed by a per-channel Mul and Add: oneDNN 2.6.3 applies such binary post-ops to the
 * wrong channels there (tools/dnnl_postop_repro.c; up to 310 of 331 off), so the leader runs
 * in FP32 on the dequantized weights: no INT8 step. Float result: within 1e-5 of max|ref|. */
static void test_conv_int8_grouped_posts(void)
{
    for (int t = 0; t < 4; t++) {
        gb *b = gb_new(13);
        int64_t g = 2 + t % 2, cg = 3, mg = 17 + 8 * (t / 2), M = g * mg;
        int64_t xd[4] = { 1, g * cg, 5, 6 }, wd[4] = { M, cg, 1 + t % 2, 1 + t % 2 }, cd[3] = { M, 1, 1 };
        float s_x, s_w[512];
        double l1;
        int x = gb_input(b, 4, xd, -1.f, 1.f);
        int in[2] = { act_qdq(b, x, -1.0, 1.0, false, &s_x), weight_dq(b, 4, wd, 0, s_w, &l1) };
        int y = gb_op(b, "Conv", 2, in);
        attr_i(b, "group", g);
        lp_tensor *sc, *bi;
        lp_tensor_new(LOWP_FLOAT, 3, cd, &sc);
        lp_tensor_new(LOWP_FLOAT, 3, cd, &bi);
        for (int64_t c = 0; c < M; c++) {
            ((float *)sc->data)[c] = (float)(0.5 + rndu());
            ((float *)bi->data)[c] = (float)(10.0 * c); /* a wrong channel's bias shows */
        }
        y = op2(b, "Add", op2(b, "Mul", y, gb_tensor(b, sc)), gb_tensor(b, bi));
        gb_output(b, y);
        char what[96];
        snprintf(what, sizeof what, "grouped conv g%lld %lld per group k%lld + Mul + Add", (long long)g,
                 (long long)mg, (long long)wd[2]);
        check_int8(what, b, 0, 0);
        gb_free(b);
    }
}

/* Depthwise and grouped convolutions as in MobileNet: 3x3 depthwise + ReLU6 requantized. */
static void test_conv_int8_depthwise(void)
{
    for (int t = 0; t < 8; t++) {
        gb *b = gb_new(13);
        int64_t xd[4] = { rnd(1, 2), 8 * rnd(1, 4), rnd(5, 15), rnd(5, 15) };
        int x = gb_input(b, 4, xd, 0.f, 3.f);
        float s_x, s_y;
        int xdq = act_qdq(b, x, 0.0, 3.0, false, &s_x);
        int64_t yd[4];
        char desc[200];
        double l1;
        int y = random_qconv(b, xdq, s_x, 2, xd, yd, t % 2 == 0, 1, &l1, desc, sizeof desc);
        int in[3] = { y, gb_scalar(b, LOWP_FLOAT, 0.0), gb_scalar(b, LOWP_FLOAT, 6.0) };
        y = gb_op(b, "Clip", 3, in);
        y = act_qdq(b, y, 0.0, 6.0, false, &s_y);
        gb_output(b, y);
        check_int8(desc, b, 1, s_y * 1.0001);
        gb_free(b);
    }
}

/* Depthwise convolutions with every post-op kind lowp fuses (none, Relu, Clip, HardSwish and
 * its decomposed form x * Clip(x + 3, 0, 6) / 6, HardSigmoid, a per-channel Mul + Add, a
 * residual Add), each with a float and a requantized u8 result, from an asymmetric u8 source
 * (padded: oneDNN needs the zero point; unpadded: it is a bias) and an s8 one. A padded u8
 * source, stride 1, eltwise post-ops only and a float result runs in FP32 (dnnl_int8.c,
 * int8_loses: oneDNN's INT8 kernel is the slower jit_int8 there): no INT8 step; the rest are
 * one INT8 step. Bounds as above:
 * float results within 1e-5 of max|ref| (FP32 or exact integer sums scaled once), requantized
 * ones within one step s_y. */
static void test_conv_int8_dw_posts(void)
{
    static const char *posts[] = { "none", "relu", "clip", "hardswish", "x*clip(x+3)/6", "hardsigmoid", "mul+add",
                                   "residual" };
    for (int t = 0; t < 48; t++) {
        int src = t % 3, post = (t / 3) % 8; /* src 0: u8 padded, 1: u8 unpadded, 2: s8 padded */
        bool requant = t >= 24 && post != 7, sym = src == 2;
        int64_t C = 8 * rnd(1, 5) + (t % 2) * 4, k = rnd(0, 1) ? 3 : 5, st = post == 7 ? 1 : rnd(1, 2);
        int64_t xd[4] = { rnd(1, 2), C, rnd(5, 12), rnd(5, 12) }, wd[4] = { C, 1, k, k };
        int64_t pad = src == 1 ? 0 : k / 2, pads[4] = { pad, pad, pad, pad }, sts[2] = { st, st };
        if (post == 7) /* (the residual has the output's shape) */
            pad = pads[0] = pads[1] = pads[2] = pads[3] = k / 2;
        gb *b = gb_new(13);
        double lo = sym ? -1.0 : -0.2 - 0.8 * rndu(), hi = sym ? 1.0 : 0.5 + rndu();
        int x = gb_input(b, 4, xd, (float)lo, (float)hi);
        float s_x, s_y = 0, s_w[64];
        double l1;
        int in[2] = { act_qdq(b, x, lo, hi, sym, &s_x), weight_dq(b, 4, wd, 0, s_w, &l1) };
        int y = gb_op(b, "Conv", 2, in);
        attr_i(b, "group", C);
        attr_ints(b, "pads", 4, pads);
        attr_ints(b, "strides", 2, sts);
        int64_t yd[4] = { xd[0], C, (xd[2] + 2 * pad - k) / st + 1, (xd[3] + 2 * pad - k) / st + 1 }, cd[3] = { C, 1, 1 };
        if (post == 1) {
            y = op1(b, "Relu", y);
        } else if (post == 2) {
            int cin[3] = { y, gb_scalar(b, LOWP_FLOAT, 0.0), gb_scalar(b, LOWP_FLOAT, 6.0) };
            y = gb_op(b, "Clip", 3, cin);
        } else if (post == 3) {
            y = op1(b, "HardSwish", y);
        } else if (post == 4) {
            int cin[3] = { op2(b, "Add", y, gb_scalar(b, LOWP_FLOAT, 3.0)), gb_scalar(b, LOWP_FLOAT, 0.0),
                           gb_scalar(b, LOWP_FLOAT, 6.0) };
            y = op2(b, "Div", op2(b, "Mul", y, gb_op(b, "Clip", 3, cin)), gb_scalar(b, LOWP_FLOAT, 6.0));
        } else if (post == 5) {
            y = op1(b, "HardSigmoid", y);
        } else if (post == 6) {
            lp_tensor *sc, *bi;
            lp_tensor_new(LOWP_FLOAT, 3, cd, &sc);
            lp_tensor_new(LOWP_FLOAT, 3, cd, &bi);
            for (int64_t c = 0; c < C; c++) {
                ((float *)sc->data)[c] = (float)(0.5 + rndu());
                ((float *)bi->data)[c] = (float)(rndu() - 0.5);
            }
            y = op2(b, "Add", op2(b, "Mul", y, gb_tensor(b, sc)), gb_tensor(b, bi));
        } else if (post == 7) {
            y = op2(b, "Add", y, gb_input(b, 4, yd, -1.f, 1.f));
        }
        double tol = 0;
        if (requant) { /* the output range: a guess from the weights' L1 norm, as above */
            double r = 0.6 * l1 * fmax(fabs(lo), fabs(hi)) + 0.1;
            y = act_qdq(b, y, -r, r, false, &s_y);
            tol = s_y * 1.0001;
        }
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "depthwise N%lld C%lld %lldx%lld k%lld s%lld %s %s -> %s", (long long)xd[0],
                 (long long)C, (long long)xd[2], (long long)xd[3], (long long)k, (long long)st,
                 src == 0 ? "u8 padded" : src == 1 ? "u8 unpadded" : "s8", posts[post], requant ? "u8" : "f32");
        /* HardSigmoid is a linear post-op, and requantizing would add a second one with other
         * parameters (dn_post_fits): it is requantized by a step of its own, after a
         * convolution writing float */
        bool f32_dst = !requant || post == 5;
        bool eltwise = post < 6; /* (mul+add, the residual: binary and sum post-ops) */
        check_int8(what, b, pad > 0 && st == 1 && !sym && f32_dst && eltwise ? 0 : 1, tol);
        gb_free(b);
    }
}

/* ResNet-50's convolution shapes (large channel counts: blocked weights, several channel
 * blocks per output scale vector), the stem with an asymmetric input, and a bottleneck's
 * 1x1 + residual + ReLU. */
static void test_conv_int8_large(void)
{
    static const struct { int64_t C, H, M, k, s; bool asym, residual, requant; } cases[] = {
        { 3, 56, 64, 7, 2, true, false, false },   { 64, 28, 64, 3, 1, false, false, true },
        { 256, 14, 64, 1, 1, false, false, true }, { 64, 14, 256, 1, 1, false, true, false },
        { 128, 28, 128, 3, 2, false, false, true }, { 1024, 7, 512, 1, 2, false, false, false },
        { 512, 7, 512, 3, 1, true, false, true },
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        gb *b = gb_new(13);
        int64_t xd[4] = { 1, cases[t].C, cases[t].H, cases[t].H };
        double lo = cases[t].asym ? -2.0 : 0.0, hi = 2.0;
        int x = gb_input(b, 4, xd, (float)lo, (float)hi);
        float s_x, s_y, s_w[2048];
        int xdq = act_qdq(b, x, lo, hi, false, &s_x);
        int64_t k = cases[t].k, wd[4] = { cases[t].M, cases[t].C, k, k }, st[2] = { cases[t].s, cases[t].s };
        int64_t p[4] = { k / 2, k / 2, k / 2, k / 2 };
        double l1;
        int in[3] = { xdq, weight_dq(b, 4, wd, 0, s_w, &l1), -1 };
        in[2] = bias_dq(b, cases[t].M, s_x, s_w, true);
        int y = gb_op(b, "Conv", 3, in);
        attr_ints(b, "strides", 2, st);
        attr_ints(b, "pads", 4, p);
        int64_t od = (cases[t].H + 2 * (k / 2) - k) / cases[t].s + 1, yd[4] = { 1, cases[t].M, od, od };
        if (cases[t].residual)
            y = op2(b, "Add", y, gb_input(b, 4, yd, -1.f, 1.f));
        y = op1(b, "Relu", y);
        double tol = 0;
        if (cases[t].requant) {
            y = act_qdq(b, y, 0.0, 0.3 * l1 * hi, false, &s_y);
            tol = s_y * 1.0001;
        }
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "conv C%lld H%lld M%lld k%lld s%lld%s%s%s", (long long)cases[t].C,
                 (long long)cases[t].H, (long long)cases[t].M, (long long)k, (long long)cases[t].s,
                 cases[t].asym ? " asym" : "", cases[t].residual ? " residual" : "", cases[t].requant ? " u8-out" : "");
        check_int8(what, b, 1, tol);
        gb_free(b);
    }
}

/* One-input-channel 1-D convolutions with a large kernel (STFTs as Conv: openWakeWord's k 512
 * s 160, Silero VAD's k 256 s 64) run as a 1x1 convolution of k channels over their frames
 * (dnnl_frames.c): batches 1-17, kernels not a multiple of the stride, u8/s8, per-tensor and
 * per-channel weights, bias, Relu, a float or requantized result; the bounds of
 * test_conv_int8_random. LOWP_CONV_FRAMES=0 (the plain INT8 convolution) must agree too. */
static void test_conv_int8_frames(void)
{
    for (int t = 0; t < 24; t++) {
        bool off = t % 8 == 7;
        gb *b = gb_new(13);
        int64_t s = rnd(8, 64), k = s * rnd(0, 4) + rnd(16, (int)s + 16), O = rnd(1, 40);
        if ((k + s - 1) / s > 6) /* the phases (frame copies) a step takes */
            k = 6 * s;
        int64_t L = k + s * rnd(0, 12) + rnd(0, 7), xd[3] = { t % 4 == 0 ? 16 : rnd(1, 3), 1, L };
        bool sym = t % 4 == 1, per_channel = t % 3 != 2, relu = t % 2 == 0, requant = t % 5 >= 3;
        double lo = sym ? -1.0 : -0.3 - 0.7 * rndu(), hi = 0.5 + rndu();
        int x = gb_input(b, 3, xd, (float)lo, (float)hi);
        float s_x, s_y, s_w[64];
        int xdq = act_qdq(b, x, lo, hi, sym, &s_x);
        int64_t wd[3] = { O, 1, k };
        double l1;
        int in[3] = { xdq, weight_dq(b, 3, wd, per_channel ? 0 : -1, s_w, &l1), -1 };
        if (t % 3 != 1)
            in[2] = bias_dq(b, O, s_x, s_w, per_channel);
        int y = gb_op(b, "Conv", in[2] >= 0 ? 3 : 2, in);
        attr_ints(b, "strides", 1, &s);
        if (relu)
            y = op1(b, "Relu", y);
        double tol = 0;
        if (requant) {
            double r = 0.6 * l1 * fmax(fabs(lo), fabs(hi)) + 0.1;
            y = act_qdq(b, y, relu ? 0.0 : -r, r, false, &s_y);
            tol = s_y * 1.0001;
        }
        gb_output(b, y);
        char what[200];
        snprintf(what, sizeof what, "STFT conv N%lld L%lld k%lld s%lld O%lld %s %s%s%s%s%s", (long long)xd[0],
                 (long long)L, (long long)k, (long long)s, (long long)O, sym ? "s8" : "u8",
                 per_channel ? "per-channel" : "per-tensor", in[2] >= 0 ? " bias" : "", relu ? " relu" : "",
                 requant ? " u8-out" : "", off ? " LOWP_CONV_FRAMES=0" : "");
        if (off)
            setenv("LOWP_CONV_FRAMES", "0", 1);
        check_int8(what, b, 1, tol);
        const lp_tensor *ins[1] = { b->feed[0] };
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile(b->g, ins, &p));
        unsetenv("LOWP_CONV_FRAMES");
        bool frames = false;
        char buf[256];
        for (int i = 0; p && i < p->n_steps; i++)
            frames |= strstr(lp_plan_step_str(p, i, buf, sizeof buf), "1x1") != NULL;
        /* (frames of k < s taps leave gaps; over a batch whose rows are shorter than T * s their
           views would overlap, which oneDNN refuses: the INT8 convolution as it is then) */
        int64_t T = (L - k) / s + 1;
        bool want = !off && (xd[0] == 1 || T * s <= L);
        CHECK_MSG(frames == want, "%s: %s the frames' 1x1 convolution", what, want ? "not" : "still");
        lp_plan_free(p);
        gb_free(b);
    }
}

/* ---- Gemm / MatMul ---- */

static void test_gemm_int8_random(void)
{
    for (int t = 0; t < 24; t++) {
        gb *b = gb_new(13);
        int64_t M = rnd(1, 40), K = rnd(1, 300), N = rnd(1, 70);
        bool tb = t % 2, sym = t % 5 == 2, per_channel = t % 3 != 0, relu = t % 4 >= 2, chain = t % 3 == 1;
        int64_t xd[2] = { M, K };
        int x = gb_input(b, 2, xd, sym ? -1.f : -0.3f, 1.f);
        float s_x, s_y, s_w[128];
        int xdq = act_qdq(b, x, sym ? -1.0 : -0.3, 1.0, sym, &s_x);
        int64_t wd[2] = { tb ? N : K, tb ? K : N };
        double l1;
        int w = weight_dq(b, 2, wd, per_channel ? (tb ? 0 : 1) : -1, s_w, &l1);
        bool bias = t % 4 != 3;
        int in[3] = { xdq, w, bias ? bias_dq(b, N, s_x, s_w, per_channel) : -1 };
        int y = gb_op(b, "Gemm", bias ? 3 : 2, in);
        attr_i(b, "transB", tb);
        if (relu)
            y = op1(b, "Relu", y);
        double tol = 0;
        int n8 = 1;
        if (chain) { /* an MLP: requantized into the next Gemm */
            y = act_qdq(b, y, relu ? 0.0 : -2.0, 2.0, false, &s_y);
            int64_t w2d[2] = { N, rnd(1, 20) };
            float s_w2[512];
            double l1b;
            int w2 = weight_dq_l1(b, 2, w2d, 1, 1, s_w2, &l1b);
            y = op2(b, "Gemm", y, w2);
            tol = s_y * l1b * 1.0001;
            n8 = 2;
        } else if (t % 3 == 2) {
            y = act_qdq(b, y, relu ? 0.0 : -2.0, 2.0, false, &s_y);
            tol = s_y * 1.0001;
        }
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "gemm M%lld K%lld N%lld transB=%d %s %s%s%s%s", (long long)M, (long long)K,
                 (long long)N, tb, sym ? "s8" : "u8", per_channel ? "per-channel" : "per-tensor", bias ? " bias" : "",
                 relu ? " relu" : "", chain ? " ->gemm" : t % 3 == 2 ? " u8-out" : "");
        check_int8(what, b, n8, tol);
        gb_free(b);
    }
}

/* MatMul with constant (K, N) weights on 2-D and 3-D activations, + bias Add (+ ReLU), the
 * result requantized or float; and a MatMul of two activations (attention scores). */
static void test_matmul_int8(void)
{
    for (int t = 0; t < 12; t++) {
        gb *b = gb_new(13);
        int64_t B = rnd(1, 3), S = rnd(1, 33), K = rnd(2, 200), N = rnd(1, 90);
        int64_t xd[3] = { B, S, K };
        int nd = t % 2 ? 3 : 2;
        const int64_t *dims = nd == 3 ? xd : xd + 1;
        int x = gb_input(b, nd, dims, -1.f, 1.f);
        float s_x, s_y, s_w[128];
        int xdq = act_qdq(b, x, -1.0, 1.0, t % 4 == 3, &s_x);
        int64_t wd[2] = { K, N };
        double l1;
        int w = weight_dq(b, 2, wd, t % 3 ? 1 : -1, s_w, &l1);
        int y = op2(b, "MatMul", xdq, w);
        lp_tensor *bt;
        lp_tensor_new(LOWP_FLOAT, 1, &N, &bt);
        for (int64_t i = 0; i < N; i++)
            ((float *)bt->data)[i] = (float)(rndu() - 0.5);
        y = op2(b, "Add", y, gb_tensor(b, bt));
        if (t % 3 == 1)
            y = op1(b, "Relu", y);
        double tol = 0;
        if (t % 2 == 0) {
            y = act_qdq(b, y, t % 3 == 1 ? 0.0 : -3.0, 3.0, false, &s_y);
            tol = s_y * 1.0001;
        }
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "matmul %dd S%lld K%lld N%lld%s", nd, (long long)S, (long long)K, (long long)N,
                 tol > 0 ? " u8-out" : "");
        check_int8(what, b, 1, tol);
        gb_free(b);
    }
    for (int t = 0; t < 6; t++) { /* scores = Q(a) x Q(b): (B, H, S, D) x (B, H, D, T) */
        gb *b = gb_new(13);
        int64_t ad[4] = { rnd(1, 2), rnd(1, 4), rnd(1, 20), rnd(1, 64) };
        int64_t bd[4] = { ad[0], ad[1], ad[3], rnd(1, 20) };
        int a = gb_input(b, 4, ad, -1.f, 2.f), k = gb_input(b, 4, bd, -1.5f, 1.5f);
        float s_a, s_b;
        int adq = act_qdq(b, a, -1.0, 2.0, false, &s_a), kdq = act_qdq(b, k, -1.5, 1.5, true, &s_b);
        int y = op2(b, "MatMul", adq, kdq);
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "attention matmul (%lld,%lld,%lld,%lld)x(..,%lld)", (long long)ad[0],
                 (long long)ad[1], (long long)ad[2], (long long)ad[3], (long long)bd[3]);
        /* oneDNN's quantizing reorder rounds x / s + zp in one float operation where ONNX rounds
         * x / s and then adds zp: an input within float rounding of a .5 tie (about 1 in 10^5)
         * lands one step apart. Allow one such step in each operand: s_a * max|b| + s_b * max|a|. */
        check_int8(what, b, 1, s_a * 1.5 + s_b * 2.0);
        gb_free(b);
    }
}

/* Dynamic quantization as the quantizer exports it: DynamicQuantizeLinear(x) ->
 * MatMulInteger(x_q, W_q, x_zp, 0) -> Cast -> Mul(x_scale * w_scale) -> Add(bias) [-> Relu].
 * oneDNN runs MatMulInteger with the run-time zero point and the rest as post-ops, in one
 * INT8 step; alone (an unfused plan) it writes the int32 product. The integer product is
 * exact and the float steps are the same operations, so the bound is float rounding. */
static void test_matmul_integer(void)
{
    for (int t = 0; t < 8; t++) {
        gb *b = gb_new(13);
        int64_t S = rnd(1, 40), K = rnd(1, 130), N = rnd(1, 70), B = rnd(1, 3);
        int64_t xd[3] = { B, S, K };
        int nd = t % 2 ? 3 : 2;
        int x = gb_input(b, nd, nd == 3 ? xd : xd + 1, -1.f, 2.f);
        int dq[3] = { gb_value(b, "q"), gb_value(b, "s"), gb_value(b, "z") };
        lp_graph_add_node(b->g, "dql", "DynamicQuantizeLinear", "", 1, &x, 3, dq, &b->last_node);
        lp_tensor *w, *ws, *wz, *bias;
        int64_t wd[2] = { K, N };
        lp_tensor_new(LP_I8, 2, wd, &w);
        lp_tensor_new(LOWP_FLOAT, 1, &N, &ws);
        lp_tensor_new(LP_I8, 1, &N, &wz); /* zeros */
        lp_tensor_new(LOWP_FLOAT, 1, &N, &bias);
        for (int64_t i = 0; i < K * N; i++)
            ((int8_t *)w->data)[i] = (int8_t)rnd(-127, 127);
        for (int64_t i = 0; i < N; i++) {
            ((float *)ws->data)[i] = (float)(0.001 + 0.01 * rndu());
            ((float *)bias->data)[i] = (float)(rndu() - 0.5);
        }
        int in[4] = { dq[0], gb_tensor(b, w), dq[2], gb_tensor(b, wz) };
        int acc = gb_op(b, "MatMulInteger", 4, in);
        int f = op1(b, "Cast", acc);
        attr_i(b, "to", LOWP_FLOAT);
        int scale = op2(b, "Mul", dq[1], gb_tensor(b, ws));
        int y = op2(b, "Add", op2(b, "Mul", f, scale), gb_tensor(b, bias));
        if (t % 3 == 1)
            y = op1(b, "Relu", y);
        gb_output(b, y);
        char what[120];
        snprintf(what, sizeof what, "MatMulInteger %dd S%lld K%lld N%lld%s", nd, (long long)S, (long long)K,
                 (long long)N, t % 3 == 1 ? " relu" : "");
        check_int8(what, b, 1, 0);
        /* the fused step, and MatMulInteger alone in an unfused plan (int32 out) */
        const lp_tensor *feed[1] = { b->feed[0] };
        lp_plan_options o = lp_plan_options_default();
        for (int unfused = 0; unfused < 2; unfused++) {
            o.no_fuse = unfused;
            lp_plan *p = NULL;
            CHECK_OK(lp_plan_compile_opt(b->g, feed, &o, &p));
            if (!p)
                continue;
            char buf[256];
            bool found = false;
            for (int k = 0; k < p->n_steps; k++) {
                const char *d = lp_plan_step_str(p, k, buf, sizeof buf);
                if (strstr(d, "MatMulInteger")) {
                    found = true;
                    CHECK_MSG(p->steps[k].kernel == &lp_kernel_dnnl && strstr(d, "int8") &&
                                  (unfused || strstr(d, "MatMulInteger+Cast+Mul+Add")),
                              "%s: step '%s'", what, d);
                }
            }
            CHECK_MSG(found, "%s: no MatMulInteger step", what);
            if (unfused) { /* the same result through the int32 product */
                CHECK_OK(lp_plan_run(p, feed, NULL, NULL));
                lp_plan *pr = NULL;
                lp_plan_options ro = lp_plan_options_default();
                ro.reference_only = true;
                CHECK_OK(lp_plan_compile_opt(b->g, feed, &ro, &pr));
                if (pr) {
                    CHECK_OK(lp_plan_run(pr, feed, NULL, NULL));
                    const lp_tensor *a = &p->vals[p->g->outputs[0]], *r = &pr->vals[pr->g->outputs[0]];
                    CHECK(memcmp(a->data, r->data, (size_t)a->nbytes) == 0);
                    lp_plan_free(pr);
                }
            }
            lp_plan_free(p);
        }
        gb_free(b);
    }
}

/* ONNX Runtime's dynamic convolution: DynamicQuantizeLinear(x) -> ConvInteger(x_q, W_q, x_zp,
 * w_zp) -> Cast -> Mul(x_scale * w_scale) -> Add(bias) [-> Relu] [-> Add(residual)], weights
 * u8 with a zero point that puts some w - w_zp outside int8 (the oneDNN step then adds a
 * weight correction), u8 whose w - w_zp fit, or s8 symmetric, u8 zero points per tensor or
 * per channel; random geometry (1-D/2-D, strides, dilations, pads, groups, depthwise). The integer sums are exact on
 * both sides; the fast step's float results differ by rounding only: the correction path adds
 * two float terms, each rounded once, whose magnitudes are bounded by the largest possible
 * sum K * 255 * 255 times the output scale -- 4 ulps of that is the tolerance. Unfused, a
 * ConvInteger alone writes the int32 sums (exact) or, with a correction, runs the reference
 * kernel (a float sum would not be exact in int32). */
static void tset(lp_tensor *t, int64_t i, double v) { lp_dtype_traits_of(t->dtype)->set(t->data, i, v); }

static void test_conv_integer(void)
{
    for (int t = 0; t < 32; t++) {
        gb *b = gb_new(13);
        int nsp = rnd(1, 2), group = rnd(0, 2) == 0 ? rnd(2, 4) : 1, kind = t % 3; /* 0 u8, 1 u8 fit, 2 s8 */
        int64_t C = group * rnd(1, 12), M = group * rnd(1, 20);
        if (t % 8 == 3 || t % 8 == 6) { /* depthwise, channel multiplier 1 or 2 (ORT-quantized MobileNets) */
            group = rnd(2, 24);
            C = group;
            M = group * rnd(1, 2);
        }
        int64_t xd[4] = { rnd(1, 2), C }, wd[4] = { M, C / group };
        int64_t k[2], st[2], dl[2], pads[4];
        for (int i = 0; i < nsp; i++) {
            k[i] = rnd(1, 3);
            st[i] = rnd(1, 2);
            dl[i] = rnd(1, 2);
            pads[i] = rnd(0, (int)k[i] - 1);
            pads[nsp + i] = rnd(0, (int)k[i] - 1);
            xd[2 + i] = rnd((int)((k[i] - 1) * dl[i] + 1), 17);
            wd[2 + i] = k[i];
        }
        int x = gb_input(b, 2 + nsp, xd, -1.f, 2.f);
        if (t % 3 == 1) { /* x made by a float convolution: DynamicQuantizeLinear reads it as the
                             convolution stores it (channels-last or blocked). The convolution is
                             exact (a permutation of the channels times 0.5), so both plans see the
                             same x and the bounds below still hold. */
            int64_t fd[4] = { C, C, 1, 1 };
            lp_tensor *fw;
            lp_tensor_new(LOWP_FLOAT, 2 + nsp, fd, &fw);
            for (int64_t i = 0; i < C * C; i++)
                ((float *)fw->data)[i] = i % C == (i / C + 1) % C ? 0.5f : 0.f;
            x = op1(b, "Relu", op2(b, "Conv", x, gb_tensor(b, fw)));
        }
        int dq[3] = { gb_value(b, "q"), gb_value(b, "s"), gb_value(b, "z") };
        lp_graph_add_node(b->g, "dql", "DynamicQuantizeLinear", "", 1, &x, 3, dq, &b->last_node);
        bool per_channel = kind != 2 && rnd(0, 1);
        int64_t nz = per_channel ? M : 1, per = lp_numel(nsp + 1, wd + 1);
        lp_tensor *w, *wz, *ws, *bias;
        lp_tensor_new(kind == 2 ? LP_I8 : LP_U8, 2 + nsp, wd, &w);
        lp_tensor_new(kind == 2 ? LP_I8 : LP_U8, per_channel ? 1 : 0, &nz, &wz);
        int64_t bd[3] = { M, 1, 1 };
        lp_tensor_new(LOWP_FLOAT, 1 + nsp, bd, &ws);
        lp_tensor_new(LOWP_FLOAT, 1 + nsp, bd, &bias);
        for (int64_t c = 0; c < nz; c++)
            tset(wz, c, kind == 0 ? rnd(60, 200) : kind == 1 ? rnd(100, 155) : 0);
        for (int64_t i = 0; i < M * per; i++) {
            int z = (int)lp_tensor_get(wz, per_channel ? i / per : 0);
            tset(w, i, kind == 0 ? rnd(0, 255) : kind == 1 ? rnd(z - 100, z + 100) : rnd(-127, 127));
        }
        for (int64_t i = 0; i < M; i++) {
            ((float *)ws->data)[i] = (float)(0.002 + 0.02 * rndu());
            ((float *)bias->data)[i] = (float)(rndu() - 0.5);
        }
        float max_ws = 0.022f;
        int in[4] = { dq[0], gb_tensor(b, w), dq[2], gb_tensor(b, wz) };
        int acc = gb_op(b, "ConvInteger", 4, in);
        attr_ints(b, "kernel_shape", nsp, k);
        attr_ints(b, "strides", nsp, st);
        attr_ints(b, "dilations", nsp, dl);
        attr_ints(b, "pads", 2 * nsp, pads);
        attr_i(b, "group", group);
        int f = op1(b, "Cast", acc);
        attr_i(b, "to", LOWP_FLOAT);
        int scale = op2(b, "Mul", dq[1], gb_tensor(b, ws));
        int y = op2(b, "Add", op2(b, "Mul", f, scale), gb_tensor(b, bias));
        if (t % 4 == 1)
            y = op1(b, "Relu", y);
        if (t % 5 == 2) { /* a residual of the output's shape */
            int64_t yd[4] = { xd[0], M };
            for (int i = 0; i < nsp; i++)
                yd[2 + i] = (xd[2 + i] + pads[i] + pads[nsp + i] - (k[i] - 1) * dl[i] - 1) / st[i] + 1;
            y = op2(b, "Add", y, gb_input(b, 2 + nsp, yd, -1.f, 1.f));
        }
        if (t % 6 == 5) { /* read by a float convolution: the result stays in the step's own layout
                             (private); the convolution is exact (a permutation of the channels
                             times 0.5), so the bounds below still hold */
            int64_t fd[4] = { M, M, 1, 1 };
            lp_tensor *fw;
            lp_tensor_new(LOWP_FLOAT, 2 + nsp, fd, &fw);
            for (int64_t i = 0; i < M * M; i++)
                ((float *)fw->data)[i] = i % M == (i / M + 1) % M ? 0.5f : 0.f;
            y = op2(b, "Conv", y, gb_tensor(b, fw));
        }
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "ConvInteger %s%s %dd C%lld M%lld g%d k%lld s%lld d%lld%s%s%s",
                 kind == 0 ? "u8" : kind == 1 ? "u8fit" : "s8", per_channel ? " per-channel" : "", nsp, (long long)C,
                 (long long)M, group, (long long)k[0], (long long)st[0], (long long)dl[0], t % 4 == 1 ? " relu" : "",
                 t % 5 == 2 ? " residual" : "", t % 6 == 5 ? " -> conv" : "");
        double K = (double)(C / group) * k[0] * (nsp > 1 ? k[1] : 1);
        /* every form runs on oneDNN: with u8 weights some w - w_zp lie outside int8, and the
         * correction is one window sum for all channels (one group, one zero point) or the
         * convolution with weights of ones, scaled per channel (groups, per-channel zero points) */
        check_int8(what, b, 1, 4 * ldexp(K * 255 * 255 * (3.0 / 255) * max_ws, -23));
        const lp_tensor *feed[2] = { b->feed[0], b->feed[1] };
        lp_plan_options o = lp_plan_options_default(), ro = lp_plan_options_default();
        o.no_fuse = true;
        ro.reference_only = true;
        lp_plan *p = NULL, *pr = NULL;
        CHECK_OK(lp_plan_compile_opt(b->g, feed, &o, &p));
        CHECK_OK(lp_plan_compile_opt(b->g, feed, &ro, &pr));
        if (p && pr) {
            CHECK_OK(lp_plan_run(p, feed, NULL, NULL));
            CHECK_OK(lp_plan_run(pr, feed, NULL, NULL));
            const lp_tensor *a = &p->vals[p->g->outputs[0]], *r = &pr->vals[pr->g->outputs[0]];
            CHECK_MSG(memcmp(a->data, r->data, (size_t)a->nbytes) == 0, "%s: unfused differs", what);
        }
        lp_plan_free(p);
        lp_plan_free(pr);
        gb_free(b);
    }
}

/* A quantized value read by float oneDNN kernels (dequantized on the way in) and a QDQ pair
 * whose result is a graph output (no 8-bit storage). */
static void test_qdq_storage(void)
{
    gb *b = gb_new(13);
    int64_t xd[4] = { 2, 5, 9, 11 };
    int x = gb_input(b, 4, xd, -1.f, 1.f);
    float s;
    int xdq = act_qdq(b, x, -1.0, 1.0, false, &s);
    int m = op1(b, "Relu", xdq);
    gb_output(b, m);
    check_int8("QDQ -> Relu (float reader)", b, 0, 1e-6);
    gb_free(b);
    b = gb_new(13);
    x = gb_input(b, 4, xd, -1.f, 1.f);
    xdq = act_qdq(b, x, -1.0, 1.0, true, &s);
    gb_output(b, xdq);
    check_int8("QDQ as a graph output", b, 0, 1e-6);
    gb_free(b);
}

/* A 1x1 INT8 convolution reading the DQ'd value y of C channels (rank nd): the result as
 * stored by the op before it must be what INT8 convolutions take (the private, channels-last
 * hand-over). *l1 the largest L1 norm of an output channel's weights. */
static int qconv1x1(gb *b, int y, int nd, int64_t C, double *l1)
{
    int64_t wd[5] = { rnd(1, 5), C, 1, 1, 1 }, sp[3] = { 1, 1, 1 }, pz[6] = { 0 };
    float s_w[64];
    int w = weight_dq(b, nd, wd, 0, s_w, l1);
    int in[2] = { y, w };
    int out = gb_op(b, "Conv", 2, in);
    attr_ints(b, "strides", nd - 2, sp);
    attr_ints(b, "pads", 2 * (nd - 2), pz);
    return out;
}

/* INT8 that flows through the ops that move or select values: MaxPool, Concat and Resize
 * between a DequantizeLinear (or a float value) and QuantizeLinear -> DequantizeLinear run on
 * 8-bit data (dnnl_ops.c pool_build_q / concat_build_q, dnnl_resize.c). Randomized: shapes,
 * u8 / s8, the result's parameters equal to the input's (a copy of integers) or wider (a
 * requantization), Concat inputs with their own parameters or float, every Resize mode, the
 * result a graph output (dequantized into float) or read by an INT8 1x1 convolution (kept 8-bit
 * and channels-last).
 * Bounds: the result is one requantized value, so the integers may differ from the
 * reference's by one where the float before rounding lies within rounding noise of a .5
 * boundary -- in the op's own requantization ((q - zp) * s_x / s_y + zp_y in one float
 * operation, or the linear/cubic taps summed in float where the reference sums in double) or
 * in quantizing the input (x / s + zp in one operation where ONNX rounds x / s, then adds
 * zp). The output ranges are chosen at least as wide as the inputs' (s_y >= s_x, as the
 * quantizer does: a Concat's range covers its inputs', MaxPool/Resize keep theirs), so one
 * input step moves the result by at most one output step: |fast - ref| <= s_y (+ 1e-5 of
 * max|ref| for float rounding); through the 1x1 convolution s_y times its weights' L1 norm. */
static void test_qmove_random(void)
{
    static const char *const modes[] = { "nearest", "linear", "cubic" };
    static const char *const coords[] = { "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric" };
    static const char *const rounds[] = { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" };
    static const float scale_set[] = { 0.5f, 1.f, 1.5f, 2.f, 3.f };
    for (int t = 0; t < 90; t++) {
        gb *b = gb_new(13);
        int kind = t % 3, nd = kind == 2 ? rnd(3, 4) : 4;
        bool sym = rnd(0, 3) == 0, q_in = rnd(0, 4) != 0, same = kind != 1 && rnd(0, 1), to_conv = rnd(0, 1);
        int64_t xd[4] = { rnd(1, 2), rnd(1, 19), rnd(2, 13), rnd(2, 13) };
        double lo = sym ? -1.0 : -0.3 - 0.7 * rndu(), hi = 0.4 + rndu();
        float s_x = 0, s_y;
        char what[300];
        int y, n_in = 1, pool = -1;
        int64_t C = xd[1];
        if (kind == 1) { /* Concat of 2-3 inputs along a random axis (mostly channels) */
            int axis = rnd(0, 4) == 0 ? rnd(0, 3) : 1, in[3];
            n_in = rnd(2, 3);
            C = 0;
            for (int k = 0; k < n_in; k++) {
                int64_t d[4];
                memcpy(d, xd, sizeof d);
                d[axis] = rnd(1, 9);
                double l = sym ? -rndu() - 0.1 : -0.3 * rndu(), h = 0.2 + rndu();
                in[k] = gb_input(b, 4, d, (float)l, (float)h);
                if (q_in || k == 0)
                    in[k] = act_qdq(b, in[k], l, h, sym, &s_x);
                C += axis == 1 ? d[1] : 0;
            }
            C = axis == 1 ? C : xd[1];
            y = gb_op(b, "Concat", n_in, in);
            attr_i(b, "axis", axis);
            lo = sym ? -1.1 : -0.3, hi = 1.2;
            snprintf(what, sizeof what, "Concat of %d on axis %d (%s inputs)", n_in, axis, q_in ? "8-bit" : "mixed");
        } else {
            int x = gb_input(b, nd, xd, (float)lo, (float)hi);
            if (q_in)
                x = act_qdq(b, x, lo, hi, sym, &s_x);
            if (kind == 0) {
                int64_t k[2] = { rnd(1, 3), rnd(1, 3) }, st[2] = { rnd(1, 2), rnd(1, 2) };
                int64_t p[4] = { rnd(0, (int)k[0] - 1), rnd(0, (int)k[1] - 1), rnd(0, (int)k[0] - 1), rnd(0, (int)k[1] - 1) };
                for (int i = 0; i < 2; i++)
                    if (k[i] > xd[2 + i] + p[i] + p[2 + i])
                        k[i] = 1, p[i] = p[2 + i] = 0;
                bool global = rnd(0, 7) == 0;
                y = op1(b, global ? "GlobalMaxPool" : "MaxPool", x);
                pool = b->last_node;
                if (!global) {
                    attr_ints(b, "kernel_shape", 2, k);
                    attr_ints(b, "strides", 2, st);
                    attr_ints(b, "pads", 4, p);
                }
                snprintf(what, sizeof what, "%s k%lldx%lld s%lld p%lld", global ? "GlobalMaxPool" : "MaxPool",
                         (long long)k[0], (long long)k[1], (long long)st[0], (long long)p[0]);
            } else {
                int mode = rnd(0, 4) == 0 ? 2 : rnd(0, 1), coord = rnd(0, 3), round = rnd(0, 3);
                float sc[4] = { 1, 1, scale_set[rnd(0, 4)], scale_set[rnd(0, 4)] };
                if (nd == 3)
                    sc[2] = sc[3];
                for (int i = 2; i < nd; i++)
                    if (sc[i] * (float)xd[i] < 1.f)
                        sc[i] = 2.f;
                int64_t n = nd;
                lp_tensor *ts;
                lp_tensor_new(LOWP_FLOAT, 1, &n, &ts);
                memcpy(ts->data, sc, (size_t)nd * sizeof *sc);
                int in[3] = { x, -1, gb_tensor(b, ts) };
                y = gb_op(b, "Resize", 3, in);
                attr_s(b, "mode", modes[mode]);
                attr_s(b, "coordinate_transformation_mode", coords[coord]);
                attr_s(b, "nearest_mode", rounds[round]);
                snprintf(what, sizeof what, "Resize rank %d %s %s x%.1f,%.1f", nd, modes[mode], coords[coord],
                         (double)sc[nd - 2], (double)sc[nd - 1]);
            }
        }
        /* the result's parameters: the input's (MaxPool, Resize: integers pass unchanged), or
           a range at least as wide (requantized; cubic may overshoot its input's range) */
        double widen = same && q_in ? 1.0 : 1.0 + rndu();
        y = act_qdq(b, y, lo * widen, hi * widen, sym, &s_y);
        double tol = s_y * 1.0001;
        /* a MaxPool whose window oneDNN has no kernel for (pool_spec_of: the last window
           ending before the input's end) stays on the reference kernel */
        lp_graph_infer(b->g, false);
        int n8 = pool < 0 || dn_supports_node(b->g, pool);
        if (to_conv) {
            double l1;
            y = qconv1x1(b, y, nd, C, &l1);
            tol *= l1;
            n8++;
        }
        gb_output(b, y);
        size_t k = strlen(what);
        snprintf(what + k, sizeof what - k, " %s %s%s%s", sym ? "s8" : "u8", q_in ? "8-bit in" : "float in",
                 same && q_in ? " same scale" : " requantized", to_conv ? " -> int8 conv" : " -> float out");
        check_int8(what, b, n8, tol);
        gb_free(b);
    }
}

/* An int64 vector constant. */
static int gb_i64(gb *b, int n, const int64_t *v)
{
    lp_tensor *t;
    int64_t d = n;
    lp_tensor_new(LOWP_INT64, 1, &d, &t);
    memcpy(t->data, v, (size_t)n * sizeof *v);
    return gb_tensor(b, t);
}

/* A Slice requantizing 8-bit data (dnnl_ops.c q8_job: a table, and its SSE2 form for
 * contiguous rows) is exact: an input that holds every 8-bit value, as exact multiples of its
 * scale (so quantizing it gives the integers back in both plans), u8 or s8 with random
 * parameters, sliced with steps on the spatial axes into a result of other random parameters
 * and type read by an INT8 convolution (so both are stored channels-last: rows of 16 or 19
 * channels, 8-wide blocks and a rest by the table). The bound, 1e-5 of max|ref| (the
 * convolution's float scaling), is far below one step of the result times the weights: any
 * integer off by one fails. */
static void test_slice_requant_exact(void)
{
    for (int t = 0; t < 24; t++) {
        gb *b = gb_new(13);
        int64_t d[4] = { 1, rnd(0, 1) ? 16 : 19, 6, 6 }, n = d[1] * 36;
        bool sym = rnd(0, 1), sym_y = rnd(0, 1);
        float s = (float)(0.002 + 0.02 * rndu());
        int32_t zp = sym ? 0 : rnd(0, 255);
        int x = gb_input(b, 4, d, 0.f, 0.f);
        float *xv = b->feed[b->n_feed - 1]->data;
        for (int64_t i = 0; i < n; i++) /* every integer at least once, in a shuffled order */
            xv[i] = (float)(((sym ? i % 256 - 128 : i % 256) - zp)) * s;
        for (int64_t i = n - 1; i > 0; i--) {
            int j = rnd(0, (int)i);
            float tmp = xv[i];
            xv[i] = xv[j], xv[j] = tmp;
        }
        int qin[3] = { x, gb_scalar(b, LOWP_FLOAT, s), gb_scalar(b, sym ? LP_I8 : LP_U8, zp) };
        qin[0] = gb_op(b, "QuantizeLinear", 3, qin);
        x = gb_op(b, "DequantizeLinear", 3, qin);
        int64_t st[2] = { rnd(0, 1), rnd(0, 1) }, en[2] = { 6, 6 }, ax[2] = { 2, 3 }, sp[2] = { rnd(1, 2), rnd(1, 3) };
        int in[5] = { x, gb_i64(b, 2, st), gb_i64(b, 2, en), gb_i64(b, 2, ax), gb_i64(b, 2, sp) };
        int y = gb_op(b, "Slice", 5, in);
        float s_y = (float)(0.002 + 0.03 * rndu());
        int32_t zp_y = sym_y ? 0 : rnd(0, 255);
        int qy[3] = { y, gb_scalar(b, LOWP_FLOAT, s_y), gb_scalar(b, sym_y ? LP_I8 : LP_U8, zp_y) };
        qy[0] = gb_op(b, "QuantizeLinear", 3, qy);
        y = gb_op(b, "DequantizeLinear", 3, qy);
        double l1;
        y = qconv1x1(b, y, 4, d[1], &l1);
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "Slice %lld ch steps %lld,%lld %s -> %s (s %.4f zp %d)", (long long)d[1],
                 (long long)sp[0], (long long)sp[1], sym ? "s8" : "u8", sym_y ? "s8" : "u8", (double)s_y, zp_y);
        check_int8_steps(what, b, 2, 3, 0);
        gb_free(b);
    }
}

/* INT8 that flows through the data movement ops: Reshape, Flatten, Squeeze, Unsqueeze,
 * Transpose, Slice and Pad between a DequantizeLinear (or a float value) and QuantizeLinear ->
 * DequantizeLinear run on 8-bit data as one step (dnnl_ops.c view_build_q, transpose_build_q,
 * slice_build_q, pad_build_q): no dequantize / quantize pair around them. Randomized: ranks
 * 2-5, dims, Reshape targets (dims regrouped, -1), Flatten axes, squeezed and inserted axes,
 * permutations, Slice windows (starts, ends -- negative too -- axes, steps 1-3), Pad widths and
 * fills (0 and others), u8 / s8, the result's parameters the input's (what the quantizer
 * writes: propagate_ranges) or wider, results a float graph output or read by an INT8 1x1
 * convolution. The plan must have exactly the input's quantize step (when it is quantized),
 * the op's step and the convolution's.
 * Bounds: with the input's parameters the op copies the integers (a pad's fill is
 * QuantizeLinear of the fill, computed as the reference does) -- but the input's own
 * quantize step computes x / s + zp in one float operation where ONNX rounds x / s first, so
 * an integer may differ by one where x / s lies within rounding noise of a .5 boundary (as in
 * test_qmove_random); requantized (other parameters, or a float input quantized by the step),
 * one requantization more with the same property. Result steps s_y >= s_x (the range is the
 * input's or wider), so: |fast - ref| <= s_y (+ 1e-5 of max|ref| for float rounding); through
 * the convolution s_y times its weights' L1 norm. In the copies the integers are equal but
 * for those input flips. */
static void test_qdata_random(void)
{
    static const char *const kinds[] = { "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Pad" };
    for (int t = 0; t < 140; t++) {
        gb *b = gb_new(13);
        int kind = t % 7, r = rnd(2, 5);
        int64_t xd[6], yd[8];
        int yr = r;
        for (int i = 0; i < r; i++)
            xd[i] = rnd(1, 6);
        int64_t sq_axes[2];
        int n_sq = 0;
        if (kind == 2) { /* Squeeze: one or two dims of 1 */
            n_sq = rnd(1, r > 2 ? 2 : 1);
            sq_axes[0] = rnd(0, r - 1);
            sq_axes[1] = (sq_axes[0] + rnd(1, r - 1)) % r;
            for (int k = 0; k < n_sq; k++)
                xd[sq_axes[k]] = 1;
        }
        bool sym = rnd(0, 3) == 0, q_in = rnd(0, 4) != 0, same = q_in && rnd(0, 2) != 0;
        double lo = sym ? -1.0 : -0.3 - 0.7 * rndu(), hi = 0.4 + rndu();
        int x = gb_input(b, r, xd, (float)lo, (float)hi);
        float s_x = 0, s_y;
        if (q_in)
            x = act_qdq(b, x, lo, hi, sym, &s_x);
        char what[300], detail[160] = "";
        int y;
        int64_t total = lp_numel(r, xd);
        if (kind == 0) { /* Reshape: the dims shuffled, neighbours merged, one maybe -1 */
            int64_t d[6];
            memcpy(d, xd, sizeof d);
            for (int i = r - 1; i > 0; i--) {
                int j = rnd(0, i);
                int64_t tmp = d[i];
                d[i] = d[j], d[j] = tmp;
            }
            yr = 0;
            for (int i = 0; i < r; i++) {
                if (yr && rnd(0, 2) == 0)
                    yd[yr - 1] *= d[i];
                else
                    yd[yr++] = d[i];
            }
            int64_t shp[6];
            memcpy(shp, yd, sizeof shp);
            if (rnd(0, 1))
                shp[rnd(0, yr - 1)] = -1;
            y = op2(b, "Reshape", x, gb_i64(b, yr, shp));
            snprintf(detail, sizeof detail, "to rank %d", yr);
        } else if (kind == 1) { /* Flatten */
            int axis = rnd(0, r);
            yr = 2;
            yd[0] = lp_numel(axis, xd);
            yd[1] = total / yd[0];
            y = op1(b, "Flatten", x);
            attr_i(b, "axis", axis);
            snprintf(detail, sizeof detail, "axis %d", axis);
        } else if (kind == 2) { /* Squeeze */
            yr = 0;
            for (int i = 0; i < r; i++)
                if (!((n_sq > 0 && sq_axes[0] == i) || (n_sq > 1 && sq_axes[1] == i)))
                    yd[yr++] = xd[i];
            y = op2(b, "Squeeze", x, gb_i64(b, n_sq, sq_axes));
            snprintf(detail, sizeof detail, "%d axes", n_sq);
        } else if (kind == 3) { /* Unsqueeze: one or two new axes */
            int n_new = rnd(1, 2);
            yr = r + n_new;
            int64_t axes[2] = { rnd(0, yr - 1), 0 };
            axes[1] = (axes[0] + rnd(1, yr - 1)) % yr;
            for (int i = 0, k = 0; i < yr; i++) {
                bool add = axes[0] == i || (n_new > 1 && axes[1] == i);
                yd[i] = add ? 1 : xd[k++];
            }
            y = op2(b, "Unsqueeze", x, gb_i64(b, n_new, axes));
            snprintf(detail, sizeof detail, "%d axes", n_new);
        } else if (kind == 4) { /* Transpose */
            int64_t perm[6];
            for (int i = 0; i < r; i++)
                perm[i] = i;
            for (int i = r - 1; i > 0; i--) {
                int j = rnd(0, i);
                int64_t tmp = perm[i];
                perm[i] = perm[j], perm[j] = tmp;
            }
            bool dflt = rnd(0, 5) == 0; /* no perm: reversed */
            for (int i = 0; i < r; i++)
                perm[i] = dflt ? r - 1 - i : perm[i];
            for (int i = 0; i < r; i++)
                yd[i] = xd[perm[i]];
            y = op1(b, "Transpose", x);
            if (!dflt)
                attr_ints(b, "perm", r, perm);
            int k = 0;
            for (int i = 0; i < r; i++)
                k += snprintf(detail + k, sizeof detail - (size_t)k, "%s%lld", i ? "," : "perm ", (long long)perm[i]);
        } else if (kind == 5) { /* Slice: a window on some axes */
            int64_t st[6], en[6], ax[6], sp[6];
            int na = 0;
            memcpy(yd, xd, sizeof xd);
            for (int i = 0; i < r; i++) {
                if (rnd(0, 2) == 0 && !(i == r - 1 && na == 0))
                    continue;
                int64_t a = rnd(0, (int)xd[i] - 1), e = rnd((int)a + 1, (int)xd[i]), step = rnd(1, 3);
                yd[i] = (e - a + step - 1) / step;
                st[na] = rnd(0, 1) ? a : a - xd[i];                 /* negative: from the end */
                en[na] = e == xd[i] && rnd(0, 1) ? INT64_MAX : e;   /* past the end: clamped */
                ax[na] = rnd(0, 1) ? i : i - r;
                sp[na++] = step;
            }
            int in[5] = { x, gb_i64(b, na, st), gb_i64(b, na, en), gb_i64(b, na, ax), gb_i64(b, na, sp) };
            y = gb_op(b, "Slice", 5, in);
            snprintf(detail, sizeof detail, "%d axes", na);
        } else { /* Pad, constant */
            int64_t pads[12];
            for (int i = 0; i < 2 * r; i++)
                pads[i] = rnd(0, 2);
            for (int i = 0; i < r; i++)
                yd[i] = xd[i] + pads[i] + pads[r + i];
            double fill = rnd(0, 2) ? 0.0 : rndu() * (hi - lo) + lo;
            int in[3] = { x, gb_i64(b, 2 * r, pads), gb_scalar(b, LOWP_FLOAT, fill) };
            y = gb_op(b, "Pad", 3, in);
            snprintf(detail, sizeof detail, "fill %.3g", fill);
        }
        double widen = same ? 1.0 : 1.0 + rndu();
        y = act_qdq(b, y, lo * widen, hi * widen, sym, &s_y);
        double tol = s_y * 1.0001;
        bool to_conv = yr >= 3 && yr <= 5 && yd[1] <= 64 && rnd(0, 1);
        if (to_conv) {
            double l1;
            y = qconv1x1(b, y, yr, yd[1], &l1);
            tol *= l1;
        }
        gb_output(b, y);
        int k = 0;
        for (int i = 0; i < r; i++)
            k += snprintf(what + k, sizeof what - (size_t)k, "%s%lld", i ? "x" : "", (long long)xd[i]);
        snprintf(what + k, sizeof what - (size_t)k, " %s %s %s %s%s%s", kinds[kind], detail, sym ? "s8" : "u8",
                 q_in ? "8-bit in" : "float in", same ? " same scale" : " requantized",
                 to_conv ? " -> int8 conv" : " -> float out");
        check_int8_steps(what, b, 1 + to_conv, q_in + 1 + to_conv, tol);
        gb_free(b);
    }
}

/* A float Conv (k x k, pad k/2, bias) of C -> M channels for the quantizer to quantize. */
static int fconv(gb *b, int x, int64_t C, int64_t M, int64_t k)
{
    int64_t wd[4] = { M, C, k, k }, p[4] = { k / 2, k / 2, k / 2, k / 2 };
    lp_tensor *w, *bias;
    lp_tensor_new(LOWP_FLOAT, 4, wd, &w);
    lp_tensor_new(LOWP_FLOAT, 1, &M, &bias);
    for (int64_t i = 0; i < lp_tensor_numel(w); i++)
        ((float *)w->data)[i] = (float)((2 * rndu() - 1) / sqrt((double)(C * k * k)));
    for (int64_t i = 0; i < M; i++)
        ((float *)bias->data)[i] = (float)(0.1 * (2 * rndu() - 1));
    int in[3] = { x, gb_tensor(b, w), gb_tensor(b, bias) };
    int y = gb_op(b, "Conv", 3, in);
    attr_ints(b, "pads", 4, p);
    return y;
}

static double sqnr_db(const lp_tensor *ref, const lp_tensor *y)
{
    double s = 0, e = 0;
    for (int64_t i = 0; i < lp_tensor_numel(ref); i++) {
        double a = ((const float *)ref->data)[i], d = a - ((const float *)y->data)[i];
        s += a * a;
        e += d * d;
    }
    return e > 0 ? 10 * log10(s / e) : 200;
}

/* b's float graph (input x, fed b->feed[0]) calibrated on its feed and quantized with the
 * default recipe; NULL on failure (checked). */
static lowp_model *quantize_gb(gb *b, int x)
{
    CHECK_OK(lp_graph_infer(b->g, true));
    lowp_model fm = { .graph = b->g };
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    lowp_model *qm = NULL;
    CHECK_OK(lowp_calibration_create(&fm, NULL, &cal));
    const char *in_name = b->g->values[x].name;
    if (cal)
        CHECK_OK(lowp_calibration_feed(cal, 1, &in_name, (const lowp_tensor *const *)&b->feed[0]));
    CHECK_OK(lowp_recipe_create(&r));
    if (cal && r)
        CHECK_OK(lowp_quantize(&fm, cal, r, &qm));
    lowp_calibration_free(cal);
    lowp_recipe_free(r);
    return qm;
}

/* The quantized graph q of b's float graph: the INT8 plan has `want_int8` INT8 steps and
 * `want_quantize` quantize steps, no fallback; its output is within 5 % of max|ref| of the
 * reference plan of q and >= min_db SQNR against the FP32 plan of b's graph. */
static void check_quantized(const char *what, gb *b, const lp_graph *q, int want_int8, int want_quantize,
                            double min_db)
{
    const lp_tensor *feed[1] = { b->feed[0] };
    lp_plan *pf = NULL, *p32 = NULL;
    gb_compare_graph(what, q, feed, 0.05, &(gb_compare_opt){ .verbose = verbose }, &pf);
    CHECK_OK(lp_plan_compile_opt(b->g, feed, NULL, &p32));
    if (pf && p32) {
        if (verbose)
            print_plan(what, pf);
        int n8, bad, quantize = 0;
        char buf[256];
        count_steps(pf, &n8, &bad);
        for (int st = 0; st < pf->n_steps; st++)
            quantize += strstr(lp_plan_step_str(pf, st, buf, sizeof buf), "quantize:") != NULL;
        CHECK_MSG(bad == 0 && n8 == want_int8 && quantize == want_quantize,
                  "%s: %d INT8 steps (want %d), %d quantize steps (want %d), %d fallbacks", what, n8, want_int8,
                  quantize, want_quantize, bad);
        CHECK_OK(lp_plan_run(p32, feed, NULL, NULL));
        double db = sqnr_db(&p32->vals[p32->g->outputs[0]], &pf->vals[pf->g->outputs[0]]);
        CHECK_MSG(db >= min_db, "%s: INT8 vs FP32 SQNR %.1f dB", what, db);
        if (verbose)
            printf("  %s: INT8 vs FP32 %.1f dB\n", what, db);
    }
    lp_plan_free(pf);
    lp_plan_free(p32);
}

/* The quantizer's export of a U-Net block (IS-Net's RSU pattern: Conv+Relu feeding a MaxPool
 * and, skipped, a Concat with the upsampled deeper branch) lets INT8 flow: MaxPool, Resize and
 * Concat read DequantizeLinear outputs, MaxPool and Resize with their result's parameters
 * (scale propagation), every Relu output has one reader (its QuantizeLinear, so the
 * convolution writes 8 bits), and the engine runs every step in INT8 with no separate
 * quantize step but the input's. Accuracy: against FP32, >= 30 dB SQNR (8 bits give ~40 dB
 * per layer on such data; four layers and a requantized Concat lose a few dB each; measured
 * 42-44 dB); against the reference plan of the same QDQ graph, the zoo's bound (5 % of
 * max|ref|: a few one-step flips per layer propagated through four layers). */
static void test_quantized_unet(void)
{
    static const char *const modes[] = { "nearest", "linear" };
    for (int t = 0; t < 2; t++) {
        gb *b = gb_new(13);
        int64_t xd[4] = { 2, 4, 16, 16 };
        int x = gb_input(b, 4, xd, -1.f, 1.f);
        int a = op1(b, "Relu", fconv(b, x, 4, 8, 3));
        int m = op1(b, "MaxPool", a);
        int64_t k2[2] = { 2, 2 };
        attr_ints(b, "kernel_shape", 2, k2);
        attr_ints(b, "strides", 2, k2);
        int d = op1(b, "Relu", fconv(b, m, 8, 8, 3));
        int64_t four = 4;
        lp_tensor *ts;
        lp_tensor_new(LOWP_FLOAT, 1, &four, &ts);
        float sc[4] = { 1, 1, 2, 2 };
        memcpy(ts->data, sc, sizeof sc);
        int rin[3] = { d, -1, gb_tensor(b, ts) };
        int u = gb_op(b, "Resize", 3, rin);
        attr_s(b, "mode", modes[t]);
        int cin[2] = { u, a };
        int c = gb_op(b, "Concat", 2, cin);
        attr_i(b, "axis", 1);
        int y = fconv(b, c, 16, 3, 1);
        gb_output(b, y);
        lowp_model *qm = quantize_gb(b, x);
        if (!qm) {
            gb_free(b);
            return;
        }
        const lp_graph *q = qm->graph;
        int moves = 0;
        for (int i = 0; i < q->n_nodes; i++) {
            const lp_node *n = &q->nodes[i];
            if (n->op == LP_OP_Relu) {
                int nr = 0, rq = -1;
                for (int j = 0; j < q->n_nodes; j++)
                    for (int k = 0; k < q->nodes[j].n_in; k++)
                        if (q->nodes[j].in[k] == n->out[0])
                            nr++, rq = j;
                CHECK_MSG(nr == 1 && q->nodes[rq].op == LP_OP_QuantizeLinear, "%s: Relu %s has %d readers", modes[t],
                          n->name, nr);
            }
            if (n->op != LP_OP_MaxPool && n->op != LP_OP_Resize && n->op != LP_OP_Concat)
                continue;
            moves++;
            int nin = n->op == LP_OP_Resize ? 1 : n->n_in;
            for (int k = 0; k < nin; k++) {
                int p = q->values[n->in[k]].producer;
                CHECK_MSG(p >= 0 && q->nodes[p].op == LP_OP_DequantizeLinear, "%s: %s input %d not dequantized",
                          modes[t], n->op_type, k);
            }
            if (n->op != LP_OP_Concat) { /* scale propagation: the input's pair is the result's */
                dn_quant qi, qo;
                int p = q->values[n->in[0]].producer, rq = -1;
                for (int j = 0; j < q->n_nodes; j++)
                    if (q->nodes[j].n_in && q->nodes[j].in[0] == n->out[0])
                        rq = j;
                CHECK(p >= 0 && rq >= 0 && dn_qnode_params(q, p, &qi) && dn_qnode_params(q, rq, &qo) &&
                      qi.scale == qo.scale && qi.zp == qo.zp && qi.dt == qo.dt);
            }
        }
        CHECK(moves == 3);
        /* the engine: every step INT8 (3 Conv, MaxPool, Resize, Concat) but the input's quantize */
        check_quantized(modes[t], b, q, 6, 1, 30);
        lowp_model_free(qm);
        gb_free(b);
    }
}

/* A float MatMul x (..., K) by a random (K, N) weight plus a bias, for the quantizer. */
static int fmatmul(gb *b, int x, int64_t K, int64_t N)
{
    int64_t wd[2] = { K, N };
    lp_tensor *w, *bias;
    lp_tensor_new(LOWP_FLOAT, 2, wd, &w);
    lp_tensor_new(LOWP_FLOAT, 1, &N, &bias);
    for (int64_t i = 0; i < K * N; i++)
        ((float *)w->data)[i] = (float)((2 * rndu() - 1) / sqrt((double)K));
    for (int64_t i = 0; i < N; i++)
        ((float *)bias->data)[i] = (float)(0.1 * (2 * rndu() - 1));
    return op2(b, "Add", op2(b, "MatMul", x, gb_tensor(b, w)), gb_tensor(b, bias));
}

/* x (S, H * d) -> Reshape (1, S, H, d) -> Transpose(perm). */
static int heads(gb *b, int x, int64_t S, int64_t H, int64_t d, const int64_t *perm)
{
    int64_t shp[4] = { 1, S, H, d };
    int y = op1(b, "Transpose", op2(b, "Reshape", x, gb_i64(b, 4, shp)));
    attr_ints(b, "perm", 4, perm);
    return y;
}

/* The quantizer's export of self-attention (BERT's layer: Q, K, V projections split into heads
 * by Reshape -> Transpose, scores, Softmax, context merged back by Transpose -> Reshape, the
 * output projection) lets INT8 flow through the Reshapes and Transposes: each reads a
 * DequantizeLinear with its result's parameters (scale propagation), so the projections write
 * 8 bits, the heads are split and merged on integers (views and u8/s8 transposes), and the
 * plan's only quantize steps are the input's and the Softmax's. Accuracy: against FP32 >= 25 dB
 * (8 bits give ~40 dB per product; five products in a chain, measured 41 dB); against the
 * reference plan of the same QDQ graph, the zoo's bound (5 % of max|ref|: one-step flips of
 * the intermediate integers propagated through three products). */
static void test_quantized_attention(void)
{
    static const int64_t q_perm[4] = { 0, 2, 1, 3 }, k_perm[4] = { 0, 2, 3, 1 };
    const int64_t S = 24, H = 4, d = 8, D = H * d;
    gb *b = gb_new(13);
    int64_t xd[2] = { S, D };
    int x = gb_input(b, 2, xd, -1.f, 1.f);
    int q = heads(b, fmatmul(b, x, D, D), S, H, d, q_perm);
    int k = heads(b, fmatmul(b, x, D, D), S, H, d, k_perm);
    int v = heads(b, fmatmul(b, x, D, D), S, H, d, q_perm);
    int sc = op2(b, "MatMul", q, k); /* (1, H, S, S) */
    int p = op1(b, "Softmax", sc);
    attr_i(b, "axis", -1);
    int ctx = op1(b, "Transpose", op2(b, "MatMul", p, v)); /* (1, S, H, d) */
    attr_ints(b, "perm", 4, q_perm);
    int64_t merged[2] = { S, D };
    int y = fmatmul(b, op2(b, "Reshape", ctx, gb_i64(b, 2, merged)), D, D);
    gb_output(b, y);
    lowp_model *qm = quantize_gb(b, x);
    if (qm) {
        const lp_graph *g = qm->graph;
        int moves = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const lp_node *n = &g->nodes[i];
            if (n->op != LP_OP_Reshape && n->op != LP_OP_Transpose)
                continue;
            moves++;
            dn_quant qi, qo;
            int pi = g->values[n->in[0]].producer, rq = -1;
            for (int j = 0; j < g->n_nodes; j++)
                if (g->nodes[j].n_in && g->nodes[j].in[0] == n->out[0])
                    rq = j;
            CHECK_MSG(pi >= 0 && g->nodes[pi].op == LP_OP_DequantizeLinear && rq >= 0 &&
                          g->nodes[rq].op == LP_OP_QuantizeLinear && dn_qnode_params(g, pi, &qi) &&
                          dn_qnode_params(g, rq, &qo) && qi.scale == qo.scale && qi.zp == qo.zp && qi.dt == qo.dt,
                      "%s %s: not between a DequantizeLinear and a QuantizeLinear of the same parameters", n->op_type,
                      n->name);
        }
        CHECK(moves == 8);
        /* 6 products, 4 Transposes and 4 Reshapes in INT8; Softmax float */
        check_quantized("attention", b, g, 14, 2, 25);
    }
    lowp_model_free(qm);
    gb_free(b);
}

/* Taps see every value of a quantized graph (the unfused twin) with reference values;
 * the reference run's values are copied by a tap too (the arena reuses their memory).
 * worst: of float values, relative to max|ref|; worst_steps: of DequantizeLinear outputs, in
 * quantization steps -- the float values before them differ by rounding (1e-7 of 5), so a
 * value within that of a .5 tie requantizes one step apart (docs/engine.md, "rounding"), and
 * the float values after such a step (`stepped`) carry it on: those the caller bounds. */
typedef struct tap_log {
    int n;
    char *name[64];
    lp_tensor *copy[64];
    const struct tap_log *ref;
    double worst, worst_steps;
    bool stepped;
} tap_log;

/* The scale of value v when a DequantizeLinear with a constant scalar scale made it, else 0. */
static double dq_scale(const lp_graph *g, int v)
{
    int p = g->values[v].producer;
    if (p < 0 || g->nodes[p].op != LP_OP_DequantizeLinear || g->nodes[p].n_in < 2)
        return 0;
    const lp_value *s = &g->values[g->nodes[p].in[1]];
    return s->kind == LP_VALUE_CONST && lp_tensor_numel(s->init) == 1 ? lp_tensor_get(s->init, 0) : 0;
}

static lp_status tap_cmp(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t)
{
    (void)node;
    tap_log *l = user;
    const char *name = plan->g->values[value].name;
    if (!l->ref) {
        if (l->n < 64) {
            l->name[l->n] = strdup(name);
            lp_tensor_clone(t, &l->copy[l->n]);
        }
        l->n++;
        return LP_OK;
    }
    l->n++;
    const lp_tensor *r = NULL;
    for (int i = 0; i < l->ref->n && i < 64; i++)
        if (strcmp(l->ref->name[i], name) == 0)
            r = l->ref->copy[i];
    if (!r || t->dtype != LOWP_FLOAT)
        return LP_OK;
    double m = 0, mr = 0;
    for (int64_t i = 0; i < lp_tensor_numel(r); i++) {
        m = fmax(m, fabs(((const float *)t->data)[i] - ((const float *)r->data)[i]));
        mr = fmax(mr, fabs(((const float *)r->data)[i]));
    }
    if (verbose)
        printf("  tap %s: error %.3g of %.3g\n", name, m, mr);
    double step = dq_scale(plan->g, value);
    if (step > 0) {
        l->worst_steps = fmax(l->worst_steps, m / step);
        l->stepped |= m > 0;
    } else if (!l->stepped) {
        l->worst = fmax(l->worst, m / (mr > 0 ? mr : 1));
    }
    return LP_OK;
}

static void test_taps(void)
{
    gb *b = gb_new(13);
    int64_t xd[4] = { 1, 4, 10, 10 };
    int x = gb_input(b, 4, xd, -0.5f, 1.f);
    float s_x, s_y, s_w[16];
    int xdq = act_qdq(b, x, -0.5, 1.0, false, &s_x);
    int64_t wd[4] = { 6, 4, 3, 3 }, p[4] = { 1, 1, 1, 1 };
    double l1;
    int in[3] = { xdq, weight_dq(b, 4, wd, 0, s_w, &l1), -1 };
    in[2] = bias_dq(b, 6, s_x, s_w, true);
    int y = gb_op(b, "Conv", 3, in);
    attr_ints(b, "pads", 4, p);
    y = op1(b, "Relu", y);
    y = act_qdq(b, y, 0.0, 4.0, false, &s_y);
    int64_t wd2[4] = { 3, 6, 1, 1 };
    int in2[2] = { y, weight_dq(b, 4, wd2, 0, s_w, &l1) };
    y = gb_op(b, "Conv", 2, in2);
    gb_output(b, y);
    const lp_tensor *feed[1] = { b->feed[0] };
    lp_plan_options ro = lp_plan_options_default();
    ro.reference_only = true;
    lp_plan *pr = NULL, *pf = NULL;
    CHECK_OK(lp_plan_compile_opt(b->g, feed, &ro, &pr));
    CHECK_OK(lp_plan_compile_opt(b->g, feed, NULL, &pf));
    if (pr && pf) {
        tap_log lr = { 0 }, l = { .ref = &lr };
        CHECK_OK(lp_plan_run(pr, feed, tap_cmp, &lr));
        CHECK_OK(lp_plan_run(pf, feed, tap_cmp, &l));
        if (verbose && pf->tap_plan)
            print_plan("tapped twin", pf->tap_plan);
        if (verbose)
            print_plan("reference", pr);
        CHECK_MSG(l.n == pr->n_steps, "taps saw %d values, the reference plan has %d steps", l.n, pr->n_steps);
        CHECK_MSG(l.worst <= 1e-5, "tapped values differ from the reference by %.3g", l.worst);
        CHECK_MSG(l.worst_steps <= 1.0001, "tapped quantized values differ from the reference by %.3g steps",
                  l.worst_steps);
        for (int i = 0; i < lr.n && i < 64; i++) {
            free(lr.name[i]);
            lp_tensor_free(lr.copy[i]);
        }
        CHECK_OK(lp_plan_run(pf, feed, NULL, NULL)); /* untapped again: the fused plan */
        double m = 0;
        const lp_tensor *a = &pf->vals[pf->g->outputs[0]], *r = &pr->vals[pr->g->outputs[0]];
        for (int64_t i = 0; i < lp_tensor_numel(r); i++)
            m = fmax(m, fabs(((float *)a->data)[i] - ((float *)r->data)[i]));
        CHECK_MSG(m <= s_y * l1 * 1.0001 + 1e-4, "after taps: error %.3g", m);
    }
    lp_plan_free(pr);
    lp_plan_free(pf);
    gb_free(b);
}

/* ---- the zoo, quantized ---- */

static void check_zoo_int8(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "models/%s.onnx", name);
    lowp_model *m = NULL, *q = NULL;
    lowp_tensor *x = NULL, *y[2] = { NULL, NULL };
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    CHECK_OK(lowp_model_load(path, &m));
    CHECK_OK(lowp_tensor_load_npy("models/fixed_batch_input.npy", &x));
    if (!m || !x)
        goto done;
    const char *in = lowp_model_input_name(m, 0);
    CHECK_OK(lowp_calibration_create(m, NULL, &cal));
    CHECK_OK(lowp_calibration_feed(cal, 1, &in, (const lowp_tensor *const *)&x));
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_quantize(m, cal, r, &q));
    if (!q)
        goto done;
    int n8 = 0;
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0)
            setenv("LOWP_KERNELS", "reference", 1);
        lowp_session *s = NULL;
        CHECK_OK(lowp_session_create(q, NULL, &s));
        if (s)
            CHECK_OK(lowp_session_run(s, 1, &in, (const lowp_tensor *const *)&x, 1, &y[kind]));
        unsetenv("LOWP_KERNELS");
        if (kind == 1 && s && s->n_plans) {
            int bad;
            count_steps(s->plans[0], &n8, &bad);
            CHECK_MSG(bad == 0, "%s: %d steps fell back to reference implementations", name, bad);
            if (verbose)
                print_plan(name, s->plans[0]);
        }
        lowp_session_free(s);
    }
    if (!y[0] || !y[1])
        goto done;
    const float *a = y[1]->data, *b = y[0]->data;
    int n = (int)y[0]->dims[0], c = (int)y[0]->dims[1], agree = 0;
    double m_err = 0, mr = 0;
    for (int i = 0; i < n; i++) {
        int ia = 0, ib = 0;
        for (int j = 0; j < c; j++) {
            m_err = fmax(m_err, fabs(a[i * c + j] - b[i * c + j]));
            mr = fmax(mr, fabs(b[i * c + j]));
            ia = a[i * c + j] > a[i * c + ia] ? j : ia;
            ib = b[i * c + j] > b[i * c + ib] ? j : ib;
        }
        agree += ia == ib;
    }
    printf("  %s int8: %d INT8 steps, logits error %.3g of max|logit| %.3g, top-1 agrees %d/%d\n", name, n8,
           m_err / mr, mr, agree, n);
    CHECK_MSG(n8 > 0, "%s: no INT8 step", name);
    CHECK_MSG(agree == n, "%s: top-1 differs on %d samples", name, n - agree);
    CHECK_MSG(m_err <= 0.05 * mr, "%s: logits error %.3g > 5%% of %.3g", name, m_err, mr);
done:
    lowp_tensor_free(y[0]);
    lowp_tensor_free(y[1]);
    lowp_tensor_free(x);
    lowp_recipe_free(r);
    lowp_calibration_free(cal);
    lowp_model_free(q);
    lowp_model_free(m);
}

static void test_zoo_int8(void)
{
    static const char *const names[] = { "resnet_s", "mobilenetv2_s", "mlp" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_zoo_int8(names[i]);
}

int main(int argc, char **argv)
{
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    lp_test_seed(&rng_state);
    RUN(test_conv_int8_random);
    RUN(test_conv_int8_residual);
    RUN(test_conv_int8_depthwise);
    RUN(test_conv_int8_dw_posts);
    RUN(test_conv_int8_comp8x8);
    RUN(test_conv_int8_grouped_posts);
    RUN(test_conv_int8_large);
    RUN(test_conv_int8_frames);
    RUN(test_gemm_int8_random);
    RUN(test_matmul_int8);
    RUN(test_matmul_integer);
    RUN(test_conv_integer);
    RUN(test_qdq_storage);
    RUN(test_qmove_random);
    RUN(test_qdata_random);
    RUN(test_slice_requant_exact);
    RUN(test_quantized_unet);
    RUN(test_quantized_attention);
    RUN(test_taps);
    RUN(test_conv_int8_zp_layout);
    RUN(test_convint_fallback);
    RUN(test_zoo_int8);
    return TEST_SUMMARY("test_kernels_int8");
}
