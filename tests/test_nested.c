/* test_nested.c — nested logit over the hosts of an open model (MODEL.md §5-§6): shares, the generalized zeta map, its Newton phase and the closed forms. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "moatsim/fastexp.h"
#include "moatsim/pricing.h"
#include "moatsim/scenario.h"
#include "pricing_fixture.h"

enum { MAXJ = 32 };

/* The sigmas of the closed-form tests (MODEL.md §6): 0 runs the plain-logit code. */
static const double SIGMAS[] = {0.0, 0.5, 0.9, 0.95};
#define N_SIGMAS (sizeof SIGMAS / sizeof SIGMAS[0])

/* A market's nests, with storage. */
typedef struct nests {
  int nest[MAXJ];
  double lambda[MAXJ];
} nests_t;

/* Attach nests to fm: nest[j] given, lambda = 1 - sigma for the nests listed as shared,
 * 1 for the others. */
static void set_nests(fixture_market_t *fm, nests_t *ns, const int *nest, size_t n_nests,
                      const int *shared, double sigma) {
  for (size_t j = 0; j < fm->m.n_offers; j++) ns->nest[j] = nest[j];
  for (size_t g = 0; g < n_nests; g++) ns->lambda[g] = shared[g] ? 1.0 - sigma : 1.0;
  fm->m.nest = ns->nest;
  fm->m.lambda = ns->lambda;
  fm->m.n_nests = n_nests;
}

static int priced(const moat_market_t *m, size_t j) {
  return m->seller[j] >= 0 && !m->fixed[j];
}

static void start_prices(const moat_market_t *m, double *price) {
  for (size_t j = 0; j < m->n_offers; j++)
    price[j] = m->seller[j] < 0 ? m->cost[j] : 1.5 * m->cost[j];
}

static moat_pricing_result_t solve_opts(const moat_market_t *m, double *price, double tol,
                                        int accelerate, int newton) {
  moat_pricing_ws_t *ws = moat_pricing_ws_alloc(m->n_rows, m->stride, m->n_sellers);
  assert_non_null(ws);
  moat_pricing_ws_set_acceleration(ws, accelerate);
  moat_pricing_ws_set_newton(ws, newton);
  moat_pricing_result_t res;
  assert_int_equal(moat_pricing_solve(m, price, tol, 20000, ws, &res), MOAT_OK);
  moat_pricing_ws_free(ws);
  return res;
}

static double max_abs(const double *x, size_t n) {
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) worst = fabs(x[i]) > worst ? fabs(x[i]) : worst;
  return worst;
}

/*
 * The naive nested-logit formula of MODEL.md §5 for row r, with libm and no shifting at all:
 *   I_g = sum_{k in g} exp(V_k / lambda_g), s_g = I_g^lambda_g / sum_h I_h^lambda_h,
 *   s_j|g = exp(V_j / lambda_g) / I_g, s_j = s_j|g s_g.
 * Only for utilities where nothing overflows (|V/lambda| < 700). cond[j] = s_j|g, sg[g] = s_g
 * (either may be NULL).
 */
static void naive_shares(const moat_market_t *m, const double *price, size_t r, double *s,
                         double *cond, double *sg) {
  double incl[MAXJ] = {0}, tot = 0.0, v[MAXJ], c[MAXJ], g_share[MAXJ];
  for (size_t j = 0; j < m->n_offers; j++) {
    v[j] = m->base[r * m->stride + j] - m->alpha[r] * price[j];
    incl[m->nest[j]] += exp(v[j] / m->lambda[m->nest[j]]);
  }
  for (size_t g = 0; g < m->n_nests; g++) tot += pow(incl[g], m->lambda[g]);
  for (size_t g = 0; g < m->n_nests; g++) g_share[g] = pow(incl[g], m->lambda[g]) / tot;
  for (size_t j = 0; j < m->n_offers; j++) {
    size_t g = (size_t)m->nest[j];
    c[j] = incl[g] > 0.0 ? exp(v[j] / m->lambda[g]) / incl[g] : 0.0;
    s[j] = c[j] * g_share[g];
    if (cond) cond[j] = c[j];
  }
  if (sg)
    for (size_t g = 0; g < m->n_nests; g++) sg[g] = g_share[g];
}

