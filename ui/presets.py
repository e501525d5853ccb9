"""One-click scenarios from the literature: each is an ExplorerSpec (so each is just a link).

Every preset is tuned so its phenomenon really shows in trajectories.race; the numbers in the
comments are what the race gives (tests/test_presets.py checks them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .spec import ExplorerSpec, RunConfig, default_run


@dataclass(frozen=True)
class Preset:
    """A named view with two sentences saying what to look at, and where the idea comes from."""

    name: str  # a slug: stable, used in code and tests
    title: str
    about: str
    source: str
    spec: ExplorerSpec

    def link(self) -> str:
        """The preset as a query string (without "?"): the explorer opens it, story box included, like
        any shared link."""
        from .links import query_string

        return query_string(self.view())

    def view(self) -> ExplorerSpec:
        """The preset's view, marked as coming from it (the `p` field of its link)."""
        return dataclasses.replace(self.spec, preset=self.name)

    def shows(self, spec: ExplorerSpec) -> bool:
        """Whether `spec` still shows what this preset describes (anything changed: it does not)."""
        return spec.without_preset() == self.spec


def _run(optimizer: str, clip: tuple[str, float] | None = None, schedule: tuple[str, dict] | None = None,
         **hparams) -> RunConfig:
    kind, threshold = clip or ("none", 1.0)
    name, kw = schedule or ("constant", {})
    return RunConfig(optimizer, tuple(hparams.items()), kind, threshold, name, tuple(kw.items()))


