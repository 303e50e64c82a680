"""Builds the handouts folder (see scripts/handouts.sh): the notebooks as self-contained HTML,
the report pictures, an index page. Usage: handouts.py OUT (with OUT/page/ already written)."""
import html
import json
import pathlib
import re
import shutil
import sys

from nbconvert import HTMLExporter

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1]).resolve()
(out / "notebooks").mkdir(parents=True, exist_ok=True)

exporter = HTMLExporter(template_name="lab", embed_images=True)
books = sorted((root / "notebooks").glob("*.ipynb"))
titles = {}
for path in books:
    body, _ = exporter.from_filename(str(path))
    # Offline: no scripts or styles from the web (MathJax, require.js: the notebooks need
    # neither), and links between notebooks to their HTML copies.
    body = re.sub(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>', "", body)
    body = re.sub(r'<link[^>]*href="https?://[^"]*"[^>]*>', "", body)
    body = re.sub(r'href="(\d\d-[a-z0-9-]+)\.ipynb"', r'href="\1.html"', body)
    body = body.replace('href="../README.md', 'href="../index.html')
    (out / "notebooks" / f"{path.stem}.html").write_text(body, encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    first = "".join(cells[0]["source"]).splitlines()[0] if cells else path.stem
    titles[path.stem] = first.lstrip("# ").strip()

shutil.copytree(root / "reports", out / "reports", ignore=shutil.ignore_patterns("*.csv"))
pictures = sorted(p.relative_to(out) for p in (out / "reports").glob("*.png"))

items = "\n".join(f'  <li><a href="notebooks/{stem}.html">{html.escape(title)}</a></li>' for stem, title in titles.items())
gallery = "\n".join(f'  <figure><a href="{p}"><img src="{p}" alt="{html.escape(p.stem)}" loading="lazy"></a><figcaption>{html.escape(p.stem.replace("_", " "))}</figcaption></figure>' for p in pictures)
(out / "index.html").write_text(f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mnist-cnn: handwritten digits, the lesson</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }}
  li {{ margin: .3rem 0; }}
  .gallery {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: 1rem; }}
  figure {{ margin: 0; }} img {{ width: 100%; border: 1px solid #ddd; }} figcaption {{ font-size: .85rem; color: #555; }}
</style>
</head>
<body>
<h1>Handwritten digits with a convolutional network</h1>
<p>The lesson of mnist-cnn, to read without installing anything: each
notebook with the results of a full run, the pictures the project draws, and a page to draw a digit on
and watch the network read it, on this device.</p>
<h2>The notebooks</h2>
<ol>
{items}
</ol>
<h2>Try it</h2>
<p><a href="page/index.html">Draw a digit</a>: the trained network runs in the page itself, with no
server and no connection.</p>
<h2>The pictures</h2>
<div class="gallery">
{gallery}
</div>
</body>
</html>
""", encoding="utf-8")
print(f"{len(books)} notebooks, {len(pictures)} pictures")
