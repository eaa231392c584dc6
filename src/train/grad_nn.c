/* grad_nn.c — backward of Conv (im2col + matrix products, col2im for the input gradient),
 * pooling, and BatchNormalization with its training-mode forward (batch statistics, running
 * statistics updated as ONNX's training_mode defines them). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_ref.h"
#include "train/dnnl_conv.h"
#include "train/dnnl_nn.h"
#include "train/grad.h"

/* ---------------- Conv ---------------- */

/* Training runs 2-D Conv on oneDNN (dnnl_conv.c); otherwise (LOWP_KERNELS=reference, 1-D/3-D)
 * image by image in parallel (OpenMP, static schedule): each image is the reference kernel's
 * computation for N = 1, so that forward is bitwise the same for any thread count; the weight
 * gradient sums per thread and then over threads in order, the same for a given thread count. */
static lp_status conv_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    const lp_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    int nt = omp_get_max_threads();
    lp_conv cv;
    if (x->dtype == LP_F32 && w->dtype == LP_F32 && (!b || b->dtype == LP_F32) && x->ndim >= 3) {
        LP_TRY(lp_conv_setup(c->node, x, w, &cv));
        lp_status fast = lp_dnnl_conv_forward((lp_dnnl_conv **)f->cache, &cv, x->data, f->in0_lay, w->data,
                                              b ? b->data : NULL, c->out[0]->data, f->out_lay);
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    if (f->in0_lay) /* takes_layout said the fast path would run */
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "training: oneDNN refused a convolution it had accepted");
    if (c->out[0]->nbytes) /* the row is fwd_overwrites: the kernels below get zeros as usual */
        memset(c->out[0]->data, 0, c->out[0]->nbytes);
    if (x->dtype != LP_F32 || w->dtype != LP_F32 || (b && b->dtype != LP_F32) || x->ndim < 3)
        return lp_op_get(c->node->op)->run(c);
    if (x->dims[0] < 2 || nt < 2)
        return lp_op_get(c->node->op)->run(c);
    lp_conv one = cv;
    one.N = 1;
    int64_t xs = cv.C * lp_window_inprod(&cv.win), ys = cv.M * lp_window_outprod(&cv.win);
    lp_status st = LP_OK;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < cv.N; i++) {
        lp_status s1 = lp_conv_f32(c->node, &one, (const float *)x->data + i * xs, w->data, b ? b->data : NULL,
                                   (float *)c->out[0]->data + i * ys);
        if (s1 != LP_OK) {
#pragma omp critical
            st = s1;
        }
    }
    return st;
}

/* x: (N,C,in...), w: (M,C/group,k...), y: (N,M,out...). Per image and group, with
 * col = im2col(x) (K = C/group * kprod, P = outprod):
 *   dW_g (Mg,K) += dY (Mg,P) col^T;   dcol (K,P) = W_g^T dY;   dx += col2im(dcol);
 *   dbias[m] += sum over p of dY. */
static lp_status conv_bw(const lp_grad_ctx *c)
{
    const lp_tensor *x = c->in[0], *w = c->in[1];
    LP_TRY(lp_grad_want_f32(c, x, "X"));
    LP_TRY(lp_grad_want_f32(c, w, "W"));
    lp_conv cv;
    LP_TRY(lp_conv_setup(c->node, x, w, &cv));
    const lp_window *win = &cv.win;
    int64_t Cg = cv.C / cv.group, Mg = cv.M / cv.group;
    int64_t K = Cg * lp_window_kprod(win), P = lp_window_outprod(win), I = lp_window_inprod(win);
    int64_t WN = lp_tensor_numel(w);
    bool pointwise = lp_window_is_pointwise(win);
    float *dx = c->din[0] ? c->din[0]->data : NULL, *dw = c->din[1] ? c->din[1]->data : NULL;
    float *db = c->n_in > 2 && c->in[2] && c->din[2] ? c->din[2]->data : NULL;
    const float *X = x->data, *W = w->data, *g = c->dout[0]->data;
    bool has_bias = c->n_in > 2 && c->in[2];
    lp_status fast = lp_dnnl_conv_backward((lp_dnnl_conv **)c->cache, &cv, has_bias, X, c->in0_lay, W, g,
                                           c->out_lay, dx, dw, db, c->din_fresh);
    if (fast != LOWP_ERR_UNSUPPORTED)
        return fast;
    if (c->in0_lay || c->out_lay) /* tensors in oneDNN layouts: the loops cannot read them */
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "backward: oneDNN refused a convolution it had run");
    lp_grad_zero_fresh(c); /* the loops add */
    int nt = omp_get_max_threads();
    if (nt > cv.N)
        nt = cv.N > 0 ? (int)cv.N : 1;
    /* per thread: col and dcol (K x P) and, past the first thread, a dW accumulator */
    size_t per = pointwise ? 0 : (size_t)(2 * K * P);
    float *buf = malloc(((size_t)nt * per + (dw ? (size_t)(nt - 1) * (size_t)WN : 0) + 1) * sizeof *buf);
    if (!buf)
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory for %d column buffers of %lldx%lld",
                             nt, (long long)K, (long long)P);
    float *dw_extra = buf + (size_t)nt * per;
    if (dw && nt > 1)
        memset(dw_extra, 0, (size_t)(nt - 1) * (size_t)WN * sizeof *buf);
    lp_status st = LP_OK;
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        float *col = buf + (size_t)tid * per, *dcol = col + per / 2;
        float *dwt = !dw ? NULL : tid == 0 ? dw : dw_extra + (size_t)(tid - 1) * (size_t)WN;
        lp_status ts = LP_OK;
