/* control.c — If, Loop and Scan: shape inference into their bodies and reference kernels that
 * run the bodies with the plain interpreter (ir/subgraph.h).
 *
 * Inputs are the node's explicit ones followed by its implicit ones (the enclosing graph's
 * values its subgraphs read, bound to each body's outer values by position). When every input
 * is known at inference time, `infer` runs the node outright (that is constant folding); the
 * engine runs these ops on sub-plans of its own (engine/control.c), not through `run`. */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "ir/infer.h"
#include "ir/subgraph.h"
#include "ops/op.h"

static lp_status oom(const lp_node *n) { return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory"); }

static const lp_graph *body_of(const lp_node *n, const char *attr, lp_status *st)
{
    const lp_graph *g = lp_node_subgraph(n, attr);
    if (!g)
        *st = lp_node_error(n, LOWP_ERR_FORMAT, "has no graph attribute '%s'", attr);
    else if (g->n_outer != n->n_implicit)
        *st = lp_node_error(n, LOWP_ERR_INTERNAL, "'%s' has %d outer values for %d implicit inputs", attr,
                            g->n_outer, n->n_implicit);
    return g;
}

static bool all_known(const lp_infer_ctx *c)
{
    for (int k = 0; k < c->n_in; k++)
        if (c->in[k] && !c->in[k]->value)
            return false;
    return true;
}

/* The same shape where a and b agree, unknown where they differ. */
static void merge_shapes(lp_shape *a, const lp_shape *b)
{
    if (a->ndim != b->ndim) {
        a->ndim = -1;
        return;
    }
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i])
            a->d[i] = LP_DIM_UNKNOWN;
}

static lp_status read_bool(const lp_node *n, const lp_tensor *t, const char *what, bool *out)
{
    if (lp_tensor_numel(t) != 1)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%s must hold one value, has %lld", what,
                             (long long)lp_tensor_numel(t));
    *out = lp_tensor_get(t, 0) != 0;
    return LP_OK;
}

/* Runs the op through `exec` and copies the results into the preallocated outputs. */
typedef lp_status (*exec_fn)(const lp_node *n, int64_t opset, int n_in, const lp_tensor *const *in, lp_tensor **outs);

static lp_status run_into(const lp_run_ctx *c, exec_fn exec)
{
    lp_tensor *outs[LP_MAX_DIMS * 32] = { 0 };
    if (c->n_out > (int)(sizeof outs / sizeof outs[0]))
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "too many outputs");
    LP_TRY(exec(c->node, c->opset, c->n_in, c->in, outs));
    lp_status st = LP_OK;
    for (int k = 0; k < c->n_out; k++) {
        lp_tensor *dst = c->out[k];
        if (!dst || st != LP_OK)
            continue;
        if (dst->ndim != outs[k]->ndim || dst->dtype != outs[k]->dtype || dst->nbytes != outs[k]->nbytes ||
            memcmp(dst->dims, outs[k]->dims, (size_t)dst->ndim * sizeof *dst->dims) != 0)
            st = lp_node_error(c->node, LOWP_ERR_SHAPE, "output %d has a shape only known at run time", k);
        else if (dst->nbytes)
            memcpy(dst->data, outs[k]->data, dst->nbytes);
    }
    for (int k = 0; k < c->n_out; k++)
        lp_tensor_free(outs[k]);
    return st;
}

/* infer's outright answer: runs exec on the known input values. */
static lp_status infer_by_running(lp_infer_ctx *c, exec_fn exec)
{
    const lp_tensor *in[1024];
    lp_tensor *outs[1024] = { 0 };
    if (c->n_in > 1024 || c->n_out > 1024)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "too many inputs or outputs");
    for (int k = 0; k < c->n_in; k++)
        in[k] = c->in[k] ? c->in[k]->value : NULL;
    LP_TRY(exec(c->node, c->opset, c->n_in, in, outs));
    for (int k = 0; k < c->n_out; k++) {
        if (!outs[k])
            continue;
        c->out[k].dtype = outs[k]->dtype;
        lp_shape_of(outs[k], &c->out[k].shape);
        c->out[k].value = outs[k];
    }
    return LP_OK;
}

