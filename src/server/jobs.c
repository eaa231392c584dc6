/* jobs.c — the job queue of `lowp ui`. A job is the command line a user could have typed
 * (`lowp tune MODEL --calib … -w WS`), built from the page's form after every path in it was
 * checked to lie inside the folders the server was given, and run by spawning the lowp program
 * itself, one job at a time, in its workspace folder:
 * - the CLI's own code path, so a job writes exactly the workspace a CLI run would and the
 *   dashboard and the CLI see the same runs;
 * - a crash, an abort or memory exhaustion inside a job cannot take the server down, and the
 *   library's per-process state (signal handlers, OpenMP pools) is the job's own;
 * - cancel is SIGTERM to the job's process group, which `lowp tune` turns into
 *   lowp_tuner_cancel (the history is kept, the trial under way is not recorded), so a
 *   cancelled or killed tune resumes like a CLI one: the same form again with --resume.
 * The form is stored in WS/ui_run.json and checked again on resume: what a job runs never
 * comes from a file in a workspace unchecked. */
#include "server/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/outfile.h"
#include "data/data.h"
#include "data/params.h"
#include "metric/metric.h"
#include "server/wsread.h"

extern char **environ;

#define MAX_JOBS 256            /* kept in the list; the oldest finished ones go first */
#define MAX_ARGS 48
#define CANCEL_GRACE 10.0       /* seconds between SIGTERM and SIGKILL */
#define MAX_YAML (256 << 10)

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED } job_state;
static const char *const state_names[] = { "queued", "running", "done", "failed", "cancelled" };

typedef struct job {
    int id;
    char command[16];
    char *argv[MAX_ARGS + 1];   /* argv[0] is the lowp program */
    int argc;
    char *dir;                  /* the workspace folder (absolute) */
    int root;
    char *rel;                  /* the workspace inside its root */
    char *model;
    char *form;                 /* the form as JSON, kept in ui_run.json for resuming */
    const char *out_name, *log_name;  /* its stdout and stderr, in the workspace */
    bool record;                /* the workspace's own run (ui_run.json); not a compare of it */
    job_state state;
    int exit_code;              /* -1 until it ends; 128+N when killed by signal N */
    pid_t pid;
    bool cancel;
    time_t submitted, started, finished;
} job;

struct lp_jobs {
    lp_server *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t worker;
    bool worker_started, stopping;
    job *jobs[MAX_JOBS];
    int n, next_id;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void job_free(job *jb)
{
    if (!jb)
        return;
    for (int i = 0; i < jb->argc; i++)
        free(jb->argv[i]); /* NULL when handed over */
    free(jb->dir);
    free(jb->rel);
    free(jb->model);
    free(jb->form);
    free(jb);
}

static void iso(time_t t, char *buf, size_t size)
{
    struct tm tm;
    buf[0] = 0;
    if (t && gmtime_r(&t, &tm))
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The command line as a user would type it (shell-quoted where needed). */
static void command_line(lp_json *j, const job *jb)
{
    size_t n = 8;
    for (int i = 0; i < jb->argc; i++)
        n += 3 + 4 * strlen(jb->argv[i]);
    char *s = malloc(n), *p = s;
    if (!s) {
        lp_json_null(j);
        return;
    }
    p += sprintf(p, "lowp");
    for (int i = 1; i < jb->argc; i++) {
        const char *a = jb->argv[i];
        bool plain = *a && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./=,:%+@") == strlen(a);
        *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", a);
            continue;
        }
        *p++ = '\'';
        for (; *a; a++)
            p += *a == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *a);
        *p++ = '\'';
    }
    *p = 0;
    lp_json_string(j, s);
    free(s);
}

static void job_json(lp_json *j, const job *jb)
{
    char t[40];
    lp_json_begin_object(j);
    lp_json_key(j, "id");
    lp_json_int(j, jb->id);
    lp_json_key(j, "command");
    lp_json_string(j, jb->command);
    lp_json_key(j, "state");
    lp_json_string(j, state_names[jb->state]);
    lp_json_key(j, "root");
    lp_json_int(j, jb->root);
    lp_json_key(j, "path");
    lp_json_string(j, jb->rel);
    lp_json_key(j, "model");
    lp_json_string(j, jb->model);
    lp_json_key(j, "command_line");
    command_line(j, jb);
    lp_json_key(j, "exit_code");
    if (jb->exit_code >= 0)
        lp_json_int(j, jb->exit_code);
    else
        lp_json_null(j);
    static const char *const keys[] = { "submitted", "started", "finished" };
    const time_t times[] = { jb->submitted, jb->started, jb->finished };
    for (int i = 0; i < 3; i++) {
        iso(times[i], t, sizeof t);
        lp_json_key(j, keys[i]);
        lp_json_string(j, *t ? t : NULL);
    }
    lp_json_end_object(j);
}

