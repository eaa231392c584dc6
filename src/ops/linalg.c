/* linalg.c — matrix products: Gemm, MatMul (numpy semantics) and Einsum. float32 runs the
 * blocked reference GEMM; other numeric types take a plain double-accumulating loop. */
#include <stdlib.h>
#include <string.h>

#include "ops/gemm_ref.h"
#include "ops/matmul_ref.h"
#include "ops/op.h"

/* Inputs that must share one numeric type. */
static lp_status same_dtype(const lp_node *n, lp_dtype a, lp_dtype b, lp_dtype *out)
{
    if (a != LOWP_UNDEFINED && b != LOWP_UNDEFINED && a != b)
        return lp_node_error(n, LOWP_ERR_SHAPE, "inputs are %s and %s, expected one type",
                             lp_dtype_traits_of(a)->name, lp_dtype_traits_of(b)->name);
    lp_dtype t = a != LOWP_UNDEFINED ? a : b;
    if (t != LOWP_UNDEFINED && (!lp_dtype_valid(t) || t == LP_BOOL))
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "inputs of type %s are not supported", lp_dtype_traits_of(t)->name);
    *out = t;
    return LP_OK;
}

static bool dims_clash(int64_t a, int64_t b) { return lp_dim_known(a) && lp_dim_known(b) && a != b; }

/* ---------------- Gemm ---------------- */

static lp_status gemm_infer(lp_infer_ctx *c)
{
    const lp_node *n = c->node;
    const lp_shape *a = lp_in_shape(c, 0), *b = lp_in_shape(c, 1);
    bool ta = lp_attr_int(n, "transA", 0) != 0, tb = lp_attr_int(n, "transB", 0) != 0;
    LP_TRY(same_dtype(n, lp_in_dtype(c, 0), lp_in_dtype(c, 1), &c->out[0].dtype));
    if ((a->ndim >= 0 && a->ndim != 2) || (b->ndim >= 0 && b->ndim != 2))
        return lp_node_error(n, LOWP_ERR_SHAPE, "A and B must be matrices (rank 2), got ranks %d and %d",
                             a->ndim, b->ndim);
    if (c->opset < 11 && (c->n_in < 3 || !c->in[2]))
        return lp_node_error(n, LOWP_ERR_FORMAT, "input C is required before opset 11");
    int64_t M = a->ndim < 0 ? LP_DIM_UNKNOWN : a->d[ta ? 1 : 0], Ka = a->ndim < 0 ? LP_DIM_UNKNOWN : a->d[ta ? 0 : 1];
    int64_t Kb = b->ndim < 0 ? LP_DIM_UNKNOWN : b->d[tb ? 1 : 0], N = b->ndim < 0 ? LP_DIM_UNKNOWN : b->d[tb ? 0 : 1];
    if (dims_clash(Ka, Kb))
        return lp_node_error(n, LOWP_ERR_SHAPE, "inner dims differ: A gives %lld, B %lld", (long long)Ka, (long long)Kb);
    lp_shape *y = &c->out[0].shape;
    y->ndim = 2;
    y->d[0] = M;
    y->d[1] = N;
    const lp_shape *cs = lp_in_shape(c, 2);
    if (c->n_in > 2 && c->in[2] && cs->ndim >= 0) {
        if (cs->ndim > 2)
            return lp_node_error(n, LOWP_ERR_SHAPE, "C has rank %d, expected at most 2", cs->ndim);
        for (int i = 0; i < cs->ndim; i++) {
            int64_t cd = cs->d[i], yd = y->d[2 - cs->ndim + i];
            if (cd != 1 && dims_clash(cd, yd))
                return lp_node_error(n, LOWP_ERR_SHAPE, "C dim %d is %lld, does not broadcast to %lld",
                                     i, (long long)cd, (long long)yd);
        }
    }
    return LP_OK;
}

/* a: (M,K) or (K,M) with transA, b: (K,N) or (N,K) with transB, c: broadcast to (M,N):
 * y (M,N) = alpha * a' * b' + beta * c */
