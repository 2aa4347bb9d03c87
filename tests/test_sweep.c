/* test_sweep.c — sweep designs: grid order (last axis fastest), list rows, Latin hypercube
 * strata, Sobol against GSL's own sequence, presets' percentiles, and every bad design. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <gsl/gsl_qrng.h>

#include "message_check.h"
#include "scenario_file.h"

#include "moatsim/config.h"
#include "moatsim/sweep.h"

/* A minimal valid scenario: one lab of each kind and one cloud; everything else defaults.
 * The sweep section starts on line 4. */
#define MINIMAL                                                                                   \
  "labs = ( { name = \"c1\"; kind = \"closed\"; },\n"                                             \
  "         { name = \"o1\"; kind = \"open\"; origin = \"cn\"; } );\n"                            \
  "clouds = ( { name = \"k1\"; } );\n"

static char tmp_path[64];
static char err[MOAT_ERR_MAX];

static int load(const char *text, moat_config_t *cfg) {
  write_scenario_file(tmp_path, sizeof tmp_path, "/tmp/moat_test_sweep_XXXXXX", text);
  err[0] = '\0';
  return moat_config_load(cfg, tmp_path, NULL, 0, err, sizeof err);
}

static void load_ok(const char *text, moat_config_t *cfg) {
  if (load(text, cfg) != MOAT_OK) {
    print_error("load failed: %s\n", err);
    fail();
  }
}

/* The load fails with MOAT_EINVAL, the message names the file, and holds every needle. */
static void load_fails(const char *text, ...) {
  moat_config_t cfg;
  assert_int_equal(load(text, &cfg), MOAT_EINVAL);
  if (!strstr(err, tmp_path)) {
    print_error("message \"%s\" does not name the file\n", err);
    fail();
  }
  va_list ap;
  va_start(ap, text);
  assert_message_has(err, ap);
  va_end(ap);
}

/* The value of `key` in scenario k as applied by moat_sweep_scenario. */
static double applied(const moat_config_t *cfg, size_t k, const char *key) {
  moat_scenario_t sc;
  assert_int_equal(moat_sweep_scenario(cfg, k, &sc, err, sizeof err), MOAT_OK);
  double v = NAN;
  assert_int_equal(moat_scenario_get_number(&sc, key, &v, err, sizeof err), MOAT_OK);
  return v;
}

/* Grid: scenario k = i0 * n1 * n2 + i1 * n2 + i2 (last axis fastest), values applied. */
static void grid_order(void **state) {
  (void)state;
  moat_config_t cfg;
  load_ok(MINIMAL "sweep = { method = \"grid\"; axes = (\n"
                  "  { param = \"quality_gap.long_run\"; values = [0.01, 0.02, 0.05]; },\n"
                  "  { param = \"enterprises.count\"; values = [100, 200]; },\n"
                  "  { param = \"market.price_elasticity\"; values = [0.5, 1.0, 1.5, 2.0]; } ); };\n",
          &cfg);
  const double a[] = {0.01, 0.02, 0.05}, b[] = {100, 200}, c[] = {0.5, 1.0, 1.5, 2.0};
  assert_int_equal(moat_sweep_count(&cfg), 3 * 2 * 4);
  size_t k = 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      for (int l = 0; l < 4; l++, k++) {
        assert_true(moat_sweep_value(&cfg, k, 0) == a[i]);
        assert_true(moat_sweep_value(&cfg, k, 1) == b[j]);
        assert_true(moat_sweep_value(&cfg, k, 2) == c[l]);
        assert_true(applied(&cfg, k, "quality_gap.long_run") == a[i]);
        assert_true(applied(&cfg, k, "enterprises.count") == b[j]);
        assert_true(applied(&cfg, k, "market.price_elasticity") == c[l]);
      }
  moat_scenario_t sc;
  assert_int_equal(moat_sweep_scenario(&cfg, 24, &sc, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "24 scenarios"));
  moat_config_clear(&cfg);
}

