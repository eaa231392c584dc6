/* test_data.c — datasets on small files this test writes (IDX plain and gzip, CIFAR binary,
 * ImageFolder and ImagenetRaw with PNG/JPEG, Npy, dummy), the dataloader (batching, the last
 * batch, shuffling, sampling limits) with a user-registered dataset, the short-form parser,
 * and the error messages for bad input. Transforms are in test_data_transforms.c. */
#include "test.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>

#include "lowp.h"
#include "png_file.h"

static char dir[256];

static void path_of(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", dir, rel);
}

static void write_file(const char *rel, const void *data, size_t n, int gz)
{
    char p[512];
    path_of(p, sizeof p, rel);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        gzwrite(f, data, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(p, "wb");
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void mkdir_rel(const char *rel)
{
    char p[512];
    path_of(p, sizeof p, rel);
    mkdir(p, 0777);
}

static lowp_params *params(const char *k1, const char *v1, const char *k2, const char *v2)
{
    lowp_params *p = NULL;
    CHECK_OK(lowp_params_create(&p));
    if (k1)
        CHECK_OK(lowp_params_set(p, k1, v1));
    if (k2)
        CHECK_OK(lowp_params_set(p, k2, v2));
    return p;
}

static lowp_status open_ds(const char *name, const char *k1, const char *v1, const char *k2,
                           const char *v2, lowp_dataset **out)
{
    lowp_params *p = params(k1, v1, k2, v2);
    lowp_status st = lowp_dataset_open(name, p, out);
    lowp_params_free(p);
    return st;
}

/* IDX: 5 images of 2x3, pixel = 10*i + j, label = 9 - i. */
static void write_idx(const char *sub, const char *split, int n_labels, int gz)
{
    unsigned char img[16 + 5 * 6], lab[8 + 5];
    memset(img, 0, sizeof img);
    memset(lab, 0, sizeof lab);
    img[2] = 8, img[3] = 3, img[7] = 5, img[11] = 2, img[15] = 3;
    lab[2] = 8, lab[3] = 1, lab[7] = (unsigned char)n_labels;
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 6; j++)
            img[16 + i * 6 + j] = (unsigned char)(10 * i + j);
        lab[8 + i] = (unsigned char)(9 - i);
    }
    char rel[256];
    mkdir_rel(sub);
    snprintf(rel, sizeof rel, "%s/%s-images-idx3-ubyte%s", sub, split, gz ? ".gz" : "");
    write_file(rel, img, sizeof img, gz);
    snprintf(rel, sizeof rel, "%s/%s-labels-idx1-ubyte%s", sub, split, gz ? ".gz" : "");
    write_file(rel, lab, 8 + (size_t)n_labels, gz);
}

static void check_idx_sample(lowp_dataset *d, int64_t i)
{
    lowp_sample s = {0};
    CHECK_OK(lowp_dataset_get(d, i, &s));
    if (s.n_inputs != 1 || s.n_labels != 1)
        return;
    CHECK(lowp_tensor_ndim(s.inputs[0]) == 3);
    const int64_t *dims = lowp_tensor_dims(s.inputs[0]);
    CHECK(dims[0] == 1 && dims[1] == 2 && dims[2] == 3);
    CHECK(lowp_tensor_dtype(s.inputs[0]) == LOWP_FLOAT);
    const float *x = lowp_tensor_data(s.inputs[0]);
    CHECK(x[0] == 10.0f * (float)i && x[5] == 10.0f * (float)i + 5);
    CHECK(lowp_tensor_dtype(s.labels[0]) == LOWP_INT64);
    CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 9 - i);
    lowp_sample_clear(&s);
}

