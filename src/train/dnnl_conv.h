/* dnnl_conv.h — oneDNN twins of the training Conv (2-D, any groups, strides, dilations, pads).
 * Both return LOWP_ERR_UNSUPPORTED, without a message, when oneDNN does not take the case (the
 * caller then runs the reference loops). */
#ifndef LP_TRAIN_DNNL_CONV_H
#define LP_TRAIN_DNNL_CONV_H

#include "ops/conv_ref.h"

/* y = conv(x, w) + b (b may be NULL): x (N,C,H,W), w (M,C/group,kh,kw), y (N,M,OH,OW). */
lp_status lp_dnnl_conv_forward(const lp_conv *cv, const float *x, const float *w, const float *b, float *y);
/* dx, dw, db (each may be NULL) += the gradients for dy. */
lp_status lp_dnnl_conv_backward(const lp_conv *cv, const float *x, const float *w, const float *dy, float *dx,
                                float *dw, float *db);

#endif
