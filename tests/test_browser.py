"""A person's path through the app, in a real headless Chromium driven by Playwright."""
import os
import shutil

import pytest

import registry
from tests.app_server import running_app

pytestmark = pytest.mark.browser


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


def choose(page, elem_id: str, text: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.locator(f"#{elem_id} input").first.fill(text)
    page.get_by_role("option", name=text).first.click()


def test_upload_two_images_choose_backend_and_length_and_compare(browser, examples, output_dir):
    a, b = examples / "parrots.png", examples / "parrots_q40.jpg"
    with running_app() as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url, wait_until="networkidle")
        page.locator("#image_a input[type=file]").set_input_files(str(a))
        page.locator("#image_b input[type=file]").set_input_files(str(b))
        choose(page, "backend", "dhash")
        length = page.locator("#hex_len input[type=number]")
        length.fill("9")
        length.press("Enter")
        page.locator("#compare").click()
        page.locator("#verdict[data-verdict]").wait_for(timeout=60_000)
        shown_distance = int(page.locator("#distance").inner_text())
        verdict = page.locator("#verdict").get_attribute("data-verdict")
        text = page.locator("#verdict").inner_text()
        page.screenshot(path=str(output_dir / "compare.png"), full_page=True)
        expected = registry.compare(a, b, backend="dhash", hex_len=9)
        assert shown_distance == expected.distance
        assert verdict == expected.verdict
        assert f"of {expected.bits} bits" in text and expected.bits == 36
        assert page.locator("#hash_a input, #hash_a textarea").first.input_value() == str(expected.hash_a)


def test_an_unreadable_upload_shows_an_error_and_the_page_keeps_working(browser, examples, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is not a picture")
    with running_app() as url:
        page = browser.new_page()
        page.goto(url, wait_until="networkidle")
        page.locator("#compare").click()
        page.get_by_text("Please add image A first").first.wait_for(timeout=30_000)
        page.locator("#image_a input[type=file]").set_input_files(str(examples / "parrots.png"))
        page.locator("#hash_a input, #hash_a textarea").first.wait_for()
        page.wait_for_function("() => document.querySelector('#hash_a textarea, #hash_a input').value.length == 16",
                               timeout=30_000)


def test_a_newcomer_clicks_an_example_and_reads_the_answer(browser, examples, output_dir):
    with running_app() as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url, wait_until="networkidle")
        page.get_by_text("Examples: a JPEG copy").wait_for()
        page.locator(".gallery-item, tr.tr-body, [data-testid='dataset'] tbody tr").nth(1).click()
        page.locator("#model").wait_for(state="visible", timeout=30_000)  # timm example: model menu appears
        page.locator("#compare").click()
        page.locator("#verdict[data-verdict]").wait_for(timeout=120_000)
        page.screenshot(path=str(output_dir / "example.png"), full_page=True)
        expected = registry.compare(examples / "parrots.png", examples / "parrots_crop25.png",
                                    backend="timm", hex_len=16)
        assert page.locator("#verdict").get_attribute("data-verdict") == expected.verdict == "similar"
        assert "no need to fetch it again" in page.locator("#verdict").inner_text()
        assert "Cosine similarity" in page.locator("#verdict").inner_text()
