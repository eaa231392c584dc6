/* test_coco.c — COCO-format annotation files: the bounded reader (hostile JSON refused with
 * file and line, unwanted values skipped), the COCORaw dataset (LPOT's box layout, skipped
 * images, LabelBalance, padding to the largest box count) and the detection metrics' anno_path
 * (classes renumbered by the file's categories), each against values worked out by hand. */
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "png_file.h"

#include "base/tensor.h"
#include "data/coco.h"
#include "lowp.h"

static char dir[256];

static void path_of(char *out, size_t n, const char *rel) { snprintf(out, n, "%s/%s", dir, rel); }

static void write_text(const char *rel, const char *text)
{
    char p[512];
    path_of(p, sizeof p, rel);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void write_png(const char *rel, int w, int h, int gray)
{
    char p[512];
    path_of(p, sizeof p, rel);
    lp_test_write_png(p, w, h, gray ? 1 : 3, 0, 7);
}

/* Reads JSON text through a file; returns the status (and frees what was read). */
static lowp_status read_json(const char *text, int cats_only, lp_coco **keep)
{
    write_text("t.json", text);
    char p[512];
    path_of(p, sizeof p, "t.json");
    lp_coco *c = NULL;
    lowp_status st = lp_coco_read(p, cats_only, &c);
    if (keep)
        *keep = c;
    else
        lp_coco_free(c);
    return st;
}

static void test_reader(void)
{
    lp_coco *c = NULL;
    /* escapes, unicode, skipped values of every kind (nested, empty, literals) */
    CHECK_OK(read_json("\xEF\xBB\xBF{\"info\": {\"a\": [1, {\"b\": [[], {}]}, true, false, null, -1.5e3, \"x\\\"y\"]},\n"
                       " \"images\": [{\"id\": 7, \"file_name\": \"d/\\u00e9t\\u00E9.png\", \"width\": 640, \"height\": 480,"
                       " \"extra\": [1,2]}],\n"
                       " \"annotations\": [{\"segmentation\": [[1,2,3,4]], \"image_id\": 7, \"bbox\": [1.5, 2, 3, 4],"
                       " \"category_id\": 18}, {\"image_id\": 7, \"category_id\": 1, \"bbox\": []}],\n"
                       " \"categories\": [{\"id\": 18, \"name\": \"dog\"}, {\"id\": 1, \"name\": \"person\"}]}\n",
                       0, &c));
    if (c) {
        CHECK(c->n_images == 1 && c->images[0].id == 7 && !strcmp(c->images[0].file_name, "d/\xC3\xA9t\xC3\xA9.png"));
        CHECK(c->images[0].width == 640 && c->images[0].height == 480);
        CHECK(c->n_anns == 2 && c->anns[0].has_bbox && c->anns[0].bbox[0] == 1.5 && c->anns[0].category_id == 18);
        CHECK(!c->anns[1].has_bbox);
        CHECK(c->n_cats == 2 && lp_coco_cat_index(c, 1) == 1 && lp_coco_cat_index(c, 5) == -1);
    }
    lp_coco_free(c);
    /* categories only: the rest is skipped, not checked for COCO fields */
    CHECK_OK(read_json("{\"images\": [{\"no\": 1}], \"categories\": [{\"id\": 3, \"name\": \"car\"}]}", 1, &c));
    CHECK(c && c->n_images == 0 && c->n_cats == 1);
    lp_coco_free(c);
    /* hostile texts: refused naming the file and line, never a crash */
    static const struct { const char *text, *why; } bad[] = {
        {"", "expected an object"},
        {"[1]", "expected an object"},
        {"{\"images\": [{\"id\": 1, \"file_name\": \"a.png\", \"width\": 1, \"height\": 1}", "expected ',' or ']'"},
        {"{\"a\": \"unterminated}", "a string is not closed"},
        {"{\"a\": \"\\x\"}", "a bad escape"},
        {"{\"a\": \"\\u0000\"}", "a NUL or unpaired surrogate"},
        {"{\"a\": \"\\ud800\"}", "unpaired surrogate"},
        {"{\"a\": \"tab\there\"}", "a control character"},
        {"{\"a\": 1e999}", "out-of-range number"},
        {"{\"a\": 01x}", "expected ',' or '}'"},
        {"{\"a\": tru}", "expected a value"},
        {"{\"a\": 1} x", "text after the top-level object"},
        {"{\"images\": [{\"id\": 1.5, \"file_name\": \"a.png\", \"width\": 1, \"height\": 1}]}", "an image's id must be an integer"},
        {"{\"images\": [{\"id\": 1, \"file_name\": \"../../etc/passwd\", \"width\": 1, \"height\": 1}]}", "without '..'"},
        {"{\"images\": [{\"id\": 1, \"file_name\": \"/etc/passwd\", \"width\": 1, \"height\": 1}]}", "relative path"},
        {"{\"images\": [{\"id\": 1, \"file_name\": \"a.png\", \"width\": 0, \"height\": 1}]}", "positive width and height"},
        {"{\"images\": [{\"id\": 1, \"file_name\": \"a.png\", \"width\": 1, \"height\": 1},"
         " {\"id\": 1, \"file_name\": \"b.png\", \"width\": 1, \"height\": 1}]}", "image id 1 appears twice"},
        {"{\"annotations\": [{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3]}]}", "a bbox must be"},
        {"{\"annotations\": [{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4, 5]}]}", "a bbox must be"},
        {"{\"annotations\": [{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, -3, 4]}]}", "width, height >= 0"},
        {"{\"annotations\": [{\"image_id\": 1, \"bbox\": [1, 2, 3, 4]}]}", "needs an image_id and a category_id"},
        {"{\"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 1, \"name\": \"b\"}]}", "category id 1 appears twice"},
        {"{\"categories\": [{\"id\": 1, \"name\": 5}]}", "expected a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lowp_status st = read_json(bad[i].text, 0, NULL);
        /* messages name the file (and the line, except for the duplicate-id checks) */
        CHECK_MSG(st != LOWP_OK && strstr(lowp_last_error(), "t.json: ") && strstr(lowp_last_error(), bad[i].why),
                  "case %zu: status %d, '%s'", i, st, lowp_last_error());
    }
    /* nesting: a skipped value of 64 levels is read, 65 refused (no recursion either way) */
    char deep[300];
    for (int levels = 64; levels <= 65; levels++) {
        int n = snprintf(deep, sizeof deep, "{\"x\": ");
        for (int i = 0; i < levels; i++)
            deep[n++] = '[';
        for (int i = 0; i < levels; i++)
            deep[n++] = ']';
        snprintf(deep + n, sizeof deep - (size_t)n, "}");
        lowp_status st = read_json(deep, 0, NULL);
        CHECK_MSG(levels == 64 ? st == LOWP_OK : st != LOWP_OK && strstr(lowp_last_error(), "nested deeper"),
                  "%d levels: %s", levels, lowp_last_error());
    }
}

static lowp_status open_coco(const char *k, const char *v, lowp_dataset **d)
{
    lowp_params *p = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "root", dir));
    if (k)
        CHECK_OK(lowp_params_set(p, k, v));
    lowp_status st = lowp_dataset_open("COCORaw", p, d);
    lowp_params_free(p);
    return st;
}