static void test_idx(void)
{
    char root[512];
    for (int gz = 0; gz < 2; gz++) {
        const char *sub = gz ? "mnist_gz" : "mnist";
        write_idx(sub, "t10k", 5, gz);
        write_idx(sub, "train", 5, gz);
        path_of(root, sizeof root, sub);
        lowp_dataset *d = NULL;
        CHECK_OK(open_ds(gz ? "FashionMNIST" : "MNIST", "root", root, "train", "false", &d));
        CHECK(lowp_dataset_length(d) == 5);
        /* in order, then backwards (gz: unpacks to a temporary file), then forwards again */
        int64_t order[] = {0, 1, 3, 4, 2, 0, 4, 1};
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
            check_idx_sample(d, order[k]);
        lowp_sample s = {0};
        CHECK(lowp_dataset_get(d, 5, &s) == LOWP_ERR_INVALID_ARGUMENT);
        lowp_dataset_free(d);
    }
    /* label count mismatch: names both files */
    write_idx("mnist_bad", "t10k", 4, 0);
    path_of(root, sizeof root, "mnist_bad");
    lowp_dataset *d = NULL;
    CHECK(open_ds("MNIST", "root", root, NULL, NULL, &d) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "t10k-labels-idx1-ubyte has 4 labels"));
    CHECK(strstr(lowp_last_error(), "has 5 images"));
    /* missing folder / file */
    CHECK(open_ds("MNIST", "root", "/nonexistent/mnist", NULL, NULL, &d) == LOWP_ERR_IO);
    CHECK(strstr(lowp_last_error(), "/nonexistent/mnist/t10k-images-idx3-ubyte"));
    /* truncated images: refused at open (the sample count sizes the dataloader's permutation),
     * naming the file and both sizes */
    unsigned char img[16 + 6] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
    unsigned char lab[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 2};
    mkdir_rel("mnist_trunc");
    write_file("mnist_trunc/t10k-images-idx3-ubyte", img, sizeof img, 0);
    write_file("mnist_trunc/t10k-labels-idx1-ubyte", lab, sizeof lab, 0);
    path_of(root, sizeof root, "mnist_trunc");
    CHECK(open_ds("MNIST", "root", root, NULL, NULL, &d) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "t10k-images-idx3-ubyte: the header declares 2 images (28 bytes) but "
                                    "the file holds 22 bytes: truncated?"));
    /* not an IDX file */
    write_file("mnist_trunc/t10k-images-idx3-ubyte", "hello world, not idx", 20, 0);
    CHECK(open_ds("MNIST", "root", root, NULL, NULL, &d) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "not an IDX file"));
    /* the parameters are checked */
    CHECK(open_ds("MNIST", "root", root, "train", "maybe", &d) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "MNIST.train: expected true or false, got 'maybe'"));
    CHECK(open_ds("MNIST", "train", "true", NULL, NULL, &d) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "needs 'root'"));
}

static void test_cifar(void)
{
    /* 3 records; pixel (c, y, x) = c*100 + y + x (mod 256), label = 7 - i */
    unsigned char rec10[3][1 + 3072], rec100[2][2 + 3072];
    for (int i = 0; i < 3; i++) {
        rec10[i][0] = (unsigned char)(7 - i);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                rec10[i][1 + c * 1024 + p] = (unsigned char)(c * 100 + p / 32 + p % 32 + i);
    }
    for (int i = 0; i < 2; i++) {
        rec100[i][0] = 3, rec100[i][1] = (unsigned char)(50 + i);
        memset(rec100[i] + 2, i, 3072);
    }
    mkdir_rel("cifar");
    write_file("cifar/test_batch.bin", rec10, sizeof rec10, 0);
    mkdir_rel("cifar100");
    mkdir_rel("cifar100/cifar-100-binary");
    write_file("cifar100/cifar-100-binary/test.bin", rec100, sizeof rec100, 0);
    char root[512];
    path_of(root, sizeof root, "cifar");
    lowp_dataset *d = NULL;
    CHECK_OK(open_ds("CIFAR10", "root", root, NULL, NULL, &d));
    CHECK(lowp_dataset_length(d) == 3);
    lowp_sample s = {0};
    CHECK_OK(lowp_dataset_get(d, 2, &s));
    if (s.n_inputs == 1) {
        const int64_t *dims = lowp_tensor_dims(s.inputs[0]);
        CHECK(dims[0] == 32 && dims[1] == 32 && dims[2] == 3);
        const float *x = lowp_tensor_data(s.inputs[0]);
        /* HWC: (y=1, x=2, c=1) */
        CHECK(x[(1 * 32 + 2) * 3 + 1] == (float)(100 + 1 + 2 + 2));
        CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 5);
    }
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    path_of(root, sizeof root, "cifar100");
    CHECK_OK(open_ds("CIFAR100", "root", root, NULL, NULL, &d));
    CHECK(lowp_dataset_length(d) == 2);
    CHECK_OK(lowp_dataset_get(d, 1, &s));
    if (s.n_labels == 1)
        CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 51);
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    /* a size that is not whole records */
    write_file("cifar/test_batch.bin", rec10, 3073 + 100, 0);
    path_of(root, sizeof root, "cifar");
    CHECK(open_ds("CIFAR10", "root", root, NULL, NULL, &d) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "test_batch.bin"));
}

