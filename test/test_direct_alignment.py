"""Photometric pose refinement (geometry/direct_alignment.py) on scenes rendered with exact geometry."""
import math

import pytest
import torch

from depth_motion_ros.geometry.direct_alignment import (
    AlignmentOptions,
    huber_cost,
    huber_threshold,
    huber_weights,
    image_gradients,
    refine_motion,
)
from depth_motion_ros.geometry.intrinsics import make_intrinsics
from depth_motion_ros.geometry.projection import back_project, pixel_grid
from depth_motion_ros.geometry.rotations import axis_angle_to_matrix

HEIGHT, WIDTH = 96, 160
K = make_intrinsics(110.0, 110.0, 79.5, 47.5).reshape(1, 3, 3)
# A floor-like slanted plane in the world (camera-1 frame): points X with n . X = d.
NORMAL = torch.tensor([0.0, -0.6, -0.8])
OFFSET = -3.0


def _texture(points: torch.Tensor) -> torch.Tensor:
    """Smooth grey texture painted on the world plane, a function of the 3D point [3, N] -> [N]."""
    x, y, z = points
    return (0.5 + 0.18 * torch.sin(5.0 * x + 1.0) + 0.15 * torch.cos(4.0 * z + 3.0 * y)
            + 0.1 * torch.sin(9.0 * x - 6.0 * z))


