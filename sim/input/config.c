/* config.c — loading a scenario file with libconfig through the parameter table; --set overrides. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "moatsim/sweep.h"

/* parse_entry reads an entry's name through a pointer to the entry. */
_Static_assert(offsetof(moat_lab_t, name) == 0 && offsetof(moat_cloud_t, name) == 0,
               "name is the first field of labs and clouds");

#define MOAT_SCENARIO_FILE_MAX (16L << 20) /* bytes: a scenario file larger than this is a mistake */

/* State of one load: where messages point and where they go. */
typedef struct loader {
  moat_config_t *cfg;
  const char *set;   /* the --set being applied ("key=value"), NULL while reading the file */
  char *err;
  size_t errlen;
  char dir[MOAT_PATH_MAX]; /* the scenario file's directory: where @include names start */
  moat_text_t identity;    /* built while loading; becomes cfg->identity_text */
  moat_text_t included;    /* the included files as comments, for cfg->text */
} loader_t;

/* Line of a setting in its file (libconfig's macro yields an unsigned short). */
static int source_line(const config_setting_t *s) { return s ? (int)config_setting_source_line(s) : 0; }

/* The path of an included file as opened: the include directory and the directive's name. */
static void include_path(const loader_t *ld, const char *name, char *out, size_t outlen) {
  if (strcmp(ld->dir, ".") == 0) snprintf(out, outlen, "%s", name);
  else snprintf(out, outlen, "%s/%s", ld->dir, name);
}

/* "file:line" of a setting, or "--set key=value". */
static void where(const loader_t *ld, const config_setting_t *s, char *out, size_t outlen) {
  if (ld->set) {
    snprintf(out, outlen, "--set %s", ld->set);
    return;
  }
  /* libconfig names a setting's file only when it came from an @include, as the directive
   * spells it (relative to the include directory). */
  const char *file = s ? config_setting_source_file(s) : NULL;
  if (file) include_path(ld, file, out, outlen);
  else snprintf(out, outlen, "%s", ld->cfg->path);
  size_t used = strlen(out);
  snprintf(out + used, outlen - used, ":%d", source_line(s));
}

/* An error at setting s: "file:line: message". Returns MOAT_EINVAL. */
static int fail(const loader_t *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const loader_t *ld, const config_setting_t *s, const char *fmt, ...) {
  char loc[MOAT_PATH_MAX + 64], msg[MOAT_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  where(ld, s, loc, sizeof loc);
  snprintf(ld->err, ld->errlen, "%s: %s", loc, msg);
  return MOAT_EINVAL;
}

static int is_number(const config_setting_t *s) {
  int t = config_setting_type(s);
  return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static const char *expected(int type) {
  switch (type) {
  case MOAT_PT_INT:
  case MOAT_PT_INT64: return "a whole number";
  case MOAT_PT_DOUBLE: return "a number";
  case MOAT_PT_BOOL: return "true or false";
  case MOAT_PT_DLIST: return "a list of numbers such as [0.05, 0.5, 0.95]";
  case MOAT_PT_SLIST: return "a list of strings such as [\"cn\"]";
  default: return "a string in double quotes";
  }
}

static const char *type_word(const config_setting_t *s) {
  switch (config_setting_type(s)) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: return "an integer";
  case CONFIG_TYPE_FLOAT: return "a number";
  case CONFIG_TYPE_STRING: return "a string";
  case CONFIG_TYPE_BOOL: return "a boolean";
  case CONFIG_TYPE_ARRAY: return "an array";
  case CONFIG_TYPE_LIST: return "a list";
  default: return "a group";
  }
}

static int wrong_type(const loader_t *ld, const config_setting_t *s, const moat_param_t *p,
                      const char *key) {
  return fail(ld, s, "%s expects %s, got %s: %s", key, expected(p->type), type_word(s), p->doc);
}

/* A number from s for row p: ints are fine where doubles are expected, and whole doubles (1e6)
 * where ints are. */
static int read_number(const loader_t *ld, const config_setting_t *s, const moat_param_t *p,
                       const char *key, double *v) {
  if (!is_number(s)) return wrong_type(ld, s, p, key);
  char msg[MOAT_ERR_MAX];
  int st;
  if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
    *v = config_setting_get_float(s);
    st = moat_param_check_float(p, key, *v, msg, sizeof msg);
  } else {
    long long i = config_setting_get_int64(s);
    *v = (double)i;
    st = moat_param_check_integer(p, key, i, msg, sizeof msg);
  }
  return st ? fail(ld, s, "%s", msg) : MOAT_OK;
}

static int read_string(const loader_t *ld, const config_setting_t *s, const moat_param_t *p,
                       const char *key, const char **str) {
  char msg[MOAT_ERR_MAX];
  if (config_setting_type(s) != CONFIG_TYPE_STRING) return wrong_type(ld, s, p, key);
  *str = config_setting_get_string(s);
  if (moat_param_check_string(p, key, *str, msg, sizeof msg)) return fail(ld, s, "%s", msg);
  return MOAT_OK;
}

