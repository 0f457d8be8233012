"""The TFLite MobileNetV2 port (networks/tflite_port.py) against the TFLite interpreter's logits.

`fixtures/mobilenet_v2_tflite_logits.npz` holds the interpreter's quantised logits for the sample images
(written by `fixtures/make_mobilenet_v2_logits.py`, which says how). The port computes in float, the
interpreter in 8 bits, so they agree within quantisation noise, not exactly: measured on 2026-12-07, the
RMS difference was 0.9-1.9 output steps and the largest 3-7 steps, while the same port with PyTorch's
symmetric padding instead of TensorFlow's 'SAME' was off by 6-13 steps RMS and reordered the top classes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_motion_ros.networks.tflite_port import (
    Tensor,
    TflitePortError,
    classifier_input,
    imagenet_sample,
    input_quantisation,
    port_mobilenet_v2,
    read_graph,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).with_name("fixtures") / "mobilenet_v2_tflite_logits.npz"
MODELS = ("mobilenet_v2_1.0_224_quant", "tf2_mobilenet_v2_1.0_224_ptq")
IMAGES = ("cat", "cityscapes_segmentation")
EGYPTIAN_CAT = 286  # imagenet_labels.txt, with 0 = background
#: Agreement within quantisation noise, in steps of the interpreter's logit quantisation (see the docstring).
MAX_RMS_STEPS = 2.5
MAX_ABS_STEPS = 8.0


@pytest.fixture(scope="module")
def pretrained() -> Path:
    """../shared/pretrained (or $DEPTH_MOTION_PRETRAINED); the test is skipped cleanly when it is absent."""
    configured = os.environ.get("DEPTH_MOTION_PRETRAINED")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "pretrained"
    if not all((path / f"{model}.tflite").is_file() for model in MODELS):
        pytest.skip(f"pretrained TFLite files not found at {path}")
    return path


def _interpreter_logits(model: str, image: str) -> tuple[np.ndarray, float]:
    stored = np.load(FIXTURE)
    key = f"{model}/{image}"
    scale = float(stored[f"{key}/scale"])
    return scale * (stored[f"{key}/q"].astype(np.float32) - float(stored[f"{key}/zero_point"])), scale


@pytest.mark.parametrize("model", MODELS)
def test_port_reproduces_the_interpreters_logits_within_quantisation_noise(pretrained, model):
    path = pretrained / f"{model}.tflite"
    classifier = port_mobilenet_v2(path)
    scale, zero_point = input_quantisation(read_graph(path))
    for image in IMAGES:
        expected, step = _interpreter_logits(model, image)
        with torch.no_grad():
            logits = classifier(classifier_input(imagenet_sample(pretrained / f"{image}.bmp"), scale, zero_point))
        difference = logits[0].numpy() - expected
        assert np.sqrt(np.mean(difference ** 2)) <= MAX_RMS_STEPS * step, image
        assert np.abs(difference).max() <= MAX_ABS_STEPS * step, image
        assert np.corrcoef(logits[0].numpy(), expected)[0, 1] > 0.99, image
        top = np.argsort(-logits[0].numpy())[:3]
        assert top[0] == np.argmax(expected) and set(top) == set(np.argsort(-expected)[:3]), image


def test_the_interpreter_fixture_calls_the_cat_an_egyptian_cat():
    """The known answer of ../shared/pretrained/README.md, so that the fixture is the interpreter's output."""
    for model in MODELS:
        assert np.argmax(_interpreter_logits(model, "cat")[0]) == EGYPTIAN_CAT


def test_port_refuses_a_network_that_is_not_mobilenet_v2(pretrained):
    segmentation = pretrained / "deeplab_mobilenet_edgetpu_slim_cityscapes_quant.tflite"
    if not segmentation.is_file():
        pytest.skip("segmentation network absent")
    with pytest.raises(TflitePortError, match="convolution"):
        port_mobilenet_v2(segmentation)


def test_input_quantisation_is_read_from_the_graph(pretrained):
    assert input_quantisation(read_graph(pretrained / f"{MODELS[0]}.tflite")) == (1 / 128, 128.0)
    scale, zero_point = input_quantisation(read_graph(pretrained / f"{MODELS[1]}.tflite"))
    assert scale == pytest.approx(1 / 127.5) and zero_point == 127.0


def test_dequantisation_uses_the_per_channel_axis():
    """scale * (q - zero_point), with scale and zero point broadcast along the quantised dimension."""
    q = np.array([[[[1, -2, 3]]], [[[4, 5, -6]]]], dtype=np.int8)  # [2, 1, 1, 3]
    per_output = Tensor("w", q.shape, "INT8", np.array([0.5, 2.0], np.float32), np.array([0, 1]), 0, q)
    np.testing.assert_array_equal(per_output.dequantised()[:, 0, 0],
                                  [[0.5, -1.0, 1.5], [6.0, 8.0, -14.0]])
    per_last = Tensor("w", q.shape, "INT8", np.array([1.0, 0.5, 0.25], np.float32), np.array([1, 0, 0]), 3, q)
    np.testing.assert_array_equal(per_last.dequantised()[:, 0, 0], [[0.0, -1.0, 0.75], [3.0, 2.5, -1.5]])
    single = Tensor("b", (2,), "UINT8", np.array([0.1], np.float32), np.array([128]), 0,
                    np.array([128, 138], np.uint8))
    np.testing.assert_allclose(single.dequantised(), [0.0, 1.0], atol=1e-6)
