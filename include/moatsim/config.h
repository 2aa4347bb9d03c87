/* config.h — loading a scenario file through the parameter table, --set overrides, validation. */
#ifndef MOATSIM_CONFIG_H
#define MOATSIM_CONFIG_H

#include <stdio.h>

#include "moatsim/scenario.h"

/* A loaded scenario file: the base scenario, its sweep, and its text. */
typedef struct moat_config {
  char path[MOAT_PATH_MAX]; /* file as given */
  char *text;               /* owned: the file's text followed by the --set lines applied */
  moat_scenario_t base;     /* validated base scenario (sweep not applied) */
  moat_sweep_t sweep;       /* parsed, checked against the table; owns axis value arrays */
} moat_config_t;

/*
 * Load, apply `n_sets` overrides ("key=value" strings, applied before validation), validate.
 * On failure returns MOAT_EINVAL (bad input, message names file:line, key, value, range)
 * or MOAT_EIO / MOAT_ENOMEM, and cfg holds nothing to free.
 */
int moat_config_load(moat_config_t *cfg, const char *path, const char *const *sets, size_t n_sets,
                     char *err, size_t errlen);
void moat_config_clear(moat_config_t *cfg);

/* Set a numeric parameter by dotted key ("quality_gap.long_run", "labs.closed-a.quality",
 * "clouds.wafer-scale.speed"); checks type and range. MOAT_EINVAL with a message otherwise. */
int moat_scenario_set_number(moat_scenario_t *sc, const char *key, double value, char *err,
                             size_t errlen);
/* Read a numeric parameter by dotted key; MOAT_EINVAL if unknown or not numeric. */
int moat_scenario_get_number(const moat_scenario_t *sc, const char *key, double *value, char *err,
                             size_t errlen);
/* Cross-field validation of a complete scenario (also after a sweep sets values). */
int moat_scenario_validate(const moat_scenario_t *sc, char *err, size_t errlen);

/* Visit every effective parameter of sc: dotted key, value as text, unit, doc. */
typedef void (*moat_param_visit_fn)(void *ctx, const char *key, const char *value,
                                    const char *unit, const char *doc);
void moat_scenario_visit(const moat_scenario_t *sc, moat_param_visit_fn fn, void *ctx);

/* Print the parameter table: format "text" or "markdown" (docs/parameters.md). */
int moat_params_print(FILE *out, const char *format);

#endif
