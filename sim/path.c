/* path.c — one Monte Carlo path of the market model (MODEL.md §2–§9). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "moatsim/model.h"
#include "moatsim/rng.h"

struct moat_workspace {
  gsl_rng *rng[MOAT_RNG_N_STREAMS];
};

moat_workspace_t *moat_workspace_alloc(void) {
  moat_workspace_t *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  for (int k = 0; k < MOAT_RNG_N_STREAMS; k++) {
    ws->rng[k] = moat_rng_alloc();
    if (!ws->rng[k]) {
      moat_workspace_free(ws);
      return NULL;
    }
  }
  return ws;
}

void moat_workspace_free(moat_workspace_t *ws) {
  if (!ws) return;
  for (int k = 0; k < MOAT_RNG_N_STREAMS; k++)
    if (ws->rng[k]) gsl_rng_free(ws->rng[k]);
  free(ws);
}

int moat_workspace_reserve(moat_workspace_t *ws, const moat_scenario_t *sc, char *err, size_t errlen) {
  (void)ws;
  (void)sc;
  if (errlen) err[0] = '\0';
  return MOAT_OK;
}

void moat_scenario_layout(const moat_scenario_t *sc, moat_layout_t *lay) {
  moat_layout_init(lay, (size_t)moat_scenario_steps(sc), (size_t)sc->n_labs, (size_t)sc->n_clouds);
}

int moat_path_run(const moat_scenario_t *sc, uint64_t scenario_index, uint64_t path_index,
                  moat_workspace_t *ws, double *out, moat_path_stats_t *stats) {
  /* Placeholder until the model lands: deterministic draws from the path's generator. */
  moat_layout_t lay;
  moat_scenario_layout(sc, &lay);
  moat_rng_seed(ws->rng[MOAT_RNG_SHOCKS], sc->seed, scenario_index, path_index, MOAT_RNG_SHOCKS);
  for (size_t i = 0; i < lay.per_path; i++) out[i] = gsl_rng_uniform(ws->rng[MOAT_RNG_SHOCKS]);
  if (stats) *stats = (moat_path_stats_t){0, 0, 0};
  return MOAT_OK;
}
