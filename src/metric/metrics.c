/* metrics.c — built-in classification and regression metrics: topk, Accuracy, Loss
 * (cross-entropy), MAE, MSE, RMSE, F1. Each keeps running sums only (F1: per-class counts);
 * sums of floating-point terms are exact (base/xsum.h), so states of shards merge to the bits
 * one process gets, whatever the split.
 *
 * Classification inputs: outputs[0] holds scores (N,C) (any trailing dims flatten into C);
 * labels[0] holds class indices (N) or (N,1), or one-hot rows (N,C). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/xsum.h"
#include "metric/metric.h"

static void state_free(void *s) { free(s); }

static lp_status need(int n_outputs, int n_labels, const char *what)
{
    (void)n_outputs;
    if (n_labels < 1)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "no labels to score against (%s needs them; "
                        "does the dataset have labels?)", what);
    return LP_OK;
}

/* Splits scores into (n, c) and checks the label count; *onehot when labels are rows of c. */
static lp_status class_shape(const lp_tensor *pred, const lp_tensor *label, int64_t *n, int64_t *c,
                             bool *onehot)
{
    char sp[96], sl[96];
    if (pred->ndim < 1 || !lp_dtype_traits_of(pred->dtype)->size)
        return lp_error(LOWP_ERR_SHAPE, "predictions must be (N,C)");
    *n = pred->dims[0];
    *c = *n ? lp_tensor_numel(pred) / *n : 0;
    int64_t ln = label->ndim ? label->dims[0] : 1;
    int64_t per = ln ? lp_tensor_numel(label) / ln : 0;
    if (*n > 0 && *c == 0)
        return lp_error(LOWP_ERR_SHAPE, "predictions %s hold no class scores",
                        lp_shape_str(pred->ndim, pred->dims, sp, sizeof sp));
    if (ln != *n || (per != 1 && per != *c) || (ln > 0 && per == 0))
        return lp_error(LOWP_ERR_SHAPE, "predictions %s and labels %s do not match (labels must be "
                        "(N), (N,1) or one-hot (N,C))",
                        lp_shape_str(pred->ndim, pred->dims, sp, sizeof sp),
                        lp_shape_str(label->ndim, label->dims, sl, sizeof sl));
    *onehot = per == *c && *c > 1;
    return LP_OK;
}

/* The class index of row i -- an index label, or the argmax of a one-hot row -- refusing
 * anything that is not one of the c classes (negative, too large, fractional, NaN, inf). */
static lp_status class_label(const lp_tensor *label, int64_t i, int64_t c, bool onehot, int64_t *out)
{
    if (onehot) {
        int64_t best = 0;
        double bv = -INFINITY;
        for (int64_t j = 0; j < c; j++) {
            double v = lp_tensor_get(label, i * c + j);
            if (!isfinite(v))
                return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT,
                                           "one-hot label holds %g at class %lld", v, (long long)j);
            if (v > bv)
                bv = v, best = j;
        }
        *out = best;
        return LP_OK;
    }
    if (!lp_dtype_traits_of(label->dtype)->is_float) {
        int64_t y = lp_tensor_get_int(label, i);   /* a u64 above INT64_MAX reads negative */
        if (y < 0 || y >= c)
            return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT,
                                       label->dtype == LP_U64
                                           ? "label %llu is not a class index of the %lld scores (0..%lld)"
                                           : "label %lld is not a class index of the %lld scores (0..%lld)",
                                       (long long)y, (long long)c, (long long)c - 1);
        *out = y;
        return LP_OK;
    }
    double v = lp_tensor_get(label, i);
    if (!(v >= 0 && v < (double)c && v == floor(v)))
        return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT,
                                   "label %.17g is not a class index of the %lld scores (0..%lld)", v,
                                   (long long)c, (long long)c - 1);
    *out = (int64_t)v;
    return LP_OK;
}

