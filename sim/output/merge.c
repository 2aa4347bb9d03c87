/* merge.c — `moatsim merge`: shard files of one sweep checked (same scenario text, seed, build,
 * design; every shard once, each complete) and combined scenario by scenario into one file equal
 * to the unsharded run's; and the same identity check for `moatsim run --resume`. */
#include "moatsim/merge.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "moatsim/durable.h"
#include "moatsim/provenance.h"
#include "moatsim/scenario.h"
#include "moatsim/summary.h"
#include "moatsim/writer.h"
#include "moatsim/writer_h5.h"

/* Exit codes of the command (as main's). */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Bytes of one slab copied at a time: bounds memory whatever the file's size. */
#define MERGE_SLAB_BYTES ((size_t)64 << 20)

/* The identity attributes of one results file. */
typedef struct file_identity {
  char *text;
  char version[64], git[64], digest[32]; /* digest: params_digest, "" in files without it */
  uint64_t seed;
  int64_t format, n_scenarios, shard_index, shard_count;
  int keep_paths;
  int by_paths; /* a shard split by paths (root attribute shard_split = "paths") */
  double wall_time_s;
} file_identity_t;

/* A numeric attribute read as `type` into out; 0, or -1 when absent or unreadable. */
static int read_number(hid_t obj, const char *name, hid_t type, void *out) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  int bad = a < 0 || H5Aread(a, type, out) < 0;
  if (a >= 0) H5Aclose(a);
  return bad ? -1 : 0;
}

static void identity_clear(file_identity_t *id) {
  free(id->text);
  id->text = NULL;
}

/* Read the identity of an open results file; MOAT_EINVAL if it is not a moatsim results file. */
static int identity_read(hid_t f, const char *name, file_identity_t *id, char *err, size_t errlen) {
  memset(id, 0, sizeof *id);
  char *version = moat_h5_attr_text_alloc(f, "moatsim_version");
  char *git = moat_h5_attr_text_alloc(f, "git_revision");
  id->text = moat_h5_read_scenario_text(f);
  int bad = !version || !git || !id->text || read_number(f, "format_version", H5T_NATIVE_INT64, &id->format) ||
            moat_h5_read_seed(f, &id->seed) ||
            read_number(f, "n_scenarios", H5T_NATIVE_INT64, &id->n_scenarios);
  if (!bad) {
    snprintf(id->version, sizeof id->version, "%s", version);
    snprintf(id->git, sizeof id->git, "%s", git);
    id->shard_count = 1;
    moat_h5_attr_read_text(f, "params_digest", id->digest, sizeof id->digest);
    if (read_number(f, "shard_count", H5T_NATIVE_INT64, &id->shard_count) == 0)
      bad = read_number(f, "shard_index", H5T_NATIVE_INT64, &id->shard_index);
    id->keep_paths = H5Lexists(f, "paths", H5P_DEFAULT) > 0;
    char split[16] = "";
    moat_h5_attr_read_text(f, "shard_split", split, sizeof split);
    id->by_paths = strcmp(split, "paths") == 0;
    id->wall_time_s = NAN;
    read_number(f, "wall_time_s", H5T_NATIVE_DOUBLE, &id->wall_time_s);
  }
  free(version);
  free(git);
  H5Eclear2(H5E_DEFAULT);
  if (bad) {
    identity_clear(id);
    snprintf(err, errlen, "'%s' is not a moatsim results file (it lacks the root attributes "
             "moatsim_version, git_revision, format_version, seed, n_scenarios, scenario_text)", name);
    return MOAT_EINVAL;
  }
  return MOAT_OK;
}

