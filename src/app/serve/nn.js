// The draw-a-digit page's own copy of the library's inference, so that it needs no server:
//  - `prepare`: the library's preparation of a drawing (src/predict.rs: grey levels, light on
//    dark, contrast, crop, scale to fit 20x20 with image's Triangle filter, centre of mass),
//    step for step in 32-bit floats (Math.fround), so that it gives the library's 28x28 pixels;
//  - `preparePhoto`: the library's reading of a photo of paper (src/app/photo.rs), in whole
//    numbers as there, then the same steps 4 and 5;
//  - `readNumber`: several digits side by side (src/app/number.rs), split and each read;
//  - `load` and `probabilities`: a network exported by `mnist-cnn export` as its `.web` file
//    (layers as JSON, weights as float32; src/export/web.rs), run layer by layer; `activations`:
//    every layer's output on the way;
//  - `saliency` and `fool`: the network run backwards to the pixels (src/explain): what it looks
//    at, and the smallest nudge that makes it misread the digit.
"use strict";
const MnistCnn = (() => {
  const f = Math.fround;
  // Rust's round(): halves away from zero (Math.round sends -2.5 to -2).
  const round = x => Math.sign(x) * Math.round(Math.abs(x));
  const clamp = (x, lo, hi) => Math.min(Math.max(x, lo), hi);

  // ---- The preparation (src/predict.rs, `prepare`) ----

  // image's resize with its Triangle filter (imageops::sample, 0.24): rows first into floats,
  // then columns, rounded to 0..255.
  function weights(len, newLen) {
    const ratio = f(len / newLen), sratio = ratio < 1 ? 1 : ratio, support = sratio;
    const out = [];
    for (let o = 0; o < newLen; o++) {
      let input = f(f(o + 0.5) * ratio);
      const left = clamp(Math.floor(f(input - support)), 0, len - 1);
      const right = clamp(Math.ceil(f(input + support)), left + 1, len);
      input = f(input - 0.5);
      const ws = [];
      let sum = 0;
      for (let i = left; i < right; i++) {
        const x = Math.abs(f(f(i - input) / sratio));
        const w = x < 1 ? f(1 - x) : 0;
        ws.push(w);
        sum = f(sum + w);
      }
      out.push({ left, ws: ws.map(w => f(w / sum)) });
    }
    return out;
  }
  function resize(src, w, h, nw, nh) {
    if (nw === w && nh === h) return Uint8Array.from(src);
    const tmp = new Float32Array(w * nh);
    weights(h, nh).forEach(({ left, ws }, y) => {
      for (let x = 0; x < w; x++) {
        let t = 0;
        ws.forEach((wt, i) => { t = f(t + f(src[(left + i) * w + x] * wt)); });
        tmp[y * w + x] = t;
      }
    });
    const out = new Uint8Array(nw * nh);
    weights(w, nw).forEach(({ left, ws }, x) => {
      for (let y = 0; y < nh; y++) {
        let t = 0;
        ws.forEach((wt, i) => { t = f(t + f(tmp[y * w + left + i] * wt)); });
        out[y * nw + x] = round(clamp(t, 0, 255));
      }
    });
    return out;
  }

  // Step 1: grey levels (ITU-R 601 luma), transparency composited onto white paper.
  function greyOf(rgba, w, h) {
    const grey = new Uint8Array(w * h);
    const [cr, cg, cb] = [f(0.299), f(0.587), f(0.114)];
    for (let i = 0; i < w * h; i++) {
      const [r, g, b, a] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2], rgba[4 * i + 3]];
      const luma = f(f(f(cr * r) + f(cg * g)) + f(cb * b));
      const alpha = f(a / 255);
      grey[i] = clamp(round(f(f(alpha * luma) + f(f(1 - alpha) * 255))), 0, 255);
    }
    return grey;
  }

  // Steps 4 and 5 (`fit_digit`): ink (0 paper .. 255) cropped, scaled to fit 20x20, centred by
  // its mass in 28x28; null when there is no ink.
  function fitDigit(grey, w, h) {
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (let i = 0; i < grey.length; i++) {
      if (grey[i] > 0) {
        const x = i % w, y = (i - x) / w;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
    if (x1 < 0) return null;
    const [iw, ih] = [x1 - x0 + 1, y1 - y0 + 1];
    const ink = new Uint8Array(iw * ih);
    for (let y = 0; y < ih; y++) ink.set(grey.subarray((y0 + y) * w + x0, (y0 + y) * w + x0 + iw), y * iw);
    const scale = f(20 / Math.max(iw, ih));
    const [sw, sh] = [clamp(round(f(iw * scale)), 1, 20), clamp(round(f(ih * scale)), 1, 20)];
    const small = resize(ink, iw, ih, sw, sh);
    let top = 1;
    for (const v of small) top = Math.max(top, v);
    for (let i = 0; i < small.length; i++) small[i] = round(f(f(small[i] * 255) / top));
    // Centre of mass to the centre of 28x28 (in doubles, as the library).
    let mass = 0, mx = 0, my = 0;
    for (let y = 0; y < sh; y++) for (let x = 0; x < sw; x++) {
      const v = small[y * sw + x];
      mass += v; mx += v * x; my += v * y;
    }
    const place = (com, len) => clamp(round(13.5 - com), 0, 28 - len);
    const [ox, oy] = [place(mx / Math.max(mass, 1), sw), place(my / Math.max(mass, 1), sh)];
    const out = new Uint8Array(784);
    for (let y = 0; y < sh; y++) for (let x = 0; x < sw; x++) out[(y + oy) * 28 + x + ox] = small[y * sw + x];
    return out;
  }

  // Steps 1 to 3 (`ink`): RGBA pixels (a canvas's ImageData) as ink, 0 (paper) to 255 (the
  // darkest ink), light on dark; null when nothing stands out from the paper.
  function inkOf(rgba, w, h) {
    const grey = greyOf(rgba, w, h);
    const border = [];
    for (let x = 0; x < w; x++) border.push(grey[x], grey[(h - 1) * w + x]);
    for (let y = 0; y < h; y++) border.push(grey[y * w], grey[y * w + w - 1]);
    border.sort((a, b) => a - b);
    let background = border[border.length >> 1];
    if (background > 127) for (let i = 0; i < grey.length; i++) grey[i] = 255 - grey[i];
    background = Math.min(background, 255 - background);
    let peak = 0;
    for (const v of grey) peak = Math.max(peak, v);
    if (peak - background < 32) return null;
    const range = peak - background, cut = f(0.15);
    for (let i = 0; i < grey.length; i++) {
      const v = clamp(f(f(grey[i] - background) / range), 0, 1);
      grey[i] = v < cut ? 0 : round(f(v * 255));
    }
    return grey;
  }

  // RGBA pixels to the 28x28 digit the model is given, white on black, or null when there is no ink.
  function prepare(rgba, w, h) {
    const ink = inkOf(rgba, w, h);
    return ink && fitDigit(ink, w, h);
  }

  // ---- A number (src/app/number.rs): several digits side by side, split and each read ----

  // Ink pixels that belong together, with their box (inclusive).
  function piece(pixels) {
    if (!pixels.length) return null;
    let [x0, y0] = pixels[0], [x1, y1] = pixels[0];
    for (const [x, y] of pixels) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
    return { pixels, x0, y0, x1, y1, width: x1 - x0 + 1, height: y1 - y0 + 1 };
  }
  const absorb = (a, b) => piece(a.pixels.concat(b.pixels));

  // The runs of columns with ink in them, left to right, each with its ink pixels.
  function columnsOf(ink, w, h) {
    const runs = [];
    for (let x = 0; x < w; x++) {
      let written = false;
      for (let y = 0; y < h && !written; y++) written = ink[y * w + x] > 0;
      if (!written) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] + 1 === x) last[1] = x; else runs.push([x, x]);
    }
    return runs.map(([from, to]) => {
      const pixels = [];
      for (let x = from; x <= to; x++) for (let y = 0; y < h; y++) if (ink[y * w + x] > 0) pixels.push([x, y]);
      return piece(pixels);
    }).filter(p => p);
  }

  // Dust dropped, pieces a sliver apart joined, fragments given to the nearest digit (`tidy`).
  function tidy(pieces) {
    const most = Math.max(0, ...pieces.map(p => p.pixels.length));
    const tallest = Math.max(0, ...pieces.map(p => p.height));
    const kept = pieces.filter(p => p.pixels.length * 100 >= most || p.height * 4 >= tallest);
    pieces.length = 0;
    pieces.push(...kept);
    const heights = pieces.map(p => p.height).filter(hh => hh * 2 >= tallest).sort((a, b) => a - b);
    if (!heights.length) return;
    const typical = heights[heights.length >> 1];
    for (let i = 1; i < pieces.length;) {
      if ((pieces[i].x0 - pieces[i - 1].x1 - 1) * 20 < typical) {
        const [next] = pieces.splice(i, 1);
        pieces[i - 1] = absorb(pieces[i - 1], next);
      } else i++;
    }
    for (;;) {
      const small = pieces.findIndex(p => p.height * 2 < typical);
      if (small < 0 || pieces.length === 1) return;
      // Rust's swap_remove: the last piece takes the fragment's place.
      const fragment = pieces[small];
      const last = pieces.pop();
      if (small < pieces.length) pieces[small] = last;
      const distance = p => Math.max(Math.max(fragment.x0 - p.x1, 0), Math.max(p.x0 - fragment.x1, 0));
      let nearest = 0;
      const key = p => [distance(p), p.height * 2 < typical ? 1 : 0];
      for (let i = 1; i < pieces.length; i++) {
        const [a, b] = key(pieces[i]), [c, d] = key(pieces[nearest]);
        if (a < c || (a === c && b < d)) nearest = i;
      }
      pieces[nearest] = absorb(pieces[nearest], fragment);
    }
  }

  // `p` cut into `parts` side by side where its ink is thinnest near an even split; null if a
  // part would be under half its height.
  function cutPiece(p, parts, ink, w) {
    if (parts === 1) return [p];
    const column = new Array(p.width).fill(0);
    for (const [x, y] of p.pixels) column[x - p.x0] += ink[y * w + x];
    const reach = Math.max(Math.floor(p.width / (3 * parts)), 1);
    const cuts = [];
    for (let i = 1; i < parts; i++) {
      const even = Math.floor(i * p.width / parts);
      const from = Math.max(even - reach, 1), to = Math.min(even + reach, p.width - 1);
      let best = from > to ? even : from;
      for (let c = from + 1; c <= to; c++) {
        if (column[c] < column[best] || (column[c] === column[best] && Math.abs(c - even) < Math.abs(best - even))) best = c;
      }
      cuts.push(best + p.x0);
    }
    const split = Array.from({ length: parts }, () => []);
    for (const [x, y] of p.pixels) split[cuts.filter(c => x >= c).length].push([x, y]);
    const pieces = split.map(piece).filter(q => q);
    return pieces.length === parts && pieces.every(q => q.height * 2 >= p.height) ? pieces : null;
  }

  function readPiece(net, p, ink, w) {
    const alone = new Uint8Array(p.width * p.height);
    for (const [x, y] of p.pixels) alone[(y - p.y0) * p.width + x - p.x0] = ink[y * w + x];
    const pixels = fitDigit(alone, p.width, p.height);
    if (!pixels) return null;
    const read = probabilities(net, pixels);
    return { bounds: { x: p.x0, y: p.y0, width: p.width, height: p.height }, pixels, probabilities: read,
             digit: read.indexOf(Math.max(...read)) };
  }

  // One piece read as one digit, or cut into the two or more its width could hold, whichever
  // reading the network is surest of (`best_reading`).
  function bestReading(net, p, ink, w) {
    const most = p.width * 10 <= p.height * 11 ? 1 : clamp(Math.floor(p.width * 2 / p.height), 2, 6);
    let best = null;
    for (let parts = 1; parts <= most; parts++) {
      const cut = cutPiece(p, parts, ink, w);
      if (!cut || (parts < most && cut.some(q => q.width * 10 > p.height * 15))) continue;
      const read = cut.map(q => readPiece(net, q, ink, w)).filter(d => d);
      let sure = 1;
      for (const d of read) sure = f(sure * f(d.probabilities[d.digit]));
      if (read.length === cut.length && (best === null || sure > best.sure)) best = { sure, read };
    }
    return best ? best.read : [];
  }

  // The digits of a number written in RGBA pixels, left to right, each with its box (in the
  // picture's pixels), its 28x28 pixels and its probabilities; empty when there is no ink.
  function readNumber(net, rgba, w, h) {
    const ink = inkOf(rgba, w, h);
    if (!ink) return [];
    const pieces = columnsOf(ink, w, h);
    tidy(pieces);
    const digits = pieces.flatMap(p => bestReading(net, p, ink, w));
    return digits.sort((a, b) => a.bounds.x - b.bounds.x || a.bounds.y - b.bounds.y);
  }

  // ---- A photo of paper (src/app/photo.rs): whole numbers only, so the same pixels ----

  const WORK_SIDE = 400, PAPER_RADIUS = 20, DARK = 48, MAX_SLOPE = 7, LINE_COVER = 30, SMALLEST = 16;
  const div = (a, b) => Math.floor(a / b); // whole-number division (operands are never negative)

  function filter(src, w, h, r, alongRows, pick) {
    const out = new Uint8Array(src.length);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const [pos, len] = alongRows ? [x, w] : [y, h];
      const from = Math.max(pos - r, 0), to = Math.min(pos + r, len - 1);
      let acc = alongRows ? src[y * w + from] : src[from * w + x];
      for (let p = from + 1; p <= to; p++) acc = pick(acc, alongRows ? src[y * w + p] : src[p * w + x]);
      out[y * w + x] = acc;
    }
    return out;
  }

  function eraseLines(dark, w, h, columns) {
    const [along, across] = columns ? [h, w] : [w, h];
    const index = columns ? (a, c) => a * w + c : (a, c) => c * w + a;
    const shift = Math.floor(MAX_SLOPE * along / 64) + 1;
    const bin = (a, c, k) => c - Math.floor(a * k / 64) + shift;
    const bins = across + 2 * shift + 1;
    // The dark pixels, found once for the 15 slopes tried.
    const dots = [];
    for (let a = 0; a < along; a++) for (let c = 0; c < across; c++) if (dark[index(a, c)] >= DARK) dots.push([a, c]);
    let best = { score: 0, k: 0, counts: [] };
    for (let k = -MAX_SLOPE; k <= MAX_SLOPE; k++) {
      const counts = new Array(bins).fill(0);
      for (const [a, c] of dots) counts[bin(a, c, k)]++;
      const score = counts.reduce((s, n) => s + n * n, 0);
      if (score > best.score) best = { score, k, counts };
    }
    const { k, counts } = best;
    const full = (b, share) => b < counts.length && counts[b] * 100 >= along * share;
    const line = [];
    for (let b = 0; b < bins; b++) {
      line.push(full(b, LINE_COVER) || (((b > 0 && full(b - 1, LINE_COVER)) || full(b + 1, LINE_COVER)) && full(b, div(LINE_COVER, 3))));
    }
    if (!line.some(l => l)) return;
    for (let a = 0; a < along; a++) {
      let c = 0;
      while (c < across) {
        if (dark[index(a, c)] < DARK) { c++; continue; }
        const start = c;
        while (c < across && dark[index(a, c)] >= DARK) c++;
        let onLine = true;
        for (let i = start; i < c && onLine; i++) onLine = line[bin(a, i, k)];
        if (onLine) for (let i = start; i < c; i++) dark[index(a, i)] = 0;
      }
    }
  }

  function blobs(dark, w, h) {
    const seen = new Uint8Array(w * h), all = [];
    for (let first = 0; first < w * h; first++) {
      if (seen[first] || dark[first] < DARK) continue;
      seen[first] = 1;
      const blob = { pixels: [], mass: 0, edge: false, bounds: [w, h, 0, 0] };
      const todo = [first];
      while (todo.length) {
        const i = todo.pop(), x = i % w, y = (i - x) / w;
        blob.pixels.push(i);
        blob.mass += dark[i];
        blob.edge = blob.edge || x === 0 || y === 0 || x === w - 1 || y === h - 1;
        const [l, t, r, b] = blob.bounds;
        blob.bounds = [Math.min(l, x), Math.min(t, y), Math.max(r, x), Math.max(b, y)];
        for (let ny = Math.max(y - 1, 0); ny <= Math.min(y + 1, h - 1); ny++) {
          for (let nx = Math.max(x - 1, 0); nx <= Math.min(x + 1, w - 1); nx++) {
            const j = ny * w + nx;
            if (!seen[j] && dark[j] >= DARK) { seen[j] = 1; todo.push(j); }
          }
        }
      }
      all.push(blob);
    }
    return all;
  }

  function digitOf(dark, w, h) {
    const all = blobs(dark, w, h), least = Math.max(div(w * h, 4000), 4);
    let main = null;
    for (const b of all) if (b.pixels.length >= least && !b.edge && (main === null || b.mass >= main.mass)) main = b;
    if (main === null) return null;
    const [x0, y0, x1, y1] = main.bounds;
    if (Math.max(x1 - x0, y1 - y0) < div(Math.min(w, h), SMALLEST)) return null;
    const reach = div(Math.max(x1 - x0, y1 - y0), 4) + 1;
    const near = ({ bounds: [bx0, by0, bx1, by1] }) => bx1 + reach >= x0 && bx0 <= x1 + reach && by1 + reach >= y0 && by0 <= y1 + reach;
    const out = new Uint8Array(w * h);
    for (const b of all) {
      if (b === main || (!b.edge && b.pixels.length >= div(least, 4) && near(b))) for (const i of b.pixels) out[i] = dark[i];
    }
    return out;
  }

  // A photo of a digit on paper (RGBA) to the 28x28 digit, or null when none is found: the
  // light evened out, the paper's lines, the shadows and the desk taken out first.
  function preparePhoto(rgba, w0, h0) {
    let grey = greyOf(rgba, w0, h0), w = w0, h = h0;
    const long = Math.max(w, h);
    if (long !== WORK_SIDE) {
      const side = s => Math.max(div(s * WORK_SIDE + div(long, 2), long), 1);
      [w, h] = [side(w0), side(h0)];
      grey = resize(grey, w0, h0, w, h);
    }
    const bright = filter(filter(grey, w, h, PAPER_RADIUS, true, Math.max), w, h, PAPER_RADIUS, false, Math.max);
    const paper = filter(filter(bright, w, h, PAPER_RADIUS, true, Math.min), w, h, PAPER_RADIUS, false, Math.min);
    const sorted = Uint8Array.from(paper).sort();
    const level = sorted[div(sorted.length * 95, 100)];
    const dark = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) {
      const g = grey[i], p = paper[i];
      dark[i] = g < p && p * 100 >= level * 35 ? div((p - g) * 255, p) : 0;
    }
    eraseLines(dark, w, h, false);
    eraseLines(dark, w, h, true);
    const kept = digitOf(dark, w, h);
    if (kept === null) return null;
    let top = 1;
    for (const v of kept) top = Math.max(top, v);
    for (let i = 0; i < kept.length; i++) kept[i] = div(kept[i] * 255, top);
    return fitDigit(kept, w, h);
  }

  // ---- The network (src/export/web.rs) ----

  function parse(buffer) {
    const magic = new TextDecoder().decode(new Uint8Array(buffer, 0, 8));
    if (magic !== "MNISTWEB") throw new Error("this is not a network exported by mnist-cnn (no MNISTWEB header)");
    const length = new DataView(buffer).getUint32(8, true);
    const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, length)));
    if (head.format !== 1) throw new Error(`network format ${head.format}: this page reads format 1`);
    const all = new Float32Array(buffer.slice(12 + length));
    const tensor = ([at, n]) => all.subarray(at, at + n);
    const layers = head.layers.map(l => {
      const layer = { ...l };
      for (const k of ["weight", "bias", "scale", "mean", "var"]) if (l[k]) layer[k] = tensor(l[k]);
      return layer;
    });
    return { input: head.input, layers };
  }

  async function load(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: the server answered ${res.status}`);
    return parse(await res.arrayBuffer());
  }

  // The network from a script that sets window.MNIST_CNN_MODEL to the file's bytes in base64:
  // what a page opened from a file (file://, a USB stick) can load, as browsers refuse it fetch().
  function loadScript(url) {
    return new Promise((done, fail) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => {
        try {
          const bytes = Uint8Array.from(atob(window.MNIST_CNN_MODEL), c => c.charCodeAt(0));
          done(parse(bytes.buffer));
        } catch (err) { fail(err); }
      };
      script.onerror = () => fail(new Error(`${url} could not be loaded`));
      document.head.appendChild(script);
    });
  }

  // One layer on one example: `x` holds `shape` (channels first) values.
  function apply(l, x, [c, h, w]) {
    const [oc, oh, ow] = l.shape.length === 3 ? l.shape : [l.shape[0], 1, 1];
    switch (l.op) {
      case "Conv2D": {
        const y = new Float32Array(oc * oh * ow), [pt, pl] = l.pads, k = l.k;
        for (let o = 0; o < oc; o++) for (let r = 0; r < oh; r++) for (let q = 0; q < ow; q++) {
          let s = l.bias[o];
          for (let i = 0; i < c; i++) for (let ky = 0; ky < k; ky++) {
            const yy = r * l.stride + ky - pt;
            if (yy < 0 || yy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const xx = q * l.stride + kx - pl;
              if (xx >= 0 && xx < w) s += l.weight[((o * c + i) * k + ky) * k + kx] * x[(i * h + yy) * w + xx];
            }
          }
          y[(o * oh + r) * ow + q] = s;
        }
        return y;
      }
      case "MaxPool2D": case "AvgPool2D": {
        const y = new Float32Array(oc * oh * ow), k = l.k, max = l.op === "MaxPool2D";
        for (let p = 0; p < oc; p++) for (let r = 0; r < oh; r++) for (let q = 0; q < ow; q++) {
          let v = max ? -Infinity : 0;
          for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
            const e = x[(p * h + r * l.stride + ky) * w + q * l.stride + kx];
            v = max ? Math.max(v, e) : v + e;
          }
          y[(p * oh + r) * ow + q] = max ? v : v / (k * k);
        }
        return y;
      }
      case "Dense": {
        const y = new Float32Array(l.out);
        for (let o = 0; o < l.out; o++) {
          let s = l.bias[o];
          const row = o * l.inp;
          for (let i = 0; i < l.inp; i++) s += l.weight[row + i] * x[i];
          y[o] = s;
        }
        return y;
      }
      case "BatchNorm2D": {
        const y = new Float32Array(x.length), plane = h * w;
        for (let i = 0; i < x.length; i++) {
          const ch = Math.floor(i / plane);
          y[i] = (x[i] - l.mean[ch]) / Math.sqrt(l.var[ch] + l.epsilon) * l.scale[ch] + l.bias[ch];
        }
        return y;
      }
      case "ReLU": return x.map(v => Math.max(v, 0));
      case "Sigmoid": return x.map(v => 1 / (1 + Math.exp(-v)));
      case "Tanh": return x.map(Math.tanh);
      case "Flatten": case "Dropout": return x;
      default: throw new Error(`this page cannot run a ${l.op} layer`);
    }
  }

  const shapeOf = l => (l.shape.length === 3 ? l.shape : [l.shape[0], 1, 1]);
  const softmax = x => {
    const top = Math.max(...x);
    const e = Array.from(x, v => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map(v => v / sum);
  };

  // Every layer's output for a 28x28 digit of 0-255 pixels, or of 0..1 values (`scaled`):
  // [{ layer, shape, input, output }], in the network's order (Network::activations).
  function activations(net, pixels, scaled = false) {
    let x = Float32Array.from(pixels, p => (scaled ? p : p / 255)), shape = net.input;
    const out = [];
    for (const l of net.layers) {
      const y = apply(l, x, shape);
      out.push({ layer: l, shape: shapeOf(l), inShape: shape, input: x, output: y });
      x = y;
      shape = shapeOf(l);
    }
    return out;
  }

  // The network's ten probabilities (the softmax of its scores) for a 28x28 digit of 0-255 pixels.
  function probabilities(net, pixels, scaled = false) {
    const all = activations(net, pixels, scaled);
    return softmax(all[all.length - 1].output);
  }

  // One layer backwards: the gradient of its input from the gradient `gy` of its output.
  function back(step, gy) {
    const { layer: l, inShape: [c, h, w], input: x, output: y } = step;
    const [oc, oh, ow] = step.shape;
    const gx = new Float32Array(x.length);
    switch (l.op) {
      case "Conv2D": {
        const [pt, pl] = l.pads, k = l.k;
        for (let o = 0; o < oc; o++) for (let r = 0; r < oh; r++) for (let q = 0; q < ow; q++) {
          const g = gy[(o * oh + r) * ow + q];
          if (g === 0) continue;
          for (let i = 0; i < c; i++) for (let ky = 0; ky < k; ky++) {
            const yy = r * l.stride + ky - pt;
            if (yy < 0 || yy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const xx = q * l.stride + kx - pl;
              if (xx >= 0 && xx < w) gx[(i * h + yy) * w + xx] += l.weight[((o * c + i) * k + ky) * k + kx] * g;
            }
          }
        }
        return gx;
      }
      case "MaxPool2D": case "AvgPool2D": {
        const k = l.k, max = l.op === "MaxPool2D";
        for (let p = 0; p < oc; p++) for (let r = 0; r < oh; r++) for (let q = 0; q < ow; q++) {
          const g = gy[(p * oh + r) * ow + q];
          let best = -1;
          for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
            const at = (p * h + r * l.stride + ky) * w + q * l.stride + kx;
            if (!max) gx[at] += g / (k * k);
            else if (best < 0 || x[at] > x[best]) best = at; // the first of equal maxima, as the library
          }
          if (max) gx[best] += g;
        }
        return gx;
      }
      case "Dense": {
        for (let o = 0; o < l.out; o++) {
          const g = gy[o], row = o * l.inp;
          if (g !== 0) for (let i = 0; i < l.inp; i++) gx[i] += l.weight[row + i] * g;
        }
        return gx;
      }
      case "BatchNorm2D": {
        const plane = h * w;
        for (let i = 0; i < x.length; i++) {
          const ch = Math.floor(i / plane);
          gx[i] = gy[i] * l.scale[ch] / Math.sqrt(l.var[ch] + l.epsilon);
        }
        return gx;
      }
      case "ReLU": return gy.map((g, i) => (x[i] > 0 ? g : 0));
      case "Sigmoid": return gy.map((g, i) => g * y[i] * (1 - y[i]));
      case "Tanh": return gy.map((g, i) => g * (1 - y[i] * y[i]));
      case "Flatten": case "Dropout": return Float32Array.from(gy);
      default: throw new Error(`this page cannot run a ${l.op} layer backwards`);
    }
  }

  // The gradient with respect to the 784 inputs (0..1 scale) of sum(seed[d] * score[d]), where
  // `seed` is a function of the forward pass (Network::input_gradient).
  // `steps` is the forward pass of `image` when the caller has it already.
  function inputGradient(net, image, seedOf, steps = activations(net, image, true)) {
    let g = Float32Array.from(seedOf(steps[steps.length - 1].output));
    for (let i = steps.length - 1; i >= 0; i--) g = back(steps[i], g);
    return g;
  }

  // What the network looks at (src/explain/saliency.rs): gradient x input of the score of `cls`.
  // `steps`: the digit's `activations`, when the caller has them already.
  function saliency(net, pixels, cls, steps) {
    const image = Float32Array.from(pixels, p => p / 255);
    const g = inputGradient(net, image, () => Array.from({ length: 10 }, (_, d) => (d === cls ? 1 : 0)), steps);
    return g.map((v, i) => v * image[i]);
  }

  // Fooling it (src/explain/adversarial.rs, `fool`): steps of `step` along the sign of the loss's
  // gradient, every pixel within `most` of where it was and within 0..1, until the network reads
  // another digit than `label`; null if it still reads `label` after most / step steps, or did
  // not read `label` to begin with.
  function fool(net, pixels, label, step, most) {
    const original = Float32Array.from(pixels, p => p / 255);
    const argmax = p => p.indexOf(Math.max(...p));
    // One forward pass per step: the one that reads the nudged image also gives the next gradient.
    let image = Float32Array.from(original), steps = activations(net, image, true);
    if (argmax(softmax(steps[steps.length - 1].output)) !== label) return null;
    const limit = Math.max(1, Math.round(most / step));
    for (let n = 1; n <= limit; n++) {
      // The loss's gradient with respect to the scores: softmax minus the one-hot label.
      const g = inputGradient(net, image, scores => softmax(scores).map((p, d) => p - (d === label ? 1 : 0)), steps);
      image = image.map((v, i) => {
        const moved = v + step * Math.sign(g[i]);
        return clamp(clamp(moved, original[i] - most, original[i] + most), 0, 1);
      });
      steps = activations(net, image, true);
      const p = softmax(steps[steps.length - 1].output), read = argmax(p);
      if (read !== label) {
        let change = 0;
        image.forEach((v, i) => { change = Math.max(change, Math.abs(v - original[i])); });
        return { image, predicted: read, probabilities: p, steps: n, change };
      }
    }
    return null;
  }

  return { prepare, preparePhoto, readNumber, load, loadScript, parse, probabilities, softmax, activations, saliency, fool };
})();
