/* bytes.h — a growable byte buffer and a bounds-checked reader: how mergeable states (metrics,
 * observers) travel between processes. Numbers are written in the host's byte order (ranks of
 * one run share a machine type; docs/distributed.md). */
#ifndef LP_BYTES_H
#define LP_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct lp_bytes {
    unsigned char *data;
    size_t len, cap;
    int failed;   /* an allocation failed: lp_bytes_finish reports it */
} lp_bytes;

void lp_bytes_put(lp_bytes *b, const void *p, size_t n);
void lp_bytes_u64(lp_bytes *b, uint64_t v);
void lp_bytes_f64(lp_bytes *b, double v);
/* A length-prefixed string. */
void lp_bytes_str(lp_bytes *b, const char *s);
/* Hands the buffer over (*out malloc'ed, the caller frees it); fails after an allocation
 * failure, freeing what was written. */
lp_status lp_bytes_finish(lp_bytes *b, void **out, size_t *size_out);

typedef struct lp_reader {
    const unsigned char *p;
    size_t left;
    int bad;      /* read past the end: every later read yields zeros */
} lp_reader;

void lp_reader_init(lp_reader *r, const void *data, size_t size);
void lp_reader_get(lp_reader *r, void *out, size_t n);
uint64_t lp_reader_u64(lp_reader *r);
double lp_reader_f64(lp_reader *r);
/* Checks that the next string equals `s` (the state's kind tag). */
int lp_reader_expect_str(lp_reader *r, const char *s);
/* A count of items of `item_size` bytes that must still fit in what is left (so a corrupt
 * count cannot make the caller allocate more than the message holds); -1 when it does not. */
int64_t lp_reader_count(lp_reader *r, size_t item_size);

#endif
