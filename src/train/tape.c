/* tape.c — the forward/backward interpreter of tape.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/infer.h"
#include "train/dnnl_train.h"
#include "train/grad.h"
#include "train/tape.h"

struct lp_tape {
    lp_graph *g;
    lp_tape_options o;
    lp_tensor **val;            /* per value: the last forward's tensor */
    bool *own;                  /* per value: val is the tape's (intermediates) */
    lp_tensor **grad;           /* per value: accumulated gradient, or NULL */
    lp_tensor **spare, **grad_spare; /* per value: the previous run's buffers, for reuse */
    bool *reach;                /* per value: a gradient can reach it */
    bool *is_param;
    int *params, n_params;
    const lp_grad_def **def;    /* per node, NULL: no backward */
    void **saved;               /* per node: the forward override's state */
    void **cache;               /* per node: state kept across runs (grad.h's cache) */
    bool *gfresh;               /* per value: grad holds zeros nothing has added to yet ... */
    bool *unset;                /* ... or, for a backward that writes it, nothing yet */
    int64_t *opset;             /* per node */
    double *fwd_ms, *bwd_ms;    /* per node, with options.profile */
    /* oneDNN layouts between consecutive oneDNN ops (grad.h's lp_layout_kind) */
    lp_dnt_layout *lay;         /* per value: how val (and grad) is laid out this run */
    bool *may_lay;              /* per value: every reader takes it in a oneDNN layout */
    lp_tensor **pcopy, **pcopy_spare; /* per value: its plain copy this run (a reader that takes
                                         plain tensors only), and the buffer kept for reuse */
    lp_tensor **gtmp;           /* per value: a plain gradient for such a reader, reused */
    unsigned *plain_in;         /* per node: bit k: input k was given as its plain copy */
    /* per-node scratch, LP_MAX_NODE_IO entries each */
    lp_vinfo *vin, *vout;
    const lp_vinfo **vinp;
    const lp_tensor **tin, **tout_c, **dout;
    lp_tensor **tin_rw, **tout, **din;
};

static bool bit_of(unsigned mask, int k) { return k < 32 ? (mask >> k) & 1u : mask == ~0u; }

static bool is_qdq_scale(const lp_node *n, int k)
{
    return k == 1 && (!strcmp(n->op_type, "QuantizeLinear") || !strcmp(n->op_type, "DequantizeLinear"));
}

void lp_tape_free(lp_tape *t)
{
    if (!t)
        return;
    if (t->g) {
        for (int v = 0; v < t->g->n_values; v++) {
            if (t->own && t->own[v])
                lp_tensor_free(t->val[v]);
            if (t->grad)
                lp_tensor_free(t->grad[v]);
            if (t->spare)
                lp_tensor_free(t->spare[v]);
            if (t->grad_spare)
                lp_tensor_free(t->grad_spare[v]);
            if (t->pcopy)
                lp_tensor_free(t->pcopy[v]);
            if (t->pcopy_spare)
                lp_tensor_free(t->pcopy_spare[v]);
            if (t->gtmp)
                lp_tensor_free(t->gtmp[v]);
        }
        for (int n = 0; n < t->g->n_nodes && t->saved; n++)
            if (t->saved[n] && t->def[n] && t->def[n]->free_saved)
                t->def[n]->free_saved(t->saved[n]);
        for (int n = 0; n < t->g->n_nodes && t->cache; n++)
            if (t->cache[n] && t->def[n] && t->def[n]->free_cache)
                t->def[n]->free_cache(t->cache[n]);
    }
    free(t->val);
    free(t->own);
    free(t->grad);
    free(t->spare);
    free(t->grad_spare);
    free(t->reach);
    free(t->is_param);
    free(t->params);
    free(t->def);
    free(t->saved);
    free(t->cache);
    free(t->gfresh);
    free(t->unset);
    free(t->opset);
    free(t->fwd_ms);
    free(t->bwd_ms);
    free(t->lay);
    free(t->may_lay);
    free(t->pcopy);
    free(t->pcopy_spare);
    free(t->gtmp);
    free(t->plain_in);
    free(t->vin);
    free(t->vout);
    free(t->vinp);
    free(t->tin);
    free(t->tout_c);
    free(t->dout);
    free(t->tin_rw);
    free(t->tout);
    free(t->din);
    free(t);
}

