/* conv_overhead.c — how much lowp's engine adds to oneDNN on the 3x3 convolutions of
 * ResNet-50 (batch 1, FP32): for each distinct shape, a chain of K Conv(3x3, pad 1, bias) +
 * Relu layers timed four ways, with the same weights and input:
 *
 *   oneDNN direct any      oneDNN alone: direct convolutions created with format_tag_any for
 *                          src, weights and dst, bias, ReLU as an eltwise post-op, user
 *                          scratchpad, weights reordered once, input reordered once (untimed);
 *                          each conv reads the previous one's dst as it is laid out.
 *   oneDNN direct nChw16c  the same with src/dst forced to nChw16c (aBcd16b).
 *   oneDNN as lowp         the same, each conv by the algorithm lowp's plan chose for it
 *                          (Winograd or direct), with a reorder where a conv cannot read its
 *                          predecessor's dst (Winograd after direct); the like-for-like baseline.
 *   lowp                   the layers as an lp_graph (Conv + Relu nodes), compiled with the
 *                          default engine and run with lp_plan_run: plain NCHW in and out, so
 *                          the edge reorders are included.
 *
 * Stride-2 shapes: the chain is the stride-2 convolution followed by K-1 stride-1
 * convolutions at its output size (the same FLOPs each, since the output size is the same);
 * with --chain 1 a row is the stride-2 convolution alone. GFLOP/s count a direct
 * convolution's FLOPs whatever the algorithm. Timing: warmup, then --reps repetitions of
 * --iters runs of each variant, interleaved (so drifts in machine load hit all alike); a
 * variant's time is the median over repetitions. The outputs are compared before timing: a
 * fast wrong answer is not a result.
 *
 * Usage: conv_overhead [--iters N] [--reps N] [--chain K] [--threads N] [--markdown] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#include "engine/engine.h"
#include "ir/graph.h"
#include "lowp.h"

#define MAX_CHAIN 16
#define MAX_REPS 64
#define TOL 1e-4 /* normalized: different layouts sum in a different order (~1e-6 seen) */

/* The 3x3 convolutions of torchvision's ResNet-50 (v1.5: the stride sits on the 3x3). */
static const struct shape { int c, h, stride; } shapes[] = {
    { 64, 56, 1 }, { 128, 56, 2 }, { 128, 28, 1 }, { 256, 28, 2 },
    { 256, 14, 1 }, { 512, 14, 2 }, { 512, 7, 1 },
};

typedef struct opts {
    int iters, reps, chain, threads;
    int markdown;
} opts;

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "conv_overhead: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int out_size(int h, int stride) { return (h + 2 - 3) / stride + 1; }

/* ---- the layers as an lp_graph: the weights live here, and standalone oneDNN reads them ---- */

typedef struct layers {
    lp_graph *g;
    lp_tensor *x;               /* the input, (1, C, H, W) */
    int k, c, h[MAX_CHAIN + 1]; /* h[i]: the input size of conv i; h[k]: the output size */
    int stride[MAX_CHAIN];
    const float *w[MAX_CHAIN], *b[MAX_CHAIN];
} layers;

static lp_tensor *random_tensor(int nd, const int64_t *dims, float scale, uint64_t *rng)
{
    lp_tensor *t;
    if (lp_tensor_new(LOWP_FLOAT, nd, dims, &t) != LP_OK)
        return NULL;
    float *d = t->data;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        d[i] = scale * (float)(2.0 * lowp_random_uniform(rng) - 1.0);
    return t;
}

static int add_attr(lp_graph *g, int node, const char *name, lp_attr_type type, int n, int64_t *v)
{
    lp_attr a = { .name = (char *)name, .type = type, .n = n, .ints = v, .i = v[0] };
    return lp_node_add_attr(&g->nodes[node], &a) == LP_OK;
}

