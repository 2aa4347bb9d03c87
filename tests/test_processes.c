/* test_processes.c — the shock processes and Bass adoption against their exact laws
 * (MODEL.md §4, §5). Statistical checks use fixed seeds; each tolerance is 3 standard errors
 * of the statistic for the sample size used (stated at each check), so a correct
 * implementation fails a given check with probability about 0.3 % — and, the seeds being
 * fixed, either always or never. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "moatsim/adoption.h"
#include <gsl/gsl_cdf.h>

#include "moatsim/enterprises.h"
#include "moatsim/inversion.h"
#include "moatsim/offers.h"
#include "moatsim/processes.h"
#include "moatsim/rng.h"

static const unsigned char all_on[MOAT_MAX_LABS] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const unsigned char all_off[MOAT_MAX_LABS] = {0};

/* The fixture with every shock switched off; tests switch on the one they study. */
static void quiet_scenario(moat_scenario_t *sc) {
  moat_fixture_baseline(sc);
  for (int l = 0; l < sc->n_labs; l++) sc->labs[l].release_rate_per_year = 0.0;
  sc->price_compression.price_war_rate_per_year = 0.0;
  sc->quality_gap.volatility = 0.0;
}

/* Mean and sample standard deviation of x[0..n-1]. */
static void mean_sd(const double *x, int n, double *mean, double *sd) {
  double m = 0.0, ss = 0.0;
  for (int k = 0; k < n; k++) m += x[k];
  m /= n;
  for (int k = 0; k < n; k++) ss += (x[k] - m) * (x[k] - m);
  *mean = m;
  *sd = sqrt(ss / (n - 1));
}

/* ---- Bass adoption ------------------------------------------------------------------- */

/* A pool of N equal enterprises; the pool's adopted fraction averaged over P paths against the
 * exact discrete recursion F_{n+1} = F_n + (1 - F_n)(1 - exp(-(p + q F_n) dt)) (MODEL.md §5).
 * With equal weights the recursion is the exact conditional expectation of one step; the
 * finite-pool (Jensen) correction after n steps is about q t Var(F) <= q t / (4N) = 3e-4 at
 * t = 5, N = 2000, far below the tolerance. Tolerance: 3 SE, SE = sample sd / sqrt(P). */
static void bass_matches_recursion(void **state) {
  (void)state;
  enum { N = 2000, P = 200, STEPS = 60 };
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.local_inference.innovation = 0.03;
  sc.local_inference.imitation = 0.5;
  moat_enterprises_t *e = moat_enterprises_alloc(N);
  assert_non_null(e);
  e->n = N;
  e->pool_size = N;
  e->pool_d0 = N;
  for (size_t i = 0; i < N; i++) {
    e->d0[i] = 1.0;
    e->pool[i] = 1;
  }
  static unsigned char adopted[N], review[N];
  static double frac[STEPS + 1][P];
  gsl_rng *r = moat_rng_alloc();
  for (int path = 0; path < P; path++) {
    moat_rng_seed(r, 777, 0, (uint64_t)path, MOAT_RNG_CHOICE);
    memset(adopted, 0, sizeof adopted);
    double adopted_d0 = 0.0;
    frac[0][path] = 0.0;
    for (int n = 1; n <= STEPS; n++) {
      moat_adoption_step(&sc, e, r, adopted, review, &adopted_d0);
      frac[n][path] = adopted_d0 / e->pool_d0;
    }
  }
  double F = 0.0, dt = 1.0 / 12.0, p = 0.03, q = 0.5;
  for (int n = 1; n <= STEPS; n++) {
    F += (1.0 - F) * (1.0 - exp(-(p + q * F) * dt));
    if (n % 12 != 0) continue; /* check at t = 1, 2, 3, 4, 5 years */
    double m, sd;
    mean_sd(frac[n], P, &m, &sd);
    assert_true(sd > 0.0);
    assert_close(m, F, 3.0 * sd / sqrt((double)P));
  }
  gsl_rng_free(r);
  moat_enterprises_free(e);
}

