/* conv_ref.c — window geometry shared by convolution and pooling, and the reference
 * convolution: im2col per (image, group) followed by a blocked GEMM. */
#include "ops/conv_ref.h"

#include <stdlib.h>
#include <string.h>

#include "ops/gemm_ref.h"

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

lp_status lp_window_pads(const lp_node *n, int nsp, int64_t *p0, int64_t *p1)
{
    const int64_t *v;
    int cnt = lp_attr_ints(n, "pads", &v);
    if (cnt < 0)
        return LP_OK;
    if (cnt != 2 * nsp)
        return lp_node_error(n, LOWP_ERR_FORMAT, "pads has %d values, expected %d", cnt, 2 * nsp);
    for (int i = 0; i < nsp; i++) {
        if (v[i] < 0 || v[nsp + i] < 0)
            return lp_node_error(n, LOWP_ERR_FORMAT, "negative pads are not supported");
        p0[i] = v[i];
        p1[i] = v[nsp + i];
    }
    return LP_OK;
}

lp_status lp_window_init(const lp_node *n, int nsp, const int64_t *in, const int64_t *k,
                         bool ceil_mode, lp_window *w)
{
    if (nsp < 1 || nsp > LP_SP)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%d spatial dims; 1 to %d are supported", nsp, LP_SP);
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    for (int i = 0; i < LP_SP; i++)
        w->in[i] = w->k[i] = w->out[i] = w->stride[i] = w->dil[i] = 1;
    int off = LP_SP - nsp;
    const int64_t *v;
    int cnt;
    for (int i = 0; i < nsp; i++) {
        if (k[i] < 1)
            return lp_node_error(n, LOWP_ERR_FORMAT, "kernel dim %d is %lld, expected >= 1", i, (long long)k[i]);
        w->k[off + i] = k[i];
        w->in[off + i] = in[i];
    }
    if ((cnt = lp_attr_ints(n, "strides", &v)) >= 0) {
        if (cnt != nsp)
            return lp_node_error(n, LOWP_ERR_FORMAT, "strides has %d values, expected %d", cnt, nsp);
        for (int i = 0; i < nsp; i++) {
            if (v[i] < 1)
                return lp_node_error(n, LOWP_ERR_FORMAT, "stride %lld, expected >= 1", (long long)v[i]);
            w->stride[off + i] = v[i];
        }
    }
    if ((cnt = lp_attr_ints(n, "dilations", &v)) >= 0) {
        if (cnt != nsp)
            return lp_node_error(n, LOWP_ERR_FORMAT, "dilations has %d values, expected %d", cnt, nsp);
        for (int i = 0; i < nsp; i++) {
            if (v[i] < 1)
                return lp_node_error(n, LOWP_ERR_FORMAT, "dilation %lld, expected >= 1", (long long)v[i]);
            w->dil[off + i] = v[i];
        }
    }
    const char *ap = lp_attr_str(n, "auto_pad", "NOTSET");
    bool same = false, upper = false;
    if (strcmp(ap, "NOTSET") == 0) {
        LP_TRY(lp_window_pads(n, nsp, w->pad0 + off, w->pad1 + off));
    } else if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
        same = true;
        upper = ap[5] == 'U';
    } else if (strcmp(ap, "VALID") != 0) {
        return lp_node_error(n, LOWP_ERR_FORMAT, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, "
                             "SAME_LOWER, VALID", ap);
    }
    for (int i = off; i < LP_SP; i++) {
        if (!lp_dim_known(w->in[i])) {
            w->out[i] = LP_DIM_UNKNOWN;
            continue;
        }
        int64_t dk = (w->k[i] - 1) * w->dil[i] + 1, s = w->stride[i];
        if (same) {
            /* SAME: out = ceil(in / stride); the odd pad goes after (UPPER) or before (LOWER) */
            w->out[i] = ceil_div(w->in[i], s);
            int64_t total = (w->out[i] - 1) * s + dk - w->in[i];
            if (total < 0)
                total = 0;
            w->pad0[i] = upper ? total / 2 : total - total / 2;
            w->pad1[i] = total - w->pad0[i];
            continue;
        }
        int64_t span = w->in[i] + w->pad0[i] + w->pad1[i] - dk;
        if (span < 0)
            return lp_node_error(n, LOWP_ERR_SHAPE, "spatial dim %d: input %lld (padded %lld) is smaller "
                                 "than the kernel extent %lld", i - off, (long long)w->in[i],
                                 (long long)(w->in[i] + w->pad0[i] + w->pad1[i]), (long long)dk);
        if (ceil_mode) {
            w->out[i] = ceil_div(span, s) + 1;
            if ((w->out[i] - 1) * s >= w->in[i] + w->pad0[i])
                w->out[i]--; /* a window starting in the end padding sees no input */
        } else {
            w->out[i] = span / s + 1;
        }
    }
    return LP_OK;
}

