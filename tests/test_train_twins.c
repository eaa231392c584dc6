/* test_train_twins.c — the training layer's oneDNN fast paths (src/train/dnnl_*.c) against
 * their reference twins (LOWP_KERNELS=reference) on random shapes: the forward's outputs, the
 * running statistics it moves, and the gradients of every input and parameter, after one
 * backward (gradients written fresh) and after a second one (gradients added to). Also: the
 * fast path gives bitwise the same results twice (determinism for a seed and thread count).
 * test_train_grad.c holds both paths against finite differences; this catches what finite
 * differences at 24 points would miss (a wrong tap at an edge, a dropped accumulation).
 *
 * Shapes are larger than test_train_grad's (channels up to 24, planes up to 12x12) so oneDNN
 * takes its jit kernels (blocked layouts, reorders) rather than small-case fallbacks. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "graph_builder.h"
#include "train/tape.h"
#include "train_test.h"

static uint64_t rng_state;
static int irand(int lo, int hi) { return lo + (int)(lowp_random_next(&rng_state) % (uint64_t)(hi - lo + 1)); }

static lp_tensor *randt(int nd, const int64_t *dims, double lo, double hi)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LP_F32, nd, dims, &t));
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)(lo + (hi - lo) * lowp_random_uniform(&rng_state));
    return t;
}

/* Distinct values in random order: max pooling has no ties, so both twins pick one tap. (The
 * uniform draws of randt come first: they are part of this test's random sequence.) */
static lp_tensor *distinct(int nd, const int64_t *dims)
{
    lp_tensor *t = randt(nd, dims, 0, 1);
    train_test_distinct(t, 0.01, &rng_state);
    return t;
}

static int feed(gb *b, int nd, const int64_t *dims) { return gb_feed(b, randt(nd, dims, -1, 1)); }
static int param(gb *b, int nd, const int64_t *dims) { return gb_tensor(b, randt(nd, dims, -1, 1)); }

/* ---- cases ---- */

static int conv(gb *b, int x, int64_t C, int64_t M, int64_t k, int64_t s, int64_t p, int64_t d, int64_t group,
                bool bias)
{
    int64_t dw[4] = { M, C / group, k, k }, db[1] = { M };
    int in[3] = { x, param(b, 4, dw), bias ? param(b, 1, db) : -1 };
    int y = gb_op(b, "Conv", bias ? 3 : 2, in);
    int64_t ks[2] = { k, k }, st[2] = { s, s }, dl[2] = { d, d }, pads[4] = { p, p, p, p };
    attr_ints(b, "kernel_shape", 2, ks);
    attr_ints(b, "strides", 2, st);
    attr_ints(b, "dilations", 2, dl);
    attr_ints(b, "pads", 4, pads);
    attr_i(b, "group", group);
    return y;
}

static void case_conv(gb *b)
{
    static const int64_t cs[] = { 1, 3, 8, 16, 19 }, ms[] = { 4, 16, 24 };
    int64_t group = irand(1, 2), C = cs[irand(0, 4)] * group, M = ms[irand(0, 2)] * group;
    int64_t k = irand(0, 1) ? 3 : 1, d = k > 1 ? irand(1, 2) : 1, H = irand(5, 12), W = irand(5, 12);
    int64_t dx[4] = { irand(1, 4), C, H, W };
    gb_output(b, conv(b, feed(b, 4, dx), C, M, k, irand(1, 2), irand(0, 1), d, group, irand(0, 1)));
}

/* Conv -> Relu -> Conv -> Add(residual) -> Relu: the residual's gradient arrives twice (the
 * second contribution is added to the first), the chain's activations stay between primitives. */
static void case_block(gb *b)
{
    int64_t C = irand(0, 1) ? 16 : 8, dx[4] = { irand(1, 3), C, irand(6, 10), irand(6, 10) };
    int x = feed(b, 4, dx);
    int r = op1(b, "Relu", conv(b, x, C, C, 3, 1, 1, 1, 1, true));
    int y = conv(b, op1(b, "Relu", conv(b, r, C, C, 3, 1, 1, 1, 1, true)), C, C, 3, 1, 1, 1, 1, true);
    gb_output(b, op1(b, "Relu", op2(b, "Add", y, r)));
}

