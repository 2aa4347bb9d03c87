/* output_spec.c — parse output names and conditions, and read one output per scenario from a
 * results file (docs/analysis.md, notation). */
#include "moatsim/output_spec.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moatsim/scenario.h"
#include "moatsim/writer_h5.h"

static const char form[] =
    "the form is [group/]metric[[lab or cloud]][@T][:stat], e.g. premium_flagship@10y, "
    "labs/valuation[closed-a]@5y:p95, lab_exits:median (stat: mean, std, median, pNN)";

/* Copy [from, to) into dst (size n); 0, or -1 when it does not fit or is empty. */
static int take(char *dst, size_t n, const char *from, const char *to) {
  size_t len = (size_t)(to - from);
  if (len == 0 || len >= n) return -1;
  memcpy(dst, from, len);
  dst[len] = '\0';
  return 0;
}

static int bad(char *err, size_t errlen, const char *text, const char *what) {
  snprintf(err, errlen, "output '%s': %s; %s", text, what, form);
  return MOAT_EINVAL;
}

/* The statistic: mean, std, median or pNN (NN a percentage in (0, 100)). */
static int parse_stat(moat_output_spec_t *o, const char *s, char *err, size_t errlen) {
  if (strlen(s) >= sizeof o->stat) return bad(err, errlen, o->text, "the statistic is too long");
  snprintf(o->stat, sizeof o->stat, "%s", s);
  o->level = -1;
  if (!strcmp(s, "mean") || !strcmp(s, "std")) return MOAT_OK;
  if (!strcmp(s, "median")) {
    o->level = 0.5;
    return MOAT_OK;
  }
  char *end;
  double pct = s[0] == 'p' ? strtod(s + 1, &end) : NAN;
  if (s[0] != 'p' || end == s + 1 || *end || !(pct > 0 && pct < 100))
    return bad(err, errlen, o->text, "the statistic after ':' is not mean, std, median or pNN");
  o->level = pct / 100;
  return MOAT_OK;
}

int moat_output_spec_parse(const char *text, moat_output_spec_t *o, char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  while (isspace((unsigned char)*text)) text++;
  snprintf(o->text, sizeof o->text, "%s", text);
  for (char *e = o->text + strlen(o->text); e > o->text && isspace((unsigned char)e[-1]);) *--e = '\0';
  const char *p = o->text, *slash = strchr(p, '/');
  snprintf(o->group, sizeof o->group, "market");
  if (slash) {
    if (take(o->group, sizeof o->group, p, slash) ||
        (strcmp(o->group, "market") && strcmp(o->group, "labs") && strcmp(o->group, "clouds")))
      return bad(err, errlen, o->text, "the group before '/' is not market, labs or clouds");
    p = slash + 1;
  }
  const char *end = p + strcspn(p, "[@:");
  if (take(o->metric, sizeof o->metric, p, end)) return bad(err, errlen, o->text, "no metric name");
  p = end;
  if (*p == '[') {
    const char *close = strchr(p, ']');
    if (!close || take(o->member, sizeof o->member, p + 1, close))
      return bad(err, errlen, o->text, "'[' without a name and a closing ']'");
    p = close + 1;
  }
  if (*p == '@') {
    char *after;
    o->time = strtod(p + 1, &after);
    if (after == p + 1 || !(o->time >= 0)) return bad(err, errlen, o->text, "'@' is not followed by a time in years");
    if (*after == 'y') after++;
    o->has_time = 1;
    p = after;
  }
  if (*p == ':') return parse_stat(o, p + 1, err, errlen);
  if (*p) return bad(err, errlen, o->text, "unexpected text after the name");
  return parse_stat(o, "mean", err, errlen);
}

int moat_condition_parse(const char *text, moat_output_spec_t *spec, int *op, double *threshold, char *err,
                         size_t errlen) {
  const char *at = strpbrk(text, "<>");
  if (!at) {
    snprintf(err, errlen, "condition '%s' has no comparison: write OUTPUT < VALUE (or <=, >, >=), e.g. "
             "'premium_flagship@10y < 5'", text);
    return MOAT_EINVAL;
  }
  char name[256];
  if (take(name, sizeof name, text, at)) {
    snprintf(err, errlen, "condition '%s' has no output before the comparison", text);
    return MOAT_EINVAL;
  }
  int eq = at[1] == '=';
  *op = at[0] == '<' ? (eq ? MOAT_OP_LE : MOAT_OP_LT) : (eq ? MOAT_OP_GE : MOAT_OP_GT);
  char *end;
  *threshold = strtod(at + 1 + eq, &end);
  while (isspace((unsigned char)*end)) end++;
  if (end == at + 1 + eq || *end || !isfinite(*threshold)) {
    snprintf(err, errlen, "condition '%s': the comparison is not followed by a number", text);
    return MOAT_EINVAL;
  }
  return moat_output_spec_parse(name, spec, err, errlen);
}

