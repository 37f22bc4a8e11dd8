"""Evaluation code that reads the simulator's ground truth, apart from the product's libraries.

``closed_loop``: the decision policy against the static ladder in the simulated market
(``cobranza simulate-policy``). ``cash_application``: the dbt cash application's matches against the
simulator's true allocations (``bench.cash_application``, ``tests/dbt``). The product (``ml``,
``connectors``, ``flows``) never imports this package; the CLI, ``bench/`` and the tests do.
"""
