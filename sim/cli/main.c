/* main.c — the moatsim command line. `run` reads as the pipeline: parse arguments → load and
 * validate the scenario → expand the sweep → run the paths → summarize → write. */
#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <libconfig.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "moatsim/checkpoint.h"
#include "moatsim/cli.h"
#include "moatsim/config.h"
#include "moatsim/dispatch.h"
#include "moatsim/durable.h"
#include "moatsim/export.h"
#include "moatsim/merge.h"
#include "moatsim/model.h"
#include "moatsim/progress.h"
#include "moatsim/runner.h"
#include "moatsim/scenario.h"
#include "moatsim/signals.h"
#include "moatsim/summary.h"
#include "moatsim/sweep.h"
#include "moatsim/writer.h"

#if defined(MOAT_MPI) && MOAT_MPI
#include <mpi.h>
#endif

/* Exit codes: 0 success, 1 runtime failure, 2 usage or scenario error. */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static int exit_code(int status) {
  if (status == MOAT_OK) return EXIT_OK;
  return status == MOAT_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
}

static const char usage_top[] =
    "usage: moatsim COMMAND [OPTIONS]\n"
    "\n"
    "Monte Carlo simulator of the AI model market (closed vs open-weight labs).\n"
    "\n"
    "commands:\n"
    "  run SCENARIO.cfg      simulate a scenario (and its sweep) and write an HDF5 file\n"
    "  validate SCENARIO.cfg check a scenario and print its resolved parameters and size\n"
    "  params                list every scenario parameter (--format text|markdown)\n"
    "  info FILE.h5          describe a results file\n"
    "  summary FILE.h5       print the headline results of a results file\n"
    "  merge PART.h5...      merge the shard files of one sweep into -o OUT.h5\n"
    "  export FILE.h5        write each group as a flat CF netCDF file into -o DIR (CDO, NCO)\n"
    "  report FILE.h5...     write a report (figures, index.html, interactive.html) into -o DIR;\n"
    "                        several files are compared side by side\n"
    "  sensitivity FILE.h5   Sobol or Morris indices of outputs over a sweep's parameters\n"
    "  discover FILE.h5      PRIM boxes of parameters where a condition on an output holds\n"
    "  version               print version, git revision, compiler and libraries\n"
    "\n"
    "'moatsim COMMAND --help' describes a command's options; -V or --version, alone or after\n"
    "any command, prints the version.\n"
    "\n"
    "exit codes (every command):\n"
    "  0    success\n"
    "  1    runtime failure: the input was fine but the work failed (writing a file, out of\n"
    "       memory, a missing Python for report)\n"
    "  2    usage or input error: unknown command or option, a value out of range, a missing,\n"
    "       unreadable or invalid scenario or results file, --scenario beyond the file's\n"
    "  130, 143  run stopped by SIGINT / SIGTERM (its .partial file can be resumed)\n";

static const char usage_run[] =
    "usage: moatsim run SCENARIO.cfg [OPTIONS]\n"
    "\n"
    "  -o, --output FILE   results file (default: the scenario's output.file)\n"
    "  --paths N           Monte Carlo paths per scenario (same as --set paths=N)\n"
    "  --threads N         OpenMP threads (default: OMP_NUM_THREADS or all cores)\n"
    "  --seed S            master seed (same as --set seed=S)\n"
    "  --set KEY=VALUE     override a parameter after the file is read (repeatable),\n"
    "                      e.g. --set quality_gap.long_run=0.02 --set labs.open-a.lag=0.1\n"
    "  --keep-paths        also write every path (same as --set output.keep_paths=true)\n"
    "  --force             overwrite an existing results file\n"
    "  --quiet             no progress messages\n"
    "  --max-memory BYTES  refuse scenarios needing more memory (default 8G; K M G T suffixes)\n"
    "  --shard I/N         run shard I (0 <= I < N): the scenarios k with k mod N = I;\n"
    "                      with fewer scenarios than N, part I of the sweep's paths cut N ways\n"
    "  --resume            continue an interrupted run from its checkpoint FILE.partial.d\n"
    "                      (SIGINT / SIGTERM stop a run cleanly: exit 130 / 143)\n"
    "  --checkpoint-paths N  paths per checkpoint block (default 16 x threads)\n"
    "  --help              this text (-V, --version: the version)\n";

static const char usage_validate[] =
    "usage: moatsim validate SCENARIO.cfg [OPTIONS]\n"
    "\n"
    "Load and check a scenario; print labs, clouds, offers, sweep size, paths, steps,\n"
    "and the work and memory estimate.\n"
    "\n"
    "  --set KEY=VALUE     override a parameter (repeatable)\n"
    "  --paths N, --seed S same as --set paths=N, --set seed=S\n"
    "  --threads N         threads to size the memory estimate for\n"
    "  --max-memory BYTES  memory limit to check against (default 8G)\n"
    "  --help              this text\n";