static int assign_list(const loader_t *ld, const config_setting_t *s, const moat_param_t *p,
                       void *base, const char *key) {
  int t = config_setting_type(s);
  if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) return wrong_type(ld, s, p, key);
  int n = config_setting_length(s);
  if ((size_t)n > p->size) return fail(ld, s, "%s has %d entries; at most %zu", key, n, p->size);
  char *field = (char *)base + p->offset;
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    if (p->type == MOAT_PT_DLIST) {
      double v = 0.0;
      if (read_number(ld, e, p, key, &v)) return MOAT_EINVAL;
      ((double *)(void *)field)[i] = v;
    } else {
      const char *str = NULL;
      if (read_string(ld, e, p, key, &str)) return MOAT_EINVAL;
      snprintf(field + (size_t)i * p->elem_size, p->elem_size, "%s", str);
    }
  }
  *(int *)(void *)((char *)base + p->count_offset) = n;
  char msg[MOAT_ERR_MAX];
  if (p->type == MOAT_PT_DLIST && moat_param_check_list(p, key, (const double *)(void *)field, n, msg, sizeof msg))
    return fail(ld, s, "%s", msg);
  return MOAT_OK;
}

/* Assign setting s to row p of base (a scenario, lab or cloud); key spells it for messages. */
static int assign(const loader_t *ld, const config_setting_t *s, const moat_param_t *p, void *base,
                  const char *key) {
  const char *str = NULL;
  double v = 0.0;
  switch (p->type) {
  case MOAT_PT_STRING:
    if (read_string(ld, s, p, key, &str)) return MOAT_EINVAL;
    snprintf((char *)base + p->offset, p->size, "%s", str);
    return MOAT_OK;
  case MOAT_PT_CHOICE:
    if (read_string(ld, s, p, key, &str)) return MOAT_EINVAL;
    *(int *)(void *)((char *)base + p->offset) = moat_param_choice_index(p, str);
    return MOAT_OK;
  case MOAT_PT_BOOL:
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) return wrong_type(ld, s, p, key);
    *(int *)(void *)((char *)base + p->offset) = config_setting_get_bool(s) != 0;
    return MOAT_OK;
  case MOAT_PT_DLIST:
  case MOAT_PT_SLIST: return assign_list(ld, s, p, base, key);
  default:
    if (read_number(ld, s, p, key, &v)) return MOAT_EINVAL;
    moat_param_store_number(p, base, v);
    return MOAT_OK;
  }
}

static int unknown(const loader_t *ld, const config_setting_t *s, const char *key) {
  char hint[MOAT_KEY_MAX + 32];
  moat_param_suggest(&ld->cfg->base, key, hint, sizeof hint);
  return fail(ld, s, "unknown parameter `%s`%s; `moatsim params` lists them all", key, hint);
}

/* Is `prefix` ("market.") the start of some global key? */
static int is_group(const char *prefix) {
  size_t n = strlen(prefix);
  for (size_t k = 0; k < moat_n_params; k++)
    if (moat_params[k].scope == MOAT_PS_GLOBAL && strncmp(moat_params[k].key, prefix, n) == 0) return 1;
  return 0;
}

static int parse_entries(loader_t *ld, const config_setting_t *list, int scope);
static int parse_sweep(loader_t *ld, const config_setting_t *group);

/* Walk a group of global keys; `prefix` is "" at the root or "market." inside a group. */
static int walk_group(loader_t *ld, const config_setting_t *group, const char *prefix) {
  int n = config_setting_length(group);
  for (int i = 0; i < n; i++) {
    const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
    const char *name = config_setting_name(s);
    char key[MOAT_KEY_MAX];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    int st;
    if (!prefix[0] && strcmp(name, "labs") == 0) st = parse_entries(ld, s, MOAT_PS_LAB);
    else if (!prefix[0] && strcmp(name, "clouds") == 0) st = parse_entries(ld, s, MOAT_PS_CLOUD);
    else if (!prefix[0] && strcmp(name, "sweep") == 0) st = parse_sweep(ld, s);
    else {
      char sub[MOAT_KEY_MAX + 1];
      snprintf(sub, sizeof sub, "%s.", key);
      const moat_param_t *p = moat_param_find(MOAT_PS_GLOBAL, key);
      int is_grp = config_setting_type(s) == CONFIG_TYPE_GROUP;
      if (p) st = assign(ld, s, p, &ld->cfg->base, key); /* a group here is a type error */
      else if (!is_group(sub)) st = unknown(ld, s, key);
      else if (is_grp) st = walk_group(ld, s, sub);
      else st = fail(ld, s, "%s is a group of parameters, written %s = { ... };", key, key);
    }
    if (st) return st;
  }
  return MOAT_OK;
}

