/* params.c — YAML-like value trees and the typed, checked parameter maps built on them. */
#include "data/params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "base/limits.h"

/* ---- value trees ---- */

lp_status lp_yval_new(lp_node_kind kind, int line, const char *str, lp_yval **out)
{
    lp_yval *v = calloc(1, sizeof *v);
    if (!v)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    v->kind = kind;
    v->line = line;
    if (str && !(v->str = strdup(str))) {
        free(v);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *out = v;
    return LP_OK;
}

void lp_yval_free(lp_yval *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        if (v->keys)
            free(v->keys[i]);
        lp_yval_free(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->str);
    free(v);
}

lp_status lp_yval_append(lp_yval *c, const char *key, lp_yval *item)
{
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 4;
        lp_yval **items = realloc(c->items, (size_t)cap * sizeof *items);
        if (items)
            c->items = items;
        char **keys = NULL;
        if (items && c->kind == LP_NODE_MAP) {
            keys = realloc(c->keys, (size_t)cap * sizeof *keys);
            if (keys)
                c->keys = keys;
        }
        if (!items || (c->kind == LP_NODE_MAP && !keys)) {
            lp_yval_free(item);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        c->cap = cap;
    }
    if (c->kind == LP_NODE_MAP) {
        char *k = strdup(key);
        if (!k) {
            lp_yval_free(item);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        c->keys[c->n] = k;
    }
    c->items[c->n++] = item;
    return LP_OK;
}

lp_yval *lp_yval_get(const lp_yval *map, const char *key)
{
    if (!map || map->kind != LP_NODE_MAP)
        return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

lp_status lp_yval_clone(const lp_yval *v, lp_yval **out)
{
    lp_yval *c;
    LP_TRY(lp_yval_new(v->kind, v->line, v->str, &c));
    c->quoted = v->quoted;
    c->key_line = v->key_line;
    for (int i = 0; i < v->n; i++) {
        lp_yval *item;
        lp_status st = lp_yval_clone(v->items[i], &item);
        if (st == LP_OK)
            st = lp_yval_append(c, v->keys ? v->keys[i] : NULL, item);
        if (st != LP_OK) {
            lp_yval_free(c);
            return st;
        }
    }
    *out = c;
    return LP_OK;
}

/* The tree builder's state: the open collections, and for a map the key read but not yet
 * given its value. */
typedef struct anchor {
    char *name;
    lp_yval *node;              /* in the tree being built (owned by it) */
} anchor;

typedef struct ybuild {
    const char *what;
    int depth;
    lp_yval *stack[LP_MAX_YAML_NESTING];
    char *keys[LP_MAX_YAML_NESTING];
    int key_lines[LP_MAX_YAML_NESTING];
    lp_yval *root;
    anchor *anchors;            /* &name -> value, the latest definition of a name wins */
    int n_anchors, cap_anchors;
    int64_t nodes;              /* values made, aliases expanded (LP_MAX_YAML_NODES) */
} ybuild;

/* Values in a tree and its height (1 for a scalar); the tree is bounded by the nesting limit. */
static int64_t tree_size(const lp_yval *v, int *height)
{
    int64_t n = 1;
    int h = 0;
    for (int i = 0; i < v->n; i++) {
        int hi;
        n += tree_size(v->items[i], &hi);
        h = hi > h ? hi : h;
    }
    *height = h + 1;
    return n;
}

static lp_status count_node(ybuild *b, int64_t n, int line)
{
    b->nodes += n;
    if (b->nodes > LP_MAX_YAML_NODES)
        return lp_error(LOWP_ERR_FORMAT, "%s: line %d: more than %d values with aliases expanded", b->what, line,
                        LP_MAX_YAML_NODES);
    return LP_OK;
}

static lp_status add_anchor(ybuild *b, const unsigned char *name, lp_yval *node)
{
    if (!name)
        return LP_OK;
    if (b->n_anchors == b->cap_anchors) {
        int cap = b->cap_anchors ? 2 * b->cap_anchors : 8;
        anchor *a = realloc(b->anchors, (size_t)cap * sizeof *a);
        if (!a)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        b->anchors = a;
        b->cap_anchors = cap;
    }
    if (!(b->anchors[b->n_anchors].name = strdup((const char *)name)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    b->anchors[b->n_anchors++].node = node;
    return LP_OK;
}

/* The value an alias stands for: a copy of its anchor's, which must be complete (an alias
 * inside the value it names would make the tree infinite). */
static lp_status resolve_alias(ybuild *b, const char *name, int line, lp_yval **out)
{
    int k = b->n_anchors - 1;
    while (k >= 0 && strcmp(b->anchors[k].name, name) != 0)
        k--;
    if (k < 0)
        return lp_error(LOWP_ERR_FORMAT, "%s: line %d: alias *%s names no anchor (&%s) before it", b->what, line,
                        name, name);
    const lp_yval *target = b->anchors[k].node;
    for (int d = 0; d < b->depth; d++)
        if (b->stack[d] == target)
            return lp_error(LOWP_ERR_FORMAT, "%s: line %d: alias *%s stands inside the value it names", b->what,
                            line, name);
    int height;
    int64_t n = tree_size(target, &height);
    if (b->depth + height > LP_MAX_YAML_NESTING)
        return lp_error(LOWP_ERR_FORMAT, "%s: line %d: lists and maps nested more than %d levels deep (alias *%s)",
                        b->what, line, LP_MAX_YAML_NESTING, name);
    LP_TRY(count_node(b, n, line));
    LP_TRY(lp_yval_clone(target, out));
    (*out)->line = line;
    (*out)->key_line = 0;
    return LP_OK;
}

/* YAML's merge key: `<<: *base` (or a list of such) in a map adds the merged maps' keys the
 * map does not set itself (PyYAML's rule, which LPOT's loader follows), when the map ends. */
static lp_status apply_merges(ybuild *b, lp_yval *map, int line)
{
    lp_yval *merge = lp_yval_get(map, "<<");
    if (!merge)
        return LP_OK;
    int n_src = merge->kind == LP_NODE_SEQ ? merge->n : 1;
    for (int s = 0; s < n_src; s++) {
        const lp_yval *src = merge->kind == LP_NODE_SEQ ? merge->items[s] : merge;
        if (src->kind != LP_NODE_MAP)
            return lp_error(LOWP_ERR_FORMAT, "%s: line %d: '<<' merges maps (<<: *name, or a list of them)", b->what,
                            src->line ? src->line : line);
        for (int i = 0; i < src->n; i++) {
            if (lp_yval_get(map, src->keys[i]))
                continue;
            lp_yval *copy;
            LP_TRY(lp_yval_clone(src->items[i], &copy));
            LP_TRY(lp_yval_append(map, src->keys[i], copy));
        }
    }
    /* drop the '<<' entry itself */
    int at = 0;
    while (strcmp(map->keys[at], "<<") != 0)
        at++;
    free(map->keys[at]);
    lp_yval_free(map->items[at]);
    memmove(map->keys + at, map->keys + at + 1, (size_t)(map->n - at - 1) * sizeof *map->keys);
    memmove(map->items + at, map->items + at + 1, (size_t)(map->n - at - 1) * sizeof *map->items);
    map->n--;
    return LP_OK;
}

static const char *event_kind(yaml_event_type_t t)
{
    return t == YAML_SEQUENCE_START_EVENT ? "a list" : t == YAML_MAPPING_START_EVENT ? "a map" : "an alias";
}

/* Attaches a new value to the open collection (or makes it the root), then opens it when it
 * is a collection about to be filled (not a complete copy an alias stands for). Takes
 * ownership of `nv`. */
static lp_status attach(ybuild *b, lp_yval *nv, int line, bool open)
{
    if (b->depth == 0) {
        b->root = nv;
    } else {
        lp_yval *parent = b->stack[b->depth - 1];
        if (parent->kind == LP_NODE_MAP)
            nv->key_line = b->key_lines[b->depth - 1];
        lp_status st = lp_yval_append(parent, b->keys[b->depth - 1], nv);
        free(b->keys[b->depth - 1]);
        b->keys[b->depth - 1] = NULL;
        LP_TRY(st);
    }
    if (open && (nv->kind == LP_NODE_SEQ || nv->kind == LP_NODE_MAP)) {
        if (b->depth == LP_MAX_YAML_NESTING)
            return lp_error(LOWP_ERR_FORMAT, "%s: line %d: lists and maps nested more than %d levels deep", b->what,
                            line, LP_MAX_YAML_NESTING);
        b->stack[b->depth++] = nv;
    }
    return LP_OK;
}

/* One parser event. Every event kind is handled in every position: a key must be a scalar
 * (a list, a map or an alias where a map's key belongs is refused), an alias is a copy of its
 * anchored value (bounded by LP_MAX_YAML_NODES and the nesting limit), and a second document
 * is refused. */
static lp_status on_event(ybuild *b, const yaml_event_t *ev, int *docs, bool *done)
{
    int line = (int)ev->start_mark.line + 1;
    lp_yval *parent = b->depth > 0 ? b->stack[b->depth - 1] : NULL;
    bool want_key = parent && parent->kind == LP_NODE_MAP && !b->keys[b->depth - 1];
    lp_yval *nv = NULL;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return LP_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return lp_error(LOWP_ERR_FORMAT, "%s: line %d: more than one YAML document", b->what, line);
        return LP_OK;
    case YAML_ALIAS_EVENT:
        if (want_key)
            return lp_error(LOWP_ERR_FORMAT, "%s: line %d: a key must be a name or a number, not %s", b->what, line,
                            event_kind(ev->type));
        LP_TRY(resolve_alias(b, (const char *)ev->data.alias.anchor, line, &nv));
        return attach(b, nv, line, false);
    case YAML_SCALAR_EVENT: {
        const char *val = (const char *)ev->data.scalar.value;
        bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (want_key) {
            if (lp_yval_get(parent, val))
                return lp_error(LOWP_ERR_FORMAT, "%s: key '%s' given twice at line %d", b->what, val, line);
            if (!(b->keys[b->depth - 1] = strdup(val)))
                return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            b->key_lines[b->depth - 1] = line;
            return LP_OK;
        }
        bool null = plain && (!*val || !strcmp(val, "~") || !strcmp(val, "null") || !strcmp(val, "Null") ||
                              !strcmp(val, "NULL"));
        LP_TRY(count_node(b, 1, line));
        LP_TRY(lp_yval_new(null ? LP_NODE_NULL : LP_NODE_SCALAR, line, null ? NULL : val, &nv));
        nv->quoted = !plain;
        LP_TRY(attach(b, nv, line, false));
        return add_anchor(b, ev->data.scalar.anchor, nv);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (want_key)
            return lp_error(LOWP_ERR_FORMAT, "%s: line %d: a key must be a name or a number, not %s", b->what, line,
                            event_kind(ev->type));
        LP_TRY(count_node(b, 1, line));
        LP_TRY(lp_yval_new(ev->type == YAML_SEQUENCE_START_EVENT ? LP_NODE_SEQ : LP_NODE_MAP, line, NULL, &nv));
        LP_TRY(attach(b, nv, line, true));
        return add_anchor(b, ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
                                                                     : ev->data.mapping_start.anchor, nv);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth == 0) /* libyaml pairs them; a stray end is its bug, refused all the same */
            return lp_error(LOWP_ERR_FORMAT, "%s: line %d: unbalanced end of a list or map", b->what, line);
        if (ev->type == YAML_MAPPING_END_EVENT)
            LP_TRY(apply_merges(b, b->stack[b->depth - 1], line));
        free(b->keys[b->depth - 1]);
        b->keys[b->depth - 1] = NULL;
        b->depth--;
        return LP_OK;
    default: /* stream start, document end, no event */
        return LP_OK;
    }
}

lp_status lp_yval_parse(const char *text, size_t size, const char *what, lp_yval **out)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    ybuild b = { .what = what };
    int docs = 0;
    bool done = false;
    lp_status st = LP_OK;
    while (!done && st == LP_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = lp_error(LOWP_ERR_FORMAT, "%s: YAML syntax error: %s at line %d", what,
                          parser.problem ? parser.problem : "unknown", (int)(parser.problem_mark.line + 1));
            break;
        }
        st = on_event(&b, &ev, &docs, &done);
        yaml_event_delete(&ev);
    }
    for (int i = 0; i < LP_MAX_YAML_NESTING; i++)
        free(b.keys[i]);
    for (int i = 0; i < b.n_anchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    yaml_parser_delete(&parser);
    if (st == LP_OK && !b.root)
        st = lp_error(LOWP_ERR_FORMAT, "%s: empty: no YAML value in it", what);
    if (st != LP_OK) {
        lp_yval_free(b.root);
        return st;
    }
    *out = b.root;
    return LP_OK;
}

lp_status lp_yval_parse_flow(const char *text, lp_yval **out)
{
    /* Scalars that are not flow collections stay verbatim (a path may contain ':' or ','). */
    const char *s = text;
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '[' && *s != '{')
        return lp_yval_new(LP_NODE_SCALAR, 0, text, out);
    size_t n = strlen(text);
    char *what = malloc(n + 3);
    if (!what)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(what, n + 3, "'%s'", text);
    lp_status st = lp_yval_parse(text, n, what, out);
    free(what);
    /* A value given on the command line or through the API: a bad argument, not a bad file. */
    return st == LOWP_ERR_FORMAT ? LOWP_ERR_INVALID_ARGUMENT : st;
}

/* ---- scalar conversions ---- */

bool lp_scalar_int(const lp_yval *v, int64_t *out)
{
    if (!v || v->kind != LP_NODE_SCALAR || v->quoted)
        return false;
    const char *s = v->str;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 0);
    if (end == s || *end || errno)
        return false;
    *out = x;
    return true;
}

bool lp_scalar_float(const lp_yval *v, double *out)
{
    if (!v || v->kind != LP_NODE_SCALAR || v->quoted)
        return false;
    const char *s = v->str;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(x))
        return false;
    *out = x;
    return true;
}

