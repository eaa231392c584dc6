/* eval.c — sharded evaluation: each rank scores its block of whole batches, rank 0 merges the
 * metric states in rank order (= batch order) and every rank gets the one value. Batches are
 * never split, so each batch's outputs are the bits one process computes; the built-in metrics
 * keep exact sums or lists, so the merged value is one process's value, bit for bit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/bytes.h"
#include "data/data.h"
#include "dist/dist.h"
#include "metric/metric.h"

typedef struct eval_merge {
    lowp_metric *metric;
    int64_t samples;
    double value;
} eval_merge;

/* payload: u64 samples, then the metric state */
static lp_status fold(void *user, int rank, const void *payload, size_t n)
{
    eval_merge *em = user;
    lp_reader r;
    lp_reader_init(&r, payload, n);
    uint64_t samples = lp_reader_u64(&r);
    if (r.bad)
        return lp_error(LOWP_ERR_INTERNAL, "rank %d sent a short evaluation state", rank);
    em->samples += (int64_t)samples;
    if (rank == 0)
        return LP_OK;   /* rank 0's own state is already in the metric */
    return lp_error_prefix(lowp_metric_merge(em->metric, r.p, r.left), "rank %d", rank);
}

static lp_status answer(void *user, void **out, size_t *n)
{
    eval_merge *em = user;
    if (em->samples == 0)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "no samples to evaluate");
    LP_TRY(lowp_metric_result(em->metric, &em->value));
    lp_bytes b = {0};
    lp_bytes_f64(&b, em->value);
    lp_bytes_u64(&b, (uint64_t)em->samples);
    return lp_bytes_finish(&b, out, n);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Progress from rank 0 only, scaled to the whole epoch (rank 0's share is about 1/size). */
typedef struct scaled_progress {
    lowp_progress_fn fn;
    void *user;
    int size;
    int64_t total;
} scaled_progress;

static void progress_scaled(void *user, int64_t done, int64_t total)
{
    scaled_progress *sp = user;
    (void)total;
    int64_t d = done * sp->size;
    sp->fn(sp->user, d < sp->total ? d : sp->total, sp->total);
}

lowp_status lowp_evaluate_distributed(const lowp_comm *comm, lowp_session *session, const lowp_model *model,
                                      lowp_dataloader *dl, lowp_metric *metric, const lowp_eval_options *options,
                                      lowp_eval_result *result_out)
{
    if (!lp_dist_active(comm))
        return lowp_evaluate(session, model, dl, metric, options, result_out);
    if (!result_out || !metric || !comm->gather || !comm->bcast || comm->rank < 0 || comm->rank >= comm->size)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_evaluate_distributed: NULL argument, or rank %d of %d",
                        comm->rank, comm->size);
    double t0 = now_seconds();
    lowp_eval_options opt = options ? *options : (lowp_eval_options){0};
    scaled_progress sp = {opt.progress, opt.progress_user, comm->size, lowp_dataloader_length(dl)};
    if (opt.progress && comm->rank == 0)
        opt.progress = progress_scaled, opt.progress_user = &sp;
    else
        opt.progress = NULL;
    int64_t done = 0;
    void *state = NULL;
    size_t state_n = 0;
    /* the metric must merge: checked before any work (every rank has the same metric) */
    lp_status st = lowp_metric_save(metric, &state, &state_n);
    free(state);
    state = NULL, state_n = 0;
    if (st == LP_OK) {
        int64_t first, end;
        lp_dist_block(comm, lp_dataloader_units(dl, 0), &first, &end);
        lp_dataloader_window(dl, first, end, 0);
        st = lp_evaluate_batches(session, model, dl, metric, &opt, &done);
        lp_dataloader_unwindow(dl);
    }
    if (st == LP_OK)
        st = lowp_metric_save(metric, &state, &state_n);
    lp_bytes b = {0};
    lp_bytes_u64(&b, (uint64_t)done);
    lp_bytes_put(&b, state, state_n);
    free(state);
    void *payload = NULL, *ans = NULL;
    size_t payload_n = 0, ans_n = 0;
    lp_status bst = lp_bytes_finish(&b, &payload, &payload_n);
    if (st == LP_OK)
        st = bst;
    eval_merge em = {metric, 0, 0};
    st = lp_dist_agree(comm, st, payload, payload_n, fold, answer, &em, &ans, &ans_n);
    free(payload);
    if (st != LP_OK)
        return st;
    lp_reader r;
    lp_reader_init(&r, ans, ans_n);
    result_out->value = lp_reader_f64(&r);
    result_out->samples = (int64_t)lp_reader_u64(&r);
    result_out->seconds = now_seconds() - t0;
    free(ans);
    return LP_OK;
}
