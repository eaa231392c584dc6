/* deconv_bench.c — ConvTranspose + Add(bias) [+ activation] in lowp's three builds and in
 * standalone oneDNN, side by side (docs/engine.md, "ConvTranspose"):
 *
 *   lowp               the default: kernel == stride as matmul + pixel shuffle, otherwise
 *                      the split form
 *   lowp split         LOWP_DECONV=split: oneDNN's deconvolution without post-ops (plain
 *                      layouts), then bias and post-ops as one binary primitive
 *   lowp fused         LOWP_DECONV=fused: oneDNN's deconvolution with bias and post-ops fused,
 *                      what lowp did before (oneDNN 2.6 runs them in a reference loop)
 *   oneDNN any alone   standalone oneDNN: the deconvolution alone (no bias, no post-ops),
 *                      format_tag_any for src, weights and dst, weights reordered once: what
 *                      oneDNN's own kernel costs at best, in the layout it likes
 *
 * Shapes: PP-OCRv4 det's two heads (k = s = 2), a U-Net style k = s = 2 upsampling, and two
 * general cases (k4 s2 p1, k3 s2 p1 op1). Timing: warmup, then --reps repetitions of --iters
 * runs of each variant, interleaved (machine-load drifts hit all alike); a variant's time is
 * the median over repetitions (the minimum in parentheses: on a loaded machine a run of a few ms
 * is often preempted). lowp's outputs are checked against the reference kernels first.
 *
 * Usage: deconv_bench [--iters N] [--reps N] [--threads N] [--batch N] */
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

#define MAX_REPS 64
#define TOL 1e-5 /* normalized: same sums in another order (observed ~1e-7) */

static const struct shape {
    const char *name;
    int c, m, h, k, s, p, op;
    const char *act;   /* activation after the bias Add, or NULL */
} shapes[] = {
    { "paddle det up 1", 24, 24, 80, 2, 2, 0, 0, NULL },
    { "paddle det up 2", 24, 1, 160, 2, 2, 0, 0, "Sigmoid" },
    { "unet up", 64, 32, 64, 2, 2, 0, 0, "Relu" },
    { "k4 s2 p1", 64, 32, 32, 4, 2, 1, 0, "Relu" },
    { "k3 s2 p1 op1", 32, 16, 64, 3, 2, 1, 1, NULL },
};

enum { V_LOWP, V_SPLIT, V_FUSED, V_ONEDNN, N_VAR };
static const char *var_name[N_VAR] = { "lowp", "lowp split", "lowp fused", "oneDNN any alone" };
static const char *var_env[N_VAR] = { NULL, "split", "fused", NULL };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "deconv_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static lp_tensor *random_tensor(int nd, const int64_t *dims, float scale, uint64_t *rng)
{
    lp_tensor *t;
    if (lp_tensor_new(LOWP_FLOAT, nd, dims, &t) != LP_OK)
        return NULL;
    for (int64_t i = 0; i < lp_tensor_numel(t); i++)
        ((float *)t->data)[i] = scale * (float)(2.0 * lowp_random_uniform(rng) - 1.0);
    return t;
}

static int add_ints(lp_graph *g, int node, const char *name, int n, int64_t *v)
{
    lp_attr a = { .name = (char *)name, .type = LP_ATTR_INTS, .n = n, .ints = v };
    return lp_node_add_attr(&g->nodes[node], &a) == LP_OK;
}

static int add_const(lp_graph *g, const char *name, lp_tensor *t)
{
    int v;
    if (!t || lp_graph_add_value(g, name, &v) != LP_OK) {
        lp_tensor_free(t);
        return -1;
    }
    lp_graph_set_const(g, v, t);
    return v;
}

