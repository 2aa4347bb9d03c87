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
  const char *params_digest; /* moat_writer_params_digest of the run's scenarios */
} moat_run_identity_t;

/*
 * Check that `partial` (an interrupted run's FILE.partial) was written by this build for the run
 * `expect` describes. 0; MOAT_EINVAL with a message saying what differs (scenario text, seed,
 * version, shard, kept paths, effective parameters) or that the file cannot be opened (a run killed while writing can
 * leave it unreadable: start again).
 */
int moat_merge_check_partial(const char *partial, const moat_run_identity_t *expect, char *err,
                             size_t errlen);

/*
 * Assemble a run's results file `out` from its skeleton (moat_writer_write_skeleton) and the
 * one-scenario files files[i] holding scenario k[i] (moat_writer_write_scenario), with the same
 * code `moatsim merge` copies shards with; wall_time_s is recorded. out is overwritten; on
 * failure it is removed. The caller commits it (moat_durable_commit). 0 or MOAT_EIO.
 */
int moat_merge_assemble(const char *skeleton, size_t n, const size_t *k, const char *const *files,
                        const char *out, double wall_time_s, char *err, size_t errlen);

/* `moatsim merge -o OUT PART...`: argv[0] is the command name; returns the exit code. */
int moat_cmd_merge(int argc, char **argv);

#endif
