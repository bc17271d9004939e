"""avfoil: attack and defend audio and video classifiers, from Python.

numpy arrays in, numpy arrays out, with the class and parameter names of IBM's Adversarial
Robustness Toolbox (ART), so that a notebook switches by changing its imports::

    import avfoil
    from avfoil.attacks import ProjectedGradientDescent

    classifier = avfoil.Classifier.shipped("spoken-digits")
    x_adv = ProjectedGradientDescent(classifier, eps=64.0, eps_step=16.0, max_iter=40).generate(x)

The work is done by avfoil's Rust core (the same code as the ``avfoil`` command line, so the same
seed gives the same arrays); Python only maps names and arrays.
"""

from ._native import __version__
from . import attacks, defences, io
from .estimators import Classifier
from .evaluation import catalog, evaluate

__all__ = ["Classifier", "attacks", "defences", "io", "evaluate", "catalog", "__version__"]