bool lp_scalar_bool(const lp_yval *v, bool *out)
{
    if (!v || v->kind != LP_NODE_SCALAR || v->quoted)
        return false;
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(v->str, yes[i])) { *out = true; return true; }
        if (!strcasecmp(v->str, no[i])) { *out = false; return true; }
    }
    return false;
}

/* ---- errors ---- */

lp_status lp_cfg_error(lp_status st, const char *file, const char *path, int line,
                       const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[40] = "";
    if (line > 0)
        snprintf(where, sizeof where, " at line %d", line);
    return lp_error(st, "%s%s%s%s%s%s", file && *file ? file : "", file && *file ? ": " : "",
                    path && *path ? path : "", path && *path ? ": " : "", msg, where);
}

/* LPOT 1.4 components lowp does not have, and why: named in the refusal instead of a bare
 * "unknown" (docs/config.md lists them too). */
static const struct { const char *kind, *name, *why; } lpot_missing[] = {
    {"dataset", "TFRecordDataset", "TensorFlow record files hold TensorFlow's data; give the data as images, IDX, CIFAR, Npy or COCO JSON"},
    {"dataset", "ImageRecord", "TensorFlow ImageNet records; use ImagenetRaw or ImageFolder on the images"},
    {"dataset", "Imagenet", "LPOT's deprecated TensorFlow ImageNet records; use ImagenetRaw"},
    {"dataset", "COCORecord", "TensorFlow COCO records; use COCORaw on the images and instances JSON"},
    {"dataset", "VOCRecord", "TensorFlow VOC records"},
    {"dataset", "bert", "TensorFlow feature records of LPOT's BERT preprocessing (a tokenizer lowp does not have); save the features as .npy and use Npy"},
    {"dataset", "style_transfer", "TensorFlow style-transfer pairs"},
    {"transform", "ParseDecodeImagenet", "it decodes TensorFlow records, which lowp does not read"},
    {"transform", "ParseDecodeCoco", "it decodes TensorFlow records, which lowp does not read"},
    {"transform", "ParseDecodeVoc", "it decodes TensorFlow records, which lowp does not read"},
    {"transform", "DecodeImage", "TensorFlow's image bytes: lowp's datasets decode images already"},
    {"transform", "EncodeJped", "TensorFlow's image bytes: lowp's datasets decode images already"},
    {"transform", "ToPILImage", "lowp's samples are arrays (float32 0..255 HWC from image datasets): there is no PIL image to convert to; Cast or ToArray"},
    {"transform", "SquadV1", "it detokenizes answers with BERT's vocabulary (a tokenizer lowp does not have); SquadF1 scores the model's answer spans on token positions"},
};

