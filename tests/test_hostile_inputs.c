/* test_hostile_inputs.c — every registered metric and transform (the registries are iterated,
 * so a new one is covered the day it is added) fed tensors built here with hostile labels,
 * predictions and shapes: INT64_MAX, INT64_MIN, -1, NaN, +-Inf, 1e300, fractions, empty
 * dims, mismatched batch sizes. Each call must give a clean error or a well-defined result
 * (never a crash, never NaN out of a metric); this program runs under ASan+UBSan in
 * `make test-asan`. On top of that, targeted rules that hold for every metric:
 *  - a metric that accepts a well-formed batch refuses the same batch with one label made
 *    hostile, naming the row, and its result is then the same as if that batch never came;
 *  - no metric accepts predictions and labels of different batch sizes. */
#include "test.h"

#include <stdint.h>
#include <zlib.h>

#include "base/tensor.h"
#include "data/data.h"
#include "lowp.h"
#include "metric/metric.h"

static uint64_t rng = 0x4057113ull;

static int64_t rnd(int64_t n) { return (int64_t)(lowp_random_next(&rng) % (uint64_t)n); }

/* Values that break code which trusts its input. */
static const double hostile[] = {
    (double)INT64_MAX, (double)INT64_MIN, -1, 0, 1, 2, 3, 9, 255, 256, NAN, INFINITY, -INFINITY,
    1e300, -1e300, 0.5, 2.5, 1e-300, 4294967296.0, 1048576.0,
};
#define N_HOSTILE ((int)(sizeof hostile / sizeof hostile[0]))

static const lp_dtype dtypes[] = {LP_F32, LP_F64, LP_I64, LP_I32, LP_U8, LP_U64, LP_I8, LP_F16, LP_BOOL};

/* Element i of t: a hostile value (int64 extremes stored exactly) or a small plausible one. */
static void set_value(lp_tensor *t, int64_t i, bool plausible)
{
    const lp_dtype_traits *tr = lp_dtype_traits_of(t->dtype);
    int k = (int)rnd(N_HOSTILE);
    if (plausible) {
        tr->set(t->data, i, (double)rnd(4));
        return;
    }
    if (t->dtype == LP_I64 && k < 2)
        ((int64_t *)t->data)[i] = k == 0 ? INT64_MAX : INT64_MIN;
    else if (t->dtype == LP_U64 && k < 2)
        ((uint64_t *)t->data)[i] = k == 0 ? UINT64_MAX : (uint64_t)1 << 63;
    else
        tr->set(t->data, i, hostile[k]);
}

/* A random tensor: rank 0..4, dims from {0,1,2,3,5} with dims[0] = n when n >= 0. */
static lp_tensor *random_tensor(int64_t n, bool plausible)
{
    static const int64_t sizes[] = {0, 1, 2, 3, 5};
    int ndim = (int)rnd(5);
    if (n >= 0 && ndim == 0)
        ndim = 1;
    int64_t dims[4];
    for (int d = 0; d < ndim; d++)
        dims[d] = sizes[rnd(5)];
    if (n >= 0)
        dims[0] = n;
    lp_tensor *t = NULL;
    lp_tensor_new(dtypes[rnd((int64_t)(sizeof dtypes / sizeof dtypes[0]))], ndim, dims, &t);
    for (int64_t i = 0; t && i < lp_tensor_numel(t); i++)
        set_value(t, i, plausible && rnd(8) != 0);
    return t;
}

/* The names in a registry, from its "a, b, c" listing. */
static int split_names(char *buf, char **names, int max)
{
    int n = 0;
    for (char *s = strtok(buf, ", "); s && n < max; s = strtok(NULL, ", "))
        names[n++] = s;
    return n;
}

static lowp_metric *make_metric(const char *name, const char *k, const char *v)
{
    lowp_params *p = NULL;
    lowp_metric *m = NULL;
    CHECK_OK(lowp_params_create(&p));
    if (k)
        CHECK_OK(lowp_params_set(p, k, v));
    lowp_status st = lowp_metric_create(name, p, &m);
    lowp_params_free(p);
    CHECK_MSG(st == LOWP_OK || !k, "metric %s with %s=%s: %s", name, k, v, lowp_last_error());
    return st == LOWP_OK ? m : NULL;
}

static lowp_status update(lowp_metric *m, int no, lp_tensor **o, int nl, lp_tensor **l)
{
    return lowp_metric_update(m, no, (const lowp_tensor *const *)o, nl, (const lowp_tensor *const *)l);
}

/* Param variants worth a pass each (defaults are always tried). */
static const struct { const char *metric, *key, *value; } variants[] = {
    {"topk", "k", "5"}, {"F1", "average", "binary"}, {"F1", "average", "macro"},
    {"F1", "average", "micro"}, {"mAP", "map_points", "11"}, {"mAP", "map_points", "101"},
};

