"""The M_bc shapes of the HEP-like sample: ARGUS (background) and Crystal Ball (signal), truncated to a window.

Densities normalised on the window and *exact* samplers (inverse CDF; no
accept-reject), in the conventions of probfit, which the seed's `online_fit`
uses (spec A.7):

    ARGUS:         f(m) ~ m u^p exp(-chi^2/2 u),  u = 1 - m^2/c^2            (t = chi^2 u / 2 ~ Gamma(p + 1))
    Crystal Ball:  exp(-t^2/2) for t = (m - mu)/sigma > -alpha,
                   (n/alpha)^n exp(-alpha^2/2) (n/alpha - alpha - t)^-n below   (analytic CDF and inverse)

Example:
    >>> rng = np.random.default_rng(0)
    >>> background, signal = sample_argus(rng, 1000), sample_crystal_ball(rng, 1000)
    >>> argus_pdf([5.25, 5.28]), crystal_ball_pdf([5.27934])
"""

import math

import numpy as np
from scipy import special

MBC_RANGE = (5.2425, 5.29)


def _argus_t(m, chi, endpoint):
    """ARGUS variable `t = chi^2/2 (1 - m^2/c^2)`: `f dm ~ t^p exp(-t) dt`."""
    return 0.5 * chi**2 * np.maximum(1.0 - (np.asarray(m, np.float64) / endpoint) ** 2, 0.0)


def argus_pdf(m, chi=math.sqrt(40.0), p=0.5, endpoint=5.29, mass_range=MBC_RANGE):
    """The ARGUS density (probfit's convention), normalised on `mass_range`.

    Args:
        m: masses (GeV).
        chi: the shape parameter chi (exponent -chi^2/2 (1 - m^2/c^2)).
        p: the power of `(1 - m^2/c^2)` (0.5 for the classic ARGUS).
        endpoint: c, the kinematic endpoint (the beam energy).
        mass_range: `(low, high)` window; 0 outside.

    Returns:
        float64 array of densities in 1/GeV.

    Example:
        >>> argus_pdf([5.25, 5.28])
    """
    m = np.asarray(m, np.float64)
    t_low, t_high = _argus_t(mass_range[0], chi, endpoint), _argus_t(mass_range[1], chi, endpoint)
    norm = (endpoint / chi) ** 2 * (2.0 / chi**2) ** p * special.gamma(p + 1.0)
    norm *= special.gammainc(p + 1.0, t_low) - special.gammainc(p + 1.0, t_high)
    u = np.maximum(1.0 - (m / endpoint) ** 2, 0.0)
    density = m * u**p * np.exp(-0.5 * chi**2 * u) / norm
    return np.where((m >= mass_range[0]) & (m <= mass_range[1]), density, 0.0)


def sample_argus(rng, size, chi=math.sqrt(40.0), p=0.5, endpoint=5.29, mass_range=MBC_RANGE):
    """Exact draws from the truncated ARGUS: `t ~ Gamma(p + 1)` truncated, then m(t)."""
    q_low = special.gammainc(p + 1.0, _argus_t(mass_range[1], chi, endpoint))
    q_high = special.gammainc(p + 1.0, _argus_t(mass_range[0], chi, endpoint))
    t = special.gammaincinv(p + 1.0, q_low + (q_high - q_low) * rng.random(size))
    m = endpoint * np.sqrt(1.0 - 2.0 * t / chi**2)
    return np.clip(m, *mass_range)


def _cb_constants(alpha, n):
    """log A, B and the tail's total area of the unit-peak Crystal Ball in t."""
    tail_total = n / alpha * np.exp(-0.5 * alpha**2) / (n - 1.0)
    return n * np.log(n / alpha) - 0.5 * alpha**2, n / alpha - alpha, tail_total


def _cb_cdf(t, alpha, n):
    """Unnormalised Crystal Ball CDF in `t = (m - mu) / sigma` (peak value 1)."""
    t = np.asarray(t, np.float64)
    log_a, b, tail_total = _cb_constants(alpha, n)
    tail = np.exp(log_a + (1.0 - n) * np.log(np.maximum(b - t, 1e-300))) / (n - 1.0)
    core = tail_total + math.sqrt(2.0 * math.pi) * (special.ndtr(t) - special.ndtr(-alpha))
    return np.where(t <= -alpha, tail, core)


def _cb_icdf(f, alpha, n):
    log_a, b, tail_total = _cb_constants(alpha, n)
    in_tail = f <= tail_total
    tail = b - np.exp((np.log(np.maximum((n - 1.0) * f, 1e-300)) - log_a) / (1.0 - n))
    core_p = special.ndtr(-alpha) + np.maximum(f - tail_total, 0.0) / math.sqrt(2.0 * math.pi)
    core = special.ndtri(np.minimum(core_p, 1.0))
    return np.where(in_tail, tail, core)


def crystal_ball_pdf(m, alpha=1.277, n=11.66, mean=5.27934, sigma=0.003135, mass_range=MBC_RANGE):
    """The Crystal Ball density (low-side power-law tail), normalised on `mass_range`.

    `exp(-t^2/2)` for `t = (m - mean)/sigma > -alpha`, else
    `(n/alpha)^n exp(-alpha^2/2) (n/alpha - alpha - t)^-n`.

    Args:
        m: masses (GeV).
        alpha, n, mean, sigma: the shape (defaults: the seed's signal fit).
        mass_range: `(low, high)` window; 0 outside.

    Returns:
        float64 array of densities in 1/GeV.

    Example:
        >>> crystal_ball_pdf([5.27934])  # the peak, ~1/(sigma sqrt(2 pi))
    """
    t = (np.asarray(m, np.float64) - mean) / sigma
    t_low, t_high = ((v - mean) / sigma for v in mass_range)
    norm = sigma * (_cb_cdf(t_high, alpha, n) - _cb_cdf(t_low, alpha, n))
    log_tail = n * np.log(n / alpha) - 0.5 * alpha**2 - n * np.log(np.maximum(n / alpha - alpha - t, 1e-300))
    density = np.where(t > -alpha, np.exp(-0.5 * t**2), np.exp(log_tail)) / norm
    return np.where((t >= t_low) & (t <= t_high), density, 0.0)


def sample_crystal_ball(rng, size, alpha=1.277, n=11.66, mean=5.27934, sigma=0.003135, mass_range=MBC_RANGE):
    """Exact draws from the truncated Crystal Ball by its analytic inverse CDF."""
    f_low, f_high = (_cb_cdf((v - mean) / sigma, alpha, n) for v in mass_range)
    t = _cb_icdf(f_low + (f_high - f_low) * rng.random(size), alpha, n)
    return np.clip(mean + sigma * t, *mass_range)
