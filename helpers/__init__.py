"""helpers: the metric and experiment code behind *Why Deep Networks Generalize*.

Modules are small and flat, one idea each:
``data`` (data sets and the randomizations of Ch. 1), ``models``, ``train`` (one ``fit`` loop),
``scale`` (the tiny / small / paper profiles), ``sweep`` (a cached, resumable grid),
``interpolation`` (closed-form constructions of Ch. 1), ``plots``, ``widgets`` and ``report``.
"""

__version__ = "0.4.0"
