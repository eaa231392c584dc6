/* control.c — the engine's control-flow kernel: If, Loop and Scan (opset 9+) run their bodies
 * as sub-plans compiled by this same engine (fast kernels, fusion, memory planning), compiled
 * once per body input shapes and cached (a session per body).
 *
 * Each body is prepared once per plan: the enclosing plan's constants it reads become the
 * body's own constants (views, no copy), its other outer values become extra body inputs fed
 * at run time. An If whose condition is known at compile time never gets here: the plan
 * inlines its branch. A step whose outputs' shapes are known only at run time (a Loop's scan
 * outputs, an If whose branches differ) points its output headers at memory it owns, valid
 * until its next run (lp_kernel.sizes_outputs). */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/session.h"
#include "ir/infer.h"

typedef struct body {
    lowp_session *s;
    int n_own;              /* the body's own inputs (Loop: 2 + N, Scan: N + M, If: 0) */
    int n_fed;              /* outer values fed at run time, after the own inputs */
    int *fed_slot;          /* their implicit-input slots */
} body;

typedef struct buf {        /* a growable tensor the step owns */
    lp_tensor t;
    size_t cap;
} buf;

typedef struct cf_state {
    int op;
    int n_bodies;
    body bodies[2];         /* If: then, else; Loop, Scan: body */
    bool dynamic;           /* outputs sized at run time */
    int n_out;
    buf *outs;              /* per output (dynamic outputs, and Loop/Scan results) */
    buf *carried[2];        /* Loop/Scan: loop-carried values, double-buffered */
    buf *slices;            /* Scan: the current slice of each scan input */
    const lp_tensor **feed; /* inputs to a body plan */
    int n_feed;
} cf_state;

static lp_status oom(void) { return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing control flow"); }

static bool cf_supports(const lp_graph *g, int ni)
{
    const lp_node *n = &g->nodes[ni];
    if (n->op == LP_OP_If)
        return lp_node_subgraph(n, "then_branch") && lp_node_subgraph(n, "else_branch");
    if (n->op == LP_OP_Loop)
        return lp_node_subgraph(n, "body") != NULL;
    if (n->op == LP_OP_Scan)
        return lp_graph_opset(g, n->domain) >= 9 && lp_node_subgraph(n, "body") != NULL;
    return false;
}

/* Grows b to hold `dtype[dims]` and sets its header. */
static lp_status buf_fit(buf *b, lp_dtype dt, int ndim, const int64_t *dims)
{
    size_t need = (size_t)lp_numel(ndim, dims) * lp_dtype_traits_of(dt)->size;
    if (need > b->cap || !b->t.data) {
        void *q = realloc(b->cap ? b->t.data : NULL, need ? need : 1);
        if (!q)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory running control flow (%zu bytes)", need);
        b->t.data = q;
        b->cap = need ? need : 1; /* nonzero: the buffer is ours to free */
    }
    void *data = b->t.data;
    lp_tensor_view(&b->t, dt, ndim, dims, data);
    return LP_OK;
}

static lp_status buf_copy(buf *b, const lp_tensor *t)
{
    LP_TRY(buf_fit(b, t->dtype, t->ndim, t->dims));
    if (t->nbytes)
        memcpy(b->t.data, t->data, t->nbytes);
    return LP_OK;
}

static void bufs_free(buf *b, int n)
{
    for (int i = 0; b && i < n; i++)
        if (b[i].cap)
            free(b[i].t.data);
    free(b);
}

/* The body graph as a standalone graph: constants of `g` it reads become its constants,
 * the other outer values extra inputs. */
static lp_status make_body(const lp_graph *g, const lp_node *n, const lp_graph *src, const lp_plan_options *po,
                           body *b)
{
    lp_graph *c = NULL;
    LP_TRY(lp_graph_clone_shared(src, &c));
    lp_status st = LP_OK;
    int ne = lp_node_n_explicit(n);
    b->n_own = c->n_inputs;
    if (!(b->fed_slot = malloc(((size_t)c->n_outer + 1) * sizeof *b->fed_slot)))
        st = oom();
    int *inputs = st == LP_OK ? realloc(c->inputs, ((size_t)(c->n_inputs + c->n_outer) + 1) * sizeof *inputs) : NULL;
    if (st == LP_OK && !inputs)
        st = oom();
    if (inputs)
        c->inputs = inputs;
    for (int j = 0; st == LP_OK && j < c->n_outer; j++) {
        const lp_value *ov = &g->values[n->in[ne + j]];
        int v = c->outer[j];
        if (ov->kind == LP_VALUE_CONST) {
            lp_tensor *t = malloc(sizeof *t);
            if (!t) {
                st = oom();
                break;
            }
            *t = *ov->init;
            t->owns_data = false; /* the enclosing plan's constant outlives this body */
            lp_graph_set_const(c, v, t);
            continue;
        }
        c->values[v].kind = LP_VALUE_INPUT;
        c->values[v].dtype = ov->dtype;
        c->values[v].shape = ov->shape;
        c->inputs[c->n_inputs++] = v;
        b->fed_slot[b->n_fed++] = j;
    }
    if (st == LP_OK) {
        free(c->outer);
        c->outer = NULL;
        c->n_outer = 0;
        st = lp_session_create_sub(c, po, &b->s);
    }
    lp_graph_free(c);
    if (st != LP_OK)
        return lp_node_error(n, st, "preparing its body: %s", lowp_last_error());
    return LP_OK;
}

static void cf_release(void *state)
{
    cf_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < s->n_bodies; i++) {
        lowp_session_free(s->bodies[i].s);
        free(s->bodies[i].fed_slot);
    }
    bufs_free(s->outs, s->n_out);
    bufs_free(s->carried[0], s->n_out);
    bufs_free(s->carried[1], s->n_out);
    bufs_free(s->slices, s->n_feed);
    free(s->feed);
    free(s);
}

