"""A person's path through the app, in a real headless Chromium driven by Playwright.

One server and one browser for the whole module; each test opens its own page.
"""
import os
import shutil

import pytest

import registry
from tests.app_server import running_app

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
HASH = "#{} input, #{} textarea"


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium and playwright (see .ci/run)")
        pytest.skip("needs Debian's chromium and the playwright package")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def url(browser):
    with running_app() as address:
        yield address


@pytest.fixture
def open_page(browser, url):
    pages = []

    def open_(viewport=DESKTOP):
        page = browser.new_page(viewport=viewport)
        pages.append(page)
        page.goto(url)
        page.locator("#examples .gallery-item").first.wait_for()
        return page
    yield open_
    for page in pages:
        page.close()


def choose(page, elem_id: str, text: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.locator(f"#{elem_id} input").first.fill(text)
    page.get_by_role("option", name=text).first.click()


def set_length(page, n: int) -> None:
    length = page.locator("#hex_len input[type=number]")
    length.fill(str(n))
    length.press("Enter")


def hash_text(page, elem_id: str) -> str:
    return page.locator(HASH.format(elem_id, elem_id)).first.input_value()


def wait_for_hash(page, elem_id: str, digits: int) -> None:
    page.wait_for_function(f"() => document.querySelector('#{elem_id} textarea, #{elem_id} input')"
                           f".value.length == {digits}", timeout=30_000)


def click_example(page, n: int) -> None:
    page.locator("#examples .gallery-item").nth(n).click()


def verdict(page, timeout: float = 120_000):
    page.locator("#verdict[data-verdict]").wait_for(timeout=timeout)
    return page.locator("#verdict")


def error_badges(page) -> int:
    """The red 'Error' badges Gradio puts on an event's outputs when it fails."""
    return page.locator("[data-testid='status-tracker'] .error:visible").count()


def test_upload_two_images_choose_backend_and_length_and_compare(open_page, examples, output_dir):
    a, b = examples / "parrots.png", examples / "parrots_q40.jpg"
    page = open_page({"width": 1400, "height": 1300})
    page.locator("#image_a input[type=file]").set_input_files(str(a))
    page.locator("#image_b input[type=file]").set_input_files(str(b))
    choose(page, "backend", "dhash")
    set_length(page, 9)
    page.locator("#compare").click()
    shown = verdict(page, 60_000)
    shown_distance = int(page.locator("#distance").inner_text())
    text = shown.inner_text()
    page.screenshot(path=str(output_dir / "compare.png"), full_page=True)
    expected = registry.compare(a, b, backend="dhash", hex_len=9)
    assert shown_distance == expected.distance
    assert shown.get_attribute("data-verdict") == expected.verdict
    assert f"of {expected.bits} bits" in text and expected.bits == 36
    assert hash_text(page, "hash_a") == str(expected.hash_a)


def test_an_unreadable_upload_shows_an_error_and_the_page_keeps_working(open_page, examples, tmp_path,
                                                                         output_dir):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is not a picture")
    page = open_page()
    page.locator("#compare").click()
    page.get_by_text("Please add image A first").first.wait_for(timeout=30_000)
    page.locator("#image_b input[type=file]").set_input_files(str(fake))
    page.get_by_text("is unreadable").first.wait_for(timeout=30_000)
    assert "fake.png" in page.get_by_text("is unreadable").first.inner_text()
    page.locator("[data-testid='status-tracker'] .error:visible").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)  # time for any wrong second badge to show too
    page.screenshot(path=str(output_dir / "unreadable.png"))
    assert error_badges(page) == 1  # on the hash of B only, not on every output
    page.locator("#image_a input[type=file]").set_input_files(str(examples / "parrots.png"))
    page.locator(HASH.format("hash_a", "hash_a")).first.wait_for()
    wait_for_hash(page, "hash_a", 16)


def test_a_newcomer_clicks_an_example_and_reads_the_answer(open_page, examples, output_dir):
    page = open_page()
    page.get_by_text("Examples: click one").wait_for()
    click_example(page, 2)  # the mirror image under the deep hash: runs on click, no Compare needed
    page.locator("#model").wait_for(state="visible", timeout=30_000)  # timm example: model menu appears
    shown = verdict(page)
    page.screenshot(path=str(output_dir / "example.png"))
    expected = registry.compare(examples / "parrots.png", examples / "parrots_mirror.png",
                                backend="timm", hex_len=16)
    # The deep hash knows the picture; a mirrored download is still not the file that was sent.
    assert shown.get_attribute("data-verdict") == expected.verdict == "edited"
    assert "Same picture" in shown.inner_text() and "mirrored: fetch it again" in shown.inner_text()
    assert "Cosine similarity" in shown.inner_text()
    assert hash_text(page, "hash_a") == str(expected.hash_a)
    box = shown.bounding_box()  # the answer is on screen, next to the example that was clicked
    assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"]


