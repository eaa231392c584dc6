/* workspaces.c — the runs found under the workspace roots, read the way the CLI writes them:
 * a tune is a folder with history.jsonl (docs/tuning.md: a header line, then a line per
 * trial), optionally report.md/.html/.json and best_recipe.json; a quantize or bench job the
 * UI ran is a folder with ui_run.json (docs/ui.md). Also the files of a workspace and the
 * models under the model roots. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "base/outfile.h"
#include "data/params.h"
#include "server/server.h"
#include "server/jobs.h"
#include "server/wsread.h"

/* ---- a YAML/JSON value tree back to JSON ---- */

void lp_srv_yval_json(lp_json *j, const lp_yval *v)
{
    if (!v || v->kind == LP_NODE_NULL) {
        lp_json_null(j);
    } else if (v->kind == LP_NODE_SCALAR) {
        double d;
        char *end = NULL;
        if (v->quoted) {
            lp_json_string(j, v->str);
        } else if (!strcmp(v->str, "true") || !strcmp(v->str, "false")) {
            lp_json_bool(j, v->str[0] == 't');
        } else if (*v->str && (d = strtod(v->str, &end), !*end) && isfinite(d)) {
            lp_json_double(j, d);
        } else {
            lp_json_string(j, v->str);
        }
    } else if (v->kind == LP_NODE_SEQ) {
        lp_json_begin_array(j);
        for (int i = 0; i < v->n; i++)
            lp_srv_yval_json(j, v->items[i]);
        lp_json_end_array(j);
    } else {
        lp_json_begin_object(j);
        for (int i = 0; i < v->n; i++) {
            lp_json_key(j, v->keys[i]);
            lp_srv_yval_json(j, v->items[i]);
        }
        lp_json_end_object(j);
    }
}

/* ---- reading a workspace ---- */

static char *join(const char *dir, const char *name)
{
    char *p = NULL;
    return lp_path_join(dir, name, &p) == LP_OK ? p : NULL;
}

static bool file_exists(const char *dir, const char *name, struct stat *sb)
{
    char *p = join(dir, name);
    struct stat tmp;
    bool ok = p && stat(p, sb ? sb : &tmp) == 0;
    free(p);
    return ok;
}

/* A file of the workspace parsed as YAML/JSON, or NULL. */
lp_yval *lp_srv_read_yval(const char *dir, const char *name)
{
    char *p = join(dir, name);
    uint8_t *data = NULL;
    size_t size = 0;
    lp_yval *v = NULL;
    if (p && access(p, F_OK) == 0 && lp_read_file(p, &data, &size) == LP_OK && size > 0)
        (void)lp_yval_parse((const char *)data, size, name, &v);
    free(data);
    free(p);
    return v;
}

static double num(const lp_yval *m, const char *key)
{
    double v;
    const lp_yval *x = lp_yval_get(m, key);
    return x && x->kind == LP_NODE_SCALAR && lp_scalar_float(x, &v) ? v : NAN;
}

static bool truthy(const lp_yval *m, const char *key)
{
    bool b = false;
    const lp_yval *x = lp_yval_get(m, key);
    return x && x->kind == LP_NODE_SCALAR && lp_scalar_bool(x, &b) && b;
}

void lp_srv_history_free(lp_srv_history *h)
{
    lp_yval_free(h->header);
    for (int i = 0; i < h->n; i++)
        lp_yval_free(h->trials[i]);
    free(h->trials);
    memset(h, 0, sizeof *h);
}

/* history.jsonl from byte `from` on: whole lines only (a last line without its newline is a
 * trial still being written, or cut short by a kill); *end_out is where the next read starts. */
lp_status lp_srv_history_read(const char *dir, size_t from, lp_srv_history *h, size_t *end_out)
{
    return lp_srv_jsonl_read(dir, "history.jsonl", "key", from, h, end_out);
}

