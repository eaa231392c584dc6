/* loss.c — the criteria of loss.h. Logits are (N, C): a row of class scores per sample. */
#include <math.h>
#include <string.h>

#include "train/loss.h"

lp_loss_params lp_loss_params_default(void)
{
    return (lp_loss_params){ .sum = false, .temperature = 1.0, .ce_weight = 0.5, .kd_weight = 0.5 };
}

/* (N, C) view of a model output: N = first dim, C = the rest. */
static lp_status rows_of(const lp_tensor *y, int64_t *N, int64_t *C)
{
    if (y->dtype != LP_F32 || y->ndim < 1)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "loss: the model output must be float32 (N, C), got %s rank %d",
                        lp_dtype_traits_of(y->dtype)->name, y->ndim);
    *N = y->dims[0];
    *C = *N ? lp_tensor_numel(y) / *N : 0;
    return LP_OK;
}

static lp_status label_at(const lp_tensor *labels, int64_t N, int64_t C, int64_t i, int64_t *cls)
{
    if (lp_tensor_numel(labels) != N)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "loss: %lld labels for a batch of %lld (one class index per sample expected)",
                        (long long)lp_tensor_numel(labels), (long long)N);
    int64_t c = lp_dtype_traits_of(labels->dtype)->is_float ? (int64_t)lp_tensor_get(labels, i)
                                                             : lp_tensor_get_int(labels, i);
    if (c < 0 || c >= C)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "loss: label %lld of sample %lld is outside the %lld classes",
                        (long long)c, (long long)i, (long long)C);
    *cls = c;
    return LP_OK;
}

/* p = softmax(z / T) of one row, in double */
static void softmax_row(const float *z, int64_t C, double T, double *p)
{
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < C; k++)
        m = z[k] / T > m ? z[k] / T : m;
    for (int64_t k = 0; k < C; k++)
        s += p[k] = exp(z[k] / T - m);
    for (int64_t k = 0; k < C; k++)
        p[k] /= s;
}

/* One sample's -log softmax(z)[cls], weighted by w; dz += w (softmax(z) - onehot(cls)). */
static void ce_row(const float *z, int64_t C, int64_t cls, double w, double *loss, float *dz)
{
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < C; k++)
        m = z[k] > m ? z[k] : m;
    for (int64_t k = 0; k < C; k++)
        s += exp(z[k] - m);
    double lse = m + log(s);
    *loss += w * (lse - z[cls]);
    for (int64_t k = 0; k < C; k++)
        dz[k] += (float)(w * (exp(z[k] - lse) - (k == cls)));
}

/* One sample's -z[cls] (z: log-probabilities already), weighted by w. */
static void nll_row(const float *z, int64_t C, int64_t cls, double w, double *loss, float *dz)
{
    (void)C;
    *loss -= w * z[cls];
    dz[cls] -= (float)w;
}

/* The mean (or sum) over the samples of row(y_i, label_i): CrossEntropyLoss and NLLLoss. */
static lp_status labelled_rows(const lp_tensor *y, const lp_tensor *labels, const lp_loss_params *p, double *loss,
                               lp_tensor *dy,
                               void (*row)(const float *z, int64_t C, int64_t cls, double w, double *loss, float *dz))
{
    int64_t N, C;
    LP_TRY(rows_of(y, &N, &C));
    double w = p->sum || !N ? 1.0 : 1.0 / (double)N;
    *loss = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t cls;
        LP_TRY(label_at(labels, N, C, i, &cls));
        row((const float *)y->data + i * C, C, cls, w, loss, (float *)dy->data + i * C);
    }
    return LP_OK;
}

static lp_status cross_entropy(const lp_tensor *y, const lp_tensor *labels, const lp_tensor *teacher,
                               const lp_loss_params *p, double *loss, lp_tensor *dy)
{
    (void)teacher;
    return labelled_rows(y, labels, p, loss, dy, ce_row);
}

