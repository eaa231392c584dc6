/* test_metric_merge.c — the registry property behind distributed evaluation: every registered
 * metric has save + merge, and for random batches cut into shards at random batch
 * boundaries, merging the shards' saved states (in shard order) gives the value of one state
 * fed every batch, bit for bit. A metric is fed the first input family it accepts
 * (classification, regression, detection); a new metric that accepts none fails here until a
 * family for it is added. Also: corrupt, truncated and foreign states are refused. */
#include "test.h"

#include "base/tensor.h"
#include "lowp.h"
#include "metric/metric.h"

static uint64_t rng = 99;
static double unif(void) { return lowp_random_uniform(&rng); }

enum { FAM_CLASS, FAM_ONEHOT_BINARY, FAM_REGRESS, FAM_DETECT, FAM_TOKENS, FAM_SPANS, N_FAM };
static const char *const fam_names[] = {"classification", "binary", "regression", "detection", "tokens",
                                        "answer spans"};

#define MAXT 5
typedef struct batch {
    int n_out, n_lab;
    lp_tensor *t[2 * MAXT];
} batch;

static lp_tensor *tensor(lp_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t dims[3] = {d0, d1, d2};
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(dt, ndim, dims, &t));
    return t;
}

/* Batch b of family f: n rows, values that make sums inexact (random doubles in floats). */
static void make_batch(int f, int64_t n, batch *b)
{
    memset(b, 0, sizeof *b);
    const int64_t C = 7, D = 5, G = 3;
    if (f == FAM_CLASS) {
        b->n_out = 1, b->n_lab = 1;
        b->t[0] = tensor(LP_F32, 2, n, C, 0);
        b->t[1] = tensor(LP_I64, 1, n, 0, 0);
        for (int64_t i = 0; i < n * C; i++)
            ((float *)b->t[0]->data)[i] = (float)(unif() * 8 - 4);
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)b->t[1]->data)[i] = (int64_t)(unif() * C);
    } else if (f == FAM_ONEHOT_BINARY || f == FAM_REGRESS) {
        b->n_out = 1, b->n_lab = 1;
        b->t[0] = tensor(LP_F32, 2, n, 3, 0);
        b->t[1] = tensor(LP_F32, 2, n, 3, 0);
        for (int64_t i = 0; i < n * 3; i++) {
            ((float *)b->t[0]->data)[i] = (float)unif();
            ((float *)b->t[1]->data)[i] = f == FAM_REGRESS ? (float)(unif() * 1e3) : (float)(unif() < 0.5);
        }
    } else if (f == FAM_TOKENS) {   /* translations and references: (N, 9) token ids, 0 pads */
        b->n_out = 1, b->n_lab = 1;
        b->t[0] = tensor(LP_I64, 2, n, 9, 0);
        b->t[1] = tensor(LP_I64, 2, n, 9, 0);
        for (int64_t i = 0; i < n * 9; i++) {
            ((int64_t *)b->t[0]->data)[i] = 1 + (int64_t)(unif() * 4);
            ((int64_t *)b->t[1]->data)[i] = i % 9 > 6 ? 0 : 1 + (int64_t)(unif() * 4);
        }
    } else if (f == FAM_SPANS) {    /* start/end logits (N, 12), gold spans (N, 2) */
        b->n_out = 2, b->n_lab = 2;
        for (int k = 0; k < 2; k++) {
            b->t[k] = tensor(LP_F32, 2, n, 12, 0);
            for (int64_t i = 0; i < n * 12; i++)
                ((float *)b->t[k]->data)[i] = (float)(unif() * 6 - 3);
            b->t[2 + k] = tensor(LP_I64, 2, n, 2, 0);
        }
        for (int64_t i = 0; i < n * 2; i++) {
            int64_t a = (int64_t)(unif() * 10);
            ((int64_t *)b->t[2]->data)[i] = a;
            ((int64_t *)b->t[3]->data)[i] = a + (int64_t)(unif() * 2);
        }
    } else {
        b->n_out = 3, b->n_lab = 2;
        b->t[0] = tensor(LP_F32, 3, n, D, 4);
        b->t[1] = tensor(LP_F32, 2, n, D, 0);
        b->t[2] = tensor(LP_F32, 2, n, D, 0);
        b->t[3] = tensor(LP_F32, 3, n, G, 4);
        b->t[4] = tensor(LP_F32, 2, n, G, 0);
        for (int64_t i = 0; i < n; i++) {
            for (int64_t g = 0; g < G; g++) {
                float *bx = (float *)b->t[3]->data + (i * G + g) * 4;
                bx[0] = (float)unif(), bx[1] = (float)unif();
                bx[2] = bx[0] + 0.3f, bx[3] = bx[1] + 0.3f;
                ((float *)b->t[4]->data)[i * G + g] = (float)(int)(unif() * 3);
            }
            for (int64_t d = 0; d < D; d++) {
                const float *gb = (float *)b->t[3]->data + (i * G + d % G) * 4;
                float *bx = (float *)b->t[0]->data + (i * D + d) * 4;
                for (int k = 0; k < 4; k++)
                    bx[k] = gb[k] + (float)(unif() * 0.1 - 0.05);
                /* coarse scores: ties across shards exercise the stable order */
                ((float *)b->t[1]->data)[i * D + d] = (float)((int)(unif() * 4) / 4.0);
                ((float *)b->t[2]->data)[i * D + d] = (float)(int)(unif() * 3);
            }
        }
    }
}

