/* test_kernels.c — the oneDNN backend against the reference kernels: every claimed op and
 * every fusion on randomized shapes (fixed seed; odd sizes, strides, pads, groups,
 * dilations, broadcasting), private layouts across chains, taps, threads, BF16, dynamic
 * shapes, and the zoo models against PyTorch's logits.
 *
 * Error bounds, normalized: max|fast - ref| / max|ref| over an output.
 *  - FP32 <= 1e-5: both sides round each product-sum in float, but oneDNN blocks, vectorizes
 *    and FMA-contracts the reduction in another order. For a K-term sum the difference is
 *    a few K^(1/2)..K ulps of the largest partial sums; with K <= ~2000 here and |ref|
 *    comparable to those sums, that stays well under 1e-5 (observed ~1e-7..1e-6). oneDNN's
 *    transcendental approximations (exp, tanh, erf) are within a few ulps.
 *  - BF16 <= 1e-2: inputs and weights are rounded to 8 significant bits (relative error
 *    2^-9 each), products accumulate in FP32; the rounding errors are independent, so the
 *    sum's error is ~2^-8 * sqrt(K) * typical term, well under 1e-2 of its maximum.
 *
 * Usage: test_kernels [-v]   (-v prints each plan's steps) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/session.h"
#include "graph_builder.h"
#include "kernels/dnnl.h"
#include "kernels/dnnl_internal.h"
#include "lowp.h"
#include "onnx/model.h"
#include "test.h"

#define TOL_F32 1e-5
#define TOL_BF16 1e-2

static int verbose;
static uint64_t rng_state = 0x5eed1234abcdULL;

static uint64_t next_u64(void) { return lowp_random_next(&rng_state); }
static int rnd(int lo, int hi) { return lo + (int)(next_u64() % (uint64_t)(hi - lo + 1)); }
static float rndf(void) { return (float)(lowp_random_uniform(&rng_state) * 2.0 - 1.0); }

/* ---- graphs (graph_builder.h) with contents drawn from rng_state ---- */

static void fill(lp_tensor *t, float scale)
{
    float *d = t->data;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        d[i] = scale * rndf();
}

/* A float32 tensor of `scale` * uniform[-1, 1). */
static lp_tensor *rand_tensor(int nd, const int64_t *dims, float scale)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LOWP_FLOAT, nd, dims, &t));
    if (t)
        fill(t, scale);
    return t;
}

/* A graph input with random contents fed at run time. */
static int gb_input(gb *b, int nd, const int64_t *dims) { return gb_feed(b, rand_tensor(nd, dims, 1.0f)); }
static int gb_const(gb *b, int nd, const int64_t *dims, float scale) { return gb_tensor(b, rand_tensor(nd, dims, scale)); }

/* A 1-D int64 constant. */
static int gb_ints(gb *b, int64_t n, const int64_t *x)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_I64, 1, &n, &t));
    memcpy(t->data, x, (size_t)n * sizeof *x);
    return gb_tensor(b, t);
}

/* ---- running and comparing ---- */

typedef struct expect {
    int dnnl_steps;      /* >= 0: exact count of oneDNN steps (fusion check); -1: at least one */
    int total_steps;     /* >= 0: exact step count */
    lp_dtype precision;
    double tol;
    bool maybe;          /* oneDNN may decline (it has only a slow implementation): 0 steps is fine */
    double atol;         /* an absolute error allowed on top of tol * max|ref| */
} expect;

static void print_plan(const char *what, const lp_plan *p)
{
    char buf[256];
    printf("  plan %s: %d steps\n", what, p->n_steps);
    for (int s = 0; s < p->n_steps; s++)
        printf("    %s\n", lp_plan_step_str(p, s, buf, sizeof buf));
}

/* Compiles b's graph twice (reference only; all backends), compares every output and checks
 * the fast plan's oneDNN steps against e. */
static void check_graph(const char *what, gb *b, expect e)
{
    lp_plan_options fo = lp_plan_options_default();
    fo.precision = e.precision ? e.precision : LOWP_FLOAT;
    lp_plan *pf = NULL;
    gb_compare_plans(what, b, e.tol > 0 ? e.tol : TOL_F32, &(gb_compare_opt){ .fast = &fo, .atol = e.atol, .verbose = verbose },
                     &pf);
    if (!pf)
        return;
    if (verbose)
        print_plan(what, pf);
    int nd = 0;
    char buf[256];
    for (int s = 0; s < pf->n_steps; s++) {
        if (pf->steps[s].kernel != &lp_kernel_dnnl)
            continue;
        nd++;
        const char *desc = lp_plan_step_str(pf, s, buf, sizeof buf);
        CHECK_MSG(!strstr(desc, "reference fallback") && !strstr(desc, "ref:"), "%s: step '%s'", what, desc);
    }
    if (e.dnnl_steps >= 0 && !(e.maybe && nd == 0))
        CHECK_MSG(nd == e.dnnl_steps, "%s: %d oneDNN steps, expected %d", what, nd, e.dnnl_steps);
    else if (e.dnnl_steps < 0)
        CHECK_MSG(nd > 0, "%s: no oneDNN step", what);
    if (verbose && e.maybe && nd == 0)
        printf("  %s: left to the reference kernels\n", what);
    if (e.total_steps >= 0 && !(e.maybe && nd == 0))
        CHECK_MSG(pf->n_steps == e.total_steps, "%s: %d steps, expected %d", what, pf->n_steps, e.total_steps);
    lp_plan_free(pf);
}

static expect steps(int dnnl, int total) { return (expect){ .dnnl_steps = dnnl, .total_steps = total }; }
static expect maybe(int dnnl, int total) { return (expect){ .dnnl_steps = dnnl, .total_steps = total, .maybe = true }; }

/* ---- Conv ---- */

/* A random valid 2-D (sometimes 1-D/3-D) convolution (gb_conv_random, SAME_UPPER too);
 * returns the output value. */
static int random_conv(gb *b, int x, int nsp, const int64_t *xd, int64_t *yd, char *desc, size_t dlen)
{
    gb_conv cv = gb_conv_random(&rng_state, nsp, xd, -1, GB_CONV_SAME);
    int64_t wd[5], bd = cv.M;
    gb_conv_wdims(&cv, wd);
    int w = gb_const(b, nsp + 2, wd, 0.5f);
    int bias = rnd(0, 3) ? gb_const(b, 1, &bd, 0.5f) : -1;
    int y = gb_conv_node(b, &cv, x, xd, w, bias, yd);
    char geo[128];
    gb_conv_str(&cv, geo, sizeof geo);
    snprintf(desc, dlen, "%s %s", geo, cv.same ? "same" : "");
    return y;
}

static void test_conv_random(void)
{
    for (int t = 0; t < 40; t++) {
        gb *b = gb_new(13);
        int nsp = t % 10 == 3 ? 1 : t % 10 == 7 ? 3 : 2;
        int64_t xd[5] = { rnd(1, 3), rnd(1, 17) };
        for (int i = 0; i < nsp; i++)
            xd[2 + i] = nsp == 3 ? rnd(3, 7) : rnd(3, 19);
        int x = gb_input(b, nsp + 2, xd);
        int64_t yd[5];
        char desc[160];
        int y = random_conv(b, x, nsp, xd, yd, desc, sizeof desc);
        gb_output(b, y);
        check_graph(desc, b, steps(1, 1));
        gb_free(b);
    }
}

/* The activations a post-op chain takes, each built after value y. */
static int activation(gb *b, int kind, int y, const char **name)
{
    switch (kind) {
    case 0: *name = "Relu"; return op1(b, "Relu", y);
    case 1: { *name = "Clip0..6"; int in[3] = { y, gb_scalar(b, LOWP_FLOAT, 0.f), gb_scalar(b, LOWP_FLOAT, 6.f) }; return gb_op(b, "Clip", 3, in); }
    case 2: *name = "Sigmoid"; return op1(b, "Sigmoid", y);
    case 3: *name = "HardSigmoid"; y = op1(b, "HardSigmoid", y); attr_f(b, "alpha", 0.3f); return y;
    case 4: *name = "HardSwish"; return op1(b, "HardSwish", y);
    case 5: *name = "Tanh"; return op1(b, "Tanh", y);
    case 6: *name = "LeakyRelu"; y = op1(b, "LeakyRelu", y); attr_f(b, "alpha", 0.1f); return y;
    /* constant-scalar binaries and unary ops that are oneDNN eltwise algorithms */
    case 8: *name = "Max(x,-0.4)"; return op2(b, "Max", y, gb_scalar(b, LOWP_FLOAT, -0.4f));
    case 9: *name = "Min(0.5,x)"; return op2(b, "Min", gb_scalar(b, LOWP_FLOAT, 0.5f), y);
    case 10: *name = "Sub(1.5,x)"; return op2(b, "Sub", gb_scalar(b, LOWP_FLOAT, 1.5f), y);
    case 11: *name = "Pow(x,2)"; return op2(b, "Pow", y, gb_scalar(b, LOWP_FLOAT, 2.f));
    case 12: *name = "Neg"; return op1(b, "Neg", y);
    case 13: *name = "Abs"; return op1(b, "Abs", y);
    case 14: *name = "Exp"; return op1(b, "Exp", y);
    case 15: *name = "Div(1.7,x)"; return op2(b, "Div", gb_scalar(b, LOWP_FLOAT, 1.7f), y);
    default: { /* 7: GELU as PyTorch exports it: x * 0.5 * (1 + erf(x / sqrt 2)) */
        *name = "GELU(erf)";
        int a = op2(b, "Div", y, gb_scalar(b, LOWP_FLOAT, 1.4142135f));
        int e = op1(b, "Erf", a);
        int e1 = op2(b, "Add", e, gb_scalar(b, LOWP_FLOAT, 1.f));
        int m = op2(b, "Mul", y, e1);
        return op2(b, "Mul", m, gb_scalar(b, LOWP_FLOAT, 0.5f));
    }
    }
}
#define N_ACT 15
/* Standalone only: Div(c, x) (oneDNN's pow, alpha * x^-1: within an ulp of c / x alone), but
 * after a convolution c / x magnifies the conv's own rounding where x is near 0. */
#define N_ACT_ALONE 16

static void test_conv_fusion(void)
{
    for (int act = 0; act < N_ACT; act++)
        for (int res = 0; res < 3; res++) {
            gb *b = gb_new(13);
            int64_t xd[4] = { 2, 6, 9, 11 };
            int x = gb_input(b, 4, xd);
            int64_t wd[4] = { 6, 6, 3, 3 }, bd = 6, cd[4] = { 1, 6, 1, 1 };
            int in[3] = { x, gb_const(b, 4, wd, 0.3f), gb_const(b, 1, &bd, 0.3f) };
            int y = gb_op(b, "Conv", 3, in);
            int64_t p[4] = { 1, 1, 1, 1 };
            attr_ints(b, "pads", 4, p);
            if (res == 2) /* a per-channel constant (a Mul, like an unfolded scale) */
                y = op2(b, "Mul", y, gb_const(b, 4, cd, 1.f));
            const char *name;
            y = activation(b, act, y, &name);
            if (res == 1) /* residual: the block input */
                y = op2(b, "Add", y, x);
            gb_output(b, y);
            char what[96];
            snprintf(what, sizeof what, "Conv+%s%s", name, res == 1 ? "+Add(residual)" : res == 2 ? "+Mul(per-channel)" : "");
            check_graph(what, b, steps(1, 1));
            gb_free(b);
        }
}

