/* parallel.c — parallel trials in a distributed tune. A strategy that knows its next points
 * (random, exhaustive) announces them; the ranks evaluate them at once, each point on one rank
 * over the whole evaluation set (so each result is the bits one process computes), and the
 * strategy's tries then take the results in order, as if it had evaluated them one after
 * another: the same records, history, stops and final choice. */
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "dist/dist.h"
#include "tune/tune.h"

static const lp_tune_pending *find_pending(const lowp_tuner *t, const char *key)
{
    for (int i = 0; i < t->n_pending; i++)
        if (!strcmp(t->pending[i].key, key))
            return &t->pending[i];
    return NULL;
}

static bool known(const lowp_tuner *t, const char *key)
{
    for (int i = 0; i < t->n_trials; i++)
        if (!strcmp(t->trials[i].key, key))
            return true;
    return lp_tune_history_find(t, key) || find_pending(t, key);
}

void lp_tune_pending_free(lowp_tuner *t)
{
    for (int i = 0; i < t->n_pending; i++) {
        free(t->pending[i].key);
        free(t->pending[i].message);
    }
    free(t->pending);
    t->pending = NULL;
    t->n_pending = 0;
}

/* A prefetched point's result, when there is one (tuner.c's lowp_tuner_try). */
const lp_tune_pending *lp_tune_pending_find(const lowp_tuner *t, const char *key) { return find_pending(t, key); }

typedef struct gathered {
    lp_bytes all;   /* every rank's records, in rank order, then rank 0's elapsed time */
} gathered;

static lp_status fold(void *user, int rank, const void *payload, size_t n)
{
    (void)rank;
    lp_bytes_put(&((gathered *)user)->all, payload, n);
    return LP_OK;
}

static lp_status answer(void *user, void **out, size_t *n)
{
    return lp_bytes_finish(&((gathered *)user)->all, out, n);
}

