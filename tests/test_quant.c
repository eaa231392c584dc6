/* test_quant.c — observers and clip-range algorithms, quantization parameters, weight
 * quantization error bounds, recipes, and QDQ graphs of the zoo (structure, accuracy on a
 * fixed batch, save/load, determinism). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lowp.h"
#include "onnx/model.h"
#include "ops/op.h"
#include "engine/engine.h"
#include "quant/compare.h"
#include "quant/quantize.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

static void test_observer_minmax_and_growth(void)
{
    static lp_observer o;
    lp_observer_init(&o);
    float a[4] = { 0.5f, -0.25f, 0.125f, NAN }, b[3] = { 3.0f, -7.5f, 1.0f };
    lp_observer_update(&o, a, 4);
    CHECK(o.count == 3 && o.min == -0.25 && o.max == 0.5);
    lp_observer_update(&o, b, 3);
    CHECK(o.count == 6 && o.min == -7.5 && o.max == 3.0);
    CHECK(o.range >= 7.5);
    uint64_t total = 0;
    for (int i = 0; i < LP_HIST_BINS; i++)
        total += o.hist[i];
    CHECK(total == 6); /* re-binning keeps every sample */
    double lo, hi;
    lp_observer_range(&o, LP_CALIB_MINMAX, false, 0, &lo, &hi);
    CHECK(lo == -7.5 && hi == 3.0);
    /* ranges always include 0 */
    lp_observer_init(&o);
    float pos[2] = { 2.0f, 4.0f };
    lp_observer_update(&o, pos, 2);
    lp_observer_range(&o, LP_CALIB_MINMAX, false, 0, &lo, &hi);
    CHECK(lo == 0 && hi == 4.0);
}

/* Unit Gaussian data with two 20-sigma outliers: percentile and KL clip well inside the
 * outliers and keep the Gaussian's bulk; MSE picks a range whose expected quantization error is
 * no worse than minmax's (for these numbers its optimum is near 16: (20-T)^2 per outlier against
 * 1e5 * (T/127.5)^2 / 12 of rounding noise). */
static void test_clip_algorithms(void)
{
    static lp_observer o;
    lp_observer_init(&o);
    static float x[100000];
    for (int i = 0; i < 100000; i++)
        x[i] = (float)gauss();
    x[7] = 20.0f;
    x[9] = -20.0f;
    lp_observer_update(&o, x, 100000);
    double lo, hi;
    lp_observer_range(&o, LP_CALIB_MINMAX, false, 0, &lo, &hi);
    CHECK(hi == 20.0 && lo == -20.0);
    for (int sym = 0; sym < 2; sym++) {
        lp_observer_range(&o, LP_CALIB_PERCENTILE, sym, 99.99, &lo, &hi);
        /* the Gaussian's 99.99th percentile of |x| is 3.9; bins are 0.02 wide */
        CHECK_MSG(hi > 3.0 && hi < 6.0 && lo < -3.0 && lo > -6.0, "percentile sym=%d: [%g, %g]", sym, lo, hi);
        lp_observer_range(&o, LP_CALIB_KL, sym, 0, &lo, &hi);
        CHECK_MSG(hi > 2.0 && hi < 15.0 && lo < -2.0 && lo > -15.0, "kl sym=%d: [%g, %g]", sym, lo, hi);
        lp_observer_range(&o, LP_CALIB_MSE, sym, 0, &lo, &hi);
        CHECK_MSG(hi > 3.0 && hi < 19.0 && lo < -3.0 && lo > -19.0, "mse sym=%d: [%g, %g]", sym, lo, hi);
    }
}