/*
 * The nested-logit derivative ds_k/dp_j of one row (Train 2009, Discrete Choice Methods with
 * Simulation, §4.2.2: ds_k/dV_j for V = u/tau, times dV_j/dp_j = -alpha):
 *   ds_k/dp_j = -alpha s_k (delta_kj/lambda_g - (1 - lambda_g)/lambda_g [g(k) = g(j)] s_j|g - s_j).
 * (test_derivative_formula checks it against central differences of naive_shares.)
 */
static double share_derivative(const moat_market_t *m, size_t r, const double *s,
                               const double *cond, size_t k, size_t j) {
  double lam = m->lambda[m->nest[k]], same = m->nest[k] == m->nest[j] ? 1.0 : 0.0;
  return -m->alpha[r] * s[k] *
         ((k == j ? 1.0 : 0.0) / lam - (1.0 - lam) / lam * same * cond[j] - s[j]);
}

/*
 * First-order conditions from the derivative of each seller's profit (not the zeta form):
 *   FOC_j = S_j + sum_{k in J_f(j)} (p_k - c_k) dS_k/dp_j,  dS_k/dp_j = sum_r W_r ds_rk/dp_j,
 * a slow double loop over rows and pairs of offers. res[j] = FOC_j / S_j for priced offers with
 * S_j > 0, else 0; dem[j] = S_j.
 */
static void foc_residual(const moat_market_t *m, const double *price, double *res, double *dem) {
  size_t nj = m->n_offers;
  double s[MAXJ], cond[MAXJ], demand[MAXJ] = {0}, deriv[MAXJ][MAXJ] = {{0}};
  for (size_t r = 0; r < m->n_rows; r++) {
    naive_shares(m, price, r, s, cond, NULL);
    for (size_t j = 0; j < nj; j++) {
      demand[j] += m->weight[r] * s[j];
      for (size_t k = 0; k < nj; k++) deriv[k][j] += m->weight[r] * share_derivative(m, r, s, cond, k, j);
    }
  }
  for (size_t j = 0; j < nj; j++) {
    double d = demand[j];
    for (size_t k = 0; k < nj; k++)
      if (m->seller[k] >= 0 && m->seller[k] == m->seller[j]) d += (price[k] - m->cost[k]) * deriv[k][j];
    res[j] = priced(m, j) && demand[j] > 0.0 ? d / demand[j] : 0.0;
    if (dem) dem[j] = demand[j];
  }
}

/*
 * The generalized zeta map of MODEL.md §6 written out: per row and pair of offers,
 *   Lambda_j = sum W alpha s_j / lambda_g(j),
 *   Gamma_kj = sum W alpha s_k s_j (1 + [g(k) = g(j)] (1 - lambda_g) / (lambda_g s_g)),
 *   g_j = c_j + (S_j + sum_{k in J_f(j)} Gamma_kj (p_k - c_k)) / Lambda_j.
 */
static void slow_zeta_map(const moat_market_t *m, const double *price, double *g, double *lam_out) {
  size_t nj = m->n_offers;
  double s[MAXJ], sg[MAXJ], dem[MAXJ] = {0}, lam[MAXJ] = {0}, gam[MAXJ][MAXJ] = {{0}};
  for (size_t r = 0; r < m->n_rows; r++) {
    naive_shares(m, price, r, s, NULL, sg);
    double wa = m->weight[r] * m->alpha[r];
    for (size_t j = 0; j < nj; j++) {
      size_t gj = (size_t)m->nest[j];
      double l = m->lambda[gj];
      dem[j] += m->weight[r] * s[j];
      lam[j] += wa * s[j] / l;
      for (size_t k = 0; k < nj; k++) {
        double within = m->nest[k] == m->nest[j] && sg[gj] > 0.0 ? (1.0 - l) / (l * sg[gj]) : 0.0;
        gam[k][j] += wa * s[k] * s[j] * (1.0 + within);
      }
    }
  }
  for (size_t j = 0; j < nj; j++) {
    double t = dem[j];
    for (size_t k = 0; k < nj; k++)
      if (m->seller[k] >= 0 && m->seller[k] == m->seller[j]) t += gam[k][j] * (price[k] - m->cost[k]);
    g[j] = m->cost[j] + t / lam[j];
    lam_out[j] = lam[j];
  }
}

