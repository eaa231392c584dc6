/* subgraph.c — shape inference into subgraphs, and the plain interpreter that runs them. */
#include "ir/subgraph.h"

#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "ir/infer.h"

/* Nesting of the calls below on this thread (a nested If infers or runs its own branches). */
static _Thread_local int depth;

static lp_status enter(const lp_graph *sub)
{
    if (depth >= LP_MAX_GRAPH_NESTING)
        return lp_error(LOWP_ERR_UNSUPPORTED, "subgraph '%s': control flow nested more than %d deep",
                        sub->name ? sub->name : "", LP_MAX_GRAPH_NESTING);
    depth++;
    return LP_OK;
}

static lp_status oom(void) { return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory in a subgraph"); }

/* A tensor header viewing `t`'s data (the graph that gets it must not outlive `t`). */
static lp_tensor *view(const lp_tensor *t)
{
    lp_tensor *v = malloc(sizeof *v);
    if (v) {
        *v = *t;
        v->owns_data = false;
    }
    return v;
}

/* Gives value v of g what `vi` knows: a constant (a view of the value) or dtype and shape. */
static lp_status bind_vinfo(lp_graph *g, int v, const lp_vinfo *vi)
{
    if (!vi)
        return LP_OK;
    if (vi->value) {
        lp_tensor *t = view(vi->value);
        if (!t)
            return oom();
        lp_graph_set_const(g, v, t);
        return LP_OK;
    }
    g->values[v].dtype = vi->dtype;
    g->values[v].shape = vi->shape;
    return LP_OK;
}

/* Infers node i of g and folds it when its result is known (computed by infer, or all its
 * inputs constant): the compile-time folding of the engine, on a subgraph. */
static void infer_node(lp_graph *g, int i)
{
    lp_node *n = &g->nodes[i];
    lp_vinfo vi[LP_MAX_NODE_IO];
    if (n->n_out > LP_MAX_NODE_IO || n->n_in > LP_MAX_NODE_IO || lp_node_infer(g, i, vi) != LP_OK)
        return; /* non-strict: outputs stay unknown */
    bool all_computed = true, all_const = true, static_out = true;
    for (int k = 0; k < n->n_out; k++)
        all_computed &= n->out[k] < 0 || vi[k].value != NULL;
    for (int k = 0; k < n->n_in; k++)
        all_const &= n->in[k] < 0 || g->values[n->in[k]].kind == LP_VALUE_CONST;
    for (int k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0)
            continue;
        lp_value *v = &g->values[n->out[k]];
        if (all_computed) {
            lp_graph_set_const(g, n->out[k], vi[k].value);
            vi[k].value = NULL;
            continue;
        }
        v->dtype = vi[k].dtype;
        v->shape = vi[k].shape;
        static_out &= lp_shape_static(&vi[k].shape) && lp_dtype_valid(vi[k].dtype);
    }
    lp_vinfo_release(vi, n->n_out);
    if (all_computed) {
        n->dead = true;
        return;
    }
    if (!all_const || !static_out || n->op < 0 || !lp_op_implemented(n->op))
        return;
    lp_tensor *outs[LP_MAX_NODE_IO];
    if (lp_node_eval(g, i, outs) != LP_OK)
        return;
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k] >= 0)
            lp_graph_set_const(g, n->out[k], outs[k]);
    n->dead = true;
}

