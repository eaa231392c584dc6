/* dnnl_conv.h — oneDNN twins of the training Conv (2-D, any groups, strides, dilations, pads),
 * in the layouts oneDNN picks (dnnl_conv.c). Both return LOWP_ERR_UNSUPPORTED, without a
 * message, when oneDNN does not take the case (the caller then runs the reference loops). */
#ifndef LP_TRAIN_DNNL_CONV_H
#define LP_TRAIN_DNNL_CONV_H

#include "ops/conv_ref.h"

/* A node's primitives and blocked buffers, kept across training steps in the tape's cache
 * (*cache: NULL at first; rebuilt when the geometry changes). */
typedef struct lp_dnnl_conv lp_dnnl_conv;
void lp_dnnl_conv_free(void *state);

/* y = conv(x, w) + b (b may be NULL): x (N,C,H,W), w (M,C/group,kh,kw), y (N,M,OH,OW). */
lp_status lp_dnnl_conv_forward(lp_dnnl_conv **cache, const lp_conv *cv, const float *x, const float *w,
                               const float *b, float *y);
/* dx, dw, db (each may be NULL) += the gradients for dy, or = where bit 0, 1, 2 of `fresh` is
 * set (grad.h's din_fresh); `bias`: the node has a bias (the forward ran with one). */
lp_status lp_dnnl_conv_backward(lp_dnnl_conv **cache, const lp_conv *cv, bool bias, const float *x, const float *w,
                                const float *dy, float *dx, float *dw, float *db, unsigned fresh);

#endif
