/* json.c — the streaming JSON writer: comma/indent state per open container, sticky errors. */
#include "base/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lp_json_init(lp_json *j, int indent)
{
    memset(j, 0, sizeof *j);
    j->indent = indent < 0 ? 0 : indent > 8 ? 8 : indent;
}

void lp_json_free(lp_json *j)
{
    free(j->buf);
    j->buf = NULL;
    j->len = j->cap = 0;
}

static void fail(lp_json *j, lp_status st, const char *msg)
{
    if (j->err == LP_OK) {
        j->err = st;
        j->errmsg = msg;
    }
}

static void put(lp_json *j, const char *s, size_t n)
{
    if (j->err)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            fail(j, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

static void puts_(lp_json *j, const char *s) { put(j, s, strlen(s)); }

static void newline(lp_json *j)
{
    static const char spaces[] = "                                                                ";
    if (!j->indent || j->flat_depth)
        return;
    put(j, "\n", 1);
    for (int n = j->depth * j->indent; n > 0; n -= 64)
        put(j, spaces, n < 64 ? (size_t)n : 64);
}

/* The comma before a member of the innermost container, then its line break. */
static void separator(lp_json *j)
{
    if (j->has_items[j->depth - 1])
        put(j, j->flat_depth && j->indent ? ", " : ",", 1 + (j->flat_depth && j->indent));
    j->has_items[j->depth - 1] = true;
    newline(j);
}

/* Separator and position checks before any value. False when nothing may be written. */
static bool before_value(lp_json *j)
{
    if (j->err)
        return false;
    if (j->done) {
        fail(j, LOWP_ERR_INTERNAL, "a value after the top-level value");
        return false;
    }
    if (j->want_value) {
        j->want_value = false;
        return true;
    }
    if (j->depth == 0)
        return true;
    if (j->stack[j->depth - 1] == '{') {
        fail(j, LOWP_ERR_INTERNAL, "an object member without a key");
        return false;
    }
    separator(j);
    return true;
}

static void after_scalar(lp_json *j)
{
    if (j->depth == 0)
        j->done = true;
}

/* Appends `s` as a JSON string literal: escapes, and U+FFFD for invalid UTF-8. */
static void put_escaped(lp_json *j, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    put(j, "\"", 1);
    size_t run = 0;   /* bytes of s copied verbatim, pending */
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = 0;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            len = 1;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = i + 1 < n && (s[i + 1] & 0xc0) == 0x80 ? 2 : 0;
        } else if (c >= 0xe0 && c <= 0xef) {
            unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
            len = i + 2 < n && s[i + 1] >= lo && s[i + 1] <= hi && (s[i + 2] & 0xc0) == 0x80 ? 3 : 0;
        } else if (c >= 0xf0 && c <= 0xf4) {
            unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
            len = i + 3 < n && s[i + 1] >= lo && s[i + 1] <= hi && (s[i + 2] & 0xc0) == 0x80 &&
                  (s[i + 3] & 0xc0) == 0x80 ? 4 : 0;
        }
        /* Code points YAML does not take verbatim (lowp reads its own JSON back with a YAML
         * parser): C1 controls (NEL U+0085 breaks a line there), U+2028/9, BOM, non-characters.
         * They are written as \uXXXX, which JSON and YAML both read back as the same text. */
        unsigned cp = len == 2 ? (c & 0x1f) << 6 | (s[i + 1] & 0x3f)
                    : len == 3 ? (c & 0x0f) << 12 | (s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f) : 0;
        if ((len == 2 && cp <= 0x9f) || (len == 3 && (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp >= 0xfffe))) {
            put(j, (const char *)s + i - run, run);
            run = 0;
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", cp);
            puts_(j, esc);
            i += len;
            continue;
        }
        if (len) {
            i += len;
            run += len;
            continue;
        }
        put(j, (const char *)s + i - run, run);
        run = 0;
        char esc[8];
        switch (c) {
        case '"': puts_(j, "\\\""); break;
        case '\\': puts_(j, "\\\\"); break;
        case '\n': puts_(j, "\\n"); break;
        case '\r': puts_(j, "\\r"); break;
        case '\t': puts_(j, "\\t"); break;
        case '\b': puts_(j, "\\b"); break;
        case '\f': puts_(j, "\\f"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                puts_(j, esc);
            } else {
                puts_(j, "\xef\xbf\xbd");   /* U+FFFD for a byte that is not valid UTF-8 */
            }
        }
        i++;
    }
    put(j, (const char *)s + n - run, run);
    put(j, "\"", 1);
}