/* ---- If ---- */

static lp_status if_exec(const lp_node *n, int64_t opset, int n_in, const lp_tensor *const *in, lp_tensor **outs)
{
    (void)opset; (void)n_in;
    bool cond;
    if (!in[0])
        return lp_node_error(n, LOWP_ERR_FORMAT, "has no condition");
    LP_TRY(read_bool(n, in[0], "the condition", &cond));
    lp_status st = LP_OK;
    const lp_graph *b = body_of(n, cond ? "then_branch" : "else_branch", &st);
    if (!b)
        return st;
    st = lp_subgraph_run(b, in + lp_node_n_explicit(n), NULL, outs);
    return st == LP_OK ? LP_OK : lp_error_prefix(st, "node '%s' (If) %s", n->name, cond ? "then_branch" : "else_branch");
}

static lp_status if_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    lp_status st = LP_OK;
    const lp_graph *t = body_of(n, "then_branch", &st), *e = t ? body_of(n, "else_branch", &st) : NULL;
    if (!t || !e)
        return st;
    if (t->n_outputs != c->n_out || e->n_outputs != c->n_out)
        return lp_node_error(n, LOWP_ERR_FORMAT, "has %d outputs; then_branch returns %d, else_branch %d", c->n_out,
                             t->n_outputs, e->n_outputs);
    if (all_known(c))
        return infer_by_running(c, if_exec);
    const lp_vinfo *const *outer = c->in + lp_node_n_explicit(n);
    const lp_vinfo *cond = c->in[0];
    if (cond && cond->value) {
        bool v;
        LP_TRY(read_bool(n, cond->value, "the condition", &v));
        return lp_subgraph_infer(v ? t : e, outer, NULL, c->out);
    }
    lp_vinfo *other = calloc((size_t)c->n_out + 1, sizeof *other);
    if (!other)
        return oom(n);
    st = lp_subgraph_infer(t, outer, NULL, c->out);
    if (st == LP_OK && (st = lp_subgraph_infer(e, outer, NULL, other)) != LP_OK)
        lp_vinfo_release(c->out, c->n_out);
    for (int k = 0; st == LP_OK && k < c->n_out; k++) {
        if (!c->out[k].dtype)
            c->out[k].dtype = other[k].dtype;
        merge_shapes(&c->out[k].shape, &other[k].shape);
    }
    if (st == LP_OK) { /* a value from one branch is not the If's value */
        lp_vinfo_release(c->out, c->n_out);
        lp_vinfo_release(other, c->n_out);
    }
    free(other);
    return st;
}

static lp_status if_run(const lp_run_ctx *c) { return run_into(c, if_exec); }

const lp_op_def lp_opdef_If = { .name = "If", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1024,
                                .infer = if_infer, .run = if_run };

/* ---- Loop ---- */

/* Stacks `n` tensors of one shape into a new tensor [n, ...]; `proto` gives dtype and shape
 * when n is 0. */
static lp_status stack(const lp_node *n, lp_tensor *const *parts, int64_t count, const lp_vinfo *proto,
                       lp_tensor **out)
{
    int64_t dims[LP_MAX_DIMS];
    lp_dtype dt;
    int rank;
    if (count > 0) {
        dt = parts[0]->dtype;
        rank = parts[0]->ndim;
        memcpy(dims + 1, parts[0]->dims, (size_t)rank * sizeof *dims);
    } else {
        dt = proto && proto->dtype ? proto->dtype : LP_F32;
        rank = proto && lp_shape_static(&proto->shape) ? proto->shape.ndim : 0;
        for (int i = 0; i < rank; i++)
            dims[i + 1] = proto->shape.d[i];
    }
    if (rank + 1 > LP_MAX_DIMS)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "a scan output would have more than %d dims", LP_MAX_DIMS);
    dims[0] = count;
    for (int64_t i = 1; i < count; i++)
        if (parts[i]->dtype != dt || parts[i]->ndim != rank ||
            memcmp(parts[i]->dims, parts[0]->dims, (size_t)rank * sizeof *dims) != 0)
            return lp_node_error(n, LOWP_ERR_SHAPE, "a scan output changes shape between iterations 0 and %lld",
                                 (long long)i);
    LP_TRY(lp_tensor_new(dt, rank + 1, dims, out));
    size_t each = count ? parts[0]->nbytes : 0;
    for (int64_t i = 0; i < count; i++)
        if (each)
            memcpy((uint8_t *)(*out)->data + (size_t)i * each, parts[i]->data, each);
    return LP_OK;
}

