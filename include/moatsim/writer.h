/* writer.h — the HDF5 results file (netCDF-4 compatible; layout in docs/output.md). */
#ifndef MOATSIM_WRITER_H
#define MOATSIM_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "moatsim/metrics.h"
#include "moatsim/scenario.h"
#include "moatsim/summary.h"

#define MOAT_FORMAT_VERSION 2 /* root attribute format_version; bump on layout changes */

/* The CF time coordinate (docs/output.md): days of a 360-day model year since the start, so that
 * step n of steps_per_year is n * 360 / steps_per_year days (a month is 30 days) and t in years
 * is days / 360. The date only anchors calendars of tools (CDO, NCO, xarray) that need one. */
#define MOAT_CF_CONVENTIONS "CF-1.10"
#define MOAT_CF_TIME_UNITS "days since 2026-01-01 00:00:00"
#define MOAT_CF_CALENDAR "360_day"
#define MOAT_CF_DAYS_PER_YEAR 360.0

/* Scenario k of the run (0 <= k < n_scenarios), validated; 0 or a MOAT_E... status. */
typedef int (*moat_scenario_source_fn)(void *ctx, size_t k, moat_scenario_t *sc, char *err,
                                       size_t errlen);

/* What the writer records besides results. Strings are borrowed for the call only. */
typedef struct moat_writer_desc {
  size_t n_scenarios;
  moat_scenario_source_fn scenario; /* every scenario is read once at creation (dims, /params) */
  void *scenario_ctx;
  const char *command_line;
  const char *scenario_file;
  const char *scenario_text;
  int threads;
  int keep_paths;           /* also write /paths */
  int n_swept;              /* swept parameters, in axis order */
  const char *swept[MOAT_MAX_AXES];
  const char *sweep_method; /* design name ("grid", ..., "saltelli", "morris"); NULL: "none" */
  int sweep_samples;        /* design parameters as the file states them (0 when not used) */
  int sweep_levels;
  int sweep_second_order;
  int sweep_common_random_numbers; /* 1: path p of every scenario drew the same uniforms */
} moat_writer_desc_t;

typedef struct moat_writer moat_writer_t;

/*
 * Create PATH.partial with every group and variable sized for all scenarios (unwritten values
 * read as _FillValue, scenario_done = 0), the provenance attributes and /params. Scenarios must
 * share steps_per_year, labs, clouds and output.quantiles; time and path dimensions take the
 * largest of the sweep (shorter scenarios are NaN-padded).
 * Returns 0 with *w set, MOAT_EINVAL (scenarios that cannot share one file; message says which
 * key), MOAT_EIO (file cannot be created; the HDF5 reason is in the message) or MOAT_ENOMEM.
 * On failure nothing is left on disk.
 */
int moat_writer_create(moat_writer_t **w, const char *path, const moat_writer_desc_t *desc,
                       char *err, size_t errlen);

/*
 * Write scenario k: its summaries (s, over the elements of lay) and, when the file keeps paths,
 * the n_paths x lay->per_path path-indexed results (paths may be NULL otherwise). Marks
 * scenario_done[k] = 1 and flushes the file. 0 or MOAT_EIO / MOAT_EINVAL with a message.
 */
int moat_writer_write_scenario(moat_writer_t *w, size_t k, const moat_layout_t *lay,
                               const moat_summary_t *s, const double *paths, size_t n_paths,
                               char *err, size_t errlen);

/* Record wall_time_s, close, and rename PATH.partial to PATH (replacing it). Frees w.
 * 0, or MOAT_EIO (then PATH.partial is removed and PATH untouched). */
int moat_writer_finish(moat_writer_t *w, double wall_time_s, char *err, size_t errlen);

/* Close and remove PATH.partial; PATH is untouched. Frees w. NULL is fine. */
void moat_writer_abort(moat_writer_t *w);

/* Record that the file is shard `index` (0 <= index < count) of a sweep run in `count` shards:
 * it holds the scenarios k with k mod count == index (root attributes shard_index, shard_count,
 * shard_scenarios). Call right after moat_writer_create. 0 or MOAT_EIO with a message. */
int moat_writer_mark_shard(moat_writer_t *w, int index, int count, char *err, size_t errlen);

/* Close PATH.partial and keep it, for `moatsim run --resume` (after SIGINT / SIGTERM). Frees w.
 * NULL is fine. */
void moat_writer_suspend(moat_writer_t *w);

/*
 * Reopen PATH.partial, left by an interrupted run of the same sweep (the caller has checked its
 * identity: moat_merge_check_partial), for writing the scenarios still missing. done[k] (n_scenarios
 * entries, caller-owned) receives scenario_done. Returns 0 with *w set; MOAT_EINVAL when the file
 * cannot be opened or its layout is not the one desc gives (message says to start again without
 * --resume); MOAT_ENOMEM. On failure the file is left as it was.
 */
int moat_writer_reopen(moat_writer_t **w, const char *path, const moat_writer_desc_t *desc,
                       uint8_t *done, char *err, size_t errlen);

#endif
