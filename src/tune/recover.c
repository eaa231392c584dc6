/* recover.c — the accuracy-recovery ladder: before the auto strategy gives INT8 up for some
 * ops, it changes the quantized model instead, cheapest step first:
 *
 *  1. cross-layer equalization (quant/equalize.h): one trial, when the model has a layer pair;
 *  2. SmoothQuant for MatMul/Gemm inputs: the migration strength alpha is chosen on calibration
 *     data alone (the alpha whose quantized model's outputs are closest to the FP32 model's,
 *     by SQNR, on up to PROBE_SAMPLES calibration samples), then one trial with it;
 *  3. learned rounding of the weights (quant/adaround.h) against the layers' calibration inputs:
 *     one trial (its calibration pass also collects the layer-input moments).
 *  4. block reconstruction (recon/recon.h): each block's rounding learned against the FP32
 *     block's outputs on the calibration samples (no labels), one trial;
 *  5. quantization-aware training (when the tuner has labelled training data): the point's
 *     weights fine-tuned through fake quantization (tune/model.c), one trial.
 *
 * A step is kept for the following steps (and the fallback after them) when its trial is more
 * accurate than the best so far. Each rung is recorded for the report: what it did, accuracy
 * before and after. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/equalize.h"
#include "tune/tune.h"

#define PROBE_SAMPLES 64
#define PROBE_BATCHES 8

struct lp_tune_probe {
    int n_batches, n_in;
    lowp_sample batch[PROBE_BATCHES];
    const char *names[LOWP_SAMPLE_MAX_TENSORS];
    int n_out;
    lp_tensor **ref;            /* n_batches * n_out FP32 outputs */
};

void lp_tune_probe_free(struct lp_tune_probe *p)
{
    if (!p)
        return;
    for (int b = 0; b < p->n_batches; b++)
        lowp_sample_clear(&p->batch[b]);
    for (int i = 0; p->ref && i < p->n_batches * p->n_out; i++)
        lp_tensor_free(p->ref[i]);
    free(p->ref);
    free(p);
}

/* Runs graph g on the probe's batches: its outputs (n_batches * n_out, caller frees). */
static lp_status run_probe(lowp_tuner *t, const struct lp_tune_probe *p, const lp_graph *g, lp_tensor **out)
{
    lowp_session_options so = lowp_session_options_default();
    so.threads = t->opt.threads;
    lowp_session *s = NULL;
    LP_TRY(lp_session_create_graph(g, &so, &s));
    lp_status st = LP_OK;
    for (int b = 0; b < p->n_batches && st == LP_OK; b++)
        st = lowp_session_run(s, p->n_in, p->names, (const lowp_tensor *const *)p->batch[b].inputs, p->n_out,
                              out + b * p->n_out);
    lowp_session_free(s);
    return st;
}

static lp_status probe_get(lowp_tuner *t, struct lp_tune_probe **out)
{
    if (t->probe) {
        *out = t->probe;
        return LP_OK;
    }
    if (!t->calib)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "the recovery ladder needs calibration data");
    const lp_graph *g = t->fp32->g;
    struct lp_tune_probe *p = calloc(1, sizeof *p);
    if (!p)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    p->n_in = g->n_inputs < LOWP_SAMPLE_MAX_TENSORS ? g->n_inputs : LOWP_SAMPLE_MAX_TENSORS;
    for (int i = 0; i < p->n_in; i++)
        p->names[i] = g->values[g->inputs[i]].name;
    p->n_out = g->n_outputs;
    lp_status st = LP_OK;
    int64_t have = 0;
    lowp_dataloader_reset(t->calib);
    while (st == LP_OK && have < PROBE_SAMPLES && p->n_batches < PROBE_BATCHES) {
        int64_t n = 0;
        st = lowp_dataloader_next(t->calib, &p->batch[p->n_batches], &n);
        if (st != LP_OK || n == 0)
            break;
        if (p->batch[p->n_batches].n_inputs < p->n_in) {
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: a batch holds %d inputs, the model takes %d",
                          lowp_dataloader_describe(t->calib), p->batch[p->n_batches].n_inputs, p->n_in);
            p->n_batches++;
            break;
        }
        p->n_batches++;
        have += n;
    }
    lowp_dataloader_reset(t->calib);
    if (st == LP_OK && !p->n_batches)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: the calibration dataloader yielded no samples",
                      lowp_dataloader_describe(t->calib));
    if (st == LP_OK && !(p->ref = calloc((size_t)(p->n_batches * p->n_out) + 1, sizeof *p->ref)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LP_OK)
        st = run_probe(t, p, g, p->ref);
    if (st != LP_OK) {
        lp_tune_probe_free(p);
        return st;
    }
    t->probe = p;
    *out = p;
    return LP_OK;
}

