/* cli.c — parsing the options of `moatsim run` and `moatsim validate` (no printing here). */
#include "moatsim/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moatsim/config.h"
#include "moatsim/scenario.h"

int moat_cli_parse_bytes(const char *text, uint64_t *bytes) {
  if (!text || *text < '0' || *text > '9') return MOAT_EINVAL;
  errno = 0;
  char *end = NULL;
  unsigned long long n = strtoull(text, &end, 10);
  if (errno == ERANGE) return MOAT_EINVAL;
  unsigned shift = 0;
  switch (*end) {
  case 'K': case 'k': shift = 10; end++; break;
  case 'M': case 'm': shift = 20; end++; break;
  case 'G': case 'g': shift = 30; end++; break;
  case 'T': case 't': shift = 40; end++; break;
  default: break;
  }
  if (shift && strcmp(end, "iB") == 0) end += 2;
  else if (strcmp(end, "B") == 0) end += 1;
  if (*end != '\0' || n == 0) return MOAT_EINVAL;
  if (shift && n > (UINT64_MAX >> shift)) return MOAT_EINVAL;
  *bytes = (uint64_t)n << shift;
  return MOAT_OK;
}

/* The value of option `name`, a whole decimal number in [lo, hi]; 0, or MOAT_EINVAL with
 * "NAME TEXT: expected a whole number in [lo, hi]". */
static int parse_count(const char *name, const char *text, long long lo, long long hi, long long *out,
                       char *err, size_t errlen) {
  errno = 0;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < lo || v > hi) {
    snprintf(err, errlen, "%s %s: expected a whole number in [%lld, %lld]", name, text, lo, hi);
    return MOAT_EINVAL;
  }
  *out = v;
  return MOAT_OK;
}

static int add_set(moat_run_options_t *opt, const char *set, char *err, size_t errlen) {
  if (opt->n_sets >= MOAT_CLI_MAX_SETS) {
    snprintf(err, errlen, "too many --set options (at most %d): put the values in the scenario file",
             MOAT_CLI_MAX_SETS);
    return MOAT_EINVAL;
  }
  opt->sets[opt->n_sets++] = set;
  return MOAT_OK;
}

static int parse_shard(const char *text, moat_run_options_t *opt) {
  int i = 0, n = 0, used = 0;
  if (sscanf(text, "%d/%d%n", &i, &n, &used) != 2 || text[used] != '\0') return MOAT_EINVAL;
  if (n < 1 || i < 0 || i >= n) return MOAT_EINVAL;
  opt->shard_index = i;
  opt->shard_count = n;
  return MOAT_OK;
}

enum { OPT_PATHS = 256, OPT_THREADS, OPT_SEED, OPT_SET, OPT_KEEP_PATHS, OPT_FORCE, OPT_QUIET,
       OPT_MAX_MEMORY, OPT_SHARD, OPT_RESUME, OPT_CHECKPOINT_PATHS, OPT_HELP };

static const struct option run_long_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"paths", required_argument, NULL, OPT_PATHS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"set", required_argument, NULL, OPT_SET},
    {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
    {"help", no_argument, NULL, OPT_HELP},
    /* run only, from here on */
    {"keep-paths", no_argument, NULL, OPT_KEEP_PATHS},
    {"force", no_argument, NULL, OPT_FORCE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"checkpoint-paths", required_argument, NULL, OPT_CHECKPOINT_PATHS},
    {NULL, 0, NULL, 0}};

/* Options `validate` rejects. */
static int run_only(int c) {
  return c == 'o' || c == OPT_KEEP_PATHS || c == OPT_FORCE || c == OPT_QUIET || c == OPT_SHARD ||
         c == OPT_RESUME || c == OPT_CHECKPOINT_PATHS;
}

