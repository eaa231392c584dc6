/* strategies.c — the strategy table (built-ins first, then registered ones) and the simple
 * built-ins: basic, mse, mse_v2, conservative, exhaustive, random. Each is a function that
 * proposes points through lowp_tuner_try until it runs out or is told to stop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tune.h"

static const lowp_tune_strategy builtins[] = {
    { "auto", "default: model-wise default, then sensitivity-ordered fallback with a growing step; "
              "aims to pass in as few trials as possible", 0, lp_tune_run_auto, NULL },
    { "basic", "LPOT's: every model-wise configuration, then per-op fallback bottom-up (bf16, fp32), "
               "then accumulated fallback ordered by accuracy gained", 0, lp_tune_run_basic, NULL },
    { "mse", "model-wise configurations, then accumulated fallback ordered by per-op sensitivity", 0,
      lp_tune_run_mse, NULL },
    { "mse_v2", "fall back the most sensitive ops until the target is met, then revert the least "
                "sensitive fallbacks while it holds", 1, lp_tune_run_mse_v2, NULL },
    { "conservative", "start from FP32 and quantize op types in priority order (Conv, Gemm, MatMul) "
                      "while the target holds", 1, lp_tune_run_conservative, NULL },
    { "exhaustive", "every model-wise configuration with every per-op precision", 0, lp_tune_run_exhaustive, NULL },
    { "random", "random configurations and per-op precisions (seeded)", 0, lp_tune_run_random, NULL },
    { "bayesian", "Gaussian process over the per-op choices, acquisition = P(pass) x precision gain", 0,
      lp_tune_run_bayesian, NULL },
};
#define N_BUILTINS ((int)(sizeof builtins / sizeof builtins[0]))
#define MAX_REGISTERED 32

static const lowp_tune_strategy *registered[MAX_REGISTERED];
static int n_registered;

const lowp_tune_strategy *lowp_tune_strategy_at(int i)
{
    if (i >= 0 && i < N_BUILTINS)
        return &builtins[i];
    i -= N_BUILTINS;
    return i >= 0 && i < n_registered ? registered[i] : NULL;
}

const lowp_tune_strategy *lp_tune_strategy_find(const char *name)
{
    for (int i = 0; lowp_tune_strategy_at(i); i++)
        if (!strcmp(lowp_tune_strategy_at(i)->name, name))
            return lowp_tune_strategy_at(i);
    return NULL;
}

lowp_status lowp_tune_strategy_register(const lowp_tune_strategy *s)
{
    if (!s || !s->name || !s->run)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_tune_strategy_register: a strategy needs a name and run");
    if (lp_tune_strategy_find(s->name))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "tuning strategy '%s' exists already", s->name);
    if (n_registered == MAX_REGISTERED)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "too many tuning strategies (at most %d)", MAX_REGISTERED);
    registered[n_registered++] = s;
    return LP_OK;
}

/* ---- helpers ---- */

unsigned char *lp_tune_point_new(const lowp_tuner *t, int prec)
{
    unsigned char *p = malloc((size_t)t->n_ops + 1);
    if (p)
        memset(p, prec, (size_t)t->n_ops);
    return p;
}

#define OOM() lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory")

/* The precision an op falls back to first: BF16 where it runs natively, else FP32. */
int lp_tune_fallback_of(const lowp_tuner *t, int op) { return t->ops[op].allow[LP_PREC_BF16] ? LP_PREC_BF16 : LP_PREC_FP32; }

/* Every configuration (up to limit) with every op INT8: independent points, announced together. */
lp_status lp_tune_modelwise(lowp_tuner *t, int *stop, int limit)
{
    lp_tune_points p;
    LP_TRY(lp_tune_points_new(t, t->n_cfgs < limit ? t->n_cfgs : limit, &p));
    for (int c = 0; c < p.n; c++) {
        memset(p.precs[c], LP_PREC_INT8, (size_t)t->n_ops);
        p.configs[c] = c;
        snprintf(p.notes[c], sizeof p.notes[c], "model-wise %d/%d: %s", c + 1, t->n_cfgs, t->cfgs[c].name);
    }
    lp_status st = lp_tune_points_try(t, &p, false, stop);
    lp_tune_points_free(&p);
    return st;
}

