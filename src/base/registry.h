/* registry.h — named vtables (datasets, transforms, metrics, strategies): built-ins in a table
 * plus user registrations, found by name. Every vtable kept here starts with its
 * `const char *name` member, read through a pointer to that first member. */
#ifndef LP_REGISTRY_H
#define LP_REGISTRY_H

#include <stddef.h>

#include "base/status.h"

#define LP_REGISTRY_MAX_USER 64

typedef struct lp_registry {
    const char *kind;                   /* "dataset", for messages */
    const void *const *builtin;
    int n_builtin;
    const void *user[LP_REGISTRY_MAX_USER];
    int n_user;
} lp_registry;

/* A static registry over a built-in table. */
#define LP_REGISTRY(kind_, table_) \
    { .kind = (kind_), .builtin = (const void *const *)(table_), .n_builtin = (int)(sizeof(table_) / sizeof((table_)[0])) }

/* The vtable named `name`, or NULL. */
const void *lp_registry_find(const lp_registry *r, const char *name);
/* "a, b, c": every name, built-ins first. */
void lp_registry_names(const lp_registry *r, char *buf, size_t size);
/* Adds a user vtable (kept by pointer); fails if the name is taken or the table is full. */
lp_status lp_registry_add(lp_registry *r, const void *vtable);

#endif