/* Nobody outside the pool adopts; an adopter reviews. */
static void adoption_only_in_pool(void **state) {
  (void)state;
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.local_inference.innovation = 50.0; /* adoption probability 1 - e^{-50/12} = 0.98 per step */
  moat_enterprises_t *e = moat_enterprises_alloc(10);
  e->n = 10;
  e->pool_size = 5;
  e->pool_d0 = 5.0;
  for (size_t i = 0; i < 10; i++) {
    e->d0[i] = 1.0;
    e->pool[i] = i % 2;
  }
  unsigned char adopted[10] = {0}, review[10] = {0};
  double ad = 0.0;
  gsl_rng *r = moat_rng_alloc();
  moat_rng_seed(r, 1, 0, 0, MOAT_RNG_CHOICE);
  for (int n = 0; n < 10; n++) moat_adoption_step(&sc, e, r, adopted, review, &ad);
  for (size_t i = 0; i < 10; i++) {
    assert_int_equal(adopted[i], i % 2); /* P(a pool member never adopts in 10 steps) ~ 1e-17 */
    assert_int_equal(review[i], i % 2);
  }
  assert_close(ad, 5.0, 0.0);
  gsl_rng_free(r);
  moat_enterprises_free(e);
}

/* ---- latent gap ---------------------------------------------------------------------- */

/* ln g against the Ornstein-Uhlenbeck moments: mean x_inf + (x0 - x_inf) e^{-kappa t},
 * variance sigma^2 (1 - e^{-2 kappa t}) / (2 kappa) (exact transition, so no discretisation
 * error). Parameters keep the clamp [1e-4, 0.9] over 10 sd away: the stationary sd of ln g is
 * sigma / sqrt(2 kappa) = 0.3 around ln 0.02 = -3.9, the bounds are at -9.2 and -0.1.
 * Tolerances: mean 3 sqrt(v / P); variance 3 v sqrt(2 / (P - 1)) (Gaussian sample variance). */
static void gap_matches_ou_moments(void **state) {
  (void)state;
  enum { P = 4000 };
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.quality_gap.initial = 0.05;
  sc.quality_gap.long_run = 0.02;
  sc.quality_gap.reversion_per_year = 0.5;
  sc.quality_gap.volatility = 0.3;
  static double x1[P], x5[P];
  moat_test_streams_t rs;
  moat_test_streams_alloc(&rs);
  moat_processes_t ps;
  for (int path = 0; path < P; path++) {
    moat_test_streams_seed(&rs, 99, 3, (uint64_t)path);
    moat_processes_init(&sc, &ps);
    for (int n = 1; n <= 60; n++) {
      moat_processes_step(&sc, n, all_on, all_off, rs.r, &ps);
      if (n == 12) x1[path] = ps.log_gap;
    }
    x5[path] = ps.log_gap;
  }
  const double x0 = log(0.05), xinf = log(0.02), k = 0.5, s = 0.3;
  const double *xs[2] = {x1, x5};
  const double ts[2] = {1.0, 5.0};
  for (int c = 0; c < 2; c++) {
    double mean = xinf + (x0 - xinf) * exp(-k * ts[c]);
    double var = s * s * (1.0 - exp(-2.0 * k * ts[c])) / (2.0 * k);
    double m, sd;
    mean_sd(xs[c], P, &m, &sd);
    assert_close(m, mean, 3.0 * sqrt(var / P));
    assert_close(sd * sd, var, 3.0 * var * sqrt(2.0 / (P - 1)));
  }
  moat_test_streams_free(&rs);
}

/* kappa = 0 is a random walk: one step adds sigma sqrt(dt) z exactly. */
static void gap_step_without_reversion(void **state) {
  (void)state;
  assert_close(moat_gap_step(-3.0, -4.0, 0.0, 0.2, 0.25, 1.5), -3.0 + 0.2 * 0.5 * 1.5, 1e-15);
  /* kappa > 0, z = 0: pure decay towards x_inf. */
  assert_close(moat_gap_step(-3.0, -4.0, 2.0, 0.2, 0.5, 0.0), -4.0 + 1.0 * exp(-1.0), 1e-15);
}