/* A 0/1 label of element i (binary and multilabel scoring); anything else is refused. */
static lp_status binary_label(const lp_tensor *label, int64_t i, int64_t per_row, int64_t *out)
{
    double v = lp_tensor_get(label, i);
    if (v != 0 && v != 1)
        return lp_metric_row_error(per_row ? i / per_row : i, LOWP_ERR_INVALID_ARGUMENT,
                                   "label %.17g at element %lld is not 0 or 1 (binary/multilabel "
                                   "scores need 0/1 labels)", v, (long long)i);
    *out = (int64_t)v;
    return LP_OK;
}

/* argmax, first index on ties (as numpy/PyTorch); -1 when a score is NaN (no prediction,
 * so that a model gone numerically wrong scores as wrong, never as class 0). */
static int64_t argmax_row(const lp_tensor *pred, int64_t i, int64_t c)
{
    int64_t best = 0;
    double bv = -INFINITY;
    for (int64_t j = 0; j < c; j++) {
        double v = lp_tensor_get(pred, i * c + j);
        if (isnan(v))
            return -1;
        if (v > bv || j == 0)
            bv = v, best = j;
    }
    return c > 0 ? best : -1;
}

/* Rows of a (N,...) tensor, for naming the row of element i. */
static int64_t per_row(const lp_tensor *t)
{
    return t->ndim && t->dims[0] ? lp_tensor_numel(t) / t->dims[0] : 0;
}

/* ---- counting metrics (topk, Accuracy) ---- */

typedef struct counts {
    int64_t k;
    lp_xsum correct;   /* topk/Accuracy: a count; Loss: the sum of the per-sample losses */
    double total;      /* samples (an integer: exact in a double up to 2^53) */
} counts;

static void counts_reset(void *s)
{
    counts *c = s;
    lp_xsum_init(&c->correct);
    c->total = 0;
}

static lp_status counts_result(void *s, double *v)
{
    counts *c = s;
    *v = c->total > 0 ? lp_xsum_value(&c->correct) / c->total : 0.0;
    return LP_OK;
}

/* The state of a sum metric: a tag, the parameter that must match (k, the error kind), the
 * exact sum and the count. */
static lp_status sum_save(const char *tag, int64_t param, const lp_xsum *sum, double count, void **out,
                          size_t *size)
{
    lp_bytes b = {0};
    lp_bytes_str(&b, tag);
    lp_bytes_u64(&b, (uint64_t)param);
    lp_bytes_put(&b, sum, sizeof *sum);
    lp_bytes_f64(&b, count);
    return lp_bytes_finish(&b, out, size);
}

static lp_status sum_merge(const char *tag, int64_t param, lp_xsum *sum, double *count, const void *bytes,
                           size_t size)
{
    lp_reader r;
    lp_xsum peer;
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, tag);
    int64_t p = (int64_t)lp_reader_u64(&r);
    lp_reader_get(&r, &peer, sizeof peer);
    double n = lp_reader_f64(&r);
    if (r.bad || r.left || p != param || !(n >= 0))
        return lp_metric_bad_state(tag);
    lp_xsum_merge(sum, &peer);
    *count += n;
    return LP_OK;
}

static lp_status counts_save(void *s, void **out, size_t *size)
{
    counts *c = s;
    return sum_save("counting metric", c->k, &c->correct, c->total, out, size);
}

static lp_status counts_merge(void *s, const void *bytes, size_t size)
{
    counts *c = s;
    return sum_merge("counting metric", c->k, &c->correct, &c->total, bytes, size);
}

static lp_status topk_create(const lowp_params *p, void **out)
{
    int64_t k;
    LP_TRY(lowp_params_get_int(p, "k", 1, &k));
    if (k < 1)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "k must be >= 1");
    counts *c = calloc(1, sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_xsum_init(&c->correct);
    c->k = k;
    *out = c;
    return LP_OK;
}

