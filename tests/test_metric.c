/* test_metric.c — each built-in metric against values computed independently with NumPy
 * (tests/fixtures, written by tools/gen_fixtures.py), fed in uneven batches; plus a
 * user-registered metric and parameter errors. */
#include "test.h"

#include "base/tensor.h"
#include "lowp.h"

#define FIX "tests/fixtures/"

static double expected(const char *name)
{
    FILE *f = fopen(FIX "metric_expected.txt", "r");
    char key[64];
    double v;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%63s %lf", key, &v) == 2 && !strcmp(key, name)) {
            fclose(f);
            return v;
        }
    if (f)
        fclose(f);
    printf("missing fixture value %s\n", name);
    return NAN;
}

static lowp_tensor *load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, FIX "%s", name);
    lowp_tensor *t = NULL;
    CHECK_OK(lowp_tensor_load_npy(path, &t));
    return t;
}

/* Rows [a, b) of t as a view. */
static lp_tensor rows(const lp_tensor *t, int64_t a, int64_t b)
{
    lp_tensor v;
    int64_t dims[LP_MAX_DIMS];
    memcpy(dims, t->dims, sizeof dims);
    dims[0] = b - a;
    size_t row = t->nbytes / (size_t)t->dims[0];
    lp_tensor_view(&v, t->dtype, t->ndim, dims, (char *)t->data + (size_t)a * row);
    return v;
}

/* Feeds n_out outputs and n_lab labels in batches of 13 rows; returns the result. */
static double score(const char *metric, const char *k, const char *v, int n_out, lowp_tensor **outs,
                    int n_lab, lowp_tensor **labs)
{
    lowp_params *p = NULL;
    lowp_metric *m = NULL;
    CHECK_OK(lowp_params_create(&p));
    if (k)
        CHECK_OK(lowp_params_set(p, k, v));
    CHECK_OK(lowp_metric_create(metric, p, &m));
    lowp_params_free(p);
    if (!m)
        return NAN;
    int64_t n = outs[0]->dims[0];
    for (int pass = 0; pass < 2; pass++) {   /* the second pass checks reset */
        lowp_metric_reset(m);
        for (int64_t a = 0; a < n; a += 13) {
            int64_t b = a + 13 < n ? a + 13 : n;
            lp_tensor ov[8], lv[8];
            const lowp_tensor *op[8], *lp[8];
            for (int i = 0; i < n_out; i++)
                ov[i] = rows(outs[i], a, b), op[i] = &ov[i];
            for (int i = 0; i < n_lab; i++)
                lv[i] = rows(labs[i], a, b), lp[i] = &lv[i];
            CHECK_OK(lowp_metric_update(m, n_out, op, n_lab, lp));
        }
    }
    double r = NAN;
    CHECK_OK(lowp_metric_result(m, &r));
    lowp_metric_free(m);
    return r;
}

static void test_classification(void)
{
    lowp_tensor *x = load("metric_logits.npy"), *y = load("metric_labels.npy");
    CHECK_NEAR(score("topk", NULL, NULL, 1, &x, 1, &y), expected("topk1"), 1e-12);
    CHECK_NEAR(score("topk", "k", "5", 1, &x, 1, &y), expected("topk5"), 1e-12);
    CHECK_NEAR(score("Accuracy", NULL, NULL, 1, &x, 1, &y), expected("accuracy"), 1e-12);
    CHECK_NEAR(score("Loss", NULL, NULL, 1, &x, 1, &y), expected("loss"), 1e-9);
    CHECK_NEAR(score("F1", NULL, NULL, 1, &x, 1, &y), expected("f1_macro"), 1e-12);
    CHECK_NEAR(score("F1", "average", "micro", 1, &x, 1, &y), expected("f1_micro"), 1e-12);
    lowp_tensor_free(x);
    lowp_tensor_free(y);
    x = load("metric_bin_scores.npy"), y = load("metric_bin_labels.npy");
    CHECK_NEAR(score("F1", NULL, NULL, 1, &x, 1, &y), expected("f1_binary"), 1e-12);
    lowp_tensor_free(x);
    lowp_tensor_free(y);
}

static void test_regression(void)
{
    lowp_tensor *p = load("metric_reg_pred.npy"), *t = load("metric_reg_true.npy");
    CHECK_NEAR(score("MAE", NULL, NULL, 1, &p, 1, &t), expected("mae"), 1e-9);
    CHECK_NEAR(score("MSE", NULL, NULL, 1, &p, 1, &t), expected("mse"), 1e-9);
    CHECK_NEAR(score("RMSE", "compare_label", "true", 1, &p, 1, &t), expected("rmse"), 1e-9);
    lowp_metric *m = NULL;
    lowp_params *q = NULL;
    CHECK_OK(lowp_params_create(&q));
    CHECK_OK(lowp_params_set(q, "compare_label", "false"));
    CHECK_OK(lowp_metric_create("MSE", q, &m));
    CHECK(m && lowp_metric_compare_label(m) == 0);
    CHECK(m && lowp_metric_higher_is_better(m) == 0);
    lowp_metric_free(m);
    lowp_params_free(q);
    lowp_tensor_free(p);
    lowp_tensor_free(t);
}

