//! # mnist-cnn
//!
//! Handwritten digit recognition on MNIST with a convolutional network whose tensor shapes are
//! checked by the Rust compiler: the classic Keras lesson (Conv2D -> MaxPooling2D -> Flatten ->
//! Dense -> Dense, Adam, cross-entropy, 10 epochs), on stable Rust with [dfdx](https://docs.rs/dfdx).
//!
//! The stages, each a module, each using only those before it:
//! [`data`] loads the bundled digits -> [`layers`] are the building blocks -> [`model`] stacks
//! them into networks -> [`train`] fits one and keeps its [`History`](train::History) ->
//! [`export`] writes it for other runtimes, [`app`] reads digits with it (files, a web page),
//! [`explain`] looks at what it does with a digit (saliency, adversarial nudges),
//! [`report`] draws the pictures -> [`teach`] is the notebooks' glue and exercises.
//! [`cpu`] (threads, instruction sets), [`error`] and [`encode`] (PNG, base64) serve them all.
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
pub mod app;
pub mod cpu;
pub mod data;
pub mod encode;
pub mod error;
pub mod explain;
pub mod export;
mod fsutil;
pub mod layers;
pub mod model;
pub mod report;
pub mod teach;
pub mod train;

// The short paths the notebooks use: `mnist_cnn::{plots, predict, history::History, ...}`.
pub use app::{number, photo, predict, serve};
pub use model::better;
pub use report::{analysis, plots};
pub use teach::{exercises, notebook};
pub use train::history;

/// The tensor library, re-exported so that notebooks need one `:dep` only.
pub use dfdx;
pub use error::{Error, Result};
pub use fsutil::{write_atomic, write_atomic_with};
