"""Every named loss with a TRL counterpart equals TRL's own loss code on the tiny offline GPT-2.

TRL computes the loss (DPOTrainer restricted to one ``loss_type``; CPOTrainer / ORPOTrainer from
``trl.experimental``); symmpo's ``Objective.named`` is evaluated on the log-probs and completion lengths
TRL computed for the same batch. The documented differences (TRL's "sigmoid" ignores label smoothing;
ORPO's NLL convention) are asserted as what they are, so a TRL change that alters them is noticed.
Policy and reference are two different random GPT-2s (init scale 0.3), so log-ratios span tens of nats.
Runs when TRL is installed (CI installs the ``trl`` extra).
"""

from __future__ import annotations

import inspect

import pytest
import trl_tiny  # the tiny offline TRL setup shared by these tests

trl_tiny.require_trl()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from trl import DPOTrainer  # noqa: E402

from symmpo import Objective  # noqa: E402

INIT = 0.3
TOL = {"abs": 2e-6, "rel": 2e-6}  # float32 rounding


def _dpo_trainer(tmp_path, loss_type, batch_size=8, **config):
    """DPOTrainer with one loss_type, or a list of them (combined with ``loss_weights``)."""
    loss_types = [loss_type] if isinstance(loss_type, str) else list(loss_type)
    return DPOTrainer(
        model=trl_tiny.model(0, INIT),
        ref_model=trl_tiny.model(1, INIT),
        args=trl_tiny.config(
            tmp_path, loss_type=loss_types, per_device_train_batch_size=batch_size, **config
        ),
        train_dataset=trl_tiny.dataset(),
        processing_class=trl_tiny.tokenizer(),
    )


def _batches(trainer, n):
    it = iter(trainer.get_train_dataloader())
    return [next(it) for _ in range(n)]


def _ref_logps(trainer, model, batch):
    """TRL's summed completion log-probs of ``model``; before TRL 1.9 its method scores the reference only,
    so the policy's are computed here from its logits."""
    if len(inspect.signature(trainer.compute_ref_log_probs).parameters) == 2:
        return trainer.compute_ref_log_probs(model, batch)
    if model is trainer.ref_model:
        return trainer.compute_ref_log_probs(batch)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    token = torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    return (token * batch["completion_mask"][:, 1:]).sum(1).chunk(2)


@torch.no_grad()
def _trl_dpo(trainer, batch):
    """TRL's loss on the batch, and the summed log-probs and completion lengths TRL computed for it."""
    loss = float(trainer.compute_loss(trainer.model, batch))
    pc, pr = _ref_logps(trainer, trainer.model, batch)  # TRL's own log-prob code, on the policy
    rc, rr = _ref_logps(trainer, trainer.ref_model, batch)
    lc, lr = batch["completion_mask"].sum(dim=1).float().chunk(2)  # TRL's ipo lengths (EOS included)
    return loss, (pc, pr, rc, rr, lc, lr)


def _swapped(batch):
    """The batch with chosen and rejected exchanged (the collator puts chosen rows first)."""
    out = dict(batch)
    for k in ("input_ids", "attention_mask", "completion_mask"):
        c, r = batch[k].chunk(2)
        out[k] = torch.cat([r, c])
    return out


