/* graph.h — lowp's graph IR: values (tensors by name), nodes (ONNX ops), attributes.
 *
 * A graph owns everything it points to. Values and nodes live in growable arrays and are
 * referred to by index; a removed node is marked dead and dropped by lp_graph_compact().
 * The graph keeps enough of the ONNX model (opsets, metadata, doc strings) for save to
 * round-trip. */
#ifndef LP_GRAPH_H
#define LP_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"
#include "base/strmap.h"
#include "base/tensor.h"

/* A dimension: >= 0 known; LP_DIM_UNKNOWN unknown; <= LP_DIM_SYM0 a named symbol
 * (symbol k is LP_DIM_SYM0 - k, its name in graph->syms[k]). */
#define LP_DIM_UNKNOWN (-1)
#define LP_DIM_SYM0 (-2)
static inline bool lp_dim_known(int64_t d) { return d >= 0; }

typedef struct lp_shape {
    int ndim;                   /* -1: rank unknown */
    int64_t d[LP_MAX_DIMS];
} lp_shape;

/* True when rank and every dim are known. */
bool lp_shape_static(const lp_shape *s);

typedef enum lp_value_kind {
    LP_VALUE_INTERMEDIATE = 0,  /* produced by a node */
    LP_VALUE_INPUT,             /* a graph input fed at run time */
    LP_VALUE_CONST,             /* an initializer or a folded constant: init holds the data */
    LP_VALUE_OUTER,             /* subgraphs only: a value of an enclosing graph, read by name in
                                   the file; bound by position (lp_graph.outer) at run time */
} lp_value_kind;

typedef struct lp_value {
    char *name;
    lp_value_kind kind;
    lp_dtype dtype;             /* LOWP_UNDEFINED until known */
    lp_shape shape;
    lp_tensor *init;            /* LP_VALUE_CONST: the data (owned) */
    int producer;               /* node index, -1 for inputs and constants */
    bool is_output;             /* listed in graph outputs */
    bool in_value_info;         /* had a value_info entry in the loaded file (round-trip) */
    bool init_listed_as_input;  /* IR < 4 style: initializer also listed in graph.input */
    char *doc;
} lp_value;

/* ONNX AttributeProto.AttributeType codes. */
typedef enum lp_attr_type {
    LP_ATTR_UNDEFINED = 0, LP_ATTR_FLOAT = 1, LP_ATTR_INT = 2, LP_ATTR_STRING = 3,
    LP_ATTR_TENSOR = 4, LP_ATTR_GRAPH = 5, LP_ATTR_FLOATS = 6, LP_ATTR_INTS = 7,
    LP_ATTR_STRINGS = 8, LP_ATTR_GRAPHS = 10,
} lp_attr_type;

struct lp_graph;

typedef struct lp_attr {
    char *name;
    lp_attr_type type;
    float f;
    int64_t i;
    char *s;                    /* STRING: NUL-terminated copy (s_len bytes before the NUL) */
    size_t s_len;
    lp_tensor *t;               /* TENSOR */
    int n;                      /* FLOATS / INTS / STRINGS count */
    float *floats;
    int64_t *ints;
    char **strings;
    struct lp_graph *g;         /* GRAPH: a subgraph (owned) */
    struct lp_graph **graphs;   /* GRAPHS: n subgraphs (owned) */
} lp_attr;

typedef struct lp_node {
    char *name;                 /* never NULL; made unique on load when the file has none */
    char *op_type;
    char *domain;               /* "" for the default ai.onnx domain */
    int op;                     /* index into the op registry, -1 if unknown */
    int n_in, n_out;
    int *in, *out;              /* value indices; -1 for an omitted optional input/output */
    int n_implicit;             /* control flow: the last n_implicit entries of in[] are the
                                   enclosing graph's values its subgraphs read (ONNX's outer
                                   scope), in the order of each subgraph's `outer` list; not
                                   written to files. Passes see them as ordinary uses. */
    int n_attr;
    lp_attr *attrs;
    char *doc;
    bool dead;                  /* removed by a pass; dropped by lp_graph_compact */
    bool dynamic;               /* engine: output shapes known only at run time */
} lp_node;

