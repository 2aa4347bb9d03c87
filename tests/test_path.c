/* test_path.c — one whole path: determinism, documented NaN, the utility matrix against the
 * MODEL.md §5 formula, conservation of volume, and price wars replayed from the shock stream. */
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
#include "moatsim/enterprises.h"
#include "moatsim/model.h"
#include "moatsim/offers.h"
#include "moatsim/processes.h"
#include "moatsim/rng.h"

/* ---- determinism --------------------------------------------------------------------- */

/* The same (scenario, path) gives the same bits: twice in a row, after other paths in the same
 * workspace, after a larger scenario grew the workspace, and in a fresh workspace. */
static void deterministic_bits(void **state) {
  (void)state;
  moat_scenario_t sc, big;
  moat_fixture_baseline(&sc);
  sc.enterprises.count = 150;
  sc.horizon_years = 2.0;
  big = sc;
  big.enterprises.count = 300;
  big.horizon_years = 3.0;
  runner_t a, b;
  runner_init(&a, &sc);
  runner_init(&b, &sc);
  size_t bytes = a.lay.per_path * sizeof(double);
  double *first = malloc(bytes);
  run(&a, &sc, 4, 2);
  memcpy(first, a.out, bytes);
  run(&a, &sc, 4, 2);
  assert_memory_equal(first, a.out, bytes);
  run(&a, &sc, 4, 0);
  assert_memory_not_equal(first, a.out, bytes); /* another path differs */
  run(&a, &sc, 5, 2);
  assert_memory_not_equal(first, a.out, bytes); /* another scenario index differs */
  run(&a, &sc, 4, 1);
  run(&a, &sc, 4, 2);
  assert_memory_equal(first, a.out, bytes);
  char err[MOAT_ERR_MAX];
  assert_int_equal(moat_workspace_reserve(b.ws, &big, err, sizeof err), 0);
  moat_layout_t big_lay;
  moat_scenario_layout(&big, &big_lay);
  double *big_out = malloc(big_lay.per_path * sizeof(double));
  assert_int_equal(moat_path_run(&big, 4, 2, b.ws, big_out, NULL), 0);
  run(&b, &sc, 4, 2);
  assert_memory_equal(first, b.out, bytes);
  free(big_out);
  free(first);
  runner_clear(&a);
  runner_clear(&b);
}

/* Updating only the utility columns that changed gives the same bits as rebuilding the whole
 * matrix every step, over a path with releases, gap moves, wars, adoption and an exit. */
static void incremental_utilities_match_full_rebuild(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  sc.enterprises.count = 120;
  sc.horizon_years = 3.0;
  sc.local_inference.innovation = 0.3; /* adoption every step */
  for (int l = 0; l < sc.n_labs; l++) /* releases in a few steps only (about 4 in 3 years) */
    sc.labs[l].release_rate_per_year = l < 3 ? 0.5 : 0.0;
  sc.price_compression.price_war_rate_per_year = 2.0;
  sc.labs[5].cash_usd = 1e7; /* open-c runs out of cash and cannot raise enough: it exits */
  sc.labs[5].valuation_usd = 1e8;
  runner_t a, b;
  runner_init(&a, &sc);
  runner_init(&b, &sc);
  moat_workspace_set_reference(b.ws, 1);
  run(&a, &sc, 1, 3);
  run(&b, &sc, 1, 3);
  assert_memory_equal(a.out, b.out, a.lay.per_path * sizeof(double));
  assert_true(a.out[moat_at_path(&a.lay, MOAT_PM_LAB_EXITS)] >= 1.0);
  assert_true(a.out[moat_at_market(&a.lay, MOAT_MK_LOCAL_ADOPTERS, a.lay.n_steps - 1)] > 0.0);
  runner_clear(&a);
  runner_clear(&b);
}

/* A workspace reserved for a smaller scenario is refused, not overrun. */
static void unreserved_workspace_refused(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  sc.enterprises.count = 10;
  sc.horizon_years = 0.5;
  runner_t r;
  runner_init(&r, &sc);
  sc.enterprises.count = 11;
  assert_int_equal(moat_path_run(&sc, 0, 0, r.ws, r.out, NULL), MOAT_EINVAL);
  runner_clear(&r);
}

/* ---- finite or documented NaN -------------------------------------------------------- */

static int nan_allowed_market(int m) {
  /* premiums without open or closed volume; no offer as good as the initial frontier;
   * no active open lab */
  return m == MOAT_MK_PREMIUM_FLAGSHIP || m == MOAT_MK_PREMIUM_AVG ||
         m == MOAT_MK_PREMIUM_PER_QUALITY || m == MOAT_MK_PRICE_CONSTANT_QUALITY ||
         m == MOAT_MK_QUALITY_GAP;
}

