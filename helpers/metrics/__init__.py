"""The generalization measures of Chapters 2-6, one module per paper.

``normalized`` (Liao, Miranda et al. 2018), ``gsnr`` (Liu et al. 2020), ``landscape`` (Huang et al.
2019; Li et al. 2018) and ``esd`` (Martin & Mahoney 2019).
"""
