/* pricing_solve.c — Bertrand–Nash prices: the zeta iteration with Anderson and Newton phases (MODEL.md §6). */
#include "pricing_internal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    double w = moat_pricing_is_priced(m, j) ? 1.0 / (g[j] * g[j]) : 0.0, d[AA_DEPTH];
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
    ok = !moat_pricing_is_priced(m, j) || (isfinite(p) && p > 0.0);
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
    if (k > 0) { /* b = a a, row by row: b[r][c] gets its terms in order of i, as a dot product
                  * would, but the inner loop runs along rows (contiguous, vectorized); taking
                  * a's columns there cost 5 % of a baseline path */
      for (size_t r = 0; r < n; r++) {
        double *br = b + r * n;
        for (size_t c = 0; c < n; c++) br[c] = 0.0;
        for (size_t i = 0; i < n; i++) {
          double ari = a[r * n + i];
          const double *ai = a + i * n;
          for (size_t c = 0; c < n; c++) br[c] += ari * ai[c];
        }
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
  if (!moat_pricing_ws_fits(m, ws) || max_iter < 0) return MOAT_EINVAL;
  for (size_t j = 0; j < m->n_offers; j++)
    if (m->seller[j] >= 0 && (size_t)m->seller[j] >= m->n_sellers) return MOAT_EINVAL;
  if (moat_pricing_nest_setup(m, ws) != 0) return MOAT_EINVAL;
  moat_pricing_pack_rows(m, ws);
  ws->n_hist = 0;
  ws->n_newton = 0;
  for (size_t j = 0; j < m->n_offers; j++)
    if (moat_pricing_is_priced(m, j)) ws->newton_idx[ws->n_newton++] = j;
  if (ws->nested) nest_cross_groups(m, ws);
  double last_rel = INFINITY, rearm_rel = NEWTON_START, newton_prev_rel = INFINITY;
  int aa_its = 0, newton = 0, newton_steps = 0, jac = 0, n_jac = 0;
  int newton_off = !ws->accelerate || !ws->newton;
  for (int it = 0; it < 2 * max_iter; it++) {
    int damped = it >= max_iter;
    jac = jac && !damped;
    moat_pricing_zeta_map(m, ws, price, jac); /* Jacobian: see above */
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
