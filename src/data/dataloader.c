/* dataloader.c — batches: pull samples one at a time from a dataset (in file order or a seeded
 * permutation), transform each, stack them. Memory: one batch plus, when shuffling, the
 * permutation (8 bytes per sample). Sample i's random transforms are seeded from (seed, i),
 * so a sample looks the same whatever its position in the order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"

struct lowp_dataloader {
    lowp_dataset *ds;
    lowp_transform *tf;
    lowp_dataloader_options opt;
    int64_t length;       /* samples per epoch */
    int64_t pos;          /* next position in the order */
    int64_t *order;       /* permutation (shuffle) or NULL (identity) */
    int64_t *batch_idx;   /* dataset indices of the last batch */
    int64_t batch_n;
    int64_t batch_base;   /* from a source: the position of the last batch's first sample */
    bool from_source;     /* batches come from `src` (ds and tf are NULL) */
    bool read_once, src_done; /* a source without reset: read, and over */
    lowp_batch_source src;
    char src_desc[160];
    int64_t win_begin, win_end; /* the window of positions (lp_dataloader_window) */
    bool sharded;
};

lowp_dataloader_options lowp_dataloader_options_default(void)
{
    return (lowp_dataloader_options){.batch_size = 1, .shuffle = 0, .seed = 1978, .max_samples = 0,
                                     .drop_last = 0};
}

/* Fisher-Yates over the whole dataset; max_samples then takes a random subset. */
static void shuffle_order(int64_t *order, int64_t n, uint64_t seed)
{
    uint64_t rng = seed;
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(lowp_random_next(&rng) % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

lowp_status lowp_dataloader_create(lowp_dataset *ds, lowp_transform *tf,
                                   const lowp_dataloader_options *options, lowp_dataloader **out)
{
    lowp_dataloader_options opt = options ? *options : lowp_dataloader_options_default();
    lp_status st = LP_OK;
    if (!ds || !out)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_dataloader_create: NULL argument");
    else if (opt.batch_size < 1)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "batch_size must be at least 1 (got %d)", opt.batch_size);
    else if (opt.max_samples < 0)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "max_samples must not be negative");
    lowp_dataloader *dl = st == LP_OK ? calloc(1, sizeof *dl) : NULL;
    if (st == LP_OK && !dl)
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != LP_OK) {
        lowp_dataset_free(ds);
        lowp_transform_free(tf);
        return st;
    }
    dl->ds = ds;
    dl->tf = tf;
    dl->opt = opt;
    int64_t n = ds->length;
    if (opt.max_samples > 0 && opt.max_samples < n)
        n = opt.max_samples;
    if (opt.drop_last)
        n -= n % opt.batch_size;
    dl->length = n;
    dl->batch_idx = malloc((size_t)opt.batch_size * sizeof *dl->batch_idx);
    if (!dl->batch_idx)
        st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LP_OK && opt.shuffle && ds->length > 0) {
        dl->order = (uint64_t)ds->length <= SIZE_MAX / sizeof *dl->order
                        ? malloc((size_t)ds->length * sizeof *dl->order) : NULL;
        if (!dl->order)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for a %lld-sample permutation",
                          (long long)ds->length);
        else
            shuffle_order(dl->order, ds->length, opt.seed);
    }
    if (st != LP_OK) {
        lowp_dataloader_free(dl);
        return st;
    }
    *out = dl;
    return LP_OK;
}

lowp_status lowp_dataloader_create_from_source(const lowp_batch_source *src, lowp_dataloader **out)
{
    if (!src || !src->next || !out) {
        if (src && src->free)
            src->free(src->user);
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_dataloader_create_from_source: NULL source, next or output");
    }
    lowp_dataloader *dl = calloc(1, sizeof *dl);
    if (!dl) {
        if (src->free)
            src->free(src->user);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    }
    dl->from_source = true;
    dl->src = *src;
    snprintf(dl->src_desc, sizeof dl->src_desc, "%s", src->description ? src->description : "user batches");
    dl->src.description = dl->src_desc;
    dl->length = src->length > 0 ? src->length : 0;
    dl->opt = lowp_dataloader_options_default();
    *out = dl;
    return LP_OK;
}

