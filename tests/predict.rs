//! `predict`: images of any size, position, pen and polarity are prepared as MNIST digits and
//! read correctly; bad files are refused with clear errors.
mod common;
use common::*;
use image::ImageOutputFormat::{Jpeg, Png};
use mnist_cnn::{data, predict, Error};

const BLACK: [u8; 3] = [0, 0, 0];
const WHITE: [u8; 3] = [255, 255, 255];

/// Ten drawings, one per digit, none like another: sizes from 60 to 900 pixels, pens from 3 to
/// 60 pixels, the digit anywhere on the canvas, dark on light and light on dark, colour, JPEG.
fn fixed_set() -> Vec<(usize, Drawing, image::ImageOutputFormat)> {
    vec![
        (0, Drawing { size: (300, 300), place: (60.0, 40.0, 160.0, 220.0), pen: 20.0, ink: BLACK, paper: WHITE }, Png),
        (1, Drawing { size: (64, 96), place: (30.0, 10.0, 25.0, 70.0), pen: 5.0, ink: WHITE, paper: BLACK }, Png),
        (2, Drawing { size: (800, 600), place: (500.0, 300.0, 200.0, 260.0), pen: 24.0, ink: [20, 30, 140], paper: [250, 245, 230] }, Jpeg(90)),
        (3, Drawing { size: (120, 120), place: (10.0, 10.0, 60.0, 90.0), pen: 8.0, ink: BLACK, paper: WHITE }, Png),
        (4, Drawing { size: (900, 900), place: (200.0, 150.0, 500.0, 650.0), pen: 60.0, ink: WHITE, paper: [30, 30, 30] }, Png),
        (5, Drawing { size: (200, 400), place: (40.0, 150.0, 120.0, 200.0), pen: 14.0, ink: [60, 60, 60], paper: [200, 200, 200] }, Jpeg(80)),
        (6, Drawing { size: (60, 60), place: (12.0, 6.0, 34.0, 48.0), pen: 3.0, ink: BLACK, paper: WHITE }, Png),
        (7, Drawing { size: (500, 250), place: (20.0, 20.0, 120.0, 210.0), pen: 18.0, ink: [200, 0, 0], paper: WHITE }, Png),
        (8, Drawing { size: (280, 280), place: (70.0, 30.0, 140.0, 220.0), pen: 18.0, ink: BLACK, paper: WHITE }, Png),
        (9, Drawing { size: (400, 300), place: (250.0, 60.0, 110.0, 200.0), pen: 12.0, ink: WHITE, paper: BLACK }, Jpeg(95)),
    ]
}

#[test]
fn drawn_digits_of_every_size_pen_place_and_polarity_are_read_right() {
    let net = lesson_model();
    let mut right = 0;
    let mut report = Vec::new();
    for (digit, drawing, format) in fixed_set() {
        let bytes = encode(&draw(digit, &drawing), format);
        let pixels = predict::decode_digit(&bytes, &format!("drawn {digit}")).unwrap();
        let top = predict::top(&predict::probabilities(&net, &pixels), 3);
        right += (top[0].0 == digit) as usize;
        report.push(format!("{digit} -> {:?}", top));
    }
    eprintln!("{}", report.join("\n"));
    assert!(right >= 9, "{right} of 10 right:\n{}", report.join("\n"));
}

#[test]
fn mnist_digits_enlarged_moved_and_inverted_are_still_read_right() {
    let m = data::load(&bundled()).unwrap();
    let net = lesson_model();
    let (mut agree, mut total) = (0, 0);
    for i in 0..60 {
        let label = m.test.labels[i] as usize;
        // The 28x28 digit, 9 times larger, dark on light, placed off-centre on a wide page.
        let digit = image::GrayImage::from_raw(28, 28, m.test.image(i).to_vec()).unwrap();
        let big = image::imageops::resize(&digit, 252, 252, image::imageops::FilterType::Triangle);
        let mut page = image::RgbImage::from_pixel(640, 400, image::Rgb([235, 235, 225]));
        let (ox, oy) = (40 + (i as u32 * 37) % 340, 20 + (i as u32 * 53) % 120);
        for (x, y, p) in big.enumerate_pixels() {
            let v = 235 - (p.0[0] as u32 * 235 / 255) as u8;
            page.put_pixel(ox + x, oy + y, image::Rgb([v, v, v.saturating_sub(10)]));
        }
        let pixels = predict::decode_digit(&encode(&page, Png), "page").unwrap();
        let prepared = predict::top(&predict::probabilities(&net, &pixels), 1)[0].0;
        let original = predict::top(&predict::probabilities(&net, m.test.image(i)), 1)[0].0;
        if original == label {
            total += 1;
            agree += (prepared == label) as usize;
        }
    }
    assert!(total >= 55, "the model reads the originals");
    assert!(agree * 100 >= total * 95, "{agree} of {total} read right after the round trip");
}