/* Open an HDF5 file read-only (rdwr = 0) or for writing; negative with a message. */
static hid_t open_h5(const char *name, int rdwr, char *err, size_t errlen) {
  moat_h5_quiet();
  struct stat st;
  if (stat(name, &st) != 0) {
    snprintf(err, errlen, "cannot open '%.900s': %s", name, strerror(errno));
    return -1;
  }
  if (H5Fis_hdf5(name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    snprintf(err, errlen, "'%.900s' is not an HDF5 file, so not a moatsim results file", name);
    return -1;
  }
  hid_t fapl = moat_h5_fapl();
  hid_t f = H5Fopen(name, rdwr ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
  if (fapl >= 0) H5Pclose(fapl);
  if (f < 0) moat_h5_error(err, errlen, "cannot open as HDF5", name);
  return f;
}

/* The first way identity b (labelled `bname`, e.g. "'p1.h5'") differs from a, as a message. */
static int identity_compare(const file_identity_t *a, const char *aname, const file_identity_t *b,
                            const char *bname, char *err, size_t errlen) {
  if (strcmp(a->version, b->version) != 0 || strcmp(a->git, b->git) != 0 || a->format != b->format) {
    snprintf(err, errlen, "%s was written by moatsim %s (git %s, format %" PRId64 ") but %s by "
             "moatsim %s (git %s, format %" PRId64 "): results of different builds are not mixed; "
             "rerun with one build", bname, b->version, b->git, b->format, aname, a->version, a->git,
             a->format);
  } else if (a->seed != b->seed) {
    snprintf(err, errlen, "%s has seed %" PRIu64 " but %s has seed %" PRIu64 ": they are "
             "different sweeps", bname, b->seed, aname, a->seed);
  } else if (strcmp(a->text, b->text) != 0) {
    snprintf(err, errlen, "%s and %s come from different scenario texts (the scenario file or "
             "its --set options differ): they are different sweeps", bname, aname);
  } else if (a->digest[0] && b->digest[0] && strcmp(a->digest, b->digest) != 0) {
    snprintf(err, errlen, "%s and %s run different effective parameters (params_digest %s and %s) "
             "from the same scenario text: a file it @includes changed", bname, aname, b->digest,
             a->digest);
  } else if (a->n_scenarios != b->n_scenarios) {
    snprintf(err, errlen, "%s has %" PRId64 " scenarios but %s has %" PRId64 ": they are "
             "different sweeps", bname, b->n_scenarios, aname, a->n_scenarios);
  } else if (a->keep_paths != b->keep_paths) {
    snprintf(err, errlen, "%s %s /paths but %s %s: run every part with the same output.keep_paths",
             bname, b->keep_paths ? "keeps" : "lacks", aname, a->keep_paths ? "keeps" : "lacks");
  } else {
    return MOAT_OK;
  }
  return MOAT_EINVAL;
}

int moat_merge_check_partial(const char *partial, const moat_run_identity_t *expect, char *err,
                             size_t errlen) {
  char inner[MOAT_ERR_MAX];
  hid_t f = open_h5(partial, 0, inner, sizeof inner);
  if (f < 0) {
    snprintf(err, errlen, "%s; the run was probably killed while writing it: start again without "
             "--resume (with --force)", inner);
    return MOAT_EINVAL;
  }
  file_identity_t have;
  int st = identity_read(f, partial, &have, inner, sizeof inner);
  char what[700] = "";
  /* the skeleton's /params and coordinates become the results file's: read them all */
  int damaged = st == MOAT_OK && moat_h5_verify(f, what, sizeof what) != 0;
  H5Fclose(f);
  if (st != MOAT_OK) {
    snprintf(err, errlen, "%s; it may have been cut short while being created: start again "
             "without --resume (with --force)", inner);
    return st;
  }
  if (damaged) {
    snprintf(err, errlen, "cannot resume: '%s' is damaged: %s; start again with --force", partial, what);
    identity_clear(&have);
    return MOAT_EINVAL;
  }
  moat_provenance_t p;
  moat_provenance_get(&p);
  file_identity_t want = {(char *)(uintptr_t)expect->scenario_text, "", "", "", expect->seed, have.format,
                          (int64_t)expect->n_scenarios, expect->shard_index, expect->shard_count,
                          expect->keep_paths, 0, NAN};
  snprintf(want.version, sizeof want.version, "%s", p.moatsim_version);
  snprintf(want.git, sizeof want.git, "%s", p.git_revision);
  snprintf(want.digest, sizeof want.digest, "%s", expect->params_digest ? expect->params_digest : "");
  char label[MOAT_PATH_MAX + 20];
  snprintf(label, sizeof label, "'%s'", partial);
  st = identity_compare(&want, "this run", &have, label, inner, sizeof inner);
  if (st == MOAT_OK && (have.shard_count != want.shard_count || have.shard_index != want.shard_index)) {
    snprintf(inner, sizeof inner, "'%s' is shard %" PRId64 "/%" PRId64 " but this run is shard %d/%d",
             partial, have.shard_index, have.shard_count, expect->shard_index, expect->shard_count);
    st = MOAT_EINVAL;
  }
  if (st != MOAT_OK)
    snprintf(err, errlen, "cannot resume: %s; resume with the same scenario, options and build, or "
             "start again with --force", inner);
  identity_clear(&have);
  return st;
}

/* ---- moatsim merge ------------------------------------------------------------------------ */

typedef struct part {
  const char *name;
  hid_t file;
  file_identity_t id;
} part_t;

/* Shard i's scenarios: k = i, i + n, i + 2n, ... below S. */
static hsize_t shard_size(hsize_t S, hsize_t i, hsize_t n) { return S > i ? (S - i + n - 1) / n : 0; }

/* Every scenario of the part's shard has scenario_done = 1. */
static int check_complete(const part_t *p, char *err, size_t errlen) {
  hsize_t S = (hsize_t)p->id.n_scenarios, N = (hsize_t)p->id.shard_count, I = (hsize_t)p->id.shard_index;
  uint8_t *done = malloc(S ? S : 1);
  hid_t ds = H5Dopen2(p->file, "market/scenario_done", H5P_DEFAULT);
  int st = done && ds >= 0 && H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) >= 0
               ? MOAT_OK : MOAT_EINVAL;
  if (ds >= 0) H5Dclose(ds);
  if (st != MOAT_OK) {
    snprintf(err, errlen, "'%s' lacks a readable market/scenario_done: not a moatsim results file", p->name);
  }
  for (hsize_t k = I; st == MOAT_OK && k < S; k += N) {
    if (!done[k]) {
      snprintf(err, errlen, "'%s' (shard %" PRId64 "/%" PRId64 ") is incomplete: scenario %llu is not "
               "done; finish it with moatsim run ... --shard %" PRId64 "/%" PRId64 " --resume",
               p->name, p->id.shard_index, p->id.shard_count, (unsigned long long)k,
               p->id.shard_index, p->id.shard_count);
      st = MOAT_EINVAL;
    }
  }
  free(done);
  H5Eclear2(H5E_DEFAULT);
  return st;
}

/* Same sweep, every shard exactly once, each complete. parts[0] is the reference. */
static int check_parts(part_t *parts, int n, char *err, size_t errlen) {
  int64_t N = parts[0].id.shard_count;
  const char **seen = calloc((size_t)N, sizeof *seen);
  if (!seen) {
    snprintf(err, errlen, "out of memory for %" PRId64 " shards", N);
    return MOAT_ENOMEM;
  }
  int st = MOAT_OK;
  for (int i = 0; i < n && st == MOAT_OK; i++) {
    part_t *p = &parts[i];
    if (i > 0) {
      char a[MOAT_PATH_MAX + 2], b[MOAT_PATH_MAX + 2];
      snprintf(a, sizeof a, "'%s'", parts[0].name);
      snprintf(b, sizeof b, "'%s'", p->name);
      st = identity_compare(&parts[0].id, a, &p->id, b, err, errlen);
    }
    if (st != MOAT_OK) break;
    if (p->id.shard_count != N || p->id.shard_index < 0 || p->id.shard_index >= N) {
      snprintf(err, errlen, "'%s' is shard %" PRId64 "/%" PRId64 " but '%s' is one of %" PRId64
               " shards: they are different splits of the sweep", p->name, p->id.shard_index,
               p->id.shard_count, parts[0].name, N);
      st = MOAT_EINVAL;
    } else if (seen[p->id.shard_index]) {
      snprintf(err, errlen, "shard %" PRId64 "/%" PRId64 " is given twice: '%s' and '%s'; pass each "
               "shard once", p->id.shard_index, N, seen[p->id.shard_index], p->name);
      st = MOAT_EINVAL;
    } else if (p->id.by_paths != parts[0].id.by_paths) {
      snprintf(err, errlen, "'%s' %s split by paths but '%s' %s: they are different splits of the sweep",
               p->name, p->id.by_paths ? "is" : "is not", parts[0].name, parts[0].id.by_paths ? "is" : "is not");
      st = MOAT_EINVAL;
    } else {
      seen[p->id.shard_index] = p->name;
      /* split by paths: no scenario is whole in a part; check_paths checks the paths */
      if (!p->id.by_paths) st = check_complete(p, err, errlen);
    }
  }
  for (int64_t i = 0; i < N && st == MOAT_OK; i++) {
    if (!seen[i]) {
      snprintf(err, errlen, "shard %" PRId64 "/%" PRId64 " is missing: %d of %" PRId64 " shard files "
               "given; run it with moatsim run ... --shard %" PRId64 "/%" PRId64 " and merge all of them",
               i, N, n, N, i, N);
      st = MOAT_EINVAL;
    }
  }
  free(seen);
  return st;
}

/* Which rows (first dimension: scenario) of the source go to which rows of the destination:
 * source rows src0 + i * stride to destination rows dst0 + i * stride, i < count; count 0 means
 * every row of the source from src0 on (a shard: src0 = dst0 = I, stride N). */
typedef struct rows {
  hsize_t src0, dst0, stride, count;
} rows_t;

/* Copy the rows `r` of dataset `path` from src to dst, in slabs of at most 64 MiB. */
static int copy_dataset(hid_t src, hid_t dst, const char *path, const rows_t *r) {
  hid_t s = H5Dopen2(src, path, H5P_DEFAULT), d = H5Dopen2(dst, path, H5P_DEFAULT);
  hid_t fs = s >= 0 ? H5Dget_space(s) : -1, ds = d >= 0 ? H5Dget_space(d) : -1;
  hid_t ft = s >= 0 ? H5Dget_type(s) : -1, mt = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_ASCEND) : -1;
  hsize_t dims[8] = {0}, per = 1;
  int rank = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
  int bad = s < 0 || d < 0 || ds < 0 || mt < 0 || rank < 1 || rank > 8 ||
            H5Sget_simple_extent_dims(fs, dims, NULL) < 0;
  size_t esize = bad ? 1 : H5Tget_size(mt);
  for (int j = 1; j < rank; j++) per *= dims[j];
  hsize_t total = bad ? 0 : r->count ? r->count : shard_size(dims[0], r->src0, r->stride);
  hsize_t block = per * esize > MERGE_SLAB_BYTES ? 1 : MERGE_SLAB_BYTES / (per * esize);
  void *buf = total ? malloc((size_t)((block < total ? block : total) * per) * esize) : NULL;
  if (total && !buf) bad = 1;
  for (hsize_t at = 0; !bad && at < total; at += block) {
    hsize_t cnt = total - at < block ? total - at : block;
    hsize_t start[8] = {r->src0 + at * r->stride}, dstart[8] = {r->dst0 + at * r->stride};
    hsize_t stride[8] = {r->stride}, count[8] = {cnt}, mdims[8] = {cnt};
    for (int j = 1; j < rank; j++)
      start[j] = dstart[j] = 0, stride[j] = 1, count[j] = dims[j], mdims[j] = dims[j];
    hid_t ms = H5Screate_simple(rank, mdims, NULL);
    bad = ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, stride, count, NULL) < 0 ||
          H5Sselect_hyperslab(ds, H5S_SELECT_SET, dstart, stride, count, NULL) < 0 ||
          H5Dread(s, mt, ms, fs, H5P_DEFAULT, buf) < 0 || H5Dwrite(d, mt, ms, ds, H5P_DEFAULT, buf) < 0;
    if (ms >= 0) H5Sclose(ms);
  }
  free(buf);
  hid_t ids[] = {mt, ft};
  for (int j = 0; j < 2; j++) if (ids[j] >= 0) H5Tclose(ids[j]);
  if (fs >= 0) H5Sclose(fs);
  if (ds >= 0) H5Sclose(ds);
  if (s >= 0) H5Dclose(s);
  if (d >= 0) H5Dclose(d);
  return bad ? -1 : 0;
}

