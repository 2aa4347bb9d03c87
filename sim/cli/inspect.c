/* inspect.c — `moatsim info FILE` (provenance and contents) and `moatsim summary FILE` (headline
 * results at 1, 3, 5 and 10 years) of a results file. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "moatsim/cli.h"
#include "moatsim/scenario.h"
#include "moatsim/writer.h"
#include "moatsim/writer_h5.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static const char usage_info[] =
    "usage: moatsim info FILE.h5 [--scenario] [--verify]\n"
    "\n"
    "Print the provenance of a results file (root attributes: versions, seed, command line, ...)\n"
    "and its contents (groups, dimensions, variables with their dimensions and units).\n"
    "  --scenario   also print the scenario text the run used\n"
    "  --verify     first read every dataset in full against its checksum (Fletcher-32, object\n"
    "               headers, strings_digest); a damaged file exits 2 naming what is damaged\n";

static const char usage_summary[] =
    "usage: moatsim summary FILE.h5 [--scenario K]\n"
    "\n"
    "Print headline results at 1, 3, 5 and 10 years (the last step at or before each):\n"
    "flagship premium (p5, p50, p95), closed volume and revenue shares, local share, share of\n"
    "demand left unserved (the outside option), closed\n"
    "labs' re-rating and dilution (medians), and each closed lab's DCF ratio (median).\n"
    "  --scenario K  only scenario K (default: every scenario, at most the first 10)\n";

/* ---- opening a results file --------------------------------------------------------------- */

/* Open `file` read-only and check it is a moatsim results file; prints why not. Returns the
 * file id, or a negative value with *rc set to the exit code: a missing, unreadable, damaged or
 * foreign file is an input error (2), like a bad scenario file. */
static hid_t open_results(const char *cmd, const char *file, int *rc) {
  moat_h5_quiet();
  struct stat st;
  *rc = EXIT_USAGE;
  if (stat(file, &st) != 0) {
    fprintf(stderr, "moatsim %s: cannot open '%s': %s\n", cmd, file, strerror(errno));
    return -1;
  }
  if (H5Fis_hdf5(file) <= 0) {
    fprintf(stderr, "moatsim %s: '%s' is not an HDF5 file: give a results file written by "
                    "moatsim run\n", cmd, file);
    return -1;
  }
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    char err[MOAT_ERR_MAX];
    moat_h5_error(err, sizeof err, "cannot open", file);
    fprintf(stderr, "moatsim %s: %s (the file is incomplete or damaged: write it again with moatsim run)\n", cmd, err);
    return -1;
  }
  char version[64];
  if (H5Aexists(f, "format_version") <= 0 ||
      moat_h5_attr_read_text(f, "moatsim_version", version, sizeof version) != 0) {
    fprintf(stderr, "moatsim %s: '%s' is an HDF5 file but not a moatsim results file (no "
                    "format_version / moatsim_version attributes)\n", cmd, file);
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return -1;
  }
  *rc = EXIT_OK;
  return f;
}

hid_t moat_cli_open_results(const char *cmd, const char *file, int *rc) { return open_results(cmd, file, rc); }

/* ---- info --------------------------------------------------------------------------------- */

/* Print a scalar or short attribute value. */
static void print_attr_value(hid_t a) {
  hid_t t = H5Aget_type(a);
  H5T_class_t cls = H5Tget_class(t);
  if (cls == H5T_STRING && !H5Tis_variable_str(t)) {
    size_t n = H5Tget_size(t);
    char *buf = calloc(n + 1, 1);
    if (buf && H5Aread(a, t, buf) >= 0) printf("%s", buf);
    free(buf);
  } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    double v = NAN;
    long long i = 0;
    if (cls == H5T_INTEGER && H5Aread(a, H5T_NATIVE_LLONG, &i) >= 0) printf("%lld", i);
    else if (cls == H5T_FLOAT && H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0) printf("%.6g", v);
  } else {
    printf("(not shown)");
  }
  H5Tclose(t);
}

