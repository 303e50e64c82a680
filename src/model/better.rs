//! A better model than the lesson's: two more convolutions, dropout, and (in training)
//! moved images and a decaying learning rate ([`crate::train::FitConfig::better`]). It is the
//! usual next step after the lesson, and it makes about two fifths as many mistakes.
use crate::layers::{Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU};
use super::Sequential;

/// Three convolutions and a dense head. The first finds strokes (edges, ends); the second
/// combines them into parts of digits (loops, crossings, corners) over a wider window (after the
/// first pooling, each of its 3x3 windows sees 8x8 pixels of the image); the third sees almost
/// the whole digit. Dropout keeps the dense layer from leaning on a few of its inputs.
///
/// Keras: `Sequential([Conv2D(32, 3, activation="relu"), MaxPooling2D(2), Conv2D(64, 3,
/// activation="relu"), MaxPooling2D(2), Conv2D(128, 3, activation="relu"), Flatten(),
/// Dense(128, activation="relu"), Dropout(0.5), Dense(10, activation="softmax")])`.
pub type Better = (
    ((Conv2D<1, 32, 3>, ReLU), MaxPool2D<2>),  // [batch, 32, 13, 13]: conv to 26x26, pool
    ((Conv2D<32, 64, 3>, ReLU), MaxPool2D<2>), // [batch, 64, 5, 5]:   conv to 11x11, pool (the odd row is dropped)
    (Conv2D<64, 128, 3>, ReLU),                // [batch, 128, 3, 3]
    Flatten,                                   // [batch, 1152]
    (
        (Dense<1152, 128>, ReLU), // [batch, 128]
        Dropout<50>,              // [batch, 128]: in training, a random half are set to 0
        Dense<128, 10>,           // [batch, 10]
    ),
);

/// The better network with its weights.
pub type BetterModel = Sequential<Better>;