static const char usage_params[] =
    "usage: moatsim params [--format text|markdown]\n"
    "\n"
    "List every scenario parameter: key, type, default, range, unit, documentation.\n"
    "--format markdown writes the reference docs/parameters.md (make docs).\n";

/* Print what moat_config_load found worth a warning. */
static void print_warnings(const moat_warnings_t *w) {
  int shown = w->n < MOAT_MAX_WARNINGS ? w->n : MOAT_MAX_WARNINGS;
  for (int k = 0; k < shown; k++) fprintf(stderr, "warning: %s\n", w->text[k]);
  if (w->n > shown) fprintf(stderr, "warning: %d more warnings not shown\n", w->n - shown);
}

/* Parse the options of `run` / `validate`; returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, int command, moat_run_options_t *opt,
                         const char *usage) {
  char err[MOAT_ERR_MAX];
  int st = moat_cli_parse_run(argc, argv, command, opt, err, sizeof err);
  if (st == MOAT_CLI_HELP) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  if (st != MOAT_OK) {
    fprintf(stderr, "moatsim %s: %s\n", argv[0], err);
    return EXIT_USAGE;
  }
  int cores = omp_get_num_procs();
  if (opt->threads > cores)
    fprintf(stderr, "moatsim %s: warning: --threads %d is more than the %d cores available: the "
                    "extra threads share cores and slow the run down\n", argv[0], opt->threads, cores);
  return -1;
}

/* The directory of results file `file` ("." for a bare name, "/" for "/x.h5"). */
static void output_dir(const char *file, char *dir, size_t len) {
  snprintf(dir, len, "%s", file);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, len, ".");
  else slash[slash == dir] = '\0';
}

/* The most bytes the results file may take here: the process's file size limit (ulimit -f; a
 * larger file kills the run with SIGXFSZ) and the free space of its directory's filesystem
 * (not for --resume: the partial file already holds its space). `limit` names the smaller for
 * messages; HUGE_VAL when neither is known. */
static double output_room(const char *file, int resume, char *limit, size_t len) {
  double room = HUGE_VAL;
  struct rlimit rl;
  if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    room = (double)rl.rlim_cur;
    snprintf(limit, len, "the file size limit of %.2f MiB (ulimit -f)", room / 1048576.0);
  }
  char dir[MOAT_PATH_MAX];
  struct statvfs vfs;
  output_dir(file, dir, sizeof dir);
  /* A directory still to be made (validate before mkdir) lands on its nearest existing parent. */
  while (statvfs(dir, &vfs) != 0 && strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0) {
    char parent[MOAT_PATH_MAX];
    output_dir(dir, parent, sizeof parent);
    memcpy(dir, parent, sizeof dir);
  }
  /* Test hook: the full-disk test reaches a filesystem that fills during the run this way. */
  const char *skip = getenv("MOATSIM_TEST_NO_ROOM_CHECK");
  if (!resume && !(skip && strcmp(skip, "1") == 0) && statvfs(dir, &vfs) == 0 &&
      (double)vfs.f_bavail * (double)vfs.f_frsize < room) {
    room = (double)vfs.f_bavail * (double)vfs.f_frsize;
    if (room >= 1073741824.0)
      snprintf(limit, len, "the %.2f GiB free on the filesystem of '%s'", room / 1073741824.0, dir);
    else snprintf(limit, len, "the %.2f MiB free on the filesystem of '%s'", room / 1048576.0, dir);
  }
  return room;
}

/* Load and validate the scenario the options name, against the machine's limits: memory, and
 * the room for the results file (-o, else output.file). */
static int load_scenario(const moat_run_options_t *opt, moat_config_t *cfg) {
  char err[MOAT_ERR_MAX], limit[MOAT_PATH_MAX + 96];
  moat_limits_t lim = {opt->max_memory, opt->threads > 0 ? opt->threads : omp_get_max_threads()};
  int st = moat_config_load_ex(cfg, opt->scenario, opt->sets, opt->n_sets, &lim, err, sizeof err);
  if (st == MOAT_OK && moat_dispatch_rank() == 0) { /* MPI: the writing rank's filesystem */
    double room = output_room(opt->output ? opt->output : cfg->base.output.file, opt->resume, limit,
                              sizeof limit);
    st = moat_sweep_check_output(cfg, room, limit, err, sizeof err);
    if (st != MOAT_OK) moat_config_clear(cfg);
  }
  if (moat_dispatch_rank() != 0) return st; /* MPI: rank 0 speaks for all */
  print_warnings(&cfg->warnings);
  if (st != MOAT_OK) fprintf(stderr, "moatsim: %s\n", err);
  return st;
}

