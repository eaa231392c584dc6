/* test_dynamic_int8.c — dynamic INT8 where it pays: which weighted ops the dynamic export
 * quantizes (the multiply-adds per input element rule, src/quant/quantize.c), the form of its
 * ConvInteger weights (u8 around 128, no correction needed), and ConvInteger of one input
 * channel (an STFT) on the frames' 1x1 convolution (dnnl_frames.c) against the reference. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "ir/infer.h"
#include "graph_builder.h"
#include "lowp.h"
#include "onnx/model.h"
#include "quant/quantize.h"
#include "test.h"

static uint64_t rng_state = 0x5eed0d1a0123ULL;

static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng_state) % (uint64_t)(hi - lo + 1)); }
static double rndu(void) { return lowp_random_uniform(&rng_state); }

static lp_tensor *rand_f32(int nd, const int64_t *dims, double lo, double hi)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(LOWP_FLOAT, nd, dims, &t));
    for (int64_t i = 0; t && i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)(lo + (hi - lo) * rndu());
    return t;
}

static const char *node_name(gb *b) { return b->g->nodes[b->last_node].name; }

static const lp_node *find_node(const lp_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && strcmp(g->nodes[i].name, name) == 0)
            return &g->nodes[i];
    return NULL;
}

/* A graph of weighted ops on either side of the threshold (128 multiply-adds per input
 * element), each with its count worked out by hand: Conv M * k... / (group * strides...),
 * MatMul and Gemm the weight's N. The dynamic export quantizes exactly those at or above it;
 * with LOWP_DYNAMIC_MIN_MACS=0 all of them but the depthwise one (never quantized dynamically). */
static void test_dynamic_min_macs(void)
{
    struct op {
        char name[64];
        double macs;
        bool quantized, depthwise;
    } ops[8];
    memset(ops, 0, sizeof ops);
    int n_ops = 0;
    gb *b = gb_new(13);
    int64_t xd[3] = { 2, 64, 16 }, md[2] = { 4, 256 };
    int x = gb_feed(b, rand_f32(3, xd, -1, 1)), m = gb_feed(b, rand_f32(2, md, -1, 1));
    struct { int64_t M, C, k, group, stride; } convs[] = {
        { 16, 64, 1, 1, 1 },   /* 1x1, 16 out: 16 */
        { 64, 16, 3, 1, 1 },   /* k 3, 64 out: 192 */
        { 64, 64, 5, 64, 1 },  /* depthwise k 5: 5 */
        { 128, 64, 2, 1, 2 },  /* k 2 stride 2, 128 out: 128 -- at the threshold */
        { 96, 128, 2, 1, 2 },  /* k 2 stride 2, 96 out: 96 */
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        int64_t wd[3] = { convs[i].M, convs[i].C / convs[i].group, convs[i].k }, p = convs[i].k / 2;
        int in[2] = { x, gb_tensor(b, rand_f32(3, wd, -0.3, 0.3)) };
        x = gb_op(b, "Conv", 2, in);
        int64_t pads[2] = { convs[i].stride == 1 ? p : 0, convs[i].stride == 1 ? p : 0 };
        attr_i(b, "group", convs[i].group);
        attr_ints(b, "strides", 1, &convs[i].stride);
        attr_ints(b, "pads", 2, pads);
        snprintf(ops[n_ops].name, sizeof ops[n_ops].name, "%s", node_name(b));
        ops[n_ops].macs = (double)convs[i].M * convs[i].k / (double)(convs[i].group * convs[i].stride);
        ops[n_ops].quantized = ops[n_ops].macs >= 128;
        ops[n_ops].depthwise = convs[i].group > 1;
        n_ops++;
    }
    gb_output(b, x);
    int64_t w1[2] = { 256, 32 }, w2[2] = { 32, 512 }, w3[2] = { 200, 512 };
    m = op2(b, "MatMul", m, gb_tensor(b, rand_f32(2, w1, -0.1, 0.1))); /* 32 */
    snprintf(ops[n_ops].name, sizeof ops[n_ops].name, "%s", node_name(b));
    ops[n_ops].macs = 32, ops[n_ops++].quantized = false;
    m = op2(b, "MatMul", m, gb_tensor(b, rand_f32(2, w2, -0.1, 0.1))); /* 512 */
    snprintf(ops[n_ops].name, sizeof ops[n_ops].name, "%s", node_name(b));
    ops[n_ops].macs = 512, ops[n_ops++].quantized = true;
    m = op2(b, "Gemm", m, gb_tensor(b, rand_f32(2, w3, -0.1, 0.1))); /* transB: N = 200 */
    attr_i(b, "transB", 1);
    snprintf(ops[n_ops].name, sizeof ops[n_ops].name, "%s", node_name(b));
    ops[n_ops].macs = 200, ops[n_ops++].quantized = true;
    gb_output(b, m);
    CHECK_OK(lp_graph_infer(b->g, false));
    CHECK(lp_dynamic_min_macs() == 128);
    for (int i = 0; i < n_ops; i++) {
        const lp_node *n = find_node(b->g, ops[i].name);
        double got = n ? lp_dynamic_macs_per_input(b->g, n) : -1;
        CHECK_MSG(got == ops[i].macs, "%s: %g multiply-adds per input element, expected %g", ops[i].name, got,
                  ops[i].macs);
    }
    lowp_recipe *r = NULL;
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_recipe_set(r, "approach", "post_training_dynamic_quant"));
    lowp_model model = { .graph = b->g };
    for (int all = 0; all < 2 && r; all++) {
        if (all)
            setenv("LOWP_DYNAMIC_MIN_MACS", "0", 1);
        lowp_model *q = NULL;
        CHECK_OK(lowp_quantize(&model, NULL, r, &q));
        unsetenv("LOWP_DYNAMIC_MIN_MACS");
        if (!q)
            continue;
        for (int i = 0; i < n_ops; i++) {
            char qn[128];
            bool conv = ops[i].name[0] && find_node(b->g, ops[i].name)->op == LP_OP_Conv;
            snprintf(qn, sizeof qn, "%.60s_%s", ops[i].name, conv ? "ConvInteger" : "MatMulInteger");
            bool want = (all && !ops[i].depthwise) || ops[i].quantized, is_int = find_node(q->graph, qn) != NULL;
            bool is_float = find_node(q->graph, ops[i].name) != NULL;
            CHECK_MSG(is_int == want && is_float == !want, "%s (%g per input element, threshold %s): %s", ops[i].name,
                      ops[i].macs, all ? "0" : "default", is_int ? "quantized" : "left float");
        }
        /* the ConvInteger weights: u8 around 128, every w - 128 within int8 */
        for (int i = 0; i < q->graph->n_nodes; i++) {
            const lp_node *n = &q->graph->nodes[i];
            if (n->dead || n->op != LP_OP_ConvInteger)
                continue;
            const lp_tensor *w = q->graph->values[n->in[1]].init, *z = q->graph->values[n->in[3]].init;
            CHECK_MSG(w && z && w->dtype == LP_U8 && lp_tensor_get(z, 0) == 128, "%s: weights not u8 around 128",
                      n->name);
            for (int64_t k = 0; w && k < lp_tensor_numel(w); k++)
                if (lp_tensor_get(w, k) < 1) {
                    CHECK_MSG(0, "%s: weight %lld is %g, outside [1, 255]", n->name, (long long)k, lp_tensor_get(w, k));
                    break;
                }
        }
        lowp_model_free(q);
    }
    lowp_recipe_free(r);
    gb_free(b);
}

