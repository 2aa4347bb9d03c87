/* analysis_cmd.c — `moatsim sensitivity` (Sobol or Morris indices of named outputs) and
 * `moatsim discover` (PRIM boxes for a condition) on a results file; docs/analysis.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "moatsim/analysis_io.h"
#include "moatsim/cli.h"
#include "moatsim/output_spec.h"
#include "moatsim/prim.h"
#include "moatsim/scenario.h"
#include "moatsim/sensitivity.h"
#include "moatsim/sweep.h"
#include "moatsim/writer_h5.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
#define MAX_OUTPUTS 32

static const char usage_sensitivity[] =
    "usage: moatsim sensitivity FILE.h5 --output SPEC [--output SPEC ...] [OPTIONS]\n"
    "\n"
    "Sensitivity indices of each output over the swept parameters, ranked: Sobol first-order S_i\n"
    "(Saltelli 2010) and total-order S_Ti (Jansen 1999) from a saltelli design, or Morris mu*,\n"
    "mu, sigma from a morris design; 95 % bootstrap intervals (1000 resamples, fixed seed).\n"
    "SPEC names one value per scenario: [group/]metric[[lab]][@T][:stat], e.g.\n"
    "premium_flagship@10y, labs/valuation[closed-a]@5y:p95, lab_exits:median (docs/analysis.md).\n"
    "  -o, --out FILE           sidecar file for the /analysis group (default FILE.sensitivity.h5)\n"
    "  --force                  replace an existing sidecar file\n"
    "  --no-noise-correction    keep the paths' sampling noise in the indices of a :mean\n"
    "  --help                   this text\n";

static const char usage_discover[] =
    "usage: moatsim discover FILE.h5 --where 'SPEC < VALUE' [OPTIONS]\n"
    "\n"
    "Scenario discovery with PRIM (Friedman & Fisher 1999): peel (alpha = 0.05) and paste boxes\n"
    "over the swept parameters where the condition holds; prints the peeling trajectory\n"
    "(coverage, density, size) and the chosen box's limits, coverage, density, scenarios and\n"
    "quasi-p-value per restricted parameter. Any sweep of at least 50 scenarios.\n"
    "Operators: <, <=, >, >=. SPEC as for moatsim sensitivity.\n"
    "  --box STEP               report this step of the trajectory (default: the densest box\n"
    "                           whose coverage is at least --min-coverage)\n"
    "  --min-coverage C         default 0.5\n"
    "  -o, --out FILE           sidecar file for the /analysis group (default FILE.discover.h5)\n"
    "  --force                  replace an existing sidecar file\n"
    "  --help                   this text\n";

/* Options of both commands. */
typedef struct analysis_opts {
  const char *file, *out;
  const char *outputs[MAX_OUTPUTS];
  int n_outputs;
  const char *where;
  int force, no_noise;
  long box;
  double min_coverage;
  char cmdline[2048];
} analysis_opts_t;

static int bad_value(const char *cmd, const char *option, const char *value, const char *want,
                     const char *usage) {
  fprintf(stderr, "moatsim %s: %s '%s' is not %s\n%s", cmd, option, value, want, usage);
  return EXIT_USAGE;
}

