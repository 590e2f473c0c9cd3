"""ImageHash: one value type with hex, int, bytes, distance and identity."""
import numpy as np
import pytest

from registry import ImageHash


def bits(s: str):
    return np.array([c == "1" for c in s])


def test_hex_is_msb_first_and_exactly_hex_len_digits():
    h = ImageHash(bits("0001" "1010" "1111"), "x")
    assert str(h) == "1af"
    assert h.hex_len == 3 and len(h) == 12


def test_int_and_bytes_agree_with_hex():
    h = ImageHash(bits("1000" "0000" "0000" "0001" "1111"), "x")
    assert int(h) == int(str(h), 16) == 0x8001F
    assert bytes(h) == (0x8001F).to_bytes(3, "big")


@pytest.mark.parametrize("shape", [(1, 4), (2, 6), (3, 4), (13, 20)])
def test_from_hex_round_trips_including_non_square_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    h = ImageHash(rng.random(shape[0] * shape[1]) > 0.5, "phash", {"highfreq_factor": 4}, shape)
    back = ImageHash.from_hex(str(h), "phash", {"highfreq_factor": 4}, shape)
    assert back == h and back.shape == shape
    assert np.array_equal(back.matrix, h.matrix)
    assert ImageHash.from_dict(h.to_dict()) == h


def test_distance_is_hamming():
    a = ImageHash(bits("1111" "0000"), "x")
    b = ImageHash(bits("1010" "0001"), "x")
    assert a - b == b - a == 3
    assert a - a == 0


def test_hashes_from_different_backends_sizes_or_options_never_compare():
    a = ImageHash(bits("1111"), "phash")
    with pytest.raises(ValueError, match="phash.*dhash"):
        a - ImageHash(bits("1111"), "dhash")
    with pytest.raises(ValueError, match="sizes"):
        a - ImageHash(bits("11110000"), "phash")
    with pytest.raises(ValueError, match="options"):
        a - ImageHash(bits("1111"), "phash", {"highfreq_factor": 2})
    assert a != ImageHash(bits("1111"), "dhash")


def test_hashable_and_usable_as_dict_key():
    a = ImageHash(bits("1100"), "x")
    b = ImageHash.from_hex("c", "x")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1


def test_bits_are_read_only():
    h = ImageHash(bits("1100"), "x")
    with pytest.raises(ValueError):
        h.bits[0] = False


@pytest.mark.parametrize("bad", ["", "xyz", "12 g"])
def test_from_hex_rejects_non_hex(bad):
    with pytest.raises(ValueError):
        ImageHash.from_hex(bad, "x")
