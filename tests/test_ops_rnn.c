/* test_ops_rnn.c — the reference RNN, GRU and LSTM (ops/rnn.c) on their own: single cells
 * against closed forms computed here in double, properties that tie the options together
 * (bidirectional = forward and reverse runs, layout 1 = transposed layout 0, a shorter row =
 * that row run alone, float64 = float32), shape inference with unknowns, and errors that name
 * the node. (ONNX's conformance cases and tests/rnn.sh hold it against ONNX Runtime.) */
#include <math.h>
#include <stdint.h>

#include "test.h"

#include "op_harness.h"

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* |a - b| <= 1e-6 + 1e-5 |b|: float32 evaluation of the same formula (a few roundings and
 * float32 expf/tanhf, each within a few ulps) against double. */
static bool near(double a, double b) { return fabs(a - b) <= 1e-6 + 1e-5 * fabs(b); }

static void test_cells_closed_form(void)
{
    /* RNN, H = I = 1, two steps: h1 = tanh(w x1 + b), h2 = tanh(w x2 + r h1 + b) */
    {
        tcase t = mk("RNN", 4, 2);
        attr_int(&t, "hidden_size", 1);
        lp_tensor *in[4] = { F32(3, D(2, 1, 1), 0.5f, -1.0f), F32(3, D(1, 1, 1), 0.8f), F32(3, D(1, 1, 1), -0.6f),
                             F32(2, D(1, 2), 0.1f, 0.2f) }, *y[2];
        CHECK_OK(eval(&t, 14, 4, in, 2, y));
        double h1 = tanh(0.8 * 0.5 + 0.3), h2 = tanh(0.8 * -1.0 - 0.6 * h1 + 0.3);
        CHECK(y[0] && near(((float *)y[0]->data)[0], h1) && near(((float *)y[0]->data)[1], h2));
        CHECK(y[1] && near(((float *)y[1]->data)[0], h2));
        done(&t, 4, in, 2, y);
    }
    /* GRU, H = I = 1, one step from h0, both forms */
    for (int lbr = 0; lbr <= 1; lbr++) {
        tcase t = mk("GRU", 6, 2);
        attr_int(&t, "hidden_size", 1);
        attr_int(&t, "linear_before_reset", lbr);
        float wz = 0.3f, wr = -0.4f, wh = 0.9f, rz = 0.2f, rr = 0.5f, rh = -0.7f, x = 0.6f, h0 = 0.25f;
        float b[6] = { 0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f };
        lp_tensor *in[6] = { F32(3, D(1, 1, 1), x), F32(3, D(1, 3, 1), wz, wr, wh), F32(3, D(1, 3, 1), rz, rr, rh),
                             mkt(LP_F32, 2, D(1, 6), b), NULL, F32(3, D(1, 1, 1), h0) }, *y[2];
        CHECK_OK(eval(&t, 14, 6, in, 2, y));
        double z = sig(wz * x + rz * h0 + b[0] + b[3]), r = sig(wr * x + rr * h0 + b[1] + b[4]);
        double hh = lbr ? tanh(wh * x + b[2] + r * (rh * h0 + b[5])) : tanh(wh * x + rh * (r * h0) + b[5] + b[2]);
        double h = (1 - z) * hh + z * h0;
        CHECK_MSG(y[1] && near(((float *)y[1]->data)[0], h), "GRU lbr %d: got %g, want %g", lbr,
                  y[1] ? ((float *)y[1]->data)[0] : 0.0, h);
        done(&t, 6, in, 2, y);
    }
    /* LSTM, H = I = 1, one step with peepholes and initial states; then input_forget */
    for (int coupled = 0; coupled <= 1; coupled++) {
        tcase t = mk("LSTM", 8, 3);
        attr_int(&t, "hidden_size", 1);
        attr_int(&t, "input_forget", coupled);
        float w[4] = { 0.3f, -0.2f, 0.5f, 0.7f }, r[4] = { 0.1f, 0.4f, -0.3f, 0.6f }, p[3] = { 0.2f, -0.1f, 0.3f };
        float x = -0.8f, h0 = 0.4f, c0 = -0.5f;
        lp_tensor *in[8] = { F32(3, D(1, 1, 1), x), mkt(LP_F32, 3, D(1, 4, 1), w), mkt(LP_F32, 3, D(1, 4, 1), r),
                             NULL, NULL, F32(3, D(1, 1, 1), h0), F32(3, D(1, 1, 1), c0), mkt(LP_F32, 2, D(1, 3), p) };
        lp_tensor *y[3];
        CHECK_OK(eval(&t, 14, 8, in, 3, y));
        /* gate rows i o f c; peepholes i o f */
        double i = sig(w[0] * x + r[0] * h0 + p[0] * c0);
        double f = coupled ? 1 - i : sig(w[2] * x + r[2] * h0 + p[2] * c0);
        double cc = tanh(w[3] * x + r[3] * h0);
        double c = f * c0 + i * cc;
        double o = sig(w[1] * x + r[1] * h0 + p[1] * c);
        double h = o * tanh(c);
        CHECK_MSG(y[1] && y[2] && near(((float *)y[1]->data)[0], h) && near(((float *)y[2]->data)[0], c),
                  "LSTM input_forget %d: got h %g c %g, want %g %g", coupled, y[1] ? ((float *)y[1]->data)[0] : 0.0,
                  y[2] ? ((float *)y[2]->data)[0] : 0.0, h, c);
        done(&t, 8, in, 3, y);
    }
    /* clip and a parameterized activation: RNN with ScaledTanh(alpha 2, beta 0.5), clip 0.5 */
    {
        tcase t = mk("RNN", 3, 2);
        attr_int(&t, "hidden_size", 1);
        attr_float(&t, "clip", 0.5f);
        char *acts[1] = { "scaledtanh" }; /* names are case-insensitive, as in ONNX Runtime */
        lp_attr a = { .name = "activations", .type = LP_ATTR_STRINGS, .n = 1, .strings = acts };
        CHECK_OK(lp_node_add_attr(t.node, &a));
        lp_attr al = { .name = "activation_alpha", .type = LP_ATTR_FLOATS, .n = 1, .floats = (float[]){ 2.0f } };
        lp_attr be = { .name = "activation_beta", .type = LP_ATTR_FLOATS, .n = 1, .floats = (float[]){ 0.5f } };
        CHECK_OK(lp_node_add_attr(t.node, &al));
        CHECK_OK(lp_node_add_attr(t.node, &be));
        lp_tensor *in[3] = { F32(3, D(1, 1, 1), 3.0f), F32(3, D(1, 1, 1), 1.0f), F32(3, D(1, 1, 1), 0.0f) }, *y[2];
        CHECK_OK(eval(&t, 14, 3, in, 2, y));
        CHECK(y[1] && near(((float *)y[1]->data)[0], 2.0 * tanh(0.5 * 0.5))); /* 3 clipped to 0.5 */
        done(&t, 3, in, 2, y);
    }
}

