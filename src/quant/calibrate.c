/* calibrate.c — collecting activation statistics through the engine's tap. */
#include "quant/calibrate.h"

#include "base/bytes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/adaround.h"
#include "quant/recipe.h"

static lp_status count_values(void *user, lp_graph *sub, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    *(int64_t *)user += sub->n_values;
    return LP_OK;
}

/* An observer for each float value of g that is computed or fed (not constants, not outer
 * values: those are observed where they are defined); a name seen before keeps its observer. */
static lp_status add_observers(void *user, lp_graph *g, lp_graph *parent, int node, int depth)
{
    (void)parent, (void)node, (void)depth;
    lp_calibration *c = user;
    for (int v = 0; v < g->n_values; v++) {
        const lp_value *val = &g->values[v];
        if (val->kind == LP_VALUE_CONST || val->kind == LP_VALUE_OUTER || (val->dtype && val->dtype != LP_F32) ||
            lp_strmap_get(&c->index, val->name) >= 0)
            continue;
        if (!(c->names[c->n_obs] = strdup(val->name)) ||
            lp_strmap_put(&c->index, c->names[c->n_obs], c->n_obs) != LP_OK)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        lp_observer_init(&c->obs[c->n_obs]);
        c->n_obs++;
    }
    return LP_OK;
}

lowp_status lowp_calibration_create(const lowp_model *model, const lowp_session_options *options,
                                    lowp_calibration **out)
{
    if (!model || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_create: NULL argument");
    lp_calibration *c = calloc(1, sizeof *c);
    if (!c)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lowp_session_options o = options ? *options : lowp_session_options_default();
    o.optimize = 1;
    lp_status st = lowp_session_create(model, &o, &c->session);
    if (st != LP_OK) {
        free(c);
        return st;
    }
    /* one observer per float value a node reads or writes, and per float graph input; the
     * same inside control-flow bodies (their values by name: the engine shows them through
     * the tap as it runs the bodies), whose outer values are the enclosing graph's */
    lp_graph *g = c->session->g;
    int64_t total = g->n_values;
    st = lp_graph_walk_subgraphs(g, count_values, &total);
    if (st == LP_OK && total > INT32_MAX / 2)
        st = lp_error(LOWP_ERR_UNSUPPORTED, "%lld values to observe: too many", (long long)total);
    if (st == LP_OK) {
        c->obs = calloc((size_t)total + 1, sizeof *c->obs);
        c->names = calloc((size_t)total + 1, sizeof *c->names);
        c->channels = calloc((size_t)total + 1, sizeof *c->channels);
        if (!c->obs || !c->names || !c->channels)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory for %lld observers", (long long)total);
    }
    if (st == LP_OK)
        st = add_observers(c, g, NULL, 0, 0);
    if (st == LP_OK)
        st = lp_graph_walk_subgraphs(g, add_observers, c);
    if (st != LP_OK) {
        lowp_calibration_free(c);
        return st;
    }
    *out = c;
    return LP_OK;
}

void lowp_calibration_free(lowp_calibration *c)
{
    if (!c)
        return;
    lowp_session_free(c->session);
    lp_grams_free(c->grams);
    for (int i = 0; c->kept && i < c->kept->n_batches * c->kept->n_inputs; i++)
        lp_tensor_free(c->kept->t[i]);
    if (c->kept)
        free(c->kept->t);
    free(c->kept);
    for (int i = 0; i < c->n_obs; i++)
        free(c->names[i]);
    for (int i = 0; c->channels && i < c->n_obs; i++) {
        free(c->channels[i].min);
        free(c->channels[i].max);
        free(c->channels[i].sum);
        free(c->channels[i].acc);
    }
    free(c->channels);
    free(c->names);
    free(c->obs);
    lp_strmap_clear(&c->index);
    free(c);
}

static void channels_drop(lp_channel_stats *cs, int64_t mark)
{
    free(cs->min), free(cs->max), free(cs->sum), free(cs->acc);
    *cs = (lp_channel_stats){.channels = mark};
}

/* Empty statistics for ch channels; false when out of memory (they are then dropped). */
static bool channels_alloc(lp_channel_stats *cs, int64_t ch)
{
    size_t n = (size_t)(ch ? ch : 1);
    cs->min = malloc(n * sizeof *cs->min);
    cs->max = malloc(n * sizeof *cs->max);
    cs->sum = calloc(n, sizeof *cs->sum);
    cs->acc = calloc(n, sizeof *cs->acc);
    if (!cs->min || !cs->max || !cs->sum || !cs->acc) {
        channels_drop(cs, -1); /* statistics are advisory: do without them */
        return false;
    }
    for (int64_t k = 0; k < ch; k++) {
        cs->min[k] = INFINITY;
        cs->max[k] = -INFINITY;
    }
    cs->channels = ch;
    cs->count = 0;
    return true;
}

static void channels_round(lp_channel_stats *cs)
{
    for (int64_t k = 0; k < cs->channels; k++) {
        lp_xsum32_normalize(&cs->acc[k]);
        cs->sum[k] = lp_xsum32_value(&cs->acc[k]);
    }
}

/* Per-channel min/max/sum along the channel axis (see lp_channel_stats). A tensor whose
 * channel count changes between batches (dynamic shapes) stops keeping channel statistics. */
static void channel_update(lp_channel_stats *cs, const lp_tensor *t)
{
    if (t->ndim < 1 || cs->channels < 0)
        return;
    int axis = t->ndim >= 4 ? 1 : t->ndim - 1;
    int64_t ch = t->dims[axis], inner = 1, n = lp_tensor_numel(t);
    for (int d = axis + 1; d < t->ndim; d++)
        inner *= t->dims[d];
    if (!cs->channels) {
        if (!channels_alloc(cs, ch))
            return;
    } else if (cs->channels != ch) {
        channels_drop(cs, -1);
        return;
    }
    const float *x = t->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (i / inner) % ch;
        float v = x[i];
        if (isnan(v))
            continue;
        if (v < cs->min[k]) cs->min[k] = v;
        if (v > cs->max[k]) cs->max[k] = v;
        lp_xsum32_add(&cs->acc[k], v);
        if (((i + 1) & ((1 << 28) - 1)) == 0)   /* limbs hold 2^31 additions */
            for (int64_t j = 0; j < ch; j++)
                lp_xsum32_normalize(&cs->acc[j]);
    }
    cs->count += ch ? n / ch : 0;
    channels_round(cs);
}