int lp_tune_by_key_desc(const void *a, const void *b)
{
    const lp_tune_ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return y->op - x->op; /* ties: later op first (bottom-up) */
}

/* The int8-capable ops of `base` ordered by sensitivity of `config`, most sensitive first. */
lp_status lp_tune_sensitivity_order(lowp_tuner *t, int config, const unsigned char *base, lp_tune_ranked *order, int *n_out)
{
    LP_TRY(lp_tune_compute_sensitivity(t, config));
    int n = 0;
    for (int i = 0; i < t->n_ops; i++)
        if (base[i] == LP_PREC_INT8)
            order[n++] = (lp_tune_ranked){ i, t->sens[config][i] };
    qsort(order, (size_t)n, sizeof *order, lp_tune_by_key_desc);
    *n_out = n;
    return LP_OK;
}

/* ---- basic ---- */

/* The points of accumulated fallback in `order` from base under config c: the first k + 1 ops
 * to choice[op] (NULL: to `prec`, -1: each op's fallback_of), for k = 0 .. n-1. */
static lp_status accumulated(lowp_tuner *t, int c, const unsigned char *base, const lp_tune_ranked *order, int n,
                             int prec, const unsigned char *choice, lp_tune_points *p)
{
    LP_TRY(lp_tune_points_new(t, n, p));
    for (int k = 0; k < n; k++) {
        int op = order[k].op;
        memcpy(p->precs[k], k ? p->precs[k - 1] : base, (size_t)t->n_ops);
        p->precs[k][op] = choice ? choice[op] : (unsigned char)(prec < 0 ? lp_tune_fallback_of(t, op) : prec);
        p->configs[k] = c;
    }
    return LP_OK;
}

lp_status lp_tune_run_basic(lowp_tuner *t, void *user)
{
    (void)user;
    int stop = 0;
    LP_TRY(lp_tune_modelwise(t, &stop, t->n_cfgs));
    if (stop)
        return LP_OK;
    int c = lp_tune_best_config(t);
    unsigned char *base = lp_tune_point_new(t, LP_PREC_INT8);
    lp_tune_ranked *gain = malloc((size_t)(t->n_ops + 1) * sizeof *gain);
    unsigned char *choice = lp_tune_point_new(t, LP_PREC_FP32);
    int *op_of = malloc((size_t)(2 * t->n_ops + 1) * sizeof *op_of);
    lp_tune_points p = {0};
    lp_status st = base && gain && choice && op_of ? LP_OK : OOM();
    if (st == LP_OK)
        lp_tune_normalize(t, base);
    /* one op at a time, bottom-up, each to every higher precision it allows (INT8 -> BF16, FP32;
     * BF16 -> FP32: a BF16-only tune falls back op by op too) -- points independent of each
     * other's results */
    int n_pts = 0, n = 0;
    for (int i = t->n_ops - 1; i >= 0 && st == LP_OK; i--)
        for (int q = base[i] + 1; q <= LP_PREC_FP32; q++)
            n_pts += t->ops[i].allow[q];
    if (st == LP_OK)
        st = lp_tune_points_new(t, n_pts, &p);
    n_pts = 0;
    for (int i = t->n_ops - 1; i >= 0 && st == LP_OK; i--)
        for (int q = base[i] + 1; q <= LP_PREC_FP32; q++) {
            if (!t->ops[i].allow[q])
                continue;
            memcpy(p.precs[n_pts], base, (size_t)t->n_ops);
            p.precs[n_pts][i] = (unsigned char)q;
            p.configs[n_pts] = c;
            op_of[n_pts] = i;
            snprintf(p.notes[n_pts], sizeof p.notes[n_pts], "fallback %s to %s", t->ops[i].name,
                     lp_precision_name((lp_precision)q));
            n_pts++;
        }
    if (st == LP_OK)
        st = lp_tune_points_try(t, &p, false, &stop);
    /* each op's gain: the more accurate of its fallbacks */
    for (int i = t->n_ops - 1, j = 0; i >= 0 && st == LP_OK && !stop; i--) {
        if (base[i] == LP_PREC_FP32)
            continue;
        gain[n] = (lp_tune_ranked){ i, -INFINITY };
        for (; j < n_pts && op_of[j] == i; j++) {
            const lowp_tune_trial *tr = &p.trials[j];
            double a = t->hib ? tr->accuracy : -tr->accuracy;
            if (tr->index && a > gain[n].key) {
                gain[n].key = a;
                choice[i] = p.precs[j][i];
            }
        }
        n++;
    }
    lp_tune_points_free(&p);
    /* accumulated, in the order of accuracy gained */
    if (st == LP_OK && !stop) {
        qsort(gain, (size_t)n, sizeof *gain, lp_tune_by_key_desc);
        st = accumulated(t, c, base, gain, n, 0, choice, &p);
        for (int k = 0; k < n && st == LP_OK; k++)
            snprintf(p.notes[k], sizeof p.notes[k], "accumulated fallback %d/%d (+%s)", k + 1, n,
                     t->ops[gain[k].op].name);
        if (st == LP_OK)
            st = lp_tune_points_try(t, &p, false, &stop);
        lp_tune_points_free(&p);
    }
    free(base), free(gain), free(choice), free(op_of);
    return st;
}