/* Runs `op` (hidden H) on the given inputs (NULL: absent) and returns Y, Y_h, Y_c. */
static void run_node(const char *op, const char *dir, int layout, int64_t H, int n_in, lp_tensor **in, int n_out,
                     lp_tensor **y)
{
    tcase t = mk(op, n_in, n_out);
    attr_int(&t, "hidden_size", H);
    attr_str(&t, "direction", dir);
    attr_int(&t, "layout", layout);
    lp_tensor *copy[8] = { 0 };
    for (int i = 0; i < n_in; i++)
        if (in[i])
            CHECK_OK(lp_tensor_clone(in[i], &copy[i]));
    CHECK_OK(eval(&t, 14, n_in, copy, n_out, y));
    for (int i = 0; i < n_in; i++)
        lp_tensor_free(copy[i]);
    lp_graph_free(t.g);
}

/* A slice of `t` along axis 0: rows [r, r + n). */
static lp_tensor *rows(const lp_tensor *t, int64_t r, int64_t n)
{
    int64_t dims[LP_MAX_DIMS];
    memcpy(dims, t->dims, sizeof dims);
    int64_t inner = lp_tensor_numel(t) / t->dims[0];
    dims[0] = n;
    return mkt(t->dtype, t->ndim, dims, (const char *)t->data + r * inner * 4);
}

static bool same_vals(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= 1e-6f * (1.0f + fabsf(b[i]))))
            return false;
    return true;
}

