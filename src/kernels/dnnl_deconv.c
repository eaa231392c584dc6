/* dnnl_deconv.c — ConvTranspose whose kernel equals its stride (no pads, no dilation, one
 * group): a 1x1 convolution to M*K channels followed by a pixel shuffle, run as one oneDNN
 * convolution and lowp's own scatter.
 *
 * Why not oneDNN's deconvolution: in oneDNN 2.6 it is a backward-data convolution wrapped by
 * ref_deconvolution, which applies the bias and every post-op (the fused Add, Sigmoid, Relu)
 * in a scalar reference loop after the convolution. On PP-OCRv4's detector (24 -> 24 channels,
 * 80x80 -> 160x160, k = s = 2) the convolution takes ~3 ms and that loop ~170 ms; with one
 * output channel the blocked layout oneDNN picks pads it to 16 (docs/engine.md, "ConvTranspose").
 *
 * With k == s every output pixel receives exactly one product sum:
 *   y[n, m, i*s + a] = b[m] + sum_c x[n, c, i] * w[c, m, a]          (i, a: spatial multi-indices)
 * so T = X^T W, with X viewed (N, S, C) (S = input pixels) and W as stored, (C, M*K) (K = kernel
 * size), gives every output value in T[n, i, m*K + a]: a 1x1 convolution to M*K channels,
 * stored channels-last. The bias and the per-channel or scalar constant post-ops become its
 * per-channel operands (expanded over K), eltwise post-ops apply as they are; then the scatter
 * moves T[n, i, m, a] to y[n, m, i*s + a]. A matmul with X read transposed (the first version)
 * was 3-4x slower than this convolution on PP-OCRv4's shapes (bench/deconv_bench.c). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"

/* The scatter's geometry: spatial dims padded to 3 in front (size 1, kernel 1). */
typedef struct ps_state {
    dnnl_memory_t t, y;                 /* T (N, S, M*K) channels-last, and the plain output */
    int64_t n, m, in[3], k[3];
    int threads;
} ps_state;

/* One output row from T's strided columns: y[w*kw + c] = t[w*mk + c]. */
static void ps_row(float *restrict y, const float *restrict t, int64_t w_n, int64_t kw, int64_t mk)
{
    if (kw == 2) {
        for (int64_t w = 0; w < w_n; w++) {
            y[2 * w] = t[w * mk];
            y[2 * w + 1] = t[w * mk + 1];
        }
    } else if (kw == 1) {
        for (int64_t w = 0; w < w_n; w++)
            y[w] = t[w * mk];
    } else {
        for (int64_t w = 0; w < w_n; w++)
            for (int64_t c = 0; c < kw; c++)
                y[w * kw + c] = t[w * mk + c];
    }
}

static lp_status ps_run(void *arg, const lp_run_ctx *c)
{
    (void)c;
    const ps_state *s = arg;
    void *th = NULL, *yh = NULL;
    dnnl_memory_get_data_handle(s->t, &th);
    dnnl_memory_get_data_handle(s->y, &yh);
    const float *t = th;
    float *y = yh;
    const int64_t D = s->in[0], H = s->in[1], W = s->in[2], kd = s->k[0], kh = s->k[1], kw = s->k[2];
    const int64_t OD = D * kd, OH = H * kh, OW = W * kw, mk = s->m * kd * kh * kw, rows = s->n * D * H;
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int64_t r = 0; r < rows; r++) { /* one input row (n, d, h): kd*kh output rows per channel */
        int64_t n = r / (D * H), d = r / H % D, h = r % H;
        const float *tr = t + r * W * mk;
        for (int64_t m = 0; m < s->m; m++)
            for (int64_t a = 0; a < kd; a++)
                for (int64_t b = 0; b < kh; b++)
                    ps_row(y + (((n * s->m + m) * OD + d * kd + a) * OH + h * kh + b) * OW,
                           tr + ((m * kd + a) * kh + b) * kw, W, kw, mk);
    }
    return LP_OK;
}