/* ---- moatsim run: the results file, progress, and the loop over scenarios ---------------- */

/* -1 when `file` may be written; otherwise the message is printed and the exit code returned:
 * no name, an existing file without --force, a missing directory. */
static int check_output(const char *file, int force) {
  struct stat st;
  if (!file || !*file) {
    fprintf(stderr, "moatsim run: no results file: give -o FILE or set output.file in the scenario\n");
    return EXIT_USAGE;
  }
  if (stat(file, &st) == 0 && !force) {
    fprintf(stderr, "moatsim run: results file '%s' exists: pass --force to replace it, or choose "
                    "another with -o FILE\n", file);
    return EXIT_USAGE;
  }
  char dir[MOAT_PATH_MAX + 16];
  output_dir(file, dir, sizeof dir);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "moatsim run: directory '%s' of results file '%s' does not exist: create it "
                    "(mkdir -p '%s') or choose another -o FILE\n", dir, file, dir);
    return EXIT_USAGE;
  }
  return -1;
}

/* "moatsim run ..." as typed, arguments with blanks or quotes in single quotes. */
static void join_command_line(int argc, char **argv, char *buf, size_t len) {
  size_t n = (size_t)snprintf(buf, len, "moatsim");
  for (int k = 0; k < argc && n < len; k++) {
    int quote = !*argv[k] || strpbrk(argv[k], " \t\"'$\\*?") != NULL;
    n += (size_t)snprintf(buf + n, len - n, quote ? " '%s'" : " %s", argv[k]);
  }
}

/* ---- running scenarios: computed on any rank, stored by the writing rank (rank 0) ---------- */

typedef struct run_ctx {
  const moat_config_t *cfg;
  const moat_run_options_t *opt;
  moat_runner_t *r;
  moat_scenario_t *sc;  /* scenario `cur` of the sweep, the one the runner runs */
  size_t cur;           /* (size_t)-1: none yet */
  size_t shown;         /* the scenario progress shows, and its paths this process finished */
  size_t shown_done;
  size_t block_paths;   /* paths per checkpoint block (the most in a unit of work) */
  moat_writer_t *w;     /* writing rank only */
  moat_ckpt_t *cp;      /* writing rank only */
  moat_progress_t *pg;
  double write_s;       /* seconds writing files */
  size_t (*range)[2];   /* a shard split by paths: its paths of each scenario; NULL otherwise */
  moat_ckpt_part_t *parts; /* with range: each scenario's part */
} run_ctx_t;

/* Make scenario k of the sweep the current one. */
static int set_scenario(run_ctx_t *c, size_t k, char *err, size_t errlen) {
  if (c->cur == k) return MOAT_OK;
  c->cur = (size_t)-1;
  int st = moat_sweep_scenario(c->cfg, k, c->sc, err, errlen);
  if (st == MOAT_OK) c->cur = k;
  return st;
}

/* Scenario k's layout and paths (the dispatcher's open; any rank). */
static int open_one(void *ctx, size_t k, moat_layout_t *lay, size_t *n_paths, char *err, size_t errlen) {
  run_ctx_t *c = ctx;
  int st = set_scenario(c, k, err, errlen);
  if (st != MOAT_OK) return st;
  moat_scenario_layout(c->sc, lay);
  *n_paths = (size_t)c->sc->paths;
  return MOAT_OK;
}

/* The runner counts the paths of a unit; progress counts those of the scenario. */
static void unit_progress(void *ctx, size_t done) {
  run_ctx_t *c = ctx;
  moat_progress_path(c->pg, c->shown_done + done);
}

/* Paths first .. first + count - 1 of scenario k into out (the dispatcher's run; any rank). */
static int run_one(void *ctx, size_t k, size_t first, size_t count, double *out, moat_poll_fn poll,
                   void *poll_ctx, size_t *finished, char *err, size_t errlen) {
  run_ctx_t *c = ctx;
  *finished = 0;
  int st = set_scenario(c, k, err, errlen);
  if (st != MOAT_OK) return st;
  if (c->shown != k) {
    moat_progress_scenario(c->pg, k, (size_t)c->sc->paths);
    c->shown = k, c->shown_done = 0;
  }
  moat_runner_set_poll(c->r, poll, poll_ctx);
  st = moat_runner_run_range(c->r, c->sc, k, first, count, out, NULL, unit_progress, c, finished, err, errlen);
  moat_runner_set_poll(c->r, NULL, NULL);
  c->shown_done += *finished;
  return st;
}