lp_status lp_srv_jsonl_read(const char *dir, const char *name, const char *key, size_t from, lp_srv_history *h,
                            size_t *end_out)
{
    memset(h, 0, sizeof *h);
    *end_out = from;
    char *p = join(dir, name);
    if (!p)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    uint8_t *data = NULL;
    size_t size = 0;
    lp_status st = lp_read_file(p, &data, &size);
    free(p);
    if (st != LP_OK)
        return st;
    const char *text = (const char *)data;
    for (size_t at = 0; at < size;) {
        const char *nl = memchr(text + at, '\n', size - at);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (text + at));
        if (at >= from) {
            lp_yval *v = NULL;
            if (len && lp_yval_parse(text + at, len, name, &v) == LP_OK && v->kind == LP_NODE_MAP) {
                if (at == 0) {
                    h->header = v, v = NULL;
                } else if (lp_yval_get(v, key)) {
                    lp_yval **t = realloc(h->trials, (size_t)(h->n + 1) * sizeof *t);
                    if (t) {
                        h->trials = t;
                        h->trials[h->n++] = v, v = NULL;
                    }
                }
            }
            lp_yval_free(v);
        }
        at += len + 1;
        *end_out = at > from ? at : from;
    }
    free(data);
    return LP_OK;
}

/* The best trial as the tuner picks it: the passing one with the lowest objective (ties: the
 * earlier), or when none passed the most accurate (the history does not say whether higher is
 * better: report.json does once the tune ends). -1 when there is no trial. */
int lp_srv_history_best(const lp_srv_history *h, bool higher_is_better)
{
    int best = -1;
    for (int i = 0; i < h->n; i++) {
        bool p = truthy(h->trials[i], "passed");
        if (!p)
            continue;
        if (best < 0 || num(h->trials[i], "objective") < num(h->trials[best], "objective"))
            best = i;
    }
    if (best >= 0)
        return best;
    for (int i = 0; i < h->n; i++) {
        double a = num(h->trials[i], "accuracy");
        if (a == a && (best < 0 || (higher_is_better ? a > num(h->trials[best], "accuracy")
                                                     : a < num(h->trials[best], "accuracy"))))
            best = i;
    }
    return best;
}

/* Whether a tune holds the workspace now: the lock file names its pid; that process still
 * lives on this host. (Probing with flock ourselves could make a tune starting at that moment
 * fail with "in use".) */
bool lp_srv_workspace_busy(const char *dir)
{
    char *p = join(dir, "lock");
    if (!p)
        return false;
    char buf[256] = "";
    int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    free(p);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    long pid = 0;
    char host[256] = "", me[256] = "";
    if (sscanf(buf, "pid %ld on %255s", &pid, host) != 2 || pid <= 0)
        return false;
    size_t hl = strlen(host);
    if (hl && host[hl - 1] == ',')
        host[hl - 1] = 0;
    gethostname(me, sizeof me - 1);
    return !strcmp(host, me) && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static void iso_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(buf, size, "?");
}

char *lp_srv_workspace_model(const lp_server *s, const char *dir, int *root_out)
{
    lp_yval *run = lp_srv_read_yval(dir, "ui_run.json");
    lp_srv_history h = { 0 };
    size_t end = 0;
    const lp_yval *m = run ? lp_yval_get(run, "model") : NULL;
    if ((!m || m->kind != LP_NODE_SCALAR) && lp_srv_history_read(dir, 0, &h, &end) == LP_OK && h.header)
        m = lp_yval_get(h.header, "model");
    char *found = NULL;
    /* a relative path is relative to where the tune ran: try here, then the workspace's parents */
    static const char *const ups[] = { "../", "../../", "../../../" };
    for (int k = 0; m && m->kind == LP_NODE_SCALAR && !found && k < 4; k++) {
        if (m->str[0] == '/' && k)
            break;
        char *cand = m->str[0] == '/' || !k ? strdup(m->str) : lp_strfmt("%s/%s%s", dir, ups[k - 1], m->str);
        char *canon = NULL;
        int r = cand ? lp_srv_root_of(s, cand, 1u << LP_ROOT_MODEL | 1u << LP_ROOT_WORKSPACE, &canon) : -1;
        if (r >= 0) {
            found = canon;
            *root_out = r;
        } else {
            free(canon);
        }
        free(cand);
    }
    lp_srv_history_free(&h);
    lp_yval_free(run);
    return found;
}