static int nan_allowed_lab(int m) {
  /* prices and margins of exited labs or labs without sales; multiples of exited labs */
  return m == MOAT_LM_PRICE || m == MOAT_LM_PRICE_MINI || m == MOAT_LM_GROSS_MARGIN ||
         m == MOAT_LM_MULTIPLE || m == MOAT_LM_RERATING;
}

/* Check one path's results: no Inf anywhere; NaN only in the documented places and, for a lab,
 * only when the lab is inactive or sells nothing (an open lab's price_mini always NaN). */
static void check_finite_or_documented(const moat_scenario_t *sc, const moat_layout_t *lay,
                                       const double *out) {
  for (size_t k = 0; k < lay->per_path; k++) assert_true(!isinf(out[k]));
  for (size_t n = 0; n < lay->n_steps; n++) {
    for (int m = 0; m < MOAT_N_MARKET; m++)
      if (!nan_allowed_market(m)) assert_true(!isnan(out[moat_at_market(lay, m, n)]));
    /* The baseline always has open and closed volume and an open lab: premiums exist. */
    assert_true(!isnan(out[moat_at_market(lay, MOAT_MK_PREMIUM_FLAGSHIP, n)]));
    for (int l = 0; l < sc->n_labs; l++) {
      size_t L = (size_t)l;
      int active = out[moat_at_lab(lay, MOAT_LM_ACTIVE, L, n)] == 1.0;
      int open = sc->labs[l].kind == MOAT_LAB_OPEN;
      int sells = out[moat_at_lab(lay, MOAT_LM_VOLUME, L, n)] > 0.0;
      for (int m = 0; m < MOAT_N_LAB; m++) {
        double x = out[moat_at_lab(lay, m, L, n)];
        if (!nan_allowed_lab(m)) {
          assert_true(!isnan(x));
        } else if (m == MOAT_LM_PRICE_MINI && open) {
          assert_true(isnan(x));
        } else if (active && sells) {
          assert_true(!isnan(x));
        }
      }
    }
    for (int k = 0; k < sc->n_clouds; k++)
      for (int m = 0; m < MOAT_N_CLOUD; m++)
        assert_true(!isnan(out[moat_at_cloud(lay, m, (size_t)k, n)])); /* clouds always sell */
  }
  for (size_t k = lay->off_lab_path; k < lay->per_path; k++) assert_true(!isnan(out[k]));
}

/* The baseline fixture (every lab, cloud, shock and the 10-year horizon), several paths, with
 * 150 instead of 1000 enterprises to keep the suite fast under the sanitizers: enterprise count
 * scales the work, not which metrics can be NaN. */
static void baseline_finite(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  sc.enterprises.count = 150;
  runner_t r;
  runner_init(&r, &sc);
  for (uint64_t p = 0; p < 3; p++) {
    run(&r, &sc, 0, p);
    check_finite_or_documented(&sc, &r.lay, r.out);
  }
  runner_clear(&r);
}

/* ---- volume and step 0 --------------------------------------------------------------- */

/* At step 0 every enterprise has a feasible offer and no price factor, so the market volume
 * is sum D_i0 = demand_mtok_per_month x 12 dt exactly (rounding only) once the unserved share
 * is added back, shares of the tokens bought sum to 1, the
 * frontier is the best closed quality and the latent gap the configured one. */
static void step_zero_volume(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  sc.enterprises.count = 200;
  sc.horizon_years = 0.25;
  runner_t r;
  runner_init(&r, &sc);
  run(&r, &sc, 0, 7);
  const moat_layout_t *lay = &r.lay;
  /* Tokens bought plus demand left to the outside option make up the whole demand. */
  double bought = r.out[moat_at_market(lay, MOAT_MK_VOLUME_TOTAL, 0)];
  double unserved = r.out[moat_at_market(lay, MOAT_MK_UNSERVED_SHARE, 0)];
  assert_true(unserved > 0.0 && unserved < 0.1);
  assert_close(bought / (1.0 - unserved), 8e8, 8e8 * 1e-12);
  double s = 0.0;
  const int ids[4] = {MOAT_MK_SHARE_CLOSED, MOAT_MK_SHARE_OPEN_CLOUD, MOAT_MK_SHARE_OPEN_FIRST_PARTY,
                      MOAT_MK_SHARE_LOCAL};
  for (int k = 0; k < 4; k++) s += r.out[moat_at_market(lay, ids[k], 0)];
  assert_close(s, 1.0, 1e-12);
  assert_close(r.out[moat_at_market(lay, MOAT_MK_SHARE_LOCAL, 0)], 0.0, 0.0); /* nobody adopted */
  assert_close(r.out[moat_at_market(lay, MOAT_MK_FRONTIER_QUALITY, 0)], 72.0, 0.0);
  assert_close(r.out[moat_at_market(lay, MOAT_MK_LATENT_GAP, 0)], 0.04, 1e-15);
  assert_close(r.out[moat_at_market(lay, MOAT_MK_QUALITY_GAP, 0)], 1.0 - 69.0 / 72.0, 1e-15);
  assert_close(r.out[moat_at_market(lay, MOAT_MK_PRICE_WAR_ACTIVE, 0)], 0.0, 0.0);
  runner_clear(&r);
}