/* x -> [Conv -> Relu] x k; He-scaled weights keep the activations O(1) along the chain. */
static int layers_build(layers *L, const struct shape *s, int k)
{
    uint64_t rng = 0x3c0ffee5eedULL + (uint64_t)s->c * 131 + (uint64_t)s->h;
    memset(L, 0, sizeof *L);
    L->k = k, L->c = s->c, L->h[0] = s->h;
    for (int i = 0; i < k; i++) {
        L->stride[i] = i == 0 ? s->stride : 1;
        L->h[i + 1] = out_size(L->h[i], L->stride[i]);
    }
    lp_graph *g;
    if (lp_graph_new(&g) != LP_OK)
        return 0;
    L->g = g;
    g->ir_version = 8;
    g->opsets = calloc(1, sizeof *g->opsets);
    g->inputs = calloc(1, sizeof(int));
    g->outputs = calloc(1, sizeof(int));
    if (!g->opsets || !g->inputs || !g->outputs || !(g->opsets[0].domain = strdup("")))
        return 0;
    g->opsets[0].version = 13;
    g->n_opsets = 1;

    int64_t xd[4] = { 1, s->c, s->h, s->h }, wd[4] = { s->c, s->c, 3, 3 }, bd = s->c;
    int v;
    if (!(L->x = random_tensor(4, xd, 1.0f, &rng)) || lp_graph_add_value(g, "x", &v) != LP_OK)
        return 0;
    g->values[v].kind = LP_VALUE_INPUT;
    g->values[v].dtype = LOWP_FLOAT;
    g->values[v].shape.ndim = 4;
    memcpy(g->values[v].shape.d, xd, sizeof xd);
    g->inputs[g->n_inputs++] = v;

    float he = sqrtf(6.0f / (9.0f * (float)s->c)); /* uniform(-he, he): variance 2 / fan_in */
    for (int i = 0; i < k; i++) {
        lp_tensor *w = random_tensor(4, wd, he, &rng), *b = random_tensor(1, &bd, 0.1f, &rng);
        int in[3] = { v, -1, -1 }, y, r, node;
        char name[32];
        snprintf(name, sizeof name, "w%d", i);
        if (!w || !b || lp_graph_add_value(g, name, &in[1]) != LP_OK) {
            lp_tensor_free(w);
            lp_tensor_free(b);
            return 0;
        }
        lp_graph_set_const(g, in[1], w);
        snprintf(name, sizeof name, "b%d", i);
        if (lp_graph_add_value(g, name, &in[2]) != LP_OK) {
            lp_tensor_free(b);
            return 0;
        }
        lp_graph_set_const(g, in[2], b);
        L->w[i] = w->data, L->b[i] = b->data;
        int64_t pads[4] = { 1, 1, 1, 1 }, ks[2] = { 3, 3 }, st[2] = { L->stride[i], L->stride[i] };
        snprintf(name, sizeof name, "conv%d", i);
        if (lp_graph_new_value(g, "c", &y) != LP_OK || lp_graph_add_node(g, name, "Conv", "", 3, in, 1, &y, &node) != LP_OK ||
            !add_attr(g, node, "kernel_shape", LP_ATTR_INTS, 2, ks) || !add_attr(g, node, "pads", LP_ATTR_INTS, 4, pads) ||
            !add_attr(g, node, "strides", LP_ATTR_INTS, 2, st))
            return 0;
        snprintf(name, sizeof name, "relu%d", i);
        if (lp_graph_new_value(g, "r", &r) != LP_OK || lp_graph_add_node(g, name, "Relu", "", 1, &y, 1, &r, NULL) != LP_OK)
            return 0;
        v = r;
    }
    g->outputs[g->n_outputs++] = v;
    g->values[v].is_output = true;
    return 1;
}

static void layers_free(layers *L)
{
    lp_graph_free(L->g);
    lp_tensor_free(L->x);
}

/* ---- standalone oneDNN ---- */

/* A chain as a oneDNN user would run it: the convolutions, plus a reorder before a conv that
 * cannot read its predecessor's dst as laid out (a Winograd conv after a direct one). */
