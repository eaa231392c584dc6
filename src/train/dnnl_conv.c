/* dnnl_conv.c — the fast twins of Conv's training forward and backward: oneDNN's convolution
 * forward (training), backward-data and backward-weights primitives in the layouts oneDNN
 * picks for them (format `any`: channel-blocked activations and weights on AVX-512 / AVX2,
 * so the direct jit kernels run instead of gemm on plain layouts).
 *
 * The tape's tensors are plain, or -- between consecutive oneDNN ops (Conv -> Relu -> Conv) --
 * already in a primitive's layout (lp_dnt_layout): a tensor in the layout a primitive wants is
 * used as it is, any other is reordered into it, and an output is written in the primitive's
 * layout when the tape lets it stay so, else reordered back to plain (a gradient added in by
 * the reorder's sum post-op, or written where nothing was added to it yet). The node's state
 * (tape cache) keeps the primitives and the blocked copies of x and w from the forward for the
 * backward, so a step reorders the weights once. Any refusal (3-D convolution, no jit kernel,
 * LOWP_KERNELS=reference) returns LOWP_ERR_UNSUPPORTED and the caller runs the reference loops,
 * which tests/test_train_grad.c holds against finite differences (as these) and
 * tests/test_train_twins.c against these. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "train/dnnl_conv.h"
#include "train/dnnl_train.h"

#define KEY_N 32

/* A tensor as a primitive wants it (`want`) and as the tape has it (`peer`: plain, or a oneDNN
 * layout): the tape's memory itself when they agree (direct), else an owned buffer and the
 * reorder between the two, rebuilt when the tape's layout changes. */
typedef enum slot_kind {
    SLOT_IN,                            /* the primitive reads it: peer -> want */
    SLOT_OUT,                           /* the primitive writes it: want -> peer */
    SLOT_GRAD,                          /* the primitive writes a gradient: want -> peer, adding
                                           (reo) or writing (reo_set); never direct */
} slot_kind;

typedef struct slot {
    dnnl_memory_desc_t want, peer;
    lp_dnt_buf ext;                     /* the tape's tensor, as peer */
    lp_dnt_buf buf;                     /* in `want`, when not direct */
    dnnl_primitive_t reo, reo_set;
    bool built, direct;
    bool same;                          /* want == peer: a fresh gradient is written in place */
    bool in_place;                      /* this run's gradient went straight to the tape's */
} slot;

struct lp_dnnl_conv {
    int64_t key[KEY_N];
    dnnl_stream_t stream;
    dnnl_primitive_desc_t fpd, dpd, wpd;
    dnnl_primitive_t fwd, bwd_data, bwd_w;
    dnnl_memory_desc_t x, w, b, y;      /* plain */
    lp_dnt_buf bias;                    /* plain, bound per run */
    slot xf, wf, yf;                    /* forward: src, weights (filled by the forward, read by
                                           the backward), dst */
    slot dyd, wd, dxd;                  /* backward data: diff_dst, weights, diff_src */
    slot xw, dyw, dww;                  /* backward weights: src, diff_dst, diff_weights */
    slot yg;                            /* ConvTranspose's dx: the forward's dst as a gradient */
    lp_dnt_buf dbw;                     /* diff_bias (plain) */
    bool filled;                        /* xf and wf hold the last forward's x and w */
};

static void slot_free(slot *s)
{
    if (s->reo)
        dnnl_primitive_destroy(s->reo);
    if (s->reo_set)
        dnnl_primitive_destroy(s->reo_set);
    lp_dnt_buf_free(&s->buf);
    lp_dnt_buf_free(&s->ext);
    memset(s, 0, sizeof *s);
}

