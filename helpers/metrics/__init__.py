"""The generalization measures of Chapters 2-6, one module per paper.

``gsnr`` (Liu et al. 2020) and ``esd`` (Martin & Mahoney 2019) so far.
"""