/* x -> ConvTranspose(w) -> Add(b as (M,1,1)) [-> act]; *wdata: the weights, for oneDNN. */
static lp_graph *build(const struct shape *s, int batch, lp_tensor **x, const float **wdata)
{
    uint64_t rng = 0xdec0de5eedULL + (uint64_t)s->c * 131 + (uint64_t)s->h;
    lp_graph *g;
    if (lp_graph_new(&g) != LP_OK)
        return NULL;
    g->ir_version = 8;
    g->opsets = calloc(1, sizeof *g->opsets);
    g->inputs = calloc(1, sizeof(int));
    g->outputs = calloc(1, sizeof(int));
    if (!g->opsets || !g->inputs || !g->outputs || !(g->opsets[0].domain = strdup("")))
        goto fail;
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    int64_t xd[4] = { batch, s->c, s->h, s->h }, wd[4] = { s->c, s->m, s->k, s->k }, bd[3] = { s->m, 1, 1 };
    int v, y, node;
    if (!(*x = random_tensor(4, xd, 1.0f, &rng)) || lp_graph_add_value(g, "x", &v) != LP_OK)
        goto fail;
    g->values[v].kind = LP_VALUE_INPUT;
    g->values[v].dtype = LOWP_FLOAT;
    g->values[v].shape.ndim = 4;
    memcpy(g->values[v].shape.d, xd, sizeof xd);
    g->inputs[g->n_inputs++] = v;
    lp_tensor *w = random_tensor(4, wd, 1.0f / sqrtf((float)(s->c * s->k * s->k)), &rng);
    *wdata = w ? w->data : NULL;
    int in[2] = { v, add_const(g, "w", w) }, bin[2] = { -1, add_const(g, "b", random_tensor(3, bd, 0.1f, &rng)) };
    int64_t ks[2] = { s->k, s->k }, st[2] = { s->s, s->s }, pads[4] = { s->p, s->p, s->p, s->p }, op[2] = { s->op, s->op };
    if (in[1] < 0 || bin[1] < 0 || lp_graph_new_value(g, "y", &y) != LP_OK ||
        lp_graph_add_node(g, "deconv", "ConvTranspose", "", 2, in, 1, &y, &node) != LP_OK ||
        !add_ints(g, node, "kernel_shape", 2, ks) || !add_ints(g, node, "strides", 2, st) ||
        !add_ints(g, node, "pads", 4, pads) || !add_ints(g, node, "output_padding", 2, op))
        goto fail;
    bin[0] = y;
    if (lp_graph_new_value(g, "yb", &y) != LP_OK || lp_graph_add_node(g, "bias", "Add", "", 2, bin, 1, &y, NULL) != LP_OK)
        goto fail;
    if (s->act) {
        int a = y;
        if (lp_graph_new_value(g, "ya", &y) != LP_OK || lp_graph_add_node(g, "act", s->act, "", 1, &a, 1, &y, NULL) != LP_OK)
            goto fail;
    }
    g->outputs[g->n_outputs++] = y;
    g->values[y].is_output = true;
    return g;
fail:
    lp_graph_free(g);
    return NULL;
}

/* ---- standalone oneDNN: the deconvolution alone, any formats ---- */

typedef struct standalone {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t mem[5];
    dnnl_exec_arg_t args[4];
    const char *impl;
} standalone;

static void standalone_free(standalone *d)
{
    if (d->prim)
        dnnl_primitive_destroy(d->prim);
    for (int i = 0; i < 5; i++)
        if (d->mem[i])
            dnnl_memory_destroy(d->mem[i]);
    if (d->stream)
        dnnl_stream_destroy(d->stream);
    if (d->engine)
        dnnl_engine_destroy(d->engine);
}