/* WS/ui_run.json: the job as it stands, with the form it came from (for resuming). */
static void write_run_file(const job *jb)
{
    if (!jb->record)
        return;
    lp_json j;
    lp_json_init(&j, 2);
    lp_json_begin_object(&j);
    lp_json_key(&j, "job");
    job_json(&j, jb);
    lp_json_key(&j, "command");
    lp_json_string(&j, jb->command);
    lp_json_key(&j, "model");
    lp_json_string(&j, jb->model);
    lp_json_key(&j, "state");
    lp_json_string(&j, state_names[jb->state]);
    lp_json_key(&j, "form");
    lp_yval *form = NULL;
    if (jb->form && lp_yval_parse(jb->form, strlen(jb->form), "form", &form) == LP_OK)
        lp_srv_yval_json(&j, form);
    else
        lp_json_null(&j);
    lp_yval_free(form);
    lp_json_end_object(&j);
    char *text = NULL, *path = NULL;
    if (lp_json_finish(&j, &text) == LP_OK && lp_path_join(jb->dir, "ui_run.json", &path) == LP_OK)
        (void)lp_write_file_atomic(path, text, strlen(text)); /* the job runs all the same */
    free(text);
    free(path);
}

/* ---- running one job ---- */

static int spawn(job *jb, pid_t *pid)
{
    char *out = NULL, *log = NULL;
    int rc = ENOMEM;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (lp_path_join(jb->dir, jb->out_name, &out) == LP_OK && lp_path_join(jb->dir, jb->log_name, &log) == LP_OK) {
        sigset_t none, def;
        sigemptyset(&none);
        sigemptyset(&def);
        sigaddset(&def, SIGINT);
        sigaddset(&def, SIGTERM);
        sigaddset(&def, SIGPIPE);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0666);
        posix_spawn_file_actions_addchdir_np(&fa, jb->dir);
        posix_spawnattr_setpgroup(&at, 0); /* its own group: cancel reaches every process it starts */
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &def);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawn(pid, jb->argv[0], &fa, &at, jb->argv, environ);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(out);
    free(log);
    return rc;
}

static void run_job(lp_jobs *js, job *jb)
{
    pid_t pid = 0;
    int err = spawn(jb, &pid);
    pthread_mutex_lock(&js->mu);
    jb->pid = err ? 0 : pid;
    jb->started = time(NULL);
    bool cancelled_early = jb->cancel;
    pthread_mutex_unlock(&js->mu);
    write_run_file(jb);
    int status = 0;
    double term_at = 0;
    while (!err) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        pthread_mutex_lock(&js->mu);
        bool cancel = jb->cancel || cancelled_early;
        pthread_mutex_unlock(&js->mu);
        if (cancel && !term_at) {
            kill(-pid, SIGTERM);
            term_at = now_s();
        } else if (term_at && now_s() - term_at > CANCEL_GRACE) {
            kill(-pid, SIGKILL);
        }
        usleep(50 * 1000);
    }
    pthread_mutex_lock(&js->mu);
    jb->finished = time(NULL);
    jb->pid = 0;
    if (err)
        jb->exit_code = 127;
    else
        jb->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    /* lowp tune: 0 target met, 3 not met (the most accurate model is written): both finished */
    bool finished = jb->exit_code == 0 || (jb->exit_code == 3 && !strcmp(jb->command, "tune")) ||
                    (jb->exit_code == 4 && !strcmp(jb->command, "quantize"));
    jb->state = jb->cancel ? JOB_CANCELLED : finished ? JOB_DONE : JOB_FAILED;
    if (err) {
        char *log = NULL;
        if (lp_path_join(jb->dir, jb->log_name, &log) == LP_OK) {
            FILE *f = fopen(log, "a");
            if (f) {
                fprintf(f, "lowp ui: cannot start %s: %s\n", jb->argv[0], strerror(err));
                fclose(f);
            }
        }
        free(log);
    }
    write_run_file(jb); /* under the lock: a finished job may be forgotten (freed) once it is unlocked */
    pthread_mutex_unlock(&js->mu);
}

static void *worker(void *arg)
{
    lp_jobs *js = arg;
    pthread_mutex_lock(&js->mu);
    for (;;) {
        job *next = NULL;
        for (int i = 0; i < js->n && !next; i++)
            if (js->jobs[i]->state == JOB_QUEUED)
                next = js->jobs[i];
        if (js->stopping)
            break;
        if (!next) {
            pthread_cond_wait(&js->cv, &js->mu);
            continue;
        }
        next->state = JOB_RUNNING;
        pthread_mutex_unlock(&js->mu);
        run_job(js, next);
        pthread_mutex_lock(&js->mu);
    }
    pthread_mutex_unlock(&js->mu);
    return NULL;
}

