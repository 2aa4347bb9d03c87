/* config_check.c — cross-field validation of a scenario and the size of its run. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_table.h"
#include "moatsim/metrics.h"

/* Bytes of one workspace per enterprise, offer and segment: utilities, shares, allocations and
 * the zeta sums (about 8 doubles each; MODEL.md §5-§6). */
#define WORKSPACE_DOUBLES 8.0

void moat_scenario_estimate(const moat_scenario_t *sc, int threads, moat_estimate_t *est) {
  double steps = nearbyint(sc->horizon_years * (double)sc->steps_per_year);
  int n_labs = sc->n_labs < 0 ? 0 : sc->n_labs, n_clouds = sc->n_clouds < 0 ? 0 : sc->n_clouds;
  int offers = 0;
  for (int l = 0; l < n_labs && l < MOAT_MAX_LABS; l++)
    offers += sc->labs[l].kind == MOAT_LAB_OPEN ? 2 + n_clouds : 2;
  double cells = (double)sc->enterprises.count * (double)offers * 2.0; /* two segments */
  moat_layout_t lay;
  size_t steps_z = steps >= 1.0 && steps <= 1e6 ? (size_t)steps : 1;
  moat_layout_init(&lay, steps_z, (size_t)n_labs, (size_t)n_clouds);
  est->steps = steps >= 0.0 && steps <= 1e9 ? (int)steps : -1;
  est->offers = offers;
  est->work = cells * steps * (double)sc->paths;
  est->workspace_bytes = cells * WORKSPACE_DOUBLES * 8.0 * (double)(threads > 0 ? threads : 1);
  est->results_bytes = (double)sc->paths * (double)lay.per_path * 8.0;
  est->total_bytes = est->workspace_bytes + est->results_bytes;
}

/* Add a warning (kept if there is room, always counted). */
static void warn_add(moat_warnings_t *w, const char *fmt, ...) {
  if (!w) return;
  if (w->n < MOAT_MAX_WARNINGS) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->text[w->n], MOAT_WARNING_MAX, fmt, ap);
    va_end(ap);
  }
  w->n++;
}

/* Labs and clouds: counts, kinds present, names unique. */
static int check_entries(const moat_scenario_t *sc, char *err, size_t errlen) {
  int closed = 0, open = 0;
  if (sc->n_labs < 0 || sc->n_labs > MOAT_MAX_LABS || sc->n_clouds < 0 || sc->n_clouds > MOAT_MAX_CLOUDS) {
    snprintf(err, errlen, "%d labs and %d clouds: at most %d labs and %d clouds", sc->n_labs,
             sc->n_clouds, MOAT_MAX_LABS, MOAT_MAX_CLOUDS);
    return MOAT_EINVAL;
  }
  for (int l = 0; l < sc->n_labs; l++) {
    if (sc->labs[l].kind == MOAT_LAB_OPEN) open++;
    else closed++;
    for (int m = 0; m < l; m++)
      if (strcmp(sc->labs[l].name, sc->labs[m].name) == 0) {
        snprintf(err, errlen, "labs entries %d and %d are both named \"%s\": names must be unique",
                 m + 1, l + 1, sc->labs[l].name);
        return MOAT_EINVAL;
      }
  }
  for (int c = 0; c < sc->n_clouds; c++)
    for (int m = 0; m < c; m++)
      if (strcmp(sc->clouds[c].name, sc->clouds[m].name) == 0) {
        snprintf(err, errlen, "clouds entries %d and %d are both named \"%s\": names must be unique",
                 m + 1, c + 1, sc->clouds[c].name);
        return MOAT_EINVAL;
      }
  if (closed < 1 || open < 1 || sc->n_clouds < 1) {
    snprintf(err, errlen, "the scenario has %d closed labs, %d open labs and %d clouds: it needs at "
             "least one of each (add entries to `labs` and `clouds`)", closed, open, sc->n_clouds);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* Restricted origins no lab has restrict nothing: probably a typo. */
static void check_origins(const moat_scenario_t *sc, moat_warnings_t *warn) {
  for (int o = 0; o < sc->governance.n_restricted_origins; o++) {
    const char *origin = sc->governance.restricted_origins[o];
    int found = 0;
    for (int l = 0; l < sc->n_labs && !found; l++) found = strcmp(sc->labs[l].origin, origin) == 0;
    if (!found)
      warn_add(warn, "governance.restricted_origins lists \"%s\" but no lab has that origin: "
               "the restriction has no effect", origin);
  }
}

static int check_size(const moat_scenario_t *sc, const moat_limits_t *lim, char *err, size_t errlen) {
  double steps = nearbyint(sc->horizon_years * (double)sc->steps_per_year);
  if (!(steps >= 1.0 && steps <= 10000.0)) {
    snprintf(err, errlen, "steps = round(horizon_years * steps_per_year) = round(%g * %d) = %.0f is "
             "outside [1, 10000]: change horizon_years or steps_per_year",
             sc->horizon_years, sc->steps_per_year, steps);
    return MOAT_EINVAL;
  }
  moat_estimate_t est;
  int threads = lim && lim->threads > 0 ? lim->threads : 1;
  double max = lim && lim->max_memory ? (double)lim->max_memory : (double)MOAT_DEFAULT_MAX_MEMORY;
  moat_scenario_estimate(sc, threads, &est);
  if (est.total_bytes > max) {
    snprintf(err, errlen, "the run needs about %.2f GiB (workspaces %.2f GiB for %d threads: "
             "enterprises.count = %d x %d offers x 2 segments; path results %.2f GiB: paths = %d x "
             "%d steps), more than --max-memory = %.2f GiB: reduce %s, or raise --max-memory",
             est.total_bytes / 1073741824.0, est.workspace_bytes / 1073741824.0, threads,
             sc->enterprises.count, est.offers, est.results_bytes / 1073741824.0, sc->paths,
             est.steps, max / 1073741824.0,
             est.workspace_bytes > est.results_bytes ? "enterprises.count or --threads"
                                                     : "paths (or horizon_years / steps_per_year)");
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

int moat_scenario_validate_ex(const moat_scenario_t *sc, const moat_limits_t *lim,
                              moat_warnings_t *warn, char *err, size_t errlen) {
  char inner[MOAT_ERR_MAX];
  int st = check_entries(sc, inner, sizeof inner);
  if (!st) st = moat_param_check_all(sc, NULL, inner, sizeof inner);
  if (!st && sc->output.file[0] == '\0') {
    snprintf(inner, sizeof inner, "output.file is empty: name the results file");
    st = MOAT_EINVAL;
  }
  if (!st) st = check_size(sc, lim, inner, sizeof inner);
  if (st) {
    snprintf(err, errlen, "%s", inner);
    return st;
  }
  check_origins(sc, warn);
  return MOAT_OK;
}

int moat_scenario_validate(const moat_scenario_t *sc, char *err, size_t errlen) {
  return moat_scenario_validate_ex(sc, NULL, NULL, err, errlen);
}
