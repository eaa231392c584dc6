/* plan.c — compiling a graph into a plan (shapes, folding, kernels, memory) and running it. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "ir/infer.h"

#define ARENA_ALIGN 64

/* Backends in order of preference; the reference backend last claims the rest. */
static const lp_kernel *const backends[] = {
    &lp_kernel_reference,
};

static lp_status oom(void) { return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory compiling the model"); }

/* Infers node i with concrete shapes; folds it when its result is known at compile time.
 * *dynamic is set when an output shape can only be known at run time. */
static lp_status compile_node(lp_graph *g, int i, bool *dynamic)
{
    lp_node *n = &g->nodes[i];
    lp_vinfo vi[LP_MAX_NODE_IO];
    *dynamic = false;
    if (n->n_out > LP_MAX_NODE_IO || n->n_in > LP_MAX_NODE_IO)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d inputs or outputs", LP_MAX_NODE_IO);
    LP_TRY(lp_node_infer(g, i, vi));
    bool all_const = true, all_computed = true;
    for (int k = 0; k < n->n_in; k++)
        all_const &= n->in[k] < 0 || g->values[n->in[k]].kind == LP_VALUE_CONST;
    for (int k = 0; k < n->n_out; k++)
        all_computed &= n->out[k] < 0 || vi[k].value != NULL;
    if (all_computed) {
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0) {
                lp_graph_set_const(g, n->out[k], vi[k].value);
                vi[k].value = NULL;
            }
        n->dead = true;
        return LP_OK;
    }
    for (int k = 0; k < n->n_out; k++) {
        if (n->out[k] < 0)
            continue;
        lp_value *v = &g->values[n->out[k]];
        *dynamic |= !lp_shape_static(&vi[k].shape) || !lp_dtype_valid(vi[k].dtype);
        v->dtype = vi[k].dtype;
        v->shape = vi[k].shape;
    }
    lp_vinfo_release(vi, n->n_out);
    if (all_const && !*dynamic && lp_op_implemented(n->op)) {
        lp_tensor *outs[LP_MAX_NODE_IO];
        LP_TRY(lp_node_eval(g, i, outs));
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                lp_graph_set_const(g, n->out[k], outs[k]);
        n->dead = true;
    }
    return LP_OK;
}

typedef struct block {
    int value;
    size_t size, offset;
    int first, last;     /* step range during which the value is live */
} block;

static int by_size_desc(const void *a, const void *b)
{
    const block *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->value - y->value;
}

/* Greedy placement by size: each block goes at the lowest offset not overlapping any placed
 * block whose lifetime intersects its own. */
static lp_status plan_memory(lp_plan *p)
{
    lp_graph *g = p->g;
    int nb = 0;
    block *b = calloc((size_t)g->n_values + 1, sizeof *b);
    int *first = malloc(((size_t)g->n_values + 1) * sizeof *first);
    int *last = malloc(((size_t)g->n_values + 1) * sizeof *last);
    size_t *placed_idx = malloc(((size_t)g->n_values + 1) * sizeof *placed_idx);
    if (!b || !first || !last || !placed_idx) {
        free(b); free(first); free(last); free(placed_idx);
        return oom();
    }
    for (int v = 0; v < g->n_values; v++)
        first[v] = last[v] = -1;
    for (int s = 0; s < p->n_steps; s++) {
        const lp_node *n = &g->nodes[p->steps[s].node];
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && first[n->out[k]] < 0)
                first[n->out[k]] = last[n->out[k]] = s;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                last[n->in[k]] = s;
    }
    for (int v = 0; v < g->n_values; v++) {
        const lp_value *val = &g->values[v];
        if (val->kind != LP_VALUE_INTERMEDIATE || first[v] < 0 || p->dynamic_value[v])
            continue;
        size_t size = (size_t)lp_numel(val->shape.ndim, val->shape.d) * lp_dtype_traits_of(val->dtype)->size;
        b[nb++] = (block){ .value = v, .size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN,
                           .first = first[v], .last = val->is_output ? p->n_steps : last[v] };
    }
    qsort(b, (size_t)nb, sizeof *b, by_size_desc);
    size_t total = 0;
    int n_placed = 0;
    for (int i = 0; i < nb; i++) {
        size_t off = 0;
        bool moved = true;
        while (moved) { /* restart the scan whenever the candidate offset moves */
            moved = false;
            for (int j = 0; j < n_placed; j++) {
                const block *o = &b[placed_idx[j]];
                bool live_together = o->first <= b[i].last && b[i].first <= o->last;
                if (live_together && off < o->offset + o->size && o->offset < off + b[i].size) {
                    off = o->offset + o->size;
                    moved = true;
                }
            }
        }
        b[i].offset = off;
        placed_idx[n_placed++] = (size_t)i;
        if (off + b[i].size > total)
            total = off + b[i].size;
    }
    p->arena_size = total;
    p->arena = aligned_alloc(ARENA_ALIGN, total ? total : ARENA_ALIGN);
    if (!p->arena) {
        free(b); free(first); free(last); free(placed_idx);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory: the model needs %zu bytes of activations", total);
    }
    for (int i = 0; i < nb; i++) {
        const lp_value *val = &g->values[b[i].value];
        lp_tensor_view(&p->vals[b[i].value], val->dtype, val->shape.ndim, val->shape.d, p->arena + b[i].offset);
    }
    free(b); free(first); free(last); free(placed_idx);
    return LP_OK;
}

