/* config.c — reads a YAML configuration in LPOT 1.x's schema into lp_config, validating
 * every key: unknown keys, wrong types and unknown names are errors naming the key path and
 * line. Keys LPOT has but lowp does not support are errors that say so. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "data/data.h"
#include "metric/metric.h"

/* Key paths are truncated on purpose when absurdly long; they only feed messages. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

typedef struct ctx {
    lp_config *cfg;
    const char *file;
} ctx;

static void join(char *out, size_t size, const char *path, const char *key)
{
    snprintf(out, size, "%s%s%s", path, *path ? "." : "", key);
}

static lp_status bad(const ctx *c, const char *path, const lp_yval *v, const char *fmt, ...) LP_PRINTF(4, 5);
static lp_status bad(const ctx *c, const char *path, const lp_yval *v, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, c->file, path, lp_yval_line(v), "%s", msg);
}

static const char *show(const lp_yval *v)
{
    return v->kind == LP_NODE_SCALAR ? v->str : v->kind == LP_NODE_SEQ ? "a list"
         : v->kind == LP_NODE_MAP ? "a map" : "nothing";
}

/* `v` must be a map (a NULL node counts as an empty one). */
static lp_status need_map(const ctx *c, const char *path, const lp_yval *v)
{
    if (v && v->kind != LP_NODE_MAP && v->kind != LP_NODE_NULL)
        return bad(c, path, v, "expected a map of keys, got '%s'", show(v));
    return LP_OK;
}

/* Every key of `map` must be in `allowed`; keys in `unsupported` get a clearer message. */
static lp_status check_keys(const ctx *c, const char *path, const lp_yval *map,
                            const char *const *allowed, const char *const *unsupported)
{
    LP_TRY(need_map(c, path, map));
    if (!map || map->kind != LP_NODE_MAP)
        return LP_OK;
    for (int i = 0; i < map->n; i++) {
        const char *k = map->keys[i];
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, k);
        if (ok)
            continue;
        char p[256], list[512];
        join(p, sizeof p, path, k);
        for (const char *const *u = unsupported; u && *u; u++)
            if (!strcmp(*u, k))
                return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, p, lp_yval_line(map->items[i]),
                                    "'%s' is an LPOT key that lowp does not support", k);
        size_t n = 0;
        list[0] = 0;
        for (const char *const *a = allowed; *a && n < sizeof list; a++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", a == allowed ? "" : ", ", *a);
        return bad(c, p, map->items[i], "unknown key '%s' (expected one of: %s)", k, list);
    }
    return LP_OK;
}

static lp_status get_str(const ctx *c, const lp_yval *map, const char *key, const char *path,
                         const char **out)
{
    const lp_yval *v = lp_yval_get(map, key);
    if (!v || v->kind == LP_NODE_NULL)
        return LP_OK;
    char p[256];
    join(p, sizeof p, path, key);
    if (v->kind != LP_NODE_SCALAR)
        return bad(c, p, v, "expected a string, got '%s'", show(v));
    *out = v->str;
    return LP_OK;
}

static lp_status get_int(const ctx *c, const lp_yval *map, const char *key, const char *path,
                         int64_t min, int64_t *out)
{
    const lp_yval *v = lp_yval_get(map, key);
    if (!v)
        return LP_OK;
    char p[256];
    join(p, sizeof p, path, key);
    int64_t x;
    if (!lp_scalar_int(v, &x))
        return bad(c, p, v, "expected an integer, got '%s'", show(v));
    if (x < min)
        return bad(c, p, v, "must be at least %lld, got %lld", (long long)min, (long long)x);
    *out = x;
    return LP_OK;
}

/* A number, or a percent string ("1%" = 0.01) when `percent`. */
static lp_status get_float(const ctx *c, const lp_yval *map, const char *key, const char *path,
                           bool percent, double *out)
{
    const lp_yval *v = lp_yval_get(map, key);
    if (!v)
        return LP_OK;
    char p[256];
    join(p, sizeof p, path, key);
    double x;
    if (lp_scalar_float(v, &x)) {
        *out = x;
        return LP_OK;
    }
    if (percent && v->kind == LP_NODE_SCALAR) {
        size_t n = strlen(v->str);
        char *end;
        if (n > 1 && v->str[n - 1] == '%') {
            x = strtod(v->str, &end);
            if (end == v->str + n - 1 && isfinite(x)) {
                *out = x / 100.0;
                return LP_OK;
            }
        }
    }
    return bad(c, p, v, "expected a number%s, got '%s'", percent ? " or a percentage" : "", show(v));
}

static lp_status get_bool(const ctx *c, const lp_yval *map, const char *key, const char *path, bool *out)
{
    const lp_yval *v = lp_yval_get(map, key);
    if (!v)
        return LP_OK;
    char p[256];
    join(p, sizeof p, path, key);
    if (!lp_scalar_bool(v, out))
        return bad(c, p, v, "expected true or false, got '%s'", show(v));
    return LP_OK;
}

