/* dnnl_conv.c — the fast twins of Conv's training forward and backward: oneDNN's convolution
 * forward (training), backward-data and backward-weights primitives on plain layouts (nchw,
 * [g]oihw). oneDNN's primitive cache keeps repeated shapes cheap to create. Any refusal
 * (shape, 3-D convolution, LOWP_KERNELS=reference) returns LOWP_ERR_UNSUPPORTED and the caller
 * runs the reference loops, which tests/test_train_grad.c holds against finite differences
 * (the same test runs these through the Conv cases). */
#include <stdlib.h>
#include <string.h>

#include "kernels/dnnl_internal.h"
#include "train/dnnl_conv.h"

static bool disabled(void)
{
    const char *k = getenv("LOWP_KERNELS");
    return k && !strcmp(k, "reference");
}

typedef struct conv_mds {
    dnnl_memory_desc_t x, w, b, y;
    dnnl_dims_t strides, dil, pad_l, pad_r;
} conv_mds;

static lp_status mds(const lp_conv *cv, conv_mds *m)
{
    const lp_window *w = &cv->win;
    if (w->nsp != 2 || disabled() || cv->N < 1 || cv->group < 1)
        return LOWP_ERR_UNSUPPORTED;
    int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2];
    dnnl_dims_t xd = { cv->N, cv->C, H, W }, yd = { cv->N, cv->M, OH, OW }, bd = { cv->M };
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&m->x, 4, xd, dnnl_f32, dnnl_nchw);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_tag(&m->y, 4, yd, dnnl_f32, dnnl_nchw);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_tag(&m->b, 1, bd, dnnl_f32, dnnl_x);
    if (s == dnnl_success && cv->group == 1) {
        dnnl_dims_t wd = { cv->M, cv->C, w->k[1], w->k[2] };
        s = dnnl_memory_desc_init_by_tag(&m->w, 4, wd, dnnl_f32, dnnl_oihw);
    } else if (s == dnnl_success) {
        dnnl_dims_t wd = { cv->group, cv->M / cv->group, cv->C / cv->group, w->k[1], w->k[2] };
        s = dnnl_memory_desc_init_by_tag(&m->w, 5, wd, dnnl_f32, dnnl_goihw);
    }
    for (int i = 0; i < 2; i++) {
        m->strides[i] = w->stride[1 + i];
        m->dil[i] = w->dil[1 + i] - 1; /* oneDNN counts dilation from 0 */
        m->pad_l[i] = w->pad0[1 + i];
        m->pad_r[i] = w->pad1[1 + i];
    }
    return s == dnnl_success ? LP_OK : LOWP_ERR_UNSUPPORTED;
}

