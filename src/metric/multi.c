/* multi.c — several metrics scored as one value (INC 2.x's evaluation.accuracy.multi_metrics
 * with `weight`): every batch goes to each metric, the value is mean(weight_i * value_i) as
 * INC's objective combines them, and the direction is the criterion's higher_is_better. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "metric/metric.h"

typedef struct multi {
    int n;
    lowp_metric **m;
    double *w;
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
    double sum = 0;
    for (int i = 0; i < x->n; i++) {
        double r;
        lp_status st = x->m[i]->vt->result(x->m[i]->state, &r);
        if (st != LP_OK)
            return lp_error_prefix(st, "%s", x->m[i]->vt->name);
        sum += x->w[i] * r;
    }
    *v = sum / x->n;
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
                                 lowp_metric **out)
{
    multi *x = calloc(1, sizeof *x);
    lowp_metric *m = calloc(1, sizeof *m);
    lp_status st = LP_OK;
    if (!x || !m || !(x->m = calloc((size_t)n, sizeof *x->m)) || !(x->w = malloc((size_t)n * sizeof *x->w)))
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
            free(x->m), free(x->w);
        free(x);
        free(m);
        return st;
    }
    x->n = n;
    memcpy(x->m, metrics, (size_t)n * sizeof *metrics);
    memcpy(x->w, weights, (size_t)n * sizeof *weights);
    m->vt = &lp_metric_multi;
    m->state = x;
    m->compare_label = n ? metrics[0]->compare_label : 1;
    m->higher_is_better = higher_is_better;
    *out = m;
    return LP_OK;
}
