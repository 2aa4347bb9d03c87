/* prim.c — PRIM peeling and pasting (Friedman & Fisher 1999) and the EMA Workbench's quasi-p-values. */
#include "moatsim/prim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "moatsim/scenario.h"
#include "moatsim/sensitivity.h"

/* Working state: the data and the box being grown. */
typedef struct prim_ctx {
  const double *x;
  const unsigned char *hit;
  size_t n, n_hit_all;
  int k;
  double *min, *max; /* the data's range per parameter */
  double *col;       /* scratch, n values */
} prim_ctx_t;

static int inside(const prim_ctx_t *c, size_t s, const double *low, const double *high, int skip) {
  for (int d = 0; d < c->k; d++) {
    double v = c->x[s * (size_t)c->k + (size_t)d];
    if (d != skip && (v < low[d] || v > high[d])) return 0;
  }
  return 1;
}

/* Scenarios in the box (ignoring parameter `skip`, or -1) and of those where the condition holds. */
static void count_box(const prim_ctx_t *c, const double *low, const double *high, int skip, size_t *n_in,
                      size_t *n_hit) {
  *n_in = *n_hit = 0;
  for (size_t s = 0; s < c->n; s++)
    if (inside(c, s, low, high, skip)) {
      (*n_in)++;
      *n_hit += c->hit[s] != 0;
    }
}

/* Append a box with these limits to the trajectory. */
static int push_box(const prim_ctx_t *c, moat_prim_t *p, const double *low, const double *high, int pasted) {
  moat_prim_box_t *steps = realloc(p->steps, (p->n_steps + 1) * sizeof *steps);
  if (!steps) return MOAT_ENOMEM;
  p->steps = steps;
  moat_prim_box_t *b = &steps[p->n_steps];
  memset(b, 0, sizeof *b);
  b->low = malloc((size_t)c->k * sizeof *b->low);
  b->high = malloc((size_t)c->k * sizeof *b->high);
  if (!b->low || !b->high) {
    free(b->low);
    free(b->high);
    return MOAT_ENOMEM;
  }
  p->n_steps++;
  memcpy(b->low, low, (size_t)c->k * sizeof *low);
  memcpy(b->high, high, (size_t)c->k * sizeof *high);
  count_box(c, low, high, -1, &b->n, &b->n_hit);
  b->coverage = (double)b->n_hit / (double)c->n_hit_all;
  b->density = b->n ? (double)b->n_hit / (double)b->n : 0.0;
  b->mass = (double)b->n / (double)c->n;
  for (int d = 0; d < c->k; d++) b->restricted += low[d] > c->min[d] || high[d] < c->max[d];
  b->pasted = pasted;
  return MOAT_OK;
}

/* A candidate move: new limit `value` on parameter d, side 0 = low, 1 = high. */
typedef struct move {
  int d, side;
  double value, density;
  size_t n;
} move_t;

/* Is a better than b: higher density, then more scenarios, then the earlier (d, side). */
static int better(const move_t *a, const move_t *b) {
  if (b->d < 0) return 1;
  if (a->density != b->density) return a->density > b->density;
  return a->n > b->n;
}

/* Evaluate the box with limit (d, side) set to value; a peel must remove scenarios from the
 * n_box of the current box, a paste add some. */
static void try_move(const prim_ctx_t *c, double *low, double *high, move_t *m, move_t *best,
                     size_t n_box, int peel) {
  double *lim = m->side ? &high[m->d] : &low[m->d], keep = *lim;
  size_t n_in, n_hit;
  *lim = m->value;
  count_box(c, low, high, -1, &n_in, &n_hit);
  *lim = keep;
  m->n = n_in;
  m->density = n_in ? (double)n_hit / (double)n_in : 0.0;
  int valid = peel ? n_in > 0 && n_in < n_box : n_in > n_box;
  if (valid && better(m, best)) *best = *m;
}

/* In sorted v[0..m-1]: the first value above v[0] (dir = 1) or the last below v[m-1] (dir = -1);
 * NaN when all are equal. The peel's limit sits there, dropping the tied block at the extreme. */
