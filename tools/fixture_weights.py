"""Random weights for parity fixtures, shared by the make_*_fixtures.py scripts."""
import numpy as np
import torch
import torch.nn as nn


def randomise(model, calibration, fc_weight=False, fc_bias=True):
    """Random batch-norm weights and statistics that are neither identity nor the calibration batch's
    own, so every running_mean/running_var/weight/bias matters; a fresh uniform fc weight if
    `fc_weight`, a random fc bias if `fc_bias`. Returns the model in evaluation mode."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = None
                m.reset_running_stats()
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
        # Statistics from real activations keep every layer's output at a sane scale.
        model.train()
        model(calibration)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.add_(torch.randn_like(m.running_mean) * 0.1 * m.running_var.sqrt())
                m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
        if fc_weight:
            bound = 1.0 / np.sqrt(model.fc.in_features)
            model.fc.weight.uniform_(-bound, bound)
        if fc_bias:
            model.fc.bias.normal_(0.0, 0.5)
    return model.eval()