/* The clamp: a huge volatility pins g at the bounds, never beyond. */
static void gap_is_clamped(void **state) {
  (void)state;
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.quality_gap.volatility = 50.0;
  moat_test_streams_t rs;
  moat_test_streams_alloc(&rs);
  moat_test_streams_seed(&rs, 5, 0, 0);
  moat_processes_t ps;
  moat_processes_init(&sc, &ps);
  int lo = 0, hi = 0;
  for (int n = 1; n <= 200; n++) {
    moat_processes_step(&sc, n, all_on, all_off, rs.r, &ps);
    double g = exp(ps.log_gap);
    assert_true(g >= MOAT_GAP_MIN * (1 - 1e-12) && g <= MOAT_GAP_MAX * (1 + 1e-12));
    lo += g < 2 * MOAT_GAP_MIN;
    hi += g > 0.5;
  }
  assert_true(lo > 0 && hi > 0); /* sd per step 14 in ln g: both bounds are hit */
  moat_test_streams_free(&rs);
}

/* ---- releases ------------------------------------------------------------------------ */

/* Per-lab release counts over steps 1 .. T-1 are Binomial(T - 1, 1 - e^{-lambda dt})
 * (at most one release per step, docs/model.md §4); a distressed lab releases at lambda / 2.
 * Tolerance: 3 SE of the mean over P paths, SE = sqrt((T-1) p (1-p) / P) (exact binomial).
 * Every closed release raises the frontier by its jump J exactly (q <- max(q, F) + J), so
 * (F_T - F_0) / closed releases estimates E J; tolerance 3 J / sqrt(count) (exponential sd). */
static void release_counts_match_rates(void **state) {
  (void)state;
  enum { P = 500, T = 120 };
  moat_scenario_t sc;
  quiet_scenario(&sc);
  const double rates[6] = {2.0, 1.0, 4.0, 3.0, 0.5, 6.0};
  for (int l = 0; l < 6; l++) sc.labs[l].release_rate_per_year = rates[l];
  unsigned char distressed[MOAT_MAX_LABS] = {0};
  distressed[2] = 1; /* closed-c at half rate */
  distressed[5] = 1; /* open-c: distress does not slow open releases (MODEL.md §4) */
  double sum[6] = {0}, jumps = 0.0;
  long closed_releases = 0;
  moat_test_streams_t rs;
  moat_test_streams_alloc(&rs);
  moat_processes_t ps;
  for (int path = 0; path < P; path++) {
    moat_test_streams_seed(&rs, 2024, 1, (uint64_t)path);
    moat_processes_init(&sc, &ps);
    double f0 = ps.frontier;
    for (int n = 1; n < T; n++) moat_processes_step(&sc, n, all_on, distressed, rs.r, &ps);
    for (int l = 0; l < 6; l++) sum[l] += ps.releases[l];
    jumps += ps.frontier - f0;
    closed_releases += ps.releases[0] + ps.releases[1] + ps.releases[2];
  }
  for (int l = 0; l < 6; l++) {
    double rate = rates[l] * (distressed[l] && l < 3 ? 0.5 : 1.0); /* labs 0-2 are closed */
    double p = 1.0 - exp(-rate / 12.0);
    double se = sqrt((T - 1) * p * (1.0 - p) / P);
    assert_close(sum[l] / P, (T - 1) * p, 3.0 * se);
  }
  assert_close(jumps / (double)closed_releases, 3.0, 3.0 * 3.0 / sqrt((double)closed_releases));
  moat_test_streams_free(&rs);
}