#pragma omp for schedule(static)
        for (int64_t b = 0; b < cv.N; b++)
            for (int64_t gr = 0; gr < cv.group && ts == LP_OK; gr++) {
                const float *xg = X + (b * cv.C + gr * Cg) * I;
                const float *gy = g + (b * cv.M + gr * Mg) * P;
                const float *wg = W + gr * Mg * K;
                if (dwt) {
                    const float *cm = xg;
                    if (!pointwise) {
                        lp_im2col_f32(xg, Cg, win, col);
                        cm = col;
                    }
                    /* dW_g^T (K,Mg) = col (K,P) dY^T (P,Mg): transposing dY (Mg x P) is cheaper
                     * than transposing col (K x P); dcol holds dW_g^T, added in transposed */
                    float *dwT = pointwise ? NULL : dcol;
                    if (dwT && K * Mg <= K * P) {
                        ts = lp_grad_matmul(K, Mg, P, 1.0f, cm, P, 1, gy, 1, P, 0.0f, dwT);
                        float *dst = dwt + gr * Mg * K;
                        for (int64_t m = 0; m < Mg; m++)
                            for (int64_t k = 0; k < K; k++)
                                dst[m * K + k] += dwT[k * Mg + m];
                    } else
                        ts = lp_grad_matmul(Mg, K, P, 1.0f, gy, P, 1, cm, 1, P, 1.0f, dwt + gr * Mg * K);
                }
                if (dx && ts == LP_OK) {
                    float *dxg = dx + (b * cv.C + gr * Cg) * I;
                    if (pointwise)
                        ts = lp_grad_matmul(K, P, Mg, 1.0f, wg, 1, K, gy, P, 1, 1.0f, dxg);
                    else {
                        ts = lp_grad_matmul(K, P, Mg, 1.0f, wg, 1, K, gy, P, 1, 0.0f, dcol);
                        lp_col2im_f32(dcol, Cg, win, dxg);
                    }
                }
            }
        if (ts != LP_OK) {
#pragma omp critical
            st = ts;
        }
    }
    for (int t = 1; dw && t < nt; t++) /* thread order: the same sum for a given thread count */
        for (int64_t i = 0; i < WN; i++)
            dw[i] += dw_extra[(size_t)(t - 1) * (size_t)WN + (size_t)i];
    free(buf);
    if (db)
        for (int64_t b = 0; b < cv.N; b++)
            for (int64_t m = 0; m < cv.M; m++) {
                const float *gm = g + (b * cv.M + m) * P;
                double s = 0;
                for (int64_t p = 0; p < P; p++)
                    s += gm[p];
                db[m] += (float)s;
            }
    return st;
}

/* Whether this run's Conv goes to oneDNN (so x may come in a oneDNN layout). */
static lp_status conv_takes_layout(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    const lp_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    lp_conv cv;
    if (x->dtype != LP_F32 || w->dtype != LP_F32 || (b && b->dtype != LP_F32) || x->ndim != 4 ||
        lp_conv_setup(c->node, x, w, &cv) != LP_OK)
        return LOWP_ERR_UNSUPPORTED;
    return lp_dnnl_conv_prepare((lp_dnnl_conv **)f->cache, &cv, b != NULL);
}

const lp_grad_def lp_graddef_Conv = {
    .name = "Conv", .diff_in = 7, .param_in = 6, .forward = conv_forward, .backward = conv_bw,
    .free_cache = lp_dnnl_conv_free, .fwd_overwrites = true, .bwd_overwrites = true,
    .layout = LP_LAYOUT_OWN, .takes_layout = conv_takes_layout,
};

/* ---------------- ConvTranspose ---------------- */

/* x: (N,C,in...), w: (C,M/group,k...), y: (N,M,out...). The forward is, per image and group,
 * col (K,I) = W_g^T (K,Cg) x_g (Cg,I), y_g = col2im(col) (K = M/group * kprod, I = x's spatial
 * size; lp_convt_setup's window has win.in = y's dims, win.out = x's). im2col is col2im's
 * adjoint, so with dcol = im2col(dY_g):
 *   dx_g (Cg,I) += W_g (Cg,K) dcol;   dW_g (Cg,K) += x_g (Cg,I) dcol^T;   dbias[m] += sum of dY. */
/* The 2-D ConvTranspose of x by w as the adjoint of a convolution (dnnl_conv.h): cv's input
 * is the ConvTranspose's output space (M channels), its output x's (C channels). False for
 * other ranks. */
static bool convt_as_conv(const lp_node *n, const lp_tensor *x, const lp_tensor *w, lp_conv *cv)
{
    if (x->ndim != 4 || x->dtype != LP_F32 || w->dtype != LP_F32 || lp_convt_setup(n, x, w, &cv->win) != LP_OK)
        return false; /* the loops fail with the message, or run */
    /* col2im needs only pad0; the convolution wants the end padding that makes its output x's
     * size (negative where y has columns nothing maps to: output_shape larger than needed) */
    for (int i = 0; i < LP_SP; i++)
        cv->win.pad1[i] = (cv->win.out[i] - 1) * cv->win.stride[i] + (cv->win.k[i] - 1) * cv->win.dil[i] + 1 -
                          cv->win.in[i] - cv->win.pad0[i];
    cv->group = lp_attr_int(n, "group", 1);
    cv->N = x->dims[0];
    cv->C = w->dims[1] * cv->group;
    cv->M = x->dims[1];
    return true;
}

