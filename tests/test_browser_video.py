"""The Video tab in a real headless Chromium: upload two videos, read the verdict, the plot, the
most-changed frames and the list of frames to fetch again."""
import pytest
from PIL import Image

from tests.test_browser import browser, error_badges, url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
av = pytest.importorskip("av")

from registry import video  # noqa: E402


@pytest.fixture
def page(browser, url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(url)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video_intro").wait_for()
    yield page
    page.close()


def test_two_videos_show_the_plot_the_changed_frames_and_what_to_fetch_again(page, examples, tmp_path,
                                                                              output_dir):
    photos = [Image.open(examples / "parrots.png").convert("RGB")]
    other = Image.open(examples / "lighthouse.png").convert("RGB")
    a = video.render_clip(tmp_path / "original.mp4", photos, frames=40)
    b = video.render_clip(tmp_path / "copy.mp4", photos, frames=40, replace={25: other}, drop={10})
    expected = video.compare_videos(a, b)
    assert "20 MB" in page.locator("#video_intro").inner_text()     # the limits, up front
    page.locator("#video_a input[type=file]").set_input_files(str(a))
    page.locator("#video_b input[type=file]").set_input_files(str(b))
    page.locator("#compare_videos").click()
    shown = page.locator("#video_verdict[data-verdict]")
    shown.wait_for(timeout=60_000)
    page.locator("#video_plot img").wait_for(timeout=30_000)
    page.locator("#video_worst img").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(output_dir / "video.png"), full_page=True)
    assert shown.get_attribute("data-verdict") == expected.verdict == "changed"
    assert shown.get_attribute("data-flagged") == "1" and shown.get_attribute("data-only") == "1"
    assert page.locator("#video_fetch").inner_text() == "yes"
    table = page.locator("#video_fetch_list").inner_text()
    assert "only in A" in table and "changed" in table and "0.833" in table   # frame 25 at 30 fps
    assert page.locator("#video_worst img").count() == 3
    assert error_badges(page) == 0


def test_a_file_that_is_not_a_video_gets_one_clear_message(page, examples, tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x01 this is not a video" * 50)
    page.locator("#video_a input[type=file]").set_input_files(str(fake))
    page.locator("#video_b input[type=file]").set_input_files(str(fake))
    page.locator("#compare_videos").click()
    message = page.get_by_text("Video A is refused")
    message.first.wait_for(timeout=30_000)
    assert "fake.mp4" in message.first.inner_text()
    assert page.locator("#video_verdict").count() == 0
