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
/* The results file's size, from h5stat on files of 6, 2000 and 20000 scenarios (180 chunked
 * summary datasets): HDF5 1.10's chunk index (v1 B-trees) takes one node of 2977 bytes per
 * dataset however few its chunks (536 kB of a 6-scenario file), then 53.4-53.6 bytes per chunk;
 * headers, groups, attributes and /params take 0.3 MB. Each rounded up, so the estimate bounds
 * the file from above: 1.24 MB for 1.08 MB written, 29.3 for 28.5 MB, 285 for 282 MB. */
#define INDEX_BYTES_PER_CHUNK 54.0
#define INDEX_NODE_BYTES 3072.0
#define FILE_FIXED_BYTES 300000.0
/* Summary variables per metric: mean, std, count (and quantiles when levels are asked for). */
#define METRICS (MOAT_N_MARKET + MOAT_N_LAB + MOAT_N_CLOUD + MOAT_N_LAB_PATH + MOAT_N_PATH)

/* Rows of the parameter table sc stores as numbers (integers and doubles; not booleans, lists
 * or strings): what /params holds one double of per scenario. */
static int numeric_params(const moat_scenario_t *sc, int n_labs, int n_clouds) {
  int n = 0;
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->type != MOAT_PT_INT && p->type != MOAT_PT_INT64 && p->type != MOAT_PT_DOUBLE) continue;
    if (p->scope == MOAT_PS_GLOBAL) n++;
    else if (p->scope == MOAT_PS_CLOUD) n += n_clouds;
    else
      for (int l = 0; l < n_labs; l++) n += (p->kinds & (1 << sc->labs[l].kind)) != 0;
  }
  return n;
}

/* Chunked datasets of a results file: four summaries per metric (three without quantiles), and
 * one for each metric's paths when they are kept. */
static double chunked_datasets(const moat_scenario_t *sc) {
  return METRICS * (3.0 + (sc->output.n_quantiles > 0 ? 1.0 : 0.0) + (sc->output.keep_paths ? 1.0 : 0.0));
}

/* The scenario's share of the results file (writer.c's layout: one chunk per scenario and
 * summary variable; paths in deflated chunks of about 1 MiB, counted uncompressed). */
static double file_bytes(const moat_scenario_t *sc, const moat_layout_t *lay, int n_numeric) {
  double q = sc->output.n_quantiles, per_path = (double)lay->per_path;
  double stats = per_path * (8.0 + 8.0 + 4.0 + 8.0 * q);
  double chunks = METRICS * (3.0 + (q > 0 ? 1.0 : 0.0)), paths = 0.0;
  if (sc->output.keep_paths) {
    paths = (double)sc->paths * per_path * 8.0;
    chunks += METRICS + ceil(paths / 1048576.0);
  }
  return stats + paths + chunks * INDEX_BYTES_PER_CHUNK + 8.0 * n_numeric + 4.0; /* /params row */
}

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
  est->numeric_params = numeric_params(sc, n_labs < MOAT_MAX_LABS ? n_labs : MOAT_MAX_LABS, n_clouds);
  est->file_bytes = file_bytes(sc, &lay, est->numeric_params);
  est->file_fixed_bytes = FILE_FIXED_BYTES + chunked_datasets(sc) * INDEX_NODE_BYTES;
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
