/* bench_kernel.c — throughput of the logit/zeta pricing kernel and of its exp; prints `name value unit`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/*
 * The ratios kernel / exp are measured in ROUNDS interleaved rounds: each round times the zeta
 * solve, the bare loop of the project's exp and the bare loop of libmvec's exp (the reverse
 * order in every other round) for ROUND_SECONDS of thread CPU time each, over arrays of the same
 * size (ROWS x OFFERS elements). The parts of a round see nearly the same machine (frequency,
 * other jobs' cache pressure), so the ratio of a round is far steadier than the ratio of two
 * rates taken seconds apart; the medians over rounds are reported with their spread (lowest and
 * highest round).
 */
enum { ROUNDS = 9 };
#define ROUND_SECONDS 0.12

/* Share evaluations per second in zeta iterations (tol 0: every iteration is done). The Newton
 * phase is off here: its Jacobian passes cost about 2.5 zeta passes each and would be counted
 * as one, so the rate would depend on how often the solve enters that phase. */
static double zeta_rate(const moat_market_t *m, moat_pricing_ws_t *ws, double *price) {
  moat_pricing_result_t res;
  long iters = 0;
  moat_pricing_ws_set_newton(ws, 0);
  double t0 = now(), t = t0;
  while (t - t0 < ROUND_SECONDS) {
    start_prices(m, price);
    moat_pricing_solve(m, price, 0.0, 50, ws, &res);
    iters += res.iterations;
    t = now();
  }
  moat_pricing_ws_set_newton(ws, 1);
  return (double)iters * (double)(m->n_rows * m->n_offers) / (t - t0);
}

/* One bare pass of moat_fastexp over an array, compiled like the kernel's pass (vectorized at
 * any optimisation level: the build has -fopenmp). */
MOAT_FASTEXP_CLONES static void exp_pass(size_t n, const double *restrict x, double *restrict y) {
#pragma omp simd
  for (size_t i = 0; i < n; i++) y[i] = moat_fastexp_nonpos(x[i]);
}

/*
 * The machine's vector exp: glibc's libmvec (_ZGVeN8v_exp on AVX-512, _ZGVdN4v_exp on AVX2,
 * _ZGVbN2v_exp on SSE2, one per clone). glibc declares these variants of exp only under
 * -ffast-math (bits/math-vector.h); the declaration below gives them to this file alone, whose
 * simd loop then calls them whatever OPT says (libm.so links libmvec as needed). The reference
 * the kernel's rate is held to (issue 15: >= 0.6 of it).
 */
__attribute__((simd("notinbranch"))) double exp(double);

MOAT_FASTEXP_CLONES static void libmvec_pass(size_t n, const double *restrict x,
                                             double *restrict y) {
#pragma omp simd
  for (size_t i = 0; i < n; i++) y[i] = exp(x[i]);
}

/* exp evaluations per second of a bare loop (moat_fastexp_nonpos, or libmvec's exp with
 * libmvec) over x, y of n = ROWS x OFFERS elements (the market's size; arguments in [-20, 0],
 * as in the shares). */
static double exp_rate(size_t n, const double *x, double *y, int libmvec) {
  double sink = 0.0;
  long reps = 0;
  double t0 = now(), t = t0;
  while (t - t0 < ROUND_SECONDS) {
    for (int k = 0; k < 4; k++, reps++) {
      if (libmvec)
        libmvec_pass(n, x, y);
      else
        exp_pass(n, x, y);
      sink += y[reps % (long)n];
    }
    t = now();
  }
  if (sink < 0.0) printf("impossible %g\n", sink); /* keeps the loop from being removed */
  return (double)reps * (double)n / (t - t0);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n) (n odd), sorting v. */
static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* The median of the rounds' ratios (sorting them), then the lowest and the highest. */
static void print_ratio(const char *name, double *ratio) {
  printf("%s %.3f 1\n", name, median(ratio, ROUNDS));
  printf("%s_min %.3f 1\n", name, ratio[0]);
  printf("%s_max %.3f 1\n", name, ratio[ROUNDS - 1]);
}

/* The interleaved rounds; prints the median rates, the median ratios and their spread. Returns 0,
 * or -1 out of memory. */