/* y (N,M,S) (+)= or -= per channel: y += bias, or db += the sums of dy (db fresh: written). */
static void convt_bias(int64_t N, int64_t M, int64_t S, const float *bias, float *y, const float *dy, float *db,
                       bool fresh)
{
    if (bias)
        for (int64_t i = 0; i < N * M; i++)
            for (int64_t p = 0; p < S; p++)
                y[i * S + p] += bias[i % M];
    if (db && fresh)
        memset(db, 0, (size_t)M * sizeof *db);
    if (db)
        for (int64_t b = 0; b < N; b++)
            for (int64_t m = 0; m < M; m++) {
                const float *gm = dy + (b * M + m) * S;
                double s = 0;
                for (int64_t p = 0; p < S; p++)
                    s += gm[p];
                db[m] += (float)s;
            }
}

/* Training forward: oneDNN (the convolution's backward-data) where it takes the case, else the
 * op's kernel. */
static lp_status convt_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    const lp_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    lp_conv cv;
    if (x && w && convt_as_conv(c->node, x, w, &cv) && (!b || (b->dtype == LP_F32 && lp_tensor_numel(b) == cv.C)) &&
        c->out[0]->ndim == 4 && c->out[0]->dims[1] == cv.C && c->out[0]->dims[2] == cv.win.in[1] &&
        c->out[0]->dims[3] == cv.win.in[2]) {
        lp_status st = lp_dnnl_convt_forward((lp_dnnl_conv **)f->cache, &cv, x->data, w->data, c->out[0]->data);
        if (st == LP_OK && b)
            convt_bias(cv.N, cv.C, cv.win.in[1] * cv.win.in[2], b->data, c->out[0]->data, NULL, NULL, false);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_op_get(c->node->op)->run(c);
}

static lp_status convt_bw(const lp_grad_ctx *c)
{
    const lp_tensor *x = c->in[0], *w = c->in[1];
    lp_window win;
    LP_TRY(lp_convt_setup(c->node, x, w, &win));
    int64_t group = lp_attr_int(c->node, "group", 1), N = x->dims[0], C = x->dims[1], Cg = C / group;
    int64_t Mg = w->dims[1], M = Mg * group, K = Mg * lp_window_kprod(&win);
    int64_t I = lp_window_outprod(&win), O = lp_window_inprod(&win);
    float *dx = c->din[0] ? c->din[0]->data : NULL, *dw = c->din[1] ? c->din[1]->data : NULL;
    float *db = c->n_in > 2 && c->in[2] && c->din[2] ? c->din[2]->data : NULL;
    const float *X = x->data, *W = w->data, *g = c->dout[0]->data;
    lp_conv cv;
    lp_status st = LP_OK;
    if ((dx || dw) && convt_as_conv(c->node, x, w, &cv)) {
        st = lp_dnnl_convt_backward((lp_dnnl_conv **)c->cache, &cv, X, W, g, dx, dw, c->din_fresh);
        if (st == LP_OK)
            convt_bias(N, M, O, NULL, NULL, g, db, c->din_fresh & 4u);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
        st = LP_OK;
    }
    lp_grad_zero_fresh(c); /* the loops below add */
    if (dx || dw) {
        float *dcol = malloc((size_t)(K * I > 0 ? K * I : 1) * sizeof *dcol);
        if (!dcol)
            return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory for a %lldx%lld buffer",
                                 (long long)K, (long long)I);
        for (int64_t b = 0; b < N && st == LP_OK; b++)
            for (int64_t gr = 0; gr < group && st == LP_OK; gr++) {
                lp_im2col_f32(g + (b * M + gr * Mg) * O, Mg, &win, dcol);
                const float *wg = W + gr * Cg * K;
                if (dx)
                    st = lp_grad_matmul(Cg, I, K, 1.0f, wg, K, 1, dcol, I, 1, 1.0f, dx + (b * C + gr * Cg) * I);
                if (dw && st == LP_OK)
                    st = lp_grad_matmul(Cg, K, I, 1.0f, X + (b * C + gr * Cg) * I, I, 1, dcol, 1, I, 1.0f,
                                        dw + gr * Cg * K);
            }
        free(dcol);
    }
    convt_bias(N, M, O, NULL, NULL, g, db, false);
    return st;
}

const lp_grad_def lp_graddef_ConvTranspose = {
    .name = "ConvTranspose", .diff_in = 7, .param_in = 6, .forward = convt_forward, .backward = convt_bw,
    .free_cache = lp_dnnl_conv_free, .fwd_overwrites = true, .bwd_overwrites = true,
};

/* ---------------- pooling ---------------- */

