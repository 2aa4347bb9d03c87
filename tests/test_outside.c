/* test_outside.c — the outside option (buying nothing) and the decaying growth of demand:
 * closed forms of the pricing game with an outside good, the option's effect on whole paths,
 * and the demand growth factor against numerical integration. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "path_runner.h"
#include "moatsim/model.h"
#include "moatsim/pricing.h"
#include "moatsim/processes.h"

/* ---- the pricing game with an outside good ------------------------------------------- */

#define ROWS 8
#define STRIDE 4

typedef struct {
  double base[ROWS * STRIDE], alpha[ROWS], weight[ROWS], cost[STRIDE], price[STRIDE];
  int seller[STRIDE];
  unsigned char fixed[STRIDE];
  moat_market_t m;
} small_market_t;

/* Homogeneous rows (tau = 1/alpha): offers 0..n_inside-1 of seller `sellers[j]` with utility
 * base[j] and cost c[j], then the outside column (price 0, no seller, base b0). */
static void small_market(small_market_t *sm, size_t n_inside, const double *b, const double *c,
                         const int *sellers, double b0, double alpha) {
  memset(sm, 0, sizeof *sm);
  size_t cols = n_inside + 1;
  for (size_t r = 0; r < ROWS; r++) {
    sm->alpha[r] = alpha;
    sm->weight[r] = 1.0 + (double)r; /* unequal weights: shares are the same in every row */
    for (size_t j = 0; j < STRIDE; j++) sm->base[r * STRIDE + j] = j < n_inside ? b[j] : j == n_inside ? b0 : -INFINITY;
  }
  for (size_t j = 0; j < n_inside; j++) {
    sm->cost[j] = c[j];
    sm->seller[j] = sellers[j];
    sm->price[j] = 1.5 * c[j];
  }
  sm->seller[n_inside] = -1;
  sm->fixed[n_inside] = 1;
  int n_sellers = 0;
  for (size_t j = 0; j < n_inside; j++) n_sellers = sellers[j] + 1 > n_sellers ? sellers[j] + 1 : n_sellers;
  moat_market_t m = {ROWS, cols, STRIDE, sm->base, sm->alpha, sm->weight, sm->cost, sm->seller,
                     sm->fixed, (size_t)n_sellers, NULL, NULL, 0};
  sm->m = m;
}

static void solve_small(small_market_t *sm) {
  moat_pricing_ws_t *ws = moat_pricing_ws_alloc(ROWS, STRIDE, 2);
  assert_non_null(ws);
  moat_pricing_result_t res;
  assert_int_equal(moat_pricing_solve(&sm->m, sm->price, 1e-12, 10000, ws, &res), 0);
  assert_true(res.converged);
  moat_pricing_ws_free(ws);
}

/* A monopolist against the outside good: s(p) = 1 / (1 + exp(b0 - b + alpha p)) and the FOC
 * p - c = tau / (1 - s(p)). Its left side rises and its right side falls in p, so the root is
 * unique; it is found here by bisection, independently of the kernel's iteration. Without the
 * outside good (b0 = -inf) the monopolist's price would be unbounded. */
static double monopoly_price(double b, double c, double b0, double alpha) {
  double lo = c, hi = c + 1.0;
  double tau = 1.0 / alpha;
#define FOC(p) ((p) - c - tau * (1.0 + exp(b - alpha * (p) - b0)))
  while (FOC(hi) < 0.0) hi = c + 2.0 * (hi - c);
  for (int k = 0; k < 200; k++) {
    double mid = 0.5 * (lo + hi);
    if (FOC(mid) < 0.0) lo = mid;
    else hi = mid;
  }
#undef FOC
  return 0.5 * (lo + hi);
}