/* One lab or cloud entry: required fields first (the kind decides which fields apply). */
static int parse_entry(loader_t *ld, const config_setting_t *e, int scope, int index, void *base) {
  const char *what = scope == MOAT_PS_LAB ? "labs" : "clouds";
  char key[2 * MOAT_KEY_MAX];
  if (config_setting_type(e) != CONFIG_TYPE_GROUP)
    return fail(ld, e, "%s entry %d is %s; each entry is a group { name = \"...\"; ... }", what,
                index + 1, type_word(e));
  moat_param_defaults(scope, base);
  for (size_t k = 0; k < moat_n_params; k++) {
    const moat_param_t *p = &moat_params[k];
    if (p->scope != scope || !p->required) continue;
    const config_setting_t *s = config_setting_get_member(e, p->key);
    if (!s)
      return fail(ld, e, "%s entry %d has no `%s`: every entry needs %s", what, index + 1, p->key,
                  scope == MOAT_PS_LAB ? "a name and a kind (\"closed\" or \"open\")" : "a name");
    snprintf(key, sizeof key, "%s entry %d: %s", what, index + 1, p->key);
    if (assign(ld, s, p, base, key)) return MOAT_EINVAL;
  }
  const char *name = (const char *)base; /* name is the first field of both structs */
  int kind = scope == MOAT_PS_LAB ? ((const moat_lab_t *)base)->kind : 0;
  int n = config_setting_length(e);
  for (int i = 0; i < n; i++) {
    const config_setting_t *s = config_setting_get_elem(e, (unsigned)i);
    const moat_param_t *p = moat_param_find(scope, config_setting_name(s));
    snprintf(key, sizeof key, "%s.%s.%s", what, name, config_setting_name(s));
    if (!p) return unknown(ld, s, key);
    if (p->required) continue;
    if (!(p->kinds & (1 << kind)))
      return fail(ld, s, "%s applies to %s labs only and %s is %s: remove it or change the kind",
                  key, p->kinds == MOAT_KINDS_OPEN ? "open" : "closed", name,
                  kind == MOAT_LAB_OPEN ? "open" : "closed");
    if (assign(ld, s, p, base, key)) return MOAT_EINVAL;
  }
  return MOAT_OK;
}

static int parse_entries(loader_t *ld, const config_setting_t *list, int scope) {
  moat_scenario_t *sc = &ld->cfg->base;
  const char *what = scope == MOAT_PS_LAB ? "labs" : "clouds";
  int max = scope == MOAT_PS_LAB ? MOAT_MAX_LABS : MOAT_MAX_CLOUDS;
  int t = config_setting_type(list);
  int n = t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY ? config_setting_length(list) : -1;
  if (n < 0)
    return fail(ld, list, "%s is %s; it is a list of entries: %s = ( { name = \"...\"; ... } );", what,
                type_word(list), what);
  if (n == 0)
    return fail(ld, list, "%s is empty: a scenario needs %s", what,
                scope == MOAT_PS_LAB ? "at least one closed and one open lab" : "at least one cloud");
  if (n > max) return fail(ld, list, "%s has %d entries; at most %d", what, n, max);
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
    void *base = scope == MOAT_PS_LAB ? (void *)&sc->labs[i] : (void *)&sc->clouds[i];
    /* Count the entry first so that suggestions for its keys can name it. */
    if (scope == MOAT_PS_LAB) {
      sc->n_labs = i + 1;
      sc->labs[i].line = source_line(e);
    } else {
      sc->n_clouds = i + 1;
      sc->clouds[i].line = source_line(e);
    }
    if (parse_entry(ld, e, scope, i, base)) return MOAT_EINVAL;
    for (int m = 0; m < i; m++) {
      const char *a = scope == MOAT_PS_LAB ? sc->labs[m].name : sc->clouds[m].name;
      int line = scope == MOAT_PS_LAB ? sc->labs[m].line : sc->clouds[m].line;
      if (strcmp(a, (const char *)base) == 0)
        return fail(ld, e, "duplicate %s name \"%s\" (first at line %d): names must be unique",
                    scope == MOAT_PS_LAB ? "lab" : "cloud", a, line);
    }
  }
  int open = 0;
  for (int i = 0; scope == MOAT_PS_LAB && i < n; i++) open += sc->labs[i].kind == MOAT_LAB_OPEN;
  if (scope == MOAT_PS_LAB && (open == 0 || open == n))
    return fail(ld, list, "labs has %d closed labs and %d open labs: a scenario needs at least one of each",
                n - open, open);
  return MOAT_OK;
}

/* ---- sweep section (MODEL.md §11 `sweep`) ---- */