static lp_status cf_prepare_step(const lp_prep_ctx *pc, void **state_out)
{
    const lp_graph *g = pc->g;
    const lp_node *n = &g->nodes[pc->nodes[0]];
    cf_state *s = calloc(1, sizeof *s);
    if (!s)
        return oom();
    s->op = n->op;
    s->dynamic = n->dynamic;
    s->n_out = n->n_out;
    lp_plan_options po = pc->plan->opt;
    po.no_fuse = false;
    po.precision = pc->precision;
    const char *names[2] = { "then_branch", "else_branch" };
    if (n->op != LP_OP_If)
        names[0] = "body";
    s->n_bodies = n->op == LP_OP_If ? 2 : 1;
    lp_status st = LP_OK;
    int most = 0;
    for (int i = 0; i < s->n_bodies && st == LP_OK; i++) {
        st = make_body(g, n, lp_node_subgraph(n, names[i]), &po, &s->bodies[i]);
        int k = s->bodies[i].n_own + s->bodies[i].n_fed;
        most = k > most ? k : most;
    }
    s->n_feed = most;
    if (st == LP_OK && (!(s->feed = calloc((size_t)most + 1, sizeof *s->feed)) ||
                        !(s->outs = calloc((size_t)s->n_out + 1, sizeof *s->outs)) ||
                        !(s->carried[0] = calloc((size_t)s->n_out + 1, sizeof *s->carried[0])) ||
                        !(s->carried[1] = calloc((size_t)s->n_out + 1, sizeof *s->carried[1])) ||
                        !(s->slices = calloc((size_t)most + 1, sizeof *s->slices))))
        st = oom();
    if (st != LP_OK) {
        cf_release(s);
        return st;
    }
    *state_out = s;
    return LP_OK;
}

static lp_status cf_prepare(const lp_graph *g, int ni, void **state_out)
{
    (void)g; (void)ni; (void)state_out;
    return lp_error(LOWP_ERR_INTERNAL, "control flow is prepared with its plan (prepare_step)");
}

/* Runs body b with its own inputs `own` (b->n_own) and the step's outer values; *plan_out has
 * the results in (*plan_out)->vals[outputs]. */
static lp_status run_body(cf_state *s, body *b, const lp_run_ctx *c, const lp_tensor *const *own, lp_plan **plan_out)
{
    int ne = lp_node_n_explicit(c->node);
    for (int i = 0; i < b->n_own; i++)
        s->feed[i] = own[i];
    for (int j = 0; j < b->n_fed; j++)
        s->feed[b->n_own + j] = c->in[ne + b->fed_slot[j]];
    lp_plan *p;
    lp_tap_fn tap;
    void *user;
    lp_plan_current_tap(&tap, &user); /* calibration and comparisons see the body's values */
    LP_TRY(lp_session_plan(b->s, s->feed, &p));
    for (int i = 0; tap && i < b->n_own; i++) /* and its own inputs: a scan slice, a carried value */
        LP_TRY(tap(user, p, -1, p->g->inputs[i], own[i]));
    LP_TRY(lp_plan_run(p, s->feed, tap, user));
    *plan_out = p;
    return LP_OK;
}

