/* finance.c — money, equity issuance, exit and valuation (MODEL.md §7). */
#include "moatsim/finance.h"

#include <math.h>
#include <string.h>

#include "moatsim/processes.h"

void moat_finance_lab_init(const moat_lab_t *lab, moat_lab_money_t *m) {
  *m = (moat_lab_money_t){0};
  m->active = 1;
  m->cash = lab->cash_usd;
  m->shares = lab->shares;
  m->multiple0.growth0 = lab->initial_growth;
  m->multiple0.with_margin = 1;
}

double moat_finance_growth(const double *arr_hist, int n, int steps_per_year, double growth0) {
  double now = arr_hist[n];
  if (!(now > 0.0)) return -INFINITY;
  int ref = n >= steps_per_year ? n - steps_per_year : 0;
  if (!(arr_hist[ref] > 0.0)) return INFINITY;
  double lr = log(now / arr_hist[ref]);
  if (n >= steps_per_year) return lr;
  double t = (double)n / (double)steps_per_year;
  return (1.0 - t) * growth0 + lr;
}

double moat_finance_rerating(const moat_scenario_t *sc, const moat_multiple_t *mult, double growth,
                             double margin) {
  const double floor_gm = 0.01; /* MODEL.md §7: margins below 1 % count as 1 % */
  double a_g = sc->valuation.growth_weight, a_m = sc->valuation.margin_weight;
  double rho = a_g == 0.0 ? 1.0 : exp(a_g * (growth - mult->growth0));
  if (mult->with_margin && a_m != 0.0) {
    double gm = isnan(margin) ? floor_gm : fmax(margin, floor_gm);
    double gm0 = isnan(mult->margin0) ? floor_gm : fmax(mult->margin0, floor_gm);
    rho *= pow(gm / gm0, a_m);
  }
  if (isnan(rho)) rho = sc->valuation.rerating_min; /* unreachable with finite weights */
  return fmin(fmax(rho, sc->valuation.rerating_min), sc->valuation.rerating_max);
}

double moat_finance_rerate_stream(const moat_scenario_t *sc, const moat_multiple_t *mult,
                                  const double *arr_hist, int n, double margin) {
  double g = moat_finance_growth(arr_hist, n, sc->steps_per_year, mult->growth0);
  return moat_finance_rerating(sc, mult, g, margin);
}

static void record_fcf(moat_lab_money_t *m, int n) {
  m->fcf_window[n % MOAT_FCF_WINDOW] = m->fcf;
  if (m->n_fcf < MOAT_FCF_WINDOW) m->n_fcf++;
}

/* Burn = max(0, -mean FCF over the last MOAT_FCF_WINDOW steps, or fewer at the start). */
static double burn_rate(const moat_lab_money_t *m) {
  double sum = 0.0;
  for (int k = 0; k < m->n_fcf; k++) sum += m->fcf_window[k];
  return m->n_fcf > 0 ? fmax(0.0, -sum / (double)m->n_fcf) : 0.0;
}

/* Raise check (MODEL.md §7): when cash < runway_months of burn, raise raise_months of burn at
 * V/S, capped at max_raise_fraction V (then distressed). Distress ends at an uncapped raise or
 * when burn is zero (a choice documented in docs/model.md §11). */
static void raise_check(const moat_scenario_t *sc, moat_lab_money_t *m) {
  double months_to_steps = (double)sc->steps_per_year / 12.0;
  double burn = burn_rate(m);
  m->raised = 0.0;
  m->raise_capped = 0;
  if (burn <= 0.0) {
    m->distressed = 0;
    return;
  }
  if (!(m->cash < sc->finance.runway_months * months_to_steps * burn)) return;
  double amount = sc->finance.raise_months * months_to_steps * burn;
  double cap = sc->finance.max_raise_fraction * fmax(m->valuation, 0.0);
  if (amount > cap) {
    amount = cap;
    m->raise_capped = 1;
  }
  m->distressed = m->raise_capped;
  double price = m->valuation / m->shares;
  if (amount > 0.0 && price > 0.0) {
    m->shares += amount / price;
    m->cash += amount;
    m->raised = amount;
  }
}