bool lp_window_is_pointwise(const lp_window *w)
{
    for (int i = 0; i < LP_SP; i++)
        if (w->k[i] != 1 || w->stride[i] != 1 || w->pad0[i] || w->pad1[i])
            return false;
    return true;
}

/* Taps of a window along one dim that land in [lo, hi). */
static int64_t taps_in(int64_t start, int64_t k, int64_t dil, int64_t lo, int64_t hi)
{
    int64_t cnt = 0;
    for (int64_t j = 0; j < k; j++)
        cnt += start + j * dil >= lo && start + j * dil < hi;
    return cnt;
}

int64_t lp_window_avg_count(const lp_window *w, const int64_t st[LP_SP], bool include_pad)
{
    int64_t count = 1;
    for (int i = 0; i < LP_SP; i++)
        count *= include_pad ? taps_in(st[i], w->k[i], w->dil[i], -w->pad0[i], w->in[i] + w->pad1[i])
                             : taps_in(st[i], w->k[i], w->dil[i], 0, w->in[i]);
    return count;
}

#define IM2COL_BODY(T)                                                                  \
    const int64_t I1 = w->in[1], I2 = w->in[2], O0 = w->out[0], O1 = w->out[1], O2 = w->out[2]; \
    const int64_t inprod = lp_window_inprod(w), outprod = O0 * O1 * O2;                 \
    T *dst = col;                                                                       \
    for (int64_t c = 0; c < C; c++)                                                     \
        for (int64_t k0 = 0; k0 < w->k[0]; k0++)                                        \
            for (int64_t k1 = 0; k1 < w->k[1]; k1++)                                    \
                for (int64_t k2 = 0; k2 < w->k[2]; k2++, dst += outprod)                \
                    for (int64_t o0 = 0; o0 < O0; o0++) {                               \
                        int64_t i0 = o0 * w->stride[0] - w->pad0[0] + k0 * w->dil[0];   \
                        for (int64_t o1 = 0; o1 < O1; o1++) {                           \
                            int64_t i1 = o1 * w->stride[1] - w->pad0[1] + k1 * w->dil[1]; \
                            T *row = dst + (o0 * O1 + o1) * O2;                         \
                            if (i0 < 0 || i0 >= w->in[0] || i1 < 0 || i1 >= I1) {      \
                                IM2COL_PAD_ROW;                                         \
                                continue;                                               \
                            }                                                           \
                            const T *xr = x + c * inprod + (i0 * I1 + i1) * I2;         \
                            int64_t i2 = -w->pad0[2] + k2 * w->dil[2];                  \
                            for (int64_t o2 = 0; o2 < O2; o2++, i2 += w->stride[2])     \
                                if (i2 >= 0 && i2 < I2)                                 \
                                    IM2COL_ELEM;                                        \
                                else                                                    \
                                    IM2COL_PAD_ELEM;                                    \
                        }                                                               \
                    }

#define IM2COL_PAD_ROW memset(row, 0, (size_t)O2 * sizeof *row)
#define IM2COL_ELEM row[o2] = xr[i2]
#define IM2COL_PAD_ELEM row[o2] = 0

void lp_im2col_f32(const float *x, int64_t C, const lp_window *w, float *col) { IM2COL_BODY(float) }
void lp_im2col_i32(const int32_t *x, int64_t C, const lp_window *w, int32_t *col) { IM2COL_BODY(int32_t) }

