/* path.c — one Monte Carlo path of the market model (MODEL.md §2–§9).
 *
 * Choices where MODEL.md is silent (see also docs/model.md §11):
 * - A restricted enterprise is barred from every offer of a restricted-origin lab's model:
 *   its API, the clouds hosting it and running it locally.
 * - At most one release per lab and step, with probability 1 - exp(-rate dt).
 * - Clouds and infrastructure have no configured initial growth: g(0) = 0 in their re-rating.
 * - A lab's `volume` is what it sells itself (flagship + mini, or the open first-party API);
 *   tokens of its model sold by clouds are the clouds'.
 * - After an exit: flows, volume, revenue and valuation 0; cash and shares frozen; price,
 *   margin, multiple and re-rating NaN; value per share 0.
 * - An enterprise whose allocation lost every offer to exits takes s(p(t)) as if it reviewed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moatsim/adoption.h"
#include "moatsim/enterprises.h"
#include "moatsim/finance.h"
#include "moatsim/model.h"
#include "moatsim/offers.h"
#include "moatsim/path_metrics.h"
#include "moatsim/pricing.h"
#include "moatsim/processes.h"
#include "moatsim/rng.h"

#define N_STREAMS ((int)MOAT_RNG_N_STREAMS)
#define N_HIST (MOAT_MAX_LABS + MOAT_MAX_CLOUDS + 1) /* ARR histories: labs, clouds, infra */

/* Everything a path needs; sized by moat_workspace_reserve, never allocated during a path. */
struct moat_workspace {
  gsl_rng *rng[N_STREAMS];
  size_t cap_ent, cap_stride, cap_steps, cap_sellers; /* capacities */
  moat_enterprises_t *ent;
  moat_pricing_ws_t *pricing;
  double *base, *alloc;          /* [2 N][stride]: utilities, allocations a_ijs */
  double *alpha, *weight;        /* [2 N]: 1/tau_is, W_is = D_i h_is */
  double *alpha0;                /* [2 N]: 1/tau_is(0) = 1/(rho v_is(0)) */
  double *paid0, *paid_prev;     /* [N]: P_i(0), P_i(t - dt), $/Mtok */
  double *seg_paid0, *seg_paid_prev; /* [2 N]: P_is(0), P_is(t - dt), $/Mtok (value follows price) */
  double frontier_cost0;          /* kappa_c exp(beta (F - F(0))) at step 0 (value_index frontier_cost) */
  unsigned char *review, *adopted; /* [N] */
  double *arr_hist;              /* [N_HIST][steps] */

  /* Per-path state of fixed size. */
  moat_offer_table_t ot;
  moat_processes_t proc;
  moat_lab_money_t money[MOAT_MAX_LABS];
  moat_multiple_t cloud_mult[MOAT_MAX_CLOUDS], infra_mult;
  double cloud_rerating[MOAT_MAX_CLOUDS], cloud_valuation[MOAT_MAX_CLOUDS]; /* this step; $ */
  double initial_frontier; /* F(0), points */
  moat_accounts_t acc;
  double price[MOAT_MAX_OFFERS], cost[MOAT_MAX_OFFERS], quality[MOAT_MAX_OFFERS];
  double qty[MOAT_MAX_OFFERS];
  double last_price[MOAT_MAX_OFFERS]; /* p_j of the last step, $/Mtok */
  double markup[MOAT_MAX_OFFERS];     /* p_j - c_j of the last step, $/Mtok */
  double markup2[MOAT_MAX_OFFERS];    /* p_j - c_j of the step before, $/Mtok */
  unsigned char offer_active[MOAT_MAX_OFFERS], fixed[MOAT_MAX_OFFERS];
  int seller[MOAT_MAX_OFFERS];
  double nest_lambda[MOAT_MAX_OFFERS]; /* lambda_g per nest of ot (MODEL.md §5) */
  double war_price; /* the aggressor's held first-party price, $/Mtok */
  double adopted_d0;
  size_t n_adopted;
  int always_full; /* rebuild every utility column every step (the slow reference) */
};