static const char *instances =
    "{\"images\": [\n"
    "  {\"id\": 5, \"file_name\": \"a.png\", \"width\": 8, \"height\": 4},\n"
    "  {\"id\": 6, \"file_name\": \"gone.png\", \"width\": 8, \"height\": 4},\n"
    "  {\"id\": 7, \"file_name\": \"b.png\", \"width\": 10, \"height\": 20},\n"
    "  {\"id\": 8, \"file_name\": \"c.png\", \"width\": 4, \"height\": 4}],\n"
    " \"annotations\": [\n"
    "  {\"image_id\": 7, \"category_id\": 3, \"bbox\": [1, 2, 4, 10]},\n"
    "  {\"image_id\": 5, \"category_id\": 1, \"bbox\": [2, 1, 4, 2]},\n"
    "  {\"image_id\": 6, \"category_id\": 1, \"bbox\": [0, 0, 1, 1]},\n"
    "  {\"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 5, 5]},\n"
    "  {\"image_id\": 7, \"category_id\": 99, \"bbox\": [0, 0, 5, 5]},\n"
    "  {\"image_id\": 8, \"category_id\": 1, \"bbox\": []}],\n"
    " \"categories\": [{\"id\": 1, \"name\": \"person\"}, {\"id\": 3, \"name\": \"car\"}]}\n";

