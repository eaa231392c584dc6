/* test_tune.c — the tuner on the zoo MLP with a small Fashion-MNIST subset: every strategy
 * passes a loose tolerance on trial 1; a tight tolerance needs per-op fallback; an impossible
 * one ends "not met" with the most accurate model and a report; resume (3 trials, then 6)
 * equals an uninterrupted 6-trial run; the same seed gives the same history; a registered
 * strategy is used by name.
 *
 * The tight and impossible cases score the MSE against the FP32 model's own outputs (saved as
 * the labels of an Npy dataset), so the FP32 baseline is exactly 0 and every INT8 op costs
 * something measurable: the fallback path is exercised for certain, whatever the accuracy
 * luck of a small subset. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lowp.h"
#include "test.h"
#include "fm_data.h"

#define N_EVAL 500

static char tmp[256];

static lowp_tune_options opts(const char *ws, const char *strategy)
{
    lowp_tune_options o = lowp_tune_options_default();
    static char wsbuf[8][300];
    static int k;
    char *w = wsbuf[k++ % 8];
    snprintf(w, 300, "%s/%s", tmp, ws);
    o.workspace = w;
    o.strategy = strategy;
    o.threads = 1;
    return o;
}

static char last_strategy[64];

/* A tune of the MLP on the first N_EVAL test images with topk. */
static int tune_topk(const lowp_tune_options *o, lowp_tune_summary *s)
{
    lowp_model *m = mlp();
    lowp_metric *metric = NULL;
    CHECK_OK(lowp_metric_create("topk", NULL, &metric));
    lowp_tuner *t = NULL;
    int st = lowp_tuner_create(m, fm_loader(true, 50, 100), fm_loader(false, 100, N_EVAL), metric, NULL, o, &t);
    lowp_model_free(m);
    if (st == LOWP_OK)
        st = lowp_tuner_run(t, s);
    if (st == LOWP_OK) { /* the summary's strings die with the tuner */
        snprintf(last_strategy, sizeof last_strategy, "%s", s->strategy);
        s->strategy = s->output = s->workspace = NULL;
    }
    lowp_tuner_free(t);
    return st;
}

/* ---- the MSE-against-FP32 data set ---- */

static char *last_json; /* the summary of the last tune_mse (its strings die with the tuner) */

static char npy_in[300], npy_lab[300];

static void make_reference_set(void)
{
    lowp_model *m = mlp();
    lowp_session *s = NULL;
    lowp_session_options so = lowp_session_options_default();
    so.threads = 1;
    CHECK_OK(lowp_session_create(m, &so, &s));
    lowp_dataloader *dl = fm_loader(false, 100, 200);
    int64_t dims_in[4] = { 200, 1, 28, 28 }, dims_out[2] = { 200, 10 };
    lowp_tensor *X = NULL, *Y = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 4, dims_in, NULL, &X));
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, dims_out, NULL, &Y));
    lowp_sample b = { 0 };
    int64_t n = 0, at = 0;
    const char *name = lowp_model_input_name(m, 0);
    while (lowp_dataloader_next(dl, &b, &n) == LOWP_OK && n > 0) {
        lowp_tensor *y = NULL;
        CHECK_OK(lowp_session_run(s, 1, &name, (const lowp_tensor *const *)b.inputs, 1, &y));
        memcpy((float *)lowp_tensor_data(X) + at * 784, lowp_tensor_data(b.inputs[0]), (size_t)n * 784 * 4);
        memcpy((float *)lowp_tensor_data(Y) + at * 10, lowp_tensor_data(y), (size_t)n * 10 * 4);
        lowp_tensor_free(y);
        at += n;
    }
    lowp_sample_clear(&b);
    snprintf(npy_in, sizeof npy_in, "%s/ref_inputs.npy", tmp);
    snprintf(npy_lab, sizeof npy_lab, "%s/ref_logits.npy", tmp);
    CHECK_OK(lowp_tensor_save_npy(X, npy_in));
    CHECK_OK(lowp_tensor_save_npy(Y, npy_lab));
    lowp_tensor_free(X);
    lowp_tensor_free(Y);
    lowp_dataloader_free(dl);
    lowp_session_free(s);
    lowp_model_free(m);
}

