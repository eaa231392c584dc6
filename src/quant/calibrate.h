/* calibrate.h — calibration: run the (optimized) FP32 model over samples and watch every float
 * activation through the engine's tap, one observer per tensor. Memory is fixed per tensor
 * (a histogram), independent of the number of samples. */
#ifndef LP_CALIBRATE_H
#define LP_CALIBRATE_H

#include "engine/session.h"
#include "quant/observer.h"

struct lowp_calibration {
    lowp_session *session;      /* over the model, optimized: value names match lp_quantize's graph */
    lp_strmap index;            /* value name -> observer */
    int n_obs;
    char **names;               /* owned; keys of index */
    lp_observer *obs;
    int64_t samples;
};

typedef struct lowp_calibration lp_calibration;

/* The observer of value `name`, or NULL when that tensor was never seen. */
const lp_observer *lp_calibration_find(const lp_calibration *c, const char *name);

#endif
