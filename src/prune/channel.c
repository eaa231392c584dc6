/* channel.c — structured channel pruning: whole output channels of Conv / Gemm / MatMul layers
 * are removed and everything that reads them shrinks, so the model does less work.
 *
 * Tensors that must keep the same channel numbering form a *space* (union-find over values):
 * a layer's output and whatever it flows into through channel-wise ops (Relu and the other
 * unary activations, BatchNormalization, pools, depthwise Conv, Flatten of (N, C, 1, 1), and
 * Add/Sub/Mul/Div/Max/Min of two such tensors -- a residual Add ties the spaces of its inputs
 * together). A space's *producers* are the layers whose output starts it; its *consumers* the
 * layers reading it (their input channels shrink). A Concat along channels makes a derived
 * space whose kept channels are its inputs' kept channels at their offsets.
 *
 * A space is left whole (frozen) when anything could not follow a change of its channel
 * count: a graph input or output, a reader or producer of another kind (Reshape, Transpose,
 * Softmax, a grouped Conv, ...), a constant operand that is not per channel. Each free space
 * keeps the round((1 - sparsity) * C) channels (at least one) whose weights are largest by L1
 * norm, summed over its producers (each producer's norms divided by their mean, so every
 * producer counts alike). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "ir/infer.h"
#include "ops/op.h"
#include "prune/prune.h"

typedef struct space {
    int64_t C;                  /* channels, -1: not known yet */
    bool frozen, derived;       /* derived: a Concat's output */
    char why[200];
    int64_t *keep;              /* kept channel indices (n_keep), NULL: all */
    int64_t n_keep;
} space;

typedef struct pctx {
    lp_graph *g;
    const lp_prune_opts *o;
    int *parent;                /* union-find over values */
    int *ax;                    /* per value: its channel axis, -1: not in a space */
    lp_consumers cons;
} pctx;

static int find(pctx *c, int v)
{
    while (c->parent[v] != v)
        v = c->parent[v] = c->parent[c->parent[v]];
    return v;
}

static void unite(pctx *c, int a, int b)
{
    a = find(c, a), b = find(c, b);
    if (a != b)
        c->parent[a] = b;
}

static bool is_const(const lp_graph *g, int v) { return v >= 0 && g->values[v].kind == LP_VALUE_CONST; }

/* The layer kinds (for a node with a prunable weight): producer of output channels and
 * consumer of input channels. */
static bool layer(const lp_graph *g, int ni)
{
    const lp_node *n = &g->nodes[ni];
    if (lp_prune_weight(g, ni) < 0)
        return false;
    if (n->op == LP_OP_Conv)
        return lp_attr_int(n, "group", 1) == 1;
    return g->values[n->in[0]].shape.ndim == 2; /* Gemm/MatMul over (N, K) rows */
}

/* A depthwise Conv of multiplier 1 (its channels map one to one) over a computed input. */
static bool depthwise(const lp_graph *g, const lp_node *n)
{
    return lp_conv_depthwise(g, n, true) && !is_const(g, n->in[0]);
}

static bool unary_channelwise(int op)
{
    switch (op) {
    case LP_OP_Relu: case LP_OP_LeakyRelu: case LP_OP_Clip: case LP_OP_Sigmoid: case LP_OP_Tanh:
    case LP_OP_HardSwish: case LP_OP_HardSigmoid: case LP_OP_Elu: case LP_OP_Selu: case LP_OP_Softplus:
    case LP_OP_Identity: case LP_OP_Dropout: case LP_OP_Neg: case LP_OP_Abs: case LP_OP_Erf:
    case LP_OP_MaxPool: case LP_OP_AveragePool: case LP_OP_GlobalAveragePool: case LP_OP_GlobalMaxPool:
        return true;
    default:
        return false;
    }
}

static bool binary_elementwise(int op)
{
    return op == LP_OP_Add || op == LP_OP_Sub || op == LP_OP_Mul || op == LP_OP_Div || op == LP_OP_Max ||
           op == LP_OP_Min;
}

/* Can a constant operand of shape `t` broadcast against a value of rank r with channel axis
 * ax be sliced per channel? *cax: its channel axis (-1: no channel dim, nothing to slice). */
static bool const_operand(const lp_tensor *t, int r, int ax, int64_t C, int *cax)
{
    *cax = -1;
    if (t->ndim > r)
        return false;
    for (int d = 0; d < t->ndim; d++) {
        int vd = d + r - t->ndim; /* aligned from the right */
        if (t->dims[d] == 1)
            continue;
        if (vd != ax || (C >= 0 && t->dims[d] != C))
            return false;
        *cax = d;
    }
    return true;
}