static void test_percentile_grid(void)
{
    static lp_observer o;
    static float x[100000];
    double lo, hi;
    /* percentile on a uniform grid is within one bin of the exact value */
    lp_observer_init(&o);
    for (int i = 0; i < 100000; i++)
        x[i] = (float)(i % 1000);
    lp_observer_update(&o, x, 100000);
    lp_observer_range(&o, LP_CALIB_PERCENTILE, false, 99.0, &lo, &hi);
    double bin = 2 * o.range / LP_HIST_BINS;
    CHECK_MSG(fabs(hi - 990.0) <= 2 * bin, "p99 = %g (bin %g)", hi, bin);
}

static void test_qparams(void)
{
    float s;
    int32_t zp;
    lp_qparams(-1.0, 3.0, false, &s, &zp);
    CHECK_NEAR(s, 4.0 / 255.0, 1e-9);
    CHECK(zp == 64); /* 1 / (4/255) = 63.75 -> 64 */
    lp_qparams(0.5, 2.0, false, &s, &zp); /* widened to [0, 2] */
    CHECK(zp == 0);
    CHECK_NEAR(s, 2.0 / 255.0, 1e-9);
    lp_qparams(-2.0, 1.0, true, &s, &zp);
    CHECK(zp == 0);
    CHECK_NEAR(s, 2.0 / 127.0, 1e-9);
    lp_qparams(0, 0, false, &s, &zp);
    CHECK(s == 1.0f && zp == 0);
}