static lp_status gemm_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    const lp_node *n = c->node;
    const lp_tensor *a = c->in[0], *b = c->in[1], *ct = c->n_in > 2 ? c->in[2] : NULL;
    lp_tensor *y = c->out[0];
    bool ta = lp_attr_int(n, "transA", 0) != 0, tb = lp_attr_int(n, "transB", 0) != 0;
    float alpha = lp_attr_float(n, "alpha", 1.0f), beta = lp_attr_float(n, "beta", 1.0f);
    if (a->ndim != 2 || b->ndim != 2 || a->dtype != b->dtype)
        return lp_node_error(n, LOWP_ERR_SHAPE, "A and B must be matrices of one type");
    int64_t M = a->dims[ta ? 1 : 0], K = a->dims[ta ? 0 : 1], N = b->dims[tb ? 0 : 1];
    if (b->dims[tb ? 1 : 0] != K)
        return lp_node_error(n, LOWP_ERR_SHAPE, "inner dims differ: %lld vs %lld", (long long)K,
                             (long long)b->dims[tb ? 1 : 0]);
    int64_t cst[2] = { 0, 0 }, ydims[2] = { M, N };
    if (ct) {
        if (ct->ndim > 2 || ct->dtype != a->dtype)
            return lp_node_error(n, LOWP_ERR_SHAPE, "C must be of A's type and rank <= 2");
        for (int i = 0; i < ct->ndim; i++)
            if (ct->dims[i] != 1 && ct->dims[i] != ydims[2 - ct->ndim + i])
                return lp_node_error(n, LOWP_ERR_SHAPE, "C does not broadcast to (%lld, %lld)",
                                     (long long)M, (long long)N);
        lp_broadcast_strides(ct->ndim, ct->dims, 2, ydims, cst);
    }
    bool use_c = ct && beta != 0.0f;
    if (a->dtype != LP_F32) {
        /* plain loops in double for the other numeric types */
        const lp_dtype_traits *tr = lp_dtype_traits_of(a->dtype);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t p = 0; p < K; p++)
                    s += tr->get(a->data, ta ? p * M + i : i * K + p) * tr->get(b->data, tb ? j * K + p : p * N + j);
                double v = alpha * s + (use_c ? beta * tr->get(ct->data, i * cst[0] + j * cst[1]) : 0.0);
                tr->set(y->data, i * N + j, v);
            }
        return LP_OK;
    }
    float *yd = y->data;
    if (use_c) {
        const float *cd = ct->data;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                yd[i * N + j] = beta * cd[i * cst[0] + j * cst[1]];
    }
    const float *bd = b->data;
    float *bt = NULL;
    if (tb) {
        /* the GEMM wants B's columns contiguous: repack (N,K) into (K,N) */
        if (!(bt = malloc((size_t)(K * N > 0 ? K * N : 1) * sizeof *bt)))
            return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory repacking B");
        for (int64_t j = 0; j < N; j++)
            for (int64_t p = 0; p < K; p++)
                bt[p * N + j] = bd[j * K + p];
        bd = bt;
    }
    lp_gemm_f32(M, N, K, alpha, a->data, ta ? 1 : K, ta ? M : 1, bd, N, use_c ? 1.0f : 0.0f, yd, N);
    free(bt);
    return LP_OK;
}

const lp_op_def lp_opdef_Gemm = {
    .name = "Gemm", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = gemm_infer, .run = gemm_run,
};

/* ---------------- MatMul ---------------- */

static lp_status matmul_infer(lp_infer_ctx *c)
{
    LP_TRY(same_dtype(c->node, lp_in_dtype(c, 0), lp_in_dtype(c, 1), &c->out[0].dtype));
    return lp_matmul_infer(c->node, lp_in_shape(c, 0), lp_in_shape(c, 1), &c->out[0].shape);
}

/* a: (..., M, K), b: (..., K, N) -> y: (..., M, N), per broadcast batch element */
static lp_status matmul_run(const lp_run_ctx *c)
{
    LP_TRY(lp_need_inputs(c, 2));
    const lp_tensor *a = c->in[0], *b = c->in[1];
    lp_tensor *y = c->out[0];
    if (a->dtype != b->dtype)
        return lp_node_error(c->node, LOWP_ERR_SHAPE, "A and B must have one type");
    lp_matmul mm;
    LP_TRY(lp_matmul_setup(c->node, a, b, &mm));
    int64_t M = mm.M, N = mm.N, K = mm.K;
    if (a->dtype == LP_F32) {
        int64_t a_batch = lp_numel(a->ndim > 2 ? a->ndim - 2 : 0, a->dims);
        int64_t b_batch = lp_numel(b->ndim > 2 ? b->ndim - 2 : 0, b->dims);
        if (b_batch == 1 && a_batch == mm.count) {
            /* one shared B: the batch folds into the rows of a single product */
            lp_gemm_f32(mm.count * M, N, K, 1.0f, a->data, K, 1, b->data, N, 0.0f, y->data, N);
            return LP_OK;
        }
        for (int64_t i = 0; i < mm.count; i++) {
            int64_t ao, bo;
            lp_matmul_offsets(&mm, i, &ao, &bo);
            lp_gemm_f32(M, N, K, 1.0f, (const float *)a->data + ao, K, 1, (const float *)b->data + bo, N,
                        0.0f, (float *)y->data + i * M * N, N);
        }
        return LP_OK;
    }
    const lp_dtype_traits *tr = lp_dtype_traits_of(a->dtype);
    for (int64_t i = 0; i < mm.count; i++) {
        int64_t ao, bo;
        lp_matmul_offsets(&mm, i, &ao, &bo);
        for (int64_t r = 0; r < M; r++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t p = 0; p < K; p++)
                    s += tr->get(a->data, ao + r * K + p) * tr->get(b->data, bo + p * N + j);
                tr->set(y->data, i * M * N + r * N + j, s);
            }
    }
    return LP_OK;
}

