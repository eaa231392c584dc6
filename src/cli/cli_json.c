/* cli_json.c — a small recursive-descent JSON reader for formatting the library's JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define CJ_MAX_DEPTH 64

typedef struct reader {
    const char *p;
    int depth;
} reader;

static void ws(reader *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t utf8_put(char *o, uint32_t c)
{
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xc0 | c >> 6); o[1] = (char)(0x80 | (c & 0x3f)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12); o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f)); return 3;
    }
    o[0] = (char)(0xf0 | c >> 18); o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f)); o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* A string literal at r->p (on the opening quote) into a malloc'ed UTF-8 string. */
static char *string(reader *r)
{
    const char *s = ++r->p;
    size_t n = 0;
    while (s[n] && s[n] != '"')
        n += s[n] == '\\' && s[n + 1] ? 2 : 1;
    if (s[n] != '"')
        return NULL;
    char *out = malloc(n + 1), *o = out;   /* escapes never grow the text */
    if (!out)
        return NULL;
    while (*r->p != '"') {
        char c = *r->p++;
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        c = *r->p++;
        switch (c) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            int u = hex4(r->p);
            if (u < 0)
                goto bad;
            r->p += 4;
            uint32_t cp = (uint32_t)u;
            if (u >= 0xd800 && u < 0xdc00 && r->p[0] == '\\' && r->p[1] == 'u') {
                int lo = hex4(r->p + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + (((uint32_t)u - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                    r->p += 6;
                }
            }
            if (cp >= 0xd800 && cp < 0xe000)
                cp = 0xfffd;
            o += utf8_put(o, cp);
            break;
        }
        default: *o++ = c; break;   /* \" \\ \/ */
        }
    }
    r->p++;
    *o = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static bool value(reader *r, lp_cj *v);

static bool push(lp_cj *v, int *cap, char *key)
{
    if (v->n == *cap) {
        int c = *cap ? *cap * 2 : 8;
        lp_cj *items = realloc(v->items, (size_t)c * sizeof *items);
        if (!items)
            return false;
        v->items = items;
        if (v->type == LP_CJ_OBJECT) {
            char **keys = realloc(v->keys, (size_t)c * sizeof *keys);
            if (!keys)
                return false;
            v->keys = keys;
        }
        *cap = c;
    }
    memset(&v->items[v->n], 0, sizeof v->items[v->n]);
    if (v->type == LP_CJ_OBJECT)
        v->keys[v->n] = key;
    v->n++;
    return true;
}

static bool container(reader *r, lp_cj *v, char close)
{
    int cap = 0;
    if (++r->depth > CJ_MAX_DEPTH)
        return false;
    r->p++;
    ws(r);
    if (*r->p == close) {
        r->p++;
        r->depth--;
        return true;
    }
    for (;;) {
        char *key = NULL;
        ws(r);
        if (close == '}') {
            if (*r->p != '"' || !(key = string(r)))
                return false;
            ws(r);
            if (*r->p++ != ':') {
                free(key);
                return false;
            }
        }
        if (!push(v, &cap, key)) {
            free(key);
            return false;
        }
        if (!value(r, &v->items[v->n - 1]))
            return false;
        ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p != close)
            return false;
        r->p++;
        r->depth--;
        return true;
    }
}

static bool value(reader *r, lp_cj *v)
{
    memset(v, 0, sizeof *v);
    ws(r);
    const char *p = r->p;
    if (*p == '{') {
        v->type = LP_CJ_OBJECT;
        return container(r, v, '}');
    }
    if (*p == '[') {
        v->type = LP_CJ_ARRAY;
        return container(r, v, ']');
    }
    if (*p == '"') {
        v->type = LP_CJ_STRING;
        return (v->str = string(r)) != NULL;
    }
    if (strncmp(p, "null", 4) == 0) {
        r->p += 4;
        return true;
    }
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
        v->type = LP_CJ_BOOL;
        v->b = *p == 't';
        r->p += v->b ? 4 : 5;
        return true;
    }
    char *end;
    v->num = strtod(p, &end);
    if (end == p)
        return false;
    v->type = LP_CJ_NUMBER;
    v->str = strndup(p, (size_t)(end - p));
    r->p = end;
    return v->str != NULL;
}

bool lp_cj_parse(const char *text, lp_cj *out)
{
    reader r = { text, 0 };
    if (!value(&r, out)) {
        lp_cj_free(out);
        return false;
    }
    ws(&r);
    if (*r.p) {
        lp_cj_free(out);
        return false;
    }
    return true;
}

/* A malloc'ed copy of s with control characters escaped, or NULL. */
static char *escaped(const char *s)
{
    size_t cap = 4 * strlen(s) + 1;
    char *e = malloc(cap);
    if (e)
        lowp_escape_text(e, cap, s);
    return e;
}

bool lp_cj_escape_strings(lp_cj *v)
{
    if (v->type == LP_CJ_STRING) {
        char *e = escaped(v->str);
        if (!e)
            return false;
        free(v->str);
        v->str = e;
    }
    for (int i = 0; i < v->n; i++) { /* recursion bounded by the parser's CJ_MAX_DEPTH */
        if (!lp_cj_escape_strings(&v->items[i]))
            return false;
        if (v->keys) {
            char *e = escaped(v->keys[i]);
            if (!e)
                return false;
            free(v->keys[i]);
            v->keys[i] = e;
        }
    }
    return true;
}

void lp_cj_free(lp_cj *v)
{
    for (int i = 0; i < v->n; i++) {
        lp_cj_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

const lp_cj *lp_cj_get(const lp_cj *obj, const char *key)
{
    if (!obj || obj->type != LP_CJ_OBJECT)
        return NULL;
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

const char *lp_cj_str(const lp_cj *v, const char *dflt)
{
    return v && v->type == LP_CJ_STRING ? v->str : dflt;
}
