/* pricing.c — logit choice shares and multi-product Bertrand–Nash prices (MODEL.md §5–§6). */
#include "moatsim/pricing.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_linalg.h>

#include "moatsim/fastexp.h"
#include "moatsim/scenario.h"

/*
 * Layout. The zeta iteration evaluates every (row, offer) share once per iteration, so it is the
 * hot loop of a path. The caller's base is row-major ([row][offer]); the solver copies it once per
 * solve into blocks of LANES rows stored offer-major ([block][offer][lane]). Every loop of an
 * iteration then runs over the LANES rows of a block with a compile-time trip count and no
 * branch: the row maximum, the sum of exponentials, the per-seller markup sums and the
 * accumulation of Lambda_j, S_j and sum_r W_r alpha_r s_rj m_{r,f(j)} are element-wise operations
 * across lanes, which GCC vectorizes with the default -O3 (SSE2) and without -ffast-math.
 * Sums over rows are kept per lane and added up in a fixed order at the end of the pass, so the
 * result is bitwise reproducible for a given binary and input (no dependence on threads).
 * Rows of zero weight, and rows with no feasible offer, contribute nothing and are left out
 * when the blocks are built.
 * Infeasible columns. Many cells are -INFINITY for whole groups of rows (an enterprise that
 * cannot use an offer, or has not adopted local inference): their shares are exactly 0 and they
 * add exactly 0 to every sum. pack_rows orders the rows by feasibility pattern (the set of
 * offers with a finite base; patterns in order of first appearance, rows in their original
 * order within one) so that rows with the same pattern share blocks, and records for each block
 * the offers finite in at least one of its rows (cols, colmask); every loop over a block's
 * offers runs over that list only. Offers left out of a block's list are not written in its
 * share buffer (stale values there are never read). On the baseline 77 % of the cells are left
 * and a run takes 5-11 % less CPU; the rows are summed in another order, so results change in
 * the last bits (docs/performance.md).
 * UNROLL: GCC unrolls some LANES-long loops completely before the loop vectorizer sees them and
 * then fails to vectorize the straight-line code (-fopt-info-vec: "not profitable"); those loops
 * carry `#pragma GCC unroll 1` so that they are vectorized as loops.
 * OPT: the pass vectorizes at -O2 as at -O3 (docs/performance.md, bench section (h)): every
 * function of it, and the exp and log (MOAT_FASTEXP_INLINE), is always inlined, and with
 * GCC >= 12 -O2 vectorizes loops whose trip count is a multiple of the vector width (LANES = 16)
 * with its "very cheap" cost model. `#pragma omp simd` on the lane loops, which would force it
 * at any level, made the -O3 kernel about 12 % slower (bench_kernel, alternating runs): not used.
 */
#define LANES 16
#define ALIGN 64
#define AA_DEPTH 6 /* Anderson acceleration: differences of the last 6 iterates, used once */
#define AA_START 0.1 /* the zeta map moves no price by more than 10 % (see moat_pricing_solve) */
#define AA_PATIENCE 60 /* accelerated iterations before going on with the plain map */
#define NEWTON_START 1e-3 /* Newton steps once the map moves every price by less (relative) */
#define CHORD_GAIN 0.1 /* a chord step that cuts the change by less: a fresh Jacobian */
#define NEWTON_MAX_JAC 4 /* Jacobian passes a solve at most */
#define NEWTON_REARM 0.25 /* after a failed Newton phase, another once the change is this small */
#define NEWTON_TRUST 1000.0 /* a Newton step moves a price by at most this times the change */
#define JAC_GROUP 8 /* blocks whose Jacobian terms are added to the accumulators at once */
#define MAX_PATTERNS 64 /* feasibility patterns told apart when the rows are ordered */

/* Per-offer terms of the nested Jacobian (block_jacobian_nested): of offer i as the variable
 * (S, SC, ST, SCT, X) and of offer j as the equation (A, B, C, CK, D). */
enum { NJ_S, NJ_SC, NJ_ST, NJ_SCT, NJ_X, NJ_A, NJ_B, NJ_C, NJ_CK, NJ_D, NJ_COUNT };
/* Which terms a pair (i, j) of the nested Jacobian has. */
enum { JP_NEST = 1, JP_SELLER = 2, JP_CROSS = 4, JP_DIAG = 8 };

/* The pass over the rows is compiled for several x86-64 levels (MOAT_FASTEXP_CLONES in
 * fastexp.h); the functions it calls are inlined into each version, whatever the optimisation
 * level (see OPT). */
#if defined(__GNUC__)
#define KERNEL_INLINE __attribute__((always_inline)) inline
#else
#define KERNEL_INLINE inline
#endif

struct moat_pricing_ws {
  size_t cap_rows, cap_stride, cap_sellers; /* sizes it was allocated for */
  size_t n_blocks;  /* blocks of LANES rows in use after the last pack */
  double *bt;       /* [block][offer][lane] base of the packed rows; padding lanes -INFINITY */
  double *alpha;    /* [block][lane] alpha_r; 0 in padding */
  double *weight;   /* [block][lane] W_r; 0 in padding */
  double *walpha;   /* [block][lane] W_r alpha_r */
  double *share;    /* [2][offer][lane] shares of the current pair of blocks (cap_stride apart) */
  double *msum;     /* [2][seller + 1][lane] sum_{k in f} s_rk (p_k - c_k); last row: no seller */
  double *acc_dem;  /* [offer][lane] per-lane partial sums of W s */
  double *acc_lam;  /* [offer][lane] of W alpha s */
  double *acc_gam;  /* [offer][lane] of W alpha s m_{r,f(j)} */
  double *dem, *lam, *gam, *markup, *next; /* [offer] */
  size_t *sel;      /* [offer] row of msum for offer j (n_sellers when seller < 0) */
  double *hist_f;   /* [AA_DEPTH + 1][offer] g(p) - p of the last iterates, oldest first */
  double *hist_g;   /* [AA_DEPTH + 1][offer] g(p) of the same iterates */
  size_t n_hist;    /* iterates in the history */
  int accelerate;   /* 1: Anderson acceleration (default), 0: the plain zeta iteration */
  int newton;       /* 1: finish with Newton steps (default; only with acceleration) */
  /* Newton phase (see newton_step): over the n_newton priced offers newton_idx */
  size_t n_newton;
  size_t *newton_idx; /* [offer] */
  double *ybuf;     /* [JAC_GROUP][cap_stride][lane] y_rj of a group of blocks (block_jacobian) */
  double *ubuf;     /* [JAC_GROUP][cap_stride][lane] W_r alpha_r s_ri of the same */
  double *acc_jac;  /* [offer][offer][lane] per-lane sums of W alpha s_i y_j */
  double *acc_same; /* [offer][offer][lane] of W alpha s_i s_j (1 - alpha m_i), same seller */
  double *acc_diag; /* [offer][lane] of W alpha^2 s_j (m_j - m_{r,f(j)}) */
  double *jac_a, *jac_same, *jac_diag; /* the lane sums of the three */
  gsl_matrix *jac;  /* [offer][offer] the Newton system, then its LU factors */
  gsl_vector *step; /* [offer] right-hand side, then the Newton step */
  gsl_permutation *perm; /* [offer] */
  size_t *sys;      /* [offer] positions in newton_idx of the offers in the Newton system */
  size_t n_sys;     /* their number */
  double *pow_a, *pow_b; /* [offer][offer] powers of the zeta map's Jacobian (plain_map_stable) */
  double *newton_p, *newton_g; /* [offer] p and g(p) before the last Newton step */
  /* Feasibility (see "Infeasible columns"): */
  size_t *cols;     /* [block][cap_stride] offers finite in some row of the block, ascending */
  size_t *ncols;    /* [block] their number */
  unsigned char *colmask; /* [block][cap_stride] 1 for the offers in cols */
  unsigned char *pair_same; /* [block] 1 if block + 1 has the same list of offers */
  size_t *order;    /* [cap_rows] active rows in packing order */
  size_t *row_pat;  /* [cap_rows] pattern of each row (MAX_PATTERNS: none of the first ones;
                       MAX_PATTERNS + 1: the row is left out) */
  size_t pat_words; /* 64-bit words a pattern */
  uint64_t *pat;    /* [MAX_PATTERNS][pat_words] the patterns in order of first appearance */
  uint64_t *row_bits; /* [cap_rows][pat_words] the pattern of each row (bit j: base finite) */
  uint64_t *blk_bits; /* [pat_words] scratch: the union over one block's rows */
  size_t pat_count[MAX_PATTERNS + 2]; /* rows per pattern, then the start of each group */
  /* Nested logit (see "Nests"), set up for each call by nest_setup: */
  int nested;       /* 1: some lambda_g < 1, the nested passes run */
  size_t n_nests;
  double *nest_lam, *nest_inv; /* [nest] lambda_g, 1 / lambda_g */
  unsigned char *nest_single; /* [nest] 1 if the nest holds one offer (its ln I'_g is 0) */
  double *inv_lam, *kap; /* [offer] 1 / lambda_g(j), kappa_j = (1 - lambda_g(j)) / lambda_g(j) */
  size_t *grp;      /* [offer] the (seller, nest) group of offer j; SIZE_MAX in a nest with
                       lambda = 1 (kappa = 0: its N never enters) */
  size_t n_grp;
  size_t *grp_cross; /* [newton a][newton b] group of (seller of offer b, nest of offer a), or
                        SIZE_MAX if that seller sells nothing in that nest */
  unsigned char *pair_kind; /* [newton a][newton b] JP_ bits: which Jacobian terms apply */
  double *jterms;   /* [JAC_GROUP][NJ_COUNT][offer][lane] per-offer terms of
                       block_jacobian_nested for a group of blocks */
  double *jgsum;    /* [JAC_GROUP][group][lane] the group sums N of the same blocks */
  double *nmax, *nsum, *nshare; /* [nest][lane] max of V/lambda, sum of exp, then s_g */
  double *cshare;   /* [offer][lane] within-nest shares s_j|g */
  double *gsum;     /* [group][lane] N_rG = sum_{k in G} s_rk|g (p_k - c_k) */
  double *zero_lanes; /* [lane] zeros */
  double *sink_lanes; /* [lane] written, never read: the sums of offers without a group */
};

static double *alloc_doubles(size_t n) {
  size_t bytes = (n * sizeof(double) + ALIGN - 1) / ALIGN * ALIGN;
  return aligned_alloc(ALIGN, bytes ? bytes : ALIGN);
}

