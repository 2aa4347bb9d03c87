/* pricing_zeta.c — the passes over the packed rows: the zeta map's sums and the Jacobian, plain and nested. */
#include "pricing_internal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* GCC's unroll-and-jam (on at -O3) fused pairs of offers in block_utilities' loop into one over
 * lanes that it then left scalar (bench_kernel: the zeta pass 1.4x slower); -O2 never runs it.
 * Loop distribution turns lanes_zero back into a 128-byte memset, which the AVX2 clone made a
 * `rep stos` (11 % of its zeta pass). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-loop-unroll-and-jam", "no-tree-loop-distribute-patterns")
#endif

/* v[0..LANES) = 0 as vector stores. */
static KERNEL_INLINE void lanes_zero(double *restrict v) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) v[l] = 0.0;
}

/* Utilities of one block over its nc offers cols, share[j][l] = u = b - alpha p_j, rounded once
 * (KMADD; offer j's lanes at share + j pitch), and their row maxima mx[l]. The maxima start from
 * -DBL_MAX, not -INFINITY: a row with nothing feasible keeps it, and exp(-inf + DBL_MAX) = 0, not
 * the NaN of -inf - -inf; every other row has a finite maximum, the same either way. (A fix-up
 * loop after this one, `-inf -> 0`, made GCC leave this loop scalar.) */
static KERNEL_INLINE void block_utilities(size_t nc, const size_t *restrict cols,
                                          const double *restrict bt,
                                          const double *restrict alpha,
                                          const double *restrict price, double *restrict share,
                                          size_t pitch, double *restrict mx) {
  double m[LANES]; /* a local maximum stays in registers across the offers */
  for (size_t l = 0; l < LANES; l++) m[l] = -DBL_MAX;
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    double *s = share + j * pitch;
    const double *b = bt + j * LANES;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) {
      double u = KMADD(-alpha[l], price[j], b[l]);
      s[l] = u;
      m[l] = u > m[l] ? u : m[l];
    }
  }
  for (size_t l = 0; l < LANES; l++) mx[l] = m[l];
}

/* sum[l] (1 / sum[l] afterwards, 0 for a row with nothing feasible) from the exponentials. Every
 * lane divides, and the lanes whose sum is 0 are cleared by a mask made from the comparison
 * taken as a value (a sum is >= 0, or NaN, which stays NaN). Written as a select, `sum > 0 ?
 * 1 / sum : 0` or `sum != 0 ? inv : 0`, GCC kept the division behind a branch (it may raise a
 * flag) and made it 16 scalar divisions: always with `>`, with `!=` on AVX2. */
static KERNEL_INLINE void lanes_invert(double *restrict sum) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) sum[l] = moat_fastexp_pick(sum[l] != 0.0, 1.0 / sum[l], 0.0);
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
  block_utilities(nc, cols, bt, alpha, price, share, LANES, mx);
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
    ms[l] = KMADD(s[l], mu, ms[l]);
  }
}

/* One offer's lanes, from its exponentials e: dem += (W inv) e, lam += (W alpha inv) e and
 * gam += (W alpha inv M) e, with the per-lane factors wi = W inv, wai = W alpha inv and the
 * seller's g = W alpha inv M_{r,f(j)} made once a block (block_finish): three fused steps a
 * cell instead of a share and seven operations. The share t = e inv is stored only with
 * store_share (for the Jacobian). */
static KERNEL_INLINE void lanes_accumulate(double *restrict s, const double *restrict inv,
                                           const double *restrict wi, const double *restrict wai,
                                           const double *restrict g, double *restrict dem,
                                           double *restrict lam, double *restrict gam,
                                           int store_share) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    double e = s[l];
    dem[l] = KMADD(wi[l], e, dem[l]);
    lam[l] = KMADD(wai[l], e, lam[l]);
    gam[l] = KMADD(g[l], e, gam[l]);
    if (store_share) s[l] = e * inv[l];
  }
}

/* lanes_accumulate for the two blocks of a unit at once (a, then b): s, inv, wi, wai and g hold
 * block a's lanes then block b's (2 LANES doubles each), acc offer j's three sums (ACC_PITCH).
 * Each accumulator is read and written once for both, with the same operations in the same
 * order as two calls in turn, so the sums are bitwise the same. */