lp_status lp_jobs_create(lp_server *s, lp_jobs **out)
{
    lp_jobs *js = calloc(1, sizeof *js);
    if (!js)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    js->s = s;
    js->next_id = 1;
    pthread_mutex_init(&js->mu, NULL);
    pthread_cond_init(&js->cv, NULL);
    if (pthread_create(&js->worker, NULL, worker, js) != 0) {
        lp_jobs_free(js);
        return lp_error(LOWP_ERR_IO, "cannot start the job worker thread");
    }
    js->worker_started = true;
    *out = js;
    return LP_OK;
}

void lp_jobs_free(lp_jobs *js)
{
    if (!js)
        return;
    pthread_mutex_lock(&js->mu);
    js->stopping = true;
    for (int i = 0; i < js->n; i++) {
        if (js->jobs[i]->state == JOB_RUNNING)
            js->jobs[i]->cancel = true;
        else if (js->jobs[i]->state == JOB_QUEUED)
            js->jobs[i]->state = JOB_CANCELLED;
    }
    pthread_cond_broadcast(&js->cv);
    pthread_mutex_unlock(&js->mu);
    if (js->worker_started)
        pthread_join(js->worker, NULL);
    for (int i = 0; i < js->n; i++)
        job_free(js->jobs[i]);
    pthread_mutex_destroy(&js->mu);
    pthread_cond_destroy(&js->cv);
    free(js);
}

const char *lp_jobs_state_of(lp_jobs *js, const char *dir, char *buf, size_t size)
{
    const char *st = NULL;
    pthread_mutex_lock(&js->mu);
    for (int i = js->n - 1; i >= 0 && !st; i--)
        if (js->jobs[i]->record && !strcmp(js->jobs[i]->dir, dir)) {
            snprintf(buf, size, "%s", state_names[js->jobs[i]->state]);
            st = buf;
        }
    pthread_mutex_unlock(&js->mu);
    return st;
}

/* ---- what the form offers ---- */

static void names_array(lp_json *j, const char *list)
{
    lp_json_begin_array(j);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        if (n)
            lp_json_string_n(j, p, n);
        p += strcspn(p, ",");
        p += strspn(p, ", ");
    }
    lp_json_end_array(j);
}

void lp_jobs_describe_choices(lp_json *j)
{
    char buf[2048];
    lp_json_key(j, "commands");
    names_array(j, "tune, quantize, bench");  /* and compare, from a run's page */
    lp_dataset_names(buf, sizeof buf);
    lp_json_key(j, "datasets");
    names_array(j, buf);
    lp_metric_names(buf, sizeof buf);
    lp_json_key(j, "metrics");
    names_array(j, buf);
    lp_json_key(j, "strategies");
    lp_json_begin_array(j);
    for (int i = 0; lowp_tune_strategy_at(i); i++)
        lp_json_string(j, lowp_tune_strategy_at(i)->name);
    lp_json_end_array(j);
}

/* ---- the form -> a checked command line ---- */

typedef struct build {
    lp_server *s;
    const lp_yval *form;
    job *jb;
    char err[512];
} build;

static bool failf(build *b, const char *fmt, ...) LP_PRINTF(2, 3);
static bool failf(build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return false;
}

static const char *field(const lp_yval *m, const char *key)
{
    const lp_yval *v = m ? lp_yval_get(m, key) : NULL;
    return v && v->kind == LP_NODE_SCALAR && *v->str ? v->str : NULL;
}

static bool arg(build *b, const char *a)
{
    if (b->jb->argc == MAX_ARGS)
        return failf(b, "too many arguments");
    if (!(b->jb->argv[b->jb->argc] = strdup(a)))
        return failf(b, "out of memory");
    b->jb->argc++;
    return true;
}

static bool arg2(build *b, const char *opt, const char *v) { return arg(b, opt) && arg(b, v); }

/* An option whose value is a file of the workspace, as an absolute path: the command line the
 * Jobs page shows runs the same from any folder. */
static bool arg_ws_file(build *b, const char *opt, const char *name)
{
    char *p = NULL;
    if (lp_path_join(b->jb->dir, name, &p) != LP_OK)
        return failf(b, "out of memory");
    bool ok = opt ? arg2(b, opt, p) : arg(b, p);
    free(p);
    return ok;
}

/* Text of only these characters. */
static bool only(const char *s, const char *allowed) { return strspn(s, allowed) == strlen(s); }

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* A value with '/' in it must be numbers separated by '/' (Normalize=0.2860/0.3530), so a
 * transform or metric text can never name a file. */
