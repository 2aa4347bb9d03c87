/* processes.c — the per-path shock processes of MODEL.md §4. */
#include "moatsim/processes.h"

#include <math.h>

#include "moatsim/inversion.h"
#include "moatsim/rng.h"

/* The frontier over active closed labs; the previous value when none is active. */
static double frontier(const moat_scenario_t *sc, const unsigned char *active, const double *q,
                       double previous) {
  double f = -INFINITY;
  for (int l = 0; l < sc->n_labs; l++)
    if (sc->labs[l].kind == MOAT_LAB_CLOSED && (!active || active[l]) && q[l] > f) f = q[l];
  return f == -INFINITY ? previous : f;
}

static double clamp_log_gap(double x) {
  const double lo = log(MOAT_GAP_MIN), hi = log(MOAT_GAP_MAX);
  return x < lo ? lo : (x > hi ? hi : x);
}

void moat_processes_init(const moat_scenario_t *sc, moat_processes_t *ps) {
  *ps = (moat_processes_t){0};
  double best = 0.0; /* F without any closed lab: the best model, so that gaps stay finite */
  for (int l = 0; l < sc->n_labs; l++) {
    ps->quality[l] = sc->labs[l].quality;
    best = fmax(best, ps->quality[l]);
  }
  ps->frontier = frontier(sc, NULL, ps->quality, best);
  ps->log_gap = clamp_log_gap(log(sc->quality_gap.initial));
  ps->war_lab = -1;
}

double moat_gap_step(double x, double x_inf, double kappa, double sigma, double dt, double z) {
  if (kappa == 0.0) return x + sigma * sqrt(dt) * z;
  double decay = exp(-kappa * dt);
  /* -expm1(-2 kappa dt) = 1 - exp(-2 kappa dt) without cancellation at small kappa dt. */
  return x_inf + (x - x_inf) * decay + sigma * sqrt(-expm1(-2.0 * kappa * dt) / (2.0 * kappa)) * z;
}

int moat_war_steps(const moat_scenario_t *sc) {
  long k = lround(sc->price_compression.price_war_months / 12.0 * (double)sc->steps_per_year);
  return k < 1 ? 1 : (int)k;
}

double moat_cost_index(const moat_scenario_t *sc, double t) {
  return pow(1.0 - sc->price_compression.cost_decline_per_year, t);
}

double moat_demand_growth(const moat_scenario_t *sc, double t) {
  double lambda = sc->market.demand_growth_decay_per_year;
  if (lambda == 0.0) return pow(1.0 + sc->market.demand_growth_per_year, t);
  double r0 = log1p(sc->market.demand_growth_per_year), rinf = log1p(sc->market.demand_growth_long_run);
  return exp(rinf * t + (r0 - rinf) * (-expm1(-lambda * t)) / lambda);
}

double moat_local_cost(const moat_scenario_t *sc, double t) {
  return sc->local_inference.cost_per_mtok * pow(1.0 - sc->local_inference.cost_decline_per_year, t);
}

double moat_local_penalty(const moat_scenario_t *sc, double t) {
  return sc->local_inference.quality_penalty *
         pow(1.0 - sc->local_inference.penalty_decline_per_year, t);
}

double moat_release_jump_mean(const moat_lab_t *lab, int distressed) {
  double spent = distressed ? MOAT_DISTRESSED_TRAINING : 1.0; /* T_l / T_plan */
  return lab->release_jump_points * pow(spent, lab->training_returns);
}

/* Release draws of every lab (a uniform each, and a jump uniform for each closed lab, taken
 * every step whether it releases, is inactive or not); closed releases leapfrog at once, open
 * releases are flagged for after the gap moves. */