static lp_status pool_window_of(const lp_node *n, const lp_tensor *x, lp_window *w, int64_t *planes)
{
    if (x->ndim < 3 || x->ndim > 2 + LP_SP)
        return lp_node_error(n, LOWP_ERR_SHAPE, "backward: rank %d, expected (N, C, 1 to 3 spatial dims)", x->ndim);
    const int64_t *k;
    int nk = lp_attr_ints(n, "kernel_shape", &k);
    if (nk != x->ndim - 2)
        return lp_node_error(n, LOWP_ERR_FORMAT, "backward: kernel_shape has %d dims for %d spatial dims", nk,
                             x->ndim - 2);
    LP_TRY(lp_window_init(n, x->ndim - 2, x->dims + 2, k, lp_attr_int(n, "ceil_mode", 0) != 0, w));
    *planes = x->dims[0] * x->dims[1];
    return LP_OK;
}

static lp_status pool_window(const lp_grad_ctx *c, lp_window *w, int64_t *planes)
{
    LP_TRY(lp_grad_want_f32(c, c->in[0], "X"));
    return pool_window_of(c->node, c->in[0], w, planes);
}

/* oneDNN's algorithm for pooling node n (max keeps a workspace for its backward); false where
 * the twin's rule has no oneDNN match (an average over dilated taps). */
static bool pool_alg(const lp_node *n, const lp_window *w, dnnl_alg_kind_t *alg)
{
    if (!strcmp(n->op_type, "MaxPool")) {
        *alg = dnnl_pooling_max;
        return true;
    }
    for (int i = 0; i < LP_SP; i++)
        if (w->dil[i] != 1)
            return false;
    *alg = lp_attr_int(n, "count_include_pad", 0) ? dnnl_pooling_avg_include_padding
                                                  : dnnl_pooling_avg_exclude_padding;
    return true;
}

/* MaxPool / AveragePool in training: oneDNN's pooling (the max's choices kept for the
 * backward), or the op's reference kernel (also when MaxPool's Indices output is wanted). */
static lp_status pool_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    const lp_tensor *x = c->in[0];
    lp_window w;
    int64_t planes;
    dnnl_alg_kind_t alg;
    if (x->dtype == LP_F32 && (c->n_out < 2 || !c->out[1]) && x->ndim >= 3 && x->ndim <= 2 + LP_SP &&
        pool_window_of(c->node, x, &w, &planes) == LP_OK && pool_alg(c->node, &w, &alg)) {
        lp_status st = lp_dnt_pool_forward((lp_dnt_op **)f->cache, alg, x->dims[0], x->dims[1], &w, x->data,
                                           c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_grad_run_kernel(f);
}

/* The oneDNN backward of pooling, when its forward ran there; LOWP_ERR_UNSUPPORTED otherwise
 * (and then the fresh gradient is zeroed for the loops, which add). */
static lp_status pool_bw_fast(const lp_grad_ctx *c, const lp_window *w)
{
    dnnl_alg_kind_t alg;
    lp_status st = LOWP_ERR_UNSUPPORTED;
    if (pool_alg(c->node, w, &alg))
        st = lp_dnt_pool_backward((lp_dnt_op **)c->cache, alg, c->in[0]->dims[0], c->in[0]->dims[1], w,
                                  c->dout[0]->data, c->din[0]->data, c->din_fresh & 1u);
    if (st == LOWP_ERR_UNSUPPORTED)
        lp_grad_zero_fresh(c);
    return st;
}

/* The gradient goes to the first maximum of each window (the forward's choice). */
static lp_status maxpool_bw(const lp_grad_ctx *c)
{
    lp_window w;
    int64_t planes;
    LP_TRY(pool_window(c, &w, &planes));
    if (!c->din[0])
        return LP_OK;
    lp_status fast = pool_bw_fast(c, &w);
    if (fast != LOWP_ERR_UNSUPPORTED)
        return fast;
    int64_t I = lp_window_inprod(&w), O = lp_window_outprod(&w);
    const float *X = c->in[0]->data, *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t o0 = 0; o0 < w.out[0]; o0++)
            for (int64_t o1 = 0; o1 < w.out[1]; o1++)
                for (int64_t o2 = 0; o2 < w.out[2]; o2++) {
                    int64_t st[LP_SP];
                    lp_window_start(&w, o0, o1, o2, st);
                    const float *xp = X + pl * I;
                    int64_t arg = -1;
                    float best = -INFINITY;
                    LP_WINDOW_FOR_TAPS(w, st, if (arg < 0 || xp[at] > best) { best = xp[at]; arg = at; })
                    if (arg >= 0)
                        dx[pl * I + arg] += g[pl * O + (o0 * w.out[1] + o1) * w.out[2] + o2];
                }
    return LP_OK;
}

static lp_status avgpool_bw(const lp_grad_ctx *c)
{
    lp_window w;
    int64_t planes;
    LP_TRY(pool_window(c, &w, &planes));
    if (!c->din[0])
        return LP_OK;
    lp_status fast = pool_bw_fast(c, &w);
    if (fast != LOWP_ERR_UNSUPPORTED)
        return fast;
    bool incl = lp_attr_int(c->node, "count_include_pad", 0) != 0;
    int64_t I = lp_window_inprod(&w), O = lp_window_outprod(&w);
    const float *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    for (int64_t o0 = 0; o0 < w.out[0]; o0++)
        for (int64_t o1 = 0; o1 < w.out[1]; o1++)
            for (int64_t o2 = 0; o2 < w.out[2]; o2++) {
                int64_t st[LP_SP];
                lp_window_start(&w, o0, o1, o2, st);
                int64_t count = lp_window_avg_count(&w, st, incl);
                if (!count)
                    continue;
                int64_t o = (o0 * w.out[1] + o1) * w.out[2] + o2;
                for (int64_t pl = 0; pl < planes; pl++) {
                    float gv = g[pl * O + o] / (float)count;
                    float *dp = dx + pl * I;
                    LP_WINDOW_FOR_TAPS(w, st, dp[at] += gv;)
                }
            }
    return LP_OK;
}

