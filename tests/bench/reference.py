"""reference.py — the market model's pricing step and whole path in plain, vectorized NumPy.

A second implementation of MODEL.md §4–§8, written the way a researcher would write it (arrays of
enterprise-segment rows by offers, matrix products for the aggregates), independent of the C code
except for one thing: it consumes the random draws that the C path took, recovered by
tests/bench/dump_state (the parameters, the drawn enterprise attributes, the shock draws of each
step and the uniforms of reviews and adoption). It serves
  - as the differential test of the C model (tests/python/test_reference.py): on the same state
    and draws, prices, shares and metrics agree to 1e-8 relative;
  - as the peer of the C code in `make bench`: paths per second on one core.

usage: python3 reference.py DUMP.json [--repeat K]
  runs the dumped path K times (default 1) and prints `name value unit` lines: the CPU time of
  the fastest run and the largest relative difference from the C results.
"""
import json
import math
import sys
import time
from statistics import NormalDist

import numpy as np
from scipy.special import betaincinv

CLOSED, OPEN = "closed", "open"
FLAGSHIP, MINI, FIRST_PARTY, CLOUD, LOCAL = range(5)
GAP_MIN, GAP_MAX = 1e-4, 0.9
FCF_WINDOW = 3
DBL_MIN = np.finfo(float).tiny


def load_dump(path):
    with open(path) as f:
        return json.load(f)


def parse_params(params):
    """Values as `moatsim params` spells them (libconfig syntax) into Python values."""
    out = {}
    for key, text in params.items():
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


class Scenario:
    """The parameters of one scenario, read from the dump's `params`, `labs` and `clouds`."""

    def __init__(self, dump):
        p = parse_params(dump["params"])
        self.p = p
        self.labs = dump["labs"]
        self.clouds = dump["clouds"]
        self.restricted_origins = set(dump["restricted_origins"])
        self.spy = int(p["steps_per_year"])
        self.dt = 1.0 / self.spy
        self.steps = int(math.floor(p["horizon_years"] * self.spy + 0.5))
        self.horizon = p["horizon_years"]

    def __getitem__(self, key):
        return self.p[key]

    def lab(self, l, key, default=0.0):
        return self.p.get("labs.%s.%s" % (self.labs[l]["name"], key), default)

    def cloud(self, k, key):
        return self.p["clouds.%s.%s" % (self.clouds[k], key)]


# ---- offers (MODEL.md §2, §5) ------------------------------------------------------------

class Offers:
    """Offer table: closed labs' flagship and mini, then per open lab its first-party API, one
    offer per cloud and a local offer. Sellers: closed labs, open first-party APIs, clouds."""

    def __init__(self, sc):
        kind, lab, cloud, seller, factor, expo, bonus, speed = [], [], [], [], [], [], [], []

        def add(k, l, c, s, cf, x):
            kind.append(k), lab.append(l), cloud.append(c), seller.append(s), factor.append(cf)
            expo.append(x)
            bonus.append(sc.lab(l, "ecosystem_bonus") if sc.labs[l]["kind"] == CLOSED else 0.0)
            speed.append(math.log(sc.cloud(c, "speed")) if c >= 0 else 0.0)
            return len(kind) - 1

        L = len(sc.labs)
        self.flagship, self.mini = [-1] * L, [-1] * L
        self.first_party, self.local = [-1] * L, [-1] * L
        s = 0
        for l, info in enumerate(sc.labs):
            if info["kind"] != CLOSED:
                continue
            x, c = 1.0 + sc.lab(l, "hosting_risk"), sc.lab(l, "serve_cost_per_mtok")
            self.flagship[l] = add(FLAGSHIP, l, -1, s, c, x)
            self.mini[l] = add(MINI, l, -1, s, c * sc.lab(l, "mini_cost_factor"), x)
            s += 1
        n_open = sum(info["kind"] == OPEN for info in sc.labs)
        first_cloud = s + n_open
        for l, info in enumerate(sc.labs):
            if info["kind"] != OPEN:
                continue
            c = sc.lab(l, "serve_cost_per_mtok")
            self.first_party[l] = add(FIRST_PARTY, l, -1, s, c, 1.0 + sc.lab(l, "hosting_risk"))
            s += 1
            for k in range(len(sc.clouds)):
                add(CLOUD, l, k, first_cloud + k, c * sc.cloud(k, "cost_factor"), 1.0)
            self.local[l] = add(LOCAL, l, -1, -1, 0.0, 0.0)
        self.n_sellers = first_cloud + len(sc.clouds)
        self.kind, self.lab, self.cloud = np.array(kind), np.array(lab), np.array(cloud)
        self.seller, self.cost_factor = np.array(seller), np.array(factor)
        self.exposure, self.bonus, self.log_speed = np.array(expo), np.array(bonus), np.array(speed)
        self.hosted = (self.kind == CLOUD) | (self.kind == LOCAL)
        self.restricted = np.array([sc.labs[l]["origin"] in sc.restricted_origins for l in lab])
        self.n = len(kind)
        # owner[j, f] = 1 if seller f sells offer j (local offers: no seller)
        self.owner = np.zeros((self.n, self.n_sellers))
        owned = self.seller >= 0
        self.owner[np.nonzero(owned)[0], self.seller[owned]] = 1.0
        # nests (MODEL.md §5): an open model's offers share its lab's nest; a closed offer is
        # alone; numbered in order of their first offer
        first = {}
        self.nest = np.array([first.setdefault(("open", l) if sc.labs[l]["kind"] == OPEN else ("offer", j), len(first))
                              for j, l in enumerate(lab)])
        self.n_nests = len(first)
        self.host_nest = np.array([key[0] == "open" for key in first])

    def nests(self, sc, outside):
        """(nest per column, lambda per nest) with the outside option's column (a nest of its own)
        when outside; lambda_g = 1 - enterprises.host_similarity for an open model's nest."""
        sigma = sc.p.get("enterprises.host_similarity", 0.0)
        lam = np.where(self.host_nest, 1.0 - sigma, 1.0)
        if outside:
            return np.append(self.nest, self.n_nests), np.append(lam, 1.0)
        return self.nest, lam

    def update(self, sc, q_lab, cost_index, local_cost, local_penalty):
        """Quality (without fine-tuning gains) and cost of each offer; cost grows with the offer's
        own model quality as exp(beta (q_j(t) - q_j(0))) (a mini's is (1 - gap) q, a local copy
        uses its model's quality)."""
        q = np.asarray(q_lab)[self.lab].astype(float)
        q0 = np.array([sc.lab(l, "quality") for l in self.lab])
        mini_gap = np.array([sc.lab(l, "mini_quality_gap") for l in self.lab])
        quality = np.where(self.kind == MINI, q * (1.0 - mini_gap),
                           np.where(self.kind == LOCAL, q * (1.0 - local_penalty), q))
        dq = np.where(self.kind == MINI, (q - q0) * (1.0 - mini_gap), q - q0)
        cost = np.where(self.kind == LOCAL, local_cost, self.cost_factor * cost_index)
        cost = cost * np.exp(sc["price_compression.cost_per_quality_point"] * dq)
        return quality, cost