/* Unknown key in the sweep section: suggest the nearest of the table's keys. */
static int unknown_in(const loader_t *ld, const config_setting_t *s, const char *prefix,
                      const moat_sweep_key_t *table, size_t n) {
  const char *names[MOAT_N_AXIS_KEYS + MOAT_N_SWEEP_KEYS];
  for (size_t k = 0; k < n; k++) names[k] = table[k].key;
  const char *name = config_setting_name(s), *best = moat_nearest(name, names, n);
  char hint[MOAT_KEY_MAX + 32] = "";
  if (best) snprintf(hint, sizeof hint, " (did you mean `%s%s`?)", prefix, best);
  return fail(ld, s, "unknown key `%s%s` in the sweep section%s", prefix, name, hint);
}

static int sweep_number(const loader_t *ld, const config_setting_t *s, const char *key, double *v) {
  if (!is_number(s)) return fail(ld, s, "%s expects a number, got %s", key, type_word(s));
  if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
    *v = config_setting_get_float(s);
    return MOAT_OK;
  }
  long long i = config_setting_get_int64(s);
  const long long exact = 9007199254740992LL; /* 2^53 */
  if (i > exact || i < -exact)
    return fail(ld, s, "%s = %lld is outside [-9007199254740992, 9007199254740992]: sweep values are "
                "doubles, which hold integers exactly up to 2^53 only", key, i);
  *v = (double)i;
  return MOAT_OK;
}

static int sweep_values(const loader_t *ld, const config_setting_t *s, moat_sweep_axis_t *ax) {
  int t = config_setting_type(s);
  if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
    return fail(ld, s, "sweep axis values expects a list of numbers such as [0.01, 0.03], got %s",
                type_word(s));
  int n = config_setting_length(s);
  if (n == 0) return MOAT_OK;
  ax->values = malloc((size_t)n * sizeof *ax->values);
  if (!ax->values) {
    snprintf(ld->err, ld->errlen, "%s: out of memory reading %d sweep values", ld->cfg->path, n);
    return MOAT_ENOMEM;
  }
  ax->n_values = n;
  for (int i = 0; i < n; i++)
    if (sweep_number(ld, config_setting_get_elem(s, (unsigned)i), "sweep axis values", &ax->values[i]))
      return MOAT_EINVAL;
  return MOAT_OK;
}

