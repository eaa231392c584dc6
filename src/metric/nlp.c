/* nlp.c — text metrics over token ids: BLEU (corpus BLEU-4 with brevity penalty, as LPOT's
 * tensor2tensor-derived compute_bleu) and SquadF1 (SQuAD v1.1 F1 / exact match of answer spans,
 * scored on the model's token positions).
 *
 * BLEU: outputs[0] and labels[0] hold token ids, (N,T) or (N): row i is sentence i. Tokens equal
 * to pad_id (default 0) are dropped; a row ends at its first eos_id (default -1: none). The
 * state is eight integer counts, so batches may come in any split.
 *
 * SquadF1: outputs are (start_logits (N,L), end_logits (N,L)); labels are the gold answers'
 * (start (N) or (N,K), end) token positions, negative positions marking absent golds. The
 * predicted span maximises start_logit[s] + end_logit[e] over s <= e < s + max_answer_length
 * (BERT's rule, LPOT's default 30); the row's F1 is the best over its golds of the token-overlap
 * F1, its exact match whether the span equals a gold. The value is 100 x the mean over rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metric/metric.h"

#include "base/bytes.h"
#include "base/xsum.h"

#define BLEU_ORDER 4

static void state_free(void *s) { free(s); }

/* ---- BLEU ---- */

typedef struct bleu {
    int64_t pad_id, eos_id;
    int64_t matches[BLEU_ORDER], possible[BLEU_ORDER];
    int64_t ref_len, trans_len;
} bleu;

static lp_status bleu_create(const lowp_params *p, void **out)
{
    int64_t pad, eos;
    LP_TRY(lowp_params_get_int(p, "pad_id", 0, &pad));
    LP_TRY(lowp_params_get_int(p, "eos_id", -1, &eos));
    bleu *b = calloc(1, sizeof *b);
    if (!b)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    b->pad_id = pad;
    b->eos_id = eos;
    *out = b;
    return LP_OK;
}

static void bleu_reset(void *s)
{
    bleu *b = s;
    memset(b->matches, 0, sizeof b->matches);
    memset(b->possible, 0, sizeof b->possible);
    b->ref_len = b->trans_len = 0;
}

/* A token: its id, or `bad` for a prediction that is not an integer (it matches nothing). */
typedef struct tok {
    int64_t id;
    bool bad;
} tok;

/* Row i of t as tokens (padding dropped, cut at eos) into buf; returns the count. References
 * must be integers: anything else is refused naming the row. */
static lp_status row_tokens(const bleu *b, const lp_tensor *t, int64_t i, int64_t per, bool ref,
                            tok *buf, int64_t *n_out)
{
    int64_t n = 0;
    for (int64_t j = 0; j < per; j++) {
        tok k = {0, false};
        if (!lp_dtype_traits_of(t->dtype)->is_float) {
            k.id = lp_tensor_get_int(t, i * per + j);
        } else {
            double v = lp_tensor_get(t, i * per + j);
            if (!(v == floor(v) && fabs(v) < 9.2e18)) {
                if (ref)
                    return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT, "reference token %.17g "
                                               "at position %lld is not a token id (an integer)", v,
                                               (long long)j);
                k.bad = true;
            } else {
                k.id = (int64_t)v;
            }
        }
        if (!k.bad && k.id == b->eos_id)
            break;
        if (!k.bad && k.id == b->pad_id)
            continue;
        buf[n++] = k;
    }
    *n_out = n;
    return LP_OK;
}

static int ngram_cmp2(const tok *ra, int64_t a, const tok *rb, int64_t b, int order)
{
    for (int k = 0; k < order; k++) {
        int64_t u = ra[a + k].id, v = rb[b + k].id;
        if (u != v)
            return u < v ? -1 : 1;
    }
    return 0;
}

/* Sorts the n-gram start indices idx[0..n) of row r (merge sort with tmp: reentrant, unlike
 * qsort with a global row). */
