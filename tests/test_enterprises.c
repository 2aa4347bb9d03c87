/* test_enterprises.c — the enterprise sampling schemes (MODEL.md §3; docs/model.md, enterprise
 * sampling): "weighted" against the literal i.i.d. draws, "size_biased" and "stratified" as
 * unbiased samples of the same market. Statistical checks use fixed seeds and tolerances of 3
 * standard errors of the statistic for the number of replications used (stated at each
 * check): a correct implementation fails one with probability about 0.3 % and, the seeds
 * being fixed, either always or never. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

#include "fixtures.h"
#include "moatsim/enterprises.h"
#include "moatsim/inversion.h"
#include "moatsim/rng.h"

static int same_state(const gsl_rng *a, const gsl_rng *b) {
  return memcmp(gsl_rng_state(a), gsl_rng_state(b), gsl_rng_size(a)) == 0;
}

/* The fixture's market with N enterprises drawn by `scheme`. */
static void market(moat_scenario_t *sc, int n, int scheme) {
  moat_fixture_baseline(sc);
  sc->enterprises.count = n;
  sc->enterprises.sampling = scheme;
}

/* Volume per step the enterprises share: demand_mtok_per_month x 12 dt. */
static double target_volume(const moat_scenario_t *sc) {
  return sc->market.demand_mtok_per_month * 12.0 / (double)sc->steps_per_year;
}

/* "weighted" is version 2's draw written out literally (MODEL.md §3): seven uniforms per
 * enterprise in enterprise order; ln D_i0 = volume_sigma Phi^-1(U_1), the six attributes by
 * inversion of U_2..U_7; D_i0 rescaled to the market's volume; the pool the round(0.3 N)
 * enterprises of highest privacy. Equal bit for bit, and the stream advanced by 7 N uniforms. */
static void weighted_is_the_iid_draw(void **state) {
  (void)state;
  enum { N = 300 };
  moat_scenario_t sc;
  market(&sc, N, MOAT_SAMPLING_WEIGHTED);
  moat_enterprises_t *e = moat_enterprises_alloc(N);
  gsl_rng *r = moat_rng_alloc(), *copy = moat_rng_alloc();
  moat_rng_seed(r, 21, 0, 3, MOAT_RNG_ATTRIBUTES);
  moat_rng_seed(copy, 21, 0, 3, MOAT_RNG_ATTRIBUTES);
  moat_enterprises_draw(&sc, r, e);
  const double sv = sc.enterprises.volume_sigma, sig = sc.enterprises.value_sigma;
  double d0[N], total = 0.0;
  for (size_t i = 0; i < N; i++) {
    double u[7];
    for (int k = 0; k < 7; k++) u[k] = moat_rng_uniform_pos(copy);
    d0[i] = exp(sv * moat_normal_quantile(u[0]));
    total += d0[i];
    assert_true(e->hard[i] == moat_beta_mean_quantile(u[1], sc.enterprises.hard_share_mean,
                                                      sc.enterprises.hard_share_concentration));
    assert_true(e->value[2 * i] == 30.0 * exp(sig * moat_normal_quantile(u[2])));
    assert_true(e->value[2 * i + 1] == 1.5 * exp(sig * moat_normal_quantile(u[3])));
    assert_true(e->privacy[i] == moat_beta_mean_quantile(u[4], sc.enterprises.privacy_mean,
                                                         sc.enterprises.privacy_concentration));
    assert_true(e->finetune[i] == 3.0 * moat_beta_quantile(u[5], 1.0, 4.0));
    assert_int_equal(e->restricted[i], u[6] < sc.governance.restricted_share);
  }
  assert_true(same_state(r, copy));
  double scale = target_volume(&sc) / total;
  size_t in_pool = 0;
  for (size_t i = 0; i < N; i++) {
    assert_true(e->d0[i] == d0[i] * scale);
    /* In the pool iff fewer than round(0.3 N) enterprises rank above it by privacy. */
    size_t above = 0;
    for (size_t j = 0; j < N; j++)
      above += e->privacy[j] > e->privacy[i] || (e->privacy[j] == e->privacy[i] && j < i);
    assert_int_equal(e->pool[i], above < 90);
    in_pool += e->pool[i];
  }
  assert_int_equal(in_pool, 90);
  gsl_rng_free(r);
  gsl_rng_free(copy);
  moat_enterprises_free(e);
}

/* "size_biased" takes the same uniforms as "weighted": the same attributes for every
 * enterprise, each carrying 1/N of the market's volume, and the same 7 N uniforms. */
