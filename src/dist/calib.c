/* calib.c — calibration over a dataloader, split over the ranks of a communicator.
 *
 * One process feeds the first `want` samples batch by batch. Distributed, rank r feeds its
 * block of those batches and rank 0 merges the observers in rank order; min/max, counts and
 * per-channel sums merge exactly, and histograms do too when they share a base — the first
 * nonzero |x| max one process would see, which comes from the first batch. So every rank first
 * feeds the first batch (rank 0 keeps it, the others keep only the bases it set), then its
 * block. A tensor that is all zeros in the first batch gets its base later, possibly on several
 * ranks: then the merge fails for it, the true bases (the first rank's with one) go to every
 * rank, and every rank feeds its block again from those bases. The merged statistics reach every
 * rank, which hold what one process would have: the same scales, bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "data/data.h"
#include "dist/dist.h"
#include "quant/calibrate.h"

typedef struct feed_ctx {
    lowp_calibration *cal;
    lowp_dataloader *dl;
    int64_t want;
    int n_inputs;
    const char *const *names;
    bool strict;            /* a batch must have exactly n_inputs inputs */
    lowp_progress_fn progress;
    void *user;
    int64_t total;          /* progress: the samples to feed (0: unknown) */
    int scale;              /* progress: done * scale (rank 0's share of the ranks) */
    int64_t fed;            /* samples fed by this rank */
} feed_ctx;

/* Feeds the batches the dataloader yields now (its window), each cut at position `want`. */
static lp_status feed(feed_ctx *f)
{
    lowp_sample b = {0};
    lp_status st = LP_OK;
    for (;;) {
        int64_t n = 0;
        st = lowp_dataloader_next(f->dl, &b, &n);
        if (st != LP_OK || n == 0)
            break;
        int64_t pos = lp_dataloader_batch_position(f->dl);
        if (f->want > 0 && pos >= f->want)
            break;
        if (b.n_inputs < f->n_inputs || (f->strict && b.n_inputs != f->n_inputs)) {
            st = lp_error(LOWP_ERR_SHAPE, "%s: the dataset yields %d inputs per sample, the model takes %d",
                          lowp_dataloader_describe(f->dl), b.n_inputs, f->n_inputs);
            break;
        }
        int64_t use = f->want > 0 && n > f->want - pos ? f->want - pos : n;
        lp_tensor views[LOWP_SAMPLE_MAX_TENSORS];
        const lp_tensor *in[LOWP_SAMPLE_MAX_TENSORS];
        for (int i = 0; i < f->n_inputs; i++) { /* the first `use` samples of the batch */
            views[i] = *b.inputs[i];
            views[i].owns_data = false;
            if (use < n && views[i].ndim > 0) {
                views[i].dims[0] = use;
                views[i].nbytes = b.inputs[i]->nbytes / (size_t)n * (size_t)use;
            }
            in[i] = &views[i];
        }
        st = lowp_calibration_feed(f->cal, f->n_inputs, f->names, in);
        if (st != LP_OK)
            break;
        f->fed += use;
        if (f->progress)
            f->progress(f->user, f->total && f->fed * f->scale > f->total ? f->total : f->fed * f->scale, f->total);
        if (f->want > 0 && pos + n >= f->want)
            break;   /* enough: the next batch is not read */
    }
    lowp_sample_clear(&b);
    return st;
}

typedef struct calib_merge {
    lowp_calibration *cal;
    bool rebase;            /* some histogram bases differed */
} calib_merge;

/* Rank 0: merges each rank's statistics into its own, in rank order. A histogram whose base
 * differs keeps the earlier rank's, which is then the base one process would have. */
static lp_status fold(void *user, int rank, const void *payload, size_t n)
{
    calib_merge *cm = user;
    if (rank == 0)
        return LP_OK;
    lp_status st = lp_calibration_merge(cm->cal, payload, n, NULL);
    if (st == LOWP_ERR_UNSUPPORTED)
        cm->rebase = true, st = LP_OK;
    return st == LP_OK ? st : lp_error_prefix(st, "rank %d", rank);
}