/* One axis setting; `seen` collects which of min/max/low/mid/high were given (bit per key). */
static int sweep_axis_key(const loader_t *ld, const config_setting_t *s, moat_sweep_axis_t *ax,
                          unsigned *seen) {
  const char *name = config_setting_name(s);
  double *targets[] = {NULL, NULL, &ax->min, &ax->max, NULL, &ax->low, &ax->mid, &ax->high};
  for (unsigned k = 0; k < MOAT_N_AXIS_KEYS; k++) {
    if (strcmp(name, moat_axis_keys[k].key) != 0) continue;
    if (targets[k]) {
      *seen |= 1u << k;
      return sweep_number(ld, s, name, targets[k]);
    }
    if (k == MOAT_AK_VALUES) return sweep_values(ld, s, ax);
    if (k == MOAT_AK_LOG) {
      if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail(ld, s, "sweep axis log expects true or false, got %s", type_word(s));
      ax->log = config_setting_get_bool(s) != 0;
      return MOAT_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
      return fail(ld, s, "sweep axis param expects a parameter key in quotes, got %s", type_word(s));
    const char *param = config_setting_get_string(s);
    if (strlen(param) >= sizeof ax->param)
      return fail(ld, s, "sweep axis param \"%.40s...\" is longer than %zu characters", param,
                  sizeof ax->param - 1);
    snprintf(ax->param, sizeof ax->param, "%s", param);
    return MOAT_OK;
  }
  return unknown_in(ld, s, "sweep.axes.", moat_axis_keys, MOAT_N_AXIS_KEYS);
}

static int parse_axis(const loader_t *ld, const config_setting_t *g, moat_sweep_axis_t *ax) {
  ax->line = source_line(g);
  if (config_setting_type(g) != CONFIG_TYPE_GROUP)
    return fail(ld, g, "each sweep axis is a group { param = \"...\"; values = [...]; }, got %s",
                type_word(g));
  unsigned seen = 0;
  int n = config_setting_length(g);
  for (int i = 0; i < n; i++) {
    int st = sweep_axis_key(ld, config_setting_get_elem(g, (unsigned)i), ax, &seen);
    if (st) return st;
  }
  if (!ax->param[0]) return fail(ld, g, "sweep axis has no `param`: name the parameter it varies");
  unsigned range = seen & (3u << 2), preset = seen & (7u << 5);
  if (range && range != (3u << 2))
    return fail(ld, g, "sweep axis %s gives only one of min and max: give both", ax->param);
  if (preset && preset != (7u << 5))
    return fail(ld, g, "sweep axis %s needs all of low, mid and high (5th, 50th, 95th percentiles)",
                ax->param);
  ax->has_range = range != 0;
  ax->has_preset = preset != 0;
  return MOAT_OK;
}

static int sweep_method(const loader_t *ld, const config_setting_t *s, moat_sweep_t *sw) {
  static const char *const names[] = {"grid", "list", "lhs", "sobol", "saltelli", "morris"};
  const char *m = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : "";
  for (int k = 0; k < 6; k++)
    if (strcmp(m, names[k]) == 0) {
      sw->method = MOAT_SWEEP_GRID + k;
      return MOAT_OK;
    }
  return fail(ld, s, "sweep.method must be \"grid\", \"list\", \"lhs\", \"sobol\", \"saltelli\" or "
                     "\"morris\"");
}

static int sweep_axes(const loader_t *ld, const config_setting_t *s, moat_sweep_t *sw) {
  int t = config_setting_type(s);
  if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
    return fail(ld, s, "sweep.axes is %s; it is a list of groups ( { param = ...; }, ... )", type_word(s));
  int n = config_setting_length(s);
  if (n > MOAT_MAX_AXES) return fail(ld, s, "sweep.axes has %d axes; at most %d", n, MOAT_MAX_AXES);
  for (int a = 0; a < n; a++) {
    sw->n_axes = a + 1; /* counted first so that moat_config_clear frees a partial axis */
    int st = parse_axis(ld, config_setting_get_elem(s, (unsigned)a), &sw->axes[a]);
    if (st) return st;
  }
  return MOAT_OK;
}

static int parse_sweep(loader_t *ld, const config_setting_t *group) {
  moat_sweep_t *sw = &ld->cfg->sweep;
  sw->line = source_line(group);
  if (config_setting_type(group) != CONFIG_TYPE_GROUP)
    return fail(ld, group, "sweep is %s; it is a group { method = ...; axes = (...); }", type_word(group));
  int n = config_setting_length(group), have_method = 0;
  for (int i = 0; i < n; i++) {
    const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
    const char *name = config_setting_name(s);
    int st;
    if (strcmp(name, moat_sweep_keys[MOAT_SK_METHOD].key) == 0) st = sweep_method(ld, s, sw), have_method = 1;
    else if (strcmp(name, moat_sweep_keys[MOAT_SK_AXES].key) == 0) st = sweep_axes(ld, s, sw);
    else if (strcmp(name, moat_sweep_keys[MOAT_SK_CRN].key) == 0) /* a table row: --set and params see it */
      st = assign(ld, s, moat_param_find(MOAT_PS_GLOBAL, "sweep.common_random_numbers"),
                  &ld->cfg->base, "sweep.common_random_numbers");
    else if (strcmp(name, moat_sweep_keys[MOAT_SK_SAMPLES].key) == 0) {
      long long v = config_setting_get_int64(s);
      int whole = config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
      /* 0 and other whole numbers out of range are reported by moat_sweep_check. */
      if (!whole) st = fail(ld, s, "sweep.samples expects a whole number in %s, got %s",
                            moat_sweep_keys[MOAT_SK_SAMPLES].range, type_word(s));
      else if (v < 0 || v > 2147483647)
        st = fail(ld, s, "sweep.samples = %lld is outside %s", v, moat_sweep_keys[MOAT_SK_SAMPLES].range);
      else st = MOAT_OK;
      if (!st) sw->samples = (int)v;
    } else if (strcmp(name, moat_sweep_keys[MOAT_SK_LEVELS].key) == 0) {
      long long v = config_setting_get_int64(s);
      int whole = config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64;
      st = whole && v >= 2 && v <= 1000 && v % 2 == 0
               ? MOAT_OK
               : fail(ld, s, "sweep.levels expects an even whole number in [2, 1000] (Morris grid levels p)");
      if (!st) sw->levels = (int)v;
    } else if (strcmp(name, moat_sweep_keys[MOAT_SK_SECOND_ORDER].key) == 0) {
      st = config_setting_type(s) == CONFIG_TYPE_BOOL
               ? MOAT_OK
               : fail(ld, s, "sweep.second_order expects true or false, got %s", type_word(s));
      if (!st) sw->second_order = config_setting_get_bool(s) != 0;
    } else
      st = unknown_in(ld, s, "sweep.", moat_sweep_keys, MOAT_N_SWEEP_KEYS);
    if (st) return st;
  }
  if (!have_method)
    return fail(ld, group, "sweep.method is missing: \"grid\", \"list\", \"lhs\", \"sobol\", \"saltelli\" "
                           "or \"morris\"");
  return MOAT_OK;
}

/* ---- --set key=value ---- */

/* A number from --set text: an integer literal is read exactly (so 9007199254740993 is refused,
 * not rounded to 2^53); anything else with strtod (so nan and inf are read, and rejected by
 * range). */
static int set_number(const loader_t *ld, const moat_param_t *p, void *base, const char *key,
                      const char *text) {
  char *end = NULL, msg[MOAT_ERR_MAX];
  size_t sign = text[0] == '-' || text[0] == '+';
  int integer = text[sign] && strspn(text + sign, "0123456789") == strlen(text + sign);
  errno = 0;
  long long i = integer ? strtoll(text, &end, 10) : 0;
  double v = integer ? (double)i : strtod(text, &end);
  if (end == text || *end != '\0')
    return fail(ld, NULL, "`%s` is not a number: %s expects %s", text, key, expected(p->type));
  int st = !integer ? moat_param_check_float(p, key, v, msg, sizeof msg)
           : errno == ERANGE ? moat_param_check_float(p, key, strtod(text, NULL), msg, sizeof msg)
                             : moat_param_check_integer(p, key, i, msg, sizeof msg);
  if (st) return fail(ld, NULL, "%s", msg);
  moat_param_store_number(p, base, v);
  return MOAT_OK;
}

/* Other types: read "v = <text>;" with libconfig (bare words are strings for string keys). */
static int set_value(const loader_t *ld, const moat_param_t *p, void *base, const char *key,
                     const char *text) {
  int bare = (p->type == MOAT_PT_STRING || p->type == MOAT_PT_CHOICE) && text[0] != '"';
  size_t len = strlen(text) + 16;
  char *src = malloc(len);
  if (!src) return fail(ld, NULL, "out of memory");
  snprintf(src, len, bare ? "v = \"%s\";" : "v = %s;", text);
  config_t lc;
  config_init(&lc);
  int st;
  if (!config_read_string(&lc, src))
    st = fail(ld, NULL, "cannot read `%s` as %s for %s (%s)", text, expected(p->type), key,
              config_error_text(&lc));
  else
    st = assign(ld, config_lookup(&lc, "v"), p, base, key);
  config_destroy(&lc);
  free(src);
  return st;
}

static int apply_set(loader_t *ld, const char *set) {
  char key[MOAT_KEY_MAX], msg[MOAT_ERR_MAX];
  const char *eq = strchr(set, '=');
  ld->set = set;
  if (!eq || eq == set || (size_t)(eq - set) >= sizeof key)
    return fail(ld, NULL, "expected key=value, e.g. --set quality_gap.long_run=0.02");
  snprintf(key, sizeof key, "%.*s", (int)(eq - set), set);
  const char *text = eq + 1;
  if (!*text) return fail(ld, NULL, "no value after '='");
  moat_param_ref_t ref;
  if (moat_param_resolve(&ld->cfg->base, key, &ref, msg, sizeof msg)) return fail(ld, NULL, "%s", msg);
  int t = ref.param->type;
  if (t == MOAT_PT_INT || t == MOAT_PT_INT64 || t == MOAT_PT_DOUBLE)
    return set_number(ld, ref.param, ref.base, key, text);
  return set_value(ld, ref.param, ref.base, key, text);
}

/* ---- loading ---- */

/* The whole file as a NUL-terminated string (owned by the caller). */
static int read_text(const char *path, char **text, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open the scenario file: %s", path, strerror(errno));
    return MOAT_EINVAL;
  }
  char *buf = NULL;
  size_t used = 0, cap = 0;
  int st = MOAT_OK;
  for (;;) {
    if (used + 4096 + 1 > cap) {
      cap = cap ? 2 * cap : 8192;
      char *grown = cap > (size_t)MOAT_SCENARIO_FILE_MAX + 8192 ? NULL : realloc(buf, cap);
      if (!grown) {
        snprintf(err, errlen, "%s: the scenario file is larger than %ld MiB or memory ran out", path,
                 MOAT_SCENARIO_FILE_MAX >> 20);
        st = cap > (size_t)MOAT_SCENARIO_FILE_MAX + 8192 ? MOAT_EINVAL : MOAT_ENOMEM;
        break;
      }
      buf = grown;
    }
    size_t got = fread(buf + used, 1, cap - used - 1, f);
    used += got;
    if (got == 0) break;
  }
  if (!st && ferror(f)) {
    snprintf(err, errlen, "%s: cannot read the scenario file: %s", path, strerror(errno));
    st = MOAT_EINVAL;
  }
  fclose(f);
  if (st) {
    free(buf);
    return st;
  }
  buf[used] = '\0';
  if (strlen(buf) != used) {
    free(buf);
    snprintf(err, errlen, "%s: the scenario file contains a NUL byte: it is not a text file", path);
    return MOAT_EINVAL;
  }
  *text = buf;
  return MOAT_OK;
}