static void size_biased_keeps_the_attributes(void **state) {
  (void)state;
  enum { N = 250 };
  moat_scenario_t w, s;
  market(&w, N, MOAT_SAMPLING_WEIGHTED);
  market(&s, N, MOAT_SAMPLING_SIZE_BIASED);
  moat_enterprises_t *a = moat_enterprises_alloc(N), *b = moat_enterprises_alloc(N);
  gsl_rng *r = moat_rng_alloc(), *q = moat_rng_alloc();
  moat_rng_seed(r, 8, 0, 1, MOAT_RNG_ATTRIBUTES);
  moat_rng_seed(q, 8, 0, 1, MOAT_RNG_ATTRIBUTES);
  moat_enterprises_draw(&w, r, a);
  moat_enterprises_draw(&s, q, b);
  assert_true(same_state(r, q));
  for (size_t i = 0; i < N; i++) {
    assert_true(a->hard[i] == b->hard[i] && a->privacy[i] == b->privacy[i]);
    assert_true(a->value[2 * i] == b->value[2 * i] && a->value[2 * i + 1] == b->value[2 * i + 1]);
    assert_true(a->finetune[i] == b->finetune[i] && a->restricted[i] == b->restricted[i]);
    assert_true(b->d0[i] == target_volume(&s) / N);
  }
  assert_true(fabs(b->pool_d0 - target_volume(&s) * 75.0 / N) <= 1e-12 * target_volume(&s));
  gsl_rng_free(r);
  gsl_rng_free(q);
  moat_enterprises_free(a);
  moat_enterprises_free(b);
}

/* "stratified": mapped back through its distribution function, each attribute's N values fall
 * one in each stratum [j/N, (j+1)/N); the restricted count is floor(pN) or floor(pN) + 1; the
 * stream advances by 6 (2N - 1) uniforms whatever the parameters, and other parameters move
 * each enterprise's attributes continuously (common random numbers): privacy, whose
 * parameters are unchanged, is bitwise the same, and a higher mean hard share raises every
 * enterprise's hard share. */
static void stratified_fills_every_stratum(void **state) {
  (void)state;
  enum { N = 173 };
  double privacy[N], hard[N];
  for (int variant = 0; variant < 2; variant++) {
    moat_scenario_t sc;
    market(&sc, N, MOAT_SAMPLING_STRATIFIED);
    if (variant) { /* other parameters: the same uniforms */
      sc.enterprises.hard_share_mean = 0.6;
      sc.enterprises.value_sigma = 1.4;
      sc.governance.restricted_share = 0.8;
    }
    moat_enterprises_t *e = moat_enterprises_alloc(N);
    gsl_rng *r = moat_rng_alloc(), *copy = moat_rng_alloc();
    moat_rng_seed(r, 4, 0, 9, MOAT_RNG_ATTRIBUTES);
    moat_rng_seed(copy, 4, 0, 9, MOAT_RNG_ATTRIBUTES);
    moat_enterprises_draw(&sc, r, e);
    for (int k = 0; k < 6 * (2 * N - 1); k++) gsl_rng_uniform(copy);
    assert_true(same_state(r, copy));
    const double m = sc.enterprises.hard_share_mean, c = sc.enterprises.hard_share_concentration;
    const double pm = sc.enterprises.privacy_mean, pc = sc.enterprises.privacy_concentration;
    const double sig = sc.enterprises.value_sigma;
    int seen[5][N] = {{0}};
    size_t restricted = 0;
    for (size_t i = 0; i < N; i++) {
      double u[5] = {gsl_cdf_beta_P(e->hard[i], m * c, (1.0 - m) * c),
                     gsl_cdf_ugaussian_P(log(e->value[2 * i] / 30.0) / sig),
                     gsl_cdf_ugaussian_P(log(e->value[2 * i + 1] / 1.5) / sig),
                     gsl_cdf_beta_P(e->privacy[i], pm * pc, (1.0 - pm) * pc),
                     gsl_cdf_beta_P(e->finetune[i] / 3.0, 1.0, 4.0)};
      for (int k = 0; k < 5; k++) seen[k][(int)floor(u[k] * N)]++;
      restricted += e->restricted[i];
      assert_true(e->d0[i] == target_volume(&sc) / N);
      if (variant) {
        assert_true(e->privacy[i] == privacy[i] && e->hard[i] > hard[i]);
      } else {
        privacy[i] = e->privacy[i];
        hard[i] = e->hard[i];
      }
    }
    for (int k = 0; k < 5; k++)
      for (int j = 0; j < N; j++) assert_int_equal(seen[k][j], 1);
    size_t lo = (size_t)floor(sc.governance.restricted_share * N);
    assert_true(restricted == lo || restricted == lo + 1);
    gsl_rng_free(r);
    gsl_rng_free(copy);
    moat_enterprises_free(e);
  }
}

/* Volume-weighted market averages of one draw: the hard segment's share of volume, the value
 * of hard work, privacy, fine-tuning gain, restricted share, the product h v_hard (two
 * attributes together), privacy x restriction, and the pool's share of volume; then the
 * weights' concentration sum w^2 / (sum w)^2 (1/N for equal weights). */