/* Parse argv; -1 to go on, or the exit code. */
static int parse(int argc, char **argv, analysis_opts_t *o, const char *usage) {
  memset(o, 0, sizeof *o);
  o->box = -1;
  o->min_coverage = 0.5;
  for (int k = 0; k < argc; k++) {
    size_t used = strlen(o->cmdline);
    snprintf(o->cmdline + used, sizeof o->cmdline - used, "%s%s", k ? " " : "moatsim ", argv[k]);
  }
  for (int k = 1; k < argc; k++) {
    const char *a = argv[k], *next = k + 1 < argc ? argv[k + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return EXIT_OK;
    }
    int takes = !strcmp(a, "--output") || !strcmp(a, "--where") || !strcmp(a, "-o") || !strcmp(a, "--out") ||
                !strcmp(a, "--box") || !strcmp(a, "--min-coverage");
    if (takes && !next) {
      fprintf(stderr, "moatsim %s: %s needs a value\n%s", argv[0], a, usage);
      return EXIT_USAGE;
    }
    char *end = NULL;
    if (!strcmp(a, "--output") && o->n_outputs < MAX_OUTPUTS) o->outputs[o->n_outputs++] = next, k++;
    else if (!strcmp(a, "--where")) o->where = next, k++;
    else if (!strcmp(a, "-o") || !strcmp(a, "--out")) o->out = next, k++;
    else if (!strcmp(a, "--box")) {
      o->box = strtol(next, &end, 10), k++;
      if (end == next || *end || o->box < 0) return bad_value(argv[0], a, next, "a step number >= 0", usage);
    } else if (!strcmp(a, "--min-coverage")) {
      o->min_coverage = strtod(next, &end), k++;
      if (end == next || *end || !(o->min_coverage >= 0 && o->min_coverage <= 1))
        return bad_value(argv[0], a, next, "a number in [0, 1]", usage);
    }
    else if (!strcmp(a, "--force")) o->force = 1;
    else if (!strcmp(a, "--no-noise-correction")) o->no_noise = 1;
    else if (!o->file && a[0] != '-') o->file = a;
    else {
      fprintf(stderr, "moatsim %s: unexpected argument '%s'\n%s", argv[0], a, usage);
      return EXIT_USAGE;
    }
  }
  if (!o->file) {
    fprintf(stderr, "moatsim %s: no results file given\n%s", argv[0], usage);
    return EXIT_USAGE;
  }
  return -1;
}

/* Whether the file's scenarios share their paths' random numbers (MODEL.md §9): then each
 * scenario's noise is common to all and must not be subtracted. Recorded as the /params
 * attribute sweep_common_random_numbers (absent: independent paths, as files of version 1). */
static int common_random_numbers(hid_t f) {
  hid_t g = H5Gopen2(f, "params", H5P_DEFAULT);
  long long v = 0;
  if (g >= 0 && H5Aexists(g, "sweep_common_random_numbers") > 0) {
    hid_t a = H5Aopen(g, "sweep_common_random_numbers", H5P_DEFAULT);
    if (a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, &v) < 0) v = 0;
    if (a >= 0) H5Aclose(a);
  }
  if (g >= 0) H5Gclose(g);
  return v != 0;
}

/* ---- sensitivity -------------------------------------------------------------------------- */

/* Every output's indices, k per output, in one block per statistic. */
typedef struct sens_table {
  int n_out, k, morris;
  double *a, *a_low, *a_high; /* S_Ti, or mu* */
  double *b, *b_low, *b_high; /* S_i, or mu */
  double *c;                  /* sigma (morris) */
  double *s2;                 /* k x k per output (second order) */
  double *variance, *noise;   /* per output (saltelli) */
  int *rank;                  /* 1 = largest S_Ti or mu* */
} sens_table_t;

static int table_alloc(sens_table_t *t, int n_out, int k, int morris) {
  size_t n = (size_t)n_out * (size_t)k;
  memset(t, 0, sizeof *t);
  t->n_out = n_out, t->k = k, t->morris = morris;
  double **cols[] = {&t->a, &t->a_low, &t->a_high, &t->b, &t->b_low, &t->b_high, &t->c};
  int ok = 1;
  for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) ok &= (*cols[i] = calloc(n, sizeof(double))) != NULL;
  t->s2 = calloc(n * (size_t)k, sizeof(double));
  t->variance = calloc((size_t)n_out, sizeof(double));
  t->noise = calloc((size_t)n_out, sizeof(double));
  t->rank = calloc(n, sizeof(int));
  return ok && t->s2 && t->variance && t->noise && t->rank ? MOAT_OK : MOAT_ENOMEM;
}

static void table_free(sens_table_t *t) {
  double *cols[] = {t->a, t->a_low, t->a_high, t->b, t->b_low, t->b_high, t->c, t->s2, t->variance, t->noise};
  for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) free(cols[i]);
  free(t->rank);
}

