/* dnnl_postop_repro.c — standalone reproduction of a oneDNN 2.6.3 bug lowp works around
 * (src/kernels/dnnl_int8.c, convint_build_one's `split`; docs/engine.md, "ConvInteger"): a
 * grouped u8 x s8 convolution that oneDNN runs as gemm_s8u8s32 applies a per-channel binary
 * post-op (dst += b[c]) with the wrong channel's b for some channel counts per group.
 *
 *   cc -O1 tools/dnnl_postop_repro.c -ldnnl -o /tmp/postop_repro && /tmp/postop_repro
 *
 * prints, per output-channel count per group (2 groups, 3 input channels each, 3x3 input,
 * 1x1 window), the implementation and the largest error against a plain loop; the same
 * shapes with output scales instead of the binary post-op are right. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <oneapi/dnnl/dnnl.h>

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static void ck(dnnl_status_t s, const char *what)
{
    if (s != dnnl_success) {
        fprintf(stderr, "%s: status %d\n", what, (int)s);
        exit(2);
    }
}

static dnnl_memory_t mem(const dnnl_memory_desc_t *md, void *data)
{
    dnnl_memory_t m;
    ck(dnnl_memory_create(&m, md, eng, data ? data : DNNL_MEMORY_ALLOCATE), "memory");
    return m;
}

static void reorder(dnnl_memory_t a, dnnl_memory_t b)
{
    const dnnl_memory_desc_t *ma, *mb;
    dnnl_memory_get_memory_desc(a, &ma);
    dnnl_memory_get_memory_desc(b, &mb);
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    ck(dnnl_reorder_primitive_desc_create(&pd, ma, eng, mb, eng, NULL), "reorder pd");
    ck(dnnl_primitive_create(&p, pd), "reorder");
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, a }, { DNNL_ARG_TO, b } };
    ck(dnnl_primitive_execute(p, strm, 2, args), "execute");
    ck(dnnl_stream_wait(strm), "wait");
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
}

/* Largest |conv(x, w) + b[c] - reference| for G groups of I -> O channels on an HxW input. */
static double run(int G, int I, int O, int H, int W, const char **impl_out)
{
    int C = G * I, M = G * O, n_x = C * H * W, n_w = M * I, n_y = M * H * W;
    uint8_t *x = malloc((size_t)n_x);
    int8_t *w = malloc((size_t)n_w);
    float *b = malloc((size_t)M * sizeof *b), *y = malloc((size_t)n_y * sizeof *y);
    for (int i = 0; i < n_x; i++)
        x[i] = (uint8_t)(rand() % 256);
    for (int i = 0; i < n_w; i++)
        w[i] = (int8_t)(rand() % 255 - 127);
    for (int c = 0; c < M; c++)
        b[c] = 1000.f * (float)c;
    dnnl_dims_t xd = { 1, C, H, W }, wd = { G, O, I, 1, 1 }, yd = { 1, M, H, W }, bd = { 1, M, 1, 1 };
    dnnl_dims_t one = { 1, 1 }, zero = { 0, 0 };
    dnnl_memory_desc_t x_pl, w_pl, y_pl, b_md, x_md, w_md, y_md;
    ck(dnnl_memory_desc_init_by_tag(&x_pl, 4, xd, dnnl_u8, dnnl_nchw), "md");
    ck(dnnl_memory_desc_init_by_tag(&w_pl, 5, wd, dnnl_s8, dnnl_goihw), "md");
    ck(dnnl_memory_desc_init_by_tag(&y_pl, 4, yd, dnnl_f32, dnnl_nchw), "md");
    ck(dnnl_memory_desc_init_by_tag(&b_md, 4, bd, dnnl_f32, dnnl_nchw), "md");
    ck(dnnl_memory_desc_init_by_tag(&x_md, 4, xd, dnnl_u8, dnnl_nhwc), "md");
    ck(dnnl_memory_desc_init_by_tag(&w_md, 5, wd, dnnl_s8, dnnl_format_tag_any), "md");
    ck(dnnl_memory_desc_init_by_tag(&y_md, 4, yd, dnnl_f32, dnnl_nhwc), "md");
    dnnl_convolution_desc_t cd;
    ck(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &x_md, &w_md, NULL,
                                          &y_md, one, zero, zero),
       "conv desc");
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    ck(dnnl_primitive_attr_create(&attr), "attr");
    ck(dnnl_post_ops_create(&po), "post-ops");
    ck(dnnl_post_ops_append_binary(po, dnnl_binary_add, &b_md), "binary post-op");
    ck(dnnl_primitive_attr_set_post_ops(attr, po), "set post-ops");
    dnnl_primitive_desc_t pd;
    ck(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL), "conv pd");
    ck(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl_out), "impl");
    dnnl_memory_t mx = mem(&x_md, NULL), mw = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), NULL),
                  my = mem(&y_md, NULL), mb = mem(&b_md, b), mx0 = mem(&x_pl, x), mw0 = mem(&w_pl, w),
                  my0 = mem(&y_pl, y);
    reorder(mx0, mx);
    reorder(mw0, mw);
    dnnl_primitive_t p;
    ck(dnnl_primitive_create(&p, pd), "conv");
    dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, mx },
                                { DNNL_ARG_WEIGHTS, mw },
                                { DNNL_ARG_DST, my },
                                { DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, mb } };
    ck(dnnl_primitive_execute(p, strm, 4, args), "execute");
    ck(dnnl_stream_wait(strm), "wait");
    reorder(my, my0);
    double err = 0;
    for (int c = 0; c < M; c++)
        for (int s = 0; s < H * W; s++) {
            int g = c / O;
            long acc = 0;
            for (int i = 0; i < I; i++)
                acc += (long)x[(g * I + i) * H * W + s] * w[c * I + i];
            double d = y[c * H * W + s] - ((double)acc + b[c]);
            err = d > err ? d : -d > err ? -d : err;
        }
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    dnnl_memory_t ms[7] = { mx, mw, my, mb, mx0, mw0, my0 };
    for (int i = 0; i < 7; i++)
        dnnl_memory_destroy(ms[i]);
    free(x);
    free(w);
    free(b);
    free(y);
    return err;
}

int main(void)
{
    ck(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    ck(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags), "stream");
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d\n", v->major, v->minor, v->patch);
    int wrong = 0;
    for (int O = 5; O <= 49; O++) {
        const char *impl = NULL;
        double err = run(2, 3, O, 3, 3, &impl);
        if (err > 0)
            printf("2 groups of 3 -> %d channels, %s: max error %.0f\n", O, impl, err);
        wrong += err > 0;
    }
    printf("%d of 45 channel counts wrong\n", wrong);
    return wrong != 0;
}
