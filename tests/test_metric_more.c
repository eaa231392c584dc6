/* test_metric_more.c — mIOU, BLEU and SquadF1 against values worked out by hand (the derivation
 * beside each), fed whole and split into batches (the result must not depend on the split). */
#include "test.h"

#include "base/tensor.h"
#include "lowp.h"

static lowp_tensor *ten(lowp_dtype dt, int ndim, const int64_t *dims, const void *data)
{
    lowp_tensor *t = NULL;
    CHECK_OK(lowp_tensor_create(dt, ndim, dims, data, &t));
    return t;
}

static lowp_metric *make(const char *name, const char *k, const char *v, const char *k2, const char *v2)
{
    lowp_params *p = NULL;
    lowp_metric *m = NULL;
    CHECK_OK(lowp_params_create(&p));
    if (k)
        CHECK_OK(lowp_params_set(p, k, v));
    if (k2)
        CHECK_OK(lowp_params_set(p, k2, v2));
    CHECK_OK(lowp_metric_create(name, p, &m));
    lowp_params_free(p);
    return m;
}

/* Rows [a, b) of t as a view. */
static lp_tensor rows(const lp_tensor *t, int64_t a, int64_t b)
{
    lp_tensor v;
    int64_t dims[LP_MAX_DIMS];
    memcpy(dims, t->dims, sizeof dims);
    dims[0] = b - a;
    size_t row = t->dims[0] ? t->nbytes / (size_t)t->dims[0] : 0;
    lp_tensor_view(&v, t->dtype, t->ndim, dims, (char *)t->data + (size_t)a * row);
    return v;
}

/* The metric over all rows in batches of `step`; also checks a second pass after reset. */
static double score(const char *name, const char *k, const char *v, const char *k2, const char *v2, int step,
                    int no, lowp_tensor **o, int nl, lowp_tensor **l)
{
    lowp_metric *m = make(name, k, v, k2, v2);
    if (!m)
        return NAN;
    int64_t n = o[0]->dims[0];
    for (int pass = 0; pass < 2; pass++) {
        lowp_metric_reset(m);
        for (int64_t a = 0; a < n; a += step) {
            int64_t b = a + step < n ? a + step : n;
            lp_tensor ov[4], lv[4];
            const lowp_tensor *op[4], *lp[4];
            for (int i = 0; i < no; i++)
                ov[i] = rows(o[i], a, b), op[i] = &ov[i];
            for (int i = 0; i < nl; i++)
                lv[i] = rows(l[i], a, b), lp[i] = &lv[i];
            CHECK_OK(lowp_metric_update(m, no, op, nl, lp));
        }
    }
    double r = NAN;
    CHECK_OK(lowp_metric_result(m, &r));
    lowp_metric_free(m);
    return r;
}

static void free_all(int n, lowp_tensor **t)
{
    for (int i = 0; i < n; i++)
        lowp_tensor_free(t[i]);
}

/* labels [0,0,1,1,2,255], predictions [0,1,1,1,0,2] with 3 classes (255 ignored):
 *   class 0: 1 hit, 2 labelled, 2 predicted -> 1/3;  class 1: 2 hits, 2 labelled, 3 predicted
 *   -> 2/3;  class 2: 0 hits, 1 labelled, 0 predicted -> 0.  Mean 1/3. */
