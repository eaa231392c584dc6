/* dnnl_nn.c — dnnl_nn.h: oneDNN's forward-training and backward primitives of eltwise,
 * pooling, batch and layer normalization, softmax, inner product and matmul, on plain layouts,
 * kept per tape node. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "train/dnnl_nn.h"
#include "train/dnnl_train.h"

#define KEY_N 32
#define N_EXT 12

enum { K_ELT = 1, K_POOL, K_BN, K_SOFTMAX, K_IP, K_LN, K_MM, K_BMM, K_GEMM };

struct lp_dnt_op {
    int64_t key[KEY_N];
    bool refused;                       /* oneDNN took no part of this case: skip straight to the twin */
    dnnl_stream_t stream;
    dnnl_primitive_desc_t fpd, bpd, bpd2;
    dnnl_primitive_t fwd, bwd, bwd2;    /* bwd2: inner product's backward-weights */
    lp_dnt_buf ext[N_EXT];              /* plain, bound to the caller's data per run */
    lp_dnt_buf ws;                      /* max pooling's workspace (forward -> backward) */
    lp_dnt_buf tmp[3];                  /* results to add into gradients that hold some */
    lp_dnt_buf stat[2];                 /* layer normalization's mean and variance (forward -> backward) */
    bool ws_filled, stat_filled;
};

void lp_dnt_op_free(void *p)
{
    lp_dnt_op *o = p;
    if (!o)
        return;
    for (int i = 0; i < N_EXT; i++)
        lp_dnt_buf_free(&o->ext[i]);
    for (int i = 0; i < 3; i++)
        lp_dnt_buf_free(&o->tmp[i]);
    for (int i = 0; i < 2; i++)
        lp_dnt_buf_free(&o->stat[i]);
    lp_dnt_buf_free(&o->ws);
    if (o->fwd)
        dnnl_primitive_destroy(o->fwd);
    if (o->bwd)
        dnnl_primitive_destroy(o->bwd);
    if (o->bwd2)
        dnnl_primitive_destroy(o->bwd2);
    if (o->bpd2)
        dnnl_primitive_desc_destroy(o->bpd2);
    if (o->fpd)
        dnnl_primitive_desc_destroy(o->fpd);
    if (o->bpd)
        dnnl_primitive_desc_destroy(o->bpd);
    if (o->stream)
        dnnl_stream_destroy(o->stream);
    free(o);
}

/* The state of this key (kind, parameters; the thread count is added: oneDNN's kernels split
 * their work for the threads they were made for): the cached one or a fresh one. */
static lp_status state_for(lp_dnt_op **cache, const int64_t *key, int n, lp_dnt_op **out)
{
    int64_t k[KEY_N] = { 0 };
    if (n > KEY_N - 1 || !lp_dnt_enabled())
        return LOWP_ERR_UNSUPPORTED;
    memcpy(k, key, (size_t)n * sizeof *key);
    k[KEY_N - 1] = omp_get_max_threads();
    if (*cache && !memcmp((*cache)->key, k, sizeof k)) {
        *out = *cache;
        return (*cache)->refused ? LOWP_ERR_UNSUPPORTED : LP_OK;
    }
    lp_dnt_op_free(*cache);
    lp_dnt_op *o = *cache = calloc(1, sizeof *o);
    if (!o)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(o->key, k, sizeof k);
    if (dnnl_stream_create(&o->stream, lp_dnt_engine(), dnnl_stream_default_flags) != dnnl_success) {
        o->stream = NULL;
        o->refused = true;
        return LOWP_ERR_UNSUPPORTED;
    }
    *out = o;
    return LP_OK;
}

/* Marks the state refused when st is UNSUPPORTED (a setup that failed stays failed). */
static lp_status refuse_on(lp_dnt_op *o, lp_status st)
{
    if (st == LOWP_ERR_UNSUPPORTED)
        o->refused = true;
    return st;
}

static lp_status bind_ext(lp_dnt_op *o, int i, const dnnl_memory_desc_t *md, const void *data)
{
    if (!o->ext[i].mem)
        LP_TRY(lp_dnt_buf_ext(&o->ext[i], md));
    return lp_dnt_bind(&o->ext[i], data);
}

/* The memory a gradient result goes to: the gradient itself when fresh, else tmp[i] (added
 * in by finish_grad). */
static lp_status grad_target(lp_dnt_op *o, int ext, int tmp, const dnnl_memory_desc_t *md, float *g, bool fresh,
                             dnnl_memory_t *out)
{
    if (fresh) {
        LP_TRY(bind_ext(o, ext, md, g));
        *out = o->ext[ext].mem;
    } else {
        if (!o->tmp[tmp].mem)
            LP_TRY(lp_dnt_buf_own(&o->tmp[tmp], md));
        *out = o->tmp[tmp].mem;
    }
    return LP_OK;
}

static void finish_grad(lp_dnt_op *o, int tmp, float *g, bool fresh, int64_t n)
{
    if (!fresh)
        lp_dnt_add(g, o->tmp[tmp].own, n);
}

/* Runs the forward primitive from x (md xm, ext 0) to y (md ym, ext 1). */
static lp_status run_fwd(lp_dnt_op *o, const dnnl_memory_desc_t *xm, const void *x, const dnnl_memory_desc_t *ym,
                         void *y)
{
    LP_TRY(bind_ext(o, 0, xm, x));
    LP_TRY(bind_ext(o, 1, ym, y));
    int kinds[2] = { DNNL_ARG_SRC, DNNL_ARG_DST };
    dnnl_memory_t mems[2] = { o->ext[0].mem, o->ext[1].mem };
    return lp_dnt_exec(o->stream, o->fwd, 2, kinds, mems);
}

/* Runs the backward primitive on `data` (argument kind data_kind, ext 2) and dy (ext 3), all
 * of md `md` (n values), its diff_src written into dx when fresh, else added (ext 4, tmp 0). */
static lp_status run_bwd(lp_dnt_op *o, int data_kind, const dnnl_memory_desc_t *md, int64_t n, const void *data,
                         const float *dy, float *dx, bool fresh)
{
    dnnl_memory_t dst;
    LP_TRY(bind_ext(o, 2, md, data));
    LP_TRY(bind_ext(o, 3, md, dy));
    LP_TRY(grad_target(o, 4, 0, md, dx, fresh, &dst));
    int kinds[3] = { data_kind, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC };
    dnnl_memory_t mems[3] = { o->ext[2].mem, o->ext[3].mem, dst };
    LP_TRY(lp_dnt_exec(o->stream, o->bwd, 3, kinds, mems));
    finish_grad(o, 0, dx, fresh, n);
    return LP_OK;
}

/* ---------------- eltwise ---------------- */

