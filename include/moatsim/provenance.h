/* provenance.h — what built and ran moatsim: versions, revision, compiler, flags, libraries. */
#ifndef MOATSIM_PROVENANCE_H
#define MOATSIM_PROVENANCE_H

#include <stddef.h>
#include <time.h>

typedef struct moat_provenance {
  const char *moatsim_version; /* static strings from the build */
  const char *git_revision;
  const char *compiler;
  const char *cflags;
  char gsl_version[32];       /* of the library linked at run time */
  char hdf5_version[32];      /* of the library linked at run time */
  char libconfig_version[32]; /* of the headers compiled against */
} moat_provenance_t;

void moat_provenance_get(moat_provenance_t *p);

/* ISO 8601 UTC, e.g. "2026-11-22T01:16:21Z", into buf (at least 21 bytes). */
void moat_provenance_iso_time(time_t t, char *buf, size_t len);

#endif
