/* auto.c — the default strategy: chain the others so that a recipe passes in as few trials
 * as possible, then (with budget left) improve it.
 *
 *  1. the default model-wise configuration, everything INT8 (usually enough);
 *     with approach post_training_auto_quant also the dynamic form;
 *  2. when that misses the target narrowly (within one tolerance band), a few calibration
 *     algorithms (percentile, mse, kl) -- a better clip range often closes a small gap;
 *  3. the recovery ladder (recover.c): cross-layer equalization, SmoothQuant with alpha chosen
 *     on calibration data, learned rounding -- the quantized model changes, every op stays INT8;
 *     the steps that helped stay on for what follows;
 *  4. sensitivity-ordered fallback (mse_v2's order) with a growing step: the 1, 2, 3, 4, 6, 8,
 *     12, ... most sensitive ops to BF16 (FP32 where BF16 is not native), then to FP32;
 *  5. once a count k passes: binary search for the smallest passing count, then revert the
 *     least sensitive fallbacks while the target holds (mse_v2's second phase), then the other
 *     model-wise configurations with that fallback set.
 * Step 5's searches only run when the tuner keeps searching (a timeout or max_trials):
 * with the default exit policy the first pass ends the tune.
 * The points of steps 2 and 4 and of the last two loops do not depend on each other's results:
 * they are announced together (lp_tune_points_try), so a distributed tune evaluates them in
 * parallel and then takes them in order -- the same trials as one process. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tune.h"

/* Configurations that differ from c0 only in the calibration algorithm, in probing order. */
static int probes(const lowp_tuner *t, int c0, int *out, int max)
{
    static const lp_calib_algo order[] = { LP_CALIB_PERCENTILE, LP_CALIB_MSE, LP_CALIB_KL, LP_CALIB_MINMAX };
    const lp_tune_cfg *a = &t->cfgs[c0];
    int n = 0;
    for (int k = 0; k < 4 && n < max; k++)
        for (int c = 0; c < t->n_cfgs && n < max; c++) {
            const lp_tune_cfg *b = &t->cfgs[c];
            if (c != c0 && b->approach == a->approach && b->sampling == a->sampling && b->q.per_channel == a->q.per_channel &&
                b->q.act_symmetric == a->q.act_symmetric && b->q.algo == order[k] && b->q.algo != a->q.algo) {
                out[n++] = c;
                break;
            }
        }
    return n;
}

