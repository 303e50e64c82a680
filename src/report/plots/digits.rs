//! Digits and results: the images, their pixels, the predictions, the confusions and misses.
use super::*;
use crate::data::{Split, PIXELS};

/// A grid of the first `rows x cols` digits of `split`, each with its label.
pub fn digits_grid(split: &Split, rows: usize, cols: usize) -> Picture {
    let cell = 3;
    let (tile_w, tile_h) = (SIDE as i32 * cell + 16, SIDE as i32 * cell + 34);
    let (w, h) = (cols as i32 * tile_w + 16, rows as i32 * tile_h + 56);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new("Sample training images and their labels", (w / 2, 24), centered(22))).map_err(err)?;
        for i in 0..(rows * cols).min(split.len()) {
            let (x, y) = (8 + (i % cols) as i32 * tile_w + 8, 48 + (i / cols) as i32 * tile_h);
            let size = if split.class_name(i).len() > 2 { 12 } else { 18 };
            root.draw(&Text::new(split.class_name(i), (x + tile_w / 2 - 8, y + 10), centered(size))).map_err(err)?;
            draw_digit(root, (x, y + 24), split.image(i), cell)?;
        }
        Ok(())
    })
}

/// The 28x28 matrix of an image's 0-255 pixel values, each cell in its own grey: what the
/// computer sees. `label` names what it shows. Numbers large enough to read on a projector.
pub fn pixel_matrix(pixels: &[u8], label: &str) -> Picture {
    assert_eq!(pixels.len(), PIXELS, "an MNIST image has 784 pixels");
    let cell = 42;
    let (w, h) = (SIDE as i32 * cell + 40, SIDE as i32 * cell + 110);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(format!("\"{label}\" as the computer sees it: 28 x 28 numbers"), (w / 2, 30), centered(30))).map_err(err)?;
        root.draw(&Text::new("from 0 (black) to 255 (white), each cell in its own grey", (w / 2, 68), centered(24))).map_err(err)?;
        let (x0, top) = (20, 95);
        for (i, &p) in pixels.iter().enumerate() {
            let (x, y) = (x0 + (i % SIDE) as i32 * cell, top + (i / SIDE) as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], grey(p as f32 / 255.0).filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(200, 200, 200))).map_err(err)?;
            let ink = match p {
                0 => RGBColor(110, 110, 110),
                1..=127 => WHITE,
                _ => BLACK,
            };
            number(root, p, (x + cell / 2, y + cell / 2), 17, &ink)?;
        }
        Ok(())
    })
}

/// Test digits with the model's prediction and its probability: green when right, red when
/// wrong. `probabilities[i]` belongs to image `i` of `split`.
pub fn predictions(split: &Split, probabilities: &[[f32; 10]], rows: usize, cols: usize) -> Picture {
    let cell = 3;
    let (tile_w, tile_h) = (SIDE as i32 * cell + 40, SIDE as i32 * cell + 66);
    let (w, h) = (cols as i32 * tile_w + 20, rows as i32 * tile_h + 60);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new("Predictions on test images (green: right, red: wrong)", (w / 2, 24), centered(22))).map_err(err)?;
        for (i, p) in probabilities.iter().enumerate().take(rows * cols) {
            let (x, y) = (10 + (i % cols) as i32 * tile_w + 20, 50 + (i / cols) as i32 * tile_h);
            let guess = crate::model::argmax(p);
            let right = guess == split.labels[i] as usize;
            let color = if right { RGBColor(0, 130, 0) } else { RGBColor(200, 0, 0) };
            draw_digit(root, (x, y), split.image(i), cell)?;
            let cx = x + SIDE as i32 * cell / 2;
            root.draw(&Text::new(format!("{} ({:.1}%)", split.classes[guess], p[guess] * 100.0), (cx, y + SIDE as i32 * cell + 15), centered(16).color(&color))).map_err(err)?;
            root.draw(&Text::new(format!("label {}", split.class_name(i)), (cx, y + SIDE as i32 * cell + 36), centered(15))).map_err(err)?;
        }
        Ok(())
    })
}

