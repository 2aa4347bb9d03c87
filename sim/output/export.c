/* export.c — `moatsim export`: each group of a results file as a flat CF-1.10 netCDF-4 file that
 * CDO and NCO use as they are (they read no groups): time the leading, unlimited (record)
 * dimension, a finite _FillValue, the file's provenance as global attributes. */
#include "moatsim/export.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "moatsim/provenance.h"
#include "moatsim/writer.h"
#include "moatsim/writer_h5.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#define MAX_SCALES 8
/* Bytes of one variable's slab read, transposed and written at a time. */
#define SLAB_BYTES ((size_t)32 << 20)
/* Target size of a chunk of an exported time-varying variable. */
#define CHUNK_BYTES ((size_t)1 << 20)

static const char *const groups[] = {"market", "labs", "clouds", "params", "paths/market", "paths/labs",
                                     "paths/clouds"};
#define N_GROUPS (sizeof groups / sizeof *groups)

/* One exported group: the dimension scales made so far, by name. */
typedef struct out_group {
  hid_t src, dst;
  int n_scales;
  char names[MAX_SCALES][64];
  hid_t scales[MAX_SCALES];
  hsize_t sizes[MAX_SCALES];
} out_group_t;

/* Attributes the export sets itself or that belong to HDF5 dimension scales. */
static int skipped_attr(const char *name) {
  static const char *const skip[] = {"_FillValue", "DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME",
                                     "_Netcdf4Dimid", "_Netcdf4Coordinates", "scenario_text", "seed",
                                     "history", "title"};
  for (size_t j = 0; j < sizeof skip / sizeof *skip; j++)
    if (strcmp(name, skip[j]) == 0) return 1;
  return 0;
}

/* H5Aiterate2 callback: copy attribute `name` of loc to the object in *data (under a CF name). */
static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  hid_t dst = *(hid_t *)data;
  if (skipped_attr(name)) return 0;
  char cf[MOAT_KEY_MAX];
  moat_h5_cf_name(name, cf, sizeof cf);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
  hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
  hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  size_t size = t >= 0 ? H5Tget_size(t) : 0;
  /* moatsim writes no variable-length attributes: one is left out rather than misread */
  int vlen = t >= 0 && (H5Tis_variable_str(t) > 0 || H5Tget_class(t) == H5T_VLEN);
  void *buf = n >= 0 && size && !vlen ? calloc((size_t)(n ? n : 1), size) : NULL;
  int bad = !vlen && (!buf || H5Aread(a, t, buf) < 0);
  int64_t i64 = 0;
  hid_t b = -1;
  if (!bad && !vlen && n == 1 && H5Tget_class(t) == H5T_INTEGER && size == 8 &&
      H5Aread(a, H5T_NATIVE_INT64, &i64) >= 0) {
    bad = moat_h5_attr_int(dst, cf, i64) < 0; /* format 1's 64-bit integers: 32 bits if they fit */
  } else if (!bad && !vlen) {
    if (H5Aexists(dst, cf) > 0) H5Adelete(dst, cf);
    b = H5Acreate2(dst, cf, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    bad = b < 0 || H5Awrite(b, t, buf) < 0;
  }
  if (b >= 0) H5Aclose(b);
  free(buf);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return bad ? -1 : 0;
}

static int copy_attrs(hid_t src, hid_t dst) {
  hsize_t idx = 0;
  if (H5Aiterate2(src, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, copy_attr, &dst) >= 0) return 0;
  H5Eclear2(H5E_DEFAULT);
  idx = 0;
  return H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr, &dst) < 0 ? -1 : 0;
}

/* Global attributes: the source's provenance, its group's attributes, title, seed as text and a
 * history line for this export on top of the run's. */
