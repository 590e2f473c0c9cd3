"""Build real, importable plugin distributions in a temp folder: a module plus a *.dist-info."""
from __future__ import annotations

import textwrap
from pathlib import Path

import registry


def make_plugin(root: Path, dist: str, entries: dict[str, str], module: str, code: str,
                version: str = "0.1", requires: list[str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    meta = [f"Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires or []]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    lines = [f"[{registry.GROUP}]"] + [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


GOOD_PLUGIN = '''
    import numpy as np
    from registry import Hasher

    class CornerHash(Hasher):
        """Brightness of the top-left pixel, repeated: silly, but a real, deterministic hasher."""
        name = "corner"
        summary = "Top-left pixel brightness (test plugin)."
        hex_lengths = (1, 2, 4)

        def compute(self, image):
            return np.full(self.bit_count, image.convert("L").getpixel((0, 0)) > 127)

    class Raising(Hasher):
        name = "raising"
        def compute(self, image):
            raise RuntimeError("boom inside the plugin")

    class TooFew(Hasher):
        name = "toofew"
        def compute(self, image):
            return np.zeros(self.bit_count - 1, bool)

    class Floats(Hasher):
        name = "floats"
        def compute(self, image):
            return np.random.default_rng(0).random(self.bit_count)

    class Future(Hasher):
        name = "future"
        api_version = 99
        def compute(self, image):
            return np.zeros(self.bit_count, bool)

    class NotAHasher:
        pass
'''