static void freeze(space *s, const char *fmt, const char *a, const char *b)
{
    if (s->frozen)
        return;
    s->frozen = true;
    snprintf(s->why, sizeof s->why, fmt, a, b);
}

/* A new tensor: t with only the `n` indices `keep` along axis `axis`. */
static lp_status slice(const lp_tensor *t, int axis, const int64_t *keep, int64_t n, lp_tensor **out)
{
    int64_t dims[8];
    memcpy(dims, t->dims, (size_t)t->ndim * sizeof *dims);
    int64_t outer = 1, inner = 1, C = t->dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= t->dims[d];
    for (int d = axis + 1; d < t->ndim; d++)
        inner *= t->dims[d];
    dims[axis] = n;
    LP_TRY(lp_tensor_new(t->dtype, t->ndim, dims, out));
    size_t es = lp_dtype_traits_of(t->dtype)->size;
    const char *src = t->data;
    char *dst = (*out)->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n; k++)
            memcpy(dst + ((o * n + k) * inner) * es, src + ((o * C + keep[k]) * inner) * es, (size_t)inner * es);
    return LP_OK;
}

/* Node ni's input `slot` (a constant) sliced along `axis`: a new constant. */
static lp_status slice_input(lp_graph *g, int ni, int slot, int axis, const int64_t *keep, int64_t n)
{
    lp_tensor *t = NULL;
    LP_TRY(slice(g->values[g->nodes[ni].in[slot]].init, axis, keep, n, &t));
    return lp_prune_set_input(g, ni, slot, t);
}

/* Output-channel axis of a layer's weight, and its input-channel axis. */
static int out_axis(const lp_node *n) { return n->op == LP_OP_Conv || (n->op == LP_OP_Gemm && lp_attr_int(n, "transB", 0)) ? 0 : 1; }

static int64_t out_channels(const lp_graph *g, int ni)
{
    const lp_node *n = &g->nodes[ni];
    return g->values[n->in[1]].init->dims[out_axis(n)];
}

