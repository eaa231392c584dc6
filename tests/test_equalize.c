/* test_equalize.c — cross-layer equalization (quant/equalize.h) on random graphs of every chain
 * form it claims (fixed seed): the FP32 function is unchanged, the pairs found are the ones
 * expected (and none where a tensor between two layers has another reader), a lone pair's
 * channel ranges come out equal, and on a chain whose channels were rescaled by x200 the INT8
 * model made with equalization is far closer to FP32 than the one without.
 *
 * Tolerance for "unchanged": every weight is multiplied by s or 1/s once per sweep, a relative
 * float rounding of 2^-24 each; over 4 sweeps and sums of at most 600 products the outputs
 * move by well under 1e-5 of their largest magnitude (1e-4 leaves room for the reference
 * kernels' summation order). A wrong channel index errs by the full size of a channel's
 * contribution: O(1) of the output range. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"
#include "graph_builder.h"
#include "ir/infer.h"
#include "lowp.h"
#include "onnx/model.h"
#include "quant/calibrate.h"
#include "quant/equalize.h"
#include "quant/recipe.h"
#include "test.h"

static uint64_t rng = 0x5eed0e9a11ULL;
static double rndu(void) { return lowp_random_uniform(&rng); }
static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng) % (uint64_t)(hi - lo + 1)); }

static lp_tensor *rand_tensor(int ndim, const int64_t *dims, double scale) { return gb_rand_tensor(&rng, ndim, dims, scale); }

/* Channel scales spread over e^-5..e^5 (or x200 on every 4th channel when `outliers`). */
static double *chan_scales(int64_t c, bool outliers)
{
    double *s = malloc((size_t)c * sizeof *s);
    for (int64_t i = 0; i < c; i++)
        s[i] = outliers ? (i % 4 == 0 ? 200.0 : 1.0) : exp(10 * rndu() - 5);
    return s;
}

static int conv(gb *b, int x, int64_t k, int64_t cin, int64_t group, int64_t ks, bool bias)
{
    int64_t wd[4] = { k, cin / group, ks, ks }, bd[1] = { k };
    int w = gb_tensor(b, rand_tensor(4, wd, 1.0 / sqrt((double)(cin / group * ks * ks))));
    int in[3] = { x, w, bias ? gb_tensor(b, rand_tensor(1, bd, 0.5)) : -1 };
    int y = gb_op(b, "Conv", bias ? 3 : 2, in);
    int64_t pads[4] = { ks / 2, ks / 2, ks / 2, ks / 2 };
    attr_ints(b, "pads", 4, pads);
    if (group > 1)
        attr_i(b, "group", group);
    return y;
}

/* Multiplies output channel c of A's weight (and bias) by s[c], input channel c of B by 1/s[c]:
 * a function-preserving rescale that equalization should undo. */
static void rescale_conv_pair(lp_graph *g, int a, int bnode, const double *s)
{
    lp_tensor *wa = g->values[g->nodes[a].in[1]].init, *wb = g->values[g->nodes[bnode].in[1]].init;
    int64_t k = wa->dims[0], inner = lp_tensor_numel(wa) / k;
    for (int64_t c = 0; c < k; c++) {
        for (int64_t e = 0; e < inner; e++)
            ((float *)wa->data)[c * inner + e] *= (float)s[c];
        if (g->nodes[a].n_in > 2)
            ((float *)g->values[g->nodes[a].in[2]].init->data)[c] *= (float)s[c];
    }
    int64_t grp = lp_attr_int(&g->nodes[bnode], "group", 1), cg = wb->dims[1], kb = wb->dims[0];
    int64_t in2 = lp_tensor_numel(wb) / (kb * cg);
    for (int64_t m = 0; m < kb; m++)
        for (int64_t ci = 0; ci < cg; ci++) {
            int64_t c = (m / (kb / grp)) * cg + ci;
            for (int64_t e = 0; e < in2; e++)
                ((float *)wb->data)[(m * cg + ci) * in2 + e] /= (float)s[c];
        }
}

static lp_tensor *run(const lp_graph *g, const lp_tensor *x) { return gb_run(g, x); }