/* List: scenario k takes row k of every axis. */
static void list_rows(void **state) {
  (void)state;
  moat_config_t cfg;
  load_ok(MINIMAL "sweep = { method = \"list\"; axes = (\n"
                  "  { param = \"quality_gap.long_run\"; values = [0.01, 0.02, 0.05]; },\n"
                  "  { param = \"enterprises.count\"; values = [300, 100, 200]; } ); };\n",
          &cfg);
  const double a[] = {0.01, 0.02, 0.05}, b[] = {300, 100, 200};
  assert_int_equal(moat_sweep_count(&cfg), 3);
  for (size_t k = 0; k < 3; k++) {
    assert_true(applied(&cfg, k, "quality_gap.long_run") == a[k]);
    assert_true(applied(&cfg, k, "enterprises.count") == b[k]);
  }
  moat_config_clear(&cfg);
}

/* LHS: on every axis, the n points fall one in each of the n equal strata of [min, max]
 * (of [ln min, ln max] for a log axis), for several n including a non-power of 2. */
static void lhs_strata(void **state) {
  (void)state;
  const int ns[] = {1, 7, 64, 250};
  for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
    int n = ns[t];
    char text[1024];
    snprintf(text, sizeof text, MINIMAL "sweep = { method = \"lhs\"; samples = %d; axes = (\n"
             "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.09; },\n"
             "  { param = \"market.price_elasticity\"; min = 0.2; max = 3.0; log = true; },\n"
             "  { param = \"quality_gap.volatility\"; min = 0.0; max = 1.0; } ); };\n", n);
    moat_config_t cfg;
    load_ok(text, &cfg);
    assert_int_equal(moat_sweep_count(&cfg), (size_t)n);
    for (int a = 0; a < 3; a++) {
      const moat_sweep_axis_t *ax = &cfg.sweep.axes[a];
      int *hits = calloc((size_t)n, sizeof *hits);
      assert_non_null(hits);
      for (int k = 0; k < n; k++) {
        double v = moat_sweep_value(&cfg, (size_t)k, a);
        double u = ax->log ? (log(v) - log(ax->min)) / (log(ax->max) - log(ax->min))
                           : (v - ax->min) / (ax->max - ax->min);
        assert_true(u >= 0 && u < 1);
        hits[(int)floor(u * n)]++;
      }
      for (int s = 0; s < n; s++) assert_int_equal(hits[s], 1);
      free(hits);
    }
    moat_config_clear(&cfg);
  }
}

/* Sobol: point k is GSL's k-th Sobol point (gsl_qrng_sobol, stepping from the start) mapped
 * to min + u (max - min). Up to rounding of the one multiply-add: 1 ulp of the range. */
static void sobol_is_gsl(void **state) {
  (void)state;
  moat_config_t cfg;
  load_ok(MINIMAL "sweep = { method = \"sobol\"; samples = 50; axes = (\n"
                  "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.09; },\n"
                  "  { param = \"market.price_elasticity\"; min = 0.2; max = 3.0; },\n"
                  "  { param = \"quality_gap.volatility\"; min = 0.1; max = 1.0; } ); };\n",
          &cfg);
  gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, 3);
  assert_non_null(q);
  for (size_t k = 0; k < 50; k++) {
    double u[3];
    gsl_qrng_get(q, u);
    for (int a = 0; a < 3; a++) {
      const moat_sweep_axis_t *ax = &cfg.sweep.axes[a];
      double want = ax->min + u[a] * (ax->max - ax->min);
      assert_true(fabs(moat_sweep_value(&cfg, k, a) - want) <= 4 * 2.2e-16 * ax->max);
    }
  }
  gsl_qrng_free(q);
  moat_config_clear(&cfg);
}

/* Presets: low, mid, high are the 5th, 50th and 95th percentiles. LHS puts exactly one of n
 * unit coordinates in each stratum [s/n, (s+1)/n) and the map is increasing with u = 0.05 ->
 * low and u = 0.5 -> mid, so the fraction below low is within 1/n of 0.05 and the fraction
 * below mid within 1/n of 0.5 (no sampling error beyond the stratum width). */