lp_status lp_unknown_name(const lowp_params *p, const char *kind, const char *name,
                          void (*known)(char *buf, size_t size))
{
    char where[40] = "";
    int line = lp_yval_line(p->node);
    if (line > 0)
        snprintf(where, sizeof where, " at line %d", line);
    for (size_t i = 0; i < sizeof lpot_missing / sizeof *lpot_missing; i++)
        if (!strcmp(lpot_missing[i].kind, kind) && !strcmp(lpot_missing[i].name, name))
            return lp_error(LOWP_ERR_UNSUPPORTED, "%s%s%s%s%s '%s'%s is an LPOT %s that lowp does not have: %s",
                            p->file, *p->file ? ": " : "", p->path, *p->path ? ": " : "", kind, name, where, kind,
                            lpot_missing[i].why);
    char names[512];
    known(names, sizeof names);
    return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s%s%s%sunknown %s '%s'%s (known: %s)", p->file,
                    *p->file ? ": " : "", p->path, *p->path ? ": " : "", kind, name, where, names);
}

/* ---- params ---- */

void lp_params_view(lowp_params *p, const lp_yval *node, const char *file, const char *path)
{
    memset(p, 0, sizeof *p);
    p->node = (lp_yval *)node;
    snprintf(p->file, sizeof p->file, "%s", file ? file : "");
    snprintf(p->path, sizeof p->path, "%s", path ? path : "");
}

