/* output_spec.h — naming one scalar output of every scenario of a results file
 * (`premium_flagship@10y`, `labs/valuation[closed-a]@5y:p95`; docs/analysis.md) and reading it. */
#ifndef MOATSIM_OUTPUT_SPEC_H
#define MOATSIM_OUTPUT_SPEC_H

#include <stddef.h>

#include <hdf5.h>

/* A parsed output name: [group/]metric[[member]][@T[y]][:stat]. */
typedef struct moat_output_spec {
  char text[256];  /* as given */
  char group[16];  /* "market" (default), "labs" or "clouds" */
  char metric[64]; /* the variable's prefix: X in X_mean, X_quantile */
  char member[64]; /* lab or cloud name; "" in /market */
  int has_time;    /* @T given */
  double time;     /* years: the last step at or before T is read */
  char stat[16];   /* "mean" (default), "std", "median" or "pNN" */
  double level;    /* quantile level of median / pNN (0.5, NN/100); -1 for mean and std */
} moat_output_spec_t;

/* Parse text into *out. MOAT_EINVAL with a message saying which part is wrong and the form. */
int moat_output_spec_parse(const char *text, moat_output_spec_t *out, char *err, size_t errlen);

/* Comparison operators of a condition. */
enum moat_condition_op { MOAT_OP_LT = 0, MOAT_OP_LE, MOAT_OP_GT, MOAT_OP_GE };

/* Parse "SPEC < 5" (operators <, <=, >, >=) into the spec, the operator and the threshold. */
int moat_condition_parse(const char *text, moat_output_spec_t *spec, int *op, double *threshold, char *err,
                         size_t errlen);

/* Whether value op threshold holds. */
int moat_condition_holds(int op, double value, double threshold);

/*
 * Read the output of every scenario of the open results file f into y (n_scenarios values).
 * noise (may be NULL) receives, for a mean, the squared standard error over the paths
 * (std^2 / count), and 0 for other statistics. MOAT_EINVAL with a message naming what exists
 * when the metric, member, time or quantile is not in the file, or when a scenario of the file
 * is not written (a shard: merge first).
 */
int moat_output_read(hid_t f, const moat_output_spec_t *spec, double *y, double *noise, size_t n_scenarios,
                     char *err, size_t errlen);

#endif
