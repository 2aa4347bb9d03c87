/* checkpoint.h — a run's checkpoint OUT.partial.d: finished work kept in files that are each
 * complete or absent (moat_durable_commit) and never modified in place, under an exclusive lock
 * held for the life of the run. Layout (docs/cluster.md):
 *   lock                 fcntl write lock of the running process (its pid inside)
 *   run.h5               skeleton: layout, provenance, identity, /params (moat_writer_write_skeleton)
 *   s<k>.p<a>-<b>.h5     paths a .. b-1 of scenario k: dataset paths(path, element), Fletcher-32
 *   s<k>.h5              scenario k finished: its summaries (moat_writer_write_scenario)
 *   *.tmp                a file being written (removed on resume: never read)
 *   *.damaged            a file that failed verification, set aside and recomputed
 * The results file OUT is assembled from run.h5 and the s<k>.h5 (moat_merge_assemble), committed,
 * and only then is OUT.partial.d removed. */
#ifndef MOATSIM_CHECKPOINT_H
#define MOATSIM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "moatsim/dispatch.h"
#include "moatsim/writer.h"

typedef struct moat_ckpt moat_ckpt_t;

enum moat_ckpt_mode {
  MOAT_CKPT_NEW,    /* a fresh run: refuse a checkpoint left by an interrupted run */
  MOAT_CKPT_FORCE,  /* a fresh run: remove the checkpoint files of an interrupted run */
  MOAT_CKPT_RESUME  /* continue: the directory must exist */
};

/*
 * Open (create) OUT.partial.d for the run writing `out` and take its lock. MOAT_EINVAL with a
 * message when another process holds the lock ("another moatsim run (pid N) is writing OUT"),
 * when mode is NEW and the directory holds an interrupted run's files, or when mode is RESUME
 * and it does not exist ("nothing to resume"); MOAT_EIO when it cannot be created. Nothing is
 * removed on failure.
 */
int moat_ckpt_open(moat_ckpt_t **cp, const char *out, int mode, char *err, size_t errlen);

/* Release the lock and free cp; with remove_all, first delete the checkpoint's files and the
 * directory (after the results file is committed, or a failed fresh run). NULL is fine. */
void moat_ckpt_close(moat_ckpt_t *cp, int remove_all);

/* The directory, and the path of the skeleton in it. */
const char *moat_ckpt_dir(const moat_ckpt_t *cp);
const char *moat_ckpt_skeleton(const moat_ckpt_t *cp);
/* Whether the skeleton exists (a run killed before committing it left none). */
int moat_ckpt_has_skeleton(const moat_ckpt_t *cp);
/* Path of scenario k's file s<k>.h5. */
void moat_ckpt_scenario_path(const moat_ckpt_t *cp, size_t k, char *buf, size_t len);

/*
 * Resume: done[k] = 1 for each scenario k < n with want[k] whose s<k>.h5 verifies (readable,
 * every checksum right, scenario attribute k). A damaged one is reported on `warn`, renamed
 * NAME.damaged and its scenario is run again. Temporaries are removed, and the block files of
 * finished scenarios. 0 or MOAT_EIO / MOAT_ENOMEM.
 */
int moat_ckpt_scan(moat_ckpt_t *cp, size_t n, const uint8_t *want, uint8_t *done, FILE *warn,
                   char *err, size_t errlen);

/* Commit block b as s<k>.p<first>-<first+n>.h5. 0 or MOAT_EIO. */
int moat_ckpt_write_block(moat_ckpt_t *cp, const moat_block_t *b, char *err, size_t errlen);

/*
 * Read the block files of scenario ps->... k into ps (reserved for the scenario: n_paths,
 * per_path): ps->have[p] = 1 and the values for every path a verified block holds. Damaged or
 * mismatched blocks are reported on `warn` and set aside (NAME.damaged): their paths are run
 * again. 0 or MOAT_ENOMEM / MOAT_EIO.
 */
int moat_ckpt_load_blocks(moat_ckpt_t *cp, size_t k, moat_path_set_t *ps, FILE *warn, char *err,
                          size_t errlen);

/* Remove scenario k's block files (once s<k>.h5 is committed). */
void moat_ckpt_drop_blocks(moat_ckpt_t *cp, size_t k);

/*
 * Assemble the results file from the skeleton and the scenario files of scenarios ks[0..n-1]
 * into OUT.partial.d/out.h5.tmp and commit it as `out` (wall_time_s recorded). 0 or MOAT_EIO /
 * MOAT_ENOMEM; the checkpoint is untouched either way.
 */
int moat_ckpt_finish(moat_ckpt_t *cp, const char *out, size_t n, const size_t *ks, double wall_time_s,
                     char *err, size_t errlen);

/* Scenario k's part in a shard split by paths: paths [lo, hi) of its n_paths, n_steps steps. */
typedef struct moat_ckpt_part {
  size_t k, lo, hi, n_paths, n_steps;
} moat_ckpt_part_t;

/*
 * The results file of a shard split by paths: the skeleton (no summaries: no scenario is whole
 * in it) and a group /shard_paths holding, for each part with paths, dataset s<k> (paths lo ..
 * hi - 1 of scenario k read from the checkpoint's blocks; attributes scenario, first_path,
 * scenario_paths, n_steps), dataset quantile_levels (q, d->n_quantiles of them) and attributes
 * n_labs, n_clouds, max_steps, max_paths (d): what `moatsim merge` needs to compute the
 * summaries. Committed as `out`. 0 or MOAT_EIO (a path missing from the checkpoint, a write).
 */
int moat_ckpt_finish_paths(moat_ckpt_t *cp, const char *out, size_t n, const moat_ckpt_part_t *parts,
                           const moat_writer_dims_t *d, const double *q, double wall_time_s, char *err,
                           size_t errlen);

#endif
