/* lowp.h — the one public header of liblowp: load ONNX models, run them, save them.
 *
 * Worked example (error handling shortened):
 *
 *     lowp_model *m = NULL;
 *     if (lowp_model_load("resnet.onnx", &m) != LOWP_OK) {
 *         fprintf(stderr, "%s\n", lowp_last_error());
 *         return 1;
 *     }
 *     lowp_session *s = NULL;
 *     lowp_session_create(m, NULL, &s);              // compile once ...
 *     int64_t dims[4] = {1, 1, 28, 28};
 *     lowp_tensor *x = NULL, *y = NULL;
 *     lowp_tensor_create(LOWP_FLOAT, 4, dims, pixels, &x);
 *     const char *name = lowp_model_input_name(m, 0);
 *     lowp_session_run(s, 1, &name, (const lowp_tensor *const *)&x, 1, &y);   // ... run many
 *     const float *logits = lowp_tensor_data(y);
 *     lowp_tensor_free(y); lowp_tensor_free(x);
 *     lowp_session_free(s); lowp_model_free(m);
 *
 * Conventions, for every call below:
 *  - Every call that can fail returns lowp_status. On failure it leaves a one-line human
 *    message in lowp_last_error() (thread-local) naming the file, node or key at fault, and
 *    leaves every *_out untouched. The library never exits or aborts on bad input.
 *  - Objects returned through *_out belong to the caller and are released with the matching
 *    _free call. _free accepts NULL.
 *  - Strings returned as `const char *` from a getter live as long as the object they came from.
 *  - lowp keeps no pointer to caller memory passed in (data is copied) unless a call says so.
 *  - Enum values are only ever appended.
 */
#ifndef LOWP_H
#define LOWP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOWP_VERSION_MAJOR 0
#define LOWP_VERSION_MINOR 1
#define LOWP_VERSION_PATCH 0

typedef enum lowp_status {
    LOWP_OK = 0,
    LOWP_ERR_INVALID_ARGUMENT = 1, /* a caller error: NULL pointer, bad name, wrong shape */
    LOWP_ERR_IO = 2,               /* a file could not be opened, read or written */
    LOWP_ERR_FORMAT = 3,           /* a file was read but its contents are malformed */
    LOWP_ERR_UNSUPPORTED = 4,      /* valid input that lowp does not handle (an op, a dtype) */
    LOWP_ERR_SHAPE = 5,            /* shapes or dtypes that do not fit together */
    LOWP_ERR_OUT_OF_MEMORY = 6,
    LOWP_ERR_INTERNAL = 7,         /* a bug in lowp: please report the message */
    LOWP_ERR_CANCELLED = 8         /* a user callback asked to stop (e.g. Ctrl-C in Python) */
} lowp_status;

/* The message of the last failed call on this thread ("" if none). Valid until the next call.
 * Text it quotes from input has control characters and invalid UTF-8 written as \xNN. */
const char *lowp_last_error(void);
/* Copies `src` into `dst` (`cap` bytes, always NUL-terminated, cut before a character that does
 * not fit) with control characters (C0, DEL, C1) and bytes that are not UTF-8 written as \xNN:
 * for printing names read from a model without letting them drive the terminal. Returns the
 * length written. */
size_t lowp_escape_text(char *dst, size_t cap, const char *src);
/* Sets this thread's message (callbacks use it so that the status they return is explained);
 * returns `status`. The text is copied (at most 1023 bytes). */
lowp_status lowp_set_error(lowp_status status, const char *message);
/* A short constant name for a status ("invalid argument", "I/O error", ...). */
const char *lowp_status_string(lowp_status status);
/* "MAJOR.MINOR.PATCH". */
const char *lowp_version(void);

/* Element types; the values are ONNX's TensorProto.DataType codes. */
typedef enum lowp_dtype {
    LOWP_UNDEFINED = 0,
    LOWP_FLOAT = 1,
    LOWP_UINT8 = 2,
    LOWP_INT8 = 3,
    LOWP_UINT16 = 4,
    LOWP_INT16 = 5,
    LOWP_INT32 = 6,
    LOWP_INT64 = 7,
    LOWP_STRING = 8, /* recognised, not supported */
    LOWP_BOOL = 9,   /* one byte per element, 0 or 1 */
    LOWP_FLOAT16 = 10,
    LOWP_DOUBLE = 11,
    LOWP_UINT32 = 12,
    LOWP_UINT64 = 13,
    LOWP_BFLOAT16 = 16
} lowp_dtype;

/* "float32", "int64", ... ("undefined" for unknown codes). */
const char *lowp_dtype_name(lowp_dtype dtype);
/* Bytes per element; 0 for types without a fixed size. */
size_t lowp_dtype_size(lowp_dtype dtype);

/* ---- Tensors: a dense, C-order array with its dtype and shape. ---- */

#define LOWP_MAX_DIMS 8

typedef struct lowp_tensor lowp_tensor;

/* A new tensor of `ndim` dims. If `data` is non-NULL its numel*size bytes are copied in,
 * otherwise the tensor is zero-filled. ndim may be 0 (a scalar). */
lowp_status lowp_tensor_create(lowp_dtype dtype, int ndim, const int64_t *dims,
                               const void *data, lowp_tensor **tensor_out);
/* A tensor over the caller's `data` (C order, numel*size bytes), without copying: lowp reads
 * (and, as an output, writes) that memory, which must stay valid until the tensor is freed;
 * lowp_tensor_free does not free it. */
lowp_status lowp_tensor_wrap(lowp_dtype dtype, int ndim, const int64_t *dims, void *data,
                             lowp_tensor **tensor_out);
void lowp_tensor_free(lowp_tensor *tensor);
lowp_dtype lowp_tensor_dtype(const lowp_tensor *tensor);
int lowp_tensor_ndim(const lowp_tensor *tensor);
/* Pointer to ndim dims, valid while the tensor lives. */
const int64_t *lowp_tensor_dims(const lowp_tensor *tensor);
int64_t lowp_tensor_numel(const lowp_tensor *tensor);
/* The element data (C order), valid while the tensor lives. */
void *lowp_tensor_data(lowp_tensor *tensor);
size_t lowp_tensor_nbytes(const lowp_tensor *tensor);

/* NumPy .npy files (format 1.0-3.0, C order, the dtypes above). */
lowp_status lowp_tensor_load_npy(const char *path, lowp_tensor **tensor_out);
/* Written to a temporary name in the same folder, then renamed over `path`. */
lowp_status lowp_tensor_save_npy(const lowp_tensor *tensor, const char *path);

/* ---- Models: an ONNX graph held in lowp's IR. ---- */

typedef struct lowp_model lowp_model;

/* Loads an ONNX file; external-data initializers are read relative to the file's folder and
 * may not escape it. The model does not keep the file open. */
lowp_status lowp_model_load(const char *path, lowp_model **model_out);
/* Loads from memory. `base_dir` is the folder for external data (NULL: none allowed).
 * `data` is not kept after return. */
lowp_status lowp_model_load_from_memory(const void *data, size_t size, const char *base_dir,
                                        lowp_model **model_out);
/* Saves as ONNX (all weights inline), via a temporary name renamed over `path`. */
lowp_status lowp_model_save(const lowp_model *model, const char *path);
void lowp_model_free(lowp_model *model);

int lowp_model_input_count(const lowp_model *model);
int lowp_model_output_count(const lowp_model *model);
/* NULL if index is out of range. */
const char *lowp_model_input_name(const lowp_model *model, int index);
const char *lowp_model_output_name(const lowp_model *model, int index);

