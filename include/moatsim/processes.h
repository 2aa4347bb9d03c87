/* processes.h — quality, latent gap, releases, costs, local inference and price wars (MODEL.md §4). */
#ifndef MOATSIM_PROCESSES_H
#define MOATSIM_PROCESSES_H

#include <gsl/gsl_rng.h>

#include "moatsim/scenario.h"

/* State of a path's shock processes. Plain data, caller-owned. */
typedef struct moat_processes {
  double quality[MOAT_MAX_LABS]; /* q_l: closed flagship or open model quality, points */
  double frontier;               /* F: best active closed flagship, points */
  double log_gap;                /* x = ln g, g the latent gap, kept in [ln 1e-4, ln 0.9] */
  int releases[MOAT_MAX_LABS];   /* releases of each lab so far */
  int quality_changed;           /* 1 if any quality or F changed in the last step */
  int war_active;                /* 1 while a price war runs */
  int war_started;               /* 1 at the step a war starts */
  int war_lab;                   /* aggressor (an open lab), -1 without a war */
  int war_end;                   /* first step after the war */
  double war_depth;              /* d: the aggressor holds (1 - d) * its last price */
  int wars;                      /* wars started so far */
} moat_processes_t;

#define MOAT_GAP_MIN 1e-4 /* bounds of the latent gap g (MODEL.md §4) */
#define MOAT_GAP_MAX 0.9

/* Initial state: configured qualities, F over closed labs, x = ln quality_gap.initial. */
void moat_processes_init(const moat_scenario_t *sc, moat_processes_t *ps);

#define MOAT_DISTRESSED_TRAINING 0.5 /* T_l / T_plan of a distressed lab (MODEL.md §4, §7) */

/*
 * Shocks of step n >= 1 (MODEL.md §4, §9), from the path's generators rng[MOAT_RNG_*]. Every
 * stream takes the same number of uniforms at every step, whatever the parameters and state:
 *   rng[MOAT_RNG_RELEASES]: for each lab l in lab order one uniform (release if
 *     u < 1 - exp(-lambda dt), lambda halved while a closed lab is distressed; inactive labs
 *     draw and ignore it), then for a closed lab one more uniform U, used only on a release:
 *     the jump J = -mu ln U with mu = moat_release_jump_mean;
 *   rng[MOAT_RNG_GAP]: one uniform, Z = Phi^-1(U) for the latent gap;
 *   rng[MOAT_RNG_WARS]: three uniforms (start with probability 1 - exp(-rate dt) if no war
 *     runs; the aggressor floor(U N_open) among active open labs; the depth's Beta quantile).
 * Closed releases apply in lab order (each one leapfrogs the frontier left by the previous);
 * open releases then use this step's frontier and gap. A war ends early if its aggressor exits.
 * active/distressed: per lab, 0 or 1.
 */
void moat_processes_step(const moat_scenario_t *sc, int n, const unsigned char *active,
                         const unsigned char *distressed, gsl_rng *const *rng, moat_processes_t *ps);

/* mu_l: the mean release jump of a closed lab, release_jump_points (T_l / T_plan)^gamma, with
 * T_l / T_plan = MOAT_DISTRESSED_TRAINING while distressed (training halved), 1 otherwise. */
double moat_release_jump_mean(const moat_lab_t *lab, int distressed);

/* One exact Ornstein-Uhlenbeck step of x = ln g over dt years with standard normal z,
 * unclamped (kappa = 0: random walk). */
double moat_gap_step(double x, double x_inf, double kappa, double sigma, double dt, double z);

/* Price-war duration in steps: max(1, round(price_war_months / 12 * steps_per_year)). */
int moat_war_steps(const moat_scenario_t *sc);

/* Compute cost index kappa_c(t) = (1 - cost_decline_per_year)^t, t in years. */
double moat_cost_index(const moat_scenario_t *sc, double t);
/* Growth factor of baseline demand since t = 0 at constant prices: exp of the integral of the
 * log growth rate r(s) = r_inf + (r_0 - r_inf) e^{-lambda s}, r = ln(1 + g), that is
 * exp(r_inf t + (r_0 - r_inf)(1 - e^{-lambda t}) / lambda); (1 + g_0)^t when lambda = 0. */
double moat_demand_growth(const moat_scenario_t *sc, double t);
/* Local inference cost c_L(t), $/Mtok, and quality penalty lambda_L(t), fraction. */
double moat_local_cost(const moat_scenario_t *sc, double t);
double moat_local_penalty(const moat_scenario_t *sc, double t);

#endif
