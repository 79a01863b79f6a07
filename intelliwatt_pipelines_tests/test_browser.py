"""What a person sees, in a real headless Chromium: /docs offline, the status page, and both
pictures of the sample homes across their DST days, checked by the DOM and by screenshot pixels.

The API runs under uvicorn on a free loopback port over a SQLite warehouse holding the generated
sample (``intelliwatt seed``: the Oncor home across the 2025-11-02 fall-back day, the CenterPoint
home across the 2026-03-08 spring-forward day), plus a home with a gap and a file that fails.
The browser may reach only that loopback server: every other request is aborted and recorded.
Without Chromium (/usr/bin/chromium) or playwright the tests skip, unless
INTELLIWATT_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import os
import shutil
import socket
import struct
import threading
import time
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from intelliwatt_pipelines.api import create_app
from intelliwatt_pipelines.cdm.warehouse import create_engine, migrate
from intelliwatt_pipelines.config import Settings
from intelliwatt_pipelines.ingest import capture_file, normalize_raw_file
from intelliwatt_pipelines.ingest.capture import capture_bytes
from intelliwatt_pipelines.pii import mask
from intelliwatt_pipelines.rawstore import LocalRawStore
from intelliwatt_pipelines.samples import date_range, seed_inbox, smt_interval_csv

pytestmark = pytest.mark.slow  # drives a real chromium

CHROMIUM = os.environ.get("INTELLIWATT_CHROMIUM", "/usr/bin/chromium")
API_KEY, ADMIN_TOKEN = "browser-key-5d1e", "browser-admin-0b7c"
ONCOR, CENTERPOINT, GAP_HOME = "10443720000000001", "1008901000000000000001", "10443720000000002"
COLOURS = {"complete": (0x2E, 0x7D, 0x32), "fall": (0x15, 0x65, 0xC0), "spring": (0x6A, 0x1B, 0x9A),
           "none": (0xE5, 0xE7, 0xEB)}
VIEWPORT = {"width": 1280, "height": 900}


def _browser_or_skip():
    reason = None
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        reason = f"Chromium not found at {CHROMIUM}"
    elif importlib.util.find_spec("playwright") is None:
        reason = "playwright is not installed (pip install -e '.[test]')"
    if reason:
        if os.environ.get("INTELLIWATT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (INTELLIWATT_REQUIRE_BROWSER=1)")
        pytest.skip(reason)


def _ingest_sample(settings: Settings, folder: Path) -> None:
    engine, store = create_engine(settings.warehouse_url), LocalRawStore(settings.raw_store_url)
    migrate(engine)
    for path in sorted(seed_inbox(folder / "inbox")):
        captured = capture_file(engine, store, path, source="inbox")
        assert normalize_raw_file(engine, store, captured.raw_file_id).status == "normalized"
    data = smt_interval_csv(GAP_HOME, date_range(dt.date(2025, 10, 1), dt.date(2025, 10, 6)), raw=False, seed=3)
    lines = data.decode().splitlines(True)
    gap = lines[:1] + [line for i, line in enumerate(lines[1:]) if not 300 <= i < 330]  # 2025-10-04 05:00-12:30
    for name, body, status in (("IntervalMeterUsage_gap.csv", "".join(gap).encode(), "normalized"),
                               ("junk.csv", b"hello,world\n1,2\n", "failed")):
        captured = capture_bytes(engine, store, body, filename=name, source="inbox")
        assert normalize_raw_file(engine, store, captured.raw_file_id).status == status
    engine.dispose()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """The API served by uvicorn on a free loopback port, over the ingested sample."""
    _browser_or_skip()
    import uvicorn

    folder = tmp_path_factory.mktemp("browser")
    settings = dataclasses.replace(Settings.from_env(), home=folder, warehouse_url=f"sqlite:///{folder / 'w.db'}",
                                   raw_store_url=str(folder / "raw"), api_keys=(API_KEY,), admin_token=ADMIN_TOKEN)
    _ingest_sample(settings, folder)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # handed to uvicorn bound: no race for the port
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser(base_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def offline(browser, base_url):
    """A new context factory: pages reach only the loopback server; ``blocked`` lists the rest."""
    blocked: list[str] = []
    contexts = []

    def make(**options):
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, **options)

        def only_loopback(route):
            if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        contexts.append(context)
        return context

    make.blocked = blocked
    yield make
    for context in contexts:
        context.close()


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Decode an 8-bit, non-interlaced RGB(A) PNG (what Chromium writes): width, height, rows, bytes per pixel."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp, raw = (3 if colour == 2 else 4), zlib.decompress(idat)
    stride, rows, previous = width * (3 if colour == 2 else 4), [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, bpp


def pixel(shot, x: float, y: float) -> tuple[int, int, int]:
    _, _, rows, bpp = shot
    row, i = rows[int(y)], int(x) * bpp
    return tuple(row[i:i + 3])


def distance(a, b) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5


def screenshot(page, path: Path):
    page.screenshot(path=str(path))
    return png_pixels(path.read_bytes())


def test_docs_render_the_route_list_offline(offline, base_url, tmp_path):
    page = offline().new_page()
    operations = sum(len(methods) for methods in page.request.get(f"{base_url}/openapi.json").json()["paths"].values())
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock").count() >= operations
    assert offline.blocked == [], "/docs tried to load assets from outside"
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)


def test_status_page_lists_the_sample_and_links_to_the_pictures(offline, base_url, tmp_path):
    context = offline(http_credentials={"username": "admin", "password": ADMIN_TOKEN})  # as a person types it
    page = context.new_page()
    response = page.goto(f"{base_url}/api/v1/admin/status")
    assert response.status == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    assert page.locator("#raw-files tbody tr").count() == 5  # the three seeded files, the gap file, the junk
    assert page.locator("#raw-files tbody tr .status.normalized").count() == 4
    failures = page.locator("#failed-files tbody tr")
    assert failures.count() == 1 and "unrecognized usage file header" in failures.inner_text()
    gaps = page.locator("#gap-homes tbody tr")
    assert gaps.count() == 1 and mask(GAP_HOME) in gaps.inner_text() and GAP_HOME not in page.inner_text("body")
    page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
    assert offline.blocked == []

    page.click("#gap-homes a.calendar")  # the same Basic credentials answer the picture's challenge
    page.wait_for_selector("#day-2025-10-04")
    assert page.url == f"{base_url}/api/v1/esiids/{GAP_HOME}/completeness.svg"
    assert page.get_attribute("#day-2025-10-04", "data-status") == "gaps"
    page.go_back()
    page.click("#gap-homes a.heatmap")
    page.wait_for_selector("rect.hour")
    assert page.locator("g.day-column").count() == 6


def _cell(page, day: str) -> dict:
    box = page.locator(f"#day-{day} rect").bounding_box()
    return {"box": box, "class": page.get_attribute(f"#day-{day}", "class"),
            "title": page.locator(f"#day-{day} > title").text_content(),
            "expected": page.get_attribute(f"#day-{day}", "data-expected")}


def test_calendars_show_the_dst_days_distinctly(offline, base_url, tmp_path):
    page = offline(extra_http_headers={"x-api-key": API_KEY}).new_page()
    page.goto(f"{base_url}/api/v1/esiids/{ONCOR}/completeness.svg")
    fall, ordinary = _cell(page, "2025-11-02"), _cell(page, "2025-11-01")
    oncor = screenshot(page, tmp_path / "calendar_oncor_fall_back.png")
    page.goto(f"{base_url}/api/v1/esiids/{CENTERPOINT}/completeness.svg")
    spring, plain = _cell(page, "2026-03-08"), _cell(page, "2026-03-09")
    centerpoint = screenshot(page, tmp_path / "calendar_centerpoint_spring_forward.png")

    # The DOM: a class of its own per DST kind, and the interval counts in the tooltip.
    assert "dst-fall" in fall["class"] and "dst" not in ordinary["class"].split()
    assert "dst-spring" in spring["class"] and "dst" not in plain["class"].split()
    assert fall["expected"] == "100" and spring["expected"] == "92" and ordinary["expected"] == "96"
    assert fall["title"] == "2025-11-02 (fall back, 25 h): complete, 100 of 100 intervals"
    assert spring["title"] == "2026-03-08 (spring forward, 23 h): complete, 92 of 92 intervals (worst of 2 series)"

    # The pixels: the fall-back marker sits in the bottom-right corner, spring-forward's in the
    # top-left; the same spots of an ordinary complete day show the status colour.
    def corner(shot, cell, which):
        b = cell["box"]
        x, y = (b["x"] + 4, b["y"] + 4) if which == "top-left" else (b["x"] + b["width"] - 4, b["y"] + b["height"] - 4)
        return pixel(shot, x, y)

    fall_mark, spring_mark = corner(oncor, fall, "bottom-right"), corner(centerpoint, spring, "top-left")
    assert distance(fall_mark, COLOURS["fall"]) < 30 and distance(spring_mark, COLOURS["spring"]) < 30
    for shot, cell in ((oncor, ordinary), (centerpoint, plain)):
        for which in ("top-left", "bottom-right"):
            assert distance(corner(shot, cell, which), COLOURS["complete"]) < 30
    assert distance(corner(oncor, fall, "top-left"), COLOURS["complete"]) < 30  # one marker per DST kind
    assert distance(fall_mark, spring_mark) > 60 and distance(fall_mark, COLOURS["complete"]) > 60
    assert distance(spring_mark, COLOURS["complete"]) > 60
    assert offline.blocked == []


def test_heatmaps_show_the_repeated_and_the_skipped_hour(offline, base_url, tmp_path):
    page = offline(extra_http_headers={"x-api-key": API_KEY}).new_page()
    response = page.goto(f"{base_url}/api/v1/esiids/{ONCOR}/usage-heatmap.svg")
    assert response.headers["content-type"] == "image/svg+xml"
    assert page.locator("g.day-column").count() == 7 and page.locator("rect.hour").count() == 7 * 24
    repeated = page.locator('g.day-column[data-date="2025-11-02"] rect[data-hour="1"]')
    assert "repeated" in repeated.get_attribute("class") and "both hours summed" in repeated.text_content()
    assert page.locator("path.dst-fall").count() == 1
    screenshot(page, tmp_path / "heatmap_oncor_fall_back.png")

    page.goto(f"{base_url}/api/v1/esiids/{CENTERPOINT}/usage-heatmap.svg")
    skipped = page.locator('g.day-column[data-date="2026-03-08"] rect[data-hour="2"]')
    after = page.locator('g.day-column[data-date="2026-03-08"] rect[data-hour="3"]')
    assert "skipped" in skipped.get_attribute("class") and after.get_attribute("data-kwh")
    shot = screenshot(page, tmp_path / "heatmap_centerpoint_spring_forward.png")

    def centre(locator):
        box = locator.bounding_box()
        return pixel(shot, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    assert distance(centre(skipped), COLOURS["none"]) < 12  # drawn as no data
    assert distance(centre(after), COLOURS["none"]) > 40
    assert offline.blocked == []