static int global_attrs(hid_t srcfile, hid_t g, hid_t dst, const char *group, const char *command) {
  char stamp[32];
  moat_provenance_iso_time(time(NULL), stamp, sizeof stamp);
  char old_title[512] = "moatsim results", old_history[4096] = "", seed[32] = "";
  moat_h5_attr_read_text(srcfile, "title", old_title, sizeof old_title);
  moat_h5_attr_read_text(srcfile, "history", old_history, sizeof old_history);
  uint64_t s;
  if (moat_h5_read_seed(srcfile, &s) == 0) snprintf(seed, sizeof seed, "%llu", (unsigned long long)s);
  size_t len = strlen(old_history) + strlen(command) + sizeof stamp + 4;
  char *history = malloc(len), heading[700];
  if (!history) return -1;
  snprintf(history, len, "%s %s%s%s", stamp, command, old_history[0] ? "\n" : "", old_history);
  snprintf(heading, sizeof heading, "%s, group /%s", old_title, group);
  int bad = copy_attrs(srcfile, dst) < 0 || copy_attrs(g, dst) < 0 ||
            moat_h5_attr_text(dst, "Conventions", MOAT_CF_CONVENTIONS) < 0 ||
            moat_h5_attr_text(dst, "title", heading) < 0 || moat_h5_attr_text(dst, "history", history) < 0 ||
            moat_h5_attr_text(dst, "source_group", group) < 0 ||
            (seed[0] && moat_h5_attr_text(dst, "seed", seed) < 0);
  free(history);
  H5Eclear2(H5E_DEFAULT);
  return bad ? -1 : 0;
}

/* ---- coordinates -------------------------------------------------------------------------- */

static int scale_index(const out_group_t *o, const char *name) {
  for (int j = 0; j < o->n_scales; j++)
    if (strcmp(o->names[j], name) == 0) return j;
  return -1;
}


/* A whole dataset read in its file type (strings as variable-length pointers). */
static void *read_all(hid_t ds, hid_t type, hsize_t n) {
  void *buf = calloc((size_t)(n ? n : 1), H5Tget_size(type));
  if (buf && n && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) free(buf), buf = NULL;
  return buf;
}

/* Free the strings a read of a variable-length type allocated. */
static void reclaim(hid_t type, hid_t space, void *buf) {
  if (buf && H5Tis_variable_str(type) > 0) H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
}

static hid_t dcpl_ordered(void) {
  hid_t p = H5Pcreate(H5P_DATASET_CREATE);
  if (p >= 0 && H5Pset_attr_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0) {
    H5Pclose(p);
    p = -1;
  }
  return p;
}

/* The time coordinate: days since MOAT_CF_TIME_UNITS' date, unlimited. Format 2 values are
 * copied as they are; format 1's years become days. */
static hid_t export_time(out_group_t *o, hid_t src) {
  hsize_t n = 0;
  char units[128] = "";
  moat_h5_attr_read_text(src, "units", units, sizeof units);
  double *t = moat_h5_read_time_years(o->src, "time", &n);
  if (!t) return -1;
  int days = strncmp(units, "days since", 10) == 0;
  if (days && n && H5Dread(src, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t) < 0) {
    free(t);
    return -1;
  }
  for (hsize_t i = 0; !days && i < n; i++) t[i] *= MOAT_CF_DAYS_PER_YEAR;
  hsize_t max = H5S_UNLIMITED, chunk = n ? n : 1;
  hid_t sp = H5Screate_simple(1, &n, &max), p = dcpl_ordered();
  hid_t ds = -1;
  if (sp >= 0 && p >= 0 && H5Pset_chunk(p, 1, &chunk) >= 0)
    ds = H5Dcreate2(o->dst, "time", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, p, H5P_DEFAULT);
  int bad = ds < 0 || (n && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t) < 0) ||
            copy_attrs(src, ds) < 0 || moat_h5_attr_text(ds, "units", MOAT_CF_TIME_UNITS) < 0 ||
            moat_h5_time_attrs(ds) < 0;
  if (sp >= 0) H5Sclose(sp);
  if (p >= 0) H5Pclose(p);
  free(t);
  if (bad && ds >= 0) H5Dclose(ds), ds = -1;
  return ds;
}

