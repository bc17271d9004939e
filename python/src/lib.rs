//! `avfoil._native`: the compiled half of the `avfoil` Python package.
//!
//! It is deliberately thin: arrays in and out as float32, attacks and defences by their registry
//! names with their parameters as JSON, every error as the library words it. The ART-shaped classes
//! (`avfoil.attacks.ProjectedGradientDescent`, `avfoil.defences.Mp3Compression`, ...) are Python in
//! `python/avfoil/`, where ART's parameter names are mapped onto avfoil's; nothing here knows them.
//!
//! The GIL is released while a model computes, and Ctrl-C is honoured between the model's passes
//! ([`interrupt`]).

mod arrays;
mod errors;
mod interrupt;
mod io;
mod model;
mod tools;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::PyModel>()?;
    m.add_function(wrap_pyfunction!(tools::apply_defence, m)?)?;
    m.add_function(wrap_pyfunction!(tools::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(tools::catalog, m)?)?;
    m.add_function(wrap_pyfunction!(io::read_wav, m)?)?;
    m.add_function(wrap_pyfunction!(io::write_wav, m)?)?;
    m.add_function(wrap_pyfunction!(io::read_video, m)?)?;
    m.add_function(wrap_pyfunction!(io::write_gif, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