/* A source's batch: checked for the sample count it claims. */
static lp_status source_next(lowp_dataloader *dl, lowp_sample *batch, int64_t *count_out)
{
    int64_t n = 0;
    lp_status st = dl->src.next(dl->src.user, batch, &n);
    if (st != LP_OK) {
        lowp_sample_clear(batch);
        return lp_error_prefix(st, "%s: batch at sample %lld", dl->src_desc, (long long)dl->pos);
    }
    if (n == 0) {
        lowp_sample_clear(batch);
        return LP_OK;
    }
    if (n < 0 || batch->n_inputs < 1 || batch->n_inputs > LOWP_SAMPLE_MAX_TENSORS ||
        batch->n_labels < 0 || batch->n_labels > LOWP_SAMPLE_MAX_TENSORS)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s: a batch of %lld samples with %d inputs and %d labels",
                      dl->src_desc, (long long)n, batch->n_inputs, batch->n_labels);
    for (int i = 0; st == LP_OK && i < batch->n_inputs; i++)
        if (!batch->inputs[i] || (batch->inputs[i]->ndim > 0 && batch->inputs[i]->dims[0] != n))
            st = lp_error(LOWP_ERR_SHAPE, "%s: batch at sample %lld: input %d does not have %lld rows", dl->src_desc,
                          (long long)dl->pos, i, (long long)n);
    if (st != LP_OK) {
        lowp_sample_clear(batch);
        return st;
    }
    dl->batch_n = n;
    dl->batch_base = dl->pos;
    dl->pos += n;
    *count_out = n;
    return LP_OK;
}

void lowp_dataloader_free(lowp_dataloader *dl)
{
    if (!dl)
        return;
    if (dl->from_source && dl->src.free)
        dl->src.free(dl->src.user);
    lowp_dataset_free(dl->ds);
    lowp_transform_free(dl->tf);
    free(dl->order);
    free(dl->batch_idx);
    free(dl);
}

void lowp_dataloader_reset(lowp_dataloader *dl)
{
    if (!dl)
        return;
    if (dl->from_source && dl->src.reset && dl->pos > 0)
        dl->src.reset(dl->src.user);
    dl->pos = dl->sharded && !dl->from_source ? dl->win_begin : 0, dl->batch_n = 0;
    dl->src_done = dl->from_source && !dl->src.reset && dl->read_once;
}

void lp_dataloader_reseed(lowp_dataloader *dl, uint64_t seed)
{
    if (!dl || dl->from_source)
        return;
    dl->opt.seed = seed;
    if (dl->order)
        shuffle_order(dl->order, dl->ds->length, seed);
    lowp_dataloader_reset(dl);
}

int64_t lp_dataloader_units(const lowp_dataloader *dl, int64_t limit)
{
    int64_t len = limit > 0 && limit < dl->length ? limit : dl->length;
    if (dl->from_source)
        return dl->length > 0 ? len : -1;
    return (len + dl->opt.batch_size - 1) / dl->opt.batch_size;
}

/* Units are whole batches (a source's batches: the positions its batches start at), so every
 * batch a window yields holds the samples it holds without one. */
void lp_dataloader_window(lowp_dataloader *dl, int64_t first, int64_t end, int64_t limit)
{
    if (!dl)
        return;
    dl->sharded = true;
    if (dl->from_source) {
        dl->win_begin = first;
        /* a source longer than it said: the rest belongs to the last window */
        dl->win_end = end >= lp_dataloader_units(dl, limit) && limit <= 0 ? INT64_MAX : end;
    } else {
        int64_t len = limit > 0 && limit < dl->length ? limit : dl->length, bs = dl->opt.batch_size;
        dl->win_begin = first * bs;
        dl->win_end = end >= (len + bs - 1) / bs ? len : end * bs;
    }
    lowp_dataloader_reset(dl);
}

