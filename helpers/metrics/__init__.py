"""The generalization measures of Chapters 2-6, one module per paper, and every one in one call.

``normalized`` (Liao, Miranda et al. 2018), ``gsnr`` (Liu et al. 2020), ``landscape`` (Huang et al.
2019; Li et al. 2018), ``esd`` (Martin & Mahoney 2019), ``norms`` (the norm and margin baselines
of Jiang et al. 2020) and ``rank`` (how well a measure predicts the generalization gap, Ch. 6).
``all_measures`` takes every measure of ``helpers.zoo.MEASURES`` on a network of your own:
``measure_all(model, X, y)`` (re-exported here) returns one row per measure, with what it claims
and why a measure does not apply.
"""
from .all_measures import default_settings, measure_all
