/* test_data_transforms.c — each built-in transform against hand-computed values, Compose
 * order, determinism of the random ones, a user transform, and parameter errors. */
#include "test.h"

#include "lowp.h"

static lowp_tensor *tensor(int ndim, const int64_t *dims, const float *v)
{
    lowp_tensor *t = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, ndim, dims, v, &t));
    return t;
}

/* Applies transform NAME (params as a NULL-ended list of "key", "value" pairs) to a copy of
 * `t`. */
static lowp_tensor *apply_kv(const char *name, lowp_tensor *t, uint64_t seed, const char *const *kv)
{
    lowp_params *p = NULL;
    lowp_transform *tf = NULL;
    CHECK_OK(lowp_params_create(&p));
    for (int i = 0; kv[i]; i += 2)
        CHECK_OK(lowp_params_set(p, kv[i], kv[i + 1]));
    CHECK_OK(lowp_transform_create(&tf));
    lowp_status st = lowp_transform_append(tf, name, p);
    lowp_params_free(p);
    if (st != LOWP_OK) {   /* callers expecting success check the NULL */

        lowp_transform_free(tf);
        return NULL;
    }
    lowp_sample s = {0};
    CHECK_OK(lowp_tensor_create(lowp_tensor_dtype(t), lowp_tensor_ndim(t), lowp_tensor_dims(t),
                                lowp_tensor_data(t), &s.inputs[0]));
    s.n_inputs = 1;
    int64_t five = 5;
    CHECK_OK(lowp_tensor_create(LOWP_INT64, 0, NULL, &five, &s.labels[0]));
    s.n_labels = 1;
    st = lowp_transform_apply(tf, &s, seed);
    lowp_transform_free(tf);
    if (st != LOWP_OK) {

        return NULL;
    }
    CHECK(*(int64_t *)lowp_tensor_data(s.labels[0]) == (strcmp(name, "LabelShift") ? 5 : 4));
    lowp_tensor *out = s.inputs[0];
    lowp_tensor_free(s.labels[0]);
    return out;
}

/* The same with up to 3 pairs. */
static lowp_tensor *apply(const char *name, lowp_tensor *t, uint64_t seed, const char *k1, const char *v1,
                          const char *k2, const char *v2, const char *k3, const char *v3)
{
    const char *kv[7] = {k1, v1, k2, v2, k3, v3, NULL};
    if (!k3) kv[4] = NULL;
    if (!k2) kv[2] = NULL;
    if (!k1) kv[0] = NULL;
    return apply_kv(name, t, seed, kv);
}

static void check_values(lowp_tensor *t, int ndim, const int64_t *dims, const float *want, double tol)
{
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(lowp_tensor_ndim(t) == ndim);
    for (int i = 0; i < ndim && i < lowp_tensor_ndim(t); i++)
        CHECK_MSG(lowp_tensor_dims(t)[i] == dims[i], "dim %d: %lld != %lld", i,
                  (long long)lowp_tensor_dims(t)[i], (long long)dims[i]);
    if (lowp_tensor_numel(t) != lowp_tensor_numel(t))
        return;
    const float *x = lowp_tensor_data(t);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    for (int64_t i = 0; i < n && i < lowp_tensor_numel(t); i++)
        CHECK_MSG(fabs(x[i] - want[i]) <= tol, "element %lld: %.9g != %.9g", (long long)i, x[i], want[i]);
    lowp_tensor_free(t);
}

static void test_rescale_normalize(void)
{
    int64_t d[1] = {4};
    float v[4] = {0, 255, 51, 128};
    lowp_tensor *t = tensor(1, d, v);
    const float k = (float)(1.0 / 255.0);   /* x * (1/255) in float32, as the zoo's preprocessing */
    float want[4] = {0, 255 * k, 51 * k, 128 * k};
    check_values(apply("Rescale", t, 0, NULL, NULL, NULL, NULL, NULL, NULL), 1, d, want, 0);
    lowp_tensor_free(t);
    /* per channel on HWC (1,2,3): mean 1 2 3, std 2 4 8 */
    int64_t hwc[3] = {1, 2, 3};
    float x[6] = {1, 2, 3, 5, 10, 19};
    t = tensor(3, hwc, x);
    float w2[6] = {0, 0, 0, 2, 2, 2};
    check_values(apply("Normalize", t, 0, "mean", "[1, 2, 3]", "std", "[2, 4, 8]", NULL, NULL), 3, hwc, w2, 0);
    lowp_tensor_free(t);
    /* CHW (3,1,5): the last dim is > 4, so the channel axis is the first */
    int64_t chw[3] = {3, 1, 5};
    float y[15], w3[15];
    for (int i = 0; i < 15; i++) {
        y[i] = (float)i;
        w3[i] = ((float)i - (float)(i / 5 + 1)) / (float)(2 << (i / 5));
    }
    t = tensor(3, chw, y);
    check_values(apply("Normalize", t, 0, "mean", "[1, 2, 3]", "std", "[2, 4, 8]", NULL, NULL), 3, chw, w3, 0);
    lowp_tensor_free(t);
    /* a scalar mean/std, float32 arithmetic as in the zoo: (x - 0.286f) / 0.353f */
    t = tensor(1, d, v);
    float w4[4];
    for (int i = 0; i < 4; i++)
        w4[i] = (v[i] - 0.286f) / 0.353f;
    check_values(apply("Normalize", t, 0, "mean", "0.286", "std", "0.353", NULL, NULL), 1, d, w4, 0);
    CHECK(apply("Normalize", t, 0, "mean", "[1, 2]", "std", "[1, 2]", NULL, NULL) == NULL);
    lowp_tensor_free(t);
}