static lp_status elt_fwd_pd(lp_dnt_op *o, dnnl_alg_kind_t alg, float alpha, float beta, const dnnl_memory_desc_t *md)
{
    if (o->fpd)
        return LP_OK;
    dnnl_eltwise_desc_t d;
    if (dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, alg, md, alpha, beta) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    return lp_dnt_pd(&o->fpd, &d, NULL, NULL);
}

/* The eltwise state of (alg, alpha, beta, n) and the md of its n values. */
static lp_status elt_state(lp_dnt_op **cache, dnnl_alg_kind_t alg, float alpha, float beta, int64_t n,
                           dnnl_memory_desc_t *md, lp_dnt_op **o)
{
    int64_t key[5] = { K_ELT, alg, 0, 0, n };
    memcpy(&key[2], &alpha, sizeof alpha);
    memcpy(&key[3], &beta, sizeof beta);
    lp_dnt_plain(md, 1, &n);
    return state_for(cache, key, 5, o);
}

lp_status lp_dnt_eltwise_forward(lp_dnt_op **cache, dnnl_alg_kind_t alg, float alpha, float beta, int64_t n,
                                 const float *x, float *y)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t md;
    LP_TRY(elt_state(cache, alg, alpha, beta, n, &md, &o));
    if (!o->fwd) {
        LP_TRY(refuse_on(o, elt_fwd_pd(o, alg, alpha, beta, &md)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->fwd, o->fpd)));
    }
    return run_fwd(o, &md, x, &md, y);
}

lp_status lp_dnt_eltwise_backward(lp_dnt_op **cache, dnnl_alg_kind_t alg, float alpha, float beta, int64_t n,
                                  const float *data, const float *dy, float *dx, bool fresh)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t md;
    LP_TRY(elt_state(cache, alg, alpha, beta, n, &md, &o));
    if (!o->bwd) {
        dnnl_eltwise_desc_t d;
        LP_TRY(refuse_on(o, elt_fwd_pd(o, alg, alpha, beta, &md)));
        if (dnnl_eltwise_backward_desc_init(&d, alg, &md, &md, alpha, beta) != dnnl_success)
            return refuse_on(o, LOWP_ERR_UNSUPPORTED);
        LP_TRY(refuse_on(o, lp_dnt_pd(&o->bpd, &d, o->fpd, NULL)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->bwd, o->bpd)));
    }
    bool use_dst = alg == dnnl_eltwise_relu_use_dst_for_bwd || alg == dnnl_eltwise_tanh_use_dst_for_bwd ||
                   alg == dnnl_eltwise_logistic_use_dst_for_bwd || alg == dnnl_eltwise_exp_use_dst_for_bwd ||
                   alg == dnnl_eltwise_sqrt_use_dst_for_bwd || alg == dnnl_eltwise_elu_use_dst_for_bwd;
    return run_bwd(o, use_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, &md, n, data, dy, dx, fresh);
}

/* ---------------- pooling ---------------- */

typedef struct pool_geom {
    int nd;
    int64_t src[5], dst[5];
    dnnl_dims_t strides, kernel, dil, pad_l, pad_r;
} pool_geom;

static int pool_key(dnnl_alg_kind_t alg, int64_t N, int64_t C, const lp_window *w, int64_t *key, pool_geom *p)
{
    int n = 0;
    key[n++] = K_POOL;
    key[n++] = alg;
    key[n++] = N;
    key[n++] = C;
    key[n++] = w->nsp;
    p->nd = 2 + w->nsp;
    p->src[0] = p->dst[0] = N;
    p->src[1] = p->dst[1] = C;
    for (int i = 0; i < w->nsp; i++) {
        int j = LP_SP - w->nsp + i;
        p->src[2 + i] = w->in[j];
        p->dst[2 + i] = w->out[j];
        p->strides[i] = w->stride[j];
        p->kernel[i] = w->k[j];
        p->dil[i] = w->dil[j] - 1; /* oneDNN counts dilation from 0 */
        p->pad_l[i] = w->pad0[j];
        p->pad_r[i] = w->pad1[j];
        key[n++] = w->in[j];
        key[n++] = w->k[j];
        key[n++] = w->stride[j];
        key[n++] = w->dil[j];
        key[n++] = w->pad0[j];
        key[n++] = w->pad1[j];
    }
    return n;
}

static lp_status pool_setup_fwd(lp_dnt_op *o, dnnl_alg_kind_t alg, const pool_geom *p, const dnnl_memory_desc_t *xm,
                                const dnnl_memory_desc_t *ym)
{
    if (o->fwd)
        return LP_OK;
    dnnl_pooling_v2_desc_t d;
    if (dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training, alg, xm, ym, p->strides, p->kernel, p->dil,
                                          p->pad_l, p->pad_r) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&o->fpd, &d, NULL, NULL));
    const dnnl_memory_desc_t *wsm = lp_dnt_md(o->fpd, dnnl_query_workspace_md);
    if (wsm && wsm->ndims > 0)
        LP_TRY(lp_dnt_buf_own(&o->ws, wsm));
    return lp_dnt_prim(&o->fwd, o->fpd);
}

/* The pooling state of (alg, planes, window) with its forward set up, and its mds. */
static lp_status pool_state(lp_dnt_op **cache, dnnl_alg_kind_t alg, int64_t N, int64_t C, const lp_window *w,
                            pool_geom *p, dnnl_memory_desc_t *xm, dnnl_memory_desc_t *ym, lp_dnt_op **o)
{
    int64_t key[KEY_N];
    int nk = pool_key(alg, N, C, w, key, p);
    LP_TRY(state_for(cache, key, nk, o));
    lp_dnt_plain(xm, p->nd, p->src);
    lp_dnt_plain(ym, p->nd, p->dst);
    return refuse_on(*o, pool_setup_fwd(*o, alg, p, xm, ym));
}

lp_status lp_dnt_pool_forward(lp_dnt_op **cache, dnnl_alg_kind_t alg, int64_t N, int64_t C, const lp_window *w,
                              const float *x, float *y)
{
    pool_geom p;
    lp_dnt_op *o;
    dnnl_memory_desc_t xm, ym;
    LP_TRY(pool_state(cache, alg, N, C, w, &p, &xm, &ym, &o));
    o->ws_filled = false;
    if (!o->ws.mem)
        return run_fwd(o, &xm, x, &ym, y);
    LP_TRY(bind_ext(o, 0, &xm, x));
    LP_TRY(bind_ext(o, 1, &ym, y));
    int kinds[3] = { DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE };
    dnnl_memory_t mems[3] = { o->ext[0].mem, o->ext[1].mem, o->ws.mem };
    LP_TRY(lp_dnt_exec(o->stream, o->fwd, 3, kinds, mems));
    o->ws_filled = true;
    return LP_OK;
}