#[test]
fn prepared_digits_look_like_mnist() {
    let drawing = Drawing { size: (300, 500), place: (180.0, 300.0, 90.0, 180.0), pen: 16.0, ink: BLACK, paper: WHITE };
    let pixels = predict::decode_digit(&encode(&draw(7, &drawing), Png), "seven").unwrap();
    assert_eq!(pixels.len(), 784);
    assert_eq!(*pixels.iter().max().unwrap(), 255, "the ink is white");
    assert_eq!(pixels[0], 0, "the background is black");
    // The ink fits a 20x20 box (its long side is 20) ...
    let inked: Vec<(usize, usize)> = (0..784).filter(|&i| pixels[i] > 0).map(|i| (i % 28, i / 28)).collect();
    let (x0, x1) = (inked.iter().map(|p| p.0).min().unwrap(), inked.iter().map(|p| p.0).max().unwrap());
    let (y0, y1) = (inked.iter().map(|p| p.1).min().unwrap(), inked.iter().map(|p| p.1).max().unwrap());
    assert_eq!(y1 - y0 + 1, 20, "the tall side is 20 pixels");
    assert!(x1 - x0 < 20);
    // ... and its centre of mass is at the centre.
    let mass: f64 = pixels.iter().map(|&v| v as f64).sum();
    let cx = (0..784).map(|i| (i % 28) as f64 * pixels[i] as f64).sum::<f64>() / mass;
    let cy = (0..784).map(|i| (i / 28) as f64 * pixels[i] as f64).sum::<f64>() / mass;
    assert!((cx - 13.5).abs() <= 1.0 && (cy - 13.5).abs() <= 1.0, "centre of mass ({cx:.2}, {cy:.2})");
    // The same digit light on dark is prepared the same.
    let inverted = Drawing { ink: WHITE, paper: BLACK, ..drawing };
    assert_eq!(predict::decode_digit(&encode(&draw(7, &inverted), Png), "inverted").unwrap(), pixels);
}

#[test]
fn bad_images_are_refused_with_what_was_wrong() {
    let err = |bytes: &[u8]| predict::decode_digit(bytes, "upload").unwrap_err();
    assert!(err(b"").to_string().contains("upload: is empty"), "{}", err(b""));
    let text = err(b"hello, this is not an image");
    assert!(text.to_string().contains("is not a PNG or JPEG image"), "{text}");
    let png = encode(&draw(3, &Drawing { size: (100, 100), place: (20.0, 10.0, 60.0, 80.0), pen: 8.0, ink: BLACK, paper: WHITE }), Png);
    let truncated = err(&png[..png.len() / 2]);
    assert!(truncated.to_string().contains("could not be decoded"), "{truncated}");
    for blank in [image::RgbImage::from_pixel(50, 40, image::Rgb(WHITE)), image::RgbImage::from_pixel(64, 64, image::Rgb([90, 90, 90]))] {
        let e = err(&encode(&blank, Png));
        assert!(matches!(e, Error::NoDigit { .. }), "{e}");
        assert!(e.to_string().contains("there is no digit"), "{e}");
    }
}

