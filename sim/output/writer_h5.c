/* writer_h5.c — netCDF-4-compatible HDF5 primitives: groups, dimension scales, variables, attributes. */
#include "moatsim/writer_h5.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5_hl.h>

#include "moatsim/writer.h"

#define ORDER_FLAGS (H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED)

/* The innermost message of the last failed HDF5 call, kept by the library's error hook (the
 * error stack itself is cleared by the next API call, e.g. the cleanup after a failure). */
static char last_error[400];

/* H5Ewalk2 callback: keep the innermost (first, walking upward) description. */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0 && e->desc) snprintf((char *)data, sizeof last_error, "%s", e->desc);
  return 0;
}

/* Called by HDF5 whenever an API call fails, instead of printing the stack. */
static herr_t capture_error(hid_t stack, void *data) {
  (void)data;
  H5Ewalk2(stack, H5E_WALK_UPWARD, keep_innermost, last_error);
  return 0;
}

void moat_h5_quiet(void) {
  /* No cleanup at exit: after a failed write (full disk) a file id cannot be closed, and the
   * library's exit handler crashes retrying it. Every file is closed explicitly instead.
   * Must precede the library's initialisation, hence here, before the first HDF5 call. */
  static int first = 1;
  if (first) H5dont_atexit();
  first = 0;
  H5Eset_auto2(H5E_DEFAULT, capture_error, NULL);
}

void moat_h5_error(char *err, size_t errlen, const char *what, const char *name) {
  char inner[sizeof last_error];
  snprintf(inner, sizeof inner, "%s", last_error);
  last_error[0] = '\0';
  H5Eclear2(H5E_DEFAULT);
  /* System errors come as "..., errno = 28, error message = 'No space left on device', ...":
   * the quoted message is what a user needs. */
  char *msg = strstr(inner, "error message = '");
  if (msg) {
    memmove(inner, msg + 17, strlen(msg + 17) + 1);
    char *quote = strchr(inner, '\'');
    if (quote) *quote = '\0';
  }
  for (char *c = inner; *c; c++)
    if (*c == '\n') *c = ' ';
  snprintf(err, errlen, "%s '%s'%s%s", what, name, inner[0] ? ": " : "", inner);
}

hid_t moat_h5_fcpl(void) {
  hid_t p = H5Pcreate(H5P_FILE_CREATE);
  if (p < 0) return p;
  if (H5Pset_link_creation_order(p, ORDER_FLAGS) < 0 || H5Pset_attr_creation_order(p, ORDER_FLAGS) < 0) {
    H5Pclose(p);
    return -1;
  }
  return p;
}

/* Metadata cache at most 4 MiB (HDF5's default grows to 32 MiB as chunk indexes grow). */
static int limit_metadata_cache(hid_t fapl) {
  H5AC_cache_config_t c;
  c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  if (H5Pget_mdc_config(fapl, &c) < 0) return -1;
  c.max_size = (size_t)4 << 20;
  c.initial_size = (size_t)1 << 20;
  c.set_initial_size = 1;
  c.min_size = c.min_size < c.initial_size ? c.min_size : c.initial_size;
  return H5Pset_mdc_config(fapl, &c) < 0 ? -1 : 0;
}

