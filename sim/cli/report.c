/* report.c — `moatsim report FILE -o DIR`: runs the Python report (analysis.report) on a result file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moatsim/cli.h"
#include "moatsim/scenario.h"

#define MOAT_REPORT_PYTHON "/usr/bin/python3"
#define MOAT_REPORT_MAX_ARGS 64

/* Where the analysis package may live, relative to the directory of the binary: the source
 * tree (bin/moatsim -> ../analysis; build/<variant>/moatsim -> ../../analysis) and an install
 * ($(PREFIX)/bin/moatsim -> $(PREFIX)/share/moatsim/python/analysis). */
static const char *const moat_report_roots[] = {"..", "../..", "../share/moatsim/python"};

/* Directory of the running binary into dir (no trailing slash); 0 or MOAT_EIO. */
static int moat_report_exe_dir(char *dir, size_t len) {
  ssize_t n = readlink("/proc/self/exe", dir, len - 1);
  if (n <= 0) return MOAT_EIO;
  dir[n] = '\0';
  char *slash = strrchr(dir, '/');
  if (!slash) return MOAT_EIO;
  *slash = '\0';
  return MOAT_OK;
}

/* The directory to put on PYTHONPATH: one holding analysis/report.py. 0 or MOAT_EIO. */
static int moat_report_find_package(char *root, size_t len, char *tried, size_t tried_len) {
  char exe_dir[MOAT_PATH_MAX];
  if (moat_report_exe_dir(exe_dir, sizeof exe_dir) != MOAT_OK) {
    snprintf(tried, tried_len, "(cannot read /proc/self/exe)");
    return MOAT_EIO;
  }
  tried[0] = '\0';
  for (size_t i = 0; i < sizeof moat_report_roots / sizeof moat_report_roots[0]; i++) {
    char probe[MOAT_PATH_MAX + 64];
    snprintf(root, len, "%s/%s", exe_dir, moat_report_roots[i]);
    snprintf(probe, sizeof probe, "%s/analysis/report.py", root);
    if (access(probe, R_OK) == 0) return MOAT_OK;
    size_t used = strlen(tried);
    snprintf(tried + used, tried_len - used, "  %s\n", probe);
  }
  return MOAT_EIO;
}

/* PYTHONPATH = root, followed by the caller's PYTHONPATH if any. 0 or MOAT_ENOMEM. */
static int moat_report_set_pythonpath(const char *root) {
  const char *old = getenv("PYTHONPATH");
  size_t len = strlen(root) + (old ? strlen(old) + 1 : 0) + 1;
  char *value = malloc(len);
  if (!value) return MOAT_ENOMEM;
  snprintf(value, len, "%s%s%s", root, old && *old ? ":" : "", old && *old ? old : "");
  int rc = setenv("PYTHONPATH", value, 1);
  free(value);
  return rc == 0 ? MOAT_OK : MOAT_ENOMEM;
}

/* Run python -m analysis.report with the command's arguments; the child's exit code. */
static int moat_report_spawn(const char *python, int argc, char **argv) {
  char *args[MOAT_REPORT_MAX_ARGS + 4];
  int n = 0;
  args[n++] = (char *)python;
  args[n++] = (char *)"-m";
  args[n++] = (char *)"analysis.report";
  for (int i = 1; i < argc; i++) args[n++] = argv[i];
  args[n] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "moatsim report: cannot start %s: %s\n", python, strerror(errno));
    return 1;
  }
  if (pid == 0) {
    execv(python, args);
    fprintf(stderr, "moatsim report: cannot run %s: %s\n", python, strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "moatsim report: waiting for %s: %s\n", python, strerror(errno));
      return 1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  fprintf(stderr, "moatsim report: %s was killed by signal %d\n", python,
          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 1;
}

int moat_cmd_report(int argc, char **argv) {
  if (argc - 1 > MOAT_REPORT_MAX_ARGS) {
    fprintf(stderr, "moatsim report: %d arguments given, at most %d are accepted\n", argc - 1,
            MOAT_REPORT_MAX_ARGS);
    return 2;
  }
  const char *python = getenv("MOATSIM_PYTHON");
  if (!python || !*python) python = MOAT_REPORT_PYTHON;
  if (access(python, X_OK) != 0) {
    fprintf(stderr,
            "moatsim report: Python interpreter %s is not executable (%s): install python3 with "
            "numpy, xarray, h5netcdf, pandas, matplotlib, scipy and plotly (`make deps`), or point "
            "MOATSIM_PYTHON at one that has them\n",
            python, strerror(errno));
    return 1;
  }
  char root[MOAT_PATH_MAX + 32], tried[4 * MOAT_PATH_MAX + 256];
  if (moat_report_find_package(root, sizeof root, tried, sizeof tried) != MOAT_OK) {
    fprintf(stderr,
            "moatsim report: the Python package `analysis` was not found; looked for\n%s"
            "Run moatsim from its source tree (bin/moatsim) or install it with `make install`.\n",
            tried);
    return 1;
  }
  if (moat_report_set_pythonpath(root) != MOAT_OK || setenv("MPLBACKEND", "Agg", 0) != 0) {
    fprintf(stderr, "moatsim report: cannot set the environment of %s: out of memory\n", python);
    return 1;
  }
  return moat_report_spawn(python, argc, argv);
}
