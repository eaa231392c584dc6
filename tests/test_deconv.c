/* test_deconv.c — ConvTranspose on the oneDNN backend against the reference kernel: random
 * shapes (1-3 spatial dims, batch > 1, one output channel, groups, pads, dilations,
 * output_padding, kernel == stride and not), with and without fused bias / Add / Mul /
 * Sigmoid / Relu and a full-size residual, after a producer that stores its result in a
 * private layout. Every case runs in the three builds (docs/engine.md, "ConvTranspose"): the
 * default (1x1 convolution + pixel shuffle where kernel == stride), LOWP_DECONV=split
 * (deconvolution, then one binary primitive for bias and post-ops, blocked or plain) and
 * LOWP_DECONV=fused (oneDNN's deconvolution with everything fused: slow, kept correct); the
 * step descriptions say which ran, and the paddle-like cases must run where the rule puts them.
 *
 * Error bound, normalized (max|fast - ref| / max|ref|) <= 1e-5: both sides sum C*k products
 * per output in float (at most ~400 here), in another order; the difference is a few ulps of
 * the partial sums (observed ~1e-7). Sigmoid is oneDNN's approximation, within a few ulps.
 *
 * Usage: test_deconv [-v]   (-v prints each case's ConvTranspose step) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "graph_builder.h"
#include "kernels/dnnl.h"

#define TOL 1e-5

static int verbose;

static uint64_t rng = 0xdec0dec0ULL;
static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng) % (uint64_t)(hi - lo + 1)); }

/* The ConvTranspose step's description in a compiled plan (empty when none). */
static void deconv_step(const lp_plan *p, char *buf, size_t size)
{
    buf[0] = 0;
    char d[512];
    for (int s = 0; s < p->n_steps; s++)
        if (strstr(lp_plan_step_str(p, s, d, sizeof d), "ConvTranspose")) {
            snprintf(buf, size, "%s", d);
            return;
        }
}

typedef enum want { WANT_SHUFFLE, WANT_DECONV } want;

/* Compiles b's graph with the reference kernels and with the default backends under
 * LOWP_DECONV=mode (NULL: unset); checks the ConvTranspose step's implementation and every
 * output against the reference. */
static void check(const char *what, gb *b, const char *mode, want w)
{
    char full[300];
    snprintf(full, sizeof full, "%s [%s]", what, mode ? mode : "default");
    if (mode)
        setenv("LOWP_DECONV", mode, 1);
    else
        unsetenv("LOWP_DECONV");
    lp_plan *pf = NULL;
    bool ok = gb_compare_plans(full, b, TOL, NULL, &pf);
    unsetenv("LOWP_DECONV");
    if (!pf)
        return;
    char d[512];
    deconv_step(pf, d, sizeof d);
    CHECK_MSG(strstr(d, "dnnl") && !strstr(d, "ref:") && !strstr(d, "reference"),
              "%s: ConvTranspose not on a fast oneDNN step: '%s'", full, d);
    if (w == WANT_SHUFFLE)
        CHECK_MSG(strstr(d, "pixel-shuffle") != NULL, "%s: kernel == stride not on the 1x1 convolution + pixel shuffle: '%s'",
                  what, d);
    else
        CHECK_MSG(strstr(d, "pixel-shuffle") == NULL, "%s: unexpected pixel shuffle: '%s'", full, d);
    if (verbose || !ok)
        printf("  %s: %s\n", full, d);
    lp_plan_free(pf);
}

/* What follows the ConvTranspose. */
enum post {
    POST_NONE, POST_ADD_CHANNEL, POST_ADD_SCALAR, POST_MUL_CHANNEL, POST_SIGMOID, POST_ADD_SIGMOID, POST_RELU,
    POST_RESIDUAL, POST_COUNT
};
static const char *post_name[POST_COUNT] = { "", "+Add(c)", "+Add(s)", "+Mul(c)", "+Sigmoid", "+Add(c)+Sigmoid",
                                             "+Relu", "+Add(residual)" };

