//! avfoil's errors as Python exceptions, with the command line's words.

use pyo3::PyErr;
use pyo3::exceptions::{PyFileNotFoundError, PyNotImplementedError, PyOSError, PyValueError};

/// The exception a Python caller expects for `e`: a missing file is `FileNotFoundError`, another
/// I/O failure `OSError`, a request this build cannot serve `NotImplementedError`, and a bad
/// parameter or a malformed file `ValueError`. The message is the library's, as the CLI prints it.
pub fn to_py(e: avfoil::Error) -> PyErr {
    let message = e.to_string();
    match e {
        avfoil::Error::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        avfoil::Error::Io { .. } => PyOSError::new_err(message),
        avfoil::Error::Unsupported(_) => PyNotImplementedError::new_err(message),
        avfoil::Error::InvalidArgument { .. }
        | avfoil::Error::Decode { .. }
        | avfoil::Error::Weights { .. } => PyValueError::new_err(message),
    }
}

/// A `ValueError` about `param`, worded as the library words its own.
pub fn invalid(param: &str, reason: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("invalid {param}: {reason}"))
}