static int find_name(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

static lp_status bad_choice(const ctx *c, const char *p, const lp_yval *v, const char *got,
                            const char *const *names)
{
    char list[256];
    size_t n = 0;
    list[0] = 0;
    for (int i = 0; names[i]; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", names[i]);
    return bad(c, p, v, "'%s' is not one of: %s", got, list);
}

static lp_status get_enum(const ctx *c, const lp_yval *map, const char *key, const char *path,
                          const char *const *names, const char **out)
{
    const char *s = NULL;
    LP_TRY(get_str(c, map, key, path, &s));
    if (!s)
        return LP_OK;
    char p[256];
    join(p, sizeof p, path, key);
    if (find_name(names, s) < 0)
        return bad_choice(c, p, lp_yval_get(map, key), s, names);
    *out = s;
    return LP_OK;
}

/* A choice list: one name, "a, b", or [a, b]. */
static lp_status get_choice(const ctx *c, const lp_yval *map, const char *key, const char *path,
                            const char *const *names, lp_cfg_choice *out)
{
    const lp_yval *v = lp_yval_get(map, key);
    if (!v)
        return LP_OK;
    char p[256];
    join(p, sizeof p, path, key);
    out->n = 0;
    char tok[4][64];
    int nt = 0;
    if (v->kind == LP_NODE_SEQ) {
        for (int i = 0; i < v->n; i++) {
            if (v->items[i]->kind != LP_NODE_SCALAR || nt == 4)
                return bad(c, p, v, "expected a list of at most 4 names");
            snprintf(tok[nt++], sizeof tok[0], "%s", v->items[i]->str);
        }
    } else if (v->kind == LP_NODE_SCALAR) {
        if ((nt = lp_params_split(v->str, 4, tok)) > 4)
            return bad(c, p, v, "expected at most 4 names");
    } else {
        return bad(c, p, v, "expected a name or a list of names, got '%s'", show(v));
    }
    for (int i = 0; i < nt; i++) {
        int k = find_name(names, tok[i]);
        if (k < 0)
            return bad_choice(c, p, v, tok[i], names);
        out->v[out->n++] = k;
    }
    return LP_OK;
}

/* ---- enumerations ---- */

static const char *const gran_names[] = {"per_channel", "per_tensor", NULL};
static const char *const scheme_names[] = {"asym", "sym", NULL};
static const char *const qdtype_names[] = {"int8", "uint8", "fp32", "bf16", NULL};
static const char *const algo_names[] = {"minmax", "kl", NULL};

const char *lp_cfg_granularity_name(int v) { return v >= 0 && v < 2 ? gran_names[v] : "?"; }
const char *lp_cfg_scheme_name(int v) { return v >= 0 && v < 2 ? scheme_names[v] : "?"; }
const char *lp_cfg_qdtype_name(int v) { return v >= 0 && v < 4 ? qdtype_names[v] : "?"; }
const char *lp_cfg_algorithm_name(int v) { return v >= 0 && v < 2 ? algo_names[v] : "?"; }

/* ---- components ---- */

/* A map with exactly one key naming a component: {FashionMNIST: {...}}. */
static lp_status get_named(const ctx *c, const lp_yval *v, const char *path, const char *kind,
                           lp_cfg_named *out)
{
    LP_TRY(need_map(c, path, v));
    if (!v || v->kind != LP_NODE_MAP || v->n != 1)
        return bad(c, path, v, "expected exactly one %s name as a key (e.g. %s)", kind,
                   !strcmp(kind, "metric") ? "topk: 1" : "FashionMNIST: {root: ...}");
    out->name = v->keys[0];
    out->params = v->items[0];
    snprintf(out->path, sizeof out->path, "%s", path);
    return LP_OK;
}

static void view_of(const ctx *c, const lp_cfg_named *n, lowp_params *p)
{
    lp_params_view(p, n->params, c->file, n->path);
}

static lp_status parse_transforms(const ctx *c, const lp_yval *v, const char *path,
                                  lp_cfg_named **list_out, int *n_out)
{
    LP_TRY(need_map(c, path, v));
    if (!v || v->kind != LP_NODE_MAP || v->n == 0)
        return LP_OK;
    lp_cfg_named *list = calloc((size_t)v->n, sizeof *list);
    if (!list)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lowp_transform *t = NULL;
    lp_status st = lowp_transform_create(&t);
    for (int i = 0; i < v->n && st == LP_OK; i++) {
        list[i].name = v->keys[i];
        list[i].params = v->items[i];
        snprintf(list[i].path, sizeof list[i].path, "%s", path);
        lowp_params p;
        lp_params_view(&p, v->items[i], c->file, path);
        if (!lp_transform_find(v->keys[i])) {
            st = lp_unknown_name(&p, "transform", v->keys[i], lp_transform_names);
            break;
        }
        join(list[i].path, sizeof list[i].path, path, v->keys[i]);
        lp_params_view(&p, v->items[i], c->file, list[i].path);
        st = lp_transform_append_params(t, v->keys[i], &p);   /* validates the parameters */
    }
    lowp_transform_free(t);
    if (st != LP_OK) {
        free(list);
        return st;
    }
    *list_out = list;
    *n_out = v->n;
    return LP_OK;
}

/* filter: LPOT 1.4 has one, LabelBalance (size: N), which it registers for COCO datasets only
 * (LabelBalanceCOCORaw keeps the images with exactly N boxes). It becomes the dataset's
 * `label_balance` parameter; a dataset without one is refused naming the key. */
static lp_status parse_filter(const ctx *c, const lp_yval *dl, const char *path, const lowp_dataset_vtable *vt,
                              lp_cfg_dataloader *d)
{
    const lp_yval *f = lp_yval_get(dl, "filter");
    if (!f)
        return LP_OK;
    char p[256];
    join(p, sizeof p, path, "filter");
    static const char *const names[] = {"LabelBalance", NULL};
    LP_TRY(check_keys(c, p, f, names, NULL));
    const lp_yval *lb = lp_yval_get(f, "LabelBalance");
    if (!lb)
        return bad(c, p, f, "expected LabelBalance: {size: N}");
    static const char *const lkeys[] = {"size", NULL};
    char q[300];
    join(q, sizeof q, p, "LabelBalance");
    LP_TRY(check_keys(c, q, lb, lkeys, NULL));
    if (!lp_yval_get(lb, "size"))
        return bad(c, q, lb, "LabelBalance needs 'size' (the number of boxes an image must have)");
    LP_TRY(get_int(c, lb, "size", q, 1, &d->label_balance));
    if (lp_yval_get(d->dataset.params, "label_balance"))
        return bad(c, q, lb, "the dataset's label_balance says the same: give one of them");
    bool takes = false;
    for (const lowp_param_spec *s = vt->params; s && s->name; s++)
        takes |= !strcmp(s->name, "label_balance");
    if (!takes)
        return bad(c, q, lb, "LabelBalance keeps images with exactly 'size' boxes: it applies to detection "
                   "datasets (COCORaw, as LPOT's LabelBalanceCOCORaw), not to %s", vt->name);
    return LP_OK;
}

static lp_status parse_dataloader(const ctx *c, const lp_yval *v, const char *path, lp_cfg_dataloader *d)
{
    static const char *const keys[] = {"batch_size", "last_batch", "dataset", "transform", "shuffle", "filter", NULL};
    static const char *const last[] = {"rollover", "discard", NULL};
    LP_TRY(check_keys(c, path, v, keys, NULL));
    d->present = true;
    d->batch_size = 1;
    snprintf(d->path, sizeof d->path, "%s", path);
    LP_TRY(get_int(c, v, "batch_size", path, 1, &d->batch_size));
    const char *lb = NULL;
    LP_TRY(get_enum(c, v, "last_batch", path, last, &lb));
    d->drop_last = lb && !strcmp(lb, "discard");
    LP_TRY(get_bool(c, v, "shuffle", path, &d->shuffle));
    char p[256];
    join(p, sizeof p, path, "dataset");
    const lp_yval *ds = lp_yval_get(v, "dataset");
    if (!ds)
        return bad(c, path, v, "a dataloader needs a 'dataset'");
    LP_TRY(get_named(c, ds, p, "dataset", &d->dataset));
    lowp_params params;
    lp_params_view(&params, ds, c->file, p);
    const lowp_dataset_vtable *vt = lp_dataset_find(d->dataset.name);
    if (!vt) {
        params.node = (lp_yval *)d->dataset.params;
        return lp_unknown_name(&params, "dataset", d->dataset.name, lp_dataset_names);
    }
    join(d->dataset.path, sizeof d->dataset.path, p, d->dataset.name);
    view_of(c, &d->dataset, &params);
    LP_TRY(lp_params_check(&params, vt->params, "dataset", d->dataset.name));
    /* LPOT's download: true fetches a missing dataset; lowp reads only what is on disk, so
     * the request would go unanswered: refused (false says what lowp does anyway). */
    const lp_yval *dlv = d->dataset.params ? lp_yval_get(d->dataset.params, "download") : NULL;
    bool want_download = false;
    if (dlv && dlv->kind == LP_NODE_SCALAR && lp_scalar_bool(dlv, &want_download) && want_download) {
        join(p, sizeof p, d->dataset.path, "download");
        return bad(c, p, dlv, "lowp never downloads: put the files in 'root' (Debian packages some, e.g. "
                   "dataset-fashion-mnist) and write download: false or leave it out");
    }
    LP_TRY(parse_filter(c, v, path, vt, d));
    join(p, sizeof p, path, "transform");
    return parse_transforms(c, lp_yval_get(v, "transform"), p, &d->transforms, &d->n_transforms);
}

static bool has_choice(const lp_cfg_choice *ch, int value)
{
    for (int i = 0; i < ch->n; i++)
        if (ch->v[i] == value)
            return true;
    return false;
}

/* What LPOT's schema allows and lowp's quantization cannot do is refused here, naming the key,
 * rather than accepted and done differently: weights are int8 symmetric (zero point 0, as
 * oneDNN's INT8 kernels take them) from their own min/max, activations are per tensor, uint8
 * asymmetric or int8 symmetric. In lists (a tuning space) an unsupported pairing of activation
 * scheme and dtype is left out of the space; the first choices, which `lowp quantize` uses,
 * must pair. */
static lp_status check_tensor_quant(const ctx *c, const lp_yval *v, const char *path, bool weight,
                                    const lp_cfg_tensor_quant *q)
{
    char key[300];
    if (weight && has_choice(&q->scheme, LP_SCHEME_ASYM)) {
        join(key, sizeof key, path, "scheme");
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, key, lp_yval_line(lp_yval_get(v, "scheme")),
                            "lowp quantizes weights symmetric (int8, zero point 0, as oneDNN's INT8 kernels "
                            "take them): use sym");
    }
    if (weight && has_choice(&q->dtype, LP_QDT_UINT8)) {
        join(key, sizeof key, path, "dtype");
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, key, lp_yval_line(lp_yval_get(v, "dtype")),
                            "lowp quantizes weights to int8 (or keeps them fp32/bf16): uint8 weights are not "
                            "supported");
    }
    if (weight && has_choice(&q->algorithm, LP_ALGO_KL)) {
        join(key, sizeof key, path, "algorithm");
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, key, lp_yval_line(lp_yval_get(v, "algorithm")),
                            "weights are quantized from their own min/max (per channel or per tensor): "
                            "kl is an activation calibration algorithm");
    }
    if (!weight && has_choice(&q->granularity, LP_GRAN_PER_CHANNEL)) {
        join(key, sizeof key, path, "granularity");
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, key, lp_yval_line(lp_yval_get(v, "granularity")),
                            "activations are quantized per tensor (one scale per tensor, as ONNX "
                            "QuantizeLinear on activations and oneDNN's INT8 kernels take them)");
    }
    if (!weight && q->scheme.n && q->dtype.n) {
        int s0 = q->scheme.v[0], d0 = q->dtype.v[0];
        if ((d0 == LP_QDT_INT8 && s0 == LP_SCHEME_ASYM) || (d0 == LP_QDT_UINT8 && s0 == LP_SCHEME_SYM)) {
            join(key, sizeof key, path, "dtype");
            return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, key, lp_yval_line(lp_yval_get(v, "dtype")),
                                "activations are uint8 asym or int8 sym; %s with scheme %s is not supported",
                                d0 == LP_QDT_INT8 ? "int8" : "uint8", s0 == LP_SCHEME_ASYM ? "asym" : "sym");
        }
    }
    return LP_OK;
}

static lp_status parse_tensor_quant(const ctx *c, const lp_yval *v, const char *path, bool weight,
                                    lp_cfg_tensor_quant *q)
{
    static const char *const wkeys[] = {"granularity", "scheme", "dtype", "algorithm", "bit", NULL};
    static const char *const keys[] = {"granularity", "scheme", "dtype", "algorithm", NULL};
    LP_TRY(check_keys(c, path, v, weight ? wkeys : keys, NULL));
    const lp_yval *b = weight ? lp_yval_get(v, "bit") : NULL;
    if (b) { /* LPOT's magnitude bits: 7.0 is int8; one value (lowp does not tune it) */
        const lp_yval *one = b->kind == LP_NODE_SEQ && b->n == 1 ? b->items[0] : b;
        double x;
        char key[300];
        join(key, sizeof key, path, "bit");
        if (!lp_scalar_float(one, &x) || x != floor(x) || x < 1 || x > 7)
            return lp_cfg_error(LOWP_ERR_FORMAT, c->file, key, lp_yval_line(b),
                                "expected one whole number from 1 to 7 (magnitude bits: 7 is int8, 3 is 4-bit weights)");
        q->bits = (int)x + 1;
    }
    LP_TRY(get_choice(c, v, "granularity", path, gran_names, &q->granularity));
    LP_TRY(get_choice(c, v, "scheme", path, scheme_names, &q->scheme));
    LP_TRY(get_choice(c, v, "dtype", path, qdtype_names, &q->dtype));
    LP_TRY(get_choice(c, v, "algorithm", path, algo_names, &q->algorithm));
    return check_tensor_quant(c, v, path, weight, q);
}

static lp_status parse_op_quant(const ctx *c, const lp_yval *v, const char *path, lp_cfg_op_quant *q)
{
    static const char *const keys[] = {"weight", "activation", NULL};
    LP_TRY(check_keys(c, path, v, keys, NULL));
    char p[256];
    const lp_yval *w = lp_yval_get(v, "weight"), *a = lp_yval_get(v, "activation");
    if (w) {
        join(p, sizeof p, path, "weight");
        q->has_weight = true;
        LP_TRY(parse_tensor_quant(c, w, p, true, &q->weight));
    }
    if (a) {
        join(p, sizeof p, path, "activation");
        q->has_activation = true;
        LP_TRY(parse_tensor_quant(c, a, p, false, &q->activation));
    }
    return LP_OK;
}

