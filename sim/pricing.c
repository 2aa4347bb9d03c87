/* pricing.c — logit choice shares and multi-product Bertrand–Nash prices (MODEL.md §5–§6). */
#include "moatsim/pricing.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

struct moat_pricing_ws {
  size_t n_rows, stride, n_sellers;
  double *shares;  /* [n_rows][stride] */
  double *markup;  /* [n_rows][n_sellers]: sum_{k in f} s_rk (p_k - c_k) */
  double *lambda;  /* [stride] */
  double *demand;  /* [stride] */
  double *gamma_m; /* [stride]: sum_k Gamma_kj (p_k - c_k) over k of j's seller */
  double *next;    /* [stride] */
};

moat_pricing_ws_t *moat_pricing_ws_alloc(size_t n_rows, size_t stride, size_t n_sellers) {
  moat_pricing_ws_t *ws = calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->n_rows = n_rows;
  ws->stride = stride;
  ws->n_sellers = n_sellers;
  ws->shares = calloc(n_rows * stride + 1, sizeof(double));
  ws->markup = calloc(n_rows * n_sellers + 1, sizeof(double));
  ws->lambda = calloc(stride + 1, sizeof(double));
  ws->demand = calloc(stride + 1, sizeof(double));
  ws->gamma_m = calloc(stride + 1, sizeof(double));
  ws->next = calloc(stride + 1, sizeof(double));
  if (!ws->shares || !ws->markup || !ws->lambda || !ws->demand || !ws->gamma_m || !ws->next) {
    moat_pricing_ws_free(ws);
    return NULL;
  }
  return ws;
}

void moat_pricing_ws_free(moat_pricing_ws_t *ws) {
  if (!ws) return;
  free(ws->shares);
  free(ws->markup);
  free(ws->lambda);
  free(ws->demand);
  free(ws->gamma_m);
  free(ws->next);
  free(ws);
}

static void shares_row(const moat_market_t *m, size_t r, const double *price, double *s) {
  const double *b = m->base + r * m->stride;
  double mx = -INFINITY;
  for (size_t j = 0; j < m->n_offers; j++) {
    s[j] = b[j] - m->alpha[r] * price[j];
    if (s[j] > mx) mx = s[j];
  }
  double sum = 0.0;
  for (size_t j = 0; j < m->n_offers; j++) {
    s[j] = (mx == -INFINITY) ? 0.0 : exp(s[j] - mx);
    sum += s[j];
  }
  double inv = sum > 0.0 ? 1.0 / sum : 0.0;
  for (size_t j = 0; j < m->n_offers; j++) s[j] *= inv;
}

void moat_choice_shares(const moat_market_t *m, const double *price, double *shares) {
  for (size_t r = 0; r < m->n_rows; r++) shares_row(m, r, price, shares + r * m->stride);
}

void moat_choice_demand(const moat_market_t *m, const double *price, double *demand,
                        moat_pricing_ws_t *ws) {
  for (size_t j = 0; j < m->n_offers; j++) demand[j] = 0.0;
  for (size_t r = 0; r < m->n_rows; r++) {
    if (m->weight[r] == 0.0) continue;
    double *s = ws->shares + r * m->stride;
    shares_row(m, r, price, s);
    for (size_t j = 0; j < m->n_offers; j++) demand[j] += m->weight[r] * s[j];
  }
}

static int is_priced(const moat_market_t *m, size_t j) {
  return m->seller[j] >= 0 && !m->fixed[j];
}

/* One zeta map evaluation: next[j] for priced offers. */
static void zeta_update(const moat_market_t *m, const double *price, moat_pricing_ws_t *ws) {
  size_t nj = m->n_offers, nf = m->n_sellers;
  for (size_t j = 0; j < nj; j++) ws->lambda[j] = ws->demand[j] = ws->gamma_m[j] = 0.0;
  for (size_t r = 0; r < m->n_rows; r++) {
    if (m->weight[r] == 0.0) continue;
    double *s = ws->shares + r * m->stride;
    double *mk = ws->markup + r * nf;
    shares_row(m, r, price, s);
    for (size_t f = 0; f < nf; f++) mk[f] = 0.0;
    for (size_t j = 0; j < nj; j++)
      if (m->seller[j] >= 0) mk[m->seller[j]] += s[j] * (price[j] - m->cost[j]);
    double wa = m->weight[r] * m->alpha[r];
    for (size_t j = 0; j < nj; j++) {
      ws->demand[j] += m->weight[r] * s[j];
      ws->lambda[j] += wa * s[j];
      if (m->seller[j] >= 0) ws->gamma_m[j] += wa * s[j] * mk[m->seller[j]];
    }
  }
  for (size_t j = 0; j < nj; j++) {
    double p = m->cost[j] + (ws->demand[j] + ws->gamma_m[j]) / ws->lambda[j];
    ws->next[j] = (is_priced(m, j) && isfinite(p)) ? fmax(p, 0.0) : price[j];
  }
}

int moat_pricing_solve(const moat_market_t *m, double *price, double tol, int max_iter,
                       moat_pricing_ws_t *ws, moat_pricing_result_t *res) {
  res->iterations = 0;
  res->converged = 0;
  res->max_rel_change = INFINITY;
  for (int it = 0; it < 2 * max_iter; it++) {
    int damped = it >= max_iter;
    zeta_update(m, price, ws);
    double worst = 0.0;
    for (size_t j = 0; j < m->n_offers; j++) {
      double p = damped ? price[j] + 0.5 * (ws->next[j] - price[j]) : ws->next[j];
      double rel = fabs(p - price[j]) / fmax(p, DBL_MIN);
      if (rel > worst) worst = rel;
      price[j] = p;
    }
    res->iterations = it + 1;
    res->max_rel_change = worst;
    if (worst < tol) {
      res->converged = !damped;
      break;
    }
  }
  return 0;
}