moat_workspace_t *moat_workspace_alloc(void) {
  moat_workspace_t *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  for (int k = 0; k < N_STREAMS; k++) {
    ws->rng[k] = moat_rng_alloc();
    if (!ws->rng[k]) {
      moat_workspace_free(ws);
      return NULL;
    }
  }
  return ws;
}

static void free_arrays(moat_workspace_t *ws) {
  moat_enterprises_free(ws->ent);
  moat_pricing_ws_free(ws->pricing);
  free(ws->base);
  free(ws->alloc);
  free(ws->alpha);
  free(ws->weight);
  free(ws->alpha0);
  free(ws->paid0);
  free(ws->paid_prev);
  free(ws->seg_paid0);
  free(ws->seg_paid_prev);
  free(ws->review);
  free(ws->adopted);
  free(ws->arr_hist);
  ws->ent = NULL;
  ws->pricing = NULL;
  ws->base = ws->alloc = ws->alpha = ws->weight = NULL;
  ws->paid0 = ws->paid_prev = ws->arr_hist = NULL;
  ws->alpha0 = ws->seg_paid0 = ws->seg_paid_prev = NULL;
  ws->review = ws->adopted = NULL;
  ws->cap_ent = ws->cap_stride = ws->cap_steps = ws->cap_sellers = 0;
}