static void test_resize(void)
{
    int64_t hw[2] = {2, 2}, o[2] = {4, 4};
    float v[4] = {0, 10, 20, 30};
    lowp_tensor *t = tensor(2, hw, v);
    /* half-pixel centres: source coords -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped) */
    float bil[16] = {0, 2.5f, 7.5f, 10, 5, 7.5f, 12.5f, 15, 15, 17.5f, 22.5f, 25, 20, 22.5f, 27.5f, 30};
    check_values(apply("Resize", t, 0, "size", "4", NULL, NULL, NULL, NULL), 2, o, bil, 1e-5);
    float nn[16] = {0, 0, 10, 10, 0, 0, 10, 10, 20, 20, 30, 30, 20, 20, 30, 30};
    check_values(apply("Resize", t, 0, "size", "[4, 4]", "interpolation", "nearest", NULL, NULL), 2, o, nn, 0);
    /* downscale 4 -> 2 (HWC with one channel): averages of the 2x2 centres */
    lowp_tensor_free(t);
    int64_t h4[3] = {4, 4, 1}, h2[3] = {2, 2, 1};
    float big[16];
    for (int i = 0; i < 16; i++)
        big[i] = (float)i;
    t = tensor(3, h4, big);
    float down[4] = {2.5f, 4.5f, 10.5f, 12.5f};
    check_values(apply("Resize", t, 0, "size", "2", NULL, NULL, NULL, NULL), 3, h2, down, 1e-5);
    CHECK(apply("Resize", t, 0, "size", "2", "interpolation", "lanczos", NULL, NULL) == NULL);
    /* bicubic (OpenCV INTER_CUBIC): the same size is the identity (weights 0,1,0,0); on a ramp
     * of slope 1, upscaled 2x, inner outputs fall at fractions t = 0.25 / 0.75 past a source
     * pixel, where OpenCV's a = -0.75 kernel gives sum(i * w_i) = 1.296875 / 1.703125 over its
     * taps at -1..2 (a = -0.5 would give 1.25 / 1.75: a = -0.75 sharpens) */
    check_values(apply("Resize", t, 0, "size", "4", "interpolation", "bicubic", NULL, NULL), 3, h4, big, 1e-6);
    lowp_tensor_free(t);
    float ramp[4 * 8];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++)
            ramp[y * 8 + x] = (float)x;
    int64_t r48[2] = {4, 8}, r4x16[2] = {4, 16};
    t = tensor(2, r48, ramp);
    lowp_tensor *up = apply("Resize", t, 0, "size", "[4, 16]", "interpolation", "bicubic", NULL, NULL);
    CHECK(up && lowp_tensor_dims(up)[0] == r4x16[0] && lowp_tensor_dims(up)[1] == r4x16[1]);
    if (up) {
        const float *u = lowp_tensor_data(up);
        for (int x = 0; x < 16; x++) {
            double rx = (x + 0.5) * 0.5 - 0.5;
            int bx = (int)floor(rx);
            double want = (bx - 1) + (rx - bx < 0.5 ? 1.296875 : 1.703125);
            if (bx - 1 >= 0 && bx + 2 <= 7)
                CHECK_MSG(fabs(u[2 * 16 + x] - want) < 1e-5, "x %d: %g != %g", x, u[2 * 16 + x], want);
        }
        lowp_tensor_free(up);
    }
    lowp_tensor_free(t);
}