void lp_params_view_of(lowp_params *view, const lowp_params *params, const char *name)
{
    lp_params_view(view, params ? params->node : NULL, params ? params->file : "",
                   params && *params->path ? params->path : name);
}

static const lowp_param_spec *spec_find(const lowp_param_spec *spec, const char *key)
{
    for (; spec && spec->name; spec++)
        if (!strcmp(spec->name, key))
            return spec;
    return NULL;
}

static const lowp_param_spec *spec_positional(const lowp_param_spec *spec)
{
    for (; spec && spec->name; spec++)
        if (spec->positional == 1)
            return spec;
    return NULL;
}

const lp_yval *lp_params_lookup(const lowp_params *p, const char *key);
#define lookup lp_params_lookup
/* The node for `key`, or NULL when absent. */
const lp_yval *lp_params_lookup(const lowp_params *p, const char *key)
{
    if (!p || !p->node || p->node->kind == LP_NODE_NULL)
        return NULL;
    if (p->node->kind == LP_NODE_MAP)
        return lp_yval_get(p->node, key);
    const lowp_param_spec *pos = spec_positional(p->spec);
    return pos && !strcmp(pos->name, key) ? p->node : NULL;
}

static const char *type_name(lowp_param_type t)
{
    switch (t) {
    case LOWP_PARAM_STRING: return "a string";
    case LOWP_PARAM_INT: return "an integer";
    case LOWP_PARAM_FLOAT: return "a number";
    case LOWP_PARAM_BOOL: return "true or false";
    case LOWP_PARAM_INT_LIST: return "a list of integers";
    case LOWP_PARAM_FLOAT_LIST: return "a list of numbers";
    case LOWP_PARAM_STRING_LIST: return "a list of strings";
    default: return "a value";
    }
}

