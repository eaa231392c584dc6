/* test_adaround.c — learned rounding (quant/adaround.h) on random layers (fixed seed):
 *  - the second moments calibration collects equal a brute-force im2col sum (Conv with groups,
 *    depthwise, strides, dilations, padding, 1-D; Gemm/MatMul rows), when every patch is kept;
 *  - N-bit weights stay in [-(2^(N-1)-1), 2^(N-1)-1];
 *  - learned rounding never does worse than nearest rounding on its own objective (it starts
 *    there and only takes improvements) and, at 4 bits, lowers the layer's output error on the
 *    calibration inputs clearly; a whole model's INT8 output gets closer to FP32;
 *  - the calibration refuses to start collecting moments after its first batch;
 *  - QAT's fake-quant form (quant/fakequant.c): unfolding a QDQ model's weights keeps its
 *    outputs, folding back gives the same integers (8- and 4-bit), moved weights refold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"
#include "graph_builder.h"
#include "ir/infer.h"
#include "lowp.h"
#include "onnx/model.h"
#include "ops/conv_ref.h"
#include "quant/adaround.h"
#include "quant/build.h"
#include "quant/calibrate.h"
#include "quant/quantize.h"
#include "quant/recipe.h"
#include "test.h"

static uint64_t rng = 0xada20d0ULL;
static double rndu(void) { return lowp_random_uniform(&rng); }
static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng) % (uint64_t)(hi - lo + 1)); }

static lp_tensor *rand_tensor(int ndim, const int64_t *dims, double scale) { return gb_rand_tensor(&rng, ndim, dims, scale); }

/* A graph x -> Conv (or Gemm) -> y; *node the weighted node's index. */
static gb *one_layer(bool conv, int64_t *xd, int xnd, lp_tensor *w, int group, int stride, int dil, int pad)
{
    gb *b = gb_new(13);
    lp_tensor *x = rand_tensor(xnd, xd, 1.0);
    int xv = gb_feed(b, x);
    int wv = gb_tensor(b, w);
    int y = op2(b, conv ? "Conv" : "MatMul", xv, wv);
    if (conv) {
        int nsp = xnd - 2;
        int64_t s[2] = { stride, stride }, d[2] = { dil, dil }, p[4] = { pad, pad, pad, pad };
        attr_ints(b, "strides", nsp, s);
        attr_ints(b, "dilations", nsp, d);
        attr_ints(b, "pads", 2 * nsp, p);
        attr_i(b, "group", group);
    }
    gb_output(b, y);
    CHECK_OK(lp_graph_infer(b->g, true));
    return b;
}

