/* test_xsum.c — exact sums: any order and any grouping (shards merged) give the same bits, and
 * the value is the correctly rounded exact sum (checked against __float128, exact for the
 * exponent spans used here: 113 bits hold every partial sum). */
#include <float.h>
#include <stdint.h>

#include "base/xsum.h"
#include "test.h"

static uint64_t rng = 12345;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static double unif(void) { return (double)(next() >> 11) / 9007199254740992.0; }

/* A random double with exponent in [lo, hi], random sign and mantissa. */
static double rnd(int lo, int hi)
{
    double m = 1.0 + unif();
    int e = lo + (int)(next() % (uint64_t)(hi - lo + 1));
    return (next() & 1 ? -1 : 1) * ldexp(m, e);
}

static void shuffle(double *x, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next() % (uint64_t)(i + 1));
        double t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static double xsum_of(const double *x, int n)
{
    lp_xsum s;
    lp_xsum_init(&s);
    for (int i = 0; i < n; i++)
        lp_xsum_add(&s, x[i]);
    return lp_xsum_value(&s);
}

static int same_bits(double a, double b) { return !memcmp(&a, &b, sizeof a) || (isnan(a) && isnan(b)); }

static void test_exact_against_float128(void)
{
    double x[400];
    for (int round = 0; round < 300; round++) {
        int n = 1 + (int)(next() % 400), lo = -30 + (int)(next() % 20);
        __float128 exact = 0;
        for (int i = 0; i < n; i++) {
            x[i] = rnd(lo, lo + 40);   /* 93-bit span + 9 bits of count: exact in 113 bits */
            exact += x[i];
        }
        double want = (double)exact, got = xsum_of(x, n);
        CHECK_MSG(same_bits(got, want), "round %d: %.17g != %.17g", round, got, want);
        shuffle(x, n);
        CHECK(same_bits(xsum_of(x, n), want));
    }
}

/* Shards summed apart and merged in any order equal the one sum. */
static void test_merge_any_grouping(void)
{
    double x[1000];
    for (int round = 0; round < 100; round++) {
        int n = 1 + (int)(next() % 1000);
        for (int i = 0; i < n; i++)
            x[i] = next() % 7 == 0 ? rnd(-1074, -1000) : next() % 5 == 0 ? rnd(900, 1000) : rnd(-60, 60);
        double whole = xsum_of(x, n);
        int parts = 1 + (int)(next() % 5);
        lp_xsum shard[5], total;
        for (int p = 0; p < parts; p++)
            lp_xsum_init(&shard[p]);
        for (int i = 0; i < n; i++)
            lp_xsum_add(&shard[next() % (uint64_t)parts], x[i]);
        lp_xsum_init(&total);
        for (int p = parts - 1; p >= 0; p--)
            lp_xsum_merge(&total, &shard[p]);
        CHECK_MSG(same_bits(lp_xsum_value(&total), whole), "round %d", round);
    }
}

static void test_cancellation_and_specials(void)
{
    double a[] = {1e300, 1.0, -1e300};
    CHECK(xsum_of(a, 3) == 1.0);
    double b[] = {DBL_MAX, DBL_MAX, -DBL_MAX};
    CHECK(xsum_of(b, 3) == DBL_MAX);   /* the intermediate overflow does not stick */
    double c[] = {DBL_MAX, DBL_MAX};
    CHECK(xsum_of(c, 2) == INFINITY);
    double d[] = {4.9406564584124654e-324, 4.9406564584124654e-324, -0.0};
    CHECK(xsum_of(d, 3) == 2 * 4.9406564584124654e-324);
    double e[] = {INFINITY, 1.0};
    CHECK(xsum_of(e, 2) == INFINITY);
    double f[] = {INFINITY, -INFINITY};
    CHECK(isnan(xsum_of(f, 2)));
    double g[] = {1.0, NAN};
    CHECK(isnan(xsum_of(g, 2)));
    CHECK(xsum_of(NULL, 0) == 0.0);
    /* ties round to even: 2^53 + 1 is halfway between 2^53 and 2^53 + 2 */
    double h[] = {9007199254740992.0, 1.0};
    CHECK(xsum_of(h, 2) == 9007199254740992.0);
    double k[] = {9007199254740992.0, 1.0, ldexp(1, -60)};
    CHECK(xsum_of(k, 3) == 9007199254740994.0);
    double m[] = {-3.5, 1.25};
    CHECK(xsum_of(m, 2) == -2.25);
}

static void test_float_sums(void)
{
    for (int round = 0; round < 200; round++) {
        int n = 1 + (int)(next() % 500);
        float x[500];
        __float128 exact = 0;
        lp_xsum32 s = {0}, t = {0}, u = {0};
        for (int i = 0; i < n; i++) {
            x[i] = (float)rnd(-40, 40);
            exact += x[i];
            lp_xsum32_add(&s, x[i]);
            lp_xsum32_add(i % 3 ? &t : &u, x[i]);
        }
        lp_xsum32_merge(&u, &t);
        double want = (double)exact;
        CHECK_MSG(same_bits(lp_xsum32_value(&s), want), "round %d", round);
        CHECK(same_bits(lp_xsum32_value(&u), want));
    }
    lp_xsum32 z = {0};
    lp_xsum32_add(&z, 1.4e-45f);
    lp_xsum32_add(&z, -3.0e38f);
    lp_xsum32_add(&z, 3.0e38f);
    CHECK(lp_xsum32_value(&z) == (double)1.4e-45f);
}

int main(void)
{
    RUN(test_exact_against_float128);
    RUN(test_merge_any_grouping);
    RUN(test_cancellation_and_specials);
    RUN(test_float_sums);
    return TEST_SUMMARY("test_xsum");
}