const lp_grad_def lp_graddef_MaxPool = { .name = "MaxPool", .diff_in = 1, .forward = pool_forward,
                                         .backward = maxpool_bw, .free_cache = lp_dnt_op_free,
                                         .fwd_overwrites = true, .bwd_overwrites = true };
const lp_grad_def lp_graddef_AveragePool = { .name = "AveragePool", .diff_in = 1, .forward = pool_forward,
                                             .backward = avgpool_bw, .free_cache = lp_dnt_op_free,
                                             .fwd_overwrites = true, .bwd_overwrites = true };

/* The window of a global pooling of x (N, C, 1 to 3 spatial dims): the whole plane, one output. */
static bool global_window(const lp_tensor *x, lp_window *w)
{
    if (x->dtype != LP_F32 || x->ndim < 3 || x->ndim > 2 + LP_SP)
        return false;
    memset(w, 0, sizeof *w);
    w->nsp = x->ndim - 2;
    for (int i = 0; i < LP_SP; i++)
        w->in[i] = w->k[i] = w->out[i] = w->stride[i] = w->dil[i] = 1;
    for (int i = 0; i < w->nsp; i++)
        w->in[LP_SP - w->nsp + i] = w->k[LP_SP - w->nsp + i] = x->dims[2 + i];
    return true;
}

static dnnl_alg_kind_t global_alg(const lp_node *n)
{
    return !strcmp(n->op_type, "GlobalMaxPool") ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
}

/* GlobalAveragePool / GlobalMaxPool in training: oneDNN's pooling over the whole plane (the
 * max keeps its choices for the backward), or the op's reference kernel. */
