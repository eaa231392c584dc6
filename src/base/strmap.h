/* strmap.h — an open-addressing map from strings to ints (names -> indices). */
#ifndef LP_STRMAP_H
#define LP_STRMAP_H

#include <stdbool.h>

#include "base/status.h"

typedef struct lp_strmap {
    char **keys;   /* borrowed: the map does not own the strings */
    int *vals;
    int cap;       /* power of two, 0 when empty */
    int count;
} lp_strmap;

/* Inserts or overwrites. `key` must outlive the map. */
lp_status lp_strmap_put(lp_strmap *m, char *key, int val);
/* The value, or -1 when absent. */
int lp_strmap_get(const lp_strmap *m, const char *key);
void lp_strmap_clear(lp_strmap *m);

/* Does POSIX extended regular expression `re` match `name` from its start (Python's re.match,
 * as LPOT's op_wise and pruner names use)? False for an expression that does not compile. */
bool lp_regex_match_start(const char *re, const char *name);

#endif
