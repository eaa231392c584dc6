/* shape_copy.h — Slice's and Pad's geometry, for fast kernels that must move exactly what the
 * reference kernels do (ops/shape_copy.c). */
#ifndef LP_OPS_SHAPE_COPY_H
#define LP_OPS_SHAPE_COPY_H

#include "ops/op.h"

/* Slice node c->node on input c->in[0] (only its dims are read; the other inputs' values are):
 * per axis of x the first index, the step and the length (ONNX's clamping applied). */
lp_status lp_slice_window(const lp_run_ctx *c, int64_t *start, int64_t *step, int64_t *len);

/* Pad node c->node on input c->in[0]'s dims: *constant (mode "constant"), pads[0..2r) (begins,
 * then ends; negative crops) and the fill as a double (exact for float data). */
lp_status lp_pad_window(const lp_run_ctx *c, bool *constant, int64_t *pads, double *fill);

#endif
