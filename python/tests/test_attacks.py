"""The ART-shaped attacks: the CLI's arrays for the same seed, ART's invariants, errors."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import avfoil
from avfoil.attacks import (
    AutoProjectedGradientDescent,
    DeepFool,
    FastGradientMethod,
    FrameSaliencyAttack,
    ImperceptibleASR,
    OverTheAirFlickering,
    SparseFramesAttack,
    VideoPatch,
    PsychoacousticMasker,
    ProjectedGradientDescent,
    SquareAttack,
    UniversalPerturbation,
)
from avfoil.defences import GaussianNoise, Mp3Compression


def run_cli(cli, tmp_path, x, *args):
    """`avfoil attack` on the batch x (saved as .npy); returns the adversarial batch."""
    src = tmp_path / "x.npy"
    out = tmp_path / "adv.npy"
    np.save(src, x)
    subprocess.run(
        [cli, "attack", "--model", "spoken-digits", "--out", str(out), *args, str(src)],
        check=True,
        capture_output=True,
    )
    return np.load(out)


def test_pgd_gives_the_cli_array_for_the_same_seed(audio_classifier, digits, cli, tmp_path):
    x = digits[:2]
    attack = ProjectedGradientDescent(
        audio_classifier, eps=48.0, eps_step=8.0, max_iter=10, num_random_init=1, seed=7
    )
    ours = attack.generate(x)
    theirs = run_cli(
        cli, tmp_path, x, "--attack", "pgd", "--eps", "48", "--eps-step", "8", "--max-iter",
        "10", "--random-init", "1", "--seed", "7",
    )
    np.testing.assert_array_equal(ours, theirs)
    assert attack.last_params["seed"] == 7 and attack.last_params["name"] == "pgd"


def test_the_adaptive_attack_through_a_randomised_defence_matches_the_cli(
    audio_classifier, digits, cli, tmp_path
):
    defended = audio_classifier.with_defences([GaussianNoise(sigma=200.0)], seed=3)
    x = digits[1:3]
    ours = ProjectedGradientDescent(
        defended, eps=32.0, eps_step=8.0, max_iter=5, seed=3, eot=2
    ).generate(x)
    theirs = run_cli(
        cli, tmp_path, x, "--attack", "pgd", "--eps", "32", "--eps-step", "8", "--max-iter", "5",
        "--seed", "3", "--eot", "2", "--defence", "gaussian-noise",
        "--defence-param", "gaussian-noise.sigma=200",
    )
    np.testing.assert_array_equal(ours, theirs)


def test_fgm_stays_in_the_ball_and_the_range_and_leaves_x_alone(audio_classifier, digits):
    x = digits.copy()
    adv = FastGradientMethod(audio_classifier, eps=64.0).generate(x)
    np.testing.assert_array_equal(x, digits)
    assert adv.shape == x.shape and adv.dtype == np.float32
    assert np.abs(adv - x).max() <= 64.0 + 1e-3
    assert adv.min() >= -32768 and adv.max() <= 32767
    # float64 in, float64 out, as ART returns the input's dtype.
    assert FastGradientMethod(audio_classifier, eps=64.0).generate(x.astype(np.float64)).dtype == np.float64


def test_same_seed_same_output_other_seed_other_output(audio_classifier, digits):
    def run(seed):
        return ProjectedGradientDescent(
            audio_classifier, eps=32.0, eps_step=8.0, max_iter=3, num_random_init=1, seed=seed
        ).generate(digits[:1])

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_targeted_pgd_reaches_its_targets_and_needs_them(audio_classifier, digits):
    attack = ProjectedGradientDescent(
        audio_classifier, eps=1024.0, eps_step=64.0, max_iter=40, targeted=True
    )
    with pytest.raises(ValueError, match="Target labels"):
        attack.generate(digits[:1])
    targets = np.array([7, 0])
    adv = attack.generate(digits[:2], y=targets)
    assert list(np.argmax(audio_classifier.predict(adv), axis=1)) == [7, 0]


def test_the_mask_is_respected(audio_classifier, digits):
    mask = np.zeros((1, 8000), dtype=np.float32)
    mask[0, 2000:6000] = 1
    adv = ProjectedGradientDescent(
        audio_classifier, eps=64.0, eps_step=16.0, max_iter=5, num_random_init=1
    ).generate(digits[:2], mask=mask)
    changed = np.abs(adv - digits[:2]) > 0
    assert changed[:, :, 2000:6000].any()
    assert not changed[:, :, :2000].any() and not changed[:, :, 6000:].any()
    with pytest.raises(ValueError, match="mask"):
        FastGradientMethod(audio_classifier, eps=1.0).generate(digits[:2], mask=mask[:, :10])


def test_stronger_attacks_run_with_art_names(audio_classifier, digits):
    x = digits[:2]
    apgd = AutoProjectedGradientDescent(
        audio_classifier, eps=64.0, eps_step=128.0, max_iter=10, nb_random_init=1
    ).generate(x)
    assert np.abs(apgd - x).max() <= 64.0 + 1e-3
    square = SquareAttack(audio_classifier, eps=64.0, max_iter=20, seed=1).generate(x)
    assert np.abs(square - x).max() <= 64.0 + 1e-3
    fooled = DeepFool(audio_classifier, max_iter=50).generate(x)
    assert (np.argmax(audio_classifier.predict(fooled), axis=1) != [1, 3]).all()
    with pytest.raises(ValueError, match="loss_type"):
        AutoProjectedGradientDescent(audio_classifier, loss_type="hinge")


def test_universal_perturbation_sets_arts_attributes(audio_classifier, digits):
    attack = UniversalPerturbation(
        audio_classifier, attacker="fgsm", eps=256.0, max_iter=2, delta=0.5
    )
    adv = attack.generate(digits)
    assert attack.noise.shape == (1, 1, 8000)
    assert 0.0 <= attack.fooling_rate <= 1.0 and isinstance(attack.converged, bool)
    np.testing.assert_allclose(adv - digits, np.broadcast_to(attack.noise, digits.shape), atol=1e-2)


def test_frame_saliency_perturbs_few_frames(video_classifier, repo):
    x = video_classifier.load_input(os.path.join(repo, "examples", "v_Basketball_g02_c01.mp4"))[None]
    fgsm = FastGradientMethod(video_classifier, eps=8 / 255)
    adv = FrameSaliencyAttack(video_classifier, fgsm, "iterative_saliency", frame_index=2).generate(x)
    per_frame = np.abs(adv - x).max(axis=(1, 3, 4))[0]
    assert 1 <= np.count_nonzero(per_frame) < x.shape[2]
    assert per_frame.max() <= 8 / 255 + 1e-6


def test_the_adaptive_attack_breaks_mp3_where_the_transfer_does_not_need_to(audio_classifier, digits):
    mp3 = Mp3Compression(sample_rate=8000, channels_first=True)
    defended = audio_classifier.with_defences([mp3])
    adv = ProjectedGradientDescent(defended, eps=256.0, eps_step=51.2, max_iter=10).generate(digits)
    assert (np.argmax(defended.predict(adv), axis=1) != [1, 3, 5, 8]).any()


@pytest.mark.parametrize("attack", [
    "ProjectedGradientDescent(c, eps=8.0, eps_step=1.0, max_iter=1_000_000)",
    # Square scores tries through kept activations (a session whose tries cannot fail)
    "SquareAttack(c, eps=1.0, max_iter=1_000_000, seed=0)",
])
def test_ctrl_c_interrupts_a_long_attack(tmp_path, attack):
    script = tmp_path / "long.py"
    script.write_text(textwrap.dedent(
        f"""
        import sys, numpy as np, avfoil
        from avfoil.attacks import ProjectedGradientDescent, SquareAttack
        c = avfoil.Classifier.shipped("spoken-digits")
        x = np.zeros((1, 1, 8000), np.float32)
        print("started", flush=True)
        try:
            {attack}.generate(x)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        """
    ))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    import time

    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "interrupted" in out


def test_the_imperceptible_attack_matches_the_cli_and_hides_under_the_threshold(
    audio_classifier, digits, cli, tmp_path
):
    x = digits[:1]
    attack = ImperceptibleASR(
        audio_classifier, PsychoacousticMasker(window_size=512, hop_size=128), eps=256.0,
        learning_rate_1=12.8, max_iter_1=20, learning_rate_2=2.56, max_iter_2=20, seed=5,
    )
    ours = attack.generate(x)
    assert np.abs(ours - x).max() <= 256.0 + 1e-3
    theirs = run_cli(
        cli, tmp_path, x, "--attack", "psychoacoustic", "--eps", "256", "--seed", "5",
        "--param", "learning_rate_1=12.8", "--param", "max_iter_1=20",
        "--param", "learning_rate_2=2.56", "--param", "max_iter_2=20",
        "--param", "window=512", "--param", "hop=128", "--param", "loss_theta_min=0.05",
    )
    np.testing.assert_array_equal(ours, theirs)
    assert attack.last_params["name"] == "psychoacoustic"


def test_the_video_attacks_keep_their_shapes_of_perturbation(video_classifier, repo):
    x = video_classifier.load_input(os.path.join(repo, "examples", "v_Basketball_g02_c01.mp4"))[None]
    flicker = OverTheAirFlickering(video_classifier, eps_step=1 / 255, max_iter=5, eps=4 / 255).generate(x)
    offsets = flicker - x
    # One RGB offset per frame: flat over each frame (pixels not clipped), within eps.
    assert np.abs(offsets).max() <= 4 / 255 + 1e-6
    inner = (x > 0.02) & (x < 0.98)
    for c in range(3):
        for f in range(x.shape[2]):
            values = offsets[0, c, f][inner[0, c, f]]
            if values.size:
                assert np.ptp(values) < 1e-5
    sparse = SparseFramesAttack(video_classifier, k=2, eps=4 / 255, eps_step=1 / 255, max_iter=3).generate(x)
    changed = np.abs(sparse - x).max(axis=(1, 3, 4))[0] > 0
    assert 1 <= changed.sum() <= 2
    patched = VideoPatch(video_classifier, size=0.25, max_iter=3, seed=2).generate(x)
    differs = np.abs(patched - x).max(axis=(0, 1, 2)) > 0  # (H, W): the same square on every frame
    rows, cols = np.nonzero(differs)
    assert rows.size and (rows.max() - rows.min()) <= x.shape[3] and (cols.max() - cols.min()) <= x.shape[4]
    np.testing.assert_array_equal(VideoPatch(video_classifier, size=0.25, max_iter=3, seed=2).generate(x), patched)