static void test_miou(void)
{
    int64_t lab[6] = {0, 0, 1, 1, 2, 255}, pred[6] = {0, 1, 1, 1, 0, 2}, d[2] = {3, 2};
    lowp_tensor *o = ten(LOWP_INT64, 2, d, pred), *l = ten(LOWP_INT64, 2, d, lab);
    CHECK_NEAR(score("mIOU", "num_classes", "3", NULL, NULL, 1, 1, &o, 1, &l), 1.0 / 3, 1e-15);
    CHECK_NEAR(score("mIOU", "num_classes", "3", NULL, NULL, 2, 1, &o, 1, &l), 1.0 / 3, 1e-15);
    /* 4 classes: class 3 never occurs and drops out of the mean (LPOT's nanmean) */
    CHECK_NEAR(score("mIOU", "num_classes", "4", NULL, NULL, 1, 1, &o, 1, &l), 1.0 / 3, 1e-15);
    /* 2 classes: label 2 is ignored too: class 0 1/(2+1-1) = 1/2, class 1 2/(2+3-2) = 2/3 */
    CHECK_NEAR(score("mIOU", "num_classes", "2", NULL, NULL, 1, 1, &o, 1, &l), (0.5 + 2.0 / 3) / 2, 1e-15);
    lowp_tensor_free(o);
    /* the same as scores (N=3, C=3, 2 positions): argmax over axis 1 */
    float sc[3 * 3 * 2];
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 2; j++)
                sc[(i * 3 + c) * 2 + j] = pred[i * 2 + j] == c ? 2.0f : (float)c * 0.1f;
    int64_t ds[3] = {3, 3, 2};
    o = ten(LOWP_FLOAT, 3, ds, sc);
    CHECK_NEAR(score("mIOU", "num_classes", "3", NULL, NULL, 2, 1, &o, 1, &l), 1.0 / 3, 1e-15);
    /* a NaN score is no prediction: position (0,0) (label 0, predicted 0 before) now misses,
     * class 0: 0 hits, 2 labelled, 1 predicted -> 0; class 1 unchanged 2/3; class 2: 0 */
    sc[0] = NAN;
    lowp_tensor_free(o);
    o = ten(LOWP_FLOAT, 3, ds, sc);
    CHECK_NEAR(score("mIOU", "num_classes", "3", NULL, NULL, 3, 1, &o, 1, &l), (2.0 / 3) / 3, 1e-15);
    lowp_tensor_free(o);
    lowp_tensor_free(l);
    /* a fractional label is refused naming the row */
    float fl[6] = {0, 0, 1, 1.5f, 2, 0};
    o = ten(LOWP_INT64, 2, d, pred), l = ten(LOWP_FLOAT, 2, d, fl);
    lowp_metric *m = make("mIOU", NULL, NULL, NULL, NULL);
    CHECK(lowp_metric_update(m, 1, (const lowp_tensor *const *)&o, 1, (const lowp_tensor *const *)&l) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "row 1: label 1.5 at element 1 is not a class index"));
    lowp_metric_free(m);
    /* num_classes out of range */
    lowp_params *p = NULL;
    CHECK_OK(lowp_params_create(&p));
    CHECK_OK(lowp_params_set(p, "num_classes", "100000"));
    CHECK(lowp_metric_create("mIOU", p, &m) != LOWP_OK && strstr(lowp_last_error(), "num_classes must be 1..1024"));
    lowp_params_free(p);
    lowp_tensor_free(o);
    lowp_tensor_free(l);
}

/* Expected BLEU: geometric mean of the four precisions (orders the translations are too short
 * for drop out of the sum, which is still divided by 4) times the brevity penalty, rounded to
 * float32 as LPOT's np.float32, times 100. */
static double bleu_of(double p1, double p2, double p3, double p4, double bp)
{
    double logs = 0, p[4] = {p1, p2, p3, p4};
    for (int k = 0; k < 4; k++)
        if (p[k] > 0)
            logs += log(p[k]);
    return (double)(float)(exp(logs / 4) * bp) * 100;
}

