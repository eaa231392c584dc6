/* dnnl_internal.h — what the oneDNN backend's files share: a step's state (primitives in
 * order, memories bound to plan values), the post-op chain that fusion produces, and the
 * builders of each op family. */
#ifndef LP_KERNELS_DNNL_INTERNAL_H
#define LP_KERNELS_DNNL_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>

#include "ir/infer.h"
#include "kernels/dnnl.h"

#define DN_MAX_EXEC 12
#define DN_MAX_ARGS 24
#define DN_MAX_MEM 64
#define DN_MAX_POST 12

/* 8-bit storage of a float tensor: integers q meaning (q - zp) * scale (the QDQ form's
 * QuantizeLinear -> DequantizeLinear pair, per tensor). `on` false: plain float. */
typedef struct dn_quant {
    bool on;
    dnnl_data_type_t dt;                /* dnnl_u8 or dnnl_s8 */
    float scale;
    int32_t zp;
} dn_quant;

/* One primitive execution. */
typedef struct dn_exec {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[DN_MAX_ARGS];
} dn_exec;

/* A memory whose data handle follows *where (a plan value's data, or the plan scratch). */
typedef struct dn_bind {
    dnnl_memory_t mem;
    void *const *where;
    void *last;
} dn_bind;

/* One node run by its reference kernel inside a step that could not build primitives. */
typedef struct dn_ref {
    const lp_op_def *op;
    lp_run_ctx ctx;
    const lp_tensor *in[LP_MAX_NODE_IO];
    lp_tensor *out[LP_MAX_NODE_IO];
} dn_ref;

typedef struct dn_step {
    dnnl_stream_t stream;
    int n_exec;
    dn_exec exec[DN_MAX_EXEC];
    int n_bind;
    dn_bind bind[DN_MAX_MEM];
    int n_mem;
    dnnl_memory_t mem[DN_MAX_MEM];      /* every memory object, destroyed on release */
    int n_buf;
    void *buf[DN_MAX_MEM];              /* owned buffers: converted weights, temporaries */
    int out_value;                      /* the value the step produces ... */
    dnnl_memory_desc_t out_md;          /* ... and how it is stored */
    bool out_private;                   /* stored in a layout/dtype other than plain float */
    dn_quant out_q;                     /* stored as 8-bit integers (out_md's data type) */
    char impl[128];                     /* what runs it, for describe() */
    char kinds[96];                     /* profiling: its primitive kinds ("convolution+reorder"), */
    uint32_t reorder_mask;              /* and which executions are reorders (found on first use) */
    int share_in;                       /* an input whose storage the output takes over (a
                                           residual summed in place), or -1 */
    /* own code for what oneDNN has no primitive for, run after the executions on the memories
     * they bind (dnnl_resize.c); custom_free releases custom_arg with the step */
    lp_status (*custom)(void *arg, const lp_run_ctx *c);
    lp_status (*custom_pre)(void *arg, const lp_run_ctx *c); /* run before the executions */
    void *custom_arg;
    void (*custom_free)(void *arg);
    /* the reference fallback */
    int n_ref;
    dn_ref *ref;
    lp_tensor *ref_tmp;                 /* tensors internal to the group / reordered inputs */
    int n_ref_tmp;
    /* taps: a plain copy of a private output, made on demand */
    lp_tensor plain;
    void *plain_buf;
    dnnl_primitive_t plain_reorder;
    dnnl_memory_t plain_src, plain_dst;
} dn_step;

/* ---- post-op chains (dnnl_fuse.c) ---- */

typedef enum dn_post_kind { DN_POST_ELTWISE = 1, DN_POST_BINARY = 2 } dn_post_kind;

typedef struct dn_post {
    dn_post_kind kind;
    dnnl_alg_kind_t alg;                /* eltwise or binary algorithm */
    float alpha, beta;                  /* eltwise parameters */
    int value;                          /* binary: the other operand's value ... */
    bool as_sum;                        /* an Add of a full-size tensor done as oneDNN's sum post-op:
                                           the operand is copied into dst before the primitive */
    float sum_scale;                    /* the sum's scale (0: 1); a quantized destination sums
                                           the residual's integers scaled by s_residual / s_dst */
    dnnl_memory_t mem;                  /* ... or a prepared operand (a constant made at compile) */
    dnnl_memory_desc_t md;              /* and its md */
} dn_post;