/* Datasets of a results group indexed by scenario first (dimension scale named "scenario"),
 * other than the scale itself: the ones a shard or a scenario file fills its part of. */
typedef struct copy_job {
  hid_t src, dst;
  rows_t rows;
  const char *group;
  int bad;
} copy_job_t;

/* Copy dataset `name` of the source group if its counterpart in the destination (which has the
 * dimension scales: a skeleton or shard 0's file) has the scenario as first dimension. */
static herr_t copy_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  copy_job_t *job = data;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0) return -1;
  if (oi.type != H5O_TYPE_DATASET || strcmp(name, "scenario") == 0) return 0;
  char path[512];
  snprintf(path, sizeof path, "%s/%s", job->group, name);
  hid_t ds = H5Dopen2(job->dst, path, H5P_DEFAULT);
  char dim[64] = "";
  int scenario_first = ds >= 0 && moat_h5_dim_name(ds, 0, dim, sizeof dim) >= 0 && strcmp(dim, "scenario") == 0;
  if (ds >= 0) H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  if (!scenario_first) return 0;
  if (copy_dataset(job->src, job->dst, path, &job->rows) < 0) {
    job->bad = 1;
    return -1;
  }
  return 0;
}

static const char *const result_groups[] = {"market", "labs", "clouds", "paths/market", "paths/labs",
                                            "paths/clouds"};

