/* split.c — running a batch as independent chunks, one single-threaded plan per thread.
 *
 * A plan compiled for batch N with T >= 2 threads runs every step over the whole batch with
 * T OpenMP threads: each step is a fork and a barrier, and at batch 16 the activations of a
 * convolutional network (MobileNetV2: 77 MB for one expanded tensor) are far larger than the
 * caches. When the graph is batch-local (sample i of every output depends only on sample i of
 * the inputs) the same work can run as N/c chunks of c samples: each thread runs its own plan
 * compiled for batch c with one thread, chunks handed out dynamically, so a chunk's tensors
 * stay in cache, no step waits for another thread, and a preempted thread delays at most its
 * own chunk (docs/engine.md "Threads"). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

/* Bytes of activations a chunk may take (the plan's arena per sample times c): what a core's
 * L2 plus its share of L3 holds on the CPUs measured (docs/engine.md "Threads"). */
#define SPLIT_CHUNK_BYTES ((size_t)8 << 20)

static int norm_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

static int rank_of(const lp_graph *g, int v) { return v >= 0 ? g->values[v].shape.ndim : -1; }

static bool is_const(const lp_graph *g, int v) { return v < 0 || g->values[v].kind == LP_VALUE_CONST; }

/* The axes a Reduce* node reduces or a Slice slices (attribute, or the constant input that
 * took its place: Reduce*'s second from opset 13/18, Slice's fourth from opset 10): true if
 * none of them is the batch axis, false otherwise (also when they are unknown or "all"). */
static bool reduce_keeps_batch(const lp_graph *g, const lp_node *n)
{
    int rank = rank_of(g, n->in[0]);
    const int64_t *ax = NULL;
    int na = lp_attr_ints(n, "axes", &ax);
    int64_t buf[LP_MAX_DIMS];
    int ai = strcmp(n->op_type, "Slice") ? 1 : 3;
    if (na <= 0 && n->n_in > ai && n->in[ai] >= 0) {
        const lp_tensor *t = g->values[n->in[ai]].init;
        if (!is_const(g, n->in[ai]) || !t || (t->dtype != LP_I64 && t->dtype != LP_I32) ||
            lp_tensor_numel(t) > LP_MAX_DIMS)
            return false;
        na = (int)lp_tensor_numel(t);
        for (int k = 0; k < na; k++)
            buf[k] = t->dtype == LP_I64 ? ((const int64_t *)t->data)[k] : ((const int32_t *)t->data)[k];
        ax = buf;
    }
    if (na <= 0 || rank < 1)
        return false;
    for (int k = 0; k < na; k++)
        if (norm_axis(ax[k], rank) == 0)
            return false;
    return true;
}

static bool op_in(const char *op, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(op, *list))
            return true;
    return false;
}

/* True when node n computes sample i of its outputs from sample i of its batch-carrying inputs
 * only, given that every non-constant value has the batch as its first dim (checked apart).
 * Ops not listed are taken as mixing samples: the plan is then not split. */