static lp_status parse_configs(const ctx *c, const lp_yval *v, const char *path, lp_cfg_perf_configs *pc)
{
    static const char *const keys[] = {"cores_per_instance", "num_of_instance", "inter_num_of_threads",
                                       "intra_num_of_threads", "kmp_blocktime", "kmp_affinity", NULL};
    LP_TRY(check_keys(c, path, v, keys, NULL));
    LP_TRY(get_int(c, v, "cores_per_instance", path, 1, &pc->cores_per_instance));
    LP_TRY(get_int(c, v, "num_of_instance", path, 1, &pc->num_of_instance));
    LP_TRY(get_int(c, v, "inter_num_of_threads", path, 1, &pc->inter_num_of_threads));
    LP_TRY(get_int(c, v, "intra_num_of_threads", path, 1, &pc->intra_num_of_threads));
    int64_t kb = 0;
    const char *ka = NULL;
    LP_TRY(get_int(c, v, "kmp_blocktime", path, 0, &kb));   /* Intel OpenMP knobs: noted by bench */
    LP_TRY(get_str(c, v, "kmp_affinity", path, &ka));
    pc->has_kmp = lp_yval_get(v, "kmp_blocktime") || lp_yval_get(v, "kmp_affinity");
    return LP_OK;
}

/* A name, a list of names, or LPOT's comma-separated string ("a,b,c": its input_to_list splits
 * it, stripping spaces). One allocation: the pointers, then a copy of split strings. */
static lp_status str_list(const ctx *c, const lp_yval *v, const char *path, const char ***out, int *n_out)
{
    if (!v || v->kind == LP_NODE_NULL)
        return LP_OK;
    int n = 0;
    size_t text = 0;
    for (int i = 0; i < (v->kind == LP_NODE_SEQ ? v->n : 1); i++) {
        const lp_yval *it = v->kind == LP_NODE_SEQ ? v->items[i] : v;
        if (it->kind != LP_NODE_SCALAR)
            return bad(c, path, it, "expected a name or a list of names");
        text += strlen(it->str) + 1;
        n++;
        if (v->kind != LP_NODE_SEQ)   /* a list's items are names as written */
            for (const char *q = it->str; (q = strchr(q, ',')); q++)
                n++;
    }
    const char **l = calloc(1, (size_t)(n ? n : 1) * sizeof *l + text);
    if (!l)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    char *buf = (char *)(l + (n ? n : 1));
    int k = 0;
    for (int i = 0; i < (v->kind == LP_NODE_SEQ ? v->n : 1); i++) {
        const lp_yval *it = v->kind == LP_NODE_SEQ ? v->items[i] : v;
        size_t len = strlen(it->str);
        memcpy(buf, it->str, len + 1);
        if (v->kind == LP_NODE_SEQ) {
            l[k++] = buf;
        } else {
            for (char *part = buf, *comma; part; part = comma ? comma + 1 : NULL) {
                if ((comma = strchr(part, ',')))
                    *comma = 0;
                part += strspn(part, " \t");
                for (size_t e = strlen(part); e && (part[e - 1] == ' ' || part[e - 1] == '\t'); e--)
                    part[e - 1] = 0;
                if (!*part) {
                    free(l);
                    return bad(c, path, it, "an empty name in '%s'", it->str);
                }
                l[k++] = part;
            }
        }
        buf += len + 1;
    }
    *out = l;
    *n_out = n;
    return LP_OK;
}

/* ---- sections ---- */

/* A metric name and its parameters, checked by building it once; path is the parent key. */
static lp_status check_metric(const ctx *c, const char *path, lp_cfg_named *n)
{
    lowp_params p;
    lp_params_view(&p, n->params, c->file, path);
    if (!lp_metric_find(n->name))
        return lp_unknown_name(&p, "metric", n->name, lp_metric_names);
    join(n->path, sizeof n->path, path, n->name);
    lp_params_view(&p, n->params, c->file, n->path);
    lowp_metric *m = NULL;
    lp_status st = lp_metric_create_params(n->name, &p, &m);
    lowp_metric_free(m);
    if (st != LP_OK && !strstr(lowp_last_error(), " line ")) { /* e.g. an anno_path that cannot be read */
        char msg[700];
        snprintf(msg, sizeof msg, "%s", lowp_last_error());
        const lp_yval *at = n->params ? n->params : NULL;
        return lp_error(st, "%s (at line %d)", msg, at && at->line ? at->line : lp_yval_line(at));
    }
    return st;
}

/* multi_metrics (INC 2.x): metric names, `weight` (one per metric) and `higher_is_better`.
 * With weights the value is mean(weight_i * value_i), as INC combines them, compared in the
 * direction of tuning.accuracy_criterion.higher_is_better (a per-metric list would not apply:
 * refused). Without weights every metric is held to its own target, each in its direction
 * (`higher_is_better`, one boolean per metric; else the metric's own): metric/multi.c. */
static lp_status parse_multi_metrics(const ctx *c, const lp_yval *v)
{
    const char *path = "evaluation.accuracy.multi_metrics";
    lp_config *cfg = c->cfg;
    LP_TRY(need_map(c, path, v));
    if (!v || v->kind != LP_NODE_MAP)
        return bad(c, path, v, "expected metric names with their parameters, and 'weight'");
    const lp_yval *w = lp_yval_get(v, "weight"), *hib = lp_yval_get(v, "higher_is_better");
    int n = v->n - (w != NULL) - (hib != NULL);
    if (n < 1)
        return bad(c, path, v, "name at least one metric");
    char p[256];
    if (hib && w) {
        join(p, sizeof p, path, "higher_is_better");
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, p, lp_yval_line(hib),
                            "with 'weight' the weighted mean is compared in the direction of "
                            "tuning.accuracy_criterion.higher_is_better, as INC does: per-metric directions "
                            "apply without weights (each metric held to its own target)");
    }
    cfg->evaluation.multi = calloc((size_t)n, sizeof *cfg->evaluation.multi);
    if (!cfg->evaluation.multi)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (hib) {
        join(p, sizeof p, path, "higher_is_better");
        int nh = hib->kind == LP_NODE_SEQ ? hib->n : 1;
        if (nh != n)
            return bad(c, p, hib, "%d directions for %d metrics", nh, n);
        if (!(cfg->evaluation.multi_hib = calloc((size_t)n, sizeof *cfg->evaluation.multi_hib)))
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        for (int i = 0; i < nh; i++) {
            const lp_yval *it = hib->kind == LP_NODE_SEQ ? hib->items[i] : hib;
            bool b;
            if (it->kind != LP_NODE_SCALAR || !lp_scalar_bool(it, &b))
                return bad(c, p, it, "expected true or false, got '%s'", show(it));
            cfg->evaluation.multi_hib[i] = b;
        }
    }
    int nw = w ? (w->kind == LP_NODE_SEQ ? w->n : 1) : 0;
    join(p, sizeof p, path, "weight");
    if (w && nw != n)
        return bad(c, p, w, "%d weights for %d metrics", nw, n);
    if (w && !(cfg->evaluation.multi_weight = calloc((size_t)n, sizeof *cfg->evaluation.multi_weight)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < nw; i++) {
        const lp_yval *it = w->kind == LP_NODE_SEQ ? w->items[i] : w;
        double x;
        if (it->kind != LP_NODE_SCALAR || !lp_scalar_float(it, &x) || !isfinite(x))
            return bad(c, p, it, "expected a number, got '%s'", show(it));
        cfg->evaluation.multi_weight[i] = x;
    }
    for (int i = 0, k = 0; i < v->n; i++) {
        if (v->items[i] == w || v->items[i] == hib)
            continue;
        lp_cfg_named *nm = &cfg->evaluation.multi[k++];
        nm->name = v->keys[i];
        nm->params = v->items[i];
        cfg->evaluation.n_multi = k;
        LP_TRY(check_metric(c, path, nm));
    }
    return LP_OK;
}

static lp_status parse_model(const ctx *c, const lp_yval *v)
{
    static const char *const keys[] = {"name", "framework", "inputs", "outputs", "path", NULL};
    static const char *const fw[] = {"onnxrt_qlinearops", "onnxrt_integerops", "onnxrt_qdq",
                                     "onnxruntime", NULL};
    lp_config *cfg = c->cfg;
    LP_TRY(check_keys(c, "model", v, keys, NULL));
    LP_TRY(get_str(c, v, "name", "model", &cfg->model.name));
    LP_TRY(get_str(c, v, "path", "model", &cfg->model.path));
    cfg->model.path_line = lp_yval_line(lp_yval_get(v, "path"));
    const char *f = NULL;
    LP_TRY(get_str(c, v, "framework", "model", &f));
    if (f && find_name(fw, f) < 0)
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, "model.framework",
                            lp_yval_line(lp_yval_get(v, "framework")),
                            "lowp works on ONNX models: framework must be one of onnxrt_qlinearops, "
                            "onnxrt_integerops, onnxrt_qdq (got '%s')", f);
    cfg->model.framework = f;
    cfg->model.inputs_line = lp_yval_line(lp_yval_get(v, "inputs"));
    cfg->model.outputs_line = lp_yval_line(lp_yval_get(v, "outputs"));
    LP_TRY(str_list(c, lp_yval_get(v, "inputs"), "model.inputs", &cfg->model.inputs, &cfg->model.n_inputs));
    return str_list(c, lp_yval_get(v, "outputs"), "model.outputs", &cfg->model.outputs, &cfg->model.n_outputs);
}

