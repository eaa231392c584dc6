/* engine.h — compile a graph for concrete input shapes into a plan, then run it many times.
 *
 * Compile: bind input shapes, infer every shape, evaluate at compile time what depends only
 * on constants and shapes, choose a kernel per node (the first backend whose `fuse` claims a
 * group of nodes starting there, or whose `supports` claims the node; the reference kernels
 * claim everything implemented), let kernels prepare, and lay out all intermediates in one
 * arena by liveness. Run: no allocation, no lookups — bind inputs, call each step,
 * optionally show each produced tensor to a tap. See docs/engine.md. */
#ifndef LP_ENGINE_H
#define LP_ENGINE_H

#include "ops/op.h"

/* A node attribute (STRING "bf16" or "fp32") that overrides the plan's precision for that
 * node: the seam through which the tuner chooses BF16 per op. It lives on the session's
 * graph only (set it before the session compiles; strip it before exporting). */
#define LP_ATTR_PRECISION "lowp_precision"

/* Largest group of nodes one step may run (a decomposed LayerNorm is 9, plus post-ops). */
#define LP_MAX_FUSED 16

typedef struct lp_step lp_step;

/* A constant the plan folded from DequantizeLinear(q, scale, zero_point) at compile time
 * (a QDQ model's int8 weights and int32 biases): the folded float value is what reference
 * kernels read; INT8 kernels read the integers and scales it came from. */
typedef struct lp_qconst {
    const lp_tensor *q;         /* int8 / uint8 / int32 data, the shape of the folded value */
    const lp_tensor *scale;     /* float32: one value (per tensor) or one per index of `axis` */
    const lp_tensor *zp;        /* same count as scale, or NULL (zero) */
    int axis;                   /* normalized to [0, rank) (0 for per tensor) */
} lp_qconst;

/* What a kernel's `fuse` hook sees: the compiled graph and who reads each value. */
typedef struct lp_fuse_ctx {
    const lp_graph *g;
    const int *reader_start;    /* readers of value v: reader_node[reader_start[v] .. reader_start[v+1]) */
    const int *reader_node;     /* (a node reading v twice is listed twice) */
    const uint8_t *taken;       /* per node: already in a step, or dynamic: not fusable */
    lp_dtype precision;         /* the plan's default precision */
    const lp_qconst *const *qconst; /* per value: its quantized origin, or NULL */
} lp_fuse_ctx;

/* Readers of value v (count; *nodes points at their indices). Graph outputs are not nodes:
 * check g->values[v].is_output too. */
static inline int lp_fuse_readers(const lp_fuse_ctx *fc, int v, const int **nodes)
{
    *nodes = fc->reader_node + fc->reader_start[v];
    return fc->reader_start[v + 1] - fc->reader_start[v];
}

/* What a kernel's `prepare_step` sees: the step's nodes and the plan being built. Steps
 * before this one are prepared; every step's kernel is chosen. */
typedef struct lp_prep_ctx {
    const lp_graph *g;
    int step;                   /* this step's index in steps[] */
    const int *nodes;           /* the step's nodes (nodes[0] first; its outputs are those of */
    int n_nodes;                /* nodes[n_nodes-1]) */
    const lp_step *steps;
    const int *value_step;      /* per value: the step producing it, -1 for inputs and constants */
    /* Per value: the kernel of every step that reads it, NULL when they differ, when nothing
     * reads it, or when it is a graph output. A kernel may store a value in a private layout
     * only when this is itself. */
    const struct lp_kernel *const *value_reader_kernel;
    lp_tensor *vals;            /* per value: the run-time tensor header (stable address; data
                                   pointers are set after compile and, for inputs, per run) */
    size_t *value_bytes;        /* per value: arena bytes to reserve; a kernel may raise it */
    size_t *scratch_bytes;      /* plan-wide scratch shared by all steps; a kernel may raise it */
    void *const *scratch;       /* where the scratch's address is at run time */
    int threads;
    lp_dtype precision;         /* LOWP_FLOAT or LOWP_BFLOAT16 for this step */
    const lp_qconst *const *qconst; /* per value: its quantized origin, or NULL */
    /* Per value: LOWP_BFLOAT16 when every step reading it runs in BF16 (a kernel may then
     * store it as BF16 in a private layout), else LOWP_FLOAT. */
    const lp_dtype *value_reader_precision;
    struct lp_plan *plan;       /* for lp_prep_may_overwrite / lp_prep_share_storage */
    const uint8_t *internal;    /* per value: produced and consumed inside one fused step */
} lp_prep_ctx;

