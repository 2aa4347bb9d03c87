/* finance.h — money, equity issuance, exit and valuation of labs, clouds and infrastructure
 * (MODEL.md §7). */
#ifndef MOATSIM_FINANCE_H
#define MOATSIM_FINANCE_H

#include "moatsim/offers.h"
#include "moatsim/scenario.h"

#define MOAT_FCF_WINDOW 3 /* steps over which burn is averaged */

/* A revenue multiple re-rated with growth and margin. */
typedef struct moat_multiple {
  double initial;        /* M(0) */
  double growth0;        /* g(0), log units/year */
  double margin0;        /* GM(0) */
  int with_margin;       /* 0: the margin term is off (infrastructure) */
} moat_multiple_t;

/* One lab's money. Plain data. */
typedef struct moat_lab_money {
  /* state carried across steps */
  int active;             /* 1 while operating */
  int distressed;         /* 1 from a capped raise to the next uncapped raise or zero burn */
  double cash;            /* $ */
  double shares;          /* shares outstanding */
  double fcf_window[MOAT_FCF_WINDOW]; /* last FCFs, most recent at [n % 3] */
  int n_fcf;              /* FCFs recorded, up to MOAT_FCF_WINDOW */
  moat_multiple_t multiple0;
  double pv;              /* sum of FCF_n e^{-r t_n} so far, $ */
  /* this step */
  double revenue, cogs, opex, training, fcf; /* $/step */
  double arr;             /* $/year */
  double growth;          /* log units/year */
  double margin;          /* GM, NaN without revenue */
  double rerating, multiple, valuation;      /* rho_V, M, V ($) */
  double raised;          /* $ raised this step */
  int raise_capped;       /* 1 if this step's raise hit the cap */
  int exited;             /* 1 at the step the lab exits */
} moat_lab_money_t;

/* State at t = 0, before step 0. */
void moat_finance_lab_init(const moat_lab_t *lab, moat_lab_money_t *m);

/*
 * Step n of an active lab (MODEL.md §7, in this order): revenue (with any captured cloud
 * revenue) and COGS as given, opex, training (halved while distressed) -> FCF -> cash ->
 * valuation (ARR, growth from arr_hist, margin, re-rating; at n = 0 M(0) = valuation_usd / ARR_0)
 * -> raise check at V/S -> exit if cash < 0 (valuation 0 from then on).
 * arr_hist[0..n-1] is this lab's ARR history; arr_hist[n] is written. An inactive lab gets zero
 * flows and valuation and keeps its cash and shares.
 */
void moat_finance_lab_step(const moat_scenario_t *sc, const moat_lab_t *lab, int n, double revenue,
                           double cogs, double *arr_hist, moat_lab_money_t *m);

/* PV: sum FCF e^{-r t_n} + e^{-r T dt} TV, $, with TV the last step's valuation V (0 after an
 * exit) for valuation.terminal = "mark", terminal_multiple x ARR of the last step for
 * "multiple". */
double moat_finance_dcf(const moat_scenario_t *sc, const moat_lab_money_t *m);

/* Growth g(t) at step n, log units/year: ln(ARR_n / ARR_{n - steps_per_year}) once a year of
 * history exists, else (1 - t) g0 + ln(ARR_n / ARR_0). Never NaN: -inf when ARR_n = 0 (no
 * revenue rates at the floor), +inf when ARR_n > 0 and the reference is 0. */
double moat_finance_growth(const double *arr_hist, int n, int steps_per_year, double growth0);

/* Re-rating rho_V = clamp(exp(a_g (g - g0)) (max(GM, 0.01) / max(GM0, 0.01))^{a_m}, min, max);
 * GM NaN counts as 0.01. Never NaN. */
double moat_finance_rerating(const moat_scenario_t *sc, const moat_multiple_t *mult, double growth,
                             double margin);

/* Re-rating of step n of a revenue (or spend) stream with history arr_hist[0..n]: growth from
 * moat_finance_growth with mult->growth0, then moat_finance_rerating. */
double moat_finance_rerate_stream(const moat_scenario_t *sc, const moat_multiple_t *mult,
                                  const double *arr_hist, int n, double margin);

/* Money by owner of one step's sales (MODEL.md §7), from price, cost and quantity per offer.
 * Labs: own offers' revenue and COGS, plus for open labs capture_share of what clouds make on
 * their model. Clouds: token revenue, COGS, and the capture paid to open labs. $/step. */
typedef struct moat_accounts {
  double lab_revenue[MOAT_MAX_LABS], lab_cogs[MOAT_MAX_LABS], lab_volume[MOAT_MAX_LABS];
  double cloud_revenue[MOAT_MAX_CLOUDS], cloud_cogs[MOAT_MAX_CLOUDS], cloud_paid[MOAT_MAX_CLOUDS];
  double cloud_volume[MOAT_MAX_CLOUDS]; /* Mtok/step */
  double local_spend;                   /* local cost x local volume */
} moat_accounts_t;

void moat_finance_accounts(const moat_scenario_t *sc, const moat_offer_table_t *ot,
                           const double *price, const double *cost, const double *qty,
                           moat_accounts_t *acc);

#endif
