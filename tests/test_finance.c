/* test_finance.c — money, raises, distress, exit, valuation and DCF against hand calculations
 * (MODEL.md §7). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "moatsim/finance.h"
#include "moatsim/model.h"

/* Monthly steps, no opex, flat training of 1.2e10 $/year = 1e9 $/step, growth weight 1,
 * margin weight 1, runway 12 months, raise 24 months, cap 25 % of V, rerating in [0.02, 5]. */
static void money_scenario(moat_scenario_t *sc, moat_lab_t *lab, double cash, double valuation) {
  moat_fixture_baseline(sc);
  *lab = sc->labs[0];
  lab->opex_ratio = 0.0;
  lab->fixed_opex_per_year = 0.0;
  lab->training_spend_per_year = 1.2e10;
  lab->training_cost_growth_per_year = 0.0;
  lab->cash_usd = cash;
  lab->shares = 1e9;
  lab->valuation_usd = valuation;
  lab->initial_growth = 0.0;
}

/* Rel. tolerance for sums of a few doubles of magnitude <= 1e13. */
#define REL 1e-12

/* An uncapped raise. Step 0: R = 1e8, FCF = 1e8 - 1e9 = -9e8, cash 5e9 - 9e8 = 4.1e9;
 * ARR = 1.2e9, M(0) = 1.2e11 / 1.2e9 = 100, V = 1.2e11. Burn 9e8: 12 months of burn = 1.08e10
 * > cash, so raise 24 x 9e8 = 2.16e10 <= cap 0.25 x 1.2e11 = 3e10 at V/S = 120 $/share:
 * 1.8e8 new shares, cash 2.57e10, not distressed. Step 1: same sales, g = (11/12) 0 + ln 1 = 0,
 * rho = 1, V = 1.2e11; cash 2.48e10 > 1.08e10: no raise. */
static void uncapped_raise(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_lab_t lab;
  money_scenario(&sc, &lab, 5e9, 1.2e11);
  moat_lab_money_t m;
  double arr[4];
  moat_finance_lab_init(&lab, &m);
  moat_finance_lab_step(&sc, &lab, 0, 1e8, 0.0, arr, &m);
  assert_close(m.fcf, -9e8, 9e8 * REL);
  assert_close(m.multiple, 100.0, 100 * REL);
  assert_close(m.valuation, 1.2e11, 0.0);
  assert_close(m.raised, 2.16e10, 2.16e10 * REL);
  assert_close(m.shares, 1.18e9, 1.18e9 * REL);
  assert_close(m.cash, 2.57e10, 2.57e10 * REL);
  assert_int_equal(m.distressed, 0);
  assert_int_equal(m.raise_capped, 0);
  moat_finance_lab_step(&sc, &lab, 1, 1e8, 0.0, arr, &m);
  assert_close(m.rerating, 1.0, REL);
  assert_close(m.valuation, 1.2e11, 1.2e11 * REL);
  assert_close(m.raised, 0.0, 0.0);
  assert_close(m.cash, 2.48e10, 2.48e10 * REL);
  assert_true(m.active);
}

/* A capped raise, distress and its end. Step 0 as above but V = 4e10 (M(0) = 33.33): the cap
 * 0.25 x 4e10 = 1e10 < 2.16e10, so 1e10 is raised at 40 $/share (2.5e8 shares, dilution 1.25),
 * cash 4.1e9 + 1e10 = 1.41e10, distressed. Step 1: training halved to 5e8, FCF = -4e8, cash
 * 1.37e10; burn = (9e8 + 4e8)/2 = 6.5e8, runway 7.8e9 < cash: no raise, still distressed.
 * Step 2: R = 2e9, FCF = 2e9 - 5e8 = 1.5e9, mean FCF of 3 steps > 0: burn 0, distress ends;
 * ARR = 2.4e10, g = (10/12) 0 + ln(2.4e10 / 1.2e9) = ln 20, rho = 20 clamped to 5,
 * V = 33.33 x 5 x 2.4e10 = 4e12. */
static void capped_raise_and_distress(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_lab_t lab;
  money_scenario(&sc, &lab, 5e9, 4e10);
  moat_lab_money_t m;
  double arr[4];
  moat_finance_lab_init(&lab, &m);
  moat_finance_lab_step(&sc, &lab, 0, 1e8, 0.0, arr, &m);
  assert_int_equal(m.raise_capped, 1);
  assert_int_equal(m.distressed, 1);
  assert_close(m.raised, 1e10, 1e10 * REL);
  assert_close(m.shares, 1.25e9, 1.25e9 * REL);
  assert_close(m.cash, 1.41e10, 1.41e10 * REL);
  moat_finance_lab_step(&sc, &lab, 1, 1e8, 0.0, arr, &m);
  assert_close(m.training, 5e8, 5e8 * REL);
  assert_close(m.cash, 1.37e10, 1.37e10 * REL);
  assert_close(m.raised, 0.0, 0.0);
  assert_int_equal(m.distressed, 1);
  moat_finance_lab_step(&sc, &lab, 2, 2e9, 0.0, arr, &m);
  assert_close(m.training, 5e8, 5e8 * REL); /* distress of the start of the step */
  assert_close(m.fcf, 1.5e9, 1.5e9 * REL);
  assert_int_equal(m.distressed, 0);
  assert_close(m.rerating, 5.0, 0.0);
  assert_close(m.valuation, 4e12, 4e12 * REL);
  assert_close(m.shares / lab.shares, 1.25, REL);
}

