/* test_writer.c — write a tiny run's skeleton and scenario files, assemble them into a results
 * file and read it back with the HDF5 API: dims, attrs, values; failed commits change nothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>
#include <hdf5_hl.h>

#include "moatsim/durable.h"
#include "moatsim/merge.h"
#include "moatsim/model.h"
#include "moatsim/summary.h"
#include "moatsim/writer.h"
#include "moatsim/writer_h5.h"

/* cmocka's assert_float_equal compares floats; these checks need doubles. */
#define assert_close(a, b, tol) close_or_fail((a), (b), (tol), __FILE__, __LINE__)
static void close_or_fail(double a, double b, double tol, const char *file, int line) {
  if (fabs(a - b) <= tol) return;
  print_error("%.17g != %.17g (tolerance %g)\n", a, b, tol);
  _fail(file, line);
}

#define N_PATHS 3

/* Two scenarios: the second one half as long (2 steps instead of 4) to exercise padding. */
static moat_scenario_t scen[2];

static void make_scenarios(void) {
  for (int k = 0; k < 2; k++) {
    moat_scenario_t *s = &scen[k];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "tiny");
    s->seed = 42;
    s->steps_per_year = 4;
    s->horizon_years = k == 0 ? 1.0 : 0.5;
    s->paths = N_PATHS;
    s->n_labs = 2;
    snprintf(s->labs[0].name, MOAT_NAME_MAX, "closed-a");
    snprintf(s->labs[0].origin, MOAT_ORIGIN_MAX, "us");
    s->labs[0].kind = MOAT_LAB_CLOSED;
    snprintf(s->labs[1].name, MOAT_NAME_MAX, "open-b");
    snprintf(s->labs[1].origin, MOAT_ORIGIN_MAX, "cn");
    s->labs[1].kind = MOAT_LAB_OPEN;
    s->n_clouds = 1;
    snprintf(s->clouds[0].name, MOAT_NAME_MAX, "gpu-cloud");
    s->output.n_quantiles = 3;
    s->output.quantiles[0] = 0.25, s->output.quantiles[1] = 0.5, s->output.quantiles[2] = 0.75;
  }
}

static int source(void *ctx, size_t k, moat_scenario_t *sc, char *err, size_t errlen) {
  (void)ctx, (void)err, (void)errlen;
  *sc = scen[k];
  return MOAT_OK;
}

/* Path p, element e of scenario k holds 100 k + 10 p + e/1000 (exactly representable enough for
 * the comparisons below, which allow 1e-9). */
static double value(size_t k, size_t p, size_t e) { return 100.0 * (double)k + 10.0 * (double)p + (double)e / 1000.0; }

static void tmp_name(char *buf, size_t len, const char *tag) {
  snprintf(buf, len, "/tmp/moat_test_writer_%ld_%s.h5", (long)getpid(), tag);
}

/* Run the writer over both scenarios. Returns the status of create. */
static int write_file(const char *path, int keep_paths) {
  make_scenarios();
  moat_writer_desc_t d = {.n_scenarios = 2, .scenario = source, .command_line = "moatsim run tiny.cfg",
                          .scenario_file = "tiny.cfg", .scenario_text = "name = \"tiny\";\n",
                          .threads = 1, .keep_paths = keep_paths, .n_swept = 1,
                          .swept = {"horizon_years"}};
  char err[MOAT_ERR_MAX], skeleton[300], files[2][300];
  const char *names[2] = {files[0], files[1]};
  const size_t ks[2] = {0, 1};
  snprintf(skeleton, sizeof skeleton, "%s.skeleton", path);
  moat_writer_t *w = NULL;
  int st = moat_writer_alloc(&w, &d, err, sizeof err);
  if (st == MOAT_OK) st = moat_writer_write_skeleton(w, skeleton, 0, 1, 0, err, sizeof err);
  if (st != MOAT_OK) {
    moat_writer_free(w);
    return st;
  }
  for (size_t k = 0; k < 2; k++) {
    snprintf(files[k], sizeof files[k], "%s.s%zu", path, k);
    moat_layout_t lay;
    moat_scenario_layout(&scen[k], &lay);
    double *paths = malloc(N_PATHS * lay.per_path * sizeof *paths);
    assert_non_null(paths);
    for (size_t p = 0; p < N_PATHS; p++)
      for (size_t e = 0; e < lay.per_path; e++) paths[p * lay.per_path + e] = value(k, p, e);
    moat_summary_t s;
    assert_int_equal(moat_summary_init(&s, lay.per_path, scen[k].output.quantiles, 3, err, sizeof err), 0);
    assert_int_equal(moat_summary_compute(&s, paths, N_PATHS, lay.per_path, 1, err, sizeof err), 0);
    assert_int_equal(moat_writer_write_scenario(w, files[k], k, &lay, &s, paths, N_PATHS, err, sizeof err), 0);
    moat_summary_clear(&s);
    free(paths);
  }
  moat_writer_free(w);
  /* the results file: the skeleton with each scenario file copied into its slice */
  assert_int_equal(moat_merge_assemble(skeleton, 2, ks, names, path, 1.5, err, sizeof err), 0);
  remove(skeleton), remove(files[0]), remove(files[1]);
  return MOAT_OK;
}