/* ---- utilities ----------------------------------------------------------------------- */

/* The utility matrix against MODEL.md §5 written out literally: u_ijs / tau_is at p = 0, with
 * tau = rho v, q_ij = q_j + phi_i for cloud and local offers, x_j and speeds from the table;
 * -inf for an exited lab, a restricted origin, or local without adoption. Then the local-only
 * refill after a change of local quality and adoption equals a full refill bit for bit. */
static void utilities_match_formula(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  sc.enterprises.count = 60;
  sc.governance.restricted_share = 0.5;
  sc.enterprises.outside_value = 0.3;
  moat_enterprises_t *e = moat_enterprises_alloc(60);
  gsl_rng *r = moat_rng_alloc();
  moat_rng_seed(r, 11, 0, 0, MOAT_RNG_ATTRIBUTES);
  moat_enterprises_draw(&sc, r, e);
  moat_offer_table_t ot;
  moat_offers_build(&sc, &ot);
  assert_int_equal(ot.n, 21);
  double q_lab[MOAT_MAX_LABS] = {74.0, 71.0, 70.0, 69.0, 68.5, 67.5};
  double quality[MOAT_MAX_OFFERS], cost[MOAT_MAX_OFFERS];
  moat_offers_update(&ot, &sc, q_lab, 0.5, 0.3, 0.05, quality, cost);
  unsigned char active[MOAT_MAX_OFFERS], adopted[60];
  for (int j = 0; j < ot.n; j++) active[j] = ot.lab[j] != 1; /* closed-b exited */
  for (int i = 0; i < 60; i++) adopted[i] = i % 3 == 0;
  size_t cells = 2 * 60 * ot.stride;
  double *base = malloc(cells * sizeof(double)), *again = malloc(cells * sizeof(double));
  const double F = 74.0, rho = sc.enterprises.taste_dispersion;
  moat_offers_fill_base(&ot, &sc, e, quality, F, active, adopted, 0, base);
  for (size_t i = 0; i < 60; i++) {
    for (int s = 0; s < 2; s++) {
      double v = e->value[2 * i + (size_t)s];
      double eta = s == 0 ? sc.enterprises.gap_sensitivity_hard : sc.enterprises.gap_sensitivity_routine;
      for (int j = 0; j < ot.n; j++) {
        int l = ot.lab[j], kind = ot.kind[j];
        int closed = sc.labs[l].kind == MOAT_LAB_CLOSED;
        int hosted = kind == MOAT_OFFER_CLOUD || kind == MOAT_OFFER_LOCAL;
        int restricted = e->restricted[i] && strcmp(sc.labs[l].origin, "cn") == 0;
        double b = base[(2 * i + (size_t)s) * ot.stride + (size_t)j];
        if (l == 1 || restricted || (kind == MOAT_OFFER_LOCAL && !adopted[i])) {
          assert_true(b == -INFINITY);
          continue;
        }
        double qij = quality[j] + (hosted ? e->finetune[i] : 0.0);
        double bonus = closed ? sc.labs[l].ecosystem_bonus : 0.0;
        double x = kind == MOAT_OFFER_LOCAL ? 0.0
                   : kind == MOAT_OFFER_CLOUD ? 1.0
                                              : 1.0 + sc.labs[l].hosting_risk;
        double speed = kind == MOAT_OFFER_CLOUD ? sc.clouds[ot.cloud[j]].speed : 1.0;
        double u = v * ((1.0 + bonus) * exp(-eta * (F - qij) / F) -
                        e->privacy[i] * sc.enterprises.privacy_weight * x +
                        sc.enterprises.speed_value * log(speed));
        assert_close(b, u / (rho * v), 1e-12 * (1.0 + fabs(u / (rho * v))));
      }
      /* The outside option: u_0 = o v, feasible for everyone. */
      assert_int_equal(ot.outside, ot.n);
      assert_close(base[(2 * i + (size_t)s) * ot.stride + (size_t)ot.n], 0.3 * v / (rho * v), 1e-15);
    }
  }
  /* Local quality and adoption change; local-only refill == full refill. */
  moat_offers_update(&ot, &sc, q_lab, 0.5, 0.3, 0.02, quality, cost);
  for (int i = 0; i < 60; i++) adopted[i] = i % 2 == 0;
  moat_offers_fill_base(&ot, &sc, e, quality, F, active, adopted, 1, base);
  memcpy(again, base, cells * sizeof(double));
  moat_offers_fill_base(&ot, &sc, e, quality, F, active, adopted, 0, again);
  for (size_t i = 0; i < 120; i++)
    assert_memory_equal(base + i * ot.stride, again + i * ot.stride, (size_t)ot.n_cols * sizeof(double));
  free(base);
  free(again);
  gsl_rng_free(r);
  moat_enterprises_free(e);
}

