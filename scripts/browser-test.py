"""The draw-a-digit page in a real browser (headless Chromium: Debian's chromium and
chromium-driver, driven by Selenium):

1. from `mnist-cnn serve`: draw digits with the mouse on the canvas and check that the page shows
   each as the prediction; that its own reading (the network run in the page, nn.js) gives the
   server's pixels and probabilities (within 1e-4) for the same drawing; that Clear clears;
   photos of paper (tests/photo.rs) read by the page and by the server as by the library, and
   the page's photo button; the look inside (every layer, saliency, fooling) as the library's
   (tests/explain.rs), the panels, a click on a feature map's pixel, the Fool it button; numbers
   (tests/number.rs) read by the page and the server as by the library, and the number mode;
2. the network in the page on 1,000 test digits: the library's probabilities within 1e-4 (the
   fixture `cargo test --test export` writes to target/export-check/);
3. the page as a static folder (`mnist-cnn page`) from a plain web server with no /predict:
   digits read on the device; then, the web server stopped, the page reloaded from its service
   worker's copy still reads them (offline);
4. the handouts (`scripts/handouts.sh`) opened from files, as from a USB stick: every page, link
   and image loads, with no error, and the draw-a-digit page reads a digit there too.

Usage: browser-test.py [--screenshot PATH] (also writes PATH's name with -inside: the whole page, the
look inside the network included)
"""
import argparse
import json
import math
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "mnist-cnn"
CHECK = ROOT / "target" / "export-check"


# The digits to draw: their strokes are the ones the Rust tests draw their synthetic digits with
# (tests/common/mod.rs), which `cargo test` writes to target/export-check/strokes.json: polylines
# in a unit box (x right, y down), drawn into the middle of the 280x280 canvas.
DRAWN = [7, 0, 3]


def fixture(name):
    """A JSON file the Rust tests write to target/export-check/."""
    path = CHECK / name
    if not path.exists():
        sys.exit(f"{path} is missing: run `cargo test --release` first, which writes it")
    return json.loads(path.read_text())


def strokes():
    """Each digit's strokes (tests/serve.rs writes them)."""
    return fixture("strokes.json")


def draw(driver, pad, strokes, box=200, dx=0):
    """Drags the mouse along each stroke, in a `box` wide square `dx` right of the canvas's
    centre (offsets are from the centre)."""
    for stroke in strokes:
        points = [((x - 0.5) * box + dx, (y - 0.5) * box) for x, y in stroke]
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


# The page's own reading of what is on the canvas, and the server's answer for the same drawing.
AGAINST_SERVER = """
const done = arguments[arguments.length - 1];
const local = MnistCnn.prepare(ink.getImageData(0, 0, pad.width, pad.height).data, pad.width, pad.height);
pad.toBlob(async png => {
  const answer = await (await fetch("/predict", { method: "POST", body: png })).json();
  const p = MnistCnn.probabilities(net, local);
  done({ same_pixels: answer.pixels.every((v, i) => v === local[i]),
         diff: Math.max(...p.map((v, i) => Math.abs(v - answer.probabilities[i]))) });
}, "image/png");
"""

# A PNG given in base64: its bytes and its RGBA pixels, as a canvas reads them.
PNG_PIXELS = """
async function pngPixels(base64) {
  const bytes = Uint8Array.from(atob(base64), ch => ch.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
  const canvas = document.createElement("canvas");
  [canvas.width, canvas.height] = [bitmap.width, bitmap.height];
  const g = canvas.getContext("2d");
  g.drawImage(bitmap, 0, 0);
  return { bytes, rgba: g.getImageData(0, 0, canvas.width, canvas.height).data, width: canvas.width, height: canvas.height };
}
"""

# Photos of paper (tests/photo.rs writes them to target/export-check/photos.json with the
# library's 28x28 reading of each): the page's own reading (preparePhoto) and the server's
# (POST /predict?photo) must both give the library's pixels exactly.
PHOTO_CASES = PNG_PIXELS + """
const [cases, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const results = [];
  for (const c of cases) {
    const { bytes, rgba, width, height } = await pngPixels(c.png);
    const local = MnistCnn.preparePhoto(rgba, width, height);
    const res = await fetch("/predict?photo", { method: "POST", body: bytes });
    const answer = await res.json();
    const same = (want, got) => want === null ? got === null : got !== null && want.every((v, i) => v === got[i]);
    results.push({ label: c.label, page: same(c.pixels, local), server: same(c.pixels, res.ok ? answer.pixels : null), status: res.status });
  }
  done(results);
})().catch(err => done([{ error: String(err), page: false, server: false }]));
"""

