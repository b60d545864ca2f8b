"""helpers.cost: FLOP counts with known answers, the estimate's arithmetic, every chapter x scale."""
import math

import pytest
import torch
from torch import nn

from helpers import cost, models, settings

torch.set_num_threads(1)


def test_linear_step_is_the_closed_form():
    b, i, o = 8, 20, 30
    layer = nn.Linear(i, o)
    assert cost.forward_flop(layer, b, (i,)) == 2 * b * i * o
    # backward: the weight gradient only (the input needs none), the same as the forward
    assert cost.step_flop(layer, b, (i,), loss_fn=lambda out: out.sum()) == 2 * (2 * b * i * o)


def test_mlp_step_is_the_closed_form():
    b, widths = 16, [40, 64, 32, 10]
    net = models.mlp(40, widths[1:-1], num_classes=10)
    forward = sum(2 * b * a * c for a, c in zip(widths, widths[1:]))
    first = 2 * b * widths[0] * widths[1]  # no input gradient for the first layer
    assert cost.forward_flop(net, b) == forward
    assert cost.step_flop(net, b) == forward + 2 * forward - first


def test_conv_layer_is_the_closed_form():
    b, c_in, c_out, k, h = 4, 3, 8, 5, 12
    conv = nn.Conv2d(c_in, c_out, k, padding=2)
    assert cost.forward_flop(conv, b, (c_in, h, h)) == 2 * b * c_out * h * h * c_in * k * k


def test_run_work_is_linear_in_epochs_and_runs():
    net = cost._Net("mlp", {"hidden": [32]}, "mnist1d", 400, 200)
    one, three = cost._fit(net, 1, 100), cost._fit(net, 3, 100)
    assert math.isclose(three.flop, 3 * one.flop) and math.isclose(three.steps, 3 * one.steps)
    per_epoch = net.step * 400 + net.fwd * 600  # 4 steps of 100, then evaluation of 400 + 200
    assert math.isclose(one.flop, per_epoch)
    assert math.isclose((one * 5).flop, 5 * one.flop) and (one + one).flop == 2 * one.flop


@pytest.mark.parametrize("chapter", cost.CHAPTERS)
def test_every_chapter_and_scale_has_an_estimate(chapter):
    for name in settings.SCALES:
        e = cost.estimate(chapter, name)
        assert e.networks > 0 and 0 < e.typical_flop <= e.flop < math.inf
        assert all(v >= 0 for v in e.parts.values())
        assert e.seconds("T4") > e.seconds("H100") > 0 and e.seconds(1e10) > 0
        assert set(e.hours) == {"T4", "A100", "H100"}
        text = e.summary()
        assert text.startswith(f"{name} scale: {e.networks} networks") and "T4" in text


@pytest.mark.parametrize("chapter", cost.CHAPTERS)
def test_the_scales_are_ordered(chapter):
    tiny, small, paper = (cost.estimate(chapter, s).flop for s in ("tiny", "small", "paper"))
    assert tiny < small < paper


def test_every_paper_profile_fits_a_colab_session():
    """Issue 19: no paper profile above 2 hours on a T4 by the estimate, at most."""
    for chapter in range(1, 7):
        assert cost.estimate(chapter, "paper").seconds("T4") <= 2 * 3600, chapter


def test_print_estimate(capsys):
    e = cost.print_estimate(2, "tiny")
    assert e.summary() in capsys.readouterr().out


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="chapter"):
        cost.estimate(7, "small")
    with pytest.raises(ValueError, match="chapter"):
        cost.estimate(True, "small")
    with pytest.raises(ValueError, match="scale"):
        cost.estimate(1, "huge")
    with pytest.raises(ValueError, match="device"):
        cost.estimate(1, "tiny").seconds("V100")
    with pytest.raises(ValueError, match="device"):
        cost.estimate(1, "tiny").seconds(-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        cost.step_flop(nn.Linear(2, 2), 0, (2,))
    with pytest.raises(ValueError, match="size"):
        cost.cpu_throughput(size=4)


def test_cpu_throughput_and_formats():
    assert cost.cpu_throughput(size=64, seconds=0.05) > 1e6
    assert cost.format_flop(4.2e16) == "42 PFLOP" and cost.format_flop(1.2e18) == "1.2 EFLOP"
    assert cost.format_seconds(40) == "40 s" and cost.format_seconds(720) == "12 min"
    assert cost.format_seconds(4.7 * 3600) == "4.7 h"


def test_markdown_table_has_a_row_per_chapter_and_scale():
    table = cost.markdown_table()
    assert len(table.splitlines()) == 2 + len(cost.CHAPTERS) * 4