static void write_png(const char *rel, int w, int h, int gray, unsigned char base)
{
    char p[512];
    path_of(p, sizeof p, rel);
    lp_test_write_png(p, w, h, gray ? 1 : 3, base, 1);
}

static void write_jpeg(const char *rel, int w, int h, unsigned char value)
{
    char p[512];
    path_of(p, sizeof p, rel);
    FILE *f = fopen(p, "wb");
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * 3);
    memset(row, value, (size_t)w * 3);
    while (c.next_scanline < c.image_height)
        jpeg_write_scanlines(&c, &row, 1);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(f);
}

static void test_image_folder(void)
{
    mkdir_rel("imgs");
    mkdir_rel("imgs/dog");
    mkdir_rel("imgs/cat");
    write_png("imgs/dog/b.png", 4, 3, 0, 0);
    write_jpeg("imgs/dog/a.jpg", 8, 8, 200);
    write_png("imgs/cat/z.png", 2, 2, 1, 7);
    write_file("imgs/cat/readme.txt", "not an image", 12, 0);
    char root[512];
    path_of(root, sizeof root, "imgs");
    lowp_dataset *d = NULL;
    CHECK_OK(open_ds("ImageFolder", "root", root, NULL, NULL, &d));
    CHECK(lowp_dataset_length(d) == 3);
    lowp_sample s = {0};
    /* sorted: cat/z.png (label 0), dog/a.jpg (1), dog/b.png (1) */
    CHECK_OK(lowp_dataset_get(d, 0, &s));
    if (s.n_inputs) {
        const int64_t *dims = lowp_tensor_dims(s.inputs[0]);
        CHECK(dims[0] == 2 && dims[1] == 2 && dims[2] == 1);
        CHECK(((float *)lowp_tensor_data(s.inputs[0]))[3] == 10.0f);
        CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 0);
    }
    CHECK_OK(lowp_dataset_get(d, 1, &s));
    if (s.n_inputs) {
        const int64_t *dims = lowp_tensor_dims(s.inputs[0]);
        CHECK(dims[0] == 8 && dims[1] == 8 && dims[2] == 3);
        CHECK_NEAR(((float *)lowp_tensor_data(s.inputs[0]))[10], 200.0, 2.0);
        CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 1);
    }
    CHECK_OK(lowp_dataset_get(d, 2, &s));
    if (s.n_inputs) {
        const int64_t *dims = lowp_tensor_dims(s.inputs[0]);
        CHECK(dims[0] == 3 && dims[1] == 4 && dims[2] == 3);
        CHECK(((float *)lowp_tensor_data(s.inputs[0]))[5] == 5.0f);
    }
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    /* a corrupt JPEG and a truncated PNG: errors naming the file and sample, no crash */
    write_file("imgs/dog/c.jpg", "\xFF\xD8\xFF\xE0garbage-garbage-garbage", 27, 0);
    CHECK_OK(open_ds("ImageFolder", "root", root, NULL, NULL, &d));
    CHECK(lowp_dataset_get(d, 3, &s) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "sample 3") && strstr(lowp_last_error(), "dog/c.jpg: cannot decode JPEG"));
    CHECK(s.n_inputs == 0);
    lowp_dataset_free(d);
    write_file("imgs/dog/c.jpg", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, 0);
    CHECK_OK(open_ds("ImageFolder", "root", root, NULL, NULL, &d));
    CHECK(lowp_dataset_get(d, 3, &s) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "dog/c.jpg: cannot decode PNG"));
    lowp_dataset_free(d);
    write_file("imgs/dog/c.jpg", "GIF89a", 6, 0);
    CHECK_OK(open_ds("ImageFolder", "root", root, NULL, NULL, &d));
    CHECK(lowp_dataset_get(d, 3, &s) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "not a JPEG or PNG image"));
    lowp_dataset_free(d);
    CHECK(open_ds("ImageFolder", "root", "/nonexistent/imgs", NULL, NULL, &d) == LOWP_ERR_IO);
}