static lp_layout_kind layout_of(const lp_tape *t, int ni) { return t->def[ni] ? t->def[ni]->layout : LP_LAYOUT_PLAIN; }

/* Whether node ni takes a oneDNN-laid-out tensor at input k (before the run's own checks). */
static bool takes_at(const lp_tape *t, int ni, int k)
{
    const lp_node *n = &t->g->nodes[ni];
    switch (layout_of(t, ni)) {
    case LP_LAYOUT_OWN:
        return k == 0;
    case LP_LAYOUT_SAME: /* its output must be able to stay in the layout too */
        return bit_of(t->def[ni]->diff_in, k) && n->n_out >= 1 && n->out[0] >= 0 && t->may_lay[n->out[0]];
    default:
        return false;
    }
}

/* may_lay: a value produced by a layout-aware row, not a graph output, whose every reader
 * takes it in a oneDNN layout. Readers come after producers: walk the nodes backward. */
static void mark_layouts(lp_tape *t)
{
    const lp_graph *g = t->g;
    for (int ni = g->n_nodes - 1; ni >= 0; ni--) {
        const lp_node *n = &g->nodes[ni];
        if (n->dead || layout_of(t, ni) == LP_LAYOUT_PLAIN || n->n_out < 1 || n->out[0] < 0)
            continue;
        int v = n->out[0];
        bool ok = !g->values[v].is_output && g->values[v].kind != LP_VALUE_CONST, any = false;
        for (int r = ni + 1; r < g->n_nodes && ok; r++) {
            const lp_node *rn = &g->nodes[r];
            for (int k = 0; !rn->dead && k < rn->n_in && ok; k++)
                if (rn->in[k] == v) {
                    any = true;
                    ok = takes_at(t, r, k);
                }
        }
        t->may_lay[v] = ok && any;
    }
}

