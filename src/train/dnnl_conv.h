/* dnnl_conv.h — oneDNN twins of the training Conv (2-D, any groups, strides, dilations, pads),
 * in the layouts oneDNN picks (dnnl_conv.c). They return LOWP_ERR_UNSUPPORTED, without a
 * message, when oneDNN does not take the case (the caller then runs the reference loops). */
#ifndef LP_TRAIN_DNNL_CONV_H
#define LP_TRAIN_DNNL_CONV_H

#include "ops/conv_ref.h"
#include "train/dnnl_train.h"

/* A node's primitives and blocked buffers, kept across training steps in the tape's cache
 * (*cache: NULL at first; rebuilt when the geometry or the thread count changes). */
typedef struct lp_dnnl_conv lp_dnnl_conv;
void lp_dnnl_conv_free(void *state);

/* Builds the state: LP_OK when the forward and both backwards will run here (so an input may
 * come in a oneDNN layout). */
lp_status lp_dnnl_conv_prepare(lp_dnnl_conv **cache, const lp_conv *cv, bool bias);
/* y = conv(x, w) + b (b may be NULL): x (N,C,H,W) laid out as x_lay (NULL: plain), w
 * (M,C/group,kh,kw), y (N,M,OH,OW). With y_lay (the tape lets y stay in a oneDNN layout), y is
 * written in the primitive's layout and *y_lay says which (on false: plain after all). */
lp_status lp_dnnl_conv_forward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const lp_dnt_layout *x_lay,
                               const float *w, const float *b, float *y, lp_dnt_layout *y_lay);
/* dx, dw, db (each may be NULL) += the gradients for dy, or = where bit 0, 1, 2 of `fresh` is
 * set (grad.h's din_fresh); x and dx laid out as x_lay, dy as y_lay (NULL: plain); `bias`: the
 * node has a bias (the forward ran with one). */
lp_status lp_dnnl_conv_backward(lp_dnnl_conv **cache, const lp_conv *cv, bool bias, const float *x,
                                const lp_dnt_layout *x_lay, const float *w, const float *dy,
                                const lp_dnt_layout *y_lay, float *dx, float *dw, float *db, unsigned fresh);

/* ConvTranspose as the adjoint of the convolution cv (dnnl_conv.c: cv.C the ConvTranspose's
 * output channels, cv.M its input's, cv.win from lp_convt_setup), all plain, no bias: y = the
 * ConvTranspose of x (N, cv.M, win.out) by w (cv.M, cv.C/group, k...) into y (N, cv.C, win.in). */
lp_status lp_dnnl_convt_forward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const float *w, float *y);
/* dx, dw (each may be NULL) += its gradients for dy, or = where bit 0, 1 of `fresh` is set. */
lp_status lp_dnnl_convt_backward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const float *w,
                                 const float *dy, float *dx, float *dw, unsigned fresh);

#endif