static void test_crops(void)
{
    int64_t h5[2] = {5, 5}, o2[2] = {2, 2}, o23[2] = {2, 3};
    float v[25];
    for (int i = 0; i < 25; i++)
        v[i] = (float)i;
    lowp_tensor *t = tensor(2, h5, v);
    float cc[4] = {6, 7, 11, 12};   /* top = left = (5 - 2) / 2 = 1 */
    check_values(apply("CenterCrop", t, 0, "size", "2", NULL, NULL, NULL, NULL), 2, o2, cc, 0);
    float cc23[6] = {6, 7, 8, 11, 12, 13};   /* [h, w] = [2, 3]: left = 1 */
    check_values(apply("CenterCrop", t, 0, "size", "[2, 3]", NULL, NULL, NULL, NULL), 2, o23, cc23, 0);
    CHECK(apply("CenterCrop", t, 0, "size", "6", NULL, NULL, NULL, NULL) == NULL);
    /* RandomCrop: a window of the input, the same for the same seed */
    lowp_tensor *a = apply("RandomCrop", t, 7, "size", "3", NULL, NULL, NULL, NULL);
    lowp_tensor *b = apply("RandomCrop", t, 7, "size", "3", NULL, NULL, NULL, NULL);
    if (a && b) {
        const float *x = lowp_tensor_data(a);
        CHECK(lowp_tensor_dims(a)[0] == 3 && lowp_tensor_dims(a)[1] == 3);
        CHECK(!memcmp(x, lowp_tensor_data(b), 9 * sizeof(float)));
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                CHECK(x[r * 3 + c] == x[0] + (float)(5 * r + c));
    }
    lowp_tensor_free(a);
    lowp_tensor_free(b);
    int distinct = 0;
    float first = -1;
    for (uint64_t seed = 0; seed < 20; seed++) {
        a = apply("RandomCrop", t, seed, "size", "3", NULL, NULL, NULL, NULL);
        if (a && seed == 0)
            first = ((float *)lowp_tensor_data(a))[0];
        else if (a)
            distinct |= ((float *)lowp_tensor_data(a))[0] != first;
        lowp_tensor_free(a);
    }
    CHECK(distinct);
    a = apply("RandomResizedCrop", t, 3, "size", "[4, 3]", NULL, NULL, NULL, NULL);
    b = apply("RandomResizedCrop", t, 3, "size", "[4, 3]", NULL, NULL, NULL, NULL);
    CHECK(a && b && lowp_tensor_dims(a)[0] == 4 && lowp_tensor_dims(a)[1] == 3);
    if (a && b)
        CHECK(!memcmp(lowp_tensor_data(a), lowp_tensor_data(b), 12 * sizeof(float)));
    lowp_tensor_free(a);
    lowp_tensor_free(b);
    /* scale [1, 1] and ratio [1, 1]: the whole image, resized */
    a = apply("RandomResizedCrop", t, 3, "size", "5", "scale", "[1.0, 1.0]", "ratio", "[1.0, 1.0]");
    if (a)
        CHECK(!memcmp(lowp_tensor_data(a), v, sizeof v));
    lowp_tensor_free(a);
    lowp_tensor_free(t);
}

/* CropResize needs 5 params; the helper takes 3, so the 4th and 5th go in this wrapper. */
static void test_crop_resize_full(void)
{
    int64_t h4[2] = {4, 4}, o[2] = {2, 2};
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = (float)i;
    lowp_tensor *t = tensor(2, h4, v);
    lowp_params *p = NULL;
    lowp_transform *tf = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "x", "0"));
    CHECK_OK(lowp_params_set(p, "y", "0"));
    CHECK_OK(lowp_params_set(p, "width", "4"));
    CHECK_OK(lowp_params_set(p, "height", "2"));
    CHECK_OK(lowp_params_set(p, "size", "[2, 2]"));
    CHECK_OK(lowp_transform_create(&tf));
    CHECK_OK(lowp_transform_append(tf, "CropResize", p));
    lowp_params_free(p);
    lowp_sample s = {0};
    s.inputs[s.n_inputs++] = t;
    CHECK_OK(lowp_transform_apply(tf, &s, 0));
    /* the 2x4 box (rows 0..1) resized to 2x2: source rows 0 and 1, columns
     * (x + 0.5) * 2 - 0.5 = 0.5 and 2.5, so values r*4 + 0.5 and r*4 + 2.5 */
    const float *x = s.n_inputs ? lowp_tensor_data(s.inputs[0]) : NULL;
    if (x) {
        /* source rows: (0+0.5)*1-0.5 = 0 and 1; columns: (x+0.5)*2-0.5 = 0.5, 2.5 */
        CHECK_NEAR(x[0], 0.5, 1e-6);
        CHECK_NEAR(x[1], 2.5, 1e-6);
        CHECK_NEAR(x[2], 4.5, 1e-6);
        CHECK_NEAR(x[3], 6.5, 1e-6);
        CHECK(lowp_tensor_dims(s.inputs[0])[0] == o[0]);
    }
    lowp_sample_clear(&s);
    lowp_transform_free(tf);
}