static const lp_tensor *result(const lp_plan *p, int k) { return &p->vals[p->g->outputs[k]]; }

/* Hands output k to the step's readers: copied into the arena when its shape was known at
 * compile time, else the header points at `t` (owned by this step or its body plans). */
static lp_status deliver(cf_state *s, const lp_run_ctx *c, int k, const lp_tensor *t)
{
    lp_tensor *dst = c->out[k];
    if (!dst)
        return LP_OK;
    if (s->dynamic) {
        lp_tensor_view(dst, t->dtype, t->ndim, t->dims, t->data);
        return LP_OK;
    }
    if (dst->dtype != t->dtype || dst->ndim != t->ndim || dst->nbytes != t->nbytes ||
        memcmp(dst->dims, t->dims, (size_t)t->ndim * sizeof *t->dims) != 0)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "output %d: the body returned another shape than inferred", k);
    if (t->nbytes && dst->data != t->data)
        memcpy(dst->data, t->data, t->nbytes);
    return LP_OK;
}

static lp_status read_flag(const lp_node *n, const lp_tensor *t, bool *out)
{
    if (lp_tensor_numel(t) != 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "a condition must hold one value, has %lld", (long long)lp_tensor_numel(t));
    *out = lp_tensor_get(t, 0) != 0;
    return LP_OK;
}

static lp_status run_if(cf_state *s, const lp_run_ctx *c)
{
    bool cond;
    LP_TRY(read_flag(c->node, c->in[0], &cond));
    lp_plan *p;
    LP_TRY(run_body(s, &s->bodies[cond ? 0 : 1], c, NULL, &p));
    for (int k = 0; k < c->n_out; k++)
        LP_TRY(deliver(s, c, k, result(p, k)));
    return LP_OK;
}

static lp_status scalar_buf(buf *b, lp_dtype dt, double v)
{
    LP_TRY(buf_fit(b, dt, 0, NULL));
    lp_dtype_traits_of(dt)->set(b->t.data, 0, v);
    return LP_OK;
}

/* Appends t as row `row` of scan accumulator b ([rows, ...t's shape]). */
static lp_status append_row(const lp_node *n, buf *b, int64_t row, const lp_tensor *t)
{
    if (t->ndim + 1 > LP_MAX_DIMS)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "a scan output would have more than %d dims", LP_MAX_DIMS);
    if (row > 0 && (b->t.dtype != t->dtype || b->t.ndim != t->ndim + 1 ||
                    memcmp(b->t.dims + 1, t->dims, (size_t)t->ndim * sizeof *t->dims) != 0))
        return lp_node_error(n, LOWP_ERR_SHAPE, "a scan output changes shape at iteration %lld", (long long)row);
    int64_t dims[LP_MAX_DIMS];
    dims[0] = row + 1;
    memcpy(dims + 1, t->dims, (size_t)t->ndim * sizeof *dims);
    size_t need = (size_t)(row + 1) * t->nbytes;
    if (need > b->cap) { /* grow geometrically: a loop appends a row per iteration */
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
            cap *= 2;
        void *q = realloc(b->cap ? b->t.data : NULL, cap);
        if (!q)
            return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory: a scan output needs %zu bytes", need);
        b->t.data = q;
        b->cap = cap;
    }
    void *data = b->t.data;
    lp_tensor_view(&b->t, t->dtype, t->ndim + 1, dims, data);
    if (t->nbytes)
        memcpy((uint8_t *)data + (size_t)row * t->nbytes, t->data, t->nbytes);
    return LP_OK;
}