static void sort_ngrams(const tok *r, int order, int64_t *idx, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = ngram_cmp2(r, idx[b], r, idx[a], order) < 0 ? idx[b++] : idx[a++];
            while (a < mid)
                tmp[k++] = idx[a++];
            while (b < hi)
                tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* Clipped n-gram matches of one sentence pair at one order: sum over the reference's distinct
 * n-grams of min(count in reference, count in translation); n-grams with a bad token in the
 * translation match nothing. ia/it/tmp are scratch of max(nr, nt) entries. */
static int64_t clipped_matches(const tok *r, int64_t nr, const tok *t, int64_t nt, int order, int64_t *ia,
                               int64_t *it, int64_t *tmp)
{
    int64_t na = 0, nb = 0;
    for (int64_t i = 0; i + order <= nr; i++)
        ia[na++] = i;
    for (int64_t i = 0; i + order <= nt; i++) {
        bool bad = false;
        for (int k = 0; k < order; k++)
            bad |= t[i + k].bad;
        if (!bad)
            it[nb++] = i;
    }
    sort_ngrams(r, order, ia, tmp, na);
    sort_ngrams(t, order, it, tmp, nb);
    int64_t m = 0, a = 0, b = 0;
    while (a < na && b < nb) {
        int c = ngram_cmp2(r, ia[a], t, it[b], order);
        if (c < 0) {
            a++;
        } else if (c > 0) {
            b++;
        } else {
            int64_t ca = 0, cb = 0, a0 = a, b0 = b;
            while (a < na && ngram_cmp2(r, ia[a], r, ia[a0], order) == 0)
                a++, ca++;
            while (b < nb && ngram_cmp2(t, it[b], t, it[b0], order) == 0)
                b++, cb++;
            m += ca < cb ? ca : cb;
        }
    }
    return m;
}

static lp_status bleu_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                             const lowp_tensor *const *labels)
{
    bleu *b = s;
    if (nl < 1)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "no reference token ids to score against "
                        "(BLEU needs labels; does the dataset have labels?)");
    (void)no;
    const lp_tensor *p = outs[0], *l = labels[0];
    char sp[96], sl[96];
    if (p->ndim < 1 || p->ndim > 2 || l->ndim < 1 || l->ndim > 2 || p->dims[0] != l->dims[0] ||
        !lp_dtype_traits_of(p->dtype)->size || !lp_dtype_traits_of(l->dtype)->size)
        return lp_error(LOWP_ERR_SHAPE, "predictions %s and references %s must be token ids (N,T) "
                        "with the same N (logits (N,T,V)? the model needs an ArgMax)",
                        lp_shape_str(p->ndim, p->dims, sp, sizeof sp),
                        lp_shape_str(l->ndim, l->dims, sl, sizeof sl));
    int64_t n = p->dims[0], pt = p->ndim == 2 ? p->dims[1] : 1, lt = l->ndim == 2 ? l->dims[1] : 1;
    int64_t mx = pt > lt ? pt : lt;
    tok *rt = malloc((size_t)(lt ? lt : 1) * sizeof *rt), *tt = malloc((size_t)(pt ? pt : 1) * sizeof *tt);
    size_t nmx = (size_t)(mx ? mx : 1);
    int64_t *ia = malloc(nmx * sizeof *ia), *it = malloc(nmx * sizeof *it), *tmp = malloc(nmx * sizeof *tmp);
    lp_status st = rt && tt && ia && it && tmp ? LP_OK : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    /* References are checked for the whole batch before any count changes. */
    for (int64_t i = 0; i < n && st == LP_OK; i++) {
        int64_t nr;
        st = row_tokens(b, l, i, lt, true, rt, &nr);
    }
    int64_t add_m[BLEU_ORDER] = {0}, add_p[BLEU_ORDER] = {0}, add_r = 0, add_t = 0;
    for (int64_t i = 0; i < n && st == LP_OK; i++) {
        int64_t nr, nt;
        row_tokens(b, l, i, lt, true, rt, &nr);
        row_tokens(b, p, i, pt, false, tt, &nt);
        add_r += nr;
        add_t += nt;
        for (int k = 1; k <= BLEU_ORDER; k++) {
            add_p[k - 1] += nt >= k ? nt - k + 1 : 0;
            add_m[k - 1] += clipped_matches(rt, nr, tt, nt, k, ia, it, tmp);
        }
    }
    if (st == LP_OK) {
        for (int k = 0; k < BLEU_ORDER; k++)
            b->matches[k] += add_m[k], b->possible[k] += add_p[k];
        b->ref_len += add_r;
        b->trans_len += add_t;
    }
    free(rt), free(tt), free(ia), free(it), free(tmp);
    return st;
}

