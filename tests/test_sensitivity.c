/* test_sensitivity.c — Sobol and Morris estimators and PRIM against known answers: the Ishigami
 * and G functions' analytic indices, a function with known elementary effects, a planted box. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_qrng.h>
#include <gsl/gsl_rng.h>

#include "moatsim/config.h"
#include "moatsim/prim.h"
#include "moatsim/scenario.h"
#include "moatsim/sensitivity.h"
#include "moatsim/sweep.h"
#include "scenario_file.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static char tmp_path[64];
static char err[MOAT_ERR_MAX];

typedef double (*model_fn)(const double *u, int k);

/* Outputs of a Saltelli design of N rows over k unit-cube inputs, in the design's scenario order
 * (A, A_B^(1..k), [B_A^(1..k)], B per row; checked against moat_sweep_value in test_sweep.c),
 * from GSL's 2k-dimensional Sobol sequence as the design takes it. */
static double *saltelli_outputs(model_fn f, int k, size_t n, int second_order) {
  size_t block = moat_sweep_saltelli_block(k, second_order);
  double *y = malloc(n * block * sizeof *y), pt[40], u[20];
  gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, (unsigned)(2 * k));
  assert_true(y && q);
  for (size_t j = 0; j < n; j++) {
    gsl_qrng_get(q, pt);
    for (size_t r = 0; r < block; r++) {
      for (int a = 0; a < k; a++) {
        int from_b = r == block - 1 || (r >= 1 && r <= (size_t)k && a == (int)r - 1) ||
                     (r > (size_t)k && r < block - 1 && a != (int)r - 1 - k);
        u[a] = pt[from_b ? k + a : a];
      }
      y[j * block + r] = f(u, k);
    }
  }
  gsl_qrng_free(q);
  return y;
}

typedef struct sobol_buf {
  double s1[20], s1l[20], s1h[20], st[20], stl[20], sth[20], s2[400];
  moat_sobol_t out;
} sobol_buf_t;

static void sobol_init(sobol_buf_t *b) {
  b->out = (moat_sobol_t){b->s1, b->s1l, b->s1h, b->st, b->stl, b->sth, b->s2, 0, 0};
}

/* want lies in the 95 % bootstrap interval [low, high], and the interval is narrower than
 * `width` (so that the check has teeth). The bootstrap treats the rows as independent draws;
 * a Sobol sequence's error is smaller, so the interval is conservative. */
static void assert_covers(const char *what, int i, double est, double low, double high, double want,
                          double width) {
  if (!(low <= want && want <= high && high - low < width)) {
    print_error("%s[%d] = %.4f, interval [%.4f, %.4f], analytic %.4f, width limit %.3f\n", what, i + 1,
                est, low, high, want, width);
    fail();
  }
}

/* Ishigami (1990): sin x1 + a sin^2 x2 + b x3^4 sin x1, x_i uniform on [-pi, pi]. */
static double ishigami(const double *u, int k) {
  (void)k;
  const double a = 7.0, b = 0.1;
  double x1 = M_PI * (2 * u[0] - 1), x2 = M_PI * (2 * u[1] - 1), x3 = M_PI * (2 * u[2] - 1);
  return sin(x1) + a * sin(x2) * sin(x2) + b * pow(x3, 4) * sin(x1);
}

/* Analytic indices for a = 7, b = 0.1 (Saltelli et al. 2008, Global Sensitivity Analysis: The
 * Primer, §4.8; Sobol' & Levitan 1999): V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2,
 * V1 = (1 + b pi^4/5)^2 / 2, V2 = a^2/8, V3 = 0, V13 = b^2 pi^8 (1/18 − 1/50). */
