/* test_fusion_random.c — the oneDNN backend's post-op fusion against the reference kernels on
 * thousands of random chains (fixed seed): a leader (Conv, ConvTranspose, Gemm, MatMul) then
 * 1..7 random elementwise ops — every activation the fuser claims, the GELU(erf) subgraph,
 * HardSwish as the op and in the three decomposed forms exporters write,
 * scalar Add/Sub/Mul/Div with the constant on either side, ops it does not claim (which must
 * end a fused chain), and in INT8 QuantizeLinear -> DequantizeLinear pairs — every alpha, beta,
 * bound and constant distinct, sometimes an intermediate as an extra output; in FP32, BF16 and
 * INT8 (QDQ). Each graph is compiled for the reference kernels only and for all backends, and
 * every output of the two plans is compared.
 *
 * Tolerance: an error bound carried along the chain. y_0 is the leader's output, y_i the i-th
 * op's, M_i = max|y_i| as the reference computes it (seen through a tap); E_i bounds
 * max|fast(y_i) - ref(y_i)|.
 *  - Leader: E_0 = 1e-5 * S, S = max over outputs of |alpha| sum|w||x| + |beta b| (the sum of
 *    the magnitudes accumulated): float rounding of a K-term sum is at most K * 2^-24 * S, and
 *    K <= 64 here (< 4e-6 * S); 1e-5 leaves room for oneDNN's blocked, FMA-contracted order.
 *  - Each op: E_i = L_i * E_{i-1} + u * max(M_{i-1}, M_i, |c_i|), where L_i is the op's
 *    Lipschitz constant over the interval the generator proved its input lies in (widened by
 *    E_{i-1}), c_i its constant, and u the rounding of one op relative to the magnitudes it
 *    handles: FP32 and INT8 (post-ops run in float on the dequantized accumulator) 1e-6, about
 *    8 float ulps — oneDNN's polynomial exp/tanh/erf/logistic are within a few ulps, libm's
 *    within one. BF16 2^-8: a result stored as bf16 is rounded by 2^-9 relative, and the
 *    next step may round it again on reading; the inputs, weights, biases and constants are
 *    generated as bf16 values (Gemm's alpha and beta powers of two) so products are exact in
 *    fp32 and the leader adds only its stored result's rounding, 2^-8 * M_0.
 *  - A QuantizeLinear -> DequantizeLinear pair of step s: |DQ(Q(a)) - DQ(Q(b))| <= |a - b| + s,
 *    so E_i = E_{i-1} + s (the INT8 kernel rounds its requantized result once, the reference
 *    rounds its float result: one quantization step).
 * The wrong post-op parameter this test was written for (a Relu after a LeakyRelu computed with
 * the LeakyRelu's slope) errs by alpha * |y| on negative values: 1e-2..1 of M, against bounds
 * of ~1e-5 of M (FP32) and ~2e-2 (BF16, 7 ops).
 *
 * Usage: test_fusion_random [-v] [-n CHAINS_PER_MODE] [-s SEED]   (LOWP_TEST_SEED=N as -s N) */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "engine/engine.h"
#include "graph_builder.h"
#include "kernels/dnnl.h"
#include "lowp.h"
#include "quant/quantize.h"
#include "test.h"

static int verbose;
static int n_chains = 400; /* per mode and leader kind: 4,800 chains, ~15 s */
static uint64_t rng_state = 0xf05e0c4a1b2dULL;

static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng_state) % (uint64_t)(hi - lo + 1)); }
static double rndu(void) { return lowp_random_uniform(&rng_state); }
static double rnd_in(double lo, double hi) { return lo + (hi - lo) * rndu(); }

typedef enum mode { M_F32, M_BF16, M_INT8, N_MODE } mode;
static const char *const mode_name[N_MODE] = { "fp32", "bf16", "int8" };
typedef enum leader { L_CONV, L_DECONV, L_GEMM, L_MATMUL, N_LEADER } leader;
static const char *const leader_name[N_LEADER] = { "Conv", "ConvTranspose", "Gemm", "MatMul" };

/* Per-op rounding relative to the magnitudes handled, and the leader's accumulation error
 * relative to S (see the top of the file). */
#define U_F32 1e-6
#define U_BF16 (1.0 / 256)
#define TOL_ACC 1e-5

/* ---- parameters: distinct, and bf16 values in BF16 mode ---- */

typedef struct gen {
    mode m;
    gb *b;
    int n_used;
    double used[64];
} gen;

static double as_mode(const gen *G, double x)
{
    return G->m == M_BF16 ? lp_bf16_to_f32(lp_f32_to_bf16((float)x)) : (double)(float)x;
}

/* A value in [lo, hi] (either sign when `signs`), different from every parameter drawn so far
 * in this chain; NaN when the interval has none left. */
static double distinct(gen *G, double lo, double hi, bool signs)
{
    for (int tries = 0; tries < 100; tries++) {
        double x = as_mode(G, rnd_in(lo, hi) * (signs && rnd(0, 1) ? -1 : 1));
        bool dup = false;
        for (int i = 0; i < G->n_used; i++)
            dup |= fabs(x - G->used[i]) < 1e-3;
        if (!dup && G->n_used < 64) {
            G->used[G->n_used++] = x;
            return x;
        }
    }
    return NAN;
}

