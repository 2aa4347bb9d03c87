/* scenario_size.c — sizes derived from a scenario: steps and offers (MODEL.md §1, §2). */
#include <math.h>

#include "moatsim/scenario.h"

int moat_scenario_steps(const moat_scenario_t *sc) {
  return (int)lround(sc->horizon_years * (double)sc->steps_per_year);
}

int moat_scenario_offers(const moat_scenario_t *sc) {
  int n = 0;
  for (int l = 0; l < sc->n_labs; l++) n += sc->labs[l].kind == MOAT_LAB_CLOSED ? 2 : 2 + sc->n_clouds;
  return n;
}

int moat_scenario_columns(const moat_scenario_t *sc) {
  return moat_scenario_offers(sc) + (sc->enterprises.outside_option ? 1 : 0);
}