def utility_base(sc, ot, ent, quality, frontier, offer_active, adopted):
    """base[r, j] = u_rj / tau_r + alpha_r p_j for rows r = 2 i + s (hard, routine);
    -inf where offer j is infeasible for enterprise i."""
    rho = sc["enterprises.taste_dispersion"]
    eta = np.array([sc["enterprises.gap_sensitivity_hard"], sc["enterprises.gap_sensitivity_routine"]])
    qterm = (1.0 + ot.bonus)[None, :] * np.exp(-eta[:, None] * (frontier - quality)[None, :] / frontier) / rho
    gain = np.exp(eta[None, :] * ent["finetune"][:, None] / frontier)          # [i, s]
    mult = np.where(ot.hosted[None, None, :], gain[:, :, None], 1.0)           # [i, s, j]
    priv = ent["privacy"][:, None] * (ot.exposure * sc["enterprises.privacy_weight"] / rho)[None, :]
    speed = sc["enterprises.speed_value"] * ot.log_speed / rho
    base = qterm[None, :, :] * mult - priv[:, None, :] + speed[None, None, :]
    ok = (offer_active[None, :] & ~(ent["restricted"][:, None] & ot.restricted[None, :])
          & ((ot.kind != LOCAL)[None, :] | adopted[:, None]))
    base = np.where(ok[:, None, :], base, -np.inf)
    return base.reshape(-1, ot.n)


# ---- choice and prices (MODEL.md §5, §6) --------------------------------------------------

def logit_shares(base, alpha, price):
    """s[r, j] = exp(u_rj / tau_r) / sum_k exp(u_rk / tau_r), row maximum subtracted."""
    u = base - alpha[:, None] * price[None, :]
    mx = u.max(axis=1, keepdims=True)
    mx[~np.isfinite(mx)] = 0.0
    e = np.exp(u - mx)
    tot = e.sum(axis=1, keepdims=True)
    return np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)


def nested_shares(base, alpha, price, nests):
    """Nested logit (MODEL.md §5): (s, s_j|g, s_g) for nests = (nest per column, lambda per nest),
    stably: V/lambda shifted by each nest's maximum, the log-sums by their row maximum."""
    nest, lam = nests
    u = base - alpha[:, None] * price[None, :]
    v = u * (1.0 / lam)[nest][None, :]
    G = len(lam)
    nm = np.stack([v[:, nest == g].max(axis=1) if np.any(nest == g) else np.full(len(v), -np.inf)
                   for g in range(G)], axis=1)
    nm[~np.isfinite(nm)] = 0.0
    e = np.exp(v - nm[:, nest])
    inc = np.stack([e[:, nest == g].sum(axis=1) for g in range(G)], axis=1)
    with np.errstate(divide="ignore"):
        L = np.where(inc > 0, lam[None, :] * (nm + np.log(np.where(inc > 0, inc, 1.0))), -np.inf)
    Lmax = L.max(axis=1, keepdims=True)
    Lmax[~np.isfinite(Lmax)] = 0.0
    w = np.exp(L - Lmax)
    tot = w.sum(axis=1, keepdims=True)
    sg = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)
    cond = np.divide(e, inc[:, nest], out=np.zeros_like(e), where=inc[:, nest] > 0)
    return cond * sg[:, nest], cond, sg


def is_nested(nests):
    return nests is not None and bool(np.any(nests[1] < 1.0))


def choice_shares(base, alpha, price, nests=None):
    """Logit shares, nested when some lambda < 1 (the C kernel runs plain logit otherwise)."""
    return nested_shares(base, alpha, price, nests)[0] if is_nested(nests) else logit_shares(base, alpha, price)


def nest_groups(nests, seller):
    """One-hot [column, group] of the (seller, nest) groups, kappa per column, and cross[j, i]: the
    group of (seller of j, nest of i), or -1 (MODEL.md §6, sim/model/pricing_zeta.c "Nests")."""
    nest, lam = nests
    keys = {}
    grp = np.array([keys.setdefault((seller[j], nest[j]), len(keys)) for j in range(len(nest))])
    onehot = np.zeros((len(nest), len(keys)))
    onehot[np.arange(len(nest)), grp] = 1.0
    cross = np.array([[keys.get((seller[j], nest[i]), -1) for i in range(len(nest))] for j in range(len(nest))])
    kappa = ((1.0 - lam) / lam)[nest]
    return onehot, kappa, cross


def nested_terms(b, a, wa, p, cost, seller, owner, nests):
    """Shares and the per-row markup sums of the generalized zeta map: M_{r,f(j)} and
    N_{r,f(j),g(j)} = sum over j's (seller, nest) group of s_k|g (p_k - c_k)."""
    s, cond, _ = nested_shares(b, a, p, nests)
    markup = np.where(seller >= 0, p - cost, 0.0)
    onehot, kappa, cross = nest_groups(nests, seller)
    m_of = (s @ (owner * markup[:, None])) @ owner.T
    n_grp = cond @ (onehot * markup[:, None])
    return s, cond, markup, m_of, n_grp, onehot, kappa, cross


def zeta_terms(b, a, w, wa, p, cost, seller, owner, nests=None):
    """(S, Lambda, sum_{k in J_f(j)} Gamma_kj (p_k - c_k)) of MODEL.md §6, nested when some
    lambda < 1."""
    if not is_nested(nests):
        s = logit_shares(b, a, p)
        markup = np.where(seller >= 0, p - cost, 0.0)
        m_seller = s @ (owner * markup[:, None])          # [r, f]: sum_{k in f} s_rk (p_k - c_k)
        return w @ s, wa @ s, wa @ (s * (m_seller @ owner.T))
    s, cond, markup, m_of, n_grp, onehot, kappa, _ = nested_terms(b, a, wa, p, cost, seller, owner, nests)
    inv_lam = (1.0 / nests[1])[nests[0]]
    return w @ s, (wa @ s) * inv_lam, wa @ (s * (m_of + kappa[None, :] * (n_grp @ onehot.T)))


def nested_jacobian(b, a, w, wa, p, cost, seller, owner, nests):
    """jac[j, i] = dFOC_j/dp_i of the nested first-order conditions (sim/model/pricing_zeta.c,
    block_jacobian_nested), and Lambda."""
    s, cond, markup, m_of, n_grp, onehot, kappa, cross = nested_terms(b, a, wa, p, cost, seller, owner, nests)
    inv_lam = (1.0 / nests[1])[nests[0]]
    n_of = n_grp @ onehot.T                                 # [r, j]: N_{r, f(j), g(j)}
    am = a[:, None] * markup[None, :] * inv_lam[None, :]
    psi = 1.0 - am + a[:, None] * m_of + a[:, None] * kappa[None, :] * n_of
    c = wa[:, None] * s
    A = c * (psi + a[:, None] * m_of)
    B = c * kappa[None, :] * (psi + a[:, None] * n_of * inv_lam[None, :])
    D = c * (psi + 1.0) * inv_lam[None, :]
    t = 1.0 - am
    same_n = (nests[0][:, None] == nests[0][None, :]).astype(float)
    same_f = ((seller[:, None] == seller[None, :]) & (seller[:, None] >= 0)).astype(float)
    n_ext = np.hstack([n_grp, np.zeros((len(n_grp), 1))])
    ncross = n_ext[:, cross]                                # [r, j, i]: N_{r, f(j), g(i)}
    jac = (A.T @ s + same_n * (B.T @ cond) + same_f * (c.T @ (s * t))
           + same_n * same_f * kappa[:, None] * (c.T @ (cond * t))
           + np.einsum("rj,r,i,ri,rji->ji", c, a, kappa, s, ncross))
    jac -= np.diag(D.sum(axis=0))
    return jac, (wa @ s) * inv_lam


