"""RawAudioCNN as in ART's audio notebook (adversarial_audio_examples.ipynb), shared by the tools."""
import torch.nn as nn


def block(cin, cout, pad, pool, stride):
    return nn.Sequential(nn.Conv1d(cin, cout, 3, 1, pad), nn.BatchNorm1d(cout), nn.ReLU(),
                         nn.MaxPool1d(pool, stride=stride))


class RawAudioCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = block(1, 100, 2, 3, 2)
        self.conv2 = block(100, 64, 1, 2, 2)
        self.conv3 = block(64, 128, 1, 2, 2)
        self.conv4 = block(128, 128, 1, 2, 2)
        self.conv5 = block(128, 128, 1, 2, 2)
        self.conv6 = block(128, 128, 1, 2, 2)
        self.conv7 = block(128, 64, 1, 2, 2)
        self.conv8 = block(64, 32, 0, 2, 2)
        self.fc = nn.Linear(32 * 30, classes)

    def forward(self, x):
        for i in range(1, 9):
            x = getattr(self, f"conv{i}")(x)
        return self.fc(x.view(x.shape[0], 32 * 30))