void lp_dataloader_unwindow(lowp_dataloader *dl)
{
    if (!dl)
        return;
    dl->sharded = false;
    lowp_dataloader_reset(dl);
}

int64_t lp_dataloader_batch_size(const lowp_dataloader *dl)
{
    return dl->from_source ? 0 : dl->opt.batch_size;
}

int64_t lp_dataloader_batch_position(const lowp_dataloader *dl)
{
    return dl->from_source ? dl->batch_base : dl->pos - dl->batch_n;
}

int64_t lp_dataloader_window_length(const lowp_dataloader *dl)
{
    if (!dl || !dl->sharded)
        return dl ? dl->length : 0;
    int64_t end = dl->win_end < dl->length ? dl->win_end : dl->length;
    return end > dl->win_begin ? end - dl->win_begin : 0;
}

int64_t lowp_dataloader_length(const lowp_dataloader *dl) { return dl ? dl->length : 0; }

int64_t lp_dataloader_batches(const lowp_dataloader *dl)
{
    if (!dl || dl->from_source || dl->opt.batch_size < 1)
        return 0;
    return (dl->length + dl->opt.batch_size - 1) / dl->opt.batch_size;
}

int64_t lowp_dataloader_batch_index(const lowp_dataloader *dl, int64_t i)
{
    if (!dl || i < 0 || i >= dl->batch_n)
        return -1;
    return dl->from_source ? dl->batch_base + i : dl->batch_idx[i];
}

const char *lowp_dataloader_describe(const lowp_dataloader *dl)
{
    return !dl ? "" : dl->from_source ? dl->src_desc : dl->ds->desc;
}