/* The version of the default ONNX domain (ai.onnx) the model imports; 0 when none. */
int64_t lowp_model_opset(const lowp_model *model);
/* A copy of `model` rewritten from ONNX opset 7-12 to opset 13 with the same results (ops whose
 * form changed take their opset-13 form: attributes that became inputs, Upsample -> Resize,
 * Softmax's 2-D coercion made explicit, ...); a model at 13 or newer is copied as it is.
 * lowp_quantize does this itself for INT8. Fails naming the node it cannot convert. */
lowp_status lowp_model_upgrade(const lowp_model *model, lowp_model **upgraded_out);

/* A JSON description of the model (inputs/outputs with dtypes and shapes, symbolic dims as
 * strings, op histogram, parameter count and bytes, opsets, producer). *json_out is
 * malloc'ed; the caller frees it with free(). */
lowp_status lowp_model_info_json(const lowp_model *model, char **json_out);

/* Whether lowp can run `model` without running it: every op known and implemented, shapes and
 * types inferable. LOWP_OK, or the first problem in lowp_last_error() naming the node and op.
 * *notes_out (may be NULL; free() it) gets what lowp changes to run the model, e.g. "float16
 * computed in float32 (238 tensors)", or "" when nothing. */
lowp_status lowp_model_check(const lowp_model *model, char **notes_out);

/* ---- Sessions: a model compiled for execution. ---- */

typedef struct lowp_session lowp_session;

typedef struct lowp_session_options {
    int threads;     /* 0: library default (1). Threads oneDNN (OpenMP) uses for this session's
                        runs; results are deterministic for a given thread count */
    int optimize;    /* 1: run graph passes (fold constants, fold BN, ...) before compiling */
    lowp_dtype precision; /* LOWP_UNDEFINED or LOWP_FLOAT: FP32. LOWP_BFLOAT16: convolutions and
                        matrix products run in BF16 (weights converted once, activations at each
                        such op, FP32 accumulation and outputs) when the CPU has BF16
                        instructions; FP32 otherwise. The environment variable
                        LOWP_KERNELS=reference makes every session run the plain C kernels. */
} lowp_session_options;

/* Options with their defaults filled in. */
lowp_session_options lowp_session_options_default(void);

/* Prepares `model` for running. The session keeps its own copy of what it needs:
 * the model may be freed afterwards. `options` may be NULL for the defaults. */
lowp_status lowp_session_create(const lowp_model *model, const lowp_session_options *options,
                                lowp_session **session_out);
void lowp_session_free(lowp_session *session);

/* Runs the model. `input_names[i]` names the graph input fed by `inputs[i]`; every graph
 * input must be fed. A new input shape recompiles the plan (cached per shape).
 * `outputs` receives `n_outputs` new tensors, in the model's output order; the caller frees
 * them. n_outputs may be smaller than the model's output count. */
lowp_status lowp_session_run(lowp_session *session, int n_inputs, const char *const *input_names,
                             const lowp_tensor *const *inputs, int n_outputs,
                             lowp_tensor **outputs);

/* The same, writing the first `n_outputs` outputs into tensors the caller made (e.g. with
 * lowp_tensor_wrap over its own buffers) with exactly the outputs' dtypes and shapes (else
 * LOWP_ERR_SHAPE naming the output): no allocation per run, for bindings that know the shapes
 * from an earlier run. */
lowp_status lowp_session_run_into(lowp_session *session, int n_inputs,
                                  const char *const *input_names, const lowp_tensor *const *inputs,
                                  int n_outputs, lowp_tensor *const *outputs);

/* Bytes of the activation arena of the plan compiled for the most recently used input shapes
 * (0 before the first run); weights and plans cached for other shapes are not counted. */
lowp_status lowp_session_memory_bytes(const lowp_session *session, size_t *arena_bytes_out);

/* Profiling (`lowp bench --profile`). With `on`, every later run of the session times each
 * step of its plan (a node, or nodes fused into one kernel call) and the layout conversions
 * (oneDNN reorders) inside it, at a cost of about 0.1 µs per step; the last 1024 runs are kept
 * per plan. Calling it again (on or off) discards what was recorded. */
lowp_status lowp_session_profile(lowp_session *session, int on);
/* The profile of the plan run most recently, as JSON (medians over the recorded runs: per step
 * sorted by time -- kernel, oneDNN primitive kinds or "reference", implementation, reorders --
 * and per op type; keys in docs/performance.md, "Profiling"). *json_out is malloc'ed; free() it.
 * LOWP_ERR_INVALID_ARGUMENT when no profiled run was recorded. */
lowp_status lowp_session_profile_json(const lowp_session *session, char **json_out);

/* ---- Data sets, transforms and metrics (src/data, src/metric) ----
 *
 * Evaluating a model the LPOT way: a dataset yields samples one at a time, a transform
 * pipeline (Compose) prepares each sample, a dataloader stacks them into batches, the session
 * runs each batch and a metric scores the outputs against the labels:
 *
 *     lowp_params *p = NULL;
 *     lowp_params_create(&p);
 *     lowp_params_set(p, "root", "/usr/share/datasets/fashion-mnist");
 *     lowp_params_set(p, "train", "false");
 *     lowp_dataset *ds = NULL;
 *     lowp_dataset_open("FashionMNIST", p, &ds);          // p may be freed now
 *     lowp_transform *t = NULL;
 *     lowp_transform_create(&t);
 *     lowp_transform_append(t, "Rescale", NULL);
 *     ...
 *     lowp_dataloader *dl = NULL;
 *     lowp_dataloader_options o = lowp_dataloader_options_default();
 *     o.batch_size = 64;
 *     lowp_dataloader_create(ds, t, &o, &dl);              // dl now owns ds and t
 *     lowp_metric *m = NULL;
 *     lowp_metric_create("topk", NULL, &m);                // k defaults to 1
 *     lowp_eval_result r;
 *     lowp_evaluate(session, model, dl, m, NULL, &r);      // r.value, r.samples, r.seconds
 *
 * Datasets, transforms and metrics are named vtables in one registry each; the built-ins are
 * listed in docs/config.md. Register your own with lowp_dataset_register /
 * lowp_transform_register / lowp_metric_register: the YAML configuration and the `lowp`
 * program then accept the new name like a built-in one. Registration is not thread-safe:
 * register before using lowp from several threads. */

/* Parameters: the named values that configure one dataset, transform or metric (the map
 * under its name in the YAML file). Values are kept as text and converted on reading; the
 * accepted keys and their types are declared by the vtable's `params` table and checked
 * before the vtable's constructor runs (unknown keys and wrong types are errors naming the
 * key path and, for YAML, the line). */
typedef struct lowp_params lowp_params;

typedef enum lowp_param_type {
    LOWP_PARAM_STRING = 1,
    LOWP_PARAM_INT = 2,
    LOWP_PARAM_FLOAT = 3,       /* an int is accepted too */
    LOWP_PARAM_BOOL = 4,        /* true/false (also True/False, yes/no, on/off as in PyYAML) */
    LOWP_PARAM_INT_LIST = 5,    /* [1, 2], "1, 2", "1 2" or a single int */
    LOWP_PARAM_FLOAT_LIST = 6,  /* as INT_LIST, of floats */
    LOWP_PARAM_STRING_LIST = 7, /* [a, b] or a single string */
    LOWP_PARAM_ANY = 8          /* not checked: read it with the getters yourself */
} lowp_param_type;

/* One accepted key. A `params` table ends with an entry whose name is NULL. At most one entry
 * per table is `positional`: the value may then be written directly instead of a map
 * (`topk: 1` means `topk: {k: 1}`), and the CLI's short forms fill positional entries in
 * table order (`Normalize=0.2860/0.3530` sets mean then std). */