# The page's own look inside the network, against the library's (tests/explain.rs writes
# target/export-check/inside.json): every layer's output, the saliency of the answer, fooling.
INSIDE_CASES = """
const cases = arguments[0];
return cases.map(c => {
  const layers = MnistCnn.activations(net, c.pixels);
  let layer = 0;
  layers.forEach((l, i) => {
    const want = c.layers[i].values, top = Math.max(1, ...want.map(Math.abs));
    want.forEach((v, j) => { layer = Math.max(layer, Math.abs(v - l.output[j]) / top); });
  });
  const s = MnistCnn.saliency(net, c.pixels, c.predicted), top = Math.max(...c.saliency.map(Math.abs));
  const saliency = Math.max(...s.map((v, i) => Math.abs(v - c.saliency[i]) / top));
  const f = MnistCnn.fool(net, c.pixels, c.label, 0.01, 0.3);
  return { layer, saliency, fooled: f && { predicted: f.predicted, steps: f.steps, change: f.change } };
});
"""

# Numbers (tests/number.rs writes them to target/export-check/numbers.json, with the library's
# reading): the page's readNumber and the server's POST /predict?number must both give the
# library's digits, boxes and pixels.
NUMBER_CASES = PNG_PIXELS + """
const [cases, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const results = [];
  for (const c of cases) {
    const { bytes, rgba, width, height } = await pngPixels(c.png);
    const read = MnistCnn.readNumber(net, rgba, width, height);
    const page = read.map(d => ({ box: [d.bounds.x, d.bounds.y, d.bounds.width, d.bounds.height], pixels: Array.from(d.pixels), digit: d.digit }));
    const answer = await (await fetch("/predict?number", { method: "POST", body: bytes })).json();
    const same = got => got.length === c.digits.length && got.every((d, i) => d.digit === c.digits[i].digit
      && d.box.every((v, k) => v === c.digits[i].box[k]) && d.pixels.every((v, k) => v === c.digits[i].pixels[k]));
    results.push({ number: c.number, page: same(page), server: same(answer.digits || []), read: page.map(d => d.digit).join("") });
  }
  done(results);
})().catch(err => done([{ error: String(err), page: false, server: false }]));
"""

# The page's preparation against the server's on varied pictures: canvases of 40 to 440 pixels,
# light and dark, grey paper, thin and thick strokes, small ink (scaled up) and large.
PREPARE_CASES = """
const done = arguments[arguments.length - 1];
let seed = 12345;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const results = [];
(async () => {
  for (let n = 0; n < 24; n++) {
    const c = document.createElement("canvas");
    c.width = 40 + Math.floor(rand() * 400); c.height = 40 + Math.floor(rand() * 400);
    const g = c.getContext("2d");
    const dark = rand() < 0.3, paper = dark ? Math.floor(rand() * 60) : 160 + Math.floor(rand() * 96);
    const inkLevel = dark ? 180 + Math.floor(rand() * 76) : Math.floor(rand() * 90);
    g.fillStyle = `rgb(${paper},${paper},${paper})`; g.fillRect(0, 0, c.width, c.height);
    g.strokeStyle = `rgb(${inkLevel},${Math.max(0, inkLevel - 20)},${inkLevel})`;
    g.lineWidth = 1 + rand() * Math.min(c.width, c.height) / 8; g.lineCap = "round";
    const s = Math.min(c.width, c.height) * (0.1 + rand() * 0.8);
    const x0 = rand() * (c.width - s), y0 = rand() * (c.height - s);
    g.beginPath(); g.moveTo(x0 + rand() * s, y0 + rand() * s);
    for (let k = 0; k < 4; k++) g.lineTo(x0 + rand() * s, y0 + rand() * s);
    g.stroke();
    const local = MnistCnn.prepare(g.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
    const png = await new Promise(r => c.toBlob(r, "image/png"));
    const res = await fetch("/predict", { method: "POST", body: png });
    const answer = await res.json();
    const same = res.status === 422 ? local === null : local !== null && answer.pixels.every((v, i) => v === local[i]);
    results.push({ size: [c.width, c.height], status: res.status, same });
  }
  done(results);
})().catch(err => done([{ error: String(err), same: false, status: 0 }]));
"""


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1100,800", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def draw_and_read(driver, digit):
    """Clears, draws `digit`, waits for the page's answer; returns (shown, lit pixels)."""
    pad = driver.find_element(By.ID, "pad")
    shown = lambda: driver.find_element(By.ID, "digit").text
    driver.find_element(By.ID, "clear").click()
    assert shown() == "?", "Clear resets the prediction"
    draw(driver, pad, strokes()[digit])
    WebDriverWait(driver, 10).until(lambda d: settled(d) and shown() != "?")
    lit = driver.execute_script(
        "const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 0; return n;")
    return shown(), lit