bool dn_deconv_shuffle_fits(const lp_graph *g, const lp_node *n, const int64_t *strides, const int64_t *dil,
                            const int64_t *pl, const int64_t *pr)
{
    const lp_shape *ws = &g->values[n->in[1]].shape;
    int nsp = ws->ndim - 2;
    if (lp_attr_int(n, "group", 1) != 1)
        return false;
    for (int i = 0; i < nsp; i++)
        if (ws->d[2 + i] != strides[i] || dil[i] != 0 || pl[i] != 0 || pr[i] != 0)
            return false;
    return true;
}

/* Post-op operand v (constant float) as a per-column (M*K) row when it broadcasts per output
 * channel or is a scalar against an output of rank R with M channels; else false. */
static bool expand_operand(const lp_graph *g, int v, int R, int64_t M, int64_t K, float *row)
{
    const lp_shape *us = &g->values[v].shape;
    if (!dn_value_const(g, v) || !dn_value_f32(g, v) || us->ndim > R)
        return false;
    int64_t per = 1; /* the operand's channel extent (1 or M) */
    for (int j = 0; j < us->ndim; j++) {
        int k = R - us->ndim + j; /* the output axis j aligns with */
        if (k == 1 && us->d[j] == M)
            per = M;
        else if (us->d[j] != 1)
            return false;
    }
    const float *data = g->values[v].init->data;
    for (int64_t m = 0; m < M; m++)
        for (int64_t a = 0; a < K; a++)
            row[m * K + a] = data[per == M ? m : 0];
    return true;
}

