/* dnnl_dw_bench.c — which oneDNN 2.6.3 kernel runs an INT8 depthwise convolution, and how
 * fast, depending on its form (src/kernels/dnnl_int8.c, dn_conv_int8; docs/performance.md,
 * "Where INT8 does not pay"). One channels-last depthwise convolution (u8 source, s8 weights,
 * per-channel output scales, a hardswish post-op, f32 or u8 destination) built as
 *
 *   zp      a source zero point as oneDNN's attribute (what ONNX's padding with real 0 needs)
 *   nozp    no source zero point (its interior term folded into the bias; wrong at the border)
 *   nozp+b  nozp plus a full-size binary add before the hardswish (the border term)
 *   pad     nozp on a source copied into a buffer pre-padded with the zero point (+ the copy)
 *   f32     the FP32 convolution of the dequantized source
 *   deq+f32 a dequantizing reorder u8 -> f32 then f32
 *
 * and prints each one's implementation and median time of 200 runs (1 thread: run with
 * OMP_NUM_THREADS=1). DW_AFFINE=1: per-channel Mul + Add before and after the hardswish
 * (PPLCNetV3's learnable affines) instead of the hardswish alone.
 *
 *   cc -O1 tools/dnnl_dw_bench.c -ldnnl -lm -o /tmp/dw_bench && OMP_NUM_THREADS=1 /tmp/dw_bench
 *   OMP_NUM_THREADS=1 /tmp/dw_bench N C H W K STRIDE_H STRIDE_W DST(f32|u8)   (one shape) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

static dnnl_engine_t eng;
static dnnl_stream_t strm;
static bool affine; /* PPLCNetV3's learnable affines around the HardSwish: x * a[c] + b[c] */

static void ck(dnnl_status_t s, const char *what)
{
    if (s != dnnl_success) {
        fprintf(stderr, "%s: status %d\n", what, (int)s);
        exit(2);
    }
}

static dnnl_memory_t mem(const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    ck(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE), "memory");
    void *h;
    dnnl_memory_get_data_handle(m, &h);
    memset(h, 3, dnnl_memory_desc_get_size(md));
    return m;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ms of 200 runs of up to three primitives in a row (NULL: none). */
static double timeit(dnnl_primitive_t *p, const int *n, dnnl_exec_arg_t **a)
{
    enum { RUNS = 200 };
    double t[RUNS];
    for (int i = -20; i < RUNS; i++) {
        double t0 = now();
        for (int k = 0; k < 3; k++)
            if (p[k])
                ck(dnnl_primitive_execute(p[k], strm, n[k], a[k]), "execute");
        ck(dnnl_stream_wait(strm), "wait");
        if (i >= 0)
            t[i] = now() - t0;
    }
    qsort(t, RUNS, sizeof *t, cmp);
    return t[RUNS / 2];
}

/* A reorder from (md a, memory ma) to (md b, memory mb), (x - zp) * scale; its pd and args. */
static dnnl_primitive_t reorder(const dnnl_memory_desc_t *a, dnnl_memory_t ma, const dnnl_memory_desc_t *b,
                                dnnl_memory_t mb, float scale, int32_t zp, dnnl_primitive_desc_t *pd,
                                dnnl_exec_arg_t *args)
{
    dnnl_primitive_attr_t attr;
    dnnl_primitive_t p;
    ck(dnnl_primitive_attr_create(&attr), "attr");
    ck(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "scales");
    if (zp) /* (a dequantizing reorder's source zero point, as lowp's) */
        ck(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp), "zero point");
    ck(dnnl_reorder_primitive_desc_create(pd, a, eng, b, eng, attr), "reorder pd");
    ck(dnnl_primitive_create(&p, *pd), "reorder");
    dnnl_primitive_attr_destroy(attr);
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_FROM, ma };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_TO, mb };
    return p;
}

typedef struct shape_t {
    int64_t n, c, h, w, k, sh, sw; /* strides along H and W */
    dnnl_data_type_t ddt;
} shape_t;

enum { ZP, NOZP, NOZP_BIN, PAD, F32, DEQ_F32, DEQ_F32_U8 };
static const char *names[] = { "zp", "nozp", "nozp+b", "pad", "f32", "deq+f32", "deq+f32>u8" };