lp_status lp_tape_create(lp_graph *g, const lp_tape_options *opts, lp_tape **out)
{
    *out = NULL;
    lp_tape *t = calloc(1, sizeof *t);
    if (!t)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    t->g = g;
    if (opts)
        t->o = *opts;
    size_t nv = (size_t)(g->n_values ? g->n_values : 1), nn = (size_t)(g->n_nodes ? g->n_nodes : 1);
    size_t io = LP_MAX_NODE_IO;
    t->val = calloc(nv, sizeof *t->val);
    t->own = calloc(nv, sizeof *t->own);
    t->grad = calloc(nv, sizeof *t->grad);
    t->spare = calloc(nv, sizeof *t->spare);
    t->grad_spare = calloc(nv, sizeof *t->grad_spare);
    t->reach = calloc(nv, sizeof *t->reach);
    t->is_param = calloc(nv, sizeof *t->is_param);
    t->params = calloc(nv, sizeof *t->params);
    t->def = calloc(nn, sizeof *t->def);
    t->saved = calloc(nn, sizeof *t->saved);
    t->cache = calloc(nn, sizeof *t->cache);
    t->gfresh = calloc(nv, sizeof *t->gfresh);
    t->unset = calloc(nv, sizeof *t->unset);
    t->opset = calloc(nn, sizeof *t->opset);
    t->fwd_ms = calloc(nn, sizeof *t->fwd_ms);
    t->bwd_ms = calloc(nn, sizeof *t->bwd_ms);
    t->lay = calloc(nv, sizeof *t->lay);
    t->may_lay = calloc(nv, sizeof *t->may_lay);
    t->pcopy = calloc(nv, sizeof *t->pcopy);
    t->pcopy_spare = calloc(nv, sizeof *t->pcopy_spare);
    t->gtmp = calloc(nv, sizeof *t->gtmp);
    t->plain_in = calloc(nn, sizeof *t->plain_in);
    t->vin = calloc(io, sizeof *t->vin);
    t->vout = calloc(io, sizeof *t->vout);
    t->vinp = calloc(io, sizeof *t->vinp);
    t->tin = calloc(io, sizeof *t->tin);
    t->tout_c = calloc(io, sizeof *t->tout_c);
    t->dout = calloc(io, sizeof *t->dout);
    t->tin_rw = calloc(io, sizeof *t->tin_rw);
    t->tout = calloc(io, sizeof *t->tout);
    t->din = calloc(io, sizeof *t->din);
    if (!t->val || !t->own || !t->grad || !t->spare || !t->grad_spare || !t->reach || !t->is_param ||
        !t->params || !t->def || !t->saved || !t->cache || !t->gfresh || !t->unset || !t->opset || !t->fwd_ms ||
        !t->bwd_ms || !t->lay || !t->may_lay || !t->pcopy || !t->pcopy_spare || !t->gtmp || !t->plain_in ||
        !t->vin || !t->vout || !t->vinp || !t->tin || !t->tout_c || !t->dout || !t->tin_rw || !t->tout ||
        !t->din) {
        lp_tape_free(t);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for a training tape of %d values", g->n_values);
    }
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const lp_node *n = &g->nodes[ni];
        if (n->dead)
            continue;
        if (n->op < 0 || !lp_op_implemented(n->op)) {
            lp_tape_free(t);
            return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "lowp has no kernel for this op");
        }
        if (n->n_in > LP_MAX_NODE_IO || n->n_out > LP_MAX_NODE_IO) {
            lp_tape_free(t);
            return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d inputs or outputs", LP_MAX_NODE_IO);
        }
        t->def[ni] = lp_grad_find(n->domain, n->op_type);
        t->opset[ni] = lp_graph_opset(g, n->domain);
        const lp_grad_def *d = t->def[ni];
        for (int k = 0; d && k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0 || !bit_of(d->param_in, k) || t->is_param[v] || g->values[v].kind != LP_VALUE_CONST ||
                !g->values[v].init || g->values[v].init->dtype != LP_F32)
                continue;
            if ((is_qdq_scale(n, k) && !t->o.learn_scale) ||
                (d->fixed_scalars && lp_tensor_numel(g->values[v].init) == 1))
                continue;
            t->is_param[v] = true;
            t->params[t->n_params++] = v;
        }
    }
    for (int v = 0; v < g->n_values; v++)
        t->reach[v] = t->is_param[v] || (t->o.grad_inputs && g->values[v].kind == LP_VALUE_INPUT);
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const lp_node *n = &g->nodes[ni];
        if (n->dead)
            continue;
        bool any = false;
        for (int k = 0; k < n->n_in && !any; k++)
            any = n->in[k] >= 0 && t->reach[n->in[k]] && (!t->def[ni] || bit_of(t->def[ni]->diff_in, k));
        /* a node without a backward passes "reachable" on to its float outputs, so a loss
         * that depends on it fails at backward, naming it, instead of training silently less */
        for (int k = 0; any && k < n->n_out; k++)
            if (n->out[k] >= 0 && (t->def[ni] || g->values[n->out[k]].dtype == LP_F32))
                t->reach[n->out[k]] = true;
    }
    mark_layouts(t);
    *out = t;
    return LP_OK;
}

lp_graph *lp_tape_graph(const lp_tape *t) { return t->g; }

void lp_tape_node_ms(const lp_tape *t, int ni, double *fwd_ms, double *bwd_ms)
{
    bool in = ni >= 0 && ni < t->g->n_nodes;
    *fwd_ms = in ? t->fwd_ms[ni] : 0;
    *bwd_ms = in ? t->bwd_ms[ni] : 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + 1e-6 * (double)ts.tv_nsec;
}
int lp_tape_n_params(const lp_tape *t) { return t->n_params; }
int lp_tape_param(const lp_tape *t, int i) { return i >= 0 && i < t->n_params ? t->params[i] : -1; }

void lp_tape_freeze(lp_tape *t, int v)
{
    for (int i = 0; i < t->n_params; i++)
        if (t->params[i] == v) {
            memmove(t->params + i, t->params + i + 1, (size_t)(t->n_params - i - 1) * sizeof *t->params);
            t->n_params--;
            t->is_param[v] = false;
            lp_tensor_free(t->grad[v]);
            t->grad[v] = NULL;
            return;
        }
}

static lp_status plain_copy(lp_tape *t, int v, lp_tensor **out);

const lp_tensor *lp_tape_value(const lp_tape *t, int v)
{
    if (v < 0 || v >= t->g->n_values)
        return NULL;
    lp_tensor *p = NULL;
    if (t->lay[v].on) /* an intermediate kept in a oneDNN layout: the plain copy */
        return plain_copy((lp_tape *)t, v, &p) == LP_OK ? p : NULL;
    return t->val[v];
}