/* A tune scoring MSE against the FP32 outputs (batch 100, the same as the reference). */
static int tune_mse(const lowp_tune_options *o, lowp_tune_summary *s)
{
    lowp_model *m = mlp();
    lowp_params *p = NULL;
    lowp_dataset *ds = NULL;
    lowp_dataloader *ev = NULL;
    lowp_params_create(&p);
    lowp_params_set(p, "inputs", npy_in);
    lowp_params_set(p, "labels", npy_lab);
    CHECK_OK(lowp_dataset_open("Npy", p, &ds));
    lowp_params_free(p);
    lowp_dataloader_options dlo = lowp_dataloader_options_default();
    dlo.batch_size = 100;
    CHECK_OK(lowp_dataloader_create(ds, NULL, &dlo, &ev));
    lowp_metric *metric = NULL;
    CHECK_OK(lowp_metric_create("MSE", NULL, &metric));
    lowp_tuner *t = NULL;
    int st = lowp_tuner_create(m, fm_loader(true, 50, 100), ev, metric, NULL, o, &t);
    lowp_model_free(m);
    if (st == LOWP_OK)
        st = lowp_tuner_run(t, s);
    free(last_json);
    last_json = NULL;
    if (st == LOWP_OK)
        CHECK_OK(lowp_tune_summary_json(s, &last_json));
    lowp_tuner_free(t);
    return st;
}

static long last_size;

static char *read_text(const char *path) { return fm_read_file(path, &last_size); }

/* The history without the fields that are timings ("seconds", "latency_ms"). */
static char *history_sans_times(const char *ws) { return fm_history_sans_times(ws); }

static bool file_has(const char *ws, const char *file, const char *needle)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", ws, file);
    char *s = read_text(path);
    bool r = s && memmem(s, (size_t)last_size, needle, strlen(needle));
    free(s);
    return r;
}

/* ---- tests ---- */

static void test_loose_tolerance_passes_on_trial_1(void)
{
    for (int i = 0; lowp_tune_strategy_at(i); i++) {
        const char *name = lowp_tune_strategy_at(i)->name;
        char ws[64];
        snprintf(ws, sizeof ws, "loose_%s", name);
        lowp_tune_options o = opts(ws, name);
        o.tolerance = 0.05;
        lowp_tune_summary s;
        CHECK_OK(tune_topk(&o, &s));
        CHECK_MSG(s.met && s.trials == 1 && s.best_trial == 1, "%s: met %d after %d trials", name, s.met, s.trials);
        CHECK(s.n_int8 == 3 && s.best_bytes < s.baseline_bytes / 2);
        CHECK(fabs(s.relative_loss) < 0.05);
        CHECK(file_has(o.workspace, "best_model.onnx", "QuantizeLinear"));
        CHECK(file_has(o.workspace, "best_recipe.json", "post_training_static_quant"));
        CHECK(file_has(o.workspace, "report.md", "Target met"));
        CHECK(file_has(o.workspace, "report.html", "<svg"));
    }
}

static double int8_mse;

static void test_tight_tolerance_falls_back(void)
{
    make_reference_set();
    /* what all-INT8 costs */
    lowp_tune_options o = opts("mse_probe", "auto");
    o.relative = 0;
    o.tolerance = 1e9;
    lowp_tune_summary s;
    CHECK_OK(tune_mse(&o, &s));
    CHECK(s.baseline == 0 && s.best > 0);
    int8_mse = s.best;
    /* half of it: some ops must fall back, and some stay INT8 */
    const char *strategies[] = { "auto", "basic", "mse", "mse_v2", "bayesian" };
    for (int i = 0; i < 5; i++) {
        char ws[64];
        snprintf(ws, sizeof ws, "tight_%s", strategies[i]);
        o = opts(ws, strategies[i]);
        o.relative = 0;
        o.tolerance = int8_mse * 0.5;
        o.max_trials = strcmp(strategies[i], "bayesian") == 0 ? 12 : 0;
        CHECK_OK(tune_mse(&o, &s));
        CHECK_MSG(s.met && s.trials > 1 && s.n_bf16 + s.n_fp32 > 0 && s.n_int8 > 0,
                  "%s: met %d, %d trials, %d/%d/%d", strategies[i], s.met, s.trials, s.n_int8, s.n_bf16, s.n_fp32);
        CHECK(s.best <= s.target);
        CHECK(file_has(o.workspace, "report.md", "## Ops that fell back\n\n| op"));
        /* the "why" column gives the strategy's own reason: a sensitivity rank only for the
         * strategies that fall back in sensitivity order */
        bool by_sensitivity = i == 0 || i == 2 || i == 3;
        CHECK_MSG(file_has(o.workspace, "report.md", "| sensitivity rank ") == by_sensitivity &&
                      file_has(o.workspace, "report.md", "chosen by what the trials measured") != by_sensitivity,
                  "%s: report's why column", strategies[i]);
    }
}