typedef struct dn_chain {
    dnnl_stream_t stream;
    int n_exec, n_mem, conv_exec[MAX_CHAIN];
    dnnl_primitive_t prim[2 * MAX_CHAIN];
    int nargs[2 * MAX_CHAIN];
    dnnl_exec_arg_t args[2 * MAX_CHAIN][5];
    dnnl_memory_t mem[6 * MAX_CHAIN + 8]; /* every memory object, to free */
    void *buf[3];                         /* activations: ping-pong dsts, a reorder's target */
    dnnl_memory_t in, out;                /* conv 0's src (filled once), the last conv's dst */
    char impl[128], layout[16];           /* the convs' implementations, conv 0's src layout */
} dn_chain;

static dnnl_engine_t engine;

static void dn_chain_free(dn_chain *d)
{
    for (int i = 0; i < d->n_exec; i++)
        dnnl_primitive_destroy(d->prim[i]);
    for (int i = 0; i < d->n_mem; i++)
        dnnl_memory_destroy(d->mem[i]);
    for (int i = 0; i < 3; i++)
        free(d->buf[i]);
    if (d->stream)
        dnnl_stream_destroy(d->stream);
}

/* oneDNN's name for a 4-d blocked layout: outer dims by decreasing stride, a blocked dim
 * upper-cased, then the inner blocks (acdb = NHWC, aBcd16b = nChw16c). */
static void layout_name(const dnnl_memory_desc_t *md, char *buf, size_t size)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (md->format_kind != dnnl_blocked || md->ndims != 4) {
        snprintf(buf, size, "?");
        return;
    }
    int order[4] = { 0, 1, 2, 3 };
    for (int i = 1; i < 4; i++) /* stable insertion sort, outermost first */
        for (int j = i; j > 0 && b->strides[order[j]] > b->strides[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        int blocked = 0;
        for (int j = 0; j < b->inner_nblks; j++)
            blocked |= b->inner_idxs[j] == order[i];
        n += (size_t)snprintf(buf + n, size - n, "%c", (blocked ? 'A' : 'a') + order[i]);
    }
    for (int j = 0; j < b->inner_nblks && n < size; j++)
        n += (size_t)snprintf(buf + n, size - n, "%d%c", (int)b->inner_blks[j], (char)('a' + b->inner_idxs[j]));
}

/* Appends `name` to the " + "-separated list in buf unless it is already its last entry. */
static void list_add(char *buf, size_t size, const char *name)
{
    size_t n = strlen(buf), k = strlen(name);
    if (n >= k && strcmp(buf + n - k, name) == 0)
        return;
    snprintf(buf + n, size - n, "%s%s", n ? " + " : "", name);
}

static int dn_ok(dnnl_status_t s, const char *what)
{
    if (s != dnnl_success)
        fprintf(stderr, "conv_overhead: oneDNN %s failed (status %d)\n", what, (int)s);
    return s == dnnl_success;
}

static int dn_reorder_prim(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, dnnl_primitive_t *out)
{
    dnnl_primitive_desc_t pd;
    if (!dn_ok(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL), "reorder_primitive_desc_create"))
        return 0;
    int ok = dn_ok(dnnl_primitive_create(out, pd), "reorder create");
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* One-off reorder (weights, the input, the result): from -> to. */
static int dn_reorder(dnnl_stream_t stream, dnnl_memory_t from, dnnl_memory_t to)
{
    const dnnl_memory_desc_t *mf, *mt;
    dnnl_primitive_t r;
    dnnl_memory_get_memory_desc(from, &mf);
    dnnl_memory_get_memory_desc(to, &mt);
    if (!dn_reorder_prim(mf, mt, &r))
        return 0;
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    int ok = dn_ok(dnnl_primitive_execute(r, stream, 2, args), "reorder") && dn_ok(dnnl_stream_wait(stream), "wait");
    dnnl_primitive_destroy(r);
    return ok;
}

static void plain_md(dnnl_memory_desc_t *md, int a, int b, int c, int d, dnnl_format_tag_t tag)
{
    dnnl_dims_t dims = { a, b, c, d };
    dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, tag);
}

