/* bench_path.c — CPU time and zeta iterations of baseline paths (MODEL.md §11 sketch values:
 * 1000 enterprises, 21 offers, 120 steps); prints `name value unit`. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fixtures.h"
#include "moatsim/model.h"

enum { PATHS = 5 };

/* CPU time of this thread: per core, little disturbed by other jobs on the machine. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void) {
  moat_scenario_t sc;
  moat_fixture_baseline(&sc);
  char err[MOAT_ERR_MAX];
  moat_workspace_t *ws = moat_workspace_alloc();
  if (!ws || moat_workspace_reserve(ws, &sc, err, sizeof err) != 0) {
    fprintf(stderr, "bench_path: %s\n", ws ? err : "out of memory");
    return 1;
  }
  moat_layout_t lay;
  moat_scenario_layout(&sc, &lay);
  double *out = malloc(lay.per_path * sizeof(double));
  if (!out) return 1;
  long iters = 0;
  int max_iter = 0, nonconv = 0;
  double t0 = now();
  for (uint64_t p = 0; p < PATHS; p++) {
    moat_path_stats_t st;
    moat_path_run(&sc, 0, p, ws, out, &st);
    iters += st.pricing_iterations;
    if (st.max_iterations > max_iter) max_iter = st.max_iterations;
    nonconv += st.nonconverged_steps;
  }
  double secs = (now() - t0) / PATHS;
  double steps = (double)PATHS * (double)lay.n_steps;
  printf("path_cpu_time %.4f s\n", secs);
  printf("path_zeta_iterations_per_step %.1f 1\n", (double)iters / steps);
  printf("path_zeta_iterations_max_step %d 1\n", max_iter);
  printf("path_nonconverged_steps %d 1\n", nonconv);
  printf("path_time_per_zeta_iteration %.1f us\n", 1e6 * secs * PATHS / (double)iters);
  free(out);
  moat_workspace_free(ws);
  return 0;
}
