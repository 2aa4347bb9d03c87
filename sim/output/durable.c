/* durable.c — write-to-temporary, fsync, rename, fsync-directory commits, and the test hooks
 * that stop a run at a chosen commit. */
#include "moatsim/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moatsim/scenario.h"
#include "moatsim/signals.h"

/* Commits made by this process: the test hooks count them. */
static unsigned long commits;

unsigned long moat_durable_commits(void) { return commits; }

/* A non-negative integer environment variable, or -1 when unset or not a number. */
static long env_long(const char *name, long *frac) {
  const char *v = getenv(name);
  if (!v || !*v) return -1;
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (frac) *frac = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
  return end == v ? -1 : n;
}

/* MOATSIM_TEST_KILL_AT=N.M: SIGKILL at step M of commit N. */
static void kill_point(int step, const char *tmp) {
  long m = 0, n = env_long("MOATSIM_TEST_KILL_AT", &m);
  if (n < 0 || (unsigned long)n != commits || m != step) return;
  if (step == 1) { /* what a kill in the middle of writing tmp leaves: its first half */
    struct stat st;
    if (stat(tmp, &st) == 0 && truncate(tmp, st.st_size / 2) != 0) perror(tmp);
  }
  raise(SIGKILL);
}

static void count_commit(void) {
  commits++;
  const char *f = getenv("MOATSIM_TEST_COMMITS");
  if (!f || !*f) return;
  FILE *fp = fopen(f, "w");
  if (fp) fprintf(fp, "%lu\n", commits), fclose(fp);
}

static int sync_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

int moat_durable_sync_dir(const char *path) {
  char dir[MOAT_PATH_MAX];
  struct stat st;
  snprintf(dir, sizeof dir, "%s", path);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else slash[slash == dir] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int moat_durable_commit(const char *tmp, const char *final, char *err, size_t errlen) {
  count_commit();
  kill_point(1, tmp);
  const char *what = "write";
  int rc = 0;
  if (env_long("MOATSIM_TEST_ENOSPC_AT", NULL) == (long)commits) errno = ENOSPC, rc = -1;
  if (rc == 0) rc = sync_file(tmp);
  kill_point(2, tmp);
  if (rc == 0) what = "rename", rc = rename(tmp, final);
  if (rc != 0) {
    snprintf(err, errlen, "cannot %s '%s': %s", what, rc == 0 ? final : tmp, strerror(errno));
    remove(tmp);
    return MOAT_EIO;
  }
  kill_point(3, tmp);
  if (moat_durable_sync_dir(final) != 0) {
    snprintf(err, errlen, "cannot sync the directory of '%s': %s", final, strerror(errno));
    return MOAT_EIO;
  }
  return MOAT_OK;
}

void moat_durable_block_stored(void) {
  static long stored;
  long n = env_long("MOATSIM_TEST_PAUSE_AFTER_BLOCK", NULL);
  if (n < 0 || ++stored != n) return;
  /* Block SIGINT / SIGTERM before the marker appears, then wait with them unblocked: a signal
   * sent once the marker exists cannot be missed. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old);
  const char *marker = getenv("MOATSIM_TEST_PAUSE_MARKER");
  FILE *fp = fopen(marker && *marker ? marker : "moatsim.paused", "w");
  if (fp) fprintf(fp, "%ld\n", (long)getpid()), fclose(fp);
  sigset_t wait = old;
  sigdelset(&wait, SIGINT);
  sigdelset(&wait, SIGTERM);
  while (!moat_signals_pending()) sigsuspend(&wait); /* other handled signals (MPI's) go on waiting */
  sigprocmask(SIG_SETMASK, &old, NULL);
}
