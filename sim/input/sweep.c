/* sweep.c — sweep designs (grid, list, Latin hypercube, Sobol, Saltelli, Morris, presets), expanded
 * one scenario at a time. */
#include "moatsim/sweep.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_qrng.h>

#include "config_table.h"

/* Largest design accepted: a sweep is expanded lazily, but its size is written to every output
 * dataset's scenario dimension, so an absurd count is an input error, not an allocation failure. */
#define MOAT_SWEEP_MAX_SCENARIOS 10000000UL
/* The probability mass kept away from 0 and 1 when a preset's quantile function is evaluated
 * (Sobol's first points are exact dyadic fractions; Phi^-1(0) is -inf). */
#define MOAT_SWEEP_U_EPS 1e-9

static const char *method_name(int method) {
  switch (method) {
  case MOAT_SWEEP_GRID: return "grid";
  case MOAT_SWEEP_LIST: return "list";
  case MOAT_SWEEP_LHS: return "lhs";
  case MOAT_SWEEP_SOBOL: return "sobol";
  case MOAT_SWEEP_SALTELLI: return "saltelli";
  case MOAT_SWEEP_MORRIS: return "morris";
  default: return "none";
  }
}

const char *moat_sweep_method_name(int method) { return method_name(method); }

/* Designs that sample the unit cube and map it through each axis's range or preset. */
static int is_sampled(int method) { return method >= MOAT_SWEEP_LHS && method <= MOAT_SWEEP_MORRIS; }

size_t moat_sweep_saltelli_block(int k, int second_order) {
  return (size_t)(second_order ? 2 * k + 2 : k + 2);
}

int moat_sweep_levels(const moat_sweep_t *sw) { return sw->levels > 0 ? sw->levels : 4; }

double moat_sweep_morris_delta(int levels) { return (double)levels / (2.0 * (levels - 1)); }

size_t moat_sweep_count(const moat_config_t *cfg) {
  const moat_sweep_t *sw = &cfg->sweep;
  if (sw->method == MOAT_SWEEP_NONE || sw->n_axes == 0) return 1;
  size_t samples = sw->samples > 0 ? (size_t)sw->samples : 0;
  if (sw->method == MOAT_SWEEP_SALTELLI) return samples * moat_sweep_saltelli_block(sw->n_axes, sw->second_order);
  if (sw->method == MOAT_SWEEP_MORRIS) return samples * (size_t)(sw->n_axes + 1);
  if (is_sampled(sw->method)) return samples;
  if (sw->method == MOAT_SWEEP_LIST) return sw->axes[0].n_values > 0 ? (size_t)sw->axes[0].n_values : 0;
  size_t n = 1;
  for (int a = 0; a < sw->n_axes; a++) {
    size_t k = sw->axes[a].n_values > 0 ? (size_t)sw->axes[a].n_values : 0;
    if (k == 0) return 0;
    if (n > MOAT_SWEEP_MAX_SCENARIOS / k) return MOAT_SWEEP_MAX_SCENARIOS + 1; /* saturate */
    n *= k;
  }
  return n;
}

/* splitmix64 (Steele, Lea & Flood 2014): a fixed mixing function for the design's randomness. */
static uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) { return mix64(mix64(mix64(a) ^ b) ^ c); }

/* A uniform double in [0, 1) from 53 bits of a hash. */
static double unit_from(uint64_t h) { return (double)(h >> 11) * (1.0 / 9007199254740992.0); }

/*
 * A keyed random permutation of [0, n), evaluated at one index without storing it: a balanced
 * Feistel network on the smallest even number of bits covering n, with cycle walking for
 * values >= n (Black & Rogaway 2002). Lets the Latin hypercube expand scenario k alone.
 */
static uint64_t permute(uint64_t k, uint64_t n, uint64_t key) {
  unsigned bits = 2;
  while (bits < 64 && (1ULL << bits) < n) bits += 2;
  unsigned half = bits / 2;
  uint64_t mask = (1ULL << half) - 1;
  uint64_t x = k;
  do {
    uint64_t left = x >> half, right = x & mask;
    for (uint64_t round = 0; round < 4; round++) {
      uint64_t f = hash3(key, round, right) & mask;
      uint64_t next = left ^ f;
      left = right;
      right = next;
    }
    x = (left << half) | right;
  } while (x >= n);
  return x;
}