static void test_coco_raw(void)
{
    write_text("annotations/instances_val2017.json", instances);
    write_png("val2017/a.png", 8, 4, 1);
    write_png("val2017/b.png", 10, 20, 0);
    write_png("val2017/c.png", 4, 4, 0);
    lowp_dataset *d = NULL;
    /* a.png (1 box) and b.png (2 boxes: category 99 is not listed); gone.png is missing and
     * c.png has no box: both left out, as LPOT's COCORaw does */
    CHECK_OK(open_coco(NULL, NULL, &d));
    CHECK(d && lowp_dataset_length(d) == 2);
    lowp_sample s = {0};
    if (d && lowp_dataset_get(d, 0, &s) == LOWP_OK) {
        CHECK(s.n_inputs == 1 && s.n_labels == 3);
        const int64_t *dims = lowp_tensor_dims(s.inputs[0]);
        CHECK(dims[0] == 4 && dims[1] == 8 && dims[2] == 3);   /* grey made RGB */
        const float *x = lowp_tensor_data(s.inputs[0]);
        CHECK(x[3 * 5] == x[3 * 5 + 1] && x[3 * 5 + 1] == x[3 * 5 + 2] && x[3 * 5] == (float)(unsigned char)(5 * 7));
        /* boxes padded to 2: [y/h, x/w, (y+bh)/h, (x+bw)/w] = [1/4, 2/8, 3/4, 6/8], then zeros */
        const float *b = lowp_tensor_data(s.labels[0]);
        const int64_t *cls = lowp_tensor_data(s.labels[1]);
        CHECK(lowp_tensor_dims(s.labels[0])[0] == 2 && b[0] == 0.25f && b[1] == 0.25f && b[2] == 0.75f && b[3] == 0.75f);
        CHECK(b[4] == 0 && b[7] == 0);
        CHECK(cls[0] == 1 && cls[1] == -1);
        CHECK(*(const int64_t *)lowp_tensor_data(s.labels[2]) == 5);
    }
    lowp_sample_clear(&s);
    if (d && lowp_dataset_get(d, 1, &s) == LOWP_OK) {
        /* b.png: the file's order within the image: car [2/20, 1/10, 12/20, 5/10], person */
        const float *b = lowp_tensor_data(s.labels[0]);
        const int64_t *cls = lowp_tensor_data(s.labels[1]);
        CHECK(b[0] == 0.1f && b[1] == 0.1f && b[2] == 0.6f && b[3] == 0.5f && cls[0] == 3 && cls[1] == 1);
        CHECK(b[4] == 0 && b[6] == 0.25f && b[7] == 0.5f);
    }
    lowp_sample_clear(&s);
    lowp_dataset_free(d);
    /* LabelBalance size 2: b.png only */
    CHECK_OK(open_coco("label_balance", "2", &d));
    CHECK(d && lowp_dataset_length(d) == 1);
    lowp_dataset_free(d);
    /* nothing left: the message says why */
    CHECK(open_coco("label_balance", "3", &d) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "no image to use (4 listed: 1 files missing"));
    CHECK(open_coco("num_cores", "4", &d) == LOWP_ERR_UNSUPPORTED && strstr(lowp_last_error(), "LPOT's COCORaw does not take it"));
    /* img_dir / anno_dir as LPOT's COCORaw takes them; a missing annotation file names itself */
    CHECK(open_coco("anno_dir", "nope.json", &d) != LOWP_OK && strstr(lowp_last_error(), "nope.json"));
}

/* One image, ground truth class 3 (COCO id) at box A and class 1 at box B; the model
 * detects A as class 2 and B as class 1. Without anno_path: A is a miss (class 3 has one
 * ground truth, no detection: AP 0), B a hit (AP 1): mAP 0.5. With anno_path listing the
 * categories [1, 3], ground truth 3 becomes 2 and 1 becomes 1: both hit, mAP 1. */
