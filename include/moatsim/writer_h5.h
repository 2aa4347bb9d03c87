/* writer_h5.h — HDF5 building blocks that netCDF-4 readers (ncdump, xarray) understand as-is:
 * groups and variables that track attribute/link creation order, dimension scales (H5DS),
 * text attributes, `units` / `long_name` on every variable, _FillValue = NaN on floats (not on
 * coordinates), CF names and the CF time coordinate. */
#ifndef MOATSIM_WRITER_H5_H
#define MOATSIM_WRITER_H5_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

/* Silence HDF5's automatic error printing (moatsim reports errors itself) and skip its exit
 * handler. Call before any other HDF5 function. Idempotent. */
void moat_h5_quiet(void);

/* Write "what 'name': <innermost HDF5 error>" into err and clear the HDF5 error stack. */
void moat_h5_error(char *err, size_t errlen, const char *what, const char *name);

/* File creation/access properties netCDF-4 needs (creation order on the root group, 1.8+ format
 * so that large attributes and creation-order indexes are allowed). Close with H5Pclose. */
hid_t moat_h5_fcpl(void);
hid_t moat_h5_fapl(void);

/* A new group tracking and indexing link and attribute creation order. */
hid_t moat_h5_group_create(hid_t loc, const char *name);

/* Attributes. Text is a fixed-length string (netCDF NC_CHAR). 0 or negative. */
int moat_h5_attr_text(hid_t obj, const char *name, const char *value);
int moat_h5_attr_double(hid_t obj, const char *name, double value);
int moat_h5_attr_int(hid_t obj, const char *name, int64_t value);
int moat_h5_attr_uint64(hid_t obj, const char *name, uint64_t value);
/* A fixed-length text attribute of any length, as stored (its bytes up to the first NUL),
 * malloc'ed (caller frees), or NULL when there is none or it is not fixed-length text. */
char *moat_h5_attr_text_alloc(hid_t obj, const char *name);
/* moat_h5_attr_text_alloc into buf (NUL-terminated, truncated to len); 0 or negative. */
int moat_h5_attr_read_text(hid_t obj, const char *name, char *buf, size_t len);

/* A whole 1-D dataset `name` under loc as doubles (malloc'd, caller frees); *n its length.
 * NULL when it cannot be read. */
double *moat_h5_read_doubles(hid_t loc, const char *name, hsize_t *n);
/* A whole 1-D dataset `name` under loc of variable-length UTF-8 strings (lab and cloud names):
 * an array of *n strings (caller frees with moat_h5_free_strings), or NULL (*n then 0) when it
 * cannot be read. */
char **moat_h5_read_strings(hid_t loc, const char *name, hsize_t *n);
/* Free what moat_h5_read_strings returned (n strings); NULL is fine. */
void moat_h5_free_strings(char **s, hsize_t n);

/* Name of the dimension scale attached to dimension `dim` of dataset ds into buf; 0 or negative. */
int moat_h5_dim_name(hid_t ds, unsigned dim, char *buf, size_t len);

/* How a variable is stored. chunk may be NULL (contiguous); deflate 0 = no compression. */
typedef struct moat_h5_var {
  const char *name;
  hid_t type;           /* H5T_NATIVE_DOUBLE (fill NaN), H5T_NATIVE_INT32, H5T_NATIVE_UINT8, ... */
  int rank;
  const hsize_t *dims;
  const hsize_t *chunk; /* NULL: contiguous */
  int deflate;          /* 0..9 with shuffle, only with chunk */
  const char *units;
  const char *long_name;
} moat_h5_var_t;

/* Create a variable with its units, long_name and (doubles) _FillValue = NaN, attached to the
 * dimension scales dim_ids[0..rank-1]. Returns the dataset id or a negative value. */
hid_t moat_h5_var_create(hid_t loc, const moat_h5_var_t *v, const hid_t *dim_ids);

/* A one-dimensional coordinate variable `name`(name) of n values made a dimension scale (no
 * _FillValue: CF forbids missing coordinates; units NULL for strings, which have none).
 * type H5T_NATIVE_DOUBLE / H5T_NATIVE_INT32 with values in data, or `strings` (UTF-8,
 * variable-length) when type is 0. Returns the dataset id or a negative value. */