/* SQNR (dB) of the outputs of config c at point prec with recovery rv against the FP32
 * model's, over the probe's batches. */
static lp_status output_sqnr(lowp_tuner *t, int c, const unsigned char *prec, const lp_tune_recovery *rv, double *db)
{
    struct lp_tune_probe *p = NULL;
    LP_TRY(probe_get(t, &p));
    lp_graph *qg = NULL;
    LP_TRY(lp_tune_build_graph(t, c, prec, rv, &qg));
    int n = p->n_batches * p->n_out;
    lp_tensor **y = calloc((size_t)n + 1, sizeof *y);
    lp_status st = y ? run_probe(t, p, qg, y) : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    double sig = 0, noi = 0;
    for (int i = 0; st == LP_OK && i < n; i++) {
        const lp_tensor *a = p->ref[i], *b = y[i];
        if (a->dtype != LP_F32 || b->dtype != LP_F32 || a->nbytes != b->nbytes)
            continue;
        const float *x = a->data, *z = b->data;
        for (int64_t k = 0; k < lp_tensor_numel(a); k++) {
            double d = (double)x[k] - z[k];
            sig += (double)x[k] * x[k];
            noi += d * d;
        }
    }
    for (int i = 0; y && i < n; i++)
        lp_tensor_free(y[i]);
    free(y);
    lp_graph_free(qg);
    *db = noi > 0 ? 10 * log10(sig / noi) : INFINITY;
    return st;
}

static lp_tune_rung *rung(lowp_tuner *t, const char *step)
{
    if (t->n_rungs == LP_TUNE_MAX_RUNGS)
        return NULL;
    lp_tune_rung *r = &t->rungs[t->n_rungs++];
    memset(r, 0, sizeof *r);
    snprintf(r->step, sizeof r->step, "%s", step);
    r->before = r->after = NAN;
    return r;
}

static bool better(const lowp_tuner *t, double a, double b)
{
    return isnan(b) || (t->hib ? a > b : a < b);
}

/* One trial with recovery rv; keeps rv (and the accuracy) when it is the most accurate yet. */
static lp_status step_trial(lowp_tuner *t, int c, const unsigned char *base, const lp_tune_recovery *rv,
                            const char *note, lp_tune_rung *r, lp_tune_recovery *keep, double *best, bool *passed,
                            int *stop)
{
    lowp_tune_trial tr;
    t->rv = *rv;
    lp_status st = lowp_tuner_try(t, c, base, note, &tr, stop);
    t->rv = *keep;
    LP_TRY(st);
    if (!tr.index)
        return LP_OK;
    if (r) {
        r->before = *best;
        r->after = tr.accuracy;
        r->trial = tr.index;
    }
    *passed |= tr.passed;
    if (better(t, tr.accuracy, *best)) {
        *best = tr.accuracy;
        *keep = *rv;
        t->rv = *rv;
    }
    return LP_OK;
}