static void monopoly_against_outside_good(void **state) {
  (void)state;
  const double b[1] = {6.0}, c[1] = {0.4}, alpha = 4.0;
  const int sellers[1] = {0};
  for (double b0 = -2.0; b0 <= 4.0; b0 += 2.0) {
    small_market_t sm;
    small_market(&sm, 1, b, c, sellers, b0, alpha);
    solve_small(&sm);
    double p = monopoly_price(b[0], c[0], b0, alpha);
    assert_close(sm.price[0], p, 1e-10 * p);
    assert_true(sm.price[1] == 0.0); /* the outside good is never priced */
    /* The closed form of MODEL.md §6 with the outside good's share in the denominator. */
    double s = 1.0 / (1.0 + exp(b0 - b[0] + alpha * sm.price[0]));
    assert_close(sm.price[0] - c[0], 1.0 / (alpha * (1.0 - s)), 1e-9);
  }
}

/* A lone multi-product seller (every rival exited) against the outside good: its offers all
 * carry the markup tau / (1 - sum of its shares), and the prices stay finite. */
static void lone_seller_common_markup(void **state) {
  (void)state;
  const double b[2] = {7.0, 5.5}, c[2] = {1.0, 0.2}, alpha = 2.0, b0 = 0.0;
  const int sellers[2] = {0, 0};
  small_market_t sm;
  small_market(&sm, 2, b, c, sellers, b0, alpha);
  solve_small(&sm);
  double e0 = exp(b[0] - alpha * sm.price[0]), e1 = exp(b[1] - alpha * sm.price[1]), eo = exp(b0);
  double inside = (e0 + e1) / (e0 + e1 + eo);
  double markup = 1.0 / (alpha * (1.0 - inside));
  assert_close(sm.price[0] - c[0], markup, 1e-9);
  assert_close(sm.price[1] - c[1], markup, 1e-9);
  assert_true(isfinite(sm.price[0]) && sm.price[0] < 100.0);
}

/* ---- whole paths --------------------------------------------------------------------- */

static void small_baseline(moat_scenario_t *sc) {
  moat_fixture_baseline(sc);
  sc->enterprises.count = 150;
  sc->horizon_years = 1.0;
}

/* An outside option worth far less than any offer (u_0 = -10 v: its share is below e^-80)
 * changes nothing measurable: every market and lab metric of every step agrees with the
 * option switched off, to the solver's tolerance (1e-9 relative on prices; 1e-7 allows for
 * the differences compounding through volumes and the finance of a year). */
static void worthless_outside_option_changes_nothing(void **state) {
  (void)state;
  moat_scenario_t off, on;
  small_baseline(&off);
  off.enterprises.outside_option = 0;
  small_baseline(&on);
  on.enterprises.outside_value = -10.0;
  runner_t a, b;
  runner_init(&a, &off);
  runner_init(&b, &on);
  run(&a, &off, 0, 3);
  run(&b, &on, 0, 3);
  assert_int_equal(a.lay.per_path, b.lay.per_path);
  for (size_t n = 0; n < a.lay.n_steps; n++) {
    assert_true(a.out[moat_at_market(&a.lay, MOAT_MK_UNSERVED_SHARE, n)] == 0.0);
    assert_true(b.out[moat_at_market(&b.lay, MOAT_MK_UNSERVED_SHARE, n)] < 1e-30);
    for (int k = 0; k < MOAT_N_MARKET; k++) {
      if (k == MOAT_MK_PRICING_ITERATIONS || k == MOAT_MK_UNSERVED_SHARE) continue;
      double x = a.out[moat_at_market(&a.lay, k, n)], y = b.out[moat_at_market(&b.lay, k, n)];
      if (isnan(x)) {
        assert_true(isnan(y));
        continue;
      }
      assert_close(y, x, 1e-7 * (fabs(x) + 1e-12));
    }
  }
  runner_clear(&a);
  runner_clear(&b);
}