/* Creates the primitive of `desc` (with `hint` for backward ones), runs it on `args`. */
static lp_status run(const void *desc, const_dnnl_primitive_desc_t hint, int nargs, const int *kinds,
                     const dnnl_memory_desc_t *const *descs, void *const *ptrs)
{
    dnnl_engine_t eng = dn_engine();
    if (!eng)
        return LOWP_ERR_UNSUPPORTED;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_memory_t mem[5] = { NULL };
    dnnl_exec_arg_t args[5];
    lp_status st = LOWP_ERR_UNSUPPORTED;
    if (dnnl_primitive_desc_create(&pd, desc, NULL, eng, hint) != dnnl_success ||
        dnnl_primitive_create(&prim, pd) != dnnl_success ||
        dnnl_stream_create(&stream, eng, dnnl_stream_default_flags) != dnnl_success)
        goto out;
    for (int i = 0; i < nargs; i++) {
        if (dnnl_memory_create(&mem[i], descs[i], eng, ptrs[i]) != dnnl_success)
            goto out;
        args[i] = (dnnl_exec_arg_t){ kinds[i], mem[i] };
    }
    if (dnnl_primitive_execute(prim, stream, nargs, args) == dnnl_success && dnnl_stream_wait(stream) == dnnl_success)
        st = LP_OK;
out:
    for (int i = 0; i < nargs; i++)
        if (mem[i])
            dnnl_memory_destroy(mem[i]);
    if (stream)
        dnnl_stream_destroy(stream);
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

static lp_status fwd_desc(const conv_mds *m, bool bias, dnnl_convolution_desc_t *d)
{
    return dnnl_dilated_convolution_forward_desc_init(d, dnnl_forward_training, dnnl_convolution_direct, &m->x, &m->w,
                                                      bias ? &m->b : NULL, &m->y, m->strides, m->dil, m->pad_l,
                                                      m->pad_r) == dnnl_success
               ? LP_OK
               : LOWP_ERR_UNSUPPORTED;
}

lp_status lp_dnnl_conv_forward(const lp_conv *cv, const float *x, const float *w, const float *b, float *y)
{
    conv_mds m;
    dnnl_convolution_desc_t d;
    LP_TRY(mds(cv, &m));
    LP_TRY(fwd_desc(&m, b != NULL, &d));
    int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
    const dnnl_memory_desc_t *descs[4] = { &m.x, &m.w, &m.y, &m.b };
    void *ptrs[4] = { (void *)x, (void *)w, y, (void *)b };
    return run(&d, NULL, b ? 4 : 3, kinds, descs, ptrs);
}

static void add_into(float *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

lp_status lp_dnnl_conv_backward(const lp_conv *cv, const float *x, const float *w, const float *dy, float *dx,
                                float *dw, float *db)
{
    conv_mds m;
    dnnl_convolution_desc_t fd, bd, wd;
    LP_TRY(mds(cv, &m));
    LP_TRY(fwd_desc(&m, db != NULL, &fd));
    dnnl_primitive_desc_t hint = NULL;
    /* the forward's primitive descriptor: the hint the backward ones need */
    if (!dn_engine() || dnnl_primitive_desc_create(&hint, &fd, NULL, dn_engine(), NULL) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    int64_t nx = cv->N * cv->C * lp_window_inprod(&cv->win);
    int64_t nw = cv->M * (cv->C / cv->group) * lp_window_kprod(&cv->win);
    float *tmp = malloc((size_t)((dx ? nx : 0) + (dw ? nw : 0) + (db ? cv->M : 0) + 1) * sizeof *tmp);
    lp_status st = tmp ? LP_OK : LOWP_ERR_OUT_OF_MEMORY;
    float *tdx = tmp, *tdw = tmp + (dx ? nx : 0), *tdb = tdw + (dw ? nw : 0);
    if (st == LP_OK && dx) {
        if (dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &m.x, &m.w, &m.y, m.strides,
                                                             m.dil, m.pad_l, m.pad_r) != dnnl_success)
            st = LOWP_ERR_UNSUPPORTED;
        int kinds[3] = { DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST };
        const dnnl_memory_desc_t *descs[3] = { &m.x, &m.w, &m.y };
        void *ptrs[3] = { tdx, (void *)w, (void *)dy };
        if (st == LP_OK)
            st = run(&bd, hint, 3, kinds, descs, ptrs);
    }
    if (st == LP_OK && (dw || db)) {
        if (dnnl_dilated_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &m.x, &m.w,
                                                                db ? &m.b : NULL, &m.y, m.strides, m.dil, m.pad_l,
                                                                m.pad_r) != dnnl_success)
            st = LOWP_ERR_UNSUPPORTED;
        /* the weight gradient is needed for the primitive even when only the bias is wanted */
        float *wbuf = dw ? tdw : NULL;
        float *extra = NULL;
        if (!wbuf) {
            extra = malloc((size_t)nw * sizeof *extra);
            wbuf = extra;
            if (!extra)
                st = LOWP_ERR_OUT_OF_MEMORY;
        }
        int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS };
        const dnnl_memory_desc_t *descs[4] = { &m.x, &m.y, &m.w, &m.b };
        void *ptrs[4] = { (void *)x, (void *)dy, wbuf, tdb };
        if (st == LP_OK)
            st = run(&wd, hint, db ? 4 : 3, kinds, descs, ptrs);
        free(extra);
    }
    if (st == LP_OK) { /* the tape's gradients accumulate */
        if (dx)
            add_into(dx, tdx, nx);
        if (dw)
            add_into(dw, tdw, nw);
        if (db)
            add_into(db, tdb, cv->M);
    }
    free(tmp);
    dnnl_primitive_desc_destroy(hint);
    return st == LOWP_ERR_OUT_OF_MEMORY ? lp_error(st, "out of memory for a convolution's gradients") : st;
}