/* ---- mse ---- */

/* Accumulated fallback in `order`: the first k ops to `prec` (-1: each op's fallback_of), for
 * k = 1 .. n; with until_pass it ends at the first that passes. p: the points and their trials. */
static lp_status accumulate(lowp_tuner *t, int c, const unsigned char *base, const lp_tune_ranked *order, int n, int prec,
                            bool until_pass, lp_tune_points *p, int *stop)
{
    LP_TRY(accumulated(t, c, base, order, n, prec, NULL, p));
    for (int k = 0; k < n; k++)
        snprintf(p->notes[k], sizeof p->notes[k], "fallback %d most sensitive to %s (+%s)", k + 1,
                 prec < 0 ? "bf16/fp32" : lp_precision_name((lp_precision)prec), t->ops[order[k].op].name);
    return lp_tune_points_try(t, p, until_pass, stop);
}

bool lp_tune_any_bf16(const lowp_tuner *t)
{
    for (int i = 0; i < t->n_ops; i++)
        if (t->ops[i].allow[LP_PREC_BF16])
            return true;
    return false;
}

lp_status lp_tune_run_mse(lowp_tuner *t, void *user)
{
    (void)user;
    int stop = 0;
    LP_TRY(lp_tune_modelwise(t, &stop, t->n_cfgs));
    if (stop)
        return LP_OK;
    int c = lp_tune_best_config(t), n = 0;
    unsigned char *base = lp_tune_point_new(t, LP_PREC_INT8);
    lp_tune_ranked *order = malloc((size_t)(t->n_ops + 1) * sizeof *order);
    lp_status st = base && order ? LP_OK : OOM();
    if (st == LP_OK) {
        lp_tune_normalize(t, base);
        st = lp_tune_sensitivity_order(t, c, base, order, &n);
    }
    lp_tune_points p = {0};
    if (st == LP_OK)
        st = accumulate(t, c, base, order, n, -1, false, &p, &stop);
    lp_tune_points_free(&p);
    if (st == LP_OK && !stop && lp_tune_any_bf16(t))
        st = accumulate(t, c, base, order, n, LP_PREC_FP32, false, &p, &stop);
    lp_tune_points_free(&p);
    free(base), free(order);
    return st;
}

/* ---- mse_v2 ---- */

/* From a passing point q whose first k `order` ops fell back: revert them to INT8 one at a
 * time, least sensitive first, keeping each revert that still passes. */
lp_status lp_tune_revert(lowp_tuner *t, int c, unsigned char *q, const lp_tune_ranked *order, int k, int *stop)
{
    unsigned char *r = lp_tune_point_new(t, 0);
    if (!r)
        return OOM();
    lp_status st = LP_OK;
    for (int j = k - 1; j >= 0 && st == LP_OK && !*stop; j--) {
        int op = order[j].op;
        if (q[op] == LP_PREC_INT8)
            continue;
        memcpy(r, q, (size_t)t->n_ops);
        r[op] = LP_PREC_INT8;
        char note[160];
        snprintf(note, sizeof note, "revert %s to int8", t->ops[op].name);
        lowp_tune_trial tr;
        st = lowp_tuner_try(t, c, r, note, &tr, stop);
        if (st == LP_OK && tr.index && tr.passed)
            memcpy(q, r, (size_t)t->n_ops);
    }
    free(r);
    return st;
}

