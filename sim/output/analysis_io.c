/* analysis_io.c — the design of a results file as `sensitivity` and `discover` need it, and the
 * sidecar file (netCDF-4 compatible, group /analysis) they write. */
#include "moatsim/analysis_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moatsim/scenario.h"
#include "moatsim/writer_h5.h"

static long long attr_int(hid_t obj, const char *name) {
  long long v = 0;
  if (H5Aexists(obj, name) <= 0) return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a >= 0) {
    if (H5Aread(a, H5T_NATIVE_LLONG, &v) < 0) v = 0;
    H5Aclose(a);
  }
  return v;
}

/* Read /params/<name> (scenario) into column a of d->x. */
static int read_param(hid_t g, moat_design_t *d, int a, const char *name) {
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  if (ds < 0) return -1;
  double *col = malloc(d->n_scenarios * sizeof *col);
  int ok = col && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, col) >= 0;
  for (size_t s = 0; ok && s < d->n_scenarios; s++) d->x[s * (size_t)d->k + (size_t)a] = col[s];
  free(col);
  H5Dclose(ds);
  return ok ? 0 : -1;
}

int moat_design_read(hid_t f, const char *file, moat_design_t *d, char *err, size_t errlen) {
  memset(d, 0, sizeof *d);
  hid_t g = H5Gopen2(f, "params", H5P_DEFAULT);
  if (g < 0) {
    snprintf(err, errlen, "'%s' has no /params group: write it again with moatsim run", file);
    return MOAT_EINVAL;
  }
  if (moat_h5_attr_read_text(g, "sweep_method", d->method, sizeof d->method) != 0) snprintf(d->method, sizeof d->method, "none");
  d->samples = (int)attr_int(g, "sweep_samples");
  d->levels = (int)attr_int(g, "sweep_levels");
  d->second_order = (int)attr_int(g, "sweep_second_order");
  char swept[8192] = "", vars[8192] = "";
  moat_h5_attr_read_text(g, "swept_params", swept, sizeof swept);
  /* format 2 names the variables by CF name (swept_variables); format 1 by the key */
  if (moat_h5_attr_read_text(g, "swept_variables", vars, sizeof vars) != 0) snprintf(vars, sizeof vars, "%s", swept);
  hid_t dim = H5Dopen2(g, "scenario", H5P_DEFAULT);
  hsize_t n = 0;
  if (dim >= 0) {
    hid_t sp = H5Dget_space(dim);
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    H5Dclose(dim);
  }
  d->n_scenarios = (size_t)n;
  for (char *tok = strtok(swept, " "); tok; tok = strtok(NULL, " ")) {
    char **p = realloc(d->params, (size_t)(d->k + 1) * sizeof *p);
    if (!p) break;
    d->params = p;
    d->params[d->k++] = strdup(tok);
  }
  int st = MOAT_OK;
  if (d->k == 0) {
    snprintf(err, errlen, "'%s' holds no sweep (no swept parameters in /params): run a scenario with a "
             "sweep section (method = \"saltelli\", \"morris\", \"lhs\", ...)", file);
    st = MOAT_EINVAL;
  }
  d->x = st == MOAT_OK ? malloc(d->n_scenarios * (size_t)d->k * sizeof *d->x) : NULL;
  if (st == MOAT_OK && !d->x) st = MOAT_ENOMEM;
  char *save = NULL, *var = strtok_r(vars, " ", &save);
  for (int a = 0; st == MOAT_OK && a < d->k; a++, var = strtok_r(NULL, " ", &save))
    if (!var || read_param(g, d, a, var) < 0) {
      snprintf(err, errlen, "'%s': cannot read the values of %s in /params", file, d->params[a]);
      st = MOAT_EIO;
    }
  H5Gclose(g);
  if (st != MOAT_OK) moat_design_clear(d);
  return st;
}

void moat_design_clear(moat_design_t *d) {
  for (int a = 0; a < d->k; a++) free(d->params[a]);
  free(d->params);
  free(d->x);
  memset(d, 0, sizeof *d);
}

/* ---- sidecar ------------------------------------------------------------------------------ */

void moat_sidecar_default_name(char *buf, size_t len, const char *file, const char *suffix) {
  size_t n = strlen(file);
  if (n > 3 && !strcmp(file + n - 3, ".h5")) n -= 3;
  snprintf(buf, len, "%.*s%s", (int)n, file, suffix);
}