#[test]
fn predict_command_prints_the_top_three_and_fails_cleanly_on_bad_files() {
    let dir = temp_dir("predict-cli");
    let seven = dir.join("seven.png");
    let d = Drawing { size: (200, 200), place: (40.0, 20.0, 110.0, 160.0), pen: 16.0, ink: BLACK, paper: WHITE };
    std::fs::write(&seven, encode(&draw(7, &d), Png)).unwrap();
    let out = cli(&["predict", seven.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with(&format!("{}: 7 (", seven.display())), "{stdout}");
    assert_eq!(stdout.matches('%').count(), 3, "top 3: {stdout}");

    let (empty, text, blank) = (dir.join("empty.png"), dir.join("notes.txt"), dir.join("blank.png"));
    std::fs::write(&empty, b"").unwrap();
    std::fs::write(&text, b"not an image").unwrap();
    std::fs::write(&blank, encode(&image::RgbImage::from_pixel(80, 80, image::Rgb(WHITE)), Png)).unwrap();
    let out = cli(&["predict", seven.to_str().unwrap(), empty.to_str().unwrap(), text.to_str().unwrap(), blank.to_str().unwrap(), "missing.png"]);
    assert_clean_failure(&out, "4 of 5 images: could not be read");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("empty.png: is empty"), "{stderr}");
    assert!(stderr.contains("notes.txt: is not a PNG or JPEG image"), "{stderr}");
    assert!(stderr.contains("blank.png: there is no digit"), "{stderr}");
    assert!(stderr.contains("missing.png does not exist"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(": 7 ("), "the good file is still read");
    let out = cli(&["predict"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Random and mutated images (PNG and JPEG of a drawn digit, with bytes changed, cut short,
/// added, or their stated size made huge): each is read as a digit or refused with a reason,
/// never a panic, and none takes more memory than the image limits allow.
#[test]
fn any_image_bytes_are_read_or_refused_without_a_panic() {
    use rand::{Rng, SeedableRng};
    let d = Drawing { size: (120, 120), place: (30.0, 10.0, 60.0, 100.0), pen: 9.0, ink: [0, 0, 0], paper: [255, 255, 255] };
    let seeds = [encode(&draw(4, &d), Png), encode(&draw(4, &d), Jpeg(90))];
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (mut read, mut refused) = (0, 0);
    for i in 0..3_000 {
        let mut bytes = seeds[i % 2].clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..bytes.len());
            match rng.gen_range(0..5) {
                0 => bytes[at] = rng.gen(),
                1 => bytes.truncate(at),
                2 => bytes.splice(at..at, (0..rng.gen_range(1..64)).map(|_| rng.gen::<u8>())).for_each(drop),
                // The size in the header: PNG's IHDR at 16..24, a JPEG's SOF0 wherever it is.
                3 if i % 2 == 0 && bytes.len() > 24 => bytes[16..24].copy_from_slice(&[0, rng.gen(), rng.gen(), rng.gen(), 0, rng.gen(), rng.gen(), rng.gen()]),
                _ => {
                    if let Some(sof) = bytes.windows(2).position(|w| w == [0xFF, 0xC0]) {
                        if sof + 9 < bytes.len() {
                            bytes[sof + 5..sof + 9].copy_from_slice(&[rng.gen(), rng.gen(), rng.gen(), rng.gen()]);
                        }
                    }
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        // The photo path on one in ten (it works on a larger copy, so it takes longer).
        if i % 10 == 0 {
            match mnist_cnn::photo::decode_digit(&bytes, "fuzzed") {
                Ok(pixels) => assert_eq!(pixels.len(), 784),
                Err(e) => assert!(matches!(e, Error::BadImage { .. } | Error::NoDigitInPhoto { .. }) && e.to_string().contains("fuzzed"), "{e}"),
            }
        }
        match predict::decode_digit(&bytes, "fuzzed") {
            Ok(pixels) => {
                assert_eq!(pixels.len(), 784);
                read += 1;
            }
            Err(e) => {
                assert!(matches!(e, Error::BadImage { .. } | Error::NoDigit { .. }), "{e}");
                assert!(e.to_string().contains("fuzzed"), "{e}");
                refused += 1;
            }
        }
    }
    assert!(read > 0 && refused > 0, "{read} read, {refused} refused");
}

#[test]
fn images_of_any_shape_are_read_as_photos_without_a_panic() {
    for (w, h) in [(1, 1), (1, 700), (700, 1), (8192, 2), (3, 8192), (400, 400), (401, 2), (17, 5)] {
        for shade in [0u8, 128, 255] {
            let mut img = image::GrayImage::from_pixel(w, h, image::Luma([shade]));
            // A dark mark in the middle, when there is room for one.
            for y in h / 3..(2 * h / 3).max(h / 3 + 1).min(h) {
                for x in w / 3..(2 * w / 3).max(w / 3 + 1).min(w) {
                    img.put_pixel(x, y, image::Luma([255 - shade]));
                }
            }
            if let Some(p) = mnist_cnn::photo::prepare(&image::DynamicImage::ImageLuma8(img)) {
                assert_eq!(p.len(), 784);
            }
        }
    }
}
