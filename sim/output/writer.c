/* writer.c — the files of a run's results: the skeleton (groups, dimensions and variables sized
 * for all scenarios, provenance, /params) and one file per finished scenario, each written in
 * memory and committed whole (write to PATH.tmp, fsync, rename). */
#include "moatsim/writer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moatsim/durable.h"
#include "moatsim/provenance.h"
#include "moatsim/writer_h5.h"
#include "writer_internal.h"

/* Families of variables: what one metric spans inside a path's result block. */
enum family { FAM_MARKET, FAM_PATH, FAM_LAB, FAM_LAB_PATH, FAM_CLOUD };
enum group_id { G_MARKET, G_LABS, G_CLOUDS, N_GROUPS };
enum stat { ST_MEAN, ST_STD, ST_COUNT, ST_QUANTILE, N_STATS };

static const char *const group_names[N_GROUPS] = {"market", "labs", "clouds"};
static const char *const entity_names[N_GROUPS] = {NULL, "lab", "cloud"};

/* One metric as written: its family, index in the family's table, and description. */
typedef struct var_ref {
  int family, metric, group;
  const moat_metric_info_t *info;
} var_ref_t;

/* Dimension scales of one group (or /paths subgroup): -1 where absent. */
typedef struct dims {
  hid_t scenario, second, time, entity; /* second: quantile (summaries) or path (/paths) */
} dims_t;

struct moat_writer {
  char tmp[MOAT_PATH_MAX + 8]; /* the file being written: PATH.tmp, committed as PATH */
  moat_writer_desc_t desc;     /* strings borrowed until moat_writer_free */
  moat_writer_scenarios_t scan;
  char digest[17];             /* params_digest */
  hid_t file;
  int bare; /* a one-scenario file: no dimension scales (assembly copies values only) */
  hsize_t S, T, L, C, Q, P; /* scenarios, steps (max), labs, clouds, quantiles, paths (max) */
  int keep_paths;
  hid_t groups[N_GROUPS], path_groups[N_GROUPS], paths_root;
  dims_t dims[N_GROUPS], path_dims[N_GROUPS];
  hid_t done;
  size_t n_vars;
  var_ref_t *vars;
  hid_t (*stat_ds)[N_STATS]; /* [n_vars][N_STATS] */
  hid_t *path_ds;            /* [n_vars] when keep_paths */
};

/* ---- the list of variables ---------------------------------------------------------------- */

static size_t add_family(var_ref_t *v, size_t n, int family, int group,
                         const moat_metric_info_t *table, int count) {
  for (int m = 0; m < count; m++) v[n++] = (var_ref_t){family, m, group, &table[m]};
  return n;
}

static int list_vars(moat_writer_t *w) {
  size_t n = MOAT_N_MARKET + MOAT_N_PATH + MOAT_N_LAB + MOAT_N_LAB_PATH + MOAT_N_CLOUD;
  w->vars = calloc(n, sizeof *w->vars);
  w->stat_ds = calloc(n, sizeof *w->stat_ds);
  w->path_ds = calloc(n, sizeof *w->path_ds);
  if (!w->vars || !w->stat_ds || !w->path_ds) return MOAT_ENOMEM;
  size_t k = 0;
  k = add_family(w->vars, k, FAM_MARKET, G_MARKET, moat_market_metrics, MOAT_N_MARKET);
  k = add_family(w->vars, k, FAM_PATH, G_MARKET, moat_path_metrics, MOAT_N_PATH);
  k = add_family(w->vars, k, FAM_LAB, G_LABS, moat_lab_metrics, MOAT_N_LAB);
  k = add_family(w->vars, k, FAM_LAB_PATH, G_LABS, moat_lab_path_metrics, MOAT_N_LAB_PATH);
  k = add_family(w->vars, k, FAM_CLOUD, G_CLOUDS, moat_cloud_metrics, MOAT_N_CLOUD);
  w->n_vars = k;
  for (size_t i = 0; i < n; i++) {
    for (int s = 0; s < N_STATS; s++) w->stat_ds[i][s] = -1;
    w->path_ds[i] = -1;
  }
  return MOAT_OK;
}

static int has_time(int family) { return family == FAM_MARKET || family == FAM_LAB || family == FAM_CLOUD; }