/* One random case: returns what the default build should run it on. */
static want random_case(gb *b, bool shuffle, char *what, size_t wlen)
{
    int nsp = rnd(0, 5) == 0 ? 1 : rnd(0, 5) == 0 ? 3 : 2;
    int64_t group = shuffle || rnd(0, 2) ? 1 : rnd(2, 3);
    int64_t C = group * (rnd(0, 4) == 0 ? 24 : rnd(1, 6)), Mg = rnd(0, 3) == 0 ? 1 : rnd(0, 3) == 0 ? rnd(16, 20) : rnd(1, 9);
    int64_t xd[5] = { rnd(0, 3) == 0 ? rnd(2, 3) : 1, C }, wd[5] = { C, Mg };
    int64_t s[3], d[3], p[6], op[3];
    for (int i = 0; i < nsp; i++) {
        xd[2 + i] = nsp == 3 ? rnd(2, 5) : rnd(2, 11);
        if (shuffle) {
            s[i] = wd[2 + i] = nsp == 2 && rnd(0, 2) ? 2 : rnd(1, 3);
            d[i] = 1, p[i] = p[nsp + i] = op[i] = 0;
            continue;
        }
        wd[2 + i] = rnd(1, 4);
        s[i] = rnd(1, 3);
        d[i] = rnd(0, 3) == 0 ? 2 : 1;
        int64_t dk = (wd[2 + i] - 1) * d[i] + 1;
        p[i] = rnd(0, (int)(dk - 1));
        p[nsp + i] = rnd(0, (int)(dk - 1));
        op[i] = s[i] > 1 ? rnd(0, (int)s[i] - 1) : 0;
        if (op[i] > p[nsp + i]) /* oneDNN needs end padding >= output_padding */
            op[i] = p[nsp + i];
        if (s[i] * (xd[2 + i] - 1) + op[i] + dk - p[i] - p[nsp + i] < 1) /* no output: ONNX refuses it */
            p[i] = p[nsp + i] = op[i] = 0;
    }
    int64_t M = Mg * group;
    int x = gb_feed(b, gb_rand_tensor(&rng, nsp + 2, xd, 1.0));
    bool private_in = rnd(0, 1);
    if (private_in) { /* a 1x1 convolution before: the input in oneDNN's layout of choice */
        int64_t cw[5] = { C, C, 1, 1, 1 };
        int in[2] = { x, gb_tensor(b, gb_rand_tensor(&rng, nsp + 2, cw, 0.5)) };
        x = gb_op(b, "Conv", 2, in);
    }
    bool bias = rnd(0, 1);
    int in[3] = { x, gb_tensor(b, gb_rand_tensor(&rng, nsp + 2, wd, 0.5)),
                  bias ? gb_tensor(b, gb_rand_tensor(&rng, 1, &M, 0.5)) : -1 };
    int y = gb_op(b, "ConvTranspose", bias ? 3 : 2, in);
    attr_i(b, "group", group);
    attr_ints(b, "strides", nsp, s);
    attr_ints(b, "kernel_shape", nsp, wd + 2);
    if (!shuffle || rnd(0, 1)) {
        attr_ints(b, "dilations", nsp, d);
        attr_ints(b, "pads", 2 * nsp, p);
        attr_ints(b, "output_padding", nsp, op);
    }
    int post = rnd(0, POST_COUNT - 1);
    int64_t cd[5] = { 1, M, 1, 1, 1 };
    switch (post) {
    case POST_ADD_CHANNEL: case POST_ADD_SIGMOID: case POST_MUL_CHANNEL: {
        /* (M, 1...) or (1, M, 1...): the channel broadcast as exporters write it */
        bool lead = rnd(0, 1);
        int c = gb_tensor(b, gb_rand_tensor(&rng, lead ? nsp + 2 : nsp + 1, lead ? cd : cd + 1, 0.5));
        y = op2(b, post == POST_MUL_CHANNEL ? "Mul" : "Add", y, c);
        if (post == POST_ADD_SIGMOID)
            y = op1(b, "Sigmoid", y);
        break;
    }
    case POST_ADD_SCALAR: y = op2(b, "Add", y, gb_scalar(b, LP_F32, 0.375)); break;
    case POST_SIGMOID: y = op1(b, "Sigmoid", y); break;
    case POST_RELU: y = op1(b, "Relu", y); break;
    case POST_RESIDUAL: { /* a runtime full-size operand: Exp of another input, same shape */
        int64_t yd[5] = { xd[0], M };
        for (int i = 0; i < nsp; i++) /* with kernel == stride: s * in */
            yd[2 + i] = s[i] * (xd[2 + i] - 1) + op[i] + (wd[2 + i] - 1) * d[i] + 1 - p[i] - p[nsp + i];
        int r = gb_feed(b, gb_rand_tensor(&rng, nsp + 2, yd, 1.0));
        y = op2(b, "Add", y, op1(b, "Exp", r));
        break;
    }
    default: break;
    }
    gb_output(b, y);
    snprintf(what, wlen, "ConvTranspose%dd N%lld C%lld M%lld g%lld k%lld s%lld d%lld p%lld,%lld op%lld %s%s%s",
             nsp, (long long)xd[0], (long long)C, (long long)M, (long long)group, (long long)wd[2], (long long)s[0],
             (long long)d[0], (long long)p[0], (long long)p[nsp], (long long)op[0], bias ? "bias" : "",
             post_name[post], private_in ? " after Conv" : "");
    int64_t mk = M; /* the 1x1 form takes at least 16 channel-kernel positions */
    for (int i = 0; i < nsp; i++)
        mk *= wd[2 + i];
    return shuffle && post != POST_RESIDUAL && mk >= 16 ? WANT_SHUFFLE : WANT_DECONV;
}

