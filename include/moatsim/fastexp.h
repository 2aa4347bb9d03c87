/* fastexp.h — an exp() that GCC vectorizes without -ffast-math, bitwise the same on every x86-64 level (logit shares). */
#ifndef MOATSIM_FASTEXP_H
#define MOATSIM_FASTEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * exp(x) for double x, written so that a loop calling it vectorizes at -O2 and -O3: no branches
 * (selects, see below), no table look-ups, no libm call. libm's exp() is a scalar call that GCC only
 * replaces by a vector routine under -ffast-math, which the project does not use (NaN/Inf
 * semantics, reproducibility).
 *
 * Method (Cody & Waite 1980; as in fdlibm's e_exp.c, without its table):
 *   n = round(x / ln 2), by adding and subtracting 1.5·2^52 (round-to-nearest mode);
 *   r = (x - n·LN2_HI) - n·LN2_LO, |r| <= ln2/2 (+ rounding). LN2_HI has 21 trailing zero bits,
 *       so n·LN2_HI is exact for |n| < 2^21 and the first subtraction is exact (Sterbenz);
 *   exp(r) = 1 + r + r^2·q(r), q of degree 9 (exp(r) of degree 11): the near-minimax
 *       polynomial of (exp(r) - 1 - r)/r^2 on |r| <= ln2/2, its Chebyshev interpolant computed
 *       in 50-digit arithmetic (mpmath.chebyfit) and rounded to doubles. Its approximation error
 *       is below 1.7e-17 relative (0.08 eps), where the Taylor polynomial of the same degree
 *       leaves 1.3e-15; two steps fewer than the degree-13 Taylor polynomial for the same
 *       accuracy (the coefficients are reproduced by tests/test_choice.c's error bound, not
 *       taken on trust: the dense grid there measures the result against libm);
 *   exp(x) = exp(r)·2^n, 2^n built from its bit pattern (exponent field n + 1023).
 * For n = 1024 (x in (709.43, 709.78]) 2^n is not representable, so the result is formed as
 * (exp(r)·2^1023)·2, exact but for the final rounding.
 * The maximum relative error against libm exp is measured in tests/test_choice.c.
 *
 * Special values: x < MOAT_FASTEXP_MIN (including -INFINITY) gives exactly +0 (the results
 * there would be subnormal; shares that small are zero for every purpose of the model);
 * x > MOAT_FASTEXP_MAX (including +INFINITY) gives +INFINITY; NaN gives NaN. Floating-point
 * exception flags are not meaningful afterwards (special inputs go through the arithmetic and
 * their results are replaced afterwards).
 */
/*
 * MOAT_FASTEXP_INLINE: these functions are always inlined, whatever the optimisation level.
 * At -O2 GCC's heuristics left moat_fastexp_nonpos out of line: the kernel's loops then called
 * a scalar function compiled for the baseline level, whose fma() is a libm call per step of the
 * polynomial, and a path ran 17x slower than at -O3. Inlined, the exp is compiled as part of
 * each caller (and of each of its clones, MOAT_FASTEXP_CLONES), at that caller's level.
 */
#if defined(__GNUC__)
#define MOAT_FASTEXP_INLINE static inline __attribute__((always_inline))
#else
#define MOAT_FASTEXP_INLINE static inline
#endif

#define MOAT_FASTEXP_MIN (-708.39) /* just above ln(DBL_MIN) = -708.3964: results stay normal */
#define MOAT_FASTEXP_MAX 709.782712893384 /* ln(DBL_MAX) */

MOAT_FASTEXP_INLINE uint64_t moat_fastexp_bits_(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

MOAT_FASTEXP_INLINE double moat_fastexp_double_(uint64_t u) {
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/*
 * MOAT_FASTEXP_CLONES: put before a function whose loops call moat_fastexp to have GCC compile it
 * for several x86-64 levels and pick the best the processor supports at load time (function
 * multiversioning): AVX2 and AVX-512 do 4 and 8 lanes per instruction where the baseline SSE2
 * does 2 (bench_kernel: the zeta pass runs about 2x and 3x faster). The results are bitwise the
 * same on every level provided the loops are element-wise and every sum runs in a fixed order:
 * with -std=c11 GCC does not contract a*b+c into an FMA (-ffp-contract=off), so each lane does
 * the same IEEE operations whatever the vector width. Functions the cloned one calls should be
 * inlined into it (always_inline), or they run the baseline code.
 * Define MOAT_NO_CLONES to build the baseline only (plain multiply and add, below).
 * MOAT_FORCE_LEVEL = 1, 3 or 4 (`make LEVEL=N`) builds one clone alone, the one the processor
 * would get at x86-64 level N ("default", v3 or v4), with the same operations: that is how
 * tests/integration/levels.sh checks that the levels give the same bits on one machine.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(MOAT_FORCE_LEVEL) && \
    !defined(MOAT_NO_CLONES)
#define MOAT_FASTEXP_HAVE_CLONES 1
#if MOAT_FORCE_LEVEL == 4
#define MOAT_FASTEXP_CLONES __attribute__((target("arch=x86-64-v4")))
#elif MOAT_FORCE_LEVEL == 3
#define MOAT_FASTEXP_CLONES __attribute__((target("arch=x86-64-v3")))
#elif MOAT_FORCE_LEVEL == 1
#define MOAT_FASTEXP_CLONES
#else
#error "MOAT_FORCE_LEVEL must be 1, 3 or 4"
#endif
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(MOAT_NO_CLONES)
#define MOAT_FASTEXP_HAVE_CLONES 1
#define MOAT_FASTEXP_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MOAT_FASTEXP_HAVE_CLONES 0
#define MOAT_FASTEXP_CLONES
#endif

/*
 * MOAT_FASTEXP_MADD(a, b, c) = a*b + c in the polynomial. With the clones it is fma(), rounded
 * once: one instruction on the AVX2 and AVX-512 levels (x86-64-v3 includes FMA), and on the
 * baseline level a call of libm's fma(), exact too, so the levels still agree bit for bit (the
 * same bits in tests/integration/levels.sh). The price: the baseline level, used only on
 * processors without AVX2 and FMA, runs scalar, about 15x slower. The gain on the others: the
 * exp's range reduction and polynomial, and the pass's utilities and sums (KMADD in
 * pricing_internal.h), take one instruction per step instead of two.
 * Without clones (other compilers, MOAT_NO_CLONES) it is a multiply and an add, which vectorize
 * everywhere.
 */
#if MOAT_FASTEXP_HAVE_CLONES
#define MOAT_FASTEXP_MADD(a, b, c) fma(a, b, c)
#else
#define MOAT_FASTEXP_MADD(a, b, c) ((a) * (b) + (c))
#endif

/* 1 if the sign bit of x is set, else 0. */
MOAT_FASTEXP_INLINE uint64_t moat_fastexp_sign_(double x) {
  return moat_fastexp_bits_(x) >> 63;
}

/* exp(xc)·2^-big for xc in [MOAT_FASTEXP_MIN, MOAT_FASTEXP_MAX] and big = 1 if round(xc/ln2)
 * is 1024, else 0 (the caller multiplies by 2 then); meaningless bits outside, which the callers
 * replace. With with_big 0 big is taken as 0 and not
 * computed (three operations fewer): exact only where round(xc/ln2) <= 1023, xc <= 709.43.
 * The range reduction uses MOAT_FASTEXP_MADD too: x·log2e + shift rounded once gives n (an
 * integer either way), and r = (x - n·LN2_HI) - n·LN2_LO as two fused steps, the first exact as
 * before, the second rounded once instead of twice (three operations fewer than separate
 * products and sums, and r no less accurate). */
MOAT_FASTEXP_INLINE double moat_fastexp_core_(double xc, uint64_t *big, int with_big) {
  /* 1.5·2^52 + 1023: adding it rounds to an integer in the low bits of the mantissa, and those
   * bits then hold n + 1023, the biased exponent of 2^n, ready to be shifted into place */
  const double shift = 0x1.8p52 + 1023.0;
  const double log2e = 0x1.71547652b82fep+0;
  const double ln2_hi = 0x1.62e42fee00000p-1;
  const double ln2_lo = 0x1.a39ef35793c76p-33;
  double t = MOAT_FASTEXP_MADD(xc, log2e, shift);
  double n = t - shift; /* round(x / ln 2), exact integer */
  double r = MOAT_FASTEXP_MADD(-n, ln2_lo, MOAT_FASTEXP_MADD(-n, ln2_hi, xc));
  double q = 0x1.af389eeb9e5e9p-26; /* near-minimax on |r| <= ln2/2 (Chebyshev fit), see above */
  q = MOAT_FASTEXP_MADD(q, r, 0x1.28917ca046b86p-22);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.71de0db2eafc6p-19);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.a019b9148739fp-16);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.a01a01a7c2f2ep-13);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.6c16c17889f40p-10);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.11111111109b5p-7);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.5555555553d68p-5);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.5555555555556p-3);
  q = MOAT_FASTEXP_MADD(q, r, 0x1.0000000000001p-1);
  double p = MOAT_FASTEXP_MADD(MOAT_FASTEXP_MADD(q, r, 1.0), r, 1.0); /* 1 + r (1 + r q) */
  *big = with_big ? moat_fastexp_sign_(1023.5 - n) : 0u;
  /* bits(t) = 0x4338000000000000 + 1023 + n, whose low 12 bits shifted left by 52 are the
   * exponent field of 2^n (of 2^(n-1) with big); the high bits shift out. */
  uint64_t e = (moat_fastexp_bits_(t) - *big) << 52;
  return p * moat_fastexp_double_(e);
}

