/* qoperator.c — the QOperator form of a QDQ graph, for runtimes that want it: each
 * DQ -> Conv|MatMul -> [Relu] -> Q chain becomes one QLinearConv / QLinearMatMul (standard
 * ONNX domain only). A Relu folds in only when the output's zero point is the integer minimum
 * (then the clamp at the quantized minimum is the ReLU); chains that do not fit stay QDQ. */
#include <string.h>

#include "ir/infer.h"
#include "ir/passes.h"
#include "ops/op.h"
#include "quant/build.h"
#include "quant/quantize.h"

/* The producer of value v when it is a DequantizeLinear, else -1. */
static int dq_producer(const lp_graph *g, int v)
{
    int p = v >= 0 ? g->values[v].producer : -1;
    return p >= 0 && !g->nodes[p].dead && g->nodes[p].op == LP_OP_DequantizeLinear ? p : -1;
}

/* The one live reader of value v (graph outputs count as readers), or -1. */
static int only_reader(const lp_graph *g, int v)
{
    if (g->values[v].is_output)
        return -1;
    int r = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == v) {
                if (r >= 0)
                    return -1;
                r = i;
            }
    }
    return r;
}

static bool zp_is_qmin(const lp_graph *g, const lp_node *q)
{
    if (q->n_in < 3 || q->in[2] < 0)
        return true; /* default uint8 zero point 0 */
    const lp_tensor *z = g->values[q->in[2]].init;
    if (!z || lp_tensor_numel(z) != 1)
        return false;
    int64_t v = lp_tensor_get_int(z, 0);
    return (z->dtype == LP_U8 && v == 0) || (z->dtype == LP_I8 && v == -128);
}

static lp_status fuse(lp_graph *g, int ni)
{
    lp_node *n = &g->nodes[ni];
    bool conv = n->op == LP_OP_Conv;
    int dx = dq_producer(g, n->in[0]), dw = dq_producer(g, n->in[1]);
    if (dx < 0 || dw < 0 || g->values[g->nodes[dw].in[0]].kind != LP_VALUE_CONST)
        return LP_OK;
    int db = -1;
    if (conv && n->n_in > 2 && n->in[2] >= 0) {
        db = dq_producer(g, n->in[2]);
        if (db < 0 || g->values[g->nodes[db].in[0]].kind != LP_VALUE_CONST)
            return LP_OK;
    }
    if (!conv && n->n_in > 2)
        return LP_OK;
    /* output chain: [Relu] -> QuantizeLinear */
    int y = n->out[0], relu = -1, q = only_reader(g, y);
    if (q >= 0 && g->nodes[q].op == LP_OP_Relu) {
        relu = q;
        q = only_reader(g, g->nodes[relu].out[0]);
    }
    if (q < 0 || g->nodes[q].op != LP_OP_QuantizeLinear || g->nodes[q].n_in < 3 || g->nodes[q].in[2] < 0)
        return LP_OK;
    if (relu >= 0 && !zp_is_qmin(g, &g->nodes[q]))
        return LP_OK;
    const lp_node *X = &g->nodes[dx], *W = &g->nodes[dw], *Q = &g->nodes[q];
    if (X->n_in < 3 || W->n_in < 3 || X->in[2] < 0 || W->in[2] < 0)
        return LP_OK;
    int in[9] = { X->in[0], X->in[1], X->in[2], W->in[0], W->in[1], W->in[2], Q->in[1], Q->in[2],
                  db >= 0 ? g->nodes[db].in[0] : -1 };
    int out = Q->out[0], idx;
    char name[300];
    snprintf(name, sizeof name, "%s_quant", n->name);
    LP_TRY(lp_qb_node(g, conv ? "QLinearConv" : "QLinearMatMul", name, conv && db >= 0 ? 9 : 8, in, 1, &out, &idx));
    n = &g->nodes[ni]; /* the node array may have moved */
    if (conv)
        for (int k = 0; k < n->n_attr; k++)
            LP_TRY(lp_node_add_attr(&g->nodes[idx], &n->attrs[k]));
    n = &g->nodes[ni];
    n->dead = true;
    if (relu >= 0)
        g->nodes[relu].dead = true;
    g->nodes[q].dead = true;
    g->values[out].producer = idx;
    return LP_OK;
}

lp_status lp_qdq_to_qoperator(const lp_graph *src, lp_graph **out)
{
    lp_graph *g;
    LP_TRY(lp_graph_clone(src, &g));
    lp_status st = LP_OK;
    int n = g->n_nodes;
    for (int i = 0; i < n && st == LP_OK; i++)
        if (!g->nodes[i].dead && (g->nodes[i].op == LP_OP_Conv || g->nodes[i].op == LP_OP_MatMul))
            st = fuse(g, i);
    if (st == LP_OK)
        st = lp_pass_dead_nodes(g);
    return lp_graph_finish(g, st, out);
}