/* Conv -> Relu -> Conv -> Add(residual) -> Relu -> MaxPool -> Conv(dw) -> GAP -> Flatten ->
 * Gemm: private layouts between the oneDNN steps, reorders only at the edges. Also taps. */
typedef struct tap_rec { int n; int value[64]; lp_tensor *t[64]; } tap_rec;

static lp_status record(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t)
{
    (void)node;
    tap_rec *r = user;
    if (r->n < 64) {
        r->value[r->n] = lp_graph_find_value(plan->g, plan->g->values[value].name);
        lp_tensor_clone(t, &r->t[r->n++]);
    }
    return LP_OK;
}

static gb *resnet_block(int batch)
{
    gb *b = gb_new(13);
    int64_t xd[4] = { batch, 3, 15, 15 }, w1[4] = { 16, 3, 3, 3 }, w2[4] = { 16, 16, 3, 3 }, bd = 16;
    int64_t wdw[4] = { 16, 1, 3, 3 }, fcw[2] = { 10, 16 }, fcb = 10, p1[4] = { 1, 1, 1, 1 };
    int x = gb_input(b, 4, xd);
    int in[3] = { x, gb_const(b, 4, w1, 0.3f), gb_const(b, 1, &bd, 0.1f) };
    int h = gb_op(b, "Conv", 3, in);
    attr_ints(b, "pads", 4, p1);
    h = op1(b, "Relu", h);
    int in2[3] = { h, gb_const(b, 4, w2, 0.1f), gb_const(b, 1, &bd, 0.1f) };
    int h2 = gb_op(b, "Conv", 3, in2);
    attr_ints(b, "pads", 4, p1);
    h2 = op1(b, "Relu", op2(b, "Add", h2, h));
    int k2[2] = { 0 };
    (void)k2;
    int mp = op1(b, "MaxPool", h2);
    int64_t k[2] = { 3, 3 }, s[2] = { 2, 2 };
    attr_ints(b, "kernel_shape", 2, k);
    attr_ints(b, "strides", 2, s);
    attr_ints(b, "pads", 4, p1);
    int in3[3] = { mp, gb_const(b, 4, wdw, 0.3f), gb_const(b, 1, &bd, 0.1f) };
    int dw = gb_op(b, "Conv", 3, in3);
    attr_i(b, "group", 16);
    attr_ints(b, "pads", 4, p1);
    int64_t cd[4] = { 1, 16, 1, 1 };
    int bn = op2(b, "Add", op1(b, "Relu", dw), gb_const(b, 4, cd, 1.f)); /* a standalone binary */
    int gap = op1(b, "GlobalAveragePool", bn);
    int fl = op1(b, "Flatten", gap);
    int in4[3] = { fl, gb_const(b, 2, fcw, 0.3f), gb_const(b, 1, &fcb, 0.1f) };
    int y = gb_op(b, "Gemm", 3, in4);
    attr_i(b, "transB", 1);
    gb_output(b, y);
    return b;
}

/* A conv with pads 1 (3x3, 16 -> 16 channels) of h. */
static int conv16(gb *b, int h)
{
    int64_t w[4] = { 16, 16, 3, 3 }, bd = 16, p1[4] = { 1, 1, 1, 1 };
    int in[3] = { h, gb_const(b, 4, w, 0.1f), gb_const(b, 1, &bd, 0.1f) };
    int y = gb_op(b, "Conv", 3, in);
    attr_ints(b, "pads", 4, p1);
    return y;
}

/* Values of p sharing storage with another value (in-place results). */
static int shared_values(const lp_plan *p)
{
    int k = 0;
    for (int v = 0; v < p->g->n_values; v++)
        k += p->share_parent[v] != v;
    return k;
}

/* The residual of Conv + Add + Relu is summed in place (the output takes over its storage)
 * exactly when nothing reads it afterwards and the step reads it nowhere else; results
 * equal the reference's either way. */
static void test_inplace_residual(void)
{
    for (int kind = 0; kind < 3; kind++) {
        gb *b = gb_new(13);
        int64_t xd[4] = { 1, 16, 9, 9 };
        int x = gb_input(b, 4, xd);
        int a = op1(b, "Relu", conv16(b, x));
        /* kind 0: a -> conv -> conv, + a (read last there: in place)
         * kind 1: the same, but a later step reads a again (no)
         * kind 2: conv(a) + a (the step's convolution reads a too: no) */
        int c = kind == 2 ? a : op1(b, "Relu", conv16(b, a));
        int y = op1(b, "Relu", op2(b, "Add", conv16(b, c), a));
        gb_output(b, conv16(b, y));
        if (kind == 1)
            gb_output(b, op1(b, "Sigmoid", a));
        check_graph(kind == 0 ? "in place" : kind == 1 ? "residual read later" : "residual is the conv input",
                    b, steps(-1, -1));
        const lp_tensor *in[1] = { b->feed[0] };
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile(b->g, in, &p));
        if (p) {
            CHECK_MSG(shared_values(p) == (kind == 0), "kind %d: %d values share storage", kind, shared_values(p));
            lp_plan_free(p);
        }
        gb_free(b);
    }
}

/* Flatten, Reshape, Squeeze and Unsqueeze of an intermediate are views: the step does no
 * work and the output shares the input's storage; of a graph input they still copy. */
static void test_views(void)
{
    gb *b = gb_new(13);
    int64_t xd[4] = { 2, 16, 5, 5 }, shp[2] = { 2, 400 }, ax[1] = { 1 }, wd[2] = { 7, 400 };
    int x = gb_input(b, 4, xd);
    int r0 = op1(b, "Flatten", x); /* of the input: a copy */
    int h = op1(b, "Relu", conv16(b, x));
    int in_r[2] = { h, gb_ints(b, 2, shp) };
    int r = gb_op(b, "Reshape", 2, in_r);
    int in_u[2] = { r, gb_ints(b, 1, ax) };
    int u = gb_op(b, "Unsqueeze", 2, in_u);
    int in_s[2] = { u, gb_ints(b, 1, ax) };
    int q = gb_op(b, "Squeeze", 2, in_s);
    int in_g[2] = { q, gb_const(b, 2, wd, 0.1f) };
    int y = gb_op(b, "Gemm", 2, in_g);
    attr_i(b, "transB", 1);
    gb_output(b, y);
    gb_output(b, op2(b, "Add", r0, q)); /* the views' storage is still read after the Gemm */
    /* a Cast to the type it has, writing a graph output from a value another node reads (as
     * FP16 models widened to float leave them): a view too */
    int c = op1(b, "Cast", h);
    attr_i(b, "to", LOWP_FLOAT);
    gb_output(b, c);
    check_graph("views", b, steps(-1, -1));
    const lp_tensor *in[1] = { b->feed[0] };
    lp_plan *p = NULL;
    CHECK_OK(lp_plan_compile(b->g, in, &p));
    if (p) {
        int views = 0;
        for (int s = 0; s < p->n_steps; s++)
            views += strcmp(p->steps[s].kernel->name, "view") == 0;
        CHECK_MSG(views == 4, "%d view steps, expected 4 (Reshape, Unsqueeze, Squeeze, Cast)", views);
        CHECK(shared_values(p) == 4);
        lp_plan_free(p);
    }
    gb_free(b);
}

/* LOWP_CONV_LAYOUT=blocked (the one-layout plan, dnnl_ops.c graph_prefers_blocked): next to a
 * Winograd convolution the direct FP32 convolutions take and give nChw16c (oneDNN's blocked
 * "jit:" kernels, not channels-last brgconv), with the usual FP32 error bound; without it
 * oneDNN chooses. */
static void test_conv_layout_blocked(void)
{
    uint64_t keep = rng_state; /* the random tests after this one keep their cases */
    for (int blocked = 0; blocked < 2; blocked++) {
        int64_t xd[4] = { 1, 64, 13, 11 }, p1[4] = { 1, 1, 1, 1 };
        int64_t w1[4] = { 64, 64, 3, 3 }, w2[4] = { 32, 64, 3, 3 }, w3[4] = { 48, 32, 1, 1 }, m1 = 64, m2 = 32;
        gb *b = gb_new(13);
        int x = gb_input(b, 4, xd);
        int in[3] = { x, gb_const(b, 4, w1, 0.1f), gb_const(b, 1, &m1, 0.1f) };
        int y = gb_op(b, "Conv", 3, in); /* Winograd */
        attr_ints(b, "pads", 4, p1);
        y = op1(b, "Relu", y);
        int in2[3] = { y, gb_const(b, 4, w2, 0.1f), gb_const(b, 1, &m2, 0.1f) };
        y = gb_op(b, "Conv", 3, in2); /* direct: 32 outputs */
        attr_ints(b, "pads", 4, p1);
        y = op1(b, "Relu", y);
        int in3[2] = { y, gb_const(b, 4, w3, 0.1f) };
        gb_output(b, gb_op(b, "Conv", 2, in3)); /* direct 1x1 */
        if (blocked)
            setenv("LOWP_CONV_LAYOUT", "blocked", 1);
        check_graph(blocked ? "conv layout blocked" : "conv layout oneDNN's", b, steps(3, 3));
        const lp_tensor *feed[1] = { b->feed[0] };
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile(b->g, feed, &p));
        unsetenv("LOWP_CONV_LAYOUT");
        for (int s = 1; p && s < 3; s++) {
            char buf[256];
            const char *d = lp_plan_step_str(p, s, buf, sizeof buf);
            CHECK_MSG(!blocked || (strstr(d, "(jit") && !strstr(d, "brgconv")), "blocked %d: step '%s'", blocked, d);
        }
        lp_plan_free(p);
        gb_free(b);
    }
    rng_state = keep;
}

/* 3x3 stride-1 convolutions with 64+ channels run as Winograd (same error bound as the
 * direct kernels); LOWP_WINOGRAD=0 keeps them direct; 16 channels stay direct. */
static void test_winograd(void)
{
    for (int kind = 0; kind < 3; kind++) {
        int64_t C = kind == 2 ? 16 : 64, M = kind == 2 ? 16 : 96;
        int64_t xd[4] = { 2, C, 14, 11 }, wd[4] = { M, C, 3, 3 }, p1[4] = { 1, 1, 1, 1 };
        gb *b = gb_new(13);
        int x = gb_input(b, 4, xd);
        int in[3] = { x, gb_const(b, 4, wd, 0.1f), gb_const(b, 1, &M, 0.1f) };
        int y = gb_op(b, "Conv", 3, in);
        attr_ints(b, "pads", 4, p1);
        gb_output(b, op1(b, "Relu", y));
        if (kind == 1)
            setenv("LOWP_WINOGRAD", "0", 1);
        check_graph(kind == 0 ? "winograd" : kind == 1 ? "winograd off" : "winograd, 16 channels", b, steps(1, 1));
        const lp_tensor *feed[1] = { b->feed[0] };
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile(b->g, feed, &p));
        unsetenv("LOWP_WINOGRAD");
        if (p) {
            char buf[256];
            bool wino = strstr(lp_plan_step_str(p, 0, buf, sizeof buf), "wino") != NULL;
            CHECK_MSG(wino == (kind == 0), "kind %d: step '%s'", kind, buf);
            lp_plan_free(p);
        }
        if (kind == 0) { /* two threads: the same bits on every run */
            lp_plan_options o2 = lp_plan_options_default();
            o2.threads = 2;
            lp_plan *p1 = NULL, *p2 = NULL;
            CHECK_OK(lp_plan_compile_opt(b->g, feed, &o2, &p1));
            CHECK_OK(lp_plan_compile_opt(b->g, feed, &o2, &p2));
            if (p1 && p2) {
                CHECK_OK(lp_plan_run(p1, feed, NULL, NULL));
                CHECK_OK(lp_plan_run(p2, feed, NULL, NULL));
                const lp_tensor *y1 = &p1->vals[p1->g->outputs[0]], *y2 = &p2->vals[p2->g->outputs[0]];
                CHECK(memcmp(y1->data, y2->data, (size_t)y1->nbytes) == 0);
            }
            lp_plan_free(p1);
            lp_plan_free(p2);
        }
        gb_free(b);
    }
}

