/* test_kernels_own.c — the fast paths for ops real models ran on the reference kernels
 * (issue 13; src/kernels/dnnl_own.c and the eltwise Log/Sqrt) against the reference kernels,
 * on randomized graphs (fixed seed, LOWP_TEST_SEED=N for others: tests/seeds.sh): broadcasting
 * Add/Sub/Mul/Div of ranks 1-5 in every broadcast pattern, ReduceSum/Mean/Max/Min over runs of
 * axes (attribute and input axes, keepdims, noop_with_empty_axes), Pad in reflect and edge
 * modes and with crops, Sqrt and Log (a sweep over all float bit patterns too), Clip with
 * bounds computed at run time; odd sizes, batches, sizes past the 2-thread threshold;
 * NaN, infinities and signed zeros in the inputs.
 *
 * Bounds: the own kernels compute what the reference does (one IEEE operation on floats --
 * the reference's double then float rounding of +,-,*,/ equals it --, double sums in the
 * reference's order, the reference's max/min comparison, the same pad indices), so they must
 * match bit for bit, NaN for NaN. Sqrt (vsqrtps) is correctly rounded: exact too. Log (lowp's
 * own, in double; oneDNN 2.6's log is off by up to 1.4e-3 relative near x = 1 and flushes
 * denormals) rounds a double within ~2^-50 relative of log(x) to float, as the reference rounds
 * libm's: the two floats differ only where log(x) lies that close to a midpoint between floats,
 * by one ulp -- the bound; log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf exactly.
 *
 * Usage: test_kernels_own [-v] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "graph_builder.h"
#include "kernels/dnnl.h"
#include "lowp.h"
#include "test.h"

static int verbose;
static uint64_t rng_state = 0x0e1e5eedULL;

static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng_state) % (uint64_t)(hi - lo + 1)); }

/* uniform [-2, 2), with some of the values special when `specials` */
static lp_tensor *rand_input(int nd, const int64_t *dims, bool specials)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LOWP_FLOAT, nd, dims, &t));
    if (!t)
        return NULL;
    float *d = t->data;
    static const float odd[] = { NAN, INFINITY, -INFINITY, 0.f, -0.f, 1e-40f, -3e38f };
    for (int64_t i = 0; i < lp_tensor_numel(t); i++) {
        d[i] = (float)(lowp_random_uniform(&rng_state) * 4.0 - 2.0);
        if (specials && rnd(0, 40) == 0)
            d[i] = odd[rnd(0, (int)(sizeof odd / sizeof odd[0]) - 1)];
    }
    return t;
}

static int gb_ints(gb *b, int64_t n, const int64_t *x)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_I64, 1, &n, &t));
    if (t && n)
        memcpy(t->data, x, (size_t)n * sizeof *x);
    return gb_tensor(b, t);
}

/* Compiles b's graph with the reference kernels only and with every backend (2 threads);
 * `claimed` op must run on a oneDNN-backend step ("lowp:" own kernel when own); the outputs
 * agree elementwise (gb_agrees(ulps)). */
static void check(const char *what, gb *b, const char *claimed, bool own, int ulps)
{
    lp_plan_options fo = lp_plan_options_default();
    fo.threads = 2;
    lp_plan *pf = NULL;
    gb_compare_plans(what, b, 0, &(gb_compare_opt){ .fast = &fo, .elementwise = true, .ulps = ulps }, &pf);
    if (!pf)
        return;
    char buf[256];
    bool found = !claimed;
    for (int s = 0; s < pf->n_steps; s++) {
        const char *desc = lp_plan_step_str(pf, s, buf, sizeof buf);
        if (verbose)
            printf("    %s\n", desc);
        if (claimed && strstr(desc, claimed) && pf->steps[s].kernel == &lp_kernel_dnnl)
            found = !strstr(desc, "reference fallback") && (!own || strstr(desc, "lowp:"));
    }
    CHECK_MSG(found, "%s: %s is not on a fast path", what, claimed);
    if (verbose)
        printf("  %s: ok\n", what);
    lp_plan_free(pf);
}

