/* conv1d_bench.c — formulations of 1-D convolutions in standalone oneDNN, side by side, on the
 * real models' shapes (docs/performance.md, "1-D convolutions"; the rules in dnnl_ops.c):
 *
 *   conv 1-D        the convolution as it is: (N, C, W), format_tag_any for src, weights, dst
 *   conv 2-D H=1    the same convolution as (N, C, 1, W) with a 1 x k kernel, format_tag_any
 *   frames+matmul   one input channel only: the frames F[n*T + t][i] = x[n][t*s + i] copied by
 *                   one reorder per s-sample phase (im2col), then (N*T, k) x (k, O) as one
 *                   matmul whose (N*T, O) result is the convolution's channels-last (nwc) dst
 *   frames+1x1 conv the same frames read as the (N, k, T) channels-last source of a 1x1
 *                   convolution of k input channels (lowp's form: the Conv builders' post-ops,
 *                   INT8 scales, zero-point compensation and layouts apply unchanged)
 *   matmul alone    the matmul without the frame copies (the copies' share)
 *
 * Each in FP32 and, for the one-channel convolutions, INT8 (u8 source, s8 weights, f32 dst with
 * an output scale: what lowp's INT8 Conv runs). The outputs are checked against a plain double
 * reference first (FP32: normalized error <= 1e-5; INT8: the integer sums are exact in every
 * form, so <= 1e-6, float rounding of the scaled result). Timing: warmup, then --reps
 * repetitions of a batch of runs of each form, interleaved so that load drifts hit all alike;
 * a form's time is the median over repetitions.
 *
 * Usage: conv1d_bench [--reps N] [--threads N] [--ms MS_PER_REP] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#define MAX_REPS 64
#define MAX_PHASES 16
#define NF 5 /* forms */

static const struct shape {
    const char *name;
    int n, c, o, w, k, s, p; /* groups = c when dw */
    int dw;
} shapes[] = {
    { "Silero v4 Conv_137 (dw 258, k5)", 1, 258, 258, 8, 5, 1, 2, 1 },
    { "Silero v4 Conv_137 (dw 258, k5)", 16, 258, 258, 8, 5, 1, 2, 1 },
    { "Silero v4 Conv_145 (dw 16, k5)", 16, 16, 16, 4, 5, 1, 2, 1 },
    { "Silero v4 Conv_153 (dw 32, k5)", 16, 32, 32, 2, 5, 1, 2, 1 },
    { "dw 64, k3, W 1000", 1, 64, 64, 1000, 3, 1, 1, 1 },
    { "dw 512, k5 s2, W 50", 4, 512, 512, 50, 5, 2, 2, 1 },
    { "Silero v4 Conv_73 (STFT k256 s64)", 1, 1, 258, 704, 256, 64, 0, 0 },
    { "Silero v4 Conv_73 (STFT k256 s64)", 16, 1, 258, 704, 256, 64, 0, 0 },
    { "melspectrogram (STFT k512 s160)", 1, 1, 257, 1280, 512, 160, 0, 0 },
    { "melspectrogram (STFT k512 s160)", 16, 1, 257, 1280, 512, 160, 0, 0 },
    { "melspectrogram, 2.1 s (k512 s160)", 1, 1, 257, 33600, 512, 160, 0, 0 },
    { "conv 64->128 k3 (not rewritten)", 16, 64, 128, 50, 3, 1, 1, 0 },
};

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    fprintf(stderr, "conv1d_bench: %s failed\n", what);
    exit(1);
}
#define OK(call, what) do { if ((call) != dnnl_success) die(what); } while (0)

static void md_tag(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt, dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    OK(dnnl_memory_desc_init_by_tag(md, nd, d, dt, tag), "memory_desc_init_by_tag");
}

static void md_strides(dnnl_memory_desc_t *md, int nd, const int64_t *dims, const int64_t *str, dnnl_data_type_t dt)
{
    dnnl_dims_t d, s;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i], s[i] = str[i];
    OK(dnnl_memory_desc_init_by_strides(md, nd, d, dt, s), "memory_desc_init_by_strides");
}

/* A form: primitives run in order, its output memory (read back as plain (N, O, T) float). */
typedef struct form {
    const char *name;
    int n_exec;
    dnnl_primitive_t prim[MAX_PHASES + 2];
    int nargs[MAX_PHASES + 2];
    dnnl_exec_arg_t args[MAX_PHASES + 2][5];
    dnnl_memory_t out;
    char impl[96];
    int ok;
    double t[MAX_REPS];
} form;

