/* scenario_file.h — test helper: write a scenario text to one temporary file per test binary. */
#ifndef MOATSIM_TESTS_SCENARIO_FILE_H
#define MOATSIM_TESTS_SCENARIO_FILE_H

#include <stdio.h>
#include <unistd.h>

/* Write text to the file named in path (size n), creating it from `pattern` (a mkstemp
 * template) on first use; the same name is rewritten for each case, so that expected messages
 * can name it before the load. Returns path. */
static inline const char *write_scenario_file(char *path, size_t n, const char *pattern,
                                              const char *text) {
  if (!path[0]) {
    snprintf(path, n, "%s", pattern);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
  }
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  fclose(f);
  return path;
}

#endif
