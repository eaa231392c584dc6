/* test_tmpdir.c — test.h's temporary folders: lp_test_tmpdir makes them under $TMPDIR and
 * lp_test_rmtree removes them without a shell, whatever their names hold, and never follows a
 * link out of them (the tests that use it plant such links: test_server_paths, test_server_jobs). */
#include <sys/stat.h>
#include <unistd.h>

#include "lowp.h"
#include "test.h"

static char top[256]; /* this program's own folder: TMPDIR for the cases below */

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void put(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot make %s", path);
    if (f)
        fclose(f);
}

static void test_tmpdir_under_tmpdir(void)
{
    char dir[256], again[256];
    setenv("TMPDIR", top, 1);
    CHECK(lp_test_tmpdir(dir, sizeof dir, "case"));
    CHECK(lp_test_tmpdir(again, sizeof again, "case"));
    CHECK_MSG(!strncmp(dir, top, strlen(top)) && strstr(dir, "/lowp_case."), "%s", dir);
    CHECK(strcmp(dir, again) != 0 && exists(dir) && exists(again)); /* fresh each time */
    unsetenv("TMPDIR");
    lp_test_rmtree(dir);
    lp_test_rmtree(again);
    CHECK(!exists(dir) && !exists(again));
}

static void test_rmtree_keeps_what_links_reach(void)
{
    char dir[256], outside[256], path[600];
    setenv("TMPDIR", top, 1);
    CHECK(lp_test_tmpdir(dir, sizeof dir, "tree") && lp_test_tmpdir(outside, sizeof outside, "outside"));
    unsetenv("TMPDIR");
    put(outside, "secret");
    snprintf(path, sizeof path, "%s/a b'c", dir); /* a quote and a space: a shell's trouble */
    CHECK(mkdir(path, 0700) == 0);
    put(path, "it's");
    snprintf(path, sizeof path, "%s/a b'c/deeper", dir);
    CHECK(mkdir(path, 0700) == 0);
    put(path, "$(touch x)");
    snprintf(path, sizeof path, "%s/out", dir);
    CHECK(symlink(outside, path) == 0); /* a link to a folder outside */
    char secret[600];
    snprintf(secret, sizeof secret, "%s/secret", outside);
    snprintf(path, sizeof path, "%s/a b'c/secret_link", dir);
    CHECK(symlink(secret, path) == 0); /* a link to a file outside */
    snprintf(path, sizeof path, "%s/loop", dir);
    CHECK(symlink("loop", path) == 0); /* a link to itself */

    setenv("LOWP_TEST_KEEP", "1", 1);
    lp_test_rmtree(dir);
    CHECK(exists(dir)); /* kept on request */
    unsetenv("LOWP_TEST_KEEP");
    lp_test_rmtree(dir);
    CHECK(!exists(dir));
    CHECK(exists(outside) && exists(secret)); /* links went, not what they reach */
    lp_test_rmtree(outside);
    CHECK(!exists(outside));
}

int main(void)
{
    if (!lp_test_tmpdir(top, sizeof top, "test_tmpdir"))
        return 1;
    RUN(test_tmpdir_under_tmpdir);
    RUN(test_rmtree_keeps_what_links_reach);
    lp_test_rmtree(top);
    return TEST_SUMMARY("test_tmpdir");
}