# Anderson acceleration as in the C solver (sim/model/pricing_solve.c): differences of the last AA_DEPTH
# iterates, started once the plain map moves no price by more than AA_START relative (so that
# the plain iteration's dynamics choose among several solutions of the first-order conditions),
# for at most AA_PATIENCE iterations, its history dropped whenever the relative change grows.
AA_DEPTH = 6
AA_START = 0.1
AA_PATIENCE = 60
# Newton steps on the first-order conditions once the map moves no price by NEWTON_START or more
# relative, if the plain map contracts there (sim/model/pricing_solve.c): chord steps with a fresh Jacobian
# when a step cuts the change by less than CHORD_GAIN, a step that does not reduce the change
# undone, another phase once the change has fallen NEWTON_REARM below where one failed, at most
# NEWTON_MAX_JAC Jacobians a solve, and no step moving a price by more than NEWTON_TRUST times the
# change.
NEWTON_START = 1e-3
CHORD_GAIN = 0.1
NEWTON_MAX_JAC = 4
NEWTON_REARM = 0.25
NEWTON_TRUST = 1000.0


def zeta_map(b, a, w, wa, p, cost, seller, owner, priced, nests=None):
    """g(p) = c + (S + sum_{k in J_f} Gamma_k. (p_k - c_k)) / Lambda for priced offers."""
    demand, lam, gam = zeta_terms(b, a, w, wa, p, cost, seller, owner, nests)
    with np.errstate(divide="ignore", invalid="ignore"):
        update = cost + (demand + gam) / lam  # Lambda_j = 0: nobody can buy j, keep its price
    return np.where(priced & np.isfinite(update), np.maximum(update, 0.0), p)


def plain_map_contracts(jac_s):
    """Whether the plain zeta map, whose Jacobian near a fixed point is I + jac_s, contracts there:
    the bound ||A^128||^(1/128) >= spectral radius (infinity norm, A squared 7 times and rescaled),
    as in sim/model/pricing_solve.c, is below 1."""
    A, log_scale = np.eye(len(jac_s)) + jac_s, 0.0
    for k in range(8):
        if k:
            A, log_scale = A @ A, 2.0 * log_scale
        norm = np.abs(A).sum(axis=1).max()
        if norm == 0.0:
            return True
        if not np.isfinite(norm):
            return False
        A, log_scale = A / norm, log_scale + math.log(norm)
    return log_scale < 0.0


def newton_matrix(b, a, w, wa, p, cost, seller, owner, priced, nests):
    """(offers in the system, J) for Newton steps on F_j = (dProfit_f / dp_j) / Lambda_j (= g_j(p) - p_j
    before clamping) over the priced offers someone can buy, J = dF/dp at p (nested logit:
    nested_jacobian; plain logit: LogitZeta.matrix); None when nothing can be bought or the plain
    map does not contract at p."""
    jac, lam = nested_jacobian(b, a, w, wa, p, cost, seller, owner, nests)
    return contracting_system(jac, lam, priced)


def contracting_system(jac, lam, priced):
    """The Newton system of newton_matrix from the Jacobian of the first-order conditions."""
    sys_ = priced & (lam > 0)
    if not sys_.any():
        return None
    jac_s = jac[np.ix_(sys_, sys_)] / lam[sys_, None]
    return (sys_, jac_s) if plain_map_contracts(jac_s) else None


def newton_step(b, a, w, wa, p, cost, seller, owner, system, rel, nests=None):
    """p + dp, J dp = -F(p), with the J of newton_matrix from the last Jacobian (chord method);
    None when an offer of the system can no longer be bought, J is singular, or a price would not
    be finite and positive or would move by more than NEWTON_TRUST * rel relative."""
    demand, lam, gam = zeta_terms(b, a, w, wa, p, cost, seller, owner, nests)
    return newton_update(p, demand, lam, gam, np.where(seller >= 0, p - cost, 0.0), system, rel)


def newton_update(p, demand, lam, gam, markup, system, rel):
    """newton_step from the zeta terms at p."""
    sys_, jac_s = system
    if not np.all(lam[sys_] > 0):
        return None
    foc = (demand[sys_] + gam[sys_]) / lam[sys_] - markup[sys_]
    try:
        dp = np.linalg.solve(jac_s, -foc)
    except np.linalg.LinAlgError:
        return None
    new = p.copy()
    new[sys_] = p[sys_] + dp
    ok = np.isfinite(new[sys_]) & (new[sys_] > 0) & ~(np.abs(dp) > NEWTON_TRUST * rel * p[sys_])
    return new if np.all(ok) else None


def anderson(hist_f, hist_g, priced):
    """Type-II Anderson step (Walker & Ni 2011) from the residuals f = g(p) - p and maps g(p) of
    the last iterates: gamma minimizes || f_k - dF gamma || weighted by 1 / g(p_k) (relative, like
    the stopping rule); returns g(p_k) - dG gamma, or None when that is not usable."""
    f, g = hist_f[-1], hist_g[-1]
    dF, dG = np.diff(np.array(hist_f), axis=0), np.diff(np.array(hist_g), axis=0)
    w = np.where(priced, 1.0 / g ** 2, 0.0)
    try:
        gamma = np.linalg.solve((dF * w) @ dF.T, (dF * w) @ f)
    except np.linalg.LinAlgError:
        return None
    p = g - gamma @ dG
    return p if np.all(np.isfinite(gamma)) and np.all(~priced | (np.isfinite(p) & (p > 0))) else None


