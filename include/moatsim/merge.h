/* merge.h — results files of one sweep checked against each other: shard files merged into one
 * (`moatsim merge`), an interrupted run's FILE.partial checked before `moatsim run --resume`. */
#ifndef MOATSIM_MERGE_H
#define MOATSIM_MERGE_H

#include <stddef.h>
#include <stdint.h>

/* What makes results files parts of the same run. The build (moatsim version and git revision)
 * is the running binary's. */
typedef struct moat_run_identity {
  const char *scenario_text; /* the scenario file's text followed by the --set lines */
  uint64_t seed;
  size_t n_scenarios;
  int shard_index, shard_count; /* shard_count 1: not sharded */
  int keep_paths;
} moat_run_identity_t;

/*
 * Check that `partial` (an interrupted run's FILE.partial) was written by this build for the run
 * `expect` describes. 0; MOAT_EINVAL with a message saying what differs (scenario text, seed,
 * version, shard, kept paths) or that the file cannot be opened (a run killed while writing can
 * leave it unreadable: start again).
 */
int moat_merge_check_partial(const char *partial, const moat_run_identity_t *expect, char *err,
                             size_t errlen);

#endif
