/* recon.h — label-free block reconstruction (BRECQ, Li et al. 2021; AdaQuant, Hubara et al.
 * 2021): after static quantization, the rounding of the weights of each block — the ops between
 * two tensors every path of the model crosses (a residual block, a chain of layers), a few
 * weighted layers at a time — is learned jointly so that the quantized block's output matches
 * the FP32 model's output of that block on the calibration samples. The block's input comes
 * from the quantized model, blocks before it already reconstructed (as BRECQ does), so each
 * block also corrects what the earlier ones left.
 *
 * Per weight element: w_int = clip(floor(w / s) + h(V), -qmax, qmax), h(V) = clip(sigmoid(V) *
 * 1.2 - 0.1, 0, 1) (AdaRound's rectified sigmoid), V initialised so that the soft weight is the
 * float one. The block with these weights (and its activations' fake quantization) runs on
 * lowp's training engine (train/tape.h: the V tensors are the block graph's extra inputs, their
 * gradients the tape's input gradients); the loss is the squared error summed over channels and
 * averaged over samples and positions, plus lambda * sum(1 - |2h - 1|^beta) with beta annealed
 * from 20 to 2 after a warm-up (AdaRound's regulariser, which drives each h to 0 or 1); Adam.
 * At the end every weight rounds to floor + (V >= 0); the block keeps the new rounding only
 * when its error on all calibration samples went down, so the step never makes a block worse.
 *
 * A layer above quant/ and train/: lowp_quantize (the public call) lives here so that a recipe
 * with block_reconstruction is honoured wherever a model is quantized; the tuner calls
 * lp_block_reconstruct itself. */
#ifndef LP_RECON_H
#define LP_RECON_H

#include "quant/quantize.h"

typedef struct lp_recon_options {
    int iterations;             /* optimizer steps per block (default 400) */
    int batch;                  /* samples per step (default 32) */
    double lr;                  /* Adam's learning rate on V (default 0.01) */
    double reg;                 /* lambda of the rounding regulariser (default 0.01) */
    double warmup;              /* fraction of the steps without it (default 0.2) */
    int max_layers;             /* consecutive segments merge into a block up to this many
                                   weighted layers (default 4) */
    uint64_t seed;              /* which samples each step takes (default 1) */
    void (*progress)(void *user, int64_t done, int64_t total); /* blocks done (may be NULL) */
    void *progress_user;
} lp_recon_options;

lp_recon_options lp_recon_options_default(void);

typedef struct lp_recon_block {
    char in[96], out[96];       /* the block's input and output tensors (names, shortened) */
    int n_layers;               /* weights whose rounding it learned */
    double err_before, err_after; /* mean squared error of the block's output against the FP32
                                     model's on the calibration samples, per element: with the
                                     rounding it started from, and with the learned one */
    double rel_before, rel_after; /* the same divided by the mean square of the FP32 output */
    bool changed;               /* the learned rounding replaced the old (err_after < before) */
    char skipped[96];           /* why it was left alone ("" when reconstructed) */
} lp_recon_block;

typedef struct lp_recon_report {
    int n_blocks;
    lp_recon_block *blocks;     /* in graph order (owned) */
    int64_t samples;            /* calibration samples used */
    int n_layers;               /* weights reconstructed, over all blocks */
    double seconds;
} lp_recon_report;

void lp_recon_report_free(lp_recon_report *r);

/* Reconstructs the blocks of `qdq` in place: its int8 weight constants get the learned
 * rounding. `fp32` is the optimized FP32 graph the quantizer started from (the calibration
 * session's), `weights` the float weights it rounded (lp_quantize_graph_keep), `kept` the
 * calibration's inputs. `report` (may be NULL) says what each block did. */
lp_status lp_block_reconstruct(const lp_graph *fp32, lp_graph *qdq, const lp_qweights *weights,
                               const lp_calib_kept *kept, const lp_recon_options *o, lp_recon_report *report);

/* The static quantizer with the recipe's block reconstruction: lp_quantize_graph, then, when
 * r->block_reconstruction, lp_block_reconstruct on cal's kept inputs (an error when the
 * calibration kept none: lowp_calibration_for_recipe before the first feed). `o` and `report`
 * may be NULL. */
lp_status lp_quantize_graph_recon(const lp_graph *g, const lp_calibration *cal, const lp_recipe *r,
                                  const lp_recon_options *o, lp_recon_report *report, lp_graph **out);

/* lowp_quantize with a reconstruction report (the CLI prints it). */
lp_status lp_quantize_model(const lowp_model *model, const lowp_calibration *cal, const lowp_recipe *recipe,
                            const lp_recon_options *o, lp_recon_report *report, lowp_model **out);

#endif
