/* resize.h — Resize's (and Upsample's) sampling, for fast kernels that must compute exactly
 * what the reference kernel does: per axis and output coordinate, up to 4 source indices
 * (clamped to the edge) and weights; the output is the weighted sum over the product of the
 * axes' picks, or the extrapolation value where a pick is outside (tf_crop_and_resize). */
#ifndef LP_OPS_RESIZE_H
#define LP_OPS_RESIZE_H

#include "ops/op.h"

typedef struct lp_resize_taps {
    int n;                      /* 0..4 (zero weights dropped) */
    bool outside;               /* tf_crop_and_resize: the extrapolation value */
    int64_t idx[4];
    double w[4];
} lp_resize_taps;

typedef struct lp_resize_plan {
    int ndim;
    int64_t first[LP_MAX_DIMS]; /* axis k's taps: taps[first[k] .. first[k] + out dim k) */
    lp_resize_taps *taps;       /* malloc'ed */
    bool nearest;               /* one tap of weight 1 per axis: copies, exact in any type */
    double extrapolation;
} lp_resize_plan;

/* The sampling of Resize or Upsample node c->node for input c->in[0]'s dims and output
 * c->out[0]'s dims (only dims are read of those two; the other inputs' values are read).
 * lp_resize_plan_free releases it. */
lp_status lp_resize_plan_make(const lp_run_ctx *c, lp_resize_plan *p);
void lp_resize_plan_free(lp_resize_plan *p);

#endif