static herr_t print_root_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  (void)info, (void)data;
  if (strcmp(name, "scenario_text") == 0) return 0;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return 0;
  printf("  %-18s ", name);
  print_attr_value(a);
  if (strcmp(name, "format_version") == 0) {
    long long v = 0;
    H5Aread(a, H5T_NATIVE_LLONG, &v);
    printf(v >= 2 ? " (CF-1.10 layout, docs/output.md)" : " (layout before CF: time in years, no Conventions)");
  }
  printf("\n");
  H5Aclose(a);
  return 0;
}

/* "name(dim, dim) [sizes] units" for a dataset. */
static void print_variable(hid_t ds, const char *name) {
  hid_t sp = H5Dget_space(ds);
  int rank = H5Sget_simple_extent_ndims(sp);
  hsize_t dims[H5S_MAX_RANK];
  H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  printf("    %s(", name);
  for (int d = 0; d < rank; d++) {
    char dim[64] = "?";
    if (H5DSis_scale(ds) > 0) H5DSget_scale_name(ds, dim, sizeof dim);
    else moat_h5_dim_name(ds, (unsigned)d, dim, sizeof dim);
    printf("%s%s=%llu", d ? ", " : "", dim, (unsigned long long)dims[d]);
  }
  char units[64] = "";
  moat_h5_attr_read_text(ds, "units", units, sizeof units);
  printf(")%s%s\n", units[0] ? "  " : "", units);
}

static herr_t print_link(hid_t g, const char *name, const H5L_info_t *info, void *data);

/* Members of a group in creation order (moatsim files track it), else by name. */
static void list_group(hid_t g, const char *path) {
  if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, print_link, (void *)(uintptr_t)path) < 0) {
    H5Eclear2(H5E_DEFAULT);
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, print_link, (void *)(uintptr_t)path);
  }
}

static herr_t print_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  const char *prefix = data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0) return 0;
  char path[512];
  snprintf(path, sizeof path, "%s/%s", prefix, name);
  if (oi.type == H5O_TYPE_GROUP) {
    printf("  group %s\n", path);
    hid_t sub = H5Gopen2(g, name, H5P_DEFAULT);
    if (sub >= 0) {
      list_group(sub, path);
      H5Gclose(sub);
    }
  } else if (oi.type == H5O_TYPE_DATASET) {
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds >= 0) {
      print_variable(ds, name);
      H5Dclose(ds);
    }
  }
  return 0;
}

/* Scenarios marked done in /market/scenario_done, or -1. */
static long count_done(hid_t f, long *total) {
  *total = -1;
  hid_t ds = H5Dopen2(f, "/market/scenario_done", H5P_DEFAULT);
  if (ds < 0) return -1;
  hid_t sp = H5Dget_space(ds);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  unsigned char *done = malloc(n ? n : 1);
  long count = -1;
  if (done && H5Dread(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) >= 0) {
    count = 0;
    for (hsize_t k = 0; k < n; k++) count += done[k] != 0;
    *total = (long)n;
  }
  free(done);
  H5Dclose(ds);
  return count;
}

int moat_cmd_info(int argc, char **argv) {
  const char *file = NULL;
  int show_scenario = 0, verify = 0;
  for (int k = 1; k < argc; k++) {
    if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
      fputs(usage_info, stdout);
      return EXIT_OK;
    }
    if (!strcmp(argv[k], "--scenario")) show_scenario = 1;
    else if (!strcmp(argv[k], "--verify")) verify = 1;
    else if (!file && argv[k][0] != '-') file = argv[k];
    else {
      fprintf(stderr, "moatsim info: unexpected argument '%s'\n%s", argv[k], usage_info);
      return EXIT_USAGE;
    }
  }
  if (!file) {
    fprintf(stderr, "moatsim info: no file given\n%s", usage_info);
    return EXIT_USAGE;
  }
  int rc;
  hid_t f = open_results("info", file, &rc);
  if (f < 0) return rc;
  char what[512];
  if (verify && moat_h5_verify(f, what, sizeof what) != 0) {
    fprintf(stderr, "moatsim info: '%s' is damaged: %s\n", file, what);
    H5Fclose(f);
    return EXIT_USAGE;
  }
  printf("%s: moatsim results file\n", file);
  if (verify) printf("checksums: every dataset read in full and verified\n");
  printf("provenance:\n");
  H5Aiterate2(f, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, print_root_attr, NULL);
  long total, done = count_done(f, &total);
  if (done >= 0) printf("  %-18s %ld of %ld scenarios written\n", "complete", done, total);
  printf("contents:\n");
  list_group(f, "");
  if (show_scenario) {
    char *text = moat_h5_read_scenario_text(f);
    if (text) printf("scenario text:\n%s", text);
    free(text);
  }
  H5Fclose(f);
  return EXIT_OK;
}

