/* cli_data.h — what the data-driven commands (eval, quantize, compare, tune) share: the progress
 * display and dataloaders built from the short forms --dataset SPEC --transform LIST. */
#ifndef LP_CLI_DATA_H
#define LP_CLI_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "lowp.h"

double lp_cli_now(void);

/* A bar redrawn in place when stderr is a terminal; elsewhere a plain line every 10 seconds. */
typedef struct lp_progress {
    const char *label;          /* "eval", "calibration" */
    bool tty, quiet;
    double start, last;
} lp_progress;

void lp_progress_init(lp_progress *p, const char *label, bool quiet);
/* A lowp_progress_fn: `user` is the lp_progress. */
void lp_progress_update(void *user, int64_t done, int64_t total);
/* Ends an unfinished bar's line (after an error). */
void lp_progress_abort(lp_progress *p);

/* Appends a comma-separated transform list ("Rescale,Normalize=0.2860/0.3530"; a comma
 * followed by a letter starts a new transform, so Transpose=2,0,1 keeps its commas).
 * Returns an exit status. */
int lp_cli_append_transforms(lowp_transform *t, const char *list);
/* A dataloader over dataset SPEC with the transform lists applied in order. Returns an exit
 * status; *out is set on success. */
int lp_cli_dataloader(const char *spec, int n_transforms, const char *const *transforms, int batch_size,
                      int64_t max_samples, lowp_dataloader **out);

#endif