/* In-place results. A step may write its output `out` over the storage of an input `in`
 * when nothing reads `in` -- or any value already sharing its storage -- after this step,
 * both are intermediates with static shapes, neither lives only inside a fused step, and
 * the step reads `in` nowhere else (the caller checks that last part). The kernel asks
 * lp_prep_may_overwrite while building, and calls lp_prep_share_storage once its step is
 * prepared; the arena then gives both values one block (the larger size, the union of
 * their lifetimes). Taps still see each value right after the step producing it. */
bool lp_prep_may_overwrite(const lp_prep_ctx *pc, int out, int in);
void lp_prep_share_storage(const lp_prep_ctx *pc, int out, int in);
/* Views. A step whose output `out` is its input `in`'s bytes as they are (a reshape of 8-bit
 * data) may share in's storage whatever reads `in` later, under the same conditions on the
 * values otherwise: nothing writes into either while both live (an in-place writer asks
 * lp_prep_may_overwrite, which then sees the union of their lifetimes). */
bool lp_prep_may_alias(const lp_prep_ctx *pc, int out, int in);

/* Profiling: what one profiled run of a step did besides taking its time (lp_plan_profile). */
typedef struct lp_step_prof {
    const char *primitive;      /* what computed it: oneDNN primitive kinds ("convolution",
                                   "matmul+reorder"...) or "reference"; NULL: the kernel's name */
    int reorders;               /* layout / data-type conversions the step ran */
    double reorder_s;           /* and their time, seconds */
} lp_step_prof;

/* A kernel backend (the seam for fast kernels in src/kernels/). */
typedef struct lp_kernel {
    const char *name;
    /* Whether this backend runs node `ni` of compiled graph `g` (all shapes static). */
    bool (*supports)(const lp_graph *g, int ni);
    /* Creates per-node state (may be NULL when the kernel needs none). */
    lp_status (*prepare)(const lp_graph *g, int ni, void **state_out);
    lp_status (*run)(void *state, const lp_run_ctx *c);
    void (*release)(void *state);

    /* ---- optional (NULL: not offered) ---- */
    /* Fusion: may claim node ni together with nodes that follow it as one step. Writes the
     * group to group[0..n) (group[0] = ni; max entries at most) and returns n, or 0/1 for no
     * group. Contract, checked by the plan (a group breaking it is ignored): every node is
     * untaken; the only values produced in the group and read outside it (or graph outputs)
     * are the outputs of group[n-1]. The step runs where the group's last node in graph
     * order would, so every outside input is ready. */
    int (*fuse)(const lp_fuse_ctx *fc, int ni, int *group, int max);
    /* Used instead of `prepare` when set: prepares a step (single node or group) with the
     * plan in view (layouts of neighbours, arena sizes, scratch, threads, precision). */
    lp_status (*prepare_step)(const lp_prep_ctx *pc, void **state_out);
    /* For taps: a plain C-order tensor with value v's contents when this step stores v in a
     * private layout (t otherwise). The result is valid until the next run. */
    const lp_tensor *(*plain)(void *state, int value, const lp_tensor *t);
    /* A short description of what runs the step (e.g. the oneDNN implementation). */
    const char *(*describe)(void *state);
    /* Profiling: runs the step like `run`, filling *prof (zeroed by the caller). Without it a
     * profiled step reports its kernel's name and no conversions. */
    lp_status (*run_profiled)(void *state, const lp_run_ctx *c, lp_step_prof *prof);
    /* For dynamic steps: the kernel points its output headers at memory it owns (valid until
     * its next run) instead of the plan inferring and allocating them before the run. */
    bool sizes_outputs;
} lp_kernel;

