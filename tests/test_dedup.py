"""`dedup`: groups of near-duplicates, from folders or from a manifest, as text, JSON, CSV and HTML;
and the app's "Find duplicates" tab, with its upload limits."""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import registry
from registry.dedup import dedup, dedup_manifest, radius_for
from registry.folder_manifest import hash_folder
from tests.cli_runner import run  # noqa: E402

#: pHash-64's calibration as shipped: the radii dedup must use.
SHIPPED = json.loads((Path(registry.__file__).parent / "data" / "thresholds.json").read_text())["thresholds"]["phash"]["16"]


def originals() -> dict[str, np.ndarray]:
    from skimage import data
    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "rocket": data.rocket(), "camera": data.camera(), "moon": data.moon(),
            "immuno": data.immunohistochemistry(), "clock": data.clock()}


#: The planted groups: each photo with its copies (the photos not listed stay alone).
COPIES = {"astronaut": ("jpeg", "half"), "coffee": ("blur",), "chelsea": ("jpeg", "half", "blur")}


def copy_of(img: Image.Image, how: str) -> Image.Image:
    if how == "half":
        return img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)
    if how == "blur":
        return img.filter(ImageFilter.GaussianBlur(1))
    return img  # "jpeg": saved at a low quality below


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("planted")
    for name, pixels in originals().items():
        img = Image.fromarray(pixels)
        img.save(root / f"{name}.png")
        for how in COPIES.get(name, ()):
            copy = copy_of(img, how)
            if how == "jpeg":
                copy.convert("RGB").save(root / f"{name}_{how}.jpg", quality=40)
            else:
                copy.save(root / f"{name}_{how}.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def expected_groups() -> list[set[str]]:
    return [{f"{n}.png", *(f"{n}_{h}.{'jpg' if h == 'jpeg' else 'png'}" for h in hows)}
            for n, hows in COPIES.items()]


def test_dedup_finds_exactly_the_planted_groups(planted):
    result = dedup([planted], registry.create("phash"))
    assert sorted(map(set, (g.files for g in result.groups)), key=sorted) == sorted(expected_groups(), key=sorted)
    assert [p for p, _ in result.unreadable] == ["broken.png"]
    assert result.radius == SHIPPED["max_bits"] and result.bits == 64  # pHash-64's calibrated 17 bits


def test_each_group_gives_distances_to_its_first_file(planted):
    hasher = registry.create("phash")
    for group in dedup([planted], hasher).groups:
        first = hasher.hash(planted / group.files[0])
        assert group.distances[0] == 0
        assert list(group.distances) == [first - hasher.hash(planted / f) for f in group.files]
        assert max(group.distances) <= 2 * radius_for("phash", 16)  # connected, so each within two hops


def test_a_threshold_of_zero_keeps_only_equal_hashes(planted, tmp_path):
    for name in ("a", "b"):
        Image.fromarray(originals()["moon"]).save(tmp_path / f"{name}.png")
    result = dedup([tmp_path], registry.create("phash"), radius=0)
    assert [set(g.files) for g in result.groups] == [{"a.png", "b.png"}]


def test_flat_images_of_different_colours_are_not_duplicates_but_equal_files_are(tmp_path):
    """Too little detail for the hash: the colour layout decides, as in `compare`."""
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "red.png")
    Image.new("RGB", (64, 64), (30, 30, 200)).save(tmp_path / "blue.png")
    (tmp_path / "red_again.png").write_bytes((tmp_path / "red.png").read_bytes())
    hasher = registry.create("phash")
    assert hasher.hash(tmp_path / "red.png") - hasher.hash(tmp_path / "blue.png") <= radius_for("phash", 16)
    result = dedup([tmp_path], hasher)
    assert [set(g.files) for g in result.groups] == [{"red.png", "red_again.png"}]