class LogitZeta:
    """The zeta map, its terms and the Newton matrix of plain logit (MODEL.md §6) as a NumPy
    programmer lays them out for speed: offers on the first axis (arrays [offer, row], so the
    reductions over offers run along contiguous rows), exponentials in place in preallocated
    buffers, S, Lambda and the seller sums from one matrix product, and the shares, S, Lambda and
    Gamma of the last map evaluation reused by the Newton matrix and step at the same prices.
    Same arithmetic as zeta_terms / newton_matrix (the plain versions, kept for the tests'
    cross-checks), summed in another order: results agree to rounding."""

    def __init__(self, b, a, w, wa, cost, seller, owner, priced):
        self.bT = np.ascontiguousarray(b.T)                  # [j, r]
        self.a, self.wa, self.aw = a, wa, wa * a
        self.cost, self.seller, self.owner, self.priced = cost, seller, owner, priced
        F = owner.shape[1]
        self.rhs = np.empty((2 + F, len(a)))                 # [w; W a; W a M_f] a row each
        self.rhs[0], self.rhs[1] = w, wa
        self.s = np.empty_like(self.bT)
        self.mx = np.empty(len(a))
        self.p = None

    def shares(self, p):
        """s[j, r], in self.s."""
        s = self.s
        np.multiply(p[:, None], self.a[None, :], out=s)
        np.subtract(self.bT, s, out=s)
        s.max(axis=0, out=self.mx)  # every row has a feasible offer (solve_prices keeps those)
        s -= self.mx
        np.exp(s, out=s)
        s /= s.sum(axis=0)
        return s

    def terms(self, p):
        """(S, Lambda, Gamma-sum, markup) at p, the shares left in self.s."""
        s = self.shares(p)
        markup = np.where(self.seller >= 0, p - self.cost, 0.0)
        m = self.rhs[2:]
        np.matmul((self.owner * markup[:, None]).T, s, out=m)   # M[f, r] = sum_{k in f} s_kr m_k
        self.m = m.copy()
        m *= self.wa
        out = self.rhs @ s.T                                   # [2 + F, j]: one product
        gam = (out[2:].T * self.owner).sum(axis=1)
        self.p, self.demand, self.lam, self.gam, self.markup = p, out[0], out[1], gam, markup
        return self.demand, self.lam, gam

    def map(self, p):
        demand, lam, gam = self.terms(p)
        with np.errstate(divide="ignore", invalid="ignore"):
            update = self.cost + (demand + gam) / lam  # Lambda_j = 0: keep p_j, as zeta_map
        return np.where(self.priced & np.isfinite(update), np.maximum(update, 0.0), p)

    def matrix(self, p):
        """newton_matrix at p for plain logit, from the shares of the map evaluated at p: J from
        the logit derivatives ds_kr/dp_i = -a_r s_kr (delta_ki - s_ir), assembled from matrix
        products."""
        if self.p is not p:
            self.terms(p)
        s, aw, markup, lam = self.s, self.aw, self.markup, self.lam
        m_of = self.owner @ self.m                               # [j, r]: M_{f(j), r}
        sw = s * self.wa
        gamma = sw @ s.T
        swa = s * aw
        g2 = swa @ s.T
        jac = gamma - markup[:, None] * g2 + 2.0 * (swa * m_of) @ s.T
        jac += (self.owner @ self.owner.T) * (gamma - markup[None, :] * g2)
        jac[np.diag_indices_from(jac)] += -2.0 * lam + markup * (swa.sum(axis=1)) - (swa * m_of).sum(axis=1)
        return contracting_system(jac, lam, self.priced)

    def step(self, p, system, rel):
        """newton_step at p, from the terms of the map evaluated at p."""
        if self.p is not p:
            self.terms(p)
        return newton_update(p, self.demand, self.lam, self.gam, self.markup, system, rel)


class NestedZeta:
    """The same interface over the nested-logit functions above ([row, offer] layout)."""

    def __init__(self, b, a, w, wa, cost, seller, owner, priced, nests):
        self.args, self.tail, self.nests = (b, a, w, wa), (cost, seller, owner), nests
        self.priced = priced

    def map(self, p):
        return zeta_map(*self.args, p, *self.tail, self.priced, self.nests)

    def matrix(self, p):
        return newton_matrix(*self.args, p, *self.tail, self.priced, self.nests)

    def step(self, p, system, rel):
        return newton_step(*self.args, p, *self.tail, system, rel, self.nests)


def solve_prices(base, alpha, weight, cost, seller, owner, fixed, price, tol, max_iter, nests=None):
    """Multi-product Bertrand-Nash prices by the zeta fixed point of Morrow & Skerlos (2011),
        p_j <- c_j + (S_j + sum_{k in J_f(j)} Gamma_kj (p_k - c_k)) / Lambda_j,
    accelerated (Anderson, see AA_DEPTH) and finished with Newton steps (see NEWTON_START; each
    counts as one iteration, as in C), stopping when the map moves no price by tol relative and
    returning g(p); after max_iter iterations damped (p += (g(p) - p) / 2) for up to max_iter more.
    nests: (nest per column, lambda per nest) for nested logit (MODEL.md §5-6), or None.
    Returns (prices, iterations, converged)."""
    rows = (weight > 0) & np.isfinite(base).any(axis=1)
    args = (base[rows], alpha[rows], weight[rows], weight[rows] * alpha[rows])
    priced = (seller >= 0) & ~fixed
    zeta = (NestedZeta(*args, cost, seller, owner, priced, nests) if is_nested(nests)
            else LogitZeta(*args, cost, seller, owner, priced))
    p, it = price.copy(), 0
    hist_f, hist_g, last_rel, aa_iterations = [], [], math.inf, 0
    newton = jac = False
    newton_steps, n_jac, rearm, prev_rel, system, saved = 0, 0, NEWTON_START, math.inf, None, None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for it in range(1, 2 * max_iter + 1):
            g = zeta.map(p)
            if it > max_iter:  # damped
                new = p + 0.5 * (g - p)
                change = np.max(np.abs(new - p) / np.maximum(new, DBL_MIN))
                p = new
                if change < tol:
                    break
                continue
            rel = np.max(np.abs(g - p) / np.maximum(g, DBL_MIN))
            if rel < tol:
                return g, it, True
            if newton:
                worse = newton_steps > 0 and not rel < last_rel
                if worse:  # the last Newton step did not reduce the change: undo it
                    p, g = saved
                    rel, last_rel = last_rel, prev_rel
                else:
                    if jac:  # this pass's Jacobian (and the contraction test)
                        system = zeta.matrix(p)
                    if not jac or system is not None:
                        saved = (p, g)
                        step = zeta.step(p, system, rel)
                        if step is not None:
                            jac = newton_steps > 0 and rel > CHORD_GAIN * last_rel and n_jac < NEWTON_MAX_JAC
                            n_jac += jac
                            newton_steps += 1
                            prev_rel, last_rel, p = last_rel, rel, step
                            continue
                # back to the accelerated map, at the point before the failed step (its history
                # is stale if earlier Newton steps moved away from the point it was built at)
                if newton_steps > 1 or (newton_steps == 1 and not worse):
                    hist_f, hist_g = [], []
                newton = jac = False
                newton_steps, rearm = 0, rel * NEWTON_REARM
            accelerate = rel <= AA_START
            if accelerate:
                aa_iterations += 1
                accelerate = aa_iterations <= AA_PATIENCE
            if rel > last_rel or not accelerate:  # the history no longer helps
                hist_f, hist_g = [], []
            last_rel = rel
            if not accelerate:
                p = g
            else:
                hist_f, hist_g = (hist_f + [g - p])[-AA_DEPTH - 1:], (hist_g + [g])[-AA_DEPTH - 1:]
                accelerated = anderson(hist_f, hist_g, priced) if len(hist_f) > 1 else None
                if accelerated is None and len(hist_f) > 1:
                    hist_f, hist_g = [], []
                p = g if accelerated is None else accelerated
            newton = jac = rel < rearm and n_jac < NEWTON_MAX_JAC  # the next pass: a Jacobian
            n_jac += jac
    return p, it, False


# ---- shock processes (MODEL.md §4), from the dumped draws ----------------------------------

