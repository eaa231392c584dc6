/* test_kernels_rnn.c — the oneDNN RNN kernel (kernels/dnnl_rnn.c) against the reference kernel
 * (ops/rnn.c) on random RNN, GRU and LSTM nodes: every direction and layout, odd sizes, bias,
 * initial states and sequence_lens as constants, as graph inputs or absent, peepholes, both
 * GRU forms, every subset of outputs, and com.microsoft's DynamicQuantizeLSTM (8-bit weights). Cases oneDNN cannot compute as ONNX does (clip,
 * input_forget, other activations, rows shorter than T) must be declined -- or, for
 * sequence_lens known only at run time, handed to the reference kernel -- with the same result.
 *
 * Error bound, normalized (max|fast - ref| / max|ref| over an output) <= 1e-5: both sides
 * compute each gate as a float32 sum of I + H <= 40 products (oneDNN by a blocked GEMM in
 * another order, with FMA), then oneDNN's vectorized tanh/logistic (within a few ulps of libm).
 * The recurrence carries those differences over T <= 7 steps, damped: the weights are
 * uniform in [-0.5, 0.5] and sigmoid/tanh have slopes <= 1, so the error stays within a small
 * multiple of one step's (~1e-7 relative; observed max ~1e-6).
 *
 * Usage: test_kernels_rnn [-v]   (-v prints every case) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "graph_builder.h"
#include "kernels/dnnl.h"
#include "lowp.h"
#include "ops/rnn.h"
#include "test.h"

#define TOL 1e-5

static int verbose;
static uint64_t rng_state = 0x2a11c0ffeeULL;
static int rnd(int lo, int hi) { return lo + (int)(lowp_random_next(&rng_state) % (uint64_t)(hi - lo + 1)); }
static float rndf(void) { return (float)(lowp_random_uniform(&rng_state) * 2.0 - 1.0); }

static lp_tensor *rand_tensor(lp_dtype dt, int nd, const int64_t *dims, float scale)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(dt, nd, dims, &t));
    if (t && dt == LOWP_FLOAT)
        for (int64_t i = 0; i < lp_tensor_numel(t); i++)
            ((float *)t->data)[i] = scale * rndf();
    return t;
}

/* A constant holding t, or (as_input) a graph input fed t; the builder or the graph takes t. */
static int rg_value(gb *b, lp_tensor *t, bool as_input) { return as_input ? gb_feed(b, t) : gb_tensor(b, t); }

/* Compiles b twice (reference only; all kernels), compares outputs, checks who runs the node. */
static void check(const char *what, gb *b, bool want_dnnl)
{
    lp_plan *pf = NULL;
    gb_compare_plans(what, b, TOL, &(gb_compare_opt){ .verbose = verbose }, &pf);
    if (!pf)
        return;
    bool dnnl = false;
    char buf[256];
    for (int s = 0; s < pf->n_steps; s++)
        if (pf->steps[s].kernel == &lp_kernel_dnnl_rnn) {
            dnnl = true;
            if (verbose)
                printf("  %s\n", lp_plan_step_str(pf, s, buf, sizeof buf));
        }
    CHECK_MSG(dnnl == want_dnnl, "%s: oneDNN %s the node", what, dnnl ? "claimed" : "declined");
    lp_plan_free(pf);
}

