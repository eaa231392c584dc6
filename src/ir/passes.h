/* passes.h — graph rewrites that do not change results: each returns LP_OK or an error
 * naming the node, and leaves the graph valid (dead nodes marked, compacted by the caller
 * or by lp_graph_optimize). */
#ifndef LP_PASSES_H
#define LP_PASSES_H

#include "ir/graph.h"

typedef struct lp_pass_options {
    /* Keep DequantizeLinear nodes on constant weights (a QDQ model's weights stay int8 so
     * that the engine can lower them to INT8 kernels and export keeps the QDQ form). */
    bool keep_dequantize;
} lp_pass_options;

/* Removes Identity, and Dropout in inference form, rewiring readers to the input. */
lp_status lp_pass_remove_identity(lp_graph *g);
/* Evaluates nodes whose inputs are all constants (incl. Constant nodes) into constants. */
lp_status lp_pass_fold_constants(lp_graph *g, const lp_pass_options *opt);
/* Replaces every If whose condition is a constant by the branch it selects (*changed: any). */
lp_status lp_pass_fold_if(lp_graph *g, bool *changed);
/* Gives every subgraph its own copy of the constants it reads from g (outer values that are
 * constants here become constants there; the node loses those implicit inputs). */
lp_status lp_pass_bind_outer_constants(lp_graph *g);
/* Folds an inference BatchNormalization into the Conv or Gemm that alone feeds it. */
lp_status lp_pass_fold_batchnorm(lp_graph *g);
/* Marks nodes dead when nothing reads their outputs. */
lp_status lp_pass_dead_nodes(lp_graph *g);
/* FP16/BF16 models computed in FP32 (ir/float16.c): half constants, tensor attributes and
 * Cast/dtype type attributes become float32 (also inside subgraphs); half graph inputs are read
 * through a Cast to float32 and half outputs Cast back, so the model's interface is unchanged;
 * Casts left float32 -> float32 are removed. *n_widened: tensors and boundaries changed (0:
 * the graph was not touched). */
lp_status lp_pass_float16(lp_graph *g, int *n_widened);
/* All of the above in a sensible order (Ifs folded until none is decided by constants;
 * subgraphs optimized too), then compact + toposort + non-strict inference. */
lp_status lp_graph_optimize(lp_graph *g, const lp_pass_options *opt);

#endif