/* The reference backend: every op's plain C kernel from the registry. */
extern const lp_kernel lp_kernel_reference;
/* Control flow (If, Loop, Scan 9+): bodies run as sub-plans of this engine (engine/control.c). */
extern const lp_kernel lp_kernel_control;

struct lp_step {
    int node;                   /* index in plan->g (the first node of a fused group) */
    const lp_kernel *kernel;
    void *state;
    lp_run_ctx ctx;             /* in/out wired to plan->vals; for a group: the first node's
                                   inputs, the last node's outputs */
    bool dynamic;               /* output shapes known only at run time (data-dependent) */
    int n_nodes;                /* 1, or the size of the fused group */
    int *nodes;                 /* the group (nodes[0] == node), into plan storage */
};

/* Compile-time choices for a plan. */
typedef struct lp_plan_options {
    int threads;                /* OpenMP (oneDNN) threads at compile and run; <= 0: 1 */
    lp_dtype precision;         /* LOWP_BFLOAT16: run what the fast kernels can in BF16 (where
                                   the CPU has BF16 instructions); otherwise FP32 */
    bool reference_only;        /* reference kernels only (also env LOWP_KERNELS=reference) */
    bool no_fuse;               /* one step per node, so that a tap sees every value */
    bool no_split;              /* run the batch whole, never as chunks (engine/split.c) */
    /* Per graph input, or NULL: 1 = compile with the fed *values* as constants, so that what
     * they decide (an If on Equal(sr, 16000)) folds; such a plan serves only those values
     * (lp_plan.bound). The array must outlive the plan (the session owns it). */
    const uint8_t *bind_values;
} lp_plan_options;

/* Defaults: 1 thread, FP32, all backends, fusion on. */
lp_plan_options lp_plan_options_default(void);

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
    lp_tensor **bound;          /* per graph input: the value compiled in (bind_values), or NULL */
    uint64_t last_used;         /* for the session's plan cache */
    lp_plan_options opt;
    int *group_nodes;           /* storage for the steps' node lists */
    size_t *value_bytes;        /* per value: arena bytes (>= dense size; private layouts pad) */
    void *scratch;              /* shared by the steps' kernels */
    size_t scratch_size;
    bool fused;                 /* some step runs a group of nodes */
    struct lp_plan *tap_plan;   /* the same graph unfused, compiled on the first tapped run */
    lp_qconst **qconst;         /* per value of g: the DequantizeLinear it was folded from, or NULL */
    int n_qfold;                /* folded DequantizeLinear constants, by name (compile only) */
    char **qfold_name;
    lp_qconst *qfold;
    int *share_parent;          /* per value: storage-sharing union-find parent (itself: a root) */
    int *share_last;            /* per root: the last step reading any value of its set
                                   (n_steps for graph outputs, -1 unread) */
    struct lp_plan_prof *prof;  /* per-step timings while profiling (engine/profile.c), or NULL */
    /* Batch split (engine/split.c): per thread a plan for chunks of split_chunk samples, run
     * instead of the steps above by untapped, unprofiled runs; NULL when the plan runs whole. */
    struct lp_plan **split;
    int split_plans;            /* plans in split (the thread count) */
    int split_chunks;           /* chunks per run: batch / split_chunk */
    int64_t split_chunk;
    lp_tensor *split_saved;     /* per graph output: its header as compiled (for whole runs) */
    void **split_buf;           /* per graph output: the chunks' results, whole */
} lp_plan;

/* Sees every tensor a node produces during lp_plan_run (calibration, debugging). The tensor
 * is only valid during the call. Return non-LP_OK to stop the run with that status. A plan
 * with fused steps runs tapped runs on an unfused twin of itself (compiled on the first
 * tapped run, kept with the plan): `plan` is then that twin, whose graph has the same value
 * names; use plan->g to resolve `value`. Control-flow bodies are shown too (lp_plan_current_tap):
 * `plan` is then the body's, and `node` is -1 for the body's own inputs (a Loop's carried
 * values, a Scan's slices), shown before each iteration. */
