/* adoption.c — routing reviews and Bass diffusion of local inference (MODEL.md §5). */
#include "moatsim/adoption.h"

#include <math.h>

void moat_reviews_draw(const moat_scenario_t *sc, const moat_enterprises_t *e, gsl_rng *r,
                       unsigned char *review) {
  double prob = -expm1(-sc->enterprises.review_per_year / (double)sc->steps_per_year);
  for (size_t i = 0; i < e->n; i++) review[i] = gsl_rng_uniform(r) < prob;
}

int moat_adoption_step(const moat_scenario_t *sc, const moat_enterprises_t *e, gsl_rng *r,
                       unsigned char *adopted, unsigned char *review, double *adopted_d0) {
  double dt = 1.0 / (double)sc->steps_per_year;
  double a = e->pool_d0 > 0.0 ? *adopted_d0 / e->pool_d0 : 0.0;
  double prob = -expm1(-(sc->local_inference.innovation + sc->local_inference.imitation * a) * dt);
  int added = 0;
  for (size_t i = 0; i < e->n; i++) {
    double u = gsl_rng_uniform(r);
    if (!e->pool[i] || adopted[i] || !(u < prob)) continue;
    adopted[i] = 1;
    review[i] = 1;
    *adopted_d0 += e->d0[i];
    added++;
  }
  return added;
}
