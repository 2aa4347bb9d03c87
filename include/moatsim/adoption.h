/* adoption.h — routing reviews and Bass diffusion of local inference (MODEL.md §5). */
#ifndef MOATSIM_ADOPTION_H
#define MOATSIM_ADOPTION_H

#include <gsl/gsl_rng.h>

#include "moatsim/enterprises.h"
#include "moatsim/scenario.h"

/* Reviews of step n >= 1: one uniform per enterprise in order; review[i] = 1 with probability
 * 1 - exp(-review_per_year dt). */
void moat_reviews_draw(const moat_scenario_t *sc, const moat_enterprises_t *e, gsl_rng *r,
                       unsigned char *review);

/*
 * Local adoption of step n >= 1: one uniform per enterprise in order (drawn for every
 * enterprise, so the stream does not depend on who adopted). A pool non-adopter adopts with
 * probability 1 - exp(-(p_B + q_B A) dt), A = adopted_d0 / pool_d0 at the start of the step.
 * An adopter also reviews (review[i] = 1). Updates adopted and *adopted_d0 (sum of D_i0 over
 * adopters, Mtok/step); returns the number of new adopters.
 */
int moat_adoption_step(const moat_scenario_t *sc, const moat_enterprises_t *e, gsl_rng *r,
                       unsigned char *adopted, unsigned char *review, double *adopted_d0);

#endif