/*
 * moat_fastexp_pick(cond, a, b) = cond ? a : b for code in vectorized loops: a mask made from the
 * comparison taken as a value (0 or 1, then all zeros or all ones) and bitwise operations, which
 * the vectorizer turns into a vector compare and logic on every level. GCC vectorizes `?:` on
 * AVX-512, whose compares write mask registers, but on AVX2 turned several into branches and left
 * their loops scalar (the exp's special cases, fastlog's reduction, the pass's divisions and the
 * nested log-sums).
 */
MOAT_FASTEXP_INLINE double moat_fastexp_pick(int cond, double a, double b) {
  uint64_t m = 0u - (uint64_t)cond;
  return moat_fastexp_double_((moat_fastexp_bits_(a) & m) | (moat_fastexp_bits_(b) & ~m));
}

/*
 * The special cases with moat_fastexp_pick: the core runs on x as it is, and where x < MIN
 * (-INFINITY included) its result is replaced by +0, where x > MAX by +INFINITY. A NaN fails both
 * comparisons, goes through the core and comes out NaN (a NaN times 2^n). With `?:` and x
 * clamped before the core, the AVX2 clone's exp loop was scalar (bench_kernel at LEVEL=3: 3.1e8
 * against 1.2e9 exps / s).
 */
MOAT_FASTEXP_INLINE double moat_fastexp(double x) {
  uint64_t big;
  double y = moat_fastexp_core_(x, &big, 1);
  /* 2^1024 overflows: for n = 1024 the core gave exp(x)/2 */
  y *= moat_fastexp_double_(moat_fastexp_bits_(1.0) + (big << 52));
  y = moat_fastexp_pick(x < MOAT_FASTEXP_MIN, 0.0, y);
  return moat_fastexp_pick(x > MOAT_FASTEXP_MAX, INFINITY, y);
}

