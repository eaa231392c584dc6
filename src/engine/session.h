/* session.h — what lowp_session is inside, for layers above the engine (quant, tune, data). */
#ifndef LP_SESSION_H
#define LP_SESSION_H

#include "engine/engine.h"

#define LP_SESSION_MAX_PLANS 8

struct lowp_session {
    lp_graph *g;                /* the optimized graph every plan compiles from */
    lowp_session_options opt;
    lp_plan *plans[LP_SESSION_MAX_PLANS];
    int n_plans;
    uint64_t clock;
    char *what;                 /* the model's file, prefixed to compile errors; NULL if none */
    lp_plan_options plan_opt;   /* what every plan compiles with (from opt, or a parent plan's) */
    uint8_t *bind_values;       /* per graph input: plans compile with its value (it decides an
                                   If: Silero's sample rate); NULL when no input does */
    bool profiling;             /* lowp_session_profile: runs record per-step timings */
};

/* A session over a graph (copied). */
/* The graph a session of `src` runs: a copy, legacy forms checked, optimized when asked (weight
 * DequantizeLinear kept), BF16 node choices applied. `runnable`: refuse ops lowp cannot run
 * (naming the node); otherwise they pass through untouched (dynamic quantization and capability
 * listing need no run). FP16/BF16 parts are widened to FP32 (lp_pass_float16; *n_widened, may be
 * NULL, counts what changed). */
lp_status lp_session_graph(const lp_graph *src, bool runnable, bool optimize, int *n_widened, lp_graph **out);
lp_status lp_session_create_graph(const lp_graph *g, const lowp_session_options *options, lowp_session **out);
/* A session over a control-flow body for the engine: plans compile with `po` (the enclosing
 * plan's threads, precision, kernel choice). */
lp_status lp_session_create_sub(const lp_graph *g, const lp_plan_options *po, lowp_session **out);
/* Orders named inputs into graph input order (ordered has g->n_inputs slots). */
lp_status lp_session_bind(const lowp_session *s, int n_inputs, const char *const *names,
                          const lp_tensor *const *inputs, const lp_tensor **ordered);
/* The plan for these inputs (graph input order), compiled on first use of their shapes. */
lp_status lp_session_plan(lowp_session *s, const lp_tensor *const *inputs, lp_plan **plan_out);

#endif
