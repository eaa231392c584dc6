/* metric.c — the metric registry and lowp_metric handles. */
#include "metric/metric.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/registry.h"

static const lowp_metric_vtable *const builtin[] = {
    &lp_metric_topk, &lp_metric_accuracy, &lp_metric_loss, &lp_metric_mae, &lp_metric_mse,
    &lp_metric_rmse, &lp_metric_f1, &lp_metric_map, &lp_metric_coco_map, &lp_metric_voc_map,
    &lp_metric_miou, &lp_metric_bleu, &lp_metric_squad_f1,
};
static lp_registry registry = LP_REGISTRY("metric", builtin);
static _Thread_local int64_t failed_row = -1;

lp_status lp_metric_row_error(int64_t row, lp_status st, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    failed_row = row;
    return lp_error(st, "row %lld: %s", (long long)row, msg);
}

int64_t lp_metric_failed_row(void) { return failed_row; }

const lowp_metric_vtable *lp_metric_find(const char *name)
{
    return lp_registry_find(&registry, name);
}

void lp_metric_names(char *buf, size_t size)
{
    lp_registry_names(&registry, buf, size);
}

lowp_status lowp_metric_register(const lowp_metric_vtable *vt)
{
    if (!vt || !vt->name || !vt->create || !vt->update || !vt->result)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT,
                        "lowp_metric_register: the vtable needs name, create, update and result");
    return lp_registry_add(&registry, vt);
}

lp_status lp_metric_create_params(const char *name, lowp_params *params, lowp_metric **out)
{
    const lowp_metric_vtable *vt = lp_metric_find(name);
    if (!vt)
        return lp_unknown_name(params, "metric", name, lp_metric_names);
    LP_TRY(lp_params_check(params, vt->params, "metric", name));
    lowp_metric *m = calloc(1, sizeof *m);
    if (!m)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    m->vt = vt;
    m->higher_is_better = -1;
    params->spec = vt->params;
    lp_status st = LP_OK;
    m->compare_label = 1;
    for (const lowp_param_spec *s = vt->params; s && s->name; s++)
        if (!strcmp(s->name, "compare_label"))
            st = lowp_params_get_bool(params, "compare_label", 1, &m->compare_label);
    if (st == LP_OK)
        st = vt->create(params, &m->state);
    params->spec = NULL;
    if (st != LP_OK) {
        free(m);
        return st;
    }
    *out = m;
    return LP_OK;
}

lowp_status lowp_metric_create(const char *name, const lowp_params *params, lowp_metric **out)
{
    if (!name || !out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_metric_create: NULL argument");
    lowp_params view;
    lp_params_view_of(&view, params, name);
    return lp_metric_create_params(name, &view, out);
}

void lowp_metric_free(lowp_metric *m)
{
    if (!m)
        return;
    if (m->vt->free)
        m->vt->free(m->state);
    free(m);
}

lowp_status lowp_metric_update(lowp_metric *m, int n_outputs, const lowp_tensor *const *outputs,
                               int n_labels, const lowp_tensor *const *labels)
{
    failed_row = -1;
    if (!m || n_outputs < 1 || !outputs || n_labels < 0 || (n_labels > 0 && !labels))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_metric_update: bad argument");
    for (int i = 0; i < n_outputs + n_labels; i++)
        if (!(i < n_outputs ? outputs[i] : labels[i - n_outputs]))
            return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_metric_update: %s %d is NULL",
                            i < n_outputs ? "output" : "label", i < n_outputs ? i : i - n_outputs);
    lp_status st = m->vt->update(m->state, n_outputs, outputs, n_labels, labels);
    return st == LP_OK ? st : lp_error_prefix(st, "metric %s", m->vt->name);
}

lowp_status lowp_metric_result(lowp_metric *m, double *value_out)
{
    if (!m || !value_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_metric_result: NULL argument");
    lp_status st = m->vt->result(m->state, value_out);
    return st == LP_OK ? st : lp_error_prefix(st, "metric %s", m->vt->name);
}

void lowp_metric_reset(lowp_metric *m)
{
    if (m && m->vt->reset)
        m->vt->reset(m->state);
}

const char *lowp_metric_name(const lowp_metric *m) { return m ? m->vt->name : ""; }
int lowp_metric_higher_is_better(const lowp_metric *m)
{
    return !m ? 1 : m->higher_is_better >= 0 ? m->higher_is_better : m->vt->higher_is_better;
}
int lowp_metric_compare_label(const lowp_metric *m) { return m ? m->compare_label : 1; }

int lp_metric_count(void) { return registry.n_builtin + registry.n_user; }

const lowp_metric_vtable *lp_metric_at(int i)
{
    if (i < 0 || i >= lp_metric_count())
        return NULL;
    return i < registry.n_builtin ? registry.builtin[i] : registry.user[i - registry.n_builtin];
}

static lp_status mergeable(const lowp_metric *m)
{
    if (!m->vt->save || !m->vt->merge)
        return lp_error(LOWP_ERR_UNSUPPORTED, "metric %s cannot merge the states of several processes "
                        "(its vtable has no save/merge)", m->vt->name);
    return LP_OK;
}

lowp_status lowp_metric_save(lowp_metric *m, void **bytes_out, size_t *size_out)
{
    if (!m || !bytes_out || !size_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_metric_save: NULL argument");
    LP_TRY(mergeable(m));
    lp_status st = m->vt->save(m->state, bytes_out, size_out);
    return st == LP_OK ? st : lp_error_prefix(st, "metric %s: saving its state", m->vt->name);
}

lowp_status lowp_metric_merge(lowp_metric *m, const void *bytes, size_t size)
{
    if (!m || (!bytes && size))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_metric_merge: NULL argument");
    LP_TRY(mergeable(m));
    lp_status st = m->vt->merge(m->state, bytes, size);
    return st == LP_OK ? st : lp_error_prefix(st, "metric %s: merging a peer's state", m->vt->name);
}

lp_status lp_metric_bad_state(const char *what)
{
    return lp_error(LOWP_ERR_FORMAT, "the peer's state is not a %s state with the same parameters "
                    "(truncated, or from another metric)", what);
}