/* LPOT's train: section. The optimizer and criterion maps hold exactly one named entry. */
static lp_status parse_train(const ctx *c, const lp_yval *v, const char *path, lp_cfg_train *t)
{
    static const char *const keys[] = {"optimizer", "criterion", "dataloader", "start_epoch", "end_epoch",
                                       "iteration", "frequency", "hostfile", NULL};
    static const char *const opt_names[] = {"SGD", "Adam", "AdamW", NULL};
    static const char *const opt_keys[] = {"learning_rate", "momentum", "nesterov", "weight_decay", "beta_1",
                                           "beta_2", "epsilon", NULL};
    static const char *const crit_names[] = {"CrossEntropyLoss", "NLLLoss", "MSELoss", "KnowledgeDistillationLoss", NULL};
    static const char *const crit_keys[] = {"reduction", "temperature", "loss_weights", "loss_types", NULL};
    static const char *const reductions[] = {"mean", "sum", "none", "None", NULL};
    LP_TRY(check_keys(c, path, v, keys, NULL));
    memset(t, 0, sizeof *t);
    t->present = true;
    t->line = lp_yval_line(v);
    t->learning_rate = 0.01;
    t->beta_1 = 0.9;
    t->beta_2 = 0.999;
    t->epsilon = 1e-8;
    t->temperature = 1.0;
    t->loss_weights[0] = t->loss_weights[1] = 0.5;
    t->optimizer = "SGD";
    t->criterion = "CrossEntropyLoss";
    char p[256], q[256];
    LP_TRY(get_int(c, v, "start_epoch", path, 0, &t->start_epoch));
    t->end_epoch = t->start_epoch + 1;
    LP_TRY(get_int(c, v, "end_epoch", path, t->start_epoch + 1, &t->end_epoch));
    LP_TRY(get_int(c, v, "iteration", path, 1, &t->iteration));
    /* pruning.train: frequency is the batches between a gradual pruner's updates (0, not
     * given: once per update_frequency epochs; docs/pruning.md). */
    bool pruning = !strncmp(path, "pruning.", 8);
    t->frequency = pruning ? 0 : 1;
    LP_TRY(get_int(c, v, "frequency", path, 1, &t->frequency));
    /* LPOT 1.4's training loops read no frequency (a reserved key): the weights step every
     * batch and lowp checkpoints every epoch, which is frequency 1; anything else would be
     * silently ignored, so it is refused. */
    join(p, sizeof p, path, "frequency");
    if (!pruning && t->frequency != 1)
        return bad(c, p, lp_yval_get(v, "frequency"), "lowp updates the weights every batch and checkpoints "
                   "every epoch: only 1 (LPOT 1.4's training loop does not read it either)");
    const lp_yval *hf = lp_yval_get(v, "hostfile");
    join(p, sizeof p, path, "hostfile");
    if (hf)
        return bad(c, p, hf, "lowp trains in one process; multi-node runs take their hosts from Open MPI "
                   "(mpirun --hostfile FILE -np N lowp tune|eval ..., docs/distributed.md), and lowp train "
                   "is not distributed: remove the key");
    const lp_yval *dl = lp_yval_get(v, "dataloader");
    join(p, sizeof p, path, "dataloader");
    if (dl)
        LP_TRY(parse_dataloader(c, dl, p, &t->dataloader));
    const lp_yval *o = lp_yval_get(v, "optimizer");
    join(p, sizeof p, path, "optimizer");
    LP_TRY(need_map(c, p, o));
    if (o && o->kind == LP_NODE_MAP) {
        if (o->n != 1)
            return bad(c, p, o, "expected one optimizer (SGD, Adam or AdamW)");
        join(q, sizeof q, p, o->keys[0]);
        if (find_name(opt_names, o->keys[0]) < 0)
            return bad_choice(c, q, o->items[0], o->keys[0], opt_names);
        t->optimizer = o->keys[0];
        const lp_yval *ov = o->items[0];
        LP_TRY(check_keys(c, q, ov, opt_keys, NULL));
        LP_TRY(get_float(c, ov, "learning_rate", q, false, &t->learning_rate));
        LP_TRY(get_float(c, ov, "momentum", q, false, &t->momentum));
        LP_TRY(get_bool(c, ov, "nesterov", q, &t->nesterov));
        LP_TRY(get_float(c, ov, "weight_decay", q, false, &t->weight_decay));
        LP_TRY(get_float(c, ov, "beta_1", q, false, &t->beta_1));
        LP_TRY(get_float(c, ov, "beta_2", q, false, &t->beta_2));
        LP_TRY(get_float(c, ov, "epsilon", q, false, &t->epsilon));
        if (!(t->learning_rate > 0) || t->momentum < 0 || t->weight_decay < 0)
            return bad(c, q, ov, "learning_rate must be positive, momentum and weight_decay not negative");
    }
    const lp_yval *cr = lp_yval_get(v, "criterion");
    join(p, sizeof p, path, "criterion");
    LP_TRY(need_map(c, p, cr));
    if (cr && cr->kind == LP_NODE_MAP) {
        if (cr->n != 1)
            return bad(c, p, cr, "expected one criterion");
        join(q, sizeof q, p, cr->keys[0]);
        if (find_name(crit_names, cr->keys[0]) < 0)
            return bad_choice(c, q, cr->items[0], cr->keys[0], crit_names);
        t->criterion = cr->keys[0];
        const lp_yval *cv = cr->items[0];
        LP_TRY(check_keys(c, q, cv, crit_keys, NULL));
        const char *red = NULL;
        LP_TRY(get_enum(c, cv, "reduction", q, reductions, &red));
        t->reduction_sum = red && !strcmp(red, "sum");
        LP_TRY(get_float(c, cv, "temperature", q, false, &t->temperature));
        const lp_yval *lw = lp_yval_get(cv, "loss_weights");
        if (lw) {
            char r[300];
            join(r, sizeof r, q, "loss_weights");
            if (lw->kind != LP_NODE_SEQ || lw->n != 2 || !lp_scalar_float(lw->items[0], &t->loss_weights[0]) ||
                !lp_scalar_float(lw->items[1], &t->loss_weights[1]))
                return bad(c, r, lw, "expected two numbers [labels, teacher]");
        }
        if (!(t->temperature > 0))
            return bad(c, q, cv, "temperature must be positive");
    }
    return LP_OK;
}

/* op_wise: node names (or regular expressions) with their choices, into cfg->quantization.op_wise */
static lp_status parse_op_wise(const ctx *c, const lp_yval *ow, const char *path)
{
    lp_config *cfg = c->cfg;
    LP_TRY(need_map(c, path, ow));
    if (!ow || ow->kind != LP_NODE_MAP || !ow->n)
        return LP_OK;
    cfg->quantization.op_wise_section = path;
    cfg->quantization.op_wise = calloc((size_t)ow->n, sizeof *cfg->quantization.op_wise);
    if (!cfg->quantization.op_wise)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < ow->n; i++) {
        lp_cfg_op_wise *o = &cfg->quantization.op_wise[i];
        o->pattern = ow->keys[i];
        o->line = lp_yval_line(ow->items[i]);
        o->is_regex = false;
        for (const char *s = o->pattern; *s; s++)
            if (!isalnum((unsigned char)*s) && !strchr("_.-/", *s))
                o->is_regex = true;
        char p[256];
        join(p, sizeof p, path, ow->keys[i]);
        cfg->quantization.n_op_wise = i + 1;
        LP_TRY(parse_op_quant(c, ow->items[i], p, &o->q));
    }
    return LP_OK;
}