/// The confusion matrix: row = true digit, column = predicted digit, each cell its count; the
/// diagonal (read right) in shades of green, the mistakes in shades of orange (scaled to the
/// largest mistake, which would vanish beside the diagonal's thousands), each digit's accuracy
/// on the right. Not red and blue: those mean positive and negative in the other pictures.
/// `classes` names the rows (for digits, the digits themselves).
pub fn confusion_matrix(cm: &crate::report::analysis::ConfusionMatrix, classes: &[&str; 10]) -> Picture {
    let cell = 56;
    let digits = *classes == crate::data::DIGITS;
    let word = if digits { "digit" } else { "class" };
    let (x0, y0) = (if digits { 110 } else { 190 }, 90);
    let (w, h) = (x0 as u32 + 10 * cell as u32 + 170, y0 as u32 + 10 * cell as u32 + 90);
    let per_digit = cm.per_digit_accuracy();
    // Off-diagonal counts are small next to the diagonal: scale colours by the largest error too.
    let max_diag = (0..10).map(|d| cm.counts[d][d]).max().unwrap_or(1).max(1) as f32;
    let max_off = (0..10).flat_map(|r| (0..10).filter(move |&c| c != r).map(move |c| (r, c))).map(|(r, c)| cm.counts[r][c]).max().unwrap_or(1).max(1) as f32;
    canvas(w, h, |root| {
        root.draw(&Text::new(format!("Confusion matrix on {} test images: {:.2}% right", crate::layers::thousands(cm.total()), cm.accuracy() * 100.0), (w as i32 / 2, 24), centered(22))).map_err(err)?;
        root.draw(&Text::new(format!("predicted {word}"), (x0 + 5 * cell, y0 - 40), centered(16))).map_err(err)?;
        if digits {
            root.draw(&Text::new("true", (x0 - 70, y0 + 5 * cell - 10), centered(16))).map_err(err)?;
            root.draw(&Text::new("digit", (x0 - 70, y0 + 5 * cell + 10), centered(16))).map_err(err)?;
        }
        root.draw(&Text::new("accuracy", (x0 + 10 * cell + 75, y0 - 15), centered(15))).map_err(err)?;
        for (d, accuracy) in per_digit.iter().enumerate() {
            root.draw(&Text::new(d.to_string(), (x0 + d as i32 * cell + cell / 2, y0 - 14), centered(16))).map_err(err)?;
            let row_name = if digits { d.to_string() } else { format!("{} {d}", classes[d]) };
            let right = font(if digits { 16 } else { 14 }).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(row_name, (x0 - 8, y0 + d as i32 * cell + cell / 2), right)).map_err(err)?;
            root.draw(&Text::new(format!("{:.1}%", accuracy * 100.0), (x0 + 10 * cell + 75, y0 + d as i32 * cell + cell / 2), centered(15))).map_err(err)?;
            for p in 0..10 {
                let n = cm.counts[d][p];
                let (x, y) = (x0 + p as i32 * cell, y0 + d as i32 * cell);
                let color = if d == p { shade(n as f32, max_diag, RIGHT) } else { shade(n as f32, max_off, WRONG) };
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], color.filled())).map_err(err)?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(200, 200, 200))).map_err(err)?;
                if n > 0 {
                    let strong = (d == p && n as f32 > 0.5 * max_diag) || (d != p && n as f32 > 0.7 * max_off);
                    number(root, n, (x + cell / 2, y + cell / 2), 17, if strong { &WHITE } else { &BLACK })?;
                }
            }
        }
        // The two scales, said in words under the matrix.
        let legend = y0 + 10 * cell + 30;
        for (k, (full, text)) in [
            (RIGHT, format!("green: read right (darkest: {})", max_diag as usize)),
            (WRONG, format!("orange: mistakes (darkest: {})", max_off as usize)),
        ]
        .into_iter()
        .enumerate()
        {
            let x = x0 + k as i32 * 5 * cell;
            root.draw(&Rectangle::new([(x, legend - 10), (x + 20, legend + 10)], full.filled())).map_err(err)?;
            root.draw(&Text::new(text, (x + 28, legend), font(16).pos(Pos::new(HPos::Left, VPos::Center)))).map_err(err)?;
        }
        Ok(())
    })
}