lp_tensor *lp_tape_grad(const lp_tape *t, int v)
{
    return v >= 0 && v < t->g->n_values ? t->grad[v] : NULL;
}

/* Sets value v's gradient aside for reuse (a spare kept when there is no gradient: freeing it
 * would cost the next step fresh pages). */
static void grad_aside(lp_tape *t, int v)
{
    if (!t->grad[v])
        return;
    lp_tensor_free(t->grad_spare[v]);
    t->grad_spare[v] = t->grad[v];
    t->grad[v] = NULL;
}

void lp_tape_zero_grad(lp_tape *t)
{
    for (int v = 0; v < t->g->n_values; v++)
        grad_aside(t, v);
}

/* Forgets the last run's values (the tape keeps its own intermediates' buffers in `spare`
 * for the next run: a training loop runs the same shapes every step, and fresh multi-megabyte
 * allocations would cost a page fault per page each time), saved states and non-parameter
 * gradients. */
static void tape_clear_run(lp_tape *t)
{
    const lp_graph *g = t->g;
    for (int v = 0; v < g->n_values; v++) {
        t->lay[v].on = false;
        if (t->pcopy[v]) {
            lp_tensor_free(t->pcopy_spare[v]);
            t->pcopy_spare[v] = t->pcopy[v];
            t->pcopy[v] = NULL;
        }
        if (t->own[v]) {
            lp_tensor_free(t->spare[v]);
            t->spare[v] = t->val[v];
        }
        t->val[v] = NULL;
        t->own[v] = false;
        if (!t->is_param[v])
            grad_aside(t, v);
    }
    for (int n = 0; n < g->n_nodes; n++) {
        if (t->saved[n] && t->def[n] && t->def[n]->free_saved)
            t->def[n]->free_saved(t->saved[n]);
        t->saved[n] = NULL;
    }
}

/* The buffer kept in *spare when it has this dtype and shape, zeroed unless `keep` (kernels
 * may count on zeroed outputs, as from lp_tensor_new; `keep`: the caller overwrites every
 * element), else a new tensor; *spare is consumed either way. */
static lp_status reuse(lp_tensor **spare, lp_dtype dt, int nd, const int64_t *dims, bool keep, lp_tensor **out)
{
    lp_tensor *s = *spare;
    *spare = NULL;
    if (s && s->dtype == dt && s->ndim == nd && !memcmp(s->dims, dims, (size_t)nd * sizeof *dims)) {
        if (s->nbytes && !keep)
            memset(s->data, 0, s->nbytes);
        *out = s;
        return LP_OK;
    }
    lp_tensor_free(s);
    return lp_tensor_new(dt, nd, dims, out);
}

/* Value v's plain copy (made once per run) when it is laid out by oneDNN. */
static lp_status plain_copy(lp_tape *t, int v, lp_tensor **out)
{
    if (!t->pcopy[v]) {
        const lp_tensor *x = t->val[v];
        LP_TRY(reuse(&t->pcopy_spare[v], x->dtype, x->ndim, x->dims, true, &t->pcopy[v]));
        lp_status st = lp_dnt_relayout(&t->lay[v], x->ndim, x->dims, false, false, x->data, t->pcopy[v]->data);
        if (st != LP_OK) {
            lp_tensor_free(t->pcopy[v]);
            t->pcopy[v] = NULL;
            return st;
        }
    }
    *out = t->pcopy[v];
    return LP_OK;
}

static bool same_dims(const lp_tensor *a, const lp_tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->dims, b->dims, (size_t)a->ndim * sizeof *a->dims);
}

/* Which inputs node ni takes in their oneDNN layouts this run (the others get plain copies:
 * t->plain_in[ni]; all of them for a LP_LAYOUT_PLAIN row). LP_LAYOUT_SAME: all its laid-out
 * inputs in one layout and one shape; LP_LAYOUT_OWN: input 0 when the row says it can. Sets
 * *same_lay to the layout a LP_LAYOUT_SAME row's output takes (NULL: plain). */
