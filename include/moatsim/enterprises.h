/* enterprises.h — the demand side: enterprise attributes drawn once per path (MODEL.md §3). */
#ifndef MOATSIM_ENTERPRISES_H
#define MOATSIM_ENTERPRISES_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#include "moatsim/scenario.h"

/* Segments of an enterprise's volume; row r = 2 i + s of the choice matrices. */
enum moat_segment { MOAT_SEG_HARD = 0, MOAT_SEG_ROUTINE = 1, MOAT_N_SEG = 2 };

/* Attributes of N enterprises, structure of arrays, caller-owned via _alloc/_free. */
typedef struct moat_enterprises {
  size_t n;                  /* enterprises drawn */
  size_t capacity;           /* enterprises the arrays hold */
  double *d0;                /* D_i0, baseline volume, Mtok/step */
  double *hard;              /* h_i, share of volume in the hard segment, fraction */
  double *value;             /* [n][2]: v_is, value of the work at frontier quality, $/Mtok */
  double *privacy;           /* pi_i, privacy sensitivity in [0, 1] */
  double *finetune;          /* phi_i, fine-tuning gain on hosted open weights, points */
  unsigned char *restricted; /* r_i: 1 if barred from labs of restricted origins */
  unsigned char *pool;       /* 1 if in the local-inference market potential */
  size_t *order;             /* scratch: enterprises ranked by privacy */
  size_t pool_size;          /* enterprises in the pool */
  double pool_d0;            /* sum of D_i0 over the pool, Mtok/step */
} moat_enterprises_t;

/* Allocate arrays for up to `capacity` enterprises. NULL when out of memory. */
moat_enterprises_t *moat_enterprises_alloc(size_t capacity);
void moat_enterprises_free(moat_enterprises_t *e);

/*
 * Draw sc->enterprises.count enterprises (<= e->capacity) from r by inversion (MODEL.md §3;
 * docs/model.md, enterprise sampling), by sc->enterprises.sampling:
 * - "weighted": seven uniforms U_1..U_7 in (0, 1) per enterprise i = 0 .. N-1, in this order:
 *   ln D_i0 = volume_sigma Phi^-1(U_1); h_i = Beta quantile (hard share mean, concentration);
 *   v_hard, v_routine = median exp(value_sigma Phi^-1(U)); pi_i = Beta quantile (privacy);
 *   phi_i = finetune_gain_points x Beta(1, 4) quantile; r_i = U_7 < restricted_share.
 *   Enterprise i's draws do not depend on N.
 * - "size_biased": the same uniforms and attributes, D_i0 equal (U_1 drawn and unused).
 * - "stratified": D_i0 equal; per attribute (h, v_hard, v_routine, pi, phi, r) a random
 *   permutation sigma of 0..N-1 (N - 1 uniforms) and N uniforms U_i: enterprise i inverts
 *   (sigma(i) + U_i) / N, a Latin hypercube; 6 (2N - 1) uniforms.
 * Either way a parameter change moves each attribute continuously. D_i0 is then rescaled so
 * that sum D_i0 = demand_mtok_per_month * 12 dt, and the pool is the round(max_share * N)
 * enterprises with the highest pi_i (ties: lower index first).
 */
void moat_enterprises_draw(const moat_scenario_t *sc, gsl_rng *r, moat_enterprises_t *e);

#endif