def gap_step(x, x_inf, kappa, sigma, dt, z):
    if kappa == 0.0:
        return x + sigma * math.sqrt(dt) * z
    return x_inf + (x - x_inf) * math.exp(-kappa * dt) + sigma * math.sqrt(-math.expm1(-2 * kappa * dt) / (2 * kappa)) * z


def clamp_log_gap(x):
    return min(max(x, math.log(GAP_MIN)), math.log(GAP_MAX))


class Processes:
    def __init__(self, sc):
        self.sc = sc
        self.closed = np.array([lab["kind"] == CLOSED for lab in sc.labs])
        self.q = np.array([sc.lab(l, "quality") for l in range(len(sc.labs))], dtype=float)
        self.frontier = self.front(np.ones(len(sc.labs), bool), 0.0)
        self.log_gap = clamp_log_gap(math.log(sc["quality_gap.initial"]))
        self.war_active, self.war_started, self.war_lab, self.war_end, self.war_depth = False, False, -1, 0, 0.0
        self.changed = False

    def front(self, active, previous):
        cand = self.q[self.closed & active]
        return cand.max() if len(cand) else previous

    def step(self, n, active, distressed, d):
        sc, dt = self.sc, self.sc.dt
        before = self.frontier
        self.frontier = self.front(active, self.frontier)
        self.changed = self.frontier != before
        open_release = []
        for l, lab in enumerate(sc.labs):
            slowed = distressed[l] and sc.labs[l]["kind"] == CLOSED
            rate = sc.lab(l, "release_rate_per_year") * (0.5 if slowed else 1.0)
            hit = d["u"][l] < -math.expm1(-rate * dt) and active[l]
            if lab["kind"] == CLOSED and hit:
                # mean jump release_jump_points (T / T_plan)^gamma, training halved in distress
                mu = sc.lab(l, "release_jump_points") * (0.5 if slowed else 1.0) ** sc.lab(l, "training_returns")
                self.q[l] = max(self.q[l], self.frontier) - mu * math.log(d["jump_u"][l])
                self.frontier = self.front(active, self.frontier)
                self.changed = True
            elif lab["kind"] == OPEN and hit:
                open_release.append(l)
        self.log_gap = clamp_log_gap(gap_step(self.log_gap, math.log(sc["quality_gap.long_run"]),
                                              sc["quality_gap.reversion_per_year"], sc["quality_gap.volatility"],
                                              dt, NormalDist().inv_cdf(d["gap_u"])))
        g = math.exp(self.log_gap)
        for l in open_release:
            reach = self.frontier * (1.0 - g) * (1.0 - sc.lab(l, "lag"))
            if reach > self.q[l]:
                self.q[l] = reach
                self.changed = True
        self.step_war(n, active, d)

    def step_war(self, n, active, d):
        sc = self.sc
        self.war_started = False
        ended = False
        if self.war_active and (n >= self.war_end or not active[self.war_lab]):
            self.war_active, self.war_lab = False, -1
            ended = True
        if self.war_active:
            return
        u_start, u_pick, u_depth = d["war_u"]
        if ended or not u_start < -math.expm1(-sc["price_compression.price_war_rate_per_year"] * sc.dt):
            return
        candidates = [l for l, lab in enumerate(sc.labs) if lab["kind"] == OPEN and active[l]]
        if not candidates:
            return
        self.war_lab = candidates[int(u_pick * len(candidates))]
        mean = sc["price_compression.price_war_depth"]
        self.war_depth = float(betaincinv(20.0 * mean, 20.0 * (1.0 - mean), u_depth))
        self.war_active = self.war_started = True
        months = sc["price_compression.price_war_months"] / 12.0 * sc.spy
        self.war_end = n + max(1, int(math.floor(months + 0.5)))


# ---- money (MODEL.md §7) -------------------------------------------------------------------

def growth(hist, n, spy, g0):
    now = hist[n]
    if not now > 0:
        return -math.inf
    ref = n - spy if n >= spy else 0
    if not hist[ref] > 0:
        return math.inf
    lr = math.log(now / hist[ref])
    return lr if n >= spy else (1.0 - n / spy) * g0 + lr


def rerating(sc, g, g0, margin, margin0, with_margin):
    a_g, a_m, floor = sc["valuation.growth_weight"], sc["valuation.margin_weight"], 0.01
    with np.errstate(over="ignore"):
        rho = 1.0 if a_g == 0 else float(np.exp(a_g * (g - g0)))
    if with_margin and a_m != 0:
        gm = floor if math.isnan(margin) else max(margin, floor)
        gm0 = floor if math.isnan(margin0) else max(margin0, floor)
        rho *= (gm / gm0) ** a_m
    if math.isnan(rho):
        rho = sc["valuation.rerating_min"]
    return min(max(rho, sc["valuation.rerating_min"]), sc["valuation.rerating_max"])


class Lab:
    """One lab's cash, shares, burn window and valuation."""

    def __init__(self, sc, l, steps):
        self.sc, self.l = sc, l
        self.active, self.distressed = True, False
        self.cash, self.shares = sc.lab(l, "cash_usd"), sc.lab(l, "shares")
        self.fcfs = []
        self.pv = 0.0
        self.hist = np.zeros(steps)
        self.g0, self.m0, self.margin0 = sc.lab(l, "initial_growth"), math.nan, math.nan
        self.revenue = self.cogs = self.training = self.fcf = self.arr = 0.0
        self.valuation, self.margin, self.rerating, self.multiple = 0.0, math.nan, math.nan, math.nan

    def step(self, n, revenue, cogs):
        sc, l, dt = self.sc, self.l, self.sc.dt
        if not self.active:
            self.revenue = self.cogs = self.training = self.fcf = self.arr = self.valuation = 0.0
            self.margin = self.rerating = self.multiple = math.nan
            self.hist[n] = 0.0
            return
        t = n * dt
        self.revenue, self.cogs = revenue, cogs
        opex = sc.lab(l, "opex_ratio") * revenue + sc.lab(l, "fixed_opex_per_year") * dt
        self.training = (sc.lab(l, "training_spend_per_year") * (1 + sc.lab(l, "training_cost_growth_per_year")) ** t
                         * dt * (0.5 if self.distressed else 1.0))
        self.fcf = revenue - cogs - opex - self.training
        self.cash += self.fcf
        self.pv += self.fcf * math.exp(-sc["valuation.discount_rate"] * t)
        self.fcfs = (self.fcfs + [self.fcf])[-FCF_WINDOW:]
        self.value(n)
        self.raise_check()
        if self.cash < 0:
            self.active, self.distressed, self.valuation = False, False, 0.0

    def value(self, n):
        sc = self.sc
        self.arr = self.revenue * sc.spy
        self.hist[n] = self.arr
        self.margin = 1.0 - self.cogs / self.revenue if self.revenue > 0 else math.nan
        if n == 0:
            self.m0 = sc.lab(self.l, "valuation_usd") / self.arr if self.arr > 0 else math.nan
            self.margin0 = self.margin
        self.rerating = rerating(sc, growth(self.hist, n, sc.spy, self.g0), self.g0, self.margin, self.margin0, True)
        self.multiple = self.m0 * self.rerating
        if n == 0:
            self.valuation = sc.lab(self.l, "valuation_usd")
        else:
            self.valuation = 0.0 if math.isnan(self.multiple) else self.multiple * self.arr

    def raise_check(self):
        sc = self.sc
        to_steps = sc.spy / 12.0
        burn = max(0.0, -sum(self.fcfs) / len(self.fcfs))
        if burn <= 0:
            self.distressed = False
            return
        if not self.cash < sc["finance.runway_months"] * to_steps * burn:
            return
        amount = sc["finance.raise_months"] * to_steps * burn
        cap = sc["finance.max_raise_fraction"] * max(self.valuation, 0.0)
        capped = amount > cap
        amount = min(amount, cap)
        self.distressed = capped
        price = self.valuation / self.shares
        if amount > 0 and price > 0:
            self.shares += amount / price
            self.cash += amount