static void test_layout_chain(void)
{
    gb *b = resnet_block(2);
    /* Conv+Relu, Conv+Add+Relu, MaxPool, Conv(dw)+Relu+Add, GAP, Flatten (reference), Gemm */
    check_graph("resnet block", b, steps(6, 7));
    /* taps see plain tensors equal to the reference's */
    const lp_tensor *in[1] = { b->feed[0] };
    lp_plan *pr = NULL, *pf = NULL;
    tap_rec rr = { 0 }, rf = { 0 };
    gb_compare_plans("resnet block, taps", b, TOL_F32, &(gb_compare_opt){ .ref_tap = record, .ref_tap_user = &rr, .ref = &pr },
                     &pf);
    if (pr && pf) {
        CHECK_OK(lp_plan_run(pf, in, record, &rf));
        int matched = 0;
        for (int i = 0; i < rf.n; i++)
            for (int j = 0; j < rr.n; j++)
                if (strcmp(pf->g->values[rf.value[i]].name, pr->g->values[rr.value[j]].name) == 0) {
                    double err = gb_norm_err(rf.t[i], rr.t[j]);
                    CHECK_MSG(err <= TOL_F32, "tap of %s: error %.3g", pf->g->values[rf.value[i]].name, err);
                    matched++;
                }
        /* a fused plan shows every node's value: it runs an unfused twin when tapped */
        CHECK_MSG(matched == pr->n_steps && pf->tap_plan, "%d taps matched, %d nodes", matched, pr->n_steps);
        CHECK(gb_norm_err(&pf->vals[pf->g->outputs[0]], &pr->vals[pr->g->outputs[0]]) <= TOL_F32);
        int priv = 0; /* the twin keeps private layouts too: its taps went through plain() */
        const lp_plan *tw = pf->tap_plan;
        for (int s = 0; tw && s < tw->n_steps; s++)
            if (tw->steps[s].kernel == &lp_kernel_dnnl) {
                int v = tw->g->nodes[tw->steps[s].node].out[0];
                priv += tw->steps[s].kernel->plain(tw->steps[s].state, v, &tw->vals[v]) != &tw->vals[v];
            }
        CHECK_MSG(priv >= 2, "only %d steps keep a private layout", priv);
    }
    for (int i = 0; i < rr.n; i++)
        lp_tensor_free(rr.t[i]);
    for (int i = 0; i < rf.n; i++)
        lp_tensor_free(rf.t[i]);
    /* fusion off: one step per node, taps see every value */
    lp_plan_options nf = lp_plan_options_default();
    nf.no_fuse = true;
    lp_plan *pn = NULL;
    CHECK_OK(lp_plan_compile_opt(b->g, in, &nf, &pn));
    if (pn && pr)
        CHECK(pn->n_steps == pr->n_steps);
    lp_plan_free(pn);
    lp_plan_free(pr);
    lp_plan_free(pf);
    gb_free(b);
}

/* ---- ConvTranspose ---- */

static void test_deconv_random(void)
{
    for (int t = 0; t < 20; t++) {
        gb *b = gb_new(13);
        int64_t group = rnd(0, 2) ? 1 : rnd(2, 3), C = group * rnd(1, 4), Mg = rnd(1, 5);
        int64_t xd[4] = { rnd(1, 2), C, rnd(2, 9), rnd(2, 9) }, wd[4] = { C, Mg, rnd(1, 4), rnd(1, 4) };
        int64_t s[2] = { rnd(1, 3), rnd(1, 3) }, d[2] = { rnd(1, 2), 1 }, p[4], op[2];
        for (int i = 0; i < 2; i++) {
            int64_t dk = (wd[2 + i] - 1) * d[i] + 1;
            p[i] = rnd(0, (int)(dk > 1 ? dk - 1 : 0));
            p[2 + i] = rnd(0, (int)(dk > 1 ? dk - 1 : 0));
            op[i] = s[i] > 1 ? rnd(0, (int)s[i] - 1) : 0;
            if (op[i] > p[2 + i]) /* oneDNN needs end padding >= output_padding */
                op[i] = p[2 + i];
            if (s[i] * (xd[2 + i] - 1) + op[i] + dk - p[i] - p[2 + i] < 1) /* no output: ONNX refuses it */
                p[i] = p[2 + i] = op[i] = 0;
        }
        int x = gb_input(b, 4, xd);
        int64_t M = Mg * group;
        int in[3] = { x, gb_const(b, 4, wd, 0.5f), gb_const(b, 1, &M, 0.5f) };
        int y = gb_op(b, "ConvTranspose", 3, in);
        attr_i(b, "group", group);
        attr_ints(b, "strides", 2, s);
        attr_ints(b, "dilations", 2, d);
        attr_ints(b, "pads", 4, p);
        attr_ints(b, "output_padding", 2, op);
        gb_output(b, op1(b, "Relu", y));
        char what[128];
        snprintf(what, sizeof what, "ConvTranspose C%lld M%lld g%lld k%lldx%lld s%lld,%lld d%lld p%lld,%lld,%lld,%lld op%lld,%lld",
                 (long long)C, (long long)M, (long long)group, (long long)wd[2], (long long)wd[3], (long long)s[0],
                 (long long)s[1], (long long)d[0], (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3],
                 (long long)op[0], (long long)op[1]);
        check_graph(what, b, steps(1, 1));
        gb_free(b);
    }
}

/* ---- Gemm / MatMul ---- */

static void test_gemm_random(void)
{
    for (int t = 0; t < 30; t++) {
        gb *b = gb_new(13);
        int64_t M = rnd(1, 33), K = rnd(1, 70), N = rnd(1, 40);
        int ta = rnd(0, 1), tb = rnd(0, 1), ckind = rnd(0, 6);
        int64_t ad[2] = { ta ? K : M, ta ? M : K }, bd[2] = { tb ? N : K, tb ? K : N };
        int a = gb_input(b, 2, ad);
        int bw = rnd(0, 4) ? gb_const(b, 2, bd, 0.5f) : gb_input(b, 2, bd);
        bool b_const = b->g->values[bw].kind == LP_VALUE_CONST;
        int c = -1;
        int64_t cdims[2][2] = { { N }, { 1, N } };
        switch (ckind) {
        case 1: c = gb_const(b, 1, cdims[0], 0.5f); break;
        case 2: c = gb_const(b, 2, cdims[1], 0.5f); break;
        case 3: { int64_t d2[2] = { M, N }; c = gb_const(b, 2, d2, 0.5f); break; }
        case 4: { int64_t d2[2] = { M, 1 }; c = gb_const(b, 2, d2, 0.5f); break; }
        case 5: c = gb_scalar(b, LOWP_FLOAT, 0.25f); break;
        case 6: { int64_t d2[2] = { M, N }; c = gb_input(b, 2, d2); break; }
        default: break;
        }
        int in[3] = { a, bw, c };
        int y = gb_op(b, "Gemm", c >= 0 ? 3 : 2, in);
        attr_i(b, "transA", ta);
        attr_i(b, "transB", tb);
        float alpha = b_const && rnd(0, 1) ? 0.7f : 1.f, beta = ckind != 6 && rnd(0, 1) ? 1.3f : 1.f;
        attr_f(b, "alpha", alpha);
        attr_f(b, "beta", beta);
        const char *act = "";
        if (rnd(0, 1))
            y = activation(b, rnd(0, N_ACT - 1), y, &act);
        gb_output(b, y);
        char what[128];
        snprintf(what, sizeof what, "Gemm M%lld K%lld N%lld tA%d tB%d C%d a%.1f b%.1f %s %s", (long long)M, (long long)K,
                 (long long)N, ta, tb, ckind, alpha, beta, b_const ? "" : "B runtime", act);
        check_graph(what, b, steps(1, 1));
        gb_free(b);
    }
}

static void test_matmul_random(void)
{
    static const int64_t shapes[][2][5] = {
        /* rank a, dims a..., | rank b, dims b... (encoded: [0] = rank) */
        { { 2, 7, 13 }, { 2, 13, 5 } },
        { { 3, 3, 9, 16 }, { 2, 16, 24 } },          /* (B,T,C) x (C,D): collapsed */
        { { 4, 2, 3, 5, 8 }, { 4, 2, 3, 8, 5 } },    /* batched */
        { { 4, 2, 1, 5, 8 }, { 4, 1, 3, 8, 6 } },    /* broadcast batch */
        { { 3, 4, 5, 6 }, { 2, 6, 7 } },
        { { 1, 9 }, { 2, 9, 4 } },                   /* 1-D a */
        { { 3, 2, 5, 9 }, { 1, 9 } },                /* 1-D b */
        { { 2, 1, 17 }, { 2, 17, 1 } },
    };
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++)
        for (int variant = 0; variant < 3; variant++) {
            gb *b = gb_new(13);
            int ra = (int)shapes[t][0][0], rb = (int)shapes[t][1][0];
            int a = gb_input(b, ra, shapes[t][0] + 1);
            int w = variant == 1 ? gb_input(b, rb, shapes[t][1] + 1) : gb_const(b, rb, shapes[t][1] + 1, 0.5f);
            int y = op2(b, "MatMul", a, w);
            const char *act = "";
            if (variant == 2) { /* Linear + GELU as a ViT MLP exports it */
                const lp_shape *ys = &b->g->values[w].shape;
                int64_t nb = ys->d[ys->ndim - 1];
                if (rb >= 2) {
                    y = op2(b, "Add", y, gb_const(b, 1, &nb, 0.5f));
                    y = activation(b, 7, y, &act);
                }
            }
            gb_output(b, y);
            char what[96];
            snprintf(what, sizeof what, "MatMul case %zu variant %d %s", t, variant, act);
            expect e = steps(1, 1);
            /* A dot product can cancel far below the terms it sums (a one-element output, case 7:
             * all of max|ref|), whose summation order the FP32 bound is about: 1e-5 of them,
             * absolute. K terms, |a| <= 1, |w| <= 1 as an input (variant 1) or 0.5 as a
             * constant, and the bias 0.5 (variant 2). */
            int64_t K = shapes[t][0][ra];
            e.atol = TOL_F32 * ((double)K * (variant == 1 ? 1.0 : 0.5) + (variant == 2 ? 0.5 : 0.0));
            if (*act) {
                /* GELU(z) = 0.5 z (1 + erf(z / sqrt 2)) cancels for z < 0 (erf near -1): oneDNN's
                 * erf approximation and libm's erff are each within about 2 ulps of 1 there
                 * (2^-23 absolute), so the two GELUs differ by up to 0.5 |z| 2^-22 however small
                 * GELU(z) is -- all of a one-element output (case 7) in the tail. |z| <= K
                 * |a| |w| + |bias| <= 0.5 K + 0.5 with the inputs in [-1, 1] and the weights and
                 * bias in [-0.5, 0.5]. */
                e.atol += 0.5 * (0.5 * (double)K + 0.5) * 0x1p-22;
            }
            check_graph(what, b, e);
            gb_free(b);
        }
}

