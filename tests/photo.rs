//! Photos of digits on paper, made here at random (seeded): MNIST test digits written in pencil
//! or ballpoint on plain, ruled or squared paper, the page rotated, the light falling off to one
//! side, a shadow, the desk at the edges, camera noise and blur, JPEG. `photo::prepare` must read
//! them, and the photos it reads are written for the page's copy of it (browser-test.py).
mod common;
use common::*;
use image::{DynamicImage, ImageOutputFormat, RgbImage};
use mnist_cnn::data::{self, Split, SIDE};
use mnist_cnn::{photo, predict};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// What a photo shows, for the figures by kind.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Paper {
    Plain,
    Ruled,
    Squared,
}

/// One photo and what it holds.
struct Photo {
    image: RgbImage,
    label: u8,
    paper: Paper,
    pencil: bool,
    shadow: bool,
    desk: bool,
}

fn uniform(rng: &mut StdRng, lo: f32, hi: f32) -> f32 {
    rng.gen_range(lo..hi)
}

/// A photo of test digit `index` (`None`: blank paper), as a phone would take it.
fn take(test: &Split, index: Option<usize>, rng: &mut StdRng) -> Photo {
    let scale = uniform(rng, 0.8, 1.6);
    let (w, h) = if rng.gen_bool(0.5) { (640.0 * scale, 480.0 * scale) } else { (480.0 * scale, 640.0 * scale) };
    let (w, h) = (w as u32, h as u32);
    let short = w.min(h) as f32;
    // The page: rotated about the photo's centre; each edge either outside the frame or in it.
    let angle = uniform(rng, -6.0, 6.0).to_radians();
    let (sin, cos) = angle.sin_cos();
    let mut edge = || if rng.gen_bool(0.3) { uniform(rng, 0.03, 0.12) } else { -1.0 };
    let edges = [edge(), edge(), edge(), edge()];
    let (left, top) = (-(w as f32) / 2.0 + edges[0] * w as f32, -(h as f32) / 2.0 + edges[1] * h as f32);
    let (right, bottom) = (w as f32 / 2.0 - edges[2] * w as f32, h as f32 / 2.0 - edges[3] * h as f32);
    let wood = uniform(rng, 60.0, 170.0);
    let desk = [wood, wood * uniform(rng, 0.7, 1.0), wood * uniform(rng, 0.5, 1.0)];
    let white = uniform(rng, 215.0, 250.0);
    let sheet = [white, white * uniform(rng, 0.97, 1.0), white * uniform(rng, 0.9, 1.0)];
    // The digit: its height, where it is on the page, its own slant, how thin its strokes are.
    let height = uniform(rng, 0.22, 0.45) * short;
    let (dx, dy) = (uniform(rng, -0.12, 0.12) * short, uniform(rng, -0.12, 0.12) * short);
    let slant = uniform(rng, -0.12, 0.12);
    let thin = uniform(rng, 0.3, 0.8);
    let pencil = rng.gen_bool(0.5);
    let (ink, strength) = if pencil {
        let g = uniform(rng, 50.0, 80.0);
        ([g, g, g + 5.0], uniform(rng, 0.4, 0.7))
    } else if rng.gen_bool(0.6) {
        ([uniform(rng, 20.0, 60.0), uniform(rng, 30.0, 70.0), uniform(rng, 100.0, 170.0)], uniform(rng, 0.75, 0.95))
    } else {
        ([25.0, 25.0, 30.0], uniform(rng, 0.75, 0.95))
    };
    // The paper's lines.
    let paper = [Paper::Plain, Paper::Ruled, Paper::Ruled, Paper::Squared, Paper::Squared][rng.gen_range(0..5)];
    let spacing = match paper {
        Paper::Squared => uniform(rng, 0.35, 0.7) * height,
        _ => uniform(rng, 0.7, 1.3) * height,
    };
    let offset = uniform(rng, 0.0, spacing);
    let thick = uniform(rng, 0.8, 2.5) * scale;
    let line = if rng.gen_bool(0.7) {
        [uniform(rng, 110.0, 200.0), uniform(rng, 150.0, 215.0), uniform(rng, 200.0, 250.0)]
    } else {
        let g = uniform(rng, 130.0, 200.0);
        [g, g, g]
    };
    let margin = (paper == Paper::Ruled && rng.gen_bool(0.5)).then(|| dx - height * uniform(rng, 0.9, 1.5));
    // The light: falling off along a direction, and perhaps a soft-edged shadow.
    let fall = uniform(rng, 0.15, 0.6);
    let (fx, fy) = { let a = uniform(rng, 0.0, std::f32::consts::TAU); (a.cos(), a.sin()) };
    let shadow = rng.gen_bool(0.4);
    let (sa, sd, soft, depth) = (uniform(rng, 0.0, std::f32::consts::TAU), uniform(rng, 0.2, 0.45) * short, uniform(rng, 10.0, 50.0) * scale, uniform(rng, 0.45, 0.8));
    let noise = uniform(rng, 1.0, 4.0);
    let seed = rng.gen::<u64>();
    let pixels = index.map(|i| test.image(i).to_vec());
    let cover = |u: f32, v: f32| -> f32 {
        // Bilinear sample of the 28x28 digit at (u, v), its strokes thinned by `thin`.
        let Some(p) = &pixels else { return 0.0 };
        let (u, v) = (u - 0.5, v - 0.5);
        let (x0, y0) = (u.floor(), v.floor());
        let at = |x: f32, y: f32| if x < 0.0 || y < 0.0 || x >= SIDE as f32 || y >= SIDE as f32 { 0.0 } else { p[y as usize * SIDE + x as usize] as f32 / 255.0 };
        let (fx, fy) = (u - x0, v - y0);
        let m = at(x0, y0) * (1.0 - fx) * (1.0 - fy) + at(x0 + 1.0, y0) * fx * (1.0 - fy) + at(x0, y0 + 1.0) * (1.0 - fx) * fy + at(x0 + 1.0, y0 + 1.0) * fx * fy;
        ((m - thin) * 4.0 + 0.5).clamp(0.0, 1.0)
    };
    let mut image = RgbImage::from_fn(w, h, |x, y| {
        let (cx, cy) = (x as f32 + 0.5 - w as f32 / 2.0, y as f32 + 0.5 - h as f32 / 2.0);
        // Into the page's frame.
        let (px, py) = (cx * cos + cy * sin, -cx * sin + cy * cos);
        let on_page = px >= left && px <= right && py >= top && py <= bottom;
        let mut rgb = if on_page { sheet } else { desk.map(|c| c + 8.0 * ((x as f32 / 37.0).sin() + (y as f32 / 23.0).cos())) };
        if on_page {
            let mut lined = 0.0f32;
            let near = |d: f32| (thick / 2.0 - d + 0.5).clamp(0.0, 1.0);
            if paper != Paper::Plain {
                let d = ((py - offset).rem_euclid(spacing)).min(spacing - (py - offset).rem_euclid(spacing));
                lined = lined.max(near(d));
            }
            if paper == Paper::Squared {
                let d = ((px - offset).rem_euclid(spacing)).min(spacing - (px - offset).rem_euclid(spacing));
                lined = lined.max(near(d));
            }
            for c in 0..3 {
                rgb[c] += (line[c] - rgb[c]) * lined;
            }
            if let Some(m) = margin {
                let red = near((px - m).abs());
                rgb = [rgb[0] + (230.0 - rgb[0]) * red, rgb[1] + (120.0 - rgb[1]) * red, rgb[2] + (130.0 - rgb[2]) * red];
            }
            // The digit, in the page's frame, slanted.
            let (qx, qy) = (px - dx, py - dy);
            let (qx, qy) = (qx + slant * qy, qy);
            let c = cover(qx / height * 20.0 + 14.0, qy / height * 20.0 + 14.0) * strength;
            let grain = if pencil { 0.75 + 0.25 * ((x * 7919 + y * 104729) % 97) as f32 / 97.0 } else { 1.0 };
            for k in 0..3 {
                rgb[k] += (ink[k] - rgb[k]) * c * grain;
            }
        }
        let mut light = 1.0 - fall * ((cx * fx + cy * fy) / short + 0.7).clamp(0.0, 1.4) / 1.4;
        if shadow {
            let d = cx * sa.cos() + cy * sa.sin() - sd;
            light *= 1.0 - (1.0 - depth) * (d / soft + 0.5).clamp(0.0, 1.0);
        }
        // The camera's noise.
        let mut hash = seed ^ ((x as u64) << 32 | y as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        image::Rgb(std::array::from_fn(|c| {
            hash = hash.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let n = ((hash >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.4 * noise;
            (rgb[c] * light + n).round().clamp(0.0, 255.0) as u8
        }))
    });
    // Perhaps a little out of focus.
    if rng.gen_bool(0.5) {
        image = image::imageops::blur(&image, uniform(rng, 0.5, 1.2) * scale);
    }
    Photo { image, label: index.map_or(10, |i| test.labels[i]), paper, pencil, shadow, desk: edges.iter().any(|&e| e > 0.0) }
}

/// The photo as JPEG (most of them, as a phone saves it) or PNG, decoded again.
fn saved(photo: &Photo, rng: &mut StdRng) -> DynamicImage {
    let format = if rng.gen_bool(0.7) { ImageOutputFormat::Jpeg(rng.gen_range(70..=92)) } else { ImageOutputFormat::Png };
    predict::decode_image(&encode(&photo.image, format), "a photo").unwrap()
}

/// Figures for one kind of photo: read right of all.
#[derive(Default)]
struct Tally {
    right: usize,
    all: usize,
}

impl Tally {
    fn add(&mut self, right: bool) {
        self.right += right as usize;
        self.all += 1;
    }

    fn percent(&self) -> f64 {
        100.0 * self.right as f64 / self.all.max(1) as f64
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{} ({:.1}%)", self.right, self.all, self.percent())
    }
}

/// Up to 8 photos side by side, each over what the model sees of it, for a person to look at.
fn contact_sheet(shots: &[(RgbImage, Option<Vec<u8>>)]) -> RgbImage {
    let cell = 200u32;
    let mut sheet = RgbImage::from_pixel(cell * shots.len() as u32, cell + 84, image::Rgb([255, 255, 255]));
    for (i, (shot, seen)) in shots.iter().enumerate() {
        let long = shot.width().max(shot.height());
        let small = image::imageops::resize(shot, cell * shot.width() / long, cell * shot.height() / long, image::imageops::FilterType::Triangle);
        image::imageops::overlay(&mut sheet, &small, (i as u32 * cell) as i64, 0);
        if let Some(px) = seen {
            let digit = image::GrayImage::from_raw(SIDE as u32, SIDE as u32, px.clone()).unwrap();
            let big = image::imageops::resize(&digit, 84, 84, image::imageops::FilterType::Nearest);
            let rgb = DynamicImage::ImageLuma8(big).to_rgb8();
            image::imageops::overlay(&mut sheet, &rgb, (i as u32 * cell + 58) as i64, cell as i64);
        }
    }
    sheet
}

#[test]
fn photos_of_digits_on_paper_are_read() {
    let test = data::load(&bundled()).unwrap().test;
    let net = lesson_model();
    let mut rng = StdRng::seed_from_u64(2026);
    let (mut all, mut drawing_path) = (Tally::default(), Tally::default());
    let mut by: std::collections::BTreeMap<String, Tally> = Default::default();
    let mut shots = Vec::new();
    let count = 300;
    for n in 0..count {
        let photo = take(&test, Some(rng.gen_range(0..test.len())), &mut rng);
        let image = saved(&photo, &mut rng);
        let seen = photo::prepare(&image);
        let read = |px: &Option<Vec<u8>>| px.as_ref().map(|p| predict::top(&predict::probabilities(&net, p), 1)[0].0 as u8);
        let right = read(&seen) == Some(photo.label);
        all.add(right);
        drawing_path.add(read(&predict::prepare(&image)) == Some(photo.label));
        for kind in [
            format!("{:?} paper", photo.paper),
            if photo.pencil { "pencil" } else { "ballpoint" }.to_string(),
            if photo.shadow { "a shadow" } else { "no shadow" }.to_string(),
            if photo.desk { "the desk in the frame" } else { "only paper" }.to_string(),
        ] {
            by.entry(kind).or_default().add(right);
        }
        if n < 8 {
            shots.push((photo.image.clone(), seen));
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/photo-check");
    std::fs::create_dir_all(&dir).unwrap();
    contact_sheet(&shots).save(dir.join("photos.png")).unwrap();
    eprintln!("photos: {all} read right by photo::prepare; {drawing_path} by predict::prepare (the drawing path)");
    for (kind, t) in &by {
        eprintln!("  {kind}: {t}");
    }
    assert!(all.percent() >= 90.0, "photos read right: {all}");
    assert!(by.values().all(|t| t.percent() >= 80.0), "every kind of photo is read");
}

#[test]
fn blank_paper_holds_no_digit() {
    let test = data::load(&bundled()).unwrap().test;
    let mut rng = StdRng::seed_from_u64(7);
    let (mut none, count) = (0, 60);
    for _ in 0..count {
        let photo = take(&test, None, &mut rng);
        none += photo::prepare(&saved(&photo, &mut rng)).is_none() as usize;
    }
    eprintln!("blank paper: {none}/{count} photos found to hold no digit");
    assert!(none * 100 >= count * 90, "lines, shadows and the desk are not a digit: {none}/{count}");
}

#[test]
fn clean_digits_read_as_photos_are_read_as_well_as_drawings() {
    let test = data::load(&bundled()).unwrap().test;
    let net = lesson_model();
    let (mut as_photo, mut as_drawing) = (Tally::default(), Tally::default());
    for i in 0..300 {
        // A test digit three times its size, dark on white, with a margin around it.
        let digit = image::GrayImage::from_raw(SIDE as u32, SIDE as u32, test.image(i).to_vec()).unwrap();
        let mut page = image::GrayImage::from_pixel(168, 168, image::Luma([0]));
        image::imageops::overlay(&mut page, &image::imageops::resize(&digit, 84, 84, image::imageops::FilterType::Triangle), 42, 42);
        image::imageops::invert(&mut page);
        let image = DynamicImage::ImageLuma8(page);
        let read = |px: Option<Vec<u8>>| px.map(|p| predict::top(&predict::probabilities(&net, &p), 1)[0].0 as u8) == Some(test.labels[i]);
        as_photo.add(read(photo::prepare(&image)));
        as_drawing.add(read(predict::prepare(&image)));
    }
    eprintln!("clean test digits: {as_photo} read right as photos, {as_drawing} as drawings");
    assert!(as_photo.right + 6 >= as_drawing.right, "the photo path loses no more than 2% on clean digits");
}

/// Photos, saved as PNG so that a browser decodes the same pixels, with what `photo::prepare`
/// makes of each: the page's copy (nn.js) must make the same (scripts/browser-test.py).
#[test]
fn photos_are_written_for_the_browser_test_and_read_by_the_command_line() {
    let test = data::load(&bundled()).unwrap().test;
    let mut rng = StdRng::seed_from_u64(99);
    let mut cases = Vec::new();
    for n in 0..12 {
        let photo = take(&test, (n != 11).then(|| rng.gen_range(0..test.len())), &mut rng);
        let png = encode(&photo.image, ImageOutputFormat::Png);
        let pixels = photo::prepare(&predict::decode_image(&png, "a photo").unwrap());
        cases.push(serde_json::json!({ "label": photo.label, "png": mnist_cnn::encode::base64(&png), "pixels": pixels }));
        if n == 0 {
            let dir = temp_dir("photo-cli");
            let file = dir.join("photo.png");
            std::fs::write(&file, &png).unwrap();
            let out = cli(&["predict", "--photo", file.to_str().unwrap()]);
            let said = String::from_utf8_lossy(&out.stdout);
            let want = predict::top(&predict::probabilities(&lesson_model(), pixels.as_ref().unwrap()), 1)[0].0;
            assert!(out.status.success() && said.contains(&format!(": {want} (")), "predict --photo says what the library reads: {said}");
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check");
    std::fs::create_dir_all(&dir).unwrap();
    mnist_cnn::write_atomic(&dir.join("photos.json"), serde_json::Value::from(cases).to_string().as_bytes()).unwrap();
}
