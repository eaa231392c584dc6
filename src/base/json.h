/* json.h — a small streaming JSON writer into a growable buffer.
 *
 * Usage:
 *     lp_json j;
 *     lp_json_init(&j, 2);                    // indent 2 (0: compact, one line)
 *     lp_json_begin_object(&j);
 *     lp_json_key(&j, "name");  lp_json_string(&j, "mlp");
 *     lp_json_key(&j, "shape"); lp_json_begin_array(&j);
 *         lp_json_int(&j, 1); lp_json_null(&j);
 *     lp_json_end_array(&j);
 *     lp_json_end_object(&j);
 *     char *text;
 *     LP_TRY(lp_json_finish(&j, &text));      // text is malloc'ed; j is released either way
 *
 * Commas, colons and indentation come from a stack of open containers, so callers only say
 * what they write. Errors (out of memory, a value where a key is due, unbalanced containers,
 * nesting deeper than LP_JSON_MAX_DEPTH) are sticky: the writer calls return nothing and
 * lp_json_finish reports the first one. Strings are written as valid UTF-8: control characters
 * (C0, DEL, C1), U+2028/9, U+FEFF and U+FFFE/F are escaped (\uXXXX: lowp reads JSON back with a
 * YAML parser, which takes none of them verbatim) and invalid UTF-8 bytes become U+FFFD, so any
 * C string is safe to pass and reads back as itself.
 * Non-finite doubles are written as null (JSON has no NaN/Inf). */
#ifndef LP_JSON_H
#define LP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define LP_JSON_MAX_DEPTH 64

typedef struct lp_json {
    char *buf;
    size_t len, cap;
    int indent;                     /* spaces per level; 0 = compact */
    int depth;                      /* open containers */
    char stack[LP_JSON_MAX_DEPTH];  /* '{' or '[' per open container */
    bool has_items[LP_JSON_MAX_DEPTH];
    int flat_depth;                 /* depth of the outermost flat array, 0 if none */
    bool want_value;                /* a key was written; its value is due */
    bool done;                      /* the top-level value is complete */
    lp_status err;                  /* the first error, sticky */
    const char *errmsg;             /* its description (a string constant) */
} lp_json;

void lp_json_init(lp_json *j, int indent);
void lp_json_begin_object(lp_json *j);
void lp_json_end_object(lp_json *j);
void lp_json_begin_array(lp_json *j);
void lp_json_end_array(lp_json *j);
/* An array written on one line even when indenting ([1, 28, 28]); whatever it contains is
 * written on that line too. Closed with lp_json_end_array. */
void lp_json_begin_array_flat(lp_json *j);
/* An object key; the next call writes its value. */
void lp_json_key(lp_json *j, const char *key);
/* A string value; NULL writes null. */
void lp_json_string(lp_json *j, const char *s);
void lp_json_string_n(lp_json *j, const char *s, size_t n);
void lp_json_int(lp_json *j, int64_t v);
void lp_json_uint(lp_json *j, uint64_t v);
/* Shortest "%.17g"-style text that reads back to the same double; null if not finite. */
void lp_json_double(lp_json *j, double v);
void lp_json_bool(lp_json *j, bool v);
void lp_json_null(lp_json *j);

/* Checks the document is complete and hands over the text (NUL-terminated, malloc'ed, ending
 * in a newline when indenting). Releases the writer's memory in every case. */
lp_status lp_json_finish(lp_json *j, char **text_out);
/* Releases the writer's memory without producing text (for failure paths). */
void lp_json_free(lp_json *j);

#endif