static void test_impossible_tolerance_not_met(void)
{
    lowp_tune_options o = opts("impossible", "auto");
    o.relative = 0;
    o.tolerance = 0; /* only the FP32 model itself is exact, and it is not a quantization */
    lowp_tune_summary s;
    CHECK_OK(tune_mse(&o, &s));
    CHECK(!s.met && s.trials > 1 && s.best_trial > 0);
    CHECK(file_has(o.workspace, "best_model.onnx", "lowp.bf16_nodes") || file_has(o.workspace, "best_model.onnx", "QuantizeLinear"));
    /* the most accurate trial is the one returned */
    CHECK(s.best > 0 && s.best < int8_mse);
    CHECK(file_has(o.workspace, "report.md", "TARGET NOT MET"));
    CHECK(file_has(o.workspace, "report.html", "TARGET NOT MET"));
    CHECK(last_json && strstr(last_json, "\"met_target\": false"));
}

static void test_resume_equals_uninterrupted(void)
{
    lowp_tune_options o = opts("full6", "basic");
    o.relative = 0;
    o.tolerance = 0;
    o.max_trials = 6;
    lowp_tune_summary full, part, resumed;
    CHECK_OK(tune_mse(&o, &full));
    CHECK(full.trials == 6);
    lowp_tune_options p = opts("resume", "basic");
    p.relative = 0;
    p.tolerance = 0;
    p.max_trials = 3;
    CHECK_OK(tune_mse(&p, &part));
    CHECK(part.trials == 3);
    p.max_trials = 6;
    p.resume = 1;
    CHECK_OK(tune_mse(&p, &resumed));
    CHECK(resumed.trials == 6 && resumed.best_trial == full.best_trial && resumed.best == full.best);
    char *a = history_sans_times(o.workspace), *b = history_sans_times(p.workspace);
    CHECK(a && b && !strcmp(a, b));
    free(a), free(b);
    char fa[400], fb[400];
    snprintf(fa, sizeof fa, "%s/best_recipe.json", o.workspace);
    snprintf(fb, sizeof fb, "%s/best_recipe.json", p.workspace);
    a = read_text(fa), b = read_text(fb);
    CHECK(a && b && !strcmp(a, b));
    free(a), free(b);
    /* a history cut mid-line (a kill while writing) resumes too */
    char hp[400];
    snprintf(hp, sizeof hp, "%s/history.jsonl", p.workspace);
    char *h = read_text(hp);
    FILE *f = fopen(hp, "wb");
    if (h && f) {
        size_t n = strlen(h);
        fwrite(h, 1, n - 40, f); /* drop the end of the last line, newline included */
    }
    if (f)
        fclose(f);
    free(h);
    CHECK_OK(tune_mse(&p, &resumed));
    CHECK(resumed.trials == 6 && resumed.best_trial == full.best_trial);
    a = history_sans_times(o.workspace), b = history_sans_times(p.workspace);
    /* the cut line is followed by the re-run trial 6 on a line of its own */
    if (a && b && strlen(a) > 2) {
        a[strlen(a) - 1] = 0;
        CHECK(strstr(b, strrchr(a, '\n')) != NULL);
    } else {
        CHECK(!"histories readable");
    }
    free(a), free(b);
    /* another model's history is refused */
    lowp_tune_options q = opts("resume", "basic");
    q.resume = 1;
    q.max_trials = 2;
    lowp_tune_summary s;
    CHECK(tune_topk(&q, &s) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "fingerprint") != NULL);
}

static void test_same_seed_same_history(void)
{
    lowp_tune_summary a, b;
    lowp_tune_options o = opts("seed_a", "random");
    o.relative = 0;
    o.tolerance = 0;
    o.max_trials = 5;
    o.seed = 7;
    CHECK_OK(tune_mse(&o, &a));
    lowp_tune_options p = o;
    p.workspace = opts("seed_b", "random").workspace;
    CHECK_OK(tune_mse(&p, &b));
    char *ha = history_sans_times(o.workspace), *hb = history_sans_times(p.workspace);
    CHECK(ha && hb && !strcmp(ha, hb));
    CHECK(a.best_trial == b.best_trial && a.best == b.best);
    free(ha), free(hb);
}

static lowp_status one_point(lowp_tuner *t, void *user)
{
    int *calls = user;
    (*calls)++;
    int n = lowp_tuner_op_count(t);
    unsigned char *p = calloc((size_t)n, 1);
    p[n - 1] = LOWP_TUNE_FP32; /* the classifier stays FP32 */
    int stop = 0;
    lowp_tune_trial tr;
    lowp_status st = lowp_tuner_try(t, 0, p, "custom", &tr, &stop);
    CHECK(tr.index == 1);
    /* the same point again answers from memory */
    lowp_tune_trial tr2;
    CHECK_OK(lowp_tuner_try(t, 0, p, "custom", &tr2, &stop));
    CHECK(tr2.index == 1 && lowp_tuner_trial_count(t) == 1);
    free(p);
    return st;
}