/* Copy the rows r of every result variable of src (file `name`) into dst. */
static int copy_results(hid_t src, const char *name, hid_t dst, const rows_t *r, char *err, size_t errlen) {
  int keep_paths = H5Lexists(src, "paths", H5P_DEFAULT) > 0;
  for (size_t gi = 0; gi < sizeof result_groups / sizeof *result_groups; gi++) {
    if (strncmp(result_groups[gi], "paths/", 6) == 0 && !keep_paths) continue;
    copy_job_t job = {src, dst, *r, result_groups[gi], 0};
    hid_t g = H5Gopen2(src, result_groups[gi], H5P_DEFAULT);
    hsize_t idx = 0;
    if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, copy_link, &job) < 0 || job.bad) {
      if (g >= 0) H5Gclose(g);
      char what[600];
      snprintf(what, sizeof what, "cannot copy group %s of", result_groups[gi]);
      moat_h5_error(err, errlen, what, name);
      return MOAT_EIO;
    }
    H5Gclose(g);
  }
  return MOAT_OK;
}

/* Copy every scenario of part p into dst. */
static int copy_part(const part_t *p, hid_t dst, char *err, size_t errlen) {
  rows_t r = {(hsize_t)p->id.shard_index, (hsize_t)p->id.shard_index, (hsize_t)p->id.shard_count, 0};
  return copy_results(p->file, p->name, dst, &r, err, errlen);
}

