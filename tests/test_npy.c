/* test_npy.c — .npy read/write: round trips, hand-built v1/v2/v3 headers, malformed input. */
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "lowp.h"
#include "base/npy.h"
#include "test.h"

static char tmpdir[64];

static const lowp_dtype npy_dtypes[] = {
    LOWP_FLOAT, LOWP_DOUBLE, LOWP_FLOAT16, LOWP_INT8, LOWP_UINT8, LOWP_INT16, LOWP_UINT16,
    LOWP_INT32, LOWP_UINT32, LOWP_INT64, LOWP_UINT64, LOWP_BOOL,
};

/* Builds a .npy image: version major, the dict text, then `ndata` bytes of `data`.
 * Returns the size; buf must be large enough. */
static size_t build(uint8_t *buf, int major, const char *dict, const void *data, size_t ndata)
{
    size_t pre = major == 1 ? 10 : 12, hl = strlen(dict);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    buf[8] = (uint8_t)(hl & 0xff);
    buf[9] = (uint8_t)(hl >> 8);
    if (major != 1)
        buf[10] = (uint8_t)(hl >> 16), buf[11] = (uint8_t)(hl >> 24);
    memcpy(buf + pre, dict, hl);
    if (ndata)
        memcpy(buf + pre + hl, data, ndata);
    return pre + hl + ndata;
}

static int parse(const uint8_t *buf, size_t n, lowp_tensor **t)
{
    *t = NULL;
    return lp_npy_parse(buf, n, "test.npy", t);
}

static void test_round_trip_all_dtypes_and_ranks(void)
{
    for (size_t k = 0; k < sizeof npy_dtypes / sizeof npy_dtypes[0]; k++) {
        lowp_dtype dt = npy_dtypes[k];
        for (int rank = 0; rank <= 4; rank++) {
            int64_t dims[4] = {2, 3, 1, 4};
            lowp_tensor *a = NULL, *b = NULL;
            CHECK_OK(lowp_tensor_create(dt, rank, dims, NULL, &a));
            if (!a)
                continue;
            unsigned char *p = lowp_tensor_data(a);
            for (size_t i = 0; i < lowp_tensor_nbytes(a); i++)
                p[i] = dt == LOWP_BOOL ? (unsigned char)(i % 2) : (unsigned char)(i * 37 + k);
            char path[128];
            snprintf(path, sizeof path, "%s/t_%s_%d.npy", tmpdir, lowp_dtype_name(dt), rank);
            CHECK_OK(lowp_tensor_save_npy(a, path));
            CHECK_OK(lowp_tensor_load_npy(path, &b));
            CHECK_MSG(b && lp_tensor_equal(a, b), "%s rank %d differs", lowp_dtype_name(dt), rank);
            /* The file's total header is a multiple of 64 bytes, like numpy's. */
            FILE *f = fopen(path, "rb");
            uint8_t pre[10] = {0};
            CHECK(f && fread(pre, 1, 10, f) == 10);
            if (f)
                fclose(f);
            CHECK((10 + (pre[8] | pre[9] << 8)) % 64 == 0);
            lowp_tensor_free(a);
            lowp_tensor_free(b);
            unlink(path);
        }
    }
}

static void test_saved_header_is_numpys(void)
{
    int64_t dims[2] = {3, 4};
    lowp_tensor *a = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, dims, NULL, &a));
    unsigned char *img = NULL;
    size_t n = 0;
    CHECK_OK(lp_npy_write(a, "x", &img, &n));
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    CHECK(n == 128 + 48);
    CHECK(img && memcmp(img + 10, want, strlen(want)) == 0 && img[127] == '\n');
    free(img);
    lowp_tensor_free(a);

    int64_t d1 = 5;
    CHECK_OK(lowp_tensor_create(LOWP_BOOL, 1, &d1, NULL, &a));
    CHECK_OK(lp_npy_write(a, "x", &img, &n));
    want = "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }";
    CHECK(img && memcmp(img + 10, want, strlen(want)) == 0);
    free(img);
    lowp_tensor_free(a);

    CHECK_OK(lowp_tensor_create(LOWP_INT64, 0, NULL, NULL, &a));
    CHECK_OK(lp_npy_write(a, "x", &img, &n));
    want = "{'descr': '<i8', 'fortran_order': False, 'shape': (), }";
    CHECK(img && memcmp(img + 10, want, strlen(want)) == 0 && n == 128 + 8);
    free(img);
    lowp_tensor_free(a);
}

