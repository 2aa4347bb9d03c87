/* sensitivity.c — Sobol indices (Saltelli 2010 first order, Jansen total order) and Morris
 * elementary effects, with bootstrap intervals keyed by a fixed hash. */
#include "moatsim/sensitivity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moatsim/scenario.h"
#include "moatsim/sweep.h"

/* splitmix64 (Steele, Lea & Flood 2014), as the designs use it. */
static uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

size_t moat_sens_resample_row(uint64_t b, uint64_t j, size_t n) {
  uint64_t h = mix64(mix64(mix64(MOAT_SENS_SEED) ^ b) ^ j);
  double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
  size_t row = (size_t)(u * (double)n);
  return row < n ? row : n - 1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double moat_sens_percentile(double *v, size_t n, double q) {
  qsort(v, n, sizeof *v, cmp_double);
  double h = (double)(n - 1) * q;
  size_t lo = (size_t)floor(h);
  if (lo + 1 >= n) return v[n - 1];
  return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

/* The outputs of one base row, located in the design's scenario order. */
typedef struct saltelli_view {
  const double *y, *noise; /* noise may be NULL */
  size_t block;
  int k;
} saltelli_view_t;

static double val(const saltelli_view_t *v, size_t row, size_t r) { return v->y[row * v->block + r]; }
static double nse(const saltelli_view_t *v, size_t row, size_t r) {
  return v->noise ? v->noise[row * v->block + r] : 0.0;
}

/* Point estimates over the rows rows[0..n-1] (with repetition: a bootstrap resample); s2 may be
 * NULL. Returns the variance used. Sums run in row order. */
static double sobol_point(const saltelli_view_t *v, const size_t *rows, size_t n, double *s1, double *st,
                          double *s2, double *noise_mean) {
  size_t last = v->block - 1;
  double sum = 0, noise = 0;
  for (size_t j = 0; j < n; j++) {
    sum += val(v, rows[j], 0) + val(v, rows[j], last);
    noise += nse(v, rows[j], 0) + nse(v, rows[j], last);
  }
  double mean = sum / (double)(2 * n), var = 0;
  for (size_t j = 0; j < n; j++) {
    double a = val(v, rows[j], 0) - mean, b = val(v, rows[j], last) - mean;
    var += a * a + b * b;
  }
  noise /= (double)(2 * n);
  var = var / (double)(2 * n) - noise;
  for (int i = 0; i < v->k; i++) {
    double first = 0, total = 0;
    for (size_t j = 0; j < n; j++) {
      double fa = val(v, rows[j], 0), fb = val(v, rows[j], last), fab = val(v, rows[j], (size_t)i + 1);
      first += (fb - mean) * (fab - fa);
      total += 0.5 * (fa - fab) * (fa - fab) - 0.5 * (nse(v, rows[j], 0) + nse(v, rows[j], (size_t)i + 1));
    }
    s1[i] = first / (double)n / var;
    st[i] = total / (double)n / var;
  }
  for (int i = 0; s2 && i < v->k; i++)
    for (int l = 0; l < v->k; l++) {
      double sij = NAN;
      if (i < l) {
        double t = 0;
        for (size_t j = 0; j < n; j++)
          t += val(v, rows[j], (size_t)(v->k + 1 + i)) * val(v, rows[j], (size_t)l + 1) -
               val(v, rows[j], 0) * val(v, rows[j], last);
        sij = t / (double)n / var - s1[i] - s1[l];
      }
      s2[i * v->k + l] = sij;
    }
  if (noise_mean) *noise_mean = noise;
  return var;
}

/* Check the outputs are finite; name the first scenario that is not. */
static int check_finite(const double *y, size_t n, const char *what, char *err, size_t errlen) {
  for (size_t s = 0; s < n; s++)
    if (!isfinite(y[s])) {
      snprintf(err, errlen, "%s of scenario %zu is %g: every scenario of the design needs a finite "
               "value (is the file complete? does the output exist at that time?)", what, s, y[s]);
      return MOAT_EINVAL;
    }
  return MOAT_OK;
}

/* Percentile interval of column i of a resamples x k table. */
static void interval(double *table, size_t n_boot, int k, int i, double *col, double *low, double *high) {
  size_t m = 0;
  for (size_t b = 0; b < n_boot; b++)
    if (isfinite(table[b * (size_t)k + (size_t)i])) col[m++] = table[b * (size_t)k + (size_t)i];
  if (m == 0) {
    *low = *high = NAN;
    return;
  }
  *low = moat_sens_percentile(col, m, (1 - MOAT_SENS_LEVEL) / 2);
  *high = moat_sens_percentile(col, m, 1 - (1 - MOAT_SENS_LEVEL) / 2);
}

int moat_sobol_estimate(const double *y, const double *noise, size_t n_rows, int k, int second_order,
                        moat_sobol_t *out, char *err, size_t errlen) {
  saltelli_view_t v = {y, noise, moat_sweep_saltelli_block(k, second_order), k};
  if (n_rows < 2 || k < 1) {
    snprintf(err, errlen, "a Saltelli estimate needs at least 2 base rows and 1 parameter (got %zu rows, "
             "%d parameters)", n_rows, k);
    return MOAT_EINVAL;
  }
  int st = check_finite(y, n_rows * v.block, "the output", err, errlen);
  if (st == MOAT_OK && noise) st = check_finite(noise, n_rows * v.block, "the noise variance", err, errlen);
  if (st != MOAT_OK) return st;
  size_t n_boot = MOAT_SENS_BOOTSTRAP, kk = (size_t)k;
  size_t *rows = malloc(n_rows * sizeof *rows);
  double *s1b = malloc(n_boot * kk * sizeof *s1b), *stb = malloc(n_boot * kk * sizeof *stb);
  double *col = malloc(n_boot * sizeof *col);
  if (!rows || !s1b || !stb || !col) {
    snprintf(err, errlen, "out of memory for %zu bootstrap resamples of %d indices", n_boot, k);
    st = MOAT_ENOMEM;
    goto done;
  }
  for (size_t j = 0; j < n_rows; j++) rows[j] = j;
  out->variance = sobol_point(&v, rows, n_rows, out->s1, out->st, second_order ? out->s2 : NULL, &out->noise);
  if (!(out->variance > 0)) {
    snprintf(err, errlen, "the output's variance over the design is %g (after subtracting the paths' "
             "noise, %g): it does not vary with the swept parameters beyond sampling noise",
             out->variance + out->noise, out->noise);
    st = MOAT_EINVAL;
    goto done;
  }
  for (size_t b = 0; b < n_boot; b++) {
    for (size_t j = 0; j < n_rows; j++) rows[j] = moat_sens_resample_row(b, j, n_rows);
    sobol_point(&v, rows, n_rows, s1b + b * kk, stb + b * kk, NULL, NULL);
  }
  for (int i = 0; i < k; i++) {
    interval(s1b, n_boot, k, i, col, &out->s1_low[i], &out->s1_high[i]);
    interval(stb, n_boot, k, i, col, &out->st_low[i], &out->st_high[i]);
  }
done:
  free(rows);
  free(s1b);
  free(stb);
  free(col);
  return st;
}

/* ---- Morris ------------------------------------------------------------------------------ */

/* Elementary effects of r trajectories into ee (r x k): which axis moves at each step. */
static int elementary_effects(const double *y, const double *x, size_t r, int k, double delta,
                              double *ee, char *err, size_t errlen) {
  size_t kk = (size_t)k;
  for (size_t i = 0; i < r * kk; i++) ee[i] = NAN;
  for (size_t t = 0; t < r; t++)
    for (size_t m = 1; m <= kk; m++) {
      size_t s = t * (kk + 1) + m;
      int moved = -1, count = 0;
      for (int a = 0; a < k; a++)
        if (x[s * kk + (size_t)a] != x[(s - 1) * kk + (size_t)a]) moved = a, count++;
      if (count != 1 || !isnan(ee[t * kk + (size_t)moved])) {
        snprintf(err, errlen, "scenarios %zu and %zu differ in %d parameters: consecutive points of a "
                 "Morris trajectory differ in exactly one, each axis once (is this a morris design?)",
                 s - 1, s, count);
        return MOAT_EINVAL;
      }
      double sign = x[s * kk + (size_t)moved] > x[(s - 1) * kk + (size_t)moved] ? 1.0 : -1.0;
      ee[t * kk + (size_t)moved] = (y[s] - y[s - 1]) / (sign * delta);
    }
  return MOAT_OK;
}

/* mu* of each axis over the trajectories rows[0..n-1]. */
static void mu_star_of(const double *ee, const size_t *rows, size_t n, int k, double *mu_star) {
  for (int a = 0; a < k; a++) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += fabs(ee[rows[j] * (size_t)k + (size_t)a]);
    mu_star[a] = s / (double)n;
  }
}

int moat_morris_estimate(const double *y, const double *x, size_t r, int k, double delta,
                         moat_morris_t *out, char *err, size_t errlen) {
  size_t kk = (size_t)k, n_boot = MOAT_SENS_BOOTSTRAP;
  if (r < 2 || k < 1) {
    snprintf(err, errlen, "a Morris estimate needs at least 2 trajectories and 1 parameter (got %zu, %d)",
             r, k);
    return MOAT_EINVAL;
  }
  int st = check_finite(y, r * (kk + 1), "the output", err, errlen);
  if (st != MOAT_OK) return st;
  double *ee = malloc(r * kk * sizeof *ee), *boot = malloc(n_boot * kk * sizeof *boot);
  double *col = malloc(n_boot * sizeof *col);
  size_t *rows = malloc(r * sizeof *rows);
  if (!ee || !boot || !col || !rows) {
    snprintf(err, errlen, "out of memory for %zu trajectories", r);
    st = MOAT_ENOMEM;
    goto done;
  }
  st = elementary_effects(y, x, r, k, delta, ee, err, errlen);
  if (st != MOAT_OK) goto done;
  for (size_t t = 0; t < r; t++) rows[t] = t;
  mu_star_of(ee, rows, r, k, out->mu_star);
  for (int a = 0; a < k; a++) {
    double s = 0, ss = 0;
    for (size_t t = 0; t < r; t++) s += ee[t * kk + (size_t)a];
    out->mu[a] = s / (double)r;
    for (size_t t = 0; t < r; t++) {
      double d = ee[t * kk + (size_t)a] - out->mu[a];
      ss += d * d;
    }
    out->sigma[a] = sqrt(ss / (double)(r - 1));
  }
  for (size_t b = 0; b < n_boot; b++) {
    for (size_t t = 0; t < r; t++) rows[t] = moat_sens_resample_row(b, t, r);
    mu_star_of(ee, rows, r, k, boot + b * kk);
  }
  for (int a = 0; a < k; a++) interval(boot, n_boot, k, a, col, &out->mu_star_low[a], &out->mu_star_high[a]);
done:
  free(ee);
  free(boot);
  free(col);
  free(rows);
  return st;
}
