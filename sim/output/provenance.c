/* provenance.c — build and library identification recorded in every results file. */
#include "moatsim/provenance.h"

#include <stdio.h>

#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <libconfig.h>

#ifndef MOAT_VERSION
#define MOAT_VERSION "unknown"
#endif
#ifndef MOAT_GIT_REV
#define MOAT_GIT_REV "unknown"
#endif
#ifndef MOAT_COMPILER
#define MOAT_COMPILER "unknown"
#endif
#ifndef MOAT_CFLAGS
#define MOAT_CFLAGS "unknown"
#endif

void moat_provenance_get(moat_provenance_t *p) {
  p->moatsim_version = MOAT_VERSION;
  p->git_revision = MOAT_GIT_REV;
  p->compiler = MOAT_COMPILER;
  p->cflags = MOAT_CFLAGS;
  snprintf(p->gsl_version, sizeof p->gsl_version, "%s", gsl_version);
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  snprintf(p->hdf5_version, sizeof p->hdf5_version, "%u.%u.%u", maj, min, rel);
  snprintf(p->libconfig_version, sizeof p->libconfig_version, "%d.%d.%d", LIBCONFIG_VER_MAJOR,
           LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
}

void moat_provenance_iso_time(time_t t, char *buf, size_t len) {
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, len, "unknown");
}