static bool node_batch_local(const lp_graph *g, const lp_node *n)
{
    static const char *const elementwise[] = {
        "Relu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu", "Elu", "Selu",
        "Softplus", "Softsign", "Gelu", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Pow", "Add",
        "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less", "Greater", "LessOrEqual",
        "GreaterOrEqual", "Not", "And", "Or", "Cast", "Identity", "Dropout", "Floor", "Ceil", "Round", "Sign",
        "Sin", "Cos", "Mish", "ThresholdedRelu", "Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool",
        "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "BatchNormalization",
        "InstanceNormalization", "LRN", "Reshape", "Squeeze", "Unsqueeze", "Flatten", NULL,
    };
    if (n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return false;
    const char *op = n->op_type;
    int rank = rank_of(g, n->in[0]);
    if (op_in(op, elementwise)) {
        /* a broadcast input of lower rank aligns its dim 0 with a later dim of the output, not
           the batch: chunking it would cut the wrong axis (Add([N,C,T], x[T]) at T == N) */
        int out_rank = n->n_out > 0 && n->out[0] >= 0 ? rank_of(g, n->out[0]) : rank;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !is_const(g, n->in[k]) && rank_of(g, n->in[k]) != out_rank &&
                strcmp(op, "Reshape") && strcmp(op, "Squeeze") && strcmp(op, "Unsqueeze") && strcmp(op, "Flatten"))
                return false;
        return true; /* reshapes and flattens that keep a scaled first dim keep chunks contiguous */
    }
    if (!strcmp(op, "QuantizeLinear") || !strcmp(op, "DequantizeLinear")) {
        const lp_tensor *s = n->n_in > 1 && is_const(g, n->in[1]) && n->in[1] >= 0 ? g->values[n->in[1]].init : NULL;
        return s && (lp_tensor_numel(s) == 1 || norm_axis(lp_attr_int(n, "axis", 1), rank) != 0);
    }
    if (!strcmp(op, "Transpose")) {
        const int64_t *perm = NULL;
        return lp_attr_ints(n, "perm", &perm) > 0 && perm[0] == 0;
    }
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax"))
        return norm_axis(lp_attr_int(n, "axis", lp_graph_opset(g, n->domain) >= 13 ? -1 : 1), rank) != 0;
    if (!strcmp(op, "LayerNormalization"))
        return norm_axis(lp_attr_int(n, "axis", -1), rank) != 0;
    if (!strcmp(op, "Concat"))
        return norm_axis(lp_attr_int(n, "axis", 0), rank) != 0;
    if (!strcmp(op, "Split"))
        return norm_axis(lp_attr_int(n, "axis", 0), rank) != 0;
    if (!strcmp(op, "Gather"))
        return is_const(g, n->in[0]); /* rows of a table picked by per-sample indices */
    if (!strcmp(op, "Gemm"))
        return lp_attr_int(n, "transA", 0) == 0 && (n->n_in < 2 || is_const(g, n->in[1])) &&
               (n->n_in < 3 || is_const(g, n->in[2]));
    if (!strcmp(op, "MatMul") || !strcmp(op, "MatMulInteger"))
        return n->n_in >= 2 && (is_const(g, n->in[1]) || (rank >= 3 && rank_of(g, n->in[1]) >= 3));
    if (!strncmp(op, "Reduce", 6))
        return reduce_keeps_batch(g, n);
    if (!strcmp(op, "Slice")) /* axes given (attribute before opset 10, else input 3) and none is 0 */
        return lp_node_attr(n, "axes") || (n->n_in > 3 && n->in[3] >= 0 && is_const(g, n->in[3])) ? reduce_keeps_batch(g, n)
                                                                                                  : false;
    if (!strcmp(op, "Resize") || !strcmp(op, "Upsample")) {
        /* scales (input 1 of Upsample, input 2 of Resize from opset 11) constant, the batch's 1;
         * constant sizes are checked by the shapes */
        int si = !strcmp(op, "Upsample") || lp_graph_opset(g, n->domain) < 11 ? 1 : 2;
        const lp_tensor *sc = n->n_in > si && n->in[si] >= 0 && is_const(g, n->in[si]) ? g->values[n->in[si]].init : NULL;
        if (sc && lp_tensor_numel(sc) > 0)
            return sc->dtype == LP_F32 && ((const float *)sc->data)[0] == 1.0f;
        return n->n_in > 3 && n->in[3] >= 0 && is_const(g, n->in[3]);
    }
    return false;
}

/* True when the batch of every non-constant value of `cg` (compiled for chunks of c samples)
 * scales to the one `g` (the whole batch, n_chunks chunks) has, all other dims equal, and
 * every node of cg is batch-local. */