/* An open release lifts q_m to F (1 - g)(1 - lag) when that is higher, never lowers it. */
static void open_release_reaches_latent_gap(void **state) {
  (void)state;
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.labs[3].release_rate_per_year = 1e6; /* releases with probability 1 - e^{-1e6/12} = 1 */
  sc.labs[4].release_rate_per_year = 1e6;
  sc.labs[3].quality = 10.0; /* far behind: the release lifts it */
  sc.labs[4].quality = 80.0; /* ahead of F (1 - g): the release leaves it */
  moat_test_streams_t rs;
  moat_test_streams_alloc(&rs);
  moat_test_streams_seed(&rs, 3, 0, 0);
  moat_processes_t ps;
  moat_processes_init(&sc, &ps);
  moat_processes_step(&sc, 1, all_on, all_off, rs.r, &ps);
  double g = exp(ps.log_gap); /* volatility 0: g moves deterministically towards long_run */
  assert_close(g, exp(log(0.03) + (log(0.04) - log(0.03)) * exp(-0.5 / 12.0)), 1e-15);
  assert_close(ps.quality[3], 72.0 * (1.0 - g) * (1.0 - sc.labs[3].lag), 1e-12);
  assert_close(ps.quality[4], 80.0, 0.0);
  assert_int_equal(ps.releases[3], 1);
  moat_test_streams_free(&rs);
}

/* ---- price wars ---------------------------------------------------------------------- */

/* With a one-step duration a war starting at step n ends at step n + 1, where no new war may
 * start; otherwise every step is a Bernoulli(p = 1 - e^{-rate dt}) trial. So the probability x_n
 * that a war starts at step n follows x_1 = p, x_n = p (1 - x_{n-1}) exactly, and the expected
 * count is the sum of x_n. Tolerance 3 SE with SE^2 = sum x_n (1 - x_n) / P: the indicators'
 * covariances sum to a negative number (lag k covariance ~ (-p)^k), so this bound is conservative. */
static void war_count_matches_rate(void **state) {
  (void)state;
  enum { P = 500, T = 120 };
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.price_compression.price_war_rate_per_year = 3.0;
  sc.price_compression.price_war_months = 1.0; /* round(1/12 * 12) = 1 step */
  assert_int_equal(moat_war_steps(&sc), 1);
  double sum = 0.0;
  int picked[MOAT_MAX_LABS] = {0};
  moat_test_streams_t rs;
  moat_test_streams_alloc(&rs);
  moat_processes_t ps;
  for (int path = 0; path < P; path++) {
    moat_test_streams_seed(&rs, 31, 0, (uint64_t)path);
    moat_processes_init(&sc, &ps);
    for (int n = 1; n < T; n++) {
      moat_processes_step(&sc, n, all_on, all_off, rs.r, &ps);
      if (ps.war_started) picked[ps.war_lab]++;
    }
    sum += ps.wars;
  }
  double p = 1.0 - exp(-3.0 / 12.0), x = 0.0, expected = 0.0, var = 0.0;
  for (int n = 1; n < T; n++) {
    x = p * (1.0 - x);
    expected += x;
    var += x * (1.0 - x);
  }
  assert_close(sum / P, expected, 3.0 * sqrt(var / P));
  /* Only open labs (3, 4, 5) are aggressors, each with probability 1/3: 3 SE of a binomial
   * proportion over all wars. */
  assert_int_equal(picked[0] + picked[1] + picked[2], 0);
  for (int l = 3; l < 6; l++)
    assert_close(picked[l] / sum, 1.0 / 3.0, 3.0 * sqrt(2.0 / 9.0 / sum));
  moat_test_streams_free(&rs);
}

/* A war runs exactly moat_war_steps steps, then ends; depth is drawn in (0, 1); an exited
 * aggressor ends it at once; no war starts without an active open lab. */