/* Dimensions after (scenario[, quantile|path]) of a variable: entity then time, as present.
 * Sizes from (entities, steps); scales from d. Returns the count (0..2). */
static int inner_dims(const var_ref_t *v, hsize_t entities, hsize_t steps, const dims_t *d,
                      hsize_t *size, hid_t *scale) {
  int n = 0;
  if (v->group != G_MARKET) {
    size[n] = entities;
    scale[n++] = d ? d->entity : -1;
  }
  if (has_time(v->family)) {
    size[n] = steps;
    scale[n++] = d ? d->time : -1;
  }
  return n;
}

/* Where metric v of one path lies in the layout: first element and count (contiguous). */
static void var_span(const var_ref_t *v, const moat_layout_t *lay, size_t *off, size_t *len) {
  switch (v->family) {
  case FAM_MARKET: *off = moat_at_market(lay, v->metric, 0); *len = lay->n_steps; break;
  case FAM_PATH: *off = moat_at_path(lay, v->metric); *len = 1; break;
  case FAM_LAB: *off = moat_at_lab(lay, v->metric, 0, 0); *len = lay->n_labs * lay->n_steps; break;
  case FAM_LAB_PATH: *off = moat_at_lab_path(lay, v->metric, 0); *len = lay->n_labs; break;
  default: *off = moat_at_cloud(lay, v->metric, 0, 0); *len = lay->n_clouds * lay->n_steps; break;
  }
}

static hsize_t group_entities(const moat_writer_t *w, int group) {
  return group == G_LABS ? w->L : group == G_CLOUDS ? w->C : 1;
}

/* ---- creation ----------------------------------------------------------------------------- */

/* Dimension scales of a group: scenario, quantile (or path), time, and lab/cloud names. */
static int create_dims(moat_writer_t *w, hid_t g, int group, int for_paths,
                       const moat_writer_scenarios_t *sc, dims_t *d) {
  d->scenario = d->second = d->time = d->entity = -1;
  int32_t *idx = malloc((size_t)(w->S > w->P ? w->S : w->P) * sizeof *idx);
  double *t = malloc((size_t)w->T * sizeof *t);
  int st = idx && t ? MOAT_OK : MOAT_ENOMEM;
  if (st == MOAT_OK) {
    for (hsize_t i = 0; i < (w->S > w->P ? w->S : w->P); i++) idx[i] = (int32_t)i;
    for (hsize_t n = 0; n < w->T; n++) t[n] = (double)n * MOAT_CF_DAYS_PER_YEAR / sc->steps_per_year;
    d->scenario = moat_h5_dim_create(g, "scenario", H5T_NATIVE_INT32, w->S, idx, NULL, "1",
                                     "scenario index, in sweep order");
    d->second = for_paths ? moat_h5_dim_create(g, "path", H5T_NATIVE_INT32, w->P, idx, NULL, "1",
                                               "Monte Carlo path index")
                          : moat_h5_dim_create(g, "quantile", H5T_NATIVE_DOUBLE, w->Q, sc->quantiles,
                                               NULL, "1", "quantile level across paths");
    d->time = moat_h5_dim_create(g, "time", H5T_NATIVE_DOUBLE, w->T, t, NULL, MOAT_CF_TIME_UNITS,
                                 "time since the start, t = n dt (360-day years)");
    if (d->time >= 0 && moat_h5_time_attrs(d->time) < 0) st = MOAT_EIO;
    if (group != G_MARKET)
      d->entity = moat_h5_dim_create(g, entity_names[group], 0, group_entities(w, group), NULL,
                                     (const char *const *)(group == G_LABS ? sc->lab_names : sc->cloud_names),
                                     NULL, group == G_LABS ? "lab name" : "serving cloud name");
    if (d->scenario < 0 || d->second < 0 || d->time < 0 || (group != G_MARKET && d->entity < 0))
      st = MOAT_EIO;
  }
  free(idx);
  free(t);
  return st;
}

/* Long names of the statistics of a metric. */
static void stat_long_name(char *buf, size_t len, int stat, const char *long_name) {
  static const char *const what[N_STATS] = {"mean over paths of ", "standard deviation over paths of ",
                                            "paths with a value of ", "quantiles over paths of "};
  snprintf(buf, len, "%s%s", what[stat], long_name);
}

