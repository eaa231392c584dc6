/* strmap.c — FNV-1a hashed, linearly probed string map. */
#include "base/strmap.h"

#include <stdint.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static lp_status grow(lp_strmap *m)
{
    int cap = m->cap ? m->cap * 2 : 64;
    char **keys = calloc((size_t)cap, sizeof *keys);
    int *vals = calloc((size_t)cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return lp_error(LOWP_ERR_OUT_OF_MEMORY, "out of memory growing a name table");
    }
    for (int i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        uint32_t j = hash(m->keys[i]) & (uint32_t)(cap - 1);
        while (keys[j])
            j = (j + 1) & (uint32_t)(cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return LP_OK;
}

lp_status lp_strmap_put(lp_strmap *m, char *key, int val)
{
    if ((m->count + 1) * 2 > m->cap)
        LP_TRY(grow(m));
    uint32_t j = hash(key) & (uint32_t)(m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key) != 0)
        j = (j + 1) & (uint32_t)(m->cap - 1);
    if (!m->keys[j])
        m->count++;
    m->keys[j] = key;
    m->vals[j] = val;
    return LP_OK;
}

int lp_strmap_get(const lp_strmap *m, const char *key)
{
    if (!m->cap)
        return -1;
    uint32_t j = hash(key) & (uint32_t)(m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0)
            return m->vals[j];
        j = (j + 1) & (uint32_t)(m->cap - 1);
    }
    return -1;
}

void lp_strmap_clear(lp_strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

bool lp_regex_match_start(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    char *full = malloc(n + 4);
    if (!full)
        return false;
    snprintf(full, n + 4, "^(%s)", pattern);
    regex_t re;
    bool m = regcomp(&re, full, REG_EXTENDED | REG_NOSUB) == 0;
    free(full);
    if (m) {
        m = regexec(&re, name, 0, NULL, 0) == 0;
        regfree(&re);
    }
    return m;
}