static void test_transpose_cast(void)
{
    int64_t d[3] = {2, 3, 4}, o[3] = {4, 2, 3};
    float v[24];
    for (int i = 0; i < 24; i++)
        v[i] = (float)i;
    lowp_tensor *t = tensor(3, d, v);
    float want[24];
    for (int c = 0; c < 4; c++)
        for (int h = 0; h < 2; h++)
            for (int w = 0; w < 3; w++)
                want[(c * 2 + h) * 3 + w] = v[(h * 3 + w) * 4 + c];
    check_values(apply("Transpose", t, 0, "perm", "[2, 0, 1]", NULL, NULL, NULL, NULL), 3, o, want, 0);
    CHECK(apply("Transpose", t, 0, "perm", "[1, 0]", NULL, NULL, NULL, NULL) == NULL);
    lowp_tensor_free(t);
    int64_t d4[1] = {4};
    float c[4] = {3.7f, -1.5f, 200.0f, 0.2f};
    t = tensor(1, d4, c);
    lowp_tensor *r = apply("Cast", t, 0, "dtype", "int32", NULL, NULL, NULL, NULL);
    CHECK(r && lowp_tensor_dtype(r) == LOWP_INT32);
    if (r) {
        const int32_t *x = lowp_tensor_data(r);
        CHECK(x[0] == 3 && x[1] == -1 && x[2] == 200 && x[3] == 0);
    }
    lowp_tensor_free(r);
    r = apply("ToArray", t, 0, NULL, NULL, NULL, NULL, NULL, NULL);
    check_values(r, 1, d4, c, 0);
    r = apply("LabelShift", t, 0, "label_shift", "1", NULL, NULL, NULL, NULL);   /* label 5 -> 4 */
    lowp_tensor_free(r);
    CHECK(apply("Cast", t, 0, "dtype", "float33", NULL, NULL, NULL, NULL) == NULL);
    lowp_tensor_free(t);
}

static void test_compose(void)
{
    /* Rescale then Normalize differs from Normalize then Rescale: order is kept */
    lowp_transform *tf = NULL;
    lowp_params *p = NULL;
    CHECK_OK(lowp_transform_create(&tf));
    CHECK_OK(lowp_transform_append(tf, "Rescale", NULL));
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "mean", "[0.5]"));
    CHECK_OK(lowp_params_set(p, "std", "[0.5]"));
    CHECK_OK(lowp_transform_append(tf, "Normalize", p));
    lowp_params_free(p);
    CHECK(lowp_transform_count(tf) == 2);
    int64_t d[1] = {2};
    float v[2] = {0, 255};
    lowp_sample s = {0};
    s.inputs[s.n_inputs++] = tensor(1, d, v);
    CHECK_OK(lowp_transform_apply(tf, &s, 0));
    const float *x = lowp_tensor_data(s.inputs[0]);
    CHECK(x[0] == -1.0f && x[1] == 1.0f);
    lowp_sample_clear(&s);
    lowp_transform_free(tf);
    /* errors: unknown transform, unknown key, wrong type */
    CHECK_OK(lowp_transform_create(&tf));
    CHECK(lowp_transform_append(tf, "Rescalee", NULL) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "unknown transform 'Rescalee'"));
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "sise", "3"));
    CHECK(lowp_transform_append(tf, "Resize", p) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "Resize.sise: unknown key 'sise'"));
    CHECK_OK(lowp_params_set(p, "sise", "[a, b]"));
    lowp_params_free(p);
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "size", "[a, b]"));
    CHECK(lowp_transform_append(tf, "Resize", p) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "expected a list of integers"));
    lowp_params_free(p);
    CHECK(lowp_transform_count(tf) == 0);
    lowp_transform_free(tf);
}

/* A user transform: adds `amount` to every input element. */
static lowp_status add_create(const lowp_params *p, void **out)
{
    double *a = malloc(sizeof *a);
    lowp_status st = lowp_params_get_float(p, "amount", 1.0, a);
    *out = a;
    return st;
}
static lowp_status add_apply(void *state, lowp_sample *s, uint64_t *rng)
{
    (void)rng;
    float *x = lowp_tensor_data(s->inputs[0]);
    for (int64_t i = 0; i < lowp_tensor_numel(s->inputs[0]); i++)
        x[i] += (float)*(double *)state;
    return LOWP_OK;
}
static const lowp_param_spec add_params[] = {{"amount", LOWP_PARAM_FLOAT, 0, 1}, {NULL, 0, 0, 0}};
static const lowp_transform_vtable add_vt = {"AddConst", add_params, add_create, add_apply, free};

