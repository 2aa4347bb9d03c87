/* config.h — loading a scenario file through the parameter table, --set overrides, validation. */
#ifndef MOATSIM_CONFIG_H
#define MOATSIM_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "moatsim/scenario.h"

#define MOAT_MAX_WARNINGS 16 /* warnings kept; later ones are counted, not stored */
#define MOAT_WARNING_MAX 512 /* one warning, with the NUL */

/* Warnings found while validating (e.g. a restricted origin no lab has); printed by main. */
typedef struct moat_warnings {
  int n;       /* warnings found (may exceed MOAT_MAX_WARNINGS) */
  char text[MOAT_MAX_WARNINGS][MOAT_WARNING_MAX];
} moat_warnings_t;

#define MOAT_DEFAULT_MAX_MEMORY ((uint64_t)8 << 30) /* bytes: --max-memory default, 8 GiB */

/* Limits of the machine that validation checks a scenario against. */
typedef struct moat_limits {
  uint64_t max_memory; /* bytes; 0 means MOAT_DEFAULT_MAX_MEMORY */
  int threads;         /* threads that will run paths (one workspace each); <= 0 means 1 */
} moat_limits_t;

/* Memory the run holds for every scenario of a sweep while it creates the results file: the
 * scenario's numeric parameters (one double each), its index (int32) and its to-do flag. */
#define MOAT_BYTES_PER_SCENARIO(numeric_params) (8.0 * (double)(numeric_params) + 5.0)

/* Size of one scenario's run, for the memory check and `moatsim validate`. */
typedef struct moat_estimate {
  int steps;               /* T */
  int offers;              /* offers at t = 0 */
  double work;             /* enterprise-offer-segment evaluations per pricing iteration,
                              summed over steps and paths (a proxy of run time) */
  double workspace_bytes;  /* per-thread workspaces, all threads */
  double results_bytes;    /* per-path results of one scenario (paths x per_path doubles) */
  double total_bytes;      /* workspace_bytes + results_bytes */
  int numeric_params;      /* parameters stored as numbers in /params, one double per scenario */
  double file_bytes;       /* the scenario's share of the results file, uncompressed: summaries
                              (mean, std, count, quantiles), the paths if output.keep_paths, the
                              chunk index, its /params row */
  double file_fixed_bytes; /* the results file's part that does not grow with the scenarios
                              (without the scenario text) */
} moat_estimate_t;

/*
 * A loaded scenario file: the base scenario, its sweep, its text and the run's identity.
 *
 * identity_text is what a resumed run must match: two loads give the same identity exactly when
 * they read byte-identical files and end with the same effective parameters. It is, in order,
 *   "== scenario file (N bytes) ==\n" and the scenario file's N bytes, then "\n";
 *   for each file libconfig's @include pulled in (nested ones too, in the order they were first
 *   included): "== @include \"NAME\" (N bytes) ==\n", its N bytes, "\n" (NAME as the
 *   directive spells it, relative to the scenario file's directory);
 *   "== effective parameters ==\n" and one "key = value;\n" per row of the parameter table as
 *   moat_scenario_visit lists them after the --set overrides (numbers in the shortest form that
 *   reads back exactly; labs and clouds in file order);
 *   "== sweep ==\n": sweep.method, then for lhs / sobol sweep.samples and each axis's param,
 *   log and min/max or low/mid/high, for grid / list each axis's param and values.
 * So any byte changed in a file (a value, a comment, whitespace alike: the texts are stored
 * with the results, and a resumed file must be reproducible from them) and any effective value
 * changed by --set changes it; the path the scenario file is reached by, how a --set value is
 * spelled (0.5 or 5e-1), the order of --set options and an override equal to the file's value
 * do not. Lengths in the headers make the concatenation unambiguous.
 */
typedef struct moat_config {
  char path[MOAT_PATH_MAX]; /* file as given */
  char *text;               /* owned: the file's text, then as comments the --set lines applied
                               and the text of each file pulled in by @include */
  char *identity_text;      /* owned: the run's identity, described above */
  moat_scenario_t base;     /* validated base scenario (sweep not applied) */
  moat_sweep_t sweep;       /* parsed, checked against the table; owns axis value arrays */
  moat_warnings_t warnings; /* from validating the base scenario */
} moat_config_t;

/*
 * Load, apply `n_sets` overrides ("key=value" strings, applied before validation), validate.
 * On failure returns MOAT_EINVAL (bad input, message names file:line, key, value, range)
 * or MOAT_EIO / MOAT_ENOMEM, and cfg holds nothing to free.
 */
int moat_config_load(moat_config_t *cfg, const char *path, const char *const *sets, size_t n_sets,
                     char *err, size_t errlen);
void moat_config_clear(moat_config_t *cfg);
/* moat_config_load checking against `lim` (NULL: defaults). Warnings land in cfg->warnings,
 * also on failure (cfg then holds nothing else). */
int moat_config_load_ex(moat_config_t *cfg, const char *path, const char *const *sets,
                        size_t n_sets, const moat_limits_t *lim, char *err, size_t errlen);

/* Set a numeric parameter by dotted key ("quality_gap.long_run", "labs.closed-a.quality",
 * "clouds.wafer-scale.speed"); checks type and range. MOAT_EINVAL with a message otherwise. */
int moat_scenario_set_number(moat_scenario_t *sc, const char *key, double value, char *err,
                             size_t errlen);
/* Read a numeric parameter by dotted key; MOAT_EINVAL if unknown or not numeric. */
int moat_scenario_get_number(const moat_scenario_t *sc, const char *key, double *value, char *err,
                             size_t errlen);
/* Cross-field validation of a complete scenario (also after a sweep sets values). */
int moat_scenario_validate(const moat_scenario_t *sc, char *err, size_t errlen);
/* moat_scenario_validate against `lim` (NULL: defaults), adding warnings to `warn` (may be NULL). */
int moat_scenario_validate_ex(const moat_scenario_t *sc, const moat_limits_t *lim,
                              moat_warnings_t *warn, char *err, size_t errlen);
/* Work and memory of running sc with `threads` threads (<= 0 means 1). */
void moat_scenario_estimate(const moat_scenario_t *sc, int threads, moat_estimate_t *est);

/* Visit every effective parameter of sc: dotted key, value as text, unit, doc. */
typedef void (*moat_param_visit_fn)(void *ctx, const char *key, const char *value,
                                    const char *unit, const char *doc);
void moat_scenario_visit(const moat_scenario_t *sc, moat_param_visit_fn fn, void *ctx);

/* The candidate closest to `word` in edit distance (the first of equals), if close enough to be
 * a likely typo: at most a third of the word's letters changed, and at least 2 allowed; else
 * NULL. `candidates` holds n strings (a NULL entry ends it early). Used for "did you mean"
 * on parameter keys, sweep keys and command names. */
const char *moat_nearest(const char *word, const char *const *candidates, size_t n);

/* The [min, max] range of a global numeric parameter ("paths", "seed") from the parameter
 * table, so that command-line options state the range the scenario check applies. 0 or
 * MOAT_EINVAL for an unknown key. */
int moat_param_range(const char *key, double *min, double *max);

/* Print the parameter table: format "text" or "markdown" (docs/parameters.md). */
int moat_params_print(FILE *out, const char *format);

#endif