/* Random batches of random tensors: errors must carry a message, results must not be NaN. */
static void fuzz_metric(const char *name, const char *k, const char *v)
{
    lowp_metric *m = make_metric(name, k, v);
    if (!m)
        return;
    for (int round = 0; round < 300; round++) {
        lp_tensor *o[4] = {0}, *l[3] = {0};
        int no = 1 + (int)rnd(4), nl = (int)rnd(4);
        int64_t n = rnd(4);
        for (int i = 0; i < no; i++)
            o[i] = random_tensor(rnd(5) ? n : rnd(4), rnd(2));
        for (int i = 0; i < nl; i++)
            l[i] = random_tensor(rnd(5) ? n : rnd(4), rnd(2));
        lowp_status st = update(m, no, o, nl, l);
        CHECK_MSG(st == LOWP_OK || *lowp_last_error(), "%s: an error without a message", name);
        double r = 0;
        st = lowp_metric_result(m, &r);
        CHECK_MSG(st != LOWP_OK || !isnan(r), "%s: NaN result after round %d", name, round);
        for (int i = 0; i < no; i++)
            lp_tensor_free(o[i]);
        for (int i = 0; i < nl; i++)
            lp_tensor_free(l[i]);
        if (rnd(16) == 0)
            lowp_metric_reset(m);
    }
    lowp_metric_free(m);
}

static void tensor_set(lp_tensor *t, int64_t i, double v)
{
    lp_dtype_traits_of(t->dtype)->set(t->data, i, v);
}

static lp_tensor *new_tensor(lp_dtype dt, int ndim, const int64_t *dims)
{
    lp_tensor *t = NULL;
    CHECK_OK(lp_tensor_new(dt, ndim, dims, &t));
    return t;
}

/* Well-formed batches the metrics of each family accept. */
typedef struct batch {
    int no, nl;
    lp_tensor *o[4], *l[2];
    int64_t rows;
} batch;

static void batch_free(batch *b)
{
    for (int i = 0; i < b->no; i++)
        lp_tensor_free(b->o[i]);
    for (int i = 0; i < b->nl; i++)
        lp_tensor_free(b->l[i]);
}

/* kind 0: scores (4,10) and class indices (4), int64; kind 1: the same with float labels;
 * kind 2: scores (4,3) and one-hot/0-1 labels (4,3) float (also what MSE/MAE/RMSE take);
 * kind 3: detections (boxes (2,3,4), scores, classes) and ground truth (boxes (2,2,4), classes);
 * kind 4: answer-span logits (start, end (2,5)) and gold spans (start, end (2,2), int64). */
#define N_KINDS 5
static batch valid_batch(int kind)
{
    batch b = {0};
    if (kind == 4) {
        int64_t dl[2] = {2, 5}, dg[2] = {2, 2};
        static const int64_t gs[4] = {1, -1, 0, 2}, ge[4] = {3, -1, 0, 4};
        b.no = b.nl = 2, b.rows = 2;
        for (int k = 0; k < 2; k++) {
            b.o[k] = new_tensor(LP_F32, 2, dl);
            b.l[k] = new_tensor(LP_I64, 2, dg);
            for (int64_t i = 0; i < 10; i++)
                ((float *)b.o[k]->data)[i] = (float)((i * 3 + k) % 7);
            memcpy(b.l[k]->data, k ? ge : gs, sizeof gs);
        }
        return b;
    }
    if (kind <= 2) {
        int64_t c = kind == 2 ? 3 : 10, ds[2] = {4, c}, dl[2] = {4, 3};
        b.no = b.nl = 1, b.rows = 4;
        b.o[0] = new_tensor(LP_F32, 2, ds);
        b.l[0] = new_tensor(kind == 0 ? LP_I64 : LP_F32, kind == 2 ? 2 : 1, dl);
        for (int64_t i = 0; i < 4 * c; i++)
            ((float *)b.o[0]->data)[i] = (float)((i * 7) % 11) / 3.0f;
        for (int64_t i = 0; i < 4; i++) {
            if (kind == 2)
                tensor_set(b.l[0], i * 3 + i % 3, 1.0);
            else
                tensor_set(b.l[0], i, (double)((i * 3) % 10));
        }
        return b;
    }
    int64_t db[3] = {2, 3, 4}, dd[2] = {2, 3}, gb[3] = {2, 2, 4}, gd[2] = {2, 2};
    b.no = 3, b.nl = 2, b.rows = 2;
    b.o[0] = new_tensor(LP_F32, 3, db);
    b.o[1] = new_tensor(LP_F32, 2, dd);
    b.o[2] = new_tensor(LP_F32, 2, dd);
    b.l[0] = new_tensor(LP_F32, 3, gb);
    b.l[1] = new_tensor(LP_F32, 2, gd);
    for (int64_t i = 0; i < 6; i++) {
        float *box = (float *)b.o[0]->data + i * 4;
        box[0] = box[1] = (float)(i % 3) * 0.2f, box[2] = box[3] = box[0] + 0.3f;
        ((float *)b.o[1]->data)[i] = 0.9f - 0.1f * (float)i;
        ((float *)b.o[2]->data)[i] = (float)(i % 2);
    }
    for (int64_t i = 0; i < 4; i++) {
        float *box = (float *)b.l[0]->data + i * 4;
        box[0] = box[1] = (float)(i % 2) * 0.2f, box[2] = box[3] = box[0] + 0.3f;
        ((float *)b.l[1]->data)[i] = (float)(i % 2);
    }
    return b;
}