/* Write a file with write_file to a new temporary path (tag in its name) and open it read-only. */
static hid_t written_file(char *path, size_t len, const char *tag, int keep_paths) {
  tmp_name(path, len, tag);
  assert_int_equal(write_file(path, keep_paths), MOAT_OK);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  return f;
}

static void read_doubles(hid_t f, const char *name, double *buf, int rank, const hsize_t *want) {
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  assert_true(ds >= 0);
  hid_t sp = H5Dget_space(ds);
  hsize_t dims[8];
  assert_int_equal(H5Sget_simple_extent_ndims(sp), rank);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  for (int d = 0; d < rank; d++) assert_int_equal(dims[d], want[d]);
  assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
  H5Sclose(sp);
  H5Dclose(ds);
}

/* Dimension names of a variable, through the attached dimension scales. */
static void check_dims(hid_t f, const char *name, int rank, const char *const *names) {
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  assert_true(ds >= 0);
  for (int d = 0; d < rank; d++) {
    assert_int_equal(H5DSget_num_scales(ds, (unsigned)d), 1);
    char buf[64] = "";
    /* The scale attached to dimension d, through the DIMENSION_LIST references. */
    hid_t dl = H5Aopen(ds, "DIMENSION_LIST", H5P_DEFAULT);
    assert_true(dl >= 0);
    hvl_t vl[8];
    hid_t vt = H5Tvlen_create(H5T_STD_REF_OBJ);
    assert_true(H5Aread(dl, vt, vl) >= 0);
    hobj_ref_t ref = ((hobj_ref_t *)vl[d].p)[0];
    hid_t sc = H5Rdereference2(ds, H5P_DEFAULT, H5R_OBJECT, &ref);
    assert_true(H5DSget_scale_name(sc, buf, sizeof buf) > 0);
    assert_string_equal(buf, names[d]);
    H5Dclose(sc);
    hid_t sp = H5Aget_space(dl);
    H5Dvlen_reclaim(vt, sp, H5P_DEFAULT, vl);
    H5Sclose(sp);
    H5Tclose(vt);
    H5Aclose(dl);
  }
  H5Dclose(ds);
}

static double attr_double(hid_t obj, const char *name) {
  double v = 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  assert_true(a >= 0);
  assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
  H5Aclose(a);
  return v;
}

static void attr_text(hid_t obj, const char *name, char *buf, size_t len) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  assert_true(a >= 0);
  hid_t t = H5Aget_type(a);
  size_t n = H5Tget_size(t);
  assert_true(n < len);
  memset(buf, 0, len);
  assert_true(H5Aread(a, t, buf) >= 0);
  H5Tclose(t);
  H5Aclose(a);
}

/* Text attribute `name` of obj equals want. */
static void assert_attr_text(hid_t obj, const char *name, const char *want) {
  char text[256];
  attr_text(obj, name, text, sizeof text);
  assert_string_equal(text, want);
}