CASES = [
    ("dpo", {"beta": 0.1}, "sigmoid", {"beta": 0.1}),
    ("dpo", {"beta": 0.5}, "sigmoid", {"beta": 0.5}),
    ("hinge", {"beta": 0.1}, "hinge", {"beta": 0.1}),
    ("ipo", {"beta": 0.1}, "ipo", {"beta": 0.1}),
    ("ipo", {"beta": 0.7}, "ipo", {"beta": 0.7}),
    ("rdpo", {"beta": 0.1, "eps": 0.2}, "robust", {"beta": 0.1, "label_smoothing": 0.2}),
    ("discopop", {"beta": 0.1, "tau_d": 0.05}, "discopop", {"beta": 0.1, "discopop_tau": 0.05}),
    ("exo", {"beta": 0.1, "eps": 1e-3}, "exo_pair", {"beta": 0.1, "label_smoothing": 1e-3}),
    ("exo", {"beta": 0.5, "eps": 0.2}, "exo_pair", {"beta": 0.5, "label_smoothing": 0.2}),
    ("dpo_norm", {"beta": 0.1}, "sigmoid_norm", {"beta": 0.1}),
    ("dpo_norm", {"beta": 2.0}, "sigmoid_norm", {"beta": 2.0}),
    # plain baselines (outside MPO): same harness, symmpo's loss is a plain torch function
    ("nca", {"beta": 0.1}, "nca_pair", {"beta": 0.1}),
    ("bco", {"beta": 0.1}, "bco_pair", {"beta": 0.1}),
    ("sppo", {"beta": 0.1}, "sppo_hard", {"beta": 0.1}),
    ("sppo", {"beta": 0.02}, "sppo_hard", {"beta": 0.02}),
    ("aot", {"beta": 0.1}, "aot", {"beta": 0.1}),  # sorted within the batch of 8 pairs
    ("aot_unpaired", {"beta": 0.1}, "aot_unpaired", {"beta": 0.1}),
    ("apo_zero", {"beta": 0.1}, "apo_zero", {"beta": 0.1}),
    ("apo_down", {"beta": 0.1}, "apo_down", {"beta": 0.1}),
]


@pytest.mark.parametrize(
    "name, params, loss_type, config", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)]
)
def test_named_equals_trl_dpo_trainer(tmp_path, name, params, loss_type, config):
    if not _trl_has_loss_type(loss_type):  # the low end of the tested range predates some loss types
        import trl

        pytest.skip(f"TRL {trl.__version__} has no loss_type {loss_type!r} (a later release added it)")
    trainer = _dpo_trainer(tmp_path, loss_type, **config)
    obj = Objective.named(name, **params)
    for batch in _batches(trainer, 2):
        theirs, tensors = _trl_dpo(trainer, batch)
        ours = float(obj.loss(*tensors).mean())
        assert ours == pytest.approx(theirs, **TOL)


def _trl_has_loss_type(loss_type: str) -> bool:
    """Whether the installed TRL documents ``loss_type`` among DPOConfig's choices (TRL keeps no list)."""
    from trl import DPOConfig

    return f"'{loss_type}'" in DPOConfig.__dataclass_fields__["loss_type"].metadata.get("help", "")


def test_the_installed_trl_documents_the_loss_types_it_runs():
    """The check above must not skip everything: TRL names its loss types in DPOConfig's help."""
    assert all(_trl_has_loss_type(t) for t in ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "apo_down"))
    assert not _trl_has_loss_type("no_such_loss")


def test_cdpo_is_per_pair_aot_and_a_mix_of_sigmoid_losses(tmp_path):
    eps, beta = 0.2, 0.1
    cdpo = Objective.named("cdpo", beta=beta, eps=eps)
    # per pair (batch of one, where aot's sort is the identity)
    aot = _dpo_trainer(tmp_path / "aot", "aot", batch_size=1, beta=beta, label_smoothing=eps)
    for batch in _batches(aot, 6):
        theirs, tensors = _trl_dpo(aot, batch)
        assert float(cdpo.loss(*tensors).mean()) == pytest.approx(theirs, **TOL)
    # (1 - eps) * sigmoid on the pairs + eps * sigmoid on the flipped pairs
    sig = _dpo_trainer(tmp_path / "sig", "sigmoid", beta=beta)
    for batch in _batches(sig, 2):
        straight, tensors = _trl_dpo(sig, batch)
        flipped, _ = _trl_dpo(sig, _swapped(batch))
        assert float(cdpo.loss(*tensors).mean()) == pytest.approx((1 - eps) * straight + eps * flipped, **TOL)


def test_trl_sigmoid_ignores_label_smoothing(tmp_path):
    """Documented difference: TRL's "sigmoid" does not read label_smoothing, so it is DPO, not cDPO."""
    eps, beta = 0.2, 0.1
    trainer = _dpo_trainer(tmp_path, "sigmoid", beta=beta, label_smoothing=eps)
    for batch in _batches(trainer, 2):
        theirs, tensors = _trl_dpo(trainer, batch)
        assert float(Objective.named("dpo", beta=beta).loss(*tensors).mean()) == pytest.approx(theirs, **TOL)
        assert abs(float(Objective.named("cdpo", beta=beta, eps=eps).loss(*tensors).mean()) - theirs) > 1e-3


