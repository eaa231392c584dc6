/* test_tensorboard.c — base/tensorboard: CRC-32C against the standard check values, the
 * default histogram's bucketing against a plain linear scan on random values of every sign and
 * magnitude (edges exactly, 0, -0, extremes, non-finite), the encoded bucket list, and the
 * record framing of a written file read back. tests/tensorboard.sh reads the files with an
 * independent (Node) reader. */
#include <float.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "base/tensorboard.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static void test_crc32c(void)
{
    /* RFC 3720 (iSCSI) B.4 check values, and the common "123456789" check */
    unsigned char zeros[32] = { 0 }, ones[32], inc[32];
    for (int i = 0; i < 32; i++)
        ones[i] = 0xFF, inc[i] = (unsigned char)i;
    CHECK(lp_crc32c("123456789", 9) == 0xE3069283u);
    CHECK(lp_crc32c(zeros, 32) == 0x8A9136AAu);
    CHECK(lp_crc32c(ones, 32) == 0x62A8AB43u);
    CHECK(lp_crc32c(inc, 32) == 0x46DD794Eu);
    CHECK(lp_crc32c("", 0) == 0);
    /* the mask is a rotation plus a constant: undo it */
    for (int i = 0; i < 1000; i++) {
        uint32_t c = (uint32_t)next(), m = lp_tb_mask_crc(c) - 0xa282ead8u;
        CHECK(((m >> 17) | (m << 15)) == c);
    }
}

/* The bucket of v by the definition: the first limit > v (the last for DBL_MAX). */
static int bucket_by_scan(double v)
{
    const double *l = lp_tb_bucket_limits();
    int n = lp_tb_bucket_count();
    for (int i = 0; i < n; i++)
        if (l[i] > v)
            return i;
    return n - 1;
}

static void test_limits(void)
{
    const double *l = lp_tb_bucket_limits();
    int n = lp_tb_bucket_count();
    /* 1e-12 * 1.1^k < 1e20 for k < 774: 774 per sign, 0, and +-DBL_MAX */
    CHECK(n == 2 * 774 + 3);
    CHECK(l[0] == -DBL_MAX && l[n - 1] == DBL_MAX && l[n / 2] == 0.0);
    CHECK(l[n / 2 + 1] == 1e-12 && l[n / 2 - 1] == -1e-12);
    for (int i = 1; i < n; i++)
        CHECK(l[i] > l[i - 1]);
    for (int i = 0; i < n; i++)
        CHECK(l[i] == -l[n - 1 - i]);
    for (int i = n / 2 + 2; i < n - 1; i++)
        CHECK_MSG(fabs(l[i] / l[i - 1] - 1.1) < 1e-12, "limit %d grows by %g", i, l[i] / l[i - 1]);
}