hid_t moat_h5_fapl(void) {
  hid_t p = H5Pcreate(H5P_FILE_ACCESS);
  if (p < 0) return p;
  /* The 1.8 format: creation-order indexes and dense attribute storage (attributes over 64 KiB,
   * e.g. a long scenario text), readable by HDF5 1.8 and later and by netCDF-4. */
  /* No raw-data chunk cache: a scenario's slice is written once, as whole chunks, so caching
   * chunks only holds memory, up to 1 MiB for each of the ~300 variables by default — which grew
   * the run's peak memory with the number of scenarios (tests/bench/sweep_memory.sh). */
  if (H5Pset_libver_bounds(p, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 || H5Pset_cache(p, 0, 0, 0, 1.0) < 0 ||
      limit_metadata_cache(p) < 0) {
    H5Pclose(p);
    return -1;
  }
  return p;
}

hid_t moat_h5_group_create(hid_t loc, const char *name) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (gcpl < 0) return gcpl;
  hid_t g = -1;
  if (H5Pset_link_creation_order(gcpl, ORDER_FLAGS) >= 0 &&
      H5Pset_attr_creation_order(gcpl, ORDER_FLAGS) >= 0)
    g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

/* Write `value` of `type` as attribute `name` (a scalar), replacing one of the same name. */
static int attr_write(hid_t obj, const char *name, hid_t type, const void *value) {
  if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
  hid_t space = H5Screate(H5S_SCALAR);
  if (space < 0) return -1;
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  int st = a < 0 || H5Awrite(a, type, value) < 0 ? -1 : 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  return st;
}

/* A fixed-length UTF-8 string type of len bytes (at least 1), NUL-padded: netCDF reads it as
 * NC_CHAR text of that length. */
static hid_t text_type(size_t len) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

int moat_h5_attr_text(hid_t obj, const char *name, const char *value) {
  size_t len = strlen(value);
  hid_t t = text_type(len);
  if (t < 0) return -1;
  int st = attr_write(obj, name, t, len ? value : "");
  H5Tclose(t);
  return st;
}

int moat_h5_attr_double(hid_t obj, const char *name, double value) {
  return attr_write(obj, name, H5T_NATIVE_DOUBLE, &value);
}

int moat_h5_attr_int(hid_t obj, const char *name, int64_t value) {
  /* 32 bits when the value fits: 64-bit integer attributes are a type R's netCDF readers lack. */
  if (value >= INT32_MIN && value <= INT32_MAX) {
    int32_t v32 = (int32_t)value;
    return attr_write(obj, name, H5T_NATIVE_INT32, &v32);
  }
  return attr_write(obj, name, H5T_NATIVE_INT64, &value);
}

int moat_h5_attr_uint64(hid_t obj, const char *name, uint64_t value) {
  return attr_write(obj, name, H5T_NATIVE_UINT64, &value);
}

int moat_h5_attr_read_text(hid_t obj, const char *name, char *buf, size_t len) {
  if (len == 0) return -1;
  buf[0] = '\0';
  char *text = moat_h5_attr_text_alloc(obj, name);
  if (!text) return -1;
  snprintf(buf, len, "%s", text);
  free(text);
  return 0;
}

/* The values of an open 1-D dataset ds as doubles (malloc'd), *n its length; NULL (*n 0) when
 * it is not 1-D or cannot be read. */
static double *read_1d(hid_t ds, hsize_t *n) {
  *n = 0;
  hid_t sp = H5Dget_space(ds);
  int one_d = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, n, NULL) == 1;
  if (sp >= 0) H5Sclose(sp);
  double *buf = one_d ? malloc((*n ? *n : 1) * sizeof *buf) : NULL;
  if (buf && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) free(buf), buf = NULL;
  if (!buf) *n = 0;
  return buf;
}

double *moat_h5_read_doubles(hid_t loc, const char *name, hsize_t *n) {
  *n = 0;
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
  if (ds < 0) return NULL;
  double *buf = read_1d(ds, n);
  H5Dclose(ds);
  return buf;
}

typedef struct scale_name {
  char *buf;
  size_t len;
} scale_name_t;

static herr_t take_scale_name(hid_t ds, unsigned dim, hid_t scale, void *data) {
  (void)ds, (void)dim;
  scale_name_t *s = data;
  return H5DSget_scale_name(scale, s->buf, s->len) > 0 ? 1 : -1;
}

int moat_h5_dim_name(hid_t ds, unsigned dim, char *buf, size_t len) {
  scale_name_t s = {buf, len};
  return H5DSiterate_scales(ds, dim, NULL, take_scale_name, &s) == 1 ? 0 : -1;
}

/* units (unless NULL: text has none), long_name and, for doubles with `fill`, _FillValue = NaN. */
static int describe(hid_t ds, hid_t type, const char *units, const char *long_name, int fill) {
  if ((units && moat_h5_attr_text(ds, "units", units) < 0) || moat_h5_attr_text(ds, "long_name", long_name) < 0)
    return -1;
  if (fill && H5Tequal(type, H5T_NATIVE_DOUBLE) > 0 && moat_h5_attr_double(ds, "_FillValue", NAN) < 0) return -1;
  return 0;
}