static int standalone_init(standalone *d, const struct shape *s, int batch, const lp_tensor *x, const float *w)
{
    int64_t oh = (s->h - 1) * s->s + s->op + s->k - 2 * s->p;
    dnnl_dims_t sd = { batch, s->c, s->h, s->h }, wd = { s->m, s->c, s->k, s->k }, dd = { batch, s->m, oh, oh };
    dnnl_dims_t st = { s->s, s->s }, pl = { s->p, s->p }, pr = { s->p - s->op, s->p - s->op };
    dnnl_dims_t wstr = { s->k * s->k, s->m * s->k * s->k, s->k, 1 }; /* ONNX's (C, M, k, k) as oihw */
    dnnl_memory_desc_t src, wei, dst, wsrc, xplain;
    dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_strides(&wsrc, 4, wd, dnnl_f32, wstr);
    dnnl_memory_desc_init_by_tag(&xplain, 4, sd, dnnl_f32, dnnl_nchw);
    dnnl_deconvolution_desc_t dc;
    dnnl_primitive_desc_t pd;
    if (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags) != dnnl_success ||
        dnnl_deconvolution_forward_desc_init(&dc, dnnl_forward_inference, dnnl_deconvolution_direct, &src, &wei, NULL,
                                             &dst, st, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &dc, NULL, d->engine, NULL) != dnnl_success)
        return 0;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &d->impl);
    const dnnl_memory_desc_t *q[3] = { dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                       dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                                       dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0) };
    int ok = dnnl_primitive_create(&d->prim, pd) == dnnl_success;
    for (int i = 0; ok && i < 3; i++)
        ok = dnnl_memory_create(&d->mem[i], q[i], d->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success;
    ok = ok && dnnl_memory_create(&d->mem[3], &wsrc, d->engine, (void *)w) == dnnl_success &&
         dnnl_memory_create(&d->mem[4], &xplain, d->engine, x->data) == dnnl_success;
    /* weights and input into the primitive's layouts, once (untimed) */
    for (int i = 0; ok && i < 2; i++) {
        dnnl_memory_t from = d->mem[i == 0 ? 4 : 3], to = d->mem[i];
        const dnnl_memory_desc_t *mf;
        dnnl_memory_get_memory_desc(from, &mf);
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t r;
        ok = dnnl_reorder_primitive_desc_create(&rpd, mf, d->engine, q[i], d->engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&r, rpd) == dnnl_success;
        if (ok) {
            dnnl_primitive_desc_destroy(rpd);
            dnnl_exec_arg_t a[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
            ok = dnnl_primitive_execute(r, d->stream, 2, a) == dnnl_success && dnnl_stream_wait(d->stream) == dnnl_success;
            dnnl_primitive_destroy(r);
        }
    }
    dnnl_primitive_desc_destroy(pd);
    d->args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, d->mem[0] };
    d->args[1] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, d->mem[1] };
    d->args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, d->mem[2] };
    return ok;
}

static int standalone_run(standalone *d)
{
    return dnnl_primitive_execute(d->prim, d->stream, 3, d->args) == dnnl_success &&
           dnnl_stream_wait(d->stream) == dnnl_success;
}

/* ---- one shape ---- */