void moat_workspace_free(moat_workspace_t *ws) {
  if (!ws) return;
  for (int k = 0; k < N_STREAMS; k++)
    if (ws->rng[k]) gsl_rng_free(ws->rng[k]);
  free_arrays(ws);
  free(ws);
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

int moat_workspace_reserve(moat_workspace_t *ws, const moat_scenario_t *sc, char *err, size_t errlen) {
  size_t n = (size_t)(sc->enterprises.count > 0 ? sc->enterprises.count : 1);
  size_t stride = ((size_t)moat_scenario_columns(sc) + 3u) & ~(size_t)3u;
  size_t steps = (size_t)(moat_scenario_steps(sc) > 0 ? moat_scenario_steps(sc) : 1);
  size_t sellers = (size_t)(sc->n_labs + sc->n_clouds);
  if (errlen) err[0] = '\0';
  if (n <= ws->cap_ent && stride <= ws->cap_stride && steps <= ws->cap_steps &&
      sellers <= ws->cap_sellers)
    return MOAT_OK;
  /* Grow every dimension to the larger of old and new, so reserving for several scenarios
   * in any order ends with a workspace that fits them all. */
  n = max_size(n, ws->cap_ent);
  stride = max_size(stride ? stride : 4, ws->cap_stride);
  steps = max_size(steps, ws->cap_steps);
  sellers = max_size(sellers ? sellers : 1, ws->cap_sellers);
  free_arrays(ws);
  size_t cells = 2 * n * stride;
  ws->ent = moat_enterprises_alloc(n);
  ws->pricing = moat_pricing_ws_alloc(2 * n, stride, sellers);
  ws->base = malloc(cells * sizeof(double));
  ws->alloc = malloc(cells * sizeof(double));
  ws->alpha = malloc(2 * n * sizeof(double));
  ws->weight = malloc(2 * n * sizeof(double));
  ws->alpha0 = malloc(2 * n * sizeof(double));
  ws->seg_paid0 = malloc(2 * n * sizeof(double));
  ws->seg_paid_prev = malloc(2 * n * sizeof(double));
  ws->paid0 = malloc(n * sizeof(double));
  ws->paid_prev = malloc(n * sizeof(double));
  ws->review = malloc(n);
  ws->adopted = malloc(n);
  ws->arr_hist = malloc((size_t)N_HIST * steps * sizeof(double));
  if (!ws->ent || !ws->pricing || !ws->base || !ws->alloc || !ws->alpha ||
      !ws->weight || !ws->alpha0 || !ws->seg_paid0 || !ws->seg_paid_prev || !ws->paid0 ||
      !ws->paid_prev || !ws->review || !ws->adopted || !ws->arr_hist) {
    free_arrays(ws);
    snprintf(err, errlen,
             "out of memory reserving a path workspace for %zu enterprises x %zu offers x %zu "
             "steps (about %.1f MB): lower enterprises.count or the number of threads",
             n, stride, steps, (2.0 * (double)cells + 10.0 * (double)n) * 8.0 / 1e6);
    return MOAT_ENOMEM;
  }
  ws->cap_ent = n;
  ws->cap_stride = stride;
  ws->cap_steps = steps;
  ws->cap_sellers = sellers;
  return MOAT_OK;
}

void moat_workspace_set_reference(moat_workspace_t *ws, int on) { ws->always_full = on != 0; }

void moat_scenario_layout(const moat_scenario_t *sc, moat_layout_t *lay) {
  moat_layout_init(lay, (size_t)moat_scenario_steps(sc), (size_t)sc->n_labs, (size_t)sc->n_clouds);
}

/* ---- one path ------------------------------------------------------------------------- */

static double *arr_of(moat_workspace_t *ws, int owner) {
  return ws->arr_hist + (size_t)owner * ws->cap_steps;
}

/* Attributes, offer table, processes, money, padding of the choice matrices. */
static void path_init(const moat_scenario_t *sc, moat_workspace_t *ws) {
  moat_enterprises_t *e = ws->ent;
  moat_enterprises_draw(sc, ws->rng[MOAT_RNG_ATTRIBUTES], e);
  moat_offers_build(sc, &ws->ot);
  const moat_offer_table_t *ot = &ws->ot;
  for (size_t r = 0; r < 2 * e->n; r++) {
    ws->alpha[r] = ws->alpha0[r] = 1.0 / (sc->enterprises.taste_dispersion * e->value[r]);
    for (size_t j = (size_t)ot->n_cols; j < ot->stride; j++) ws->base[r * ot->stride + j] = -INFINITY;
  }
  memset(ws->adopted, 0, e->n);
  ws->adopted_d0 = 0.0;
  ws->n_adopted = 0;
  moat_processes_init(sc, &ws->proc);
  ws->initial_frontier = ws->proc.frontier;
  for (int l = 0; l < sc->n_labs; l++) moat_finance_lab_init(&sc->labs[l], &ws->money[l]);
  for (int k = 0; k < sc->n_clouds; k++)
    ws->cloud_mult[k] = (moat_multiple_t){sc->valuation.cloud_multiple, 0.0, NAN, 1};
  ws->infra_mult = (moat_multiple_t){sc->valuation.infra_multiple, 0.0, NAN, 0};
  for (int j = 0; j < ot->n; j++) {
    ws->offer_active[j] = 1;
    ws->fixed[j] = ot->seller[j] < 0;
    ws->seller[j] = ot->seller[j];
  }
  if (ot->outside >= 0) { /* buying nothing: price and cost 0, no seller, never re-priced */
    int j = ot->outside;
    ws->price[j] = ws->cost[j] = 0.0;
    ws->offer_active[j] = ws->fixed[j] = 1;
    ws->seller[j] = -1;
  }
  moat_offers_nest_lambda(ot, sc, ws->nest_lambda);
  ws->war_price = NAN;
}

/* Shocks, reviews and adoption of step n (MODEL.md §9 order). Returns 1 if an offer left the
 * market since the last step (a lab exited). */
static int step_draws(const moat_scenario_t *sc, int n, moat_workspace_t *ws) {
  unsigned char active[MOAT_MAX_LABS], distressed[MOAT_MAX_LABS];
  for (int l = 0; l < sc->n_labs; l++) {
    active[l] = (unsigned char)ws->money[l].active;
    distressed[l] = (unsigned char)ws->money[l].distressed;
  }
  moat_enterprises_t *e = ws->ent;
  if (n == 0) {
    memset(ws->review, 1, e->n);
  } else {
    moat_processes_step(sc, n, active, distressed, ws->rng, &ws->proc);
    moat_reviews_draw(sc, e, ws->rng[MOAT_RNG_CHOICE], ws->review);
    ws->n_adopted += (size_t)moat_adoption_step(sc, e, ws->rng[MOAT_RNG_CHOICE], ws->adopted,
                                                ws->review, &ws->adopted_d0);
  }
  int exits = 0;
  for (int j = 0; j < ws->ot.n; j++) {
    if (ws->offer_active[j] && !active[ws->ot.lab[j]]) {
      ws->offer_active[j] = 0;
      exits = 1;
    }
  }
  return exits;
}

/* D_i(t) and the row weights W_is = D_i h_is (MODEL.md §5, Volume). */
static void step_volumes(const moat_scenario_t *sc, int n, moat_workspace_t *ws) {
  const moat_enterprises_t *e = ws->ent;
  double t = (double)n / (double)sc->steps_per_year;
  double growth = moat_demand_growth(sc, t);
  double eps = sc->market.price_elasticity;
  for (size_t i = 0; i < e->n; i++) {
    double d = e->d0[i] * growth;
    if (n > 0 && ws->paid0[i] > 0.0 && ws->paid_prev[i] > 0.0)
      d *= pow(ws->paid_prev[i] / ws->paid0[i], -eps);
    ws->weight[2 * i + MOAT_SEG_HARD] = d * e->hard[i];
    ws->weight[2 * i + MOAT_SEG_ROUTINE] = d * (1.0 - e->hard[i]);
  }
}

/* Value follows price (MODEL.md §5, version 2): v_is(t) = v_is(0) (P_is(t - dt) / P_is(0))^theta,
 * so alpha_is = 1 / (rho v_is) = alpha_is(0) (P_is(t - dt) / P_is(0))^-theta. The utility base
 * does not move (v cancels against tau = rho v), nor does the outside option's (o v / tau).
 * A segment that has bought nothing at step 0 (no P_is(0)) keeps v_is(0). */
static void step_values(const moat_scenario_t *sc, int n, moat_workspace_t *ws) {
  const double theta = sc->enterprises.value_price_elasticity;
  if (sc->enterprises.value_index == MOAT_VALUE_INDEX_FRONTIER_COST) {
    /* The frontier's serving cost now (MODEL.md §4's cost of an offer at the frontier's
     * quality): one price level for every segment, set by supply and not by the segment's own
     * routing, so it needs no lag: values and costs move together within the step and a
     * market whose costs all scale by k has values scaled by k too (homogeneity, exact). */
    double t = (double)n / (double)sc->steps_per_year;
    double now = moat_cost_index(sc, t) *
                 exp(sc->price_compression.cost_per_quality_point * (ws->proc.frontier - ws->initial_frontier));
    if (n == 0) ws->frontier_cost0 = now;
    else if (theta != 0.0) {
      double f = pow(now / ws->frontier_cost0, -theta);
      for (size_t r = 0; r < 2 * ws->ent->n; r++) ws->alpha[r] = ws->alpha0[r] * f;
    }
    return;
  }
  if (n == 0 || theta == 0.0) return;
  for (size_t r = 0; r < 2 * ws->ent->n; r++)
    if (ws->seg_paid0[r] > 0.0 && ws->seg_paid_prev[r] > 0.0)
      ws->alpha[r] = ws->alpha0[r] * pow(ws->seg_paid_prev[r] / ws->seg_paid0[r], -theta);
}

/* Growth factor of a markup from one step to the next, extrapolated from the last two steps
 * and kept in [1/2, 2] so that a jump (a release, a war's end) is not amplified. Measured on
 * the baseline fixture, the log-linear extrapolation cuts the zeta iterations of a path by
 * 10-25 % against carrying the last markup unchanged. */
static double markup_trend(int n, double last, double before) {
  if (n < 2 || !(before > 0.0) || !(last > 0.0)) return 1.0;
  return fmin(fmax(last / before, 0.5), 2.0);
}

/* Starting prices and fixed offers of step n: 1.5 c at step 0, else the markups of the last
 * steps, extrapolated, on this step's costs (logit markups depend on tau and shares, not on
 * cost, so carrying the markup rather than the price starts closer to the new equilibrium);
 * local at cost; the war aggressor's first-party price held; offers of exited labs frozen. */
static void step_price_setup(int n, moat_workspace_t *ws) {
  const moat_offer_table_t *ot = &ws->ot;
  for (int j = 0; j < ot->n; j++) {
    /* A markup <= 0 (an aggressor released from a war below cost) restarts from 1.5 c. */
    if (n == 0 || (ws->offer_active[j] && !(ws->markup[j] > 0.0)))
      ws->price[j] = 1.5 * ws->cost[j];
    else if (ws->offer_active[j])
      ws->price[j] = ws->cost[j] + ws->markup[j] * markup_trend(n, ws->markup[j], ws->markup2[j]);
    if (ot->kind[j] == MOAT_OFFER_LOCAL) ws->price[j] = ws->cost[j];
    ws->fixed[j] = ot->seller[j] < 0 || !ws->offer_active[j];
  }
  if (ws->proc.war_active) {
    int j = ot->first_party[ws->proc.war_lab];
    if (ws->proc.war_started) ws->war_price = (1.0 - ws->proc.war_depth) * ws->last_price[j];
    ws->price[j] = ws->war_price;
    ws->fixed[j] = 1;
  }
}

/* Allocations after the solve: reviewers take s(p(t)); others keep theirs, renormalized over
 * still-feasible offers when some left (a row left with nothing feasible takes s(p(t))). Then
 * quantities Q_j (Q of the outside column: demand left unserved), each segment's price per
 * token bought P_is = sum_j a_ijs p_j / sum_j a_ijs and each enterprise's average price paid
 * P_i = sum_s h_is sum_j a_ijs p_j / sum_s h_is sum_j a_ijs, over the offers (either kept
 * from the last step when it buys nothing). Shares are computed only for the
 * rows that take them (about 15 % a step at 2 reviews a year), one row at a time. */
static void step_allocate(const moat_market_t *market, int n, int exits, moat_workspace_t *ws) {
  const moat_enterprises_t *e = ws->ent;
  const moat_offer_table_t *ot = &ws->ot;
  const size_t stride = ot->stride, J = (size_t)ot->n, cols = (size_t)ot->n_cols;
  for (size_t j = 0; j < cols; j++) ws->qty[j] = 0.0;
  for (size_t i = 0; i < e->n; i++) {
    double paid = 0.0, bought = 0.0;
    for (size_t s = 0; s < MOAT_N_SEG; s++) {
      size_t r = 2 * i + s;
      double *a = ws->alloc + r * stride;
      const double *b = ws->base + r * stride;
      int take = ws->review[i];
      if (!take && exits) {
        double sum = 0.0;
        for (size_t j = 0; j < cols; j++) {
          if (b[j] == -INFINITY) a[j] = 0.0;
          sum += a[j];
        }
        if (sum > 0.0)
          for (size_t j = 0; j < cols; j++) a[j] /= sum;
        else
          take = 1;
      }
      if (take) {
        moat_market_t row = *market;
        row.n_rows = 1;
        row.base = b;
        row.alpha = ws->alpha + r;
        row.weight = ws->weight + r;
        moat_choice_shares(&row, ws->price, a);
      }
      double w = ws->weight[r], hs = s == MOAT_SEG_HARD ? e->hard[i] : 1.0 - e->hard[i];
      for (size_t j = 0; j < cols; j++) ws->qty[j] += w * a[j];
      double seg_paid = 0.0, seg_bought = 0.0;
      for (size_t j = 0; j < J; j++) {
        seg_paid += a[j] * ws->price[j];
        seg_bought += a[j];
      }
      paid += hs * seg_paid;
      bought += hs * seg_bought;
      seg_paid = seg_bought > 0.0 ? seg_paid / seg_bought : n == 0 ? 0.0 : ws->seg_paid_prev[r];
      if (n == 0) ws->seg_paid0[r] = seg_paid;
      ws->seg_paid_prev[r] = seg_paid;
    }
    if (bought > 0.0) paid /= bought;
    else paid = n == 0 ? 0.0 : ws->paid_prev[i];
    if (n == 0) ws->paid0[i] = paid;
    ws->paid_prev[i] = paid;
  }
}

/* Money of labs, clouds and infrastructure for step n; fills the step view's money fields. */
static void step_money(const moat_scenario_t *sc, int n, moat_workspace_t *ws, moat_step_view_t *v) {
  moat_accounts_t *acc = &ws->acc;
  moat_finance_accounts(sc, &ws->ot, ws->price, ws->cost, ws->qty, acc);
  double spy = (double)sc->steps_per_year, compute = acc->local_spend;
  for (int l = 0; l < sc->n_labs; l++) {
    moat_lab_money_t *m = &ws->money[l];
    moat_finance_lab_step(sc, &sc->labs[l], n, acc->lab_revenue[l], acc->lab_cogs[l], arr_of(ws, l), m);
    compute += m->cogs + m->training;
  }
  for (int k = 0; k < sc->n_clouds; k++) {
    double *hist = arr_of(ws, MOAT_MAX_LABS + k);
    double rev = acc->cloud_revenue[k];
    double gm = rev > 0.0 ? 1.0 - (acc->cloud_cogs[k] + acc->cloud_paid[k]) / rev : NAN;
    hist[n] = rev * spy;
    if (n == 0) ws->cloud_mult[k].margin0 = gm;
    ws->cloud_rerating[k] = moat_finance_rerate_stream(sc, &ws->cloud_mult[k], hist, n, gm);
    ws->cloud_valuation[k] = ws->cloud_mult[k].initial * ws->cloud_rerating[k] * hist[n];
    compute += acc->cloud_cogs[k];
  }
  double *infra = arr_of(ws, MOAT_MAX_LABS + MOAT_MAX_CLOUDS);
  infra[n] = compute * spy;
  v->compute_spend = compute;
  v->infra_rerating = moat_finance_rerate_stream(sc, &ws->infra_mult, infra, n, NAN);
}

/* Step n of the path (the order of model.h), its metrics written into out. Returns the pricing
 * kernel's status (MOAT_EINVAL only if its workspace does not fit the market: a bug). */
static int run_step(const moat_scenario_t *sc, int n, moat_workspace_t *ws,
                     const moat_market_t *market, const moat_layout_t *lay, double *out,
                     moat_path_stats_t *st) {
  const moat_offer_table_t *ot = &ws->ot;
  double t = (double)n / (double)sc->steps_per_year;
  int exits = step_draws(sc, n, ws);
  moat_offers_update(ot, sc, ws->proc.quality, moat_cost_index(sc, t), moat_local_cost(sc, t),
                     moat_local_penalty(sc, t), ws->quality, ws->cost);
  /* Only local columns change between shocks (local quality and adoption); a release, a
   * frontier move or an exit changes every column. */
  int full = n == 0 || exits || ws->proc.quality_changed || ws->always_full;
  moat_offers_fill_base(ot, sc, ws->ent, ws->quality, ws->proc.frontier, ws->offer_active,
                        ws->adopted, !full, ws->base);
  step_volumes(sc, n, ws);
  step_values(sc, n, ws);
  step_price_setup(n, ws);
  moat_pricing_result_t pr = {0, 1, 0.0};
  int status = moat_pricing_solve(market, ws->price, sc->pricing.tolerance,
                                  sc->pricing.max_iterations, ws->pricing, &pr);
  if (status != MOAT_OK) return status;
  for (int j = 0; j < ot->n; j++) {
    ws->last_price[j] = ws->price[j];
    ws->markup2[j] = ws->markup[j];
    ws->markup[j] = ws->price[j] - ws->cost[j];
  }
  step_allocate(market, n, exits, ws);

  moat_step_view_t v = {
      .sc = sc, .ot = ot, .n = n, .price = ws->price, .cost = ws->cost, .quality = ws->quality,
      .qty = ws->qty, .offer_active = ws->offer_active, .proc = &ws->proc,
      .initial_frontier = ws->initial_frontier, .money = ws->money, .acc = &ws->acc,
      .cloud_rerating = ws->cloud_rerating, .cloud_valuation = ws->cloud_valuation,
      .adopters_fraction = ws->ent->n ? (double)ws->n_adopted / (double)ws->ent->n : 0.0,
      .pricing_iterations = pr.iterations, .pricing_converged = pr.converged};
  step_money(sc, n, ws, &v);
  moat_path_metrics_step(&v, lay, out);

  st->pricing_iterations += pr.iterations;
  if (pr.iterations > st->max_iterations) st->max_iterations = pr.iterations;
  st->nonconverged_steps += !pr.converged;
  return MOAT_OK;
}

int moat_path_run(const moat_scenario_t *sc, uint64_t scenario_index, uint64_t path_index,
                  moat_workspace_t *ws, double *out, moat_path_stats_t *stats) {
  const int T = moat_scenario_steps(sc);
  if ((size_t)sc->enterprises.count > ws->cap_ent || (size_t)T > ws->cap_steps ||
      ((size_t)moat_scenario_columns(sc) + 3u) / 4u * 4u > ws->cap_stride ||
      (size_t)(sc->n_labs + sc->n_clouds) > ws->cap_sellers)
    return MOAT_EINVAL; /* workspace not reserved for sc */
  /* MODEL.md §9: with common random numbers path p sees the same streams in every scenario. */
  uint64_t key_scenario = sc->sweep.common_random_numbers ? 0 : scenario_index;
  for (int k = 0; k < N_STREAMS; k++)
    moat_rng_seed(ws->rng[k], sc->seed, key_scenario, path_index, (uint64_t)k);
  moat_layout_t lay;
  moat_scenario_layout(sc, &lay);
  path_init(sc, ws);
  const moat_offer_table_t *ot = &ws->ot;
  moat_market_t market = {2 * ws->ent->n, (size_t)ot->n_cols, ot->stride, ws->base, ws->alpha,
                          ws->weight, ws->cost, ws->seller, ws->fixed, (size_t)ot->n_sellers,
                          ot->nest, ws->nest_lambda, (size_t)ot->n_nests};
  moat_path_stats_t st = {0, 0, 0};
  for (int n = 0; n < T; n++) {
    int status = run_step(sc, n, ws, &market, &lay, out, &st);
    if (status != MOAT_OK) return status;
  }

  int exits = 0;
  for (int l = 0; l < sc->n_labs; l++) {
    double pv = moat_finance_dcf(sc, &ws->money[l]);
    out[moat_at_lab_path(&lay, MOAT_LP_DCF_VALUE, (size_t)l)] = pv;
    out[moat_at_lab_path(&lay, MOAT_LP_DCF_RATIO, (size_t)l)] = pv / sc->labs[l].valuation_usd;
    exits += !ws->money[l].active;
  }
  out[moat_at_path(&lay, MOAT_PM_LAB_EXITS)] = exits;
  if (stats) *stats = st;
  return MOAT_OK;
}
