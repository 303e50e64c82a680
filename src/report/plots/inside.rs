//! Inside the network: filters, feature maps, a convolution worked in numbers, pooling.
use super::*;
use crate::report::analysis::{filter_response, max_pool_2x2, POOL_EXAMPLE, VERTICAL_EDGE};

/// Max pooling explained: a 4x4 grid of numbers whose 2x2 blocks become their maxima, then a
/// real digit, its vertical-edge filter response, and that response after 2x2 pooling.
pub fn pooling_illustration(pixels: &[u8]) -> Picture {
    let grid: Vec<f32> = POOL_EXAMPLE.iter().flatten().copied().collect();
    let pooled = max_pool_2x2::<4>(&grid);
    let response = filter_response(pixels, VERTICAL_EDGE);
    // As the network does it: ReLU (negatives to 0), then pooling.
    let rectified: Vec<f32> = response.iter().map(|v| v.max(0.0)).collect();
    let response_pooled = max_pool_2x2::<26>(&rectified);
    let max_abs = response.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let block = [RGBColor(198, 219, 239), RGBColor(253, 208, 162), RGBColor(199, 233, 192), RGBColor(218, 218, 235)];
    let (w, h) = (1000, 780);
    canvas(w, h, |root| {
        root.draw(&Text::new("Max pooling (2x2): keep the highest value of each 2x2 block", (w as i32 / 2, 26), centered(24))).map_err(err)?;
        // Top: the numbers.
        let cell = 60;
        let (gx, gy) = (170, 70);
        for (i, &v) in grid.iter().enumerate() {
            let (r, c) = (i / 4, i % 4);
            let b = (r / 2) * 2 + c / 2;
            let (x, y) = (gx + c as i32 * cell, gy + r as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], block[b].filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
            let is_max = v == pooled[b];
            let style = if is_max { ("sans-serif", 26, FontStyle::Normal).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center)) } else { centered(20).color(&RGBColor(90, 90, 90)) };
            root.draw(&Text::new(format!("{v:.0}"), (x + cell / 2, y + cell / 2), style)).map_err(err)?;
            if is_max {
                root.draw(&Circle::new((x + cell / 2, y + cell / 2), 20, BLACK.stroke_width(2))).map_err(err)?;
            }
        }
        root.draw(&Text::new("->", (gx + 4 * cell + 70, gy + 2 * cell), centered(40))).map_err(err)?;
        let px = gx + 4 * cell + 140;
        for (b, &v) in pooled.iter().enumerate() {
            let (x, y) = (px + (b % 2) as i32 * cell, gy + cell + (b / 2) as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], block[b].filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
            root.draw(&Text::new(format!("{v:.0}"), (x + cell / 2, y + cell / 2), centered(26))).map_err(err)?;
        }
        root.draw(&Text::new("4 x 4 input", (gx + 2 * cell, gy + 4 * cell + 20), centered(16))).map_err(err)?;
        root.draw(&Text::new("2 x 2 output", (px + cell, gy + 4 * cell + 20), centered(16))).map_err(err)?;
        // Bottom: a real digit.
        let top = 420;
        let panels: [(&str, i32); 3] = [("digit (28 x 28)", 8), ("vertical-edge filter (26 x 26)", 8), ("ReLU, then 2x2 max pooling (13 x 13)", 16)];
        for (k, (title, cell)) in panels.iter().enumerate() {
            let x0 = 40 + k as i32 * 320;
            root.draw(&Text::new(*title, (x0 + 112, top - 20), centered(16))).map_err(err)?;
            match k {
                0 => draw_digit(root, (x0, top), pixels, *cell)?,
                1 => draw_cells(root, (x0 + 8, top + 8), 26, 26, *cell, |i| diverging(response[i], max_abs))?,
                _ => draw_cells(root, (x0 + 8, top + 8), 13, 13, *cell, |i| diverging(response_pooled[i], max_abs))?,
            }
        }
        root.draw(&Text::new("filter [[1, 0, -1], [1, 0, -1], [1, 0, -1]]: red on the right edge of a stroke, blue on its left edge", (w as i32 / 2, top + 250), centered(14))).map_err(err)?;
        root.draw(&Text::new("ReLU turns the negative (blue) values to 0 (white); pooling keeps the highest value of each 2x2 block:", (w as i32 / 2, top + 275), centered(14))).map_err(err)?;
        root.draw(&Text::new("half the size, the strongest right-hand edges kept", (w as i32 / 2, top + 297), centered(14))).map_err(err)?;
        Ok(())
    })
}

