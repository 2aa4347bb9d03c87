/* runner.h — running the paths of one scenario in parallel (OpenMP), into a path-indexed array. */
#ifndef MOATSIM_RUNNER_H
#define MOATSIM_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "moatsim/model.h"
#include "moatsim/scenario.h"

/* Called after each path while paths run, by the thread that finished it, one thread at a time:
 * `done` paths of the scenario have finished (counts may arrive out of order). Keep it cheap:
 * it runs inside the parallel region. */
typedef void (*moat_progress_fn)(void *ctx, size_t done);

/* The threads and their workspaces (one per thread), reused across scenarios. */
typedef struct moat_runner moat_runner_t;

/* threads <= 0: the OpenMP default (OMP_NUM_THREADS or the cores). NULL when out of memory. */
moat_runner_t *moat_runner_alloc(int threads);
void moat_runner_free(moat_runner_t *r);
int moat_runner_threads(const moat_runner_t *r);

/* poll(ctx) is called by OpenMP thread 0 (the thread that called moat_runner_run_range) after
 * each path it finishes, outside any critical section, until set again (NULL: never). Under
 * MPI this is where a rank receives messages while it computes. */
void moat_runner_set_poll(moat_runner_t *r, void (*poll)(void *ctx), void *ctx);

/*
 * Run the sc->paths paths of scenario `scenario_index`, path p writing its lay.per_path doubles
 * (lay = moat_scenario_layout(sc)) at out + p * lay.per_path. out is caller-owned. stats, if not
 * NULL, receives sc->paths entries. Paths are shared out dynamically; each is a pure function of
 * (sc, scenario_index, p), so out is bitwise the same for any thread count. progress may be NULL.
 * Returns 0, MOAT_ENOMEM (workspaces), or the first failing path's status with its message
 * (the path index is named).
 */
int moat_runner_run(moat_runner_t *r, const moat_scenario_t *sc, uint64_t scenario_index,
                    double *out, moat_path_stats_t *stats, moat_progress_fn progress, void *ctx,
                    char *err, size_t errlen);

/*
 * moat_runner_run for paths first .. first + count - 1 of the scenario only (path p still writes
 * at out + p * lay.per_path; progress counts the paths of this range). *finished receives the
 * number of paths from `first` on that finished in a row: all of them on success, fewer after
 * SIGINT / SIGTERM (MOAT_EINTR: the paths still to start were skipped) or a failing path.
 */
int moat_runner_run_range(moat_runner_t *r, const moat_scenario_t *sc, uint64_t scenario_index,
                          size_t first, size_t count, double *out, moat_path_stats_t *stats,
                          moat_progress_fn progress, void *ctx, size_t *finished, char *err,
                          size_t errlen);

#endif
