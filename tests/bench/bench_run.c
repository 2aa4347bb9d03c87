/* bench_run.c — CPU time per path of a scenario on one thread, for the scaling fits of `make bench`;
 * prints `name value unit`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moatsim/config.h"
#include "moatsim/model.h"

/*
 * usage: bench_run SCENARIO.cfg PATHS MODE [KEY=VALUE ...]
 *   MODE "paths": paths 0 .. PATHS-1 once each; "same": path 0, PATHS times; "best": paths
 *   0 .. PATHS-1, each run BEST_OF times and timed by its fastest run (other jobs on the machine
 *   only ever make a run slower, so the minimum is the figure least disturbed by them).
 *   KEY=VALUE as `moatsim run --set`; also clouds=K: K serving clouds, copies of the scenario's
 *   clouds in turn (renamed), to vary the number of offers (2 per closed lab, 2 + K per open lab).
 */

enum { BEST_OF = 3 };

/* CPU time of this thread: per core, little disturbed by other jobs on the machine. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int set_clouds(moat_scenario_t *sc, int k) {
  if (k < 1 || k > MOAT_MAX_CLOUDS || sc->n_clouds < 1) return -1;
  for (int c = sc->n_clouds; c < k; c++) {
    sc->clouds[c] = sc->clouds[c % sc->n_clouds];
    snprintf(sc->clouds[c].name, sizeof sc->clouds[c].name, "cloud-%d", c);
  }
  sc->n_clouds = k;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[3], "paths") != 0 && strcmp(argv[3], "same") != 0 &&
                    strcmp(argv[3], "best") != 0)) {
    fprintf(stderr, "usage: bench_run SCENARIO.cfg PATHS paths|same|best [KEY=VALUE ...]\n");
    return 2;
  }
  int paths = atoi(argv[2]), same = strcmp(argv[3], "same") == 0, clouds = 0;
  int reps = strcmp(argv[3], "best") == 0 ? BEST_OF : 1;
  const char *sets[64];
  size_t n_sets = 0;
  for (int a = 4; a < argc && n_sets < 64; a++) {
    if (strncmp(argv[a], "clouds=", 7) == 0) clouds = atoi(argv[a] + 7);
    else sets[n_sets++] = argv[a];
  }
  char err[MOAT_ERR_MAX];
  moat_config_t cfg;
  if (moat_config_load(&cfg, argv[1], sets, n_sets, err, sizeof err) != 0) {
    fprintf(stderr, "bench_run: %s\n", err);
    return 2;
  }
  moat_scenario_t *sc = &cfg.base;
  if ((clouds && set_clouds(sc, clouds) != 0) || moat_scenario_validate(sc, err, sizeof err) != 0) {
    fprintf(stderr, "bench_run: clouds=%d: %s\n", clouds, clouds ? "outside [1, 8]" : err);
    return 2;
  }
  moat_layout_t lay;
  moat_scenario_layout(sc, &lay);
  moat_workspace_t *ws = moat_workspace_alloc();
  double *out = malloc(lay.per_path * sizeof *out);
  if (!ws || !out || moat_workspace_reserve(ws, sc, err, sizeof err) != 0) {
    fprintf(stderr, "bench_run: out of memory\n");
    return 1;
  }
  long iterations = 0;
  int nonconverged = 0, max_iterations = 0;
  double seconds = 0.0, busy[2] = {0.0, 0.0};
  for (int p = 0; p < paths; p++) {
    moat_path_stats_t st;
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
      double tp = now();
      if (moat_path_run(sc, 0, same ? 0u : (uint64_t)p, ws, out, &st) != 0) {
        fprintf(stderr, "bench_run: path %d failed\n", p);
        return 1;
      }
      tp = now() - tp;
      best = r == 0 || tp < best ? tp : best;
    }
    seconds += best;
    /* Dynamic scheduling on two threads, as the runner shares paths out: the next path goes
     * to the thread that is free first. */
    busy[busy[1] < busy[0]] += best;
    iterations += st.pricing_iterations;
    nonconverged += st.nonconverged_steps;
    max_iterations = st.max_iterations > max_iterations ? st.max_iterations : max_iterations;
  }
  double makespan = busy[0] > busy[1] ? busy[0] : busy[1];
  printf("run_enterprises %d 1\n", sc->enterprises.count);
  printf("run_offers %d 1\n", moat_scenario_offers(sc));
  printf("run_steps %d 1\n", moat_scenario_steps(sc));
  printf("run_paths %d 1\n", paths);
  printf("run_cpu_seconds %.6g s\n", seconds);
  printf("run_cpu_seconds_per_path %.6g s\n", seconds / paths);
  printf("run_paths_per_second %.6g 1/s\n", paths / seconds);
  printf("run_iterations_per_path %.6g 1\n", (double)iterations / paths);
  printf("run_nonconverged_steps_per_path %.6g 1\n", (double)nonconverged / paths);
  printf("run_max_iterations_per_step %d 1\n", max_iterations);
  /* the efficiency two threads could reach on these paths if nothing but their unequal lengths
   * held them back (no contention, no serial part) */
  printf("run_schedule_efficiency_2_threads %.4g 1\n", seconds / (2.0 * makespan));
  printf("run_seconds_per_share_evaluation %.6g s\n",
         seconds / ((double)iterations * 2.0 * sc->enterprises.count * moat_scenario_offers(sc)));
  free(out);
  moat_workspace_free(ws);
  moat_config_clear(&cfg);
  return 0;
}