static dnnl_memory_t mem(const dnnl_memory_desc_t *md, void *h)
{
    dnnl_memory_t m;
    OK(dnnl_memory_create(&m, md, eng, h ? h : DNNL_MEMORY_ALLOCATE), "memory_create");
    return m;
}

static void reorder_now(dnnl_memory_t from, dnnl_memory_t to)
{
    const dnnl_memory_desc_t *a, *b;
    dnnl_memory_get_memory_desc(from, &a);
    dnnl_memory_get_memory_desc(to, &b);
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t r;
    OK(dnnl_reorder_primitive_desc_create(&pd, a, eng, b, eng, NULL), "reorder pd");
    OK(dnnl_primitive_create(&r, pd), "reorder");
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    OK(dnnl_primitive_execute(r, strm, 2, args), "reorder run");
    dnnl_stream_wait(strm);
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(pd);
}

static void add_exec(form *f, dnnl_primitive_desc_t pd, int nargs, const dnnl_exec_arg_t *args)
{
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    int i = f->n_exec++;
    memcpy(f->args[i], args, (size_t)nargs * sizeof *args);
    if (sp && dnnl_memory_desc_get_size(sp))
        f->args[i][nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, mem(sp, NULL) };
    f->nargs[i] = nargs;
    OK(dnnl_primitive_create(&f->prim[i], pd), "primitive_create");
}

static void run_form(const form *f)
{
    for (int i = 0; i < f->n_exec; i++)
        dnnl_primitive_execute(f->prim[i], strm, f->nargs[i], f->args[i]);
    dnnl_stream_wait(strm);
}

/* Input x (N, C, W) plain: float, or u8 for INT8 (then float weights quantized to s8 with one
 * scale; out = scale_x * scale_w * sum). */
typedef struct data {
    const struct shape *sh;
    int int8, T;
    float *x, *w;   /* x: (N, C, W); w: (O, C/g, k) */
    uint8_t *xq;
    int8_t *wq;
    float sx, sw;
} data;

/* The user scratchpad, and for INT8 the output scale sx * sw. */
static dnnl_primitive_attr_t make_attr(const data *D)
{
    dnnl_primitive_attr_t attr;
    OK(dnnl_primitive_attr_create(&attr), "attr");
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    float scale = D->sx * D->sw;
    if (D->int8)
        OK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "output scales");
    return attr;
}

/* conv as 1-D (nd 3) or as 2-D with H = 1 (nd 4) */
static void build_conv(form *f, const data *D, int nd)
{
    const struct shape *s = D->sh;
    int g = s->dw ? s->c : 1;
    dnnl_data_type_t st = D->int8 ? dnnl_u8 : dnnl_f32, wt = D->int8 ? dnnl_s8 : dnnl_f32;
    int64_t xd[4] = { s->n, s->c, 1, s->w }, yd[4] = { s->n, s->o, 1, D->T };
    int64_t wd[5] = { g, s->o / g, s->c / g, 1, s->k };
    if (nd == 3)
        xd[2] = s->w, yd[2] = D->T, wd[3] = s->k;
    dnnl_memory_desc_t x_any, w_any, y_any, x_plain, w_plain;
    md_tag(&x_any, nd, xd, st, dnnl_format_tag_any);
    md_tag(&y_any, nd, yd, dnnl_f32, dnnl_format_tag_any);
    md_tag(&x_plain, nd, xd, st, nd == 3 ? dnnl_abc : dnnl_abcd);
    int wn = nd + (g > 1);
    const int64_t *wdims = g > 1 ? wd : wd + 1;
    md_tag(&w_any, wn, wdims, wt, dnnl_format_tag_any);
    static const dnnl_format_tag_t plain[] = { 0, 0, 0, dnnl_abc, dnnl_abcd, dnnl_abcde };
    md_tag(&w_plain, wn, wdims, wt, plain[wn]);
    dnnl_dims_t strides = { 1, s->s }, dil = { 0, 0 }, pad = { 0, s->p };
    const int64_t *sp = nd == 3 ? strides + 1 : strides, *pp = nd == 3 ? pad + 1 : pad;
    dnnl_dims_t s3, p3, d3;
    for (int i = 0; i < nd - 2; i++)
        s3[i] = sp[i], p3[i] = pp[i], d3[i] = dil[i];
    dnnl_convolution_desc_t cd;
    OK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &x_any, &w_any,
                                                  NULL, &y_any, s3, d3, p3, p3),
       "convolution desc");
    dnnl_primitive_attr_t attr = make_attr(D);
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        snprintf(f->impl, sizeof f->impl, "(none)");
        return;
    }
    dnnl_primitive_attr_destroy(attr);
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(f->impl, sizeof f->impl, "%s", impl);
    dnnl_memory_t mx = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), NULL);
    dnnl_memory_t mw = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), NULL);
    f->out = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL);
    reorder_now(mem(&x_plain, D->int8 ? (void *)D->xq : (void *)D->x), mx); /* (the input's layout: untimed) */
    reorder_now(mem(&w_plain, D->int8 ? (void *)D->wq : (void *)D->w), mw);
    dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, mx }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DST, f->out } };
    add_exec(f, pd, 3, args);
    dnnl_primitive_desc_destroy(pd);
    f->ok = 1;
}