typedef struct lowp_param_spec {
    const char *name;
    lowp_param_type type;
    int required;
    int positional;  /* 0: no; 1, 2, ...: order in CLI short forms; 1 also: YAML direct value */
} lowp_param_spec;

/* An empty parameter map. */
lowp_status lowp_params_create(lowp_params **params_out);
void lowp_params_free(lowp_params *params);
/* Sets `key` to `value`, written as in YAML flow style: "3", "0.5", "true", "abc",
 * "[1, 28, 28]". Replaces an earlier value of the same key. Both strings are copied. */
lowp_status lowp_params_set(lowp_params *params, const char *key, const char *value);

/* Getters for vtable constructors. A missing key yields `dflt` (lists: count 0). The value
 * has been type-checked against the spec already, so these fail only on a key the spec
 * does not declare or on a value outside what the caller asks (list longer than `max`).
 * Returned strings live as long as `params`; the params live until the constructor returns. */
int lowp_params_has(const lowp_params *params, const char *key);
lowp_status lowp_params_get_string(const lowp_params *params, const char *key,
                                   const char *dflt, const char **value_out);
lowp_status lowp_params_get_int(const lowp_params *params, const char *key, int64_t dflt,
                                int64_t *value_out);
lowp_status lowp_params_get_float(const lowp_params *params, const char *key, double dflt,
                                  double *value_out);
lowp_status lowp_params_get_bool(const lowp_params *params, const char *key, int dflt,
                                 int *value_out);
/* Up to `max` values into `values`; *count_out gets how many there are (fails if > max). */
lowp_status lowp_params_get_ints(const lowp_params *params, const char *key, int max,
                                 int64_t *values, int *count_out);
lowp_status lowp_params_get_floats(const lowp_params *params, const char *key, int max,
                                   double *values, int *count_out);
/* The `index`-th string of a STRING_LIST (a single string is a list of one). */
lowp_status lowp_params_get_string_at(const lowp_params *params, const char *key, int index,
                                      const char **value_out, int *count_out);
/* "evaluation.accuracy.dataloader.dataset.MNIST": where these params came from, for
 * messages ("" when built by hand). */
const char *lowp_params_path(const lowp_params *params);

/* Random numbers for transforms and datasets: splitmix64 over a 64-bit state. */
uint64_t lowp_random_next(uint64_t *state);
/* Uniform in [0, 1). */
double lowp_random_uniform(uint64_t *state);

/* A sample (one dataset item) or a batch (samples stacked along a new first axis).
 * The tensors belong to the sample: lowp_sample_clear frees them. */
#define LOWP_SAMPLE_MAX_TENSORS 8
typedef struct lowp_sample {
    int n_inputs;
    lowp_tensor *inputs[LOWP_SAMPLE_MAX_TENSORS];  /* model inputs, in the model's order */
    int n_labels;
    lowp_tensor *labels[LOWP_SAMPLE_MAX_TENSORS];  /* e.g. one int64 scalar class index */
} lowp_sample;
/* Frees the tensors and zeroes the sample. */
void lowp_sample_clear(lowp_sample *sample);

/* ---- datasets ---- */

typedef struct lowp_dataset_vtable {
    const char *name;                  /* the YAML key: "MNIST", "ImageFolder" */
    const lowp_param_spec *params;     /* accepted keys (NULL: none) */
    /* Opens the dataset. Keep no pointer into `params`. Sets the number of samples. */
    lowp_status (*open)(const lowp_params *params, void **state_out, int64_t *length_out);
    /* Fills the zeroed `sample` with new tensors for item `index` (0 <= index < length).
     * Indices arrive in order 0, 1, 2... unless the dataloader shuffles. On failure the
     * implementation frees what it put into `sample`. */
    lowp_status (*get)(void *state, int64_t index, lowp_sample *sample);
    void (*close)(void *state);
    /* A short description for messages (the file or folder), or NULL. */
    const char *(*describe)(void *state);
} lowp_dataset_vtable;

/* Adds a dataset kind. lowp keeps the pointer: the vtable must stay valid until exit.
 * Fails if the name is taken. */
lowp_status lowp_dataset_register(const lowp_dataset_vtable *vtable);

typedef struct lowp_dataset lowp_dataset;

/* Opens dataset kind `name` with `params` (NULL: none); params are checked against the
 * kind's spec first. lowp keeps no pointer to `params`. */
lowp_status lowp_dataset_open(const char *name, const lowp_params *params,
                              lowp_dataset **dataset_out);
void lowp_dataset_free(lowp_dataset *dataset);
int64_t lowp_dataset_length(const lowp_dataset *dataset);
/* Item `index` into `sample` (cleared first). Errors name the dataset, file and index. */
lowp_status lowp_dataset_get(lowp_dataset *dataset, int64_t index, lowp_sample *sample);

/* ---- transforms ---- */

typedef struct lowp_transform_vtable {
    const char *name;                  /* "Normalize" */
    const lowp_param_spec *params;
    lowp_status (*create)(const lowp_params *params, void **state_out);
    /* Changes `sample` in place (replacing tensors is fine: free the old ones). Image
     * transforms change every input and leave labels alone. `rng` is this sample's own
     * random state (deterministic per seed and sample index). */
    lowp_status (*apply)(void *state, lowp_sample *sample, uint64_t *rng);
    void (*free)(void *state);
} lowp_transform_vtable;

lowp_status lowp_transform_register(const lowp_transform_vtable *vtable);

/* A Compose: transforms applied in the order they were appended. */
typedef struct lowp_transform lowp_transform;

/* An empty pipeline (applying it changes nothing). */
lowp_status lowp_transform_create(lowp_transform **transform_out);
/* Appends transform `name` configured by `params` (NULL: none; not kept). */
lowp_status lowp_transform_append(lowp_transform *transform, const char *name,
                                  const lowp_params *params);
/* Applies every step to `sample`; `seed` drives the random ones. On failure the sample is
 * cleared. */
lowp_status lowp_transform_apply(const lowp_transform *transform, lowp_sample *sample,
                                 uint64_t seed);
int lowp_transform_count(const lowp_transform *transform);
void lowp_transform_free(lowp_transform *transform);

/* ---- dataloader ---- */

typedef struct lowp_dataloader_options {
    int batch_size;         /* >= 1; default 1 */
    int shuffle;            /* 1: a seeded permutation of the samples; default 0 (file order) */
    uint64_t seed;          /* shuffle and random transforms; default 1978 (LPOT's) */
    int64_t max_samples;    /* > 0: stop after this many (calibration sampling_size); 0: all */
    int drop_last;          /* 1: drop a last partial batch (LPOT last_batch: discard) */
} lowp_dataloader_options;

lowp_dataloader_options lowp_dataloader_options_default(void);

typedef struct lowp_dataloader lowp_dataloader;

/* A dataloader over `dataset`, applying `transform` (may be NULL) to each sample. It takes
 * ownership of both, also when it fails. `options` may be NULL for the defaults. */
lowp_status lowp_dataloader_create(lowp_dataset *dataset, lowp_transform *transform,
                                   const lowp_dataloader_options *options,
                                   lowp_dataloader **dataloader_out);
/* User-supplied batches (a Python iterable, the caller's own reader): `next` fills the zeroed
 * `batch` with new tensors (inputs in the model's order, labels if any) and sets *count_out to
 * the samples in it (the first dimension), 0 at the end of the epoch; an error status stops the
 * reader's user (calibration, a tune) with lowp_last_error() as the message, which `next`
 * should set (lowp_set_error). `reset` starts from the first batch again (NULL: the source
 * is read once, a second pass yields nothing); `free` releases `user` (may be NULL). */
