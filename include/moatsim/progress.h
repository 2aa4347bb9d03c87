/* progress.h — what `moatsim run` says on stderr while it runs, and its closing line: a redrawn
 * line on a terminal; in a batch log (stderr not a terminal) a heartbeat line at a fixed interval
 * and a line per finished scenario that says what this run did and what the file holds. */
#ifndef MOATSIM_PROGRESS_H
#define MOATSIM_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

/* Heartbeat interval in batch logs when MOATSIM_PROGRESS_INTERVAL is not set, seconds. */
#define MOAT_PROGRESS_INTERVAL_S 60.0

/* The state of one run's progress report. Plain data, owned by the caller; the counts are
 * scenarios unless named paths. */
typedef struct moat_progress {
  int tty;              /* stderr is a terminal: one redrawn line instead of log lines */
  int quiet;            /* --quiet, or not the writing rank: print nothing on stderr */
  int drawn;            /* a redrawn line is on the terminal (end it with a newline) */
  double interval_s;    /* heartbeat period in batch logs, seconds; 0 = after every path */
  int shard_index;      /* --shard I/N; 0 and 1 without --shard */
  int shard_count;
  size_t n_scen;        /* scenarios in the sweep */
  int by_paths;         /* a shard of a sweep with fewer scenarios than shards: split by paths */
  size_t n_file;        /* scenarios the file holds when complete: its shard's (by_paths: the
                           scenarios it holds paths of) */
  size_t n_run;         /* scenarios this run computes (n_file minus those done before) */
  size_t run_done;      /* of those, written so far */
  size_t k;             /* the scenario being computed (index in the sweep) */
  size_t paths;         /* its paths */
  size_t paths_before;  /* paths of this run's finished scenarios */
  double start;         /* seconds (monotonic clock) at moat_progress_init */
  double last_draw;     /* last terminal redraw, seconds */
  double last_beat;     /* last heartbeat line (or the start), seconds */
} moat_progress_t;

/* Seconds on the monotonic clock. */
double moat_progress_now(void);

/* The heartbeat interval from the environment: MOATSIM_PROGRESS_INTERVAL (seconds, >= 0; 0 = a
 * line after every path, for tests), else MOAT_PROGRESS_INTERVAL_S. 0, or MOAT_EINVAL with a
 * message naming the variable, its value and the allowed range. */
int moat_progress_interval_from_env(double *interval_s, char *err, size_t errlen);

/* Start the report of a run over n_scen scenarios (shard I/N, or 0/1), at the current time. */
void moat_progress_init(moat_progress_t *p, int quiet, double interval_s, size_t n_scen,
                        int shard_index, int shard_count);

/* The run's partial state `partial` (e.g. "F.partial") is open and n_run scenarios are to be
 * computed: print what the run will do ("writing 'F.partial': 6 of 9 scenarios to run"). */
void moat_progress_begin(moat_progress_t *p, const char *partial, int resume, size_t n_run);

/* Scenario k with `paths` paths starts (or, under MPI, arrives to be written). */
void moat_progress_scenario(moat_progress_t *p, size_t k, size_t paths);

/* The runner's per-path callback (a moat_progress_fn; ctx is the moat_progress_t): `done` paths
 * of the current scenario have finished. Redraws the terminal line at most 4 times a second, or
 * prints a heartbeat line when interval_s has passed since the last one. */
void moat_progress_path(void *ctx, size_t done);

/* The current scenario has been written, computed in `seconds`. */
void moat_progress_scenario_done(moat_progress_t *p, double seconds);

/* End the terminal line, if one is drawn (before any other message). */
void moat_progress_end(moat_progress_t *p);

/* The closing line on `out` of a finished run: what this run wrote and what the file holds,
 * e.g. "wrote F: 3 of 9 scenarios written by this run; the file holds 9 of 9; 8 paths each, ...". */
void moat_progress_print_summary(const moat_progress_t *p, FILE *out, const char *file, int paths,
                                 int threads, int ranks, double wall_s, double write_s);

#endif
