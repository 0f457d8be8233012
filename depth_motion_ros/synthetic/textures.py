"""Procedural, anti-aliased surface textures for the synthetic scenes.

Photometric self-supervision only learns where there is texture, so every surface gets multi-scale detail.
Textures are functions of surface coordinates in metres (fixed to the world for static geometry, fixed to
the box for movers), so a surface point has the same colour in every frame: that is what makes the
rendered frames exactly consistent with the ground-truth depth and motion. Detail finer than a pixel's
footprint on the surface is faded to its mean (a cheap mip-map), otherwise distant ground would alias and
break that consistency.
"""
from __future__ import annotations

import numpy as np

_MASK32 = np.uint64(0xFFFFFFFF)


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: np.ndarray | int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice point (integer avalanche hash).

    `seed` may be one integer or one per point (each surface of a scene has its own texture seed).
    """
    seeds = np.asarray(seed, dtype=np.int64).astype(np.uint64) & _MASK32
    h = (ix.astype(np.int64).astype(np.uint64) * np.uint64(374761393)
         + iy.astype(np.int64).astype(np.uint64) * np.uint64(668265263)
         + seeds * np.uint64(2246822519)) & _MASK32
    h = ((h ^ (h >> np.uint64(13))) * np.uint64(1274126177)) & _MASK32
    h = h ^ (h >> np.uint64(16))
    return h.astype(np.float64) / 4294967296.0


def value_noise(x: np.ndarray, y: np.ndarray, seed: np.ndarray | int) -> np.ndarray:
    """Smooth value noise in [0, 1] with unit lattice spacing (bilinear with smoothstep weights)."""
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    sx = fx * fx * (3.0 - 2.0 * fx)
    sy = fy * fy * (3.0 - 2.0 * fy)
    ix = x0.astype(np.int64)
    iy = y0.astype(np.int64)
    v00 = _hash01(ix, iy, seed)
    v10 = _hash01(ix + 1, iy, seed)
    v01 = _hash01(ix, iy + 1, seed)
    v11 = _hash01(ix + 1, iy + 1, seed)
    top = v00 + (v10 - v00) * sx
    bottom = v01 + (v11 - v01) * sx
    return top + (bottom - top) * sy


def _nyquist_weight(frequency: float, footprint: np.ndarray) -> np.ndarray:
    """1 for detail well above the pixel footprint, fading to 0 where it reaches the Nyquist limit."""
    return np.clip(2.0 - 4.0 * frequency * footprint, 0.0, 1.0)


def fbm(x: np.ndarray, y: np.ndarray, footprint: np.ndarray, seed: np.ndarray | int, base_frequency: float,
        octaves: int = 5) -> np.ndarray:
    """Band-limited fractal noise in about [0, 1]; octaves finer than the footprint fade to their mean."""
    total = np.zeros_like(x)
    norm = 0.0
    amplitude = 1.0
    frequency = base_frequency
    for octave in range(octaves):
        weight = _nyquist_weight(frequency, footprint)
        noise = value_noise(x * frequency, y * frequency, seed + 7919 * octave)
        total += amplitude * (0.5 + weight * (noise - 0.5))
        norm += amplitude
        amplitude *= 0.55
        frequency *= 2.0
    return total / norm


def box_coverage(coordinate: np.ndarray, lo: float | np.ndarray, hi: float | np.ndarray,
                 footprint: np.ndarray) -> np.ndarray:
    """Fraction of a pixel footprint inside the interval [lo, hi] (an anti-aliased stripe)."""
    half = 0.5 * np.maximum(footprint, 1e-6)
    left = np.clip((coordinate + half - lo) / (2.0 * half), 0.0, 1.0)
    right = np.clip((coordinate + half - hi) / (2.0 * half), 0.0, 1.0)
    return left - right


def periodic_coverage(coordinate: np.ndarray, period: float, lo: float, hi: float,
                      footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of the stripe [lo, hi] repeated every `period`; its mean where unresolvable."""
    phase = np.mod(coordinate, period)
    inside = box_coverage(phase, lo, hi, footprint) + box_coverage(phase - period, lo, hi, footprint)
    mean = (hi - lo) / period
    weight = _nyquist_weight(1.0 / period, footprint)
    return mean + weight * (np.clip(inside, 0.0, 1.0) - mean)