static void test_recipe_json(void)
{
    lowp_recipe *r = NULL, *r2 = NULL;
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_recipe_set(r, "activation.algorithm", "percentile"));
    CHECK_OK(lowp_recipe_set(r, "activation.percentile", "99.9"));
    CHECK_OK(lowp_recipe_set(r, "weight.granularity", "per_tensor"));
    CHECK_OK(lowp_recipe_set_node(r, "conv1", "fp32"));
    CHECK_OK(lowp_recipe_set_node(r, "fc", "bf16"));
    CHECK(lowp_recipe_set(r, "activation.algorithm", "median") == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(lowp_recipe_set(r, "weights.granularity", "per_tensor") == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(lowp_recipe_set_node(r, "x", "int4") == LOWP_ERR_INVALID_ARGUMENT);
    char path[] = "/tmp/lowp_recipe_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_OK(lowp_recipe_save(r, path));
    CHECK_OK(lowp_recipe_load(path, &r2));
    if (r2) {
        CHECK(r2->model_wise.algo == LP_CALIB_PERCENTILE && r2->model_wise.percentile == 99.9);
        CHECK(!r2->model_wise.per_channel && !r2->model_wise.act_symmetric);
        lp_precision p;
        lp_quant_cfg c;
        lp_recipe_get(r2, "conv1", &p, &c);
        CHECK(p == LP_PREC_FP32);
        lp_recipe_get(r2, "fc", &p, &c);
        CHECK(p == LP_PREC_BF16);
        lp_recipe_get(r2, "other", &p, &c);
        CHECK(p == LP_PREC_INT8 && c.algo == LP_CALIB_PERCENTILE);
    }
    /* errors name the key path and line */
    const char *bad = "{\"model_wise\": {\"activation\": {\"algorithm\": \"median\"}}}";
    lp_recipe *r3 = NULL;
    CHECK(lp_recipe_from_json(bad, strlen(bad), "r.json", &r3) == LOWP_ERR_FORMAT && !r3);
    CHECK(strstr(lowp_last_error(), "model_wise.activation.algorithm") && strstr(lowp_last_error(), "median"));
    unlink(path);
    lowp_recipe_free(r);
    lowp_recipe_free(r2);
}

/* Runs `m` on the fixed batch. */
static lowp_tensor *run_batch(const lowp_model *m, const lowp_tensor *x)
{
    lowp_session *s = NULL;
    lowp_tensor *y = NULL;
    const char *in = lowp_model_input_name(m, 0);
    CHECK_OK(lowp_session_create(m, NULL, &s));
    if (s)
        CHECK_OK(lowp_session_run(s, 1, &in, &x, 1, &y));
    lowp_session_free(s);
    return y;
}

static int count_op(const lp_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += strcmp(g->nodes[i].op_type, op) == 0;
    return n;
}

/* Loads model `path` and the fixed batch, and calibrates on that batch (8 images). True when
 * all three exist; the caller frees them. */
static bool calibrated(const char *path, lowp_model **m, lowp_tensor **x, lowp_calibration **cal)
{
    CHECK_OK(lowp_model_load(path, m));
    CHECK_OK(lowp_tensor_load_npy("models/fixed_batch_input.npy", x));
    if (!*m || !*x)
        return false;
    const char *in = lowp_model_input_name(*m, 0);
    CHECK_OK(lowp_calibration_create(*m, NULL, cal));
    if (*cal)
        CHECK_OK(lowp_calibration_feed(*cal, 1, &in, (const lowp_tensor *const *)x));
    return *cal != NULL;
}

/* How many of the fixed batch's 8 images get the same top-1 class from logits a and b (8,10). */
static int agreement(const lowp_tensor *ya, const lowp_tensor *yb)
{
    const float *a = lowp_tensor_data((lowp_tensor *)ya), *b = lowp_tensor_data((lowp_tensor *)yb);
    int agree = 0;
    for (int i = 0; i < 8; i++) {
        int am = 0, bm = 0;
        for (int k = 1; k < 10; k++) {
            am = a[i * 10 + k] > a[i * 10 + am] ? k : am;
            bm = b[i * 10 + k] > b[i * 10 + bm] ? k : bm;
        }
        agree += am == bm;
    }
    return agree;
}

static void quantize_zoo_model(const char *name, int expect_agree)
{
    char path[256];
    lowp_model *m = NULL, *q = NULL, *q2 = NULL;
    lowp_tensor *x = NULL, *y = NULL, *yq = NULL, *yq2 = NULL;
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    snprintf(path, sizeof path, "models/%s.onnx", name);
    if (!calibrated(path, &m, &x, &cal))
        goto done;
    CHECK(lowp_calibration_samples(cal) == 8);
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_quantize(m, cal, r, &q));
    if (!q)
        goto done;
    /* every weighted Conv/Gemm/MatMul reads dequantized int8 weights */
    const lp_graph *g = q->graph;
    int compute = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->op != LP_OP_Conv && n->op != LP_OP_Gemm && n->op != LP_OP_MatMul)
            continue;
        compute++;
        int p0 = g->values[n->in[0]].producer, p1 = g->values[n->in[1]].producer;
        CHECK_MSG(p0 >= 0 && g->nodes[p0].op == LP_OP_DequantizeLinear, "%s: %s input 0 not dequantized", name, n->name);
        CHECK_MSG(p1 >= 0 && g->nodes[p1].op == LP_OP_DequantizeLinear, "%s: %s input 1 not dequantized", name, n->name);
        if (p1 >= 0 && g->values[g->nodes[p1].in[0]].kind == LP_VALUE_CONST)
            CHECK(g->values[g->nodes[p1].in[0]].init->dtype == LP_I8);
    }
    CHECK(compute > 0 && count_op(g, "QuantizeLinear") > 0);
    y = run_batch(m, x);
    yq = run_batch(q, x);
    if (y && yq) {
        int agree = agreement(y, yq);
        CHECK_MSG(agree >= expect_agree, "%s: int8 agrees with fp32 on %d of 8 images", name, agree);
    }
    /* save -> load -> same outputs, and quantizing again gives the same bytes */
    char out[] = "/tmp/lowp_q_XXXXXX";
    int fd = mkstemp(out);
    close(fd);
    CHECK_OK(lowp_model_save(q, out));
    CHECK_OK(lowp_model_load(out, &q2));
    if (q2) {
        yq2 = run_batch(q2, x);
        CHECK(yq && yq2 && lowp_tensor_nbytes(yq) == lowp_tensor_nbytes(yq2) &&
              memcmp(lowp_tensor_data(yq), lowp_tensor_data(yq2), lowp_tensor_nbytes(yq)) == 0);
    }
    lowp_model *q3 = NULL;
    CHECK_OK(lowp_quantize(m, cal, r, &q3));
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (q3) {
        CHECK_OK(lp_onnx_write(q->graph, &b1, &n1));
        CHECK_OK(lp_onnx_write(q3->graph, &b2, &n2));
        CHECK(n1 == n2 && b1 && b2 && memcmp(b1, b2, n1) == 0);
    }
    free(b1);
    free(b2);
    lowp_model_free(q3);
    unlink(out);