lp_status lp_dnt_pool_backward(lp_dnt_op **cache, dnnl_alg_kind_t alg, int64_t N, int64_t C, const lp_window *w,
                               const float *dy, float *dx, bool fresh)
{
    pool_geom p;
    lp_dnt_op *o;
    dnnl_memory_desc_t xm, ym;
    LP_TRY(pool_state(cache, alg, N, C, w, &p, &xm, &ym, &o));
    if (o->ws.mem && !o->ws_filled) /* max pooling: the forward's choices are in its workspace */
        return LOWP_ERR_UNSUPPORTED;
    if (!o->bwd) {
        dnnl_pooling_v2_desc_t d;
        if (dnnl_pooling_v2_backward_desc_init(&d, alg, &xm, &ym, p.strides, p.kernel, p.dil, p.pad_l, p.pad_r) !=
            dnnl_success)
            return refuse_on(o, LOWP_ERR_UNSUPPORTED);
        LP_TRY(refuse_on(o, lp_dnt_pd(&o->bpd, &d, o->fpd, NULL)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->bwd, o->bpd)));
    }
    dnnl_memory_t dst;
    LP_TRY(bind_ext(o, 2, &ym, dy));
    LP_TRY(grad_target(o, 3, 0, &xm, dx, fresh, &dst));
    int kinds[3] = { DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_WORKSPACE };
    dnnl_memory_t mems[3] = { o->ext[2].mem, dst, o->ws.mem };
    LP_TRY(lp_dnt_exec(o->stream, o->bwd, o->ws.mem ? 3 : 2, kinds, mems));
    finish_grad(o, 0, dx, fresh, lp_numel(p.nd, p.src));
    return LP_OK;
}

/* ---------------- batch normalization ---------------- */

#define BN_FLAGS ((unsigned)dnnl_use_scale | (unsigned)dnnl_use_shift)

static lp_status bn_setup_fwd(lp_dnt_op *o, float eps, const dnnl_memory_desc_t *xm)
{
    if (o->fwd)
        return LP_OK;
    dnnl_batch_normalization_desc_t d;
    if (dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_training, xm, eps, BN_FLAGS) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&o->fpd, &d, NULL, NULL));
    return lp_dnt_prim(&o->fwd, o->fpd);
}

/* FNV-1a of a memory descriptor's bytes: a layout in a state's key. */
static int64_t md_hash(const dnnl_memory_desc_t *md)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *p = (const unsigned char *)md;
    for (size_t i = 0; i < sizeof *md; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return (int64_t)(h >> 1);
}

/* The normalization state of (N, C, S, eps, layout) with its forward set up, and its mds: data
 * in `lay` (a oneDNN layout of (N, C, spatial...), the tape's blocked activations) or else (N, C,
 * S, 1) -- nchw, the layout oneDNN's jit normalization takes -- and per channel (C). */
static lp_status bn_state(lp_dnt_op **cache, const dnnl_memory_desc_t *lay, int64_t N, int64_t C, int64_t S, float eps,
                          dnnl_memory_desc_t *xm, dnnl_memory_desc_t *cm, lp_dnt_op **o)
{
    int64_t key[6] = { K_BN, N, C, S, 0, lay ? md_hash(lay) : 0 }, d[4] = { N, C, S, 1 };
    memcpy(&key[4], &eps, sizeof eps);
    LP_TRY(state_for(cache, key, 6, o));
    if (lay)
        *xm = *lay;
    else
        lp_dnt_plain(xm, 4, d);
    lp_dnt_plain(cm, 1, &C);
    return refuse_on(*o, bn_setup_fwd(*o, eps, xm));
}

lp_status lp_dnt_bn_forward(lp_dnt_op **cache, const dnnl_memory_desc_t *lay, int64_t N, int64_t C, int64_t S,
                            float eps, const float *x, const float *scale, const float *shift, float *y, float *mean,
                            float *var)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t xm, cm;
    LP_TRY(bn_state(cache, lay, N, C, S, eps, &xm, &cm, &o));
    LP_TRY(bind_ext(o, 0, &xm, x));
    LP_TRY(bind_ext(o, 1, &xm, y));
    LP_TRY(bind_ext(o, 2, &cm, scale));
    LP_TRY(bind_ext(o, 3, &cm, shift));
    LP_TRY(bind_ext(o, 4, &cm, mean));
    LP_TRY(bind_ext(o, 5, &cm, var));
    int kinds[6] = { DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE };
    dnnl_memory_t mems[6];
    for (int i = 0; i < 6; i++)
        mems[i] = o->ext[i].mem;
    return lp_dnt_exec(o->stream, o->fwd, 6, kinds, mems);
}

lp_status lp_dnt_bn_backward(lp_dnt_op **cache, const dnnl_memory_desc_t *lay, int64_t N, int64_t C, int64_t S,
                             float eps, const float *x, const float *mean, const float *var, const float *scale,
                             const float *shift, const float *dy, float *dx, float *dscale, float *dshift,
                             unsigned fresh)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t xm, cm;
    LP_TRY(bn_state(cache, lay, N, C, S, eps, &xm, &cm, &o));
    if (!o->bwd) {
        dnnl_batch_normalization_desc_t d;
        if (dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &xm, &xm, eps, BN_FLAGS) != dnnl_success)
            return refuse_on(o, LOWP_ERR_UNSUPPORTED);
        LP_TRY(refuse_on(o, lp_dnt_pd(&o->bpd, &d, o->fpd, NULL)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->bwd, o->bpd)));
    }
    /* the primitive computes all three; what the caller does not want goes to a scratch tmp */
    dnnl_memory_t gdx, gds, gdb;
    /* ext: the forward's 0 x, 2 scale, 4 mean, 5 var (same mds), then 6 dy, 7-9 gradients */
    LP_TRY(grad_target(o, 7, 0, &xm, dx, dx && (fresh & 1u), &gdx));
    LP_TRY(grad_target(o, 8, 1, &cm, dscale, dscale && (fresh & 2u), &gds));
    LP_TRY(grad_target(o, 9, 2, &cm, dshift, dshift && (fresh & 4u), &gdb));
    LP_TRY(bind_ext(o, 0, &xm, x));
    LP_TRY(bind_ext(o, 4, &cm, mean));
    LP_TRY(bind_ext(o, 5, &cm, var));
    LP_TRY(bind_ext(o, 2, &cm, scale));
    LP_TRY(bind_ext(o, 3, &cm, shift)); /* oneDNN 2.6 asks for it (unused) */
    LP_TRY(bind_ext(o, 6, &xm, dy));
    int kinds[9] = { DNNL_ARG_SRC,      DNNL_ARG_MEAN,     DNNL_ARG_VARIANCE,   DNNL_ARG_SCALE,     DNNL_ARG_SHIFT,
                     DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT };
    dnnl_memory_t mems[9] = { o->ext[0].mem, o->ext[4].mem, o->ext[5].mem, o->ext[2].mem, o->ext[3].mem,
                              o->ext[6].mem, gdx,           gds,           gdb };
    LP_TRY(lp_dnt_exec(o->stream, o->bwd, 9, kinds, mems));
    if (dx)
        finish_grad(o, 0, dx, fresh & 1u, N * C * S);
    if (dscale)
        finish_grad(o, 1, dscale, fresh & 2u, C);
    if (dshift)
        finish_grad(o, 2, dshift, fresh & 4u, C);
    return LP_OK;
}