static lp_status scalar(lp_dtype dt, double v, lp_tensor **out)
{
    LP_TRY(lp_tensor_new(dt, 0, NULL, out));
    lp_dtype_traits_of(dt)->set((*out)->data, 0, v);
    return LP_OK;
}

static lp_status loop_exec(const lp_node *n, int64_t opset, int n_in, const lp_tensor *const *in, lp_tensor **outs)
{
    (void)opset; (void)n_in;
    lp_status st = LP_OK;
    const lp_graph *body = body_of(n, "body", &st);
    if (!body)
        return st;
    int ne = lp_node_n_explicit(n), N = ne - 2, K = n->n_out - N;
    if (N < 0 || K < 0 || body->n_inputs != N + 2 || body->n_outputs != N + K + 1)
        return lp_node_error(n, LOWP_ERR_FORMAT, "body has %d inputs and %d outputs for %d loop-carried values and %d outputs",
                             body->n_inputs, body->n_outputs, N, n->n_out);
    int64_t trip = INT64_MAX;
    bool cond = true;
    if (in[0]) {
        if (lp_tensor_numel(in[0]) != 1)
            return lp_node_error(n, LOWP_ERR_SHAPE, "the trip count must hold one value");
        trip = lp_tensor_get_int(in[0], 0);
    }
    if (in[1])
        LP_TRY(read_bool(n, in[1], "the condition", &cond));
    const lp_tensor **bin = calloc((size_t)N + 2, sizeof *bin);
    lp_tensor **carried = calloc((size_t)N + 1, sizeof *carried);   /* owned, or NULL: in[2 + j] */
    lp_tensor **bout = calloc((size_t)(N + K) + 1, sizeof *bout);
    lp_tensor ***scans = calloc((size_t)K + 1, sizeof *scans);
    int64_t iters = 0, cap = 0;
    lp_tensor *iter_t = NULL, *cond_t = NULL;
    if (!bin || !carried || !bout || !scans)
        st = oom(n);
    for (; st == LP_OK && iters < trip && cond; iters++) {
        lp_tensor_free(iter_t);
        lp_tensor_free(cond_t);
        iter_t = cond_t = NULL;
        if ((st = scalar(LP_I64, (double)iters, &iter_t)) != LP_OK || (st = scalar(LP_BOOL, 1, &cond_t)) != LP_OK)
            break;
        bin[0] = iter_t;
        bin[1] = cond_t;
        for (int j = 0; j < N; j++)
            bin[2 + j] = carried[j] ? carried[j] : in[2 + j];
        if (iters == cap) {
            cap = cap ? 2 * cap : 16;
            for (int k = 0; k < K && st == LP_OK; k++) {
                lp_tensor **p = realloc(scans[k], (size_t)cap * sizeof *p);
                if (!p)
                    st = oom(n);
                else
                    scans[k] = p;
            }
            if (st != LP_OK)
                break;
        }
        if ((st = lp_subgraph_run(body, in + ne, bin, bout)) != LP_OK) {
            st = lp_error_prefix(st, "node '%s' (Loop) iteration %lld", n->name, (long long)iters);
            break;
        }
        st = read_bool(n, bout[0], "the body's condition output", &cond);
        lp_tensor_free(bout[0]);
        for (int j = 0; j < N; j++) {
            lp_tensor_free(carried[j]);
            carried[j] = bout[1 + j];
        }
        for (int k = 0; k < K; k++)
            scans[k][iters] = bout[1 + N + k];
    }
    lp_tensor_free(iter_t);
    lp_tensor_free(cond_t);
    /* outputs: the final loop-carried values, then the stacked scan outputs */
    for (int j = 0; st == LP_OK && j < N; j++) {
        if (carried[j]) {
            outs[j] = carried[j];
            carried[j] = NULL;
        } else {
            st = lp_tensor_clone(in[2 + j], &outs[j]);
        }
    }
    for (int k = 0; st == LP_OK && k < K; k++) {
        lp_vinfo proto = { 0 };
        if (iters == 0) { /* no iteration ran: the body's declared type gives the rest */
            proto.dtype = body->values[body->outputs[1 + N + k]].dtype;
            proto.shape = body->values[body->outputs[1 + N + k]].shape;
        }
        st = stack(n, scans[k], iters, &proto, &outs[N + k]);
    }
    if (st != LP_OK)
        for (int k = 0; k < n->n_out; k++) {
            lp_tensor_free(outs[k]);
            outs[k] = NULL;
        }
    for (int j = 0; carried && j < N; j++)
        lp_tensor_free(carried[j]);
    for (int k = 0; scans && k < K; k++) {
        for (int64_t i = 0; i < iters && scans[k]; i++)
            lp_tensor_free(scans[k][i]);
        free(scans[k]);
    }
    free(scans);
    free(bin);
    free(carried);
    free(bout);
    return st;
}