/* Column j as the outside option: no seller, price and cost 0 (held), base b in every row. */
static void set_outside(fixture_market_t *fm, size_t j, double b) {
  fm->seller[j] = -1, fm->fixed[j] = 1, fm->cost[j] = 0.0;
  for (size_t r = 0; r < fm->m.n_rows; r++) fm->base[r * fm->m.stride + j] = b;
}

/* A homogeneous segment (identical rows, weights differing) over nj offers with the given
 * sellers, base in [1, 4] and costs in [0.5, 3.5]; the last offer is the outside option. */
static void homogeneous_market(fixture_market_t *fm, size_t rows, const int *sellers, size_t nj,
                               double alpha, uint64_t seed) {
  assert_int_equal(fixture_market_homogeneous(fm, rows, sellers, nj, alpha, seed), 0);
  set_outside(fm, nj - 1, 1.0);
}

/*
 * Closed form 1 (MODEL.md §6): a single-product seller j in nest g, one homogeneous segment,
 *   p_j - c_j = tau lambda / (1 - (1 - lambda) s_j|g - lambda s_j),
 * from FOC s_j + m_j ds_j/dp_j = 0 with ds_j/dp_j = -alpha s_j (1/lambda - kappa s_j|g - s_j)
 * (singletons: lambda = 1, tau / (1 - s_j)). Market: a nest of three hosts {0, 1, 2}, a nest of
 * two {3, 4}, two single offers and the outside option, seven sellers. Tolerance: solved to
 * 1e-13 relative; the map's contraction leaves prices within ~1e-11, the shares of the closed
 * form come from libm (a few eps from the kernel's): 1e-9 relative.
 */
static void test_single_product_nested(void **state) {
  (void)state;
  const int sellers[] = {0, 1, 2, 3, 4, 5, 6, -1};
  const int nest[] = {0, 0, 0, 1, 1, 2, 3, 4}, shared[] = {1, 1, 0, 0, 0};
  for (size_t k = 0; k < N_SIGMAS; k++) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
      fixture_market_t fm;
      nests_t ns;
      double alpha = 0.4 * (double)seed, tau = 1.0 / alpha, price[8], s[8], cond[8];
      homogeneous_market(&fm, 23, sellers, 8, alpha, seed);
      set_nests(&fm, &ns, nest, 5, shared, SIGMAS[k]);
      start_prices(&fm.m, price);
      assert_true(solve_opts(&fm.m, price, 1e-13, 1, 1).converged);
      naive_shares(&fm.m, price, 0, s, cond, NULL);
      for (size_t j = 0; j < 7; j++) {
        double lam = ns.lambda[nest[j]];
        double expect = tau * lam / (1.0 - (1.0 - lam) * cond[j] - lam * s[j]);
        assert_true(fabs(price[j] - fm.cost[j] - expect) <= 1e-9 * expect);
      }
      fixture_market_free(&fm);
    }
  }
}

/*
 * Closed form 2: n = 3 symmetric single-product hosts in one nest (same base, same cost) and the
 * outside option. By symmetry s_j|g = 1/n, so closed form 1 reads
 *   p - c = tau lambda / (1 - (1 - lambda)/n - lambda s_j),
 * which tends to 0 as lambda -> 0 (Bertrand between hosts of the same weights). Checked at each
 * sigma (1e-9 as above), and the markup falls strictly from each sigma to the next, to below
 * tau lambda / (1 - 1/n) (1 + 1e-9) (the bound at s_j -> 0, 0.075 tau at 0.95).
 */
static void test_symmetric_hosts(void **state) {
  (void)state;
  const int sellers[] = {0, 1, 2, -1};
  const int nest[] = {0, 0, 0, 1}, shared[] = {1, 0};
  const double alpha = 0.5, tau = 2.0;
  double last = INFINITY;
  for (size_t k = 0; k < N_SIGMAS; k++) {
    fixture_market_t fm;
    nests_t ns;
    double price[4], s[4];
    homogeneous_market(&fm, 11, sellers, 4, alpha, 5);
    for (size_t r = 0; r < 11; r++)
      for (size_t j = 0; j < 3; j++) fm.base[r * fm.m.stride + j] = 3.0;
    fm.cost[0] = fm.cost[1] = fm.cost[2] = 1.0;
    set_nests(&fm, &ns, nest, 2, shared, SIGMAS[k]);
    start_prices(&fm.m, price);
    assert_true(solve_opts(&fm.m, price, 1e-13, 1, 1).converged);
    naive_shares(&fm.m, price, 0, s, NULL, NULL);
    double lam = 1.0 - SIGMAS[k], markup = price[0] - 1.0;
    double expect = tau * lam / (1.0 - (1.0 - lam) / 3.0 - lam * s[0]);
    for (size_t j = 0; j < 3; j++) assert_true(fabs(price[j] - 1.0 - expect) <= 1e-9 * expect);
    assert_true(markup < last);
    assert_true(markup <= tau * lam / (1.0 - 1.0 / 3.0) * (1.0 + 1e-9));
    print_message("sigma %.2f: host markup %.6f (tau %.1f)\n", SIGMAS[k], markup, tau);
    last = markup;
    fixture_market_free(&fm);
  }
}