/* Coordinate `coord` of point `index` (from the first) of GSL's Sobol sequence in `dims`
 * dimensions. GSL's generator is sequential; the point is reached by stepping from the start,
 * O(index * dims) per call: a few milliseconds for designs of thousands of points. GSL's first
 * point is (0.5, ..., 0.5), not the origin, so no point is skipped. */
static double sobol_coord(unsigned dims, size_t index, unsigned coord) {
  gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, dims);
  double point[2 * MOAT_SWEEP_SALTELLI_MAX_AXES];
  if (!q) return NAN;
  for (size_t i = 0; i <= index; i++) gsl_qrng_get(q, point);
  gsl_qrng_free(q);
  return point[coord];
}

/*
 * Saltelli (2002, 2010): base row j of a 2k-dimensional Sobol sequence holds A_j (the first k
 * coordinates) and B_j (the last k). Scenario j·block + r is A_j (r = 0), A_B^(i)_j = A_j with
 * column i from B_j (r = 1 + i), with second order B_A^(i)_j = B_j with column i from A_j
 * (r = 1 + k + i), and B_j (r = block − 1): SALib's order, so that a shard or a prefix of the
 * file holds whole rows.
 */
static double saltelli_unit(const moat_sweep_t *sw, size_t index, int axis) {
  int k = sw->n_axes;
  size_t block = moat_sweep_saltelli_block(k, sw->second_order);
  size_t j = index / block, r = index % block;
  int from_b;
  if (r == 0) from_b = 0;
  else if (r == block - 1) from_b = 1;
  else if (r <= (size_t)k) from_b = (size_t)axis == r - 1;
  else from_b = (size_t)axis != r - 1 - (size_t)k;
  return sobol_coord((unsigned)(2 * k), j, (unsigned)(from_b ? k + axis : axis));
}

/*
 * Morris (1991) trajectory t = index / (k + 1), step m = index % (k + 1): a base point on the
 * p-level grid {0, 1/(p−1), ..., 1}, drawn per axis among the p/2 levels l/(p−1) from which a
 * step of Delta = p/(2(p−1)) stays in [0, 1]; a direction per axis (up: start low, move to
 * low + Delta; down: the reverse); a random order of the axes. Step m has moved the axes whose
 * place in the order is < m, so consecutive points differ in exactly one axis by ±Delta. All
 * draws are keyed hashes of (seed, t, axis): any scenario is computed alone.
 */
static double morris_unit(const moat_config_t *cfg, size_t index, int axis) {
  const moat_sweep_t *sw = &cfg->sweep;
  int p = moat_sweep_levels(sw);
  uint64_t k = (uint64_t)sw->n_axes, t = (uint64_t)index / (k + 1), m = (uint64_t)index % (k + 1);
  uint64_t key = hash3(cfg->base.seed, 0x4d4f52ULL /* "MOR" */, t);
  uint64_t place = permute((uint64_t)axis, k, key);
  double level = floor(unit_from(hash3(key, 0x6c6576ULL /* "lev" */, (uint64_t)axis)) * (p / 2));
  double low = level / (p - 1), high = low + moat_sweep_morris_delta(p);
  int up = (hash3(key, 0x646972ULL /* "dir" */, (uint64_t)axis) & 1) != 0;
  int moved = m > place;
  return up == moved ? high : low;
}

/* Coordinate `axis` of point `index` of the unit-cube design, in [0, 1]. */
static double unit_value(const moat_config_t *cfg, size_t index, int axis) {
  const moat_sweep_t *sw = &cfg->sweep;
  if (sw->method == MOAT_SWEEP_SALTELLI) return saltelli_unit(sw, index, axis);
  if (sw->method == MOAT_SWEEP_MORRIS) return morris_unit(cfg, index, axis);
  if (sw->method == MOAT_SWEEP_LHS) {
    uint64_t n = (uint64_t)sw->samples;
    uint64_t key = hash3(cfg->base.seed, 0x4c4853ULL /* "LHS" */, (uint64_t)axis);
    uint64_t stratum = permute((uint64_t)index, n, key);
    double jitter = unit_from(hash3(key, 0x6a6974ULL /* "jit" */, (uint64_t)index));
    return ((double)stratum + jitter) / (double)n;
  }
  return sobol_coord((unsigned)sw->n_axes, index, (unsigned)axis);
}

