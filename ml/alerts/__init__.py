"""Early warnings (DESIGN.md §13, issue 21): the behaviour scorer and the alert lifecycle.

Deterministic signals are dbt models (``marts.mart_alert_signals``); :mod:`ml.alerts.behaviour`
scores breaks in a customer's payment behaviour; :mod:`ml.alerts.lifecycle` turns both into alerts
(ranked, capped, raised once), keeps their status history append-only and says which decisions an
alert holds.
"""