/* A leader node plus what follows it in its group. */
typedef struct dn_chain {
    int n_post;
    dn_post post[DN_MAX_POST];
    int out_value;                      /* the group's result */
    dn_quant q_tail;                    /* the chain ends QuantizeLinear -> DequantizeLinear: the
                                           result is stored quantized (INT8 leaders only) */
} dn_chain;

/* The pattern a group is. */
typedef enum dn_pattern {
    DN_PAT_NONE = 0,
    DN_PAT_CHAIN,                       /* leader op + post-ops */
    DN_PAT_LAYERNORM,                   /* ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div[, Mul[, Add]] */
    DN_PAT_GELU,                        /* Div|Mul, Erf, Add, Mul, Mul */
    DN_PAT_QDQ,                         /* QuantizeLinear -> DequantizeLinear: the value quantized */
} dn_pattern;

typedef struct dn_group_info {
    dn_pattern pattern;
    dn_chain chain;
    /* LAYERNORM */
    int ln_x, ln_gamma, ln_beta;        /* values (-1 if absent) */
    float ln_eps;
    int ln_axis;                        /* first normalized axis */
    /* GELU */
    int gelu_x;
    /* QDQ: the quantized float value (the result is chain.out_value, quantized as chain.q_tail) */
    int qdq_x;
} dn_group_info;

/* Recognises the group nodes[0..n) (n == 1: a single node with no post-ops). */
bool dn_group_analyze(const lp_graph *g, const lp_qconst *const *qconst, const int *nodes, int n,
                      dn_group_info *info);
/* The fuse hook. */
int dn_fuse(const lp_fuse_ctx *fc, int ni, int *group, int max);
/* True when eltwise post-op p may follow post[0..n) in one primitive: oneDNN runs post-ops of
 * one algorithm with the first one's parameters, so they must all have the same. */
bool dn_post_fits(const dn_post *post, int n, const dn_post *p);
/* True when node ni takes eltwise post-op `p` (an activation oneDNN has); fills p. */
bool dn_eltwise_of(const lp_graph *g, int ni, dn_post *p, int *n_post);
/* Which input of eltwise node ni is the data (Max(c, x): 1; otherwise 0). */
int dn_eltwise_src(const lp_graph *g, int ni);

/* ---- INT8 (dnnl_int8.c) ---- */

/* Node ni is a per-tensor QuantizeLinear or DequantizeLinear with constant scale and zero
 * point (u8 or s8): its parameters. */
bool dn_qnode_params(const lp_graph *g, int ni, dn_quant *q);
/* Value v is DequantizeLinear(activation) per tensor: its parameters. */
bool dn_value_dq(const lp_graph *g, int v, dn_quant *q);
/* True when every post-op of ch commutes with a positive scale (ReLU, LeakyReLU, Clip, sums):
 * a requantized result then folds 1 / s_y into the output scales; otherwise the INT8 builders
 * append a linear post-op (alpha 1 / s_y). */
bool dn_chain_scales(const dn_chain *ch);
/* Node ni is a Conv, Gemm or MatMul the INT8 kernels run: quantized activation input,
 * int8 weights (a folded constant, or for MatMul a quantized s8 activation). */
bool dn_int8_leader(const lp_graph *g, const lp_qconst *const *qconst, int ni);
/* INT8 builders; LOWP_ERR_UNSUPPORTED when oneDNN has no fast kernel for the case. */
lp_status dn_conv_int8(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv);
lp_status dn_mm_int8(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv);
lp_status dn_qdq_build(dn_step *st, const lp_prep_ctx *pc, const dn_group_info *info, bool priv);
/* How a value stored as 8-bit integers of type dt is laid out: channels-last when a
 * convolution or an op that passes 8-bit data on in its layout (dn_qmove_keeps_layout)
 * reads it, else plain. */