/* Blank-separated list of n strings (blanks inside one become '_'), malloc'ed. */
static char *join_words(char **words, hsize_t n) {
  size_t len = 1;
  for (hsize_t i = 0; i < n; i++) len += strlen(words[i] ? words[i] : "") + 1;
  char *list = malloc(len), *at = list;
  for (hsize_t i = 0; list && i < n; i++) {
    at += sprintf(at, "%s%s", i ? " " : "", words[i] ? words[i] : "");
    for (char *c = at - strlen(words[i] ? words[i] : ""); c < at; c++)
      if (*c == ' ') *c = '_';
  }
  if (list && !n) list[0] = '\0';
  return list;
}

/* A string coordinate (lab, cloud names): CDO reads no string coordinates, so the export's is
 * the index 0..n-1 with the names as CF flag_meanings. */
static hid_t export_names(out_group_t *o, hid_t src, const char *name, hid_t t, hid_t sp, hsize_t n) {
  char **words = read_all(src, t, n);
  int32_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
  char *meanings = words ? join_words(words, n) : NULL;
  hid_t p = dcpl_ordered(), ds = -1, isp = H5Screate_simple(1, &n, NULL);
  for (hsize_t i = 0; idx && i < n; i++) idx[i] = (int32_t)i;
  if (meanings && idx && p >= 0 && isp >= 0)
    ds = H5Dcreate2(o->dst, name, H5T_NATIVE_INT32, isp, H5P_DEFAULT, p, H5P_DEFAULT);
  hid_t a = ds >= 0 ? H5Acreate2(ds, "flag_values", H5T_NATIVE_INT32, isp, H5P_DEFAULT, H5P_DEFAULT) : -1;
  int bad = ds < 0 || a < 0 || (n && H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx) < 0) ||
            H5Awrite(a, H5T_NATIVE_INT32, idx) < 0 || copy_attrs(src, ds) < 0 ||
            moat_h5_attr_text(ds, "flag_meanings", meanings) < 0;
  if (a >= 0) H5Aclose(a);
  reclaim(t, sp, words);
  free(words);
  free(idx);
  free(meanings);
  if (p >= 0) H5Pclose(p);
  if (isp >= 0) H5Sclose(isp);
  if (bad && ds >= 0) H5Dclose(ds), ds = -1;
  return ds;
}

/* A string variable (CDO reads none): a scalar one (a text parameter) becomes a global attribute,
 * one over a name coordinate (lab_kind) an attribute of that coordinate, blank-separated. */
static int export_strings(out_group_t *o, hid_t src, const char *name) {
  hid_t t = H5Dget_type(src), sp = H5Dget_space(src);
  int rank = H5Sget_simple_extent_ndims(sp);
  hsize_t n = 1;
  if (rank == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
  char dim[64] = "", cf[MOAT_KEY_MAX];
  moat_h5_cf_name(name, cf, sizeof cf);
  int at = rank == 1 && moat_h5_dim_name(src, 0, dim, sizeof dim) == 0 ? scale_index(o, dim) : -1;
  char **words = rank <= 1 ? read_all(src, t, n) : NULL;
  char *list = words ? join_words(words, n) : NULL;
  int bad = !list || (rank == 1 && at < 0) ||
            moat_h5_attr_text(rank == 1 ? o->scales[at] : o->dst, cf, rank == 1 ? list : words[0] ? words[0] : "") < 0;
  reclaim(t, sp, words);
  free(words);
  free(list);
  H5Tclose(t);
  H5Sclose(sp);
  H5Eclear2(H5E_DEFAULT);
  return bad ? -1 : 0;
}

/* Coordinate `name` (a dimension scale of the source group) into the export. 0 or -1. */
static int export_scale(out_group_t *o, const char *name) {
  if (o->n_scales == MAX_SCALES) return -1;
  hid_t src = H5Dopen2(o->src, name, H5P_DEFAULT);
  if (src < 0) return -1;
  hid_t ds = -1, t = H5Dget_type(src), sp = H5Dget_space(src);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp, &n, NULL);
  if (strcmp(name, "time") == 0) {
    ds = export_time(o, src);
  } else if (H5Tis_variable_str(t) > 0) {
    ds = export_names(o, src, name, t, sp, n);
  } else {
    void *buf = read_all(src, t, n);
    hid_t p = dcpl_ordered();
    if (buf && p >= 0) ds = H5Dcreate2(o->dst, name, t, sp, H5P_DEFAULT, p, H5P_DEFAULT);
    if (ds >= 0 && ((n && H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) || copy_attrs(src, ds) < 0))
      H5Dclose(ds), ds = -1;
    /* An index (scenario, path) is a label, not a quantity: no units, else CDO takes units "1"
     * of /params' only dimension for a time unit. */
    if (ds >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Aexists(ds, "units") > 0 && H5Adelete(ds, "units") < 0)
      H5Dclose(ds), ds = -1;
    reclaim(t, sp, buf);
    free(buf);
    if (p >= 0) H5Pclose(p);
  }
  if (ds >= 0 && H5DSset_scale(ds, name) < 0) H5Dclose(ds), ds = -1;
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(src);
  if (ds < 0) return -1;
  snprintf(o->names[o->n_scales], sizeof o->names[0], "%s", name);
  o->sizes[o->n_scales] = n;
  o->scales[o->n_scales++] = ds;
  return 0;
}