const lp_op_def lp_opdef_MatMul = {
    .name = "MatMul", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = matmul_infer, .run = matmul_run,
};

/* ---------------- Einsum ---------------- */

/* Labels: 'A'..'Z' are 0..25, 'a'..'z' 26..51, the dims under "..." 52.. (right-aligned
 * across operands, broadcasting like numpy). */
#define EIN_LETTERS 52
#define EIN_LABELS (EIN_LETTERS + LP_MAX_DIMS)
#define EIN_MAX_OPS 16

typedef struct einsum_plan {
    int n_ops;
    int rank[EIN_MAX_OPS];
    int label[EIN_MAX_OPS][LP_MAX_DIMS];   /* per operand axis */
    int out_rank;                          /* -1: unknown */
    int out_label[LP_MAX_DIMS];
    int64_t size[EIN_LABELS];              /* LP_DIM_UNKNOWN when not known */
    bool used[EIN_LABELS];
} einsum_plan;

static int ein_letter(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return 26 + ch - 'a';
    return -1;
}

/* One term: letters and at most one "...": labels (letters only) and where "..." sits. */
static lp_status ein_term(const lp_node *n, const char *s, size_t len, int *letters, int *nl, int *ell_at)
{
    *nl = 0;
    *ell_at = -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (*ell_at >= 0 || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return lp_node_error(n, LOWP_ERR_FORMAT, "bad ellipsis in equation term '%.*s'", (int)len, s);
            *ell_at = *nl;
            i += 2;
            continue;
        }
        int l = ein_letter(s[i]);
        if (l < 0)
            return lp_node_error(n, LOWP_ERR_FORMAT, "bad character '%c' in the equation", s[i]);
        if (*nl >= LP_MAX_DIMS)
            return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "equation term has more than %d labels", LP_MAX_DIMS);
        letters[(*nl)++] = l;
    }
    return LP_OK;
}