static void war_duration_and_end(void **state) {
  (void)state;
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.price_compression.price_war_rate_per_year = 2.0;
  sc.price_compression.price_war_months = 6.0;
  assert_int_equal(moat_war_steps(&sc), 6);
  sc.steps_per_year = 4; /* 6 months at quarterly steps: round(2) = 2 */
  assert_int_equal(moat_war_steps(&sc), 2);
  sc.steps_per_year = 1; /* round(0.5) = 1 (lround rounds halves away from 0): at least 1 */
  assert_int_equal(moat_war_steps(&sc), 1);
  sc.price_compression.price_war_months = 1.0; /* round(1/12) = 0 -> 1 */
  assert_int_equal(moat_war_steps(&sc), 1);
  sc.steps_per_year = 12;
  sc.price_compression.price_war_months = 6.0;

  moat_test_streams_t rs;
  moat_test_streams_alloc(&rs);
  moat_processes_t ps;
  int checked = 0;
  for (int path = 0; path < 20; path++) {
    moat_test_streams_seed(&rs, 8, 0, (uint64_t)path);
    moat_processes_init(&sc, &ps);
    int start = -1;
    for (int n = 1; n < 240; n++) {
      moat_processes_step(&sc, n, all_on, all_off, rs.r, &ps);
      if (ps.war_started) {
        assert_true(start < 0 || n - start >= 6);
        assert_true(ps.war_depth > 0.0 && ps.war_depth < 1.0);
        start = n;
        checked++;
      }
      int inside = start >= 0 && n - start < 6;
      assert_int_equal(ps.war_active, inside);
    }
  }
  assert_true(checked > 50); /* about 20 paths x 20 years x 1.4 wars/year */

  unsigned char active[MOAT_MAX_LABS];
  memcpy(active, all_on, sizeof active);
  sc.price_compression.price_war_rate_per_year = 1e6; /* a war starts at every chance */
  moat_test_streams_seed(&rs, 9, 0, 0);
  moat_processes_init(&sc, &ps);
  moat_processes_step(&sc, 1, active, all_off, rs.r, &ps);
  assert_true(ps.war_active && ps.war_lab >= 3);
  int first = ps.war_lab;
  active[first] = 0; /* the aggressor exits: the war ends, another one may start at once */
  moat_processes_step(&sc, 2, active, all_off, rs.r, &ps);
  assert_true(!ps.war_active || (ps.war_started && ps.war_lab != first));
  active[3] = active[4] = active[5] = 0; /* no open lab left: no war */
  moat_processes_step(&sc, 3, active, all_off, rs.r, &ps);
  assert_false(ps.war_active);
  moat_test_streams_free(&rs);
}

/* ---- training returns (MODEL.md §4) -------------------------------------------------- */

/* Mean jump of closed-a's releases over P paths of T steps, distressed or not, with
 * training_returns gamma; closed-a is the only lab that releases and it leads the frontier, so
 * each release raises its quality by exactly J. Returns the mean; *count gets the releases. */
static double mean_jump(double gamma, int distressed, long *count) {
  enum { P = 300, T = 120 };
  moat_scenario_t sc;
  quiet_scenario(&sc);
  sc.labs[0].release_rate_per_year = 12.0;
  sc.labs[0].training_returns = gamma;
  unsigned char dis[MOAT_MAX_LABS] = {0};
  dis[0] = (unsigned char)distressed;
  moat_test_streams_t rs;
  moat_test_streams_alloc(&rs);
  moat_processes_t ps;
  double sum = 0.0;
  *count = 0;
  for (int path = 0; path < P; path++) {
    moat_test_streams_seed(&rs, 4242, 0, (uint64_t)path);
    moat_processes_init(&sc, &ps);
    for (int n = 1; n < T; n++) {
      double q = ps.quality[0];
      int before = ps.releases[0];
      moat_processes_step(&sc, n, all_on, dis, rs.r, &ps);
      if (ps.releases[0] == before) continue;
      sum += ps.quality[0] - q;
      (*count)++;
    }
  }
  moat_test_streams_free(&rs);
  return sum / (double)*count;
}

/* A lab held at half its training plan (distressed: training halved) releases steps 2^-gamma as
 * large: J ~ Exponential(mean 3 x 0.5^gamma). Each mean is over n releases (about 6000 at the
 * halved rate of 6 a year, 300 paths x 10 years); the exponential's sd equals its mean, so
 * the tolerance is 3 mu / sqrt(n). gamma = 0 is version 1: distress leaves the jump's size. */
