/* plan.c — compiling a graph into a plan (shapes, folding, kernels, memory) and running it. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/qlower.h"
#include "ir/infer.h"
#include "ir/subgraph.h"
#include "kernels/dnnl.h"

#define ARENA_ALIGN 64

/* Backends in order of preference; the reference backend last claims the rest. */
static const lp_kernel *const backends[] = {
    &lp_kernel_control,
    &lp_kernel_dnnl,
    &lp_kernel_dnnl_rnn,
    &lp_kernel_reference,
};

static lp_status oom(void) { return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory compiling the model"); }

/* Before DequantizeLinear node i is folded into a float constant, keeps copies of its
 * integers, scales and zero points by the output's name (INT8 kernels read them). */
static lp_status remember_qfold(lp_plan *p, const lp_graph *g, int i)
{
    const lp_node *n = &g->nodes[i];
    if (n->op != LP_OP_DequantizeLinear || n->n_in < 2 || n->n_out < 1 || n->out[0] < 0)
        return LP_OK;
    for (int k = 0; k < n->n_in && k < 3; k++)
        if (n->in[k] >= 0 && g->values[n->in[k]].kind != LP_VALUE_CONST)
            return LP_OK;
    const lp_tensor *q = g->values[n->in[0]].init, *s = g->values[n->in[1]].init;
    const lp_tensor *z = n->n_in > 2 && n->in[2] >= 0 ? g->values[n->in[2]].init : NULL;
    if ((q->dtype != LP_I8 && q->dtype != LP_U8 && q->dtype != LP_I32) || s->dtype != LP_F32 ||
        (z && (z->dtype != q->dtype || lp_tensor_numel(z) != lp_tensor_numel(s))))
        return LP_OK;
    int axis = 0;
    if (lp_tensor_numel(s) > 1) {
        int64_t a = lp_attr_int(n, "axis", 1);
        if (a < 0)
            a += q->ndim;
        if (a < 0 || a >= q->ndim || s->ndim != 1 || q->dims[a] != lp_tensor_numel(s))
            return LP_OK;
        axis = (int)a;
    }
    if ((p->n_qfold & (p->n_qfold - 1)) == 0) { /* grow at powers of two */
        size_t cap = p->n_qfold ? 2 * (size_t)p->n_qfold : 8;
        char **names = realloc(p->qfold_name, cap * sizeof *names);
        if (names)
            p->qfold_name = names;
        lp_qconst *qf = realloc(p->qfold, cap * sizeof *qf);
        if (qf)
            p->qfold = qf;
        if (!names || !qf)
            return oom();
    }
    lp_tensor *qc = NULL, *sc = NULL, *zc = NULL;
    char *name = strdup(g->values[n->out[0]].name);
    if (!name || lp_tensor_clone(q, &qc) != LP_OK || lp_tensor_clone(s, &sc) != LP_OK ||
        (z && lp_tensor_clone(z, &zc) != LP_OK)) {
        free(name);
        lp_tensor_free(qc);
        lp_tensor_free(sc);
        return oom();
    }
    p->qfold_name[p->n_qfold] = name;
    p->qfold[p->n_qfold++] = (lp_qconst){ .q = qc, .scale = sc, .zp = zc, .axis = axis };
    return LP_OK;
}

/* Infers node i with concrete shapes; folds it when its result is known at compile time.
 * *dynamic is set when an output shape can only be known at run time. */
static lp_status compile_node(lp_plan *p, lp_graph *g, int i, bool *dynamic)
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
    if (all_const || all_computed) {
        lp_status st = remember_qfold(p, g, i);
        if (st != LP_OK) {
            lp_vinfo_release(vi, n->n_out);
            return st;
        }
    }
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

static int share_root(int *parent, int v)
{
    while (parent[v] != v) {
        parent[v] = parent[parent[v]];
        v = parent[v];
    }
    return v;
}

typedef struct span {
    size_t offset, size;
} span;

static int by_offset(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Places blocks (sorted by size, largest first) at the lowest offset not overlapping a placed
 * block whose lifetime [first, last] (steps in [0, n_times)) intersects theirs. The placed
 * blocks live in a segment tree over `first` holding the largest `last` below each node, so the
 * ones live together with a new block are found in O((k + 1) log n) for k of them, and the
 * lowest free offset among those k by one sorted sweep: O(n log n) for a chain, where the old
 * scan over every placed block was quadratic (80,000 nodes: minutes). */
static lp_status place_blocks(block *b, int nb, int n_times, size_t *total_out)
{
    int size = 1;
    while (size < n_times)
        size *= 2;
    int *maxlast = malloc(2 * (size_t)size * sizeof *maxlast);
    int *head = malloc((size_t)size * sizeof *head);      /* per first step: placed blocks */
    int *next = malloc(((size_t)nb + 1) * sizeof *next);
    span *hit = malloc(((size_t)nb + 1) * sizeof *hit);
    if (!maxlast || !head || !next || !hit) {
        free(maxlast); free(head); free(next); free(hit);
        return oom();
    }
    for (int i = 0; i < 2 * size; i++)
        maxlast[i] = -1;
    for (int i = 0; i < size; i++)
        head[i] = -1;
    size_t total = 0;
    for (int i = 0; i < nb; i++) {
        /* placed blocks with first <= b[i].last and last >= b[i].first */
        int nh = 0, stack[128], ns = 0;
        stack[ns++] = 1;
        while (ns) {
            int node = stack[--ns], lo = node;
            while (lo < size)
                lo *= 2; /* the node's leftmost leaf */
            lo -= size;
            if (maxlast[node] < b[i].first || lo > b[i].last)
                continue;
            if (node >= size) {
                for (int j = head[node - size]; j >= 0; j = next[j])
                    if (b[j].last >= b[i].first)
                        hit[nh++] = (span){ b[j].offset, b[j].size };
                continue;
            }
            stack[ns++] = 2 * node + 1;
            stack[ns++] = 2 * node;
        }
        qsort(hit, (size_t)nh, sizeof *hit, by_offset);
        size_t off = 0;
        for (int k = 0; k < nh; k++) {
            if (hit[k].offset >= off + b[i].size)
                break;  /* the gap before it fits */
            if (hit[k].offset + hit[k].size > off)
                off = hit[k].offset + hit[k].size;
        }
        b[i].offset = off;
        if (off + b[i].size > total)
            total = off + b[i].size;
        int leaf = b[i].first;
        next[i] = head[leaf];
        head[leaf] = i;
        for (int node = leaf + size; node >= 1 && maxlast[node] < b[i].last; node /= 2)
            maxlast[node] = b[i].last;
    }
    free(maxlast); free(head); free(next); free(hit);
    *total_out = total;
    return LP_OK;
}

/* Greedy placement by size: each block goes at the lowest offset not overlapping any placed
 * block whose lifetime intersects its own. Values sharing storage (lp_prep_share_storage)
 * are one block: the largest size, the union of their lifetimes. Values internal to a
 * fused step (`internal`) are never materialized and get no space. */
static lp_status plan_memory(lp_plan *p, const uint8_t *internal)
{
    lp_graph *g = p->g;
    int nb = 0;
    size_t nv = (size_t)g->n_values + 1;
    block *b = calloc(nv, sizeof *b);
    int *first = malloc(nv * sizeof *first);
    int *last = malloc(nv * sizeof *last);
    int *block_of = malloc(nv * sizeof *block_of); /* per root: its block */
    if (!b || !first || !last || !block_of) {
        free(b); free(first); free(last); free(block_of);
        return oom();
    }
    for (int v = 0; v < g->n_values; v++)
        first[v] = last[v] = block_of[v] = -1;
    for (int s = 0; s < p->n_steps; s++) {
        for (int j = 0; j < p->steps[s].n_nodes; j++) {
            const lp_node *n = &g->nodes[p->steps[s].nodes[j]];
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0 && first[n->out[k]] < 0)
                    first[n->out[k]] = last[n->out[k]] = s;
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0)
                    last[n->in[k]] = s;
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        const lp_value *val = &g->values[v];
        if (val->kind != LP_VALUE_INTERMEDIATE || first[v] < 0 || p->dynamic_value[v] || internal[v])
            continue;
        size_t size = (p->value_bytes[v] + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        int until = val->is_output ? p->n_steps : last[v];
        int r = share_root(p->share_parent, v);
        if (block_of[r] < 0) {
            block_of[r] = nb;
            b[nb++] = (block){ .value = r, .size = size, .first = first[v], .last = until };
            continue;
        }
        block *o = &b[block_of[r]];
        o->size = size > o->size ? size : o->size;
        o->first = first[v] < o->first ? first[v] : o->first;
        o->last = until > o->last ? until : o->last;
    }
    qsort(b, (size_t)nb, sizeof *b, by_size_desc);
    for (int i = 0; i < nb; i++)
        block_of[b[i].value] = i;
    size_t total = 0;
    lp_status pst = place_blocks(b, nb, p->n_steps + 1, &total);
    if (pst != LP_OK) {
        free(b); free(first); free(last); free(block_of);
        return pst;
    }
    p->arena_size = total;
    p->arena = aligned_alloc(ARENA_ALIGN, total ? total : ARENA_ALIGN);
    size_t scratch = (p->scratch_size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    p->scratch = scratch ? aligned_alloc(ARENA_ALIGN, scratch) : NULL;
    if (!p->arena || (scratch && !p->scratch)) {
        /* name the biggest activation (b[] is sorted by size): usually the culprit */
        char which[600] = "";
        if (nb) {
            int big = b[0].value, prod = g->values[big].producer;
            if (prod >= 0)
                snprintf(which, sizeof which, "; the largest, %zu bytes, is '%s' from node '%s' (%s)", b[0].size,
                         g->values[big].name, g->nodes[prod].name, g->nodes[prod].op_type);
            else
                snprintf(which, sizeof which, "; the largest, %zu bytes, is '%s'", b[0].size, g->values[big].name);
        }
        lp_status st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory: the model needs %zu bytes of activations%s",
                                total + scratch, which);
        free(b); free(first); free(last); free(block_of);
        return st;
    }
    for (int v = 0; v < g->n_values; v++) {
        const lp_value *val = &g->values[v];
        if (val->kind != LP_VALUE_INTERMEDIATE || first[v] < 0 || p->dynamic_value[v] || internal[v])
            continue;
        const block *o = &b[block_of[share_root(p->share_parent, v)]];
        lp_tensor_view(&p->vals[v], val->dtype, val->shape.ndim, val->shape.d, p->arena + o->offset);
    }
    free(b); free(first); free(last); free(block_of);
    return LP_OK;
}

static bool shareable(const lp_prep_ctx *pc, int v)
{
    const lp_value *val = &pc->g->values[v];
    return val->kind == LP_VALUE_INTERMEDIATE && lp_shape_static(&val->shape) && !pc->plan->dynamic_value[v] &&
           !pc->internal[v];
}

bool lp_prep_may_overwrite(const lp_prep_ctx *pc, int out, int in)
{
    lp_plan *p = pc->plan;
    if (!p || out < 0 || in < 0 || out == in || !shareable(pc, out) || !shareable(pc, in) ||
        pc->value_step[in] < 0 || pc->value_step[in] >= pc->step || pc->value_step[out] != pc->step)
        return false;
    return share_root(p->share_parent, out) == out && p->share_last[share_root(p->share_parent, in)] == pc->step;
}

bool lp_prep_may_alias(const lp_prep_ctx *pc, int out, int in)
{
    lp_plan *p = pc->plan;
    if (!p || out < 0 || in < 0 || out == in || !shareable(pc, out) || !shareable(pc, in) ||
        pc->value_step[in] < 0 || pc->value_step[in] >= pc->step || pc->value_step[out] != pc->step)
        return false;
    return share_root(p->share_parent, out) == out;
}

static void share_union(lp_plan *p, int out, int in)
{
    int ri = share_root(p->share_parent, in), ro = share_root(p->share_parent, out);
    if (ri == ro)
        return;
    p->share_parent[ro] = ri;
    if (p->share_last[ro] > p->share_last[ri])
        p->share_last[ri] = p->share_last[ro];
}

void lp_prep_share_storage(const lp_prep_ctx *pc, int out, int in) { share_union(pc->plan, out, in); }

/* Storage sharing starts with every value alone, last read by the last step reading it. */
static lp_status share_init(lp_plan *p)
{
    const lp_graph *g = p->g;
    size_t nv = (size_t)g->n_values + 1;
    if (!(p->share_parent = malloc(nv * sizeof *p->share_parent)) ||
        !(p->share_last = malloc(nv * sizeof *p->share_last)))
        return oom();
    for (int v = 0; v < g->n_values; v++) {
        p->share_parent[v] = v;
        p->share_last[v] = g->values[v].is_output ? p->n_steps : -1;
    }
    for (int s = 0; s < p->n_steps; s++)
        for (int j = 0; j < p->steps[s].n_nodes; j++) {
            const lp_node *n = &g->nodes[p->steps[s].nodes[j]];
            for (int k = 0; k < n->n_in; k++)
                if (n->in[k] >= 0 && p->share_last[n->in[k]] < s)
                    p->share_last[n->in[k]] = s;
        }
    return LP_OK;
}

lp_plan_options lp_plan_options_default(void)
{
    return (lp_plan_options){ .threads = 1, .precision = LOWP_FLOAT };
}

/* Scratch arrays of the kernel-choice phase, freed at the end of compile. */
typedef struct choice {
    int *reader_start, *reader_node;
    uint8_t *taken;             /* per node */
    int *group_of;              /* per node: the group (index into gstart) or -1 */
    int *gstart, *gnodes;       /* CSR of groups' node lists */
    const lp_kernel **gkernel;  /* per group */
    int n_groups;
    int *value_step;
    const lp_kernel **reader_kernel;
    uint8_t *internal;          /* per value: produced and consumed inside one fused step */
    lp_dtype *step_precision;   /* per step */
    lp_dtype *reader_precision; /* per value: LOWP_BFLOAT16 when every reading step is BF16 */
} choice;

static void choice_free(choice *c)
{
    free(c->reader_start); free(c->reader_node); free(c->taken); free(c->group_of);
    free(c->gstart); free(c->gnodes); free(c->gkernel); free(c->value_step);
    free(c->reader_kernel); free(c->internal); free(c->step_precision); free(c->reader_precision);
}

/* The fuse contract: untaken, distinct nodes; values made inside and read outside (or
 * graph outputs) are only the last node's outputs. */
static bool group_valid(const lp_graph *g, const choice *c, const int *grp, int n)
{
    for (int j = 0; j < n; j++) {
        if (grp[j] < 0 || grp[j] >= g->n_nodes || c->taken[grp[j]] || g->nodes[grp[j]].dead)
            return false;
        for (int i = 0; i < j; i++)
            if (grp[i] == grp[j])
                return false;
    }
    for (int j = 0; j < n - 1; j++) {
        const lp_node *nd = &g->nodes[grp[j]];
        for (int k = 0; k < nd->n_out; k++) {
            int v = nd->out[k];
            if (v < 0)
                continue;
            if (g->values[v].is_output)
                return false;
            for (int r = c->reader_start[v]; r < c->reader_start[v + 1]; r++) {
                bool inside = false;
                for (int i = 0; i < n && !inside; i++)
                    inside = c->reader_node[r] == grp[i];
                if (!inside)
                    return false;
            }
        }
    }
    return true;
}

/* Only the reference (and control-flow) kernels: the plan's option or LOWP_KERNELS=reference. */
static bool reference_only(const lp_plan_options *opt)
{
    const char *env = getenv("LOWP_KERNELS");
    return opt->reference_only || (env && strcmp(env, "reference") == 0);
}

static lp_status choose_kernels(lp_plan *p, choice *c)
{
    lp_graph *g = p->g;
    size_t nn = (size_t)g->n_nodes + 1, nv = (size_t)g->n_values + 1;
    bool ref_only = reference_only(&p->opt);
    if (!(c->reader_start = calloc(nv + 1, sizeof *c->reader_start)) || !(c->taken = calloc(nn, 1)) ||
        !(c->group_of = malloc(nn * sizeof *c->group_of)) || !(c->gstart = calloc(nn + 1, sizeof *c->gstart)) ||
        !(c->gnodes = calloc(nn * LP_MAX_FUSED, sizeof *c->gnodes)) || !(c->gkernel = calloc(nn, sizeof *c->gkernel)))
        return oom();
    size_t n_reads = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0) {
                c->reader_start[g->nodes[i].in[k] + 1]++;
                n_reads++;
            }
    for (int v = 0; v < g->n_values; v++)
        c->reader_start[v + 1] += c->reader_start[v];
    if (!(c->reader_node = malloc((n_reads + 1) * sizeof *c->reader_node)))
        return oom();
    int *fill = calloc(nv, sizeof *fill);
    if (!fill)
        return oom();
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int v = g->nodes[i].in[k];
            if (v >= 0)
                c->reader_node[c->reader_start[v] + fill[v]++] = i;
        }
    free(fill);
    for (int i = 0; i < g->n_nodes; i++) {
        c->group_of[i] = -1;
        c->taken[i] = g->nodes[i].dynamic || g->nodes[i].dead;
    }
    lp_fuse_ctx fc = { .g = g, .reader_start = c->reader_start, .reader_node = c->reader_node,
                       .taken = c->taken, .precision = p->opt.precision,
                       .qconst = (const lp_qconst *const *)p->qconst };
    int grp[LP_MAX_FUSED];
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead || c->group_of[i] >= 0)
            continue;
        const lp_kernel *k = NULL;
        int ng = 1;
        grp[0] = i;
        if (n->dynamic) { /* shapes unknown until run time: control flow or the reference kernels */
            if (lp_kernel_control.supports(g, i))
                k = &lp_kernel_control;
            else if (lp_kernel_reference.supports(g, i))
                k = &lp_kernel_reference;
        }
        for (size_t b = 0; b < sizeof backends / sizeof backends[0] && !k; b++) {
            /* reference-only plans still run control flow on sub-plans (of reference kernels) */
            if (ref_only && backends[b] != &lp_kernel_reference && backends[b] != &lp_kernel_control)
                continue;
            if (backends[b]->fuse && !p->opt.no_fuse) {
                int m = backends[b]->fuse(&fc, i, grp, LP_MAX_FUSED);
                if (m >= 2 && m <= LP_MAX_FUSED && grp[0] == i && group_valid(g, c, grp, m)) {
                    k = backends[b];
                    ng = m;
                    break;
                }
                grp[0] = i;
            }
            if (backends[b]->supports(g, i))
                k = backends[b];
        }
        if (!k)
            return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "no kernel can run this node");
        int gi = c->n_groups++;
        c->gkernel[gi] = k;
        c->gstart[gi + 1] = c->gstart[gi] + ng;
        for (int j = 0; j < ng; j++) {
            c->gnodes[c->gstart[gi] + j] = grp[j];
            c->group_of[grp[j]] = gi;
            c->taken[grp[j]] = 1;
        }
    }
    return LP_OK;
}