static lp_status global_pool_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    const lp_tensor *x = c->in[0];
    lp_window w;
    if (global_window(x, &w)) {
        lp_status st = lp_dnt_pool_forward((lp_dnt_op **)f->cache, global_alg(c->node), x->dims[0], x->dims[1], &w,
                                           x->data, c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_grad_run_kernel(f);
}

/* x: (N,C,spatial...) -> y: (N,C,1...); oneDNN's pooling backward when its forward ran there */
static lp_status global_pool_bw(const lp_grad_ctx *c, bool is_max)
{
    const lp_tensor *x = c->in[0];
    LP_TRY(lp_grad_want_f32(c, x, "X"));
    if (!c->din[0])
        return LP_OK;
    lp_window w;
    if (global_window(x, &w)) {
        lp_status fast = lp_dnt_pool_backward((lp_dnt_op **)c->cache, global_alg(c->node), x->dims[0], x->dims[1], &w,
                                              c->dout[0]->data, c->din[0]->data, c->din_fresh & 1u);
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    lp_grad_zero_fresh(c); /* the loops add */
    if (x->ndim < 2)
        return LP_OK;
    int64_t planes = x->dims[0] * x->dims[1], S = planes ? lp_tensor_numel(x) / planes : 0;
    const float *X = x->data, *g = c->dout[0]->data;
    float *dx = c->din[0]->data;
    for (int64_t p = 0; p < planes; p++) {
        if (is_max) {
            int64_t arg = 0;
            for (int64_t i = 1; i < S; i++)
                if (X[p * S + i] > X[p * S + arg])
                    arg = i;
            if (S)
                dx[p * S + arg] += g[p];
        } else
            for (int64_t i = 0; i < S; i++)
                dx[p * S + i] += g[p] / (float)S;
    }
    return LP_OK;
}

static lp_status gap_bw(const lp_grad_ctx *c) { return global_pool_bw(c, false); }
static lp_status gmp_bw(const lp_grad_ctx *c) { return global_pool_bw(c, true); }
const lp_grad_def lp_graddef_GlobalAveragePool = {
    .name = "GlobalAveragePool", .diff_in = 1, .forward = global_pool_forward, .backward = gap_bw,
    .free_cache = lp_dnt_op_free, .fwd_overwrites = true, .bwd_overwrites = true,
};
const lp_grad_def lp_graddef_GlobalMaxPool = {
    .name = "GlobalMaxPool", .diff_in = 1, .forward = global_pool_forward, .backward = gmp_bw,
    .free_cache = lp_dnt_op_free, .fwd_overwrites = true, .bwd_overwrites = true,
};

/* ---------------- BatchNormalization ---------------- */

/* Per channel of the last training-mode forward: the batch mean and 1/sqrt(var + eps). */
typedef struct bn_saved {
    int64_t C;
    float *mean, *invstd;
    float *var;                /* the batch variance, when oneDNN ran the forward (its backward
                                  then runs there too), else NULL */
} bn_saved;

static void bn_free(void *p)
{
    bn_saved *s = p;
    if (s) {
        free(s->mean);
        free(s->invstd);
        free(s->var);
        free(s);
    }
}

/* X: (N,C,spatial...), scale/B/mean/var: (C). Training mode normalizes by the batch's own
 * statistics and moves the running ones: running = running * momentum + batch * (1 - momentum)
 * (population variance, as ONNX's training_mode defines it). Inference mode is the op's own
 * kernel. */
static lp_status bn_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    if (!f->training)
        return lp_op_get(lp_op_find("", "BatchNormalization"))->run(c);
    const lp_tensor *x = c->in[0];
    for (int k = 0; k < 5; k++)
        if (!c->in[k] || c->in[k]->dtype != LP_F32)
            return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "training: input %d must be float32", k);
    if (x->ndim < 2)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "training: rank %d, expected (N, C, ...)", x->ndim);
    int64_t N = x->dims[0], C = x->dims[1], S = lp_numel(x->ndim - 2, x->dims + 2);
    for (int k = 1; k < 5; k++)
        if (lp_tensor_numel(c->in[k]) != C)
            return lp_node_error(c->node, LOWP_ERR_SHAPE, "training: input %d has %lld values for %lld channels", k,
                                 (long long)lp_tensor_numel(c->in[k]), (long long)C);
    float eps = lp_attr_float(c->node, "epsilon", 1e-5f), mom = lp_attr_float(c->node, "momentum", 0.9f);
    bn_saved *s = calloc(1, sizeof *s);
    if (s) {
        s->C = C;
        s->mean = malloc((size_t)(C ? C : 1) * sizeof *s->mean);
        s->invstd = malloc((size_t)(C ? C : 1) * sizeof *s->invstd);
    }
    if (!s || !s->mean || !s->invstd) {
        bn_free(s);
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "training: out of memory");
    }
    const float *X = x->data, *sc = c->in[1]->data, *bi = c->in[2]->data;
    float *rm = f->in_rw[3]->data, *rv = f->in_rw[4]->data, *Y = c->out[0]->data;
    double m = (double)(N * S);
    s->var = malloc((size_t)(C ? C : 1) * sizeof *s->var);
    /* x in a oneDNN layout (a Conv's blocked output): y in the same one when the tape lets it
     * stay (else written there in a scratch copy and reordered to plain) */
    const dnnl_memory_desc_t *lay = f->in0_lay ? &f->in0_lay->md : NULL;
    float *Yl = Y;
    if (lay && !f->out_lay && !(Yl = malloc((size_t)(N * C * S > 0 ? N * C * S : 1) * sizeof *Yl))) {
        bn_free(s);
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "training: out of memory");
    }
    lp_status fast = s->var ? lp_dnt_bn_forward((lp_dnt_op **)f->cache, lay, N, C, S, eps, X, sc, bi, Yl, s->mean,
                                                s->var)
                            : LOWP_ERR_UNSUPPORTED;
    if (fast == LP_OK && Yl != Y)
        fast = lp_dnt_relayout(f->in0_lay, x->ndim, x->dims, false, false, Yl, Y);
    if (Yl != Y)
        free(Yl);
    if (fast == LOWP_ERR_UNSUPPORTED && lay) /* takes_layout said the fast path would run */
        fast = lp_node_error(c->node, LOWP_ERR_INTERNAL, "training: oneDNN refused a batch normalization it had accepted");
    if (fast != LOWP_ERR_UNSUPPORTED && fast != LP_OK) {
        bn_free(s);
        return fast;
    }
    if (f->out_lay) {
        f->out_lay->on = lay != NULL;
        if (lay)
            f->out_lay->md = *lay;
    }
    if (fast == LP_OK) /* the same running-statistics update as the loops below */
        for (int64_t ch = 0; ch < C; ch++) {
            s->invstd[ch] = 1.0f / sqrtf(s->var[ch] + eps);
            rm[ch] = rm[ch] * mom + s->mean[ch] * (1 - mom);
            rv[ch] = rv[ch] * mom + s->var[ch] * (1 - mom);
        }
    else {
        free(s->var);
        s->var = NULL;
    }
    for (int64_t ch = 0; ch < C && fast != LP_OK; ch++) {
        double sum = 0, sq = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++)
                sum += X[(n * C + ch) * S + i];
        double mean = m > 0 ? sum / m : 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                double d = X[(n * C + ch) * S + i] - mean;
                sq += d * d;
            }
        double var = m > 0 ? sq / m : 0;
        float inv = (float)(1.0 / sqrt(var + eps));
        s->mean[ch] = (float)mean;
        s->invstd[ch] = inv;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t at = (n * C + ch) * S + i;
                Y[at] = (X[at] - (float)mean) * inv * sc[ch] + bi[ch];
            }
        rm[ch] = rm[ch] * mom + (float)mean * (1 - mom);
        rv[ch] = rv[ch] * mom + (float)var * (1 - mom);
    }
    /* opset 14+ training_mode outputs: the running statistics after the update */
    for (int k = 1; k <= 2 && k < c->n_out; k++)
        if (c->out[k] && lp_tensor_numel(c->out[k]) == C)
            memcpy(c->out[k]->data, k == 1 ? rm : rv, (size_t)C * sizeof(float));
    *f->saved = s;
    return LP_OK;
}