lp_status lp_tune_run_mse_v2(lowp_tuner *t, void *user)
{
    (void)user;
    int stop = 0, c = 0, n = 0, k = 0;
    unsigned char *q = lp_tune_point_new(t, LP_PREC_INT8), *base = lp_tune_point_new(t, LP_PREC_INT8);
    lp_tune_ranked *order = malloc((size_t)(t->n_ops + 1) * sizeof *order);
    lp_status st = q && base && order ? LP_OK : OOM();
    lowp_tune_trial tr = { 0 };
    if (st == LP_OK) {
        lp_tune_normalize(t, base);
        memcpy(q, base, (size_t)t->n_ops);
        st = lowp_tuner_try(t, c, q, "all int8", &tr, &stop);
    }
    if (st == LP_OK && !stop && !tr.passed)
        st = lp_tune_sensitivity_order(t, c, base, order, &n);
    /* phase A: the most sensitive fall back until the target holds (BF16 first, then FP32) */
    for (int pass = 0; pass < 2 && st == LP_OK && !stop && !tr.passed; pass++) {
        if (pass == 1 && !lp_tune_any_bf16(t))
            break;
        lp_tune_points p = {0};
        st = accumulate(t, c, base, order, n, pass == 0 ? -1 : LP_PREC_FP32, true, &p, &stop);
        if (st == LP_OK && p.tried) {   /* k: the count of the last tried, the passing one if any */
            k = p.tried;
            tr = p.trials[k - 1];
            memcpy(q, p.precs[k - 1], (size_t)t->n_ops);
        }
        lp_tune_points_free(&p);
    }
    /* phase B: revert the least sensitive fallbacks while the target holds */
    if (st == LP_OK && !stop && tr.passed)
        st = lp_tune_revert(t, c, q, order, k, &stop);
    free(q), free(base), free(order);
    return st;
}

/* ---- conservative ---- */

static int type_rank(const char *op_type)
{
    static const char *const prio[] = { "Conv", "Gemm", "MatMul" };
    for (int i = 0; i < 3; i++)
        if (!strcmp(op_type, prio[i]))
            return i;
    return 3;
}

lp_status lp_tune_run_conservative(lowp_tuner *t, void *user)
{
    (void)user;
    int stop = 0, c = 0;
    unsigned char *q = lp_tune_point_new(t, LP_PREC_FP32), *cand = lp_tune_point_new(t, LP_PREC_FP32);
    /* op types in priority order, then the others by first appearance */
    const char **types = calloc((size_t)t->n_ops + 1, sizeof *types);
    lp_status st = q && cand && types ? LP_OK : OOM();
    int n_types = 0;
    for (int r = 0; r <= 3 && st == LP_OK; r++)
        for (int i = 0; i < t->n_ops; i++) {
            if (type_rank(t->ops[i].op_type) != r)
                continue;
            bool seen = false;
            for (int k = 0; k < n_types; k++)
                seen |= !strcmp(types[k], t->ops[i].op_type);
            if (!seen)
                types[n_types++] = t->ops[i].op_type;
        }
    for (int ty = 0; ty < n_types && st == LP_OK && !stop; ty++) {
        memcpy(cand, q, (size_t)t->n_ops);
        for (int i = 0; i < t->n_ops; i++)
            if (!strcmp(t->ops[i].op_type, types[ty]))
                cand[i] = LP_PREC_INT8;
        char note[160];
        snprintf(note, sizeof note, "quantize every %s", types[ty]);
        lowp_tune_trial tr;
        st = lowp_tuner_try(t, c, cand, note, &tr, &stop);
        if (st != LP_OK || stop)
            break;
        if (tr.index && tr.passed) {
            memcpy(q, cand, (size_t)t->n_ops);
            continue;
        }
        /* the type as a whole loses too much: op by op, INT8 then BF16 */
        for (int i = 0; i < t->n_ops && st == LP_OK && !stop; i++) {
            if (strcmp(t->ops[i].op_type, types[ty]) != 0)
                continue;
            for (int p = LP_PREC_INT8; p <= LP_PREC_BF16 && st == LP_OK && !stop; p++) {
                if (!t->ops[i].allow[p])
                    continue;
                memcpy(cand, q, (size_t)t->n_ops);
                cand[i] = (unsigned char)p;
                snprintf(note, sizeof note, "quantize %s to %s", t->ops[i].name, lp_precision_name((lp_precision)p));
                st = lowp_tuner_try(t, c, cand, note, &tr, &stop);
                if (st == LP_OK && tr.index && tr.passed) {
                    memcpy(q, cand, (size_t)t->n_ops);
                    break;
                }
            }
        }
    }
    free(q), free(cand), free(types);
    return st;
}