static void test_bleu(void)
{
    /* row 0: reference 2 3 4 5 6 7, translation 2 3 4 9 (0 = padding):
     *   1-grams 3/4, 2-grams 2/3, 3-grams 1/2, 4-grams 0/1 -> smoothed 1/(2*1);
     *   brevity penalty exp(1 - 6/4) */
    int64_t ref[1 * 6] = {2, 3, 4, 5, 6, 7}, tr[1 * 6] = {2, 3, 4, 9, 0, 0}, d[2] = {1, 6};
    lowp_tensor *o = ten(LOWP_INT64, 2, d, tr), *l = ten(LOWP_INT64, 2, d, ref);
    CHECK_NEAR(score("BLEU", NULL, NULL, NULL, NULL, 1, 1, &o, 1, &l), bleu_of(0.75, 2.0 / 3, 0.5, 0.5, exp(-0.5)), 1e-12);
    CHECK_NEAR(score("BLEU", NULL, NULL, NULL, NULL, 1, 1, &l, 1, &l), 100.0, 1e-12);   /* itself */
    /* eos_id 9 cuts the translation to 2 3 4 (1-grams 3/3, 2-grams 2/2, 3-grams 1/1, no
     * 4-grams): exp(0 / 4) = 1, brevity exp(1 - 6/3) */
    CHECK_NEAR(score("BLEU", "eos_id", "9", NULL, NULL, 1, 1, &o, 1, &l), bleu_of(1, 1, 1, 0, exp(-1.0)), 1e-12);
    free_all(1, &o), free_all(1, &l);
    /* clipping, two rows as one corpus: row 0 as above; row 1: reference 2 2 3, translation
     * 2 2 2 2: 1-grams min(2,4) = 2 of 4, 2-grams (2 2) min(1,3) = 1 of 3, 3-grams 0 of 2,
     * 4-grams 0 of 1. Corpus: 1-grams (3+2)/(4+4), 2-grams (2+1)/(3+3), 3-grams (1+0)/(2+2),
     * 4-grams 0/(1+1) -> 1/(2*2); lengths 9 vs 8: brevity exp(1 - 9/8) */
    int64_t ref2[2 * 6] = {2, 3, 4, 5, 6, 7, 2, 2, 3, 0, 0, 0}, tr2[2 * 6] = {2, 3, 4, 9, 0, 0, 2, 2, 2, 2, 0, 0},
            d2[2] = {2, 6};
    o = ten(LOWP_INT64, 2, d2, tr2), l = ten(LOWP_INT64, 2, d2, ref2);
    double want = bleu_of(5.0 / 8, 3.0 / 6, 1.0 / 4, 1.0 / 4, exp(1 - 9.0 / 8));
    CHECK_NEAR(score("BLEU", NULL, NULL, NULL, NULL, 1, 1, &o, 1, &l), want, 1e-12);
    CHECK_NEAR(score("BLEU", NULL, NULL, NULL, NULL, 2, 1, &o, 1, &l), want, 1e-12);
    free_all(1, &o);
    /* float predictions: a non-integer token matches nothing but still counts: row 1 becomes
     * 2 2 2.5 2: 1-grams 2 of 4 still (the clip), 2-grams (2 2) once of 3, 3-grams 0 of 2,
     * 4-grams 0 of 1 -- the same counts */
    float trf[2 * 6] = {2, 3, 4, 9, 0, 0, 2, 2, 2.5f, 2, 0, 0};
    o = ten(LOWP_FLOAT, 2, d2, trf);
    CHECK_NEAR(score("BLEU", NULL, NULL, NULL, NULL, 1, 1, &o, 1, &l), want, 1e-12);
    free_all(1, &o), free_all(1, &l);
    /* a reference token that is not an integer is refused, naming the row */
    float rf[2 * 6] = {2, 3, 4, 5, 6, 7, 2, NAN, 3, 0, 0, 0};
    o = ten(LOWP_INT64, 2, d2, tr2), l = ten(LOWP_FLOAT, 2, d2, rf);
    lowp_metric *m = make("BLEU", NULL, NULL, NULL, NULL);
    CHECK(lowp_metric_update(m, 1, (const lowp_tensor *const *)&o, 1, (const lowp_tensor *const *)&l) != LOWP_OK);
    CHECK(strstr(lowp_last_error(), "row 1: reference token nan at position 1"));
    double r = -1;
    CHECK_OK(lowp_metric_result(m, &r));
    CHECK(r == 0);   /* nothing counted */
    lowp_metric_free(m);
    free_all(1, &o), free_all(1, &l);
}