static void observe(lp_calibration *c, const char *name, const lp_tensor *t)
{
    if (t->dtype != LP_F32)
        return;
    int i = lp_strmap_get(&c->index, name);
    if (i < 0)
        return;
    lp_observer_update(&c->obs[i], t->data, lp_tensor_numel(t));
    channel_update(&c->channels[i], t);
    lp_grams_observe(c->grams, name, t);
}

lowp_status lowp_calibration_for_recipe(lowp_calibration *c, const lowp_recipe *r)
{
    if (!c || !r)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_for_recipe: NULL argument");
    bool grams = r->learned_rounding && !c->grams, keep = r->block_reconstruction && !c->kept;
    if (!grams && !keep)
        return LP_OK;
    if (c->samples)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_for_recipe: the calibration has seen %lld samples "
                        "already; %s needs them from the first batch on", (long long)c->samples,
                        grams ? "learned rounding" : "block reconstruction");
    if (keep) {
        if (!(c->kept = calloc(1, sizeof *c->kept)))
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        c->kept->n_inputs = c->session->g->n_inputs;
    }
    return grams ? lp_grams_new(c->session->g, &c->grams) : LP_OK;
}

/* Keeps a copy of one fed batch (graph inputs in order) within the bounds of lp_calib_kept. */
static lp_status keep_batch(lp_calib_kept *k, const lp_tensor *const *in, int64_t n)
{
    int64_t bytes = 0;
    for (int i = 0; i < k->n_inputs; i++)
        bytes += (int64_t)in[i]->nbytes;
    if (k->samples + n > LP_CALIB_KEEP_SAMPLES || k->bytes + bytes > LP_CALIB_KEEP_BYTES) {
        k->dropped += n;
        return LP_OK;
    }
    if (k->n_batches == k->cap) {
        int cap = k->cap ? 2 * k->cap : 16;
        lp_tensor **t = realloc(k->t, (size_t)cap * (size_t)(k->n_inputs ? k->n_inputs : 1) * sizeof *t);
        if (!t)
            return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        k->t = t;
        k->cap = cap;
    }
    lp_tensor **row = k->t + (size_t)k->n_batches * (size_t)k->n_inputs;
    for (int i = 0; i < k->n_inputs; i++) {
        lp_status st = lp_tensor_clone(in[i], &row[i]);
        if (st != LP_OK) {
            while (i-- > 0)
                lp_tensor_free(row[i]);
            return st;
        }
    }
    k->n_batches++;
    k->samples += n;
    k->bytes += bytes;
    return LP_OK;
}