/* Writing rank: scenario k's paths already in the checkpoint (the dispatcher's load). */
static int load_one(void *ctx, size_t k, moat_path_set_t *ps, char *err, size_t errlen) {
  run_ctx_t *c = ctx;
  return c->opt->resume ? moat_ckpt_load_blocks(c->cp, k, ps, stderr, err, errlen) : MOAT_OK;
}

/* Writing rank: commit a finished block (the dispatcher's store_block). */
static int store_block(void *ctx, const moat_block_t *b, char *err, size_t errlen) {
  run_ctx_t *c = ctx;
  double t1 = moat_progress_now();
  int st = moat_ckpt_write_block(c->cp, b, err, errlen);
  c->write_s += moat_progress_now() - t1;
  if (st == MOAT_OK) moat_durable_block_stored(); /* test hook: may pause here */
  return st;
}

/* Writing rank: every path of [lo, hi) of scenario k is in ps (the dispatcher's store). The
 * whole scenario: its summaries, from the path-indexed array in path order (the same bits
 * however the paths were split), committed as its file, then its blocks dropped. A part of its
 * paths (a shard split by paths): nothing to do, its blocks go into the shard's file. */
static int store_one(void *ctx, size_t k, const moat_layout_t *lay, const moat_path_set_t *ps, size_t lo,
                     size_t hi, double seconds, char *err, size_t errlen) {
  run_ctx_t *c = ctx;
  if (lo != 0 || hi != ps->n_paths) {
    moat_progress_scenario(c->pg, k, hi - lo);
    c->shown = k;
    moat_progress_scenario_done(c->pg, seconds);
    return MOAT_OK;
  }
  double t1 = moat_progress_now();
  moat_summary_t s;
  const moat_scenario_t *base = &c->cfg->base;
  int st = moat_summary_init(&s, lay->per_path, base->output.quantiles, base->output.n_quantiles, err, errlen);
  if (st != MOAT_OK) return st;
  st = moat_summary_compute(&s, ps->data, ps->n_paths, lay->per_path, moat_runner_threads(c->r), err, errlen);
  char path[MOAT_PATH_MAX + 64];
  moat_ckpt_scenario_path(c->cp, k, path, sizeof path);
  if (st == MOAT_OK)
    st = moat_writer_write_scenario(c->w, path, k, lay, &s, base->output.keep_paths ? ps->data : NULL,
                                    ps->n_paths, err, errlen);
  moat_summary_clear(&s);
  if (st == MOAT_OK) moat_ckpt_drop_blocks(c->cp, k);
  c->write_s += moat_progress_now() - t1;
  moat_progress_scenario(c->pg, k, ps->n_paths);
  c->shown = k;
  if (st == MOAT_OK) moat_progress_scenario_done(c->pg, seconds);
  return st;
}

static int run_scenarios(run_ctx_t *c, int threads, size_t n_scen, const uint8_t *pending,
                         const size_t (*range)[2], char *err, size_t errlen) {
  c->r = moat_runner_alloc(threads);
  c->sc = malloc(sizeof *c->sc);
  c->cur = c->shown = (size_t)-1;
  int st = c->r && c->sc ? MOAT_OK : MOAT_ENOMEM;
  if (st != MOAT_OK) snprintf(err, errlen, "out of memory for %d thread workspaces", threads);
  moat_dispatch_ops_t ops = {open_one, load_one, run_one, store_block, store_one, c, c->block_paths};
  if (st == MOAT_OK) st = moat_dispatch_run(&ops, n_scen, pending, range, err, errlen);
  free(c->sc);
  moat_runner_free(c->r);
  return st;
}

/* The writer reads scenario k of the sweep through this. */
static int sweep_source(void *ctx, size_t k, moat_scenario_t *sc, char *err, size_t errlen) {
  return moat_sweep_scenario(ctx, k, sc, err, errlen);
}

/* A shard of a sweep with fewer scenarios than shards is split by paths
 * (moat_dispatch_shard_paths): c->range and c->parts for every scenario, t[k] = 1 where this
 * shard has paths. */
