/* data.h — internals of the data layer: the dataset, transform and dataloader objects, the
 * built-in vtables, and helpers shared by their implementations. */
#ifndef LP_DATA_H
#define LP_DATA_H

#include "base/tensor.h"
#include "data/params.h"

struct lowp_dataset {
    const lowp_dataset_vtable *vt;
    void *state;
    int64_t length;
    char desc[320];            /* "FashionMNIST (/usr/share/datasets/fashion-mnist)" */
};

typedef struct lp_transform_step {
    const lowp_transform_vtable *vt;
    void *state;
} lp_transform_step;

struct lowp_transform {
    int n, cap;
    lp_transform_step *steps;
};

/* Built-in vtables, listed in one table each (dataset.c, transform.c). */
extern const lowp_dataset_vtable lp_ds_mnist, lp_ds_fashion_mnist, lp_ds_cifar10, lp_ds_cifar100,
    lp_ds_image_folder, lp_ds_imagenet_raw, lp_ds_npy, lp_ds_dummy, lp_ds_dummy_v2, lp_ds_coco_raw;
extern const lowp_transform_vtable lp_tf_rescale, lp_tf_normalize, lp_tf_resize, lp_tf_center_crop,
    lp_tf_random_crop, lp_tf_random_resized_crop, lp_tf_transpose, lp_tf_cast, lp_tf_to_array,
    lp_tf_crop_resize, lp_tf_label_shift, lp_tf_resize_crop_imagenet, lp_tf_bilinear_imagenet, lp_tf_to_tensor,
    lp_tf_random_hflip, lp_tf_random_vflip, lp_tf_align_channel, lp_tf_crop_to_box, lp_tf_pad, lp_tf_quantized_input,
    lp_tf_resize_with_ratio, lp_tf_padded_center_crop, lp_tf_color_jitter, lp_tf_to_ndarray;

/* Registry lookups (NULL when unknown). */
const lowp_dataset_vtable *lp_dataset_find(const char *name);
const lowp_transform_vtable *lp_transform_find(const char *name);
/* "MNIST, FashionMNIST, ..." for messages. */
void lp_dataset_names(char *buf, size_t size);
void lp_transform_names(char *buf, size_t size);

/* Opens/creates with params already placed in a lowp_params view (config and CLI use
 * these, so the params keep their file and key path for messages). */
lp_status lp_dataset_open_params(const char *name, lowp_params *params, lowp_dataset **out);
lp_status lp_transform_append_params(lowp_transform *t, const char *name, lowp_params *params);

/* Adds a new tensor to a sample as input or label. Frees `t` on failure. */
lp_status lp_sample_add_input(lowp_sample *s, lp_tensor *t);
lp_status lp_sample_add_label(lowp_sample *s, lp_tensor *t);
/* A new int64 scalar label. */
lp_status lp_sample_add_class(lowp_sample *s, int64_t label);

/* Images: decode a JPEG or PNG file into float32 (H,W,C) with values 0..255 (C = 1 or 3:
 * grayscale stays 1 channel, alpha and palettes become RGB). Errors name the file. */
lp_status lp_image_load(const char *path, lp_tensor **out);
/* The same from the file's bytes in memory; `path` names it in messages. */
lp_status lp_image_decode(const uint8_t *data, size_t size, const char *path, lp_tensor **out);

/* The image limits in force: LP_MAX_IMAGE_SIDE / LP_MAX_IMAGE_PIXELS (base/limits.h) unless
 * the environment variables LOWP_MAX_IMAGE_SIDE / LOWP_MAX_IMAGE_PIXELS say otherwise (a bad
 * value is an error naming the variable). */
typedef struct lp_image_limit {
    uint64_t side, pixels;
} lp_image_limit;
lp_status lp_image_limits(lp_image_limit *lim);

/* A new epoch order: the dataloader's seed becomes `seed` (a new permutation when it
 * shuffles, new random transforms) and it starts from the first batch. Sources: no effect. */
void lp_dataloader_reseed(lowp_dataloader *dl, uint64_t seed);
/* Batches per epoch (0 for a source of unknown length). */
int64_t lp_dataloader_batches(const lowp_dataloader *dl);

/* Reads exactly `size` bytes at `offset` (pread); errors name `what`. */
lp_status lp_read_at(int fd, void *buf, size_t size, int64_t offset, const char *what);

/* Windows over the epoch (distributed runs, src/dist). The epoch's units are its batches —
 * for a source, the sample positions (its batch sizes are its own: a batch belongs to the
 * window holding its first sample) — of the first `limit` samples (limit <= 0: all).
 * lp_dataloader_units: how many (-1: a source of unknown length). lp_dataloader_window
 * restricts the epoch to units [first, end) and resets; lp_dataloader_unwindow gives it back
 * whole. lp_dataloader_batch_position: the position in the epoch of the last batch's first
 * sample. */
int64_t lp_dataloader_units(const lowp_dataloader *dl, int64_t limit);
void lp_dataloader_window(lowp_dataloader *dl, int64_t first, int64_t end, int64_t limit);
void lp_dataloader_unwindow(lowp_dataloader *dl);
int64_t lp_dataloader_batch_position(const lowp_dataloader *dl);
/* Samples per batch (0: a source's batches, whose sizes are its own). */
int64_t lp_dataloader_batch_size(const lowp_dataloader *dl);
/* Samples in this rank's share (the whole length when not sharded). */
int64_t lp_dataloader_window_length(const lowp_dataloader *dl);

#endif