/* ---------------- softmax ---------------- */

static lp_status sm_setup_fwd(lp_dnt_op *o, bool log, const dnnl_memory_desc_t *md)
{
    if (o->fwd)
        return LP_OK;
    dnnl_softmax_v2_desc_t d;
    if (dnnl_softmax_v2_forward_desc_init(&d, dnnl_forward_training, log ? dnnl_softmax_log : dnnl_softmax_accurate,
                                          md, md, 1) != dnnl_success)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(lp_dnt_pd(&o->fpd, &d, NULL, NULL));
    return lp_dnt_prim(&o->fwd, o->fpd);
}

/* The softmax state of (log, outer, n, inner) with its forward set up, and its md. */
static lp_status sm_state(lp_dnt_op **cache, bool log, int64_t outer, int64_t n, int64_t inner,
                          dnnl_memory_desc_t *md, lp_dnt_op **o)
{
    int64_t key[5] = { K_SOFTMAX, log, outer, n, inner }, dims[3] = { outer, n, inner };
    LP_TRY(state_for(cache, key, 5, o));
    lp_dnt_plain(md, 3, dims);
    return refuse_on(*o, sm_setup_fwd(*o, log, md));
}

lp_status lp_dnt_softmax_forward(lp_dnt_op **cache, bool log, int64_t outer, int64_t n, int64_t inner,
                                 const float *x, float *y)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t md;
    LP_TRY(sm_state(cache, log, outer, n, inner, &md, &o));
    return run_fwd(o, &md, x, &md, y);
}

lp_status lp_dnt_softmax_backward(lp_dnt_op **cache, bool log, int64_t outer, int64_t n, int64_t inner,
                                  const float *y, const float *dy, float *dx, bool fresh)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t md;
    LP_TRY(sm_state(cache, log, outer, n, inner, &md, &o));
    if (!o->bwd) {
        dnnl_softmax_v2_desc_t d;
        if (dnnl_softmax_v2_backward_desc_init(&d, log ? dnnl_softmax_log : dnnl_softmax_accurate, &md, &md, &md, 1) !=
            dnnl_success)
            return refuse_on(o, LOWP_ERR_UNSUPPORTED);
        LP_TRY(refuse_on(o, lp_dnt_pd(&o->bpd, &d, o->fpd, NULL)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->bwd, o->bpd)));
    }
    return run_bwd(o, DNNL_ARG_DST, &md, outer * n * inner, y, dy, dx, fresh);
}

/* ---------------- inner product (Gemm) ---------------- */

/* The inner-product state of (M, K, N, transB, bias) with its forward set up; mds: src (M,K),
 * weights (N,K) over B's data (B^T when B is (K,N)), bias (N), dst (M,N). */
typedef struct ip_mds {
    dnnl_memory_desc_t a, w, b, y;
} ip_mds;

static lp_status ip_state(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool transB, bool bias, ip_mds *m,
                          lp_dnt_op **o)
{
    int64_t key[6] = { K_IP, M, K, N, transB, bias };
    LP_TRY(state_for(cache, key, 6, o));
    int64_t da[2] = { M, K }, dy[2] = { M, N };
    lp_dnt_plain(&m->a, 2, da);
    lp_dnt_plain(&m->y, 2, dy);
    lp_dnt_plain(&m->b, 1, &N);
    dnnl_dims_t dw = { N, K }, sw = { transB ? K : 1, transB ? 1 : N };
    if (dnnl_memory_desc_init_by_strides(&m->w, 2, dw, dnnl_f32, sw) != dnnl_success)
        return refuse_on(*o, LOWP_ERR_UNSUPPORTED);
    if ((*o)->fwd)
        return LP_OK;
    dnnl_inner_product_desc_t d;
    if (dnnl_inner_product_forward_desc_init(&d, dnnl_forward_training, &m->a, &m->w, bias ? &m->b : NULL, &m->y) !=
        dnnl_success)
        return refuse_on(*o, LOWP_ERR_UNSUPPORTED);
    LP_TRY(refuse_on(*o, lp_dnt_pd(&(*o)->fpd, &d, NULL, NULL)));
    return refuse_on(*o, lp_dnt_prim(&(*o)->fwd, (*o)->fpd));
}

lp_status lp_dnt_ip_forward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool transB, const float *a,
                            const float *b, const float *bias, float *y)
{
    lp_dnt_op *o;
    ip_mds m;
    LP_TRY(ip_state(cache, M, K, N, transB, bias != NULL, &m, &o));
    LP_TRY(bind_ext(o, 0, &m.a, a));
    LP_TRY(bind_ext(o, 1, &m.y, y));
    LP_TRY(bind_ext(o, 2, &m.w, b));
    if (bias)
        LP_TRY(bind_ext(o, 3, &m.b, bias));
    int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS };
    dnnl_memory_t mems[4] = { o->ext[0].mem, o->ext[1].mem, o->ext[2].mem, o->ext[3].mem };
    return lp_dnt_exec(o->stream, o->fwd, bias ? 4 : 3, kinds, mems);
}