void lp_srv_run_state(lp_server *s, const char *dir, char *buf, size_t size)
{
    char jb[32];
    const char *job = s->jobs ? lp_jobs_state_of(s->jobs, dir, jb, sizeof jb) : NULL;
    if (lp_srv_workspace_busy(dir)) {
        snprintf(buf, size, "running");
    } else if (job) {
        snprintf(buf, size, "%s", job);
    } else if (file_exists(dir, "report.md", NULL)) {
        snprintf(buf, size, "done");
    } else {
        /* a job of an earlier server: its recorded end, or "stopped" when it never recorded one
           (the server or the job was killed) */
        lp_yval *run = lp_srv_read_yval(dir, "ui_run.json");
        const lp_yval *st = run ? lp_yval_get(run, "state") : NULL;
        const char *v = st && st->kind == LP_NODE_SCALAR ? st->str : "stopped";
        snprintf(buf, size, "%s", !strcmp(v, "running") || !strcmp(v, "queued") ? "stopped" : v);
        lp_yval_free(run);
    }
}

/* The summary of one workspace (a JSON object); false when `dir` is not one. */
static bool summarize(lp_json *j, lp_server *s, const char *dir, int root, const char *rel)
{
    struct stat hs, rs;
    bool tune = file_exists(dir, "history.jsonl", &hs);
    lp_yval *run = lp_srv_read_yval(dir, "ui_run.json");
    if (!tune && !run)
        return false;
    lp_json_begin_object(j);
    lp_json_key(j, "root");
    lp_json_int(j, root);
    lp_json_key(j, "path");
    lp_json_string(j, rel);
    const lp_yval *cmd = run ? lp_yval_get(run, "command") : NULL;
    lp_json_key(j, "kind");
    lp_json_string(j, tune ? "tune" : cmd && cmd->kind == LP_NODE_SCALAR ? cmd->str : "run");
    const lp_yval *model = run ? lp_yval_get(run, "model") : NULL;
    lp_srv_history h = { 0 };
    size_t end = 0;
    if (tune && lp_srv_history_read(dir, 0, &h, &end) == LP_OK && h.header && !model)
        model = lp_yval_get(h.header, "model");
    lp_json_key(j, "model");
    lp_json_string(j, model && model->kind == LP_NODE_SCALAR ? model->str : NULL);
    char when[40];
    time_t t = tune ? hs.st_mtime : 0;
    if (!tune && file_exists(dir, "ui_run.json", &rs))
        t = rs.st_mtime;
    iso_time(t, when, sizeof when);
    lp_json_key(j, "date");
    lp_json_string(j, when);
    char state[32];
    lp_srv_run_state(s, dir, state, sizeof state);
    lp_json_key(j, "state");
    lp_json_string(j, state);
    lp_json_key(j, "report");
    lp_json_bool(j, file_exists(dir, "report.html", NULL));
    if (tune) {
        lp_yval *rep = lp_srv_read_yval(dir, "report.json");
        const lp_yval *hib = rep ? lp_yval_get(rep, "higher_is_better") : NULL;
        int b = lp_srv_history_best(&h, !(hib && hib->kind == LP_NODE_SCALAR && !strcmp(hib->str, "false")));
        int passed = 0;
        for (int i = 0; i < h.n; i++)
            passed += truthy(h.trials[i], "passed");
        lp_json_key(j, "trials");
        lp_json_int(j, h.n);
        lp_json_key(j, "passed");
        lp_json_int(j, passed);
        lp_json_key(j, "best");
        lp_srv_yval_json(j, b >= 0 ? h.trials[b] : NULL);
        lp_json_key(j, "met_target");
        const lp_yval *met = rep ? lp_yval_get(rep, "met_target") : NULL;
        lp_srv_yval_json(j, met);
        lp_yval_free(rep);
    }
    if (run) {
        lp_json_key(j, "run");
        lp_srv_yval_json(j, run);
    }
    if (!tune) { /* a quantize or bench job: what the command printed (--json) */
        lp_yval *out = lp_srv_read_yval(dir, "ui_job.out");
        lp_json_key(j, "output");
        lp_srv_yval_json(j, out && out->kind == LP_NODE_MAP ? out : NULL);
        lp_yval_free(out);
    }
    lp_json_end_object(j);
    lp_srv_history_free(&h);
    lp_yval_free(run);
    return true;
}

/* Breadth-first over the root's folders (not following symlinks), LP_SRV_MAX_SCAN_DIRS at most,
 * three levels deep: a workspace is a folder, not a file, and is not searched inside. */
