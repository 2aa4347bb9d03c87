/* config_table.h — the parameter table shared by the config module's files (not installed). */
#ifndef MOATSIM_CONFIG_TABLE_H
#define MOATSIM_CONFIG_TABLE_H

#include <stddef.h>

#include "moatsim/config.h"
#include "moatsim/scenario.h"

/* Where a parameter lives: the scenario itself, or one entry of labs / clouds. */
enum moat_param_scope { MOAT_PS_GLOBAL = 0, MOAT_PS_LAB, MOAT_PS_CLOUD };

enum moat_param_type {
  MOAT_PT_INT = 0, /* int */
  MOAT_PT_INT64,   /* uint64_t (the seed), 0 .. 2^53 so that it survives a double */
  MOAT_PT_DOUBLE,  /* double */
  MOAT_PT_BOOL,    /* int 0/1 */
  MOAT_PT_STRING,  /* char[size] */
  MOAT_PT_CHOICE,  /* one of the strings in `choices`, stored as its int index */
  MOAT_PT_DLIST,   /* double[size] with an int count at count_offset */
  MOAT_PT_SLIST    /* char[size][elem_size] with an int count at count_offset */
};

/* Which lab kinds a lab key applies to (bit mask of 1 << enum moat_lab_kind). */
enum { MOAT_KINDS_CLOSED = 1, MOAT_KINDS_OPEN = 2, MOAT_KINDS_BOTH = 3 };

/* One row of the table. min/max bound numbers, list entries, string lengths (max only) and
 * list lengths (count_max). */
typedef struct moat_param {
  const char *key;  /* dotted key; lab and cloud keys without the "labs.<name>." prefix */
  int scope;        /* enum moat_param_scope */
  int type;         /* enum moat_param_type */
  int kinds;        /* lab keys: MOAT_KINDS_*; others MOAT_KINDS_BOTH */
  int required;     /* lab and cloud entries must give it */
  int increasing;   /* double lists: non-empty, strictly increasing, strictly inside (min, max) */
  size_t offset;    /* into moat_scenario_t, moat_lab_t or moat_cloud_t */
  size_t size;      /* strings: buffer size with the NUL; lists: capacity */
  size_t elem_size; /* string lists: buffer size of one entry */
  size_t count_offset;        /* lists: offset of the int count */
  double def, min, max;       /* numbers and bools (def only) */
  const char *def_str;        /* strings and choices */
  const char *const *choices; /* choices: the allowed strings, NULL-terminated */
  const char *what;           /* choices: what a value names, for messages ("lab kind") */
  const double *def_dlist;    /* double lists */
  const char *const *def_slist; /* string lists */
  int def_n;                  /* entries of the default list */
  const char *unit;
  const char *doc;
} moat_param_t;

extern const moat_param_t moat_params[];
extern const size_t moat_n_params;

/* The keys of the sweep section: the parser matches them (by position: enum moat_sweep_section_key and
 * enum moat_axis_key), suggests the nearest for a typo, and docs/parameters.md lists them. */
typedef struct moat_sweep_key {
  const char *key;   /* "method", or an axis field such as "min" */
  const char *type;  /* as docs/parameters.md spells types */
  const char *range; /* allowed values */
  const char *doc;
} moat_sweep_key_t;

enum moat_sweep_section_key { MOAT_SK_METHOD = 0, MOAT_SK_SAMPLES, MOAT_SK_AXES, MOAT_SK_LEVELS,
                               MOAT_SK_SECOND_ORDER, MOAT_SK_CRN, MOAT_N_SWEEP_KEYS };
enum moat_axis_key { MOAT_AK_PARAM = 0, MOAT_AK_VALUES, MOAT_AK_MIN, MOAT_AK_MAX, MOAT_AK_LOG,
                     MOAT_AK_LOW, MOAT_AK_MID, MOAT_AK_HIGH, MOAT_N_AXIS_KEYS };
extern const moat_sweep_key_t moat_sweep_keys[MOAT_N_SWEEP_KEYS];
extern const moat_sweep_key_t moat_axis_keys[MOAT_N_AXIS_KEYS];

/* The row of a global key ("quality_gap.long_run") or of a lab / cloud field ("quality") in
 * `scope`; NULL if none. */
const moat_param_t *moat_param_find(int scope, const char *key);