def test_a_changed_input_clears_the_old_result(open_page, examples):
    """Any change empties the verdict and pictures; the hashes are emptied or recomputed, never stale."""
    a, b = examples / "parrots.png", examples / "lighthouse.png"
    page = open_page()
    page.locator("#image_a input[type=file]").set_input_files(str(a))
    page.locator("#image_b input[type=file]").set_input_files(str(b))

    def compare():
        page.locator("#compare").click()
        verdict(page, 60_000)
        assert len(hash_text(page, "hash_a")) == len(hash_text(page, "hash_b")) > 0

    def assert_cleared(backend, hex_len):
        page.locator("#verdict[data-verdict]").wait_for(state="detached", timeout=10_000)
        assert page.locator("#grids img").count() == 0
        for box, src in (("hash_a", a), ("hash_b", b)):
            new = str(registry.create(backend, hex_len=hex_len).hash(src))
            page.wait_for_function(f"() => ['', '{new}'].includes(document.querySelector("
                                   f"'#{box} textarea, #{box} input').value)", timeout=30_000)

    compare()
    choose(page, "backend", "ahash")
    assert_cleared("ahash", 16)
    compare()
    set_length(page, 8)
    assert_cleared("ahash", 8)
    compare()
    page.locator("#image_b input[type=file]").set_input_files(str(examples / "parrots_q40.jpg"))
    page.locator("#verdict[data-verdict]").wait_for(state="detached", timeout=10_000)
    assert page.locator("#grids img").count() == 0
    compare()
    assert len(hash_text(page, "hash_a")) == 8
    assert error_badges(page) == 0  # recomputing the hashes left no badge of a cancelled run


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_a_missing_image_gives_one_message_not_a_badge_on_every_output(open_page, examples, output_dir,
                                                                       viewport):
    page = open_page(viewport)
    page.locator("#image_b input[type=file]").set_input_files(str(examples / "parrots.png"))
    wait_for_hash(page, "hash_b", 16)
    page.locator("#compare").click()
    message = page.get_by_text("Please add image A first")
    message.first.wait_for(timeout=30_000)
    page.screenshot(path=str(output_dir / "missing.png"))
    assert message.count() == 1
    box = message.first.bounding_box()  # where the person who pressed Compare can see it
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    assert error_badges(page) == 0
    assert page.locator("#verdict[data-verdict]").count() == 0


