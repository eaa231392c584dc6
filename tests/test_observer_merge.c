/* test_observer_merge.c — calibration observers merge exactly: random float batches (wide
 * ranges, zeros, NaNs, infinities, values on bin edges) cut into shards at random batch
 * boundaries; the later shards start from the first batch's histogram base (as distributed
 * calibration arranges) and the shards merged in order equal one observer fed everything, field
 * for field, so every calibration algorithm picks the same range. Observers from different
 * bases refuse to merge and stay unchanged. */
#include "test.h"

#include "quant/observer.h"

static uint64_t rng = 7;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static double unif(void) { return (double)(next() >> 11) / 9007199254740992.0; }

#define NB 12
#define MAXN 400

/* Values of batch `batch`; `edge` (the first batch's largest |x|, the histogram base) times
 * powers of two and eighths lands exactly on bin edges of some level. */
static void fill(float *x, int n, int batch, float edge, bool infs)
{
    double scale = ldexp(1.0, (int)(next() % 12) - 4) * (1 + batch / 3);
    for (int i = 0; i < n; i++) {
        double u = unif();
        /* an infinity makes the range the largest float at once: only in some rounds */
        x[i] = u < 0.1 ? 0.0f : u < 0.12 ? NAN : u < 0.125 ? (!infs ? 0.0f : u < 0.1225 ? INFINITY : -INFINITY)
             : u < 0.2 && edge > 0 ? (float)((next() & 1 ? -1 : 1) * ldexp(edge, (int)(next() % 4)) *
                                             (double)(1 + (int)(unif() * 8)) / 8)
             : (float)((unif() * 2 - 1) * scale);
    }
}

static int same(const lp_observer *a, const lp_observer *b)
{
    return a->min == b->min && a->max == b->max && a->range == b->range && a->base == b->base &&
           a->level == b->level && a->count == b->count && !memcmp(a->hist, b->hist, sizeof a->hist);
}

static void test_shards_merge_to_one_observer(void)
{
    static float x[NB][MAXN];
    int n[NB];
    for (int round = 0; round < 60; round++) {
        bool zeros_first = round % 5 == 0;   /* the first batch all zeros: no base from it */
        float edge = 0;
        for (int b = 0; b < NB; b++) {
            n[b] = 1 + (int)(next() % MAXN);
            fill(x[b], n[b], b, edge, b > 0 && round % 6 == 1);
            for (int i = 0; b == 0 && i < n[b]; i++)
                if (isfinite(x[b][i]) && fabsf(x[b][i]) > edge)
                    edge = fabsf(x[b][i]);
            if (b == 0 && (zeros_first || round % 7 == 0))
                for (int i = 0; i < n[b]; i++)
                    x[b][i] = round % 7 == 0 && !zeros_first ? (float)(i % 3 == 0 ? -1e-30 : 2.5) : 0.0f;
        }
        static lp_observer one, shard[4];
        lp_observer_init(&one);
        for (int b = 0; b < NB; b++)
            lp_observer_update(&one, x[b], n[b]);
        int shards = 2 + round % 3, cut[5] = {0};
        for (int s = 1; s < shards; s++)
            cut[s] = cut[s - 1] + 1 + (int)(next() % (uint64_t)(NB - cut[s - 1] - (shards - s)));
        cut[shards] = NB;
        /* the base one process has: the first nonzero |x| max, batch by batch */
        double base = 0;
        for (int b = 0; b < NB && base == 0; b++) {
            lp_observer probe;
            lp_observer_init(&probe);
            lp_observer_update(&probe, x[b], n[b]);
            base = probe.base;
        }
        for (int s = 0; s < shards; s++) {
            lp_observer_init(&shard[s]);
            if (s > 0)
                lp_observer_restart(&shard[s], base);
            for (int b = cut[s]; b < cut[s + 1]; b++)
                lp_observer_update(&shard[s], x[b], n[b]);
        }
        for (int s = 1; s < shards; s++)
            CHECK_OK(lp_observer_merge(&shard[0], &shard[s]));
        CHECK_MSG(same(&shard[0], &one), "round %d (%d shards): merged observer differs", round, shards);
        for (int algo = 0; algo < 4; algo++)
            for (int sym = 0; sym < 2; sym++) {
                double lo1, hi1, lo2, hi2;
                lp_observer_range(&one, (lp_calib_algo)algo, sym, 99.9, &lo1, &hi1);
                lp_observer_range(&shard[0], (lp_calib_algo)algo, sym, 99.9, &lo2, &hi2);
                CHECK(lo1 == lo2 && hi1 == hi2);
            }
    }
}

static void test_different_bases_refused(void)
{
    float a[] = {1.0f, -0.5f}, b[] = {3.0f, 0.25f};
    lp_observer x, y, x0;
    lp_observer_init(&x);
    lp_observer_init(&y);
    lp_observer_update(&x, a, 2);
    lp_observer_update(&y, b, 2);
    x0 = x;
    CHECK(lp_observer_merge(&x, &y) == LOWP_ERR_UNSUPPORTED);
    CHECK(same(&x, &x0));
    /* zeros only merge with anything: they sit in the middle bin at every level */
    float z[] = {0, 0, 0};
    lp_observer_init(&y);
    lp_observer_update(&y, z, 3);
    CHECK_OK(lp_observer_merge(&x, &y));
    CHECK(x.count == 5 && x.hist[LP_HIST_BINS / 2] >= 3 && x.min == -0.5 && x.max == 1.0);
}

int main(void)
{
    RUN(test_shards_merge_to_one_observer);
    RUN(test_different_bases_refused);
    return TEST_SUMMARY("test_observer_merge");
}
