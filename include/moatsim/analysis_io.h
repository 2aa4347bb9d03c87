/* analysis_io.h — what `moatsim sensitivity` and `moatsim discover` read from a results file (the
 * design and the swept parameters) and the sidecar file they write (`/analysis`, docs/analysis.md). */
#ifndef MOATSIM_ANALYSIS_IO_H
#define MOATSIM_ANALYSIS_IO_H

#include <stddef.h>

#include <hdf5.h>

/* The sweep design of a results file, from /params. Owns params and x. */
typedef struct moat_design {
  char method[16];    /* sweep_method attribute ("none" for files written without it) */
  int samples, levels, second_order;
  size_t n_scenarios;
  int k;              /* swept parameters */
  char **params;      /* their keys, in axis order */
  double *x;          /* n_scenarios x k values, row-major */
} moat_design_t;

/* Read the design of the open results file f. MOAT_EINVAL (no swept parameters) with a message. */
int moat_design_read(hid_t f, const char *file, moat_design_t *d, char *err, size_t errlen);
void moat_design_clear(moat_design_t *d);

/* A sidecar file being written: PATH.partial until moat_sidecar_finish renames it. */
typedef struct moat_sidecar {
  hid_t file, group;
  char path[1024];
} moat_sidecar_t;

/* Create PATH.partial with group /analysis and the provenance of the source results file
 * (source_file, its git_revision, seed and scenario count, the command line). MOAT_EINVAL when
 * PATH exists and force is 0, or PATH is the source; MOAT_EIO when it cannot be created. */
int moat_sidecar_create(moat_sidecar_t *sc, const char *path, int force, const char *source, hid_t src,
                        const char *command_line, char *err, size_t errlen);

/* A coordinate variable (dimension) of n strings, or of n int32 values when strings is NULL. */
hid_t moat_sidecar_dim(moat_sidecar_t *sc, const char *name, size_t n, const char *const *strings,
                       const int *values, const char *long_name);

/* A double (or int32 with is_int) variable over the given dimensions, written from data. */
int moat_sidecar_var(moat_sidecar_t *sc, const char *name, int rank, const hid_t *dims, const void *data,
                     int is_int, const char *units, const char *long_name);

/* Close and rename PATH.partial to PATH. 0 or MOAT_EIO (then nothing is left). */
int moat_sidecar_finish(moat_sidecar_t *sc, char *err, size_t errlen);

/* Close and remove PATH.partial. */
void moat_sidecar_abort(moat_sidecar_t *sc);

/* The default sidecar name: FILE without ".h5", then suffix (".sensitivity.h5"), into buf. */
void moat_sidecar_default_name(char *buf, size_t len, const char *file, const char *suffix);

#endif