/* Apply one parsed option; MOAT_CLI_HELP, 0 or MOAT_EINVAL. */
static int apply_option(int c, const char *arg, moat_run_options_t *opt, char *err,
                        size_t errlen) {
  long long v = 0;
  switch (c) {
  case 'o': opt->output = arg; return MOAT_OK;
  case OPT_PATHS: {
    double lo = 1, hi = 1; /* the table's range of `paths`, so that the message states it */
    moat_param_range("paths", &lo, &hi);
    if (parse_count("--paths", arg, (long long)lo, (long long)hi, &v, err, errlen)) return MOAT_EINVAL;
    opt->paths = (int)v;
    snprintf(opt->derived[0], sizeof opt->derived[0], "paths=%lld", v);
    return MOAT_OK;
  }
  case OPT_THREADS:
    if (parse_count("--threads", arg, 1, 4096, &v, err, errlen)) return MOAT_EINVAL;
    opt->threads = (int)v;
    return MOAT_OK;
  case OPT_SEED: {
    double lo = 0, hi = 0;
    moat_param_range("seed", &lo, &hi);
    errno = 0;
    char *end = NULL;
    unsigned long long s = strtoull(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || arg[0] == '-' || s > (unsigned long long)hi) {
      snprintf(err, errlen, "--seed %s: expected a whole number in [%.0f, %.0f] (2^53)", arg, lo, hi);
      return MOAT_EINVAL;
    }
    opt->seed = (uint64_t)s;
    opt->has_seed = 1;
    snprintf(opt->derived[1], sizeof opt->derived[1], "seed=%" PRIu64, opt->seed);
    return MOAT_OK;
  }
  case OPT_SET:
    if (!strchr(arg, '=')) {
      snprintf(err, errlen, "--set %s: expected key=value, e.g. --set quality_gap.long_run=0.02",
               arg);
      return MOAT_EINVAL;
    }
    return add_set(opt, arg, err, errlen);
  case OPT_MAX_MEMORY:
    if (moat_cli_parse_bytes(arg, &opt->max_memory)) {
      snprintf(err, errlen, "--max-memory %s: expected a byte count such as 8G, 512M or 1073741824",
               arg);
      return MOAT_EINVAL;
    }
    return MOAT_OK;
  case OPT_KEEP_PATHS:
    opt->keep_paths = 1;
    snprintf(opt->derived[2], sizeof opt->derived[2], "output.keep_paths=true");
    return MOAT_OK;
  case OPT_FORCE: opt->force = 1; return MOAT_OK;
  case OPT_QUIET: opt->quiet = 1; return MOAT_OK;
  case OPT_RESUME: opt->resume = 1; return MOAT_OK;
  case OPT_CHECKPOINT_PATHS:
    if (parse_count("--checkpoint-paths", arg, 1, 100000000, &v, err, errlen)) return MOAT_EINVAL;
    opt->checkpoint_paths = (int)v;
    return MOAT_OK;
  case OPT_SHARD:
    if (parse_shard(arg, opt)) {
      snprintf(err, errlen, "--shard %s: expected I/N with 0 <= I < N, e.g. --shard 0/4", arg);
      return MOAT_EINVAL;
    }
    return MOAT_OK;
  case OPT_HELP: return MOAT_CLI_HELP;
  default: return MOAT_EINVAL;
  }
}

/* The scenario file: exactly one positional argument. */
static int take_positionals(int argc, char **argv, moat_run_options_t *opt, char *err,
                            size_t errlen) {
  if (optind >= argc) {
    snprintf(err, errlen, "missing the scenario file, e.g. %s scenarios/baseline.cfg", argv[0]);
    return MOAT_EINVAL;
  }
  if (optind + 1 < argc) {
    snprintf(err, errlen, "unexpected argument '%s': give one scenario file", argv[optind + 1]);
    return MOAT_EINVAL;
  }
  opt->scenario = argv[optind];
  return MOAT_OK;
}

int moat_cli_parse_run(int argc, char **argv, int command, moat_run_options_t *opt, char *err,
                       size_t errlen) {
  memset(opt, 0, sizeof *opt);
  opt->max_memory = MOAT_DEFAULT_MAX_MEMORY;
  opt->shard_count = 1;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:", run_long_options, NULL)) != -1) {
    if (c == '?' || (command == MOAT_CLI_VALIDATE && run_only(c))) {
      const char *bad = argv[optind - 1];
      snprintf(err, errlen, "unknown option '%s' (see %s --help)", bad, argv[0]);
      return MOAT_EINVAL;
    }
    if (c == ':') {
      snprintf(err, errlen, "option '%s' needs a value (see %s --help)", argv[optind - 1], argv[0]);
      return MOAT_EINVAL;
    }
    int st = apply_option(c, optarg, opt, err, errlen);
    if (st) return st;
  }
  for (size_t k = 0; k < 3; k++) {
    if (opt->derived[k][0] && add_set(opt, opt->derived[k], err, errlen)) return MOAT_EINVAL;
  }
  return take_positionals(argc, argv, opt, err, errlen);
}