lp_status lp_dnt_ip_backward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool transB, bool bias,
                             const float *a, const float *b, const float *dy, float *da, float *db, float *dbias,
                             unsigned fresh)
{
    lp_dnt_op *o;
    ip_mds m;
    LP_TRY(ip_state(cache, M, K, N, transB, bias, &m, &o));
    if (da && !o->bwd) {
        dnnl_inner_product_desc_t d;
        if (dnnl_inner_product_backward_data_desc_init(&d, &m.a, &m.w, &m.y) != dnnl_success)
            return refuse_on(o, LOWP_ERR_UNSUPPORTED);
        LP_TRY(refuse_on(o, lp_dnt_pd(&o->bpd, &d, o->fpd, NULL)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->bwd, o->bpd)));
    }
    if ((db || dbias) && !o->bwd2) {
        dnnl_inner_product_desc_t d;
        if (dnnl_inner_product_backward_weights_desc_init(&d, &m.a, &m.w, bias ? &m.b : NULL, &m.y) != dnnl_success)
            return refuse_on(o, LOWP_ERR_UNSUPPORTED);
        LP_TRY(refuse_on(o, lp_dnt_pd(&o->bpd2, &d, o->fpd, NULL)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->bwd2, o->bpd2)));
    }
    LP_TRY(bind_ext(o, 0, &m.a, a));
    LP_TRY(bind_ext(o, 2, &m.w, b));
    LP_TRY(bind_ext(o, 4, &m.y, dy));
    if (da) {
        dnnl_memory_t dst;
        LP_TRY(grad_target(o, 5, 0, &m.a, da, fresh & 1u, &dst));
        int kinds[3] = { DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC };
        dnnl_memory_t mems[3] = { o->ext[4].mem, o->ext[2].mem, dst };
        LP_TRY(lp_dnt_exec(o->stream, o->bwd, 3, kinds, mems));
        finish_grad(o, 0, da, fresh & 1u, M * K);
    }
    if (db || dbias) { /* the primitive computes both; an unwanted one goes to a scratch tmp */
        dnnl_memory_t gw, gb = NULL;
        LP_TRY(grad_target(o, 6, 1, &m.w, db, db && (fresh & 2u), &gw));
        if (bias)
            LP_TRY(grad_target(o, 7, 2, &m.b, dbias, dbias && (fresh & 4u), &gb));
        int kinds[4] = { DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS };
        dnnl_memory_t mems[4] = { o->ext[0].mem, o->ext[4].mem, gw, gb };
        LP_TRY(lp_dnt_exec(o->stream, o->bwd2, bias ? 4 : 3, kinds, mems));
        if (db) /* tmp 1 has B's layout too (m.w's strides over the same N*K values) */
            finish_grad(o, 1, db, fresh & 2u, N * K);
        if (dbias)
            finish_grad(o, 2, dbias, fresh & 4u, N);
    }
    return LP_OK;
}

/* ---------------- layer normalization ---------------- */

/* The layer-normalization state of (rows, D, eps, shift) with its forward set up: data (rows,
 * D), per-position scale and shift (D); its mean and variance per row are kept in the state
 * (stat) from the forward to the backward. */
static lp_status ln_state(lp_dnt_op **cache, int64_t rows, int64_t D, float eps, bool shift, dnnl_memory_desc_t *xm,
                          dnnl_memory_desc_t *cm, dnnl_memory_desc_t *sm, lp_dnt_op **o)
{
    int64_t key[5] = { K_LN, rows, D, 0, shift }, d[2] = { rows, D };
    memcpy(&key[3], &eps, sizeof eps);
    LP_TRY(state_for(cache, key, 5, o));
    lp_dnt_plain(xm, 2, d);
    lp_dnt_plain(cm, 1, &D);
    lp_dnt_plain(sm, 1, &rows);
    if ((*o)->fwd)
        return LP_OK;
    dnnl_layer_normalization_desc_t desc;
    unsigned flags = (unsigned)dnnl_use_scale | (shift ? (unsigned)dnnl_use_shift : 0u);
    if (dnnl_layer_normalization_forward_desc_init(&desc, dnnl_forward_training, xm, sm, eps, flags) != dnnl_success)
        return refuse_on(*o, LOWP_ERR_UNSUPPORTED);
    LP_TRY(refuse_on(*o, lp_dnt_pd(&(*o)->fpd, &desc, NULL, NULL)));
    LP_TRY(refuse_on(*o, lp_dnt_prim(&(*o)->fwd, (*o)->fpd)));
    LP_TRY(lp_dnt_buf_own(&(*o)->stat[0], sm));
    return lp_dnt_buf_own(&(*o)->stat[1], sm);
}

lp_status lp_dnt_ln_forward(lp_dnt_op **cache, int64_t rows, int64_t D, float eps, const float *x, const float *scale,
                            const float *shift, float *y)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t xm, cm, sm;
    LP_TRY(ln_state(cache, rows, D, eps, shift != NULL, &xm, &cm, &sm, &o));
    o->stat_filled = false;
    LP_TRY(bind_ext(o, 0, &xm, x));
    LP_TRY(bind_ext(o, 1, &xm, y));
    LP_TRY(bind_ext(o, 2, &cm, scale));
    if (shift)
        LP_TRY(bind_ext(o, 3, &cm, shift));
    int kinds[6] = { DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_SCALE, DNNL_ARG_SHIFT };
    dnnl_memory_t mems[6] = { o->ext[0].mem, o->ext[1].mem, o->stat[0].mem, o->stat[1].mem, o->ext[2].mem,
                              o->ext[3].mem };
    LP_TRY(lp_dnt_exec(o->stream, o->fwd, shift ? 6 : 5, kinds, mems));
    o->stat_filled = true;
    return LP_OK;
}

lp_status lp_dnt_ln_backward(lp_dnt_op **cache, int64_t rows, int64_t D, float eps, const float *x, const float *scale,
                             const float *shift, const float *dy, float *dx, float *dscale, float *dshift,
                             unsigned fresh)
{
    lp_dnt_op *o;
    dnnl_memory_desc_t xm, cm, sm;
    LP_TRY(ln_state(cache, rows, D, eps, shift != NULL, &xm, &cm, &sm, &o));
    if (!o->stat_filled) /* the statistics come from a forward run here */
        return LOWP_ERR_UNSUPPORTED;
    if (!o->bwd) {
        dnnl_layer_normalization_desc_t d;
        unsigned flags = (unsigned)dnnl_use_scale | (shift ? (unsigned)dnnl_use_shift : 0u);
        if (dnnl_layer_normalization_backward_desc_init(&d, dnnl_backward, &xm, &xm, &sm, eps, flags) != dnnl_success)
            return refuse_on(o, LOWP_ERR_UNSUPPORTED);
        LP_TRY(refuse_on(o, lp_dnt_pd(&o->bpd, &d, o->fpd, NULL)));
        LP_TRY(refuse_on(o, lp_dnt_prim(&o->bwd, o->bpd)));
    }
    /* the primitive computes all of them; what the caller does not want goes to a scratch tmp */
    dnnl_memory_t gdx, gds, gdb = NULL;
    LP_TRY(grad_target(o, 5, 0, &xm, dx, dx && (fresh & 1u), &gdx));
    LP_TRY(grad_target(o, 6, 1, &cm, dscale, dscale && (fresh & 2u), &gds));
    if (shift)
        LP_TRY(grad_target(o, 7, 2, &cm, dshift, dshift && (fresh & 4u), &gdb));
    LP_TRY(bind_ext(o, 0, &xm, x));
    LP_TRY(bind_ext(o, 2, &cm, scale));
    if (shift)
        LP_TRY(bind_ext(o, 3, &cm, shift));
    LP_TRY(bind_ext(o, 4, &xm, dy));
    int kinds[9] = { DNNL_ARG_SRC,       DNNL_ARG_MEAN,       DNNL_ARG_VARIANCE, DNNL_ARG_DIFF_DST, DNNL_ARG_SCALE,
                     DNNL_ARG_DIFF_SRC,  DNNL_ARG_DIFF_SCALE, DNNL_ARG_SHIFT,    DNNL_ARG_DIFF_SHIFT };
    dnnl_memory_t mems[9] = { o->ext[0].mem, o->stat[0].mem, o->stat[1].mem, o->ext[4].mem, o->ext[2].mem,
                              gdx,           gds,            o->ext[3].mem,  gdb };
    LP_TRY(lp_dnt_exec(o->stream, o->bwd, shift ? 9 : 7, kinds, mems));
    if (dx)
        finish_grad(o, 0, dx, fresh & 1u, rows * D);
    if (dscale)
        finish_grad(o, 1, dscale, fresh & 2u, D);
    if (dshift)
        finish_grad(o, 2, dshift, fresh & 4u, D);
    return LP_OK;
}

