/* pickle.c — a bounded reader for the subset of Python's pickle format that CIFAR-10/100's
 * "python version" batches use (and what numpy writes for an array under protocols 2..4):
 * dicts, lists, tuples, ints, strings/bytes, None/bools, memo get/put, and GLOBAL + REDUCE +
 * BUILD, which are *recorded*, never executed (a pickle can name any callable: this reader only
 * recognizes numpy's array reconstruction by name and refuses everything it does not know).
 * Values live in one arena; the stack, the memo and the node count are bounded, and every
 * length is checked against the bytes that remain, so a hostile file can only be refused. */
#include "data/pickle.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

#define PK_MAX_NODES (1 << 22)   /* CIFAR100's train batch has ~150,000 values */
#define PK_MAX_STACK (1 << 20)
#define PK_MAX_MEMO (1 << 22)

typedef enum { PV_NONE, PV_BOOL, PV_INT, PV_STR, PV_LIST, PV_TUPLE, PV_DICT, PV_GLOBAL, PV_OBJ, PV_MARK } pv_kind;

typedef struct pv {
    pv_kind kind;
    int64_t i;                  /* INT, BOOL */
    const uint8_t *s;           /* STR (bytes or text), GLOBAL ("module\nname") */
    size_t n;
    struct pv **items;          /* LIST, TUPLE, DICT (key, value, key, value...) */
    int64_t n_items, cap;
    struct pv *fn, *args, *state;   /* OBJ: REDUCE(fn, args), then BUILD(state) */
} pv;

typedef struct pk {
    const uint8_t *p, *end;
    const char *what;
    pv **nodes;
    int64_t n_nodes, cap_nodes;
    pv **stack;
    int64_t sp, cap_stack;
    pv **memo;
    int64_t n_memo, cap_memo;
} pk;

static pv *node(pk *k, pv_kind kind)
{
    if (k->n_nodes == PK_MAX_NODES)
        return NULL;
    if (k->n_nodes == k->cap_nodes) {
        int64_t c = k->cap_nodes ? 2 * k->cap_nodes : 1024;
        pv **n = realloc(k->nodes, (size_t)c * sizeof *n);
        if (!n)
            return NULL;
        k->nodes = n, k->cap_nodes = c;
    }
    pv *v = calloc(1, sizeof *v);
    if (v) {
        v->kind = kind;
        k->nodes[k->n_nodes++] = v;
    }
    return v;
}

static lp_status push(pk *k, pv *v)
{
    if (!v)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: more than %d pickle values, or out of memory", k->what,
                        PK_MAX_NODES);
    if (k->sp == k->cap_stack)
        return lp_error(LOWP_ERR_FORMAT, "%s: the pickle stack grows past %lld", k->what, (long long)k->cap_stack);
    k->stack[k->sp++] = v;
    return LP_OK;
}

static lp_status add_item(pk *k, pv *c, pv *v)
{
    if (c->n_items == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 8;
        pv **n = realloc(c->items, (size_t)cap * sizeof *n);
        if (!n)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", k->what);
        c->items = n, c->cap = cap;
    }
    c->items[c->n_items++] = v;
    return LP_OK;
}

static int64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* The index of the topmost MARK, or -1. */
static int64_t mark_at(const pk *k)
{
    for (int64_t i = k->sp - 1; i >= 0; i--)
        if (k->stack[i]->kind == PV_MARK)
            return i;
    return -1;
}

