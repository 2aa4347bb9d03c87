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

/* The paths of one scenario being computed: which are done (read from the checkpoint, or run)
 * and their results, path-indexed. Owned by the caller's context; reused across scenarios. */
typedef struct moat_path_set {
  size_t n_paths, per_path; /* the scenario's paths and doubles per path */
  uint8_t *have;            /* [n_paths]: 1 once path p's results are in data */
  double *data;             /* [n_paths * per_path]: path p at data + p * per_path */
  size_t cap_have, cap_data;
} moat_path_set_t;

/* Size ps for a scenario (have all 0). 0 or MOAT_ENOMEM. */
int moat_path_set_reserve(moat_path_set_t *ps, size_t n_paths, size_t per_path);
void moat_path_set_clear(moat_path_set_t *ps);

/* A block of finished paths: paths first .. first + n - 1 of scenario k, n rows of per_path. */
typedef struct moat_block {
  size_t k, first, n, per_path;
  const double *data;
} moat_block_t;

/* Where compute hands each finished block (to the writer, or to rank 0 under MPI). */
typedef int (*moat_block_fn)(void *emit_ctx, const moat_block_t *b, char *err, size_t errlen);

/*
 * What the dispatcher calls, all with ctx. Writing rank (rank 0): load fills *set with scenario
 * k's paths already on disk (NULL: none are); store_block commits a block; store writes a
 * finished scenario. Any rank: compute runs scenario k's paths that set->have lacks, in blocks,
 * passing each to emit (also the finished part of a block cut short by a signal), then fills
 * res (res->s initialized by it on success; paths point into set, valid until the next compute).
 */
typedef struct moat_dispatch_ops {
  int (*load)(void *ctx, size_t k, char *err, size_t errlen);
  int (*compute)(void *ctx, size_t k, moat_block_fn emit, void *emit_ctx, moat_scenario_result_t *res,
                 char *err, size_t errlen);
  int (*store_block)(void *ctx, const moat_block_t *b, char *err, size_t errlen);
  int (*store)(void *ctx, const moat_scenario_result_t *res, char *err, size_t errlen);
  void *ctx;
  moat_path_set_t *set; /* ctx's path set (load fills it on rank 0; workers receive it) */
  int send_paths;       /* workers also send the path results (the file keeps /paths) */
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
 * One rank: in index order, load, compute (storing each block), store, looking for SIGINT /
 * SIGTERM between scenarios (the runner looks between paths).
 * Several ranks: rank 0 hands indices out in order as workers ask, with the paths already on
 * disk, stores blocks and results as they arrive (each has its own file, so the order does not
 * matter), looking for signals while it waits (it never blocks in a receive); workers only
 * compute. Returns 0; MOAT_EINTR after a signal (what arrived
 * before it is stored); or the first failure, its message naming the rank, scenario and path.
 * The status is meaningful on rank 0 (workers return 0 unless their own MPI calls fail).
 * Environment MOATSIM_TEST_FAIL=k makes scenario k fail as its path 0 would (for tests of
 * the failure path only).
 */
int moat_dispatch_run(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                      char *err, size_t errlen);

#endif