def _experimental(tmp_path, kind, **config):
    if kind == "cpo":
        from trl.experimental.cpo import CPOConfig as Config
        from trl.experimental.cpo import CPOTrainer as Trainer
    else:
        from trl.experimental.orpo import ORPOConfig as Config
        from trl.experimental.orpo import ORPOTrainer as Trainer
    return Trainer(
        model=trl_tiny.model(0, INIT),
        args=trl_tiny.config(tmp_path, config_class=Config, max_length=64, **config),
        train_dataset=trl_tiny.dataset(),
        processing_class=trl_tiny.tokenizer(),
    )


@torch.no_grad()
def _averaged(trainer, batch):
    """TRL's log-probs (length-averaged for simpo/ipo, summed otherwise), its NLL term, and the completion
    lengths behind the averages."""
    out = trainer.concatenated_forward(trainer.model, batch)
    lc = (batch["chosen_labels"][:, 1:] != -100).sum(dim=1).float()
    lr = (batch["rejected_labels"][:, 1:] != -100).sum(dim=1).float()
    return out[0], out[1], out[4], lc, lr


def test_simpo_equals_trl_cpo_simpo(tmp_path):
    beta, gamma = 2.0, 0.5
    trainer = _experimental(tmp_path, "cpo", loss_type="simpo", cpo_alpha=0.0, beta=beta, simpo_gamma=gamma)
    obj = Objective.named("simpo", beta=beta, gamma=gamma)
    for batch in _batches(trainer, 2):
        mc, mr, _, lc, lr = _averaged(trainer, batch)
        theirs = trainer.cpo_loss(mc, mr)[0]  # per pair
        zero = torch.zeros_like(mc)
        ours = obj.loss(mc * lc, mr * lr, zero, zero, lc, lr)
        torch.testing.assert_close(ours, theirs, rtol=2e-6, atol=2e-6)


def test_reference_free_tsallis_map_equals_trl_alphapo(tmp_path):
    """CPO's AlphaPO reward (1 - p^-a)/a is the Tsallis map with q = 1 - a, without a reference (psi = 0)."""
    beta, gamma, a = 2.0, 0.5, 0.25
    trainer = _experimental(
        tmp_path, "cpo", loss_type="simpo", cpo_alpha=0.0, beta=beta, simpo_gamma=gamma, alpha=a
    )
    obj = Objective.from_components(
        "(p**(q - 1) - 1)/(q - 1)", None, "logsigmoid(z - gamma)", beta=beta, reduce="mean",
        constants={"q": ("unit", 1 - a), "gamma": ("positive", gamma)},
    )  # fmt: skip
    for batch in _batches(trainer, 2):
        mc, mr, _, lc, lr = _averaged(trainer, batch)
        zero = torch.zeros_like(mc)
        ours = obj.loss(mc * lc, mr * lr, zero, zero, lc, lr)
        torch.testing.assert_close(ours, trainer.cpo_loss(mc, mr)[0], rtol=2e-6, atol=2e-6)