void dn_q_layout(const lp_prep_ctx *pc, int v, dnnl_data_type_t dt, dnnl_memory_desc_t *md);
/* MaxPool/GlobalMaxPool, Concat, Resize/Upsample and the data movement ops (Slice, Pad,
 * Transpose, Reshape, Flatten, Squeeze, Unsqueeze): ops whose result followed by
 * QuantizeLinear -> DequantizeLinear (Q its only reader) is computed on 8-bit data and
 * stored as the pair's integers (docs/engine.md, "INT8 that flows"). */
bool dn_qmove_op(const lp_graph *g, int ni);
/* Such an op that keeps its input's layout (not Transpose or a reshape): it passes
 * channels-last data on to convolutions. */
bool dn_qmove_keeps_layout(const lp_graph *g, int ni);
/* The quantized result v (as q, laid out `md`) of such an op: *dst the memory it writes --
 * the value's own storage when its readers take it privately, else a temporary that the
 * caller dequantizes into the plain float *deq after the op (dn_reorder_q). */
lp_status dn_q_result(dn_step *st, const lp_prep_ctx *pc, int v, const dn_quant *q, bool priv,
                      const dnnl_memory_desc_t *md, dnnl_memory_t *dst, dnnl_memory_t *deq);
/* MatMulInteger (dynamic quantization): u8 activations x constant s8 weights. */
bool dn_mmi_supports(const lp_graph *g, const lp_node *n);
lp_status dn_mmi_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv);
/* ConvInteger (dynamic quantization): u8/s8 activations x constant u8/s8 weights. */
bool dn_convint_supports(const lp_graph *g, const lp_node *n);
lp_status dn_convint_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv);
/* DynamicQuantizeLinear on its input as stored (dnnl_qdyn.c). */
bool dn_dynq_supports(const lp_graph *g, const lp_node *n);
lp_status dn_dynq_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv);

/* ---- Resize / Upsample on oneDNN's layouts (dnnl_resize.c) ---- */

bool dn_resize_supports(const lp_graph *g, const lp_node *n);
lp_status dn_resize_build(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv);
/* An f32 md for dims (rank nd) laid out like `like` when that is a layout lowp's own kernels
 * walk (rank 3-4: plain, channels-last, channel-blocked by 8 or 16; true), else plain (false). */
bool dn_md_like(const dnnl_memory_desc_t *like, int nd, const int64_t *dims, dnnl_memory_desc_t *out);

/* ---- lowp's own kernels for what oneDNN has no fast primitive for (dnnl_own.c) ---- */

/* Add/Sub/Mul/Div (alg dnnl_binary_add/sub/mul/div) of values a and b broadcast (both ways,
 * numpy rules) onto y, on plain float: whether the shapes fit, and the build. */
bool dn_own_binary_fits(const lp_shape *a, const lp_shape *b, const lp_shape *y);
lp_status dn_own_binary_build(dn_step *st, const lp_prep_ctx *pc, int a, int b, int y, dnnl_alg_kind_t alg);
typedef enum dn_red_kind { DN_RED_SUM, DN_RED_MEAN, DN_RED_MAX, DN_RED_MIN } dn_red_kind;
/* x's axes reduced[k] form one run (axes of extent 1 aside): x as [outer, red, inner]. */
bool dn_own_reduce_fits(const lp_shape *x, const bool *reduced, int64_t *outer, int64_t *red, int64_t *inner);
lp_status dn_own_reduce_build(dn_step *st, const lp_prep_ctx *pc, int x, int y, dn_red_kind kind, const bool *reduced);
/* Log of x into y (plain float; within 1 ulp of the reference, see dnnl_own.c). */
lp_status dn_own_log_build(dn_step *st, const lp_prep_ctx *pc, int x, int y);
/* Clip of x into y with scalar bounds lo, hi (values, -1: none) read at run time. */
lp_status dn_own_clip_build(dn_step *st, const lp_prep_ctx *pc, int x, int lo, int hi, int y);
/* Pad of x into y in `mode` (lp_pad_mode), pads as lp_pad_window gives them (crops too). */
lp_status dn_own_pad_build(dn_step *st, const lp_prep_ctx *pc, int x, int y, int mode, const int64_t *pads,
                           float fill);

