/* dataset.c — the dataset registry, lowp_dataset handles and lowp_sample helpers. */
#include "data/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/registry.h"
#include <unistd.h>

static const lowp_dataset_vtable *const builtin[] = {
    &lp_ds_mnist, &lp_ds_fashion_mnist, &lp_ds_cifar10, &lp_ds_cifar100, &lp_ds_image_folder,
    &lp_ds_imagenet_raw, &lp_ds_npy, &lp_ds_dummy, &lp_ds_dummy_v2, &lp_ds_coco_raw,
};
static lp_registry registry = LP_REGISTRY("dataset", builtin);

const lowp_dataset_vtable *lp_dataset_find(const char *name)
{
    return lp_registry_find(&registry, name);
}

void lp_dataset_names(char *buf, size_t size)
{
    lp_registry_names(&registry, buf, size);
}

lowp_status lowp_dataset_register(const lowp_dataset_vtable *vt)
{
    if (!vt || !vt->name || !vt->open || !vt->get)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_dataset_register: the vtable needs name, open and get");
    return lp_registry_add(&registry, vt);
}

lp_status lp_dataset_open_params(const char *name, lowp_params *params, lowp_dataset **out)
{
    const lowp_dataset_vtable *vt = lp_dataset_find(name);
    if (!vt)
        return lp_unknown_name(params, "dataset", name, lp_dataset_names);
    LP_TRY(lp_params_check(params, vt->params, "dataset", name));
    lowp_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    d->vt = vt;
    params->spec = vt->params;
    lp_status st = vt->open(params, &d->state, &d->length);
    params->spec = NULL;
    if (st != LP_OK) {
        free(d);
        return lp_error_prefix(st, "dataset %s", name);
    }
    const char *desc = vt->describe ? vt->describe(d->state) : NULL;
    snprintf(d->desc, sizeof d->desc, "%s%s%s%s", name, desc ? " (" : "", desc ? desc : "",
             desc ? ")" : "");
    *out = d;
    return LP_OK;
}

lowp_status lowp_dataset_open(const char *name, const lowp_params *params, lowp_dataset **out)
{
    if (!name || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_dataset_open: NULL argument");
    lowp_params view;
    lp_params_view_of(&view, params, name);
    return lp_dataset_open_params(name, &view, out);
}

void lowp_dataset_free(lowp_dataset *d)
{
    if (!d)
        return;
    if (d->vt->close)
        d->vt->close(d->state);
    free(d);
}

int64_t lowp_dataset_length(const lowp_dataset *d) { return d ? d->length : 0; }

lowp_status lowp_dataset_get(lowp_dataset *d, int64_t index, lowp_sample *s)
{
    if (!d || !s)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_dataset_get: NULL argument");
    lowp_sample_clear(s);
    if (index < 0 || index >= d->length)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: sample %lld is out of range (%lld samples)",
                        d->desc, (long long)index, (long long)d->length);
    lp_status st = d->vt->get(d->state, index, s);
    if (st != LP_OK) {
        lowp_sample_clear(s);
        return lp_error_prefix(st, "%s: sample %lld", d->desc, (long long)index);
    }
    if (s->n_inputs < 1) {
        lowp_sample_clear(s);
        return lp_error(LOWP_ERR_INTERNAL, "%s: sample %lld has no input tensor", d->desc,
                        (long long)index);
    }
    return LP_OK;
}

/* ---- samples ---- */

void lowp_sample_clear(lowp_sample *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_inputs && i < LOWP_SAMPLE_MAX_TENSORS; i++)
        lp_tensor_free(s->inputs[i]);
    for (int i = 0; i < s->n_labels && i < LOWP_SAMPLE_MAX_TENSORS; i++)
        lp_tensor_free(s->labels[i]);
    memset(s, 0, sizeof *s);
}

lp_status lp_sample_add_input(lowp_sample *s, lp_tensor *t)
{
    if (s->n_inputs == LOWP_SAMPLE_MAX_TENSORS) {
        lp_tensor_free(t);
        return lp_error(LOWP_ERR_UNSUPPORTED, "a sample has at most %d inputs", LOWP_SAMPLE_MAX_TENSORS);
    }
    s->inputs[s->n_inputs++] = t;
    return LP_OK;
}

lp_status lp_sample_add_label(lowp_sample *s, lp_tensor *t)
{
    if (s->n_labels == LOWP_SAMPLE_MAX_TENSORS) {
        lp_tensor_free(t);
        return lp_error(LOWP_ERR_UNSUPPORTED, "a sample has at most %d labels", LOWP_SAMPLE_MAX_TENSORS);
    }
    s->labels[s->n_labels++] = t;
    return LP_OK;
}

lp_status lp_sample_add_class(lowp_sample *s, int64_t label)
{
    lp_tensor *t;
    LP_TRY(lp_tensor_new(LP_I64, 0, NULL, &t));
    *(int64_t *)t->data = label;
    return lp_sample_add_label(s, t);
}

lp_status lp_read_at(int fd, void *buf, size_t size, int64_t offset, const char *what)
{
    size_t done = 0;
    while (done < size) {
        ssize_t r = pread(fd, (char *)buf + done, size - done, (off_t)(offset + (int64_t)done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return lp_error(LOWP_ERR_IO, "%s: read failed: %s", what, strerror(errno));
        if (r == 0)
            return lp_error(LOWP_ERR_FORMAT, "%s: file is truncated (wanted %zu bytes at offset %lld)",
                            what, size, (long long)offset);
        done += (size_t)r;
    }
    return LP_OK;
}