int lp_params_split(const char *s, int max, char tokens[][64])
{
    int n = 0;
    while (*s) {
        while (*s == ',' || isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *b = s;
        while (*s && *s != ',' && !isspace((unsigned char)*s))
            s++;
        if (n < max) {
            size_t len = (size_t)(s - b) < 63 ? (size_t)(s - b) : 63;
            memcpy(tokens[n], b, len);
            tokens[n][len] = 0;
        }
        n++;
    }
    return n;
}

/* Reads a numeric list node: SEQ of scalars, one scalar, or a "1, 2" string. Returns the
 * count (may exceed max: then only max stored), or -1 on a bad element (*bad set). */
static int read_numbers(const lp_yval *v, bool ints, int max, double *vals, int64_t *ivals,
                        const lp_yval **bad)
{
    lp_yval tmp = {.kind = LP_NODE_SCALAR, .line = v->line};
    if (v->kind == LP_NODE_SEQ) {
        for (int i = 0; i < v->n; i++) {
            const lp_yval *it = v->items[i];
            int64_t x;
            double d;
            if (ints ? !lp_scalar_int(it, &x) : !lp_scalar_float(it, &d)) {
                *bad = it;
                return -1;
            }
            if (i < max) {
                if (ints) ivals[i] = x;
                else vals[i] = d;
            }
        }
        return v->n;
    }
    if (v->kind != LP_NODE_SCALAR) {
        *bad = v;
        return -1;
    }
    char tokens[64][64];
    int n = lp_params_split(v->str, 64, tokens);
    if (n == 0 || n > 64) {
        *bad = v;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        tmp.str = tokens[i];
        int64_t x;
        double d;
        if (ints ? !lp_scalar_int(&tmp, &x) : !lp_scalar_float(&tmp, &d)) {
            *bad = v;
            return -1;
        }
        if (i < max) {
            if (ints) ivals[i] = x;
            else vals[i] = d;
        }
    }
    return n;
}

static const char *show(const lp_yval *v)
{
    if (v->kind == LP_NODE_SCALAR)
        return v->str;
    return v->kind == LP_NODE_SEQ ? "a list" : v->kind == LP_NODE_MAP ? "a map" : "nothing";
}

static lp_status check_value(const lowp_params *p, const char *key, const lp_yval *v,
                             lowp_param_type type)
{
    char path[320];
    snprintf(path, sizeof path, "%s%s%s", p->path, *p->path ? "." : "", key);
    bool b;
    int64_t i;
    double d;
    const lp_yval *bad = v;
    bool ok = true;
    switch (type) {
    case LOWP_PARAM_STRING:
        ok = v->kind == LP_NODE_SCALAR;
        break;
    case LOWP_PARAM_INT:
        ok = lp_scalar_int(v, &i);
        break;
    case LOWP_PARAM_FLOAT:
        ok = lp_scalar_float(v, &d);
        break;
    case LOWP_PARAM_BOOL:
        ok = lp_scalar_bool(v, &b);
        break;
    case LOWP_PARAM_INT_LIST:
    case LOWP_PARAM_FLOAT_LIST: {
        double dv[1];
        int64_t iv[1];
        ok = read_numbers(v, type == LOWP_PARAM_INT_LIST, 0, dv, iv, &bad) >= 0;
        break;
    }
    case LOWP_PARAM_STRING_LIST:
        if (v->kind == LP_NODE_SEQ) {
            for (int k = 0; k < v->n && ok; k++)
                if (v->items[k]->kind != LP_NODE_SCALAR)
                    ok = false, bad = v->items[k];
        } else {
            ok = v->kind == LP_NODE_SCALAR;
        }
        break;
    default:
        break;
    }
    if (!ok)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, path, bad->line,
                            "expected %s, got '%s'", type_name(type), show(bad));
    return LP_OK;
}