/* The iterations a Loop runs, when its inputs decide it before it runs: a constant trip count
 * M (bounded: an "infinite" loop is not unrolled into a shape) and a condition that is absent
 * or constant, and stays true in the body (cond_out folded to true, given cond_in true); a
 * constant false condition runs none. -1 otherwise. */
static int64_t static_trip_count(const lp_infer_ctx *c, const lp_vinfo *cond_out)
{
    const lp_vinfo *m = c->in[0], *cond = c->n_in > 1 ? c->in[1] : NULL;
    if (cond && (!cond->value || lp_tensor_numel(cond->value) != 1))
        return -1;
    if (cond && lp_tensor_get(cond->value, 0) == 0)
        return 0;
    if (!m || !m->value || lp_tensor_numel(m->value) != 1 || !cond_out->value ||
        lp_tensor_numel(cond_out->value) != 1 || lp_tensor_get(cond_out->value, 0) == 0)
        return -1;
    int64_t trips = lp_tensor_get_int(m->value, 0);
    return trips < 0 ? 0 : trips <= LP_MAX_STATIC_TRIPS ? trips : -1;
}

static lp_status loop_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    lp_status st = LP_OK;
    const lp_graph *body = body_of(n, "body", &st);
    if (!body)
        return st;
    int ne = lp_node_n_explicit(n), N = ne - 2, K = c->n_out - N;
    if (ne < 2 || K < 0 || body->n_inputs != N + 2 || body->n_outputs != N + K + 1)
        return lp_node_error(n, LOWP_ERR_FORMAT, "body has %d inputs and %d outputs for %d loop-carried values and %d outputs",
                             body->n_inputs, body->n_outputs, N, c->n_out);
    if (all_known(c))
        return infer_by_running(c, loop_exec);
    /* the body sees the first iteration's types; carried values keep what stays the same */
    lp_vinfo *vin = calloc((size_t)N + 2, sizeof *vin), *vout = calloc((size_t)(N + K) + 2, sizeof *vout);
    const lp_vinfo **pin = calloc((size_t)N + 2, sizeof *pin);
    if (!vin || !vout || !pin) {
        free(vin); free(vout); free(pin);
        return oom(n);
    }
    vin[0] = (lp_vinfo){ .dtype = LP_I64, .shape = { .ndim = 0 } };
    /* an iteration runs only while the condition holds: inside the body, cond_in is true in
     * every iteration that runs (so what depends on it alone folds) */
    lp_tensor *yes = NULL;
    st = scalar(LP_BOOL, 1, &yes);
    vin[1] = (lp_vinfo){ .dtype = LP_BOOL, .shape = { .ndim = 0 }, .value = yes };
    for (int j = 0; j < N; j++)
        if (c->in[2 + j])
            vin[2 + j] = (lp_vinfo){ .dtype = c->in[2 + j]->dtype, .shape = c->in[2 + j]->shape };
    for (int i = 0; i < N + 2; i++)
        pin[i] = &vin[i];
    if (st == LP_OK)
        st = lp_subgraph_infer(body, c->in + ne, pin, vout);
    int64_t trips = st == LP_OK ? static_trip_count(c, &vout[0]) : -1;
    lp_tensor_free(yes);
    for (int j = 0; st == LP_OK && j < N; j++) {
        c->out[j].dtype = vout[1 + j].dtype ? vout[1 + j].dtype : vin[2 + j].dtype;
        c->out[j].shape = vout[1 + j].shape;
        merge_shapes(&c->out[j].shape, &vin[2 + j].shape);
    }
    for (int k = 0; st == LP_OK && k < K; k++) {
        const lp_vinfo *s = &vout[1 + N + k];
        c->out[N + k].dtype = s->dtype;
        c->out[N + k].shape.ndim = s->shape.ndim < 0 || s->shape.ndim >= LP_MAX_DIMS ? -1 : s->shape.ndim + 1;
        c->out[N + k].shape.d[0] = trips >= 0 ? trips : LP_DIM_UNKNOWN; /* else known once it ran */
        for (int i = 0; i < s->shape.ndim && i + 1 < LP_MAX_DIMS; i++)
            c->out[N + k].shape.d[i + 1] = s->shape.d[i];
    }
    if (st == LP_OK)
        lp_vinfo_release(vout, N + K + 1);
    free(vin);
    free(vout);
    free(pin);
    return st;
}