/* Largest dataset (bytes of raw data) kept inside its object header (compact layout). HDF5
 * allows 64 KiB; half of it leaves room for the header's attributes (units, long_name, the
 * dimension scale lists). Above it (e.g. /params of a sweep of more than 4096 scenarios) the
 * dataset is chunked and checksummed like the results. */
#define COMPACT_MAX ((hsize_t)32 << 10)

/* Bytes of raw data of a dataset of type t and n elements: a variable-length string stores a
 * 16-byte global heap id per element. */
static hsize_t stored_bytes(hid_t t, hsize_t n) {
  size_t esize = H5Tis_variable_str(t) > 0 ? 16 : H5Tget_size(t);
  return n * (hsize_t)esize;
}

/* Dataset creation properties: attribute order (netCDF-4), layout, filters, fill value (NaN for
 * doubles with `fill`; CF wants none on coordinate variables). Every dataset is checksummed, so
 * that a damaged file fails to read instead of giving wrong numbers:
 *   - a chunked one (the results, checkpoint blocks, and any other over COMPACT_MAX) carries a
 *     Fletcher-32 checksum on every chunk, checked by HDF5 on each read ("data error detected
 *     by Fletcher32 checksum");
 *   - a small one asked for without chunks (coordinates, /params, scenario_done) is compact: its
 *     values live in its object header, which in the 1.8 format (version 2 headers) carries a
 *     checksum HDF5 checks whenever it loads the header ("incorrect metadata checksum").
 *     Chunking these instead would cost a ~3 kB chunk index each (a third of a baseline file).
 * The characters of variable-length strings live in HDF5's global heap, which has no checksum;
 * only their heap ids are covered. */
static hid_t var_dcpl(const moat_h5_var_t *v, int fill) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (dcpl < 0) return dcpl;
  const double nan = NAN;
  int bad = H5Pset_attr_creation_order(dcpl, ORDER_FLAGS) < 0;
  hsize_t n = 1, whole[H5S_MAX_RANK];
  for (int d = 0; d < v->rank; d++) n *= v->dims[d];
  const hsize_t *chunk = v->chunk;
  if (!chunk && stored_bytes(v->type, n) > COMPACT_MAX) {
    /* chunks of whole rows, about 1 MiB */
    hsize_t row = stored_bytes(v->type, n / v->dims[0]), rows = ((hsize_t)1 << 20) / (row ? row : 1);
    for (int d = 0; d < v->rank; d++) whole[d] = v->dims[d];
    whole[0] = rows < 1 ? 1 : rows > v->dims[0] ? v->dims[0] : rows;
    chunk = whole;
  }
  if (!bad && !chunk) bad = H5Pset_layout(dcpl, H5D_COMPACT) < 0;
  if (!bad && chunk) bad = H5Pset_chunk(dcpl, v->rank, chunk) < 0;
  if (!bad && v->chunk && v->deflate > 0)
    bad = H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, (unsigned)v->deflate) < 0;
  if (!bad && chunk) bad = H5Pset_fletcher32(dcpl) < 0;
  if (!bad && fill && H5Tequal(v->type, H5T_NATIVE_DOUBLE) > 0)
    bad = H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) < 0;
  if (bad) {
    H5Pclose(dcpl);
    return -1;
  }
  return dcpl;
}