void lp_dnnl_conv_free(void *p)
{
    lp_dnnl_conv *c = p;
    if (!c)
        return;
    slot *slots[] = { &c->xf, &c->wf, &c->yf, &c->dyd, &c->wd, &c->dxd, &c->xw, &c->dyw, &c->dww, &c->yg };
    for (size_t i = 0; i < sizeof slots / sizeof *slots; i++)
        slot_free(slots[i]);
    lp_dnt_buf_free(&c->bias);
    lp_dnt_buf_free(&c->dbw);
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

/* Sets slot s up for the primitive's layout `want` and the tape's `peer` (kept when unchanged). */
static lp_status slot_set(slot *s, const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *peer, slot_kind kind)
{
    if (s->built && dnnl_memory_desc_equal(&s->want, want) && dnnl_memory_desc_equal(&s->peer, peer))
        return LP_OK;
    slot_free(s);
    s->want = *want;
    s->peer = *peer;
    s->same = dnnl_memory_desc_equal(want, peer);
    s->direct = kind != SLOT_GRAD && s->same;
    LP_TRY(lp_dnt_buf_ext(&s->ext, peer));
    if (!s->direct) {
        LP_TRY(lp_dnt_buf_own(&s->buf, want));
        if (kind == SLOT_IN)
            LP_TRY(lp_dnt_reorder(&s->reo, peer, want, false));
        else
            LP_TRY(lp_dnt_reorder(&s->reo, want, peer, kind == SLOT_GRAD));
        if (kind == SLOT_GRAD)
            LP_TRY(lp_dnt_reorder(&s->reo_set, want, peer, false));
    }
    s->built = true;
    return LP_OK;
}

/* The memory the primitive reads (or writes) for slot s. */
static dnnl_memory_t slot_mem(const slot *s) { return s->direct ? s->ext.mem : s->buf.mem; }

/* Binds the tape's data and, for an input, fills the primitive's copy. */
static lp_status slot_fill(lp_dnnl_conv *c, slot *s, const void *data)
{
    LP_TRY(lp_dnt_bind(&s->ext, data));
    return s->direct ? LP_OK : lp_dnt_exec_reorder(c->stream, s->reo, &s->ext, &s->buf);
}

/* The memory a primitive writes gradient slot s's result to: the tape's gradient at data
 * itself when nothing was added to it yet and the layouts agree, else the slot's buffer. */
static lp_status slot_grad_mem(slot *s, void *data, bool fresh, dnnl_memory_t *mem)
{
    LP_TRY(lp_dnt_bind(&s->ext, data));
    s->in_place = fresh && s->same;
    *mem = s->in_place ? s->ext.mem : s->buf.mem;
    return LP_OK;
}

/* An output slot's result into the tape's tensor at data (bound before the primitive ran);
 * a gradient's written when fresh, else added. */
static lp_status slot_drain(lp_dnnl_conv *c, slot *s, void *data, bool fresh)
{
    LP_TRY(lp_dnt_bind(&s->ext, data));
    if (s->direct || s->in_place)
        return LP_OK;
    return lp_dnt_exec_reorder(c->stream, fresh && s->reo_set ? s->reo_set : s->reo, &s->buf, &s->ext);
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

/* Creates the three primitives of the state (all at once: once the forward ran here, the
 * backward must be able to, since its inputs may be in this state's layouts). */
static lp_status build(lp_dnnl_conv *c, const lp_conv *cv, bool bias)
{
    conv_mds m;
    LP_TRY(mds(cv, &m));
    c->x = m.x;
    c->w = m.w;
    c->b = m.b;
    c->y = m.y;
    if (dnnl_stream_create(&c->stream, lp_dnt_engine(), dnnl_stream_default_flags) != dnnl_success) {
        c->stream = NULL;
        return LOWP_ERR_UNSUPPORTED;
    }
    dnnl_convolution_desc_t d;
    if (dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &m.xa, &m.wa,
                                                   bias ? &m.b : NULL, &m.ya, m.strides, m.dil, m.pad_l,
                                                   m.pad_r) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&c->fpd, &d, NULL, NULL));
    LP_TRY(lp_dnt_prim(&c->fwd, c->fpd));
    if (dnnl_dilated_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &m.xa, &m.wa, &m.ya, m.strides,
                                                         m.dil, m.pad_l, m.pad_r) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&c->dpd, &d, c->fpd, NULL));
    LP_TRY(lp_dnt_prim(&c->bwd_data, c->dpd));
    if (dnnl_dilated_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &m.xa, &m.wa,
                                                            bias ? &m.b : NULL, &m.ya, m.strides, m.dil, m.pad_l,
                                                            m.pad_r) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&c->wpd, &d, c->fpd, NULL));
    LP_TRY(lp_dnt_prim(&c->bwd_w, c->wpd));
    /* the weights' slots: plain on the tape's side always */
    LP_TRY(slot_set(&c->wf, lp_dnt_md(c->fpd, dnnl_query_weights_md), &m.w, SLOT_IN));
    LP_TRY(slot_set(&c->wd, lp_dnt_md(c->dpd, dnnl_query_weights_md), &m.w, SLOT_IN));
    LP_TRY(slot_set(&c->dww, lp_dnt_md(c->wpd, dnnl_query_diff_weights_md), &m.w, SLOT_GRAD));
    LP_TRY(lp_dnt_buf_ext(&c->bias, &m.b));
    if (bias)
        LP_TRY(lp_dnt_buf_own(&c->dbw, &m.b));
    return LP_OK;
}