/* Replaces element `e` of label tensor `which` with v (int64 extremes exactly). */
static void poison(batch *b, int which, int64_t e, double v, int k)
{
    lp_tensor *t = b->l[which];
    if (t->dtype == LP_I64 && k < 2)
        ((int64_t *)t->data)[e] = k == 0 ? INT64_MAX : INT64_MIN;
    else
        tensor_set(t, e, v);
}

static bool contains_row(int64_t row)
{
    char want[32];
    snprintf(want, sizeof want, "row %lld:", (long long)row);
    return strstr(lowp_last_error(), want) && lp_metric_failed_row() == row;
}

/* Whether label value h (element e of labels[0], row `row`) is one the metric legitimately
 * takes in batch family `kind` -- then it is not hostile to it. */
static bool label_fine(const char *name, int kind, const batch *p, int64_t row, int64_t e, double h)
{
    bool integer = isfinite(h) && h == floor(h);
    /* token ids are any integers; mIOU ignores class labels outside 0..num_classes-1 (VOC's
     * 255 "void"), as LPOT's mask does */
    if (!strcmp(name, "BLEU") && kind != 3)
        return p->l[0]->dtype == LP_I64 || (integer && fabs(h) < 9.2e18);
    if (!strcmp(name, "mIOU") && kind != 3)
        return p->l[0]->dtype == LP_I64 || integer;
    if (kind == 4) {   /* a gold span: 0 <= start <= end < 5, or both negative (absent) */
        double end = lp_tensor_get(p->l[1], e);
        bool any = false;
        for (int64_t j = row * 2; j < row * 2 + 2; j++)
            any |= (j == e ? h : lp_tensor_get(p->l[0], j)) >= 0;
        return any && ((h < 0 && end < 0) || (integer && h >= 0 && h <= end && end < 5));
    }
    return kind <= 1 ? (h >= 0 && h < 10 && h == floor(h))
         : kind == 2 ? isfinite(h)
                     : (h < 0 || (h < 1048576.0 && h == floor(h)));
}

/* For every metric and every batch family it accepts: one hostile label -> refused, row
 * named, state untouched; a batch-size mismatch -> refused. Every metric must accept one. */