int moat_condition_holds(int op, double value, double threshold) {
  switch (op) {
  case MOAT_OP_LT: return value < threshold;
  case MOAT_OP_LE: return value <= threshold;
  case MOAT_OP_GT: return value > threshold;
  default: return value >= threshold;
  }
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Names of the metrics of a group (variables X_mean), comma-separated, into buf. */
static herr_t add_metric(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)g, (void)info;
  char *buf = data;
  size_t len = strlen(name), used = strlen(buf);
  if (len > 5 && !strcmp(name + len - 5, "_mean") && used + len < 4000)
    snprintf(buf + used, 4096 - used, "%s%.*s", used ? ", " : "", (int)(len - 5), name);
  return 0;
}

/* Where the value sits in a variable: index along the member, quantile and time dimensions
 * (-1 when the variable has no such dimension). */
typedef struct locate {
  long member, quantile, time;
} locate_t;

static int find_member(hid_t g, const moat_output_spec_t *o, locate_t *at, char *err, size_t errlen) {
  const char *dim = !strcmp(o->group, "labs") ? "lab" : "cloud";
  hsize_t n = 0;
  char **names = moat_h5_read_strings(g, dim, &n);
  char list[2048] = "";
  at->member = -1;
  for (hsize_t i = 0; names && i < n; i++) {
    if (!strcmp(names[i], o->member)) at->member = (long)i;
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
  }
  moat_h5_free_strings(names, n);
  if (at->member >= 0) return MOAT_OK;
  snprintf(err, errlen, "output '%s': %s '%s' is not in the file%s%s; the %ss are: %s", o->text, dim,
           o->member, o->member[0] ? "" : " (give it in brackets:", o->member[0] ? "" : " metric[name])", dim, list);
  return MOAT_EINVAL;
}

static int find_time(hid_t g, const moat_output_spec_t *o, locate_t *at, char *err, size_t errlen) {
  hsize_t n = 0;
  double *t = moat_h5_read_time_years(g, "time", &n);
  at->time = -1;
  for (hsize_t i = 0; t && i < n; i++)
    if (t[i] <= o->time + 1e-9) at->time = (long)i;
  double last = t && n ? t[n - 1] : 0, first = t && n ? t[0] : 0, dt = t && n > 1 ? t[1] - t[0] : 0;
  free(t);
  /* time holds the start of each step (n dt): the horizon itself, T = n_steps dt, reads the last */
  if (at->time >= 0 && o->time <= last + dt + 1e-9) return MOAT_OK;
  snprintf(err, errlen, "output '%s': time %g years is outside the file's time axis [%g, %g] years (steps "
           "start at these times; @T reads the last step starting at or before T)", o->text, o->time, first,
           last + dt);
  return MOAT_EINVAL;
}

static int find_quantile(hid_t g, const moat_output_spec_t *o, locate_t *at, char *err, size_t errlen) {
  hsize_t n = 0;
  double *q = moat_h5_read_doubles(g, "quantile", &n);
  char list[512] = "";
  at->quantile = -1;
  for (hsize_t i = 0; q && i < n; i++) {
    if (fabs(q[i] - o->level) < 1e-9) at->quantile = (long)i;
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%sp%g", i ? ", " : "", 100 * q[i]);
  }
  free(q);
  if (at->quantile >= 0) return MOAT_OK;
  snprintf(err, errlen, "output '%s': the file holds no quantile at level %g (output.quantiles): it has %s, "
           "or use :mean or :std", o->text, o->level, list);
  return MOAT_EINVAL;
}

/* Read element [s, (q), (member), (t)] of `var` for every scenario s. */
static int read_column(hid_t g, const char *var, const locate_t *at, double *y, size_t n_scen) {
  hid_t ds = H5Dopen2(g, var, H5P_DEFAULT);
  if (ds < 0) return -1;
  hid_t fs = H5Dget_space(ds);
  int rank = H5Sget_simple_extent_ndims(fs), d = 1;
  hsize_t start[4] = {0}, count[4] = {n_scen, 1, 1, 1};
  if (at->quantile >= 0 && strstr(var, "_quantile")) start[d++] = (hsize_t)at->quantile;
  if (at->member >= 0) start[d++] = (hsize_t)at->member;
  if (at->time >= 0) start[d++] = (hsize_t)at->time;
  int ok = d == rank;
  hid_t ms = H5Screate_simple(1, (hsize_t[]){n_scen}, NULL);
  ok = ok && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
       H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, y) >= 0;
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(ds);
  return ok ? 0 : -1;
}