static void test_moments_exact(void)
{
    for (int rep = 0; rep < 24; rep++) {
        bool conv = rep % 4 != 3;
        bool one_d = rep % 4 == 2;
        int64_t xd[4], wd[4];
        int xnd, wnd;
        int group = 1, stride = rnd(1, 2), dil = rnd(1, 2), pad = rnd(0, 2);
        if (conv) {
            int64_t cin = rnd(1, 3) * (rep % 3 == 0 ? 4 : 1), n = rnd(1, 2), hw = rnd(5, 8);
            group = rep % 3 == 0 ? (int)cin : rep % 3 == 1 && cin % 2 == 0 ? 2 : 1;
            int64_t m = group * rnd(1, 3), k = rnd(1, 3);
            xnd = one_d ? 3 : 4;
            xd[0] = n, xd[1] = cin, xd[2] = hw, xd[3] = hw;
            wnd = xnd;
            wd[0] = m, wd[1] = cin / group, wd[2] = k, wd[3] = k;
        } else {
            xnd = 3, xd[0] = rnd(1, 3), xd[1] = rnd(1, 5), xd[2] = rnd(2, 9);
            wnd = 2, wd[0] = xd[2], wd[1] = rnd(1, 6);
        }
        gb *b = one_layer(conv, xd, xnd, rand_tensor(wnd, wd, 1.0), group, stride, dil, pad);
        lp_grams *gs = NULL;
        CHECK_OK(lp_grams_new(b->g, &gs));
        CHECK(gs && gs->n == 1);
        if (!gs || gs->n != 1) {
            lp_grams_free(gs);
            gb_free(b);
            continue;
        }
        const lp_tensor *x = b->feed[0];
        lp_grams_observe(gs, b->g->values[b->g->inputs[0]].name, x);
        const lp_gram *h = lp_grams_find(gs, b->g->nodes[0].name);
        CHECK(h != NULL);
        /* brute force */
        int64_t k = h ? h->k : 0;
        double *ref = calloc((size_t)(gs->g[0].groups * k * k + 1), sizeof *ref);
        int64_t count = 0;
        if (conv && h) {
            lp_conv cv;
            CHECK_OK(lp_conv_setup(&b->g->nodes[0], x, h->w, &cv));
            int64_t kp = lp_window_kprod(&cv.win), op = lp_window_outprod(&cv.win), cg = cv.C / cv.group;
            float *col = malloc((size_t)(cv.C * kp * op) * sizeof *col);
            for (int64_t s = 0; s < cv.N; s++) {
                lp_im2col_f32((const float *)x->data + s * cv.C * lp_window_inprod(&cv.win), cv.C, &cv.win, col);
                for (int64_t p = 0; p < op; p++)
                    for (int64_t gi = 0; gi < cv.group; gi++)
                        for (int64_t i = 0; i < k; i++)
                            for (int64_t j = 0; j <= i; j++)
                                ref[gi * k * k + i * k + j] += (double)col[(gi * cg * kp + i) * op + p] * col[(gi * cg * kp + j) * op + p];
                count += op;
            }
            free(col);
        } else if (h) {
            int64_t rows = lp_tensor_numel(x) / k;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t i = 0; i < k; i++)
                    for (int64_t j = 0; j <= i; j++)
                        ref[i * k + j] += (double)((float *)x->data)[r * k + i] * ((float *)x->data)[r * k + j];
            count = rows;
        }
        double worst = 0, mag = 1e-30;
        for (int64_t i = 0; h && i < h->groups * k * k; i++) {
            if (i % k > (i / k) % k)
                continue; /* the upper triangle is not kept */
            worst = fmax(worst, fabs(ref[i] - h->h[i]));
            mag = fmax(mag, fabs(ref[i]));
        }
        CHECK_MSG(!h || h->count == count, "case %d: %lld patches counted, %lld expected", rep, (long long)(h ? h->count : 0),
                  (long long)count);
        /* the same products summed in another order: double rounding, ~1e-16 relative per term */
        CHECK_MSG(worst <= 1e-9 * mag, "case %d (%s): moments differ by %g (largest %g)", rep, conv ? "Conv" : "MatMul", worst, mag);
        free(ref);
        lp_grams_free(gs);
        gb_free(b);
    }
}

static void test_bits_range(void)
{
    for (int bits = 2; bits <= 8; bits++) {
        int64_t d[2] = { 5, 7 };
        lp_tensor *w = rand_tensor(2, d, 3.0), *q = NULL;
        float *sc = NULL;
        int64_t n = 0;
        CHECK_OK(lp_quantize_weight_bits(w, 1, bits, &q, &sc, &n));
        int qmax = (1 << (bits - 1)) - 1, seen = 0;
        for (int64_t i = 0; q && i < lp_tensor_numel(q); i++) {
            int v = ((int8_t *)q->data)[i];
            CHECK(v >= -qmax && v <= qmax);
            seen = abs(v) > seen ? abs(v) : seen;
        }
        CHECK_MSG(seen == qmax, "%d bits: largest |q| %d, expected %d", bits, seen, qmax);
        lp_tensor_free(w);
        lp_tensor_free(q);
        free(sc);
    }
    int64_t d[2] = { 2, 2 };
    lp_tensor *w = rand_tensor(2, d, 1.0), *q = NULL;
    float *sc = NULL;
    int64_t n;
    CHECK(lp_quantize_weight_bits(w, 0, 9, &q, &sc, &n) != LP_OK);
    lp_tensor_free(w);
}

/* Mean squared output error of a MatMul layer x (rows, k) w (k, m) with weight wq (ints * sc). */
static double layer_mse(const lp_tensor *x, const lp_tensor *w, const lp_tensor *wq, const float *sc, int per_channel)
{
    int64_t k = w->dims[0], m = w->dims[1], rows = lp_tensor_numel(x) / k;
    double e = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < m; j++) {
            double d = 0;
            for (int64_t i = 0; i < k; i++) {
                double wv = ((float *)w->data)[i * m + j];
                double qv = ((int8_t *)wq->data)[i * m + j] * (double)sc[per_channel ? j : 0];
                d += (qv - wv) * ((float *)x->data)[r * k + i];
            }
            e += d * d;
        }
    return e / (double)(rows * m);
}