static void test_detection(void)
{
    lowp_tensor *o[3] = {load("metric_det_boxes.npy"), load("metric_det_scores.npy"), load("metric_det_classes.npy")};
    lowp_tensor *l[2] = {load("metric_gt_boxes.npy"), load("metric_gt_classes.npy")};
    CHECK_NEAR(score("mAP", NULL, NULL, 3, o, 2, l), expected("map_050_all"), 1e-9);
    CHECK_NEAR(score("mAP", "map_points", "11", 3, o, 2, l), expected("map_050_11"), 1e-9);
    CHECK_NEAR(score("COCOmAP", NULL, NULL, 3, o, 2, l), expected("coco_map"), 1e-9);
    /* VOCmAP is LPOT's mAP with VOC's defaults (IoU 0.5, area under the PR curve); COCOmAP takes
     * iou_thrs / map_points as LPOT does */
    CHECK_NEAR(score("VOCmAP", NULL, NULL, 3, o, 2, l), expected("map_050_all"), 1e-9);
    CHECK_NEAR(score("VOCmAP", "map_points", "11", 3, o, 2, l), expected("map_050_11"), 1e-9);
    CHECK_NEAR(score("COCOmAP", "iou_thrs", "0.5", 3, o, 2, l), score("mAP", "map_points", "101", 3, o, 2, l), 1e-12);
    for (int i = 0; i < 3; i++)
        lowp_tensor_free(o[i]);
    for (int i = 0; i < 2; i++)
        lowp_tensor_free(l[i]);
}

/* Hand-made cases: ties, one-hot labels, perfect detection. */
static void test_hand_cases(void)
{
    float s[2 * 3] = {1, 1, 0, 0, 2, 2};   /* ties: argmax takes the first */
    int64_t y[2] = {1, 2}, dims[2] = {2, 3}, ld[1] = {2};
    lowp_tensor *x = NULL, *l = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, dims, s, &x));
    CHECK_OK(lowp_tensor_create(LOWP_INT64, 1, ld, y, &l));
    CHECK_NEAR(score("topk", NULL, NULL, 1, &x, 1, &l), 0.0, 0);
    CHECK_NEAR(score("topk", "k", "2", 1, &x, 1, &l), 1.0, 0);
    CHECK_NEAR(score("Accuracy", NULL, NULL, 1, &x, 1, &l), 0.0, 0);
    lowp_tensor_free(l);
    float onehot[6] = {0, 1, 0, 0, 1, 0};
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, dims, onehot, &l));
    CHECK_NEAR(score("topk", NULL, NULL, 1, &x, 1, &l), 0.5, 0);   /* row 0: tie lost to index 0; row 1: right */
    lowp_tensor_free(l);
    lowp_tensor_free(x);
}

static void test_errors(void)
{
    lowp_metric *m = NULL;
    lowp_params *p = NULL;
    CHECK(lowp_metric_create("top5x", NULL, &m) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "unknown metric 'top5x'"));
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "k", "five"));
    CHECK(lowp_metric_create("topk", p, &m) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "topk.k: expected an integer, got 'five'"));
    lowp_params_free(p);
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "kk", "1"));
    CHECK(lowp_metric_create("topk", p, &m) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "unknown key 'kk'"));
    lowp_params_free(p);
    /* a shape mismatch is an error, not a crash */
    CHECK_OK(lowp_metric_create("topk", NULL, &m));
    float s[4] = {0};
    int64_t d2[2] = {2, 2}, d1[1] = {3}, y[3] = {0};
    lowp_tensor *x = NULL, *l = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d2, s, &x));
    CHECK_OK(lowp_tensor_create(LOWP_INT64, 1, d1, y, &l));
    const lowp_tensor *xo = x, *lo = l;
    CHECK(lowp_metric_update(m, 1, &xo, 1, &lo) == LOWP_ERR_SHAPE);
    CHECK(lowp_metric_update(m, 1, &xo, 0, NULL) == LOWP_ERR_INVALID_ARGUMENT);
    lowp_tensor_free(x);
    lowp_tensor_free(l);
    lowp_metric_free(m);
}

/* A user metric: the mean of the first output, registered by vtable. */
typedef struct { double sum, n; } mean_state;
static lowp_status mean_create(const lowp_params *p, void **out)
{
    (void)p;
    *out = calloc(1, sizeof(mean_state));
    return *out ? LOWP_OK : LOWP_ERR_OUT_OF_MEMORY;
}
static lowp_status mean_update(void *s, int no, const lowp_tensor *const *o, int nl, const lowp_tensor *const *l)
{
    (void)no, (void)nl, (void)l;
    mean_state *m = s;
    const float *x = lowp_tensor_data((lowp_tensor *)o[0]);
    for (int64_t i = 0; i < lowp_tensor_numel(o[0]); i++)
        m->sum += x[i], m->n += 1;
    return LOWP_OK;
}
static lowp_status mean_result(void *s, double *v)
{
    mean_state *m = s;
    *v = m->n ? m->sum / m->n : 0;
    return LOWP_OK;
}
static void mean_reset(void *s) { memset(s, 0, sizeof(mean_state)); }
static const lowp_metric_vtable mean_vt = {"OutputMean", NULL, 0, mean_create, mean_update, mean_result, mean_reset, free, NULL, NULL};

static void test_user_metric(void)
{
    CHECK_OK(lowp_metric_register(&mean_vt));
    CHECK(lowp_metric_register(&mean_vt) == LOWP_ERR_INVALID_ARGUMENT);
    float s[4] = {1, 2, 3, 6};
    int64_t d[2] = {2, 2};
    lowp_tensor *x = NULL;
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d, s, &x));
    CHECK_NEAR(score("OutputMean", NULL, NULL, 1, &x, 0, NULL), 3.0, 1e-12);
    lowp_tensor_free(x);
}

int main(void)
{
    RUN(test_classification);
    RUN(test_regression);
    RUN(test_detection);
    RUN(test_hand_cases);
    RUN(test_errors);
    RUN(test_user_metric);
    return TEST_SUMMARY("test_metric");
}