static void draw_releases(const moat_scenario_t *sc, const unsigned char *active,
                          const unsigned char *distressed, gsl_rng *r, moat_processes_t *ps,
                          unsigned char *open_release) {
  double dt = 1.0 / (double)sc->steps_per_year;
  for (int l = 0; l < sc->n_labs; l++) {
    const moat_lab_t *lab = &sc->labs[l];
    /* MODEL.md §4: a distressed closed lab releases at half its rate; open releases are
     * not slowed (their cadence is the open ecosystem's, not the lab's balance sheet). */
    int slowed = distressed[l] && lab->kind == MOAT_LAB_CLOSED;
    double rate = lab->release_rate_per_year * (slowed ? 0.5 : 1.0);
    int hit = gsl_rng_uniform(r) < -expm1(-rate * dt) && active[l];
    open_release[l] = 0;
    if (lab->kind == MOAT_LAB_CLOSED) {
      double u_jump = moat_rng_uniform_pos(r);
      if (!hit) continue;
      /* J = -mu ln U: Exponential(mean mu) by inversion (MODEL.md §4). */
      double jump = -moat_release_jump_mean(lab, slowed) * log(u_jump);
      ps->quality[l] = fmax(ps->quality[l], ps->frontier) + jump;
      ps->frontier = frontier(sc, active, ps->quality, ps->frontier);
      ps->releases[l]++;
      ps->quality_changed = 1;
    } else {
      open_release[l] = (unsigned char)hit;
    }
  }
}

static void apply_open_releases(const moat_scenario_t *sc, const unsigned char *open_release,
                                moat_processes_t *ps) {
  double g = exp(ps->log_gap);
  for (int l = 0; l < sc->n_labs; l++) {
    if (!open_release[l]) continue;
    double reach = ps->frontier * (1.0 - g) * (1.0 - sc->labs[l].lag);
    if (reach > ps->quality[l]) {
      ps->quality[l] = reach;
      ps->quality_changed = 1;
    }
    ps->releases[l]++;
  }
}

static void step_war(const moat_scenario_t *sc, int n, const unsigned char *active, gsl_rng *r,
                     moat_processes_t *ps) {
  double dt = 1.0 / (double)sc->steps_per_year;
  int ended = 0;
  ps->war_started = 0;
  if (ps->war_active && (n >= ps->war_end || !active[ps->war_lab])) {
    ps->war_active = 0;
    ps->war_lab = -1;
    ended = 1;
  }
  /* Three uniforms every step (MODEL.md §9), used only when a war starts. A war cannot restart
   * in the step one ends: its cut must apply to an equilibrium price, not the held one. */
  double u_start = gsl_rng_uniform(r), u_pick = gsl_rng_uniform(r), u_depth = gsl_rng_uniform(r);
  if (ps->war_active) return;
  int start = u_start < -expm1(-sc->price_compression.price_war_rate_per_year * dt);
  if (!start || ended) return;
  int n_open = 0;
  for (int l = 0; l < sc->n_labs; l++) n_open += sc->labs[l].kind == MOAT_LAB_OPEN && active[l];
  if (n_open == 0) return;
  int pick = (int)(u_pick * n_open); /* uniform over the active open labs; u < 1 */
  for (int l = 0; l < sc->n_labs; l++) {
    if (sc->labs[l].kind != MOAT_LAB_OPEN || !active[l]) continue;
    if (pick-- == 0) {
      ps->war_lab = l;
      break;
    }
  }
  ps->war_depth = moat_beta_mean_quantile(u_depth, sc->price_compression.price_war_depth, 20.0);
  ps->war_active = 1;
  ps->war_started = 1;
  ps->war_end = n + moat_war_steps(sc);
  ps->wars++;
}

void moat_processes_step(const moat_scenario_t *sc, int n, const unsigned char *active,
                         const unsigned char *distressed, gsl_rng *const *rng, moat_processes_t *ps) {
  unsigned char open_release[MOAT_MAX_LABS];
  double dt = 1.0 / (double)sc->steps_per_year;
  ps->quality_changed = 0;
  double f_before = ps->frontier;
  ps->frontier = frontier(sc, active, ps->quality, ps->frontier); /* exits since last step */
  if (ps->frontier != f_before) ps->quality_changed = 1;
  draw_releases(sc, active, distressed, rng[MOAT_RNG_RELEASES], ps, open_release);
  double z = moat_normal_quantile(moat_rng_uniform_pos(rng[MOAT_RNG_GAP]));
  ps->log_gap = clamp_log_gap(moat_gap_step(ps->log_gap, log(sc->quality_gap.long_run),
                                            sc->quality_gap.reversion_per_year,
                                            sc->quality_gap.volatility, dt, z));
  apply_open_releases(sc, open_release, ps);
  step_war(sc, n, active, rng[MOAT_RNG_WARS], ps);
}