/* ---- exhaustive ---- */

typedef struct exhaustive_state {
    int c;
    bool begun;
    unsigned char *q;
} exhaustive_state;

/* Every configuration, and in each every precision vector: a counter over the allowed choices,
 * bottom op fastest, starting from all INT8. */
static bool exhaustive_next(lowp_tuner *t, void *state, int *config, unsigned char *prec, char note[160])
{
    exhaustive_state *e = state;
    for (;;) {
        if (e->c >= t->n_cfgs)
            return false;
        if (!e->begun) {
            memset(e->q, LP_PREC_INT8, (size_t)t->n_ops);
            lp_tune_normalize(t, e->q);
            e->begun = true;
            break;
        }
        int i = t->n_ops - 1;
        for (; i >= 0; i--) {
            int p = e->q[i] + 1;
            while (p <= LP_PREC_FP32 && !t->ops[i].allow[p])
                p++;
            if (p <= LP_PREC_FP32) {
                e->q[i] = (unsigned char)p;
                break;
            }
            e->q[i] = LP_PREC_INT8;
            lp_tune_normalize(t, e->q);
        }
        if (i >= 0)
            break;
        e->c++, e->begun = false;
    }
    *config = e->c;
    memcpy(prec, e->q, (size_t)t->n_ops);
    snprintf(note, 160, "exhaustive: %s", t->cfgs[e->c].name);
    return true;
}

/* Points are announced in batches (lp_tune_try_all): a distributed tune runs them in parallel. */
lp_status lp_tune_run_exhaustive(lowp_tuner *t, void *user)
{
    (void)user;
    exhaustive_state e = {0, false, lp_tune_point_new(t, LP_PREC_INT8)};
    lp_status st = e.q ? lp_tune_try_all(t, exhaustive_next, &e) : OOM();
    free(e.q);
    return st;
}

/* ---- random ---- */

/* The default point first, then random ones (seeded); bounded so that a tiny space ends. */
static bool random_next(lowp_tuner *t, void *state, int *config, unsigned char *prec, char note[160])
{
    long *it = state;
    if (*it < 0) {
        memset(prec, LP_PREC_INT8, (size_t)t->n_ops);
        *config = 0;
        snprintf(note, 160, "default");
        ++*it;
        return true;
    }
    if (*it >= 50L * t->max_trials)
        return false;
    ++*it;
    uint64_t *rng = &t->rng;
    int c = (int)(lowp_random_uniform(rng) * t->n_cfgs);
    for (int i = 0; i < t->n_ops; i++) {
        double u = lowp_random_uniform(rng);
        prec[i] = u < 0.6 ? LP_PREC_INT8 : u < 0.8 ? LP_PREC_BF16 : LP_PREC_FP32;
    }
    *config = c < t->n_cfgs ? c : t->n_cfgs - 1;
    snprintf(note, 160, "random");
    return true;
}

/* Points are announced in batches (lp_tune_try_all): a distributed tune runs them in parallel. */
lp_status lp_tune_run_random(lowp_tuner *t, void *user)
{
    (void)user;
    long it = -1;
    return lp_tune_try_all(t, random_next, &it);
}
