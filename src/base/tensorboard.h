/* tensorboard.h — TensorBoard event files: histograms and scalars, written so that a user's own
 * TensorBoard reads them (`tensorboard --logdir DIR`).
 *
 * The format (TensorFlow's record I/O around its Event protocol buffer): a file is a sequence of
 * records, each
 *     uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes |
 *     length bytes of data          | uint32 masked CRC-32C of the data
 * with mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. Every record is one serialized Event:
 * the first carries file_version "brain.Event:2", the others one Summary.Value each (a scalar
 * `simple_value` or a HistogramProto `histo`). The protocol buffers are encoded here by hand
 * (field numbers from TensorFlow's public event.proto and summary.proto); tests/tb/ holds an
 * independent reader.
 *
 * A file is built in memory and appears whole: it is written under a name TensorBoard ignores
 * (".lowp_events.tmp.PID" in the same folder; TensorBoard takes every name that contains
 * "tfevents") and renamed to events.out.tfevents.<seconds>.<host>.<pid>.<n>, n counting the
 * files this process wrote, so a folder's files sort in the order they were written. */
#ifndef LP_TENSORBOARD_H
#define LP_TENSORBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* A histogram on TensorBoard's default buckets (those TensorFlow's own summaries use): edges
 * ±1e-12 · 1.1^k up to 1e20, ±DBL_MAX, and 0; a value v counts in the first bucket whose limit
 * is > v. Fixed edges make it streamable and mergeable: feed any number of batches. Non-finite
 * values are not counted (`skipped`). */
typedef struct lp_tb_histo {
    double min, max, num, sum, sum_squares;
    double *counts;             /* lp_tb_bucket_count() entries, allocated on the first value */
    int64_t skipped;
} lp_tb_histo;

/* The default bucket limits, ascending (the last is DBL_MAX). */
int lp_tb_bucket_count(void);
const double *lp_tb_bucket_limits(void);

lp_status lp_tb_histo_add(lp_tb_histo *h, const float *x, int64_t n);
void lp_tb_histo_free(lp_tb_histo *h);

/* The buckets as written to a file: leading and trailing empty buckets dropped, each run of
 * empty buckets between full ones merged into one (its limit the run's last), as TensorFlow
 * encodes them. `limits` and `counts` must hold lp_tb_bucket_count() entries; returns how many
 * were written (0 for an empty histogram). */
int lp_tb_histo_encode(const lp_tb_histo *h, double *limits, double *counts);

/* An event file under construction (in memory). */
typedef struct lp_tb_file {
    unsigned char *buf;
    size_t len, cap;
    bool oom;                   /* sticky: a write ran out of memory */
} lp_tb_file;

/* Starts a file with its file_version record. */
lp_status lp_tb_begin(lp_tb_file *f);
/* One Event with one Summary.Value `tag` at `step`. */
lp_status lp_tb_scalar(lp_tb_file *f, int64_t step, const char *tag, double value);
/* An empty histogram writes nothing (TensorBoard cannot draw one). */
lp_status lp_tb_histogram(lp_tb_file *f, int64_t step, const char *tag, const lp_tb_histo *h);
/* Creates `dir` (and its parents) and writes the file there as described above; frees `f`
 * either way. */
lp_status lp_tb_commit(lp_tb_file *f, const char *dir);
void lp_tb_free(lp_tb_file *f);

/* CRC-32C (Castagnoli) of n bytes, and TensorFlow's mask of it. */
uint32_t lp_crc32c(const void *data, size_t n);
uint32_t lp_tb_mask_crc(uint32_t crc);

#endif
