/* registry.c — lookup and registration of named vtables. */
#include "base/registry.h"

#include <stdio.h>
#include <string.h>

static const char *name_of(const void *vt) { return *(const char *const *)vt; }

static const void *at(const lp_registry *r, int i) { return i < r->n_builtin ? r->builtin[i] : r->user[i - r->n_builtin]; }

const void *lp_registry_find(const lp_registry *r, const char *name)
{
    for (int i = 0; i < r->n_builtin + r->n_user; i++)
        if (strcmp(name_of(at(r, i)), name) == 0)
            return at(r, i);
    return NULL;
}

void lp_registry_names(const lp_registry *r, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < r->n_builtin + r->n_user && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s", i ? ", " : "", name_of(at(r, i)));
}

lp_status lp_registry_add(lp_registry *r, const void *vt)
{
    if (lp_registry_find(r, name_of(vt)))
        return lp_error(LOWP_ERR_INVALID_ARGUMENT, "%s '%s' is already registered", r->kind, name_of(vt));
    if (r->n_user == LP_REGISTRY_MAX_USER)
        return lp_error(LOWP_ERR_UNSUPPORTED, "too many user %ss (at most %d)", r->kind, LP_REGISTRY_MAX_USER);
    r->user[r->n_user++] = vt;
    return LP_OK;
}