/* The four summary variables of metric v: X_mean, X_std, X_count, X_quantile. */
static const char *const stat_suffix[N_STATS] = {"mean", "std", "count", "quantile"};

static int create_stats(moat_writer_t *w, size_t i) {
  const var_ref_t *v = &w->vars[i];
  const dims_t *d = &w->dims[v->group];
  hsize_t inner[2];
  hid_t inner_scales[2];
  int ni = inner_dims(v, group_entities(w, v->group), w->T, d, inner, inner_scales);
  for (int s = 0; s < N_STATS; s++) {
    hsize_t size[4], chunk[4];
    hid_t scales[4];
    int r = 0;
    size[r] = w->S, scales[r++] = d->scenario;
    if (s == ST_QUANTILE) size[r] = w->Q, scales[r++] = d->second;
    for (int j = 0; j < ni; j++) size[r] = inner[j], scales[r++] = inner_scales[j];
    /* One chunk per scenario: the unit written (and checksummed, Fletcher-32). */
    for (int j = 0; j < r; j++) chunk[j] = j == 0 ? 1 : size[j];
    char name[MOAT_KEY_MAX], long_name[512];
    snprintf(name, sizeof name, "%s_%s", v->info->name, stat_suffix[s]);
    stat_long_name(long_name, sizeof long_name, s, v->info->long_name);
    moat_h5_var_t spec = {name, s == ST_COUNT ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE, r, size, chunk, 0,
                          s == ST_COUNT ? "1" : v->info->units, long_name};
    w->stat_ds[i][s] = moat_h5_var_create(w->groups[v->group], &spec, w->bare ? NULL : scales);
    if (w->stat_ds[i][s] < 0) return MOAT_EIO;
  }
  return MOAT_OK;
}

/* /paths/<group>/X(scenario, path, [entity,] [time]): chunks of one scenario and a block of
 * paths of about 1 MiB, deflated. */
static int create_path_var(moat_writer_t *w, size_t i) {
  const var_ref_t *v = &w->vars[i];
  const dims_t *d = &w->path_dims[v->group];
  hsize_t size[4] = {w->S, w->P}, chunk[4];
  hid_t scales[4] = {d->scenario, d->second};
  int r = 2 + inner_dims(v, group_entities(w, v->group), w->T, d, size + 2, scales + 2);
  hsize_t per_path = 1;
  for (int j = 2; j < r; j++) per_path *= size[j];
  hsize_t block = ((hsize_t)1 << 17) / per_path; /* 2^17 doubles = 1 MiB */
  block = block < 1 ? 1 : block > w->P ? w->P : block;
  chunk[0] = 1, chunk[1] = block;
  for (int j = 2; j < r; j++) chunk[j] = size[j];
  moat_h5_var_t spec = {v->info->name, H5T_NATIVE_DOUBLE, r, size, chunk, 4, v->info->units,
                        v->info->long_name};
  w->path_ds[i] = moat_h5_var_create(w->path_groups[v->group], &spec, w->bare ? NULL : scales);
  return w->path_ds[i] < 0 ? MOAT_EIO : MOAT_OK;
}

/* Groups, their dimensions and every variable. */
static int create_layout(moat_writer_t *w, const moat_writer_scenarios_t *sc) {
  for (int g = 0; g < N_GROUPS; g++) {
    w->groups[g] = moat_h5_group_create(w->file, group_names[g]);
    if (w->groups[g] < 0) return MOAT_EIO;
    int st = w->bare ? MOAT_OK : create_dims(w, w->groups[g], g, 0, sc, &w->dims[g]);
    if (st != MOAT_OK) return st;
  }
  moat_h5_var_t done = {"scenario_done", H5T_NATIVE_UINT8, 1, &w->S, NULL, 0, "1",
                        "1 once every summary of the scenario is written"};
  w->done = moat_h5_var_create(w->groups[G_MARKET], &done, w->bare ? NULL : &w->dims[G_MARKET].scenario);
  if (w->done < 0) return MOAT_EIO;
  int st = w->bare ? MOAT_OK : moat_writer_lab_names(w->groups[G_LABS], w->dims[G_LABS].entity, sc);
  if (st != MOAT_OK) return st;
  if (w->keep_paths) {
    w->paths_root = moat_h5_group_create(w->file, "paths");
    if (w->paths_root < 0) return MOAT_EIO;
    for (int g = 0; g < N_GROUPS; g++) {
      w->path_groups[g] = moat_h5_group_create(w->paths_root, group_names[g]);
      if (w->path_groups[g] < 0) return MOAT_EIO;
      st = w->bare ? MOAT_OK : create_dims(w, w->path_groups[g], g, 1, sc, &w->path_dims[g]);
      if (st != MOAT_OK) return st;
    }
  }
  for (size_t i = 0; i < w->n_vars; i++) {
    st = create_stats(w, i);
    if (st == MOAT_OK && w->keep_paths) st = create_path_var(w, i);
    if (st != MOAT_OK) return st;
  }
  return MOAT_OK;
}

