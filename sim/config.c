/* config.c — scenario loading (placeholder: the parameter table lands next). */
#include <stdio.h>
#include <string.h>

#include "moatsim/config.h"

int moat_config_load_ex(moat_config_t *cfg, const char *path, const char *const *sets,
                        size_t n_sets, const moat_limits_t *lim, char *err, size_t errlen) {
  (void)sets; (void)n_sets; (void)lim;
  memset(cfg, 0, sizeof *cfg);
  snprintf(err, errlen, "%s: scenario loading is not built yet", path);
  return MOAT_ERUNTIME;
}
int moat_config_load(moat_config_t *cfg, const char *path, const char *const *sets, size_t n_sets,
                     char *err, size_t errlen) {
  return moat_config_load_ex(cfg, path, sets, n_sets, NULL, err, errlen);
}
void moat_config_clear(moat_config_t *cfg) { (void)cfg; }
int moat_scenario_set_number(moat_scenario_t *sc, const char *key, double value, char *err,
                             size_t errlen) {
  (void)sc; (void)value;
  snprintf(err, errlen, "%s: not built yet", key);
  return MOAT_EINVAL;
}
int moat_scenario_get_number(const moat_scenario_t *sc, const char *key, double *value, char *err,
                             size_t errlen) {
  (void)sc; (void)value;
  snprintf(err, errlen, "%s: not built yet", key);
  return MOAT_EINVAL;
}
int moat_scenario_validate(const moat_scenario_t *sc, char *err, size_t errlen) {
  return moat_scenario_validate_ex(sc, NULL, NULL, err, errlen);
}
int moat_scenario_validate_ex(const moat_scenario_t *sc, const moat_limits_t *lim,
                              moat_warnings_t *warn, char *err, size_t errlen) {
  (void)sc; (void)lim; (void)warn; (void)err; (void)errlen;
  return MOAT_OK;
}
void moat_scenario_estimate(const moat_scenario_t *sc, int threads, moat_estimate_t *est) {
  (void)sc; (void)threads;
  memset(est, 0, sizeof *est);
}
void moat_scenario_visit(const moat_scenario_t *sc, moat_param_visit_fn fn, void *ctx) {
  (void)sc; (void)fn; (void)ctx;
}
int moat_params_print(FILE *out, const char *format) { (void)out; (void)format; return MOAT_OK; }
