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
  const char *identity;     /* the run's identity text (moat_config_t.identity_text: the scenario
                               file, every @include'd file, the effective parameters), or NULL;
                               part of params_digest */
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
 * Read every scenario of desc once (dimensions, consistency, the parameter table) and keep what
 * the results files of the run need. Scenarios must share steps_per_year, labs, clouds and
 * output.quantiles; time and path dimensions take the largest of the sweep (shorter scenarios
 * are NaN-padded). Returns 0 with *w set, MOAT_EINVAL (scenarios that cannot share one file;
 * the message says which key), MOAT_ENOMEM or the source's status. Writes nothing.
 */
int moat_writer_alloc(moat_writer_t **w, const moat_writer_desc_t *desc, char *err, size_t errlen);
void moat_writer_free(moat_writer_t *w);

/* The sizes of a run's results files. */
typedef struct moat_writer_dims {
  size_t n_scenarios, max_steps, max_paths, n_labs, n_clouds, n_quantiles;
  int keep_paths;
} moat_writer_dims_t;

void moat_writer_get_dims(const moat_writer_t *w, moat_writer_dims_t *d);

/* A writer of one-scenario files only (moat_writer_write_scenario), from the sizes alone (no
 * scenarios): what `moatsim merge` uses to write the summaries of scenarios whose paths came
 * from shards. 0 or MOAT_ENOMEM. */
int moat_writer_alloc_bare(moat_writer_t **w, const moat_writer_dims_t *d, char *err, size_t errlen);

/* 16 hex digits: a digest of every effective parameter of every scenario (root attribute
 * params_digest). Two runs with the same digest run the same scenarios. */
const char *moat_writer_params_digest(const moat_writer_t *w);

/*
 * The run's skeleton at `path`: every group and variable sized for all scenarios (unwritten
 * values read as _FillValue, scenario_done = 0), the provenance and identity attributes, the
 * shard record (shard_count > 1: it holds the scenarios k with k mod shard_count ==
 * shard_index; by_paths: part shard_index of the sweep's paths, root attribute shard_split =
 * "paths") and /params. Written to path.tmp and committed (moat_durable_commit): path is
 * absent or complete. 0 or MOAT_EIO with the HDF5 reason.
 */
int moat_writer_write_skeleton(moat_writer_t *w, const char *path, int shard_index, int shard_count,
                               int by_paths, char *err, size_t errlen);

/*
 * A one-scenario results file at `path` (through path.tmp, committed): the skeleton's variables
 * with a scenario dimension of 1 holding scenario k's summaries (s, over the elements of lay),
 * scenario_done = 1 and, when the run keeps paths, the n_paths x lay->per_path path results
 * (paths may be NULL otherwise); root attribute scenario = k. moat_merge_assemble copies it
 * into slice k of the skeleton. 0, MOAT_EINVAL (k or lay does not fit the run) or MOAT_EIO.
 */
int moat_writer_write_scenario(moat_writer_t *w, const char *path, size_t k, const moat_layout_t *lay,
                               const moat_summary_t *s, const double *paths, size_t n_paths,
                               char *err, size_t errlen);

#endif