static void training_returns_scale_jumps(void **state) {
  (void)state;
  long n;
  const double gammas[3] = {0.0, 1.0, 2.0};
  for (int g = 0; g < 3; g++) {
    double mu = 3.0 * pow(0.5, gammas[g]);
    double m = mean_jump(gammas[g], 1, &n);
    assert_true(n > 4000);
    assert_close(m, mu, 3.0 * mu / sqrt((double)n));
  }
  /* A lab that spends its plan releases as configured, whatever gamma. */
  double m = mean_jump(2.0, 0, &n);
  assert_close(m, 3.0, 3.0 * 3.0 / sqrt((double)n));
  moat_lab_t lab = {0};
  lab.release_jump_points = 4.0;
  lab.training_returns = 1.5;
  assert_close(moat_release_jump_mean(&lab, 1), 4.0 * pow(0.5, 1.5), 1e-15);
  assert_close(moat_release_jump_mean(&lab, 0), 4.0, 0.0);
}

/* ---- draws per step (MODEL.md §9) ---------------------------------------------------- */

static int same_state(const gsl_rng *a, const gsl_rng *b) {
  return memcmp(gsl_rng_state(a), gsl_rng_state(b), gsl_rng_size(a)) == 0;
}

/* Every stream takes the same number of uniforms at every step whatever the parameters and the
 * state: releases n_labs + n_closed, gap 1, wars 3, checked against copies advanced by hand,
 * for releases and wars that never / always happen, wars running or not, labs inactive or
 * distressed. */
static void draws_per_step_are_fixed(void **state) {
  (void)state;
  const int n_closed = 3, n_labs = 6;
  for (int config = 0; config < 4; config++) {
    moat_scenario_t sc;
    quiet_scenario(&sc);
    double rate = config % 2 ? 1e6 : 0.0; /* events never, or at every step */
    for (int l = 0; l < n_labs; l++) sc.labs[l].release_rate_per_year = rate;
    sc.price_compression.price_war_rate_per_year = rate;
    sc.quality_gap.volatility = 0.3;
    unsigned char act[MOAT_MAX_LABS], dis[MOAT_MAX_LABS] = {0};
    memcpy(act, all_on, sizeof act);
    if (config >= 2) { /* an exited closed lab and an exited open lab; a distressed one */
      act[1] = act[4] = 0;
      dis[0] = 1;
    }
    moat_test_streams_t rs, copy;
    moat_test_streams_alloc(&rs);
    moat_test_streams_alloc(&copy);
    moat_test_streams_seed(&rs, 77, 0, (uint64_t)config);
    moat_processes_t ps;
    moat_processes_init(&sc, &ps);
    for (int n = 1; n < 30; n++) {
      for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) gsl_rng_memcpy(copy.r[k], rs.r[k]);
      moat_processes_step(&sc, n, act, dis, rs.r, &ps);
      for (int k = 0; k < n_labs + n_closed; k++) gsl_rng_uniform(copy.r[MOAT_RNG_RELEASES]);
      gsl_rng_uniform(copy.r[MOAT_RNG_GAP]);
      for (int k = 0; k < 3; k++) gsl_rng_uniform(copy.r[MOAT_RNG_WARS]);
      for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) assert_true(same_state(copy.r[k], rs.r[k]));
    }
    if (rate > 0.0) assert_true(ps.wars > 0 && ps.releases[0] > 0);
    moat_test_streams_free(&rs);
    moat_test_streams_free(&copy);
  }
}

/* ---- draws by inversion (MODEL.md §3) ------------------------------------------------ */

/* The Beta quantile against GSL's distribution function (the slow, obvious check: the CDF at
 * the quantile gives back u) for shapes below, at and above 1; 1e-11 absolute covers the
 * quantile's 1e-14 relative accuracy times the density's size. */
