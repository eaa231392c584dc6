/* fuzz_data.h — the per-input bodies of the data fuzz targets (JPEG, PNG, IDX, CIFAR, and the
 * other dataset readers: Npy, ImagenetRaw's image list), shared by fuzz/fuzz_*.c and the corpus
 * replay test. Images are decoded from memory; datasets get their bytes through real files in
 * one private temporary folder, opened and read by the dataset code as a user's would be.
 * Each body takes any bytes, must not crash or leak, and returns 0; a result that breaks the
 * readers' own promises (a sample of the wrong shape) aborts. */
#ifndef LP_FUZZ_DATA_H
#define LP_FUZZ_DATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/tensor.h"
#include "data/coco.h"
#include "data/data.h"
#include "lowp.h"

/* Images up to 2^20 pixels while fuzzing (a 16384x16384 header that decodes is not a bug, but
 * 3 GB of floats would trip the fuzzer's memory limit). */
static inline void lp_fuzz_data_limits(void)
{
    setenv("LOWP_MAX_IMAGE_PIXELS", "1048576", 0);
}

static inline void lp_fuzz_check_image(const lp_tensor *t)
{
    if (t->ndim != 3 || (t->dims[2] != 1 && t->dims[2] != 3) || t->dims[0] < 1 || t->dims[1] < 1 ||
        (uint64_t)(t->dims[0] * t->dims[1]) > (1u << 20))
        abort();
}

/* JPEG or PNG bytes (the two targets differ in their seeds): decode. */
static inline int lp_fuzz_image_one(const uint8_t *data, size_t size)
{
    lp_fuzz_data_limits();
    lp_tensor *t = NULL;
    if (lp_image_decode(data, size, "<fuzz>", &t) == LOWP_OK) {
        lp_fuzz_check_image(t);
        lp_tensor_free(t);
    }
    return 0;
}

/* The private folder the dataset targets write their files into (made once per process). */
static char lp_fuzz_dir[64];

static inline const char *lp_fuzz_folder(void)
{
    if (!lp_fuzz_dir[0]) {
        snprintf(lp_fuzz_dir, sizeof lp_fuzz_dir, "%s", "/tmp/lowp_fuzz_data_XXXXXX");
        if (!mkdtemp(lp_fuzz_dir))
            abort();
    }
    return lp_fuzz_dir;
}

/* Writes `size` bytes as folder/name; returns the path in `path`. */
static inline void lp_fuzz_write(const char *name, const uint8_t *data, size_t size, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", lp_fuzz_folder(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
}

/* A sub-folder of the private folder (made once), for datasets that look for their files by
 * name and would find another target's there. */
static inline const char *lp_fuzz_subfolder(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", lp_fuzz_folder(), name);
    mkdir(out, 0700);
    return out;
}

/* Removes what the dataset targets wrote (the replay test calls it at the end). */
static inline void lp_fuzz_data_cleanup(void)
{
    static const char *const names[] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "test_batch.bin",
                                        "test.bin", "x.npy", "y.npy", "val.txt", "lpot/mnist.npz",
                                        "lpot/test_batch", "lpot/annotations/instances_val2017.json",
                                        "lpot/annotations", "lpot"};
    char path[128];
    if (!lp_fuzz_dir[0])
        return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", lp_fuzz_dir, names[i]);
        if (unlink(path) != 0)
            rmdir(path);
    }
    rmdir(lp_fuzz_dir);
    lp_fuzz_dir[0] = 0;
}

/* Two files from one input: a 2-byte little-endian length, the first file, the second. */
static inline void lp_fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *na,
                                 const uint8_t **b, size_t *nb)
{
    size_t n = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0;
    data += size >= 2 ? 2 : size;
    size -= size >= 2 ? 2 : size;
    if (n > size)
        n = size;
    *a = data, *na = n, *b = data + n, *nb = size - n;
}

/* Opens dataset `name` with params (k1: v1, k2: v2) and reads samples in an order that goes
 * forward, jumps to the end and comes back (a gzip'ed file is then inflated to a temporary
 * copy); `check` vets each sample. */
static inline void lp_fuzz_dataset(const char *name, const char *k1, const char *v1, const char *k2,
                                   const char *v2, void (*check)(const lowp_sample *))
{
    lowp_params *p = NULL;
    lowp_dataset *ds = NULL;
    if (lowp_params_create(&p) != LOWP_OK)
        abort();
    if (lowp_params_set(p, k1, v1) != LOWP_OK || (k2 && lowp_params_set(p, k2, v2) != LOWP_OK))
        abort();
    if (lowp_dataset_open(name, p, &ds) == LOWP_OK) {
        int64_t n = lowp_dataset_length(ds);
        int64_t order[8] = {0, 1, 2, n - 1, n / 2, 0, n, -1};
        for (int i = 0; i < 8; i++) {
            lowp_sample s = {0};
            if (lowp_dataset_get(ds, order[i], &s) == LOWP_OK) {
                if (order[i] < 0 || order[i] >= n)
                    abort();
                check(&s);
            }
            lowp_sample_clear(&s);
        }
        lowp_dataset_free(ds);
    }
    lowp_params_free(p);
}

static inline void lp_fuzz_check_class_sample(const lowp_sample *s)
{
    const lp_tensor *x = s->inputs[0], *y = s->labels[0];
    if (s->n_inputs != 1 || s->n_labels != 1 || x->ndim != 3 || x->dtype != LP_F32 || y->ndim != 0 ||
        *(const int64_t *)y->data < 0)
        abort();
}