/* CF description of the file (title, source, history) from the provenance. */
static int write_cf_attrs(hid_t f, const moat_writer_desc_t *desc, const moat_writer_scenarios_t *sc,
                          const moat_provenance_t *p, const char *start) {
  const char *cmd = desc->command_line ? desc->command_line : "";
  size_t len = strlen(cmd) + strlen(start) + 2;
  char *history = malloc(len), title[sizeof sc->first.name + 32], source[256];
  if (!history) return -1;
  snprintf(history, len, "%s %s", start, cmd);
  snprintf(title, sizeof title, "moatsim results: scenario %s", sc->first.name);
  snprintf(source, sizeof source, "moatsim %s (git %s)", p->moatsim_version, p->git_revision);
  int bad = moat_h5_attr_text(f, "Conventions", MOAT_CF_CONVENTIONS) < 0 ||
            moat_h5_attr_text(f, "title", title) < 0 || moat_h5_attr_text(f, "source", source) < 0 ||
            moat_h5_attr_text(f, "history", history) < 0;
  free(history);
  return bad ? -1 : 0;
}

/* Root attributes: provenance and the run's identity. The seed is decimal text (an unsigned
 * 64-bit attribute is not a type R's netCDF readers have); the scenario text, often tens of KiB,
 * is a root variable so that the header stays short. */
static int write_root_attrs(moat_writer_t *w, const moat_writer_desc_t *desc,
                            const moat_writer_scenarios_t *sc) {
  moat_provenance_t p;
  moat_provenance_get(&p);
  char start[32], seed[32];
  moat_provenance_iso_time(time(NULL), start, sizeof start);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)sc->seed);
  hid_t f = w->file;
  int bad = write_cf_attrs(f, desc, sc, &p, start) < 0 ||
            moat_h5_attr_int(f, "format_version", MOAT_FORMAT_VERSION) < 0 ||
            moat_h5_attr_text(f, "moatsim_version", p.moatsim_version) < 0 ||
            moat_h5_attr_text(f, "git_revision", p.git_revision) < 0 ||
            moat_h5_attr_text(f, "compiler", p.compiler) < 0 ||
            moat_h5_attr_text(f, "cflags", p.cflags) < 0 ||
            moat_h5_attr_text(f, "gsl_version", p.gsl_version) < 0 ||
            moat_h5_attr_text(f, "hdf5_version", p.hdf5_version) < 0 ||
            moat_h5_attr_text(f, "libconfig_version", p.libconfig_version) < 0 ||
            moat_h5_attr_text(f, "seed", seed) < 0 ||
            moat_h5_attr_text(f, "command_line", desc->command_line ? desc->command_line : "") < 0 ||
            moat_h5_attr_text(f, "scenario_file", desc->scenario_file ? desc->scenario_file : "") < 0 ||
            moat_h5_attr_text(f, "start_time", start) < 0 ||
            moat_h5_attr_double(f, "wall_time_s", NAN) < 0 ||
            moat_h5_attr_int(f, "threads", desc->threads) < 0 ||
            moat_h5_attr_int(f, "n_scenarios", (int64_t)w->S) < 0 ||
            moat_h5_attr_int(f, "paths", sc->paths) < 0 ||
            moat_h5_attr_text(f, "params_digest", w->digest) < 0;
  hid_t text = bad ? -1
                   : moat_h5_text_scalar(f, "scenario_text", desc->scenario_text ? desc->scenario_text : "",
                                         "the scenario file's text followed by the --set lines applied");
  if (text >= 0) H5Dclose(text);
  return bad || text < 0 ? MOAT_EIO : MOAT_OK;
}