/* Random dims of rank r; with `big`, enough elements for the 2-thread paths. */
static void rand_dims(int r, int64_t *d, bool big)
{
    for (int k = 0; k < r; k++)
        d[k] = rnd(1, 9);
    if (big)
        d[r - 1] = rnd(3000, 9000) / (r > 1 ? d[0] : 1) + 1;
}

static void test_binary_broadcast(void)
{
    static const char *const ops[] = { "Add", "Sub", "Mul", "Div" };
    for (int t = 0; t < 120; t++) {
        gb *b = gb_new(13);
        int r = rnd(1, 5);
        int64_t yd[5], ad[5], bd[5];
        rand_dims(r, yd, t % 10 == 9);
        if (t % 10 == 9 && r > 1)
            yd[0] = 16; /* a batch */
        int ra = rnd(1, r), rb = t % 3 == 0 ? r : rnd(1, r);
        for (int k = 0; k < r; k++) { /* each operand takes each dim or 1; y is their broadcast */
            ad[k] = rnd(0, 2) ? yd[k] : 1;
            bd[k] = rnd(0, 2) ? yd[k] : 1;
            if (ad[k] == 1 && bd[k] == 1 && rnd(0, 1))
                ad[k] = yd[k];
        }
        if (t % 4 == 1) /* Silero VAD's Add: [N,C,T] + [N,1,1] */
            for (int k = 1; k < r; k++)
                ad[k] = yd[k], bd[k] = 1;
        int x = gb_feed(b, rand_input(ra, ad + r - ra, true));
        int y = rnd(0, 3) ? gb_feed(b, rand_input(rb, bd + r - rb, true)) : gb_tensor(b, rand_input(rb, bd + r - rb, true));
        const char *op = ops[t % 4];
        gb_output(b, op2(b, op, x, y));
        char what[160];
        int w = snprintf(what, sizeof what, "%s [", op);
        for (int k = r - ra; k < r; k++)
            w += snprintf(what + w, sizeof what - (size_t)w, "%lld%s", (long long)ad[k], k < r - 1 ? "," : "] [");
        for (int k = r - rb; k < r; k++)
            w += snprintf(what + w, sizeof what - (size_t)w, "%lld%s", (long long)bd[k], k < r - 1 ? "," : "]");
        check(what, b, op, false, 0);
        gb_free(b);
    }
}

static void test_reduce(void)
{
    static const char *const ops[] = { "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin" };
    for (int t = 0; t < 120; t++) {
        const char *op = ops[t % 4];
        bool axes_input = t % 3 == 0;
        int opset = axes_input ? 18 : 13;
        if (!axes_input && strcmp(op, "ReduceSum") == 0)
            opset = 11; /* ReduceSum takes axes as an input from 13 */
        gb *b = gb_new(opset);
        int r = rnd(1, 5);
        int64_t xd[5];
        rand_dims(r, xd, t % 10 == 9);
        int first = rnd(0, r - 1), n = rnd(1, r - first);
        bool gap = t % 7 == 3 && n >= 3; /* a kept axis inside: not one run, stays on the reference */
        int64_t axes[5];
        int na = 0;
        for (int k = first; k < first + n; k++)
            if (!(gap && k == first + 1))
                axes[na++] = rnd(0, 1) ? k : k - r; /* negative axes count from the end */
        bool none = t % 17 == 5; /* no axes: all of them, or with noop_with_empty_axes the input */
        if (none)
            na = 0;
        int x = gb_feed(b, rand_input(r, xd, t % 2 == 0));
        int y;
        if (axes_input) {
            int in[2] = { x, gb_ints(b, na, axes) };
            y = gb_op(b, op, none && t % 2 ? 1 : 2, in);
            if (none && t % 2 == 0)
                attr_i(b, "noop_with_empty_axes", 1);
        } else {
            y = op1(b, op, x);
            if (na)
                attr_ints(b, "axes", na, axes);
        }
        int keep = rnd(0, 1);
        attr_i(b, "keepdims", keep);
        gb_output(b, y);
        char what[160];
        int w = snprintf(what, sizeof what, "%s-%d [", op, opset);
        for (int k = 0; k < r; k++)
            w += snprintf(what + w, sizeof what - (size_t)w, "%lld%s", (long long)xd[k], k < r - 1 ? "," : "] axes");
        for (int k = 0; k < na; k++)
            w += snprintf(what + w, sizeof what - (size_t)w, " %lld", (long long)axes[k]);
        snprintf(what + w, sizeof what - (size_t)w, " keepdims %d", keep);
        bool run_of_ones = true; /* the kept axis inside the run has extent 1: still one run */
        if (gap)
            run_of_ones = xd[first + 1] == 1;
        check(what, b, gap && !run_of_ones ? NULL : op, true, 0);
        gb_free(b);
    }
}