static int split_by_paths(run_ctx_t *c, size_t n, uint8_t *t, char *err, size_t errlen) {
  const moat_run_options_t *opt = c->opt;
  size_t *paths = malloc(n * sizeof *paths);
  moat_scenario_t *sc = malloc(sizeof *sc);
  c->range = malloc(n * sizeof *c->range);
  c->parts = malloc(n * sizeof *c->parts);
  int st = paths && sc && c->range && c->parts ? MOAT_OK : MOAT_ENOMEM;
  if (st != MOAT_OK) snprintf(err, errlen, "out of memory for the paths of %zu scenarios", n);
  for (size_t k = 0; k < n && st == MOAT_OK; k++) {
    st = moat_sweep_scenario(c->cfg, k, sc, err, errlen);
    if (st != MOAT_OK) break;
    moat_layout_t lay;
    moat_scenario_layout(sc, &lay);
    paths[k] = (size_t)sc->paths;
    c->parts[k] = (moat_ckpt_part_t){k, 0, 0, paths[k], lay.n_steps};
  }
  if (st == MOAT_OK) {
    moat_dispatch_shard_paths(n, paths, opt->shard_index, opt->shard_count, c->range);
    for (size_t k = 0; k < n; k++) {
      c->parts[k].lo = c->range[k][0], c->parts[k].hi = c->range[k][1];
      t[k] = c->range[k][1] > c->range[k][0];
    }
  }
  free(paths);
  free(sc);
  return st;
}

/* Writing rank: take the checkpoint OUT.partial.d (new, or the interrupted run's with --resume,
 * checked to be this run's), and mark in pending[k] the scenarios this process runs: its
 * shard's, not yet done. A shard of a sweep with fewer scenarios than shards has a part of the
 * paths of some scenarios (c->range). */
static int open_results(run_ctx_t *c, const char *file, const moat_writer_desc_t *d, uint8_t **pending,
                        char *err, size_t errlen) {
  const moat_run_options_t *opt = c->opt;
  size_t n = d->n_scenarios;
  uint8_t *t = *pending = calloc(n ? n : 1, 1), *done = calloc(n ? n : 1, 1);
  if (!t || !done) {
    free(done);
    snprintf(err, errlen, "out of memory for the flags of %zu scenarios", n);
    return MOAT_ENOMEM;
  }
  int by_paths = n < (size_t)opt->shard_count;
  for (size_t k = 0; k < n; k++) t[k] = k % (size_t)opt->shard_count == (size_t)opt->shard_index;
  int st = by_paths ? split_by_paths(c, n, t, err, errlen) : MOAT_OK;
  int mode = opt->resume ? MOAT_CKPT_RESUME : opt->force ? MOAT_CKPT_FORCE : MOAT_CKPT_NEW;
  if (st == MOAT_OK) st = moat_ckpt_open(&c->cp, file, mode, err, errlen);
  if (st == MOAT_OK) st = moat_writer_alloc(&c->w, d, err, errlen);
  if (st == MOAT_OK && opt->resume && moat_ckpt_has_skeleton(c->cp)) {
    moat_run_identity_t id = {d->scenario_text, c->cfg->base.seed, n, opt->shard_index, opt->shard_count,
                              d->keep_paths, moat_writer_params_digest(c->w)};
    st = moat_merge_check_partial(moat_ckpt_skeleton(c->cp), &id, err, errlen);
    /* split by paths: no scenario file, the blocks are loaded scenario by scenario */
    if (st == MOAT_OK && !by_paths) st = moat_ckpt_scan(c->cp, n, t, done, stderr, err, errlen);
  } else if (st == MOAT_OK) {
    if (opt->resume) /* killed before its skeleton was committed: nothing was finished */
      fprintf(stderr, "moatsim run: '%s' holds no finished work yet: starting from the beginning\n",
              moat_ckpt_dir(c->cp));
    st = moat_writer_write_skeleton(c->w, moat_ckpt_skeleton(c->cp), opt->shard_index, opt->shard_count,
                                     by_paths, err, errlen);
  }
  for (size_t k = 0; k < n; k++) t[k] = t[k] && !done[k];
  free(done);
  return st;
}

/* Writing rank: assemble and commit the results file, or keep the checkpoint for --resume, or
 * remove it (a fresh run that failed for a reason a rerun would meet again); report. Returns
 * the exit code. */
