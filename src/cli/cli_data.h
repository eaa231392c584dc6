/* cli_data.h — what the data-driven commands (eval, quantize, compare, tune) share: the progress
 * display, dataloaders built from the short forms --dataset SPEC --transform LIST, and the
 * --transform / --metric options of eval and tune with the dataloader and metric they give. */
#ifndef LP_CLI_DATA_H
#define LP_CLI_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lowp.h"

double lp_cli_now(void);
/* Seconds as "m:ss" or "h:mm:ss" ("?" when negative or not finite) in buf; returns buf. */
const char *lp_cli_duration(double s, char *buf, size_t size);

/* A bar redrawn in place when stderr is a terminal; elsewhere a plain line every 10 seconds. */
typedef struct lp_progress {
    const char *label;          /* "eval", "calibration" */
    const char *unit;           /* what is counted: "samples" (NULL) or e.g. "blocks" */
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
/* The same, in a seeded random order when `shuffle` (training data). */
int lp_cli_dataloader_shuffled(const char *spec, int n_transforms, const char *const *transforms, int batch_size,
                               int64_t max_samples, bool shuffle, lowp_dataloader **out);

/* The same with dataloader options (batch size, shuffle, ...; max_samples as given in o). */
int lp_cli_dataloader_opts(const char *spec, int n_transforms, const char *const *transforms,
                           const lowp_dataloader_options *o, lowp_dataloader **out);

/* The data options of eval, tune, train and prune (quantize and compare: the transforms). */
typedef struct lp_cli_data_opts {
    const char *transforms[32];     /* -T, --transform LIST (repeatable), in order */
    int n_transforms;
    const char *metric;             /* -m, --metric SPEC; NULL: the config's, else topk */
} lp_cli_data_opts;

/* Takes argv[*i] when it is -T/--transform or -m/--metric, as lp_cli_option does: 1 with *i on
 * the value, 0 when argv[*i] is something else, -1 after a usage error. */
int lp_cli_data_option(const char *cmd, int argc, char **argv, int *i, lp_cli_data_opts *o);
/* The same for -T/--transform alone (the commands that take no metric). */
int lp_cli_transform_option(const char *cmd, int argc, char **argv, int *i, lp_cli_data_opts *o);
/* The evaluation dataloader: over dataset SPEC with o's transforms (batch_size, or
 * default_batch when 0), or without SPEC from cfg's evaluation.accuracy section (batch_size
 * and max_samples override it when > 0). Returns an exit status; *out is set on success. */
int lp_cli_eval_dataloader(const lp_cli_data_opts *o, const char *spec, const lowp_config *cfg, int batch_size,
                           int default_batch, int64_t max_samples, lowp_dataloader **out);
/* The metric (o->metric, else cfg's evaluation.accuracy.metric, else topk) and, with a config,
 * its postprocess (else *post is left NULL). Returns an exit status; on failure neither is
 * set. */
int lp_cli_metric(const lp_cli_data_opts *o, const lowp_config *cfg, lowp_metric **metric,
                  lowp_transform **post);
/* LPOT's train: section (quantization.train, pruning.train) into training options: epochs from
 * start/end_epoch, iteration, the optimizer and its arguments, the criterion and its
 * arguments. Other fields of *t are left as they are. */
struct lp_cfg_train;
struct lp_train_options;
void lp_cli_train_from_config(const struct lp_cfg_train *ct, struct lp_train_options *t);

#endif
