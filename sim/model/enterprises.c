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

void moat_enterprises_draw(const moat_scenario_t *sc, gsl_rng *r, moat_enterprises_t *e) {
  e->n = (size_t)sc->enterprises.count;
  double total = 0.0;
  for (size_t i = 0; i < e->n; i++) {
    /* One uniform per attribute, inverted (MODEL.md §3), in this fixed order. */
    double u[7];
    for (int k = 0; k < 7; k++) u[k] = moat_rng_uniform_pos(r);
    e->d0[i] = exp(sc->enterprises.volume_sigma * moat_normal_quantile(u[0]));
    e->hard[i] = moat_beta_mean_quantile(u[1], sc->enterprises.hard_share_mean,
                                         sc->enterprises.hard_share_concentration);
    e->value[2 * i + MOAT_SEG_HARD] =
        sc->enterprises.value_hard_median * exp(sc->enterprises.value_sigma * moat_normal_quantile(u[2]));
    e->value[2 * i + MOAT_SEG_ROUTINE] =
        sc->enterprises.value_routine_median * exp(sc->enterprises.value_sigma * moat_normal_quantile(u[3]));
    e->privacy[i] = moat_beta_mean_quantile(u[4], sc->enterprises.privacy_mean,
                                            sc->enterprises.privacy_concentration);
    e->finetune[i] = sc->enterprises.finetune_gain_points * moat_beta_quantile(u[5], 1.0, 4.0);
    e->restricted[i] = u[6] < sc->governance.restricted_share;
    total += e->d0[i];
  }
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
