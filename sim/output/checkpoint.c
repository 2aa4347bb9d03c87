/* checkpoint.c — OUT.partial.d: the lock, block files of finished paths, the listing a resume
 * starts from, and the final assembly (layout in moatsim/checkpoint.h). */
#include "moatsim/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "moatsim/durable.h"
#include "moatsim/merge.h"
#include "moatsim/scenario.h"
#include "moatsim/writer.h"
#include "moatsim/writer_h5.h"

struct moat_ckpt {
  char dir[MOAT_PATH_MAX + 16];
  char out[MOAT_PATH_MAX];
  char skeleton[MOAT_PATH_MAX + 32];
  int lock_fd;
};

const char *moat_ckpt_dir(const moat_ckpt_t *cp) { return cp->dir; }
const char *moat_ckpt_skeleton(const moat_ckpt_t *cp) { return cp->skeleton; }

int moat_ckpt_has_skeleton(const moat_ckpt_t *cp) { return access(cp->skeleton, F_OK) == 0; }

void moat_ckpt_scenario_path(const moat_ckpt_t *cp, size_t k, char *buf, size_t len) {
  snprintf(buf, len, "%s/s%zu.h5", cp->dir, k);
}

/* ---- the lock ----------------------------------------------------------------------------- */

/* The pid holding the lock on fd (fcntl's answer, else the one the file records), or 0. */
static long lock_holder(int fd) {
  struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK && q.l_pid > 0) return (long)q.l_pid;
  char buf[32] = "";
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? strtol(buf, NULL, 10) : 0;
}

/* Create the directory if needed and lock DIR/lock. A finishing run removes the directory after
 * releasing its lock: a lock taken on a file that is no longer DIR/lock is retried. */
static int take_lock(moat_ckpt_t *cp, int *created, char *err, size_t errlen) {
  char path[sizeof cp->dir + 8];
  snprintf(path, sizeof path, "%s/lock", cp->dir);
  for (int attempt = 0; attempt < 10; attempt++) {
    *created = mkdir(cp->dir, 0777) == 0;
    if (!*created && errno != EEXIST) {
      snprintf(err, errlen, "cannot create the checkpoint directory '%s': %s", cp->dir, strerror(errno));
      return MOAT_EIO;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) continue;
    if (fd < 0) {
      snprintf(err, errlen, "cannot open the lock file '%s': %s", path, strerror(errno));
      return MOAT_EIO;
    }
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &l) != 0) {
      long pid = lock_holder(fd);
      close(fd);
      snprintf(err, errlen, "another moatsim run (pid %ld) is writing '%s' (its checkpoint '%s' is "
               "locked): wait for it to end, or write elsewhere with -o", pid, cp->out, cp->dir);
      return MOAT_EINVAL;
    }
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
      char pid[32];
      int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
      if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) { /* the lock is what counts */ }
      cp->lock_fd = fd;
      return MOAT_OK;
    }
    close(fd);
  }
  snprintf(err, errlen, "cannot lock '%s': it keeps being removed (another run finishing?)", path);
  return MOAT_EIO;
}

/* ---- files of the directory ---------------------------------------------------------------- */

/* Names of the checkpoint's own files (never anything else in the directory is touched). */
static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), m = strlen(tail);
  return n >= m && strcmp(s + n - m, tail) == 0;
}

static int is_ours(const char *name) {
  return strcmp(name, "run.h5") == 0 || (name[0] == 's' && (ends_with(name, ".h5") || ends_with(name, ".tmp") ||
                                                           ends_with(name, ".damaged"))) ||
         strcmp(name, "run.h5.tmp") == 0 || strcmp(name, "run.h5.damaged") == 0 ||
         strcmp(name, "out.h5.tmp") == 0;
}

typedef void (*entry_fn)(moat_ckpt_t *cp, const char *name, void *data);

/* Call fn for every entry of the directory but "." and "..". 0 or -1. */
static int each_entry(moat_ckpt_t *cp, entry_fn fn, void *data) {
  DIR *d = opendir(cp->dir);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) fn(cp, e->d_name, data);
  closedir(d);
  return 0;
}

static void remove_ours(moat_ckpt_t *cp, const char *name, void *data) {
  int *tmp_only = data;
  if (!is_ours(name) || (*tmp_only && !ends_with(name, ".tmp"))) return;
  char path[sizeof cp->dir + 300];
  snprintf(path, sizeof path, "%s/%s", cp->dir, name);
  remove(path);
}