static void scan_root(lp_json *j, lp_server *s, int root, int *budget)
{
    char **queue = malloc(LP_SRV_MAX_SCAN_DIRS * sizeof *queue);
    int *depth = malloc(LP_SRV_MAX_SCAN_DIRS * sizeof *depth);
    if (!queue || !depth) {
        free(queue), free(depth);
        return;
    }
    int head = 0, tail = 0;
    queue[tail] = strdup("");
    depth[tail++] = 0;
    while (head < tail && *budget > 0) {
        char *rel = queue[head];
        int d = depth[head++];
        (*budget)--;
        char *dir = *rel ? lp_strfmt("%s/%s", s->roots[root].path, rel) : strdup(s->roots[root].path);
        if (rel && dir && !summarize(j, s, dir, root, rel) && d < 3) {
            DIR *dh = opendir(dir);
            struct dirent *e;
            while (dh && (e = readdir(dh)) && tail < LP_SRV_MAX_SCAN_DIRS) {
                if (e->d_name[0] == '.' || e->d_type != DT_DIR || !strcmp(e->d_name, "node_modules"))
                    continue;
                char *sub = *rel ? lp_strfmt("%s/%s", rel, e->d_name) : strdup(e->d_name);
                if (!sub)
                    break;
                queue[tail] = sub;
                depth[tail++] = d + 1;
            }
            if (dh)
                closedir(dh);
        }
        free(dir);
    }
    for (int i = 0; i < tail; i++)
        free(queue[i]);
    free(queue);
    free(depth);
}

void lp_api_workspaces(lp_server *s, const lp_request *q, lp_reply *r)
{
    (void)q;
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "workspaces");
    lp_json_begin_array(&j);
    int budget = LP_SRV_MAX_SCAN_DIRS;
    for (int i = 0; i < s->n_roots; i++)
        if (s->roots[i].kind == LP_ROOT_WORKSPACE)
            scan_root(&j, s, i, &budget);
    lp_json_end_array(&j);
    lp_json_key(&j, "complete");
    lp_json_bool(&j, budget > 0);
    lp_json_end_object(&j);
    char *text = NULL;
    lp_status st = lp_json_finish(&j, &text);
    lp_reply_json(r, st, text);
}

/* The regular files directly in a folder (names), sorted. */
static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_files(lp_json *j, const char *dir)
{
    DIR *dh = opendir(dir);
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while (dh && (e = readdir(dh)) && n < 1000) {
        if (e->d_name[0] == '.' || e->d_type != DT_REG || strstr(e->d_name, ".tmp."))
            continue;
        char **nn = realloc(names, (size_t)(n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = strdup(e->d_name))) {
            names = nn ? nn : names;
            break;
        }
        names = nn;
        n++;
    }
    if (dh)
        closedir(dh);
    if (n)
        qsort(names, (size_t)n, sizeof *names, by_name);
    lp_json_begin_array(j);
    for (int i = 0; i < n; i++) {
        lp_json_string(j, names[i]);
        free(names[i]);
    }
    lp_json_end_array(j);
    free(names);
}

void lp_api_workspace(lp_server *s, const lp_request *q, lp_reply *r)
{
    int root;
    char *dir = lp_req_path(s, q, r, &root);
    if (!dir)
        return;
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "summary");
    const char *rel = lp_req_arg(q, "path");
    if (!summarize(&j, s, dir, root, rel ? rel : "")) {
        lp_json_free(&j);
        free(dir);
        lp_reply_error(r, 404, "%s: not a workspace (no history.jsonl or ui_run.json)", rel ? rel : "");
        return;
    }
    lp_srv_history h = { 0 };
    size_t end = 0;
    if (lp_srv_history_read(dir, 0, &h, &end) == LP_OK) {
        lp_json_key(&j, "header");
        lp_srv_yval_json(&j, h.header);
        lp_json_key(&j, "trials");
        lp_json_begin_array(&j);
        for (int i = 0; i < h.n; i++)
            lp_srv_yval_json(&j, h.trials[i]);
        lp_json_end_array(&j);
        lp_json_key(&j, "history_end");
        lp_json_uint(&j, end);
    }
    lp_srv_history_free(&h);
    static const char *const docs[] = { "report.json", "best_recipe.json", "result.json" };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        lp_yval *v = lp_srv_read_yval(dir, docs[i]);
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(strchr(docs[i], '.') - docs[i]), docs[i]);
        lp_json_key(&j, key);
        lp_srv_yval_json(&j, v);
        lp_yval_free(v);
    }
    int mroot = -1;
    char *model = lp_srv_workspace_model(s, dir, &mroot);
    lp_json_key(&j, "model_ref");
    if (model) {
        lp_json_begin_object(&j);
        lp_json_key(&j, "root");
        lp_json_int(&j, mroot);
        lp_json_key(&j, "path");
        const char *rp = model + strlen(s->roots[mroot].path);
        lp_json_string(&j, *rp == '/' ? rp + 1 : rp);
        lp_json_end_object(&j);
    } else {
        lp_json_null(&j);
    }
    free(model);
    lp_json_key(&j, "files");
    list_files(&j, dir);
    lp_json_end_object(&j);
    free(dir);
    char *text = NULL;
    lp_status st = lp_json_finish(&j, &text);
    lp_reply_json(r, st, text);
}