static void valuation_step(const moat_scenario_t *sc, const moat_lab_t *lab, int n,
                           double *arr_hist, moat_lab_money_t *m) {
  m->arr = m->revenue * (double)sc->steps_per_year;
  arr_hist[n] = m->arr;
  m->margin = m->revenue > 0.0 ? 1.0 - m->cogs / m->revenue : NAN;
  if (n == 0) {
    /* M(0) = V_cfg / ARR_0 so that V(0) is the configured valuation on every path. A lab
     * without sales at t = 0 has no multiple: NaN, and V(0) is still the configured value. */
    m->multiple0.initial = m->arr > 0.0 ? lab->valuation_usd / m->arr : NAN;
    m->multiple0.margin0 = m->margin;
  }
  m->rerating = moat_finance_rerate_stream(sc, &m->multiple0, arr_hist, n, m->margin);
  m->multiple = m->multiple0.initial * m->rerating;
  if (n == 0)
    m->valuation = lab->valuation_usd;
  else
    m->valuation = isnan(m->multiple) ? 0.0 : m->multiple * m->arr;
}

void moat_finance_lab_step(const moat_scenario_t *sc, const moat_lab_t *lab, int n, double revenue,
                           double cogs, double *arr_hist, moat_lab_money_t *m) {
  double dt = 1.0 / (double)sc->steps_per_year, t = (double)n / (double)sc->steps_per_year;
  m->exited = 0;
  if (!m->active) {
    m->revenue = m->cogs = m->opex = m->training = m->fcf = m->arr = m->raised = 0.0;
    m->valuation = 0.0;
    m->margin = m->rerating = m->multiple = NAN;
    m->raise_capped = 0;
    arr_hist[n] = 0.0;
    return;
  }
  m->revenue = revenue;
  m->cogs = cogs;
  m->opex = lab->opex_ratio * revenue + lab->fixed_opex_per_year * dt;
  m->training = lab->training_spend_per_year * pow(1.0 + lab->training_cost_growth_per_year, t) *
                dt * (m->distressed ? MOAT_DISTRESSED_TRAINING : 1.0);
  m->fcf = revenue - cogs - m->opex - m->training;
  m->cash += m->fcf;
  m->pv += m->fcf * exp(-sc->valuation.discount_rate * t);
  record_fcf(m, n);
  valuation_step(sc, lab, n, arr_hist, m);
  raise_check(sc, m);
  if (m->cash < 0.0) {
    m->active = 0;
    m->exited = 1;
    m->distressed = 0;
    m->valuation = 0.0;
  }
}

double moat_finance_dcf(const moat_scenario_t *sc, const moat_lab_money_t *m) {
  /* "mark": the path's own valuation at the horizon (0 after an exit, MODEL.md §7);
   * "multiple": version 1's terminal_multiple x ARR_T (also 0 after an exit: ARR is 0). */
  double terminal = sc->valuation.terminal == MOAT_TERMINAL_MARK
                        ? m->valuation
                        : sc->valuation.terminal_multiple * m->arr;
  /* e^{-r T dt}: the last step's time, which differs from horizon_years when
   * horizon_years * steps_per_year is not a whole number (T is rounded). */
  double t_end = (double)moat_scenario_steps(sc) / (double)sc->steps_per_year;
  return m->pv + exp(-sc->valuation.discount_rate * t_end) * terminal;
}

void moat_finance_accounts(const moat_scenario_t *sc, const moat_offer_table_t *ot,
                           const double *price, const double *cost, const double *qty,
                           moat_accounts_t *acc) {
  memset(acc, 0, sizeof *acc);
  double model_cloud_revenue[MOAT_MAX_LABS] = {0};
  for (int j = 0; j < ot->n; j++) {
    int l = ot->lab[j], k = ot->cloud[j];
    double rev = price[j] * qty[j], cogs = cost[j] * qty[j];
    switch (ot->kind[j]) {
    case MOAT_OFFER_CLOUD:
      acc->cloud_revenue[k] += rev;
      acc->cloud_cogs[k] += cogs;
      acc->cloud_volume[k] += qty[j];
      acc->cloud_paid[k] += sc->labs[l].capture_share * rev;
      model_cloud_revenue[l] += rev;
      break;
    case MOAT_OFFER_LOCAL:
      acc->local_spend += rev; /* priced at cost */
      break;
    default:
      acc->lab_revenue[l] += rev;
      acc->lab_cogs[l] += cogs;
      acc->lab_volume[l] += qty[j];
      break;
    }
  }
  for (int l = 0; l < sc->n_labs; l++)
    if (sc->labs[l].kind == MOAT_LAB_OPEN)
      acc->lab_revenue[l] += sc->labs[l].capture_share * model_cloud_revenue[l];
}
