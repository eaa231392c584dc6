/* engine.h — compile a graph for concrete input shapes into a plan, then run it many times.
 *
 * Compile: bind input shapes, infer every shape, evaluate at compile time what depends only
 * on constants and shapes, choose a kernel per node (the first backend whose `supports`
 * claims it; the reference kernels claim everything implemented), let kernels prepare, and
 * lay out all intermediates in one arena by liveness. Run: no allocation, no lookups —
 * bind inputs, call each step, optionally show each produced tensor to a tap. */
#ifndef LP_ENGINE_H
#define LP_ENGINE_H

#include "ops/op.h"

/* A kernel backend (the seam for fast kernels in src/kernels/). */
typedef struct lp_kernel {
    const char *name;
    /* Whether this backend runs node `ni` of compiled graph `g` (all shapes static). */
    bool (*supports)(const lp_graph *g, int ni);
    /* Creates per-node state (may be NULL when the kernel needs none). */
    lp_status (*prepare)(const lp_graph *g, int ni, void **state_out);
    lp_status (*run)(void *state, const lp_run_ctx *c);
    void (*release)(void *state);
} lp_kernel;

/* The reference backend: every op's plain C kernel from the registry. */
extern const lp_kernel lp_kernel_reference;

typedef struct lp_step {
    int node;                   /* index in plan->g */
    const lp_kernel *kernel;
    void *state;
    lp_run_ctx ctx;             /* in/out wired to plan->vals */
    bool dynamic;               /* output shapes known only at run time (data-dependent) */
} lp_step;

typedef struct lp_plan {
    lp_graph *g;                /* compiled copy: static shapes, compile-time constants folded */
    lp_tensor *vals;            /* one header per value of g */
    const lp_tensor **in_ptrs;  /* backing arrays for the steps' ctx.in / ctx.out */
    lp_tensor **out_ptrs;
    lp_step *steps;
    int n_steps;
    uint8_t *arena;
    size_t arena_size;
    uint8_t *dynamic_value;     /* per value: 1 if its shape is settled at run time */
    void **dynamic_buf;         /* per value: its heap buffer (dynamic values only) */
    size_t *dynamic_cap;        /* and that buffer's size, grown as needed */
    int64_t *input_dims;        /* LP_MAX_DIMS per graph input: the shapes compiled for */
    uint64_t last_used;         /* for the session's plan cache */
} lp_plan;

/* Sees every tensor a node produces during lp_plan_run (calibration, debugging). The tensor
 * is only valid during the call. Return non-LP_OK to stop the run with that status. */
typedef lp_status (*lp_tap_fn)(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t);

/* Compiles `g` (not modified) for inputs shaped like `inputs[i]` (graph input order;
 * only dtype and dims are read). */
lp_status lp_plan_compile(const lp_graph *g, const lp_tensor *const *inputs, lp_plan **out);
/* Runs with `inputs` (graph input order, same shapes as compiled). Results stay in
 * plan->vals[g->outputs[i]] until the next run. `tap` may be NULL. */
lp_status lp_plan_run(lp_plan *p, const lp_tensor *const *inputs, lp_tap_fn tap, void *user);
void lp_plan_free(lp_plan *p);

#endif
