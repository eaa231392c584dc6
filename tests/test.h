/* test.h — a tiny test harness: CHECK macros that count, one summary line per program.
 * Each program prints "ok <name>" / "FAIL <name>: why" per test and finally
 * "<prog>: N passed, N failed"; tools/run_tests.sh adds the programs up. */
#ifndef LP_TEST_H
#define LP_TEST_H

#include <math.h>
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
