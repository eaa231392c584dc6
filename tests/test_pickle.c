/* test_pickle.c — CIFAR's "python version" batches as LPOT reads them: a pickle assembled here
 * opcode by opcode the way Python 2's cPickle wrote CIFAR-10/100 (protocol 2: a dict with a
 * numpy array rebuilt by _reconstruct + BUILD, label lists by APPENDS, memo puts and gets),
 * read through the CIFAR10 and CIFAR100 datasets; then every truncation and byte flips, and
 * pickles that name other callables, refused. */
#include <sys/stat.h>

#include "test.h"

#include "data/pickle.h"
#include "lowp.h"

static char dir[256];

typedef struct buf {
    unsigned char b[16384];
    size_t n;
} buf;

static void raw(buf *o, const void *p, size_t n)
{
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
/* opcodes hold NUL bytes: the literal's own size */
#define OP(o, lit) raw((o), (lit), sizeof(lit) - 1)
static void byte(buf *o, int v) { o->b[o->n++] = (unsigned char)v; }
static void sstr(buf *o, const char *s)   /* SHORT_BINSTRING */
{
    byte(o, 'U'), byte(o, (int)strlen(s)), raw(o, s, strlen(s));
}

/* A CIFAR batch of n images (pixel k of image i = (i * 7 + k) % 251) with the given labels
 * under `key`, as Python 2's cPickle.dump(dict, f, 2) lays it out. */
static void cifar_pickle(buf *o, int n, const int *labels, const char *key)
{
    o->n = 0;
    OP(o, "\x80\x02}q\x01(");
    sstr(o, "data");
    OP(o, "q\x02" "cnumpy.core.multiarray\n_reconstruct\nq\x03" "cnumpy\nndarray\nq\x04K\x00\x85q\x05");
    sstr(o, "b");
    OP(o, "q\x06\x87q\x07R(K\x01");
    byte(o, 'K'), byte(o, n), byte(o, 'M'), byte(o, 3072 & 255), byte(o, 3072 >> 8), byte(o, 0x86);
    OP(o, "cnumpy\ndtype\nq\x0a");
    sstr(o, "u1");
    OP(o, "K\x00K\x01\x87R(K\x03");
    sstr(o, "|");
    OP(o, "NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T");
    uint32_t len = (uint32_t)n * 3072;
    byte(o, (int)(len & 255)), byte(o, (int)(len >> 8 & 255)), byte(o, (int)(len >> 16)), byte(o, 0);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3072; k++)
            byte(o, (i * 7 + k) % 251);
    OP(o, "tb");
    sstr(o, key);
    OP(o, "](");
    for (int i = 0; i < n; i++)
        byte(o, 'K'), byte(o, labels[i]);
    OP(o, "e");
    sstr(o, "batch_label");
    sstr(o, "testing batch 1 of 1");
    sstr(o, "again");
    OP(o, "h\x06");   /* BINGET of the memoized "b": a shared value */
    OP(o, "u.");
}

static void write_buf(const char *rel, const buf *o, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(o->b, 1, n, f);
        fclose(f);
    }
}

static lowp_status open_cifar(const char *name, lowp_dataset **d)
{
    lowp_params *p = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "root", dir));
    lowp_status st = lowp_dataset_open(name, p, d);
    lowp_params_free(p);
    return st;
}