static void test_learned_beats_nearest(void)
{
    double gain_sum = 0;
    int cases = 0;
    for (int rep = 0; rep < 12; rep++) {
        int64_t k = rnd(8, 48), m = rnd(2, 16), rows = rnd(64, 512);
        int64_t xd[3] = { 1, rows, k }, wd[2] = { k, m };
        gb *b = one_layer(false, xd, 3, rand_tensor(2, wd, 1.0), 1, 1, 1, 0);
        /* correlated inputs with a nonzero mean: what makes rounding errors add up */
        lp_tensor *x = b->feed[0];
        for (int64_t r = 0; r < rows; r++) {
            double common = 2 * rndu() - 1;
            for (int64_t i = 0; i < k; i++)
                ((float *)x->data)[r * k + i] = (float)(0.7 * common + 0.5 * ((float *)x->data)[r * k + i] + 0.3);
        }
        lp_grams *gs = NULL;
        CHECK_OK(lp_grams_new(b->g, &gs));
        lp_grams_observe(gs, b->g->values[b->g->inputs[0]].name, x);
        const lp_gram *h = lp_grams_find(gs, b->g->nodes[0].name);
        const lp_tensor *w = b->g->values[b->g->nodes[0].in[1]].init;
        for (int pc = 0; pc < 2 && h; pc++) {
            lp_tensor *qn = NULL, *ql = NULL;
            float *sn = NULL, *sl = NULL;
            int64_t nn, nl;
            CHECK_OK(lp_quantize_weight_bits(w, pc ? 1 : -1, 4, &qn, &sn, &nn));
            CHECK_OK(lp_adaround_weight(&b->g->nodes[0], w, h, NULL, 0, pc ? 1 : -1, 7, &ql, &sl, &nl));
            if (qn && ql) {
                double en = layer_mse(x, w, qn, sn, pc), el = layer_mse(x, w, ql, sl, pc);
                /* never worse than nearest: up to float rounding of the objective's sums */
                CHECK_MSG(el <= en * (1 + 1e-9), "case %d: learned %g > nearest %g", rep, el, en);
                gain_sum += el / en;
                cases++;
                for (int64_t i = 0; i < lp_tensor_numel(ql); i++)
                    CHECK(abs(((int8_t *)ql->data)[i]) <= 7);
            }
            lp_tensor_free(qn), lp_tensor_free(ql);
            free(sn), free(sl);
        }
        lp_grams_free(gs);
        gb_free(b);
    }
    double mean = cases ? gain_sum / cases : 1;
    printf("# 4-bit layers: learned rounding's output MSE is %.2f of nearest's on average (%d cases)\n", mean, cases);
    /* measured ~0.3; nearest rounding's errors are independent of the inputs, so a method that
     * only matched it would sit at 1.0 */
    CHECK_MSG(mean < 0.7, "learned rounding's MSE is %.2f of nearest's on average", mean);
}

static void test_refuses_late_start(void)
{
    int64_t xd[3] = { 1, 4, 3 }, wd[2] = { 3, 2 };
    gb *b = one_layer(false, xd, 3, rand_tensor(2, wd, 1.0), 1, 1, 1, 0);
    lowp_model m = { .graph = b->g };
    lowp_calibration *cal = NULL;
    CHECK_OK(lowp_calibration_create(&m, NULL, &cal));
    const char *name = b->g->values[b->g->inputs[0]].name;
    CHECK_OK(lowp_calibration_feed(cal, 1, &name, (const lowp_tensor *const *)&b->feed[0]));
    lowp_recipe *r = NULL;
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_recipe_set(r, "learned_rounding", "true"));
    CHECK(lowp_calibration_for_recipe(cal, r) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "learned rounding") != NULL);
    lowp_recipe_free(r);
    lowp_calibration_free(cal);
    gb_free(b);
}

/* A Conv -> Relu -> Conv -> Relu -> Gemm model at 4-bit weights: the INT8 model with learned
 * rounding is closer to FP32 (SQNR of the outputs) than with nearest rounding. */