/* Rank of each parameter of output j by the first statistic, largest first (ties: axis order). */
static void rank_output(sens_table_t *t, int j) {
  const double *v = t->a + (size_t)j * (size_t)t->k;
  for (int i = 0; i < t->k; i++) {
    int r = 1;
    for (int l = 0; l < t->k; l++) r += v[l] > v[i] || (v[l] == v[i] && l < i);
    t->rank[(size_t)j * (size_t)t->k + (size_t)i] = r;
  }
}

/* Check the file holds the design the estimator needs; the rows or trajectories in *rows. */
static int check_design(const moat_design_t *d, const char *file, size_t *rows, char *err, size_t errlen) {
  int saltelli = !strcmp(d->method, "saltelli"), morris = !strcmp(d->method, "morris");
  if (!saltelli && !morris) {
    snprintf(err, errlen, "'%s' holds a %s sweep; moatsim sensitivity needs sweep.method = \"saltelli\" (Sobol "
             "indices) or \"morris\" (elementary effects); moatsim discover works on any sweep of >= 50 "
             "scenarios", file, d->method);
    return MOAT_EINVAL;
  }
  size_t block = saltelli ? moat_sweep_saltelli_block(d->k, d->second_order) : (size_t)d->k + 1;
  *rows = d->n_scenarios / block;
  if (d->samples < 2 || *rows != (size_t)d->samples || *rows * block != d->n_scenarios) {
    snprintf(err, errlen, "'%s': %zu scenarios do not make %d %s of %zu (the design's attributes and its "
             "scenarios disagree)", file, d->n_scenarios, d->samples, saltelli ? "rows" : "trajectories", block);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* Estimate output j's indices into the table. */
static int estimate(sens_table_t *t, int j, const moat_design_t *d, size_t rows, const double *y,
                    const double *noise, char *err, size_t errlen) {
  size_t off = (size_t)j * (size_t)t->k;
  if (t->morris) {
    moat_morris_t m = {t->b + off, t->a + off, t->a_low + off, t->a_high + off, t->c + off};
    return moat_morris_estimate(y, d->x, rows, d->k, moat_sweep_morris_delta(d->levels), &m, err, errlen);
  }
  moat_sobol_t s = {t->b + off, t->b_low + off, t->b_high + off, t->a + off, t->a_low + off, t->a_high + off,
                    t->s2 + off * (size_t)t->k, 0, 0};
  int st = moat_sobol_estimate(y, noise, rows, d->k, d->second_order, &s, err, errlen);
  t->variance[j] = s.variance;
  t->noise[j] = s.noise;
  return st;
}

static void print_output(const sens_table_t *t, int j, const moat_design_t *d, const char *name) {
  size_t off = (size_t)j * (size_t)t->k;
  if (t->morris)
    printf("\noutput %s\n  rank  %-44s %10s  %-21s %10s %10s\n", name, "parameter", "mu*", "[95 % interval]", "mu",
           "sigma");
  else
    printf("\noutput %s  (variance %.4g%s)\n  rank  %-44s %7s  %-17s %7s  %-17s\n", name, t->variance[j],
           t->noise[j] > 0 ? ", paths' noise subtracted" : "", "parameter", "S_Ti", "[95 % interval]", "S_i",
           "[95 % interval]");
  for (int r = 1; r <= t->k; r++)
    for (int i = 0; i < t->k; i++) {
      size_t at = off + (size_t)i;
      if (t->rank[at] != r) continue;
      if (t->morris)
        printf("  %4d  %-44s %10.4g  [%9.4g, %9.4g] %10.4g %10.4g\n", r, d->params[i], t->a[at], t->a_low[at],
               t->a_high[at], t->b[at], t->c[at]);
      else
        printf("  %4d  %-44s %7.3f  [%6.3f, %6.3f] %7.3f  [%6.3f, %6.3f]\n", r, d->params[i], t->a[at],
               t->a_low[at], t->a_high[at], t->b[at], t->b_low[at], t->b_high[at]);
    }
}

/* Interleave low/high arrays into (output, parameter, bound). */
static double *bounds(const sens_table_t *t, const double *low, const double *high) {
  size_t n = (size_t)t->n_out * (size_t)t->k;
  double *v = malloc(2 * n * sizeof *v);
  for (size_t i = 0; v && i < n; i++) v[2 * i] = low[i], v[2 * i + 1] = high[i];
  return v;
}

static int write_sensitivity(moat_sidecar_t *sc, const sens_table_t *t, const moat_design_t *d,
                             const analysis_opts_t *o) {
  static const char *const bound_names[] = {"low", "high"};
  hid_t dp = moat_sidecar_dim(sc, "parameter", (size_t)d->k, (const char *const *)d->params, NULL, "swept parameter");
  hid_t dout = moat_sidecar_dim(sc, "output", (size_t)t->n_out, o->outputs, NULL, "output (docs/analysis.md notation)");
  hid_t db = moat_sidecar_dim(sc, "bound", 2, bound_names, NULL, "bound of the 95 % bootstrap interval");
  hid_t d2[2] = {dout, dp}, d3[3] = {dout, dp, db};
  double *ci_a = bounds(t, t->a_low, t->a_high), *ci_b = bounds(t, t->b_low, t->b_high);
  int st = dp < 0 || dout < 0 || db < 0 || !ci_a || !ci_b ? MOAT_EIO : MOAT_OK;
  const char *na = t->morris ? "mu_star" : "ST", *nb = t->morris ? "mu" : "S1";
  char conf[32];
  if (st == MOAT_OK)
    st = moat_sidecar_var(sc, na, 2, d2, t->a, 0, t->morris ? "output units" : "1",
                          t->morris ? "Morris mu*: mean absolute elementary effect (per unit range)"
                                    : "total-order Sobol index S_Ti (Jansen 1999)");
  snprintf(conf, sizeof conf, "%s_conf", na);
  if (st == MOAT_OK) st = moat_sidecar_var(sc, conf, 3, d3, ci_a, 0, t->morris ? "output units" : "1", "95 % bootstrap interval");
  if (st == MOAT_OK)
    st = moat_sidecar_var(sc, nb, 2, d2, t->b, 0, t->morris ? "output units" : "1",
                          t->morris ? "Morris mu: mean elementary effect" : "first-order Sobol index S_i (Saltelli 2010)");
  if (st == MOAT_OK && !t->morris) st = moat_sidecar_var(sc, "S1_conf", 3, d3, ci_b, 0, "1", "95 % bootstrap interval");
  if (st == MOAT_OK && t->morris)
    st = moat_sidecar_var(sc, "sigma", 2, d2, t->c, 0, "output units", "Morris sigma: standard deviation of the elementary effects");
  if (st == MOAT_OK)
    st = moat_sidecar_var(sc, "rank", 2, d2, t->rank, 1, "1", t->morris ? "rank by mu* (1 = largest)" : "rank by S_Ti (1 = largest)");
  if (st == MOAT_OK && !t->morris) {
    hid_t d1[1] = {dout};
    st = moat_sidecar_var(sc, "variance", 1, d1, t->variance, 0, "output units^2", "variance of the output over A and B, less the noise");
    if (st == MOAT_OK) st = moat_sidecar_var(sc, "noise_variance", 1, d1, t->noise, 0, "output units^2",
                                             "mean sampling variance of one scenario's value subtracted (0: none)");
  }
  if (st == MOAT_OK && !t->morris && d->second_order) {
    hid_t dq = moat_sidecar_dim(sc, "parameter_j", (size_t)d->k, (const char *const *)d->params, NULL, "second parameter");
    hid_t ds2[3] = {dout, dp, dq};
    st = dq < 0 ? MOAT_EIO : moat_sidecar_var(sc, "S2", 3, ds2, t->s2, 0, "1", "second-order Sobol index S_ij (i < j)");
    if (dq >= 0) H5Dclose(dq);
  }
  if (st == MOAT_OK &&
      (moat_h5_attr_text(sc->group, "method", d->method) < 0 || moat_h5_attr_int(sc->group, "samples", d->samples) < 0 ||
       moat_h5_attr_int(sc->group, "levels", d->levels) < 0 || moat_h5_attr_int(sc->group, "second_order", d->second_order) < 0 ||
       moat_h5_attr_int(sc->group, "bootstrap", MOAT_SENS_BOOTSTRAP) < 0 ||
       moat_h5_attr_double(sc->group, "level", MOAT_SENS_LEVEL) < 0 ||
       moat_h5_attr_uint64(sc->group, "bootstrap_seed", MOAT_SENS_SEED) < 0))
    st = MOAT_EIO;
  free(ci_a);
  free(ci_b);
  for (hid_t *id = (hid_t[]){dp, dout, db}, *e = id + 3; id < e; id++)
    if (*id >= 0) H5Dclose(*id);
  return st;
}

/* Open the file and read its design; -1 to go on, or the exit code (message printed). */
/* Print a failure of `moatsim cmd` and return its exit code (2 for bad input, else 1). */
static int report_failure(const char *cmd, int st, const char *err) {
  fprintf(stderr, "moatsim %s: %s\n", cmd, err);
  return st == MOAT_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
}

static int open_design(const char *cmd, const char *file, hid_t *f, moat_design_t *d) {
  int rc;
  char err[MOAT_ERR_MAX];
  *f = moat_cli_open_results(cmd, file, &rc);
  if (*f < 0) return EXIT_USAGE;
  int st = moat_design_read(*f, file, d, err, sizeof err);
  if (st != MOAT_OK) {
    H5Fclose(*f);
    return report_failure(cmd, st, err);
  }
  return -1;
}

/* Create the sidecar file: --out, else FILE with `suffix` (".sensitivity.h5"). */
static int create_sidecar(const analysis_opts_t *o, const char *suffix, hid_t f, moat_sidecar_t *sc, char *err,
                          size_t errlen) {
  char out[1024];
  moat_sidecar_default_name(out, sizeof out, o->file, suffix);
  return moat_sidecar_create(sc, o->out ? o->out : out, o->force, o->file, f, o->cmdline, err, errlen);
}

/* Finish the sidecar or report why not. */
static int close_sidecar(const char *cmd, moat_sidecar_t *sc, int st) {
  char err[MOAT_ERR_MAX];
  if (st == MOAT_OK && moat_sidecar_finish(sc, err, sizeof err) == MOAT_OK) {
    printf("\nwrote %s (group /analysis)\n", sc->path);
    return EXIT_OK;
  }
  if (st != MOAT_OK) {
    moat_h5_error(err, sizeof err, "cannot write", sc->path);
    moat_sidecar_abort(sc);
  }
  fprintf(stderr, "moatsim %s: %s\n", cmd, err);
  return EXIT_RUNTIME;
}

/* Read and estimate every output. */
static int sensitivity_outputs(hid_t f, const analysis_opts_t *o, const moat_design_t *d, size_t rows,
                               sens_table_t *t, char *err, size_t errlen) {
  int correct = !o->no_noise && !common_random_numbers(f);
  double *y = malloc(d->n_scenarios * sizeof *y), *noise = malloc(d->n_scenarios * sizeof *noise);
  int st = y && noise ? MOAT_OK : MOAT_ENOMEM;
  for (int j = 0; st == MOAT_OK && j < o->n_outputs; j++) {
    moat_output_spec_t spec;
    char inner[MOAT_ERR_MAX / 2];
    st = moat_output_spec_parse(o->outputs[j], &spec, err, errlen);
    if (st == MOAT_OK) st = moat_output_read(f, &spec, y, noise, d->n_scenarios, err, errlen);
    int use_noise = correct && !strcmp(spec.stat, "mean");
    if (st == MOAT_OK && (st = estimate(t, j, d, rows, y, use_noise ? noise : NULL, inner, sizeof inner)) != MOAT_OK)
      snprintf(err, errlen, "output '%.200s': %s", o->outputs[j], inner);
    if (st == MOAT_OK) rank_output(t, j);
  }
  free(y);
  free(noise);
  return st;
}

int moat_cmd_sensitivity(int argc, char **argv) {
  analysis_opts_t o;
  int rc = parse(argc, argv, &o, usage_sensitivity);
  if (rc >= 0) return rc;
  if (o.n_outputs == 0) {
    fprintf(stderr, "moatsim sensitivity: name at least one output with --output SPEC, e.g. --output "
                    "premium_flagship@10y\n%s", usage_sensitivity);
    return EXIT_USAGE;
  }
  hid_t f;
  moat_design_t d;
  if ((rc = open_design("sensitivity", o.file, &f, &d)) >= 0) return rc;
  char err[MOAT_ERR_MAX];
  size_t rows = 0;
  sens_table_t t;
  memset(&t, 0, sizeof t);
  int st = check_design(&d, o.file, &rows, err, sizeof err);
  if (st == MOAT_OK) st = table_alloc(&t, o.n_outputs, d.k, !strcmp(d.method, "morris"));
  if (st == MOAT_OK) st = sensitivity_outputs(f, &o, &d, rows, &t, err, sizeof err);
  moat_sidecar_t sc;
  if (st == MOAT_OK) st = create_sidecar(&o, ".sensitivity.h5", f, &sc, err, sizeof err);
  if (st != MOAT_OK) {
    rc = report_failure("sensitivity", st, err);
  } else {
    printf("%s: %s design, %zu %s, %d parameters, %zu scenarios; 95 %% intervals from %d bootstrap "
           "resamples\n", o.file, d.method, rows, t.morris ? "trajectories" : "base rows", d.k, d.n_scenarios,
           MOAT_SENS_BOOTSTRAP);
    for (int j = 0; j < o.n_outputs; j++) print_output(&t, j, &d, o.outputs[j]);
    rc = close_sidecar("sensitivity", &sc, write_sensitivity(&sc, &t, &d, &o));
  }
  table_free(&t);
  moat_design_clear(&d);
  H5Fclose(f);
  return rc;
}

/* ---- discover ----------------------------------------------------------------------------- */

static void print_prim(const moat_prim_t *p, size_t chosen, const double *qp, const moat_design_t *d) {
  printf("\npeeling trajectory (alpha = %.2f; + marks a pasted box)\n  %4s %9s %9s %9s %6s %10s\n", MOAT_PRIM_ALPHA,
         "step", "coverage", "density", "mass", "n", "restricted");
  for (size_t b = 0; b < p->n_steps; b++) {
    const moat_prim_box_t *x = &p->steps[b];
    printf("  %3zu%s %9.3f %9.3f %9.3f %6zu %10d%s\n", b, x->pasted ? "+" : " ", x->coverage, x->density, x->mass,
           x->n, x->restricted, b == chosen ? "   <- box" : "");
  }
  const moat_prim_box_t *box = &p->steps[chosen];
  printf("\nbox (step %zu): coverage %.3f, density %.3f, %zu scenarios (%zu where the condition holds)\n", chosen,
         box->coverage, box->density, box->n, box->n_hit);
  printf("  %-44s %11s %11s   %-25s %9s\n", "parameter", "low", "high", "(range in the sweep)", "quasi-p");
  for (int i = 0; i < d->k; i++) {
    if (isnan(qp[i])) continue;
    printf("  %-44s %11.4g %11.4g   [%10.4g, %10.4g] %9.2g\n", d->params[i], box->low[i], box->high[i],
           p->steps[0].low[i], p->steps[0].high[i], qp[i]);
  }
  if (box->restricted == 0) printf("  (no parameter restricted)\n");
}

static int write_discover(moat_sidecar_t *sc, const moat_prim_t *p, size_t chosen, const double *qp,
                          const moat_design_t *d, const char *where, size_t n_hit) {
  static const char *const bound_names[] = {"low", "high"};
  size_t n = p->n_steps, k = (size_t)d->k;
  hid_t dstep = moat_sidecar_dim(sc, "step", n, NULL, NULL, "step of the peeling (then pasting) trajectory");
  hid_t dp = moat_sidecar_dim(sc, "parameter", k, (const char *const *)d->params, NULL, "swept parameter");
  hid_t db = moat_sidecar_dim(sc, "bound", 2, bound_names, NULL, "lower and upper limit");
  double *cov = malloc(n * sizeof *cov), *den = malloc(n * sizeof *den), *mass = malloc(n * sizeof *mass);
  double *lim = malloc(n * k * 2 * sizeof *lim), box[2 * 20 * 2];
  int *cnt = malloc(n * sizeof *cnt), *hits = malloc(n * sizeof *hits), *res = malloc(n * sizeof *res), *pasted = malloc(n * sizeof *pasted);
  int st = dstep < 0 || dp < 0 || db < 0 || !cov || !den || !mass || !lim || !cnt || !hits || !res || !pasted ? MOAT_EIO : MOAT_OK;
  double *boxl = k <= 20 ? box : malloc(2 * k * sizeof *boxl);
  for (size_t b = 0; st == MOAT_OK && b < n; b++) {
    const moat_prim_box_t *x = &p->steps[b];
    cov[b] = x->coverage, den[b] = x->density, mass[b] = x->mass;
    cnt[b] = (int)x->n, hits[b] = (int)x->n_hit, res[b] = x->restricted, pasted[b] = x->pasted;
    for (size_t i = 0; i < k; i++) lim[(b * k + i) * 2] = x->low[i], lim[(b * k + i) * 2 + 1] = x->high[i];
  }
  for (size_t i = 0; st == MOAT_OK && boxl && i < k; i++)
    boxl[2 * i] = p->steps[chosen].low[i], boxl[2 * i + 1] = p->steps[chosen].high[i];
  hid_t ds1[1] = {dstep}, dsl[3] = {dstep, dp, db}, dbx[2] = {dp, db}, dq[1] = {dp};
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "coverage", 1, ds1, cov, 0, "1", "share of the scenarios where the condition holds that lie in the box");
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "density", 1, ds1, den, 0, "1", "share of the box's scenarios where the condition holds");
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "mass", 1, ds1, mass, 0, "1", "share of all scenarios in the box (its size)");
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "n", 1, ds1, cnt, 1, "1", "scenarios in the box");
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "n_hit", 1, ds1, hits, 1, "1", "of which the condition holds");
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "restricted", 1, ds1, res, 1, "1", "parameters the box restricts");
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "pasted", 1, ds1, pasted, 1, "1", "1 for a box from the pasting step");
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "limits", 3, dsl, lim, 0, "parameter units", "box limits at each step");
  if (st == MOAT_OK) st = boxl ? moat_sidecar_var(sc, "box_limits", 2, dbx, boxl, 0, "parameter units", "the chosen box's limits") : MOAT_ENOMEM;
  if (st == MOAT_OK) st = moat_sidecar_var(sc, "quasi_p", 1, dq, qp, 0, "1", "quasi-p-value of the box's restriction on the parameter (NaN: unrestricted)");
  const moat_prim_box_t *c = &p->steps[chosen];
  if (st == MOAT_OK &&
      (moat_h5_attr_text(sc->group, "method", "prim") < 0 || moat_h5_attr_text(sc->group, "condition", where) < 0 ||
       moat_h5_attr_int(sc->group, "chosen_step", (int64_t)chosen) < 0 ||
       moat_h5_attr_double(sc->group, "box_coverage", c->coverage) < 0 ||
       moat_h5_attr_double(sc->group, "box_density", c->density) < 0 ||
       moat_h5_attr_int(sc->group, "box_n", (int64_t)c->n) < 0 ||
       moat_h5_attr_int(sc->group, "n_scenarios", (int64_t)d->n_scenarios) < 0 ||
       moat_h5_attr_int(sc->group, "n_hit", (int64_t)n_hit) < 0 ||
       moat_h5_attr_double(sc->group, "alpha", MOAT_PRIM_ALPHA) < 0 ||
       moat_h5_attr_double(sc->group, "mass_min", MOAT_PRIM_MASS_MIN) < 0))
    st = MOAT_EIO;
  free(cov), free(den), free(mass), free(lim), free(cnt), free(hits), free(res), free(pasted);
  if (boxl != box) free(boxl);
  for (hid_t *id = (hid_t[]){dstep, dp, db}, *e = id + 3; id < e; id++)
    if (*id >= 0) H5Dclose(*id);
  return st;
}