static void close_dims(dims_t *d) {
  hid_t *ids[4] = {&d->scenario, &d->second, &d->time, &d->entity};
  for (int j = 0; j < 4; j++) {
    if (*ids[j] >= 0) H5Dclose(*ids[j]);
    *ids[j] = -1;
  }
}

/* Close every object of the open file (ids back to -1) and the file itself. 0 or -1 (closing
 * the file failed: with the core driver that is where its image is written). */
static int close_file(moat_writer_t *w) {
  for (size_t i = 0; i < w->n_vars; i++) {
    for (int s = 0; s < N_STATS; s++)
      if (w->stat_ds[i][s] >= 0) H5Dclose(w->stat_ds[i][s]), w->stat_ds[i][s] = -1;
    if (w->path_ds[i] >= 0) H5Dclose(w->path_ds[i]), w->path_ds[i] = -1;
  }
  for (int g = 0; g < N_GROUPS; g++) {
    close_dims(&w->dims[g]);
    close_dims(&w->path_dims[g]);
  }
  hid_t *ids[] = {&w->done, &w->groups[0], &w->groups[1], &w->groups[2], &w->path_groups[0],
                  &w->path_groups[1], &w->path_groups[2], &w->paths_root};
  for (size_t j = 0; j < sizeof ids / sizeof *ids; j++) {
    if (*ids[j] >= 0) H5Oclose(*ids[j]);
    *ids[j] = -1;
  }
  int st = w->file >= 0 && H5Fclose(w->file) < 0 ? -1 : 0;
  w->file = -1;
  return st;
}

/* A writer with no file and no HDF5 handles open (every handle -1), or NULL. */
static moat_writer_t *writer_new(void) {
  moat_writer_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->file = w->done = w->paths_root = -1;
  for (int g = 0; g < N_GROUPS; g++) {
    w->groups[g] = w->path_groups[g] = -1;
    w->dims[g] = w->path_dims[g] = (dims_t){-1, -1, -1, -1};
  }
  return w;
}

int moat_writer_alloc(moat_writer_t **out, const moat_writer_desc_t *desc, char *err, size_t errlen) {
  *out = NULL;
  moat_h5_quiet();
  moat_writer_t *w = writer_new();
  if (!w) {
    snprintf(err, errlen, "out of memory creating the writer");
    return MOAT_ENOMEM;
  }
  w->desc = *desc;
  int st = moat_writer_scenarios_scan(&w->scan, desc, err, errlen);
  if (st == MOAT_OK) {
    const moat_writer_scenarios_t *sc = &w->scan;
    w->S = desc->n_scenarios, w->T = (hsize_t)sc->max_steps, w->P = (hsize_t)sc->max_paths;
    w->L = (hsize_t)sc->n_labs, w->C = (hsize_t)sc->n_clouds, w->Q = (hsize_t)sc->n_quantiles;
    w->keep_paths = desc->keep_paths;
    snprintf(w->digest, sizeof w->digest, "%016llx", (unsigned long long)sc->digest);
    st = list_vars(w);
    if (st != MOAT_OK) snprintf(err, errlen, "out of memory listing the variables of the results");
  }
  if (st != MOAT_OK) {
    moat_writer_free(w);
    return st;
  }
  *out = w;
  return MOAT_OK;
}

int moat_writer_alloc_bare(moat_writer_t **out, const moat_writer_dims_t *d, char *err, size_t errlen) {
  *out = NULL;
  moat_h5_quiet();
  moat_writer_t *w = writer_new();
  if (!w || list_vars(w) != MOAT_OK) {
    moat_writer_free(w);
    snprintf(err, errlen, "out of memory creating the writer");
    return MOAT_ENOMEM;
  }
  w->S = d->n_scenarios, w->T = d->max_steps, w->P = d->max_paths, w->L = d->n_labs, w->C = d->n_clouds;
  w->Q = d->n_quantiles, w->keep_paths = d->keep_paths;
  *out = w;
  return MOAT_OK;
}