static void variant(const shape_t *sh, int v)
{
    int64_t p = sh->k / 2, oh = (sh->h + 2 * p - sh->k) / sh->sh + 1, ow = (sh->w + 2 * p - sh->k) / sh->sw + 1;
    bool f32 = v == F32 || v == DEQ_F32 || v == DEQ_F32_U8, pad = v == PAD;
    dnnl_dims_t xd = { sh->n, sh->c, sh->h + (pad ? 2 * p : 0), sh->w + (pad ? 2 * p : 0) },
                wd = { sh->c, 1, 1, sh->k, sh->k }, yd = { sh->n, sh->c, oh, ow }, bd = { sh->c },
                st = { sh->sh, sh->sw }, dil = { 0, 0 }, pl = { pad ? 0 : p, pad ? 0 : p };
    dnnl_data_type_t xdt = f32 ? dnnl_f32 : dnnl_u8, ddt = f32 ? dnnl_f32 : sh->ddt;
    dnnl_memory_desc_t x_md, w_md, b_md, y_md, r_md;
    ck(dnnl_memory_desc_init_by_tag(&x_md, 4, xd, xdt, dnnl_nhwc), "md");
    ck(dnnl_memory_desc_init_by_tag(&w_md, 5, wd, f32 ? dnnl_f32 : dnnl_s8, dnnl_format_tag_any), "md");
    ck(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a), "md");
    ck(dnnl_memory_desc_init_by_tag(&y_md, 4, yd, ddt, dnnl_nhwc), "md");
    ck(dnnl_memory_desc_init_by_tag(&r_md, 4, yd, dnnl_f32, dnnl_nhwc), "md");
    dnnl_convolution_desc_t cd;
    ck(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &x_md, &w_md,
                                                  &b_md, &y_md, st, dil, pl, pl),
       "conv desc");
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    ck(dnnl_primitive_attr_create(&attr), "attr");
    ck(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad");
    ck(dnnl_post_ops_create(&po), "post-ops");
    dnnl_dims_t cdims = { 1, sh->c, 1, 1 };
    dnnl_memory_desc_t c_md;
    ck(dnnl_memory_desc_init_by_tag(&c_md, 4, cdims, dnnl_f32, dnnl_nchw), "md");
    if (v == NOZP_BIN)
        ck(dnnl_post_ops_append_binary(po, dnnl_binary_add, &r_md), "binary");
    for (int i = 0; affine && i < 2; i++) {
        ck(dnnl_post_ops_append_binary(po, dnnl_binary_mul, &c_md), "binary");
        ck(dnnl_post_ops_append_binary(po, dnnl_binary_add, &c_md), "binary");
        if (i == 0)
            ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_hardswish, 0.f, 0.f), "eltwise");
    }
    if (!affine)
        ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_hardswish, 0.f, 0.f), "eltwise");
    if (!f32) {
        float *sc = malloc((size_t)sh->c * sizeof *sc);
        for (int64_t i = 0; i < sh->c; i++)
            sc[i] = 0.01f;
        ck(dnnl_primitive_attr_set_output_scales(attr, (int)sh->c, 1 << 1, sc), "scales");
        free(sc);
        if (v == ZP) {
            int32_t zp = 14;
            ck(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp), "zero point");
        }
        if (ddt == dnnl_u8)
            ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, 40.f, 0.f), "eltwise");
    }
    ck(dnnl_primitive_attr_set_post_ops(attr, po), "set post-ops");
    dnnl_primitive_desc_t pd;
    ck(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL), "conv pd");
    const char *impl = NULL;
    ck(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl), "impl");
    dnnl_memory_t mx = mem(&x_md), mw = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)),
                  mb = mem(&b_md), my = mem(&y_md), mr = mem(&r_md),
                  msp = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
    dnnl_primitive_t conv, pre = NULL;
    ck(dnnl_primitive_create(&conv, pd), "conv");
    dnnl_exec_arg_t a[10] = { { DNNL_ARG_SRC, mx },
                              { DNNL_ARG_WEIGHTS, mw },
                              { DNNL_ARG_BIAS, mb },
                              { DNNL_ARG_DST, my },
                              { DNNL_ARG_SCRATCHPAD, msp } };
    dnnl_memory_t mc[4] = { NULL };
    int na = 5;
    for (int i = 0, k = 0; i < dnnl_post_ops_len(po); i++) {
        if (dnnl_post_ops_get_kind(po, i) != dnnl_binary)
            continue;
        dnnl_memory_t m = mr;
        if (!(v == NOZP_BIN && i == 0))
            m = mc[k++] = mem(&c_md);
        a[na++] = (dnnl_exec_arg_t){ DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, m };
    }
    /* the pass before: a dequantizing reorder, or the copy into the padded buffer */
    dnnl_memory_t m0 = NULL, m1 = NULL;
    dnnl_exec_arg_t ra[2];
    dnnl_primitive_desc_t rpd = NULL;
    if (v == DEQ_F32 || v == DEQ_F32_U8 || v == PAD) {
        dnnl_dims_t id = { sh->n, sh->c, sh->h, sh->w }, off = { 0, 0, p, p };
        dnnl_memory_desc_t i_md, o_md;
        ck(dnnl_memory_desc_init_by_tag(&i_md, 4, id, dnnl_u8, dnnl_nhwc), "md");
        m0 = mem(&i_md);
        if (v == PAD) {
            ck(dnnl_memory_desc_init_submemory(&o_md, &x_md, id, off), "submemory");
            void *h;
            dnnl_memory_get_data_handle(mx, &h);
            ck(dnnl_memory_create(&m1, &o_md, eng, h), "memory");
        } else {
            m1 = mx;
            o_md = x_md;
        }
        pre = reorder(&i_md, m0, &o_md, m1, v == PAD ? 1.f : 0.02f, v == PAD ? 0 : 14, &rpd, ra);
    }
    /* the pass after: quantizing the f32 result to u8 */
    dnnl_primitive_t post = NULL;
    dnnl_primitive_desc_t qpd = NULL;
    dnnl_memory_t mq = NULL;
    dnnl_exec_arg_t qa[2];
    if (v == DEQ_F32_U8) {
        dnnl_memory_desc_t q_md;
        ck(dnnl_memory_desc_init_by_tag(&q_md, 4, yd, dnnl_u8, dnnl_nhwc), "md");
        mq = mem(&q_md);
        post = reorder(&y_md, my, &q_md, mq, 40.f, 0, &qpd, qa);
    }
    dnnl_primitive_t ps[3] = { pre, conv, post }, pc[3] = { NULL, conv, NULL };
    int ns[3] = { 2, na, 2 };
    dnnl_exec_arg_t *as[3] = { ra, a, qa };
    double t = timeit(ps, ns, as);
    double tc = pre || post ? timeit(pc, ns, as) : t;
    printf("  %-10s %-32s %8.4f ms", names[v], impl, t);
    if (pre || post)
        printf("  (conv %.4f)", tc);
    printf("\n");
    dnnl_primitive_destroy(conv);
    if (post) {
        dnnl_primitive_destroy(post);
        dnnl_primitive_desc_destroy(qpd);
        dnnl_memory_destroy(mq);
    }
    if (pre) {
        dnnl_primitive_destroy(pre);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(m0);
        if (m1 != mx)
            dnnl_memory_destroy(m1);
    }
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    for (int i = 0; i < 4; i++)
        if (mc[i])
            dnnl_memory_destroy(mc[i]);
    dnnl_memory_t ms[6] = { mx, mw, mb, my, mr, msp };
    for (int i = 0; i < 6; i++)
        dnnl_memory_destroy(ms[i]);
}