/* Correct when the label's rank (with ties broken by lower index first, as a stable sort by
 * descending score does) is below k. */
static lp_status topk_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                             const lowp_tensor *const *labels)
{
    counts *c = s;
    LP_TRY(need(no, nl, "topk"));
    int64_t n, cls;
    bool onehot;
    LP_TRY(class_shape(outs[0], labels[0], &n, &cls, &onehot));
    double correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t y;
        LP_TRY(class_label(labels[0], i, cls, onehot, &y));
        double ys = lp_tensor_get(outs[0], i * cls + y);
        int64_t rank = 0;
        for (int64_t j = 0; j < cls; j++) {
            double v = lp_tensor_get(outs[0], i * cls + j);
            if (v > ys || (v == ys && j < y) || isnan(ys) || isnan(v))
                rank++;
        }
        correct += rank < c->k;
    }
    lp_xsum_add(&c->correct, correct);   /* state changes only once the whole batch is accepted */
    c->total += (double)n;
    return LP_OK;
}

static lp_status accuracy_create(const lowp_params *p, void **out)
{
    (void)p;
    counts *c = calloc(1, sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_xsum_init(&c->correct);
    *out = c;
    return LP_OK;
}

/* Multiclass (scores (N,C), C > 1, labels (N)): argmax == label. Otherwise predictions and
 * labels have the same size: binary / multilabel, a prediction counts as 1 when >= 0.5 and
 * every element is scored. */
static lp_status accuracy_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                                 const lowp_tensor *const *labels)
{
    counts *c = s;
    LP_TRY(need(no, nl, "Accuracy"));
    const lp_tensor *p = outs[0], *l = labels[0];
    int64_t np = lp_tensor_numel(p), nlab = lp_tensor_numel(l);
    double correct = 0;
    if (np == nlab) {
        for (int64_t i = 0; i < np; i++) {
            int64_t y;
            LP_TRY(binary_label(l, i, per_row(l), &y));
            correct += (lp_tensor_get(p, i) >= 0.5 ? 1 : 0) == y;   /* NaN: 0 */
        }
        lp_xsum_add(&c->correct, correct);
        c->total += (double)np;
        return LP_OK;
    }
    int64_t n, cls;
    bool onehot;
    LP_TRY(class_shape(p, l, &n, &cls, &onehot));
    for (int64_t i = 0; i < n; i++) {
        int64_t y;
        LP_TRY(class_label(l, i, cls, onehot, &y));
        correct += argmax_row(p, i, cls) == y;
    }
    lp_xsum_add(&c->correct, correct);
    c->total += (double)n;
    return LP_OK;
}

/* ---- Loss: mean cross-entropy of softmax(scores) against class labels ---- */

static lp_status loss_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                             const lowp_tensor *const *labels)
{
    counts *c = s;
    LP_TRY(need(no, nl, "Loss"));
    int64_t n, cls;
    bool onehot;
    LP_TRY(class_shape(outs[0], labels[0], &n, &cls, &onehot));
    lp_xsum loss;   /* this batch's: merged into the state once the whole batch is accepted */
    lp_xsum_init(&loss);
    for (int64_t i = 0; i < n; i++) {
        int64_t y;
        LP_TRY(class_label(labels[0], i, cls, onehot, &y));
        /* log-sum-exp; a row with a NaN or +inf score, or only -inf scores, has no defined
         * softmax: it scores the worst loss, +inf (a model gone numerically wrong). */
        double mx = -INFINITY, sum = 0;
        bool bad = false;
        for (int64_t j = 0; j < cls; j++) {
            double v = lp_tensor_get(outs[0], i * cls + j);
            bad |= isnan(v) || v == INFINITY;
            if (v > mx)
                mx = v;
        }
        if (bad || mx == -INFINITY) {
            lp_xsum_add(&loss, INFINITY);
            continue;
        }
        for (int64_t j = 0; j < cls; j++)
            sum += exp(lp_tensor_get(outs[0], i * cls + j) - mx);
        lp_xsum_add(&loss, mx + log(sum) - lp_tensor_get(outs[0], i * cls + y));
    }
    lp_xsum_merge(&c->correct, &loss);
    c->total += (double)n;
    return LP_OK;
}