static void test_cifar_python(void)
{
    static buf o;
    int labels[3] = {3, 9, 0};
    cifar_pickle(&o, 3, labels, "labels");
    write_buf("test_batch", &o, o.n);
    lowp_dataset *d = NULL;
    CHECK_OK(open_cifar("CIFAR10", &d));
    CHECK(d && lowp_dataset_length(d) == 3);
    lowp_sample s = {0};
    if (d && lowp_dataset_get(d, 1, &s) == LOWP_OK) {
        const float *x = lowp_tensor_data(s.inputs[0]);
        /* HWC from channel planes: (y=0, x=2, c=1) is plane byte 1024 + 2 of image 1 */
        CHECK(x[2 * 3 + 1] == (float)((1 * 7 + 1024 + 2) % 251));
        CHECK(*(const int64_t *)lowp_tensor_data(s.labels[0]) == 9);
    }
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    /* CIFAR100: fine_labels in root/cifar-100-python/test */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/cifar-100-python", dir);
    CHECK(mkdir(sub, 0700) == 0);
    int fine[3] = {99, 42, 0};
    cifar_pickle(&o, 3, fine, "fine_labels");
    write_buf("cifar-100-python/test", &o, o.n);
    CHECK_OK(open_cifar("CIFAR100", &d));
    if (d && lowp_dataset_get(d, 0, &s) == LOWP_OK)
        CHECK(*(const int64_t *)lowp_tensor_data(s.labels[0]) == 99);
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    /* a CIFAR100 batch read as CIFAR10: label 99 refused, naming the file and image */
    write_buf("test_batch", &o, o.n);
    CHECK(open_cifar("CIFAR10", &d) != LOWP_OK && strstr(lowp_last_error(), "'labels' must be a list"));
    cifar_pickle(&o, 3, fine, "labels");
    write_buf("test_batch", &o, o.n);
    CHECK(open_cifar("CIFAR10", &d) != LOWP_OK && strstr(lowp_last_error(), "image 0 has label 99"));
}

static void test_hostile_pickles(void)
{
    static buf o, m;
    int labels[2] = {1, 2};
    cifar_pickle(&o, 2, labels, "labels");
    char path[512];
    snprintf(path, sizeof path, "%s/p", dir);
    lp_cifar_batch b;
    /* every truncation refused with a message */
    int refused = 0, tried = 0;
    for (size_t cut = 0; cut < o.n; cut += cut < 300 ? 1 : 97) {
        write_buf("p", &o, cut);
        tried++;
        refused += lp_cifar_pickle_read(path, "labels", &b) != LOWP_OK && *lowp_last_error();
    }
    CHECK_MSG(refused == tried, "%d of %d truncations refused", refused, tried);
    /* flipped bytes in the opcode stream: refused or read, never out of bounds (ASan) */
    for (size_t k = 0; k < 300; k++)
        for (int bit = 1; bit < 256; bit <<= 2) {
            m = o;
            m.b[k] ^= (unsigned char)bit;
            write_buf("p", &m, m.n);
            if (lp_cifar_pickle_read(path, "labels", &b) == LOWP_OK)
                lp_cifar_batch_free(&b);
        }
    /* other callables: recorded, never run, and not taken for an array */
    m.n = 0;
    OP(&m, "\x80\x02}(U\x04" "data" "cos\nsystem\n" "U\x04" "echo" "\x85Ru.");
    write_buf("p", &m, m.n);
    CHECK(lp_cifar_pickle_read(path, "labels", &b) != LOWP_OK && strstr(lowp_last_error(), "'data' is not a numpy array"));
    /* opcodes CIFAR never uses */
    m.n = 0;
    OP(&m, "\x80\x02(I1\n.");
    write_buf("p", &m, m.n);
    CHECK(lp_cifar_pickle_read(path, "labels", &b) != LOWP_OK && strstr(lowp_last_error(), "pickle opcode 0x49"));
    /* a memo get of nothing, deep marks, a huge string length */
    static const char *const bad[] = {"\x80\x02h\x05.", "\x80\x02((((((((((((.", "\x80\x02T\xff\xff\xff\x7f.",
                                      "\x80\x02}a.", "\x80\x02t.", "\x80\x09."};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m.n = 0;
        raw(&m, bad[i], strlen(bad[i]));
        write_buf("p", &m, m.n);
        CHECK_MSG(lp_cifar_pickle_read(path, "labels", &b) != LOWP_OK && *lowp_last_error(), "case %zu", i);
    }
}

int main(void)
{
    if (!lp_test_tmpdir(dir, sizeof dir, "pickle"))
        return 1;
    RUN(test_cifar_python);
    RUN(test_hostile_pickles);
    lp_test_rmtree(dir);
    return TEST_SUMMARY("test_pickle");
}