static lp_status run(pk *k, pv **out)
{
    const uint8_t *start = k->p;
    for (;;) {
        if (k->p >= k->end)
            return lp_error(LOWP_ERR_FORMAT, "%s: the pickle ends without STOP", k->what);
        uint8_t op = *k->p++;
        size_t left = (size_t)(k->end - k->p);
        int64_t arg = 0, len;
        pv *v;
#define NEED(n) do { if (left < (size_t)(n)) return lp_error(LOWP_ERR_FORMAT, "%s: pickle truncated at byte %lld", k->what, (long long)(k->p - start)); } while (0)
#define POP(var) do { if (k->sp < 1 || k->stack[k->sp - 1]->kind == PV_MARK) return lp_error(LOWP_ERR_FORMAT, "%s: pickle stack underflow at byte %lld", k->what, (long long)(k->p - start)); (var) = k->stack[--k->sp]; } while (0)
        switch (op) {
        case 0x80:   /* PROTO */
            NEED(1);
            if (*k->p > 5)
                return lp_error(LOWP_ERR_UNSUPPORTED, "%s: pickle protocol %d", k->what, *k->p);
            k->p++;
            break;
        case 0x95:   /* FRAME: a length hint */
            NEED(8);
            k->p += 8;
            break;
        case '.':    /* STOP */
            if (k->sp != 1)
                return lp_error(LOWP_ERR_FORMAT, "%s: the pickle stops with %lld values on the stack", k->what,
                                (long long)k->sp);
            *out = k->stack[0];
            return LP_OK;
        case '(':
            LP_TRY(push(k, node(k, PV_MARK)));
            break;
        case '}': case ']': case ')':
            LP_TRY(push(k, node(k, op == '}' ? PV_DICT : op == ']' ? PV_LIST : PV_TUPLE)));
            break;
        case 'N': case 0x88: case 0x89:
            LP_TRY(push(k, v = node(k, op == 'N' ? PV_NONE : PV_BOOL)));
            v->i = op == 0x88;
            break;
        case 'K': case 'M': case 'J':   /* BININT1, BININT2, BININT */
            len = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            NEED(len);
            LP_TRY(push(k, v = node(k, PV_INT)));
            v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)le(k->p, 4) : le(k->p, (int)len);
            k->p += len;
            break;
        case 0x8a:   /* LONG1: n bytes, little-endian two's complement */
            NEED(1);
            len = *k->p;
            NEED(1 + len);
            if (len > 8)
                return lp_error(LOWP_ERR_UNSUPPORTED, "%s: an integer of %lld bytes", k->what, (long long)len);
            LP_TRY(push(k, v = node(k, PV_INT)));
            v->i = len ? le(k->p + 1, (int)len) : 0;
            if (len && len < 8 && (k->p[len] & 0x80))
                v->i -= (int64_t)1 << (8 * len);
            k->p += 1 + len;
            break;
        case 'U': case 'C': case 0x8c:   /* SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE */
        case 'T': case 'B': case 'X':    /* BINSTRING, BINBYTES, BINUNICODE */
            len = op == 'U' || op == 'C' || op == 0x8c ? 1 : 4;
            NEED(len);
            arg = le(k->p, (int)len);
            k->p += len;
            left -= (size_t)len;
            if (arg < 0)
                return lp_error(LOWP_ERR_FORMAT, "%s: a string of negative length", k->what);
            NEED(arg);
            LP_TRY(push(k, v = node(k, PV_STR)));
            v->s = k->p, v->n = (size_t)arg;
            k->p += arg;
            break;
        case 'c': {  /* GLOBAL: "module\nname\n" */
            const uint8_t *nl1 = memchr(k->p, '\n', left);
            const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(k->end - nl1 - 1)) : NULL;
            if (!nl2)
                return lp_error(LOWP_ERR_FORMAT, "%s: a GLOBAL without its two lines", k->what);
            LP_TRY(push(k, v = node(k, PV_GLOBAL)));
            v->s = k->p, v->n = (size_t)(nl2 - k->p);
            k->p = nl2 + 1;
            break;
        }
        case 'q': case 'r': case 0x94:   /* BINPUT, LONG_BINPUT, MEMOIZE */
            len = op == 'q' ? 1 : op == 'r' ? 4 : 0;
            NEED(len);
            arg = op == 0x94 ? k->n_memo : le(k->p, (int)len);
            k->p += len;
            if (k->sp < 1 || arg >= PK_MAX_MEMO)
                return lp_error(LOWP_ERR_FORMAT, "%s: a memo put of nothing, or past %d", k->what, PK_MAX_MEMO);
            if (arg >= k->cap_memo) {
                int64_t cap = k->cap_memo ? k->cap_memo : 1024;
                while (cap <= arg)
                    cap *= 2;
                pv **m = realloc(k->memo, (size_t)cap * sizeof *m);
                if (!m)
                    return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", k->what);
                memset(m + k->cap_memo, 0, (size_t)(cap - k->cap_memo) * sizeof *m);
                k->memo = m, k->cap_memo = cap;
            }
            if (arg >= k->n_memo)
                k->n_memo = arg + 1;
            k->memo[arg] = k->stack[k->sp - 1];
            break;
        case 'h': case 'j':   /* BINGET, LONG_BINGET */
            len = op == 'h' ? 1 : 4;
            NEED(len);
            arg = le(k->p, (int)len);
            k->p += len;
            if (arg >= k->n_memo || !k->memo[arg])
                return lp_error(LOWP_ERR_FORMAT, "%s: a memo get of an unset slot %lld", k->what, (long long)arg);
            LP_TRY(push(k, k->memo[arg]));
            break;
        case 'a': case 's': {   /* APPEND, SETITEM */
            pv *x, *y = NULL, *c;
            POP(x);
            if (op == 's')
                POP(y);
            POP(c);
            if (c->kind != (op == 'a' ? PV_LIST : PV_DICT))
                return lp_error(LOWP_ERR_FORMAT, "%s: %s on a value that is not a %s", k->what,
                                op == 'a' ? "APPEND" : "SETITEM", op == 'a' ? "list" : "dict");
            if (op == 's')
                LP_TRY(add_item(k, c, y));
            LP_TRY(add_item(k, c, x));
            LP_TRY(push(k, c));
            break;
        }
        case 'e': case 'u': case 't': {   /* APPENDS, SETITEMS, TUPLE: the values above MARK */
            int64_t m = mark_at(k);
            if (m < 0)
                return lp_error(LOWP_ERR_FORMAT, "%s: no MARK for %c", k->what, op);
            pv *c;
            if (op == 't') {
                c = node(k, PV_TUPLE);
                if (!c)
                    return push(k, NULL);
            } else {
                if (m < 1)
                    return lp_error(LOWP_ERR_FORMAT, "%s: %c without a container", k->what, op);
                c = k->stack[m - 1];
                if (c->kind != (op == 'e' ? PV_LIST : PV_DICT) || (op == 'u' && (k->sp - m - 1) % 2))
                    return lp_error(LOWP_ERR_FORMAT, "%s: %c on the wrong container or an odd number of values",
                                    k->what, op);
            }
            for (int64_t i = m + 1; i < k->sp; i++)
                LP_TRY(add_item(k, c, k->stack[i]));
            k->sp = m;
            if (op == 't')
                LP_TRY(push(k, c));
            break;
        }
        case 0x85: case 0x86: case 0x87: {   /* TUPLE1..3 */
            int n = op - 0x84;
            if (k->sp < n)
                return lp_error(LOWP_ERR_FORMAT, "%s: TUPLE%d on a short stack", k->what, n);
            pv *c = node(k, PV_TUPLE);
            if (!c)
                return push(k, NULL);
            for (int64_t i = k->sp - n; i < k->sp; i++) {
                if (k->stack[i]->kind == PV_MARK)
                    return lp_error(LOWP_ERR_FORMAT, "%s: TUPLE%d over a MARK", k->what, n);
                LP_TRY(add_item(k, c, k->stack[i]));
            }
            k->sp -= n;
            LP_TRY(push(k, c));
            break;
        }
        case 'R': {   /* REDUCE: recorded, not called */
            pv *args, *fn;
            POP(args);
            POP(fn);
            if (fn->kind != PV_GLOBAL || args->kind != PV_TUPLE)
                return lp_error(LOWP_ERR_UNSUPPORTED, "%s: a REDUCE of something other than a named callable", k->what);
            LP_TRY(push(k, v = node(k, PV_OBJ)));
            v->fn = fn, v->args = args;
            break;
        }
        case 'b': {   /* BUILD */
            pv *st, *obj;
            POP(st);
            POP(obj);
            if (obj->kind != PV_OBJ || obj->state)
                return lp_error(LOWP_ERR_UNSUPPORTED, "%s: a BUILD of something other than a reduced object", k->what);
            obj->state = st;
            LP_TRY(push(k, obj));
            break;
        }
        default:
            return lp_error(LOWP_ERR_UNSUPPORTED, "%s: pickle opcode 0x%02x at byte %lld (not one CIFAR's batches "
                            "use)", k->what, op, (long long)(k->p - 1 - start));
        }