/*
 * moat_fastexp for x <= 0 (and NaN), as in logit shares after the row maximum is subtracted:
 * the same results there, with the overflow handling left out (about a quarter fewer operations).
 * It is also exact for 0 < x <= 709.43, and wrong above: keep to the domain.
 */
MOAT_FASTEXP_INLINE double moat_fastexp_nonpos(double x) {
  uint64_t big;
  double y = moat_fastexp_core_(x, &big, 0);
  return moat_fastexp_pick(x < MOAT_FASTEXP_MIN, 0.0, y);
}

/*
 * ln(x) for a normal x > 0 (the nested logit's log-sums, MODEL.md §5; the caller handles 0),
 * with the same operations on every x86-64 level (no libm call: glibc picks its own log by
 * processor, which would break the bitwise agreement of the kernel's clones).
 * Method (as in fdlibm's e_log.c, without its table): x = 2^k·m with m in [sqrt(1/2), sqrt(2)),
 * f = (m - 1)/(m + 1), ln m = 2 atanh f = 2 (f + f^3/3 + ... + f^23/23); |f| <= 0.1716, so
 * the first term left out, 2 f^25/25, is below 4e-19 relative; ln x = k ln 2 + ln m with ln 2 in
 * two parts (k ln2_hi exact). Within a few eps of libm's log (tests/test_choice.c measures it).
 */
MOAT_FASTEXP_INLINE double moat_fastlog_pos(double x) {
  const double ln2_hi = 0x1.62e42fee00000p-1;
  const double ln2_lo = 0x1.a39ef35793c76p-33;
  uint64_t xb = moat_fastexp_bits_(x);
  /* the exponent field as a double without an integer conversion (which AVX2 lacks): the bits
   * of 2^52 + e, minus 2^52 */
  double k = (moat_fastexp_double_(UINT64_C(0x4330000000000000) | (xb >> 52)) - 0x1p52) - 1023.0;
  double m = moat_fastexp_double_((xb & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000));
  double big = moat_fastexp_pick(m > 0x1.6a09e667f3bcdp+0, 1.0, 0.0); /* m >= sqrt(2): m/2, k + 1 */
  m *= 1.0 - 0.5 * big;
  k += big;
  double f = (m - 1.0) / (m + 1.0), z = f * f;
  double q = 1.0 / 23.0;
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 21.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 19.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 17.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 15.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 13.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 11.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 9.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 7.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 5.0);
  q = MOAT_FASTEXP_MADD(q, z, 1.0 / 3.0);
  double lnm = MOAT_FASTEXP_MADD(2.0 * f, z * q, 2.0 * f);
  return MOAT_FASTEXP_MADD(k, ln2_hi, MOAT_FASTEXP_MADD(k, ln2_lo, lnm)); /* k ln2_hi exact */
}

#endif