def ground_colour(x: np.ndarray, z: np.ndarray, footprint: np.ndarray, seed: int,
                  lane_half_width: float, sidewalk_from: float) -> np.ndarray:
    """Asphalt with dashed lane lines and solid edge lines; paved sidewalk beyond `sidewalk_from`."""
    grain = fbm(x, z, footprint, seed, base_frequency=0.35, octaves=7)[..., None]
    asphalt = np.array([0.30, 0.30, 0.32]) * (0.55 + 0.9 * grain)
    dashes = periodic_coverage(z, 6.0, 0.0, 3.0, footprint)
    marking = np.zeros_like(x)
    for centre in (-lane_half_width, lane_half_width):
        marking = np.maximum(marking, box_coverage(x, centre - 0.08, centre + 0.08, footprint) * dashes)
    for edge in (-sidewalk_from + 0.3, sidewalk_from - 0.3):
        marking = np.maximum(marking, box_coverage(x, edge - 0.1, edge + 0.1, footprint))
    road = asphalt * (1.0 - marking[..., None]) + np.array([0.92, 0.9, 0.78]) * marking[..., None]
    joints = np.maximum(periodic_coverage(x, 1.2, 0.0, 0.06, footprint),
                        periodic_coverage(z, 1.2, 0.0, 0.06, footprint))[..., None]
    slabs = np.array([0.62, 0.58, 0.55]) * (0.7 + 0.5 * grain) * (1.0 - 0.45 * joints)
    on_sidewalk = box_coverage(np.abs(x), sidewalk_from, 1e9, footprint)[..., None]
    return road * (1.0 - on_sidewalk) + slabs * on_sidewalk


def facade_colour(along: np.ndarray, up: np.ndarray, footprint: np.ndarray, seed: np.ndarray,
                  base: np.ndarray) -> np.ndarray:
    """Building facade: noisy wall colour, a grid of windows with frames, a darker ground floor band."""
    grain = fbm(along, up, footprint, seed, base_frequency=0.5, octaves=6)[..., None]
    wall = base * (0.6 + 0.8 * grain)
    window = (periodic_coverage(along, 3.0, 0.8, 2.2, footprint)
              * periodic_coverage(up, 3.2, 1.0, 2.6, footprint))[..., None]
    glass = np.array([0.18, 0.24, 0.32]) * (0.6 + 0.9 * fbm(along, up, footprint, seed + 1, 1.3, 4))[..., None]
    colour = wall * (1.0 - window) + glass * window
    ground_floor = box_coverage(up, -1e9, 0.6, footprint)[..., None]
    return colour * (1.0 - 0.35 * ground_floor)


def car_colour(along: np.ndarray, up: np.ndarray, footprint: np.ndarray, seed: np.ndarray,
               base: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Car body: paint with grime noise, a dark window band, a stripe and dark wheel arches near the ground."""
    grain = fbm(along, up, footprint, seed, base_frequency=1.0, octaves=5)[..., None]
    paint = base * (0.65 + 0.7 * grain)
    windows = box_coverage(up, 0.55 * height, 0.88 * height, footprint)[..., None]
    stripe = box_coverage(up, 0.35 * height, 0.42 * height, footprint)[..., None]
    wheels = (box_coverage(up, -1e9, 0.3 * height, footprint)
              * periodic_coverage(along, 2.6, 0.4, 1.1, footprint))[..., None]
    colour = paint * (1.0 - windows) + np.array([0.08, 0.1, 0.13]) * windows
    colour = colour * (1.0 - 0.5 * stripe) + np.array([0.95, 0.95, 0.95]) * 0.5 * stripe
    return colour * (1.0 - wheels) + np.array([0.05, 0.05, 0.05]) * wheels


def sky_colour(directions: np.ndarray, seed: int) -> np.ndarray:
    """Sky at infinity: depends on the world ray direction only, so it is consistent under translation."""
    unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    elevation = np.clip(-unit[..., 1], 0.0, 1.0)[..., None]  # world y points down
    gradient = np.array([0.85, 0.88, 0.92]) * (1.0 - elevation) + np.array([0.35, 0.55, 0.85]) * elevation
    up = np.maximum(-unit[..., 1], 0.05)
    clouds = fbm(unit[..., 0] / up, unit[..., 2] / up, np.full(up.shape, 0.02), seed, 0.6, 4)
    cover = np.clip((clouds - 0.45) * 3.0, 0.0, 1.0)[..., None]
    return gradient * (1.0 - cover) + np.array([0.95, 0.95, 0.97]) * cover
