/* config_identity.c — the run's identity: the texts a scenario was read from and its effective
 * parameters, as one text that --resume compares. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "moatsim/sweep.h"

/* Grow t to hold `more` bytes beyond its length and a NUL; sets t->oom on failure. */
static int reserve(moat_text_t *t, size_t more) {
  if (t->oom) return MOAT_ENOMEM;
  if (t->len + more + 1 <= t->cap) return MOAT_OK;
  size_t cap = t->cap ? t->cap : 4096;
  while (cap < t->len + more + 1) cap *= 2;
  char *grown = realloc(t->s, cap);
  if (!grown) {
    t->oom = 1;
    return MOAT_ENOMEM;
  }
  t->s = grown;
  t->cap = cap;
  return MOAT_OK;
}

void moat_text_put(moat_text_t *t, const char *s, size_t n) {
  if (reserve(t, n)) return;
  memcpy(t->s + t->len, s, n);
  t->len += n;
  t->s[t->len] = '\0';
}

void moat_text_printf(moat_text_t *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || reserve(t, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

void moat_identity_add_file(moat_text_t *t, const char *include_name, const char *text) {
  size_t n = strlen(text);
  if (include_name) moat_text_printf(t, "== @include \"%s\" (%zu bytes) ==\n", include_name, n);
  else moat_text_printf(t, "== scenario file (%zu bytes) ==\n", n);
  moat_text_put(t, text, n);
  moat_text_put(t, "\n", 1);
}

static void add_param(void *ctx, const char *key, const char *value, const char *unit,
                      const char *doc) {
  (void)unit, (void)doc;
  moat_text_printf(ctx, "%s = %s;\n", key, value);
}

/* One number of the sweep definition, in the shortest form that reads back exactly. */
static void add_number(moat_text_t *t, int axis, const char *name, double v) {
  char num[40];
  moat_format_double(v, num, sizeof num);
  moat_text_printf(t, "sweep.axes.%d.%s = %s;\n", axis + 1, name, num);
}

/* The sweep as the design uses it: grid and list axes by their values, sampled designs' axes by
 * their range or preset, Morris levels, Saltelli's second order (keys a design ignores are left
 * out). */
static void add_sweep(moat_text_t *t, const moat_sweep_t *sw) {
  int m = sw->method;
  int sampled = m != MOAT_SWEEP_NONE && m != MOAT_SWEEP_GRID && m != MOAT_SWEEP_LIST;
  moat_text_printf(t, "sweep.method = \"%s\";\n", moat_sweep_method_name(m));
  if (m == MOAT_SWEEP_NONE) return;
  if (sampled) moat_text_printf(t, "sweep.samples = %d;\n", sw->samples);
  if (m == MOAT_SWEEP_MORRIS) moat_text_printf(t, "sweep.levels = %d;\n", moat_sweep_levels(sw));
  if (m == MOAT_SWEEP_SALTELLI)
    moat_text_printf(t, "sweep.second_order = %s;\n", sw->second_order ? "true" : "false");
  for (int a = 0; a < sw->n_axes && a < MOAT_MAX_AXES; a++) {
    const moat_sweep_axis_t *ax = &sw->axes[a];
    moat_text_printf(t, "sweep.axes.%d.param = \"%s\";\n", a + 1, ax->param);
    if (!sampled) {
      for (int k = 0; k < ax->n_values; k++) add_number(t, a, "value", ax->values[k]);
      continue;
    }
    moat_text_printf(t, "sweep.axes.%d.log = %s;\n", a + 1, ax->log ? "true" : "false");
    if (ax->has_range) {
      add_number(t, a, "min", ax->min);
      add_number(t, a, "max", ax->max);
    } else {
      add_number(t, a, "low", ax->low);
      add_number(t, a, "mid", ax->mid);
      add_number(t, a, "high", ax->high);
    }
  }
}

void moat_identity_add_params(moat_text_t *t, const moat_config_t *cfg) {
  moat_text_printf(t, "== effective parameters ==\n");
  moat_scenario_visit(&cfg->base, add_param, t);
  moat_text_printf(t, "== sweep ==\n");
  add_sweep(t, &cfg->sweep);
}