static void ishigami_indices(void **state) {
  (void)state;
  const double a = 7.0, b = 0.1, pi4 = pow(M_PI, 4), pi8 = pow(M_PI, 8);
  double v = a * a / 8 + b * pi4 / 5 + b * b * pi8 / 18 + 0.5;
  double v1 = 0.5 * (1 + b * pi4 / 5) * (1 + b * pi4 / 5), v2 = a * a / 8, v13 = b * b * pi8 * (1.0 / 18 - 1.0 / 50);
  const double s1[] = {v1 / v, v2 / v, 0.0}, st[] = {(v1 + v13) / v, v2 / v, v13 / v};
  /* the figures the issue quotes */
  assert_true(fabs(s1[0] - 0.314) < 5e-4 && fabs(s1[1] - 0.442) < 5e-4);
  assert_true(fabs(st[0] - 0.558) < 5e-4 && fabs(st[2] - 0.244) < 5e-4);
  size_t n = 4096;
  double *y = saltelli_outputs(ishigami, 3, n, 0);
  sobol_buf_t r;
  sobol_init(&r);
  assert_int_equal(moat_sobol_estimate(y, NULL, n, 3, 0, &r.out, err, sizeof err), MOAT_OK);
  assert_true(fabs(r.out.variance - v) < 0.05 * v);
  for (int i = 0; i < 3; i++) {
    assert_covers("S", i, r.s1[i], r.s1l[i], r.s1h[i], s1[i], 0.15);
    assert_covers("ST", i, r.st[i], r.stl[i], r.sth[i], st[i], 0.15);
  }
  free(y);
}

/* Sobol's G function over k = 6 inputs, g = prod (|4u − 2| + a_i) / (1 + a_i): V_i = 1 / (3 (1 +
 * a_i)^2), V = prod (1 + V_i) − 1, S_i = V_i / V, S_Ti = V_i prod_{j != i} (1 + V_j) / V
 * (Saltelli et al. 2010, §5). a = (0, 1, 4.5, 9, 99, 99): important, less, ..., negligible. */
static const double g_a[] = {0.0, 1.0, 4.5, 9.0, 99.0, 99.0};
static double g_function(const double *u, int k) {
  double g = 1;
  for (int i = 0; i < k; i++) g *= (fabs(4 * u[i] - 2) + g_a[i]) / (1 + g_a[i]);
  return g;
}

static void g_function_indices(void **state) {
  (void)state;
  const int k = 6;
  double vi[6], v = 1;
  for (int i = 0; i < k; i++) {
    vi[i] = 1.0 / (3 * (1 + g_a[i]) * (1 + g_a[i]));
    v *= 1 + vi[i];
  }
  v -= 1;
  size_t n = 4096;
  double *y = saltelli_outputs(g_function, k, n, 1);
  sobol_buf_t r;
  sobol_init(&r);
  assert_int_equal(moat_sobol_estimate(y, NULL, n, k, 1, &r.out, err, sizeof err), MOAT_OK);
  for (int i = 0; i < k; i++) {
    double rest = 1;
    for (int j = 0; j < k; j++)
      if (j != i) rest *= 1 + vi[j];
    assert_covers("S", i, r.s1[i], r.s1l[i], r.s1h[i], vi[i] / v, 0.15);
    assert_covers("ST", i, r.st[i], r.stl[i], r.sth[i], vi[i] * rest / v, 0.15);
  }
  /* S_12 = V_1 V_2 / V (the G function's closed-order terms are products); the second-order
   * estimator (Saltelli 2002) is noisier: within 0.03, 5 times its largest interval above */
  assert_true(fabs(r.s2[0 * k + 1] - vi[0] * vi[1] / v) < 0.03);
  assert_true(isnan(r.s2[1 * k + 0]) && isnan(r.s2[2 * k + 2]));
  free(y);
}

/* Independent noise on every scenario's value (the mean of finitely many paths): with its
 * variance passed, an input without effect (the 4th) gets S_T centred on 0 and an interval
 * covering it, and the Ishigami indices stay within their intervals; without it, the same
 * input's S_T is ~ sigma^2 / V > 0 with an interval excluding 0 (every Jansen term is a square). */
static double noisy_ishigami(const double *u, int k) {
  (void)k;
  return ishigami(u, 3);
}