/* Builds the spaces: unions, channel counts, freezes. */
static lp_status build(pctx *c, space *sp)
{
    lp_graph *g = c->g;
    for (int v = 0; v < g->n_values; v++) {
        c->parent[v] = v;
        c->ax[v] = -1;
        sp[v] = (space){ .C = -1 };
    }
    /* 1. channel axes and unions, node by node */
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead || n->n_out < 1 || n->out[0] < 0)
            continue;
        int y = n->out[0];
        if (layer(g, i)) {
            c->ax[y] = 1;
            sp[y].C = out_channels(g, i);
        } else if (n->op == LP_OP_Concat && lp_attr_int(n, "axis", 0) == 1 && g->values[y].shape.ndim >= 2) {
            c->ax[y] = 1;
        } else if ((unary_channelwise(n->op) || n->op == LP_OP_BatchNormalization || depthwise(g, n) ||
                    n->op == LP_OP_Flatten || binary_elementwise(n->op)) &&
                   g->values[y].shape.ndim >= 2) {
            c->ax[y] = 1;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead || n->n_out < 1 || n->out[0] < 0 || c->ax[n->out[0]] < 0 || layer(g, i) || n->op == LP_OP_Concat)
            continue;
        int y = n->out[0];
        for (int k = 0; k < lp_node_n_explicit(n); k++) {
            int x = n->in[k];
            if (x < 0 || is_const(g, x))
                continue;
            if (k > 0 && !binary_elementwise(n->op))
                continue; /* e.g. Clip's min/max, BN's parameters as inputs */
            unite(c, x, y);
        }
    }
    /* 2. per space: channel count, Concat outputs (derived), and what freezes it */
    int *members = calloc((size_t)g->n_values + 1, sizeof *members);
    if (!members)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int v = 0; v < g->n_values; v++)
        members[find(c, v)]++;
    for (int v = 0; v < g->n_values; v++) {
        int r = find(c, v);
        if (c->ax[v] < 0 && members[r] > 1 && g->values[v].kind != LP_VALUE_CONST)
            freeze(&sp[r], "'%s' (made by an op that cannot follow a change of channels) meets %s", g->values[v].name,
                   "a pruned layer's output");
        if (c->ax[v] < 0 || sp[v].C < 0 || r == v)
            continue;
        if (sp[r].C >= 0 && sp[r].C != sp[v].C)
            freeze(&sp[r], "tensors of %s and %s meet with different channel counts", g->values[r].name, g->values[v].name);
        sp[r].C = sp[v].C;
    }
    free(members);
    for (int i = 0; i < g->n_nodes; i++) {
        const lp_node *n = &g->nodes[i];
        if (n->dead || n->op != LP_OP_Concat || n->n_out < 1 || c->ax[n->out[0]] < 0)
            continue;
        space *d = &sp[find(c, n->out[0])];
        if (d->derived || d->C >= 0)
            freeze(d, "the Concat output '%s' %s", g->values[n->out[0]].name,
                   "meets another Concat or a layer's output: its channels follow its inputs only");
        d->derived = true;
    }
    for (int v = 0; v < g->n_values; v++) {
        const lp_value *val = &g->values[v];
        if (val->kind == LP_VALUE_CONST)
            continue;
        int r = find(c, v);
        space *s = &sp[r];
        if (val->kind == LP_VALUE_INPUT || val->is_output) {
            freeze(s, "'%s' is a graph %s", val->name, val->kind == LP_VALUE_INPUT ? "input" : "output");
            continue;
        }
        if (c->ax[v] < 0)
            continue;
        if (val->producer < 0 || val->shape.ndim < 2)
            freeze(s, "'%s' has no known producer or rank (%s)", val->name, "");
        /* readers */
        for (int k = c->cons.start[v]; k < c->cons.start[v + 1]; k++) {
            int ri = c->cons.node[k];
            const lp_node *rn = &g->nodes[ri];
            bool ok = false;
            if (layer(g, ri))
                ok = rn->in[0] == v && rn->in[1] != v;
            else if (rn->op == LP_OP_Concat)
                ok = lp_attr_int(rn, "axis", 0) == 1;
            else if (c->ax[rn->out[0]] >= 0) {
                ok = rn->in[0] == v || binary_elementwise(rn->op);
                if (ok && rn->op == LP_OP_Flatten) {
                    const lp_shape *sh = &val->shape;
                    for (int d = 2; d < sh->ndim; d++)
                        ok &= sh->d[d] == 1;
                    ok &= lp_attr_int(rn, "axis", 1) == 1;
                }
                if (ok && binary_elementwise(rn->op)) /* two tensors of the same rank, or one constant per channel */
                    for (int q = 0; q < 2 && ok; q++) {
                        int o = rn->in[q];
                        int cax;
                        if (is_const(g, o))
                            ok = const_operand(g->values[o].init, val->shape.ndim, 1, s->C, &cax);
                        else /* same rank and channels: no broadcasting across channels */
                            ok = g->values[o].shape.ndim == val->shape.ndim && g->values[o].shape.d[1] == val->shape.d[1] &&
                                 lp_dim_known(val->shape.d[1]);
                    }
                if (ok && rn->op == LP_OP_BatchNormalization)
                    for (int q = 1; q < rn->n_in && ok; q++)
                        ok = is_const(g, rn->in[q]);
                if (ok && rn->op == LP_OP_Clip)
                    for (int q = 1; q < rn->n_in && ok; q++)
                        ok = rn->in[q] < 0 || is_const(g, rn->in[q]);
            }
            if (!ok)
                freeze(s, "'%s' is read by %s, which cannot follow a change of its channels", val->name, rn->name);
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        int r = find(c, v);
        if (c->ax[v] >= 0 && sp[r].C < 0 && !sp[r].derived)
            freeze(&sp[r], "'%s' has no layer producing its channels%s", g->values[v].name, "");
    }
    /* a Concat output that stays whole keeps its inputs whole (repeated: Concats of Concats) */
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < g->n_nodes; i++) {
            const lp_node *n = &g->nodes[i];
            if (n->dead || n->op != LP_OP_Concat || c->ax[n->out[0]] < 0 || !sp[find(c, n->out[0])].frozen)
                continue;
            for (int k = 0; k < n->n_in; k++) {
                space *s = &sp[find(c, n->in[k])];
                if (n->in[k] >= 0 && !s->frozen) {
                    freeze(s, "it is concatenated into '%s', which %s", g->values[n->out[0]].name, "stays whole");
                    changed = true;
                }
            }
        }
    }
    return LP_OK;
}

