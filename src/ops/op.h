/* op.h — the operator interface: one lp_op_def per ONNX op, listed once in ops.def.
 *
 * An op's life is infer -> run. `infer` computes output dtypes and shapes from input
 * dtypes/shapes (and input values where they are constant); the IR runs it with symbolic
 * shapes, the engine with concrete ones, so infer must accept unknown dims (LP_DIM_UNKNOWN,
 * symbolic codes), unknown ranks (ndim -1) and unknown values (value NULL) and answer with
 * unknowns where it cannot know — it fails only on definite inconsistencies (wrong rank,
 * mismatched dims, bad attribute), naming the node via lp_node_error().
 * `run` is the plain C reference kernel: inputs are given, outputs are preallocated with the
 * dtype and shape that infer produced for these inputs. It must not keep pointers past
 * return; it may use malloc for temporaries and must free them on every path. */
#ifndef LP_OP_H
#define LP_OP_H

#include "ir/graph.h"

typedef struct lp_vinfo {
    lp_dtype dtype;             /* LOWP_UNDEFINED if unknown */
    lp_shape shape;
    /* Inputs: the constant value when known (else NULL). Outputs: infer MAY set a new
     * tensor it computed outright (e.g. Shape of a static shape); the caller owns it. */
    lp_tensor *value;
} lp_vinfo;

typedef struct lp_infer_ctx {
    const lp_node *node;
    int64_t opset;              /* opset version imported for the node's domain */
    int n_in, n_out;
    const lp_vinfo *const *in;  /* NULL entries for omitted optional inputs */
    lp_vinfo *out;              /* n_out entries, zeroed (ndim 0) on entry */
} lp_infer_ctx;

typedef struct lp_run_ctx {
    const lp_node *node;
    int64_t opset;
    int n_in, n_out;
    const lp_tensor *const *in; /* NULL entries for omitted optional inputs */
    lp_tensor *const *out;      /* preallocated; NULL for omitted optional outputs */
} lp_run_ctx;

typedef struct lp_op_def {
    const char *name;           /* ONNX op_type */
    const char *domain;         /* "" = ai.onnx */
    int min_in, max_in;         /* counts checked before infer */
    int min_out, max_out;
    lp_status (*infer)(lp_infer_ctx *c);
    lp_status (*run)(const lp_run_ctx *c);
    unsigned optional_in;       /* bit k: input k < min_in may be omitted ("") in a file (Resize's
                                   roi); every other input below min_in is checked present before
                                   infer, so ops may read them without a NULL check */
} lp_op_def;

/* The registry, generated from ops.def. */
typedef enum lp_op_id {
#define LP_OP(name, family) LP_OP_##name,
#include "ops/ops.def"
#undef LP_OP
    LP_OP_COUNT
} lp_op_id;

#define LP_OP(name, family) extern const lp_op_def lp_opdef_##name;
#include "ops/ops.def"
#undef LP_OP

/* Op id for (domain, op_type), -1 if lowp has no such op. "ai.onnx" means "". */
int lp_op_find(const char *domain, const char *op_type);
/* The definition of op `id` (0 <= id < LP_OP_COUNT). */
const lp_op_def *lp_op_get(int id);
/* True when op `id` has a reference kernel. */
bool lp_op_implemented(int id);

/* ---- helpers shared by op implementations ---- */

/* Normalizes a possibly negative axis for a tensor of rank `rank`; fails (naming the node)
 * when out of range. */
lp_status lp_op_axis(const lp_node *n, int64_t axis, int rank, int *axis_out);

/* Numpy-style multidirectional broadcast of `n` shapes (unknown/symbolic dims allowed). */
lp_status lp_broadcast_shapes(const lp_node *node, int n, const lp_shape *const *in, lp_shape *out);

/* Element strides of a tensor with dims `in` (rank in_nd) broadcast to `out` (rank out_nd):
 * strides[out_nd], 0 along broadcast dims. */
void lp_broadcast_strides(int in_nd, const int64_t *in, int out_nd, const int64_t *out,
                          int64_t *strides);

/* Reads a constant integer input (any int type) into vals (up to `max`); *n_out = count.
 * Returns LP_OK with *n_out = -1 when the value is not known (v NULL or no value). */
lp_status lp_vinfo_ints(const lp_node *node, const lp_vinfo *v, int64_t *vals, int max, int *n_out);

/* Fails (naming the node and `what`) unless 0 <= a * b <= LP_MAX_VALUE_SIZED_ELEMS; *out = a * b.
 * For outputs whose size comes from input values (OneHot depth, TopK k, ...). */
lp_status lp_op_check_count(const lp_node *n, int64_t a, int64_t b, const char *what, int64_t *out);

/* Sorts idx[0..n) by cmp(ctx, a, b) (<0, 0, >0), stably: equal keys keep their order. */
lp_status lp_sort_indices(int64_t *idx, int64_t n, int (*cmp)(const void *ctx, int64_t a, int64_t b),
                          const void *ctx);

/* For ops that compute an output outright (sizes chosen by values): infer hands the tensor to
 * an output vinfo (which then owns it: dtype, shape and value); run copies it into the
 * output the engine sized (c->out[k], skipped when NULL), checking the sizes agree. Both take
 * ownership of t (NULL allowed). */
void lp_vinfo_give(lp_vinfo *v, lp_tensor *t);
lp_status lp_op_copy_computed(const lp_run_ctx *c, int k, lp_tensor *t);

/* Input i's inferred shape (rank -1, unknown, when absent or left empty) and dtype
 * (LOWP_UNDEFINED when absent). */
const lp_shape *lp_in_shape(const lp_infer_ctx *c, int i);
lp_dtype lp_in_dtype(const lp_infer_ctx *c, int i);
/* Fails naming the node unless inputs 0..count-1 are present (a model may leave a
 * required input empty, "", which arrives as NULL). */
lp_status lp_need_inputs(const lp_run_ctx *c, int count);

/* Shape of a concrete tensor as an lp_shape. */
void lp_shape_of(const lp_tensor *t, lp_shape *s);

/* Sets an output vinfo to dtype + static dims. */
void lp_vinfo_set(lp_vinfo *v, lp_dtype dtype, int ndim, const int64_t *dims);

#endif
