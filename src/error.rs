//! One error type for everything a user can get wrong, each message naming the thing that was
//! wrong and how to fix it.
use std::{fmt, io, path::PathBuf};

/// `Debug` prints the same message as `Display`, so that `.unwrap()` in a notebook cell (and
/// `main` returning `Result`) shows the readable message.
pub enum Error {
    /// A data file or folder is not there.
    MissingData { path: PathBuf, fix: String },
    /// A data file is there but its content is not what it should be.
    CorruptData { path: PathBuf, problem: String, fix: String },
    /// A model, optimiser or checkpoint file cannot be used.
    BadModel { path: PathBuf, problem: String, fix: String },
    /// An image to predict from cannot be used: `what` names it (a file, "the drawing").
    BadImage { what: String, problem: String, fix: String },
    /// An image is readable but holds no digit (it is blank or all one shade).
    NoDigit { what: String },
    /// No digit was found in a photo of paper.
    NoDigitInPhoto { what: String },
    /// A history CSV cannot be read.
    BadHistory { path: PathBuf, problem: String },
    /// Reading or writing a file failed.
    Io { path: PathBuf, action: &'static str, source: io::Error },
    /// A command-line flag or argument is wrong (the command line exits with code 2).
    Usage(String),
    /// Settings that cannot work, from any caller (a batch size of 0, no images to train on).
    BadSettings(String),
    /// The page cannot be served: the address cannot be listened on (a port in use, say), or
    /// serving stopped.
    CannotServe { addr: String, problem: String, fix: String },
    /// The tensor library reported a failure (out of memory, for example).
    Device(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, action, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingData { path, fix } => write!(f, "{} does not exist. {fix}", path.display()),
            Error::CorruptData { path, problem, fix } => write!(f, "{}: {problem}. {fix}", path.display()),
            Error::BadModel { path, problem, fix } => write!(f, "{}: {problem}. {fix}", path.display()),
            Error::BadImage { what, problem, fix } => write!(f, "{what}: {problem}. {fix}"),
            Error::NoDigit { what } => write!(
                f,
                "{what}: there is no digit in this image (it is blank, or all one shade). Give an image with one handwritten digit on a plain background."
            ),
            Error::NoDigitInPhoto { what } => write!(
                f,
                "{what}: no digit was found in this photo. Write the digit darker (a pen rather than a light pencil), keep it clear of the photo's edges, and let the paper fill most of the picture."
            ),
            Error::BadHistory { path, problem } => write!(
                f,
                "{}: {problem}. Regenerate it with `mnist-cnn train`.",
                path.display()
            ),
            Error::Io { path, action, source } => write!(f, "could not {action} {}: {source}", path.display()),
            Error::Usage(msg) | Error::BadSettings(msg) => write!(f, "{msg}"),
            Error::CannotServe { addr, problem, fix } => write!(f, "cannot serve on {addr}: {problem}. {fix}"),
            Error::Device(msg) => write!(f, "tensor operation failed: {msg}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<dfdx::tensor::CpuError> for Error {
    fn from(e: dfdx::tensor::CpuError) -> Self {
        Error::Device(e.to_string())
    }
}