static double norm_err(const lp_tensor *a, const lp_tensor *ref)
{
    const float *x = a->data, *y = ref->data;
    double m = 0, r = 0;
    for (int64_t i = 0; i < lp_tensor_numel(ref); i++) {
        double e = fabs((double)x[i] - y[i]);
        if (!(e <= m))
            m = isnan(e) ? INFINITY : e;
        if (fabs(y[i]) > r)
            r = fabs(y[i]);
    }
    return m / (r > 1e-30 ? r : 1.0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_shape(const struct shape *s, int batch, int threads, int iters, int reps)
{
    lp_tensor *x = NULL;
    const float *w = NULL;
    lp_graph *g = build(s, batch, &x, &w);
    if (!g || !w)
        return fail("cannot build the graph", s->name);
    const lp_tensor *in[1] = { x };
    lp_plan *plan[N_VAR] = { 0 }, *ref = NULL;
    lp_plan_options o = lp_plan_options_default();
    o.threads = threads;
    char impl[N_VAR][256] = { { 0 } };
    int rc = 0;
    for (int v = 0; v < V_ONEDNN && !rc; v++) {
        if (var_env[v])
            setenv("LOWP_DECONV", var_env[v], 1);
        if (lp_plan_compile_opt(g, in, &o, &plan[v]) != LP_OK)
            rc = fail("lowp compile", lowp_last_error());
        unsetenv("LOWP_DECONV");
        char d[200];
        for (int k = 0; !rc && k < plan[v]->n_steps; k++)
            if (strstr(lp_plan_step_str(plan[v], k, d, sizeof d), "ConvTranspose")) {
                const char *p = strchr(d, '(');
                snprintf(impl[v], sizeof impl[v], "%s", p ? p : d);
            }
    }
    lp_plan_options ro = lp_plan_options_default();
    ro.reference_only = true;
    if (!rc && (lp_plan_compile_opt(g, in, &ro, &ref) != LP_OK || lp_plan_run(ref, in, NULL, NULL) != LP_OK))
        rc = fail("reference plan", lowp_last_error());
    for (int v = 0; v < V_ONEDNN && !rc; v++) {
        if (lp_plan_run(plan[v], in, NULL, NULL) != LP_OK)
            rc = fail("lowp run", lowp_last_error());
        else {
            double e = norm_err(&plan[v]->vals[g->outputs[0]], &ref->vals[g->outputs[0]]);
            if (!(e <= TOL)) {
                fprintf(stderr, "deconv_bench: %s: %s differs from the reference: %.3g\n", s->name, var_name[v], e);
                rc = 1;
            }
        }
    }
    standalone sa = { 0 };
    omp_set_num_threads(threads);
    if (!rc && !standalone_init(&sa, s, batch, x, w))
        rc = fail("standalone oneDNN", s->name);
    if (!rc)
        snprintf(impl[V_ONEDNN], sizeof impl[V_ONEDNN], "(%s)", sa.impl);
    static double t[N_VAR][MAX_REPS];
    for (int r = -1; r < reps && !rc; r++) /* r = -1: warmup */
        for (int v = 0; v < N_VAR && !rc; v++) {
            double t0 = now();
            for (int i = 0; i < iters && !rc; i++)
                if (v == V_ONEDNN ? !standalone_run(&sa) : lp_plan_run(plan[v], in, NULL, NULL) != LP_OK)
                    rc = fail("run", var_name[v]);
            if (r >= 0)
                t[v][r] = (now() - t0) / iters * 1e3;
        }
    if (!rc) {
        printf("%-16s C%-3d M%-3d %3dx%-3d k%d s%d p%d op%d %-8s", s->name, s->c, s->m, s->h, s->h, s->k, s->s, s->p,
               s->op, s->act ? s->act : "");
        double med[N_VAR];
        for (int v = 0; v < N_VAR; v++) {
            qsort(t[v], (size_t)reps, sizeof t[v][0], cmp_double);
            med[v] = t[v][reps / 2];
            printf("  %s %.3f (%.3f)", var_name[v], med[v], t[v][0]);
        }
        printf("  fused/lowp %.1fx\n", med[V_FUSED] / med[V_LOWP]);
        for (int v = 0; v < N_VAR; v++)
            printf("    %-17s %s\n", var_name[v], impl[v]);
    }
    standalone_free(&sa);
    for (int v = 0; v < V_ONEDNN; v++)
        lp_plan_free(plan[v]);
    lp_plan_free(ref);
    lp_graph_free(g);
    lp_tensor_free(x);
    return rc;
}

int main(int argc, char **argv)
{
    int iters = 3, reps = 5, threads = 1, batch = 1;
    for (int i = 1; i < argc; i++) {
        int *dst = !strcmp(argv[i], "--iters") ? &iters : !strcmp(argv[i], "--reps") ? &reps
                                                      : !strcmp(argv[i], "--threads") ? &threads
                                                      : !strcmp(argv[i], "--batch") ? &batch : NULL;
        if (!dst || i + 1 >= argc)
            return fail("usage", "deconv_bench [--iters N] [--reps N] [--threads N] [--batch N]");
        *dst = atoi(argv[++i]);
    }
    if (iters < 1 || reps < 1 || reps > MAX_REPS || threads < 1 || batch < 1)
        return fail("bad option", "iters, threads, batch >= 1; reps 1..64");
    printf("ConvTranspose + Add(bias) [+ act], batch %d, %d thread(s); ms per run, median (min) of %d x %d runs\n", batch,
           threads, reps, iters);
    int rc = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        rc |= bench_shape(&shapes[i], batch, threads, iters, reps);
    return rc;
}