/* ---- ConvTranspose with kernel == stride as matmul + pixel shuffle (dnnl_deconv.c) ---- */

/* Node n (a ConvTranspose of oneDNN geometry strides/dil/pl/pr) has kernel == stride, no
 * dilation or pads, one group. */
bool dn_deconv_shuffle_fits(const lp_graph *g, const lp_node *n, const int64_t *strides, const int64_t *dil,
                            const int64_t *pl, const int64_t *pr);
/* Its FP32 build; LOWP_ERR_UNSUPPORTED for post-ops it cannot take (full-size or runtime
 * operands, sums, a quantized result). */
lp_status dn_deconv_shuffle(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch);

/* ---- value helpers (dnnl_core.c) ---- */

dnnl_engine_t dn_engine(void);
/* Plain (dense row-major) md; a scalar is dims {1}. */
void dn_plain_md(dnnl_memory_desc_t *md, dnnl_data_type_t dt, int ndim, const int64_t *dims);
/* True when the value is float32 with a static shape. */
bool dn_value_f32(const lp_graph *g, int v);
bool dn_value_const(const lp_graph *g, int v);
/* How value v is stored: its producer's md when that is a oneDNN step, else plain f32. */
void dn_value_md(const lp_prep_ctx *pc, int v, dnnl_memory_desc_t *md);
/* Whether value v is stored as 8-bit integers by its producer (then *q says how). */
bool dn_value_quantized(const lp_prep_ctx *pc, int v, dn_quant *q);
/* Value v as an input in layout and type `want`, quantized as `wq` when that is on (v's
 * storage is converted: layout, quantize, dequantize or requantize, by one reorder). */
lp_status dn_input_q(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *want, const dn_quant *wq,
                     dnnl_memory_t *out);
/* Both float (off or NULL), or both 8-bit with the same type, scale and zero point. */
bool dn_quant_same(const dn_quant *a, const dn_quant *b);
/* A reorder execution from memory `from` (stored as fq) into memory `to` (stored as tq). */
lp_status dn_reorder_q(dn_step *st, dnnl_memory_t from, const dn_quant *fq, dnnl_memory_t to, const dn_quant *tq);
/* True when the step may store value v in a private layout (all readers are oneDNN steps). */
bool dn_value_private_ok(const lp_prep_ctx *pc, int v);

/* A memory of `md` over `handle` (may be NULL), owned by the step. */
lp_status dn_mem(dn_step *st, const dnnl_memory_desc_t *md, void *handle, dnnl_memory_t *out);
/* A memory bound at run time to value v's data, described by `md`. */
lp_status dn_mem_value(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *md, dnnl_memory_t *out);
/* md re-described with dims `dims` of rank nd (the same bytes: size-1 dims inserted or dropped);
 * false when oneDNN cannot. dn_input/dn_input_q take a `want` of another rank than the value
 * (its md reshaped so), dn_reorder_q memories of two ranks, dn_set_output a dst md of the
 * primitive's rank (stored reshaped to the value's): a 1-D convolution runs as 2-D. */
bool dn_md_reshape(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md, int nd, const int64_t *dims);
/* A memory of `md` over memory m's bytes, following m's run-time binding if it has one. */
lp_status dn_mem_as(dn_step *st, dnnl_memory_t m, const dnnl_memory_desc_t *md, dnnl_memory_t *out);
/* A step-owned buffer of md's size, and a memory over it. */
lp_status dn_mem_temp(dn_step *st, const dnnl_memory_desc_t *md, dnnl_memory_t *out);
/* Value v as an input in layout `want` (NULL: as stored, or plain float when stored
 * quantized): the stored memory, or a temporary filled by a reorder added to the step's
 * executions. A quantized value is dequantized to a float `want`. */