static void test_registered_strategy(void)
{
    static int calls;
    static const lowp_tune_strategy s = { "test_one_point", "tries one point", 0, one_point, &calls };
    CHECK_OK(lowp_tune_strategy_register(&s));
    CHECK(lowp_tune_strategy_register(&s) == LOWP_ERR_INVALID_ARGUMENT);
    lowp_tune_options o = opts("custom", "test_one_point");
    o.max_trials = 5; /* keep searching after a pass, so the repeated point is answered */
    lowp_tune_summary sum;
    CHECK_OK(tune_topk(&o, &sum));
    CHECK(calls == 1 && sum.trials == 1 && sum.n_fp32 == 1 && sum.n_int8 == 2);
    CHECK(!strcmp(last_strategy, "test_one_point"));
    o.strategy = "nope";
    CHECK(tune_topk(&o, &sum) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "unknown tuning strategy 'nope'") != NULL);
}

static lowp_status fp32_only(lowp_tuner *t, void *user)
{
    (void)user;
    int n = lowp_tuner_op_count(t);
    unsigned char *p = malloc((size_t)n);
    memset(p, LOWP_TUNE_FP32, (size_t)n);
    lowp_tune_trial tr;
    lowp_status st = lowp_tuner_try(t, 0, p, "all fp32", &tr, NULL);
    CHECK(tr.index == 0); /* the FP32 model is not a trial */
    free(p);
    return st;
}

/* An op_wise that keeps every op FP32: each strategy (auto crashed, the others said only "tried
 * no recipe") refuses with a message naming the op_wise entry and its line. A strategy that
 * proposes only the FP32 model says that is why it tried nothing. */
static void test_all_fp32_op_wise(void)
{
    const char *yaml = "model: {name: mlp}\n"
                       "quantization:\n"
                       "  op_wise:\n"
                       "    '/1/Gemm': {activation: {dtype: [fp32]}}\n"  /* line 4 */
                       "    '/[35]/Gemm':\n"                             /* line 5: a regex */
                       "      weight: {dtype: fp32}\n";
    lowp_config *cfg = NULL;
    CHECK_OK(lowp_config_load_string(yaml, "fp32.yaml", &cfg));
    for (int i = 0; cfg && lowp_tune_strategy_at(i); i++) {
        const char *name = lowp_tune_strategy_at(i)->name;
        if (!strncmp(name, "test_", 5))
            continue;
        lowp_tune_options o = opts("allfp32", name);
        o.config = cfg;
        lowp_tune_summary sum;
        int st = tune_topk(&o, &sum);
        const char *e = lowp_last_error();
        CHECK_MSG(st == LOWP_ERR_INVALID_ARGUMENT && strstr(e, "nothing left to tune") &&
                      strstr(e, "'/1/Gemm' (Gemm) by fp32.yaml: quantization.op_wise '/1/Gemm' (line 4)") &&
                      strstr(e, "'/5/Gemm' (Gemm) by fp32.yaml: quantization.op_wise '/[35]/Gemm' (line 5)"),
                  "%s: status %d: %s", name, st, e);
    }
    lowp_config_free(cfg);
    static const lowp_tune_strategy s = { "test_fp32_only", "proposes only the FP32 model", 0, fp32_only, NULL };
    CHECK_OK(lowp_tune_strategy_register(&s));
    lowp_tune_options o = opts("fp32only", "test_fp32_only");
    lowp_tune_summary sum;
    CHECK(tune_topk(&o, &sum) == LOWP_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(lowp_last_error(), "strategy 'test_fp32_only' tried no recipe: every point it proposed was the FP32 model"),
              "%s", lowp_last_error());
}

int main(void)
{
    int status;
    if (!fm_begin(tmp, sizeof tmp, "test_tune", &status))
        return status;
    RUN(test_loose_tolerance_passes_on_trial_1);
    RUN(test_tight_tolerance_falls_back);
    RUN(test_impossible_tolerance_not_met);
    RUN(test_resume_equals_uninterrupted);
    RUN(test_same_seed_same_history);
    RUN(test_registered_strategy);
    RUN(test_all_fp32_op_wise);
    fm_end(tmp);
    free(last_json);
    return TEST_SUMMARY("test_tune");
}