static int kernel_vs_exp(const moat_market_t *m, moat_pricing_ws_t *ws) {
  size_t n = (size_t)ROWS * OFFERS;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), price[OFFERS];
  if (!x || !y) {
    free(x);
    free(y);
    return -1;
  }
  uint64_t st = 7;
  for (size_t i = 0; i < n; i++) x[i] = -20.0 * fixture_uniform(&st);
  double kr[ROUNDS], er[ROUNDS], vr[ROUNDS], ratio[ROUNDS], vratio[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    if (r % 2 == 0) {
      kr[r] = zeta_rate(m, ws, price);
      er[r] = exp_rate(n, x, y, 0);
      vr[r] = exp_rate(n, x, y, 1);
    } else {
      vr[r] = exp_rate(n, x, y, 1);
      er[r] = exp_rate(n, x, y, 0);
      kr[r] = zeta_rate(m, ws, price);
    }
    ratio[r] = kr[r] / er[r];
    vratio[r] = kr[r] / vr[r];
  }
  free(x);
  free(y);
  printf("kernel_rounds %d 1\n", ROUNDS);
  printf("kernel_array_elements %zu 1\n", n);
  printf("kernel_share_evaluations %.4g 1/s\n", median(kr, ROUNDS));
  printf("kernel_exp_evaluations %.4g 1/s\n", median(er, ROUNDS));
  printf("kernel_libmvec_exp_evaluations %.4g 1/s\n", median(vr, ROUNDS));
  print_ratio("kernel_share_to_exp_ratio", ratio);
  print_ratio("kernel_share_to_libmvec_ratio", vratio);
  return 0;
}

/* Iterations and CPU time from a cold start (1.5 c) and then from the solution after costs
 * move by up to +-0.5 %; costs are restored afterwards. Prints the price hash of the warm
 * solve (FNV-1a of the prices' bits: equal across builds, with processor-specific clones or
 * not, and across runs). Returns the warm solve's CPU time. */
static double convergence(fixture_market_t *fm, moat_pricing_ws_t *ws, int accelerate,
                          const char *suffix) {
  double price[OFFERS], saved[OFFERS];
  moat_pricing_result_t cold, warm;
  moat_pricing_ws_set_acceleration(ws, accelerate);
  memcpy(saved, fm->cost, sizeof saved);
  start_prices(&fm->m, price);
  double t0 = now();
  moat_pricing_solve(&fm->m, price, 1e-9, 1000, ws, &cold);
  double t_cold = now() - t0;
  uint64_t st = 99;
  for (size_t j = 0; j < OFFERS; j++) fm->cost[j] *= 1.0 + 0.01 * (fixture_uniform(&st) - 0.5);
  t0 = now();
  moat_pricing_solve(&fm->m, price, 1e-9, 1000, ws, &warm);
  double t_warm = now() - t0;
  memcpy(fm->cost, saved, sizeof saved);
  uint64_t hash = UINT64_C(0xcbf29ce484222325);
  const unsigned char *bytes = (const unsigned char *)price;
  for (size_t i = 0; i < sizeof price; i++) hash = (hash ^ bytes[i]) * UINT64_C(0x100000001b3);
  printf("kernel_prices_hash%s %016llx 1\n", suffix, (unsigned long long)hash);
  printf("kernel_iterations_cold%s %d 1\n", suffix, cold.iterations);
  printf("kernel_iterations_warm%s %d 1\n", suffix, warm.iterations);
  printf("kernel_solve_seconds_cold%s %.3g s\n", suffix, t_cold);
  printf("kernel_solve_seconds_warm%s %.3g s\n", suffix, t_warm);
  return t_warm;
}

int main(void) {
  fixture_market_t fm;
  moat_pricing_ws_t *ws = moat_pricing_ws_alloc(ROWS, STRIDE, SELLERS);
  if (!ws || fixture_market_alloc(&fm, ROWS, OFFERS, STRIDE, SELLERS) != 0) {
    fprintf(stderr, "bench_kernel: out of memory\n");
    return 1;
  }
  fixture_market_random(&fm, 2026, 0.1, 5);
  /* price sensitivity over three orders of magnitude, as in the baseline (1/tau from 0.03 to
   * 60 Mtok/$): it is what makes the iteration slow */
  uint64_t st = 17;
  for (size_t r = 0; r < ROWS; r++) fm.alpha[r] = 0.03 * pow(1000.0, fixture_uniform(&st));
  if (kernel_vs_exp(&fm.m, ws) != 0) {
    fprintf(stderr, "bench_kernel: out of memory\n");
    return 1;
  }
  double t_warm = convergence(&fm, ws, 1, "");
  printf("kernel_path_pricing_seconds_estimate %.3g s\n", STEPS * t_warm);
  convergence(&fm, ws, 0, "_plain");
  fixture_market_free(&fm);
  moat_pricing_ws_free(ws);
  return 0;
}