/* One random node; `spoil` picks an option oneDNN lacks (0: none). */
static void random_case(int idx, int spoil)
{
    static const char *const kinds[] = { "RNN", "GRU", "LSTM" };
    static const char *const dirs[] = { "forward", "reverse", "bidirectional" };
    int k = rnd(0, 2), dr = rnd(0, 2), layout = rnd(0, 1);
    int64_t T = rnd(1, 7), B = rnd(1, 5), I = rnd(1, 20), H = rnd(1, 20), D = dr == 2 ? 2 : 1;
    int G = k == 0 ? 1 : k == 1 ? 3 : 4;
    bool lstm = k == 2;
    gb *b = gb_new(14);

    int64_t xd[3] = { T, B, I }, wd[3] = { D, G * H, I }, rd[3] = { D, G * H, H }, bd[2] = { D, 2 * G * H };
    int64_t sd[3] = { D, B, H }, pd[2] = { D, 3 * H };
    if (layout)
        xd[0] = B, xd[1] = T, sd[0] = B, sd[1] = D;
    int in[12] = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
    in[0] = rg_value(b, rand_tensor(LOWP_FLOAT, 3, xd, 1.0f), true);
    /* an LSTM in layout 0 is sometimes com.microsoft's DynamicQuantizeLSTM: int8 W (D, I, 4H) and
     * R (D, H, 4H), scales and zero points per direction or per gate row */
    bool quant = lstm && !layout && rnd(0, 2) == 0;
    if (quant) {
        int per_row = rnd(0, 1);
        for (int m = 0; m < 2; m++) {
            int64_t qd[3] = { D, m ? H : I, G * H }, sd2[2] = { D, G * H };
            lp_tensor *q = rand_tensor(LP_I8, 3, qd, 0), *sc = rand_tensor(LOWP_FLOAT, per_row ? 2 : 1, sd2, 0);
            lp_tensor *zp = rand_tensor(LP_I8, per_row ? 2 : 1, sd2, 0);
            for (int64_t i = 0; i < lp_tensor_numel(q); i++)
                ((int8_t *)q->data)[i] = (int8_t)rnd(-127, 127);
            for (int64_t i = 0; i < lp_tensor_numel(sc); i++) {
                ((float *)sc->data)[i] = 0.5f / 127.0f * (0.5f + 0.5f * (rndf() + 1.0f) / 2.0f);
                ((int8_t *)zp->data)[i] = (int8_t)rnd(-3, 3);
            }
            in[1 + m] = rg_value(b, q, false);
            in[8 + 2 * m] = rg_value(b, sc, false);
            in[9 + 2 * m] = rg_value(b, zp, false);
        }
    } else {
        in[1] = rg_value(b, rand_tensor(LOWP_FLOAT, 3, wd, 0.5f), false);
        in[2] = rg_value(b, rand_tensor(LOWP_FLOAT, 3, rd, 0.5f), false);
    }
    if (rnd(0, 2))
        in[3] = rg_value(b, rand_tensor(LOWP_FLOAT, 2, bd, 0.5f), false);
    /* sequence_lens: absent, all T (constant or fed), or shorter rows (constant: declined;
     * fed: claimed, the run hands the call to the reference kernel) */
    int seq_mode = rnd(0, 4);
    bool short_rows = false;
    if (seq_mode) {
        lp_tensor *s = rand_tensor(LOWP_INT32, 1, &B, 0);
        for (int64_t i = 0; i < B; i++)
            ((int32_t *)s->data)[i] = (int32_t)(seq_mode >= 3 ? rnd(0, (int)T) : T);
        for (int64_t i = 0; i < B; i++)
            short_rows |= ((int32_t *)s->data)[i] != T;
        in[4] = rg_value(b, s, seq_mode == 2 || seq_mode == 4);
    }
    int h0 = rnd(0, 2), c0 = lstm ? rnd(0, 2) : 0;
    if (h0)
        in[5] = rg_value(b, rand_tensor(LOWP_FLOAT, 3, sd, 1.0f), h0 == 2);
    if (c0)
        in[6] = rg_value(b, rand_tensor(LOWP_FLOAT, 3, sd, 1.0f), c0 == 2);
    if (lstm && rnd(0, 1))
        in[7] = rg_value(b, rand_tensor(LOWP_FLOAT, 2, pd, 0.5f), false);
    int n_in = quant ? 12 : lstm ? 8 : 6;
    while (in[n_in - 1] < 0)
        n_in--;

    /* outputs: a random non-empty subset of Y, Y_h (, Y_c); omitted ones are -1 */
    int n_out = lstm ? 3 : 2, out[3] = { -1, -1, -1 }, mask;
    do
        mask = rnd(1, (1 << n_out) - 1);
    while (!mask);
    static const char *const onames[] = { "Y", "Y_h", "Y_c" };
    for (int o = 0; o < n_out; o++)
        if (mask & (1 << o)) {
            out[o] = gb_value(b, onames[o]);
            gb_output(b, out[o]);
        }
    while (out[n_out - 1] < 0)
        n_out--;
    gb_node(b, quant ? "DynamicQuantizeLSTM" : kinds[k], quant ? "com.microsoft" : "", n_in, in, n_out, out);
    attr_i(b, "hidden_size", H);
    attr_s(b, "direction", dirs[dr]);
    if (!quant)
        attr_i(b, "layout", layout);
    char desc[160];
    char *act_rnn[2] = { "Tanh", "Tanh" };
    int a = rnd(0, 3);
    if (k == 0 && a && spoil != 2) { /* the vanilla RNN's other activations oneDNN has */
        static char *const alt[] = { "Tanh", "Relu", "Sigmoid", "LeakyRelu" };
        act_rnn[0] = act_rnn[1] = alt[a];
        attr_strs(b, "activations", (int)D, act_rnn);
        if (a == 3)
            attr_floats(b, "activation_alpha", (int)D, (float[]){ 0.25f, 0.25f });
    }
    if (k == 1)
        attr_i(b, "linear_before_reset", rnd(0, 1));
    const char *spoiled = "";
    if (spoil == 1)
        attr_f(b, "clip", 0.75f), spoiled = " clip";
    else if (spoil == 2 && lstm)
        attr_i(b, "input_forget", 1), spoiled = " input_forget";
    else if (spoil == 2) {
        char *hs[4] = { "HardSigmoid", "Softsign", "HardSigmoid", "Softsign" };
        attr_strs(b, "activations", (int)(k == 0 ? D : 2 * D), hs);
        spoiled = " HardSigmoid/Softsign";
    }
    snprintf(desc, sizeof desc, "case %d: %s%s %s layout %d T%lld B%lld I%lld H%lld%s%s seq %d h0 %d c0 %d%s%s out %d%s",
             idx, quant ? "quantized " : "", kinds[k], dirs[dr], layout, (long long)T, (long long)B, (long long)I, (long long)H,
             in[3] >= 0 ? " bias" : "", in[7] >= 0 ? " peep" : "", seq_mode, h0, c0, short_rows ? " short" : "",
             k == 0 ? act_rnn[0] : "", mask, spoiled);
    if (verbose)
        printf("%s\n", desc);
    bool claim = !spoil && !(short_rows && (seq_mode == 1 || seq_mode == 3));
    check(desc, b, claim);
    gb_free(b);
}

static void test_rnn_random(void)
{
    for (int i = 0; i < 160; i++)
        random_case(i, 0);
}

static void test_rnn_declined(void)
{
    for (int i = 0; i < 30; i++)
        random_case(1000 + i, 1 + i % 2);
}

int main(int argc, char **argv)
{
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    lp_test_seed(&rng_state);
    RUN(test_rnn_random);
    RUN(test_rnn_declined);
    return TEST_SUMMARY("test_kernels_rnn");
}