/* Steps in graph order, a group placed at its last node; then who produces and who reads
 * each value. */
/* The precision of a step: its first node's LP_ATTR_PRECISION, else the plan's. */
static lp_dtype step_precision(const lp_plan *p, const lp_step *s)
{
    const char *want = lp_attr_str(&p->g->nodes[s->node], LP_ATTR_PRECISION, NULL);
    if (want && strcmp(want, "bf16") == 0)
        return LOWP_BFLOAT16;
    if (want && strcmp(want, "fp32") == 0)
        return LOWP_FLOAT;
    return p->opt.precision == LOWP_BFLOAT16 ? LOWP_BFLOAT16 : LOWP_FLOAT;
}

static lp_status build_steps(lp_plan *p, choice *c)
{
    lp_graph *g = p->g;
    size_t nv = (size_t)g->n_values + 1;
    if (!(p->group_nodes = malloc(((size_t)c->gstart[c->n_groups] + 1) * sizeof *p->group_nodes)) ||
        !(c->value_step = malloc(nv * sizeof *c->value_step)) ||
        !(c->reader_kernel = calloc(nv, sizeof *c->reader_kernel)) || !(c->internal = calloc(nv, 1)) ||
        !(c->reader_precision = calloc(nv, sizeof *c->reader_precision)) ||
        !(c->step_precision = malloc(((size_t)g->n_nodes + 1) * sizeof *c->step_precision)))
        return oom();
    memcpy(p->group_nodes, c->gnodes, (size_t)c->gstart[c->n_groups] * sizeof *p->group_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
        int gi = c->group_of[i];
        if (gi < 0)
            continue;
        int last = -1;
        for (int j = c->gstart[gi]; j < c->gstart[gi + 1]; j++)
            if (c->gnodes[j] > last)
                last = c->gnodes[j];
        if (last != i)
            continue;
        lp_step *s = &p->steps[p->n_steps++];
        s->node = c->gnodes[c->gstart[gi]];
        s->kernel = c->gkernel[gi];
        s->n_nodes = c->gstart[gi + 1] - c->gstart[gi];
        s->nodes = p->group_nodes + c->gstart[gi];
        s->dynamic = g->nodes[s->node].dynamic;
        p->fused |= s->n_nodes > 1;
    }
    static const lp_kernel mixed;
    for (int v = 0; v < g->n_values; v++)
        c->value_step[v] = -1;
    for (int s = 0; s < p->n_steps; s++) {
        const lp_step *st = &p->steps[s];
        for (int j = 0; j < st->n_nodes; j++) {
            const lp_node *n = &g->nodes[st->nodes[j]];
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0) {
                    c->value_step[n->out[k]] = s;
                    if (j < st->n_nodes - 1)
                        c->internal[n->out[k]] = 1;
                    if (st->dynamic)
                        p->dynamic_value[n->out[k]] = 1;
                }
        }
    }
    /* what every step reading a value from outside agrees on: its kernel, its precision */
    for (int s = 0; s < p->n_steps; s++) {
        const lp_step *st = &p->steps[s];
        lp_dtype prec = c->step_precision[s] = step_precision(p, st);
        for (int j = 0; j < st->n_nodes; j++) {
            const lp_node *n = &g->nodes[st->nodes[j]];
            for (int k = 0; k < n->n_in; k++) {
                int v = n->in[k];
                if (v < 0 || c->value_step[v] == s)
                    continue;
                const lp_kernel *now = c->reader_kernel[v];
                c->reader_kernel[v] = !now ? st->kernel : now == st->kernel ? now : &mixed;
                lp_dtype *have = &c->reader_precision[v];
                *have = *have == LOWP_UNDEFINED || *have == prec ? prec : LOWP_FLOAT;
            }
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        if (c->reader_kernel[v] == &mixed || g->values[v].is_output)
            c->reader_kernel[v] = NULL;
        if (c->reader_precision[v] != LOWP_BFLOAT16 || g->values[v].is_output)
            c->reader_precision[v] = LOWP_FLOAT;
    }
    return LP_OK;
}

