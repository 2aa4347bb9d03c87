/* fastexp.h — a branch-free exp() that GCC vectorizes without -ffast-math (logit shares). */
#ifndef MOATSIM_FASTEXP_H
#define MOATSIM_FASTEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * exp(x) for double x, written so that a loop calling it vectorizes at -O3 with plain SSE2:
 * no branches, no table look-ups, no libm call. libm's exp() is a scalar call that GCC only
 * replaces by a vector routine under -ffast-math, which the project does not use (NaN/Inf
 * semantics, reproducibility).
 *
 * Method (Cody & Waite 1980; as in fdlibm's e_exp.c, without its table):
 *   n = round(x / ln 2), by adding and subtracting 1.5·2^52 (round-to-nearest mode);
 *   r = (x - n·LN2_HI) - n·LN2_LO, |r| <= ln2/2 (+ rounding). LN2_HI has 21 trailing zero bits,
 *       so n·LN2_HI is exact for |n| < 2^21 and the first subtraction is exact (Sterbenz);
 *   exp(r) = 1 + r + r^2·(1/2! + r/3! + ... + r^11/13!), the Taylor polynomial of degree 13:
 *       its truncation error is at most 0.3466^14/14! < 4.2e-18 relative, far below 1 ulp;
 *   exp(x) = exp(r)·2^n, 2^n built from its bit pattern (exponent field n + 1023).
 * For n = 1024 (x in (709.43, 709.78]) 2^n is not representable, so the result is formed as
 * (exp(r)·2^1023)·2, exact but for the final rounding.
 * The maximum relative error against libm exp is measured in tests/test_choice.c.
 *
 * Special values: x < MOAT_FASTEXP_MIN (including -INFINITY) gives exactly +0 (the results
 * there would be subnormal; shares that small are zero for every purpose of the model);
 * x > MOAT_FASTEXP_MAX (including +INFINITY) gives +INFINITY; NaN gives NaN. Floating-point
 * exception flags are not meaningful afterwards (inputs are clamped, not tested).
 */
#define MOAT_FASTEXP_MIN (-708.39) /* just above ln(DBL_MIN) = -708.3964: results stay normal */
#define MOAT_FASTEXP_MAX 709.782712893384 /* ln(DBL_MAX) */

static inline uint64_t moat_fastexp_bits_(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static inline double moat_fastexp_double_(uint64_t u) {
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* 1 if the sign bit of x is set, else 0. */
static inline uint64_t moat_fastexp_sign_(double x) {
  return moat_fastexp_bits_(x) >> 63;
}

static inline double moat_fastexp(double x) {
  const double shift = 0x1.8p52; /* 1.5·2^52: adding it rounds to an integer, kept in the low bits */
  const double log2e = 0x1.71547652b82fep+0;
  const double ln2_hi = 0x1.62e42fee00000p-1;
  const double ln2_lo = 0x1.a39ef35793c76p-33;
  const uint64_t abs_mask = UINT64_C(0x7fffffffffffffff), inf_bits = UINT64_C(0x7ff0000000000000);
  /* No comparison or select: with one, GCC duplicates the code per case (jump threading,
   * constant propagation into the clamped cases) or moves arithmetic into a branch (it may raise
   * a floating-point exception, so it is not speculated under the default -ftrapping-math), and
   * the loop no longer vectorizes. The cases are masks made from sign bits instead. */
  uint64_t xb = moat_fastexp_bits_(x);
  uint64_t low = 0u - moat_fastexp_sign_(x - MOAT_FASTEXP_MIN);  /* all ones if x < MIN */
  uint64_t high = 0u - moat_fastexp_sign_(MOAT_FASTEXP_MAX - x); /* all ones if x > MAX */
  uint64_t nan = 0u - ((inf_bits - (xb & abs_mask)) >> 63);     /* all ones if x is NaN */
  /* x clamped to [MIN, MAX] (a NaN lands on one end; it is restored at the end) */
  double xc = moat_fastexp_double_((xb & ~low & ~high) |
                                   (moat_fastexp_bits_(MOAT_FASTEXP_MIN) & low) |
                                   (moat_fastexp_bits_(MOAT_FASTEXP_MAX) & high));
  double t = xc * log2e + shift;
  double n = t - shift;                    /* round(x / ln 2), exact integer */
  double r = (xc - n * ln2_hi) - n * ln2_lo;
  double q = 0x1.6124613a86d09p-33;        /* 1/13! */
  q = q * r + 0x1.1eed8eff8d898p-29;       /* 1/12! */
  q = q * r + 0x1.ae64567f544e4p-26;       /* 1/11! */
  q = q * r + 0x1.27e4fb7789f5cp-22;       /* 1/10! */
  q = q * r + 0x1.71de3a556c734p-19;       /* 1/9! */
  q = q * r + 0x1.a01a01a01a01ap-16;       /* 1/8! */
  q = q * r + 0x1.a01a01a01a01ap-13;       /* 1/7! */
  q = q * r + 0x1.6c16c16c16c17p-10;       /* 1/6! */
  q = q * r + 0x1.1111111111111p-7;        /* 1/5! */
  q = q * r + 0x1.5555555555555p-5;        /* 1/4! */
  q = q * r + 0x1.5555555555555p-3;        /* 1/3! */
  q = q * r + 0.5;                         /* 1/2! */
  double p = 1.0 + (r + (r * r) * q);
  /* 2^1024 overflows: for n = 1024 use 2^1023·2 (big = 1, twice = 2). */
  uint64_t big = moat_fastexp_sign_(1023.5 - n);
  double twice = moat_fastexp_double_(moat_fastexp_bits_(1.0) + (big << 52));
  /* The low bits of t hold n: bits(t) - bits(shift) = n, bits(shift) = 0x4338000000000000. */
  uint64_t e = (moat_fastexp_bits_(t) - big - UINT64_C(0x4338000000000000) + 1023u) << 52;
  uint64_t yb = moat_fastexp_bits_((p * moat_fastexp_double_(e)) * twice);
  yb = (yb & ~low & ~high) | (inf_bits & high);           /* 0 below MIN, +INFINITY above MAX */
  return moat_fastexp_double_(yb | (UINT64_C(0x7ff8000000000000) & nan)); /* NaN stays NaN */
}

#endif