/* Where a dotted key lives in a scenario: its row and the struct its offset applies to. */
typedef struct moat_param_ref {
  const moat_param_t *param;
  void *base;     /* the scenario, lab or cloud */
  int entry;      /* lab or cloud index, -1 for globals */
} moat_param_ref_t;

/* Resolve "key", "labs.<name>.<field>" or "clouds.<name>.<field>" in sc. MOAT_EINVAL with a
 * message (unknown key with the nearest known key suggested, unknown lab, field not used by
 * the lab's kind) otherwise. */
int moat_param_resolve(const moat_scenario_t *sc, const char *key, moat_param_ref_t *ref,
                       char *err, size_t errlen);

/* Suggestion for an unknown key: " (did you mean `x`?)" or "" when nothing is close. `scope`
 * restricts the candidates; lab/cloud candidates are spelled with `prefix` ("labs.open-a."). */
void moat_param_suggest(const moat_scenario_t *sc, const char *key, char *out, size_t outlen);

/* Levenshtein distance of two strings of at most MOAT_KEY_MAX - 1 characters. */
size_t moat_edit_distance(const char *a, const char *b);

/* Put the defaults of every row of `scope` into base (a scenario, lab or cloud). */
void moat_param_defaults(int scope, void *base);

/* Check a number against a row: finite, whole for integer types, in [min, max]. On failure
 * writes "key = value is outside [min, max]: doc" (or similar) into err. */
int moat_param_check_number(const moat_param_t *p, const char *key, double v, char *err,
                            size_t errlen);
/* Index of s among a choice row's strings, -1 if none. */
int moat_param_choice_index(const moat_param_t *p, const char *s);
/* A choice row's strings as `"a" or "b"` (quoted) or `a, b` (plain). */
void moat_param_choice_text(const moat_param_t *p, int quoted, char *out, size_t outlen);

/* Check a string for a string or choice row: length, allowed values, entry-name characters. */
int moat_param_check_string(const moat_param_t *p, const char *key, const char *s, char *err,
                            size_t errlen);
/* Check a double list's entries against the row: each in range; for `increasing` rows
 * non-empty, strictly increasing and strictly inside (min, max). */
int moat_param_check_list(const moat_param_t *p, const char *key, const double *v, int n,
                          char *err, size_t errlen);
/* Check an integer literal (file or --set) against a row: integer rows compare it exactly,
 * so a value beyond 2^53 is refused rather than rounded; other rows as moat_param_check_number. */
int moat_param_check_integer(const moat_param_t *p, const char *key, long long v, char *err,
                             size_t errlen);
/* Check a number written as a float (1e6, 2.5) against a row: integer rows need a whole number
 * below 2^53 in magnitude (beyond it the literal may already have been rounded); then the range. */
int moat_param_check_float(const moat_param_t *p, const char *key, double v, char *err,
                           size_t errlen);
/* Store a checked number into the row's field (integers rounded). */
void moat_param_store_number(const moat_param_t *p, void *base, double v);
/* Read a numeric (int, int64, double, bool) field as a double. */
double moat_param_load_number(const moat_param_t *p, const void *base);

/* A row's value in base, in libconfig syntax (strings quoted, lists in [..]). */
void moat_param_format(const moat_param_t *p, const void *base, char *out, size_t outlen);
/* A double in the shortest form that reads back exactly. */
void moat_format_double(double v, char *out, size_t outlen);

/* Check every row of a scenario's values (ranges, string lengths); the first failure goes in err
 * prefixed with `where: ` unless where is NULL. */
int moat_param_check_all(const moat_scenario_t *sc, const char *where, char *err, size_t errlen);

/* A growing NUL-terminated text (the run's identity). After an allocation failure `oom` is set,
 * later additions do nothing, and s holds what fitted (free it all the same). */
typedef struct moat_text {
  char *s;      /* owned; NULL until something is added */
  size_t len;   /* bytes, without the NUL */
  size_t cap;   /* bytes allocated */
  int oom;
} moat_text_t;

void moat_text_put(moat_text_t *t, const char *s, size_t n);
void moat_text_printf(moat_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The identity's parts (moat_config_t.identity_text documents the layout): a file's text under a
 * header giving its length (include_name NULL for the scenario file itself, else the name as
 * the @include directive spells it), and the canonical listing of the effective parameters and
 * the sweep. */
void moat_identity_add_file(moat_text_t *t, const char *include_name, const char *text);
void moat_identity_add_params(moat_text_t *t, const moat_config_t *cfg);

#endif