static int close_results(run_ctx_t *c, int st, const char *file, const char *cmdline, int threads, char *err,
                         size_t errlen) {
  const moat_run_options_t *opt = c->opt;
  double wall = moat_progress_now() - c->pg->start, t1 = moat_progress_now();
  if (st == MOAT_OK && c->range) {
    moat_writer_dims_t d;
    moat_writer_get_dims(c->w, &d);
    st = moat_ckpt_finish_paths(c->cp, file, d.n_scenarios, c->parts, &d, c->cfg->base.output.quantiles, wall, err,
                                errlen);
  } else if (st == MOAT_OK) {
    size_t n = moat_sweep_count(c->cfg), m = 0;
    size_t *ks = malloc((n ? n : 1) * sizeof *ks);
    for (size_t k = (size_t)opt->shard_index; ks && k < n; k += (size_t)opt->shard_count) ks[m++] = k;
    st = ks ? moat_ckpt_finish(c->cp, file, m, ks, wall, err, errlen) : MOAT_ENOMEM;
    free(ks);
  }
  int keep = st != MOAT_OK && (st == MOAT_EINTR || st == MOAT_EIO || opt->resume);
  if (c->cp) moat_ckpt_close(c->cp, !keep);
  moat_writer_free(c->w);
  c->write_s += moat_progress_now() - t1;
  moat_progress_end(c->pg);
  if (keep) {
    int sig = moat_signals_pending();
    if (st != MOAT_EINTR) fprintf(stderr, "moatsim run: %s\n", err);
    fprintf(stderr, "moatsim run: %s%s'%s.partial.d' keeps every finished block: continue with\n  %s%s%s\n",
            st == MOAT_EINTR ? err : "", st == MOAT_EINTR ? "; " : "", file,
            moat_dispatch_size() > 1 ? "mpirun (or srun) ... " : "", cmdline,
            strstr(cmdline, " --resume") ? "" : " --resume");
    return st == MOAT_EINTR ? moat_signals_exit_code(sig) : exit_code(st);
  }
  if (st != MOAT_OK) {
    fprintf(stderr, "moatsim run: %s\n", err);
    return exit_code(st);
  }
  moat_progress_print_summary(c->pg, stdout, file, c->cfg->base.paths, threads, moat_dispatch_size(),
                              moat_progress_now() - c->pg->start, c->write_s);
  return EXIT_OK;
}

/* Take the checkpoint, run the scenarios into it, assemble the results file; returns the exit
 * code, the same on every MPI rank. */
static int run_and_write(const moat_config_t *cfg, const moat_run_options_t *opt, const char *file,
                         const char *cmdline, double heartbeat_s) {
  char err[MOAT_ERR_MAX] = "";
  size_t n_scen = moat_sweep_count(cfg), n_pending = 0;
  int threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
  int writer = moat_dispatch_rank() == 0;
  moat_writer_desc_t d = {.n_scenarios = n_scen, .scenario = sweep_source,
                          .scenario_ctx = (void *)(uintptr_t)cfg, .command_line = cmdline,
                          .scenario_file = cfg->path, .scenario_text = cfg->text ? cfg->text : "",
                          .threads = threads, .keep_paths = cfg->base.output.keep_paths,
                          .identity = cfg->identity_text};
  for (int a = 0; cfg->sweep.method != MOAT_SWEEP_NONE && a < cfg->sweep.n_axes; a++)
    d.swept[d.n_swept++] = cfg->sweep.axes[a].param;
  d.sweep_method = moat_sweep_method_name(cfg->sweep.method);
  d.sweep_samples = cfg->sweep.samples;
  d.sweep_levels = cfg->sweep.method == MOAT_SWEEP_MORRIS ? moat_sweep_levels(&cfg->sweep) : 0;
  d.sweep_second_order = cfg->sweep.second_order;
  /* moatsim sensitivity skips its noise correction when the scenarios share their draws. */
  d.sweep_common_random_numbers = cfg->base.sweep.common_random_numbers;
  moat_progress_t pg;
  moat_progress_init(&pg, opt->quiet || !writer, heartbeat_s, n_scen, opt->shard_index, opt->shard_count);
  /* A block of 16 paths per thread: about 3 % of a block's time lost to threads waiting for the
   * last path, one commit per block. --checkpoint-paths sets it (the results do not depend on it). */
  run_ctx_t c = {.cfg = cfg, .opt = opt, .pg = &pg,
                 .block_paths = opt->checkpoint_paths > 0 ? (size_t)opt->checkpoint_paths : 16 * (size_t)threads};
  uint8_t *pending = NULL;
  int st = writer ? open_results(&c, file, &d, &pending, err, sizeof err) : MOAT_OK;
  c.write_s = moat_progress_now() - pg.start;
  for (size_t k = 0; pending && k < n_scen; k++) n_pending += pending[k];
  char partial[MOAT_PATH_MAX + 16];
  snprintf(partial, sizeof partial, "%s.partial.d", file);
  if (st == MOAT_OK) moat_progress_begin(&pg, partial, opt->resume, n_pending);
  if (writer && st != MOAT_OK) { /* nothing run: a resumed checkpoint is as it was, a new one goes */
    fprintf(stderr, "moatsim run: %s\n", err);
    moat_ckpt_close(c.cp, !opt->resume);
    moat_writer_free(c.w);
    free(pending);
    free(c.range);
    free(c.parts);
    return moat_dispatch_agree(exit_code(st));
  }
  moat_dispatch_agree(st);
  st = run_scenarios(&c, threads, n_scen, pending, (const size_t(*)[2])c.range, err, sizeof err);
  free(pending);
  int rc = writer ? close_results(&c, st, file, cmdline, threads, err, sizeof err) : 0;
  free(c.range);
  free(c.parts);
  return moat_dispatch_agree(rc);
}