def test_a_hash_of_one_digit_comes_with_a_warning(open_page, examples):
    page = open_page()
    set_length(page, 1)
    click_example(page, 1)  # the crop under the deep hash: at 4 bits the two hashes are the same
    shown = verdict(page)
    text = shown.inner_text()
    assert shown.get_attribute("data-bits") == "4"
    assert "unrelated images often share a hash" in text
    expected = registry.compare(examples / "parrots.png", examples / "parrots_crop25.png",
                                backend="timm", hex_len=1)
    assert expected.distance == 0 and expected.verdict_text not in text  # equal hashes, no confident verdict
    assert len(hash_text(page, "hash_a")) == 1


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_nothing_is_cut_off_at_desktop_and_phone_width(open_page, output_dir, viewport):
    page = open_page(viewport)
    page.screenshot(path=str(output_dir / "start.png"))
    set_length(page, 256)
    click_example(page, 1)
    shown = verdict(page)
    # Brought into view after the click and again when the answer arrives, also on a phone (the
    # scroll is smooth: wait for it to end rather than read the box mid-way).
    page.wait_for_function("() => { const r = document.getElementById('verdict').getBoundingClientRect();"
                           " return r.top < window.innerHeight && r.bottom > 0; }", timeout=10_000)
    box = shown.bounding_box()
    assert box["y"] < viewport["height"] and box["y"] + box["height"] > 0
    page.screenshot(path=str(output_dir / "result.png"))
    page.locator("#compare_all").click()
    page.locator("#table [role=row][aria-rowindex='5']").first.wait_for(timeout=60_000)  # 4 backends
    page.screenshot(path=str(output_dir / "full.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    for elem_id in ("backend", "model"):  # menu labels fit their box
        assert page.evaluate(f"(() => {{ const i = document.querySelector('#{elem_id} input');"
                             f" return i.scrollWidth <= i.clientWidth; }})()")
    for elem_id in ("hash_a", "hash_b"):  # all 256 digits shown, none scrolled out of sight
        assert len(hash_text(page, elem_id)) == 256
        assert page.evaluate(f"(() => {{ const t = document.querySelector('#{elem_id} textarea'); return "
                             f"t.scrollHeight <= t.clientHeight + 1 && t.scrollWidth <= t.clientWidth; }})()")


def test_a_recoloured_copy_says_what_changed_and_to_fetch_it_again(open_page, examples, tmp_path, output_dir):
    """The same picture with its colours inverted: the hash finds it, the verdict says fetch again."""
    from PIL import ImageOps
    inverted = tmp_path / "inverted.png"
    ImageOps.invert(registry.load_image(examples / "parrots.png")).save(inverted)
    page = open_page({"width": 1400, "height": 1300})
    choose(page, "backend", "deep (timm)")
    page.locator("#image_a input[type=file]").set_input_files(str(examples / "parrots.png"))
    page.locator("#image_b input[type=file]").set_input_files(str(inverted))
    wait_for_hash(page, "hash_b", 16)
    page.locator("#compare").click()
    shown = verdict(page, 180_000)  # the deep model may be exported on the server's first use
    page.screenshot(path=str(output_dir / "recoloured.png"), full_page=True)
    expected = registry.compare(examples / "parrots.png", inverted, backend="timm", hex_len=16)
    assert expected.fetch_again and expected.changes
    assert shown.get_attribute("data-verdict") == expected.verdict
    assert page.locator("#fetch").inner_text() == "yes"
    assert f"{expected.hash_a.detail:.1f}" in page.locator("#detail").inner_text()
    if expected.verdict == "recoloured":
        assert expected.changes[0] in page.locator("#changes").inner_text()


def test_a_rotated_copy_is_found_when_asked_and_the_orientation_shown(open_page, examples, tmp_path, output_dir):
    """Without the box a copy turned by 90° is another picture; with it, the same, turned back."""
    from PIL import Image
    turned = tmp_path / "turned.png"
    registry.load_image(examples / "parrots.png").transpose(Image.Transpose.ROTATE_90).save(turned)
    page = open_page({"width": 1400, "height": 1300})
    page.locator("#image_a input[type=file]").set_input_files(str(examples / "parrots.png"))
    page.locator("#image_b input[type=file]").set_input_files(str(turned))
    wait_for_hash(page, "hash_b", 16)
    page.locator("#compare").click()
    assert verdict(page, 60_000).get_attribute("data-verdict") == "different"
    page.locator("#dihedral input[type=checkbox]").check()
    page.locator("#verdict[data-verdict]").wait_for(state="detached", timeout=10_000)  # the old answer goes
    page.locator("#compare").click()
    shown = verdict(page, 60_000)
    page.screenshot(path=str(output_dir / "rotated.png"), full_page=True)
    expected = registry.compare(examples / "parrots.png", turned, dihedral=True)
    assert expected.orientation == "rot270" and not expected.fetch_again
    assert shown.get_attribute("data-verdict") == expected.verdict
    assert page.locator("#orientation").get_attribute("data-orientation") == "rot270"
    assert "clockwise" in page.locator("#orientation").inner_text()


def test_find_duplicates_shows_the_groups_as_galleries_and_offers_the_json(open_page, examples, tmp_path,
                                                                          output_dir):
    turned = tmp_path / "lighthouse_small.png"
    registry.load_image(examples / "lighthouse.png").resize((256, 170)).save(turned)
    files = [examples / "parrots.png", examples / "parrots_q40.jpg", examples / "lighthouse.png", turned]
    page = open_page({"width": 1280, "height": 1100})
    page.get_by_role("tab", name="Find duplicates").click()
    page.locator("#dedup_files input[type=file]").set_input_files([str(f) for f in files])
    page.locator("#find_duplicates").click()
    page.wait_for_function("() => document.querySelector('#dedup_summary')?.innerText.includes('group')",
                           timeout=60_000)
    page.locator(".dedup-group").nth(1).wait_for(timeout=30_000)
    page.screenshot(path=str(output_dir / "duplicates.png"), full_page=True)
    summary = page.locator("#dedup_summary").inner_text()
    assert "2 groups" in summary and "4 images" in summary
    assert page.locator(".dedup-group").count() == 2
    assert page.locator("#dedup_json a").count() >= 1          # the JSON to download
    assert error_badges(page) == 0
