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

/* Elements in one output whose size an input's *values* choose rather than its shape (OneHot's
 * depth, TopK's k, NonZero, Unique, Compress, NonMaxSuppression...): checked by the op's infer
 * before any buffer is sized (ops/util.c lp_op_check_count), so a small tensor cannot ask for
 * terabytes and no size computation overflows. */
#define LP_MAX_VALUE_SIZED_ELEMS ((int64_t)1 << 32)

/* A Loop whose trip count and condition are constants gets static output shapes (its scan
 * outputs' first dimension is the trip count) up to this many iterations; a larger count (an
 * exporter's "forever", INT64_MAX) keeps them sized at run time. */
#define LP_MAX_STATIC_TRIPS ((int64_t)1 << 24)

/* Lists and maps nested inside each other in a YAML or JSON text (configs, recipes, tuning
 * histories), counted from the top value (1). The tree builder refuses deeper texts, so every
 * recursive walk over a parsed tree (free, clone, checks) is bounded by it. */
#define LP_MAX_YAML_NESTING 64

/* The longest key (as written, quotes and escapes included) lowp writes in a JSON file it reads
 * back (recipes): libyaml reads an implicit key of at most 1024 characters. */
#define LP_MAX_JSON_KEY 1000

/* Values in one YAML text after its aliases (*name) are expanded: each alias is a copy of its
 * anchored value, so a few lines of aliases of aliases could ask for billions ("billion
 * laughs"). Configurations have hundreds. */
#define LP_MAX_YAML_NODES 100000

/* Images (data/image.c): the size a JPEG or PNG may declare, checked right after its header,
 * before anything is decoded; the environment variables LOWP_MAX_IMAGE_SIDE and
 * LOWP_MAX_IMAGE_PIXELS override them. An 885-byte JPEG declaring 20000x20000 decoded to
 * 1.6 GB. A decoded image takes 12 bytes per RGB pixel (float32), so the default 2^28 pixels
 * is 3 GiB at most. */
#define LP_MAX_IMAGE_SIDE 16384
#define LP_MAX_IMAGE_PIXELS ((uint64_t)1 << 28)
/* The most LOWP_MAX_IMAGE_SIDE may say (libpng's own default cap). */
#define LP_MAX_IMAGE_SIDE_EVER 1000000
/* Image files are read whole into memory first; a compressed image is far smaller. */
#define LP_MAX_IMAGE_FILE ((uint64_t)256 << 20)
/* COCO-format annotation files (data/coco.c) are read whole: instances_train2017.json, the
 * largest of COCO's, is 448 MB. */
#define LP_MAX_COCO_JSON_BYTES ((uint64_t)1 << 30)
/* One member of a NumPy .npz archive (data/npz.c), inflated into memory whole: mnist.npz's
 * largest, x_train.npy, is 47 MB. */
#define LP_MAX_NPZ_MEMBER ((uint64_t)1 << 30)
/* A pickled CIFAR batch (data/pickle.c), read whole: CIFAR-100's train file is 157 MB. */
#define LP_MAX_PICKLE_BYTES ((uint64_t)512 << 20)
/* Scans of a progressive JPEG (each one re-walks every coefficient; real files have ~10). */
#define LP_MAX_JPEG_SCANS 256
/* libpng: the most ancillary chunks kept and the largest chunk it may allocate (its own
 * defaults are 1000 and 8 MB). */
#define LP_MAX_PNG_CHUNKS 1000
#define LP_MAX_PNG_CHUNK ((size_t)8 << 20)

#endif
