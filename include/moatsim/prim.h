/* prim.h — scenario discovery with PRIM (Friedman & Fisher 1999): boxes in parameter space where a
 * condition on the outputs holds, as the EMA Workbench presents them (Kwakkel & Jaxa-Rozen 2016). */
#ifndef MOATSIM_PRIM_H
#define MOATSIM_PRIM_H

#include <stddef.h>

#define MOAT_PRIM_ALPHA 0.05    /* peeling and pasting fraction (Friedman & Fisher's usual value) */
#define MOAT_PRIM_MASS_MIN 0.05 /* peeling stops before a box holds less than this share of scenarios */
#define MOAT_PRIM_MIN_SCENARIOS 50

/* One box of the trajectory. low/high are owned by the result (k entries each). */
typedef struct moat_prim_box {
  double *low, *high; /* limits per parameter, in the parameter's units */
  size_t n;           /* scenarios in the box */
  size_t n_hit;       /* of which the condition holds */
  double coverage;    /* n_hit / all scenarios where it holds */
  double density;     /* n_hit / n */
  double mass;        /* n / all scenarios (the box's size) */
  int restricted;     /* parameters whose limits are narrower than the data's range */
  int pasted;         /* 1 for a box that the pasting step produced */
} moat_prim_box_t;

typedef struct moat_prim {
  int k;
  size_t n_steps;
  moat_prim_box_t *steps; /* step 0 = every scenario; then each peel, then each paste */
} moat_prim_t;

/*
 * Peel and paste over n scenarios with parameters x (n x k, row-major) and hit[s] = 1 where the
 * condition holds. Peeling: at each step, for every parameter, the candidates "raise the lower
 * limit to the alpha-quantile of the box's values" and "lower the upper limit to the (1 − alpha)
 * quantile" (Hyndman–Fan 7), dropping the scenarios beyond (when ties make that drop nothing,
 * the limit moves to the next distinct value, dropping the tied block at the extreme); the candidate leaving the highest
 * density is taken (ties: more scenarios left, then the lower parameter, lower limit first).
 * Stops when the next box would hold less than mass_min · n scenarios, when the density is 1,
 * or when no candidate removes a scenario. Pasting (from the last peeled box): the candidates
 * widen one limit to take in the ceil(alpha · n_box) nearest scenarios beyond it that lie inside
 * the other limits; the one raising the density most is taken, while one raises it.
 * MOAT_EINVAL when fewer than MOAT_PRIM_MIN_SCENARIOS scenarios, or the condition holds in none
 * or in all of them.
 */
int moat_prim_run(const double *x, const unsigned char *hit, size_t n, int k, double alpha,
                  double mass_min, moat_prim_t *out, char *err, size_t errlen);

void moat_prim_clear(moat_prim_t *p);

/* Default box: the densest box of the trajectory whose coverage is at least min_coverage
 * (ties: the higher coverage); the first box when none reaches it. */
size_t moat_prim_choose(const moat_prim_t *p, double min_coverage);

/*
 * Quasi-p-value of each restricted parameter of box b (the EMA Workbench's): with the box's
 * limit on parameter d removed, the density there p_d = H_d / T_d; qp[d] = P(Binomial(n, p_d)
 * >= n_hit), one-sided: how likely the box's density is if restricting d added nothing.
 * NaN for parameters the box does not restrict.
 */
void moat_prim_quasi_p(const double *x, const unsigned char *hit, size_t n, const moat_prim_t *p,
                       size_t b, double *qp);

#endif
