/* float16.c — FP16 and BF16 models computed in FP32: every float16/bfloat16 constant, tensor
 * attribute and type attribute (Cast to, dtype) becomes float32, so the model's arithmetic runs
 * on the float32 kernels (the fast ones included); graph inputs and outputs keep their types
 * through boundary Casts; Casts that became float32 -> float32 are removed. Exporters write
 * such models (onnxconverter's float16 conversion: fp16 weights, fp16 ops, Casts at the edges). */
#include <stdio.h>
#include <string.h>

#include "ir/infer.h"
#include "ir/passes.h"
#include "ops/op.h"

static bool half(lp_dtype t) { return t == LP_F16 || t == LP_BF16; }

/* A float32 copy of half tensor *t, replacing it. */
static lp_status widen(lp_tensor **t)
{
    lp_tensor *w;
    LP_TRY(lp_tensor_new(LP_F32, (*t)->ndim, (*t)->dims, &w));
    const lp_dtype_traits *tr = lp_dtype_traits_of((*t)->dtype);
    float *d = w->data;
    for (int64_t i = 0; i < lp_tensor_numel(w); i++)
        d[i] = (float)tr->get((*t)->data, i);
    lp_tensor_free(*t);
    *t = w;
    return LP_OK;
}

/* A Cast node `in` -> `out` to type `to`, named after `out`. */
static lp_status add_cast(lp_graph *g, int in, int out, lp_dtype to)
{
    char name[600];
    snprintf(name, sizeof name, "%s_cast", g->values[out].name);
    int idx;
    LP_TRY(lp_graph_add_node(g, name, "Cast", "", 1, &in, 1, &out, &idx));
    lp_attr a = { .name = "to", .type = LP_ATTR_INT, .i = to };
    return lp_node_add_attr(&g->nodes[idx], &a);
}

/* Everything half inside g (not its inputs and outputs) becomes float32; *n counts tensors. */
static lp_status widen_body(lp_graph *g, int *n)
{
    for (int v = 0; v < g->n_values; v++) {
        lp_value *val = &g->values[v];
        if (val->kind == LP_VALUE_CONST && val->init && half(val->init->dtype)) {
            LP_TRY(widen(&val->init));
            val->dtype = LP_F32;
            (*n)++;
        } else if (val->kind == LP_VALUE_INTERMEDIATE && !val->is_output && half(val->dtype)) {
            val->dtype = LP_F32; /* re-inferred from the widened producers */
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *nd = &g->nodes[i];
        if (nd->dead || *nd->domain) /* other domains' type attributes mean other things */
            continue;
        for (int a = 0; a < nd->n_attr; a++) {
            lp_attr *at = &nd->attrs[a];
            if (at->type == LP_ATTR_TENSOR && at->t && half(at->t->dtype)) {
                LP_TRY(widen(&at->t));
                (*n)++;
            } else if (at->type == LP_ATTR_INT && half((lp_dtype)at->i) &&
                       (strcmp(at->name, "to") == 0 || strcmp(at->name, "dtype") == 0)) {
                at->i = LP_F32;
            }
        }
    }
    return LP_OK;
}

static lp_status widen_sub(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    /* a subgraph's inputs and outputs belong to its node's semantics (Loop-carried values,
     * If branch results): they follow the enclosing graph, which is widened too */
    for (int i = 0; i < sub->n_inputs; i++)
        if (half(sub->values[sub->inputs[i]].dtype))
            sub->values[sub->inputs[i]].dtype = LP_F32;
    for (int i = 0; i < sub->n_outputs; i++)
        if (half(sub->values[sub->outputs[i]].dtype))
            sub->values[sub->outputs[i]].dtype = LP_F32;
    for (int i = 0; i < sub->n_outer; i++)
        if (half(sub->values[sub->outer[i]].dtype))
            sub->values[sub->outer[i]].dtype = LP_F32;
    return widen_body(sub, (int *)user);
}

/* Replaces reads of `from` by `to` in every live node. */
static void reroute(lp_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == from)
                g->nodes[i].in[k] = to;
}

lp_status lp_pass_float16(lp_graph *g, int *n_widened)
{
    int n = 0;
    *n_widened = 0;
    LP_TRY(widen_body(g, &n));
    LP_TRY(lp_graph_walk_subgraphs(g, widen_sub, &n));
    /* a half graph input is read through a Cast to float32 */
    for (int i = 0; i < g->n_inputs; i++) {
        int x = g->inputs[i], x32;
        if (!half(g->values[x].dtype) || g->values[x].kind != LP_VALUE_INPUT)
            continue;
        char name[600];
        snprintf(name, sizeof name, "%s_float32", g->values[x].name);
        LP_TRY(lp_graph_new_value(g, name, &x32));
        reroute(g, x, x32);
        LP_TRY(add_cast(g, x, x32, LP_F32));
        g->values[x32].dtype = LP_F32;
        n++;
    }
    /* a half graph output is produced in float32 and Cast back */
    for (int i = 0; i < g->n_outputs; i++) {
        int y = g->outputs[i], y32;
        lp_value *yv = &g->values[y];
        if (!half(yv->dtype) || yv->kind != LP_VALUE_INTERMEDIATE || yv->producer < 0)
            continue;
        lp_dtype t = yv->dtype;
        char name[600];
        snprintf(name, sizeof name, "%s_float32", yv->name);
        LP_TRY(lp_graph_new_value(g, name, &y32));
        yv = &g->values[y];
        lp_node *p = &g->nodes[yv->producer];
        for (int k = 0; k < p->n_out; k++)
            if (p->out[k] == y)
                p->out[k] = y32;
        reroute(g, y, y32);
        g->values[y32].producer = yv->producer;
        g->values[y32].dtype = LP_F32;
        yv->producer = -1;
        LP_TRY(add_cast(g, y32, y, t));
        n++;
    }
    if (n == 0)
        return LP_OK;
    lp_graph_link(g);
    LP_TRY(lp_graph_toposort(g));
    LP_TRY(lp_graph_infer(g, false));
    /* Casts now float32 -> float32 (not the boundary ones just added) are identities */
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *nd = &g->nodes[i];
        if (nd->dead || nd->op != LP_OP_Cast || nd->n_in < 1 || nd->in[0] < 0 || nd->out[0] < 0 ||
            g->values[nd->in[0]].dtype != LP_F32 || lp_attr_int(nd, "to", 0) != LP_F32)
            continue;
        int in = nd->in[0], out = nd->out[0];
        if (g->values[out].is_output) {
            int p = g->values[in].producer;
            if (p < 0 || g->values[in].is_output || lp_graph_use_count(g, in) != 1)
                continue; /* stays a copy */
            for (int k = 0; k < g->nodes[p].n_out; k++)
                if (g->nodes[p].out[k] == in)
                    g->nodes[p].out[k] = out;
            g->values[out].producer = p;
            g->values[in].producer = -1;
        } else {
            reroute(g, out, in);
        }
        nd->dead = true;
    }
    lp_graph_link(g);
    LP_TRY(lp_graph_compact(g));
    *n_widened = n;
    return LP_OK;
}
