/* limits.h — the documented bounds on what an input may make lowp do (docs/limits.md).
 * Every recursion over input and every allocation sized by input checks one of these. */
#ifndef LP_LIMITS_H
#define LP_LIMITS_H

/* Graph-valued attributes (If/Loop/Scan bodies) nested inside each other, counted from the
 * main graph (0). Checked on the wire before protobuf-c unpacks a model (its unpack recurses),
 * and by every recursive walk over subgraphs. */
#define LP_MAX_GRAPH_NESTING 64

/* Messages of any kind nested inside each other in an ONNX file (a graph level costs three:
 * GraphProto > NodeProto > AttributeProto; TypeProto nests through sequence/map/optional).
 * Checked on the wire with LP_MAX_GRAPH_NESTING (onnx/wire_check.c). */
#define LP_MAX_PROTO_DEPTH 256

/* The most bytes compile-time constant folding (graph passes, plan compilation) may
 * materialize for one node's outputs; the environment variable LOWP_FOLD_LIMIT overrides it
 * (ir/infer.c). A 196-byte model (ConstantOfShape [2^31]) took 8 GB and 49 s to fold. */
#define LP_FOLD_LIMIT_DEFAULT ((uint64_t)256 << 20)

/* Lists and maps nested inside each other in a YAML or JSON text (configs, recipes, tuning
 * histories), counted from the top value (1). The tree builder refuses deeper texts, so every
 * recursive walk over a parsed tree (free, clone, checks) is bounded by it. */
#define LP_MAX_YAML_NESTING 64

#endif
