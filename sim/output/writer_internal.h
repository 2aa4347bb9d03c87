/* writer_internal.h — shared between writer.c and writer_params.c: what the writer learns from
 * the scenarios of a run before laying out the file. Not a public interface. */
#ifndef MOATSIM_WRITER_INTERNAL_H
#define MOATSIM_WRITER_INTERNAL_H

#include <hdf5.h>

#include "moatsim/scenario.h"
#include "moatsim/writer.h"

/* One effective parameter (moat_scenario_visit order). */
typedef struct moat_writer_param {
  char *key, *unit, *doc, *text; /* owned; text is scenario 0's value */
  int numeric;                   /* scenario 0's value is a number: a variable over scenario */
  int swept;                     /* named by a sweep axis */
  double *values;                /* [n_scenarios] when numeric */
} moat_writer_param_t;

typedef struct moat_writer_scenarios {
  moat_scenario_t first; /* scenario 0: names, kinds, origins, quantiles, seed */
  int steps_per_year, max_steps, max_paths, paths;
  uint64_t seed;
  int n_labs, n_clouds, n_quantiles;
  const double *quantiles;
  const char *lab_names[MOAT_MAX_LABS], *cloud_names[MOAT_MAX_CLOUDS];
  size_t n_params, cap_params, n_scenarios;
  uint64_t digest; /* FNV-1a of "k\tkey=value\n" over every parameter of every scenario */
  moat_writer_param_t *params;
} moat_writer_scenarios_t;

/* Read every scenario of desc once: dimensions, consistency, parameter table. 0, MOAT_EINVAL
 * (scenarios that cannot share a file), MOAT_ENOMEM or the source's status, with a message. */
int moat_writer_scenarios_scan(moat_writer_scenarios_t *sc, const moat_writer_desc_t *desc,
                               char *err, size_t errlen);
void moat_writer_scenarios_clear(moat_writer_scenarios_t *sc);

/* lab_kind(lab) and lab_origin(lab) in group g over dimension scale lab_dim. 0 or MOAT_EIO. */
int moat_writer_lab_names(hid_t g, hid_t lab_dim, const moat_writer_scenarios_t *sc);

/* The /params group. 0 or MOAT_EIO with a message. */
int moat_writer_params(hid_t file, const moat_writer_desc_t *desc, const moat_writer_scenarios_t *sc,
                       char *err, size_t errlen);

#endif
