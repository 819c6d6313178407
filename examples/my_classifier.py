"""An example `source: python` factory: your own PyTorch classifier, split into a feature function and a linear
head for sing (docs/own-classifier.md; config.folder-demo.yaml runs it).

sing calls ``build(**model_kwargs, checkpoint=<path>)`` and proves ``head(features(x)) == model(x)`` before using
it. Replace ``SmallNet`` with your network and return the input of its last linear layer as ``features``.
"""

import torch
from torch import nn


class SmallNet(nn.Module):
    """Three conv blocks, global average pooling, a linear classifier: f = the pooled width-d vector."""

    def __init__(self, num_classes: int, width: int = 64):
        super().__init__()
        layers, channels = [], 3
        for out in (width // 4, width // 2, width):
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(width, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def build(num_classes: int, width: int = 64, checkpoint: str | None = None) -> dict:
    """The model, its feature function and head, its preprocessing and (optionally) the class of each output."""
    model = SmallNet(num_classes, width)
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("state_dict", state))
    return {
        "model": model,
        "features": model.embed,
        "head": model.classifier,
        # timm-style preprocessing: resize the shorter side to 64 / 0.875 px, centre-crop 64 px, normalise
        "data_config": {"input_size": (3, 64, 64), "crop_pct": 0.875, "interpolation": "bilinear",
                        "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
    }