/* Layout, attributes and values of a file with two scenarios and kept paths. */
static void round_trip(void **state) {
  (void)state;
  char path[256];
  tmp_name(path, sizeof path, "rt");
  assert_int_equal(write_file(path, 1), MOAT_OK);
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.skeleton.tmp", path);
  assert_int_not_equal(access(tmp, F_OK), 0); /* committed: renamed away */

  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_close(attr_double(f, "format_version"), MOAT_FORMAT_VERSION, 0);
  assert_close(attr_double(f, "n_scenarios"), 2, 0);
  assert_close(attr_double(f, "paths"), N_PATHS, 0);
  assert_close(attr_double(f, "wall_time_s"), 1.5, 0);
  char text[256];
  /* CF-1.10 (format 2): Conventions, the seed as decimal text, 32-bit integer attributes (R's
   * netCDF readers have no 64-bit integer attributes), the scenario text as a root variable. */
  assert_attr_text(f, "Conventions", "CF-1.10");
  assert_attr_text(f, "seed", "42");
  uint64_t seed = 0;
  assert_int_equal(moat_h5_read_seed(f, &seed), 0);
  assert_true(seed == 42);
  hid_t na = H5Aopen(f, "n_scenarios", H5P_DEFAULT), nt = H5Aget_type(na);
  assert_int_equal(H5Tget_size(nt), 4);
  H5Tclose(nt);
  H5Aclose(na);
  assert_int_equal(H5Aexists(f, "scenario_text"), 0);
  char *scenario_text = moat_h5_read_scenario_text(f);
  assert_non_null(scenario_text);
  assert_string_equal(scenario_text, "name = \"tiny\";\n");
  free(scenario_text);
  assert_attr_text(f, "scenario_file", "tiny.cfg");
  attr_text(f, "start_time", text, sizeof text);
  assert_int_equal(strlen(text), 20); /* YYYY-MM-DDTHH:MM:SSZ */
  assert_int_equal(text[19], 'Z');

  /* Groups track and index creation order (netCDF-4 needs it). */
  hid_t g = H5Gopen2(f, "labs", H5P_DEFAULT);
  hid_t gcpl = H5Gget_create_plist(g);
  unsigned flags = 0;
  H5Pget_link_creation_order(gcpl, &flags);
  assert_int_equal(flags, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  H5Pget_attr_creation_order(gcpl, &flags);
  assert_int_equal(flags, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  H5Pclose(gcpl);
  H5Gclose(g);

  /* time = n dt with dt = 1/4 year = 90 days of the 360-day calendar; the longest scenario (4
   * steps) sets the length. A CF time coordinate, without _FillValue. */
  double t[4];
  read_doubles(f, "/market/time", t, 1, (hsize_t[]){4});
  for (int n = 0; n < 4; n++) assert_close(t[n], 90.0 * n, 0);
  hsize_t nt4 = 0;
  double *years = moat_h5_read_time_years(f, "/labs/time", &nt4);
  assert_int_equal(nt4, 4);
  for (int n = 0; n < 4; n++) assert_close(years[n], 0.25 * n, 1e-15);
  free(years);
  hid_t tds = H5Dopen2(f, "/market/time", H5P_DEFAULT);
  assert_attr_text(tds, "units", "days since 2026-01-01 00:00:00");
  assert_attr_text(tds, "calendar", "360_day");
  assert_attr_text(tds, "standard_name", "time");
  assert_int_equal(H5Aexists(tds, "_FillValue"), 0);
  H5Dclose(tds);
  hid_t qds = H5Dopen2(f, "/labs/quantile", H5P_DEFAULT), lds = H5Dopen2(f, "/labs/lab", H5P_DEFAULT);
  assert_int_equal(H5Aexists(qds, "_FillValue"), 0);
  assert_int_equal(H5Aexists(lds, "units"), 0); /* text has no units */
  H5Dclose(qds);
  H5Dclose(lds);
  double q[3];
  read_doubles(f, "/labs/quantile", q, 1, (hsize_t[]){3});
  assert_close(q[1], 0.5, 0);

  /* Market metric 0 at step n, scenario k: paths 100k + {0, 10, 20} + n/1000: mean 100k + 10 +
   * n/1000, sample std 10, quantiles at 0.25 / 0.75 = mean -/+ 5 (type 7, h = 2q). */
  double mean[2][4], std[2][4], quant[2][3][4];
  read_doubles(f, "/market/premium_flagship_mean", &mean[0][0], 2, (hsize_t[]){2, 4});
  read_doubles(f, "/market/premium_flagship_std", &std[0][0], 2, (hsize_t[]){2, 4});
  read_doubles(f, "/market/premium_flagship_quantile", &quant[0][0][0], 3, (hsize_t[]){2, 3, 4});
  for (int k = 0; k < 2; k++)
    for (int n = 0; n < 4; n++) {
      if (k == 1 && n >= 2) { /* padding of the shorter scenario */
        assert_true(isnan(mean[k][n]) && isnan(std[k][n]) && isnan(quant[k][0][n]));
        continue;
      }
      assert_close(mean[k][n], 100.0 * k + 10 + n / 1000.0, 1e-9);
      assert_close(std[k][n], 10.0, 1e-9);
      assert_close(quant[k][0][n], 100.0 * k + 5 + n / 1000.0, 1e-9);
      assert_close(quant[k][2][n], 100.0 * k + 15 + n / 1000.0, 1e-9);
    }
  check_dims(f, "/market/premium_flagship_quantile", 3, (const char *const[]){"scenario", "quantile", "time"});
  check_dims(f, "/labs/price_quantile", 4, (const char *const[]){"scenario", "quantile", "lab", "time"});
  check_dims(f, "/labs/dcf_ratio_mean", 2, (const char *const[]){"scenario", "lab"});
  check_dims(f, "/clouds/revenue_count", 3, (const char *const[]){"scenario", "cloud", "time"});
  check_dims(f, "/paths/labs/price", 4, (const char *const[]){"scenario", "path", "lab", "time"});
  check_dims(f, "/market/lab_exits_mean", 1, (const char *const[]){"scenario"});

  /* A lab metric's mean at (scenario 0, lab 1, step 2): element moat_at_lab(price, 1, 2). */
  moat_layout_t lay;
  moat_scenario_layout(&scen[0], &lay);
  double lab_mean[2][2][4];
  read_doubles(f, "/labs/price_mean", &lab_mean[0][0][0], 3, (hsize_t[]){2, 2, 4});
  assert_close(lab_mean[0][1][2], 10 + (double)moat_at_lab(&lay, MOAT_LM_PRICE, 1, 2) / 1000.0, 1e-9);

  /* Kept paths: /paths/market/lab_exits(scenario, path) = value(k, p, off_path of scenario k). */
  moat_layout_t lay1;
  moat_scenario_layout(&scen[1], &lay1);
  double exits[2][N_PATHS];
  read_doubles(f, "/paths/market/lab_exits", &exits[0][0], 2, (hsize_t[]){2, N_PATHS});
  assert_close(exits[0][1], value(0, 1, moat_at_path(&lay, MOAT_PM_LAB_EXITS)), 1e-9);
  assert_close(exits[1][2], value(1, 2, moat_at_path(&lay1, MOAT_PM_LAB_EXITS)), 1e-9);

  /* Every scenario done; _FillValue NaN and units on a float variable. */
  hid_t done = H5Dopen2(f, "/market/scenario_done", H5P_DEFAULT);
  uint8_t flags8[2] = {0, 0};
  assert_true(H5Dread(done, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, flags8) >= 0);
  assert_int_equal(flags8[0], 1);
  assert_int_equal(flags8[1], 1);
  H5Dclose(done);
  hid_t ds = H5Dopen2(f, "/labs/cash_std", H5P_DEFAULT);
  assert_true(isnan(attr_double(ds, "_FillValue")));
  assert_attr_text(ds, "units", "USD");
  H5Dclose(ds);

  /* Lab names as the coordinate, kinds alongside. */
  hid_t labs = H5Dopen2(f, "/labs/lab", H5P_DEFAULT);
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, H5T_VARIABLE);
  H5Tset_cset(st, H5T_CSET_UTF8);
  char *names[2] = {NULL, NULL};
  assert_true(H5Dread(labs, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0);
  assert_string_equal(names[0], "closed-a");
  assert_string_equal(names[1], "open-b");
  H5free_memory(names[0]);
  H5free_memory(names[1]);
  H5Dclose(labs);
  H5Tclose(st);

  hid_t params = H5Gopen2(f, "params", H5P_DEFAULT);
  assert_attr_text(params, "swept_params", "horizon_years");
  assert_attr_text(params, "swept_variables", "horizon_years");
  /* Dotted keys become names ncap2 and CDO address; the key stays as an attribute. */
  assert_int_equal(H5Lexists(params, "quality_gap.long_run", H5P_DEFAULT), 0);
  hid_t gap = H5Dopen2(params, "quality_gap_long_run", H5P_DEFAULT);
  assert_true(gap >= 0);
  assert_attr_text(gap, "key", "quality_gap.long_run");
  H5Dclose(gap);
  /* A text parameter: a scalar string with its key. */
  hid_t kind = H5Dopen2(params, "labs_closed_a_kind", H5P_DEFAULT);
  assert_true(kind >= 0);
  assert_attr_text(kind, "key", "labs.closed-a.kind");
  H5Dclose(kind);
  H5Gclose(params);
  H5Fclose(f);
  remove(path);
}

/* CF names of dotted keys: letters, digits and '_', starting with a letter. */
static void cf_names(void **state) {
  (void)state;
  char buf[64];
  moat_h5_cf_name("labs.closed-a.quality", buf, sizeof buf);
  assert_string_equal(buf, "labs_closed_a_quality");
  moat_h5_cf_name("quality_gap.long_run", buf, sizeof buf);
  assert_string_equal(buf, "quality_gap_long_run");
  moat_h5_cf_name("9lives", buf, sizeof buf);
  assert_string_equal(buf, "p_9lives");
  moat_h5_cf_name("a b+c", buf, 4); /* truncated, still terminated */
  assert_string_equal(buf, "a_b");
}

/* The seed of both formats: format 1's unsigned 64-bit attribute and format 2's text, exactly
 * (2^64 - 1 has no exact double). */
static void seed_both_formats(void **state) {
  (void)state;
  char path[256];
  tmp_name(path, sizeof path, "seed");
  moat_h5_quiet();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  uint64_t seed = 0, big = UINT64_MAX;
  assert_int_equal(moat_h5_read_seed(f, &seed), -1); /* absent */
  assert_int_equal(moat_h5_attr_uint64(f, "seed", big), 0);
  assert_int_equal(moat_h5_read_seed(f, &seed), 0);
  assert_true(seed == big);
  assert_int_equal(moat_h5_attr_text(f, "seed", "18446744073709551614"), 0);
  assert_int_equal(moat_h5_read_seed(f, &seed), 0);
  assert_true(seed == big - 1);
  assert_int_equal(moat_h5_attr_text(f, "seed", "12x"), 0);
  assert_int_equal(moat_h5_read_seed(f, &seed), -1);
  H5Fclose(f);
  remove(path);
}

/* A fixed-length text attribute of n bytes holding `bytes` (n bytes, as stored). */
static void put_text_attr(hid_t obj, const char *name, H5T_cset_t cset, H5T_str_t pad, const char *bytes, size_t n) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
  assert_true(H5Tset_size(t, n) >= 0 && H5Tset_cset(t, cset) >= 0 && H5Tset_strpad(t, pad) >= 0);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0 && H5Awrite(a, t, bytes) >= 0);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

/* The text readers: the attribute's bytes up to the first NUL whatever its character set and
 * padding, the same through moat_h5_attr_text_alloc and moat_h5_attr_read_text (which truncates
 * to its buffer); numbers and absent attributes are refused. The 1-D readers refuse a 2-D
 * dataset, and read strings and doubles back. */
static void readers(void **state) {
  (void)state;
  char path[256];
  tmp_name(path, sizeof path, "readers");
  moat_h5_quiet();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  put_text_attr(f, "ascii_term", H5T_CSET_ASCII, H5T_STR_NULLTERM, "abc", 4);
  put_text_attr(f, "ascii_pad", H5T_CSET_ASCII, H5T_STR_NULLPAD, "abc\0\0\0", 6);
  put_text_attr(f, "utf8_pad", H5T_CSET_UTF8, H5T_STR_NULLPAD, "abc\0\0\0", 6);
  put_text_attr(f, "utf8_full", H5T_CSET_UTF8, H5T_STR_NULLPAD, "abcd", 4);
  assert_int_equal(moat_h5_attr_text(f, "ours", "abc"), 0);
  assert_int_equal(moat_h5_attr_double(f, "number", 1.5), 0);
  const char *names[] = {"ascii_term", "ascii_pad", "utf8_pad", "ours"};
  for (int k = 0; k < 4; k++) {
    char buf[16] = "x", *text = moat_h5_attr_text_alloc(f, names[k]);
    assert_non_null(text);
    assert_string_equal(text, "abc");
    free(text);
    assert_int_equal(moat_h5_attr_read_text(f, names[k], buf, sizeof buf), 0);
    assert_string_equal(buf, "abc");
  }
  char small[3], buf[16] = "x";
  assert_int_equal(moat_h5_attr_read_text(f, "utf8_full", small, sizeof small), 0);
  assert_string_equal(small, "ab");
  assert_int_equal(moat_h5_attr_read_text(f, "utf8_full", buf, sizeof buf), 0);
  assert_string_equal(buf, "abcd");
  assert_null(moat_h5_attr_text_alloc(f, "number"));
  assert_int_equal(moat_h5_attr_read_text(f, "number", buf, sizeof buf), -1);
  assert_string_equal(buf, "");
  assert_int_equal(moat_h5_attr_read_text(f, "absent", buf, sizeof buf), -1);

  const char *labs[3] = {"closed-a", "open-b", ""};
  hid_t dim = moat_h5_dim_create(f, "lab", 0, 3, NULL, labs, NULL, "lab");
  assert_true(dim >= 0);
  H5Dclose(dim);
  hsize_t n = 9;
  char **got = moat_h5_read_strings(f, "lab", &n);
  assert_non_null(got);
  assert_int_equal(n, 3);
  for (int k = 0; k < 3; k++) assert_string_equal(got[k], labs[k]);
  moat_h5_free_strings(got, n);
  assert_null(moat_h5_read_strings(f, "absent", &n));
  assert_int_equal(n, 0);

  double v[6] = {1, 2, 3, 4, 5, 6};
  hsize_t d1[1] = {6}, d2[2] = {2, 3};
  assert_int_equal(H5LTmake_dataset_double(f, "one", 1, d1, v), 0);
  assert_int_equal(H5LTmake_dataset_double(f, "two", 2, d2, v), 0);
  double *x = moat_h5_read_doubles(f, "one", &n);
  assert_non_null(x);
  assert_int_equal(n, 6);
  assert_memory_equal(x, v, sizeof v);
  free(x);
  n = 9;
  assert_null(moat_h5_read_doubles(f, "two", &n));
  assert_int_equal(n, 0);
  n = 9;
  assert_null(moat_h5_read_time_years(f, "two", &n));
  assert_int_equal(n, 0);
  H5Fclose(f);
  remove(path);
}

/* H5Ovisit callback: every dataset has a version-2 object header (which carries a checksum) and
 * is compact (its values in that header) or chunked with Fletcher-32 on every chunk. */
static herr_t checksummed(hid_t loc, const char *name, const H5O_info_t *info, void *data) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT), p = H5Dget_create_plist(ds);
  H5D_layout_t layout = H5Pget_layout(p);
  unsigned flags = 0, conf = 0;
  size_t nconf = 0;
  int fletcher = H5Pget_filter_by_id2(p, H5Z_FILTER_FLETCHER32, &flags, &nconf, &conf, 0, NULL, NULL) >= 0;
  H5Eclear2(H5E_DEFAULT);
  if (info->hdr.version != 2 || !(layout == H5D_COMPACT || (layout == H5D_CHUNKED && fletcher)))
    fprintf(stderr, "dataset %s: object header version %u, layout %d, Fletcher-32 %d\n", name,
            info->hdr.version, (int)layout, fletcher);
  else
    ++*(int *)data;
  H5Pclose(p);
  H5Dclose(ds);
  return 0;
}

