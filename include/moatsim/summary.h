/* summary.h — statistics across the paths of one scenario, element by element (MODEL.md §8). */
#ifndef MOATSIM_SUMMARY_H
#define MOATSIM_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "moatsim/scenario.h"

/*
 * Summaries of n_elem elements (one per double of a path's result block, moat_layout_t order).
 * For element e over the paths whose value is not NaN (n = count[e] of them):
 *   mean[e]  = sum / n, summed in path order; NaN when n = 0;
 *   std[e]   = sample standard deviation sqrt(sum (x - mean)^2 / (n - 1)), two-pass;
 *              NaN when n < 2 (one value says nothing about spread);
 *   quantile[k * n_elem + e] = gsl_stats_quantile_from_sorted_data of the sorted values at
 *              level q[k] (linear interpolation between order statistics, Hyndman–Fan type 7);
 *              NaN when n = 0.
 * Infinite values are kept (they are not NaN) and propagate as IEEE arithmetic says.
 * The buffers are owned by the struct: moat_summary_init / moat_summary_clear.
 */
typedef struct moat_summary {
  size_t n_elem;   /* elements summarized */
  int n_q;         /* quantile levels */
  double q[MOAT_MAX_QUANTILES]; /* levels in (0, 1) */
  double *mean;     /* [n_elem], units of the element */
  double *std;      /* [n_elem], units of the element */
  int32_t *count;   /* [n_elem], paths with a non-NaN value */
  double *quantile; /* [n_q][n_elem], units of the element */
} moat_summary_t;

/* Allocate the buffers for n_elem elements and the n_q levels q (copied). 0 or MOAT_ENOMEM /
 * MOAT_EINVAL (n_q outside [0, MOAT_MAX_QUANTILES]) with a message; on failure s holds
 * nothing to free. */
int moat_summary_init(moat_summary_t *s, size_t n_elem, const double *q, int n_q, char *err,
                      size_t errlen);
void moat_summary_clear(moat_summary_t *s);

/*
 * Summarize a path-indexed array: value of element e on path p is paths[p * stride + e]
 * (stride >= s->n_elem). Elements are shared out over `threads` OpenMP threads (<= 0: the
 * OpenMP default); each element is computed by one thread in path order, so the result is
 * bitwise the same for any thread count. Returns 0, or MOAT_ENOMEM with a message (scratch
 * memory of threads x 8 x n_paths doubles).
 */
int moat_summary_compute(moat_summary_t *s, const double *paths, size_t n_paths, size_t stride,
                         int threads, char *err, size_t errlen);

#endif