/* ---- pooling, BN, LN, softmax ---- */

static void test_pool_random(void)
{
    static const char *const ops[] = { "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool" };
    for (int t = 0; t < 40; t++) {
        gb *b = gb_new(13);
        const char *op = ops[t % 4];
        int64_t xd[4] = { rnd(1, 3), rnd(1, 19), rnd(2, 17), rnd(2, 17) };
        int x = gb_input(b, 4, xd);
        int y = op1(b, op, x);
        char what[160];
        snprintf(what, sizeof what, "%s %lldx%lldx%lldx%lld", op, (long long)xd[0], (long long)xd[1], (long long)xd[2],
                 (long long)xd[3]);
        if (t % 4 < 2) {
            int64_t k[2], s[2], p[4], d[2] = { 1, 1 };
            bool is_max = t % 4 == 0;
            for (int i = 0; i < 2; i++) {
                k[i] = rnd(1, xd[2 + i] < 4 ? (int)xd[2 + i] : 4);
                s[i] = rnd(1, 3);
                if (is_max && rnd(0, 3) == 0 && (k[i] - 1) * 2 + 1 <= xd[2 + i])
                    d[i] = 2;
                int64_t dk = (k[i] - 1) * d[i] + 1;
                p[i] = rnd(0, (int)(dk - 1 < 2 ? dk - 1 : 2));
                p[2 + i] = rnd(0, (int)(dk - 1 < 2 ? dk - 1 : 2));
            }
            int ceil_mode = rnd(0, 2) == 0, cip = !is_max && rnd(0, 1);
            attr_ints(b, "kernel_shape", 2, k);
            attr_ints(b, "strides", 2, s);
            attr_ints(b, "pads", 4, p);
            if (is_max)
                attr_ints(b, "dilations", 2, d);
            attr_i(b, "ceil_mode", ceil_mode);
            if (!is_max)
                attr_i(b, "count_include_pad", cip);
            size_t l = strlen(what);
            snprintf(what + l, sizeof what - l, " k%lldx%lld s%lld,%lld p%lld,%lld,%lld,%lld d%lld,%lld ceil%d cip%d",
                     (long long)k[0], (long long)k[1], (long long)s[0], (long long)s[1], (long long)p[0],
                     (long long)p[1], (long long)p[2], (long long)p[3], (long long)d[0], (long long)d[1], ceil_mode, cip);
        }
        gb_output(b, y);
        /* a ceil_mode window that ONNX counts differently is left to the reference */
        lp_plan *pf = NULL;
        const lp_tensor *in[1] = { b->feed[0] };
        if (lp_plan_compile_opt(b->g, in, NULL, &pf) == LP_OK) {
            bool claimed = pf->steps[0].kernel == &lp_kernel_dnnl;
            lp_plan_free(pf);
            check_graph(what, b, claimed ? steps(1, 1) : steps(0, 1));
        } else {
            lp_plan *pr = NULL;
            lp_plan_options ro = lp_plan_options_default();
            ro.reference_only = true;
            CHECK_MSG(lp_plan_compile_opt(b->g, in, &ro, &pr) != LP_OK, "%s: only the fast plan fails", what);
            lp_plan_free(pr);
        }
        gb_free(b);
    }
}

static void test_norms(void)
{
    for (int t = 0; t < 6; t++) { /* BatchNormalization (not folded: its input is not a Conv) */
        gb *b = gb_new(13);
        int64_t C = rnd(1, 20), xd[4] = { rnd(1, 3), C, rnd(1, 9), rnd(1, 9) };
        int x = gb_input(b, t % 2 ? 2 : 4, xd);
        int var = gb_const(b, 1, &C, 0.5f);
        float *vd = b->g->values[var].init->data;
        for (int i = 0; i < C; i++)
            vd[i] = fabsf(vd[i]) + 0.1f;
        int in[5] = { x, gb_const(b, 1, &C, 1.f), gb_const(b, 1, &C, 1.f), gb_const(b, 1, &C, 1.f), var };
        gb_output(b, gb_op(b, "BatchNormalization", 5, in));
        attr_f(b, "epsilon", 1e-3f);
        check_graph("BatchNormalization", b, steps(1, 1));
        gb_free(b);
    }
    for (int t = 0; t < 6; t++) { /* LayerNormalization (opset 17) */
        gb *b = gb_new(17);
        int64_t xd[3] = { rnd(1, 3), rnd(1, 9), rnd(2, 40) };
        int axis = t % 3 == 2 ? 1 : -1;
        int x = gb_input(b, 3, xd);
        int64_t pd[2] = { xd[1], xd[2] };
        int np = axis == 1 ? 2 : 1;
        int in[3] = { x, gb_const(b, np, pd + (2 - np), 1.f), t % 2 ? gb_const(b, np, pd + (2 - np), 1.f) : -1 };
        gb_output(b, gb_op(b, "LayerNormalization", in[2] >= 0 ? 3 : 2, in));
        attr_i(b, "axis", axis);
        check_graph("LayerNormalization", b, steps(1, 1));
        gb_free(b);
    }
    for (int t = 0; t < 4; t++) { /* the decomposed LayerNorm PyTorch exports at opset 13 */
        gb *b = gb_new(13);
        int64_t xd[3] = { rnd(1, 3), rnd(1, 9), rnd(2, 40) }, ax = -1;
        int x = gb_input(b, 3, xd);
        int mean = op1(b, "ReduceMean", x);
        attr_ints(b, "axes", 1, &ax);
        int d = op2(b, "Sub", x, mean);
        int var = op1(b, "ReduceMean", t % 2 ? op2(b, "Mul", d, d) : op2(b, "Pow", d, gb_scalar(b, LOWP_FLOAT, 2.f)));
        attr_ints(b, "axes", 1, &ax);
        int y = op2(b, "Div", d, op1(b, "Sqrt", op2(b, "Add", var, gb_scalar(b, LOWP_FLOAT, 1e-5f))));
        if (t != 3)
            y = op2(b, "Mul", y, gb_const(b, 1, &xd[2], 1.f));
        if (t < 2)
            y = op2(b, "Add", y, gb_const(b, 1, &xd[2], 1.f));
        gb_output(b, y);
        check_graph("LayerNorm (decomposed)", b, steps(1, 1));
        gb_free(b);
    }
}

static void test_softmax(void)
{
    for (int t = 0; t < 12; t++) {
        bool old = t % 3 == 2;
        gb *b = gb_new(old ? 11 : 13);
        int64_t xd[4] = { rnd(1, 3), rnd(1, 7), rnd(1, 9), rnd(1, 30) };
        int x = gb_input(b, 4, xd);
        int y = op1(b, t % 2 ? "LogSoftmax" : "Softmax", x);
        int axis = t < 6 ? -1 : rnd(-4, 3);
        attr_i(b, "axis", axis);
        gb_output(b, y);
        char what[64];
        snprintf(what, sizeof what, "%s axis %d opset %d", t % 2 ? "LogSoftmax" : "Softmax", axis, old ? 11 : 13);
        /* oneDNN's fast softmax reduces over the innermost dim only */
        check_graph(what, b, old || axis == -1 || axis == 3 ? steps(1, 1) : maybe(1, 1));
        gb_free(b);
    }
}

/* ---- eltwise, binary, concat, GELU ---- */

static void test_eltwise(void)
{
    for (int act = 0; act < N_ACT_ALONE; act++) {
        gb *b = gb_new(13);
        int64_t xd[3] = { 3, 5, 7 };
        int x = gb_input(b, 3, xd);
        float *d = b->feed[0]->data;
        for (int i = 0; i < 105; i++)
            d[i] *= 8.f; /* cover the saturated ranges */
        const char *name;
        gb_output(b, activation(b, act, x, &name));
        check_graph(name, b, steps(1, 1));
        gb_free(b);
    }
}

static void test_binary(void)
{
    static const char *const ops[] = { "Add", "Sub", "Mul", "Div" };
    static const int64_t bshapes[][5] = { { 4, 2, 3, 4, 5 }, { 1, 5 }, { 3, 3, 1, 5 }, { 4, 1, 3, 1, 1 }, { 0 }, { 2, 4, 1 } };
    for (int t = 0; t < 24; t++) {
        gb *b = gb_new(13);
        int64_t xd[4] = { 2, 3, 4, 5 };
        const int64_t *bs = bshapes[t % 6];
        int x = gb_input(b, 4, xd);
        int y = t % 3 == 0 ? gb_const(b, (int)bs[0], bs + 1, 1.f) : gb_input(b, (int)bs[0], bs + 1);
        if (strcmp(ops[t % 4], "Div") == 0 && b->g->values[y].kind == LP_VALUE_CONST) {
            float *d = b->g->values[y].init->data;
            for (int64_t i = 0; i < lp_tensor_numel(b->g->values[y].init); i++)
                d[i] = d[i] < 0 ? d[i] - 0.5f : d[i] + 0.5f;
        } else if (strcmp(ops[t % 4], "Div") == 0) {
            float *d = b->feed[1]->data;
            for (int64_t i = 0; i < lp_tensor_numel(b->feed[1]); i++)
                d[i] = d[i] < 0 ? d[i] - 0.5f : d[i] + 0.5f;
        }
        bool swap = (t % 4 == 0 || t % 4 == 2) && t % 8 < 4; /* commutative ops with the small operand first */
        int r = swap ? op2(b, ops[t % 4], y, x) : op2(b, ops[t % 4], x, y);
        if (t % 5 == 0)
            r = op1(b, "Relu", r);
        gb_output(b, r);
        char what[64];
        snprintf(what, sizeof what, "%s rank-%lld operand%s", ops[t % 4], (long long)bs[0], swap ? " (first)" : "");
        /* fast broadcasts: a scalar, per channel, per last dim, the whole tensor; the others
           on lowp's own kernel, which takes no post-ops (the Relu is a step of its own) */
        bool fast = t % 6 != 2 && t % 6 != 5;
        check_graph(what, b, fast ? steps(1, 1) : steps(t % 5 == 0 ? 2 : 1, t % 5 == 0 ? 2 : 1));
        gb_free(b);
    }
}

/* ---- Resize / Upsample ---- */

/* Generated: every mode, coordinate_transformation_mode, nearest_mode, cubic coefficient,
 * exclude_outside, scales or sizes, up and down, rank 3 and 4, opsets 10-13 and Upsample 7/9;
 * fed from the graph input (plain) or between convolutions (which keep blocked or
 * channels-last layouts through it). Error bound: nearest copies (exact); linear and cubic
 * sum in float with float weights where the reference sums the products wh * ww in double:
 * each output sums at most 4 row taps of 4 column taps, so about 10 roundings (2^-24 each) of
 * terms whose absolute weights sum to at most 1.6 (cubic, a = -0.75), i.e. under 1e-6 of
 * max|x| -- checked at 4e-6 alone and at TOL_F32 with the convolutions around it. */
