/* enterprises.c — drawing enterprise attributes (MODEL.md §3). */
#include "moatsim/enterprises.h"

#include <math.h>
#include <stdlib.h>

#include "moatsim/inversion.h"
#include "moatsim/rng.h"

moat_enterprises_t *moat_enterprises_alloc(size_t capacity) {
  moat_enterprises_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  size_t c = capacity ? capacity : 1;
  e->capacity = capacity;
  e->d0 = malloc(c * sizeof *e->d0);
  e->hard = malloc(c * sizeof *e->hard);
  e->value = malloc(2 * c * sizeof *e->value);
  e->privacy = malloc(c * sizeof *e->privacy);
  e->finetune = malloc(c * sizeof *e->finetune);
  e->restricted = malloc(c);
  e->pool = malloc(c);
  e->order = malloc(c * sizeof *e->order);
  if (!e->d0 || !e->hard || !e->value || !e->privacy || !e->finetune || !e->restricted ||
      !e->pool || !e->order) {
    moat_enterprises_free(e);
    return NULL;
  }
  return e;
}

void moat_enterprises_free(moat_enterprises_t *e) {
  if (!e) return;
  free(e->d0);
  free(e->hard);
  free(e->value);
  free(e->privacy);
  free(e->finetune);
  free(e->restricted);
  free(e->pool);
  free(e->order);
  free(e);
}

/* Rank enterprises by privacy, descending, ties by lower index (a strict total order, so the
 * result is unique). Shell sort: allocation-free, O(N^1.3), once per path. */
static void rank_by_privacy(moat_enterprises_t *e) {
  for (size_t i = 0; i < e->n; i++) e->order[i] = i;
  static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
  for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
    size_t gap = gaps[g];
    for (size_t i = gap; i < e->n; i++) {
      size_t x = e->order[i], k = i;
      while (k >= gap) {
        size_t y = e->order[k - gap];
        int before = e->privacy[x] > e->privacy[y] || (e->privacy[x] == e->privacy[y] && x < y);
        if (!before) break;
        e->order[k] = y;
        k -= gap;
      }
      e->order[k] = x;
    }
  }
}

/* Attribute k of enterprise i from its uniform u, by inversion (MODEL.md §3), k in the draw
 * order: 0 hard share, 1 value of hard work, 2 value of routine work, 3 privacy, 4 fine-tuning
 * gain, 5 restriction. */
static void invert_attribute(const moat_scenario_t *sc, int k, double u, size_t i,
                             moat_enterprises_t *e) {
  switch (k) {
  case 0:
    e->hard[i] = moat_beta_mean_quantile(u, sc->enterprises.hard_share_mean,
                                         sc->enterprises.hard_share_concentration);
    break;
  case 1:
    e->value[2 * i + MOAT_SEG_HARD] =
        sc->enterprises.value_hard_median * exp(sc->enterprises.value_sigma * moat_normal_quantile(u));
    break;
  case 2:
    e->value[2 * i + MOAT_SEG_ROUTINE] =
        sc->enterprises.value_routine_median * exp(sc->enterprises.value_sigma * moat_normal_quantile(u));
    break;
  case 3:
    e->privacy[i] = moat_beta_mean_quantile(u, sc->enterprises.privacy_mean,
                                            sc->enterprises.privacy_concentration);
    break;
  case 4: e->finetune[i] = sc->enterprises.finetune_gain_points * moat_beta_quantile(u, 1.0, 4.0); break;
  default: e->restricted[i] = u < sc->governance.restricted_share; break;
  }
}

enum { N_ATTRIBUTES = 6 }; /* attributes besides the volume */

/* "weighted" and "size_biased": seven uniforms per enterprise, in enterprise order; the first
 * is the volume's (unused by "size_biased", which gives each enterprise 1/N of the volume). */
static void draw_independent(const moat_scenario_t *sc, gsl_rng *r, moat_enterprises_t *e) {
  int weighted = sc->enterprises.sampling == MOAT_SAMPLING_WEIGHTED;
  for (size_t i = 0; i < e->n; i++) {
    double u[7];
    for (int k = 0; k < 7; k++) u[k] = moat_rng_uniform_pos(r);
    e->d0[i] = weighted ? exp(sc->enterprises.volume_sigma * moat_normal_quantile(u[0])) : 1.0;
    for (int k = 0; k < N_ATTRIBUTES; k++) invert_attribute(sc, k, u[k + 1], i, e);
  }
}

/* "stratified": for each attribute k in the order of invert_attribute, a uniformly random
 * permutation sigma_k of 0..N-1 (Fisher–Yates, N - 1 uniforms: position m swaps with
 * floor(U (m + 1))), then N uniforms U_ik; enterprise i's uniform is (sigma_k(i) + U_ik) / N,
 * one in each stratum [j/N, (j+1)/N). Each is uniform on (0, 1) and, sigma_k being independent
 * across k, one enterprise's attributes are independent: the design is a Latin hypercube, an
 * unbiased sample of the market whose N values of each attribute are spread evenly over its
 * distribution. Uses 6 (2N - 1) uniforms; e->order is the permutation's scratch. */
static void draw_stratified(const moat_scenario_t *sc, gsl_rng *r, moat_enterprises_t *e) {
  size_t n = e->n;
  for (int k = 0; k < N_ATTRIBUTES; k++) {
    size_t *perm = e->order;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t m = n - 1; m > 0; m--) {
      size_t j = (size_t)(gsl_rng_uniform(r) * (double)(m + 1));
      if (j > m) j = m;
      size_t t = perm[m];
      perm[m] = perm[j];
      perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
      double u = ((double)perm[i] + moat_rng_uniform_pos(r)) / (double)n;
      invert_attribute(sc, k, u < 1.0 ? u : 0x1.fffffffffffffp-1, i, e); /* (N-1+U)/N may round to 1 */
    }
  }
  for (size_t i = 0; i < n; i++) e->d0[i] = 1.0;
}

void moat_enterprises_draw(const moat_scenario_t *sc, gsl_rng *r, moat_enterprises_t *e) {
  e->n = (size_t)sc->enterprises.count;
  if (sc->enterprises.sampling == MOAT_SAMPLING_STRATIFIED)
    draw_stratified(sc, r, e);
  else
    draw_independent(sc, r, e);
  double total = 0.0;
  for (size_t i = 0; i < e->n; i++) total += e->d0[i];
  double target = sc->market.demand_mtok_per_month * 12.0 / (double)sc->steps_per_year;
  for (size_t i = 0; i < e->n; i++) e->d0[i] *= target / total;

  rank_by_privacy(e);
  e->pool_size = (size_t)lround(sc->local_inference.max_share * (double)e->n);
  if (e->pool_size > e->n) e->pool_size = e->n;
  e->pool_d0 = 0.0;
  for (size_t i = 0; i < e->n; i++) e->pool[i] = 0;
  for (size_t k = 0; k < e->pool_size; k++) {
    e->pool[e->order[k]] = 1;
    e->pool_d0 += e->d0[e->order[k]];
  }
}