/* A residual block as resnet_s has them: x -> Conv -> Relu -> Conv, x -> Conv (1x1, the
 * shortcut), Add, Relu, then a Conv and a Relu. Between the first Conv and the last one every
 * activation stays in oneDNN's blocked layout on the fast path (tape.c's layouts): the Relus
 * and the Add run on the blocked buffers, forward and backward. */
static void case_resblock(gb *b)
{
    int64_t C = irand(0, 1) ? 16 : 8, M = irand(0, 1) ? 32 : 16, s = irand(1, 2);
    int64_t dx[4] = { irand(1, 3), C, irand(6, 11), irand(6, 11) };
    int x = feed(b, 4, dx);
    int h = conv(b, op1(b, "Relu", conv(b, x, C, M, 3, s, 1, 1, 1, true)), M, M, 3, 1, 1, 1, 1, true);
    int r = op1(b, "Relu", op2(b, "Add", h, conv(b, x, C, M, 1, s, 0, 1, 1, irand(0, 1))));
    gb_output(b, op1(b, "Relu", conv(b, r, M, M, 3, 1, 1, 1, 1, true)));
}

/* mobilenet-style: Conv -> Clip(0, 6) -> depthwise Conv -> Clip -> Conv; the Clips (reference
 * loops, no oneDNN twin) run on the blocked buffers between the convolutions */
static void case_clipchain(gb *b)
{
    int64_t C = 16, dx[4] = { irand(1, 3), 8, irand(6, 10), irand(6, 10) };
    int lo = gb_scalar(b, LP_F32, 0), hi = gb_scalar(b, LP_F32, 0.5);
    int in1[3] = { conv(b, feed(b, 4, dx), 8, C, 3, 1, 1, 1, 1, true), lo, hi };
    int in2[3] = { conv(b, gb_op(b, "Clip", 3, in1), C, C, 3, irand(1, 2), 1, 1, C, true), lo, hi };
    gb_output(b, conv(b, gb_op(b, "Clip", 3, in2), C, 8, 1, 1, 0, 1, 1, true));
}

static int bn(gb *b, int x, int64_t C)
{
    int64_t dc[1] = { C };
    int in[5] = { x, param(b, 1, dc), param(b, 1, dc), param(b, 1, dc), gb_tensor(b, randt(1, dc, 0.5, 1.5)) };
    int y = gb_op(b, "BatchNormalization", 5, in);
    attr_f(b, "epsilon", 1e-3f);
    attr_f(b, "momentum", 0.8f);
    return y;
}

/* an unfolded training graph: Conv -> BatchNormalization -> Relu -> Conv -> BatchNormalization;
 * the first BatchNormalization runs on the blocked activations and keeps them blocked, the last
 * one's output is the graph's (plain) */
static void case_convbn(gb *b)
{
    int64_t C = irand(0, 1) ? 16 : 8, M = irand(0, 1) ? 32 : 16;
    int64_t dx[4] = { irand(2, 3), C, irand(5, 10), irand(5, 10) };
    int h = op1(b, "Relu", bn(b, conv(b, feed(b, 4, dx), C, M, 3, 1, 1, 1, 1, false), M));
    gb_output(b, bn(b, conv(b, h, M, M, 3, irand(1, 2), 1, 1, 1, false), M));
}

static void unary(gb *b, const char *op, double lo, double hi)
{
    int64_t d[3] = { irand(1, 4), irand(1, 17), irand(1, 40) };
    gb_output(b, op1(b, op, gb_feed(b, randt(3, d, lo, hi))));
}
static void case_relu(gb *b) { unary(b, "Relu", -2, 2); }
static void case_leakyrelu(gb *b)
{
    unary(b, "LeakyRelu", -2, 2);
    attr_f(b, "alpha", 0.15f);
}
static void case_sigmoid(gb *b) { unary(b, "Sigmoid", -4, 4); }
static void case_tanh(gb *b) { unary(b, "Tanh", -3, 3); }
static void case_exp(gb *b) { unary(b, "Exp", -2, 2); }
static void case_log(gb *b) { unary(b, "Log", 0.1, 3); }

