//! Reading a number: images of several MNIST test digits side by side, composed here at random
//! (seeded), apart and touching, are split into the right digits and read.
mod common;
use common::*;
use image::{DynamicImage, GrayImage, Luma};
use mnist_cnn::data::{self, Split, SIDE};
use mnist_cnn::number;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// A number written with test digits: `gap` pixels between neighbours (negative: they overlap),
/// each digit at `scale` times its MNIST size and moved up or down a little, dark ink on light paper.
fn compose(test: &Split, picks: &[usize], gap: (i32, i32), rng: &mut StdRng) -> DynamicImage {
    let scale = rng.gen_range(1.0f32..3.0);
    let side = (SIDE as f32 * scale).round() as u32;
    let digits: Vec<GrayImage> = picks
        .iter()
        .map(|&i| {
            let pixels = test.image(i).to_vec();
            let digit = GrayImage::from_raw(SIDE as u32, SIDE as u32, pixels).unwrap();
            image::imageops::resize(&digit, side, side, image::imageops::FilterType::Triangle)
        })
        .collect();
    // Each digit's inked columns, so that gaps are measured between the ink, not the 28x28 frames.
    let inked = |d: &GrayImage| {
        let cols: Vec<u32> = (0..d.width()).filter(|&x| (0..d.height()).any(|y| d.get_pixel(x, y).0[0] > 40)).collect();
        (cols[0] as i32, *cols.last().unwrap() as i32)
    };
    let margin = (side / 2) as i32;
    let mut places = Vec::new();
    let mut cursor = margin;
    for d in &digits {
        let (from, to) = inked(d);
        places.push((cursor - from, rng.gen_range(-(side as i32) / 10..=(side as i32) / 10)));
        cursor += to - from + 1 + (rng.gen_range(gap.0..=gap.1) as f32 * scale).round() as i32;
    }
    let (w, h) = ((cursor + margin) as u32, side + 2 * margin as u32);
    let mut ink = GrayImage::new(w, h);
    for (d, &(x, y)) in digits.iter().zip(&places) {
        for (dx, dy, p) in d.enumerate_pixels() {
            let (px, py) = (x + dx as i32, margin + y + dy as i32);
            if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                let old = ink.get_pixel(px as u32, py as u32).0[0];
                ink.put_pixel(px as u32, py as u32, Luma([old.max(p.0[0])]));
            }
        }
    }
    image::imageops::invert(&mut ink);
    DynamicImage::ImageLuma8(ink)
}

/// Reads `count` random numbers of 2 to 6 digits with gaps in `gap`; returns (numbers split into
/// the right count, numbers read right, digits read right among the rightly split, digits).
fn read_many(gap: (i32, i32), count: usize, seed: u64) -> (usize, usize, usize, usize) {
    let test = data::load(&bundled()).unwrap().test;
    let net = lesson_model();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut split_right, mut read_right, mut digits_right, mut digits) = (0, 0, 0, 0);
    for _ in 0..count {
        let picks: Vec<usize> = (0..rng.gen_range(2..=6)).map(|_| rng.gen_range(0..test.len())).collect();
        let want: String = picks.iter().map(|&i| char::from(b'0' + test.labels[i])).collect();
        let read = number::read_number(&net, &compose(&test, &picks, gap, &mut rng));
        let got = number::text(&read);
        let boxes_in_order = read.windows(2).all(|w| w[0].bounds.x <= w[1].bounds.x);
        assert!(boxes_in_order, "digits are given left to right");
        if got.len() == want.len() {
            split_right += 1;
            digits += want.len();
            digits_right += got.chars().zip(want.chars()).filter(|(a, b)| a == b).count();
        }
        read_right += (got == want) as usize;
    }
    (split_right, read_right, digits_right, digits)
}