/* A memory object the chain frees; handle NULL: oneDNN allocates. */
static int dn_new_mem(dn_chain *d, const dnnl_memory_desc_t *md, void *handle, dnnl_memory_t *out)
{
    if (d->n_mem == (int)(sizeof d->mem / sizeof d->mem[0]))
        return fail("too many oneDNN memories", NULL) && 0;
    if (!dn_ok(dnnl_memory_create(out, md, engine, handle ? handle : DNNL_MEMORY_ALLOCATE), "memory_create"))
        return 0;
    d->mem[d->n_mem++] = *out;
    return 1;
}

/* Appends a primitive to run (the chain owns it from here). */
static void dn_add_exec(dn_chain *d, dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args)
{
    d->prim[d->n_exec] = p;
    d->nargs[d->n_exec] = nargs;
    memcpy(d->args[d->n_exec++], args, (size_t)nargs * sizeof *args);
}

/* Bias, ReLU as an eltwise post-op, user scratchpad. */
static int dn_conv_attr(dnnl_primitive_attr_t *attr)
{
    dnnl_post_ops_t po;
    if (!dn_ok(dnnl_primitive_attr_create(attr), "attr_create"))
        return 0;
    int ok = dn_ok(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user), "scratchpad mode") &&
             dn_ok(dnnl_post_ops_create(&po), "post_ops_create");
    if (ok) {
        ok = dn_ok(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "append_eltwise") &&
             dn_ok(dnnl_primitive_attr_set_post_ops(*attr, po), "set_post_ops");
        dnnl_post_ops_destroy(po);
    }
    return ok;
}

/* Conv i of the chain by `alg`: src laid out as `src`, dst as `act_tag`, weights as oneDNN likes. */
static dnnl_status_t dn_conv_pd(const layers *L, int i, dnnl_alg_kind_t alg, const dnnl_memory_desc_t *src,
                                dnnl_format_tag_t act_tag, const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    int c = L->c, ho = L->h[i + 1];
    dnnl_memory_desc_t wei, bias, dst;
    dnnl_dims_t wd = { c, c, 3, 3 }, bd = { c }, strides = { L->stride[i], L->stride[i] }, pad = { 1, 1 };
    dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a);
    plain_md(&dst, 1, c, ho, ho, act_tag);
    dnnl_convolution_desc_t cd;
    dnnl_status_t s = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, src, &wei, &bias, &dst,
                                                         strides, pad, pad);
    return s == dnnl_success ? dnnl_primitive_desc_create(pd, &cd, attr, engine, NULL) : s;
}

/* Conv i's weights in the layout of pd, and its bias. */
static int dn_conv_weights(dn_chain *d, const layers *L, int i, dnnl_primitive_desc_t pd, dnnl_memory_t *wei,
                           dnnl_memory_t *bias)
{
    dnnl_memory_desc_t wplain, bmd;
    dnnl_memory_t wuser;
    dnnl_dims_t bd = { L->c };
    plain_md(&wplain, L->c, L->c, 3, 3, dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a);
    if (!dn_new_mem(d, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), NULL, wei) ||
        !dn_new_mem(d, &bmd, (void *)L->b[i], bias) || !dn_new_mem(d, &wplain, (void *)L->w[i], &wuser))
        return 0;
    return dn_reorder(d->stream, wuser, *wei);
}

/* The chain of L's layers, activations laid out as act_tag (any: oneDNN's choice); conv i
 * by Winograd when wino && wino[i], else direct. */
