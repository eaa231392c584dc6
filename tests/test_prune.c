/* test_prune.c — magnitude pruning (src/prune/) on random graphs (fixed seed):
 *  - unstructured: each chosen weight ends with exactly floor(s * n) zeros, and they are its
 *    smallest magnitudes; names choose weights; a name matching nothing is refused;
 *  - N:M: every full group of M along the reduction axis has at least M - N zeros and keeps its
 *    N largest;
 *  - channel: on random graphs of every structure it follows (residual Adds, depthwise Convs,
 *    Concats, per-channel Mul constants, pools, GlobalAveragePool -> Flatten -> Gemm), where
 *    the channels to go were made exactly zero beforehand, removing them leaves the function
 *    unchanged while the weights shrink to the kept channel counts; a channel group that a
 *    Reshape reads stays whole;
 *  - fine-tuning (the training engine) keeps pruned weights at zero while the others learn, and
 *    a gradual schedule ends at exactly the target sparsity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"
#include "graph_builder.h"
#include "ir/infer.h"
#include "lowp.h"
#include "prune/prune.h"
#include "test.h"
#include "fm_data.h"
#include "onnx/model.h"
#include "train/train.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static double rndu(void) { return lowp_random_uniform(&rng); }
static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng) % (uint64_t)(hi - lo + 1)); }

static lp_tensor *rand_tensor(int ndim, const int64_t *dims, double scale) { return gb_rand_tensor(&rng, ndim, dims, scale); }

static lp_tensor *run(const lp_graph *g, const lp_tensor *x) { return gb_run(g, x); }

static void test_unstructured(void)
{
    for (int rep = 0; rep < 20; rep++) {
        gb *b = gb_new(13);
        int64_t k = rnd(3, 40), m = rnd(2, 30), xd[2] = { 2, k }, wd[2] = { k, m };
        int x = gb_feed(b, rand_tensor(2, xd, 1.0));
        int y = op2(b, "MatMul", x, gb_tensor(b, rand_tensor(2, wd, 1.0)));
        gb_output(b, op2(b, "MatMul", op1(b, "Relu", y), gb_tensor(b, rand_tensor(2, (int64_t[]){ m, 3 }, 1.0))));
        CHECK_OK(lp_graph_infer(b->g, true));
        double s = rndu() * 0.95;
        /* the original magnitudes, sorted, of the first weight */
        const lp_tensor *w0 = b->g->values[b->g->nodes[0].in[1]].init;
        int64_t n = lp_tensor_numel(w0), want = (int64_t)floor(s * (double)n + 1e-9);
        float *sorted = malloc((size_t)n * sizeof *sorted);
        for (int64_t i = 0; i < n; i++)
            sorted[i] = fabsf(((float *)w0->data)[i]);
        for (int64_t i = 1; i < n; i++) /* insertion sort: n <= 1200 */
            for (int64_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                float t = sorted[j];
                sorted[j] = sorted[j - 1], sorted[j - 1] = t;
            }
        const char *names[1] = { b->g->values[b->g->nodes[0].in[1]].name };
        lp_prune_opts o = { .pattern = LP_PRUNE_UNSTRUCTURED, .sparsity = s, .names = names, .n_names = rep % 2 };
        lp_prune_report r;
        CHECK_OK(lp_prune_graph(b->g, &o, &r));
        CHECK_MSG(r.n == (rep % 2 ? 1 : 2), "%d weights pruned", r.n);
        if (r.n >= 1) {
            CHECK_MSG(r.e[0].zeros == want, "sparsity %.3f of %lld: %lld zeros, expected %lld", s, (long long)n,
                      (long long)r.e[0].zeros, (long long)want);
            const lp_tensor *w = b->g->values[b->g->nodes[0].in[1]].init;
            float kept_min = INFINITY;
            for (int64_t i = 0; i < n; i++)
                if (((float *)w->data)[i] != 0)
                    kept_min = fminf(kept_min, fabsf(((float *)w->data)[i]));
            /* everything kept is at least the largest removed magnitude */
            CHECK(want == 0 || want == n || kept_min >= sorted[want - 1]);
        }
        lp_prune_report_free(&r);
        free(sorted);
        gb_free(b);
    }
    gb *b = gb_new(13);
    int x = gb_feed(b, rand_tensor(2, (int64_t[]){ 1, 4 }, 1.0));
    gb_output(b, op2(b, "MatMul", x, gb_tensor(b, rand_tensor(2, (int64_t[]){ 4, 4 }, 1.0))));
    const char *bad[1] = { "no_such_layer" };
    lp_prune_opts o = { .sparsity = 0.5, .names = bad, .n_names = 1 };
    lp_prune_report r;
    CHECK(lp_prune_graph(b->g, &o, &r) != LP_OK && strstr(lowp_last_error(), "no_such_layer"));
    o.n_names = 0, o.sparsity = 1.0;
    CHECK(lp_prune_graph(b->g, &o, &r) != LP_OK && strstr(lowp_last_error(), "sparsity"));
    gb_free(b);
}

