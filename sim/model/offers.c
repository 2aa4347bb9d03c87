/* offers.c — the offer table and the utility matrix handed to the pricing kernel (MODEL.md §5). */
#include "moatsim/offers.h"

#include <math.h>
#include <string.h>

static int origin_restricted(const moat_scenario_t *sc, const char *origin) {
  for (int k = 0; k < sc->governance.n_restricted_origins; k++)
    if (strcmp(sc->governance.restricted_origins[k], origin) == 0) return 1;
  return 0;
}

static int add_offer(const moat_scenario_t *sc, moat_offer_table_t *ot, int kind, int lab,
                     int cloud, int seller, double cost_factor, double exposure) {
  int j = ot->n++;
  ot->kind[j] = kind;
  ot->lab[j] = lab;
  ot->cloud[j] = cloud;
  ot->seller[j] = seller;
  ot->cost_factor[j] = cost_factor;
  ot->exposure[j] = exposure;
  ot->bonus[j] = sc->labs[lab].kind == MOAT_LAB_CLOSED ? sc->labs[lab].ecosystem_bonus : 0.0;
  ot->log_speed[j] = cloud >= 0 ? log(sc->clouds[cloud].speed) : 0.0;
  ot->hosted[j] = kind == MOAT_OFFER_CLOUD || kind == MOAT_OFFER_LOCAL;
  ot->restricted[j] = (unsigned char)origin_restricted(sc, sc->labs[lab].origin);
  /* Nests (MODEL.md §5): an open model's offers share its lab's nest; a closed offer is alone. */
  int open = sc->labs[lab].kind == MOAT_LAB_OPEN;
  if (!open || kind == MOAT_OFFER_FIRST_PARTY) ot->host_nest[ot->n_nests++] = (unsigned char)open;
  ot->nest[j] = ot->n_nests - 1;
  return j;
}

void moat_offers_build(const moat_scenario_t *sc, moat_offer_table_t *ot) {
  memset(ot, 0, sizeof *ot);
  int seller = 0;
  for (int l = 0; l < sc->n_labs; l++) {
    const moat_lab_t *lab = &sc->labs[l];
    ot->flagship[l] = ot->mini[l] = ot->first_party[l] = ot->local[l] = -1;
    if (lab->kind != MOAT_LAB_CLOSED) continue;
    double x = 1.0 + lab->hosting_risk;
    ot->flagship[l] = add_offer(sc, ot, MOAT_OFFER_FLAGSHIP, l, -1, seller, lab->serve_cost_per_mtok, x);
    ot->mini[l] = add_offer(sc, ot, MOAT_OFFER_MINI, l, -1, seller,
                            lab->serve_cost_per_mtok * lab->mini_cost_factor, x);
    seller++;
  }
  int n_open = 0;
  for (int l = 0; l < sc->n_labs; l++) n_open += sc->labs[l].kind == MOAT_LAB_OPEN;
  int first_cloud_seller = seller + n_open;
  for (int l = 0; l < sc->n_labs; l++) {
    const moat_lab_t *lab = &sc->labs[l];
    if (lab->kind != MOAT_LAB_OPEN) continue;
    double c = lab->serve_cost_per_mtok;
    ot->first_party[l] =
        add_offer(sc, ot, MOAT_OFFER_FIRST_PARTY, l, -1, seller++, c, 1.0 + lab->hosting_risk);
    for (int k = 0; k < sc->n_clouds; k++)
      add_offer(sc, ot, MOAT_OFFER_CLOUD, l, k, first_cloud_seller + k, c * sc->clouds[k].cost_factor, 1.0);
    ot->local[l] = add_offer(sc, ot, MOAT_OFFER_LOCAL, l, -1, -1, 0.0, 0.0);
    ot->local_list[ot->n_local++] = ot->local[l];
  }
  ot->n_sellers = first_cloud_seller + sc->n_clouds;
  ot->outside = sc->enterprises.outside_option ? ot->n : -1;
  if (ot->outside >= 0) { /* buying nothing: a nest of its own */
    ot->host_nest[ot->n_nests] = 0;
    ot->nest[ot->outside] = ot->n_nests++;
  }
  ot->n_cols = ot->n + (ot->outside >= 0);
  /* Rows padded to a multiple of 4 doubles (32 bytes) for vector loads in the kernel. */
  ot->stride = ((size_t)ot->n_cols + 3u) & ~(size_t)3u;
}