static void test_properties(void)
{
    static const char *const ops[] = { "RNN", "GRU", "LSTM" };
    rng_seed(11);
    for (int c = 0; c < 24; c++) {
        const char *op = ops[c % 3];
        int G = c % 3 == 0 ? 1 : c % 3 == 1 ? 3 : 4, n_in = c % 3 == 2 ? 8 : 6, n_out = c % 3 == 2 ? 3 : 2;
        int64_t T = rng_int(1, 5), B = rng_int(1, 4), I = rng_int(1, 6), H = rng_int(1, 6);
        /* bidirectional inputs; direction d's parameters are rows d of W, R, B, states, P */
        lp_tensor *in[8] = { rand_f32(3, D(T, B, I)), rand_f32(3, D(2, G * H, I)), rand_f32(3, D(2, G * H, H)),
                             rand_f32(2, D(2, 2 * G * H)), NULL, rand_f32(3, D(2, B, H)) };
        if (n_in == 8) {
            in[6] = rand_f32(3, D(2, B, H));
            in[7] = rand_f32(2, D(2, 3 * H));
        }
        lp_tensor *bi[3] = { 0 }, *one[3] = { 0 };
        run_node(op, "bidirectional", 0, H, n_in, in, n_out, bi);
        /* bidirectional = forward with rows 0, reverse with rows 1 */
        for (int d = 0; d < 2; d++) {
            lp_tensor *sub[8] = { in[0] };
            for (int i = 1; i < n_in; i++)
                sub[i] = in[i] ? rows(in[i], d, 1) : NULL;
            run_node(op, d ? "reverse" : "forward", 0, H, n_in, sub, n_out, one);
            bool ok = bi[0] && one[0];
            for (int64_t t = 0; ok && t < T; t++) /* Y (T, 2, B, H) vs (T, 1, B, H) */
                ok = same_vals((float *)bi[0]->data + (t * 2 + d) * B * H, (float *)one[0]->data + t * B * H, B * H);
            for (int o = 1; ok && o < n_out; o++)
                ok = bi[o] && one[o] && same_vals((float *)bi[o]->data + d * B * H, one[o]->data, B * H);
            CHECK_MSG(ok, "%s case %d: direction %d of bidirectional differs from its own run", op, c, d);
            for (int i = 1; i < n_in; i++)
                lp_tensor_free(sub[i]);
            for (int o = 0; o < n_out; o++)
                lp_tensor_free(one[o]), one[o] = NULL;
        }
        /* layout 1 = layout 0 with X, Y and the states batch-first */
        lp_tensor *tr[8] = { 0 }, *l1[3] = { 0 };
        memcpy(tr, in, sizeof tr);
        int64_t xd[3] = { B, T, I }, sd[3] = { B, 2, H };
        tr[0] = mkt(LP_F32, 3, xd, NULL);
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B; b++)
                memcpy((float *)tr[0]->data + (b * T + t) * I, (float *)in[0]->data + (t * B + b) * I, (size_t)I * 4);
        for (int s = 5; s <= 6 && s < n_in; s++) {
            tr[s] = mkt(LP_F32, 3, sd, NULL);
            for (int64_t d = 0; d < 2; d++)
                for (int64_t b = 0; b < B; b++)
                    memcpy((float *)tr[s]->data + (b * 2 + d) * H, (float *)in[s]->data + (d * B + b) * H, (size_t)H * 4);
        }
        run_node(op, "bidirectional", 1, H, n_in, tr, n_out, l1);
        bool ok = l1[0] && bi[0];
        for (int64_t t = 0; ok && t < T; t++)
            for (int64_t d = 0; ok && d < 2; d++)
                for (int64_t b = 0; ok && b < B; b++) /* (B, T, D, H) vs (T, D, B, H) */
                    ok = same_vals((float *)l1[0]->data + ((b * T + t) * 2 + d) * H,
                                   (float *)bi[0]->data + ((t * 2 + d) * B + b) * H, H);
        for (int o = 1; ok && o < n_out; o++)
            for (int64_t d = 0; ok && d < 2; d++)
                for (int64_t b = 0; ok && b < B; b++)
                    ok = l1[o] && same_vals((float *)l1[o]->data + (b * 2 + d) * H, (float *)bi[o]->data + (d * B + b) * H, H);
        CHECK_MSG(ok, "%s case %d: layout 1 differs from layout 0", op, c);
        lp_tensor_free(tr[0]);
        for (int s = 5; s <= 6 && s < n_in; s++)
            lp_tensor_free(tr[s]);
        /* sequence_lens: row b of length L = that row alone on its first L steps, zeros after */
        lp_tensor *seq = mkt(LP_I32, 1, D(B), NULL), *sl[3] = { 0 };
        for (int64_t b = 0; b < B; b++)
            ((int32_t *)seq->data)[b] = rng_int(0, (int)T);
        in[4] = seq;
        run_node(op, "bidirectional", 0, H, n_in, in, n_out, sl);
        for (int64_t b = 0; b < B; b++) {
            int64_t L = ((int32_t *)seq->data)[b];
            lp_tensor *sub[8] = { 0 }, *alone[3] = { 0 };
            sub[0] = mkt(LP_F32, 3, D(L > 0 ? L : 1, 1, I), NULL);
            for (int64_t t = 0; t < L; t++)
                memcpy((float *)sub[0]->data + t * I, (float *)in[0]->data + (t * B + b) * I, (size_t)I * 4);
            for (int i = 1; i < n_in; i++)
                if (in[i] && i != 4)
                    sub[i] = i == 5 || i == 6 ? mkt(LP_F32, 3, D(2, 1, H), NULL) : in[i];
            for (int s = 5; s <= 6 && s < n_in; s++)
                for (int64_t d = 0; d < 2; d++)
                    memcpy((float *)sub[s]->data + d * H, (float *)in[s]->data + (d * B + b) * H, (size_t)H * 4);
            bool row_ok = sl[0] != NULL;
            if (L > 0) {
                run_node(op, "bidirectional", 0, H, n_in, sub, n_out, alone);
                for (int64_t t = 0; row_ok && t < L; t++)
                    for (int64_t d = 0; row_ok && d < 2; d++)
                        row_ok = alone[0] && same_vals((float *)sl[0]->data + ((t * 2 + d) * B + b) * H,
                                                       (float *)alone[0]->data + (t * 2 + d) * H, H);
                for (int o = 1; row_ok && o < n_out; o++)
                    for (int64_t d = 0; row_ok && d < 2; d++)
                        row_ok = alone[o] && same_vals((float *)sl[o]->data + (d * B + b) * H, (float *)alone[o]->data + d * H, H);
            }
            for (int64_t t = L; row_ok && t < T; t++) /* padding: zeros */
                for (int64_t k = 0; k < 2 * H; k++)
                    row_ok &= ((float *)sl[0]->data)[((t * 2 + k / H) * B + b) * H + k % H] == 0.0f;
            CHECK_MSG(row_ok, "%s case %d: row %lld of length %lld differs from its own run", op, c, (long long)b,
                      (long long)L);
            lp_tensor_free(sub[0]);
            for (int s = 5; s <= 6 && s < n_in; s++)
                lp_tensor_free(sub[s]);
            for (int o = 0; o < n_out; o++)
                lp_tensor_free(alone[o]);
        }
        for (int o = 0; o < n_out; o++) {
            lp_tensor_free(bi[o]);
            lp_tensor_free(l1[o]);
            lp_tensor_free(sl[o]);
        }
        for (int i = 0; i < n_in; i++)
            lp_tensor_free(in[i]);
    }
}