/* Copy a file byte for byte. 0 or MOAT_EIO with a message. */
static int copy_file(const char *from, const char *to, char *err, size_t errlen) {
  FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
  char buf[1 << 16];
  size_t n;
  int bad = !in || !out;
  while (!bad && (n = fread(buf, 1, sizeof buf, in)) > 0) bad = fwrite(buf, 1, n, out) != n;
  if (in && ferror(in)) bad = 1;
  if (in) fclose(in);
  if (out && fclose(out) != 0) bad = 1;
  if (bad) {
    snprintf(err, errlen, "cannot copy '%s' to '%s': %s", from, to, strerror(errno));
    remove(to);
  }
  return bad ? MOAT_EIO : MOAT_OK;
}

/* Root attributes of the merged file: no shard, the parts it came from, total wall time. */
static int finish_attrs(hid_t f, part_t *parts, int n) {
  const char *gone[] = {"shard_index", "shard_count", "shard_scenarios", "shard_split"};
  for (int j = 0; j < 4; j++)
    if (H5Aexists(f, gone[j]) > 0 && H5Adelete(f, gone[j]) < 0) return -1;
  size_t len = 1;
  double wall = 0;
  for (int i = 0; i < n; i++) len += strlen(parts[i].name) + 1, wall += parts[i].id.wall_time_s;
  char *list = calloc(len, 1);
  if (!list) return -1;
  for (int i = 0; i < n; i++) {
    if (i) strcat(list, " ");
    strcat(list, parts[i].name);
  }
  int bad = moat_h5_attr_text(f, "merged_from", list) < 0 || moat_h5_attr_double(f, "wall_time_s", wall) < 0;
  free(list);
  return bad ? -1 : 0;
}

/* ---- parts split by paths ------------------------------------------------------------------ */

/* One part's paths of a scenario: dataset shard_paths/s<k> of parts[part]. */
typedef struct piece {
  int part;
  size_t first, n, n_paths, n_steps, per_path;
} piece_t;

static int attr_size(hid_t obj, const char *name, size_t *out) {
  int64_t v = -1;
  if (read_number(obj, name, H5T_NATIVE_INT64, &v) != 0 || v < 0) return -1;
  *out = (size_t)v;
  return 0;
}

/* The pieces of scenario k in the parts, sorted by first path; *m of them. -1 when one is
 * unreadable (message in err). */
static int scenario_pieces(const part_t *parts, int n, size_t k, piece_t *pc, int *m, char *err, size_t errlen) {
  char name[64];
  snprintf(name, sizeof name, "shard_paths/s%zu", k);
  *m = 0;
  for (int i = 0; i < n; i++) {
    if (H5Lexists(parts[i].file, "shard_paths", H5P_DEFAULT) <= 0 || H5Lexists(parts[i].file, name, H5P_DEFAULT) <= 0)
      continue;
    hid_t ds = H5Dopen2(parts[i].file, name, H5P_DEFAULT), sp = ds >= 0 ? H5Dget_space(ds) : -1;
    hsize_t dims[2] = {0, 0};
    piece_t p = {i, 0, 0, 0, 0, 0};
    int bad = sp < 0 || H5Sget_simple_extent_ndims(sp) != 2 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ||
              attr_size(ds, "first_path", &p.first) || attr_size(ds, "scenario_paths", &p.n_paths) ||
              attr_size(ds, "n_steps", &p.n_steps) || p.first + dims[0] > p.n_paths;
    p.n = (size_t)dims[0], p.per_path = (size_t)dims[1];
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    H5Eclear2(H5E_DEFAULT);
    if (bad) {
      snprintf(err, errlen, "'%s': %s is not a block of paths of a moatsim shard (dataset of path rows with "
               "attributes first_path, scenario_paths, n_steps)", parts[i].name, name);
      return -1;
    }
    int j = (*m)++;
    for (; j > 0 && pc[j - 1].first > p.first; j--) pc[j] = pc[j - 1];
    pc[j] = p;
  }
  return 0;
}

/* Every path of every scenario in exactly one part: MOAT_EINVAL naming overlaps and gaps. */
static int check_paths(const part_t *parts, int n, piece_t *pc, char *err, size_t errlen) {
  for (size_t k = 0; k < (size_t)parts[0].id.n_scenarios; k++) {
    int m = 0;
    if (scenario_pieces(parts, n, k, pc, &m, err, errlen) != 0) return MOAT_EINVAL;
    if (m == 0) {
      snprintf(err, errlen, "no part holds paths of scenario %zu: a part is missing or is not a shard of this "
               "sweep", k);
      return MOAT_EINVAL;
    }
    size_t at = 0;
    for (int j = 0; j < m; j++) {
      const piece_t *p = &pc[j];
      if (p->n_paths != pc[0].n_paths || p->n_steps != pc[0].n_steps || p->per_path != pc[0].per_path) {
        snprintf(err, errlen, "'%s' and '%s' disagree on the size of scenario %zu (paths, steps or results "
                 "per path): they are not shards of one sweep", parts[p->part].name, parts[pc[0].part].name, k);
        return MOAT_EINVAL;
      }
      if (p->first < at) {
        snprintf(err, errlen, "paths %zu-%zu of scenario %zu are in both '%s' and '%s': pass each shard once",
                 p->first, (at < p->first + p->n ? at : p->first + p->n) - 1, k, parts[pc[j - 1].part].name,
                 parts[p->part].name);
        return MOAT_EINVAL;
      }
      if (p->first > at) {
        snprintf(err, errlen, "paths %zu-%zu of scenario %zu are in none of the parts: a shard is missing",
                 at, p->first - 1, k);
        return MOAT_EINVAL;
      }
      at = p->first + p->n;
    }
    if (at < pc[0].n_paths) {
      snprintf(err, errlen, "paths %zu-%zu of scenario %zu are in none of the parts: a shard is missing", at,
               pc[0].n_paths - 1, k);
      return MOAT_EINVAL;
    }
  }
  return MOAT_OK;
}

