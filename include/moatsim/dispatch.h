/* dispatch.h — handing the scenarios of a run out: in order within one process, or dynamically
 * to MPI ranks (build with `make MPI=1`): rank 0 coordinates and is the only writer, the other
 * ranks run one scenario at a time (its paths with OpenMP) and send its summaries back. */
#ifndef MOATSIM_DISPATCH_H
#define MOATSIM_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "moatsim/metrics.h"
#include "moatsim/summary.h"

/* One finished scenario on its way to the writer. */
typedef struct moat_scenario_result {
  size_t k;            /* scenario index in sweep order */
  moat_layout_t lay;   /* its per-path result layout */
  moat_summary_t s;    /* its summaries (owned: cleared by the dispatcher after store) */
  const double *paths; /* n_paths x lay.per_path path results, or NULL when not kept */
  size_t n_paths;      /* the scenario's paths */
  double seconds;      /* time its compute took, s */
} moat_scenario_result_t;

/* What the dispatcher calls. compute runs scenario k and fills res (res->s initialized by it on
 * success; paths point into ctx-owned memory valid until the next compute). store writes res. */
typedef struct moat_dispatch_ops {
  int (*compute)(void *ctx, size_t k, moat_scenario_result_t *res, char *err, size_t errlen);
  int (*store)(void *ctx, const moat_scenario_result_t *res, char *err, size_t errlen);
  void *ctx;
  int send_paths; /* workers also send the path results (the file keeps /paths) */
} moat_dispatch_ops_t;

/* Start MPI when built with it (MPI_THREAD_FUNNELED: only the main thread calls MPI); a no-op
 * otherwise. Call once before any other function here; 0 or MOAT_ERUNTIME. */
int moat_dispatch_init(void);
void moat_dispatch_finalize(void);
/* This process's rank and the number of ranks (0 and 1 without MPI). */
int moat_dispatch_rank(void);
int moat_dispatch_size(void);
/* Rank 0's value of v, on every rank (v itself without MPI or with one rank). */
int moat_dispatch_agree(int v);

/*
 * Run and store every scenario k < n_scen with pending[k] != 0 (pending is read on rank 0 only).
 * One rank: in index order, compute then store, looking for SIGINT / SIGTERM between scenarios.
 * Several ranks: rank 0 hands indices out in order as workers ask, stores results as they
 * arrive (in completion order: each scenario has its own slice, so the file is the same) and
 * only stores; workers only compute. Returns 0; MOAT_EINTR after a signal (what arrived
 * before it is stored); or the first failure, its message naming the rank, scenario and path.
 * The status is meaningful on rank 0 (workers return 0 unless their own MPI calls fail).
 * Environment MOATSIM_TEST_FAIL=k makes scenario k fail as its path 0 would (for tests of
 * the failure path only).
 */
int moat_dispatch_run(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                      char *err, size_t errlen);

#endif