moat_pricing_ws_t *moat_pricing_ws_alloc(size_t n_rows, size_t stride, size_t n_sellers) {
  moat_pricing_ws_t *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  size_t blocks = (n_rows + LANES - 1) / LANES;
  ws->cap_rows = n_rows;
  ws->cap_stride = stride;
  ws->cap_sellers = n_sellers;
  ws->accelerate = 1;
  ws->bt = alloc_doubles(blocks * stride * LANES);
  ws->alpha = alloc_doubles(blocks * LANES);
  ws->weight = alloc_doubles(blocks * LANES);
  ws->walpha = alloc_doubles(blocks * LANES);
  ws->share = alloc_doubles(2 * stride * LANES);
  ws->msum = alloc_doubles(2 * (n_sellers + 1) * LANES);
  ws->acc_dem = alloc_doubles(stride * LANES);
  ws->acc_lam = alloc_doubles(stride * LANES);
  ws->acc_gam = alloc_doubles(stride * LANES);
  ws->dem = alloc_doubles(stride);
  ws->lam = alloc_doubles(stride);
  ws->gam = alloc_doubles(stride);
  ws->markup = alloc_doubles(stride);
  ws->next = alloc_doubles(stride);
  ws->sel = malloc((stride ? stride : 1) * sizeof *ws->sel);
  ws->hist_f = alloc_doubles((AA_DEPTH + 1) * stride);
  ws->hist_g = alloc_doubles((AA_DEPTH + 1) * stride);
  ws->newton = 1;
  size_t sj = stride ? stride : 1;
  ws->newton_idx = malloc(sj * sizeof *ws->newton_idx);
  ws->ybuf = alloc_doubles(JAC_GROUP * stride * LANES);
  ws->ubuf = alloc_doubles(JAC_GROUP * stride * LANES);
  ws->acc_jac = alloc_doubles(stride * stride * LANES);
  ws->acc_same = alloc_doubles(stride * stride * LANES);
  ws->acc_diag = alloc_doubles(stride * LANES);
  ws->jac_a = alloc_doubles(stride * stride);
  ws->jac_same = alloc_doubles(stride * stride);
  ws->jac_diag = alloc_doubles(stride);
  ws->jac = gsl_matrix_alloc(sj, sj);
  ws->step = gsl_vector_alloc(sj);
  ws->perm = gsl_permutation_alloc(sj);
  ws->sys = malloc(sj * sizeof *ws->sys);
  ws->pow_a = alloc_doubles(stride * stride);
  ws->pow_b = alloc_doubles(stride * stride);
  ws->newton_p = alloc_doubles(stride);
  ws->newton_g = alloc_doubles(stride);
  size_t bj = (blocks ? blocks : 1), rj = (n_rows ? n_rows : 1);
  ws->pat_words = (sj + 63) / 64;
  ws->nest_lam = alloc_doubles(sj);
  ws->nest_inv = alloc_doubles(sj);
  ws->nest_single = malloc(sj);
  ws->inv_lam = alloc_doubles(sj);
  ws->kap = alloc_doubles(sj);
  ws->grp = malloc(sj * sizeof *ws->grp);
  ws->grp_cross = malloc(sj * sj * sizeof *ws->grp_cross);
  ws->pair_kind = malloc(sj * sj);
  ws->jterms = alloc_doubles(JAC_GROUP * NJ_COUNT * sj * LANES);
  ws->jgsum = alloc_doubles(JAC_GROUP * sj * LANES);
  ws->nmax = alloc_doubles(sj * LANES);
  ws->nsum = alloc_doubles(sj * LANES);
  ws->nshare = alloc_doubles(sj * LANES);
  ws->cshare = alloc_doubles(sj * LANES);
  ws->gsum = alloc_doubles(sj * LANES);
  ws->zero_lanes = alloc_doubles(LANES);
  ws->sink_lanes = alloc_doubles(LANES);
  if (!ws->nest_lam || !ws->nest_inv || !ws->nest_single || !ws->inv_lam || !ws->kap || !ws->grp || !ws->grp_cross || !ws->pair_kind || !ws->jterms || !ws->jgsum ||
      !ws->nmax || !ws->nsum || !ws->nshare || !ws->cshare || !ws->gsum || !ws->zero_lanes ||
      !ws->sink_lanes) {
    moat_pricing_ws_free(ws);
    return NULL;
  }
  memset(ws->zero_lanes, 0, LANES * sizeof *ws->zero_lanes);
  ws->cols = malloc(bj * sj * sizeof *ws->cols);
  ws->ncols = malloc(bj * sizeof *ws->ncols);
  ws->colmask = malloc(bj * sj);
  ws->pair_same = malloc(bj);
  ws->order = malloc(rj * sizeof *ws->order);
  ws->row_pat = malloc(rj * sizeof *ws->row_pat);
  ws->pat = malloc(MAX_PATTERNS * ws->pat_words * sizeof *ws->pat);
  ws->row_bits = malloc(rj * ws->pat_words * sizeof *ws->row_bits);
  ws->blk_bits = malloc(ws->pat_words * sizeof *ws->blk_bits);
  if (!ws->cols || !ws->ncols || !ws->colmask || !ws->pair_same || !ws->order || !ws->row_pat ||
      !ws->pat || !ws->row_bits || !ws->blk_bits) {
    moat_pricing_ws_free(ws);
    return NULL;
  }
  if (!ws->newton_p || !ws->newton_g || !ws->sys || !ws->pow_a || !ws->pow_b || !ws->newton_idx || !ws->ybuf || !ws->ubuf || !ws->acc_jac || !ws->acc_same ||
      !ws->acc_diag || !ws->jac_a || !ws->jac_same || !ws->jac_diag || !ws->jac || !ws->step ||
      !ws->perm) {
    moat_pricing_ws_free(ws);
    return NULL;
  }
  if (!ws->bt || !ws->alpha || !ws->weight || !ws->walpha || !ws->share || !ws->msum ||
      !ws->acc_dem || !ws->acc_lam || !ws->acc_gam || !ws->dem || !ws->lam || !ws->gam ||
      !ws->markup || !ws->next || !ws->sel || !ws->hist_f || !ws->hist_g) {
    moat_pricing_ws_free(ws);
    return NULL;
  }
  return ws;
}

void moat_pricing_ws_free(moat_pricing_ws_t *ws) {
  if (!ws) return;
  free(ws->nest_lam);
  free(ws->nest_inv);
  free(ws->nest_single);
  free(ws->inv_lam);
  free(ws->kap);
  free(ws->grp);
  free(ws->grp_cross);
  free(ws->pair_kind);
  free(ws->jterms);
  free(ws->jgsum);
  free(ws->nmax);
  free(ws->nsum);
  free(ws->nshare);
  free(ws->cshare);
  free(ws->gsum);
  free(ws->zero_lanes);
  free(ws->sink_lanes);
  free(ws->bt);
  free(ws->alpha);
  free(ws->weight);
  free(ws->walpha);
  free(ws->share);
  free(ws->msum);
  free(ws->acc_dem);
  free(ws->acc_lam);
  free(ws->acc_gam);
  free(ws->dem);
  free(ws->lam);
  free(ws->gam);
  free(ws->markup);
  free(ws->next);
  free(ws->sel);
  free(ws->hist_f);
  free(ws->hist_g);
  free(ws->newton_idx);
  free(ws->sys);
  free(ws->pow_a);
  free(ws->pow_b);
  free(ws->newton_p);
  free(ws->newton_g);
  free(ws->cols);
  free(ws->ncols);
  free(ws->colmask);
  free(ws->pair_same);
  free(ws->order);
  free(ws->row_pat);
  free(ws->pat);
  free(ws->row_bits);
  free(ws->blk_bits);
  free(ws->ybuf);
  free(ws->ubuf);
  free(ws->acc_jac);
  free(ws->acc_same);
  free(ws->acc_diag);
  free(ws->jac_a);
  free(ws->jac_same);
  free(ws->jac_diag);
  if (ws->jac) gsl_matrix_free(ws->jac);
  if (ws->step) gsl_vector_free(ws->step);
  if (ws->perm) gsl_permutation_free(ws->perm);
  free(ws);
}

static int ws_fits(const moat_market_t *m, const moat_pricing_ws_t *ws) {
  return ws && m->n_rows <= ws->cap_rows && m->n_offers <= ws->cap_stride &&
         m->n_sellers <= ws->cap_sellers && m->n_offers <= m->stride;
}

/* One row's shares, row-major (the layout of moat_choice_shares). Uses the same operations in
 * the same order as block_shares, so both give bitwise the same shares. Inlined into the clones
 * of moat_choice_shares: outside them the exp's fma() is a libm call per element (measured: the
 * final shares of a step took 7.5 % of a path's time that way, 1.5 % before fma()). */
static KERNEL_INLINE void row_shares(const double *b, double alpha, const double *price, size_t n, double *s) {
  double mx = -INFINITY;
  for (size_t j = 0; j < n; j++) {
    s[j] = b[j] - alpha * price[j];
    mx = s[j] > mx ? s[j] : mx;
  }
  mx = mx == -INFINITY ? 0.0 : mx; /* all infeasible: exp(-inf - 0) = 0, not NaN */
  double sum = 0.0;
  for (size_t j = 0; j < n; j++) {
    s[j] = moat_fastexp_nonpos(s[j] - mx);
    sum += s[j];
  }
  double inv = sum > 0.0 ? 1.0 / sum : 0.0;
  for (size_t j = 0; j < n; j++) s[j] *= inv;
}

/* 1 if m has a nest with lambda < 1 (then the nested-logit code runs; otherwise plain logit). */
static int market_nested(const moat_market_t *m) {
  if (!m->nest || !m->lambda) return 0;
  for (size_t g = 0; g < m->n_nests; g++)
    if (m->lambda[g] < 1.0) return 1;
  return 0;
}

/* One row's nested-logit shares (MODEL.md §5), row-major: the same operations in the same order
 * as block_nested (offers ascending, nests ascending; a nest whose sum is exactly 1 has ln 0,
 * as lanes_logsum), so that moat_choice_shares gives bitwise the solver's shares. */
static KERNEL_INLINE void row_shares_nested(const moat_market_t *m, const double *b, double alpha,
                                            const double *price, double *s) {
  size_t n = m->n_offers, ng = m->n_nests;
  double nm[MOAT_MAX_NESTS], ns[MOAT_MAX_NESTS], lg[MOAT_MAX_NESTS];
  double lmax = -INFINITY, tot = 0.0;
  for (size_t g = 0; g < ng; g++) nm[g] = -INFINITY, ns[g] = 0.0;
  for (size_t j = 0; j < n; j++) {
    size_t g = (size_t)m->nest[j];
    s[j] = (b[j] - alpha * price[j]) * (1.0 / m->lambda[g]);
    nm[g] = s[j] > nm[g] ? s[j] : nm[g];
  }
  for (size_t g = 0; g < ng; g++) nm[g] = nm[g] == -INFINITY ? 0.0 : nm[g];
  for (size_t j = 0; j < n; j++) {
    size_t g = (size_t)m->nest[j];
    s[j] = moat_fastexp_nonpos(s[j] - nm[g]);
    ns[g] += s[j];
  }
  for (size_t g = 0; g < ng; g++) {
    double ln = ns[g] == 1.0 ? 0.0 : moat_fastlog_pos(ns[g] > 0.0 ? ns[g] : 1.0);
    lg[g] = ns[g] > 0.0 ? m->lambda[g] * (nm[g] + ln) : -INFINITY;
    lmax = lg[g] > lmax ? lg[g] : lmax;
  }
  lmax = lmax == -INFINITY ? 0.0 : lmax;
  for (size_t g = 0; g < ng; g++) {
    lg[g] = moat_fastexp_nonpos(lg[g] - lmax);
    tot += lg[g];
  }
  double inv = tot > 0.0 ? 1.0 / tot : 0.0;
  for (size_t g = 0; g < ng; g++) {
    lg[g] *= inv;
    ns[g] = ns[g] > 0.0 ? 1.0 / ns[g] : 0.0;
  }
  for (size_t j = 0; j < n; j++) s[j] = s[j] * ns[m->nest[j]] * lg[m->nest[j]];
}