static void test_versions_1_2_3(void)
{
    uint8_t buf[256];
    float vals[3] = {1.5f, -2.0f, 3.25f};
    for (int major = 1; major <= 3; major++) {
        size_t n = build(buf, major, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n",
                         vals, sizeof vals);
        lowp_tensor *t;
        CHECK_OK(parse(buf, n, &t));
        CHECK(t && lowp_tensor_ndim(t) == 1 && lowp_tensor_dims(t)[0] == 3 &&
              lowp_tensor_dtype(t) == LOWP_FLOAT);
        CHECK(t && memcmp(lowp_tensor_data(t), vals, sizeof vals) == 0);
        lowp_tensor_free(t);
    }
}

static void test_header_variants(void)
{
    uint8_t buf[512], data[64] = {1, 0, 2, 0, 3, 0, 4, 0};
    lowp_tensor *t;
    /* keys in any order, double quotes, no trailing comma, no padding */
    size_t n = build(buf, 1, "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<i2\"}",
                     data, 8);
    CHECK_OK(parse(buf, n, &t));
    CHECK(t && lowp_tensor_dtype(t) == LOWP_INT16 && ((int16_t *)lowp_tensor_data(t))[3] == 4);
    lowp_tensor_free(t);
    /* Python 2 long dims */
    n = build(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2L, 4L), }", data, 8);
    CHECK_OK(parse(buf, n, &t));
    CHECK(t && lowp_tensor_numel(t) == 8);
    lowp_tensor_free(t);
    /* Fortran order with one non-trivial dim is the same layout */
    n = build(buf, 1, "{'descr': '|i1', 'fortran_order': True, 'shape': (1, 8), }", data, 8);
    CHECK_OK(parse(buf, n, &t));
    lowp_tensor_free(t);
    /* '=' native order, scalar */
    n = build(buf, 1, "{'descr': '=i4', 'fortran_order': False, 'shape': (), }", data, 4);
    CHECK_OK(parse(buf, n, &t));
    CHECK(t && lowp_tensor_ndim(t) == 0 && ((int32_t *)lowp_tensor_data(t))[0] == 0x20001);
    lowp_tensor_free(t);
    /* empty array: no data needed, even with a huge other dim */
    n = build(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }", NULL, 0);
    CHECK_OK(parse(buf, n, &t));
    CHECK(t && lowp_tensor_numel(t) == 0);
    lowp_tensor_free(t);
    /* trailing bytes after the data are ignored (as np.load does) */
    n = build(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", data, 12);
    CHECK_OK(parse(buf, n, &t));
    CHECK(t && lowp_tensor_numel(t) == 4);
    lowp_tensor_free(t);
    /* bools other than 0/1 become 1 */
    uint8_t bools[3] = {0, 7, 255};
    n = build(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", bools, 3);
    CHECK_OK(parse(buf, n, &t));
    CHECK(t && ((uint8_t *)lowp_tensor_data(t))[1] == 1 && ((uint8_t *)lowp_tensor_data(t))[2] == 1);
    lowp_tensor_free(t);
    /* rank 8 is fine */
    n = build(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,2), }", data, 2);
    CHECK_OK(parse(buf, n, &t));
    CHECK(t && lowp_tensor_ndim(t) == 8);
    lowp_tensor_free(t);
}