/* ---- summary ------------------------------------------------------------------------------ */

/* Slice `k` (first index) of a double dataset: the remaining extents in dims[0..*rank-1]
 * (*rank excludes the scenario). Returns a malloc'd buffer or NULL. */
static double *read_slice(hid_t f, const char *path, hsize_t k, hsize_t *dims, int *rank) {
  hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
  if (ds < 0) return NULL;
  hid_t fs = H5Dget_space(ds);
  hsize_t all[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
  int r = H5Sget_simple_extent_ndims(fs);
  H5Sget_simple_extent_dims(fs, all, NULL);
  double *buf = NULL;
  if (r >= 1 && k < all[0]) {
    size_t n = 1;
    for (int d = 0; d < r; d++) {
      count[d] = d == 0 ? 1 : all[d];
      n *= (size_t)count[d];
      if (d) dims[d - 1] = all[d];
    }
    start[0] = k;
    *rank = r - 1;
    hid_t ms = H5Screate_simple(1, (hsize_t[]){n}, NULL);
    buf = malloc(n * sizeof *buf);
    if (!buf || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, buf) < 0) {
      free(buf);
      buf = NULL;
    }
    H5Sclose(ms);
  }
  H5Sclose(fs);
  H5Dclose(ds);
  return buf;
}

/* Lab names and kinds (variable-length strings, as many of each); returns the lab count, or -1
 * with both NULL. */
static int read_labs(hid_t f, char ***names, char ***kinds) {
  hsize_t n = 0, m = 0;
  *names = moat_h5_read_strings(f, "/labs/lab", &n);
  *kinds = *names ? moat_h5_read_strings(f, "/labs/lab_kind", &m) : NULL;
  if (*kinds && m == n) return (int)n;
  moat_h5_free_strings(*names, n);
  moat_h5_free_strings(*kinds, m);
  *names = *kinds = NULL;
  return -1;
}

/* What `summary` reads once per file. */
typedef struct headline {
  hsize_t n_time, n_q;
  double *time, *q;
  int n_labs;
  char **lab, **kind;
  int cols[4]; /* step index of 1, 3, 5, 10 years, -1 beyond the horizon */
} headline_t;

static const double headline_years[4] = {1, 3, 5, 10};

/* Index of quantile level `level` in h->q, or -1. */
static int level_index(const headline_t *h, double level) {
  for (hsize_t i = 0; i < h->n_q; i++)
    if (fabs(h->q[i] - level) < 1e-9) return (int)i;
  return -1;
}

/* One row: label, then the value at each year column (v[step * stride]), "-" for none. */
static void print_row(const headline_t *h, const char *label, const double *v, size_t stride) {
  printf("  %-34s", label);
  for (int c = 0; c < 4; c++) {
    if (h->cols[c] < 0 || !v) printf(" %10s", "-");
    else printf(" %10.4g", v[(size_t)h->cols[c] * stride]);
  }
  printf("\n");
}

/* Quantile `level` of a (quantile, time) or (quantile, lab, time) slice, for lab (or 0). */
static const double *at_level(const headline_t *h, const double *slice, double level, int lab,
                              int n_labs) {
  int i = level_index(h, level);
  if (!slice || i < 0) return NULL;
  return slice + ((size_t)i * (size_t)n_labs + (size_t)lab) * h->n_time;
}