@torch.no_grad()
def test_orpo_odds_ratio_equal_nll_convention_differs(tmp_path):
    lam = 0.1
    trainer = _experimental(tmp_path, "orpo", beta=lam)
    obj = Objective.named("orpo", lam=lam)
    for batch in _batches(trainer, 2):
        mc, mr, trl_nll, lc, lr = _averaged(trainer, batch)
        zero = torch.zeros_like(mc)
        parts = obj.parts(mc * lc, mr * lr, zero, zero, lc, lr)
        odds = trainer.odds_ratio_loss(mc, mr)[0]  # lam * logsigmoid(log odds ratio), per pair
        torch.testing.assert_close(parts["preference"], -odds, rtol=1e-6, atol=1e-6)
        # TRL's NLL: cross-entropy over the chosen rows' prompt AND response tokens, one mean over the batch
        logits = trainer.model(
            batch["chosen_input_ids"], attention_mask=batch["chosen_attention_mask"]
        ).logits
        targets = batch["chosen_input_ids"][:, 1:].masked_fill(
            batch["chosen_attention_mask"][:, 1:] == 0, -100
        )
        token_mean = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten())
        assert float(trl_nll) == pytest.approx(float(token_mean), abs=1e-5)
        # symmpo's NLL: per example, response tokens only
        torch.testing.assert_close(parts["imitation"], -mc)
        trl_total = float(trl_nll - odds.mean())
        ours = float(obj.loss(mc * lc, mr * lr, zero, zero, lc, lr).mean())
        assert ours == pytest.approx(float(-odds.mean() - mc.mean()), abs=1e-5)
        assert abs(trl_total - ours) > 1e-3  # the documented difference, still there


@pytest.mark.parametrize(
    "name, params, loss_types, weights",
    [
        ("rpo", {"beta": 0.1, "rpo_alpha": 0.5}, ["sigmoid", "sft"], [1.0, 0.5]),
        ("sft_chosen", {}, ["sft"], [1.0]),
    ],
)
def test_nll_losses_equal_trl_sft_term(tmp_path, name, params, loss_types, weights):
    """RPO (TRL 1.16: loss_type ["sigmoid", "sft"], loss_weights [1, alpha]) and continued SFT (["sft"]).

    TRL's "sft" term is one token mean over the chosen responses of the batch, symmpo's NLL a per-example mean
    (RPO's and the MPO family's, docs/formulation.md): equal with one pair per batch, and at batch 8 TRL's
    total is asserted to be the token-weighted version, so a TRL change of convention is noticed."""
    obj = Objective.named(name, **params)
    alpha = weights[-1]
    one = _dpo_trainer(tmp_path / "one", loss_types, batch_size=1, loss_weights=weights, beta=0.1)
    for batch in _batches(one, 4):
        theirs, tensors = _trl_dpo(one, batch)
        assert float(obj.loss(*tensors).mean()) == pytest.approx(theirs, **TOL)
    eight = _dpo_trainer(tmp_path / "eight", loss_types, loss_weights=weights, beta=0.1)
    for batch in _batches(eight, 2):
        theirs, (pc, pr, rc, rr, lc, lr) = _trl_dpo(eight, batch)
        pref = Objective.named("dpo", beta=0.1).loss(pc, pr, rc, rr).mean() if len(loss_types) == 2 else 0.0
        token_mean = float(pref + alpha * (-pc.sum() / lc.sum()))
        assert token_mean == pytest.approx(theirs, **TOL)
        ours = float(obj.loss(pc, pr, rc, rr, lc, lr).mean())
        assert ours == pytest.approx(float(pref + alpha * (-pc / lc).mean()), **TOL)
        assert abs(ours - theirs) > 1e-4  # lengths differ within the batch: the documented difference


@torch.no_grad()
def test_cpo_equals_trl_cpo_trainer(tmp_path):
    """CPO: CPOTrainer loss_type "sigmoid" (summed log-probs, no reference) + cpo_alpha x NLL, TRL's own total
    (``get_batch_loss_metrics``); equal with one pair per batch, where TRL's batch token mean of the NLL is the
    per-example mean (the convention difference is the one of RPO above)."""
    beta, alpha = 0.1, 1.0
    obj = Objective.named("cpo", beta=beta, cpo_alpha=alpha)
    trainer = _experimental(
        tmp_path, "cpo", loss_type="sigmoid", beta=beta, cpo_alpha=alpha, per_device_train_batch_size=1
    )
    for batch in _batches(trainer, 4):
        pc, pr, nll, lc, lr = _averaged(trainer, batch)  # summed log-probs for loss_type "sigmoid"
        theirs = float(trainer.get_batch_loss_metrics(trainer.model, batch)[0])
        assert float(nll) == pytest.approx(float(-pc / lc), **TOL)
        zero = torch.zeros_like(pc)
        assert float(obj.loss(pc, pr, zero, zero, lc, lr).mean()) == pytest.approx(theirs, **TOL)