hid_t moat_h5_dim_create(hid_t loc, const char *name, hid_t type, hsize_t n, const void *data,
                         const char *const *strings, const char *units, const char *long_name);

/* A one-dimensional variable of UTF-8 variable-length strings over dimension dim_id. */
hid_t moat_h5_strings_create(hid_t loc, const char *name, hid_t dim_id, hsize_t n,
                             const char *const *strings, const char *units, const char *long_name);

/*
 * Write a block of a variable whose first dimension is the scenario: file elements
 * [k, 0.., 0..] + count {1, fcount[0..frank-2]}, from memory viewed as rows x cols
 * (mem_rows x mem_cols of mem_type), columns [col, col + ncols) of every row. The element counts
 * must agree: mem_rows * ncols == product of fcount. 0 or negative.
 */
int moat_h5_write_block(hid_t ds, hid_t mem_type, const void *buf, hsize_t mem_rows,
                        hsize_t mem_cols, hsize_t col, hsize_t ncols, hsize_t k, int frank,
                        const hsize_t *fcount);

/* standard_name "time", calendar and axis "T" on the time coordinate ds (units and values are the
 * caller's: MOAT_CF_TIME_UNITS, days). 0 or negative. */
int moat_h5_time_attrs(hid_t ds);

/* `key` as a name CF and netCDF tools (ncap2, CDO) can address: letters, digits and '_', starting
 * with a letter ("labs.closed-a.quality" -> "labs_closed_a_quality"; a leading digit gets "p_"). */
void moat_h5_cf_name(const char *key, char *buf, size_t len);

/* A scalar variable-length UTF-8 string variable (netCDF NC_STRING) with a long_name. Returns the
 * dataset id or a negative value. */
hid_t moat_h5_text_scalar(hid_t loc, const char *name, const char *value, const char *long_name);

/* Readers of both file formats (1: root attributes; 2: CF layout, docs/output.md). */
/* The scenario text (format 2: root variable scenario_text; 1: root attribute), malloc'ed, or NULL. */
char *moat_h5_read_scenario_text(hid_t file);
/* The master seed (format 2: decimal text attribute; 1: unsigned 64-bit). 0 or -1. */
int moat_h5_read_seed(hid_t file, uint64_t *seed);
/* The 1-D time coordinate at path in years (format 2 stores days of 360-day years), malloc'ed,
 * *n its length; NULL on failure. */
double *moat_h5_read_time_years(hid_t loc, const char *path, hsize_t *n);

/* FNV-1a, 64 bits, of n bytes continuing from h (start from MOAT_FNV1A_BASIS). */
#define MOAT_FNV1A_BASIS 14695981039346656037ull
uint64_t moat_h5_fnv1a(uint64_t h, const void *bytes, size_t n);

/* The digest of every variable-length string dataset of an open file, as text
 * "path=<16 hex digits>;path=..." with the datasets in name order (H5Lvisit by name, so the
 * order of writing does not matter); each dataset's digest is the FNV-1a of its path, a NUL,
 * then of every element in storage order its length (8 bytes, little-endian) and its bytes.
 * malloc'ed ("" when the file has none), or NULL with what failed in `what`. */
char *moat_h5_strings_digest(hid_t file, char *what, size_t len);
/* Store moat_h5_strings_digest of the file as root attribute strings_digest (replacing one; when
 * the file has no such dataset, removing one): call it once the file's strings are all written.
 * 0 or -1. */
int moat_h5_strings_digest_store(hid_t file);

/* Load every object of an open file and its attributes and read every dataset in full, so that
 * HDF5 checks every object header's checksum (which covers the values of compact datasets), those
 * of the heaps and B-trees of groups and attributes, and every chunk's Fletcher-32. The
 * characters of variable-length strings live in HDF5's global heap, which has no checksum: when
 * the file has a root attribute strings_digest, they are checked against it. 0, or -1 with what
 * is damaged in `what`, e.g. "dataset 'market/x_mean': data error detected by Fletcher32
 * checksum", "object 'params/seed': incorrect metadata checksum after all read attempts" or
 * "dataset 'labs/lab': its variable-length strings differ from the file's strings_digest (...)". */
int moat_h5_verify(hid_t file, char *what, size_t len);

#endif
