"""The draw-a-digit page in a real browser: start `mnist-cnn serve`, draw digits with the mouse
on the canvas in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium),
and check that the page shows each digit as the prediction, then that Clear clears.

Usage: browser-test.py [--screenshot PATH]
"""
import argparse
import math
import pathlib
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "mnist-cnn"


def ellipse(cx, cy, rx, ry, turns=1.0, start=0.0):
    return [(cx + rx * math.cos(start + turns * 2 * math.pi * i / 32), cy + ry * math.sin(start + turns * 2 * math.pi * i / 32)) for i in range(33)]


# Strokes in a unit box (x right, y down), drawn into the middle of the 280x280 canvas.
DIGITS = {
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
    0: [ellipse(0.5, 0.5, 0.3, 0.45)],
    3: [[(0.2, 0.15), (0.45, 0.05), (0.7, 0.12), (0.72, 0.3), (0.45, 0.47), (0.75, 0.6), (0.75, 0.82), (0.5, 0.95), (0.2, 0.87)]],
}


def draw(driver, pad, strokes):
    """Drags the mouse along each stroke (offsets are from the canvas's centre)."""
    box = 200
    for stroke in strokes:
        points = [((x - 0.5) * box, (y - 0.5) * box) for x, y in stroke]
        chain = ActionChains(driver, duration=10)
        chain.move_to_element_with_offset(pad, int(points[0][0]), int(points[0][1])).click_and_hold()
        last = (int(points[0][0]), int(points[0][1]))
        for x, y in points[1:]:
            # Short steps, as a hand moves: long segments become several pointermove events.
            steps = max(1, int(math.dist(last, (x, y)) // 10))
            for s in range(1, steps + 1):
                px = int(last[0] + (x - last[0]) * s / steps)
                py = int(last[1] + (y - last[1]) * s / steps)
                chain.move_to_element_with_offset(pad, px, py)
            last = (int(x), int(y))
        chain.release().perform()


def settled(driver):
    return driver.execute_script("return document.getElementById('pad').dataset.busy") == "false"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshot", type=pathlib.Path)
    args = parser.parse_args()
    server = subprocess.Popen([str(BINARY), "serve", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    driver = None
    try:
        line = server.stdout.readline()
        if "http://" not in line:
            sys.exit(f"the server did not start: {line!r}")
        url = "http://" + line.split("http://")[1].split()[0]
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1100,800", f"--user-data-dir={tempfile.mkdtemp()}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.get(url)
        pad = driver.find_element(By.ID, "pad")
        shown = lambda: driver.find_element(By.ID, "digit").text
        failures = []
        for digit, strokes in DIGITS.items():
            driver.find_element(By.ID, "clear").click()
            assert shown() == "?", "Clear resets the prediction"
            draw(driver, pad, strokes)
            WebDriverWait(driver, 10).until(lambda d: settled(d) and shown() != "?")
            lit = driver.execute_script(
                "const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data;"
                "let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 0; return n;")
            print(f"browser: drew {digit}, the page says {shown()} ({lit} of 784 pixels lit in the model's view)")
            if shown() != str(digit):
                failures.append(f"drew {digit}, the page says {shown()}")
            if not 30 < lit < 400:
                failures.append(f"drew {digit}: the 28x28 view has {lit} lit pixels")
            if digit == 7 and args.screenshot:
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.screenshot))
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        if errors:
            failures.append(f"console errors: {errors}")
        if failures:
            sys.exit("browser test FAILED: " + "; ".join(failures))
        print(f"browser: {len(DIGITS)} drawn digits read right")
    finally:
        if driver:
            driver.quit()
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