static lp_status parse_quantization(const ctx *c, const lp_yval *v)
{
    static const char *const keys[] = {"approach", "calibration", "model_wise", "op_wise", "recipes", "train", NULL};
    static const char *const unsup[] = {"advance", NULL};
    static const char *const approaches[] = {"post_training_static_quant", "post_training_dynamic_quant",
                                             "post_training_auto_quant", "quant_aware_training", NULL};
    lp_config *cfg = c->cfg;
    LP_TRY(check_keys(c, "quantization", v, keys, unsup));
    cfg->quantization.present = true;
    const char *a = NULL;
    LP_TRY(get_enum(c, v, "approach", "quantization", approaches, &a));
    cfg->quantization.approach = a && !strcmp(a, approaches[1])   ? LP_APPROACH_DYNAMIC
                                 : a && !strcmp(a, approaches[2]) ? LP_APPROACH_AUTO
                                 : a && !strcmp(a, approaches[3]) ? LP_APPROACH_QAT
                                                                  : LP_APPROACH_STATIC;
    const lp_yval *tr = lp_yval_get(v, "train");
    if (tr)
        LP_TRY(parse_train(c, tr, "quantization.train", &cfg->quantization.train));
    if (cfg->quantization.approach == LP_APPROACH_QAT && !tr)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, c->file, "quantization.train", lp_yval_line(v),
                            "quant_aware_training needs a train: section (optimizer, criterion, dataloader)");

    const lp_yval *cal = lp_yval_get(v, "calibration");
    static const char *const cal_keys[] = {"sampling_size", "dataloader", NULL};
    LP_TRY(check_keys(c, "quantization.calibration", cal, cal_keys, NULL));
    const lp_yval *ss = lp_yval_get(cal, "sampling_size");
    if (ss) {
        lowp_params p;
        lp_params_view(&p, NULL, c->file, "quantization.calibration");
        lp_yval wrap = {.kind = LP_NODE_MAP, .n = 1};
        char *key = "sampling_size";
        lp_yval *item = (lp_yval *)ss;
        wrap.keys = &key;
        wrap.items = &item;
        p.node = &wrap;
        int n;
        if (lowp_params_get_ints(&p, "sampling_size", 16, cfg->quantization.sampling_size, &n) != LP_OK)
            return bad(c, "quantization.calibration.sampling_size", ss,
                       "expected a positive integer or a list of them");
        for (int i = 0; i < n; i++)
            if (cfg->quantization.sampling_size[i] < 1)
                return bad(c, "quantization.calibration.sampling_size", ss, "must be positive");
        cfg->quantization.n_sampling_size = n;
    }
    const lp_yval *dl = lp_yval_get(cal, "dataloader");
    if (dl)
        LP_TRY(parse_dataloader(c, dl, "quantization.calibration.dataloader", &cfg->quantization.calibration));

    const lp_yval *mw = lp_yval_get(v, "model_wise");
    if (mw)
        LP_TRY(parse_op_quant(c, mw, "quantization.model_wise", &cfg->quantization.model_wise));

    LP_TRY(parse_op_wise(c, lp_yval_get(v, "op_wise"), "quantization.op_wise"));
    /* LPOT 1.4's recipes. lowp never requantizes a MaxPool or Concat output with a scale of its
     * own (they run on their inputs' quantized values, so the scale propagates): the two
     * scale_propagation keys can only be true. weight_correction is not implemented. */
    const lp_yval *rc = lp_yval_get(v, "recipes");
    static const char *const rc_keys[] = {"scale_propagation_max_pooling", "scale_propagation_concat",
                                          "first_conv_or_matmul_quantization", "last_conv_or_matmul_quantization",
                                          "fast_bias_correction", "weight_correction", "equalization",
                                          "learned_rounding", "block_reconstruction", "smooth_quant",
                                          "smooth_quant_args", NULL};
    LP_TRY(check_keys(c, "quantization.recipes", rc, rc_keys, NULL));
    /* lowp's recovery steps (docs/quantization.md); smooth_quant / smooth_quant_args as INC 2.x */
    LP_TRY(get_bool(c, rc, "equalization", "quantization.recipes", &cfg->quantization.equalization));
    LP_TRY(get_bool(c, rc, "learned_rounding", "quantization.recipes", &cfg->quantization.learned_rounding));
    LP_TRY(get_bool(c, rc, "block_reconstruction", "quantization.recipes", &cfg->quantization.block_reconstruction));
    bool sq = false;
    LP_TRY(get_bool(c, rc, "smooth_quant", "quantization.recipes", &sq));
    const lp_yval *sqa = lp_yval_get(rc, "smooth_quant_args");
    static const char *const sqa_keys[] = {"alpha", NULL};
    if (sqa)
        LP_TRY(check_keys(c, "quantization.recipes.smooth_quant_args", sqa, sqa_keys, NULL));
    double alpha = 0.5;
    LP_TRY(get_float(c, sqa, "alpha", "quantization.recipes.smooth_quant_args", false, &alpha));
    if (sq && !(alpha > 0 && alpha < 1))
        return lp_cfg_error(LOWP_ERR_FORMAT, c->file, "quantization.recipes.smooth_quant_args.alpha",
                            lp_yval_line(lp_yval_get(sqa, "alpha")), "expected a number in (0, 1), got %g", alpha);
    cfg->quantization.smooth_quant_alpha = sq ? alpha : 0;
    LP_TRY(get_bool(c, rc, rc_keys[0], "quantization.recipes", &cfg->quantization.scale_propagation_max_pooling));
    LP_TRY(get_bool(c, rc, rc_keys[1], "quantization.recipes", &cfg->quantization.scale_propagation_concat));
    LP_TRY(get_bool(c, rc, rc_keys[2], "quantization.recipes", &cfg->quantization.first_conv_or_matmul_quantization));
    LP_TRY(get_bool(c, rc, rc_keys[3], "quantization.recipes", &cfg->quantization.last_conv_or_matmul_quantization));
    LP_TRY(get_bool(c, rc, rc_keys[4], "quantization.recipes", &cfg->quantization.fast_bias_correction));
    bool wc = false;
    LP_TRY(get_bool(c, rc, rc_keys[5], "quantization.recipes", &wc));
    for (int i = 0; i < 2; i++) {
        bool on = i ? cfg->quantization.scale_propagation_concat : cfg->quantization.scale_propagation_max_pooling;
        if (!on) {
            char key[80];
            snprintf(key, sizeof key, "quantization.recipes.%s", rc_keys[i]);
            return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, key, lp_yval_line(lp_yval_get(rc, rc_keys[i])),
                                "lowp never gives a %s output a scale of its own (it runs on its input's quantized "
                                "values): only true", i ? "Concat" : "MaxPool");
        }
    }
    if (wc)
        return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, "quantization.recipes.weight_correction",
                            lp_yval_line(lp_yval_get(rc, rc_keys[5])),
                            "weight correction is not implemented (bias correction is: fast_bias_correction)");
    return LP_OK;
}

static lp_status parse_evaluation(const ctx *c, const lp_yval *v)
{
    static const char *const keys[] = {"accuracy", "performance", NULL};
    lp_config *cfg = c->cfg;
    LP_TRY(check_keys(c, "evaluation", v, keys, NULL));
    const lp_yval *acc = lp_yval_get(v, "accuracy");
    if (acc) {
        static const char *const akeys[] = {"metric", "multi_metrics", "dataloader", "postprocess", "configs",
                                            "iteration", NULL};
        LP_TRY(check_keys(c, "evaluation.accuracy", acc, akeys, NULL));
        cfg->evaluation.has_accuracy = true;
        cfg->evaluation.accuracy_iteration = -1;
        LP_TRY(get_int(c, acc, "iteration", "evaluation.accuracy", -1, &cfg->evaluation.accuracy_iteration));
        if (cfg->evaluation.accuracy_iteration == 0)
            return bad(c, "evaluation.accuracy.iteration", lp_yval_get(acc, "iteration"),
                       "must be -1 (every batch) or a number of batches >= 1");
        const lp_yval *m = lp_yval_get(acc, "metric");
        if (m) {
            LP_TRY(get_named(c, m, "evaluation.accuracy.metric", "metric", &cfg->evaluation.metric));
            LP_TRY(check_metric(c, "evaluation.accuracy.metric", &cfg->evaluation.metric));
        }
        const lp_yval *mm = lp_yval_get(acc, "multi_metrics");
        if (mm && m)
            return bad(c, "evaluation.accuracy.multi_metrics", mm, "give either 'metric' or 'multi_metrics', not both");
        if (mm)
            LP_TRY(parse_multi_metrics(c, mm));
        const lp_yval *dl = lp_yval_get(acc, "dataloader");
        if (dl)
            LP_TRY(parse_dataloader(c, dl, "evaluation.accuracy.dataloader", &cfg->evaluation.accuracy_dataloader));
        const lp_yval *pp = lp_yval_get(acc, "postprocess");
        static const char *const pkeys[] = {"transform", NULL};
        LP_TRY(check_keys(c, "evaluation.accuracy.postprocess", pp, pkeys, NULL));
        LP_TRY(parse_transforms(c, lp_yval_get(pp, "transform"), "evaluation.accuracy.postprocess.transform",
                                &cfg->evaluation.postprocess, &cfg->evaluation.n_postprocess));
        const lp_yval *cf = lp_yval_get(acc, "configs");
        if (cf)
            LP_TRY(parse_configs(c, cf, "evaluation.accuracy.configs", &cfg->evaluation.accuracy_configs));
    }
    const lp_yval *perf = lp_yval_get(v, "performance");
    if (perf) {
        static const char *const pkeys[] = {"warmup", "iteration", "configs", "dataloader", "postprocess", NULL};
        LP_TRY(check_keys(c, "evaluation.performance", perf, pkeys, NULL));
        cfg->evaluation.has_performance = true;
        LP_TRY(get_int(c, perf, "warmup", "evaluation.performance", 0, &cfg->evaluation.warmup));
        LP_TRY(get_int(c, perf, "iteration", "evaluation.performance", -1, &cfg->evaluation.iteration));
        const lp_yval *cf = lp_yval_get(perf, "configs");
        if (cf)
            LP_TRY(parse_configs(c, cf, "evaluation.performance.configs", &cfg->evaluation.performance_configs));
        const lp_yval *dl = lp_yval_get(perf, "dataloader");
        if (dl)
            LP_TRY(parse_dataloader(c, dl, "evaluation.performance.dataloader",
                                    &cfg->evaluation.performance_dataloader));
        const lp_yval *pp = lp_yval_get(perf, "postprocess");
        static const char *const ppkeys[] = {"transform", NULL};
        LP_TRY(check_keys(c, "evaluation.performance.postprocess", pp, ppkeys, NULL));
        lp_cfg_named *list = NULL;
        int n = 0;
        LP_TRY(parse_transforms(c, lp_yval_get(pp, "transform"), "evaluation.performance.postprocess.transform",
                                &list, &n));
        free(list);   /* validated; a performance run does not score outputs */
    }
    return LP_OK;
}

static lp_status parse_tuning(const ctx *c, const lp_yval *v)
{
    static const char *const keys[] = {"strategy", "accuracy_criterion", "objective", "exit_policy",
                                       "random_seed", "tensorboard", "workspace", NULL};
    /* lowp's built-in strategies (src/tune); LPOT's names are a subset */
    static const char *const strategies[] = {"auto", "basic", "mse", "mse_v2", "conservative", "exhaustive",
                                             "random", "bayesian", NULL};
    static const char *const objectives[] = {"performance", "modelsize", "footprint", NULL};
    lp_config *cfg = c->cfg;
    LP_TRY(check_keys(c, "tuning", v, keys, NULL));
    const lp_yval *s = lp_yval_get(v, "strategy");
    static const char *const skeys[] = {"name", "accuracy_weight", "latency_weight", NULL};
    LP_TRY(check_keys(c, "tuning.strategy", s, skeys, NULL));
    LP_TRY(get_enum(c, s, "name", "tuning.strategy", strategies, &cfg->tuning.strategy));
    LP_TRY(get_float(c, s, "accuracy_weight", "tuning.strategy", false, &cfg->tuning.accuracy_weight));
    LP_TRY(get_float(c, s, "latency_weight", "tuning.strategy", false, &cfg->tuning.latency_weight));
    /* LPOT reads these in its tpe strategy only (lowp has none such): another value would be
     * ignored, so it is refused */
    static const char *const wnames[] = {"accuracy_weight", "latency_weight"};
    for (int i = 0; i < 2; i++) {
        double w = i ? cfg->tuning.latency_weight : cfg->tuning.accuracy_weight;
        if (w != 1.0) {
            char key[64];
            snprintf(key, sizeof key, "tuning.strategy.%s", wnames[i]);
            return lp_cfg_error(LOWP_ERR_UNSUPPORTED, c->file, key, lp_yval_line(lp_yval_get(s, wnames[i])),
                                "LPOT weighs accuracy against latency this way only in its tpe strategy, which "
                                "lowp does not have; leave it at 1.0 (lowp ranks passing recipes by "
                                "tuning.objective)");
        }
    }

    const lp_yval *ac = lp_yval_get(v, "accuracy_criterion");
    static const char *const akeys[] = {"relative", "absolute", "higher_is_better", NULL};
    LP_TRY(check_keys(c, "tuning.accuracy_criterion", ac, akeys, NULL));
    const lp_yval *rel = lp_yval_get(ac, "relative"), *abs_ = lp_yval_get(ac, "absolute");
    if (rel && abs_)
        return bad(c, "tuning.accuracy_criterion", ac, "give either 'relative' or 'absolute', not both");
    if (abs_) {
        cfg->tuning.relative = false;
        LP_TRY(get_float(c, ac, "absolute", "tuning.accuracy_criterion", true, &cfg->tuning.criterion));
    } else if (rel) {
        LP_TRY(get_float(c, ac, "relative", "tuning.accuracy_criterion", true, &cfg->tuning.criterion));
    }
    if (cfg->tuning.criterion < 0)
        return bad(c, "tuning.accuracy_criterion", ac, "the tolerance must not be negative");
    LP_TRY(get_bool(c, ac, "higher_is_better", "tuning.accuracy_criterion", &cfg->tuning.higher_is_better));

    LP_TRY(get_enum(c, v, "objective", "tuning", objectives, &cfg->tuning.objective));
    const lp_yval *ep = lp_yval_get(v, "exit_policy");
    static const char *const ekeys[] = {"timeout", "max_trials", "performance_only", NULL};
    LP_TRY(check_keys(c, "tuning.exit_policy", ep, ekeys, NULL));
    LP_TRY(get_int(c, ep, "timeout", "tuning.exit_policy", 0, &cfg->tuning.timeout));
    LP_TRY(get_int(c, ep, "max_trials", "tuning.exit_policy", 1, &cfg->tuning.max_trials));
    LP_TRY(get_bool(c, ep, "performance_only", "tuning.exit_policy", &cfg->tuning.performance_only));
    LP_TRY(get_int(c, v, "random_seed", "tuning", INT64_MIN, &cfg->tuning.random_seed));
    LP_TRY(get_bool(c, v, "tensorboard", "tuning", &cfg->tuning.tensorboard));
    const lp_yval *ws = lp_yval_get(v, "workspace");
    static const char *const wkeys[] = {"path", "resume", NULL};
    LP_TRY(check_keys(c, "tuning.workspace", ws, wkeys, NULL));
    LP_TRY(get_str(c, ws, "path", "tuning.workspace", &cfg->tuning.workspace_path));
    return get_str(c, ws, "resume", "tuning.workspace", &cfg->tuning.resume);
}

