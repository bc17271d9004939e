//! RawAudioCNN's shape, shared by the burn network, its host kernel and its host training step.

/// Channels in and out, conv padding, pool kernel and stride of each block.
pub const BLOCKS: [(usize, usize, usize, usize, usize); 8] = [
    (1, 100, 2, 3, 2),
    (100, 64, 1, 2, 2),
    (64, 128, 1, 2, 2),
    (128, 128, 1, 2, 2),
    (128, 128, 1, 2, 2),
    (128, 128, 1, 2, 2),
    (128, 64, 1, 2, 2),
    (64, 32, 0, 2, 2),
];

/// Samples per example the architecture is built for (1 s at 8 kHz).
pub const INPUT_LEN: usize = 8000;

/// Inputs of the linear layer: 32 channels of 30 samples after the last block.
pub const FC_IN: usize = 32 * 30;