typedef struct lp_opset {
    char *domain;
    int64_t version;
} lp_opset;

typedef struct lp_kv {
    char *key, *value;
} lp_kv;

typedef struct lp_graph {
    /* model-level fields, kept for round-trip */
    int64_t ir_version;
    char *producer_name, *producer_version, *model_domain, *model_doc, *graph_doc;
    int64_t model_version;
    char *name;
    int n_opsets;
    lp_opset *opsets;
    int n_meta;
    lp_kv *meta;

    int n_values, cap_values;
    lp_value *values;
    lp_strmap value_index;      /* name -> value index */

    int n_nodes, cap_nodes;
    lp_node *nodes;

    int n_inputs, n_outputs;
    int *inputs, *outputs;      /* value indices, in ONNX order */

    int n_syms;
    char **syms;                /* symbolic dimension names */

    /* Subgraphs (a GRAPH attribute's body): the LP_VALUE_OUTER values, one per implicit
     * input of the owning node, in the same order (every subgraph of a node has the same
     * list; a branch that does not read one simply has no reader for it). Names of outer
     * values are those the enclosing graph had on load; the writer names them after the
     * enclosing node's current inputs. Model-level fields stay empty except opsets (copied
     * from the model so nodes inside know their opset). */
    int n_outer;
    int *outer;
} lp_graph;

lp_status lp_graph_new(lp_graph **out);
void lp_graph_free(lp_graph *g);
/* A deep copy. */
lp_status lp_graph_clone(const lp_graph *g, lp_graph **out);
/* A copy whose constant tensors are views of `g`'s (no weight bytes copied): `g` must outlive
 * the copy and must not change those constants meanwhile. Constants the copy creates or
 * replaces later are its own. (The engine's plans share their session's weights this way.) */
lp_status lp_graph_clone_shared(const lp_graph *g, lp_graph **out);

/* The value named `name`, or -1. */
int lp_graph_find_value(const lp_graph *g, const char *name);
/* Adds a value named `name` (copied); fails if the name exists. */
lp_status lp_graph_add_value(lp_graph *g, const char *name, int *index_out);
/* The value named `name`, added as an intermediate if absent. */
lp_status lp_graph_value(lp_graph *g, const char *name, int *index_out);
/* A fresh value whose name starts with `prefix` and is unique in the graph. */
lp_status lp_graph_new_value(lp_graph *g, const char *prefix, int *index_out);
/* Makes value `v` a constant holding `t` (ownership of t passes to the graph). */
void lp_graph_set_const(lp_graph *g, int v, lp_tensor *t);

/* Appends a node; `in`/`out` are copied. Attributes are added with lp_node_add_attr.
 * Sets the producer of each output. */
lp_status lp_graph_add_node(lp_graph *g, const char *name, const char *op_type,
                            const char *domain, int n_in, const int *in, int n_out,
                            const int *out, int *index_out);
/* Appends a copy of `a` (deep) to node `n`. */
lp_status lp_node_add_attr(lp_node *n, const lp_attr *a);

/* A symbol index for dim name `name` (added if new); returns the dim code (<= LP_DIM_SYM0). */
lp_status lp_graph_sym(lp_graph *g, const char *name, int64_t *dim_out);
/* The name of a symbolic dim code, or NULL for known/unknown dims. */
const char *lp_graph_sym_name(const lp_graph *g, int64_t dim);
/* A declared shape as "[N,3,224,224]" into buf (symbols by name, "?" for an unknown dim,
 * "[...]" for an unknown rank); returns buf. */
const char *lp_graph_shape_str(const lp_graph *g, const lp_shape *s, char *buf, size_t size);

/* Model metadata (metadata_props): the value of `key`, or NULL; set adds or replaces. */
const char *lp_graph_meta(const lp_graph *g, const char *key);
lp_status lp_graph_set_meta(lp_graph *g, const char *key, const char *value);

/* Metadata through which a model carries per-node BF16 choices (comma-separated node names):
 * standard ONNX that other runtimes ignore; lowp's sessions run those nodes in BF16. */
#define LP_META_BF16_NODES "lowp.bf16_nodes"