lp_status lp_params_check(const lowp_params *p, const lowp_param_spec *spec, const char *kind, const char *name)
{
    char what[160];
    snprintf(what, sizeof what, "%s '%s'", kind, name);
    const lp_yval *n = p->node;
    if (n && n->kind != LP_NODE_NULL && n->kind != LP_NODE_MAP) {
        const lowp_param_spec *pos = spec_positional(spec);
        if (!pos)
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, lp_yval_line(n),
                                "%s takes a map of parameters, got '%s'", what, show(n));
        LP_TRY(check_value(p, pos->name, n, pos->type));
    } else if (n && n->kind == LP_NODE_MAP) {
        for (int k = 0; k < n->n; k++) {
            const lowp_param_spec *s = spec_find(spec, n->keys[k]);
            char path[320];
            snprintf(path, sizeof path, "%s%s%s", p->path, *p->path ? "." : "", n->keys[k]);
            if (!s)
                return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, path, lp_yval_line(n->items[k]),
                                    "unknown key '%s' for %s", n->keys[k], what);
            for (int j = 0; j < k; j++)
                if (!strcmp(n->keys[j], n->keys[k]))
                    return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, path,
                                        lp_yval_line(n->items[k]), "key given twice");
            LP_TRY(check_value(p, n->keys[k], n->items[k], s->type));
        }
    }
    lowp_params tmp = *p;
    tmp.spec = spec;
    for (const lowp_param_spec *s = spec; s && s->name; s++)
        if (s->required && !lookup(&tmp, s->name))
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, lp_yval_line(n),
                                "%s needs '%s' (%s)", what, s->name, type_name(s->type));
    return LP_OK;
}