lp_status lp_tune_prefetch(lowp_tuner *t, int n, const int *configs, unsigned char *const *precs)
{
    const lowp_comm *comm = t->opt.comm;
    if (!lp_dist_active(comm) || n < 2 || t->stopped || t->cancelled)
        return LP_OK;
    int budget = t->max_trials - t->n_trials, m = 0;
    char **keys = calloc((size_t)n, sizeof *keys);
    unsigned char **qs = calloc((size_t)n, sizeof *qs);
    int *cfg = calloc((size_t)n, sizeof *cfg);
    lp_status st = keys && qs && cfg ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    /* the points a try would evaluate: not FP32, not seen, not twice, within the trial budget */
    for (int i = 0; i < n && m < budget && st == LP_OK; i++) {
        unsigned char *q = malloc((size_t)t->n_ops + 1);
        if (!q) {
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        memcpy(q, precs[i], (size_t)t->n_ops);
        lp_tune_normalize(t, q);
        int low = 0;
        for (int k = 0; k < t->n_ops; k++)
            low += q[k] != LP_PREC_FP32;
        char *key = low ? lp_tune_key(t, configs[i], q) : NULL;
        bool dup = !key || known(t, key);
        for (int j = 0; j < m && !dup; j++)
            dup = !strcmp(keys[j], key);
        if (dup) {
            free(q);
            free(key);
            continue;
        }
        keys[m] = key, qs[m] = q, cfg[m] = configs[i];
        m++;
    }
    /* the calibrations they need, made together (a collective) before anyone evaluates alone */
    for (int j = 0; j < m && st == LP_OK && m >= 2; j++) {
        bool int8 = false;
        for (int k = 0; k < t->n_ops; k++)
            int8 |= qs[j][k] == LP_PREC_INT8;
        lowp_calibration *cal = NULL;
        if (int8 && t->cfgs[cfg[j]].approach == LP_APPROACH_STATIC_QUANT)
            st = lp_tune_calibration(t, t->cfgs[cfg[j]].sampling, t->rv.learned_rounding, &cal);
    }
    if (st != LP_OK || m < 2) {   /* one point: the tries evaluate it on every rank, sharded */
        for (int j = 0; j < m; j++)
            free(keys[j]), free(qs[j]);
        free(keys), free(qs), free(cfg);
        return st;
    }
    /* this rank's points: j = rank, rank + size, ... each alone, over the whole evaluation set */
    lp_bytes mine = {0};
    for (int j = comm->rank; j < m; j += comm->size) {
        lowp_tune_trial r = {0};
        lp_graph *g = NULL;
        double start = lp_tune_now();
        const lowp_comm *saved = t->opt.comm;
        t->opt.comm = NULL;
        lp_status pst = lp_tune_build_graph(t, cfg[j], qs[j], &t->rv, &g);
        if (pst == LP_OK)
            pst = lp_tune_evaluate(t, g, t->n_trials + 1 + j, "parallel", &r.accuracy, &r.latency_ms, &r.model_bytes,
                                   &r.footprint_bytes);
        t->opt.comm = saved;
        lp_graph_free(g);
        lp_bytes_u64(&mine, (uint64_t)j);
        lp_bytes_u64(&mine, (uint64_t)pst);
        lp_bytes_f64(&mine, r.accuracy);
        lp_bytes_f64(&mine, r.latency_ms);
        lp_bytes_u64(&mine, (uint64_t)r.model_bytes);
        lp_bytes_u64(&mine, (uint64_t)r.footprint_bytes);
        lp_bytes_f64(&mine, lp_tune_now() - start);
        lp_bytes_str(&mine, pst == LP_OK ? "" : lowp_last_error());
    }
    if (comm->rank == 0)   /* last: rank 0's clock, for the timeout */
        lp_bytes_f64(&mine, lp_tune_now() - t->t0);
    void *payload = NULL, *all = NULL;
    size_t payload_n = 0, all_n = 0;
    st = lp_bytes_finish(&mine, &payload, &payload_n);
    gathered gt = {{0}};
    st = lp_dist_agree(comm, st, payload, payload_n, fold, answer, &gt, &all, &all_n);
    free(payload);
    free(gt.all.data);
    lp_tune_pending *grown = st == LP_OK ? realloc(t->pending, (size_t)(t->n_pending + m) * sizeof *grown) : NULL;
    if (st == LP_OK && !grown)
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (grown)
        t->pending = grown;
    /* rank 0's records come first, its clock right after them; then the other ranks' */
    lp_reader r;
    lp_reader_init(&r, all, all_n);
    int got = 0;
    for (int rank = 0; rank < comm->size && st == LP_OK; rank++) {
        for (int j = rank; j < m; j += comm->size) {
            uint64_t idx = lp_reader_u64(&r);
            lp_tune_pending p = {0};
            p.status = (lp_status)lp_reader_u64(&r);
            p.t.accuracy = lp_reader_f64(&r);
            p.t.latency_ms = lp_reader_f64(&r);
            p.t.model_bytes = (int64_t)lp_reader_u64(&r);
            p.t.footprint_bytes = (int64_t)lp_reader_u64(&r);
            p.t.seconds = lp_reader_f64(&r);
            int64_t len = lp_reader_count(&r, 1);
            if (r.bad || idx != (uint64_t)j || len < 0 || !(p.message = malloc((size_t)len + 1))) {
                st = lp_error(LOWP_ERR_INTERNAL, "parallel trials: a malformed result from rank %d", rank);
                break;
            }
            lp_reader_get(&r, p.message, (size_t)len);
            p.message[len] = 0;
            p.key = keys[j], keys[j] = NULL;
            t->pending[t->n_pending++] = p;
            got++;
        }
        if (rank == 0)
            t->agreed_elapsed = lp_reader_f64(&r);
    }
    if (st == LP_OK && got != m)
        st = lp_error(LOWP_ERR_INTERNAL, "parallel trials: %d results for %d points", got, m);
    free(all);
    for (int j = 0; j < m; j++)
        free(keys[j]), free(qs[j]);
    free(keys), free(qs), free(cfg);
    return st;
}

lp_status lp_tune_try_all(lowp_tuner *t, lp_tune_next_fn next, void *state)
{
    int k_max = lp_dist_active(t->opt.comm) ? t->opt.comm->size : 1;
    int *configs = calloc((size_t)k_max, sizeof *configs);
    unsigned char **precs = calloc((size_t)k_max, sizeof *precs);
    char (*notes)[160] = calloc((size_t)k_max, sizeof *notes);
    lp_status st = configs && precs && notes ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < k_max && st == LP_OK; i++)
        if (!(precs[i] = malloc((size_t)t->n_ops + 1)))
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    int stop = 0;
    while (st == LP_OK && !stop) {
        int k = 0;
        while (k < k_max && next(t, state, &configs[k], precs[k], notes[k]))
            k++;
        if (k == 0)
            break;
        st = lp_tune_prefetch(t, k, configs, precs);
        for (int i = 0; i < k && st == LP_OK && !stop; i++)
            st = lowp_tuner_try(t, configs[i], precs[i], notes[i], NULL, &stop);
        if (k < k_max)
            break;
    }
    for (int i = 0; precs && i < k_max; i++)
        free(precs[i]);
    free(precs), free(configs), free(notes);
    return st;
}