static int dn_chain_build(dn_chain *d, const layers *L, dnnl_format_tag_t act_tag, const bool *wino)
{
    memset(d, 0, sizeof *d);
    int c = L->c;
    size_t buf_bytes = (size_t)c * (size_t)L->h[1] * (size_t)L->h[1] * sizeof(float), scratch = 0;
    dnnl_primitive_attr_t attr = NULL;
    int ok = dn_ok(dnnl_stream_create(&d->stream, engine, dnnl_stream_default_flags), "stream_create") &&
             dn_conv_attr(&attr);
    for (int i = 0; i < 3 && ok; i++)
        ok = (d->buf[i] = aligned_alloc(64, buf_bytes)) != NULL || !fail("out of memory", NULL);
    dnnl_memory_desc_t prev_md;
    dnnl_memory_t prev = NULL;
    for (int i = 0; i < L->k && ok; i++) {
        dnnl_alg_kind_t alg = wino && wino[i] ? dnnl_convolution_winograd : dnnl_convolution_direct;
        dnnl_memory_desc_t src;
        dnnl_primitive_desc_t pd;
        if (i == 0)
            plain_md(&src, 1, c, L->h[0], L->h[0], act_tag);
        dnnl_status_t s = dn_conv_pd(L, i, alg, i ? &prev_md : &src, act_tag, attr, &pd);
        if (s != dnnl_success && i > 0) { /* it wants another src layout: reorder to it */
            plain_md(&src, 1, c, L->h[i], L->h[i], dnnl_format_tag_any);
            s = dn_conv_pd(L, i, alg, &src, act_tag, attr, &pd);
        }
        if (!dn_ok(s, alg == dnnl_convolution_winograd ? "Winograd convolution" : "convolution"))
            break;
        const char *impl = "?";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        list_add(d->impl, sizeof d->impl, impl);
        const dnnl_memory_desc_t *src_q = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *dst_q = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        if (sp && dnnl_memory_desc_get_size(sp) > scratch)
            scratch = dnnl_memory_desc_get_size(sp);
        if (i == 0)
            layout_name(src_q, d->layout, sizeof d->layout);
        dnnl_memory_t m_src = prev, m_dst, m_wei, m_bias;
        dnnl_primitive_t p;
        ok = dnnl_memory_desc_get_size(dst_q) <= buf_bytes && (i == 0 || dnnl_memory_desc_get_size(src_q) <= buf_bytes);
        if (!ok)
            fail("a padded layout outgrows the activation buffers", impl);
        if (ok && i == 0)
            ok = dn_new_mem(d, src_q, NULL, &d->in), m_src = d->in;
        else if (ok && !dnnl_memory_desc_equal(src_q, &prev_md)) {
            ok = dn_new_mem(d, src_q, d->buf[2], &m_src) && dn_reorder_prim(&prev_md, src_q, &p);
            if (ok)
                dn_add_exec(d, p, 2, (dnnl_exec_arg_t[]){ { DNNL_ARG_FROM, prev }, { DNNL_ARG_TO, m_src } });
        }
        ok = ok && dn_new_mem(d, dst_q, d->buf[i % 2], &m_dst) && dn_conv_weights(d, L, i, pd, &m_wei, &m_bias) &&
             dn_ok(dnnl_primitive_create(&p, pd), "convolution create");
        prev_md = *dst_q;
        dnnl_primitive_desc_destroy(pd);
        if (ok) {
            d->conv_exec[i] = d->n_exec;
            dn_add_exec(d, p, 4,
                        (dnnl_exec_arg_t[]){ { DNNL_ARG_SRC, m_src },
                                             { DNNL_ARG_WEIGHTS, m_wei },
                                             { DNNL_ARG_BIAS, m_bias },
                                             { DNNL_ARG_DST, m_dst } });
            prev = d->out = m_dst;
        }
    }
    dnnl_primitive_attr_destroy(attr);
    if (!ok || !d->out)
        return 0;
    dnnl_memory_desc_t spmd, xplain;
    dnnl_memory_t m_scratch, xuser;
    dnnl_dims_t sd = { (dnnl_dim_t)(scratch ? scratch : 1) };
    dnnl_memory_desc_init_by_tag(&spmd, 1, sd, dnnl_u8, dnnl_a);
    if (!dn_new_mem(d, &spmd, NULL, &m_scratch))
        return 0;
    for (int i = 0; i < L->k; i++) {
        int e = d->conv_exec[i];
        d->args[e][d->nargs[e]++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, m_scratch };
    }
    plain_md(&xplain, 1, c, L->h[0], L->h[0], dnnl_nchw);
    return dn_new_mem(d, &xplain, L->x->data, &xuser) && dn_reorder(d->stream, xuser, d->in);
}

