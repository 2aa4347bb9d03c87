/* fixtures.h — scenarios for unit tests, built in code (independent of the config loader).
 * moat_fixture_baseline fills the values of the MODEL.md §11 sketch: 3 closed labs, 3 open labs,
 * 3 clouds. The sketch spells out closed-a and open-a; closed-b/c and open-b/c are nearby
 * variations (a little behind in quality, cheaper, smaller balance sheets). */
#ifndef MOATSIM_TESTS_FIXTURES_H
#define MOATSIM_TESTS_FIXTURES_H

#include <string.h>

#include "moatsim/rng.h"
#include "moatsim/scenario.h"

/* One generator per named stream of a path (rng.h), for tests that drive the processes. */
typedef struct moat_test_streams {
  gsl_rng *r[MOAT_RNG_N_STREAMS];
} moat_test_streams_t;

static inline void moat_test_streams_alloc(moat_test_streams_t *s) {
  for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) s->r[k] = moat_rng_alloc();
}
/* Seed every stream as moat_path_run does for (seed, scenario, path). */
static inline void moat_test_streams_seed(moat_test_streams_t *s, uint64_t seed, uint64_t scenario,
                                          uint64_t path) {
  for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) moat_rng_seed(s->r[k], seed, scenario, path, (uint64_t)k);
}
static inline void moat_test_streams_free(moat_test_streams_t *s) {
  for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) gsl_rng_free(s->r[k]);
}

static inline void moat_fixture_lab(moat_lab_t *l, const char *name, int kind, const char *origin,
                                    double quality, double cost) {
  memset(l, 0, sizeof *l);
  strncpy(l->name, name, MOAT_NAME_MAX - 1);
  strncpy(l->origin, origin, MOAT_ORIGIN_MAX - 1);
  l->kind = kind;
  l->quality = quality;
  l->serve_cost_per_mtok = cost;
  l->opex_ratio = 0.3;
  l->shares = 1.0e9;
  if (kind == MOAT_LAB_CLOSED) {
    l->mini_quality_gap = 0.08;
    l->mini_cost_factor = 0.1;
    l->ecosystem_bonus = 0.1;
    l->release_rate_per_year = 2.0;
    l->release_jump_points = 3.0;
    l->training_spend_per_year = 2.0e10;
    l->training_cost_growth_per_year = 1.4;
    l->fixed_opex_per_year = 2.0e9;
    l->cash_usd = 4.0e10;
    l->valuation_usd = 5.0e11;
    l->initial_growth = 1.0;
  } else {
    l->hosting_risk = 1.0;
    l->capture_share = 0.15;
    l->release_rate_per_year = 3.0;
    l->training_spend_per_year = 1.0e9;
    l->training_cost_growth_per_year = 0.8;
    l->fixed_opex_per_year = 2.0e8;
    l->cash_usd = 5.0e9;
    l->valuation_usd = 3.0e10;
    l->initial_growth = 1.5;
  }
}

static inline void moat_fixture_cloud(moat_cloud_t *c, const char *name, double cost_factor,
                                      double speed) {
  memset(c, 0, sizeof *c);
  strncpy(c->name, name, MOAT_NAME_MAX - 1);
  c->cost_factor = cost_factor;
  c->speed = speed;
}