static void test_n_m(void)
{
    for (int rep = 0; rep < 24; rep++) {
        int m = rep % 3 == 0 ? 4 : rnd(2, 8), n = rnd(1, m - 1);
        gb *b = gb_new(13);
        int conv = rep % 3;
        int64_t cin = m * rnd(1, 3) + (rep % 4 == 0 ? 1 : 0); /* sometimes a tail shorter than m */
        int x;
        if (conv == 0) {
            x = gb_feed(b, rand_tensor(4, (int64_t[]){ 1, cin, 5, 5 }, 1.0));
            gb_output(b, op2(b, "Conv", x, gb_tensor(b, rand_tensor(4, (int64_t[]){ rnd(1, 5), cin, 3, 3 }, 1.0))));
        } else {
            x = gb_feed(b, rand_tensor(2, (int64_t[]){ 2, cin }, 1.0));
            int64_t outc = rnd(1, 6);
            bool tb = conv == 2;
            int64_t wd[2] = { tb ? outc : cin, tb ? cin : outc };
            gb_output(b, op2(b, conv == 1 ? "MatMul" : "Gemm", x, gb_tensor(b, rand_tensor(2, wd, 1.0))));
            if (tb)
                attr_i(b, "transB", 1);
        }
        CHECK_OK(lp_graph_infer(b->g, true));
        lp_tensor *orig = NULL;
        CHECK_OK(lp_tensor_clone(b->g->values[b->g->nodes[0].in[1]].init, &orig));
        lp_prune_opts o = { .pattern = LP_PRUNE_NM, .n = n, .m = m };
        lp_prune_report r;
        CHECK_OK(lp_prune_graph(b->g, &o, &r));
        const lp_node *nd = &b->g->nodes[0];
        const lp_tensor *w = b->g->values[nd->in[1]].init;
        /* walk the groups: (row, position) x consecutive reduction indices */
        int64_t rows, len, inner, se, sr;
        if (conv == 0)
            rows = w->dims[0], len = w->dims[1], inner = 9, se = 9, sr = len * 9;
        else if (conv == 2)
            rows = w->dims[0], len = w->dims[1], inner = 1, se = 1, sr = len;
        else
            rows = w->dims[1], len = w->dims[0], inner = 1, se = w->dims[1], sr = 1;
        int bad_groups = 0;
        for (int64_t rr = 0; rr < rows; rr++)
            for (int64_t e = 0; e < inner; e++)
                for (int64_t k0 = 0; k0 + m <= len; k0 += m) {
                    int zeros = 0;
                    float kept_min = INFINITY, gone_max = 0;
                    for (int j = 0; j < m; j++) {
                        int64_t i = rr * sr + (k0 + j) * se + e;
                        float a = fabsf(((float *)orig->data)[i]);
                        if (((float *)w->data)[i] == 0)
                            zeros++, gone_max = fmaxf(gone_max, a);
                        else
                            kept_min = fminf(kept_min, a);
                    }
                    bad_groups += zeros != m - n || kept_min < gone_max;
                }
        CHECK_MSG(bad_groups == 0, "%d:%d case %d: %d groups without exactly %d zeros at their smallest", n, m, rep, bad_groups,
                  m - n);
        for (int64_t i = (len / m) * m; i < len; i++) /* the tail stays dense */
            CHECK(((float *)w->data)[i * se] == ((float *)orig->data)[i * se]);
        lp_prune_report_free(&r);
        lp_tensor_free(orig);
        gb_free(b);
    }
}

