/* recipe.h — what to do to each node: a plain data structure the tuner edits and that reads and
 * writes as JSON in LPOT's model_wise / op_wise form:
 *
 *   { "approach": "post_training_static_quant",
 *     "bias_correction": false, "smooth_quant": { "alpha": 0.5 },      (all optional, off)
 *     "equalization": false, "learned_rounding": false, "block_reconstruction": false,
 *     "model_wise": { "weight":     { "granularity": "per_channel", "bits": 8 },
 *                     "activation": { "scheme": "asym", "algorithm": "minmax",
 *                                     "percentile": 99.99 } },
 *     "op_wise": { "conv1":   { "precision": "fp32" },
 *                  "fc":      { "precision": "int8", "weight": { "granularity": "per_tensor" } } } }
 *
 * Weights are always int8 symmetric; activations are uint8 asymmetric ("asym") or int8 symmetric
 * ("sym"). A node not named in op_wise uses model_wise and precision int8 when it is
 * quantizable. */
#ifndef LP_RECIPE_H
#define LP_RECIPE_H

#include "ir/graph.h"
#include "quant/observer.h"

typedef enum lp_precision { LP_PREC_INT8 = 0, LP_PREC_BF16, LP_PREC_FP32 } lp_precision;

typedef struct lp_quant_cfg {
    bool per_channel;           /* weights: per output channel or per tensor ... */
    bool per_channel_given;     /* ... as a recipe, config or option said; else the approach's
                                   default (lp_weight_per_channel) */
    int weight_bits;            /* static: 2..8 (stored as int8 in [-(2^(b-1)-1), 2^(b-1)-1]); 0: 8 */
    bool act_symmetric;         /* activations: int8 symmetric, else uint8 asymmetric (default) */
    lp_calib_algo algo;         /* activation clip range */
    double percentile;          /* for LP_CALIB_PERCENTILE, default 99.99 */
} lp_quant_cfg;

typedef struct lp_node_recipe {
    char *node;                 /* node name in the optimized graph */
    lp_precision precision;
    bool has_cfg;               /* cfg overrides model_wise */
    lp_quant_cfg cfg;
} lp_node_recipe;

typedef enum lp_approach { LP_APPROACH_STATIC_QUANT = 0, LP_APPROACH_DYNAMIC_QUANT } lp_approach;

typedef struct lowp_recipe {
    lp_approach approach;       /* post_training_static_quant (default) or _dynamic_quant */
    bool bias_correction;       /* static: correct biases for the weight-quantization shift */
    double smooth_quant_alpha;  /* static: SmoothQuant migration strength; 0 = off (default) */
    bool equalization;          /* static: cross-layer equalization first (quant/equalize.h) */
    bool learned_rounding;      /* static: weights rounded against the calibration's moments of
                                   their layers' inputs (quant/adaround.h) */
    bool block_reconstruction;  /* static: then the weights' rounding of each block learned
                                   jointly against the FP32 block's outputs on the calibration
                                   samples (recon/recon.h; lowp_quantize and the tuner run it) */
    lp_quant_cfg model_wise;
    int n_nodes, cap_nodes;
    lp_node_recipe *nodes;
} lp_recipe;

/* The default: per-channel int8 weights, uint8 asymmetric minmax activations, everything int8. */
lp_status lp_recipe_new(lp_recipe **out);
void lp_recipe_free(lp_recipe *r);
lp_status lp_recipe_clone(const lp_recipe *r, lp_recipe **out);

/* Sets node `name`'s precision (and, when cfg is not NULL, its quantization settings). */
lp_status lp_recipe_set(lp_recipe *r, const char *name, lp_precision p, const lp_quant_cfg *cfg);
/* The effective choice for node `name`. */
void lp_recipe_get(const lp_recipe *r, const char *name, lp_precision *p, lp_quant_cfg *cfg);

lp_status lp_recipe_to_json(const lp_recipe *r, char **json_out);
/* Parses JSON (or YAML) text; errors name the key path and line. */
lp_status lp_recipe_from_json(const char *text, size_t size, const char *what, lp_recipe **out);

/* The starting recipe of a YAML configuration (approach, model_wise, op_wise) for graph `g`
 * (the optimized graph whose node names op_wise refers to). */
struct lowp_config;
lp_status lp_recipe_from_config(const struct lowp_config *cfg, const lp_graph *g, lp_recipe **out);
/* Does node `name` match an op_wise key: the name itself, or a regular expression (POSIX
 * extended) matching from the start of the name (LPOT's re.match)? quantize and tune match
 * alike. */
struct lp_cfg_op_wise;
bool lp_op_wise_matches(const struct lp_cfg_op_wise *o, const char *name);
/* The nodes the recipes first/last_conv_or_matmul_quantization: false keep in FP32 (the first
 * and last Conv, ConvTranspose, MatMul or Gemm of g in graph order): their count, indices in
 * kept[]. */
int lp_recipe_kept_fp32(const struct lowp_config *cfg, const lp_graph *g, int kept[2]);
/* Every op_wise key names at least one node of g, else an error naming the key and its line. */
lp_status lp_op_wise_check(const struct lowp_config *cfg, const lp_graph *g);

/* The weight granularity in effect: as given, else per channel for static quantization and per
 * tensor for dynamic (what ONNX Runtime's ConvInteger takes and its own quantizer writes). */
bool lp_weight_per_channel(const lp_quant_cfg *c, lp_approach a);

const char *lp_precision_name(lp_precision p);
/* "post_training_static_quant" / "post_training_dynamic_quant"; -1 from_name when unknown. */
const char *lp_approach_name(lp_approach a);
int lp_approach_from_name(const char *name);

#endif
