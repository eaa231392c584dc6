/* multi.c — several metrics scored as one value (INC 2.x's evaluation.accuracy.multi_metrics).
 * Every batch goes to each metric. With `weight` the value is mean(weight_i * value_i) as
 * INC's objective combines them, and the direction is the criterion's higher_is_better.
 * Without weights INC holds every metric to its own target; here that is one value too, once
 * the tuner has frozen the FP32 baselines b_i (lp_metric_multi_freeze): the worst metric's
 * change in its own direction d_i (+1 higher is better, -1 lower),
 *
 *     value = min_i d_i * (v_i - b_i) / s_i     (s_i = |b_i| for a relative criterion, else 1)
 *
 * which is 0 for the FP32 model, higher is better, and is >= -tolerance exactly when every
 * metric is within the tolerance of its own baseline. Before the freeze (lowp eval) the value is
 * the first metric's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "metric/metric.h"

typedef struct multi {
    int n;
    lowp_metric **m;
    double *w;                  /* NULL: each metric against its own target */
    int *dir;                   /* each mode: +1 higher is better, -1 lower */
    double *last;               /* each mode: the values of the last result */
    double *base;               /* each mode, once frozen: the FP32 values */
    bool frozen, relative, have_last;
} multi;

static void multi_free(void *s)
{
    multi *x = s;
    if (!x)
        return;
    for (int i = 0; i < x->n; i++)
        lowp_metric_free(x->m[i]);
    free(x->m);
    free(x->w);
    free(x->dir);
    free(x->last);
    free(x->base);
    free(x);
}

static lp_status multi_create(const lowp_params *p, void **out)
{
    (void)p;
    (void)out;
    return lp_error(LOWP_ERR_INVALID_ARGUMENT, "multi_metrics is built from a configuration's "
                    "evaluation.accuracy.multi_metrics, not by name");
}

/* A batch the i-th metric refuses after earlier ones took it leaves those changed: the
 * evaluation stops on the error, so the value is never read. */
static lp_status multi_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                              const lowp_tensor *const *labels)
{
    multi *x = s;
    for (int i = 0; i < x->n; i++) {
        lp_status st = x->m[i]->vt->update(x->m[i]->state, no, outs, nl, labels);
        if (st != LP_OK)
            return lp_error_prefix(st, "%s", x->m[i]->vt->name);
    }
    return LP_OK;
}

static lp_status multi_result(void *s, double *v)
{
    multi *x = s;
    double sum = 0, worst = INFINITY;
    for (int i = 0; i < x->n; i++) {
        double r;
        lp_status st = x->m[i]->vt->result(x->m[i]->state, &r);
        if (st != LP_OK)
            return lp_error_prefix(st, "%s", x->m[i]->vt->name);
        if (x->w) {
            sum += x->w[i] * r;
            continue;
        }
        x->last[i] = r;
        double scale = x->relative && x->base[i] != 0 ? fabs(x->base[i]) : 1;
        double d = x->dir[i] * (r - x->base[i]) / scale;
        worst = d < worst || d != d ? d : worst; /* a NaN metric makes the whole NaN */
    }
    x->have_last = !x->w;
    *v = x->w ? sum / x->n : x->frozen ? worst : x->last[0];
    return LP_OK;
}

static void multi_reset(void *s)
{
    multi *x = s;
    for (int i = 0; i < x->n; i++)
        lowp_metric_reset(x->m[i]);
}

/* The state: each metric's saved state, length-prefixed, in order. */
static lp_status multi_save(void *s, void **out, size_t *size)
{
    multi *x = s;
    lp_bytes b = {0};
    lp_bytes_str(&b, "multi_metrics");
    lp_bytes_u64(&b, (uint64_t)x->n);
    lp_status st = LP_OK;
    for (int i = 0; i < x->n && st == LP_OK; i++) {
        void *one = NULL;
        size_t n = 0;
        st = lowp_metric_save(x->m[i], &one, &n);
        lp_bytes_u64(&b, n);
        lp_bytes_put(&b, one, n);
        free(one);
    }
    if (st != LP_OK) {
        free(b.data);
        return st;
    }
    return lp_bytes_finish(&b, out, size);
}

