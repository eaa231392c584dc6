/* bayesian.c — Bayesian optimization over the per-op choices: a Gaussian process (RBF
 * kernel) models accuracy as a function of the precision vector (int8 0, bf16 0.5, fp32 1 per
 * op); each round scores a few hundred candidates (random points and mutations of the best
 * ones) by
 *
 *     P(pass) * (1 - cost)        P(pass) = Phi((mu - target) / sigma), mirrored if lower is better
 *
 * -- constrained expected gain: cheap recipes that probably keep the accuracy -- and tries the
 * best candidate not tried yet (or, in batches, the best few: see lp_tune_run_bayesian). The
 * model-wise configuration is the default one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tune.h"

#define N_CAND 256
#define MAX_OBS 512     /* observations the GP holds (fitting is cubic in them): later ones
                           are not added, and its memory stays bounded whatever the budget */

typedef struct gp {
    int m, d;
    double *x;                  /* m x d */
    double *alpha;              /* K^-1 (y - mean) */
    double *L;                  /* Cholesky factor of K, m x m */
    double mean, var, ell2;
} gp;

static double kern(const gp *g, const double *a, const double *b)
{
    double s = 0;
    for (int i = 0; i < g->d; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return g->var * exp(-0.5 * s / g->ell2);
}

/* Fits to (x, y); false when the matrix is not positive definite (then more jitter). */
static bool gp_fit(gp *g, const double *y, double jitter)
{
    int m = g->m;
    double *L = g->L;
    for (int i = 0; i < m; i++)
        for (int j = 0; j <= i; j++) {
            double s = kern(g, &g->x[i * g->d], &g->x[j * g->d]) + (i == j ? jitter : 0);
            for (int k = 0; k < j; k++)
                s -= L[i * m + k] * L[j * m + k];
            if (i == j) {
                if (!(s > 0))
                    return false;
                L[i * m + i] = sqrt(s);
            } else {
                L[i * m + j] = s / L[j * m + j];
            }
        }
    /* alpha = L^-T L^-1 (y - mean) */
    for (int i = 0; i < m; i++) {
        double s = y[i] - g->mean;
        for (int k = 0; k < i; k++)
            s -= L[i * m + k] * g->alpha[k];
        g->alpha[i] = s / L[i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) {
        double s = g->alpha[i];
        for (int k = i + 1; k < m; k++)
            s -= L[k * m + i] * g->alpha[k];
        g->alpha[i] = s / L[i * m + i];
    }
    return true;
}

static void gp_predict(const gp *g, const double *x, double *kv, double *mu, double *sd)
{
    int m = g->m;
    double mean = g->mean;
    for (int i = 0; i < m; i++) {
        kv[i] = kern(g, x, &g->x[i * g->d]);
        mean += kv[i] * g->alpha[i];
    }
    /* v = L^-1 k; var = k(x,x) - v.v */
    double var = g->var;
    for (int i = 0; i < m; i++) {
        double s = kv[i];
        for (int k = 0; k < i; k++)
            s -= g->L[i * m + k] * kv[k];
        kv[i] = s / g->L[i * m + i];
        var -= kv[i] * kv[i];
    }
    *mu = mean;
    *sd = sqrt(var > 1e-12 ? var : 1e-12);
}

static double phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

typedef struct bo {
    gp g;
    int cap;                    /* observations the GP can hold */
    double *y, *kv, *xc;
    unsigned char *cand, *bestc;
} bo;

/* Adds (q, v) unless q is in the GP already (each distinct point once). */
static void observe(bo *b, const unsigned char *q, double v)
{
    gp *g = &b->g;
    int d = g->d;
    if (g->m >= b->cap)
        return;
    for (int i = 0; i < g->m; i++) {
        bool same = true;
        for (int k = 0; k < d && same; k++)
            same = g->x[i * d + k] == q[k] / 2.0;
        if (same)
            return;
    }
    for (int k = 0; k < d; k++)
        g->x[g->m * d + k] = q[k] / 2.0;
    b->y[g->m++] = v;
}

static bool in_batch(const lowp_tuner *t, unsigned char *const *batch, int nb, const unsigned char *q)
{
    for (int i = 0; i < nb; i++)
        if (!memcmp(batch[i], q, (size_t)t->n_ops))
            return true;
    return false;
}

/* The point of round `round` into q (normalized); false when there is none (the GP cannot be
 * fitted, or every candidate was tried). `real` observations are the trials' (the rest, up to
 * g.m, are the batch's lies); batch[0..nb) are the points proposed before this one in the batch.
 * *lie: a GP proposal's predicted value (the kriging believer), NAN for a random one. */
static bool propose(lowp_tuner *t, bo *b, int round, int real, unsigned char *const *batch, int nb, int c,
                    unsigned char *q, double *lie)
{
    gp *g = &b->g;
    int d = g->d;
    uint64_t *rng = &t->rng;
    *lie = NAN;
    if (round == 0) {
        memset(q, LP_PREC_INT8, (size_t)d); /* the all-INT8 point first */
    } else if (round < 3 || real < 2) {
        for (int i = 0; i < d; i++) {
            double u = lowp_random_uniform(rng);
            q[i] = u < 0.5 ? LP_PREC_INT8 : (unsigned char)lp_tune_fallback_of(t, i);
        }
    } else {
        /* fit: y normalized around its mean */
        double mean = 0, var = 0;
        for (int i = 0; i < g->m; i++)
            mean += b->y[i];
        mean /= g->m;
        for (int i = 0; i < g->m; i++)
            var += (b->y[i] - mean) * (b->y[i] - mean);
        var = var / g->m;
        double band = fabs(t->baseline - t->target);
        g->mean = mean;
        g->var = var > band * band ? var : (band > 0 ? band * band : 1e-4);
        bool ok = false;
        for (double jit = 1e-6; !ok && jit < 10; jit *= 10)
            ok = gp_fit(g, b->y, jit * g->var);
        if (!ok)
            return false;
        /* candidates: random, and mutations of the best point so far */
        int best = lowp_tuner_best(t, NULL, b->bestc);
        double best_a = -1, best_mu = NAN;
        bool found = false;
        for (int k = 0; k < N_CAND; k++) {
            unsigned char *cand = b->cand;
            if (k % 2 == 0 || best < 0) {
                double pi = 0.3 + 0.65 * lowp_random_uniform(rng);
                for (int i = 0; i < d; i++)
                    cand[i] = lowp_random_uniform(rng) < pi ? LP_PREC_INT8 : (unsigned char)lp_tune_fallback_of(t, i);
            } else {
                memcpy(cand, b->bestc, (size_t)d);
                int flips = 1 + (int)(lowp_random_uniform(rng) * 3);
                for (int f = 0; f < flips; f++) {
                    int i = (int)(lowp_random_uniform(rng) * d);
                    i = i < d ? i : d - 1;
                    cand[i] = cand[i] == LP_PREC_INT8 ? (unsigned char)lp_tune_fallback_of(t, i) : LP_PREC_INT8;
                }
            }
            lp_tune_normalize(t, cand);
            char *key = lp_tune_key(t, c, cand);
            bool tried = false;
            for (int i = 0; key && i < t->n_trials; i++)
                tried |= !strcmp(t->trials[i].key, key);
            free(key);
            if (tried || in_batch(t, batch, nb, cand))
                continue;
            for (int i = 0; i < d; i++)
                b->xc[i] = cand[i] / 2.0;
            double mu, sd;
            gp_predict(g, b->xc, b->kv, &mu, &sd);
            double z = t->hib ? (mu - t->target) / sd : (t->target - mu) / sd;
            double a = phi(z) * (1.0 - lp_tune_cost(t, cand) + 1e-3);
            if (a > best_a) {
                best_a = a;
                best_mu = mu;
                memcpy(q, cand, (size_t)d);
                found = true;
            }
        }
        if (!found)
            return false;
        *lie = best_mu;
    }
    lp_tune_normalize(t, q);
    return true;
}

/* Batches of lp_tune_batch points (1 in one process by default: each proposal sees every result
 * before it). Within a batch each GP proposal enters the GP with its predicted value (the
 * "kriging believer" lie), so that the next proposal of the batch looks elsewhere; the lies
 * leave when the batch's results arrive. Everything depends on the seed and the batch size
 * alone, so a distributed tune and one process with the same --trial-batch propose the same
 * points, and a batch's points are evaluated in parallel on the rank groups. */
lp_status lp_tune_run_bayesian(lowp_tuner *t, void *user)
{
    (void)user;
    int stop = 0, c = 0, d = t->n_ops, batch = lp_tune_batch(t);
    int cap = (t->max_trials < MAX_OBS ? t->max_trials : MAX_OBS) + 8 + batch;
    bo b = { .g = { .d = d }, .cap = cap };
    b.g.x = malloc((size_t)cap * d * sizeof *b.g.x);
    b.g.alpha = malloc((size_t)cap * sizeof *b.g.alpha);
    b.g.L = malloc((size_t)cap * cap * sizeof *b.g.L);
    b.y = malloc((size_t)cap * sizeof *b.y), b.kv = malloc((size_t)cap * sizeof *b.kv);
    b.xc = malloc((size_t)(d + 1) * sizeof *b.xc);
    b.cand = lp_tune_point_new(t, 0), b.bestc = lp_tune_point_new(t, 0);
    lp_tune_points p = {0};
    lp_status st = b.g.x && b.g.alpha && b.g.L && b.y && b.kv && b.xc && b.cand && b.bestc
                       ? lp_tune_points_new(t, batch, &p) : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    b.g.ell2 = d > 4 ? d / 4.0 : 1.0;
    bool more = true;
    for (int round = 0; st == LP_OK && !stop && more && round < 20 * (int64_t)t->max_trials;) {
        int real = b.g.m, nb = 0;
        while (nb < batch && round < 20 * (int64_t)t->max_trials) {
            double lie;
            if (!(more = propose(t, &b, round, real, p.precs, nb, c, p.precs[nb], &lie)))
                break;
            snprintf(p.notes[nb], sizeof p.notes[nb], "%s",
                     round == 0 ? "bayesian: all int8" : round < 3 ? "bayesian: random start" : "bayesian: GP proposal");
            p.configs[nb++] = c;
            round++;
            if (lie == lie && nb < batch)
                observe(&b, p.precs[nb - 1], lie);
        }
        b.g.m = real;   /* the lies leave; the results come in */
        if (nb == 0)
            break;
        int tried = 0;
        st = lp_tune_try_points(t, nb, p.configs, p.precs, (const char (*)[160])p.notes, false, p.trials, &tried,
                                &stop);
        for (int i = 0; i < tried && st == LP_OK; i++)
            if (p.trials[i].index)
                observe(&b, p.precs[i], p.trials[i].accuracy);
    }
    lp_tune_points_free(&p);
    free(b.g.x), free(b.g.alpha), free(b.g.L), free(b.y), free(b.kv), free(b.xc), free(b.cand), free(b.bestc);
    return st;
}