static lp_status choose_inputs(lp_tape *t, int ni, const lp_fwd_ctx *fc, const lp_dnt_layout **same_lay)
{
    const lp_node *n = &t->g->nodes[ni];
    lp_layout_kind kind = layout_of(t, ni);
    unsigned plain = 0;
    *same_lay = NULL;
    bool same_ok = kind == LP_LAYOUT_SAME;
    const lp_tensor *first = NULL;
    for (int k = 0; k < n->n_in && same_ok; k++) {
        int v = n->in[k];
        if (v < 0 || !bit_of(t->def[ni]->diff_in, k))
            continue;
        if (!takes_at(t, ni, k) || !t->lay[v].on ||
            (*same_lay && !dnnl_memory_desc_equal(&(*same_lay)->md, &t->lay[v].md)) ||
            (first && !same_dims(first, t->val[v])))
            same_ok = false;
        *same_lay = &t->lay[v];
        first = t->val[v];
    }
    if (!same_ok)
        *same_lay = NULL;
    for (int k = 0; k < n->n_in; k++) {
        int v = n->in[k];
        if (v < 0 || !t->lay[v].on)
            continue;
        bool take = kind == LP_LAYOUT_SAME ? same_ok && bit_of(t->def[ni]->diff_in, k)
                    : kind == LP_LAYOUT_OWN ? k == 0 && t->def[ni]->takes_layout &&
                                                  t->def[ni]->takes_layout(fc) == LP_OK
                                            : false;
        if (!take) {
            lp_tensor *p;
            LP_TRY(plain_copy(t, v, &p));
            t->tin[k] = p;
            t->tin_rw[k] = p;
            plain |= k < 32 ? 1u << k : 0u;
        }
    }
    t->plain_in[ni] = plain;
    return LP_OK;
}

static lp_status run_node(lp_tape *t, int ni, bool training, uint64_t seed)
{
    const lp_graph *g = t->g;
    const lp_node *n = &g->nodes[ni];
    for (int k = 0; k < n->n_in; k++) {
        int v = n->in[k];
        t->tin[k] = NULL;
        t->tin_rw[k] = NULL;
        t->vinp[k] = NULL;
        if (v < 0)
            continue;
        lp_tensor *x = t->val[v];
        if (!x)
            return lp_node_error(n, LOWP_ERR_FORMAT, "input '%s' has no value (not produced before this node)",
                                 g->values[v].name);
        t->tin[k] = x;
        t->tin_rw[k] = x;
        lp_vinfo *vi = &t->vin[k];
        vi->dtype = x->dtype;
        lp_shape_of(x, &vi->shape);
        /* values that decide shapes (Reshape's shape, Slice's starts) are integers or constants */
        vi->value = g->values[v].kind == LP_VALUE_CONST || !lp_dtype_traits_of(x->dtype)->is_float ? x : NULL;
        t->vinp[k] = vi;
    }
    memset(t->vout, 0, (size_t)n->n_out * sizeof *t->vout);
    LP_TRY(lp_node_infer_with(g, ni, t->vinp, t->vout));
    bool computed = true;
    lp_status st = LP_OK;
    for (int k = 0; k < n->n_out; k++) {
        int v = n->out[k];
        t->tout[k] = NULL;
        if (v < 0)
            continue;
        lp_vinfo *vo = &t->vout[k];
        if (vo->value) {
            t->tout[k] = vo->value;
            vo->value = NULL;
        } else {
            computed = false;
            if (!lp_shape_static(&vo->shape) || vo->dtype == LOWP_UNDEFINED) {
                st = lp_node_error(n, LOWP_ERR_SHAPE, "output '%s': shape not known after inference",
                                   g->values[v].name);
                break;
            }
            st = reuse(&t->spare[v], vo->dtype, vo->shape.ndim, vo->shape.d, t->def[ni] && t->def[ni]->fwd_overwrites,
                       &t->tout[k]);
            if (st != LP_OK)
                break;
        }
        t->val[v] = t->tout[k];
        t->own[v] = true;
    }
    lp_vinfo_release(t->vout, n->n_out);
    if (st != LP_OK || computed)
        return st;
    lp_run_ctx rc = { .node = n, .opset = t->opset[ni], .n_in = n->n_in, .n_out = n->n_out,
                      .in = t->tin, .out = t->tout };
    const lp_grad_def *d = t->def[ni];
    lp_fwd_ctx fc = { .rc = &rc, .in_rw = t->tin_rw, .training = training,
                      .seed = seed ^ ((uint64_t)(ni + 1) * 0x9E3779B97F4A7C15ull), .saved = &t->saved[ni],
                      .cache = &t->cache[ni] };
    const lp_dnt_layout *same_lay = NULL;
    LP_TRY(choose_inputs(t, ni, &fc, &same_lay));
    if (layout_of(t, ni) == LP_LAYOUT_OWN) {
        int v0 = n->in[0], vo = n->out[0];
        fc.in0_lay = v0 >= 0 && t->lay[v0].on && !(t->plain_in[ni] & 1u) ? &t->lay[v0] : NULL;
        fc.out_lay = vo >= 0 && t->may_lay[vo] ? &t->lay[vo] : NULL;
    }
    lp_status st2 = d && d->forward ? d->forward(&fc) : lp_op_get(n->op)->run(&rc);
    if (st2 == LP_OK && same_lay && n->out[0] >= 0) /* elementwise on the raw buffers: the output is laid out alike */
        t->lay[n->out[0]] = *same_lay;
    return st2;
}

