/* outfile.c — atomic output files (temporary + rename) with stale-temporary cleanup, and
 * dynamically built paths. */
#include "base/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *lp_strfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

lp_status lp_path_join(const char *dir, const char *name, char **out)
{
    size_t n = strlen(dir);
    bool slash = n > 0 && dir[n - 1] == '/';
    if (!(*out = lp_strfmt("%s%s%s", dir, slash || !n ? "" : "/", name)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory building the path %s/%s", dir, name);
    return LP_OK;
}

const char *lp_path_brief(const char *path, char buf[LP_PATH_BRIEF])
{
    size_t n = strlen(path);
    if (n < LP_PATH_BRIEF)
        return path;
    snprintf(buf, LP_PATH_BRIEF, "%.60s...%s", path, path + n - 90);
    return buf;
}

/* The pid in a temporary's name suffix "PID" or "PID.N"; 0 when the suffix is not one. */
static long tmp_pid(const char *s)
{
    long pid = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (pid > 100000000L)
            return 0;
        pid = pid * 10 + (*p - '0');
    }
    if (p == s)
        return 0;
    if (*p == '.') {
        const char *q = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == q)
            return 0;
    }
    return *p ? 0 : pid;
}

int lp_out_clean_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    const char *base = slash ? slash + 1 : path;
    char *prefix = lp_strfmt("%s.tmp.", base);
    DIR *d = dir && prefix ? opendir(dir) : NULL;
    int removed = 0;
    size_t np = prefix ? strlen(prefix) : 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, np) != 0)
            continue;
        long pid = tmp_pid(e->d_name + np);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        /* EPERM: the process exists (another user's); only ESRCH proves it is gone. */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    free(dir);
    free(prefix);
    return removed;
}

lp_status lp_out_begin(const char *path, lp_outfile *o)
{
    memset(o, 0, sizeof *o);
    lp_out_clean_stale(path);
    if (!(o->path = strdup(path)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int fd = -1;
    for (int n = 0; n < 100 && fd < 0; n++) {
        free(o->tmp);
        o->tmp = n ? lp_strfmt("%s.tmp.%ld.%d", path, (long)getpid(), n) : lp_strfmt("%s.tmp.%ld", path, (long)getpid());
        if (!o->tmp)
            break;
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    lp_status st = LP_OK;
    char b1[LP_PATH_BRIEF];
    if (!o->tmp)
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", lp_path_brief(path, b1));
    else if (fd < 0)
        st = lp_error(LOWP_ERR_IO, "%s: cannot create a temporary file next to it: %s", lp_path_brief(o->tmp, b1),
                      strerror(errno));
    else if (!(o->f = fdopen(fd, "wb"))) {
        st = lp_error(LOWP_ERR_IO, "%s: cannot write: %s", lp_path_brief(o->tmp, b1), strerror(errno));
        close(fd);
        unlink(o->tmp);
    }
    if (st != LP_OK) {
        free(o->path);
        free(o->tmp);
        memset(o, 0, sizeof *o);
    }
    return st;
}

lp_status lp_out_commit(lp_outfile *o) { return lp_out_commit_as(o, o->path); }

lp_status lp_out_commit_as(lp_outfile *o, const char *path)
{
    int bad = ferror(o->f);
    int err = bad ? EIO : 0;
    if (fclose(o->f) != 0 && !bad)
        bad = 1, err = errno;
    lp_status st = LP_OK;
    char b1[LP_PATH_BRIEF];
    if (bad)
        st = lp_error(LOWP_ERR_IO, "%s: cannot write: %s", lp_path_brief(path, b1), strerror(err));
    else if (rename(o->tmp, path) != 0)
        st = lp_error(LOWP_ERR_IO, "%s: cannot rename its temporary over it: %s", lp_path_brief(path, b1),
                      strerror(errno));
    if (st != LP_OK)
        unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
    return st;
}

void lp_out_abort(lp_outfile *o)
{
    if (o->f) {
        fclose(o->f);
        unlink(o->tmp);
    }
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

lp_status lp_make_dirs(const char *dir, const char *what)
{
    char *buf = strdup(dir);
    if (!buf)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    lp_status st = LP_OK;
    char b1[LP_PATH_BRIEF];
    for (char *p = buf + (*buf == '/'); st == LP_OK; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (*buf && mkdir(buf, 0777) != 0 && errno != EEXIST)
            st = lp_error(LOWP_ERR_IO, "%s: cannot create %s folder: %s", lp_path_brief(buf, b1), what, strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    free(buf);
    struct stat sb;
    if (st == LP_OK) { /* "a/b" where a is a file: mkdir said EEXIST for it, and b failed as ENOTDIR */
        int err = stat(dir, &sb) != 0 ? errno : !S_ISDIR(sb.st_mode) ? ENOTDIR : 0;
        if (err)
            st = lp_error(LOWP_ERR_IO, "%s: cannot create %s folder: %s", lp_path_brief(dir, b1), what, strerror(err));
    }
    return st;
}

lp_status lp_write_file_atomic(const char *path, const void *data, size_t size)
{
    lp_outfile o;
    LP_TRY(lp_out_begin(path, &o));
    if (size && fwrite(data, 1, size, o.f) != size) {
        int err = errno;
        lp_out_abort(&o);
        char b1[LP_PATH_BRIEF];
        return lp_error(LOWP_ERR_IO, "%s: cannot write: %s", lp_path_brief(path, b1), strerror(err));
    }
    return lp_out_commit(&o);
}