#undef IM2COL_PAD_ROW
#undef IM2COL_ELEM
#undef IM2COL_PAD_ELEM

void lp_col2im_f32(const float *col, int64_t C, const lp_window *w, float *x)
{
    /* the walk of im2col, adding each column entry back to the input position it came from */
    const int64_t I1 = w->in[1], I2 = w->in[2], O0 = w->out[0], O1 = w->out[1], O2 = w->out[2];
    const int64_t inprod = lp_window_inprod(w), outprod = O0 * O1 * O2;
    const float *src = col;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k0 = 0; k0 < w->k[0]; k0++)
            for (int64_t k1 = 0; k1 < w->k[1]; k1++)
                for (int64_t k2 = 0; k2 < w->k[2]; k2++, src += outprod)
                    for (int64_t o0 = 0; o0 < O0; o0++) {
                        int64_t i0 = o0 * w->stride[0] - w->pad0[0] + k0 * w->dil[0];
                        if (i0 < 0 || i0 >= w->in[0])
                            continue;
                        for (int64_t o1 = 0; o1 < O1; o1++) {
                            int64_t i1 = o1 * w->stride[1] - w->pad0[1] + k1 * w->dil[1];
                            if (i1 < 0 || i1 >= I1)
                                continue;
                            const float *row = src + (o0 * O1 + o1) * O2;
                            float *xr = x + c * inprod + (i0 * I1 + i1) * I2;
                            int64_t i2 = -w->pad0[2] + k2 * w->dil[2];
                            for (int64_t o2 = 0; o2 < O2; o2++, i2 += w->stride[2])
                                if (i2 >= 0 && i2 < I2)
                                    xr[i2] += row[o2];
                        }
                    }
}

lp_status lp_conv_infer(const lp_node *n, const lp_shape *x, const lp_shape *w, lp_shape *y)
{
    y->ndim = -1;
    if (x->ndim >= 0 && w->ndim >= 0 && x->ndim != w->ndim)
        return lp_node_error(n, LOWP_ERR_SHAPE, "input has rank %d but the weights rank %d", x->ndim, w->ndim);
    int r = x->ndim >= 0 ? x->ndim : w->ndim;
    if (r < 0)
        return LP_OK;
    if (r < 3)
        return lp_node_error(n, LOWP_ERR_SHAPE, "rank %d, expected (N, C, spatial...) of rank >= 3", r);
    int nsp = r - 2;
    if (nsp > LP_SP)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%d spatial dims; 1 to %d are supported", nsp, LP_SP);
    int64_t group = lp_attr_int(n, "group", 1);
    if (group < 1)
        return lp_node_error(n, LOWP_ERR_FORMAT, "group %lld, expected >= 1", (long long)group);
    int64_t k[LP_SP], in[LP_SP];
    bool k_known = true;
    const int64_t *ks;
    int cnt = lp_attr_ints(n, "kernel_shape", &ks);
    if (cnt >= 0 && cnt != nsp)
        return lp_node_error(n, LOWP_ERR_FORMAT, "kernel_shape has %d values, expected %d", cnt, nsp);
    for (int i = 0; i < nsp; i++) {
        int64_t wd = w->ndim >= 0 ? w->d[2 + i] : LP_DIM_UNKNOWN;
        if (cnt >= 0 && lp_dim_known(wd) && wd != ks[i])
            return lp_node_error(n, LOWP_ERR_SHAPE, "kernel_shape[%d] = %lld but the weights have %lld",
                                 i, (long long)ks[i], (long long)wd);
        k[i] = cnt >= 0 ? ks[i] : wd;
        k_known = k_known && lp_dim_known(k[i]);
        in[i] = x->ndim >= 0 ? x->d[2 + i] : LP_DIM_UNKNOWN;
    }
    int64_t C = x->ndim >= 0 ? x->d[1] : LP_DIM_UNKNOWN;
    int64_t Cw = w->ndim >= 0 ? w->d[1] : LP_DIM_UNKNOWN;
    int64_t M = w->ndim >= 0 ? w->d[0] : LP_DIM_UNKNOWN;
    if (lp_dim_known(C) && lp_dim_known(Cw) && C != Cw * group)
        return lp_node_error(n, LOWP_ERR_SHAPE, "input has %lld channels but weights expect %lld x group %lld",
                             (long long)C, (long long)Cw, (long long)group);
    if (lp_dim_known(M) && M % group != 0)
        return lp_node_error(n, LOWP_ERR_SHAPE, "%lld output channels are not divisible by group %lld",
                             (long long)M, (long long)group);
    y->ndim = r;
    y->d[0] = x->ndim >= 0 ? x->d[0] : LP_DIM_UNKNOWN;
    y->d[1] = M;
    if (!k_known) {
        for (int i = 0; i < nsp; i++)
            y->d[2 + i] = LP_DIM_UNKNOWN;
        return LP_OK;
    }
    lp_window win;
    LP_TRY(lp_window_init(n, nsp, in, k, false, &win));
    for (int i = 0; i < nsp; i++)
        y->d[2 + i] = win.out[LP_SP - nsp + i];
    return LP_OK;
}