static void test_pad_modes(void)
{
    static const char *const modes[] = { "reflect", "edge", "constant" };
    for (int t = 0; t < 120; t++) {
        int mode = t % 3;
        int opset = t % 2 ? 13 : 2;
        gb *b = gb_new(opset);
        int r = rnd(1, 5);
        int64_t xd[5], pads[10];
        rand_dims(r, xd, t % 10 == 9);
        for (int k = 0; k < 2 * r; k++) {
            pads[k] = rnd(0, 4);
            if (mode == 2 && rnd(0, 2) == 0)
                pads[k] = -rnd(1, 2); /* a crop: constant Pads with crops are the own kernel's */
            else if (rnd(0, 3) == 0)
                pads[k] = -rnd(0, 1);
        }
        if (mode == 2 && t % 4 < 2) { /* the last axis's end crop eating the whole input and some of
                                         the begin padding: fewer outputs than begin pads, all fill
                                         (the own kernel wrote past the row: ASan, seed 262148) */
            int k = r - 1;
            pads[k] = rnd(2, 4);
            pads[k + r] = -(xd[k] + rnd(1, (int)pads[k] - 1));
        }
        for (int k = 0; k < r; k++) {
            if (xd[k] + pads[k] + pads[k + r] < 1)
                pads[k] = pads[k + r] = 0;
            if (mode == 0 && xd[k] == 1) /* reflecting one element: lp_pad_source's period */
                pads[k] = rnd(0, 2), pads[k + r] = 0;
        }
        bool crop = false;
        for (int k = 0; k < 2 * r; k++)
            crop |= pads[k] < 0;
        float fill = rnd(0, 1) ? 0.f : -1.5f;
        int x = gb_feed(b, rand_input(r, xd, true));
        int y;
        if (opset >= 11) {
            int in[3] = { x, gb_ints(b, 2 * r, pads), gb_scalar(b, LOWP_FLOAT, fill) };
            y = gb_op(b, "Pad", 3, in);
        } else {
            y = op1(b, "Pad", x);
            attr_ints(b, "pads", 2 * r, pads);
            attr_f(b, "value", fill);
        }
        attr_s(b, "mode", modes[mode]);
        gb_output(b, y);
        char what[200];
        int w = snprintf(what, sizeof what, "Pad-%d %s [", opset, modes[mode]);
        for (int k = 0; k < r; k++)
            w += snprintf(what + w, sizeof what - (size_t)w, "%lld%s", (long long)xd[k], k < r - 1 ? "," : "] pads");
        for (int k = 0; k < 2 * r; k++)
            w += snprintf(what + w, sizeof what - (size_t)w, " %lld", (long long)pads[k]);
        check(what, b, "Pad", mode != 2 || crop, 0);
        gb_free(b);
    }
}

/* `cases` random graphs of unary op on data with zeros, negatives, infinities, NaN and
 * denormals, every other one after a scalar Add; own_step, ulps as check's. */
static void unary_cases(const char *op, int cases, bool own_step, int ulps)
{
    for (int t = 0; t < cases; t++) {
        gb *b = gb_new(13);
        int r = rnd(1, 4);
        int64_t xd[4];
        rand_dims(r, xd, t % 6 == 5);
        int x = gb_feed(b, rand_input(r, xd, true));
        if (t % 2)
            x = op2(b, "Add", x, gb_scalar(b, LOWP_FLOAT, 0.25));
        gb_output(b, op1(b, op, x));
        char what[64];
        snprintf(what, sizeof what, "%s%s rank %d", t % 2 ? "Add+" : "", op, r);
        check(what, b, op, own_step, ulps);
        gb_free(b);
    }
}