/* Evaluate the condition on every scenario into hit; count in *n_hit. */
static int condition_hits(hid_t f, const char *where, const moat_design_t *d, unsigned char *hit, size_t *n_hit,
                          char *err, size_t errlen) {
  moat_output_spec_t spec;
  int op;
  double threshold;
  int st = moat_condition_parse(where, &spec, &op, &threshold, err, errlen);
  double *y = malloc(d->n_scenarios * sizeof *y);
  if (st == MOAT_OK && !y) st = MOAT_ENOMEM;
  if (st == MOAT_OK) st = moat_output_read(f, &spec, y, NULL, d->n_scenarios, err, errlen);
  *n_hit = 0;
  for (size_t s = 0; st == MOAT_OK && s < d->n_scenarios; s++) {
    if (isnan(y[s])) {
      snprintf(err, errlen, "'%s' is NaN in scenario %zu (no path has a value there)", spec.text, s);
      st = MOAT_EINVAL;
    }
    hit[s] = (unsigned char)moat_condition_holds(op, y[s], threshold);
    *n_hit += hit[s];
  }
  free(y);
  return st;
}

int moat_cmd_discover(int argc, char **argv) {
  analysis_opts_t o;
  int rc = parse(argc, argv, &o, usage_discover);
  if (rc >= 0) return rc;
  if (!o.where) {
    fprintf(stderr, "moatsim discover: give the condition with --where, e.g. --where 'premium_flagship@10y < 5'\n%s",
            usage_discover);
    return EXIT_USAGE;
  }
  hid_t f;
  moat_design_t d;
  if ((rc = open_design("discover", o.file, &f, &d)) >= 0) return rc;
  char err[MOAT_ERR_MAX];
  unsigned char *hit = malloc(d.n_scenarios ? d.n_scenarios : 1);
  size_t n_hit = 0;
  moat_prim_t p = {0, 0, NULL};
  double *qp = malloc((size_t)d.k * sizeof *qp);
  int st = hit && qp ? condition_hits(f, o.where, &d, hit, &n_hit, err, sizeof err) : MOAT_ENOMEM;
  if (st == MOAT_OK) st = moat_prim_run(d.x, hit, d.n_scenarios, d.k, MOAT_PRIM_ALPHA, MOAT_PRIM_MASS_MIN, &p, err, sizeof err);
  size_t chosen = st == MOAT_OK ? moat_prim_choose(&p, o.min_coverage) : 0;
  if (st == MOAT_OK && o.box >= 0) {
    if ((size_t)o.box >= p.n_steps) {
      snprintf(err, sizeof err, "--box %ld: the trajectory has steps 0 to %zu", o.box, p.n_steps - 1);
      st = MOAT_EINVAL;
    }
    chosen = (size_t)o.box;
  }
  moat_sidecar_t sc;
  if (st == MOAT_OK) st = create_sidecar(&o, ".discover.h5", f, &sc, err, sizeof err);
  if (st != MOAT_OK) {
    rc = report_failure("discover", st, err);
  } else {
    moat_prim_quasi_p(d.x, hit, d.n_scenarios, &p, chosen, qp);
    printf("%s: %s design, %zu scenarios, %d parameters\ncondition %s holds in %zu of %zu scenarios\n", o.file,
           d.method, d.n_scenarios, d.k, o.where, n_hit, d.n_scenarios);
    print_prim(&p, chosen, qp, &d);
    rc = close_sidecar("discover", &sc, write_discover(&sc, &p, chosen, qp, &d, o.where, n_hit));
  }
  moat_prim_clear(&p);
  free(hit);
  free(qp);
  moat_design_clear(&d);
  H5Fclose(f);
  return rc;
}