MOAT_FASTEXP_CLONES void moat_choice_shares(const moat_market_t *m, const double *price,
                                            double *shares) {
  int nested = market_nested(m);
  for (size_t r = 0; r < m->n_rows; r++) {
    double *s = shares + r * m->stride;
    if (nested && m->n_nests > MOAT_MAX_NESTS) /* programming error (see pricing.h) */
      for (size_t j = 0; j < m->n_offers; j++) s[j] = NAN;
    else if (nested)
      row_shares_nested(m, m->base + r * m->stride, m->alpha[r], price, s);
    else
      row_shares(m->base + r * m->stride, m->alpha[r], price, m->n_offers, s);
    for (size_t j = m->n_offers; j < m->stride; j++) s[j] = 0.0;
  }
}

/* Row r's feasibility pattern into bits (pat_words words; bit j: base finite); returns 1 if
 * the row takes part in the market (weight > 0 and some offer feasible), else 0. */
static int row_pattern_bits(const moat_market_t *m, size_t nw, size_t r, uint64_t *bits) {
  const double *b = m->base + r * m->stride;
  uint64_t any = 0;
  for (size_t w = 0; w < nw; w++) {
    uint64_t word = 0; /* in a register: an |= into memory per offer made pack_rows 1.7x slower */
    size_t end = m->n_offers < 64 * w + 64 ? m->n_offers : 64 * w + 64;
    for (size_t j = 64 * w; j < end; j++) word |= (uint64_t)(b[j] > -INFINITY) << (j - 64 * w);
    bits[w] = word;
    any |= word;
  }
  return m->weight[r] > 0.0 && any != 0;
}

/* The index of pattern `bits` among the patterns seen so far (*n_pat of them); a new one is
 * added while fewer than MAX_PATTERNS are known; MAX_PATTERNS when it is neither. */
static size_t pattern_index(moat_pricing_ws_t *ws, const uint64_t *bits, size_t *n_pat) {
  size_t nw = ws->pat_words;
  for (size_t q = 0; q < *n_pat; q++) {
    const uint64_t *p = ws->pat + q * nw;
    size_t w = 0;
    while (w < nw && p[w] == bits[w]) w++;
    if (w == nw) return q;
  }
  if (*n_pat == MAX_PATTERNS) return MAX_PATTERNS;
  memcpy(ws->pat + *n_pat * nw, bits, nw * sizeof *bits);
  return (*n_pat)++;
}

/* ws->order: the active rows grouped by feasibility pattern, patterns in order of first
 * appearance (rows of none of the first MAX_PATTERNS last), rows in their original order
 * within a group (a stable counting sort); ws->row_bits: each row's pattern. Returns the
 * number of active rows. */
static size_t order_rows(const moat_market_t *m, moat_pricing_ws_t *ws) {
  size_t n_pat = 0, nw = ws->pat_words, *cnt = ws->pat_count;
  memset(cnt, 0, sizeof ws->pat_count);
  for (size_t r = 0; r < m->n_rows; r++) {
    uint64_t *bits = ws->row_bits + r * nw;
    size_t q = row_pattern_bits(m, nw, r, bits) ? pattern_index(ws, bits, &n_pat)
                                                : MAX_PATTERNS + 1;
    ws->row_pat[r] = q;
    if (q <= MAX_PATTERNS) cnt[q + 1]++;
  }
  for (size_t q = 1; q < MAX_PATTERNS + 2; q++) cnt[q] += cnt[q - 1]; /* cnt[q]: start of q */
  size_t n = cnt[MAX_PATTERNS + 1];
  for (size_t r = 0; r < m->n_rows; r++)
    if (ws->row_pat[r] <= MAX_PATTERNS) ws->order[cnt[ws->row_pat[r]]++] = r;
  return n;
}

/* Block blk's list of offers (cols, ncols, colmask) from the union of its rows' patterns. */
static void block_columns(moat_pricing_ws_t *ws, size_t nj, size_t blk, const uint64_t *bits) {
  size_t cs = ws->cap_stride, c = 0;
  unsigned char *mask = ws->colmask + blk * cs;
  for (size_t j = 0; j < nj; j++) {
    mask[j] = (unsigned char)((bits[j / 64] >> (j % 64)) & 1);
    if (mask[j]) ws->cols[blk * cs + c++] = j;
  }
  ws->ncols[blk] = c;
  ws->pair_same[blk] = 0;
  if (blk > 0) ws->pair_same[blk - 1] = memcmp(mask - cs, mask, nj) == 0;
}

/* Copy the active rows, in the order of order_rows, into LANES-row, offer-major blocks, and
 * record each block's list of offers finite in some of its rows. */
static void pack_rows(const moat_market_t *m, moat_pricing_ws_t *ws) {
  size_t nj = m->n_offers, nw = ws->pat_words, n = order_rows(m, ws), k;
  ws->n_blocks = (n + LANES - 1) / LANES;
  for (k = 0; k < n; k++) {
    size_t r = ws->order[k], blk = k / LANES, l = k % LANES;
    double *bt = ws->bt + blk * nj * LANES + l;
    const double *b = m->base + r * m->stride;
    for (size_t j = 0; j < nj; j++) bt[j * LANES] = b[j];
    ws->alpha[k] = m->alpha[r];
    ws->weight[k] = m->weight[r];
    ws->walpha[k] = m->weight[r] * m->alpha[r];
    const uint64_t *bits = ws->row_bits + r * nw;
    for (size_t w = 0; w < nw; w++) ws->blk_bits[w] = (l == 0 ? 0 : ws->blk_bits[w]) | bits[w];
    if (l + 1 == LANES || k + 1 == n) block_columns(ws, nj, blk, ws->blk_bits);
  }
  for (; k < ws->n_blocks * LANES; k++) { /* padding lanes: no feasible offer, no weight */
    size_t blk = k / LANES, l = k % LANES;
    for (size_t j = 0; j < nj; j++) ws->bt[(blk * nj + j) * LANES + l] = -INFINITY;
    ws->alpha[k] = ws->weight[k] = ws->walpha[k] = 0.0;
  }
}

/* Utilities of one block over its nc offers cols, share[j][l] = u = b - alpha p_j, and their
 * row maxima mx[l] (0 for a row with nothing feasible, so that exp(-inf - 0) = 0, not NaN). */
static KERNEL_INLINE void block_utilities(size_t nc, const size_t *restrict cols,
                                          const double *restrict bt,
                                          const double *restrict alpha,
                                          const double *restrict price, double *restrict share,
                                          double *restrict mx) {
  for (size_t l = 0; l < LANES; l++) mx[l] = -INFINITY;
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    double *s = share + j * LANES;
    const double *b = bt + j * LANES;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) {
      s[l] = b[l] - alpha[l] * price[j];
      mx[l] = s[l] > mx[l] ? s[l] : mx[l];
    }
  }
  for (size_t l = 0; l < LANES; l++) mx[l] = mx[l] == -INFINITY ? 0.0 : mx[l];
}

/* sum[l] (1 / sum[l] afterwards, 0 for a row with nothing feasible) from the exponentials. */
static KERNEL_INLINE void lanes_invert(double *restrict sum) {
  for (size_t l = 0; l < LANES; l++) sum[l] = sum[l] > 0.0 ? 1.0 / sum[l] : 0.0;
}

/* Shares of one block before normalization, share[j][l] = exp(u - max), and inv[l] = 1 / their
 * sum over j, computed as row_shares does for each lane; block_accumulate multiplies them by
 * inv. (moat_choice_demand; the zeta pass uses block_exp.) */
static KERNEL_INLINE void block_shares(size_t nc, const size_t *restrict cols,
                                       const double *restrict bt,
                                       const double *restrict alpha,
                                       const double *restrict price, double *restrict share,
                                       double *restrict sum) {
  double mx[LANES];
  block_utilities(nc, cols, bt, alpha, price, share, mx);
  for (size_t l = 0; l < LANES; l++) sum[l] = 0.0;
  for (size_t c = 0; c < nc; c++) {
    double *s = share + cols[c] * LANES;
    for (size_t l = 0; l < LANES; l++) {
      s[l] = moat_fastexp_nonpos(s[l] - mx[l]);
      sum[l] += s[l];
    }
  }
  lanes_invert(sum);
}

/* One offer's lanes: e = exp(u - mx) in place of u, sum += e, ms += e mu. A function of its own
 * so that the pointers are restrict parameters: written inline, GCC could not rule out that ms
 * (a seller's row, chosen at run time) overlaps the others and left the loop scalar. */
static KERNEL_INLINE void lanes_exp_msum(double *restrict s, const double *restrict mx,
                                         double *restrict sum, double *restrict ms, double mu) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    s[l] = moat_fastexp_nonpos(s[l] - mx[l]);
    sum[l] += s[l];
    ms[l] += s[l] * mu;
  }
}

/* One offer's lanes: t = e inv (the share), dem += w t, lam += wa t, gam += wa t ms (ms the
 * normalized markup sum of the offer's seller); the share is stored only with store_share. */
static KERNEL_INLINE void lanes_accumulate(double *restrict s, const double *restrict inv,
                                           const double *restrict w, const double *restrict wa,
                                           const double *restrict ms, double *restrict dem,
                                           double *restrict lam, double *restrict gam,
                                           int store_share) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    double t = s[l] * inv[l];
    dem[l] += w[l] * t;
    lam[l] += wa[l] * t;
    gam[l] += wa[l] * t * ms[l];
    if (store_share) s[l] = t;
  }
}

/* lanes_accumulate for two blocks at once (a, then b): each accumulator is read and written
 * once for both, with the same operations in the same order as two calls in turn, so the sums
 * are bitwise the same. */
static KERNEL_INLINE void lanes_accumulate2(double *restrict sa, double *restrict sb,
                                            const double *restrict inva,
                                            const double *restrict invb,
                                            const double *restrict wa, const double *restrict wb,
                                            const double *restrict waa,
                                            const double *restrict wab,
                                            const double *restrict msa,
                                            const double *restrict msb, double *restrict dem,
                                            double *restrict lam, double *restrict gam,
                                            int store_share) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    double ta = sa[l] * inva[l], tb = sb[l] * invb[l];
    dem[l] = (dem[l] + wa[l] * ta) + wb[l] * tb;
    lam[l] = (lam[l] + waa[l] * ta) + wab[l] * tb;
    gam[l] = (gam[l] + waa[l] * ta * msa[l]) + wab[l] * tb * msb[l];
    if (store_share) sa[l] = ta, sb[l] = tb;
  }
}

/* The first part of a block of the zeta pass: exponentials into share and, in the same loop,
 * the sellers' markup sums sum_{k in f} e_rk (p_k - c_k) into msum (from ws->markup and
 * ws->sel); then inv = 1 / sum of exponentials and the markup sums normalized
 * (M_rf = sum_{k in f} s_rk m_k). */