/* A float tensor uniform in [-a, a] (bf16 values in BF16 mode). */
static lp_tensor *rand_tensor(const gen *G, int nd, const int64_t *dims, double a)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, nd, dims, &t));
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)as_mode(G, rnd_in(-a, a));
    return t;
}

/* ---- the leaders ---- */

/* Weights of `dims` for the mode: a float constant, or int8 through DequantizeLinear per
 * tensor or per index of `q_axis` (the output-channel axis). Returns the value; *l1 gets the
 * largest sum of |w| over an output channel (dim `oc_axis`), ws the weight scales (INT8). */
static int weights(gen *G, int nd, const int64_t *dims, int oc_axis, double a, double *l1, float *ws,
                   bool *per_channel)
{
    int64_t n = lp_numel(nd, dims), noc = dims[oc_axis], inner = 1;
    for (int i = oc_axis + 1; i < nd; i++)
        inner *= dims[i];
    double *sum = calloc((size_t)noc, sizeof *sum);
    int y;
    *per_channel = false;
    if (G->m != M_INT8) {
        lp_tensor *t = rand_tensor(G, nd, dims, a);
        for (int64_t i = 0; i < n; i++)
            sum[(i / inner) % noc] += fabs(((float *)t->data)[i]);
        y = gb_tensor(G->b, t);
    } else {
        *per_channel = rnd(0, 1);
        int64_t ns = *per_channel ? noc : 1;
        lp_tensor *q, *s, *z;
        CHECK_OK(lp_tensor_new(LP_I8, nd, dims, &q));
        CHECK_OK(lp_tensor_new(LP_F32, *per_channel ? 1 : 0, &ns, &s));
        CHECK_OK(lp_tensor_new(LP_I8, *per_channel ? 1 : 0, &ns, &z));
        for (int64_t c = 0; c < ns; c++) {
            ws[c] = ((float *)s->data)[c] = (float)(a * rnd_in(0.5, 1.0) / 127);
            ((int8_t *)z->data)[c] = 0;
        }
        for (int64_t i = 0; i < n; i++) {
            int v = rnd(-127, 127), c = (int)((i / inner) % noc);
            ((int8_t *)q->data)[i] = (int8_t)v;
            sum[c] += abs(v) * (double)ws[*per_channel ? c : 0];
        }
        int in[3] = { gb_tensor(G->b, q), gb_tensor(G->b, s), gb_tensor(G->b, z) };
        y = gb_op(G->b, "DequantizeLinear", 3, in);
        if (*per_channel)
            attr_i(G->b, "axis", oc_axis);
    }
    *l1 = 0;
    for (int64_t c = 0; c < noc; c++)
        *l1 = fmax(*l1, sum[c]);
    free(sum);
    return y;
}

/* A bias of n values: float, or (INT8, sometimes) int32 with scales s_x * ws[c] through
 * DequantizeLinear as the quantizer writes it; *bmax gets max |b|. */
static int bias(gen *G, int64_t n, float s_x, const float *ws, bool per_channel, double *bmax)
{
    *bmax = 0;
    if (G->m != M_INT8 || rnd(0, 1)) {
        lp_tensor *t = rand_tensor(G, 1, &n, 0.5);
        *bmax = gb_max_abs(t);
        return gb_tensor(G->b, t);
    }
    lp_tensor *q, *s, *z;
    int64_t ns = per_channel ? n : 1;
    CHECK_OK(lp_tensor_new(LP_I32, 1, &n, &q));
    CHECK_OK(lp_tensor_new(LP_F32, per_channel ? 1 : 0, &ns, &s));
    CHECK_OK(lp_tensor_new(LP_I32, per_channel ? 1 : 0, &ns, &z));
    for (int64_t c = 0; c < ns; c++) {
        ((float *)s->data)[c] = s_x * ws[c];
        ((int32_t *)z->data)[c] = 0;
    }
    for (int64_t c = 0; c < n; c++) {
        float sc = ((float *)s->data)[per_channel ? c : 0];
        int32_t v = (int32_t)lrint(rnd_in(-0.5, 0.5) / sc);
        ((int32_t *)q->data)[c] = v;
        *bmax = fmax(*bmax, fabs(v * (double)sc));
    }
    int in[3] = { gb_tensor(G->b, q), gb_tensor(G->b, s), gb_tensor(G->b, z) };
    int y = gb_op(G->b, "DequantizeLinear", 3, in);
    if (per_channel)
        attr_i(G->b, "axis", 0);
    return y;
}

/* x -> QuantizeLinear -> DequantizeLinear over [lo, hi], u8 asymmetric or s8 symmetric; *s
 * gets the step, [*qlo, *qhi] the representable range. */
