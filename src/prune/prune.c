/* prune.c — weight choice, unstructured and N:M magnitude pruning, the report (see prune.h). */
#include "prune/prune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "ops/op.h"

int lp_prune_weight(const lp_graph *g, int ni)
{
    const lp_node *n = &g->nodes[ni];
    if (n->dead || n->n_in < 2 || n->in[1] < 0 || (n->op != LP_OP_Conv && n->op != LP_OP_Gemm && n->op != LP_OP_MatMul))
        return -1;
    const lp_value *w = &g->values[n->in[1]];
    if (w->kind != LP_VALUE_CONST || w->init->dtype != LP_F32 || n->in[0] < 0 ||
        g->values[n->in[0]].kind == LP_VALUE_CONST)
        return -1;
    if (n->op == LP_OP_Conv ? w->init->ndim < 3 : w->init->ndim != 2)
        return -1;
    if (n->op == LP_OP_Gemm && lp_attr_int(n, "transA", 0))
        return -1;
    return n->in[1];
}

/* LPOT's re.match: `pat` is a name, or an extended regular expression matching from the start. */
static bool name_matches(const char *pat, const char *name)
{
    return !strcmp(pat, name) || lp_regex_match_start(pat, name);
}

bool lp_prune_chosen(const lp_graph *g, int ni, const lp_prune_opts *o)
{
    int w = lp_prune_weight(g, ni);
    if (w < 0)
        return false;
    if (!o->n_names)
        return true;
    for (int k = 0; k < o->n_names; k++)
        if (name_matches(o->names[k], g->nodes[ni].name) || name_matches(o->names[k], g->values[w].name))
            return true;
    return false;
}

void lp_prune_report_free(lp_prune_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        free(r->e[i].node), free(r->e[i].weight);
    free(r->e);
    memset(r, 0, sizeof *r);
}

static int64_t float_params(const lp_graph *g)
{
    int64_t n = 0;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LP_VALUE_CONST && g->values[v].init->dtype == LP_F32)
            n += lp_tensor_numel(g->values[v].init);
    return n;
}

static int cmp_abs(const void *a, const void *b)
{
    float x = fabsf(**(float *const *)a), y = fabsf(**(float *const *)b);
    if (x != y)
        return x < y ? -1 : 1;
    return *(float *const *)a < *(float *const *)b ? -1 : *(float *const *)a > *(float *const *)b; /* by position */
}

/* The smallest `sparsity` of |w| to zero. */
static lp_status magnitude(lp_tensor *w, double sparsity)
{
    int64_t n = lp_tensor_numel(w), k = (int64_t)floor(sparsity * (double)n + 1e-9);
    if (k <= 0)
        return LP_OK;
    float **p = malloc((size_t)n * sizeof *p);
    if (!p)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t i = 0; i < n; i++)
        p[i] = (float *)w->data + i;
    qsort(p, (size_t)n, sizeof *p, cmp_abs);
    for (int64_t i = 0; i < k; i++)
        *p[i] = 0.0f;
    free(p);
    return LP_OK;
}

/* N:M along the reduction axis: groups of m consecutive input channels at one kernel position
 * (Conv), of m consecutive K (Gemm/MatMul). A tail shorter than m stays dense. */
static void n_m(const lp_node *nd, lp_tensor *w, int n, int m)
{
    int64_t rows, len, stride_e, stride_row, inner; /* element (row, k, e) at row*stride_row + k*stride_e + e */
    if (nd->op == LP_OP_Conv) {
        rows = w->dims[0];
        len = w->dims[1];
        inner = lp_tensor_numel(w) / (rows * len);
        stride_e = inner, stride_row = len * inner;
    } else if (nd->op == LP_OP_Gemm && lp_attr_int(nd, "transB", 0)) {
        rows = w->dims[0], len = w->dims[1], inner = 1, stride_e = 1, stride_row = len;
    } else {
        rows = w->dims[1], len = w->dims[0], inner = 1, stride_e = w->dims[1], stride_row = 1;
    }
    float *d = w->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t e = 0; e < inner; e++)
            for (int64_t k0 = 0; k0 + m <= len; k0 += m) {
                int64_t idx[64];
                for (int j = 0; j < m; j++) { /* insertion sort of the group by |w|, stable */
                    int64_t at = r * stride_row + (k0 + j) * stride_e + e;
                    int q = j;
                    while (q > 0 && fabsf(d[idx[q - 1]]) > fabsf(d[at])) {
                        idx[q] = idx[q - 1];
                        q--;
                    }
                    idx[q] = at;
                }
                for (int j = 0; j < m - n; j++)
                    d[idx[j]] = 0.0f;
            }
}