static lp_status loop_run(const lp_run_ctx *c) { return run_into(c, loop_exec); }

/* M and cond may be omitted: a while loop, a for loop, or both */
const lp_op_def lp_opdef_Loop = { .name = "Loop", .min_in = 2, .max_in = 1024, .optional_in = 3, .min_out = 0,
                                  .max_out = 1024, .infer = loop_infer, .run = loop_run };

/* ---- Scan (opset 9+; opset 8's batched form runs as one opset-9 scan per batch row) ---- */


static lp_status slice_new(const lp_tensor *t, int axis, int64_t idx, lp_tensor **out)
{
    int64_t dims[LP_MAX_DIMS];
    for (int i = 0, k = 0; i < t->ndim; i++)
        if (i != axis)
            dims[k++] = t->dims[i];
    LP_TRY(lp_tensor_new(t->dtype, t->ndim - 1, dims, out));
    lp_tensor_slice_copy((lp_tensor *)t, axis, idx, *out, false);
    return LP_OK;
}

/* Attribute list `name` entry i, or dflt. */
static int64_t attr_at(const lp_node *n, const char *name, int i, int64_t dflt)
{
    const int64_t *v;
    int cnt = lp_attr_ints(n, name, &v);
    return cnt > i ? v[i] : dflt;
}

/* One opset-9 scan over N states and M scan inputs (sequence along their axes); outs gets N
 * final states and K scan outputs. `in_axes`/`out_axes` NULL: read the attributes. */