/* The state for this geometry: the one cached, or a new one. */
static lp_status state_for(lp_dnnl_conv **cache, const lp_conv *cv, bool bias, lp_dnnl_conv **out)
{
    if (!lp_dnt_enabled())
        return LOWP_ERR_UNSUPPORTED;
    int64_t key[KEY_N];
    make_key(cv, bias, key);
    if (*cache && !memcmp((*cache)->key, key, sizeof key)) {
        *out = *cache;
        return LP_OK;
    }
    lp_dnnl_conv_free(*cache);
    *cache = NULL;
    lp_dnnl_conv *c = calloc(1, sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(c->key, key, sizeof key);
    lp_status st = build(c, cv, bias);
    if (st != LP_OK) {
        lp_dnnl_conv_free(c);
        return st;
    }
    *cache = *out = c;
    return LP_OK;
}

static const dnnl_memory_desc_t *peer_of(const lp_dnt_layout *lay, const dnnl_memory_desc_t *plain)
{
    return lay && lay->on ? &lay->md : plain;
}

lp_status lp_dnnl_conv_prepare(lp_dnnl_conv **cache, const lp_conv *cv, bool bias)
{
    lp_dnnl_conv *c;
    return state_for(cache, cv, bias, &c);
}

lp_status lp_dnnl_conv_forward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const lp_dnt_layout *x_lay,
                               const float *w, const float *b, float *y, lp_dnt_layout *y_lay)
{
    lp_dnnl_conv *c;
    LP_TRY(state_for(cache, cv, b != NULL, &c));
    const dnnl_memory_desc_t *dst = lp_dnt_md(c->fpd, dnnl_query_dst_md);
    /* the output stays in the primitive's layout when the tape allows it and that layout has
     * no padding (the tape's buffer holds exactly N*M*OH*OW values) */
    bool keep = y_lay && dnnl_memory_desc_get_size(dst) == dnnl_memory_desc_get_size(&c->y);
    LP_TRY(slot_set(&c->xf, lp_dnt_md(c->fpd, dnnl_query_src_md), peer_of(x_lay, &c->x), SLOT_IN));
    LP_TRY(slot_set(&c->yf, dst, keep ? dst : &c->y, SLOT_OUT));
    c->filled = false;
    LP_TRY(slot_fill(c, &c->xf, x));
    LP_TRY(slot_fill(c, &c->wf, w));
    LP_TRY(lp_dnt_bind(&c->yf.ext, y));
    if (b)
        LP_TRY(lp_dnt_bind(&c->bias, b));
    int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS };
    dnnl_memory_t mems[4] = { slot_mem(&c->xf), slot_mem(&c->wf), slot_mem(&c->yf), c->bias.mem };
    LP_TRY(lp_dnt_exec(c->stream, c->fwd, b ? 4 : 3, kinds, mems));
    LP_TRY(slot_drain(c, &c->yf, y, false)); /* back to the tape's plain layout, unless kept */
    if (y_lay) {
        y_lay->on = keep && !dnnl_memory_desc_equal(dst, &c->y);
        y_lay->md = *dst;
    }
    c->filled = true;
    return LP_OK;
}