static int qdq(gen *G, int x, double lo, double hi, float *s, double *qlo, double *qhi)
{
    bool sym = rnd(0, 1);
    int32_t zp;
    lp_qparams(lo, hi, sym, s, &zp);
    *qlo = ((sym ? -128 : 0) - zp) * (double)*s;
    *qhi = ((sym ? 127 : 255) - zp) * (double)*s;
    int in[3] = { x, gb_scalar(G->b, LP_F32, *s), gb_scalar(G->b, sym ? LP_I8 : LP_U8, zp) };
    in[0] = gb_op(G->b, "QuantizeLinear", 3, in);
    return gb_op(G->b, "DequantizeLinear", 3, in);
}

static void conv_attrs(gb *b, const int64_t *k, const int64_t *s, const int64_t *p)
{
    attr_ints(b, "kernel_shape", 2, k);
    attr_ints(b, "strides", 2, s);
    attr_ints(b, "pads", 4, p);
}

/* The leader over a fresh input; returns its output value, *S the bound on the magnitudes it
 * accumulates (|alpha| l1 max|x| + |beta| max|b|). */
static int build_leader(gen *G, leader L, double *S, char *desc, size_t dlen)
{
    gb *b = G->b;
    double l1 = 0, bmax = 0, alpha = 1, beta = 1, qlo, qhi;
    float ws[64], s_x = 1;
    bool pc = false;
    int64_t xd[4], k[2] = { rnd(1, 3), rnd(1, 3) }, s[2] = { rnd(1, 2), rnd(1, 2) };
    int64_t p[4] = { rnd(0, (int)k[0] - 1), rnd(0, (int)k[1] - 1), rnd(0, (int)k[0] - 1), rnd(0, (int)k[1] - 1) };
    int nd = L == L_CONV || L == L_DECONV ? 4 : L == L_GEMM ? 2 : rnd(2, 3);
    for (int i = 0; i < nd; i++)
        xd[i] = i == nd - 1 && nd < 4 ? rnd(1, 24) : nd == 4 && i >= 2 ? rnd(3, 7) : rnd(1, 5);
    int x = gb_feed(b, rand_tensor(G, nd, xd, 1.0));
    double xmax = gb_max_abs(b->feed[b->n_feed - 1]);
    if (G->m == M_INT8) {
        x = qdq(G, x, -1.0, 1.0, &s_x, &qlo, &qhi);
        /* off the ties where oneDNN's quantizing reorder and ONNX may land a step apart: the
           leader's bound does not carry that step */
        lp_tensor *f = b->feed[b->n_feed - 1];
        lp_test_off_ties(f->data, lp_tensor_numel(f), s_x);
        xmax = gb_max_abs(f) + s_x;
    }
    int y, in[3] = { x, -1, -1 };
    if (L == L_CONV) {
        int64_t C = xd[1], group = rnd(0, 3) == 0 ? C : 1, M = group > 1 ? group * rnd(1, 2) : rnd(1, 8);
        int64_t wd[4] = { M, C / group, k[0], k[1] };
        in[1] = weights(G, 4, wd, 0, 1.0 / sqrt((double)(wd[1] * k[0] * k[1])), &l1, ws, &pc);
        in[2] = rnd(0, 3) ? bias(G, M, s_x, ws, pc, &bmax) : -1;
        y = gb_op(b, "Conv", in[2] >= 0 ? 3 : 2, in);
        attr_i(b, "group", group);
        conv_attrs(b, k, s, p);
        snprintf(desc, dlen, "Conv x(%lld,%lld,%lld,%lld) M%lld g%lld k%lldx%lld s%lldx%lld", (long long)xd[0],
                 (long long)C, (long long)xd[2], (long long)xd[3], (long long)M, (long long)group, (long long)k[0],
                 (long long)k[1], (long long)s[0], (long long)s[1]);
    } else if (L == L_DECONV) {
        /* no INT8 kernel: in INT8 mode its weights are dequantized and it runs in float */
        int64_t C = xd[1], M = rnd(1, 6), wd[4] = { C, M, k[0], k[1] };
        in[1] = weights(G, 4, wd, 1, 1.0 / sqrt((double)(C * k[0] * k[1])), &l1, ws, &pc);
        in[2] = rnd(0, 3) ? bias(G, M, s_x, ws, pc, &bmax) : -1;
        y = gb_op(b, "ConvTranspose", in[2] >= 0 ? 3 : 2, in);
        conv_attrs(b, k, s, p);
        snprintf(desc, dlen, "ConvTranspose x(%lld,%lld,%lld,%lld) M%lld k%lldx%lld s%lldx%lld", (long long)xd[0],
                 (long long)C, (long long)xd[2], (long long)xd[3], (long long)M, (long long)k[0], (long long)k[1],
                 (long long)s[0], (long long)s[1]);
    } else if (L == L_GEMM) {
        bool tb = rnd(0, 1);
        int64_t K = xd[1], N = rnd(1, 24), wd[2] = { tb ? N : K, tb ? K : N };
        if (G->m == M_BF16) { /* folded into the weights and the bias: powers of two stay exact */
            alpha = rnd(0, 1) ? 0.5 : 2;
            beta = rnd(0, 1) ? 0.25 : 4;
        } else if (G->m == M_F32 || rnd(0, 3) == 0) { /* INT8 kernels take alpha = beta = 1 only */
            alpha = distinct(G, 0.3, 2, true);
            beta = distinct(G, 0.3, 2, true);
        }
        in[1] = weights(G, 2, wd, tb ? 0 : 1, 1.0 / sqrt((double)K), &l1, ws, &pc);
        in[2] = rnd(0, 3) ? bias(G, N, s_x, ws, pc, &bmax) : -1;
        y = gb_op(b, "Gemm", in[2] >= 0 ? 3 : 2, in);
        attr_i(b, "transB", tb);
        attr_f(b, "alpha", (float)alpha);
        attr_f(b, "beta", (float)beta);
        snprintf(desc, dlen, "Gemm %lldx%lldx%lld%s alpha %g beta %g", (long long)xd[0], (long long)K, (long long)N,
                 tb ? " transB" : "", alpha, beta);
    } else {
        int64_t K = xd[nd - 1], N = rnd(1, 24), wd[2] = { K, N };
        in[1] = weights(G, 2, wd, 1, 1.0 / sqrt((double)K), &l1, ws, &pc);
        y = gb_op(b, "MatMul", 2, in);
        snprintf(desc, dlen, "MatMul %s%lldx%lldx%lld", nd == 3 ? "batched " : "", (long long)xd[nd - 2],
                 (long long)K, (long long)N);
    }
    *S = fabs(alpha) * l1 * xmax + fabs(beta) * bmax;
    return y;
}