lp_status dn_deconv_shuffle(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch)
{
    const lp_graph *g = pc->g;
    if (ch->q_tail.on)
        return LOWP_ERR_UNSUPPORTED;
    int x = n->in[0], out_v = ch->out_value;
    const lp_shape *xs = &g->values[x].shape, *ws = &g->values[n->in[1]].shape;
    int nd = xs->ndim, nsp = nd - 2;
    int64_t N = xs->d[0], C = xs->d[1], M = ws->d[1], S = 1, K = 1;
    for (int i = 0; i < nsp; i++)
        S *= xs->d[2 + i], K *= ws->d[2 + i];
    int64_t MK = M * K;
    const lp_shape *ys = &g->values[out_v].shape;
    if (ys->ndim != nd || ys->d[1] != M || lp_numel(ys->ndim, ys->d) != N * S * MK)
        return LOWP_ERR_UNSUPPORTED;

    /* the chain's post-ops in T's terms: constant per-channel operands expanded over K */
    int64_t td[DNNL_MAX_NDIMS] = { N, MK }, rowd[DNNL_MAX_NDIMS] = { 1, MK }, wd[DNNL_MAX_NDIMS] = { MK, C },
            wstr[DNNL_MAX_NDIMS] = { 1, MK };
    dnnl_dims_t ones, zeros;
    for (int i = 0; i < nsp; i++) {
        td[2 + i] = xs->d[2 + i];
        rowd[2 + i] = wd[2 + i] = wstr[2 + i] = 1;
        ones[i] = 1, zeros[i] = 0;
    }
    dnnl_memory_desc_t row_md;
    dn_plain_md(&row_md, dnnl_f32, nd, rowd);
    dn_chain c2 = *ch;
    for (int i = 0; i < c2.n_post; i++) {
        dn_post *p = &c2.post[i];
        if (p->as_sum || (p->kind == DN_POST_BINARY && (p->mem || p->value < 0)))
            return LOWP_ERR_UNSUPPORTED; /* full-size or prepared operands: oneDNN's deconvolution */
        if (p->kind != DN_POST_BINARY)
            continue;
        void *h = NULL;
        LP_TRY(dn_mem_temp(st, &row_md, &p->mem));
        dnnl_memory_get_data_handle(p->mem, &h);
        if (!expand_operand(g, p->value, nd, M, K, h))
            return LOWP_ERR_UNSUPPORTED;
        p->md = row_md;
    }

    /* T = a 1x1 convolution from C to MK channels, channels-last (N, S, MK): oneDNN's fast 1x1
     * kernels take the bias and the post-ops there (plain layouts run them in a reference loop
     * too); the weights (C, M, k...) as stored are its (MK, C, 1...) transposed */
    dnnl_memory_desc_t src_md, wei_plain, wei_md, t_md, y_md, bia_md;
    dn_md_any(&src_md, nd, xs->d, dnnl_f32);
    dn_md_strided(&wei_plain, nd, wd, wstr, dnnl_f32);
    dn_md_any(&wei_md, nd, wd, dnnl_f32);
    dn_md_channels_last(&t_md, nd, td, dnnl_f32);
    dn_plain_md(&bia_md, dnnl_f32, 1, &MK);
    bool has_bias = n->n_in > 2 && n->in[2] >= 0;
    dnnl_exec_arg_t args[DN_MAX_ARGS];
    int na = 4;
    dnnl_primitive_attr_t attr;
    LP_TRY(dn_attr(st, pc, &c2, nd, td, false, &attr, args, &na));
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &wei_md,
                                           has_bias ? &bia_md : NULL, &t_md, ones, zeros, zeros) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return lp_error(LOWP_ERR_UNSUPPORTED, "oneDNN: convolution descriptor");
    }
    dnnl_primitive_desc_t pd;
    LP_TRY(dn_pd_create(&pd, &cd, attr));
    dnnl_memory_t ms, mw, mb = NULL, mt, my;
    lp_status r = dn_input(st, pc, x, dn_q_md(pd, DNNL_ARG_SRC), &ms);
    if (r == LP_OK)
        r = dn_const(st, g->values[n->in[1]].init->data, &wei_plain, dn_q_md(pd, DNNL_ARG_WEIGHTS), &mw);
    if (r == LP_OK && has_bias && (r = dn_mem_temp(st, &bia_md, &mb)) == LP_OK) {
        void *h = NULL;
        dnnl_memory_get_data_handle(mb, &h);
        const float *b = g->values[n->in[2]].init->data;
        for (int64_t m = 0; m < M; m++)
            for (int64_t a = 0; a < K; a++)
                ((float *)h)[m * K + a] = b[m];
    }
    if (r == LP_OK)
        r = dn_mem_temp(st, dn_q_md(pd, DNNL_ARG_DST), &mt);
    if (r == LP_OK && !dnnl_memory_desc_equal(dn_q_md(pd, DNNL_ARG_DST), &t_md))
        r = LOWP_ERR_UNSUPPORTED; /* the scatter reads channels-last */
    if (r != LP_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    args[0] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, ms };
    args[1] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, mw };
    args[2] = (dnnl_exec_arg_t){ DNNL_ARG_DST, mt };
    args[3] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, mb };
    if (!mb)
        args[3] = args[--na];
    LP_TRY(dn_add_primitive(st, pc, pd, na, args));

    /* the scatter into the plain output */
    dn_plain_md(&y_md, dnnl_f32, nd, ys->d);
    LP_TRY(dn_mem_value(st, pc, out_v, &y_md, &my));
    dn_set_output(st, pc, out_v, &y_md);
    ps_state *s = calloc(1, sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory preparing ConvTranspose");
    *s = (ps_state){ .t = mt, .y = my, .n = N, .m = M, .in = { 1, 1, 1 }, .k = { 1, 1, 1 } };
    for (int i = 0; i < nsp; i++) {
        s->in[3 - nsp + i] = xs->d[2 + i];
        s->k[3 - nsp + i] = ws->d[2 + i];
    }
    s->threads = pc->threads > 0 ? pc->threads : 1;
    st->custom_arg = s;
    st->custom_free = free;
    st->custom = ps_run;
    size_t k = strlen(st->impl);
    snprintf(st->impl + k, sizeof st->impl - k, "%slowp:pixel-shuffle", k ? "," : "");
    return LP_OK;
}
