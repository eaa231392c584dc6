/* test_npz.c — MNIST from LPOT's mnist.npz: zip archives written here by hand (stored and
 * deflated members, as np.savez / np.savez_compressed write them) read through the MNIST
 * dataset, and hostile archives refused naming the file and member. */
#include <sys/stat.h>
#include <zlib.h>

#include "test.h"

#include "base/npy.h"
#include "base/tensor.h"
#include "lowp.h"

static char dir[256];

typedef struct member {
    const char *name;
    unsigned char *data;
    size_t size;
} member;

static void put16(FILE *f, unsigned v) { fputc((int)(v & 255), f), fputc((int)(v >> 8 & 255), f); }
static void put32(FILE *f, uint32_t v) { put16(f, v & 0xFFFF), put16(f, v >> 16); }

/* A zip of the members, each stored or raw-deflated; `method` is written as given (so a bogus
 * one can be tested). */
static void write_zip(const char *path, const member *m, int n, int method)
{
    FILE *f = fopen(path, "wb");
    uint32_t offs[8], comp[8], crc[8];
    unsigned char *packed[8];
    for (int i = 0; i < n; i++) {
        crc[i] = (uint32_t)crc32(0, m[i].data, (uInt)m[i].size);
        if (method == 8) {
            z_stream z;
            memset(&z, 0, sizeof z);
            deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
            uLong bound = deflateBound(&z, (uLong)m[i].size);
            packed[i] = malloc(bound);
            z.next_in = m[i].data, z.avail_in = (uInt)m[i].size;
            z.next_out = packed[i], z.avail_out = (uInt)bound;
            deflate(&z, Z_FINISH);
            comp[i] = (uint32_t)z.total_out;
            deflateEnd(&z);
        } else {
            packed[i] = m[i].data;
            comp[i] = (uint32_t)m[i].size;
        }
        offs[i] = (uint32_t)ftell(f);
        put32(f, 0x04034b50), put16(f, 20), put16(f, 0), put16(f, (unsigned)method), put16(f, 0), put16(f, 0);
        put32(f, crc[i]), put32(f, comp[i]), put32(f, (uint32_t)m[i].size);
        put16(f, (unsigned)strlen(m[i].name)), put16(f, 0);
        fputs(m[i].name, f);
        fwrite(packed[i], 1, comp[i], f);
    }
    uint32_t cd = (uint32_t)ftell(f);
    for (int i = 0; i < n; i++) {
        put32(f, 0x02014b50), put16(f, 20), put16(f, 20), put16(f, 0), put16(f, (unsigned)method);
        put16(f, 0), put16(f, 0), put32(f, crc[i]), put32(f, comp[i]), put32(f, (uint32_t)m[i].size);
        put16(f, (unsigned)strlen(m[i].name)), put16(f, 0), put16(f, 0), put16(f, 0), put16(f, 0);
        put32(f, 0), put32(f, offs[i]);
        fputs(m[i].name, f);
        if (method == 8)
            free(packed[i]);
    }
    uint32_t end = (uint32_t)ftell(f);
    put32(f, 0x06054b50), put16(f, 0), put16(f, 0), put16(f, (unsigned)n), put16(f, (unsigned)n);
    put32(f, end - cd), put32(f, cd), put16(f, 0);
    fclose(f);
}

static member npy_of(const char *name, lowp_dtype dt, int ndim, const int64_t *dims, const void *v)
{
    lowp_tensor *t = NULL;
    CHECK_OK(lowp_tensor_create(dt, ndim, dims, v, &t));
    member m = {name, NULL, 0};
    CHECK_OK(lp_npy_write(t, name, &m.data, &m.size));
    lowp_tensor_free(t);
    return m;
}

static lowp_status open_mnist(lowp_dataset **d)
{
    lowp_params *p = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "root", dir));
    lowp_status st = lowp_dataset_open("MNIST", p, d);
    lowp_params_free(p);
    return st;
}