static lp_status scan_once(const lp_node *n, const lp_graph *body, int N, int M, const lp_tensor *const *in,
                           const lp_tensor *const *outer, bool batch_form, lp_tensor **outs)
{
    int K = body->n_outputs - N;
    int64_t seq = -1;
    int axes[LP_MAX_DIMS * 8];
    if (M > (int)(sizeof axes / sizeof axes[0]))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "too many scan inputs");
    for (int j = 0; j < M; j++) {
        const lp_tensor *x = in[N + j];
        int64_t a = batch_form ? 0 : attr_at(n, "scan_input_axes", j, 0);
        if (a < 0)
            a += x->ndim;
        if (a < 0 || a >= x->ndim)
            return lp_node_error(n, LOWP_ERR_FORMAT, "scan input %d: axis %lld out of range", j, (long long)a);
        axes[j] = (int)a;
        if (seq >= 0 && x->dims[a] != seq)
            return lp_node_error(n, LOWP_ERR_SHAPE, "scan inputs have different sequence lengths (%lld, %lld)",
                                 (long long)seq, (long long)x->dims[a]);
        seq = x->dims[a];
    }
    if (seq < 0)
        return lp_node_error(n, LOWP_ERR_FORMAT, "has no scan input");
    const char *dir_attr = batch_form ? "directions" : "scan_input_directions";
    const lp_tensor **bin = calloc((size_t)(N + M) + 1, sizeof *bin);
    lp_tensor **state = calloc((size_t)N + 1, sizeof *state), **slices = calloc((size_t)M + 1, sizeof *slices);
    lp_tensor **bout = calloc((size_t)(N + K) + 1, sizeof *bout);
    lp_tensor ***ys = calloc((size_t)K + 1, sizeof *ys);
    lp_status st = bin && state && slices && bout && ys ? LP_OK : oom(n);
    for (int k = 0; st == LP_OK && k < K; k++)
        if (!(ys[k] = calloc((size_t)seq + 1, sizeof *ys[k])))
            st = oom(n);
    for (int64_t t = 0; st == LP_OK && t < seq; t++) {
        for (int j = 0; j < N; j++)
            bin[j] = state[j] ? state[j] : in[j];
        for (int j = 0; j < M && st == LP_OK; j++) {
            int64_t idx = attr_at(n, dir_attr, j, 0) == 1 ? seq - 1 - t : t;
            lp_tensor_free(slices[j]);
            slices[j] = NULL;
            st = slice_new(in[N + j], axes[j], idx, &slices[j]);
            bin[N + j] = slices[j];
        }
        if (st != LP_OK)
            break;
        if ((st = lp_subgraph_run(body, outer, bin, bout)) != LP_OK) {
            st = lp_error_prefix(st, "node '%s' (Scan) step %lld", n->name, (long long)t);
            break;
        }
        for (int j = 0; j < N; j++) {
            lp_tensor_free(state[j]);
            state[j] = bout[j];
        }
        for (int k = 0; k < K; k++)
            ys[k][t] = bout[N + k];
    }
    for (int j = 0; st == LP_OK && j < N; j++) {
        if (state[j]) {
            outs[j] = state[j];
            state[j] = NULL;
        } else {
            st = lp_tensor_clone(in[j], &outs[j]);
        }
    }
    for (int k = 0; st == LP_OK && k < K; k++) {
        const lp_tensor *y0 = ys[k][0];
        int r = y0 ? y0->ndim + 1 : 1;
        int64_t a = batch_form ? 0 : attr_at(n, "scan_output_axes", k, 0);
        if (a < 0)
            a += r;
        if (!y0 || r > LP_MAX_DIMS || a < 0 || a >= r) {
            st = lp_node_error(n, LOWP_ERR_FORMAT, "scan output %d: axis %lld out of range", k, (long long)a);
            break;
        }
        int64_t dims[LP_MAX_DIMS];
        for (int i = 0, q = 0; i < r; i++)
            dims[i] = i == a ? seq : y0->dims[q++];
        if ((st = lp_tensor_new(y0->dtype, r, dims, &outs[N + k])) != LP_OK)
            break;
        bool rev = attr_at(n, batch_form ? "directions" : "scan_output_directions", batch_form ? N + k : k, 0) == 1 &&
                   !batch_form;
        for (int64_t t = 0; t < seq && st == LP_OK; t++) {
            const lp_tensor *y = ys[k][t];
            if (y->dtype != y0->dtype || y->ndim != y0->ndim ||
                memcmp(y->dims, y0->dims, (size_t)y->ndim * sizeof *y->dims) != 0)
                st = lp_node_error(n, LOWP_ERR_SHAPE, "scan output %d changes shape at step %lld", k, (long long)t);
            else
                lp_tensor_slice_copy(outs[N + k], (int)a, rev ? seq - 1 - t : t, (lp_tensor *)y, true);
        }
    }
    if (st != LP_OK)
        for (int k = 0; k < N + K; k++) {
            lp_tensor_free(outs[k]);
            outs[k] = NULL;
        }
    for (int j = 0; state && j < N; j++)
        lp_tensor_free(state[j]);
    for (int j = 0; slices && j < M; j++)
        lp_tensor_free(slices[j]);
    for (int k = 0; ys && k < K; k++) {
        for (int64_t t = 0; ys[k] && t < seq; t++)
            lp_tensor_free(ys[k][t]);
        free(ys[k]);
    }
    free(ys);
    free(bin);
    free(state);
    free(slices);
    free(bout);
    return st;
}

