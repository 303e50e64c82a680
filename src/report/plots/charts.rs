//! Charts: accuracy and loss per epoch, activations, probabilities.
use super::*;
use crate::train::{Epoch, History};
use crate::data::Split;

/// One line of a chart: its legend, its colour, its (x, y) points.
pub(super) type Line = (String, RGBColor, Vec<(f64, f64)>);

/// A line chart over epochs, with dots at each epoch and a legend.
/// A run that diverged (a learning rate far too large) has epochs whose loss is not a number or
/// infinite: those points cannot be drawn, so they are left out and the title says so.
fn epoch_chart(lines: &[Line], title: &str, metric: &str, legend_low: bool, percent: bool) -> Picture {
    let all = lines.iter().map(|l| l.2.len()).sum::<usize>();
    // The x axis covers every epoch, drawn or not.
    let n = lines.iter().flat_map(|l| l.2.iter().map(|p| p.0 as usize)).max().unwrap_or(1).max(1);
    let lines: Vec<Line> = lines.iter().map(|(name, c, points)| (name.clone(), *c, points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect())).collect();
    let left_out = all - lines.iter().map(|l| l.2.len()).sum::<usize>();
    let title = match left_out {
        0 => title.to_string(),
        1 => format!("{title} (1 point not a finite number, not drawn)"),
        k => format!("{title} ({k} points not finite numbers, not drawn)"),
    };
    canvas(800, 500, |root| {
        let values: Vec<f64> = lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)).collect();
        let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let (lo, hi) = if values.is_empty() { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.08).max(1e-3 * hi.abs().max(1.0));
        let mut chart = ChartBuilder::on(root)
            .caption(&title, font(24))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5f64..n as f64 + 0.5, (lo - pad)..(hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(metric)
            .x_labels(n.min(20))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| if percent { format!("{:.1}%", y * 100.0) } else { format!("{y:.3}") })
            .label_style(font(14))
            .axis_desc_style(font(16))
            .draw()
            .map_err(err)?;
        draw_lines(&mut chart, &lines, if legend_low { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight })
    })
}

/// Each line with a dot at each point, and their legend at `legend`.
pub(super) fn draw_lines<'a>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>,
    lines: &[Line],
    legend: SeriesLabelPosition,
) -> Result<(), String> {
    for (name, color, points) in lines {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(3)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(font(16))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The `training` and `validation` lines of one history.
fn train_and_test(history: &History, train: fn(&Epoch) -> f64, test: fn(&Epoch) -> f64) -> Vec<Line> {
    let points = |f: fn(&Epoch) -> f64| history.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
    vec![("training".into(), BLUE, points(train)), ("validation".into(), ORANGE, points(test))]
}

/// Accuracy per epoch on the training images and the validation images (Keras's
/// `history.history["accuracy"]` and `["val_accuracy"]`).
pub fn accuracy_chart(history: &History) -> Picture {
    epoch_chart(&train_and_test(history, |e| e.accuracy, |e| e.val_accuracy), "Accuracy per epoch", "accuracy", true, true)
}

/// Cross-entropy loss per epoch on the training images and the validation images.
pub fn loss_chart(history: &History) -> Picture {
    epoch_chart(&train_and_test(history, |e| e.loss, |e| e.val_loss), "Loss per epoch", "loss (cross-entropy)", false, false)
}

/// Validation accuracy per epoch of several models, one line each: which learns faster, which ends higher.
pub fn comparison_chart(runs: &[(&str, &History)]) -> Picture {
    let colors = [BLUE, GREEN_DARK, ORANGE, RED];
    let lines: Vec<Line> = runs
        .iter()
        .zip(colors.iter().cycle())
        .map(|((name, h), &c)| {
            let last = h.last().map_or(0.0, |e| e.val_accuracy);
            let label = format!("{name} ({:.2}% after epoch {})", last * 100.0, h.epochs.len());
            (label, c, h.epochs.iter().map(|e| (e.epoch as f64, e.val_accuracy)).collect())
        })
        .collect();
    epoch_chart(&lines, "Validation accuracy per epoch", "validation accuracy", true, true)
}

/// ReLU, `max(0, x)`: negative inputs become 0, positive ones pass unchanged.
pub fn relu_chart() -> Picture {
    canvas(600, 400, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("ReLU(x) = max(0, x)", font(22))
            .margin(20)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-3.0f64..3.0, -1.0f64..3.0)
            .map_err(err)?;
        chart.configure_mesh().x_desc("x").y_desc("ReLU(x)").label_style(font(14)).axis_desc_style(font(16)).draw().map_err(err)?;
        let xs = (0..=120).map(|i| -3.0 + i as f64 * 0.05);
        chart.draw_series(LineSeries::new(xs.map(|x| (x, x.max(0.0))), BLUE.stroke_width(3))).map_err(err)?;
        Ok(())
    })
}