/* ---- variables ---------------------------------------------------------------------------- */

/* A variable of the source as the export lays it out. */
typedef struct var_plan {
  int rank, time_at;           /* source rank; index of its time dimension, or -1 */
  hsize_t src_dims[H5S_MAX_RANK], dims[H5S_MAX_RANK];
  int scale[H5S_MAX_RANK];     /* output dimension d -> index in out_group_t */
  hid_t type;                  /* file type of the source */
  int is_double, deflate;
} var_plan_t;

/* Chunk of a time-varying variable: one step, the other dimensions halved (largest first) until
 * the chunk holds at most CHUNK_BYTES. */
static void time_chunk(const var_plan_t *v, size_t esize, hsize_t *chunk) {
  size_t bytes = esize;
  chunk[0] = 1;
  for (int d = 1; d < v->rank; d++) chunk[d] = v->dims[d] ? v->dims[d] : 1, bytes *= (size_t)chunk[d];
  while (bytes > CHUNK_BYTES) {
    int big = 1;
    for (int d = 2; d < v->rank; d++)
      if (chunk[d] > chunk[big]) big = d;
    if (chunk[big] <= 1) break;
    bytes = bytes / (size_t)chunk[big] * (size_t)((chunk[big] + 1) / 2);
    chunk[big] = (chunk[big] + 1) / 2;
  }
}

