//! From a decoded video to a model's clip: which frames, what size, what range.