lp_status lp_subgraph_infer(const lp_graph *sub, const lp_vinfo *const *outer, const lp_vinfo *const *inputs,
                            lp_vinfo *out)
{
    LP_TRY(enter(sub));
    lp_graph *g = NULL;
    lp_status st = lp_graph_clone_shared(sub, &g);
    for (int j = 0; st == LP_OK && j < g->n_outer; j++)
        st = bind_vinfo(g, g->outer[j], outer ? outer[j] : NULL);
    for (int i = 0; st == LP_OK && i < g->n_inputs; i++)
        st = bind_vinfo(g, g->inputs[i], inputs ? inputs[i] : NULL);
    if (st == LP_OK) {
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].kind == LP_VALUE_INTERMEDIATE) {
                g->values[v].shape.ndim = -1;
                g->values[v].dtype = LOWP_UNDEFINED;
            }
        for (int i = 0; i < g->n_nodes; i++)
            if (!g->nodes[i].dead)
                infer_node(g, i);
        for (int k = 0; k < g->n_outputs && st == LP_OK; k++) {
            const lp_value *v = &g->values[g->outputs[k]];
            const lp_value *declared = &sub->values[sub->outputs[k]];
            memset(&out[k], 0, sizeof out[k]);
            out[k].dtype = v->dtype ? v->dtype : declared->dtype;
            out[k].shape = v->shape.ndim >= 0 ? v->shape : declared->shape;
            if (v->kind == LP_VALUE_CONST && lp_tensor_clone(v->init, &out[k].value) != LP_OK) {
                lp_vinfo_release(out, k);
                st = oom();
            }
        }
    }
    lp_graph_free(g);
    depth--;
    return st;
}

lp_status lp_subgraph_run(const lp_graph *g, const lp_tensor *const *outer, const lp_tensor *const *inputs,
                          lp_tensor **outs)
{
    LP_TRY(enter(g));
    size_t nv = (size_t)g->n_values + 1;
    const lp_tensor **vals = calloc(nv, sizeof *vals);
    lp_tensor **owned = calloc(nv, sizeof *owned);
    int *last = malloc(nv * sizeof *last);
    lp_status st = vals && owned && last ? LP_OK : oom();
    for (int v = 0; st == LP_OK && v < g->n_values; v++) {
        last[v] = g->values[v].is_output ? g->n_nodes : -1;
        if (g->values[v].kind == LP_VALUE_CONST)
            vals[v] = g->values[v].init;
    }
    for (int j = 0; st == LP_OK && j < g->n_outer; j++)
        vals[g->outer[j]] = outer[j];
    for (int i = 0; st == LP_OK && i < g->n_inputs; i++)
        vals[g->inputs[i]] = inputs[i];
    for (int i = 0; st == LP_OK && i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0 && last[g->nodes[i].in[k]] < i)
                last[g->nodes[i].in[k]] = i;
    for (int i = 0; st == LP_OK && i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->n_in > LP_MAX_NODE_IO || n->n_out > LP_MAX_NODE_IO) {
            st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d inputs or outputs", LP_MAX_NODE_IO);
            break;
        }
        if (n->op < 0 || !lp_op_implemented(n->op)) {
            st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "lowp has no kernel for operator '%s'", n->op_type);
            break;
        }
        lp_vinfo ins[LP_MAX_NODE_IO], vi[LP_MAX_NODE_IO];
        const lp_vinfo *inp[LP_MAX_NODE_IO];
        const lp_tensor *tin[LP_MAX_NODE_IO];
        lp_tensor *tout[LP_MAX_NODE_IO];
        for (int k = 0; k < n->n_in && st == LP_OK; k++) {
            tin[k] = n->in[k] >= 0 ? vals[n->in[k]] : NULL;
            inp[k] = NULL;
            if (n->in[k] >= 0 && !tin[k])
                st = lp_node_error(n, LOWP_ERR_INTERNAL, "input '%s' has no value", g->values[n->in[k]].name);
            else if (tin[k]) {
                ins[k].dtype = tin[k]->dtype;
                lp_shape_of(tin[k], &ins[k].shape);
                ins[k].value = (lp_tensor *)tin[k]; /* infer only reads it */
                inp[k] = &ins[k];
            }
        }
        if (st != LP_OK || (st = lp_node_infer_with(g, i, inp, vi)) != LP_OK)
            break;
        bool need_run = false;
        for (int k = 0; k < n->n_out; k++) {
            tout[k] = NULL;
            if (n->out[k] < 0)
                continue;
            if (vi[k].value) {
                tout[k] = vi[k].value;
                vi[k].value = NULL;
            } else if (st == LP_OK) {
                need_run = true;
                if (!lp_shape_static(&vi[k].shape) || !lp_dtype_valid(vi[k].dtype))
                    st = lp_node_error(n, LOWP_ERR_SHAPE, "cannot determine the shape of output %d", k);
                else
                    st = lp_tensor_new(vi[k].dtype, vi[k].shape.ndim, vi[k].shape.d, &tout[k]);
            }
        }
        lp_vinfo_release(vi, n->n_out);
        if (st == LP_OK && need_run) {
            lp_run_ctx c = { .node = n, .opset = lp_graph_opset(g, n->domain), .n_in = n->n_in, .n_out = n->n_out,
                             .in = tin, .out = tout };
            st = lp_op_get(n->op)->run(&c);
        }
        for (int k = 0; k < n->n_out; k++) {
            if (st != LP_OK || n->out[k] < 0) {
                lp_tensor_free(tout[k]);
                continue;
            }
            lp_tensor_free(owned[n->out[k]]); /* never set twice in a valid graph */
            owned[n->out[k]] = tout[k];
            vals[n->out[k]] = tout[k];
        }
        for (int k = 0; k < n->n_in && st == LP_OK; k++) { /* free what nothing reads later */
            int v = n->in[k];
            if (v >= 0 && last[v] == i && owned[v]) {
                lp_tensor_free(owned[v]);
                owned[v] = NULL;
                vals[v] = NULL;
            }
        }
    }
    for (int k = 0; k < g->n_outputs; k++)
        outs[k] = NULL;
    for (int k = 0; st == LP_OK && k < g->n_outputs; k++) {
        int v = g->outputs[k];
        if (!vals[v]) {
            st = lp_error(LOWP_ERR_INTERNAL, "subgraph output '%s' has no value", g->values[v].name);
        } else if (owned[v]) { /* handed over; a value returned twice is copied the second time */
            outs[k] = owned[v];
            owned[v] = NULL;
        } else {
            st = lp_tensor_clone(vals[v], &outs[k]);
        }
    }
    if (st != LP_OK)
        for (int k = 0; k < g->n_outputs; k++) {
            lp_tensor_free(outs[k]);
            outs[k] = NULL;
        }
    for (int v = 0; owned && v < g->n_values; v++)
        lp_tensor_free(owned[v]);
    free(vals);
    free(owned);
    free(last);
    depth--;
    return st;
}

