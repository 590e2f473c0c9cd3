"""The PDQ plugin is found through its entry point and passes the registry's conformance kit."""
import registry
from registry.testing import check_hasher


def test_pdq_is_registered_through_its_entry_point():
    info = next(i for i in registry.available() if i.name == "pdq")
    assert info.error is None and info.origin.startswith("image-deep-hash-pdq==")


def test_pdq_passes_the_conformance_kit():
    assert check_hasher("pdq").ok


def test_pdq_hashes_are_256_bits():
    from registry.testing import sample_image
    h = registry.create("pdq", hex_len=64).hash(sample_image(0))
    assert h.bit_count == 256 and len(str(h)) == 64
