//! Moved images for training: the same digit rotated, scaled and shifted a little, so that the
//! network learns the digit and not where it sits.
use rand::Rng;

use super::{PIXELS, SIDE};

/// A 28x28 image (0..1) moved at random as training moves it: rotated by up to 10 degrees
/// either way, scaled by 90-110%, shifted by up to 2 pixels across and down.
pub fn augment(image: &[f32], rng: &mut impl Rng) -> Vec<f32> {
    let angle = rng.gen_range(-10.0f32..=10.0).to_radians();
    let scale = rng.gen_range(0.9f32..=1.1);
    let (dx, dy) = (rng.gen_range(-2.0f32..=2.0), rng.gen_range(-2.0f32..=2.0));
    transform(image, angle, scale, dx, dy)
}

/// A 28x28 image rotated by `angle` (radians, counter-clockwise) and scaled by `scale` about its
/// centre, then moved `dx` pixels right and `dy` down; each output pixel is read from the input
/// by bilinear interpolation, and from outside the image as background (0).
pub fn transform(image: &[f32], angle: f32, scale: f32, dx: f32, dy: f32) -> Vec<f32> {
    let centre = (SIDE as f32 - 1.0) / 2.0;
    let (sin, cos) = angle.sin_cos();
    let at = |x: isize, y: isize| {
        if (0..SIDE as isize).contains(&x) && (0..SIDE as isize).contains(&y) {
            image[y as usize * SIDE + x as usize]
        } else {
            0.0
        }
    };
    let mut out = vec![0.0; PIXELS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            // Where this output pixel comes from: the inverse of shift(rotate(scale(.))).
            let (u, v) = (x as f32 - centre - dx, y as f32 - centre - dy);
            let sx = (cos * u + sin * v) / scale + centre;
            let sy = (-sin * u + cos * v) / scale + centre;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            out[y * SIDE + x] = (1.0 - fy) * ((1.0 - fx) * at(x0, y0) + fx * at(x0 + 1, y0))
                + fy * ((1.0 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
        }
    }
    out
}
