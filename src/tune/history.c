/* history.c — WORKSPACE/history.jsonl: one JSON line per finished trial, appended (and
 * flushed) as it finishes, after a header line that fingerprints the model and the data.
 * Resume reads it back: a recipe found there answers from the file instead of running again.
 * The strategies are deterministic given the trial results, so replaying the history and
 * continuing ends exactly where an uninterrupted run would. A line cut short by a kill is
 * ignored (that trial simply runs again); so is any line that is not a trial record. The
 * header is written to a temporary and renamed, so a kill at any moment leaves a history that
 * resumes. One tune at a time: the workspace is locked (lock_workspace). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "config/config.h"
#include "dist/dist.h"
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
    int64_t n = 0;
    if (t->eval) {
        h = fnv_str(h, lowp_dataloader_describe(t->eval));
        n = lowp_dataloader_length(t->eval);
        h = fnv(h, &n, sizeof n);
    }
    if (t->calib) {
        h = fnv_str(h, lowp_dataloader_describe(t->calib));
        n = lowp_dataloader_length(t->calib);
        h = fnv(h, &n, sizeof n);
    }
    h = fnv_str(h, t->metric_name);
    h = fnv(h, &t->opt.seed, sizeof t->opt.seed);
    h = fnv(h, &t->opt.threads, sizeof t->opt.threads);
    if (t->opt.performance_only) /* its trials have no accuracy: a normal run must not reuse them */
        h = fnv_str(h, "performance_only");
    snprintf(t->fingerprint, sizeof t->fingerprint, "%016llx", (unsigned long long)h);
}

static bool get_num(const lp_yval *m, const char *key, double *out)
{
    const lp_yval *v = lp_yval_get(m, key);
    if (v && v->kind == LP_NODE_NULL) {
        *out = NAN;
        return true;
    }
    return v && lp_scalar_float(v, out);
}

void lp_tune_history_free(lp_tune_hist *h, int n)
{
    for (int i = 0; i < n; i++)
        free(h[i].key);
    free(h);
}

lp_status lp_tune_history_parse(const char *text, size_t size, const char *path, const char *fingerprint,
                                lp_tune_hist **hist_out, int *n_out, bool *fresh)
{
    *hist_out = NULL;
    *n_out = 0;
    /* A first line without its newline (or an empty file) is a header a kill or a full disk
     * cut short (before headers were written atomically): there is nothing to replay. */
    const char *nl = memchr(text, '\n', size);
    *fresh = !nl;
    if (!nl)
        return LP_OK;
    lp_tune_hist *hist = NULL;
    int n = 0;
    lp_status st = LP_OK;
    int line_no = 0;
    for (const char *line = text; st == LP_OK && line < text + size;) {
        const char *end = memchr(line, '\n', (size_t)(text + size - line));
        if (!end) /* no newline: cut short by a kill */
            break;
        line_no++;
        lp_yval *root = NULL;
        /* A bad line is ignored (that trial runs again); its parse error is not the run's. */
        bool parsed = end > line && lp_yval_parse(line, (size_t)(end - line), path, &root) == LP_OK &&
                      root->kind == LP_NODE_MAP;
        if (!parsed) {
            if (line_no == 1)
                st = lp_error(LOWP_ERR_FORMAT, "%s: line 1: not a lowp tuning history", path);
        } else if (line_no == 1) {
            const lp_yval *fp = lp_yval_get(root, "fingerprint");
            if (!fp || fp->kind != LP_NODE_SCALAR)
                st = lp_error(LOWP_ERR_FORMAT, "%s: not a lowp tuning history (no fingerprint on line 1)", path);
            else if (strcmp(fp->str, fingerprint) != 0)
                st = lp_error(LOWP_ERR_INVALID_ARGUMENT,
                              "%s: this history was made with another model, data, seed or thread count "
                              "(fingerprint %s, now %s): remove it or tune without resume", path, fp->str,
                              fingerprint);
        } else {
            const lp_yval *key = lp_yval_get(root, "key");
            if (key && key->kind == LP_NODE_SCALAR) {
                lp_tune_hist h = { 0 };
                double v;
                h.t.accuracy = get_num(root, "accuracy", &v) ? v : NAN;
                h.t.latency_ms = get_num(root, "latency_ms", &v) ? v : NAN;
                h.t.model_bytes = get_num(root, "model_bytes", &v) && v >= 0 && v < 9e18 ? (int64_t)v : 0;
                h.t.footprint_bytes = get_num(root, "footprint_bytes", &v) && v >= 0 && v < 9e18 ? (int64_t)v : 0;
                h.t.seconds = get_num(root, "seconds", &v) ? v : 0;
                h.cost = get_num(root, "cost", &v) ? v : 1;
                lp_tune_hist *nh = realloc(hist, (size_t)(n + 1) * sizeof *nh);
                if (nh)
                    hist = nh;
                if (!nh || !(h.key = strdup(key->str)))
                    st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                else
                    hist[n++] = h;
            }
        }
        lp_yval_free(root);
        line = end + 1;
    }
    if (st != LP_OK) {
        lp_tune_history_free(hist, n);
        return st;
    }
    *hist_out = hist;
    *n_out = n;
    return LP_OK;
}