static void beta_quantile_inverts_the_cdf(void **state) {
  (void)state;
  const double shapes[][2] = {{2.0, 18.0}, {0.5, 0.5}, {5.0, 1.3}, {0.3, 7.0}, {50.0, 150.0},
                              {1.0, 4.0}, {3.0, 1.0}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    double a = shapes[k][0], b = shapes[k][1], last = -1.0;
    for (int i = 1; i < 200; i++) {
      double u = i / 200.0, x = moat_beta_quantile(u, a, b);
      assert_true(x >= 0.0 && x <= 1.0 && x > last);
      assert_close(gsl_cdf_beta_P(x, a, b), u, 1e-11);
      last = x;
    }
  }
  /* Extreme shapes where gsl_cdf_beta_Pinv fails to converge: still in [0, 1], monotone. */
  const double extreme[][2] = {{1e-3, 0.999}, {1e5, 9e5}, {0.009, 0.001}};
  for (size_t k = 0; k < sizeof extreme / sizeof extreme[0]; k++) {
    double last = -1.0;
    for (int i = 0; i < 100; i++) {
      double x = moat_beta_quantile(i / 100.0, extreme[k][0], extreme[k][1]);
      assert_true(x >= 0.0 && x <= 1.0 && x >= last);
      last = x;
    }
  }
  assert_close(moat_beta_mean_quantile(0.3, 0.0, 10.0), 0.0, 0.0); /* degenerate: the mean */
}

/* A parameter change moves each enterprise's attribute continuously: with one uniform per
 * attribute, ln(v / median) / value_sigma is the same standard normal for any sigma, and a
 * higher mean hard share raises every enterprise's hard share (the Beta quantile at a fixed u
 * increases with a and decreases with b). */
static void attributes_move_continuously(void **state) {
  (void)state;
  enum { N = 500 };
  moat_scenario_t lo, hi;
  quiet_scenario(&lo);
  lo.enterprises.count = N;
  hi = lo;
  hi.enterprises.value_sigma = 1.3;
  hi.enterprises.hard_share_mean = 0.2;
  moat_enterprises_t *a = moat_enterprises_alloc(N), *b = moat_enterprises_alloc(N);
  gsl_rng *r = moat_rng_alloc();
  moat_rng_seed(r, 5, 0, 0, MOAT_RNG_ATTRIBUTES);
  moat_enterprises_draw(&lo, r, a);
  moat_rng_seed(r, 5, 0, 0, MOAT_RNG_ATTRIBUTES);
  moat_enterprises_draw(&hi, r, b);
  for (size_t i = 0; i < N; i++) {
    double za = log(a->value[2 * i + MOAT_SEG_HARD] / 30.0) / 0.8;
    double zb = log(b->value[2 * i + MOAT_SEG_HARD] / 30.0) / 1.3;
    assert_close(za, zb, 1e-12);
    assert_true(b->hard[i] > a->hard[i]);
    assert_true(a->privacy[i] == b->privacy[i] && a->d0[i] == b->d0[i]);
  }
  gsl_rng_free(r);
  moat_enterprises_free(a);
  moat_enterprises_free(b);
}

/* ---- costs --------------------------------------------------------------------------- */

static void cost_paths(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  assert_close(moat_cost_index(&sc, 0.0), 1.0, 0.0);
  assert_close(moat_cost_index(&sc, 2.0), 0.36, 1e-15);                      /* 0.6^2 */
  assert_close(moat_local_cost(&sc, 1.0), 0.8 * 0.55, 1e-15);                /* (1-0.45)^1 */
  assert_close(moat_local_penalty(&sc, 2.0), 0.06 * 0.49, 1e-15);            /* (1-0.3)^2 */
}

/* Serving cost grows with capability (MODEL.md §4), by hand: beta = 0.15 a point; closed-a's
 * flagship 2 points up costs 1.5 x 0.5 x e^{0.3}, its mini (quality (1 - 0.08) q) moves
 * 0.92 x 2 points: 0.15 x 0.5 x e^{0.276}; open-a 1 point up: its API 0.25 x 0.5 x e^{0.15},
 * gpu-cloud's copy 0.9 x that, the local copy 0.3 x e^{0.15} (the model's quality, not the
 * penalised local one); closed-b, unchanged, costs 1.2 x 0.5. beta = 0 gives version 1. */
