/* ds_image.c — image-file datasets: ImageFolder (one sub-folder per class, labels from the
 * sorted folder names) and ImagenetRaw (a folder plus a "file label" list). Each sample is
 * decoded when asked for: float32 (H,W,C), values 0..255; the dataset keeps only the file
 * names (a few bytes per sample). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/file.h"
#include "base/outfile.h"
#include "data/data.h"

typedef struct image_item {
    char *path;
    int64_t label;
} image_item;

typedef struct image_ds {
    int64_t n, cap;
    image_item *items;
    char root[512];
} image_ds;

static void image_close(void *state)
{
    image_ds *d = state;
    if (!d)
        return;
    for (int64_t i = 0; i < d->n; i++)
        free(d->items[i].path);
    free(d->items);
    free(d);
}

static lp_status add_item(image_ds *d, const char *path, int64_t label)
{
    if (d->n == d->cap) {
        int64_t cap = d->cap ? 2 * d->cap : 256;
        image_item *items = realloc(d->items, (size_t)cap * sizeof *items);
        if (!items)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        d->items = items;
        d->cap = cap;
    }
    if (!(d->items[d->n].path = strdup(path)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    d->items[d->n++].label = label;
    return LP_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Sorted names in `dir` (sub-folders if `dirs`, else image files). */
static lp_status list_dir(const char *dir, bool dirs, char ***names_out, int *n_out)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return lp_error(LOWP_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    lp_status st = LP_OK;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char *path = NULL;
        struct stat sb;
        if ((st = lp_path_join(dir, e->d_name, &path)) != LP_OK)
            break;
        int r = stat(path, &sb);
        free(path);
        if (r != 0)
            continue;
        if (dirs ? !S_ISDIR(sb.st_mode) : !(S_ISREG(sb.st_mode) && is_image_name(e->d_name)))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        n++;
    }
    closedir(dp);
    if (st != LP_OK) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return st;
    }
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    *names_out = names;
    *n_out = n;
    return LP_OK;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static lp_status folder_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    const char *root;
    LP_TRY(lowp_params_get_string(p, "root", NULL, &root));
    image_ds *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(d->root, sizeof d->root, "%s", root);
    char **classes = NULL;
    int n_classes = 0;
    lp_status st = list_dir(root, true, &classes, &n_classes);
    if (st == LP_OK && n_classes == 0)
        st = lp_error(LOWP_ERR_FORMAT, "%s: no class sub-folders", root);
    for (int c = 0; c < n_classes && st == LP_OK; c++) {
        char *dir = NULL;
        char **files = NULL;
        int n_files = 0;
        st = lp_path_join(root, classes[c], &dir);
        if (st == LP_OK)
            st = list_dir(dir, false, &files, &n_files);
        for (int i = 0; i < n_files && st == LP_OK; i++) {
            char *path = NULL;
            st = lp_path_join(dir, files[i], &path);
            if (st == LP_OK)
                st = add_item(d, path, c);
            free(path);
        }
        free_names(files, n_files);
        free(dir);
    }
    free_names(classes, n_classes);
    if (st == LP_OK && d->n == 0)
        st = lp_error(LOWP_ERR_FORMAT, "%s: no .jpg/.jpeg/.png images in the class folders", root);
    if (st != LP_OK) {
        image_close(d);
        return st;
    }
    *state_out = d;
    *length_out = d->n;
    return LP_OK;
}

static lp_status raw_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    const char *root, *list;
    LP_TRY(lowp_params_get_string(p, "data_path", NULL, &root));
    LP_TRY(lowp_params_get_string(p, "image_list", NULL, &list));
    char *list_path = NULL;
    if (list && !(list_path = strdup(list)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (!list) { /* LPOT's default, val_map.txt in data_path; else val.txt */
        LP_TRY(lp_path_join(root, "val_map.txt", &list_path));
        if (access(list_path, F_OK) != 0) {
            free(list_path);
            list_path = NULL;
            LP_TRY(lp_path_join(root, "val.txt", &list_path));
        }
    }
    FILE *fp;
    if (lp_file_fopen(list_path, 0, &fp, NULL) != LP_OK) {
        free(list_path);
        return lp_error_prefix(LOWP_ERR_IO, "image list");
    }
    image_ds *d = calloc(1, sizeof *d);
    if (!d) {
        fclose(fp);
        free(list_path);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    snprintf(d->root, sizeof d->root, "%s", root);
    lp_status st = LP_OK;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int lineno = 0;
    /* Lines and names of any length are read whole (getline); a line longer than any real
     * one, a NUL byte, a label that is not a class index or a trailing token is an error. */
    while (st == LP_OK && (len = getline(&line, &line_cap, fp)) >= 0) {
        lineno++;
        if (len > 4096 || (size_t)len != strlen(line)) {
            st = lp_error(LOWP_ERR_FORMAT, "%s:%d: %s", list_path, lineno,
                          len > 4096 ? "line longer than 4096 bytes" : "a NUL byte in the line");
            break;
        }
        char *s = line + strspn(line, " \t\r\n");
        if (*s == 0 || *s == '#')
            continue;
        char *name = s;
        s += strcspn(s, " \t\r\n");
        char *num = s + strspn(s, " \t");
        if (*s)
            *s = 0;
        char *end;
        errno = 0;
        long long label = *num >= '0' && *num <= '9' ? strtoll(num, &end, 10) : -1;
        if (label < 0 || errno || end[strspn(end, " \t\r\n")] != 0) {
            st = lp_error(LOWP_ERR_FORMAT, "%s:%d: expected 'file label' with a class index 0..%lld",
                          list_path, lineno, (long long)INT64_MAX);
            break;
        }
        char *path = NULL;
        st = lp_path_join(root, name, &path);
        if (st == LP_OK)
            st = add_item(d, path, label);
        free(path);
    }
    free(line);
    fclose(fp);
    if (st == LP_OK && d->n == 0)
        st = lp_error(LOWP_ERR_FORMAT, "%s: the image list is empty", list_path);
    free(list_path);
    if (st != LP_OK) {
        image_close(d);
        return st;
    }
    *state_out = d;
    *length_out = d->n;
    return LP_OK;
}

static lp_status image_get(void *state, int64_t index, lowp_sample *s)
{
    image_ds *d = state;
    lp_tensor *t;
    LP_TRY(lp_image_load(d->items[index].path, &t));
    LP_TRY(lp_sample_add_input(s, t));
    return lp_sample_add_class(s, d->items[index].label);
}

static const char *image_describe(void *state) { return ((image_ds *)state)->root; }

static const lowp_param_spec folder_params[] = {
    {"root", LOWP_PARAM_STRING, 1, 1},
    {NULL, 0, 0, 0},
};
static const lowp_param_spec raw_params[] = {
    {"data_path", LOWP_PARAM_STRING, 1, 1},
    {"image_list", LOWP_PARAM_STRING, 0, 2},
    {NULL, 0, 0, 0},
};

const lowp_dataset_vtable lp_ds_image_folder = {
    "ImageFolder", folder_params, folder_open, image_get, image_close, image_describe,
};
const lowp_dataset_vtable lp_ds_imagenet_raw = {
    "ImagenetRaw", raw_params, raw_open, image_get, image_close, image_describe,
};