static void test_squad(void)
{
    /* row 0: best span (1,3) = 5 + 4, gold (1,3): F1 1, EM 1.
     * row 1: best span (2,5) = 3 + 2; golds (3,5) and (2,2): overlap with (3,5) is 3 tokens,
     * precision 3/4, recall 1 -> F1 6/7; with (2,2) 1 token -> 2/5. Row F1 6/7, EM 0. */
    float s[2 * 6] = {0, 5, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0}, e[2 * 6] = {0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 2};
    int64_t gs[2 * 2] = {1, -1, 3, 2}, ge[2 * 2] = {3, -1, 5, 2}, d[2] = {2, 6}, dg[2] = {2, 2};
    lowp_tensor *o[2] = {ten(LOWP_FLOAT, 2, d, s), ten(LOWP_FLOAT, 2, d, e)};
    lowp_tensor *l[2] = {ten(LOWP_INT64, 2, dg, gs), ten(LOWP_INT64, 2, dg, ge)};
    CHECK_NEAR(score("SquadF1", NULL, NULL, NULL, NULL, 1, 2, o, 2, l), 100 * (1 + 6.0 / 7) / 2, 1e-12);
    CHECK_NEAR(score("SquadF1", NULL, NULL, NULL, NULL, 2, 2, o, 2, l), 100 * (1 + 6.0 / 7) / 2, 1e-12);
    CHECK_NEAR(score("SquadF1", "exact_match", "true", NULL, NULL, 1, 2, o, 2, l), 50.0, 1e-12);
    /* max_answer_length 2: spans of at most 2 tokens. Row 0: (1,1) = 5 and (1,2) = 5 tie, the
     * shorter wins; against gold (1,3): precision 1, recall 1/3 -> F1 1/2, EM 0. Row 1: (2,2) =
     * 3 and (2,3) = 3 tie, (2,2) wins and equals gold (2,2): F1 1, EM 1 */
    CHECK_NEAR(score("SquadF1", "max_answer_length", "2", NULL, NULL, 1, 2, o, 2, l), 75.0, 1e-12);
    CHECK_NEAR(score("SquadF1", "max_answer_length", "2", "exact_match", "true", 1, 2, o, 2, l), 50.0, 1e-12);
    free_all(2, l);
    /* hostile golds: start after end, position past the sequence, a half-absent pair, no gold */
    static const int64_t bad[][4] = {{3, -1, 2, -1}, {1, -1, 6, -1}, {1, 2, 3, -1}, {-1, -1, -1, -1}};
    static const char *why[] = {"gold answer 0 spans tokens 3..2", "spans tokens 1..6", "gold answer 1 spans tokens 2..-1",
                                "no gold answer"};
    for (int k = 0; k < 4; k++) {
        int64_t bs[4] = {1, -1, bad[k][0], bad[k][1]}, be[4] = {3, -1, bad[k][2], bad[k][3]};
        l[0] = ten(LOWP_INT64, 2, dg, bs), l[1] = ten(LOWP_INT64, 2, dg, be);
        lowp_metric *m = make("SquadF1", NULL, NULL, NULL, NULL);
        CHECK(lowp_metric_update(m, 2, (const lowp_tensor *const *)o, 2, (const lowp_tensor *const *)l) != LOWP_OK);
        CHECK_MSG(strstr(lowp_last_error(), "row 1: ") && strstr(lowp_last_error(), why[k]), "case %d: %s", k,
                  lowp_last_error());
        lowp_metric_free(m);
        free_all(2, l);
    }
    /* NaN logits: row 0's start logits all NaN -> no prediction, F1 0 */
    for (int j = 0; j < 6; j++)
        s[j] = NAN;
    lowp_tensor_free(o[0]);
    o[0] = ten(LOWP_FLOAT, 2, d, s);
    l[0] = ten(LOWP_INT64, 2, dg, gs), l[1] = ten(LOWP_INT64, 2, dg, ge);
    CHECK_NEAR(score("SquadF1", NULL, NULL, NULL, NULL, 1, 2, o, 2, l), 100 * (6.0 / 7) / 2, 1e-12);
    free_all(2, l);
    free_all(2, o);
}

int main(void)
{
    RUN(test_miou);
    RUN(test_bleu);
    RUN(test_squad);
    return TEST_SUMMARY("test_metric_more");
}