# ---- one path --------------------------------------------------------------------------------

class Results:
    """Per-path results in the C layout (metrics.h): market [M][T], lab [M][L][T], cloud [M][K][T],
    lab_path [M][L], path [M]."""

    def __init__(self, names, T, L, K):
        self.names, self.T, self.L, self.K = names, T, L, K
        self.market = np.full((len(names["market_names"]), T), np.nan)
        self.lab = np.full((len(names["lab_names"]), L, T), np.nan)
        self.cloud = np.full((len(names["cloud_names"]), K, T), np.nan)
        self.lab_path = np.full((len(names["lab_path_names"]), L), np.nan)
        self.path = np.full(len(names["path_names"]), np.nan)

    def set(self, group, name, value, *index):
        arr = getattr(self, group)
        arr[(self.names[group + "_names"].index(name),) + index] = value

    def flat(self):
        return np.concatenate([self.market.ravel(), self.lab.ravel(), self.cloud.ravel(),
                               self.lab_path.ravel(), self.path.ravel()])

    @staticmethod
    def split(flat, names, T, L, K):
        sizes = [len(names["market_names"]) * T, len(names["lab_names"]) * L * T,
                 len(names["cloud_names"]) * K * T, len(names["lab_path_names"]) * L]
        out, pos = {}, 0
        for g, n in zip(["market", "lab", "cloud", "lab_path"], sizes):
            out[g] = np.asarray(flat[pos:pos + n])
            pos += n
        out["path"] = np.asarray(flat[pos:])
        return out


def attributes(dump):
    a = dump["attributes"]
    ent = {k: np.array(a[k], dtype=float) for k in ["d0", "hard", "privacy", "finetune"]}
    ent["value"] = np.array(a["value"], dtype=float)  # [2 N]: hard, routine
    ent["restricted"] = np.array(a["restricted"], dtype=bool)
    ent["n"] = len(ent["d0"])
    return ent


def local_pool(sc, ent):
    """The round(max_share N) enterprises with the highest privacy (ties: lower index first)."""
    n = ent["n"]
    size = min(n, int(math.floor(sc["local_inference.max_share"] * n + 0.5)))
    order = np.lexsort((np.arange(n), -ent["privacy"]))
    pool = np.zeros(n, bool)
    pool[order[:size]] = True
    return pool


def demand_growth(sc, t):
    """Growth factor of baseline demand since t = 0: exp of the integral of the log growth rate
    r(s) = r_inf + (r_0 - r_inf) exp(-lambda s), r = ln(1 + g); (1 + g_0)^t when lambda = 0."""
    lam = sc["market.demand_growth_decay_per_year"]
    if lam == 0:
        return (1 + sc["market.demand_growth_per_year"]) ** t
    r0, rinf = math.log1p(sc["market.demand_growth_per_year"]), math.log1p(sc["market.demand_growth_long_run"])
    return math.exp(rinf * t + (r0 - rinf) * -math.expm1(-lam * t) / lam)