static void free_batch(batch *b)
{
    for (int i = 0; i < 2 * MAXT; i++)
        lp_tensor_free(b->t[i]);
}

static lowp_status feed(lowp_metric *m, batch *b)
{
    return lowp_metric_update(m, b->n_out, (const lowp_tensor *const *)b->t, b->n_lab,
                              (const lowp_tensor *const *)b->t + b->n_out);
}

/* A metric by name; multi_metrics (built from a configuration, not by name) from one that
 * combines three mergeable metrics. */
static lowp_status make(const char *name, lowp_metric **out)
{
    if (strcmp(name, "multi_metrics"))
        return lowp_metric_create(name, NULL, out);
    lowp_config *c = NULL;
    lowp_status st = lowp_config_load_string("model: {name: m}\nevaluation:\n  accuracy:\n    multi_metrics:\n"
                                             "      Loss: {}\n      topk: 3\n      F1: {}\n"
                                             "      weight: [0.3, 0.5, 0.2]\n", "multi.yaml", &c);
    if (st == LOWP_OK)
        st = lowp_config_metric(c, out);
    lowp_config_free(c);
    return st;
}

/* Metrics that accept an earlier family but are meant for another (BLEU scores float class
 * scores as tokens that match nothing). */
static const struct { const char *name; int fam; } natural[] = {
    {"BLEU", FAM_TOKENS}, {"MAE", FAM_REGRESS}, {"MSE", FAM_REGRESS}, {"RMSE", FAM_REGRESS},
};

static int accepts(const char *name, int f);

/* The family metric `name` is meant for, else the first it accepts, or -1. */
static int family_of(const char *name)
{
    for (size_t i = 0; i < sizeof natural / sizeof natural[0]; i++)
        if (!strcmp(natural[i].name, name))
            return accepts(name, natural[i].fam) ? natural[i].fam : -1;
    for (int f = 0; f < N_FAM; f++)
        if (accepts(name, f))
            return f;
    return -1;
}

/* 1 when a 4-row batch of family f is scored without error. */
static int accepts(const char *name, int f)
{
    lowp_metric *m = NULL;
    if (make(name, &m) != LOWP_OK)
        return 0;
    batch b;
    make_batch(f, 4, &b);
    lowp_status st = feed(m, &b);
    double v;
    if (st == LOWP_OK)
        st = lowp_metric_result(m, &v);
    free_batch(&b);
    lowp_metric_free(m);
    return st == LOWP_OK;
}

static int same_bits(double a, double b) { return !memcmp(&a, &b, sizeof a); }