static hid_t create_var(out_group_t *o, const char *name, const var_plan_t *v) {
  hsize_t max[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
  for (int d = 0; d < v->rank; d++) max[d] = d == 0 && v->time_at >= 0 ? H5S_UNLIMITED : v->dims[d];
  hid_t sp = v->rank ? H5Screate_simple(v->rank, v->dims, max) : H5Screate(H5S_SCALAR), p = dcpl_ordered();
  const double fill = MOAT_EXPORT_FILL;
  int bad = sp < 0 || p < 0;
  if (!bad && v->time_at >= 0) {
    time_chunk(v, H5Tget_size(v->type), chunk);
    bad = H5Pset_chunk(p, v->rank, chunk) < 0 ||
          (v->deflate && (H5Pset_shuffle(p) < 0 || H5Pset_deflate(p, 4) < 0));
  }
  if (!bad && v->is_double) bad = H5Pset_fill_value(p, H5T_NATIVE_DOUBLE, &fill) < 0;
  hid_t ds = bad ? -1 : H5Dcreate2(o->dst, name, v->type, sp, H5P_DEFAULT, p, H5P_DEFAULT);
  bad = ds < 0 || (v->is_double && moat_h5_attr_double(ds, "_FillValue", fill) < 0);
  for (int d = 0; !bad && d < v->rank; d++) bad = H5DSattach_scale(ds, o->scales[v->scale[d]], (unsigned)d) < 0;
  if (sp >= 0) H5Sclose(sp);
  if (p >= 0) H5Pclose(p);
  if (bad && ds >= 0) H5Dclose(ds), ds = -1;
  return ds;
}

/* NaN (missing in the results file) -> MOAT_EXPORT_FILL. */
static void fill_nan(double *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (isnan(x[i])) x[i] = MOAT_EXPORT_FILL;
}

/* Copy a variable without time as it is (doubles' NaN become the fill value). */
static int copy_plain(hid_t src, hid_t dst, const var_plan_t *v) {
  hsize_t n = 1;
  for (int d = 0; d < v->rank; d++) n *= v->src_dims[d];
  hid_t sp = H5Dget_space(src);
  void *buf = read_all(src, v->type, n);
  if (buf && v->is_double) fill_nan(buf, (size_t)n);
  int bad = !buf || (n && H5Dwrite(dst, v->type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0);
  reclaim(v->type, sp, buf);
  free(buf);
  H5Sclose(sp);
  return bad ? -1 : 0;
}

/*
 * Copy a variable whose last dimension is time, (n0, n1, ..., T) -> (T, n0, n1, ...): for each
 * index i of n0 and block of n1, read the (block x rest) x T slab, transpose it and write it at
 * [0:T, i, block, ...]. Memory: one slab of at most SLAB_BYTES (one n1 row if that is larger).
 */
static int copy_transposed(hid_t src, hid_t dst, const var_plan_t *v) {
  int r = v->rank; /* the source has r dimensions: r - 1 before time */
  hsize_t T = v->src_dims[r - 1], n0 = v->src_dims[0], n1 = r >= 3 ? v->src_dims[1] : 1, rest = 1;
  for (int d = 2; d < r - 1; d++) rest *= v->src_dims[d];
  size_t es = H5Tget_size(v->type);
  hsize_t row = rest * T * es, block = row * n1 <= SLAB_BYTES ? n1 : SLAB_BYTES / row ? SLAB_BYTES / row : 1;
  char *in = malloc((size_t)(block * row) + 1), *out = malloc((size_t)(block * row) + 1);
  hid_t fs = H5Dget_space(src), ds = H5Dget_space(dst);
  int bad = !in || !out || fs < 0 || ds < 0;
  for (hsize_t i = 0; !bad && i < n0; i++) {
    for (hsize_t j = 0; !bad && j < n1; j += block) {
      hsize_t b = n1 - j < block ? n1 - j : block, m = b * rest; /* m rows of T values */
      hsize_t s_start[H5S_MAX_RANK] = {i}, s_count[H5S_MAX_RANK] = {1};
      hsize_t d_start[H5S_MAX_RANK] = {0, i}, d_count[H5S_MAX_RANK] = {T, 1};
      for (int d = 1; d < r; d++) s_start[d] = 0, s_count[d] = v->src_dims[d];
      for (int d = 2; d < r; d++) d_start[d] = 0, d_count[d] = v->src_dims[d - 1];
      if (r >= 3) s_start[1] = j, s_count[1] = b, d_start[2] = j, d_count[2] = b;
      hsize_t n = m * T;
      hid_t ms = H5Screate_simple(1, &n, NULL);
      bad = ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, s_start, NULL, s_count, NULL) < 0 ||
            H5Dread(src, v->type, ms, fs, H5P_DEFAULT, in) < 0;
      for (hsize_t a = 0; !bad && a < m; a++)
        for (hsize_t t = 0; t < T; t++) memcpy(out + (t * m + a) * es, in + (a * T + t) * es, es);
      if (!bad && v->is_double) fill_nan((double *)(void *)out, (size_t)n);
      bad = bad || H5Sselect_hyperslab(ds, H5S_SELECT_SET, d_start, NULL, d_count, NULL) < 0 ||
            H5Dwrite(dst, v->type, ms, ds, H5P_DEFAULT, out) < 0;
      if (ms >= 0) H5Sclose(ms);
    }
  }
  free(in);
  free(out);
  if (fs >= 0) H5Sclose(fs);
  if (ds >= 0) H5Sclose(ds);
  return bad ? -1 : 0;
}

/* The export's layout of source dataset src: its dimensions by scale name, time moved first. */
static int plan_var(const out_group_t *o, hid_t src, var_plan_t *v) {
  memset(v, 0, sizeof *v);
  hid_t sp = H5Dget_space(src), p = H5Dget_create_plist(src);
  v->rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  v->time_at = -1;
  int bad = v->rank < 0 || H5Sget_simple_extent_dims(sp, v->src_dims, NULL) < 0;
  int names[H5S_MAX_RANK];
  for (int d = 0; !bad && d < v->rank; d++) {
    char dim[64] = "";
    bad = moat_h5_dim_name(src, (unsigned)d, dim, sizeof dim) < 0 || (names[d] = scale_index(o, dim)) < 0;
    if (!bad && strcmp(dim, "time") == 0) v->time_at = d;
  }
  /* Time comes last in every moatsim variable that has it. */
  if (!bad && v->time_at >= 0 && v->time_at != v->rank - 1) bad = 1;
  for (int d = 0; !bad && d < v->rank; d++) {
    int from = v->time_at < 0 ? d : d == 0 ? v->rank - 1 : d - 1;
    v->dims[d] = v->src_dims[from];
    v->scale[d] = names[from];
  }
  v->type = bad ? -1 : H5Dget_type(src);
  v->is_double = v->type >= 0 && H5Tget_class(v->type) == H5T_FLOAT;
  v->deflate = p >= 0 && H5Pget_nfilters(p) > 0;
  if (sp >= 0) H5Sclose(sp);
  if (p >= 0) H5Pclose(p);
  H5Eclear2(H5E_DEFAULT);
  return bad || v->type < 0 ? -1 : 0;
}

/* Variable `name` of the source group into the export (under its CF name, keeping the source
 * name as `key` when they differ). 0 or -1. */
static int export_var(out_group_t *o, const char *name) {
  hid_t src = H5Dopen2(o->src, name, H5P_DEFAULT);
  if (src < 0) return -1;
  hid_t t = H5Dget_type(src);
  int text = t >= 0 && H5Tis_variable_str(t) > 0;
  if (t >= 0) H5Tclose(t);
  if (text) {
    int st = export_strings(o, src, name);
    H5Dclose(src);
    return st;
  }
  var_plan_t v;
  char cf[MOAT_KEY_MAX];
  moat_h5_cf_name(name, cf, sizeof cf);
  int bad = plan_var(o, src, &v) < 0;
  hid_t dst = bad ? -1 : create_var(o, cf, &v);
  bad = dst < 0 || copy_attrs(src, dst) < 0 ||
        (strcmp(cf, name) != 0 && H5Aexists(src, "key") <= 0 && moat_h5_attr_text(dst, "key", name) < 0) ||
        (v.time_at >= 0 ? copy_transposed(src, dst, &v) : copy_plain(src, dst, &v)) < 0;
  if (v.type >= 0) H5Tclose(v.type);
  if (dst >= 0) H5Dclose(dst);
  H5Dclose(src);
  return bad ? -1 : 0;
}

/* H5Literate callbacks: pass 0 exports the dimension scales (time first), pass 1 the variables. */
typedef struct walk {
  out_group_t *o;
  int pass, bad;
  char failed[256];
} walk_t;

static herr_t walk_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  walk_t *w = data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) return 0;
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  int scale = ds >= 0 && H5DSis_scale(ds) > 0;
  if (ds >= 0) H5Dclose(ds);
  int st = 0;
  if (w->pass == 0 && scale && strcmp(name, "time") != 0) st = export_scale(w->o, name);
  if (w->pass == 1 && !scale) st = export_var(w->o, name);
  if (st < 0) {
    snprintf(w->failed, sizeof w->failed, "%s", name);
    w->bad = 1;
    return -1;
  }
  return 0;
}

