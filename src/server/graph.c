/* graph.c — GET /api/graph: a model as nodes and edges for the graph page, each node with the
 * precision a run chose for it. The graph is the one recipes name (lp_session_graph: optimized,
 * BatchNormalization and constants folded — what `lowp quantize --list` shows); the precision
 * comes from the run's report.json, else from its best trial in history.jsonl, else from the
 * structure of the quantized model in the workspace (a quantize job). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/session.h"
#include "base/outfile.h"
#include "onnx/model.h"
#include "ops/op.h"
#include "server/server.h"
#include "server/wsread.h"

#define MAX_GRAPH_NODES 5000    /* more are cut (the page says so): a browser draws this many */

/* From a quantized model's structure (a quantize job's model.int8.onnx): a node reading a
 * DequantizeLinear output computes on INT8 data, a node the model's BF16 list names runs in
 * BF16; the rest is not known (grey). Node names are those of the optimized FP32 graph. */
static lp_yval *model_precisions(const char *dir)
{
    static const char *const files[] = { "model.int8.onnx", "best_model.onnx" };
    lp_yval *out = NULL;
    for (int f = 0; f < 2 && !out; f++) {
        char *p = NULL;
        lowp_model *m = NULL;
        lp_graph *g = NULL;
        if (lp_path_join(dir, files[f], &p) == LP_OK && access(p, R_OK) == 0 && lowp_model_load(p, &m) == LP_OK &&
            lp_session_graph(m->graph, false, true, NULL, &g) == LP_OK && lp_yval_new(LP_NODE_MAP, 0, NULL, &out) == LP_OK) {
            for (int i = 0; i < g->n_nodes; i++) {
                const lp_node *n = &g->nodes[i];
                if (n->op == LP_OP_QuantizeLinear || n->op == LP_OP_DequantizeLinear || lp_yval_get(out, n->name))
                    continue;
                const lp_attr *a = lp_node_attr(n, LP_ATTR_PRECISION);
                const char *prec = a && a->type == LP_ATTR_STRING && a->s && !strcmp(a->s, "bf16") ? "bf16" : NULL;
                for (int k = 0; !prec && k < n->n_in; k++) {
                    int pr = n->in[k] >= 0 ? g->values[n->in[k]].producer : -1;
                    if (pr >= 0 && g->nodes[pr].op == LP_OP_DequantizeLinear)
                        prec = "int8";
                }
                lp_yval *v = NULL;
                if (prec && lp_yval_new(LP_NODE_SCALAR, 0, prec, &v) == LP_OK)
                    (void)lp_yval_append(out, n->name, v);
            }
        }
        lp_graph_free(g);
        lowp_model_free(m);
        free(p);
    }
    return out;
}

/* op name -> "int8" / "bf16" / "fp32" from the run, as a parsed map (NULL: none known). */
static lp_yval *run_precisions(const char *dir)
{
    lp_yval *rep = lp_srv_read_yval(dir, "report.json");
    const lp_yval *ops = rep ? lp_yval_get(rep, "ops") : NULL;
    lp_yval *out = NULL;
    if (ops && ops->kind == LP_NODE_SEQ && lp_yval_new(LP_NODE_MAP, 0, NULL, &out) == LP_OK) {
        for (int i = 0; i < ops->n; i++) {
            const lp_yval *n = lp_yval_get(ops->items[i], "name"), *p = lp_yval_get(ops->items[i], "precision");
            lp_yval *v = NULL;
            if (n && p && n->kind == LP_NODE_SCALAR && p->kind == LP_NODE_SCALAR && !lp_yval_get(out, n->str) &&
                lp_yval_new(LP_NODE_SCALAR, 0, p->str, &v) == LP_OK)
                (void)lp_yval_append(out, n->str, v);
        }
        lp_yval_free(rep);
        return out;
    }
    lp_yval_free(rep);
    lp_srv_history h;
    size_t end = 0;
    if (lp_srv_history_read(dir, 0, &h, &end) != LP_OK)
        return model_precisions(dir);
    int b = lp_srv_history_best(&h, true);
    const lp_yval *prec = b >= 0 ? lp_yval_get(h.trials[b], "precision") : NULL;
    if (prec && prec->kind == LP_NODE_MAP)
        (void)lp_yval_clone(prec, &out);
    lp_srv_history_free(&h);
    return out;
}

void lp_api_graph(lp_server *s, const lp_request *q, lp_reply *r)
{
    int root;
    char *dir = lp_req_path(s, q, r, &root), *model_path = NULL;
    if (!dir)
        return;
    if (s->roots[root].kind == LP_ROOT_DATA) {
        lp_reply_error(r, 403, "data folders are read by jobs, not served");
        free(dir);
        return;
    }
    int mroot = -1;
    if (s->roots[root].kind == LP_ROOT_WORKSPACE && !(model_path = lp_srv_workspace_model(s, dir, &mroot))) {
        lp_reply_error(r, 404, "the run's model is not inside a folder lowp ui serves (or it is gone)");
        free(dir);
        return;
    }
    if (!model_path) { /* a model file itself */
        model_path = dir;
        dir = NULL;
    }
    lp_yval *prec = dir ? run_precisions(dir) : NULL;
    lowp_model *m = NULL;
    lp_graph *g = NULL;
    lp_status st = lowp_model_load(model_path, &m);
    if (st == LP_OK)
        st = lp_session_graph(m->graph, false, true, NULL, &g);
    if (st != LP_OK) {
        lp_reply_error(r, 422, "%s", lowp_last_error());
        goto done;
    }
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "model");
    lp_json_string(&j, model_path);
    lp_json_key(&j, "n_nodes");
    lp_json_int(&j, g->n_nodes);
    lp_json_key(&j, "precision_from");
    lp_json_string(&j, prec ? "run" : NULL);
    lp_json_key(&j, "nodes");
    lp_json_begin_array(&j);
    int n = g->n_nodes < MAX_GRAPH_NODES ? g->n_nodes : MAX_GRAPH_NODES;
    for (int i = 0; i < n; i++) {
        const lp_node *nd = &g->nodes[i];
        lp_json_begin_object(&j);
        lp_json_key(&j, "name");
        lp_json_string(&j, nd->name);
        lp_json_key(&j, "op");
        lp_json_string(&j, nd->op_type);
        const lp_yval *p = prec ? lp_yval_get(prec, nd->name) : NULL;
        lp_json_key(&j, "precision");
        lp_json_string(&j, p && p->kind == LP_NODE_SCALAR ? p->str : NULL);
        /* the nodes whose outputs it reads (graph order: a producer comes first) */
        lp_json_key(&j, "from");
        lp_json_begin_array_flat(&j);
        for (int k = 0; k < nd->n_in; k++) {
            int v = nd->in[k];
            int pr = v >= 0 ? g->values[v].producer : -1;
            bool seen = false;
            for (int e = 0; e < k && !seen; e++)
                seen = nd->in[e] >= 0 && g->values[nd->in[e]].producer == pr;
            if (pr >= 0 && pr < n && !seen)
                lp_json_int(&j, pr);
        }
        lp_json_end_array(&j);
        lp_json_end_object(&j);
    }
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    char *text = NULL;
    st = lp_json_finish(&j, &text);
    lp_reply_json(r, st, text);
done:
    lp_graph_free(g);
    lowp_model_free(m);
    lp_yval_free(prec);
    free(model_path);
    free(dir);
}
