"""Every built-in hasher passes the conformance kit that plugin authors use; the kit catches breakage."""
import numpy as np
import pytest

from registry import Hasher
from registry.testing import ConformanceError, check_hasher


@pytest.mark.parametrize("backend", ["ahash", "phash", "dhash"])
def test_classical_hashers_conform_at_every_length(backend):
    report = check_hasher(backend)
    assert report.ok and report.failed == [] and len(report.passed) == 8


def test_the_deep_hasher_conforms():
    pytest.importorskip("timm")
    assert check_hasher("timm", hex_lengths=[1, 2, 3, 7, 16, 64, 255, 256]).ok


def test_deep_hasher_families_conform_with_random_weights():
    pytest.importorskip("timm")
    for model in ("test_vit", "test_efficientnet"):
        assert check_hasher("timm", hex_lengths=[4, 16], model=model, pretrained=False).ok


class Constant(Hasher):
    name = "constant"
    summary = "Always the same bits."

    def compute(self, image):
        return np.zeros(self.bit_count, bool)


class Unstable(Hasher):
    name = "unstable"
    summary = "Random bits every call."

    def compute(self, image):
        return np.random.random(self.bit_count) > 0.5


class OffByOne(Hasher):
    name = "offbyone"
    summary = "One bit short at odd lengths."

    def compute(self, image):
        return np.zeros(self.bit_count - (self.hex_len % 2), bool)


@pytest.mark.parametrize("cls, failure", [
    (Constant, "different pictures give different hashes"),
    (Unstable, "deterministic"),
    (OffByOne, "exact bit count"),
])
def test_the_kit_catches_a_broken_hasher_and_lists_every_failure(cls, failure):
    with pytest.raises(ConformanceError, match=failure):
        check_hasher(cls, hex_lengths=[1, 2, 16])
    report = check_hasher(cls, hex_lengths=[1, 2, 16], raise_on_failure=False)
    assert not report.ok and any(f.startswith(failure) for f in report.failed)
