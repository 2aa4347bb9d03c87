/* test_value.c — value follows price (MODEL.md §5, enterprises.value_price_elasticity theta)
 * and the homogeneity of degree 1 of the equilibrium it relies on. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "moatsim/model.h"
#include "moatsim/pricing.h"

/*
 * A market of n = 3 identical single-product sellers and one row: by symmetry every share is
 * 1/3 at any common price, so the logit markup is tau / (1 - 1/3) = 1.5 tau whatever the cost
 * (MODEL.md §6). With theta = 1 the row's value follows the price it paid one step before,
 * tau_t = tau_0 p_{t-1} / p_0, so the markup is m0 p_{t-1} (m0 = 1.5 tau_0 / p_0, the initial
 * gross margin) and the price follows the closed form
 *     p_t = c_0 f^t + m0 p_{t-1}
 * when costs fall by a factor f a step. Its solution is p_t = A f^t + (p_0 - A) m0^t with
 * A = c_0 / (1 - m0 / f): when f > m0 the margin 1 - c_t / p_t rises monotonically from m0 to
 * m0 / f and stays there (homogeneity of degree 1: values and costs fall together), the one
 * step by which values lag prices costing exactly the factor 1 / f; when f < m0 costs fall
 * faster than the lagged value can follow and the margin tends to 1, as it does for every f
 * with theta = 0 (a fixed dollar markup). The kernel is solved to 1e-13; the recursion's prices
 * must match to 1e-10 relative (the solver's error, not compounded: each step's markup is
 * computed from the solved price before it, in both).
 */
static void run_symmetric(double f, double theta, int steps, double *margin_first, double *margin_last,
                          double *worst_rel) {
  enum { J = 3 };
  double base[4] = {3.0, 3.0, 3.0, -INFINITY}, alpha0 = 2.0, alpha = alpha0, weight = 1.0;
  double cost[J], price[J];
  int seller[J] = {0, 1, 2};
  unsigned char fixed[J] = {0, 0, 0};
  moat_pricing_ws_t *ws = moat_pricing_ws_alloc(1, 4, J);
  assert_non_null(ws);
  moat_market_t m = {1, J, 4, base, &alpha, &weight, cost, seller, fixed, J, NULL, NULL, 0};
  const double c0 = 1.0, p0 = c0 + 1.5 / alpha0, m0 = 1.0 - c0 / p0;
  double p_prev = p0, closed = p0, c = c0;
  *worst_rel = 0.0;
  for (int t = 0; t < steps; t++) {
    for (int j = 0; j < J; j++) {
      cost[j] = c;
      price[j] = 1.5 * c + 1.0;
    }
    /* theta: alpha_t = alpha_0 (P_{t-1} / P_0)^-theta (path.c's step_values, one row) */
    alpha = t == 0 ? alpha0 : alpha0 * pow(p_prev / p0, -theta);
    moat_pricing_result_t res;
    assert_int_equal(moat_pricing_solve(&m, price, 1e-13, 1000, ws, &res), 0);
    assert_true(res.converged);
    if (t > 0) closed = c + (theta == 1.0 ? m0 * p_prev : 1.5 / alpha0);
    double rel = fabs(price[0] - closed) / closed;
    if (rel > *worst_rel) *worst_rel = rel;
    assert_true(price[1] == price[0] && price[2] == price[0]);
    if (t == 1) *margin_first = 1.0 - c / price[0];
    *margin_last = 1.0 - c / price[0];
    p_prev = price[0];
    c *= f;
  }
  moat_pricing_ws_free(ws);
}

static void value_follows_price_closed_form(void **state) {
  (void)state;
  const double m0 = 0.75 / 1.75; /* p0 = 1 + 1.5 / 2 */
  double first, last, worst;
  /* f = 0.96 > m0: the margin goes to m0 / f (200 steps: (m0 / f)^200 < 1e-70 of the
   * transient is left) and every margin lies in [m0, m0 / f]. */
  run_symmetric(0.96, 1.0, 200, &first, &last, &worst);
  assert_true(worst < 1e-10);
  assert_close(last, m0 / 0.96, 1e-10);
  assert_true(first > m0 && first < m0 / 0.96);
  /* f = 0.3 < m0: costs outrun the lagged value, the margin tends to 1: at t = 59,
   * c / p = f^t / (A f^t + (p0 - A) m0^t) with A = 1 / (1 - m0 / f) < 0, about 1e-10. */
  run_symmetric(0.3, 1.0, 60, &first, &last, &worst);
  assert_true(worst < 1e-10);
  const double A = 1.0 / (1.0 - m0 / 0.3), ft = pow(0.3, 59);
  assert_close(last, 1.0 - ft / (A * ft + (1.75 - A) * pow(m0, 59)), 1e-12);
  assert_true(last > 1.0 - 1e-9);
  /* theta = 0 (version 1): a fixed dollar markup 1.5 tau_0 = 0.75, margin 1 - c / (c + 0.75)
   * -> 1 as c -> 0: after 200 steps at f = 0.96, c = 0.96^199. */
  run_symmetric(0.96, 0.0, 200, &first, &last, &worst);
  assert_true(worst < 1e-10);
  double c_last = pow(0.96, 199);
  assert_close(last, 0.75 / (c_last + 0.75), 1e-10);
}