static inline void moat_fixture_baseline(moat_scenario_t *sc) {
  memset(sc, 0, sizeof *sc);
  strcpy(sc->name, "baseline");
  sc->seed = 20261201;
  sc->horizon_years = 10.0;
  sc->steps_per_year = 12;
  sc->paths = 200;
  sc->market.demand_mtok_per_month = 8.0e8;
  sc->market.demand_growth_per_year = 1.0;
  sc->market.demand_growth_long_run = 1.0; /* the table's defaults: constant growth */
  sc->market.demand_growth_decay_per_year = 0.0;
  sc->market.price_elasticity = 0.8;
  sc->quality_gap.initial = 0.04;
  sc->quality_gap.long_run = 0.03;
  sc->quality_gap.reversion_per_year = 0.5;
  sc->quality_gap.volatility = 0.25;
  sc->price_compression.cost_decline_per_year = 0.4;
  sc->price_compression.price_war_rate_per_year = 0.3;
  sc->price_compression.price_war_depth = 0.75;
  sc->price_compression.price_war_months = 6;
  sc->local_inference.innovation = 0.01;
  sc->local_inference.imitation = 0.35;
  sc->local_inference.max_share = 0.3;
  sc->local_inference.cost_per_mtok = 0.8;
  sc->local_inference.cost_decline_per_year = 0.45;
  sc->local_inference.quality_penalty = 0.06;
  sc->local_inference.penalty_decline_per_year = 0.3;
  sc->enterprises.count = 1000;
  sc->enterprises.volume_sigma = 1.5;
  sc->enterprises.hard_share_mean = 0.1;
  sc->enterprises.hard_share_concentration = 20.0;
  sc->enterprises.value_hard_median = 30.0;
  sc->enterprises.value_routine_median = 1.5;
  sc->enterprises.value_sigma = 0.8;
  sc->enterprises.gap_sensitivity_hard = 6.0;
  sc->enterprises.gap_sensitivity_routine = 0.5;
  sc->enterprises.privacy_mean = 0.1;
  sc->enterprises.privacy_concentration = 10.0;
  sc->enterprises.privacy_weight = 0.2;
  sc->enterprises.finetune_gain_points = 3.0;
  sc->enterprises.speed_value = 0.01;
  sc->enterprises.taste_dispersion = 0.12;
  sc->enterprises.review_per_year = 2.0;
  sc->enterprises.outside_option = 1; /* the table's defaults: buying nothing is worth 0 */
  sc->enterprises.outside_value = 0.0;
  sc->governance.n_restricted_origins = 1;
  strcpy(sc->governance.restricted_origins[0], "cn");
  sc->governance.restricted_share = 0.25;
  sc->pricing.tolerance = 1e-9;
  sc->pricing.max_iterations = 1000;
  sc->finance.runway_months = 12.0;
  sc->finance.raise_months = 24.0;
  sc->finance.max_raise_fraction = 0.25;
  sc->valuation.growth_weight = 1.0;
  sc->valuation.margin_weight = 1.0;
  sc->valuation.rerating_min = 0.02;
  sc->valuation.rerating_max = 5.0;
  sc->valuation.discount_rate = 0.12;
  sc->valuation.terminal_multiple = 8.0;
  sc->valuation.cloud_multiple = 10.0;
  sc->valuation.infra_multiple = 20.0;
  /* Version 2's parameters at their neutral values (version 1's model): theta, beta and
   * gamma are 0 from the memset. */
  sc->valuation.terminal = MOAT_TERMINAL_MULTIPLE;
  sc->sweep.common_random_numbers = 0;
  strcpy(sc->output.file, "results/baseline.h5");
  sc->output.n_quantiles = 5;
  const double q[5] = {0.05, 0.25, 0.5, 0.75, 0.95};
  for (int k = 0; k < 5; k++) sc->output.quantiles[k] = q[k];

  sc->n_labs = 6;
  moat_fixture_lab(&sc->labs[0], "closed-a", MOAT_LAB_CLOSED, "us", 72.0, 1.5);
  moat_fixture_lab(&sc->labs[1], "closed-b", MOAT_LAB_CLOSED, "us", 71.0, 1.2);
  sc->labs[1].ecosystem_bonus = 0.08;
  sc->labs[1].training_spend_per_year = 1.5e10;
  sc->labs[1].cash_usd = 3.0e10;
  sc->labs[1].valuation_usd = 3.5e11;
  moat_fixture_lab(&sc->labs[2], "closed-c", MOAT_LAB_CLOSED, "us", 70.0, 1.0);
  sc->labs[2].ecosystem_bonus = 0.05;
  sc->labs[2].training_spend_per_year = 8.0e9;
  sc->labs[2].cash_usd = 1.5e10;
  sc->labs[2].valuation_usd = 1.5e11;
  moat_fixture_lab(&sc->labs[3], "open-a", MOAT_LAB_OPEN, "cn", 69.0, 0.25);
  moat_fixture_lab(&sc->labs[4], "open-b", MOAT_LAB_OPEN, "cn", 68.5, 0.3);
  sc->labs[4].lag = 0.01;
  sc->labs[4].capture_share = 0.12;
  sc->labs[4].release_rate_per_year = 2.5;
  sc->labs[4].valuation_usd = 2.0e10;
  moat_fixture_lab(&sc->labs[5], "open-c", MOAT_LAB_OPEN, "us", 67.5, 0.3);
  sc->labs[5].lag = 0.02;
  sc->labs[5].hosting_risk = 0.0;
  sc->labs[5].capture_share = 0.10;
  sc->labs[5].release_rate_per_year = 2.0;
  sc->labs[5].training_spend_per_year = 2.0e9;
  sc->labs[5].cash_usd = 1.0e10;
  sc->labs[5].valuation_usd = 5.0e10;

  sc->n_clouds = 3;
  moat_fixture_cloud(&sc->clouds[0], "hyperscaler", 1.0, 1.0);
  moat_fixture_cloud(&sc->clouds[1], "gpu-cloud", 0.9, 1.5);
  moat_fixture_cloud(&sc->clouds[2], "wafer-scale", 0.7, 10.0);
}

/* Assertions on doubles for cmocka tests (cmocka's assert_float_equal works on floats), and a
 * one-path runner. */
#ifdef CMOCKA_H_
#include <math.h>
#include <stdlib.h>

#include "moatsim/model.h"
#define assert_close(a, b, tol) moat_test_close((a), (b), (tol), #a, __FILE__, __LINE__)
static inline void moat_test_close(double a, double b, double tol, const char *what,
                                   const char *file, int line) {
  if (fabs(a - b) <= tol) return;
  print_error("%s = %.17g, expected %.17g (tolerance %g)\n", what, a, b, tol);
  _fail(file, line);
}

/* Run path `path` of scenario 0 of sc in a fresh workspace; the caller frees the results. */
static inline double *moat_test_run_path(const moat_scenario_t *sc, uint64_t path,
                                         moat_layout_t *lay) {
  char err[MOAT_ERR_MAX];
  moat_workspace_t *ws = moat_workspace_alloc();
  assert_non_null(ws);
  assert_int_equal(moat_workspace_reserve(ws, sc, err, sizeof err), 0);
  moat_scenario_layout(sc, lay);
  double *out = malloc(lay->per_path * sizeof(double));
  assert_non_null(out);
  assert_int_equal(moat_path_run(sc, 0, path, ws, out, NULL), 0);
  moat_workspace_free(ws);
  return out;
}
#endif

#endif