lp_status lp_dnnl_conv_backward(lp_dnnl_conv **cache, const lp_conv *cv, bool bias, const float *x,
                                const lp_dnt_layout *x_lay, const float *w, const float *dy,
                                const lp_dnt_layout *y_lay, float *dx, float *dw, float *db, unsigned fresh)
{
    lp_dnnl_conv *c;
    LP_TRY(state_for(cache, cv, bias, &c));
    const dnnl_memory_desc_t *xp = peer_of(x_lay, &c->x), *yp = peer_of(y_lay, &c->y);
    if (!c->filled || !dnnl_memory_desc_equal(&c->xf.peer, xp)) { /* no forward ran here before */
        LP_TRY(slot_set(&c->xf, lp_dnt_md(c->fpd, dnnl_query_src_md), xp, SLOT_IN));
        LP_TRY(slot_fill(c, &c->xf, x));
        LP_TRY(slot_fill(c, &c->wf, w));
        c->filled = true;
    }
    if (dx) {
        LP_TRY(slot_set(&c->dyd, lp_dnt_md(c->dpd, dnnl_query_diff_dst_md), yp, SLOT_IN));
        LP_TRY(slot_set(&c->dxd, lp_dnt_md(c->dpd, dnnl_query_diff_src_md), xp, SLOT_GRAD));
        LP_TRY(slot_fill(c, &c->dyd, dy));
        /* the forward's weights when the layouts agree */
        bool same_w = dnnl_memory_desc_equal(&c->wd.want, &c->wf.want);
        if (!same_w)
            LP_TRY(slot_fill(c, &c->wd, w));
        int kinds[3] = { DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC };
        dnnl_memory_t mems[3] = { slot_mem(&c->dyd), same_w ? slot_mem(&c->wf) : slot_mem(&c->wd), NULL };
        LP_TRY(slot_grad_mem(&c->dxd, dx, fresh & 1u, &mems[2]));
        LP_TRY(lp_dnt_exec(c->stream, c->bwd_data, 3, kinds, mems));
        LP_TRY(slot_drain(c, &c->dxd, dx, fresh & 1u)); /* adds into dx, or writes it */
    }
    if (dw || db) {
        const dnnl_memory_desc_t *xmd = lp_dnt_md(c->wpd, dnnl_query_src_md);
        const dnnl_memory_desc_t *dymd = lp_dnt_md(c->wpd, dnnl_query_diff_dst_md);
        dnnl_memory_t xm, dym;
        if (dnnl_memory_desc_equal(xmd, &c->xf.want)) /* the forward's copy of x */
            xm = slot_mem(&c->xf);
        else {
            LP_TRY(slot_set(&c->xw, xmd, xp, SLOT_IN));
            LP_TRY(slot_fill(c, &c->xw, x));
            xm = slot_mem(&c->xw);
        }
        if (dx && dnnl_memory_desc_equal(dymd, &c->dyd.want)) /* backward-data's copy of dy */
            dym = slot_mem(&c->dyd);
        else {
            LP_TRY(slot_set(&c->dyw, dymd, yp, SLOT_IN));
            LP_TRY(slot_fill(c, &c->dyw, dy));
            dym = slot_mem(&c->dyw);
        }
        int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS };
        dnnl_memory_t mems[4] = { xm, dym, c->dww.buf.mem, c->dbw.mem };
        c->dww.in_place = false;
        if (dw)
            LP_TRY(slot_grad_mem(&c->dww, dw, fresh & 2u, &mems[2]));
        LP_TRY(lp_dnt_exec(c->stream, c->bwd_w, bias ? 4 : 3, kinds, mems));
        if (dw)
            LP_TRY(slot_drain(c, &c->dww, dw, fresh & 2u)); /* adds into dw, or writes it */
        if (db && (fresh & 4u))
            memcpy(db, c->dbw.own, (size_t)cv->M * sizeof *db);
        else if (db)
            lp_dnt_add(db, c->dbw.own, cv->M);
    }
    return LP_OK;
}