static bool slash_numbers_only(const char *s)
{
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, ",=:");
        if (memchr(p, '/', n)) {
            for (const char *q = p; q < p + n;) {
                size_t k = strcspn(q, "/,=:");
                char num[64], *end = NULL;
                if (k == 0 || k >= sizeof num)
                    return false;
                memcpy(num, q, k);
                num[k] = 0;
                (void)strtod(num, &end);
                if (*end || !strchr("0123456789", num[strspn(num, "+-.")]))
                    return false;
                q += k;
                q += q < p + n && *q == '/';
            }
        }
        p += n;
        p += *p != 0;
    }
    return true;
}

/* {"root": I, "path": P} inside a root of one of the kinds allowed (bitmask of 1 << kind). */
static char *checked_path(build *b, const lp_yval *v, unsigned kinds, bool must_exist, const char *what)
{
    const char *root = field(v, "root"), *path = v ? lp_yval_get(v, "path") ? lp_yval_get(v, "path")->str : NULL : NULL;
    char *end = NULL;
    long k = root ? strtol(root, &end, 10) : -1;
    if (!root || *end || k < 0 || k >= b->s->n_roots || !((kinds >> b->s->roots[k].kind) & 1)) {
        failf(b, "%s: choose a file inside one of the folders lowp ui was given", what);
        return NULL;
    }
    const char *why = NULL;
    char *abs = lp_srv_resolve(b->s, (int)k, path ? path : "", must_exist, &why);
    if (!abs)
        failf(b, "%s: %s: %s", what, path ? path : "", why);
    else if (strchr(abs, ':') && failf(b, "%s: paths with ':' cannot be given on lowp's command line", what)) {
        free(abs);
        abs = NULL;
    }
    return abs;
}

/* A dataset {kind, root, path, options}: kind built in, the path inside a data folder, the
 * options only numbers or flags of that dataset (so none of them is a second path). */
static bool dataset_spec(build *b, const char *key, const char *opt)
{
    const lp_yval *d = lp_yval_get(b->form, key);
    const char *kind = field(d, "kind");
    if (!kind)
        return true;
    const lowp_dataset_vtable *vt = lp_dataset_find(kind);
    if (!vt)
        return failf(b, "%s: unknown dataset kind '%s'", key, kind);
    char spec[4096];
    int n = snprintf(spec, sizeof spec, "%s", kind);
    if (field(d, "root")) { /* a file or folder inside a data folder ("": the folder itself) */
        char *abs = checked_path(b, d, 1u << LP_ROOT_DATA, true, key);
        if (!abs)
            return false;
        n += snprintf(spec + n, sizeof spec - (size_t)n, ":%s", abs);
        free(abs);
    }
    const char *options = field(d, "options");
    if (options) {
        if (!only(options, ALNUM "_.,=+- "))
            return failf(b, "%s: options are key=value pairs of numbers or flags, separated by commas", key);
        char buf[512];
        snprintf(buf, sizeof buf, "%s", options);
        for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            while (*kv == ' ')
                kv++;
            char *eq = strchr(kv, '=');
            if (!eq)
                return failf(b, "%s: option '%s' wants key=value", key, kv);
            *eq = 0;
            const lowp_param_spec *p = vt->params;
            while (p && p->name && strcmp(p->name, kv) != 0)
                p++;
            if (!p || !p->name)
                return failf(b, "%s: %s has no option '%s'", key, kind, kv);
            if (p->type == LOWP_PARAM_STRING || p->type == LOWP_PARAM_STRING_LIST || p->type == LOWP_PARAM_ANY)
                return failf(b, "%s: option '%s' names files or text: not settable from the page", key, kv);
            n += snprintf(spec + n, sizeof spec - (size_t)n, ":%s=%s", kv, eq + 1);
        }
    }
    if (n >= (int)sizeof spec)
        return failf(b, "%s: too long", key);
    return arg2(b, opt, spec);
}

/* Every scalar of an uploaded configuration that could be a path ('/' in it, other than
 * numbers like 0.2860/0.3530) must lie inside a folder lowp ui serves or reads — except
 * model.path and tuning.workspace.path, which the job's own MODEL and --workspace override. */