static KERNEL_INLINE void block_exp(const moat_market_t *m, moat_pricing_ws_t *ws, size_t blk,
                                    const double *restrict price, double *restrict share,
                                    double *restrict msum, double *restrict inv) {
  size_t nj = m->n_offers, nf = m->n_sellers + 1, nc = ws->ncols[blk];
  const size_t *cols = ws->cols + blk * ws->cap_stride;
  double mx[LANES];
  block_utilities(nc, cols, ws->bt + blk * nj * LANES, ws->alpha + blk * LANES, price, share,
                  mx);
  memset(msum, 0, nf * LANES * sizeof *msum);
  for (size_t l = 0; l < LANES; l++) inv[l] = 0.0;
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    lanes_exp_msum(share + j * LANES, mx, inv, msum + ws->sel[j] * LANES, ws->markup[j]);
  }
  lanes_invert(inv);
  for (size_t f = 0; f < nf; f++) {
    double *ms = msum + f * LANES;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) ms[l] *= inv[l];
  }
}

/*
 * The zeta pass over blocks blk and, with pair, blk + 1 (only when both have the same list of
 * offers, pair_same), over the offers of that list: block_exp for each, then W s, W alpha s
 * and W alpha s M_{r,f(j)} added to the per-lane sums in one loop over the offers, with the
 * shares normalized on the fly; they are stored (ws->share, the second block's cap_stride
 * offers further on) only with_jac, for block_jacobian. Two blocks share that loop so that the
 * three accumulators are read and written once for both: the rest of the pass costs about as
 * much as the exponentials, and the accumulators' loads and stores were a third of it.
 * (Before: the normalization, the markup sums and the three weighted sums took two loops over
 * each block after the exponentials; the normalized shares were stored and read back.)
 */
static KERNEL_INLINE void blocks_zeta(const moat_market_t *m, moat_pricing_ws_t *ws, size_t blk,
                                      int pair, const double *restrict price, int with_jac) {
  size_t nc = ws->ncols[blk], so = ws->cap_stride * LANES, mo = (m->n_sellers + 1) * LANES;
  const size_t *cols = ws->cols + blk * ws->cap_stride; /* the same for blk + 1 with pair */
  double *restrict sa = ws->share, *restrict sb = ws->share + so;
  double *restrict ma = ws->msum, *restrict mb = ws->msum + mo;
  const double *restrict wa = ws->weight + blk * LANES, *restrict waa = ws->walpha + blk * LANES;
  double inva[LANES], invb[LANES];
  block_exp(m, ws, blk, price, sa, ma, inva);
  if (pair) block_exp(m, ws, blk + 1, price, sb, mb, invb);
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    double *dem = ws->acc_dem + j * LANES, *lam = ws->acc_lam + j * LANES;
    double *gam = ws->acc_gam + j * LANES;
    double *s = sa + j * LANES, *t = sb + j * LANES;
    const double *msa = ma + ws->sel[j] * LANES, *msb = mb + ws->sel[j] * LANES;
    if (pair && with_jac)
      lanes_accumulate2(s, t, inva, invb, wa, wa + LANES, waa, waa + LANES, msa, msb, dem, lam,
                        gam, 1);
    else if (pair)
      lanes_accumulate2(s, t, inva, invb, wa, wa + LANES, waa, waa + LANES, msa, msb, dem, lam,
                        gam, 0);
    else if (with_jac)
      lanes_accumulate(s, inva, wa, waa, msa, dem, lam, gam, 1);
    else
      lanes_accumulate(s, inva, wa, waa, msa, dem, lam, gam, 0);
  }
}

/* Normalize one block's shares (s *= inv, inv = 1 / sum of exponentials from block_shares) and
 * add its W s and W alpha s to the per-lane sums (moat_choice_demand). */
static KERNEL_INLINE void block_accumulate(moat_pricing_ws_t *ws, size_t blk, const double *restrict inv) {
  const size_t *cols = ws->cols + blk * ws->cap_stride;
  const double *restrict w = ws->weight + blk * LANES;
  const double *restrict wa = ws->walpha + blk * LANES;
  for (size_t c = 0; c < ws->ncols[blk]; c++) {
    size_t j = cols[c];
    double *s = ws->share + j * LANES;
    double *dem = ws->acc_dem + j * LANES, *lam = ws->acc_lam + j * LANES;
    for (size_t l = 0; l < LANES; l++) {
      s[l] *= inv[l];
      dem[l] += w[l] * s[l];
      lam[l] += wa[l] * s[l];
    }
  }
}

/*
 * Jacobian of the first-order conditions, for the Newton phase (see newton_step). With
 * m_k = p_k - c_k, M_rf = sum_{k in J_f} s_rk m_k and FOC_j = S_j - Lambda_j m_j
 * + sum_r W_r alpha_r s_rj M_{r,f(j)} (= Lambda_j (g_j(p) - p_j), MODEL.md §6), the logit
 * derivatives ds_rk/dp_i = -alpha_r s_rk (delta_ki - s_ri) give
 *   dFOC_j/dp_i = delta_ij (D_j - 2 Lambda_j) + A_ij + [f(i) = f(j)] B_ij,
 *   A_ij = sum_r W_r alpha_r s_ri y_rj,   y_rj = s_rj (1 - alpha_r (m_j - 2 M_{r,f(j)})),
 *   B_ij = sum_r W_r alpha_r s_ri s_rj (1 - alpha_r m_i),
 *   D_j  = sum_r W_r alpha_r^2 s_rj (m_j - M_{r,f(j)}).
 * (tests/test_pricing.c checks it against central differences of the FOC.) The sums are
 * kept per lane, as in block_accumulate, over the n_newton priced offers only.
 */
static KERNEL_INLINE void lanes_uy(const double *restrict s, const double *restrict wa,
                                   const double *restrict alpha, const double *restrict ms,
                                   double mj, double *restrict u, double *restrict y,
                                   double *restrict diag) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    double d = mj - ms[l];
    u[l] = wa[l] * s[l];
    y[l] = s[l] * (1.0 - alpha[l] * (d - ms[l]));
    diag[l] += u[l] * alpha[l] * d;
  }
}

/* acc += sum over the ng blocks of a group of u y (slots `pitch` doubles apart), in slot order. */
static KERNEL_INLINE void lanes_outer(double *restrict acc, const double *restrict u,
                                      const double *restrict y, size_t ng, size_t pitch) {
  double t[LANES];
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) t[l] = u[l] * y[l];
  for (size_t g = 1; g < ng; g++) {
    const double *ug = u + g * pitch, *yg = y + g * pitch;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) t[l] += ug[l] * yg[l];
  }
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) acc[l] += t[l];
}

static KERNEL_INLINE void lanes_same(double *restrict acc, const double *restrict u,
                                     const double *restrict s, const double *restrict alpha,
                                     double mi) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) acc[l] += u[l] * s[l] * (1.0 - alpha[l] * mi);
}

/* Add one block's terms of A, B and D (after block_accumulate: normalized shares, markup sums).
 * The terms of A (every pair of offers) are added JAC_GROUP blocks at a time from the u and y
 * kept for the group: one pass over the accumulators per group instead of per block (they do
 * not fit in L1; the Jacobian pass cost about 3 ordinary passes that way, measured with
 * bench_run). Offers outside the block's list (colmask) have shares 0 there: their u and y
 * are set to 0 and their other terms skipped. */
static KERNEL_INLINE void block_jacobian(moat_pricing_ws_t *ws, size_t blk,
                                         const double *restrict share,
                                         const double *restrict msum) {
  size_t n = ws->n_newton, slot = blk % JAC_GROUP, pitch = ws->cap_stride * LANES;
  const double *restrict alpha = ws->alpha + blk * LANES;
  const double *restrict wa = ws->walpha + blk * LANES;
  const size_t *idx = ws->newton_idx;
  double *ubuf = ws->ubuf + slot * pitch, *ybuf = ws->ybuf + slot * pitch;
  const unsigned char *mask = ws->colmask + blk * ws->cap_stride;
  for (size_t a = 0; a < n; a++) {
    size_t i = idx[a];
    if (!mask[i]) { /* no share of offer i in this block: u = y = 0, nothing else */
      memset(ubuf + a * LANES, 0, LANES * sizeof *ubuf);
      memset(ybuf + a * LANES, 0, LANES * sizeof *ybuf);
      continue;
    }
    lanes_uy(share + i * LANES, wa, alpha, msum + ws->sel[i] * LANES, ws->markup[i],
             ubuf + a * LANES, ybuf + a * LANES, ws->acc_diag + a * LANES);
  }
  for (size_t a = 0; a < n; a++) {
    size_t i = idx[a];
    if (!mask[i]) continue;
    for (size_t b = 0; b < n; b++)
      if (mask[idx[b]] && ws->sel[i] == ws->sel[idx[b]])
        lanes_same(ws->acc_same + (a * n + b) * LANES, ubuf + a * LANES,
                   share + idx[b] * LANES, alpha, ws->markup[i]);
  }
  if (slot + 1 < JAC_GROUP && blk + 1 < ws->n_blocks) return;
  for (size_t a = 0; a < n; a++)
    for (size_t b = 0; b < n; b++)
      lanes_outer(ws->acc_jac + (a * n + b) * LANES, ws->ubuf + a * LANES, ws->ybuf + b * LANES,
                  slot + 1, pitch);
}

/* Lane sums, in lane order, into out[j]. */
static void reduce_lanes(size_t nj, const double *acc, double *out) {
  for (size_t j = 0; j < nj; j++) {
    double t = 0.0;
    for (size_t l = 0; l < LANES; l++) t += acc[j * LANES + l];
    out[j] = t;
  }
}

/*
 * Nests (MODEL.md §5-§6). When some lambda_g < 1 (host_similarity > 0) the passes below replace
 * blocks_zeta and block_jacobian; with every lambda_g = 1 they never run, and the plain-logit
 * code above gives version 1's results bit for bit. Per block, with V = u = b - alpha p:
 *   block_nested: each nest's maximum of V/lambda (0 if none), e_j = exp(V_j/lambda - max),
 *     I'_g = sum_{j in g} e_j in [1, n_g] (or 0), the log-sums L_g = lambda_g (max + ln I'_g)
 *     shifted by their row maximum, s_g = exp(L_g - max L) / sum_h exp(L_h - max L),
 *     s_j|g = e_j / I'_g and s_j = s_j|g s_g: stable for any lambda (no exp of a positive
 *     number). ln is moat_fastlog_pos (a few per row: one per nest and lane).
 *   The zeta map's sums (MODEL.md §6): Lambda_j = sum W alpha s_j / lambda_g and
 *     sum_{k in J_f} Gamma_kj m_k = sum W alpha s_j (M_{r,f} + kappa_g N_{r,f,g}) with
 *     M_{r,f} = sum_{k in J_f} s_rk m_k, N_{r,f,g} = sum_{k in J_f, g(k) = g} s_rk|g m_k and
 *     kappa_g = (1 - lambda_g)/lambda_g (since s_k s_j / s_g = s_k|g s_j): one markup sum per
 *     seller and one per (seller, nest) group, so a pass costs O(rows x offers) as before.
 */

/* Per-call tables of the nests: lambda, 1/lambda, kappa per offer, (seller, nest) groups. Returns
 * 0, or -1 if the nests are not valid (a nest index out of range, n_nests > n_offers or > the
 * workspace, a lambda outside (0, 1]). ws->nested = 1 if some lambda < 1. */
