//! What the network looks at (saliency) and how it is fooled (adversarial nudges).
use super::*;
use crate::explain::adversarial::{Fooled, Robustness};

pub use crate::explain::saliency::Looked;

const CELL: i32 = 4;
const SIDE_PX: i32 = SIDE as i32 * CELL;

/// Saliency maps (a row of digits read right, a row of mistakes; an empty row is left out): each
/// digit beside its gradient x input maps, red where the ink speaks for the
/// class named above the map, blue where it speaks against it. Each digit's maps share one
/// scale, its largest value; the picture says so.
pub fn saliency(right: &[Looked], wrong: &[Looked]) -> Picture {
    let tile = |l: &Looked| (1 + l.maps.len() as i32) * (SIDE_PX + 8) + 24;
    let row_w = |ls: &[Looked]| ls.iter().map(tile).sum::<i32>();
    let w = (row_w(right).max(row_w(wrong)) + 20).max(900);
    let row_h = SIDE_PX + 60;
    let groups: Vec<(&str, &[Looked])> = [("read right", right), ("read wrong: the map of its answer, then of the true digit", wrong)].into_iter().filter(|(_, l)| !l.is_empty()).collect();
    let h = 100 + groups.len() as i32 * row_h;
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new("What the network looks at: gradient x input of a class's score", (w / 2, 22), centered(20))).map_err(err)?;
        root.draw(&Text::new("red: ink that speaks for the class named above the map; blue: ink that speaks against it; white: no effect (or no ink)", (w / 2, 48), centered(14))).map_err(err)?;
        root.draw(&Text::new("each digit's maps share one scale: their largest value", (w / 2, 68), centered(14))).map_err(err)?;
        for (r, (title, looked)) in groups.into_iter().enumerate() {
            let y = 100 + r as i32 * row_h;
            root.draw(&Text::new(title, (12, y), font(15).pos(Pos::new(HPos::Left, VPos::Center)))).map_err(err)?;
            let mut x = 12;
            for l in looked {
                let top = y + 32;
                draw_digit(root, (x, top), &l.pixels, CELL)?;
                let color = if l.predicted == l.label { BLACK } else { RGBColor(200, 0, 0) };
                let text = format!("{} -> {} ({:.0}%)", l.label, l.predicted, l.probability * 100.0);
                root.draw(&Text::new(text, (x + SIDE_PX / 2, top - 12), centered(15).color(&color))).map_err(err)?;
                let scale = l.maps.iter().flat_map(|(_, m)| m.iter()).fold(0.0f32, |m, v| m.max(v.abs()));
                for (k, (class, map)) in l.maps.iter().enumerate() {
                    let mx = x + (k as i32 + 1) * (SIDE_PX + 8);
                    draw_cells(root, (mx, top), SIDE, SIDE, CELL, |i| diverging(map[i], scale))?;
                    root.draw(&Rectangle::new([(mx, top), (mx + SIDE_PX, top + SIDE_PX)], RGBColor(170, 170, 170))).map_err(err)?;
                    root.draw(&Text::new(format!("for {class}"), (mx + SIDE_PX / 2, top - 12), centered(15))).map_err(err)?;
                }
                x += tile(l);
            }
        }
        Ok(())
    })
}