/* Opset version imported for `domain` ("" and "ai.onnx" are the same), 0 if none. */
int64_t lp_graph_opset(const lp_graph *g, const char *domain);

/* Drops dead nodes and values that nothing refers to (keeping inputs/outputs),
 * renumbering indices; recomputes producers. */
lp_status lp_graph_compact(lp_graph *g);
/* Orders nodes topologically (stable: keeps file order where possible). Fails on a cycle
 * or on a node input that nothing produces, naming the node and the value. */
lp_status lp_graph_toposort(lp_graph *g);
/* Recomputes each value's producer from the nodes. */
void lp_graph_link(lp_graph *g);
/* Number of live nodes that read value v (graph outputs count as one reader each). O(nodes):
 * a pass that asks for many values uses lp_graph_use_counts instead. */
int lp_graph_use_count(const lp_graph *g, int v);
/* lp_graph_use_count of every value at once (n_values entries, malloc'ed): O(nodes + edges). */
lp_status lp_graph_use_counts(const lp_graph *g, int **counts_out);

/* The live readers of every value, built once (CSR): the readers of v are
 * node[start[v]] .. node[start[v + 1] - 1], a node reading v twice listed twice. */
typedef struct lp_consumers {
    int *start;                 /* n_values + 1 offsets */
    int *node;
} lp_consumers;
lp_status lp_graph_consumers(const lp_graph *g, lp_consumers *out);
void lp_consumers_free(lp_consumers *c);

/* ---- subgraphs (control flow) ---- */

/* Inputs a node's op sees in the file: n_in minus the implicit outer-scope ones. */
static inline int lp_node_n_explicit(const lp_node *n) { return n->n_in - n->n_implicit; }
/* True when some attribute of `n` holds a subgraph. */
bool lp_node_has_subgraphs(const lp_node *n);
/* The subgraph of GRAPH attribute `name`, or NULL. */
struct lp_graph *lp_node_subgraph(const lp_node *n, const char *name);
/* Visits every subgraph of every node of `g`, depth first (parents before children), up to
 * LP_MAX_GRAPH_NESTING deep; `fn` gets the subgraph, the node owning it (in `parent`) and
 * the depth (1 for subgraphs of g's nodes). A non-LP_OK return stops the walk. */
typedef lp_status (*lp_subgraph_fn)(void *user, lp_graph *sub, lp_graph *parent, int node, int depth);
lp_status lp_graph_walk_subgraphs(lp_graph *g, lp_subgraph_fn fn, void *user);
/* Appends value `v` of `g` as a new implicit input of node `ni` and a new outer value (named
 * after v) to each of the node's subgraphs; *slot_out = its index in the outer lists. An
 * existing slot for v is reused. */
lp_status lp_node_add_implicit(lp_graph *g, int ni, int v, int *slot_out);

/* ---- attributes ---- */
const lp_attr *lp_node_attr(const lp_node *n, const char *name);
int64_t lp_attr_int(const lp_node *n, const char *name, int64_t dflt);
float lp_attr_float(const lp_node *n, const char *name, float dflt);
/* The string, or dflt when absent. */
const char *lp_attr_str(const lp_node *n, const char *name, const char *dflt);
/* Count of INTS (and *vals), or -1 when absent. */
int lp_attr_ints(const lp_node *n, const char *name, const int64_t **vals);
int lp_attr_floats(const lp_node *n, const char *name, const float **vals);
void lp_attr_clear(lp_attr *a);

/* ---- node kinds ---- */
/* Whether n is a depthwise Conv: constant weights (M, 1, k...) of rank >= 3 -- one input channel
 * per group -- and group > 1; with multiplier_one also M == group (one output channel per group;
 * otherwise any channel multiplier M / group). False for other ops and for missing or
 * non-constant weights (their shape is not settled). */
bool lp_conv_depthwise(const lp_graph *g, const lp_node *n, bool multiplier_one);

/* Records "node 'NAME' (OpType): <message>" as the last error and returns `status`. */
lp_status lp_node_error(const lp_node *n, lp_status status, const char *fmt, ...) LP_PRINTF(3, 4);

#endif