static void set_defaults(lp_config *cfg)
{
    cfg->device = "cpu";
    cfg->quantization.approach = LP_APPROACH_STATIC;
    cfg->quantization.n_sampling_size = 1;
    cfg->quantization.sampling_size[0] = 100;
    cfg->quantization.scale_propagation_max_pooling = true;
    cfg->quantization.scale_propagation_concat = true;
    cfg->quantization.first_conv_or_matmul_quantization = true;
    cfg->quantization.last_conv_or_matmul_quantization = true;
    cfg->evaluation.warmup = 5;
    cfg->evaluation.iteration = -1;
    cfg->evaluation.accuracy_configs.num_of_instance = 1;
    cfg->evaluation.performance_configs.num_of_instance = 1;
    cfg->tuning.strategy = "auto";
    cfg->tuning.accuracy_weight = cfg->tuning.latency_weight = 1.0;
    cfg->tuning.relative = true;
    cfg->tuning.criterion = 0.01;
    cfg->tuning.higher_is_better = true;
    cfg->tuning.objective = "performance";
    cfg->tuning.timeout = 0;
    cfg->tuning.max_trials = 100;
    cfg->tuning.random_seed = 1978;
    cfg->tuning.workspace_path = "./lowp_workspace";
}

/* N:M with 1 <= N < M <= 64, "unstructured" or "channel". */
static bool prune_pattern_ok(const char *s)
{
    int n, m, len = 0;
    return !strcmp(s, "unstructured") || !strcmp(s, "channel") ||
           (sscanf(s, "%d:%d%n", &n, &m, &len) == 2 && !s[len] && n >= 1 && n < m && m <= 64);
}

static lp_status parse_sparsity(const ctx *c, const lp_yval *v, const char *path, const char *key, double *out)
{
    LP_TRY(get_float(c, v, key, path, false, out));
    char p[300];
    join(p, sizeof p, path, key);
    if (lp_yval_get(v, key) && !(*out >= 0 && *out < 1))
        return bad(c, p, lp_yval_get(v, key), "expected a fraction in [0, 1), got %g", *out);
    return LP_OK;
}

static lp_status parse_epochs(const ctx *c, const lp_yval *v, const char *path, int64_t *start, int64_t *end)
{
    LP_TRY(get_int(c, v, "start_epoch", path, 0, start));
    LP_TRY(get_int(c, v, "end_epoch", path, 0, end));
    char p[300];
    join(p, sizeof p, path, "end_epoch");
    if (*end < *start)
        return bad(c, p, lp_yval_get(v, "end_epoch"), "%lld is before start_epoch %lld", (long long)*end, (long long)*start);
    return LP_OK;
}

/* LPOT 1.4's pruning section. Without a train: section each pruner's target sparsity is applied
 * at once (one-shot); with one, `lowp prune` fine-tunes as it says and prunes unstructured
 * pruners gradually over their start_epoch..end_epoch (docs/pruning.md). */
