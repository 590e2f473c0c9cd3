"""Each benchmark runs on three photos, so none can silently rot.

They run in their --smoke modes (tiny images, a few edits): these tests check that every stage still
runs and writes what it should, not the numbers, which come from full runs over ../shared/photos.
"""
import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SHARED_PHOTOS

pytest.importorskip("imagehash")


def three_photos(tmp_path) -> Path:
    """Three different photos: from ../shared/photos when present, else the shipped examples."""
    folder = tmp_path / "photos"
    folder.mkdir()
    if SHARED_PHOTOS.is_dir():
        sources = sorted((SHARED_PHOTOS / "kodak").glob("*.png"))[:3]
    else:
        sources = [EXAMPLES / n for n in ("parrots.png", "lighthouse.png", "parrots_mirror.png")]
    for src in sources:
        (folder / src.name).write_bytes(src.read_bytes())
    return folder


def test_robustness_benchmark_on_three_photos(tmp_path):
    from benchmarks import robustness
    out = tmp_path / "out"
    robustness.main(["--images", str(three_photos(tmp_path)), "--out", str(out), "--hex-len", "4", "16",
                     "--smoke"])
    assert {"results.json", "results.md", "distances.png", "detection.png"} <= {p.name for p in out.iterdir()}
    data = json.loads((out / "results.json").read_text())
    assert data["photos"] == 3 and data["negative_pairs"] == 3
    methods = data["methods"]
    assert {"phash-16", "timm-16", "timm-4", "imagehash.phash-16"} <= set(methods)
    for m in methods.values():
        for t in m["transforms"].values():
            assert 0 <= t["detection"] <= 1 and 0 <= t["auc"] <= 1
        assert set(m["series"]) == {"jpeg_quality", "noise_sigma", "crop_percent"}
        for s in m["series"].values():
            assert -1 <= s["spearman_per_photo_mean"] <= 1
    for name in ("phash-16", "timm-16"):  # the verdict looks again at every pair the distance matched
        seen = methods[name]["verdicts_of_matched_pairs"]
        assert sum(seen["verdicts"].values()) == seen["matched_pairs"] >= seen["kept"] >= 0
    # imagehash's phash and ours at the same size are the same hash, so they score the same
    assert methods["phash-16"]["transforms"] == methods["imagehash.phash-16"]["transforms"]
    table = robustness.thresholds(data)["thresholds"]
    assert set(table) == {"ahash", "phash", "dhash", "timm"} and set(table["phash"]) == {"4", "16"}


def test_per_photo_spearman_ranks_each_photos_copies_on_their_own():
    import numpy as np
    from benchmarks.robustness import per_photo_spearman
    rising = [0, 1, 2, 5, 9]          # more damage, farther: a perfect ranking
    falling = [9, 5, 2, 1, 0]
    flat = [3, 3, 3, 3, 3]            # ranks nothing: counts as 0
    assert per_photo_spearman(np.array([rising, rising]))["spearman_per_photo_mean"] == pytest.approx(1.0)
    res = per_photo_spearman(np.array([rising, falling, flat]))
    assert res["spearman_per_photo_mean"] == pytest.approx(0.0) and res["photos_constant"] == 1
    # two photos moving at different rates rank perfectly each, though pooled they would not
    assert per_photo_spearman(np.array([[0, 1, 2], [0, 10, 20]]))["spearman_per_photo_median"] == pytest.approx(1.0)


def test_speed_benchmark_on_three_photos(tmp_path):
    from benchmarks import speed
    out = tmp_path / "out"
    res = speed.main(["--images", str(three_photos(tmp_path)), "--out", str(out), "--repeats", "1",
                      "--large", "1", "--agreement", "2", "--no-parallel", "--smoke"])
    assert (out / "speed.md").read_text().count("|") > 20
    for rows in res["sets"].values():
        assert rows["seconds"]["decode only"] > 0
        assert set(rows["fast_agreement"]) == {"ahash", "phash", "dhash"}
    assert res["deep"]["batch32_img_s"] > 0


def test_cross_validation_keeps_each_source_group_in_one_fold_and_balances_the_folds():
    import numpy as np
    from benchmarks.deep_cv_study import folds_of
    groups = np.array(["astro"] * 40 + ["cats"] * 12 + ["sea"] * 10 + ["city"] * 9 + [f"g{i}" for i in range(29)])
    fold = folds_of(groups, k=5)
    for g in set(groups):   # look-alikes of one group are held out together, never fitted on and scored on
        assert len(set(fold[groups == g])) == 1
    sizes = np.bincount(fold, minlength=5)
    assert sizes.sum() == len(groups) and sizes.max() == 40 and sizes.min() >= 14
