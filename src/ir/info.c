/* info.c — lowp_model_info_json: a JSON summary of a loaded model.
 *
 * Layout (keys in this order):
 *   {"path": "m.onnx" | null, "producer": {"name": .., "version": ..}, "ir_version": 7,
 *    "opsets": {"ai.onnx": 13, ...}, "graph": "main_graph",
 *    "inputs":  [{"name": .., "dtype": "float32", "shape": ["batch", 1, 28, 28]}],
 *    "outputs": [...],
 *    "node_count": 6, "ops": {"Gemm": 3, "Relu": 2, ...},
 *    "parameters": {"count": 235146, "bytes": 940584},
 *    "unsupported_ops": ["com.microsoft:Attention", ...],
 *    "subgraphs": [{"node": "If_25", "op": "If", "attribute": "then_branch", "depth": 1,
 *                   "inputs": [...], "outputs": [...],
 *                   "outer": ["x", ...], "node_count": 88, "ops": {...}}]}
 * "ops", "parameters" and "unsupported_ops" count the nodes and initializers of subgraphs too
 * (node_count is the main graph's); "subgraphs" lists every subgraph, depth first. "outer" names
 * the enclosing graphs' values a subgraph reads.
 * A shape is null when its rank is unknown; a dim is a number when known, the symbol's name
 * when symbolic, null when unknown. Ops outside the default domain are named "domain:OpType".
 * "ops" is sorted by count (descending), then name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "onnx/model.h"
#include "ops/op.h"

typedef struct op_count {
    char *name;     /* "OpType" or "domain:OpType" (owned) */
    int64_t count;
    bool unsupported;
} op_count;

typedef struct histogram {
    op_count *items;
    int n, cap;
    lp_strmap index;   /* name -> item index; keys borrowed from items[].name */
} histogram;

static void histogram_free(histogram *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->items[i].name);
    free(h->items);
    lp_strmap_clear(&h->index);
}

static lp_status histogram_add(histogram *h, const lp_node *n)
{
    const char *dom = n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0 ? n->domain : "";
    const char *op = n->op_type ? n->op_type : "";
    size_t len = strlen(dom) + strlen(op) + 2;
    char *name = malloc(len);
    if (!name)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "model info: out of memory");
    if (*dom)
        snprintf(name, len, "%s:%s", dom, op);
    else
        snprintf(name, len, "%s", op);
    int k = lp_strmap_get(&h->index, name);
    if (k >= 0) {
        free(name);
        h->items[k].count++;
        return LP_OK;
    }
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 16;
        op_count *p = realloc(h->items, (size_t)cap * sizeof *p);
        if (!p) {
            free(name);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "model info: out of memory");
        }
        h->items = p;
        h->cap = cap;
    }
    h->items[h->n] = (op_count){ name, 1, n->op < 0 || !lp_op_implemented(n->op) };
    lp_status st = lp_strmap_put(&h->index, name, h->n);
    if (st != LP_OK) {
        free(name);
        return st;
    }
    h->n++;
    return LP_OK;
}

static int by_count_then_name(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const op_count *)a)->name, ((const op_count *)b)->name);
}

static void write_value(lp_json *j, const lp_graph *g, int v)
{
    const lp_value *val = &g->values[v];
    lp_json_begin_object(j);
    lp_json_key(j, "name");
    lp_json_string(j, val->name);
    lp_json_key(j, "dtype");
    lp_json_string(j, lp_dtype_traits_of(val->dtype)->name);
    lp_json_key(j, "shape");
    if (val->shape.ndim < 0 || val->shape.ndim > LP_MAX_DIMS) {
        lp_json_null(j);
    } else {
        lp_json_begin_array_flat(j);
        for (int i = 0; i < val->shape.ndim; i++) {
            int64_t d = val->shape.d[i];
            const char *sym = lp_dim_known(d) ? NULL : lp_graph_sym_name(g, d);
            if (lp_dim_known(d))
                lp_json_int(j, d);
            else
                lp_json_string(j, sym);   /* NULL (unknown) -> null */
        }
        lp_json_end_array(j);
    }
    lp_json_end_object(j);
}

static void write_ops(lp_json *j, histogram *h)
{
    if (h->n > 1)
        qsort(h->items, (size_t)h->n, sizeof *h->items, by_count_then_name);
    lp_json_begin_object(j);
    for (int i = 0; i < h->n; i++) {
        lp_json_key(j, h->items[i].name);
        lp_json_int(j, h->items[i].count);
    }
    lp_json_end_object(j);
}

typedef struct sub_walk {
    lp_json *j;
    histogram *all;
    int64_t *n_params;
    uint64_t *param_bytes;
} sub_walk;

static lp_status count_graph(const lp_graph *g, histogram *h, histogram *all, int64_t *n_params, uint64_t *bytes)
{
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead)
            continue;
        if (h)
            LP_TRY(histogram_add(h, &g->nodes[i]));
        LP_TRY(histogram_add(all, &g->nodes[i]));
    }
    for (int v = 0; v < g->n_values; v++) {
        const lp_value *val = &g->values[v];
        if (val->kind == LP_VALUE_CONST && val->init) {
            *n_params += lp_tensor_numel(val->init);
            *bytes += val->init->nbytes;
        }
    }
    return LP_OK;
}