static lp_status bn_bw(const lp_grad_ctx *c)
{
    const lp_tensor *x = c->in[0];
    LP_TRY(lp_grad_want_f32(c, x, "X"));
    int64_t N = x->dims[0], C = x->dims[1], S = lp_numel(x->ndim - 2, x->dims + 2);
    const bn_saved *s = c->saved;
    float eps = lp_attr_float(c->node, "epsilon", 1e-5f);
    const float *X = x->data, *sc = c->in[1]->data, *g = c->dout[0]->data;
    const float *rmean = c->in[3]->data, *rvar = c->in[4]->data;
    float *dx = c->din[0] ? c->din[0]->data : NULL, *dsc = c->din[1] ? c->din[1]->data : NULL;
    float *dbi = c->din[2] ? c->din[2]->data : NULL;
    const dnnl_memory_desc_t *lay = c->in0_lay ? &c->in0_lay->md : NULL;
    if (s && s->var) {
        /* x and dx in x's layout; dy in y's, which is x's or plain (then reordered into x's) */
        float *gl = NULL;
        lp_status fast = LP_OK;
        if (lay && !c->out_lay) {
            gl = malloc((size_t)(N * C * S > 0 ? N * C * S : 1) * sizeof *gl);
            fast = !gl ? lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory")
                       : lp_dnt_relayout(c->in0_lay, x->ndim, x->dims, true, false, g, gl);
        }
        if (fast == LP_OK)
            fast = lp_dnt_bn_backward((lp_dnt_op **)c->cache, lay, N, C, S, eps, X, s->mean, s->var, sc,
                                      c->in[2]->data, gl ? gl : g, dx, dsc, dbi, c->din_fresh);
        free(gl);
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    if (lay || c->out_lay) /* tensors in oneDNN layouts: the loops cannot read them */
        return lp_node_error(c->node, LOWP_ERR_INTERNAL, "backward: oneDNN refused a batch normalization it had run");
    lp_grad_zero_fresh(c);
    double m = (double)(N * S);
    for (int64_t ch = 0; ch < C; ch++) {
        float mean = s ? s->mean[ch] : rmean[ch];
        float inv = s ? s->invstd[ch] : 1.0f / sqrtf(rvar[ch] + eps);
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t at = (n * C + ch) * S + i;
                sg += g[at];
                sgx += g[at] * (X[at] - mean) * inv;
            }
        if (dsc)
            dsc[ch] += (float)sgx;
        if (dbi)
            dbi[ch] += (float)sg;
        if (!dx)
            continue;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t at = (n * C + ch) * S + i;
                if (s) { /* the batch statistics depend on x too */
                    float xh = (X[at] - mean) * inv;
                    dx[at] += sc[ch] * inv * (g[at] - (float)(sg / m) - xh * (float)(sgx / m));
                } else
                    dx[at] += sc[ch] * inv * g[at];
            }
    }
    return LP_OK;
}

/* Whether this run's BatchNormalization goes to oneDNN (so x may come in a oneDNN layout):
 * training mode, float32, (N, C, H, W). */
static lp_status bn_takes_layout(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    if (!f->training || !lp_dnt_enabled() || c->n_in < 5 || !c->in[0] || c->in[0]->ndim != 4)
        return LOWP_ERR_UNSUPPORTED;
    for (int k = 0; k < 5; k++)
        if (!c->in[k] || c->in[k]->dtype != LP_F32)
            return LOWP_ERR_UNSUPPORTED;
    for (int k = 1; k < c->n_out; k++) /* the opset-14 running-statistics outputs: plain tensors */
        if (c->out[k])
            return LOWP_ERR_UNSUPPORTED;
    return LP_OK;
}

const lp_grad_def lp_graddef_BatchNormalization = {
    .name = "BatchNormalization", .diff_in = 7, .param_in = 6,
    .forward = bn_forward, .backward = bn_bw, .free_saved = bn_free, .free_cache = lp_dnt_op_free,
    .bwd_overwrites = true, .layout = LP_LAYOUT_OWN, .takes_layout = bn_takes_layout,
};

/* ---------------- LayerNormalization ---------------- */

/* X viewed as (rows, D) with D = prod(X.shape[axis:]); Scale and B broadcast to X.shape[axis:].
 * Per row: xh = (x - mean) * inv, y = xh * scale + B;
 *   dx = inv * (gs - mean(gs) - xh * mean(gs * xh)) with gs = g * scale,
 *   dscale += g * xh, dB += g (summed over rows and broadcast positions).
 * Gradients reaching the optional Mean / InvStdDev outputs are not propagated (nothing
 * trains through them in practice; they are refused rather than dropped). */
/* The (rows, D) view of LayerNormalization node n on x when oneDNN's layer normalization can
 * run it: float32, Scale and B (if any) of D values each (no broadcasting), and only output Y
 * wanted (oneDNN's statistics are the variance, not ONNX's InvStdDev). */
static bool ln_fast_case(const lp_node *n, int n_in, const lp_tensor *const *in, int n_out,
                         const lp_tensor *const *out, int64_t *rows, int64_t *D)
{
    const lp_tensor *x = in[0], *sc = in[1], *bi = n_in > 2 ? in[2] : NULL;
    int axis;
    if (x->dtype != LP_F32 || sc->dtype != LP_F32 || (bi && bi->dtype != LP_F32) ||
        lp_op_axis(n, lp_attr_int(n, "axis", -1), x->ndim, &axis) != LP_OK)
        return false;
    for (int k = 1; k < n_out; k++)
        if (out[k])
            return false;
    *D = lp_numel(x->ndim - axis, x->dims + axis);
    *rows = *D ? lp_tensor_numel(x) / *D : 0;
    return *D > 0 && *rows > 0 && lp_tensor_numel(sc) == *D && (!bi || lp_tensor_numel(bi) == *D);
}