/* ---- views: Reshape-like steps that only rename their input's bytes ---- */

static lp_status view_prepare(const lp_graph *g, int ni, void **state_out)
{
    (void)g; (void)ni;
    *state_out = NULL;
    return LP_OK;
}

static lp_status view_run(void *state, const lp_run_ctx *c)
{
    (void)state; (void)c;
    return LP_OK;
}

static bool view_supports(const lp_graph *g, int ni)
{
    (void)g; (void)ni;
    return false; /* never chosen: make_views assigns it */
}

static void view_release(void *state) { (void)state; }

static const lp_kernel view_kernel = {
    .name = "view",
    .supports = view_supports,
    .prepare = view_prepare,
    .run = view_run,
    .release = view_release,
};

/* (A Cast is one when it keeps the dtype, which make_views checks: the ones the Identity pass
 * leaves, writing a graph output from a value others read too.) */
static bool is_view_op(int op)
{
    return op == LP_OP_Reshape || op == LP_OP_Flatten || op == LP_OP_Squeeze || op == LP_OP_Unsqueeze ||
           op == LP_OP_Identity || op == LP_OP_Cast;
}

/* A reference step running Reshape, Flatten, Squeeze, Unsqueeze, Identity or a no-op Cast on an
 * intermediate (stored plain: its readers include this reference step) becomes a view: no
 * work at run time, the output shares the input's storage. */
