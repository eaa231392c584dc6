/* adaround.h — learned rounding of weights on calibration data (AdaRound's per-layer objective,
 * Nagel et al. 2020): instead of rounding each weight to the nearest level, choose per weight
 * "down or up" (and per output channel the scale) so that the layer's output changes least on
 * the calibration inputs:
 *
 *     minimise over q:  E_x [ ((s q - w) . x)^2 ]  =  d^T H d,   d = s q - w,  H = E[x x^T]
 *
 * per output channel (row w of the weight, x the matching input patch: the im2col column of a
 * Conv's group, the feature row of a Gemm/MatMul). H is the second moment of the layer's FP32
 * inputs, collected during calibration (lp_grams). The scale is searched over clip ratios
 * 1.0 .. 0.6 of max|w| / qmax, then the rounding by coordinate descent: each weight flips
 * between floor and ceil when that lowers d^T H d (the gradient H d is kept up to date, O(K)
 * per flip), sweeping until no flip helps. Memory per layer is bounded (LP_GRAM_MAX_ELEMS);
 * larger layers keep nearest rounding. */
#ifndef LP_ADAROUND_H
#define LP_ADAROUND_H

#include "ir/graph.h"

#define LP_GRAM_MAX_ELEMS (4 * 1024 * 1024)  /* doubles of H per layer: 32 MB */
#define LP_GRAM_ROWS_PER_BATCH 1024          /* input patches/rows sampled per batch */

/* Second moments of one weighted node's inputs. */
typedef struct lp_gram {
    char *node, *input;         /* the node and the value it reads */
    int op;                     /* LP_OP_Conv, _Gemm or _MatMul */
    int64_t groups, k;          /* H is groups x k x k: k = C/group * kernel elements, or K */
    double *h;                  /* sums of x x^T (lower triangle: h[i * k + j], j <= i) */
    int64_t count;              /* patches/rows summed (per group) */
    const lp_node *n;           /* borrowed from the graph given to lp_grams_new */
    const lp_tensor *w;         /* its weight, borrowed likewise */
    bool bad;                   /* a batch did not fit the weight: unusable */
} lp_gram;

typedef struct lp_grams {
    int n;
    lp_gram *g;
    uint64_t rng;               /* which patches are sampled: deterministic */
} lp_grams;

/* Registers every Conv (1-D/2-D), Gemm and MatMul of g with a constant float weight whose H
 * fits LP_GRAM_MAX_ELEMS. g must outlive the grams and not change. */
lp_status lp_grams_new(const lp_graph *g, lp_grams **out);
void lp_grams_free(lp_grams *gs);
/* Adds tensor t (the value named `name`) to the moments of every node reading it. */
void lp_grams_observe(lp_grams *gs, const char *name, const lp_tensor *t);
/* The moments of node `node`, or NULL (never seen, unusable, or not registered). */
const lp_gram *lp_grams_find(const lp_grams *gs, const char *node);

/* Quantizes weight w of node n (the node the gram belongs to) symmetrically to [-qmax, qmax]
 * along `axis` (the output-channel axis, or -1: one scale), rounding learned against gram `h`.
 * `div` (NULL: none): the node's input channel c is now x_c / div[c] (equalization, SmoothQuant
 * ran after calibration), so H is rescaled to match. Outputs as lp_quantize_weight. */
lp_status lp_adaround_weight(const lp_node *n, const lp_tensor *w, const lp_gram *h, const double *div,
                             int64_t n_div, int axis, int qmax, lp_tensor **q_out, float **scales_out,
                             int64_t *n_out);

#endif
