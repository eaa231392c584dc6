/* infer.h — shape/type inference over the graph, node by node, through each op's infer. */
#ifndef LP_INFER_H
#define LP_INFER_H

#include "ops/op.h"

/* The most inputs or outputs one node may have (Concat of many tensors is the usual case). */
#define LP_MAX_NODE_IO 256

/* Runs the infer function of node `ni` on the current dtypes/shapes/constant values of its
 * inputs. `out` has n_out entries; on success each holds the output's dtype and shape, and
 * possibly a value the op computed outright (owned by the caller). Checks the input and
 * output counts against the op's definition. Unknown ops fail with LOWP_ERR_UNSUPPORTED. */
lp_status lp_node_infer(const lp_graph *g, int ni, lp_vinfo *out);
/* The same with the input vinfos given explicitly (NULL for omitted inputs), e.g. built from
 * the tensors of a run. */
lp_status lp_node_infer_with(const lp_graph *g, int ni, const lp_vinfo *const *in, lp_vinfo *out);

/* Infers every intermediate value's dtype and shape, in node order (the graph must be
 * topologically sorted). Where the file declared a shape (value_info, graph outputs) and
 * inference knows less, the declared one is kept. With strict false, a node that cannot be
 * inferred (unknown op, error) leaves its outputs unknown and inference goes on. */
lp_status lp_graph_infer(lp_graph *g, bool strict);
/* The end of a pass that built graph g: when st is LP_OK, drops the dead nodes (compact), orders
 * the rest and infers (not strict); then *out = g, or g is freed and the failure returned. */
lp_status lp_graph_finish(lp_graph *g, lp_status st, lp_graph **out);

/* Frees values computed by infer in out[0..n). */
void lp_vinfo_release(lp_vinfo *out, int n);



/* Evaluates node `ni` with its reference kernel when every input it reads is a constant:
 * outs[k] receives a new tensor per output (NULL for omitted outputs); the caller owns them.
 * Refuses (LOWP_ERR_UNSUPPORTED, naming the node, its output sizes and the override) when the
 * outputs it would materialize exceed the folding cap (lp_fold_limit). */
lp_status lp_node_eval(const lp_graph *g, int ni, lp_tensor **outs);
/* lp_node_eval that, instead of refusing, sets *over (outs untouched) when the outputs would
 * exceed the folding cap: for passes that then leave the node unfolded. */
lp_status lp_node_eval_capped(const lp_graph *g, int ni, lp_tensor **outs, bool *over);
/* The most bytes compile-time folding may materialize per node: LP_FOLD_LIMIT_DEFAULT, or the
 * environment variable LOWP_FOLD_LIMIT (bytes, or with a K, M or G suffix: 1024-based). A
 * malformed value is an error naming it. */
lp_status lp_fold_limit(uint64_t *bytes_out);
#endif