static lp_status parse_pruning(const ctx *c, const lp_yval *v)
{
    lp_config *cfg = c->cfg;
    static const char *const keys[] = {"approach", "train", NULL};
    const lp_yval *tr = lp_yval_get(v, "train");
    if (tr)
        LP_TRY(parse_train(c, tr, "pruning.train", &cfg->pruning.train));
    LP_TRY(check_keys(c, "pruning", v, keys, NULL));
    cfg->pruning.present = true;
    cfg->pruning.target_sparsity = 0.97;
    cfg->pruning.end_epoch = 4;
    const lp_yval *a = lp_yval_get(v, "approach");
    static const char *const akeys[] = {"weight_compression", NULL};
    LP_TRY(check_keys(c, "pruning.approach", a, akeys, NULL));
    const lp_yval *w = a ? lp_yval_get(a, "weight_compression") : NULL;
    static const char *const wkeys[] = {"initial_sparsity", "target_sparsity", "start_epoch", "end_epoch", "pruners", NULL};
    const char *wp = "pruning.approach.weight_compression";
    LP_TRY(check_keys(c, wp, w, wkeys, NULL));
    LP_TRY(parse_sparsity(c, w, wp, "initial_sparsity", &cfg->pruning.initial_sparsity));
    LP_TRY(parse_sparsity(c, w, wp, "target_sparsity", &cfg->pruning.target_sparsity));
    LP_TRY(parse_epochs(c, w, wp, &cfg->pruning.start_epoch, &cfg->pruning.end_epoch));
    const lp_yval *ps = w ? lp_yval_get(w, "pruners") : NULL;
    if (!ps || ps->kind == LP_NODE_NULL)
        return LP_OK;
    char path[300];
    join(path, sizeof path, wp, "pruners");
    if (ps->kind != LP_NODE_SEQ)
        return bad(c, path, ps, "expected a list of pruners");
    if (!(cfg->pruning.pruners = calloc((size_t)ps->n + 1, sizeof *cfg->pruning.pruners)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    static const char *const pkeys[] = {"start_epoch", "end_epoch", "initial_sparsity", "target_sparsity",
                                        "update_frequency", "prune_type", "method", "names", "pattern", NULL};
    for (int i = 0; i < ps->n; i++) {
        const lp_yval *p = ps->items[i];
        lp_cfg_pruner *pr = &cfg->pruning.pruners[i];
        char pp[320];
        snprintf(pp, sizeof pp, "%s[%d]", path, i);
        if (p->kind != LP_NODE_MAP)
            return bad(c, pp, p, "expected a pruner (a map: prune_type, names, target_sparsity, ...)");
        cfg->pruning.n_pruners = i + 1;
        LP_TRY(check_keys(c, pp, p, pkeys, NULL));
        *pr = (lp_cfg_pruner){ .pattern = "unstructured", .target_sparsity = cfg->pruning.target_sparsity,
                               .initial_sparsity = cfg->pruning.initial_sparsity, .start_epoch = cfg->pruning.start_epoch,
                               .end_epoch = cfg->pruning.end_epoch, .update_frequency = 1, .line = lp_yval_line(p) };
        LP_TRY(parse_sparsity(c, p, pp, "initial_sparsity", &pr->initial_sparsity));
        LP_TRY(parse_sparsity(c, p, pp, "target_sparsity", &pr->target_sparsity));
        LP_TRY(parse_epochs(c, p, pp, &pr->start_epoch, &pr->end_epoch));
        LP_TRY(get_float(c, p, "update_frequency", pp, false, &pr->update_frequency));
        static const char *const types[] = {"basic_magnitude", NULL}, *const methods[] = {"per_tensor", NULL};
        const char *t = NULL, *m = NULL;
        LP_TRY(get_enum(c, p, "prune_type", pp, types, &t));
        LP_TRY(get_enum(c, p, "method", pp, methods, &m));
        LP_TRY(get_str(c, p, "pattern", pp, &pr->pattern));
        char key[340];
        join(key, sizeof key, pp, "pattern");
        if (!prune_pattern_ok(pr->pattern))
            return bad(c, key, lp_yval_get(p, "pattern"), "expected unstructured, channel or N:M (1 <= N < M <= 64, e.g. 2:4), got '%s'",
                       pr->pattern);
        const char **nl = NULL;
        int nn = 0;
        join(key, sizeof key, pp, "names");
        LP_TRY(str_list(c, lp_yval_get(p, "names"), key, &nl, &nn));
        size_t len = 1;
        for (int k = 0; k < nn; k++) {
            if (strchr(nl[k], ',')) {
                free(nl);
                return bad(c, key, lp_yval_get(p, "names"), "a name with a comma ('%s') is not supported", nl[k]);
            }
            len += strlen(nl[k]) + 1;
        }
        if (nn && !(pr->names = calloc(len, 1))) {
            free(nl);
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        for (int k = 0; k < nn; k++) {
            if (k)
                strcat(pr->names, ",");
            strcat(pr->names, nl[k]);
        }
        free(nl);
    }
    return LP_OK;
}

/* A graph_optimization (LPOT 1.4) or mixed_precision (INC 2.x) section: the FP32 model
 * converted to BF16 where lowp can run a node in BF16. It becomes the quantization recipe's
 * model_wise dtype (bf16, or fp32 when `precisions` has no bf16) and its op_wise entries, whose
 * only choice is the dtype (fp32 or bf16). */
static lp_status parse_mixed_precision(const ctx *c, const char *section, const lp_yval *v)
{
    static const char *const keys[] = {"precisions", "op_wise", NULL};
    lp_config *cfg = c->cfg;
    LP_TRY(check_keys(c, section, v, keys, NULL));
    char p[256];
    join(p, sizeof p, section, "precisions");
    const char **pl = NULL;
    int np = 0;
    bool bf16 = true;                   /* precisions not given: bf16 where lowp can */
    const lp_yval *pv = lp_yval_get(v, "precisions");
    LP_TRY(str_list(c, pv, p, &pl, &np));
    if (pv && pv->kind != LP_NODE_NULL) {
        bf16 = false;
        for (int k = 0; k < np; k++) {
            if (!strcmp(pl[k], "bf16"))
                bf16 = true;
            else if (strcmp(pl[k], "fp32")) {
                lp_status st = bad(c, p, pv, "'%s' is not a precision lowp converts to: fp32, bf16", pl[k]);
                free(pl);
                return st;
            }
        }
        free(pl);
        if (!np)
            return bad(c, p, pv, "expected fp32, bf16 or [fp32, bf16]");
    }
    cfg->mixed_precision.present = true;
    cfg->mixed_precision.section = section;
    cfg->mixed_precision.bf16 = bf16;
    lp_cfg_op_quant *mw = &cfg->quantization.model_wise;
    mw->has_activation = true;
    mw->activation.dtype.n = 1;
    mw->activation.dtype.v[0] = bf16 ? LP_QDT_BF16 : LP_QDT_FP32;
    snprintf(cfg->mixed_precision.op_wise_path, sizeof cfg->mixed_precision.op_wise_path, "%s.op_wise", section);
    join(p, sizeof p, section, "op_wise");
    const lp_yval *ow = lp_yval_get(v, "op_wise");
    /* LPOT 1.4's schema form, op_wise: {weight: {dtype}, activation: {dtype}} with no node
     * names: the dtype of every node (the template's form names nodes) */
    bool schema_form = ow && ow->kind == LP_NODE_MAP && ow->n;
    for (int i = 0; schema_form && i < ow->n; i++)
        schema_form = !strcmp(ow->keys[i], "weight") || !strcmp(ow->keys[i], "activation");
    if (schema_form) {
        lp_cfg_op_quant all = {0};
        LP_TRY(parse_op_quant(c, ow, p, &all));
        const lp_cfg_tensor_quant *t[] = {all.has_weight ? &all.weight : NULL, all.has_activation ? &all.activation : NULL};
        for (int k = 0; k < 2; k++)
            for (int d = 0; t[k] && d < t[k]->dtype.n; d++)
                if (t[k]->dtype.v[d] != LP_QDT_BF16 && t[k]->dtype.v[d] != LP_QDT_FP32)
                    return bad(c, p, ow, "%s converts to fp32 or bf16 only", section);
        if (t[1] && t[1]->dtype.n)
            mw->activation.dtype.v[0] = bf16 ? t[1]->dtype.v[0] : LP_QDT_FP32;
        else if (t[0] && t[0]->dtype.n)
            mw->activation.dtype.v[0] = bf16 ? t[0]->dtype.v[0] : LP_QDT_FP32;
        return LP_OK;
    }
    LP_TRY(parse_op_wise(c, ow, cfg->mixed_precision.op_wise_path));
    static const char *const tensor_keys[] = {"dtype", NULL};
    for (int i = 0; i < cfg->quantization.n_op_wise; i++) {
        lp_cfg_op_wise *o = &cfg->quantization.op_wise[i];
        const lp_yval *e = ow->items[i];
        const char *const parts[] = {"weight", "activation"};
        const lp_cfg_tensor_quant *t[] = {o->q.has_weight ? &o->q.weight : NULL,
                                          o->q.has_activation ? &o->q.activation : NULL};
        for (int k = 0; k < 2; k++) {
            char q[320];
            snprintf(q, sizeof q, "%s.%s.%s", p, o->pattern, parts[k]);
            LP_TRY(check_keys(c, q, lp_yval_get(e, parts[k]), tensor_keys, NULL));
            for (int d = 0; t[k] && d < t[k]->dtype.n; d++)
                if (t[k]->dtype.v[d] != LP_QDT_BF16 && t[k]->dtype.v[d] != LP_QDT_FP32)
                    return bad(c, q, lp_yval_get(e, parts[k]), "%s converts to fp32 or bf16 only", section);
        }
    }
    return LP_OK;
}

static lp_status parse_root(lp_config *cfg)
{
    ctx c = {cfg, cfg->file};
    static const char *const keys[] = {"version", "model", "device", "quantization", "evaluation", "tuning",
                                       "pruning", "graph_optimization", "mixed_precision", NULL};
    static const char *const unsup[] = {"distillation", "model_conversion", NULL};
    const lp_yval *r = cfg->root;
    if (r->kind != LP_NODE_MAP)
        return bad(&c, "", r, "the configuration must be a map of sections (model, quantization, ...)");
    LP_TRY(check_keys(&c, "", r, keys, unsup));
    LP_TRY(get_str(&c, r, "version", "", &cfg->version));
    static const char *const devices[] = {"cpu", NULL};
    LP_TRY(get_enum(&c, r, "device", "", devices, &cfg->device));
    const lp_yval *m = lp_yval_get(r, "model");
    if (!m)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, cfg->file, "model", 0,
                            "the 'model' section (with at least 'name') is required");
    LP_TRY(parse_model(&c, m));
    if (!cfg->model.name)
        return bad(&c, "model", m, "'name' is required");
    const lp_yval *q = lp_yval_get(r, "quantization");
    if (q)
        LP_TRY(parse_quantization(&c, q));
    /* LPOT's onnxrt_integerops is dynamic quantization (MatMulInteger / ConvInteger) */
    if (cfg->model.framework && !strcmp(cfg->model.framework, "onnxrt_integerops")) {
        const lp_yval *av = q ? lp_yval_get(q, "approach") : NULL;
        if (av && cfg->quantization.approach != LP_APPROACH_DYNAMIC)
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, cfg->file, "quantization.approach", lp_yval_line(av),
                                "model.framework onnxrt_integerops is dynamic quantization: the approach must be "
                                "post_training_dynamic_quant (or left out)");
        cfg->quantization.approach = LP_APPROACH_DYNAMIC;
    }
    /* graph_optimization (LPOT 1.4) / mixed_precision (INC 2.x): LPOT runs them as a component
     * of their own, never together with quantization */
    const char *const mp_names[] = {"graph_optimization", "mixed_precision"};
    for (int k = 0; k < 2; k++) {
        const lp_yval *mp = lp_yval_get(r, mp_names[k]);
        if (!mp)
            continue;
        if (q || cfg->mixed_precision.present)
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, cfg->file, mp_names[k], lp_yval_line(mp),
                                "%s is a conversion of its own: it cannot stand with %s in one configuration "
                                "(LPOT runs them as separate components; write two files)",
                                mp_names[k], q ? "quantization" : "graph_optimization");
        LP_TRY(parse_mixed_precision(&c, mp_names[k], mp));
    }
    const lp_yval *pr = lp_yval_get(r, "pruning");
    if (pr)
        LP_TRY(parse_pruning(&c, pr));
    const lp_yval *e = lp_yval_get(r, "evaluation");
    if (e)
        LP_TRY(parse_evaluation(&c, e));
    const lp_yval *t = lp_yval_get(r, "tuning");
    if (t)
        LP_TRY(parse_tuning(&c, t));
    return LP_OK;
}

/* ---- public API ---- */

void lowp_config_free(lowp_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->model.path_owned);
    free(cfg->model.inputs);
    free(cfg->model.outputs);
    free(cfg->quantization.calibration.transforms);
    free(cfg->quantization.train.dataloader.transforms);
    free(cfg->quantization.op_wise);
    for (int i = 0; i < cfg->pruning.n_pruners; i++)
        free(cfg->pruning.pruners[i].names);
    free(cfg->pruning.pruners);
    free(cfg->pruning.train.dataloader.transforms);
    free(cfg->evaluation.accuracy_dataloader.transforms);
    free(cfg->evaluation.performance_dataloader.transforms);
    free(cfg->evaluation.postprocess);
    free(cfg->evaluation.multi);
    free(cfg->evaluation.multi_weight);
    free(cfg->evaluation.multi_hib);
    lp_yval_free(cfg->root);
    free(cfg);
}

