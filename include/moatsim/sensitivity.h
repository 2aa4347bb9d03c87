/* sensitivity.h — variance-based (Sobol) and elementary-effect (Morris) sensitivity indices of a
 * scalar output over a sweep's scenarios (MODEL.md §13, docs/analysis.md). */
#ifndef MOATSIM_SENSITIVITY_H
#define MOATSIM_SENSITIVITY_H

#include <stddef.h>
#include <stdint.h>

#define MOAT_SENS_BOOTSTRAP 1000       /* bootstrap resamples behind every confidence interval */
#define MOAT_SENS_LEVEL 0.95           /* their coverage: percentiles 2.5 and 97.5 */
#define MOAT_SENS_SEED 0x53454e53ULL   /* "SENS": the resampling's fixed key */

/* Sobol indices of one output over k parameters. Arrays are caller-owned, k entries each
 * (s2: k x k row-major, or NULL; its diagonal and lower triangle are NaN). */
typedef struct moat_sobol {
  double *s1, *s1_low, *s1_high; /* first order S_i and its 95 % bootstrap interval */
  double *st, *st_low, *st_high; /* total order S_Ti and its interval */
  double *s2;                    /* second order S_ij (i < j), only from a second-order design */
  double variance;               /* Var(Y) over A and B (less the mean noise variance), output units^2 */
  double noise;                  /* mean noise variance of one scenario's value subtracted (0: none) */
} moat_sobol_t;

/*
 * Sobol indices from the outputs y of a Saltelli design in its scenario order (N blocks of
 * moat_sweep_saltelli_block(k, second_order) values: A, A_B^(1..k), [B_A^(1..k)], B):
 * S_i = mean((f(B) − m)(f(A_B^i) − f(A))) / V (Saltelli et al. 2010, Table 2 (b), with f(B)
 * centred on m, the mean of f over A and B: the same expectation, as E[f(A_B^i) − f(A)] = 0, and
 * a much smaller variance when the output's mean is large against its spread),
 * S_Ti = mean((f(A) − f(A_B^i))^2) / (2V) (Jansen 1999), V the variance (divisor 2N) of f over
 * A and B, and with a second-order design S_ij = mean(f(B_A^i) f(A_B^j) − f(A) f(B)) / V − S_i
 * − S_j (Saltelli 2002). `noise` (NULL for none) is each scenario's own sampling variance (the
 * squared standard error of a mean over paths): it is subtracted from V and from each Jansen
 * term, whose two values carry independent noise, so that an input without effect has S_Ti
 * centred on 0 (valid only when scenarios use independent paths; with common random numbers
 * pass NULL). Intervals: percentiles of MOAT_SENS_BOOTSTRAP resamples of the N rows, row j of
 * resample b being floor(U(b, j) N) with U a splitmix64 hash of (MOAT_SENS_SEED, b, j)
 * (docs/analysis.md), so that any implementation reproduces them. Returns 0, or MOAT_EINVAL
 * with a message (a value not finite, fewer than 2 rows, no variance).
 */
int moat_sobol_estimate(const double *y, const double *noise, size_t n_rows, int k, int second_order,
                        moat_sobol_t *out, char *err, size_t errlen);

/* Morris elementary-effect statistics over k parameters; arrays caller-owned, k entries each. */
typedef struct moat_morris {
  double *mu;                               /* mean elementary effect, output units per unit range */
  double *mu_star, *mu_star_low, *mu_star_high; /* mean |EE| (Campolongo et al. 2007) and its interval */
  double *sigma;                            /* standard deviation of EE (divisor r − 1) */
} moat_morris_t;

/*
 * Morris statistics from r trajectories of k + 1 scenarios each (scenario order of the morris
 * design): y the outputs, x the n x k parameter values (row-major), delta the grid step in
 * unit-range coordinates. The elementary effect of the axis that changes between consecutive
 * points is (y_{m} − y_{m−1}) / (±delta), the sign that of the change (so effects are per unit
 * of the axis's range; Morris 1991). mu* intervals: bootstrap over trajectories, keyed as in
 * moat_sobol_estimate. MOAT_EINVAL when consecutive points do not differ in exactly one axis.
 */
int moat_morris_estimate(const double *y, const double *x, size_t r, int k, double delta,
                         moat_morris_t *out, char *err, size_t errlen);

/* The bootstrap's row: floor(U n) with U = 53 bits of splitmix64 hash(MOAT_SENS_SEED, b, j). */
size_t moat_sens_resample_row(uint64_t b, uint64_t j, size_t n);

/* Percentile q of n values (sorted in place): linear interpolation h = (n − 1) q (Hyndman–Fan 7). */
double moat_sens_percentile(double *v, size_t n, double q);

#endif