/* frames (im2col by phase reorders, unless matmul_only) + one matmul into nwc, or (as_conv) a
 * 1x1 convolution of k channels reading the frames as its (N, k, T) nwc source */
static void build_frames(form *f, const data *D, int matmul_only, int as_conv)
{
    const struct shape *s = D->sh;
    dnnl_data_type_t st = D->int8 ? dnnl_u8 : dnnl_f32, wt = D->int8 ? dnnl_s8 : dnnl_f32;
    int64_t T = D->T, k = s->k, S = s->s, NT = s->n * T, phases = (k + S - 1) / S;
    if (s->c != 1 || s->p != 0 || phases > MAX_PHASES) {
        snprintf(f->impl, sizeof f->impl, "(n/a)");
        return;
    }
    int64_t fd[2] = { NT, k }, fs[2] = { k, 1 };
    dnnl_memory_desc_t fmd, w_view, w_any, y_md;
    md_strides(&fmd, 2, fd, fs, st);
    dnnl_memory_t mf = mem(&fmd, NULL);
    void *fh, *xh = D->int8 ? (void *)D->xq : (void *)D->x;
    dnnl_memory_get_data_handle(mf, &fh);
    for (int64_t m = 0; m < phases; m++) { /* F[n][t][m*S + j] = x[n][(t + m)*S + j], j < S */
        int64_t wdt = k - m * S < S ? k - m * S : S;
        int64_t vd[3] = { s->n, T, wdt }, xs[3] = { s->w, S, 1 }, fs3[3] = { T * k, k, 1 };
        dnnl_memory_desc_t xv, fv;
        md_strides(&xv, 3, vd, xs, st);
        md_strides(&fv, 3, vd, fs3, st);
        xv.offset0 = fv.offset0 = m * S;
        dnnl_primitive_desc_t rpd;
        OK(dnnl_reorder_primitive_desc_create(&rpd, &xv, eng, &fv, eng, NULL), "frame reorder pd");
        dnnl_exec_arg_t a[2] = { { DNNL_ARG_FROM, mem(&xv, xh) }, { DNNL_ARG_TO, mem(&fv, fh) } };
        if (!matmul_only)
            add_exec(f, rpd, 2, a);
        else if (m == 0) /* fill the frames once */
            for (int64_t mm = 0; mm < phases; mm++) {
                int64_t w2 = k - mm * S < S ? k - mm * S : S, vd2[3] = { s->n, T, w2 };
                dnnl_memory_desc_t xv2, fv2;
                md_strides(&xv2, 3, vd2, xs, st);
                md_strides(&fv2, 3, vd2, fs3, st);
                xv2.offset0 = fv2.offset0 = mm * S;
                reorder_now(mem(&xv2, xh), mem(&fv2, fh));
            }
        dnnl_primitive_desc_destroy(rpd);
    }
    if (as_conv) {
        int64_t xd[3] = { s->n, k, T }, wd3[3] = { s->o, k, 1 }, yd3[3] = { s->n, s->o, T };
        dnnl_memory_desc_t x_nwc, w3_any, w3_plain, y_any;
        md_tag(&x_nwc, 3, xd, st, dnnl_acb); /* the frames' bytes */
        md_tag(&w3_any, 3, wd3, wt, dnnl_format_tag_any);
        md_tag(&w3_plain, 3, wd3, wt, dnnl_abc); /* (O, k, 1): the (O, 1, k) weights' bytes */
        md_tag(&y_any, 3, yd3, dnnl_f32, dnnl_format_tag_any);
        dnnl_dims_t one = { 1 }, zero = { 0 };
        dnnl_convolution_desc_t cd;
        OK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &x_nwc,
                                                      &w3_any, NULL, &y_any, one, zero, zero, zero),
           "1x1 convolution desc");
        dnnl_primitive_attr_t attr = make_attr(D);
        dnnl_primitive_desc_t pd;
        OK(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL), "1x1 convolution pd");
        dnnl_primitive_attr_destroy(attr);
        const char *impl = "?";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        snprintf(f->impl, sizeof f->impl, "reorder x phases + %s", impl);
        dnnl_memory_t mw = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), NULL);
        reorder_now(mem(&w3_plain, D->int8 ? (void *)D->wq : (void *)D->w), mw);
        f->out = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL);
        dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, mem(&x_nwc, fh) }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DST, f->out } };
        add_exec(f, pd, 3, args);
        dnnl_primitive_desc_destroy(pd);
        f->ok = 1;
        return;
    }
    int64_t wd[2] = { k, s->o }, ws[2] = { 1, k }, yd[2] = { NT, s->o };
    md_strides(&w_view, 2, wd, ws, wt); /* the (O, k) weights seen transposed */
    md_tag(&w_any, 2, wd, wt, dnnl_format_tag_any);
    md_tag(&y_md, 2, yd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    OK(dnnl_matmul_desc_init(&md, &fmd, &w_any, NULL, &y_md), "matmul desc");
    dnnl_primitive_attr_t attr = make_attr(D);
    dnnl_primitive_desc_t pd;
    OK(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL), "matmul pd");
    dnnl_primitive_attr_destroy(attr);
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(f->impl, sizeof f->impl, "%s%s", matmul_only ? "" : "reorder x phases + ", impl);
    dnnl_memory_t mw = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), NULL);
    reorder_now(mem(&w_view, D->int8 ? (void *)D->wq : (void *)D->w), mw);
    /* (N*T, O) row-major is the (N, O, T) result laid out nwc */
    int64_t od[3] = { s->n, s->o, T };
    dnnl_memory_desc_t nwc;
    md_tag(&nwc, 3, od, dnnl_f32, dnnl_acb);
    dnnl_memory_t my = mem(&y_md, NULL);
    void *yh;
    dnnl_memory_get_data_handle(my, &yh);
    f->out = mem(&nwc, yh);
    dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, mf }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DST, my } };
    add_exec(f, pd, 3, args);
    dnnl_primitive_desc_destroy(pd);
    f->ok = 1;
}