static bool yaml_paths_inside(build *b, const lp_yval *v, const char *key_path, int depth)
{
    if (!v || depth > 64 || !strcmp(key_path, "model.path") || !strcmp(key_path, "tuning.workspace.path") ||
        !strcmp(key_path, "tuning.workspace.resume"))
        return true;
    if (v->kind == LP_NODE_SCALAR) {
        if (!strchr(v->str, '/') || slash_numbers_only(v->str))
            return true;
        char *canon = NULL;
        char *abs = v->str[0] == '/' ? strdup(v->str) : lp_strfmt("%s/%s", b->jb->dir, v->str);
        /* a file to be written (an output) need not exist yet: check its folder */
        int r = abs ? lp_srv_root_of(b->s, abs, LP_ROOTS_ANY, &canon) : -1;
        if (r < 0 && abs) {
            char *slash = strrchr(abs, '/');
            if (slash && slash != abs) {
                *slash = 0;
                r = lp_srv_root_of(b->s, abs, LP_ROOTS_ANY, &canon);
            }
        }
        free(abs);
        free(canon);
        return r >= 0 || failf(b, "configuration line %d: %s '%s' is not inside a folder lowp ui was given", v->line,
                               key_path, v->str);
    }
    for (int i = 0; i < v->n; i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%s", key_path, *key_path ? "." : "", v->kind == LP_NODE_MAP ? v->keys[i] : "[]");
        if (!yaml_paths_inside(b, v->items[i], sub, depth + 1))
            return false;
    }
    return true;
}

static bool int_field(build *b, const char *key, long lo, long hi, const char *opt)
{
    const char *v = field(b->form, key);
    if (!v)
        return true;
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi)
        return failf(b, "%s wants an integer in [%ld, %ld], got '%s'", key, lo, hi, v);
    return arg2(b, opt, v);
}

static bool transform_arg(build *b)
{
    const char *tr = field(b->form, "transform");
    if (tr && (!only(tr, ALNUM "_.,=:/+- ") || !slash_numbers_only(tr)))
        return failf(b, "transform: a list such as Rescale,Normalize=0.2860/0.3530");
    return !tr || arg2(b, "--transform", tr);
}

/* lowp compare FP32 QUANT of a finished run, in its workspace: layers.json (SQNR per tensor)
 * and layers_hist.json (the values' histograms); the run's own files stay as they are. */
static bool build_compare(build *b)
{
    job *jb = b->jb;
    jb->out_name = "layers.json";
    jb->log_name = "layers.log";
    jb->record = false;
    const lp_yval *w = lp_yval_get(b->form, "workspace");
    if (!(jb->dir = checked_path(b, w, 1u << LP_ROOT_WORKSPACE, true, "workspace")))
        return false;
    jb->root = atoi(field(w, "root"));
    const char *rel = jb->dir + strlen(b->s->roots[jb->root].path);
    if (!(jb->rel = strdup(*rel == '/' ? rel + 1 : rel)))
        return failf(b, "out of memory");
    int mroot;
    if (!(jb->model = lp_srv_workspace_model(b->s, jb->dir, &mroot)))
        return failf(b, "the run's FP32 model is not inside a folder lowp ui serves");
    static const char *const quantized[] = { "best_model.onnx", "model.int8.onnx" };
    const char *qname = NULL;
    for (int i = 0; i < 2 && !qname; i++) {
        char *p = NULL;
        if (lp_path_join(jb->dir, quantized[i], &p) == LP_OK && access(p, R_OK) == 0)
            qname = quantized[i];
        free(p);
    }
    if (!qname)
        return failf(b, "%s: no quantized model (best_model.onnx or model.int8.onnx) yet", jb->rel);
    if (!arg(b, b->s->lowp_exe) || !arg(b, "compare") || !arg(b, jb->model) || !arg_ws_file(b, NULL, qname))
        return false;
    if (!lp_yval_get(b->form, "calib") || !field(lp_yval_get(b->form, "calib"), "kind"))
        return failf(b, "calib: the data to compare on");
    return dataset_spec(b, "calib", "--dataset") && transform_arg(b) && int_field(b, "samples", 1, 100000, "--samples") &&
           arg_ws_file(b, "--histograms", "layers_hist.json") && arg(b, "--json");
}

