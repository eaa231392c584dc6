/* reference.c — the reference backend: runs each node with its op's plain C kernel. */
#include "engine/engine.h"

static bool ref_supports(const lp_graph *g, int ni)
{
    int op = g->nodes[ni].op;
    return op >= 0 && lp_op_implemented(op);
}

static lp_status ref_prepare(const lp_graph *g, int ni, void **state_out)
{
    *state_out = (void *)lp_op_get(g->nodes[ni].op);
    return LP_OK;
}

static lp_status ref_run(void *state, const lp_run_ctx *c)
{
    const lp_op_def *op = state;
    return op->run(c);
}

static void ref_release(void *state) { (void)state; }

const lp_kernel lp_kernel_reference = {
    .name = "reference",
    .supports = ref_supports,
    .prepare = ref_prepare,
    .run = ref_run,
    .release = ref_release,
};
