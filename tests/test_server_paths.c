/* test_server_paths.c — the one gate between a path in a request and the file system
 * (lp_srv_resolve, src/server/paths.c): hand-picked escapes, then thousands of generated paths
 * built from hostile components over a tree with symlinks leading in and out. Whatever the
 * path, the gate either refuses it or returns a path that is inside the root once every symlink
 * is resolved (checked independently, with realpath and a prefix test). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/outfile.h"
#include "server/server.h"
#include "test.h"

static char root[PATH_MAX], outside[PATH_MAX];
static lp_server srv;

static void mk(const char *rel, bool dir)
{
    char *p = lp_strfmt("%s/%s", root, rel);
    if (dir)
        mkdir(p, 0777);
    else {
        FILE *f = fopen(p, "w");
        if (f)
            fclose(f);
    }
    free(p);
}

static void ln(const char *target, const char *rel)
{
    char *p = lp_strfmt("%s/%s", root, rel);
    if (symlink(target, p) != 0)
        perror(p);
    free(p);
}

/* The independent check: the canonical form of what the gate returned lies under the root. */
static bool really_inside(const char *p)
{
    char *c = realpath(p, NULL);
    if (!c) { /* a file to be created: its folder must be inside */
        char *d = strdup(p);
        char *slash = strrchr(d, '/');
        *slash = 0;
        c = realpath(d, NULL);
        free(d);
        if (!c)
            return false;
    }
    size_t n = strlen(root);
    bool ok = !strncmp(c, root, n) && (c[n] == '/' || c[n] == 0);
    free(c);
    return ok;
}

static void test_known_escapes(void)
{
    lp_server *s = &srv;
    static const char *const refused[] = {
        "..", "../", "../etc/passwd", "a/../../x", "a/..", "./a", "a/./b", "/etc/passwd", "a\\..\\..\\x",
        "out", "out/secret", "a/out_rel/secret", "a/\x01", "..%2f", "a//..//..", "a/b/../../..",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *why = NULL;
        char *p = lp_srv_resolve(s, 0, refused[i], true, &why);
        if (p && really_inside(p)) { /* "..%2f" is a name, not a component: fine if inside */
            free(p);
            CHECK(strcmp(refused[i], "..%2f") == 0);
            continue;
        }
        CHECK(p == NULL);
        CHECK(why != NULL);
        free(p);
    }
    static const char *const accepted[] = { "", "a", "a/b", "a/b/file", "in", "in/file", "a/in_rel/file" };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        const char *why = NULL;
        char *p = lp_srv_resolve(s, 0, accepted[i], true, &why);
        CHECK(p != NULL);
        if (p)
            CHECK(really_inside(p));
        free(p);
    }
    const char *why = NULL;
    CHECK(lp_srv_resolve(s, 1, "a", true, &why) == NULL); /* no such root */
    CHECK(lp_srv_resolve(s, -1, "a", true, &why) == NULL);
    char *newfile = lp_srv_resolve(s, 0, "a/new.json", false, &why);
    CHECK(newfile && really_inside(newfile));
    free(newfile);
    CHECK(lp_srv_resolve(s, 0, "out/new.json", false, &why) == NULL); /* folder through a link out */
    CHECK(lp_srv_resolve(s, 0, "nodir/new.json", false, &why) == NULL);
}

static void test_generated(void)
{
    lp_server *s = &srv;
    static const char *const parts[] = { "a", "b", "..", ".", "", "out", "in", "file", "out_rel", "in_rel",
                                         "%2e%2e", "\\..", "...", "a..", "..a", "loop" };
    const int np = (int)(sizeof parts / sizeof parts[0]);
    unsigned seed = 1978;
    int refused = 0, accepted = 0;
    for (int it = 0; it < 20000; it++) {
        char rel[256] = "";
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 6;
        for (int k = 0; k < n; k++) {
            const char *p = parts[((seed = seed * 1103515245u + 12345u) >> 16) % (unsigned)np];
            strncat(rel, k ? "/" : "", sizeof rel - strlen(rel) - 1);
            strncat(rel, p, sizeof rel - strlen(rel) - 1);
        }
        bool must = ((seed >> 20) & 1) != 0;
        const char *why = NULL;
        char *p = lp_srv_resolve(s, 0, rel, must, &why);
        if (p) {
            accepted++;
            if (!really_inside(p)) {
                fprintf(stderr, "escaped: '%s' -> %s\n", rel, p);
                CHECK(false);
            }
            CHECK(!strstr(rel, "/../") && strncmp(rel, "../", 3) != 0);
        } else {
            refused++;
            CHECK(why != NULL);
        }
        free(p);
    }
    /* both outcomes happen, so the generator reaches the gate's both sides */
    CHECK(refused > 1000);
    CHECK(accepted > 100);
}

int main(void)
{
    char tmpl[256], tmpl2[256];
    if (!lp_test_tmpdir(tmpl, sizeof tmpl, "paths") || !lp_test_tmpdir(tmpl2, sizeof tmpl2, "outside") ||
        !realpath(tmpl, root) || !realpath(tmpl2, outside))
        return 1;
    mk("a", true);
    mk("a/b", true);
    mk("a/b/file", false);
    mk("in", true);
    mk("in/file", false);
    char *secret = lp_strfmt("%s/secret", outside);
    FILE *f = fopen(secret, "w");
    if (f)
        fclose(f);
    ln(outside, "out");            /* absolute link out */
    char *rel_out = lp_strfmt("../../%s", outside + 1);
    ln(rel_out, "a/out_rel");      /* relative link out */
    ln("../in", "a/in_rel");       /* relative link that stays inside */
    ln("loop", "loop");            /* a link to itself */
    ln("a", "in/a");
    srv.n_roots = 1;
    srv.roots[0] = (lp_root){ LP_ROOT_WORKSPACE, root };

    RUN(test_known_escapes);
    RUN(test_generated);

    lp_test_rmtree(root);
    lp_test_rmtree(outside);
    free(secret);
    free(rel_out);
    return TEST_SUMMARY("test_server_paths");
}
