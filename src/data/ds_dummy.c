/* ds_dummy.c — the dummy datasets: random samples of a given shape, dtype and range, for speed
 * work. dummy: as in LPOT, shape's first dim is the number of samples; a list of shapes gives
 * several inputs. dummy_v2: LPOT's input_shape / label_shape are per-sample shapes (lists of
 * them for several tensors) with low/high/dtype per input then label; LPOT's never ends, lowp's
 * has `length` samples (default 1000). Sample i is generated from a seed derived from i, so it
 * is the same every time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"

typedef struct dummy_input {
    int ndim;                        /* per-sample rank (shape minus the first dim) */
    int64_t dims[LP_MAX_DIMS];
    lp_dtype dtype;
    double low, high;
} dummy_input;

typedef struct dummy_ds {
    int n, n_labels;                 /* dummy_v2: label tensors in[n .. n + n_labels) */
    dummy_input in[LOWP_SAMPLE_MAX_TENSORS * 2];
    int label;
    int64_t length;
    char desc[64];
} dummy_ds;

static void dummy_close(void *state) { free(state); }

static lp_status bad_shape(const lowp_params *p, const lp_yval *v)
{
    return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, v ? v->line : 0,
                        "shape must be a list of positive integers (first = number of "
                        "samples) or a list of such lists");
}

/* One shape (SEQ of ints or a "1, 2, 3" scalar) into in; with `count` its first dim is the
 * number of samples, else it is the sample's shape. */
static lp_status parse_shape(const lowp_params *p, const lp_yval *v, dummy_input *in, int64_t *count)
{
    lowp_params one;
    lp_params_view(&one, NULL, p->file, p->path);
    lp_yval wrap = {.kind = LP_NODE_MAP, .n = 1};
    char *key = "shape";
    lp_yval *item = (lp_yval *)v;
    wrap.keys = &key;
    wrap.items = &item;
    one.node = &wrap;
    int64_t dims[LP_MAX_DIMS + 1];
    int n;
    if (lowp_params_get_ints(&one, "shape", LP_MAX_DIMS + 1, dims, &n) != LP_OK || n < 1)
        return bad_shape(p, v);
    for (int i = 0; i < n; i++)
        if (dims[i] <= 0)
            return bad_shape(p, v);
    if (!count && n > LP_MAX_DIMS)
        return bad_shape(p, v);
    if (count)
        *count = dims[0];
    in->ndim = count ? n - 1 : n;
    memcpy(in->dims, dims + (count ? 1 : 0), (size_t)in->ndim * sizeof *dims);
    return LP_OK;
}

/* A shape or a list of shapes (several tensors) into in[0..*n). */
static lp_status parse_shapes(const lowp_params *p, const lp_yval *shape, int max, dummy_input *in, int *n,
                              int64_t *count)
{
    *n = 0;
    if (shape && shape->kind == LP_NODE_SEQ && shape->n > 0 && shape->items[0]->kind == LP_NODE_SEQ) {
        if (shape->n > max)
            return bad_shape(p, shape);
        for (int i = 0; i < shape->n; i++) {
            int64_t c = 0;
            LP_TRY(parse_shape(p, shape->items[i], &in[i], count ? &c : NULL));
            if (count && i > 0 && c != *count)
                return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, shape->line,
                                    "every shape needs the same first dim (number of samples)");
            if (count)
                *count = c;
            ++*n;
        }
        return LP_OK;
    }
    if (!shape)
        return bad_shape(p, NULL);
    *n = 1;
    return parse_shape(p, shape, &in[0], count);
}

/* low, high and dtype of tensors in[0..n): one value for all, or one per tensor. */
static lp_status parse_ranges(const lowp_params *p, dummy_input *in, int n)
{
    double lows[LOWP_SAMPLE_MAX_TENSORS * 2], highs[LOWP_SAMPLE_MAX_TENSORS * 2];
    int n_low = 0, n_high = 0, n_dt = 0;
    LP_TRY(lowp_params_get_floats(p, "low", LOWP_SAMPLE_MAX_TENSORS * 2, lows, &n_low));
    LP_TRY(lowp_params_get_floats(p, "high", LOWP_SAMPLE_MAX_TENSORS * 2, highs, &n_high));
    for (int i = 0; i < n; i++) {
        const char *dt;
        LP_TRY(lowp_params_get_string_at(p, "dtype", i, &dt, &n_dt));
        if (!dt)
            LP_TRY(lowp_params_get_string_at(p, "dtype", 0, &dt, &n_dt));
        in[i].dtype = dt ? lp_dtype_from_name(dt) : LP_F32;
        if (in[i].dtype == LOWP_UNDEFINED || !lp_dtype_valid(in[i].dtype))
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "unknown dtype '%s'", dt);
        in[i].low = n_low ? lows[i < n_low ? i : 0] : -128.0;
        in[i].high = n_high ? highs[i < n_high ? i : 0] : 127.0;
        if (!(in[i].high >= in[i].low))
            return lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "high < low");
    }
    return LP_OK;
}