static void presets_percentiles(void **state) {
  (void)state;
  const char *axes[] = {"{ param = \"quality_gap.volatility\"; low = 0.1; mid = 0.25; high = 0.6; }",
                        "{ param = \"market.price_elasticity\"; low = 0.3; mid = 0.8; high = 2.5; log = true; }"};
  for (int t = 0; t < 2; t++) {
    const int n = 400;
    char text[1024];
    snprintf(text, sizeof text, MINIMAL "sweep = { method = \"lhs\"; samples = %d; axes = ( %s ); };\n", n,
             axes[t]);
    moat_config_t cfg;
    load_ok(text, &cfg);
    const moat_sweep_axis_t *ax = &cfg.sweep.axes[0];
    int below_low = 0, below_mid = 0, below_high = 0;
    for (int k = 0; k < n; k++) {
      double v = moat_sweep_value(&cfg, (size_t)k, 0);
      below_low += v < ax->low, below_mid += v < ax->mid, below_high += v < ax->high;
    }
    assert_true(fabs(below_low / (double)n - 0.05) <= 1.0 / n);
    assert_true(fabs(below_mid / (double)n - 0.5) <= 1.0 / n);
    assert_true(fabs(below_high / (double)n - 0.95) <= 1.0 / n);
    moat_config_clear(&cfg);
  }
}

/* Every bad design is refused at load with file:line, the key, the value and the rule. */

/* Saltelli: N = 8 base rows, k = 3, with second order: 8 blocks of 2k + 2 = 8 scenarios. Row j
 * of GSL's 6-dimensional Sobol sequence gives A (coordinates 0..2) and B (3..5); each block is
 * A, A_B^(1..3) (A with column i from B), B_A^(1..3) (B with column i from A), B. */
static void saltelli_blocks(void **state) {
  (void)state;
  moat_config_t cfg;
  load_ok(MINIMAL "sweep = { method = \"saltelli\"; samples = 8; second_order = true; axes = (\n"
                  "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.5; },\n"
                  "  { param = \"market.price_elasticity\"; min = 0.5; max = 2.5; },\n"
                  "  { param = \"quality_gap.volatility\"; min = 0.0; max = 1.0; } ); };\n",
          &cfg);
  const double lo[] = {0.01, 0.5, 0.0}, width[] = {0.49, 2.0, 1.0};
  assert_int_equal(moat_sweep_count(&cfg), 8 * 8);
  assert_int_equal(moat_sweep_saltelli_block(3, 1), 8);
  assert_int_equal(moat_sweep_saltelli_block(3, 0), 5);
  gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, 6);
  assert_non_null(q);
  for (size_t j = 0; j < 8; j++) {
    double u[6];
    gsl_qrng_get(q, u);
    for (size_t r = 0; r < 8; r++)
      for (int a = 0; a < 3; a++) {
        int from_b = r == 7 || (r >= 1 && r <= 3 && a == (int)r - 1) || (r >= 4 && r <= 6 && a != (int)r - 4);
        double want = lo[a] + width[a] * u[from_b ? 3 + a : a];
        assert_true(fabs(moat_sweep_value(&cfg, j * 8 + r, a) - want) <= 1e-15);
      }
  }
  gsl_qrng_free(q);
  moat_config_clear(&cfg);
}

/* Morris: r = 20 trajectories of k + 1 = 4 points, p = 6 levels (Delta = 6/10 of the range).
 * Every point is on the grid {0, 1/5, ..., 1} of each axis; consecutive points of a trajectory
 * differ in exactly one axis, by exactly ±Delta, and each axis moves once per trajectory. */
