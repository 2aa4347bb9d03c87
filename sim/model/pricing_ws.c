/* pricing_ws.c — the pricing workspace: allocation, size check and solver switches. */
#include "pricing_internal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
  ws->share = alloc_doubles(4 * stride * LANES);
  ws->msum = alloc_doubles(4 * (n_sellers + 1) * LANES);
  ws->gfac = alloc_doubles(4 * (n_sellers + 1) * LANES);
  ws->acc = alloc_doubles(stride * ACC_PITCH);
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
      !ws->gfac || !ws->acc || !ws->dem || !ws->lam || !ws->gam ||
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
  free(ws->gfac);
  free(ws->acc);
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

int moat_pricing_ws_fits(const moat_market_t *m, const moat_pricing_ws_t *ws) {
  return ws && m->n_rows <= ws->cap_rows && m->n_offers <= ws->cap_stride &&
         m->n_sellers <= ws->cap_sellers && m->n_offers <= m->stride;
}

void moat_pricing_ws_set_acceleration(moat_pricing_ws_t *ws, int on) {
  ws->accelerate = on != 0;
}

void moat_pricing_ws_set_newton(moat_pricing_ws_t *ws, int on) {
  ws->newton = on != 0;
}
