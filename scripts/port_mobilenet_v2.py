"""Write the MobileNetV2 depth encoder's ImageNet weights from a quantised TFLite classifier.

    .venv/bin/python scripts/port_mobilenet_v2.py ../shared/pretrained/tf2_mobilenet_v2_1.0_224_ptq.tflite \
        mobilenet_v2_imagenet.pt --check ../shared/pretrained/cat.bmp

The output is a plain state dict of the encoder (loads with `torch.load(..., weights_only=True)`), for
`depth_motion_train --encoder-weights` with a model whose `depth_encoder` is 'mobilenet_v2'. `--check`
prints the ported classifier's top-5 ImageNet classes for an image (labels from `imagenet_labels.txt` beside
the TFLite file when present). Weights derived from the Apache-2.0 files keep that licence: name the source
file in the model card.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from depth_motion_ros.networks.tflite_port import (
    classifier_input,
    imagenet_sample,
    input_quantisation,
    port_mobilenet_v2,
    read_graph,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tflite", type=Path, help="MobileNetV2 1.0 224 quantised classifier (.tflite)")
    parser.add_argument("output", type=Path, help="where to write the encoder's state dict (.pt)")
    parser.add_argument("--check", type=Path, action="append", default=[], metavar="IMAGE",
                        help="print the ported classifier's top-5 classes for this image (repeatable)")
    args = parser.parse_args(argv)

    classifier = port_mobilenet_v2(args.tflite)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in classifier.encoder.state_dict().items()}, args.output)
    print(f"wrote {args.output} ({sum(v.numel() for v in classifier.encoder.state_dict().values())} weights)")

    labels_file = args.tflite.with_name("imagenet_labels.txt")
    labels = labels_file.read_text(encoding="utf-8").splitlines() if labels_file.is_file() else None
    scale, zero_point = input_quantisation(read_graph(args.tflite))
    for image in args.check:
        with torch.no_grad():
            logits = classifier(classifier_input(imagenet_sample(image), scale, zero_point))[0]
        top = logits.topk(5)
        names = [labels[i] if labels else str(i) for i in top.indices.tolist()]
        ranked = zip(names, top.values.tolist(), strict=True)
        print(f"{image}: " + "; ".join(f"{name} {value:.2f}" for name, value in ranked))


if __name__ == "__main__":
    main()