static void count_others(moat_ckpt_t *cp, const char *name, void *data) {
  (void)cp;
  if (strcmp(name, "lock") != 0) ++*(int *)data;
}

/* Set a damaged file aside as NAME.damaged and say so on warn. */
static void set_aside(const char *path, const char *what, const char *consequence, FILE *warn) {
  char aside[MOAT_PATH_MAX + 512];
  snprintf(aside, sizeof aside, "%s.damaged", path);
  rename(path, aside);
  if (warn) fprintf(warn, "moatsim run: warning: '%s' is damaged (%s): %s; kept as '%s'\n", path, what,
                    consequence, aside);
}

/* ---- open and close ----------------------------------------------------------------------- */

int moat_ckpt_open(moat_ckpt_t **out_cp, const char *out, int mode, char *err, size_t errlen) {
  *out_cp = NULL;
  moat_ckpt_t *cp = calloc(1, sizeof *cp);
  if (!cp) {
    snprintf(err, errlen, "out of memory");
    return MOAT_ENOMEM;
  }
  snprintf(cp->out, sizeof cp->out, "%s", out);
  snprintf(cp->dir, sizeof cp->dir, "%s.partial.d", out);
  snprintf(cp->skeleton, sizeof cp->skeleton, "%s/run.h5", cp->dir);
  cp->lock_fd = -1;
  struct stat st;
  if (mode == MOAT_CKPT_RESUME && stat(cp->dir, &st) != 0) {
    snprintf(err, errlen, "nothing to resume: '%s' does not exist (the run finished or never started): "
             "run again without --resume", cp->dir);
    free(cp);
    return MOAT_EINVAL;
  }
  int created = 0, others = 0;
  int rc = take_lock(cp, &created, err, errlen);
  if (rc == MOAT_OK && mode != MOAT_CKPT_RESUME) {
    each_entry(cp, count_others, &others);
    if (others && mode == MOAT_CKPT_NEW) {
      snprintf(err, errlen, "'%s' is left from an interrupted run: continue it with --resume, or pass "
               "--force to start again", cp->dir);
      rc = MOAT_EINVAL;
    } else if (others) {
      int all = 0;
      each_entry(cp, remove_ours, &all);
    }
  }
  if (rc != MOAT_OK) {
    moat_ckpt_close(cp, 0);
    return rc;
  }
  *out_cp = cp;
  return MOAT_OK;
}

void moat_ckpt_close(moat_ckpt_t *cp, int remove_all) {
  if (!cp) return;
  if (remove_all) {
    int all = 0;
    each_entry(cp, remove_ours, &all);
    char lock[sizeof cp->dir + 8];
    snprintf(lock, sizeof lock, "%s/lock", cp->dir);
    remove(lock);
    rmdir(cp->dir); /* fails, keeping them, if other files were put there */
    moat_durable_sync_dir(cp->out);
  }
  if (cp->lock_fd >= 0) close(cp->lock_fd); /* releases the lock */
  free(cp);
}

/* ---- scenario files ------------------------------------------------------------------------ */

/* Open path read-only and check every dataset; k_want >= 0: its root attribute scenario. 0, or
 * -1 with what is wrong in `what`. */
static int verify_file(const char *path, int64_t k_want, char *what, size_t len) {
  moat_h5_quiet();
  hid_t fapl = moat_h5_fapl();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
  if (fapl >= 0) H5Pclose(fapl);
  if (f < 0) {
    moat_h5_error(what, len, "cannot open as HDF5", path);
    return -1;
  }
  int bad = moat_h5_verify(f, what, len) != 0;
  if (!bad && k_want >= 0) {
    int64_t k = -1;
    hid_t a = H5Aexists(f, "scenario") > 0 ? H5Aopen(f, "scenario", H5P_DEFAULT) : -1;
    if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &k) < 0 || k != k_want) {
      snprintf(what, len, "its root attribute scenario is %lld, not %lld", (long long)k, (long long)k_want);
      bad = 1;
    }
    if (a >= 0) H5Aclose(a);
  }
  H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  return bad ? -1 : 0;
}