/* Sqrt, alone and fused after an Add (Silero VAD's Add + Sqrt: one oneDNN step, the op a
 * post-op). */
static void test_sqrt(void) { unary_cases("Sqrt", 24, false, 0); }

/* Log on random data with specials, after an Add (a step of its own: Log takes no
 * post-op), and on a sweep of 2^20 float bit patterns spread over all 2^32 (denormals,
 * both signs, infinities, NaN payloads), plus a dense run around 1. */
static void test_log(void)
{
    unary_cases("Log", 12, true, 1);
    gb *b = gb_new(13);
    int64_t n = 1 << 21;
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LOWP_FLOAT, 1, &n, &t));
    if (!t)
        return;
    uint32_t *u = t->data;
    for (int64_t i = 0; i < n / 2; i++)
        u[i] = (uint32_t)(i << 12) | (uint32_t)rnd(0, 4095);
    for (int64_t i = n / 2; i < n; i++) { /* [0.5, 2): where log(x) is small */
        float f = 0.5f + 1.5f * (float)(i - n / 2) / (float)(n / 2);
        memcpy(&u[i], &f, sizeof f);
    }
    gb_output(b, op1(b, "Log", gb_feed(b, t)));
    check("Log sweep", b, "Log", true, 1);
    gb_free(b);
}

/* Clip with bounds computed at run time (openWakeWord's melspectrogram: ReduceMax(x) - 80 as
 * the min), bounds absent, fed, constant, NaN, or min above max (then max, as the reference
 * applies min first); exact. */
static void test_clip_runtime(void)
{
    for (int t = 0; t < 24; t++) {
        gb *b = gb_new(13);
        int r = rnd(1, 4);
        int64_t xd[4];
        rand_dims(r, xd, t % 6 == 5);
        int x = gb_feed(b, rand_input(r, xd, t % 2 == 0));
        int lo = -1, hi = -1;
        switch (t % 4) {
        case 0: { /* max(x) - 1.5, as the melspectrogram's */
            int m = op1(b, "ReduceMax", x);
            attr_i(b, "keepdims", 0);
            lo = op2(b, "Sub", m, gb_scalar(b, LOWP_FLOAT, 1.5));
            hi = rnd(0, 1) ? gb_scalar(b, LOWP_FLOAT, 1.0) : -1;
            break;
        }
        case 1: /* fed bounds, sometimes min above max, sometimes NaN */
            lo = gb_feed(b, rand_input(0, NULL, false));
            hi = gb_feed(b, rand_input(0, NULL, false));
            if (t % 8 == 5)
                ((float *)b->feed[2]->data)[0] = NAN;
            break;
        case 2: /* only a max, fed */
            hi = gb_feed(b, rand_input(0, NULL, false));
            break;
        default: /* constant min above the constant max: not oneDNN's clip, the own kernel */
            lo = gb_scalar(b, LOWP_FLOAT, 0.5);
            hi = gb_scalar(b, LOWP_FLOAT, -0.5);
            break;
        }
        int in[3] = { x, lo, hi };
        int n_in = hi >= 0 ? 3 : lo >= 0 ? 2 : 1;
        if (n_in == 3 && lo < 0)
            in[1] = -1;
        gb_output(b, gb_op(b, "Clip", n_in, in));
        char what[64];
        snprintf(what, sizeof what, "Clip case %d rank %d", t % 4, r);
        check(what, b, "Clip", true, 0);
        gb_free(b);
    }
}

int main(int argc, char **argv)
{
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    lp_test_seed(&rng_state);
    setenv("LOWP_THREAD_MIN_WORK", "0", 1); /* small graphs: keep 2 threads */
    RUN(test_binary_broadcast);
    RUN(test_reduce);
    RUN(test_pad_modes);
    RUN(test_sqrt);
    RUN(test_log);
    RUN(test_clip_runtime);
    return TEST_SUMMARY("test_kernels_own");
}