static void noise_correction(void **state) {
  (void)state;
  size_t n = 2048, block = moat_sweep_saltelli_block(4, 0);
  double *y = saltelli_outputs(noisy_ishigami, 4, n, 0), *noise = malloc(n * block * sizeof *noise);
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 20261202);
  const double sigma = 1.0; /* V = 13.84: noise is 7 % of the variance */
  for (size_t s = 0; s < n * block; s++) {
    double z = sqrt(-2 * log(1 - gsl_rng_uniform(g))) * cos(2 * M_PI * gsl_rng_uniform(g));
    y[s] += sigma * z;
    noise[s] = sigma * sigma;
  }
  sobol_buf_t r;
  sobol_init(&r);
  assert_int_equal(moat_sobol_estimate(y, noise, n, 4, 0, &r.out, err, sizeof err), MOAT_OK);
  assert_true(r.stl[3] <= 0 && 0 <= r.sth[3]);
  /* S_4 = 0: within 4 standard errors (the 95 % interval's half-width is 1.96 of them) */
  assert_true(fabs(r.s1[3]) <= 2 * (r.s1h[3] - r.s1l[3]) / 2);
  assert_covers("ST", 1, r.st[1], r.stl[1], r.sth[1], 0.442, 0.2);
  assert_int_equal(moat_sobol_estimate(y, NULL, n, 4, 0, &r.out, err, sizeof err), MOAT_OK);
  assert_true(r.stl[3] > 0);
  gsl_rng_free(g);
  free(y);
  free(noise);
}

/* Bad input: a NaN output names the scenario; a constant output has no variance. */
static void sobol_bad_input(void **state) {
  (void)state;
  double y[2 * 4];
  sobol_buf_t r;
  sobol_init(&r);
  for (int s = 0; s < 8; s++) y[s] = 1.0;
  assert_int_equal(moat_sobol_estimate(y, NULL, 2, 2, 0, &r.out, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "does not vary"));
  y[5] = NAN;
  assert_int_equal(moat_sobol_estimate(y, NULL, 2, 2, 0, &r.out, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "scenario 5"));
}

/* The bootstrap's primitives: percentile type 7 by hand, and resampled rows in range and
 * uniform (chi-square over 10 cells of 100000 draws: 9 degrees of freedom, 27.9 is p = 0.001). */
static void bootstrap_primitives(void **state) {
  (void)state;
  double v[] = {4, 1, 3, 2};
  assert_true(fabs(moat_sens_percentile(v, 4, 0.25) - 1.75) < 1e-15); /* h = 0.75: 1 + 0.75 */
  assert_true(moat_sens_percentile(v, 4, 1.0) == 4);
  size_t cells[10] = {0};
  for (uint64_t b = 0; b < 100; b++)
    for (uint64_t j = 0; j < 1000; j++) {
      size_t row = moat_sens_resample_row(b, j, 10);
      assert_true(row < 10);
      cells[row]++;
    }
  double chi2 = 0;
  for (int c = 0; c < 10; c++) chi2 += ((double)cells[c] - 10000.0) * ((double)cells[c] - 10000.0) / 10000.0;
  assert_true(chi2 < 27.9);
}

/* ---- Morris -------------------------------------------------------------------------------- */

#define MINIMAL                                                                                   \
  "labs = ( { name = \"c1\"; kind = \"closed\"; },\n"                                             \
  "         { name = \"o1\"; kind = \"open\"; origin = \"cn\"; } );\n"                            \
  "clouds = ( { name = \"k1\"; } );\n"

/* f = 10 u1 + 5 u2 + u3 + 0 u4 + 4 u1 u2 on unit coordinates: the elementary effect of u1 is
 * 10 + 4 u2 in [10, 14], of u2 5 + 4 u1 in [5, 9], of u3 exactly 1, of u4 exactly 0. So
 * mu*_1 in [10, 14] > mu*_2 in [5, 9] > mu*_3 = 1 > mu*_4 = 0, sigma_3 = sigma_4 = 0 and
 * sigma_1, sigma_2 > 0; the trajectories come from the morris design itself. */
