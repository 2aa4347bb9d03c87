/* pricing_shares.c — choice shares row by row, the nests' tables and the packing of rows into blocks. */
#include "pricing_internal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One row's shares, row-major (the layout of moat_choice_shares). Uses the same operations in
 * the same order as block_shares, so both give bitwise the same shares. Inlined into the clones
 * of moat_choice_shares: outside them the exp's fma() is a libm call per element (measured: the
 * final shares of a step took 7.5 % of a path's time that way, 1.5 % before fma()). */
static KERNEL_INLINE void row_shares(const double *b, double alpha, const double *price, size_t n, double *s) {
  double mx = -INFINITY;
  for (size_t j = 0; j < n; j++) {
    s[j] = KMADD(-alpha, price[j], b[j]); /* as block_utilities */
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
int moat_pricing_market_nested(const moat_market_t *m) {
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
    s[j] = KMADD(-alpha, price[j], b[j]) * (1.0 / m->lambda[g]); /* as lanes_scale_max */
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
  int nested = moat_pricing_market_nested(m);
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
void moat_pricing_pack_rows(const moat_market_t *m, moat_pricing_ws_t *ws) {
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

/* Per-call tables of the nests: lambda, 1/lambda, kappa per offer, (seller, nest) groups. Returns
 * 0, or -1 if the nests are not valid (a nest index out of range, n_nests > n_offers or > the
 * workspace, a lambda outside (0, 1]). ws->nested = 1 if some lambda < 1. */
int moat_pricing_nest_setup(const moat_market_t *m, moat_pricing_ws_t *ws) {
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
  ws->nested = moat_pricing_market_nested(m);
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

void moat_choice_demand(const moat_market_t *m, const double *price, double *demand,
                        moat_pricing_ws_t *ws) {
  if (!moat_pricing_ws_fits(m, ws)) { /* programming error: no workspace to work in; nothing is bought */
    for (size_t j = 0; j < m->n_offers; j++) demand[j] = NAN;
    return;
  }
  if (moat_pricing_nest_setup(m, ws) != 0) { /* invalid nests: a programming error, as above */
    for (size_t j = 0; j < m->n_offers; j++) demand[j] = NAN;
    return;
  }
  moat_pricing_pack_rows(m, ws);
  moat_pricing_market_pass(m, ws, price, 0, 0);
  memcpy(demand, ws->dem, m->n_offers * sizeof *demand);
}