static void test_mnist_npz(void)
{
    /* 3 test images of 2x3, pixel 10*i + j; labels 7, 0, 9 */
    uint8_t x[3 * 6], y[3] = {7, 0, 9};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 6; j++)
            x[i * 6 + j] = (uint8_t)(10 * i + j);
    int64_t dx[3] = {3, 2, 3}, dy[1] = {3};
    member m[3] = {npy_of("x_test.npy", LOWP_UINT8, 3, dx, x), npy_of("y_test.npy", LOWP_UINT8, 1, dy, y),
                   npy_of("x_train.npy", LOWP_UINT8, 3, dx, x)};
    char path[512];
    snprintf(path, sizeof path, "%s/mnist.npz", dir);
    for (int method = 0; method <= 8; method += 8) {
        write_zip(path, m, 3, method);
        lowp_dataset *d = NULL;
        CHECK_OK(open_mnist(&d));
        CHECK(d && lowp_dataset_length(d) == 3);
        lowp_sample s = {0};
        if (d && lowp_dataset_get(d, 2, &s) == LOWP_OK) {
            const int64_t *dims = lowp_tensor_dims(s.inputs[0]);
            CHECK(dims[0] == 2 && dims[1] == 3 && dims[2] == 1);   /* LPOT's (H,W,1) */
            const float *v = lowp_tensor_data(s.inputs[0]);
            CHECK(v[0] == 20 && v[5] == 25);
            CHECK(*(const int64_t *)lowp_tensor_data(s.labels[0]) == 9);
        }
        lowp_sample_clear(&s);
        lowp_dataset_free(d);
        /* train=true wants y_train, which this archive lacks: named */
        lowp_params *p = NULL;
        CHECK_OK(lowp_params_create(&p));
        CHECK_OK(lowp_params_set(p, "root", dir));
        CHECK_OK(lowp_params_set(p, "train", "true"));
        CHECK(lowp_dataset_open("MNIST", p, &d) != LOWP_OK && strstr(lowp_last_error(), "mnist.npz: the archive has no member y_train.npy"));
        lowp_params_free(p);
    }
    /* hostile archives */
    uint8_t bad_y[3] = {7, 10, 9};
    member bl[2] = {m[0], npy_of("y_test.npy", LOWP_UINT8, 1, dy, bad_y)};
    write_zip(path, bl, 2, 0);
    lowp_dataset *d = NULL;
    CHECK(open_mnist(&d) != LOWP_OK && strstr(lowp_last_error(), "y_test[1] = 10 is not a digit class"));
    free(bl[1].data);
    float xf[18] = {0};
    member bx[2] = {npy_of("x_test.npy", LOWP_FLOAT, 3, dx, xf), m[1]};
    write_zip(path, bx, 2, 8);
    CHECK(open_mnist(&d) != LOWP_OK && strstr(lowp_last_error(), "x_test must be uint8 images"));
    free(bx[0].data);
    write_zip(path, m, 2, 12);   /* bzip2: refused */
    CHECK(open_mnist(&d) != LOWP_OK && strstr(lowp_last_error(), "compression method 12"));
    /* a deflated member declaring far more than deflate can give is refused before allocating */
    write_zip(path, m, 2, 8);
    FILE *fz = fopen(path, "r+b");
    unsigned char zb[4096];
    size_t zn = fz ? fread(zb, 1, sizeof zb, fz) : 0;
    for (size_t k = 0; k + 46 <= zn; k++)   /* the central directory's first entry: size 2^30 */
        if (zb[k] == 0x50 && zb[k + 1] == 0x4b && zb[k + 2] == 1 && zb[k + 3] == 2) {
            zb[k + 24] = 0, zb[k + 25] = 0, zb[k + 26] = 0, zb[k + 27] = 0x40;
            break;
        }
    if (fz) {
        rewind(fz);
        fwrite(zb, 1, zn, fz);
        fclose(fz);
    }
    CHECK(open_mnist(&d) != LOWP_OK && strstr(lowp_last_error(), "more than deflate can expand"));
    /* truncations at every length: an error, never a crash */
    write_zip(path, m, 2, 8);
    FILE *f = fopen(path, "rb");
    unsigned char whole[4096];
    size_t n = f ? fread(whole, 1, sizeof whole, f) : 0;
    if (f)
        fclose(f);
    int refused = 0;
    for (size_t cut = 0; cut < n; cut += 7) {
        f = fopen(path, "wb");
        fwrite(whole, 1, cut, f);
        fclose(f);
        refused += open_mnist(&d) != LOWP_OK && *lowp_last_error();
    }
    CHECK_MSG(refused == (int)((n + 6) / 7), "%d of %zu truncations refused", refused, (n + 6) / 7);
    /* a flipped byte in the deflated data: refused or read, never out of bounds (ASan) */
    for (size_t k = 40; k < n; k += 11) {
        unsigned char copy[4096];
        memcpy(copy, whole, n);
        copy[k] ^= 0x5A;
        f = fopen(path, "wb");
        fwrite(copy, 1, n, f);
        fclose(f);
        if (open_mnist(&d) == LOWP_OK)
            lowp_dataset_free(d);
    }
    for (int i = 0; i < 3; i++)
        free(m[i].data);
}

int main(void)
{
    if (!lp_test_tmpdir(dir, sizeof dir, "npz"))
        return 1;
    RUN(test_mnist_npz);
    lp_test_rmtree(dir);
    return TEST_SUMMARY("test_npz");
}