typedef struct lowp_batch_source {
    lowp_status (*next)(void *user, lowp_sample *batch, int64_t *count_out);
    void (*reset)(void *user);
    void (*free)(void *user);
    void *user;
    int64_t length;          /* samples per epoch if known (progress, history), else 0 */
    const char *description; /* for messages and the history, e.g. "calib_dataloader"; copied */
} lowp_batch_source;

/* A dataloader that reads batches from `source` as they come (batch_size, shuffle and
 * max_samples do not apply: the source decides). It owns source->user from now on (frees it
 * also when it fails). */
lowp_status lowp_dataloader_create_from_source(const lowp_batch_source *source,
                                               lowp_dataloader **dataloader_out);
void lowp_dataloader_free(lowp_dataloader *dataloader);
/* The next batch into `batch` (cleared first): each input and label stacked along a new
 * first axis. *count_out is the number of samples in it: 0 when the epoch is over.
 * Samples of one batch must have equal shapes (the error names both sample indices). */
lowp_status lowp_dataloader_next(lowp_dataloader *dataloader, lowp_sample *batch,
                                 int64_t *count_out);
/* Starts the epoch again, in the same order. */
void lowp_dataloader_reset(lowp_dataloader *dataloader);
/* Samples per epoch (after max_samples and drop_last). */
int64_t lowp_dataloader_length(const lowp_dataloader *dataloader);
/* The dataset index of sample `i` of the last batch (-1 if out of range), for messages. */
int64_t lowp_dataloader_batch_index(const lowp_dataloader *dataloader, int64_t i);
/* The dataset's description (name and file/folder), for messages. */
const char *lowp_dataloader_describe(const lowp_dataloader *dataloader);

/* ---- metrics ---- */

typedef struct lowp_metric_vtable {
    const char *name;                  /* "topk" */
    const lowp_param_spec *params;     /* a "compare_label" BOOL entry makes the metric
                                          score against a reference model when false */
    int higher_is_better;
    lowp_status (*create)(const lowp_params *params, void **state_out);
    /* One batch: the model's outputs and the labels -- or, with compare_label false, the
     * reference model's outputs. Nothing is kept from the tensors after return. */
    lowp_status (*update)(void *state, int n_outputs, const lowp_tensor *const *outputs,
                          int n_labels, const lowp_tensor *const *labels);
    lowp_status (*result)(void *state, double *value_out);
    void (*reset)(void *state);
    void (*free)(void *state);
    /* Mergeable state, for evaluation sharded across processes (mpirun, docs/distributed.md):
     * `save` writes the state as bytes (*bytes_out malloc'ed; lowp frees it); `merge` adds a
     * peer's saved state as if the peer's batches had been fed after this state's own. Merging
     * the shards' states must give the value one state fed every batch gives, bit for bit
     * (keep exact sums or lists, not rounded running sums). Both NULL: the metric is not
     * mergeable; a distributed evaluation then sends every batch's outputs and labels to rank
     * 0, which feeds them to it in order (exact, but all the outputs travel). */
    lowp_status (*save)(void *state, void **bytes_out, size_t *size_out);
    lowp_status (*merge)(void *state, const void *bytes, size_t size);
} lowp_metric_vtable;

lowp_status lowp_metric_register(const lowp_metric_vtable *vtable);

typedef struct lowp_metric lowp_metric;

lowp_status lowp_metric_create(const char *name, const lowp_params *params,
                               lowp_metric **metric_out);
void lowp_metric_free(lowp_metric *metric);
lowp_status lowp_metric_update(lowp_metric *metric, int n_outputs,
                               const lowp_tensor *const *outputs, int n_labels,
                               const lowp_tensor *const *labels);
/* The value over everything since creation or the last reset. */
lowp_status lowp_metric_result(lowp_metric *metric, double *value_out);
void lowp_metric_reset(lowp_metric *metric);
const char *lowp_metric_name(const lowp_metric *metric);
int lowp_metric_higher_is_better(const lowp_metric *metric);
/* 0 when the metric scores against a reference (FP32) model's outputs instead of labels. */
int lowp_metric_compare_label(const lowp_metric *metric);
/* The metric's state as bytes (*bytes_out malloc'ed: free() it) and a peer's state merged in
 * (see lowp_metric_vtable.save/merge); LOWP_ERR_UNSUPPORTED when the metric has no merge. */
lowp_status lowp_metric_save(lowp_metric *metric, void **bytes_out, size_t *size_out);
lowp_status lowp_metric_merge(lowp_metric *metric, const void *bytes, size_t size);

/* ---- evaluation ---- */