/* The command line of a job from its form. resume: the workspace exists (a tune resumed). */
static bool build_job(build *b, bool resume)
{
    job *jb = b->jb;
    const lp_yval *f = b->form;
    const char *cmd = field(f, "command");
    if (!cmd || (strcmp(cmd, "tune") && strcmp(cmd, "quantize") && strcmp(cmd, "bench") && strcmp(cmd, "compare")))
        return failf(b, "command: tune, quantize, bench or compare");
    snprintf(jb->command, sizeof jb->command, "%s", cmd);
    bool tune = !strcmp(cmd, "tune"), quant = !strcmp(cmd, "quantize");
    jb->out_name = "ui_job.out";
    jb->log_name = "ui_job.log";
    jb->record = true;
    if (resume && !tune)
        return failf(b, "only a tune resumes");
    if (!strcmp(cmd, "compare"))
        return build_compare(b);
    /* the model */
    char *model = checked_path(b, lp_yval_get(f, "model"), 1u << LP_ROOT_MODEL | 1u << LP_ROOT_WORKSPACE, true, "model");
    if (!model)
        return false;
    jb->model = model;
    size_t ml = strlen(model);
    struct stat sb;
    if (ml < 6 || strcmp(model + ml - 5, ".onnx") || stat(model, &sb) != 0 || !S_ISREG(sb.st_mode))
        return failf(b, "model: %s is not an .onnx file", model);
    /* the workspace: a new folder in a workspace root */
    const char *name = field(f, "name"), *wroot = field(f, "workspace_root");
    int root = -1;
    for (int i = 0; i < b->s->n_roots && root < 0; i++)
        if (b->s->roots[i].kind == LP_ROOT_WORKSPACE && (!wroot || atoi(wroot) == i))
            root = i;
    if (root < 0)
        return failf(b, "workspace_root: not a workspace folder of lowp ui");
    char gen[128];
    if (!name) {
        const char *base = strrchr(model, '/') + 1;
        char tm[32];
        time_t t = time(NULL);
        struct tm g;
        gmtime_r(&t, &g);
        strftime(tm, sizeof tm, "%Y%m%d-%H%M%S", &g);
        snprintf(gen, sizeof gen, "%.*s-%s-%s", (int)(strlen(base) - 5 > 60 ? 60 : strlen(base) - 5), base, cmd, tm);
        name = gen;
    }
    if (!only(name, ALNUM "_.-/") || name[0] == '.' || strstr(name, "..") || strstr(name, "/.") || strlen(name) > 200)
        return failf(b, "name: letters, digits, '_', '-', '.' and '/' only, not starting with '.'");
    const char *why = NULL;
    if (!(jb->dir = lp_srv_resolve(b->s, root, name, resume, &why)))
        return failf(b, "name: %s: %s", name, why);
    jb->root = root;
    if (!(jb->rel = strdup(name)))
        return failf(b, "out of memory");
    if (!resume && access(jb->dir, F_OK) == 0)
        return failf(b, "name: %s exists already (choose another name, or resume it from its page)", name);
    /* the configuration, when one was uploaded */
    const char *yaml = field(f, "yaml");
    if (yaml && strlen(yaml) > MAX_YAML)
        return failf(b, "yaml: larger than %d KB", MAX_YAML >> 10);
    if (yaml) {
        lp_yval *cfg = NULL;
        if (lp_yval_parse(yaml, strlen(yaml), "configuration", &cfg) != LP_OK)
            return failf(b, "%s", lowp_last_error());
        bool ok = cfg->kind == LP_NODE_MAP ? yaml_paths_inside(b, cfg, "", 0) : failf(b, "configuration: not a YAML map");
        lp_yval_free(cfg);
        if (!ok)
            return false;
    }
    if (!arg(b, b->s->lowp_exe) || !arg(b, cmd))
        return false;
    if (yaml && !arg_ws_file(b, "--config", "config.yaml"))
        return false;
    if (!arg(b, model))
        return false;
    /* data, metric and criteria */
    if (tune || quant) {
        if (!dataset_spec(b, "calib", "--calib") || !transform_arg(b))
            return false;
    }
    if (tune) {
        if (!dataset_spec(b, "eval", "--eval"))
            return false;
        const char *m = field(f, "metric"), *tol = field(f, "tolerance"), *st = field(f, "strategy");
        if (m && !only(m, ALNUM "_.,=:+-"))
            return failf(b, "metric: a name and numbers, e.g. topk=1");
        if (m && !arg2(b, "--metric", m))
            return false;
        if (tol && !only(tol, "0123456789.%-"))
            return failf(b, "tolerance: a number or a percentage, e.g. 1%% or 0.01");
        if (tol && !arg2(b, "--tolerance", tol))
            return false;
        const lp_yval *abs = lp_yval_get(f, "absolute");
        bool absolute = false;
        if (abs && abs->kind == LP_NODE_SCALAR && lp_scalar_bool(abs, &absolute) && absolute && !arg(b, "--absolute"))
            return false;
        if (st) {
            bool known = false;
            for (int i = 0; lowp_tune_strategy_at(i) && !known; i++)
                known = !strcmp(lowp_tune_strategy_at(i)->name, st);
            if (!known)
                return failf(b, "strategy: unknown '%s'", st);
            if (!arg2(b, "--strategy", st))
                return false;
        }
        if (!int_field(b, "max_trials", 1, 100000, "--max-trials") || !int_field(b, "limit", 1, 100000000, "--limit") ||
            !int_field(b, "sampling_size", 1, 1000000, "--sampling-size"))
            return false;
        if (!arg2(b, "--workspace", jb->dir) || !arg_ws_file(b, "--output", "best_model.onnx") || !arg(b, "--json"))
            return false;
        if (resume && !arg(b, "--resume"))
            return false;
    } else if (quant) {
        if (!int_field(b, "samples", 1, 100000000, "--samples"))
            return false;
        if (!arg_ws_file(b, "--output", "model.int8.onnx") || !arg(b, "--json"))
            return false;
    } else {
        if (!int_field(b, "iters", 1, 1000000, "--iters") || !arg(b, "--json"))
            return false;
    }
    return true;
}