lp_status lp_conv_setup(const lp_node *n, const lp_tensor *x, const lp_tensor *w, lp_conv *cv)
{
    lp_shape xs, ws, ys;
    lp_shape_of(x, &xs);
    lp_shape_of(w, &ws);
    LP_TRY(lp_conv_infer(n, &xs, &ws, &ys));
    int nsp = x->ndim - 2;
    cv->N = x->dims[0];
    cv->C = x->dims[1];
    cv->M = w->dims[0];
    cv->group = lp_attr_int(n, "group", 1);
    return lp_window_init(n, nsp, x->dims + 2, w->dims + 2, false, &cv->win);
}

#define CONV_DRIVER(T, IM2COL, GEMM_CALL)                                               \
    const lp_window *win = &cv->win;                                                   \
    const int64_t Cg = cv->C / cv->group, Mg = cv->M / cv->group;                       \
    const int64_t K = Cg * lp_window_kprod(win), P = lp_window_outprod(win);            \
    const int64_t I = lp_window_inprod(win);                                            \
    const bool pointwise = lp_window_is_pointwise(win);                                 \
    T *col = NULL;                                                                      \
    if (P == 0 || cv->M == 0 || cv->N == 0)                                             \
        return LP_OK;                                                                   \
    if (!pointwise && !(col = malloc((size_t)(K * P > 0 ? K * P : 1) * sizeof *col)))       \
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory for a %lld x %lld im2col buffer", \
                             (long long)K, (long long)P);                               \
    for (int64_t b = 0; b < cv->N; b++)                                                 \
        for (int64_t g = 0; g < cv->group; g++) {                                       \
            const T *xg = x + (b * cv->C + g * Cg) * I;                                 \
            const T *B = xg;                                                            \
            if (!pointwise) {                                                           \
                IM2COL(xg, Cg, win, col);                                               \
                B = col;                                                                \
            }                                                                           \
            T *yg = y + (b * cv->M + g * Mg) * P;                                       \
            const T *wg = w + g * Mg * K;                                               \
            GEMM_CALL;                                                                  \
        }                                                                               \
    free(col);

lp_status lp_conv_f32(const lp_node *n, const lp_conv *cv, const float *x, const float *w,
                      const float *bias, float *y)
{
    /* per group: y_g (Mg, P) = w_g (Mg, K) * col (K, P) */
    CONV_DRIVER(float, lp_im2col_f32, lp_gemm_f32(Mg, P, K, 1.0f, wg, K, 1, B, P, 0.0f, yg, P))
    if (bias)
        for (int64_t b = 0; b < cv->N; b++)
            for (int64_t m = 0; m < cv->M; m++) {
                float *ym = y + (b * cv->M + m) * P;
                for (int64_t p = 0; p < P; p++)
                    ym[p] += bias[m];
            }
    return LP_OK;
}

lp_status lp_conv_i32(const lp_node *n, const lp_conv *cv, const int32_t *x, const int32_t *w,
                      int32_t *y)
{
    CONV_DRIVER(int32_t, lp_im2col_i32, lp_gemm_i32(Mg, P, K, wg, K, 1, B, P, 0, yg, P))
    return LP_OK;
}
