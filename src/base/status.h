/* status.h — error values and the thread-local last-error message. */
#ifndef LP_STATUS_H
#define LP_STATUS_H

#include <stddef.h>

#include "lowp.h"

typedef lowp_status lp_status;

#define LP_OK LOWP_OK

#if defined(__GNUC__)
#define LP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LP_PRINTF(f, a)
#endif

/* Copies the first n bytes of src (up to a NUL) into dst (cap bytes, always terminated), with
 * control characters (C0, DEL, C1) and bytes that are not well-formed UTF-8 written as \xNN, so
 * that text quoted from a file cannot drive the terminal the message is printed on. Stops
 * before a character that would not fit. Returns the length written. */
size_t lp_escape_text(char *dst, size_t cap, const char *src, size_t n);

/* Records a formatted message as the last error and returns `status`, so that a failure site
 * reads `return lp_error(LOWP_ERR_FORMAT, "%s: truncated header", path);`. The message is escaped
 * with lp_escape_text (any message may quote bytes from a file). */
lp_status lp_error(lp_status status, const char *fmt, ...) LP_PRINTF(2, 3);

/* Prepends "prefix: " to the current last-error message and returns `status`. Used by
 * outer layers to add context (the file or node) to an inner failure. */
lp_status lp_error_prefix(lp_status status, const char *fmt, ...) LP_PRINTF(2, 3);

/* Propagate a failure unchanged. */
#define LP_TRY(expr)                     \
    do {                                 \
        lp_status lp_try_st_ = (expr);   \
        if (lp_try_st_ != LP_OK)         \
            return lp_try_st_;           \
    } while (0)

/* Internal invariants only (a bug if it fires), never for bad input. */
#include <stdio.h>
#include <stdlib.h>
#define LP_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "lowp: internal error: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#endif