/// Digits the network was fooled on: each original with the network's reading, the nudge that
/// was added (red: pixels made brighter, blue: darker), and the nudged digit with its new reading.
pub fn adversarial(cases: &[(Vec<u8>, usize, f32, Fooled)]) -> Picture {
    let cell = 4;
    let side = SIDE as i32 * cell;
    let tile_h = side + 64;
    let gap = 140;
    let (w, h) = (3 * side + 2 * gap + 120, 100 + cases.len() as i32 * tile_h);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new("Fooling the network: small steps against the right answer", (w / 2, 22), centered(20))).map_err(err)?;
        root.draw(&Text::new("each step moves every pixel by 1% of the range, up or down, where the gradient says (fast gradient sign)", (w / 2, 48), centered(13))).map_err(err)?;
        root.draw(&Text::new("the nudge: red where a pixel was made brighter, blue darker, full colour at the largest change", (w / 2, 66), centered(13))).map_err(err)?;
        for (r, (pixels, label, probability, fooled)) in cases.iter().enumerate() {
            let y = 110 + r as i32 * tile_h;
            let x = |c: i32| 60 + c * (side + gap);
            draw_digit(root, (x(0), y), pixels, cell)?;
            root.draw(&Text::new(format!("read as {label} ({:.0}%)", probability * 100.0), (x(0) + side / 2, y - 12), centered(14))).map_err(err)?;
            let diff = fooled.difference(pixels);
            draw_cells(root, (x(1), y), SIDE, SIDE, cell, |i| diverging(diff[i], fooled.change))?;
            root.draw(&Rectangle::new([(x(1), y), (x(1) + side, y + side)], RGBColor(170, 170, 170))).map_err(err)?;
            let levels = (fooled.change * 255.0).round() as u32;
            root.draw(&Text::new(format!("nudge: {} steps, at most {levels} of 255 levels", fooled.steps), (x(1) + side / 2, y - 12), centered(14))).map_err(err)?;
            root.draw(&Text::new("+", (x(1) - gap / 2, y + side / 2), centered(30))).map_err(err)?;
            root.draw(&Text::new("=", (x(2) - gap / 2, y + side / 2), centered(30))).map_err(err)?;
            let nudged: Vec<u8> = fooled.image.iter().map(|v| (v * 255.0).round() as u8).collect();
            draw_digit(root, (x(2), y), &nudged, cell)?;
            let text = format!("read as {} ({:.0}%)", fooled.predicted, fooled.probabilities[fooled.predicted] * 100.0);
            root.draw(&Text::new(text, (x(2) + side / 2, y - 12), centered(14).color(&RGBColor(200, 0, 0)))).map_err(err)?;
        }
        Ok(())
    })
}

/// Accuracy against the size of a fast-gradient-sign nudge, one line per network.
pub fn robustness_chart(curves: &[(&str, &Robustness)]) -> Picture {
    let colors = [BLUE, GREEN_DARK, ORANGE, RED];
    canvas(800, 500, |root| {
        let most = curves.iter().flat_map(|(_, c)| c.points.iter().map(|p| p.0)).fold(0.0f32, f32::max).max(0.01) as f64;
        let images = curves.first().map_or(0, |(_, c)| c.images);
        let mut chart = ChartBuilder::on(root)
            .caption(format!("Accuracy on {} test images nudged by the fast gradient sign method", crate::layers::thousands(images)), font(20))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..most * 1.02, 0.0..1.02)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epsilon: how far each pixel is moved (0..1; 0.1 is about 26 of 255 levels)")
            .y_desc("accuracy")
            .x_label_formatter(&|x| format!("{x:.2}"))
            .y_label_formatter(&|y: &f64| format!("{:.0}%", *y * 100.0))
            .label_style(font(14))
            .axis_desc_style(font(16))
            .draw()
            .map_err(err)?;
        let lines: Vec<super::charts::Line> = curves
            .iter()
            .zip(colors.iter().cycle())
            .map(|((name, curve), &color)| (name.to_string(), color, curve.points.iter().map(|&(e, a)| (e as f64, a)).collect()))
            .collect();
        super::charts::draw_lines(&mut chart, &lines, SeriesLabelPosition::UpperRight)
    })
}

