/* cli_stubs.c — placeholders for commands whose modules are not in this build yet.
 * A module that provides one of these commands deletes its stub here (one line each). */
#include <stdio.h>

#include "moatsim/cli.h"

static int moat_cli_unavailable(const char *command) {
  fprintf(stderr, "moatsim %s: not available in this build\n", command);
  return 1;
}

int moat_cmd_merge(int argc, char **argv) { (void)argc; (void)argv; return moat_cli_unavailable("merge"); }