/* IDX: [2-byte length][labels file][images file], as MNIST's t10k files (either may be gzip). */
static inline int lp_fuzz_idx_one(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t na, nb;
    char path[128];
    lp_fuzz_split(data, size, &a, &na, &b, &nb);
    lp_fuzz_write("t10k-labels-idx1-ubyte", a, na, path, sizeof path);
    lp_fuzz_write("t10k-images-idx3-ubyte", b, nb, path, sizeof path);
    lp_fuzz_dataset("MNIST", "root", lp_fuzz_folder(), NULL, NULL, lp_fuzz_check_class_sample);
    return 0;
}

/* CIFAR: [kind byte: even CIFAR10, odd CIFAR100][the test batch file]. */
static inline int lp_fuzz_cifar_one(const uint8_t *data, size_t size)
{
    char path[128];
    if (size < 1)
        return 0;
    bool c100 = data[0] & 1;
    lp_fuzz_write(c100 ? "test.bin" : "test_batch.bin", data + 1, size - 1, path, sizeof path);
    lp_fuzz_dataset(c100 ? "CIFAR100" : "CIFAR10", "root", lp_fuzz_folder(), NULL, NULL,
                    lp_fuzz_check_class_sample);
    unlink(path);
    return 0;
}

static inline void lp_fuzz_check_any_sample(const lowp_sample *s)
{
    if (s->n_inputs < 1 || s->n_inputs > LOWP_SAMPLE_MAX_TENSORS || s->n_labels < 0 ||
        s->n_labels > LOWP_SAMPLE_MAX_TENSORS)
        abort();
    for (int i = 0; i < s->n_inputs + s->n_labels; i++) {
        const lp_tensor *t = i < s->n_inputs ? s->inputs[i] : s->labels[i - s->n_inputs];
        if (t->nbytes != (size_t)lp_tensor_numel(t) * lp_dtype_traits_of(t->dtype)->size)
            abort();
    }
}

/* The other readers: [kind byte] then even: Npy, [2-byte length][inputs .npy][labels .npy];
 * odd: ImagenetRaw, the image list (val.txt) of a folder without images. */
static inline int lp_fuzz_dataset_one(const uint8_t *data, size_t size)
{
    char path[128], lab[128];
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        lp_fuzz_write("val.txt", data + 1, size - 1, path, sizeof path);
        lp_fuzz_dataset("ImagenetRaw", "data_path", lp_fuzz_folder(), NULL, NULL, lp_fuzz_check_any_sample);
        unlink(path);
        return 0;
    }
    const uint8_t *a, *b;
    size_t na, nb;
    lp_fuzz_split(data + 1, size - 1, &a, &na, &b, &nb);
    lp_fuzz_write("x.npy", a, na, path, sizeof path);
    lp_fuzz_write("y.npy", b, nb, lab, sizeof lab);
    char in_list[160], lab_list[160];
    snprintf(in_list, sizeof in_list, "[%s]", path);
    snprintf(lab_list, sizeof lab_list, "[%s]", lab);
    lp_fuzz_dataset("Npy", "inputs", in_list, "labels", lab_list, lp_fuzz_check_any_sample);
    return 0;
}

/* LPOT's own formats: [kind byte % 3][the file]: 0 a COCO instances JSON (read whole, as
 * anno_path, and as COCORaw's annotations, whose images are then all missing), 1 MNIST's
 * mnist.npz, 2 a pickled CIFAR-10 test_batch (the python version). In their own sub-folder, so
 * the IDX and CIFAR targets' files there do not shadow them. */
static inline int lp_fuzz_lpot_one(const uint8_t *data, size_t size)
{
    char dir[160], sub[200], path[256];
    if (size < 1)
        return 0;
    lp_fuzz_subfolder("lpot", dir, sizeof dir);
    int kind = data[0] % 3;
    if (kind == 0) {
        snprintf(sub, sizeof sub, "%s/annotations", dir);
        mkdir(sub, 0700);
        lp_fuzz_write("lpot/annotations/instances_val2017.json", data + 1, size - 1, path, sizeof path);
        for (int cats = 0; cats < 2; cats++) {
            lp_coco *c = NULL;
            if (lp_coco_read(path, cats, &c) == LOWP_OK) {
                for (int64_t i = 0; i < c->n_images; i++)   /* the promises a reader keeps */
                    if (!c->images[i].file_name || c->images[i].file_name[0] == '/' || !(c->images[i].width > 0))
                        abort();
                for (int64_t i = 0; i < c->n_anns; i++)
                    if (c->anns[i].has_bbox && (c->anns[i].bbox[2] < 0 || c->anns[i].bbox[3] < 0))
                        abort();
                lp_coco_free(c);
            }
        }
        lp_fuzz_dataset("COCORaw", "root", dir, NULL, NULL, lp_fuzz_check_any_sample);
        unlink(path);
        return 0;
    }
    lp_fuzz_write(kind == 1 ? "lpot/mnist.npz" : "lpot/test_batch", data + 1, size - 1, path, sizeof path);
    lp_fuzz_dataset(kind == 1 ? "MNIST" : "CIFAR10", "root", dir, NULL, NULL, lp_fuzz_check_class_sample);
    unlink(path);
    return 0;
}

#endif
