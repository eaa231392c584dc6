/* evalcmd.c — the external-program evaluator (`lowp tune --eval-cmd`): save the candidate,
 * run the user's command on it in its own process group under a time limit, read the metric
 * from the last line of its output. Memory is bounded: only the tail of each stream is kept. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tune/tune.h"

extern char **environ;

#define TAIL_BYTES 4096 /* of each stream: the last line of stdout, the stderr shown in errors */

typedef struct eval_cmd {
    char *command;
    double timeout;
    char *tmpdir; /* outside a tune: a temporary folder for the candidates (made on first use) */
} eval_cmd;

static void eval_cmd_free(void *user)
{
    eval_cmd *c = user;
    if (!c)
        return;
    if (c->tmpdir)
        rmdir(c->tmpdir); /* empty unless a failed candidate was kept */
    free(c->tmpdir);
    free(c->command);
    free(c);
}

/* A bounded tail of a stream: the last TAIL_BYTES bytes read. */
typedef struct tail {
    char buf[TAIL_BYTES + 1];
    size_t n;
    bool cut; /* earlier bytes were dropped */
} tail;

static void tail_add(tail *t, const char *p, size_t n)
{
    if (n >= TAIL_BYTES) {
        memcpy(t->buf, p + n - TAIL_BYTES, TAIL_BYTES);
        t->n = TAIL_BYTES;
        t->cut = true;
    } else {
        if (t->n + n > TAIL_BYTES) {
            size_t drop = t->n + n - TAIL_BYTES;
            memmove(t->buf, t->buf + drop, t->n - drop);
            t->n -= drop;
            t->cut = true;
        }
        memcpy(t->buf + t->n, p, n);
        t->n += n;
    }
    t->buf[t->n] = 0;
}

/* The last few lines of stderr on one line, for a message ("" when empty). */
static const char *tail_lines(tail *t, int max_lines, char *out, size_t size)
{
    size_t end = t->n;
    while (end > 0 && (t->buf[end - 1] == '\n' || t->buf[end - 1] == ' ' || t->buf[end - 1] == '\r'))
        end--;
    size_t start = end;
    for (int lines = 0; start > 0; start--)
        if (t->buf[start - 1] == '\n' && ++lines == max_lines)
            break;
    size_t k = 0;
    for (size_t i = start; i < end && k + 4 < size; i++) {
        if (t->buf[i] == '\n') {
            memcpy(out + k, " | ", 3);
            k += 3;
        } else {
            out[k++] = t->buf[i];
        }
    }
    out[k] = 0;
    return out;
}

/* `command` with {model} replaced by the shell-quoted path (appended when absent). */
static char *expand(const char *command, const char *path)
{
    size_t q = 2;
    for (const char *p = path; *p; p++)
        q += *p == '\'' ? 4 : 1;
    size_t uses = 0;
    for (const char *p = strstr(command, "{model}"); p; p = strstr(p + 7, "{model}"))
        uses++;
    size_t n = strlen(command) + (uses ? uses : 1) * q + 2;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    const char *p = command;
    for (size_t u = 0; u < (uses ? uses : 1); u++) {
        const char *at = uses ? strstr(p, "{model}") : p + strlen(p);
        memcpy(o, p, (size_t)(at - p));
        o += at - p;
        if (!uses)
            *o++ = ' ';
        *o++ = '\'';
        for (const char *s = path; *s; s++) {
            if (*s == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = *s;
            }
        }
        *o++ = '\'';
        p = uses ? at + 7 : at;
    }
    strcpy(o, p);
    return out;
}