static int walk_group(out_group_t *o, int pass, char *failed, size_t len) {
  walk_t w = {o, pass, 0, ""};
  hsize_t idx = 0;
  if (H5Literate(o->src, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, walk_link, &w) < 0 && !w.bad) {
    H5Eclear2(H5E_DEFAULT); /* a file without creation order: by name */
    idx = 0;
    H5Literate(o->src, H5_INDEX_NAME, H5_ITER_INC, &idx, walk_link, &w);
  }
  snprintf(failed, len, "%s", w.failed);
  return w.bad ? -1 : 0;
}

/* Write group `group` of srcfile as the flat file out (via out.partial). 0 or MOAT_EIO. */
static int export_group(hid_t srcfile, const char *group, const char *out, const char *command, char *err,
                        size_t errlen) {
  char partial[MOAT_PATH_MAX + 16], failed[256] = "";
  snprintf(partial, sizeof partial, "%.1000s.partial", out);
  out_group_t o = {.src = H5Gopen2(srcfile, group, H5P_DEFAULT), .dst = -1};
  hid_t fcpl = moat_h5_fcpl(), fapl = moat_h5_fapl();
  if (o.src >= 0 && fcpl >= 0 && fapl >= 0) o.dst = H5Fcreate(partial, H5F_ACC_TRUNC, fcpl, fapl);
  int bad = o.dst < 0 || global_attrs(srcfile, o.src, o.dst, group, command) < 0;
  /* time first: the first dimension netCDF readers see, and the record dimension */
  if (!bad && H5Lexists(o.src, "time", H5P_DEFAULT) > 0) bad = export_scale(&o, "time") < 0;
  if (!bad) bad = walk_group(&o, 0, failed, sizeof failed) < 0 || walk_group(&o, 1, failed, sizeof failed) < 0;
  if (!bad && moat_h5_strings_digest_store(o.dst) < 0) bad = 1, snprintf(failed, sizeof failed, "strings_digest");
  if (bad) {
    char what[400];
    snprintf(what, sizeof what, "cannot export /%s%s%s to", group, failed[0] ? "/" : "", failed);
    moat_h5_error(err, errlen, what, partial);
  }
  for (int j = 0; j < o.n_scales; j++) H5Dclose(o.scales[j]);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fapl >= 0) H5Pclose(fapl);
  if (o.src >= 0) H5Gclose(o.src);
  if (o.dst >= 0 && H5Fclose(o.dst) < 0 && !bad) {
    moat_h5_error(err, errlen, "cannot write", partial);
    bad = 1;
  }
  if (!bad && rename(partial, out) != 0) {
    snprintf(err, errlen, "cannot rename '%.440s' to '%.440s': %s", partial, out, strerror(errno));
    bad = 1;
  }
  if (bad) remove(partial);
  return bad ? MOAT_EIO : MOAT_OK;
}