def test_dedup_from_a_manifest_hashes_nothing_and_agrees_with_the_folder(planted, tmp_path, monkeypatch):
    manifest = tmp_path / "m.jsonl"
    hash_folder([planted], manifest, registry.create("phash"))
    monkeypatch.setattr(registry.Hasher, "iter_hashes", lambda *a, **k: pytest.fail("hashed again"))
    from_manifest = dedup_manifest(manifest)
    monkeypatch.undo()
    assert from_manifest.groups == dedup([planted], registry.create("phash")).groups
    code, out, _ = run("dedup", manifest, "--json")
    assert code == 1 and json.loads(out)["groups"] == [list(g.files) for g in from_manifest.groups]


def test_the_cli_gives_json_csv_and_an_html_contact_sheet(planted, tmp_path):
    sheet, table = tmp_path / "groups.html", tmp_path / "groups.csv"
    code, out, err = run("dedup", planted, "--json", "--csv", table, "--html", sheet)
    payload = json.loads(out)
    assert code == 1 and "broken.png" in err  # one unreadable file: exit 1, as for `hash`
    assert sorted(map(set, payload["groups"]), key=sorted) == sorted(expected_groups(), key=sorted)
    assert payload["unreadable"] == ["broken.png"]
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == sum(len(g) for g in payload["groups"]) and {r["group"] for r in rows} == {"1", "2", "3"}
    page = sheet.read_text()
    assert page.count("<img src='data:image/jpeg;base64,") == len(rows)
    assert all(name in page for group in payload["groups"] for name in group)
    code, out, err = run("dedup", planted, "-b", "dhash", "--threshold", "0")
    assert code == 1 and "within 0 of 64 bits (dhash)" in err


def test_a_usage_error_is_status_2(tmp_path):
    assert run("dedup", tmp_path / "nowhere")[0] == 2
    assert run("dedup", tmp_path, "--threshold", "-1")[0] == 2


# --- the app's tab ----------------------------------------------------------------------------
gradio = pytest.importorskip("gradio")


def test_the_tab_groups_uploaded_images_and_offers_the_json(planted):
    import dedup_tab
    files = [str(p) for p in sorted(planted.iterdir())]
    text, groups, json_path = dedup_tab.find_duplicates(files, "phash", 16)
    payload = json.loads(Path(json_path).read_text())
    assert sorted(map(set, payload["groups"]), key=sorted) == sorted(expected_groups(), key=sorted)
    assert "3 groups" in text and "broken.png" in text
    assert [len(g) for g in groups] == [len(g) for g in payload["groups"]]
    assert all(Path(thumb).is_file() for g in groups for thumb, _ in g)


def test_the_tab_reads_a_zip_without_extracting_it_to_the_names_it_holds(planted, tmp_path):
    import dedup_tab
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(planted / "coffee.png", "../../evil/coffee.png")
        z.write(planted / "coffee_blur.png", "/abs/coffee_blur.png")
        z.writestr("notes/readme.txt", "not an image")
    _, groups, json_path = dedup_tab.find_duplicates([str(archive)], "phash", 16)
    payload = json.loads(Path(json_path).read_text())
    assert payload["files"] == 2 and len(payload["groups"]) == 1
    assert not (tmp_path.parent / "evil").exists() and not Path("/abs").exists()


def test_the_tab_refuses_zip_bombs_and_too_many_images(planted, tmp_path):
    import dedup_tab
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.png", b"\0" * (50 * 2**20))
    with pytest.raises(gradio.Error, match="compressed more than"):
        dedup_tab.find_duplicates([str(bomb)], "phash", 16)
    many = tmp_path / "many.zip"
    png = (planted / "moon.png").read_bytes()
    with zipfile.ZipFile(many, "w") as z:
        for k in range(dedup_tab.MAX_IMAGES + 1):
            z.writestr(f"{k}.png", png)
    with pytest.raises(gradio.Error, match="more than 100 images"):
        dedup_tab.find_duplicates([str(many)], "phash", 16)
    with pytest.raises(gradio.Error, match="add some images"):
        dedup_tab.find_duplicates([], "phash", 16)