/// Every layer's output for one digit, as the draw-a-digit page shows it: a row per layer (an
/// activation drawn with the layer before it; Flatten and Dropout left out), each feature map
/// numbered, the dense layers' units in rows of 32, each layer on one scale (black 0, white its
/// largest value; blue-white-red where it has negative values), which the row's title states.
pub fn every_layer(layers: &[(crate::layers::Node, Vec<f32>)], title: &str) -> Picture {
    use crate::layers::Op;
    // The rows: (name, shape, values), an activation folded into the layer before it.
    let mut rows: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    for (node, values) in layers {
        match &node.op {
            Op::Flatten | Op::Dropout { .. } => {}
            op if op.is_activation() && rows.last().is_some_and(|r| r.0 == "Conv2D" || r.0 == "Dense") => {
                let last = rows.last_mut().expect("a row");
                *last = (format!("{} + {}", last.0, op.name()), node.shape.clone(), values);
            }
            op => rows.push((op.name(), node.shape.clone(), values)),
        }
    }
    let width = 1000i32;
    let layout = |shape: &[usize]| -> (i32, i32, i32, i32) {
        // (cell, tile width, tiles per row, row height) for a row's maps or units.
        if shape.len() == 3 {
            let cell = (84 / shape[1].max(shape[2]) as i32).clamp(1, 10);
            let tile = shape[2] as i32 * cell + 10;
            let per_row = ((width - 20) / tile).max(1);
            let rows = (shape[0] as i32 + per_row - 1) / per_row;
            (cell, tile, per_row, rows * (shape[1] as i32 * cell + 24))
        } else {
            let cell = if shape[0] <= 10 { 30 } else { 14 };
            (cell, cell, 32, shape[0].div_ceil(32) as i32 * cell + 22)
        }
    };
    let height = 50 + rows.iter().map(|r| 46 + layout(&r.1).3).sum::<i32>();
    canvas(width as u32, height as u32, |root| {
        root.draw(&Text::new(title, (width / 2, 22), centered(18))).map_err(err)?;
        let mut y = 50;
        for (name, shape, values) in &rows {
            let diverging = values.iter().any(|&v| v < 0.0);
            let top = values.iter().fold(0.0f32, |m, v| m.max(if diverging { v.abs() } else { *v })).max(1e-6);
            let scale = if diverging { format!("red positive, blue negative, full colour at ±{top:.3}") } else { format!("black 0, white {top:.3}") };
            let dims = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
            root.draw(&Text::new(format!("{name} → [{dims}]: one scale for the layer, {scale}"), (12, y + 10), font(15).pos(Pos::new(HPos::Left, VPos::Center)))).map_err(err)?;
            let colour = |v: f32| if diverging { super::diverging(v, top) } else { grey(v / top) };
            let (cell, tile, per_row, row_h) = layout(shape);
            let top_y = y + 30;
            if shape.len() == 3 {
                let (c, h, w) = (shape[0], shape[1], shape[2]);
                for ch in 0..c {
                    let (x, ty) = (12 + (ch as i32 % per_row) * tile, top_y + (ch as i32 / per_row) * (h as i32 * cell + 24));
                    draw_cells(root, (x, ty + 15), w, h, cell, |i| colour(values[ch * h * w + i]))?;
                    number(root, ch, (x + w as i32 * cell / 2, ty + 5), 14, &BLACK)?;
                }
            } else {
                let n = shape[0];
                let cols = n.min(32);
                draw_cells(root, (12, top_y + 4), cols, n.div_ceil(32), cell, |i| if i < n { colour(values[i]) } else { WHITE })?;
                if n <= 10 {
                    for d in 0..n {
                        number(root, d, (12 + d as i32 * cell + cell / 2, top_y + cell + 14), 12, &BLACK)?;
                    }
                }
            }
            y += 46 + row_h;
        }
        Ok(())
    })
}

/// A number read digit by digit ([`crate::number::read_number`]): the image with a box around
/// each digit found and its reading above it, and under it each digit as the network saw it
/// (28 x 28) with its probability.
pub fn number_reading(img: &image::DynamicImage, digits: &[crate::number::Digit]) -> Picture {
    let rgb = img.to_rgb8();
    let scale = (700.0 / rgb.width().max(1) as f32).min(300.0 / rgb.height().max(1) as f32).min(4.0);
    let (w, h) = (((rgb.width() as f32 * scale) as u32).max(1), ((rgb.height() as f32 * scale) as u32).max(1));
    let shown = image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Triangle);
    let text = crate::number::text(digits);
    let (cw, ch) = ((w as i32 + 40).max(digits.len() as i32 * 110 + 40).max(500), h as i32 + 230);
    canvas(cw as u32, ch as u32, |root| {
        root.draw(&Text::new(format!("Read as {text}: {} digits, each found, boxed and read", digits.len()), (cw / 2, 22), centered(18))).map_err(err)?;
        let (x0, y0) = (20, 50);
        for (x, y, p) in shown.enumerate_pixels() {
            root.draw_pixel((x0 + x as i32, y0 + y as i32), &RGBColor(p.0[0], p.0[1], p.0[2])).map_err(err)?;
        }
        let s = |v: u32| (v as f32 * scale).round() as i32;
        for d in digits {
            let b = d.bounds;
            let (bx, by) = (x0 + s(b.x), y0 + s(b.y));
            root.draw(&Rectangle::new([(bx - 3, by - 3), (bx + s(b.width) + 3, by + s(b.height) + 3)], BLUE.stroke_width(2))).map_err(err)?;
            number(root, d.value(), (bx + s(b.width) / 2, (by - 14).max(y0 + 8)), 18, &BLUE)?;
        }
        let row = y0 + h as i32 + 30;
        for (i, d) in digits.iter().enumerate() {
            let x = 20 + i as i32 * 110;
            draw_digit(root, (x, row), &d.pixels, 3)?;
            let p = d.probabilities[d.value()];
            root.draw(&Text::new(format!("{} ({:.0}%)", d.value(), p * 100.0), (x + 42, row + 100), centered(14))).map_err(err)?;
        }
        Ok(())
    })
}