static bool same_shape(const lp_tensor *a, const lp_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

/* A (n, ...) tensor for a sample tensor like `t`. */
static lp_status batch_tensor(const lp_tensor *t, int64_t n, lp_tensor **out)
{
    char buf[96];
    if (t->ndim + 1 > LP_MAX_DIMS)
        return lp_error(LOWP_ERR_SHAPE, "a sample tensor %s has too many dims to batch",
                        lp_shape_str(t->ndim, t->dims, buf, sizeof buf));
    int64_t dims[LP_MAX_DIMS];
    dims[0] = n;
    memcpy(dims + 1, t->dims, (size_t)t->ndim * sizeof *dims);
    return lp_tensor_new(t->dtype, t->ndim + 1, dims, out);
}

static lp_status mismatch(lowp_dataloader *dl, const char *what, int k, int64_t first,
                          const lp_tensor *a, int64_t idx, const lp_tensor *b)
{
    char sa[96], sb[96];
    return lp_error(LOWP_ERR_SHAPE,
                    "%s: %s %d of sample %lld is %s %s but sample %lld's is %s %s; samples of one "
                    "batch must match (resize them, or use batch_size: 1)",
                    dl->ds->desc, what, k, (long long)idx, lp_dtype_traits_of(b->dtype)->name,
                    lp_shape_str(b->ndim, b->dims, sb, sizeof sb), (long long)first,
                    lp_dtype_traits_of(a->dtype)->name, lp_shape_str(a->ndim, a->dims, sa, sizeof sa));
}

lowp_status lowp_dataloader_next(lowp_dataloader *dl, lowp_sample *batch, int64_t *count_out)
{
    if (!dl || !batch || !count_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_dataloader_next: NULL argument");
    lowp_sample_clear(batch);
    *count_out = 0;
    dl->batch_n = 0;
    if (dl->from_source) {
        for (;;) {
            if (dl->src_done || (dl->sharded && dl->pos >= dl->win_end))
                return LP_OK;
            dl->read_once = true;
            LP_TRY(source_next(dl, batch, count_out));
            if (*count_out == 0 || !dl->sharded || dl->batch_base >= dl->win_begin)
                return LP_OK;
            lowp_sample_clear(batch);   /* an earlier rank's batch */
            *count_out = 0;
            dl->batch_n = 0;
        }
    }
    int64_t n = (dl->sharded && dl->win_end < dl->length ? dl->win_end : dl->length) - dl->pos;
    if (n > dl->opt.batch_size)
        n = dl->opt.batch_size;
    if (n <= 0)
        return LP_OK;
    lowp_sample s = {0};
    lp_status st = LP_OK;
    for (int64_t k = 0; k < n && st == LP_OK; k++) {
        int64_t idx = dl->order ? dl->order[dl->pos + k] : dl->pos + k;
        dl->batch_idx[k] = idx;
        dl->batch_n = k + 1;
        st = lowp_dataset_get(dl->ds, idx, &s);
        if (st == LP_OK && dl->tf) {
            st = lowp_transform_apply(dl->tf, &s, dl->opt.seed ^ ((uint64_t)(idx + 1) * 0xD1B54A32D192ED03ull));
            if (st != LP_OK)
                st = lp_error_prefix(st, "%s: sample %lld", dl->ds->desc, (long long)idx);
        }
        if (st != LP_OK)
            break;
        if (k == 0) {
            for (int i = 0; i < s.n_inputs && st == LP_OK; i++)
                if ((st = batch_tensor(s.inputs[i], n, &batch->inputs[i])) == LP_OK)
                    batch->n_inputs = i + 1;
            for (int i = 0; i < s.n_labels && st == LP_OK; i++)
                if ((st = batch_tensor(s.labels[i], n, &batch->labels[i])) == LP_OK)
                    batch->n_labels = i + 1;
        } else if (s.n_inputs != batch->n_inputs || s.n_labels != batch->n_labels) {
            st = lp_error(LOWP_ERR_SHAPE, "%s: sample %lld has %d inputs and %d labels, sample %lld has %d and %d",
                          dl->ds->desc, (long long)idx, s.n_inputs, s.n_labels, (long long)dl->batch_idx[0],
                          batch->n_inputs, batch->n_labels);
        }
        for (int i = 0; i < s.n_inputs && st == LP_OK; i++) {
            lp_tensor *b = batch->inputs[i];
            if (b->ndim != s.inputs[i]->ndim + 1 || b->dtype != s.inputs[i]->dtype ||
                memcmp(b->dims + 1, s.inputs[i]->dims, (size_t)s.inputs[i]->ndim * sizeof(int64_t))) {
                lp_tensor first;
                lp_tensor_view(&first, b->dtype, b->ndim - 1, b->dims + 1, NULL);
                st = mismatch(dl, "input", i, dl->batch_idx[0], &first, idx, s.inputs[i]);
            } else {
                memcpy((char *)b->data + (size_t)k * s.inputs[i]->nbytes, s.inputs[i]->data, s.inputs[i]->nbytes);
            }
        }
        for (int i = 0; i < s.n_labels && st == LP_OK; i++) {
            lp_tensor *b = batch->labels[i];
            lp_tensor first;
            lp_tensor_view(&first, b->dtype, b->ndim - 1, b->dims + 1, NULL);
            if (!same_shape(&first, s.labels[i]))
                st = mismatch(dl, "label", i, dl->batch_idx[0], &first, idx, s.labels[i]);
            else
                memcpy((char *)b->data + (size_t)k * s.labels[i]->nbytes, s.labels[i]->data, s.labels[i]->nbytes);
        }
        lowp_sample_clear(&s);
    }
    lowp_sample_clear(&s);
    if (st != LP_OK) {
        lowp_sample_clear(batch);
        return st;
    }
    dl->pos += n;
    *count_out = n;
    return LP_OK;
}
