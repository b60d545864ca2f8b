"""helpers: the metric and experiment code behind *Why Deep Networks Generalize*.

Modules are small and flat, one idea each:
``data`` (data sets and the randomizations of Ch. 1), ``models``, ``train`` (one ``fit`` loop
and the run layer: ``RunSpec``, ``run``), ``scale`` (the tiny / small / paper / paper-smoke
profiles), ``cost`` (what each chapter's profile costs, FLOP and hours, before it runs), ``sweep`` (a cached, resumable grid), ``settings`` (every ``BOOK_*`` variable and
the thread policy), ``safety`` (eval mode, devices, input checks), ``zoo`` (the model zoos of
Ch. 5 and 6, one declaration per measure), ``interpolation`` (closed-form constructions of
Ch. 1), ``losses`` (the poisoned, anti-generalization loss of Ch. 4), ``plots``, ``widgets``,
``report`` (glue and scorecards), and the measures in ``metrics`` (``normalized``, ``gsnr``,
``landscape``, ``esd``, ``norms``, ``rank``, ``all_measures``).
"""

__version__ = "0.6.0"
