/* test_fuzz_corpus.c — replays every file of fuzz/corpus/{model,npy,config,history,recipe} and of the
 * data targets' corpora (jpeg, png, idx, cifar, dataset) through the
 * fuzz targets' entry points, so that every input the fuzzers found interesting stays crash-
 * and leak-free (this runs under ASan/UBSan in `make test-asan`). Also replays the files in
 * fuzz/crashes when present: a fixed crash must stay fixed. */
#include <dirent.h>
#include <sys/stat.h>

#include "test.h"
#include "../fuzz/fuzz_targets.h"
#include "../fuzz/fuzz_data.h"

static int replayed;

/* Feeds one regular file to `fn`; returns 1 if it did. */
static int replay_file(const char *path, int (*fn)(const uint8_t *, size_t))
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc((size_t)sb.st_size + 1);
    size_t got = f && buf ? fread(buf, 1, (size_t)sb.st_size, f) : 0;
    if (f)
        fclose(f);
    CHECK_MSG(buf && got == (size_t)sb.st_size, "cannot read %s", path);
    if (buf && got == (size_t)sb.st_size)
        fn(buf, got);
    free(buf);
    return 1;
}

/* Feeds every regular file in `dir` to `fn`; returns the count, -1 if dir is missing. */
static int replay(const char *dir, int (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n += replay_file(path, fn);
    }
    closedir(d);
    replayed += n;
    return n;
}

static void test_model_corpus(void)
{
    int n = replay("fuzz/corpus/model", lp_fuzz_model_one);
    CHECK_MSG(n > 0, "fuzz/corpus/model is missing or empty (run from the repository root)");
}

static void test_npy_corpus(void)
{
    int n = replay("fuzz/corpus/npy", lp_fuzz_npy_one);
    CHECK_MSG(n > 0, "fuzz/corpus/npy is missing or empty (run from the repository root)");
}

static void test_config_corpus(void)
{
    int n = replay("fuzz/corpus/config", lp_fuzz_config_one);
    CHECK_MSG(n > 0, "fuzz/corpus/config is missing or empty (run from the repository root)");
}

static void test_history_corpus(void)
{
    int n = replay("fuzz/corpus/history", lp_fuzz_history_one);
    CHECK_MSG(n > 0, "fuzz/corpus/history is missing or empty (run from the repository root)");
}

static void test_recipe_corpus(void)
{
    int n = replay("fuzz/corpus/recipe", lp_fuzz_recipe_one);
    CHECK_MSG(n > 0, "fuzz/corpus/recipe is missing or empty (run from the repository root)");
}

/* The data targets: corpus fuzz/corpus/<name>, crash artifacts fuzz/crashes/<name>-*. */
static const struct { const char *name; int (*fn)(const uint8_t *, size_t); } data_targets[] = {
    { "jpeg", lp_fuzz_image_one }, { "png", lp_fuzz_image_one },     { "idx", lp_fuzz_idx_one },
    { "cifar", lp_fuzz_cifar_one }, { "dataset", lp_fuzz_dataset_one }, { "lpot", lp_fuzz_lpot_one },
};

static void test_data_corpora(void)
{
    for (size_t i = 0; i < sizeof data_targets / sizeof *data_targets; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", data_targets[i].name);
        int n = replay(dir, data_targets[i].fn);
        CHECK_MSG(n > 0, "%s is missing or empty (run from the repository root)", dir);
    }
    lp_fuzz_data_cleanup();
}

/* Crash inputs kept as regression cases: fuzz/crashes/TARGET-* (libFuzzer's artifact names).
 * Fixed crashes pass; an unfixed one crashes this test, as it should. */
static void test_saved_crashes(void)
{
    static const struct { const char *prefix; int (*fn)(const uint8_t *, size_t); } targets[] = {
        { "model-", lp_fuzz_model_one },     { "npy-", lp_fuzz_npy_one },
        { "config-", lp_fuzz_config_one },   { "history-", lp_fuzz_history_one },
        { "recipe-", lp_fuzz_recipe_one },
        { "jpeg-", lp_fuzz_image_one },      { "png-", lp_fuzz_image_one },
        { "idx-", lp_fuzz_idx_one },         { "cifar-", lp_fuzz_cifar_one },
        { "dataset-", lp_fuzz_dataset_one },  { "lpot-", lp_fuzz_lpot_one },
    };
    DIR *d = opendir("fuzz/crashes");
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
            if (strncmp(e->d_name, targets[i].prefix, strlen(targets[i].prefix)) != 0)
                continue;
            snprintf(path, sizeof path, "fuzz/crashes/%s", e->d_name);
            replayed += replay_file(path, targets[i].fn);
        }
    }
    closedir(d);
    lp_fuzz_data_cleanup();
}

int main(void)
{
    RUN(test_model_corpus);
    RUN(test_npy_corpus);
    RUN(test_config_corpus);
    RUN(test_history_corpus);
    RUN(test_recipe_corpus);
    RUN(test_data_corpora);
    RUN(test_saved_crashes);
    printf("replayed %d inputs\n", replayed);
    return TEST_SUMMARY("test_fuzz_corpus");
}