/* The sizes the merged file's scenarios are written with, from parts[0]'s /shard_paths. */
static int split_dims(const part_t *p0, moat_writer_dims_t *d, double **q, char *err, size_t errlen) {
  hid_t g = H5Gopen2(p0->file, "shard_paths", H5P_DEFAULT);
  hsize_t nq = 0;
  *q = g >= 0 ? moat_h5_read_doubles(g, "quantile_levels", &nq) : NULL;
  d->n_scenarios = (size_t)p0->id.n_scenarios, d->n_quantiles = (size_t)nq, d->keep_paths = p0->id.keep_paths;
  int bad = g < 0 || attr_size(g, "n_labs", &d->n_labs) || attr_size(g, "n_clouds", &d->n_clouds) ||
            attr_size(g, "max_steps", &d->max_steps) || attr_size(g, "max_paths", &d->max_paths) ||
            nq > MOAT_MAX_QUANTILES || (nq > 0 && !*q);
  if (g >= 0) H5Gclose(g);
  H5Eclear2(H5E_DEFAULT);
  if (bad) snprintf(err, errlen, "'%s' lacks a readable /shard_paths (its sizes and quantile_levels)", p0->name);
  return bad ? MOAT_EINVAL : MOAT_OK;
}

/* Scenario k from its pieces: the paths in path order, their summaries (the run's code, so the
 * same bits), a one-scenario file (through `scratch`) copied into row k of dst. */
static int merge_scenario(const part_t *parts, const piece_t *pc, int m, size_t k, moat_writer_t *w,
                          const moat_writer_dims_t *d, const double *q, const char *scratch, hid_t dst,
                          char *err, size_t errlen) {
  moat_layout_t lay;
  moat_layout_init(&lay, pc[0].n_steps, d->n_labs, d->n_clouds);
  size_t n_paths = pc[0].n_paths;
  if (lay.per_path != pc[0].per_path) {
    snprintf(err, errlen, "'%s': scenario %zu has %zu results per path, its sizes say %zu", parts[pc[0].part].name,
             k, pc[0].per_path, lay.per_path);
    return MOAT_EINVAL;
  }
  double *paths = malloc((n_paths ? n_paths : 1) * lay.per_path * sizeof *paths);
  if (!paths) {
    snprintf(err, errlen, "scenario %zu: out of memory for %zu paths x %zu results", k, n_paths, lay.per_path);
    return MOAT_ENOMEM;
  }
  int st = MOAT_OK;
  char name[64];
  snprintf(name, sizeof name, "shard_paths/s%zu", k);
  for (int j = 0; j < m && st == MOAT_OK; j++) {
    hid_t ds = H5Dopen2(parts[pc[j].part].file, name, H5P_DEFAULT);
    if (ds < 0 || H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, paths + pc[j].first * lay.per_path) < 0) {
      moat_h5_error(err, errlen, "cannot read the paths of", parts[pc[j].part].name);
      st = MOAT_EIO;
    }
    if (ds >= 0) H5Dclose(ds);
  }
  moat_summary_t s;
  if (st == MOAT_OK) st = moat_summary_init(&s, lay.per_path, q, (int)d->n_quantiles, err, errlen);
  if (st != MOAT_OK) {
    free(paths);
    return st;
  }
  st = moat_summary_compute(&s, paths, n_paths, lay.per_path, 0, err, errlen);
  if (st == MOAT_OK)
    st = moat_writer_write_scenario(w, scratch, k, &lay, &s, d->keep_paths ? paths : NULL, n_paths, err, errlen);
  moat_summary_clear(&s);
  free(paths);
  if (st != MOAT_OK) return st;
  hid_t src = open_h5(scratch, 0, err, errlen);
  rows_t r = {0, (hsize_t)k, 1, 1};
  st = src < 0 ? MOAT_EIO : copy_results(src, scratch, dst, &r, err, errlen);
  if (src >= 0) H5Fclose(src);
  remove(scratch);
  return st;
}

