/* sweep.h — expanding a sweep design into scenarios, one at a time (memory stays flat). */
#ifndef MOATSIM_SWEEP_H
#define MOATSIM_SWEEP_H

#include <stddef.h>

#include "moatsim/config.h"

/* Saltelli designs take 2k Sobol dimensions; GSL's sequence has at most 40. */
#define MOAT_SWEEP_SALTELLI_MAX_AXES 20

/* Number of scenarios the design of cfg produces (1 without a sweep). Order is fixed:
 * grid = Cartesian product with the last axis varying fastest; list = row order;
 * lhs / sobol = sample order; saltelli = N blocks of moat_sweep_saltelli_block(k) scenarios
 * (A, A_B^(1..k), [B_A^(1..k)], B); morris = r trajectories of k + 1 points. */
size_t moat_sweep_count(const moat_config_t *cfg);

/* Value of axis `axis` in scenario `index` (as applied to the scenario). */
double moat_sweep_value(const moat_config_t *cfg, size_t index, int axis);

/* Scenario `index` of the design: cfg->base with every axis applied, then validated.
 * MOAT_EINVAL with a message naming the axis's file:line, key and value when a value is out
 * of range or makes the scenario invalid. */
int moat_sweep_scenario(const moat_config_t *cfg, size_t index, moat_scenario_t *out, char *err,
                        size_t errlen);

/* Check the design against the parameter table without expanding it: keys exist and are
 * numeric, values in range, min < max, samples > 0. Called by moat_config_load. */
int moat_sweep_check(const moat_config_t *cfg, char *err, size_t errlen);

/* The size of a whole run, found without expanding the design. */
typedef struct moat_run_estimate {
  size_t n_scenarios;
  moat_estimate_t largest; /* the envelope: the base with every axis at its largest value, which
                              no scenario exceeds in any size (paths, steps, enterprises) */
  double sweep_bytes;      /* memory held per scenario while the file is created, all scenarios:
                              n_scenarios x MOAT_BYTES_PER_SCENARIO */
  double memory_bytes;     /* largest.total_bytes + sweep_bytes */
  double file_bytes;       /* the results file, uncompressed: a fixed part, the scenario text and
                              n_scenarios x largest.file_bytes (an upper bound) */
} moat_run_estimate_t;

/* cfg->base with every sweep axis set to the largest value it takes (lhs / sobol presets: at the
 * tail the sampler is clamped to; clamped to the parameter's range). */
void moat_sweep_envelope(const moat_config_t *cfg, moat_scenario_t *env);
void moat_sweep_estimate(const moat_config_t *cfg, int threads, moat_run_estimate_t *est);

/* MOAT_EINVAL unless the run's memory fits lim (NULL: defaults). The message names the sweep's
 * file:line, the key and value that make it large (sweep.samples, an axis), the estimate, the
 * limit, and how many scenarios would fit. Called by moat_config_load_ex. */
int moat_sweep_check_memory(const moat_config_t *cfg, const moat_limits_t *lim, char *err,
                            size_t errlen);
/* MOAT_EINVAL unless the results file fits in max_bytes; `limit` names that limit for the
 * message ("the 12.0 GiB free on the filesystem of 'results'"). */
int moat_sweep_check_output(const moat_config_t *cfg, double max_bytes, const char *limit,
                            char *err, size_t errlen);

/* "grid", "list", "lhs", "sobol", "saltelli", "morris" or "none". */
const char *moat_sweep_method_name(int method);

/* Scenarios per base row of a Saltelli design over k axes: k + 2, or 2k + 2 with second order.
 * Row r of a block: 0 = A, 1..k = A_B^(i) (column i-1 from B), k+1..2k = B_A^(i) (second order
 * only: B with column i-k-1 from A), last = B. */
size_t moat_sweep_saltelli_block(int k, int second_order);

/* Morris grid levels p of the design (4 when the file does not say). */
int moat_sweep_levels(const moat_sweep_t *sw);

/* Morris step Delta = p / (2 (p - 1)) in unit-cube coordinates. */
double moat_sweep_morris_delta(int levels);

#endif