static void print_swept(hid_t f, hsize_t k) {
  hid_t g = H5Gopen2(f, "/params", H5P_DEFAULT);
  char swept[4096] = "", vars[4096] = "";
  if (g < 0) return;
  moat_h5_attr_read_text(g, "swept_params", swept, sizeof swept);
  /* Format 2 names the variables apart (CF names); format 1 by the dotted keys themselves. */
  if (moat_h5_attr_read_text(g, "swept_variables", vars, sizeof vars) != 0) memcpy(vars, swept, sizeof vars);
  H5Eclear2(H5E_DEFAULT);
  char *key_at = NULL, *var_at = NULL;
  for (char *key = strtok_r(swept, " ", &key_at), *var = strtok_r(vars, " ", &var_at); key && var;
       key = strtok_r(NULL, " ", &key_at), var = strtok_r(NULL, " ", &var_at)) {
    hsize_t dims[H5S_MAX_RANK];
    int rank;
    char path[MOAT_KEY_MAX + 16];
    snprintf(path, sizeof path, "/params/%s", var);
    double *v = read_slice(f, path, k, dims, &rank);
    if (v) printf("  %s = %g\n", key, v[0]);
    free(v);
  }
  H5Gclose(g);
}

static int summary_scenario(hid_t f, const headline_t *h, hsize_t k) {
  hsize_t dims[H5S_MAX_RANK];
  int rank, L = h->n_labs;
  double *prem = read_slice(f, "/market/premium_flagship_quantile", k, dims, &rank);
  double *closed = read_slice(f, "/market/share_closed_mean", k, dims, &rank);
  double *revenue = read_slice(f, "/market/revenue_share_closed_mean", k, dims, &rank);
  double *local = read_slice(f, "/market/share_local_mean", k, dims, &rank);
  /* Files written before the outside option lack unserved_share: its row then shows "-". */
  double *unserved = H5Lexists(f, "/market/unserved_share_mean", H5P_DEFAULT) > 0
                         ? read_slice(f, "/market/unserved_share_mean", k, dims, &rank)
                         : NULL;
  /* Files written before model version 2 lack hosting_margin: its row then shows "-". */
  double *hosting = H5Lexists(f, "/market/hosting_margin_mean", H5P_DEFAULT) > 0
                        ? read_slice(f, "/market/hosting_margin_mean", k, dims, &rank)
                        : NULL;
  double *rerate = read_slice(f, "/labs/rerating_quantile", k, dims, &rank);
  double *dilution = read_slice(f, "/labs/dilution_quantile", k, dims, &rank);
  double *dcf = read_slice(f, "/labs/dcf_ratio_quantile", k, dims, &rank);
  int ok = prem && closed && revenue && local && rerate && dilution && dcf;
  if (ok) {
    printf("scenario %llu\n", (unsigned long long)k);
    print_swept(f, k);
    printf("  %-34s %10s %10s %10s %10s\n", "", "1 y", "3 y", "5 y", "10 y");
    print_row(h, "flagship premium p5", at_level(h, prem, 0.05, 0, 1), 1);
    print_row(h, "flagship premium p50", at_level(h, prem, 0.5, 0, 1), 1);
    print_row(h, "flagship premium p95", at_level(h, prem, 0.95, 0, 1), 1);
    print_row(h, "closed volume share (mean)", closed, 1);
    print_row(h, "closed revenue share (mean)", revenue, 1);
    print_row(h, "local share (mean)", local, 1);
    print_row(h, "unserved demand share (mean)", unserved, 1);
    print_row(h, "hosting margin (mean)", hosting, 1);
    char label[128];
    for (int j = 0; j < L; j++) {
      if (strcmp(h->kind[j], "closed") != 0) continue;
      snprintf(label, sizeof label, "%s re-rating (median)", h->lab[j]);
      print_row(h, label, at_level(h, rerate, 0.5, j, L), 1);
      snprintf(label, sizeof label, "%s dilution (median)", h->lab[j]);
      print_row(h, label, at_level(h, dilution, 0.5, j, L), 1);
    }
    int i50 = level_index(h, 0.5);
    printf("  %-34s", "DCF ratio (median)");
    for (int j = 0; j < L; j++)
      if (strcmp(h->kind[j], "closed") == 0)
        printf(" %s %.3g", h->lab[j], i50 < 0 ? NAN : dcf[(size_t)i50 * (size_t)L + (size_t)j]);
    printf("\n");
  }
  free(prem), free(closed), free(revenue), free(local), free(unserved), free(hosting), free(rerate), free(dilution), free(dcf);
  return ok ? 0 : -1;
}