static bool graph_splits(const lp_graph *g, const lp_graph *cg, int64_t n_chunks)
{
    for (int v = 0; v < cg->n_values; v++) {
        const lp_value *cv = &cg->values[v];
        if (cv->kind == LP_VALUE_CONST)
            continue;
        if (cv->kind != LP_VALUE_INTERMEDIATE && cv->kind != LP_VALUE_INPUT)
            return false;
        int fv = lp_graph_find_value(g, cv->name);
        if (fv < 0)
            return false;
        const lp_value *gv = &g->values[fv];
        if (gv->kind != cv->kind || !lp_shape_static(&cv->shape) || !lp_shape_static(&gv->shape) ||
            cv->shape.ndim < 1 || cv->shape.ndim != gv->shape.ndim || gv->shape.d[0] != cv->shape.d[0] * n_chunks)
            return false;
        for (int k = 1; k < cv->shape.ndim; k++)
            if (cv->shape.d[k] != gv->shape.d[k])
                return false;
    }
    for (int i = 0; i < cg->n_nodes; i++)
        if (!cg->nodes[i].dead && !node_batch_local(cg, &cg->nodes[i]))
            return false;
    return true;
}

/* LOWP_BATCH_SPLIT: "0" never splits, "1" splits also with one thread; unset: from 2 threads. */
static int split_env(void)
{
    const char *e = getenv("LOWP_BATCH_SPLIT");
    return e && *e ? (e[0] == '0' ? 0 : 1) : -1;
}

lp_status lp_plan_split_setup(lp_plan *p, const lp_graph *src, const lp_tensor *const *inputs)
{
    const lp_graph *g = p->g;
    int env = split_env();
    if (env == 0 || (env < 0 && p->opt.threads < 2) || p->opt.no_split || p->opt.no_fuse || p->opt.bind_values ||
        g->n_inputs < 1 || g->n_outputs < 1)
        return LP_OK;
    int64_t batch = inputs[0]->ndim >= 1 ? inputs[0]->dims[0] : 0;
    if (batch < 2)
        return LP_OK;
    for (int i = 0; i < g->n_inputs; i++)
        if (inputs[i]->ndim < 1 || inputs[i]->dims[0] != batch)
            return LP_OK;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->values[g->outputs[i]].kind != LP_VALUE_INTERMEDIATE || p->dynamic_value[g->outputs[i]])
            return LP_OK;
    for (int s = 0; s < p->n_steps; s++)
        if (p->steps[s].dynamic)
            return LP_OK;
    /* the largest divisor c of the batch whose activations fit SPLIT_CHUNK_BYTES (at least 1) */
    size_t per_sample = p->arena_size / (size_t)batch + 1;
    int64_t chunk = 1;
    for (int64_t c = batch / 2; c > 1; c--)
        if (batch % c == 0 && (size_t)c * per_sample <= SPLIT_CHUNK_BYTES) {
            chunk = c;
            break;
        }
    int n_plans = p->opt.threads;
    lp_tensor *heads = calloc((size_t)g->n_inputs, sizeof *heads);
    const lp_tensor **ins = calloc((size_t)g->n_inputs, sizeof *ins);
    lp_plan **plans = calloc((size_t)n_plans, sizeof *plans);
    lp_tensor *saved = calloc((size_t)g->n_outputs, sizeof *saved);
    void **bufs = calloc((size_t)g->n_outputs, sizeof *bufs);
    lp_status st = LP_OK;
    if (!heads || !ins || !plans || !saved || !bufs) {
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory compiling the model");
        goto done;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        lp_tensor_view(&heads[i], inputs[i]->dtype, inputs[i]->ndim, inputs[i]->dims, NULL);
        heads[i].dims[0] = chunk;
        ins[i] = &heads[i];
    }
    lp_plan_options o = p->opt;
    o.threads = 1;
    o.no_split = true;
    for (int t = 0; t < n_plans; t++) {
        /* a graph this rule does not split is an ordinary plan: nothing to report */
        if (lp_plan_compile_opt(src, ins, &o, &plans[t]) != LP_OK || (t == 0 && !graph_splits(g, plans[0]->g, batch / chunk)))
            goto done;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        saved[i] = p->vals[g->outputs[i]];
        if (!(bufs[i] = malloc(saved[i].nbytes ? saved[i].nbytes : 1))) {
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory compiling the model");
            goto done;
        }
    }
    p->split = plans;
    p->split_plans = n_plans;
    p->split_chunk = chunk;
    p->split_chunks = (int)(batch / chunk);
    p->split_saved = saved;
    p->split_buf = bufs;
    plans = NULL;
    saved = NULL;
    bufs = NULL;