/* The metric's variable's rank without the scenario: whether it has member and time dims. */
static int metric_shape(hid_t g, const moat_output_spec_t *o, int *has_time, char *err, size_t errlen) {
  char var[96], list[4096] = "";
  snprintf(var, sizeof var, "%s_mean", o->metric);
  if (H5Lexists(g, var, H5P_DEFAULT) <= 0) {
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_metric, list);
    snprintf(err, errlen, "output '%s': no metric '%s' in /%s; it has: %s", o->text, o->metric, o->group, list);
    return MOAT_EINVAL;
  }
  hid_t ds = H5Dopen2(g, var, H5P_DEFAULT), sp = H5Dget_space(ds);
  int rank = H5Sget_simple_extent_ndims(sp);
  H5Sclose(sp);
  H5Dclose(ds);
  int members = strcmp(o->group, "market") != 0;
  *has_time = rank - 1 - members == 1;
  if (*has_time && !o->has_time) {
    snprintf(err, errlen, "output '%s': %s varies over time: say when with @T, e.g. %s@10y", o->text, o->metric,
             o->text);
    return MOAT_EINVAL;
  }
  if (!*has_time && o->has_time) {
    snprintf(err, errlen, "output '%s': %s is one value per path (no time axis): drop the @T", o->text, o->metric);
    return MOAT_EINVAL;
  }
  if (!members && o->member[0]) {
    snprintf(err, errlen, "output '%s': /market has no labs or clouds: drop the [%s], or name labs/%s", o->text,
             o->member, o->metric);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* Every scenario written (scenario_done = 1). */
static int check_done(hid_t f, size_t n_scen, char *err, size_t errlen) {
  hid_t ds = H5Dopen2(f, "/market/scenario_done", H5P_DEFAULT);
  unsigned char *done = malloc(n_scen ? n_scen : 1);
  int ok = ds >= 0 && done && H5Dread(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) >= 0;
  size_t missing = 0, first = 0;
  for (size_t s = 0; ok && s < n_scen; s++)
    if (!done[s] && missing++ == 0) first = s;
  free(done);
  if (ds >= 0) H5Dclose(ds);
  if (ok && !missing) return MOAT_OK;
  snprintf(err, errlen, "%zu of %zu scenarios are not written (the first: %zu): is it a shard or an "
           "interrupted run? merge the shards (moatsim merge) or finish it (moatsim run --resume)",
           missing, n_scen, first);
  return MOAT_EINVAL;
}

int moat_output_read(hid_t f, const moat_output_spec_t *o, double *y, double *noise, size_t n_scen, char *err,
                     size_t errlen) {
  int st = check_done(f, n_scen, err, errlen), has_time = 0;
  if (st != MOAT_OK) return st;
  hid_t g = H5Gopen2(f, o->group, H5P_DEFAULT);
  if (g < 0) {
    snprintf(err, errlen, "output '%s': the file has no /%s group", o->text, o->group);
    return MOAT_EINVAL;
  }
  locate_t at = {-1, -1, -1};
  st = metric_shape(g, o, &has_time, err, errlen);
  if (st == MOAT_OK && strcmp(o->group, "market")) st = find_member(g, o, &at, err, errlen);
  if (st == MOAT_OK && has_time) st = find_time(g, o, &at, err, errlen);
  if (st == MOAT_OK && o->level >= 0) st = find_quantile(g, o, &at, err, errlen);
  char var[96];
  snprintf(var, sizeof var, "%s_%s", o->metric, o->level >= 0 ? "quantile" : o->stat);
  if (st == MOAT_OK && read_column(g, var, &at, y, n_scen) < 0) {
    snprintf(err, errlen, "output '%s': cannot read /%s/%s", o->text, o->group, var);
    st = MOAT_EIO;
  }
  if (st == MOAT_OK && noise) {
    double *count = malloc(n_scen * sizeof *count);
    snprintf(var, sizeof var, "%s_std", o->metric);
    int ok = count && read_column(g, var, &at, noise, n_scen) == 0;
    snprintf(var, sizeof var, "%s_count", o->metric);
    ok = ok && read_column(g, var, &at, count, n_scen) == 0;
    for (size_t s = 0; s < n_scen; s++)
      noise[s] = !strcmp(o->stat, "mean") && ok && count[s] >= 2 ? noise[s] * noise[s] / count[s] : 0.0;
    free(count);
  }
  H5Gclose(g);
  return st;
}