/* Map a unit coordinate to the axis's value: uniform (or log-uniform) on [min, max], or the
 * preset's distribution: a two-piece normal in quantile space whose 5th, 50th and 95th
 * percentiles are exactly low, mid and high (in log space when log = true). */
static double axis_value_from_unit(const moat_sweep_axis_t *ax, double u) {
  if (ax->has_preset) {
    const double z95 = gsl_cdf_ugaussian_Pinv(0.95);
    double lo = ax->low, mid = ax->mid, hi = ax->high;
    if (ax->log) {
      lo = log(lo);
      mid = log(mid);
      hi = log(hi);
    }
    if (u < MOAT_SWEEP_U_EPS) u = MOAT_SWEEP_U_EPS;
    if (u > 1.0 - MOAT_SWEEP_U_EPS) u = 1.0 - MOAT_SWEEP_U_EPS;
    double z = gsl_cdf_ugaussian_Pinv(u);
    double x = mid + z * (z < 0 ? (mid - lo) : (hi - mid)) / z95;
    return ax->log ? exp(x) : x;
  }
  if (ax->log) return exp(log(ax->min) + u * (log(ax->max) - log(ax->min)));
  return ax->min + u * (ax->max - ax->min);
}

double moat_sweep_value(const moat_config_t *cfg, size_t index, int axis) {
  const moat_sweep_t *sw = &cfg->sweep;
  const moat_sweep_axis_t *ax = &sw->axes[axis];
  switch (sw->method) {
  case MOAT_SWEEP_LIST: return ax->values[index];
  case MOAT_SWEEP_GRID: {
    /* Last axis fastest: decompose index in mixed radix from the last axis. */
    size_t rest = index;
    for (int a = sw->n_axes - 1; a > axis; a--) rest /= (size_t)sw->axes[a].n_values;
    return ax->values[rest % (size_t)ax->n_values];
  }
  case MOAT_SWEEP_LHS:
  case MOAT_SWEEP_SOBOL:
  case MOAT_SWEEP_SALTELLI:
  case MOAT_SWEEP_MORRIS: return axis_value_from_unit(ax, unit_value(cfg, index, axis));
  default: return NAN;
  }
}

/* Prefix an error from the parameter table with the axis's location. */
static int axis_error(const moat_config_t *cfg, int axis, char *err, size_t errlen, const char *what) {
  const moat_sweep_axis_t *ax = &cfg->sweep.axes[axis];
  snprintf(err, errlen, "%s:%d: sweep axis %d (param = \"%s\"): %s", cfg->path, ax->line, axis + 1,
           ax->param, what);
  return MOAT_EINVAL;
}

