/* cli.h — command-line options shared by the moatsim commands, and the commands other modules provide. */
#ifndef MOATSIM_CLI_H
#define MOATSIM_CLI_H

#include <stddef.h>
#include <stdint.h>

#define MOAT_CLI_MAX_SETS 256 /* --set options on one command line */
#define MOAT_CLI_HELP 1       /* returned by the parsers when --help was given */

/* Options of `moatsim run` (and the subset `moatsim validate` takes). Strings point into argv
 * or into the struct itself; the struct is plain data owned by the caller. */
typedef struct moat_run_options {
  const char *scenario; /* scenario file (the one positional argument) */
  const char *output;   /* -o FILE; NULL means the scenario's output.file */
  int paths;            /* --paths N (>= 1); 0 when not given. Also added to sets as paths=N */
  int threads;          /* --threads N (>= 1); 0 when not given (OpenMP default) */
  uint64_t seed;        /* --seed S; meaningful when has_seed. Also added to sets as seed=S */
  int has_seed;
  int keep_paths;       /* --keep-paths: also added to sets as output.keep_paths=true */
  int force;            /* --force: overwrite an existing output file */
  int quiet;            /* --quiet: no progress on stderr */
  int resume;           /* --resume: continue from the checkpoint OUT.partial.d */
  int checkpoint_paths; /* --checkpoint-paths N: paths per checkpoint block; 0: 16 x threads */
  uint64_t max_memory;  /* --max-memory BYTES|8G (binary suffixes K M G T); default 8 GiB */
  int shard_index;      /* --shard I/N: this process runs shard I (0 <= I < N) of N */
  int shard_count;      /* 1 when --shard is not given */
  const char *sets[MOAT_CLI_MAX_SETS]; /* --set key=value, in order, then the derived ones */
  size_t n_sets;
  char derived[3][64]; /* storage of the sets derived from --paths, --seed, --keep-paths */
} moat_run_options_t;

/* Which options a command accepts. */
enum moat_cli_command { MOAT_CLI_RUN = 0, MOAT_CLI_VALIDATE = 1 };

/*
 * Parse the options of `moatsim run` (command = MOAT_CLI_RUN) or `moatsim validate`
 * (MOAT_CLI_VALIDATE: scenario, --set, --paths, --seed, --threads, --max-memory only) with
 * getopt_long. argv[0] is the command name. Returns 0, MOAT_CLI_HELP when --help was given,
 * or MOAT_EINVAL with a message (no printing).
 */
int moat_cli_parse_run(int argc, char **argv, int command, moat_run_options_t *opt, char *err,
                       size_t errlen);

/* Parse a byte count: digits with an optional binary suffix K, M, G, T (optionally followed by
 * "iB" or "B"), e.g. "8G" = 8 * 2^30. 0 or MOAT_EINVAL. */
int moat_cli_parse_bytes(const char *text, uint64_t *bytes);

/* Commands implemented in their own modules: info and summary in sim/cli/inspect.c, report in
 * sim/cli/report.c (merge in merge.h, export in export.h). argv[0] is the command name; they return the exit code. */
int moat_cmd_info(int argc, char **argv);
int moat_cmd_summary(int argc, char **argv);
int moat_cmd_report(int argc, char **argv);
/* sensitivity and discover in sim/cli/analysis_cmd.c. */
int moat_cmd_sensitivity(int argc, char **argv);
int moat_cmd_discover(int argc, char **argv);

/* Open a results file read-only for command `cmd` (sim/cli/inspect.c): the HDF5 file id, or a
 * negative value after printing why (missing, not HDF5, not a moatsim file) with *rc the exit
 * code. The caller includes <hdf5.h> for hid_t. */
#ifdef H5_VERS_MAJOR
hid_t moat_cli_open_results(const char *cmd, const char *file, int *rc);
#endif

#endif