/* An exit. Cash 1e8, V(0) = 1e9: step 0 FCF -9e8, cash -8e8; raise 2.16e10 capped at
 * 0.25 x 1e9 = 2.5e8 at 1 $/share, cash -5.5e8 < 0: the lab exits, valuation 0. Step 1: no
 * flows, valuation 0, cash and shares frozen. */
static void exit_when_cash_negative(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_lab_t lab;
  money_scenario(&sc, &lab, 1e8, 1e9);
  moat_lab_money_t m;
  double arr[4];
  moat_finance_lab_init(&lab, &m);
  moat_finance_lab_step(&sc, &lab, 0, 1e8, 0.0, arr, &m);
  assert_close(m.raised, 2.5e8, 2.5e8 * REL);
  assert_close(m.shares, 1.25e9, 1.25e9 * REL);
  assert_close(m.cash, -5.5e8, 5.5e8 * REL);
  assert_int_equal(m.active, 0);
  assert_int_equal(m.exited, 1);
  assert_close(m.valuation, 0.0, 0.0);
  moat_finance_lab_step(&sc, &lab, 1, 0.0, 0.0, arr, &m);
  assert_int_equal(m.exited, 0);
  assert_close(m.valuation, 0.0, 0.0);
  assert_close(m.fcf, 0.0, 0.0);
  assert_close(m.cash, -5.5e8, 5.5e8 * REL);
  assert_close(m.shares, 1.25e9, 1.25e9 * REL);
}

/* DCF over two monthly steps of FCF -9e8 (cash ample, no raise), r = 0.12, horizon 2/12 year:
 * PV = -9e8 - 9e8 e^{-0.01} + e^{-0.02} x 8 x ARR_1 (1.2e9). */
static void dcf_by_hand(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_lab_t lab;
  money_scenario(&sc, &lab, 1e12, 1.2e11);
  sc.horizon_years = 2.0 / 12.0;
  moat_lab_money_t m;
  double arr[4];
  moat_finance_lab_init(&lab, &m);
  moat_finance_lab_step(&sc, &lab, 0, 1e8, 0.0, arr, &m);
  moat_finance_lab_step(&sc, &lab, 1, 1e8, 0.0, arr, &m);
  double pv = -9e8 - 9e8 * exp(-0.01) + exp(-0.02) * 8.0 * 1.2e9;
  assert_close(moat_finance_dcf(&sc, &m), pv, fabs(pv) * REL);
}

/* valuation.terminal = "mark" (MODEL.md §7): TV is the path's own valuation at the horizon.
 * Step 0 as above (FCF -9e8, V(0) = 1.2e11, M(0) = 100); step 1 sells 2e8: FCF = 2e8 - 1e9 =
 * -8e8, ARR = 2.4e9, growth (11/12) 0 + ln 2, margin 1 as at t = 0, so rho = 2, M = 200 and
 * V = 4.8e11. PV = -9e8 - 8e8 e^{-0.01} + e^{-0.02} 4.8e11; the multiple rule would give
 * e^{-0.02} 8 x 2.4e9 instead. A lab that exits at the last step has TV = 0 under "mark"
 * (its mark is 0), while the multiple rule still counts its last ARR. */