static void test_imagenet_raw(void)
{
    mkdir_rel("raw");
    write_png("raw/x1.png", 3, 2, 0, 1);
    write_png("raw/x2.png", 3, 2, 0, 2);
    write_file("raw/val.txt", "x1.png 65\n\nx2.png 3\n", 20, 0);
    char root[512], list[512];
    path_of(root, sizeof root, "raw");
    lowp_dataset *d = NULL;
    CHECK_OK(open_ds("ImagenetRaw", "data_path", root, NULL, NULL, &d));
    CHECK(lowp_dataset_length(d) == 2);
    lowp_sample s = {0};
    CHECK_OK(lowp_dataset_get(d, 0, &s));
    if (s.n_labels)
        CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 65);
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    write_file("raw/bad.txt", "x1.png 65\nx2.png\n", 17, 0);
    path_of(list, sizeof list, "raw/bad.txt");
    CHECK(open_ds("ImagenetRaw", "data_path", root, "image_list", list, &d) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "bad.txt:2: expected 'file label'"));
    /* a listed file that does not exist: names it at get time */
    write_file("raw/missing.txt", "nope.png 1\n", 11, 0);
    path_of(list, sizeof list, "raw/missing.txt");
    CHECK_OK(open_ds("ImagenetRaw", "data_path", root, "image_list", list, &d));
    CHECK(lowp_dataset_get(d, 0, &s) == LOWP_ERR_IO);
    CHECK(strstr(lowp_last_error(), "nope.png: cannot open"));
    lowp_dataset_free(d);
}

