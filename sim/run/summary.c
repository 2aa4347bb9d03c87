/* summary.c — mean, standard deviation, count and exact quantiles across paths, per element. */
#include "moatsim/summary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <omp.h>

/* Elements gathered together: one 64-byte cache line of doubles per path, so that walking the
 * path-indexed array (paths far apart in memory) touches each line once. */
#define SUMMARY_BLOCK 8

int moat_summary_init(moat_summary_t *s, size_t n_elem, const double *q, int n_q, char *err,
                      size_t errlen) {
  memset(s, 0, sizeof *s);
  if (n_q < 0 || n_q > MOAT_MAX_QUANTILES) {
    snprintf(err, errlen, "summary: %d quantile levels, allowed 0 to %d", n_q, MOAT_MAX_QUANTILES);
    return MOAT_EINVAL;
  }
  size_t n = n_elem ? n_elem : 1;
  s->n_elem = n_elem;
  s->n_q = n_q;
  if (n_q > 0) memcpy(s->q, q, (size_t)n_q * sizeof *q);
  s->mean = malloc(n * sizeof *s->mean);
  s->std = malloc(n * sizeof *s->std);
  s->count = malloc(n * sizeof *s->count);
  s->quantile = malloc((n_q ? (size_t)n_q : 1) * n * sizeof *s->quantile);
  if (!s->mean || !s->std || !s->count || !s->quantile) {
    moat_summary_clear(s);
    snprintf(err, errlen, "summary: out of memory for %zu elements x %d quantiles", n_elem, n_q);
    return MOAT_ENOMEM;
  }
  return MOAT_OK;
}

void moat_summary_clear(moat_summary_t *s) {
  free(s->mean);
  free(s->std);
  free(s->count);
  free(s->quantile);
  memset(s, 0, sizeof *s);
}

/* Summarize the n_paths values in v (path order; overwritten: compacted and sorted) into
 * element e of s. */
static void summarize_element(moat_summary_t *s, size_t e, double *v, size_t n_paths) {
  size_t n = 0;
  double sum = 0.0;
  for (size_t p = 0; p < n_paths; p++) {
    if (isnan(v[p])) continue;
    sum += v[p];
    v[n++] = v[p];
  }
  s->count[e] = (int32_t)n;
  double mean = n ? sum / (double)n : NAN;
  double ss = 0.0;
  for (size_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
  s->mean[e] = mean;
  s->std[e] = n >= 2 ? sqrt(ss / (double)(n - 1)) : NAN;
  if (n) gsl_sort(v, 1, n);
  for (int k = 0; k < s->n_q; k++)
    s->quantile[(size_t)k * s->n_elem + e] =
        n ? gsl_stats_quantile_from_sorted_data(v, 1, n, s->q[k]) : NAN;
}

int moat_summary_compute(moat_summary_t *s, const double *paths, size_t n_paths, size_t stride,
                         int threads, char *err, size_t errlen) {
  int nt = threads > 0 ? threads : omp_get_max_threads();
  size_t per_thread = SUMMARY_BLOCK * (n_paths ? n_paths : 1);
  double *scratch = malloc((size_t)nt * per_thread * sizeof *scratch);
  if (!scratch) {
    snprintf(err, errlen, "summary: out of memory for %d x %zu doubles of scratch", nt, per_thread);
    return MOAT_ENOMEM;
  }
  long n_blocks = (long)((s->n_elem + SUMMARY_BLOCK - 1) / SUMMARY_BLOCK);
#pragma omp parallel num_threads(nt)
  {
    double *mine = scratch + (size_t)omp_get_thread_num() * per_thread;
#pragma omp for schedule(static)
    for (long b = 0; b < n_blocks; b++) {
      size_t e0 = (size_t)b * SUMMARY_BLOCK;
      size_t width = s->n_elem - e0 < SUMMARY_BLOCK ? s->n_elem - e0 : SUMMARY_BLOCK;
      for (size_t p = 0; p < n_paths; p++)
        for (size_t j = 0; j < width; j++) mine[j * n_paths + p] = paths[p * stride + e0 + j];
      for (size_t j = 0; j < width; j++) summarize_element(s, e0 + j, mine + j * n_paths, n_paths);
    }
  }
  free(scratch);
  return MOAT_OK;
}