/* ---- public API ---- */

lowp_status lowp_params_create(lowp_params **params_out)
{
    if (!params_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_params_create: NULL argument");
    lowp_params *p = calloc(1, sizeof *p);
    if (!p)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = lp_yval_new(LP_NODE_MAP, 0, NULL, &p->node);
    if (st != LP_OK) {
        free(p);
        return st;
    }
    p->owns = true;
    *params_out = p;
    return LP_OK;
}

void lowp_params_free(lowp_params *p)
{
    if (!p)
        return;
    if (p->owns)
        lp_yval_free(p->node);
    free(p);
}

lowp_status lowp_params_set(lowp_params *p, const char *key, const char *value)
{
    if (!p || !key || !value || !p->owns || p->node->kind != LP_NODE_MAP)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_params_set: bad argument");
    lp_yval *v;
    LP_TRY(lp_yval_parse_flow(value, &v));
    for (int i = 0; i < p->node->n; i++) {
        if (!strcmp(p->node->keys[i], key)) {
            lp_yval_free(p->node->items[i]);
            p->node->items[i] = v;
            return LP_OK;
        }
    }
    return lp_yval_append(p->node, key, v);
}

int lowp_params_has(const lowp_params *p, const char *key) { return lookup(p, key) != NULL; }

const char *lowp_params_path(const lowp_params *p) { return p ? p->path : ""; }

static lp_status bad_get(const lowp_params *p, const char *key, const lp_yval *v, const char *want)
{
    char path[320];
    snprintf(path, sizeof path, "%s%s%s", p->path, *p->path ? "." : "", key);
    return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, path, v ? v->line : 0,
                        "expected %s, got '%s'", want, v ? show(v) : "nothing");
}