/* Homogeneity of degree 1 of the whole path: multiplying every value and every cost by k = 10
 * (value medians, serving costs, local cost; the outside option's value o v follows) multiplies
 * every price by k and leaves shares, premiums, margins and the latent processes unchanged, at
 * every step, with theta = 1 and beta > 0 (theta reads only the ratio P_is(t - dt) / P_is(0),
 * beta only quality differences). Cash is ample so that no lab's finance (not scaled) reaches
 * the processes through distress. Tolerance 1e-7 relative: the solver stops at 1e-9 relative
 * price changes, and the difference compounds through values and volumes over 36 steps. */
static void scaling_values_and_costs_scales_prices(void **state) {
  (void)state;
  const double k = 10.0;
  moat_scenario_t a, b;
  moat_fixture_baseline(&a);
  a.enterprises.count = 150;
  a.horizon_years = 3.0;
  a.enterprises.value_price_elasticity = 1.0;
  a.price_compression.cost_per_quality_point = 0.15;
  a.price_compression.price_war_rate_per_year = 1.0;
  for (int l = 0; l < a.n_labs; l++) a.labs[l].cash_usd = 1e14;
  b = a;
  b.enterprises.value_hard_median *= k;
  b.enterprises.value_routine_median *= k;
  b.local_inference.cost_per_mtok *= k;
  for (int l = 0; l < b.n_labs; l++) b.labs[l].serve_cost_per_mtok *= k;
  moat_layout_t lay;
  double *x = moat_test_run_path(&a, 1, &lay), *y = moat_test_run_path(&b, 1, &lay);
  const int same[] = {MOAT_MK_PREMIUM_FLAGSHIP, MOAT_MK_SHARE_CLOSED, MOAT_MK_SHARE_LOCAL,
                      MOAT_MK_REVENUE_SHARE_CLOSED, MOAT_MK_HOSTING_MARGIN, MOAT_MK_UNSERVED_SHARE,
                      MOAT_MK_FRONTIER_QUALITY, MOAT_MK_LATENT_GAP, MOAT_MK_PRICE_WAR_ACTIVE};
  int wars = 0;
  for (size_t n = 0; n < lay.n_steps; n++) {
    for (size_t s = 0; s < sizeof same / sizeof same[0]; s++) {
      double u = x[moat_at_market(&lay, same[s], n)], v = y[moat_at_market(&lay, same[s], n)];
      assert_close(v, u, 1e-7 * fabs(u) + 1e-12);
    }
    double u = x[moat_at_market(&lay, MOAT_MK_PRICE_CONSTANT_QUALITY, n)];
    assert_close(y[moat_at_market(&lay, MOAT_MK_PRICE_CONSTANT_QUALITY, n)], k * u, 1e-7 * k * u);
    for (size_t l = 0; l < lay.n_labs; l++) {
      double p = x[moat_at_lab(&lay, MOAT_LM_PRICE, l, n)];
      assert_close(y[moat_at_lab(&lay, MOAT_LM_PRICE, l, n)], k * p, 1e-7 * k * p);
      double g = x[moat_at_lab(&lay, MOAT_LM_GROSS_MARGIN, l, n)];
      assert_close(y[moat_at_lab(&lay, MOAT_LM_GROSS_MARGIN, l, n)], g, 1e-7);
    }
    wars += x[moat_at_market(&lay, MOAT_MK_PRICE_WAR_ACTIVE, n)] > 0.0;
  }
  assert_true(wars > 0);
  free(x);
  free(y);
}

/* theta = 0 leaves a path bitwise what it is without the mechanism's code path: alpha is never
 * touched (v_is = v_is(0)); a small theta changes prices from step 1 on, not at step 0 (the
 * factor is 1 at step 0 by definition). */
static void theta_zero_is_version_one(void **state) {
  (void)state;
  moat_scenario_t a, b;
  moat_fixture_baseline(&a);
  a.enterprises.count = 100;
  a.horizon_years = 1.0;
  a.price_compression.cost_decline_per_year = 0.6;
  b = a;
  b.enterprises.value_price_elasticity = 0.3;
  moat_layout_t lay;
  double *x = moat_test_run_path(&a, 0, &lay), *y = moat_test_run_path(&b, 0, &lay);
  size_t p0 = moat_at_lab(&lay, MOAT_LM_PRICE, 0, 0), p6 = moat_at_lab(&lay, MOAT_LM_PRICE, 0, 6);
  assert_true(x[p0] == y[p0]);
  assert_true(x[p6] != y[p6]);
  /* Cheaper tokens: the value of the work falls with the price paid, so does the markup. */
  assert_true(y[p6] < x[p6]);
  free(x);
  free(y);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(value_follows_price_closed_form),
      cmocka_unit_test(scaling_values_and_costs_scales_prices),
      cmocka_unit_test(theta_zero_is_version_one),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
