/* tboard.c — TensorBoard event files of a tune (tuning.tensorboard, LPOT's key): in
 * WORKSPACE/tensorboard, run "fp32" holds the baseline (accuracy and objective at step 0 and a
 * histogram of every tensor) and run "quantized" one file per trial at step = the trial's
 * number (accuracy, objective, latency_ms, and the histograms of the trial's model). Histograms
 * are those of lowp compare, on the first batch of the evaluation data (else the calibration
 * data, else the latency sample). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "base/outfile.h"
#include "onnx/model.h"
#include "quant/compare.h"
#include "tune/tune.h"

/* The batch every trial is compared on, read once. */
static lp_status tb_batch(lowp_tuner *t)
{
    if (t->tb_batch.n_inputs)
        return LP_OK;
    lowp_dataloader *dl = t->eval ? t->eval : t->calib;
    if (!dl) { /* a user evaluator with dynamic quantization: the latency sample (batch 1) */
        for (int i = 0; i < t->n_sample; i++) {
            LP_TRY(lp_tensor_clone(t->sample[i], &t->tb_batch.inputs[i]));
            t->tb_batch.n_inputs = i + 1;
        }
        return LP_OK;
    }
    int64_t n = 0;
    lowp_dataloader_reset(dl);
    lp_status st = lowp_dataloader_next(dl, &t->tb_batch, &n);
    lowp_dataloader_reset(dl);
    if (st == LP_OK && (n == 0 || t->tb_batch.n_inputs != t->fp32->g->n_inputs))
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: no batch of %d inputs to compare on", lowp_dataloader_describe(dl),
                      t->fp32->g->n_inputs);
    if (st != LP_OK)
        lowp_sample_clear(&t->tb_batch);
    return st;
}

/* Whether `dir` holds an event file already (a resumed tune's baseline). */
static bool has_events(const char *dir)
{
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));)
        found = strstr(e->d_name, "tfevents") != NULL;
    if (d)
        closedir(d);
    return found;
}

/* Writes run `run` of the workspace: the scalars, then side `side` of comparison `c` (if any). */
static lp_status write_run(lowp_tuner *t, const char *run, int64_t step, const double *scalars, lp_comparison *c,
                           int side)
{
    static const char *const names[3] = { "accuracy", "objective", "latency_ms" };
    char *dir = lp_strfmt("%s/tensorboard/%s", t->workspace, run);
    if (!dir)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_tb_file f;
    lp_status st = lp_tb_begin(&f);
    for (int i = 0; i < 3 && st == LP_OK; i++)
        if (scalars[i] == scalars[i]) /* NaN (not evaluated) is left out */
            st = lp_tb_scalar(&f, step, names[i], scalars[i]);
    if (st == LP_OK && c)
        st = lp_comparison_tb_histograms(c, side, &f, step);
    if (st == LP_OK)
        st = lp_tb_commit(&f, dir);
    else
        lp_tb_free(&f);
    free(dir);
    return st;
}

lp_status lp_tune_tensorboard(lowp_tuner *t, const lp_graph *g, const lp_tune_rec *r)
{
    double scalars[3] = { r->t.accuracy, r->t.objective, r->t.latency_ms };
    if (!g) /* a trial replayed from another workspace's history: its numbers only */
        return write_run(t, "quantized", r->t.index, scalars, NULL, 1);
    LP_TRY(tb_batch(t));
    lowp_model fm = { .graph = t->fp32->g }, qm = { .graph = (lp_graph *)g };
    lp_comparison *c = NULL;
    const char *names[LOWP_SAMPLE_MAX_TENSORS];
    for (int i = 0; i < t->tb_batch.n_inputs; i++)
        names[i] = t->fp32->g->values[t->fp32->g->inputs[i]].name;
    lp_status st = lowp_comparison_create(&fm, &qm, &c);
    if (st == LP_OK)
        st = lowp_comparison_feed(c, t->tb_batch.n_inputs, names, (const lowp_tensor *const *)t->tb_batch.inputs);
    if (st == LP_OK && !t->tb_fp32_written) {
        char *dir = lp_strfmt("%s/tensorboard/fp32", t->workspace);
        if (!dir)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        /* resuming in place: the baseline's file is there already */
        else if (!(t->opt.resume && has_events(dir))) {
            double base[3] = { t->baseline, 1.0, t->base_latency };
            st = write_run(t, "fp32", 0, base, c, 0);
        }
        free(dir);
        t->tb_fp32_written = st == LP_OK;
    }
    if (st == LP_OK)
        st = write_run(t, "quantized", r->t.index, scalars, c, 1);
    lowp_comparison_free(c);
    return st == LP_OK ? LP_OK : lp_error_prefix(st, "tensorboard");
}