lp_status lp_plan_compile(const lp_graph *src, const lp_tensor *const *inputs, lp_plan **out)
{
    lp_plan *p = calloc(1, sizeof *p);
    if (!p)
        return oom();
    lp_status st = lp_graph_clone(src, &p->g);
    if (st != LP_OK) {
        free(p);
        return st;
    }
    lp_graph *g = p->g;
    if (!(p->input_dims = calloc((size_t)g->n_inputs * LP_MAX_DIMS + 1, sizeof *p->input_dims)))
        goto nomem;
    for (int i = 0; i < g->n_inputs; i++) {
        lp_value *v = &g->values[g->inputs[i]];
        v->dtype = inputs[i]->dtype;
        lp_shape_of(inputs[i], &v->shape);
        memcpy(p->input_dims + (size_t)i * LP_MAX_DIMS, inputs[i]->dims, sizeof inputs[i]->dims);
    }
    /* Everything downstream of the inputs is recomputed with concrete shapes. */
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LP_VALUE_INTERMEDIATE) {
            g->values[v].shape.ndim = -1;
            g->values[v].dtype = LOWP_UNDEFINED;
        }
    for (int i = 0; i < g->n_nodes; i++) {
        bool dynamic;
        if (!g->nodes[i].dead && (st = compile_node(g, i, &dynamic)) != LP_OK)
            goto fail;
        g->nodes[i].dynamic = dynamic;
    }
    if ((st = lp_graph_compact(g)) != LP_OK)
        goto fail;
    if (!(p->dynamic_value = calloc((size_t)g->n_values + 1, 1)) ||
        !(p->dynamic_buf = calloc((size_t)g->n_values + 1, sizeof *p->dynamic_buf)) ||
        !(p->dynamic_cap = calloc((size_t)g->n_values + 1, sizeof *p->dynamic_cap)))
        goto nomem;

    if (!(p->vals = calloc((size_t)g->n_values + 1, sizeof *p->vals)) ||
        !(p->steps = calloc((size_t)g->n_nodes + 1, sizeof *p->steps)))
        goto nomem;
    size_t n_in = 0, n_out = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        n_in += (size_t)g->nodes[i].n_in;
        n_out += (size_t)g->nodes[i].n_out;
    }
    if (!(p->in_ptrs = calloc(n_in + 1, sizeof *p->in_ptrs)) || !(p->out_ptrs = calloc(n_out + 1, sizeof *p->out_ptrs)))
        goto nomem;
    for (int v = 0; v < g->n_values; v++) {
        lp_value *val = &g->values[v];
        if (val->kind == LP_VALUE_CONST)
            lp_tensor_view(&p->vals[v], val->init->dtype, val->init->ndim, val->init->dims, val->init->data);
    }
    size_t ki = 0, ko = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        lp_step *s = &p->steps[p->n_steps];
        const lp_node *n = &g->nodes[i];
        s->node = i;
        s->dynamic = n->dynamic;
        if (s->dynamic) { /* shapes unknown until run time: the reference kernels take it */
            if (lp_kernel_reference.supports(g, i))
                s->kernel = &lp_kernel_reference;
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    p->dynamic_value[n->out[k]] = 1;
        }
        for (size_t b = 0; b < sizeof backends / sizeof backends[0] && !s->kernel; b++)
            if (backends[b]->supports(g, i))
                s->kernel = backends[b];
        if (!s->kernel) {
            st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "no kernel can run this node");
            goto fail;
        }
        if ((st = s->kernel->prepare(g, i, &s->state)) != LP_OK)
            goto fail;
        p->n_steps++;
        s->ctx = (lp_run_ctx){ .node = n, .opset = lp_graph_opset(g, n->domain), .n_in = n->n_in,
                               .n_out = n->n_out, .in = p->in_ptrs + ki, .out = p->out_ptrs + ko };
        for (int k = 0; k < n->n_in; k++)
            p->in_ptrs[ki++] = n->in[k] >= 0 ? &p->vals[n->in[k]] : NULL;
        for (int k = 0; k < n->n_out; k++)
            p->out_ptrs[ko++] = n->out[k] >= 0 ? &p->vals[n->out[k]] : NULL;
    }
    if ((st = plan_memory(p)) != LP_OK)
        goto fail;
    *out = p;
    return LP_OK;
