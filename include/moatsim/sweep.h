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