/* ---- channel pruning ---- */

/* Zeros output channel set `gone` (every other channel from a random start) of a Conv's weight
 * and bias. */
static void zero_channels(lp_graph *g, int node, const bool *gone)
{
    lp_node *n = &g->nodes[node];
    lp_tensor *w = g->values[n->in[1]].init;
    int64_t c = w->dims[0], inner = lp_tensor_numel(w) / c;
    for (int64_t k = 0; k < c; k++)
        if (gone[k]) {
            memset((float *)w->data + k * inner, 0, (size_t)inner * sizeof(float));
            if (n->n_in > 2 && n->in[2] >= 0)
                ((float *)g->values[n->in[2]].init->data)[k] = 0;
        }
}

static int conv(gb *b, int x, int64_t cout, int64_t cin, int64_t group, bool bias)
{
    int in[3] = { x, gb_tensor(b, rand_tensor(4, (int64_t[]){ cout, cin / group, 3, 3 }, 0.5)),
                  bias ? gb_tensor(b, rand_tensor(1, (int64_t[]){ cout }, 0.5)) : -1 };
    int y = gb_op(b, "Conv", bias ? 3 : 2, in);
    attr_ints(b, "pads", 4, (int64_t[]){ 1, 1, 1, 1 });
    if (group > 1)
        attr_i(b, "group", group);
    return y;
}

/* A random network over channel count c; the producers of one channel group get the same
 * zeroed channels. */
static gb *network(int kind, int64_t c, bool **gone_out, lp_tensor **x_out)
{
    gb *b = gb_new(13);
    int64_t hw = rnd(4, 7);
    *x_out = rand_tensor(4, (int64_t[]){ rnd(1, 2), 3, hw, hw }, 1.0);
    lp_tensor *xc = NULL;
    CHECK_OK(lp_tensor_clone(*x_out, &xc));
    int x = gb_feed(b, xc);
    bool *gone = calloc((size_t)(2 * c), sizeof *gone);
    for (int64_t k = 0; k < 2 * c; k++)
        gone[k] = (k + rnd(0, 1)) % 2 == 0; /* about half, some runs of two */
    int64_t ng = 0;
    for (int64_t k = 0; k < c; k++)
        ng += gone[k];
    if (ng == 0 || ng == c) /* at least one gone and one kept */
        gone[0] = ng == 0, gone[1] = ng != 0 ? false : gone[1];
    *gone_out = gone;
    int a = conv(b, x, c, 3, 1, true);
    int y;
    switch (kind) {
    case 0: { /* residual: a -> relu -> conv -> add(a) -> relu -> conv */
        int r = op1(b, "Relu", a);
        int bb = conv(b, r, c, c, 1, true);
        y = op1(b, "Relu", op2(b, "Add", bb, r));
        y = conv(b, y, 5, c, 1, true);
        break;
    }
    case 1: /* depthwise: a -> relu -> dw -> relu -> maxpool -> conv */
        y = op1(b, "Relu", conv(b, op1(b, "Relu", a), c, c, c, true));
        y = op1(b, "MaxPool", y);
        attr_ints(b, "kernel_shape", 2, (int64_t[]){ 2, 2 });
        y = conv(b, y, 4, c, 1, false);
        break;
    case 2: { /* concat of two groups, then a conv */
        int a2 = conv(b, x, c, 3, 1, true);
        y = gb_op(b, "Concat", 2, (int[]){ op1(b, "Relu", a), a2 });
        attr_i(b, "axis", 1);
        y = op1(b, "Relu", y);
        y = conv(b, y, 3, 2 * c, 1, true);
        break;
    }
    default: { /* per-channel Mul constant, GAP, Flatten, Gemm */
        int s = gb_tensor(b, rand_tensor(3, (int64_t[]){ c, 1, 1 }, 1.0));
        y = op1(b, "Flatten", op1(b, "GlobalAveragePool", op2(b, "Mul", op1(b, "Relu", a), s)));
        y = op2(b, "Gemm", y, gb_tensor(b, rand_tensor(2, (int64_t[]){ 6, c }, 1.0)));
        attr_i(b, "transB", 1);
        break;
    }
    }
    gb_output(b, y);
    return b;
}

