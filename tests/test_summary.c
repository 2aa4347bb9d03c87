/* test_summary.c — summaries across paths: hand values, a slow reference, NaN handling, determinism. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "moatsim/summary.h"

/* cmocka's assert_float_equal compares floats; these checks need doubles. */
#define assert_close(a, b, tol) close_or_fail((a), (b), (tol), __FILE__, __LINE__)
static void close_or_fail(double a, double b, double tol, const char *file, int line) {
  if (fabs(a - b) <= tol) return;
  print_error("%.17g != %.17g (tolerance %g)\n", a, b, tol);
  _fail(file, line);
}

static const double levels[5] = {0.05, 0.25, 0.5, 0.75, 0.95};

/* Summarize one element from n values (stride 1 per path). */
static void summarize_one(moat_summary_t *s, const double *v, size_t n, int threads) {
  char err[256];
  assert_int_equal(moat_summary_init(s, 1, levels, 5, err, sizeof err), 0);
  assert_int_equal(moat_summary_compute(s, v, n, 1, threads, err, sizeof err), 0);
}

/* {1, 2, 3, 4}: mean 10/4 = 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, so
 * std = sqrt(5/3); type-7 quantile h = (n-1) q = 3q: q=0.05 -> 1 + 0.15 = 1.15,
 * q=0.25 -> 1 + 0.75 = 1.75, q=0.5 -> 2.5, q=0.75 -> 3.25, q=0.95 -> 3 + 0.85 = 3.85. */
static void hand_values(void **state) {
  (void)state;
  const double v[4] = {3, 1, 4, 2};
  moat_summary_t s;
  summarize_one(&s, v, 4, 1);
  assert_int_equal(s.count[0], 4);
  assert_close(s.mean[0], 2.5, 1e-15);
  assert_close(s.std[0], sqrt(5.0 / 3.0), 1e-15);
  const double want[5] = {1.15, 1.75, 2.5, 3.25, 3.85};
  for (int k = 0; k < 5; k++) assert_close(s.quantile[k], want[k], 1e-14);
  moat_summary_clear(&s);
}

/* NaN paths are skipped: {NaN, 4, NaN, 2, 6} is {2, 4, 6}: count 3, mean 4,
 * std sqrt((4 + 0 + 4)/2) = 2, h = 2q: q=0.25 -> 2 + 0.5*2 = 3, q=0.95 -> 4 + 0.9*2 = 5.8. */
static void nan_skipped(void **state) {
  (void)state;
  const double v[5] = {NAN, 4, NAN, 2, 6};
  moat_summary_t s;
  summarize_one(&s, v, 5, 1);
  assert_int_equal(s.count[0], 3);
  assert_close(s.mean[0], 4.0, 1e-15);
  assert_close(s.std[0], 2.0, 1e-15);
  assert_close(s.quantile[1], 3.0, 1e-15);
  assert_close(s.quantile[2], 4.0, 1e-15);
  assert_close(s.quantile[4], 5.8, 1e-14);
  moat_summary_clear(&s);
}

/* No value: everything NaN, count 0. One value: mean and every quantile are that value, the
 * sample standard deviation (n - 1 = 0) is NaN. */
static void empty_and_single(void **state) {
  (void)state;
  const double none[3] = {NAN, NAN, NAN};
  moat_summary_t s;
  summarize_one(&s, none, 3, 1);
  assert_int_equal(s.count[0], 0);
  assert_true(isnan(s.mean[0]) && isnan(s.std[0]));
  for (int k = 0; k < 5; k++) assert_true(isnan(s.quantile[k]));
  moat_summary_clear(&s);

  const double one[3] = {NAN, 7.5, NAN};
  summarize_one(&s, one, 3, 1);
  assert_int_equal(s.count[0], 1);
  assert_close(s.mean[0], 7.5, 0);
  assert_true(isnan(s.std[0]));
  for (int k = 0; k < 5; k++) assert_close(s.quantile[k], 7.5, 0);
  moat_summary_clear(&s);
}

/* Deterministic pseudo-random numbers for the tests (splitmix64), independent of the code
 * under test. */