static int cmp_score(const void *a, const void *b)
{
    const double *x = a, *y = b; /* (score, index) pairs: score descending, index ascending */
    if (x[0] != y[0])
        return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The channels a free space keeps. */
static lp_status choose(pctx *c, space *s, int r)
{
    lp_graph *g = c->g;
    int64_t C = s->C;
    double *score = calloc((size_t)(2 * C), sizeof *score);
    if (!score)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    bool chosen = false;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead || !layer(g, i) || find(c, g->nodes[i].out[0]) != r)
            continue;
        chosen |= lp_prune_chosen(g, i, c->o);
        const lp_tensor *w = g->values[g->nodes[i].in[1]].init;
        int ax = out_axis(&g->nodes[i]);
        int64_t inner = lp_tensor_numel(w) / C;
        double *l1 = calloc((size_t)C, sizeof *l1), mean = 0;
        if (!l1) {
            free(score);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        const float *d = w->data;
        for (int64_t k = 0; k < lp_tensor_numel(w); k++)
            l1[ax == 0 ? k / inner : k % C] += fabs(d[k]);
        for (int64_t k = 0; k < C; k++)
            mean += l1[k] / (double)C;
        for (int64_t k = 0; k < C; k++)
            score[2 * k] += mean > 0 ? l1[k] / mean : 0;
        free(l1);
    }
    int64_t n = (int64_t)llround((1.0 - c->o->sparsity) * (double)C);
    if (!chosen || n >= C) { /* none of its producers was named: whole */
        free(score);
        return LP_OK;
    }
    if (n < 1)
        n = 1;
    for (int64_t k = 0; k < C; k++)
        score[2 * k + 1] = (double)k;
    qsort(score, (size_t)C, 2 * sizeof *score, cmp_score);
    s->keep = malloc((size_t)n * sizeof *s->keep);
    if (!s->keep) {
        free(score);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int64_t k = 0; k < n; k++)
        s->keep[k] = (int64_t)score[2 * k + 1];
    qsort(s->keep, (size_t)n, sizeof *s->keep, cmp_i64);
    s->n_keep = n;
    free(score);
    return LP_OK;
}

/* The kept channels of a Concat output: its inputs' at their offsets (NULL: all kept). */
static lp_status concat_keep(pctx *c, space *sp, int ci, space *d)
{
    lp_graph *g = c->g;
    const lp_node *n = &g->nodes[ci];
    int64_t total = 0, kept = 0;
    bool any = false;
    for (int k = 0; k < n->n_in; k++) {
        const space *s = &sp[find(c, n->in[k])];
        int64_t Ck = g->values[n->in[k]].shape.d[1];
        if (!lp_dim_known(Ck))
            return LP_OK;
        total += Ck;
        kept += s->keep ? s->n_keep : Ck;
        any |= s->keep != NULL;
    }
    if (!any)
        return LP_OK;
    d->keep = malloc((size_t)kept * sizeof *d->keep);
    if (!d->keep)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t off = 0;
    for (int k = 0; k < n->n_in; k++) {
        const space *s = &sp[find(c, n->in[k])];
        int64_t Ck = g->values[n->in[k]].shape.d[1];
        for (int64_t j = 0; j < (s->keep ? s->n_keep : Ck); j++)
            d->keep[d->n_keep++] = off + (s->keep ? s->keep[j] : j);
        off += Ck;
    }
    d->C = total;
    return LP_OK;
}

