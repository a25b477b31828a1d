"""``memvisor report``: the command, and the page as headless Chromium draws it.

The browser tests open the written file in Debian's ``chromium`` (``/usr/bin/chromium``),
then read the DOM after the page's script ran (``--dump-dom``) and count what it
drew, and take a screenshot and count its coloured pixels.
"""

from __future__ import annotations

import collections
import os
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from memvisor.cli import cli
from memvisor.events import EVENT_TYPES, LLMResponded

from .replay.report_logs import XSS, demo_events, every_event_log, write_log

CHROMIUM = Path("/usr/bin/chromium")
# CI sets MEMVISOR_REQUIRE_BROWSER: there a missing browser fails the tests, never skips them.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("MEMVISOR_REQUIRE_BROWSER"),
    reason="headless Chromium is not installed (Debian: apt-get install chromium)",
)


def report(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--home", str(home), "report", *args])
    return result.exit_code, result.output


# --- the command -------------------------------------------------------------------


def test_report_writes_one_page_and_says_so(tmp_path: Path) -> None:
    events = demo_events(tmp_path)
    out = tmp_path / "demo.html"
    status, output = report(tmp_path, "demo", "-o", str(out))
    assert status == 0, output
    assert output.startswith(f"wrote {out}: {len(events)} events of 'demo', ")
    assert output.rstrip().endswith("KB")
    assert len(output.splitlines()) == 1
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "demo · memvisor report" in page


def test_report_writes_name_html_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_events(tmp_path / "home")
    monkeypatch.chdir(tmp_path)
    status, output = report(tmp_path / "home", "demo")
    assert status == 0, output
    assert (tmp_path / "demo.html").exists()


def test_report_errors_are_one_readable_line(tmp_path: Path) -> None:
    status, output = report(tmp_path, "demo", "-o", str(tmp_path / "x.html"))
    assert (status, output) == (
        1,
        f"memvisor: error: no event log at {tmp_path / 'events.sqlite3'}"
        " (run `memvisor demo` first?)\n",
    )
    demo_events(tmp_path)
    status, output = report(tmp_path, "nobody", "-o", str(tmp_path / "x.html"))
    assert status == 1
    assert "no agent named 'nobody'" in output
    status, output = report(tmp_path, "no/such", "-o", str(tmp_path / "x.html"))
    assert status == 1
    assert "invalid agent name" in output
    status, output = report(tmp_path, "demo", "-o", str(tmp_path / "missing" / "x.html"))
    assert status == 1
    assert output.startswith(f"memvisor: error: cannot write {tmp_path / 'missing' / 'x.html'}")
    assert not (tmp_path / "x.html").exists()


# --- in the browser ----------------------------------------------------------------


class Element:
    """One element of the dumped DOM: its tag, attributes, children and text."""

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Element] = []
        self.parts: list[str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def walk(self) -> list[Element]:
        found = [self]
        for child in self.children:
            found += child.walk()
        return found

    def find(self, cls: str) -> list[Element]:
        return [e for e in self.walk() if cls in e.classes]


class _TreeBuilder(HTMLParser):
    VOID = frozenset({"meta", "link", "input", "br", "img", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.parts.append(data)


def chromium(tmp_path: Path, *options: str, url: str) -> str:
    """Run headless Chromium on ``url`` with ``options``; its stdout."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *options,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rendered(tmp_path: Path, page: Path, fragment: str = "") -> Element:
    """The page's DOM after its script ran."""
    dump = chromium(tmp_path, "--dump-dom", url=page.as_uri() + fragment)
    builder = _TreeBuilder()
    builder.feed(dump)
    (body,) = [e for e in builder.root.walk() if e.tag == "body"]
    assert body.attrs.get("data-rendered") == "yes", "the page's script did not finish"
    return builder.root


def png_pixels(path: Path) -> list[bytes]:
    """The RGB(A) pixels of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, list[bytes]] = collections.defaultdict(list)
    pos = 8
    while pos < len(data):
        (size, kind) = struct.unpack(">I4s", data[pos : pos + 8])
        chunks[kind].append(data[pos + 8 : pos + 8 + size])
        pos += 12 + size
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
    assert (depth, colour, interlace) in ((8, 2, 0), (8, 6, 0))
    bpp = 3 if colour == 2 else 4
    rows = _unfilter(zlib.decompress(b"".join(chunks[b"IDAT"])), width * bpp, height, bpp)
    return [bytes(row[x : x + 3]) for row in rows for x in range(0, len(row), bpp)]


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytearray]:
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        prev = line
    return rows


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    home = tmp_path_factory.mktemp("home")
    events = demo_events(home)
    page = home / "demo.html"
    status, output = report(home, "demo", "-o", str(page))
    assert status == 0, output
    return page, sum(isinstance(e, LLMResponded) for e in events)


@needs_chromium
def test_the_browser_draws_the_timeline_the_chart_and_core_memory(
    tmp_path: Path, demo_page: tuple[Path, int]
) -> None:
    page, steps = demo_page
    dom = rendered(tmp_path, page)
    items = dom.find("tl-item")
    assert [int(e.attrs["data-seq"]) for e in items] == list(range(1, 64))  # one page
    assert len(dom.find("selected")) == 1  # the last event, by default
    assert len(dom.find("chart-point")) == steps
    assert len(dom.find("chart-series")) >= 2  # reported and estimated (and the legend's)
    assert len(dom.find("chart-compaction")) == 1
    assert len(dom.find("chart-pressure")) >= 2
    assert {
        " ".join(sorted(e.classes)) for e in dom.find("chart-threshold") if e.tag == "line"
    } >= {
        "chart-threshold flush",
        "chart-threshold warning",
    }
    labels = [e.attrs["data-label"] for e in dom.find("mem-block")]
    assert labels == ["persona", "human"]
    (calls,) = [e for e in items if e.attrs["data-seq"] == "58"]
    assert '"query": "locker code"' in calls.text  # arguments, pretty-printed


@needs_chromium
def test_core_memory_is_shown_as_it_was_at_the_selected_event(
    tmp_path: Path, demo_page: tuple[Path, int]
) -> None:
    page, _ = demo_page
    before = rendered(tmp_path, page, "#seq=4")
    (human,) = [e for e in before.find("mem-block") if e.attrs["data-label"] == "human"]
    assert "Name: Priya." not in human.text
    after = rendered(tmp_path, page, "#seq=5")
    (human,) = [e for e in after.find("mem-block") if e.attrs["data-label"] == "human"]
    assert "Name: Priya." in human.text
    assert "changed here" in human.text
    (selected,) = after.find("selected")
    assert selected.attrs["data-seq"] == "5"


@needs_chromium
def test_every_event_type_renders_and_log_text_stays_text(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_log(home, every_event_log(user_text=XSS))
    page = tmp_path / "ada.html"
    status, output = report(home, "ada", "-o", str(page))
    assert status == 0, output
    dom = rendered(tmp_path, page)
    items = dom.find("tl-item")
    assert {e.attrs["data-type"] for e in items} == EVENT_TYPES
    assert not dom.find("unknown")  # each type has its own renderer
    assert not [e for e in dom.walk() if e.tag == "img"]
    (user,) = [e for e in items if e.attrs["data-type"] == "user_message"]
    assert XSS in user.text
    (call,) = [e for e in items if e.attrs["data-seq"] == "27"]
    assert "{not json" in call.text  # malformed arguments are shown as written


@needs_chromium
def test_a_screenshot_of_the_report_is_not_blank(
    tmp_path: Path, demo_page: tuple[Path, int]
) -> None:
    page, _ = demo_page
    shot = tmp_path / "shot.png"
    chromium(
        tmp_path,
        "--hide-scrollbars",
        f"--screenshot={shot}",
        "--window-size=1400,1000",
        url=page.as_uri() + "#seq=43",
    )
    pixels = png_pixels(shot)
    assert len(pixels) == 1400 * 1000
    counts = collections.Counter(pixels)
    background, _ = counts.most_common(1)[0]
    painted = len(pixels) - counts[background]
    # Colour (the series, the marks, the timeline's kinds), not only grey and white.
    colourful = sum(n for rgb, n in counts.items() if max(rgb) - min(rgb) > 60)
    assert painted > len(pixels) // 4
    assert colourful > 5_000
    assert len(counts) > 1_500  # a page whose script failed has about 400