static lp_status nll(const lp_tensor *y, const lp_tensor *labels, const lp_tensor *teacher,
                     const lp_loss_params *p, double *loss, lp_tensor *dy)
{
    (void)teacher;
    return labelled_rows(y, labels, p, loss, dy, nll_row);
}

/* mean over all elements (or sum) of (y - t)^2; t: float labels of y's element count */
static lp_status mse(const lp_tensor *y, const lp_tensor *labels, const lp_tensor *teacher,
                     const lp_loss_params *p, double *loss, lp_tensor *dy)
{
    const lp_tensor *t = labels ? labels : teacher;
    int64_t n = lp_tensor_numel(y);
    if (y->dtype != LP_F32 || !t || lp_tensor_numel(t) != n)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "MSELoss: the target must have the output's %lld values",
                        (long long)n);
    double w = p->sum || !n ? 1.0 : 1.0 / (double)n;
    *loss = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = ((const float *)y->data)[i] - lp_tensor_get(t, i);
        *loss += w * d * d;
        ((float *)dy->data)[i] += (float)(2 * w * d);
    }
    return LP_OK;
}

/* Hinton's distillation: ce_weight * CE(y, labels) + kd_weight * T^2 * KL(softmax(t/T) ||
 * softmax(y/T)), averaged over samples; d/dy of the KL term is T (p_y - p_t). Without labels
 * the label term is left out. */
static lp_status distill(const lp_tensor *y, const lp_tensor *labels, const lp_tensor *teacher,
                         const lp_loss_params *p, double *loss, lp_tensor *dy)
{
    int64_t N, C;
    LP_TRY(rows_of(y, &N, &C));
    if (!teacher || teacher->dtype != LP_F32 || lp_tensor_numel(teacher) != lp_tensor_numel(y))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "KnowledgeDistillationLoss: the teacher output must match the student's %lld values",
                        (long long)lp_tensor_numel(y));
    double T = p->temperature > 0 ? p->temperature : 1.0;
    double w = p->sum || !N ? 1.0 : 1.0 / (double)N;
    *loss = 0;
    double ps[4096], pt[4096];
    if (C > 4096)
        return lp_error(LOWP_ERR_UNSUPPORTED, "KnowledgeDistillationLoss: %lld classes, at most 4096 supported", (long long)C);
    for (int64_t i = 0; i < N; i++) {
        const float *z = (const float *)y->data + i * C, *zt = (const float *)teacher->data + i * C;
        float *dz = (float *)dy->data + i * C;
        if (labels && p->ce_weight != 0) {
            int64_t cls;
            LP_TRY(label_at(labels, N, C, i, &cls));
            ce_row(z, C, cls, w * p->ce_weight, loss, dz);
        }
        softmax_row(z, C, T, ps);
        softmax_row(zt, C, T, pt);
        double kl = 0;
        for (int64_t k = 0; k < C; k++) {
            if (pt[k] > 0)
                kl += pt[k] * (log(pt[k]) - log(ps[k] > 1e-300 ? ps[k] : 1e-300));
            dz[k] += (float)(w * p->kd_weight * T * (ps[k] - pt[k]));
        }
        *loss += w * p->kd_weight * T * T * kl;
    }
    return LP_OK;
}

static const lp_loss_def loss_table[] = {
    { "CrossEntropyLoss", true, false, cross_entropy },
    { "NLLLoss", true, false, nll },
    { "MSELoss", true, false, mse },
    { "KnowledgeDistillationLoss", false, true, distill },
};

int lp_loss_count(void) { return (int)(sizeof loss_table / sizeof loss_table[0]); }
const lp_loss_def *lp_loss_at(int i) { return i >= 0 && i < lp_loss_count() ? &loss_table[i] : NULL; }

const lp_loss_def *lp_loss_find(const char *name)
{
    for (int i = 0; name && i < lp_loss_count(); i++)
        if (!strcmp(loss_table[i].name, name))
            return &loss_table[i];
    return NULL;
}

const char *lp_loss_names(void)
{
    return "CrossEntropyLoss, NLLLoss, MSELoss, KnowledgeDistillationLoss";
}
