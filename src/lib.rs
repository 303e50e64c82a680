//! # mnist-cnn
//!
//! Handwritten digit recognition on MNIST with a convolutional network whose tensor shapes are
//! checked by the Rust compiler: the classic Keras lesson (Conv2D -> MaxPooling2D -> Flatten ->
//! Dense -> Dense, Adam, cross-entropy, 10 epochs, about 98.5% test accuracy), on stable Rust with
//! [dfdx](https://docs.rs/dfdx).
//!
//! The flow: [`data`] loads the bundled digits -> [`model`] is the network built from [`layers`]
//! -> [`train`] fits it and keeps a [`history::History`] -> [`plots`] draws the pictures, which
//! [`report`] writes to `reports/`.
//!
//! ```
//! use mnist_cnn::{data, model, train};
//!
//! let mnist = data::load(&data::default_dir())?;            // the bundled digits, checked
//! let net = model::build(&model::device(0));                // random weights from seed 0
//! assert_eq!(model::summary(&net).total_params(), 693_962); // as Keras counts them
//! let before = train::evaluate(&net, &mnist.test.take(500));
//! assert!(before.accuracy < 0.3);                           // untrained: about chance
//! # Ok::<(), mnist_cnn::Error>(())
//! ```
pub mod analysis;
pub mod better;
pub mod data;
pub mod error;
pub mod export;
pub mod exercises;
mod fsutil;
pub mod history;
pub mod layers;
pub mod model;
pub mod notebook;
pub mod optim;
pub mod plots;
pub mod predict;
pub mod report;
pub mod serve;
pub mod train;

/// The tensor library, re-exported so that notebooks need one `:dep` only.
pub use dfdx;
pub use error::{Error, Result};
pub use fsutil::{write_atomic, write_atomic_with};