/* The more buying nothing is worth, the more demand goes unserved (step 0, where nothing else
 * differs between the runs). Prices need not fall with it in a market of heterogeneous buyers:
 * the work that leaves first is the lowest-valued, whose buyers are the most price-sensitive
 * (alpha = 1 / (rho v)), so the buyers who stay can bear higher markups; measured on paths 0-5
 * of this fixture the flagship price rises by 0.1-2 % from o = -1 to o = 0.6. The price
 * discipline itself has its closed form in monopoly_against_outside_good. */
static void valuable_outside_option_leaves_demand_unserved(void **state) {
  (void)state;
  double last_unserved = -1.0;
  for (double o = -1.0; o <= 0.61; o += 0.4) {
    moat_scenario_t sc;
    small_baseline(&sc);
    sc.horizon_years = 1.0 / 12.0;
    sc.enterprises.outside_value = o;
    runner_t r;
    runner_init(&r, &sc);
    run(&r, &sc, 0, 3);
    double unserved = r.out[moat_at_market(&r.lay, MOAT_MK_UNSERVED_SHARE, 0)];
    assert_true(unserved > last_unserved);
    last_unserved = unserved;
    runner_clear(&r);
  }
  assert_true(last_unserved > 0.1);
}

/* ---- demand growth ------------------------------------------------------------------- */

/* exp of the integral of r(s) = r_inf + (r_0 - r_inf) e^{-lambda s} over [0, t] by composite
 * Simpson's rule with 2000 intervals (error ~ t^5 lambda^4 / 2000^4: below 1e-13 here). */
static double growth_by_quadrature(double g0, double ginf, double lambda, double t) {
  double r0 = log(1.0 + g0), rinf = log(1.0 + ginf);
  const int m = 2000;
  double h = t / m, sum = 0.0;
  for (int k = 0; k <= m; k++) {
    double s = k * h, f = rinf + (r0 - rinf) * exp(-lambda * s);
    sum += (k == 0 || k == m ? 1.0 : k % 2 ? 4.0 : 2.0) * f;
  }
  return exp(sum * h / 3.0);
}

static void demand_growth_closed_form(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  /* lambda = 0: constant growth, (1 + g_0)^t exactly as MODEL.md §5 writes it. */
  sc.market.demand_growth_per_year = 0.5;
  sc.market.demand_growth_long_run = 0.1;
  sc.market.demand_growth_decay_per_year = 0.0;
  for (double t = 0.0; t <= 10.0; t += 0.75) assert_true(moat_demand_growth(&sc, t) == pow(1.5, t));
  /* lambda > 0 against quadrature, and the hand value of the first year:
   * g_0 = 2 (3x), g_inf = 0.3, lambda = 1.5: exp(ln 1.3 + ln(3/1.3) (1 - e^-1.5) / 1.5). */
  sc.market.demand_growth_per_year = 2.0;
  sc.market.demand_growth_long_run = 0.3;
  sc.market.demand_growth_decay_per_year = 1.5;
  double hand = exp(log(1.3) + log(3.0 / 1.3) * (1.0 - exp(-1.5)) / 1.5);
  assert_close(moat_demand_growth(&sc, 1.0), hand, 1e-14 * hand);
  for (double t = 0.25; t <= 10.0; t += 1.25) {
    double q = growth_by_quadrature(2.0, 0.3, 1.5, t);
    assert_close(moat_demand_growth(&sc, t), q, 1e-11 * q);
  }
  assert_true(moat_demand_growth(&sc, 0.0) == 1.0);
  /* Long run: a year's growth tends to 1 + g_inf (the remaining excess is ~ e^-30 here). */
  double yr = moat_demand_growth(&sc, 21.0) / moat_demand_growth(&sc, 20.0);
  assert_close(yr, 1.3, 1e-12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(monopoly_against_outside_good),
      cmocka_unit_test(lone_seller_common_markup),
      cmocka_unit_test(worthless_outside_option_changes_nothing),
      cmocka_unit_test(valuable_outside_option_leaves_demand_unserved),
      cmocka_unit_test(demand_growth_closed_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