/* max |a - b| / max |a| */
static double rel_diff(const lp_tensor *a, const lp_tensor *b)
{
    if (!a || !b || a->nbytes != b->nbytes)
        return INFINITY;
    double m = 0, d = 0;
    for (int64_t i = 0; i < lp_tensor_numel(a); i++) {
        m = fmax(m, fabs(((float *)a->data)[i]));
        d = fmax(d, fabs(((float *)a->data)[i] - ((float *)b->data)[i]));
    }
    return m > 0 ? d / m : d;
}

enum { K_CONV_RELU_CONV, K_DW_CHAIN, K_POOL_GROUPS, K_GAP_GEMM, K_MATMUL_BIAS, K_GEMM_READERS, K_BLOCKED, N_KIND };
static const char *const kind_name[N_KIND] = { "conv-relu-conv", "conv-dw-relu-conv", "conv-leakyrelu-maxpool-groupconv",
                                               "conv-relu-gap-flatten-gemm", "matmul-add-relu-matmul",
                                               "gemm-relu-2gemms", "blocked (second reader)" };

/* Builds one random graph of `kind`; *pairs: how many pairs equalization must find. */
static gb *build(int kind, int *pairs, lp_tensor **x_out)
{
    gb *b = gb_new(13);
    int64_t n = rnd(1, 3), c = 2 * rnd(2, 8), hw = rnd(3, 7);
    int x, y;
    if (kind == K_MATMUL_BIAS || kind == K_GEMM_READERS) {
        int64_t t = rnd(1, 5), kin = rnd(3, 12);
        int64_t xd3[3] = { n, t, kin }, xd2[2] = { n * t, kin };
        *x_out = rand_tensor(kind == K_MATMUL_BIAS ? 3 : 2, kind == K_MATMUL_BIAS ? xd3 : xd2, 2.0);
        lp_tensor *xc = NULL;
        CHECK_OK(lp_tensor_clone(*x_out, &xc));
        x = gb_feed(b, xc);
        int64_t w1d[2] = { kin, c }, bd[1] = { c }, w2d[2] = { c, rnd(2, 9) }, w3d[2] = { rnd(2, 9), c };
        if (kind == K_MATMUL_BIAS) {
            y = op2(b, "MatMul", x, gb_tensor(b, rand_tensor(2, w1d, 1.0)));
            y = op2(b, "Add", gb_tensor(b, rand_tensor(1, bd, 1.0)), y);
            y = op1(b, "Relu", y);
            y = op2(b, "MatMul", y, gb_tensor(b, rand_tensor(2, w2d, 1.0)));
            gb_output(b, y);
        } else {
            int in[3] = { x, gb_tensor(b, rand_tensor(2, w1d, 1.0)), gb_tensor(b, rand_tensor(1, bd, 1.0)) };
            y = op1(b, "Relu", gb_op(b, "Gemm", 3, in));
            gb_output(b, op2(b, "Gemm", y, gb_tensor(b, rand_tensor(2, w2d, 1.0))));
            gb_output(b, op2(b, "Gemm", y, gb_tensor(b, rand_tensor(2, w3d, 1.0))));
            attr_i(b, "transB", 1);
        }
        *pairs = 1;
    } else {
        int64_t cin = rnd(1, 4);
        int64_t xd[4] = { n, cin, hw, hw };
        *x_out = rand_tensor(4, xd, 2.0);
        lp_tensor *xc = NULL;
        CHECK_OK(lp_tensor_clone(*x_out, &xc));
        x = gb_feed(b, xc);
        y = conv(b, x, c, cin, 1, 3, true);
        *pairs = 1;
        switch (kind) {
        case K_CONV_RELU_CONV:
            y = conv(b, op1(b, "Relu", y), rnd(2, 9), c, 1, 3, rnd(0, 1));
            break;
        case K_DW_CHAIN:
            y = conv(b, y, c, c, c, 3, true);
            y = conv(b, op1(b, "Relu", y), rnd(2, 9), c, 1, 1, true);
            *pairs = 2;
            break;
        case K_POOL_GROUPS: {
            y = op1(b, "LeakyRelu", y);
            attr_f(b, "alpha", 0.1f);
            y = op1(b, "MaxPool", y);
            int64_t k2[2] = { 2, 2 };
            attr_ints(b, "kernel_shape", 2, k2);
            y = conv(b, y, 2 * rnd(1, 4), c, 2, 1, true);
            break;
        }
        case K_GAP_GEMM: {
            y = op1(b, "Flatten", op1(b, "GlobalAveragePool", op1(b, "Relu", y)));
            int64_t wd[2] = { rnd(2, 9), c };
            y = op2(b, "Gemm", y, gb_tensor(b, rand_tensor(2, wd, 1.0)));
            attr_i(b, "transB", 1);
            break;
        }
        case K_BLOCKED: {
            int r = op1(b, "Relu", y);
            gb_output(b, op2(b, "Add", conv(b, r, c, c, 1, 3, true), r)); /* r has two readers */
            *pairs = 0;
            y = -1;
            break;
        }
        }
        if (y >= 0)
            gb_output(b, y);
    }
    /* spread the first layer's channels (function-preserving) so there is work to do */
    lp_graph *g = b->g;
    for (int i = 0; i < g->n_nodes && kind <= K_POOL_GROUPS; i++)
        if (g->nodes[i].op_type[0] == 'C') {
            int nb = -1; /* the next Conv */
            for (int j = i + 1; j < g->n_nodes && nb < 0; j++)
                if (!strcmp(g->nodes[j].op_type, "Conv"))
                    nb = j;
            if (nb >= 0 && lp_attr_int(&g->nodes[nb], "group", 1) == 1) {
                double *s = chan_scales(c, false);
                rescale_conv_pair(g, i, nb, s);
                free(s);
            }
            break;
        }
    CHECK_OK(lp_graph_toposort(g));
    CHECK_OK(lp_graph_infer(g, true));
    return b;
}

