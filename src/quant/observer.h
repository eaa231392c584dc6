/* observer.h — streaming statistics of one float tensor for calibration: exact min/max and a
 * fixed-size two-sided histogram whose range grows (re-binned, never re-run) as data arrives.
 * One pass serves every calibration algorithm: minmax, percentile, kl, mse. */
#ifndef LP_OBSERVER_H
#define LP_OBSERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"

#define LP_HIST_BINS 2048 /* even: bins [0, BINS/2) hold negatives, [BINS/2, BINS) positives */

typedef enum lp_calib_algo {
    LP_CALIB_MINMAX = 0,
    LP_CALIB_PERCENTILE,
    LP_CALIB_KL,
    LP_CALIB_MSE,
} lp_calib_algo;

typedef struct lp_observer {
    double min, max;            /* exact over everything seen */
    double range;               /* the histogram covers [-range, range]; 0 before any nonzero */
    uint64_t count;
    uint64_t hist[LP_HIST_BINS];
} lp_observer;

void lp_observer_init(lp_observer *o);
/* Adds n values (NaNs are ignored). */
void lp_observer_update(lp_observer *o, const float *x, int64_t n);

/* The clip range [*lo, *hi] the algorithm picks. `symmetric` tells how the range will be
 * quantized (int8 symmetric vs uint8 asymmetric), which changes what kl and mse optimize.
 * `percentile` is used by LP_CALIB_PERCENTILE (e.g. 99.99). The range always includes 0. */
void lp_observer_range(const lp_observer *o, lp_calib_algo algo, bool symmetric, double percentile,
                       double *lo, double *hi);

/* "minmax" <-> LP_CALIB_MINMAX ...; -1 when unknown. */
int lp_calib_algo_from_name(const char *name);
const char *lp_calib_algo_name(lp_calib_algo a);

#endif