static double next_value(const double *v, size_t m, int dir) {
  if (dir > 0) {
    for (size_t i = 1; i < m; i++)
      if (v[i] > v[0]) return v[i];
  } else {
    for (size_t i = m - 1; i-- > 0;)
      if (v[i] < v[m - 1]) return v[i];
  }
  return NAN;
}

/* Best peel of the box, or best.d = -1 when no candidate removes a scenario. */
static move_t best_peel(const prim_ctx_t *c, double *low, double *high, double alpha, size_t n_box) {
  move_t best = {-1, 0, 0, 0, 0};
  for (int d = 0; d < c->k; d++) {
    size_t m = 0;
    for (size_t s = 0; s < c->n; s++)
      if (inside(c, s, low, high, -1)) c->col[m++] = c->x[s * (size_t)c->k + (size_t)d];
    for (int side = 0; side < 2; side++) {
      double q = moat_sens_percentile(c->col, m, side ? 1 - alpha : alpha);
      /* Ties (a Saltelli design repeats each value k + 1 times, a grid many more): when the
       * quantile equals the extreme value, the peel takes the whole tied block at it instead. */
      if (!side && q <= c->col[0]) q = next_value(c->col, m, 1);
      if (side && q >= c->col[m - 1]) q = next_value(c->col, m, -1);
      if (isnan(q)) continue;
      move_t cand = {d, side, q, 0, 0};
      try_move(c, low, high, &cand, &best, n_box, 1);
    }
  }
  return best;
}

/* Best paste of the box (take in ceil(alpha n_box) scenarios beyond one limit), or d = -1. */
static move_t best_paste(const prim_ctx_t *c, double *low, double *high, double alpha, size_t n_box) {
  move_t best = {-1, 0, 0, 0, 0};
  size_t want = (size_t)ceil(alpha * (double)n_box);
  for (int d = 0; d < c->k; d++)
    for (int side = 0; side < 2; side++) {
      size_t m = 0;
      for (size_t s = 0; s < c->n; s++) {
        double v = c->x[s * (size_t)c->k + (size_t)d];
        if ((side ? v > high[d] : v < low[d]) && inside(c, s, low, high, d)) c->col[m++] = v;
      }
      if (m == 0) continue;
      /* sorted ascending: the nearest beyond the low limit are the largest, beyond the high
       * limit the smallest */
      moat_sens_percentile(c->col, m, 0.0);
      size_t take = want < m ? want : m;
      move_t cand = {d, side, side ? c->col[take - 1] : c->col[m - take], 0, 0};
      try_move(c, low, high, &cand, &best, n_box, 0);
    }
  return best;
}

static int setup(prim_ctx_t *c, const double *x, const unsigned char *hit, size_t n, int k, char *err,
                 size_t errlen) {
  memset(c, 0, sizeof *c);
  c->x = x, c->hit = hit, c->n = n, c->k = k;
  for (size_t s = 0; s < n; s++) c->n_hit_all += hit[s] != 0;
  if (n < MOAT_PRIM_MIN_SCENARIOS) {
    snprintf(err, errlen, "PRIM needs at least %d scenarios, the sweep has %zu: use a larger lhs, sobol "
             "or saltelli design", MOAT_PRIM_MIN_SCENARIOS, n);
    return MOAT_EINVAL;
  }
  if (c->n_hit_all == 0 || c->n_hit_all == n) {
    snprintf(err, errlen, "the condition holds in %s of the %zu scenarios: there is nothing to "
             "separate; choose a threshold inside the output's range", c->n_hit_all ? "all" : "none", n);
    return MOAT_EINVAL;
  }
  c->min = malloc((size_t)k * sizeof *c->min);
  c->max = malloc((size_t)k * sizeof *c->max);
  c->col = malloc(n * sizeof *c->col);
  if (!c->min || !c->max || !c->col) {
    snprintf(err, errlen, "out of memory for PRIM over %zu scenarios", n);
    return MOAT_ENOMEM;
  }
  for (int d = 0; d < k; d++) {
    c->min[d] = c->max[d] = x[d];
    for (size_t s = 1; s < n; s++) {
      double v = x[s * (size_t)k + (size_t)d];
      if (!isfinite(v)) {
        snprintf(err, errlen, "parameter %d of scenario %zu is not finite", d, s);
        return MOAT_EINVAL;
      }
      c->min[d] = fmin(c->min[d], v);
      c->max[d] = fmax(c->max[d], v);
    }
  }
  return MOAT_OK;
}

