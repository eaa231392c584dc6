/* equalize.c — cross-layer equalization of weighted layer pairs (see equalize.h). */
#include "quant/equalize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "quant/build.h"

#define EQ_MAX_READERS 16       /* B layers sharing one tensor (Q/K/V projections: 3) */
#define EQ_MAX_BETWEEN 8        /* tensors between A and B */
#define EQ_MAX_SCALE 1e6        /* s_c is kept within [1/EQ_MAX_SCALE, EQ_MAX_SCALE] */

/* How channel c sits in a weight tensor. */
typedef enum { W_ROW, W_COL, W_CONV_IN } w_layout;

typedef struct wref {
    int node, slot;             /* g->nodes[node].in[slot] is the constant */
    w_layout layout;
    int64_t groups;             /* W_CONV_IN */
} wref;

typedef struct eq_chain {
    int64_t C;                  /* channels */
    wref a_w, a_b;              /* A's weight and bias (a_b.node -1: none) */
    int vals[EQ_MAX_BETWEEN], n_vals;
    wref b[EQ_MAX_READERS];
    int n_b;
} eq_chain;

static const lp_tensor *wt(const lp_graph *g, const wref *r) { return g->values[g->nodes[r->node].in[r->slot]].init; }

/* max |w| over channel c (f == 0), or channel c multiplied by f. */
static double chan(lp_tensor *w, const wref *r, int64_t C, int64_t c, double f)
{
    float *d = w->data;
    int64_t n = lp_tensor_numel(w);
    double m = 0;
#define VISIT(i)                                                                                                       \
    do {                                                                                                               \
        if (f != 0)                                                                                                    \
            d[i] = (float)(d[i] * f);                                                                                  \
        else                                                                                                           \
            m = fmax(m, fabs(d[i]));                                                                                   \
    } while (0)
    if (r->layout == W_ROW) {
        int64_t inner = n / C;
        for (int64_t i = c * inner; i < (c + 1) * inner; i++)
            VISIT(i);
    } else if (r->layout == W_COL) {
        for (int64_t i = c; i < n; i += C)
            VISIT(i);
    } else {
        int64_t cg = w->dims[1], kg = w->dims[0] / r->groups, inner = n / (w->dims[0] * cg);
        int64_t gi = c / cg, ci = c % cg;
        for (int64_t k = gi * kg; k < (gi + 1) * kg; k++)
            for (int64_t e = 0; e < inner; e++)
                VISIT((k * cg + ci) * inner + e);
    }
#undef VISIT
    return m;
}

static bool f32_const(const lp_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == LP_VALUE_CONST && g->values[v].init->dtype == LP_F32;
}

/* Node ni as a B layer reading a C-channel tensor: its weight reference. */
static bool as_b(const lp_graph *g, int ni, int v, int64_t C, wref *r)
{
    const lp_node *n = &g->nodes[ni];
    if (n->n_in < 2 || n->in[0] != v || n->in[1] == v || !f32_const(g, n->in[1]))
        return false;
    for (int k = 2; k < n->n_in; k++)
        if (n->in[k] == v)
            return false;
    const lp_tensor *w = g->values[n->in[1]].init;
    *r = (wref){ .node = ni, .slot = 1, .groups = 1 };
    if (n->op == LP_OP_Conv) {
        int64_t grp = lp_attr_int(n, "group", 1);
        if (w->ndim < 3 || grp < 1 || w->dims[1] * grp != C || w->dims[0] % grp)
            return false;
        r->layout = W_CONV_IN;
        r->groups = grp;
        return true;
    }
    if (w->ndim != 2)
        return false;
    if (n->op == LP_OP_MatMul) {
        r->layout = W_ROW;
        return w->dims[0] == C;
    }
    if (n->op == LP_OP_Gemm && !lp_attr_int(n, "transA", 0)) {
        bool tb = lp_attr_int(n, "transB", 0);
        r->layout = tb ? W_COL : W_ROW;
        return w->dims[tb ? 1 : 0] == C;
    }
    return false;
}

