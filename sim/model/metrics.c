/* metrics.c — the metric tables and the per-path result layout. */
#include "moatsim/metrics.h"

#define MOAT_METRIC_INFO(id, name, units, long_name) {name, units, long_name},
const moat_metric_info_t moat_market_metrics[MOAT_N_MARKET] = {MOAT_MARKET_METRICS(MOAT_METRIC_INFO)};
const moat_metric_info_t moat_lab_metrics[MOAT_N_LAB] = {MOAT_LAB_METRICS(MOAT_METRIC_INFO)};
const moat_metric_info_t moat_cloud_metrics[MOAT_N_CLOUD] = {MOAT_CLOUD_METRICS(MOAT_METRIC_INFO)};
const moat_metric_info_t moat_lab_path_metrics[MOAT_N_LAB_PATH] = {
    MOAT_LAB_PATH_METRICS(MOAT_METRIC_INFO)};
const moat_metric_info_t moat_path_metrics[MOAT_N_PATH] = {MOAT_PATH_METRICS(MOAT_METRIC_INFO)};

void moat_layout_init(moat_layout_t *lay, size_t n_steps, size_t n_labs, size_t n_clouds) {
  lay->n_steps = n_steps;
  lay->n_labs = n_labs;
  lay->n_clouds = n_clouds;
  lay->off_market = 0;
  lay->off_lab = lay->off_market + (size_t)MOAT_N_MARKET * n_steps;
  lay->off_cloud = lay->off_lab + (size_t)MOAT_N_LAB * n_labs * n_steps;
  lay->off_lab_path = lay->off_cloud + (size_t)MOAT_N_CLOUD * n_clouds * n_steps;
  lay->off_path = lay->off_lab_path + (size_t)MOAT_N_LAB_PATH * n_labs;
  lay->per_path = lay->off_path + (size_t)MOAT_N_PATH;
}
