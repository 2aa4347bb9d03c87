/* sweep.h — expanding a sweep design into scenarios, one at a time (memory stays flat). */
#ifndef MOATSIM_SWEEP_H
#define MOATSIM_SWEEP_H

#include <stddef.h>

#include "moatsim/config.h"

/* Number of scenarios the design of cfg produces (1 without a sweep). Order is fixed:
 * grid = Cartesian product with the last axis varying fastest; list = row order;
 * lhs / sobol = sample order. */
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

#endif