static void targeted(const char *name, const char *k, const char *v)
{
    int accepted = 0;
    for (int kind = 0; kind < N_KINDS; kind++) {
        lowp_metric *m = make_metric(name, k, v), *ref = make_metric(name, k, v);
        if (!m || !ref) {
            lowp_metric_free(m);
            lowp_metric_free(ref);
            return;
        }
        batch b = valid_batch(kind);
        bool accepts = update(m, b.no, b.o, b.nl, b.l) == LOWP_OK;
        accepted += accepts;
        double want = 0;
        lowp_status want_st = LOWP_OK;   /* F1 'binary' on 10 classes: an error, and stays one */
        if (accepts) {
            CHECK_OK(update(ref, b.no, b.o, b.nl, b.l));
            want_st = lowp_metric_result(ref, &want);
        }
        for (int k2 = 0; accepts && k2 < N_HOSTILE; k2++) {
            batch p = valid_batch(kind);
            int64_t row = rnd(p.rows);
            int which = kind == 3 ? 1 : 0;
            int64_t per = lp_tensor_numel(p.l[which]) / p.rows, e = row * per + rnd(per);
            poison(&p, which, e, hostile[k2], k2);
            double h = lp_tensor_get(p.l[which], e);   /* as stored: int labels saturate */
            /* What a family legitimately takes is not hostile to it: class indices 0..9; any
             * finite one-hot/regression label (only non-finite ones are hostile to all);
             * ground-truth classes below 2^20, negative ones marking padding. */
            if (label_fine(name, kind, &p, row, e, h)) {
                batch_free(&p);
                continue;
            }
            lowp_status st = update(m, p.no, p.o, p.nl, p.l);
            CHECK_MSG(st != LOWP_OK && contains_row(row), "%s%s%s kind %d: label %g in row %lld: "
                      "status %d, '%s'", name, k ? " " : "", k ? v : "", kind, h, (long long)row, st,
                      lowp_last_error());
            double got = NAN;
            lowp_status got_st = lowp_metric_result(m, &got);
            CHECK_MSG(got_st == want_st && (got_st != LOWP_OK || got == want), "%s kind %d: a refused batch changed the result (%g -> %g)", name,
                      kind, want, got);
            batch_free(&p);
        }
        if (accepts && kind == 3) {   /* a hostile ground-truth box coordinate */
            batch p = valid_batch(kind);
            tensor_set(p.l[0], 4 + 2, NAN);   /* image 0, box 1 (class 1, not padding) */
            CHECK(update(m, p.no, p.o, p.nl, p.l) != LOWP_OK && contains_row(0));
            batch_free(&p);
            p = valid_batch(kind);   /* a detection class past the class limit (image 1) */
            tensor_set(p.o[2], 3 + 1, 1e300);
            CHECK(update(m, p.no, p.o, p.nl, p.l) != LOWP_OK && contains_row(1));
            batch_free(&p);
        }
        if (accepts) {   /* batch sizes differ: labels of 3 rows for predictions of 4 (or 2) */
            batch p = valid_batch(kind);
            int64_t dims[LP_MAX_DIMS];
            memcpy(dims, p.l[0]->dims, sizeof dims);
            dims[0] = p.rows - 1;
            lp_tensor *shorter = new_tensor(p.l[0]->dtype, p.l[0]->ndim, dims);
            lp_tensor_free(p.l[0]);
            p.l[0] = shorter;
            CHECK_MSG(update(m, p.no, p.o, p.nl, p.l) != LOWP_OK, "%s kind %d accepts %lld labels "
                      "for %lld predictions", name, kind, (long long)p.rows - 1, (long long)p.rows);
            batch_free(&p);
        }
        batch_free(&b);
        lowp_metric_free(m);
        lowp_metric_free(ref);
    }
    CHECK_MSG(accepted, "metric %s accepts none of the %d batch families: "
              "give it one here, so that its hostile cases run", name, N_KINDS);
}

static void test_metrics(void)
{
    char buf[1024], *names[64];
    lp_metric_names(buf, sizeof buf);
    int n = split_names(buf, names, 64);
    CHECK(n >= 9);
    for (int i = 0; i < n; i++) {
        fuzz_metric(names[i], NULL, NULL);
        targeted(names[i], NULL, NULL);
        for (size_t j = 0; j < sizeof variants / sizeof variants[0]; j++)
            if (!strcmp(variants[j].metric, names[i])) {
                fuzz_metric(names[i], variants[j].key, variants[j].value);
                targeted(names[i], variants[j].key, variants[j].value);
            }
    }
}

/* The F1 crash of the audit, exactly: a label of INT64_MAX against two-class scores. */
static void test_f1_int64_max(void)
{
    lowp_metric *m = make_metric("F1", NULL, NULL);
    int64_t ds[2] = {2, 2}, dl[1] = {2};
    lp_tensor *o = new_tensor(LP_F32, 2, ds), *l = new_tensor(LP_I64, 1, dl);
    ((int64_t *)l->data)[1] = INT64_MAX;
    CHECK(m && update(m, 1, &o, 1, &l) == LOWP_ERR_INVALID_ARGUMENT);
    CHECK(strstr(lowp_last_error(), "row 1: label 9223372036854775807 is not a class index"));
    lp_tensor_free(o);
    lp_tensor_free(l);
    lowp_metric_free(m);
}

/* Through lowp_evaluate: a label out of range in one sample of a shuffled, batched dataset is
 * refused with that sample's dataset index. */