/* ---------------- ConvTranspose ----------------
 * A ConvTranspose of x (N,C,...) by w (C,M/group,k...) is the adjoint of the convolution cv
 * from its output's space (M channels, cv.win.in = y's dims) to its input's (C channels) with
 * the same weights as that convolution's (C, M/group, k...): its forward is the convolution's
 * backward-data (diff_dst = x, diff_src = y), its dx the convolution's forward of dy, its dw
 * the convolution's backward-weights with src = dy and diff_dst = x. The state is built
 * without a bias (the convolution's would sum x); the caller adds and sums ConvTranspose's. */

lp_status lp_dnnl_convt_forward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const float *w, float *y)
{
    lp_dnnl_conv *c;
    LP_TRY(state_for(cache, cv, false, &c));
    LP_TRY(slot_set(&c->dyd, lp_dnt_md(c->dpd, dnnl_query_diff_dst_md), &c->y, SLOT_IN));
    LP_TRY(slot_set(&c->dxd, lp_dnt_md(c->dpd, dnnl_query_diff_src_md), &c->x, SLOT_GRAD));
    LP_TRY(slot_fill(c, &c->dyd, x));
    LP_TRY(slot_fill(c, &c->wd, w));
    int kinds[3] = { DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC };
    dnnl_memory_t mems[3] = { slot_mem(&c->dyd), slot_mem(&c->wd), NULL };
    LP_TRY(slot_grad_mem(&c->dxd, y, true, &mems[2]));
    LP_TRY(lp_dnt_exec(c->stream, c->bwd_data, 3, kinds, mems));
    return slot_drain(c, &c->dxd, y, true);
}

lp_status lp_dnnl_convt_backward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const float *w,
                                 const float *dy, float *dx, float *dw, unsigned fresh)
{
    lp_dnnl_conv *c;
    LP_TRY(state_for(cache, cv, false, &c));
    c->filled = false; /* xf holds dy here, not a Conv forward's x */
    LP_TRY(slot_set(&c->xf, lp_dnt_md(c->fpd, dnnl_query_src_md), &c->x, SLOT_IN));
    LP_TRY(slot_fill(c, &c->xf, dy));
    if (dx) {
        LP_TRY(slot_set(&c->yg, lp_dnt_md(c->fpd, dnnl_query_dst_md), &c->y, SLOT_GRAD));
        LP_TRY(slot_fill(c, &c->wf, w));
        int kinds[3] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST };
        dnnl_memory_t mems[3] = { slot_mem(&c->xf), slot_mem(&c->wf), NULL };
        LP_TRY(slot_grad_mem(&c->yg, dx, fresh & 1u, &mems[2]));
        LP_TRY(lp_dnt_exec(c->stream, c->fwd, 3, kinds, mems));
        LP_TRY(slot_drain(c, &c->yg, dx, fresh & 1u));
    }
    if (dw) {
        const dnnl_memory_desc_t *smd = lp_dnt_md(c->wpd, dnnl_query_src_md);
        dnnl_memory_t sm;
        if (dnnl_memory_desc_equal(smd, &c->xf.want))
            sm = slot_mem(&c->xf);
        else {
            LP_TRY(slot_set(&c->xw, smd, &c->x, SLOT_IN));
            LP_TRY(slot_fill(c, &c->xw, dy));
            sm = slot_mem(&c->xw);
        }
        LP_TRY(slot_set(&c->dyw, lp_dnt_md(c->wpd, dnnl_query_diff_dst_md), &c->y, SLOT_IN));
        LP_TRY(slot_fill(c, &c->dyw, x));
        int kinds[3] = { DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS };
        dnnl_memory_t mems[3] = { sm, slot_mem(&c->dyw), NULL };
        LP_TRY(slot_grad_mem(&c->dww, dw, fresh & 2u, &mems[2]));
        LP_TRY(lp_dnt_exec(c->stream, c->bwd_w, 3, kinds, mems));
        LP_TRY(slot_drain(c, &c->dww, dw, fresh & 2u));
    }
    return LP_OK;
}
