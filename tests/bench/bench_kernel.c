/* bench_kernel.c — throughput of the logit/zeta pricing kernel and of its exp; prints `name value unit`. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "moatsim/fastexp.h"
#include "moatsim/pricing.h"
#include "pricing_fixture.h"

/* Baseline size (MODEL.md §10): 1000 enterprises x 2 segments, 21 offers, ~120 steps a path. */
enum { ROWS = 2000, OFFERS = 21, STRIDE = 24, SELLERS = 9, STEPS = 120 };

/* CPU time of this thread: rates per core, little disturbed by other jobs on the machine. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void start_prices(const moat_market_t *m, double *price) {
  for (size_t j = 0; j < m->n_offers; j++)
    price[j] = m->seller[j] < 0 ? m->cost[j] : 1.5 * m->cost[j];
}

/* Share evaluations per second in zeta iterations (tol 0: every iteration is done). */
static double zeta_rate(const moat_market_t *m, moat_pricing_ws_t *ws, double *price) {
  moat_pricing_result_t res;
  long iters = 0;
  double t0 = now(), t = t0;
  while (t - t0 < 1.0) {
    start_prices(m, price);
    moat_pricing_solve(m, price, 0.0, 50, ws, &res);
    iters += res.iterations;
    t = now();
  }
  return (double)iters * (double)(m->n_rows * m->n_offers) / (t - t0);
}

/* One bare pass of moat_fastexp over an array, compiled like the kernel's pass. */
MOAT_FASTEXP_CLONES static void exp_pass(size_t n, const double *restrict x, double *restrict y) {
  for (size_t i = 0; i < n; i++) y[i] = moat_fastexp_nonpos(x[i]);
}

/* exp evaluations per second of a bare loop over an array of the market's size (arguments in
 * [-20, 0], as in the shares). */
static double exp_rate(void) {
  size_t n = (size_t)ROWS * OFFERS;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), sink = 0.0;
  if (!x || !y) return 0.0;
  uint64_t st = 7;
  for (size_t i = 0; i < n; i++) x[i] = -20.0 * fixture_uniform(&st);
  long reps = 0;
  double t0 = now(), t = t0;
  while (t - t0 < 1.0) {
    for (int k = 0; k < 20; k++, reps++) {
      exp_pass(n, x, y);
      sink += y[reps % (long)n];
    }
    t = now();
  }
  if (sink < 0.0) printf("impossible %g\n", sink); /* keeps the loop from being removed */
  free(x);
  free(y);
  return (double)reps * (double)n / (t - t0);
}

int main(void) {
  fixture_market_t fm;
  double price[OFFERS];
  moat_pricing_ws_t *ws = moat_pricing_ws_alloc(ROWS, STRIDE, SELLERS);
  if (!ws || fixture_market_alloc(&fm, ROWS, OFFERS, STRIDE, SELLERS) != 0) {
    fprintf(stderr, "bench_kernel: out of memory\n");
    return 1;
  }
  fixture_market_random(&fm, 2026, 0.1, 5);
  double shares_per_s = zeta_rate(&fm.m, ws, price);
  double exps_per_s = exp_rate();
  printf("kernel_share_evaluations %.4g 1/s\n", shares_per_s);
  printf("kernel_exp_evaluations %.4g 1/s\n", exps_per_s);
  printf("kernel_share_to_exp_ratio %.3f 1\n", shares_per_s / exps_per_s);

  moat_pricing_result_t cold, warm;
  start_prices(&fm.m, price);
  double t0 = now();
  moat_pricing_solve(&fm.m, price, 1e-9, 1000, ws, &cold);
  double t_cold = now() - t0;
  for (size_t j = 0; j < OFFERS; j++) fm.cost[j] *= 1.0 + 0.01 * (fixture_uniform(&(uint64_t){j}) - 0.5);
  t0 = now();
  moat_pricing_solve(&fm.m, price, 1e-9, 1000, ws, &warm);
  double t_warm = now() - t0;
  /* FNV-1a hash of the prices' bits: equal across builds (clones or not) and runs */
  uint64_t hash = UINT64_C(0xcbf29ce484222325);
  const unsigned char *bytes = (const unsigned char *)price;
  for (size_t i = 0; i < sizeof price; i++) hash = (hash ^ bytes[i]) * UINT64_C(0x100000001b3);
  printf("kernel_prices_hash %016llx 1\n", (unsigned long long)hash);
  printf("kernel_iterations_cold %d 1\n", cold.iterations);
  printf("kernel_iterations_warm %d 1\n", warm.iterations);
  printf("kernel_solve_seconds_cold %.3g s\n", t_cold);
  printf("kernel_solve_seconds_warm %.3g s\n", t_warm);
  printf("kernel_path_pricing_seconds_estimate %.3g s\n", STEPS * t_warm);
  fixture_market_free(&fm);
  moat_pricing_ws_free(ws);
  return 0;
}