static void test_function_preserved(void)
{
    int cases = 0;
    for (int kind = 0; kind < N_KIND; kind++)
        for (int rep = 0; rep < 12; rep++) {
            int pairs = 0;
            lp_tensor *x = NULL;
            gb *b = build(kind, &pairs, &x);
            lp_graph *g = NULL;
            CHECK_OK(lp_graph_clone(b->g, &g));
            lp_equalized e;
            CHECK_OK(lp_equalize(g, 0, NULL, NULL, &e));
            CHECK_MSG(e.n_pairs == pairs, "%s #%d: %d pairs, expected %d", kind_name[kind], rep, e.n_pairs, pairs);
            lp_equalized_free(&e);
            CHECK_OK(lp_graph_compact(g));
            for (int o = 0; o < 1; o++) {
                lp_tensor *y0 = run(b->g, x), *y1 = run(g, x);
                double d = rel_diff(y0, y1);
                CHECK_MSG(d <= 1e-4, "%s #%d: outputs differ by %g of their range after equalization", kind_name[kind], rep, d);
                lp_tensor_free(y0);
                lp_tensor_free(y1);
            }
            lp_graph_free(g);
            lp_tensor_free(x);
            gb_free(b);
            cases++;
        }
    CHECK(cases == 12 * N_KIND);
}

/* A lone Conv -> Relu -> Conv pair: afterwards max|W1[c]| = max|W2[:, c]| for every channel. */
static void test_ranges_equal(void)
{
    for (int rep = 0; rep < 10; rep++) {
        int pairs;
        lp_tensor *x = NULL;
        gb *b = build(K_CONV_RELU_CONV, &pairs, &x);
        CHECK_OK(lp_graph_compact(b->g));
        lp_equalized e;
        CHECK_OK(lp_equalize(b->g, 1, NULL, NULL, &e));
        lp_equalized_free(&e);
        int a = -1, n2 = -1;
        for (int i = 0; i < b->g->n_nodes; i++)
            if (!strcmp(b->g->nodes[i].op_type, "Conv"))
                *(a < 0 ? &a : &n2) = i;
        const lp_tensor *w1 = b->g->values[b->g->nodes[a].in[1]].init, *w2 = b->g->values[b->g->nodes[n2].in[1]].init;
        int64_t c = w1->dims[0], in1 = lp_tensor_numel(w1) / c, k2 = w2->dims[0], in2 = lp_tensor_numel(w2) / (k2 * c);
        double worst = 0;
        for (int64_t ch = 0; ch < c; ch++) {
            double r1 = 0, r2 = 0;
            for (int64_t e2 = 0; e2 < in1; e2++)
                r1 = fmax(r1, fabs(((float *)w1->data)[ch * in1 + e2]));
            for (int64_t m = 0; m < k2; m++)
                for (int64_t e2 = 0; e2 < in2; e2++)
                    r2 = fmax(r2, fabs(((float *)w2->data)[(m * c + ch) * in2 + e2]));
            worst = fmax(worst, fabs(r1 - r2) / fmax(r1, r2));
        }
        /* one float rounding of each side: 2^-23 relative; 1e-5 is 80 of them */
        CHECK_MSG(worst <= 1e-5, "channel ranges differ by %g (relative)", worst);
        lp_tensor_free(x);
        gb_free(b);
    }
}

