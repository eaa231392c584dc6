/* conv_ref.h — sliding-window geometry (Conv, pooling, ConvTranspose, QLinearConv,
 * ConvInteger) and the reference convolution as im2col + GEMM. */
#ifndef LP_CONV_REF_H
#define LP_CONV_REF_H

#include "ops/op.h"

/* Spatial geometry of a window sliding over 1 to 3 spatial dims. Arrays are right-aligned
 * to 3 dims: a 2-D op uses [1] = H and [2] = W, and [0] is a dummy dim of size 1 (stride 1,
 * no padding), so every kernel loops over three dims. */
#define LP_SP 3
typedef struct lp_window {
    int nsp;                                /* the op's spatial rank, 1..LP_SP */
    int64_t in[LP_SP], k[LP_SP], out[LP_SP];
    int64_t stride[LP_SP], dil[LP_SP], pad0[LP_SP], pad1[LP_SP]; /* pad0 before, pad1 after */
} lp_window;

/* The `pads` attribute of node `n` (begins, then ends, of nsp spatial dims) into p0[nsp] and
 * p1[nsp], left as they are when it is absent; fails on another count or a negative pad. */
lp_status lp_window_pads(const lp_node *n, int nsp, int64_t *p0, int64_t *p1);

/* Reads strides, dilations, pads and auto_pad of node `n` and computes pads and output dims
 * for input spatial dims in[nsp] (may be unknown: the outputs are then unknown) and kernel
 * k[nsp] (known, >= 1). `ceil_mode` as pooling defines it (the last window may run into the
 * end padding, but must start inside the input or the begin padding). Fails on bad
 * attributes or an input smaller than the (dilated) kernel. */
lp_status lp_window_init(const lp_node *n, int nsp, const int64_t *in, const int64_t *k,
                         bool ceil_mode, lp_window *w);

static inline int64_t lp_window_kprod(const lp_window *w) { return w->k[0] * w->k[1] * w->k[2]; }
static inline int64_t lp_window_inprod(const lp_window *w) { return w->in[0] * w->in[1] * w->in[2]; }
static inline int64_t lp_window_outprod(const lp_window *w) { return w->out[0] * w->out[1] * w->out[2]; }
/* True when the window is a plain 1x1 sample of every position (col == input). */
bool lp_window_is_pointwise(const lp_window *w);

/* Where the window of output position (o0, o1, o2) starts in each input dim (negative: in
 * the begin padding). */
static inline void lp_window_start(const lp_window *w, int64_t o0, int64_t o1, int64_t o2, int64_t st[LP_SP])
{
    st[0] = o0 * w->stride[0] - w->pad0[0];
    st[1] = o1 * w->stride[1] - w->pad0[1];
    st[2] = o2 * w->stride[2] - w->pad0[2];
}

/* AveragePool's divisor for the window starting at st: its taps inside the input, or with
 * include_pad (count_include_pad) also those in the explicit padding -- never the ceil_mode
 * overhang -- as ONNX Runtime and PyTorch count (the forward and its gradient share it). */
int64_t lp_window_avg_count(const lp_window *w, const int64_t st[LP_SP], bool include_pad);

/* Runs the statements after (w, st) for each tap of the window starting at st (lp_window w,
 * not a pointer) that lies inside the input, in row-major order, with i0, i1, i2 its
 * coordinates and `at` its flat offset in one (in[0], in[1], in[2]) plane. */
#define LP_WINDOW_FOR_TAPS(w, st, ...)                                                         \
    for (int64_t k0_ = 0; k0_ < (w).k[0]; k0_++) {                                            \
        int64_t i0 = (st)[0] + k0_ * (w).dil[0];                                               \
        if (i0 < 0 || i0 >= (w).in[0])                                                         \
            continue;                                                                          \
        for (int64_t k1_ = 0; k1_ < (w).k[1]; k1_++) {                                        \
            int64_t i1 = (st)[1] + k1_ * (w).dil[1];                                           \
            if (i1 < 0 || i1 >= (w).in[1])                                                     \
                continue;                                                                      \
            for (int64_t k2_ = 0; k2_ < (w).k[2]; k2_++) {                                    \
                int64_t i2 = (st)[2] + k2_ * (w).dil[2];                                       \
                if (i2 < 0 || i2 >= (w).in[2])                                                 \
                    continue;                                                                  \
                int64_t at = (i0 * (w).in[1] + i1) * (w).in[2] + i2;                           \
                (void)at;                                                                      \
                __VA_ARGS__                                                                    \
            }                                                                                  \
        }                                                                                      \
    }

/* col: (C * kprod, outprod) from x: (C, in...): col[(c,kd,kh,kw)][(od,oh,ow)] =
 * x[c][od*s - p + kd*d]..., 0 where the window lies in the padding. */
void lp_im2col_f32(const float *x, int64_t C, const lp_window *w, float *col);
void lp_im2col_i32(const int32_t *x, int64_t C, const lp_window *w, int32_t *col);
/* The adjoint of im2col: x += scatter of col, dropping entries that land in the padding. */
void lp_col2im_f32(const float *col, int64_t C, const lp_window *w, float *x);

/* A convolution: x: (N, C, in...), w: (M, C/group, k...), y: (N, M, out...). */
typedef struct lp_conv {
    int64_t N, C, M, group;
    lp_window win;
} lp_conv;

/* Output shape of a convolution of x by w (attributes kernel_shape, group, strides,
 * dilations, pads, auto_pad of `n`); unknown where the inputs are. */
lp_status lp_conv_infer(const lp_node *n, const lp_shape *x, const lp_shape *w, lp_shape *y);
/* The geometry of a convolution of concrete x by w, checked against the attributes. */
lp_status lp_conv_setup(const lp_node *n, const lp_tensor *x, const lp_tensor *w, lp_conv *cv);

/* The geometry of a transposed convolution of concrete x: (N, C, in...) by w: (C, M/group,
 * k...) (ConvTranspose's attributes): the forward window whose adjoint (col2im) it is, so
 * win->in holds y's spatial dims and win->out x's. Checks dtypes, ranks, channels and group. */
lp_status lp_convt_setup(const lp_node *n, const lp_tensor *x, const lp_tensor *w, lp_window *win);

/* y = conv(x, w) + bias (bias: (M) or NULL); float accumulation. */
lp_status lp_conv_f32(const lp_node *n, const lp_conv *cv, const float *x, const float *w,
                      const float *bias, float *y);
/* The same in int32: x, w already have their zero points subtracted. */
lp_status lp_conv_i32(const lp_node *n, const lp_conv *cv, const int32_t *x, const int32_t *w,
                      int32_t *y);

#endif