lowp_status lowp_config_load_string(const char *yaml, const char *what, lowp_config **out)
{
    if (!yaml || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_config_load_string: NULL argument");
    lp_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(cfg->file, sizeof cfg->file, "%s", what ? what : "<config>");
    set_defaults(cfg);
    lp_status st = lp_yval_parse(yaml, strlen(yaml), cfg->file, &cfg->root);
    if (st == LP_OK)
        st = parse_root(cfg);
    if (st != LP_OK) {
        lowp_config_free(cfg);
        return st;
    }
    *out = cfg;
    return LP_OK;
}

/* model.path names a file beside the configuration (as a YAML file's own references are read),
 * not one in whatever folder lowp happens to run in: a relative path is joined to the folder of
 * the file that named it. */
static lp_status resolve_model_path(lp_config *cfg, const char *file)
{
    const char *slash = strrchr(file, '/');
    const char *p = cfg->model.path;
    if (!p || p[0] == '/' || !slash)
        return LP_OK;
    size_t dir = (size_t)(slash - file) + 1, n = strlen(p);
    char *joined = malloc(dir + n + 1);
    if (!joined)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", file);
    memcpy(joined, file, dir);
    memcpy(joined + dir, p, n + 1);
    cfg->model.path_owned = joined;
    cfg->model.path = joined;
    return LP_OK;
}

/* Is each of `names` one of the model's inputs (or outputs)? */
static lp_status check_names(const lp_config *cfg, const lowp_model *model, bool inputs)
{
    const char *const *names = inputs ? cfg->model.inputs : cfg->model.outputs;
    int n = inputs ? cfg->model.n_inputs : cfg->model.n_outputs;
    int count = inputs ? lowp_model_input_count(model) : lowp_model_output_count(model);
    for (int k = 0; k < n; k++) {
        int i = 0;
        while (i < count && strcmp(names[k], inputs ? lowp_model_input_name(model, i)
                                                    : lowp_model_output_name(model, i)) != 0)
            i++;
        if (i < count)
            continue;
        char known[400];
        size_t len = 0;
        known[0] = 0;
        for (int j = 0; j < count && len < sizeof known; j++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s'%s'", j ? ", " : "",
                                    inputs ? lowp_model_input_name(model, j) : lowp_model_output_name(model, j));
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, cfg->file, inputs ? "model.inputs" : "model.outputs",
                            inputs ? cfg->model.inputs_line : cfg->model.outputs_line,
                            "'%s' is not %s of the model (its %s: %s)", names[k], inputs ? "an input" : "an output",
                            inputs ? "inputs" : "outputs", known);
    }
    return LP_OK;
}

lowp_status lowp_config_check_model(const lowp_config *config, const lowp_model *model)
{
    if (!config || !model)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_config_check_model: NULL argument");
    LP_TRY(check_names(config, model, true));
    return check_names(config, model, false);
}

lowp_status lowp_config_load(const char *path, lowp_config **out)
{
    if (!path || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_config_load: NULL argument");
    FILE *fp;
    LP_TRY(lp_file_fopen(path, LP_MAX_TEXT_FILE, &fp, NULL));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    lp_status st = buf ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    while (st == LP_OK) {
        if (n + 1 >= cap) {
            if (cap > (64u << 20)) {
                st = lp_error(LOWP_ERR_FORMAT, "%s: too large for a configuration", path);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
        if (r == 0) {
            if (ferror(fp))
                st = lp_error(LOWP_ERR_IO, "%s: read failed", path);
            break;
        }
    }
    fclose(fp);
    if (st == LP_OK) {
        buf[n] = 0;
        if (strlen(buf) != n)
            st = lp_error(LOWP_ERR_FORMAT, "%s: contains a NUL byte; not a YAML text file", path);
    }
    if (st == LP_OK)
        st = lowp_config_load_string(buf, path, out);
    free(buf);
    if (st == LP_OK && (st = resolve_model_path(*out, path)) != LP_OK) {
        lowp_config_free(*out);
        *out = NULL;
    }
    return st;
}

/* The dataset's parameter map plus label_balance: N (a direct value becomes its first
 * positional key, as lp_params_lookup reads it). */
static lp_status params_with_filter(const lp_cfg_dataloader *d, lp_yval **out)
{
    const lp_yval *src = d->dataset.params;
    lp_yval *map = NULL, *item = NULL;
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)d->label_balance);
    if (src && src->kind == LP_NODE_MAP) {
        LP_TRY(lp_yval_clone(src, &map));
    } else {
        LP_TRY(lp_yval_new(LP_NODE_MAP, src ? src->line : 0, NULL, &map));
        const lowp_dataset_vtable *vt = lp_dataset_find(d->dataset.name);
        const char *first = NULL;
        for (const lowp_param_spec *s = vt ? vt->params : NULL; s && s->name; s++)
            if (s->positional == 1)
                first = s->name;
        if (src && src->kind != LP_NODE_NULL && first) {
            lp_status st = lp_yval_clone(src, &item);
            if (st == LP_OK)
                st = lp_yval_append(map, first, item);
            if (st != LP_OK) {
                lp_yval_free(map);
                return st;
            }
        }
    }
    lp_status st = lp_yval_new(LP_NODE_SCALAR, 0, num, &item);
    if (st == LP_OK)
        st = lp_yval_append(map, "label_balance", item);
    if (st != LP_OK) {
        lp_yval_free(map);
        return st;
    }
    *out = map;
    return LP_OK;
}

lp_status lp_cfg_build_dataloader(const lp_config *cfg, const lp_cfg_dataloader *d, int64_t max_samples,
                                  lowp_dataloader **out)
{
    ctx c = {(lp_config *)cfg, cfg->file};
    lowp_params p;
    view_of(&c, &d->dataset, &p);
    lowp_dataset *ds = NULL;
    lp_yval *with_filter = NULL;
    if (d->label_balance > 0)
        LP_TRY(params_with_filter(d, &with_filter));
    if (with_filter)
        p.node = with_filter;
    lp_status dst = lp_dataset_open_params(d->dataset.name, &p, &ds);
    lp_yval_free(with_filter);
    LP_TRY(dst);
    lowp_transform *t = NULL;
    lp_status st = lowp_transform_create(&t);
    for (int i = 0; i < d->n_transforms && st == LP_OK; i++) {
        view_of(&c, &d->transforms[i], &p);
        st = lp_transform_append_params(t, d->transforms[i].name, &p);
    }
    if (st != LP_OK) {
        lowp_transform_free(t);
        lowp_dataset_free(ds);
        return st;
    }
    lowp_dataloader_options o = lowp_dataloader_options_default();
    o.batch_size = (int)d->batch_size;
    o.drop_last = d->drop_last;
    o.shuffle = d->shuffle;
    o.seed = (uint64_t)cfg->tuning.random_seed;
    o.max_samples = max_samples;
    return lowp_dataloader_create(ds, t, &o, out);
}

lowp_status lowp_config_dataloader(const lowp_config *cfg, const char *section, int batch_size,
                                   int64_t max_samples, lowp_dataloader **out)
{
    if (!cfg || !section || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_config_dataloader: NULL argument");
    const lp_cfg_dataloader *d = NULL;
    int64_t max = 0;
    if (!strcmp(section, "evaluation.accuracy")) {
        d = &cfg->evaluation.accuracy_dataloader;
        /* LPOT's accuracy iteration: that many batches (of the configured size) */
        int64_t bs = batch_size > 0 ? batch_size : d->batch_size;
        if (cfg->evaluation.accuracy_iteration > 0 && bs > 0 && cfg->evaluation.accuracy_iteration <= INT64_MAX / bs)
            max = cfg->evaluation.accuracy_iteration * bs;
    }
    else if (!strcmp(section, "evaluation.performance"))
        d = &cfg->evaluation.performance_dataloader;
    else if (!strcmp(section, "quantization.calibration")) {
        d = &cfg->quantization.calibration;
        max = cfg->quantization.sampling_size[0];
    } else if (!strcmp(section, "quantization.train"))
        d = &cfg->quantization.train.dataloader;
    else
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_config_dataloader: unknown section '%s' "
                        "(evaluation.accuracy, evaluation.performance, quantization.calibration, "
                        "quantization.train)", section);
    if (!d->present)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: %s.dataloader is missing", cfg->file, section);
    lp_cfg_dataloader dd = *d;
    if (batch_size > 0)
        dd.batch_size = batch_size;
    return lp_cfg_build_dataloader(cfg, &dd, max_samples > 0 ? max_samples : max, out);
}

int lowp_config_has_metric(const lowp_config *cfg)
{
    return cfg && (cfg->evaluation.metric.name || cfg->evaluation.n_multi);
}

const char *lowp_config_model_path(const lowp_config *cfg) { return cfg ? cfg->model.path : NULL; }
int lp_config_model_path_line(const lowp_config *cfg) { return cfg ? cfg->model.path_line : 0; }

int64_t lowp_config_sampling_size(const lowp_config *cfg)
{
    return cfg && cfg->quantization.n_sampling_size ? cfg->quantization.sampling_size[0] : 100;
}

lowp_status lowp_config_metric(const lowp_config *cfg, lowp_metric **out)
{
    if (!cfg || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_config_metric: NULL argument");
    lowp_params p;
    if (cfg->evaluation.n_multi) {
        int n = cfg->evaluation.n_multi;
        lowp_metric **ms = calloc((size_t)n, sizeof *ms);
        if (!ms)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        lp_status st = LP_OK;
        for (int i = 0; i < n && st == LP_OK; i++) {
            lp_params_view(&p, cfg->evaluation.multi[i].params, cfg->file, cfg->evaluation.multi[i].path);
            st = lp_metric_create_params(cfg->evaluation.multi[i].name, &p, &ms[i]);
        }
        if (st == LP_OK)   /* takes the metrics, also when it fails */
            st = lp_metric_create_multi(n, ms, cfg->evaluation.multi_weight, cfg->tuning.higher_is_better,
                                        cfg->evaluation.multi_hib, out);
        else
            for (int i = 0; i < n; i++)
                lowp_metric_free(ms[i]);
        free(ms);
        return st;
    }
    if (!cfg->evaluation.metric.name)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: evaluation.accuracy.metric is missing", cfg->file);
    lp_params_view(&p, cfg->evaluation.metric.params, cfg->file, cfg->evaluation.metric.path);
    return lp_metric_create_params(cfg->evaluation.metric.name, &p, out);
}

lowp_status lowp_config_postprocess(const lowp_config *cfg, lowp_transform **out)
{
    if (!cfg || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_config_postprocess: NULL argument");
    lowp_transform *t = NULL;
    LP_TRY(lowp_transform_create(&t));
    for (int i = 0; i < cfg->evaluation.n_postprocess; i++) {
        lowp_params p;
        lp_params_view(&p, cfg->evaluation.postprocess[i].params, cfg->file, cfg->evaluation.postprocess[i].path);
        lp_status st = lp_transform_append_params(t, cfg->evaluation.postprocess[i].name, &p);
        if (st != LP_OK) {
            lowp_transform_free(t);
            return st;
        }
    }
    *out = t;
    return LP_OK;
}