static void test_npy(void)
{
    float a[4 * 2] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t b[4 * 3];
    int64_t y[4] = {3, 2, 1, 0}, da[2] = {4, 2}, db[3] = {4, 3, 1}, dy[1] = {4}, dy3[1] = {3};
    for (int i = 0; i < 12; i++)
        b[i] = 100 + i;
    lowp_tensor *ta = NULL, *tb = NULL, *ty = NULL, *ty3 = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, da, a, &ta));
    CHECK_OK(lowp_tensor_create(LOWP_INT32, 3, db, b, &tb));
    CHECK_OK(lowp_tensor_create(LOWP_INT64, 1, dy, y, &ty));
    CHECK_OK(lowp_tensor_create(LOWP_INT64, 1, dy3, y, &ty3));
    char pa[512], pb[512], py[512], py3[512], list[1100];
    path_of(pa, sizeof pa, "a.npy");
    path_of(pb, sizeof pb, "b.npy");
    path_of(py, sizeof py, "y.npy");
    path_of(py3, sizeof py3, "y3.npy");
    CHECK_OK(lowp_tensor_save_npy(ta, pa));
    CHECK_OK(lowp_tensor_save_npy(tb, pb));
    CHECK_OK(lowp_tensor_save_npy(ty, py));
    CHECK_OK(lowp_tensor_save_npy(ty3, py3));
    snprintf(list, sizeof list, "[%s, %s]", pa, pb);
    lowp_dataset *d = NULL;
    CHECK_OK(open_ds("Npy", "inputs", list, "labels", py, &d));
    CHECK(lowp_dataset_length(d) == 4);
    lowp_sample s = {0};
    CHECK_OK(lowp_dataset_get(d, 2, &s));
    CHECK(s.n_inputs == 2 && s.n_labels == 1);
    if (s.n_inputs == 2) {
        CHECK(lowp_tensor_ndim(s.inputs[0]) == 1 && ((float *)lowp_tensor_data(s.inputs[0]))[1] == 5.0f);
        CHECK(lowp_tensor_dtype(s.inputs[1]) == LOWP_INT32 && lowp_tensor_dims(s.inputs[1])[0] == 3);
        CHECK(((int32_t *)lowp_tensor_data(s.inputs[1]))[2] == 108);
        CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 1);
    }
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    CHECK(open_ds("Npy", "inputs", pa, "labels", py3, &d) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "y3.npy has 3 samples") && strstr(lowp_last_error(), "a.npy has 4"));
    write_file("junk.npy", "not numpy at all", 16, 0);
    char pj[512];
    path_of(pj, sizeof pj, "junk.npy");
    CHECK(open_ds("Npy", "inputs", pj, NULL, NULL, &d) == LOWP_ERR_FORMAT);
    CHECK(strstr(lowp_last_error(), "junk.npy: not a .npy file"));
    lowp_tensor_free(ta);
    lowp_tensor_free(tb);
    lowp_tensor_free(ty);
    lowp_tensor_free(ty3);
}