static void run(const shape_t *sh)
{
    printf("N%lld C%lld %lldx%lld k%lld s%lldx%lld dst %s\n", (long long)sh->n, (long long)sh->c, (long long)sh->h,
           (long long)sh->w, (long long)sh->k, (long long)sh->sh, (long long)sh->sw, sh->ddt == dnnl_u8 ? "u8" : "f32");
    for (int v = ZP; v <= (sh->ddt == dnnl_u8 ? DEQ_F32_U8 : DEQ_F32); v++)
        variant(sh, v);
}

int main(int argc, char **argv)
{
    ck(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    ck(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags), "stream");
    const dnnl_version_t *ver = dnnl_version();
    printf("oneDNN %d.%d.%d\n", ver->major, ver->minor, ver->patch);
    affine = getenv("DW_AFFINE") != NULL;
    if (argc == 9) {
        shape_t sh = { atoll(argv[1]), atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), atoll(argv[6]),
                       atoll(argv[7]), strcmp(argv[8], "u8") == 0 ? dnnl_u8 : dnnl_f32 };
        run(&sh);
        return 0;
    }
    /* PaddleOCR's depthwise convolutions after a HardSwish (batch 1; cls's at batch 16 too):
     * cls (MobileNetV3; float destinations, an SE block reads them), det and rec (PPLCNetV3;
     * mostly u8 destinations, two float ones each) */
    static const shape_t shapes[] = {
        { 1, 32, 6, 96, 5, 2, 1, dnnl_f32 },    { 1, 48, 3, 96, 5, 1, 1, dnnl_f32 },
        { 1, 88, 3, 96, 5, 1, 1, dnnl_f32 },    { 1, 104, 3, 96, 5, 2, 1, dnnl_f32 },
        { 1, 200, 2, 96, 5, 1, 1, dnnl_f32 },   { 1, 40, 3, 96, 5, 1, 1, dnnl_f32 },
        { 16, 88, 3, 96, 5, 1, 1, dnnl_f32 },   { 1, 192, 20, 20, 5, 2, 2, dnnl_f32 },
        { 1, 384, 10, 10, 5, 1, 1, dnnl_f32 },  { 1, 240, 12, 80, 5, 2, 1, dnnl_f32 },
        { 1, 480, 6, 80, 5, 1, 1, dnnl_f32 },   { 1, 16, 160, 160, 3, 1, 1, dnnl_u8 },
        { 1, 96, 40, 40, 3, 1, 1, dnnl_u8 },    { 1, 192, 20, 20, 5, 1, 1, dnnl_u8 },
        { 1, 240, 12, 80, 5, 1, 1, dnnl_u8 },   { 16, 192, 20, 20, 5, 1, 1, dnnl_u8 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        run(&shapes[i]);
    return 0;
}