static lp_status dummy_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    dummy_ds *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = parse_shapes(p, lp_params_lookup(p, "shape"), LOWP_SAMPLE_MAX_TENSORS, d->in, &d->n, &d->length);
    if (st == LP_OK)
        st = parse_ranges(p, d->in, d->n);
    if (st == LP_OK)
        st = lowp_params_get_bool(p, "label", 0, &d->label);
    if (st != LP_OK) {
        free(d);
        return st;
    }
    snprintf(d->desc, sizeof d->desc, "%lld random samples", (long long)d->length);
    *state_out = d;
    *length_out = d->length;
    return LP_OK;
}

static lp_status dummy_v2_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    dummy_ds *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = parse_shapes(p, lp_params_lookup(p, "input_shape"), LOWP_SAMPLE_MAX_TENSORS, d->in, &d->n, NULL);
    const lp_yval *ls = lp_params_lookup(p, "label_shape");
    if (st == LP_OK && ls)
        st = parse_shapes(p, ls, LOWP_SAMPLE_MAX_TENSORS, d->in + d->n, &d->n_labels, NULL);
    if (st == LP_OK)
        st = parse_ranges(p, d->in, d->n + d->n_labels);
    if (st == LP_OK)
        st = lowp_params_get_int(p, "length", 1000, &d->length);
    if (st == LP_OK && d->length < 1)
        st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "length must be >= 1");
    if (st != LP_OK) {
        free(d);
        return st;
    }
    snprintf(d->desc, sizeof d->desc, "%lld random samples (dummy_v2)", (long long)d->length);
    *state_out = d;
    *length_out = d->length;
    return LP_OK;
}

static lp_status dummy_get(void *state, int64_t index, lowp_sample *s)
{
    dummy_ds *d = state;
    uint64_t rng = 0x5EED0000ull ^ ((uint64_t)index * 0x9E3779B97F4A7C15ull);
    for (int i = 0; i < d->n + d->n_labels; i++) {
        dummy_input *in = &d->in[i];
        lp_tensor *t;
        LP_TRY(lp_tensor_new(in->dtype, in->ndim, in->dims, &t));
        const lp_dtype_traits *tr = lp_dtype_traits_of(in->dtype);
        int64_t n = lp_tensor_numel(t);
        for (int64_t k = 0; k < n; k++) {
            double v = in->low + (in->high - in->low) * lowp_random_uniform(&rng);
            tr->set(t->data, k, tr->is_float ? v : floor(v));
        }
        LP_TRY(i < d->n ? lp_sample_add_input(s, t) : lp_sample_add_label(s, t));
    }
    return d->label ? lp_sample_add_class(s, 0) : LP_OK;
}

static const char *dummy_describe(void *state) { return ((dummy_ds *)state)->desc; }

static const lowp_param_spec dummy_params[] = {
    {"shape", LOWP_PARAM_ANY, 1, 1},
    {"low", LOWP_PARAM_FLOAT_LIST, 0, 0},
    {"high", LOWP_PARAM_FLOAT_LIST, 0, 0},
    {"dtype", LOWP_PARAM_STRING_LIST, 0, 0},
    {"label", LOWP_PARAM_BOOL, 0, 0},
    {NULL, 0, 0, 0},
};

static const lowp_param_spec dummy_v2_params[] = {
    {"input_shape", LOWP_PARAM_ANY, 1, 1},
    {"label_shape", LOWP_PARAM_ANY, 0, 0},
    {"low", LOWP_PARAM_FLOAT_LIST, 0, 0},
    {"high", LOWP_PARAM_FLOAT_LIST, 0, 0},
    {"dtype", LOWP_PARAM_STRING_LIST, 0, 0},
    {"length", LOWP_PARAM_INT, 0, 0},
    {NULL, 0, 0, 0},
};

const lowp_dataset_vtable lp_ds_dummy = {
    "dummy", dummy_params, dummy_open, dummy_get, dummy_close, dummy_describe,
};
const lowp_dataset_vtable lp_ds_dummy_v2 = {
    "dummy_v2", dummy_v2_params, dummy_v2_open, dummy_get, dummy_close, dummy_describe,
};
