/* test_choice.c — the vectorizable exp and the logit shares and demand (MODEL.md §5). */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "moatsim/fastexp.h"
#include "moatsim/pricing.h"
#include "pricing_fixture.h"

/* Largest relative error of moat_fastexp against libm exp over n points evenly spaced on
 * [lo, hi]. The loop has the shape of the kernel's loops (vectorized at -O3). */
static double max_rel_error(double lo, double hi, size_t n, int nonpos) {
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), worst = 0.0;
  assert_non_null(x);
  assert_non_null(y);
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (double)i / (double)(n - 1);
  if (nonpos)
    for (size_t i = 0; i < n; i++) y[i] = moat_fastexp_nonpos(x[i]);
  else
    for (size_t i = 0; i < n; i++) y[i] = moat_fastexp(x[i]);
  for (size_t i = 0; i < n; i++) {
    double e = exp(x[i]);
    double rel = fabs(y[i] - e) / e;
    worst = rel > worst ? rel : worst;
  }
  free(x);
  free(y);
  return worst;
}

/*
 * Error budget, in units of eps = DBL_EPSILON (2^-52): r = x - n ln2 carries the rounding of
 * n·LN2_LO (one fused step; relative effect on exp(r) at most |r|·eps <= 0.35 eps); the
 * degree-11 polynomial approximates to < 1.7e-17 (0.08 eps) and its Horner rounding is damped by
 * r^2 (< 0.1 eps); the final 1 + (r + ...) rounds once (0.5 eps) and the product by 2^n is exact. That is
 * < 1 eps; glibc's exp is within 1 ulp (<= 1 eps relative). 4 eps leaves room for both.
 */
static void test_fastexp_dense_grid(void **state) {
  (void)state;
  const double bound = 4.0 * DBL_EPSILON;
  /* the whole normal range, 2^21 points (spacing 6.8e-4, not commensurate with ln 2) */
  assert_true(max_rel_error(MOAT_FASTEXP_MIN, MOAT_FASTEXP_MAX, (size_t)1 << 21, 0) < bound);
  /* the range the shares use (arguments <= 0 after the row maximum) at finer spacing */
  assert_true(max_rel_error(-40.0, 0.0, (size_t)1 << 20, 0) < bound);
  /* around 0, where r = x and n = 0 */
  assert_true(max_rel_error(-1e-3, 1e-3, 100001, 0) < bound);
  /* the non-positive variant on its domain */
  assert_true(max_rel_error(MOAT_FASTEXP_MIN, 0.0, (size_t)1 << 20, 1) < bound);
  assert_true(max_rel_error(-40.0, 0.0, (size_t)1 << 20, 1) < bound);
}

/* The non-positive variant gives bitwise what moat_fastexp gives, and the same special values. */
static void test_fastexp_nonpos(void **state) {
  (void)state;
  uint64_t st = 3;
  for (int i = 0; i < 100000; i++) {
    double x = -750.0 * fixture_uniform(&st);
    double a = moat_fastexp(x), b = moat_fastexp_nonpos(x);
    assert_memory_equal(&a, &b, sizeof a);
  }
  assert_true(moat_fastexp_nonpos(-INFINITY) == 0.0 && moat_fastexp_nonpos(-709.0) == 0.0);
  assert_true(moat_fastexp_nonpos(0.0) == 1.0 && moat_fastexp_nonpos(-0.0) == 1.0);
  assert_true(isnan(moat_fastexp_nonpos(NAN)) && isnan(moat_fastexp_nonpos(-NAN)));
}

