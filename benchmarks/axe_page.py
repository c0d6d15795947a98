"""axe-core's accessibility rules run on an interp page (`-o morph.html`) in headless Chromium.

axe-core is JavaScript and not a dependency of interp (the tests check what matters to a reader themselves, in
tests/test_page.py); this script takes axe.min.js from a file, e.g. the one that the PyPI package
axe-playwright-python ships, installed or unpacked anywhere (it is not imported):

    python -m pip download --no-deps -d /tmp/axe axe-playwright-python && unzip -o /tmp/axe/*.whl -d /tmp/axe
    .venv/bin/interp examples/demo_a.png examples/demo_b.png --weights demo --size 256 -o /tmp/m.html
    .venv/bin/python benchmarks/axe_page.py /tmp/m.html /tmp/axe/axe_playwright_python/axe.min.js

Every rule axe has (WCAG A, AA and AAA, best practices, experimental) is run on the page as opened, at
1280x800, at 320x640, at 1280x800 with reduced motion and at 200 % zoom (640x400 at 2x), and once more while
it plays. It prints each violation and each result axe could not decide, with the elements; exit status 1 if
any rule was violated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import OFFLINE_ARGS, chromium  # noqa: E402

SETUPS = [("1280x800", {"viewport": {"width": 1280, "height": 800}}),
          ("320x640", {"viewport": {"width": 320, "height": 640}}),
          ("reduced motion", {"viewport": {"width": 1280, "height": 800}, "reduced_motion": "reduce"}),
          ("200 % zoom", {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2})]

_RUN = """() => axe.run(document, {runOnly: {type: "rule", values: axe.getRules().map(r => r.ruleId)}})"""


def report(name: str, page) -> int:
    results = page.evaluate(_RUN)
    print(f"{name}: {len(results['passes'])} rules passed, {len(results['violations'])} violated, "
          f"{len(results['incomplete'])} undecided")
    for kind in ("violations", "incomplete"):
        for rule in results[kind]:
            print(f"  {kind[:-1]}: {rule['id']} ({rule['impact']}): {rule['help']}")
            for node in rule["nodes"]:
                summary = " ".join((node.get("failureSummary") or "").split())
                print(f"    {node['target']}: {summary}")
    return len(results["violations"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("axe", type=Path, help="axe.min.js")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    axe = args.axe.read_text(encoding="utf-8")
    violated = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=OFFLINE_ARGS)
        for name, options in SETUPS:
            context = browser.new_context(**options)
            page = context.new_page()
            page.goto(args.page.resolve().as_uri())
            page.evaluate(axe)  # through DevTools, past the page's Content-Security-Policy (inline scripts only)
            violated += report(name, page)
            if name == "1280x800":
                page.click("#play")
                violated += report("playing", page)
            context.close()
        browser.close()
    return 1 if violated else 0


if __name__ == "__main__":
    sys.exit(main())