/* u64 1 and the bases to start again from, or u64 0 and the merged statistics. */
static lp_status answer(void *user, void **out, size_t *n)
{
    calib_merge *cm = user;
    if (cm->rebase) {
        lp_bytes b = {0};
        lp_bytes_u64(&b, 1);
        for (int i = 0; i < cm->cal->n_obs; i++)
            lp_bytes_f64(&b, cm->cal->obs[i].range > 0 ? cm->cal->obs[i].base : 0);
        return lp_bytes_finish(&b, out, n);
    }
    void *stats = NULL;
    size_t stats_n = 0;
    LP_TRY(lp_calibration_save(cm->cal, &stats, &stats_n));
    lp_bytes b = {0};
    lp_bytes_u64(&b, 0);
    lp_bytes_put(&b, stats, stats_n);
    free(stats);
    return lp_bytes_finish(&b, out, n);
}

/* Offers this rank's statistics (after a local status st), merges at rank 0 and returns the
 * answer (see `answer`) to every rank. */
static lp_status exchange(const lowp_comm *comm, lowp_calibration *cal, lp_status st, void **ans, size_t *ans_n)
{
    void *stats = NULL;
    size_t stats_n = 0;
    if (st == LP_OK)
        st = lp_calibration_save(cal, &stats, &stats_n);
    calib_merge cm = {cal, false};
    st = lp_dist_agree(comm, st, stats, stats_n, fold, answer, &cm, ans, ans_n);
    free(stats);
    return st;
}

lp_status lp_dist_calibrate(const lowp_comm *comm, lowp_calibration *cal, lowp_dataloader *dl, int64_t want,
                            int n_inputs, const char *const *names, bool strict, lowp_progress_fn progress,
                            void *user, int64_t *fed_out)
{
    int64_t len = lowp_dataloader_length(dl);
    feed_ctx f = {cal, dl, want, n_inputs, names, strict, progress, user, want > 0 && want < len ? want : len, 1, 0};
    *fed_out = 0;
    if (n_inputs < 1 || n_inputs > LOWP_SAMPLE_MAX_TENSORS)
        return lp_error(LOWP_ERR_UNSUPPORTED, "calibration: the model has %d inputs (1..%d supported)", n_inputs,
                        LOWP_SAMPLE_MAX_TENSORS);
    if (!lp_dist_active(comm)) {
        lowp_dataloader_reset(dl);
        lp_status st = feed(&f);
        lowp_dataloader_reset(dl);
        *fed_out = f.fed;
        return st;
    }
    if (comm->rank != 0)
        f.progress = NULL;
    f.scale = comm->size;
    int64_t units = lp_dataloader_units(dl, want), first, end;
    lp_dist_block(comm, units, &first, &end);
    /* the first batch everywhere: it sets the histograms' bases */
    lp_dataloader_window(dl, 0, 1, want);
    lp_status st = feed(&f);
    bool keep_first = comm->rank == 0 && end >= 1;   /* the first batch is in this block */
    if (!keep_first) {
        lp_calibration_restart(cal, NULL);
        f.fed = 0;
    }
    if (st == LP_OK) {
        lp_dataloader_window(dl, keep_first ? 1 : first, end, want);
        st = feed(&f);
    }
    void *ans = NULL;
    size_t ans_n = 0;
    st = exchange(comm, cal, st, &ans, &ans_n);
    lp_reader r;
    lp_reader_init(&r, ans, ans_n);
    if (st == LP_OK && lp_reader_u64(&r) == 1) {
        /* some tensor was all zeros in the first batch: start again from the agreed bases */
        double *bases = malloc((size_t)(cal->n_obs ? cal->n_obs : 1) * sizeof *bases);
        if (!bases)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        for (int i = 0; st == LP_OK && i < cal->n_obs; i++)
            bases[i] = lp_reader_f64(&r);
        if (st == LP_OK) {
            lp_calibration_restart(cal, bases);
            f.fed = 0;
            lp_dataloader_window(dl, first, end, want);
            st = feed(&f);
        }
        free(bases);
        free(ans);
        ans = NULL;
        st = exchange(comm, cal, st, &ans, &ans_n);
        lp_reader_init(&r, ans, ans_n);
        if (st == LP_OK && lp_reader_u64(&r) != 0)
            st = lp_error(LOWP_ERR_INTERNAL, "distributed calibration: histograms still differ after agreeing on their bases");
    }
    lp_dataloader_unwindow(dl);
    if (st == LP_OK)
        st = lp_calibration_load(cal, r.p, r.left);
    free(ans);
    if (st == LP_OK)
        *fed_out = cal->samples;
    return st;
}
