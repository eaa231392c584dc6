/* api.c — the public lowp_prune call: options from strings, the report as JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/session.h"
#include "ir/infer.h"
#include "onnx/model.h"
#include "prune/prune.h"

#define PRUNE_MAX_NAMES 256

lp_status lp_prune_pattern_parse(const char *s, lp_prune_opts *o)
{
    int n, m, len = 0;
    if (!s || !strcmp(s, "unstructured"))
        o->pattern = LP_PRUNE_UNSTRUCTURED;
    else if (!strcmp(s, "channel"))
        o->pattern = LP_PRUNE_CHANNEL;
    else if (sscanf(s, "%d:%d%n", &n, &m, &len) == 2 && s[len] == 0 && n >= 1 && n < m && m <= 64)
        o->pattern = LP_PRUNE_NM, o->n = n, o->m = m;
    else
        return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                        "pruning pattern '%s': expected unstructured, channel or N:M (1 <= N < M <= 64, e.g. 2:4)", s);
    return LP_OK;
}

lp_status lp_prune_report_json(const lp_prune_report *r, const lp_prune_opts *o, char **out)
{
    lp_json j;
    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "pattern");
    char pat[32];
    snprintf(pat, sizeof pat, "%d:%d", o->n, o->m);
    lp_json_string(&j, o->pattern == LP_PRUNE_CHANNEL ? "channel" : o->pattern == LP_PRUNE_NM ? pat : "unstructured");
    if (o->pattern != LP_PRUNE_NM) {
        lp_json_key(&j, "sparsity");
        lp_json_double(&j, o->sparsity);
    }
    lp_json_key(&j, "params_before");
    lp_json_int(&j, r->params_before);
    lp_json_key(&j, "params");
    lp_json_int(&j, r->params);
    int64_t before = 0, alive = 0;
    for (int i = 0; i < r->n; i++)
        before += r->e[i].elems_before, alive += r->e[i].elems - r->e[i].zeros;
    lp_json_key(&j, "pruned_weights_sparsity"); /* removed or zero, over the pruned weights' original elements */
    lp_json_double(&j, before ? 1.0 - (double)alive / (double)before : 0);
    lp_json_key(&j, "layers_kept_whole");
    lp_json_int(&j, r->n_frozen);
    if (r->n_frozen) {
        lp_json_key(&j, "kept_whole_because");
        lp_json_string(&j, r->frozen_why);
    }
    lp_json_key(&j, "tensors");
    lp_json_begin_array(&j);
    for (int i = 0; i < r->n; i++) {
        const lp_prune_entry *e = &r->e[i];
        lp_json_begin_object(&j);
        lp_json_key(&j, "node");
        lp_json_string(&j, e->node);
        lp_json_key(&j, "weight");
        lp_json_string(&j, e->weight);
        lp_json_key(&j, "elements_before");
        lp_json_int(&j, e->elems_before);
        lp_json_key(&j, "elements");
        lp_json_int(&j, e->elems);
        lp_json_key(&j, "zeros");
        lp_json_int(&j, e->zeros);
        lp_json_key(&j, "sparsity"); /* of the original weight: removed and zeroed elements */
        lp_json_double(&j, e->elems_before ? 1.0 - (double)(e->elems - e->zeros) / (double)e->elems_before : 0);
        lp_json_key(&j, "channels_before");
        lp_json_int(&j, e->channels_before);
        lp_json_key(&j, "channels");
        lp_json_int(&j, e->channels);
        lp_json_end_object(&j);
    }
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    return lp_json_finish(&j, out);
}

lp_status lp_prune_model(const lowp_model *model, const lp_prune_opts *o, lowp_model **pruned_out, lp_prune_report *rep)
{
    lp_graph *g = NULL;
    lowp_model *m = NULL;
    lp_status st = lp_session_graph(model->graph, true, true, NULL, &g);
    if (st == LP_OK)
        st = lp_graph_infer(g, true);
    if (st == LP_OK)
        st = lp_prune_graph(g, o, rep);
    if (st == LP_OK && !(m = calloc(1, sizeof *m)))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != LP_OK) {
        lp_graph_free(g);
        return st;
    }
    m->graph = g;
    *pruned_out = m;
    return LP_OK;
}

void lp_prune_report_recount(const lp_graph *g, lp_prune_report *r)
{
    for (int i = 0; i < r->n; i++) {
        lp_prune_entry *e = &r->e[i];
        for (int v = 0; v < g->n_values; v++) {
            const lp_tensor *t = g->values[v].init;
            if (!t || t->dtype != LP_F32 || strcmp(g->values[v].name, e->weight) || lp_tensor_numel(t) != e->elems)
                continue;
            const float *d = t->data;
            e->zeros = 0;
            for (int64_t k = 0; k < e->elems; k++)
                e->zeros += d[k] == 0.0f;
            break;
        }
    }
}

lowp_status lowp_prune(const lowp_model *model, const char *pattern, double sparsity, const char *names,
                       lowp_model **pruned_out, char **report_json_out)
{
    if (!model || !pruned_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_prune: NULL argument");
    lp_prune_opts o = { .sparsity = sparsity };
    LP_TRY(lp_prune_pattern_parse(pattern, &o));
    char *list = names && *names ? strdup(names) : NULL;
    const char *nm[PRUNE_MAX_NAMES];
    if (names && *names && !list)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_prune_report rep = { 0 };
    lowp_model *m = NULL;
    lp_status st = lp_prune_set_names(&o, list, nm, PRUNE_MAX_NAMES);
    if (st == LP_OK)
        st = lp_prune_model(model, &o, &m, &rep);
    if (st == LP_OK && report_json_out)
        st = lp_prune_report_json(&rep, &o, report_json_out);
    lp_prune_report_free(&rep);
    free(list);
    if (st != LP_OK) {
        lowp_model_free(m);
        return st;
    }
    *pruned_out = m;
    return LP_OK;
}