/// Ten probabilities as bars, one per digit, the largest highlighted.
pub fn probability_bars(probabilities: &[f32], title: &str) -> Picture {
    canvas(600, 360, |root| draw_bars(root, probabilities, title, None))
}

fn draw_bars(area: &Area, probabilities: &[f32], title: &str, label: Option<u8>) -> Result<(), String> {
    let best = crate::model::argmax(probabilities);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d((0..probabilities.len() as u32 - 1).into_segmented(), 0.0f32..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(if label.is_some() { "digit" } else { "class" })
        .y_desc("probability")
        .label_style(font(13))
        .axis_desc_style(font(14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(probabilities.iter().enumerate().map(|(i, &p)| {
            let color = if i == best { ORANGE } else { BLUE };
            let x0 = SegmentValue::Exact(i as u32);
            let x1 = SegmentValue::Exact(i as u32 + 1);
            let mut bar = Rectangle::new([(x0, 0.0), (x1, p)], color.filled());
            bar.set_margin(0, 0, 4, 4);
            bar
        }))
        .map_err(err)?;
    Ok(())
}

/// Test digits, each beside the model's ten probabilities for it.
pub fn prediction_bars(split: &Split, probabilities: &[[f32; 10]], count: usize) -> Picture {
    let n = count.min(probabilities.len()).max(1);
    prediction_bars_for(split, probabilities, &(0..n).collect::<Vec<_>>())
}

/// The same for the images `indices` of `split` (for example the one the model is least sure of).
pub fn prediction_bars_for(split: &Split, probabilities: &[[f32; 10]], indices: &[usize]) -> Picture {
    let n = indices.len().max(1);
    let row_h = 240;
    canvas(820, (n as i32 * row_h) as u32, |root| {
        for (&i, area) in indices.iter().zip(root.split_evenly((n, 1)).iter()) {
            let (left, right) = area.split_horizontally(240);
            draw_digit(&left, (40, 50), split.image(i), 5)?;
            let p = &probabilities[i];
            let guess = crate::model::argmax(p);
            let title = format!("label {}: predicted {} with probability {:.3}", split.class_name(i), split.classes[guess], p[guess]);
            draw_bars(&right, p, &title, Some(split.labels[i]))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diverged run (loss not a number, or infinite) still gets its charts, with the finite
    /// points drawn: no hang, no panic.
    #[test]
    fn a_diverged_run_is_charted() {
        let epoch = |epoch, loss: f64, accuracy| Epoch { epoch, loss, accuracy, val_loss: loss, val_accuracy: accuracy, seconds: 1.0 };
        let diverged = History { epochs: vec![epoch(1, 2.3, 0.1), epoch(2, f64::NAN, 0.1), epoch(3, f64::INFINITY, f64::NAN)] };
        for picture in [loss_chart(&diverged), accuracy_chart(&diverged), comparison_chart(&[("diverged", &diverged)])] {
            assert_eq!((picture.width, picture.height), (800, 500));
            assert!(picture.rgb.iter().any(|&c| c < 100), "a blank chart");
        }
        let nothing = History { epochs: vec![epoch(1, f64::NAN, f64::NAN)] };
        assert_eq!(loss_chart(&nothing).width, 800);
    }
}