/* Every scenario of a sweep split by paths into dst (a copy of parts[0]: its /shard_paths goes). */
static int merge_paths(const part_t *parts, int n, hid_t dst, const char *out, char *err, size_t errlen) {
  moat_writer_dims_t d;
  double *q = NULL;
  piece_t *pc = malloc((size_t)n * sizeof *pc);
  int st = pc ? split_dims(&parts[0], &d, &q, err, errlen) : MOAT_ENOMEM;
  moat_writer_t *w = NULL;
  if (st == MOAT_OK) st = moat_writer_alloc_bare(&w, &d, err, errlen);
  if (st == MOAT_OK && H5Ldelete(dst, "shard_paths", H5P_DEFAULT) < 0) {
    moat_h5_error(err, errlen, "cannot remove /shard_paths from", out);
    st = MOAT_EIO;
  }
  char scratch[MOAT_PATH_MAX + 32];
  snprintf(scratch, sizeof scratch, "%s.partial.scenario", out);
  for (size_t k = 0; st == MOAT_OK && k < d.n_scenarios; k++) {
    int m = 0;
    st = scenario_pieces(parts, n, k, pc, &m, err, errlen) == 0 ? MOAT_OK : MOAT_EINVAL;
    if (st == MOAT_OK) st = merge_scenario(parts, pc, m, k, w, &d, q, scratch, dst, err, errlen);
  }
  moat_writer_free(w);
  free(q);
  free(pc);
  return st;
}

/* Write out (via OUT.partial) from the checked parts. */
static int write_merged(part_t *parts, int n, const char *out, char *err, size_t errlen) {
  char partial[MOAT_PATH_MAX + 16];
  snprintf(partial, sizeof partial, "%s.partial", out);
  /* The reference part (shard 0 first) carries the layout, /params and provenance. */
  int st = copy_file(parts[0].name, partial, err, errlen);
  if (st != MOAT_OK) return st;
  hid_t f = open_h5(partial, 1, err, errlen);
  st = f < 0 ? MOAT_EIO : MOAT_OK;
  if (parts[0].id.by_paths && st == MOAT_OK) st = merge_paths(parts, n, f, out, err, errlen);
  for (int i = 1; i < n && st == MOAT_OK && !parts[0].id.by_paths; i++) st = copy_part(&parts[i], f, err, errlen);
  if (st == MOAT_OK && finish_attrs(f, parts, n) < 0) {
    moat_h5_error(err, errlen, "cannot write the root attributes of", partial);
    st = MOAT_EIO;
  }
  if (f >= 0 && H5Fclose(f) < 0 && st == MOAT_OK) {
    moat_h5_error(err, errlen, "cannot finish", partial);
    st = MOAT_EIO;
  }
  if (st == MOAT_OK) return moat_durable_commit(partial, out, err, errlen);
  remove(partial);
  return st;
}

int moat_merge_assemble(const char *skeleton, size_t n, const size_t *k, const char *const *files,
                        const char *out, double wall_time_s, char *err, size_t errlen) {
  int st = copy_file(skeleton, out, err, errlen);
  if (st != MOAT_OK) return st;
  hid_t f = open_h5(out, 1, err, errlen);
  st = f < 0 ? MOAT_EIO : MOAT_OK;
  for (size_t i = 0; i < n && st == MOAT_OK; i++) {
    hid_t src = open_h5(files[i], 0, err, errlen);
    rows_t r = {0, (hsize_t)k[i], 1, 1};
    st = src < 0 ? MOAT_EIO : copy_results(src, files[i], f, &r, err, errlen);
    if (src >= 0) H5Fclose(src);
  }
  if (st == MOAT_OK && moat_h5_attr_double(f, "wall_time_s", wall_time_s) < 0) {
    moat_h5_error(err, errlen, "cannot write the root attributes of", out);
    st = MOAT_EIO;
  }
  if (f >= 0 && H5Fclose(f) < 0 && st == MOAT_OK) {
    moat_h5_error(err, errlen, "cannot finish", out);
    st = MOAT_EIO;
  }
  if (st != MOAT_OK) remove(out);
  return st;
}

static const char usage_merge[] =
    "usage: moatsim merge PART.h5... -o OUT.h5 [--force]\n"
    "\n"
    "Merge the shard files of one sweep (moatsim run ... --shard I/N -o PART.h5, I = 0..N-1) into\n"
    "one file equal to the run without shards. The parts must come from the same scenario text,\n"
    "seed and build; every shard must be given once and be complete.\n"
    "\n"
    "  -o, --output FILE   merged results file\n"
    "  --force             overwrite an existing OUT.h5 (or OUT.h5.partial left by a merge)\n"
    "  --help              this text\n";