/* Progress: `done` of `total` samples (total may be 0 if unknown). */
typedef void (*lowp_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct lowp_eval_options {
    lowp_session *reference;           /* compare_label false: the FP32 model's session */
    const lowp_transform *postprocess; /* applied to {outputs, labels} per batch (LabelShift) */
    lowp_progress_fn progress;         /* called after each batch; may be NULL */
    void *progress_user;
} lowp_eval_options;

typedef struct lowp_eval_result {
    double value;       /* the metric */
    int64_t samples;
    double seconds;     /* wall time of the whole loop */
} lowp_eval_result;

/* Runs every batch of `dataloader` through `session` (compiled from `model`, whose input
 * names are fed from the batch inputs in order) and scores it with `metric` (reset first).
 * The dataloader is reset before and after. `options` may be NULL. A batch that does not
 * fit the model's inputs fails naming the dataset and sample index. */
lowp_status lowp_evaluate(lowp_session *session, const lowp_model *model,
                          lowp_dataloader *dataloader, lowp_metric *metric,
                          const lowp_eval_options *options, lowp_eval_result *result_out);

/* ---- configuration (YAML, LPOT 1.x schema; see docs/config.md) ---- */

typedef struct lowp_config lowp_config;

/* Reads and validates a YAML file. Errors name the file, key path and line:
 * "conf.yaml: evaluation.accuracy.metric: unknown metric 'top5x' at line 14". */
lowp_status lowp_config_load(const char *path, lowp_config **config_out);
/* The same from a string; `what` names it in messages. */
lowp_status lowp_config_load_string(const char *yaml, const char *what,
                                    lowp_config **config_out);
void lowp_config_free(lowp_config *config);
/* Builds the dataloader of a section: "evaluation.accuracy", "evaluation.performance" or
 * "quantization.calibration" (whose max_samples is the first sampling_size). `batch_size` and
 * `max_samples` override the config's when > 0. Fails if the section has no dataloader. The
 * seed is tuning.random_seed. */
lowp_status lowp_config_dataloader(const lowp_config *config, const char *section,
                                   int batch_size, int64_t max_samples,
                                   lowp_dataloader **dataloader_out);
/* model.path (a lowp extension of LPOT's schema: the ONNX file), or NULL. Lives as long as
 * the config. */
const char *lowp_config_model_path(const lowp_config *config);
/* Checks model.inputs / model.outputs (when given) against the model's: each name must be one
 * of them, else an error naming the key, its line and the model's names. */
lowp_status lowp_config_check_model(const lowp_config *config, const lowp_model *model);
/* quantization.calibration.sampling_size (the first, when a list; default 100). */
int64_t lowp_config_sampling_size(const lowp_config *config);
/* 1 when evaluation.accuracy.metric is given. */
int lowp_config_has_metric(const lowp_config *config);
/* evaluation.accuracy.metric. */
lowp_status lowp_config_metric(const lowp_config *config, lowp_metric **metric_out);
/* evaluation.accuracy.postprocess.transform as a pipeline (empty when absent). */
lowp_status lowp_config_postprocess(const lowp_config *config, lowp_transform **transform_out);

/* Parses a command-line short form into a component name and its params:
 *   "FashionMNIST:/usr/share/datasets/fashion-mnist:train=false"   (NAME:VALUE:key=value)
 *   "Normalize=0.2860/0.3530", "Resize=224:interpolation=nearest", "topk=1"
 * Bare values fill the kind's positional parameters in order (see lowp_param_spec);
 * `kind` is "dataset", "transform" or "metric". *name_out is malloc'ed (free() it);
 * *params_out is freed with lowp_params_free. */
lowp_status lowp_params_parse_spec(const char *kind, const char *spec, char **name_out,
                                   lowp_params **params_out);

/* ---- end of data sets and metrics ---- */

/* ---- Distributed runs (src/dist; docs/distributed.md) ----
 *
 * A communicator: this process's rank among `size` processes and two collectives over byte
 * buffers. The `lowp` program builds one over Open MPI when launched by mpirun; the Python
 * package over mpi4py. With one process (size 1, or no communicator) everything runs as a
 * plain single-process call. Every rank must make the same sequence of lowp calls. */
typedef struct lowp_comm {
    int rank, size;
    /* Every rank's `n` bytes arrive at `root` concatenated in rank order: there *all_out is
     * malloc'ed (lowp frees it) and sizes_out[r] is rank r's count; elsewhere both untouched. */
    lowp_status (*gather)(void *user, const void *buf, size_t n, int root, void **all_out,
                          size_t *sizes_out);
    /* `root`'s *buf / *n reach every rank: elsewhere *buf is set to a malloc'ed copy. */
    lowp_status (*bcast)(void *user, void **buf, size_t *n, int root);
    void *user;
    /* Optional (NULL: a distributed tune runs each parallel trial on one rank): every rank
     * calls it; *out becomes the communicator of the ranks that passed the same `color`, ranked
     * in this one's order (MPI_Comm_split). lowp calls out->release(out->user) when done. */
    lowp_status (*split)(void *user, int color, struct lowp_comm *out);
    void (*release)(void *user);
} lowp_comm;

/* lowp_evaluate over `comm`: each rank scores a contiguous block of whole batches, the metric
 * states are merged on rank 0 in rank order (a metric without save/merge is fed the other
 * ranks' outputs and labels there instead) and every rank gets the value one process would
 * compute, bit for bit. A failure on any rank fails every
 * rank with that rank's message. comm NULL or of size 1: exactly lowp_evaluate. */
lowp_status lowp_evaluate_distributed(const lowp_comm *comm, lowp_session *session,
                                      const lowp_model *model, lowp_dataloader *dataloader,
                                      lowp_metric *metric, const lowp_eval_options *options,
                                      lowp_eval_result *result_out);

/* ---- Quantization (src/quant) ----
 *
 * Post-training static quantization in three steps:
 *
 *     lowp_calibration *cal;  lowp_calibration_create(fp32, NULL, &cal);
 *     for each calibration batch:  lowp_calibration_feed(cal, 1, &name, &batch);
 *     lowp_recipe *r;  lowp_recipe_create(&r);          // or lowp_recipe_load("r.json", &r)
 *     lowp_model *int8;  lowp_quantize(fp32, cal, r, &int8);
 *     lowp_model_save(int8, "model.int8.onnx");           // standard ONNX QDQ
 *
 * Calibration keeps fixed-size statistics per activation (min/max and a histogram), so its
 * memory does not grow with the number of samples, and one calibration serves every
 * algorithm (minmax, percentile, kl, mse) and every recipe. */

typedef struct lowp_calibration lowp_calibration;
typedef struct lowp_recipe lowp_recipe;

/* Statistics for `model` (which must outlive nothing: the calibration copies what it needs).
 * `options` may be NULL (defaults). */
lowp_status lowp_calibration_create(const lowp_model *model, const lowp_session_options *options,
                                    lowp_calibration **calibration_out);
/* Runs the FP32 model on one batch and updates the statistics. Inputs as lowp_session_run. */
lowp_status lowp_calibration_feed(lowp_calibration *calibration, int n_inputs,
                                  const char *const *input_names, const lowp_tensor *const *inputs);
/* Samples seen so far (sum of the first input's first dimension). */
int64_t lowp_calibration_samples(const lowp_calibration *calibration);
/* Makes the calibration also collect what `recipe` needs beyond activation ranges: with
 * learned_rounding, the second moments E[x x^T] of every Conv/Gemm/MatMul weight's input
 * patches (a sample of up to 1024 patches per batch; layers whose moments would exceed 32 MB
 * are skipped and keep nearest rounding); with block_reconstruction, the fed batches themselves
 * (up to 1024 samples / 256 MB), which the reconstruction trains on. Call before the first feed. */
lowp_status lowp_calibration_for_recipe(lowp_calibration *calibration, const lowp_recipe *recipe);
void lowp_calibration_free(lowp_calibration *calibration);

/* The default recipe: int8 everywhere it can run, weights int8 symmetric per channel,
 * activations uint8 asymmetric with minmax ranges. */
lowp_status lowp_recipe_create(lowp_recipe **recipe_out);
/* Reads / writes a recipe as JSON ({"model_wise": {...}, "op_wise": {"node": {...}}}); see
 * docs/quantization.md. Save writes via a temporary name. */
lowp_status lowp_recipe_load(const char *path, lowp_recipe **recipe_out);
lowp_status lowp_recipe_save(const lowp_recipe *recipe, const char *path);
/* Sets a model-wide choice: key "bias_correction" (true|false: static quantization corrects
 * each Conv/Gemm bias for the mean output shift its weight quantization causes, from the
 * calibration's per-channel input means), "smooth_quant.alpha" (a number in (0,1); 0 = off:
 * SmoothQuant migrates activation outliers of MatMul/Gemm inputs into the weights), "equalization"
 * (true|false: cross-layer equalization of Conv/Gemm/MatMul pairs first, function-preserving
 * per-channel rescaling that evens out channel ranges), "learned_rounding" (true|false: each
 * weight rounded down or up, and each channel's scale chosen, to minimise its layer's output error
 * on the calibration data; the calibration must have been prepared with
 * lowp_calibration_for_recipe), "block_reconstruction" (true|false: then the rounding of each
 * block's weights — a residual block, a chain of layers — learned jointly so the block's output
 * matches the FP32 model's on the calibration samples, BRECQ-style; lowp_quantize trains, and
 * the calibration must have been prepared with lowp_calibration_for_recipe), "approach"
 * (post_training_static_quant |
 * post_training_dynamic_quant: weights int8 offline, activations quantized per batch at run
 * time, no calibration needed), "weight.granularity" (per_channel|per_tensor), "weight.bits" (2..8, default 8: weights
 * stored as int8 holding values in [-(2^(bits-1)-1), 2^(bits-1)-1]),
 * "activation.scheme" (asym|sym), "activation.algorithm" (minmax|percentile|kl|mse),
 * "activation.percentile" (a number in (0,100]). */
lowp_status lowp_recipe_set(lowp_recipe *recipe, const char *key, const char *value);
/* Sets one node's precision: "int8", "bf16" or "fp32". */
lowp_status lowp_recipe_set_node(lowp_recipe *recipe, const char *node, const char *precision);
/* 1 when the recipe's approach is post_training_dynamic_quant (no calibration needed). */
int lowp_recipe_is_dynamic(const lowp_recipe *recipe);
/* The precision a recipe gives `node` ("int8", "bf16" or "fp32"; a constant string). */
const char *lowp_recipe_node_precision(const lowp_recipe *recipe, const char *node);
/* The starting recipe a configuration describes (quantization.approach, model_wise: the first
 * choice of each list, op_wise: node names or regexes matched against `model`'s optimized
 * graph). Errors name the file, key and line. */
lowp_status lowp_recipe_from_config(const lowp_config *config, const lowp_model *model,
                                    lowp_recipe **recipe_out);
void lowp_recipe_free(lowp_recipe *recipe);

/* LPOT's query_fw_capability: the nodes of `model`'s optimized graph (BatchNormalization
 * folded, constants folded: the names recipes use) as JSON
 * [{"node": "conv1", "op_type": "Conv", "int8": true, "bf16": true, "dynamic_int8": true,
 * "weighted": true, "quantized": false}, ...] in graph order, then the nodes inside control flow
 * ("int8": static quantization takes it; "dynamic_int8": dynamic quantization does, e.g. an LSTM,
 * not a weighted op too small for it to pay; "weighted": a Conv/Gemm/MatMul with a constant
 * weight; "quantized": it reads a DequantizeLinear, i.e. is INT8 in a QDQ model). *json_out is
 * malloc'ed (free()). */
lowp_status lowp_model_capability(const lowp_model *model, char **json_out);

/* A new model: `model` optimized (constants and BatchNormalization folded) with
 * QuantizeLinear/DequantizeLinear pairs per `recipe`. `calibration` must come from the same
 * model; it may be NULL when the recipe quantizes no activation. */
lowp_status lowp_quantize(const lowp_model *model, const lowp_calibration *calibration,
                          const lowp_recipe *recipe, lowp_model **quantized_out);

/* Pruning (docs/pruning.md): a new model, `model` optimized, with the weights of its Conv, Gemm
 * and MatMul layers pruned by magnitude. `pattern`: "unstructured" (each weight's smallest |w|
 * zeroed to `sparsity`, a fraction in [0, 1)), "N:M" such as "2:4" (N kept of every M
 * consecutive weights along each layer's reduction axis; `sparsity` unused), or "channel"
 * (`sparsity` of the output channels of every layer removed, smallest L1 norm first, with
 * everything that reads them shrunk: residual Adds, depthwise Convs and Concats follow; a
 * channel group something else reads stays whole). `names`: comma-separated weight or node
 * names or regular expressions matched from their start (NULL or "": every layer).
 * *report_json_out (NULL: not wanted; free()): per weight its elements, zeros, sparsity and
 * channels before and after, and the parameter counts. One-shot: fine-tuning afterwards is the
 * caller's. */
lowp_status lowp_prune(const lowp_model *model, const char *pattern, double sparsity, const char *names,
                       lowp_model **pruned_out, char **report_json_out);

/* The QOperator form of a quantized (QDQ) model: DQ -> Conv|MatMul -> [Relu] -> Q chains
 * become QLinearConv / QLinearMatMul (standard ONNX domain); other nodes stay as they are. */
lowp_status lowp_model_to_qoperator(const lowp_model *quantized, lowp_model **qoperator_out);

/* Per-layer error of a quantized model against its FP32 original (what `lowp compare`
 * prints): feed a few batches, then read the layers sorted worst (lowest SQNR) first. */
typedef struct lowp_comparison lowp_comparison;
lowp_status lowp_comparison_create(const lowp_model *fp32, const lowp_model *quantized,
                                   lowp_comparison **comparison_out);
/* Runs both models on a batch (inputs as lowp_session_run). */
lowp_status lowp_comparison_feed(lowp_comparison *comparison, int n_inputs,
                                 const char *const *input_names, const lowp_tensor *const *inputs);
/* {"samples": N, "layers": [{"node", "op_type", "tensor", "kind": "activation"|"weight",
 * "sqnr_db", "rel_error"}, ...]} worst first; *json_out is malloc'ed (free()). No more feeding
 * after this call. */
lowp_status lowp_comparison_json(lowp_comparison *comparison, char **json_out);
/* The values behind it: per tensor, histograms of what each model computed over every sample
 * fed, on TensorBoard's default buckets (edges +-1e-12 * 1.1^k, 0; docs/cli.md):
 * {"samples": N, "layers": [{"node", "op_type", "tensor", "kind", "fp32": H, "quantized": H}]}
 * in the order of lowp_comparison_json, H = {"min", "max", "num", "sum", "sum_squares",
 * "skipped" (non-finite values, not counted), "bucket_limit": [...], "bucket": [...]} exactly
 * as lowp_comparison_tensorboard writes them. Same contract as lowp_comparison_json. */
lowp_status lowp_comparison_histograms_json(lowp_comparison *comparison, char **json_out);
/* Writes those histograms as TensorBoard event files, one run per model: DIR/fp32 and
 * DIR/quantized (created), one histogram per tensor tagged with its name, at `step`. */
lowp_status lowp_comparison_tensorboard(lowp_comparison *comparison, const char *dir, int64_t step);
void lowp_comparison_free(lowp_comparison *comparison);

/* ---- end of quantization ---- */

/* ---- Tuning (src/tune) ----
 *
 * Accuracy-driven tuning, LPOT's main loop: evaluate the FP32 model once, then try
 * quantization recipes proposed by a strategy -- quantize, evaluate, measure the objective,
 * record -- until one keeps the accuracy within the tolerance (or the budget ends), and hand
 * back the best model found:
 *
 *     lowp_tune_options o = lowp_tune_options_default();
 *     o.tolerance = 0.01;                                   // at most 1 % relative loss
 *     lowp_tuner *t;
 *     lowp_tuner_create(fp32, calib_dl, eval_dl, metric, NULL, &o, &t);   // t owns them now
 *     lowp_tune_summary s;
 *     lowp_tuner_run(t, &s);         // s.met, s.best, s.output; the workspace holds
 *     lowp_tuner_free(t);            // history.jsonl, best_recipe.json, report.md/.html
 *
 * A trial passes when its metric >= baseline * (1 - tolerance) (relative) or >= baseline -
 * tolerance (absolute); mirrored for metrics where lower is better. Every trial is appended to
 * WORKSPACE/history.jsonl as it finishes; with `resume` the recipes found there are not run
 * again, so a tune killed at any moment and resumed ends like an uninterrupted one. Same model,
 * data and seed give the same trials and the same result. See docs/tuning.md. */

typedef struct lowp_tuner lowp_tuner;

/* The precision of one tunable op in a tuning point (the values of lp_precision). */
typedef enum lowp_tune_precision {
    LOWP_TUNE_INT8 = 0,
    LOWP_TUNE_BF16 = 1,
    LOWP_TUNE_FP32 = 2
} lowp_tune_precision;

/* What the tuner is doing, for a progress display. */
typedef struct lowp_tune_progress {
    const char *phase;     /* "baseline", "calibration", "sensitivity", "trial", "done";
                              "parallel" (finished): a distributed tune evaluated several points
                              at once, `note` says how (the trials that take them follow) */
    int trial;             /* the trial under way or just finished (1-based; 0 before any) */
    int max_trials;        /* the trial budget */
    int64_t done, total;   /* samples of the evaluation under way (total 0: unknown) */
    double baseline;       /* FP32 metric (NaN until known) */
    double target;         /* the metric a trial must reach (NaN until known) */
    double accuracy;       /* the last finished trial's metric (NaN if none) */
    double best;           /* the best passing trial's metric (NaN if none) */
    int met;               /* 1 once a trial passed */
    int finished;          /* 1 when `accuracy` is the trial that just finished */
    double elapsed;        /* seconds since lowp_tuner_run began */
    double eta;            /* seconds left at most (< 0: unknown) */
    const char *note;      /* what the current trial tries, e.g. "fallback 3 ops to bf16" */
    int passed;            /* 1 when the trial that just finished met the target */
    int higher_is_better;  /* 1: a metric >= target passes; 0: a metric <= target passes */
    double trial_seconds;  /* seconds one evaluation takes (NaN until measured) */
    int budget_bound;      /* 1: the tune runs until its budget (trials or time) is spent, so
                              `eta` bounds it; 0: it ends at the first passing trial, so `eta`
                              only bounds the worst case */
} lowp_tune_progress;

typedef void (*lowp_tune_progress_fn)(void *user, const lowp_tune_progress *progress);

typedef struct lowp_tune_options {
    const char *strategy;       /* "auto" (default), "basic", "mse", "mse_v2", "conservative",
                                   "exhaustive", "random", "bayesian" or a registered name */
    const char *approach;       /* "post_training_static_quant" (default),
                                   "post_training_dynamic_quant", "post_training_auto_quant"
                                   (static first, then dynamic) */
    int relative;               /* 1 (default): tolerance relative to the baseline; 0: absolute */
    double tolerance;           /* default 0.01; negative demands an improvement */
    int higher_is_better;       /* -1 (default): as the metric says; 0 or 1 to override */
    const char *objective;      /* "performance" (default), "modelsize", "footprint", or a
                                   weighted mix "performance:0.7,modelsize:0.3" */
    double timeout;             /* seconds; 0 (default): stop at the first recipe that meets
                                   the target (unless max_trials is given) */
    int max_trials;             /* 0: a budget of 100 trials, stop at the first pass (with
                                   timeout 0). > 0: keep searching for a better passing recipe
                                   until this many trials (or the timeout) */
    int64_t seed;               /* strategies' random choices; default 1978 */
    const char *workspace;      /* folder for history and reports; default "./lowp_workspace" */
    const char *output;         /* the tuned model; NULL: WORKSPACE/best_model.onnx */
    int resume;                 /* 1: recipes in the history are not run again */
    const char *resume_from;    /* the history to resume from; NULL: WORKSPACE/history.jsonl */
    int n_sampling_sizes;       /* calibration sample counts to try (0: {100}) */
    int64_t sampling_sizes[8];
    int threads;                /* engine threads (0: the library default) */
    const lowp_config *config;  /* optional: quantization.model_wise and op_wise restrict the
                                   space (read during lowp_tuner_create only) */
    lowp_tune_progress_fn progress;
    void *progress_user;
    int performance_only;       /* 1: LPOT's exit_policy.performance_only: quantize with the
                                   strategy's first recipe and measure it, without evaluating
                                   accuracy (the evaluation data then only gives the input
                                   shapes for the speed measurement) */
    int qoperator;              /* 1: write the tuned static model in QOperator form
                                   (QLinearConv/QLinearMatMul; LPOT's onnxrt_qlinearops);
                                   0 (default): QDQ */
    int tensorboard;            /* 1: TensorBoard event files in WORKSPACE/tensorboard (LPOT's
                                   tuning.tensorboard): run "fp32" (baseline accuracy, histograms
                                   of every tensor on the first evaluation batch) and run
                                   "quantized" (per trial, step = trial: accuracy, objective,
                                   latency_ms, histograms); docs/tuning.md */
    const lowp_comm *comm;      /* several processes (mpirun; docs/distributed.md): every rank
                                   calls lowp_tuner_run with the same arguments; calibration and
                                   evaluation are split over the ranks, rank 0 writes the
                                   history, reports and model. NULL (default): one process */
    int ranks_per_trial;        /* distributed: the ranks are split into ceil(size / this)
                                   groups, and points a strategy proposes together are evaluated
                                   a group each, sharded within it. 0 (default): 1, as many points
                                   at once as ranks (a lone point still gets every rank) */
    int trial_batch;            /* points the strategies propose at once (bayesian: a constant-
                                   liar batch, so its choices depend on it). 0 (default): the
                                   number of rank groups, 1 in one process */
} lowp_tune_options;

/* Defaults as documented above. */
lowp_tune_options lowp_tune_options_default(void);
/* Options from a configuration's tuning and quantization sections (strategy, accuracy
 * criterion, objective, exit policy, seed, workspace, sampling sizes, approach); `config` is
 * kept in options->config. Strings point into `config`, which must outlive the options. */
lowp_status lowp_tune_options_from_config(const lowp_config *config, lowp_tune_options *options_out);

/* A tuner for `model`. It takes ownership of `calibration` (NULL only for a dynamic approach),
 * `evaluation`, `metric` and `postprocess` (may be NULL), also when it fails. The model may be
 * freed afterwards; `options` (NULL: defaults) are copied. */
lowp_status lowp_tuner_create(const lowp_model *model, lowp_dataloader *calibration,
                              lowp_dataloader *evaluation, lowp_metric *metric,
                              lowp_transform *postprocess, const lowp_tune_options *options,
                              lowp_tuner **tuner_out);
/* The same with every part from a configuration (dataloaders, metric, postprocess, options
 * from lowp_tune_options_from_config); `options` (may be NULL) wins where it is not the
 * default -- pass the result of lowp_tune_options_from_config edited as you need. */
lowp_status lowp_tuner_create_from_config(const lowp_model *model, const lowp_config *config,
                                          const lowp_tune_options *options, lowp_tuner **tuner_out);
/* ---- user evaluation: the tuner scores candidates through one seam ----
 * Instead of a dataloader + metric, the caller's own function scores each candidate model (a
 * detector with its own post-processing, WER, an app): it gets the model and a session
 * compiled on it and returns the metric value. Strategies, history, resume and reports work
 * the same. An error status stops the tune cleanly: the trials finished so far stay in
 * history.jsonl, and a tune with `resume` continues from there. */
typedef struct lowp_eval_request {
    const lowp_model *model;   /* the candidate: the FP32 model at the baseline, then each
                                  trial's quantized model; valid during the call only */
    lowp_session *session;     /* a session compiled on it (the tuner's threads), ready to run */
    int trial;                 /* 0: the FP32 baseline; 1, 2, ...: the trial */
    const char *note;          /* what the candidate is ("FP32", "fallback 3 ops to bf16") */
    const char *workspace;     /* the tuner's workspace folder (NULL outside a tune) */
    const volatile int *cancelled; /* becomes non-zero when the tune is asked to stop
                                  (lowp_tuner_cancel, e.g. from a SIGINT handler): a long
                                  evaluation may poll it and return LOWP_ERR_CANCELLED;
                                  may be NULL */
} lowp_eval_request;

/* Scores a candidate into *value_out. On failure return a status (LOWP_ERR_CANCELLED to stop
 * on the user's request) after setting the message with lowp_set_error. */
typedef lowp_status (*lowp_eval_fn)(void *user, const lowp_eval_request *request, double *value_out);

typedef struct lowp_evaluator {
    lowp_eval_fn fn;
    void *user;
    void (*free)(void *user);  /* releases `user` with the tuner (may be NULL) */
    const char *name;          /* what the value is, for history and reports ("WER"); copied;
                                  NULL: "user metric" */
    int higher_is_better;      /* 1 or 0 (lowp_tune_options.higher_is_better, when >= 0, wins) */
} lowp_evaluator;

/* A tuner scoring with `evaluator` (whose `user` it owns from now on, also when it fails).
 * `calibration` as in lowp_tuner_create (a lowp_dataloader_create_from_source over the
 * caller's batches is the usual choice); with neither calibration nor evaluation data, the
 * latency measurements run on a batch-1 input of zeros shaped like the model's inputs
 * (symbolic dims 1). */
/* Labelled training data (inputs, then class labels) for the auto strategy's quantization-aware
 * training step (docs/tuning.md, "Accuracy recovery"); the tuner owns the dataloader (a
 * shuffling one is best). Call before lowp_tuner_run. */
lowp_status lowp_tuner_set_training_data(lowp_tuner *tuner, lowp_dataloader *train);
lowp_status lowp_tuner_create_with_evaluator(const lowp_model *model, lowp_dataloader *calibration,
                                             const lowp_evaluator *evaluator,
                                             const lowp_tune_options *options, lowp_tuner **tuner_out);

/* Scores `model` once with `evaluator` (trial 0, no workspace) on a new session (`options`
 * may be NULL); the evaluator's user is not freed. What `lowp eval --eval-cmd` does. */
lowp_status lowp_evaluator_run(const lowp_evaluator *evaluator, const lowp_model *model,
                               const lowp_session_options *options, double *value_out);

/* An evaluator that runs an external program per candidate (`lowp tune --eval-cmd`): the
 * model is saved to WORKSPACE/candidates/trial_N.onnx (baseline: fp32.onnx; outside a tune, a
 * temporary folder), `{model}` in `command` is replaced by that path, shell-quoted (without
 * `{model}`, the path is appended), and `/bin/sh -c` runs it in its own process group with
 * LOWP_MODEL and LOWP_TRIAL in the environment. The last non-empty line of its standard output
 * must be the metric, a number. A non-zero exit, a non-numeric last line, or running longer
 * than `timeout_seconds` (> 0; the whole process group is killed) is an error naming the trial,
 * the command and the tail of its standard error. The candidate file is removed after a
 * success and kept after a failure. Fill *evaluator_out; free it with evaluator_out->free
 * unless a tuner took it. See docs/cli.md, "--eval-cmd". */
lowp_status lowp_evaluator_command(const char *command, double timeout_seconds,
                                   int higher_is_better, lowp_evaluator *evaluator_out);

void lowp_tuner_free(lowp_tuner *tuner);

typedef struct lowp_tune_summary {
    double baseline;            /* FP32 metric */
    double target;              /* what a trial had to reach */
    double best;                /* the returned model's metric */
    double relative_loss;       /* (baseline - best) / |baseline|, mirrored for lower-is-better */
    int met;                    /* 1: the returned model meets the target; 0: it is the most
                                   accurate one found and does not */
    int trials;                 /* trials run, including those taken from a resumed history */
    int best_trial;             /* 1-based index of the returned trial (0: none ran) */
    double baseline_latency_ms; /* measured with the engine: median of repeated batch-1 runs */
    double best_latency_ms;
    double speedup;             /* baseline / best latency, measured */
    int64_t baseline_bytes;     /* serialized model sizes */
    int64_t best_bytes;
    int n_int8, n_bf16, n_fp32; /* tunable ops of the returned model by precision */
    double seconds;             /* wall time of lowp_tuner_run */
    const char *strategy;       /* valid while the tuner lives */
    const char *output;         /* the tuned model's path (NULL when no trial ran) */
    const char *workspace;
} lowp_tune_summary;

/* Runs the tuning (see above) and writes the best model to options.output plus
 * WORKSPACE/{history.jsonl, best_recipe.json, report.md, report.html}. Returns LOWP_OK also
 * when no recipe met the target (summary->met == 0); fails only on errors. */
lowp_status lowp_tuner_run(lowp_tuner *tuner, lowp_tune_summary *summary_out);
/* Asks a running tune to stop (from a progress callback, another thread, a signal handler):
 * lowp_tuner_run then returns LOWP_ERR_CANCELLED at its next check -- before the next trial, or
 * after the baseline -- with the finished trials in the history (resumable). */
void lowp_tuner_cancel(lowp_tuner *tuner);
/* The summary as JSON (what `lowp tune --json` prints); *json_out is malloc'ed (free()). */
lowp_status lowp_tune_summary_json(const lowp_tune_summary *summary, char **json_out);

/* ---- writing a strategy ----
 * A strategy is a function that proposes tuning points with lowp_tuner_try until it has
 * nothing more to propose or the tuner tells it to stop. A point is a model-wise
 * configuration (an index: approach, calibration sampling size, weight granularity,
 * activation scheme and algorithm) plus a precision per tunable op. */
typedef struct lowp_tune_strategy {
    const char *name;
    const char *summary;        /* one line for `lowp tune --help` and reports */
    int keeps_searching;        /* 1: passing trials are steps of its search (conservative):
                                   the tuner does not stop at the first one */
    lowp_status (*run)(lowp_tuner *tuner, void *user);
    void *user;
} lowp_tune_strategy;

/* Adds a strategy (lowp keeps the pointer: it must stay valid). Fails if the name is taken. */
lowp_status lowp_tune_strategy_register(const lowp_tune_strategy *strategy);
/* The i-th registered strategy (built-ins first), NULL past the end. */
const lowp_tune_strategy *lowp_tune_strategy_at(int index);

/* The tunable ops (quantizable nodes of the optimized model, in graph order). */
int lowp_tuner_op_count(const lowp_tuner *tuner);
const char *lowp_tuner_op_name(const lowp_tuner *tuner, int op);
const char *lowp_tuner_op_type(const lowp_tuner *tuner, int op);
/* 1 when op may take precision p (BF16 only where the CPU runs it natively). */
int lowp_tuner_op_allows(const lowp_tuner *tuner, int op, lowp_tune_precision p);
/* Model-wise configurations in the order of preference; 0 is the default. */
int lowp_tuner_config_count(const lowp_tuner *tuner);
/* "static ss=100 per_channel asym minmax". */
const char *lowp_tuner_config_name(const lowp_tuner *tuner, int config);
/* Per-op sensitivity for `config` (computed once, on calibration data): the noise-to-signal
 * ratio of the model's outputs, in dB, when that op alone is INT8 (higher: more sensitive;
 * -inf for ops that cannot be int8). *db_out has lowp_tuner_op_count entries and lives as
 * long as the tuner. */
lowp_status lowp_tuner_sensitivity(lowp_tuner *tuner, int config, const double **db_out);
/* The seeded random state strategies draw from. */
uint64_t *lowp_tuner_rng(lowp_tuner *tuner);

typedef struct lowp_tune_trial {
    int index;                  /* 1-based; 0: the point was not run (see lowp_tuner_try) */
    double accuracy;
    int passed;
    double objective;           /* lower is better (relative to the FP32 model) */
    double latency_ms;          /* measured */
    int64_t model_bytes, footprint_bytes;
    double seconds;
} lowp_tune_trial;

/* Evaluates the point (config, precision[op_count]); a choice an op does not allow moves to
 * the next allowed one (int8 -> bf16 -> fp32). A point tried before answers from memory (or
 * the resumed history) without running again; a point with no INT8 or BF16 op is not run
 * (index 0). *stop_out becomes 1 when the strategy must return: the target is met and the
 * tuner stops at the first pass, or the budget is spent. `note` (may be NULL) describes the
 * point in the history and the report. `trial_out` may be NULL. */
lowp_status lowp_tuner_try(lowp_tuner *tuner, int config, const unsigned char *precision,
                           const char *note, lowp_tune_trial *trial_out, int *stop_out);
/* Number of trials so far and trial i (0-based) of them. */
int lowp_tuner_trial_count(const lowp_tuner *tuner);
lowp_status lowp_tuner_trial(const lowp_tuner *tuner, int index, lowp_tune_trial *trial_out);
/* The best trial so far as a 0-based index (passing with the lowest objective, or when none
 * passed the most accurate), -1 before any; its config and precisions (n op_count) into the
 * outputs when not NULL. */
int lowp_tuner_best(const lowp_tuner *tuner, int *config_out, unsigned char *precision_out);

/* ---- end of tuning ---- */

#ifdef __cplusplus
}
#endif
#endif /* LOWP_H */