/* tensor2tensor's compute_bleu as LPOT runs it: an order with no match gets precision
 * 1/(2^k * possible) (k counting such orders), an order the translations are too short for
 * gets 0 and drops out of the log sum (which is still divided by 4); brevity penalty
 * exp(1 - ref/trans) when shorter. The score is rounded to float32 (LPOT returns
 * np.float32) and times 100. No reference or no translation tokens: 0 (LPOT divides by zero). */
static lp_status bleu_result(void *s, double *v)
{
    bleu *b = s;
    double prec[BLEU_ORDER], smooth = 1, best = 0;
    for (int k = 0; k < BLEU_ORDER; k++) {
        if (b->possible[k] > 0) {
            if (b->matches[k] > 0) {
                prec[k] = (double)b->matches[k] / (double)b->possible[k];
            } else {
                smooth *= 2;
                prec[k] = 1.0 / (smooth * (double)b->possible[k]);
            }
        } else {
            prec[k] = 0;
        }
        if (prec[k] > best)
            best = prec[k];
    }
    if (b->ref_len == 0 || b->trans_len == 0) {
        *v = 0;
        return LP_OK;
    }
    double geo = 0;
    if (best > 0) {
        double logs = 0;
        for (int k = 0; k < BLEU_ORDER; k++)
            if (prec[k] > 0)
                logs += log(prec[k]);
        geo = exp(logs / BLEU_ORDER);
    }
    double ratio = (double)b->trans_len / (double)b->ref_len;
    double bp = ratio < 1.0 ? exp(1 - 1.0 / ratio) : 1.0;
    *v = (double)(float)(geo * bp) * 100;
    return LP_OK;
}

/* ---- SquadF1 ---- */

typedef struct squad {
    int64_t max_len;
    bool exact;            /* report exact match instead of F1 */
    lp_xsum f1;            /* exact: shards merge to one process's bits */
    double em, rows;       /* integers */
} squad;

static lp_status squad_create(const lowp_params *p, void **out)
{
    int64_t ml;
    int em;
    LP_TRY(lowp_params_get_int(p, "max_answer_length", 30, &ml));
    LP_TRY(lowp_params_get_bool(p, "exact_match", 0, &em));
    if (ml < 1)
        return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "max_answer_length must be >= 1");
    squad *q = calloc(1, sizeof *q);
    if (!q)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    q->max_len = ml;
    q->exact = em != 0;
    lp_xsum_init(&q->f1);
    *out = q;
    return LP_OK;
}

static void squad_reset(void *s)
{
    squad *q = s;
    lp_xsum_init(&q->f1);
    q->em = q->rows = 0;
}

/* Gold k of row i: (start, end), or absent (both negative). Anything else is refused. */
static lp_status gold_span(const lp_tensor *gs, const lp_tensor *ge, int64_t i, int64_t k, int64_t per,
                           int64_t len, int64_t *s, int64_t *e, bool *present)
{
    double a = lp_tensor_get(gs, i * per + k), b = lp_tensor_get(ge, i * per + k);
    if (a < 0 && b < 0) {
        *present = false;
        return LP_OK;
    }
    if (!(a >= 0 && a < (double)len && a == floor(a) && b >= 0 && b < (double)len && b == floor(b) && a <= b))
        return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT, "gold answer %lld spans tokens "
                                   "%.17g..%.17g: positions must be integers with 0 <= start <= end < %lld "
                                   "(both negative: no answer in that slot)",
                                   (long long)k, a, b, (long long)len);
    *s = (int64_t)a, *e = (int64_t)b;
    *present = true;
    return LP_OK;
}

