/* evaluate.c — lowp_evaluate: run every batch of a dataloader through a compiled session and
 * score the outputs with a metric. The session is compiled by the caller once; this loop only
 * runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/data.h"
#include "metric/metric.h"
#include "onnx/model.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Checks batch input i against the graph input's declared dtype and non-batch dims. */
static lp_status check_input(const lp_graph *g, int i, const lp_tensor *t, lowp_dataloader *dl)
{
    const lp_value *v = &g->values[g->inputs[i]];
    char want[160], got[96];
    bool ok = v->dtype == LOWP_UNDEFINED || v->dtype == t->dtype;
    if (ok && v->shape.ndim >= 0) {
        ok = v->shape.ndim == t->ndim;
        for (int k = 1; ok && k < t->ndim; k++)
            ok = !lp_dim_known(v->shape.d[k]) || v->shape.d[k] == t->dims[k];
    }
    if (ok)
        return LP_OK;
    size_t n = (size_t)snprintf(want, sizeof want, "%s", lp_dtype_traits_of(v->dtype)->name);
    if (n < sizeof want)
        lp_graph_shape_str(g, &v->shape, want + n, sizeof want - n);
    return lp_error(LOWP_ERR_SHAPE,
                    "%s: sample %lld: input %d is %s%s (batched) but the model's input '%s' is %s; "
                    "check the transforms (Transpose, Resize, Cast)",
                    lowp_dataloader_describe(dl), (long long)lowp_dataloader_batch_index(dl, 0), i,
                    lp_dtype_traits_of(t->dtype)->name, lp_shape_str(t->ndim, t->dims, got, sizeof got),
                    v->name, want);
}

static void free_tensors(lp_tensor **t, int n)
{
    for (int i = 0; i < n; i++) {
        lp_tensor_free(t[i]);
        t[i] = NULL;
    }
}

lp_status lp_evaluate_batches(lowp_session *session, const lowp_model *model, lowp_dataloader *dl,
                              lowp_metric *metric, const lowp_eval_options *options, int64_t *done_out)
{
    *done_out = 0;
    if (!session || !model || !dl || !metric)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_evaluate: NULL argument");
    lowp_eval_options opt = {0};
    if (options)
        opt = *options;
    if (!lowp_metric_compare_label(metric) && !opt.reference)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                        "metric %s has compare_label: false, which scores against the FP32 model's "
                        "outputs: give a reference model", lowp_metric_name(metric));
    const lp_graph *g = model->graph;
    int n_out = lowp_model_output_count(model);
    if (n_out < 1 || n_out > LOWP_SAMPLE_MAX_TENSORS)
        return lp_error(LOWP_ERR_UNSUPPORTED, "lowp_evaluate: the model has %d outputs (1..%d supported)",
                        n_out, LOWP_SAMPLE_MAX_TENSORS);
    lowp_dataloader_reset(dl);
    lowp_metric_reset(metric);
    int64_t total = lp_dataloader_window_length(dl), done = 0;
    lowp_sample batch = {0}, post = {0};
    lp_tensor *outs[LOWP_SAMPLE_MAX_TENSORS] = {0}, *refs[LOWP_SAMPLE_MAX_TENSORS] = {0};
    const char *names[LOWP_SAMPLE_MAX_TENSORS];
    lp_status st = LP_OK;
    for (;;) {
        int64_t count;
        st = lowp_dataloader_next(dl, &batch, &count);
        if (st != LP_OK || count == 0)
            break;
        if (batch.n_inputs != g->n_inputs) {
            st = lp_error(LOWP_ERR_SHAPE, "%s: samples have %d input tensors but the model has %d inputs",
                          lowp_dataloader_describe(dl), batch.n_inputs, g->n_inputs);
            break;
        }
        for (int i = 0; i < batch.n_inputs && st == LP_OK; i++) {
            names[i] = lowp_model_input_name(model, i);
            st = check_input(g, i, batch.inputs[i], dl);
        }
        if (st != LP_OK)
            break;
        st = lowp_session_run(session, batch.n_inputs, names, (const lowp_tensor *const *)batch.inputs,
                              n_out, outs);
        if (st == LP_OK && opt.reference)
            st = lowp_session_run(opt.reference, batch.n_inputs, names,
                                  (const lowp_tensor *const *)batch.inputs, n_out, refs);
        if (st != LP_OK) {
            st = lp_error_prefix(st, "%s: samples %lld..%lld", lowp_dataloader_describe(dl),
                                 (long long)lowp_dataloader_batch_index(dl, 0),
                                 (long long)lowp_dataloader_batch_index(dl, count - 1));
            break;
        }
        /* Postprocess and score {outputs, labels (or reference outputs)}. */
        post.n_inputs = n_out;
        memcpy(post.inputs, outs, sizeof outs);
        memset(outs, 0, sizeof outs);
        if (lowp_metric_compare_label(metric)) {
            post.n_labels = batch.n_labels;
            memcpy(post.labels, batch.labels, sizeof batch.labels);
            batch.n_labels = 0;
        } else {
            post.n_labels = n_out;
            memcpy(post.labels, refs, sizeof refs);
            memset(refs, 0, sizeof refs);
        }
        int64_t row = -1;   /* the batch row a metric refused: its sample is named */
        if (opt.postprocess)
            st = lowp_transform_apply(opt.postprocess, &post, 0);
        if (st == LP_OK) {
            st = lowp_metric_update(metric, post.n_inputs, (const lowp_tensor *const *)post.inputs,
                                    post.n_labels, (const lowp_tensor *const *)post.labels);
            row = st != LP_OK ? lp_metric_failed_row() : -1;
        }
        lowp_sample_clear(&post);
        if (st != LP_OK && row >= 0 && row < count) {
            st = lp_error_prefix(st, "%s: sample %lld", lowp_dataloader_describe(dl),
                                 (long long)lowp_dataloader_batch_index(dl, row));
            break;
        }
        if (st != LP_OK) {
            st = lp_error_prefix(st, "%s: samples %lld..%lld", lowp_dataloader_describe(dl),
                                 (long long)lowp_dataloader_batch_index(dl, 0),
                                 (long long)lowp_dataloader_batch_index(dl, count - 1));
            break;
        }
        done += count;
        if (opt.progress)
            opt.progress(opt.progress_user, done, total);
    }
    lowp_sample_clear(&batch);
    lowp_sample_clear(&post);
    free_tensors(outs, LOWP_SAMPLE_MAX_TENSORS);
    free_tensors(refs, LOWP_SAMPLE_MAX_TENSORS);
    lowp_dataloader_reset(dl);
    *done_out = done;
    return st;
}

lowp_status lowp_evaluate(lowp_session *session, const lowp_model *model, lowp_dataloader *dl,
                          lowp_metric *metric, const lowp_eval_options *options,
                          lowp_eval_result *result_out)
{
    if (!result_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_evaluate: NULL argument");
    double t0 = now_seconds();
    int64_t done = 0;
    LP_TRY(lp_evaluate_batches(session, model, dl, metric, options, &done));
    if (done == 0)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: no samples to evaluate", lowp_dataloader_describe(dl));
    double value;
    LP_TRY(lowp_metric_result(metric, &value));
    result_out->value = value;
    result_out->samples = done;
    result_out->seconds = now_seconds() - t0;
    return LP_OK;
}
