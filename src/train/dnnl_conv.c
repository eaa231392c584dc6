/* dnnl_conv.c — the fast twins of Conv's training forward and backward: oneDNN's convolution
 * forward (training), backward-data and backward-weights primitives in the layouts oneDNN
 * picks for them (format `any`: channel-blocked activations and weights on AVX-512 / AVX2,
 * so the direct jit kernels run instead of gemm on plain layouts). The tape's tensors stay
 * plain: each primitive's inputs are reordered into its layout and its outputs back (a
 * gradient added in by the reorder's sum post-op). The node's state (tape cache) keeps the
 * primitives and the blocked copies of x and w from the forward for the backward, so a step
 * reorders the weights once. Any refusal (3-D convolution, no jit kernel, LOWP_KERNELS=reference)
 * returns LOWP_ERR_UNSUPPORTED and the caller runs the reference loops, which
 * tests/test_train_grad.c holds against finite differences (as these) and
 * tests/test_train_twins.c against these. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "train/dnnl_conv.h"
#include "train/dnnl_train.h"

#define KEY_N 32

/* A tensor in a primitive's layout: a reorder from (or to) the tape's plain tensor into an
 * owned buffer, or, when the layouts agree, the plain tensor's memory itself (reo NULL). */
typedef struct slot {
    lp_dnt_buf buf;
    dnnl_primitive_t reo;               /* for a gradient: the reorder that adds into it ... */
    dnnl_primitive_t reo_set;           /* ... and the one that writes it (nothing added to it yet) */
    bool on;                            /* set up */
} slot;

struct lp_dnnl_conv {
    int64_t key[KEY_N];
    dnnl_stream_t stream;
    dnnl_primitive_desc_t fpd, dpd, wpd;
    dnnl_primitive_t fwd, bwd_data, bwd_w;
    lp_dnt_buf x, w, b, y, dy, dx, dw;  /* plain, bound to the tape's tensors per run */
    slot xf, wf, yf;                    /* forward: src, weights (filled by the forward, read by
                                           the backward), dst */
    slot dyd, wd, dxd;                  /* backward data: diff_dst, weights, diff_src */
    slot xw, dyw, dww;                  /* backward weights: src, diff_dst, diff_weights */
    lp_dnt_buf dbw;                     /* diff_bias (plain) */
    bool xw_is_xf, dyw_is_dyd, wd_is_wf;
    bool filled;                        /* xf and wf hold the last forward's x and w */
};

static void slot_free(slot *s)
{
    if (s->reo)
        dnnl_primitive_destroy(s->reo);
    if (s->reo_set)
        dnnl_primitive_destroy(s->reo_set);
    lp_dnt_buf_free(&s->buf);
    memset(s, 0, sizeof *s);
}

