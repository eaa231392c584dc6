/* test_conv1d.c — 1-D convolutions on the oneDNN backend against the reference kernels, in the
 * formulations the backend picks for them (docs/engine.md, "1-D convolutions"): depthwise ones
 * run as 2-D with H = 1 (the values keep their rank; the primitive sees (N, C, 1, W) views), on
 * randomized shapes (batch, channel counts off the 16-lane blocks, lengths, kernels, strides,
 * dilations, pads, auto_pad, bias) in chains that exercise every hand-over: a graph input read
 * directly, a neighbour's private layout, post-ops (Relu, Clip, a per-channel Mul, a residual
 * Add as an in-place sum), a plain graph output and a second reader.
 *
 * Error bound, normalized (max|fast - ref| / max|ref|): 1e-5. Each output is a sum of at most
 * 7 taps (depthwise) or C <= 300 products (the 1x1 neighbours) rounded in float on both sides,
 * in another order: a few ulps of the largest partial sums (observed ~1e-7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "engine/engine.h"
#include "graph_builder.h"
#include "lowp.h"
#include "test.h"

#define TOL 1e-5

static uint64_t rng = 0xc0417d5eedULL;

static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng) % (uint64_t)(hi - lo + 1)); }
static int input(gb *b, int nd, const int64_t *d) { return gb_feed(b, gb_rand_tensor(&rng, nd, d, 1.0)); }
static int cst(gb *b, int nd, const int64_t *d, double s) { return gb_tensor(b, gb_rand_tensor(&rng, nd, d, s)); }

/* A 1x1 convolution C -> M of (N, C, W) value x. */
static int pointwise(gb *b, int x, int64_t C, int64_t M)
{
    int64_t wd[3] = { M, C, 1 }, bd = M;
    int in[3] = { x, cst(b, 3, wd, 1.0 / C), cst(b, 1, &bd, 0.1) };
    return gb_op(b, "Conv", 3, in);
}

/* Compiles b's graph with the reference kernels only and with every backend, runs both and
 * compares each output; returns the fast plan (the caller frees it) for layout checks. */
static lp_plan *compare(const char *what, gb *b)
{
    lp_plan *pf = NULL;
    gb_compare_plans(what, b, TOL, NULL, &pf);
    return pf;
}

/* Whether some step of p describes itself with `s` (printed when so: what a failed check saw). */
static bool plan_says(const lp_plan *p, const char *s)
{
    char buf[512];
    for (int i = 0; i < p->n_steps; i++)
        if (strstr(lp_plan_step_str(p, i, buf, sizeof buf), s)) {
            printf("  step %d: %s\n", i, buf);
            return true;
        }
    return false;
}

/* Whether standalone oneDNN has a depthwise kernel (no gemm) for the 2-D form (N, C, 1, W) of a
 * 1-D depthwise convolution (explicit pads; with a per-channel Mul post-op when `mul`). Where it
 * has none (tiny lengths under dilated or oversized kernels), gemm is all there is. */
static bool onednn_has_dw(int64_t N, int64_t C, int64_t W, int64_t OW, int64_t k, int64_t s, int64_t d, int64_t pl,
                          int64_t pr, bool mul)
{
    dnnl_engine_t eng;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success)
        return false;
    dnnl_dims_t sd = { N, C, 1, W }, wd = { C, 1, 1, 1, k }, dd = { N, C, 1, OW }, cd = { 1, C, 1, 1 };
    dnnl_dims_t st = { 1, s }, dl = { 0, d - 1 }, lp = { 0, pl }, rp = { 0, pr };
    dnnl_memory_desc_t smd, wmd, dmd, cmd;
    dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wmd, 5, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&cmd, 4, cd, dnnl_f32, dnnl_abcd);
    dnnl_convolution_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const char *impl = NULL;
    bool ok = dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &smd,
                                                         &wmd, NULL, &dmd, st, dl, lp, rp) == dnnl_success &&
              dnnl_primitive_attr_create(&attr) == dnnl_success && dnnl_post_ops_create(&po) == dnnl_success &&
              (!mul || dnnl_post_ops_append_binary(po, dnnl_binary_mul, &cmd) == dnnl_success) &&
              dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success &&
              dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL) == dnnl_success &&
              dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
              !strstr(impl, "gemm") && strncmp(impl, "ref", 3) != 0;
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dnnl_engine_destroy(eng);
    return ok;
}

