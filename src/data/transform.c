/* transform.c — the transform registry and Compose pipelines (lowp_transform). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/registry.h"

#include "data/data.h"

static const lowp_transform_vtable *const builtin[] = {
    &lp_tf_rescale, &lp_tf_normalize, &lp_tf_resize, &lp_tf_center_crop, &lp_tf_random_crop,
    &lp_tf_random_resized_crop, &lp_tf_transpose, &lp_tf_cast, &lp_tf_to_array,
    &lp_tf_crop_resize, &lp_tf_label_shift, &lp_tf_resize_crop_imagenet, &lp_tf_bilinear_imagenet, &lp_tf_to_tensor,
    &lp_tf_random_hflip, &lp_tf_random_vflip, &lp_tf_align_channel, &lp_tf_crop_to_box, &lp_tf_pad,
    &lp_tf_quantized_input, &lp_tf_resize_with_ratio, &lp_tf_padded_center_crop, &lp_tf_color_jitter, &lp_tf_to_ndarray,
};
static lp_registry registry = LP_REGISTRY("transform", builtin);

const lowp_transform_vtable *lp_transform_find(const char *name)
{
    return lp_registry_find(&registry, name);
}

void lp_transform_names(char *buf, size_t size)
{
    lp_registry_names(&registry, buf, size);
}

lowp_status lowp_transform_register(const lowp_transform_vtable *vt)
{
    if (!vt || !vt->name || !vt->apply)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_transform_register: the vtable needs name and apply");
    return lp_registry_add(&registry, vt);
}

lowp_status lowp_transform_create(lowp_transform **out)
{
    if (!out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_transform_create: NULL argument");
    lowp_transform *t = calloc(1, sizeof *t);
    if (!t)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    *out = t;
    return LP_OK;
}

void lowp_transform_free(lowp_transform *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        if (t->steps[i].vt->free)
            t->steps[i].vt->free(t->steps[i].state);
    free(t->steps);
    free(t);
}

int lowp_transform_count(const lowp_transform *t) { return t ? t->n : 0; }

lp_status lp_transform_append_params(lowp_transform *t, const char *name, lowp_params *params)
{
    const lowp_transform_vtable *vt = lp_transform_find(name);
    if (!vt)
        return lp_unknown_name(params, "transform", name, lp_transform_names);
    LP_TRY(lp_params_check(params, vt->params, "transform", name));
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 8;
        lp_transform_step *s = realloc(t->steps, (size_t)cap * sizeof *s);
        if (!s)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        t->steps = s;
        t->cap = cap;
    }
    void *state = NULL;
    params->spec = vt->params;
    lp_status st = vt->create ? vt->create(params, &state) : LP_OK;
    params->spec = NULL;
    if (st != LP_OK)
        return st;
    t->steps[t->n].vt = vt;
    t->steps[t->n].state = state;
    t->n++;
    return LP_OK;
}

lowp_status lowp_transform_append(lowp_transform *t, const char *name, const lowp_params *params)
{
    if (!t || !name)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_transform_append: NULL argument");
    lowp_params view;
    lp_params_view_of(&view, params, name);
    return lp_transform_append_params(t, name, &view);
}

lowp_status lowp_transform_apply(const lowp_transform *t, lowp_sample *s, uint64_t seed)
{
    if (!s)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_transform_apply: NULL argument");
    bool ok = s->n_inputs >= 0 && s->n_inputs <= LOWP_SAMPLE_MAX_TENSORS && s->n_labels >= 0 &&
              s->n_labels <= LOWP_SAMPLE_MAX_TENSORS;
    for (int i = 0; ok && i < s->n_inputs + s->n_labels; i++)
        ok = (i < s->n_inputs ? s->inputs[i] : s->labels[i - s->n_inputs]) != NULL;
    if (!ok)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_transform_apply: a sample of %d inputs and "
                        "%d labels (0..%d each, none NULL)", s->n_inputs, s->n_labels,
                        LOWP_SAMPLE_MAX_TENSORS);
    uint64_t rng = seed;
    for (int i = 0; t && i < t->n; i++) {
        lp_status st = t->steps[i].vt->apply(t->steps[i].state, s, &rng);
        if (st != LP_OK) {
            lowp_sample_clear(s);
            return lp_error_prefix(st, "transform %s", t->steps[i].vt->name);
        }
    }
    return LP_OK;
}
