/* finetune.c — pruning with fine-tuning through the training engine (train/train.h): every
 * pruner's zeros are masked after every optimizer step so they stay zero; unstructured pruners
 * can also be gradual, their sparsity raised from `initial` to the target over the schedule's
 * epochs (LPOT's start_epoch / end_epoch / update_frequency, or every step_frequency batches),
 * re-pruning by the magnitude of the current weights at each update. Channel pruning removes
 * channels before training (the graph cannot change shape under the trainer) and fine-tunes
 * what is left. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "prune/prune.h"
#include "train/train.h"

typedef struct mask {
    int node, pruner;
    unsigned char *zero;        /* per element of the node's weight: keep it zero */
    int64_t n;
} mask;

typedef struct ft_ctx {
    const lp_pruner *p;
    int n_p;
    mask *m;
    int n_m;
    int64_t per_epoch;          /* batches an epoch (0: unknown) */
    int64_t updates;            /* gradual updates this epoch */
    bool progress;
} ft_ctx;

double lp_prune_schedule_at(const lp_prune_schedule *s, double target, double epoch)
{
    if (!s || s->end_epoch <= s->start_epoch || epoch >= (double)s->end_epoch)
        return target;
    if (epoch < (double)s->start_epoch)
        return s->initial;
    double done = epoch - (double)s->start_epoch;
    if (s->step_frequency <= 0) { /* updates happen every update_frequency epochs */
        double freq = s->update_frequency > 0 ? s->update_frequency : 1;
        done = floor(floor(done) / freq) * freq;
    }
    return s->initial + (target - s->initial) * done / (double)(s->end_epoch - s->start_epoch);
}

static lp_tensor *weight(lp_graph *g, const mask *m)
{
    return g->values[g->nodes[m->node].in[1]].init;
}

/* record: the masks become the weights' current zeros; else the masked weights are zeroed. */
static lp_status remask(ft_ctx *c, lp_graph *g, int only_pruner, bool record)
{
    for (int k = 0; k < c->n_m; k++) {
        mask *m = &c->m[k];
        if (only_pruner >= 0 && m->pruner != only_pruner)
            continue;
        lp_tensor *w = weight(g, m);
        float *d = w->data;
        if (lp_tensor_numel(w) != m->n)
            return lp_error(LOWP_ERR_INTERNAL, "node '%s': its weight changed size under training", g->nodes[m->node].name);
        for (int64_t i = 0; i < m->n; i++) {
            if (record)
                m->zero[i] = m->zero[i] || d[i] == 0.0f;
            else if (m->zero[i])
                d[i] = 0.0f;
        }
    }
    return LP_OK;
}

/* Gradual pruner k at (fractional) epoch `at`: its weights pruned by magnitude to the
 * schedule's sparsity, the new zeros added to its masks. */
static lp_status update(ft_ctx *c, lp_graph *g, int k, double at)
{
    const lp_pruner *p = &c->p[k];
    double s = lp_prune_schedule_at(p->sch, p->o.sparsity, at);
    for (int j = 0; j < c->n_m; j++)
        if (c->m[j].pruner == k)
            LP_TRY(lp_prune_tensor(&g->nodes[c->m[j].node], weight(g, &c->m[j]), &p->o, s));
    c->updates++;
    return remask(c, g, k, true);
}

static lp_status hook(void *user, lp_train_event ev, const lp_train_info *info)
{
    ft_ctx *c = user;
    lp_graph *g = info->graph;
    for (int k = 0; k < c->n_p; k++) {
        const lp_prune_schedule *s = c->p[k].sch;
        if (!s)
            continue;
        if (ev == LP_TRAIN_EPOCH_BEGIN)
            LP_TRY(update(c, g, k, (double)info->epoch));
        else if (ev == LP_TRAIN_AFTER_STEP && s->step_frequency > 0 && c->per_epoch > 0 &&
                 (info->iteration + 1) % s->step_frequency == 0 && info->epoch >= s->start_epoch &&
                 info->epoch < s->end_epoch) /* within the window: every step_frequency batches */
            LP_TRY(update(c, g, k, (double)info->epoch + (double)(info->iteration + 1) / (double)c->per_epoch));
    }
    if (ev == LP_TRAIN_AFTER_STEP)
        return remask(c, g, -1, false);
    if (ev == LP_TRAIN_EPOCH_END && c->progress && c->n_m) {
        int64_t z = 0, n = 0;
        for (int k = 0; k < c->n_m; k++)
            for (int64_t i = 0; i < c->m[k].n; i++)
                z += c->m[k].zero[i], n++;
        fprintf(stderr, "lowp prune: epoch %lld: %.1f %% of the pruned weights zero (%lld gradual update%s)\n",
                (long long)info->epoch + 1, 100.0 * (double)z / (double)n, (long long)c->updates,
                c->updates == 1 ? "" : "s");
        c->updates = 0;
    }
    return LP_OK;
}

lp_status lp_prune_set_names(lp_prune_opts *o, char *list, const char **buf, int cap)
{
    o->n_names = 0;
    o->names = buf;
    for (char *p = list, *save = NULL, *tok; list && (tok = strtok_r(p, ",", &save)); p = NULL) {
        if (o->n_names == cap)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "pruning: more than %d names", cap);
        buf[o->n_names++] = tok;
    }
    return LP_OK;
}

lp_status lp_prune_finetune(lp_graph *g, const lp_pruner *p, int n, const lp_train_options *to,
                            lowp_dataloader *data, lp_train_result *res)
{
    ft_ctx c = { .p = p, .n_p = n, .progress = to->progress };
    c.per_epoch = lp_dataloader_batches(data);
    if (to->iterations > 0 && (c.per_epoch == 0 || to->iterations < c.per_epoch))
        c.per_epoch = to->iterations;
    lp_status st = LP_OK;
    int cap = 0;
    for (int k = 0; k < n; k++)
        cap += p[k].o.pattern != LP_PRUNE_CHANNEL ? g->n_nodes : 0;
    if (cap && !(c.m = calloc((size_t)cap, sizeof *c.m)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int k = 0; k < n && st == LP_OK; k++) {
        if (p[k].o.pattern == LP_PRUNE_CHANNEL)
            continue; /* its channels are gone: nothing to keep */
        for (int i = 0; i < g->n_nodes && st == LP_OK; i++) {
            if (!lp_prune_chosen(g, i, &p[k].o) || lp_prune_weight(g, i) < 0)
                continue;
            mask *m = &c.m[c.n_m++];
            m->node = i;
            m->pruner = k;
            m->n = lp_tensor_numel(g->values[g->nodes[i].in[1]].init);
            if (!(m->zero = calloc((size_t)m->n + 1, 1)))
                st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
    }
    if (st == LP_OK)
        st = remask(&c, g, -1, true);
    lp_train_hook h = { hook, &c };
    if (st == LP_OK)
        st = lp_train_run(g, to, data, &h, res);
    for (int k = 0; k < c.n_m; k++)
        free(c.m[k].zero);
    free(c.m);
    return st;
}
