/* coco.c — a bounded reader for COCO-format annotation files: a small JSON scanner that keeps
 * only images, box annotations and categories. Real files (instances_val2017.json: 25 MB, most
 * of it segmentation polygons) hold millions of values, far more than the YAML tree builder's
 * LP_MAX_YAML_NODES, so unwanted values are skipped by an iterative scanner that keeps nothing.
 * Nesting is bounded by LP_MAX_YAML_NESTING; memory by the file size (LP_MAX_COCO_JSON_BYTES). */
#include "data/coco.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/limits.h"

typedef struct scan {
    const char *s, *end, *base;
    const char *path;
} scan;

static int line_of(const scan *p)
{
    int line = 1;
    for (const char *q = p->base; q < p->s && q < p->end; q++)
        line += *q == '\n';
    return line;
}

static lp_status bad(const scan *p, const char *what)
{
    return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: line %d: %s", p->path, line_of(p), what);
}

static void ws(scan *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static bool eat(scan *p, char c)
{
    ws(p);
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A string; into *out (malloc'ed, UTF-8, NUL-free) when out is not NULL, else skipped. */
static lp_status string(scan *p, char **out)
{
    ws(p);
    if (p->s >= p->end || *p->s != '"')
        return bad(p, "expected a string");
    p->s++;
    char *buf = NULL;
    size_t n = 0;
    if (out) {
        const char *q = p->s;
        while (q < p->end && *q != '"')
            q += *q == '\\' ? 2 : 1;
        buf = malloc((size_t)(q - p->s) + 1);   /* escapes never grow the text */
        if (!buf)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s++;
        if (c < 0x20) {
            free(buf);
            return bad(p, "a control character inside a string");
        }
        if (c != '\\') {
            if (buf)
                buf[n++] = (char)c;
            continue;
        }
        if (p->s >= p->end)
            break;
        char e = *p->s++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            if (buf)
                buf[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        if (e != 'u' || p->end - p->s < 4 || hex4(p->s) < 0) {
            free(buf);
            return bad(p, "a bad escape in a string");
        }
        uint32_t u = (uint32_t)hex4(p->s);
        p->s += 4;
        if (u >= 0xD800 && u < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u' &&
            hex4(p->s + 2) >= 0xDC00 && hex4(p->s + 2) < 0xE000) {
            u = 0x10000 + ((u - 0xD800) << 10) + ((uint32_t)hex4(p->s + 2) - 0xDC00);
            p->s += 6;
        }
        if (u == 0 || (u >= 0xD800 && u < 0xE000)) {
            free(buf);
            return bad(p, "a NUL or unpaired surrogate escape in a string");
        }
        if (buf) {   /* \uXXXX is 6 bytes of input, at most 4 of UTF-8 out */
            if (u < 0x80) {
                buf[n++] = (char)u;
            } else if (u < 0x800) {
                buf[n++] = (char)(0xC0 | u >> 6), buf[n++] = (char)(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                buf[n++] = (char)(0xE0 | u >> 12), buf[n++] = (char)(0x80 | (u >> 6 & 0x3F));
                buf[n++] = (char)(0x80 | (u & 0x3F));
            } else {
                buf[n++] = (char)(0xF0 | u >> 18), buf[n++] = (char)(0x80 | (u >> 12 & 0x3F));
                buf[n++] = (char)(0x80 | (u >> 6 & 0x3F)), buf[n++] = (char)(0x80 | (u & 0x3F));
            }
        }
    }
    if (p->s >= p->end) {
        free(buf);
        return bad(p, "a string is not closed");
    }
    p->s++;
    if (out) {
        buf[n] = 0;
        *out = buf;
    }
    return LP_OK;
}

static lp_status number(scan *p, double *out)
{
    ws(p);
    const char *q = p->s;
    if (q < p->end && *q == '-')
        q++;
    if (q >= p->end || !(*q >= '0' && *q <= '9'))
        return bad(p, "expected a number");
    while (q < p->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-'))
        q++;
    char tmp[64];
    if (q - p->s >= (ptrdiff_t)sizeof tmp)
        return bad(p, "a number of more than 63 characters");
    memcpy(tmp, p->s, (size_t)(q - p->s));
    tmp[q - p->s] = 0;
    char *e;
    *out = strtod(tmp, &e);
    if (*e || !isfinite(*out))
        return bad(p, "a malformed or out-of-range number");
    p->s = q;
    return LP_OK;
}

static lp_status integer(scan *p, const char *what, int64_t *out)
{
    double v;
    LP_TRY(number(p, &v));
    if (!(v == floor(v) && fabs(v) < 9.0e15))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: line %d: %s must be an integer (got %.17g)", p->path,
                        line_of(p), what, v);
    *out = (int64_t)v;
    return LP_OK;
}

/* Skips one value of any kind without recursion: brackets are matched on a small stack. */
static lp_status skip(scan *p)
{
    char stack[LP_MAX_YAML_NESTING];
    int depth = 0;
    do {
        ws(p);
        if (p->s >= p->end)
            return bad(p, "the text ends inside a value");
        char c = *p->s;
        if (c == '"') {
            LP_TRY(string(p, NULL));
        } else if (c == '{' || c == '[') {
            if (depth == LP_MAX_YAML_NESTING)
                return bad(p, "lists and maps nested deeper than LP_MAX_YAML_NESTING (64)");
            stack[depth++] = c == '{' ? '}' : ']';
            p->s++;
            ws(p);
            if (p->s < p->end && *p->s == stack[depth - 1]) {
                p->s++;
                depth--;
            } else if (c == '{') {
                LP_TRY(string(p, NULL));
                if (!eat(p, ':'))
                    return bad(p, "expected ':' after a key");
                continue;
            } else {
                continue;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            double v;
            LP_TRY(number(p, &v));
        } else if (p->end - p->s >= 4 && (!memcmp(p->s, "true", 4) || !memcmp(p->s, "null", 4))) {
            p->s += 4;
        } else if (p->end - p->s >= 5 && !memcmp(p->s, "false", 5)) {
            p->s += 5;
        } else {
            return bad(p, "expected a value");
        }
        /* after a value: close containers, or a comma and the next item */
        while (depth > 0) {
            ws(p);
            if (p->s < p->end && *p->s == stack[depth - 1]) {
                p->s++;
                depth--;
                continue;
            }
            if (!eat(p, ','))
                return bad(p, "expected ',' or the end of a list or map");
            if (stack[depth - 1] == '}') {
                LP_TRY(string(p, NULL));
                if (!eat(p, ':'))
                    return bad(p, "expected ':' after a key");
            }
            break;
        }
    } while (depth > 0);
    return LP_OK;
}

/* Iterates the keys of an object: *key (malloc'ed) for each; false at the closing brace. */
static lp_status next_key(scan *p, bool *first, char **key, bool *more)
{
    *key = NULL;
    if (*first) {
        *first = false;
        if (!eat(p, '{'))
            return bad(p, "expected an object");
        if (eat(p, '}')) {
            *more = false;
            return LP_OK;
        }
    } else if (eat(p, '}')) {
        *more = false;
        return LP_OK;
    } else if (!eat(p, ',')) {
        return bad(p, "expected ',' or '}'");
    }
    LP_TRY(string(p, key));
    if (!eat(p, ':')) {
        free(*key);
        *key = NULL;
        return bad(p, "expected ':' after a key");
    }
    *more = true;
    return LP_OK;
}

/* The same for the items of an array. */
static lp_status next_item(scan *p, bool *first, bool *more)
{
    if (*first) {
        *first = false;
        if (!eat(p, '['))
            return bad(p, "expected a list");
        *more = !eat(p, ']');
        return LP_OK;
    }
    if (eat(p, ']')) {
        *more = false;
        return LP_OK;
    }
    if (!eat(p, ','))
        return bad(p, "expected ',' or ']'");
    *more = true;
    return LP_OK;
}

static lp_status grow(void **arr, int64_t *cap, int64_t n, size_t item)
{
    if (n < *cap)
        return LP_OK;
    int64_t c = *cap ? 2 * *cap : 64;
    void *a = realloc(*arr, (size_t)c * item);
    if (!a)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *arr = a;
    *cap = c;
    return LP_OK;
}

static bool safe_relative(const char *f)
{
    if (!*f || *f == '/')
        return false;
    for (const char *s = f; *s; ) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n + (s[n] == '/');
    }
    return true;
}

static lp_status read_image(scan *p, lp_coco_image *im)
{
    bool first = true, more, has_id = false;
    char *key;
    im->width = im->height = 0;
    im->file_name = NULL;
    for (;;) {
        LP_TRY(next_key(p, &first, &key, &more));
        if (!more)
            break;
        lp_status st = LP_OK;
        if (!strcmp(key, "id")) {
            st = integer(p, "an image's id", &im->id);
            has_id = true;
        } else if (!strcmp(key, "file_name") && !im->file_name) {
            st = string(p, &im->file_name);
            if (st == LP_OK && !safe_relative(im->file_name))
                st = bad(p, "an image's file_name must be a relative path without '..'");
        } else if (!strcmp(key, "width") || !strcmp(key, "height")) {
            st = number(p, !strcmp(key, "width") ? &im->width : &im->height);
        } else {
            st = skip(p);
        }
        free(key);
        LP_TRY(st);
    }
    if (!has_id || !im->file_name || !(im->width > 0) || !(im->height > 0))
        return bad(p, "an image needs an id, a file_name and a positive width and height");
    return LP_OK;
}

static lp_status read_ann(scan *p, lp_coco_ann *a)
{
    bool first = true, more, has_img = false, has_cat = false;
    char *key;
    a->has_bbox = 0;
    for (;;) {
        LP_TRY(next_key(p, &first, &key, &more));
        if (!more)
            break;
        lp_status st = LP_OK;
        if (!strcmp(key, "image_id")) {
            st = integer(p, "an annotation's image_id", &a->image_id);
            has_img = true;
        } else if (!strcmp(key, "category_id")) {
            st = integer(p, "an annotation's category_id", &a->category_id);
            has_cat = true;
        } else if (!strcmp(key, "bbox")) {
            bool f = true, m;
            int n = 0;
            a->has_bbox = 0;
            for (;;) {
                if ((st = next_item(p, &f, &m)) != LP_OK || !m)
                    break;
                if (n == 4) {
                    st = bad(p, "a bbox must be [x, y, width, height]");
                    break;
                }
                if ((st = number(p, &a->bbox[n++])) != LP_OK)
                    break;
            }
            if (st == LP_OK && n != 0 && (n != 4 || a->bbox[2] < 0 || a->bbox[3] < 0))
                st = bad(p, "a bbox must be [x, y, width, height] with width, height >= 0");
            a->has_bbox = n == 4;
        } else {
            st = skip(p);
        }
        free(key);
        LP_TRY(st);
    }
    if (!has_img || !has_cat)
        return bad(p, "an annotation needs an image_id and a category_id");
    return LP_OK;
}

static lp_status read_cat(scan *p, lp_coco_cat *c)
{
    bool first = true, more, has_id = false;
    char *key;
    c->name = NULL;
    for (;;) {
        LP_TRY(next_key(p, &first, &key, &more));
        if (!more)
            break;
        lp_status st;
        if (!strcmp(key, "id")) {
            st = integer(p, "a category's id", &c->id);
            has_id = true;
        } else if (!strcmp(key, "name") && !c->name) {
            st = string(p, &c->name);
        } else {
            st = skip(p);
        }
        free(key);
        LP_TRY(st);
    }
    if (!has_id || !c->name)
        return bad(p, "a category needs an id and a name");
    return LP_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Refuses a repeated id among n (what: "image"). */
static lp_status unique_ids(const char *path, const char *what, const int64_t *ids, int64_t n)
{
    int64_t *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(s, ids, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_i64);
    for (int64_t i = 1; i < n; i++)
        if (s[i] == s[i - 1]) {
            int64_t id = s[i];
            free(s);
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: %s id %lld appears twice", path, what, (long long)id);
        }
    free(s);
    return LP_OK;
}

static lp_status parse(scan *p, int categories_only, lp_coco *c)
{
    bool first = true, more;
    char *key;
    int64_t cap_i = 0, cap_a = 0, cap_c = 0;
    for (;;) {
        LP_TRY(next_key(p, &first, &key, &more));
        if (!more)
            break;
        int which = !strcmp(key, "categories") ? 2 : categories_only ? -1 : !strcmp(key, "images") ? 0
                  : !strcmp(key, "annotations") ? 1 : -1;
        free(key);
        if (which < 0) {
            LP_TRY(skip(p));
            continue;
        }
        bool f = true, m;
        for (;;) {
            LP_TRY(next_item(p, &f, &m));
            if (!m)
                break;
            if (which == 0) {
                LP_TRY(grow((void **)&c->images, &cap_i, c->n_images, sizeof *c->images));
                lp_coco_image *im = &c->images[c->n_images];
                lp_status st = read_image(p, im);
                if (st != LP_OK) {
                    free(im->file_name);
                    return st;
                }
                c->n_images++;
            } else if (which == 1) {
                LP_TRY(grow((void **)&c->anns, &cap_a, c->n_anns, sizeof *c->anns));
                LP_TRY(read_ann(p, &c->anns[c->n_anns]));
                c->n_anns++;
            } else {
                LP_TRY(grow((void **)&c->cats, &cap_c, c->n_cats, sizeof *c->cats));
                lp_coco_cat *ct = &c->cats[c->n_cats];
                lp_status st = read_cat(p, ct);
                if (st != LP_OK) {
                    free(ct->name);
                    return st;
                }
                c->n_cats++;
            }
        }
    }
    ws(p);
    if (p->s != p->end)
        return bad(p, "text after the top-level object");
    int64_t n = c->n_images > c->n_cats ? c->n_images : c->n_cats;
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t i = 0; i < c->n_images; i++)
        ids[i] = c->images[i].id;
    lp_status st = unique_ids(p->path, "image", ids, c->n_images);
    for (int64_t i = 0; i < c->n_cats; i++)
        ids[i] = c->cats[i].id;
    if (st == LP_OK)
        st = unique_ids(p->path, "category", ids, c->n_cats);
    free(ids);
    return st;
}

lp_status lp_coco_read(const char *path, int categories_only, lp_coco **out)
{
    uint8_t *data = NULL;
    size_t size = 0;
    LP_TRY(lp_read_file_max(path, LP_MAX_COCO_JSON_BYTES, &data, &size));
    lp_coco *c = calloc(1, sizeof *c);
    if (!c) {
        free(data);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    scan p = {(const char *)data, (const char *)data + size, (const char *)data, path};
    if (size >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))   /* a UTF-8 byte order mark */
        p.s += 3;
    lp_status st = parse(&p, categories_only, c);
    free(data);
    if (st != LP_OK) {
        lp_coco_free(c);
        return st;
    }
    *out = c;
    return LP_OK;
}

void lp_coco_free(lp_coco *c)
{
    if (!c)
        return;
    for (int64_t i = 0; i < c->n_images; i++)
        free(c->images[i].file_name);
    for (int64_t i = 0; i < c->n_cats; i++)
        free(c->cats[i].name);
    free(c->images);
    free(c->anns);
    free(c->cats);
    free(c);
}

int64_t lp_coco_cat_index(const lp_coco *c, int64_t id)
{
    for (int64_t i = 0; i < c->n_cats; i++)
        if (c->cats[i].id == id)
            return i;
    return -1;
}