/* Applies the kept channels: producers lose output channels, readers input channels. */
static lp_status rewrite(pctx *c, space *sp, lp_prune_report *rep)
{
    lp_graph *g = c->g;
    int n_nodes = g->n_nodes;
    for (int i = 0; i < n_nodes; i++) {
        lp_node *n = &g->nodes[i];
        if (n->dead || n->n_out < 1 || n->out[0] < 0)
            continue;
        const space *so = c->ax[n->out[0]] >= 0 ? &sp[find(c, n->out[0])] : NULL;
        const space *si = n->n_in > 0 && n->in[0] >= 0 && c->ax[n->in[0]] >= 0 ? &sp[find(c, n->in[0])] : NULL;
        if (layer(g, i)) {
            int64_t before = lp_tensor_numel(g->values[n->in[1]].init), ch = out_channels(g, i);
            if (so && so->keep) {
                LP_TRY(slice_input(g, i, 1, out_axis(n), so->keep, so->n_keep));
                if (n->n_in > 2 && n->in[2] >= 0 && is_const(g, n->in[2]) && lp_tensor_numel(g->values[n->in[2]].init) == ch)
                    LP_TRY(slice_input(g, i, 2, g->values[n->in[2]].init->ndim - 1, so->keep, so->n_keep));
            }
            if (si && si->keep)
                LP_TRY(slice_input(g, i, 1, n->op == LP_OP_Conv ? 1 : 1 - out_axis(n), si->keep, si->n_keep));
            if (lp_prune_chosen(g, i, c->o) || (si && si->keep)) {
                lp_prune_entry *e = realloc(rep->e, (size_t)(rep->n + 1) * sizeof *e);
                if (!e)
                    return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                rep->e = e;
                const lp_tensor *w = g->values[g->nodes[i].in[1]].init;
                e[rep->n] = (lp_prune_entry){ .node = strdup(g->nodes[i].name), .weight = strdup(g->values[g->nodes[i].in[1]].name),
                                              .elems_before = before, .elems = lp_tensor_numel(w),
                                              .channels_before = ch, .channels = out_channels(g, i) };
                for (int64_t k = 0; k < lp_tensor_numel(w); k++)
                    e[rep->n].zeros += ((const float *)w->data)[k] == 0.0f;
                if (!e[rep->n].node || !e[rep->n].weight)
                    return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                rep->n++;
            }
            continue;
        }
        if (!so || !so->keep)
            continue;
        if (depthwise(g, n)) {
            LP_TRY(slice_input(g, i, 1, 0, so->keep, so->n_keep));
            if (n->n_in > 2 && n->in[2] >= 0 && is_const(g, n->in[2]))
                LP_TRY(slice_input(g, i, 2, 0, so->keep, so->n_keep));
            for (int a = 0; a < n->n_attr; a++)
                if (!strcmp(n->attrs[a].name, "group"))
                    n->attrs[a].i = so->n_keep;
        } else if (n->op == LP_OP_BatchNormalization) {
            for (int q = 1; q < n->n_in; q++)
                if (n->in[q] >= 0)
                    LP_TRY(slice_input(g, i, q, 0, so->keep, so->n_keep));
        } else if (binary_elementwise(n->op)) {
            for (int q = 0; q < 2; q++) {
                int o = n->in[q], cax;
                if (is_const(g, o) && const_operand(g->values[o].init, g->values[n->out[0]].shape.ndim, 1, so->C, &cax) &&
                    cax >= 0)
                    LP_TRY(slice_input(g, i, q, cax, so->keep, so->n_keep));
            }
        }
    }
    return LP_OK;
}

lp_status lp_prune_channels(lp_graph *g, const lp_prune_opts *o, lp_prune_report *rep)
{
    pctx c = { .g = g, .o = o };
    space *sp = NULL;
    c.parent = malloc(((size_t)g->n_values + 1) * sizeof *c.parent);
    c.ax = malloc(((size_t)g->n_values + 1) * sizeof *c.ax);
    sp = calloc((size_t)g->n_values + 1, sizeof *sp);
    lp_status st = c.parent && c.ax && sp ? lp_graph_consumers(g, &c.cons) : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    int nv = g->n_values;
    if (st == LP_OK)
        st = build(&c, sp);
    for (int v = 0; v < nv && st == LP_OK; v++)
        if (find(&c, v) == v && c.ax[v] >= 0 && !sp[v].frozen && !sp[v].derived && sp[v].C > 0)
            st = choose(&c, &sp[v], v);
    for (int i = 0; i < g->n_nodes && st == LP_OK; i++) /* derived spaces, in graph order (nested Concats) */
        if (!g->nodes[i].dead && g->nodes[i].op == LP_OP_Concat && c.ax[g->nodes[i].out[0]] >= 0 &&
            !sp[find(&c, g->nodes[i].out[0])].frozen)
            st = concat_keep(&c, sp, i, &sp[find(&c, g->nodes[i].out[0])]);
    for (int v = 0; v < nv && st == LP_OK; v++) /* what stayed whole, for the report */
        if (find(&c, v) == v && sp[v].frozen && sp[v].C > 0) {
            if (!rep->n_frozen++)
                snprintf(rep->frozen_why, sizeof rep->frozen_why, "%s", sp[v].why);
        }
    if (st == LP_OK)
        st = rewrite(&c, sp, rep);
    if (st == LP_OK) { /* shapes follow the new weights */
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].kind == LP_VALUE_INTERMEDIATE)
                g->values[v].shape.ndim = -1;
        st = lp_graph_compact(g);
    }
    if (st == LP_OK)
        st = lp_graph_infer(g, true);
    for (int v = 0; v < nv && sp; v++)
        free(sp[v].keep);
    free(sp);
    free(c.parent);
    free(c.ax);
    lp_consumers_free(&c.cons);
    return st;
}