/* Skip a string literal or a comment starting at p; returns the first character after it, or p
 * when p starts neither. Counts newlines into *line. */
static const char *skip_literal(const char *p, int *line) {
  const char *q = p;
  if (*q == '"') {
    for (q++; *q && *q != '"'; q++) {
      if (*q == '\\' && q[1]) q++;
      if (*q == '\n') ++*line;
    }
    return *q ? q + 1 : q;
  }
  if (*q == '#' || (q[0] == '/' && q[1] == '/')) return q + strcspn(q, "\n");
  if (q[0] == '/' && q[1] == '*') {
    for (q += 2; *q && !(q[0] == '*' && q[1] == '/'); q++)
      if (*q == '\n') ++*line;
    return *q ? q + 2 : q;
  }
  return p;
}

static int is_word_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == '-' || c == '.' || c == '*';
}

/* libconfig 1.5 reads an integer without the L suffix into 32 bits and silently wraps one that
 * does not fit (paths = 1000000000000 becomes -727379968). Find such literals before it does. */
static int check_wide_integers(const loader_t *ld, const char *file, const char *text) {
  int line = 1;
  char last_name[MOAT_KEY_MAX] = "";
  for (const char *p = text; *p;) {
    const char *after = skip_literal(p, &line);
    if (after != p) {
      p = after;
      continue;
    }
    if (*p == '\n') line++;
    if (!is_word_char(*p)) {
      p++;
      continue;
    }
    size_t n = 0;
    while (is_word_char(p[n])) n++;
    if (!(*p >= '0' && *p <= '9')) {
      snprintf(last_name, sizeof last_name, "%.*s", (int)(n < MOAT_KEY_MAX ? n : MOAT_KEY_MAX - 1), p);
    } else if (strspn(p, "0123456789") == n || (n > 2 && (p[1] == 'x' || p[1] == 'X'))) {
      errno = 0;
      unsigned long long v = strtoull(p, NULL, 0);
      if (errno == ERANGE || v > 2147483647ULL) {
        snprintf(ld->err, ld->errlen, "%s:%d: %s = %.*s does not fit a 32-bit integer, which is how "
                 "libconfig reads it: write %.*sL for a 64-bit integer (still subject to the "
                 "parameter's range) or a float such as 1e12", file, line, last_name,
                 (int)n, p, (int)n, p);
        return MOAT_EINVAL;
      }
    }
    p += n;
  }
  return MOAT_OK;
}