static herr_t count_datasets(hid_t loc, const char *name, const H5O_info_t *info, void *data) {
  (void)loc, (void)name;
  if (info->type == H5O_TYPE_DATASET) ++*(int *)data;
  return 0;
}

/* Every dataset of a results file (coordinates, /params, scenario_text, results, kept paths) is
 * covered by a checksum HDF5 checks on reading it. */
static void every_dataset_checksummed(void **state) {
  (void)state;
  char path[256];
  hid_t f = written_file(path, sizeof path, "ck", 1);
  int all = 0, good = 0;
  assert_true(H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, count_datasets, &all, H5O_INFO_BASIC) >= 0);
  assert_true(H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, checksummed, &good, H5O_INFO_BASIC | H5O_INFO_HDR) >= 0);
  assert_true(all > 100); /* the results, their coordinates and /params */
  assert_int_equal(good, all);
  char what[700];
  assert_int_equal(moat_h5_verify(f, what, sizeof what), 0);
  H5Fclose(f);
  remove(path);
}

/* Invert the byte at `at` of the only place `bytes` (n of them) occur in file path. */
static void damage_value(const char *path, const void *bytes, size_t n, size_t at) {
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  size_t size = (size_t)ftell(fp), found = 0, where = 0;
  unsigned char *buf = malloc(size);
  assert_non_null(buf);
  rewind(fp);
  assert_int_equal(fread(buf, 1, size, fp), size);
  for (size_t i = 0; i + n <= size; i++)
    if (memcmp(buf + i, bytes, n) == 0) found++, where = i;
  assert_int_equal(found, 1);
  buf[where + at] ^= 0xFF;
  fseek(fp, (long)(where + at), SEEK_SET);
  assert_int_equal(fwrite(buf + where + at, 1, 1, fp), 1);
  fclose(fp);
  free(buf);
}