static void test_evaluate_names_sample(void)
{
    char dir[] = "/tmp/lowp_hostile_XXXXXX", in[64], lab[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(in, sizeof in, "%s/x.npy", dir);
    snprintf(lab, sizeof lab, "%s/y.npy", dir);
    int64_t dx[4] = {12, 1, 28, 28}, dy[1] = {12};
    lp_tensor *x = new_tensor(LP_F32, 4, dx), *y = new_tensor(LP_I64, 1, dy);
    for (int64_t i = 0; i < 12; i++)
        ((int64_t *)y->data)[i] = i % 10;
    ((int64_t *)y->data)[7] = 10;   /* the mlp has 10 classes: 0..9 */
    CHECK_OK(lowp_tensor_save_npy(x, in));
    CHECK_OK(lowp_tensor_save_npy(y, lab));
    lowp_model *model = NULL;
    lowp_session *sess = NULL;
    lowp_dataset *ds = NULL;
    lowp_dataloader *dl = NULL;
    lowp_metric *m = make_metric("topk", NULL, NULL);
    lowp_params *p = NULL;
    CHECK_OK(lowp_model_load("models/mlp.onnx", &model));
    if (model)
        CHECK_OK(lowp_session_create(model, NULL, &sess));
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "inputs", in));
    CHECK_OK(lowp_params_set(p, "labels", lab));
    CHECK_OK(lowp_dataset_open("Npy", p, &ds));
    lowp_dataloader_options o = lowp_dataloader_options_default();
    o.batch_size = 5;
    o.shuffle = 1;
    if (ds)
        CHECK_OK(lowp_dataloader_create(ds, NULL, &o, &dl));
    if (sess && dl && m) {
        lowp_eval_result r;
        CHECK(lowp_evaluate(sess, model, dl, m, NULL, &r) == LOWP_ERR_INVALID_ARGUMENT);
        CHECK_MSG(strstr(lowp_last_error(), ": sample 7: metric topk: row ") &&
                  strstr(lowp_last_error(), "label 10 is not a class index of the 10 scores (0..9)"),
                  "%s", lowp_last_error());
    }
    lowp_dataloader_free(dl); /* and ds, which it owns */
    dl = NULL;
    ds = NULL;
    /* samples of the wrong width: refused naming both shapes, the model's with its symbol */
    lp_tensor_free(x);
    dx[3] = 27;
    x = new_tensor(LP_F32, 4, dx);
    CHECK_OK(lowp_tensor_save_npy(x, in));
    CHECK_OK(lowp_dataset_open("Npy", p, &ds));
    if (ds)
        CHECK_OK(lowp_dataloader_create(ds, NULL, &o, &dl));
    if (sess && dl && m) {
        lowp_eval_result r;
        CHECK(lowp_evaluate(sess, model, dl, m, NULL, &r) == LOWP_ERR_SHAPE);
        CHECK_MSG(strstr(lowp_last_error(), "float32[5,1,28,27] (batched) but the model's input 'input' is "
                                            "float32[batch,1,28,28]"),
                  "%s", lowp_last_error());
    }
    lowp_dataloader_free(dl);
    lowp_metric_free(m);
    lowp_params_free(p);
    lowp_session_free(sess);
    lowp_model_free(model);
    lp_tensor_free(x);
    lp_tensor_free(y);
    remove(in);
    remove(lab);
    remove(dir);
}

/* ---- datasets: files whose headers lie ---- */

static char ds_dir[64];

static void put_file(const char *name, const void *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", ds_dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, size, f) == size);
    if (f)
        fclose(f);
}

static void put_gz(const char *name, const void *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", ds_dir, name);
    gzFile g = gzopen(path, "wb");
    CHECK(g && gzwrite(g, data, (unsigned)size) == (int)size);
    if (g)
        gzclose(g);
}

/* Opens dataset `name` (one or two params); returns the status, the dataset in *out if asked. */
static lowp_status open_with(const char *name, const char *k1, const char *v1, const char *k2, const char *v2,
                             lowp_dataset **out)
{
    lowp_params *p = NULL;
    lowp_dataset *d = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, k1, v1));
    if (k2)
        CHECK_OK(lowp_params_set(p, k2, v2));
    lowp_status st = lowp_dataset_open(name, p, &d);
    lowp_params_free(p);
    if (out)
        *out = d;
    else
        lowp_dataset_free(d);
    return st;
}

#define CHECK_REFUSED(st, want) \
    CHECK_MSG((st) != LOWP_OK && strstr(lowp_last_error(), want), "wanted '%s', got '%s'", want, lowp_last_error())

