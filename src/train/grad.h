/* grad.h — backward kernels: one lp_grad_def per differentiable ONNX op, listed once in
 * grad.c's table (the training layer's counterpart of ops.def). Each backward is the plain C
 * reference, written for clarity; every one has a finite-difference case in
 * tests/test_train_grad.c (the test fails for a row without one). The hot rows try a oneDNN
 * fast path first (dnnl_conv.h, dnnl_nn.h; off with LOWP_KERNELS=reference), held against the
 * reference by tests/test_train_twins.c. */
#ifndef LP_TRAIN_GRAD_H
#define LP_TRAIN_GRAD_H

#include "ops/op.h"

/* How a row's tensors may be laid out (tape.c): plain, or -- between consecutive oneDNN ops --
 * in a oneDNN layout (struct lp_dnt_layout, dnnl_train.h). */
typedef enum lp_layout_kind {
    LP_LAYOUT_PLAIN = 0,           /* plain tensors only (the tape converts any other) */
    LP_LAYOUT_SAME,                /* elementwise on the raw buffers: the inputs in diff_in, when all
                                      in one layout with one shape, give the output that layout */
    LP_LAYOUT_OWN,                 /* input 0 in any layout (the row reorders), output 0 in the
                                      row's choice when the tape allows (lp_fwd_ctx.out_lay) */
} lp_layout_kind;
struct lp_dnt_layout;

/* What a forward override sees: the op's run context plus training-mode state. */
typedef struct lp_fwd_ctx {
    const lp_run_ctx *rc;
    lp_tensor *const *in_rw;   /* the same inputs, writable (BatchNormalization's running stats) */
    bool training;             /* training mode: batch statistics, dropout on */
    uint64_t seed;             /* per node and step: dropout masks */
    void **saved;              /* what the backward will need (freed with the def's free_saved) */
    void **cache;              /* the node's state kept across runs (a fast path's primitives and
                                  buffers; freed with the tape by the def's free_cache) */
    const struct lp_dnt_layout *in0_lay; /* LP_LAYOUT_OWN: input 0's layout, or NULL (plain) */
    struct lp_dnt_layout *out_lay; /* LP_LAYOUT_OWN: non-NULL when output 0 may stay in a oneDNN
                                      layout; the row says there which (on false: plain) */
} lp_fwd_ctx;

/* What a backward sees. Gradients are float32 tensors of the shape of the value they belong
 * to (also for integer values: a QuantizeLinear's output gradient). A backward ADDS into din
 * (a value read by several nodes sums their contributions). */
typedef struct lp_grad_ctx {
    const lp_node *node;
    int64_t opset;
    int n_in, n_out;
    const lp_tensor *const *in;    /* forward inputs (NULL for omitted ones) */
    const lp_tensor *const *out;   /* forward outputs (NULL for omitted ones) */
    const lp_tensor *const *dout;  /* dLoss/dout[k], or NULL where no gradient flows */
    lp_tensor *const *din;         /* accumulate dLoss/din[k] here; NULL where not wanted */
    void *saved;                   /* the forward override's state, or NULL */
    void **cache;                  /* the node's state kept across runs (as lp_fwd_ctx's) */
    const struct lp_dnt_layout *in0_lay, *out_lay; /* LP_LAYOUT_OWN: the layouts of input 0 (and
                                      din[0]) and output 0 (and dout[0]) as the forward had them,
                                      or NULL (plain) */
    unsigned din_fresh;            /* bit k: no one has added to din[k] yet (and no other input
                                      of this node shares it): it holds zeros, or, for a row with
                                      bwd_overwrites, anything -- the backward must then WRITE
                                      every element of it (lp_grad_zero_fresh first, to add) */
} lp_grad_ctx;