/* ---- MAE / MSE / RMSE over every element ---- */

enum { ERR_ABS, ERR_SQ, ERR_RMS };

typedef struct errsum {
    int kind;
    lp_xsum sum;
    double count;
} errsum;

static lp_status err_create(int kind, void **out)
{
    errsum *e = calloc(1, sizeof *e);
    if (!e)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    e->kind = kind;
    lp_xsum_init(&e->sum);
    *out = e;
    return LP_OK;
}
static lp_status mae_create(const lowp_params *p, void **o) { (void)p; return err_create(ERR_ABS, o); }
static lp_status mse_create(const lowp_params *p, void **o) { (void)p; return err_create(ERR_SQ, o); }
static lp_status rmse_create(const lowp_params *p, void **o) { (void)p; return err_create(ERR_RMS, o); }

static lp_status err_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                            const lowp_tensor *const *labels)
{
    errsum *e = s;
    LP_TRY(need(no, nl, "this metric"));
    const lp_tensor *p = outs[0], *l = labels[0];
    int64_t n = lp_tensor_numel(p);
    if (n != lp_tensor_numel(l) || (p->ndim && l->ndim && p->dims[0] != l->dims[0])) {
        char sp[96], sl[96];
        return lp_error(LOWP_ERR_SHAPE, "predictions %s and labels %s differ in size or batch",
                        lp_shape_str(p->ndim, p->dims, sp, sizeof sp),
                        lp_shape_str(l->ndim, l->dims, sl, sizeof sl));
    }
    lp_xsum sum;
    lp_xsum_init(&sum);
    for (int64_t i = 0; i < n; i++) {
        double y = lp_tensor_get(l, i), d = lp_tensor_get(p, i) - y;
        if (!isfinite(y))
            return lp_metric_row_error(i / (per_row(l) ? per_row(l) : 1), LOWP_ERR_INVALID_ARGUMENT,
                                       "label (or reference output) %g at element %lld is not a "
                                       "finite number", y, (long long)i);
        /* A NaN or infinite prediction is infinitely wrong (not NaN, which compares false). */
        lp_xsum_add(&sum, isfinite(d) ? (e->kind == ERR_ABS ? fabs(d) : d * d) : INFINITY);
    }
    lp_xsum_merge(&e->sum, &sum);
    e->count += (double)n;
    return LP_OK;
}

static lp_status err_result(void *s, double *v)
{
    errsum *e = s;
    double m = e->count > 0 ? lp_xsum_value(&e->sum) / e->count : 0.0;
    *v = e->kind == ERR_RMS ? sqrt(m) : m;
    return LP_OK;
}

static void err_reset(void *s)
{
    errsum *e = s;
    lp_xsum_init(&e->sum);
    e->count = 0;
}

static lp_status err_save(void *s, void **out, size_t *size)
{
    errsum *e = s;
    return sum_save("MAE/MSE/RMSE", e->kind, &e->sum, e->count, out, size);
}

static lp_status err_merge(void *s, const void *bytes, size_t size)
{
    errsum *e = s;
    return sum_merge("MAE/MSE/RMSE", e->kind, &e->sum, &e->count, bytes, size);
}

/* ---- F1: from per-class true/false positive and false negative counts ---- */

enum { F1_AUTO, F1_BINARY, F1_MACRO, F1_MICRO };

typedef struct f1s {
    int average;
    int64_t n_cls;
    double *tp, *fp, *fn;
} f1s;

static void f1_free(void *s)
{
    f1s *f = s;
    if (!f)
        return;
    free(f->tp);
    free(f->fp);
    free(f->fn);
    free(f);
}