nomem:
    st = oom();
fail:
    lp_plan_free(p);
    return st;
}

/* Infers a dynamic step's output shapes from this run's actual inputs and sizes their
 * heap buffers (grown, never shrunk, so steady-state runs do not allocate). */
static lp_status settle_dynamic(lp_plan *p, lp_step *st)
{
    const lp_node *n = st->ctx.node;
    lp_vinfo ins[LP_MAX_NODE_IO], outs[LP_MAX_NODE_IO];
    const lp_vinfo *inp[LP_MAX_NODE_IO];
    for (int k = 0; k < n->n_in; k++) {
        const lp_tensor *t = st->ctx.in[k];
        inp[k] = NULL;
        if (!t)
            continue;
        ins[k].dtype = t->dtype;
        lp_shape_of(t, &ins[k].shape);
        ins[k].value = (lp_tensor *)t; /* infer only reads it */
        inp[k] = &ins[k];
    }
    LP_TRY(lp_node_infer_with(p->g, st->node, inp, outs));
    lp_status status = LP_OK;
    for (int k = 0; k < n->n_out && status == LP_OK; k++) {
        lp_tensor *t = st->ctx.out[k];
        if (!t)
            continue;
        if (!lp_shape_static(&outs[k].shape) || !lp_dtype_valid(outs[k].dtype)) {
            status = lp_node_error(n, LOWP_ERR_SHAPE, "cannot determine the shape of output %d at run time", k);
            break;
        }
        size_t need = (size_t)lp_numel(outs[k].shape.ndim, outs[k].shape.d) * lp_dtype_traits_of(outs[k].dtype)->size;
        int v = n->out[k];
        void *data = p->dynamic_buf[v];
        if (!data || need > p->dynamic_cap[v]) {
            void *q = realloc(data, need ? need : 1);
            if (!q) {
                status = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory at run time");
                break;
            }
            p->dynamic_buf[v] = data = q;
            p->dynamic_cap[v] = need;
        }
        lp_tensor_view(t, outs[k].dtype, outs[k].shape.ndim, outs[k].shape.d, data);
    }
    lp_vinfo_release(outs, n->n_out);
    return status;
}

lp_status lp_plan_run(lp_plan *p, const lp_tensor *const *inputs, lp_tap_fn tap, void *user)
{
    lp_graph *g = p->g;
    for (int i = 0; i < g->n_inputs; i++) {
        lp_tensor *t = &p->vals[g->inputs[i]];
        lp_tensor_view(t, inputs[i]->dtype, inputs[i]->ndim, inputs[i]->dims, inputs[i]->data);
    }
    for (int s = 0; s < p->n_steps; s++) {
        lp_step *st = &p->steps[s];
        if (st->dynamic)
            LP_TRY(settle_dynamic(p, st));
        LP_TRY(st->kernel->run(st->state, &st->ctx));
        if (!tap)
            continue;
        const lp_node *n = &g->nodes[st->node];
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                LP_TRY(tap(user, p, st->node, n->out[k], &p->vals[n->out[k]]));
    }
    return LP_OK;
}

void lp_plan_free(lp_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->n_steps; s++)
        if (p->steps[s].kernel->release)
            p->steps[s].kernel->release(p->steps[s].state);
    free(p->steps);
    free(p->in_ptrs);
    free(p->out_ptrs);
    for (int v = 0; p->dynamic_buf && v < p->g->n_values; v++)
        free(p->dynamic_buf[v]);
    free(p->dynamic_buf);
    free(p->dynamic_cap);
    free(p->dynamic_value);
    free(p->vals);
    free(p->arena);
    free(p->input_dims);
    lp_graph_free(p->g);
    free(p);
}
