/* spec.c — command-line short forms of datasets, transforms and metrics
 * ("FashionMNIST:/data/fmnist", "Normalize=0.2860/0.3530", "topk=1") into name + params. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "metric/metric.h"

static lp_status set_positional(lowp_params *p, const lowp_param_spec *spec, int *next,
                                const char *kind, const char *name, const char *value)
{
    int want = ++*next;
    for (const lowp_param_spec *s = spec; s && s->name; s++)
        if (s->positional == want)
            return lowp_params_set(p, s->name, value);
    return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s %s takes %d bare value%s; write extra ones as key=value (got '%s')",
                    kind, name, want - 1, want - 1 == 1 ? "" : "s", value);
}

static bool is_key(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
              (i && s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

lowp_status lowp_params_parse_spec(const char *kind, const char *spec, char **name_out,
                                   lowp_params **params_out)
{
    if (!kind || !spec || !name_out || !params_out)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_params_parse_spec: NULL argument");
    size_t nl = strcspn(spec, "=:");
    if (nl == 0)
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s '%s': the name is missing", kind, spec);
    char *name = strndup(spec, nl);
    if (!name)
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    const lowp_param_spec *ps = NULL;
    bool found;
    char names[512];
    if (!strcmp(kind, "dataset")) {
        const lowp_dataset_vtable *vt = lp_dataset_find(name);
        found = vt, ps = vt ? vt->params : NULL;
        lp_dataset_names(names, sizeof names);
    } else if (!strcmp(kind, "transform")) {
        const lowp_transform_vtable *vt = lp_transform_find(name);
        found = vt, ps = vt ? vt->params : NULL;
        lp_transform_names(names, sizeof names);
    } else if (!strcmp(kind, "metric")) {
        const lowp_metric_vtable *vt = lp_metric_find(name);
        found = vt, ps = vt ? vt->params : NULL;
        lp_metric_names(names, sizeof names);
    } else {
        free(name);
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "lowp_params_parse_spec: unknown kind '%s'", kind);
    }
    if (!found) {
        lp_status st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "unknown %s '%s' (known: %s)", kind, name, names);
        free(name);
        return st;
    }
    lowp_params *p = NULL;
    lp_status st = lowp_params_create(&p);
    int next = 0;
    const char *s = spec + nl;
    char *buf = NULL;
    if (st == LP_OK && *s == '=') {
        /* NAME=V1/V2...[:key=value...] */
        s++;
        size_t vl = strcspn(s, ":");
        buf = strndup(s, vl);
        if (!buf)
            st = lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        for (char *tok = buf, *slash; st == LP_OK && tok; tok = slash ? slash + 1 : NULL) {
            slash = strchr(tok, '/');
            if (slash && ps && !strcmp(kind, "dataset"))
                slash = NULL;            /* dataset values are paths */
            if (slash)
                *slash = 0;
            st = set_positional(p, ps, &next, kind, name, tok);
        }
        s += vl;
    }
    while (st == LP_OK && *s == ':') {
        s++;
        size_t tl = strcspn(s, ":");
        const char *eq = memchr(s, '=', tl);
        free(buf);
        buf = NULL;
        if (eq && is_key(s, (size_t)(eq - s))) {
            char *key = strndup(s, (size_t)(eq - s)), *val = strndup(eq + 1, tl - (size_t)(eq - s) - 1);
            st = key && val ? lowp_params_set(p, key, val) : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
            free(key);
            free(val);
        } else {
            buf = strndup(s, tl);
            st = buf ? set_positional(p, ps, &next, kind, name, buf) : lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory");
        }
        s += tl;
    }
    free(buf);
    if (st == LP_OK && *s)
        st = lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s '%s': cannot parse '%s'", kind, spec, s);
    if (st != LP_OK) {
        lowp_params_free(p);
        free(name);
        return st;
    }
    snprintf(p->path, sizeof p->path, "--%s %s", kind, name);
    *name_out = name;
    *params_out = p;
    return LP_OK;
}