static void test_dummy(void)
{
    lowp_dataset *d = NULL;
    lowp_params *p = params("shape", "[10, 2, 3]", "dtype", "int8");
    CHECK_OK(lowp_params_set(p, "low", "-5"));
    CHECK_OK(lowp_params_set(p, "high", "5"));
    CHECK_OK(lowp_params_set(p, "label", "true"));
    CHECK_OK(lowp_dataset_open("dummy", p, &d));
    lowp_params_free(p);
    CHECK(lowp_dataset_length(d) == 10);
    lowp_sample s = {0}, s2 = {0};
    CHECK_OK(lowp_dataset_get(d, 7, &s));
    CHECK_OK(lowp_dataset_get(d, 7, &s2));
    if (s.n_inputs && s2.n_inputs) {
        CHECK(lowp_tensor_dtype(s.inputs[0]) == LOWP_INT8 && lowp_tensor_numel(s.inputs[0]) == 6);
        const int8_t *x = lowp_tensor_data(s.inputs[0]);
        for (int i = 0; i < 6; i++)
            CHECK(x[i] >= -5 && x[i] < 5);
        CHECK(!memcmp(x, lowp_tensor_data(s2.inputs[0]), 6));
        CHECK(s.n_labels == 1);
    }
    lowp_sample_clear(&s);
    lowp_sample_clear(&s2);
    lowp_dataset_free(d);
    /* two inputs */
    p = params("shape", "[[4, 3], [4, 2, 2]]", NULL, NULL);
    CHECK_OK(lowp_dataset_open("dummy", p, &d));
    lowp_params_free(p);
    CHECK_OK(lowp_dataset_get(d, 0, &s));
    CHECK(s.n_inputs == 2 && s.n_labels == 0);
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    p = params("shape", "[0, 3]", NULL, NULL);
    CHECK(lowp_dataset_open("dummy", p, &d) == LOWP_ERR_INVALID_ARGUMENT);
    lowp_params_free(p);
    CHECK(lowp_dataset_open("nosuch", NULL, &d) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "unknown dataset 'nosuch'"));
    /* dummy_v2: per-sample shapes; low/high/dtype per input then label; `length` samples */
    p = params("input_shape", "[[2, 3], [4]]", "label_shape", "[1]");
    CHECK_OK(lowp_params_set(p, "low", "[0, 10, -3]"));
    CHECK_OK(lowp_params_set(p, "high", "[1, 20, -2]"));
    CHECK_OK(lowp_params_set(p, "dtype", "[float32, int32, int64]"));
    CHECK_OK(lowp_params_set(p, "length", "12"));
    CHECK_OK(lowp_dataset_open("dummy_v2", p, &d));
    lowp_params_free(p);
    CHECK(d && lowp_dataset_length(d) == 12);
    if (d && lowp_dataset_get(d, 11, &s) == LOWP_OK) {
        CHECK(s.n_inputs == 2 && s.n_labels == 1);
        CHECK(lowp_tensor_ndim(s.inputs[0]) == 2 && lowp_tensor_dims(s.inputs[0])[1] == 3);
        CHECK(lowp_tensor_dtype(s.inputs[1]) == LOWP_INT32 && lowp_tensor_numel(s.inputs[1]) == 4);
        CHECK(lowp_tensor_dtype(s.labels[0]) == LOWP_INT64 && lowp_tensor_numel(s.labels[0]) == 1);
        const float *x = lowp_tensor_data(s.inputs[0]);
        const int32_t *y = lowp_tensor_data(s.inputs[1]);
        for (int i = 0; i < 6; i++)
            CHECK(x[i] >= 0 && x[i] < 1);
        for (int i = 0; i < 4; i++)
            CHECK(y[i] >= 10 && y[i] < 20);
        CHECK(*(const int64_t *)lowp_tensor_data(s.labels[0]) == -3);   /* floor of [-3, -2) */
    }
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    /* one input without labels, LPOT's defaults; a rank beyond the limit and length 0 refused */
    p = params("input_shape", "[224, 224, 3]", NULL, NULL);
    CHECK_OK(lowp_dataset_open("dummy_v2", p, &d));
    lowp_params_free(p);
    CHECK(d && lowp_dataset_length(d) == 1000);
    if (d && lowp_dataset_get(d, 0, &s) == LOWP_OK)
        CHECK(s.n_inputs == 1 && s.n_labels == 0 && lowp_tensor_numel(s.inputs[0]) == 224 * 224 * 3);
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    p = params("input_shape", "[1, 1, 1, 1, 1, 1, 1, 1, 1]", NULL, NULL);
    CHECK(lowp_dataset_open("dummy_v2", p, &d) != LOWP_OK);
    lowp_params_free(p);
    p = params("input_shape", "[2]", "length", "0");
    CHECK(lowp_dataset_open("dummy_v2", p, &d) != LOWP_OK && strstr(lowp_last_error(), "length must be >= 1"));
    lowp_params_free(p);
}

/* ---- a user dataset: sample i = [i, i] (shape [2], or [3] for index bad), label i ---- */

typedef struct { int64_t n, bad; } range_ds;
static lowp_status range_open(const lowp_params *p, void **state, int64_t *len)
{
    range_ds *r = malloc(sizeof *r);
    lowp_params_get_int(p, "n", 10, &r->n);
    lowp_params_get_int(p, "bad", -1, &r->bad);
    *state = r;
    *len = r->n;
    return LOWP_OK;
}
static lowp_status range_get(void *state, int64_t i, lowp_sample *s)
{
    range_ds *r = state;
    int64_t d = i == r->bad ? 3 : 2;
    float v[3] = {(float)i, (float)i, (float)i};
    lowp_tensor *t = NULL, *l = NULL;
    lowp_tensor_create(LOWP_FLOAT, 1, &d, v, &t);
    lowp_tensor_create(LOWP_INT64, 0, NULL, &i, &l);
    s->inputs[s->n_inputs++] = t;
    s->labels[s->n_labels++] = l;
    return LOWP_OK;
}
static const lowp_param_spec range_params[] = {{"n", LOWP_PARAM_INT, 0, 1}, {"bad", LOWP_PARAM_INT, 0, 0}, {NULL, 0, 0, 0}};
static const lowp_dataset_vtable range_vt = {"Range", range_params, range_open, range_get, free, NULL};

