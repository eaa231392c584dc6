/* finetune.c — pruning with fine-tuning through the training engine (train/train.h): the
 * pruned weights are masked after every optimizer step so they stay zero; unstructured pruning
 * can also be gradual, the sparsity raised from `initial` to the target over the schedule's
 * epochs (LPOT's start_epoch / end_epoch / update_frequency), re-pruning by magnitude of the
 * current weights at each update. Channel pruning removes channels before training (the graph
 * cannot change shape under the trainer) and fine-tunes what is left. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prune/prune.h"
#include "train/train.h"

typedef struct mask {
    int node;
    unsigned char *zero;        /* per element of the node's weight: keep it zero */
    int64_t n;
} mask;

typedef struct ft_ctx {
    const lp_prune_opts *o;
    const lp_prune_schedule *sch;
    mask *m;
    int n_m;
    bool verbose;
} ft_ctx;

/* The schedule's sparsity at the start of `epoch` (absolute, counting from 0). */
double lp_prune_schedule_at(const lp_prune_schedule *s, double target, int64_t epoch)
{
    if (!s || s->end_epoch <= s->start_epoch || epoch >= s->end_epoch)
        return target;
    if (epoch < s->start_epoch)
        return s->initial;
    double freq = s->update_frequency > 0 ? s->update_frequency : 1;
    double done = floor((double)(epoch - s->start_epoch) / freq) * freq; /* updates happen every freq epochs */
    return s->initial + (target - s->initial) * done / (double)(s->end_epoch - s->start_epoch);
}

static lp_status remask(ft_ctx *c, lp_graph *g, bool record)
{
    for (int k = 0; k < c->n_m; k++) {
        mask *m = &c->m[k];
        lp_tensor *w = g->values[g->nodes[m->node].in[1]].init;
        float *d = w->data;
        if (lp_tensor_numel(w) != m->n)
            return lp_error(LOWP_ERR_INTERNAL, "node '%s': its weight changed size under training", g->nodes[m->node].name);
        for (int64_t i = 0; i < m->n; i++) {
            if (record)
                m->zero[i] = d[i] == 0.0f;
            else if (m->zero[i])
                d[i] = 0.0f;
        }
    }
    return LP_OK;
}

static lp_status hook(void *user, lp_train_event ev, const lp_train_info *info)
{
    ft_ctx *c = user;
    lp_graph *g = info->graph;
    if (ev == LP_TRAIN_EPOCH_BEGIN && c->o->pattern == LP_PRUNE_UNSTRUCTURED && c->sch) {
        /* gradual: raise the sparsity to the schedule's, by the current magnitudes */
        double s = lp_prune_schedule_at(c->sch, c->o->sparsity, info->epoch);
        for (int k = 0; k < c->n_m; k++)
            LP_TRY(lp_prune_tensor(&g->nodes[c->m[k].node], g->values[g->nodes[c->m[k].node].in[1]].init, c->o, s));
        return remask(c, g, true);
    }
    if (ev == LP_TRAIN_AFTER_STEP)
        return remask(c, g, false);
    return LP_OK;
}

lp_status lp_prune_finetune(lp_graph *g, const lp_prune_opts *o, const lp_prune_schedule *sch,
                            const lp_train_options *to, lowp_dataloader *data, lp_train_result *res)
{
    ft_ctx c = { .o = o, .sch = o->pattern == LP_PRUNE_UNSTRUCTURED ? sch : NULL };
    lp_status st = LP_OK;
    if (o->pattern != LP_PRUNE_CHANNEL) { /* masks over the chosen weights */
        c.m = calloc((size_t)g->n_nodes + 1, sizeof *c.m);
        if (!c.m)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        for (int i = 0; i < g->n_nodes && st == LP_OK; i++) {
            if (!lp_prune_chosen(g, i, o))
                continue;
            mask *m = &c.m[c.n_m++];
            m->node = i;
            m->n = lp_tensor_numel(g->values[g->nodes[i].in[1]].init);
            if (!(m->zero = calloc((size_t)m->n + 1, 1)))
                st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        if (st == LP_OK)
            st = remask(&c, g, true);
    }
    lp_train_hook h = { hook, &c };
    if (st == LP_OK)
        st = lp_train_run(g, to, data, &h, res);
    for (int k = 0; k < c.n_m; k++)
        free(c.m[k].zero);
    free(c.m);
    return st;
}
