//! Perceptual measures of a perturbation: how a listener or viewer would judge the change, beside
//! the norms of [`crate::metrics`]. Audio: PESQ (speech quality), STOI (intelligibility), segmental
//! SNR; video: SSIM per frame and temporal flicker. One file per measure; [`batch`] measures a
//! whole batch of examples for the reports.

pub mod batch;
pub mod flicker;
pub mod masking_frame;
pub mod pesq;
pub mod seg_snr;
pub mod ssim;
pub mod stoi;

pub use batch::{Media, Perceptual, perceptual};