lowp_status lowp_params_get_string(const lowp_params *p, const char *key, const char *dflt,
                                   const char **out)
{
    const lp_yval *v = lookup(p, key);
    if (!v || v->kind == LP_NODE_NULL) {
        *out = dflt;
        return LP_OK;
    }
    if (v->kind != LP_NODE_SCALAR)
        return bad_get(p, key, v, "a string");
    *out = v->str;
    return LP_OK;
}

lowp_status lowp_params_get_int(const lowp_params *p, const char *key, int64_t dflt, int64_t *out)
{
    const lp_yval *v = lookup(p, key);
    if (!v) {
        *out = dflt;
        return LP_OK;
    }
    if (!lp_scalar_int(v, out))
        return bad_get(p, key, v, "an integer");
    return LP_OK;
}

lowp_status lowp_params_get_float(const lowp_params *p, const char *key, double dflt, double *out)
{
    const lp_yval *v = lookup(p, key);
    if (!v) {
        *out = dflt;
        return LP_OK;
    }
    if (!lp_scalar_float(v, out))
        return bad_get(p, key, v, "a number");
    return LP_OK;
}

lowp_status lowp_params_get_bool(const lowp_params *p, const char *key, int dflt, int *out)
{
    const lp_yval *v = lookup(p, key);
    bool b;
    if (!v) {
        *out = dflt;
        return LP_OK;
    }
    if (!lp_scalar_bool(v, &b))
        return bad_get(p, key, v, "true or false");
    *out = b;
    return LP_OK;
}

static lp_status get_numbers(const lowp_params *p, const char *key, int max, double *dv,
                             int64_t *iv, int *count_out)
{
    const lp_yval *v = lookup(p, key);
    if (!v) {
        *count_out = 0;
        return LP_OK;
    }
    const lp_yval *bad = v;
    int n = read_numbers(v, iv != NULL, max, dv, iv, &bad);
    if (n < 0)
        return bad_get(p, key, bad, iv ? "a list of integers" : "a list of numbers");
    if (n > max) {
        char path[320];
        snprintf(path, sizeof path, "%s%s%s", p->path, *p->path ? "." : "", key);
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, path, v->line,
                            "at most %d values allowed, got %d", max, n);
    }
    *count_out = n;
    return LP_OK;
}

lowp_status lowp_params_get_ints(const lowp_params *p, const char *key, int max, int64_t *values,
                                 int *count_out)
{
    return get_numbers(p, key, max, NULL, values, count_out);
}

lowp_status lowp_params_get_floats(const lowp_params *p, const char *key, int max, double *values,
                                   int *count_out)
{
    return get_numbers(p, key, max, values, NULL, count_out);
}

lowp_status lowp_params_get_string_at(const lowp_params *p, const char *key, int index,
                                      const char **value_out, int *count_out)
{
    const lp_yval *v = lookup(p, key);
    *value_out = NULL;
    if (!v) {
        *count_out = 0;
        return LP_OK;
    }
    if (v->kind == LP_NODE_SCALAR) {
        *count_out = 1;
        if (index == 0)
            *value_out = v->str;
        return LP_OK;
    }
    if (v->kind != LP_NODE_SEQ)
        return bad_get(p, key, v, "a list of strings");
    *count_out = v->n;
    if (index >= 0 && index < v->n) {
        if (v->items[index]->kind != LP_NODE_SCALAR)
            return bad_get(p, key, v->items[index], "a string");
        *value_out = v->items[index]->str;
    }
    return LP_OK;
}

/* ---- random numbers ---- */

uint64_t lowp_random_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double lowp_random_uniform(uint64_t *state)
{
    return (double)(lowp_random_next(state) >> 11) * (1.0 / 9007199254740992.0);
}
