/* test_long_paths.c — paths near PATH_MAX (4096 on Linux) through everything that builds one:
 * ImageFolder (root/class/file), ImagenetRaw (a list whose line is longer than any fixed line
 * buffer, naming a file under 250-character folders), CIFAR-10 (root/cifar-10-batches-bin/...),
 * and the atomic writer (its temporary adds ".tmp.PID"). Fixed char[512..2400] buffers cut
 * these silently before, so the wrong file was opened (or none). The tree is built here. */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/outfile.h"
#include "lowp.h"
#include "test.h"
#include "png_file.h"

static char base[4200];

/* base/ + 250-character folders until the path is at least `len` long; created. */
static char *deep_dir(const char *tag, size_t len)
{
    char *p = lp_strfmt("%s/%s", base, tag);
    mkdir(p, 0777);
    char seg[251];
    memset(seg, 'd', 250);
    seg[250] = 0;
    while (strlen(p) < len) {
        char *q = lp_strfmt("%s/%s", p, seg);
        free(p);
        p = q;
        CHECK_MSG(mkdir(p, 0777) == 0 || errno == EEXIST, "mkdir %zu: %s", strlen(p), strerror(errno));
    }
    return p;
}

/* A 2x2 RGB image of bytes 1..12. */
static void write_png(const char *path) { lp_test_write_png(path, 2, 2, 3, 1, 1); }

static lowp_dataset *open_ds(const char *name, const char *k1, const char *v1, const char *k2, const char *v2)
{
    lowp_params *p = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, k1, v1));
    if (k2)
        CHECK_OK(lowp_params_set(p, k2, v2));
    lowp_dataset *d = NULL;
    lowp_status st = lowp_dataset_open(name, p, &d);
    CHECK_MSG(st == LOWP_OK, "%s: %s", name, lowp_last_error());
    lowp_params_free(p);
    return d;
}

/* One sample that decodes to a 2x2 RGB image. */
static void check_one_image(lowp_dataset *d, int64_t label)
{
    if (!d)
        return;
    CHECK(lowp_dataset_length(d) == 1);
    lowp_sample s = { 0 };
    CHECK_OK(lowp_dataset_get(d, 0, &s));
    if (s.n_inputs)
        CHECK(lowp_tensor_numel(s.inputs[0]) == 12);
    if (s.n_labels)
        CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == label);
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
}

static void test_image_folder(void)
{
    char *root = deep_dir("folder", 3700);
    char *cls = lp_strfmt("%s/cat", root);
    mkdir(cls, 0777);
    char *file = lp_strfmt("%s/%0200d.png", cls, 7);
    CHECK_MSG(strlen(file) > 3900 && strlen(file) < PATH_MAX, "%zu", strlen(file));
    write_png(file);
    check_one_image(open_ds("ImageFolder", "root", root, NULL, NULL), 0);
    free(file), free(cls), free(root);
}

static void test_imagenet_raw(void)
{
    /* data_path is short; the listed name is 3000 characters of folders (a line no 2 KB buffer holds) */
    char *root = lp_strfmt("%s/raw", base);
    mkdir(root, 0777);
    char *deep = deep_dir("raw", strlen(root) + 3000);
    char *file = lp_strfmt("%s/%0100d.png", deep, 3);
    write_png(file);
    const char *rel = file + strlen(root) + 1;
    char *list = lp_strfmt("%s/val.txt", root);
    FILE *f = fopen(list, "w");
    fprintf(f, "%s 42\n", rel);
    fclose(f);
    CHECK(strlen(rel) > 3000);
    check_one_image(open_ds("ImagenetRaw", "data_path", root, "image_list", list), 42);
    free(list), free(file), free(deep), free(root);
}

static void test_cifar(void)
{
    char *root = deep_dir("cifar", 3800);
    char *dir = lp_strfmt("%s/cifar-10-batches-bin", root);
    mkdir(dir, 0777);
    char *file = lp_strfmt("%s/test_batch.bin", dir);
    static unsigned char rec[1 + 3072];
    rec[0] = 6;
    FILE *f = fopen(file, "wb");
    CHECK_MSG(f != NULL, "%zu", strlen(file));
    if (f) {
        fwrite(rec, 1, sizeof rec, f);
        fclose(f);
    }
    lowp_dataset *d = open_ds("CIFAR10", "root", root, "train", "false");
    if (d) {
        CHECK(lowp_dataset_length(d) == 1);
        lowp_sample s = { 0 };
        CHECK_OK(lowp_dataset_get(d, 0, &s));
        if (s.n_labels)
            CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == 6);
        lowp_sample_clear(&s);
        lowp_dataset_free(d);
    }
    free(file), free(dir), free(root);
}

static void test_atomic_writer(void)
{
    char *dir = deep_dir("out", 4000);
    char *path = lp_strfmt("%s/%s", dir, "x.json"); /* + ".tmp.PID" still fits PATH_MAX */
    CHECK_OK(lp_write_file_atomic(path, "{}\n", 3));
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 3);
    /* past PATH_MAX: refused, the reason kept visible after the (shortened) path */
    char *longer = lp_strfmt("%s/%0200d/x.json", dir, 0);
    CHECK(lp_write_file_atomic(longer, "{}\n", 3) == LOWP_ERR_IO);
    CHECK_MSG(strstr(lowp_last_error(), "...") && (strstr(lowp_last_error(), "File name too long") ||
                                                  strstr(lowp_last_error(), "No such file")),
              "%s", lowp_last_error());
    free(longer), free(path), free(dir);
}

int main(void)
{
    if (!lp_test_tmpdir(base, sizeof base, "test_long_paths"))
        return 1;
    RUN(test_image_folder);
    RUN(test_imagenet_raw);
    RUN(test_cifar);
    RUN(test_atomic_writer);
    lp_test_rmtree(base);
    return TEST_SUMMARY("test_long_paths");
}