/* A value of g for branch value `name`: the same name when free, else a fresh one. */
static lp_status fresh_value(lp_graph *g, const char *name, int *v)
{
    if (lp_graph_find_value(g, name) < 0)
        return lp_graph_add_value(g, name, v);
    return lp_graph_new_value(g, name, v);
}

lp_status lp_graph_inline_if(lp_graph *g, int ni, bool *inlined)
{
    *inlined = false;
    lp_node *n = &g->nodes[ni];
    if (n->op != LP_OP_If || n->dead || n->n_in < 1 || n->in[0] < 0 || g->values[n->in[0]].kind != LP_VALUE_CONST)
        return LP_OK;
    const lp_tensor *ct = g->values[n->in[0]].init;
    if (lp_tensor_numel(ct) != 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "the condition must hold one value");
    const lp_graph *b = lp_node_subgraph(n, lp_tensor_get(ct, 0) != 0 ? "then_branch" : "else_branch");
    if (!b || b->n_outer != n->n_implicit || b->n_outputs != n->n_out)
        return lp_node_error(n, LOWP_ERR_FORMAT, "its branch does not match the node (outputs or outer values)");
    int *map = malloc(((size_t)b->n_values + 1) * sizeof *map);
    int *outs = malloc(((size_t)n->n_out + 1) * sizeof *outs);
    lp_node *added = NULL;
    int n_before = g->n_nodes;
    lp_status st = map && outs ? LP_OK : oom();
    for (int v = 0; st == LP_OK && v < b->n_values; v++)
        map[v] = -1;
    for (int k = 0; st == LP_OK && k < n->n_out; k++)
        outs[k] = n->out[k];
    for (int j = 0; st == LP_OK && j < b->n_outer; j++)
        map[b->outer[j]] = n->in[lp_node_n_explicit(n) + j];
    /* outputs produced by branch nodes are written straight into the If's outputs */
    for (int k = 0; st == LP_OK && k < b->n_outputs; k++) {
        int bv = b->outputs[k];
        if (outs[k] >= 0 && map[bv] < 0 && b->values[bv].kind == LP_VALUE_INTERMEDIATE && b->values[bv].producer >= 0)
            map[bv] = outs[k];
    }
    for (int v = 0; st == LP_OK && v < b->n_values; v++) {
        const lp_value *bv = &b->values[v];
        if (map[v] >= 0 || bv->kind == LP_VALUE_OUTER)
            continue;
        if ((st = fresh_value(g, bv->name, &map[v])) != LP_OK)
            break;
        lp_value *gv = &g->values[map[v]];
        gv->dtype = bv->dtype;
        gv->shape = bv->shape;
        if (bv->kind == LP_VALUE_CONST) {
            lp_tensor *t;
            if ((st = lp_tensor_clone(bv->init, &t)) != LP_OK)
                break;
            lp_graph_set_const(g, map[v], t);
        }
        /* branch dims may name symbols of the branch: the compile recomputes shapes anyway */
        for (int d = 0; d < gv->shape.ndim; d++)
            if (!lp_dim_known(gv->shape.d[d]))
                gv->shape.d[d] = LP_DIM_UNKNOWN;
    }
    for (int i = 0; st == LP_OK && i < b->n_nodes; i++) {
        const lp_node *bn = &b->nodes[i];
        if (bn->dead)
            continue;
        int in[LP_MAX_NODE_IO], out[LP_MAX_NODE_IO], idx;
        if (bn->n_in > LP_MAX_NODE_IO || bn->n_out > LP_MAX_NODE_IO) {
            st = lp_node_error(bn, LOWP_ERR_UNSUPPORTED, "more than %d inputs or outputs", LP_MAX_NODE_IO);
            break;
        }
        for (int k = 0; k < bn->n_in; k++)
            in[k] = bn->in[k] >= 0 ? map[bn->in[k]] : -1;
        for (int k = 0; k < bn->n_out; k++)
            out[k] = bn->out[k] >= 0 ? map[bn->out[k]] : -1;
        if ((st = lp_graph_add_node(g, bn->name, bn->op_type, bn->domain, bn->n_in, in, bn->n_out, out, &idx)) != LP_OK)
            break;
        g->nodes[idx].n_implicit = bn->n_implicit;
        for (int a = 0; a < bn->n_attr && st == LP_OK; a++)
            st = lp_node_add_attr(&g->nodes[idx], &bn->attrs[a]);
    }
    /* outputs that are outer values, initializers or repeated: an Identity each */
    for (int k = 0; st == LP_OK && k < b->n_outputs; k++) {
        int src = map[b->outputs[k]];
        if (outs[k] < 0 || src == outs[k])
            continue;
        char name[300];
        snprintf(name, sizeof name, "%s/output_%d", n->name, k);
        int in[1] = { src }, out[1] = { outs[k] };
        st = lp_graph_add_node(g, name, "Identity", "", 1, in, 1, out, NULL);
        n = &g->nodes[ni];
    }
    n = &g->nodes[ni];
    int n_new = g->n_nodes - n_before;
    if (st == LP_OK && n_new > 0 && !(added = malloc((size_t)n_new * sizeof *added)))
        st = oom();
    if (st != LP_OK) { /* drop what was added; values stay (unreferenced, compacted later) */
        for (int i = n_before; i < g->n_nodes; i++)
            g->nodes[i].dead = true;
        lp_graph_link(g);
        free(map);
        free(outs);
        free(added);
        return st;
    }
    /* move the new nodes right after the If */
    if (n_new) {
        memcpy(added, g->nodes + n_before, (size_t)n_new * sizeof *added);
        memmove(g->nodes + ni + 1 + n_new, g->nodes + ni + 1, (size_t)(n_before - ni - 1) * sizeof *g->nodes);
        memcpy(g->nodes + ni + 1, added, (size_t)n_new * sizeof *added);
    }
    g->nodes[ni].dead = true;
    lp_graph_link(g);
    free(map);
    free(outs);
    free(added);
    *inlined = true;
    return LP_OK;
}