/* Scan-8: every state and scan input has a batch dim first; each row is one scan. */
static lp_status scan8_exec(const lp_node *n, const lp_graph *body, int N, int M, const lp_tensor *const *in,
                            const lp_tensor *const *outer, lp_tensor **outs)
{
    const lp_tensor *lens = in[0];
    in++;
    int K = body->n_outputs - N;
    int64_t batch = N + M > 0 ? in[0]->dims[0] : 0;
    for (int j = 0; j < N + M; j++)
        if (in[j]->ndim < 1 || in[j]->dims[0] != batch)
            return lp_node_error(n, LOWP_ERR_SHAPE, "input %d has no batch dim of %lld", j + 1, (long long)batch);
    const lp_tensor **row_in = calloc((size_t)(N + M) + 1, sizeof *row_in);
    lp_tensor **rows = calloc((size_t)(N + M) + 1, sizeof *rows);
    lp_tensor ***row_out = calloc((size_t)batch + 1, sizeof *row_out);
    lp_status st = row_in && rows && row_out ? LP_OK : oom(n);
    for (int64_t b = 0; st == LP_OK && b < batch; b++) {
        if (lens && lp_tensor_get_int(lens, b) != (N + M > N ? in[N]->dims[1] : 0)) {
            st = lp_node_error(n, LOWP_ERR_UNSUPPORTED, "sequence_lens shorter than the scan inputs are not supported");
            break;
        }
        for (int j = 0; j < N + M && st == LP_OK; j++) {
            lp_tensor_free(rows[j]);
            rows[j] = NULL;
            st = slice_new(in[j], 0, b, &rows[j]);
            row_in[j] = rows[j];
        }
        if (st == LP_OK && !(row_out[b] = calloc((size_t)(N + K) + 1, sizeof *row_out[b])))
            st = oom(n);
        if (st == LP_OK)
            st = scan_once(n, body, N, M, row_in, outer, true, row_out[b]);
    }
    for (int k = 0; st == LP_OK && k < N + K; k++) {
        lp_tensor **parts = malloc(((size_t)batch + 1) * sizeof *parts);
        if (!parts) {
            st = oom(n);
            break;
        }
        for (int64_t b = 0; b < batch; b++)
            parts[b] = row_out[b][k];
        st = stack(n, parts, batch, NULL, &outs[k]);
        free(parts);
    }
    for (int64_t b = 0; row_out && b < batch; b++) {
        for (int k = 0; row_out[b] && k < N + K; k++)
            lp_tensor_free(row_out[b][k]);
        free(row_out[b]);
    }
    for (int j = 0; rows && j < N + M; j++)
        lp_tensor_free(rows[j]);
    free(row_out);
    free(rows);
    free(row_in);
    return st;
}

static lp_status scan_exec(const lp_node *n, int64_t opset, int n_in, const lp_tensor *const *in, lp_tensor **outs)
{
    (void)n_in;
    lp_status st = LP_OK;
    const lp_graph *body = body_of(n, "body", &st);
    if (!body)
        return st;
    int ne = lp_node_n_explicit(n), first = opset < 9 ? 1 : 0;
    int M = (int)lp_attr_int(n, "num_scan_inputs", -1), N = ne - first - M;
    if (M < 1 || N < 0 || body->n_inputs != N + M || body->n_outputs < N || body->n_outputs != n->n_out)
        return lp_node_error(n, LOWP_ERR_FORMAT, "num_scan_inputs %d does not fit %d inputs, a body of %d inputs "
                             "and %d outputs, and %d outputs", M, ne, body->n_inputs, body->n_outputs, n->n_out);
    for (int j = first; j < ne; j++)
        if (!in[j])
            return lp_node_error(n, LOWP_ERR_FORMAT, "input %d is missing", j);
    if (opset < 9)
        return scan8_exec(n, body, N, M, in, in + ne, outs);
    return scan_once(n, body, N, M, in, in + ne, false, outs);
}