static void test_model_sqnr(void)
{
    gb *b = gb_new(13);
    int64_t xd[4] = { 16, 3, 8, 8 }, w1d[4] = { 12, 3, 3, 3 }, w2d[4] = { 16, 12, 3, 3 }, w3d[2] = { 10, 16 * 64 };
    lp_tensor *x = rand_tensor(4, xd, 1.0), *xc = NULL;
    CHECK_OK(lp_tensor_clone(x, &xc));
    int xv = gb_feed(b, xc);
    int64_t pads[4] = { 1, 1, 1, 1 };
    int y = op2(b, "Conv", xv, gb_tensor(b, rand_tensor(4, w1d, 0.3)));
    attr_ints(b, "pads", 4, pads);
    y = op2(b, "Conv", op1(b, "Relu", y), gb_tensor(b, rand_tensor(4, w2d, 0.1)));
    attr_ints(b, "pads", 4, pads);
    y = op2(b, "Gemm", op1(b, "Flatten", op1(b, "Relu", y)), gb_tensor(b, rand_tensor(2, w3d, 0.05)));
    attr_i(b, "transB", 1);
    gb_output(b, y);
    CHECK_OK(lp_graph_infer(b->g, true));
    lowp_model m = { .graph = b->g };
    const char *name = b->g->values[xv].name;
    lowp_session *s = NULL;
    lowp_tensor *ref = NULL;
    CHECK_OK(lowp_session_create(&m, NULL, &s));
    CHECK_OK(lowp_session_run(s, 1, &name, (const lowp_tensor *const *)&x, 1, &ref));
    lowp_session_free(s);
    double db[2] = { 0, 0 };
    for (int lr = 0; lr < 2; lr++) {
        lowp_recipe *r = NULL;
        lowp_calibration *cal = NULL;
        lowp_model *q = NULL;
        CHECK_OK(lowp_recipe_create(&r));
        CHECK_OK(lowp_recipe_set(r, "weight.bits", "4"));
        CHECK_OK(lowp_recipe_set(r, "learned_rounding", lr ? "true" : "false"));
        CHECK_OK(lowp_calibration_create(&m, NULL, &cal));
        CHECK_OK(lowp_calibration_for_recipe(cal, r));
        CHECK_OK(lowp_calibration_feed(cal, 1, &name, (const lowp_tensor *const *)&x));
        CHECK_OK(lowp_quantize(&m, cal, r, &q));
        lowp_tensor *yq = NULL;
        if (q && lowp_session_create(q, NULL, &s) == LOWP_OK) {
            CHECK_OK(lowp_session_run(s, 1, &name, (const lowp_tensor *const *)&x, 1, &yq));
            lowp_session_free(s);
        }
        double sig = 0, noi = 0;
        for (int64_t i = 0; yq && ref && i < lp_tensor_numel(ref); i++) {
            double a = ((float *)ref->data)[i], d = a - ((float *)yq->data)[i];
            sig += a * a, noi += d * d;
        }
        db[lr] = noi > 0 ? 10 * log10(sig / noi) : 200;
        lp_tensor_free(yq);
        lowp_model_free(q);
        lowp_calibration_free(cal);
        lowp_recipe_free(r);
    }
    printf("# 4-bit weights, 8-bit activations: output SQNR %.1f dB nearest, %.1f dB learned\n", db[0], db[1]);
    /* on the calibration data itself; measured ~+4 dB. 1 dB is beyond run-to-run noise: the
     * test is deterministic, and activation quantization noise is the same in both */
    CHECK_MSG(db[1] >= db[0] + 1, "SQNR nearest %.1f dB, learned %.1f dB", db[0], db[1]);
    lp_tensor_free(ref);
    lp_tensor_free(x);
    gb_free(b);
}

