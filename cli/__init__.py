"""The ``cobranza`` command line (DESIGN.md §11): the roof of the house.

It composes everything (flows, connectors, ml, the report, the channel lab) and nothing imports it
back; settings and runtime (``cobranza/``) are the ground floor it stands on.
"""