static void costs_grow_with_capability(void **state) {
  (void)state;
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  sc.price_compression.cost_per_quality_point = 0.15;
  moat_offer_table_t ot;
  moat_offers_build(&sc, &ot);
  double q_lab[MOAT_MAX_LABS], quality[MOAT_MAX_OFFERS], cost[MOAT_MAX_OFFERS];
  for (int l = 0; l < sc.n_labs; l++) q_lab[l] = sc.labs[l].quality;
  q_lab[0] += 2.0;
  q_lab[3] += 1.0;
  moat_offers_update(&ot, &sc, q_lab, 0.5, 0.3, 0.05, quality, cost);
  assert_close(cost[ot.flagship[0]], 1.5 * 0.5 * exp(0.3), 1e-14);
  assert_close(cost[ot.mini[0]], 0.15 * 0.5 * exp(0.15 * 0.92 * 2.0), 1e-14);
  assert_close(cost[ot.flagship[1]], 1.2 * 0.5, 1e-15);
  int fp = ot.first_party[3];
  assert_close(cost[fp], 0.25 * 0.5 * exp(0.15), 1e-14);
  assert_close(cost[fp + 2], 0.25 * 0.9 * 0.5 * exp(0.15), 1e-14); /* gpu-cloud is cloud 1 */
  assert_close(cost[ot.local[3]], 0.3 * exp(0.15), 1e-14);
  sc.price_compression.cost_per_quality_point = 0.0;
  moat_offers_update(&ot, &sc, q_lab, 0.5, 0.3, 0.05, quality, cost);
  assert_true(cost[ot.flagship[0]] == 1.5 * 0.5 && cost[ot.local[3]] == 0.3);
}

/* ---- generator ----------------------------------------------------------------------- */

/* The first splitmix64 outputs from state 0 (Vigna's reference splitmix64.c). */
static void splitmix_reference(void **state) {
  (void)state;
  uint64_t s = 0;
  assert_true(moat_rng_splitmix64(&s) == UINT64_C(0xe220a8397b1dcdaf));
  assert_true(moat_rng_splitmix64(&s) == UINT64_C(0x6e789e6aa1b965f4));
  assert_true(moat_rng_splitmix64(&s) == UINT64_C(0x06c45d188009454f));
}

/* Uniforms are in [0, 1) with mean 1/2 and variance 1/12 (3 SE for n = 1e6: 0.0009 on the
 * mean); distinct paths and streams give distinct sequences. */
static void generator_uniforms(void **state) {
  (void)state;
  gsl_rng *r = moat_rng_alloc();
  moat_rng_seed(r, 1, 2, 3, 0);
  double sum = 0.0, sq = 0.0;
  const int n = 1000000;
  for (int k = 0; k < n; k++) {
    double u = gsl_rng_uniform(r);
    assert_true(u >= 0.0 && u < 1.0);
    sum += u;
    sq += u * u;
  }
  assert_close(sum / n, 0.5, 3.0 * sqrt(1.0 / 12.0 / n));
  assert_close(sq / n - (sum / n) * (sum / n), 1.0 / 12.0, 3.0 * sqrt(1.0 / 180.0 / n));
  double a, b, c;
  moat_rng_seed(r, 1, 2, 3, 0);
  a = gsl_rng_uniform(r);
  moat_rng_seed(r, 1, 2, 4, 0);
  b = gsl_rng_uniform(r);
  moat_rng_seed(r, 1, 2, 3, 1);
  c = gsl_rng_uniform(r);
  assert_true(a != b && a != c && b != c);
  gsl_rng_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bass_matches_recursion),
      cmocka_unit_test(adoption_only_in_pool),
      cmocka_unit_test(gap_matches_ou_moments),
      cmocka_unit_test(gap_step_without_reversion),
      cmocka_unit_test(gap_is_clamped),
      cmocka_unit_test(release_counts_match_rates),
      cmocka_unit_test(open_release_reaches_latent_gap),
      cmocka_unit_test(war_count_matches_rate),
      cmocka_unit_test(war_duration_and_end),
      cmocka_unit_test(cost_paths),
      cmocka_unit_test(costs_grow_with_capability),
      cmocka_unit_test(training_returns_scale_jumps),
      cmocka_unit_test(draws_per_step_are_fixed),
      cmocka_unit_test(beta_quantile_inverts_the_cdf),
      cmocka_unit_test(attributes_move_continuously),
      cmocka_unit_test(splitmix_reference),
      cmocka_unit_test(generator_uniforms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