static lp_status tap(void *user, const lp_plan *plan, int node, int value, const lp_tensor *t)
{
    (void)node;
    observe(user, plan->g->values[value].name, t);
    return LP_OK;
}

lowp_status lowp_calibration_feed(lowp_calibration *c, int n_inputs, const char *const *input_names,
                                  const lowp_tensor *const *inputs)
{
    if (!c)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_calibration_feed: NULL calibration");
    const lp_graph *g = c->session->g;
    const lp_tensor *ordered_store[16], **ordered = ordered_store;
    if (g->n_inputs > 16 && !(ordered = malloc((size_t)g->n_inputs * sizeof *ordered)))
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    lp_plan *plan = NULL;
    lp_status st = lp_session_bind(c->session, n_inputs, input_names, inputs, ordered);
    if (st == LP_OK)
        st = lp_session_plan(c->session, ordered, &plan);
    if (st == LP_OK)
        st = lp_plan_run(plan, ordered, tap, c);
    if (st == LP_OK) {
        for (int i = 0; i < g->n_inputs; i++)
            observe(c, g->values[g->inputs[i]].name, ordered[i]);
        int64_t n = g->n_inputs && ordered[0]->ndim ? ordered[0]->dims[0] : 1;
        if (c->kept)
            st = keep_batch(c->kept, ordered, n);
        c->samples += n;
    }
    if (ordered != ordered_store)
        free(ordered);
    return st;
}

int64_t lowp_calibration_samples(const lowp_calibration *c) { return c ? c->samples : 0; }

const lp_channel_stats *lp_calibration_channels(const lp_calibration *c, const char *name)
{
    int i = lp_strmap_get(&c->index, name);
    return i >= 0 && c->channels[i].channels > 0 && c->channels[i].count ? &c->channels[i] : NULL;
}

const lp_observer *lp_calibration_find(const lp_calibration *c, const char *name)
{
    int i = lp_strmap_get(&c->index, name);
    return i >= 0 && c->obs[i].count ? &c->obs[i] : NULL;
}

/* ---- saved statistics (distributed calibration) ---- */

static void save_observer(lp_bytes *b, const lp_observer *o)
{
    lp_bytes_f64(b, o->min);
    lp_bytes_f64(b, o->max);
    lp_bytes_f64(b, o->range);
    lp_bytes_f64(b, o->base);
    lp_bytes_u64(b, (uint64_t)o->level);
    lp_bytes_u64(b, o->count);
    uint64_t nz = 0;
    for (int i = 0; i < LP_HIST_BINS; i++)
        nz += o->hist[i] != 0;
    lp_bytes_u64(b, nz);   /* sparse: (bin, count) pairs */
    for (int i = 0; i < LP_HIST_BINS; i++)
        if (o->hist[i]) {
            lp_bytes_u64(b, (uint64_t)i);
            lp_bytes_u64(b, o->hist[i]);
        }
}

static bool read_observer(lp_reader *r, lp_observer *o)
{
    lp_observer_init(o);
    o->min = lp_reader_f64(r);
    o->max = lp_reader_f64(r);
    o->range = lp_reader_f64(r);
    o->base = lp_reader_f64(r);
    o->level = (int)lp_reader_u64(r);
    o->count = lp_reader_u64(r);
    int64_t nz = lp_reader_count(r, 16);
    for (int64_t k = 0; k < nz; k++) {
        uint64_t i = lp_reader_u64(r), v = lp_reader_u64(r);
        if (i >= LP_HIST_BINS)
            return false;
        o->hist[i] = v;
    }
    return !r->bad && o->level >= 0 && o->level < 4096 && !(o->range < 0) && !(o->base < 0) &&
           (o->range == 0) == (o->base == 0) && (o->range == 0 || o->range == ldexp(o->base, o->level));
}

static void save_channels(lp_bytes *b, const lp_channel_stats *cs)
{
    lp_bytes_u64(b, (uint64_t)cs->channels);
    lp_bytes_u64(b, (uint64_t)cs->count);
    for (int64_t k = 0; k < cs->channels; k++) {
        lp_bytes_f64(b, cs->min[k]);
        lp_bytes_f64(b, cs->max[k]);
        lp_bytes_put(b, &cs->acc[k], sizeof cs->acc[k]);
    }
}