/* The form's output against the double reference: max |y - ref| / max |ref|. */
static double check(const form *f, const data *D, const double *ref)
{
    const struct shape *s = D->sh;
    dnnl_dims_t od = { s->n, s->o, D->T };
    dnnl_memory_desc_t plain, od4;
    const dnnl_memory_desc_t *have;
    dnnl_memory_get_memory_desc(f->out, &have);
    md_tag(&plain, 3, od, dnnl_f32, dnnl_abc);
    dnnl_memory_t src = f->out;
    if (have->ndims == 4) { /* the 2-D form's (N, O, 1, T): the same bytes as (N, O, T) */
        OK(dnnl_memory_desc_reshape(&od4, have, 3, od), "reshape");
        void *h;
        dnnl_memory_get_data_handle(f->out, &h);
        src = mem(&od4, h);
    }
    size_t n = (size_t)(s->n * s->o * D->T);
    float *y = malloc(n * sizeof *y);
    reorder_now(src, mem(&plain, y));
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(y[i] - ref[i]));
        m = fmax(m, fabs(ref[i]));
    }
    free(y);
    return e / (m > 0 ? m : 1);
}

int main(int argc, char **argv)
{
    int reps = 15, threads = 1;
    double ms = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
            ms = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: conv1d_bench [--reps N] [--threads N] [--ms MS_PER_REP]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || threads < 1 || ms <= 0) {
        fprintf(stderr, "conv1d_bench: --reps 1..%d, --threads >= 1, --ms > 0\n", MAX_REPS);
        return 2;
    }
    omp_set_num_threads(threads);
    OK(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    OK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags), "stream");
    printf("threads %d, %d interleaved repetitions of ~%.0f ms per form; median us per run\n\n", threads, reps, ms);
    printf("| shape | N | type | form | implementation | us | vs conv 1-D |\n|---|---:|---|---|---|---:|---:|\n");
    uint64_t seed = 12345;
    int bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int int8 = 0; int8 < 2; int8++) {
            const struct shape *s = &shapes[si];
            if (int8 && s->c != 1) /* INT8: the one-channel convolutions (issue 13) */
                continue;
            data D = { .sh = s, .int8 = int8, .T = (s->w + 2 * s->p - s->k) / s->s + 1, .sx = 1.f / 64, .sw = 1.f / 256 };
            int g = s->dw ? s->c : 1, cg = s->c / g, og = s->o / g;
            size_t nx = (size_t)s->n * s->c * s->w, nw = (size_t)s->o * cg * s->k;
            D.x = malloc(nx * sizeof *D.x), D.w = malloc(nw * sizeof *D.w);
            D.xq = malloc(nx), D.wq = malloc(nw);
            for (size_t i = 0; i < nx; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                D.xq[i] = (uint8_t)(seed >> 56);
                D.x[i] = int8 ? D.xq[i] * D.sx : (float)((seed >> 40) % 2001) / 1000.f - 1.f;
            }
            for (size_t i = 0; i < nw; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                D.wq[i] = (int8_t)(seed >> 56);
                D.w[i] = int8 ? D.wq[i] * D.sw : (float)((seed >> 40) % 2001) / 1000.f - 1.f;
            }
            size_t ny = (size_t)s->n * s->o * D.T;
            double *ref = calloc(ny, sizeof *ref);
            for (int n = 0; n < s->n; n++)
                for (int o = 0; o < s->o; o++)
                    for (int t = 0; t < D.T; t++) {
                        double acc = 0;
                        for (int c = 0; c < cg; c++)
                            for (int j = 0; j < s->k; j++) {
                                int xi = t * s->s + j - s->p;
                                if (xi >= 0 && xi < s->w)
                                    acc += (double)D.x[((size_t)n * s->c + (size_t)(o / og) * cg + c) * s->w + xi] *
                                           D.w[((size_t)o * cg + c) * s->k + j];
                            }
                        ref[((size_t)n * s->o + o) * D.T + t] = acc;
                    }
            form F[NF] = { { .name = "conv 1-D" }, { .name = "conv 2-D H=1" }, { .name = "frames+matmul" },
                           { .name = "frames+1x1 conv" }, { .name = "matmul alone" } };
            build_conv(&F[0], &D, 3);
            build_conv(&F[1], &D, 4);
            build_frames(&F[2], &D, 0, 0);
            build_frames(&F[3], &D, 0, 1);
            build_frames(&F[4], &D, 1, 0);
            double tol = int8 ? 1e-6 : 1e-5;
            int iters[NF] = { 0 };
            for (int f = 0; f < NF; f++) {
                if (!F[f].ok)
                    continue;
                run_form(&F[f]);
                double e = check(&F[f], &D, ref);
                if (!(e <= tol)) {
                    fprintf(stderr, "%s N%d %s %s: error %.3g > %.0e\n", s->name, s->n, int8 ? "INT8" : "FP32",
                            F[f].name, e, tol);
                    bad = 1;
                    F[f].ok = 0;
                    continue;
                }
                double t0 = now();
                int it = 0;
                while (now() - t0 < ms * 1e-3 / 4 || it < 3) {
                    run_form(&F[f]);
                    it++;
                }
                iters[f] = (int)(it * 4 * 1.0) > 1 ? it * 4 : 1;
            }
            for (int r = 0; r < reps; r++)
                for (int f = 0; f < NF; f++) {
                    if (!F[f].ok)
                        continue;
                    double t0 = now();
                    for (int i = 0; i < iters[f]; i++)
                        run_form(&F[f]);
                    F[f].t[r] = (now() - t0) / iters[f] * 1e6;
                }
            double base = 0;
            for (int f = 0; f < NF; f++) {
                if (!F[f].ok) {
                    if (f < NF - 1 && strcmp(F[f].impl, "(n/a)") != 0)
                        printf("| %s | %d | %s | %s | %s | - | - |\n", s->name, s->n, int8 ? "INT8" : "FP32", F[f].name,
                               F[f].impl[0] ? F[f].impl : "(failed)");
                    continue;
                }
                qsort(F[f].t, (size_t)reps, sizeof F[f].t[0], cmp_d);
                double med = F[f].t[reps / 2];
                if (f == 0)
                    base = med;
                printf("| %s | %d | %s | %s | %s | %.1f | %s%.2fx |\n", s->name, s->n, int8 ? "INT8" : "FP32", F[f].name,
                       F[f].impl, med, "", base > 0 ? base / med : 0);
            }
            free(D.x), free(D.w), free(D.xq), free(D.wq), free(ref);
        }
    return bad;
}