int moat_sweep_scenario(const moat_config_t *cfg, size_t index, moat_scenario_t *out, char *err,
                        size_t errlen) {
  const moat_sweep_t *sw = &cfg->sweep;
  char inner[MOAT_ERR_MAX];
  *out = cfg->base;
  if (index >= moat_sweep_count(cfg)) {
    snprintf(err, errlen, "%s: scenario %zu does not exist: the sweep has %zu scenarios", cfg->path,
             index, moat_sweep_count(cfg));
    return MOAT_EINVAL;
  }
  if (sw->method == MOAT_SWEEP_NONE) return MOAT_OK;
  for (int a = 0; a < sw->n_axes; a++) {
    double v = moat_sweep_value(cfg, index, a);
    if (moat_scenario_set_number(out, sw->axes[a].param, v, inner, sizeof inner) != MOAT_OK)
      return axis_error(cfg, a, err, errlen, inner);
  }
  /* Memory was checked for the whole design at load (moat_sweep_check_memory, against the
   * run's limits): here only the scenario's own rules. */
  const moat_limits_t unlimited = {UINT64_MAX, 1};
  if (moat_scenario_validate_ex(out, &unlimited, NULL, inner, sizeof inner) != MOAT_OK) {
    snprintf(err, errlen, "%s: sweep scenario %zu is invalid: %s", cfg->path, index, inner);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* The ends lo < hi of axis a of a sampled design (min and max, or the preset's low and high,
 * `lo_name` naming lo): with log = true lo > 0, and both valid values of the parameter. */
static int check_axis_ends(const moat_config_t *cfg, int a, const char *lo_name, double lo, double hi,
                           moat_scenario_t *probe, char *err, size_t errlen) {
  const moat_sweep_axis_t *ax = &cfg->sweep.axes[a];
  char inner[MOAT_ERR_MAX];
  if (ax->log && !(lo > 0)) {
    snprintf(inner, sizeof inner, "log = true needs %s > 0, got %s = %g", lo_name, lo_name, lo);
    return axis_error(cfg, a, err, errlen, inner);
  }
  if (moat_scenario_set_number(probe, ax->param, lo, inner, sizeof inner) != MOAT_OK ||
      moat_scenario_set_number(probe, ax->param, hi, inner, sizeof inner) != MOAT_OK)
    return axis_error(cfg, a, err, errlen, inner);
  return MOAT_OK;
}

/* Check one axis: the key exists and is numeric, and its design values are usable. */
static int check_axis(const moat_config_t *cfg, int a, char *err, size_t errlen) {
  const moat_sweep_t *sw = &cfg->sweep;
  const moat_sweep_axis_t *ax = &sw->axes[a];
  char inner[MOAT_ERR_MAX], msg[MOAT_ERR_MAX];
  double current;
  moat_scenario_t probe = cfg->base;
  if (moat_scenario_get_number(&cfg->base, ax->param, &current, inner, sizeof inner) != MOAT_OK)
    return axis_error(cfg, a, err, errlen, inner);
  for (int b = 0; b < a; b++)
    if (strcmp(sw->axes[b].param, ax->param) == 0)
      return axis_error(cfg, a, err, errlen, "the same parameter is swept by an earlier axis; merge the two");
  if (!is_sampled(sw->method)) {
    if (ax->n_values < 1)
      return axis_error(cfg, a, err, errlen, "`values` is empty or missing: give a list such as [0.01, 0.03]");
    if (sw->method == MOAT_SWEEP_LIST && ax->n_values != sw->axes[0].n_values) {
      snprintf(msg, sizeof msg,
               "has %d values but axis 1 has %d: a list sweep takes row k from every axis, so all "
               "axes need the same number of values",
               ax->n_values, sw->axes[0].n_values);
      return axis_error(cfg, a, err, errlen, msg);
    }
    for (int k = 0; k < ax->n_values; k++)
      if (moat_scenario_set_number(&probe, ax->param, ax->values[k], inner, sizeof inner) != MOAT_OK)
        return axis_error(cfg, a, err, errlen, inner);
    return MOAT_OK;
  }
  if (ax->has_preset == ax->has_range) {
    snprintf(msg, sizeof msg, "a %s axis needs either `min` and `max`, or a preset `low`, `mid`, `high` "
             "(5th, 50th and 95th percentiles), not %s", method_name(sw->method),
             ax->has_preset ? "both" : "neither");
    return axis_error(cfg, a, err, errlen, msg);
  }
  if (ax->has_range) {
    if (!(ax->min < ax->max)) {
      snprintf(msg, sizeof msg, "min = %g is not below max = %g", ax->min, ax->max);
      return axis_error(cfg, a, err, errlen, msg);
    }
    return check_axis_ends(cfg, a, "min", ax->min, ax->max, &probe, err, errlen);
  }
  if (!(ax->low < ax->mid && ax->mid < ax->high)) {
    snprintf(msg, sizeof msg, "preset needs low < mid < high, got low = %g, mid = %g, high = %g",
             ax->low, ax->mid, ax->high);
    return axis_error(cfg, a, err, errlen, msg);
  }
  return check_axis_ends(cfg, a, "low", ax->low, ax->high, &probe, err, errlen);
}

/* The keys only some designs take (levels, second_order), and the sensitivity designs' limits. */
static int check_design_keys(const moat_config_t *cfg, char *err, size_t errlen) {
  const moat_sweep_t *sw = &cfg->sweep;
  if (sw->levels != 0 && sw->method != MOAT_SWEEP_MORRIS) {
    snprintf(err, errlen, "%s:%d: sweep.levels = %d applies to method = \"morris\" only (this sweep is "
             "\"%s\"): remove it", cfg->path, sw->line, sw->levels, method_name(sw->method));
    return MOAT_EINVAL;
  }
  if (sw->second_order && sw->method != MOAT_SWEEP_SALTELLI) {
    snprintf(err, errlen, "%s:%d: sweep.second_order applies to method = \"saltelli\" only (this sweep "
             "is \"%s\"): remove it", cfg->path, sw->line, method_name(sw->method));
    return MOAT_EINVAL;
  }
  if (sw->method == MOAT_SWEEP_SALTELLI && sw->n_axes > MOAT_SWEEP_SALTELLI_MAX_AXES) {
    snprintf(err, errlen, "%s:%d: a saltelli sweep has at most %d axes (its Sobol sequence has 2k "
             "dimensions and GSL's stops at 40), got %d: screen with method = \"morris\" first",
             cfg->path, sw->line, MOAT_SWEEP_SALTELLI_MAX_AXES, sw->n_axes);
    return MOAT_EINVAL;
  }
  if (sw->method == MOAT_SWEEP_SALTELLI && sw->samples == 1) {
    snprintf(err, errlen, "%s:%d: sweep.samples = 1: a saltelli sweep needs at least 2 base rows "
             "(variances and bootstrap); 64 or more is usual", cfg->path, sw->line);
    return MOAT_EINVAL;
  }
  if (sw->method == MOAT_SWEEP_MORRIS)
    for (int a = 0; a < sw->n_axes; a++)
      if (sw->axes[a].has_preset)
        return axis_error(cfg, a, err, errlen, "a morris axis takes `min` and `max` (its grid spans the "
                          "range), not a preset low/mid/high");
  return MOAT_OK;
}

int moat_sweep_check(const moat_config_t *cfg, char *err, size_t errlen) {
  const moat_sweep_t *sw = &cfg->sweep;
  if (sw->method == MOAT_SWEEP_NONE) return MOAT_OK;
  if (sw->n_axes < 1) {
    snprintf(err, errlen, "%s:%d: sweep.axes is empty: a %s sweep needs at least one axis", cfg->path,
             sw->line, method_name(sw->method));
    return MOAT_EINVAL;
  }
  if (is_sampled(sw->method) && (sw->samples < 1 || (unsigned long)sw->samples > MOAT_SWEEP_MAX_SCENARIOS)) {
    snprintf(err, errlen, "%s:%d: sweep.samples = %d is outside [1, %lu]: the number of %s points",
             cfg->path, sw->line, sw->samples, MOAT_SWEEP_MAX_SCENARIOS, method_name(sw->method));
    return MOAT_EINVAL;
  }
  int err_rc = check_design_keys(cfg, err, errlen);
  if (err_rc != MOAT_OK) return err_rc;
  if (sw->method == MOAT_SWEEP_SOBOL && (unsigned)sw->n_axes > gsl_qrng_sobol->max_dimension) {
    snprintf(err, errlen, "%s:%d: sweep has %d axes but GSL's Sobol sequence supports at most %u "
             "dimensions: use method = \"lhs\", or fewer axes",
             cfg->path, sw->line, sw->n_axes, gsl_qrng_sobol->max_dimension);
    return MOAT_EINVAL;
  }
  for (int a = 0; a < sw->n_axes; a++) {
    int rc = check_axis(cfg, a, err, errlen);
    if (rc != MOAT_OK) return rc;
  }
  if (moat_sweep_count(cfg) > MOAT_SWEEP_MAX_SCENARIOS) {
    snprintf(err, errlen, "%s:%d: the %s sweep has more than %lu scenarios: use fewer values per axis, "
             "or an lhs design", cfg->path, sw->line, method_name(sw->method), MOAT_SWEEP_MAX_SCENARIOS);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* ---- the size of the whole design ---- */

#define GIB 1073741824.0

/* The largest value axis ax takes: grid and list their largest value, lhs and sobol their max or
 * the preset's value at the clamped upper tail (the map from u is increasing). */
static double axis_top(const moat_sweep_t *sw, const moat_sweep_axis_t *ax) {
  if (is_sampled(sw->method)) return axis_value_from_unit(ax, 1.0);
  double top = -INFINITY;
  for (int k = 0; k < ax->n_values; k++)
    if (ax->values[k] > top) top = ax->values[k];
  return top;
}

void moat_sweep_envelope(const moat_config_t *cfg, moat_scenario_t *env) {
  const moat_sweep_t *sw = &cfg->sweep;
  *env = cfg->base;
  for (int a = 0; sw->method != MOAT_SWEEP_NONE && a < sw->n_axes; a++) {
    moat_param_ref_t ref;
    char ignored[MOAT_ERR_MAX];
    if (moat_param_resolve(env, sw->axes[a].param, &ref, ignored, sizeof ignored) != MOAT_OK) continue;
    double v = fmin(fmax(axis_top(sw, &sw->axes[a]), ref.param->min), ref.param->max);
    moat_param_store_number(ref.param, ref.base, v);
  }
}

void moat_sweep_estimate(const moat_config_t *cfg, int threads, moat_run_estimate_t *est) {
  moat_scenario_t env;
  moat_sweep_envelope(cfg, &env);
  moat_scenario_estimate(&env, threads, &est->largest);
  est->n_scenarios = moat_sweep_count(cfg);
  double n = (double)est->n_scenarios;
  est->sweep_bytes = n * MOAT_BYTES_PER_SCENARIO(est->largest.numeric_params);
  est->memory_bytes = est->largest.total_bytes + est->sweep_bytes;
  est->file_bytes = est->largest.file_fixed_bytes + (double)(cfg->text ? strlen(cfg->text) : 0) +
                    n * est->largest.file_bytes;
}

/* "file:line: sweep.samples = N" or "file:line: the grid sweep has N scenarios (3 x 4 values)",
 * and what to change to have fewer. */
static void design_text(const moat_config_t *cfg, size_t n, char *what, size_t wlen, char *fix,
                        size_t flen) {
  const moat_sweep_t *sw = &cfg->sweep;
  if (is_sampled(sw->method)) {
    if ((size_t)sw->samples == n)
      snprintf(what, wlen, "%s:%d: sweep.samples = %d", cfg->path, sw->line, sw->samples);
    else
      snprintf(what, wlen, "%s:%d: sweep.samples = %d (%zu scenarios in the %s design)", cfg->path,
               sw->line, sw->samples, n, moat_sweep_method_name(sw->method));
    snprintf(fix, flen, "lower sweep.samples");
    return;
  }
  int used = snprintf(what, wlen, "%s:%d: the %s sweep has %zu scenarios (", cfg->path, sw->line,
                      method_name(sw->method), n);
  for (int a = 0; a < sw->n_axes && used > 0 && (size_t)used < wlen; a++)
    used += snprintf(what + used, wlen - (size_t)used, "%s%d", a ? " x " : "", sw->axes[a].n_values);
  if (used > 0 && (size_t)used < wlen)
    snprintf(what + used, wlen - (size_t)used, " values%s)",
             sw->method == MOAT_SWEEP_LIST ? " per axis, zipped" : " on its axes");
  snprintf(fix, flen, "give fewer values per axis");
}

/* The first axis that raises a size parameter above the base scenario's value, or -1. */
static int growing_axis(const moat_config_t *cfg, const moat_scenario_t *env) {
  static const char *const sizes[] = {"paths", "enterprises.count", "horizon_years", "steps_per_year"};
  for (int a = 0; cfg->sweep.method != MOAT_SWEEP_NONE && a < cfg->sweep.n_axes; a++)
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      double top, base;
      char ignored[MOAT_ERR_MAX];
      if (strcmp(cfg->sweep.axes[a].param, sizes[k]) == 0 &&
          moat_scenario_get_number(env, sizes[k], &top, ignored, sizeof ignored) == MOAT_OK &&
          moat_scenario_get_number(&cfg->base, sizes[k], &base, ignored, sizeof ignored) == MOAT_OK &&
          top > base)
        return a;
    }
  return -1;
}

/* Bytes as "1.50 GiB", "12.3 MiB" or "14.2 KiB". */
static void human_bytes(double b, char *out, size_t len) {
  if (b >= GIB) snprintf(out, len, "%.2f GiB", b / GIB);
  else if (b >= 1048576.0) snprintf(out, len, "%.1f MiB", b / 1048576.0);
  else snprintf(out, len, "%.1f KiB", b / 1024.0);
}

int moat_sweep_check_memory(const moat_config_t *cfg, const moat_limits_t *lim, char *err,
                            size_t errlen) {
  int threads = lim && lim->threads > 0 ? lim->threads : 1;
  double max = lim && lim->max_memory ? (double)lim->max_memory : (double)MOAT_DEFAULT_MAX_MEMORY;
  moat_run_estimate_t est;
  moat_sweep_estimate(cfg, threads, &est);
  if (est.memory_bytes <= max) return MOAT_OK;
  char what[MOAT_PATH_MAX + 256], fix[64];
  if (est.sweep_bytes > est.largest.total_bytes) {
    double per = MOAT_BYTES_PER_SCENARIO(est.largest.numeric_params);
    double fit = floor(fmax(max - est.largest.total_bytes, 0.0) / per);
    design_text(cfg, est.n_scenarios, what, sizeof what, fix, sizeof fix);
    snprintf(err, errlen, "%s: the run needs about %.2f GiB, %.2f GiB of it for the parameters of "
             "%zu scenarios (%d numbers each, held while the results file is created), more than "
             "--max-memory = %.2f GiB: at most %.0f scenarios fit; %s, or raise --max-memory",
             what, est.memory_bytes / GIB, est.sweep_bytes / GIB, est.n_scenarios,
             est.largest.numeric_params, max / GIB, fit, fix);
    return MOAT_EINVAL;
  }
  moat_scenario_t env;
  moat_sweep_envelope(cfg, &env);
  int a = growing_axis(cfg, &env);
  char msg[MOAT_ERR_MAX], need[32], ws[32], paths[32], sweep[32];
  human_bytes(est.largest.total_bytes, need, sizeof need);
  human_bytes(est.largest.workspace_bytes, ws, sizeof ws);
  human_bytes(est.largest.results_bytes, paths, sizeof paths);
  human_bytes(est.sweep_bytes, sweep, sizeof sweep);
  snprintf(msg, sizeof msg, "its largest scenario (paths = %d, enterprises.count = %d, %d steps) "
           "needs about %s (workspaces %s for %d threads, path results %s), and the %zu scenarios "
           "%s more, beyond --max-memory = %.2f GiB: lower the axis's largest value, or raise "
           "--max-memory",
           env.paths, env.enterprises.count, est.largest.steps, need, ws, threads, paths,
           est.n_scenarios, sweep, max / GIB);
  if (a >= 0) return axis_error(cfg, a, err, errlen, msg);
  snprintf(err, errlen, "%s:%d: the sweep: %s", cfg->path, cfg->sweep.line, msg);
  return MOAT_EINVAL;
}

int moat_sweep_check_output(const moat_config_t *cfg, double max_bytes, const char *limit,
                            char *err, size_t errlen) {
  moat_run_estimate_t est;
  moat_sweep_estimate(cfg, 1, &est);
  if (est.file_bytes <= max_bytes) return MOAT_OK;
  const moat_scenario_t *b = &cfg->base;
  char what[MOAT_PATH_MAX + 256], fix[160];
  double per = est.largest.file_bytes;
  double paths = b->output.keep_paths ? (double)est.largest.results_bytes : 0.0;
  if (paths > per / 2) {
    snprintf(what, sizeof what, "%s: output.keep_paths = true with paths = %d", cfg->path, b->paths);
    char rest[32];
    human_bytes(per - paths, rest, sizeof rest);
    snprintf(fix, sizeof fix, "set output.keep_paths = false (the summaries take %s a scenario), "
             "or lower paths", rest);
  } else if (cfg->sweep.method != MOAT_SWEEP_NONE) {
    char less[64];
    design_text(cfg, est.n_scenarios, what, sizeof what, less, sizeof less);
    double fit = floor(fmax(max_bytes - (est.file_bytes - (double)est.n_scenarios * per), 0.0) / per);
    snprintf(fix, sizeof fix, "at most %.0f scenarios fit: %s", fit, less);
  } else {
    snprintf(what, sizeof what, "%s: %d steps x %d labs", cfg->path, est.largest.steps, b->n_labs);
    snprintf(fix, sizeof fix, "shorten horizon_years or lower steps_per_year");
  }
  char total[32], each[32];
  human_bytes(est.file_bytes, total, sizeof total);
  human_bytes(per, each, sizeof each);
  snprintf(err, errlen, "%s: the results file would take about %s (%zu scenario%s x %s, "
           "uncompressed), more than %s: %s, or give it more room (-o on another filesystem, "
           "ulimit -f)",
           what, total, est.n_scenarios, est.n_scenarios == 1 ? "" : "s", each, limit, fix);
  return MOAT_EINVAL;
}