static int dn_chain_run(void *p)
{
    dn_chain *d = p;
    for (int i = 0; i < d->n_exec; i++)
        if (dnnl_primitive_execute(d->prim[i], d->stream, d->nargs[i], d->args[i]) != dnnl_success)
            return fail("oneDNN execute failed", NULL);
    return dnnl_stream_wait(d->stream) == dnnl_success ? 0 : fail("oneDNN stream_wait failed", NULL);
}

/* The chain's result as plain NCHW, into out. */
static int dn_chain_result(dn_chain *d, const layers *L, float *out)
{
    dnnl_memory_desc_t md;
    dnnl_memory_t m;
    int h = L->h[L->k];
    plain_md(&md, 1, L->c, h, h, dnnl_nchw);
    return dn_new_mem(d, &md, out, &m) && dn_reorder(d->stream, d->out, m);
}

/* ---- lowp ---- */

typedef struct lowp_run {
    lp_plan *plan;
    const lp_tensor *in[1];
} lowp_run;

static int lowp_run_once(void *p)
{
    lowp_run *r = p;
    return lp_plan_run(r->plan, r->in, NULL, NULL) == LP_OK ? 0 : fail("lp_plan_run", lowp_last_error());
}

/* ---- measuring ---- */

typedef int (*run_fn)(void *);

static double seconds_per_run(run_fn fn, void *p, int iters)
{
    double t0 = now();
    for (int i = 0; i < iters; i++)
        if (fn(p))
            return -1;
    return (now() - t0) / iters;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double norm_err(const float *a, const float *ref, int64_t n)
{
    double m = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        m = d > m || isnan(d) ? d : m;
        r = fabs(ref[i]) > r ? fabs(ref[i]) : r;
    }
    return m / (r > 0 ? r : 1);
}

/* direct convolutions with oneDNN's layouts; the same forced to nChw16c; oneDNN with the
 * algorithm lowp's plan picked for each conv (Winograd or direct); lowp */
enum { V_ANY, V_16C, V_SAME, V_LOWP, N_VARIANTS };

typedef struct row {
    double gflops[N_VARIANTS], spread[N_VARIANTS];
    char impl[N_VARIANTS][160];
} row;

/* Which of lowp's convolution steps run Winograd, and their implementations into impl. */
static int lowp_algorithms(const lp_plan *p, int k, bool *wino, char *impl, size_t size)
{
    int j = 0;
    impl[0] = 0;
    for (int s = 0; s < p->n_steps; s++) {
        char buf[256];
        const char *desc = lp_plan_step_str(p, s, buf, sizeof buf), *paren = strrchr(desc, '(');
        if (!strstr(desc, "Conv"))
            continue;
        if (j == k)
            break;
        wino[j++] = strstr(desc, "wino") != NULL;
        if (paren) { /* "dnnl Conv+Relu (brgconv:avx512_core)" -> "brgconv:avx512_core" */
            desc = paren + 1;
            buf[strcspn(buf, ")")] = 0;
        }
        list_add(impl, size, desc);
    }
    if (j != k)
        fprintf(stderr, "conv_overhead: lowp's plan has %d convolution steps for %d convolutions\n", j, k);
    return j == k;
}