/* Copy a text attribute of the source's root to the sidecar's root, as source_<name>. */
static int copy_attr(hid_t src, hid_t dst, const char *name) {
  char value[256], key[64];
  if (moat_h5_attr_read_text(src, name, value, sizeof value) != 0) return 0;
  snprintf(key, sizeof key, "source_%s", name);
  return moat_h5_attr_text(dst, key, value);
}

int moat_sidecar_create(moat_sidecar_t *sc, const char *path, int force, const char *source, hid_t src,
                        const char *command_line, char *err, size_t errlen) {
  struct stat st_src, st_dst;
  sc->file = sc->group = -1;
  snprintf(sc->path, sizeof sc->path, "%s", path);
  if (stat(path, &st_dst) == 0 && stat(source, &st_src) == 0 && st_dst.st_ino == st_src.st_ino) {
    snprintf(err, errlen, "the output '%s' is the results file itself: the analysis goes to a separate file "
             "(-o OTHER.h5)", path);
    return MOAT_EINVAL;
  }
  if (!force && stat(path, &st_dst) == 0) {
    snprintf(err, errlen, "'%s' exists: pass --force to replace it, or choose another with -o FILE", path);
    return MOAT_EINVAL;
  }
  char partial[1040];
  snprintf(partial, sizeof partial, "%s.partial", path);
  hid_t fcpl = moat_h5_fcpl(), fapl = moat_h5_fapl();
  sc->file = H5Fcreate(partial, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  if (sc->file < 0) {
    moat_h5_error(err, errlen, "cannot create", partial);
    return MOAT_EIO;
  }
  sc->group = moat_h5_group_create(sc->file, "analysis");
  int bad = sc->group < 0 || moat_h5_attr_text(sc->file, "source_file", source) < 0 ||
            moat_h5_attr_text(sc->file, "moatsim_version", MOAT_VERSION) < 0 ||
            moat_h5_attr_text(sc->file, "command_line", command_line) < 0 ||
            copy_attr(src, sc->file, "git_revision") < 0 || copy_attr(src, sc->file, "moatsim_version") < 0;
  if (bad) {
    moat_h5_error(err, errlen, "cannot write to", partial);
    moat_sidecar_abort(sc);
    return MOAT_EIO;
  }
  return MOAT_OK;
}

hid_t moat_sidecar_dim(moat_sidecar_t *sc, const char *name, size_t n, const char *const *strings,
                       const int *values, const char *long_name) {
  if (strings) return moat_h5_dim_create(sc->group, name, 0, n, NULL, strings, "1", long_name);
  int32_t *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return -1;
  for (size_t i = 0; i < n; i++) v[i] = values ? (int32_t)values[i] : (int32_t)i;
  hid_t ds = moat_h5_dim_create(sc->group, name, H5T_NATIVE_INT32, n, v, NULL, "1", long_name);
  free(v);
  return ds;
}

int moat_sidecar_var(moat_sidecar_t *sc, const char *name, int rank, const hid_t *dims, const void *data,
                     int is_int, const char *units, const char *long_name) {
  hsize_t size[4];
  for (int d = 0; d < rank; d++) {
    hid_t sp = H5Dget_space(dims[d]);
    H5Sget_simple_extent_dims(sp, &size[d], NULL);
    H5Sclose(sp);
  }
  moat_h5_var_t v = {name, is_int ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE, rank, size, NULL, 0, units, long_name};
  hid_t ds = moat_h5_var_create(sc->group, &v, dims);
  int ok = ds >= 0 && H5Dwrite(ds, v.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
  if (ds >= 0) H5Dclose(ds);
  return ok ? MOAT_OK : MOAT_EIO;
}

int moat_sidecar_finish(moat_sidecar_t *sc, char *err, size_t errlen) {
  char partial[1040];
  snprintf(partial, sizeof partial, "%s.partial", sc->path);
  int bad = H5Gclose(sc->group) < 0;
  bad |= moat_h5_strings_digest_store(sc->file) < 0;
  bad |= H5Fclose(sc->file) < 0;
  sc->group = sc->file = -1;
  if (bad || rename(partial, sc->path) != 0) {
    snprintf(err, errlen, "cannot write '%s'", sc->path);
    unlink(partial);
    return MOAT_EIO;
  }
  return MOAT_OK;
}

void moat_sidecar_abort(moat_sidecar_t *sc) {
  char partial[1040];
  snprintf(partial, sizeof partial, "%s.partial", sc->path);
  if (sc->group >= 0) H5Gclose(sc->group);
  if (sc->file >= 0) H5Fclose(sc->file);
  sc->group = sc->file = -1;
  unlink(partial);
}