static void test_user_transform(void)
{
    CHECK_OK(lowp_transform_register(&add_vt));
    int64_t d[1] = {2};
    float v[2] = {1, 2}, want[2] = {3.5f, 4.5f};
    lowp_tensor *t = tensor(1, d, v);
    check_values(apply("AddConst", t, 0, "amount", "2.5", NULL, NULL, NULL, NULL), 1, d, want, 0);
    lowp_tensor_free(t);
}

/* LPOT's ImageNet pipelines on an 8x12 RGB image whose pixel (y,x,c) is 10y + x + 100c (0..255):
 * ResizeCropImagenet with resize_side 8 keeps the size (shorter side 8), so its output is the
 * centred 4x6 window, /255, normalized per channel, in (C,H,W); BilinearImagenet with
 * central_fraction 0.5 crops rows 2..5 and columns 3..8 and resizes to the same 4x6 (exact). */
static void test_imagenet_pipelines(void)
{
    float v[8 * 12 * 3];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 12; x++)
            for (int c = 0; c < 3; c++)
                v[(y * 12 + x) * 3 + c] = (float)(10 * y + x + 100 * c);
    int64_t dims[3] = {8, 12, 3};
    lowp_tensor *t = tensor(3, dims, v);
    const double mean[3] = {0, 0, 0}, std[3] = {0.229, 0.224, 0.225};   /* LPOT's defaults */
    float want[3 * 4 * 6];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++)
                want[(c * 4 + y) * 6 + x] = (float)(((10 * (y + 2) + (x + 3) + 100 * c) / 255.0 - mean[c]) / std[c]);
    int64_t chw[3] = {3, 4, 6};
    check_values(apply("ResizeCropImagenet", t, 1, "height", "4", "width", "6", "resize_side", "8"), 3, chw, want,
                 1e-5);
    float want2[4 * 6 * 3];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 6; x++)
            for (int c = 0; c < 3; c++)
                want2[(y * 6 + x) * 3 + c] = (float)((((10 * (y + 2) + (x + 3) + 100 * c) / 255.0 - 0.5) * 2.0 - 0.1 * c) * 2.0);
    int64_t hwc[3] = {4, 6, 3};
    /* mean_value and scale too */
    const char *const bli_kv[] = {"height", "4", "width", "6", "central_fraction", "0.5", "mean_value", "[0, 0.1, 0.2]",
                                  "scale", "2", NULL};
    check_values(apply_kv("BilinearImagenet", t, 1, bli_kv), 3, hwc, want2, 1e-5);
    /* a crop larger than the resized image is an error naming the sizes */
    CHECK(apply("ResizeCropImagenet", t, 1, "height", "300", "width", "6", NULL, NULL) == NULL);
    CHECK(strstr(lowp_last_error(), "smaller than the 300x6 crop"));
    lowp_tensor_free(t);
}

