"""The debtor-side agent (issue 20): one decision per inbound message, ``message + context -> reply/actions``.

:mod:`ml.agent.policy` decides (pure, no I/O); :mod:`ml.agent.messages` writes the replies in es/en/pt in
a sandboxed Jinja2 environment where the debtor's words are only ever data. ``flows/agent.py`` reads
the context from the operational store and the published warehouse copy and hands the decisions to
the outbox.
"""
