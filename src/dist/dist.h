/* dist.h — the distributed layer: work split over the ranks of a lowp_comm (lowp.h) and
 * results merged so that they equal one process's, bit for bit (docs/distributed.md). Only
 * src/dist/mpi.c, linked into the lowp program, knows MPI; everything here talks through the
 * communicator's gather and bcast. Every function is collective: all ranks call it in the same
 * order; with no communicator, or one of size 1, each is the plain single-process call. */
#ifndef LP_DIST_H
#define LP_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"

/* Called at rank 0 for each rank's payload in rank order (rank 0's own first). */
typedef lp_status (*lp_dist_fold_fn)(void *user, int rank, const void *payload, size_t n);
/* Called at rank 0 after the folds: the answer every rank receives (*out malloc'ed). */
typedef lp_status (*lp_dist_answer_fn)(void *user, void **out, size_t *n);

/* The one agreement step: each rank offers its local status and payload; rank 0 folds the
 * payloads in rank order and answers; every rank returns the same status — the first failing
 * rank's, with its message prefixed "rank R: " — and, on success, a copy of the answer
 * (*answer_out malloc'ed, may be NULL when not wanted). */
lp_status lp_dist_agree(const lowp_comm *comm, lp_status local, const void *payload, size_t n,
                        lp_dist_fold_fn fold, lp_dist_answer_fn answer, void *user,
                        void **answer_out, size_t *answer_n);

/* Rank 0's payload reaches every rank (*out malloc'ed; the others' payloads are ignored, their
 * statuses are not): what rank 0 alone computes — a measurement, a file it read. */
lp_status lp_dist_share(const lowp_comm *comm, lp_status local, const void *payload, size_t n, void **out,
                        size_t *out_n);

/* How many lp_dist_agree steps this process has taken (the lowp program's end-of-run check:
 * a rank that failed before any collective meets its peers in their first one). */
int lp_dist_collectives(void);

/* 1 when the last failed lp_dist_* call on this thread failed on every rank alike (so one rank
 * need print it), 0 for a failure of this rank alone. */
int lp_dist_error_shared(void);

/* This rank's contiguous block [*first, *end) of `units` work units (rank r of n: units
 * [r*U/n, (r+1)*U/n)); units < 0 (unknown): rank 0 takes everything. */
void lp_dist_block(const lowp_comm *comm, int64_t units, int64_t *first, int64_t *end);

/* True when `comm` spans more than one process. */
static inline int lp_dist_active(const lowp_comm *comm) { return comm && comm->size > 1; }

/* Feeds the first `want` samples of `dl` (want <= 0: every sample) to `cal`, each batch's
 * first n_inputs inputs under `names` (strict: a batch with another input count is refused),
 * the last batch cut at `want`; progress(user, done, want) on rank 0. Distributed, the ranks
 * feed blocks of whole batches and every rank ends with the statistics one process would have
 * (see calib.c). *fed_out: the samples fed (in total). Resets the dataloader. */
lp_status lp_dist_calibrate(const lowp_comm *comm, lowp_calibration *cal, lowp_dataloader *dl, int64_t want,
                            int n_inputs, const char *const *names, bool strict, lowp_progress_fn progress,
                            void *user, int64_t *fed_out);

#endif
