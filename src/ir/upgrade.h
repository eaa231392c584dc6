/* upgrade.h — ONNX opset 7-12 graphs rewritten to opset 13 (ir/upgrade.c). */
#ifndef LP_UPGRADE_H
#define LP_UPGRADE_H

#include "ir/graph.h"

/* Rewrites `g` (and its subgraphs) from the default-domain opset it imports (7 to 12) to 13:
 * every op whose signature or meaning changed in between takes its opset-13 form with the same
 * results (attributes that became inputs: Slice, TopK, Clip, Pad, Squeeze, Unsqueeze,
 * ReduceSum, Split, Dropout; Upsample and Resize-10 -> Resize-13; Scatter -> ScatterElements;
 * Softmax/LogSoftmax/Hardmax's 2-D coercion; BatchNormalization's spatial); node names and the
 * names of the values they produce are kept (calibration and recipes refer to them); the
 * opset imports become 13 and the IR version at least 7. A model at 13 or newer is left as
 * is. Fails naming the node it cannot convert (an opset before 7 fails outright); `g` is then
 * partly rewritten: upgrade a copy. *n_changed (may be NULL): nodes rewritten. */
lp_status lp_graph_upgrade(lp_graph *g, int *n_changed);

#endif
