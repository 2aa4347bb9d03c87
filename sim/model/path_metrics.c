/* path_metrics.c — the metrics of one step (MODEL.md §8). */
#include "moatsim/path_metrics.h"

#include <math.h>

/* Quantity-weighted sums over a class of offers. */
typedef struct {
  double qty, spend, spend_per_quality;
} qsum_t;

static void add(qsum_t *s, double p, double q, double quality) {
  s->qty += q;
  s->spend += p * q;
  s->spend_per_quality += p / quality * q;
}

static double ratio(double a, double b) { return b > 0.0 ? a / b : NAN; }

/* Q-weighted gross margin of every seller of open weights (MODEL.md §8): each cloud's gross
 * margin 1 - (COGS + capture paid) / revenue weighted by its volume, and each open lab's
 * first-party API's margin 1 - c / p weighted by its volume. NaN when none sells. */
static double hosting_margin(const moat_step_view_t *v) {
  const moat_offer_table_t *ot = v->ot;
  const moat_accounts_t *a = v->acc;
  double sum = 0.0, qty = 0.0;
  for (int k = 0; k < v->sc->n_clouds; k++) {
    if (!(a->cloud_revenue[k] > 0.0)) continue;
    sum += a->cloud_volume[k] * (1.0 - (a->cloud_cogs[k] + a->cloud_paid[k]) / a->cloud_revenue[k]);
    qty += a->cloud_volume[k];
  }
  for (int l = 0; l < v->sc->n_labs; l++) {
    int j = ot->first_party[l];
    if (j < 0 || !v->offer_active[j] || !(v->qty[j] > 0.0) || !(v->price[j] > 0.0)) continue;
    sum += v->qty[j] * (1.0 - v->cost[j] / v->price[j]);
    qty += v->qty[j];
  }
  return qty > 0.0 ? sum / qty : NAN;
}

static void market_metrics(const moat_step_view_t *v, const moat_layout_t *lay, double *out) {
  const moat_offer_table_t *ot = v->ot;
  qsum_t flag = {0}, closed = {0}, open = {0}, cloud = {0}, first = {0}, local = {0};
  double best_open = -INFINITY, cheapest = INFINITY;
  const double beta = v->sc->price_compression.cost_per_quality_point, q_star = v->initial_frontier;
  for (int j = 0; j < ot->n; j++) {
    double p = v->price[j], q = v->qty[j], qual = v->quality[j];
    switch (ot->kind[j]) {
    case MOAT_OFFER_FLAGSHIP: add(&flag, p, q, qual); /* and, being closed, below */
    /* FALLTHROUGH */
    case MOAT_OFFER_MINI: add(&closed, p, q, qual); break;
    case MOAT_OFFER_FIRST_PARTY:
      add(&first, p, q, qual);
      add(&open, p, q, qual);
      if (v->offer_active[j] && qual > best_open) best_open = qual;
      break;
    case MOAT_OFFER_CLOUD:
      add(&cloud, p, q, qual);
      add(&open, p, q, qual);
      break;
    default: add(&local, p, q, qual); break;
    }
    /* Market offers only: a local offer is a cost for adopters, not a price anyone can buy at. */
    /* Read along the cost curve (MODEL.md §8): the cheapest model of exactly capability Q*
     * sits exp(-beta (q - Q*)) below an offer of quality q >= Q*. */
    int market_offer = ot->kind[j] != MOAT_OFFER_LOCAL;
    double at_q_star = beta != 0.0 ? p * exp(-beta * (qual - q_star)) : p;
    if (market_offer && v->offer_active[j] && qual >= q_star && at_q_star < cheapest)
      cheapest = at_q_star;
  }
  double open_price = ratio(open.spend, open.qty);
  double total = closed.qty + open.qty + local.qty, spend = closed.spend + open.spend + local.spend;
  double *m = out;
  size_t n = (size_t)v->n;
  double F = v->proc->frontier;
  m[moat_at_market(lay, MOAT_MK_PREMIUM_FLAGSHIP, n)] = ratio(ratio(flag.spend, flag.qty), open_price);
  m[moat_at_market(lay, MOAT_MK_PREMIUM_AVG, n)] = ratio(ratio(closed.spend, closed.qty), open_price);
  m[moat_at_market(lay, MOAT_MK_PREMIUM_PER_QUALITY, n)] =
      ratio(ratio(closed.spend_per_quality, closed.qty), ratio(open.spend_per_quality, open.qty));
  m[moat_at_market(lay, MOAT_MK_FRONTIER_QUALITY, n)] = F;
  m[moat_at_market(lay, MOAT_MK_QUALITY_GAP, n)] = best_open > -INFINITY ? 1.0 - best_open / F : NAN;
  m[moat_at_market(lay, MOAT_MK_LATENT_GAP, n)] = exp(v->proc->log_gap);
  m[moat_at_market(lay, MOAT_MK_PRICE_CONSTANT_QUALITY, n)] = cheapest < INFINITY ? cheapest : NAN;
  m[moat_at_market(lay, MOAT_MK_HOSTING_MARGIN, n)] = hosting_margin(v);
  m[moat_at_market(lay, MOAT_MK_SHARE_CLOSED, n)] = ratio(closed.qty, total);
  m[moat_at_market(lay, MOAT_MK_SHARE_OPEN_CLOUD, n)] = ratio(cloud.qty, total);
  m[moat_at_market(lay, MOAT_MK_SHARE_OPEN_FIRST_PARTY, n)] = ratio(first.qty, total);
  m[moat_at_market(lay, MOAT_MK_SHARE_LOCAL, n)] = ratio(local.qty, total);
  m[moat_at_market(lay, MOAT_MK_REVENUE_SHARE_CLOSED, n)] =
      ratio(closed.spend, closed.spend + open.spend);
  m[moat_at_market(lay, MOAT_MK_SPEND_TOTAL, n)] = spend;
  m[moat_at_market(lay, MOAT_MK_VOLUME_TOTAL, n)] = total;
  double unserved = ot->outside >= 0 ? v->qty[ot->outside] : 0.0;
  m[moat_at_market(lay, MOAT_MK_UNSERVED_SHARE, n)] = ratio(unserved, unserved + total);
  m[moat_at_market(lay, MOAT_MK_LOCAL_ADOPTERS, n)] = v->adopters_fraction;
  m[moat_at_market(lay, MOAT_MK_PRICE_WAR_ACTIVE, n)] = v->proc->war_active;
  m[moat_at_market(lay, MOAT_MK_PRICING_ITERATIONS, n)] = v->pricing_iterations;
  m[moat_at_market(lay, MOAT_MK_PRICING_CONVERGED, n)] = v->pricing_converged;
  m[moat_at_market(lay, MOAT_MK_COMPUTE_SPEND, n)] = v->compute_spend;
  m[moat_at_market(lay, MOAT_MK_INFRA_RERATING, n)] = v->infra_rerating;
}