done:
    lowp_tensor_free(x);
    lowp_tensor_free(y);
    lowp_tensor_free(yq);
    lowp_tensor_free(yq2);
    lowp_calibration_free(cal);
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
    lowp_model_free(q2);
}

/* 8 calibration images are few, so allow one disagreement on the same 8 images. */
static void test_quantize_resnet(void) { quantize_zoo_model("resnet_s", 7); }
static void test_quantize_mlp(void) { quantize_zoo_model("mlp", 7); }

/* A node set to fp32 in the recipe keeps float weights and inputs. */
static void test_fallback_node(void)
{
    lowp_model *m = NULL, *q = NULL;
    lowp_tensor *x = NULL;
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    if (!calibrated("models/mlp.onnx", &m, &x, &cal))
        goto done;
    CHECK_OK(lowp_recipe_create(&r));
    const char *first = NULL;
    for (int i = 0; i < cal->session->g->n_nodes && !first; i++)
        if (lp_quant_capability(cal->session->g, i).int8)
            first = cal->session->g->nodes[i].name;
    CHECK(first != NULL);
    if (first)
        CHECK_OK(lowp_recipe_set_node(r, first, "fp32"));
    CHECK_OK(lowp_quantize(m, cal, r, &q));
    if (q && first) {
        const lp_graph *g = q->graph;
        for (int i = 0; i < g->n_nodes; i++)
            if (strcmp(g->nodes[i].name, first) == 0) {
                int w = g->nodes[i].in[1];
                CHECK(g->values[w].kind == LP_VALUE_CONST && g->values[w].init->dtype == LP_F32);
            }
    }
done:
    lowp_tensor_free(x);
    lowp_calibration_free(cal);
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
}

/* Per-layer comparison: int8 per-channel weights keep >= 30 dB SQNR (8 bits give ~40 dB on
 * bell-shaped weights; 30 leaves room for heavy-tailed channels), activations are finite and
 * below the FP32-vs-FP32 infinity, and rows come worst first. */
static void test_compare(void)
{
    lowp_model *m = NULL, *q = NULL;
    lowp_tensor *x = NULL;
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    lowp_comparison *c = NULL;
    char *json = NULL;
    if (!calibrated("models/resnet_s.onnx", &m, &x, &cal))
        goto done;
    const char *in = lowp_model_input_name(m, 0);
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_quantize(m, cal, r, &q));
    if (!q)
        goto done;
    CHECK_OK(lowp_comparison_create(m, q, &c));
    CHECK_OK(lowp_comparison_feed(c, 1, &in, (const lowp_tensor *const *)&x));
    CHECK_OK(lowp_comparison_json(c, &json));
    int weights = 0, acts = 0;
    double prev = -INFINITY;
    for (int i = 0; c && i < c->n; i++) {
        const lp_layer_error *e = &c->layers[i];
        if (!e->count)
            continue;
        double s = lp_layer_sqnr(e);
        CHECK_MSG(s >= prev, "rows not sorted at %d", i);
        prev = s;
        if (e->is_weight) {
            weights++;
            CHECK_MSG(s >= 30.0, "weight %s: %.1f dB", e->tensor, s);
        } else {
            acts++;
            CHECK_MSG(isfinite(s) && s > 5.0, "activation %s: %.1f dB", e->tensor, s);
        }
    }
    CHECK(weights > 0 && acts > 0);
    CHECK(json && strstr(json, "\"sqnr_db\""));