static void test_channel_exact(void)
{
    int cases = 0;
    for (int rep = 0; rep < 40; rep++) {
        int kind = rep % 4;
        int64_t c = 2 * rnd(2, 6);
        bool *gone = NULL;
        lp_tensor *x = NULL;
        gb *b = network(kind, c, &gone, &x);
        lp_graph *g = b->g;
        /* zero the channels to go in every producer of the first group (and of the second
           Concat input in kind 2: its own channels) */
        int convs[8], nc = 0;
        for (int i = 0; i < g->n_nodes && nc < 8; i++)
            if (!strcmp(g->nodes[i].op_type, "Conv"))
                convs[nc++] = i;
        int64_t ng = 0;
        for (int64_t k = 0; k < c; k++)
            ng += gone[k];
        zero_channels(g, convs[0], gone);
        if (kind == 0)
            zero_channels(g, convs[1], gone); /* the residual Add ties both producers */
        if (kind == 2)
            zero_channels(g, convs[1], gone); /* the other Concat input: as many channels go */
        if (kind == 1) { /* the depthwise conv's bias must not revive a zero channel */
            const lp_node *dw = &g->nodes[convs[1]];
            for (int64_t k = 0; k < c; k++)
                if (gone[k])
                    ((float *)g->values[dw->in[2]].init->data)[k] = 0;
        }
        CHECK_OK(lp_graph_toposort(g));
        CHECK_OK(lp_graph_infer(g, true));
        lp_tensor *y0 = run(g, x);
        double sp = (double)ng / (double)c; /* exactly the zeroed count goes */
        lp_prune_opts o = { .pattern = LP_PRUNE_CHANNEL, .sparsity = sp };
        lp_prune_report r;
        lp_status st = lp_prune_graph(g, &o, &r);
        CHECK_MSG(st == LP_OK, "kind %d: %s", kind, lowp_last_error());
        if (st == LP_OK) {
            lp_tensor *y1 = run(g, x);
            double d = 0, mag = 1e-30;
            for (int64_t i = 0; y0 && y1 && y0->nbytes == y1->nbytes && i < lp_tensor_numel(y0); i++) {
                d = fmax(d, fabs(((float *)y0->data)[i] - ((float *)y1->data)[i]));
                mag = fmax(mag, fabs(((float *)y0->data)[i]));
            }
            /* only exact zeros were removed: the sums lose zero terms, the rest is unchanged up
               to summation order (float, <= 100 terms: 1e-5 of the magnitude is generous) */
            CHECK_MSG(y1 && y0->nbytes == y1->nbytes && d <= 1e-5 * mag, "kind %d case %d: outputs differ by %g (of %g)",
                      kind, rep, d, mag);
            /* the first conv lost exactly the zeroed channels */
            int64_t left = -1;
            for (int i = 0; i < r.n; i++)
                if (!strcmp(r.e[i].node, b->g->nodes[convs[0]].name))
                    left = r.e[i].channels;
            CHECK_MSG(left == c - ng, "kind %d: the first Conv keeps %lld of %lld channels, expected %lld", kind,
                      (long long)left, (long long)c, (long long)(c - ng));
            CHECK(r.params < r.params_before);
            lp_tensor_free(y1);
            lp_prune_report_free(&r);
            cases++;
        }
        lp_tensor_free(y0);
        lp_tensor_free(x);
        free(gone);
        gb_free(b);
    }
    CHECK(cases == 40);
}