/* Parses the equation against operand ranks/dims (rank -1: unknown). */
static lp_status ein_plan(const lp_node *n, int n_ops, const int *ranks, const int64_t (*dims)[LP_MAX_DIMS],
                          einsum_plan *p)
{
    const char *eq = lp_attr_str(n, "equation", NULL);
    if (!eq)
        return lp_node_error(n, LOWP_ERR_FORMAT, "the equation attribute is required");
    if (n_ops > EIN_MAX_OPS)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%d operands; at most %d are supported", n_ops, EIN_MAX_OPS);
    char buf[512];
    size_t len = 0;
    for (const char *s = eq; *s; s++)
        if (*s != ' ' && *s != '\t') {
            if (len + 1 >= sizeof buf)
                return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "equation too long");
            buf[len++] = *s;
        }
    buf[len] = '\0';
    memset(p, 0, sizeof *p);
    p->n_ops = n_ops;
    for (int l = 0; l < EIN_LABELS; l++)
        p->size[l] = LP_DIM_UNKNOWN;
    char *arrow = strstr(buf, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - buf) : len;
    int count[EIN_LETTERS] = { 0 };
    int letters[EIN_MAX_OPS][LP_MAX_DIMS], nl[EIN_MAX_OPS], ell_at[EIN_MAX_OPS];
    bool rank_known = true, any_ell = false;
    int E = 0;
    size_t start = 0;
    for (int o = 0; o < n_ops; o++) {
        size_t end = start;
        while (end < lhs_len && buf[end] != ',')
            end++;
        if (start > lhs_len || (end == lhs_len && o < n_ops - 1) || (o == n_ops - 1 && end != lhs_len))
            return lp_node_error(n, LOWP_ERR_SHAPE, "the equation '%s' does not have %d input terms", eq, n_ops);
        LP_TRY(ein_term(n, buf + start, end - start, letters[o], &nl[o], &ell_at[o]));
        for (int i = 0; i < nl[o]; i++)
            count[letters[o][i]]++;
        any_ell |= ell_at[o] >= 0;
        if (ranks[o] < 0) {
            rank_known = false;
        } else if (ell_at[o] < 0 ? ranks[o] != nl[o] : ranks[o] < nl[o]) {
            return lp_node_error(n, LOWP_ERR_SHAPE, "operand %d has rank %d, the term '%.*s' wants %s%d",
                                 o, ranks[o], (int)(end - start), buf + start, ell_at[o] < 0 ? "" : "at least ", nl[o]);
        } else if (ell_at[o] >= 0 && ranks[o] - nl[o] > E) {
            E = ranks[o] - nl[o];
        }
        start = end + 1;
    }
    /* output labels */
    int out[LP_MAX_DIMS], n_out = 0;
    bool out_ell = false;
    if (arrow) {
        int ol[LP_MAX_DIMS], onl, oe;
        LP_TRY(ein_term(n, arrow + 2, strlen(arrow + 2), ol, &onl, &oe));
        for (int i = 0; i < onl; i++) {
            if (!count[ol[i]])
                return lp_node_error(n, LOWP_ERR_FORMAT, "an output label of '%s' is not in any input", eq);
            for (int j = 0; j < i; j++)
                if (ol[j] == ol[i])
                    return lp_node_error(n, LOWP_ERR_FORMAT, "output label repeated in '%s'", eq);
        }
        out_ell = oe >= 0;
        for (int i = 0; i <= onl; i++) {
            if (i == oe)
                for (int e = 0; e < E; e++)
                    out[n_out++] = EIN_LETTERS + e;
            if (i < onl)
                out[n_out++] = ol[i];
        }
    } else {
        out_ell = any_ell;
        for (int e = 0; e < E; e++)
            out[n_out++] = EIN_LETTERS + e;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (count[l] == 1)
                out[n_out++] = l;
    }
    if (n_out > LP_MAX_DIMS)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "result rank exceeds %d", LP_MAX_DIMS);
    if (!rank_known && (any_ell || out_ell)) {
        p->out_rank = -1; /* the ellipsis width is unknown */
        return LP_OK;
    }
    /* operand axes and label sizes */
    for (int o = 0; o < n_ops; o++) {
        if (ranks[o] < 0)
            continue;
        int ne = ell_at[o] >= 0 ? ranks[o] - nl[o] : 0, ax = 0;
        p->rank[o] = ranks[o];
        for (int i = 0; i <= nl[o]; i++) {
            if (i == ell_at[o])
                for (int e = 0; e < ne; e++)
                    p->label[o][ax++] = EIN_LETTERS + E - ne + e;
            if (i < nl[o])
                p->label[o][ax++] = letters[o][i];
        }
        for (int i = 0; i < ranks[o]; i++) {
            int l = p->label[o][i];
            int64_t d = dims[o][i], *sz = &p->size[l];
            p->used[l] = true;
            if (!lp_dim_known(d))
                continue;
            if (!lp_dim_known(*sz) || (l >= EIN_LETTERS && *sz == 1)) {
                *sz = d;
            } else if (*sz != d && !(l >= EIN_LETTERS && d == 1)) {
                return lp_node_error(n, LOWP_ERR_SHAPE, "label dims disagree: %lld vs %lld in '%s'",
                                     (long long)*sz, (long long)d, eq);
            }
        }
    }
    p->out_rank = n_out;
    memcpy(p->out_label, out, sizeof out);
    return LP_OK;
}

static lp_status einsum_infer(lp_infer_ctx *c)
{
    int ranks[EIN_MAX_OPS];
    int64_t dims[EIN_MAX_OPS][LP_MAX_DIMS];
    lp_dtype t = LOWP_UNDEFINED;
    if (c->n_in > EIN_MAX_OPS)
        return lp_node_error(c->node, LOWP_ERR_UNSUPPORTED, "%d operands; at most %d", c->n_in, EIN_MAX_OPS);
    for (int i = 0; i < c->n_in; i++) {
        const lp_shape *s = lp_in_shape(c, i);
        ranks[i] = s->ndim;
        if (s->ndim > 0)
            memcpy(dims[i], s->d, (size_t)s->ndim * sizeof s->d[0]);
        LP_TRY(same_dtype(c->node, t, lp_in_dtype(c, i), &t));
    }
    einsum_plan p;
    LP_TRY(ein_plan(c->node, c->n_in, ranks, (const int64_t (*)[LP_MAX_DIMS])dims, &p));
    c->out[0].dtype = t;
    c->out[0].shape.ndim = p.out_rank;
    for (int i = 0; i < p.out_rank; i++)
        c->out[0].shape.d[i] = p.size[p.out_label[i]];
    return LP_OK;
}

