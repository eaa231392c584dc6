/* reduce.h — a reduction's axes, for fast kernels that must reduce exactly what the reference
 * kernels do (ops/reduce.c). */
#ifndef LP_OPS_REDUCE_H
#define LP_OPS_REDUCE_H

#include "ops/op.h"

/* Reduce* node c->node on input c->in[0] (only its rank is read; input 1, the axes, when the
 * node has it, must be given): *noop (empty axes with noop_with_empty_axes: the output is the
 * input) and reduced[k] for each axis k of x. */
lp_status lp_reduce_window(const lp_run_ctx *c, bool *noop, bool *reduced);

#endif