/* An included file's text as libconfig comments ("# " before each line), under its name. */
static void add_commented(moat_text_t *t, const char *name, const char *text) {
  moat_text_printf(t, "# @include \"%s\" (%zu bytes):\n", name, strlen(text));
  for (const char *line = text; *line;) {
    size_t n = strcspn(line, "\n");
    moat_text_put(t, "# ", 2);
    moat_text_put(t, line, n);
    moat_text_put(t, "\n", 1);
    line += n + (line[n] == '\n');
  }
}

/* The files libconfig's @include pulled in: each one's text joins the identity, after the same
 * check for wide integer literals the scenario file gets (before any value is used). */
static int read_includes(loader_t *ld, const config_t *lc) {
  for (unsigned k = 0; k < lc->num_filenames; k++) {
    char path[2 * MOAT_PATH_MAX];
    char *text = NULL;
    include_path(ld, lc->filenames[k], path, sizeof path);
    int st = read_text(path, &text, ld->err, ld->errlen);
    if (!st) st = check_wide_integers(ld, path, text);
    if (!st) {
      moat_identity_add_file(&ld->identity, lc->filenames[k], text);
      add_commented(&ld->included, lc->filenames[k], text);
    }
    free(text);
    if (st) return st;
  }
  return MOAT_OK;
}

/* Parse the text with libconfig and walk it into cfg; the texts read join the identity. */
static int parse_text(loader_t *ld, const char *text) {
  config_t lc;
  config_init(&lc);
  snprintf(ld->dir, sizeof ld->dir, "%s", ld->cfg->path);
  char *slash = strrchr(ld->dir, '/');
  if (slash) slash[slash == ld->dir] = '\0'; /* "/x.cfg" keeps "/" */
  else snprintf(ld->dir, sizeof ld->dir, ".");
  config_set_include_dir(&lc, ld->dir);
  int st = check_wide_integers(ld, ld->cfg->path, text);
  if (st) {
    /* reported */
  } else if (!config_read_string(&lc, text)) {
    const char *file = config_error_file(&lc), *what = config_error_text(&lc);
    char loc[2 * MOAT_PATH_MAX];
    if (file) include_path(ld, file, loc, sizeof loc);
    else snprintf(loc, sizeof loc, "%s", ld->cfg->path);
    snprintf(ld->err, ld->errlen, "%s:%d: syntax error: %s%s", loc, config_error_line(&lc), what,
             strstr(what, "mismatched element type")
                 ? " (the numbers of one [...] list must all be integers or all floats: write 0.0, not 0)"
             : strcmp(what, "syntax error") == 0
                 ? " (each setting is written key = value; and each group key = { ... };)"
                 : "");
    st = MOAT_EINVAL;
  } else {
    moat_identity_add_file(&ld->identity, NULL, text);
    st = read_includes(ld, &lc);
    if (!st) st = walk_group(ld, config_root_setting(&lc), "");
  }
  config_destroy(&lc);
  return st;
}