lp_status lp_tune_recover(lowp_tuner *t, int c, const unsigned char *base, bool *passed, int *stop)
{
    if (t->cfgs[c].approach != LP_APPROACH_STATIC_QUANT)
        return LP_OK;
    double best = NAN;
    for (int i = 0; i < t->n_trials; i++)
        if (!isnan(t->trials[i].t.accuracy) && better(t, t->trials[i].t.accuracy, best))
            best = t->trials[i].t.accuracy;
    lp_tune_recovery keep = t->rv;
    char note[160];
    /* 1. cross-layer equalization */
    if (!keep.equalize && !*passed && !*stop) {
        lp_graph *g = NULL;
        lp_equalized e = { 0 };
        LP_TRY(lp_graph_clone(t->fp32->g, &g));
        lp_status st = lp_equalize(g, 1, NULL, NULL, &e);
        int pairs = e.n_pairs;
        lp_equalized_free(&e);
        lp_graph_free(g);
        LP_TRY(st);
        lp_tune_rung *r = rung(t, "equalization");
        if (!pairs) {
            if (r)
                snprintf(r->detail, sizeof r->detail, "skipped: no Conv/Gemm/MatMul layer pair to equalize");
        } else {
            lp_tune_recovery rv = keep;
            rv.equalize = true;
            snprintf(note, sizeof note, "recovery: cross-layer equalization (%d layer pairs)", pairs);
            if (r)
                snprintf(r->detail, sizeof r->detail, "%d layer pairs", pairs);
            LP_TRY(step_trial(t, c, base, &rv, note, r, &keep, &best, passed, stop));
        }
    }
    /* 2. SmoothQuant, alpha chosen on calibration data */
    if (keep.sq_alpha == 0 && !*passed && !*stop) {
        bool any = false;
        for (int i = 0; i < t->n_ops && !any; i++)
            any = base[i] == LP_PREC_INT8 && t->ops[i].weight_elems > 0 &&
                  (!strcmp(t->ops[i].op_type, "MatMul") || !strcmp(t->ops[i].op_type, "Gemm"));
        lp_tune_rung *r = rung(t, "smooth_quant");
        if (!any) {
            if (r)
                snprintf(r->detail, sizeof r->detail, "skipped: no INT8 MatMul/Gemm with a constant weight");
        } else {
            static const double alphas[] = { 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 };
            double db0, db_best = -INFINITY, a_best = 0;
            LP_TRY(output_sqnr(t, c, base, &keep, &db0));
            for (size_t k = 0; k < sizeof alphas / sizeof *alphas; k++) {
                lp_tune_recovery rv = keep;
                rv.sq_alpha = alphas[k];
                double db;
                LP_TRY(output_sqnr(t, c, base, &rv, &db));
                if (db > db_best)
                    db_best = db, a_best = alphas[k];
            }
            if (!(db_best > db0 + 0.1)) { /* 0.1 dB: below that, calibration noise */
                if (r)
                    snprintf(r->detail, sizeof r->detail,
                             "skipped: no alpha in 0.3..0.9 brings the outputs closer to FP32 (%.1f dB without, "
                             "%.1f dB at best) on %d calibration batches",
                             db0, db_best, t->probe ? t->probe->n_batches : 0);
            } else {
                lp_tune_recovery rv = keep;
                rv.sq_alpha = a_best;
                snprintf(note, sizeof note, "recovery: SmoothQuant alpha %.2f (output SQNR %.1f dB, %.1f dB without)",
                         a_best, db_best, db0);
                if (r)
                    snprintf(r->detail, sizeof r->detail, "alpha %.2f chosen on calibration data: output SQNR %.1f dB (%.1f dB without)",
                             a_best, db_best, db0);
                LP_TRY(step_trial(t, c, base, &rv, note, r, &keep, &best, passed, stop));
            }
        }
    }
    /* 3. learned rounding of the weights, on calibration data */
    if (!keep.learned_rounding && !*passed && !*stop) {
        lp_tune_recovery rv = keep;
        rv.learned_rounding = true;
        lp_tune_rung *r = rung(t, "learned_rounding");
        if (r)
            snprintf(r->detail, sizeof r->detail, "weights rounded to minimise each layer's output error on calibration data");
        LP_TRY(step_trial(t, c, base, &rv, "recovery: learned rounding of the weights", r, &keep, &best, passed, stop));
    }
    /* 4. block reconstruction, on calibration data */
    if (!keep.block_recon && !*passed && !*stop) {
        lp_tune_recovery rv = keep;
        rv.block_recon = true;
        lp_tune_rung *r = rung(t, "block_reconstruction");
        t->recon_note[0] = 0;
        LP_TRY(step_trial(t, c, base, &rv, "recovery: block reconstruction of the weights' rounding", r, &keep, &best,
                          passed, stop));
        if (r)
            snprintf(r->detail, sizeof r->detail, "%s",
                     *t->recon_note ? t->recon_note : "each block's rounding learned against the FP32 block's outputs");
    }
    /* 5. quantization-aware training, with labelled training data */
    if (!keep.qat && !*passed && !*stop) {
        lp_tune_rung *r = rung(t, "qat");
        if (!t->train) {
            if (r)
                snprintf(r->detail, sizeof r->detail, "skipped: no labelled training data (lowp tune --train SPEC)");
        } else {
            lp_tune_recovery rv = keep;
            rv.qat = true;
            if (r)
                snprintf(r->detail, sizeof r->detail, "fake-quantized weights fine-tuned on %d training batches",
                         LP_TUNE_QAT_BATCHES);
            snprintf(note, sizeof note, "recovery: quantization-aware training (%d batches)", LP_TUNE_QAT_BATCHES);
            LP_TRY(step_trial(t, c, base, &rv, note, r, &keep, &best, passed, stop));
        }
    }
    t->rv = keep;
    return LP_OK;
}