static KERNEL_INLINE void lanes_accumulate2(double *restrict s, const double *restrict inv,
                                            const double *restrict wi, const double *restrict wai,
                                            const double *restrict g, double *restrict acc,
                                            int store_share) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    double ea = s[l], eb = s[LANES + l];
    acc[l] = KMADD(wi[LANES + l], eb, KMADD(wi[l], ea, acc[l]));
    acc[LANES + l] = KMADD(wai[LANES + l], eb, KMADD(wai[l], ea, acc[LANES + l]));
    acc[2 * LANES + l] = KMADD(g[LANES + l], eb, KMADD(g[l], ea, acc[2 * LANES + l]));
    if (store_share) s[l] = ea * inv[l], s[LANES + l] = eb * inv[LANES + l];
  }
}

/* The sums of a unit over its nc offers cols (see unit_accumulate): pair and store_share are
 * constants where it is called, so that each case is a loop of its own. */
static KERNEL_INLINE void unit_sums(moat_pricing_ws_t *ws, size_t nc, const size_t *restrict cols,
                                    double *restrict share, const double *restrict gfac,
                                    const double *restrict inv, const double *restrict wi,
                                    const double *restrict wai, int pair, int store_share) {
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    double *acc = ws->acc + j * ACC_PITCH, *s = share + j * UNIT_PITCH;
    const double *g = gfac + ws->sel[j] * UNIT_PITCH;
    if (pair)
      lanes_accumulate2(s, inv, wi, wai, g, acc, store_share);
    else
      lanes_accumulate(s, inv, wi, wai, g, acc, acc + LANES, acc + 2 * LANES, store_share);
  }
}

/* The exponentials of one block (after block_utilities: share holds u, mx the row maxima):
 * share[j][l] = e = exp(u - mx), sum[l] = sum_j e and, in the same loop, the sellers' markup
 * sums sum_{k in f} e_rk (p_k - c_k) into msum (from ws->markup and ws->sel); offer j's lanes
 * at share + j pitch, seller f's at msum + f pitch. */
static KERNEL_INLINE void block_exp(const moat_market_t *m, moat_pricing_ws_t *ws, size_t blk,
                                    double *restrict share, double *restrict msum, size_t pitch,
                                    const double *restrict mx, double *restrict sum) {
  size_t nf = m->n_sellers + 1, nc = ws->ncols[blk];
  const size_t *cols = ws->cols + blk * ws->cap_stride;
  double sm[LANES]; /* a local sum stays in registers across the offers; sum may alias */
  for (size_t f = 0; f < nf; f++) lanes_zero(msum + f * pitch);
  for (size_t l = 0; l < LANES; l++) sm[l] = 0.0;
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    lanes_exp_msum(share + j * pitch, mx, sm, msum + ws->sel[j] * pitch, ws->markup[j]);
  }
  for (size_t l = 0; l < LANES; l++) sum[l] = sm[l];
}

/* The per-row factors of the accumulated sums: wi = W inv and wai = W alpha inv (inv = 1 / the
 * sum of exponentials), so that each cell adds W s = wi e and W alpha s = wai e in one fused step. */
static KERNEL_INLINE void lanes_factors(const double *restrict w, const double *restrict wa,
                                        const double *restrict inv, double *restrict wi,
                                        double *restrict wai) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    wi[l] = w[l] * inv[l];
    wai[l] = wa[l] * inv[l];
  }
}

/* After block_exp: inv = 1 / the sum of exponentials (in place), the markup sums normalized,
 * M_rf = sum_{k in f} s_rk m_k, and the factors of block_accumulate's sums: wi = W inv,
 * wai = W alpha inv and, per seller, g = wai M (gfac, laid out as msum). */
static KERNEL_INLINE void block_finish(size_t nf, double *restrict msum, double *restrict gfac,
                                       size_t pitch, const double *restrict w,
                                       const double *restrict wa, double *restrict inv,
                                       double *restrict wi, double *restrict wai) {
  lanes_invert(inv);
  lanes_factors(w, wa, inv, wi, wai);
  for (size_t f = 0; f < nf; f++) {
    double *ms = msum + f * pitch, *g = gfac + f * pitch;
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) {
      ms[l] *= inv[l];
      g[l] = wai[l] * ms[l];
    }
  }
}