static lp_status add_entry(lp_prune_report *rep, const lp_graph *g, int ni, int64_t before, int64_t ch_before)
{
    lp_prune_entry *e = realloc(rep->e, (size_t)(rep->n + 1) * sizeof *e);
    if (!e)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    rep->e = e;
    e = &rep->e[rep->n];
    const lp_tensor *w = g->values[g->nodes[ni].in[1]].init;
    const lp_node *n = &g->nodes[ni];
    *e = (lp_prune_entry){ .elems_before = before, .elems = lp_tensor_numel(w), .channels_before = ch_before };
    e->channels = n->op == LP_OP_Conv || (n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0)) ? w->dims[0] : w->dims[1];
    for (int64_t i = 0; i < e->elems; i++)
        e->zeros += ((const float *)w->data)[i] == 0.0f;
    e->node = strdup(n->name);
    e->weight = strdup(g->values[n->in[1]].name);
    rep->n++;
    return e->node && e->weight ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
}

lp_status lp_prune_set_input(lp_graph *g, int ni, int slot, lp_tensor *t)
{
    char name[512];
    snprintf(name, sizeof name, "%s_pruned", g->values[g->nodes[ni].in[slot]].name);
    int nv;
    lp_status st = lp_graph_new_value(g, name, &nv);
    if (st != LP_OK) {
        lp_tensor_free(t);
        return st;
    }
    lp_graph_set_const(g, nv, t);
    g->nodes[ni].in[slot] = nv;
    return LP_OK;
}

/* Gives node ni a private copy of its weight (other readers keep theirs). */
static lp_status own_weight(lp_graph *g, int ni, const int *uses)
{
    int v = g->nodes[ni].in[1];
    if (uses[v] == 1 && g->values[v].init->owns_data)
        return LP_OK;
    lp_tensor *t = NULL;
    LP_TRY(lp_tensor_clone(g->values[v].init, &t));
    return lp_prune_set_input(g, ni, 1, t);
}

lp_status lp_prune_tensor(const lp_node *n, lp_tensor *w, const lp_prune_opts *o, double sparsity)
{
    if (o->pattern == LP_PRUNE_NM) {
        n_m(n, w, o->n, o->m);
        return LP_OK;
    }
    return magnitude(w, sparsity);
}

lp_status lp_prune_graph(lp_graph *g, const lp_prune_opts *o, lp_prune_report *rep)
{
    memset(rep, 0, sizeof *rep);
    if (o->pattern != LP_PRUNE_NM && !(o->sparsity >= 0 && o->sparsity < 1))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "sparsity %g: expected a fraction in [0, 1)", o->sparsity);
    if (o->pattern == LP_PRUNE_NM && !(o->n >= 1 && o->n < o->m && o->m <= 64))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "pattern %d:%d: expected N:M with 1 <= N < M <= 64", o->n, o->m);
    for (int k = 0; k < o->n_names; k++) {
        int i = 0;
        while (i < g->n_nodes && !(lp_prune_weight(g, i) >= 0 && (name_matches(o->names[k], g->nodes[i].name) ||
                                                                    name_matches(o->names[k], g->values[g->nodes[i].in[1]].name))))
            i++;
        if (i == g->n_nodes)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "names: '%s' matches no Conv, Gemm or MatMul weight of the model "
                            "(names are node or initializer names, or regular expressions matched from their start)",
                            o->names[k]);
    }
    rep->params_before = float_params(g);
    lp_status st = LP_OK;
    if (o->pattern == LP_PRUNE_CHANNEL) {
        st = lp_prune_channels(g, o, rep);
    } else {
        int *uses = NULL;
        LP_TRY(lp_graph_use_counts(g, &uses));
        for (int i = 0; i < g->n_nodes && st == LP_OK; i++) {
            if (!lp_prune_chosen(g, i, o))
                continue;
            st = own_weight(g, i, uses);
            lp_tensor *w = st == LP_OK ? g->values[g->nodes[i].in[1]].init : NULL;
            int64_t before = w ? lp_tensor_numel(w) : 0;
            if (w)
                st = lp_prune_tensor(&g->nodes[i], w, o, o->sparsity);
            if (st == LP_OK) {
                const lp_node *n = &g->nodes[i];
                int64_t ch = n->op == LP_OP_Conv || (n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0)) ? w->dims[0] : w->dims[1];
                st = add_entry(rep, g, i, before, ch);
            }
        }
        free(uses);
        if (st == LP_OK)
            st = lp_graph_compact(g);
    }
    rep->params = float_params(g);
    if (st != LP_OK)
        lp_prune_report_free(rep);
    return st;
}