static void test_idx_headers(void)
{
    unsigned char lab[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 2};
    unsigned char img[16 + 8] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2};
    put_file("t10k-labels-idx1-ubyte", lab, sizeof lab);
    /* 2^32-1 rows and columns: the product overflowed int64 (UB) before it was checked */
    memset(img + 8, 0xFF, 8);
    put_file("t10k-images-idx3-ubyte", img, sizeof img);
    CHECK_REFUSED(open_with("MNIST", "root", ds_dir, NULL, NULL, NULL), "bad image size 4294967295x4294967295");
    /* 2^32-1 images in a 24-byte file (a shuffling dataloader then wanted 32 GiB): refused at
     * open, plain and gzip'ed */
    memset(img + 4, 0xFF, 4);
    img[11] = 2, img[15] = 2, memset(img + 8, 0, 3), memset(img + 12, 0, 3);
    lab[4] = lab[5] = lab[6] = lab[7] = 0xFF;
    put_file("t10k-labels-idx1-ubyte", lab, sizeof lab);
    put_file("t10k-images-idx3-ubyte", img, sizeof img);
    CHECK_REFUSED(open_with("MNIST", "root", ds_dir, NULL, NULL, NULL),
                  "t10k-labels-idx1-ubyte: the header declares 4294967295 labels");
    char path[128];
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", ds_dir);
    remove(path);
    put_gz("t10k-labels-idx1-ubyte.gz", lab, sizeof lab);
    CHECK_REFUSED(open_with("MNIST", "root", ds_dir, NULL, NULL, NULL), "bytes) but the file (uncompressed) holds 10 bytes");
    /* the honest gzip'ed pair still opens and reads backwards (inflated to a temporary copy) */
    lab[4] = lab[5] = lab[6] = 0, lab[7] = 2, img[4] = img[5] = img[6] = 0, img[7] = 2;
    put_gz("t10k-labels-idx1-ubyte.gz", lab, sizeof lab);
    put_file("t10k-images-idx3-ubyte", img, sizeof img);
    lowp_dataset *d = NULL;
    CHECK_OK(open_with("MNIST", "root", ds_dir, NULL, NULL, &d));
    lowp_sample smp = {0};
    CHECK(d && lowp_dataset_length(d) == 2);
    CHECK_OK(lowp_dataset_get(d, 1, &smp));
    CHECK_OK(lowp_dataset_get(d, 0, &smp));
    CHECK(smp.n_labels == 1 && *(int64_t *)lowp_tensor_data(smp.labels[0]) == 1);
    lowp_sample_clear(&smp);
    lowp_dataset_free(d);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", ds_dir);
    remove(path);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", ds_dir);
    remove(path);
}

static void test_cifar_labels(void)
{
    static unsigned char rec[2 * 3073];
    rec[0] = 3, rec[3073] = 200;   /* sample 1: no CIFAR10 class */
    put_file("test_batch.bin", rec, sizeof rec);
    lowp_dataset *d = NULL;
    CHECK_OK(open_with("CIFAR10", "root", ds_dir, NULL, NULL, &d));
    lowp_sample smp = {0};
    CHECK_OK(lowp_dataset_get(d, 0, &smp));
    CHECK_REFUSED(lowp_dataset_get(d, 1, &smp), ": sample 1: ");
    CHECK(strstr(lowp_last_error(), "record 1 has label 200, not a CIFAR10 class (0..9)"));
    lowp_sample_clear(&smp);
    lowp_dataset_free(d);
    char path[128];
    snprintf(path, sizeof path, "%s/test_batch.bin", ds_dir);
    remove(path);
}

static void put_npy(const char *name, const char *descr, const char *shape, size_t data_bytes)
{
    char h[128];
    unsigned char buf[256] = {0};
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    while ((10 + k + 1) % 64)
        h[k++] = ' ';
    h[k++] = '\n';
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)k;
    memcpy(buf + 10, h, (size_t)k);
    put_file(name, buf, 10 + (size_t)k + data_bytes);
}

static void test_npy_shapes(void)
{
    char in[128];
    snprintf(in, sizeof in, "%s/x.npy", ds_dir);
    /* a sample shape whose element count overflows int64 */
    put_npy("x.npy", "<f4", "(3, 4611686018427387904, 4)", 16);
    CHECK_REFUSED(open_with("Npy", "inputs", in, NULL, NULL, NULL), "would be too large");
    /* samples x rows overflowing the size check */
    put_npy("x.npy", "<f4", "(4611686018427387904, 2)", 16);
    CHECK_REFUSED(open_with("Npy", "inputs", in, NULL, NULL, NULL), "file is truncated");
    /* 2^62 empty samples: a shuffling dataloader's permutation size wrapped around */
    put_npy("x.npy", "<f4", "(4611686018427387904, 0)", 0);
    lowp_dataset *d = NULL;
    CHECK_OK(open_with("Npy", "inputs", in, NULL, NULL, &d));
    lowp_dataloader_options o = lowp_dataloader_options_default();
    o.shuffle = 1;
    lowp_dataloader *dl = NULL;
    CHECK_REFUSED(d ? lowp_dataloader_create(d, NULL, &o, &dl) : LOWP_ERR_INTERNAL, "permutation");
    remove(in);
}