static uint64_t mix_state;
static double next_uniform(void) {
  uint64_t z = (mix_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

/* Fill paths x stride with values (some NaN, some ties, a few whole columns NaN). */
static void fill_random(double *a, size_t n_paths, size_t stride) {
  mix_state = 20261122;
  for (size_t p = 0; p < n_paths; p++)
    for (size_t e = 0; e < stride; e++) {
      double u = next_uniform();
      double x = 100.0 * next_uniform() - 30.0;
      if (e % 7 == 3) x = floor(x / 10.0); /* ties */
      a[p * stride + e] = (u < 0.15 || e % 23 == 5) ? NAN : x;
    }
}

/* k-th smallest (0-based) of the non-NaN values of column e, by counting: the value x with
 * #{y < x} <= k < #{y <= x}. O(n^2), obviously right. */
static double slow_order_stat(const double *a, size_t n_paths, size_t stride, size_t e, size_t k) {
  for (size_t i = 0; i < n_paths; i++) {
    double x = a[i * stride + e];
    if (isnan(x)) continue;
    size_t less = 0, le = 0;
    for (size_t j = 0; j < n_paths; j++) {
      double y = a[j * stride + e];
      if (isnan(y)) continue;
      less += y < x;
      le += y <= x;
    }
    if (less <= k && k < le) return x;
  }
  return NAN;
}

/* Hyndman & Fan (1996) definition 7: h = (n - 1) q, x_(floor h) + (h - floor h)(x_(floor h + 1) - x_(floor h)). */
static void slow_column(const double *a, size_t n_paths, size_t stride, size_t e, double *mean,
                        double *std, int *count, double *quant) {
  long double sum = 0, ss = 0;
  size_t n = 0;
  for (size_t p = 0; p < n_paths; p++)
    if (!isnan(a[p * stride + e])) { sum += a[p * stride + e]; n++; }
  *count = (int)n;
  *mean = n ? (double)(sum / (long double)n) : NAN;
  for (size_t p = 0; p < n_paths; p++)
    if (!isnan(a[p * stride + e])) ss += (a[p * stride + e] - *mean) * (a[p * stride + e] - *mean);
  *std = n >= 2 ? sqrt((double)(ss / (long double)(n - 1))) : NAN;
  for (int k = 0; k < 5; k++) {
    if (!n) { quant[k] = NAN; continue; }
    double h = (double)(n - 1) * levels[k];
    size_t lo = (size_t)floor(h);
    double xlo = slow_order_stat(a, n_paths, stride, e, lo);
    double xhi = lo + 1 < n ? slow_order_stat(a, n_paths, stride, e, lo + 1) : xlo;
    quant[k] = xlo + (h - (double)lo) * (xhi - xlo);
  }
}

/* Values are O(100); the two implementations differ only in rounding (long double sums vs
 * double, two interpolation formulas), a few ulps of 100, so 1e-11 absolute is generous and
 * still catches any wrong order statistic (values differ by far more). */
static void against_slow_reference(void **state) {
  (void)state;
  const size_t n_paths = 61, n_elem = 45, stride = 47; /* stride > n_elem: padding ignored */
  double *a = malloc(n_paths * stride * sizeof *a);
  assert_non_null(a);
  fill_random(a, n_paths, stride);
  moat_summary_t s;
  char err[256];
  assert_int_equal(moat_summary_init(&s, n_elem, levels, 5, err, sizeof err), 0);
  assert_int_equal(moat_summary_compute(&s, a, n_paths, stride, 2, err, sizeof err), 0);
  for (size_t e = 0; e < n_elem; e++) {
    double mean, std, quant[5];
    int count;
    slow_column(a, n_paths, stride, e, &mean, &std, &count, quant);
    assert_int_equal(s.count[e], count);
    if (count == 0) {
      assert_true(isnan(s.mean[e]) && isnan(s.quantile[e]));
      continue;
    }
    assert_close(s.mean[e], mean, 1e-11);
    assert_close(s.std[e], std, 1e-11);
    for (int k = 0; k < 5; k++) assert_close(s.quantile[(size_t)k * n_elem + e], quant[k], 1e-11);
  }
  moat_summary_clear(&s);
  free(a);
}

/* Same input, 1, 2 and 7 threads: every output buffer identical bit for bit. */
static void deterministic_across_threads(void **state) {
  (void)state;
  const size_t n_paths = 37, n_elem = 1003;
  double *a = malloc(n_paths * n_elem * sizeof *a);
  assert_non_null(a);
  fill_random(a, n_paths, n_elem);
  moat_summary_t s[3];
  const int threads[3] = {1, 2, 7};
  char err[256];
  for (int i = 0; i < 3; i++) {
    assert_int_equal(moat_summary_init(&s[i], n_elem, levels, 5, err, sizeof err), 0);
    assert_int_equal(moat_summary_compute(&s[i], a, n_paths, n_elem, threads[i], err, sizeof err), 0);
  }
  for (int i = 1; i < 3; i++) {
    assert_memory_equal(s[0].mean, s[i].mean, n_elem * sizeof(double));
    assert_memory_equal(s[0].std, s[i].std, n_elem * sizeof(double));
    assert_memory_equal(s[0].count, s[i].count, n_elem * sizeof(int32_t));
    assert_memory_equal(s[0].quantile, s[i].quantile, 5 * n_elem * sizeof(double));
  }
  for (int i = 0; i < 3; i++) moat_summary_clear(&s[i]);
  free(a);
}

static void too_many_levels(void **state) {
  (void)state;
  moat_summary_t s;
  char err[256];
  assert_int_equal(moat_summary_init(&s, 4, levels, MOAT_MAX_QUANTILES + 1, err, sizeof err),
                   MOAT_EINVAL);
  assert_non_null(strstr(err, "quantile"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hand_values),
      cmocka_unit_test(nan_skipped),
      cmocka_unit_test(empty_and_single),
      cmocka_unit_test(against_slow_reference),
      cmocka_unit_test(deterministic_across_threads),
      cmocka_unit_test(too_many_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