#undef NEED
#undef POP
    }
}

static bool str_is(const pv *v, const char *s)
{
    return v && v->kind == PV_STR && v->n == strlen(s) && !memcmp(v->s, s, v->n);
}

static const pv *dict_get(const pv *d, const char *key)
{
    for (int64_t i = 0; i + 1 < d->n_items; i += 2)
        if (str_is(d->items[i], key))
            return d->items[i + 1];
    return NULL;
}

static bool global_is(const pv *g, const char *name)
{
    return g && g->kind == PV_GLOBAL && g->n == strlen(name) && !memcmp(g->s, name, g->n);
}

/* numpy's pickled uint8 array: _reconstruct(ndarray, (0,), b'b') built with
 * (version, shape, dtype('u1'), fortran_order, raw bytes). */
static lp_status u8_array(const pk *k, const pv *a, int64_t *rows, int64_t *cols, const uint8_t **data)
{
    if (!a || a->kind != PV_OBJ || !(global_is(a->fn, "numpy.core.multiarray\n_reconstruct") ||
                                     global_is(a->fn, "numpy._core.multiarray\n_reconstruct")))
        return lp_error(LOWP_ERR_FORMAT, "%s: 'data' is not a numpy array", k->what);
    const pv *st = a->state;
    if (!st || st->kind != PV_TUPLE || st->n_items != 5)
        return lp_error(LOWP_ERR_FORMAT, "%s: 'data': an array state of an unknown layout", k->what);
    const pv *shape = st->items[1], *dt = st->items[2], *fortran = st->items[3], *raw = st->items[4];
    if (shape->kind != PV_TUPLE || shape->n_items != 2 || shape->items[0]->kind != PV_INT ||
        shape->items[1]->kind != PV_INT || shape->items[0]->i < 0 || shape->items[1]->i < 1)
        return lp_error(LOWP_ERR_FORMAT, "%s: 'data' must be a 2-D array (images, pixels)", k->what);
    if (dt->kind != PV_OBJ || !global_is(dt->fn, "numpy\ndtype") || dt->args->n_items < 1 ||
        !str_is(dt->args->items[0], "u1"))
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: 'data' must be uint8 ('u1')", k->what);
    if ((fortran->kind != PV_BOOL && fortran->kind != PV_INT) || fortran->i)
        return lp_error(LOWP_ERR_UNSUPPORTED, "%s: 'data' in Fortran order", k->what);
    *rows = shape->items[0]->i, *cols = shape->items[1]->i;
    if (raw->kind != PV_STR || *rows > (int64_t)(raw->n / (size_t)*cols) || raw->n != (size_t)(*rows * *cols))
        return lp_error(LOWP_ERR_FORMAT, "%s: 'data' holds %zu bytes for %lldx%lld", k->what,
                        raw->kind == PV_STR ? raw->n : 0, (long long)*rows, (long long)*cols);
    *data = raw->s;
    return LP_OK;
}