static lp_status run_loop(cf_state *s, const lp_run_ctx *c)
{
    const lp_node *n = c->node;
    int ne = lp_node_n_explicit(n), N = ne - 2, K = c->n_out - N;
    body *b = &s->bodies[0];
    int64_t trip = c->in[0] ? lp_tensor_get_int(c->in[0], 0) : INT64_MAX;
    bool cond = true;
    if (c->in[0] && lp_tensor_numel(c->in[0]) != 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "the trip count must hold one value");
    if (c->in[1])
        LP_TRY(read_flag(n, c->in[1], &cond));
    const lp_tensor *own[LP_MAX_NODE_IO];
    if (N + 2 > (int)(sizeof own / sizeof own[0]))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "more than %d loop-carried values", (int)(sizeof own / sizeof own[0]) - 2);
    buf iter = { 0 }, flag = { 0 };
    lp_status st = LP_OK;
    int cur = 0;
    for (int j = 0; j < N; j++)
        own[2 + j] = c->in[2 + j];
    int64_t i = 0;
    for (; st == LP_OK && i < trip && cond; i++) {
        if ((st = scalar_buf(&iter, LP_I64, (double)i)) != LP_OK || (st = scalar_buf(&flag, LP_BOOL, 1)) != LP_OK)
            break;
        own[0] = &iter.t;
        own[1] = &flag.t;
        lp_plan *p;
        if ((st = run_body(s, b, c, own, &p)) != LP_OK) {
            st = lp_error_prefix(st, "node '%s' (Loop) iteration %lld", n->name, (long long)i);
            break;
        }
        if ((st = read_flag(n, result(p, 0), &cond)) != LP_OK)
            break;
        /* the next iteration reads these while the body plan rewrites its memory: copy */
        for (int j = 0; j < N && st == LP_OK; j++) {
            st = buf_copy(&s->carried[cur][j], result(p, 1 + j));
            own[2 + j] = &s->carried[cur][j].t;
        }
        for (int k = 0; k < K && st == LP_OK; k++)
            st = append_row(n, &s->outs[N + k], i, result(p, 1 + N + k));
        cur ^= 1;
    }
    if (iter.cap)
        free(iter.t.data);
    if (flag.cap)
        free(flag.t.data);
    for (int j = 0; j < N && st == LP_OK; j++)
        st = deliver(s, c, j, own[2 + j]);
    for (int k = 0; k < K && st == LP_OK; k++) {
        if (i == 0 && !s->dynamic && c->out[N + k]) { /* no iteration, as the compile knew */
            const lp_tensor *d = c->out[N + k];
            st = buf_fit(&s->outs[N + k], d->dtype, d->ndim, d->dims);
        } else if (i == 0) { /* no iteration: rows of the body's declared shape, zero of them */
            const lp_graph *bg = b->s->g;
            const lp_value *v = &bg->values[bg->outputs[1 + N + k]];
            int64_t dims[LP_MAX_DIMS] = { 0 };
            int r = lp_shape_static(&v->shape) && v->shape.ndim < LP_MAX_DIMS ? v->shape.ndim : 0;
            memcpy(dims + 1, v->shape.d, (size_t)r * sizeof *dims);
            st = buf_fit(&s->outs[N + k], v->dtype ? v->dtype : LP_F32, r + 1, dims);
        }
        if (st == LP_OK)
            st = deliver(s, c, N + k, &s->outs[N + k].t);
    }
    return st;
}


static int64_t attr_at(const lp_node *n, const char *name, int i, int64_t dflt)
{
    const int64_t *v;
    int cnt = lp_attr_ints(n, name, &v);
    return cnt > i ? v[i] : dflt;
}

