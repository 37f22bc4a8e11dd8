"""Great Expectations suites, one module per suite, named ``<layer>_<system>__<table>``.

Each module declares ``TABLE`` (the warehouse table it validates), ``KEY`` (the columns that
identify a row in failure reports and in ``quarantine.gx_failures``) and ``build(as_of)``, which
returns the suite's expectations for a run on ``as_of``. Checkpoints in ``expectations.gates`` list
which suites run at which boundary. Modules import GX, so import them only when validating.
"""