static void dcf_terminal_mark_by_hand(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_lab_t lab;
  money_scenario(&sc, &lab, 1e12, 1.2e11);
  sc.horizon_years = 2.0 / 12.0;
  sc.valuation.terminal = MOAT_TERMINAL_MARK;
  moat_lab_money_t m;
  double arr[4];
  moat_finance_lab_init(&lab, &m);
  moat_finance_lab_step(&sc, &lab, 0, 1e8, 0.0, arr, &m);
  moat_finance_lab_step(&sc, &lab, 1, 2e8, 0.0, arr, &m);
  assert_close(m.valuation, 4.8e11, 4.8e11 * REL);
  double pv = -9e8 - 8e8 * exp(-0.01) + exp(-0.02) * 4.8e11;
  assert_close(moat_finance_dcf(&sc, &m), pv, fabs(pv) * REL);
  sc.valuation.terminal = MOAT_TERMINAL_MULTIPLE;
  pv = -9e8 - 8e8 * exp(-0.01) + exp(-0.02) * 8.0 * 2.4e9;
  assert_close(moat_finance_dcf(&sc, &m), pv, fabs(pv) * REL);

  /* Exit at the only step: cash 5e8 - 9e8 < 0 after a raise capped at 0.25 x 1e9. */
  money_scenario(&sc, &lab, 5e8, 1e9);
  sc.horizon_years = 1.0 / 12.0;
  sc.valuation.terminal = MOAT_TERMINAL_MARK;
  moat_finance_lab_init(&lab, &m);
  moat_finance_lab_step(&sc, &lab, 0, 1e8, 0.0, arr, &m);
  assert_int_equal(m.active, 0);
  assert_close(moat_finance_dcf(&sc, &m), -9e8, 9e8 * REL);
  sc.valuation.terminal = MOAT_TERMINAL_MULTIPLE;
  assert_close(moat_finance_dcf(&sc, &m), -9e8 + exp(-0.01) * 8.0 * 1.2e9, 1e10 * REL);
}

/* Growth: trailing year once a year of history exists, the blend before; re-rating with
 * margin: (0.5 / 0.8)^1 with equal growth; margins below 1 % count as 1 %; clamps. */
static void growth_and_rerating(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  double arr[24];
  for (int n = 0; n < 24; n++) arr[n] = 100.0 * exp(0.05 * n);
  /* n = 6 (t = 0.5): 0.5 x 1.0 + ln(arr_6 / arr_0) = 0.5 + 0.3 */
  assert_close(moat_finance_growth(arr, 6, 12, 1.0), 0.8, 1e-12);
  /* n = 12 joins continuously: 0 x 1.0 + 0.6 = ln(arr_12 / arr_0) */
  assert_close(moat_finance_growth(arr, 12, 12, 1.0), 0.6, 1e-12);
  assert_close(moat_finance_growth(arr, 20, 12, 1.0), 0.6, 1e-12); /* ln(arr_20 / arr_8) */
  arr[5] = 0.0;
  assert_true(moat_finance_growth(arr, 5, 12, 1.0) == -INFINITY);
  moat_multiple_t mult = {10.0, 0.3, 0.8, 1};
  assert_close(moat_finance_rerating(&sc, &mult, 0.3, 0.5), 0.625, 1e-15);
  assert_close(moat_finance_rerating(&sc, &mult, 0.3 + log(2.0), 0.8), 2.0, 1e-14);
  assert_close(moat_finance_rerating(&sc, &mult, 0.3, -3.0), 0.02, 0.0); /* 0.01/0.8 -> min */
  assert_close(moat_finance_rerating(&sc, &mult, INFINITY, 0.8), 5.0, 0.0);
  assert_close(moat_finance_rerating(&sc, &mult, -INFINITY, NAN), 0.02, 0.0);
  mult.with_margin = 0; /* infrastructure: margin term off */
  assert_close(moat_finance_rerating(&sc, &mult, 0.3, 0.05), 1.0, 0.0);
}

/* Accounts: an open lab earns capture_share of what clouds make on its model, paid by the
 * clouds; local volume is spend at cost; closed labs own flagship and mini. */
static void accounts_with_capture(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  moat_offer_table_t ot;
  moat_offers_build(&sc, &ot);
  double price[MOAT_MAX_OFFERS], cost[MOAT_MAX_OFFERS], qty[MOAT_MAX_OFFERS];
  for (int j = 0; j < ot.n; j++) {
    price[j] = 2.0;
    cost[j] = 0.5;
    qty[j] = (double)(j + 1);
  }
  moat_accounts_t acc;
  moat_finance_accounts(&sc, &ot, price, cost, qty, &acc);
  /* closed-a: offers 0 and 1, quantities 1 and 2 */
  assert_close(acc.lab_revenue[0], 2.0 * 3.0, 1e-12);
  assert_close(acc.lab_cogs[0], 0.5 * 3.0, 1e-12);
  /* open-a (lab 3): first party is offer 6 (q 7), clouds 7, 8, 9 (q 8, 9, 10), local 10 (q 11) */
  assert_int_equal(ot.first_party[3], 6);
  assert_int_equal(ot.local[3], 10);
  double cloud_rev = 2.0 * (8 + 9 + 10);
  assert_close(acc.lab_revenue[3], 2.0 * 7 + 0.15 * cloud_rev, 1e-12);
  assert_close(acc.lab_cogs[3], 0.5 * 7, 1e-12);
  /* hyperscaler (cloud 0) hosts offers 7, 12, 17 of open-a, open-b, open-c */
  assert_close(acc.cloud_revenue[0], 2.0 * (8 + 13 + 18), 1e-12);
  assert_close(acc.cloud_paid[0], 2.0 * (0.15 * 8 + 0.12 * 13 + 0.10 * 18), 1e-12);
  assert_close(acc.local_spend, 2.0 * (11 + 16 + 21), 1e-12);
}