static void test_image_list(void)
{
    static const struct { const char *text, *want; } cases[] = {
        {"a.jpg 1\nb.jpg -1\n", "val.txt:2: expected 'file label'"},
        {"a.jpg 99999999999999999999\n", "val.txt:1: expected 'file label'"},
        {"a.jpg 1 2\n", "val.txt:1: expected 'file label'"},
        {"a.jpg\n", "val.txt:1: expected 'file label'"},
        {"a.jpg 1x\n", "val.txt:1: expected 'file label'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put_file("val.txt", cases[i].text, strlen(cases[i].text));
        CHECK_REFUSED(open_with("ImagenetRaw", "data_path", ds_dir, NULL, NULL, NULL), cases[i].want);
    }
    /* a line of 5000 bytes was read as two lines of 2047 and more */
    char *big = malloc(5010);
    memset(big, 'a', 5000);
    memcpy(big + 5000, " 3\n", 3);
    put_file("val.txt", big, 5003);
    CHECK_REFUSED(open_with("ImagenetRaw", "data_path", ds_dir, NULL, NULL, NULL), "val.txt:1: line longer than 4096");
    free(big);
    /* comments, blank lines, CRLF and tabs are fine */
    const char ok[] = "# list\n\n a.jpg\t7\r\nb.png 0\n";
    put_file("val.txt", ok, sizeof ok - 1);
    lowp_dataset *d = NULL;
    CHECK_OK(open_with("ImagenetRaw", "data_path", ds_dir, NULL, NULL, &d));
    CHECK(d && lowp_dataset_length(d) == 2);
    lowp_dataset_free(d);
    char path[128];
    snprintf(path, sizeof path, "%s/val.txt", ds_dir);
    remove(path);
}

static void test_datasets(void)
{
    snprintf(ds_dir, sizeof ds_dir, "/tmp/lowp_hostile_ds_XXXXXX");
    CHECK(mkdtemp(ds_dir) != NULL);
    test_idx_headers();
    test_cifar_labels();
    test_npy_shapes();
    test_image_list();
    remove(ds_dir);
}

/* ---- transforms ---- */

/* Valid params for each built-in transform; a transform missing here fails the test (add it,
 * so that its apply is exercised with hostile samples). */
static const struct { const char *name, *k[4], *v[4]; } tf_valid[] = {
    {"Rescale", {}, {}},
    {"Normalize", {"mean", "std"}, {"[0.5, 0.4, 0.3]", "[0.2, 0.2, 0.2]"}},
    {"Resize", {"size"}, {"[3, 2]"}},
    {"CenterCrop", {"size"}, {"2"}},
    {"RandomCrop", {"size"}, {"2"}},
    {"RandomResizedCrop", {"size"}, {"3"}},
    {"Transpose", {"perm"}, {"[2, 0, 1]"}},
    {"Cast", {"dtype"}, {"int8"}},
    {"ToArray", {}, {}},
    {"CropResize", {"x", "y", "width", "height"}, {"1", "0", "2", "2"}},
    {"LabelShift", {"label_shift"}, {"1"}},
    {"ResizeCropImagenet", {"height", "width"}, {"3", "3"}},
    {"BilinearImagenet", {"height", "width"}, {"3", "2"}},
    {"ToTensor", {}, {}},
    {"RandomHorizontalFlip", {}, {}},
    {"RandomVerticalFlip", {}, {}},
    {"AlignImageChannel", {"dim"}, {"3"}},
    {"CropToBoundingBox", {"offset_height", "offset_width", "target_height", "target_width"}, {"1", "0", "2", "2"}},
    {"Pad", {"padding", "padding_mode"}, {"[1, 2]", "reflect"}},
    {"QuantizedInput", {"dtype", "scale"}, {"uint8", "2"}},
    {"ResizeWithRatio", {"min_dim", "max_dim", "padding"}, {"6", "9", "true"}},
    {"PaddedCenterCrop", {"size", "crop_padding"}, {"3", "1"}},
    {"ColorJitter", {"brightness", "contrast", "saturation", "hue"}, {"0.4", "0.4", "0.4", "0.1"}},
    {"ToNDArray", {}, {}},
};

/* Hostile values by param type. */
static const char *const hostile_int[] = {"9223372036854775807", "-9223372036854775808", "-1", "0", "4294967296"};
static const char *const hostile_ints[] = {"[9223372036854775807]", "[-1, 5]", "[0]", "[1, 9223372036854775807]", "[]"};
static const char *const hostile_floats[] = {"[1e308, -1e308]", "[0]", "[-1]", "[1e-320, 1e-320]", "[5, 1]"};
static const char *const hostile_float[] = {"1e308", "-1e308", "0", "-1", "1e-320"};
static const char *const hostile_strings[] = {"", "nonsense", "float32", "nearest"};

/* A random sample of 1..3 inputs and 0..2 labels, shaped like images or not. */
static void random_sample(lowp_sample *s)
{
    memset(s, 0, sizeof *s);
    s->n_inputs = 1 + (int)rnd(3);
    s->n_labels = (int)rnd(3);
    for (int i = 0; i < s->n_inputs; i++) {
        static const int64_t shapes[][3] = {{5, 4, 3}, {3, 5, 4}, {1, 1, 1}, {0, 4, 3}, {4, 0, 1},
                                            {2, 7, 0}, {6, 6, 5}, {5, 5, 4}};
        int kind = (int)rnd(10);
        lp_tensor *t = NULL;
        if (kind < 8)
            lp_tensor_new(dtypes[rnd(6)], 2 + (int)rnd(2), shapes[kind], &t);
        else
            t = random_tensor(-1, false);
        for (int64_t j = 0; t && kind < 8 && j < lp_tensor_numel(t); j++)
            set_value(t, j, rnd(2));
        s->inputs[i] = t;
        if (!t)
            s->n_inputs = i;
    }
    for (int i = 0; i < s->n_labels; i++) {
        s->labels[i] = random_tensor(-1, false);
        if (!s->labels[i])
            s->n_labels = i;
    }
}

/* Every tensor of s is consistent (nbytes matches the dims). */
static bool sample_ok(const lowp_sample *s)
{
    for (int i = 0; i < s->n_inputs + s->n_labels; i++) {
        const lp_tensor *t = i < s->n_inputs ? s->inputs[i] : s->labels[i - s->n_inputs];
        if (!t || t->nbytes != (size_t)lp_tensor_numel(t) * lp_dtype_traits_of(t->dtype)->size)
            return false;
    }
    return true;
}

static void run_transform(const char *name, lowp_params *p)
{
    lowp_transform *tf = NULL;
    CHECK_OK(lowp_transform_create(&tf));
    lowp_status st = lowp_transform_append(tf, name, p);
    CHECK_MSG(st == LOWP_OK || *lowp_last_error(), "%s: an error without a message", name);
    for (int round = 0; st == LOWP_OK && round < 40; round++) {
        lowp_sample s;
        random_sample(&s);
        lowp_status a = lowp_transform_apply(tf, &s, (uint64_t)round);
        CHECK_MSG(a == LOWP_OK ? sample_ok(&s) : *lowp_last_error() != 0, "%s round %d", name, round);
        lowp_sample_clear(&s);
    }
    lowp_transform_free(tf);
}

static void test_transforms(void)
{
    char buf[1024], *names[64];
    lp_transform_names(buf, sizeof buf);
    int n = split_names(buf, names, 64);
    CHECK(n >= 11);
    for (int i = 0; i < n; i++) {
        size_t j = 0;
        while (j < sizeof tf_valid / sizeof tf_valid[0] && strcmp(tf_valid[j].name, names[i]))
            j++;
        CHECK_MSG(j < sizeof tf_valid / sizeof tf_valid[0], "transform %s has no case here", names[i]);
        if (j == sizeof tf_valid / sizeof tf_valid[0])
            continue;
        /* valid params */
        lowp_params *p = NULL;
        CHECK_OK(lowp_params_create(&p));
        for (int k = 0; k < 4 && tf_valid[j].k[k]; k++)
            CHECK_OK(lowp_params_set(p, tf_valid[j].k[k], tf_valid[j].v[k]));
        if (!strcmp(names[i], "CropResize"))   /* five required params */
            CHECK_OK(lowp_params_set(p, "size", "3"));
        run_transform(names[i], p);
        /* then each param of the spec made hostile in turn */
        const lowp_transform_vtable *vt = lp_transform_find(names[i]);
        for (const lowp_param_spec *sp = vt->params; sp && sp->name; sp++) {
            const char *const *vals = sp->type == LOWP_PARAM_INT ? hostile_int
                                    : sp->type == LOWP_PARAM_INT_LIST ? hostile_ints
                                    : sp->type == LOWP_PARAM_FLOAT_LIST ? hostile_floats
                                    : sp->type == LOWP_PARAM_FLOAT ? hostile_float
                                                                        : hostile_strings;
            int nv = vals == hostile_strings ? 4 : 5;   /* every other list has 5 */
            for (int k = 0; k < nv; k++) {
                CHECK_OK(lowp_params_set(p, sp->name, vals[k]));
                run_transform(names[i], p);
            }
        }
        lowp_params_free(p);
    }
}

int main(void)
{
    RUN(test_f1_int64_max);
    RUN(test_metrics);
    RUN(test_evaluate_names_sample);
    RUN(test_datasets);
    RUN(test_transforms);
    return TEST_SUMMARY("test_hostile_inputs");
}
