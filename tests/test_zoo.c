/* test_zoo.c — the zoo models (models/<name>.onnx) against PyTorch's own outputs on a fixed batch of
 * 8 Fashion-MNIST test images: max |lowp - torch| <= 1e-4 * max |torch| (float32 with a different
 * summation order differs by a few ulps per layer; 1e-4 of the logits' scale leaves two orders of
 * magnitude of headroom over what we measure, and is far below any change of decision), and the
 * same argmax for every image. Runs with and without graph passes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowp.h"
#include "test.h"

static const char *const zoo[] = { "resnet_s", "mobilenetv2_s", "mlp", "vit_s" };

static void check_model(const char *name, int optimize)
{
    char path[256];
    lowp_model *m = NULL;
    lowp_session *s = NULL;
    lowp_tensor *x = NULL, *want = NULL, *got = NULL;
    snprintf(path, sizeof path, "models/%s.onnx", name);
    CHECK_OK(lowp_model_load(path, &m));
    CHECK_OK(lowp_tensor_load_npy("models/fixed_batch_input.npy", &x));
    snprintf(path, sizeof path, "models/%s.fixed_batch_logits.npy", name);
    CHECK_OK(lowp_tensor_load_npy(path, &want));
    if (!m || !x || !want)
        goto done;
    lowp_session_options o = lowp_session_options_default();
    o.optimize = optimize;
    CHECK_OK(lowp_session_create(m, &o, &s));
    const char *in = lowp_model_input_name(m, 0);
    if (s)
        CHECK_OK(lowp_session_run(s, 1, &in, (const lowp_tensor *const *)&x, 1, &got));
    if (!got)
        goto done;
    CHECK(lowp_tensor_ndim(got) == 2 && lowp_tensor_dims(got)[0] == 8 && lowp_tensor_dims(got)[1] == 10);
    const float *g = lowp_tensor_data(got), *w = lowp_tensor_data(want);
    double scale = 0, err = 0;
    for (int i = 0; i < 80; i++) {
        scale = fmax(scale, fabs(w[i]));
        err = fmax(err, fabs((double)g[i] - w[i]));
    }
    CHECK_MSG(err <= 1e-4 * scale, "%s (optimize=%d): max abs error %.3g, logits scale %.3g", name, optimize, err, scale);
    for (int b = 0; b < 8; b++) {
        int ag = 0, aw = 0;
        for (int k = 1; k < 10; k++) {
            ag = g[b * 10 + k] > g[b * 10 + ag] ? k : ag;
            aw = w[b * 10 + k] > w[b * 10 + aw] ? k : aw;
        }
        CHECK_MSG(ag == aw, "%s image %d: lowp says %d, PyTorch %d", name, b, ag, aw);
    }
done:
    lowp_tensor_free(got);
    lowp_tensor_free(want);
    lowp_tensor_free(x);
    lowp_session_free(s);
    lowp_model_free(m);
}

static void test_zoo_optimized(void)
{
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++)
        check_model(zoo[i], 1);
}

static void test_zoo_unoptimized(void)
{
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++)
        check_model(zoo[i], 0);
}

/* One session, several batch sizes: each shape compiles its own plan; results per image agree. */
static void test_batch_sizes(void)
{
    lowp_model *m = NULL;
    lowp_session *s = NULL;
    lowp_tensor *x = NULL;
    CHECK_OK(lowp_model_load("models/resnet_s.onnx", &m));
    CHECK_OK(lowp_tensor_load_npy("models/fixed_batch_input.npy", &x));
    if (!m || !x)
        goto done;
    CHECK_OK(lowp_session_create(m, NULL, &s));
    const char *in = lowp_model_input_name(m, 0);
    lowp_tensor *full = NULL;
    CHECK_OK(lowp_session_run(s, 1, &in, (const lowp_tensor *const *)&x, 1, &full));
    const int sizes[] = { 1, 3, 8, 3, 1 };
    for (size_t k = 0; full && k < sizeof sizes / sizeof sizes[0]; k++) {
        int64_t dims[4] = { sizes[k], 1, 28, 28 };
        lowp_tensor *part = NULL, *y = NULL;
        CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 4, dims, lowp_tensor_data(x), &part));
        CHECK_OK(lowp_session_run(s, 1, &in, (const lowp_tensor *const *)&part, 1, &y));
        if (y) {
            const float *a = lowp_tensor_data(y), *b = lowp_tensor_data(full);
            double err = 0;
            for (int i = 0; i < sizes[k] * 10; i++)
                err = fmax(err, fabs((double)a[i] - b[i]));
            CHECK_MSG(err <= 1e-5, "batch %d differs from batch 8 by %g", sizes[k], err);
        }
        lowp_tensor_free(y);
        lowp_tensor_free(part);
    }
    lowp_tensor_free(full);
done:
    lowp_tensor_free(x);
    lowp_session_free(s);
    lowp_model_free(m);
}

int main(void)
{
    RUN(test_zoo_optimized);
    RUN(test_zoo_unoptimized);
    RUN(test_batch_sizes);
    return TEST_SUMMARY("test_zoo");
}
