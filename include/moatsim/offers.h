/* offers.h — the offer table and the utilities the pricing kernel sees (MODEL.md §2, §5). */
#ifndef MOATSIM_OFFERS_H
#define MOATSIM_OFFERS_H

#include <stddef.h>

#include "moatsim/enterprises.h"
#include "moatsim/scenario.h"

enum moat_offer_kind {
  MOAT_OFFER_FLAGSHIP = 0, /* closed lab's flagship, via its API */
  MOAT_OFFER_MINI,         /* closed lab's mini, via its API */
  MOAT_OFFER_FIRST_PARTY,  /* open lab's own API */
  MOAT_OFFER_CLOUD,        /* an open model on a serving cloud */
  MOAT_OFFER_LOCAL         /* an open model on the enterprise's own hardware */
};

/* Offers, plus one column for the outside option. */
#define MOAT_MAX_OFFERS (MOAT_MAX_LABS * (2 + MOAT_MAX_CLOUDS) + 1)
#define MOAT_MAX_SELLERS (MOAT_MAX_LABS + MOAT_MAX_CLOUDS)

/*
 * Offers in this order: for each closed lab in lab order its flagship, then its mini; then for
 * each open lab in lab order its first-party API, one offer per cloud in cloud order, and its
 * local offer. Sellers: closed labs in lab order, then open labs' first-party APIs in lab order,
 * then clouds in cloud order. Local offers have seller -1 (priced at cost). Nests (MODEL.md §5)
 * are numbered in order of their first column.
 * With enterprises.outside_option, the choice matrices carry one more column after the n
 * offers: buying nothing (price 0, no seller, u_0 = outside_value * v). It is not an offer:
 * loops over offers stop at n; the pricing kernel and the allocations see n_cols columns.
 */
typedef struct moat_offer_table {
  int n;                                     /* offers */
  int outside;                               /* column of the outside option (= n), -1 if off */
  int n_cols;                                /* columns of the choice matrices: n (+ 1) */
  int n_sellers;                             /* sellers */
  size_t stride;                             /* row pitch of the choice matrices (>= n_cols) */
  int kind[MOAT_MAX_OFFERS];                 /* enum moat_offer_kind */
  int lab[MOAT_MAX_OFFERS];                  /* lab whose model it is */
  int cloud[MOAT_MAX_OFFERS];                /* hosting cloud, -1 if none */
  int seller[MOAT_MAX_OFFERS];               /* seller index, -1 for local */
  double cost_factor[MOAT_MAX_OFFERS];       /* model base cost x host factor, $/Mtok at t = 0 */
  double exposure[MOAT_MAX_OFFERS];          /* x_j, privacy exposure */
  double bonus[MOAT_MAX_OFFERS];             /* b_j, ecosystem bonus */
  double log_speed[MOAT_MAX_OFFERS];         /* ln speed_j */
  unsigned char hosted[MOAT_MAX_OFFERS];     /* 1 if the enterprise's fine-tuning gain applies */
  unsigned char restricted[MOAT_MAX_OFFERS]; /* 1 if its lab's origin is restricted */
  int flagship[MOAT_MAX_LABS];               /* offer index: closed flagship, -1 for open labs */
  int mini[MOAT_MAX_LABS];                   /* closed mini, -1 for open labs */
  int first_party[MOAT_MAX_LABS];            /* open first-party API, -1 for closed labs */
  int local[MOAT_MAX_LABS];                  /* open local offer, -1 for closed labs */
  int nest[MOAT_MAX_OFFERS];                 /* nest of each column (outside option included):
                                                an open model's offers (first-party, clouds,
                                                local) share one; every other column is alone */
  int n_nests;                               /* nests */
  unsigned char host_nest[MOAT_MAX_OFFERS];  /* per nest: 1 if it holds an open model's hosts
                                                (lambda = 1 - host_similarity), else 0 (lambda 1) */
  int n_local;                               /* local offers */
  int local_list[MOAT_MAX_LABS];             /* their indices */
} moat_offer_table_t;

/* Build the table of sc (MODEL.md §2). */
void moat_offers_build(const moat_scenario_t *sc, moat_offer_table_t *ot);

/* lambda_g of each nest of ot (MODEL.md §5): 1 - enterprises.host_similarity for an open
 * model's nest, 1 for the others; lambda has ot->n_nests entries. */
void moat_offers_nest_lambda(const moat_offer_table_t *ot, const moat_scenario_t *sc,
                             double *lambda);

/* Per offer quality q_j (without the fine-tuning gain) and cost c_j at time t given lab
 * qualities q_lab, the fixed-capability cost index, local cost and local quality penalty:
 * c_j = base cost x host factor x index (local: the local cost), times exp(beta (q_j(t) -
 * q_j(0))), beta = cost_per_quality_point, q_j the offer's own model quality (a mini's is
 * (1 - gap) q_l; a local offer uses its model's q_m, without the local quality penalty). */
void moat_offers_update(const moat_offer_table_t *ot, const moat_scenario_t *sc,
                        const double *q_lab, double cost_index, double local_cost,
                        double local_penalty, double *quality, double *cost);

/*
 * Fill base[r][j] = u_rj / tau_r + alpha_r p_j (MODEL.md §5) for rows r = 2 i + s:
 *   base = [ (1 + b_j) exp(-eta_s (F - q_ij) / F) - pi_i w_priv x_j + sigma_speed ln speed_j ] / rho
 * (v_is cancels against tau_is = rho v_is), -INFINITY where j is infeasible for i: its lab is
 * inactive (offer_active[j] == 0), i is restricted and j's origin restricted, or j is local and
 * i has not adopted. The outside option's column, if any, is outside_value / rho. local_only:
 * refill only the local columns (when only local quality and adoption changed). Padding
 * columns are not touched.
 */
void moat_offers_fill_base(const moat_offer_table_t *ot, const moat_scenario_t *sc,
                           const moat_enterprises_t *e, const double *quality, double frontier,
                           const unsigned char *offer_active, const unsigned char *adopted,
                           int local_only, double *base);

#endif