/* LayerNormalization in training: oneDNN's layer normalization forward (its statistics kept
 * for the backward), or the op's reference kernel. */
static lp_status ln_forward(const lp_fwd_ctx *f)
{
    const lp_run_ctx *c = f->rc;
    int64_t rows, D;
    if (c->n_in >= 2 && c->in[0] && c->in[1] &&
        ln_fast_case(c->node, c->n_in, c->in, c->n_out, (const lp_tensor *const *)c->out, &rows, &D)) {
        const lp_tensor *bi = c->n_in > 2 ? c->in[2] : NULL;
        lp_status st = lp_dnt_ln_forward((lp_dnt_op **)f->cache, rows, D, lp_attr_float(c->node, "epsilon", 1e-5f),
                                         c->in[0]->data, c->in[1]->data, bi ? bi->data : NULL, c->out[0]->data);
        if (st != LOWP_ERR_UNSUPPORTED)
            return st;
    }
    return lp_grad_run_kernel(f);
}

static lp_status ln_bw(const lp_grad_ctx *c)
{
    const lp_tensor *x = c->in[0], *sc = c->in[1], *bi = c->n_in > 2 ? c->in[2] : NULL;
    LP_TRY(lp_grad_want_f32(c, x, "X"));
    LP_TRY(lp_grad_want_f32(c, sc, "Scale"));
    float eps = lp_attr_float(c->node, "epsilon", 1e-5f);
    int64_t rows, D;
    if (ln_fast_case(c->node, c->n_in, c->in, c->n_out, c->out, &rows, &D)) {
        lp_status fast = lp_dnt_ln_backward((lp_dnt_op **)c->cache, rows, D, eps, x->data, sc->data,
                                            bi ? bi->data : NULL, c->dout[0]->data, c->din[0] ? c->din[0]->data : NULL,
                                            c->din[1] ? c->din[1]->data : NULL,
                                            bi && c->din[2] ? c->din[2]->data : NULL, c->din_fresh);
        if (fast != LOWP_ERR_UNSUPPORTED)
            return fast;
    }
    lp_grad_zero_fresh(c); /* the loops add */
    for (int k = 1; k < c->n_out; k++)
        if (c->dout[k] && c->out[k]) {
            const float *d = c->dout[k]->data;
            for (int64_t i = 0; i < lp_tensor_numel(c->dout[k]); i++)
                if (d[i] != 0)
                    return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "backward: a gradient through output %d", k);
        }
    int axis;
    LP_TRY(lp_op_axis(c->node, lp_attr_int(c->node, "axis", -1), x->ndim, &axis));
    int nd = x->ndim - axis;
    D = lp_numel(nd, x->dims + axis);
    rows = D ? lp_tensor_numel(x) / D : 0;
    int64_t *os = lp_grad_bcast_offsets(sc->ndim, sc->dims, nd, x->dims + axis);
    int64_t *ob = bi ? lp_grad_bcast_offsets(bi->ndim, bi->dims, nd, x->dims + axis) : NULL;
    double *xh = malloc((size_t)(D ? D : 1) * sizeof *xh);
    if (!os || (bi && !ob) || !xh) {
        free(os);
        free(ob);
        free(xh);
        return lp_node_error(c->node, LOWP_ERR_OUT_OF_MEMORY, "backward: out of memory");
    }
    const float *X = x->data, *S = sc->data, *g = c->dout[0]->data;
    float *dx = c->din[0] ? c->din[0]->data : NULL, *ds = c->din[1] ? c->din[1]->data : NULL;
    float *db = bi && c->n_in > 2 && c->din[2] ? c->din[2]->data : NULL;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = X + r * D, *gr = g + r * D;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < D; j++)
            mean += xr[j];
        mean /= (double)D;
        for (int64_t j = 0; j < D; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        double inv = 1.0 / sqrt(var / (double)D + eps), m1 = 0, m2 = 0;
        for (int64_t j = 0; j < D; j++) {
            xh[j] = (xr[j] - mean) * inv;
            double gs = (double)gr[j] * S[os[j]];
            m1 += gs;
            m2 += gs * xh[j];
            if (ds)
                ds[os[j]] += (float)(gr[j] * xh[j]);
            if (db)
                db[ob[j]] += gr[j];
        }
        m1 /= (double)D;
        m2 /= (double)D;
        for (int64_t j = 0; dx && j < D; j++)
            dx[r * D + j] += (float)(inv * ((double)gr[j] * S[os[j]] - m1 - xh[j] * m2));
    }
    free(os);
    free(ob);
    free(xh);
    return LP_OK;
}

const lp_grad_def lp_graddef_LayerNormalization = {
    .name = "LayerNormalization", .diff_in = 7, .param_in = 6, .forward = ln_forward, .backward = ln_bw,
    .free_cache = lp_dnt_op_free, .fwd_overwrites = true, .bwd_overwrites = true,
};