/// [`read_many`] with its figures printed under `label` (seen with `-- --nocapture`).
fn read_and_report(label: &str, gap: (i32, i32), count: usize, seed: u64) -> (usize, usize, usize) {
    let (split, read, right, digits) = read_many(gap, count, seed);
    eprintln!(
        "{label}: {split}/{count} numbers split into the right number of digits, {read}/{count} read right; {right}/{digits} digits ({:.2}%)",
        100.0 * right as f64 / digits as f64
    );
    (split, right, digits)
}

#[test]
fn digits_written_apart_are_split_and_read() {
    let count = 300;
    let (split, right, digits) = read_and_report("apart", (2, 10), count, 1);
    assert!(split * 100 >= count * 95, "split right: {split}/{count}");
    assert!(right * 100 >= digits * 95, "digits read right: {right}/{digits}");
}

#[test]
fn digits_that_touch_are_cut_apart() {
    let count = 300;
    let (split, right, digits) = read_and_report("touching", (-2, 1), count, 2);
    // Touching digits are harder: about half the numbers are cut into the right count.
    assert!(split * 100 >= count * 45, "split right: {split}/{count}");
    assert!(right * 100 >= digits * 88, "digits read right among those: {right}/{digits}");
}

#[test]
fn a_blank_image_has_no_digits_and_specks_are_not_digits() {
    let net = lesson_model();
    let blank = DynamicImage::ImageLuma8(GrayImage::from_pixel(200, 80, Luma([240])));
    assert!(number::read_number(&net, &blank).is_empty());
    let test = data::load(&bundled()).unwrap().test;
    let mut img = compose(&test, &[0, 1, 2], (4, 4), &mut StdRng::seed_from_u64(3)).to_luma8();
    // Two specks of dust in the margins.
    img.put_pixel(2, 2, Luma([0]));
    img.put_pixel(img.width() - 3, img.height() - 3, Luma([0]));
    let read = number::read_number(&net, &DynamicImage::ImageLuma8(img));
    assert_eq!(read.len(), 3, "three digits, no specks: {:?}", read.iter().map(|d| d.bounds).collect::<Vec<_>>());
}

#[test]
fn the_command_line_reads_a_number() {
    let test = data::load(&bundled()).unwrap().test;
    let img = compose(&test, &[0, 1, 2, 3], (6, 6), &mut StdRng::seed_from_u64(4));
    let path = temp_dir("number").join("number.png");
    img.save(&path).unwrap();
    let out = cli(&["predict", "--number", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want: String = (0..4).map(|i| char::from(b'0' + test.labels[i])).collect();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!(": {want} (4 digits: ")), "{stdout}");
}


/// Numbers for the page's own reading (scripts/browser-test.py): composed images, apart and
/// touching, as PNG, with the library's reading of each (its digits, boxes and pixels).
#[test]
fn writes_numbers_for_the_page() {
    let (test, net) = (data::load(&bundled()).unwrap().test, lesson_model());
    let mut rng = StdRng::seed_from_u64(15);
    let mut cases = Vec::new();
    for gap in [(2, 10), (2, 10), (2, 10), (-2, 1), (-2, 1), (-2, 1)] {
        let picks: Vec<usize> = (0..rng.gen_range(2..=5)).map(|_| rng.gen_range(0..test.len())).collect();
        let img = compose(&test, &picks, gap, &mut rng);
        let read = number::read_number(&net, &img);
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageOutputFormat::Png).unwrap();
        let digits: Vec<_> = read
            .iter()
            .map(|d| serde_json::json!({ "box": [d.bounds.x, d.bounds.y, d.bounds.width, d.bounds.height], "pixels": d.pixels, "digit": d.value() }))
            .collect();
        cases.push(serde_json::json!({ "png": mnist_cnn::encode::base64(&png), "number": number::text(&read), "digits": digits }));
    }
    assert!(cases.iter().all(|c| !c["digits"].as_array().unwrap().is_empty()));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check");
    std::fs::create_dir_all(&dir).unwrap();
    mnist_cnn::write_atomic(&dir.join("numbers.json"), serde_json::Value::from(cases).to_string().as_bytes()).unwrap();
}