char **lp_jobs_form_argv(lp_server *s, const char *form_json, bool resume, char *err, size_t errsize)
{
    lp_yval *form = NULL;
    job *jb = calloc(1, sizeof *jb);
    char **argv = NULL;
    if (!jb || lp_yval_parse(form_json, strlen(form_json), "form", &form) != LP_OK || form->kind != LP_NODE_MAP) {
        snprintf(err, errsize, "not a JSON object");
    } else {
        build b = { .s = s, .form = form, .jb = jb };
        if (!build_job(&b, resume))
            snprintf(err, errsize, "%s", b.err);
        else if ((argv = calloc((size_t)jb->argc + 1, sizeof *argv)))
            for (int i = 0; i < jb->argc; i++)
                argv[i] = jb->argv[i], jb->argv[i] = NULL;
    }
    lp_yval_free(form);
    job_free(jb);
    return argv;
}

/* Queues a job from a parsed form; on success returns its id (the workspace is created). */
static int submit(lp_server *s, const lp_yval *form, bool resume, char *err, size_t errsize)
{
    job *jb = calloc(1, sizeof *jb);
    build b = { .s = s, .form = form, .jb = jb };
    if (!jb) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    jb->exit_code = -1;
    lp_json fj;
    lp_json_init(&fj, 0);
    lp_srv_yval_json(&fj, form);
    bool ok = lp_json_finish(&fj, &jb->form) == LP_OK ? build_job(&b, resume) : failf(&b, "out of memory");
    if (ok && !resume && jb->record && mkdir(jb->dir, 0777) != 0)
        ok = failf(&b, "%s: cannot create: %s", jb->rel, strerror(errno));
    const char *yaml = field(form, "yaml");
    if (ok && yaml && jb->record) {
        char *p = NULL;
        if (lp_path_join(jb->dir, "config.yaml", &p) != LP_OK || lp_write_file_atomic(p, yaml, strlen(yaml)) != LP_OK)
            ok = failf(&b, "%s", lowp_last_error());
        free(p);
    }
    lp_jobs *js = s->jobs;
    pthread_mutex_lock(&js->mu);
    for (int i = 0; ok && i < js->n; i++)
        if (!strcmp(js->jobs[i]->dir, jb->dir) && js->jobs[i]->state <= JOB_RUNNING)
            ok = failf(&b, "%s: a job for this workspace is %s already", jb->rel, state_names[js->jobs[i]->state]);
    if (ok && js->n == MAX_JOBS) { /* forget the oldest finished job */
        int k = 0;
        while (k < js->n && js->jobs[k]->state <= JOB_RUNNING)
            k++;
        if (k == js->n) {
            ok = failf(&b, "the queue is full (%d jobs)", MAX_JOBS);
        } else {
            job_free(js->jobs[k]);
            memmove(&js->jobs[k], &js->jobs[k + 1], (size_t)(js->n - k - 1) * sizeof *js->jobs);
            js->n--;
        }
    }
    int id = -1;
    if (ok) {
        jb->id = id = js->next_id++;
        jb->submitted = time(NULL);
        jb->state = JOB_QUEUED;
        js->jobs[js->n++] = jb;
    }
    pthread_mutex_unlock(&js->mu);
    if (!ok) {
        snprintf(err, errsize, "%s", b.err);
        job_free(jb);
        return -1;
    }
    write_run_file(jb);
    pthread_mutex_lock(&js->mu);
    pthread_cond_broadcast(&js->cv);
    pthread_mutex_unlock(&js->mu);
    return id;
}

/* ---- the API ---- */

static void reply_id(lp_reply *r, int id)
{
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "id");
    lp_json_int(&j, id);
    lp_json_end_object(&j);
    char *text = NULL;
    lp_status st = lp_json_finish(&j, &text);
    lp_reply_json(r, st, text);
}