void moat_writer_get_dims(const moat_writer_t *w, moat_writer_dims_t *d) {
  *d = (moat_writer_dims_t){w->S, w->T, w->P, w->L, w->C, w->Q, w->keep_paths};
}

void moat_writer_free(moat_writer_t *w) {
  if (!w) return;
  if (w->file >= 0) close_file(w);
  moat_writer_scenarios_clear(&w->scan);
  free(w->vars);
  free(w->stat_ds);
  free(w->path_ds);
  free(w);
}

const char *moat_writer_params_digest(const moat_writer_t *w) { return w->digest; }

/* Create PATH.tmp in memory (HDF5's core driver: the image is written in one go when the file
 * is closed). 0 or MOAT_EIO. */
static int open_file(moat_writer_t *w, const char *path, char *err, size_t errlen) {
  snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
  hid_t fcpl = moat_h5_fcpl(), fapl = moat_h5_fapl();
  /* Core driver, 64 KiB increments: it writes its whole allocated image at close, then truncates
   * to the file's length, so a large increment would make a small file need that much disk. */
  if (fcpl >= 0 && fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)64 << 10, 1) >= 0)
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fapl >= 0) H5Pclose(fapl);
  if (w->file < 0) {
    moat_h5_error(err, errlen, "cannot create", w->tmp);
    remove(w->tmp);
    return MOAT_EIO;
  }
  return MOAT_OK;
}

/* Store the file's strings_digest, close it and commit it as path; on any failure (st != 0 on entry, or
 * closing, or the commit) PATH.tmp is removed. Returns the status. */
static int commit_file(moat_writer_t *w, int st, const char *path, char *err, size_t errlen) {
  if (st == MOAT_OK && moat_h5_strings_digest_store(w->file) < 0) {
    moat_h5_error(err, errlen, "cannot store the strings_digest of", w->tmp);
    st = MOAT_EIO;
  }
  if (close_file(w) < 0 && st == MOAT_OK) {
    moat_h5_error(err, errlen, "cannot write", w->tmp);
    st = MOAT_EIO;
  }
  if (st == MOAT_OK) return moat_durable_commit(w->tmp, path, err, errlen);
  remove(w->tmp);
  return st;
}

int moat_writer_write_skeleton(moat_writer_t *w, const char *path, int shard_index, int shard_count,
                               int by_paths, char *err, size_t errlen) {
  int st = open_file(w, path, err, errlen);
  if (st != MOAT_OK) return st;
  st = write_root_attrs(w, &w->desc, &w->scan);
  if (st == MOAT_OK) st = create_layout(w, &w->scan);
  if (st == MOAT_OK && shard_count > 1) {
    char rule[256];
    if (by_paths)
      snprintf(rule, sizeof rule, "paths: the sweep's paths laid end to end, scenario by scenario, cut into "
               "%d equal parts; this file holds part %d in /shard_paths", shard_count, shard_index);
    else snprintf(rule, sizeof rule, "scenarios k with k mod %d = %d", shard_count, shard_index);
    if (moat_h5_attr_int(w->file, "shard_index", shard_index) < 0 ||
        moat_h5_attr_int(w->file, "shard_count", shard_count) < 0 ||
        moat_h5_attr_text(w->file, "shard_scenarios", rule) < 0 ||
        (by_paths && moat_h5_attr_text(w->file, "shard_split", "paths") < 0))
      st = MOAT_EIO;
  }
  if (st == MOAT_OK) st = moat_writer_params(w->file, &w->desc, &w->scan, err, errlen);
  else if (st == MOAT_EIO) moat_h5_error(err, errlen, "cannot lay out results file", w->tmp);
  return commit_file(w, st, path, err, errlen);
}

/* ---- writing a scenario ------------------------------------------------------------------- */

