"""Evasion attacks with ART's class and parameter names, each a thin configuration of an attack of
avfoil's registry: ``Attack(estimator, ...).generate(x, y=None, mask=None)``.

What every attack here adds to ART's signature: ``seed`` (every random choice comes from it, so the
same seed gives the same array, and the same array as ``avfoil attack --seed``) and, where the
registry attack has more parameters than ART's, ``avfoil_params`` (a dict of avfoil's own keys,
see ``avfoil.catalog()``). Where avfoil fixes an ART bug, the class docstring says so.
"""

from __future__ import annotations

import json
import math
from typing import Optional

import numpy as np

from ._arrays import as_float32, labels_of, same_dtype

INF = float("inf")


def _norm(norm) -> str:
    """ART's ``norm`` (``np.inf``, ``"inf"``, 1, 2, p) as avfoil's."""
    if norm in (np.inf, "inf", INF):
        return "inf"
    try:
        p = float(norm)
    except (TypeError, ValueError):
        raise ValueError(f"invalid norm: expected inf, 1, 2 or a real p >= 1, got {norm!r}")
    if p < 1:
        raise ValueError(f"invalid norm: expected inf, 1, 2 or a real p >= 1, got {norm!r}")
    return str(int(p)) if p.is_integer() else str(p)


def _step(value, name: str):
    """A step size as a parameter value: one number, or a list with one per example."""
    values = _budget(value, name)
    return values[0] if np.ndim(value) == 0 else values


