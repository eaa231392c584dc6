/* paths.c — the one gate between a path a request names and the file system: every file the
 * server reads, serves or hands to a job is inside one of the roots it was started with. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/outfile.h"
#include "server/server.h"

/* Whether canonical path p is root r or inside it. */
static bool inside(const char *p, const char *r)
{
    size_t n = strlen(r);
    if (n == 1 && r[0] == '/')
        return p[0] == '/';
    return !strncmp(p, r, n) && (p[n] == '/' || p[n] == 0);
}

/* The components of a relative path: no "..", no empty or "." ones doubling as tricks, no
 * backslashes (not a separator here, but a Windows client may think so), no control bytes. */
static const char *bad_relative(const char *rel)
{
    if (!*rel)
        return NULL; /* the root itself */
    if (rel[0] == '/')
        return "an absolute path is not allowed here";
    if (strlen(rel) > PATH_MAX)
        return "path too long";
    for (const char *p = rel; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\')
            return "control characters and backslashes are not allowed in paths";
    for (const char *c = rel; *c;) {
        size_t n = strcspn(c, "/");
        if ((n == 2 && !strncmp(c, "..", 2)) || (n == 1 && c[0] == '.'))
            return "'.' and '..' are not allowed in paths";
        c += n;
        if (*c == '/')
            c++;
    }
    return NULL;
}

char *lp_srv_resolve(const lp_server *s, int root, const char *rel, bool must_exist, const char **why)
{
    *why = NULL;
    if (root < 0 || root >= s->n_roots) {
        *why = "no such root";
        return NULL;
    }
    if ((*why = bad_relative(rel)))
        return NULL;
    char *joined = *rel ? lp_strfmt("%s/%s", s->roots[root].path, rel) : strdup(s->roots[root].path);
    if (!joined) {
        *why = "out of memory";
        return NULL;
    }
    char *canon = realpath(joined, NULL);
    if (!canon && !must_exist && errno == ENOENT) {
        /* a file to be created: its folder must exist and be inside */
        char *slash = strrchr(joined, '/');
        *slash = 0;
        char *dir = realpath(joined, NULL);
        if (dir && inside(dir, s->roots[root].path))
            canon = lp_strfmt("%s/%s", dir, slash + 1);
        free(dir);
        *slash = '/';
        if (!canon) {
            free(joined);
            *why = "its folder does not exist or is outside the root";
            return NULL;
        }
    }
    free(joined);
    if (!canon) {
        *why = errno == ENOENT ? "no such file or folder" : strerror(errno);
        return NULL;
    }
    if (!inside(canon, s->roots[root].path)) {
        free(canon);
        *why = "outside the folders lowp ui serves";
        return NULL;
    }
    return canon;
}

int lp_srv_root_of(const lp_server *s, const char *path, unsigned kinds, char **canon_out)
{
    *canon_out = NULL;
    char *canon = realpath(path, NULL);
    if (!canon)
        return -1;
    for (int i = 0; i < s->n_roots; i++)
        if (((kinds >> s->roots[i].kind) & 1) && inside(canon, s->roots[i].path)) {
            *canon_out = canon;
            return i;
        }
    free(canon);
    return -1;
}
