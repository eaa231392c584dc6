/* block.c — block reconstruction (recon.h): the blocks of a model, each block's training graph
 * with learnable rounding, the optimization on the training engine, and the hard rounding
 * written back into the quantized graph. */
#include "recon/recon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/build.h"
#include "train/optim.h"
#include "train/tape.h"

#define ZETA 1.1                /* AdaRound's stretch of the sigmoid: h in (gamma, zeta) ... */
#define GAMMA (-0.1)            /* ... clipped to [0, 1], so h reaches 0 and 1 exactly */
#define BETA_START 20.0         /* the regulariser's exponent, annealed to BETA_END */
#define BETA_END 2.0
#define HARD 100.0              /* |V| that makes h exactly 0 or 1 (sigmoid saturates) */
#define LP_RECON_MAX_BYTES ((int64_t)512 << 20) /* a block's inputs and targets together */

lp_recon_options lp_recon_options_default(void)
{
    return (lp_recon_options){ .iterations = 400, .batch = 32, .lr = 0.01, .reg = 0.01, .warmup = 0.2,
                               .max_layers = 4, .seed = 1 };
}

void lp_recon_report_free(lp_recon_report *r)
{
    if (r)
        free(r->blocks), *r = (lp_recon_report){ 0 };
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the blocks: segments between the model's cut tensors ---- */

typedef struct span {
    int in, out;                /* fp32 value indices: the block's input and output */
    int n_layers;
} span;

static bool float_act(const lp_graph *g, int v)
{
    return v >= 0 && g->values[v].kind != LP_VALUE_CONST && g->values[v].kind != LP_VALUE_OUTER &&
           (!g->values[v].dtype || g->values[v].dtype == LP_F32);
}

/* Whether fp32 node ni's weight was quantized (its DequantizeLinear is among `weights`). */
static bool has_qweight(const lp_graph *g, int ni, const lp_qweights *weights)
{
    char name[512];
    snprintf(name, sizeof name, "%s_weight_DequantizeLinear", g->nodes[ni].name);
    return lp_qweights_find(weights, name) != NULL;
}

/* The cut tensors of fp32 graph g (topologically sorted): after node i (i = -1: before the
 * first), the only non-constant value that is defined by then and read later. Consecutive
 * segments between cuts merge into spans of up to max_layers quantized weights (a segment with
 * more stays one span). */
static lp_status find_spans(const lp_graph *g, const lp_qweights *weights, int max_layers, span **out, int *n_out)
{
    int n = g->n_nodes;
    size_t nv = (size_t)(g->n_values ? g->n_values : 1);
    int64_t *cnt = calloc((size_t)n + 2, sizeof *cnt), *sum = calloc((size_t)n + 2, sizeof *sum);
    int *def = malloc(nv * sizeof *def), *last = malloc(nv * sizeof *last);
    int *cut_v = malloc(((size_t)n + 1) * sizeof *cut_v), *cut_l = malloc(((size_t)n + 1) * sizeof *cut_l);
    span *sp = calloc((size_t)n + 1, sizeof *sp);
    if (!cnt || !sum || !def || !last || !cut_v || !cut_l || !sp) {
        free(cnt), free(sum), free(def), free(last), free(cut_v), free(cut_l), free(sp);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int v = 0; v < g->n_values; v++) {
        def[v] = g->values[v].kind == LP_VALUE_INPUT ? -1 : g->values[v].producer;
        last[v] = g->values[v].is_output ? n : -2;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0 && last[g->nodes[i].in[k]] < i)
                last[g->nodes[i].in[k]] = i;
    for (int v = 0; v < g->n_values; v++) { /* live across the cuts after nodes def .. last - 1 */
        bool act = g->values[v].kind == LP_VALUE_INPUT || (g->values[v].kind == LP_VALUE_INTERMEDIATE && def[v] >= 0);
        if (!act || last[v] <= def[v])
            continue;
        cnt[def[v] + 1]++, cnt[last[v] + 1]--;
        sum[def[v] + 1] += v, sum[last[v] + 1] -= v;
    }
    int n_cut = 0, layers = 0;
    int64_t c = 0, s = 0;
    for (int p = 0; p < n + 1; p++) { /* the cut after node i = p - 1 */
        c += cnt[p], s += sum[p];
        int i = p - 1;
        if (i >= 0 && !g->nodes[i].dead && has_qweight(g, i, weights))
            layers++;
        if (c == 1 && float_act(g, (int)s))
            cut_v[n_cut] = (int)s, cut_l[n_cut++] = layers; /* layers up to this cut */
    }
    int n_sp = 0;
    for (int j = 0; j + 1 < n_cut; j++) {
        int seg = cut_l[j + 1] - cut_l[j];
        if (n_sp && sp[n_sp - 1].out == cut_v[j] && (sp[n_sp - 1].n_layers == 0 || sp[n_sp - 1].n_layers + seg <= max_layers)) {
            sp[n_sp - 1].out = cut_v[j + 1];
            sp[n_sp - 1].n_layers += seg;
        } else {
            sp[n_sp++] = (span){ .in = cut_v[j], .out = cut_v[j + 1], .n_layers = seg };
        }
    }
    free(cnt), free(sum), free(def), free(last), free(cut_v), free(cut_l);
    int k = 0; /* drop spans without a quantized weight */
    for (int i = 0; i < n_sp; i++)
        if (sp[i].n_layers > 0)
            sp[k++] = sp[i];
    *out = sp;
    *n_out = k;
    return LP_OK;
}

/* ---- running a graph over the kept calibration batches ---- */

/* Value `name` of graph g over every kept batch, stacked along the first axis into *out
 * (at most max_rows samples). */
static lp_status collect(const lp_graph *g, const lp_calib_kept *k, const char *name, int64_t max_rows, lp_tensor **out)
{
    *out = NULL;
    int v = lp_graph_find_value(g, name);
    if (v < 0)
        return lp_error(LOWP_ERR_INTERNAL, "block reconstruction: no tensor '%s' in the graph", name);
    lp_tape *t = NULL;
    lp_tape_options to = { 0 };
    LP_TRY(lp_tape_create((lp_graph *)g, &to, &t));
    lp_status st = LP_OK;
    int64_t rows = 0, row_elems = 0;
    lp_tensor *all = NULL;
    for (int b = 0; b < k->n_batches && st == LP_OK && rows < max_rows; b++) {
        st = lp_tape_forward(t, k->t + (size_t)b * (size_t)k->n_inputs, false, 0);
        const lp_tensor *x = st == LP_OK ? lp_tape_value(t, v) : NULL;
        if (st == LP_OK && (!x || x->dtype != LP_F32 || x->ndim < 1 || x->dims[0] < 1))
            st = lp_error(LOWP_ERR_UNSUPPORTED, "block reconstruction: tensor '%s' is not a float batch", name);
        if (st != LP_OK)
            break;
        int64_t n = x->dims[0], re = lp_tensor_numel(x) / n;
        if (!all) {
            int64_t total = 0;
            for (int j = 0; j < k->n_batches; j++)
                total += k->t[(size_t)j * (size_t)k->n_inputs]->ndim ? k->t[(size_t)j * (size_t)k->n_inputs]->dims[0] : 1;
            total = total < max_rows ? total : max_rows;
            int64_t d[LP_MAX_DIMS];
            memcpy(d, x->dims, (size_t)x->ndim * sizeof *d);
            d[0] = total;
            st = lp_tensor_new(LP_F32, x->ndim, d, &all);
            row_elems = re;
        } else if (re != row_elems) {
            st = lp_error(LOWP_ERR_UNSUPPORTED, "block reconstruction: tensor '%s' changes shape between calibration "
                                                "batches (it needs batches of one shape)", name);
        }
        if (st != LP_OK)
            break;
        int64_t take = n < all->dims[0] - rows ? n : all->dims[0] - rows;
        memcpy((float *)all->data + rows * row_elems, x->data, (size_t)(take * row_elems) * sizeof(float));
        rows += take;
    }
    lp_tape_free(t);
    if (st == LP_OK && rows != (all ? all->dims[0] : 0))
        st = lp_error(LOWP_ERR_INTERNAL, "block reconstruction: %lld rows collected of %lld", (long long)rows,
                      (long long)(all ? all->dims[0] : 0));
    if (st != LP_OK) {
        lp_tensor_free(all);
        return st;
    }
    *out = all;
    return LP_OK;
}

/* ---- one block's training graph ---- */

typedef struct layer {
    char *dq;                   /* the weight's DequantizeLinear in the quantized graph */
    const lp_qweight *kw;       /* its float weight */
    lp_tensor *floor_q;         /* floor(w / s) */
    lp_tensor *v;               /* the rounding variables (graph input of the block) */
    lp_tensor *g;               /* their gradient this step */
    float *v0;                  /* V's start: the soft weight equals the float weight */
    int8_t *q0;                 /* the rounding it started from */
    bool *up0;                  /* q0 as floor + up0 */
    int qmax;
    int in_v;                   /* V's value in the block graph */
} layer;

typedef struct block {
    lp_graph *g;                /* the block: inputs x, V...; output y */
    int x, y;
    int n_layers;
    layer *l;
} block;

static void block_free(block *b)
{
    for (int i = 0; i < b->n_layers; i++) {
        free(b->l[i].dq);
        lp_tensor_free(b->l[i].floor_q);
        lp_tensor_free(b->l[i].v);
        lp_tensor_free(b->l[i].g);
        free(b->l[i].q0);
        free(b->l[i].up0);
        free(b->l[i].v0);
    }
    free(b->l);
    lp_graph_free(b->g);
    *b = (block){ 0 };
}

static int64_t param_index(int64_t n_scale, const lp_tensor *t, int axis, int64_t i)
{
    if (n_scale <= 1)
        return 0;
    int64_t inner = 1;
    for (int k = axis + 1; k < t->ndim; k++)
        inner *= t->dims[k];
    return (i / inner) % t->dims[axis];
}

static lp_status scalar(lp_graph *g, const char *name, double x, int *v)
{
    return lp_qb_scalar(g, name, LP_F32, x, v);
}

/* A node op(in...) -> a fresh value (or `out` when >= 0), named `name`_`type`_<node count>. */
static lp_status op(lp_graph *g, const char *name, const char *type, int n_in, const int *in, int out, int *res)
{
    char nn[700];
    snprintf(nn, sizeof nn, "%s_%s_%d", name, type, g->n_nodes);
    if (out < 0)
        LP_TRY(lp_qb_value(g, nn, &out));
    LP_TRY(lp_qb_node(g, type, nn, n_in, in, 1, &out, NULL));
    *res = out;
    return LP_OK;
}

/* DequantizeLinear node di of g (int8 weight constant, float scale) becomes
 * s * clip(floor_q + h(V), -qmax, qmax), V a new graph input; fills layer l. */
static lp_status soft_weight(lp_graph *g, int di, const lp_qweight *kw, layer *l)
{
    const lp_node *d = &g->nodes[di];
    const lp_tensor *q = g->values[d->in[0]].init, *s = g->values[d->in[1]].init;
    int64_t n = lp_tensor_numel(q), ns = lp_tensor_numel(s);
    int axis = (int)lp_attr_int(d, "axis", 1);
    if (axis < 0)
        axis += q->ndim;
    if (d->n_in > 2 && d->in[2] >= 0) { /* symmetric weights: zero point 0 */
        const lp_tensor *z = g->values[d->in[2]].init;
        for (int64_t i = 0; z && i < lp_tensor_numel(z); i++)
            if (((const int8_t *)z->data)[i])
                return lp_error(LOWP_ERR_UNSUPPORTED, "weight '%s' has a non-zero zero point", g->values[d->in[0]].name);
    }
    if (kw->w->dtype != LP_F32 || lp_tensor_numel(kw->w) != n || (ns > 1 && (axis < 0 || axis >= q->ndim || q->dims[axis] != ns)))
        return lp_error(LOWP_ERR_INTERNAL, "weight '%s': its float weight does not match", g->values[d->in[0]].name);
    l->qmax = kw->qmax;
    LP_TRY(lp_tensor_new(LP_F32, q->ndim, q->dims, &l->floor_q));
    LP_TRY(lp_tensor_new(LP_F32, q->ndim, q->dims, &l->v));
    LP_TRY(lp_tensor_new(LP_F32, q->ndim, q->dims, &l->g));
    l->q0 = malloc((size_t)n + 1);
    l->up0 = malloc((size_t)n + 1);
    l->v0 = malloc(((size_t)n + 1) * sizeof *l->v0);
    if (!l->q0 || !l->up0 || !l->v0)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    const float *w = kw->w->data, *sc = s->data;
    float *fq = l->floor_q->data, *v = l->v->data;
    memcpy(l->q0, q->data, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        double r = (double)w[i] / sc[param_index(ns, q, axis, i)];
        if (!isfinite(r))
            r = 0;
        r = fmax(fmin(r, 1e6), -1e6);
        double f = floor(r), frac = r - f;
        fq[i] = (float)f;
        int q0 = l->q0[i];
        l->up0[i] = q0 > f;
        /* h = frac: the soft weight is the float one (AdaRound's start) -- on the side of 0.5 the
         * starting rounding took, so that a rounding learned per layer is where it starts */
        double h = l->up0[i] ? fmax(frac, 0.55) : fmin(frac, 0.45);
        if (f >= kw->qmax || f + 1 <= -kw->qmax)
            h = frac; /* clipped either way */
        double p = (h - GAMMA) / (ZETA - GAMMA); /* sigmoid(V) that makes h(V) = h */
        v[i] = l->v0[i] = (float)log(p / (1 - p));
        double back = fmax(fmin(f + l->up0[i], kw->qmax), -kw->qmax);
        if (back != q0)
            return lp_error(LOWP_ERR_INTERNAL, "weight '%s' element %lld: its integer %d is not a rounding of %g",
                            g->values[d->in[0]].name, (long long)i, q0, r);
    }
    /* the scale broadcast along the axis */
    int64_t bd[LP_MAX_DIMS];
    for (int k = 0; k < q->ndim; k++)
        bd[k] = ns > 1 && k == axis ? ns : 1;
    lp_tensor *sb = NULL, *fl = NULL;
    LP_TRY(lp_tensor_new(LP_F32, ns > 1 ? q->ndim : 0, bd, &sb));
    memcpy(sb->data, sc, (size_t)ns * sizeof(float));
    LP_TRY(lp_tensor_clone(l->floor_q, &fl));
    int out = d->out[0], vin, c12, cm, c0, c1, cf, cn, cp, cs, t;
    char name[600];
    snprintf(name, sizeof name, "%s_recon", g->nodes[di].name);
    g->nodes[di].dead = true;
    LP_TRY(lp_graph_new_value(g, name, &vin));
    g->values[vin].kind = LP_VALUE_INPUT;
    g->values[vin].dtype = LP_F32;
    g->values[vin].shape.ndim = q->ndim;
    memcpy(g->values[vin].shape.d, q->dims, (size_t)q->ndim * sizeof(int64_t));
    l->in_v = vin;
    LP_TRY(scalar(g, name, ZETA - GAMMA, &c12));
    LP_TRY(scalar(g, name, GAMMA, &cm));
    LP_TRY(scalar(g, name, 0, &c0));
    LP_TRY(scalar(g, name, 1, &c1));
    LP_TRY(scalar(g, name, -l->qmax, &cn));
    LP_TRY(scalar(g, name, l->qmax, &cp));
    LP_TRY(lp_qb_const(g, name, fl, &cf));
    LP_TRY(lp_qb_const(g, name, sb, &cs));
    LP_TRY(op(g, name, "Sigmoid", 1, (int[]){ vin }, -1, &t));
    LP_TRY(op(g, name, "Mul", 2, (int[]){ t, c12 }, -1, &t));
    LP_TRY(op(g, name, "Add", 2, (int[]){ t, cm }, -1, &t));
    LP_TRY(op(g, name, "Max", 2, (int[]){ t, c0 }, -1, &t));
    LP_TRY(op(g, name, "Min", 2, (int[]){ t, c1 }, -1, &t)); /* h(V) */
    LP_TRY(op(g, name, "Add", 2, (int[]){ t, cf }, -1, &t));
    LP_TRY(op(g, name, "Max", 2, (int[]){ t, cn }, -1, &t));
    LP_TRY(op(g, name, "Min", 2, (int[]){ t, cp }, -1, &t));
    return op(g, name, "Mul", 2, (int[]){ t, cs }, out, &t);
}

/* Block b of the quantized graph q: the nodes on paths from value `in` to value `out` (and the
 * constant-only nodes feeding them), as a graph of its own with inputs (in, V...) and output
 * out; every weight DequantizeLinear among them whose float weight is known gets learnable
 * rounding. *why is set (and LP_OK returned) when the block cannot be cut out. */
static lp_status block_build(const lp_graph *q, const char *in, const char *out, const lp_qweights *weights, block *b,
                             const char **why)
{
    *b = (block){ 0 };
    *why = NULL;
    LP_TRY(lp_graph_clone(q, &b->g));
    lp_graph *g = b->g;
    int x = lp_graph_find_value(g, in), y = lp_graph_find_value(g, out);
    if (x < 0 || y < 0) {
        *why = "its tensors are not in the quantized model";
        return LP_OK;
    }
    int nv = g->n_values, nn = g->n_nodes;
    bool *fv = calloc((size_t)nv + 1, 1), *need = calloc((size_t)nv + 1, 1), *cv = calloc((size_t)nv + 1, 1);
    bool *keep = calloc((size_t)nn + 1, 1);
    if (!fv || !need || !cv || !keep) {
        free(fv), free(need), free(cv), free(keep);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    fv[x] = true;
    for (int v = 0; v < nv; v++)
        cv[v] = g->values[v].kind == LP_VALUE_CONST;
    for (int i = 0; i < nn; i++) { /* forward from x; constant-only values */
        const lp_node *n = &g->nodes[i];
        bool f = false, c = !n->dead;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                f |= fv[n->in[k]], c &= cv[n->in[k]];
        for (int k = 0; !n->dead && k < n->n_out; k++)
            if (n->out[k] >= 0 && n->out[k] != x)
                fv[n->out[k]] |= f, cv[n->out[k]] |= c && !f;
    }
    need[y] = true;
    for (int i = nn - 1; i >= 0; i--) { /* backward from y */
        const lp_node *n = &g->nodes[i];
        bool nd = false, f = false, c = true;
        for (int k = 0; !n->dead && k < n->n_out; k++)
            nd |= n->out[k] >= 0 && n->out[k] != x && need[n->out[k]];
        if (!nd)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                f |= fv[n->in[k]], c &= cv[n->in[k]];
        if (!f && !c) {
            *why = "another path bypasses its input";
            break;
        }
        keep[i] = true;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                need[n->in[k]] = true;
    }
    free(fv), free(need), free(cv);
    if (*why) {
        free(keep);
        return LP_OK;
    }
    for (int i = 0; i < nn; i++)
        g->nodes[i].dead |= !keep[i];
    free(keep);
    lp_status st = LP_OK;
    for (int i = 0; i < nn && st == LP_OK; i++) { /* learnable rounding */
        const lp_node *n = &g->nodes[i];
        const lp_qweight *kw = lp_qweights_find(weights, n->name);
        if (n->dead || n->op != LP_OP_DequantizeLinear || !kw || n->n_in < 2 ||
            g->values[n->in[0]].kind != LP_VALUE_CONST || g->values[n->in[0]].init->dtype != LP_I8 ||
            g->values[n->in[1]].kind != LP_VALUE_CONST || g->values[n->in[1]].init->dtype != LP_F32)
            continue;
        layer *nl = realloc(b->l, (size_t)(b->n_layers + 1) * sizeof *nl);
        if (!nl)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        b->l = nl;
        layer *l = &b->l[b->n_layers++];
        *l = (layer){ .kw = kw, .dq = strdup(n->name) };
        st = l->dq ? soft_weight(g, i, kw, l) : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    LP_TRY(st);
    if (!b->n_layers) {
        *why = "no quantized weight inside";
        return LP_OK;
    }
    /* inputs (x, V...), output y */
    int *ins = malloc((size_t)(b->n_layers + 1) * sizeof *ins), *outs = malloc(sizeof *outs);
    if (!ins || !outs) {
        free(ins), free(outs);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    g->values[x].kind = LP_VALUE_INPUT;
    g->values[x].producer = -1;
    ins[0] = x;
    for (int k = 0; k < b->n_layers; k++)
        ins[k + 1] = b->l[k].in_v;
    for (int v = 0; v < g->n_values; v++)
        g->values[v].is_output = false;
    g->values[y].is_output = true;
    outs[0] = y;
    free(g->inputs), free(g->outputs);
    g->inputs = ins, g->n_inputs = b->n_layers + 1;
    g->outputs = outs, g->n_outputs = 1;
    char xn[512], yn[512];
    snprintf(xn, sizeof xn, "%s", in);
    snprintf(yn, sizeof yn, "%s", out);
    LP_TRY(lp_graph_compact(g));
    LP_TRY(lp_graph_toposort(g));
    b->x = lp_graph_find_value(g, xn);
    b->y = lp_graph_find_value(g, yn);
    for (int k = 0; k < b->n_layers; k++)
        b->l[k].in_v = g->inputs[k + 1];
    return LP_OK;
}

/* ---- optimization ---- */

/* Rows idx[0..n) of X (first axis) into a tensor with n rows. */
static lp_status gather_rows(const lp_tensor *x, const int64_t *idx, int64_t n, lp_tensor **out)
{
    int64_t d[LP_MAX_DIMS], re = lp_tensor_numel(x) / x->dims[0];
    memcpy(d, x->dims, (size_t)x->ndim * sizeof *d);
    d[0] = n;
    LP_TRY(lp_tensor_new(LP_F32, x->ndim, d, out));
    for (int64_t i = 0; i < n; i++)
        memcpy((float *)(*out)->data + i * re, (const float *)x->data + idx[i] * re, (size_t)re * sizeof(float));
    return LP_OK;
}

/* Runs the block on rows idx of X; with Y, the loss (squared error summed over channels, mean
 * over samples and positions) and, when dy is not NULL, its gradient; *sq the plain sum of
 * squared errors and *ref the sum of squared targets. */
static lp_status block_run(lp_tape *t, block *b, const lp_tensor *X, const lp_tensor *Y, const int64_t *idx, int64_t n,
                           bool backward, double *loss, double *sq, double *ref)
{
    lp_tensor *xb = NULL, *yb = NULL, *dy = NULL;
    lp_tensor **in = malloc((size_t)(b->n_layers + 1) * sizeof *in);
    if (!in)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = gather_rows(X, idx, n, &xb);
    if (st == LP_OK)
        st = gather_rows(Y, idx, n, &yb);
    in[0] = xb;
    for (int k = 0; k < b->n_layers; k++)
        in[k + 1] = b->l[k].v;
    if (st == LP_OK)
        st = lp_tape_forward(t, in, false, 0);
    const lp_tensor *yq = st == LP_OK ? lp_tape_value(t, b->y) : NULL;
    if (st == LP_OK && (!yq || yq->dtype != LP_F32 || lp_tensor_numel(yq) != lp_tensor_numel(yb)))
        st = lp_error(LOWP_ERR_INTERNAL, "block reconstruction: the block's output does not match the FP32 one");
    if (st == LP_OK && backward)
        st = lp_tensor_new(LP_F32, yq->ndim, yq->dims, &dy);
    if (st == LP_OK) {
        int64_t m = lp_tensor_numel(yb), pos = yb->ndim >= 2 && yb->dims[1] > 0 ? m / yb->dims[1] : m;
        const float *a = yq->data, *r = yb->data;
        double s = 0, rs = 0;
        for (int64_t i = 0; i < m; i++) {
            double e = (double)a[i] - r[i];
            s += e * e;
            rs += (double)r[i] * r[i];
            if (dy)
                ((float *)dy->data)[i] = (float)(2 * e / (double)pos);
        }
        *loss = s / (double)pos;
        *sq = s;
        *ref = rs;
    }
    if (st == LP_OK && backward) {
        int yv = b->y;
        const lp_tensor *g1[1] = { dy };
        st = lp_tape_backward(t, 1, &yv, g1);
    }
    lp_tensor_free(xb), lp_tensor_free(yb), lp_tensor_free(dy);
    free(in);
    return st;
}

/* Mean squared error per element over all N rows (and the targets' mean square). */
static lp_status block_error(lp_tape *t, block *b, const lp_tensor *X, const lp_tensor *Y, int batch, double *err,
                             double *ref_ms)
{
    int64_t N = X->dims[0];
    int64_t *idx = malloc((size_t)batch * sizeof *idx);
    if (!idx)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    double sq = 0, ref = 0;
    lp_status st = LP_OK;
    for (int64_t s = 0; s < N && st == LP_OK; s += batch) {
        int64_t n = N - s < batch ? N - s : batch;
        for (int64_t i = 0; i < n; i++)
            idx[i] = s + i;
        double l, a, r;
        st = block_run(t, b, X, Y, idx, n, false, &l, &a, &r);
        sq += a, ref += r;
    }
    free(idx);
    double m = (double)lp_tensor_numel(Y);
    *err = sq / m;
    *ref_ms = ref / m;
    return st;
}

/* V saturated to the rounding `up` (NULL: V >= 0 as it stands). */
static void harden(layer *l, const bool *up)
{
    float *v = l->v->data;
    for (int64_t i = 0; i < lp_tensor_numel(l->v); i++)
        v[i] = (up ? up[i] : v[i] >= 0) ? (float)HARD : (float)-HARD;
}

static lp_status optimize(lp_tape *t, block *b, const lp_tensor *X, const lp_tensor *Y, const lp_recon_options *o)
{
    int64_t N = X->dims[0], B = o->batch < N ? o->batch : N;
    int64_t *perm = malloc((size_t)N * sizeof *perm);
    lp_tensor **params = calloc((size_t)b->n_layers, sizeof *params), **grads = calloc((size_t)b->n_layers, sizeof *grads);
    lp_optim_state os;
    lp_status st = lp_optim_state_init(&os, b->n_layers);
    if (!perm || !params || !grads) {
        free(perm), free(params), free(grads);
        lp_optim_state_free(&os);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    lp_optim_options oo = lp_optim_options_default();
    oo.kind = LP_OPTIM_ADAM;
    oo.lr = o->lr;
    for (int k = 0; k < b->n_layers; k++)
        params[k] = b->l[k].v, grads[k] = b->l[k].g;
    uint64_t rng = o->seed;
    int64_t pos = N;
    int warm = (int)(o->warmup * o->iterations);
    for (int it = 0; it < o->iterations && st == LP_OK; it++) {
        if (pos + B > N) { /* a new shuffled pass over the samples */
            for (int64_t i = 0; i < N; i++)
                perm[i] = i;
            for (int64_t i = N - 1; i > 0; i--) {
                int64_t j = (int64_t)(splitmix(&rng) % (uint64_t)(i + 1)), tmp = perm[i];
                perm[i] = perm[j], perm[j] = tmp;
            }
            pos = 0;
        }
        double loss, sq, ref;
        st = block_run(t, b, X, Y, perm + pos, B, true, &loss, &sq, &ref);
        pos += B;
        double beta = 0;
        if (it >= warm) { /* linear from BETA_START to BETA_END over the steps after warm-up */
            double rel = (double)(it - warm) / (double)(o->iterations - warm > 0 ? o->iterations - warm : 1);
            beta = BETA_END + (BETA_START - BETA_END) * fmax(0.0, 1 - rel);
        }
        for (int k = 0; k < b->n_layers && st == LP_OK; k++) {
            layer *l = &b->l[k];
            const lp_tensor *tg = lp_tape_grad(t, l->in_v);
            float *g = l->g->data;
            const float *v = l->v->data;
            int64_t n = lp_tensor_numel(l->v);
            if (tg)
                memcpy(g, tg->data, (size_t)n * sizeof(float));
            else
                memset(g, 0, (size_t)n * sizeof(float));
            for (int64_t i = 0; beta > 0 && i < n; i++) { /* d/dV of reg * sum(1 - |2h - 1|^beta) */
                double sg = 1 / (1 + exp(-(double)v[i])), h = sg * (ZETA - GAMMA) + GAMMA;
                if (h <= 0 || h >= 1)
                    continue;
                double u = 2 * h - 1, du = -beta * pow(fabs(u), beta - 1) * (u < 0 ? -1 : 1) * 2;
                g[i] += (float)(o->reg * du * (ZETA - GAMMA) * sg * (1 - sg));
            }
        }
        if (st == LP_OK)
            st = lp_optim_step(&oo, &os, o->lr, params, grads, b->n_layers);
    }
    free(perm), free(params), free(grads);
    lp_optim_state_free(&os);
    return st;
}

/* Writes the block's hard rounding into the quantized graph's weight constants. */
static lp_status write_back(lp_graph *q, const block *b)
{
    for (int k = 0; k < b->n_layers; k++) {
        const layer *l = &b->l[k];
        int di = -1;
        for (int i = 0; i < q->n_nodes && di < 0; i++)
            if (!q->nodes[i].dead && !strcmp(q->nodes[i].name, l->dq))
                di = i;
        if (di < 0)
            return lp_error(LOWP_ERR_INTERNAL, "block reconstruction: node '%s' vanished", l->dq);
        lp_tensor *qt = q->values[q->nodes[di].in[0]].init;
        int8_t *qd = qt->data;
        const float *f = l->floor_q->data, *v = l->v->data;
        for (int64_t i = 0; i < lp_tensor_numel(qt); i++) {
            double r = fmax(fmin((double)f[i] + (v[i] >= 0), l->qmax), -l->qmax);
            qd[i] = (int8_t)r;
        }
    }
    return LP_OK;
}

static void shorten(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len < n)
        memcpy(dst, src, len + 1);
    else
        snprintf(dst, n, "...%s", src + len - (n - 4));
}

lp_status lp_block_reconstruct(const lp_graph *fp32, lp_graph *qdq, const lp_qweights *weights,
                               const lp_calib_kept *kept, const lp_recon_options *opt, lp_recon_report *report)
{
    lp_recon_options o = opt ? *opt : lp_recon_options_default();
    if (o.iterations < 0 || o.batch < 1 || !(o.lr > 0) || !(o.reg >= 0) || !(o.warmup >= 0 && o.warmup <= 1) ||
        o.max_layers < 1)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "block reconstruction: bad options (iterations %d, batch %d, lr %g)",
                        o.iterations, o.batch, o.lr);
    if (!kept || !kept->n_batches)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "block reconstruction needs the calibration samples: prepare the "
                                                   "calibration with lowp_calibration_for_recipe before feeding it");
    if (report)
        *report = (lp_recon_report){ 0 };
    double t0 = now_s();
    span *sp = NULL;
    int n_sp = 0;
    LP_TRY(find_spans(fp32, weights, o.max_layers, &sp, &n_sp));
    lp_recon_block *rb = calloc((size_t)n_sp + 1, sizeof *rb);
    if (!rb) {
        free(sp);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    lp_status st = LP_OK;
    int64_t samples = 0;
    int n_layers = 0;
    for (int s = 0; s < n_sp && st == LP_OK; s++) {
        const char *in = fp32->values[sp[s].in].name, *out = fp32->values[sp[s].out].name;
        lp_recon_block *r = &rb[s];
        shorten(r->in, sizeof r->in, in);
        shorten(r->out, sizeof r->out, out);
        r->err_before = r->err_after = r->rel_before = r->rel_after = NAN;
        block b;
        const char *why = NULL;
        st = block_build(qdq, in, out, weights, &b, &why);
        if (st == LP_OK && why)
            snprintf(r->skipped, sizeof r->skipped, "%s", why);
        lp_tensor *X = NULL, *Y = NULL;
        lp_tape *t = NULL;
        if (st == LP_OK && !why) {
            r->n_layers = b.n_layers;
            st = collect(fp32, kept, out, LP_CALIB_KEEP_SAMPLES, &Y);
            int64_t row = Y ? lp_tensor_numel(Y) / Y->dims[0] : 0;
            if (st == LP_OK)
                st = collect(qdq, kept, in, LP_CALIB_KEEP_SAMPLES, &X);
            if (st == LP_OK && X->dims[0] != Y->dims[0])
                st = lp_error(LOWP_ERR_INTERNAL, "block reconstruction: %lld inputs for %lld targets",
                              (long long)X->dims[0], (long long)Y->dims[0]);
            if (st == LP_OK) { /* bound the memory: fewer samples for wide tensors */
                int64_t xrow = lp_tensor_numel(X) / X->dims[0], cap = LP_RECON_MAX_BYTES / (4 * (xrow + row));
                if (cap < 1)
                    cap = 1;
                if (X->dims[0] > cap)
                    X->dims[0] = Y->dims[0] = cap;
                samples = X->dims[0];
            }
            lp_tape_options to = { .grad_inputs = true };
            if (st == LP_OK)
                st = lp_tape_create(b.g, &to, &t);
            double ref = 0;
            for (int k = 0; k < b.n_layers; k++)
                harden(&b.l[k], b.l[k].up0);
            if (st == LP_OK)
                st = block_error(t, &b, X, Y, o.batch, &r->err_before, &ref);
            for (int k = 0; k < b.n_layers; k++) /* from the soft weights equal to the float ones */
                memcpy(b.l[k].v->data, b.l[k].v0, (size_t)lp_tensor_numel(b.l[k].v) * sizeof(float));
            if (st == LP_OK)
                st = optimize(t, &b, X, Y, &o);
            for (int k = 0; k < b.n_layers; k++)
                harden(&b.l[k], NULL);
            if (st == LP_OK)
                st = block_error(t, &b, X, Y, o.batch, &r->err_after, &ref);
            if (st == LP_OK) {
                r->rel_before = ref > 0 ? r->err_before / ref : NAN;
                r->rel_after = ref > 0 ? r->err_after / ref : NAN;
                r->changed = r->err_after < r->err_before;
                if (r->changed) {
                    st = write_back(qdq, &b);
                    n_layers += b.n_layers;
                } else {
                    r->err_after = r->err_before, r->rel_after = r->rel_before;
                }
            }
        }
        lp_tape_free(t);
        lp_tensor_free(X), lp_tensor_free(Y);
        block_free(&b);
        if (o.progress)
            o.progress(o.progress_user, s + 1, n_sp);
    }
    free(sp);
    if (st != LP_OK || !report) {
        free(rb);
        return st;
    }
    report->n_blocks = n_sp;
    report->blocks = rb;
    report->samples = samples;
    report->n_layers = n_layers;
    report->seconds = now_s() - t0;
    return LP_OK;
}