static void begin(lp_json *j, char open)
{
    if (!before_value(j))
        return;
    if (j->depth == LP_JSON_MAX_DEPTH) {
        fail(j, LOWP_ERR_INTERNAL, "nesting too deep");
        return;
    }
    put(j, &open, 1);
    j->stack[j->depth] = open;
    j->has_items[j->depth] = false;
    j->depth++;
}

static void end(lp_json *j, char open, char close)
{
    if (j->err)
        return;
    if (j->depth == 0 || j->stack[j->depth - 1] != open || j->want_value) {
        fail(j, LOWP_ERR_INTERNAL, "unbalanced container or a key without a value");
        return;
    }
    bool closes_flat = j->flat_depth == j->depth;
    j->depth--;
    if (j->has_items[j->depth])
        newline(j);   /* nothing inside a flat array, including its own closer */
    if (closes_flat)
        j->flat_depth = 0;
    put(j, &close, 1);
    after_scalar(j);
}

void lp_json_begin_object(lp_json *j) { begin(j, '{'); }
void lp_json_end_object(lp_json *j) { end(j, '{', '}'); }
void lp_json_begin_array(lp_json *j) { begin(j, '['); }
void lp_json_end_array(lp_json *j) { end(j, '[', ']'); }

void lp_json_begin_array_flat(lp_json *j)
{
    begin(j, '[');
    if (!j->err && !j->flat_depth)
        j->flat_depth = j->depth;
}

void lp_json_key(lp_json *j, const char *key)
{
    if (j->err)
        return;
    if (j->depth == 0 || j->stack[j->depth - 1] != '{' || j->want_value) {
        fail(j, LOWP_ERR_INTERNAL, "a key outside an object or after another key");
        return;
    }
    separator(j);
    put_escaped(j, key ? key : "", key ? strlen(key) : 0);
    puts_(j, j->indent ? ": " : ":");
    j->want_value = true;
}

void lp_json_string_n(lp_json *j, const char *s, size_t n)
{
    if (!before_value(j))
        return;
    put_escaped(j, s, n);
    after_scalar(j);
}

void lp_json_string(lp_json *j, const char *s)
{
    if (!s) {
        lp_json_null(j);
        return;
    }
    lp_json_string_n(j, s, strlen(s));
}

static void raw(lp_json *j, const char *text)
{
    if (!before_value(j))
        return;
    puts_(j, text);
    after_scalar(j);
}

void lp_json_int(lp_json *j, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    raw(j, b);
}

void lp_json_uint(lp_json *j, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, v);
    raw(j, b);
}

void lp_json_double(lp_json *j, double v)
{
    if (!isfinite(v)) {
        raw(j, "null");
        return;
    }
    char b[40];
    snprintf(b, sizeof b, "%.15g", v);
    if (strtod(b, NULL) != v)
        snprintf(b, sizeof b, "%.17g", v);
    raw(j, b);
}

void lp_json_bool(lp_json *j, bool v) { raw(j, v ? "true" : "false"); }
void lp_json_null(lp_json *j) { raw(j, "null"); }

lp_status lp_json_finish(lp_json *j, char **text_out)
{
    if (!j->err && !j->done)
        fail(j, LOWP_ERR_INTERNAL, "document is incomplete");
    if (j->indent)
        put(j, "\n", 1);
    if (j->err) {
        lp_json_free(j);
        return lp_error(j->err, "JSON writer: %s", j->errmsg);
    }
    j->buf[j->len] = '\0';   /* put() always leaves room for the NUL */
    *text_out = j->buf;
    j->buf = NULL;
    j->len = j->cap = 0;
    return LP_OK;
}