static int nest_setup(const moat_market_t *m, moat_pricing_ws_t *ws) {
  size_t nj = m->n_offers, ng = m->n_nests;
  ws->nested = 0;
  if (!m->nest) return 0;
  if (!m->lambda || ng > nj || ng > ws->cap_stride || ng > MOAT_MAX_NESTS) return -1;
  for (size_t g = 0; g < ng; g++) {
    double l = m->lambda[g];
    if (!(l > 0.0 && l <= 1.0)) return -1;
    ws->nest_lam[g] = l;
    ws->nest_inv[g] = 1.0 / l;
  }
  memset(ws->nest_single, 0, ng);
  for (size_t j = 0; j < nj; j++) {
    if (m->nest[j] < 0 || (size_t)m->nest[j] >= ng) return -1;
    ws->nest_single[m->nest[j]]++; /* counts up to 2 are enough */
    ws->nest_single[m->nest[j]] = ws->nest_single[m->nest[j]] > 2 ? 2 : ws->nest_single[m->nest[j]];
  }
  for (size_t g = 0; g < ng; g++) ws->nest_single[g] = ws->nest_single[g] == 1;
  ws->nested = market_nested(m);
  ws->n_nests = ng;
  ws->n_grp = 0;
  for (size_t j = 0; j < nj; j++) {
    size_t g = (size_t)m->nest[j], k = 0;
    ws->inv_lam[j] = ws->nest_inv[g];
    ws->kap[j] = (1.0 - ws->nest_lam[g]) / ws->nest_lam[g];
    while (k < j && !(m->seller[k] == m->seller[j] && m->nest[k] == m->nest[j])) k++;
    if (!(ws->nest_lam[g] < 1.0)) /* kappa = 0: N never enters (no group, no sums) */
      ws->grp[j] = SIZE_MAX;
    else
      ws->grp[j] = k < j ? ws->grp[k] : ws->n_grp++;
  }
  return 0;
}

/* The markup sums N of offer j's group in the current block (zeros if j is in no group). */
static KERNEL_INLINE const double *group_lanes(const moat_pricing_ws_t *ws, size_t j) {
  return ws->grp[j] == SIZE_MAX ? ws->zero_lanes : ws->gsum + ws->grp[j] * LANES;
}

/* ws->grp_cross over the Newton system's offers (after newton_idx is set). */
static void nest_cross_groups(const moat_market_t *m, moat_pricing_ws_t *ws) {
  size_t n = ws->n_newton, nj = m->n_offers;
  for (size_t a = 0; a < n; a++)
    for (size_t b = 0; b < n; b++) {
      size_t i = ws->newton_idx[a], j = ws->newton_idx[b], k = 0;
      while (k < nj && !(m->seller[k] == m->seller[j] && m->nest[k] == m->nest[i])) k++;
      ws->grp_cross[a * n + b] = k < nj ? ws->grp[k] : SIZE_MAX;
      ws->pair_kind[a * n + b] =
          (unsigned char)((m->nest[i] == m->nest[j] ? JP_NEST : 0) |
                          (m->seller[i] == m->seller[j] ? JP_SELLER : 0) |
                          (k < nj && ws->kap[i] != 0.0 ? JP_CROSS : 0) | (a == b ? JP_DIAG : 0));
    }
}

/* v = V / lambda = (b - alpha p) / lambda and the nest's running maximum of it (one offer). */
static KERNEL_INLINE void lanes_scale_max(const double *restrict b, const double *restrict alpha,
                                          double p, double il, double *restrict v,
                                          double *restrict nm) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    v[l] = (b[l] - alpha[l] * p) * il;
    nm[l] = v[l] > nm[l] ? v[l] : nm[l];
  }
}

/* e = exp(v - max) in place of v, and the nest's sum of them. */
static KERNEL_INLINE void lanes_exp_sum(double *restrict v, const double *restrict nm,
                                        double *restrict ns) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    v[l] = moat_fastexp_nonpos(v[l] - nm[l]);
    ns[l] += v[l];
  }
}

/* The nest's log-sum L = lambda (max + ln I') (-INFINITY where I' = 0) and the running row
 * maximum of L. A nest of one offer has I' in {0, 1}: its ln is 0 exactly, as fastlog gives, so
 * it is left out (most nests are single offers; the log is most of this pass's arithmetic). */
static KERNEL_INLINE void lanes_logsum(const double *restrict nm, const double *restrict ns,
                                       double lam, int single, double *restrict lg,
                                       double *restrict lmax) {
  if (single) {
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) { /* != 0: I' >= 0, and a quiet compare vectorizes */
      double v = lam * (nm[l] + 0.0);
      lg[l] = ns[l] != 0.0 ? v : -INFINITY;
    }
  } else {
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) {
      double x = ns[l] != 0.0 ? ns[l] : 1.0;
      double v = lam * (nm[l] + moat_fastlog_pos(x));
      lg[l] = ns[l] != 0.0 ? v : -INFINITY;
    }
  }
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) lmax[l] = lg[l] > lmax[l] ? lg[l] : lmax[l];
}

/* lanes_exp_sum for the only offer of a nest: e = 1 where feasible, else 0 (bitwise the same). */
static KERNEL_INLINE void lanes_one_sum(double *restrict v, double *restrict ns) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    v[l] = v[l] > -INFINITY ? 1.0 : 0.0;
    ns[l] += v[l];
  }
}

/* s_j|g = e inv_I and s_j = s_j|g s_g. */
static KERNEL_INLINE void lanes_nest_share(double *restrict cs, double *restrict s,
                                           const double *restrict inv_i,
                                           const double *restrict sg) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    cs[l] = cs[l] * inv_i[l];
    s[l] = cs[l] * sg[l];
  }
}

/* lanes_nest_share, and in the same loop the seller's and the group's markup sums:
 * ms += s mu, gs += s|g mu. */
static KERNEL_INLINE void lanes_nest_share_sums(double *restrict cs, double *restrict s,
                                                const double *restrict inv_i,
                                                const double *restrict sg, double mu,
                                                double *restrict ms, double *restrict gs) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    cs[l] = cs[l] * inv_i[l];
    s[l] = cs[l] * sg[l];
    ms[l] += s[l] * mu;
    gs[l] += cs[l] * mu;
  }
}

/* Nested-logit shares of block blk over its offers: share[j][l] = s_j, cs[j][l] = s_j|g (see
 * "Nests"); other offers' entries are not written. ws->nshare holds s_g afterwards. With
 * with_sums, the markup sums M (ws->msum, per seller) and N (ws->gsum, per group) are added up
 * in the same loop as the shares (the caller zeroes them). */
static KERNEL_INLINE void block_nested(const moat_market_t *m, moat_pricing_ws_t *ws, size_t blk,
                                       const double *restrict price, double *restrict share,
                                       double *restrict cs, int with_sums) {
  size_t nj = m->n_offers, nc = ws->ncols[blk], ng = ws->n_nests;
  const size_t *cols = ws->cols + blk * ws->cap_stride;
  const double *bt = ws->bt + blk * nj * LANES, *alpha = ws->alpha + blk * LANES;
  double *restrict nmax = ws->nmax, *restrict nsum = ws->nsum, *restrict nsh = ws->nshare;
  double lmax[LANES], tot[LANES];
  for (size_t i = 0; i < ng * LANES; i++) nmax[i] = -INFINITY, nsum[i] = 0.0;
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    lanes_scale_max(bt + j * LANES, alpha, price[j], ws->inv_lam[j], cs + j * LANES,
                    nmax + (size_t)m->nest[j] * LANES);
  }
  for (size_t i = 0; i < ng * LANES; i++) nmax[i] = nmax[i] == -INFINITY ? 0.0 : nmax[i];
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c], g = (size_t)m->nest[j];
    if (ws->nest_single[g]) /* V/lambda is the nest's maximum: exp(0) = 1 exactly, or 0 */
      lanes_one_sum(cs + j * LANES, nsum + g * LANES);
    else
      lanes_exp_sum(cs + j * LANES, nmax + g * LANES, nsum + g * LANES);
  }
  for (size_t l = 0; l < LANES; l++) lmax[l] = -INFINITY, tot[l] = 0.0;
  for (size_t g = 0; g < ng; g++)
    lanes_logsum(nmax + g * LANES, nsum + g * LANES, ws->nest_lam[g], ws->nest_single[g],
                 nsh + g * LANES, lmax);
  for (size_t l = 0; l < LANES; l++) lmax[l] = lmax[l] == -INFINITY ? 0.0 : lmax[l];
  for (size_t g = 0; g < ng; g++) {
    double *lg = nsh + g * LANES;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) {
      lg[l] = moat_fastexp_nonpos(lg[l] - lmax[l]);
      tot[l] += lg[l];
    }
  }
  lanes_invert(tot);
  for (size_t g = 0; g < ng; g++) {
    double *lg = nsh + g * LANES, *ns = nsum + g * LANES;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) lg[l] *= tot[l];
    if (!ws->nest_single[g]) /* else I' is 0 or 1, its own inverse as below */
#pragma GCC unroll 1 /* see UNROLL */
      for (size_t l = 0; l < LANES; l++) {
        double inv = 1.0 / ns[l];
        ns[l] = ns[l] != 0.0 ? inv : 0.0;
      }
  }
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c], g = (size_t)m->nest[j];
    if (with_sums)
      lanes_nest_share_sums(cs + j * LANES, share + j * LANES, nsum + g * LANES,
                            nsh + g * LANES, ws->markup[j], ws->msum + ws->sel[j] * LANES,
                            ws->grp[j] == SIZE_MAX ? ws->sink_lanes : ws->gsum + ws->grp[j] * LANES);
    else
      lanes_nest_share(cs + j * LANES, share + j * LANES, nsum + g * LANES, nsh + g * LANES);
  }
}

/* dem += W s, lam += W alpha s / lambda, and (with ms) gam += W alpha s (M + kappa N). */
static KERNEL_INLINE void lanes_accumulate_nested(const double *restrict s,
                                                  const double *restrict w,
                                                  const double *restrict wa, double il,
                                                  double kap, const double *restrict ms,
                                                  const double *restrict gs,
                                                  double *restrict dem, double *restrict lam,
                                                  double *restrict gam) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    double t = s[l];
    dem[l] += w[l] * t;
    lam[l] += wa[l] * t * il;
    gam[l] += wa[l] * t * (ms[l] + kap * gs[l]);
  }
}

/* The zeta pass over block blk, nested: shares into ws->share and ws->cshare, the markup sums
 * into ws->msum (per seller) and ws->gsum (per group) when with_gamma, then the sums of S,
 * Lambda and (with_gamma) Gamma m. */
static KERNEL_INLINE void block_zeta_nested(const moat_market_t *m, moat_pricing_ws_t *ws,
                                            size_t blk, const double *restrict price,
                                            int with_gamma) {
  size_t nc = ws->ncols[blk], nf = m->n_sellers + 1;
  const size_t *cols = ws->cols + blk * ws->cap_stride;
  const double *w = ws->weight + blk * LANES, *wa = ws->walpha + blk * LANES;
  double *share = ws->share, *cs = ws->cshare;
  if (with_gamma) {
    memset(ws->msum, 0, nf * LANES * sizeof *ws->msum);
    memset(ws->gsum, 0, ws->n_grp * LANES * sizeof *ws->gsum);
  }
  block_nested(m, ws, blk, price, share, cs, with_gamma);
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    const double *ms = with_gamma ? ws->msum + ws->sel[j] * LANES : ws->zero_lanes;
    const double *gs = with_gamma ? group_lanes(ws, j) : ws->zero_lanes;
    lanes_accumulate_nested(share + j * LANES, w, wa, ws->inv_lam[j], ws->kap[j], ms, gs,
                            ws->acc_dem + j * LANES, ws->acc_lam + j * LANES,
                            ws->acc_gam + j * LANES);
  }
}

