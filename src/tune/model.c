/* model.c — from a tuning point to a graph: calibration (once per sampling size), QDQ
 * insertion per the point's recipe, BF16 marks for the engine, and the exportable form. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "ir/infer.h"
#include "onnx/model.h"
#include "quant/quantize.h"
#include "recon/recon.h"
#include "train/train.h"
#include "tune/tune.h"

static void report(lowp_tuner *t, const char *phase, int64_t done, int64_t total)
{
    if (!t->opt.progress)
        return;
    lowp_tune_progress p = { .phase = phase, .trial = t->n_trials, .max_trials = t->max_trials, .done = done,
                             .total = total, .baseline = t->baseline, .target = t->target, .accuracy = NAN,
                             .best = NAN, .elapsed = lp_tune_now() - t->t0, .eta = -1, .note = "" };
    t->opt.progress(t->opt.progress_user, &p);
}

struct calib_progress {
    lowp_tuner *t;
    const char *phase;
};

static void calibration_progress(void *user, int64_t done, int64_t total)
{
    struct calib_progress *p = user;
    report(p->t, p->phase, done < total ? done : total, total);
}

lp_status lp_tune_calibration(lowp_tuner *t, int s, bool moments, lowp_calibration **out)
{
    lowp_calibration **slot = moments ? &t->cal_moments[s] : &t->cal[s];
    if (*slot) {
        *out = *slot;
        return LP_OK;
    }
    if (!t->calib)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "static quantization needs calibration data (no calibration dataloader)");
    lowp_model m = { .graph = t->fp32->g };
    lowp_session_options so = lowp_session_options_default();
    so.threads = t->opt.threads;
    lowp_calibration *cal = NULL;
    LP_TRY(lowp_calibration_create(&m, &so, &cal));
    if (moments) {
        lp_recipe r = { .learned_rounding = true, .block_reconstruction = true };
        lp_status st = lowp_calibration_for_recipe(cal, &r);
        if (st != LP_OK) {
            lowp_calibration_free(cal);
            return st;
        }
    }
    const lp_graph *g = t->fp32->g;
    int64_t want = t->opt.sampling_sizes[s], have = 0;
    const char *names[LOWP_SAMPLE_MAX_TENSORS];
    for (int i = 0; i < g->n_inputs && i < LOWP_SAMPLE_MAX_TENSORS; i++)
        names[i] = g->values[g->inputs[i]].name;
    struct calib_progress prog = { t, moments ? "calibration (layer-input moments, samples kept)" : "calibration" };
    report(t, prog.phase, 0, want);
    /* every rank of a distributed tune calibrates its share; all end with the same statistics.
     * Layer-input moments (learned rounding) and kept samples (block reconstruction) have no
     * cross-rank merge: each rank collects them over all the samples itself, which gives every
     * rank one process's. */
    lp_status st = lp_dist_calibrate(moments ? NULL : t->opt.comm, cal, t->calib, want, g->n_inputs, names, false,
                                     calibration_progress, &prog, &have);
    if (st == LP_OK && have == 0)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: the calibration dataloader yielded no samples",
                      lowp_dataloader_describe(t->calib));
    if (st != LP_OK) {
        lowp_calibration_free(cal);
        return st;
    }
    *slot = cal;
    *out = cal;
    return LP_OK;
}

/* QAT: the point's QDQ graph, its weights unfolded to float behind fake quantization, trained
 * on the tuner's labelled data, folded back. Deterministic (seeded data order), so a replay
 * retrains to the same weights; the last one is kept for save_outputs. */