def run_path(dump, sc=None):
    """The whole path of the dump from its draws; returns a Results."""
    sc = sc or Scenario(dump)
    ent = attributes(dump)
    ent["pool"] = local_pool(sc, ent)
    pool_d0 = ent["d0"][ent["pool"]].sum()
    ot = Offers(sc)
    N, J, L, K, T, dt = ent["n"], ot.n, len(sc.labs), len(sc.clouds), sc.steps, sc.dt
    h = np.stack([ent["hard"], 1.0 - ent["hard"]], axis=1).ravel()       # h_is per row
    alpha = 1.0 / (sc["enterprises.taste_dispersion"] * ent["value"])
    res = Results(dump["results"], T, L, K)
    proc = Processes(sc)
    labs = [Lab(sc, l, T) for l in range(L)]
    cloud_hist, infra_hist = np.zeros((K, T)), np.zeros(T)
    cloud_margin0 = np.full(K, np.nan)
    offer_active = np.ones(J, bool)
    adopted, review = np.zeros(N, bool), np.ones(N, bool)
    adopted_d0 = 0.0
    # the outside option (buying nothing): one more column after the offers, price 0, no seller
    outside = int(bool(sc["enterprises.outside_option"]))
    Jc = J + outside
    outside_base = sc["enterprises.outside_value"] / sc["enterprises.taste_dispersion"]
    seller_c = np.append(ot.seller, [-1] * outside)
    owner_c = np.vstack([ot.owner, np.zeros((outside, ot.n_sellers))])
    nests = ot.nests(sc, outside)
    alloc = np.zeros((2 * N, Jc))
    price, markup, markup2, last_price = np.zeros(J), np.zeros(J), np.zeros(J), np.zeros(J)
    paid0, paid_prev = np.zeros(N), np.zeros(N)
    seg_paid0, seg_paid_prev = np.zeros(2 * N), np.zeros(2 * N)
    alpha0, theta = alpha.copy(), sc["enterprises.value_price_elasticity"]
    war_price = math.nan
    F0 = proc.frontier
    for n in range(T):
        t = n * dt
        active = np.array([lab.active for lab in labs])
        distressed = np.array([lab.distressed for lab in labs])
        if n > 0:
            proc.step(n, active, distressed, dump["shocks"][n])
            u = np.asarray(dump["choice_uniforms"][n])
            review = u[:N] < -math.expm1(-sc["enterprises.review_per_year"] / sc.spy)
            a = adopted_d0 / pool_d0 if pool_d0 > 0 else 0.0
            prob = -math.expm1(-(sc["local_inference.innovation"] + sc["local_inference.imitation"] * a) * dt)
            new = ent["pool"] & ~adopted & (u[N:] < prob)
            adopted |= new
            review |= new
            adopted_d0 += ent["d0"][new].sum()
        gone = offer_active & ~active[ot.lab]
        exits = bool(gone.any())
        offer_active &= ~gone
        quality, cost = ot.update(sc, proc.q, (1 - sc["price_compression.cost_decline_per_year"]) ** t,
                                  sc["local_inference.cost_per_mtok"] * (1 - sc["local_inference.cost_decline_per_year"]) ** t,
                                  sc["local_inference.quality_penalty"] * (1 - sc["local_inference.penalty_decline_per_year"]) ** t)
        base = utility_base(sc, ot, ent, quality, proc.frontier, offer_active, adopted)
        if outside:
            base = np.hstack([base, np.full((2 * N, 1), outside_base)])

        # volumes D_i(t) and row weights W_is
        d = ent["d0"] * demand_growth(sc, t)
        if n > 0:
            ok = (paid0 > 0) & (paid_prev > 0)
            d = np.where(ok, d * (np.where(ok, paid_prev, 1.0) / np.where(ok, paid0, 1.0)) ** -sc["market.price_elasticity"], d)
        weight = np.repeat(d, 2) * h

        # value follows price: v_is = v_is(0) (P_is(t - dt) / P_is(0))^theta, so alpha = 1/(rho v);
        # with value_index "frontier_cost" P is the frontier's serving cost now, kappa_c(t)
        # exp(beta (F(t) - F(0))) (1 at step 0), the same for every row
        if n > 0 and theta != 0 and sc["enterprises.value_index"] == "frontier_cost":
            k = (1 - sc["price_compression.cost_decline_per_year"]) ** t * \
                math.exp(sc["price_compression.cost_per_quality_point"] * (proc.frontier - F0))
            alpha = alpha0 * k ** -theta
        elif n > 0 and theta != 0:
            ok = (seg_paid0 > 0) & (seg_paid_prev > 0)
            alpha = np.where(ok, alpha0 * (np.where(ok, seg_paid_prev, 1.0) / np.where(ok, seg_paid0, 1.0)) ** -theta,
                             alpha0)

        # starting prices: 1.5 c at step 0 (and after a markup <= 0), else the last markup times its
        # last growth factor (kept in [1/2, 2]); local at cost
        restart = (n == 0) | (offer_active & ~(markup > 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            trend = np.where((n >= 2) & (markup2 > 0) & (markup > 0), np.clip(markup / markup2, 0.5, 2.0), 1.0)
        price = np.where(restart, 1.5 * cost, np.where(offer_active, cost + markup * trend, price))
        price = np.where(ot.kind == LOCAL, cost, price)
        fixed = (ot.seller < 0) | ~offer_active
        if proc.war_active:
            j = ot.first_party[proc.war_lab]
            if proc.war_started:
                war_price = (1.0 - proc.war_depth) * last_price[j]
            price[j] = war_price
            fixed[j] = True
        zeros = np.zeros(outside)
        price_c, iters, converged = solve_prices(base, alpha, weight, np.append(cost, zeros), seller_c, owner_c,
                                                 np.append(fixed, [True] * outside), np.append(price, zeros),
                                                 sc["pricing.tolerance"], int(sc["pricing.max_iterations"]), nests)
        shares = choice_shares(base, alpha, price_c, nests)
        price = price_c[:J]
        last_price, markup2, markup = price.copy(), markup, price - cost

        # allocations: reviewers take s(p); others keep theirs, renormalized after an exit
        take = np.repeat(review, 2)
        if exits:
            kept = np.where(np.isneginf(base), 0.0, alloc)
            tot = kept.sum(axis=1, keepdims=True)
            alloc = np.divide(kept, tot, out=kept, where=tot > 0)
            take = take | (tot[:, 0] <= 0)
        alloc = np.where(take[:, None], shares, alloc)
        qty_c = weight @ alloc
        qty, unserved = qty_c[:J], (qty_c[J] if outside else 0.0)
        # average price per token bought (kept from the last step by an enterprise buying nothing)
        paid = ((h[:, None] * alloc[:, :J]) @ price).reshape(N, 2).sum(axis=1)
        bought = (h[:, None] * alloc[:, :J]).sum(axis=1).reshape(N, 2).sum(axis=1)
        paid = np.where(bought > 0, paid / np.where(bought > 0, bought, 1.0), paid_prev if n > 0 else 0.0)
        if n == 0:
            paid0 = paid
        paid_prev = paid
        seg_bought = alloc[:, :J].sum(axis=1)
        seg_paid = np.where(seg_bought > 0, (alloc[:, :J] @ price) / np.where(seg_bought > 0, seg_bought, 1.0),
                            seg_paid_prev if n > 0 else 0.0)
        if n == 0:
            seg_paid0 = seg_paid
        seg_paid_prev = seg_paid

        # money of labs, clouds and infrastructure
        rev, cogs = price * qty, cost * qty
        lab_rev, lab_cogs, lab_vol = np.zeros(L), np.zeros(L), np.zeros(L)
        crev, ccogs, cpaid, cvol = np.zeros(K), np.zeros(K), np.zeros(K), np.zeros(K)
        capture = np.array([sc.lab(l, "capture_share") for l in range(L)])
        for j in range(J):
            l, k = ot.lab[j], ot.cloud[j]
            if ot.kind[j] == CLOUD:
                crev[k] += rev[j]
                ccogs[k] += cogs[j]
                cvol[k] += qty[j]
                cpaid[k] += capture[l] * rev[j]
                lab_rev[l] += capture[l] * rev[j]
            elif ot.kind[j] != LOCAL:
                lab_rev[l] += rev[j]
                lab_cogs[l] += cogs[j]
                lab_vol[l] += qty[j]
        local_spend = rev[ot.kind == LOCAL].sum()
        compute = local_spend
        for l, lab in enumerate(labs):
            lab.step(n, lab_rev[l], lab_cogs[l])
            compute += lab.cogs + lab.training
        with np.errstate(divide="ignore", invalid="ignore"):
            cgm = np.where(crev > 0, 1.0 - (ccogs + cpaid) / crev, np.nan)
        cloud_hist[:, n] = crev * sc.spy
        if n == 0:
            cloud_margin0 = cgm.copy()
        cloud_rr = np.array([rerating(sc, growth(cloud_hist[k], n, sc.spy, 0.0), 0.0, cgm[k], cloud_margin0[k], True)
                             for k in range(K)])
        compute += ccogs.sum()
        infra_hist[n] = compute * sc.spy
        infra_rr = rerating(sc, growth(infra_hist, n, sc.spy, 0.0), 0.0, math.nan, math.nan, False)

        step_metrics(res, sc, ot, n, price, cost, quality, qty, unserved, offer_active, proc, F0, labs, lab_vol,
                     (crev, ccogs, cpaid, cvol, cloud_rr, sc["valuation.cloud_multiple"] * cloud_rr * cloud_hist[:, n]),
                     adopted.sum() / N, compute, infra_rr, iters, converged)
    for l, lab in enumerate(labs):
        terminal = lab.valuation if sc["valuation.terminal"] == "mark" else sc["valuation.terminal_multiple"] * lab.arr
        pv = lab.pv + math.exp(-sc["valuation.discount_rate"] * sc.steps / sc.spy) * terminal
        res.set("lab_path", "dcf_value", pv, l)
        res.set("lab_path", "dcf_ratio", pv / sc.lab(l, "valuation_usd"), l)
    res.set("path", "lab_exits", sum(not lab.active for lab in labs))
    return res


def ratio(a, b):
    return a / b if b > 0 else math.nan


def step_metrics(res, sc, ot, n, price, cost, quality, qty, unserved, offer_active, proc, F0, labs, lab_vol, clouds,
                 adopters, compute, infra_rr, iters, converged):
    """MODEL.md §8 for step n."""
    closed = (ot.kind == FLAGSHIP) | (ot.kind == MINI)
    opened = (ot.kind == FIRST_PARTY) | (ot.kind == CLOUD)

    def mean_price(mask, per_quality=False):
        p = price / quality if per_quality else price
        return ratio((p * qty)[mask].sum(), qty[mask].sum())

    open_price = mean_price(opened)
    total = qty.sum()
    spend = (price * qty).sum()
    fp = (ot.kind == FIRST_PARTY) & offer_active
    best_open = quality[fp].max() if fp.any() else math.nan
    good = offer_active & (quality >= F0) & (ot.kind != LOCAL)
    # the price of capability F0 along the cost curve: p exp(-beta (q - F0)) for q >= F0
    at_f0 = price * np.exp(-sc["price_compression.cost_per_quality_point"] * (quality - F0))
    # hosting margin: each cloud's gross margin and each open first-party API's, volume-weighted
    crev, ccogs, cpaid, cvol = clouds[:4]
    sold = crev > 0
    margins = list(1.0 - (ccogs[sold] + cpaid[sold]) / crev[sold])
    vols = list(cvol[sold])
    for j in np.nonzero(fp & (qty > 0) & (price > 0))[0]:
        margins.append(1.0 - cost[j] / price[j])
        vols.append(qty[j])
    hosting = ratio(float(np.dot(margins, vols)), float(np.sum(vols)))
    m = {
        "premium_flagship": ratio(mean_price(ot.kind == FLAGSHIP), open_price),
        "premium_avg": ratio(mean_price(closed), open_price),
        "premium_per_quality": ratio(mean_price(closed, True), mean_price(opened, True)),
        "frontier_quality": proc.frontier,
        "quality_gap": 1.0 - best_open / proc.frontier,
        "latent_gap": math.exp(proc.log_gap),
        "price_constant_quality": at_f0[good].min() if good.any() else math.nan,
        "hosting_margin": hosting,
        "share_closed": ratio(qty[closed].sum(), total),
        "share_open_cloud": ratio(qty[ot.kind == CLOUD].sum(), total),
        "share_open_first_party": ratio(qty[ot.kind == FIRST_PARTY].sum(), total),
        "share_local": ratio(qty[ot.kind == LOCAL].sum(), total),
        "revenue_share_closed": ratio((price * qty)[closed].sum(), (price * qty)[closed | opened].sum()),
        "spend_total": spend,
        "volume_total": total,
        "unserved_share": ratio(unserved, unserved + total),
        "local_adopters": adopters,
        "price_war_active": float(proc.war_active),
        "pricing_iterations": iters,
        "pricing_converged": float(converged),
        "compute_spend": compute,
        "infra_rerating": infra_rr,
    }
    for name, value in m.items():
        res.set("market", name, value, n)
    for l, lab in enumerate(labs):
        is_closed = sc.labs[l]["kind"] == CLOSED
        main = ot.flagship[l] if is_closed else ot.first_party[l]
        sells = offer_active[main] and lab_vol[l] > 0
        v = {
            "price": price[main] if sells else math.nan,
            "price_mini": price[ot.mini[l]] if is_closed and sells else math.nan,
            "quality": proc.q[l],
            "volume": lab_vol[l] if offer_active[main] else 0.0,
            "revenue": lab.revenue,
            "gross_margin": lab.margin if lab.revenue > 0 else math.nan,
            "fcf": lab.fcf,
            "cash": lab.cash,
            "shares": lab.shares,
            "dilution": lab.shares / sc.lab(l, "shares"),
            "valuation": lab.valuation,
            "multiple": lab.multiple if lab.active else math.nan,
            "rerating": lab.rerating if lab.active else math.nan,
            "value_per_share": lab.valuation / lab.shares,
            "distressed": float(lab.distressed),
            "active": float(lab.active),
        }
        for name, value in v.items():
            res.set("lab", name, value, l, n)
    crev, ccogs, cpaid, cvol, crr, cval = clouds
    for k in range(len(sc.clouds)):
        c = {"revenue": crev[k], "gross_margin": 1.0 - (ccogs[k] + cpaid[k]) / crev[k] if crev[k] > 0 else math.nan,
             "price": ratio(crev[k], cvol[k]), "rerating": crr[k], "valuation": cval[k]}
        for name, value in c.items():
            res.set("cloud", name, value, k, n)


# ---- comparison with the C results ---------------------------------------------------------

def differences(dump, res, skip=("pricing_iterations",)):
    """Largest relative difference per metric between the NumPy results and the C results.
    Each series (one metric of one lab or cloud over the steps) is compared relative to its own
    largest magnitude, so that flows crossing zero (FCF) are not judged by their zero crossings;
    a NaN must sit where the other side has a NaN (it then counts as 0)."""
    r = dump["results"]
    c = Results.split(np.array(r["values"], dtype=float), r, res.T, res.L, res.K)
    out = {}
    for group in ["market", "lab", "cloud", "lab_path", "path"]:
        mine, theirs = getattr(res, group), c[group].reshape(getattr(res, group).shape)
        for i, name in enumerate(r[group + "_names"]):
            if name in skip:
                continue
            a, b = np.atleast_2d(mine[i]), np.atleast_2d(theirs[i])
            if group in ("lab_path", "path"):
                a, b = a.reshape(-1, 1), b.reshape(-1, 1)
            nan_mismatch = np.isnan(a) != np.isnan(b)
            if nan_mismatch.any():
                out[group + "/" + name] = math.inf
                continue
            a, b = np.nan_to_num(a, nan=0.0), np.nan_to_num(b, nan=0.0)
            scale = np.maximum(np.abs(a).max(axis=-1, keepdims=True), np.abs(b).max(axis=-1, keepdims=True))
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(scale > 0, np.abs(a - b) / scale, 0.0)
            out[group + "/" + name] = float(rel.max()) if rel.size else 0.0
    return out


def steps_matching(dump, res, rtol=1e-8):
    """Leading steps whose market metrics (but the iteration count) agree with the C results."""
    r = dump["results"]
    c = Results.split(np.array(r["values"], dtype=float), r, res.T, res.L, res.K)["market"].reshape(res.market.shape)
    keep = [i for i, name in enumerate(r["market_names"]) if name != "pricing_iterations"]
    a, b = res.market[keep], c[keep]
    with np.errstate(invalid="ignore"):
        ok = (np.isnan(a) == np.isnan(b)) & ~(np.abs(a - b) > rtol * np.abs(b))
    bad = np.nonzero(~ok.all(axis=0))[0]
    return int(bad[0]) if len(bad) else res.T


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 1
    dump = load_dump(argv[1])
    sc = Scenario(dump)
    res, seconds = None, math.inf
    for _ in range(repeat):  # the fastest run: other jobs only ever make one slower
        t0 = time.process_time()
        res = run_path(dump, sc)
        seconds = min(seconds, time.process_time() - t0)
    worst = max(differences(dump, res).values())
    iterations = np.nansum(res.market[res.names["market_names"].index("pricing_iterations")])
    print("numpy_path_seconds %.4g s" % seconds)
    print("numpy_iterations_per_path %d 1" % iterations)
    print("numpy_paths_per_second %.4g 1/s" % (1.0 / seconds))
    print("numpy_max_relative_difference %.3g 1" % worst)
    print("numpy_steps_matching %d 1" % steps_matching(dump, res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