static void test_channel_frozen(void)
{
    gb *b = gb_new(13);
    int x = gb_feed(b, rand_tensor(4, (int64_t[]){ 1, 3, 4, 4 }, 1.0));
    int a = conv(b, x, 6, 3, 1, true);
    lp_tensor *shape = NULL;
    CHECK_OK(lp_tensor_new(LP_I64, 1, (int64_t[]){ 2 }, &shape));
    ((int64_t *)shape->data)[0] = 1, ((int64_t *)shape->data)[1] = -1;
    gb_output(b, op2(b, "Reshape", op1(b, "Relu", a), gb_tensor(b, shape)));
    CHECK_OK(lp_graph_infer(b->g, true));
    lp_prune_opts o = { .pattern = LP_PRUNE_CHANNEL, .sparsity = 0.5 };
    lp_prune_report r;
    CHECK_OK(lp_prune_graph(b->g, &o, &r));
    CHECK(r.n_frozen >= 1 && strstr(r.frozen_why, "cannot follow"));
    CHECK(r.params == r.params_before);
    lp_prune_report_free(&r);
    gb_free(b);
}

/* Zeros of every Gemm/MatMul weight of g, and the sum of |w|. */
static int64_t count_zeros(const lp_graph *g, double *l1)
{
    int64_t z = 0;
    *l1 = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        int w = lp_prune_weight(g, i);
        for (int64_t k = 0; w >= 0 && k < lp_tensor_numel(g->values[w].init); k++) {
            float v = ((const float *)g->values[w].init->data)[k];
            z += v == 0.0f;
            *l1 += fabs(v);
        }
    }
    return z;
}

static void test_finetune(void)
{
    lowp_model *m = mlp(), *p = NULL;
    for (int gradual = 0; gradual < 2 && m; gradual++) {
        CHECK_OK(lowp_prune(m, "unstructured", gradual ? 0.0 : 0.8, NULL, &p, NULL));
        if (!p)
            break;
        double l1_before, l1_after;
        int64_t z0 = count_zeros(p->graph, &l1_before), n = 0;
        for (int i = 0; i < p->graph->n_nodes; i++) {
            int w = lp_prune_weight(p->graph, i);
            n += w >= 0 ? (int64_t)floor((gradual ? 0.6 : 0.8) * (double)lp_tensor_numel(p->graph->values[w].init) + 1e-9) : 0;
        }
        lowp_dataloader *dl = fm_loader(true, 32, 640);
        lp_train_options to = lp_train_options_default();
        to.epochs = gradual ? 3 : 1;
        to.optim.lr = 0.01;
        lp_prune_opts o = { .pattern = LP_PRUNE_UNSTRUCTURED, .sparsity = gradual ? 0.6 : 0.8 };
        lp_prune_schedule sch = { .initial = 0, .start_epoch = 0, .end_epoch = 2, .update_frequency = 1 };
        CHECK(fabs(lp_prune_schedule_at(&sch, 0.6, 1) - 0.3) < 1e-12 && lp_prune_schedule_at(&sch, 0.6, 2) == 0.6);
        lp_train_result r;
        lp_pruner pr = { o, gradual ? &sch : NULL };
        CHECK_OK(lp_prune_finetune(p->graph, &pr, 1, &to, dl, &r));
        int64_t z1 = count_zeros(p->graph, &l1_after);
        /* one-shot: exactly the pruned weights are still zero (a trained weight landing on 0.0f
           exactly is a 2^-24-probability event per weight); gradual: the target, exactly */
        CHECK_MSG(z1 == n, "%s: %lld zeros after fine-tuning, want %lld (%lld before)", gradual ? "gradual" : "one-shot",
                  (long long)z1, (long long)n, (long long)z0);
        CHECK_MSG(fabs(l1_after - l1_before) > 1e-6 * l1_before, "the weights did not move");
        CHECK(isfinite(r.last_loss) && r.steps == to.epochs * 20);
        lowp_dataloader_free(dl);
        lowp_model_free(p);
        p = NULL;
    }
    lowp_model_free(m);
}

int main(void)
{
    RUN(test_unstructured);
    RUN(test_n_m);
    RUN(test_channel_exact);
    RUN(test_channel_frozen);
    RUN(test_finetune);
    return TEST_SUMMARY("test_prune");
}
