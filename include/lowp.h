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
    LOWP_ERR_INTERNAL = 7          /* a bug in lowp: please report the message */
} lowp_status;

/* The message of the last failed call on this thread ("" if none). Valid until the next call. */
const char *lowp_last_error(void);
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

/* A JSON description of the model (inputs/outputs with dtypes and shapes, symbolic dims as
 * strings, op histogram, parameter count and bytes, opsets, producer). *json_out is
 * malloc'ed; the caller frees it with free(). */
lowp_status lowp_model_info_json(const lowp_model *model, char **json_out);

/* ---- Sessions: a model compiled for execution. ---- */

typedef struct lowp_session lowp_session;

typedef struct lowp_session_options {
    int threads;     /* 0: library default (1) */
    int optimize;    /* 1: run graph passes (fold constants, fold BN, ...) before compiling */
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

/* ---- Data sets, transforms and metrics (src/data, src/metric) ---- */

/* ---- end of data sets and metrics ---- */

#ifdef __cplusplus
}
#endif
#endif /* LOWP_H */