/* ---- the command -------------------------------------------------------------------------- */

static const char usage_export[] =
    "usage: moatsim export FILE.h5 -o DIR [--force]\n"
    "\n"
    "Write every group of a results file as a flat CF-1.10 netCDF file that CDO and NCO read as\n"
    "they are: DIR/<name>_market.nc, _labs.nc, _clouds.nc, _params.nc and, with kept paths,\n"
    "_paths_market.nc, _paths_labs.nc, _paths_clouds.nc (<name>: FILE without .h5). Time is the\n"
    "leading, unlimited (record) dimension; missing values are _FillValue = 9.96921e+36.\n"
    "\n"
    "  -o, --output DIR   directory to write to (created if missing)\n"
    "  --force            replace existing files\n"
    "  --help             this text\n";

/* "DIR/<stem>_<group>.nc" with '/' of the group as '_'. */
static void out_name(char *buf, size_t len, const char *dir, const char *file, const char *group) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  size_t n = strlen(base);
  if (n > 3 && strcmp(base + n - 3, ".h5") == 0) n -= 3;
  else if (n > 3 && strcmp(base + n - 3, ".nc") == 0) n -= 3;
  snprintf(buf, len, "%s/%.*s_%s.nc", dir, (int)n, base, group);
  for (char *c = buf + strlen(buf) - strlen(group) - 3; *c; c++)
    if (*c == '/') *c = '_';
}