/* ---- price wars ---------------------------------------------------------------------- */

/* Active and distressed flags of every lab after step n, read back from the results. */
static void lab_flags(const moat_scenario_t *sc, const moat_layout_t *lay, const double *out,
                      size_t n, unsigned char *act, unsigned char *dis) {
  for (int l = 0; l < sc->n_labs; l++) {
    act[l] = out[moat_at_lab(lay, MOAT_LM_ACTIVE, (size_t)l, n)] == 1.0;
    dis[l] = out[moat_at_lab(lay, MOAT_LM_DISTRESSED, (size_t)l, n)] == 1.0;
  }
}

/* Replay the path's shock streams (MODEL.md §9: releases, gap and wars), feeding it each step's active and distressed flags from the results, to learn
 * when wars start, who the aggressor is and its depth d. Then the aggressor's first-party price
 * must be (1 - d) x its price at the step before the start, held exactly for the war's
 * duration, and re-solved (different) at the step after unless the same lab starts a new war. */
static void war_holds_price(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  sc.enterprises.count = 100;
  sc.horizon_years = 4.0;
  sc.price_compression.price_war_rate_per_year = 1.5;
  sc.price_compression.price_war_months = 3.0; /* 3 steps */
  runner_t run_;
  runner_init(&run_, &sc);
  const moat_layout_t *lay = &run_.lay;
  int wars = 0;
  for (uint64_t path = 0; path < 3; path++) {
    run(&run_, &sc, 2, path);
    const double *out = run_.out;
    moat_test_streams_t rs;
    moat_test_streams_alloc(&rs);
    moat_test_streams_seed(&rs, sc.seed, 2, path);
    moat_processes_t ps;
    moat_processes_init(&sc, &ps);
    for (size_t n = 1; n < lay->n_steps; n++) {
      unsigned char act[MOAT_MAX_LABS], dis[MOAT_MAX_LABS];
      lab_flags(&sc, lay, out, n - 1, act, dis);
      moat_processes_step(&sc, (int)n, act, dis, rs.r, &ps);
      assert_close(out[moat_at_market(lay, MOAT_MK_PRICE_WAR_ACTIVE, n)], ps.war_active, 0.0);
      assert_close(out[moat_at_market(lay, MOAT_MK_LATENT_GAP, n)], exp(ps.log_gap), 0.0);
      if (!ps.war_started) continue;
      size_t L = (size_t)ps.war_lab, end = n + 3;
      double held = (1.0 - ps.war_depth) * out[moat_at_lab(lay, MOAT_LM_PRICE, L, n - 1)];
      for (size_t k = n; k < end && k < lay->n_steps; k++)
        assert_true(out[moat_at_lab(lay, MOAT_LM_PRICE, L, k)] == held);
      wars++;
      if (end >= lay->n_steps) continue;
      /* Peek whether the same lab restarts at `end` by replaying on a copy of the stream. */
      moat_test_streams_t peek;
      for (int s = 0; s < MOAT_RNG_N_STREAMS; s++) peek.r[s] = gsl_rng_clone(rs.r[s]);
      moat_processes_t pk = ps;
      for (size_t k = n + 1; k <= end; k++) {
        lab_flags(&sc, lay, out, k - 1, act, dis);
        moat_processes_step(&sc, (int)k, act, dis, peek.r, &pk);
      }
      if (!(pk.war_started && pk.war_lab == ps.war_lab))
        assert_true(out[moat_at_lab(lay, MOAT_LM_PRICE, L, end)] != held);
      moat_test_streams_free(&peek);
    }
    moat_test_streams_free(&rs);
  }
  assert_true(wars >= 3); /* 3 paths x 4 years x about 1.3 wars a year */
  runner_clear(&run_);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(deterministic_bits),
      cmocka_unit_test(unreserved_workspace_refused),
      cmocka_unit_test(incremental_utilities_match_full_rebuild),
      cmocka_unit_test(step_zero_volume),
      cmocka_unit_test(utilities_match_formula),
      cmocka_unit_test(war_holds_price),
      cmocka_unit_test(baseline_finite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