static int write_var(moat_writer_t *w, size_t i, size_t k, const moat_layout_t *lay,
                     const moat_summary_t *s, const double *paths, size_t n_paths) {
  const var_ref_t *v = &w->vars[i];
  size_t off, len;
  var_span(v, lay, &off, &len);
  hsize_t ent = v->group == G_LABS ? lay->n_labs : v->group == G_CLOUDS ? lay->n_clouds : 1;
  hsize_t fc[3];
  int ni = inner_dims(v, ent, lay->n_steps, NULL, fc + 1, (hid_t[2]){0, 0});
  hsize_t n = s->n_elem;
  /* mean, std, count: one row of the element arrays; quantile: rows = levels. */
  int bad = moat_h5_write_block(w->stat_ds[i][ST_MEAN], H5T_NATIVE_DOUBLE, s->mean, 1, n, off, len, k, 1 + ni, fc + 1) < 0 ||
            moat_h5_write_block(w->stat_ds[i][ST_STD], H5T_NATIVE_DOUBLE, s->std, 1, n, off, len, k, 1 + ni, fc + 1) < 0 ||
            moat_h5_write_block(w->stat_ds[i][ST_COUNT], H5T_NATIVE_INT32, s->count, 1, n, off, len, k, 1 + ni, fc + 1) < 0;
  fc[0] = (hsize_t)s->n_q;
  if (!bad && s->n_q > 0)
    bad = moat_h5_write_block(w->stat_ds[i][ST_QUANTILE], H5T_NATIVE_DOUBLE, s->quantile, (hsize_t)s->n_q, n,
                              off, len, k, 2 + ni, fc) < 0;
  fc[0] = n_paths;
  if (!bad && w->keep_paths && paths && n_paths > 0)
    bad = moat_h5_write_block(w->path_ds[i], H5T_NATIVE_DOUBLE, paths, n_paths, lay->per_path, off, len, k,
                              2 + ni, fc) < 0;
  return bad ? MOAT_EIO : MOAT_OK;
}

/* Scenario k's results at scenario index 0 of the open one-scenario file. */
static int write_results(moat_writer_t *w, size_t k, const moat_layout_t *lay, const moat_summary_t *s,
                         const double *paths, size_t n_paths, char *err, size_t errlen) {
  if (moat_h5_attr_int(w->file, "format_version", MOAT_FORMAT_VERSION) < 0 ||
      moat_h5_attr_int(w->file, "scenario", (int64_t)k) < 0) {
    moat_h5_error(err, errlen, "cannot write", w->tmp);
    return MOAT_EIO;
  }
  for (size_t i = 0; i < w->n_vars; i++) {
    if (write_var(w, i, 0, lay, s, paths, n_paths) != MOAT_OK) {
      char what[256];
      snprintf(what, sizeof what, "cannot write %s of scenario %zu to", w->vars[i].info->name, k);
      moat_h5_error(err, errlen, what, w->tmp);
      return MOAT_EIO;
    }
  }
  const uint8_t one = 1;
  if (moat_h5_write_block(w->done, H5T_NATIVE_UINT8, &one, 1, 1, 0, 1, 0, 1, NULL) < 0) {
    moat_h5_error(err, errlen, "cannot write", w->tmp);
    return MOAT_EIO;
  }
  return MOAT_OK;
}

int moat_writer_write_scenario(moat_writer_t *w, const char *path, size_t k, const moat_layout_t *lay,
                               const moat_summary_t *s, const double *paths, size_t n_paths,
                               char *err, size_t errlen) {
  if (k >= w->S || lay->n_steps > w->T || lay->n_labs != w->L || lay->n_clouds != w->C ||
      n_paths > w->P || s->n_elem != lay->per_path || (hsize_t)s->n_q != w->Q) {
    snprintf(err, errlen,
             "scenario %zu does not fit the run (%zu scenarios, %llu steps, %llu paths, %llu quantiles)", k,
             (size_t)w->S, (unsigned long long)w->T, (unsigned long long)w->P, (unsigned long long)w->Q);
    return MOAT_EINVAL;
  }
  hsize_t all = w->S;
  w->S = 1, w->bare = 1; /* the variables of one scenario, nothing else */
  int st = open_file(w, path, err, errlen);
  if (st == MOAT_OK) {
    st = create_layout(w, &w->scan);
    if (st != MOAT_OK) moat_h5_error(err, errlen, "cannot lay out", w->tmp);
    if (st == MOAT_OK) st = write_results(w, k, lay, s, paths, n_paths, err, errlen);
    st = commit_file(w, st, path, err, errlen);
  }
  w->S = all, w->bare = 0;
  return st;
}