static lp_status scan_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    lp_status st = LP_OK;
    const lp_graph *body = body_of(n, "body", &st);
    if (!body)
        return st;
    int ne = lp_node_n_explicit(n), first = c->opset < 9 ? 1 : 0;
    int M = (int)lp_attr_int(n, "num_scan_inputs", -1), N = ne - first - M, K = body->n_outputs - N;
    if (M < 1 || N < 0 || K < 0 || body->n_inputs != N + M || body->n_outputs != c->n_out)
        return lp_node_error(n, LOWP_ERR_FORMAT, "num_scan_inputs %d does not fit %d inputs, a body of %d inputs "
                             "and %d outputs, and %d outputs", M, ne, body->n_inputs, body->n_outputs, c->n_out);
    if (all_known(c))
        return infer_by_running(c, scan_exec);
    int lead = first; /* Scan-8: a batch dim before everything */
    lp_vinfo *vin = calloc((size_t)(N + M) + 1, sizeof *vin), *vout = calloc((size_t)(N + K) + 1, sizeof *vout);
    const lp_vinfo **pin = calloc((size_t)(N + M) + 1, sizeof *pin);
    if (!vin || !vout || !pin) {
        free(vin); free(vout); free(pin);
        return oom(n);
    }
    int64_t seq = LP_DIM_UNKNOWN, batch = LP_DIM_UNKNOWN;
    for (int j = 0; j < N + M; j++) {
        const lp_vinfo *x = c->in[first + j];
        pin[j] = &vin[j];
        if (!x) {
            vin[j].shape.ndim = -1;
            continue;
        }
        vin[j].dtype = x->dtype;
        vin[j].shape.ndim = -1;
        if (x->shape.ndim < 0)
            continue;
        int64_t a = -1;
        if (j >= N) {
            a = lead ? 1 : attr_at(n, "scan_input_axes", j - N, 0);
            if (a < 0)
                a += x->shape.ndim;
            if (a < 0 || a >= x->shape.ndim) {
                free(vin); free(vout); free(pin);
                return lp_node_error(n, LOWP_ERR_FORMAT, "scan input %d: axis out of range", j - N);
            }
            seq = x->shape.d[a];
        }
        if (lead && x->shape.ndim > 0)
            batch = x->shape.d[0];
        vin[j].shape.ndim = 0;
        for (int i = lead; i < x->shape.ndim; i++)
            if (i != a)
                vin[j].shape.d[vin[j].shape.ndim++] = x->shape.d[i];
    }
    st = lp_subgraph_infer(body, c->in + ne, pin, vout);
    for (int k = 0; st == LP_OK && k < N + K; k++) {
        const lp_vinfo *y = &vout[k];
        lp_vinfo *o = &c->out[k];
        o->dtype = y->dtype;
        if (y->shape.ndim < 0 || y->shape.ndim + 1 + lead > LP_MAX_DIMS) {
            o->shape.ndim = -1;
            continue;
        }
        lp_shape s = y->shape;
        if (k < N)
            merge_shapes(&s, &vin[k].shape);
        int r = s.ndim + (k >= N) + lead;
        int64_t a = k < N ? -1 : lead ? 1 : attr_at(n, "scan_output_axes", k - N, 0);
        if (a < 0 && k >= N)
            a += r;
        o->shape.ndim = r;
        for (int i = 0, q = 0; i < r; i++)
            o->shape.d[i] = lead && i == 0 ? batch : i == a ? seq : s.d[q++];
    }
    if (st == LP_OK)
        lp_vinfo_release(vout, N + K);
    free(vin);
    free(vout);
    free(pin);
    return st;
}

static lp_status scan_run(const lp_run_ctx *c) { return run_into(c, scan_exec); }

/* Scan-8's sequence_lens may be omitted (opset 9+ checks its inputs in scan_exec) */
const lp_op_def lp_opdef_Scan = { .name = "Scan", .min_in = 1, .max_in = 1024, .optional_in = 1, .min_out = 1,
                                  .max_out = 1024, .infer = scan_infer, .run = scan_run };