static hid_t var_create(hid_t loc, const moat_h5_var_t *v, const hid_t *dim_ids, int fill) {
  hid_t space = H5Screate_simple(v->rank, v->dims, NULL);
  if (space < 0) return -1;
  hid_t dcpl = var_dcpl(v, fill);
  hid_t ds = dcpl < 0 ? -1 : H5Dcreate2(loc, v->name, v->type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  int bad = ds < 0 || describe(ds, v->type, v->units, v->long_name, fill) < 0;
  for (int d = 0; !bad && dim_ids && d < v->rank; d++)
    bad = H5DSattach_scale(ds, dim_ids[d], (unsigned)d) < 0;
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Sclose(space);
  if (bad && ds >= 0) {
    H5Dclose(ds);
    return -1;
  }
  return ds;
}

hid_t moat_h5_var_create(hid_t loc, const moat_h5_var_t *v, const hid_t *dim_ids) {
  return var_create(loc, v, dim_ids, 1);
}

/* Variable-length UTF-8 strings (netCDF NC_STRING). */
static hid_t vlen_utf8(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

char **moat_h5_read_strings(hid_t loc, const char *name, hsize_t *n) {
  *n = 0;
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
  if (ds < 0) return NULL;
  hid_t sp = H5Dget_space(ds), t = vlen_utf8();
  H5Sget_simple_extent_dims(sp, n, NULL);
  char **s = calloc(*n ? *n : 1, sizeof *s);
  if (s && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) {
    free(s);
    s = NULL;
  }
  if (!s) *n = 0;
  if (t >= 0) H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(ds);
  return s;
}

void moat_h5_free_strings(char **s, hsize_t n) {
  for (hsize_t j = 0; s && j < n; j++) H5free_memory(s[j]);
  free(s);
}

/* Transfer properties for writing a few variable-length strings: a small conversion buffer
 * (HDF5 allocates and zeroes 1 MiB twice per write by default, which made the ~30 text
 * parameters of /params cost ~0.5 s of memset and page faults per file). */
static hid_t small_dxpl(void) {
  hid_t p = H5Pcreate(H5P_DATASET_XFER);
  if (p >= 0 && H5Pset_buffer(p, 4096, NULL, NULL) < 0) {
    H5Pclose(p);
    p = -1;
  }
  return p;
}

/* A 1-D variable of n values (strings when type is 0), written at once. */
static hid_t var1d_write(hid_t loc, const char *name, hid_t type, hsize_t n, const void *data,
                         const char *const *strings, const char *units, const char *long_name) {
  hid_t t = type ? H5Tcopy(type) : vlen_utf8();
  if (t < 0) return -1;
  moat_h5_var_t v = {name, t, 1, &n, NULL, 0, units, long_name};
  hid_t ds = var_create(loc, &v, NULL, 0); /* coordinates and text: no fill value */
  hid_t dxpl = small_dxpl();
  if (ds >= 0 && n > 0 &&
      (dxpl < 0 || H5Dwrite(ds, t, H5S_ALL, H5S_ALL, dxpl, type ? data : (const void *)strings) < 0)) {
    H5Dclose(ds);
    ds = -1;
  }
  if (dxpl >= 0) H5Pclose(dxpl);
  H5Tclose(t);
  return ds;
}

hid_t moat_h5_dim_create(hid_t loc, const char *name, hid_t type, hsize_t n, const void *data,
                         const char *const *strings, const char *units, const char *long_name) {
  hid_t ds = var1d_write(loc, name, type, n, data, strings, units, long_name);
  if (ds >= 0 && H5DSset_scale(ds, name) < 0) {
    H5Dclose(ds);
    return -1;
  }
  return ds;
}

hid_t moat_h5_strings_create(hid_t loc, const char *name, hid_t dim_id, hsize_t n,
                             const char *const *strings, const char *units, const char *long_name) {
  hid_t ds = var1d_write(loc, name, 0, n, NULL, strings, units, long_name);
  if (ds >= 0 && H5DSattach_scale(ds, dim_id, 0) < 0) {
    H5Dclose(ds);
    return -1;
  }
  return ds;
}

int moat_h5_write_block(hid_t ds, hid_t mem_type, const void *buf, hsize_t mem_rows,
                        hsize_t mem_cols, hsize_t col, hsize_t ncols, hsize_t k, int frank,
                        const hsize_t *fcount) {
  hsize_t mdims[2] = {mem_rows, mem_cols}, mstart[2] = {0, col}, mcount[2] = {mem_rows, ncols};
  hsize_t fstart[H5S_MAX_RANK] = {0}, fc[H5S_MAX_RANK];
  fstart[0] = k;
  fc[0] = 1;
  for (int d = 1; d < frank; d++) fc[d] = fcount[d - 1];
  hid_t ms = H5Screate_simple(2, mdims, NULL);
  hid_t fs = H5Dget_space(ds);
  int st = -1;
  if (ms >= 0 && fs >= 0 &&
      H5Sselect_hyperslab(ms, H5S_SELECT_SET, mstart, NULL, mcount, NULL) >= 0 &&
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, fstart, NULL, fc, NULL) >= 0)
    st = H5Dwrite(ds, mem_type, ms, fs, H5P_DEFAULT, buf) < 0 ? -1 : 0;
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  return st;
}

int moat_h5_time_attrs(hid_t ds) {
  return moat_h5_attr_text(ds, "standard_name", "time") < 0 ||
                 moat_h5_attr_text(ds, "calendar", MOAT_CF_CALENDAR) < 0 ||
                 moat_h5_attr_text(ds, "axis", "T") < 0
             ? -1
             : 0;
}

void moat_h5_cf_name(const char *key, char *buf, size_t len) {
  if (len == 0) return;
  size_t n = 0;
  if (!((key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z')) && len > 2)
    buf[n++] = 'p', buf[n++] = '_';
  for (const char *c = key; *c && n + 1 < len; c++) {
    int ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
    buf[n++] = ok ? *c : '_';
  }
  buf[n] = '\0';
}

hid_t moat_h5_text_scalar(hid_t loc, const char *name, const char *value, const char *long_name) {
  hid_t t = vlen_utf8(), space = H5Screate(H5S_SCALAR);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dxpl = small_dxpl();
  hid_t ds = -1;
  if (t >= 0 && space >= 0 && dcpl >= 0 && dxpl >= 0 && H5Pset_attr_creation_order(dcpl, ORDER_FLAGS) >= 0 &&
      H5Pset_layout(dcpl, H5D_COMPACT) >= 0) /* the heap id in the checksummed header (var_dcpl) */
    ds = H5Dcreate2(loc, name, t, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (ds >= 0 && (H5Dwrite(ds, t, H5S_ALL, H5S_ALL, dxpl, &value) < 0 ||
                  moat_h5_attr_text(ds, "long_name", long_name) < 0)) {
    H5Dclose(ds);
    ds = -1;
  }
  if (dcpl >= 0) H5Pclose(dcpl);
  if (dxpl >= 0) H5Pclose(dxpl);
  if (space >= 0) H5Sclose(space);
  if (t >= 0) H5Tclose(t);
  return ds;
}

char *moat_h5_attr_text_alloc(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0) return NULL;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
  char *buf = NULL;
  if (t >= 0 && H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t)) {
    size_t n = H5Tget_size(t);
    buf = calloc(n + 1, 1);
    if (buf && H5Aread(a, t, buf) < 0) free(buf), buf = NULL;
  }
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return buf;
}

char *moat_h5_read_scenario_text(hid_t file) {
  if (H5Lexists(file, "scenario_text", H5P_DEFAULT) <= 0) {
    char *text = moat_h5_attr_text_alloc(file, "scenario_text"); /* format 1 */
    H5Eclear2(H5E_DEFAULT);
    return text;
  }
  hid_t ds = H5Dopen2(file, "scenario_text", H5P_DEFAULT), t = vlen_utf8();
  char *value = NULL, *copy = NULL;
  if (ds >= 0 && t >= 0 && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) >= 0 && value) {
    size_t n = strlen(value) + 1;
    copy = malloc(n);
    if (copy) memcpy(copy, value, n);
    H5free_memory(value);
  }
  if (t >= 0) H5Tclose(t);
  if (ds >= 0) H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  return copy;
}

int moat_h5_read_seed(hid_t file, uint64_t *seed) {
  *seed = 0;
  if (H5Aexists(file, "seed") <= 0) return -1;
  hid_t a = H5Aopen(file, "seed", H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
  int st = -1;
  if (t >= 0 && H5Tget_class(t) == H5T_INTEGER) { /* format 1: unsigned 64-bit */
    st = H5Aread(a, H5T_NATIVE_UINT64, seed) < 0 ? -1 : 0;
  } else if (t >= 0 && H5Tget_class(t) == H5T_STRING) {
    char *text = moat_h5_attr_text_alloc(file, "seed"), *end = NULL;
    if (text && text[0] >= '0' && text[0] <= '9') {
      errno = 0;
      unsigned long long v = strtoull(text, &end, 10);
      if (errno == 0 && *end == '\0') *seed = (uint64_t)v, st = 0;
    }
    free(text);
  }
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return st;
}

double *moat_h5_read_time_years(hid_t loc, const char *path, hsize_t *n) {
  *n = 0;
  hid_t ds = H5Dopen2(loc, path, H5P_DEFAULT);
  if (ds < 0) return NULL;
  double *t = read_1d(ds, n);
  char units[128] = "";
  moat_h5_attr_read_text(ds, "units", units, sizeof units);
  /* Format 2: days of the 360-day year since the start; format 1: years. */
  if (strncmp(units, "days since", 10) == 0)
    for (hsize_t i = 0; t && i < *n; i++) t[i] /= MOAT_CF_DAYS_PER_YEAR;
  H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  return t;
}

/* ---- the digest of the variable-length strings (global heap: no checksum of HDF5's) --------- */

uint64_t moat_h5_fnv1a(uint64_t h, const void *bytes, size_t n) {
  const unsigned char *p = bytes;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

typedef struct digest_ctx {
  char *text; /* "path=hex;..." so far */
  size_t used, cap;
  char *what;
  size_t len;
} digest_ctx_t;

/* The digest of the strings of dataset ds at path (moat_h5_strings_digest). 0 or -1. */
static int strings_digest_of(hid_t ds, const char *path, uint64_t *h) {
  hid_t fs = H5Dget_space(ds), mt = H5Dget_type(ds); /* read as stored: no character set conversion */
  hssize_t n = fs >= 0 ? H5Sget_simple_extent_npoints(fs) : -1;
  char **s = n >= 0 ? calloc((size_t)(n ? n : 1), sizeof *s) : NULL;
  int bad = mt < 0 || !s || H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0;
  *h = moat_h5_fnv1a(MOAT_FNV1A_BASIS, path, strlen(path) + 1);
  for (hssize_t i = 0; !bad && i < n; i++) {
    uint64_t len = s[i] ? strlen(s[i]) : 0;
    unsigned char le[8];
    for (int j = 0; j < 8; j++) le[j] = (unsigned char)(len >> (8 * j));
    *h = moat_h5_fnv1a(moat_h5_fnv1a(*h, le, sizeof le), s[i] ? s[i] : "", (size_t)len);
  }
  if (s && !bad) H5Dvlen_reclaim(mt, fs, H5P_DEFAULT, s);
  free(s);
  if (mt >= 0) H5Tclose(mt);
  if (fs >= 0) H5Sclose(fs);
  return bad ? -1 : 0;
}

/* H5Lvisit callback: append "path=hex;" for a dataset of variable-length strings. */
static herr_t digest_object(hid_t loc, const char *name, const H5L_info_t *link, void *data) {
  digest_ctx_t *c = data;
  H5O_info_t info = {.type = H5O_TYPE_UNKNOWN};
  if (link->type != H5L_TYPE_HARD || H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
      info.type != H5O_TYPE_DATASET)
    return H5Eclear2(H5E_DEFAULT), 0; /* what cannot be loaded, moat_h5_verify reports */
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT), t = ds >= 0 ? H5Dget_type(ds) : -1;
  int text = t >= 0 && H5Tis_variable_str(t) > 0;
  uint64_t h = 0;
  int bad = ds < 0 || t < 0 || (text && strings_digest_of(ds, name, &h) < 0);
  if (t >= 0) H5Tclose(t);
  if (ds >= 0) H5Dclose(ds);
  if (bad) {
    moat_h5_error(c->what, c->len, "cannot read the strings of dataset", name);
    return -1;
  }
  if (!text) return 0;
  size_t need = c->used + strlen(name) + 20;
  if (need > c->cap) {
    char *grown = realloc(c->text, 2 * need);
    if (!grown) {
      snprintf(c->what, c->len, "out of memory for the digest of the strings");
      return -1;
    }
    c->text = grown, c->cap = 2 * need;
  }
  c->used += (size_t)snprintf(c->text + c->used, c->cap - c->used, "%s%s=%016llx", c->used ? ";" : "", name,
                              (unsigned long long)h);
  return 0;
}

char *moat_h5_strings_digest(hid_t file, char *what, size_t len) {
  digest_ctx_t c = {calloc(1, 64), 0, 64, what, len};
  if (!c.text) {
    snprintf(what, len, "out of memory for the digest of the strings");
    return NULL;
  }
  if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, digest_object, &c) != 0) {
    if (!what[0]) moat_h5_error(what, len, "cannot walk the datasets of", "/");
    free(c.text);
    return NULL;
  }
  return c.text;
}

int moat_h5_strings_digest_store(hid_t file) {
  char what[256] = "";
  char *text = moat_h5_strings_digest(file, what, sizeof what);
  int st = -1;
  if (text && text[0]) st = moat_h5_attr_text(file, "strings_digest", text);
  /* none to cover: no attribute (not one copied from the file this one was made from) */
  else if (text) st = H5Aexists(file, "strings_digest") > 0 && H5Adelete(file, "strings_digest") < 0 ? -1 : 0;
  free(text);
  return st;
}

/* The entry "path=hex" of digest list `list` for path, as a pointer into list and its length;
 * NULL when there is none. */
static const char *digest_entry(const char *list, const char *path, size_t *n) {
  size_t plen = strlen(path);
  for (const char *p = list; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
    size_t elen = strcspn(p, ";");
    if (elen > plen && strncmp(p, path, plen) == 0 && p[plen] == '=') {
      *n = elen;
      return p;
    }
  }
  return NULL;
}

/* Compare the file's strings with its stored strings_digest (none stored: nothing to check).
 * 0, or -1 with the first dataset that differs in what. */
static int verify_strings(hid_t file, char *what, size_t len) {
  if (H5Aexists(file, "strings_digest") <= 0) return H5Eclear2(H5E_DEFAULT), 0;
  char *stored = moat_h5_attr_text_alloc(file, "strings_digest");
  char *computed = stored ? moat_h5_strings_digest(file, what, len) : NULL;
  int bad = !stored || !computed;
  if (!stored) moat_h5_error(what, len, "cannot read attribute", "strings_digest");
  if (!bad && strcmp(stored, computed) != 0) {
    bad = 1;
    /* name the first dataset whose entry differs: computed entries first, then stored ones */
    const char *lists[2] = {computed, stored};
    for (int l = 0; l < 2 && !what[0]; l++) {
      for (const char *p = lists[l]; p && *p && !what[0]; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        size_t elen = strcspn(p, ";"), eq = strcspn(p, "=");
        char path[512];
        snprintf(path, sizeof path, "%.*s", (int)(eq < sizeof path ? eq : sizeof path - 1), p);
        size_t olen = 0;
        const char *other = digest_entry(lists[1 - l], path, &olen);
        if (other && olen == elen && strncmp(other, p, elen) == 0) continue;
        const char *c = l == 0 ? p : other, *s = l == 0 ? other : p;
        size_t clen = l == 0 ? elen : olen, slen = l == 0 ? olen : elen;
        snprintf(what, len, "dataset '%s': its variable-length strings do not match the file's strings_digest "
                 "(stored %.*s, computed %.*s): their characters are damaged",
                 path, s ? (int)(slen - eq - 1) : 4, s ? s + eq + 1 : "none", c ? (int)(clen - eq - 1) : 4,
                 c ? c + eq + 1 : "none");
      }
    }
    if (!what[0]) snprintf(what, len, "the variable-length strings do not match the file's strings_digest");
  }
  free(stored);
  free(computed);
  return bad ? -1 : 0;
}

/* ---- verifying a file: every dataset read back, so every checksum checked ------------------ */

typedef struct verify_ctx {
  char *what;
  size_t len;
} verify_ctx_t;

/* Read a dataset in slabs of whole rows of at most 64 MiB. 0 or -1. */
static int read_all(hid_t ds) {
  hid_t fs = H5Dget_space(ds), ft = H5Dget_type(ds);
  hid_t mt = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_ASCEND) : -1;
  hsize_t dims[H5S_MAX_RANK] = {0}, per = 1;
  int rank = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
  int bad = mt < 0 || rank < 0 || H5Sget_simple_extent_dims(fs, dims, NULL) < 0;
  if (!bad && H5Tdetect_class(ft, H5T_VLEN) <= 0 && H5Tis_variable_str(ft) <= 0) {
    size_t esize = H5Tget_size(mt);
    for (int j = 1; j < rank; j++) per *= dims[j];
    hsize_t rows = rank == 0 ? 1 : dims[0], row_bytes = per * esize > 0 ? per * esize : 1;
    hsize_t block = row_bytes >= ((hsize_t)64 << 20) ? 1 : ((hsize_t)64 << 20) / row_bytes;
    void *buf = rows && per ? malloc((size_t)((block < rows ? block : rows) * row_bytes)) : NULL;
    bad = rows && per && !buf;
    for (hsize_t at = 0; !bad && rows && per && at < rows; at += block) {
      hsize_t start[H5S_MAX_RANK] = {at}, count[H5S_MAX_RANK];
      for (int j = 0; j < rank; j++) count[j] = j == 0 ? (rows - at < block ? rows - at : block) : dims[j];
      hid_t ms = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, count, NULL);
      bad = ms < 0 || (rank > 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) ||
            H5Dread(ds, mt, ms, fs, H5P_DEFAULT, buf) < 0;
      if (ms >= 0) H5Sclose(ms);
    }
    free(buf);
  } /* variable-length strings: in HDF5's global heap, checked by verify_strings */
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (fs >= 0) H5Sclose(fs);
  return bad ? -1 : 0;
}

