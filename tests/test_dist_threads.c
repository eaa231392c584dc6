/* test_dist_threads.c — the distributed layer without MPI: a lowp_comm over threads (each thread
 * a rank, every collective a pair of barriers, split making sub-groups), so that the roads a
 * distributed run takes also run in `make test` and under ASan+UBSan (test-asan), where mpirun
 * does not go. Each case compares the ranks' answers with one process's, bit for bit:
 *   - an evaluation scored by a metric without save/merge (the ranks' outputs are replayed at
 *     rank 0) whose value depends on the order of its updates, at 2 and 3 ranks;
 *   - tunes whose points are evaluated on rank groups (3 ranks, groups of 2 and 1), bayesian's
 *     batches (one process with the same trial_batch), and basic's batched tiers: the same
 *     history, trial by trial, and the same model bytes. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lowp.h"
#include "test.h"
#include "fm_data.h"

#define MAX_RANKS 4

/* ---- a communicator over threads ---- */

typedef struct group {
    int size;
    pthread_barrier_t bar;
    const void *in[MAX_RANKS];
    size_t in_n[MAX_RANKS];
    void *bc;
    size_t bc_n;
    int color[MAX_RANKS];
    struct group *child[MAX_RANKS];   /* split: each member's new group and rank in it */
    int child_rank[MAX_RANKS];
    pthread_mutex_t mu;
    int refs;                         /* members still holding it */
} group;

typedef struct handle {
    group *g;
    int rank;
} handle;

