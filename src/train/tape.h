/* tape.h — reverse-mode differentiation over a graph of lowp's IR.
 *
 * A tape runs a graph forward node by node with the reference kernels (or the training-mode
 * forward of grad.h's rows), keeping every intermediate tensor, then walks the nodes backward
 * through their lp_grad_def rows, accumulating float32 gradients per value. Parameters are the
 * float constants read at an input a row marks trainable (weights, biases, BN scale/shift; the
 * quantization scales with learn_scale); the optimizer updates them in place, in the graph.
 *
 *     lp_tape *t;  lp_tape_create(graph, &opts, &t);       // graph must outlive t
 *     lp_tape_forward(t, inputs, true, seed);              // inputs in graph input order
 *     lp_tape_backward(t, 1, &logits_value, &dlogits);     // seeds dLoss/dvalue
 *     lp_tape_grad(t, lp_tape_param(t, i)) ...             // then an optimizer step
 *
 * The graph must be topologically sorted; shapes are inferred per run from the inputs.
 * Intermediates between oneDNN ops may be stored in oneDNN's blocked layouts (grad.h's
 * lp_layout_kind); lp_tape_value returns a plain copy of those. */
#ifndef LP_TRAIN_TAPE_H
#define LP_TRAIN_TAPE_H

#include "ir/graph.h"

typedef struct lp_tape lp_tape;

typedef struct lp_tape_options {
    bool learn_scale;          /* QuantizeLinear/DequantizeLinear scales are parameters (LSQ) */
    bool grad_inputs;          /* gradients also reach the graph inputs (tests, attributions) */
    bool profile;              /* time every node's forward and backward (lp_tape_node_ms) */
} lp_tape_options;

/* Checks every node (known op, kernel implemented), finds the parameters and which values a
 * gradient can reach. `g` is not copied: it must outlive the tape, and only the parameters'
 * and running statistics' data may change meanwhile. */
lp_status lp_tape_create(lp_graph *g, const lp_tape_options *opts, lp_tape **out);
void lp_tape_free(lp_tape *t);

/* Runs the graph on `inputs` (one per graph input, in order; the tape keeps no pointer past
 * the next forward). `training`: training-mode forwards (batch statistics, dropout), with
 * random masks drawn from `seed`. Frees the previous run's tensors and gradients. */
lp_status lp_tape_forward(lp_tape *t, lp_tensor *const *inputs, bool training, uint64_t seed);
/* The last forward's tensor of value v (a constant's own tensor), or NULL. */
const lp_tensor *lp_tape_value(const lp_tape *t, int v);

/* Back-propagates from dLoss/d(values[k]) = grads[k] (float32, the values' shapes; copied).
 * Gradients of parameters add up over calls until lp_tape_zero_grad (gradient accumulation).
 * A node on the gradient path without a backward is an error naming it and its op. */
lp_status lp_tape_backward(lp_tape *t, int n, const int *values, const lp_tensor *const *grads);
/* dLoss/dv after a backward (float32, v's shape), or NULL when none reached v. */
lp_tensor *lp_tape_grad(const lp_tape *t, int v);
void lp_tape_zero_grad(lp_tape *t);

/* The parameters: value indices of float constants that gradients update. */
int lp_tape_n_params(const lp_tape *t);
int lp_tape_param(const lp_tape *t, int i);
/* Stops value v (a parameter) from being one: the hook of a caller that freezes tensors. */
void lp_tape_freeze(lp_tape *t, int v);
/* With options.profile: node ni's forward and backward wall time in ms, summed over every
 * run since the tape was created (0 without profiling). */
void lp_tape_node_ms(const lp_tape *t, int ni, double *fwd_ms, double *bwd_ms);
/* The graph the tape runs. */
lp_graph *lp_tape_graph(const lp_tape *t);

#endif