static void make_views(lp_plan *p, const choice *c)
{
    const lp_graph *g = p->g;
    for (int si = 0; si < p->n_steps; si++) {
        lp_step *s = &p->steps[si];
        const lp_node *n = &g->nodes[s->node];
        if (s->n_nodes != 1 || s->kernel != &lp_kernel_reference || s->dynamic || !is_view_op(n->op) ||
            n->n_in < 1 || n->n_out != 1 || n->in[0] < 0 || n->out[0] < 0)
            continue;
        int x = n->in[0], y = n->out[0];
        const lp_value *vx = &g->values[x], *vy = &g->values[y];
        if (vx->kind != LP_VALUE_INTERMEDIATE || vy->kind != LP_VALUE_INTERMEDIATE || c->value_step[x] < 0 ||
            p->dynamic_value[x] || p->dynamic_value[y] || !lp_shape_static(&vx->shape) ||
            !lp_shape_static(&vy->shape) || vx->dtype != vy->dtype ||
            lp_numel(vx->shape.ndim, vx->shape.d) != lp_numel(vy->shape.ndim, vy->shape.d))
            continue;
        s->kernel = &view_kernel;
        share_union(p, y, x);
    }
}


/* A plan's work in multiply-adds (convolutions, matrix products) plus one per element every
 * other node writes, from the compiled shapes: what decides whether a second thread can pay
 * for its fork and barrier per step (docs/engine.md "Threads"). */