static void test_resize_random(void)
{
    static const char *const modes[] = { "nearest", "linear", "cubic" };
    static const char *const coords[] = { "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                          "tf_half_pixel_for_nn", "tf_crop_and_resize" };
    static const char *const rounds[] = { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" };
    static const float scale_set[] = { 0.5f, 0.6f, 1.f, 1.5f, 2.f, 3.f };
    int claimed = 0, cases = 0;
    for (int t = 0; t < 160; t++) {
        gb *b = gb_new(t % 8 == 7 ? 10 : t % 8 == 6 ? 11 : 13);
        int64_t opset = b->g->opsets[0].version;
        bool upsample = t % 16 == 5 || t % 16 == 13; /* Upsample-9 (13) or Upsample-7 (5) */
        if (upsample)
            b->g->opsets[0].version = opset = t % 16 == 5 ? 7 : 9;
        int r = rnd(3, 4), mode = rnd(0, opset >= 11 ? 2 : 1), coord = opset >= 11 ? rnd(0, 5) : 3,
            round = rnd(0, 3);
        bool conv = t % 2 == 1, use_sizes = opset >= 11 && rnd(0, 2) == 0, exclude = rnd(0, 1);
        int64_t xd[4] = { rnd(1, 2), conv ? rnd(3, 20) : rnd(1, 5), rnd(1, 9), rnd(1, 9) };
        if (r == 3)
            xd[2] = rnd(1, 13);
        else if (conv && t % 4 == 3)
            xd[1] = 64; /* a Winograd conv: its output is channel-blocked (nChw16c) */
        int x = gb_input(b, r, xd);
        if (conv) { /* 3x3, same size */
            int64_t wd[4] = { xd[1], xd[1], 3, 3 }, p[4] = { 1, 1, 1, 1 };
            wd[1] = xd[1];
            int in[2] = { x, gb_const(b, r, wd, 0.3f) };
            x = gb_op(b, "Conv", 2, in);
            attr_ints(b, "pads", 2 * (r - 2), p);
        }
        float scales[4] = { 1, 1, 1, 1 }, crop[8] = { 0, 0, 0, 0, 1, 1, 1, 1 };
        int64_t sizes[4] = { xd[0], xd[1], 1, 1 };
        for (int k = 2; k < r; k++) {
            scales[k] = scale_set[rnd(0, 5)];
            sizes[k] = rnd(1, (int)(2 * xd[k] + 1));
            if (coord == 5) { /* crop the spatial axes to [-0.4..0.4, 0.6..1.4], batch and channels whole */
                crop[k] = 0.4f * rndf();
                crop[k + 4] = 1.f + 0.4f * rndf();
            }
        }
        int sv = -1, zv = -1, roi = -1;
        for (int k = 2; k < r; k++) /* no empty outputs: out = floor(in * (roi end - start) * scale) */
            for (int up = 0; !use_sizes && floor(xd[k] * ((double)crop[k + 4] - crop[k]) * scales[k]) < 1; up++)
                scales[k] = up ? 2 * scales[k] : 3.f;
        if (use_sizes) {
            zv = gb_ints(b, r, sizes);
        } else {
            int64_t n = r;
            sv = gb_value(b, "sc");
            lp_tensor *ts;
            lp_tensor_new(LOWP_FLOAT, 1, &n, &ts);
            memcpy(ts->data, scales, (size_t)r * sizeof *scales);
            lp_graph_set_const(b->g, sv, ts);
        }
        if (coord == 5) { /* crop the spatial axes, keep batch and channels whole */
            int64_t n = 2 * r;
            roi = gb_value(b, "roi");
            lp_tensor *tr;
            lp_tensor_new(LOWP_FLOAT, 1, &n, &tr);
            float *d = tr->data;
            for (int k = 0; k < r; k++) {
                d[k] = crop[k];
                d[k + r] = crop[k + 4];
            }
            lp_graph_set_const(b->g, roi, tr);
        }
        int y;
        if (upsample && opset == 7) {
            y = op1(b, "Upsample", x);
            attr_floats(b, "scales", r, scales);
        } else if (upsample || opset == 10) {
            y = op2(b, upsample ? "Upsample" : "Resize", x, sv);
        } else {
            int in[4] = { x, roi, sv, zv };
            y = gb_op(b, "Resize", 4, in);
        }
        attr_s(b, "mode", modes[mode]);
        if (opset >= 11) {
            attr_s(b, "coordinate_transformation_mode", coords[coord]);
            attr_s(b, "nearest_mode", rounds[round]);
            attr_f(b, "cubic_coeff_a", rnd(0, 1) ? -0.75f : -0.5f);
            attr_i(b, "exclude_outside", exclude);
            attr_f(b, "extrapolation_value", rndf());
        }
        int64_t yd[4];
        for (int k = 2; k < r; k++)
            yd[k] = use_sizes ? sizes[k] : (int64_t)floor(xd[k] * ((double)crop[k + 4] - crop[k]) * scales[k]);
        char dims[64];
        if (r == 4)
            snprintf(dims, sizeof dims, "%lldx%lld -> %lldx%lld", (long long)xd[2], (long long)xd[3], (long long)yd[2],
                     (long long)yd[3]);
        else
            snprintf(dims, sizeof dims, "%lld -> %lld", (long long)xd[2], (long long)yd[2]);
        if (conv) { /* a 1x1 convolution reads it */
            int64_t wd[4] = { 2, xd[1], 1, 1 };
            int in[2] = { y, gb_const(b, r, wd, 0.5f) };
            y = gb_op(b, "Conv", 2, in);
        }
        gb_output(b, y);
        char what[200];
        snprintf(what, sizeof what, "%s-%lld r%d %s %s %s %s%s (N%lld C%lld %s%s)", upsample ? "Upsample" : "Resize",
                 (long long)opset, r, modes[mode], opset >= 11 ? coords[coord] : "asymmetric",
                 mode == 0 ? rounds[round] : "", use_sizes ? "sizes" : "scales", conv ? " between convs" : "",
                 (long long)xd[0], (long long)xd[1], dims, exclude && mode == 2 ? ", exclude_outside" : "");
        /* The fast kernel takes batch and channel axes that map one to one (one tap of weight 1
         * at o). Unscaled, every coordinate mode maps o to o but tf_half_pixel_for_nn, which maps
         * it to o + 0.5: nearest rounding down keeps o; rounding up, linear (0.5 each of o, o+1)
         * and cubic (4 taps) do not -- unless the axis has one element, where nearest clamps
         * back to it and cubic with exclude_outside keeps its one inside tap (w / w = 1); linear's
         * two taps, both clamped to 0, stay two. */
        bool claim = true;
        for (int k = 0; k < 2 && coord == 4 && opset >= 11; k++)
            claim &= mode == 0 ? round == 0 || round == 2 || xd[k] == 1 : mode == 2 && exclude && xd[k] == 1;
        expect e = conv ? steps(claim ? 3 : 2, 3) : steps(claim ? 1 : 0, 1);
        e.tol = conv ? TOL_F32 : 4e-6;
        check_graph(what, b, e);
        cases++;
        claimed += claim;
        gb_free(b);
    }
    CHECK_MSG(claimed > cases / 2, "only %d of %d cases on the fast kernel", claimed, cases);
}

/* ---- Slice, Pad ---- */

/* Generated Slices (random starts/ends beyond the dims and negative, steps 1-3, some axes,
 * opset 9 attributes or 13 inputs) and constant Pads (zero or non-zero fill, opset 2
 * attributes or 11 inputs), alone (plain) or between convolutions (blocked nChw16c from a
 * Winograd conv, channels-last from brgconv). A reversed Slice, a cropping Pad and reflect/edge
 * stay on the reference kernels. Data moves: exact alone; TOL_F32 with the convs around. */
static void test_slice_pad_random(void)
{
    for (int t = 0; t < 96; t++) {
        bool pad = t % 2, conv = t % 3 == 1;
        int opset = t % 4 < 2 ? 13 : pad ? 2 : 9;
        gb *b = gb_new(opset);
        int r = conv ? 4 : rnd(1, 5);
        int64_t xd[5];
        for (int k = 0; k < r; k++)
            xd[k] = rnd(1, 7);
        if (conv) {
            xd[0] = 1;
            xd[1] = t % 4 == 1 ? 64 : rnd(3, 20);
        }
        int x = gb_input(b, r, xd);
        if (conv) {
            int64_t wd[4] = { xd[1], xd[1], 3, 3 }, p[4] = { 1, 1, 1, 1 };
            int in[2] = { x, gb_const(b, 4, wd, 0.3f) };
            x = gb_op(b, "Conv", 2, in);
            attr_ints(b, "pads", 4, p);
        }
        bool claim = true;
        int y;
        char what[400];
        int64_t out_c = conv ? xd[1] : 0; /* channels after the Slice or Pad */
        if (!pad) {
            int n = rnd(1, r);
            int64_t st[5], en[5], ax[5], sp[5];
            for (int i = 0; i < n; i++) {
                int a = r - 1 - i;
                ax[i] = a - (rnd(0, 1) ? r : 0); /* distinct, some negative */
                int64_t d = xd[a], s0 = rnd(0, (int)d - 1), l = rnd(1, (int)(d - s0));
                sp[i] = opset < 10 ? 1 : rnd(0, 5) == 0 ? -1 : rnd(1, 3);
                if (sp[i] < 0) { /* reversed: from s0 + l - 1 down to s0 */
                    st[i] = s0 + l - 1;
                    en[i] = s0 - 1 < 0 ? -(int64_t)d - 1 : s0 - 1;
                } else {
                    st[i] = rnd(0, 1) ? s0 : s0 - d; /* negative counts from the end */
                    en[i] = s0 + l == d && rnd(0, 1) ? INT64_MAX : rnd(0, 1) && s0 + l < d ? s0 + l - d : s0 + l;
                }
                claim &= sp[i] > 0;
                if (a == 1 && conv)
                    out_c = (l + (sp[i] > 0 ? sp[i] : 1) - 1) / (sp[i] > 0 ? sp[i] : 1);
            }
            if (opset >= 10) {
                int in[5] = { x, gb_ints(b, n, st), gb_ints(b, n, en), gb_ints(b, n, ax), gb_ints(b, n, sp) };
                y = gb_op(b, "Slice", 5, in);
            } else {
                y = op1(b, "Slice", x);
                attr_ints(b, "starts", n, st);
                attr_ints(b, "ends", n, en);
                attr_ints(b, "axes", n, ax);
            }
            int w = snprintf(what, sizeof what, "Slice-%d rank %d, %d axes%s:", opset, r, n, conv ? " between convs" : "");
            for (int i = 0; i < n && w < (int)sizeof what; i++)
                w += snprintf(what + w, sizeof what - (size_t)w, " [%lld,%lld) by %lld on %lld of %lld", (long long)st[i],
                              (long long)en[i], (long long)sp[i], (long long)ax[i], (long long)xd[r - 1 - i]);
        } else {
            int64_t pads[10];
            for (int k = 0; k < 2 * r; k++)
                pads[k] = rnd(0, 5) == 0 ? -1 : rnd(0, 3);
            if (conv)
                pads[1] = pads[1 + r] = 0;
            float fill = rnd(0, 1) ? 0.f : 0.5f;
            int mode = rnd(0, 4) == 0 ? rnd(1, 2) : 0;
            for (int k = 0; k < r; k++) /* no empty outputs */
                if (xd[k] + pads[k] + pads[k + r] < 1)
                    pads[k] = pads[k + r] = 0;
            claim = true; /* constant ones by oneDNN, reflect, edge and crops by lowp's own kernel */
            if (opset >= 11) {
                int64_t n = 2 * r;
                int in[3] = { x, gb_ints(b, n, pads), gb_scalar(b, LOWP_FLOAT, fill) };
                y = gb_op(b, "Pad", 3, in);
            } else {
                y = op1(b, "Pad", x);
                attr_ints(b, "pads", 2 * r, pads);
                attr_f(b, "value", fill);
            }
            static const char *const modes[] = { "constant", "reflect", "edge" };
            attr_s(b, "mode", modes[mode]);
            snprintf(what, sizeof what, "Pad-%d rank %d %s fill %g%s", opset, r, modes[mode], fill,
                     conv ? " between convs" : "");
        }
        if (conv) { /* a 1x1 convolution reads it */
            int64_t wd[4] = { 2, out_c, 1, 1 };
            int in[2] = { y, gb_const(b, 4, wd, 0.5f) };
            y = gb_op(b, "Conv", 2, in);
        }
        gb_output(b, y);
        expect e = conv ? steps(claim ? 3 : 2, 3) : steps(claim ? 1 : 0, 1);
        e.tol = conv ? TOL_F32 : 1e-30;
        /* Between convolutions a small cut (one channel of a 1x1 window) can leave an output
         * far below the sums it came from (the 3x3 convolution's: |x| <= 1, |w| <= 0.3, 9 C
         * terms; the 1x1's: out_c terms, |w| <= 0.5), whose summation order the FP32 bound
         * is about: 1e-5 of those, absolute. */
        if (conv)
            e.atol = TOL_F32 * 0.5 * (double)out_c * 9 * (double)xd[1] * 0.3;
        check_graph(what, b, e);
        gb_free(b);
    }
}

/* Stepped Slices that oneDNN takes as no strided view (an axis's len * step runs past the next
 * axis's stride: odd dims stepped by 2 or 3), alone and between convolutions: they copy their
 * window into a padded buffer first ("window padded"), still on oneDNN and exact. */
static void test_slice_stepped(void)
{
    static const struct {
        int r, n;
        int64_t dims[4], starts[4], ends[4], axes[4], steps[4];
        bool conv;
    } cases[] = {
        { 2, 1, { 3, 5 }, { 0 }, { 4 }, { 1 }, { 3 }, false },
        { 3, 2, { 2, 3, 5 }, { 0, 1 }, { 3, 5 }, { 1, 2 }, { 2, 3 }, false },
        { 4, 2, { 2, 3, 7, 5 }, { 0, -2 }, { INT64_MAX, 2 }, { -1, 0 }, { 2, 2 }, false },
        { 4, 2, { 1, 5, 7, 9 }, { 1, 0 }, { 7, 9 }, { 2, 3 }, { 1, 2 }, true },
        { 4, 1, { 1, 64, 5, 5 }, { 0 }, { 5 }, { 3 }, { 3 }, true }, /* blocked, from a Winograd conv */
    };
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        gb *b = gb_new(13);
        int r = cases[t].r;
        int x = gb_input(b, r, cases[t].dims);
        if (cases[t].conv) {
            int64_t wd[4] = { cases[t].dims[1], cases[t].dims[1], 3, 3 }, p[4] = { 1, 1, 1, 1 };
            int in[2] = { x, gb_const(b, 4, wd, 0.3f) };
            x = gb_op(b, "Conv", 2, in);
            attr_ints(b, "pads", 4, p);
        }
        int n = cases[t].n;
        int in[5] = { x, gb_ints(b, n, cases[t].starts), gb_ints(b, n, cases[t].ends), gb_ints(b, n, cases[t].axes),
                      gb_ints(b, n, cases[t].steps) };
        int y = gb_op(b, "Slice", 5, in);
        if (cases[t].conv) { /* a 1x1 convolution reads it */
            int64_t wd[4] = { 2, cases[t].dims[1], 1, 1 };
            int in2[2] = { y, gb_const(b, 4, wd, 0.5f) };
            y = gb_op(b, "Conv", 2, in2);
        }
        gb_output(b, y);
        char what[64];
        snprintf(what, sizeof what, "stepped Slice %zu%s", t, cases[t].conv ? " between convs" : "");
        expect e = cases[t].conv ? steps(3, 3) : steps(1, 1);
        e.tol = cases[t].conv ? TOL_F32 : 1e-30;
        check_graph(what, b, e);
        lp_plan *p = NULL;
        const lp_tensor *feed[1] = { b->feed[0] };
        CHECK_OK(lp_plan_compile(b->g, feed, &p));
        char buf[256] = "";
        for (int s = 0; p && s < p->n_steps; s++)
            if (strstr(lp_plan_step_str(p, s, buf, sizeof buf), "Slice"))
                break;
        CHECK_MSG(strstr(buf, "window padded"), "%s: %s", what, buf);
        lp_plan_free(p);
        gb_free(b);
    }
}

/* A 1-D convolution of one channel with a large stride (an STFT as Conv), directly and as
 * im2col + matmul (LOWP_CONV_FRAMES=1): odd lengths, kernels not a multiple of the stride,
 * with and without bias. */
static void test_conv1d_strided(void)
{
    for (int t = 0; t < 8; t++) {
        bool frames = t % 2;
        if (frames)
            setenv("LOWP_CONV_FRAMES", "1", 1);
        gb *b = gb_new(13);
        int64_t s = rnd(8, 40), k = s * rnd(1, 4) + rnd(0, (int)s - 1), L = k + s * rnd(3, 30) + rnd(0, 7);
        int64_t xd[3] = { 1, 1, L }, wd[3] = { rnd(3, 40), 1, k }, bd = wd[0];
        int x = gb_input(b, 3, xd);
        int in[3] = { x, gb_const(b, 3, wd, 0.3f), gb_const(b, 1, &bd, 0.3f) };
        int y = gb_op(b, "Conv", t % 4 < 2 ? 3 : 2, in);
        attr_ints(b, "strides", 1, &s);
        gb_output(b, y);
        char what[96];
        snprintf(what, sizeof what, "Conv1d k%lld s%lld L%lld O%lld%s", (long long)k, (long long)s, (long long)L,
                 (long long)wd[0], frames ? " as frames x matmul" : "");
        check_graph(what, b, steps(1, 1));
        if (frames) { /* it was that formulation */
            lp_plan *p = NULL;
            const lp_tensor *ins[1] = { b->feed[0] };
            CHECK_OK(lp_plan_compile(b->g, ins, &p));
            char buf[256];
            CHECK_MSG(p && strstr(lp_plan_step_str(p, 0, buf, sizeof buf), "brg") && !strstr(buf, "conv"), "%s: %s",
                      what, p ? buf : "no plan");
            lp_plan_free(p);
        }
        unsetenv("LOWP_CONV_FRAMES");
        gb_free(b);
    }
}

/* Sub(c, x) with x the full-shaped operand: oneDNN computes x - c and negates it (exact, IEEE
 * subtraction being antisymmetric), standalone and as post-ops after a convolution. */
static void test_sub_swapped(void)
{
    static const int64_t cshapes[][5] = { { 4, 1, 3, 1, 1 }, { 1, 5 }, { 0 }, { 4, 2, 3, 4, 5 } };
    for (int t = 0; t < 8; t++) {
        gb *b = gb_new(13);
        int64_t xd[4] = { 2, 3, 4, 5 };
        const int64_t *cs = cshapes[t % 4];
        int x = gb_input(b, 4, xd);
        if (t >= 4) { /* after a 3x3 convolution, padded to keep the shape */
            int64_t wd[4] = { 3, 3, 3, 3 }, p[4] = { 1, 1, 1, 1 };
            int in[2] = { x, gb_const(b, 4, wd, 0.3f) };
            x = gb_op(b, "Conv", 2, in);
            attr_ints(b, "pads", 4, p);
        }
        int c = t % 4 == 3 ? gb_input(b, (int)cs[0], cs + 1) : gb_const(b, (int)cs[0], cs + 1, 1.f);
        int y = op1(b, "Relu", op2(b, "Sub", c, x));
        gb_output(b, y);
        char what[64];
        snprintf(what, sizeof what, "Sub(c rank %lld, x)%s", (long long)cs[0], t >= 4 ? " after Conv" : "");
        /* a scalar c alone is an eltwise (no post-ops: Relu is a step of its own); a per-last-dim
         * c is no fast post-op of a convolution (one per channel is) */
        expect e = t == 2 || t == 5 ? steps(2, 2) : steps(1, 1);
        /* After the convolution, c - y cancels and ReLU keeps only where y < c: max|ref| can be
         * far below the values it was computed from (|y| <= 27 * 1 * 0.3, |c| <= 1), whose
         * summation order the FP32 bound is about: 1e-5 of those, absolute. */
        if (t >= 4)
            e.atol = TOL_F32 * (27 * 0.3 + 1);
        check_graph(what, b, e);
        gb_free(b);
    }
}

static void test_concat(void)
{
    for (int t = 0; t < 8; t++) {
        gb *b = gb_new(13);
        int n = rnd(2, 4), axis = rnd(0, 3);
        int in[4];
        for (int i = 0; i < n; i++) {
            int64_t xd[4] = { 2, 3, 4, 5 };
            xd[axis] = rnd(1, 6);
            in[i] = i == 1 && t % 2 ? gb_const(b, 4, xd, 1.f) : gb_input(b, 4, xd);
        }
        gb_output(b, gb_op(b, "Concat", n, in));
        attr_i(b, "axis", axis - (t % 3 == 0 ? 4 : 0));
        check_graph("Concat", b, steps(1, 1));
        gb_free(b);
    }
}

/* Transpose runs as one oneDNN reorder into the output with permuted strides: random ranks
 * 2-5, random permutations (and the default reversal), odd sizes; a data move, so exact. */
static void test_transpose(void)
{
    for (int t = 0; t < 16; t++) {
        gb *b = gb_new(13);
        int r = rnd(2, 5);
        int64_t xd[5], perm[5];
        for (int i = 0; i < r; i++) {
            xd[i] = rnd(1, 7);
            perm[i] = i;
        }
        for (int i = r - 1; i > 0; i--) { /* Fisher-Yates with the test's generator */
            int j = rnd(0, i);
            int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        int x = gb_input(b, r, xd);
        int y = op1(b, "Transpose", x);
        if (t % 4)
            attr_ints(b, "perm", r, perm);
        gb_output(b, y);
        char what[64];
        snprintf(what, sizeof what, "Transpose rank %d", r);
        check_graph(what, b, steps(1, 1));
        gb_free(b);
    }
}

/* ---- BF16, threads, dynamic shapes ---- */

/* f rounded to the nearest BF16 (ties to even; the test's data are finite). */
static float bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Rounds b's fed inputs and float constants to BF16 values, in place. */
static void gb_round_bf16(gb *b)
{
    for (int i = 0; i < b->n_feed; i++)
        for (int64_t k = 0; k < lp_tensor_numel(b->feed[i]); k++)
            ((float *)b->feed[i]->data)[k] = bf16_round(((float *)b->feed[i]->data)[k]);
    for (int v = 0; v < b->g->n_values; v++) {
        lp_tensor *t = b->g->values[v].init;
        if (t && t->dtype == LOWP_FLOAT)
            for (int64_t k = 0; k < lp_tensor_numel(t); k++)
                ((float *)t->data)[k] = bf16_round(((float *)t->data)[k]);
    }
}

/* Conv or MatMul (+ ReLU) in BF16 on data that are BF16 values already: converting them is
 * exact, their products are exact in FP32 (8 x 8 significant bits) and accumulate in FP32, so
 * the result differs from the FP32 reference by the summation order (TOL_F32) and its own
 * rounding to BF16 where the step stores it so (2^-9 of a value, round to nearest). Data
 * not in BF16 would add the inputs' rounding: about 2^-9 sqrt(K) of a typical product, a
 * statistical bound that small outputs (a few values of a one-channel convolution) overrun. */
static void test_bf16(void)
{
    bool hw = lp_dnnl_bf16_supported();
    printf("  bf16 instructions: %s\n", hw ? "yes" : "no (plans fall back to FP32)");
    const double tol = hw ? 0x1p-9 + TOL_F32 : TOL_F32;
    for (int t = 0; t < 8; t++) {
        gb *b = gb_new(13);
        int64_t xd[4] = { 2, rnd(3, 32), rnd(5, 15), rnd(5, 15) }, ad[3] = { 2, 9, 48 }, wd[2] = { 48, 33 };
        char desc[160];
        if (t % 2) {
            int x = gb_input(b, 3, ad);
            gb_output(b, op1(b, "Relu", op2(b, "MatMul", x, gb_const(b, 2, wd, 0.3f))));
            snprintf(desc, sizeof desc, "bf16 MatMul");
        } else {
            int x = gb_input(b, 4, xd);
            int64_t yd[5];
            char cd[120];
            int y = random_conv(b, x, 2, xd, yd, cd, sizeof cd);
            gb_output(b, op1(b, "Relu", y));
            snprintf(desc, sizeof desc, "bf16 %s", cd);
        }
        gb_round_bf16(b);
        check_graph(desc, b, (expect){ .dnnl_steps = 1, .total_steps = 1, .precision = LOWP_BFLOAT16, .tol = tol });
        if (hw) { /* and it did run in BF16: the primitive's weights are BF16 */
            lp_plan_options o = lp_plan_options_default();
            o.precision = LOWP_BFLOAT16;
            lp_plan *p = NULL;
            const lp_tensor *feed[1] = { b->feed[0] };
            CHECK_OK(lp_plan_compile_opt(b->g, feed, &o, &p));
            const dn_step *st = p && p->n_steps == 1 && p->steps[0].kernel == &lp_kernel_dnnl ? p->steps[0].state : NULL;
            const_dnnl_primitive_desc_t pd = NULL;
            const dnnl_memory_desc_t *wmd = NULL;
            for (int k = 0; st && k < st->n_exec && !(wmd && wmd->ndims); k++)
                if (dnnl_primitive_get_primitive_desc(st->exec[k].prim, &pd) == dnnl_success)
                    wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            CHECK_MSG(wmd && wmd->data_type == dnnl_bf16, "%s: weights not in BF16", desc);
            lp_plan_free(p);
        }
        /* the per-node seam: the attribute overrides an FP32 plan */
        lp_attr a = { .name = LP_ATTR_PRECISION, .type = LP_ATTR_STRING, .s = "bf16", .s_len = 4 };
        lp_node_add_attr(&b->g->nodes[0], &a);
        strcat(desc, " (node attribute)");
        check_graph(desc, b, (expect){ .dnnl_steps = 1, .total_steps = 1, .tol = tol });
        gb_free(b);
    }
}

/* A whole BF16 plan keeps activations in BF16 between oneDNN steps that all run in BF16
 * (convolution outputs, the residual summed in place, max pooling); the results stay within
 * the BF16 bound. */
static void test_bf16_chain(void)
{
    bool hw = lp_dnnl_bf16_supported();
    gb *b = resnet_block(2);
    check_graph("bf16 resnet block", b, (expect){ .dnnl_steps = 6, .total_steps = 7, .precision = LOWP_BFLOAT16,
                                                  .tol = hw ? TOL_BF16 : TOL_F32 });
    const lp_tensor *in[1] = { b->feed[0] };
    lp_plan_options o = lp_plan_options_default();
    o.precision = LOWP_BFLOAT16;
    lp_plan *p = NULL;
    CHECK_OK(lp_plan_compile_opt(b->g, in, &o, &p));
    if (p && hw) {
        int n_bf16 = 0;
        for (int s = 0; s < p->n_steps; s++)
            if (p->steps[s].kernel == &lp_kernel_dnnl)
                n_bf16 += ((const dn_step *)p->steps[s].state)->out_md.data_type == dnnl_bf16;
        /* Conv+Relu, Conv+Add+Relu, MaxPool and the depthwise Conv feed BF16 oneDNN steps;
         * GlobalAveragePool feeds Flatten (a view) and stores plain float */
        CHECK_MSG(n_bf16 == 4, "%d steps store BF16, expected 4", n_bf16);
    }
    lp_plan_free(p);
    gb_free(b);
}

static void test_threads(void)
{
    gb *b = resnet_block(5);
    const lp_tensor *in[1] = { b->feed[0] };
    lp_plan_options o2 = lp_plan_options_default();
    o2.threads = 2;
    lp_plan *p1 = NULL, *p2 = NULL;
    CHECK_OK(lp_plan_compile_opt(b->g, in, NULL, &p1));
    CHECK_OK(lp_plan_compile_opt(b->g, in, &o2, &p2));
    if (p1 && p2) {
        CHECK_OK(lp_plan_run(p1, in, NULL, NULL));
        CHECK_OK(lp_plan_run(p2, in, NULL, NULL));
        const lp_tensor *y1 = &p1->vals[p1->g->outputs[0]], *y2 = &p2->vals[p2->g->outputs[0]];
        lp_tensor *first;
        lp_tensor_clone(y2, &first);
        CHECK(gb_norm_err(y2, y1) <= TOL_F32);
        for (int i = 0; i < 3; i++) { /* same thread count: the same bytes */
            CHECK_OK(lp_plan_run(p2, in, NULL, NULL));
            CHECK(memcmp(first->data, y2->data, y2->nbytes) == 0);
        }
        lp_tensor_free(first);
    }
    lp_plan_free(p1);
    lp_plan_free(p2);
    gb_free(b);
}

/* Compiles b with 2 threads: it must run split into per-thread chunk plans exactly when
 * `want_split` (engine/split.c), and in every case agree with the reference kernels, give the
 * same bytes run after run, and survive a tapped (whole) run in between. */
static void split_case(const char *what, gb *b, bool want_split)
{
    const lp_tensor *in[GB_MAX_FEED];
    for (int i = 0; i < b->n_feed; i++)
        in[i] = b->feed[i];
    lp_plan_options o2 = lp_plan_options_default();
    o2.threads = 2;
    lp_plan *pr = NULL, *p2 = NULL;
    gb_compare_plans(what, b, TOL_F32, &(gb_compare_opt){ .fast = &o2, .ref = &pr }, &p2);
    if (!pr || !p2) {
        lp_plan_free(pr);
        lp_plan_free(p2);
        return;
    }
    CHECK_MSG((p2->split != NULL) == want_split, "%s: split %d, expected %d", what, p2->split != NULL, want_split);
    const lp_tensor *yr = &pr->vals[pr->g->outputs[0]], *y2 = &p2->vals[p2->g->outputs[0]];
    lp_tensor *first = NULL;
    CHECK_OK(lp_tensor_clone(y2, &first));
    tap_rec rec = { 0 };
    CHECK_OK(lp_plan_run(p2, in, record, &rec)); /* whole: the taps see every value */
    CHECK(rec.n > 0);
    y2 = &p2->vals[p2->g->outputs[0]];
    CHECK_MSG(gb_norm_err(y2, yr) <= TOL_F32, "%s: tapped run, error %g", what, gb_norm_err(y2, yr));
    for (int i = 0; i < rec.n; i++)
        lp_tensor_free(rec.t[i]);
    for (int r = 0; r < 3 && first; r++) { /* same plan, same thread count: the same bytes */
        CHECK_OK(lp_plan_run(p2, in, NULL, NULL));
        y2 = &p2->vals[p2->g->outputs[0]];
        CHECK_MSG(y2->nbytes == first->nbytes && memcmp(y2->data, first->data, first->nbytes) == 0, "%s: run %d", what, r);
    }
    lp_tensor_free(first);
    lp_plan_free(pr);
    lp_plan_free(p2);
}

/* Batch split: batch-local graphs at several batch sizes run as chunks; graphs whose samples
 * mix (each case one op that reads across the batch, where the shapes alone would not tell)
 * run whole and stay right. */
static void test_batch_split(void)
{
    static const int batches[] = { 2, 3, 4, 6, 16 };
    for (size_t i = 0; i < sizeof batches / sizeof *batches; i++) {
        gb *b = resnet_block(batches[i]);
        split_case("resnet block", b, true);
        gb_free(b);
    }
    int B = 2 * rnd(1, 3); /* even: the Reshape to (2, -1) below needs B * B even */
    { /* attention-like: MatMul by weights, batched MatMul, Softmax(-1), Transpose(0,2,1), ReduceMean(-1) */
        gb *b = gb_new(13);
        int64_t xd[3] = { B, 8, 16 }, wd[2] = { 16, 16 }, perm[3] = { 0, 2, 1 }, ax = -1, rs[2] = { -1, 16 };
        int x = gb_input(b, 3, xd);
        int q = op2(b, "MatMul", x, gb_const(b, 2, wd, 0.3f));
        int t = op1(b, "Transpose", q);
        attr_ints(b, "perm", 3, perm);
        int a = op1(b, "Softmax", op2(b, "MatMul", q, t));
        attr_i(b, "axis", -1);
        int m = op1(b, "ReduceMean", op2(b, "MatMul", a, x));
        attr_ints(b, "axes", 1, &ax);
        gb_output(b, op2(b, "Reshape", op2(b, "Add", m, x), gb_ints(b, 2, rs)));
        split_case("attention", b, true);
        gb_free(b);
    }
    { /* Resize by 1 on the batch and Slice on axis 1 keep samples apart */
        gb *b = gb_new(13);
        int64_t xd[4] = { B, 3, 5, 5 }, four = 4, one = 1, st[1] = { 1 }, en[1] = { 3 };
        int x = gb_input(b, 4, xd);
        int sc = gb_const(b, 1, &four, 0.f);
        float *scd = b->g->values[sc].init->data;
        scd[0] = scd[1] = 1, scd[2] = scd[3] = 2;
        int in[3] = { x, -1, sc };
        int r = gb_op(b, "Resize", 3, in);
        int sin[4] = { r, gb_ints(b, 1, st), gb_ints(b, 1, en), gb_ints(b, 1, &one) };
        gb_output(b, op1(b, "Relu", gb_op(b, "Slice", 4, sin)));
        split_case("Resize x2 + Slice axis 1", b, true);
        gb_free(b);
    }
    for (int kind = 0; kind < 8; kind++) {
        gb *b = gb_new(13);
        int64_t xd[2] = { B, B }, zero = 0, perm[2] = { 1, 0 }, rs[2] = { 2, -1 }, two = 2, neg = -1;
        int x = gb_input(b, 2, xd), y = -1;
        const char *what = "";
        switch (kind) {
        case 0: y = op1(b, "Softmax", x), attr_i(b, "axis", 0), what = "Softmax axis 0"; break;
        case 1: y = op2(b, "Concat", x, op1(b, "Relu", x)), attr_i(b, "axis", 0), what = "Concat axis 0"; break;
        case 2: y = op1(b, "Transpose", x), attr_ints(b, "perm", 2, perm), what = "Transpose(1,0)"; break;
        case 3:
            y = op1(b, "ReduceMean", x), attr_ints(b, "axes", 1, &zero), what = "ReduceMean axis 0";
            y = op2(b, "Add", x, y);
            break;
        case 4: y = op2(b, "MatMul", x, op1(b, "Relu", x)), what = "MatMul of two activations"; break;
        case 5: y = op2(b, "Reshape", x, gb_ints(b, 2, rs)), what = "Reshape to (2, -1)"; break;
        case 6: { /* the batch reversed: same shapes */
            int64_t start = -1, end = INT64_MIN;
            int sin[5] = { x, gb_ints(b, 1, &start), gb_ints(b, 1, &end), gb_ints(b, 1, &zero), gb_ints(b, 1, &neg) };
            y = gb_op(b, "Slice", 5, sin), what = "Slice axis 0 step -1";
            break;
        }
        case 7: { /* the batch doubled: every sample's rows move */
            int sc = gb_const(b, 1, &two, 0.f);
            float *scd = b->g->values[sc].init->data;
            scd[0] = 2, scd[1] = 1;
            int in[3] = { x, -1, sc };
            y = gb_op(b, "Resize", 3, in), what = "Resize x2 on the batch";
            break;
        }
        }
        gb_output(b, op1(b, "Sigmoid", y));
        split_case(what, b, false);
        gb_free(b);
    }
    { /* LOWP_BATCH_SPLIT=0 keeps a splittable plan whole; =1 splits one thread too */
        gb *b = resnet_block(4);
        const lp_tensor *in[1] = { b->feed[0] };
        lp_plan_options o1 = lp_plan_options_default(), o2 = lp_plan_options_default();
        o2.threads = 2;
        lp_plan *p = NULL;
        setenv("LOWP_BATCH_SPLIT", "0", 1);
        CHECK_OK(lp_plan_compile_opt(b->g, in, &o2, &p));
        CHECK(p && !p->split);
        lp_plan_free(p);
        p = NULL;
        setenv("LOWP_BATCH_SPLIT", "1", 1);
        CHECK_OK(lp_plan_compile_opt(b->g, in, &o1, &p));
        CHECK(p && p->split && p->split_plans == 1);
        lp_plan_free(p);
        unsetenv("LOWP_BATCH_SPLIT");
        gb_free(b);
    }
}

/* A plan with less work than LOWP_THREAD_MIN_WORK runs on one thread; more, on those asked. */
static void test_min_work(void)
{
    gb *b = resnet_block(1);
    const lp_tensor *in[1] = { b->feed[0] };
    lp_plan_options o2 = lp_plan_options_default();
    o2.threads = 2;
    /* resnet_block(1): 15x15 convolutions 3->16 and 16->16 (3x3) and a depthwise one on 8x8,
     * ~0.7 M multiply-adds, so 1e6 is above it and 1e5 below */
    static const struct { const char *env; int threads; } cases[] = { { "1e6", 1 }, { "1e5", 2 }, { "0", 2 } };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        setenv("LOWP_THREAD_MIN_WORK", cases[i].env, 1);
        lp_plan *p = NULL;
        CHECK_OK(lp_plan_compile_opt(b->g, in, &o2, &p));
        CHECK_MSG(p && p->opt.threads == cases[i].threads, "LOWP_THREAD_MIN_WORK=%s: %d threads", cases[i].env,
                  p ? p->opt.threads : -1);
        if (p)
            CHECK_OK(lp_plan_run(p, in, NULL, NULL));
        lp_plan_free(p);
    }
    setenv("LOWP_THREAD_MIN_WORK", "0", 1);
    gb_free(b);
}

/* Runs `path` on the fixed batch (and slices of it) with and without the fast path. */
static void check_zoo_model(const char *name)
{
    char path[256], ref_path[256];
    snprintf(path, sizeof path, "models/%s.onnx", name);
    snprintf(ref_path, sizeof ref_path, "models/%s.fixed_batch_logits.npy", name);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("  %s: not in the zoo yet, skipped\n", path);
        return;
    }
    fclose(f);
    lowp_model *m = NULL;
    lowp_tensor *x = NULL, *want = NULL;
    CHECK_OK(lowp_model_load(path, &m));
    CHECK_OK(lowp_tensor_load_npy("models/fixed_batch_input.npy", &x));
    CHECK_OK(lowp_tensor_load_npy(ref_path, &want));
    if (!m || !x || !want)
        goto done;
    for (int kind = 0; kind < 2; kind++) {
        lowp_session_options o = lowp_session_options_default();
        if (kind == 0)
            setenv("LOWP_KERNELS", "reference", 1);
        lowp_session *s = NULL;
        CHECK_OK(lowp_session_create(m, &o, &s));
        const char *in_name = "input";
        lowp_tensor *y = NULL;
        if (s)
            CHECK_OK(lowp_session_run(s, 1, &in_name, (const lowp_tensor *const *)&x, 1, &y));
        unsetenv("LOWP_KERNELS");
        if (!y) {
            lowp_session_free(s);
            continue;
        }
        double err = gb_norm_err(y, want);
        const float *yd = y->data, *wd = want->data;
        int agree = 0, n = (int)y->dims[0], c = (int)y->dims[1];
        for (int i = 0; i < n; i++) {
            int a = 0, bb = 0;
            for (int j = 1; j < c; j++) {
                if (yd[i * c + j] > yd[i * c + a])
                    a = j;
                if (wd[i * c + j] > wd[i * c + bb])
                    bb = j;
            }
            agree += a == bb;
        }
        printf("  %s %s: logits error %.3g (of max |logit|), top-1 agrees %d/%d\n", name,
               kind ? "fast" : "reference", err, agree, n);
        CHECK_MSG(err <= 1e-4, "%s %s: logits error %.3g", name, kind ? "fast" : "reference", err);
        CHECK_MSG(agree == n, "%s: top-1 differs on %d samples", name, n - agree);
        if (kind == 1 && s) {
            /* plans per shape: batch 1 then the full batch again, same answers */
            lp_plan *p = s->plans[0];
            int nd = 0, fallback = 0;
            char buf[256];
            for (int st = 0; st < p->n_steps; st++) {
                nd += p->steps[st].kernel == &lp_kernel_dnnl;
                fallback += strstr(lp_plan_step_str(p, st, buf, sizeof buf), "reference fallback") != NULL;
                if (verbose)
                    printf("    %s\n", buf);
            }
            printf("  %s: %d steps, %d on oneDNN\n", name, p->n_steps, nd);
            CHECK_MSG(fallback == 0, "%s: %d oneDNN steps fell back to the reference kernels", name, fallback);
            int64_t d1[4] = { 1, 1, 28, 28 };
            lowp_tensor *x1 = NULL, *y1 = NULL, *y8 = NULL;
            CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 4, d1, x->data, &x1));
            CHECK_OK(lowp_session_run(s, 1, &in_name, (const lowp_tensor *const *)&x1, 1, &y1));
            CHECK_OK(lowp_session_run(s, 1, &in_name, (const lowp_tensor *const *)&x, 1, &y8));
            CHECK(s->n_plans == 2);
            if (y1 && y8) {
                for (int j = 0; j < c; j++)
                    CHECK_NEAR(((float *)y1->data)[j], yd[j], 1e-4 * fabs(yd[j]) + 1e-5);
                CHECK(memcmp(y8->data, y->data, y->nbytes) == 0);
            }
            lowp_tensor_free(x1);
            lowp_tensor_free(y1);
            lowp_tensor_free(y8);
        }
        lowp_tensor_free(y);
        lowp_session_free(s);
    }