static void lab_metrics(const moat_step_view_t *v, int l, const moat_layout_t *lay, double *out) {
  const moat_scenario_t *sc = v->sc;
  const moat_offer_table_t *ot = v->ot;
  const moat_lab_money_t *m = &v->money[l];
  size_t n = (size_t)v->n, L = (size_t)l;
  int closed = sc->labs[l].kind == MOAT_LAB_CLOSED;
  int main_offer = closed ? ot->flagship[l] : ot->first_party[l];
  /* An exited lab's flows are zero, but at its exit step it still sold. */
  int sells = v->offer_active[main_offer] && v->acc->lab_volume[l] > 0.0;
  double *o = out;
  o[moat_at_lab(lay, MOAT_LM_PRICE, L, n)] = sells ? v->price[main_offer] : NAN;
  o[moat_at_lab(lay, MOAT_LM_PRICE_MINI, L, n)] = closed && sells ? v->price[ot->mini[l]] : NAN;
  o[moat_at_lab(lay, MOAT_LM_QUALITY, L, n)] = v->proc->quality[l];
  o[moat_at_lab(lay, MOAT_LM_VOLUME, L, n)] = v->offer_active[main_offer] ? v->acc->lab_volume[l] : 0.0;
  o[moat_at_lab(lay, MOAT_LM_REVENUE, L, n)] = m->revenue;
  o[moat_at_lab(lay, MOAT_LM_GROSS_MARGIN, L, n)] = m->revenue > 0.0 ? m->margin : NAN;
  o[moat_at_lab(lay, MOAT_LM_FCF, L, n)] = m->fcf;
  o[moat_at_lab(lay, MOAT_LM_CASH, L, n)] = m->cash;
  o[moat_at_lab(lay, MOAT_LM_SHARES, L, n)] = m->shares;
  o[moat_at_lab(lay, MOAT_LM_DILUTION, L, n)] = m->shares / sc->labs[l].shares;
  o[moat_at_lab(lay, MOAT_LM_VALUATION, L, n)] = m->valuation;
  o[moat_at_lab(lay, MOAT_LM_MULTIPLE, L, n)] = m->active ? m->multiple : NAN;
  o[moat_at_lab(lay, MOAT_LM_RERATING, L, n)] = m->active ? m->rerating : NAN;
  o[moat_at_lab(lay, MOAT_LM_VALUE_PER_SHARE, L, n)] = m->valuation / m->shares;
  o[moat_at_lab(lay, MOAT_LM_DISTRESSED, L, n)] = m->distressed;
  o[moat_at_lab(lay, MOAT_LM_ACTIVE, L, n)] = m->active;
}

static void cloud_metrics(const moat_step_view_t *v, int k, const moat_layout_t *lay, double *out) {
  const moat_accounts_t *a = v->acc;
  size_t n = (size_t)v->n, K = (size_t)k;
  double rev = a->cloud_revenue[k];
  out[moat_at_cloud(lay, MOAT_CM_REVENUE, K, n)] = rev;
  out[moat_at_cloud(lay, MOAT_CM_GROSS_MARGIN, K, n)] =
      rev > 0.0 ? 1.0 - (a->cloud_cogs[k] + a->cloud_paid[k]) / rev : NAN;
  out[moat_at_cloud(lay, MOAT_CM_PRICE, K, n)] = ratio(rev, a->cloud_volume[k]);
  out[moat_at_cloud(lay, MOAT_CM_RERATING, K, n)] = v->cloud_rerating[k];
  out[moat_at_cloud(lay, MOAT_CM_VALUATION, K, n)] = v->cloud_valuation[k];
}

void moat_path_metrics_step(const moat_step_view_t *v, const moat_layout_t *lay, double *out) {
  market_metrics(v, lay, out);
  for (int l = 0; l < v->sc->n_labs; l++) lab_metrics(v, l, lay, out);
  for (int k = 0; k < v->sc->n_clouds; k++) cloud_metrics(v, k, lay, out);
}