static void morris_known_effects(void **state) {
  (void)state;
  moat_config_t cfg;
  write_scenario_file(tmp_path, sizeof tmp_path, "/tmp/moat_test_sens_XXXXXX",
                      MINIMAL "sweep = { method = \"morris\"; samples = 30; levels = 4; axes = (\n"
                              "  { param = \"quality_gap.long_run\"; min = 0.01; max = 0.51; },\n"
                              "  { param = \"market.price_elasticity\"; min = 0.5; max = 1.5; },\n"
                              "  { param = \"quality_gap.volatility\"; min = 0.1; max = 0.9; },\n"
                              "  { param = \"quality_gap.reversion_per_year\"; min = 0.2; max = 2.2; } ); };\n");
  assert_int_equal(moat_config_load(&cfg, tmp_path, NULL, 0, err, sizeof err), MOAT_OK);
  const double lo[] = {0.01, 0.5, 0.1, 0.2}, width[] = {0.5, 1.0, 0.8, 2.0};
  size_t n = moat_sweep_count(&cfg), r = 30;
  assert_int_equal(n, r * 5);
  double *x = malloc(n * 4 * sizeof *x), *y = malloc(n * sizeof *y);
  for (size_t s = 0; s < n; s++) {
    double u[4];
    for (int a = 0; a < 4; a++) {
      x[s * 4 + (size_t)a] = moat_sweep_value(&cfg, s, a);
      u[a] = (x[s * 4 + (size_t)a] - lo[a]) / width[a];
    }
    y[s] = 10 * u[0] + 5 * u[1] + u[2] + 4 * u[0] * u[1];
  }
  double mu[4], ms[4], msl[4], msh[4], sd[4];
  moat_morris_t out = {mu, ms, msl, msh, sd};
  assert_int_equal(moat_morris_estimate(y, x, r, 4, moat_sweep_morris_delta(4), &out, err, sizeof err), MOAT_OK);
  assert_true(ms[0] >= 10 - 1e-9 && ms[0] <= 14 + 1e-9 && sd[0] > 0);
  assert_true(ms[1] >= 5 - 1e-9 && ms[1] <= 9 + 1e-9 && sd[1] > 0);
  assert_true(fabs(ms[2] - 1) < 1e-9 && fabs(mu[2] - 1) < 1e-9 && sd[2] < 1e-9);
  assert_true(fabs(ms[3]) < 1e-9 && sd[3] < 1e-9);
  assert_true(msl[0] <= ms[0] && ms[0] <= msh[0] && msh[1] < msl[0]);
  /* a design whose consecutive points differ in two axes is refused */
  x[1 * 4 + 0] += 0.01;
  x[1 * 4 + 1] += 0.01;
  assert_int_equal(moat_morris_estimate(y, x, r, 4, 0.5, &out, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "differ in"));
  free(x);
  free(y);
  moat_config_clear(&cfg);
}

/* ---- PRIM ---------------------------------------------------------------------------------- */

/* n uniform points in [0, 1]^4; the condition holds in the planted box [0.2, 0.7] x [0.4, 1] on
 * parameters 0 and 1 (volume 0.3), flipped with probability `flip` everywhere. */
static void planted(double *x, unsigned char *hit, size_t n, double flip, unsigned long seed) {
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, seed);
  for (size_t s = 0; s < n; s++) {
    for (int d = 0; d < 4; d++) x[s * 4 + (size_t)d] = gsl_rng_uniform(g);
    int in = x[s * 4] >= 0.2 && x[s * 4] <= 0.7 && x[s * 4 + 1] >= 0.4;
    hit[s] = (unsigned char)(gsl_rng_uniform(g) < flip ? !in : in);
  }
  gsl_rng_free(g);
}