/* Add one block's W s and W alpha s to the per-lane sums as the zeta pass does (from the
 * exponentials, with the factors W inv and W alpha inv; inv = 1 / sum of exponentials from
 * block_shares), and normalize its shares (s *= inv) (moat_choice_demand). */
static KERNEL_INLINE void block_accumulate(moat_pricing_ws_t *ws, size_t blk, const double *restrict inv) {
  const size_t *cols = ws->cols + blk * ws->cap_stride;
  const double *restrict w = ws->weight + blk * LANES;
  const double *restrict wa = ws->walpha + blk * LANES;
  double wi[LANES], wai[LANES];
  lanes_factors(w, wa, inv, wi, wai);
  for (size_t c = 0; c < ws->ncols[blk]; c++) {
    size_t j = cols[c];
    double *s = ws->share + j * LANES;
    double *dem = ws->acc + j * ACC_PITCH, *lam = dem + LANES;
    for (size_t l = 0; l < LANES; l++) {
      dem[l] = KMADD(wi[l], s[l], dem[l]);
      lam[l] = KMADD(wai[l], s[l], lam[l]);
      s[l] *= inv[l];
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

/* Add one block's terms of A, B and D (after block_accumulate: normalized shares, markup sums;
 * offer or seller k's lanes at share + k sp, msum + k sp).
 * The terms of A (every pair of offers) are added JAC_GROUP blocks at a time from the u and y
 * kept for the group: one pass over the accumulators per group instead of per block (they do
 * not fit in L1; the Jacobian pass cost about 3 ordinary passes that way, measured with
 * bench_run). Offers outside the block's list (colmask) have shares 0 there: their u and y
 * are set to 0 and their other terms skipped. */
static KERNEL_INLINE void block_jacobian(moat_pricing_ws_t *ws, size_t blk,
                                         const double *restrict share,
                                         const double *restrict msum, size_t sp) {
  size_t n = ws->n_newton, slot = blk % JAC_GROUP, pitch = ws->cap_stride * LANES;
  const double *restrict alpha = ws->alpha + blk * LANES;
  const double *restrict wa = ws->walpha + blk * LANES;
  const size_t *idx = ws->newton_idx;
  double *ubuf = ws->ubuf + slot * pitch, *ybuf = ws->ybuf + slot * pitch;
  const unsigned char *mask = ws->colmask + blk * ws->cap_stride;
  for (size_t a = 0; a < n; a++) {
    size_t i = idx[a];
    if (!mask[i]) { /* no share of offer i in this block: u = y = 0, nothing else */
      lanes_zero(ubuf + a * LANES);
      lanes_zero(ybuf + a * LANES);
      continue;
    }
    lanes_uy(share + i * sp, wa, alpha, msum + ws->sel[i] * sp, ws->markup[i],
             ubuf + a * LANES, ybuf + a * LANES, ws->acc_diag + a * LANES);
  }
  for (size_t a = 0; a < n; a++) {
    size_t i = idx[a];
    if (!mask[i]) continue;
    for (size_t b = 0; b < n; b++)
      if (mask[idx[b]] && ws->sel[i] == ws->sel[idx[b]])
        lanes_same(ws->acc_same + (a * n + b) * LANES, ubuf + a * LANES,
                   share + idx[b] * sp, alpha, ws->markup[i]);
  }
  if (slot + 1 < JAC_GROUP && blk + 1 < ws->n_blocks) return;
  for (size_t a = 0; a < n; a++)
    for (size_t b = 0; b < n; b++)
      lanes_outer(ws->acc_jac + (a * n + b) * LANES, ws->ubuf + a * LANES, ws->ybuf + b * LANES,
                  slot + 1, pitch);
}

/*
 * The zeta pass (with_gamma) runs over units: a block, or two blocks with the same list of
 * offers (pair_same). A unit's three parts: block_utilities and block_exp for each block, then
 * block_finish, then unit_accumulate: W s, W alpha s and W alpha s M_{r,f(j)} added to the
 * per-lane sums in one loop over the offers, the shares normalized on the fly and stored only
 * with_jac (for block_jacobian). Two blocks share that loop so that the three accumulators are
 * read and written once for both.
 * Software pipelining: the parts of consecutive units are interleaved, unit k's exponentials,
 * then unit k + 1's utilities, then unit k - 1's sums, then unit k's block_finish. Each part ends
 * in a reduction that the next waits for (the row maxima before the exponentials, the sum of
 * exponentials, whose last exp finishes some 90 cycles after it starts, before the inverse and
 * everything after it); in the plain order the processor waits at each of those joins once a
 * block, in this order the independent work of the neighbouring units fills the waits. The
 * sums still take the units in order, with the same operations: the results are bitwise those
 * of the plain order. Measured (the ζ solve of bench_kernel, two builds of the pricing files
 * loaded into one process and timed in 61 alternating rounds, medians of the per-round
 * ratios): this order 1.27x the plain order with the same layout, and 1.08x the pass before
 * (pairs of blocks in plain order, one pointer per array). Unit k uses buffer slot k % 2
 * (ws->share, ws->msum): a slot's two blocks interleaved by offer (UNIT_PITCH) and by seller,
 * and the three sums of an offer are adjacent (ws->acc, ACC_PITCH), so that the loop over
 * offers addresses everything from three pointers.
 */
typedef struct zeta_unit {
  size_t blk; /* first block */
  int pair;   /* 1: blocks blk and blk + 1 */
  size_t slot;
} zeta_unit_t;

/* Per-unit lane vectors of the pipeline: [slot][block of the unit][lane]. */
typedef struct zeta_lanes {
  double mx[2][2][LANES];
  double inv[2][2][LANES];
  double wi[2][2][LANES];  /* W inv */
  double wai[2][2][LANES]; /* W alpha inv */
} zeta_lanes_t;

static KERNEL_INLINE double *unit_share(moat_pricing_ws_t *ws, const zeta_unit_t *u, int k) {
  return ws->share + (2 * u->slot * ws->cap_stride + (size_t)k) * LANES;
}

static KERNEL_INLINE double *unit_msum(const moat_market_t *m, moat_pricing_ws_t *ws,
                                       const zeta_unit_t *u, int k) {
  return ws->msum + (2 * u->slot * (m->n_sellers + 1) + (size_t)k) * LANES;
}

/* The unit's gfac (block_finish), laid out as its msum. */
static KERNEL_INLINE double *unit_gfac(const moat_market_t *m, moat_pricing_ws_t *ws,
                                       const zeta_unit_t *u, int k) {
  return ws->gfac + (2 * u->slot * (m->n_sellers + 1) + (size_t)k) * LANES;
}

static KERNEL_INLINE void unit_utilities(const moat_market_t *m, moat_pricing_ws_t *ws,
                                         const zeta_unit_t *u, const double *restrict price,
                                         zeta_lanes_t *zl) {
  size_t nj = m->n_offers;
  for (int k = 0; k <= u->pair; k++) {
    size_t b = u->blk + (size_t)k;
    block_utilities(ws->ncols[b], ws->cols + b * ws->cap_stride, ws->bt + b * nj * LANES,
                    ws->alpha + b * LANES, price, unit_share(ws, u, k), UNIT_PITCH,
                    zl->mx[u->slot][k]);
  }
}

static KERNEL_INLINE void unit_exp(const moat_market_t *m, moat_pricing_ws_t *ws,
                                   const zeta_unit_t *u, zeta_lanes_t *zl) {
  for (int k = 0; k <= u->pair; k++)
    block_exp(m, ws, u->blk + (size_t)k, unit_share(ws, u, k), unit_msum(m, ws, u, k),
              UNIT_PITCH, zl->mx[u->slot][k], zl->inv[u->slot][k]);
}

static KERNEL_INLINE void unit_finish(const moat_market_t *m, moat_pricing_ws_t *ws,
                                      const zeta_unit_t *u, zeta_lanes_t *zl) {
  for (int k = 0; k <= u->pair; k++) {
    size_t b = u->blk + (size_t)k;
    block_finish(m->n_sellers + 1, unit_msum(m, ws, u, k), unit_gfac(m, ws, u, k), UNIT_PITCH,
                 ws->weight + b * LANES, ws->walpha + b * LANES, zl->inv[u->slot][k],
                 zl->wi[u->slot][k], zl->wai[u->slot][k]);
  }
}

static KERNEL_INLINE void unit_accumulate(const moat_market_t *m, moat_pricing_ws_t *ws,
                                          const zeta_unit_t *u, zeta_lanes_t *zl,
                                          int with_jac) {
  size_t blk = u->blk, nc = ws->ncols[blk];
  const size_t *cols = ws->cols + blk * ws->cap_stride; /* the same for blk + 1 with pair */
  double *sh = unit_share(ws, u, 0), *g = unit_gfac(m, ws, u, 0), *inv = zl->inv[u->slot][0];
  const double *wi = zl->wi[u->slot][0], *wai = zl->wai[u->slot][0];
  if (u->pair && with_jac)
    unit_sums(ws, nc, cols, sh, g, inv, wi, wai, 1, 1);
  else if (u->pair)
    unit_sums(ws, nc, cols, sh, g, inv, wi, wai, 1, 0);
  else if (with_jac)
    unit_sums(ws, nc, cols, sh, g, inv, wi, wai, 0, 1);
  else
    unit_sums(ws, nc, cols, sh, g, inv, wi, wai, 0, 0);
  if (with_jac)
    for (int k = 0; k <= u->pair; k++)
      block_jacobian(ws, blk + (size_t)k, unit_share(ws, u, k), unit_msum(m, ws, u, k),
                     UNIT_PITCH);
}

/* The unit that starts at block blk (of n), in buffer slot `slot`. */
static KERNEL_INLINE zeta_unit_t unit_at(const moat_pricing_ws_t *ws, size_t blk, size_t slot) {
  zeta_unit_t u = {blk, blk + 1 < ws->n_blocks && ws->pair_same[blk], slot};
  return u;
}

/* The zeta pass over every block, pipelined as above (with_jac: and the Jacobian terms). */
static KERNEL_INLINE void blocks_zeta(const moat_market_t *m, moat_pricing_ws_t *ws,
                                      const double *restrict price, int with_jac) {
  zeta_lanes_t zl;
  if (ws->n_blocks == 0) return;
  zeta_unit_t cur = unit_at(ws, 0, 0), prev = cur;
  int have_prev = 0;
  unit_utilities(m, ws, &cur, price, &zl);
  for (;;) {
    size_t next_blk = cur.blk + 1 + (size_t)cur.pair;
    int have_next = next_blk < ws->n_blocks;
    zeta_unit_t next = unit_at(ws, have_next ? next_blk : 0, cur.slot ^ 1u);
    unit_exp(m, ws, &cur, &zl);
    /* the next unit's slot is the previous unit's: its utilities go after that unit's sums */
    if (have_prev) unit_accumulate(m, ws, &prev, &zl, with_jac);
    if (have_next) unit_utilities(m, ws, &next, price, &zl);
    unit_finish(m, ws, &cur, &zl);
    prev = cur;
    have_prev = 1;
    if (!have_next) break;
    cur = next;
  }
  unit_accumulate(m, ws, &prev, &zl, with_jac);
}

/* Lane sums, in lane order, into out[j] (j's lanes at acc + j pitch). */
static void reduce_lanes(size_t nj, size_t pitch, const double *acc, double *out) {
  for (size_t j = 0; j < nj; j++) {
    double t = 0.0;
    for (size_t l = 0; l < LANES; l++) t += acc[j * pitch + l];
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

/* The markup sums N of offer j's group in the current block (zeros if j is in no group). */
static KERNEL_INLINE const double *group_lanes(const moat_pricing_ws_t *ws, size_t j) {
  return ws->grp[j] == SIZE_MAX ? ws->zero_lanes : ws->gsum + ws->grp[j] * LANES;
}

/* v = V / lambda = (b - alpha p) / lambda and the nest's running maximum of it (one offer). */
static KERNEL_INLINE void lanes_scale_max(const double *restrict b, const double *restrict alpha,
                                          double p, double il, double *restrict v,
                                          double *restrict nm) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    v[l] = KMADD(-alpha[l], p, b[l]) * il;
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
    for (size_t l = 0; l < LANES; l++) { /* != 0: I' >= 0 (a quiet compare) */
      double v = lam * (nm[l] + 0.0);
      lg[l] = moat_fastexp_pick(ns[l] != 0.0, v, -INFINITY);
    }
  } else {
#pragma GCC unroll 1 /* see UNROLL */
    for (size_t l = 0; l < LANES; l++) {
      double x = moat_fastexp_pick(ns[l] != 0.0, ns[l], 1.0);
      double v = lam * (nm[l] + moat_fastlog_pos(x));
      lg[l] = moat_fastexp_pick(ns[l] != 0.0, v, -INFINITY);
    }
  }
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) lmax[l] = lg[l] > lmax[l] ? lg[l] : lmax[l];
}

/* lanes_exp_sum for the only offer of a nest: e = 1 where feasible, else 0 (bitwise the same). */
static KERNEL_INLINE void lanes_one_sum(double *restrict v, double *restrict ns) {
#pragma GCC unroll 1 /* see UNROLL */
  for (size_t l = 0; l < LANES; l++) {
    v[l] = moat_fastexp_pick(v[l] > -INFINITY, 1.0, 0.0);
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
    ms[l] = KMADD(s[l], mu, ms[l]);
    gs[l] = KMADD(cs[l], mu, gs[l]);
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
  /* maxima from -DBL_MAX, not -INFINITY, as in block_utilities: a nest or row with nothing
   * feasible keeps it, exp(-inf + DBL_MAX) = 0, and no fix-up loop is needed */
  for (size_t i = 0; i < ng * LANES; i++) nmax[i] = -DBL_MAX, nsum[i] = 0.0;
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    lanes_scale_max(bt + j * LANES, alpha, price[j], ws->inv_lam[j], cs + j * LANES,
                    nmax + (size_t)m->nest[j] * LANES);
  }
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c], g = (size_t)m->nest[j];
    if (ws->nest_single[g]) /* V/lambda is the nest's maximum: exp(0) = 1 exactly, or 0 */
      lanes_one_sum(cs + j * LANES, nsum + g * LANES);
    else
      lanes_exp_sum(cs + j * LANES, nmax + g * LANES, nsum + g * LANES);
  }
  for (size_t l = 0; l < LANES; l++) lmax[l] = -DBL_MAX, tot[l] = 0.0;
  for (size_t g = 0; g < ng; g++)
    lanes_logsum(nmax + g * LANES, nsum + g * LANES, ws->nest_lam[g], ws->nest_single[g],
                 nsh + g * LANES, lmax);
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
    if (!ws->nest_single[g]) /* else I' is 0 or 1, its own inverse as lanes_invert's */
      lanes_invert(ns);
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
    double t = s[l], wat = wa[l] * t;
    dem[l] = KMADD(w[l], t, dem[l]);
    lam[l] = KMADD(wat, il, lam[l]);
    gam[l] = KMADD(wat, KMADD(kap, gs[l], ms[l]), gam[l]);
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
  if (with_gamma) { /* a few lanes each: vector stores, not a memset call per block */
    for (size_t f = 0; f < nf; f++) lanes_zero(ws->msum + f * LANES);
    for (size_t q = 0; q < ws->n_grp; q++) lanes_zero(ws->gsum + q * LANES);
  }
  block_nested(m, ws, blk, price, share, cs, with_gamma);
  for (size_t c = 0; c < nc; c++) {
    size_t j = cols[c];
    const double *ms = with_gamma ? ws->msum + ws->sel[j] * LANES : ws->zero_lanes;
    const double *gs = with_gamma ? group_lanes(ws, j) : ws->zero_lanes;
    lanes_accumulate_nested(share + j * LANES, w, wa, ws->inv_lam[j], ws->kap[j], ms, gs,
                            ws->acc + j * ACC_PITCH, ws->acc + j * ACC_PITCH + LANES,
                            ws->acc + j * ACC_PITCH + 2 * LANES);
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
  /* ivdep: the ten outputs are rows of out, pitch >= LANES apart, which GCC cannot tell from
   * one pointer: without it the loop stayed scalar (8 % of a baseline path's time). */
#pragma GCC unroll 1 /* see UNROLL */
#pragma GCC ivdep
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
        lanes_zero(terms + k * pitch + a * LANES);
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
  memset(ws->acc, 0, nj * ACC_PITCH * sizeof(double));
  if (with_jac) memset(ws->acc_jac, 0, nn * nn * LANES * sizeof(double));
  for (size_t blk = 0; blk < ws->n_blocks; blk++) {
    block_zeta_nested(m, ws, blk, price, with_gamma);
    if (with_jac) block_jacobian_nested(ws, blk);
  }
  reduce_lanes(nj, ACC_PITCH, ws->acc, ws->dem);
  reduce_lanes(nj, ACC_PITCH, ws->acc + LANES, ws->lam);
  reduce_lanes(nj, ACC_PITCH, ws->acc + 2 * LANES, ws->gam);
  if (with_jac) reduce_lanes(nn * nn, LANES, ws->acc_jac, ws->jac_a);
}

/* One pass over the packed rows at `price`: ws->dem = S_j, ws->lam = Lambda_j and, with_gamma,
 * ws->gam = sum_{k in J_f(j)} Gamma_kj (p_k - c_k); with_jac (needs with_gamma) also
 * ws->jac_a, jac_same and jac_diag (A, B and D of block_jacobian, [i][j] over newton_idx). */
MOAT_FASTEXP_CLONES void moat_pricing_market_pass(const moat_market_t *m, moat_pricing_ws_t *ws,
                                      const double *price, int with_gamma, int with_jac) {
  if (ws->nested) {
    market_pass_nested(m, ws, price, with_gamma, with_jac);
    return;
  }
  size_t nj = m->n_offers, nn = ws->n_newton;
  memset(ws->acc, 0, nj * ACC_PITCH * sizeof(double));
  if (with_jac) {
    memset(ws->acc_jac, 0, nn * nn * LANES * sizeof(double));
    memset(ws->acc_same, 0, nn * nn * LANES * sizeof(double));
    memset(ws->acc_diag, 0, nn * LANES * sizeof(double));
  }
  double inv[LANES];
  if (with_gamma)
    blocks_zeta(m, ws, price, with_jac);
  else
    for (size_t blk = 0; blk < ws->n_blocks; blk++) {
      block_shares(ws->ncols[blk], ws->cols + blk * ws->cap_stride, ws->bt + blk * nj * LANES,
                   ws->alpha + blk * LANES, price, ws->share, inv);
      block_accumulate(ws, blk, inv);
    }
  reduce_lanes(nj, ACC_PITCH, ws->acc, ws->dem);
  reduce_lanes(nj, ACC_PITCH, ws->acc + LANES, ws->lam);
  reduce_lanes(nj, ACC_PITCH, ws->acc + 2 * LANES, ws->gam);
  if (with_jac) {
    reduce_lanes(nn * nn, LANES, ws->acc_jac, ws->jac_a);
    reduce_lanes(nn * nn, LANES, ws->acc_same, ws->jac_same);
    reduce_lanes(nn, LANES, ws->acc_diag, ws->jac_diag);
  }
}

/* The zeta map (MODEL.md §6): ws->next[j] = c_j + (S_j + sum_k Gamma_kj (p_k - c_k)) / Lambda_j
 * for priced offers. Where that is not a finite number (Lambda_j = 0: nobody can buy j) the
 * offer keeps its current price; a negative update is raised to 0. */
void moat_pricing_zeta_map(const moat_market_t *m, moat_pricing_ws_t *ws, const double *price,
                     int with_jac) {
  size_t nj = m->n_offers;
  for (size_t j = 0; j < nj; j++) {
    int owned = m->seller[j] >= 0;
    ws->sel[j] = owned ? (size_t)m->seller[j] : m->n_sellers;
    ws->markup[j] = owned ? price[j] - m->cost[j] : 0.0;
  }
  moat_pricing_market_pass(m, ws, price, 1, with_jac);
  for (size_t j = 0; j < nj; j++) {
    double p = m->cost[j] + (ws->dem[j] + ws->gam[j]) / ws->lam[j];
    ws->next[j] = moat_pricing_is_priced(m, j) && isfinite(p) ? fmax(p, 0.0) : price[j];
  }
}