static int parse_export(int argc, char **argv, const char **file, const char **dir, int *force) {
  *file = *dir = NULL, *force = 0;
  for (int k = 1; k < argc; k++) {
    const char *a = argv[k];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_export, stdout);
      return EXIT_OK;
    } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && k + 1 < argc) {
      *dir = argv[++k];
    } else if (!strncmp(a, "--output=", 9)) {
      *dir = a + 9;
    } else if (!strcmp(a, "--force")) {
      *force = 1;
    } else if (a[0] != '-' && !*file) {
      *file = a;
    } else {
      fprintf(stderr, "moatsim export: unexpected argument '%s'\n%s", a, usage_export);
      return EXIT_USAGE;
    }
  }
  if (!*file || !*dir) {
    fprintf(stderr, "moatsim export: %s\n%s", *file ? "no output directory: give -o DIR" : "no file given",
            usage_export);
    return EXIT_USAGE;
  }
  return -1;
}

/* Open the results file; prints why not and sets *rc. */
static hid_t open_source(const char *file, int *rc) {
  moat_h5_quiet();
  struct stat st;
  *rc = EXIT_USAGE;
  if (stat(file, &st) != 0) {
    fprintf(stderr, "moatsim export: cannot open '%s': %s\n", file, strerror(errno));
    return -1;
  }
  hid_t f = H5Fis_hdf5(file) > 0 ? H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
  if (f < 0 || H5Aexists(f, "format_version") <= 0 || H5Lexists(f, "market", H5P_DEFAULT) <= 0) {
    fprintf(stderr, "moatsim export: '%s' is not a moatsim results file (written by moatsim run)\n", file);
    if (f >= 0) H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return -1;
  }
  *rc = EXIT_OK;
  return f;
}

/* The directory exists (made if missing) and no output exists unless force. */
static int check_outputs(const char *dir, char names[][MOAT_PATH_MAX], const int *present, int force) {
  struct stat st;
  if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0) {
    fprintf(stderr, "moatsim export: cannot create directory '%s': %s\n", dir, strerror(errno));
    return EXIT_RUNTIME;
  }
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "moatsim export: '%s' is not a directory: give -o DIR\n", dir);
    return EXIT_USAGE;
  }
  for (size_t g = 0; !force && g < N_GROUPS; g++) {
    if (present[g] && stat(names[g], &st) == 0) {
      fprintf(stderr, "moatsim export: '%s' exists: pass --force to replace it, or choose another -o\n", names[g]);
      return EXIT_USAGE;
    }
  }
  return -1;
}

int moat_cmd_export(int argc, char **argv) {
  const char *file, *dir;
  int force, rc = parse_export(argc, argv, &file, &dir, &force);
  if (rc >= 0) return rc;
  hid_t f = open_source(file, &rc);
  if (f < 0) return rc;
  static char names[N_GROUPS][MOAT_PATH_MAX];
  int present[N_GROUPS];
  for (size_t g = 0; g < N_GROUPS; g++) {
    present[g] = H5Lexists(f, strncmp(groups[g], "paths/", 6) ? groups[g] : "paths", H5P_DEFAULT) > 0 &&
                 H5Lexists(f, groups[g], H5P_DEFAULT) > 0;
    H5Eclear2(H5E_DEFAULT);
    out_name(names[g], sizeof names[g], dir, file, groups[g]);
  }
  rc = check_outputs(dir, names, present, force);
  char command[2 * MOAT_PATH_MAX + 64], err[MOAT_ERR_MAX];
  snprintf(command, sizeof command, "moatsim export %s -o %s%s", file, dir, force ? " --force" : "");
  for (size_t g = 0; rc < 0 && g < N_GROUPS; g++) {
    if (!present[g]) continue;
    if (export_group(f, groups[g], names[g], command, err, sizeof err) != MOAT_OK) {
      fprintf(stderr, "moatsim export: %s\n", err);
      rc = EXIT_RUNTIME;
    } else {
      printf("wrote %s\n", names[g]);
    }
  }
  H5Fclose(f);
  return rc < 0 ? EXIT_OK : rc;
}