void moat_offers_nest_lambda(const moat_offer_table_t *ot, const moat_scenario_t *sc,
                             double *lambda) {
  for (int g = 0; g < ot->n_nests; g++)
    lambda[g] = ot->host_nest[g] ? 1.0 - sc->enterprises.host_similarity : 1.0;
}

void moat_offers_update(const moat_offer_table_t *ot, const moat_scenario_t *sc,
                        const double *q_lab, double cost_index, double local_cost,
                        double local_penalty, double *quality, double *cost) {
  const double beta = sc->price_compression.cost_per_quality_point;
  for (int j = 0; j < ot->n; j++) {
    int l = ot->lab[j];
    double dq = q_lab[l] - sc->labs[l].quality; /* the model's quality change since t = 0 */
    switch (ot->kind[j]) {
    case MOAT_OFFER_MINI: /* its quality moves with the flagship's, scaled */
      quality[j] = q_lab[l] * (1.0 - sc->labs[l].mini_quality_gap);
      dq *= 1.0 - sc->labs[l].mini_quality_gap;
      cost[j] = ot->cost_factor[j] * cost_index;
      break;
    case MOAT_OFFER_LOCAL:
      quality[j] = q_lab[l] * (1.0 - local_penalty);
      cost[j] = local_cost;
      break;
    default:
      quality[j] = q_lab[l];
      cost[j] = ot->cost_factor[j] * cost_index;
      break;
    }
    /* MODEL.md §4: a more capable model costs more to serve, exp(beta (q_j(t) - q_j(0))); the
     * local copy of an open model scales with the model's own quality like its other hosts. */
    if (beta != 0.0) cost[j] *= exp(beta * dq);
  }
}

void moat_offers_fill_base(const moat_offer_table_t *ot, const moat_scenario_t *sc,
                           const moat_enterprises_t *e, const double *quality, double frontier,
                           const unsigned char *offer_active, const unsigned char *adopted,
                           int local_only, double *base) {
  const double eta[MOAT_N_SEG] = {sc->enterprises.gap_sensitivity_hard,
                                  sc->enterprises.gap_sensitivity_routine};
  const double inv_rho = 1.0 / sc->enterprises.taste_dispersion;
  int cols[MOAT_MAX_OFFERS];
  int n_cols = 0;
  for (int j = 0; j < ot->n; j++)
    if (!local_only || ot->kind[j] == MOAT_OFFER_LOCAL) cols[n_cols++] = j;
  /* Per segment and column: the quality term without the fine-tuning gain, already / rho, and
   * the speed term; exp(-eta (F - q - phi)/F) = exp(-eta (F - q)/F) exp(eta phi / F). */
  double qterm[MOAT_N_SEG][MOAT_MAX_OFFERS], fixed[MOAT_MAX_OFFERS], expo[MOAT_MAX_OFFERS];
  for (int c = 0; c < n_cols; c++) {
    int j = cols[c];
    for (int s = 0; s < MOAT_N_SEG; s++)
      qterm[s][c] = (1.0 + ot->bonus[j]) * exp(-eta[s] * (frontier - quality[j]) / frontier) * inv_rho;
    fixed[c] = sc->enterprises.speed_value * ot->log_speed[j] * inv_rho;
    expo[c] = ot->exposure[j] * sc->enterprises.privacy_weight * inv_rho;
  }
  /* The outside option: u_0 / tau = o v / (rho v), the same in every row; never infeasible. */
  const double outside = sc->enterprises.outside_value * inv_rho;
  const int fill_outside = !local_only && ot->outside >= 0;
  for (size_t i = 0; i < e->n; i++) {
    for (int s = 0; s < MOAT_N_SEG; s++) {
      double *row = base + (2 * i + (size_t)s) * ot->stride;
      if (fill_outside) row[ot->outside] = outside;
      double gain = exp(eta[s] * e->finetune[i] / frontier);
      for (int c = 0; c < n_cols; c++) {
        int j = cols[c];
        int ok = offer_active[j] && !(e->restricted[i] && ot->restricted[j]) &&
                 (ot->kind[j] != MOAT_OFFER_LOCAL || adopted[i]);
        row[j] = ok ? qterm[s][c] * (ot->hosted[j] ? gain : 1.0) - e->privacy[i] * expo[c] + fixed[c]
                    : -INFINITY;
      }
    }
  }
}