static void test_fakequant_roundtrip(void)
{
    for (int bits = 4; bits <= 8; bits += 4) {
        gb *b = gb_new(13);
        lp_tensor *x = rand_tensor(4, (int64_t[]){ 4, 3, 6, 6 }, 1.0), *xc = NULL;
        CHECK_OK(lp_tensor_clone(x, &xc));
        int xv = gb_feed(b, xc);
        int y = op2(b, "Conv", xv, gb_tensor(b, rand_tensor(4, (int64_t[]){ 8, 3, 3, 3 }, 0.5)));
        y = op2(b, "Gemm", op1(b, "Flatten", op1(b, "Relu", y)), gb_tensor(b, rand_tensor(2, (int64_t[]){ 5, 8 * 16 }, 0.1)));
        attr_i(b, "transB", 1);
        gb_output(b, y);
        CHECK_OK(lp_graph_infer(b->g, true));
        lowp_model m = { .graph = b->g };
        lowp_calibration *cal = NULL;
        lowp_recipe *r = NULL;
        lowp_model *q = NULL;
        const char *name = b->g->values[xv].name;
        char bs[12]; /* any int */
        snprintf(bs, sizeof bs, "%d", bits);
        CHECK_OK(lowp_calibration_create(&m, NULL, &cal));
        CHECK_OK(lowp_calibration_feed(cal, 1, &name, (const lowp_tensor *const *)&x));
        CHECK_OK(lowp_recipe_create(&r));
        CHECK_OK(lowp_recipe_set(r, "weight.bits", bs));
        CHECK_OK(lowp_quantize(&m, cal, r, &q));
        if (q) {
            lp_graph *u = NULL;
            int n = 0;
            CHECK_OK(lp_graph_clone(q->graph, &u));
            CHECK_OK(lp_qdq_unfold_weights(u, &n));
            CHECK_MSG(n == 2, "%d weights unfolded, expected 2", n);
            lp_tensor *y0 = gb_run(q->graph, x), *y1 = gb_run(u, x);
            for (int64_t i = 0; y0 && y1 && i < lp_tensor_numel(y0); i++) /* the same integers at the same scale */
                CHECK_NEAR(((float *)y0->data)[i], ((float *)y1->data)[i], 1e-5 * (1 + fabs(((float *)y0->data)[i])));
            /* move every float weight by a quarter step: folding rounds back to the same ints,
               clamped to the bit width's range */
            for (int v = 0; v < u->n_values; v++)
                if (u->values[v].kind == LP_VALUE_CONST && strstr(u->values[v].name, "_float"))
                    for (int64_t i = 0; i < lp_tensor_numel(u->values[v].init); i++)
                        ((float *)u->values[v].init->data)[i] *= 1.0f + 0.1f / (float)(1 << bits);
            CHECK_OK(lp_qdq_fold_weights(u));
            int nq = 0, same = 0, total = 0;
            for (int i = 0; i < u->n_nodes; i++)
                nq += !strcmp(u->nodes[i].op_type, "QuantizeLinear") && u->values[u->nodes[i].in[0]].kind == LP_VALUE_CONST;
            CHECK_MSG(nq == 0, "%d weight QuantizeLinear nodes left after folding", nq);
            for (int i = 0; i < q->graph->n_nodes; i++) { /* weights compared by their DQ node's name */
                const lp_node *d = &q->graph->nodes[i];
                if (strcmp(d->op_type, "DequantizeLinear") || q->graph->values[d->in[0]].init == NULL ||
                    q->graph->values[d->in[0]].init->dtype != LP_I8)
                    continue;
                for (int j = 0; j < u->n_nodes; j++)
                    if (!strcmp(u->nodes[j].name, d->name)) {
                        const lp_tensor *a = q->graph->values[d->in[0]].init, *c = u->values[u->nodes[j].in[0]].init;
                        for (int64_t k = 0; c && k < lp_tensor_numel(a); k++) {
                            int va = ((int8_t *)a->data)[k], vc = ((int8_t *)c->data)[k];
                            same += va == vc;
                            total++;
                            CHECK(abs(vc) <= (1 << (bits - 1)) - 1);
                        }
                    }
            }
            CHECK_MSG(total > 0 && same == total, "%d-bit: %d of %d integers the same after refolding", bits, same, total);
            lp_tensor_free(y0), lp_tensor_free(y1);
            lp_graph_free(u);
        }
        lowp_model_free(q);
        lowp_recipe_free(r);
        lowp_calibration_free(cal);
        lp_tensor_free(x);
        gb_free(b);
    }
}

int main(void)
{
    RUN(test_moments_exact);
    RUN(test_bits_range);
    RUN(test_learned_beats_nearest);
    RUN(test_refuses_late_start);
    RUN(test_model_sqnr);
    RUN(test_fakequant_roundtrip);
    return TEST_SUMMARY("test_adaround");
}