/// The misclassified test digits, most confidently wrong first: each with its true label, the
/// model's answer and the probability it gave that answer.
pub fn misclassified_gallery(split: &Split, misses: &[crate::report::analysis::Miss], rows: usize, cols: usize) -> Picture {
    let cell = 3;
    let (tile_w, tile_h) = (SIDE as i32 * cell + 40, SIDE as i32 * cell + 50);
    let (w, h) = (cols as i32 * tile_w + 20, rows as i32 * tile_h + 60);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(format!("{} misclassified test images; the most confident mistakes: true -> predicted (probability)", misses.len()), (w / 2, 24), centered(18))).map_err(err)?;
        for (i, m) in misses.iter().take(rows * cols).enumerate() {
            let (x, y) = (10 + (i % cols) as i32 * tile_w + 20, 50 + (i / cols) as i32 * tile_h);
            draw_digit(root, (x, y), split.image(m.index), cell)?;
            let text = format!("{} -> {} ({:.0}%)", split.classes[m.label as usize], split.classes[m.predicted as usize], m.probability * 100.0);
            root.draw(&Text::new(text, (x + SIDE as i32 * cell / 2, y + SIDE as i32 * cell + 16), centered(14).color(&RGBColor(200, 0, 0)))).map_err(err)?;
        }
        Ok(())
    })
}

/// An image as `predict` found it, beside the 28x28 digit it made of it (see
/// [`crate::app::predict::prepare`]): what "prepared the way MNIST was made" means.
pub fn preparation(original: &image::DynamicImage, prepared: &[u8]) -> Picture {
    assert_eq!(prepared.len(), PIXELS, "a prepared digit has 784 pixels");
    let side = 280u32;
    let scale = side as f32 / original.width().max(original.height()) as f32;
    let (w, h) = (((original.width() as f32 * scale) as u32).max(1), ((original.height() as f32 * scale) as u32).max(1));
    let shown = image::imageops::resize(&original.to_rgb8(), w, h, image::imageops::FilterType::Triangle);
    let title = format!("An image of {} x {} pixels, and the 28 x 28 digit the model is given", original.width(), original.height());
    canvas(2 * side + 140, side + 110, |root| {
        root.draw(&Text::new(title, ((side + 70) as i32, 24), centered(20))).map_err(err)?;
        let top = 60;
        let (x0, y0) = (30 + (side - w) as i32 / 2, top + (side - h) as i32 / 2);
        for (x, y, p) in shown.enumerate_pixels() {
            root.draw_pixel((x0 + x as i32, y0 + y as i32), &RGBColor(p.0[0], p.0[1], p.0[2])).map_err(err)?;
        }
        root.draw(&Rectangle::new([(30, top), (30 + side as i32, top + side as i32)], RGBColor(160, 160, 160))).map_err(err)?;
        let x1 = 110 + side as i32;
        root.draw(&Text::new("→", (x1 - 40, top + side as i32 / 2), centered(36))).map_err(err)?;
        draw_digit(root, (x1, top), prepared, (side / SIDE as u32) as i32)?;
        let caption = "grey, white on black, cropped, fit to 20 x 20, centred by mass";
        root.draw(&Text::new(caption, ((side + 70) as i32, top + side as i32 + 28), centered(16))).map_err(err)?;
        Ok(())
    })
}

/// A digit and `count` randomly moved copies of it, as training sees it in different epochs
/// (see [`crate::data::augment`]); `seed` picks the moves.
pub fn moved_copies(pixels: &[u8], count: usize, seed: u64) -> Picture {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let image: Vec<f32> = pixels.iter().map(|&p| crate::data::normalise(p)).collect();
    let copies: Vec<Vec<u8>> = std::iter::once(pixels.to_vec())
        .chain((0..count).map(|_| crate::data::augment(&image, &mut rng).iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()))
        .collect();
    let cell = 3;
    let tile = SIDE as i32 * cell + 16;
    let w = copies.len() as i32 * tile + 16;
    canvas(w as u32, (SIDE as i32 * cell + 90) as u32, |root| {
        root.draw(&Text::new("The original, then the same digit as different epochs see it", (w / 2, 24), centered(18))).map_err(err)?;
        for (i, c) in copies.iter().enumerate() {
            let x = 16 + i as i32 * tile;
            draw_digit(root, (x, 50), c, cell)?;
            let label = if i == 0 { "original".to_string() } else { format!("epoch {i}") };
            root.draw(&Text::new(label, (x + SIDE as i32 * cell / 2, 50 + SIDE as i32 * cell + 18), centered(13))).map_err(err)?;
        }
        Ok(())
    })
}