int moat_prim_run(const double *x, const unsigned char *hit, size_t n, int k, double alpha,
                  double mass_min, moat_prim_t *out, char *err, size_t errlen) {
  prim_ctx_t c;
  memset(out, 0, sizeof *out);
  out->k = k;
  int st = setup(&c, x, hit, n, k, err, errlen);
  double *low = malloc((size_t)k * sizeof *low), *high = malloc((size_t)k * sizeof *high);
  if (st == MOAT_OK && (!low || !high)) st = MOAT_ENOMEM;
  if (st == MOAT_OK) {
    memcpy(low, c.min, (size_t)k * sizeof *low);
    memcpy(high, c.max, (size_t)k * sizeof *high);
    st = push_box(&c, out, low, high, 0);
  }
  while (st == MOAT_OK && out->steps[out->n_steps - 1].density < 1) {
    move_t m = best_peel(&c, low, high, alpha, out->steps[out->n_steps - 1].n);
    if (m.d < 0 || (double)m.n < mass_min * (double)n) break;
    (m.side ? high : low)[m.d] = m.value;
    st = push_box(&c, out, low, high, 0);
  }
  while (st == MOAT_OK) {
    const moat_prim_box_t *cur = &out->steps[out->n_steps - 1];
    move_t m = best_paste(&c, low, high, alpha, cur->n);
    if (m.d < 0 || !(m.density > cur->density)) break;
    (m.side ? high : low)[m.d] = m.value;
    st = push_box(&c, out, low, high, 1);
  }
  if (st == MOAT_ENOMEM) snprintf(err, errlen, "out of memory for the PRIM trajectory");
  if (st != MOAT_OK) moat_prim_clear(out);
  free(low);
  free(high);
  free(c.min);
  free(c.max);
  free(c.col);
  return st;
}

void moat_prim_clear(moat_prim_t *p) {
  for (size_t b = 0; p->steps && b < p->n_steps; b++) {
    free(p->steps[b].low);
    free(p->steps[b].high);
  }
  free(p->steps);
  p->steps = NULL;
  p->n_steps = 0;
}

size_t moat_prim_choose(const moat_prim_t *p, double min_coverage) {
  size_t best = 0;
  int found = 0;
  for (size_t b = 0; b < p->n_steps; b++) {
    const moat_prim_box_t *x = &p->steps[b];
    if (x->coverage < min_coverage) continue;
    const moat_prim_box_t *y = &p->steps[best];
    if (!found || x->density > y->density || (x->density == y->density && x->coverage > y->coverage))
      best = b, found = 1;
  }
  return best;
}

void moat_prim_quasi_p(const double *x, const unsigned char *hit, size_t n, const moat_prim_t *p,
                       size_t b, double *qp) {
  const moat_prim_box_t *box = &p->steps[b];
  prim_ctx_t c = {.x = x, .hit = hit, .n = n, .k = p->k};
  const moat_prim_box_t *all = &p->steps[0]; /* the data's range */
  for (int d = 0; d < p->k; d++) {
    qp[d] = NAN;
    if (!(box->low[d] > all->low[d] || box->high[d] < all->high[d])) continue;
    size_t t_d, h_d;
    count_box(&c, box->low, box->high, d, &t_d, &h_d);
    double p_d = (double)h_d / (double)t_d;
    qp[d] = box->n_hit == 0 ? 1.0 : gsl_cdf_binomial_Q((unsigned)(box->n_hit - 1), p_d, (unsigned)box->n);
  }
}