static void test_histogram(void)
{
    enum { N = 20000 };
    static float x[N];
    int n_limits = lp_tb_bucket_count();
    const double *l = lp_tb_bucket_limits();
    double *want = calloc((size_t)n_limits, sizeof *want);
    double min = INFINITY, max = -INFINITY, sum = 0, sq = 0;
    int nonfinite = 0;
    for (int i = 0; i < N; i++) {
        uint64_t r = next();
        float v;
        switch (r % 8) {
        case 0: { /* a limit itself (rounded to float): exactly on an edge or next to it */
            v = (float)l[1 + (int)((r >> 8) % (uint64_t)(n_limits - 2))];
            break;
        }
        case 1: v = (r >> 8) % 3 == 0 ? 0.0f : (r >> 8) % 3 == 1 ? -0.0f : FLT_MIN / 4; break; /* zeros, a denormal */
        case 2: v = (r >> 8) % 2 ? FLT_MAX : -FLT_MAX; break;
        case 3: v = (r >> 8) % 3 == 0 ? INFINITY : (r >> 8) % 3 == 1 ? -INFINITY : NAN; break;
        default: { /* any finite float: random bits */
            uint32_t bits = (uint32_t)(r >> 16);
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v))
                v = 1.5f;
        }
        }
        x[i] = v;
        if (!isfinite(v)) {
            nonfinite++;
            continue;
        }
        want[bucket_by_scan(v)] += 1;
        min = fmin(min, v), max = fmax(max, v);
        sum += v, sq += (double)v * v;
    }
    lp_tb_histo h = { 0 };
    for (int i = 0; i < N; i += 1000) /* in batches: streaming gives the same result */
        CHECK_OK(lp_tb_histo_add(&h, x + i, 1000));
    CHECK(h.skipped == nonfinite && h.num == N - nonfinite);
    CHECK(h.min == min && h.max == max);
    CHECK(h.sum == sum && h.sum_squares == sq);
    int bad = 0;
    for (int i = 0; i < n_limits; i++)
        bad += h.counts[i] != want[i];
    CHECK_MSG(bad == 0, "%d buckets differ from the linear scan", bad);

    /* encoded: no empty bucket at either end, empty runs merged, counts and limits kept */
    double *lim = malloc((size_t)n_limits * sizeof *lim), *cnt = malloc((size_t)n_limits * sizeof *cnt);
    int m = lp_tb_histo_encode(&h, lim, cnt), full = 0;
    double total = 0;
    for (int i = 0; i < n_limits; i++)
        full += want[i] > 0;
    int k = 0;
    for (int i = 0; i < m; i++) {
        total += cnt[i];
        if (i > 0)
            CHECK(!(cnt[i] == 0 && cnt[i - 1] == 0) && lim[i] > lim[i - 1]);
        if (cnt[i] > 0) {
            while (k < n_limits && l[k] != lim[i])
                k++;
            CHECK(k < n_limits && want[k] == cnt[i]);
        }
    }
    CHECK(m > 0 && cnt[0] > 0 && cnt[m - 1] > 0 && total == h.num);
    CHECK(m <= 2 * full - 1);

    /* a single zero: one bucket [0, 1e-12) */
    lp_tb_histo z = { 0 };
    float zero = 0.0f;
    CHECK_OK(lp_tb_histo_add(&z, &zero, 1));
    CHECK(lp_tb_histo_encode(&z, lim, cnt) == 1 && lim[0] == 1e-12 && cnt[0] == 1);
    /* nothing finite: nothing to encode */
    lp_tb_histo e = { 0 };
    float nan = NAN;
    CHECK_OK(lp_tb_histo_add(&e, &nan, 1));
    CHECK(lp_tb_histo_encode(&e, lim, cnt) == 0 && e.skipped == 1);
    lp_tb_histo_free(&z);
    lp_tb_histo_free(&e);
    lp_tb_histo_free(&h);
    free(lim);
    free(cnt);
    free(want);
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A file written to a folder: one file of the expected name, records framed with matching
 * CRCs, the first holding "brain.Event:2", no temporary left. */
static void test_file(void)
{
    char dir[] = "/tmp/lowp_tb_test.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[64];
    snprintf(sub, sizeof sub, "%s/a/run", dir);
    lp_tb_file f;
    lp_tb_histo h = { 0 };
    float v[5] = { -2, 0.5f, 0.5f, 3, NAN };
    CHECK_OK(lp_tb_histo_add(&h, v, 5));
    CHECK_OK(lp_tb_begin(&f));
    CHECK_OK(lp_tb_scalar(&f, 3, "accuracy", 0.875));
    CHECK_OK(lp_tb_histogram(&f, 3, "x", &h));
    lp_tb_histo empty = { 0 };
    size_t before = f.len;
    CHECK_OK(lp_tb_histogram(&f, 3, "empty", &empty));
    CHECK(f.len == before);
    CHECK_OK(lp_tb_commit(&f, sub));
    DIR *d = opendir(sub);
    int files = 0;
    char name[512] = "";
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.')
            files++, snprintf(name, sizeof name, "%s/%s", sub, e->d_name);
        else if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            files += 100; /* a temporary left behind */
    if (d)
        closedir(d);
    CHECK(files == 1 && strstr(name, "/events.out.tfevents.") != NULL);
    FILE *in = fopen(name, "rb");
    unsigned char buf[4096];
    size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
    if (in)
        fclose(in);
    size_t off = 0;
    int records = 0;
    while (off + 12 <= n) {
        uint64_t len = le(buf + off, 8);
        CHECK(le(buf + off + 8, 4) == lp_tb_mask_crc(lp_crc32c(buf + off, 8)));
        if (off + 16 + len > n)
            break;
        CHECK(le(buf + off + 12 + len, 4) == lp_tb_mask_crc(lp_crc32c(buf + off + 12, len)));
        if (records == 0)
            CHECK(memmem(buf + off + 12, len, "brain.Event:2", 13) != NULL);
        if (records == 2)
            CHECK(memmem(buf + off + 12, len, "x", 1) != NULL && len > 5 * 9 + 2 * 8);
        off += 16 + len;
        records++;
    }
    CHECK(records == 3 && off == n);
    lp_tb_histo_free(&h);
    unlink(name);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/a", dir);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    RUN(test_crc32c);
    RUN(test_limits);
    RUN(test_histogram);
    RUN(test_file);
    return TEST_SUMMARY("test_tensorboard");
}