static lowp_dataloader *range_loader(const char *n, const char *bad, int batch, int shuffle,
                                     uint64_t seed, int64_t max, int drop)
{
    lowp_dataset *d = NULL;
    lowp_params *p = params("n", n, bad ? "bad" : NULL, bad);
    CHECK_OK(lowp_dataset_open("Range", p, &d));
    lowp_params_free(p);
    lowp_dataloader_options o = lowp_dataloader_options_default();
    o.batch_size = batch, o.shuffle = shuffle, o.seed = seed, o.max_samples = max, o.drop_last = drop;
    lowp_dataloader *dl = NULL;
    CHECK_OK(lowp_dataloader_create(d, NULL, &o, &dl));
    return dl;
}

/* The batch sizes and label sequence of one epoch into sizes/labels; returns the batch count. */
static int epoch(lowp_dataloader *dl, int64_t *sizes, int64_t *labels)
{
    lowp_sample b = {0};
    int nb = 0, nl = 0;
    int64_t count;
    while (lowp_dataloader_next(dl, &b, &count) == LOWP_OK && count > 0) {
        sizes[nb++] = count;
        CHECK(lowp_tensor_dims(b.inputs[0])[0] == count && lowp_tensor_dims(b.inputs[0])[1] == 2);
        CHECK(lowp_tensor_dims(b.labels[0])[0] == count);
        for (int64_t i = 0; i < count; i++) {
            labels[nl] = ((int64_t *)lowp_tensor_data(b.labels[0]))[i];
            CHECK(((float *)lowp_tensor_data(b.inputs[0]))[2 * i + 1] == (float)labels[nl]);
            nl++;
        }
    }
    lowp_sample_clear(&b);
    return nb;
}

static void test_dataloader(void)
{
    CHECK_OK(lowp_dataset_register(&range_vt));
    int64_t sizes[64], labels[64], labels2[64];
    lowp_dataloader *dl = range_loader("10", NULL, 4, 0, 0, 0, 0);
    CHECK(lowp_dataloader_length(dl) == 10);
    CHECK(epoch(dl, sizes, labels) == 3 && sizes[0] == 4 && sizes[2] == 2);
    for (int i = 0; i < 10; i++)
        CHECK(labels[i] == i);
    CHECK(epoch(dl, sizes, labels) == 0);   /* over until reset */
    lowp_dataloader_reset(dl);
    CHECK(epoch(dl, sizes, labels) == 3);
    lowp_dataloader_free(dl);
    dl = range_loader("10", NULL, 4, 0, 0, 0, 1);   /* drop_last */
    CHECK(lowp_dataloader_length(dl) == 8 && epoch(dl, sizes, labels) == 2);
    lowp_dataloader_free(dl);
    dl = range_loader("10", NULL, 4, 0, 0, 5, 0);   /* sampling_size 5 */
    CHECK(epoch(dl, sizes, labels) == 2 && sizes[1] == 1);
    lowp_dataloader_free(dl);
    /* shuffle: a permutation, the same for the same seed, another for another seed */
    dl = range_loader("20", NULL, 3, 1, 42, 0, 0);
    epoch(dl, sizes, labels);
    lowp_dataloader_free(dl);
    dl = range_loader("20", NULL, 7, 1, 42, 0, 0);
    epoch(dl, sizes, labels2);
    lowp_dataloader_free(dl);
    int seen[20] = {0}, same = 1, sorted = 1;
    for (int i = 0; i < 20; i++) {
        seen[labels[i]]++;
        same &= labels[i] == labels2[i];
        sorted &= labels[i] == i;
    }
    for (int i = 0; i < 20; i++)
        CHECK(seen[i] == 1);
    CHECK(same && !sorted);
    dl = range_loader("20", NULL, 3, 1, 43, 0, 0);
    epoch(dl, sizes, labels2);
    lowp_dataloader_free(dl);
    same = 1;
    for (int i = 0; i < 20; i++)
        same &= labels[i] == labels2[i];
    CHECK(!same);
    /* a sample that does not fit its batch: both indices named */
    dl = range_loader("10", "6", 4, 0, 0, 0, 0);
    lowp_sample b = {0};
    int64_t count;
    CHECK_OK(lowp_dataloader_next(dl, &b, &count));
    CHECK(lowp_dataloader_next(dl, &b, &count) == LOWP_ERR_SHAPE);
    CHECK(strstr(lowp_last_error(), "sample 6 is float32 [3]") && strstr(lowp_last_error(), "sample 4's is float32 [2]"));
    CHECK(b.n_inputs == 0);
    lowp_dataloader_free(dl);
    /* options are checked; the dataset is freed on failure too (leak-checked under ASan) */
    lowp_dataset *d = NULL;
    CHECK_OK(lowp_dataset_open("Range", NULL, &d));
    lowp_dataloader_options o = lowp_dataloader_options_default();
    o.batch_size = 0;
    CHECK(lowp_dataloader_create(d, NULL, &o, &dl) == LOWP_ERR_INVALID_ARGUMENT);
}

