/* metrics.h — names, units and layout of every metric a path produces (MODEL.md §8). */
#ifndef MOATSIM_METRICS_H
#define MOATSIM_METRICS_H

#include <stddef.h>

/* X(ID, name, units, long_name). Market metrics: one value per step. */
#define MOAT_MARKET_METRICS(X)                                                                   \
  X(PREMIUM_FLAGSHIP, "premium_flagship", "1",                                                   \
    "Q-weighted mean price of closed flagships over Q-weighted mean price of open offers")      \
  X(PREMIUM_AVG, "premium_avg", "1",                                                             \
    "Q-weighted mean price of all closed offers over that of open offers")                       \
  X(PREMIUM_PER_QUALITY, "premium_per_quality", "1",                                             \
    "premium_avg with prices per quality point")                                                 \
  X(FRONTIER_QUALITY, "frontier_quality", "points", "best closed flagship quality")              \
  X(QUALITY_GAP, "quality_gap", "1", "realized gap 1 - best open quality / frontier")           \
  X(LATENT_GAP, "latent_gap", "1", "latent gap g reachable by the best open model")             \
  X(PRICE_CONSTANT_QUALITY, "price_constant_quality", "USD/Mtok",                                \
    "price of the initial frontier's capability: least p exp(-beta (q - F(0))) over market "     \
    "offers with q >= F(0)")                                                                     \
  X(HOSTING_MARGIN, "hosting_margin", "1",                                                       \
    "Q-weighted gross margin of the sellers of open weights (clouds, open first-party APIs)")   \
  X(SHARE_CLOSED, "share_closed", "1", "volume share of closed offers")                         \
  X(SHARE_OPEN_CLOUD, "share_open_cloud", "1", "volume share of open models on clouds")         \
  X(SHARE_OPEN_FIRST_PARTY, "share_open_first_party", "1",                                       \
    "volume share of open labs' first-party APIs")                                               \
  X(SHARE_LOCAL, "share_local", "1", "volume share of local inference")                         \
  X(REVENUE_SHARE_CLOSED, "revenue_share_closed", "1", "closed labs' share of token spend")     \
  X(SPEND_TOTAL, "spend_total", "USD/step", "token spend of all enterprises")                    \
  X(VOLUME_TOTAL, "volume_total", "Mtok/step", "tokens used by all enterprises")                 \
  X(UNSERVED_SHARE, "unserved_share", "1",                                                       \
    "share of token demand left unserved: work for which buying nothing beats every offer")      \
  X(LOCAL_ADOPTERS, "local_adopters", "1", "fraction of enterprises running local inference")   \
  X(PRICE_WAR_ACTIVE, "price_war_active", "1", "1 while a price war runs")                      \
  X(PRICING_ITERATIONS, "pricing_iterations", "1", "zeta fixed-point iterations this step")     \
  X(PRICING_CONVERGED, "pricing_converged", "1", "1 if the price equilibrium converged")        \
  X(COMPUTE_SPEND, "compute_spend", "USD/step",                                                  \
    "serving, training and local compute spend")                                                 \
  X(INFRA_RERATING, "infra_rerating", "1", "re-rating of infrastructure's multiple")

/* Per lab, per step. */
#define MOAT_LAB_METRICS(X)                                                                      \
  X(PRICE, "price", "USD/Mtok", "flagship (closed) or first-party (open) price")                \
  X(PRICE_MINI, "price_mini", "USD/Mtok", "mini price (closed labs)")                           \
  X(QUALITY, "quality", "points", "flagship (closed) or model (open) quality")                   \
  X(VOLUME, "volume", "Mtok/step", "tokens sold")                                               \
  X(REVENUE, "revenue", "USD/step", "revenue, with captured cloud revenue for open labs")       \
  X(GROSS_MARGIN, "gross_margin", "1", "1 - cost of serving / revenue")                         \
  X(FCF, "fcf", "USD/step", "free cash flow")                                                    \
  X(CASH, "cash", "USD", "cash at the end of the step")                                          \
  X(SHARES, "shares", "1", "shares outstanding")                                                 \
  X(DILUTION, "dilution", "1", "shares outstanding over initial shares")                        \
  X(VALUATION, "valuation", "USD", "market value V = M * ARR")                                   \
  X(MULTIPLE, "multiple", "1", "revenue multiple M")                                             \
  X(RERATING, "rerating", "1", "re-rating of the multiple since t = 0")                         \
  X(VALUE_PER_SHARE, "value_per_share", "USD", "V / shares")                                     \
  X(DISTRESSED, "distressed", "1", "1 while distressed")                                         \
  X(ACTIVE, "active", "1", "1 while the lab operates, 0 after exit")