enum { N_STATS = 8 };
static void market_averages(const moat_enterprises_t *e, double out[N_STATS + 1]) {
  double w = 0.0, w2 = 0.0;
  for (int k = 0; k < N_STATS; k++) out[k] = 0.0;
  for (size_t i = 0; i < e->n; i++) {
    double d = e->d0[i];
    w += d;
    w2 += d * d;
    out[0] += d * e->hard[i];
    out[1] += d * e->value[2 * i];
    out[2] += d * e->privacy[i];
    out[3] += d * e->finetune[i];
    out[4] += d * e->restricted[i];
    out[5] += d * e->hard[i] * e->value[2 * i];
    out[6] += d * e->privacy[i] * e->restricted[i];
    out[7] += d * e->pool[i];
  }
  for (int k = 0; k < N_STATS; k++) out[k] /= w;
  out[N_STATS] = w2 / (w * w);
}

/* Each scheme is an unbiased sample of the same market: over R = 2000 replications of N = 200
 * enterprises, the mean of each volume-weighted average against its closed form (attributes
 * independent of each other and of volume, MODEL.md §3): E h = m; E v = median e^{sigma^2/2};
 * E pi = privacy mean; E phi = 3/5; E r = p; E h v = m median e^{sigma^2/2}; E pi r = pi-mean
 * p; the pool's share of volume round(0.3 N)/N (by exchangeability: the pool depends on
 * privacy only). The self-normalised weighted average is unbiased too here, its attributes
 * being independent of the weights. Tolerance 3 SE, SE = replication sd / sqrt(R) (plus 1e-12
 * relative: the equal-weight pool share is exact).
 * Then the precision of the hard share, whose variance given the weights is Var h sum w^2 /
 * (sum w)^2, Var h = m (1 - m) / (c + 1): "size_biased" matches Var h / N within 3 SE of a
 * sample variance (sqrt(2 / R) relative, the mean of 200 Betas being near normal); "weighted"
 * matches Var h x the replications' mean sum w^2 / (sum w)^2 within 20 % (its average is
 * heavy-tailed through the lognormal weights); "stratified" stays below a hundredth of the
 * i.i.d. variance (stratification leaves only the within-stratum variance, O(1/N^3)). */
static void schemes_are_unbiased(void **state) {
  (void)state;
  enum { N = 200, R = 2000 };
  static double x[3][N_STATS + 1][R];
  moat_scenario_t sc;
  for (int scheme = 0; scheme < 3; scheme++) {
    market(&sc, N, scheme);
    moat_enterprises_t *e = moat_enterprises_alloc(N);
    gsl_rng *r = moat_rng_alloc();
    for (int rep = 0; rep < R; rep++) {
      moat_rng_seed(r, 2026, 0, (uint64_t)rep, MOAT_RNG_ATTRIBUTES);
      moat_enterprises_draw(&sc, r, e);
      double avg[N_STATS + 1];
      market_averages(e, avg);
      for (int k = 0; k <= N_STATS; k++) x[scheme][k][rep] = avg[k];
    }
    const double m = sc.enterprises.hard_share_mean, p = sc.governance.restricted_share;
    const double v = 30.0 * exp(0.5 * sc.enterprises.value_sigma * sc.enterprises.value_sigma);
    const double expect[N_STATS] = {m, v, sc.enterprises.privacy_mean, 0.6, p, m * v,
                                    sc.enterprises.privacy_mean * p, 60.0 / N};
    for (int k = 0; k < N_STATS; k++) {
      double mean = gsl_stats_mean(x[scheme][k], 1, R);
      double se = sqrt(gsl_stats_variance_m(x[scheme][k], 1, R, mean) / R);
      if (fabs(mean - expect[k]) > 3.0 * se + 1e-12 * fabs(expect[k]))
        fail_msg("scheme %d, average %d: %.8g vs closed form %.8g (3 SE = %.3g)", scheme, k, mean,
                 expect[k], 3.0 * se);
    }
    gsl_rng_free(r);
    moat_enterprises_free(e);
  }
  const double m = sc.enterprises.hard_share_mean, c = sc.enterprises.hard_share_concentration;
  const double var_h = m * (1.0 - m) / (c + 1.0);
  double var[3], concentration = gsl_stats_mean(x[MOAT_SAMPLING_WEIGHTED][N_STATS], 1, R);
  for (int scheme = 0; scheme < 3; scheme++) var[scheme] = gsl_stats_variance(x[scheme][0], 1, R);
  assert_true(fabs(var[MOAT_SAMPLING_SIZE_BIASED] / (var_h / N) - 1.0) < 3.0 * sqrt(2.0 / R));
  assert_true(fabs(var[MOAT_SAMPLING_WEIGHTED] / (var_h * concentration) - 1.0) < 0.2);
  assert_true(concentration > 5.0 / N); /* the weights' effective sample is below N / 5 */
  assert_true(var[MOAT_SAMPLING_STRATIFIED] < 0.01 * var_h / N);
}
int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(weighted_is_the_iid_draw),
      cmocka_unit_test(size_biased_keeps_the_attributes),
      cmocka_unit_test(stratified_fills_every_stratum),
      cmocka_unit_test(schemes_are_unbiased),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
