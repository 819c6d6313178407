"""`source: python` factories used by the tests (imported as `factories:<function>` or by file path)."""

import torch


class TinyNet(torch.nn.Module):
    """Conv stem -> global pool -> linear head; `embed` is the head's input."""

    def __init__(self, num_classes: int = 5, width: int = 16):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, width, 3, stride=2), torch.nn.ReLU(),
                                        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.fc = torch.nn.Linear(width, num_classes)

    def embed(self, x):
        return self.stem(x)

    def forward(self, x):
        return self.fc(self.embed(x))


def tiny(num_classes=5, width=16, checkpoint=None, class_names=None):
    net = TinyNet(num_classes, width)
    if checkpoint:
        net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return {"model": net, "features": net.embed, "head": net.fc, "class_names": class_names,
            "data_config": {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}}


def timm_split(name="resnet18", num_classes=1000):
    """A timm model split by hand: the same f and head as sing's timm adapter."""
    import timm

    model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    return {"model": model, "head": model.get_classifier(),
            "features": lambda x: model.forward_head(model.forward_features(x), pre_logits=True),
            "data_config": timm.data.resolve_data_config(model=model)}


def wrong_split(num_classes=5):
    """Features that are not the head's input: the self-check must refuse it."""
    net = TinyNet(num_classes)
    return {"model": net, "features": lambda x: net.embed(x) * 2.0, "head": net.fc,
            "data_config": {"input_size": (3, 32, 32)}}


def not_a_split():
    return torch.nn.Linear(2, 2)


def broken(**kwargs):
    raise RuntimeError("weights file is corrupt")