static lp_status build_qat(lowp_tuner *t, int config, const unsigned char *prec, const lp_tune_recovery *rv,
                           lp_graph **out)
{
    if (t->qat_graph && t->qat_config == config && !memcmp(t->qat_prec, prec, (size_t)t->n_ops) &&
        !memcmp(&t->qat_rv, rv, sizeof *rv))
        return lp_graph_clone(t->qat_graph, out);
    if (!t->train)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "quantization-aware training needs labelled training data");
    lp_tune_recovery base = *rv;
    base.qat = false;
    lp_graph *g = NULL;
    LP_TRY(lp_tune_build_graph(t, config, prec, &base, &g));
    lp_train_options o = lp_train_options_default();
    o.epochs = 1;
    o.iterations = LP_TUNE_QAT_BATCHES;
    o.optim.kind = LP_OPTIM_SGD;
    o.optim.lr = 1e-3;
    o.optim.momentum = 0.9;
    o.optim.schedule = LP_LR_COSINE;
    lp_train_result res;
    report(t, "quantization-aware training", 0, LP_TUNE_QAT_BATCHES);
    lp_status st = lp_qdq_unfold_weights(g, NULL);
    if (st == LP_OK)
        st = lp_train_run(g, &o, t->train, NULL, &res);
    if (st == LP_OK)
        st = lp_qdq_fold_weights(g);
    if (st == LP_OK)
        st = lp_graph_infer(g, false);
    lp_graph *keep = NULL;
    if (st == LP_OK)
        st = lp_graph_clone(g, &keep);
    if (st != LP_OK) {
        lp_graph_free(g);
        return st;
    }
    lp_graph_free(t->qat_graph);
    free(t->qat_prec);
    t->qat_graph = keep;
    t->qat_config = config;
    t->qat_rv = *rv;
    t->qat_prec = malloc((size_t)t->n_ops + 1);
    if (t->qat_prec)
        memcpy(t->qat_prec, prec, (size_t)t->n_ops);
    else
        lp_graph_free(t->qat_graph), t->qat_graph = NULL;
    *out = g;
    return LP_OK;
}

lp_status lp_tune_build_graph(lowp_tuner *t, int config, const unsigned char *prec, const lp_tune_recovery *rv,
                              lp_graph **out)
{
    if (rv && rv->qat && t->cfgs[config].approach == LP_APPROACH_STATIC_QUANT)
        return build_qat(t, config, prec, rv, out);
    const lp_tune_cfg *c = &t->cfgs[config];
    lp_recipe *r = NULL;
    LP_TRY(lp_tune_recipe(t, config, prec, rv, &r));
    lp_graph *qg = NULL;
    lp_status st = LP_OK;
    if (c->approach == LP_APPROACH_DYNAMIC_QUANT) {
        st = lp_quantize_graph_dynamic(t->fp32->g, r, &qg);
    } else {
        bool any_int8 = false;
        for (int i = 0; i < t->n_ops; i++)
            any_int8 |= prec[i] == LP_PREC_INT8;
        lowp_calibration *cal = NULL;
        if (any_int8)
            st = lp_tune_calibration(t, c->sampling, lp_tune_needs_samples(rv), &cal);
        if (st == LP_OK && r->block_reconstruction && any_int8) {
            lp_recon_options ro = lp_recon_options_default();
            /* LOWP_RECON_STEPS: the steps per block (tests keep tunes that reach the rung short) */
            const char *env = getenv("LOWP_RECON_STEPS");
            if (env && *env) {
                char *end;
                long n = strtol(env, &end, 10);
                if (*end || n < 0 || n > 1000000)
                    st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "LOWP_RECON_STEPS: expected steps from 0 to 1000000, got '%s'", env);
                ro.iterations = (int)n;
            }
            lp_recon_report rep = { 0 };
            struct calib_progress prog = { t, "block reconstruction" };
            ro.progress = calibration_progress;
            ro.progress_user = &prog;
            report(t, prog.phase, 0, 1);
            if (st == LP_OK)
                st = lp_quantize_graph_recon(t->fp32->g, cal, r, &ro, &rep, &qg);
            if (st == LP_OK) {
                double before = 0, after = 0;
                int n = 0;
                for (int k = 0; k < rep.n_blocks; k++)
                    if (!*rep.blocks[k].skipped && isfinite(rep.blocks[k].rel_before))
                        before += rep.blocks[k].rel_before, after += rep.blocks[k].rel_after, n++;
                snprintf(t->recon_note, sizeof t->recon_note,
                         "%d blocks on %lld calibration samples: block output error %.2f%% to %.2f%% of its mean "
                         "square (mean over blocks), %d weights re-rounded", rep.n_blocks, (long long)rep.samples,
                         n ? 100 * before / n : 0.0, n ? 100 * after / n : 0.0, rep.n_layers);
            }
            lp_recon_report_free(&rep);
        } else if (st == LP_OK) {
            st = lp_quantize_graph(t->fp32->g, cal, r, &qg);
        }
    }
    lp_recipe_free(r);
    LP_TRY(st);
    /* BF16 ops travel as the model metadata lp_quantize_graph writes from the recipe
     * (LP_META_BF16_NODES); sessions turn it into the engine's per-node precision. */
    *out = qg;
    return LP_OK;
}