int moat_ckpt_scan(moat_ckpt_t *cp, size_t n, const uint8_t *want, uint8_t *done, FILE *warn,
                   char *err, size_t errlen) {
  int tmp_only = 1;
  each_entry(cp, remove_ours, &tmp_only); /* temporaries of a killed run are never read */
  for (size_t k = 0; k < n; k++) {
    done[k] = 0;
    if (!want[k]) continue;
    char path[MOAT_PATH_MAX + 64], what[800];
    moat_ckpt_scenario_path(cp, k, path, sizeof path);
    if (access(path, F_OK) != 0) continue;
    if (verify_file(path, (int64_t)k, what, sizeof what) == 0) {
      done[k] = 1;
      moat_ckpt_drop_blocks(cp, k);
    } else {
      char again[64];
      snprintf(again, sizeof again, "scenario %zu is run again", k);
      set_aside(path, what, again, warn);
    }
  }
  (void)err, (void)errlen;
  return MOAT_OK;
}

/* ---- block files --------------------------------------------------------------------------- */

/* Write the block into the open file f. 0 or -1. */
static int block_contents(hid_t f, const moat_block_t *b) {
  hsize_t dims[2] = {b->n, b->per_path};
  hsize_t rows = ((hsize_t)1 << 17) / (b->per_path ? b->per_path : 1); /* chunks of ~1 MiB */
  hsize_t chunk[2] = {rows < 1 ? 1 : rows > b->n ? b->n : rows, b->per_path};
  moat_h5_var_t v = {"paths", H5T_NATIVE_DOUBLE, 2, dims, chunk, 0, "1",
                     "results of paths first_path .. first_path + n_paths - 1, moat_layout_t order"};
  hid_t ds = moat_h5_var_create(f, &v, NULL);
  int bad = ds < 0 || H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, b->data) < 0 ||
            moat_h5_attr_int(f, "format_version", MOAT_FORMAT_VERSION) < 0 ||
            moat_h5_attr_int(f, "scenario", (int64_t)b->k) < 0 ||
            moat_h5_attr_int(f, "first_path", (int64_t)b->first) < 0 ||
            moat_h5_attr_int(f, "n_paths", (int64_t)b->n) < 0;
  if (ds >= 0) H5Dclose(ds);
  return bad ? -1 : 0;
}

int moat_ckpt_write_block(moat_ckpt_t *cp, const moat_block_t *b, char *err, size_t errlen) {
  char path[MOAT_PATH_MAX + 96], tmp[MOAT_PATH_MAX + 100];
  snprintf(path, sizeof path, "%s/s%zu.p%zu-%zu.h5", cp->dir, b->k, b->first, b->first + b->n);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  moat_h5_quiet();
  hid_t fcpl = moat_h5_fcpl(), fapl = moat_h5_fapl(), f = -1;
  /* Core driver, 64 KiB increments: it writes its whole allocated image at close, then truncates
   * to the file's length, so a large increment would make a small file need that much disk. */
  if (fcpl >= 0 && fapl >= 0 && H5Pset_fapl_core(fapl, (size_t)64 << 10, 1) >= 0)
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fapl >= 0) H5Pclose(fapl);
  int bad = f < 0 || block_contents(f, b) < 0;
  if (f >= 0 && H5Fclose(f) < 0) bad = 1; /* the core driver writes the file here */
  if (bad) {
    moat_h5_error(err, errlen, "cannot write the checkpoint block", tmp);
    remove(tmp);
    return MOAT_EIO;
  }
  return moat_durable_commit(tmp, path, err, errlen);
}

/* Read block file `path` (paths a .. b-1 by its name) into ps; -1 with what is wrong. */
static int read_block(const char *path, size_t k, size_t a, size_t b, moat_path_set_t *ps, char *what,
                      size_t len) {
  if (verify_file(path, (int64_t)k, what, len) != 0) return -1;
  if (b > ps->n_paths || a >= b) {
    snprintf(what, len, "it holds paths %zu-%zu but the scenario has %zu", a, b, ps->n_paths);
    return -1;
  }
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t ds = f >= 0 ? H5Dopen2(f, "paths", H5P_DEFAULT) : -1, sp = ds >= 0 ? H5Dget_space(ds) : -1;
  hsize_t dims[2] = {0, 0};
  int bad = sp < 0 || H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ||
            dims[0] != b - a || dims[1] != ps->per_path;
  if (bad) snprintf(what, len, "dataset paths is not %zu x %zu", b - a, ps->per_path);
  else if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ps->data + a * ps->per_path) < 0) {
    moat_h5_error(what, len, "dataset", "paths");
    bad = 1;
  }
  if (sp >= 0) H5Sclose(sp);
  if (ds >= 0) H5Dclose(ds);
  if (f >= 0) H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  return bad ? -1 : 0;
}

