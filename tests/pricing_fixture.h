/* pricing_fixture.h — random markets for the pricing kernel's tests and benchmark (fixed seeds). */
#ifndef MOATSIM_TESTS_PRICING_FIXTURE_H
#define MOATSIM_TESTS_PRICING_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moatsim/pricing.h"

/* A market with its own storage; m points into it. */
typedef struct fixture_market {
  moat_market_t m;
  double *base, *alpha, *weight, *cost;
  int *seller;
  unsigned char *fixed;
} fixture_market_t;

/* splitmix64 (Steele, Lea & Flood 2014): small, and enough for test inputs. */
static inline uint64_t fixture_next(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Uniform on [0, 1). */
static inline double fixture_uniform(uint64_t *state) {
  return (double)(fixture_next(state) >> 11) * 0x1p-53;
}

static inline void fixture_market_free(fixture_market_t *fm) {
  free(fm->base);
  free(fm->alpha);
  free(fm->weight);
  free(fm->cost);
  free(fm->seller);
  free(fm->fixed);
}

/* Storage for rows x offers (row pitch stride, padding -INFINITY), everything zero otherwise.
 * Returns 0, or -1 when out of memory (then nothing is left allocated). */
static inline int fixture_market_alloc(fixture_market_t *fm, size_t rows, size_t offers,
                                       size_t stride, size_t sellers) {
  fm->base = malloc(rows * stride * sizeof *fm->base + 1);
  fm->alpha = calloc(rows + 1, sizeof *fm->alpha);
  fm->weight = calloc(rows + 1, sizeof *fm->weight);
  fm->cost = calloc(offers + 1, sizeof *fm->cost);
  fm->seller = calloc(offers + 1, sizeof *fm->seller);
  fm->fixed = calloc(offers + 1, sizeof *fm->fixed);
  if (!fm->base || !fm->alpha || !fm->weight || !fm->cost || !fm->seller || !fm->fixed) {
    fixture_market_free(fm);
    return -1;
  }
  for (size_t i = 0; i < rows * stride; i++) fm->base[i] = -INFINITY;
  moat_market_t m = {rows, offers, stride, fm->base, fm->alpha, fm->weight,
                     fm->cost, fm->seller, fm->fixed, sellers, NULL, NULL, 0};
  fm->m = m;
  return 0;
}

/*
 * A random market in the model's ranges: base u/tau in [2, 6], alpha = 1/tau in [0.2, 2]
 * Mtok/$ (heterogeneous), weights in [0.1, 10] Mtok/step with a few zero rows, costs in
 * [0.5, 5.5] $/Mtok. Offer 0 is a local offer priced at cost (seller -1) that every row can use,
 * so that every seller faces competition and an equilibrium exists (the model has no outside
 * option). Sellers own random subsets of the other offers (multi-product sellers when
 * offers > sellers); other entries are infeasible with probability infeasible_frac; offer
 * `fixed_offer` (if < offers) has its price held.
 */
static inline void fixture_market_random(fixture_market_t *fm, uint64_t seed,
                                         double infeasible_frac, size_t fixed_offer) {
  moat_market_t *m = &fm->m;
  uint64_t st = seed;
  for (size_t j = 0; j < m->n_offers; j++) {
    fm->cost[j] = 0.5 + 5.0 * fixture_uniform(&st);
    fm->seller[j] = j == 0 ? -1 : (int)(fixture_next(&st) % m->n_sellers);
    fm->fixed[j] = j == fixed_offer;
  }
  for (size_t r = 0; r < m->n_rows; r++) {
    fm->alpha[r] = 0.2 + 1.8 * fixture_uniform(&st);
    fm->weight[r] = fixture_uniform(&st) < 0.05 ? 0.0 : 0.1 + 9.9 * fixture_uniform(&st);
    for (size_t j = 0; j < m->n_offers; j++) {
      int feasible = j == 0 || fixture_uniform(&st) >= infeasible_frac;
      fm->base[r * m->stride + j] = feasible ? 2.0 + 4.0 * fixture_uniform(&st) : -INFINITY;
    }
  }
}

/* A homogeneous segment: `rows` identical rows over nj offers with the given sellers (weights
 * differ; they scale every sum alike), base in [1, 4], costs in [0.5, 3.5]. 0, or the status of
 * fixture_market_alloc. */
static inline int fixture_market_homogeneous(fixture_market_t *fm, size_t rows, const int *sellers,
                                             size_t nj, double alpha, uint64_t seed) {
  size_t ns = 0;
  for (size_t j = 0; j < nj; j++) ns = (size_t)sellers[j] + 1 > ns ? (size_t)sellers[j] + 1 : ns;
  int st = fixture_market_alloc(fm, rows, nj, nj + 3, ns);
  if (st != 0) return st;
  uint64_t state = seed;
  for (size_t j = 0; j < nj; j++) {
    fm->seller[j] = sellers[j];
    fm->cost[j] = 0.5 + 3.0 * fixture_uniform(&state);
    fm->base[j] = 1.0 + 3.0 * fixture_uniform(&state);
  }
  for (size_t r = 0; r < rows; r++) {
    if (r > 0) memcpy(fm->base + r * fm->m.stride, fm->base, nj * sizeof *fm->base);
    fm->alpha[r] = alpha;
    fm->weight[r] = 1.0 + fixture_uniform(&state);
  }
  return 0;
}

/* Slow reference shares of row r: libm exp, row maximum subtracted; s has n_offers entries. */
static inline void fixture_reference_shares(const moat_market_t *m, const double *price, size_t r,
                                            double *s) {
  double mx = -INFINITY, sum = 0.0;
  for (size_t j = 0; j < m->n_offers; j++) {
    double v = m->base[r * m->stride + j] - m->alpha[r] * price[j];
    if (v > mx) mx = v;
  }
  for (size_t j = 0; j < m->n_offers; j++) {
    double v = m->base[r * m->stride + j] - m->alpha[r] * price[j];
    s[j] = mx == -INFINITY ? 0.0 : exp(v - mx);
    sum += s[j];
  }
  for (size_t j = 0; j < m->n_offers; j++) s[j] = sum > 0 ? s[j] / sum : 0.0;
}

#endif