lp_status lp_tape_forward(lp_tape *t, lp_tensor *const *inputs, bool training, uint64_t seed)
{
    lp_graph *g = t->g;
    tape_clear_run(t);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LP_VALUE_CONST)
            t->val[v] = g->values[v].init;
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        if (g->values[v].kind == LP_VALUE_CONST)
            continue;
        const lp_value *val = &g->values[v];
        lp_tensor *x = inputs[i];
        if (!x)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "input '%s': no tensor given", val->name);
        if (val->dtype != LOWP_UNDEFINED && x->dtype != val->dtype)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "input '%s': %s given, the model declares %s", val->name,
                            lp_dtype_traits_of(x->dtype)->name, lp_dtype_traits_of(val->dtype)->name);
        if (val->shape.ndim >= 0 && val->shape.ndim != x->ndim)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "input '%s': rank %d given, the model declares %d", val->name,
                            x->ndim, val->shape.ndim);
        t->val[v] = x;
    }
    for (int ni = 0; ni < g->n_nodes; ni++) {
        if (g->nodes[ni].dead)
            continue;
        double t0 = t->o.profile ? now_ms() : 0;
        LP_TRY(run_node(t, ni, training, seed));
        if (t->o.profile)
            t->fwd_ms[ni] += now_ms() - t0;
    }
    return LP_OK;
}

/* The float32 gradient of value v's current shape: zeroed when new, or with `unset` left as
 * it is (the caller writes it all; t->unset[v] says so until then). */
static lp_status grad_of(lp_tape *t, int v, bool unset, lp_tensor **out)
{
    if (!t->grad[v]) {
        const lp_tensor *x = t->val[v];
        if (!x)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "value '%s' has no tensor: run forward first",
                            t->g->values[v].name);
        LP_TRY(reuse(&t->grad_spare[v], LP_F32, x->ndim, x->dims, unset, &t->grad[v]));
        t->gfresh[v] = true;
        t->unset[v] = unset;
    }
    *out = t->grad[v];
    return LP_OK;
}

