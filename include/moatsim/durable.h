/* durable.h — files that are either absent or complete: written to a temporary, fsynced, renamed
 * into place, the directory fsynced; and the test hooks that kill, fail or pause a run at a given
 * commit (tests/integration/kill.sh, mpi.sh, resume.sh). */
#ifndef MOATSIM_DURABLE_H
#define MOATSIM_DURABLE_H

#include <stddef.h>

/*
 * Make `tmp` (a complete file, closed) durable under the name `final`: fsync tmp, rename it to
 * final (replacing a file of that name), fsync the directory. After a crash at any instant
 * `final` is absent, its previous version, or tmp's whole content. 0 or MOAT_EIO with a message
 * (tmp is then removed; final is untouched).
 * Test hooks (environment, read once): MOATSIM_TEST_KILL_AT=N.M raises SIGKILL at step M of the
 * N-th commit of the process (M = 1: tmp truncated to half its length, the state a kill while
 * writing it leaves; 2: tmp complete, not renamed; 3: renamed, directory not yet fsynced);
 * MOATSIM_TEST_ENOSPC_AT=N makes the N-th commit fail as a full file system would.
 * MOATSIM_TEST_COMMITS=FILE writes the number of commits made to FILE at each commit.
 */
int moat_durable_commit(const char *tmp, const char *final, char *err, size_t errlen);

/* Commits made by this process so far (what the test hooks count). */
unsigned long moat_durable_commits(void);

/* fsync the directory holding `path` (or `path` itself when it is a directory). 0 or -1. */
int moat_durable_sync_dir(const char *path);

/*
 * MOATSIM_TEST_PAUSE_AFTER_BLOCK=n: call after each finished block of paths is stored; after the
 * n-th, write the marker file MOATSIM_TEST_PAUSE_MARKER (default "moatsim.paused") and wait in
 * sigsuspend until a signal arrives (SIGINT / SIGTERM, whose handler records it). A no-op
 * otherwise. Lets tests signal a run at a known point instead of racing it with sleeps.
 */
void moat_durable_block_stored(void);

#endif