static void kill_group(pid_t pid)
{
    kill(-pid, SIGTERM);
    for (int i = 0; i < 20; i++) { /* up to 1 s to go quietly */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            goto gone;
        usleep(50000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
gone:
    kill(-pid, SIGKILL); /* anything the shell left behind in the group */
}

/* Runs `cmd` (sh -c) with its output into the tails; *status_out is waitpid's status, -2 when
 * `*cancelled` became non-zero (the group is killed), or -1
 * on time-out. */
static lp_status run_command(const char *cmd, double timeout, const char *model, int trial,
                             const volatile int *cancelled, tail *out, tail *err, int *status_out)
{
    int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
    if (pipe(po) != 0 || pipe(pe) != 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (po[i] >= 0)
                close(po[i]);
            if (pe[i] >= 0)
                close(pe[i]);
        }
        return lp_error(LOWP_ERR_IO, "cannot create a pipe: %s", strerror(e));
    }
    fcntl(po[0], F_SETFD, FD_CLOEXEC);
    fcntl(pe[0], F_SETFD, FD_CLOEXEC);
    /* the environment plus LOWP_MODEL and LOWP_TRIAL */
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **env = calloc(n_env + 3, sizeof *env);
    char *vm = malloc(strlen(model) + 12), vt[32];
    lp_status st = env && vm ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    pid_t pid = -1;
    if (st == LP_OK) {
        size_t k = 0;
        for (size_t i = 0; i < n_env; i++)
            if (strncmp(environ[i], "LOWP_MODEL=", 11) && strncmp(environ[i], "LOWP_TRIAL=", 11))
                env[k++] = environ[i];
        sprintf(vm, "LOWP_MODEL=%s", model);
        snprintf(vt, sizeof vt, "LOWP_TRIAL=%d", trial);
        env[k++] = vm;
        env[k++] = vt;
        env[k] = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, po[1], 1);
        posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
        posix_spawn_file_actions_addclose(&fa, po[1]);
        posix_spawn_file_actions_addclose(&fa, pe[1]);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawnattr_init(&at);
        posix_spawnattr_setpgroup(&at, 0); /* its own group: a time-out kills it whole */
        sigset_t def;
        sigemptyset(&def);
        sigaddset(&def, SIGPIPE);
        sigaddset(&def, SIGINT);
        sigaddset(&def, SIGTERM);
        posix_spawnattr_setsigdefault(&at, &def);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
        char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
        int e = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        if (e != 0)
            st = lp_error(LOWP_ERR_IO, "cannot start /bin/sh: %s", strerror(e));
    }
    close(po[1]);
    close(pe[1]);
    free(env);
    free(vm);
    double deadline = timeout > 0 ? lp_tune_now() + timeout : 0;
    bool timed_out = false, interrupted = false;
    struct pollfd fds[2] = { { .fd = po[0], .events = POLLIN }, { .fd = pe[0], .events = POLLIN } };
    while (st == LP_OK && (fds[0].fd >= 0 || fds[1].fd >= 0)) {
        if (cancelled && *cancelled) {
            interrupted = true;
            break;
        }
        int wait_ms = 100; /* the cancel flag is looked at this often */
        if (deadline > 0) {
            double left = deadline - lp_tune_now();
            if (left <= 0) {
                timed_out = true;
                break;
            }
            if (left * 1000 < wait_ms)
                wait_ms = (int)(left * 1000) + 1;
        }
        int r = poll(fds, 2, wait_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = lp_error(LOWP_ERR_IO, "poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            char buf[4096];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0)
                tail_add(i ? err : out, buf, (size_t)got);
            else if (got == 0 || errno != EINTR)
                fds[i].fd = -1; /* end of stream */
        }
    }
    close(po[0]);
    close(pe[0]);
    if (pid > 0) {
        if (timed_out || interrupted || st != LP_OK) {
            kill_group(pid);
            *status_out = interrupted ? -2 : -1;
        } else {
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            /* the streams are closed but the command may have left children with the time to
               run out: they are the user's (closing stdout is the protocol's "done") */
            *status_out = status;
        }
    }
    return st;
}

static lp_status eval_cmd_fn(void *user, const lowp_eval_request *rq, double *value_out)
{
    eval_cmd *c = user;
    char dir[1100], path[1200];
    if (rq->workspace) {
        snprintf(dir, sizeof dir, "%s/candidates", rq->workspace);
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return lp_error(LOWP_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    } else {
        if (!c->tmpdir) {
            const char *tmp = getenv("TMPDIR");
            snprintf(dir, sizeof dir, "%s/lowp_eval.XXXXXX", tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp(dir))
                return lp_error(LOWP_ERR_IO, "%s: cannot create a temporary folder: %s", dir, strerror(errno));
            if (!(c->tmpdir = strdup(dir)))
                return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        snprintf(dir, sizeof dir, "%s", c->tmpdir);
    }
    if (rq->trial)
        snprintf(path, sizeof path, "%s/trial_%d.onnx", dir, rq->trial);
    else
        snprintf(path, sizeof path, "%s/fp32.onnx", dir);
    LP_TRY(lowp_model_save(rq->model, path));
    char *cmd = expand(c->command, path);
    if (!cmd)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    tail *out = calloc(1, sizeof *out), *err = calloc(1, sizeof *err);
    int status = 0;
    lp_status st = out && err ? run_command(cmd, c->timeout, path, rq->trial, rq->cancelled, out, err, &status)
                              : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    char errtail[600], line[200];
    if (st == LP_OK) {
        tail_lines(err, 5, errtail, sizeof errtail);
        const char *sep = *errtail ? "; stderr: " : "";
        /* the last non-empty line of stdout */
        size_t end = out->n;
        while (end > 0 && strchr(" \t\r\n", out->buf[end - 1]))
            end--;
        size_t start = end;
        while (start > 0 && out->buf[start - 1] != '\n')
            start--;
        size_t len = end - start;
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), out->buf + start);
        char *stop = NULL;
        double v = *line ? strtod(line, &stop) : NAN;
        if (status == -2)
            st = lp_error(LOWP_ERR_CANCELLED, "eval-cmd '%s' was stopped: the tune was interrupted", c->command);
        else if (status == -1)
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "eval-cmd '%s' ran longer than %g s and was killed%s%s", c->command,
                          c->timeout, sep, errtail);
        else if (WIFSIGNALED(status))
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "eval-cmd '%s' was killed by signal %d%s%s", c->command,
                          WTERMSIG(status), sep, errtail);
        else if (WEXITSTATUS(status) != 0)
            st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "eval-cmd '%s' failed with exit status %d%s%s", c->command,
                          WEXITSTATUS(status), sep, errtail);
        else if (!*line)
            st = lp_error(LOWP_ERR_FORMAT, "eval-cmd '%s' printed nothing: its last line of output must be the "
                          "metric (a number)%s%s", c->command, sep, errtail);
        else if (stop == line || *stop || !isfinite(v))
            st = lp_error(LOWP_ERR_FORMAT, "eval-cmd '%s': the last line of its output, '%s', is not a number "
                          "(the metric)%s%s", c->command, line, sep, errtail);
        else
            *value_out = v;
    }
    free(out);
    free(err);
    free(cmd);
    if (st == LP_OK)
        unlink(path);
    else {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lowp_last_error());
        lp_error(st, "%s (the model is kept: %s)", msg, path);
    }
    return st;
}

lowp_status lowp_evaluator_command(const char *command, double timeout, int higher_is_better, lowp_evaluator *out)
{
    if (!command || !*command || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_evaluator_command: empty command");
    if (!(timeout >= 0))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_evaluator_command: the time-out must be >= 0 seconds");
    eval_cmd *c = calloc(1, sizeof *c);
    if (!c || !(c->command = strdup(command))) {
        free(c);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    c->timeout = timeout;
    *out = (lowp_evaluator){ .fn = eval_cmd_fn, .user = c, .free = eval_cmd_free, .name = "eval-cmd",
                             .higher_is_better = higher_is_better != 0 };
    return LP_OK;
}