/* Builds the variants of one shape, checks that they agree, times them. */
static int measure(const struct shape *s, const opts *o, row *out)
{
    layers L;
    dn_chain d[V_LOWP];
    lowp_run lr = { 0 };
    float *res = NULL;
    bool wino[MAX_CHAIN], any_wino = false;
    int rc = 1;
    memset(d, 0, sizeof d);
    if (!layers_build(&L, s, o->chain)) {
        rc = fail("building the graph", lowp_last_error());
        goto done;
    }
    lp_plan_options po = lp_plan_options_default();
    po.threads = o->threads;
    lr.in[0] = L.x;
    if (lp_plan_compile_opt(L.g, lr.in, &po, &lr.plan) != LP_OK) {
        rc = fail("lp_plan_compile_opt", lowp_last_error());
        goto done;
    }
    if (!lowp_algorithms(lr.plan, L.k, wino, out->impl[V_LOWP], sizeof out->impl[V_LOWP]))
        goto done;
    for (int i = 0; i < L.k; i++)
        any_wino |= wino[i];
    /* without Winograd in lowp's plan, "oneDNN as lowp" is V_ANY: not built twice */
    if (!dn_chain_build(&d[V_ANY], &L, dnnl_format_tag_any, NULL) ||
        !dn_chain_build(&d[V_16C], &L, dnnl_aBcd16b, NULL) ||
        (any_wino && !dn_chain_build(&d[V_SAME], &L, dnnl_format_tag_any, wino)))
        goto done;
    int nv = any_wino ? V_LOWP : V_SAME; /* standalone variants built */
    for (int v = 0; v < nv; v++)
        snprintf(out->impl[v], sizeof out->impl[v], "%.127s, %.15s", d[v].impl, d[v].layout);

    /* agreement: every standalone chain against lowp's output */
    if (lowp_run_once(&lr))
        goto done;
    const lp_tensor *y = &lr.plan->vals[lr.plan->g->outputs[0]];
    int64_t n = lp_tensor_numel(y);
    if (!(res = malloc((size_t)n * sizeof *res))) {
        rc = fail("out of memory", NULL);
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        if (dn_chain_run(&d[v]) || !dn_chain_result(&d[v], &L, res))
            goto done;
        double e = norm_err(res, y->data, n);
        if (!(e <= TOL)) {
            fprintf(stderr, "conv_overhead: C=%d H=%d: standalone (%s) and lowp differ: normalized error %.3g\n",
                    s->c, s->h, d[v].impl, e);
            goto done;
        }
    }

    run_fn fn[N_VARIANTS] = { dn_chain_run, dn_chain_run, dn_chain_run, lowp_run_once };
    void *arg[N_VARIANTS] = { &d[V_ANY], &d[V_16C], &d[V_SAME], &lr };
    double t[N_VARIANTS][MAX_REPS];
    for (int v = 0; v < N_VARIANTS; v++)
        if ((v < nv || v == V_LOWP) && seconds_per_run(fn[v], arg[v], o->iters / 4 + 2) < 0) /* warmup */
            goto done;
    for (int r = 0; r < o->reps; r++)
        for (int v = 0; v < N_VARIANTS; v++)
            if ((v < nv || v == V_LOWP) && (t[v][r] = seconds_per_run(fn[v], arg[v], o->iters)) < 0)
                goto done;
    int ho = L.h[L.k];
    double flops = 2.0 * L.c * L.c * 9.0 * ho * ho * L.k; /* a direct convolution's */
    for (int v = 0; v < N_VARIANTS; v++) {
        if (v >= nv && v != V_LOWP)
            continue;
        double lo = t[v][0], hi = t[v][0];
        for (int r = 1; r < o->reps; r++)
            lo = fmin(lo, t[v][r]), hi = fmax(hi, t[v][r]);
        double m = median(t[v], o->reps);
        out->gflops[v] = flops / m * 1e-9;
        out->spread[v] = 50.0 * (hi - lo) / m; /* ± half the min-max spread, percent */
    }
    if (!any_wino) {
        out->gflops[V_SAME] = out->gflops[V_ANY], out->spread[V_SAME] = out->spread[V_ANY];
        memcpy(out->impl[V_SAME], out->impl[V_ANY], sizeof out->impl[V_SAME]);
    }
    rc = 0;
done:
    free(res);
    lp_plan_free(lr.plan);
    for (int v = 0; v < V_LOWP; v++)
        dn_chain_free(&d[v]);
    layers_free(&L);
    return rc;
}