done:
    free(json);
    lowp_comparison_free(c);
    lowp_tensor_free(x);
    lowp_calibration_free(cal);
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
}

/* Dynamic quantization: no calibration; every weighted MatMul/Gemm/Conv becomes
 * DynamicQuantizeLinear + MatMulInteger/ConvInteger; same decisions on the fixed batch (allowing
 * one of 8 to flip: per-batch activation ranges are coarser than calibrated ones). The zoo's
 * small models have ops below dynamic INT8's size threshold (test_dynamic_int8.c):
 * LOWP_DYNAMIC_MIN_MACS=0 quantizes them all, so that this checks the whole rewrite. */
static void dynamic_model(const char *name, const char *int_op)
{
    char path[256];
    lowp_model *m = NULL, *q = NULL, *q2 = NULL;
    lowp_tensor *x = NULL, *y = NULL, *yq = NULL;
    lowp_recipe *r = NULL;
    snprintf(path, sizeof path, "models/%s.onnx", name);
    CHECK_OK(lowp_model_load(path, &m));
    CHECK_OK(lowp_tensor_load_npy("models/fixed_batch_input.npy", &x));
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_recipe_set(r, "approach", "post_training_dynamic_quant"));
    if (!m || !x || !r)
        goto done;
    setenv("LOWP_DYNAMIC_MIN_MACS", "0", 1);
    CHECK_OK(lowp_quantize(m, NULL, r, &q));
    unsetenv("LOWP_DYNAMIC_MIN_MACS");
    if (!q)
        goto done;
    CHECK(count_op(q->graph, "DynamicQuantizeLinear") > 0 && count_op(q->graph, int_op) > 0);
    CHECK(count_op(q->graph, "Gemm") == 0 && count_op(q->graph, "Conv") == 0);
    y = run_batch(m, x);
    yq = run_batch(q, x);
    if (y && yq) {
        int agree = agreement(y, yq);
        CHECK_MSG(agree >= 7, "%s dynamic: agrees with fp32 on %d of 8", name, agree);
    }
    char out[] = "/tmp/lowp_dq_XXXXXX";
    int fd = mkstemp(out);
    close(fd);
    CHECK_OK(lowp_model_save(q, out));
    CHECK_OK(lowp_model_load(out, &q2));
    unlink(out);
done:
    lowp_tensor_free(x);
    lowp_tensor_free(y);
    lowp_tensor_free(yq);
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
    lowp_model_free(q2);
}

/* Dynamic quantization by default on mobilenetv2_s: its depthwise convolutions (5 multiply-adds
 * per input element) and the 1x1 ones under the threshold stay FP32, the larger ones become
 * ConvInteger -- each Conv left is under lp_dynamic_min_macs(), and there are some of each. */
static void test_dynamic_skips_depthwise(void)
{
    lowp_model *m = NULL, *q = NULL;
    lowp_recipe *r = NULL;
    CHECK_OK(lowp_model_load("models/mobilenetv2_s.onnx", &m));
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_recipe_set(r, "approach", "post_training_dynamic_quant"));
    if (m && r)
        CHECK_OK(lowp_quantize(m, NULL, r, &q));
    if (q) {
        const lp_graph *g = q->graph;
        int depthwise = 0, other = 0, integer = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const lp_node *n = &g->nodes[i];
            bool conv = strcmp(n->op_type, "Conv") == 0, ci = strcmp(n->op_type, "ConvInteger") == 0;
            if (!conv && !ci)
                continue;
            const lp_tensor *w = g->values[n->in[1]].init;
            bool dw = w && w->ndim >= 3 && w->dims[1] == 1 && lp_attr_int(n, "group", 1) > 1;
            depthwise += conv && dw;
            other += conv && !dw;
            integer += ci;
            CHECK_MSG(!(ci && dw), "%s: a depthwise ConvInteger", n->name);
            CHECK_MSG(!conv || lp_dynamic_macs_per_input(g, n) < lp_dynamic_min_macs(),
                      "%s: left FP32 with %g multiply-adds per input element", n->name,
                      lp_dynamic_macs_per_input(g, n));
        }
        CHECK_MSG(depthwise > 0 && other > 0 && integer > 0, "Conv depthwise %d, other %d; ConvInteger %d",
                  depthwise, other, integer);
    }
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
}