typedef struct lp_grad_def {
    const char *name;              /* ONNX op_type (default domain) */
    unsigned diff_in;              /* bit k: a gradient can flow to input k */
    unsigned param_in;             /* bit k: a float constant at input k is a trainable parameter
                                      by default (weights, biases, BN scale/shift); quantization
                                      scales are trainable only with learn_scale */
    /* NULL: the op's reference kernel. Set where training mode differs (BatchNormalization,
     * Dropout) or where the backward needs state from the forward. */
    lp_status (*forward)(const lp_fwd_ctx *c);
    lp_status (*backward)(const lp_grad_ctx *c);
    void (*free_saved)(void *saved);
    void (*free_cache)(void *cache);
    bool fwd_overwrites;           /* the forward writes every element of its outputs: the tape
                                      does not zero them first */
    bool bwd_overwrites;           /* the backward writes (not adds) the din_fresh gradients,
                                      which the tape then leaves unzeroed */
    bool fixed_scalars;            /* a one-element float constant at a param_in input is a
                                      constant of the formula, not a parameter: elementwise
                                      arithmetic (a decomposed LayerNorm's epsilon, GELU's 1/√2
                                      and ½, attention's 1/√d), where training it moves the
                                      formula (an epsilon driven below zero turns Sqrt into NaN) */
    lp_layout_kind layout;
    /* LP_LAYOUT_OWN: LP_OK when this run will take input 0 in a oneDNN layout (else the tape
     * gives it plain) */
    lp_status (*takes_layout)(const lp_fwd_ctx *f);
} lp_grad_def;

/* The row for `op_type` in the default domain, or NULL. */
const lp_grad_def *lp_grad_find(const char *domain, const char *op_type);
/* The table, for tests and docs: row i (0 <= i < lp_grad_count()). */
int lp_grad_count(void);
const lp_grad_def *lp_grad_at(int i);

/* The rows, defined in grad_*.c. */
#define LP_GRAD_ROWS(X)                                                                      \
    X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Relu) X(LeakyRelu) X(Clip) X(Sigmoid) X(Tanh)      \
    X(Erf) X(Sqrt) X(Exp) X(Log) X(Neg) X(Reciprocal) X(HardSigmoid) X(HardSwish)          \
    X(Identity) X(Softmax) X(LogSoftmax) X(ReduceMean) X(ReduceSum)                        \
    X(Gemm) X(MatMul) X(Conv) X(ConvTranspose) X(MaxPool) X(AveragePool)                   \
    X(GlobalAveragePool) X(GlobalMaxPool) X(BatchNormalization) X(Flatten) X(Reshape)      \
    X(Squeeze) X(Unsqueeze) X(Transpose) X(Concat) X(Dropout) X(QuantizeLinear)            \
    X(DequantizeLinear)                                                                    \
    X(Gather) X(Slice) X(Split) X(Pad) X(Expand) X(Tile) X(GatherElements) X(GatherND)      \
    X(DepthToSpace) X(SpaceToDepth) X(LayerNormalization) X(Sum) X(Mean) X(Max) X(Min) X(Where) \
    X(NegativeLogLikelihoodLoss) X(SoftmaxCrossEntropyLoss)
#define LP_GRAD_DECL(name) extern const lp_grad_def lp_graddef_##name;
LP_GRAD_ROWS(LP_GRAD_DECL)
#undef LP_GRAD_DECL

/* ---- helpers shared by the backward kernels (grad_util.c) ---- */

/* din (shape of `in`, which broadcasts to `out_nd/out_dims`) += scale * g reduced over the
 * broadcast dims; g has the out shape. */
void lp_grad_unbroadcast(const lp_tensor *in, int out_nd, const int64_t *out_dims, const float *g,
                         float scale, float *din);
/* For i over the out shape: off[i] = element offset in a tensor of shape in (rank in_nd)
 * broadcast to out. Caller frees. NULL on OOM. */
int64_t *lp_grad_bcast_offsets(int in_nd, const int64_t *in_dims, int out_nd, const int64_t *out_dims);
/* C (M,N) = alpha * A (M,K) * B (K,N) + beta * C. A and B through (row, column) strides; a B whose
 * columns are not contiguous is copied first. */
lp_status lp_grad_matmul(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t ars,
                         int64_t acs, const float *B, int64_t brs, int64_t bcs, float beta, float *C);
/* The op's reference kernel, from the forward of a fwd_overwrites row whose fast path declined:
 * its outputs zeroed first (the tape left them as they were), as the kernel expects. */
lp_status lp_grad_run_kernel(const lp_fwd_ctx *f);
/* Zeroes the din_fresh gradients: a bwd_overwrites row's path that adds calls it first. */
void lp_grad_zero_fresh(const lp_grad_ctx *c);
/* Requires a float32 input/output k, naming the node otherwise. */
lp_status lp_grad_want_f32(const lp_grad_ctx *c, const lp_tensor *t, const char *what);

#endif
