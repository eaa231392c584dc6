/* bytes.c — byte buffer writer and reader (see bytes.h). */
#include "base/bytes.h"

#include <stdlib.h>
#include <string.h>

void lp_bytes_put(lp_bytes *b, const void *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void lp_bytes_u64(lp_bytes *b, uint64_t v) { lp_bytes_put(b, &v, sizeof v); }
void lp_bytes_f64(lp_bytes *b, double v) { lp_bytes_put(b, &v, sizeof v); }

void lp_bytes_str(lp_bytes *b, const char *s)
{
    size_t n = strlen(s);
    lp_bytes_u64(b, n);
    lp_bytes_put(b, s, n);
}

lp_status lp_bytes_finish(lp_bytes *b, void **out, size_t *size_out)
{
    if (b->failed) {
        free(b->data);
        *b = (lp_bytes){0};
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory writing a state");
    }
    *out = b->data ? b->data : malloc(1);
    *size_out = b->len;
    *b = (lp_bytes){0};
    return *out ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
}

void lp_reader_init(lp_reader *r, const void *data, size_t size)
{
    *r = (lp_reader){.p = data, .left = data ? size : 0};
}

void lp_reader_get(lp_reader *r, void *out, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n, r->left -= n;
}

uint64_t lp_reader_u64(lp_reader *r)
{
    uint64_t v;
    lp_reader_get(r, &v, sizeof v);
    return v;
}

double lp_reader_f64(lp_reader *r)
{
    double v;
    lp_reader_get(r, &v, sizeof v);
    return v;
}

int lp_reader_expect_str(lp_reader *r, const char *s)
{
    size_t n = strlen(s);
    if (lp_reader_u64(r) != n || r->left < n || memcmp(r->p, s, n)) {
        r->bad = 1;
        return 0;
    }
    r->p += n, r->left -= n;
    return 1;
}

int64_t lp_reader_count(lp_reader *r, size_t item_size)
{
    uint64_t n = lp_reader_u64(r);
    if (r->bad || (item_size && n > r->left / item_size) || n > INT64_MAX) {
        r->bad = 1;
        return -1;
    }
    return (int64_t)n;
}