/* GET /api/file?root=I&path=P[&download=1]: a file inside a workspace or model root. */
void lp_api_files(lp_server *s, const lp_request *q, lp_reply *r)
{
    int root;
    char *path = lp_req_path(s, q, r, &root);
    if (!path)
        return;
    if (s->roots[root].kind == LP_ROOT_DATA) {
        free(path);
        lp_reply_error(r, 403, "data folders are read by jobs, not served");
        return;
    }
    int fd = -1;
    uint64_t size = 0;
    if (lp_file_open(path, UINT64_MAX, &fd, &size) != LP_OK) {
        lp_reply_error(r, 404, "%s", lowp_last_error());
        free(path);
        return;
    }
    const char *base = strrchr(path, '/') + 1;
    static const struct { const char *ext, *type; } types[] = {
        { ".json", "application/json" }, { ".html", "text/plain; charset=utf-8" }, /* never run as a page of ours */
        { ".md", "text/markdown; charset=utf-8" }, { ".jsonl", "text/plain; charset=utf-8" },
        { ".txt", "text/plain; charset=utf-8" }, { ".yaml", "text/plain; charset=utf-8" },
    };
    r->type = "application/octet-stream";
    const char *dot = strrchr(base, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            r->type = types[i].type;
    static __thread char disp[300];
    const char *dl = lp_req_arg(q, "download");
    char safe[200];
    size_t k = 0;
    for (const char *c = base; *c && k + 1 < sizeof safe; c++)
        safe[k++] = (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) ? '_' : *c;
    safe[k] = 0;
    snprintf(disp, sizeof disp, "%s; filename=\"%s\"", dl && !strcmp(dl, "1") ? "attachment" : "inline", safe);
    r->disposition = disp;
    r->status = 200;
    r->fd = fd;
    r->fd_size = size;
    free(path);
}

/* GET /api/models: the .onnx files under the model roots (three levels deep). */
static void scan_models(lp_json *j, const char *base, const char *rel, int root, int d, int *budget)
{
    char *dir = *rel ? lp_strfmt("%s/%s", base, rel) : strdup(base);
    DIR *dh = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (dh && (e = readdir(dh)) && (*budget)-- > 0) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "node_modules"))
            continue;
        char *sub = *rel ? lp_strfmt("%s/%s", rel, e->d_name) : strdup(e->d_name);
        if (!sub)
            break;
        size_t n = strlen(e->d_name);
        if (e->d_type == DT_DIR && d < 3) {
            scan_models(j, base, sub, root, d + 1, budget);
        } else if (e->d_type == DT_REG && n > 5 && !strcmp(e->d_name + n - 5, ".onnx")) {
            lp_json_begin_object(j);
            lp_json_key(j, "root");
            lp_json_int(j, root);
            lp_json_key(j, "path");
            lp_json_string(j, sub);
            lp_json_end_object(j);
        }
        free(sub);
    }
    if (dh)
        closedir(dh);
    free(dir);
}

void lp_api_models(lp_server *s, const lp_request *q, lp_reply *r)
{
    (void)q;
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "models");
    lp_json_begin_array(&j);
    int budget = LP_SRV_MAX_SCAN_DIRS * 4;
    for (int i = 0; i < s->n_roots; i++)
        if (s->roots[i].kind == LP_ROOT_MODEL)
            scan_models(&j, s->roots[i].path, "", i, 0, &budget);
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    char *text = NULL;
    lp_status st = lp_json_finish(&j, &text);
    lp_reply_json(r, st, text);
}