lp_status lp_tape_backward(lp_tape *t, int n_seed, const int *values, const lp_tensor *const *grads)
{
    lp_graph *g = t->g;
    for (int i = 0; i < n_seed; i++) {
        int v = values[i];
        if (v < 0 || v >= g->n_values)
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "backward: value %d out of range", v);
        lp_tensor *gv;
        LP_TRY(grad_of(t, v, false, &gv));
        if (grads[i]->dtype != LP_F32 || lp_tensor_numel(grads[i]) != lp_tensor_numel(gv))
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "backward: the gradient of '%s' must be float32 with %lld values",
                            g->values[v].name, (long long)lp_tensor_numel(gv));
        t->gfresh[v] = false;
        float *d = gv->data;
        const float *s = grads[i]->data;
        if (t->lay[v].on) /* an intermediate kept in a oneDNN layout: the plain seed reordered in */
            LP_TRY(lp_dnt_relayout(&t->lay[v], gv->ndim, gv->dims, true, true, s, d));
        else
            for (int64_t k = 0; k < lp_tensor_numel(gv); k++)
                d[k] += s[k];
    }
    for (int ni = g->n_nodes - 1; ni >= 0; ni--) {
        const lp_node *n = &g->nodes[ni];
        if (n->dead)
            continue;
        bool has_dout = false;
        for (int k = 0; k < n->n_out; k++) {
            t->dout[k] = n->out[k] >= 0 ? t->grad[n->out[k]] : NULL;
            t->tout_c[k] = n->out[k] >= 0 ? t->val[n->out[k]] : NULL;
            has_dout |= t->dout[k] != NULL;
        }
        if (!has_dout)
            continue;
        const lp_grad_def *d = t->def[ni];
        bool want = false;
        unsigned pin = t->plain_in[ni];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            bool as_plain = v >= 0 && bit_of(pin, k);
            t->din[k] = NULL;
            t->tin[k] = v >= 0 ? (as_plain ? t->pcopy[v] : t->val[v]) : NULL;
            if (v < 0 || !t->reach[v] || (d && !bit_of(d->diff_in, k)))
                continue;
            if (!d)
                return lp_node_error(n, LOWP_ERR_UNSUPPORTED,
                                     "no backward for %s yet: lowp cannot train through this node "
                                     "(docs/training.md lists the ops it can)", n->op_type);
            if (as_plain) { /* the forward had its plain copy: a plain gradient, moved over after */
                LP_TRY(reuse(&t->gtmp[v], LP_F32, t->val[v]->ndim, t->val[v]->dims, false, &t->din[k]));
                t->gtmp[v] = t->din[k];
            } else
                LP_TRY(grad_of(t, v, d->bwd_overwrites, &t->din[k]));
            want = true;
        }
        if (!want)
            continue;
        /* outputs without a gradient of their own get zeros (a multi-output op where the
         * loss reads only some outputs) */
        for (int k = 0; k < n->n_out; k++)
            if (!t->dout[k] && n->out[k] >= 0 && t->val[n->out[k]]) {
                lp_tensor *z;
                LP_TRY(grad_of(t, n->out[k], false, &z));
                t->dout[k] = z;
            }
        unsigned fresh = 0;
        for (int k = 0; k < n->n_in; k++) {
            if (bit_of(pin, k))
                continue;
            bool alone = t->din[k] && t->gfresh[n->in[k]] && k < 32;
            for (int j = 0; j < n->n_in && alone; j++)
                alone = j == k || n->in[j] != n->in[k];
            fresh |= alone ? 1u << k : 0u;
            /* a new gradient left unset for a backward that writes it: unless it is this
             * input's alone, it must hold zeros */
            if (t->din[k] && t->unset[n->in[k]] && !alone) {
                memset(t->din[k]->data, 0, t->din[k]->nbytes);
                t->unset[n->in[k]] = false;
            }
        }
        lp_grad_ctx gc = { .node = n, .opset = t->opset[ni], .n_in = n->n_in, .n_out = n->n_out,
                           .in = t->tin, .out = t->tout_c, .dout = t->dout, .din = t->din, .saved = t->saved[ni],
                           .cache = &t->cache[ni], .din_fresh = fresh };
        if (d->layout == LP_LAYOUT_OWN) {
            int v0 = n->in[0], vo = n->out[0];
            gc.in0_lay = v0 >= 0 && t->lay[v0].on && !bit_of(pin, 0) ? &t->lay[v0] : NULL;
            gc.out_lay = vo >= 0 && t->lay[vo].on ? &t->lay[vo] : NULL;
        }
        double t0 = t->o.profile ? now_ms() : 0;
        lp_status bst = d->backward(&gc);
        for (int k = 0; k < n->n_in; k++)
            if (t->din[k] && !bit_of(pin, k))
                t->gfresh[n->in[k]] = t->unset[n->in[k]] = false;
        LP_TRY(bst);
        for (int k = 0; k < n->n_in && pin; k++) /* plain gradients into laid-out values */
            if (t->din[k] && bit_of(pin, k)) {
                int v = n->in[k];
                bool done = false;
                for (int j = 0; j < k; j++)
                    done |= n->in[j] == v && t->din[j];
                if (done)
                    continue;
                lp_tensor *gv;
                LP_TRY(grad_of(t, v, true, &gv));
                LP_TRY(lp_dnt_relayout(&t->lay[v], gv->ndim, gv->dims, true, !t->gfresh[v], t->din[k]->data,
                                       gv->data));
                t->gfresh[v] = t->unset[v] = false;
            }
        if (t->o.profile)
            t->bwd_ms[ni] += now_ms() - t0;
        /* an intermediate's gradient is complete once its producer has run: set it aside */
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v >= 0 && !t->is_param[v] && !g->values[v].is_output)
                grad_aside(t, v);
        }
    }
    return LP_OK;
}