static double plan_work(const lp_graph *g)
{
    double work = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead || n->n_out < 1 || n->out[0] < 0 || !lp_shape_static(&g->values[n->out[0]].shape))
            continue;
        const lp_shape *y = &g->values[n->out[0]].shape;
        double out = (double)lp_numel(y->ndim, y->d), per = 1;
        const lp_shape *w = n->n_in > 1 && n->in[1] >= 0 ? &g->values[n->in[1]].shape : NULL;
        const lp_shape *x = n->in[0] >= 0 ? &g->values[n->in[0]].shape : NULL;
        bool conv = !strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "ConvInteger"),
             deconv = !strcmp(n->op_type, "ConvTranspose");
        if ((conv || deconv) && w && lp_shape_static(w) && w->ndim >= 3) {
            per = (double)lp_numel(w->ndim - 1, w->d + 1); /* (C/group) * kernel per output */
            if (deconv) /* each input pixel scatters (M/group) * kernel products */
                out = x && lp_shape_static(x) ? (double)lp_numel(x->ndim, x->d) : out;
        } else if ((!strcmp(n->op_type, "MatMul") || !strcmp(n->op_type, "Gemm") ||
                    !strcmp(n->op_type, "MatMulInteger")) && x && lp_shape_static(x) && x->ndim >= 1) {
            per = (double)x->d[!strcmp(n->op_type, "Gemm") && lp_attr_int(n, "transA", 0) ? 0 : x->ndim - 1];
        }
        work += out * per;
    }
    return work;
}

