/* observer.h — streaming statistics of one float tensor for calibration: exact min/max and a
 * fixed-size two-sided histogram whose range grows (re-binned, never re-run) as data arrives.
 * One pass serves every calibration algorithm: minmax, percentile, kl, mse.
 *
 * Mergeable: the range is always base * 2^level, where base is the first nonzero |x| max
 * seen, and a value's bin at level k+1 is exactly its bin at level k halved — so observers
 * with the same base merge into the histogram one observer fed everything has, bit for bit
 * (distributed calibration agrees on the base first: docs/distributed.md). */
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
    double base;                /* range = base * 2^level (base: 0 before any nonzero) */
    int level;
    uint64_t count;
    uint64_t hist[LP_HIST_BINS];
} lp_observer;

void lp_observer_init(lp_observer *o);
/* Adds n values (NaNs are ignored). */
void lp_observer_update(lp_observer *o, const float *x, int64_t n);
/* Forgets every value but keeps `base` as the histogram's base (0: none yet), as if the
 * values that set it had been seen elsewhere. */
void lp_observer_restart(lp_observer *o, double base);
/* Adds what `peer` saw (its values after ours: order does not matter). Fails — changing
 * nothing — when both saw nonzero values from different bases. */
lp_status lp_observer_merge(lp_observer *o, const lp_observer *peer);

/* The clip range [*lo, *hi] the algorithm picks. `symmetric` tells how the range will be
 * quantized (int8 symmetric vs uint8 asymmetric), which changes what kl and mse optimize.
 * `percentile` is used by LP_CALIB_PERCENTILE (e.g. 99.99). The range always includes 0. */
void lp_observer_range(const lp_observer *o, lp_calib_algo algo, bool symmetric, double percentile,
                       double *lo, double *hi);

/* "minmax" <-> LP_CALIB_MINMAX ...; -1 when unknown. */
int lp_calib_algo_from_name(const char *name);
const char *lp_calib_algo_name(lp_calib_algo a);

#endif