static void test_dynamic_mlp(void) { dynamic_model("mlp", "MatMulInteger"); }
static void test_dynamic_resnet(void) { dynamic_model("resnet_s", "ConvInteger"); }

/* QOperator export: resnet_s's Conv(+Relu)+Q chains become QLinearConv; integer accumulation
 * with one requantization differs from the QDQ graph's float simulation only at rounding ties,
 * so decisions on the fixed batch stay the same (one flip allowed) and logits stay within 5 %
 * of their scale. */
static void test_qoperator(void)
{
    lowp_model *m = NULL, *q = NULL, *qo = NULL;
    lowp_tensor *x = NULL, *yq = NULL, *yo = NULL;
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    if (!calibrated("models/resnet_s.onnx", &m, &x, &cal))
        goto done;
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_quantize(m, cal, r, &q));
    if (!q)
        goto done;
    CHECK_OK(lowp_model_to_qoperator(q, &qo));
    if (!qo)
        goto done;
    CHECK(count_op(qo->graph, "QLinearConv") > 0);
    CHECK(count_op(qo->graph, "Conv") + count_op(qo->graph, "QLinearConv") == count_op(q->graph, "Conv"));
    yq = run_batch(q, x);
    yo = run_batch(qo, x);
    if (yq && yo) {
        const float *a = lowp_tensor_data(yq), *b = lowp_tensor_data(yo);
        int agree = 0;
        double scale = 0, err = 0;
        for (int i = 0; i < 8; i++) {
            int am = 0, bm = 0;
            for (int k = 0; k < 10; k++) {
                am = a[i * 10 + k] > a[i * 10 + am] ? k : am;
                bm = b[i * 10 + k] > b[i * 10 + bm] ? k : bm;
                scale = fmax(scale, fabs(a[i * 10 + k]));
                err = fmax(err, fabs(a[i * 10 + k] - b[i * 10 + k]));
            }
            agree += am == bm;
        }
        CHECK_MSG(agree >= 7, "QOperator agrees with QDQ on %d of 8", agree);
        CHECK_MSG(err <= 0.05 * scale, "QOperator vs QDQ logits differ by %g (scale %g)", err, scale);
    }
done:
    lowp_tensor_free(x);
    lowp_tensor_free(yq);
    lowp_tensor_free(yo);
    lowp_calibration_free(cal);
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
    lowp_model_free(qo);
}

/* A bf16 choice in the recipe travels as model metadata, becomes the engine's per-node
 * precision in sessions, and never leaks into the exported ONNX as an attribute. */
