/* rnn.h — the attributes and shapes of an ONNX RNN, GRU or LSTM node, read once and shared by
 * the reference kernel (ops/rnn.c), the oneDNN RNN kernel (kernels/dnnl_rnn.c) and dynamic
 * quantization.
 *
 * Shapes (layout 0; layout 1 swaps the sequence and batch axes of X and Y, and puts batch
 * first in the states):
 *   X (T, B, I)   W (D, G*H, I)   R (D, G*H, H)   B (D, 2*G*H)   sequence_lens (B) int32
 *   initial_h, initial_c, Y_h, Y_c (D, B, H)   P (D, 3*H)   Y (T, D, B, H)
 * with D directions and G gates: 1 (RNN), 3 (GRU, order z r h), 4 (LSTM, order i o f c;
 * peepholes P in order i o f).
 * com.microsoft's DynamicQuantizeLSTM (what ONNX Runtime's dynamic quantizer makes of an LSTM)
 * is an LSTM whose W and R are 8-bit and transposed, W (D, I, 4*H) and R (D, H, 4*H), with
 * four more inputs W_scale, W_zero_point, R_scale, R_zero_point, each (D) or (D, 4*H). lowp
 * computes it as the LSTM of the dequantized weights. */
#ifndef LP_OPS_RNN_H
#define LP_OPS_RNN_H

#include "ops/op.h"

typedef enum lp_rnn_kind { LP_RNN_VANILLA, LP_RNN_GRU, LP_RNN_LSTM } lp_rnn_kind;

/* The activation functions ONNX allows in a recurrent op's `activations` list. */
typedef enum lp_rnn_act {
    LP_ACT_RELU, LP_ACT_TANH, LP_ACT_SIGMOID, LP_ACT_AFFINE, LP_ACT_LEAKYRELU, LP_ACT_THRESHOLDEDRELU,
    LP_ACT_SCALEDTANH, LP_ACT_HARDSIGMOID, LP_ACT_ELU, LP_ACT_SOFTSIGN, LP_ACT_SOFTPLUS,
} lp_rnn_act;

typedef struct lp_rnn_fn {
    lp_rnn_act act;
    float alpha, beta;
} lp_rnn_fn;

/* Input and output positions. */
enum { LP_RNN_X, LP_RNN_W, LP_RNN_R, LP_RNN_B, LP_RNN_SEQ, LP_RNN_H0, LP_RNN_C0, LP_RNN_P,
       LP_RNN_W_SCALE, LP_RNN_W_ZP, LP_RNN_R_SCALE, LP_RNN_R_ZP };
enum { LP_RNN_Y, LP_RNN_YH, LP_RNN_YC };

typedef struct lp_rnn_attrs {
    lp_rnn_kind kind;
    bool quantized;             /* DynamicQuantizeLSTM */
    int gates;                  /* G */
    int n_fn;                   /* activations per direction: 1 (RNN), 2 (GRU), 3 (LSTM) */
    int dirs;                   /* D: 2 for "bidirectional", else 1 */
    bool reverse;               /* direction "reverse" */
    int64_t hidden;             /* hidden_size, -1 when the attribute is absent */
    bool layout1;               /* layout = 1: batch-major X, Y and states */
    bool has_clip;
    float clip;                 /* pre-activations are clipped to [-clip, clip] */
    bool input_forget;          /* LSTM: forget gate = 1 - input gate */
    bool linear_before_reset;   /* GRU: r (.) (Rh h + Rbh) instead of Rh (r (.) h) */
    lp_rnn_fn fn[2][3];         /* per direction: f, g, h as the op uses them */
    bool default_fns;           /* every activation is the op's default */
} lp_rnn_attrs;

/* Reads and checks node n's attributes (kind from its op_type). */
lp_status lp_rnn_attrs_of(const lp_node *n, lp_rnn_attrs *a);

/* A DynamicQuantizeLSTM weight q (D, K, G*H), int8 or uint8, as float32 in ONNX's LSTM order
 * (D, G*H, K): (q - zero_point) * scale, per direction or per (direction, row). *out is
 * malloc'ed; the caller frees it. */
lp_status lp_rnn_dequantize(const lp_node *n, const lp_tensor *q, const lp_tensor *scale, const lp_tensor *zp,
                            float **out);

/* The sizes of one instance. */
typedef struct lp_rnn_dims {
    int64_t T, B, I, H;
} lp_rnn_dims;

#endif
