/* params.h — a small tree of YAML-like values (lp_node) and lowp_params, the checked view of
 * one map in it that configures a dataset, transform or metric. */
#ifndef LP_PARAMS_H
#define LP_PARAMS_H

#include <stdbool.h>

#include "base/status.h"

typedef enum lp_node_kind { LP_NODE_NULL, LP_NODE_SCALAR, LP_NODE_SEQ, LP_NODE_MAP } lp_node_kind;

/* A YAML value. Scalars keep their text; a MAP keeps its keys in file order. */
typedef struct lp_yval {
    lp_node_kind kind;
    int line;                 /* 1-based line in the source, 0 when built by hand */
    int key_line;             /* line of the key this value sits under (0: none) */
    char *str;                /* SCALAR */
    bool quoted;              /* SCALAR written in quotes: always a string */
    int n, cap;
    char **keys;              /* MAP */
    struct lp_yval **items;   /* SEQ items / MAP values */
} lp_yval;

lp_status lp_yval_new(lp_node_kind kind, int line, const char *str, lp_yval **out);
void lp_yval_free(lp_yval *v);
/* Appends (SEQ: key NULL). Takes ownership of `item`, also on failure. */
lp_status lp_yval_append(lp_yval *seq_or_map, const char *key, lp_yval *item);
/* The value under `key` of a MAP, or NULL. */
lp_yval *lp_yval_get(const lp_yval *map, const char *key);
lp_status lp_yval_clone(const lp_yval *v, lp_yval **out);
/* Parses YAML text (block or flow style; JSON is YAML) into a value tree with 1-based line
 * numbers, through libyaml's event parser. Refused, with "WHAT: line N": syntax errors, an
 * empty text, more than one document, keys that are not scalars (`[1]: 2`), duplicate keys,
 * lists/maps nested deeper than LP_MAX_YAML_NESTING (so every recursive walk over a parsed
 * tree is bounded by it), and more than LP_MAX_YAML_NODES values. Anchors and aliases
 * (`&name`, `*name`: a copy) and merge keys (`<<: *name`) work as in PyYAML. Plain `~`,
 * `null` and empty values become LP_NODE_NULL. */
lp_status lp_yval_parse(const char *text, size_t size, const char *what, lp_yval **out);
/* A YAML flow-style value ("3", "[1, 2]", "abc") into a node; text that does not open a flow
 * list or map stays a verbatim scalar. */
lp_status lp_yval_parse_flow(const char *text, lp_yval **out);

/* The line to report for `v`: its key's line when it has one. */
static inline int lp_yval_line(const lp_yval *v) { return !v ? 0 : v->key_line ? v->key_line : v->line; }

/* Scalar conversions; false when the text is not of the type. */
bool lp_scalar_int(const lp_yval *v, int64_t *out);
bool lp_scalar_float(const lp_yval *v, double *out);   /* also "1%" -> 0.01 when percent */
bool lp_scalar_bool(const lp_yval *v, bool *out);

struct lowp_params {
    lp_yval *node;                 /* MAP, NULL, or a direct (positional) value */
    bool owns;                     /* node belongs to these params */
    const lowp_param_spec *spec;   /* set while a constructor runs; NULL: no checking */
    char path[256];                /* key path for messages */
    char file[256];                /* config file for messages ("" if none) */
};

/* A borrowed view of `node` (not copied). */
void lp_params_view(lowp_params *p, const lp_yval *node, const char *file, const char *path);
/* The view the public constructors take of a caller's `params` (NULL: none): its node and
 * file, and its path or, without one, `name`. */
void lp_params_view_of(lowp_params *view, const lowp_params *params, const char *name);
/* The raw node of `key` (honouring a positional direct value), or NULL. */
const lp_yval *lp_params_lookup(const lowp_params *p, const char *key);
/* Checks the params of `kind` `name` (the dataset 'MNIST') against `spec`: types, required
 * keys, unknown keys. Errors read "FILE: PATH.KEY: expected an integer, got 'x' at line N". */
lp_status lp_params_check(const lowp_params *p, const lowp_param_spec *spec, const char *kind, const char *name);

/* Error helper: "FILE: PATH: message at line N" (file/line parts omitted when unknown). */
lp_status lp_cfg_error(lp_status st, const char *file, const char *path, int line,
                       const char *fmt, ...) LP_PRINTF(5, 6);

/* Splits "1, 2 3" (commas and blanks separate) into tokens[max] of at most 63 characters;
 * returns how many there are, which may exceed max (only max are stored). */
int lp_params_split(const char *s, int max, char tokens[][64]);

/* "FILE: PATH: unknown KIND 'NAME' at line N (known: the names `known` lists)". */
lp_status lp_unknown_name(const lowp_params *p, const char *kind, const char *name,
                          void (*known)(char *buf, size_t size));

#endif