/* ---------------- matmul ---------------- */

/* A (nb, r, c) f32 md with element strides (rs, cs) within a matrix of the batch. */
static lp_status mat_md(dnnl_memory_desc_t *md, int64_t nb, int64_t r, int64_t c, int64_t rs, int64_t cs)
{
    dnnl_dims_t d = { nb, r, c }, st = { r * c, rs, cs };
    return dnnl_memory_desc_init_by_strides(md, 3, d, dnnl_f32, st) == dnnl_success ? LP_OK : LOWP_ERR_UNSUPPORTED;
}

/* The matmul state of (nb, M, K, N) with its forward set up; mds: a (nb,M,K), b (nb,K,N), y
 * (nb,M,N), and the transposed views bT (nb,N,K) over b's data, aT (nb,K,M) over a's. */
typedef struct mm_mds {
    dnnl_memory_desc_t a, b, y, aT, bT;
} mm_mds;

static lp_status mm_state(lp_dnt_op **cache, int64_t nb, int64_t M, int64_t K, int64_t N, mm_mds *m, lp_dnt_op **o)
{
    int64_t key[5] = { K_MM, nb, M, K, N };
    LP_TRY(state_for(cache, key, 5, o));
    lp_status st = mat_md(&m->a, nb, M, K, K, 1);
    if (st == LP_OK)
        st = mat_md(&m->b, nb, K, N, N, 1);
    if (st == LP_OK)
        st = mat_md(&m->y, nb, M, N, N, 1);
    if (st == LP_OK)
        st = mat_md(&m->aT, nb, K, M, 1, K);
    if (st == LP_OK)
        st = mat_md(&m->bT, nb, N, K, 1, N);
    LP_TRY(refuse_on(*o, st));
    if ((*o)->fwd)
        return LP_OK;
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, &m->a, &m->b, NULL, &m->y) != dnnl_success)
        return refuse_on(*o, LOWP_ERR_UNSUPPORTED);
    LP_TRY(refuse_on(*o, lp_dnt_pd(&(*o)->fpd, &d, NULL, NULL)));
    return refuse_on(*o, lp_dnt_prim(&(*o)->fwd, (*o)->fpd));
}

/* One matmul primitive (dst = alpha src x weights) into *pd / *p unless made already. */
static lp_status mm_prim(lp_dnt_op *o, dnnl_primitive_desc_t *pd, dnnl_primitive_t *p, const dnnl_memory_desc_t *src,
                         const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *dst, float alpha)
{
    if (*p)
        return LP_OK;
    dnnl_matmul_desc_t d;
    if (dnnl_matmul_desc_init(&d, src, w, NULL, dst) != dnnl_success)
        return refuse_on(o, LOWP_ERR_UNSUPPORTED);
    dnnl_primitive_attr_t attr = NULL;
    if (alpha != 1.0f && (dnnl_primitive_attr_create(&attr) != dnnl_success ||
                          dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) != dnnl_success)) {
        if (attr)
            dnnl_primitive_attr_destroy(attr);
        return refuse_on(o, LOWP_ERR_UNSUPPORTED);
    }
    lp_status st = lp_dnt_pd(pd, &d, NULL, attr);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    LP_TRY(refuse_on(o, st));
    return refuse_on(o, lp_dnt_prim(p, *pd));
}

/* Runs matmul p (src x w) into gradient g (md, n values): written when fresh (ext `ext`), else
 * added (through tmp `tmp`). */
static lp_status mm_grad(lp_dnt_op *o, dnnl_primitive_t p, dnnl_memory_t src, dnnl_memory_t w, int ext, int tmp,
                         const dnnl_memory_desc_t *md, float *g, bool fresh, int64_t n)
{
    dnnl_memory_t dst;
    LP_TRY(grad_target(o, ext, tmp, md, g, fresh, &dst));
    int kinds[3] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST };
    dnnl_memory_t mems[3] = { src, w, dst };
    LP_TRY(lp_dnt_exec(o->stream, p, 3, kinds, mems));
    finish_grad(o, tmp, g, fresh, n);
    return LP_OK;
}

/* The forward primitive: y = a x b over the caller's data (ext 0, 1, 2). */
static lp_status mm_run_fwd(lp_dnt_op *o, const dnnl_memory_desc_t *am, const float *a, const dnnl_memory_desc_t *bm,
                            const float *b, const dnnl_memory_desc_t *ym, float *y)
{
    LP_TRY(bind_ext(o, 0, am, a));
    LP_TRY(bind_ext(o, 1, bm, b));
    LP_TRY(bind_ext(o, 2, ym, y));
    int kinds[3] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST };
    dnnl_memory_t mems[3] = { o->ext[0].mem, o->ext[1].mem, o->ext[2].mem };
    return lp_dnt_exec(o->stream, o->fwd, 3, kinds, mems);
}

lp_status lp_dnt_mm_forward(lp_dnt_op **cache, int64_t nb, int64_t M, int64_t K, int64_t N, const float *a,
                            const float *b, float *y)
{
    lp_dnt_op *o;
    mm_mds m;
    LP_TRY(mm_state(cache, nb, M, K, N, &m, &o));
    return mm_run_fwd(o, &m.a, a, &m.b, b, &m.y, y);
}