static void test_bf16_nodes(void)
{
    lowp_model *m = NULL, *q = NULL, *q2 = NULL;
    lowp_tensor *x = NULL;
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    lowp_session *s = NULL;
    if (!calibrated("models/mlp.onnx", &m, &x, &cal))
        goto done;
    CHECK_OK(lowp_recipe_create(&r));
    const char *first = NULL;
    for (int i = 0; cal && i < cal->session->g->n_nodes && !first; i++)
        if (lp_quant_capability(cal->session->g, i).bf16)
            first = cal->session->g->nodes[i].name;
    if (!first)
        goto done;
    CHECK_OK(lowp_recipe_set_node(r, first, "bf16"));
    CHECK_OK(lowp_quantize(m, cal, r, &q));
    if (!q)
        goto done;
    const char *meta = lp_graph_meta(q->graph, LP_META_BF16_NODES);
    CHECK(meta && strcmp(meta, first) == 0);
    CHECK_OK(lowp_session_create(q, NULL, &s));
    bool marked = false;
    for (int i = 0; s && i < s->g->n_nodes; i++)
        if (strcmp(s->g->nodes[i].name, first) == 0)
            marked = lp_attr_str(&s->g->nodes[i], LP_ATTR_PRECISION, "") && !strcmp(lp_attr_str(&s->g->nodes[i], LP_ATTR_PRECISION, ""), "bf16");
    CHECK(marked);
    /* an exported session graph carries no lowp_ attribute */
    uint8_t *buf = NULL;
    size_t n = 0;
    if (s) {
        CHECK_OK(lp_onnx_write(s->g, &buf, &n));
        CHECK_OK(lowp_model_load_from_memory(buf, n, NULL, &q2));
    }
    for (int i = 0; q2 && i < q2->graph->n_nodes; i++)
        CHECK(!lp_node_attr(&q2->graph->nodes[i], LP_ATTR_PRECISION));
    free(buf);
done:
    lowp_session_free(s);
    lowp_tensor_free(x);
    lowp_calibration_free(cal);
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
    lowp_model_free(q2);
}

/* Bias correction, exactly: calibrate a single Gemm y = W x + b on one constant input x, so
 * E[x] = x. With correction, the dequantized weights and corrected bias give W_q x + b' =
 * W x + b up to the int32 bias rounding (s_x * s_w / 2 per output) and the rounding of x itself
 * (activation step / 2 times sum |W|); without correction the error is (W_q - W) x. */
static void test_bias_correction(void)
{
    lp_graph *g = NULL;
    CHECK_OK(lp_graph_new(&g));
    g->ir_version = 8;
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    int x, w, b, y;
    lp_graph_add_value(g, "x", &x);
    g->values[x].kind = LP_VALUE_INPUT;
    g->values[x].dtype = LP_F32;
    g->values[x].shape.ndim = 2;
    g->values[x].shape.d[0] = 1;
    g->values[x].shape.d[1] = 3;
    int64_t wd[2] = { 2, 3 }, bd[1] = { 2 };
    lp_tensor *wt, *bt;
    lp_tensor_new(LP_F32, 2, wd, &wt);
    lp_tensor_new(LP_F32, 1, bd, &bt);
    const float wv[6] = { 0.013f, -0.71f, 0.4999f, 1.0f, 0.3333f, -0.2501f }, bv[2] = { 0.1f, -0.2f };
    memcpy(wt->data, wv, sizeof wv);
    memcpy(bt->data, bv, sizeof bv);
    lp_graph_add_value(g, "W", &w);
    lp_graph_set_const(g, w, wt);
    lp_graph_add_value(g, "b", &b);
    lp_graph_set_const(g, b, bt);
    lp_graph_add_value(g, "y", &y);
    int in[3] = { x, w, b }, gi;
    lp_graph_add_node(g, "fc", "Gemm", "", 3, in, 1, &y, &gi);
    lp_attr tb = { .name = "transB", .type = LP_ATTR_INT, .i = 1 };
    lp_node_add_attr(&g->nodes[gi], &tb);
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x;
    g->n_inputs = 1;
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = y;
    g->n_outputs = 1;
    g->values[y].is_output = true;
    lowp_model m = { .graph = g };
    const float xs[3] = { 0.3f, -1.2f, 2.0f };
    int64_t xd[2] = { 1, 3 };
    lowp_tensor *xt = NULL;
    lowp_tensor_create(LOWP_FLOAT, 2, xd, xs, &xt);
    lowp_calibration *cal = NULL;
    const char *name = "x";
    CHECK_OK(lowp_calibration_create(&m, NULL, &cal));
    for (int k = 0; k < 4; k++)
        CHECK_OK(lowp_calibration_feed(cal, 1, &name, (const lowp_tensor *const *)&xt));
    double err[2] = { 0, 0 };
    for (int corr = 0; corr < 2 && cal; corr++) {
        lowp_recipe *r = NULL;
        lowp_model *q = NULL;
        lowp_tensor *yq = NULL;
        CHECK_OK(lowp_recipe_create(&r));
        CHECK_OK(lowp_recipe_set(r, "bias_correction", corr ? "true" : "false"));
        CHECK_OK(lowp_quantize(&m, cal, r, &q));
        lowp_session *s = NULL;
        if (q)
            CHECK_OK(lowp_session_create(q, NULL, &s));
        if (s)
            CHECK_OK(lowp_session_run(s, 1, &name, (const lowp_tensor *const *)&xt, 1, &yq));
        if (yq) {
            const float *o = lowp_tensor_data(yq);
            for (int j = 0; j < 2; j++) {
                double want = bv[j];
                for (int k = 0; k < 3; k++)
                    want += (double)wv[j * 3 + k] * xs[k];
                err[corr] = fmax(err[corr], fabs(o[j] - want));
            }
        }
        lowp_tensor_free(yq);
        lowp_session_free(s);
        lowp_model_free(q);
        lowp_recipe_free(r);
    }
    /* activation step: x spans [-1.2, 2] -> 3.2/255; W rows sum |W| <= 1.6; bias steps tiny */
    double bound = 0.5 * 3.2 / 255 * 1.6 + 1e-5;
    CHECK_MSG(err[1] <= bound, "corrected error %g > %g", err[1], bound);
    CHECK_MSG(err[1] < err[0], "correction did not help: %g vs %g", err[1], err[0]);
    lowp_tensor_free(xt);
    lowp_calibration_free(cal);
    lp_graph_free(g);
}