static void test_anno_path(void)
{
    write_text("annotations/instances_val2017.json", instances);
    float db[1 * 2 * 4] = {0, 0, .5f, .5f, .5f, .5f, 1, 1}, ds[2] = {.9f, .8f}, dc[2] = {2, 1};
    float gb[1 * 2 * 4] = {0, 0, .5f, .5f, .5f, .5f, 1, 1}, gc[2] = {3, 1};
    int64_t d3[3] = {1, 2, 4}, d2[2] = {1, 2};
    lowp_tensor *o[3] = {NULL}, *l[2] = {NULL};
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 3, d3, db, &o[0]));
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d2, ds, &o[1]));
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d2, dc, &o[2]));
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 3, d3, gb, &l[0]));
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d2, gc, &l[1]));
    char anno[512];
    path_of(anno, sizeof anno, "annotations/instances_val2017.json");
    for (int with = 0; with < 2; with++) {
        for (int k = 0; k < 3; k++) {
            const char *name = k == 0 ? "mAP" : k == 1 ? "COCOmAP" : "VOCmAP";
            lowp_params *p = NULL;
            lowp_metric *m = NULL;
            CHECK_OK(lowp_params_create(&p));
            if (with)
                CHECK_OK(lowp_params_set(p, "anno_path", anno));
            CHECK_OK(lowp_metric_create(name, p, &m));
            lowp_params_free(p);
            double v = -1;
            if (m) {
                CHECK_OK(lowp_metric_update(m, 3, (const lowp_tensor *const *)o, 2, (const lowp_tensor *const *)l));
                CHECK_OK(lowp_metric_result(m, &v));
            }
            CHECK_MSG(v == (with ? 1.0 : 0.5), "%s %s anno_path: %g", name, with ? "with" : "without", v);
            lowp_metric_free(m);
        }
    }
    /* a ground-truth class the file does not list is refused, naming the row */
    gc[0] = 2;
    lowp_tensor_free(l[1]);
    CHECK_OK(lowp_tensor_create(LOWP_FLOAT, 2, d2, gc, &l[1]));
    lowp_params *p = NULL;
    lowp_metric *m = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "anno_path", anno));
    CHECK_OK(lowp_metric_create("COCOmAP", p, &m));
    CHECK(m && lowp_metric_update(m, 3, (const lowp_tensor *const *)o, 2, (const lowp_tensor *const *)l) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "row 0: ground-truth box 0 has class 2, which is not a category id of anno_path"));
    lowp_metric_free(m);
    /* a missing or malformed anno_path is an error naming the key */
    CHECK_OK(lowp_params_set(p, "anno_path", "/nonexistent/instances.json"));
    CHECK(lowp_metric_create("COCOmAP", p, &m) != LOWP_OK && strstr(lowp_last_error(), "anno_path") &&
          strstr(lowp_last_error(), "/nonexistent/instances.json"));
    write_text("cats.json", "{\"categories\": []}");
    path_of(anno, sizeof anno, "cats.json");
    CHECK_OK(lowp_params_set(p, "anno_path", anno));
    CHECK(lowp_metric_create("mAP", p, &m) != LOWP_OK && strstr(lowp_last_error(), "lists no categories"));
    lowp_params_free(p);
    for (int i = 0; i < 3; i++)
        lowp_tensor_free(o[i]);
    for (int i = 0; i < 2; i++)
        lowp_tensor_free(l[i]);
}

int main(void)
{
    if (!lp_test_tmpdir(dir, sizeof dir, "coco"))
        return 1;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/annotations", dir);
    if (mkdir(sub, 0700) != 0)
        return 1;
    snprintf(sub, sizeof sub, "%s/val2017", dir);
    if (mkdir(sub, 0700) != 0)
        return 1;
    RUN(test_reader);
    RUN(test_coco_raw);
    RUN(test_anno_path);
    lp_test_rmtree(dir);
    return TEST_SUMMARY("test_coco");
}