static void test_float64(void)
{
    /* the same LSTM in float64 agrees with float32 (computed in float32 either way) */
    rng_seed(5);
    lp_tensor *in[3] = { rand_f32(3, D(3, 2, 4)), rand_f32(3, D(1, 20, 4)), rand_f32(3, D(1, 20, 5)) }, *d[3], *y[2], *y64[2];
    for (int i = 0; i < 3; i++) {
        d[i] = mkt(LOWP_DOUBLE, in[i]->ndim, in[i]->dims, NULL);
        for (int64_t k = 0; k < lp_tensor_numel(in[i]); k++)
            ((double *)d[i]->data)[k] = ((float *)in[i]->data)[k];
    }
    run_node("LSTM", "forward", 0, 5, 3, in, 2, y);
    run_node("LSTM", "forward", 0, 5, 3, d, 2, y64);
    CHECK(y64[1] && y64[1]->dtype == LOWP_DOUBLE && y[1]);
    for (int64_t k = 0; y[1] && y64[1] && k < lp_tensor_numel(y[1]); k++)
        CHECK(((double *)y64[1]->data)[k] == (double)((float *)y[1]->data)[k]);
    for (int i = 0; i < 3; i++)
        lp_tensor_free(in[i]), lp_tensor_free(d[i]);
    for (int o = 0; o < 2; o++)
        lp_tensor_free(y[o]), lp_tensor_free(y64[o]);
}