/* SmoothQuant on the MLP: one Mul per smoothed activation, weights rescaled, same decisions on
 * the fixed batch (one flip allowed, as for the plain recipe). */
static void test_smooth_quant(void)
{
    lowp_model *m = NULL, *q = NULL;
    lowp_tensor *x = NULL, *y = NULL, *yq = NULL;
    lowp_calibration *cal = NULL;
    lowp_recipe *r = NULL;
    if (!calibrated("models/mlp.onnx", &m, &x, &cal))
        goto done;
    CHECK_OK(lowp_recipe_create(&r));
    CHECK_OK(lowp_recipe_set(r, "smooth_quant.alpha", "0.5"));
    CHECK_OK(lowp_quantize(m, cal, r, &q));
    if (!q)
        goto done;
    int muls = 0;
    for (int i = 0; i < q->graph->n_nodes; i++)
        muls += strstr(q->graph->nodes[i].name, "SmoothQuant_Mul") != NULL;
    CHECK(muls == 3); /* the MLP's three Gemm inputs */
    y = run_batch(m, x);
    yq = run_batch(q, x);
    if (y && yq) {
        int agree = agreement(y, yq);
        CHECK_MSG(agree >= 7, "smooth quant agrees on %d of 8", agree);
    }
done:
    lowp_tensor_free(x);
    lowp_tensor_free(y);
    lowp_tensor_free(yq);
    lowp_calibration_free(cal);
    lowp_recipe_free(r);
    lowp_model_free(m);
    lowp_model_free(q);
}

int main(void)
{
    RUN(test_observer_minmax_and_growth);
    RUN(test_clip_algorithms);
    RUN(test_percentile_grid);
    RUN(test_qparams);
    RUN(test_recipe_json);
    RUN(test_quantize_resnet);
    RUN(test_quantize_mlp);
    RUN(test_fallback_node);
    RUN(test_compare);
    RUN(test_dynamic_mlp);
    RUN(test_dynamic_resnet);
    RUN(test_dynamic_skips_depthwise);
    RUN(test_qoperator);
    RUN(test_bf16_nodes);
    RUN(test_bias_correction);
    RUN(test_smooth_quant);
    return TEST_SUMMARY("test_quant");
}