/* Write /params/x (3 doubles: compact, inside its object header) and /params/big (5000 doubles,
 * 40 000 bytes, over the 32 KiB compact limit: chunked with Fletcher-32) as the writer does, in
 * the writer's file format. */
static void write_small_and_big(const char *path, const double *x, const double *big) {
  hid_t fcpl = moat_h5_fcpl(), fapl = moat_h5_fapl();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  assert_true(f >= 0);
  hid_t g = moat_h5_group_create(f, "params");
  hsize_t n3 = 3, n5000 = 5000;
  moat_h5_var_t vx = {"x", H5T_NATIVE_DOUBLE, 1, &n3, NULL, 0, "1", "three values"};
  moat_h5_var_t vb = {"big", H5T_NATIVE_DOUBLE, 1, &n5000, NULL, 0, "1", "5000 values"};
  hid_t a = moat_h5_var_create(g, &vx, NULL), b = moat_h5_var_create(g, &vb, NULL);
  assert_true(a >= 0 && b >= 0);
  assert_true(H5Dwrite(a, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
  assert_true(H5Dwrite(b, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, big) >= 0);
  hid_t pa = H5Dget_create_plist(a), pb = H5Dget_create_plist(b);
  assert_int_equal(H5Pget_layout(pa), H5D_COMPACT);
  assert_int_equal(H5Pget_layout(pb), H5D_CHUNKED);
  H5Pclose(pa), H5Pclose(pb);
  H5Dclose(a), H5Dclose(b), H5Gclose(g);
  H5Fclose(f);
  H5Pclose(fcpl), H5Pclose(fapl);
}

/* moat_h5_verify on file path: 0 when it returns want_rc and, when it fails, names `dataset` and
 * says `cause`. Run in a child process that ends with _exit: HDF5 1.10 leaks the object header
 * struct when a header fails its checksum (fixed upstream, HDFGroup/hdf5 pull request 4445), which
 * LeakSanitizer would otherwise report at the test's exit. */
static int verify_in_child(const char *path, int want_rc, const char *dataset, const char *cause) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    char what[700] = "";
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int rc = f >= 0 ? moat_h5_verify(f, what, sizeof what) : -2;
    if (f >= 0) H5Fclose(f);
    int ok = rc == want_rc && (rc == 0 || (strstr(what, dataset) && strstr(what, cause)));
    if (!ok) fprintf(stderr, "moat_h5_verify: %d, '%s'\n", rc, what);
    _exit(ok ? 0 : 1);
  }
  int status = -1;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* moat_h5_verify on a file with one stored byte inverted: fails naming the dataset, whether the
 * byte is a value of a small (compact) dataset or of a large (chunked) one; the intact file
 * passes. */
static void verify_finds_damage(void **state) {
  (void)state;
  char path[256];
  tmp_name(path, sizeof path, "damage");
  moat_h5_quiet();
  const double x[3] = {1234.5678125, -0.001953125, 9.75e8};
  double *big = malloc(5000 * sizeof *big);
  assert_non_null(big);
  for (int i = 0; i < 5000; i++) big[i] = 1e6 + 0.5 * i;
  write_small_and_big(path, x, big);
  assert_int_equal(verify_in_child(path, 0, "", ""), 0);
  damage_value(path, x, sizeof x, 9); /* the second value's second byte */
  assert_int_equal(verify_in_child(path, -1, "'params/x'", "incorrect metadata checksum"), 0);
  write_small_and_big(path, x, big);
  damage_value(path, big, 64, 3);
  assert_int_equal(verify_in_child(path, -1, "'params/big'", "Fletcher32"), 0);
  free(big);
  remove(path);
}

/* A results file stores the digest of its variable-length strings (root attribute strings_digest,
 * one "path=hex" entry per string dataset, in name order), and moat_h5_verify fails naming the
 * dataset when a character of a lab name or of the scenario text is inverted in HDF5's global
 * heap (which has no checksum); the intact file passes. */
static void verify_finds_damaged_strings(void **state) {
  (void)state;
  char path[256], what[700] = "";
  tmp_name(path, sizeof path, "strings");
  moat_h5_quiet();
  assert_int_equal(write_file(path, 0), MOAT_OK);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  char *stored = moat_h5_attr_text_alloc(f, "strings_digest");
  assert_non_null(stored);
  /* the entry of labs/lab is FNV-1a of "labs/lab\0", then per name its length (8 bytes, little
   * endian) and its characters: computed here from the names the scenarios hold */
  uint64_t h = moat_h5_fnv1a(MOAT_FNV1A_BASIS, "labs/lab", 9);
  const char *names[2] = {"closed-a", "open-b"};
  for (int i = 0; i < 2; i++) {
    unsigned char le[8] = {(unsigned char)strlen(names[i])};
    h = moat_h5_fnv1a(moat_h5_fnv1a(h, le, 8), names[i], strlen(names[i]));
  }
  char entry[64];
  snprintf(entry, sizeof entry, "labs/lab=%016llx", (unsigned long long)h);
  assert_non_null(strstr(stored, entry));
  assert_non_null(strstr(stored, "scenario_text="));
  assert_true(strstr(stored, "clouds/cloud=") < strstr(stored, "labs/lab=")); /* name order */
  free(stored);
  assert_int_equal(moat_h5_verify(f, what, sizeof what), 0);
  H5Fclose(f);
  /* a global heap object is its size (8 bytes, little endian) then its bytes: "closed-a" is both
   * a lab name (8 bytes) and, quoted, the text parameter labs.closed-a.name (10 bytes), and part
   * of many parameter names elsewhere */
  damage_value(path, "\x08\0\0\0\0\0\0\0closed-a", 16, 10);
  assert_int_equal(verify_in_child(path, -1, "'labs/lab'", "strings_digest"), 0);
  assert_int_equal(write_file(path, 0), MOAT_OK);
  damage_value(path, "\x0a\0\0\0\0\0\0\0\"closed-a\"", 18, 12);
  assert_int_equal(verify_in_child(path, -1, "'params/", "strings_digest"), 0);
  assert_int_equal(write_file(path, 0), MOAT_OK);
  damage_value(path, "name = \"tiny\";", 14, 7);
  assert_int_equal(verify_in_child(path, -1, "'scenario_text'", "strings_digest"), 0);
  remove(path);
}

/* Without keep_paths there is no /paths group. */
static void no_paths_group(void **state) {
  (void)state;
  char path[256];
  hid_t f = written_file(path, sizeof path, "np", 0);
  assert_int_equal(H5Lexists(f, "paths", H5P_DEFAULT), 0);
  assert_true(H5Lexists(f, "market", H5P_DEFAULT) > 0);
  H5Fclose(f);
  remove(path);
}

/* A file in a missing directory cannot be created: MOAT_EIO naming the file; nothing left. */
static void missing_directory(void **state) {
  (void)state;
  make_scenarios();
  moat_writer_desc_t d = {.n_scenarios = 2, .scenario = source, .threads = 1};
  char err[MOAT_ERR_MAX] = "";
  moat_writer_t *w = NULL;
  assert_int_equal(moat_writer_alloc(&w, &d, err, sizeof err), MOAT_OK);
  assert_int_equal(moat_writer_write_skeleton(w, "/nonexistent-dir-moat/x.h5", 0, 1, 0, err, sizeof err), MOAT_EIO);
  assert_non_null(strstr(err, "/nonexistent-dir-moat/x.h5.tmp"));
  moat_writer_free(w);
}

/* A commit that fails (the test hook fails the next commit as a full disk would) leaves the
 * previous file as it was and no temporary; one that succeeds replaces it whole. */
static void failed_commit_keeps_existing(void **state) {
  (void)state;
  char path[256], tmp[300];
  tmp_name(path, sizeof path, "ab");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("previous results\n", fp);
  fclose(fp);
  make_scenarios();
  moat_writer_desc_t d = {.n_scenarios = 2, .scenario = source, .threads = 1};
  char err[MOAT_ERR_MAX];
  moat_writer_t *w = NULL;
  assert_int_equal(moat_writer_alloc(&w, &d, err, sizeof err), MOAT_OK);
  char next[32];
  snprintf(next, sizeof next, "%lu", moat_durable_commits() + 1);
  setenv("MOATSIM_TEST_ENOSPC_AT", next, 1);
  assert_int_equal(moat_writer_write_skeleton(w, path, 0, 1, 0, err, sizeof err), MOAT_EIO);
  unsetenv("MOATSIM_TEST_ENOSPC_AT");
  assert_non_null(strstr(err, "No space left on device"));
  assert_int_not_equal(access(tmp, F_OK), 0);
  char line[64] = "";
  fp = fopen(path, "r");
  assert_non_null(fp);
  assert_non_null(fgets(line, sizeof line, fp));
  fclose(fp);
  assert_string_equal(line, "previous results\n");
  assert_int_equal(moat_writer_write_skeleton(w, path, 0, 1, 0, err, sizeof err), MOAT_OK);
  assert_true(H5Fis_hdf5(path) > 0);
  assert_int_not_equal(access(tmp, F_OK), 0);
  moat_writer_free(w);
  remove(path);
}

/* Scenarios that cannot share a file: a different time step. */
static void mismatched_scenarios(void **state) {
  (void)state;
  make_scenarios();
  scen[1].steps_per_year = 12;
  moat_writer_desc_t d = {.n_scenarios = 2, .scenario = source, .threads = 1};
  char err[MOAT_ERR_MAX] = "";
  moat_writer_t *w = NULL;
  char path[256];
  tmp_name(path, sizeof path, "mm");
  assert_int_equal(moat_writer_alloc(&w, &d, err, sizeof err), MOAT_EINVAL);
  assert_non_null(strstr(err, "steps_per_year"));
  assert_int_not_equal(access(path, F_OK), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trip),
      cmocka_unit_test(no_paths_group),
      cmocka_unit_test(cf_names),
      cmocka_unit_test(seed_both_formats),
      cmocka_unit_test(readers),
      cmocka_unit_test(every_dataset_checksummed),
      cmocka_unit_test(verify_finds_damage),
      cmocka_unit_test(verify_finds_damaged_strings),
      cmocka_unit_test(missing_directory),
      cmocka_unit_test(failed_commit_keeps_existing),
      cmocka_unit_test(mismatched_scenarios),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