/* Per cloud, per step. */
#define MOAT_CLOUD_METRICS(X)                                                                    \
  X(REVENUE, "revenue", "USD/step", "revenue")                                                   \
  X(GROSS_MARGIN, "gross_margin", "1",                                                            \
    "1 - (cost of serving + capture share paid to open labs) / revenue")                         \
  X(PRICE, "price", "USD/Mtok", "Q-weighted mean price")                                      \
  X(RERATING, "rerating", "1", "re-rating of the cloud multiple since t = 0")                  \
  X(VALUATION, "valuation", "USD", "market value M * ARR, M(0) = valuation.cloud_multiple")

/* Per lab, one value per path. */
#define MOAT_LAB_PATH_METRICS(X)                                                                 \
  X(DCF_VALUE, "dcf_value", "USD", "discounted free cash flow plus terminal value at t = 0")    \
  X(DCF_RATIO, "dcf_ratio", "1", "dcf_value / V(0)")

/* One value per path. */
#define MOAT_PATH_METRICS(X) X(LAB_EXITS, "lab_exits", "1", "labs that exited during the path")

#define MOAT_MK_ENUM(id, name, units, long_name) MOAT_MK_##id,
#define MOAT_LM_ENUM(id, name, units, long_name) MOAT_LM_##id,
#define MOAT_CM_ENUM(id, name, units, long_name) MOAT_CM_##id,
#define MOAT_LP_ENUM(id, name, units, long_name) MOAT_LP_##id,
#define MOAT_PM_ENUM(id, name, units, long_name) MOAT_PM_##id,
enum { MOAT_MARKET_METRICS(MOAT_MK_ENUM) MOAT_N_MARKET };
enum { MOAT_LAB_METRICS(MOAT_LM_ENUM) MOAT_N_LAB };
enum { MOAT_CLOUD_METRICS(MOAT_CM_ENUM) MOAT_N_CLOUD };
enum { MOAT_LAB_PATH_METRICS(MOAT_LP_ENUM) MOAT_N_LAB_PATH };
enum { MOAT_PATH_METRICS(MOAT_PM_ENUM) MOAT_N_PATH };

/* Static description of one metric. */
typedef struct moat_metric_info {
  const char *name;      /* variable name in the HDF5 file */
  const char *units;     /* UDUNITS-style string */
  const char *long_name; /* one-line description */
} moat_metric_info_t;

extern const moat_metric_info_t moat_market_metrics[MOAT_N_MARKET];
extern const moat_metric_info_t moat_lab_metrics[MOAT_N_LAB];
extern const moat_metric_info_t moat_cloud_metrics[MOAT_N_CLOUD];
extern const moat_metric_info_t moat_lab_path_metrics[MOAT_N_LAB_PATH];
extern const moat_metric_info_t moat_path_metrics[MOAT_N_PATH];

/*
 * Layout of one path's results in one contiguous block of doubles, in this order:
 *   market   [MOAT_N_MARKET][n_steps]
 *   lab      [MOAT_N_LAB][n_labs][n_steps]
 *   cloud    [MOAT_N_CLOUD][n_clouds][n_steps]
 *   lab_path [MOAT_N_LAB_PATH][n_labs]
 *   path     [MOAT_N_PATH]
 * Step n stands for time t = n * dt (n = 0 .. n_steps - 1). Metrics that do not apply are NaN.
 */
typedef struct moat_layout {
  size_t n_steps, n_labs, n_clouds;
  size_t off_market, off_lab, off_cloud, off_lab_path, off_path;
  size_t per_path; /* doubles per path */
} moat_layout_t;

void moat_layout_init(moat_layout_t *lay, size_t n_steps, size_t n_labs, size_t n_clouds);

static inline size_t moat_at_market(const moat_layout_t *l, int m, size_t n) {
  return l->off_market + (size_t)m * l->n_steps + n;
}
static inline size_t moat_at_lab(const moat_layout_t *l, int m, size_t lab, size_t n) {
  return l->off_lab + ((size_t)m * l->n_labs + lab) * l->n_steps + n;
}
static inline size_t moat_at_cloud(const moat_layout_t *l, int m, size_t cloud, size_t n) {
  return l->off_cloud + ((size_t)m * l->n_clouds + cloud) * l->n_steps + n;
}
static inline size_t moat_at_lab_path(const moat_layout_t *l, int m, size_t lab) {
  return l->off_lab_path + (size_t)m * l->n_labs + lab;
}
static inline size_t moat_at_path(const moat_layout_t *l, int m) { return l->off_path + (size_t)m; }

#endif