/* ---- the chain ---- */

typedef enum kind {
    K_RELU, K_LEAKY, K_CLIP, K_SIGMOID, K_TANH, K_HSIGMOID, K_HSWISH, K_GELU, /* the fuser's activations */
    K_ADD, K_SUB, K_MUL, K_DIV,                                              /* with a scalar constant */
    K_ABS, K_NEG, K_EXP, K_SQRT, K_LOG, K_RECIP, K_ELU, K_SOFTPLUS,          /* others */
    K_QDQ,                                                                   /* INT8 only */
    N_KIND
} kind;
/* The op each kind needs in the registry (Elu, Softplus come with the operator work). */
static const char *const kind_op[N_KIND] = {
    "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Erf",
    "Add", "Sub", "Mul", "Div",
    "Abs", "Neg", "Exp", "Sqrt", "Log", "Reciprocal", "Elu", "Softplus",
    "QuantizeLinear",
};

typedef struct iv { double lo, hi; } iv;

typedef struct item {
    kind k;
    double a, b;                        /* alpha/beta, clip bounds, the constant */
    int var;                            /* binary: 1 = constant first; Clip: 1 min, 2 max; GELU form */
    float s;                            /* QDQ: step; [a, b]: its representable range */
} item;

/* May the generator put kind k after a value in x? (domains, and magnitudes kept sane) */
static bool kind_ok(mode m, kind k, iv x)
{
    double mag = fmax(fabs(x.lo), fabs(x.hi));
    switch (k) {
    case K_DIV: return true; /* its constant-first form is checked when drawn */
    case K_RECIP: return x.lo >= 0.25 || x.hi <= -0.25;
    case K_SQRT: case K_LOG: return x.lo >= 0.05;
    case K_EXP: return x.hi <= 4;
    case K_MUL: return mag <= 100;
    case K_QDQ: return m == M_INT8 && x.hi - x.lo > 1e-3;
    default: return true;
    }
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double hswish(double x) { return x * fmin(fmax(x + 3, 0), 6) / 6; }
static double gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double clampd(double x, double lo, double hi) { return fmin(fmax(x, lo), hi); }

/* The image of interval x under the item (a superset). */
static iv apply(const item *it, iv x)
{
    double lo = x.lo, hi = x.hi, c = it->a;
    iv r;
    switch (it->k) {
    case K_RELU: return (iv){ fmax(lo, 0), fmax(hi, 0) };
    case K_LEAKY: return (iv){ lo < 0 ? c * lo : lo, hi < 0 ? c * hi : hi };
    case K_CLIP: {
        double a = it->var & 1 ? it->a : -INFINITY, b = it->var & 2 ? it->b : INFINITY;
        return (iv){ clampd(lo, a, b), clampd(hi, a, b) };
    }
    case K_SIGMOID: return (iv){ sigmoid(lo), sigmoid(hi) };
    case K_TANH: return (iv){ tanh(lo), tanh(hi) };
    case K_HSIGMOID: return (iv){ clampd(c * lo + it->b, 0, 1), clampd(c * hi + it->b, 0, 1) };
    case K_HSWISH: /* decreasing below -1.5, increasing above */
        r = (iv){ fmin(hswish(lo), hswish(hi)), fmax(hswish(lo), hswish(hi)) };
        if (lo < -1.5 && hi > -1.5)
            r.lo = -0.375;
        return r;
    case K_GELU: /* decreasing below -0.7518, increasing above */
        r = (iv){ fmin(gelu(lo), gelu(hi)), fmax(gelu(lo), gelu(hi)) };
        if (lo < -0.75179 && hi > -0.75179)
            r.lo = -0.16998;
        return r;
    case K_ADD: return (iv){ lo + c, hi + c };
    case K_SUB: return it->var ? (iv){ c - hi, c - lo } : (iv){ lo - c, hi - c };
    case K_MUL: return c > 0 ? (iv){ c * lo, c * hi } : (iv){ c * hi, c * lo };
    case K_DIV:
        if (it->var) /* c / x, x of one sign */
            return (iv){ fmin(c / lo, c / hi), fmax(c / lo, c / hi) };
        return c > 0 ? (iv){ lo / c, hi / c } : (iv){ hi / c, lo / c };
    case K_ABS: return lo >= 0 ? x : hi <= 0 ? (iv){ -hi, -lo } : (iv){ 0, fmax(-lo, hi) };
    case K_NEG: return (iv){ -hi, -lo };
    case K_EXP: return (iv){ exp(lo), exp(hi) };
    case K_SQRT: return (iv){ sqrt(lo), sqrt(hi) };
    case K_LOG: return (iv){ log(lo), log(hi) };
    case K_RECIP: return (iv){ 1 / hi, 1 / lo };
    case K_ELU: return (iv){ lo < 0 ? c * expm1(lo) : lo, hi < 0 ? c * expm1(hi) : hi };
    case K_SOFTPLUS: return (iv){ log1p(exp(lo)), log1p(exp(hi)) };
    case K_QDQ: return (iv){ clampd(lo, it->a, it->b) - it->s, clampd(hi, it->a, it->b) + it->s };
    default: return x;
    }
}

/* The item's Lipschitz constant over x widened by e. */
static double lipschitz(const item *it, iv x, double e)
{
    double lo = x.lo - e, hi = x.hi + e, c = fabs(it->a);
    double m = lo > 0 ? lo : hi < 0 ? -hi : 0; /* min |x| */
    switch (it->k) {
    case K_LEAKY: case K_ELU: return fmax(1, c);
    case K_SIGMOID: return 0.25;
    case K_HSIGMOID: return c;
    case K_HSWISH: return 1.5;   /* (2x + 3) / 6 on [-3, 3] */
    case K_GELU: return 1.13;    /* sup |Phi(x) + x phi(x)| = 1.1289 */
    case K_MUL: return c;
    case K_DIV: return it->var ? (m > 0 ? c / (m * m) : INFINITY) : 1 / c;
    case K_EXP: return exp(hi);
    case K_SQRT: return lo > 0 ? 0.5 / sqrt(lo) : INFINITY;
    case K_LOG: return lo > 0 ? 1 / lo : INFINITY;
    case K_RECIP: return m > 0 ? 1 / (m * m) : INFINITY;
    default: return 1;           /* Relu, Clip, Tanh, Add, Sub, Abs, Neg, Softplus, QDQ */
    }
}

/* Draws the item's parameters for an input in x; false when the kind does not fit. */
static bool draw(gen *G, item *it, iv x)
{
    double w = x.hi - x.lo;
    it->var = 0;
    it->a = it->b = 0;
    switch (it->k) {
    case K_LEAKY: it->a = rnd(0, 7) ? distinct(G, 0.02, 0.98, false) : distinct(G, 1.1, 2, false); break;
    case K_ELU: it->a = distinct(G, 0.1, 2, false); break;
    case K_CLIP: /* bounds inside the range, so that both sides clip */
        if (w < 0.05)
            return false;
        it->var = rnd(1, 3);
        it->a = distinct(G, x.lo + 0.05 * w, x.lo + 0.5 * w, false);
        it->b = distinct(G, x.lo + 0.55 * w, x.hi, false);
        return it->a < it->b;
    case K_HSIGMOID: it->a = distinct(G, 0.05, 0.9, false); it->b = distinct(G, 0.1, 0.9, false); break;
    case K_GELU: it->var = rnd(0, 3); break;
    case K_HSWISH: it->var = rnd(0, 3); break;
    case K_ADD: case K_SUB: it->var = rnd(0, 1); it->a = distinct(G, 0.1, 2, true); break;
    case K_MUL: it->var = rnd(0, 1); it->a = distinct(G, 0.5, 2, true); break;
    case K_DIV:
        it->var = (x.lo >= 0.25 || x.hi <= -0.25) && rnd(0, 1);
        it->a = distinct(G, it->var ? 0.1 : 0.5, 2, true);
        break;
    case K_QDQ: /* sometimes narrower than the range: saturation */
        it->a = x.lo + (rnd(0, 2) ? 0 : 0.2 * w);
        it->b = x.hi - (rnd(0, 2) ? 0 : 0.2 * w);
        break;
    default: break;
    }
    return !isnan(it->a) && !isnan(it->b);
}

/* Builds the item's nodes after value x; returns the output. */
static int build_item(gen *G, item *it, int x)
{
    gb *b = G->b;
    static const char *const bin[] = { "Add", "Sub", "Mul", "Div" };
    int c, in[3];
    switch (it->k) {
    case K_LEAKY: case K_ELU:
        x = op1(b, kind_op[it->k], x);
        attr_f(b, "alpha", (float)it->a);
        return x;
    case K_HSIGMOID:
        x = op1(b, "HardSigmoid", x);
        attr_f(b, "alpha", (float)it->a);
        attr_f(b, "beta", (float)it->b);
        return x;
    case K_CLIP:
        in[0] = x;
        in[1] = it->var & 1 ? gb_scalar(b, LP_F32, it->a) : -1;
        in[2] = it->var & 2 ? gb_scalar(b, LP_F32, it->b) : -1;
        return gb_op(b, "Clip", it->var & 2 ? 3 : 2, in);
    case K_GELU: { /* the forms exporters write: x * 0.5 * (1 + erf(x / sqrt 2)) */
        int h = it->var & 1 ? op2(b, "Mul", x, gb_scalar(b, LP_F32, sqrt(0.5)))
                            : op2(b, "Div", x, gb_scalar(b, LP_F32, sqrt(2.0)));
        int e1 = op2(b, "Add", op1(b, "Erf", h), gb_scalar(b, LP_F32, 1.0));
        if (it->var & 2)
            return op2(b, "Mul", x, op2(b, "Mul", e1, gb_scalar(b, LP_F32, 0.5)));
        return op2(b, "Mul", op2(b, "Mul", x, e1), gb_scalar(b, LP_F32, 0.5));
    }
    case K_HSWISH: /* the op, or as Paddle and PyTorch (opset < 14) export it */
        if (it->var == 0)
            return op1(b, "HardSwish", x);
        if (it->var == 3) {
            int h = op1(b, "HardSigmoid", x);
            attr_f(b, "alpha", 1.f / 6);
            attr_f(b, "beta", 0.5f);
            return op2(b, "Mul", h, x);
        }
        in[0] = it->var == 1 ? op2(b, "Add", x, gb_scalar(b, LP_F32, 3)) : op2(b, "Add", gb_scalar(b, LP_F32, 3), x);
        in[1] = gb_scalar(b, LP_F32, 0);
        in[2] = gb_scalar(b, LP_F32, 6);
        c = gb_op(b, "Clip", 3, in);
        return it->var == 1 ? op2(b, "Div", op2(b, "Mul", x, c), gb_scalar(b, LP_F32, 6))
                            : op2(b, "Mul", op2(b, "Mul", c, x), gb_scalar(b, LP_F32, 1.0 / 6));
    case K_ADD: case K_SUB: case K_MUL: case K_DIV:
        c = gb_scalar(b, LP_F32, it->a);
        return it->var ? op2(b, bin[it->k - K_ADD], c, x) : op2(b, bin[it->k - K_ADD], x, c);
    case K_QDQ: /* over [a, b]; then [a, b] is the representable range */
        return qdq(G, x, it->a, it->b, &it->s, &it->a, &it->b);
    default:
        return op1(b, kind_op[it->k], x);
    }
}

#define MAX_ITEMS 7

typedef struct chain {
    int n;
    item it[MAX_ITEMS];
    iv range[MAX_ITEMS + 1];            /* y_i lies in range[i] (0: the leader's output) */
    int val[MAX_ITEMS + 1];             /* y_i's value */
    double S;                           /* the leader's accumulated magnitudes */
    char desc[768];
} chain;

static bool kind_available[N_KIND];

static const char *item_str(const item *it, char *buf, size_t len)
{
    static const char *const bin[] = { "Add", "Sub", "Mul", "Div" };
    switch (it->k) {
    case K_LEAKY: case K_ELU: snprintf(buf, len, "%s(%g)", kind_op[it->k], it->a); break;
    case K_HSIGMOID: snprintf(buf, len, "HardSigmoid(%g,%g)", it->a, it->b); break;
    case K_CLIP:
        snprintf(buf, len, "Clip(%s%g,%s%g)", it->var & 1 ? "" : "no ", it->a, it->var & 2 ? "" : "no ", it->b);
        break;
    case K_GELU: snprintf(buf, len, "GELU(form %d)", it->var); break;
    case K_HSWISH: snprintf(buf, len, "HardSwish(form %d)", it->var); break;
    case K_ADD: case K_SUB: case K_MUL: case K_DIV:
        if (it->var)
            snprintf(buf, len, "%s(%g,y)", bin[it->k - K_ADD], it->a);
        else
            snprintf(buf, len, "%s(y,%g)", bin[it->k - K_ADD], it->a);
        break;
    case K_QDQ: snprintf(buf, len, "QDQ(step %g, %g..%g)", it->s, it->a, it->b); break;
    default: snprintf(buf, len, "%s", kind_op[it->k]); break;
    }
    return buf;
}

/* A random graph: leader + chain, the last value (and sometimes others) as outputs. */
static void gen_chain(gen *G, leader L, chain *ch)
{
    char ld[160], buf[96];
    ch->val[0] = build_leader(G, L, &ch->S, ld, sizeof ld);
    ch->range[0] = (iv){ -ch->S, ch->S };
    ch->n = rnd(1, MAX_ITEMS);
    size_t len = (size_t)snprintf(ch->desc, sizeof ch->desc, "%s", ld);
    if (rnd(0, 15) == 0) {
        gb_output(G->b, ch->val[0]);
        len += (size_t)snprintf(ch->desc + len, sizeof ch->desc - len, " [out]");
    }
    for (int i = 0; i < ch->n; i++) {
        item *it = &ch->it[i];
        do /* Relu always fits */
            it->k = (kind)rnd(0, N_KIND - 1);
        while (!kind_available[it->k] || !kind_ok(G->m, it->k, ch->range[i]) || !draw(G, it, ch->range[i]));
        ch->val[i + 1] = build_item(G, it, ch->val[i]);
        ch->range[i + 1] = apply(it, ch->range[i]);
        bool out = i == ch->n - 1 || rnd(0, 7) == 0;
        if (out)
            gb_output(G->b, ch->val[i + 1]);
        if (len < sizeof ch->desc)
            len += (size_t)snprintf(ch->desc + len, sizeof ch->desc - len, " -> %s%s", item_str(it, buf, sizeof buf),
                                    out && i < ch->n - 1 ? " [out]" : "");
    }
}

/* ---- running and comparing ---- */

/* What check_chain's reference tap and bounds share. */
typedef struct chain_ctx {
    gen *G;
    chain *ch;
    double *mag;                        /* per value of the reference plan: max|value|, tapped */
} chain_ctx;

static lp_status tap_max(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t)
{
    (void)node;
    chain_ctx *c = user;
    if (!c->mag && !(c->mag = calloc((size_t)plan->g->n_values, sizeof *c->mag)))
        return LOWP_ERR_OUT_OF_MEMORY;
    if (t->dtype == LP_F32)
        c->mag[value] = gb_max_abs(t);
    return LP_OK;
}

/* E_i (the header's bound, carried along the chain) of the chain value that is output o. */
static double chain_bound(void *user, const lp_plan *pr, int o)
{
    chain_ctx *c = user;
    const gen *G = c->G;
    const chain *ch = c->ch;
    const lp_graph *g = G->b->g;
    double u = G->m == M_BF16 ? U_BF16 : U_F32, M_prev = 0, E = 0;
    for (int i = 0; i <= ch->n; i++) {
        int pv = lp_graph_find_value(pr->g, g->values[ch->val[i]].name);
        double M = pv >= 0 && c->mag && c->mag[pv] > 0 ? c->mag[pv] : fmax(fabs(ch->range[i].lo), fabs(ch->range[i].hi));
        if (i == 0) {
            E = TOL_ACC * ch->S + (G->m == M_BF16 ? U_BF16 * M : 0);
        } else {
            const item *it = &ch->it[i - 1];
            double k = it->k >= K_ADD && it->k <= K_DIV ? fabs(it->a) : 0;
            E = lipschitz(it, ch->range[i - 1], E) * E + u * fmax(fmax(M_prev, M), k) + (it->k == K_QDQ ? it->s : 0);
        }
        M_prev = M;
        if (ch->val[i] == g->outputs[o])
            return E;
    }
    return 0; /* not a chain value: none are made */
}

static void print_plan(const lp_plan *p)
{
    char buf[256];
    for (int s = 0; s < p->n_steps; s++)
        printf("    %s\n", lp_plan_step_str(p, s, buf, sizeof buf));
}

typedef struct stats {
    int chains, failed, fused2;         /* fused2: a oneDNN step took the leader and >= 2 more ops */
    double worst;                       /* largest error / bound */
} stats;

/* Compiles the graph for the reference kernels and for all backends, runs both, and checks
 * every output against the error bound carried along the chain. */
static void check_chain(gen *G, chain *ch, stats *st)
{
    chain_ctx c = { G, ch, NULL };
    lp_plan_options fo = lp_plan_options_default();
    fo.precision = G->m == M_BF16 ? LP_BF16 : LP_F32;
    gb_compare_opt opt = { .fast = &fo, .ref_tap = tap_max, .ref_tap_user = &c, .out_atol = chain_bound,
                           .out_atol_user = &c };
    char what[800];
    snprintf(what, sizeof what, "%s %s", mode_name[G->m], ch->desc);
    lp_plan *pf = NULL;
    st->chains++;
    bool ok = gb_compare_plans(what, G->b, 0, &opt, &pf); /* tol 0: the bound is chain_bound's, absolute */
    st->worst = fmax(st->worst, opt.worst);
    int longest = 0;
    for (int s = 0; pf && s < pf->n_steps; s++)
        if (pf->steps[s].kernel == &lp_kernel_dnnl)
            longest = pf->steps[s].n_nodes > longest ? pf->steps[s].n_nodes : longest;
    st->fused2 += longest >= 3;
    if (!ok) {
        st->failed++;
        if (pf && (verbose || st->failed <= 3))
            print_plan(pf);
    }
    free(c.mag);
    lp_plan_free(pf);
}

static void run_mode(mode m)
{
    if (m == M_BF16 && !lp_dnnl_bf16_supported()) {
        printf("  bf16: the CPU has no BF16 instructions; skipped\n");
        return;
    }
    for (leader L = 0; L < N_LEADER; L++) {
        stats st = { 0 };
        for (int t = 0; t < n_chains && st.failed < 10; t++) {
            gen G = { .m = m, .b = gb_new(13) };
            chain ch;
            gen_chain(&G, L, &ch);
            check_chain(&G, &ch, &st);
            gb_free(G.b);
        }
        printf("  %s %-13s %d chains, %d failed, %d fused >= 2 ops, worst error/bound %.3g\n", mode_name[m],
               leader_name[L], st.chains, st.failed, st.fused2, st.worst);
        /* the test is about fusion: most chains must have fused */
        CHECK_MSG(st.fused2 * 4 >= st.chains, "%s %s: only %d of %d chains fused two ops or more", mode_name[m],
                  leader_name[L], st.fused2, st.chains);
    }
}

/* The decomposed HardSwish forms are claimed: Conv (FP32, and INT8 with a QDQ tail) then the
 * form is one oneDNN step holding every node, within the bound against the reference; a near
 * miss (Div by 5, Clip to 5, Add of 2) is not: the Conv stays alone (its output has two
 * readers). The random chains check the values; this checks the claim. */
static void test_hswish_claimed(void)
{
    for (int m = M_F32; m <= M_INT8; m += M_INT8 - M_F32) {
        for (int form = 1; form <= 6; form++) {
            gen G = { .m = (mode)m, .b = gb_new(13) };
            gb *b = G.b;
            chain ch = { .n = 1 };
            char ld[160];
            bool miss = form > 3;
            ch.val[0] = build_leader(&G, L_CONV, &ch.S, ld, sizeof ld);
            int x = ch.val[0], y, in[3];
            if (!miss) {
                ch.it[0] = (item){ .k = K_HSWISH, .var = form };
                y = build_item(&G, &ch.it[0], x);
            } else {
                in[0] = op2(b, "Add", x, gb_scalar(b, LP_F32, form == 6 ? 2 : 3));
                in[1] = gb_scalar(b, LP_F32, 0);
                in[2] = gb_scalar(b, LP_F32, form == 5 ? 5 : 6);
                y = op2(b, "Div", op2(b, "Mul", x, gb_op(b, "Clip", 3, in)), gb_scalar(b, LP_F32, form == 4 ? 5 : 6));
            }
            float qs = 0;
            double qlo = 0, qhi = 0;
            ch.val[1] = y;
            if (m == M_INT8)
                y = qdq(&G, y, -1, 4, &qs, &qlo, &qhi);
            gb_output(b, y);
            const lp_tensor *feed[GB_MAX_FEED];
            for (int i = 0; i < b->n_feed; i++)
                feed[i] = b->feed[i];
            lp_plan_options fo = lp_plan_options_default();
            lp_plan *pf = NULL;
            CHECK_OK(lp_plan_compile_opt(b->g, feed, &fo, &pf));
            int conv_step = -1, n_nodes = 0;
            for (int st = 0; pf && st < pf->n_steps; st++)
                if (pf->g->nodes[pf->steps[st].node].op == LP_OP_Conv)
                    conv_step = st, n_nodes = pf->steps[st].n_nodes;
            int want = miss ? 1 : (form == 3 ? 3 : 5) + (m == M_INT8 ? 2 : 0);
            CHECK_MSG(conv_step >= 0 && pf->steps[conv_step].kernel == &lp_kernel_dnnl && n_nodes == want,
                      "%s HardSwish form %d: the Conv step holds %d nodes, want %d", mode_name[m], form, n_nodes,
                      want);
            lp_plan_free(pf);
            if (!miss) { /* and its values */
                stats st = { 0 };
                if (m == M_INT8) { /* the QDQ tail as the chain's second item */
                    ch.n = 2;
                    ch.it[1] = (item){ .k = K_QDQ, .a = qlo, .b = qhi, .s = qs };
                }
                ch.range[0] = (iv){ -ch.S, ch.S };
                for (int i = 0; i < ch.n; i++)
                    ch.range[i + 1] = apply(&ch.it[i], ch.range[i]);
                ch.val[ch.n] = y;
                snprintf(ch.desc, sizeof ch.desc, "%s -> HardSwish(form %d)", ld, form);
                check_chain(&G, &ch, &st);
                CHECK_MSG(st.failed == 0, "%s HardSwish form %d: values", mode_name[m], form);
            }
            gb_free(b);
        }
    }
}

static void test_fp32(void) { run_mode(M_F32); }
static void test_bf16(void) { run_mode(M_BF16); }
static void test_int8(void) { run_mode(M_INT8); }

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    lp_test_seed(&rng_state);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n_chains = atoi(argv[++i]);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 0);
    }
    for (int k = 0; k < N_KIND; k++)
        kind_available[k] = lp_op_find("", kind_op[k]) >= 0;
    RUN(test_fp32);
    RUN(test_bf16);
    RUN(test_int8);
    RUN(test_hswish_claimed);
    return TEST_SUMMARY("test_fusion_random");
}
