/* fm_data.h — what the tuner tests share: a Fashion-MNIST dataloader normalized like the zoo
 * models' training, and the zoo MLP. Include after test.h. */
#ifndef LP_FM_DATA_H
#define LP_FM_DATA_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lowp.h"
#include "test.h"

#define FM "/usr/share/datasets/fashion-mnist"

/* The train or test split, `batch` samples a batch, the first `max` samples (0: all). */
static lowp_dataloader *fm_loader(bool train, int batch, int64_t max)
{
    lowp_params *p = NULL;
    lowp_dataset *ds = NULL;
    lowp_transform *t = NULL;
    lowp_params *norm = NULL;
    lowp_dataloader *dl = NULL;
    lowp_params_create(&p);
    lowp_params_set(p, "root", FM);
    lowp_params_set(p, "train", train ? "true" : "false");
    CHECK_OK(lowp_dataset_open("FashionMNIST", p, &ds));
    lowp_params_free(p);
    lowp_transform_create(&t);
    CHECK_OK(lowp_transform_append(t, "Rescale", NULL));
    lowp_params_create(&norm);
    lowp_params_set(norm, "mean", "[0.2860]");
    lowp_params_set(norm, "std", "[0.3530]");
    CHECK_OK(lowp_transform_append(t, "Normalize", norm));
    lowp_params_free(norm);
    lowp_dataloader_options o = lowp_dataloader_options_default();
    o.batch_size = batch;
    o.max_samples = max;
    CHECK_OK(lowp_dataloader_create(ds, t, &o, &dl));
    return dl;
}

static lowp_model *mlp(void)
{
    lowp_model *m = NULL;
    CHECK_OK(lowp_model_load("models/mlp.onnx", &m));
    return m;
}

/* The whole of a file, NUL-terminated (malloc'ed; *size_out: its length), NULL when unreadable. */
static inline char *fm_read_file(const char *path, long *size_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    if (s)
        s[n] = 0;
    *size_out = n;
    fclose(f);
    return s;
}

/* WORKSPACE/history.jsonl without the fields that are timings ("seconds", "latency_ms"). */
static inline char *fm_history_sans_times(const char *ws)
{
    char path[640];
    long n;
    snprintf(path, sizeof path, "%s/history.jsonl", ws);
    char *s = fm_read_file(path, &n);
    if (!s)
        return NULL;
    static const char *const keys[] = { "\"seconds\":", "\"latency_ms\":" };
    for (int k = 0; k < 2; k++)
        for (char *p = strstr(s, keys[k]); p; p = strstr(p, keys[k])) {
            char *e = p + strlen(keys[k]);
            while (*e && *e != ',' && *e != '}')
                e++;
            memmove(p, e, strlen(e) + 1);
        }
    return s;
}

/* A fresh temporary folder in tmp (lp_test_tmpdir's): true to go on; false to return *exit_out
 * from main (1: no folder; 0: Fashion-MNIST is missing, the skip is reported). */
static inline bool fm_begin(char *tmp, size_t size, const char *prog, int *exit_out)
{
    *exit_out = 1;
    if (!lp_test_tmpdir(tmp, size, prog))
        return false;
    *exit_out = 0;
    if (access(FM, F_OK) != 0) {
        printf("ok skipped: no Fashion-MNIST at %s\n%s: 0 passed, 0 failed\n", FM, prog);
        lp_test_rmtree(tmp);
        return false;
    }
    return true;
}

/* Removes the folder of fm_begin (kept with LOWP_TEST_KEEP set). */
static inline void fm_end(const char *tmp) { lp_test_rmtree(tmp); }

#endif