/* A peer's channel statistics merged into cs (replacing them when `replace`): as in one
 * process, differing channel counts (shapes that changed between batches) drop them. */
static bool read_channels(lp_reader *r, lp_channel_stats *cs, bool replace)
{
    int64_t ch = (int64_t)lp_reader_u64(r), count = (int64_t)lp_reader_u64(r);
    const size_t per = 2 * sizeof(double) + sizeof(lp_xsum32);
    if (r->bad || count < 0 || ch < -1 || (ch > 0 && (uint64_t)ch > r->left / per))
        return false;
    if (replace)
        channels_drop(cs, 0);
    bool keep = ch > 0 && cs->channels >= 0 && (cs->channels == 0 || cs->channels == ch);
    if (ch != 0 && !keep)
        channels_drop(cs, -1);
    if (keep && cs->channels == 0 && !channels_alloc(cs, ch))
        keep = false;
    for (int64_t k = 0; k < (ch > 0 ? ch : 0); k++) {
        double mn = lp_reader_f64(r), mx = lp_reader_f64(r);
        lp_xsum32 acc;
        lp_reader_get(r, &acc, sizeof acc);
        if (!keep)
            continue;
        cs->min[k] = fmin(cs->min[k], mn);
        cs->max[k] = fmax(cs->max[k], mx);
        lp_xsum32_merge(&cs->acc[k], &acc);
    }
    if (keep) {
        cs->count += count;
        channels_round(cs);
    }
    return !r->bad;
}

lp_status lp_calibration_save(const lp_calibration *c, void **out, size_t *size)
{
    lp_bytes b = {0};
    lp_bytes_str(&b, "calibration");
    lp_bytes_u64(&b, (uint64_t)c->n_obs);
    lp_bytes_u64(&b, (uint64_t)c->samples);
    for (int i = 0; i < c->n_obs; i++) {
        lp_bytes_str(&b, c->names[i]);
        save_observer(&b, &c->obs[i]);
        save_channels(&b, &c->channels[i]);
    }
    return lp_bytes_finish(&b, out, size);
}

static lp_status read_stats(lp_calibration *c, const void *bytes, size_t size, bool replace, unsigned char *rebase)
{
    lp_reader r;
    lp_reader_init(&r, bytes, size);
    lp_reader_expect_str(&r, "calibration");
    int64_t n = (int64_t)lp_reader_u64(&r), samples = (int64_t)lp_reader_u64(&r);
    if (r.bad || n != c->n_obs || samples < 0)
        return lp_error(LOWP_ERR_FORMAT, "calibration statistics from another model (%lld tensors, this one %d)",
                        (long long)n, c->n_obs);
    lp_status st = LP_OK;
    for (int i = 0; i < c->n_obs && !r.bad; i++) {
        lp_observer o;
        if (!lp_reader_expect_str(&r, c->names[i]) || !read_observer(&r, &o))
            break;
        if (replace)
            c->obs[i] = o;
        else if (lp_observer_merge(&c->obs[i], &o) != LP_OK) {
            if (rebase)
                rebase[i] = 1;
            st = lp_error(LOWP_ERR_UNSUPPORTED, "tensor '%s': histograms from different bases", c->names[i]);
        }
        if (!read_channels(&r, &c->channels[i], replace))
            r.bad = 1;
    }
    if (r.bad || r.left)
        return lp_error(LOWP_ERR_FORMAT, "calibration statistics: truncated or malformed");
    c->samples = replace ? samples : c->samples + samples;
    return st;
}

lp_status lp_calibration_merge(lp_calibration *c, const void *bytes, size_t size, unsigned char *rebase)
{
    return read_stats(c, bytes, size, false, rebase);
}

lp_status lp_calibration_load(lp_calibration *c, const void *bytes, size_t size)
{
    return read_stats(c, bytes, size, true, NULL);
}

void lp_calibration_restart(lp_calibration *c, const double *bases)
{
    for (int i = 0; i < c->n_obs; i++) {
        lp_observer_restart(&c->obs[i], bases ? bases[i] : c->obs[i].base);
        channels_drop(&c->channels[i], 0);
    }
    c->samples = 0;
}