/// A convolution explained: a digit, a 3x3 filter as numbers, and the filter's response at every
/// position (red positive, blue negative), computed by the model's own [`Conv2D`](crate::layers::Conv2D).
pub fn convolution_illustration(pixels: &[u8], filter: [[f32; 3]; 3]) -> Picture {
    let response = filter_response(pixels, filter);
    let max_abs = response.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (w, h) = (980, 380);
    canvas(w, h, |root| {
        root.draw(&Text::new("Convolution: a 3x3 filter slides over the image; each output is a weighted sum of 9 pixels", (w as i32 / 2, 24), centered(20))).map_err(err)?;
        let top = 80;
        root.draw(&Text::new("digit (28 x 28)", (152, top - 20), centered(16))).map_err(err)?;
        draw_digit(root, (40, top), pixels, 8)?;
        root.draw(&Text::new("filter (3 x 3)", (415, top - 20), centered(16))).map_err(err)?;
        let cell = 50;
        for (i, &v) in filter.iter().flatten().enumerate() {
            let (x, y) = (340 + (i % 3) as i32 * cell, top + 40 + (i / 3) as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], diverging(v, 1.5).filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
            root.draw(&Text::new(format!("{v}"), (x + cell / 2, y + cell / 2), centered(20))).map_err(err)?;
        }
        root.draw(&Text::new("response (26 x 26)", (760, top - 20), centered(16))).map_err(err)?;
        draw_cells(root, (656, top + 8), 26, 26, 8, |i| diverging(response[i], max_abs))?;
        root.draw(&Text::new("28 - 3 + 1 = 26 positions per side, no padding; red: positive, blue: negative", (w as i32 / 2, top + 250), centered(14))).map_err(err)?;
        Ok(())
    })
}

/// One output of a convolution worked in numbers: the 3x3 window of the image whose top-left
/// corner is `(row, col)` (pixels scaled to 0..1), the filter's 9 weights, their 9 products,
/// and the sum, which is the output pixel at `(row, col)` (the same number the layer gives).
pub fn convolution_worked(pixels: &[u8], filter: [[f32; 3]; 3], (row, col): (usize, usize)) -> Picture {
    assert!(row < 26 && col < 26, "a 3x3 window of a 28x28 image starts at 0..26");
    let window: Vec<f32> = (0..9).map(|i| pixels[(row + i / 3) * SIDE + col + i % 3] as f32 / 255.0).collect();
    let weights: Vec<f32> = filter.iter().flatten().copied().collect();
    let products: Vec<f32> = window.iter().zip(&weights).map(|(p, w)| p * w).collect();
    let sum: f32 = products.iter().sum();
    let layer = filter_response(pixels, filter)[row * 26 + col];
    let (w, h) = (1180, 420);
    canvas(w, h, |root| {
        root.draw(&Text::new(format!("One output of the convolution: the window at row {row}, column {col}"), (w as i32 / 2, 26), centered(22))).map_err(err)?;
        // The digit, the window marked.
        let (dx, dy, big) = (20, 80, 9);
        draw_digit(root, (dx, dy), pixels, big)?;
        let (x, y) = (dx + col as i32 * big, dy + row as i32 * big);
        root.draw(&Rectangle::new([(x - 1, y - 1), (x + 3 * big + 1, y + 3 * big + 1)], RGBColor(230, 85, 13).stroke_width(3))).map_err(err)?;
        let cell = 58;
        let grid = |x0: i32, title: &str, values: &[f32], color: &dyn Fn(f32) -> RGBColor| -> Result<(), String> {
            root.draw(&Text::new(title, (x0 + 3 * cell / 2, 110), centered(17))).map_err(err)?;
            for (i, &v) in values.iter().enumerate() {
                let (x, y) = (x0 + (i % 3) as i32 * cell, 135 + (i / 3) as i32 * cell);
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], color(v).filled())).map_err(err)?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
                root.draw(&Text::new(format!("{v:.2}"), (x + cell / 2, y + cell / 2), centered(17))).map_err(err)?;
            }
            Ok(())
        };
        let pale = |v: f32| grey(0.55 + 0.45 * v);
        grid(300, "the window's pixels", &window, &pale)?;
        root.draw(&Text::new("x", (300 + 3 * cell + 25, 135 + 3 * cell / 2), centered(30))).map_err(err)?;
        grid(300 + 3 * cell + 50, "the filter's weights", &weights, &|v| diverging(v, 1.5))?;
        root.draw(&Text::new("=", (300 + 6 * cell + 75, 135 + 3 * cell / 2), centered(30))).map_err(err)?;
        grid(300 + 6 * cell + 100, "pixel x weight", &products, &|v| diverging(v, 1.5))?;
        let terms: Vec<String> = products.iter().map(|p| format!("{p:.2}")).collect();
        root.draw(&Text::new(format!("sum of the 9 products: {} = {sum:.2}", terms.join(" + ").replace("+ -", "- ")), (300 + 9 * cell / 2 + 50, 135 + 3 * cell + 40), centered(16))).map_err(err)?;
        root.draw(&Text::new(format!("the output pixel at ({row}, {col}): {sum:.2} (the layer computes {layer:.2}); then 26 x 26 such sums, one per position"), (w as i32 / 2, 135 + 3 * cell + 80), centered(16))).map_err(err)?;
        Ok(())
    })
}