static void morris_trajectories(void **state) {
  (void)state;
  moat_config_t cfg;
  load_ok(MINIMAL "sweep = { method = \"morris\"; samples = 20; levels = 6; axes = (\n"
                  "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.51; },\n"
                  "  { param = \"market.price_elasticity\"; min = 0.5; max = 1.5; },\n"
                  "  { param = \"quality_gap.volatility\"; min = 0.0; max = 1.0; } ); };\n",
          &cfg);
  assert_int_equal(moat_sweep_count(&cfg), 20 * 4);
  const double lo[] = {0.01, 0.5, 0.0}, width[] = {0.5, 1.0, 1.0}, delta = 6.0 / 10.0;
  int moves_up = 0;
  for (size_t t = 0; t < 20; t++) {
    int moved[3] = {0, 0, 0};
    for (size_t m = 0; m < 4; m++)
      for (int a = 0; a < 3; a++) {
        double u = (moat_sweep_value(&cfg, t * 4 + m, a) - lo[a]) / width[a];
        assert_true(fabs(u * 5 - round(u * 5)) < 1e-9 && u >= -1e-12 && u <= 1 + 1e-12);
        if (m == 0) continue;
        double prev = (moat_sweep_value(&cfg, t * 4 + m - 1, a) - lo[a]) / width[a];
        if (fabs(u - prev) < 1e-12) continue;
        assert_true(fabs(fabs(u - prev) - delta) < 1e-9);
        moved[a]++;
        moves_up += u > prev;
      }
    assert_int_equal(moved[0] + moved[1] + moved[2], 3);
    assert_true(moved[0] == 1 && moved[1] == 1 && moved[2] == 1);
  }
  /* directions are drawn, not fixed: 60 moves, each up with probability 1/2 (binomial sd 3.9) */
  assert_true(moves_up > 10 && moves_up < 50);
  moat_config_clear(&cfg);
}

