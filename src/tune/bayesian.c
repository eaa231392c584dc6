/* bayesian.c — Bayesian optimization over the per-op choices: a Gaussian process (RBF
 * kernel) models accuracy as a function of the precision vector (int8 0, bf16 0.5, fp32 1 per
 * op); each round scores a few hundred candidates (random points and mutations of the best
 * ones) by
 *
 *     P(pass) * (1 - cost)        P(pass) = Phi((mu - target) / sigma), mirrored if lower is better
 *
 * -- constrained expected gain: cheap recipes that probably keep the accuracy -- and tries the
 * best candidate not tried yet. The model-wise configuration is the default one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tune.h"

#define N_CAND 256

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

lp_status lp_tune_run_bayesian(lowp_tuner *t, void *user)
{
    (void)user;
    int stop = 0, c = 0, d = t->n_ops, cap = t->max_trials + 8;
    uint64_t *rng = &t->rng;
    gp g = { .d = d };
    g.x = malloc((size_t)cap * d * sizeof *g.x);
    g.alpha = malloc((size_t)cap * sizeof *g.alpha);
    g.L = malloc((size_t)cap * cap * sizeof *g.L);
    double *y = malloc((size_t)cap * sizeof *y), *kv = malloc((size_t)cap * sizeof *kv);
    double *xc = malloc((size_t)(d + 1) * sizeof *xc);
    unsigned char *q = lp_tune_point_new(t, LP_PREC_INT8), *cand = lp_tune_point_new(t, 0),
                  *bestc = lp_tune_point_new(t, 0);
    lp_status st = g.x && g.alpha && g.L && y && kv && xc && q && cand && bestc
                       ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    g.ell2 = d > 4 ? d / 4.0 : 1.0;
    lowp_tune_trial tr;
    for (int round = 0; st == LP_OK && !stop && round < 20 * t->max_trials; round++) {
        if (round == 0) {
            memset(q, LP_PREC_INT8, (size_t)d); /* the all-INT8 point first */
        } else if (round < 3 || g.m < 2) {
            for (int i = 0; i < d; i++) {
                double u = lowp_random_uniform(rng);
                q[i] = u < 0.5 ? LP_PREC_INT8 : (unsigned char)lp_tune_fallback_of(t, i);
            }
        } else {
            /* fit: y normalized around its mean */
            double mean = 0, var = 0;
            for (int i = 0; i < g.m; i++)
                mean += y[i];
            mean /= g.m;
            for (int i = 0; i < g.m; i++)
                var += (y[i] - mean) * (y[i] - mean);
            var = var / g.m;
            double band = fabs(t->baseline - t->target);
            g.mean = mean;
            g.var = var > band * band ? var : (band > 0 ? band * band : 1e-4);
            bool ok = false;
            for (double jit = 1e-6; !ok && jit < 10; jit *= 10)
                ok = gp_fit(&g, y, jit * g.var);
            if (!ok)
                break;
            /* candidates: random, and mutations of the best point so far */
            int b = lowp_tuner_best(t, NULL, bestc);
            double best_a = -1;
            bool found = false;
            for (int k = 0; k < N_CAND; k++) {
                if (k % 2 == 0 || b < 0) {
                    double pi = 0.3 + 0.65 * lowp_random_uniform(rng);
                    for (int i = 0; i < d; i++)
                        cand[i] = lowp_random_uniform(rng) < pi ? LP_PREC_INT8 : (unsigned char)lp_tune_fallback_of(t, i);
                } else {
                    memcpy(cand, bestc, (size_t)d);
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
                if (tried)
                    continue;
                for (int i = 0; i < d; i++)
                    xc[i] = cand[i] / 2.0;
                double mu, sd;
                gp_predict(&g, xc, kv, &mu, &sd);
                double z = t->hib ? (mu - t->target) / sd : (t->target - mu) / sd;
                double a = phi(z) * (1.0 - lp_tune_cost(t, cand) + 1e-3);
                if (a > best_a) {
                    best_a = a;
                    memcpy(q, cand, (size_t)d);
                    found = true;
                }
            }
            if (!found)
                break;
        }
        lp_tune_normalize(t, q);
        st = lowp_tuner_try(t, c, q, round == 0 ? "bayesian: all int8" : round < 3 ? "bayesian: random start" : "bayesian: GP proposal",
                            &tr, &stop);
        if (st == LP_OK && tr.index && g.m < cap) {
            bool seen = false; /* each distinct point once in the GP */
            for (int i = 0; i < g.m && !seen; i++) {
                bool same = true;
                for (int k = 0; k < d && same; k++)
                    same = g.x[i * d + k] == q[k] / 2.0;
                seen = same;
            }
            if (!seen) {
                for (int k = 0; k < d; k++)
                    g.x[g.m * d + k] = q[k] / 2.0;
                y[g.m++] = tr.accuracy;
            }
        }
    }
    free(g.x), free(g.alpha), free(g.L), free(y), free(kv), free(xc), free(q), free(cand), free(bestc);
    return st;
}