def compare_inside(driver, cases, failures, network):
    """The page's every layer, saliency and fooling for `cases` against the library's."""
    got = driver.execute_script(INSIDE_CASES, cases)
    for c, g in zip(cases, got):
        want = c["fooled"]
        same_fooling = (want is None) == (g["fooled"] is None) and (want is None or (
            want["predicted"] == g["fooled"]["predicted"] and abs(want["steps"] - g["fooled"]["steps"]) <= 1))
        print(f"browser: test digit {c['label']} inside the page's copy of {network} network: every layer within {g['layer']:.1e} of the "
              f"library (of each layer's largest value), saliency within {g['saliency']:.1e}; fooled as the library "
              f"({want and (want['predicted'], want['steps'])} vs {g['fooled'] and (g['fooled']['predicted'], g['fooled']['steps'])}): {same_fooling}")
        if g["layer"] > 1e-4 or g["saliency"] > 1e-3 or not same_fooling:
            failures.append(f"the page's look inside {network} network differs from the library's for a {c['label']}: {g} vs {want}")


def better_network_checks(driver, failures):
    """Any network, read from its model file: the page served with the better one shows its own
    layers, and its numbers are the library's."""
    server = subprocess.Popen([str(BINARY), "serve", "--port", "0", "--network", "better"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        driver.get("http://" + line.split("http://")[1].split()[0])
        WebDriverWait(driver, 10).until(lambda d: "this device" in d.find_element(By.ID, "mode").text)
        cases = fixture("inside-better.json")
        compare_inside(driver, cases, failures, "the better")
        driver.execute_script("showReading(arguments[0]);", cases[0]["pixels"])
        titles = [t.split(" →")[0] for t in driver.execute_script("return [...document.querySelectorAll('#layers h3')].map(h => h.textContent)")]
        print(f"browser: the page served with the better network shows its {len(titles)} rows: {', '.join(titles)}")
        if titles != cases[0]["rows"]:
            failures.append(f"the better network's page shows {titles}, not {cases[0]['rows']}")
    finally:
        server.kill()
        server.wait()


def inside_checks(driver, failures, screenshot=None):
    """The look inside the network: the page's numbers against the library's, then its panels:
    one row per layer, a click on a pixel of a feature map explains it, Fool it fools."""
    cases = fixture("inside.json")
    compare_inside(driver, cases, failures, "the lesson's")
    # The panels, for the first digit: its rows, a click on a feature map's brightest pixel.
    case = cases[0]
    driver.execute_script("showReading(arguments[0]);", case["pixels"])
    titles = driver.execute_script("return [...document.querySelectorAll('#layers h3')].map(h => h.textContent)")
    if [t.split(" →")[0] for t in titles] != case["rows"]:
        failures.append(f"the page's layers {titles} are not the network's {case['rows']}")
    first = case["layers"][1] if case["layers"][1]["op"] == "ReLU" else case["layers"][0]
    best = max(range(len(first["values"]) // first["shape"][0]), key=lambda i: first["values"][i])  # map 0's brightest pixel
    y, x = click_map(driver, best, first["shape"])
    said = driver.find_element(By.ID, "window").text
    value = float(driver.find_element(By.CSS_SELECTOR, "#window [data-value]").get_attribute("textContent"))
    pre = float(driver.find_element(By.CSS_SELECTOR, "#window [data-sum]").text)
    want_pre = case["layers"][0]["values"][best]
    print(f"browser: a click on map 0, row {y}, column {x}: the page shows {said.splitlines()[0]!r} ... sum {pre}, "
          f"after ReLU {value} (the library: {want_pre:.3f}, {first['values'][best]:.3f})")
    if abs(value - first["values"][best]) > 2e-3 or abs(pre - want_pre) > 2e-3 or f"row {y}, column {x}" not in said:
        failures.append(f"the click on a feature map explains the wrong pixel or value: {said!r}")
    driver.find_element(By.ID, "fool").click()
    read = driver.find_element(By.ID, "fool-said").get_attribute("data-read")
    print(f"browser: Fool it: {driver.find_element(By.ID, 'fool-said').text}")
    if case["fooled"] and read != str(case["fooled"]["predicted"]):
        failures.append(f"Fool it: the page reads {read}, the library {case['fooled']}")
    if screenshot:
        # The whole page for a drawn 7, the panels inside the network included.
        draw_and_read(driver, 7)
        shape = driver.execute_script("return current.steps[1].shape")
        values = driver.execute_script("return Array.from(current.steps[1].output)")
        click_map(driver, max(range(shape[1] * shape[2]), key=lambda i: values[i]), shape)
        driver.find_element(By.ID, "fool").click()
        driver.set_window_size(1100, driver.execute_script("return document.body.scrollHeight") + 140)
        driver.execute_script("window.scrollTo(0, 0);")
        driver.save_screenshot(str(screenshot))
        driver.set_window_size(1100, 800)
    driver.execute_script("window.scrollTo(0, 0);")


def number_checks(driver, failures, screenshot=None):
    """Numbers: the page's reading and the server's as the library's; then the number mode, with
    7, 0 and 3 drawn side by side with the mouse: read as 703, three boxes, a digit chosen."""
    cases = fixture("numbers.json")
    checked = driver.execute_async_script(NUMBER_CASES, cases)
    bad = [c for c in checked if not (c["page"] and c["server"])]
    print(f"browser: {len(checked)} numbers: the page's reading gives the library's digits, boxes and pixels for "
          f"{sum(c['page'] for c in checked)}, the server's for {sum(c['server'] for c in checked)} "
          f"({', '.join(c['number'] for c in cases)})")
    if bad or len(checked) != len(cases):
        failures.append(f"numbers read differently from the library: {bad}")
    driver.find_element(By.ID, "number-mode").click()
    pad = driver.find_element(By.ID, "pad")
    for k, d in enumerate([7, 0, 3]):
        draw(driver, pad, strokes()[d], box=130, dx=(k - 1) * 170)
    WebDriverWait(driver, 10).until(lambda d: settled(d) and d.find_element(By.ID, "digit").text not in ("?", ""))
    shown = driver.find_element(By.ID, "digit").text
    buttons = driver.find_elements(By.CSS_SELECTOR, "#digits button")
    buttons[1].click()
    chosen = driver.execute_script("return current && current.digit")
    print(f"browser: number mode, 7 0 3 drawn side by side: the page says {shown}, {len(buttons)} digits boxed; "
          f"the second chosen, the panels show a {chosen}")
    if shown != "703" or len(buttons) != 3 or chosen != 0:
        failures.append(f"number mode: drew 7 0 3, the page says {shown} with {len(buttons)} digits, chose a {chosen}")
    if screenshot:
        driver.set_window_size(1500, 760)
        driver.execute_script("window.scrollTo(0, 0);")
        driver.save_screenshot(str(screenshot))
        driver.set_window_size(1100, 800)
    driver.find_element(By.ID, "number-mode").click()


def click_map(driver, at, shape):
    """Clicks pixel `at` (row * width + column) of the first layer's map 0; returns (row, column)."""
    _, h, w = shape
    y, x = divmod(at, w)
    canvas = driver.find_elements(By.CSS_SELECTOR, "#layers .layer")[0].find_elements(By.CSS_SELECTOR, ".map canvas:not(.filter)")[0]
    size = {k: v - 2 for k, v in canvas.size.items()}  # inside its 1-pixel border
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    ActionChains(driver).move_to_element_with_offset(canvas, int((x + 0.5) * size["width"] / w - size["width"] / 2),
                                                     int((y + 0.5) * size["height"] / h - size["height"] / 2)).click().perform()
    return y, x


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshot", type=pathlib.Path)
    args = parser.parse_args()
    server = subprocess.Popen([str(BINARY), "serve", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    driver, static = None, None
    failures = []
    try:
        line = server.stdout.readline()
        if "http://" not in line:
            sys.exit(f"the server did not start: {line!r}")
        url = "http://" + line.split("http://")[1].split()[0]
        driver = browser()

        # 1. From `serve`: the page reads the drawing itself, as the server would.
        driver.get(url)
        WebDriverWait(driver, 10).until(lambda d: "this device" in d.find_element(By.ID, "mode").text)
        for digit in DRAWN:
            shown, lit = draw_and_read(driver, digit)
            check = driver.execute_async_script(AGAINST_SERVER)
            print(f"browser: drew {digit}, the page says {shown} ({lit} of 784 pixels lit in the model's view); "
                  f"against the server: same pixels {check['same_pixels']}, probabilities within {check['diff']:.1e}")
            if shown != str(digit):
                failures.append(f"drew {digit}, the page says {shown}")
            if not 30 < lit < 400:
                failures.append(f"drew {digit}: the 28x28 view has {lit} lit pixels")
            if not check["same_pixels"] or check["diff"] > 1e-4:
                failures.append(f"drew {digit}: the page's reading differs from the server's: {check}")
            if digit == 7 and args.screenshot:
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.screenshot))

        inside_checks(driver, failures, args.screenshot and args.screenshot.with_name(args.screenshot.stem + "-inside.png"))
        number_checks(driver, failures, args.screenshot and args.screenshot.with_name(args.screenshot.stem + "-number.png"))
        better_network_checks(driver, failures)
        driver.get(url)
        WebDriverWait(driver, 10).until(lambda d: "this device" in d.find_element(By.ID, "mode").text)

        driver.set_script_timeout(120)
        started = time.time()
        cases = driver.execute_async_script(PREPARE_CASES)
        print(f"browser: ({time.time() - started:.1f} s for the varied pictures)")
        differ = [c for c in cases if not c["same"]]
        print(f"browser: the page's preparation on {len(cases)} varied pictures: {len(cases) - len(differ)} give the "
              f"server's 28x28 pixels exactly ({sum(c['status'] == 422 for c in cases)} of them blank for both)")
        if differ:
            failures.append(f"the page's preparation differs from the server's on {differ}")

        photos = fixture("photos.json")  # tests/photo.rs writes them
        checked = driver.execute_async_script(PHOTO_CASES, photos)
        # The blank page's 422 ("no digit") is expected: the other console messages are kept.
        kept_log = [e for e in driver.get_log("browser") if not ("/predict?photo" in e.get("message", "") and "422" in e.get("message", ""))]
        bad = [c for c in checked if not (c["page"] and c["server"])]
        print(f"browser: {len(checked)} photos of paper: the page's reading gives the library's 28x28 pixels for "
              f"{sum(c['page'] for c in checked)}, the server's for {sum(c['server'] for c in checked)} "
              f"({sum(p['pixels'] is None for p in photos)} blank page(s) found blank)")
        if bad or len(checked) != len(photos):
            failures.append(f"photos read differently from the library: {bad}")
        # The photo button: the page reads a photo file as the library does.
        shot = next(p for p in photos if p["pixels"] is not None)
        photo_file = pathlib.Path(tempfile.mkdtemp()) / "photo.png"
        photo_file.write_bytes(__import__("base64").b64decode(shot["png"]))
        driver.find_element(By.ID, "clear").click()
        driver.find_element(By.ID, "photo").send_keys(str(photo_file))
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "digit").text != "?")
        seen = driver.execute_script(
            "const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data;"
            "return Array.from({ length: 784 }, (_, i) => d[4 * i]);")
        shown = driver.find_element(By.ID, "digit").text
        print(f"browser: a photo given to the page's photo button (a {shot['label']}): the page says {shown}, "
              f"its 28x28 view is the library's: {seen == shot['pixels']}")
        if seen != shot["pixels"]:
            failures.append("the photo button's 28x28 view differs from the library's reading of the photo")

        # 2. The network in the page on test digits, against the library's probabilities.
        images = np.fromfile(CHECK / "lesson.images.f32", dtype="<f4").reshape(-1, 784)
        want = np.fromfile(CHECK / "lesson.probabilities.f32", dtype="<f4").reshape(-1, 10)
        pixels = np.rint(images * 255).astype(int).tolist()
        got = np.array(driver.execute_script("return arguments[0].map(p => MnistCnn.probabilities(net, p));", pixels))
        diff = float(np.abs(got - want).max())
        agree = int((got.argmax(1) == want.argmax(1)).sum())
        print(f"browser: the page's network on {len(pixels)} test digits: largest difference from the library {diff:.1e}, "
              f"{agree} of {len(pixels)} predictions the same")
        if diff > 1e-4 or agree != len(pixels):
            failures.append(f"the page's network differs from the library: {diff}, {agree} of {len(pixels)}")
        errors = [e for e in kept_log + driver.get_log("browser") if e.get("level") == "SEVERE"]
        if errors:
            failures.append(f"console errors: {errors}")

        # 3. The static folder, then offline.
        site = tempfile.mkdtemp()
        subprocess.run([str(BINARY), "page", "--out", site], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        static = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", site],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        driver.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return navigator.serviceWorker.controller !== null"))
        shown, _ = draw_and_read(driver, 7)
        print(f"browser: static folder, no server behind it: drew 7, the page says {shown}")
        if shown != "7":
            failures.append(f"static folder: drew 7, the page says {shown}")
        static.kill()
        static.wait()
        static = None
        driver.refresh()
        WebDriverWait(driver, 10).until(lambda d: "this device" in d.find_element(By.ID, "mode").text)
        shown, _ = draw_and_read(driver, 0)
        print(f"browser: offline (web server stopped, page reloaded from the service worker): drew 0, the page says {shown}")
        if shown != "0":
            failures.append(f"offline: drew 0, the page says {shown}")
        # 4. The handouts, from files.
        handouts = pathlib.Path(tempfile.mkdtemp()) / "handouts"
        subprocess.run([str(ROOT / "scripts" / "handouts.sh"), str(handouts)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        driver.get_log("browser")  # what came before is not the handouts'
        index = handouts.resolve().as_uri() + "/index.html"
        pages, seen, images, links = [index], set(), 0, 0
        while pages:
            page = pages.pop()
            if page in seen:
                continue
            seen.add(page)
            driver.get(page)
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
            # Every image, lazy ones included, loaded and drawn.
            broken = driver.execute_async_script("""
              const done = arguments[arguments.length - 1];
              const imgs = [...document.images];
              imgs.forEach(i => { i.loading = "eager"; });
              Promise.all(imgs.map(i => i.decode().then(() => null, () => i.src))).then(bad => done({ n: imgs.length, bad: bad.filter(Boolean) }));
            """)
            images += broken["n"]
            if broken["bad"]:
                failures.append(f"handouts: {page}: images that do not load: {broken['bad'][:5]}")
            for href in driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)"):
                if not href.startswith("file://"):
                    continue  # the handouts link to nothing outside; a test of the web is not ours
                links += 1
                target = href.split("#")[0]
                if not pathlib.Path(target[len("file://"):]).exists():
                    failures.append(f"handouts: {page} links to {target}, which is not there")
                elif target.endswith(".html") and target.startswith(handouts.resolve().as_uri()):
                    pages.append(target)
            errors = [e for e in kept_log + driver.get_log("browser") if e.get("level") == "SEVERE"]
            if errors:
                failures.append(f"handouts: {page}: console errors: {errors[:3]}")
        print(f"browser: handouts from files: {len(seen)} pages, {links} links and {images} images, all there")
        driver.get(handouts.resolve().as_uri() + "/page/index.html")
        WebDriverWait(driver, 10).until(lambda d: "this device" in d.find_element(By.ID, "mode").text)
        shown, _ = draw_and_read(driver, 3)
        print(f"browser: the handouts' page from a file: drew 3, the page says {shown}")
        if shown != "3":
            failures.append(f"handouts page from a file: drew 3, the page says {shown}")
        if failures:
            sys.exit("browser test FAILED: " + "; ".join(failures))
        print(f"browser: {len(DRAWN)} drawn digits read right, on the device as on the server; static, offline and from files too")
    finally:
        if driver:
            driver.quit()
        if static:
            static.kill()
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
