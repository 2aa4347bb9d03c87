/* pricing.h — logit choice and the multi-product Bertrand–Nash prices of one step (MODEL.md §5–§6). */
#ifndef MOATSIM_PRICING_H
#define MOATSIM_PRICING_H

#include <stddef.h>

/*
 * One step's market as the pricing kernel sees it. Rows are enterprise-segment pairs (i, s);
 * columns are offers j. Row r's utility of offer j, divided by its taste dispersion tau_r, is
 *     u_rj / tau_r = base[r][j] - alpha[r] * p_j
 * where base[r][j] = v_is * Qual_ij / tau_is (everything but the price) and alpha[r] = 1 / tau_is.
 * Infeasible offers have base = -INFINITY and get share exactly 0.
 * Shares are nested logit (MODEL.md §5) over the nests given by nest and lambda; when every
 * lambda_g is 1 (or nest is NULL) they are plain logit and the kernel runs its plain-logit code,
 * bitwise the same as a market without nests.
 * All arrays are caller-owned; rows are `stride` doubles apart (stride >= n_offers; padding
 * columns must hold -INFINITY).
 */
#define MOAT_MAX_NESTS 64 /* nests of one market (the model has at most 2 labs + 1: 33) */

typedef struct moat_market {
  size_t n_rows;        /* enterprise-segment rows */
  size_t n_offers;      /* offers */
  size_t stride;        /* row pitch of base, in doubles */
  const double *base;   /* [n_rows][stride], 1 (dimensionless) */
  const double *alpha;  /* [n_rows], price sensitivity 1/tau, Mtok/$ */
  const double *weight; /* [n_rows], W_is = D_i h_is, Mtok/step; 0 rows are skipped */
  const double *cost;   /* [n_offers], marginal cost c_j, $/Mtok */
  const int *seller;    /* [n_offers], seller index in [0, n_sellers), or -1: not priced by a seller */
  const unsigned char *fixed; /* [n_offers], 1: price held as given (local at cost, war aggressor) */
  size_t n_sellers;
  /* Nested logit (MODEL.md §5). nest == NULL: every offer is a nest of its own (plain logit). */
  const int *nest;       /* [n_offers], nest g(j) in [0, n_nests) */
  const double *lambda;  /* [n_nests], lambda_g in (0, 1] (1 - host similarity; 1: plain logit) */
  size_t n_nests;        /* <= n_offers and <= MOAT_MAX_NESTS */
} moat_market_t;

/* Outcome of one solve. */
typedef struct moat_pricing_result {
  int iterations; /* passes over the rows: zeta iterations, Newton steps included (one each) */
  int converged;  /* 1 if max_j |dp_j|/p_j < tol was reached within max_iterations */
  double max_rel_change; /* at the last iteration */
} moat_pricing_result_t;

/* Scratch memory for a market of up to n_rows x n_offers (stride) and n_sellers. */
typedef struct moat_pricing_ws moat_pricing_ws_t;
moat_pricing_ws_t *moat_pricing_ws_alloc(size_t n_rows, size_t stride, size_t n_sellers);
void moat_pricing_ws_free(moat_pricing_ws_t *ws);

/* Logit shares s[r][j] at prices p (row maximum subtracted; rows sum to 1 over feasible offers;
 * a row with no feasible offer gets all zeros). shares has the layout of base. Nested: each
 * nest's V/lambda shifted by its maximum, the nests' log-sums by their row maximum; bitwise the
 * shares the solver works with. Nest indices must be valid (moat_pricing_solve checks them). */
void moat_choice_shares(const moat_market_t *m, const double *price, double *shares);

/* Aggregate demand S_j = sum_r weight_r s_rj at prices p. ws must be at least as large as m
 * (a programming error otherwise: then every S_j is NaN). */
void moat_choice_demand(const moat_market_t *m, const double *price, double *demand,
                        moat_pricing_ws_t *ws);

/*
 * Solve the first-order conditions with the zeta fixed point (Morrow & Skerlos 2011), starting
 * from `price` (in/out, $/Mtok). Offers with fixed[j] or seller[j] < 0 keep their price.
 * Stops when max_j |dp_j|/p_j < tol, dp being the zeta map's update (the iteration is
 * Anderson-accelerated and finished with Newton steps on the first-order conditions unless
 * switched off, see sim/model/pricing_solve.c; the returned prices are then the map's last
 * update); after max_iter iterations without convergence, goes on with damped updates
 * p += (update - p)/2 for another max_iter iterations at most and reports converged = 0.
 * Never produces NaN or a negative price: a non-finite update keeps the last price (so an offer
 * nobody can buy, Lambda_j = 0, keeps the price it came with: 1.5 c_j at a cold start), and a
 * negative update is raised to 0. Bitwise reproducible for the same binary and input (also
 * across the processor-specific versions of the kernel). Returns MOAT_OK, or MOAT_EINVAL if
 * ws is smaller than m, a seller index is >= n_sellers, a nest index is >= n_nests, n_nests >
 * n_offers or MOAT_MAX_NESTS, a lambda is outside (0, 1] or max_iter < 0 (price untouched).
 */
int moat_pricing_solve(const moat_market_t *m, double *price, double tol, int max_iter,
                       moat_pricing_ws_t *ws, moat_pricing_result_t *res);

/* Switch the Anderson acceleration of moat_pricing_solve on (default) or off (on = 0: the plain
 * zeta iteration, about 3 times as many iterations on the baseline). Where several price
 * vectors satisfy the first-order conditions the plain iteration's dynamics choose; the
 * accelerated solve starts late so as to end on the same one (it did on every baseline step
 * measured; see sim/model/pricing_solve.c). */
void moat_pricing_ws_set_acceleration(moat_pricing_ws_t *ws, int on);

/* Switch the Newton phase of moat_pricing_solve on (default) or off (on = 0: the accelerated
 * zeta iteration to the end). Newton steps need the acceleration on. */
void moat_pricing_ws_set_newton(moat_pricing_ws_t *ws, int on);

#endif