static void pool(gb *b, const char *op)
{
    int64_t k = irand(1, 3), dx[4] = { irand(1, 3), irand(1, 20), irand(k + 1, 12), irand(k + 1, 12) };
    gb_output(b, op1(b, op, gb_feed(b, distinct(4, dx))));
    int64_t ks[2] = { k, k }, st[2] = { irand(1, 2), irand(1, 2) }, p = k > 1 ? irand(0, 1) : 0;
    int64_t pads[4] = { p, p, p, p };
    attr_ints(b, "kernel_shape", 2, ks);
    attr_ints(b, "strides", 2, st);
    attr_ints(b, "pads", 4, pads);
    attr_i(b, "ceil_mode", irand(0, 1));
    if (!strcmp(op, "AveragePool"))
        attr_i(b, "count_include_pad", irand(0, 1));
}
static void global_pool(gb *b, const char *op)
{
    int nsp = irand(1, 2);
    int64_t dx[4] = { irand(1, 4), irand(1, 40), irand(1, 12), irand(1, 12) };
    gb_output(b, op1(b, op, gb_feed(b, distinct(2 + nsp, dx))));
}
static void case_gap(gb *b) { global_pool(b, "GlobalAveragePool"); }
static void case_gmp(gb *b) { global_pool(b, "GlobalMaxPool"); }
static void case_maxpool(gb *b) { pool(b, "MaxPool"); }
static void case_avgpool(gb *b) { pool(b, "AveragePool"); }

static void case_bn(gb *b)
{
    int64_t C = irand(1, 24), dx[4] = { irand(2, 4), C, irand(1, 9), irand(1, 9) }, dc[1] = { C };
    int in[5] = { feed(b, 4, dx), param(b, 1, dc), param(b, 1, dc), param(b, 1, dc),
                  gb_tensor(b, randt(1, dc, 0.5, 1.5)) };
    gb_output(b, gb_op(b, "BatchNormalization", 5, in));
    attr_f(b, "epsilon", 1e-3f);
    attr_f(b, "momentum", 0.8f);
}

static void softmax(gb *b, const char *op)
{
    int64_t d[3] = { irand(1, 5), irand(2, 30), irand(1, 6) };
    gb_output(b, op1(b, op, feed(b, 3, d)));
    attr_i(b, "axis", irand(-1, 2));
}
static void case_softmax(gb *b) { softmax(b, "Softmax"); }
static void case_logsoftmax(gb *b) { softmax(b, "LogSoftmax"); }

static void case_gemm(gb *b)
{
    int64_t M = irand(1, 64), K = irand(1, 70), N = irand(1, 40);
    int tb = irand(0, 1), bias = irand(0, 2);
    int64_t da[2] = { M, K }, db[2] = { tb ? N : K, tb ? K : N }, dc[2] = { 1, N };
    int in[3] = { feed(b, 2, da), param(b, 2, db), bias ? param(b, bias, dc + 2 - bias) : -1 };
    gb_output(b, gb_op(b, "Gemm", bias ? 3 : 2, in));
    attr_i(b, "transB", tb);
}

/* over the last axis (a transformer's), or the last two; with or without B */
static void case_layernorm(gb *b)
{
    int64_t d[3] = { irand(1, 4), irand(1, 17), irand(2, 64) };
    int ax = irand(0, 3) ? 2 : 1, bias = irand(0, 2) > 0;
    int in[3] = { feed(b, 3, d), param(b, 3 - ax, d + ax), bias ? param(b, 3 - ax, d + ax) : -1 };
    gb_output(b, gb_op(b, "LayerNormalization", bias ? 3 : 2, in));
    attr_i(b, "axis", ax);
    attr_f(b, "epsilon", 1e-4f);
}

/* a transformer's products: (B, T, K) x a (K, N) weight, or batched on both sides (attention) */
static void case_matmul(gb *b)
{
    int64_t B0 = irand(1, 4), T = irand(1, 20), K = irand(1, 48), N = irand(1, 40);
    if (irand(0, 1)) {
        int64_t da[3] = { B0, T, K }, dw[2] = { K, N };
        gb_output(b, op2(b, "MatMul", feed(b, 3, da), param(b, 2, dw)));
    } else {
        int64_t da[4] = { B0, 2, T, K }, db[4] = { B0, 2, K, N };
        gb_output(b, op2(b, "MatMul", feed(b, 4, da), feed(b, 4, db)));
    }
}

/* ConvTranspose (2-D) as a decoder has it: channels in blocks of 8 or 16 or odd ones, groups,
 * strides, dilations, output_padding, a bias or not, explicit pads or output_shape */