/// The first layer's 32 learned 3x3 filters (red positive, blue negative weights).
pub fn filters(weights: &[f32]) -> Picture {
    let n = weights.len() / 9;
    let max_abs = weights.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (cols, cell) = (8, 20);
    let tile = 3 * cell + 30;
    let rows = n.div_ceil(cols);
    let (w, h) = (cols as i32 * tile + 20, rows as i32 * tile + 70);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(format!("The {n} learned 3x3 filters of Conv2D, numbered from 0 as in the code"), (w / 2, 20), centered(16))).map_err(err)?;
        root.draw(&Text::new("red: positive weight, blue: negative, white: 0", (w / 2, 42), centered(14))).map_err(err)?;
        for f in 0..n {
            let (x, y) = (20 + (f % cols) as i32 * tile, 75 + (f / cols) as i32 * tile);
            draw_cells(root, (x, y), 3, 3, cell, |i| diverging(weights[f * 9 + i], max_abs))?;
            root.draw(&Rectangle::new([(x, y), (x + 3 * cell, y + 3 * cell)], RGBColor(150, 150, 150))).map_err(err)?;
            number(root, f, (x + 3 * cell / 2, y - 9), 13, &RGBColor(60, 60, 60))?;
        }
        Ok(())
    })
}

/// Feature maps (`channels` maps of `side x side`, flattened) as a grid of grey pictures under
/// `title`, numbered as the filters that made them; each map is scaled to its own largest
/// value (white), which the picture says, so a weak map looks as bright as a strong one.
pub fn feature_maps(maps: &[f32], side: usize, title: &str) -> Picture {
    let n = maps.len() / (side * side);
    let cols = 8;
    let cell = (104 / side).max(1) as i32;
    let tile = side as i32 * cell + 12;
    let row = tile + 16;
    let (w, h) = (cols as i32 * tile + 20, n.div_ceil(cols) as i32 * row + 70);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(title, (w / 2, 20), centered(16))).map_err(err)?;
        root.draw(&Text::new("numbered as the filters; each map scaled to its own largest value (white)", (w / 2, 42), centered(14))).map_err(err)?;
        for (f, map) in maps.chunks_exact(side * side).enumerate() {
            let top = map.iter().fold(0.0f32, |m, &v| m.max(v)).max(1e-6);
            let (x, y) = (16 + (f % cols) as i32 * tile, 76 + (f / cols) as i32 * row);
            number(root, f, (x + side as i32 * cell / 2, y - 10), 13, &RGBColor(60, 60, 60))?;
            draw_cells(root, (x, y), side, side, cell, |i| grey(map[i] / top))?;
        }
        Ok(())
    })
}