/*
 * Closed form 3: one seller owning a whole nest charges tau / (1 - s_g) on each of its offers
 * (sum over its nest of ds_k/dp_j = -alpha s_j (1 - s_g): the nest acts as one product).
 * Market: seller 0 owns nest {0, 1, 2} (different bases and costs), two single-product rivals
 * in a nest of their own {3, 4}, one singleton, the outside option. 1e-9 as above.
 */
static void test_nest_owner(void **state) {
  (void)state;
  const int sellers[] = {0, 0, 0, 1, 2, 3, -1};
  const int nest[] = {0, 0, 0, 1, 1, 2, 3}, shared[] = {1, 1, 0, 0};
  for (size_t k = 0; k < N_SIGMAS; k++) {
    for (uint64_t seed = 7; seed <= 9; seed++) {
      fixture_market_t fm;
      nests_t ns;
      double alpha = 0.7, price[7], s[7], sg[7];
      homogeneous_market(&fm, 17, sellers, 7, alpha, seed);
      set_nests(&fm, &ns, nest, 4, shared, SIGMAS[k]);
      start_prices(&fm.m, price);
      assert_true(solve_opts(&fm.m, price, 1e-13, 1, 1).converged);
      naive_shares(&fm.m, price, 0, s, NULL, sg);
      double expect = 1.0 / alpha / (1.0 - sg[0]);
      for (size_t j = 0; j < 3; j++) assert_true(fabs(price[j] - fm.cost[j] - expect) <= 1e-9 * expect);
      fixture_market_free(&fm);
    }
  }
}

/* A random nested market in the model's shape: offers 0-1 a closed lab (seller 0), 2-3 another
 * (seller 1); two open models {4, 5, 6, 7} and {8, 9, 10, 11}: first-party API (sellers 2 and
 * 3), two clouds (sellers 4 and 5, each hosting both models: multi-product across nests), a
 * local offer at cost; offer 12 the outside option. Alpha spread over a factor 30, weights as
 * in fixture_market_random, 15 % of the non-local cells infeasible, offer 5 held when
 * hold_one. */
enum { NR_OFFERS = 13, NR_NESTS = 7 };
static void nested_random_market(fixture_market_t *fm, nests_t *ns, size_t rows, double sigma,
                                 uint64_t seed, int hold_one) {
  static const int sellers[NR_OFFERS] = {0, 0, 1, 1, 2, 4, 5, -1, 3, 4, 5, -1, -1};
  static const int nest[NR_OFFERS] = {0, 1, 2, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6};
  static const int shared[NR_NESTS] = {0, 0, 0, 0, 1, 1, 0};
  memset(fm, 0, sizeof *fm);
  if (fixture_market_alloc(fm, rows, NR_OFFERS, NR_OFFERS + 3, 6) != 0) fail();
  uint64_t st = seed;
  for (size_t j = 0; j < NR_OFFERS; j++) {
    fm->seller[j] = sellers[j];
    fm->cost[j] = 0.5 + 3.0 * fixture_uniform(&st);
    fm->fixed[j] = sellers[j] < 0 || (hold_one && j == 5);
  }
  for (size_t r = 0; r < rows; r++) {
    fm->alpha[r] = 0.1 * pow(30.0, fixture_uniform(&st));
    fm->weight[r] = fixture_uniform(&st) < 0.05 ? 0.0 : 0.1 + 9.9 * fixture_uniform(&st);
    for (size_t j = 0; j < NR_OFFERS; j++) {
      int feasible = sellers[j] < 0 || fixture_uniform(&st) >= 0.15;
      fm->base[r * fm->m.stride + j] = feasible ? 2.0 + 4.0 * fixture_uniform(&st) : -INFINITY;
    }
  }
  set_outside(fm, NR_OFFERS - 1, 2.0);
  set_nests(fm, ns, nest, NR_NESTS, shared, sigma);
}