void lp_dnnl_conv_free(void *p)
{
    lp_dnnl_conv *c = p;
    if (!c)
        return;
    slot *slots[] = { &c->xf, &c->wf, &c->yf, &c->dyd, &c->wd, &c->dxd, &c->xw, &c->dyw, &c->dww };
    for (size_t i = 0; i < sizeof slots / sizeof *slots; i++)
        slot_free(slots[i]);
    lp_dnt_buf *bufs[] = { &c->x, &c->w, &c->b, &c->y, &c->dy, &c->dx, &c->dw, &c->dbw };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        lp_dnt_buf_free(bufs[i]);
    dnnl_primitive_t prims[] = { c->fwd, c->bwd_data, c->bwd_w };
    for (size_t i = 0; i < 3; i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    dnnl_primitive_desc_t pds[] = { c->fpd, c->dpd, c->wpd };
    for (size_t i = 0; i < 3; i++)
        if (pds[i])
            dnnl_primitive_desc_destroy(pds[i]);
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    free(c);
}

/* What the state was built for: the geometry, the bias and the thread count (oneDNN's kernels
 * split their work for the threads they were made for). */
static void make_key(const lp_conv *cv, bool bias, int64_t *key)
{
    const lp_window *w = &cv->win;
    int64_t k[KEY_N] = { cv->N, cv->C, cv->M, cv->group, w->nsp, bias, omp_get_max_threads() };
    int n = 7;
    for (int i = 0; i < LP_SP; i++) {
        k[n++] = w->in[i];
        k[n++] = w->k[i];
        k[n++] = w->stride[i];
        k[n++] = w->dil[i];
        k[n++] = w->pad0[i];
        k[n++] = w->pad1[i];
    }
    memcpy(key, k, sizeof k);
}

/* A slot that feeds a primitive wanting `want` from the plain memory of `src_md`. */
static lp_status slot_in(slot *s, const dnnl_memory_desc_t *src_md, const dnnl_memory_desc_t *want)
{
    s->on = true;
    if (dnnl_memory_desc_equal(src_md, want))
        return LP_OK;
    LP_TRY(lp_dnt_buf_own(&s->buf, want));
    return lp_dnt_reorder(&s->reo, src_md, want, false);
}

/* A slot a primitive writes in layout `have`, copied into the plain `dst_md`; a gradient
 * (grad) is added in, or written where nothing was added to it yet (slot_drain's fresh). */
static lp_status slot_out(slot *s, const dnnl_memory_desc_t *have, const dnnl_memory_desc_t *dst_md, bool grad)
{
    s->on = true;
    if (!grad && dnnl_memory_desc_equal(have, dst_md))
        return LP_OK;
    LP_TRY(lp_dnt_buf_own(&s->buf, have));
    if (grad)
        LP_TRY(lp_dnt_reorder(&s->reo_set, have, dst_md, false));
    return lp_dnt_reorder(&s->reo, have, dst_md, grad);
}

static dnnl_memory_t slot_mem(const slot *s, const lp_dnt_buf *plain) { return s->reo ? s->buf.mem : plain->mem; }

static lp_status slot_fill(lp_dnnl_conv *c, slot *s, const lp_dnt_buf *plain)
{
    return s->reo ? lp_dnt_exec_reorder(c->stream, s->reo, plain, &s->buf) : LP_OK;
}

static lp_status slot_drain(lp_dnnl_conv *c, slot *s, const lp_dnt_buf *plain, bool fresh)
{
    dnnl_primitive_t r = fresh && s->reo_set ? s->reo_set : s->reo;
    return r ? lp_dnt_exec_reorder(c->stream, r, &s->buf, plain) : LP_OK;
}

typedef struct conv_mds {
    dnnl_memory_desc_t x, w, b, y;      /* plain */
    dnnl_memory_desc_t xa, wa, ya;      /* format any */
    dnnl_dims_t strides, dil, pad_l, pad_r;
} conv_mds;

static lp_status mds(const lp_conv *cv, conv_mds *m)
{
    const lp_window *w = &cv->win;
    if (w->nsp != 2 || cv->N < 1 || cv->group < 1)
        return LOWP_ERR_UNSUPPORTED;
    int64_t xd[4] = { cv->N, cv->C, w->in[1], w->in[2] }, yd[4] = { cv->N, cv->M, w->out[1], w->out[2] };
    int64_t bd[1] = { cv->M };
    int64_t wd[5] = { cv->group, cv->M / cv->group, cv->C / cv->group, w->k[1], w->k[2] };
    int wn = cv->group > 1 ? 5 : 4;
    const int64_t *wdims = cv->group > 1 ? wd : wd + 1;
    lp_dnt_plain(&m->x, 4, xd);
    lp_dnt_plain(&m->y, 4, yd);
    lp_dnt_plain(&m->b, 1, bd);
    lp_dnt_plain(&m->w, wn, wdims);
    dnnl_dims_t dx = { 0 }, dy = { 0 }, dw = { 0 };
    for (int i = 0; i < 4; i++) {
        dx[i] = xd[i];
        dy[i] = yd[i];
    }
    for (int i = 0; i < wn; i++)
        dw[i] = wdims[i];
    if (dnnl_memory_desc_init_by_tag(&m->xa, 4, dx, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&m->ya, 4, dy, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&m->wa, wn, dw, dnnl_f32, dnnl_format_tag_any) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    for (int i = 0; i < 2; i++) {
        m->strides[i] = w->stride[1 + i];
        m->dil[i] = w->dil[1 + i] - 1; /* oneDNN counts dilation from 0 */
        m->pad_l[i] = w->pad0[1 + i];
        m->pad_r[i] = w->pad1[1 + i];
    }
    return LP_OK;
}

/* The state for this geometry: the one cached, or a new one with the forward set up. */
static lp_status state_for(lp_dnnl_conv **cache, const lp_conv *cv, bool bias, lp_dnnl_conv **out)
{
    int64_t key[KEY_N];
    make_key(cv, bias, key);
    if (*cache && !memcmp((*cache)->key, key, sizeof key)) {
        *out = *cache;
        return LP_OK;
    }
    lp_dnnl_conv_free(*cache);
    *cache = NULL;
    conv_mds m;
    LP_TRY(mds(cv, &m));
    lp_dnnl_conv *c = calloc(1, sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(c->key, key, sizeof key);
    dnnl_convolution_desc_t d;
    lp_status st = dnnl_stream_create(&c->stream, lp_dnt_engine(), dnnl_stream_default_flags) == dnnl_success
                       ? LP_OK
                       : LOWP_ERR_UNSUPPORTED;
    if (st == LP_OK &&
        dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &m.xa, &m.wa,
                                                   bias ? &m.b : NULL, &m.ya, m.strides, m.dil, m.pad_l,
                                                   m.pad_r) != dnnl_success)
        st = LOWP_ERR_UNSUPPORTED;
    if (st == LP_OK)
        st = lp_dnt_pd(&c->fpd, &d, NULL, NULL);
    if (st == LP_OK)
        st = lp_dnt_prim(&c->fwd, c->fpd);
    lp_dnt_buf *ext[] = { &c->x, &c->w, &c->b, &c->y, &c->dy, &c->dx, &c->dw };
    const dnnl_memory_desc_t *emd[] = { &m.x, &m.w, &m.b, &m.y, &m.y, &m.x, &m.w };
    for (size_t i = 0; i < sizeof ext / sizeof *ext && st == LP_OK; i++)
        st = lp_dnt_buf_ext(ext[i], emd[i]);
    if (st == LP_OK)
        st = slot_in(&c->xf, &m.x, lp_dnt_md(c->fpd, dnnl_query_src_md));
    if (st == LP_OK)
        st = slot_in(&c->wf, &m.w, lp_dnt_md(c->fpd, dnnl_query_weights_md));
    if (st == LP_OK)
        st = slot_out(&c->yf, lp_dnt_md(c->fpd, dnnl_query_dst_md), &m.y, false);
    if (st != LP_OK) {
        lp_dnnl_conv_free(c);
        return st;
    }
    *cache = *out = c;
    return LP_OK;
}

/* The backward-data primitive and its slots, made on the first backward. */
static lp_status setup_bwd_data(lp_dnnl_conv *c, const lp_conv *cv)
{
    if (c->bwd_data)
        return LP_OK;
    conv_mds m;
    dnnl_convolution_desc_t d;
    LP_TRY(mds(cv, &m));
    if (dnnl_dilated_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &m.xa, &m.wa, &m.ya, m.strides,
                                                         m.dil, m.pad_l, m.pad_r) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&c->dpd, &d, c->fpd, NULL));
    const dnnl_memory_desc_t *wmd = lp_dnt_md(c->dpd, dnnl_query_weights_md);
    c->wd_is_wf = dnnl_memory_desc_equal(wmd, &c->wf.buf.md) || (!c->wf.reo && dnnl_memory_desc_equal(wmd, &m.w));
    LP_TRY(slot_in(&c->dyd, &m.y, lp_dnt_md(c->dpd, dnnl_query_diff_dst_md)));
    if (!c->wd_is_wf)
        LP_TRY(slot_in(&c->wd, &m.w, wmd));
    LP_TRY(slot_out(&c->dxd, lp_dnt_md(c->dpd, dnnl_query_diff_src_md), &m.x, true));
    return lp_dnt_prim(&c->bwd_data, c->dpd);
}