static lp_status f1_create(const lowp_params *p, void **out)
{
    const char *avg;
    LP_TRY(lowp_params_get_string(p, "average", "auto", &avg));
    int a = !strcmp(avg, "auto") ? F1_AUTO : !strcmp(avg, "binary") ? F1_BINARY
          : !strcmp(avg, "macro") ? F1_MACRO : !strcmp(avg, "micro") ? F1_MICRO : -1;
    if (a < 0)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0,
                            "average must be binary, macro or micro (got '%s')", avg);
    f1s *f = calloc(1, sizeof *f);
    if (!f)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    f->average = a;
    *out = f;
    return LP_OK;
}

static lp_status f1_grow(f1s *f, int64_t cls)
{
    if (cls <= f->n_cls)
        return LP_OK;
    if (cls > (1 << 20))
        return lp_error(LOWP_ERR_UNSUPPORTED, "F1: class index %lld is too large", (long long)cls - 1);
    double **arrs[3] = {&f->tp, &f->fp, &f->fn};
    for (int k = 0; k < 3; k++) {
        double *a = realloc(*arrs[k], (size_t)cls * sizeof *a);
        if (!a)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        memset(a + f->n_cls, 0, (size_t)(cls - f->n_cls) * sizeof *a);
        *arrs[k] = a;
    }
    f->n_cls = cls;
    return LP_OK;
}

static lp_status f1_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                           const lowp_tensor *const *labels)
{
    f1s *f = s;
    LP_TRY(need(no, nl, "F1"));
    const lp_tensor *p = outs[0], *l = labels[0];
    int64_t n, cls;
    bool onehot = false, binary_scores = lp_tensor_numel(p) == lp_tensor_numel(l);
    if (binary_scores) {
        n = lp_tensor_numel(p);
        cls = 1;
    } else {
        LP_TRY(class_shape(p, l, &n, &cls, &onehot));
    }
    /* Every label is checked before any count changes, so a refused batch leaves no trace. */
    for (int64_t i = 0; i < n; i++) {
        int64_t yt;
        LP_TRY(binary_scores ? binary_label(l, i, per_row(l), &yt) : class_label(l, i, cls, onehot, &yt));
    }
    LP_TRY(f1_grow(f, cls > 2 ? cls : 2));
    for (int64_t i = 0; i < n; i++) {
        double v = binary_scores ? lp_tensor_get(p, i) : 0;
        int64_t yt = 0;
        if (binary_scores)
            binary_label(l, i, 0, &yt);
        else
            class_label(l, i, cls, onehot, &yt);
        /* A NaN score predicts no class: a false negative, no false positive. */
        int64_t yp = !binary_scores ? argmax_row(p, i, cls) : isnan(v) ? -1 : v >= 0.5;
        if (yp == yt) {
            f->tp[yt] += 1;
        } else {
            if (yp >= 0)
                f->fp[yp] += 1;
            f->fn[yt] += 1;
        }
    }
    return LP_OK;
}

static double f1_of(double tp, double fp, double fn)
{
    return tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
}

/* binary: class 1's F1; macro: mean F1 over classes seen in labels or predictions;
 * micro: F1 of the summed counts. auto: binary for two classes, else macro. */
static lp_status f1_result(void *s, double *v)
{
    f1s *f = s;
    int avg = f->average == F1_AUTO ? (f->n_cls <= 2 ? F1_BINARY : F1_MACRO) : f->average;
    if (f->n_cls == 0) {
        *v = 0;
        return LP_OK;
    }
    if (avg == F1_BINARY) {
        if (f->n_cls > 2)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                            "F1: average 'binary' needs 2 classes, saw %lld (use macro or micro)",
                            (long long)f->n_cls);
        *v = f1_of(f->tp[1], f->fp[1], f->fn[1]);
        return LP_OK;
    }
    double tp = 0, fp = 0, fn = 0, sum = 0, seen = 0;
    for (int64_t c = 0; c < f->n_cls; c++) {
        tp += f->tp[c], fp += f->fp[c], fn += f->fn[c];
        if (f->tp[c] + f->fp[c] + f->fn[c] > 0)
            sum += f1_of(f->tp[c], f->fp[c], f->fn[c]), seen += 1;
    }
    *v = avg == F1_MICRO ? f1_of(tp, fp, fn) : seen > 0 ? sum / seen : 0.0;
    return LP_OK;
}

