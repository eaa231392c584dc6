/* ds_dummy.c — the dummy dataset: random samples of a given shape, dtype and range, for speed
 * work. As in LPOT, shape's first dim is the number of samples; a list of shapes gives several
 * inputs. Sample i is generated from a seed derived from i, so it is the same every time. */
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
    int n;
    dummy_input in[LOWP_SAMPLE_MAX_TENSORS];
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

/* One shape (SEQ of ints or a "1, 2, 3" scalar) into in. */
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
    *count = dims[0];
    in->ndim = n - 1;
    memcpy(in->dims, dims + 1, (size_t)(n - 1) * sizeof *dims);
    return LP_OK;
}

static lp_status dummy_open(const lowp_params *p, void **state_out, int64_t *length_out)
{
    dummy_ds *d = calloc(1, sizeof *d);
    if (!d)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_status st = LP_OK;
    const lp_yval *shape = lp_params_lookup(p, "shape");
    if (shape && shape->kind == LP_NODE_SEQ && shape->n > 0 && shape->items[0]->kind == LP_NODE_SEQ) {
        if (shape->n > LOWP_SAMPLE_MAX_TENSORS)
            st = bad_shape(p, shape);
        for (int i = 0; i < shape->n && st == LP_OK; i++) {
            int64_t count;
            st = parse_shape(p, shape->items[i], &d->in[i], &count);
            if (st == LP_OK && i > 0 && count != d->length)
                st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, shape->line,
                                  "every shape needs the same first dim (number of samples)");
            d->length = count;
            d->n++;
        }
    } else if (shape) {
        st = parse_shape(p, shape, &d->in[0], &d->length);
        d->n = 1;
    } else {
        st = bad_shape(p, NULL);
    }
    double lows[LOWP_SAMPLE_MAX_TENSORS], highs[LOWP_SAMPLE_MAX_TENSORS];
    int n_low = 0, n_high = 0, n_dt = 0;
    if (st == LP_OK)
        st = lowp_params_get_floats(p, "low", LOWP_SAMPLE_MAX_TENSORS, lows, &n_low);
    if (st == LP_OK)
        st = lowp_params_get_floats(p, "high", LOWP_SAMPLE_MAX_TENSORS, highs, &n_high);
    for (int i = 0; i < d->n && st == LP_OK; i++) {
        const char *dt;
        st = lowp_params_get_string_at(p, "dtype", i, &dt, &n_dt);
        if (st == LP_OK && !dt)
            st = lowp_params_get_string_at(p, "dtype", 0, &dt, &n_dt);
        dummy_input *in = &d->in[i];
        in->dtype = dt ? lp_dtype_from_name(dt) : LP_F32;
        if (st == LP_OK && (in->dtype == LOWP_UNDEFINED || !lp_dtype_valid(in->dtype)))
            st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "unknown dtype '%s'", dt);
        in->low = n_low ? lows[i < n_low ? i : 0] : -128.0;
        in->high = n_high ? highs[i < n_high ? i : 0] : 127.0;
        if (st == LP_OK && !(in->high >= in->low))
            st = lp_cfg_error(LOWP_ERR_INVALID_ARGUMENT, p->file, p->path, 0, "high < low");
    }
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

static lp_status dummy_get(void *state, int64_t index, lowp_sample *s)
{
    dummy_ds *d = state;
    uint64_t rng = 0x5EED0000ull ^ ((uint64_t)index * 0x9E3779B97F4A7C15ull);
    for (int i = 0; i < d->n; i++) {
        dummy_input *in = &d->in[i];
        lp_tensor *t;
        LP_TRY(lp_tensor_new(in->dtype, in->ndim, in->dims, &t));
        const lp_dtype_traits *tr = lp_dtype_traits_of(in->dtype);
        int64_t n = lp_tensor_numel(t);
        for (int64_t k = 0; k < n; k++) {
            double v = in->low + (in->high - in->low) * lowp_random_uniform(&rng);
            tr->set(t->data, k, tr->is_float ? v : floor(v));
        }
        LP_TRY(lp_sample_add_input(s, t));
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

const lowp_dataset_vtable lp_ds_dummy = {
    "dummy", dummy_params, dummy_open, dummy_get, dummy_close, dummy_describe,
};