static void shape_name(const struct shape *s, char *buf, size_t size)
{
    int ho = out_size(s->h, s->stride);
    if (s->stride == 1)
        snprintf(buf, size, "C=%d %dx%d s1", s->c, s->h, s->h);
    else
        snprintf(buf, size, "C=%d %d->%d s2", s->c, s->h, ho);
}

static int parse_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "conv_overhead: %s wants an integer in [%d, %d]\n", flag, lo, hi);
        return 0;
    }
    *out = (int)x;
    return 1;
}

int main(int argc, char **argv)
{
    opts o = { .iters = 20, .reps = 11, .chain = 4, .threads = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--iters"))
            ok = parse_int(a, v, 1, 1000000, &o.iters), i++;
        else if (!strcmp(a, "--reps"))
            ok = parse_int(a, v, 1, MAX_REPS, &o.reps), i++;
        else if (!strcmp(a, "--chain"))
            ok = parse_int(a, v, 1, MAX_CHAIN, &o.chain), i++;
        else if (!strcmp(a, "--threads"))
            ok = parse_int(a, v, 1, 1024, &o.threads), i++;
        else if (!strcmp(a, "--markdown"))
            o.markdown = 1;
        else {
            fprintf(stderr, "usage: conv_overhead [--iters N] [--reps N] [--chain K] [--threads N] [--markdown]\n");
            return 2;
        }
        if (!ok)
            return 2;
    }
    omp_set_num_threads(o.threads);
    if (!dn_ok(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create"))
        return 1;

    const char *cols[] = { "shape", "oneDNN direct any", "oneDNN direct nChw16c", "oneDNN as lowp", "lowp",
                           "lowp / oneDNN as lowp", "lowp / oneDNN direct any" };
    printf("# ResNet-50 3x3 conv + bias + ReLU, batch 1, FP32: chain of %d, %d thread(s), median of %d x %d runs;\n"
           "# GFLOP/s of a direct convolution's FLOPs (Winograd does fewer)\n",
           o.chain, o.threads, o.reps, o.iters);
    if (o.markdown)
        printf("| %s | %s | %s | %s | %s | %s | %s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n", cols[0],
               cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]);
    else
        printf("%-16s %19s %22s %16s %14s %22s %25s\n", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]);
    int n = (int)(sizeof shapes / sizeof shapes[0]);
    row rows[sizeof shapes / sizeof shapes[0]];
    for (int i = 0; i < n; i++) {
        char name[32], c[N_VARIANTS][32];
        shape_name(&shapes[i], name, sizeof name);
        if (measure(&shapes[i], &o, &rows[i])) {
            dnnl_engine_destroy(engine);
            return 1;
        }
        for (int v = 0; v < N_VARIANTS; v++)
            snprintf(c[v], sizeof c[v], "%.1f (±%.0f%%)", rows[i].gflops[v], rows[i].spread[v]);
        double same = 100.0 * rows[i].gflops[V_LOWP] / rows[i].gflops[V_SAME];
        double any = 100.0 * rows[i].gflops[V_LOWP] / rows[i].gflops[V_ANY];
        if (o.markdown)
            printf("| %s | %s | %s | %s | %s | %.0f %% | %.0f %% |\n", name, c[V_ANY], c[V_16C], c[V_SAME], c[V_LOWP],
                   same, any);
        else
            printf("%-16s %20s %22s %16s %15s %21.0f%% %24.0f%%\n", name, c[V_ANY], c[V_16C], c[V_SAME], c[V_LOWP],
                   same, any);
        fflush(stdout);
    }
    printf("\nimplementations (oneDNN: the convs' implementations, conv 0's activation layout):\n");
    for (int i = 0; i < n; i++) {
        char name[32];
        shape_name(&shapes[i], name, sizeof name);
        printf("%s%s: direct any: %s | direct nChw16c: %s | as lowp: %s | lowp: %s\n", o.markdown ? "- " : "", name,
               rows[i].impl[V_ANY], rows[i].impl[V_16C], rows[i].impl[V_SAME], rows[i].impl[V_LOWP]);
    }
    dnnl_engine_destroy(engine);
    return 0;
}