static void f1_reset(void *s)
{
    f1s *f = s;
    for (int64_t c = 0; c < f->n_cls; c++)
        f->tp[c] = f->fp[c] = f->fn[c] = 0;
}

static lp_status f1_save(void *s, void **out, size_t *size)
{
    f1s *f = s;
    lp_bytes b = {0};
    lp_bytes_str(&b, "F1");
    lp_bytes_u64(&b, (uint64_t)f->average);
    lp_bytes_u64(&b, (uint64_t)f->n_cls);
    for (int64_t c = 0; c < f->n_cls; c++) {
        lp_bytes_f64(&b, f->tp[c]);
        lp_bytes_f64(&b, f->fp[c]);
        lp_bytes_f64(&b, f->fn[c]);
    }
    return lp_bytes_finish(&b, out, size);
}

/* Per-class counts add (integers, exact); the peer may have seen more classes. */
static lp_status f1_merge(void *s, const void *bytes, size_t size)
{
    f1s *f = s;
    lp_reader r;
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, "F1");
    int average = (int)lp_reader_u64(&r);
    int64_t n = lp_reader_count(&r, 3 * sizeof(double));
    if (r.bad || average != f->average || r.left != (size_t)n * 3 * sizeof(double))
        return lp_metric_bad_state("F1");
    LP_TRY(f1_grow(f, n));
    for (int64_t c = 0; c < n; c++) {
        f->tp[c] += lp_reader_f64(&r);
        f->fp[c] += lp_reader_f64(&r);
        f->fn[c] += lp_reader_f64(&r);
    }
    return LP_OK;
}

/* ---- the table ---- */

static const lowp_param_spec topk_params[] = {{"k", LOWP_PARAM_INT, 0, 1}, {NULL, 0, 0, 0}};
static const lowp_param_spec none_params[] = {{NULL, 0, 0, 0}};
static const lowp_param_spec err_params[] = {{"compare_label", LOWP_PARAM_BOOL, 0, 1}, {NULL, 0, 0, 0}};
static const lowp_param_spec f1_params[] = {{"average", LOWP_PARAM_STRING, 0, 1}, {NULL, 0, 0, 0}};

const lowp_metric_vtable lp_metric_topk = {"topk", topk_params, 1, topk_create, topk_update, counts_result, counts_reset, state_free, counts_save, counts_merge};
const lowp_metric_vtable lp_metric_accuracy = {"Accuracy", none_params, 1, accuracy_create, accuracy_update, counts_result, counts_reset, state_free, counts_save, counts_merge};
const lowp_metric_vtable lp_metric_loss = {"Loss", none_params, 0, accuracy_create, loss_update, counts_result, counts_reset, state_free, counts_save, counts_merge};
const lowp_metric_vtable lp_metric_mae = {"MAE", err_params, 0, mae_create, err_update, err_result, err_reset, state_free, err_save, err_merge};
const lowp_metric_vtable lp_metric_mse = {"MSE", err_params, 0, mse_create, err_update, err_result, err_reset, state_free, err_save, err_merge};
const lowp_metric_vtable lp_metric_rmse = {"RMSE", err_params, 0, rmse_create, err_update, err_result, err_reset, state_free, err_save, err_merge};
const lowp_metric_vtable lp_metric_f1 = {"F1", f1_params, 1, f1_create, f1_update, f1_result, f1_reset, f1_free, f1_save, f1_merge};