static lp_status multi_merge(void *s, const void *bytes, size_t size)
{
    multi *x = s;
    lp_reader r;
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, "multi_metrics");
    if (lp_reader_u64(&r) != (uint64_t)x->n || r.bad)
        return lp_metric_bad_state("multi_metrics");
    for (int i = 0; i < x->n; i++) {
        int64_t n = lp_reader_count(&r, 1);
        if (n < 0)
            return lp_metric_bad_state("multi_metrics");
        LP_TRY(lowp_metric_merge(x->m[i], r.p, (size_t)n));
        r.p += n, r.left -= (size_t)n;
    }
    return r.left ? lp_metric_bad_state("multi_metrics") : LP_OK;
}

const lowp_metric_vtable lp_metric_multi = {"multi_metrics", NULL, 1, multi_create, multi_update, multi_result,
                                            multi_reset, multi_free, multi_save, multi_merge};

lp_status lp_metric_create_multi(int n, lowp_metric **metrics, const double *weights, int higher_is_better,
                                 const int *each_higher_is_better, lowp_metric **out)
{
    multi *x = calloc(1, sizeof *x);
    lowp_metric *m = calloc(1, sizeof *m);
    lp_status st = LP_OK;
    size_t nn = (size_t)(n > 0 ? n : 1);
    if (!x || !m || !(x->m = calloc(nn, sizeof *x->m)) ||
        (weights && !(x->w = malloc(nn * sizeof *x->w))) ||
        (!weights && (!(x->dir = malloc(nn * sizeof *x->dir)) || !(x->last = calloc(nn, sizeof *x->last)) ||
                      !(x->base = calloc(nn, sizeof *x->base)))))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 1; i < n && st == LP_OK; i++)
        if (lowp_metric_compare_label(metrics[i]) != lowp_metric_compare_label(metrics[0]))
            st = lp_error(LOWP_ERR_UNSUPPORTED, "multi_metrics: %s scores against %s but %s against %s: "
                          "lowp feeds every metric the same references (give them one compare_label)",
                          metrics[0]->vt->name, metrics[0]->compare_label ? "labels" : "the FP32 outputs",
                          metrics[i]->vt->name, metrics[i]->compare_label ? "labels" : "the FP32 outputs");
    if (st != LP_OK) {
        for (int i = 0; i < n; i++)
            lowp_metric_free(metrics[i]);
        if (x)
            free(x->m), free(x->w), free(x->dir), free(x->last), free(x->base);
        free(x);
        free(m);
        return st;
    }
    x->n = n;
    memcpy(x->m, metrics, (size_t)n * sizeof *metrics);
    if (weights)
        memcpy(x->w, weights, (size_t)n * sizeof *weights);
    for (int i = 0; !weights && i < n; i++) /* the list, else each metric's own direction */
        x->dir[i] = (each_higher_is_better ? each_higher_is_better[i] : lowp_metric_higher_is_better(metrics[i])) ? 1 : -1;
    m->vt = &lp_metric_multi;
    m->state = x;
    m->compare_label = n ? metrics[0]->compare_label : 1;
    m->higher_is_better = weights ? higher_is_better : 1; /* each mode: the worst change, higher is better */
    *out = m;
    return LP_OK;
}

bool lp_metric_multi_each(const lowp_metric *m)
{
    return m && m->vt == &lp_metric_multi && !((const multi *)m->state)->w;
}

lp_status lp_metric_multi_freeze(lowp_metric *m, bool relative, int *n_out, double *base_out, int max)
{
    if (!lp_metric_multi_each(m))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lp_metric_multi_freeze: not multi_metrics without weights");
    multi *x = m->state;
    if (!x->have_last)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "multi_metrics: no evaluation to take the baselines from");
    for (int i = 0; i < x->n; i++) {
        if (!isfinite(x->last[i]))
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "multi_metrics: the FP32 model scored %g on %s",
                            x->last[i], x->m[i]->vt->name);
        x->base[i] = x->last[i];
        if (i < max)
            base_out[i] = x->last[i];
    }
    x->frozen = true;
    x->relative = relative;
    *n_out = x->n;
    return LP_OK;
}

const char *lp_metric_multi_name(const lowp_metric *m, int i)
{
    const multi *x = m->state;
    return i >= 0 && i < x->n ? x->m[i]->vt->name : "";
}
