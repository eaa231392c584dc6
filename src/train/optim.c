/* optim.c — the update rules of optim.h, written as PyTorch documents them (torch.optim.SGD,
 * Adam, AdamW) so results can be compared step for step. */
#include <math.h>
#include <string.h>

#include "train/optim.h"

lp_optim_options lp_optim_options_default(void)
{
    return (lp_optim_options){ .kind = LP_OPTIM_SGD, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                               .schedule = LP_LR_CONSTANT, .step_size = 1, .gamma = 0.1 };
}

static const char *const kind_names[] = { "SGD", "Adam", "AdamW" };

bool lp_optim_kind_from_name(const char *name, lp_optim_kind *out)
{
    for (int k = 0; k < 3; k++)
        if (name && !strcmp(name, kind_names[k])) {
            *out = (lp_optim_kind)k;
            return true;
        }
    return false;
}

const char *lp_optim_kind_name(lp_optim_kind k) { return k <= LP_OPTIM_ADAMW ? kind_names[k] : "?"; }

double lp_optim_lr(const lp_optim_options *o, int64_t step, int64_t total, int64_t epoch)
{
    double lr = o->lr;
    if (o->schedule == LP_LR_STEP && o->step_size > 0)
        lr *= pow(o->gamma, (double)(epoch / o->step_size));
    else if (o->schedule == LP_LR_COSINE && total > 0) {
        double f = (double)step / (double)total;
        lr = o->lr_min + (o->lr - o->lr_min) * 0.5 * (1 + cos(M_PI * (f > 1 ? 1 : f)));
    }
    if (o->warmup_steps > 0 && step < o->warmup_steps)
        lr *= (double)(step + 1) / (double)o->warmup_steps;
    return lr;
}

lp_status lp_optim_state_init(lp_optim_state *s, int n)
{
    memset(s, 0, sizeof *s);
    s->m = calloc((size_t)(n ? n : 1), sizeof *s->m);
    s->v = calloc((size_t)(n ? n : 1), sizeof *s->v);
    if (!s->m || !s->v) {
        lp_optim_state_free(s);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for optimizer state");
    }
    s->n = n;
    return LP_OK;
}

void lp_optim_state_free(lp_optim_state *s)
{
    for (int i = 0; i < s->n; i++) {
        if (s->m)
            lp_tensor_free(s->m[i]);
        if (s->v)
            lp_tensor_free(s->v[i]);
    }
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

double lp_optim_grad_norm(lp_tensor *const *grads, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        if (!grads[i])
            continue;
        const float *g = grads[i]->data;
        for (int64_t k = 0; k < lp_tensor_numel(grads[i]); k++)
            s += (double)g[k] * g[k];
    }
    return sqrt(s);
}

static lp_status buffer(lp_tensor **b, const lp_tensor *like)
{
    if (!*b)
        LP_TRY(lp_tensor_new(LP_F32, like->ndim, like->dims, b));
    return LP_OK;
}

lp_status lp_optim_step(const lp_optim_options *o, lp_optim_state *s, double lr, lp_tensor *const *params,
                        lp_tensor *const *grads, int n)
{
    if (n != s->n)
        return lp_error(LOWP_ERR_INTERNAL, "optimizer state for %d parameters used with %d", s->n, n);
    double clip = 1.0;
    if (o->clip_norm > 0) {
        double norm = lp_optim_grad_norm(grads, n);
        if (norm > o->clip_norm)
            clip = o->clip_norm / (norm + 1e-12);
    }
    s->t++;
    double bc1 = 1 - pow(o->beta1, (double)s->t), bc2 = 1 - pow(o->beta2, (double)s->t);
    for (int i = 0; i < n; i++) {
        if (!grads[i])
            continue;
        float *w = params[i]->data;
        const float *g = grads[i]->data;
        int64_t cnt = lp_tensor_numel(params[i]);
        if (lp_tensor_numel(grads[i]) != cnt)
            return lp_error(LOWP_ERR_INTERNAL, "gradient of parameter %d has %lld values for %lld", i,
                            (long long)lp_tensor_numel(grads[i]), (long long)cnt);
        if (o->kind == LP_OPTIM_SGD) {
            float *buf = NULL;
            if (o->momentum != 0) {
                bool first = s->m[i] == NULL;
                LP_TRY(buffer(&s->m[i], params[i]));
                buf = s->m[i]->data;
                for (int64_t k = 0; k < cnt; k++) {
                    double gk = g[k] * clip + o->weight_decay * w[k];
                    buf[k] = first ? (float)gk : (float)(o->momentum * buf[k] + gk);
                }
            }
            for (int64_t k = 0; k < cnt; k++) {
                double gk = g[k] * clip + o->weight_decay * w[k];
                if (buf)
                    gk = o->nesterov ? gk + o->momentum * buf[k] : buf[k];
                w[k] = (float)(w[k] - lr * gk);
            }
        } else {
            LP_TRY(buffer(&s->m[i], params[i]));
            LP_TRY(buffer(&s->v[i], params[i]));
            float *m = s->m[i]->data, *v = s->v[i]->data;
            bool decoupled = o->kind == LP_OPTIM_ADAMW;
            for (int64_t k = 0; k < cnt; k++) {
                double gk = g[k] * clip;
                if (decoupled)
                    w[k] = (float)(w[k] * (1 - lr * o->weight_decay));
                else
                    gk += o->weight_decay * w[k];
                m[k] = (float)(o->beta1 * m[k] + (1 - o->beta1) * gk);
                v[k] = (float)(o->beta2 * v[k] + (1 - o->beta2) * gk * gk);
                double mh = m[k] / bc1, vh = v[k] / bc2;
                w[k] = (float)(w[k] - lr * mh / (sqrt(vh) + o->eps));
            }
        }
    }
    return LP_OK;
}