/* Below this much work (plan_work) a plan runs on one thread whatever it was asked for:
 * LOWP_THREAD_MIN_WORK overrides it (0: never). Measured in docs/engine.md "Threads". */
#define THREAD_MIN_WORK 3e7

static double thread_min_work(void)
{
    const char *e = getenv("LOWP_THREAD_MIN_WORK");
    return e && *e ? strtod(e, NULL) : THREAD_MIN_WORK;
}

lp_status lp_plan_compile(const lp_graph *src, const lp_tensor *const *inputs, lp_plan **out)
{
    return lp_plan_compile_opt(src, inputs, NULL, out);
}

lp_status lp_plan_compile_opt(const lp_graph *src, const lp_tensor *const *inputs, const lp_plan_options *opt,
                              lp_plan **out)
{
    lp_plan *p = calloc(1, sizeof *p);
    if (!p)
        return oom();
    p->opt = opt ? *opt : lp_plan_options_default();
    if (p->opt.threads <= 0)
        p->opt.threads = 1;
    lp_status st = lp_graph_clone_shared(src, &p->g); /* weights stay the session's */
    if (st != LP_OK) {
        free(p);
        return st;
    }
    choice ch = { 0 };
    int omp_before = omp_get_max_threads();
    if (omp_before != p->opt.threads)
        omp_set_num_threads(p->opt.threads); /* oneDNN sizes its kernels for the thread count */
    lp_graph *g = p->g;
    /* integer operators in the forms the oneDNN backend runs (engine/qlower.c); a reference
     * plan runs their own kernels */
    if (!reference_only(&p->opt) && (st = lp_lower_qoperators(g, NULL)) != LP_OK)
        goto fail;
    if (!(p->input_dims = calloc((size_t)g->n_inputs * LP_MAX_DIMS + 1, sizeof *p->input_dims)))
        goto nomem;
    for (int i = 0; i < g->n_inputs; i++) {
        lp_value *v = &g->values[g->inputs[i]];
        v->dtype = inputs[i]->dtype;
        lp_shape_of(inputs[i], &v->shape);
        memcpy(p->input_dims + (size_t)i * LP_MAX_DIMS, inputs[i]->dims, sizeof inputs[i]->dims);
    }
    if (p->opt.bind_values) {
        if (!(p->bound = calloc((size_t)g->n_inputs + 1, sizeof *p->bound)))
            goto nomem;
        for (int i = 0; i < g->n_inputs; i++) {
            lp_tensor *t = NULL;
            if (!p->opt.bind_values[i])
                continue;
            if (lp_tensor_clone(inputs[i], &p->bound[i]) != LP_OK || lp_tensor_clone(inputs[i], &t) != LP_OK)
                goto nomem;
            lp_graph_set_const(g, g->inputs[i], t); /* still bound as an input at run time */
        }
    }
    /* Everything downstream of the inputs is recomputed with concrete shapes. */
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LP_VALUE_INTERMEDIATE) {
            g->values[v].shape.ndim = -1;
            g->values[v].dtype = LOWP_UNDEFINED;
        }
    for (int i = 0; i < g->n_nodes; i++) {
        bool dynamic, inlined;
        /* An If whose condition is known by now (constants, shapes, inputs bound by value)
         * becomes its branch's nodes, which come next in this walk: they are folded, fused and
         * planned like the rest of the graph. */
        if ((st = lp_graph_inline_if(g, i, &inlined)) != LP_OK)
            goto fail;
        if (inlined)
            continue;
        if (!g->nodes[i].dead && (st = compile_node(p, g, i, &dynamic)) != LP_OK)
            goto fail;
        g->nodes[i].dynamic = dynamic;
    }
    if ((st = lp_graph_compact(g)) != LP_OK)
        goto fail;
    if (p->opt.threads > 1 && plan_work(g) < thread_min_work()) {
        p->opt.threads = 1; /* a barrier per step would cost more than the second thread gives */
        omp_set_num_threads(1);
    }
    if (!(p->qconst = calloc((size_t)g->n_values + 1, sizeof *p->qconst)))
        goto nomem;
    for (int i = 0; i < p->n_qfold; i++) {
        int v = lp_graph_find_value(g, p->qfold_name[i]);
        if (v >= 0 && g->values[v].kind == LP_VALUE_CONST)
            p->qconst[v] = &p->qfold[i];
    }
    if (!(p->dynamic_value = calloc((size_t)g->n_values + 1, 1)) ||
        !(p->dynamic_buf = calloc((size_t)g->n_values + 1, sizeof *p->dynamic_buf)) ||
        !(p->dynamic_cap = calloc((size_t)g->n_values + 1, sizeof *p->dynamic_cap)) ||
        !(p->value_bytes = calloc((size_t)g->n_values + 1, sizeof *p->value_bytes)))
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
        else if (val->kind == LP_VALUE_INTERMEDIATE && lp_shape_static(&val->shape) && lp_dtype_valid(val->dtype)) {
            p->value_bytes[v] = (size_t)lp_numel(val->shape.ndim, val->shape.d) * lp_dtype_traits_of(val->dtype)->size;
            /* headers carry dtype and shape from compile time on (data comes with the arena) */
            lp_tensor_view(&p->vals[v], val->dtype, val->shape.ndim, val->shape.d, NULL);
        }
    }
    if ((st = choose_kernels(p, &ch)) != LP_OK || (st = build_steps(p, &ch)) != LP_OK || (st = share_init(p)) != LP_OK)
        goto fail;
    make_views(p, &ch);
    size_t ki = 0, ko = 0;
    for (int si = 0; si < p->n_steps; si++) {
        lp_step *s = &p->steps[si];
        const lp_node *n = &g->nodes[s->node];
        const lp_node *last = &g->nodes[s->nodes[s->n_nodes - 1]];
        s->ctx = (lp_run_ctx){ .node = n, .opset = lp_graph_opset(g, n->domain), .n_in = n->n_in,
                               .n_out = last->n_out, .in = p->in_ptrs + ki, .out = p->out_ptrs + ko };
        for (int k = 0; k < n->n_in; k++)
            p->in_ptrs[ki++] = n->in[k] >= 0 ? &p->vals[n->in[k]] : NULL;
        for (int k = 0; k < last->n_out; k++)
            p->out_ptrs[ko++] = last->out[k] >= 0 ? &p->vals[last->out[k]] : NULL;
    }
    for (int si = 0; si < p->n_steps; si++) {
        lp_step *s = &p->steps[si];
        if (s->kernel->prepare_step) {
            lp_prep_ctx pc = { .g = g, .step = si, .nodes = s->nodes, .n_nodes = s->n_nodes, .steps = p->steps,
                               .value_step = ch.value_step, .value_reader_kernel = ch.reader_kernel,
                               .vals = p->vals, .value_bytes = p->value_bytes, .scratch_bytes = &p->scratch_size,
                               .scratch = &p->scratch, .threads = p->opt.threads,
                               .precision = ch.step_precision[si],
                               .value_reader_precision = ch.reader_precision,
                               .qconst = (const lp_qconst *const *)p->qconst, .plan = p,
                               .internal = ch.internal };
            st = s->kernel->prepare_step(&pc, &s->state);
        } else {
            st = s->kernel->prepare(g, s->node, &s->state);
        }
        if (st != LP_OK) {
            s->kernel = NULL; /* not prepared: nothing to release */
            goto fail;
        }
    }
    if ((st = plan_memory(p, ch.internal)) != LP_OK || (st = lp_plan_split_setup(p, src, inputs)) != LP_OK)
        goto fail;
    choice_free(&ch);
    if (omp_before != p->opt.threads)
        omp_set_num_threads(omp_before);
    *out = p;
    return LP_OK;