/*
 * Without label noise the box is found to within one peel: peeling stops at density 1, and each
 * peel moves a limit by 5 % of the box's points, so the last peels can cut into B by one step on
 * each of its three inner limits: ~0.025 on each side of parameter 0 (10 % of B's points) and
 * ~0.03 on parameter 1 (5 %); pasting only follows a rise in density, which cannot pass 1. So
 * coverage >= 0.85, density 1, limits within 0.05 of the planted ones, parameters 2 and 3
 * unrestricted or nearly (limits within 0.05 of the data's range).
 * With 5 % of labels flipped: the box's density is 0.95 inside B (binomial sd sqrt(.95 .05 /
 * 600) = 0.009, so > 0.9 at 5 sd), coverage of B is 0.95 · 600 / (0.95 · 600 + 0.05 · 1400) =
 * 0.89 (>= 0.8 allowing a peel into B), and the quasi-p-values of the planted parameters are tiny.
 */
static void prim_planted_box(void **state) {
  (void)state;
  size_t n = 2000;
  double *x = malloc(n * 4 * sizeof *x), qp[4];
  unsigned char *hit = malloc(n);
  moat_prim_t p;
  planted(x, hit, n, 0.0, 7);
  assert_int_equal(moat_prim_run(x, hit, n, 4, MOAT_PRIM_ALPHA, MOAT_PRIM_MASS_MIN, &p, err, sizeof err), MOAT_OK);
  const moat_prim_box_t *b = &p.steps[moat_prim_choose(&p, 0.5)];
  assert_true(b->density == 1.0 && b->coverage >= 0.85);
  assert_true(fabs(b->low[0] - 0.2) < 0.05 && fabs(b->high[0] - 0.7) < 0.05 && fabs(b->low[1] - 0.4) < 0.05);
  assert_true(b->high[1] > 0.95 && b->low[2] < 0.05 && b->high[2] > 0.95 && b->low[3] < 0.05 && b->high[3] > 0.95);
  assert_true(p.steps[0].coverage == 1.0 && p.steps[0].n == n);
  moat_prim_clear(&p);

  planted(x, hit, n, 0.05, 11);
  assert_int_equal(moat_prim_run(x, hit, n, 4, MOAT_PRIM_ALPHA, MOAT_PRIM_MASS_MIN, &p, err, sizeof err), MOAT_OK);
  size_t c = moat_prim_choose(&p, 0.8);
  b = &p.steps[c];
  assert_true(b->density > 0.9 && b->coverage >= 0.8);
  assert_true(fabs(b->low[0] - 0.2) < 0.05 && fabs(b->high[0] - 0.7) < 0.05 && fabs(b->low[1] - 0.4) < 0.05);
  moat_prim_quasi_p(x, hit, n, &p, c, qp);
  assert_true(qp[0] < 1e-6 && qp[1] < 1e-6);
  /* trajectory: density rises (weakly) along the peels, coverage falls (weakly) */
  for (size_t s = 1; s < p.n_steps && !p.steps[s].pasted; s++)
    assert_true(p.steps[s].coverage <= p.steps[s - 1].coverage && p.steps[s].n < p.steps[s - 1].n);
  moat_prim_clear(&p);

  /* the condition in none or all of the scenarios, too few scenarios */
  memset(hit, 0, n);
  assert_int_equal(moat_prim_run(x, hit, n, 4, MOAT_PRIM_ALPHA, MOAT_PRIM_MASS_MIN, &p, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "holds in none of the 2000"));
  memset(hit, 1, n);
  assert_int_equal(moat_prim_run(x, hit, n, 4, MOAT_PRIM_ALPHA, MOAT_PRIM_MASS_MIN, &p, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "holds in all of the 2000"));
  hit[0] = 0;
  assert_int_equal(moat_prim_run(x, hit, 20, 4, MOAT_PRIM_ALPHA, MOAT_PRIM_MASS_MIN, &p, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "at least 50 scenarios"));
  free(x);
  free(hit);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ishigami_indices), cmocka_unit_test(g_function_indices),
      cmocka_unit_test(noise_correction), cmocka_unit_test(sobol_bad_input),
      cmocka_unit_test(bootstrap_primitives), cmocka_unit_test(morris_known_effects),
      cmocka_unit_test(prim_planted_box),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  if (tmp_path[0]) remove(tmp_path);
  return rc;
}
