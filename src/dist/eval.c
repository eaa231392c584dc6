/* eval.c — sharded evaluation: each rank scores its block of whole batches, rank 0 merges the
 * metric states in rank order (= batch order) and every rank gets the one value. Batches are
 * never split, so each batch's outputs are the bits one process computes; the built-in metrics
 * keep exact sums or lists, so the merged value is one process's value, bit for bit.
 *
 * A metric without save/merge (a user's: a C vtable, a Python class) cannot be merged: then
 * the ranks > 0 record what they would feed it — every batch's outputs and labels — and rank 0
 * feeds those batches to the one metric after its own, in rank order: the same updates in the
 * same order as one process, so the same value, whatever the metric computes. */
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
    bool replay;        /* the payloads hold recorded batches, not metric states */
    int64_t samples;
    double value;
} eval_merge;

/* A rank's recorded share is gathered at rank 0 in one message: bounded well below the 2 GB an
 * MPI count can describe. */
#define RECORD_MAX ((size_t)1 << 30)

/* ---- recording a share for a metric that cannot merge ---- */

typedef struct recorder {
    lp_bytes log;       /* per batch: u64 n_outputs, u64 n_labels, then each tensor */
    int64_t batches;
    const char *name;   /* the metric's, for the size message */
} recorder;

/* A tensor: u64 dtype, u64 ndim, the dims, u64 bytes, the bytes. */
static void put_tensor(lp_bytes *b, const lowp_tensor *x)
{
    int nd = lowp_tensor_ndim(x);
    lp_bytes_u64(b, (uint64_t)lowp_tensor_dtype(x));
    lp_bytes_u64(b, (uint64_t)nd);
    for (int i = 0; i < nd; i++)
        lp_bytes_u64(b, (uint64_t)lowp_tensor_dims(x)[i]);
    size_t n = lowp_tensor_nbytes(x);
    lp_bytes_u64(b, (uint64_t)n);
    lp_bytes_put(b, lowp_tensor_data((lowp_tensor *)x), n);
}

static lp_status rec_update(void *state, int n_outputs, const lowp_tensor *const *outputs, int n_labels,
                            const lowp_tensor *const *labels)
{
    recorder *rc = state;
    lp_bytes_u64(&rc->log, (uint64_t)n_outputs);
    lp_bytes_u64(&rc->log, (uint64_t)n_labels);
    for (int i = 0; i < n_outputs + n_labels; i++)
        put_tensor(&rc->log, i < n_outputs ? outputs[i] : labels[i - n_outputs]);
    rc->batches++;
    if (rc->log.failed)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory recording batch %lld for rank 0",
                        (long long)rc->batches);
    if (rc->log.len > RECORD_MAX)
        return lp_error(LOWP_ERR_UNSUPPORTED,
                        "metric %s has no save/merge, so every rank's outputs and labels go to rank 0; this "
                        "rank's share passed %zu MB after %lld batches: give the metric save/merge "
                        "(lowp_metric_vtable; docs/distributed.md), or run with fewer, larger shards",
                        rc->name, RECORD_MAX >> 20, (long long)rc->batches);
    return LP_OK;
}

static void rec_reset(void *state)
{
    recorder *rc = state;
    rc->log.len = 0;
    rc->batches = 0;
}

static const lowp_metric_vtable recording = {
    .name = "recorder", .update = rec_update, .reset = rec_reset,
};

static lp_status get_tensor(lp_reader *r, lowp_tensor **out)
{
    *out = NULL;
    uint64_t dtype = lp_reader_u64(r), nd = lp_reader_u64(r);
    int64_t dims[LOWP_MAX_DIMS];
    if (r->bad || nd > LOWP_MAX_DIMS)
        return lp_error(LOWP_ERR_FORMAT, "a recorded tensor with %llu dims", (unsigned long long)nd);
    for (uint64_t i = 0; i < nd; i++)
        dims[i] = (int64_t)lp_reader_u64(r);
    int64_t n = lp_reader_count(r, 1);
    if (r->bad || n < 0)
        return lp_error(LOWP_ERR_FORMAT, "a truncated recorded tensor");
    /* every element takes at least a byte: dims whose product passes the bytes sent are refused
     * before anything is allocated for them */
    int64_t numel = 1;
    for (uint64_t i = 0; i < nd; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && numel > n / dims[i]))
            return lp_error(LOWP_ERR_FORMAT, "a recorded tensor whose dims do not fit its %lld bytes", (long long)n);
        numel *= dims[i];
    }
    lowp_tensor *x = NULL;
    LP_TRY(lowp_tensor_create((lowp_dtype)dtype, (int)nd, dims, NULL, &x));
    if (lowp_tensor_nbytes(x) != (size_t)n) {
        lowp_tensor_free(x);
        return lp_error(LOWP_ERR_FORMAT, "a recorded tensor of %lld bytes for its dims", (long long)n);
    }
    lp_reader_get(r, lowp_tensor_data(x), (size_t)n);
    *out = x;
    return LP_OK;
}