static void test_deconv_builds(void)
{
    for (int t = 0; t < 96; t++) {
        gb *b = gb_new(13);
        char what[256];
        want w = random_case(b, t % 2 == 0, what, sizeof what);
        check(what, b, NULL, w);
        check(what, b, "split", WANT_DECONV);
        if (t % 4 < 2) /* the old fused form: slow, small shapes only */
            check(what, b, "fused", WANT_DECONV);
        gb_free(b);
    }
}

/* PP-OCRv4's detector head, shrunk: ConvTranspose(k = s = 2) + Add(bias) [+ Sigmoid], 24 -> 24
 * and 24 -> 1 channels, batch 1 and 2: 24 -> 24 on the 1x1 convolution + pixel shuffle, 24 -> 1
 * (4 channel-kernel positions) on the split form, right. */
static void test_paddle_head(void)
{
    for (int t = 0; t < 4; t++) {
        gb *b = gb_new(13);
        int64_t M = t % 2 ? 1 : 24, xd[4] = { t < 2 ? 1 : 2, 24, 20, 20 }, wd[4] = { 24, M, 2, 2 }, cd[3] = { M, 1, 1 };
        int64_t st[2] = { 2, 2 }, pads[4] = { 0 }, dil[2] = { 1, 1 };
        int in[2] = { gb_feed(b, gb_rand_tensor(&rng, 4, xd, 1.0)), gb_tensor(b, gb_rand_tensor(&rng, 4, wd, 0.5)) };
        int y = gb_op(b, "ConvTranspose", 2, in);
        attr_ints(b, "strides", 2, st);
        attr_ints(b, "kernel_shape", 2, wd + 2);
        attr_ints(b, "pads", 4, pads);
        attr_ints(b, "dilations", 2, dil);
        attr_i(b, "group", 1);
        y = op2(b, "Add", y, gb_tensor(b, gb_rand_tensor(&rng, 3, cd, 0.5)));
        if (M == 1)
            y = op1(b, "Sigmoid", y);
        gb_output(b, y);
        char what[96];
        snprintf(what, sizeof what, "paddle head N%lld 24->%lld", (long long)xd[0], (long long)M);
        check(what, b, NULL, M == 24 ? WANT_SHUFFLE : WANT_DECONV);
        gb_free(b);
    }
}

int main(int argc, char **argv)
{
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    RUN(test_paddle_head);
    RUN(test_deconv_builds);
    return TEST_SUMMARY("test_deconv");
}