static double span_f1(int64_t ps, int64_t pe, int64_t gs, int64_t ge)
{
    int64_t lo = ps > gs ? ps : gs, hi = pe < ge ? pe : ge;
    if (hi < lo)
        return 0;
    double common = (double)(hi - lo + 1), prec = common / (double)(pe - ps + 1),
           rec = common / (double)(ge - gs + 1);
    return 2 * prec * rec / (prec + rec);
}

static lp_status squad_update(void *s, int no, const lowp_tensor *const *outs, int nl,
                              const lowp_tensor *const *labels)
{
    squad *q = s;
    if (no != 2)
        return lp_error(LOWP_ERR_SHAPE, "SquadF1 needs two outputs, (start_logits, end_logits); the "
                        "model has %d (name them in model.outputs)", no);
    if (nl != 2)
        return lp_error(LOWP_ERR_SHAPE, "SquadF1 needs two label tensors, the gold answers' start and "
                        "end token positions; got %d", nl);
    const lp_tensor *st_l = outs[0], *en_l = outs[1], *gs = labels[0], *ge = labels[1];
    char s1[96], s2[96];
    if (st_l->ndim < 1 || en_l->ndim < 1 || gs->ndim < 1 || ge->ndim < 1 ||
        st_l->dims[0] != en_l->dims[0] || gs->dims[0] != st_l->dims[0] ||
        lp_tensor_numel(st_l) != lp_tensor_numel(en_l) || lp_tensor_numel(gs) != lp_tensor_numel(ge) ||
        gs->ndim > 2 || ge->ndim > 2)
        return lp_error(LOWP_ERR_SHAPE, "SquadF1 shapes do not fit: logits %s and %s must be (N,L), gold "
                        "positions %s and %s (N) or (N,K)", lp_shape_str(st_l->ndim, st_l->dims, s1, sizeof s1),
                        lp_shape_str(en_l->ndim, en_l->dims, s2, sizeof s2), "start", "end");
    int64_t n = st_l->dims[0];
    if (n == 0)
        return LP_OK;
    int64_t len = lp_tensor_numel(st_l) / n, per = lp_tensor_numel(gs) / n;
    if (len == 0 || per == 0)
        return lp_error(LOWP_ERR_SHAPE, "SquadF1: %s", len == 0 ? "the logits hold no positions"
                                                                 : "the labels hold no gold answers");
    for (int64_t i = 0; i < n; i++) {   /* every gold checked before the state changes */
        bool any = false;
        for (int64_t k = 0; k < per; k++) {
            int64_t a, b;
            bool present;
            LP_TRY(gold_span(gs, ge, i, k, per, len, &a, &b, &present));
            any |= present;
        }
        if (!any)
            return lp_metric_row_error(i, LOWP_ERR_INVALID_ARGUMENT, "no gold answer (every start and "
                                       "end position is negative)");
    }
    double em = 0;
    lp_xsum f1;
    lp_xsum_init(&f1);
    for (int64_t i = 0; i < n; i++) {
        /* the best span; NaN logits never win, a row with no finite pair predicts nothing */
        int64_t ps = -1, pe = -1;
        double best = -INFINITY;
        for (int64_t a = 0; a < len; a++) {
            double sa = lp_tensor_get(st_l, i * len + a);
            if (isnan(sa))
                continue;
            for (int64_t b = a; b < len && b - a < q->max_len; b++) {
                double v = sa + lp_tensor_get(en_l, i * len + b);
                if (v > best || (ps < 0 && v == best && v > -INFINITY))
                    best = v, ps = a, pe = b;
            }
        }
        double rf = 0, re = 0;
        for (int64_t k = 0; k < per && ps >= 0; k++) {
            int64_t a = 0, b = 0;
            bool present;
            gold_span(gs, ge, i, k, per, len, &a, &b, &present);
            if (!present)
                continue;
            double v = span_f1(ps, pe, a, b);
            rf = v > rf ? v : rf;
            re = ps == a && pe == b ? 1 : re;
        }
        lp_xsum_add(&f1, rf);
        em += re;
    }
    lp_xsum_merge(&q->f1, &f1);
    q->em += em, q->rows += (double)n;
    return LP_OK;
}