/* Loads a history; *whole: the bytes up to its last newline (what follows was cut short).
 * The text stays in *text (malloc'ed) when text is not NULL. */
static lp_status load(lowp_tuner *t, const char *path, size_t *whole, bool *fresh, char **text)
{
    uint8_t *data = NULL;
    size_t size = 0;
    LP_TRY(lp_read_file(path, &data, &size));
    *whole = size;
    while (*whole > 0 && data[*whole - 1] != '\n')
        (*whole)--;
    lp_status st = lp_tune_history_parse((const char *)data, size, path, t->fingerprint, &t->hist, &t->n_hist, fresh);
    if (text && st == LP_OK)
        *text = (char *)data, data = NULL;
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

/* The workspace's lock: an exclusive flock on WORKSPACE/lock held until the tuner is freed
 * (the kernel drops it when the process dies, so a kill never leaves a workspace locked).
 * The file says who holds it, for the message a second run gets. */
static lp_status lock_workspace(lowp_tuner *t)
{
    char *path = NULL;
    LP_TRY(lp_path_join(t->workspace, "lock", &path));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    char b1[LP_PATH_BRIEF];
    if (fd < 0) {
        lp_status st = lp_error(LOWP_ERR_IO, "%s: cannot create the workspace lock: %s", lp_path_brief(path, b1),
                                strerror(errno));
        free(path);
        return st;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char holder[256] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = 0;
        holder[strcspn(holder, "\n")] = 0;
        for (char *c = holder; *c; c++) /* the file is ours, but show it safely all the same */
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        close(fd);
        lp_status st = err == EWOULDBLOCK
            ? lp_error(LOWP_ERR_IO, "%s: the workspace is in use by another tune (%s); wait for it to end, or give "
                                    "another workspace", lp_path_brief(t->workspace, b1), *holder ? holder : "holder unknown")
            : lp_error(LOWP_ERR_IO, "%s: cannot lock: %s", lp_path_brief(path, b1), strerror(err));
        free(path);
        return st;
    }
    free(path);
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    char when[64] = "?";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    char *who = lp_strfmt("pid %ld on %s, started %s\n", (long)getpid(), host, when);
    if (!who || ftruncate(fd, 0) != 0 || pwrite(fd, who, strlen(who), 0) < 0) {
        /* the lock holds all the same; only the holder's description is missing */
    }
    free(who);
    t->lock_fd = fd;
    return LP_OK;
}

/* The header line: what the history belongs to. */
static lp_status header(const lowp_tuner *t, char **out)
{
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
    char *line = lp_strfmt("%s\n", s);
    free(s);
    if (!line)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *out = line;
    return LP_OK;
}

static lp_status open_history(lowp_tuner *t, const char *path, char **replayed, size_t *replayed_n)
{
    bool same_file = false, fresh = false;
    size_t whole = 0;
    if (t->opt.resume) {
        const char *from = t->resume_from ? t->resume_from : path;
        struct stat a, b;
        same_file = !t->resume_from || (stat(from, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
                                        a.st_dev == b.st_dev);
        if (access(from, F_OK) == 0) {
            LP_TRY(load(t, from, &whole, &fresh, replayed));
            *replayed_n = *replayed ? whole : 0;
        }
        else if (t->resume_from)
            return lp_error(LOWP_ERR_IO, "%s: cannot resume: no such history", from);
        else
            same_file = false; /* nothing to resume: start a new history */
        if (fresh)
            same_file = false; /* a header cut short: start the history again */
    }
    /* Resuming in place appends to the file (its trials are replayed, not rewritten);
     * otherwise a new history starts with its header, written to a temporary and renamed so
     * that a kill at any moment leaves either the old history or the new header whole. */
    if (!same_file) {
        char *line = NULL;
        LP_TRY(header(t, &line));
        lp_status st = lp_write_file_atomic(path, line, strlen(line));
        free(line);
        LP_TRY(st);
    }
    char b1[LP_PATH_BRIEF];
    /* A last line cut short goes: the trial it recorded runs again and is appended whole. */
    if (same_file && truncate(path, (off_t)whole) != 0)
        return lp_error(LOWP_ERR_IO, "%s: cannot cut its last, incomplete line: %s", lp_path_brief(path, b1),
                        strerror(errno));
    t->history = fopen(path, "a");
    if (!t->history)
        return lp_error(LOWP_ERR_IO, "%s: cannot write: %s", lp_path_brief(path, b1), strerror(errno));
    t->hist_in_place = same_file;
    return LP_OK;
}

/* Sensitivities live in memory only, so every run measures them again: the file starts afresh
 * (its header written to a temporary and renamed, so a reader sees the old file or the new). */
static lp_status open_sens_log(lowp_tuner *t)
{
    char *path = NULL, *line = lp_strfmt("{\"sensitivity\": 1, \"fingerprint\": \"%s\"}\n", t->fingerprint);
    lp_status st = line ? lp_path_join(t->workspace, "sensitivity.jsonl", &path) : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LP_OK)
        st = lp_write_file_atomic(path, line, strlen(line));
    if (st == LP_OK && !(t->sens_log = fopen(path, "a"))) {
        char b1[LP_PATH_BRIEF];
        st = lp_error(LOWP_ERR_IO, "%s: cannot write: %s", lp_path_brief(path, b1), strerror(errno));
    }
    free(line);
    free(path);
    return st;
}

/* One JSON line appended to a workspace file and flushed (a reader follows it like tail -f). */
static lp_status write_line(const lowp_tuner *t, FILE *f, lp_json *j, const char *name)
{
    char *s = NULL;
    LP_TRY(lp_json_finish(j, &s));
    size_t n = strlen(s);
    bool ok = fwrite(s, 1, n, f) == n && fputc('\n', f) != EOF && fflush(f) == 0;
    free(s);
    if (!ok) {
        char b1[LP_PATH_BRIEF];
        return lp_error(LOWP_ERR_IO, "%s/%s: cannot write: %s", lp_path_brief(t->workspace, b1), name, strerror(errno));
    }
    return LP_OK;
}

/* Distributed, rank 0 alone locks the workspace and reads and writes the history; the
 * trials it replays reach the other ranks as the history's text, which they parse alike (the
 * same fingerprint: the same model, data, seed and threads; any number of ranks). */
lp_status lp_tune_history_open(lowp_tuner *t)
{
    fingerprint(t);
    char *path = NULL, *text = NULL;
    void *got = NULL;
    size_t text_n = 0, got_n = 0;
    lp_status st = LP_OK;
    if (lp_tune_writer(t)) {
        st = lp_make_dirs(t->workspace, "the workspace");
        if (st == LP_OK)
            st = lock_workspace(t);
        if (st == LP_OK)
            st = lp_path_join(t->workspace, "history.jsonl", &path);
        if (st == LP_OK)
            st = open_history(t, path, &text, &text_n);
        if (st == LP_OK)
            st = open_sens_log(t);
    }
    if (lp_dist_active(t->opt.comm)) {
        st = lp_dist_share(t->opt.comm, st, text, text_n, &got, &got_n);
        if (st == LP_OK && !lp_tune_writer(t) && got_n) {
            bool fresh = false;
            st = lp_tune_history_parse(got, got_n, path ? path : "history.jsonl", t->fingerprint, &t->hist,
                                       &t->n_hist, &fresh);
        }
    }
    free(got);
    free(text);
    free(path);
    return st;
}

lp_status lp_tune_history_append(lowp_tuner *t, const lp_tune_rec *r)
{
    if (!t->history)
        return LP_OK;   /* not the writer of a distributed tune */
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
    return write_line(t, t->history, &j, "history.jsonl");
}

lp_status lp_tune_sens_log_append(lowp_tuner *t, int config, int op, double sens_db, double sqnr_db)
{
    if (!t->sens_log)
        return LP_OK;
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "config");
    lp_json_string(&j, t->cfgs[config].name);
    lp_json_key(&j, "op");
    lp_json_string(&j, t->ops[op].name);
    lp_json_key(&j, "op_type");
    lp_json_string(&j, t->ops[op].op_type);
    lp_json_key(&j, "index");
    lp_json_int(&j, op);
    lp_json_key(&j, "of");
    lp_json_int(&j, t->n_ops);
    lp_json_key(&j, "sensitivity_db");
    lp_json_double(&j, sens_db);
    lp_json_key(&j, "sqnr_db");
    lp_json_double(&j, sqnr_db);
    lp_json_end_object(&j);
    return write_line(t, t->sens_log, &j, "sensitivity.jsonl");
}
