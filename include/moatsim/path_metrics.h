/* path_metrics.h — one step's metrics and the per-path metrics of MODEL.md §8. */
#ifndef MOATSIM_PATH_METRICS_H
#define MOATSIM_PATH_METRICS_H

#include "moatsim/finance.h"
#include "moatsim/metrics.h"
#include "moatsim/offers.h"
#include "moatsim/processes.h"
#include "moatsim/scenario.h"

/* Everything one step's metrics are computed from (read-only views into the path's state). */
typedef struct moat_step_view {
  const moat_scenario_t *sc;
  const moat_offer_table_t *ot;
  int n;                           /* step */
  const double *price;             /* [offers] $/Mtok */
  const double *cost;              /* [offers] $/Mtok */
  const double *quality;           /* [offers] points, without fine-tuning gains */
  const double *qty;               /* [offers] Q_j, Mtok/step */
  const unsigned char *offer_active; /* [offers] */
  const moat_processes_t *proc;
  double initial_frontier;         /* F(0), points */
  const moat_lab_money_t *money;   /* [labs] after this step's finance step */
  const moat_accounts_t *acc;
  const double *cloud_rerating;    /* [clouds] */
  const double *cloud_valuation;   /* [clouds] $ */
  double adopters_fraction;        /* adopters / N */
  double compute_spend;            /* $/step */
  double infra_rerating;
  int pricing_iterations;
  int pricing_converged;
} moat_step_view_t;

/* Write step v->n's market, lab and cloud metrics into out (layout lay). NaN where a metric does
 * not apply: prices and margins of labs that have exited or sell nothing, an open lab's mini
 * price, premiums without open (or closed) volume, price_constant_quality without a qualifying
 * active offer, a cloud's price and margin without sales. */
void moat_path_metrics_step(const moat_step_view_t *v, const moat_layout_t *lay, double *out);

#endif
