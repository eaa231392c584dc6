/* compare.h — per-layer error between an FP32 model and its quantized twin: run both on the
 * same batches, match tensors by name, accumulate signal and noise energy per tensor. Also the
 * sensitivity signal of the tuner's mse strategies. */
#ifndef LP_COMPARE_H
#define LP_COMPARE_H

#include "base/tensorboard.h"
#include "engine/session.h"

typedef struct lp_layer_error {
    char *node;                 /* the node that produces (activation) or reads (weight) it */
    char *op_type;
    char *tensor;
    bool is_weight;
    double signal, noise;       /* sum x^2, sum (x - y)^2 */
    double abs_err, abs_ref;    /* sum |x - y|, sum |x| */
    int64_t count;
    lp_tb_histo hist[2];        /* the values: [0] the FP32 model's, [1] the quantized one's */
} lp_layer_error;

struct lowp_comparison {
    lowp_session *fp32, *quant;
    int n, cap;
    lp_layer_error *layers;
    lp_strmap index;            /* tensor name -> layer (activations) */
    lp_tensor **ref;            /* per fp32 plan value: copy of the last batch's tensor */
    int n_ref;
    int64_t samples;
};

typedef struct lowp_comparison lp_comparison;

/* SQNR in dB (signal / noise; +inf when the tensors are identical) and relative L1 error. */
double lp_layer_sqnr(const lp_layer_error *e);
double lp_layer_rel_error(const lp_layer_error *e);

/* Sorts worst (lowest SQNR) first. */
void lp_comparison_sort(lp_comparison *c);

/* Adds one histogram per compared tensor (tag: its name) of side 0 (FP32) or 1 (quantized)
 * at `step` to an event file. Sorts first. */
lp_status lp_comparison_tb_histograms(lp_comparison *c, int side, lp_tb_file *f, int64_t step);

#endif
