"""The part of the network the deep hash runs: image batch in, pooled feature parts out.

One torch module serves both engines: eager torch runs it, and the ONNX engine exports it. Its output is
the raw pooled parts concatenated (per view); the hasher averages views, normalises parts and projects
in numpy, which costs microseconds and keeps the exported graph independent of the projection.

Parts (chosen by ``benchmarks/deep_v2_study.py``):
- ``head_avg``: the model's pooled pre-logits embedding (what the v1 hash projects); any timm model.
- ``s4_avg``, ``s6_avg``, ``head_gem``...: average or GeM pooling of a middle stage, the last stage or the
  head, for CNNs whose ``forward_intermediates`` gives stages (EfficientNet-Lite0: 112 channels at
  14 x 14 and 320 at 7 x 7). They see how a picture looks, not only what it shows.
"""
from __future__ import annotations

from typing import Sequence

#: part name -> (which map, how pooled); maps: "s4", "s6" (intermediates 3 and 4), "head" (final).
PARTS = {
    "head_avg": ("head", "avg"), "head_gem": ("head", "gem"),
    "s4_avg": ("s4", "avg"), "s4_max": ("s4", "max"),
    "s6_avg": ("s6", "avg"), "s6_max": ("s6", "max"),
}


def feature_module(model, parts: Sequence[str]):
    """A torch module: (N, 3, H, W) -> (N, sum of part widths), the parts in the order given."""
    import torch

    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown feature parts {unknown}; known: {sorted(PARTS)}")
    needs_stages = any(PARTS[p][0] != "head" for p in parts)

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            if needs_stages:
                head, stages = self.model.forward_intermediates(x, indices=[3, 4], intermediates_only=False)
                maps = {"head": head, "s4": stages[0], "s6": stages[1]}
            else:
                maps = {"head": self.model.forward_features(x)}
            out = []
            for part in parts:
                fmap, pool = PARTS[part]
                m = maps[fmap]
                if pool == "avg" and fmap == "head" and not needs_stages:
                    out.append(self.model.forward_head(m, pre_logits=True).flatten(1))
                elif pool == "avg":
                    out.append(m.mean(dim=(2, 3)))
                elif pool == "max":
                    out.append(m.amax(dim=(2, 3)))
                else:  # GeM, p = 3, over the non-negative part
                    out.append(torch.clamp(m, min=0).pow(3).mean(dim=(2, 3)).pow(1.0 / 3))
            return torch.cat(out, dim=1)

    return Features().eval()