lp_status lp_cifar_pickle_read(const char *path, const char *label_key, lp_cifar_batch *out)
{
    uint8_t *buf = NULL;
    size_t size = 0;
    LP_TRY(lp_read_file_max(path, LP_MAX_PICKLE_BYTES, &buf, &size));
    pk k = {buf, buf + size, path, NULL, 0, 0, NULL, 0, 0, NULL, 0, 0};
    /* every opcode pushes at most one value and takes at least one byte */
    k.cap_stack = size < PK_MAX_STACK ? (int64_t)size + 1 : PK_MAX_STACK;
    k.stack = malloc(sizeof *k.stack * (size_t)k.cap_stack);
    pv *top = NULL;
    lp_status st = k.stack ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LP_OK)
        st = run(&k, &top);
    memset(out, 0, sizeof *out);
    if (st == LP_OK && top->kind != PV_DICT)
        st = lp_error(LOWP_ERR_FORMAT, "%s: not a CIFAR batch (the pickle is not a dict)", path);
    const pv *labels = NULL;
    int64_t rows = 0, cols = 0;
    const uint8_t *px = NULL;
    if (st == LP_OK)
        st = u8_array(&k, dict_get(top, "data"), &rows, &cols, &px);
    if (st == LP_OK && cols != 3072)
        st = lp_error(LOWP_ERR_FORMAT, "%s: 'data' rows hold %lld pixels, not CIFAR's 3072 (3x32x32)", path,
                      (long long)cols);
    if (st == LP_OK && (!(labels = dict_get(top, label_key)) || labels->kind != PV_LIST ||
                        labels->n_items != rows))
        st = lp_error(LOWP_ERR_FORMAT, "%s: '%s' must be a list of %lld labels", path, label_key, (long long)rows);
    if (st == LP_OK && (!(out->pixels = malloc((size_t)(rows * cols) + 1)) ||
                        !(out->labels = malloc((size_t)(rows ? rows : 1) * sizeof *out->labels))))
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int64_t i = 0; st == LP_OK && i < rows; i++) {
        const pv *l = labels->items[i];
        if (l->kind != PV_INT)
            st = lp_error(LOWP_ERR_FORMAT, "%s: '%s'[%lld] is not an integer", path, label_key, (long long)i);
        else
            out->labels[i] = l->i;
    }
    if (st == LP_OK) {
        memcpy(out->pixels, px, (size_t)(rows * cols));
        out->n = rows;
    } else {
        lp_cifar_batch_free(out);
    }
    for (int64_t i = 0; i < k.n_nodes; i++) {
        free(k.nodes[i]->items);
        free(k.nodes[i]);
    }
    free(k.nodes);
    free(k.stack);
    free(k.memo);
    free(buf);
    return st;
}

void lp_cifar_batch_free(lp_cifar_batch *b)
{
    free(b->pixels);
    free(b->labels);
    memset(b, 0, sizeof *b);
}
