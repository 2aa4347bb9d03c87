/* pricing_internal.h — the pricing workspace, its layout and constants, shared by the pricing_*.c
 * files (not installed). */
#ifndef MOATSIM_PRICING_INTERNAL_H
#define MOATSIM_PRICING_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_linalg.h>

#include "moatsim/fastexp.h"
#include "moatsim/pricing.h"
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
#define ACC_PITCH (3 * LANES) /* doubles an offer in ws->acc */
#define UNIT_PITCH (2 * LANES) /* doubles an offer (a seller) in a unit's share (msum) slot */
#define MAX_PATTERNS 64 /* feasibility patterns told apart when the rows are ordered */

/* Per-offer terms of the nested Jacobian (block_jacobian_nested): of offer i as the variable
 * (S, SC, ST, SCT, X) and of offer j as the equation (A, B, C, CK, D). */
enum { NJ_S, NJ_SC, NJ_ST, NJ_SCT, NJ_X, NJ_A, NJ_B, NJ_C, NJ_CK, NJ_D, NJ_COUNT };
/* Which terms a pair (i, j) of the nested Jacobian has. */
enum { JP_NEST = 1, JP_SELLER = 2, JP_CROSS = 4, JP_DIAG = 8 };

/* The pass over the rows is compiled for several x86-64 levels (MOAT_FASTEXP_CLONES in
 * fastexp.h); the functions it calls are inlined into each version, whatever the optimisation
 * level (see OPT). */
/* KMADD(a, b, c) = a*b + c rounded once where the pass is compiled with its clones (fma(), one
 * instruction on the AVX2 and AVX-512 levels), so that every level does the same operations;
 * a multiply and an add otherwise (MOAT_FASTEXP_MADD in fastexp.h). */
#define KMADD(a, b, c) MOAT_FASTEXP_MADD(a, b, c)

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
  double *share;    /* [2][offer][2][lane] shares of two units of the zeta pass (blocks_zeta;
                       UNIT_PITCH doubles an offer); the other passes use [offer][lane] */
  double *msum;     /* [2][seller + 1][2][lane] sum_{k in f} s_rk (p_k - c_k) (the same); last
                       row: no seller */
  double *gfac;     /* laid out as msum: W_r alpha_r M_rf / sum of exponentials (block_finish) */
  double *acc;      /* [offer][3][lane] per-lane partial sums of W s, W alpha s and
                       W alpha s m_{r,f(j)} (ACC_PITCH doubles an offer) */
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

/* pricing_ws.c: 1 if the workspace is large enough for m. */
int moat_pricing_ws_fits(const moat_market_t *m, const moat_pricing_ws_t *ws);

/* pricing_shares.c: 1 if m has a nest with lambda < 1 (then the nested-logit code runs). */
int moat_pricing_market_nested(const moat_market_t *m);
/* pricing_shares.c: the nests' per-call tables (0, or -1 if the nests are invalid). */
int moat_pricing_nest_setup(const moat_market_t *m, moat_pricing_ws_t *ws);
/* pricing_shares.c: the active rows into LANES-row, offer-major blocks (see "Layout"). */
void moat_pricing_pack_rows(const moat_market_t *m, moat_pricing_ws_t *ws);

/* pricing_zeta.c: one pass over the packed rows at `price` (dem, lam and, with_gamma, gam;
 * with_jac the Jacobian terms). */
void moat_pricing_market_pass(const moat_market_t *m, moat_pricing_ws_t *ws, const double *price,
                              int with_gamma, int with_jac);
/* pricing_zeta.c: the zeta map, ws->next from `price` (with_jac: and the Jacobian). */
void moat_pricing_zeta_map(const moat_market_t *m, moat_pricing_ws_t *ws, const double *price,
                           int with_jac);

/* Offer j's price is set by the solver (a seller's, not fixed). */
static inline int moat_pricing_is_priced(const moat_market_t *m, size_t j) {
  return m->seller[j] >= 0 && !m->fixed[j];
}

#endif