/*
 * Shares against the naive formula (libm, no shifting): 1e-13 absolute (shares are O(1); the
 * kernel's exp and log are within a few eps of libm's); rows sum to 1; infeasible cells exactly
 * 0. Stability: adding 600 to every utility of a row (V/lambda up to 12000 at sigma = 0.95, far
 * beyond exp's range) leaves the shares within 1e-12 (the shares do not depend on a common
 * shift; the kernel's shift by maxima absorbs it up to rounding of V). moat_choice_demand equals
 * sum_r W_r s_r to 1e-12 relative.
 */
static void test_shares_naive(void **state) {
  (void)state;
  enum { ROWS = 61 };
  const double sig[] = {0.3, 0.8, 0.95};
  for (size_t k = 0; k < 3; k++) {
    fixture_market_t fm, shifted;
    nests_t ns, ns2;
    nested_random_market(&fm, &ns, ROWS, sig[k], 40 + k, 0);
    nested_random_market(&shifted, &ns2, ROWS, sig[k], 40 + k, 0);
    for (size_t i = 0; i < ROWS * shifted.m.stride; i++) shifted.base[i] += 600.0;
    double price[NR_OFFERS], *s = malloc(ROWS * fm.m.stride * sizeof *s);
    double *t = malloc(ROWS * fm.m.stride * sizeof *t), ref[NR_OFFERS], dem[NR_OFFERS];
    double want[NR_OFFERS] = {0};
    assert_non_null(s);
    assert_non_null(t);
    uint64_t st = 9;
    for (size_t j = 0; j < NR_OFFERS; j++) price[j] = fm.cost[j] * (1.0 + fixture_uniform(&st));
    moat_choice_shares(&fm.m, price, s);
    moat_choice_shares(&shifted.m, price, t);
    for (size_t r = 0; r < ROWS; r++) {
      naive_shares(&fm.m, price, r, ref, NULL, NULL);
      double sum = 0.0;
      for (size_t j = 0; j < NR_OFFERS; j++) {
        double v = s[r * fm.m.stride + j];
        assert_true(fabs(v - ref[j]) < 1e-13);
        assert_true(fabs(t[r * fm.m.stride + j] - v) < 1e-12);
        if (fm.base[r * fm.m.stride + j] == -INFINITY) assert_true(v == 0.0);
        sum += v;
        want[j] += fm.weight[r] * v;
      }
      assert_true(fabs(sum - 1.0) < 1e-14);
    }
    moat_pricing_ws_t *ws = moat_pricing_ws_alloc(ROWS, fm.m.stride, 6);
    assert_non_null(ws);
    moat_choice_demand(&fm.m, price, dem, ws);
    for (size_t j = 0; j < NR_OFFERS; j++) assert_true(fabs(dem[j] - want[j]) <= 1e-12 * want[j]);
    moat_pricing_ws_free(ws);
    free(s);
    free(t);
    fixture_market_free(&fm);
    fixture_market_free(&shifted);
  }
}

/* The derivative formula of the slow FOC against central differences of the naive shares
 * (step 1e-6: truncation ~1e-12, rounding ~1e-10 on O(1) derivatives; 1e-8 absolute). */
static void test_derivative_formula(void **state) {
  (void)state;
  fixture_market_t fm;
  nests_t ns;
  nested_random_market(&fm, &ns, 5, 0.9, 77, 0);
  double price[NR_OFFERS], s[NR_OFFERS], cond[NR_OFFERS], sp[NR_OFFERS], sm[NR_OFFERS];
  for (size_t j = 0; j < NR_OFFERS; j++) price[j] = 1.3 * fm.cost[j];
  for (size_t r = 0; r < 5; r++) {
    naive_shares(&fm.m, price, r, s, cond, NULL);
    for (size_t j = 0; j < NR_OFFERS; j++) {
      double h = 1e-6, keep = price[j];
      price[j] = keep + h;
      naive_shares(&fm.m, price, r, sp, NULL, NULL);
      price[j] = keep - h;
      naive_shares(&fm.m, price, r, sm, NULL, NULL);
      price[j] = keep;
      for (size_t k = 0; k < NR_OFFERS; k++)
        assert_true(fabs((sp[k] - sm[k]) / (2 * h) - share_derivative(&fm.m, r, s, cond, k, j)) < 1e-8);
    }
  }
  fixture_market_free(&fm);
}

