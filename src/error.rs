//! One error type for the whole library.
//!
//! Every variant carries enough context (a parameter, a path, a tensor key) for the binary to print a
//! one-line message that tells the user what to fix.

use std::path::PathBuf;

/// Everything that can go wrong in avfoil.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter has a value outside what the operation accepts.
    #[error("invalid {param}: {reason}")]
    InvalidArgument { param: String, reason: String },

    /// A valid request that this build or this component cannot serve.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// Reading or writing a file failed.
    ///
    /// The OS error is part of the message, not a `source`: error chains printed with `{:#}` would
    /// otherwise say it twice ("x.wav: No such file or directory: No such file or directory").
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A file was read but its content is not what was expected.
    #[error("{}: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },

    /// The weights do not fit the architecture.
    #[error("weights {}: {reason}", path.display())]
    Weights { path: PathBuf, reason: String },
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidArgument`] for `param`.
    pub fn invalid(param: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            param: param.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }

    /// An [`Error::Decode`] for `path`.
    pub fn decode(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Decode {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Runs a decoder, turning a panic inside it (a crate's bug on malformed data) into an
/// [`Error::Decode`] for `path`.
pub(crate) fn no_panic<T>(path: &std::path::Path, what: &str, f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Error::decode(
            path,
            format!("the {what} failed on this file (it panicked: {msg}); is it corrupt?"),
        )
    })
}