/* The plain definition: loop over every combination of every label, multiplying the
 * operands' elements and adding into the output element (in double). */
static lp_status einsum_run(const lp_run_ctx *c)
{
    const lp_node *n = c->node;
    int ranks[EIN_MAX_OPS];
    int64_t dims[EIN_MAX_OPS][LP_MAX_DIMS];
    if (c->n_in > EIN_MAX_OPS)
        return lp_node_error(n, LOWP_ERR_UNSUPPORTED, "%d operands; at most %d", c->n_in, EIN_MAX_OPS);
    LP_TRY(lp_need_inputs(c, c->n_in));
    for (int i = 0; i < c->n_in; i++) {
        ranks[i] = c->in[i]->ndim;
        memcpy(dims[i], c->in[i]->dims, sizeof dims[i]);
        if (c->in[i]->dtype != c->in[0]->dtype)
            return lp_node_error(n, LOWP_ERR_SHAPE, "operands must have one type");
    }
    einsum_plan p;
    LP_TRY(ein_plan(n, c->n_in, ranks, (const int64_t (*)[LP_MAX_DIMS])dims, &p));
    /* loop labels: output labels first (in output order), then the summed ones */
    int loop[EIN_LABELS], nloop = 0;
    bool in_out[EIN_LABELS] = { false };
    for (int i = 0; i < p.out_rank; i++) {
        loop[nloop++] = p.out_label[i];
        in_out[p.out_label[i]] = true;
    }
    for (int l = 0; l < EIN_LABELS; l++)
        if (p.used[l] && !in_out[l])
            loop[nloop++] = l;
    /* strides of every operand and of the output along each loop label */
    int64_t st[EIN_MAX_OPS + 1][EIN_LABELS] = { { 0 } }, size[EIN_LABELS];
    int64_t total = 1;
    for (int k = 0; k < nloop; k++) {
        size[k] = p.size[loop[k]];
        total *= size[k];
    }
    for (int o = 0; o < c->n_in; o++) {
        int64_t s = 1;
        for (int ax = ranks[o] - 1; ax >= 0; ax--) {
            for (int k = 0; k < nloop; k++)
                if (loop[k] == p.label[o][ax] && !(dims[o][ax] == 1 && size[k] != 1))
                    st[o][k] += s; /* a repeated label walks the diagonal */
            s *= dims[o][ax];
        }
    }
    int64_t s = 1;
    for (int i = p.out_rank - 1; i >= 0; i--) {
        st[c->n_in][i] = s; /* output labels are loop[0 .. out_rank) */
        s *= p.size[p.out_label[i]];
    }
    int64_t out_n = s;
    double *acc = calloc((size_t)(out_n > 0 ? out_n : 1), sizeof *acc);
    if (!acc)
        return lp_node_error(n, LOWP_ERR_OUT_OF_MEMORY, "out of memory");
    const lp_dtype_traits *tr = lp_dtype_traits_of(c->in[0]->dtype);
    int64_t idx[EIN_LABELS] = { 0 }, off[EIN_MAX_OPS + 1] = { 0 };
    for (int64_t it = 0; it < total; it++) {
        double v = 1;
        for (int o = 0; o < c->n_in; o++)
            v *= tr->get(c->in[o]->data, off[o]);
        acc[off[c->n_in]] += v;
        /* odometer: last loop label fastest */
        for (int k = nloop - 1; k >= 0; k--) {
            for (int o = 0; o <= c->n_in; o++)
                off[o] += st[o][k];
            if (++idx[k] < size[k])
                break;
            for (int o = 0; o <= c->n_in; o++)
                off[o] -= st[o][k] * size[k];
            idx[k] = 0;
        }
    }
    for (int64_t i = 0; i < out_n; i++)
        tr->set(c->out[0]->data, i, acc[i]);
    free(acc);
    return LP_OK;
}

const lp_op_def lp_opdef_Einsum = {
    .name = "Einsum", .min_in = 1, .max_in = EIN_MAX_OPS, .min_out = 1, .max_out = 1,
    .infer = einsum_infer, .run = einsum_run,
};
