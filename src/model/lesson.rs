//! The lesson's network: Conv2D -> MaxPooling2D -> Flatten -> Dense -> Dense, as Keras lists it.
use super::Sequential;
use crate::layers::{Conv2D, Dense, Flatten, MaxPool2D, ReLU};

/// The lesson's network, layer by layer as Keras lists it; the comments give each output shape.
///
/// Keras: `Sequential([Conv2D(32, (3,3), activation="relu", input_shape=(28,28,1)),
/// MaxPooling2D((2,2)), Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")])`.
/// A Keras layer with `activation="relu"` is a pair `(layer, ReLU)` here. The last layer gives
/// logits (scores): [`probabilities`](super::probabilities) applies the softmax, and training applies it inside the
/// cross-entropy, which is the numerically safe way.
pub type Lesson = (
    (Conv2D<1, 32, 3>, ReLU), // [batch, 32, 26, 26]: 32 filters of 3x3 slide over the 28x28 image
    MaxPool2D<2>,             // [batch, 32, 13, 13]: the highest value of each 2x2 block
    Flatten,                  // [batch, 5408]:       32 * 13 * 13 values in one row
    (Dense<5408, 128>, ReLU), // [batch, 128]:        the dense (fully connected) layer
    Dense<128, 10>,           // [batch, 10]:         one score per digit
);

/// The lesson's network with its weights: what [`build`](super::build) makes.
pub type Model = Sequential<Lesson>;