nomem:
    st = oom();
fail:
    choice_free(&ch);
    if (omp_before != p->opt.threads)
        omp_set_num_threads(omp_before);
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
                status = lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory at run time for output %d (%zu bytes)", k, need);
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

/* A tapped run of a fused plan: the unfused twin runs (so the tap sees every value) and its
 * outputs are copied into this plan's. */
static lp_status run_tapped_twin(lp_plan *p, const lp_tensor *const *inputs, lp_tap_fn tap, void *user)
{
    if (!p->tap_plan) {
        lp_plan_options o = p->opt;
        o.no_fuse = true;
        LP_TRY(lp_plan_compile_opt(p->g, inputs, &o, &p->tap_plan));
    }
    LP_TRY(lp_plan_run(p->tap_plan, inputs, tap, user));
    for (int i = 0; i < p->g->n_outputs; i++) {
        lp_tensor *dst = &p->vals[p->g->outputs[i]];
        const lp_tensor *src = &p->tap_plan->vals[p->tap_plan->g->outputs[i]];
        if (p->g->values[p->g->outputs[i]].kind != LP_VALUE_INTERMEDIATE || dst->data == src->data)
            continue;
        if (p->dynamic_value[p->g->outputs[i]] || dst->nbytes != src->nbytes)
            *dst = *src; /* a view until the next run */
        else
            memcpy(dst->data, src->data, src->nbytes);
    }
    return LP_OK;
}