static void test_fastexp_special_values(void **state) {
  (void)state;
  assert_true(moat_fastexp(-INFINITY) == 0.0 && !signbit(moat_fastexp(-INFINITY)));
  assert_true(moat_fastexp(-1e6) == 0.0);
  assert_true(moat_fastexp(-709.0) == 0.0); /* below MIN: subnormal results are flushed */
  assert_true(moat_fastexp(nextafter(MOAT_FASTEXP_MIN, -INFINITY)) == 0.0);
  double at_min = moat_fastexp(MOAT_FASTEXP_MIN);
  assert_true(at_min >= DBL_MIN);
  assert_true(fabs(at_min - exp(MOAT_FASTEXP_MIN)) <= 4 * DBL_EPSILON * at_min);
  assert_true(moat_fastexp(0.0) == 1.0); /* r = 0, p = 1 exactly */
  assert_true(moat_fastexp(-0.0) == 1.0);
  assert_true(fabs(moat_fastexp(1.0) / exp(1.0) - 1) < 4 * DBL_EPSILON);
  /* n = 1024: formed as 2^1023·2 */
  double big = moat_fastexp(709.7);
  assert_true(isfinite(big) && fabs(big / exp(709.7) - 1.0) < 4 * DBL_EPSILON);
  assert_true(isinf(moat_fastexp(710.0)) && moat_fastexp(710.0) > 0);
  assert_true(isinf(moat_fastexp(1e6)) && isinf(moat_fastexp(INFINITY)));
  assert_true(isnan(moat_fastexp(NAN)) && isnan(moat_fastexp(-NAN)));
  /* exact powers of two: exp(k ln2) for integer k differs from 2^k by the rounding of k ln2 */
  for (int k = -1000; k <= 1000; k += 37) {
    double x = k * 0.6931471805599453;
    assert_true(fabs(moat_fastexp(x) / exp(x) - 1.0) < 4 * DBL_EPSILON);
  }
}

static void test_shares_hand_values(void **state) {
  (void)state;
  fixture_market_t fm;
  assert_int_equal(fixture_market_alloc(&fm, 1, 3, 4, 1), 0);
  /* base 0, ln 3, -inf at price 0: shares 1/4, 3/4, 0 */
  fm.base[0] = 0.0, fm.base[1] = log(3.0), fm.alpha[0] = 2.0;
  double price[3] = {0.0, 0.0, 0.0}, s[4];
  moat_choice_shares(&fm.m, price, s);
  assert_true(fabs(s[0] - 0.25) < 4 * DBL_EPSILON && fabs(s[1] - 0.75) < 4 * DBL_EPSILON);
  assert_true(s[2] == 0.0 && s[3] == 0.0); /* infeasible and padding: exactly 0 */
  /* price 0.5 ln 3 on offer 1 at alpha 2 removes its advantage: 1/2, 1/2 */
  price[1] = 0.5 * log(3.0);
  moat_choice_shares(&fm.m, price, s);
  assert_true(fabs(s[0] - 0.5) < 4 * DBL_EPSILON && fabs(s[1] - 0.5) < 4 * DBL_EPSILON);
  fixture_market_free(&fm);
}

static void test_shares_extremes(void **state) {
  (void)state;
  fixture_market_t fm;
  assert_int_equal(fixture_market_alloc(&fm, 4, 3, 3, 1), 0);
  double price[3] = {1.0, 2.0, 3.0}, s[12];
  for (size_t r = 0; r < 4; r++) fm.alpha[r] = 1.0;
  /* row 0: utilities of +-1e6; row 1: all +1e6; row 2: all infeasible; row 3: one feasible */
  double rows[4][3] = {{1e6, -1e6, 1e6 - 1.0}, {1e6, 1e6, 1e6}, {-INFINITY, -INFINITY, -INFINITY},
                       {-INFINITY, -1e6, -INFINITY}};
  memcpy(fm.base, rows, sizeof rows);
  moat_choice_shares(&fm.m, price, s);
  for (size_t i = 0; i < 12; i++) assert_true(isfinite(s[i]) && s[i] >= 0.0);
  /* row 0: v = 1e6 - 1, -1e6 - 2, 1e6 - 4: offer 1 underflows, offers 2 and 0 are e^-3 apart */
  assert_true(s[1] == 0.0);
  assert_true(fabs(s[2] / s[0] - exp(-3.0)) < 8 * DBL_EPSILON);
  assert_true(fabs(s[3] + s[4] + s[5] - 1.0) < 4 * DBL_EPSILON);
  assert_true(s[6] == 0.0 && s[7] == 0.0 && s[8] == 0.0); /* no feasible offer: zeros, no NaN */
  assert_true(s[9] == 0.0 && s[10] == 1.0 && s[11] == 0.0);
  fixture_market_free(&fm);
}