/* A small path: the fixture with 100 enterprises over one year. */
static void small_path_scenario(moat_scenario_t *sc) {
  moat_fixture_baseline(sc);
  sc->enterprises.count = 100;
  sc->horizon_years = 1.0;
}

/* V(0) is the configured valuation of every lab on every path, and M(0) ARR_0 gives it back. */
static void initial_valuation_is_configured(void **state) {
  (void)state;
  moat_scenario_t sc;
  small_path_scenario(&sc);
  for (uint64_t p = 0; p < 3; p++) {
    moat_layout_t lay;
    double *out = moat_test_run_path(&sc, p, &lay);
    for (int l = 0; l < sc.n_labs; l++) {
      double v = out[moat_at_lab(&lay, MOAT_LM_VALUATION, (size_t)l, 0)];
      double mult = out[moat_at_lab(&lay, MOAT_LM_MULTIPLE, (size_t)l, 0)];
      double rev = out[moat_at_lab(&lay, MOAT_LM_REVENUE, (size_t)l, 0)];
      assert_close(v, sc.labs[l].valuation_usd, 0.0);
      assert_close(mult * rev * 12.0, v, v * REL);
      assert_close(out[moat_at_lab(&lay, MOAT_LM_RERATING, (size_t)l, 0)], 1.0, 0.0);
    }
    free(out);
  }
}

/* A lab that cannot fund itself exits at step 0: from step 1 its offers are in nobody's
 * choice set (volume and revenue 0, price NaN), its valuation is 0, the market volume is
 * served by the others, and lab_exits counts it. closed-c: cash 1e6, fixed opex 1.2e12 $/year
 * (1e11 $/step) against revenue of order 1e8 $/step and a raise capped at 0.25 V(0) = 3.75e10. */
static void exit_in_a_path(void **state) {
  (void)state;
  moat_scenario_t sc;
  small_path_scenario(&sc);
  sc.labs[2].cash_usd = 1e6;
  sc.labs[2].fixed_opex_per_year = 1.2e12;
  moat_layout_t lay;
  double *out = moat_test_run_path(&sc, 0, &lay);
  assert_close(out[moat_at_lab(&lay, MOAT_LM_ACTIVE, 2, 0)], 0.0, 0.0);
  assert_true(out[moat_at_lab(&lay, MOAT_LM_VOLUME, 2, 0)] > 0.0); /* it sold at step 0 */
  for (size_t n = 1; n < lay.n_steps; n++) {
    assert_close(out[moat_at_lab(&lay, MOAT_LM_VOLUME, 2, n)], 0.0, 0.0);
    assert_close(out[moat_at_lab(&lay, MOAT_LM_REVENUE, 2, n)], 0.0, 0.0);
    assert_close(out[moat_at_lab(&lay, MOAT_LM_VALUATION, 2, n)], 0.0, 0.0);
    assert_true(isnan(out[moat_at_lab(&lay, MOAT_LM_PRICE, 2, n)]));
    assert_true(isnan(out[moat_at_lab(&lay, MOAT_LM_PRICE_MINI, 2, n)]));
    double vol = 0.0;
    for (int l = 0; l < sc.n_labs; l++) vol += out[moat_at_lab(&lay, MOAT_LM_VOLUME, (size_t)l, n)];
    double shares = out[moat_at_market(&lay, MOAT_MK_SHARE_CLOSED, n)] +
                    out[moat_at_market(&lay, MOAT_MK_SHARE_OPEN_CLOUD, n)] +
                    out[moat_at_market(&lay, MOAT_MK_SHARE_OPEN_FIRST_PARTY, n)] +
                    out[moat_at_market(&lay, MOAT_MK_SHARE_LOCAL, n)];
    assert_close(shares, 1.0, 1e-12);
    assert_true(vol < out[moat_at_market(&lay, MOAT_MK_VOLUME_TOTAL, n)]);
  }
  assert_close(out[moat_at_path(&lay, MOAT_PM_LAB_EXITS)], 1.0, 0.0);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(uncapped_raise),
      cmocka_unit_test(capped_raise_and_distress),
      cmocka_unit_test(exit_when_cash_negative),
      cmocka_unit_test(dcf_by_hand),
      cmocka_unit_test(dcf_terminal_mark_by_hand),
      cmocka_unit_test(growth_and_rerating),
      cmocka_unit_test(accounts_with_capture),
      cmocka_unit_test(initial_valuation_is_configured),
      cmocka_unit_test(exit_in_a_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
