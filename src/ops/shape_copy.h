/* shape_copy.h — Slice's and Pad's geometry, for fast kernels that must move exactly what the
 * reference kernels do (ops/shape_copy.c). */
#ifndef LP_OPS_SHAPE_COPY_H
#define LP_OPS_SHAPE_COPY_H

#include "ops/op.h"

/* Slice node c->node on input c->in[0] (only its dims are read; the other inputs' values are):
 * per axis of x the first index, the step and the length (ONNX's clamping applied). */
lp_status lp_slice_window(const lp_run_ctx *c, int64_t *start, int64_t *step, int64_t *len);

typedef enum lp_pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE } lp_pad_mode;

/* Pad node c->node on input c->in[0]'s dims: its mode, pads[0..2r) (begins, then ends;
 * negative crops) and the fill as a double (exact for float data). */
lp_status lp_pad_window(const lp_run_ctx *c, lp_pad_mode *mode, int64_t *pads, double *fill);
/* The source index along an axis of extent d padded by `begin` in front for output index o;
 * -1 where the constant fill goes. */
int64_t lp_pad_source(int64_t o, int64_t begin, int64_t d, lp_pad_mode mode);

#endif
