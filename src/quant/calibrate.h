/* calibrate.h — calibration: run the (optimized) FP32 model over samples and watch every float
 * activation through the engine's tap, one observer per tensor. Memory is fixed per tensor
 * (a histogram), independent of the number of samples. */
#ifndef LP_CALIBRATE_H
#define LP_CALIBRATE_H

#include "base/xsum.h"
#include "engine/session.h"
#include "quant/observer.h"

/* Per-channel statistics of one tensor, for bias correction and SmoothQuant. The channel axis
 * is 1 for rank >= 4 (NCHW feature maps) and the last axis otherwise (features of 2-D/3-D
 * activations), which is the axis the consuming Conv / MatMul / Gemm reduces over. */
typedef struct lp_channel_stats {
    int64_t channels;           /* 0 until the first update, -1 when shapes disagree */
    double *min, *max, *sum;    /* per channel; sum: the exact sum (acc), rounded */
    lp_xsum32 *acc;             /* per channel: exact, so shards merge to the same sums */
    int64_t count;              /* values per channel summed */
} lp_channel_stats;

/* Calibration inputs kept for block reconstruction (lowp_calibration_for_recipe with
 * block_reconstruction): whole batches as fed, until LP_CALIB_KEEP_SAMPLES samples or
 * LP_CALIB_KEEP_BYTES bytes are held; later batches only update the statistics. */
#define LP_CALIB_KEEP_SAMPLES 1024
#define LP_CALIB_KEEP_BYTES ((int64_t)256 << 20)
typedef struct lp_calib_kept {
    int n_inputs;               /* tensors per batch: the graph's inputs in order */
    int n_batches, cap;
    lp_tensor **t;              /* n_batches * n_inputs, owned */
    int64_t samples, bytes;     /* held */
    int64_t dropped;            /* samples seen past the bounds (not kept) */
} lp_calib_kept;

struct lowp_calibration {
    lowp_session *session;      /* over the model, optimized: value names match lp_quantize's graph */
    lp_strmap index;            /* value name -> observer */
    int n_obs;
    char **names;               /* owned; keys of index */
    lp_observer *obs;
    lp_channel_stats *channels; /* one per observer */
    int64_t samples;
    struct lp_grams *grams;     /* layer-input moments for learned rounding, NULL: not collected */
    lp_calib_kept *kept;        /* inputs for block reconstruction, NULL: not kept */
};

typedef struct lowp_calibration lp_calibration;

/* The observer of value `name`, or NULL when that tensor was never seen. */
const lp_observer *lp_calibration_find(const lp_calibration *c, const char *name);
/* Its per-channel statistics, or NULL. */
const lp_channel_stats *lp_calibration_channels(const lp_calibration *c, const char *name);

/* Distributed calibration (src/dist/calib.c): the statistics as bytes; a peer's merged in
 * (LOWP_ERR_UNSUPPORTED when some histogram's base differs from ours: rebase[i] is then set
 * for those observers, and the calibration is half-merged: restart it); the statistics
 * replaced by saved ones; every statistic cleared, each histogram's base set to bases[i]
 * (NULL: kept), as when values that set the base were seen elsewhere. */
lp_status lp_calibration_save(const lp_calibration *c, void **out, size_t *size);
lp_status lp_calibration_merge(lp_calibration *c, const void *bytes, size_t size, unsigned char *rebase);
lp_status lp_calibration_load(lp_calibration *c, const void *bytes, size_t size);
void lp_calibration_restart(lp_calibration *c, const double *bases);

#endif
