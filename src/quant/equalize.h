/* equalize.h — cross-layer equalization (Nagel et al. 2019, "Data-free quantization"): for two
 * weighted layers A -> [positively homogeneous ops] -> B, output channel c of A is divided by
 * s_c and input channel c of B multiplied by it, s_c = sqrt(r1_c / r2_c) with r1_c, r2_c the
 * largest |weight| of channel c in A and in B. The function is unchanged (ReLU(x/s) = ReLU(x)/s
 * for s > 0); the channels' weight ranges and, with them, the activation ranges between the
 * layers become alike, so per-tensor activation scales stop wasting levels on outlier channels.
 *
 * Layer pairs found: A = Conv (any group), Gemm (transA 0, bias 1-D or none) or MatMul with a
 * constant 2-D weight (and its bias Add when one follows); between them Relu, LeakyRelu,
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, and Flatten of a (N, C, 1, ..., 1)
 * tensor; B = every reader of the last tensor, each a Conv (any group), Gemm or MatMul with a
 * constant weight reading it as its first input. Every tensor in between has exactly one
 * reader and is not a graph output. */
#ifndef LP_EQUALIZE_H
#define LP_EQUALIZE_H

#include "ir/graph.h"

typedef struct lp_equalized {
    int n_pairs;                /* layer pairs equalized */
    int n_values;               /* entries of div and channels (the graph's n_values on return) */
    double **div;               /* per value: NULL (unchanged), or channel c now holds x_c / div[v][c] */
    int64_t *channels;          /* per value: the length of div[v] */
    int *axis;                  /* per value: its channel axis */
} lp_equalized;

/* May tensor v (rank `rank`, channel axis `axis`, `channels` channels) be rescaled? The
 * quantizer says no for tensors whose per-channel statistics it could not rescale; NULL: yes. */
typedef bool (*lp_equalize_ok)(void *user, const lp_graph *g, int v, int rank, int axis, int64_t channels);

/* Equalizes every layer pair of g (shapes inferred) in place: new private weight and bias
 * constants for the layers it changes (the old ones stay until lp_graph_compact). `sweeps`
 * passes over all pairs (chains of three or more layers converge over passes); 0 means 4. */
lp_status lp_equalize(lp_graph *g, int sweeps, lp_equalize_ok ok, void *user, lp_equalized *out);
void lp_equalized_free(lp_equalized *e);

#endif