/* DynamicQuantizeLinear(x) -> ConvInteger of one input channel with a long kernel (Silero
 * VAD's STFT: k 256 stride 64; openWakeWord's k 512 stride 160) -> Cast -> Mul(x_scale *
 * w_scale) -> Add(bias) [-> Relu], as lowp's dynamic export writes it: the oneDNN plan runs it
 * as a 1x1 convolution of k channels over the frames when the weights need no correction (u8
 * around 128, s8) and as the plain INT8 convolution when they do (u8 with another zero point);
 * some read a u8 graph input instead of DynamicQuantizeLinear's result (stored by no oneDNN step).
 * Against the reference plan: the integer sums are exact on both sides, the float scaling
 * differs by rounding only -- the fast plan multiplies by x_scale, then by w_scale, then adds
 * the bias (three roundings), the reference by x_scale * w_scale, then adds (three): each is
 * within 2^-24 of a value no larger than the largest |acc * scale| <= max|y| + max|bias|, so 8
 * such steps bound the difference (measured: up to 2 of them). */
static void test_convint_frames(void)
{
    for (int t = 0; t < 16; t++) {
        int kind = t % 4; /* 0, 1: u8 around 128; 2: s8; 3: u8 zero point 60 (a correction) */
        gb *b = gb_new(13);
        int64_t s = rnd(8, 64), k = s * rnd(0, 4) + rnd(16, (int)s + 16), M = rnd(1, 40);
        if ((k + s - 1) / s > 6) /* the phases (frame copies) a step takes */
            k = 6 * s;
        int64_t N = t % 3 == 0 ? 16 : rnd(1, 3), L = k + s * rnd(0, 12) + rnd(0, 7), xd[3] = { N, 1, L };
        double lo = -0.2 - rndu(), hi = 0.3 + rndu();
        bool u8_input = t % 5 == 4; /* x a u8 graph input (no oneDNN step made it) */
        int dq[3] = { gb_value(b, "q"), gb_value(b, "s"), gb_value(b, "z") };
        if (u8_input) {
            lp_tensor *xq = NULL;
            CHECK_OK(lp_tensor_new(LP_U8, 3, xd, &xq));
            for (int64_t i = 0; xq && i < lp_tensor_numel(xq); i++)
                ((uint8_t *)xq->data)[i] = (uint8_t)rnd(0, 255);
            dq[0] = gb_feed(b, xq);
            dq[1] = gb_scalar(b, LOWP_FLOAT, (hi - lo) / 255);
            dq[2] = gb_scalar(b, LP_U8, rnd(0, 255));
        } else {
            int x = gb_feed(b, rand_f32(3, xd, lo, hi));
            gb_node(b, "DynamicQuantizeLinear", "", 1, &x, 3, dq);
        }
        int64_t wd[3] = { M, 1, k }, sd[3] = { 1, M, 1 }, zd = 1;
        lp_tensor *w, *wz, *ws, *bias;
        lp_dtype wt = kind == 2 ? LP_I8 : LP_U8;
        int zw = kind == 2 ? 0 : kind == 3 ? 60 : 128;
        CHECK_OK(lp_tensor_new(wt, 3, wd, &w));
        CHECK_OK(lp_tensor_new(wt, 0, &zd, &wz));
        lp_dtype_traits_of(wt)->set(wz->data, 0, zw);
        for (int64_t i = 0; i < lp_tensor_numel(w); i++)
            lp_dtype_traits_of(wt)->set(w->data, i, kind == 3 ? rnd(0, 255) : zw + rnd(-127, 127));
        ws = rand_f32(3, sd, 0.002, 0.022);
        bias = rand_f32(3, sd, -0.5, 0.5);
        int in[4] = { dq[0], gb_tensor(b, w), dq[2], gb_tensor(b, wz) };
        int acc = gb_op(b, "ConvInteger", 4, in);
        attr_ints(b, "strides", 1, &s);
        int f = op1(b, "Cast", acc);
        attr_i(b, "to", LOWP_FLOAT);
        int y = op2(b, "Add", op2(b, "Mul", f, op2(b, "Mul", dq[1], gb_tensor(b, ws))), gb_tensor(b, bias));
        bool relu = t % 2 == 1;
        if (relu)
            y = op1(b, "Relu", y);
        gb_output(b, y);
        char what[160];
        snprintf(what, sizeof what, "ConvInteger STFT N%lld L%lld k%lld s%lld M%lld %s%s%s", (long long)N,
                 (long long)L, (long long)k, (long long)s, (long long)M,
                 kind == 2 ? "s8" : kind == 3 ? "u8 zp 60" : "u8 zp 128", relu ? " relu" : "",
                 u8_input ? " u8 input" : "");
        CHECK_OK(lp_graph_infer(b->g, false)); /* (as a loaded model's: the plan splits the scale Mul) */
        /* 8 float roundings of the largest |acc * scale| <= max|y| + 0.5 (see above) */
        gb_compare_opt opt = { .atol = ldexp(0.5, -21) };
        lp_plan *p = NULL;
        gb_compare_plans(what, b, ldexp(1.0, -21), &opt, &p);
        if (p) {
            bool frames = false, reference = false;
            char buf[256];
            for (int i = 0; i < p->n_steps; i++) {
                const char *str = lp_plan_step_str(p, i, buf, sizeof buf);
                frames |= strstr(str, "1x1") != NULL;
                reference |= strstr(str, "reference") != NULL;
            }
            /* (over a batch whose rows are shorter than T * s the frame views would overlap,
               which oneDNN refuses: the INT8 convolution as it is then) */
            int64_t T = (L - k) / s + 1;
            bool want = kind != 3 && (N == 1 || T * s <= L);
            /* (the correction of kind 3 has a 1x1 convolution of its own) */
            CHECK_MSG(kind == 3 || frames == want, "%s: %s the frames' 1x1 convolution", what, want ? "not" : "still");
            CHECK_MSG(!reference, "%s: a step on the reference kernel", what);
        }
        lp_plan_free(p);
        gb_free(b);
    }
}

int main(void)
{
    lp_test_seed(&rng_state);
    RUN(test_dynamic_min_macs);
    RUN(test_convint_frames);
    return TEST_SUMMARY("test_dynamic_int8");
}
