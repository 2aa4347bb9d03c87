/* main.c — the moatsim command line. `run` reads as the pipeline: parse arguments → load and
 * validate the scenario → expand the sweep → run the paths → summarize → write. */
#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <libconfig.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "moatsim/cli.h"
#include "moatsim/config.h"
#include "moatsim/scenario.h"
#include "moatsim/sweep.h"

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
    "  merge OUT.h5 IN.h5... merge shard files of one sweep\n"
    "  report FILE.h5        write a report of a results file\n"
    "  version               print version, git revision, compiler and libraries\n"
    "\n"
    "'moatsim COMMAND --help' describes a command's options.\n"
    "exit codes: 0 success, 1 runtime failure, 2 usage or scenario error\n";

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
    "  --shard I/N         run shard I (0 <= I < N) of the sweep's scenarios\n"
    "  --resume            continue an interrupted run from its .partial file\n"
    "  --help              this text\n";

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
  return -1;
}

/* Load and validate the scenario the options name, against the machine's limits. */
static int load_scenario(const moat_run_options_t *opt, moat_config_t *cfg) {
  char err[MOAT_ERR_MAX];
  moat_limits_t lim = {opt->max_memory, opt->threads > 0 ? opt->threads : omp_get_max_threads()};
  int st = moat_config_load_ex(cfg, opt->scenario, opt->sets, opt->n_sets, &lim, err, sizeof err);
  print_warnings(&cfg->warnings);
  if (st != MOAT_OK) fprintf(stderr, "moatsim: %s\n", err);
  return st;
}

/* moatsim run: the pipeline. */
static int cmd_run(int argc, char **argv) {
  moat_run_options_t opt;
  int rc = parse_options(argc, argv, MOAT_CLI_RUN, &opt, usage_run);
  if (rc >= 0) return rc;

  /* 1. Load and validate the scenario (file, then --set overrides, then checks). */
  moat_config_t cfg;
  int st = load_scenario(&opt, &cfg);
  if (st != MOAT_OK) return exit_code(st);

  /* ---- NOT BUILT YET: the rest of the pipeline goes here. ----
   * 2. expand the sweep (moat_sweep_count / moat_sweep_scenario),
   * 3. run the paths of each scenario, 4. summarize across paths, 5. write the HDF5 file.
   * Until then `run` loads and validates only and fails. */
  fprintf(stderr, "run: not built yet\n");
  moat_config_clear(&cfg);
  return EXIT_RUNTIME;
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
  size_t n_scen = moat_sweep_count(cfg);
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
    {"report", moat_cmd_report},
    {"version", cmd_version},
};

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
  if (strcmp(name, "--version") == 0) return cmd_version(1, argv + 1);
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
    if (strcmp(name, commands[k].name) == 0) return commands[k].fn(argc - 1, argv + 1);
  }
  fprintf(stderr, "moatsim: unknown command '%s'\n\n%s", name, usage_top);
  return EXIT_USAGE;
}