/* moatsim run: the pipeline. */
static int cmd_run(int argc, char **argv) {
  char cmdline[8192]; /* recorded in the results file; taken before getopt permutes argv */
  join_command_line(argc, argv, cmdline, sizeof cmdline);
  moat_run_options_t opt;
  int rc = parse_options(argc, argv, MOAT_CLI_RUN, &opt, usage_run);
  if (rc >= 0) return rc;
  if (moat_dispatch_init() != MOAT_OK) {
    fprintf(stderr, "moatsim run: MPI could not be initialized\n");
    return EXIT_RUNTIME;
  }
  /* From here SIGINT / SIGTERM only set a flag: the run stops between paths, keeping its file. */
  if (moat_signals_install() != MOAT_OK) fprintf(stderr, "moatsim run: warning: cannot catch SIGINT / SIGTERM\n");

  /* 1. Load and validate the scenario (file, then --set overrides, then checks); every rank. */
  moat_config_t cfg;
  int st = load_scenario(&opt, &cfg);
  if (st != MOAT_OK) rc = exit_code(st);
  double heartbeat_s = MOAT_PROGRESS_INTERVAL_S; /* progress lines in batch logs (MOATSIM_PROGRESS_INTERVAL) */
  char err[MOAT_ERR_MAX];
  if (rc < 0 && moat_progress_interval_from_env(&heartbeat_s, err, sizeof err) != MOAT_OK) {
    if (moat_dispatch_rank() == 0) fprintf(stderr, "moatsim run: %s\n", err);
    rc = EXIT_USAGE;
  }

  /* 2. The results file (rank 0): refused before any work if it exists (without --force or
   * --resume) or its directory does not. */
  const char *file = opt.output ? opt.output : cfg.base.output.file;
  if (rc < 0 && moat_dispatch_rank() == 0) rc = check_output(file, opt.force || opt.resume);
  rc = moat_dispatch_agree(rc);
  /* 3. Expand the sweep, run the paths of each scenario in checkpointed blocks, summarize, write. */
  if (rc < 0) rc = run_and_write(&cfg, &opt, file, cmdline, heartbeat_s);
  if (st == MOAT_OK) moat_config_clear(&cfg);
  moat_dispatch_finalize();
  return rc;
}

static void print_labs(const moat_scenario_t *sc) {
  printf("labs (%d):\n", sc->n_labs);
  printf("  %-20s %-6s %-6s %9s %12s\n", "name", "kind", "origin", "quality", "cost $/Mtok");
  for (int k = 0; k < sc->n_labs; k++) {
    const moat_lab_t *l = &sc->labs[k];
    printf("  %-20s %-6s %-6s %9.3g %12.4g\n", l->name, l->kind == MOAT_LAB_OPEN ? "open" : "closed",
           l->origin, l->quality, l->serve_cost_per_mtok);
  }
  printf("clouds (%d):\n", sc->n_clouds);
  printf("  %-20s %11s %6s\n", "name", "cost_factor", "speed");
  for (int k = 0; k < sc->n_clouds; k++) {
    const moat_cloud_t *c = &sc->clouds[k];
    printf("  %-20s %11.4g %6.4g\n", c->name, c->cost_factor, c->speed);
  }
}

static void print_size(const moat_config_t *cfg, int threads) {
  const moat_scenario_t *sc = &cfg->base;
  moat_estimate_t est;
  moat_scenario_estimate(sc, threads, &est);
  moat_run_estimate_t run;
  moat_sweep_estimate(cfg, threads, &run);
  size_t n_scen = run.n_scenarios;
  printf("offers:     %d\n", est.offers);
  printf("enterprises: %d\n", sc->enterprises.count);
  printf("sweep:      %zu scenario%s\n", n_scen, n_scen == 1 ? "" : "s");
  printf("paths:      %d per scenario\n", sc->paths);
  printf("steps:      %d (%g years x %d per year)\n", est.steps, sc->horizon_years,
         sc->steps_per_year);
  printf("work:       %.3g enterprise-offer evaluations per pricing iteration, per scenario "
         "(%.3g for the sweep)\n",
         est.work, est.work * (double)n_scen);
  printf("memory:     %.1f MiB (workspaces %.1f MiB for %d thread%s + one scenario's paths "
         "%.1f MiB)\n",
         est.total_bytes / 1048576.0, est.workspace_bytes / 1048576.0, threads,
         threads == 1 ? "" : "s", est.results_bytes / 1048576.0);
  if (cfg->sweep.method != MOAT_SWEEP_NONE)
    printf("run memory: %.1f MiB (the largest scenario of the sweep %.1f MiB + the parameters of "
           "%zu scenarios %.1f MiB)\n",
           run.memory_bytes / 1048576.0, run.largest.total_bytes / 1048576.0, n_scen,
           run.sweep_bytes / 1048576.0);
  printf("results:    about %.1f MiB uncompressed (%.3f MiB a scenario)\n",
         run.file_bytes / 1048576.0, run.largest.file_bytes / 1048576.0);
}