/* Time and quantile coordinates, labs, and the year columns. 0 or -1. */
static int headline_init(hid_t f, headline_t *h) {
  memset(h, 0, sizeof *h);
  h->time = moat_h5_read_time_years(f, "/market/time", &h->n_time);
  h->q = moat_h5_read_doubles(f, "/market/quantile", &h->n_q);
  h->n_labs = read_labs(f, &h->lab, &h->kind);
  if (!h->time || !h->q || h->n_labs < 0 || h->n_time == 0) return -1;
  double dt = h->n_time > 1 ? h->time[1] - h->time[0] : 1.0;
  double horizon = h->time[h->n_time - 1] + dt;
  for (int c = 0; c < 4; c++) {
    h->cols[c] = -1;
    if (headline_years[c] > horizon + 1e-9) continue;
    for (hsize_t n = 0; n < h->n_time; n++)
      if (h->time[n] <= headline_years[c] + 1e-9) h->cols[c] = (int)n;
  }
  return 0;
}

static void headline_clear(headline_t *h) {
  free(h->time);
  free(h->q);
  hsize_t n_labs = h->n_labs > 0 ? (hsize_t)h->n_labs : 0;
  moat_h5_free_strings(h->lab, n_labs);
  moat_h5_free_strings(h->kind, n_labs);
}

/* Parse `summary FILE [--scenario K]`; -1 to go on, or the exit code. */
static int parse_summary(int argc, char **argv, const char **file, long *only) {
  *file = NULL;
  *only = -1;
  for (int k = 1; k < argc; k++) {
    char *end = NULL;
    if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
      fputs(usage_summary, stdout);
      return EXIT_OK;
    }
    if (!strcmp(argv[k], "--scenario") && k + 1 < argc) {
      *only = strtol(argv[++k], &end, 10);
      if (*end || *only < 0) {
        fprintf(stderr, "moatsim summary: --scenario %s: give a scenario index 0, 1, ...\n", argv[k]);
        return EXIT_USAGE;
      }
    } else if (!*file && argv[k][0] != '-') {
      *file = argv[k];
    } else {
      fprintf(stderr, "moatsim summary: unexpected argument '%s'\n%s", argv[k], usage_summary);
      return EXIT_USAGE;
    }
  }
  if (!*file) {
    fprintf(stderr, "moatsim summary: no file given\n%s", usage_summary);
    return EXIT_USAGE;
  }
  return -1;
}

static unsigned char *read_done(hid_t f, long *n) {
  hsize_t len = 0;
  double *d = moat_h5_read_doubles(f, "/market/scenario_done", &len);
  unsigned char *done = d ? malloc(len ? len : 1) : NULL;
  for (hsize_t k = 0; done && k < len; k++) done[k] = d[k] != 0;
  free(d);
  *n = (long)len;
  return done;
}

int moat_cmd_summary(int argc, char **argv) {
  const char *file;
  long only;
  int rc = parse_summary(argc, argv, &file, &only);
  if (rc >= 0) return rc;
  hid_t f = open_results("summary", file, &rc);
  if (f < 0) return rc;
  headline_t h;
  long n = 0;
  unsigned char *done = read_done(f, &n);
  rc = EXIT_OK;
  if (headline_init(f, &h) != 0 || !done) {
    fprintf(stderr, "moatsim summary: '%s' lacks the time, quantile, lab or scenario_done "
                    "variables of a results file\n", file);
    rc = EXIT_USAGE;
  } else if (only >= n) {
    fprintf(stderr, "moatsim summary: --scenario %ld: '%s' has scenarios 0 to %ld\n", only, file, n - 1);
    rc = EXIT_USAGE;
  }
  long first = only >= 0 ? only : 0, last = only >= 0 ? only + 1 : (n < 10 ? n : 10);
  for (long k = first; rc == EXIT_OK && k < last; k++) {
    if (!done[k]) printf("scenario %ld: not written (the run stopped before it)\n", k);
    else if (summary_scenario(f, &h, (hsize_t)k) != 0) {
      fprintf(stderr, "moatsim summary: cannot read scenario %ld of '%s'\n", k, file);
      rc = EXIT_RUNTIME;
    }
  }
  if (rc == EXIT_OK && only < 0 && n > last)
    printf("(%ld more scenarios: moatsim summary %s --scenario K)\n", n - last, file);
  headline_clear(&h);
  free(done);
  H5Fclose(f);
  return rc;
}