static void bad_designs(void **state) {
  (void)state;
  char line5[96];
  moat_config_t cfg;
  load_ok(MINIMAL, &cfg); /* makes the file name */
  moat_config_clear(&cfg);
  snprintf(line5, sizeof line5, "%s:5:", tmp_path);
  /* a key that does not exist */
  load_fails(MINIMAL "sweep = { method = \"grid\";\n axes = ( { param = \"quality_gap.long_rn\"; values = [0.1]; } ); };\n",
             line5, "quality_gap.long_rn", "did you mean `quality_gap.long_run`?", NULL);
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 4;\n axes = ( { param = \"labs.c9.quality\"; min = 1; max = 2; } ); };\n",
             line5, "labs.c9.quality", NULL);
  /* a key that is not a number */
  load_fails(MINIMAL "sweep = { method = \"grid\";\n axes = ( { param = \"output.file\"; values = [1]; } ); };\n",
             line5, "output.file", NULL);
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 4;\n axes = ( { param = \"name\"; min = 1; max = 2; } ); };\n",
             line5, "\"name\"", NULL);
  /* values outside the key's range: grid, list, lhs range and preset */
  load_fails(MINIMAL "sweep = { method = \"grid\";\n axes = ( { param = \"quality_gap.long_run\"; values = [0.1, 2.0]; } ); };\n",
             line5, "quality_gap.long_run = 2 is outside", NULL);
  load_fails(MINIMAL "sweep = { method = \"list\";\n axes = ( { param = \"enterprises.count\"; values = [10, 0]; } ); };\n",
             line5, "enterprises.count = 0 is outside", NULL);
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 8;\n axes = ( { param = \"market.price_elasticity\"; min = 0.5; max = 9; } ); };\n",
             line5, "market.price_elasticity = 9 is outside", NULL);
  load_fails(MINIMAL "sweep = { method = \"sobol\"; samples = 8;\n axes = ( { param = \"quality_gap.volatility\"; low = -1; mid = 0.2; high = 0.5; } ); };\n",
             line5, "quality_gap.volatility = -1 is outside", NULL);
  /* min >= max; preset out of order */
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 8;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.05; max = 0.05; } ); };\n",
             line5, "min = 0.05 is not below max = 0.05", NULL);
  load_fails(MINIMAL "sweep = { method = \"sobol\"; samples = 8;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.08; max = 0.02; } ); };\n",
             line5, "min = 0.08 is not below max = 0.02", NULL);
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 8;\n axes = ( { param = \"quality_gap.long_run\"; low = 0.05; mid = 0.03; high = 0.08; } ); };\n",
             line5, "low < mid < high", NULL);
  /* zero samples */
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 0;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; } ); };\n",
             "sweep.samples = 0 is outside [1,", NULL);
  load_fails(MINIMAL "sweep = { method = \"sobol\"; samples = 0;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; } ); };\n",
             "sweep.samples = 0 is outside [1,", NULL);
  /* list axes of different lengths */
  load_fails(MINIMAL "sweep = { method = \"list\"; axes = (\n { param = \"quality_gap.long_run\"; values = [0.01, 0.02]; },\n"
                     " { param = \"enterprises.count\"; values = [10, 20, 30]; } ); };\n",
             "has 3 values but axis 1 has 2", NULL);
  /* more Sobol dimensions than GSL supports (its maximum, read from GSL, plus one) */
  unsigned dims = gsl_qrng_sobol->max_dimension + 1;
  size_t cap = 256 + 96 * (size_t)dims;
  char *text = malloc(cap), want[64];
  assert_non_null(text);
  size_t n = (size_t)snprintf(text, cap, MINIMAL "sweep = { method = \"sobol\"; samples = 8; axes = (\n");
  for (unsigned a = 0; a < dims; a++)
    n += (size_t)snprintf(text + n, cap - n, "%s { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; }\n",
                          a ? "," : "");
  snprintf(text + n, cap - n, "); };\n");
  snprintf(want, sizeof want, "has %u axes but GSL's Sobol sequence supports at most %u", dims, dims - 1);
  load_fails(text, want, "use method = \"lhs\"", NULL);
  free(text);
  /* design keys on the wrong design, morris with presets, odd levels, too many saltelli axes */
  load_fails(MINIMAL "sweep = { method = \"lhs\"; samples = 4; levels = 4;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; } ); };\n",
             "sweep.levels = 4 applies to method = \"morris\" only", NULL);
  load_fails(MINIMAL "sweep = { method = \"morris\"; samples = 4; second_order = true;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; } ); };\n",
             "sweep.second_order applies to method = \"saltelli\" only", NULL);
  load_fails(MINIMAL "sweep = { method = \"morris\"; samples = 4; levels = 5;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; } ); };\n",
             "sweep.levels expects an even whole number", NULL);
  load_fails(MINIMAL "sweep = { method = \"morris\"; samples = 4;\n axes = ( { param = \"quality_gap.long_run\"; low = 0.01; mid = 0.02; high = 0.05; } ); };\n",
             line5, "a morris axis takes `min` and `max`", NULL);
  load_fails(MINIMAL "sweep = { method = \"saltelli\"; samples = 1;\n axes = ( { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; } ); };\n",
             "a saltelli sweep needs at least 2 base rows", NULL);
  text = malloc(cap);
  assert_non_null(text);
  n = (size_t)snprintf(text, cap, MINIMAL "sweep = { method = \"saltelli\"; samples = 8; axes = (\n");
  for (unsigned a = 0; a < MOAT_SWEEP_SALTELLI_MAX_AXES + 1; a++)
    n += (size_t)snprintf(text + n, cap - n, "%s { param = \"quality_gap.long_run\"; min = 0.01; max = 0.05; }\n",
                          a ? "," : "");
  snprintf(text + n, cap - n, "); };\n");
  load_fails(text, "a saltelli sweep has at most 20 axes", NULL);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(grid_order),  cmocka_unit_test(list_rows),           cmocka_unit_test(lhs_strata),
      cmocka_unit_test(sobol_is_gsl), cmocka_unit_test(presets_percentiles), cmocka_unit_test(bad_designs),
      cmocka_unit_test(saltelli_blocks), cmocka_unit_test(morris_trajectories),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  if (tmp_path[0]) remove(tmp_path);
  return rc;
}