static lp_status setup_bwd_weights(lp_dnnl_conv *c, const lp_conv *cv, bool bias)
{
    if (c->bwd_w)
        return LP_OK;
    conv_mds m;
    dnnl_convolution_desc_t d;
    LP_TRY(mds(cv, &m));
    if (dnnl_dilated_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &m.xa, &m.wa,
                                                            bias ? &m.b : NULL, &m.ya, m.strides, m.dil, m.pad_l,
                                                            m.pad_r) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&c->wpd, &d, c->fpd, NULL));
    const dnnl_memory_desc_t *xmd = lp_dnt_md(c->wpd, dnnl_query_src_md);
    const dnnl_memory_desc_t *dymd = lp_dnt_md(c->wpd, dnnl_query_diff_dst_md);
    c->xw_is_xf = c->xf.reo ? dnnl_memory_desc_equal(xmd, &c->xf.buf.md) : dnnl_memory_desc_equal(xmd, &m.x);
    if (!c->xw_is_xf)
        LP_TRY(slot_in(&c->xw, &m.x, xmd));
    c->dyw_is_dyd = c->dyd.on && (c->dyd.reo ? dnnl_memory_desc_equal(dymd, &c->dyd.buf.md)
                                             : dnnl_memory_desc_equal(dymd, &m.y));
    if (!c->dyw_is_dyd)
        LP_TRY(slot_in(&c->dyw, &m.y, dymd));
    LP_TRY(slot_out(&c->dww, lp_dnt_md(c->wpd, dnnl_query_diff_weights_md), &m.w, true));
    if (bias)
        LP_TRY(lp_dnt_buf_own(&c->dbw, &m.b));
    return lp_dnt_prim(&c->bwd_w, c->wpd);
}