static void case_convtranspose(gb *b)
{
    static const int64_t cs[] = { 3, 8, 16 }, ms[] = { 1, 8, 16 };
    int64_t group = irand(1, 2), C = cs[irand(0, 2)] * group, Mg = ms[irand(0, 2)], k = irand(1, 4);
    int64_t s = irand(1, 2), d = k > 1 ? irand(1, 2) : 1, op = irand(0, (int)s - 1), dk = (k - 1) * d + 1;
    int64_t p = irand(0, (int)(dk - 1) / 2), H = irand(2, 9), W = irand(2, 9);
    int64_t dx[4] = { irand(1, 3), C, H, W }, dw[4] = { C, Mg, k, k }, dbias[1] = { Mg * group };
    int64_t ks[2] = { k, k }, st[2] = { s, s }, dl[2] = { d, d }, ops[2] = { op, op }, pads[4] = { p, p, p, p };
    int bias = irand(0, 1);
    int in[3] = { feed(b, 4, dx), param(b, 4, dw), bias ? param(b, 1, dbias) : -1 };
    gb_output(b, gb_op(b, "ConvTranspose", bias ? 3 : 2, in));
    attr_ints(b, "kernel_shape", 2, ks);
    attr_ints(b, "strides", 2, st);
    attr_ints(b, "dilations", 2, dl);
    attr_ints(b, "output_padding", 2, ops);
    attr_ints(b, "pads", 4, pads);
    attr_i(b, "group", group);
}

/* numpy broadcasting (the batched matmul with the gradients summed over what broadcast): each
 * batch dim 1 on one side or both, ranks 2 to 4, or a 1-D operand */
static void case_matmul_bcast(gb *b)
{
    int64_t bd[2] = { irand(1, 4), irand(1, 3) }, M = irand(1, 20), K = irand(1, 48), N = irand(1, 40);
    int64_t da[4] = { irand(0, 1) ? bd[0] : 1, irand(0, 1) ? bd[1] : 1, M, K };
    int64_t db[4] = { irand(0, 1) ? bd[0] : 1, irand(0, 1) ? bd[1] : 1, K, N };
    int ra = irand(1, 4), rb = irand(2, 4); /* ra 1: A a vector (K) */
    gb_output(b, op2(b, "MatMul", feed(b, ra, da + 4 - ra), irand(0, 1) ? feed(b, rb, db + 4 - rb)
                                                                          : param(b, rb, db + 4 - rb)));
}

/* Gemm's forms other than the inner product: transA, alpha, C broadcast any way, beta */
static void case_gemm_forms(gb *b)
{
    int64_t M = irand(1, 64), K = irand(1, 70), N = irand(1, 40);
    int ta = irand(0, 1), tb = irand(0, 1), rc = irand(0, 2);
    int64_t da[2] = { ta ? K : M, ta ? M : K }, db[2] = { tb ? N : K, tb ? K : N };
    int64_t dc[2] = { irand(0, 1) ? M : 1, irand(0, 1) ? N : 1 };
    int in[3] = { feed(b, 2, da), param(b, 2, db), rc ? param(b, rc, dc + 2 - rc) : -1 };
    gb_output(b, gb_op(b, "Gemm", rc ? 3 : 2, in));
    attr_i(b, "transA", ta);
    attr_i(b, "transB", tb);
    attr_f(b, "alpha", irand(0, 1) ? 0.5f : 1.0f);
    attr_f(b, "beta", irand(0, 1) ? 2.0f : 1.0f);
}

typedef struct twin_case {
    const char *name;
    void (*build)(gb *b);
    int opset;
    bool training;
} twin_case;