/* Parse the command line; -1 to go on or the exit code. */
static int parse_merge(int argc, char **argv, const char **names, int *n, const char **out, int *force) {
  *n = 0, *out = NULL, *force = 0;
  for (int k = 1; k < argc; k++) {
    const char *a = argv[k];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_merge, stdout);
      return EXIT_OK;
    } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && k + 1 < argc) {
      *out = argv[++k];
    } else if (strncmp(a, "--output=", 9) == 0) {
      *out = a + 9;
    } else if (strcmp(a, "--force") == 0) {
      *force = 1;
    } else if (a[0] == '-') {
      fprintf(stderr, "moatsim merge: unknown option '%s'\n%s", a, usage_merge);
      return EXIT_USAGE;
    } else {
      names[(*n)++] = a;
    }
  }
  if (!*out || *n == 0) {
    fprintf(stderr, "moatsim merge: %s\n%s", *n ? "no output file: give -o OUT.h5" : "no part files given",
            usage_merge);
    return EXIT_USAGE;
  }
  struct stat st;
  for (int i = 0; i < *n; i++) {
    if (strcmp(names[i], *out) == 0) {
      fprintf(stderr, "moatsim merge: output '%s' is also a part: choose another -o OUT.h5\n", *out);
      return EXIT_USAGE;
    }
  }
  if (!*force && stat(*out, &st) == 0) {
    fprintf(stderr, "moatsim merge: '%s' exists: pass --force to replace it, or choose another -o\n", *out);
    return EXIT_USAGE;
  }
  /* OUT.partial is where the merge writes; OUT.partial.d is a run's checkpoint (never ours). */
  char partial[MOAT_PATH_MAX + 16];
  snprintf(partial, sizeof partial, "%s.partial.d", *out);
  if (stat(partial, &st) == 0) {
    fprintf(stderr, "moatsim merge: '%s' holds an interrupted or running `moatsim run -o %s`: finish it "
                    "(--resume) or remove it, or choose another -o\n", partial, *out);
    return EXIT_USAGE;
  }
  snprintf(partial, sizeof partial, "%s.partial", *out);
  if (!*force && stat(partial, &st) == 0) {
    fprintf(stderr, "moatsim merge: '%s' exists (an interrupted merge, or another program's file): "
                    "pass --force to replace it, or choose another -o\n", partial);
    return EXIT_USAGE;
  }
  return -1;
}

/* Open every part and read its identity; shard 0 first. */
static int open_parts(part_t *parts, int n, char *err, size_t errlen) {
  for (int i = 0; i < n; i++) {
    parts[i].file = open_h5(parts[i].name, 0, err, errlen);
    if (parts[i].file < 0) return MOAT_EINVAL;
    int st = identity_read(parts[i].file, parts[i].name, &parts[i].id, err, errlen);
    if (st != MOAT_OK) return st;
    char what[700];
    if (moat_h5_verify(parts[i].file, what, sizeof what) != 0) {
      snprintf(err, errlen, "'%s' is damaged: %s; rerun that part (or restore it) and merge again",
               parts[i].name, what);
      return MOAT_EINVAL;
    }
  }
  for (int i = 1; i < n; i++)
    if (parts[i].id.shard_index == 0 && parts[0].id.shard_index != 0) {
      part_t t = parts[0];
      parts[0] = parts[i], parts[i] = t;
    }
  return MOAT_OK;
}

int moat_cmd_merge(int argc, char **argv) {
  const char **names = calloc((size_t)(argc > 0 ? argc : 1), sizeof *names);
  part_t *parts = calloc((size_t)(argc > 0 ? argc : 1), sizeof *parts);
  const char *out = NULL;
  int n = 0, force = 0, rc = names && parts ? parse_merge(argc, argv, names, &n, &out, &force) : EXIT_RUNTIME;
  char err[MOAT_ERR_MAX] = "out of memory";
  int st = rc < 0 ? MOAT_OK : MOAT_EINVAL;
  for (int i = 0; i < n; i++) parts[i].name = names[i], parts[i].file = -1;
  if (rc < 0) st = open_parts(parts, n, err, sizeof err);
  if (rc < 0 && st == MOAT_OK) st = check_parts(parts, n, err, sizeof err);
  if (rc < 0 && st == MOAT_OK && parts[0].id.by_paths) {
    piece_t *pc = malloc((size_t)n * sizeof *pc);
    st = pc ? check_paths(parts, n, pc, err, sizeof err) : MOAT_ENOMEM;
    free(pc);
  }
  if (rc < 0 && st == MOAT_OK) st = write_merged(parts, n, out, err, sizeof err);
  for (int i = 0; i < n; i++) {
    if (parts[i].file >= 0) H5Fclose(parts[i].file);
    identity_clear(&parts[i].id);
  }
  if (rc < 0 && st != MOAT_OK) {
    fprintf(stderr, "moatsim merge: %s\n", err);
    rc = st == MOAT_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
  } else if (rc < 0) {
    printf("wrote %s: %" PRId64 " scenarios from %d shard file%s\n", out, parts[0].id.n_scenarios, n,
           n == 1 ? "" : "s");
    rc = EXIT_OK;
  }
  free(names);
  free(parts);
  return rc;
}