static _Thread_local lp_tap_fn current_tap;
static _Thread_local void *current_tap_user;

void lp_plan_current_tap(lp_tap_fn *tap, void **user)
{
    *tap = current_tap;
    *user = current_tap_user;
}

lp_status lp_plan_run(lp_plan *p, const lp_tensor *const *inputs, lp_tap_fn tap, void *user)
{
    lp_graph *g = p->g;
    if (tap && p->fused)
        return run_tapped_twin(p, inputs, tap, user);
    lp_tap_fn outer_tap = current_tap;
    void *outer_user = current_tap_user;
    current_tap = tap;
    current_tap_user = user;
    for (int i = 0; i < g->n_inputs; i++) {
        lp_tensor *t = &p->vals[g->inputs[i]];
        lp_tensor_view(t, inputs[i]->dtype, inputs[i]->ndim, inputs[i]->dims, inputs[i]->data);
    }
    int omp_before = omp_get_max_threads();
    if (omp_before != p->opt.threads)
        omp_set_num_threads(p->opt.threads);
    lp_status status = LP_OK;
    if (p->split && !tap && !p->prof) {
        status = lp_plan_split_run(p, inputs);
        if (omp_before != p->opt.threads)
            omp_set_num_threads(omp_before);
        current_tap = outer_tap;
        current_tap_user = outer_user;
        return status;
    }
    lp_plan_split_unbind(p);
    lp_plan_prof *prof = tap ? NULL : p->prof; /* a tapped run copies tensors: not timed */
    size_t row = prof ? (size_t)(prof->runs % prof->cap) * (size_t)p->n_steps : 0;
    double t_run = prof ? lp_now_s() : 0;
    for (int s = 0; s < p->n_steps && status == LP_OK; s++) {
        lp_step *st = &p->steps[s];
        double t0 = prof ? lp_now_s() : 0;
        if (st->dynamic && !st->kernel->sizes_outputs && (status = settle_dynamic(p, st)) != LP_OK)
            break;
        if (prof) {
            lp_step_prof sp = { 0 };
            status = st->kernel->run_profiled ? st->kernel->run_profiled(st->state, &st->ctx, &sp)
                                              : st->kernel->run(st->state, &st->ctx);
            prof->step_s[row + (size_t)s] = lp_now_s() - t0;
            prof->reorder_s[row + (size_t)s] = sp.reorder_s;
            prof->reorders[s] = sp.reorders;
            prof->primitive[s] = sp.primitive ? sp.primitive : st->kernel->name;
            continue;
        }
        if ((status = st->kernel->run(st->state, &st->ctx)) != LP_OK || !tap)
            continue;
        int ni = st->nodes[st->n_nodes - 1];
        const lp_node *n = &g->nodes[ni];
        for (int k = 0; k < n->n_out && status == LP_OK; k++) {
            if (n->out[k] < 0)
                continue;
            const lp_tensor *t = &p->vals[n->out[k]];
            if (st->kernel->plain)
                t = st->kernel->plain(st->state, n->out[k], t);
            status = tap(user, p, ni, n->out[k], t);
        }
    }
    if (prof && status == LP_OK)
        prof->run_s[prof->runs++ % prof->cap] = lp_now_s() - t_run;
    if (omp_before != p->opt.threads)
        omp_set_num_threads(omp_before);
    current_tap = outer_tap;
    current_tap_user = outer_user;
    return status;
}

const char *lp_plan_step_str(const lp_plan *p, int s, char *buf, size_t size)
{
    const lp_step *st = &p->steps[s];
    size_t k = (size_t)snprintf(buf, size, "%s ", st->kernel->name);
    for (int j = 0; j < st->n_nodes && k < size; j++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s", j ? "+" : "", p->g->nodes[st->nodes[j]].op_type);
    const char *d = st->kernel->describe ? st->kernel->describe(st->state) : NULL;
    if (d && k < size)
        snprintf(buf + k, size - k, " (%s)", d);
    return buf;
}

void lp_plan_free(lp_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->n_steps; s++)
        if (p->steps[s].kernel && p->steps[s].kernel->release)
            p->steps[s].kernel->release(p->steps[s].state);
    lp_plan_free(p->tap_plan);
    lp_plan_split_free(p);
    lp_plan_profile_stop(p);
    for (int i = 0; i < p->n_qfold; i++) {
        free(p->qfold_name[i]);
        lp_tensor_free((lp_tensor *)p->qfold[i].q);
        lp_tensor_free((lp_tensor *)p->qfold[i].scale);
        lp_tensor_free((lp_tensor *)p->qfold[i].zp);
    }
    free(p->qfold_name);
    free(p->qfold);
    free(p->qconst);
    free(p->group_nodes);
    free(p->value_bytes);
    free(p->share_parent);
    free(p->share_last);
    free(p->scratch);
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
    for (int i = 0; p->bound && i < p->g->n_inputs; i++)
        lp_tensor_free(p->bound[i]);
    free(p->bound);
    lp_graph_free(p->g);
    free(p);
}