/*
 * One pass of the solver is the generalized zeta map: with tol = +inf the solve stops after its
 * first pass and returns g(p). Against slow_zeta_map (MODEL.md §6 as written) to 1e-10
 * relative, and against the derivative form of the FOC, (g_j - p_j) Lambda_j / S_j = FOC_j / S_j
 * to 1e-11 absolute (both O(1) sums of O(100) terms), at random prices on random nested
 * markets with a held offer. Offers held or nobody buys keep their price bit for bit.
 */
static void test_one_pass_is_the_zeta_map(void **state) {
  (void)state;
  enum { ROWS = 157 };
  for (uint64_t seed = 200; seed < 208; seed++) {
    fixture_market_t fm;
    nests_t ns;
    nested_random_market(&fm, &ns, ROWS, seed % 2 ? 0.5 : 0.9, seed, 1);
    double price[NR_OFFERS], g[NR_OFFERS], slow[NR_OFFERS], lam[NR_OFFERS], foc[NR_OFFERS];
    double dem[NR_OFFERS];
    uint64_t st = seed;
    for (size_t j = 0; j < NR_OFFERS; j++)
      price[j] = priced(&fm.m, j) ? fm.cost[j] * (1.2 + 1.8 * fixture_uniform(&st)) : fm.cost[j];
    memcpy(g, price, sizeof price);
    moat_pricing_result_t res = solve_opts(&fm.m, g, INFINITY, 0, 0);
    assert_int_equal(res.iterations, 1);
    slow_zeta_map(&fm.m, price, slow, lam);
    foc_residual(&fm.m, price, foc, dem);
    for (size_t j = 0; j < NR_OFFERS; j++) {
      if (!priced(&fm.m, j) || !(dem[j] > 0.0)) {
        assert_memory_equal(&g[j], &price[j], sizeof(double));
        continue;
      }
      assert_true(fabs(g[j] - slow[j]) <= 1e-10 * slow[j]);
      assert_true(fabs((g[j] - price[j]) * lam[j] / dem[j] - foc[j]) < 1e-11);
    }
    fixture_market_free(&fm);
  }
}

/*
 * Random nested markets at sigma 0.5, 0.8, 0.95: the default solve (Anderson + Newton) and the
 * plain zeta iteration converge, the slow FOC holds at both their prices to 1e-8 (as in
 * test_pricing.c), the plain iteration needs more passes, held offers keep their price, and both
 * end on the same prices (1e-7 relative) on at least 6 of the 8 markets. These markets can have
 * several solutions of the FOC (as the plain-logit ones, sim/model/pricing_solve.c): at sigma = 0.95 on the
 * markets of seeds 105 and 106 the two solves end on two different ones, both with |FOC|/S
 * below 1e-12 (all the same at 0.5 and 0.8).
 */
static void test_random_nested_markets(void **state) {
  (void)state;
  enum { ROWS = 97 };
  const double sig[] = {0.5, 0.8, 0.95};
  for (size_t k = 0; k < 3; k++) {
    int its_newton = 0, its_plain = 0, n_other = 0;
    for (uint64_t seed = 100; seed < 108; seed++) {
      fixture_market_t fm;
      nests_t ns;
      nested_random_market(&fm, &ns, ROWS, sig[k], seed, (int)(seed % 2));
      double price[NR_OFFERS], plain[NR_OFFERS], start[NR_OFFERS], foc[NR_OFFERS];
      start_prices(&fm.m, price);
      memcpy(start, price, sizeof price);
      memcpy(plain, price, sizeof price);
      moat_pricing_result_t rn = solve_opts(&fm.m, price, 1e-12, 1, 1);
      moat_pricing_result_t rp = solve_opts(&fm.m, plain, 1e-12, 0, 0);
      assert_true(rn.converged && rp.converged);
      foc_residual(&fm.m, price, foc, NULL);
      assert_true(max_abs(foc, NR_OFFERS) < 1e-8);
      double focp[NR_OFFERS];
      foc_residual(&fm.m, plain, focp, NULL);
      assert_true(max_abs(focp, NR_OFFERS) < 1e-8);
      int same = 1;
      for (size_t j = 0; j < NR_OFFERS; j++) {
        assert_true(isfinite(price[j]) && price[j] >= 0.0);
        same &= fabs(price[j] - plain[j]) <= 1e-7 * plain[j];
        if (!priced(&fm.m, j)) assert_memory_equal(&price[j], &start[j], sizeof(double));
      }
      if (!same) print_message("sigma %.2f, seed %d: another solution of the FOC than the plain map's\n", sig[k], (int)seed);
      n_other += !same;
      its_newton += rn.iterations, its_plain += rp.iterations;
      fixture_market_free(&fm);
    }
    print_message("sigma %.2f: %d passes (Anderson + Newton), %d (plain map), 8 markets\n",
                  sig[k], its_newton, its_plain);
    assert_true(its_newton < its_plain);
    assert_true(n_other <= 2);
  }
}