/*
 * Jacobian of the first-order conditions, nested (for the Newton phase; block_jacobian is the
 * plain-logit case). Per row (W, alpha, shares s, s|g, markups m, M = M_{r,f(j)},
 * N = N_{r,f(j),g(j)}), FOC_j = sum_r W s_j psi_j with psi_j = 1 - alpha m_j/lambda_j + alpha M
 * + alpha kappa_j N, and the nested-logit derivatives
 *   ds_k/dp_i = -alpha s_k (delta_ki/lambda - kappa [g(i) = g(k)] s_i|g - s_i),
 *   ds_k|g/dp_i = -(alpha/lambda) s_k|g (delta_ki - [i in g] s_i|g)
 * give, with C_j = W alpha s_j, h = g(i), f = f(j), g = g(j), t_i = 1 - alpha m_i/lambda_i:
 *   dFOC_j/dp_i = sum_r [ C_j (psi_j + alpha M) s_i + [h = g] C_j kappa_j (psi_j
 *     + alpha N/lambda_j) s_i|g + [f(i) = f] C_j s_i t_i + [f(i) = f, h = g] C_j kappa_j s_i|g t_i
 *     + C_j alpha kappa_h s_i N_{r,f,h} - [i = j] C_j (psi_j + 1)/lambda_j ].
 * (tests/test_nested.c checks it against central differences of a slow FOC.) O(offers^2) a row,
 * like block_jacobian; the whole dFOC_j/dp_i goes into acc_jac[i][j].
 */
static KERNEL_INLINE void lanes_jac_terms(const double *restrict s, const double *restrict cs,
                                          const double *restrict alpha,
                                          const double *restrict wa, const double *restrict ms,
                                          const double *restrict gs, double mi, double il,
                                          double kap, double *restrict out, size_t pitch) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    double am = alpha[l] * mi * il, c = wa[l] * s[l], t = 1.0 - am;
    double psi = 1.0 - am + alpha[l] * ms[l] + alpha[l] * kap * gs[l];
    out[NJ_S * pitch + l] = s[l];
    out[NJ_SC * pitch + l] = cs[l];
    out[NJ_ST * pitch + l] = s[l] * t;
    out[NJ_SCT * pitch + l] = cs[l] * t;
    out[NJ_X * pitch + l] = alpha[l] * kap * s[l];
    out[NJ_A * pitch + l] = c * (psi + alpha[l] * ms[l]);
    out[NJ_B * pitch + l] = c * kap * (psi + alpha[l] * gs[l] * il);
    out[NJ_C * pitch + l] = c;
    out[NJ_CK * pitch + l] = c * kap;
    out[NJ_D * pitch + l] = c * (psi + 1.0) * il;
  }
}

/* acc += the dFOC_j/dp_i of a group of ng blocks (see above); vi, vj: the NJ_ terms of offers i
 * and j in the group's first block (blocks tpitch apart, terms pitch apart), ncross: the group
 * sums N_{f(j),g(i)} of the first block (gpitch apart) when kind has JP_CROSS; kind: the JP_
 * terms the pair has (most pairs have only the first). */
static KERNEL_INLINE void lanes_jac_pair(double *restrict acc, const double *restrict vi,
                                         const double *restrict vj,
                                         const double *restrict ncross, size_t pitch,
                                         size_t tpitch, size_t gpitch, size_t ng,
                                         unsigned kind) {
  double t[LANES];
  for (size_t l = 0; l < LANES; l++) t[l] = 0.0;
  for (size_t g = 0; g < ng; g++) {
    const double *bi = vi + g * tpitch, *bj = vj + g * tpitch;
    const double *si = bi + NJ_S * pitch, *aj = bj + NJ_A * pitch, *cj = bj + NJ_C * pitch;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) t[l] += aj[l] * si[l];
    if (kind & JP_NEST) {
      const double *b2 = bj + NJ_B * pitch, *sci = bi + NJ_SC * pitch;
#pragma GCC unroll 1 /* see UNROLL */
      for (size_t l = 0; l < LANES; l++) t[l] += b2[l] * sci[l];
    }
    if (kind & JP_SELLER) {
      const double *sti = bi + NJ_ST * pitch;
#pragma GCC unroll 1 /* see UNROLL */
      for (size_t l = 0; l < LANES; l++) t[l] += cj[l] * sti[l];
    }
    if ((kind & (JP_NEST | JP_SELLER)) == (JP_NEST | JP_SELLER)) {
      const double *ckj = bj + NJ_CK * pitch, *scti = bi + NJ_SCT * pitch;
#pragma GCC unroll 1 /* see UNROLL */
      for (size_t l = 0; l < LANES; l++) t[l] += ckj[l] * scti[l];
    }
    if (kind & JP_CROSS) {
      const double *xi = bi + NJ_X * pitch, *nc = ncross + g * gpitch;
#pragma GCC unroll 1 /* see UNROLL */
      for (size_t l = 0; l < LANES; l++) t[l] += cj[l] * xi[l] * nc[l];
    }
    if (kind & JP_DIAG) {
      const double *dj = bj + NJ_D * pitch;
#pragma GCC unroll 1 /* see UNROLL */
      for (size_t l = 0; l < LANES; l++) t[l] -= dj[l];
    }
  }
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) acc[l] += t[l];
}

/* Add one block's Jacobian terms: the per-offer terms of the block are kept (slot blk %
 * JAC_GROUP, as block_jacobian does), and every JAC_GROUP blocks, or at the last, the pairs are
 * added up over the group and into the accumulators once: one pass over the n^2 accumulators
 * per group instead of per block (a Jacobian pass cost about 4 zeta passes that way before). */
static KERNEL_INLINE void block_jacobian_nested(moat_pricing_ws_t *ws, size_t blk) {
  size_t n = ws->n_newton, pitch = n * LANES, tpitch = NJ_COUNT * pitch;
  size_t gpitch = ws->n_grp * LANES, slot = blk % JAC_GROUP;
  const double *restrict alpha = ws->alpha + blk * LANES;
  const double *restrict wa = ws->walpha + blk * LANES;
  const size_t *idx = ws->newton_idx;
  const unsigned char *mask = ws->colmask + blk * ws->cap_stride;
  double *terms = ws->jterms + slot * tpitch; /* [NJ_COUNT][n][lane] */
  for (size_t a = 0; a < n; a++) {
    size_t i = idx[a];
    if (!mask[i]) { /* no share of offer i in this block: every term 0 */
      for (size_t k = 0; k < NJ_COUNT; k++)
        memset(terms + k * pitch + a * LANES, 0, LANES * sizeof *terms);
      continue;
    }
    lanes_jac_terms(ws->share + i * LANES, ws->cshare + i * LANES, alpha, wa,
                    ws->msum + ws->sel[i] * LANES, group_lanes(ws, i), ws->markup[i],
                    ws->inv_lam[i], ws->kap[i], terms + a * LANES, pitch);
  }
  memcpy(ws->jgsum + slot * gpitch, ws->gsum, gpitch * sizeof *ws->gsum);
  if (slot + 1 < JAC_GROUP && blk + 1 < ws->n_blocks) return;
  for (size_t a = 0; a < n; a++)
    for (size_t b = 0; b < n; b++) {
      size_t gc = ws->grp_cross[a * n + b];
      unsigned kind = ws->pair_kind[a * n + b];
      lanes_jac_pair(ws->acc_jac + (a * n + b) * LANES, ws->jterms + a * LANES,
                     ws->jterms + b * LANES,
                     (kind & JP_CROSS) ? ws->jgsum + gc * LANES : ws->zero_lanes, pitch, tpitch,
                     gpitch, slot + 1, kind);
    }
}

/* market_pass for a nested market: the same outputs (ws->jac_a holds the whole Jacobian). */
MOAT_FASTEXP_CLONES static void market_pass_nested(const moat_market_t *m, moat_pricing_ws_t *ws,
                                                   const double *price, int with_gamma,
                                                   int with_jac) {
  size_t nj = m->n_offers, nn = ws->n_newton;
  memset(ws->acc_dem, 0, nj * LANES * sizeof(double));
  memset(ws->acc_lam, 0, nj * LANES * sizeof(double));
  memset(ws->acc_gam, 0, nj * LANES * sizeof(double));
  if (with_jac) memset(ws->acc_jac, 0, nn * nn * LANES * sizeof(double));
  for (size_t blk = 0; blk < ws->n_blocks; blk++) {
    block_zeta_nested(m, ws, blk, price, with_gamma);
    if (with_jac) block_jacobian_nested(ws, blk);
  }
  reduce_lanes(nj, ws->acc_dem, ws->dem);
  reduce_lanes(nj, ws->acc_lam, ws->lam);
  reduce_lanes(nj, ws->acc_gam, ws->gam);
  if (with_jac) reduce_lanes(nn * nn, ws->acc_jac, ws->jac_a);
}

/* One pass over the packed rows at `price`: ws->dem = S_j, ws->lam = Lambda_j and, with_gamma,
 * ws->gam = sum_{k in J_f(j)} Gamma_kj (p_k - c_k); with_jac (needs with_gamma) also
 * ws->jac_a, jac_same and jac_diag (A, B and D of block_jacobian, [i][j] over newton_idx). */
MOAT_FASTEXP_CLONES static void market_pass(const moat_market_t *m, moat_pricing_ws_t *ws,
                                      const double *price, int with_gamma, int with_jac) {
  if (ws->nested) {
    market_pass_nested(m, ws, price, with_gamma, with_jac);
    return;
  }
  size_t nj = m->n_offers, nn = ws->n_newton;
  memset(ws->acc_dem, 0, nj * LANES * sizeof(double));
  memset(ws->acc_lam, 0, nj * LANES * sizeof(double));
  memset(ws->acc_gam, 0, nj * LANES * sizeof(double));
  if (with_jac) {
    memset(ws->acc_jac, 0, nn * nn * LANES * sizeof(double));
    memset(ws->acc_same, 0, nn * nn * LANES * sizeof(double));
    memset(ws->acc_diag, 0, nn * LANES * sizeof(double));
  }
  double inv[LANES];
  size_t so = ws->cap_stride * LANES, mo = (m->n_sellers + 1) * LANES;
  for (size_t blk = 0; blk < ws->n_blocks; blk++) {
    if (with_gamma) {
      int pair = blk + 1 < ws->n_blocks && ws->pair_same[blk];
      blocks_zeta(m, ws, blk, pair, price, with_jac);
      if (with_jac) block_jacobian(ws, blk, ws->share, ws->msum);
      if (with_jac && pair) block_jacobian(ws, blk + 1, ws->share + so, ws->msum + mo);
      blk += (size_t)pair;
    } else {
      block_shares(ws->ncols[blk], ws->cols + blk * ws->cap_stride, ws->bt + blk * nj * LANES,
                   ws->alpha + blk * LANES, price, ws->share, inv);
      block_accumulate(ws, blk, inv);
    }
  }
  reduce_lanes(nj, ws->acc_dem, ws->dem);
  reduce_lanes(nj, ws->acc_lam, ws->lam);
  reduce_lanes(nj, ws->acc_gam, ws->gam);
  if (with_jac) {
    reduce_lanes(nn * nn, ws->acc_jac, ws->jac_a);
    reduce_lanes(nn * nn, ws->acc_same, ws->jac_same);
    reduce_lanes(nn, ws->acc_diag, ws->jac_diag);
  }
}