/* Each case: the dict, the data length, the expected status. */
static void test_malformed_headers(void)
{
    static const struct { const char *dict; size_t ndata; int status; } cases[] = {
        {"", 0, LOWP_ERR_FORMAT},
        {"[1, 2]", 0, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False}", 0, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'shape': (1,)}", 4, LOWP_ERR_FORMAT},
        {"{'fortran_order': False, 'shape': (1,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4, LOWP_ERR_FORMAT},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (1,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3037000500, 3037000500, 2)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}", 4, LOWP_ERR_FORMAT},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (1,)}", 4, LOWP_ERR_UNSUPPORTED},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", 8, LOWP_ERR_UNSUPPORTED},
        {"{'descr': '<U3', 'fortran_order': False, 'shape': (1,)}", 12, LOWP_ERR_UNSUPPORTED},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", 4, LOWP_ERR_UNSUPPORTED},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", 16, LOWP_ERR_UNSUPPORTED},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 1, LOWP_ERR_UNSUPPORTED},
    };
    uint8_t buf[512], data[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = build(buf, 1, cases[i].dict, data, cases[i].ndata);
        lowp_tensor *t;
        int st = parse(buf, n, &t);
        CHECK_MSG(st == cases[i].status, "case %zu (%s): status %d, want %d: %s", i,
                  cases[i].dict, st, cases[i].status, lowp_last_error());
        CHECK_MSG(t == NULL, "case %zu: output set on failure", i);
        CHECK_MSG(st == 0 || strstr(lowp_last_error(), "test.npy"), "case %zu: message '%s' does "
                  "not name the file", i, lowp_last_error());
        lowp_tensor_free(t);
    }
}

static void test_malformed_prefix(void)
{
    uint8_t buf[256];
    lowp_tensor *t;
    size_t n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "abcd", 4);
    buf[0] = 'X';
    CHECK(parse(buf, n, &t) == LOWP_ERR_FORMAT && strstr(lowp_last_error(), "magic"));
    buf[0] = 0x93;
    buf[6] = 4;
    CHECK(parse(buf, n, &t) == LOWP_ERR_UNSUPPORTED);
    buf[6] = 1;
    buf[7] = 1;
    CHECK(parse(buf, n, &t) == LOWP_ERR_UNSUPPORTED);
    buf[7] = 0;
    buf[8] = 0xff, buf[9] = 0xff;   /* header longer than the file */
    CHECK(parse(buf, n, &t) == LOWP_ERR_FORMAT);
    n = build(buf, 2, "{}", NULL, 0);
    buf[11] = 0x7f;                 /* a 2 GB header */
    CHECK(parse(buf, n, &t) == LOWP_ERR_FORMAT);
    CHECK(parse(NULL, 0, &t) == LOWP_ERR_FORMAT);
}

/* Every truncation of a valid file fails cleanly (in memory and from a file). */
static void test_every_truncation(void)
{
    uint8_t buf[256], data[24] = {1, 2, 3};
    size_t n = build(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }     \n", data, 24);
    char path[128];
    snprintf(path, sizeof path, "%s/trunc.npy", tmpdir);
    for (size_t len = 0; len < n; len++) {
        lowp_tensor *t = NULL;
        int st = parse(buf, len, &t);
        CHECK_MSG(st == LOWP_ERR_FORMAT, "length %zu: status %d", len, st);
        FILE *f = fopen(path, "wb");
        if (!f)
            continue;
        fwrite(buf, 1, len, f);
        fclose(f);
        st = lowp_tensor_load_npy(path, &t);
        CHECK_MSG(st == LOWP_ERR_FORMAT && strstr(lowp_last_error(), path), "file length %zu: "
                  "status %d: %s", len, st, lowp_last_error());
        CHECK(t == NULL);
    }
    unlink(path);
}

