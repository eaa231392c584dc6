/* dnnl_comp_repro.c — standalone reproduction of a oneDNN 2.6.3 bug lowp works around
 * (src/kernels/dnnl_int8.c, int8_weights; docs/engine.md, "INT8"): the reorder of s8
 * convolution weights from plain goihw to channels-last hwigo (the layout oneDNN's gemm INT8
 * convolutions take) with a compensation buffer leaves the compensation 0 when there are 8
 * output channels (groups x per group) of 8 weights each (input channels per group x window).
 * The compensation is what oneDNN subtracts for a source zero point (-sum w per output
 * channel) or for an s8 source (-128 sum w), so a grouped u8 convolution with a zero point or
 * an s8 one comes out off by that much per channel.
 *
 *   cc -O1 tools/dnnl_comp_repro.c -ldnnl -o /tmp/comp_repro && /tmp/comp_repro
 *
 * prints each wrong shape and a summary; a same-layout reorder (hwigo -> hwigo with the
 * compensation, after the layout change alone) is right for all of them. Reading the
 * compensation assumes 2.6.3's storage: int32 per (group, channel) right after the weights,
 * 4-byte aligned (checked by the shapes it gets right). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void reorder(const dnnl_memory_desc_t *from, void *a, const dnnl_memory_desc_t *to, void *b)
{
    dnnl_memory_t ma, mb;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    ck(dnnl_memory_create(&ma, from, eng, a), "memory");
    ck(dnnl_memory_create(&mb, to, eng, b), "memory");
    ck(dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL), "reorder pd");
    ck(dnnl_primitive_create(&p, pd), "reorder");
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, ma }, { DNNL_ARG_TO, mb } };
    ck(dnnl_primitive_execute(p, strm, 2, args), "execute");
    ck(dnnl_stream_wait(strm), "wait");
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(ma);
    dnnl_memory_destroy(mb);
}

/* Number of wrong compensations of weights (G, O, I, H, W) reordered to hwigo with the
 * compensation `flag` (asymmetric source or s8 source), directly or in two steps. */
static int wrong(int G, int O, int I, int H, int W, unsigned flag, int two_step)
{
    dnnl_dims_t d = { G, O, I, H, W };
    int n = G * O * I * H * W, per = I * H * W;
    int8_t *w = malloc((size_t)n);
    for (int i = 0; i < n; i++)
        w[i] = (int8_t)(rand() % 255 - 127);
    dnnl_memory_desc_t plain, bare, comp;
    ck(dnnl_memory_desc_init_by_tag(&plain, 5, d, dnnl_s8, dnnl_goihw), "md");
    ck(dnnl_memory_desc_init_by_tag(&bare, 5, d, dnnl_s8, dnnl_decab), "md"); /* hwigo */
    comp = bare;
    comp.extra.flags = flag;
    if (flag == dnnl_memory_extra_flag_compensation_conv_asymmetric_src)
        comp.extra.asymm_compensation_mask = 3; /* per group and output channel */
    else
        comp.extra.compensation_mask = 3;
    size_t data = dnnl_memory_desc_get_size(&bare), size = dnnl_memory_desc_get_size(&comp);
    char *buf = calloc(1, size), *tmp = calloc(1, data);
    if (two_step) {
        reorder(&plain, w, &bare, tmp);
        reorder(&bare, tmp, &comp, buf);
    } else {
        reorder(&plain, w, &comp, buf);
    }
    const int32_t *c = (const int32_t *)(buf + (data + 3) / 4 * 4);
    int bad = 0;
    for (int k = 0; k < G * O; k++) {
        int32_t s = 0;
        for (int j = 0; j < per; j++)
            s += w[k * per + j];
        bad += c[k] != (flag == dnnl_memory_extra_flag_compensation_conv_asymmetric_src ? -s : -128 * s);
    }
    free(w);
    free(buf);
    free(tmp);
    return bad;
}

int main(void)
{
    ck(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    ck(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags), "stream");
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d\n", v->major, v->minor, v->patch);
    static const unsigned flags[2] = { dnnl_memory_extra_flag_compensation_conv_asymmetric_src,
                                       dnnl_memory_extra_flag_compensation_conv_s8s8 };
    int shapes = 0, bad_direct = 0, bad_two = 0;
    for (int f = 0; f < 2; f++)
        for (int G = 1; G <= 8; G *= 2)
            for (int O = 1; O <= 9; O++)
                for (int I = 1; I <= 8; I *= 2)
                    for (int H = 1; H <= 4; H *= 2)
                        for (int W = 1; W <= 8; W *= 2) {
                            int b1 = wrong(G, O, I, H, W, flags[f], 0), b2 = wrong(G, O, I, H, W, flags[f], 1);
                            if (b1 || b2)
                                printf("%s compensation, G%d O%d I%d %dx%d: %d of %d wrong directly, %d in two steps\n",
                                       f ? "s8-source" : "zero-point", G, O, I, H, W, b1, G * O, b2);
                            shapes++;
                            bad_direct += b1 != 0;
                            bad_two += b2 != 0;
                        }
    printf("%d shapes: %d wrong directly, %d in two steps\n", shapes, bad_direct, bad_two);
    return bad_direct != 0;
}
