/* model.h — one Monte Carlo path of the market model (MODEL.md §2–§9). No I/O, no threads. */
#ifndef MOATSIM_MODEL_H
#define MOATSIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "moatsim/metrics.h"
#include "moatsim/scenario.h"

/* Per-thread scratch memory for running paths: enterprises, offers, generators.
 * Opaque; sized for a scenario by moat_workspace_reserve. */
typedef struct moat_workspace moat_workspace_t;

/* Diagnostics of one path (not written as metrics). */
typedef struct moat_path_stats {
  long pricing_iterations; /* zeta iterations summed over steps */
  int max_iterations;      /* largest count in one step */
  int nonconverged_steps;  /* steps that hit max_iterations and were damped */
} moat_path_stats_t;

/* Allocate an empty workspace. Returns NULL when out of memory. */
moat_workspace_t *moat_workspace_alloc(void);
void moat_workspace_free(moat_workspace_t *ws);
/* Make ws large enough for scenario sc (grows only). 0, or MOAT_ENOMEM with a message. */
int moat_workspace_reserve(moat_workspace_t *ws, const moat_scenario_t *sc, char *err, size_t errlen);

/* on != 0: rebuild the whole utility matrix every step instead of only what changed (the slow,
 * obvious reference the incremental update is tested against; results must be identical). */
void moat_workspace_set_reference(moat_workspace_t *ws, int on);

/* Layout of one path's results for sc. */
void moat_scenario_layout(const moat_scenario_t *sc, moat_layout_t *lay);

/*
 * Run path `path_index` of scenario `scenario_index` of a validated scenario.
 * A pure function of (sc, scenario_index, path_index): the generators are seeded from
 * (sc->seed, path_index) with sc->sweep.common_random_numbers (the scenario index is then
 * ignored: every scenario's path p sees the same uniforms), else from (sc->seed,
 * scenario_index, path_index). Writes lay.per_path doubles into out (caller-owned).
 * ws must have been reserved for sc. No allocation. Returns 0, or MOAT_EINVAL when ws was not
 * reserved for a scenario this large (nothing written) or the pricing kernel refused its market
 * (a bug; out is then incomplete); stats may be NULL.
 *
 * Randomness (rng.h): five sub-streams per path, each its own xoshiro256** generator keyed by
 * (seed, scenario key, path_index, stream) through splitmix64, each taking the same number of
 * uniforms at every step whatever the parameters and the state (MODEL.md §9):
 *   MOAT_RNG_ATTRIBUTES  enterprise attributes by inversion, once (enterprises.h gives the order);
 *   MOAT_RNG_RELEASES, MOAT_RNG_GAP, MOAT_RNG_WARS  per step n >= 1 (processes.h);
 *   MOAT_RNG_CHOICE      per step n >= 1: N review uniforms, then N adoption uniforms (adoption.h).
 * Changing the number of enterprises or the war rate therefore leaves every other shock unchanged.
 *
 * Within step n (t = n dt): shocks -> reviews and adoption -> volumes D_i(t) (price factor from
 * P_i(t - dt)) -> values v_is(t) (theta: alpha from P_is(t - dt) / P_is(0)) -> prices (zeta solve from the previous step's markups; 1.5 c at step 0) ->
 * allocations (reviewers take s(p(t)), others keep theirs renormalized over feasible offers) ->
 * quantities -> money and valuation -> metrics at index n. Step 0 has no shocks and everybody
 * reviews. A lab that exits at step n leaves every choice set from step n + 1.
 */
int moat_path_run(const moat_scenario_t *sc, uint64_t scenario_index, uint64_t path_index,
                  moat_workspace_t *ws, double *out, moat_path_stats_t *stats);

#endif