def _render(rotation: torch.Tensor, translation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image [1, 3, H, W] and depth [1, 1, H, W] of the plane seen by a camera whose points are p = R X + t."""
    rays = (torch.linalg.inv(K[0]) @ pixel_grid(HEIGHT, WIDTH).reshape(3, -1))  # camera rays, z = 1
    matrix = axis_angle_to_matrix(rotation)
    # X = R^T (p - t); on the plane n . X = d  =>  (R n) . p = d + (R n) . t, with p = depth * ray.
    normal_camera = matrix @ NORMAL
    depth = (OFFSET + normal_camera @ translation) / (normal_camera @ rays)
    world = matrix.T @ (rays * depth - translation[:, None])
    grey = _texture(world).reshape(1, 1, HEIGHT, WIDTH)
    return grey.expand(1, 3, HEIGHT, WIDTH).contiguous(), depth.reshape(1, 1, HEIGHT, WIDTH)


TRUE_ROTATION = torch.tensor([0.01, -0.02, 0.005])  # about 1.3 degrees
TRUE_TRANSLATION = torch.tensor([0.05, -0.02, -0.12])


@pytest.fixture(scope="module")
def pair():
    image1, depth1 = _render(torch.zeros(3), torch.zeros(3))
    image2, _ = _render(TRUE_ROTATION, TRUE_TRANSLATION)
    assert torch.all(depth1 > 0)
    return image1, depth1, image2


def _angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    relative = axis_angle_to_matrix(a).T @ axis_angle_to_matrix(b)
    return math.degrees(math.acos(max(-1.0, min(1.0, (relative.trace().item() - 1.0) / 2.0))))


def test_full_refinement_recovers_the_true_motion_from_a_wrong_start(pair):
    image1, depth1, image2 = pair
    start_rotation = TRUE_ROTATION + torch.tensor([0.006, 0.008, -0.004])   # ~0.6 degrees off
    start_translation = TRUE_TRANSLATION + torch.tensor([-0.02, 0.015, 0.03])
    rotation, translation = refine_motion(image1, depth1, image2, K, start_rotation[None], start_translation[None],
                                          AlignmentOptions(mode="full"))
    assert _angle_deg(start_rotation, TRUE_ROTATION) > 0.5
    assert _angle_deg(rotation[0], TRUE_ROTATION) < 0.05
    assert torch.linalg.norm(translation[0] - TRUE_TRANSLATION) < 0.005


def test_rotation_refinement_keeps_the_translation_and_recovers_the_rotation(pair):
    image1, depth1, image2 = pair
    start_rotation = TRUE_ROTATION + torch.tensor([-0.005, 0.007, 0.003])
    rotation, translation = refine_motion(image1, depth1, image2, K, start_rotation[None], TRUE_TRANSLATION[None],
                                          AlignmentOptions(mode="rotation"))
    # p2 = exp(w) (R p1 + t) rotates the translation with the update; it stays the network's in length.
    assert torch.isclose(translation[0].norm(), TRUE_TRANSLATION.norm(), rtol=1e-4)
    assert _angle_deg(rotation[0], TRUE_ROTATION) < 0.1


def test_the_true_motion_is_a_fixed_point(pair):
    image1, depth1, image2 = pair
    rotation, translation = refine_motion(image1, depth1, image2, K, TRUE_ROTATION[None], TRUE_TRANSLATION[None],
                                          AlignmentOptions(mode="full"))
    assert _angle_deg(rotation[0], TRUE_ROTATION) < 0.02
    assert torch.linalg.norm(translation[0] - TRUE_TRANSLATION) < 1e-3


def test_mode_none_returns_the_inputs_unchanged(pair):
    image1, depth1, image2 = pair
    rotation, translation = refine_motion(image1, depth1, image2, K, TRUE_ROTATION[None], TRUE_TRANSLATION[None],
                                          AlignmentOptions(mode="none"))
    assert torch.equal(rotation[0], TRUE_ROTATION) and torch.equal(translation[0], TRUE_TRANSLATION)


def test_textureless_images_leave_the_motion_unchanged():
    flat = torch.full((1, 3, HEIGHT, WIDTH), 0.4)
    depth = torch.full((1, 1, HEIGHT, WIDTH), 2.0)
    rotation, translation = refine_motion(flat, depth, flat, K, TRUE_ROTATION[None], TRUE_TRANSLATION[None],
                                          AlignmentOptions(mode="full"))
    assert torch.allclose(rotation[0], TRUE_ROTATION, atol=1e-6)
    assert torch.allclose(translation[0], TRUE_TRANSLATION, atol=1e-6)


def test_a_batch_is_refined_pair_by_pair(pair):
    image1, depth1, image2 = pair
    start = (TRUE_ROTATION + 0.005)[None].repeat(2, 1)
    translations = TRUE_TRANSLATION[None].repeat(2, 1)
    batched = refine_motion(image1.repeat(2, 1, 1, 1), depth1.repeat(2, 1, 1, 1), image2.repeat(2, 1, 1, 1),
                            K.repeat(2, 1, 1), start, translations, AlignmentOptions(mode="full"))
    single = refine_motion(image1, depth1, image2, K, start[:1], translations[:1], AlignmentOptions(mode="full"))
    assert torch.allclose(batched[0][0], single[0][0]) and torch.allclose(batched[0][1], single[0][0])
    assert torch.allclose(batched[1][1], single[1][0])


def test_depth_scale_scales_only_the_refined_translation(pair):
    image1, depth1, image2 = pair
    start_rotation = (TRUE_ROTATION + 0.004)[None]
    options = AlignmentOptions(mode="full")
    rotation, translation = refine_motion(image1, depth1, image2, K, start_rotation, TRUE_TRANSLATION[None], options)
    rotation3, translation3 = refine_motion(image1, 3.0 * depth1, image2, K, start_rotation,
                                            3.0 * TRUE_TRANSLATION[None], options)
    assert torch.allclose(rotation3, rotation, atol=1e-4)
    assert torch.allclose(translation3, 3.0 * translation, atol=3e-4)


def test_huber_pieces_have_their_known_values():
    residuals = torch.tensor([0.0, 0.1, -0.1, 1.0, 5.0])
    mask = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    threshold = huber_threshold(residuals, mask, 1.0)  # median |r| of usable = 0.1 -> 0.14826
    assert threshold.item() == pytest.approx(0.14826)
    weights = huber_weights(residuals, mask, threshold)
    assert weights.tolist() == pytest.approx([1.0, 1.0, 1.0, 0.14826, 0.0])
    expected = (0 + 0.005 + 0.005 + 0.14826 * (1.0 - 0.07413)) / 4
    assert huber_cost(residuals, mask, threshold).item() == pytest.approx(expected)


def test_image_gradients_of_a_ramp():
    ramp = (2.0 * torch.arange(6.0)[None, :] + 3.0 * torch.arange(4.0)[:, None]).reshape(1, 1, 4, 6)
    du, dv = image_gradients(ramp)
    assert torch.all(du[..., 1:-1] == 2.0) and torch.all(du[..., [0, -1]] == 0.0)
    assert torch.all(dv[..., 1:-1, :] == 3.0) and torch.all(dv[..., [0, -1], :] == 0.0)


@pytest.mark.parametrize("options", [dict(mode="everything"), dict(levels=()), dict(levels=(2, 0)),
                                     dict(iterations=0), dict(huber=0.0)])
def test_invalid_options_are_refused(options):
    with pytest.raises(ValueError):
        AlignmentOptions(**{"mode": "full", **options})


def test_back_projection_of_the_rendered_depth_lies_on_the_plane(pair):
    """The renderer itself: every pixel's 3D point satisfies the plane equation."""
    _, depth1, _ = pair
    points = back_project(depth1, K)[0].reshape(3, -1)
    assert torch.allclose(NORMAL @ points, torch.full((points.shape[1],), OFFSET), atol=1e-4)