static void test_depthwise_random(void)
{
    static const int64_t channels[] = { 1, 3, 16, 17, 31, 32, 64, 129, 258 };
    int n_dw = 0;
    for (int t = 0; t < 60; t++) {
        gb *b = gb_new(13);
        int64_t C = channels[rnd(0, (int)(sizeof channels / sizeof *channels) - 1)];
        int64_t N = rnd(0, 3) ? rnd(1, 3) : 16, W = rnd(1, 40);
        int64_t k = rnd(1, 7), s = rnd(1, 3), d = rnd(0, 3) ? 1 : 2, p[2] = { rnd(0, 3), rnd(0, 3) };
        if (p[0] >= k)
            p[0] = k - 1;
        if (p[1] >= k)
            p[1] = k - 1;
        while ((k - 1) * d + 1 > W + p[0] + p[1]) /* the window fits the padded input */
            W++;
        int pre = rnd(0, 2), post = rnd(0, 4), after = rnd(0, 2);
        bool same = rnd(0, 5) == 0, bias = rnd(0, 2) != 0;
        int64_t xd[3] = { N, C, W };
        int x = input(b, 3, xd);
        if (pre == 1)
            x = pointwise(b, x, C, C); /* a producer keeping a private layout */
        else if (pre == 2)
            x = op1(b, "Relu", x);
        int64_t wd[3] = { C, 1, k }, bd = C;
        int in[3] = { x, cst(b, 3, wd, 0.5), bias ? cst(b, 1, &bd, 0.5) : -1 };
        int y = gb_op(b, "Conv", bias ? 3 : 2, in);
        attr_i(b, "group", C);
        attr_ints(b, "strides", 1, &s);
        if (same) {
            attr_s(b, "auto_pad", "SAME_UPPER");
        } else {
            attr_ints(b, "dilations", 1, &d);
            attr_ints(b, "pads", 2, p);
        }
        int64_t ow = same ? (W + s - 1) / s : (W + p[0] + p[1] - ((k - 1) * d + 1)) / s + 1;
        bool keeps_shape = ow == W;
        if (post == 1) {
            y = op1(b, "Relu", y);
        } else if (post == 2) {
            int64_t cd[3] = { 1, C, 1 }; /* a per-channel operand: (1, C, 1, 1) to the 2-D primitive */
            y = op2(b, "Mul", y, cst(b, 3, cd, 1.0));
        } else if (post == 3 && keeps_shape) {
            y = op1(b, "Relu", op2(b, "Add", y, x)); /* residual: a sum post-op */
        } else if (post == 4) {
            int cin[3] = { y, gb_scalar(b, LP_F32, -0.5), gb_scalar(b, LP_F32, 0.5) };
            y = gb_op(b, "Clip", 3, cin);
        }
        if (after == 1)
            y = pointwise(b, y, C, rnd(1, 40));
        gb_output(b, y);
        if (after == 2)
            gb_output(b, op1(b, "Sigmoid", y)); /* a second reader */
        char what[200];
        snprintf(what, sizeof what, "N%lld C%lld W%lld k%lld s%lld d%lld p%lld,%lld%s%s pre %d post %d after %d",
                 (long long)N, (long long)C, (long long)W, (long long)k, (long long)s, (long long)d, (long long)p[0],
                 (long long)p[1], same ? " same" : "", bias ? " bias" : "", pre, post, after);
        lp_plan *pf = compare(what, b);
        /* the depthwise convolution ran as 2-D: oneDNN's depthwise kernel wherever it has one */
        int64_t pl = p[0], pr = p[1];
        if (same) {
            int64_t total = (ow - 1) * s + k - W;
            pl = total > 0 ? total / 2 : 0, pr = total > 0 ? total - total / 2 : 0;
            d = 1;
        }
        if (pf && onednn_has_dw(N, C, W, ow, k, s, d, pl, pr, post == 2)) {
            CHECK_MSG(!plan_says(pf, "gemm"), "%s: a gemm convolution", what);
            n_dw++;
        }
        CHECK_MSG(!pf || !plan_says(pf, "reference fallback"), "%s: a reference fallback", what);
        lp_plan_free(pf);
        gb_free(b);
    }
    /* most draws have a depthwise kernel (the rest: tiny lengths under dilated kernels) */
    CHECK_MSG(n_dw >= 30, "only %d of 60 draws had oneDNN's depthwise kernel to check", n_dw);
}

/* LOWP_CONV1D_AS_2D=0 keeps the 1-D form (oneDNN's gemm kernel for depthwise): the same
 * results, and proof that test_depthwise_random's check can fail. */
static void test_as_2d_off(void)
{
    gb *b = gb_new(13);
    int64_t xd[3] = { 4, 258, 8 }, wd[3] = { 258, 1, 5 }, p[2] = { 2, 2 };
    int in[2] = { input(b, 3, xd), cst(b, 3, wd, 0.5) };
    int y = op1(b, "Relu", gb_op(b, "Conv", 2, in));
    (void)y;
    b->last_node = b->g->n_nodes - 2;
    attr_i(b, "group", 258);
    attr_ints(b, "pads", 2, p);
    gb_output(b, b->g->n_values - 1);
    setenv("LOWP_CONV1D_AS_2D", "0", 1);
    lp_plan *off = compare("Silero's conv, 1-D form", b);
    unsetenv("LOWP_CONV1D_AS_2D");
    lp_plan *on = compare("Silero's conv, as 2-D", b);
    CHECK_MSG(off && plan_says(off, "gemm"), "the 1-D form is oneDNN's gemm kernel");
    CHECK_MSG(on && !plan_says(on, "gemm") && (plan_says(on, "dw")), "the 2-D form is a depthwise kernel");
    lp_plan_free(off);
    lp_plan_free(on);
    gb_free(b);
}

int main(void)
{
    lp_test_seed(&rng);
    setenv("LOWP_THREAD_MIN_WORK", "0", 1);
    RUN(test_depthwise_random);
    RUN(test_as_2d_off);
    return TEST_SUMMARY("test_conv1d");
}