/* Random markets: rows sum to 1 (21 terms, each share rounded once after the division and
 * the sum rounded per term: |sum - 1| <= (n + 2) eps), infeasible entries exactly 0, and
 * agreement with the libm reference to 64 eps relative (exp error 4 eps on each term, and the
 * normalizing sum's error, on shares >= 1e-300). */
static void test_shares_random_markets(void **state) {
  (void)state;
  enum { ROWS = 301, OFFERS = 21, STRIDE = 24 };
  fixture_market_t fm;
  assert_int_equal(fixture_market_alloc(&fm, ROWS, OFFERS, STRIDE, 5), 0);
  double *s = malloc(ROWS * STRIDE * sizeof *s), ref[OFFERS], price[OFFERS];
  assert_non_null(s);
  for (uint64_t seed = 1; seed <= 5; seed++) {
    fixture_market_random(&fm, seed, 0.3, OFFERS);
    uint64_t st = seed * 77;
    for (size_t j = 0; j < OFFERS; j++) price[j] = 10.0 * fixture_uniform(&st);
    moat_choice_shares(&fm.m, price, s);
    for (size_t r = 0; r < ROWS; r++) {
      const double *sr = s + r * STRIDE;
      double sum = 0.0;
      fixture_reference_shares(&fm.m, price, r, ref);
      for (size_t j = 0; j < OFFERS; j++) {
        sum += sr[j];
        if (fm.base[r * STRIDE + j] == -INFINITY) assert_true(sr[j] == 0.0);
        if (ref[j] > 1e-300) assert_true(fabs(sr[j] - ref[j]) <= 64 * DBL_EPSILON * ref[j]);
      }
      assert_true(fabs(sum - 1.0) <= (OFFERS + 2) * DBL_EPSILON);
    }
  }
  free(s);
  fixture_market_free(&fm);
}

/* Demand: sum_r W_r s_rj from the row-major shares, to 1e-13 relative (sums of ~300 positive
 * terms in different orders: each order is within 300 eps ~ 7e-14 of the exact sum). Zero-weight
 * rows count for nothing, and an offer nobody can buy has demand exactly 0. */
static void test_demand_matches_shares(void **state) {
  (void)state;
  enum { ROWS = 301, OFFERS = 13, STRIDE = 13 };
  fixture_market_t fm;
  assert_int_equal(fixture_market_alloc(&fm, ROWS, OFFERS, STRIDE, 4), 0);
  moat_pricing_ws_t *ws = moat_pricing_ws_alloc(ROWS, STRIDE, 4);
  assert_non_null(ws);
  double *s = malloc(ROWS * STRIDE * sizeof *s), demand[OFFERS], price[OFFERS];
  assert_non_null(s);
  fixture_market_random(&fm, 99, 0.2, OFFERS);
  for (size_t r = 0; r < ROWS; r++) fm.base[r * STRIDE + 7] = -INFINITY;
  for (size_t j = 0; j < OFFERS; j++) price[j] = 1.5 * fm.cost[j];
  moat_choice_shares(&fm.m, price, s);
  moat_choice_demand(&fm.m, price, demand, ws);
  for (size_t j = 0; j < OFFERS; j++) {
    double ref = 0.0;
    for (size_t r = 0; r < ROWS; r++) ref += fm.weight[r] * s[r * STRIDE + j];
    assert_true(fabs(demand[j] - ref) <= 1e-13 * ref);
  }
  assert_true(demand[7] == 0.0);
  moat_pricing_ws_t *small = moat_pricing_ws_alloc(ROWS - 1, STRIDE, 4);
  assert_non_null(small);
  moat_choice_demand(&fm.m, price, demand, small); /* too small: NaN, not a buffer overrun */
  for (size_t j = 0; j < OFFERS; j++) assert_true(isnan(demand[j]));
  moat_pricing_ws_free(small);
  free(s);
  moat_pricing_ws_free(ws);
  fixture_market_free(&fm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fastexp_dense_grid),    cmocka_unit_test(test_fastexp_special_values),
      cmocka_unit_test(test_fastexp_nonpos),
      cmocka_unit_test(test_shares_hand_values),    cmocka_unit_test(test_shares_extremes),
      cmocka_unit_test(test_shares_random_markets), cmocka_unit_test(test_demand_matches_shares),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
