/* inversion.c — normal and Beta quantile functions for draws by inversion (MODEL.md §3, §9). */
#include "moatsim/inversion.h"

#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_gamma.h>

double moat_normal_quantile(double u) { return gsl_cdf_ugaussian_Pinv(u); }

/* Continued fraction of I_x(a, b) by the modified Lentz method (Numerical Recipes 3rd ed.,
 * §6.4, betacf); converges fast for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  double qab = a + b, qap = a + 1.0, qam = a - 1.0, c = 1.0, d = 1.0 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 100000; m++) {
    double m2 = 2.0 * m, aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < eps) break;
  }
  return h;
}

/* ln I_x(a, b) given ln B(a, b). */
static double log_beta_cdf(double x, double a, double b, double lnbeta) {
  double front = a * log(x) + b * log1p(-x) - lnbeta;
  if (x < (a + 1.0) / (a + b + 2.0)) return front + log(beta_cf(a, b, x)) - log(a);
  return log1p(-exp(front + log(beta_cf(b, a, 1.0 - x)) - log(b)));
}

double moat_log_beta_cdf(double x, double a, double b) {
  return log_beta_cdf(x, a, b, gsl_sf_lnbeta(a, b));
}

/* The lower half: x with I_x(a, b) = u for u <= 1/2, solved for y = ln x. */
static double beta_lower_quantile(double u, double a, double b) {
  const double lnb = gsl_sf_lnbeta(a, b), lnu = log(u);
  double lo = -746.0, hi = 0.0; /* ln of the smallest subnormal, ln 1 */
  /* Near 0, I_x ~ x^a / (a B): exact for a power law, and Newton in ln x is exact there. */
  double y = fmin((lnu + log(a) + lnb) / a, log(a / (a + b)));
  if (!(y > lo)) y = 0.5 * lo;
  for (int k = 0; k < 200; k++) {
    double x = exp(y), lni = log_beta_cdf(x, a, b, lnb), h = lni - lnu;
    if (h > 0.0) hi = y;
    else lo = y;
    double slope = exp(a * y + (b - 1.0) * log1p(-x) - lnb - lni); /* d ln I / d ln x */
    double next = y - h / slope;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    double step = fabs(next - y);
    y = next;
    if (step <= 1e-15 * (1.0 + fabs(y)) || hi - lo <= 1e-15 * (1.0 + fabs(y))) break;
  }
  return exp(y);
}

double moat_beta_quantile(double u, double a, double b) {
  if (!(u > 0.0)) return 0.0;
  if (a == 1.0) return -expm1(log1p(-u) / b); /* I_x(1, b) = 1 - (1 - x)^b */
  if (b == 1.0) return exp(log(u) / a);       /* I_x(a, 1) = x^a */
  /* The upper half by symmetry, I_x(a, b) = 1 - I_{1-x}(b, a), so that both tails are solved
   * where the incomplete beta is small and precise. */
  if (u <= 0.5) return beta_lower_quantile(u, a, b);
  return 1.0 - beta_lower_quantile(1.0 - u, b, a);
}

double moat_beta_mean_quantile(double u, double mean, double concentration) {
  double a = mean * concentration, b = (1.0 - mean) * concentration;
  if (a <= 0.0 || b <= 0.0) return mean;
  return moat_beta_quantile(u, a, b);
}