static group *group_new(int size)
{
    group *g = calloc(1, sizeof *g);
    g->size = size;
    g->refs = size;
    pthread_barrier_init(&g->bar, NULL, (unsigned)size);
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

static void group_unref(group *g)
{
    pthread_mutex_lock(&g->mu);
    int left = --g->refs;
    pthread_mutex_unlock(&g->mu);
    if (left == 0) {
        pthread_barrier_destroy(&g->bar);
        pthread_mutex_destroy(&g->mu);
        free(g);
    }
}

static lowp_status th_gather(void *user, const void *buf, size_t n, int root, void **all_out, size_t *sizes_out)
{
    handle *h = user;
    group *g = h->g;
    g->in[h->rank] = buf, g->in_n[h->rank] = n;
    pthread_barrier_wait(&g->bar);
    if (h->rank == root) {
        size_t total = 0;
        for (int r = 0; r < g->size; r++)
            total += g->in_n[r];
        char *all = malloc(total ? total : 1);
        for (int r = 0, at = 0; r < g->size; at += (int)g->in_n[r], r++) {
            if (g->in_n[r])
                memcpy(all + at, g->in[r], g->in_n[r]);
            sizes_out[r] = g->in_n[r];
        }
        *all_out = all;
    }
    pthread_barrier_wait(&g->bar);   /* the senders' buffers are read: they may go */
    return LOWP_OK;
}

static lowp_status th_bcast(void *user, void **buf, size_t *n, int root)
{
    handle *h = user;
    group *g = h->g;
    if (h->rank == root)
        g->bc = *buf, g->bc_n = *n;
    pthread_barrier_wait(&g->bar);
    if (h->rank != root) {
        *buf = malloc(g->bc_n ? g->bc_n : 1);
        if (g->bc_n)
            memcpy(*buf, g->bc, g->bc_n);
        *n = g->bc_n;
    }
    pthread_barrier_wait(&g->bar);
    return LOWP_OK;
}

static void th_release(void *user)
{
    handle *h = user;
    group_unref(h->g);
    free(h);
}

static void th_fill(lowp_comm *c, group *g, int rank);

static lowp_status th_split(void *user, int color, lowp_comm *out)
{
    handle *h = user;
    group *g = h->g;
    g->color[h->rank] = color;
    pthread_barrier_wait(&g->bar);
    if (h->rank == 0)   /* one group per color, members in rank order */
        for (int r = 0; r < g->size; r++) {
            bool first = true;
            for (int q = 0; q < r; q++)
                first &= g->color[q] != g->color[r];
            if (!first)
                continue;
            int n = 0;
            for (int q = r; q < g->size; q++)
                n += g->color[q] == g->color[r];
            group *c = group_new(n);
            for (int q = r, k = 0; q < g->size; q++)
                if (g->color[q] == g->color[r])
                    g->child[q] = c, g->child_rank[q] = k++;
        }
    pthread_barrier_wait(&g->bar);
    th_fill(out, g->child[h->rank], g->child_rank[h->rank]);
    return LOWP_OK;
}

static void th_fill(lowp_comm *c, group *g, int rank)
{
    handle *h = malloc(sizeof *h);
    h->g = g, h->rank = rank;
    *c = (lowp_comm){ .rank = rank, .size = g->size, .gather = th_gather, .bcast = th_bcast, .user = h,
                      .split = th_split, .release = th_release };
}

/* Runs fn(rank, comm, arg) on n threads, one rank each. */
typedef void (*rank_fn)(int rank, const lowp_comm *comm, void *arg);

typedef struct rank_job {
    rank_fn fn;
    void *arg;
    lowp_comm comm;
} rank_job;

static void *rank_main(void *p)
{
    rank_job *j = p;
    j->fn(j->comm.rank, &j->comm, j->arg);
    return NULL;
}

static void run_ranks(int n, rank_fn fn, void *arg)
{
    group *world = group_new(n);
    rank_job jobs[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < n; r++) {
        jobs[r] = (rank_job){ fn, arg, { 0 } };
        th_fill(&jobs[r].comm, world, r);
        pthread_create(&th[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < n; r++) {
        pthread_join(th[r], NULL);
        jobs[r].comm.release(jobs[r].comm.user);
    }
}

/* ---- an evaluation with a metric that cannot merge ---- */

/* Order-sensitive: a running double sum of every logit, each scaled by the count of the updates
 * before it -- another order of batches, or a batch split, gives other bits. */
typedef struct ordered {
    double sum;
    int64_t updates;
} ordered;

static lowp_status ord_create(const lowp_params *params, void **state)
{
    (void)params;
    *state = calloc(1, sizeof(ordered));
    return *state ? LOWP_OK : LOWP_ERR_OUT_OF_MEMORY;
}

static lowp_status ord_update(void *state, int n_out, const lowp_tensor *const *outs, int n_lab,
                              const lowp_tensor *const *labs)
{
    (void)n_out, (void)n_lab, (void)labs;
    ordered *o = state;
    const float *x = lowp_tensor_data((lowp_tensor *)outs[0]);
    size_t n = lowp_tensor_nbytes(outs[0]) / sizeof *x;
    o->updates++;
    for (size_t i = 0; i < n; i++)
        o->sum = o->sum * 0.999 + x[i] * (double)o->updates;
    return LOWP_OK;
}

static lowp_status ord_result(void *state, double *v)
{
    *v = ((ordered *)state)->sum;
    return LOWP_OK;
}

static void ord_reset(void *state) { memset(state, 0, sizeof(ordered)); }

static const lowp_metric_vtable ordered_vt = { .name = "TestOrdered", .higher_is_better = 1, .create = ord_create,
                                               .update = ord_update, .result = ord_result, .reset = ord_reset,
                                               .free = free };

typedef struct eval_out {
    lowp_status st[MAX_RANKS];
    double value[MAX_RANKS];
    int64_t samples[MAX_RANKS];
} eval_out;

static lowp_status evaluate_on(const lowp_comm *comm, double *value, int64_t *samples)
{
    lowp_model *m = mlp();
    lowp_session_options so = lowp_session_options_default();
    so.threads = 1;
    lowp_session *s = NULL;
    lowp_metric *metric = NULL;
    lowp_dataloader *dl = fm_loader(false, 32, 300);   /* 10 batches, the last of 12 */
    lowp_status st = lowp_session_create(m, &so, &s);
    if (st == LOWP_OK)
        st = lowp_metric_create("TestOrdered", NULL, &metric);
    lowp_eval_result r = { 0 };
    if (st == LOWP_OK)
        st = lowp_evaluate_distributed(comm, s, m, dl, metric, NULL, &r);
    *value = r.value, *samples = r.samples;
    lowp_metric_free(metric);
    lowp_dataloader_free(dl);
    lowp_session_free(s);
    lowp_model_free(m);
    return st;
}

static void eval_rank(int rank, const lowp_comm *comm, void *arg)
{
    eval_out *o = arg;
    o->st[rank] = evaluate_on(comm, &o->value[rank], &o->samples[rank]);
}

static void test_eval_without_merge(void)
{
    double one;
    int64_t one_n;
    CHECK_OK(evaluate_on(NULL, &one, &one_n));
    CHECK(one_n == 300);
    for (int n = 2; n <= 3; n++) {
        eval_out o;
        memset(&o, 0, sizeof o);
        run_ranks(n, eval_rank, &o);
        for (int r = 0; r < n; r++) {
            CHECK(o.st[r] == LOWP_OK);
            CHECK(o.samples[r] == one_n);
            CHECK(memcmp(&o.value[r], &one, sizeof one) == 0);   /* bit for bit: same updates, same order */
        }
    }
}

/* ---- tunes ---- */

static char tmp[256];

typedef struct tune_case {
    const char *model, *strategy, *ws;
    int max_trials, ranks_per_trial, trial_batch;
    const char *expect;         /* a progress note the parallel trials must show (NULL: none) */
    lowp_status st[MAX_RANKS];
    int trials[MAX_RANKS];
    bool saw[MAX_RANKS];
} tune_case;

typedef struct progress_seen {
    tune_case *c;
    int rank;
} progress_seen;

static void on_progress(void *user, const lowp_tune_progress *p)
{
    progress_seen *ps = user;
    if (ps->c->expect && !strcmp(p->phase, "parallel") && strstr(p->note, ps->c->expect))
        ps->c->saw[ps->rank] = true;
}

/* A tune that demands an improvement (never met), so that the strategy walks its tiers. */
static lowp_status tune_on(const lowp_comm *comm, tune_case *c, int *trials)
{
    lowp_tune_options o = lowp_tune_options_default();
    progress_seen ps = { c, comm ? comm->rank : 0 };
    o.progress = on_progress, o.progress_user = &ps;
    char ws[400], out[420];
    snprintf(ws, sizeof ws, "%s/%s", tmp, c->ws);
    snprintf(out, sizeof out, "%s/out.onnx", ws);
    o.workspace = ws, o.output = out;
    o.strategy = c->strategy;
    o.threads = 1;
    o.tolerance = -0.005;
    o.max_trials = c->max_trials;
    o.seed = 3;
    o.comm = comm;
    o.ranks_per_trial = c->ranks_per_trial;
    o.trial_batch = c->trial_batch;
    lowp_model *m = NULL;
    lowp_metric *metric = NULL;
    lowp_status st = lowp_model_load(c->model, &m);
    if (st == LOWP_OK)
        st = lowp_metric_create("topk", NULL, &metric);
    lowp_tuner *t = NULL;
    if (st == LOWP_OK)
        st = lowp_tuner_create(m, fm_loader(true, 50, 100), fm_loader(false, 50, 300), metric, NULL, &o, &t);
    lowp_model_free(m);
    lowp_tune_summary s;
    if (st == LOWP_OK)
        st = lowp_tuner_run(t, &s);
    *trials = st == LOWP_OK ? s.trials : 0;
    lowp_tuner_free(t);
    return st;
}

static void tune_rank(int rank, const lowp_comm *comm, void *arg)
{
    tune_case *c = arg;
    c->st[rank] = tune_on(comm, c, &c->trials[rank]);
}

/* The history's trial lines without their timings. */
static char *trials_of(const char *ws)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", tmp, ws);
    char *s = fm_history_sans_times(path);
    char *first = s ? strstr(s, "{\"trial\"") : NULL;   /* the header line names the run's start time */
    if (s)
        memmove(s, first ? first : s + strlen(s), strlen(first ? first : "") + 1);
    return s;
}

static bool same_file(const char *a_ws, const char *b_ws, const char *name)
{
    char a[400], b[400];
    long an = 0, bn = 0;
    snprintf(a, sizeof a, "%s/%s/%s", tmp, a_ws, name);
    snprintf(b, sizeof b, "%s/%s/%s", tmp, b_ws, name);
    char *x = fm_read_file(a, &an), *y = fm_read_file(b, &bn);
    bool same = x && y && an == bn && !memcmp(x, y, (size_t)an);
    free(x), free(y);
    return same;
}

/* one: the single-process options; many: n ranks with theirs; same trials and model */
static void compare_tunes(tune_case *one, int n, tune_case *many)
{
    int trials = 0;
    lowp_status st = tune_on(NULL, one, &trials);
    CHECK(st == LOWP_OK);
    CHECK(trials >= 4);   /* enough trials to have batched something */
    run_ranks(n, tune_rank, many);
    for (int r = 0; r < n; r++) {
        CHECK(many->st[r] == LOWP_OK);
        CHECK(many->trials[r] == trials);
        CHECK(!many->expect || many->saw[r]);   /* the points did go to the groups */
    }
    char *a = trials_of(one->ws), *b = trials_of(many->ws);
    CHECK(a && b && *a && !strcmp(a, b));
    if (a && b && strcmp(a, b))
        fprintf(stderr, "one process:\n%s\n%d ranks:\n%s\n", a, n, b);
    free(a), free(b);
    CHECK(same_file(one->ws, many->ws, "out.onnx"));
}

#define MLP "models/mlp.onnx"
#define RESNET "models/resnet_s.onnx"   /* 10 tunable ops: room for bayesian's batches to matter */

static void test_rank_groups(void)
{
    /* random at 3 ranks, 2 per trial: pairs of points on groups of 2 and 1 */
    tune_case one = { MLP, "random", "random1", 6, 0, 0, NULL, { 0 }, { 0 }, { 0 } };
    tune_case many = { MLP, "random", "random3", 6, 2, 0, "on 2 rank groups (2+1 ranks)", { 0 }, { 0 }, { 0 } };
    compare_tunes(&one, 3, &many);
}

static void test_bayesian_batches(void)
{
    /* batches of 2: one process with trial_batch 2 = 3 ranks (groups of 2 and 1) */
    tune_case one = { RESNET, "bayesian", "bayes1", 6, 0, 2, NULL, { 0 }, { 0 }, { 0 } };
    tune_case many = { RESNET, "bayesian", "bayes3", 6, 0, 2, "2 points evaluated at once on 2 rank groups (2+1 ranks)",
                       { 0 }, { 0 }, { 0 } };
    compare_tunes(&one, 3, &many);
    /* and the batches are real: one at a time proposes other points */
    tune_case serial = { RESNET, "bayesian", "bayes_serial", 6, 0, 1, NULL, { 0 }, { 0 }, { 0 } };
    int trials = 0;
    CHECK_OK(tune_on(NULL, &serial, &trials));
    char *a = trials_of(serial.ws), *b = trials_of(one.ws);
    CHECK(a && b && strcmp(a, b) != 0);
    free(a), free(b);
}

static void test_basic_tiers(void)
{
    /* basic's model-wise, per-op and accumulated tiers, 2 points at a time */
    tune_case one = { MLP, "basic", "basic1", 24, 0, 0, NULL, { 0 }, { 0 }, { 0 } };
    tune_case many = { MLP, "basic", "basic2", 24, 0, 0, "2 points evaluated at once on 2 rank groups (1+1 ranks)",
                       { 0 }, { 0 }, { 0 } };
    compare_tunes(&one, 2, &many);
}

int main(void)
{
    int status;
    if (!fm_begin(tmp, sizeof tmp, "test_dist_threads", &status))
        return status;
    CHECK_OK(lowp_metric_register(&ordered_vt));
    RUN(test_eval_without_merge);
    RUN(test_rank_groups);
    RUN(test_bayesian_batches);
    RUN(test_basic_tiers);
    fm_end(tmp);
    return TEST_SUMMARY("test_dist_threads");
}