lp_status dn_input(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *want, dnnl_memory_t *out);
/* Value v as input bytes described by `view` (the same bytes as its plain form, e.g. a
 * transposed view): bound directly when stored plain, else via a plain copy. */
lp_status dn_input_view(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *view,
                        dnnl_memory_t *out);
/* Value v converted to plain dense float32 (a temporary when not stored so); *plain_md gets
 * its md. Lets callers reinterpret the bytes with another md (dn_mem on the same handle). */
lp_status dn_input_plain(dn_step *st, const lp_prep_ctx *pc, int v, dnnl_memory_t *out);
/* Constant data (described by `from`) converted once to layout `to`. */
lp_status dn_const(dn_step *st, const void *data, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                   dnnl_memory_t *out);
/* A checkpoint of a step being built, to undo a failed attempt. */
typedef struct dn_mark { int n_exec, n_bind, n_mem, n_buf, share_in; size_t impl_len; } dn_mark;
dn_mark dn_checkpoint(const dn_step *st);
void dn_rollback(dn_step *st, dn_mark m);
/* Adds an execution copying value v (as stored) into memory `dst` (any layout), quantized
 * as `dq` when that is on. */
lp_status dn_copy_into(dn_step *st, const lp_prep_ctx *pc, int v, dnnl_memory_t dst, const dn_quant *dq);
/* Adds an execution. */
lp_status dn_add_exec(dn_step *st, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args);
/* Creates the primitive of `pd`, adds its execution with `args` plus the scratchpad, and
 * records the implementation name. Takes ownership of pd. */
/* args: room for one more entry than nargs (the scratchpad is appended): size it DN_MAX_ARGS. */
lp_status dn_add_primitive(dn_step *st, const lp_prep_ctx *pc, dnnl_primitive_desc_t pd, int nargs,
                           dnnl_exec_arg_t *args);
/* Records the step's output: value v stored as `md` (raises the arena reservation). */
void dn_set_output(dn_step *st, const lp_prep_ctx *pc, int v, const dnnl_memory_desc_t *md);
/* A fresh attribute with the user scratchpad mode and the chain's post-ops appended;
 * binary operands' mds are built for destination dims `dims` (rank nd); their memories
 * are added to args (*nargs grows). Returns UNSUPPORTED when an operand cannot be expressed. */
lp_status dn_attr(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, int nd, const int64_t *dims,
                  bool allow_private, dnnl_primitive_attr_t *attr, dnnl_exec_arg_t *args, int *nargs);
dnnl_data_type_t dn_dt(lp_dtype t);

/* ---- shared by dnnl_ops.c and dnnl_int8.c ---- */

typedef lp_status (*dn_build_fn)(dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch, bool priv);

/* A Gemm or MatMul as one oneDNN matmul. */
typedef struct mm_spec {
    int nd;                             /* rank the primitive sees */
    int64_t src[DNNL_MAX_NDIMS], src_str[DNNL_MAX_NDIMS];
    int64_t wei[DNNL_MAX_NDIMS], wei_str[DNNL_MAX_NDIMS];
    int64_t dst[DNNL_MAX_NDIMS];
    int a, b;                           /* values */
    float alpha;                        /* folded into constant B */
    int bias;                           /* constant bias value (-1: none) */
    int64_t bias_dims[DNNL_MAX_NDIMS];
    float beta;                         /* folded into the constant bias */
    int c_post;                         /* a runtime C added as the first post-op (-1: none) */
} mm_spec;

bool dn_gemm_spec(const lp_graph *g, const lp_node *n, mm_spec *m);
bool dn_matmul_spec(const lp_graph *g, const lp_node *n, mm_spec *m);
/* Convolution geometry (ops/conv_ref.h's lp_conv) of node n; false when invalid. */
struct lp_conv;
bool dn_conv_geometry(const lp_graph *g, const lp_node *n, struct lp_conv *cv);
/* That geometry in oneDNN's terms: source, weights (with a leading group dim when group > 1)
 * and destination dims, strides, dilations (oneDNN counts from 0) and pads. */