/* Node ni as an A layer: channels, weight and bias references, its output tensor. */
static bool as_a(const lp_graph *g, const lp_consumers *cons, int ni, eq_chain *ch, int *out_v)
{
    const lp_node *n = &g->nodes[ni];
    if (n->dead || n->n_in < 2 || n->n_out < 1 || !f32_const(g, n->in[1]) || f32_const(g, n->in[0]))
        return false;
    const lp_tensor *w = g->values[n->in[1]].init;
    ch->a_w = (wref){ .node = ni, .slot = 1, .groups = 1 };
    ch->a_b = (wref){ .node = -1 };
    int bias = n->n_in > 2 ? n->in[2] : -1;
    if (n->op == LP_OP_Conv && w->ndim >= 3) {
        ch->C = w->dims[0];
        ch->a_w.layout = W_ROW;
    } else if (n->op == LP_OP_Gemm && w->ndim == 2 && !lp_attr_int(n, "transA", 0)) {
        bool tb = lp_attr_int(n, "transB", 0);
        ch->C = w->dims[tb ? 0 : 1];
        ch->a_w.layout = tb ? W_ROW : W_COL;
    } else if (n->op == LP_OP_MatMul && w->ndim == 2) {
        ch->C = w->dims[1];
        ch->a_w.layout = W_COL;
    } else {
        return false;
    }
    *out_v = n->out[0];
    if (bias >= 0) {
        if (!f32_const(g, bias) || lp_tensor_numel(g->values[bias].init) != ch->C)
            return false; /* a bias broadcast from one value cannot take per-channel scales */
        ch->a_b = (wref){ .node = ni, .slot = 2, .layout = W_ROW, .groups = 1 };
    }
    if (n->op == LP_OP_MatMul) { /* MatMul + Add(bias): the Add belongs to A */
        int v = n->out[0];
        if (cons->start[v + 1] - cons->start[v] == 1 && !g->values[v].is_output) {
            int ai = cons->node[cons->start[v]];
            const lp_node *a = &g->nodes[ai];
            int other = a->op == LP_OP_Add && a->n_in == 2 ? (a->in[0] == v ? a->in[1] : a->in[0]) : -1;
            if (other >= 0 && f32_const(g, other)) {
                const lp_tensor *b = g->values[other].init;
                if (lp_tensor_numel(b) != ch->C || b->dims[b->ndim - 1] != ch->C)
                    return false;
                ch->a_b = (wref){ .node = ai, .slot = a->in[0] == v ? 1 : 0, .layout = W_ROW, .groups = 1 };
                ch->vals[ch->n_vals++] = v;
                *out_v = a->out[0];
            }
        }
    }
    return true;
}

/* Is node n, reading a tensor whose channel axis is `axis`, positively homogeneous per
 * channel, keeping channels where they are? *axis becomes the output's channel axis. */
static bool passes_through(const lp_graph *g, const lp_node *n, int *axis)
{
    switch (n->op) {
    case LP_OP_Relu:
    case LP_OP_LeakyRelu:
        return n->n_out == 1;
    case LP_OP_MaxPool:
    case LP_OP_AveragePool:
    case LP_OP_GlobalAveragePool:
    case LP_OP_GlobalMaxPool:
        return *axis == 1 && n->n_out == 1;
    case LP_OP_Flatten: {
        const lp_shape *s = &g->values[n->in[0]].shape;
        if (*axis != 1 || lp_attr_int(n, "axis", 1) != 1 || s->ndim < 2)
            return false;
        for (int d = 2; d < s->ndim; d++)
            if (s->d[d] != 1)
                return false;
        return true; /* (N, C, 1, ..., 1) -> (N, C): the channel axis stays 1 */
    }
    default:
        return false;
    }
}

static bool find_chain(const lp_graph *g, const lp_consumers *cons, int ni, lp_equalize_ok ok, void *user,
                       eq_chain *ch)
{
    memset(ch, 0, sizeof *ch);
    int v;
    if (!as_a(g, cons, ni, ch, &v))
        return false;
    int axis = g->nodes[ni].op == LP_OP_Conv ? 1 : -1; /* -1: the last axis */
    for (;;) {
        const lp_value *val = &g->values[v];
        if (val->is_output || val->shape.ndim < 1 || ch->n_vals == EQ_MAX_BETWEEN)
            return false;
        int ax = axis < 0 ? val->shape.ndim - 1 : axis;
        if (ax >= val->shape.ndim || (lp_dim_known(val->shape.d[ax]) && val->shape.d[ax] != ch->C))
            return false;
        ch->vals[ch->n_vals++] = v;
        int nr = cons->start[v + 1] - cons->start[v];
        if (nr < 1)
            return false;
        const lp_node *r0 = &g->nodes[cons->node[cons->start[v]]];
        if (nr == 1 && r0->n_in >= 1 && r0->in[0] == v && passes_through(g, r0, &axis)) {
            v = r0->out[0];
            continue;
        }
        if (nr > EQ_MAX_READERS)
            return false;
        for (int k = 0; k < nr; k++) {
            int bi = cons->node[cons->start[v] + k];
            for (int j = 0; j < ch->n_b; j++)
                if (ch->b[j].node == bi)
                    return false; /* reads it twice */
            if (!as_b(g, bi, v, ch->C, &ch->b[ch->n_b++]))
                return false;
        }
        break;
    }
    for (int i = 0; ok && i < ch->n_vals; i++) {
        const lp_value *val = &g->values[ch->vals[i]];
        int ax = (g->nodes[ni].op == LP_OP_Conv || val->shape.ndim == 2) ? 1 : val->shape.ndim - 1;
        if (!ok(user, g, ch->vals[i], val->shape.ndim, ax, ch->C))
            return false;
    }
    return true;
}

/* Gives (node, slot) a private copy of its constant, once. */
static lp_status privatize(lp_graph *g, const wref *r, wref *done, int *n_done)
{
    for (int i = 0; i < *n_done; i++)
        if (done[i].node == r->node && done[i].slot == r->slot)
            return LP_OK;
    int v = g->nodes[r->node].in[r->slot], nv;
    lp_tensor *t = NULL;
    LP_TRY(lp_tensor_clone(g->values[v].init, &t));
    char name[512];
    snprintf(name, sizeof name, "%s_equalized", g->values[v].name);
    LP_TRY(lp_qb_const(g, name, t, &nv));
    g->nodes[r->node].in[r->slot] = nv;
    done[(*n_done)++] = *r;
    return LP_OK;
}

