/* fm_data.h — what the tuner tests share: a Fashion-MNIST dataloader normalized like the zoo
 * models' training, and the zoo MLP. Include after test.h. */
#ifndef LP_FM_DATA_H
#define LP_FM_DATA_H

#include <stdbool.h>

#include "lowp.h"

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

#endif