typedef struct dn_conv_dims {
    int nd, wn;                         /* source/destination rank, weights rank */
    int64_t src[DNNL_MAX_NDIMS], wei[DNNL_MAX_NDIMS], dst[DNNL_MAX_NDIMS];
    dnnl_dims_t strides, dil, pad_l, pad_r;
    bool padded;                        /* any nonzero begin pad or positive end pad */
} dn_conv_dims;
void dn_conv_dims_of(const struct lp_conv *cv, dn_conv_dims *d);
/* A 1-D convolution of one input channel as a 1x1 convolution over its frames (dnnl_frames.c):
 * whether it fits (group 1, no pads or dilation, k >= 16, few stride phases; LOWP_CONV_FRAMES=0
 * never), the 1x1 geometry (source (N, k, T), weights (O, k, 1): the same bytes), and the
 * frames of input x (stored as q when that is on) in layout `want` for geometry geo's conv;
 * dn_frames_of: the same from mx, the input already plain (N, 1, L) of type dt (ConvInteger's
 * 8-bit input). */
bool dn_frames_fits(const struct lp_conv *cv, const dn_conv_dims *geo);
void dn_frames_dims(const dn_conv_dims *geo, dn_conv_dims *out);
lp_status dn_frames_input(dn_step *st, const lp_prep_ctx *pc, int x, const dn_conv_dims *geo, const dn_quant *q,
                          const dnnl_memory_desc_t *want, dnnl_memory_t *out);
lp_status dn_frames_of(dn_step *st, dnnl_memory_t mx, const dn_conv_dims *geo, dnnl_data_type_t dt,
                       const dnnl_memory_desc_t *want, dnnl_memory_t *out);
void dn_md_any(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt);
/* A feature map's md of rank nd laid out channels-last (plain below rank 3 or above 5). */
void dn_md_channels_last(dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt);
/* false where oneDNN refuses the strides (an axis's extent times its stride past the next's) */
bool dn_md_strided(dnnl_memory_desc_t *md, int nd, const int64_t *dims, const int64_t *strides, dnnl_data_type_t dt);
/* Creates a primitive descriptor (consumes attr), refusing oneDNN's reference implementations;
 * *pd is NULL when it fails. */
lp_status dn_pd_create(dnnl_primitive_desc_t *pd, const void *desc, dnnl_primitive_attr_t attr);
const dnnl_memory_desc_t *dn_q_md(dnnl_primitive_desc_t pd, int arg);
/* Tries the first full-size residual Add as a sum post-op, then as a binary post-op. */
lp_status dn_with_sum(dn_build_fn build, dn_step *st, const lp_prep_ctx *pc, const lp_node *n, const dn_chain *ch,
                      bool priv);
/* The residual of a sum post-op copied into dst before the primitive (quantized like the
 * residual's DequantizeLinear when the chain's result is quantized) -- or, when dst is the
 * storage of value dst_value (-1: a temporary) and the residual is stored alike and read last
 * here, nothing: the output takes over the residual's storage (st->share_in). */
lp_status dn_copy_sum_operand(dn_step *st, const lp_prep_ctx *pc, const dn_chain *ch, dnnl_memory_t dst,
                              int dst_value);

/* ---- builders (dnnl_ops.c); each returns LP_OK or LOWP_ERR_UNSUPPORTED ---- */

/* May the backend run node ni alone (or lead a group)? */
bool dn_supports_node(const lp_graph *g, int ni);
/* ... or only followed by QuantizeLinear -> DequantizeLinear (Reshape and the other views
 * run on 8-bit data; dn_qmove_op)? */
bool dn_supports_q(const lp_graph *g, int ni);
/* May node ni lead a post-op chain? */
bool dn_chain_leader(const lp_graph *g, int ni);
/* Builds the step for nodes with `info`; allow_private lets it store its output in a layout
 * of oneDNN's choosing. */
lp_status dn_build(dn_step *st, const lp_prep_ctx *pc, const dn_group_info *info, bool allow_private);

#endif