/* ToTensor, flips, AlignImageChannel, CropToBoundingBox, Pad and QuantizedInput by hand. */
static void test_lpot_small_transforms(void)
{
    /* a 2x3 image, 2 channels (HWC): value 10y + x + 100c */
    float v[2 * 3 * 2];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < 2; c++)
                v[(y * 3 + x) * 2 + c] = (float)(10 * y + x + 100 * c);
    int64_t dims[3] = {2, 3, 2};
    lowp_tensor *t = tensor(3, dims, v);
    /* ToTensor of a float image: CHW, values unchanged (uint8 would be scaled by 1/255) */
    const float chw_want[12] = {0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112};
    int64_t chw[3] = {2, 2, 3};
    check_values(apply("ToTensor", t, 1, NULL, NULL, NULL, NULL, NULL, NULL), 3, chw, chw_want, 0);
    uint8_t u[6] = {0, 51, 102, 153, 204, 255};
    int64_t hw[2] = {2, 3};
    lowp_tensor *tu = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_UINT8, 2, hw, u, &tu));
    const float u_want[6] = {0, 0.2f, 0.4f, 0.6f, 0.8f, 1};
    int64_t c1[3] = {1, 2, 3};
    check_values(apply("ToTensor", tu, 1, NULL, NULL, NULL, NULL, NULL, NULL), 3, c1, u_want, 1e-7);
    lowp_tensor_free(tu);
    /* flips: each seed flips or not; over 32 seeds both happen, and a flip mirrors exactly */
    const float h_want[12] = {2, 102, 1, 101, 0, 100, 12, 112, 11, 111, 10, 110};
    const float v_want[12] = {10, 110, 11, 111, 12, 112, 0, 100, 1, 101, 2, 102};
    for (int k = 0; k < 2; k++) {
        int flipped = 0, kept = 0;
        for (uint64_t seed = 1; seed <= 32; seed++) {
            lowp_tensor *o = apply(k ? "RandomVerticalFlip" : "RandomHorizontalFlip", t, seed, NULL, NULL, NULL,
                                   NULL, NULL, NULL);
            CHECK(o != NULL);
            if (!o)
                continue;
            const float *x = lowp_tensor_data(o);
            int same = !memcmp(x, v, sizeof v), mirrored = !memcmp(x, k ? v_want : h_want, sizeof v);
            CHECK(same || mirrored);
            flipped += mirrored, kept += same;
            lowp_tensor_free(o);
        }
        CHECK_MSG(flipped > 0 && kept > 0, "flip %d: %d flipped, %d kept", k, flipped, kept);
    }
    /* CropToBoundingBox: row 1, columns 1..2 */
    const float box_want[4] = {11, 111, 12, 112};
    int64_t bd[3] = {1, 2, 2};
    const char *const box_kv[] = {"offset_height", "1", "offset_width", "1", "target_height", "1", "target_width", "2",
                                  NULL};
    check_values(apply_kv("CropToBoundingBox", t, 1, box_kv), 3, bd, box_want, 0);
    lowp_tensor_free(t);

    /* Pad a 1x4 grey row [1 2 3 4] by 2 on the left and right (numpy.pad's modes) */
    float row[4] = {1, 2, 3, 4};
    int64_t rd[2] = {1, 4}, pd[2] = {1, 8};
    lowp_tensor *r = tensor(2, rd, row);
    const float cst[8] = {9, 9, 1, 2, 3, 4, 9, 9}, edge[8] = {1, 1, 1, 2, 3, 4, 4, 4},
                refl[8] = {3, 2, 1, 2, 3, 4, 3, 2}, sym[8] = {2, 1, 1, 2, 3, 4, 4, 3};
    check_values(apply("Pad", r, 1, "padding", "[2, 0]", "fill", "9", NULL, NULL), 2, pd, cst, 0);
    check_values(apply("Pad", r, 1, "padding", "[2, 0]", "padding_mode", "edge", NULL, NULL), 2, pd, edge, 0);
    check_values(apply("Pad", r, 1, "padding", "[2, 0]", "padding_mode", "reflect", NULL, NULL), 2, pd, refl, 0);
    check_values(apply("Pad", r, 1, "padding", "[2, 0]", "padding_mode", "symmetric", NULL, NULL), 2, pd, sym, 0);
    CHECK(apply("Pad", r, 1, "padding", "[4, 0]", "padding_mode", "reflect", NULL, NULL) == NULL);
    CHECK(apply("Pad", r, 1, "padding", "1", "padding_mode", "wrap", NULL, NULL) == NULL);
    lowp_tensor_free(r);

    /* AlignImageChannel: RGB -> grey by luma, grey -> RGB by repetition, RGBA -> RGB */
    float rgb[3] = {100, 50, 10}, grey[1] = {7}, rgba[4] = {1, 2, 3, 4};
    int64_t d3[3] = {1, 1, 3}, d1[2] = {1, 1}, d4[3] = {1, 1, 4}, o1[3] = {1, 1, 1}, o3[3] = {1, 1, 3};
    lowp_tensor *a = tensor(3, d3, rgb), *g = tensor(2, d1, grey), *a4 = tensor(3, d4, rgba);
    const float luma[1] = {0.299f * 100 + 0.587f * 50 + 0.114f * 10}, rep[3] = {7, 7, 7}, drop[3] = {1, 2, 3};
    check_values(apply("AlignImageChannel", a, 1, "dim", "1", NULL, NULL, NULL, NULL), 3, o1, luma, 1e-4);
    check_values(apply("AlignImageChannel", g, 1, "dim", "3", NULL, NULL, NULL, NULL), 3, o3, rep, 0);
    check_values(apply("AlignImageChannel", a4, 1, "dim", "3", NULL, NULL, NULL, NULL), 3, o3, drop, 0);
    CHECK(apply("AlignImageChannel", a, 1, "dim", "2", NULL, NULL, NULL, NULL) == NULL);
    lowp_tensor_free(a), lowp_tensor_free(g), lowp_tensor_free(a4);

    /* QuantizedInput: round(x * scale), saturated */
    float q[4] = {-3, 0.4f, 1.6f, 300};
    int64_t qd[1] = {4};
    lowp_tensor *qt = tensor(1, qd, q);
    lowp_tensor *o = apply("QuantizedInput", qt, 1, "dtype", "uint8", "scale", "2", NULL, NULL);
    CHECK(o && lowp_tensor_dtype(o) == LOWP_UINT8);
    if (o) {
        const uint8_t *x = lowp_tensor_data(o);
        CHECK_MSG(x[0] == 0 && x[1] == 1 && x[2] == 3 && x[3] == 255, "%d %d %d %d", x[0], x[1], x[2], x[3]);
        lowp_tensor_free(o);
    }
    CHECK(apply("QuantizedInput", qt, 1, "dtype", "float16", NULL, NULL, NULL, NULL) == NULL);
    lowp_tensor_free(qt);
}