static const twin_case cases[] = {
    { "Conv", case_conv, 17, true },          { "block", case_block, 17, true },
    { "resblock", case_resblock, 17, true },  { "clipchain", case_clipchain, 17, true },
    { "convbn", case_convbn, 17, true },
    { "Relu", case_relu, 17, true },          { "LeakyRelu", case_leakyrelu, 17, true },
    { "Sigmoid", case_sigmoid, 17, true },    { "Tanh", case_tanh, 17, true },
    { "Exp", case_exp, 17, true },            { "Log", case_log, 17, true },
    { "MaxPool", case_maxpool, 17, true },    { "AveragePool", case_avgpool, 17, true },
    { "GlobalAveragePool", case_gap, 17, true }, { "GlobalMaxPool", case_gmp, 17, true },
    { "BatchNormalization", case_bn, 17, true }, { "LayerNormalization", case_layernorm, 17, true },
    { "Softmax", case_softmax, 17, true },    { "LogSoftmax", case_logsoftmax, 17, true },
    { "Softmax", case_softmax, 11, true },    { "LogSoftmax", case_logsoftmax, 11, true },
    { "Gemm", case_gemm, 17, true },          { "MatMul", case_matmul, 17, true },
    { "Gemm forms", case_gemm_forms, 17, true }, { "MatMul broadcast", case_matmul_bcast, 17, true },
    { "ConvTranspose", case_convtranspose, 17, true },
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- running a case ---- */

#define MAX_T 96

typedef struct result {
    int n;
    lp_tensor *t[MAX_T];
    char what[MAX_T][48];
} result;

static void keep(result *r, const char *what, int k, const lp_tensor *t)
{
    CHECK(t != NULL && r->n < MAX_T);
    if (!t || r->n >= MAX_T)
        return;
    snprintf(r->what[r->n], sizeof r->what[r->n], "%s %d", what, k);
    CHECK_OK(lp_tensor_clone(t, &r->t[r->n++]));
}

/* Builds case c from `seed`, runs forward, backward, backward again; keeps the outputs, the
 * float constants (running statistics move), and every gradient after each backward. */
static void run_case(const twin_case *c, uint64_t seed, bool fast, result *r)
{
    if (fast)
        unsetenv("LOWP_KERNELS");
    else
        setenv("LOWP_KERNELS", "reference", 1);
    memset(r, 0, sizeof *r);
    rng_state = seed;
    gb *b = gb_new(c->opset);
    c->build(b);
    lp_tape *t = NULL;
    lp_tape_options o = { .grad_inputs = true };
    CHECK_OK(lp_tape_create(b->g, &o, &t));
    if (!t) {
        gb_free(b);
        return;
    }
    CHECK_OK(lp_tape_forward(t, b->feed, c->training, 42));
    int y = b->g->outputs[0];
    const lp_tensor *yt = lp_tape_value(t, y);
    keep(r, "output", 0, yt);
    /* every intermediate too: those kept in oneDNN layouts come back plain (lp_tape_value) */
    for (int ni = 0; ni < b->g->n_nodes; ni++)
        if (b->g->nodes[ni].out[0] != y)
            keep(r, "intermediate of node", ni, lp_tape_value(t, b->g->nodes[ni].out[0]));
    for (int v = 0; v < b->g->n_values; v++)
        if (b->g->values[v].kind == LP_VALUE_CONST && b->g->values[v].init && b->g->values[v].init->dtype == LP_F32)
            keep(r, "constant", v, b->g->values[v].init);
    lp_tensor *R = yt ? randt(yt->ndim, yt->dims, -1, 1) : NULL;
    const lp_tensor *Rc = R;
    for (int pass = 0; pass < 2 && R; pass++) {
        CHECK_OK(lp_tape_backward(t, 1, &y, &Rc));
        for (int i = 0; i < b->g->n_inputs; i++)
            keep(r, pass ? "input grad (added)" : "input grad", i, lp_tape_grad(t, b->g->inputs[i]));
        for (int i = 0; i < lp_tape_n_params(t); i++)
            keep(r, pass ? "param grad (added)" : "param grad", i, lp_tape_grad(t, lp_tape_param(t, i)));
    }
    lp_tensor_free(R);
    lp_tape_free(t);
    gb_free(b);
    unsetenv("LOWP_KERNELS");
}

static void free_result(result *r)
{
    for (int i = 0; i < r->n; i++)
        lp_tensor_free(r->t[i]);
}

/* The two paths sum in other orders (oneDNN's blocked kernels split reductions by channel
 * blocks and threads; the loops go in index order, BatchNormalization's in double): float32
 * sums of the n <= ~2000 terms these shapes make differ by at most ~n * 6e-8 of the sum of
 * magnitudes, in practice sqrt(n) * 6e-8 ~ 3e-6 of it. 1e-4 of the tensor's largest
 * magnitude (at least 1) covers that with room and still fails a wrong tap, a missing term
 * or a dropped accumulation, each of which moves values by O(1e-2) or more. */
static void compare(const char *name, int inst, const result *f, const result *ref)
{
    CHECK_MSG(f->n == ref->n, "%s #%d: %d tensors on the fast path, %d on the reference", name, inst, f->n, ref->n);
    for (int i = 0; i < f->n && i < ref->n; i++) {
        const lp_tensor *a = f->t[i], *b = ref->t[i];
        CHECK_MSG(lp_tensor_numel(a) == lp_tensor_numel(b), "%s #%d: %s: sizes differ", name, inst, f->what[i]);
        if (lp_tensor_numel(a) != lp_tensor_numel(b))
            continue;
        double scale = 1;
        for (int64_t k = 0; k < lp_tensor_numel(b); k++)
            scale = fmax(scale, fabs(((const float *)b->data)[k]));
        int bad = 0;
        for (int64_t k = 0; k < lp_tensor_numel(a) && bad < 3; k++) {
            double x = ((const float *)a->data)[k], y = ((const float *)b->data)[k];
            if (!(fabs(x - y) <= 1e-4 * scale)) {
                bad++;
                CHECK_MSG(false, "%s #%d: %s [%lld]: fast %.7g, reference %.7g", name, inst, f->what[i], (long long)k,
                          x, y);
            }
        }
    }
}

static void test_fast_vs_reference(void)
{
    for (int c = 0; c < N_CASES; c++)
        for (int inst = 0; inst < 6; inst++) {
            uint64_t seed = 0x7e57 + 1000 * (uint64_t)c + (uint64_t)inst;
            result f, again, ref;
            run_case(&cases[c], seed, true, &f);
            run_case(&cases[c], seed, true, &again);
            run_case(&cases[c], seed, false, &ref);
            compare(cases[c].name, inst, &f, &ref);
            /* determinism: the same inputs, the same thread count, the same bits */
            CHECK_MSG(f.n == again.n, "%s #%d: two fast runs kept different tensors", cases[c].name, inst);
            for (int i = 0; i < f.n && i < again.n; i++)
                CHECK_MSG(f.t[i]->nbytes == again.t[i]->nbytes &&
                              !memcmp(f.t[i]->data, again.t[i]->data, f.t[i]->nbytes),
                          "%s #%d: %s differs between two fast runs", cases[c].name, inst, f.what[i]);
            free_result(&f);
            free_result(&again);
            free_result(&ref);
        }
}

/* Backward seeded at an intermediate (a residual block's Add output, kept blocked on the fast
 * path): the plain seed goes into the blocked gradient, the input's gradient matches the twin's. */
static void test_seed_at_intermediate(void)
{
    lp_tensor *gx[2] = { NULL, NULL };
    for (int fast = 0; fast < 2; fast++) {
        if (fast)
            unsetenv("LOWP_KERNELS");
        else
            setenv("LOWP_KERNELS", "reference", 1);
        rng_state = 0x5eed;
        gb *b = gb_new(17);
        case_resblock(b);
        int add = -1;
        for (int ni = 0; ni < b->g->n_nodes; ni++)
            if (!strcmp(b->g->nodes[ni].op_type, "Add"))
                add = b->g->nodes[ni].out[0];
        lp_tape *t = NULL;
        lp_tape_options o = { .grad_inputs = true };
        CHECK_OK(lp_tape_create(b->g, &o, &t));
        CHECK_OK(lp_tape_forward(t, b->feed, true, 42));
        const lp_tensor *a = lp_tape_value(t, add);
        CHECK(a != NULL);
        lp_tensor *R = a ? randt(a->ndim, a->dims, -1, 1) : NULL;
        const lp_tensor *Rc = R;
        if (R)
            CHECK_OK(lp_tape_backward(t, 1, &add, &Rc));
        const lp_tensor *g = lp_tape_grad(t, b->g->inputs[0]);
        CHECK(g != NULL);
        if (g)
            CHECK_OK(lp_tensor_clone(g, &gx[fast]));
        lp_tensor_free(R);
        lp_tape_free(t);
        gb_free(b);
    }
    unsetenv("LOWP_KERNELS");
    if (gx[0] && gx[1]) {
        result f = { .n = 1, .t = { gx[1] } }, ref = { .n = 1, .t = { gx[0] } };
        strcpy(f.what[0], "input grad");
        compare("seed at the Add", 0, &f, &ref);
    }
    lp_tensor_free(gx[0]);
    lp_tensor_free(gx[1]);
}

int main(void)
{
    RUN(test_fast_vs_reference);
    RUN(test_seed_at_intermediate);
    return TEST_SUMMARY("test_train_twins");
}