def _budget(value, name: str) -> list:
    """A scalar or per-example budget as the list the core takes."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return [float(array)]
    if array.ndim == 1:
        return [float(v) for v in array]
    raise ValueError(f"invalid {name}: expected a number or one number per example")


class EvasionAttack:
    """What every attack shares: the estimator, the registry name and parameters, ``generate``."""

    #: The attack's name in avfoil's registry.
    registry_name: str = ""
    #: Whether ``y`` holds targets to reach.
    targeted: bool = False

    def __init__(self, estimator, batch_size: int = 32, seed: int = 0, eot: int = 1):
        from .estimators import Classifier

        if not isinstance(estimator, Classifier):
            raise ValueError(
                f"invalid estimator: expected an avfoil.Classifier, got {type(estimator).__name__}"
            )
        if int(batch_size) < 1:
            raise ValueError("invalid batch_size: has to be a positive integer")
        if int(eot) < 1:
            raise ValueError("invalid eot: at least 1 draw per gradient")
        self.estimator = estimator
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.eot = int(eot)
        #: The parameters the last ``generate`` ran with, as avfoil records them.
        self.last_params: Optional[dict] = None

    def _params(self) -> dict:
        """The registry parameters (avfoil's keys)."""
        raise NotImplementedError

    def _eps(self, n: int) -> list:
        return _budget(self.eps, "eps")

    def generate(self, x, y=None, mask=None, **kwargs) -> np.ndarray:
        """Adversarial examples for the batch ``x`` (``(N, *input_shape)``), which is not modified.

        ``y``: targets when the attack is targeted (required), otherwise the true labels
        (default: the model's predictions, which avoids label leaking); indices or one-hot.
        ``mask``: 0 where a feature must not change, non-zero where it may, of one example's shape
        or the batch's."""
        if kwargs:
            raise TypeError(f"generate() got unexpected keyword arguments: {', '.join(kwargs)}")
        x_in = x
        x = as_float32(x)
        if x.ndim < 1:
            raise ValueError("invalid x: expected a batch (N, ...) of examples")
        n = x.shape[0]
        labels = None if y is None else labels_of(y, n, self.estimator.nb_classes)
        if self.targeted and labels is None:
            raise ValueError("Target labels `y` need to be provided for a targeted attack.")
        mask_array = None if mask is None else as_float32(mask, "mask")
        params = {k: v for k, v in self._params().items() if v is not None}
        adversarial, info, fit = self.estimator._model.generate(
            self.registry_name,
            json.dumps(params),
            self._eps(n),
            self.targeted,
            self.seed,
            self.batch_size,
            x,
            labels,
            mask_array,
            self.eot,
        )
        self.last_params = json.loads(info)
        self._fitted(fit)
        return same_dtype(adversarial, x_in)

    def _fitted(self, fit) -> None:
        """What a fitting attack keeps of its fit (the universal perturbation)."""

    def _unbounded_eps(self) -> float:
        """A budget no perturbation inside the input range can exceed, for ART's minimal attacks,
        which have none: the range's width times sqrt(features) bounds every Lp norm (p >= 2) and
        L-inf; without a range, a very large number."""
        clip = self.estimator.clip_values
        if clip is None:
            return 1e30
        d = int(np.prod(self.estimator.input_shape))
        return float((clip[1] - clip[0]) * math.sqrt(d))


class FastGradientMethod(EvasionAttack):
    """ART's ``FastGradientMethod``: one step of size ``eps`` along the gradient's steepest
    direction for ``norm``; ``minimal=True`` searches the smallest successful multiple of
    ``eps_step``.

    Fixed from ART: with random restarts the best restart is chosen per example (ART chooses per
    batch) and a failed attack returns its adversarial attempt, never the clean input."""

    registry_name = "fgm"

    def __init__(
        self,
        estimator,
        norm=np.inf,
        eps=0.3,
        eps_step=0.1,
        targeted: bool = False,
        num_random_init: int = 0,
        batch_size: int = 32,
        minimal: bool = False,
        summary_writer=False,
        seed: int = 0,
        avfoil_params: Optional[dict] = None,
    ):
        super().__init__(estimator, batch_size, seed)
        self.norm, self.eps, self.eps_step = norm, eps, eps_step
        self.targeted = bool(targeted)
        self.num_random_init = int(num_random_init)
        self.minimal = bool(minimal)
        self.avfoil_params = dict(avfoil_params or {})

    def _params(self) -> dict:
        return {
            "norm": _norm(self.norm),
            "eps_step": _step(self.eps_step, "eps_step") if self.minimal else None,
            "random_init": self.num_random_init,
            "minimal": self.minimal,
            **self.avfoil_params,
        }


class ProjectedGradientDescent(EvasionAttack):
    """ART's ``ProjectedGradientDescent``: ``max_iter`` steps of ``eps_step`` projected onto the
    ``eps``-ball; ``decay`` adds momentum (MIM), ``random_eps`` draws each example's budget.

    ``eps_step`` defaults to ART's 0.1, which suits inputs in [0, 1]: for int16-scale audio give a
    step in int16 units (e.g. ``eps / 4``). avfoil's extra keys (``early_stop``, ``exact_l1``) go in
    ``avfoil_params``.

    Fixed from ART: restarts are chosen per example, a failed attack returns its attempt rather
    than the clean input, and the random start respects the mask exactly."""

    registry_name = "pgd"

    def __init__(
        self,
        estimator,
        norm=np.inf,
        eps=0.3,
        eps_step=0.1,
        decay=None,
        max_iter: int = 100,
        targeted: bool = False,
        num_random_init: int = 0,
        batch_size: int = 32,
        random_eps: bool = False,
        summary_writer=False,
        verbose: bool = True,
        seed: int = 0,
        eot: int = 1,
        avfoil_params: Optional[dict] = None,
    ):
        super().__init__(estimator, batch_size, seed, eot)
        self.norm, self.eps, self.eps_step = norm, eps, eps_step
        self.decay = decay
        self.max_iter = int(max_iter)
        self.targeted = bool(targeted)
        self.num_random_init = int(num_random_init)
        self.random_eps = bool(random_eps)
        self.verbose = verbose
        self.avfoil_params = dict(avfoil_params or {})

    def _params(self) -> dict:
        return {
            "norm": _norm(self.norm),
            "eps_step": _step(self.eps_step, "eps_step"),
            "max_iter": self.max_iter,
            "decay": None if self.decay is None else float(self.decay),
            "random_init": self.num_random_init,
            "random_eps": self.random_eps,
            **self.avfoil_params,
        }


class BasicIterativeMethod(ProjectedGradientDescent):
    """ART's ``BasicIterativeMethod``: L-inf PGD from the input (no random start)."""

    def __init__(
        self,
        estimator,
        eps=0.3,
        eps_step=0.1,
        max_iter: int = 100,
        targeted: bool = False,
        batch_size: int = 32,
        verbose: bool = True,
        seed: int = 0,
    ):
        super().__init__(
            estimator,
            norm=np.inf,
            eps=eps,
            eps_step=eps_step,
            max_iter=max_iter,
            targeted=targeted,
            batch_size=batch_size,
            seed=seed,
        )


class MomentumIterativeMethod(ProjectedGradientDescent):
    """ART's ``MomentumIterativeMethod``: PGD with the gradient accumulated with ``decay``."""

    def __init__(
        self,
        estimator,
        norm=np.inf,
        eps=0.3,
        eps_step=0.1,
        decay: float = 1.0,
        max_iter: int = 100,
        targeted: bool = False,
        batch_size: int = 32,
        verbose: bool = True,
        seed: int = 0,
    ):
        super().__init__(
            estimator,
            norm=norm,
            eps=eps,
            eps_step=eps_step,
            decay=decay,
            max_iter=max_iter,
            targeted=targeted,
            batch_size=batch_size,
            seed=seed,
        )


class AutoProjectedGradientDescent(EvasionAttack):
    """ART's ``AutoProjectedGradientDescent`` (Croce & Hein 2020): adaptive step size, momentum and
    checkpoints; ``loss_type`` ``"cross_entropy"`` (default) or ``"difference_logits_ratio"``;
    ``nb_random_init`` runs, each from a random start, the best kept per example. Norm 1 runs
    L1-APGD (Croce & Hein 2021)."""

    registry_name = "apgd"
    LOSSES = {None: "ce", "cross_entropy": "ce", "difference_logits_ratio": "dlr"}

    def __init__(
        self,
        estimator,
        norm=np.inf,
        eps=0.3,
        eps_step=0.1,
        max_iter: int = 100,
        targeted: bool = False,
        nb_random_init: int = 5,
        batch_size: int = 32,
        loss_type=None,
        verbose: bool = True,
        seed: int = 0,
        eot: int = 1,
        avfoil_params: Optional[dict] = None,
    ):
        super().__init__(estimator, batch_size, seed, eot)
        if loss_type not in self.LOSSES:
            raise ValueError(
                "The argument loss_type has to be either None, 'cross_entropy' or "
                f"'difference_logits_ratio', got {loss_type!r}."
            )
        self.norm, self.eps, self.eps_step = norm, eps, eps_step
        self.max_iter = int(max_iter)
        self.targeted = bool(targeted)
        self.nb_random_init = int(nb_random_init)
        self.loss_type = loss_type
        self.avfoil_params = dict(avfoil_params or {})

    def _params(self) -> dict:
        return {
            "norm": _norm(self.norm),
            "eps_step": _step(self.eps_step, "eps_step"),
            "max_iter": self.max_iter,
            "random_init": self.nb_random_init,
            "loss": self.LOSSES[self.loss_type],
            **self.avfoil_params,
        }


class AutoAttack(EvasionAttack):
    """An AutoAttack-style ensemble (Croce & Hein 2020): APGD-CE, APGD-T, FAB-T and Square by
    default, each on the examples every earlier one left correct, the worst case kept per example.

    ``attacks`` is a list of component names (``"apgd-ce"``, ``"apgd-dlr"``, ``"apgd-t"``,
    ``"fab"``, ``"fab-t"``, ``"square"``) rather than ART's attack objects. Unlike ART's, it runs on
    audio and video: ART's SquareAttack takes only 4-D image batches, so its AutoAttack refuses
    audio."""

    registry_name = "auto"

    def __init__(
        self,
        estimator,
        norm=np.inf,
        eps=0.3,
        eps_step=0.1,
        attacks=None,
        batch_size: int = 32,
        estimator_orig=None,
        targeted: bool = False,
        parallel_pool_size: int = 0,
        seed: int = 0,
        avfoil_params: Optional[dict] = None,
    ):
        super().__init__(estimator, batch_size, seed)
        if targeted:
            raise ValueError(
                "invalid targeted: the ensemble is untargeted (its APGD-T and FAB-T components "
                "target the most likely other classes themselves)"
            )
        if attacks is not None and not all(isinstance(a, str) for a in attacks):
            raise ValueError(
                "invalid attacks: give component names (apgd-ce, apgd-dlr, apgd-t, fab, fab-t, "
                "square), not attack objects"
            )
        self.norm, self.eps, self.eps_step = norm, eps, eps_step
        self.attacks = None if attacks is None else list(attacks)
        self.avfoil_params = dict(avfoil_params or {})

    def _params(self) -> dict:
        return {"norm": _norm(self.norm), "components": self.attacks, **self.avfoil_params}


class SquareAttack(EvasionAttack):
    """ART's ``SquareAttack`` (Andriushchenko et al. 2020), L-inf, L2 or L1 (AutoAttack's L1
    version, which ART lacks): random search on the scores only, so it runs through any defence.
    ``max_iter`` is the number of score queries per example. Unlike ART's, it takes audio and
    video, not only 4-D image batches."""

    registry_name = "square"

    def __init__(
        self,
        estimator,
        norm=np.inf,
        adv_criterion=None,
        loss=None,
        max_iter: int = 100,
        eps=0.3,
        p_init: float = 0.8,
        nb_restarts: int = 1,
        batch_size: int = 128,
        verbose: bool = True,
        seed: int = 0,
    ):
        super().__init__(estimator, batch_size, seed)
        if adv_criterion is not None or loss is not None:
            raise ValueError(
                "invalid adv_criterion/loss: avfoil's Square uses the margin loss and the "
                "classifier's prediction; custom callables are not supported"
            )
        if int(nb_restarts) != 1:
            raise ValueError(
                "invalid nb_restarts: avfoil's Square runs one search per example; "
                "raise max_iter instead"
            )
        self.norm, self.eps = norm, eps
        self.max_iter = int(max_iter)
        self.p_init = float(p_init)

    def _params(self) -> dict:
        return {"norm": _norm(self.norm), "max_queries": self.max_iter, "p_init": self.p_init}


class _Minimal(EvasionAttack):
    """An attack that finds the smallest perturbation it can; ART's versions have no budget, so
    none is set here unless ``eps`` is given."""

    eps = None

    def _eps(self, n: int) -> list:
        if self.eps is None:
            return [self._unbounded_eps()]
        return _budget(self.eps, "eps")


class DeepFool(_Minimal):
    """ART's ``DeepFool``: minimal L2 steps to the nearest linearised boundary among the
    ``nb_grads`` most likely classes, the total overshot by ``epsilon``."""

    registry_name = "deepfool"

    def __init__(
        self,
        classifier,
        max_iter: int = 100,
        epsilon: float = 1e-6,
        nb_grads: int = 10,
        batch_size: int = 1,
        verbose: bool = True,
        seed: int = 0,
        eps=None,
    ):
        super().__init__(classifier, batch_size, seed)
        self.max_iter, self.epsilon, self.nb_grads = int(max_iter), float(epsilon), int(nb_grads)
        self.eps = eps

    def _params(self) -> dict:
        return {"norm": 2, "max_iter": self.max_iter, "overshoot": self.epsilon, "nb_grads": self.nb_grads}


class CarliniL2Method(_Minimal):
    """ART's ``CarliniL2Method`` (Carlini & Wagner 2017): Adam in tanh space, binary search over
    the constant, margin ``confidence``. avfoil's optimiser is Adam without ART's step halving and
    doubling, so ``max_halving`` and ``max_doubling`` are refused unless left at ART's defaults."""

    registry_name = "cw"

    def __init__(
        self,
        classifier,
        confidence: float = 0.0,
        targeted: bool = False,
        learning_rate: float = 0.01,
        binary_search_steps: int = 10,
        max_iter: int = 10,
        initial_const: float = 0.01,
        max_halving: int = 5,
        max_doubling: int = 5,
        batch_size: int = 1,
        verbose: bool = True,
        seed: int = 0,
        eps=None,
    ):
        super().__init__(classifier, batch_size, seed)
        if max_halving != 5 or max_doubling != 5:
            raise ValueError(
                "invalid max_halving/max_doubling: avfoil's C&W uses Adam, which has no line search"
            )
        self.targeted = bool(targeted)
        self.confidence, self.learning_rate = float(confidence), float(learning_rate)
        self.binary_search_steps, self.max_iter = int(binary_search_steps), int(max_iter)
        self.initial_const = float(initial_const)
        self.eps = eps

    def _params(self) -> dict:
        return {
            "confidence": self.confidence,
            "learning_rate": self.learning_rate,
            "binary_search_steps": self.binary_search_steps,
            "max_iter": self.max_iter,
            "initial_const": self.initial_const,
        }


class CarliniLInfMethod(_Minimal):
    """ART's ``CarliniLInfMethod``: Adam in tanh space against a shrinking per-feature bound."""

    registry_name = "cw-linf"

    def __init__(
        self,
        classifier,
        confidence: float = 0.0,
        targeted: bool = False,
        learning_rate: float = 0.01,
        max_iter: int = 10,
        decrease_factor: float = 0.9,
        initial_const: float = 1e-5,
        largest_const: float = 20.0,
        const_factor: float = 2.0,
        batch_size: int = 1,
        verbose: bool = True,
        seed: int = 0,
        eps=None,
    ):
        super().__init__(classifier, batch_size, seed)
        self.targeted = bool(targeted)
        self.params = {
            "confidence": float(confidence),
            "learning_rate": float(learning_rate),
            "max_iter": int(max_iter),
            "decrease_factor": float(decrease_factor),
            "initial_const": float(initial_const),
            "largest_const": float(largest_const),
            "const_factor": float(const_factor),
        }
        self.eps = eps

    def _params(self) -> dict:
        return dict(self.params)


class HopSkipJump(_Minimal):
    """ART's ``HopSkipJump`` (Chen et al. 2020): minimal perturbations from predicted labels only."""

    registry_name = "hopskipjump"

    def __init__(
        self,
        classifier,
        batch_size: int = 64,
        targeted: bool = False,
        norm=2,
        max_iter: int = 50,
        max_eval: int = 10000,
        init_eval: int = 100,
        init_size: int = 100,
        verbose: bool = True,
        seed: int = 0,
        eps=None,
    ):
        super().__init__(classifier, batch_size, seed)
        self.targeted = bool(targeted)
        self.norm = norm
        self.params = {
            "max_iter": int(max_iter),
            "max_eval": int(max_eval),
            "init_eval": int(init_eval),
            "init_size": int(init_size),
        }
        self.eps = eps

    def _params(self) -> dict:
        return {"norm": _norm(self.norm), **self.params}


class FAB(_Minimal):
    """FAB (Croce & Hein 2020), minimal L1, L2 or L-inf perturbations (ART has none);
    ``target_classes`` = k runs FAB-T. Parameters are avfoil's (``avfoil.catalog()``)."""

    registry_name = "fab"

    def __init__(
        self,
        estimator,
        norm=np.inf,
        eps=None,
        max_iter: int = 100,
        n_restarts: int = 1,
        alpha_max: float = 0.1,
        eta: float = 1.05,
        beta: float = 0.9,
        target_classes: int = 0,
        batch_size: int = 32,
        seed: int = 0,
    ):
        super().__init__(estimator, batch_size, seed)
        self.norm, self.eps = norm, eps
        self.params = {
            "max_iter": int(max_iter),
            "n_restarts": int(n_restarts),
            "alpha_max": float(alpha_max),
            "eta": float(eta),
            "beta": float(beta),
            "target_classes": int(target_classes),
        }

    def _params(self) -> dict:
        return {"norm": _norm(self.norm), **self.params}


class FrameSaliencyAttack(EvasionAttack):
    """ART's ``FrameSaliencyAttack``: perturb only the most salient frames of a video, adding them
    until ``attacker`` (a :class:`FastGradientMethod` or :class:`ProjectedGradientDescent`)
    succeeds. ``frame_index`` is the frame axis of the batch, as ART's (``(N, C, F, H, W)``: 2).

    Fixed from ART: the saliency gradient is reused by the inner FGM instead of computed twice, and
    each example stops at its own frame count."""

    registry_name = "frame-saliency"
    METHODS = {
        "iterative_saliency": "iterative",
        "iterative_saliency_refresh": "iterative-refresh",
        "one_shot": "one-shot",
    }

    def __init__(
        self,
        classifier,
        attacker,
        method: str = "iterative_saliency",
        frame_index: int = 1,
        batch_size: int = 1,
        verbose: bool = True,
        seed: Optional[int] = None,
    ):
        if not isinstance(attacker, (FastGradientMethod, ProjectedGradientDescent)):
            raise ValueError(
                "invalid attacker: a FastGradientMethod or ProjectedGradientDescent is expected"
            )
        if method not in self.METHODS:
            raise ValueError(
                f"invalid method: expected one of {', '.join(self.METHODS)}, got {method!r}"
            )
        if int(frame_index) < 1:
            raise ValueError("invalid frame_index: the frame axis of the batch, 1 or more")
        super().__init__(classifier, batch_size, attacker.seed if seed is None else seed)
        self.attacker = attacker
        self.method = method
        self.frame_index = int(frame_index)
        self.targeted = attacker.targeted
        self.eps = attacker.eps

    def _params(self) -> dict:
        return {
            "inner": self.attacker.registry_name,
            "method": self.METHODS[self.method],
            "frame_axis": self.frame_index - 1,
            **{k: v for k, v in self.attacker._params().items() if v is not None},
        }


class UniversalPerturbation(EvasionAttack):
    """ART's ``UniversalPerturbation`` (Moosavi-Dezfooli et al. 2017): one perturbation for the
    whole batch, built from an inner ``attacker`` on each example not yet fooled. After
    ``generate``, ``noise`` holds the perturbation (one example's shape, as ART's ``(1, ...)``),
    ``fooling_rate`` and ``converged`` what ART reports.

    ``attacker`` takes ART's names (``"deepfool"``, ``"fgsm"``, ``"pgd"``, ``"bim"``, ``"carlini"``,
    ``"carlini_inf"``) or any avfoil attack name; ``attacker_params`` are avfoil's keys for it."""

    registry_name = "universal"
    ATTACKERS = {
        "deepfool": "deepfool",
        "fgsm": "fgm",
        "pgd": "pgd",
        "bim": "pgd",
        "carlini": "cw",
        "carlini_inf": "cw-linf",
    }

    def __init__(
        self,
        classifier,
        attacker: str = "deepfool",
        attacker_params: Optional[dict] = None,
        delta: float = 0.2,
        max_iter: int = 20,
        eps: float = 10.0,
        norm=np.inf,
        batch_size: int = 32,
        verbose: bool = True,
        seed: int = 0,
        avfoil_params: Optional[dict] = None,
    ):
        super().__init__(classifier, batch_size, seed)
        self.attacker = self.ATTACKERS.get(attacker, attacker)
        self.attacker_params = dict(attacker_params or {})
        self.delta, self.max_iter, self.eps, self.norm = float(delta), int(max_iter), eps, norm
        self.avfoil_params = dict(avfoil_params or {})
        self.noise = None
        self.fooling_rate = None
        self.converged = None

    def _params(self) -> dict:
        return {
            "attacker": self.attacker,
            "attacker_params": self.attacker_params,
            "delta": self.delta,
            "max_iter": self.max_iter,
            "norm": _norm(self.norm),
            **self.avfoil_params,
        }

    def _fitted(self, fit) -> None:
        if fit is None:
            return
        perturbation, info = fit
        info = json.loads(info)
        self.noise = perturbation[None]
        self.fooling_rate = info.get("fooling_rate")
        self.converged = info.get("converged")
        self.fit = info


class PsychoacousticMasker:
    """ART's ``PsychoacousticMasker``: how the masking threshold is computed (STFT window and hop
    in samples, the sample rate). ``None`` takes avfoil's defaults: the model's sample rate, the
    power-of-two window nearest 64 ms and a hop of a quarter window."""

    def __init__(self, window_size=None, hop_size=None, sample_rate=None):
        self.window_size = window_size
        self.hop_size = hop_size
        self.sample_rate = sample_rate


class ImperceptibleASR(EvasionAttack):
    """Qin et al. (2019)'s imperceptible attack, as ART's ``ImperceptibleASR`` with its parameters,
    for any audio classifier: stage 1, signed steps under an L-inf bound that shrinks whenever the
    example is adversarial; stage 2, Adam on the loss plus ``alpha`` times the perturbation's excess
    over the clean clip's psychoacoustic masking threshold, ``alpha`` adapting per example.

    ART's takes speech recognisers and transcripts; this one takes classifiers and labels
    (``targeted=True`` for targets). Fixed from ART: the masker's 0.5-Bark filter compares
    frequencies (ART compares list positions); stage 2 stays within eps and the input range and
    never makes an example worse (see docs/psychoacoustic.md)."""

    registry_name = "psychoacoustic"

    def __init__(
        self,
        estimator,
        masker: Optional[PsychoacousticMasker] = None,
        eps: float = 2000.0,
        learning_rate_1: float = 100.0,
        max_iter_1: int = 1000,
        alpha: float = 0.05,
        learning_rate_2: float = 1.0,
        max_iter_2: int = 4000,
        loss_theta_min: float = 0.05,
        decrease_factor_eps: float = 0.8,
        num_iter_decrease_eps: int = 10,
        increase_factor_alpha: float = 1.2,
        num_iter_increase_alpha: int = 20,
        decrease_factor_alpha: float = 0.8,
        num_iter_decrease_alpha: int = 50,
        batch_size: int = 1,
        targeted: bool = False,
        seed: int = 0,
    ):
        super().__init__(estimator, batch_size, seed)
        self.masker = masker or PsychoacousticMasker()
        self.eps = eps
        self.targeted = bool(targeted)
        self.params = {
            "learning_rate_1": float(learning_rate_1),
            "max_iter_1": int(max_iter_1),
            "alpha": float(alpha),
            "learning_rate_2": float(learning_rate_2),
            "max_iter_2": int(max_iter_2),
            "loss_theta_min": float(loss_theta_min),
            "decrease_factor_eps": float(decrease_factor_eps),
            "num_iter_decrease_eps": int(num_iter_decrease_eps),
            "increase_factor_alpha": float(increase_factor_alpha),
            "num_iter_increase_alpha": int(num_iter_increase_alpha),
            "decrease_factor_alpha": float(decrease_factor_alpha),
            "num_iter_decrease_alpha": int(num_iter_decrease_alpha),
        }

    def _params(self) -> dict:
        m = self.masker
        return {
            **self.params,
            "window": None if m.window_size is None else int(m.window_size),
            "hop": None if m.hop_size is None else int(m.hop_size),
            "sample_rate": None if m.sample_rate is None else int(m.sample_rate),
        }


class OverTheAirFlickering(EvasionAttack):
    """Pony et al. (2021)'s flickering attack, as ART's ``OverTheAirFlickeringPyTorch`` with its
    parameters, for any video classifier: one RGB offset per frame, flat over the frame, optimised
    on the margin loss plus thickness and temporal-roughness regularisers.

    ART's has no budget; ``eps`` (optional here) bounds every offset, e.g. ``4 / 255``. Fixed from
    ART: a pixel clipped once keeps its frame's offset afterwards, and each clip returns the least
    visible iterate that fooled the model (docs/video-attacks.md)."""

    registry_name = "flicker"

    def __init__(
        self,
        classifier,
        eps_step: float = 0.01,
        max_iter: int = 30,
        beta_0: float = 1.0,
        beta_1: float = 0.5,
        beta_2: float = 0.5,
        loss_margin: float = 0.05,
        batch_size: int = 1,
        start_frame_index: int = 0,
        num_frames=None,
        round_samples: float = 0.0,
        targeted: bool = False,
        verbose: bool = True,
        eps=None,
        seed: int = 0,
    ):
        super().__init__(classifier, batch_size, seed)
        self.eps = eps
        self.targeted = bool(targeted)
        self.params = {
            "eps_step": float(eps_step),
            "max_iter": int(max_iter),
            "beta_0": float(beta_0),
            "beta_1": float(beta_1),
            "beta_2": float(beta_2),
            "loss_margin": float(loss_margin),
            "start_frame_index": int(start_frame_index),
            "num_frames": None if num_frames is None else int(num_frames),
            "round_samples": float(round_samples),
        }

    def _eps(self, n: int) -> list:
        if self.eps is None:
            clip = self.estimator.clip_values
            return [float(clip[1] - clip[0]) if clip is not None else 1e30]
        return _budget(self.eps, "eps")

    def _params(self) -> dict:
        return dict(self.params)


#: ART's name for the flickering attack.
OverTheAirFlickeringPyTorch = OverTheAirFlickering


class VideoPatch(EvasionAttack):
    """An adversarial patch for video (avfoil's; ART's ``AdversarialPatch`` is for images): one
    square per clip pasted at the same place on every frame, replacing the pixels under it, its
    pixels optimised with expectation over random positions and scales. ``eps`` bounds each patch
    pixel's distance from mid-grey (0.5 allows any colour)."""

    registry_name = "patch"

    def __init__(
        self,
        estimator,
        eps: float = 0.5,
        size: float = 0.25,
        max_iter: int = 100,
        step: float = 0.01,
        scale_min: float = 0.8,
        scale_max: float = 1.2,
        targeted: bool = False,
        batch_size: int = 1,
        seed: int = 0,
    ):
        super().__init__(estimator, batch_size, seed)
        self.eps = eps
        self.targeted = bool(targeted)
        self.params = {
            "size": float(size),
            "max_iter": int(max_iter),
            "step": float(step),
            "scale_min": float(scale_min),
            "scale_max": float(scale_max),
        }

    def _params(self) -> dict:
        return dict(self.params)


class SparseFramesAttack(ProjectedGradientDescent):
    """PGD on a budget of ``k`` frames per clip, those whose loss gradient is largest at the clean
    clip (avfoil's; a temporally sparse alternative to :class:`FrameSaliencyAttack`).
    ``frame_index`` is the frame axis of the batch, as ART's (``(N, C, F, H, W)``: 2)."""

    registry_name = "sparse-frames"

    def __init__(self, estimator, k: int = 4, frame_index: int = 2, **pgd):
        super().__init__(estimator, **pgd)
        if int(frame_index) < 1:
            raise ValueError("invalid frame_index: the frame axis of the batch, 1 or more")
        self.k = int(k)
        self.frame_index = int(frame_index)

    def _params(self) -> dict:
        return {**super()._params(), "k": self.k, "frame_axis": self.frame_index - 1}