void moat_choice_demand(const moat_market_t *m, const double *price, double *demand,
                        moat_pricing_ws_t *ws) {
  if (!ws_fits(m, ws)) { /* programming error: no workspace to work in; nothing is bought */
    for (size_t j = 0; j < m->n_offers; j++) demand[j] = NAN;
    return;
  }
  if (nest_setup(m, ws) != 0) { /* invalid nests: a programming error, as above */
    for (size_t j = 0; j < m->n_offers; j++) demand[j] = NAN;
    return;
  }
  pack_rows(m, ws);
  market_pass(m, ws, price, 0, 0);
  memcpy(demand, ws->dem, m->n_offers * sizeof *demand);
}

static int is_priced(const moat_market_t *m, size_t j) {
  return m->seller[j] >= 0 && !m->fixed[j];
}

/* The zeta map (MODEL.md §6): ws->next[j] = c_j + (S_j + sum_k Gamma_kj (p_k - c_k)) / Lambda_j
 * for priced offers. Where that is not a finite number (Lambda_j = 0: nobody can buy j) the
 * offer keeps its current price; a negative update is raised to 0. */
static void zeta_map(const moat_market_t *m, moat_pricing_ws_t *ws, const double *price,
                     int with_jac) {
  size_t nj = m->n_offers;
  for (size_t j = 0; j < nj; j++) {
    int owned = m->seller[j] >= 0;
    ws->sel[j] = owned ? (size_t)m->seller[j] : m->n_sellers;
    ws->markup[j] = owned ? price[j] - m->cost[j] : 0.0;
  }
  market_pass(m, ws, price, 1, with_jac);
  for (size_t j = 0; j < nj; j++) {
    double p = m->cost[j] + (ws->dem[j] + ws->gam[j]) / ws->lam[j];
    ws->next[j] = is_priced(m, j) && isfinite(p) ? fmax(p, 0.0) : price[j];
  }
}

/* max_j |next_j - price_j| / next_j: the relative change the zeta map makes. */
static double max_rel_change(size_t nj, const double *next, const double *price) {
  double worst = 0.0;
  for (size_t j = 0; j < nj; j++) {
    double rel = fabs(next[j] - price[j]) / fmax(next[j], DBL_MIN);
    worst = rel > worst ? rel : worst;
  }
  return worst;
}

/* Solve the n x n system a x = b (row pitch AA_DEPTH) in place by Gaussian elimination with
 * partial pivoting. Returns 0, or -1 if a pivot is 0 or the solution is not finite. */
static int small_solve(double a[][AA_DEPTH], double *b, size_t n) {
  for (size_t c = 0; c < n; c++) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; r++) piv = fabs(a[r][c]) > fabs(a[piv][c]) ? r : piv;
    for (size_t k = 0; k < n; k++) {
      double t = a[c][k];
      a[c][k] = a[piv][k], a[piv][k] = t;
    }
    double t = b[c];
    b[c] = b[piv], b[piv] = t;
    if (a[c][c] == 0.0) return -1;
    for (size_t r = c + 1; r < n; r++) {
      double f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; k++) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  for (size_t c = n; c-- > 0;) {
    for (size_t k = c + 1; k < n; k++) b[c] -= a[c][k] * b[k];
    b[c] /= a[c][c];
    if (!isfinite(b[c])) return -1;
  }
  return 0;
}

/*
 * Next iterate by Anderson acceleration of the zeta map g (Walker & Ni 2011, "Anderson
 * acceleration for fixed-point iterations", SIAM J. Numer. Anal. 49(4), type II): with
 * f_i = g(p_i) - p_i over the last AA_DEPTH + 1 iterates, gamma minimizes the residual
 * || f_k - sum_i gamma_i (f_{i+1} - f_i) || weighted by 1/g_j(p_k) (relative, like the
 * stopping rule), and p_{k+1} = g(p_k) - sum_i gamma_i (g(p_{i+1}) - g(p_i)).
 * Offers held have f = 0 and keep their price. If the combination is not usable (singular,
 * non-finite, a price <= 0) the step is the plain g(p_k) and the history restarts; the caller
 * also restarts it whenever the residual grows (see moat_pricing_solve).
 */
static void anderson_step(const moat_market_t *m, moat_pricing_ws_t *ws, double *price) {
  size_t nj = m->n_offers;
  if (ws->n_hist == AA_DEPTH + 1) { /* drop the oldest */
    memmove(ws->hist_f, ws->hist_f + nj, AA_DEPTH * nj * sizeof(double));
    memmove(ws->hist_g, ws->hist_g + nj, AA_DEPTH * nj * sizeof(double));
    ws->n_hist--;
  }
  double *f = ws->hist_f + ws->n_hist * nj, *g = ws->hist_g + ws->n_hist * nj;
  for (size_t j = 0; j < nj; j++) f[j] = ws->next[j] - price[j], g[j] = ws->next[j];
  size_t n = ws->n_hist++; /* differences available */
  double a[AA_DEPTH][AA_DEPTH] = {{0}}, gamma[AA_DEPTH] = {0};
  for (size_t j = 0; j < nj && n > 0; j++) {
    double w = is_priced(m, j) ? 1.0 / (g[j] * g[j]) : 0.0, d[AA_DEPTH];
    for (size_t i = 0; i < n; i++) d[i] = ws->hist_f[(i + 1) * nj + j] - ws->hist_f[i * nj + j];
    for (size_t i = 0; i < n; i++) {
      gamma[i] += w * d[i] * f[j];
      for (size_t k = 0; k < n; k++) a[i][k] += w * d[i] * d[k];
    }
  }
  int ok = n > 0 && small_solve(a, gamma, n) == 0;
  for (size_t j = 0; j < nj && ok; j++) {
    double p = g[j];
    for (size_t i = 0; i < n; i++)
      p -= gamma[i] * (ws->hist_g[(i + 1) * nj + j] - ws->hist_g[i * nj + j]);
    ok = !is_priced(m, j) || (isfinite(p) && p > 0.0);
    ws->share[j] = p; /* scratch: the share block is not in use between passes */
  }
  if (!ok && n > 0) ws->n_hist = 0;
  memcpy(price, ok ? ws->share : ws->next, nj * sizeof *price);
}

/*
 * 1 if the plain zeta map contracts near p: the spectral radius of its Jacobian I + H (H the
 * scaled Newton matrix in ws->jac, n x n; the map's Jacobian is I + H up to terms in
 * g(p) - p) is below 1. Bound from above by ||A^128||^(1/128) in the infinity norm, A squared
 * 7 times and rescaled each time; the bound is >= the radius, so a map judged contracting is.
 */
static int plain_map_stable(moat_pricing_ws_t *ws, size_t n) {
  double *a = ws->pow_a, *b = ws->pow_b, log_scale = 0.0;
  for (size_t r = 0; r < n; r++)
    for (size_t c = 0; c < n; c++)
      a[r * n + c] = gsl_matrix_get(ws->jac, r, c) + (r == c ? 1.0 : 0.0);
  for (int k = 0; k <= 7; k++) {
    if (k > 0) { /* b = a a */
      for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < n; c++) {
          double t = 0.0;
          for (size_t i = 0; i < n; i++) t += a[r * n + i] * a[i * n + c];
          b[r * n + c] = t;
        }
      double *t = a;
      a = b, b = t;
      log_scale *= 2.0;
    }
    double norm = 0.0;
    for (size_t r = 0; r < n; r++) {
      double row = 0.0;
      for (size_t c = 0; c < n; c++) row += fabs(a[r * n + c]);
      norm = row > norm ? row : norm;
    }
    if (norm == 0.0) return 1; /* nilpotent */
    if (!isfinite(norm)) return 0;
    for (size_t i = 0; i < n * n; i++) a[i] /= norm;
    log_scale += log(norm);
  }
  return log_scale < 0.0;
}

/*
 * The Newton system from the Jacobian that the last pass computed (block_jacobian), factored.
 * Equation j is divided by Lambda_j, so that it reads g_j(p) - p_j = 0 (g the zeta map before
 * clamping) and rows are on a common, relative scale for the pivoting; offers nobody can buy
 * (Lambda_j = 0) and offers held stay out of the system and keep their price. LU with partial
 * pivoting (GSL; preallocated, no malloc). Returns 0, or -1 if the plain map does not contract
 * there (plain_map_stable) or the matrix is singular.
 */
static int newton_factor(moat_pricing_ws_t *ws) {
  size_t n = ws->n_newton, ns = 0;
  for (size_t a = 0; a < n; a++)
    if (ws->lam[ws->newton_idx[a]] > 0.0) ws->sys[ns++] = a;
  ws->n_sys = ns;
  if (ns == 0) return -1;
  gsl_matrix_view h = gsl_matrix_submatrix(ws->jac, 0, 0, ns, ns);
  for (size_t r = 0; r < ns; r++) {
    size_t b = ws->sys[r], j = ws->newton_idx[b];
    double inv = 1.0 / ws->lam[j];
    for (size_t c = 0; c < ns; c++) {
      size_t a = ws->sys[c];
      double v = ws->jac_a[a * n + b]; /* nested: the whole derivative */
      if (!ws->nested) v += ws->jac_same[a * n + b];
      if (!ws->nested && a == b) v += ws->jac_diag[b] - 2.0 * ws->lam[j];
      gsl_matrix_set(&h.matrix, r, c, v * inv);
    }
  }
  if (!plain_map_stable(ws, ns)) return -1;
  gsl_permutation perm = {ns, ws->perm->data};
  int sign;
  gsl_linalg_LU_decomp(&h.matrix, &perm, &sign);
  for (size_t r = 0; r < ns; r++) { /* LU_svx would call the GSL error handler on a 0 pivot */
    double d = gsl_matrix_get(&h.matrix, r, r);
    if (d == 0.0 || !isfinite(d)) return -1;
  }
  return 0;
}

/*
 * One Newton step on the first-order conditions at `price`, from the last pass's S, Lambda and
 * Gamma terms and the factors of newton_factor (from the last Jacobian pass, kept for the next
 * steps: the chord method; from where the phase starts, |dp|/p < NEWTON_START, each step gains
 * about 2-3 digits with the Jacobian it started with, and the solve computes a fresh one when a
 * step gains less than CHORD_GAIN; a chord step costs one ordinary pass). rel is the map's
 * relative change at `price`: a step that would move a price by more than NEWTON_TRUST rel
 * relative is refused (near a solution where the plain map contracts with factor rho the
 * distance to it is about rel / (1 - rho); a far larger step follows a direction in which the
 * conditions are flat, as for a seller that owns every offer and has no best price). Returns 0
 * with price moved by the step, or -1 (price untouched; ws->next used as scratch) if an offer of
 * the system can no longer be bought or the step gives a non-finite, non-positive or too large
 * price change.
 */