def test_rotated_and_flipped_copies_group_only_with_dihedral(tmp_path):
    img = Image.fromarray(originals()["chelsea"])
    img.save(tmp_path / "cat.png")
    img.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "cat_turned.png")
    img.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(tmp_path / "cat_flipped.png")
    Image.fromarray(originals()["rocket"]).save(tmp_path / "rocket.png")
    hasher = registry.create("phash")
    assert dedup([tmp_path], hasher).groups == []
    result = dedup([tmp_path], hasher, dihedral=True)
    assert [set(g.files) for g in result.groups] == [{"cat.png", "cat_turned.png", "cat_flipped.png"}]
    assert result.radius == SHIPPED["max_bits_dihedral"] and result.groups[0].distances == (0, 0, 0)
    code, out, _ = run("dedup", tmp_path, "--dihedral", "--json")
    assert code == 0 and len(json.loads(out)["groups"]) == 1


def test_dihedral_dedup_over_worker_processes_finds_what_one_process_finds(tmp_path, monkeypatch):
    from registry import dedup as dedup_module, engines
    pools = []
    real_pool_map = engines.pool_map
    monkeypatch.setattr(dedup_module, "pool_map", lambda *a, **k: pools.append(k["workers"]) or real_pool_map(*a, **k))
    monkeypatch.setattr(engines, "POOL_MIN_SOURCES", 4)   # six files: a pool as for a large folder
    img = Image.fromarray(originals()["chelsea"])
    img.save(tmp_path / "cat.png")
    img.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "cat_turned.png")
    img.transpose(Image.Transpose.TRANSPOSE).save(tmp_path / "cat_transposed.png")
    Image.fromarray(originals()["rocket"]).save(tmp_path / "rocket.png")
    Image.fromarray(originals()["coffee"]).save(tmp_path / "coffee.png")
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    hasher = registry.create("phash")
    alone = dedup([tmp_path], hasher, dihedral=True)
    assert pools == []
    pooled = dedup([tmp_path], hasher, dihedral=True, workers=2)
    assert pools == [2]   # the eight orientations were hashed in worker processes
    assert [set(g.files) for g in pooled.groups] == [{"cat.png", "cat_turned.png", "cat_transposed.png"}]
    assert [g.files for g in pooled.groups] == [g.files for g in alone.groups]
    assert pooled.hashes == alone.hashes
    assert [h.colour for h in pooled.hashes.values()] == [h.colour for h in alone.hashes.values()]
    assert [f for f, _ in pooled.unreadable] == ["broken.png"] == [f for f, _ in alone.unreadable]
    assert isinstance(pooled.unreadable[0][1], str) and pooled.unreadable[0][1] == alone.unreadable[0][1]


def test_a_pair_at_exactly_the_radius_is_grouped_at_every_length():
    from registry.dedup import group_hashes
    rng = np.random.default_rng(3)
    for bits, radius in [(44, 15), (148, 39), (124, 31), (88, 15)]:  # where radius / bits * bits < radius
        a = rng.random(bits) > 0.5
        b = a.copy()
        b[:radius] = ~b[:radius]
        hashes = [registry.ImageHash(x, "phash", detail=50.0) for x in (a, b)]
        groups = group_hashes(["a", "b"], hashes, radius)
        assert [list(g.files) for g in groups] == [["a", "b"]], (bits, radius)


def test_a_flat_image_and_its_turned_copy_are_judged_as_compare_judges_them(tmp_path):
    from registry.dedup import group_hashes
    ramp = np.tile(np.linspace(80, 160, 256).astype(np.uint8), (256, 1))  # a gentle ramp: low detail
    flat = Image.fromarray(ramp).convert("RGB")
    flat.save(tmp_path / "flat.png")
    flat.rotate(90, expand=True).save(tmp_path / "turned.png")
    hasher = registry.create("phash", hex_len=16)
    expected = registry.compare(tmp_path / "flat.png", tmp_path / "turned.png", dihedral=True)
    turned = [hasher.hash_dihedral(tmp_path / name) for name in ("flat.png", "turned.png")]
    groups = group_hashes(["flat.png", "turned.png"], [t[0] for t in turned], radius_for("phash", 16),
                          turned=turned)
    assert expected.verdict != "different" and expected.orientation not in (None, "identity")
    assert [list(g.files) for g in groups] == [["flat.png", "turned.png"]]