/*
 * The Newton phase's Jacobian is exact (quadratic convergence; a wrong one makes Newton linear
 * at best, or the solve falls back to the map): from prices where the map moves nothing by more
 * than 1e-6, a solve to 1e-13 takes at most 5 passes (one of the map with the Jacobian, then
 * Newton: 1e-6 -> ~1e-12 -> converged) and fewer than the accelerated map alone.
 */
static void test_newton_quadratic(void **state) {
  (void)state;
  enum { ROWS = 200 };
  const double sig[] = {0.5, 0.9, 0.95};
  for (size_t k = 0; k < 3; k++)
    for (uint64_t seed = 60; seed < 64; seed++) {
      fixture_market_t fm;
      nests_t ns;
      nested_random_market(&fm, &ns, ROWS, sig[k], seed, 0);
      double price[NR_OFFERS], again[NR_OFFERS], foc[NR_OFFERS];
      start_prices(&fm.m, price);
      assert_true(solve_opts(&fm.m, price, 1e-6, 0, 0).converged);
      memcpy(again, price, sizeof price);
      moat_pricing_result_t rn = solve_opts(&fm.m, price, 1e-13, 1, 1);
      moat_pricing_result_t ra = solve_opts(&fm.m, again, 1e-13, 1, 0);
      assert_true(rn.converged && ra.converged);
      assert_true(rn.iterations <= 5);
      assert_true(rn.iterations < ra.iterations);
      foc_residual(&fm.m, price, foc, NULL);
      assert_true(max_abs(foc, NR_OFFERS) < 1e-10);
      fixture_market_free(&fm);
    }
}

/*
 * Homogeneity: scaling every value and cost by k (tau -> k tau, so alpha -> alpha / k; base =
 * u/tau unchanged) scales every equilibrium price by k and leaves shares unchanged. k = 4 and
 * 1/8 are powers of two, so every operation of the scaled solve is the unscaled one times k
 * exactly: prices bitwise k times, shares bitwise equal. k = 3 to 1e-9 (both solved to 1e-12).
 */
static void test_homogeneity(void **state) {
  (void)state;
  enum { ROWS = 83 };
  const double ks[] = {4.0, 0.125, 3.0};
  for (size_t k = 0; k < N_SIGMAS; k++)
    for (size_t q = 0; q < 3; q++) {
      fixture_market_t a, b;
      nests_t na, nb;
      nested_random_market(&a, &na, ROWS, SIGMAS[k], 500 + k, 0);
      nested_random_market(&b, &nb, ROWS, SIGMAS[k], 500 + k, 0);
      for (size_t r = 0; r < ROWS; r++) b.alpha[r] = a.alpha[r] / ks[q];
      for (size_t j = 0; j < NR_OFFERS; j++) b.cost[j] = a.cost[j] * ks[q];
      double pa[NR_OFFERS], pb[NR_OFFERS], sa[NR_OFFERS], sb[NR_OFFERS];
      start_prices(&a.m, pa);
      start_prices(&b.m, pb);
      assert_true(solve_opts(&a.m, pa, 1e-12, 1, 1).converged);
      assert_true(solve_opts(&b.m, pb, 1e-12, 1, 1).converged);
      for (size_t j = 0; j < NR_OFFERS; j++) {
        if (q < 2) assert_true(pb[j] == ks[q] * pa[j]);
        assert_true(fabs(pb[j] - ks[q] * pa[j]) <= 1e-9 * ks[q] * pa[j]);
      }
      for (size_t r = 0; r < ROWS; r += 7) {
        naive_shares(&a.m, pa, r, sa, NULL, NULL);
        naive_shares(&b.m, pb, r, sb, NULL, NULL);
        for (size_t j = 0; j < NR_OFFERS; j++) assert_true(fabs(sa[j] - sb[j]) < 1e-9);
      }
      fixture_market_free(&a);
      fixture_market_free(&b);
    }
}