static int newton_step(const moat_market_t *m, moat_pricing_ws_t *ws, double *price,
                       double rel) {
  size_t ns = ws->n_sys;
  gsl_matrix_view h = gsl_matrix_submatrix(ws->jac, 0, 0, ns, ns);
  gsl_vector_view x = gsl_vector_subvector(ws->step, 0, ns);
  for (size_t r = 0; r < ns; r++) {
    size_t j = ws->newton_idx[ws->sys[r]];
    if (!(ws->lam[j] > 0.0)) return -1;
    gsl_vector_set(&x.vector, r, ws->markup[j] - (ws->dem[j] + ws->gam[j]) / ws->lam[j]);
  }
  gsl_permutation perm = {ns, ws->perm->data};
  gsl_linalg_LU_svx(&h.matrix, &perm, &x.vector);
  double *trial = ws->next; /* scratch: g(p) is not needed after a Newton step */
  memcpy(trial, price, m->n_offers * sizeof *trial);
  for (size_t r = 0; r < ns; r++) {
    size_t j = ws->newton_idx[ws->sys[r]];
    double dp = gsl_vector_get(&x.vector, r);
    trial[j] = price[j] + dp;
    if (!isfinite(trial[j]) || !(trial[j] > 0.0) || fabs(dp) > NEWTON_TRUST * rel * price[j])
      return -1;
  }
  memcpy(price, trial, m->n_offers * sizeof *price);
  return 0;
}

/* p += (g(p) - p) / 2; returns max_j |dp_j| / p_j. */
static double damped_update(size_t nj, const double *next, double *price) {
  double worst = 0.0;
  for (size_t j = 0; j < nj; j++) {
    double p = price[j] + 0.5 * (next[j] - price[j]);
    double rel = fabs(p - price[j]) / fmax(p, DBL_MIN);
    worst = rel > worst ? rel : worst;
    price[j] = p;
  }
  return worst;
}

void moat_pricing_ws_set_acceleration(moat_pricing_ws_t *ws, int on) {
  ws->accelerate = on != 0;
}

void moat_pricing_ws_set_newton(moat_pricing_ws_t *ws, int on) {
  ws->newton = on != 0;
}

/*
 * Iterations 1..max_iter: the zeta map, with Anderson acceleration unless switched off; the
 * solve stops as soon as the map itself would move no price by tol or more relative
 * (max_j |g_j(p) - p_j| / g_j(p) < tol) and returns g(p). Then up to max_iter damped iterations
 * p += (g(p) - p)/2 (stopping when that step is below tol) with converged = 0.
 *
 * Acceleration, and why it is started late. Measured on the markets of two baseline paths
 * (120 monthly steps each, recorded and solved again in sequence, each from the previous
 * solution, tol 1e-9). The plain zeta iteration takes 9226 and 9932 iterations in all (median
 * 66 a step, max 338): price sensitivity spread over three orders of magnitude makes it slow.
 * Anderson acceleration from the first iteration stagnates on the hardest steps (> 1000
 * iterations, some not converged); restarting its history whenever the relative change grows
 * cures that (2796 and 2994 in all; depths 2-8 gave 3807-2727, hence 6), but on 17 of the 240
 * steps it then settles on another solution of the first-order conditions than the plain
 * iteration: these markets have several. None need be a Nash equilibrium: on 5 such steps
 * checked against a grid of unilateral deviations, some seller could raise its profit by 1-11 %
 * at the accelerated solution against 0-4 % at the plain one on 4 steps, and by 28 % and 38 %
 * on the fifth. Starting the acceleration only once the plain map moves no price by more than
 * AA_START = 10 % leaves the choice among solutions to the plain iteration's dynamics: the
 * plain iteration's solution on every step, in 2782 and 3151 iterations (3.1-3.3 times fewer;
 * with AA_START = 1 % three steps differed; clipping the accelerated step saved less).
 * In full runs of two baseline paths (where the markets also depend on the prices chosen) the
 * acceleration still stagnated on 3 of 240 steps; after AA_PATIENCE = 60 accelerated
 * iterations the solve goes on with the plain map, which converges there. Result: 4006
 * iterations a path against 12807 plain (a step: median 24.5 against 89, max 402 against 532),
 * none unconverged, every metric of the run equal to the plain run's to 1e-6 relative
 * (patience 30 and 100: 4795 and 4105 iterations).
 *
 * Newton phase. Once the map moves no price by NEWTON_START = 1e-3 or more relative, the next
 * pass also computes the Jacobian of the first-order conditions (block_jacobian), and if the
 * plain map contracts there (plain_map_stable) the solve goes on with Newton steps on them
 * (newton_factor, newton_step: chord steps, with a fresh Jacobian whenever a step cut the change
 * by less than CHORD_GAIN) for as long as each step reduces the relative change. A step that
 * does not is undone: the solve goes back to the point before it, with that point's g(p), and
 * continues with the accelerated map exactly as if the Newton step had not been tried (the
 * Anderson history is kept when it was the phase's first step, dropped otherwise). A failed
 * phase (no contraction, a step refused or undone) may start again once the change has fallen
 * by NEWTON_REARM below where it failed, up to NEWTON_MAX_JAC Jacobian passes a solve. Every
 * pass over the rows counts as one iteration, a Jacobian pass and a Newton step included (a
 * Jacobian pass costs about 2.4 ordinary passes).
 * Measured on the baseline of commit 21d4a0d (outside option, before the recalibration; paths
 * 0-7, 960 steps): from 1e-5 with one chord phase a solve (the solver before) 2383 iterations a
 * path, 960 Jacobian passes; from 1e-3 as now 2044 and 991 (about 13 % less work a path,
 * counting a Jacobian pass as 2.4); from 3e-3 and 1e-2, 1963 and 1865 iterations but 1083 and
 * 2072 Jacobian passes, and more paths on other solutions. On the recalibrated baseline
 * (6b01946): 3863 -> 2909 iterations a path (paths 0-7), 30.9 -> 24.9 a step over 200 paths,
 * unconverged steps 13 -> 9 of 24000; from 3e-3 and 1e-2 there, 3061 and 2946. Undoing the failed step matters for the selection: without it a Newton step
 * that landed far away (the change grew from 5e-4 to 2e-2) sent the iteration to another
 * solution. Equilibrium selection against the solver before, 200 baseline paths (24000 steps),
 * baseline of 21d4a0d: 198 paths within 1e-3 relative in every metric (190 within 1e-6); 2 on
 * another solution from one step each, both steps where the accelerated map stagnated for 40+
 * iterations near rel = 5e-2 and 9e-2, long before any Newton step, and the last-bit
 * differences of the fused pass (blocks_zeta) took the iteration elsewhere. Recalibrated
 * baseline: 196 within 1e-3 (186 within 1e-6); of the other 4, two from steps neither solver
 * converges, one from a step only the solver before converged (59 iterations; here the
 * Anderson history rebuilt after a Newton attempt stagnates), one on another solution. The
 * calibration table (analysis.calibration) of the before and after runs is identical to its
 * printed digits on both baselines.
 * Earlier measurements of this phase (before the outside option, Newton from 1e-5 and no undo):
 * without the contraction test 10 of 200 paths diverged; mean iterations a step 28.6 -> 22.5.
 */
int moat_pricing_solve(const moat_market_t *m, double *price, double tol, int max_iter,
                       moat_pricing_ws_t *ws, moat_pricing_result_t *res) {
  res->iterations = 0;
  res->converged = 0;
  res->max_rel_change = INFINITY;
  if (!ws_fits(m, ws) || max_iter < 0) return MOAT_EINVAL;
  for (size_t j = 0; j < m->n_offers; j++)
    if (m->seller[j] >= 0 && (size_t)m->seller[j] >= m->n_sellers) return MOAT_EINVAL;
  if (nest_setup(m, ws) != 0) return MOAT_EINVAL;
  pack_rows(m, ws);
  ws->n_hist = 0;
  ws->n_newton = 0;
  for (size_t j = 0; j < m->n_offers; j++)
    if (is_priced(m, j)) ws->newton_idx[ws->n_newton++] = j;
  if (ws->nested) nest_cross_groups(m, ws);
  double last_rel = INFINITY, rearm_rel = NEWTON_START, newton_prev_rel = INFINITY;
  int aa_its = 0, newton = 0, newton_steps = 0, jac = 0, n_jac = 0;
  int newton_off = !ws->accelerate || !ws->newton;
  for (int it = 0; it < 2 * max_iter; it++) {
    int damped = it >= max_iter;
    jac = jac && !damped;
    zeta_map(m, ws, price, jac); /* Jacobian: see above */
    res->iterations = it + 1;
    if (damped) {
      res->max_rel_change = damped_update(m->n_offers, ws->next, price);
      if (res->max_rel_change < tol) break;
      continue;
    }
    double rel = max_rel_change(m->n_offers, ws->next, price);
    res->max_rel_change = rel;
    if (rel < tol) {
      memcpy(price, ws->next, m->n_offers * sizeof *price);
      res->converged = 1;
      break;
    }
    if (!ws->accelerate) {
      memcpy(price, ws->next, m->n_offers * sizeof *price);
      continue;
    }
    if (newton) {
      size_t bytes = m->n_offers * sizeof *price;
      int worse = newton_steps > 0 && !(rel < last_rel);
      if (worse) { /* the last Newton step did not reduce the change: undo it */
        memcpy(price, ws->newton_p, bytes);
        memcpy(ws->next, ws->newton_g, bytes);
        rel = last_rel;
        last_rel = newton_prev_rel;
      } else if (!jac || newton_factor(ws) == 0) {
        memcpy(ws->newton_p, price, bytes);
        memcpy(ws->newton_g, ws->next, bytes);
        if (newton_step(m, ws, price, rel) == 0) {
          /* slow progress of the chord: a fresh Jacobian in the next pass */
          jac = newton_steps > 0 && rel > CHORD_GAIN * last_rel && n_jac < NEWTON_MAX_JAC;
          n_jac += jac;
          newton_steps++;
          newton_prev_rel = last_rel;
          last_rel = rel;
          continue;
        }
        memcpy(ws->next, ws->newton_g, bytes); /* newton_step used it as scratch */
      }
      /* Back to the accelerated map, at the point before the failed step (its history is
       * stale if earlier Newton steps moved away from the point it was built at). */
      if (newton_steps > 1 || (newton_steps == 1 && !worse)) ws->n_hist = 0;
      newton = jac = 0;
      newton_steps = 0;
      rearm_rel = rel * NEWTON_REARM;
    }
    int accelerated = rel <= AA_START && ++aa_its <= AA_PATIENCE;
    if (rel > last_rel || !accelerated) ws->n_hist = 0; /* restart, or not (yet) accelerated */
    last_rel = rel;
    if (accelerated)
      anderson_step(m, ws, price);
    else
      memcpy(price, ws->next, m->n_offers * sizeof *price);
    newton = jac = !newton_off && rel < rearm_rel && n_jac < NEWTON_MAX_JAC; /* the next pass computes the Jacobian */
    n_jac += jac;
  }
  return MOAT_OK;
}
