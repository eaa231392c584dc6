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
/* Folds an inference BatchNormalization into the Conv or Gemm that alone feeds it. */
lp_status lp_pass_fold_batchnorm(lp_graph *g);
/* Marks nodes dead when nothing reads their outputs. */
lp_status lp_pass_dead_nodes(lp_graph *g);
/* All of the above in a sensible order, then compact + toposort + strict inference. */
lp_status lp_graph_optimize(lp_graph *g, const lp_pass_options *opt);

#endif