lp_status lp_tune_run_auto(lowp_tuner *t, void *user)
{
    (void)user;
    int stop = 0, c0 = 0;
    unsigned char *base = lp_tune_point_new(t, LP_PREC_INT8), *q = lp_tune_point_new(t, LP_PREC_INT8);
    lp_tune_ranked *order = malloc((size_t)(t->n_ops + 1) * sizeof *order);
    int *counts = malloc((size_t)(t->n_ops + 1) * sizeof *counts);
    lp_status st = base && q && order && counts ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lowp_tune_trial tr = { 0 };
    char note[160];
    bool passed = false;
    if (st == LP_OK) {
        lp_tune_normalize(t, base);
        snprintf(note, sizeof note, "default: %s, all int8", t->cfgs[c0].name);
        st = lowp_tuner_try(t, c0, base, note, &tr, &stop);
        passed = tr.index && tr.passed;
    }
    /* 1b. dynamic quantization, for post_training_auto_quant */
    if (st == LP_OK && !stop && t->cfgs[c0].approach == LP_APPROACH_STATIC_QUANT)
        for (int c = 0; c < t->n_cfgs; c++)
            if (t->cfgs[c].approach == LP_APPROACH_DYNAMIC_QUANT) {
                st = lowp_tuner_try(t, c, base, "dynamic quantization, all int8", &tr, &stop);
                passed |= tr.index && tr.passed;
                break;
            }
    /* 2. a narrow miss: other calibration algorithms */
    if (st == LP_OK && !stop && !passed && t->n_trials > 0) {
        const lowp_tune_trial *first = &t->trials[0].t;
        double band = fabs(t->baseline - t->target);
        double gap = t->hib ? t->target - first->accuracy : first->accuracy - t->target;
        if (gap <= band || band == 0) {
            int cs[4], np = probes(t, c0, cs, 3);
            lp_tune_points p;
            st = lp_tune_points_new(t, np, &p);
            for (int i = 0; i < np && st == LP_OK; i++) {
                memcpy(p.precs[i], base, (size_t)t->n_ops);
                p.configs[i] = cs[i];
                snprintf(p.notes[i], sizeof p.notes[i], "calibration probe: %s", t->cfgs[cs[i]].name);
            }
            if (st == LP_OK)
                st = lp_tune_points_try(t, &p, true, &stop);
            for (int i = 0; st == LP_OK && i < p.tried; i++)
                passed |= p.trials[i].index && p.trials[i].passed;
            lp_tune_points_free(&p);
        }
    }
    /* 3. the recovery ladder, on the most accurate static configuration so far */
    if (st == LP_OK && !stop && !passed) {
        int cr = lp_tune_best_config(t);
        st = lp_tune_recover(t, t->cfgs[cr].approach == LP_APPROACH_STATIC_QUANT ? cr : c0, base, &passed, &stop);
    }
    /* 4. sensitivity-ordered fallback with a growing step */
    int c = lp_tune_best_config(t), n = 0, k_pass = 0;
    if (st == LP_OK && !stop && !passed)
        st = lp_tune_sensitivity_order(t, c, base, order, &n);
    for (int pass = 0; pass < 2 && st == LP_OK && !stop && !passed; pass++) {
        if (pass == 1 && !lp_tune_any_bf16(t))
            break;
        /* the counts 1 2 3 4 6 9 13 19 ... n do not depend on the results: announced together */
        int k_lo = 0, n_k = 0;
        for (int k = 1, step = 1; k <= n; k += step) {
            counts[n_k++] = k;
            if (k >= 4)
                step = k / 2;
            if (k < n && k + step > n)
                step = n - k;
        }
        lp_tune_points p;
        st = lp_tune_points_new(t, n_k, &p);
        for (int i = 0; i < n_k && st == LP_OK; i++) {
            int k = counts[i];
            memcpy(p.precs[i], base, (size_t)t->n_ops);
            for (int j = 0; j < k; j++)
                p.precs[i][order[j].op] =
                    (unsigned char)(pass == 0 ? lp_tune_fallback_of(t, order[j].op) : LP_PREC_FP32);
            p.configs[i] = c;
            snprintf(p.notes[i], sizeof p.notes[i], "fallback the %d most sensitive to %s", k,
                     pass == 0 ? "bf16/fp32" : "fp32");
        }
        if (st == LP_OK)
            st = lp_tune_points_try(t, &p, true, &stop);
        for (int i = 0; st == LP_OK && i < p.tried; i++) {
            if (p.trials[i].index && p.trials[i].passed) {
                k_pass = counts[i];
                passed = true;
                break;
            }
            if (p.trials[i].index)
                k_lo = counts[i];
        }
        lp_tune_points_free(&p);
        /* 5. the smallest passing count, then reverts, then the other configurations */
        while (st == LP_OK && !stop && passed && k_pass - k_lo > 1) {
            int m = (k_lo + k_pass) / 2;
            memcpy(q, base, (size_t)t->n_ops);
            for (int j = 0; j < m; j++)
                q[order[j].op] = (unsigned char)(pass == 0 ? lp_tune_fallback_of(t, order[j].op) : LP_PREC_FP32);
            snprintf(note, sizeof note, "fallback the %d most sensitive to %s", m, pass == 0 ? "bf16/fp32" : "fp32");
            st = lowp_tuner_try(t, c, q, note, &tr, &stop);
            if (tr.index && tr.passed)
                k_pass = m;
            else
                k_lo = m;
        }
        if (st == LP_OK && !stop && passed) {
            memcpy(q, base, (size_t)t->n_ops);
            for (int j = 0; j < k_pass; j++)
                q[order[j].op] = (unsigned char)(pass == 0 ? lp_tune_fallback_of(t, order[j].op) : LP_PREC_FP32);
            st = lp_tune_revert(t, c, q, order, k_pass, &stop);
        }
    }
    if (st == LP_OK && !stop && passed) {
        unsigned char *bq = lp_tune_point_new(t, 0);
        lp_tune_points p = {0};
        if (!bq)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        else if (lowp_tuner_best(t, NULL, bq) >= 0)
            st = lp_tune_points_new(t, t->n_cfgs, &p);
        for (int cc = 0; cc < p.n && st == LP_OK; cc++) {
            memcpy(p.precs[cc], bq, (size_t)t->n_ops);
            p.configs[cc] = cc;
            snprintf(p.notes[cc], sizeof p.notes[cc], "best fallback set with %s", t->cfgs[cc].name);
        }
        if (st == LP_OK)
            st = lp_tune_points_try(t, &p, false, &stop);
        lp_tune_points_free(&p);
        free(bq);
    }
    /* nothing passes even with every op fallen back: the model-wise space for the record */
    if (st == LP_OK && !stop && !passed)
        st = lp_tune_modelwise(t, &stop, t->n_cfgs);
    free(base), free(q), free(order), free(counts);
    return st;
}