done:
    lowp_tensor_free(x);
    lowp_tensor_free(want);
    lowp_model_free(m);
}

static void test_zoo(void)
{
    static const char *const names[] = { "mlp", "resnet_s", "mobilenetv2_s", "vit_s" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_zoo_model(names[i]);
}

/* The reference fallback inside a oneDNN step (when oneDNN cannot build what was claimed):
 * a MaxPool between blocked convolutions, and a whole fused group. */
static void test_fallback(void)
{
    static const char *const ops[] = { "MaxPool", "Conv", "Gemm" };
    for (int i = 0; i < 3; i++) {
        gb *b = resnet_block(2);
        lp_plan *pf = NULL;
        char what[64];
        snprintf(what, sizeof what, "%s fallback", ops[i]);
        setenv("LOWP_DNNL_TEST_FALLBACK", ops[i], 1); /* read where oneDNN steps are prepared */
        gb_compare_plans(what, b, TOL_F32, NULL, &pf);
        unsetenv("LOWP_DNNL_TEST_FALLBACK");
        if (pf) {
            int fb = 0;
            char buf[256];
            for (int s = 0; s < pf->n_steps; s++)
                fb += strstr(lp_plan_step_str(pf, s, buf, sizeof buf), "reference fallback") != NULL;
            CHECK_MSG(fb >= 1, "%s: no fallback step", ops[i]);
        }
        lp_plan_free(pf);
        gb_free(b);
    }
}

static void test_env_reference(void)
{
    gb *b = resnet_block(1);
    const lp_tensor *in[1] = { b->feed[0] };
    setenv("LOWP_KERNELS", "reference", 1);
    lp_plan *p = NULL;
    CHECK_OK(lp_plan_compile(b->g, in, &p));
    unsetenv("LOWP_KERNELS");
    if (p)
        for (int s = 0; s < p->n_steps; s++) /* Flatten is a view: no kernel at all */
            CHECK(p->steps[s].kernel == &lp_kernel_reference || strcmp(p->steps[s].kernel->name, "view") == 0);
    lp_plan_free(p);
    gb_free(b);
}

int main(int argc, char **argv)
{
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    lp_test_seed(&rng_state);
    /* the graphs here are small: keep their 2-thread plans on 2 threads (test_min_work) */
    setenv("LOWP_THREAD_MIN_WORK", "0", 1);
    RUN(test_conv_random);
    RUN(test_conv_fusion);
    RUN(test_layout_chain);
    RUN(test_inplace_residual);
    RUN(test_views);
    RUN(test_winograd);
    RUN(test_conv_layout_blocked);
    RUN(test_deconv_random);
    RUN(test_gemm_random);
    RUN(test_matmul_random);
    RUN(test_pool_random);
    RUN(test_norms);
    RUN(test_softmax);
    RUN(test_eltwise);
    RUN(test_binary);
    RUN(test_sub_swapped);
    RUN(test_resize_random);
    RUN(test_conv1d_strided);
    RUN(test_slice_pad_random);
    RUN(test_slice_stepped);
    RUN(test_concat);
    RUN(test_transpose);
    RUN(test_bf16);
    RUN(test_bf16_chain);
    RUN(test_threads);
    RUN(test_batch_split);
    RUN(test_min_work);
    RUN(test_fallback);
    RUN(test_env_reference);
    RUN(test_zoo);
    return TEST_SUMMARY("test_kernels");
}