static lp_status squad_result(void *s, double *v)
{
    squad *q = s;
    *v = q->rows > 0 ? 100.0 * (q->exact ? q->em : lp_xsum_value(&q->f1)) / q->rows : 0.0;
    return LP_OK;
}

static lp_status squad_save(void *s, void **out, size_t *size)
{
    squad *q = s;
    lp_bytes b = {0};
    lp_bytes_str(&b, "SquadF1");
    lp_bytes_u64(&b, (uint64_t)q->max_len);
    lp_bytes_u64(&b, q->exact);
    lp_bytes_put(&b, &q->f1, sizeof q->f1);
    lp_bytes_f64(&b, q->em);
    lp_bytes_f64(&b, q->rows);
    return lp_bytes_finish(&b, out, size);
}

static lp_status squad_merge(void *s, const void *bytes, size_t size)
{
    squad *q = s;
    lp_reader r;
    lp_xsum f1;
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, "SquadF1");
    bool same = lp_reader_u64(&r) == (uint64_t)q->max_len && lp_reader_u64(&r) == (uint64_t)q->exact;
    lp_reader_get(&r, &f1, sizeof f1);
    double em = lp_reader_f64(&r), rows = lp_reader_f64(&r);
    if (r.bad || r.left || !same || !(em >= 0) || !(rows >= 0))
        return lp_metric_bad_state("SquadF1");
    lp_xsum_merge(&q->f1, &f1);
    q->em += em, q->rows += rows;
    return LP_OK;
}

static lp_status bleu_save(void *s, void **out, size_t *size)
{
    bleu *bl = s;
    lp_bytes b = {0};
    lp_bytes_str(&b, "BLEU");
    lp_bytes_u64(&b, (uint64_t)bl->pad_id);
    lp_bytes_u64(&b, (uint64_t)bl->eos_id);
    lp_bytes_put(&b, bl->matches, sizeof bl->matches);
    lp_bytes_put(&b, bl->possible, sizeof bl->possible);
    lp_bytes_u64(&b, (uint64_t)bl->ref_len);
    lp_bytes_u64(&b, (uint64_t)bl->trans_len);
    return lp_bytes_finish(&b, out, size);
}

/* n-gram counts and lengths add. */
static lp_status bleu_merge(void *s, const void *bytes, size_t size)
{
    bleu *bl = s;
    lp_reader r;
    int64_t m[BLEU_ORDER], p[BLEU_ORDER];
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, "BLEU");
    bool same = lp_reader_u64(&r) == (uint64_t)bl->pad_id && lp_reader_u64(&r) == (uint64_t)bl->eos_id;
    lp_reader_get(&r, m, sizeof m);
    lp_reader_get(&r, p, sizeof p);
    int64_t rl = (int64_t)lp_reader_u64(&r), tl = (int64_t)lp_reader_u64(&r);
    bool ok = !r.bad && !r.left && same && rl >= 0 && tl >= 0;
    for (int k = 0; k < BLEU_ORDER; k++)
        ok &= m[k] >= 0 && p[k] >= 0;
    if (!ok)
        return lp_metric_bad_state("BLEU");
    for (int k = 0; k < BLEU_ORDER; k++)
        bl->matches[k] += m[k], bl->possible[k] += p[k];
    bl->ref_len += rl;
    bl->trans_len += tl;
    return LP_OK;
}

static const lowp_param_spec bleu_params[] = {
    {"pad_id", LOWP_PARAM_INT, 0, 0}, {"eos_id", LOWP_PARAM_INT, 0, 0}, {NULL, 0, 0, 0}};
static const lowp_param_spec squad_params[] = {
    {"max_answer_length", LOWP_PARAM_INT, 0, 0}, {"exact_match", LOWP_PARAM_BOOL, 0, 0}, {NULL, 0, 0, 0}};

const lowp_metric_vtable lp_metric_bleu = {"BLEU", bleu_params, 1, bleu_create, bleu_update, bleu_result, bleu_reset, state_free, bleu_save, bleu_merge};
const lowp_metric_vtable lp_metric_squad_f1 = {"SquadF1", squad_params, 1, squad_create, squad_update, squad_result, squad_reset, state_free, squad_save, squad_merge};