static lp_status run_scan(cf_state *s, const lp_run_ctx *c)
{
    const lp_node *n = c->node;
    int ne = lp_node_n_explicit(n), M = (int)lp_attr_int(n, "num_scan_inputs", -1), N = ne - M, K = c->n_out - N;
    body *b = &s->bodies[0];
    if (M < 1 || N < 0 || K < 0 || b->n_own != N + M || N + M > s->n_feed)
        return lp_node_error(n, LOWP_ERR_FORMAT, "num_scan_inputs %d does not fit the node and its body", M);
    int axes[LP_MAX_NODE_IO];
    if (M > (int)(sizeof axes / sizeof axes[0]))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "too many scan inputs");
    int64_t seq = -1;
    for (int j = 0; j < M; j++) {
        const lp_tensor *x = c->in[N + j];
        int64_t a = attr_at(n, "scan_input_axes", j, 0);
        a += a < 0 ? x->ndim : 0;
        if (a < 0 || a >= x->ndim)
            return lp_node_error(n, LOWP_ERR_FORMAT, "scan input %d: axis out of range", j);
        if (seq >= 0 && x->dims[a] != seq)
            return lp_node_error(n, LOWP_ERR_SHAPE, "scan inputs have different sequence lengths");
        seq = x->dims[a];
        axes[j] = (int)a;
    }
    const lp_tensor *own[LP_MAX_NODE_IO];
    if (N + M > (int)(sizeof own / sizeof own[0]))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "too many states and scan inputs");
    for (int j = 0; j < N; j++)
        own[j] = c->in[j];
    lp_status st = LP_OK;
    int cur = 0;
    for (int64_t t = 0; t < seq && st == LP_OK; t++) {
        for (int j = 0; j < M && st == LP_OK; j++) {
            const lp_tensor *x = c->in[N + j];
            int64_t dims[LP_MAX_DIMS];
            for (int i = 0, q = 0; i < x->ndim; i++)
                if (i != axes[j])
                    dims[q++] = x->dims[i];
            if ((st = buf_fit(&s->slices[j], x->dtype, x->ndim - 1, dims)) != LP_OK)
                break;
            int64_t idx = attr_at(n, "scan_input_directions", j, 0) == 1 ? seq - 1 - t : t;
            lp_tensor_slice_copy((lp_tensor *)x, axes[j], idx, &s->slices[j].t, false);
            own[N + j] = &s->slices[j].t;
        }
        lp_plan *p;
        if (st != LP_OK || (st = run_body(s, b, c, own, &p)) != LP_OK) {
            st = st == LP_OK ? st : lp_error_prefix(st, "node '%s' (Scan) step %lld", n->name, (long long)t);
            break;
        }
        for (int j = 0; j < N && st == LP_OK; j++) {
            st = buf_copy(&s->carried[cur][j], result(p, j));
            own[j] = &s->carried[cur][j].t;
        }
        for (int k = 0; k < K && st == LP_OK; k++) {
            const lp_tensor *y = result(p, N + k);
            int r = y->ndim + 1;
            int64_t a = attr_at(n, "scan_output_axes", k, 0);
            a += a < 0 ? r : 0;
            if (a < 0 || a >= r || r > LP_MAX_DIMS) {
                st = lp_node_error(n, LOWP_ERR_FORMAT, "scan output %d: axis out of range", k);
                break;
            }
            int64_t dims[LP_MAX_DIMS];
            for (int i = 0, q = 0; i < r; i++)
                dims[i] = i == a ? seq : y->dims[q++];
            buf *o = &s->outs[N + k];
            if (t == 0)
                st = buf_fit(o, y->dtype, r, dims);
            else if (o->t.dtype != y->dtype || o->t.ndim != r || memcmp(o->t.dims, dims, (size_t)r * sizeof *dims) != 0)
                st = lp_node_error(n, LOWP_ERR_SHAPE, "scan output %d changes shape at step %lld", k, (long long)t);
            if (st == LP_OK) {
                int64_t idx = attr_at(n, "scan_output_directions", k, 0) == 1 ? seq - 1 - t : t;
                lp_tensor_slice_copy(&o->t, (int)a, idx, (lp_tensor *)y, true);
            }
        }
        cur ^= 1;
    }
    for (int j = 0; j < N && st == LP_OK; j++)
        st = deliver(s, c, j, own[j]);
    for (int k = 0; k < K && st == LP_OK; k++) {
        if (seq == 0)
            st = lp_node_error(n, LOWP_ERR_SHAPE, "scan inputs of length 0 are not supported");
        else
            st = deliver(s, c, N + k, &s->outs[N + k].t);
    }
    return st;
}

static lp_status cf_run(void *state, const lp_run_ctx *c)
{
    cf_state *s = state;
    if (s->op == LP_OP_If)
        return run_if(s, c);
    if (s->op == LP_OP_Loop)
        return run_loop(s, c);
    return run_scan(s, c);
}

static const char *cf_describe(void *state)
{
    const cf_state *s = state;
    return s->op == LP_OP_If ? "branches as sub-plans" : "body as a sub-plan";
}

const lp_kernel lp_kernel_control = {
    .name = "control",
    .supports = cf_supports,
    .prepare = cf_prepare,
    .run = cf_run,
    .release = cf_release,
    .prepare_step = cf_prepare_step,
    .describe = cf_describe,
    .sizes_outputs = true,
};