/* moatsim validate: print the resolved scenario and its size. */
static int cmd_validate(int argc, char **argv) {
  moat_run_options_t opt;
  int rc = parse_options(argc, argv, MOAT_CLI_VALIDATE, &opt, usage_validate);
  if (rc >= 0) return rc;
  moat_config_t cfg;
  int st = load_scenario(&opt, &cfg);
  if (st != MOAT_OK) return exit_code(st);
  printf("scenario:   %s (%s)\n", cfg.base.name, cfg.path);
  printf("seed:       %llu\n", (unsigned long long)cfg.base.seed);
  print_labs(&cfg.base);
  print_size(&cfg, opt.threads > 0 ? opt.threads : omp_get_max_threads());
  printf("ok\n");
  moat_config_clear(&cfg);
  return EXIT_OK;
}

/* moatsim params [--format text|markdown] */
static int cmd_params(int argc, char **argv) {
  const char *format = "text";
  for (int k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
      fputs(usage_params, stdout);
      return EXIT_OK;
    } else if (strcmp(argv[k], "--format") == 0 && k + 1 < argc) {
      format = argv[++k];
    } else if (strncmp(argv[k], "--format=", 9) == 0) {
      format = argv[k] + 9;
    } else {
      fprintf(stderr, "moatsim params: unexpected argument '%s'\n%s", argv[k], usage_params);
      return EXIT_USAGE;
    }
  }
  if (moat_params_print(stdout, format) != MOAT_OK) {
    fprintf(stderr, "moatsim params: unknown format '%s': use text or markdown\n", format);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* moatsim version */
static int cmd_version(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fputs("usage: moatsim version\n", argc > 1 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return strcmp(argv[1], "--help") == 0 ? EXIT_OK : EXIT_USAGE;
  }
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  printf("moatsim %s (git %s)\n", MOAT_VERSION, MOAT_GIT_REV);
  printf("compiler:  %s\n", MOAT_COMPILER);
  printf("flags:     %s\n", MOAT_CFLAGS);
  printf("gsl:       %s\n", gsl_version);
  printf("hdf5:      %u.%u.%u\n", maj, min, rel);
  printf("libconfig: %d.%d.%d\n", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
  printf("openmp:    %d\n", _OPENMP);
#if defined(MOAT_MPI) && MOAT_MPI
  printf("mpi:       %d.%d\n", MPI_VERSION, MPI_SUBVERSION);
#else
  printf("mpi:       not built with MPI\n");
#endif
  return EXIT_OK;
}

typedef struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
} command_t;

static const command_t commands[] = {
    {"run", cmd_run},
    {"validate", cmd_validate},
    {"params", cmd_params},
    {"info", moat_cmd_info},
    {"summary", moat_cmd_summary},
    {"merge", moat_cmd_merge},
    {"export", moat_cmd_export},
    {"report", moat_cmd_report},
    {"sensitivity", moat_cmd_sensitivity},
    {"discover", moat_cmd_discover},
    {"version", cmd_version},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* -V or --version anywhere among a command's arguments (no option takes either as its value). */
static int asks_version(int argc, char **argv) {
  for (int k = 1; k < argc; k++)
    if (strcmp(argv[k], "-V") == 0 || strcmp(argv[k], "--version") == 0) return 1;
  return 0;
}

static int unknown_command(const char *name) {
  const char *names[N_COMMANDS];
  for (size_t k = 0; k < N_COMMANDS; k++) names[k] = commands[k].name;
  const char *near = moat_nearest(name, names, N_COMMANDS);
  fprintf(stderr, "moatsim: unknown command '%s'", name);
  if (near) fprintf(stderr, " (did you mean `%s`?)", near);
  fprintf(stderr, "\n\n%s", usage_top);
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_top, stderr);
    return EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    fputs(usage_top, stdout);
    return EXIT_OK;
  }
  if (asks_version(argc, argv)) return cmd_version(1, argv + 1);
  for (size_t k = 0; k < N_COMMANDS; k++) {
    if (strcmp(name, commands[k].name) == 0) return commands[k].fn(argc - 1, argv + 1);
  }
  return unknown_command(name);
}
