"""The debtor portal: one signed-link web page per customer.

Statement, invoice copies, promise to pay, dispute, payment plan, consent preferences and "pay now".

A FastAPI app (:func:`portal.app.create_app`) built from explicit arguments (the read-only warehouse
snapshot it reads statements from, the webhook spool it records debtor actions into, the token secret,
the payment-provider client, limits), so it can run alone or be mounted beside the webhook receiver.
It holds no business rule of its own: plans come from :mod:`ml.nba.plans`, and what a debtor did is
spooled as webhook events that the inbound flow lands as interactions and opt-outs like a reply.
"""