/* cfg->text: the file, then a comment block with the overrides and one with the included files
 * (so that the text stored with the results shows everything the run read, and still reads the
 * same). */
static int compose_text(moat_config_t *cfg, const char *file_text, const moat_text_t *included,
                        const char *const *sets, size_t n_sets) {
  moat_text_t t = {0};
  moat_text_put(&t, file_text, strlen(file_text));
  const char *nl = t.len && t.s[t.len - 1] != '\n' ? "\n" : "";
  if (n_sets) {
    moat_text_printf(&t, "%s# --set overrides applied after the file:\n", nl);
    for (size_t k = 0; k < n_sets; k++) moat_text_printf(&t, "# --set %s\n", sets[k]);
    nl = "";
  }
  if (included->len) {
    moat_text_printf(&t, "%s# files pulled in by @include, as read:\n", nl);
    moat_text_put(&t, included->s, included->len);
  }
  if (t.oom) {
    free(t.s);
    return MOAT_ENOMEM;
  }
  cfg->text = t.s;
  return MOAT_OK;
}

int moat_config_load_ex(moat_config_t *cfg, const char *path, const char *const *sets,
                        size_t n_sets, const moat_limits_t *lim, char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  if (strlen(path) >= sizeof cfg->path) {
    snprintf(err, errlen, "%.60s...: the file name is longer than %zu characters", path,
             sizeof cfg->path - 1);
    return MOAT_EINVAL;
  }
  snprintf(cfg->path, sizeof cfg->path, "%s", path);
  char *file_text = NULL, inner[MOAT_ERR_MAX];
  int st = read_text(path, &file_text, err, errlen);
  if (st) return st;
  loader_t ld = {.cfg = cfg, .err = err, .errlen = errlen};
  moat_param_defaults(MOAT_PS_GLOBAL, &cfg->base);
  st = parse_text(&ld, file_text);
  for (size_t k = 0; !st && k < n_sets; k++) st = apply_set(&ld, sets[k]);
  if (!st && (st = moat_scenario_validate_ex(&cfg->base, lim, &cfg->warnings, inner, sizeof inner)))
    snprintf(err, errlen, "%s: %s", path, inner);
  if (!st) st = moat_sweep_check(cfg, err, errlen);
  if (!st) st = moat_sweep_check_memory(cfg, lim, err, errlen);
  if (!st) st = ld.included.oom ? MOAT_ENOMEM : compose_text(cfg, file_text, &ld.included, sets, n_sets);
  if (!st) {
    moat_identity_add_params(&ld.identity, cfg);
    st = ld.identity.oom ? MOAT_ENOMEM : MOAT_OK;
  }
  if (!st) cfg->identity_text = ld.identity.s;
  else free(ld.identity.s);
  free(ld.included.s);
  free(file_text);
  if (st == MOAT_ENOMEM) snprintf(err, errlen, "%s: out of memory while loading", path);
  if (st) {
    moat_warnings_t keep = cfg->warnings;
    moat_config_clear(cfg);
    cfg->warnings = keep;
  }
  return st;
}

int moat_config_load(moat_config_t *cfg, const char *path, const char *const *sets, size_t n_sets,
                     char *err, size_t errlen) {
  return moat_config_load_ex(cfg, path, sets, n_sets, NULL, err, errlen);
}

void moat_config_clear(moat_config_t *cfg) {
  for (int a = 0; a < cfg->sweep.n_axes && a < MOAT_MAX_AXES; a++) free(cfg->sweep.axes[a].values);
  free(cfg->text);
  free(cfg->identity_text);
  memset(cfg, 0, sizeof *cfg);
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's built-in suppressions (read by the sanitizer runtime at exit). libconfig 1.5's
 * lexer allocates each string token and its parser has no destructor for tokens it drops on a
 * syntax error, so a file such as `""` leaks the token inside libconfig_yylex; config_destroy
 * cannot reach it. Only allocations made inside the lexer are suppressed: a setting tree we
 * failed to destroy is allocated by the parser and is still reported.
 * HDF5 1.10.8 leaks an object header (424 bytes) when the header fails its checksum (fixed
 * upstream in 1.14); Debian's library is stripped, so the suppression names its module. Only
 * allocations made inside HDF5 are suppressed: HDF5 frees the objects of handles left open at
 * exit, and buffers moatsim allocates are reported as before. This definition sits here because
 * every program links this file (a member of libmoat.a that nothing references is left out). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libconfig_yylex\nleak:libhdf5\n"; }
/* ... and without the table of used suppressions on stderr, which the user did not ask for. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }
#endif