static lp_status describe_sub(void *user, lp_graph *sub, lp_graph *parent, int ni, int depth)
{
    sub_walk *w = user;
    lp_json *j = w->j;
    const lp_node *n = &parent->nodes[ni];
    const char *attr = "";
    for (int a = 0; a < n->n_attr; a++) {
        const lp_attr *at = &n->attrs[a];
        for (int k = 0; k < (at->g ? 1 : at->graphs ? at->n : 0); k++)
            if ((at->g ? at->g : at->graphs[k]) == sub)
                attr = at->name;
    }
    if (!j) /* the counting pass */
        return count_graph(sub, NULL, w->all, w->n_params, w->param_bytes);
    histogram h = { 0 }, scratch = { 0 };
    int64_t count = 0, np = 0;
    uint64_t nb = 0;
    for (int i = 0; i < sub->n_nodes; i++)
        count += !sub->nodes[i].dead;
    lp_status st = count_graph(sub, &h, &scratch, &np, &nb);
    histogram_free(&scratch);
    if (st != LP_OK) {
        histogram_free(&h);
        return st;
    }
    lp_json_begin_object(j);
    lp_json_key(j, "node");
    lp_json_string(j, n->name);
    lp_json_key(j, "op");
    lp_json_string(j, n->op_type);
    lp_json_key(j, "attribute");
    lp_json_string(j, attr);
    lp_json_key(j, "depth");
    lp_json_int(j, depth);
    lp_json_key(j, "inputs");
    lp_json_begin_array(j);
    for (int i = 0; i < sub->n_inputs; i++)
        write_value(j, sub, sub->inputs[i]);
    lp_json_end_array(j);
    lp_json_key(j, "outputs");
    lp_json_begin_array(j);
    for (int i = 0; i < sub->n_outputs; i++)
        write_value(j, sub, sub->outputs[i]);
    lp_json_end_array(j);
    lp_json_key(j, "outer");
    lp_json_begin_array_flat(j);
    for (int i = 0; i < n->n_implicit; i++)
        lp_json_string(j, parent->values[n->in[lp_node_n_explicit(n) + i]].name);
    lp_json_end_array(j);
    lp_json_key(j, "node_count");
    lp_json_int(j, count);
    lp_json_key(j, "ops");
    write_ops(j, &h);
    lp_json_end_object(j);
    histogram_free(&h);
    return LP_OK;
}

lowp_status lowp_model_info_json(const lowp_model *model, char **json_out)
{
    if (!model || !model->graph || !json_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_model_info_json: NULL argument");
    const lp_graph *g = model->graph;
    histogram h = { 0 };
    lp_json j;
    lp_status st;
    int64_t n_nodes = 0;
    int64_t n_params = 0;
    uint64_t param_bytes = 0;

    for (int i = 0; i < g->n_nodes; i++)
        n_nodes += !g->nodes[i].dead;
    if ((st = count_graph(g, NULL, &h, &n_params, &param_bytes)) != LP_OK)
        goto fail;
    sub_walk w = { NULL, &h, &n_params, &param_bytes }; /* subgraphs count in the totals */
    if ((st = lp_graph_walk_subgraphs((lp_graph *)g, describe_sub, &w)) != LP_OK)
        goto fail;

    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "path");
    lp_json_string(&j, model->path);
    lp_json_key(&j, "producer");
    lp_json_begin_object(&j);
    lp_json_key(&j, "name");
    lp_json_string(&j, g->producer_name ? g->producer_name : "");
    lp_json_key(&j, "version");
    lp_json_string(&j, g->producer_version ? g->producer_version : "");
    lp_json_end_object(&j);
    lp_json_key(&j, "ir_version");
    lp_json_int(&j, g->ir_version);
    lp_json_key(&j, "opsets");
    lp_json_begin_object(&j);
    for (int i = 0; i < g->n_opsets; i++) {
        const char *dom = g->opsets[i].domain;
        lp_json_key(&j, dom && *dom ? dom : "ai.onnx");
        lp_json_int(&j, g->opsets[i].version);
    }
    lp_json_end_object(&j);
    lp_json_key(&j, "graph");
    lp_json_string(&j, g->name ? g->name : "");

    lp_json_key(&j, "inputs");
    lp_json_begin_array(&j);
    for (int i = 0; i < g->n_inputs; i++)
        write_value(&j, g, g->inputs[i]);
    lp_json_end_array(&j);
    lp_json_key(&j, "outputs");
    lp_json_begin_array(&j);
    for (int i = 0; i < g->n_outputs; i++)
        write_value(&j, g, g->outputs[i]);
    lp_json_end_array(&j);

    lp_json_key(&j, "node_count");
    lp_json_int(&j, n_nodes);
    lp_json_key(&j, "ops");
    write_ops(&j, &h);
    lp_json_key(&j, "parameters");
    lp_json_begin_object(&j);
    lp_json_key(&j, "count");
    lp_json_int(&j, n_params);
    lp_json_key(&j, "bytes");
    lp_json_uint(&j, param_bytes);
    lp_json_end_object(&j);
    lp_json_key(&j, "unsupported_ops");
    lp_json_begin_array(&j);
    /* Listed by name. */
    if (h.n > 1)
        qsort(h.items, (size_t)h.n, sizeof *h.items, by_name);
    for (int i = 0; i < h.n; i++)
        if (h.items[i].unsupported)
            lp_json_string(&j, h.items[i].name);
    lp_json_end_array(&j);
    lp_json_key(&j, "subgraphs");
    lp_json_begin_array(&j);
    w.j = &j;
    st = lp_graph_walk_subgraphs((lp_graph *)g, describe_sub, &w);
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    if (st != LP_OK) {
        lp_json_free(&j);
        goto fail;
    }

    histogram_free(&h);
    return lp_json_finish(&j, json_out);

fail:
    histogram_free(&h);
    return st;
}