/* moat_fastlog_pos within 2 eps relative... of libm's log on [1, 64] (the log-sums' range) and on
 * a wide grid of normal numbers (absolute error 2 eps max(1, |ln x|)); ln 1 = 0 exactly. */
static void test_fastlog(void **state) {
  (void)state;
  assert_true(moat_fastlog_pos(1.0) == 0.0);
  double worst = 0.0;
  for (double x = 1.0; x < 64.0; x += 0.000977) {
    double err = fabs(moat_fastlog_pos(x) - log(x)) / fmax(1.0, fabs(log(x)));
    worst = err > worst ? err : worst;
  }
  for (double x = 1e-300; x < 1e300; x *= 1.37) {
    double err = fabs(moat_fastlog_pos(x) - log(x)) / fmax(1.0, fabs(log(x)));
    worst = err > worst ? err : worst;
  }
  print_message("fastlog: max error %.2g eps\n", worst / DBL_EPSILON);
  assert_true(worst <= 2.0 * DBL_EPSILON);
}

/* Invalid nests: MOAT_EINVAL, prices untouched; every lambda = 1 runs the plain-logit code
 * (bitwise the prices of the market without nests). */
static void test_bad_nests(void **state) {
  (void)state;
  fixture_market_t fm;
  nests_t ns;
  nested_random_market(&fm, &ns, 40, 0.5, 3, 0);
  moat_pricing_ws_t *ws = moat_pricing_ws_alloc(40, fm.m.stride, 6);
  assert_non_null(ws);
  double price[NR_OFFERS], before[NR_OFFERS], plain[NR_OFFERS];
  moat_pricing_result_t res;
  start_prices(&fm.m, price);
  memcpy(before, price, sizeof price);
  const double bad_lambda[] = {0.0, -0.5, 1.5, NAN};
  for (size_t k = 0; k < 4; k++) {
    ns.lambda[4] = bad_lambda[k];
    assert_int_equal(moat_pricing_solve(&fm.m, price, 1e-9, 100, ws, &res), MOAT_EINVAL);
    assert_memory_equal(price, before, sizeof price);
  }
  ns.lambda[4] = 0.5;
  ns.nest[3] = NR_NESTS;
  assert_int_equal(moat_pricing_solve(&fm.m, price, 1e-9, 100, ws, &res), MOAT_EINVAL);
  ns.nest[3] = 3;
  fm.m.n_nests = NR_OFFERS + 1;
  assert_int_equal(moat_pricing_solve(&fm.m, price, 1e-9, 100, ws, &res), MOAT_EINVAL);
  fm.m.n_nests = NR_NESTS;
  assert_memory_equal(price, before, sizeof price);
  for (size_t g = 0; g < NR_NESTS; g++) ns.lambda[g] = 1.0;
  assert_int_equal(moat_pricing_solve(&fm.m, price, 1e-12, 1000, ws, &res), MOAT_OK);
  fm.m.nest = NULL;
  memcpy(plain, before, sizeof before);
  assert_int_equal(moat_pricing_solve(&fm.m, plain, 1e-12, 1000, ws, &res), MOAT_OK);
  assert_memory_equal(price, plain, sizeof price);
  moat_pricing_ws_free(ws);
  fixture_market_free(&fm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_product_nested),
      cmocka_unit_test(test_symmetric_hosts),
      cmocka_unit_test(test_nest_owner),
      cmocka_unit_test(test_shares_naive),
      cmocka_unit_test(test_derivative_formula),
      cmocka_unit_test(test_one_pass_is_the_zeta_map),
      cmocka_unit_test(test_random_nested_markets),
      cmocka_unit_test(test_newton_quadratic),
      cmocka_unit_test(test_homogeneity),
      cmocka_unit_test(test_fastlog),
      cmocka_unit_test(test_bad_nests),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