PRESETS: list[Preset] = [
    Preset(
        "clipping_quartic",
        "Clipping tames a growing gradient",
        "On x⁴ + y⁴ the gradient grows like |x|³, so no single learning rate is safe everywhere: gradient "
        "descent with lr 0.2 overshoots from (1.8, 1.2) and diverges within 3 steps. Clipping the gradient "
        "norm (or its smooth version) caps the step far from the minimum and leaves it alone near it, so the "
        "same lr converges.",
        "Zhang, He, Sra, Jadbabaie 2020, \"Why gradient clipping accelerates training\" (ICLR)",
        # unclipped: diverged at step 3; norm-clipped: loss 2e-5 after 200 steps, smooth: 2e-5
        ExplorerSpec(surface="quartic", steps=200, runs=(
            default_run("sgd", lr=0.2),
            _run("sgd", clip=("norm", 1.0), lr=0.2),
            _run("sgd", clip=("smooth", 1.0), lr=0.2),
        )),
    ),
    Preset(
        "momentum_ravine",
        "Momentum in a ravine",
        "In a ravine 100 times steeper across than along, the largest stable learning rate makes gradient "
        "descent zig-zag across the floor while it crawls along it. Momentum keeps the speed it gathers along "
        "the floor: with the same lr, momentum 0.5 also damps the zig-zag and ends 7 times closer to the "
        "minimum after 100 steps, momentum 0.9 swings wider across the floor but ends 30 times closer.",
        "Goh 2017, \"Why Momentum Really Works\" (Distill); Polyak 1964",
        # distance to the minimum after 100 steps: GD 0.41, momentum 0.5: 0.057, momentum 0.9: 0.013;
        # largest |y| (across the floor) after step 10: GD 0.107, momentum 0.5: 0.042, momentum 0.9: 0.78
        ExplorerSpec(surface="ravine", surface_params=(("condition", 100.0), ("angle", 0.0)), steps=100, runs=(
            default_run("sgd", lr=0.018),
            default_run("momentum", lr=0.018, momentum=0.5),
            default_run("momentum", lr=0.018, momentum=0.9),
        )),
    ),
    Preset(
        "saddle_escape",
        "Escaping a saddle point",
        "Starting a hair's breadth (y = 0.001) off the ridge, gradient descent slides into the saddle and "
        "leaves it only exponentially slowly, while momentum, Adam and RMSprop get away within 100 steps. "
        "From exactly y = 0 no gradient method ever leaves: turn up the noise and they do.",
        "Dauphin et al. 2014, \"Identifying and attacking the saddle point problem\"; Ge et al. 2015, "
        "\"Escaping from saddle points\"",
        # |y| after 100 steps: GD 0.007, momentum 18, Adam 1.4, RMSprop 2.9
        ExplorerSpec(surface="saddle", steps=100, runs=(
            default_run("sgd", lr=0.01),
            default_run("momentum", lr=0.01),
            default_run("adam", lr=0.01),
            default_run("rmsprop", lr=0.01),
        )),
    ),
    Preset(
        "adam_amsgrad",
        "Adam vs AMSGrad",
        "AMSGrad divides by the largest second-moment estimate seen so far instead of the current one: after "
        "Rosenbrock's steep start that maximum stays about 14 times the current estimate to the end, so it "
        "creeps along the flat valley while Adam, which forgets old gradients (β₂ = 0.99), moves on. The max "
        "is what repairs Adam's convergence proof; here it costs speed: after 300 steps AMSGrad's loss is "
        "0.74 and Adam's 0.033.",
        "Reddi, Kale, Kumar 2018, \"On the convergence of Adam and beyond\" (ICLR)",
        # loss after 300 steps: Adam 0.033, AMSGrad 0.74; AMSGrad's max v / v at step 300: 14 (both coordinates).
        # Not claimed: that its steps only shrink (with bias correction lr sqrt(1 - b2^t) / sqrt(max v) grows)
        ExplorerSpec(surface="rosenbrock", steps=300, runs=(
            default_run("adam", lr=0.1, betas=(0.9, 0.99)),
            default_run("amsgrad", lr=0.1, betas=(0.9, 0.99)),
        )),
    ),
    Preset(
        "adabound",
        "AdaBound: from Adam to SGD",
        "AdaBound clips Adam's per-coordinate step sizes into bounds that close in on final_lr (faster for a "
        "larger gamma), so it starts as Adam and ends as SGD with lr = final_lr. Plain SGD at that lr diverges "
        "on Rosenbrock's steep first steps and Adam is slow in the valley: AdaBound gets through both.",
        "Luo, Xiong, Liu, Sun 2019, \"Adaptive gradient methods with dynamic bound of learning rate\" (ICLR)",
        # loss after 300 steps: Adam 1.7, AdaBound 0.081; SGD lr 0.01 diverged at step 4
        ExplorerSpec(surface="rosenbrock", steps=300, runs=(
            default_run("adam", lr=0.05),
            default_run("adabound", lr=0.05, final_lr=0.01, gamma=0.05),
            default_run("sgd", lr=0.01),
        )),
    ),
    Preset(
        "swats_switch",
        "SWATS: from Adam to SGD",
        "SWATS runs Adam and switches for good to SGD with momentum once Λ, the bias-corrected average of γ (the "
        "SGD step size whose step along the gradient matches Adam's), comes within ε of the newest γ: with the "
        "paper's ε = 10⁻⁹ (run 1) it never does here, because γ ≈ 0.004 drifts 0.4 % a step along the valley, so "
        "|Λ − γ| only crosses zero between two steps and the closest it comes in 800 steps is 9 × 10⁻⁸. With "
        "ε = 10⁻⁵ (run 2: the tolerance is absolute, so it has to fit the scale of γ, as Rethinking-SWATS also "
        "found on ResNets) that crossing counts: after update 556 it switches to SGD with the learned lr "
        "Λ = 0.0042, marked on the trail and the lr panel, and its steps drop from Adam's 0.004 to 0.0004, then "
        "grow again as the momentum builds.",
        "Keskar, Socher 2017, \"Improving generalization performance by switching from Adam to SGD\" "
        "(Algorithm 1); A. Maiya, Rethinking-SWATS-Optimizer (GitHub), ε = 10⁻⁵",
        # run 1: never switches, min |Lambda - gamma| 9.0e-8 at update 557, gamma 0.0042 drifting 0.44 %/step;
        # run 2: switched_at 556, switch_lr 0.00418, steps 0.00396 -> 0.00042 -> 0.00184 five updates later
        ExplorerSpec(surface="rosenbrock", steps=800, runs=(
            default_run("swats", lr=0.03),
            default_run("swats", lr=0.03, eps=1e-5),
        )),
    ),
    Preset(
        "sgdr_rastrigin",
        "Warm restarts on Rastrigin",
        "With a learning rate too large for Rastrigin's narrow wells, constant SGD bounces between them for "
        "ever and a single cosine decay settles in whichever well it is in when the lr gets small. SGDR "
        "restarts the cosine every 60 steps: each restart kicks the point out and each decay settles it "
        "again, here in a lower well every time.",
        "Loshchilov, Hutter 2017, \"SGDR: stochastic gradient descent with warm restarts\" (ICLR)",
        # loss at the end of each SGDR cycle: 28.9, 16.9, 8.9, 4.0, 1.0; one cosine: 2.0; constant: bouncing
        ExplorerSpec(surface="rastrigin", steps=300, runs=(
            default_run("sgd", lr=0.015),
            _run("sgd", schedule=("cosine", {}), lr=0.015),
            _run("sgd", schedule=("sgdr", {"T_0": 60}), lr=0.015),
        )),
    ),
    Preset(
        "adam_warmup",
        "Warm-up for Adam",
        "Adam's first steps have size lr in every coordinate whatever the gradient's scale, before it has "
        "seen enough gradients to estimate it: with lr 0.8 it is thrown out of the narrow basin next to its "
        "start into the far, flat one. A linear warm-up from 1% of the lr over 100 steps lets the estimates "
        "settle first, and Adam stays in the near basin.",
        "Goyal et al. 2017, \"Accurate, large minibatch SGD\"; Liu et al. 2020, \"On the variance of the "
        "adaptive learning rate and beyond\" (RAdam)",
        # end point: without warm-up the flat minimum (1.09, -0.55), with it the sharp one (-1.2, 0.8)
        ExplorerSpec(surface="sharp_flat", steps=300, runs=(
            default_run("adam", lr=0.8),
            _run("adam", schedule=("warmup", {"start_factor": 0.01, "total_iters": 100}), lr=0.8),
        )),
    ),
    Preset(
        "reddi_adam",
        "Adam's non-convergence (online)",
        "Reddi, Kale and Kumar's Theorem 1: on the feasible set [−1, 1] (the rectangle) the losses f_t(x) = 3x "
        "for t mod 3 = 1 and −x otherwise are best played at x = −1, yet Adam with β₁ = 0, β₂ = 1/(1 + 3²) = 0.1 "
        "and steps α/√t converges to x = +1, so its average regret does not go to zero: the rare large gradient "
        "is forgotten before the two small ones are done. Here (α = 0.5, every step projected back onto the box) "
        "Adam is at +1.000 at the end of every period from step 45 on and its average regret after 3000 steps "
        "is 0.67, while AMSGrad, which divides by the largest second moment seen so far, is back at −1.000 "
        "after every step with slope 3, ends at −0.994 and has average regret 0.013.",
        "Reddi, Kale, Kumar 2018, \"On the convergence of Adam and beyond\" (ICLR), Theorem 1",
        # x after 3000 steps: Adam +1.000, AMSGrad -0.9936; average regret mean(f_t(x_t)) + 1/3: 0.672, 0.0126;
        # Adam at +1 at every step 3k from 45 on, AMSGrad at -1 at every step 3k + 1 from 46 on
        ExplorerSpec(surface="reddi", steps=3000, runs=(
            _run("adam", schedule=("inverse_sqrt", {}), lr=0.5, betas=(0.0, 0.1)),
            _run("amsgrad", schedule=("inverse_sqrt", {}), lr=0.5, betas=(0.0, 0.1)),
        )),
    ),
    Preset(
        "sam_sharp_flat",
        "SAM finds the flat minimum",
        "Gradient descent and momentum (lr 0.02, momentum 0.9) roll into the narrow minimum next to the start "
        "and stay there, where the top Hessian eigenvalue (the summary's sharpness) is 44. SAM takes each step "
        "with the gradient at the worst point within ρ = 0.2, which inside the narrow well lies up its steep "
        "wall: it visits the narrow minimum, is thrown out and settles within 0.02 of the wide one (sharpness "
        "1.1), and so does adaptive SAM.",
        "Foret, Kleiner, Mobahi, Neyshabur 2021, \"Sharpness-aware minimization\" (ICLR); Kwon et al. 2021 (ASAM)",
        # distance to the sharp minimum after 1000 steps: GD 3e-13, momentum 0; to the flat one: SAM 0.0115,
        # ASAM 0.0173; sharpness at the end: 44.41, 44.41, 1.08, 1.09; SAM within 0.05 of the sharp one at step 41
        ExplorerSpec(surface="sharp_flat", steps=1000, runs=(
            default_run("sgd", lr=0.02),
            default_run("momentum", lr=0.02, momentum=0.9),
            default_run("sam", lr=0.02, rho=0.2, momentum=0.9),
            default_run("asam", lr=0.02, momentum=0.9),
        )),
    ),
    Preset(
        "noise_rosenbrock",
        "Gradient noise on Rosenbrock",
        "Gradient noise stands in for minibatch sampling: with a constant learning rate the runs never settle "
        "and keep jittering along the valley however long they run. Decaying the learning rate (cosine) "
        "freezes the jitter, wherever the run then is: change the seed to see how much of where each ends "
        "is luck.",
        "Robbins, Monro 1951; Bottou, Curtis, Nocedal 2018, \"Optimization methods for large-scale machine "
        "learning\"",
        # spread (std of x + std of y) over the last 100 steps: constant Adam 0.25, cosine Adam 0.003
        ExplorerSpec(surface="rosenbrock", steps=1000, noise=5.0, seed=0, runs=(
            default_run("momentum", lr=0.001),
            default_run("adam", lr=0.1),
            _run("adam", schedule=("cosine", {}), lr=0.1),
        )),
    ),
]


def preset(name: str) -> Preset:
    """The preset called `name`; an unknown name raises KeyError listing the valid ones."""
    for p in PRESETS:
        if p.name == name:
            return p
    raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(p.name for p in PRESETS)}")