void lp_equalized_free(lp_equalized *e)
{
    if (!e)
        return;
    for (int v = 0; e->div && v < e->n_values; v++)
        free(e->div[v]);
    free(e->div);
    free(e->channels);
    free(e->axis);
    memset(e, 0, sizeof *e);
}

lp_status lp_equalize(lp_graph *g, int sweeps, lp_equalize_ok ok, void *user, lp_equalized *out)
{
    memset(out, 0, sizeof *out);
    lp_consumers cons;
    LP_TRY(lp_graph_consumers(g, &cons));
    eq_chain *chains = malloc(((size_t)g->n_nodes + 1) * sizeof *chains);
    if (!chains) {
        lp_consumers_free(&cons);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && find_chain(g, &cons, i, ok, user, &chains[n]))
            n++;
    lp_consumers_free(&cons);
    int n_refs = 0;
    for (int i = 0; i < n; i++)
        n_refs += 2 + chains[i].n_b;
    wref *done = malloc(((size_t)n_refs + 1) * sizeof *done);
    double *s = NULL;
    int64_t max_c = 1;
    for (int i = 0; i < n; i++)
        max_c = chains[i].C > max_c ? chains[i].C : max_c;
    s = malloc((size_t)max_c * sizeof *s);
    lp_status st = done && s ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    int n_done = 0;
    for (int i = 0; i < n && st == LP_OK; i++) {
        st = privatize(g, &chains[i].a_w, done, &n_done);
        if (st == LP_OK && chains[i].a_b.node >= 0)
            st = privatize(g, &chains[i].a_b, done, &n_done);
        for (int k = 0; k < chains[i].n_b && st == LP_OK; k++)
            st = privatize(g, &chains[i].b[k], done, &n_done);
    }
    if (st == LP_OK) {
        out->n_values = g->n_values;
        out->div = calloc((size_t)g->n_values + 1, sizeof *out->div);
        out->channels = calloc((size_t)g->n_values + 1, sizeof *out->channels);
        out->axis = calloc((size_t)g->n_values + 1, sizeof *out->axis);
        if (!out->div || !out->channels || !out->axis)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int i = 0; i < n && st == LP_OK; i++)
        for (int k = 0; k < chains[i].n_vals && st == LP_OK; k++) {
            int v = chains[i].vals[k];
            const lp_value *val = &g->values[v];
            out->channels[v] = chains[i].C;
            out->axis[v] = (g->nodes[chains[i].a_w.node].op == LP_OP_Conv || val->shape.ndim == 2) ? 1 : val->shape.ndim - 1;
            if (!(out->div[v] = malloc((size_t)chains[i].C * sizeof **out->div)))
                st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            for (int64_t c = 0; st == LP_OK && c < chains[i].C; c++)
                out->div[v][c] = 1.0;
        }
    if (sweeps <= 0)
        sweeps = 4;
    for (int sw = 0; sw < sweeps && st == LP_OK; sw++) {
        double moved = 0;
        for (int i = 0; i < n; i++) {
            eq_chain *ch = &chains[i];
            lp_tensor *wa = (lp_tensor *)wt(g, &ch->a_w);
            for (int64_t c = 0; c < ch->C; c++) {
                double r1 = chan(wa, &ch->a_w, ch->C, c, 0), r2 = 0;
                for (int k = 0; k < ch->n_b; k++)
                    r2 = fmax(r2, chan((lp_tensor *)wt(g, &ch->b[k]), &ch->b[k], ch->C, c, 0));
                double f = r1 > 0 && r2 > 0 ? sqrt(r1 / r2) : 1.0;
                s[c] = fmin(fmax(f, 1.0 / EQ_MAX_SCALE), EQ_MAX_SCALE);
                moved = fmax(moved, fabs(log(s[c])));
            }
            for (int64_t c = 0; c < ch->C; c++) {
                if (s[c] == 1.0)
                    continue;
                chan(wa, &ch->a_w, ch->C, c, 1.0 / s[c]);
                if (ch->a_b.node >= 0)
                    chan((lp_tensor *)wt(g, &ch->a_b), &ch->a_b, ch->C, c, 1.0 / s[c]);
                for (int k = 0; k < ch->n_b; k++)
                    chan((lp_tensor *)wt(g, &ch->b[k]), &ch->b[k], ch->C, c, s[c]);
                for (int k = 0; k < ch->n_vals; k++)
                    out->div[ch->vals[k]][c] *= s[c];
            }
        }
        if (moved < 1e-4) /* converged: the ranges agree to 0.01 % */
            break;
    }
    if (st == LP_OK)
        out->n_pairs = n;
    else
        lp_equalized_free(out);
    free(done);
    free(s);
    free(chains);
    return st;
}