lp_status lp_dnt_mm_backward(lp_dnt_op **cache, int64_t nb, int64_t M, int64_t K, int64_t N, const float *a,
                             const float *b, const float *dy, float *da, float *db, unsigned fresh)
{
    lp_dnt_op *o;
    mm_mds m;
    LP_TRY(mm_state(cache, nb, M, K, N, &m, &o));
    if (da) /* dA (M,K) = dY (M,N) B^T (N,K) */
        LP_TRY(mm_prim(o, &o->bpd, &o->bwd, &m.y, &m.bT, &m.a, 1.0f));
    if (db) /* dB (K,N) = A^T (K,M) dY (M,N) */
        LP_TRY(mm_prim(o, &o->bpd2, &o->bwd2, &m.aT, &m.y, &m.b, 1.0f));
    LP_TRY(bind_ext(o, 3, &m.y, dy));
    if (da) {
        LP_TRY(bind_ext(o, 4, &m.bT, b));
        LP_TRY(mm_grad(o, o->bwd, o->ext[3].mem, o->ext[4].mem, 5, 0, &m.a, da, fresh & 1u, nb * M * K));
    }
    if (db) {
        LP_TRY(bind_ext(o, 6, &m.aT, a));
        LP_TRY(mm_grad(o, o->bwd2, o->ext[6].mem, o->ext[3].mem, 7, 1, &m.b, db, fresh & 2u, nb * K * N));
    }
    return LP_OK;
}

/* ---------------- broadcasting matmul, Gemm's other forms ---------------- */

/* The f32 md of a dense row-major tensor of dims d (rank nd), or with its last two axes
 * swapped when t: the transposed view over the same data. */
static lp_status view_md(dnnl_memory_desc_t *md, int nd, const int64_t *d, bool t)
{
    dnnl_dims_t dd, st;
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        dd[i] = d[i];
        st[i] = s;
        s *= d[i];
    }
    if (t) {
        int64_t x = dd[nd - 1];
        dd[nd - 1] = dd[nd - 2];
        dd[nd - 2] = x;
        x = st[nd - 1];
        st[nd - 1] = st[nd - 2];
        st[nd - 2] = x;
    }
    return dnnl_memory_desc_init_by_strides(md, nd, dd, dnnl_f32, st) == dnnl_success ? LP_OK : LOWP_ERR_UNSUPPORTED;
}

/* Several of them: md, the dims, transposed or not. */
typedef struct view_spec {
    dnnl_memory_desc_t *md;
    const int64_t *dims;
    bool t;
} view_spec;

static lp_status view_mds(int nd, int n, const view_spec *v)
{
    for (int i = 0; i < n; i++)
        LP_TRY(view_md(v[i].md, nd, v[i].dims, v[i].t));
    return LP_OK;
}

/* g (md gm, n values) (+)= matmul p of s (md sm) and w (md wm): ext slots e (s), e + 1 (w),
 * e + 2 (g when fresh), else through tmp slot t. */
static lp_status mm_into(lp_dnt_op *o, dnnl_primitive_t p, int e, const dnnl_memory_desc_t *sm, const float *s,
                         const dnnl_memory_desc_t *wm, const float *w, int t, const dnnl_memory_desc_t *gm, float *g,
                         bool fresh, int64_t n)
{
    LP_TRY(bind_ext(o, e, sm, s));
    LP_TRY(bind_ext(o, e + 1, wm, w));
    return mm_grad(o, p, o->ext[e].mem, o->ext[e + 1].mem, e + 2, t, gm, g, fresh, n);
}

/* The broadcasting matmul's mds (rank nb + 2): a and b with 1 in the batch dims they broadcast,
 * y and the full-batch shapes fa (.., M, K), fb (.., K, N) their gradients are computed in
 * before being summed over what they broadcast (ra, rb: a, b broadcast somewhere); aT, bT the
 * transposed views. */
typedef struct bmm_mds {
    dnnl_memory_desc_t a, b, y, aT, bT, fa, fb;
    bool ra, rb;
} bmm_mds;

static lp_status bmm_state(lp_dnt_op **cache, const lp_matmul *mm, bmm_mds *m, lp_dnt_op **o)
{
    int nb = mm->nb, nd = nb + 2;
    int64_t key[7 + LP_MAX_DIMS] = { K_BMM, nb, mm->M, mm->K, mm->N, 0, 0 };
    int64_t ad[LP_MAX_DIMS + 2], bd[LP_MAX_DIMS + 2], fa[LP_MAX_DIMS + 2], fb[LP_MAX_DIMS + 2], yd[LP_MAX_DIMS + 2];
    if (nb > LP_MAX_DIMS || mm->count <= 0 || mm->M <= 0 || mm->K <= 0 || mm->N <= 0)
        return LOWP_ERR_UNSUPPORTED;
    m->ra = m->rb = false;
    for (int i = 0; i < nb; i++) {
        key[7 + i] = fa[i] = fb[i] = yd[i] = mm->batch[i];
        ad[i] = mm->a_stride[i] ? mm->batch[i] : 1;
        bd[i] = mm->b_stride[i] ? mm->batch[i] : 1;
        key[5] |= (int64_t)(ad[i] != yd[i]) << i;
        key[6] |= (int64_t)(bd[i] != yd[i]) << i;
    }
    m->ra = key[5] != 0;
    m->rb = key[6] != 0;
    ad[nb] = fa[nb] = yd[nb] = mm->M;
    ad[nb + 1] = fa[nb + 1] = bd[nb] = fb[nb] = mm->K;
    bd[nb + 1] = fb[nb + 1] = yd[nb + 1] = mm->N;
    LP_TRY(state_for(cache, key, 7 + nb, o));
    view_spec v[7] = { { &m->a, ad, false }, { &m->b, bd, false }, { &m->y, yd, false }, { &m->aT, ad, true },
                       { &m->bT, bd, true }, { &m->fa, fa, false }, { &m->fb, fb, false } };
    return refuse_on(*o, view_mds(nd, 7, v));
}

lp_status lp_dnt_bmm_forward(lp_dnt_op **cache, const lp_matmul *mm, const float *a, const float *b, float *y)
{
    lp_dnt_op *o;
    bmm_mds m;
    LP_TRY(bmm_state(cache, mm, &m, &o));
    LP_TRY(mm_prim(o, &o->fpd, &o->fwd, &m.a, &m.b, &m.y, 1.0f));
    return mm_run_fwd(o, &m.a, a, &m.b, b, &m.y, y);
}

/* g (+)= the full-batch product p of s and w (into tmp slot t, md full), summed over the
 * batch elements that share each of g's matrices (mat values each; `b_side`: g is B's). */