typedef lp_status (*lp_tap_fn)(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t);

/* Compiles `g` (not modified) for inputs shaped like `inputs[i]` (graph input order;
 * only dtype and dims are read), with default options. */
lp_status lp_plan_compile(const lp_graph *g, const lp_tensor *const *inputs, lp_plan **out);
/* The same with options (NULL: defaults). */
lp_status lp_plan_compile_opt(const lp_graph *g, const lp_tensor *const *inputs,
                              const lp_plan_options *opt, lp_plan **out);
/* Runs with `inputs` (graph input order, same shapes as compiled). Results stay in
 * plan->vals[g->outputs[i]] until the next run. `tap` may be NULL. Runs with the plan's
 * thread count and restores the calling thread's OpenMP setting afterwards. */
lp_status lp_plan_run(lp_plan *p, const lp_tensor *const *inputs, lp_tap_fn tap, void *user);
/* The tap of the lp_plan_run under way on this thread (NULL when none): kernels that run plans
 * of their own (control flow's bodies) pass it on, so that a tap sees inside them too (its
 * `plan` is then the body's). */
void lp_plan_current_tap(lp_tap_fn *tap, void **user);
void lp_plan_free(lp_plan *p);

/* Batch split (engine/split.c). Setup, at the end of a compile: when the plan has >= 2
 * threads (env LOWP_BATCH_SPLIT=0 never, =1 also with 1 thread), every input's first dim is
 * the same batch >= 2 and the graph is batch-local (a checked list of ops, every non-constant
 * value scaling with the batch), compiles one 1-thread plan per thread for chunks of the batch.
 * A graph that does not qualify keeps running whole (LP_OK, p->split NULL). */
lp_status lp_plan_split_setup(lp_plan *p, const lp_graph *src, const lp_tensor *const *inputs);
/* Runs the chunks on the plans' threads; the outputs then point into p->split_buf. */
lp_status lp_plan_split_run(lp_plan *p, const lp_tensor *const *inputs);
/* Restores the outputs' compiled headers before a whole run (tapped, profiled). */
void lp_plan_split_unbind(lp_plan *p);
void lp_plan_split_free(lp_plan *p);

/* Profiling (engine/profile.c): from lp_plan_profile_start on, every lp_plan_run times each
 * step (and the conversions inside oneDNN steps) and keeps the times of the last
 * LP_PROFILE_MAX_RUNS runs (fewer when the plan has very many steps: at most 64 MiB of
 * samples). Starting again discards what was recorded; lp_plan_free frees it. */
#define LP_PROFILE_MAX_RUNS 1024
typedef struct lp_plan_prof {
    int cap;                    /* runs kept (a ring) */
    long runs;                  /* runs recorded in all */
    int n_steps;
    double *step_s;             /* cap x n_steps: each step's time per run (seconds) */
    double *reorder_s;          /* cap x n_steps: time of its conversions */
    double *run_s;              /* cap: the whole lp_plan_run */
    int *reorders;              /* per step: conversions in the last run */
    const char **primitive;     /* per step: what computed it (the last run's answer) */
} lp_plan_prof;
lp_status lp_plan_profile_start(lp_plan *p);
void lp_plan_profile_stop(lp_plan *p);
/* Seconds on a monotonic clock. */
double lp_now_s(void);
struct lp_json;
/* Writes the profile as one JSON object (docs/performance.md, "Profiling"): medians over the
 * recorded runs per step, sorted by time, with kernel, primitive, implementation and
 * conversions, plus a summary per op type. LOWP_ERR_INVALID_ARGUMENT when nothing was
 * recorded. */
lp_status lp_plan_profile_json(const lp_plan *p, struct lp_json *j);

/* "kernel" or "kernel: description" for step s, into buf (for listings and tests). */
const char *lp_plan_step_str(const lp_plan *p, int s, char *buf, size_t size);

#endif