static herr_t attr_loaded(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
  (void)obj, (void)name, (void)info, (void)data;
  return 0;
}

/* H5Lvisit callback: load the object a link points to (its header's checksum checked) and its
 * attributes (those in dense storage: the heap blocks' checksums), and read a dataset in full.
 * Walking links, not objects, names an object whose header is damaged. */
static herr_t verify_object(hid_t loc, const char *name, const H5L_info_t *link, void *data) {
  if (link && link->type != H5L_TYPE_HARD) return 0;
  verify_ctx_t *c = data;
  H5O_info_t info = {.type = H5O_TYPE_UNKNOWN};
  hid_t ds = -1;
  int bad = H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
            H5Aiterate_by_name(loc, name, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, attr_loaded, NULL, H5P_DEFAULT) < 0;
  if (!bad && info.type == H5O_TYPE_DATASET) {
    ds = H5Dopen2(loc, name, H5P_DEFAULT);
    /* a dataset with no storage allocated yet (a skeleton's results) has nothing to check */
    H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
    bad = ds < 0 || H5Dget_space_status(ds, &status) < 0 ||
          (status != H5D_SPACE_STATUS_NOT_ALLOCATED && read_all(ds) < 0);
  }
  if (ds >= 0) H5Dclose(ds);
  if (!bad) return 0;
  char inner[600]; /* an object whose header cannot be loaded is of unknown type */
  moat_h5_error(inner, sizeof inner, ds >= 0 || info.type == H5O_TYPE_DATASET ? "dataset" : "object", name);
  snprintf(c->what, c->len, "%s", inner);
  return 1;
}

int moat_h5_verify(hid_t file, char *what, size_t len) {
  verify_ctx_t c = {what, len};
  what[0] = '\0';
  herr_t rc = verify_object(file, "/", NULL, &c);
  if (rc == 0) rc = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, verify_object, &c);
  if (rc < 0 && !what[0]) moat_h5_error(what, len, "the groups of", "/");
  if (rc == 0 && verify_strings(file, what, len) < 0) rc = -1;
  return rc == 0 ? 0 : -1;
}
