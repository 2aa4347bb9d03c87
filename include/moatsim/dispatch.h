/* dispatch.h — handing the work of a run out in units of (scenario, block of paths): in order
 * within one process, or dynamically to MPI ranks (build with `make MPI=1`). Rank 0 is the only
 * writer; it computes units too, and between its own paths it receives the blocks the other
 * ranks finish and hands them the next unit. A scenario's summaries are computed on rank 0 from
 * its path-indexed array once every path is in, so they are the same bits for any split. */
#ifndef MOATSIM_DISPATCH_H
#define MOATSIM_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "moatsim/metrics.h"
#include "moatsim/summary.h"

/* The paths of one scenario: which are done (read from the checkpoint, or run) and their
 * results, path-indexed. */
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

/* Called between paths by the thread that started MPI (the runner's OpenMP thread 0), outside
 * any critical section: where a rank looks at its messages while it computes. */
typedef void (*moat_poll_fn)(void *poll_ctx);

/*
 * What the dispatcher calls, all with ctx.
 * Any rank: open describes scenario k (its layout and paths); run computes paths first ..
 * first + count - 1 of scenario k into out (path p at out + p * lay.per_path), calling poll (may
 * be NULL) between paths, and sets *finished to the paths from `first` on finished in a row
 * (fewer than count after SIGINT / SIGTERM: MOAT_EINTR, or a failing path).
 * Writing rank (rank 0): load fills ps (sized for scenario k, have all 0) with its paths already
 * on disk (NULL: none are); store_block commits a block; store is called once every path of
 * [lo, hi) of scenario k is in ps (lo = 0, hi = n_paths: the whole scenario, to summarize and
 * write), `seconds` after the scenario was opened.
 */
typedef struct moat_dispatch_ops {
  int (*open)(void *ctx, size_t k, moat_layout_t *lay, size_t *n_paths, char *err, size_t errlen);
  int (*load)(void *ctx, size_t k, moat_path_set_t *ps, char *err, size_t errlen);
  int (*run)(void *ctx, size_t k, size_t first, size_t count, double *out, moat_poll_fn poll,
             void *poll_ctx, size_t *finished, char *err, size_t errlen);
  int (*store_block)(void *ctx, const moat_block_t *b, char *err, size_t errlen);
  int (*store)(void *ctx, size_t k, const moat_layout_t *lay, const moat_path_set_t *ps, size_t lo,
               size_t hi, double seconds, char *err, size_t errlen);
  void *ctx;
  size_t block_paths; /* the most paths in a unit of work, one checkpoint block (>= 1) */
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

/* Paths in the next unit of work when `paths` paths of the scenario are left to cut over `ranks`
 * ranks: block_paths, but under MPI (ranks > 1) at most an eighth of an equal share of what is
 * left, so that every rank gets several units of a single scenario and they shrink towards its
 * end (guided scheduling: no rank waits long for the last one); at least 1. */
size_t moat_dispatch_unit_paths(size_t block_paths, size_t paths, int ranks);

/* Shard `index` of `count` split by paths (a sweep with fewer scenarios than shards): the paths
 * of scenarios 0 .. n_scen - 1 (paths[k] each) laid end to end, global path g = paths of the
 * scenarios before k + p, are cut into `count` contiguous parts of equal size (part I: g from
 * floor(T I / count) to floor(T (I + 1) / count) - 1, T the total). range[k] receives the part's
 * paths of scenario k, [lo, hi) ([x, x): none). */
void moat_dispatch_shard_paths(size_t n_scen, const size_t *paths, int index, int count, size_t (*range)[2]);

/*
 * Run and store every scenario k < n_scen with pending[k] != 0 (NULL: all), its paths
 * range[k][0] .. range[k][1] - 1 (clipped to its paths; NULL: all of them). pending and range are
 * read on rank 0 only. Units are cut from the paths not yet done (after load) and handed out in
 * scenario and path order: one rank runs them in order, loading and storing a scenario at a time;
 * with several ranks every worker gets its first unit before rank 0 runs one, then they take
 * them as they finish (rank 0 answering between its own units and its own paths).
 * SIGINT / SIGTERM on any rank stop every rank at its next path boundary: rank 0 tells the
 * others (a message each polls for between paths), stores the finished blocks and returns
 * MOAT_EINTR. Returns 0; MOAT_EINTR; or the first failure, its message naming the rank (under
 * MPI), scenario and path. The status is meaningful on rank 0 (workers return 0 unless their
 * own MPI calls fail). Environment MOATSIM_TEST_FAIL=k makes the unit holding path 0 of
 * scenario k fail as that path would (for tests of the failure path only).
 * Test hook MOATSIM_TEST_WORKER_WAIT_STOP=1 (MPI): a worker, after the first path of its first
 * unit, waits (at most a minute) for rank 0's stop message: a deterministic test that the
 * message stops, after exactly one path, a worker that received no signal itself.
 */
int moat_dispatch_run(const moat_dispatch_ops_t *ops, size_t n_scen, const uint8_t *pending,
                      const size_t (*range)[2], char *err, size_t errlen);

#endif