static void test_infer_unknown(void)
{
    tcase t = mk("GRU", 3, 2);
    attr_str(&t, "direction", "bidirectional");
    lp_vinfo x = { .dtype = LP_F32, .shape = { 3, { LP_DIM_UNKNOWN, LP_DIM_SYM0, 7 } } };
    lp_vinfo w = { .dtype = LP_F32, .shape = { .ndim = -1 } };
    lp_vinfo r = { .dtype = LP_F32, .shape = { 3, { 2, 12, 4 } } };
    const lp_vinfo *in[3] = { &x, &w, &r };
    lp_vinfo out[2];
    CHECK_OK(infer_only(&t, 14, 3, in, 2, out)); /* H from R; batch symbolic */
    CHECK(out[0].shape.ndim == 4 && out[0].shape.d[0] == LP_DIM_UNKNOWN && out[0].shape.d[1] == 2 &&
          out[0].shape.d[2] == LP_DIM_SYM0 && out[0].shape.d[3] == 4);
    CHECK(out[1].shape.ndim == 3 && out[1].shape.d[0] == 2 && out[1].shape.d[1] == LP_DIM_SYM0 && out[1].shape.d[2] == 4);
    r.shape.d[1] = 9; /* not 3 * H */
    CHECK(infer_only(&t, 14, 3, in, 2, out) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "n0") && strstr(lowp_last_error(), "R must be"));
    lp_graph_free(t.g);
}

static void test_errors(void)
{
    static const struct { const char *attr, *val; const char *msg; } bad[] = {
        { "direction", "sideways", "direction 'sideways'" },
        { "activations", "Swish", "activation 'Swish'" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tcase t = mk("RNN", 3, 2);
        if (!strcmp(bad[k].attr, "activations")) {
            char *s[1] = { (char *)bad[k].val };
            lp_attr a = { .name = "activations", .type = LP_ATTR_STRINGS, .n = 1, .strings = s };
            CHECK_OK(lp_node_add_attr(t.node, &a));
        } else {
            attr_str(&t, bad[k].attr, bad[k].val);
        }
        lp_tensor *in[3] = { rand_f32(3, D(2, 1, 3)), rand_f32(3, D(1, 4, 3)), rand_f32(3, D(1, 4, 4)) }, *y[2];
        CHECK(eval(&t, 14, 3, in, 2, y) != LP_OK);
        CHECK_MSG(strstr(lowp_last_error(), "n0") && strstr(lowp_last_error(), bad[k].msg), "%s", lowp_last_error());
        done(&t, 3, in, 2, y);
    }
    /* three activations for a GRU (it takes two per direction) */
    {
        tcase t = mk("GRU", 3, 2);
        char *s[3] = { "Sigmoid", "Tanh", "Tanh" };
        lp_attr a = { .name = "activations", .type = LP_ATTR_STRINGS, .n = 3, .strings = s };
        CHECK_OK(lp_node_add_attr(t.node, &a));
        lp_tensor *in[3] = { rand_f32(3, D(2, 1, 3)), rand_f32(3, D(1, 6, 3)), rand_f32(3, D(1, 6, 2)) }, *y[2];
        CHECK(eval(&t, 14, 3, in, 2, y) == LOWP_ERR_FORMAT);
        done(&t, 3, in, 2, y);
    }
    /* sequence_lens past T */
    {
        tcase t = mk("RNN", 5, 2);
        lp_tensor *in[5] = { rand_f32(3, D(2, 2, 3)), rand_f32(3, D(1, 4, 3)), rand_f32(3, D(1, 4, 4)), NULL,
                             I32(1, D(2), 2, 3) }, *y[2];
        CHECK(eval(&t, 14, 5, in, 2, y) == LOWP_ERR_SHAPE);
        CHECK(strstr(lowp_last_error(), "sequence_lens[1] = 3"));
        done(&t, 5, in, 2, y);
    }
    /* W for another input size; a negative clip */
    {
        tcase t = mk("LSTM", 3, 1);
        lp_tensor *in[3] = { rand_f32(3, D(2, 1, 3)), rand_f32(3, D(1, 8, 5)), rand_f32(3, D(1, 8, 2)) }, *y[1];
        CHECK(eval(&t, 14, 3, in, 1, y) == LOWP_ERR_SHAPE);
        done(&t, 3, in, 1, y);
        t = mk("LSTM", 3, 1);
        attr_float(&t, "clip", -1.0f);
        lp_tensor *in2[3] = { rand_f32(3, D(2, 1, 3)), rand_f32(3, D(1, 8, 3)), rand_f32(3, D(1, 8, 2)) };
        CHECK(eval(&t, 14, 3, in2, 1, y) == LOWP_ERR_FORMAT);
        done(&t, 3, in2, 1, y);
    }
}

int main(void)
{
    RUN(test_cells_closed_form);
    RUN(test_properties);
    RUN(test_float64);
    RUN(test_infer_unknown);
    RUN(test_errors);
    return TEST_SUMMARY("test_ops_rnn");
}