static void test_parse_spec(void)
{
    char *name = NULL;
    lowp_params *p = NULL;
    lowp_dataset *d = NULL;
    char spec[600], root[512];
    write_idx("spec", "t10k", 5, 1);
    write_idx("spec", "train", 5, 1);
    path_of(root, sizeof root, "spec");
    snprintf(spec, sizeof spec, "FashionMNIST:%s:train=true", root);
    CHECK_OK(lowp_params_parse_spec("dataset", spec, &name, &p));
    CHECK(name && !strcmp(name, "FashionMNIST"));
    CHECK_OK(lowp_dataset_open(name, p, &d));
    CHECK(lowp_dataset_length(d) == 5);
    lowp_dataset_free(d);
    free(name);
    lowp_params_free(p);
    CHECK_OK(lowp_params_parse_spec("transform", "Normalize=0.2860/0.3530", &name, &p));
    double v[4];
    int n = 0;
    /* the getters read what the spec set (params keep text until a constructor checks them) */
    CHECK(lowp_params_has(p, "mean") && lowp_params_has(p, "std"));
    CHECK_OK(lowp_params_get_floats(p, "std", 4, v, &n));
    CHECK(n == 1 && v[0] == 0.3530);
    free(name);
    lowp_params_free(p);
    CHECK_OK(lowp_params_parse_spec("transform", "Transpose=2,0,1", &name, &p));
    int64_t perm[4];
    CHECK_OK(lowp_params_get_ints(p, "perm", 4, perm, &n));
    CHECK(n == 3 && perm[0] == 2 && perm[2] == 1);
    free(name);
    lowp_params_free(p);
    CHECK_OK(lowp_params_parse_spec("metric", "MSE:compare_label=false", &name, &p));
    free(name);
    lowp_params_free(p);
    CHECK(lowp_params_parse_spec("metric", "topk=1/2", &name, &p) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "takes 1 bare value"));
    CHECK(lowp_params_parse_spec("transform", "Rescal", &name, &p) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "unknown transform 'Rescal'"));
}

int main(void)
{
    if (!lp_test_tmpdir(dir, sizeof dir, "test_data"))
        return 1;
    RUN(test_idx);
    RUN(test_cifar);
    RUN(test_image_folder);
    RUN(test_imagenet_raw);
    RUN(test_npy);
    RUN(test_dummy);
    RUN(test_dataloader);
    RUN(test_parse_spec);
    lp_test_rmtree(dir);
    return TEST_SUMMARY("test_data");
}
