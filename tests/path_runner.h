/* path_runner.h — one scenario's path workspace, layout and output block for the path tests. */
#ifndef MOATSIM_TESTS_PATH_RUNNER_H
#define MOATSIM_TESTS_PATH_RUNNER_H

#include <stdint.h>
#include <stdlib.h>

#include "moatsim/model.h"

typedef struct {
  moat_workspace_t *ws;
  moat_layout_t lay;
  double *out;
} runner_t;

static inline void runner_init(runner_t *r, const moat_scenario_t *sc) {
  char err[MOAT_ERR_MAX];
  r->ws = moat_workspace_alloc();
  assert_non_null(r->ws);
  assert_int_equal(moat_workspace_reserve(r->ws, sc, err, sizeof err), 0);
  moat_scenario_layout(sc, &r->lay);
  r->out = malloc(r->lay.per_path * sizeof(double));
  assert_non_null(r->out);
}

static inline void runner_clear(runner_t *r) {
  moat_workspace_free(r->ws);
  free(r->out);
}

/* Path `path` of scenario index `scen` into r->out; the iteration statistics are consistent. */
static inline void run(runner_t *r, const moat_scenario_t *sc, uint64_t scen, uint64_t path) {
  moat_path_stats_t st;
  assert_int_equal(moat_path_run(sc, scen, path, r->ws, r->out, &st), 0);
  assert_true(st.pricing_iterations >= st.max_iterations);
}

#endif
