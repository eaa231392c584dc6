/* parallel.c — parallel trials in a distributed tune. A strategy that knows its next points
 * (random, exhaustive, bayesian's batches, basic's and auto's fallback tiers) announces them;
 * the ranks, split into groups, evaluate them at once, each point on one group over the whole
 * evaluation set, sharded within the group (so each result is the bits one process computes),
 * and the strategy's tries then take the results in order, as if it had evaluated them one
 * after another: the same records, history, stops and final choice. */
#include <math.h>
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

static void group_release(lowp_tuner *t);

void lp_tune_pending_free(lowp_tuner *t)
{
    group_release(t);
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
    lp_bytes all;   /* every rank's payload, in rank order (rank 0's clock first) */
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

int lp_tune_groups(const lowp_tuner *t)
{
    const lowp_comm *comm = t->opt.comm;
    if (!lp_dist_active(comm))
        return 1;
    int n = comm->size, g = t->opt.ranks_per_trial > 0 ? t->opt.ranks_per_trial : 1;
    if (!comm->split)   /* no groups but of one rank: one rank per point, or every rank on each */
        return g > 1 ? 1 : n;
    return g >= n ? 1 : (n + g - 1) / g;
}

int lp_tune_batch(const lowp_tuner *t) { return t->opt.trial_batch > 0 ? t->opt.trial_batch : lp_tune_groups(t); }

/* Rank r's group when the ranks are split into k groups: contiguous, as even as can be (the
 * sizes differ by one at most). */
static int group_of(int r, int k, int n) { return (int)((int64_t)r * k / n); }

static void group_release(lowp_tuner *t)
{
    if (t->group_split && t->group.release)
        t->group.release(t->group.user);
    memset(&t->group, 0, sizeof t->group);
    t->group_split = 0;
}

/* This rank's group of k (a collective when the split changes: every rank asks for the same k
 * at the same point of the run). *sub: the group's communicator, NULL for a group of one. */
static lp_status group_for(lowp_tuner *t, int k, const lowp_comm **sub)
{
    const lowp_comm *comm = t->opt.comm;
    *sub = NULL;
    if (k >= comm->size)
        return LP_OK;   /* a rank each */
    if (t->group_split != k) {
        group_release(t);
        lowp_comm c = {0};
        LP_TRY(lp_error_prefix(comm->split(comm->user, group_of(comm->rank, k, comm->size), &c),
                               "splitting %d ranks into %d groups", comm->size, k));
        if (c.size < 1 || c.rank < 0 || c.rank >= c.size || !c.gather || !c.bcast) {
            if (c.release)
                c.release(c.user);
            return lp_error(LOWP_ERR_INTERNAL, "the communicator's split gave rank %d of %d, or no collectives",
                            c.rank, c.size);
        }
        t->group = c;
        t->group_split = k;
    }
    *sub = &t->group;
    return LP_OK;
}

/* One point on this rank's group (sub: NULL alone): its record for the gather. */
static void evaluate_point(lowp_tuner *t, const lowp_comm *sub, int j, int config, const unsigned char *q,
                           lp_bytes *out)
{
    lowp_tune_trial r = {0};
    lp_graph *g = NULL;
    double start = lp_tune_now();
    const lowp_comm *saved = t->opt.comm;
    t->opt.comm = sub;   /* the group's: a sharded evaluation within it, its rank 0 measures */
    lp_status st = lp_tune_build_graph(t, config, q, &t->rv, &g);
    if (st == LP_OK)
        st = lp_tune_evaluate(t, g, t->n_trials + 1 + j, "parallel", &r.accuracy, &r.latency_ms, &r.model_bytes,
                              &r.footprint_bytes);
    t->opt.comm = saved;
    lp_graph_free(g);
    if (sub && sub->rank != 0)
        return;   /* the group's rank 0 reports for the group */
    if (st != LP_OK && sub)   /* a group's "rank R" counts within the group: name it */
        st = lp_error_prefix(st, "rank group of ranks %d..%d", saved->rank, saved->rank + sub->size - 1);
    lp_bytes_u64(out, (uint64_t)j);
    lp_bytes_u64(out, (uint64_t)st);
    lp_bytes_f64(out, r.accuracy);
    lp_bytes_f64(out, r.latency_ms);
    lp_bytes_u64(out, (uint64_t)r.model_bytes);
    lp_bytes_u64(out, (uint64_t)r.footprint_bytes);
    lp_bytes_f64(out, lp_tune_now() - start);
    lp_bytes_str(out, st == LP_OK ? "" : lowp_last_error());
}

/* Progress: "3 points evaluated at once on 2 rank groups (2+1 ranks) in 4.1 s". */
static void announce(lowp_tuner *t, int m, int k, double seconds)
{
    const lowp_comm *comm = t->opt.comm;
    char sizes[64] = "", note[160];
    size_t used = 0;
    for (int g = 0; g < k && comm->split && used < sizeof sizes; g++) {
        int n = 0;
        for (int r = 0; r < comm->size; r++)
            n += group_of(r, k, comm->size) == g;
        used += (size_t)snprintf(sizes + used, sizeof sizes - used, "%s%d", g ? "+" : "", n);
    }
    if (comm->split)
        snprintf(note, sizeof note, "%d points evaluated at once on %d rank groups (%s ranks) in %.1f s", m, k, sizes,
                 seconds);
    else
        snprintf(note, sizeof note, "%d points evaluated at once on %d ranks (one each) in %.1f s", m, k, seconds);
    lp_tune_announce(t, "parallel", note);
}

/* The gathered records: rank 0's clock, then each point's, tagged with its index. */
static lp_status take_results(lowp_tuner *t, const void *all, size_t all_n, char **keys, int m)
{
    lp_tune_pending *grown = realloc(t->pending, (size_t)(t->n_pending + m) * sizeof *grown);
    if (!grown)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    t->pending = grown;
    lp_tune_pending *got = calloc((size_t)m, sizeof *got);
    if (!got)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_reader r;
    lp_reader_init(&r, all, all_n);
    t->agreed_elapsed = lp_reader_f64(&r);
    lp_status st = r.bad ? lp_error(LOWP_ERR_INTERNAL, "parallel trials: no clock from rank 0") : LP_OK;
    int n_got = 0;
    while (st == LP_OK && r.left) {
        uint64_t idx = lp_reader_u64(&r);
        lp_tune_pending p = {0};
        p.status = (lp_status)lp_reader_u64(&r);
        p.t.accuracy = lp_reader_f64(&r);
        p.t.latency_ms = lp_reader_f64(&r);
        p.t.model_bytes = (int64_t)lp_reader_u64(&r);
        p.t.footprint_bytes = (int64_t)lp_reader_u64(&r);
        p.t.seconds = lp_reader_f64(&r);
        int64_t len = lp_reader_count(&r, 1);
        if (r.bad || idx >= (uint64_t)m || got[idx].key || len < 0 || !(p.message = malloc((size_t)len + 1))) {
            st = lp_error(LOWP_ERR_INTERNAL, "parallel trials: a malformed or repeated result (point %llu of %d)",
                          (unsigned long long)idx + 1, m);
            break;
        }
        lp_reader_get(&r, p.message, (size_t)len);
        p.message[len] = 0;
        p.key = keys[idx], keys[idx] = NULL;
        got[idx] = p;
        n_got++;
    }
    if (st == LP_OK && n_got != m)
        st = lp_error(LOWP_ERR_INTERNAL, "parallel trials: %d results for %d points", n_got, m);
    for (int j = 0; j < m; j++) {
        if (st == LP_OK)
            t->pending[t->n_pending++] = got[j];
        else if (got[j].key)
            free(got[j].key), free(got[j].message);
    }
    free(got);
    return st;
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
    /* k groups at once (a lone point: the tries evaluate it on every rank, sharded) */
    int k = m < lp_tune_groups(t) ? m : lp_tune_groups(t);
    /* the calibrations they need, made together (a collective) before the groups part */
    for (int j = 0; j < m && st == LP_OK && k >= 2; j++) {
        bool int8 = false;
        for (int i = 0; i < t->n_ops; i++)
            int8 |= qs[j][i] == LP_PREC_INT8;
        lowp_calibration *cal = NULL;
        if (int8 && t->cfgs[cfg[j]].approach == LP_APPROACH_STATIC_QUANT)
            st = lp_tune_calibration(t, t->cfgs[cfg[j]].sampling, lp_tune_needs_samples(&t->rv), &cal);
    }
    const lowp_comm *sub = NULL;
    if (st == LP_OK && k >= 2 && comm->split)
        st = group_for(t, k, &sub);
    void *payload = NULL, *all = NULL;
    size_t payload_n = 0, all_n = 0;
    double start = lp_tune_now();
    if (st == LP_OK && k >= 2) {
        /* this rank's group evaluates points j = group, group + k, ... each over the whole
         * evaluation set, sharded within the group (without split: groups of one rank, and the
         * ranks past k wait) */
        int mine = comm->split ? group_of(comm->rank, k, comm->size) : comm->rank < k ? comm->rank : -1;
        lp_bytes out = {0};
        if (comm->rank == 0)
            lp_bytes_f64(&out, 0);   /* rank 0's clock, filled in below */
        for (int j = mine; mine >= 0 && j < m; j += k)
            evaluate_point(t, sub, j, cfg[j], qs[j], &out);
        if (comm->rank == 0 && out.data && out.len >= sizeof(double)) {
            double el = lp_tune_now() - t->t0;
            memcpy(out.data, &el, sizeof el);
        }
        st = lp_bytes_finish(&out, &payload, &payload_n);
        gathered gt = {{0}};
        st = lp_dist_agree(comm, st, payload, payload_n, fold, answer, &gt, &all, &all_n);
        free(gt.all.data);
        if (st == LP_OK)
            st = take_results(t, all, all_n, keys, m);
        if (st == LP_OK)
            announce(t, m, k, lp_tune_now() - start);
    }
    free(payload);
    free(all);
    for (int j = 0; j < m; j++)
        free(keys[j]), free(qs[j]);
    free(keys), free(qs), free(cfg);
    return st;
}

lp_status lp_tune_try_all(lowp_tuner *t, lp_tune_next_fn next, void *state)
{
    int k_max = lp_tune_batch(t);
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

lp_status lp_tune_try_points(lowp_tuner *t, int n, const int *configs, unsigned char *const *precs,
                             const char (*notes)[160], bool until_pass, lowp_tune_trial *trials, int *tried,
                             int *stop)
{
    for (int i = 0; trials && i < n; i++)
        trials[i] = (lowp_tune_trial){ .accuracy = NAN };
    if (tried)
        *tried = 0;
    int b = lp_tune_batch(t);
    bool passed = false;
    lp_status st = LP_OK;
    for (int i0 = 0; i0 < n && st == LP_OK && !*stop && !passed; i0 += b) {
        int k = n - i0 < b ? n - i0 : b;
        st = lp_tune_prefetch(t, k, configs + i0, precs + i0);
        for (int i = i0; i < i0 + k && st == LP_OK && !*stop && !passed; i++) {
            lowp_tune_trial tr;
            st = lowp_tuner_try(t, configs[i], precs[i], notes[i], &tr, stop);
            passed = until_pass && tr.index && tr.passed;
            if (trials)
                trials[i] = tr;
            if (tried)
                *tried = i + 1;
        }
    }
    return st;
}

void lp_tune_points_free(lp_tune_points *p)
{
    for (int i = 0; p->precs && i < p->n; i++)
        free(p->precs[i]);
    free(p->precs), free(p->configs), free(p->notes), free(p->trials);
    *p = (lp_tune_points){0};
}

lp_status lp_tune_points_new(const lowp_tuner *t, int n, lp_tune_points *out)
{
    size_t k = n > 0 ? (size_t)n : 1;
    *out = (lp_tune_points){ .n = n, .configs = calloc(k, sizeof *out->configs), .precs = calloc(k, sizeof *out->precs),
                             .notes = calloc(k, sizeof *out->notes), .trials = calloc(k, sizeof *out->trials) };
    bool ok = out->configs && out->precs && out->notes && out->trials;
    for (int i = 0; ok && i < n; i++)
        ok = (out->precs[i] = calloc((size_t)t->n_ops + 1, 1)) != NULL;
    if (!ok) {
        lp_tune_points_free(out);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return LP_OK;
}

lp_status lp_tune_points_try(lowp_tuner *t, lp_tune_points *p, bool until_pass, int *stop)
{
    return lp_tune_try_points(t, p->n, p->configs, p->precs, (const char (*)[160])p->notes, until_pass, p->trials,
                              &p->tried, stop);
}
