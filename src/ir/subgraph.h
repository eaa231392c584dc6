/* subgraph.h — shape inference into subgraphs and a plain interpreter that runs them: the
 * reference semantics of If, Loop and Scan (ops/control.c) rest on these two.
 *
 * A subgraph is bound positionally: `outer[j]` feeds its outer value j (g->outer[j]), `inputs[i]`
 * its graph input i (a Loop body's iteration number, condition and carried values; a Scan
 * body's states and slices). Both recurse into nested control flow through the ops, so each
 * call counts its depth (thread-local) and refuses to go deeper than LP_MAX_GRAPH_NESTING. */
#ifndef LP_SUBGRAPH_H
#define LP_SUBGRAPH_H

#include "ops/op.h"

/* Infers the dtypes and shapes of `sub`'s outputs (out[0 .. sub->n_outputs)) from those of its
 * outer values and inputs (NULL entries: unknown). Values known in the vinfos propagate as
 * constants, so an output that is computed outright comes back with a value (owned by the
 * caller; release with lp_vinfo_release). Declared output types fill in what inference does
 * not know. Non-strict: a node that cannot be inferred leaves its outputs unknown. */
lp_status lp_subgraph_infer(const lp_graph *sub, const lp_vinfo *const *outer, const lp_vinfo *const *inputs,
                            lp_vinfo *out);

/* Runs `sub` with the reference kernels: outs[0 .. sub->n_outputs) receive new tensors (the
 * caller owns them). `what` names the node running it, for messages. */
lp_status lp_subgraph_run(const lp_graph *sub, const lp_tensor *const *outer, const lp_tensor *const *inputs,
                          lp_tensor **outs);

#endif

/* Replaces If node `ni` of `g`, whose condition is a constant, by the nodes of the branch it
 * selects, placed right after it (so a walk over g's nodes in order meets them next): the
 * branch's outer values become the If's implicit inputs, its own values and initializers new
 * values of g (named as in the branch when the name is free), its outputs the If's outputs.
 * Nested control flow comes along unchanged. *inlined is false (and g unchanged) when the
 * condition is not a constant. */
lp_status lp_graph_inline_if(lp_graph *g, int ni, bool *inlined);