static lp_status mm_reduced(lp_dnt_op *o, dnnl_primitive_t p, int e, const dnnl_memory_desc_t *sm, const float *s,
                            const dnnl_memory_desc_t *wm, const float *w, int t, const dnnl_memory_desc_t *full,
                            const lp_matmul *mm, bool b_side, float *g, bool fresh, int64_t n)
{
    LP_TRY(bind_ext(o, e, sm, s));
    LP_TRY(bind_ext(o, e + 1, wm, w));
    if (!o->tmp[t].mem)
        LP_TRY(lp_dnt_buf_own(&o->tmp[t], full));
    int kinds[3] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST };
    dnnl_memory_t mems[3] = { o->ext[e].mem, o->ext[e + 1].mem, o->tmp[t].mem };
    LP_TRY(lp_dnt_exec(o->stream, p, 3, kinds, mems));
    if (fresh)
        memset(g, 0, (size_t)n * sizeof *g);
    int64_t mat = b_side ? mm->K * mm->N : mm->M * mm->K;
    const float *f = o->tmp[t].own;
    for (int64_t i = 0; i < mm->count; i++) {
        int64_t ao, bo;
        lp_matmul_offsets(mm, i, &ao, &bo);
        lp_dnt_add(g + (b_side ? bo : ao), f + i * mat, mat);
    }
    return LP_OK;
}

lp_status lp_dnt_bmm_backward(lp_dnt_op **cache, const lp_matmul *mm, const float *a, const float *b, const float *dy,
                              float *da, float *db, unsigned fresh, int64_t na, int64_t nbv)
{
    lp_dnt_op *o;
    bmm_mds m;
    LP_TRY(bmm_state(cache, mm, &m, &o));
    if (da) /* dA (.., M, K) = dY (.., M, N) B^T (.., N, K), summed where A broadcasts */
        LP_TRY(mm_prim(o, &o->bpd, &o->bwd, &m.y, &m.bT, m.ra ? &m.fa : &m.a, 1.0f));
    if (db) /* dB (.., K, N) = A^T (.., K, M) dY (.., M, N), likewise */
        LP_TRY(mm_prim(o, &o->bpd2, &o->bwd2, &m.aT, &m.y, m.rb ? &m.fb : &m.b, 1.0f));
    if (da && m.ra)
        LP_TRY(mm_reduced(o, o->bwd, 3, &m.y, dy, &m.bT, b, 0, &m.fa, mm, false, da, fresh & 1u, na));
    else if (da)
        LP_TRY(mm_into(o, o->bwd, 3, &m.y, dy, &m.bT, b, 0, &m.a, da, fresh & 1u, na));
    if (db && m.rb)
        LP_TRY(mm_reduced(o, o->bwd2, 6, &m.aT, a, &m.y, dy, 1, &m.fb, mm, true, db, fresh & 2u, nbv));
    else if (db)
        LP_TRY(mm_into(o, o->bwd2, 6, &m.aT, a, &m.y, dy, 1, &m.b, db, fresh & 2u, nbv));
    return LP_OK;
}

/* Gemm's mds: A' and B' (the views the product reads: transposed over the stored data with
 * transA / transB), their transposes A'^T, B'^T, the stored shapes as, bs, y and its
 * transpose yT. */
typedef struct gemm_mds {
    dnnl_memory_desc_t A, B, AT, BT, as, bs, y, yT;
} gemm_mds;

static lp_status gemm_state(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool ta, bool tb, float alpha,
                            gemm_mds *m, lp_dnt_op **o)
{
    int64_t key[7] = { K_GEMM, M, K, N, ta, tb, 0 };
    memcpy(&key[6], &alpha, sizeof alpha);
    if (M <= 0 || K <= 0 || N <= 0)
        return LOWP_ERR_UNSUPPORTED;
    LP_TRY(state_for(cache, key, 7, o));
    int64_t as[2] = { ta ? K : M, ta ? M : K }, bs[2] = { tb ? N : K, tb ? K : N }, yd[2] = { M, N };
    view_spec v[8] = { { &m->A, as, ta },  { &m->AT, as, !ta }, { &m->as, as, false }, { &m->B, bs, tb },
                       { &m->BT, bs, !tb }, { &m->bs, bs, false }, { &m->y, yd, false }, { &m->yT, yd, true } };
    return refuse_on(*o, view_mds(2, 8, v));
}

lp_status lp_dnt_gemm_forward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool ta, bool tb, float alpha,
                              const float *a, const float *b, float *y)
{
    lp_dnt_op *o;
    gemm_mds m;
    LP_TRY(gemm_state(cache, M, K, N, ta, tb, alpha, &m, &o));
    LP_TRY(mm_prim(o, &o->fpd, &o->fwd, &m.A, &m.B, &m.y, alpha));
    return mm_run_fwd(o, &m.A, a, &m.B, b, &m.y, y);
}

lp_status lp_dnt_gemm_backward(lp_dnt_op **cache, int64_t M, int64_t K, int64_t N, bool ta, bool tb, float alpha,
                               const float *a, const float *b, const float *dy, float *da, float *db, unsigned fresh)
{
    lp_dnt_op *o;
    gemm_mds m;
    LP_TRY(gemm_state(cache, M, K, N, ta, tb, alpha, &m, &o));
    /* dA' = alpha dY B'^T (M,K), stored transposed with transA: dA = alpha B' dY^T (K,M) */
    if (da)
        LP_TRY(ta ? mm_prim(o, &o->bpd, &o->bwd, &m.B, &m.yT, &m.as, alpha)
                  : mm_prim(o, &o->bpd, &o->bwd, &m.y, &m.BT, &m.as, alpha));
    /* dB' = alpha A'^T dY (K,N), with transB: dB = alpha dY^T A' (N,K) */
    if (db)
        LP_TRY(tb ? mm_prim(o, &o->bpd2, &o->bwd2, &m.yT, &m.A, &m.bs, alpha)
                  : mm_prim(o, &o->bpd2, &o->bwd2, &m.AT, &m.y, &m.bs, alpha));
    if (da && ta)
        LP_TRY(mm_into(o, o->bwd, 3, &m.B, b, &m.yT, dy, 0, &m.as, da, fresh & 1u, M * K));
    else if (da)
        LP_TRY(mm_into(o, o->bwd, 3, &m.y, dy, &m.BT, b, 0, &m.as, da, fresh & 1u, M * K));
    if (db && tb)
        LP_TRY(mm_into(o, o->bwd2, 6, &m.yT, dy, &m.A, a, 1, &m.bs, db, fresh & 2u, K * N));
    else if (db)
        LP_TRY(mm_into(o, o->bwd2, 6, &m.AT, a, &m.y, dy, 1, &m.bs, db, fresh & 2u, K * N));
    return LP_OK;
}