/* SQNR in dB of y against reference r. */
static double sqnr(const lp_tensor *r, const lp_tensor *y)
{
    double s = 0, n = 0;
    for (int64_t i = 0; r && y && i < lp_tensor_numel(r); i++) {
        double a = ((float *)r->data)[i], d = a - ((float *)y->data)[i];
        s += a * a;
        n += d * d;
    }
    return n > 0 ? 10 * log10(s / n) : 200;
}

/* Conv -> Relu -> Conv with x200 on every 4th channel: INT8 with equalization is >= 10 dB
 * closer to FP32 than without (measured: ~30 dB apart), and equalization keeps the FP32 result. */
static void test_int8_recovers(void)
{
    gb *b = gb_new(13);
    int64_t xd[4] = { 8, 3, 8, 8 };
    lp_tensor *x = rand_tensor(4, xd, 2.0), *xc = NULL;
    CHECK_OK(lp_tensor_clone(x, &xc));
    int xv = gb_feed(b, xc);
    int y = conv(b, xv, 16, 3, 1, 3, true);
    y = conv(b, op1(b, "Relu", y), 8, 16, 1, 3, true);
    gb_output(b, y);
    double *s = chan_scales(16, true);
    rescale_conv_pair(b->g, 0, 2, s);
    free(s);
    CHECK_OK(lp_graph_infer(b->g, true));
    lowp_model m = { .graph = b->g };
    lowp_calibration *cal = NULL;
    CHECK_OK(lowp_calibration_create(&m, NULL, &cal));
    const char *name = b->g->values[xv].name;
    CHECK_OK(lowp_calibration_feed(cal, 1, &name, (const lowp_tensor *const *)&x));
    lp_tensor *ref = run(b->g, x);
    double db[2];
    for (int eq = 0; eq < 2; eq++) {
        lowp_recipe *r = NULL;
        lowp_model *q = NULL;
        CHECK_OK(lowp_recipe_create(&r));
        CHECK_OK(lowp_recipe_set(r, "equalization", eq ? "true" : "false"));
        CHECK_OK(lowp_quantize(&m, cal, r, &q));
        lp_tensor *yq = q ? run(q->graph, x) : NULL;
        db[eq] = sqnr(ref, yq);
        lp_tensor_free(yq);
        lowp_model_free(q);
        lowp_recipe_free(r);
    }
    CHECK_MSG(db[1] >= db[0] + 10, "INT8 SQNR %.1f dB without equalization, %.1f dB with", db[0], db[1]);
    printf("# x200 channels: INT8 SQNR %.1f dB without equalization, %.1f dB with\n", db[0], db[1]);
    lp_tensor_free(ref);
    lp_tensor_free(x);
    lowp_calibration_free(cal);
    gb_free(b);
}

/* The recipe key round-trips through JSON and is refused with a bad value. */
static void test_recipe_key(void)
{
    lp_recipe *r = NULL, *r2 = NULL;
    CHECK_OK(lp_recipe_new(&r));
    r->equalization = true;
    char *json = NULL;
    CHECK_OK(lp_recipe_to_json(r, &json));
    CHECK(json && strstr(json, "\"equalization\": true"));
    CHECK_OK(lp_recipe_from_json(json, strlen(json), "r.json", &r2));
    CHECK(r2 && r2->equalization);
    const char *bad = "{\"equalization\": 3}";
    lp_recipe *r3 = NULL;
    CHECK(lp_recipe_from_json(bad, strlen(bad), "bad.json", &r3) != LP_OK);
    CHECK(strstr(lowp_last_error(), "equalization") != NULL);
    CHECK(lowp_recipe_set(r, "equalization", "maybe") != LOWP_OK);
    free(json);
    lp_recipe_free(r);
    lp_recipe_free(r2);
    lp_recipe_free(r3);
}

int main(void)
{
    RUN(test_function_preserved);
    RUN(test_ranges_equal);
    RUN(test_int8_recovers);
    RUN(test_recipe_key);
    return TEST_SUMMARY("test_equalize");
}