done:
    for (int t = 0; plans && t < n_plans; t++)
        lp_plan_free(plans[t]);
    for (int i = 0; bufs && i < g->n_outputs; i++)
        free(bufs[i]);
    free(plans);
    free(saved);
    free(bufs);
    free(heads);
    free(ins);
    return st;
}

void lp_plan_split_free(lp_plan *p)
{
    for (int t = 0; p->split && t < p->split_plans; t++)
        lp_plan_free(p->split[t]);
    for (int i = 0; p->split_buf && i < p->g->n_outputs; i++)
        free(p->split_buf[i]);
    free(p->split);
    free(p->split_buf);
    free(p->split_saved);
    p->split = NULL;
    p->split_buf = NULL;
    p->split_saved = NULL;
}

void lp_plan_split_unbind(lp_plan *p)
{
    for (int i = 0; p->split && i < p->g->n_outputs; i++)
        p->vals[p->g->outputs[i]] = p->split_saved[i];
}

lp_status lp_plan_split_run(lp_plan *p, const lp_tensor *const *inputs)
{
    const lp_graph *g = p->g;
    lp_status status = LP_OK;
    char message[1024] = "";
    int threads = p->split_plans < p->split_chunks ? p->split_plans : p->split_chunks;
#pragma omp parallel num_threads(threads)
    {
        lp_plan *sp = p->split[omp_get_thread_num()];
        lp_tensor heads[16], *hp = heads;
        const lp_tensor *ins_store[16], **ins = ins_store;
        bool own = g->n_inputs > 16;
        if (own) {
            hp = malloc((size_t)g->n_inputs * sizeof *hp);
            ins = malloc((size_t)g->n_inputs * sizeof *ins);
        }
        if (own && (!hp || !ins)) {
#pragma omp critical(lp_split_error)
            if (status == LP_OK)
                status = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory running the model");
        }
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < p->split_chunks; k++) {
            lp_status s;
#pragma omp atomic read
            s = status;
            if (s != LP_OK || !hp || !ins)
                continue;
            for (int i = 0; i < g->n_inputs; i++) {
                const lp_tensor *in = inputs[i];
                size_t bytes = in->nbytes / (size_t)p->split_chunks;
                lp_tensor_view(&hp[i], in->dtype, in->ndim, in->dims, (char *)in->data + (size_t)k * bytes);
                hp[i].dims[0] = p->split_chunk;
                hp[i].nbytes = bytes;
                ins[i] = &hp[i];
            }
            s = lp_plan_run(sp, ins, NULL, NULL);
            for (int i = 0; s == LP_OK && i < g->n_outputs; i++) {
                const lp_tensor *y = &sp->vals[sp->g->outputs[i]];
                memcpy((char *)p->split_buf[i] + (size_t)k * y->nbytes, y->data, y->nbytes);
            }
            if (s != LP_OK) {
#pragma omp critical(lp_split_error)
                if (status == LP_OK) {
                    snprintf(message, sizeof message, "%s", lowp_last_error());
                    status = s;
                }
            }
        }
        if (own) {
            free(hp);
            free(ins);
        }
    }
    if (status != LP_OK)
        return message[0] ? lp_error(status, "%s", message) : status;
    for (int i = 0; i < g->n_outputs; i++) {
        const lp_tensor *sv = &p->split_saved[i];
        lp_tensor_view(&p->vals[g->outputs[i]], sv->dtype, sv->ndim, sv->dims, p->split_buf[i]);
    }
    return LP_OK;
}
