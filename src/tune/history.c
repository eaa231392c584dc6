/* history.c — WORKSPACE/history.jsonl: one JSON line per finished trial, appended (and
 * flushed) as it finishes, after a header line that fingerprints the model and the data.
 * Resume reads it back: a recipe found there answers from the file instead of running again.
 * The strategies are deterministic given the trial results, so replaying the history and
 * continuing ends exactly where an uninterrupted run would. A line cut short by a kill is
 * ignored (that trial simply runs again). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "config/config.h"
#include "onnx/model.h"
#include "tune/tune.h"

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s ? s : "", s ? strlen(s) + 1 : 1); }

/* What the trial results depend on: the model (structure and weights), the evaluation and
 * calibration data, the metric, the seed (calibration shuffling) and the thread count. */
static void fingerprint(lowp_tuner *t)
{
    const lp_graph *g = t->fp32->g;
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < g->n_nodes; i++) {
        h = fnv_str(h, g->nodes[i].name);
        h = fnv_str(h, g->nodes[i].op_type);
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LP_VALUE_CONST && g->values[v].init && g->values[v].init->data)
            h = fnv(h, g->values[v].init->data, g->values[v].init->nbytes);
    h = fnv_str(h, lowp_dataloader_describe(t->eval));
    int64_t n = lowp_dataloader_length(t->eval);
    h = fnv(h, &n, sizeof n);
    if (t->calib) {
        h = fnv_str(h, lowp_dataloader_describe(t->calib));
        n = lowp_dataloader_length(t->calib);
        h = fnv(h, &n, sizeof n);
    }
    h = fnv_str(h, lowp_metric_name(t->metric));
    h = fnv(h, &t->opt.seed, sizeof t->opt.seed);
    h = fnv(h, &t->opt.threads, sizeof t->opt.threads);
    snprintf(t->fingerprint, sizeof t->fingerprint, "%016llx", (unsigned long long)h);
}

static lp_status mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return lp_error(LOWP_ERR_IO, "%s: cannot create the workspace folder: %s", buf, strerror(errno));
            *p = c;
            if (!c)
                break;
        }
    }
    return LP_OK;
}

static bool get_num(const lp_yval *m, const char *key, double *out)
{
    const lp_yval *v = lp_yval_get(m, key);
    if (v && v->kind == LP_NODE_SCALAR && !strcmp(v->str, "null")) {
        *out = NAN;
        return true;
    }
    return v && lp_scalar_float(v, out);
}

static lp_status load(lowp_tuner *t, const char *path, bool *clean_end)
{
    uint8_t *data = NULL;
    size_t size = 0;
    LP_TRY(lp_read_file(path, &data, &size));
    *clean_end = size == 0 || data[size - 1] == '\n';
    char *text = (char *)data;
    lp_status st = LP_OK;
    int line_no = 0;
    for (char *line = text; st == LP_OK && line < text + size;) {
        char *end = memchr(line, '\n', (size_t)(text + size - line));
        if (!end) /* no newline: cut short by a kill */
            break;
        *end = 0;
        line_no++;
        lp_yval *root = NULL;
        if (*line && lp_yaml_parse(line, strlen(line), path, &root) == LP_OK && root && root->kind == LP_NODE_MAP) {
            const lp_yval *fp = lp_yval_get(root, "fingerprint"), *key = lp_yval_get(root, "key");
            if (line_no == 1) {
                if (!fp || fp->kind != LP_NODE_SCALAR)
                    st = lp_error(LOWP_ERR_FORMAT, "%s: not a lowp tuning history (no fingerprint on line 1)", path);
                else if (strcmp(fp->str, t->fingerprint) != 0)
                    st = lp_error(LOWP_ERR_INVALID_ARGUMENT,
                                  "%s: this history was made with another model, data, seed or thread count "
                                  "(fingerprint %s, now %s): remove it or tune without resume", path, fp->str,
                                  t->fingerprint);
            } else if (key && key->kind == LP_NODE_SCALAR) {
                lp_tune_hist h = { 0 };
                double v;
                h.t.accuracy = get_num(root, "accuracy", &v) ? v : NAN;
                h.t.latency_ms = get_num(root, "latency_ms", &v) ? v : NAN;
                h.t.model_bytes = get_num(root, "model_bytes", &v) ? (int64_t)v : 0;
                h.t.footprint_bytes = get_num(root, "footprint_bytes", &v) ? (int64_t)v : 0;
                h.t.seconds = get_num(root, "seconds", &v) ? v : 0;
                h.cost = get_num(root, "cost", &v) ? v : 1;
                lp_tune_hist *nh = realloc(t->hist, (size_t)(t->n_hist + 1) * sizeof *nh);
                if (!nh || !(h.key = strdup(key->str))) {
                    if (nh)
                        t->hist = nh;
                    st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                } else {
                    t->hist = nh;
                    t->hist[t->n_hist++] = h;
                }
            }
        } else if (line_no == 1) {
            st = lp_error(LOWP_ERR_FORMAT, "%s: line 1: not a lowp tuning history", path);
        }
        lp_yval_free(root);
        line = end + 1;
    }
    free(data);
    return st;
}

