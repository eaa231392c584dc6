/* metric.h — internals of the metric layer: the metric object and the built-in vtables. */
#ifndef LP_METRIC_H
#define LP_METRIC_H

#include "base/tensor.h"
#include "data/params.h"

struct lowp_metric {
    const lowp_metric_vtable *vt;
    void *state;
    int compare_label;
    int higher_is_better;   /* -1: the vtable's */
};

extern const lowp_metric_vtable lp_metric_topk, lp_metric_accuracy, lp_metric_loss, lp_metric_mae,
    lp_metric_mse, lp_metric_rmse, lp_metric_f1, lp_metric_map, lp_metric_coco_map, lp_metric_voc_map,
    lp_metric_miou, lp_metric_bleu, lp_metric_squad_f1;

const lowp_metric_vtable *lp_metric_find(const char *name);
/* Every registered metric, built-ins first: lp_metric_at(0 .. lp_metric_count() - 1). */
int lp_metric_count(void);
const lowp_metric_vtable *lp_metric_at(int i);
/* A refused peer state (truncated, another metric's, other parameters). */
lp_status lp_metric_bad_state(const char *what);
void lp_metric_names(char *buf, size_t size);
/* Creates from a params view (keeps its file and key path for messages). */
lp_status lp_metric_create_params(const char *name, lowp_params *params, lowp_metric **out);

/* Several metrics as one (multi_metrics, multi.c). With weights: value mean(weights[i] *
 * value_i) in the direction higher_is_better. Without (NULL): each metric against its own
 * target, in the direction each_higher_is_better[i] (NULL: the metric's own); the value is the
 * first metric's until lp_metric_multi_freeze, then the worst metric's change from its
 * baseline (0 at the baseline, higher is better). Takes the n metrics (frees them also when it
 * fails); they must agree on compare_label. */
lp_status lp_metric_create_multi(int n, lowp_metric **metrics, const double *weights, int higher_is_better,
                                 const int *each_higher_is_better, lowp_metric **out);
/* multi_metrics without weights. */
bool lp_metric_multi_each(const lowp_metric *m);
/* Takes the values of its last result as the baselines (relative: changes are divided by
 * |baseline|); *n_out metrics, the first `max` baselines into base_out. */
lp_status lp_metric_multi_freeze(lowp_metric *m, bool relative, int *n_out, double *base_out, int max);
/* The i-th metric's name. */
const char *lp_metric_multi_name(const lowp_metric *m, int i);

/* A metric's refusal of one row of the batch it is scoring (a label out of range, NaN...):
 * records the message, prefixed "row N: ", and the row, so that lowp_evaluate can name the
 * dataset sample behind it. */
lp_status lp_metric_row_error(int64_t row, lp_status st, const char *fmt, ...) LP_PRINTF(3, 4);
/* The batch row that the last failed lowp_metric_update on this thread refused, or -1 (the
 * batch as a whole was refused, or the update succeeded). */
int64_t lp_metric_failed_row(void);

/* lowp_evaluate's loop without the result: resets the dataloader and the metric, feeds every
 * batch (of this rank's share, when the dataloader is sharded), *done_out = samples scored
 * (0 is fine: an empty share). */
lp_status lp_evaluate_batches(lowp_session *session, const lowp_model *model, lowp_dataloader *dl,
                              lowp_metric *metric, const lowp_eval_options *options, int64_t *done_out);

#endif