static void check_metric(const lowp_metric_vtable *vt)
{
    CHECK_MSG(vt->save && vt->merge, "metric %s has no save/merge: distributed evaluation cannot "
              "merge it (see lowp_metric_vtable in lowp.h)", vt->name);
    if (!vt->save || !vt->merge)
        return;
    int f = family_of(vt->name);
    CHECK_MSG(f >= 0, "metric %s accepts none of the test's input families: add one to "
              "tests/test_metric_merge.c", vt->name);
    if (f < 0)
        return;
    for (int round = 0; round < 12; round++) {
        enum { NB = 9 };
        batch b[NB];
        for (int i = 0; i < NB; i++)
            make_batch(f, 1 + (int64_t)(unif() * 6), &b[i]);
        lowp_metric *whole = NULL;
        CHECK_OK(make(vt->name, &whole));
        for (int i = 0; i < NB; i++)
            CHECK_OK(feed(whole, &b[i]));
        double want = NAN, got = NAN;
        CHECK_OK(lowp_metric_result(whole, &want));
        /* shards: cut points at random batch boundaries (empty shards included) */
        int shards = 1 + round % 4, cut[6] = {0};
        for (int s = 1; s < shards; s++)
            cut[s] = cut[s - 1] + (int)(unif() * (NB - cut[s - 1] + 1));
        cut[shards] = NB;
        lowp_metric *first = NULL;
        for (int s = 0; s < shards; s++) {
            lowp_metric *m = NULL;
            CHECK_OK(make(vt->name, &m));
            for (int i = cut[s]; i < cut[s + 1]; i++)
                CHECK_OK(feed(m, &b[i]));
            if (!first) {
                first = m;
                continue;
            }
            void *bytes = NULL;
            size_t size = 0;
            CHECK_OK(lowp_metric_save(m, &bytes, &size));
            CHECK_OK(lowp_metric_merge(first, bytes, size));
            free(bytes);
            lowp_metric_free(m);
        }
        CHECK_OK(lowp_metric_result(first, &got));
        CHECK_MSG(same_bits(got, want), "%s (%s inputs), %d shards: merged %.17g, one state %.17g",
                  vt->name, fam_names[f], shards, got, want);
        /* a truncated state and a corrupt one are refused, not read past their end */
        void *bytes = NULL;
        size_t size = 0;
        CHECK_OK(lowp_metric_save(whole, &bytes, &size));
        lowp_metric *victim = NULL;
        CHECK_OK(make(vt->name, &victim));
        CHECK(size > 0 && lowp_metric_merge(victim, bytes, size - 1) != LOWP_OK);
        CHECK(lowp_metric_merge(victim, "garbage", 7) != LOWP_OK);
        free(bytes);
        lowp_metric_free(victim);
        lowp_metric_free(first);
        lowp_metric_free(whole);
        for (int i = 0; i < NB; i++)
            free_batch(&b[i]);
    }
}

static void test_every_registered_metric_merges_exactly(void)
{
    CHECK(lp_metric_count() >= 10);
    for (int i = 0; i < lp_metric_count(); i++)
        check_metric(lp_metric_at(i));
    /* multi_metrics is not registered by name (configurations make it): its vtable through one */
    lowp_metric *multi = NULL;
    CHECK_OK(make("multi_metrics", &multi));
    if (multi)
        check_metric(multi->vt);
    lowp_metric_free(multi);
}

/* States of different metrics or parameters do not merge. */
static void test_foreign_states_refused(void)
{
    lowp_metric *a = NULL, *b = NULL, *c = NULL;
    lowp_params *p = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "k", "5"));
    CHECK_OK(lowp_metric_create("topk", NULL, &a));
    CHECK_OK(lowp_metric_create("topk", p, &b));
    CHECK_OK(lowp_metric_create("MSE", NULL, &c));
    void *bytes = NULL;
    size_t size = 0;
    CHECK_OK(lowp_metric_save(b, &bytes, &size));
    CHECK(lowp_metric_merge(a, bytes, size) == LOWP_ERR_FORMAT);   /* top-5 into top-1 */
    CHECK(lowp_metric_merge(c, bytes, size) == LOWP_ERR_FORMAT);   /* topk into MSE */
    CHECK(strstr(lowp_last_error(), "MSE") != NULL);
    free(bytes);
    lowp_params_free(p);
    lowp_metric_free(a);
    lowp_metric_free(b);
    lowp_metric_free(c);
}

/* A user metric without save/merge registers and evaluates as before, and says it cannot merge. */
static lowp_status u_create(const lowp_params *p, void **out) { (void)p; *out = calloc(1, 8); return LOWP_OK; }
static lowp_status u_update(void *s, int no, const lowp_tensor *const *o, int nl, const lowp_tensor *const *l)
{
    (void)s, (void)no, (void)o, (void)nl, (void)l;
    return LOWP_OK;
}
static lowp_status u_result(void *s, double *v) { (void)s; *v = 1; return LOWP_OK; }
static const lowp_metric_vtable unmergeable = {"Unmergeable", NULL, 1, u_create, u_update, u_result, NULL, free, NULL, NULL};

static void test_unmergeable_user_metric(void)
{
    CHECK_OK(lowp_metric_register(&unmergeable));
    lowp_metric *m = NULL;
    CHECK_OK(lowp_metric_create("Unmergeable", NULL, &m));
    void *bytes = NULL;
    size_t size = 0;
    CHECK(lowp_metric_save(m, &bytes, &size) == LOWP_ERR_UNSUPPORTED);
    CHECK(strstr(lowp_last_error(), "Unmergeable") != NULL);
    lowp_metric_free(m);
}

int main(void)
{
    RUN(test_every_registered_metric_merges_exactly);
    RUN(test_foreign_states_refused);
    RUN(test_unmergeable_user_metric);
    return TEST_SUMMARY("test_metric_merge");
}