/* Feeds a rank's recorded batches to the metric, in their order. */
static lp_status replay(lowp_metric *metric, const void *log, size_t n)
{
    lp_reader r;
    lp_reader_init(&r, log, n);
    lp_status st = LP_OK;
    for (int64_t b = 0; r.left && st == LP_OK; b++) {
        uint64_t n_out = lp_reader_u64(&r), n_lab = lp_reader_u64(&r);
        if (r.bad || n_out < 1 || n_out > LOWP_SAMPLE_MAX_TENSORS || n_lab > LOWP_SAMPLE_MAX_TENSORS)
            return lp_error(LOWP_ERR_FORMAT, "recorded batch %lld: %llu outputs, %llu labels", (long long)b,
                            (unsigned long long)n_out, (unsigned long long)n_lab);
        lowp_tensor *x[2 * LOWP_SAMPLE_MAX_TENSORS] = {0};
        int k = (int)(n_out + n_lab);
        for (int i = 0; i < k && st == LP_OK; i++)
            st = get_tensor(&r, &x[i]);
        if (st == LP_OK)
            st = lowp_metric_update(metric, (int)n_out, (const lowp_tensor *const *)x, (int)n_lab,
                                    (const lowp_tensor *const *)x + n_out);
        for (int i = 0; i < k; i++)
            lowp_tensor_free(x[i]);
        if (st != LP_OK)
            st = lp_error_prefix(st, "its batch %lld, scored at rank 0", (long long)b + 1);
    }
    return st;
}

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
    if (em->replay)
        return lp_error_prefix(replay(em->metric, r.p, r.left), "rank %d", rank);
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
    /* can the metric merge? (every rank has the same metric, so every rank takes one road) */
    lp_status st = lowp_metric_save(metric, &state, &state_n);
    free(state);
    state = NULL, state_n = 0;
    bool replay_mode = st == LOWP_ERR_UNSUPPORTED;
    recorder rc = { .name = lowp_metric_name(metric) };
    const lowp_metric_vtable *own_vt = metric->vt;
    void *own_state = metric->state;
    if (replay_mode) {
        st = LP_OK;
        if (comm->rank > 0)   /* rank 0 feeds its own batches to the metric itself */
            metric->vt = &recording, metric->state = &rc;
    }
    if (st == LP_OK) {
        int64_t first, end;
        lp_dist_block(comm, lp_dataloader_units(dl, 0), &first, &end);
        lp_dataloader_window(dl, first, end, 0);
        st = lp_evaluate_batches(session, model, dl, metric, &opt, &done);
        lp_dataloader_unwindow(dl);
    }
    metric->vt = own_vt, metric->state = own_state;
    if (st == LP_OK && replay_mode && comm->rank > 0)
        st = lp_bytes_finish(&rc.log, &state, &state_n);
    else if (st == LP_OK && !replay_mode)
        st = lowp_metric_save(metric, &state, &state_n);
    free(rc.log.data);
    lp_bytes b = {0};
    lp_bytes_u64(&b, (uint64_t)done);
    lp_bytes_put(&b, state, state_n);
    free(state);
    void *payload = NULL, *ans = NULL;
    size_t payload_n = 0, ans_n = 0;
    lp_status bst = lp_bytes_finish(&b, &payload, &payload_n);
    if (st == LP_OK)
        st = bst;
    eval_merge em = {metric, replay_mode, 0, 0};
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