typedef struct block_scan {
  size_t k;
  moat_path_set_t *ps; /* NULL: remove the blocks */
  FILE *warn;
} block_scan_t;

/* "s<k>.p<a>-<b>.h5" of this scenario: a and b. */
static int block_name(const char *name, size_t k, size_t *a, size_t *b) {
  char tail[8] = "";
  unsigned long long kk, aa, bb;
  if (sscanf(name, "s%llu.p%llu-%llu%7s", &kk, &aa, &bb, tail) != 4 || strcmp(tail, ".h5") != 0 ||
      kk != (unsigned long long)k)
    return 0;
  *a = (size_t)aa, *b = (size_t)bb;
  return 1;
}

static void each_block(moat_ckpt_t *cp, const char *name, void *data) {
  block_scan_t *s = data;
  size_t a, b;
  if (!block_name(name, s->k, &a, &b)) return;
  char path[sizeof cp->dir + 300], what[800];
  snprintf(path, sizeof path, "%s/%s", cp->dir, name);
  if (!s->ps) {
    remove(path);
    return;
  }
  int needed = 0;
  for (size_t p = a; p < b && p < s->ps->n_paths; p++) needed |= !s->ps->have[p];
  if (!needed) return; /* another block already holds these paths (the same bits) */
  if (read_block(path, s->k, a, b, s->ps, what, sizeof what) != 0) {
    set_aside(path, what, "its paths are run again", s->warn);
    return;
  }
  memset(s->ps->have + a, 1, b - a);
}

int moat_ckpt_load_blocks(moat_ckpt_t *cp, size_t k, moat_path_set_t *ps, FILE *warn, char *err,
                          size_t errlen) {
  block_scan_t s = {k, ps, warn};
  if (each_entry(cp, each_block, &s) != 0) {
    snprintf(err, errlen, "cannot list '%s': %s", cp->dir, strerror(errno));
    return MOAT_EIO;
  }
  return MOAT_OK;
}

void moat_ckpt_drop_blocks(moat_ckpt_t *cp, size_t k) {
  block_scan_t s = {k, NULL, NULL};
  each_entry(cp, each_block, &s);
}

/* ---- the results file ---------------------------------------------------------------------- */

int moat_ckpt_finish(moat_ckpt_t *cp, const char *out, size_t n, const size_t *ks, double wall_time_s,
                     char *err, size_t errlen) {
  size_t len = sizeof cp->dir + 32;
  char **files = calloc(n ? n : 1, sizeof *files), *names = malloc((n ? n : 1) * len);
  if (!files || !names) {
    free(files), free(names);
    snprintf(err, errlen, "out of memory for the names of %zu scenario files", n);
    return MOAT_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    files[i] = names + i * len;
    moat_ckpt_scenario_path(cp, ks[i], files[i], len);
  }
  char tmp[sizeof cp->dir + 16];
  snprintf(tmp, sizeof tmp, "%s/out.h5.tmp", cp->dir);
  int st = moat_merge_assemble(cp->skeleton, n, ks, (const char *const *)files, tmp, wall_time_s, err, errlen);
  if (st == MOAT_OK) st = moat_durable_commit(tmp, out, err, errlen);
  free(files);
  free(names);
  return st;
}

/* ---- the results file of a shard split by paths --------------------------------------------- */