lp_status lp_dnnl_conv_forward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const float *w,
                               const float *b, float *y)
{
    if (!lp_dnt_enabled())
        return LOWP_ERR_UNSUPPORTED;
    lp_dnnl_conv *c;
    LP_TRY(state_for(cache, cv, b != NULL, &c));
    c->filled = false;
    LP_TRY(lp_dnt_bind(&c->x, x));
    LP_TRY(lp_dnt_bind(&c->w, w));
    LP_TRY(lp_dnt_bind(&c->y, y));
    if (b)
        LP_TRY(lp_dnt_bind(&c->b, b));
    LP_TRY(slot_fill(c, &c->xf, &c->x));
    LP_TRY(slot_fill(c, &c->wf, &c->w));
    int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
    dnnl_memory_t mems[4] = { slot_mem(&c->xf, &c->x), slot_mem(&c->wf, &c->w), slot_mem(&c->yf, &c->y), c->b.mem };
    LP_TRY(lp_dnt_exec(c->stream, c->fwd, b ? 4 : 3, kinds, mems));
    LP_TRY(slot_drain(c, &c->yf, &c->y, false));
    c->filled = true;
    return LP_OK;
}

lp_status lp_dnnl_conv_backward(lp_dnnl_conv **cache, const lp_conv *cv, bool bias, const float *x, const float *w,
                                const float *dy, float *dx, float *dw, float *db, unsigned fresh)
{
    if (!lp_dnt_enabled())
        return LOWP_ERR_UNSUPPORTED;
    lp_dnnl_conv *c;
    LP_TRY(state_for(cache, cv, bias, &c));
    /* everything that can refuse comes first: once a gradient is added there is no way back */
    if (dx)
        LP_TRY(setup_bwd_data(c, cv));
    if (dw || db)
        LP_TRY(setup_bwd_weights(c, cv, bias));
    LP_TRY(lp_dnt_bind(&c->x, x));
    LP_TRY(lp_dnt_bind(&c->w, w));
    LP_TRY(lp_dnt_bind(&c->dy, dy));
    if (!c->filled) { /* no forward of this geometry ran before (a backward alone) */
        LP_TRY(slot_fill(c, &c->xf, &c->x));
        LP_TRY(slot_fill(c, &c->wf, &c->w));
        c->filled = true;
    }
    bool dyd_filled = false;
    if (dx) {
        LP_TRY(lp_dnt_bind(&c->dx, dx));
        LP_TRY(slot_fill(c, &c->dyd, &c->dy));
        dyd_filled = true;
        if (!c->wd_is_wf)
            LP_TRY(slot_fill(c, &c->wd, &c->w));
        int kinds[3] = { DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC };
        dnnl_memory_t mems[3] = { slot_mem(&c->dyd, &c->dy),
                                  c->wd_is_wf ? slot_mem(&c->wf, &c->w) : slot_mem(&c->wd, &c->w),
                                  c->dxd.buf.mem };
        LP_TRY(lp_dnt_exec(c->stream, c->bwd_data, 3, kinds, mems));
        LP_TRY(slot_drain(c, &c->dxd, &c->dx, fresh & 1u)); /* adds into dx, or writes it */
    }
    if (dw || db) {
        dnnl_memory_t xm = c->xw_is_xf ? slot_mem(&c->xf, &c->x) : slot_mem(&c->xw, &c->x);
        if (!c->xw_is_xf)
            LP_TRY(slot_fill(c, &c->xw, &c->x));
        dnnl_memory_t dym;
        if (c->dyw_is_dyd) {
            if (!dyd_filled)
                LP_TRY(slot_fill(c, &c->dyd, &c->dy));
            dym = slot_mem(&c->dyd, &c->dy);
        } else {
            LP_TRY(slot_fill(c, &c->dyw, &c->dy));
            dym = slot_mem(&c->dyw, &c->dy);
        }
        int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS };
        dnnl_memory_t mems[4] = { xm, dym, c->dww.buf.mem, c->dbw.mem };
        LP_TRY(lp_dnt_exec(c->stream, c->bwd_w, bias ? 4 : 3, kinds, mems));
        if (dw) {
            LP_TRY(lp_dnt_bind(&c->dw, dw));
            LP_TRY(slot_drain(c, &c->dww, &c->dw, fresh & 2u)); /* adds into dw, or writes it */
        }
        if (db && (fresh & 4u))
            memcpy(db, c->dbw.own, (size_t)cv->M * sizeof *db);
        else if (db)
            lp_dnt_add(db, c->dbw.own, cv->M);
    }
    return LP_OK;
}