const lp_tune_hist *lp_tune_history_find(const lowp_tuner *t, const char *key)
{
    for (int i = 0; i < t->n_hist; i++)
        if (!strcmp(t->hist[i].key, key))
            return &t->hist[i];
    return NULL;
}

lp_status lp_tune_history_open(lowp_tuner *t)
{
    fingerprint(t);
    LP_TRY(mkdirs(t->workspace));
    char path[1100];
    snprintf(path, sizeof path, "%s/history.jsonl", t->workspace);
    bool same_file = false, clean_end = true;
    if (t->opt.resume) {
        const char *from = t->resume_from ? t->resume_from : path;
        struct stat a, b;
        same_file = !t->resume_from || (stat(from, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
                                        a.st_dev == b.st_dev);
        if (access(from, F_OK) == 0)
            LP_TRY(load(t, from, &clean_end));
        else if (t->resume_from)
            return lp_error(LOWP_ERR_IO, "%s: cannot resume: no such history", from);
        else
            same_file = false; /* nothing to resume: start a new history */
    }
    /* Resuming in place appends to the file (its trials are replayed, not rewritten);
     * otherwise a new history starts with its header. */
    t->history = fopen(path, same_file ? "a" : "w");
    if (!t->history)
        return lp_error(LOWP_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    t->hist_in_place = same_file;
    if (same_file && !clean_end)
        fputc('\n', t->history); /* end the line a kill cut short */
    if (!same_file) {
        lp_json j;
        lp_json_init(&j, 0);
        lp_json_begin_object(&j);
        lp_json_key(&j, "lowp_tune_history");
        lp_json_int(&j, 1);
        lp_json_key(&j, "fingerprint");
        lp_json_string(&j, t->fingerprint);
        lp_json_key(&j, "model");
        lp_json_string(&j, t->model_path);
        lp_json_key(&j, "ops");
        lp_json_begin_array(&j);
        for (int i = 0; i < t->n_ops; i++)
            lp_json_string(&j, t->ops[i].name);
        lp_json_end_array(&j);
        lp_json_end_object(&j);
        char *s = NULL;
        LP_TRY(lp_json_finish(&j, &s));
        fprintf(t->history, "%s\n", s);
        free(s);
        if (fflush(t->history) != 0)
            return lp_error(LOWP_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return LP_OK;
}

lp_status lp_tune_history_append(lowp_tuner *t, const lp_tune_rec *r)
{
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "trial");
    lp_json_int(&j, r->t.index);
    lp_json_key(&j, "key");
    lp_json_string(&j, r->key);
    lp_json_key(&j, "strategy");
    lp_json_string(&j, r->strategy);
    lp_json_key(&j, "note");
    lp_json_string(&j, r->note);
    lp_json_key(&j, "config");
    lp_json_string(&j, t->cfgs[r->config].name);
    lp_json_key(&j, "accuracy");
    lp_json_double(&j, r->t.accuracy);
    lp_json_key(&j, "passed");
    lp_json_bool(&j, r->t.passed);
    lp_json_key(&j, "objective");
    lp_json_double(&j, r->t.objective);
    lp_json_key(&j, "cost");
    lp_json_double(&j, r->cost);
    lp_json_key(&j, "latency_ms");
    lp_json_double(&j, r->t.latency_ms);
    lp_json_key(&j, "model_bytes");
    lp_json_int(&j, r->t.model_bytes);
    lp_json_key(&j, "footprint_bytes");
    lp_json_int(&j, r->t.footprint_bytes);
    lp_json_key(&j, "seconds");
    lp_json_double(&j, round(r->t.seconds * 1000) / 1000);
    lp_json_key(&j, "precision");
    lp_json_begin_object(&j);
    for (int i = 0; i < t->n_ops; i++) {
        lp_json_key(&j, t->ops[i].name);
        lp_json_string(&j, lp_precision_name((lp_precision)r->prec[i]));
    }
    lp_json_end_object(&j);
    lp_json_end_object(&j);
    char *s = NULL;
    LP_TRY(lp_json_finish(&j, &s));
    size_t n = strlen(s);
    bool ok = fwrite(s, 1, n, t->history) == n && fputc('\n', t->history) != EOF && fflush(t->history) == 0;
    free(s);
    if (!ok)
        return lp_error(LOWP_ERR_IO, "%s/history.jsonl: cannot write: %s", t->workspace, strerror(errno));
    return LP_OK;
}