/* Scenario part p's paths from the checkpoint as dataset /shard_paths/s<k> of the open file f. */
static int write_part(moat_ckpt_t *cp, hid_t g, const moat_ckpt_part_t *p, const moat_writer_dims_t *d,
                      moat_path_set_t *ps, char *err, size_t errlen) {
  moat_layout_t lay;
  moat_layout_init(&lay, p->n_steps, d->n_labs, d->n_clouds);
  if (moat_path_set_reserve(ps, p->n_paths, lay.per_path) != MOAT_OK) {
    snprintf(err, errlen, "scenario %zu: out of memory for %zu paths x %zu results", p->k, p->n_paths, lay.per_path);
    return MOAT_ENOMEM;
  }
  int st = moat_ckpt_load_blocks(cp, p->k, ps, stderr, err, errlen);
  for (size_t q = p->lo; st == MOAT_OK && q < p->hi; q++) {
    if (!ps->have[q]) {
      snprintf(err, errlen, "scenario %zu: path %zu is not in the checkpoint '%s'", p->k, q, cp->dir);
      st = MOAT_EIO;
    }
  }
  if (st != MOAT_OK) return st;
  char name[64];
  snprintf(name, sizeof name, "s%zu", p->k);
  hsize_t dims[2] = {p->hi - p->lo, lay.per_path};
  hsize_t rows = ((hsize_t)1 << 17) / (lay.per_path ? lay.per_path : 1); /* chunks of ~1 MiB */
  hsize_t chunk[2] = {rows < 1 ? 1 : rows > dims[0] ? dims[0] : rows, lay.per_path};
  moat_h5_var_t v = {name, H5T_NATIVE_DOUBLE, 2, dims, chunk, 0, "1",
                     "results of paths first_path .. first_path + n - 1 of scenario `scenario`, moat_layout_t order"};
  hid_t ds = dims[0] > 0 ? moat_h5_var_create(g, &v, NULL) : -1;
  int bad = ds < 0 ||
            H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ps->data + p->lo * lay.per_path) < 0 ||
            moat_h5_attr_int(ds, "scenario", (int64_t)p->k) < 0 || moat_h5_attr_int(ds, "first_path", (int64_t)p->lo) < 0 ||
            moat_h5_attr_int(ds, "scenario_paths", (int64_t)p->n_paths) < 0 ||
            moat_h5_attr_int(ds, "n_steps", (int64_t)p->n_steps) < 0;
  if (ds >= 0) H5Dclose(ds);
  if (bad) moat_h5_error(err, errlen, "cannot write the paths of a scenario to", name);
  return bad ? MOAT_EIO : MOAT_OK;
}

int moat_ckpt_finish_paths(moat_ckpt_t *cp, const char *out, size_t n, const moat_ckpt_part_t *parts,
                           const moat_writer_dims_t *d, const double *q, double wall_time_s, char *err,
                           size_t errlen) {
  char tmp[sizeof cp->dir + 16];
  snprintf(tmp, sizeof tmp, "%s/out.h5.tmp", cp->dir);
  int st = moat_merge_assemble(cp->skeleton, 0, NULL, NULL, tmp, wall_time_s, err, errlen);
  if (st != MOAT_OK) return st;
  hid_t fapl = moat_h5_fapl();
  hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, fapl >= 0 ? fapl : H5P_DEFAULT);
  if (fapl >= 0) H5Pclose(fapl);
  hid_t g = f >= 0 ? moat_h5_group_create(f, "shard_paths") : -1;
  hsize_t nq = d->n_quantiles;
  moat_h5_var_t levels = {"quantile_levels", H5T_NATIVE_DOUBLE, 1, &nq, NULL, 0, "1",
                          "output.quantiles of the run (the summaries merge computes)"};
  hid_t ql = g >= 0 && nq > 0 ? moat_h5_var_create(g, &levels, NULL) : -1;
  int bad = g < 0 || (nq > 0 && (ql < 0 || H5Dwrite(ql, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, q) < 0)) ||
            moat_h5_attr_int(g, "n_labs", (int64_t)d->n_labs) < 0 ||
            moat_h5_attr_int(g, "n_clouds", (int64_t)d->n_clouds) < 0 ||
            moat_h5_attr_int(g, "max_steps", (int64_t)d->max_steps) < 0 ||
            moat_h5_attr_int(g, "max_paths", (int64_t)d->max_paths) < 0;
  if (ql >= 0) H5Dclose(ql);
  st = bad ? MOAT_EIO : MOAT_OK;
  if (bad) moat_h5_error(err, errlen, "cannot write /shard_paths of", tmp);
  moat_path_set_t ps = {0};
  for (size_t i = 0; i < n && st == MOAT_OK; i++)
    if (parts[i].hi > parts[i].lo) st = write_part(cp, g, &parts[i], d, &ps, err, errlen);
  moat_path_set_clear(&ps);
  if (g >= 0) H5Gclose(g);
  if (f >= 0 && H5Fclose(f) < 0 && st == MOAT_OK) {
    moat_h5_error(err, errlen, "cannot finish", tmp);
    st = MOAT_EIO;
  }
  if (st == MOAT_OK) st = moat_durable_commit(tmp, out, err, errlen);
  else remove(tmp);
  return st;
}