static void test_missing_file_and_bad_paths(void)
{
    lowp_tensor *t = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/nope.npy", tmpdir);
    CHECK(lowp_tensor_load_npy(path, &t) == LOWP_ERR_IO && strstr(lowp_last_error(), path));
    CHECK(lowp_tensor_load_npy(tmpdir, &t) == LOWP_ERR_IO);    /* a directory */
    CHECK(t == NULL);
    int64_t d = 2;
    lowp_tensor *a = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 1, &d, NULL, &a));
    snprintf(path, sizeof path, "%s/no/such/dir/x.npy", tmpdir);
    CHECK(lowp_tensor_save_npy(a, path) == LOWP_ERR_IO && strstr(lowp_last_error(), path));
    lowp_tensor_free(a);
    CHECK_OK(lowp_tensor_create(LOWP_BFLOAT16, 1, &d, NULL, &a));
    snprintf(path, sizeof path, "%s/bf16.npy", tmpdir);
    CHECK(lowp_tensor_save_npy(a, path) == LOWP_ERR_UNSUPPORTED);
    CHECK(access(path, F_OK) != 0);
    lowp_tensor_free(a);
}

/* Saving over an existing file replaces it and leaves no temporary behind. */
static void test_save_replaces_atomically(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/over.npy", tmpdir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("old contents", f);
        fclose(f);
    }
    int64_t d = 3;
    float v[3] = {1, 2, 3};
    lowp_tensor *a = NULL, *b = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 1, &d, v, &a));
    CHECK_OK(lowp_tensor_save_npy(a, path));
    CHECK_OK(lowp_tensor_load_npy(path, &b));
    CHECK(b && lp_tensor_equal(a, b));
    lowp_tensor_free(a);
    lowp_tensor_free(b);
    DIR *dir = opendir(tmpdir);
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        CHECK_MSG(!strstr(e->d_name, ".tmp-"), "temporary file %s left behind", e->d_name);
    if (dir)
        closedir(dir);
    unlink(path);
}

static void test_numpy_written_file(void)
{
    lowp_tensor *t = NULL;
    if (access("models/fixed_batch_input.npy", R_OK) != 0) {
        printf("skip test_numpy_written_file: models/fixed_batch_input.npy absent\n");
        return;
    }
    CHECK_OK(lowp_tensor_load_npy("models/fixed_batch_input.npy", &t));
    CHECK(t && lowp_tensor_dtype(t) == LOWP_FLOAT && lowp_tensor_ndim(t) == 4 &&
          lowp_tensor_dims(t)[0] == 8 && lowp_tensor_dims(t)[3] == 28);
    lowp_tensor_free(t);
}

/* Random byte flips of a valid image: any status but a crash (ASan/UBSan watch). */
static void test_mutations_never_crash(void)
{
    uint8_t base[256], buf[256], data[48];
    for (int i = 0; i < 48; i++)
        data[i] = (uint8_t)i;
    size_t n = build(base, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", data, 48);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, base, n);
        int flips = 1 + (int)(s % 4);
        for (int k = 0; k < flips; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[(s >> 8) % n] = (uint8_t)(s >> 32);
        }
        size_t len = n - (size_t)((s >> 40) % 3 == 0 ? (s >> 44) % n : 0);
        lowp_tensor *t = NULL;
        int st = parse(buf, len, &t);
        CHECK(st == LOWP_OK || st == LOWP_ERR_FORMAT || st == LOWP_ERR_UNSUPPORTED ||
              st == LOWP_ERR_OUT_OF_MEMORY);
        CHECK((st == LOWP_OK) == (t != NULL));
        ok += st == LOWP_OK;
        lowp_tensor_free(t);
    }
    CHECK(ok > 0);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lowp_test_npy_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_round_trip_all_dtypes_and_ranks);
    RUN(test_saved_header_is_numpys);
    RUN(test_versions_1_2_3);
    RUN(test_header_variants);
    RUN(test_malformed_headers);
    RUN(test_malformed_prefix);
    RUN(test_every_truncation);
    RUN(test_missing_file_and_bad_paths);
    RUN(test_numpy_written_file);
    RUN(test_mutations_never_crash);
    RUN(test_save_replaces_atomically);
    rmdir(tmpdir);
    return TEST_SUMMARY("test_npy");
}
