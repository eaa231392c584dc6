/* dnnl_qdyn.c — DynamicQuantizeLinear inside the oneDNN backend: the range and the uint8
 * values computed on the input as its producer stores it (channels-last, blocked or plain:
 * a min/max and an elementwise map do not care about the order of elements), the result kept
 * in that layout when every reader is a oneDNN step (the ConvInteger or MatMulInteger after
 * it then reads it without a reorder). ONNX Runtime's dynamically quantized models have one
 * per weighted layer (IS-Net: 119 of them between its convolutions). The arithmetic is the
 * reference kernel's (lp_dynamic_quantize, ops/quant.h), split over the plan's threads. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "ops/quant.h"

typedef struct dq_state {
    dnnl_memory_t src, dst, scale, zp;
    int64_t n;                          /* elements the layouts hold (with any padding) */
} dq_state;

/* Below this many elements one thread does it all (a parallel region costs a few µs). */
#define DQ_PAR_MIN (1 << 15)
#define DQ_MAX_THREADS 256

/* Padding of a blocked layout holds zeros (oneDNN writes them): they do not move the range,
 * which includes 0 anyway, and quantize to the zero point, which readers ignore. With several
 * threads each takes one piece (a multiple of 8 elements) for the range and then the same
 * piece for the quantization: the range is a min/max, so the result is bit-identical to one
 * thread's. */
static lp_status dq_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    dq_state *s = arg;
    void *x = NULL, *y = NULL, *sc = NULL, *zp = NULL;
    dnnl_memory_get_data_handle(s->src, &x);
    dnnl_memory_get_data_handle(s->dst, &y);
    dnnl_memory_get_data_handle(s->scale, &sc);
    dnnl_memory_get_data_handle(s->zp, &zp);
    int nt = omp_get_max_threads();
    nt = nt < DQ_MAX_THREADS ? nt : DQ_MAX_THREADS;
    if (nt < 2 || s->n < DQ_PAR_MIN) {
        lp_dynamic_quantize(x, s->n, y, sc, zp);
        return LP_OK;
    }
    const float *xf = x;
    int64_t n = s->n, piece = ((n + nt - 1) / nt + 7) / 8 * 8;
    float mn[DQ_MAX_THREADS], mx[DQ_MAX_THREADS];
    for (int t = 0; t < nt; t++)
        mn[t] = mx[t] = 0.0f;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        int64_t lo = t * piece, hi = lo + piece < n ? lo + piece : n;
        if (lo < hi)
            lp_dynamic_range(xf + lo, hi - lo, &mn[t], &mx[t]);
    }
    float lo_all = 0.0f, hi_all = 0.0f;
    for (int t = 0; t < nt; t++) {
        lo_all = mn[t] < lo_all ? mn[t] : lo_all;
        hi_all = mx[t] > hi_all ? mx[t] : hi_all;
    }
    float scale;
    uint8_t z;
    lp_dynamic_params(lo_all, hi_all, &scale, &z);
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        int64_t lo = t * piece, hi = lo + piece < n ? lo + piece : n;
        if (lo < hi)
            lp_dynamic_apply(xf + lo, hi - lo, (uint8_t *)y + lo, scale, z);
    }
    *(float *)sc = scale;
    *(uint8_t *)zp = z;
    return LP_OK;
}

bool dn_dynq_supports(const lp_graph *g, const lp_node *n)
{
    return n->n_in == 1 && n->n_out == 3 && n->in[0] >= 0 && n->out[0] >= 0 && n->out[1] >= 0 && n->out[2] >= 0 &&
           dn_value_f32(g, n->in[0]) && lp_numel(g->values[n->in[0]].shape.ndim, g->values[n->in[0]].shape.d) > 0;
}

/* A dense layout of f32 elements starting at the handle, with or without blocking. */
static bool dense(const dnnl_memory_desc_t *md)
{
    return md->format_kind == dnnl_blocked && md->data_type == dnnl_f32 && md->offset0 == 0 &&
           dnnl_memory_desc_get_size(md) % sizeof(float) == 0;
}

lp_status dn_dynq_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv)
{
    const lp_graph *g = pc->g;
    if (ch->n_post || !dn_dynq_supports(g, n) || dn_value_quantized(pc, n->in[0], NULL))
        return LOWP_ERR_UNSUPPORTED;
    int x = n->in[0], y = n->out[0];
    const lp_shape *xs = &g->values[x].shape;
    dnnl_memory_desc_t have, in_md, out_md, s_md, z_md;
    dn_value_md(pc, x, &have);
    int64_t one = 1;
    dn_plain_md(&s_md, dnnl_f32, 1, &one);
    dn_plain_md(&z_md, dnnl_u8, 1, &one);
    /* keep the producer's layout when only oneDNN steps read the result */
    if (priv && dn_value_private_ok(pc, y) && dense(&have)) {
        in_md = out_md = have;
        out_md.data_type = dnnl_u8;
    } else {
        dn_plain_md(&in_md, dnnl_f32, xs->ndim, xs->d);
        dn_plain_md(&out_md, dnnl_u8, xs->ndim, xs->d);
    }
    dq_state *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing DynamicQuantizeLinear");
    st->custom_arg = s;
    st->custom_free = free;
    s->n = (int64_t)(dnnl_memory_desc_get_size(&in_md) / sizeof(float));
    LP_TRY(dn_input(st, pc, x, &in_md, &s->src));
    LP_TRY(dn_mem_value(st, pc, y, &out_md, &s->dst));
    LP_TRY(dn_mem_value(st, pc, n->out[1], &s_md, &s->scale));
    LP_TRY(dn_mem_value(st, pc, n->out[2], &z_md, &s->zp));
    dn_set_output(st, pc, y, &out_md);
    dnnl_memory_desc_t plain;
    dn_plain_md(&plain, dnnl_u8, xs->ndim, xs->d);
    st->out_private = !dnnl_memory_desc_equal(&plain, &out_md);
    st->custom = dq_run;
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%slowp:%s", k ? "," : "",
             dnnl_memory_desc_equal(&plain, &out_md) ? "plain" : "as stored");
    return LP_OK;
}