/* ResizeWithRatio, PaddedCenterCrop and ColorJitter against values worked out by hand. */
static void test_ratio_crop_jitter(void)
{
    /* (2,4,1) of 7s, min_dim 4: scale max(1, 4/2) = 2 makes the long side 8 > max_dim 6, so
     * scale 6/4: (3,6), still 7s (bilinear of a constant) */
    float sevens[8] = {7, 7, 7, 7, 7, 7, 7, 7}, want18[18];
    for (int i = 0; i < 18; i++)
        want18[i] = 7;
    int64_t d241[3] = {2, 4, 1}, d361[3] = {3, 6, 1};
    lowp_tensor *x = tensor(3, d241, sevens);
    check_values(apply("ResizeWithRatio", x, 0, "min_dim", "4", "max_dim", "6", NULL, NULL), 3, d361, want18, 0);
    /* never down to min_dim: a side already larger stays as it is */
    check_values(apply("ResizeWithRatio", x, 0, "min_dim", "1", "max_dim", "0", NULL, NULL), 3, d241, sevens, 0);
    /* padding to max_dim 8 (min_dim 0: no upscale): placed at top (8-2)/2 = 3, left (8-4)/2 = 2;
     * the box [0, 0, 1, 1] becomes [(0*2+3)/8, (0*4+2)/8, (1*2+3)/8, (1*4+2)/8] */
    lowp_params *p = NULL;
    lowp_transform *tf = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "min_dim", "0"));
    CHECK_OK(lowp_params_set(p, "max_dim", "8"));
    CHECK_OK(lowp_params_set(p, "padding", "true"));
    CHECK_OK(lowp_transform_create(&tf));
    CHECK_OK(lowp_transform_append(tf, "ResizeWithRatio", p));
    lowp_sample s = {0};
    float box[8] = {0, 0, 1, 1, 0.5f, 0.5f, 1, 1};
    int64_t db[2] = {2, 4};
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 3, d241, sevens, &s.inputs[0]));
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, db, box, &s.labels[0]));
    s.n_inputs = s.n_labels = 1;
    CHECK_OK(lowp_transform_apply(tf, &s, 0));
    if (s.n_inputs == 1) {
        const int64_t *d = lowp_tensor_dims(s.inputs[0]);
        CHECK(d[0] == 8 && d[1] == 8 && d[2] == 1);
        const float *o = lowp_tensor_data(s.inputs[0]), *b = lowp_tensor_data(s.labels[0]);
        CHECK(o[3 * 8 + 2] == 7 && o[4 * 8 + 5] == 7 && o[0] == 0 && o[5 * 8 + 2] == 0 && o[3 * 8 + 6] == 0);
        CHECK(b[0] == 0.375f && b[1] == 0.25f && b[2] == 0.625f && b[3] == 0.75f);
        CHECK(b[4] == 0.5f && b[5] == 0.5f);   /* (0.5*2+3)/8, (0.5*4+2)/8 */
    }
    lowp_sample_clear(&s);
    /* padding with a label that is not boxes is refused, not silently left alone */
    int64_t five = 5;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 3, d241, sevens, &s.inputs[0]));
    CHECK_OK(lowp_tensor_create(LOWP_INT64, 0, NULL, &five, &s.labels[0]));
    s.n_inputs = s.n_labels = 1;
    CHECK(lowp_transform_apply(tf, &s, 0) != LOWP_OK && strstr(lowp_last_error(), "not float boxes"));
    lowp_sample_clear(&s);
    lowp_transform_free(tf);
    lowp_params_free(p);
    lowp_tensor_free(x);

    /* PaddedCenterCrop size 3, crop_padding 1 on (5,6,1) values 0..29: side int(3/4 * 5) = 3,
     * top (5-3+1)/2 = 1, left (6-3+1)/2 = 2 */
    float v30[30], want9[9];
    for (int i = 0; i < 30; i++)
        v30[i] = (float)i;
    for (int y = 0; y < 3; y++)
        for (int xx = 0; xx < 3; xx++)
            want9[y * 3 + xx] = (float)((y + 1) * 6 + xx + 2);
    int64_t d561[3] = {5, 6, 1}, d331[3] = {3, 3, 1};
    x = tensor(3, d561, v30);
    check_values(apply("PaddedCenterCrop", x, 0, "size", "3", "crop_padding", "1", NULL, NULL), 3, d331, want9, 0);
    CHECK(apply("PaddedCenterCrop", x, 0, "size", "[3, 4]", NULL, NULL, NULL, NULL) == NULL &&
          strstr(lowp_last_error(), "the crop is square"));
    lowp_tensor_free(x);

    /* ColorJitter on an RGB (2,2,3) image of mid values (no clamping):
     * brightness alone scales every value by one factor in [0.5, 1.5]; the same seed gives the
     * same factor, another seed another */
    float rgb[12] = {100, 120, 90, 60, 70, 80, 110, 100, 90, 128, 128, 128};
    int64_t d223[3] = {2, 2, 3};
    x = tensor(3, d223, rgb);
    lowp_tensor *a = apply("ColorJitter", x, 3, "brightness", "0.5", NULL, NULL, NULL, NULL),
                *b = apply("ColorJitter", x, 3, "brightness", "0.5", NULL, NULL, NULL, NULL),
                *c = apply("ColorJitter", x, 4, "brightness", "0.5", NULL, NULL, NULL, NULL);
    if (a && b && c) {
        const float *pa = lowp_tensor_data(a), *pb = lowp_tensor_data(b), *pc = lowp_tensor_data(c);
        double f = pa[0] / rgb[0];
        CHECK(f >= 0.5 && f <= 1.5);
        for (int i = 0; i < 12; i++) {
            CHECK_NEAR(pa[i], rgb[i] * f, 1e-3);   /* float32 products */
            CHECK(pa[i] == pb[i]);
        }
        CHECK(pc[0] != pa[0]);
    }
    lowp_tensor_free(a), lowp_tensor_free(b), lowp_tensor_free(c);
    /* contrast alone: out - m = f (x - m) around the image's mean grey m (luma 0.299/0.587/0.114) */
    double m = 0;
    for (int i = 0; i < 4; i++)
        m += 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
    m /= 4;
    a = apply("ColorJitter", x, 5, "contrast", "0.5", NULL, NULL, NULL, NULL);
    if (a) {
        const float *pa = lowp_tensor_data(a);
        double f = (pa[0] - m) / (rgb[0] - m);
        CHECK(f >= 0.5 && f <= 1.5);
        for (int i = 0; i < 12; i++)
            CHECK_NEAR(pa[i] - m, f * (rgb[i] - m), 1e-3);
    }
    lowp_tensor_free(a);
    /* saturation and hue leave a grey pixel (the last) grey; hue keeps each pixel's max and min
     * (value and saturation): pixel 0 (100, 120, 90) keeps 120 and 90 */
    a = apply("ColorJitter", x, 6, "saturation", "0.9", "hue", "0.5", NULL, NULL);
    if (a) {
        const float *pa = lowp_tensor_data(a);
        CHECK_NEAR(pa[9], 128, 1e-3);
        CHECK_NEAR(pa[10], 128, 1e-3);
        CHECK_NEAR(pa[11], 128, 1e-3);
    }
    lowp_tensor_free(a);
    a = apply("ColorJitter", x, 7, "hue", "0.5", NULL, NULL, NULL, NULL);
    if (a) {
        const float *pa = lowp_tensor_data(a);
        double mx = fmax(pa[0], fmax(pa[1], pa[2])), mn = fmin(pa[0], fmin(pa[1], pa[2]));
        CHECK_NEAR(mx, 120, 1e-3);
        CHECK_NEAR(mn, 90, 1e-3);
        CHECK(!(pa[0] == 100 && pa[1] == 120 && pa[2] == 90));   /* a factor of exactly 0 is unlikely */
    }
    lowp_tensor_free(a);
    CHECK(apply("ColorJitter", x, 0, "hue", "0.6", NULL, NULL, NULL, NULL) == NULL &&
          strstr(lowp_last_error(), "hue must be in 0..0.5"));
    lowp_tensor_free(x);
}

int main(void)
{
    RUN(test_imagenet_pipelines);
    RUN(test_ratio_crop_jitter);
    RUN(test_lpot_small_transforms);
    RUN(test_rescale_normalize);
    RUN(test_resize);
    RUN(test_crops);
    RUN(test_crop_resize_full);
    RUN(test_transpose_cast);
    RUN(test_compose);
    RUN(test_user_transform);
    return TEST_SUMMARY("test_data_transforms");
}
