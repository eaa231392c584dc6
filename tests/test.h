/* test.h — a tiny test harness: CHECK macros that count, one summary line per program.
 * Each program prints "ok <name>" / "FAIL <name>: why" per test and finally
 * "<prog>: N passed, N failed"; tools/run_tests.sh adds the programs up. */
#ifndef LP_TEST_H
#define LP_TEST_H

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lp_test_passed, lp_test_failed, lp_test_cur_failed;
static const char *lp_test_cur;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("FAIL %s: %s:%d: %s\n", lp_test_cur, __FILE__, __LINE__, #cond);  \
            lp_test_cur_failed = 1;                                                  \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("FAIL %s: %s:%d: ", lp_test_cur, __FILE__, __LINE__);             \
            printf(__VA_ARGS__);                                                     \
            printf("\n");                                                            \
            lp_test_cur_failed = 1;                                                  \
        }                                                                            \
    } while (0)

/* A lowp call expected to succeed; prints lowp_last_error() when it does not. */
#define CHECK_OK(expr)                                                               \
    do {                                                                             \
        int st_ = (int)(expr);                                                       \
        if (st_ != 0) {                                                              \
            printf("FAIL %s: %s:%d: %s -> %d: %s\n", lp_test_cur, __FILE__, __LINE__, #expr, \
                   st_, lowp_last_error());                                          \
            lp_test_cur_failed = 1;                                                  \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), \
                                        "%s = %g, %s = %g, tol %g", #a, (double)(a), #b, (double)(b), (double)(tol))

/* LOWP_TEST_SEED=N: a randomized test draws other cases than its fixed default seed (the one
 * make test runs alone; tests/seeds.sh runs a few more). Sets *state and says so when given. */
static inline void lp_test_seed(uint64_t *state)
{
    const char *s = getenv("LOWP_TEST_SEED");
    if (s && *s) {
        *state = strtoull(s, NULL, 0);
        printf("  LOWP_TEST_SEED=%s\n", s);
    }
}

/* Moves the n floats at v that lie within 0.1 of a step s of a .5 tie (v / s = k + 0.5) to
 * 0.1 off it: oneDNN's quantizing reorders round v * (1/s) + zp where ONNX rounds v / s, so
 * within float rounding of a tie they land one step apart (docs/engine.md) -- a step that a
 * test's bound may not carry. */
static inline void lp_test_off_ties(float *v, int64_t n, float s)
{
    for (int64_t i = 0; i < n; i++) {
        double r = v[i] / (double)s, k = floor(r);
        if (fabs(r - k - 0.5) < 0.1)
            v[i] = (float)((k + (r - k < 0.5 ? 0.4 : 0.6)) * s);
    }
}

/* A fresh empty folder $TMPDIR/lowp_<name>.XXXXXX (/tmp when TMPDIR is unset or empty, as
 * tests/lib.sh makes its suites' folders), its path in buf: false, said as a setup failure, when
 * it cannot be made. */
static inline bool lp_test_tmpdir(char *buf, size_t size, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(buf, size, "%s/lowp_%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (n < 0 || (size_t)n >= size) {
        printf("FAIL setup: the temporary folder's path for %s is longer than %zu bytes\n", name, size);
        return false;
    }
    if (!mkdtemp(buf)) {
        printf("FAIL setup: cannot make %s: %s\n", buf, strerror(errno));
        return false;
    }
    return true;
}

static inline int lp_test_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it, links as links (never what they point to), without a
 * shell (any character in the path is fine); says so when it cannot. LOWP_TEST_KEEP set keeps it. */
static inline void lp_test_rmtree(const char *dir)
{
    if (getenv("LOWP_TEST_KEEP")) {
        printf("note: kept %s (LOWP_TEST_KEEP)\n", dir);
        return;
    }
    if (nftw(dir, lp_test_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        printf("note: could not remove %s: %s\n", dir, strerror(errno));
}

#define RUN(fn)                                                                      \
    do {                                                                             \
        lp_test_cur = #fn;                                                           \
        lp_test_cur_failed = 0;                                                      \
        fn();                                                                        \
        if (lp_test_cur_failed) lp_test_failed++;                                    \
        else { lp_test_passed++; printf("ok %s\n", #fn); }                           \
    } while (0)

#define TEST_SUMMARY(prog)                                                           \
    (printf("%s: %d passed, %d failed\n", prog, lp_test_passed, lp_test_failed),     \
     lp_test_failed ? 1 : 0)

#endif