static lp_yval *parse_body(const lp_request *q, lp_reply *r)
{
    lp_yval *v = NULL;
    if (!q->body_size || lp_yval_parse(q->body, q->body_size, "request", &v) != LP_OK || v->kind != LP_NODE_MAP) {
        lp_yval_free(v);
        lp_reply_error(r, 400, "the body must be a JSON object");
        return NULL;
    }
    return v;
}

void lp_api_jobs(lp_server *s, const lp_request *q, lp_reply *r)
{
    (void)q;
    lp_jobs *js = s->jobs;
    lp_json j;
    lp_json_init(&j, 0);
    lp_json_begin_object(&j);
    lp_json_key(&j, "jobs");
    lp_json_begin_array(&j);
    pthread_mutex_lock(&js->mu);
    for (int i = js->n - 1; i >= 0; i--)
        job_json(&j, js->jobs[i]);
    pthread_mutex_unlock(&js->mu);
    lp_json_end_array(&j);
    lp_json_end_object(&j);
    char *text = NULL;
    lp_status st = lp_json_finish(&j, &text);
    lp_reply_json(r, st, text);
}

void lp_api_job_submit(lp_server *s, const lp_request *q, lp_reply *r)
{
    lp_yval *form = parse_body(q, r);
    if (!form)
        return;
    char err[512];
    int id = submit(s, form, false, err, sizeof err);
    lp_yval_free(form);
    if (id < 0)
        lp_reply_error(r, 400, "%s", err);
    else
        reply_id(r, id);
}

void lp_api_job_cancel(lp_server *s, const lp_request *q, lp_reply *r)
{
    lp_yval *body = parse_body(q, r);
    if (!body)
        return;
    const char *ids = field(body, "id");
    int id = ids ? atoi(ids) : -1;
    lp_yval_free(body);
    lp_jobs *js = s->jobs;
    job *jb = NULL;
    pthread_mutex_lock(&js->mu);
    for (int i = 0; i < js->n && !jb; i++)
        if (js->jobs[i]->id == id)
            jb = js->jobs[i];
    if (jb && jb->state == JOB_QUEUED) {
        jb->state = JOB_CANCELLED;
        jb->finished = time(NULL);
        write_run_file(jb);
    } else if (jb && jb->state == JOB_RUNNING) {
        jb->cancel = true; /* the worker sends SIGTERM (then SIGKILL after a grace period) */
    }
    pthread_mutex_unlock(&js->mu);
    if (!jb) {
        lp_reply_error(r, 404, "no job %d", id);
        return;
    }
    reply_id(r, id);
}

/* Sets m[key] to the string `value` (replacing what was there). */
static bool set_field(lp_yval *m, const char *key, const char *value)
{
    lp_yval *v = NULL;
    if (lp_yval_new(LP_NODE_SCALAR, 0, value, &v) != LP_OK)
        return false;
    v->quoted = true;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) {
            lp_yval_free(m->items[i]);
            m->items[i] = v;
            return true;
        }
    return lp_yval_append(m, key, v) == LP_OK;
}

/* Resume a tune: its form again (from WS/ui_run.json, checked as a new one) with --resume. */
void lp_api_job_resume(lp_server *s, const lp_request *q, lp_reply *r)
{
    lp_yval *body = parse_body(q, r);
    if (!body)
        return;
    const char *rs = field(body, "root"), *ps = field(body, "path");
    int root = rs ? atoi(rs) : -1;
    char path[1024];
    snprintf(path, sizeof path, "%s", ps ? ps : "");
    const char *why = NULL;
    char *dir = rs && ps && strlen(ps) < sizeof path ? lp_srv_resolve(s, root, path, true, &why) : NULL;
    lp_yval_free(body);
    if (!dir) {
        lp_reply_error(r, 403, "%s: %s", path, why ? why : "give root and path");
        return;
    }
    lp_yval *run = lp_srv_read_yval(dir, "ui_run.json");
    const lp_yval *form = run ? lp_yval_get(run, "form") : NULL;
    char err[512];
    int id = -1;
    if (!form || form->kind != LP_NODE_MAP) {
        snprintf(err, sizeof err, "%.200s was not started from lowp ui: resume it with the same lowp tune command and "
                 "--resume", path);
    } else {
        /* the workspace is where the form says: the same root and name */
        lp_yval *copy = NULL;
        char rtext[16];
        snprintf(rtext, sizeof rtext, "%d", root);
        if (lp_yval_clone(form, &copy) == LP_OK && set_field(copy, "name", path) && set_field(copy, "workspace_root", rtext))
            id = submit(s, copy, true, err, sizeof err);
        else
            snprintf(err, sizeof err, "out of memory");
        lp_yval_free(copy);
    }
    lp_yval_free(run);
    free(dir);
    if (id < 0)
        lp_reply_error(r, 400, "%s", err);
    else
        reply_id(r, id);
}
