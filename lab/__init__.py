"""Composition roots for demos and tests: real product parts wired to the emulators on 127.0.0.1.

Why a package of its own, beside ``bench/`` and not inside ``simulator/emulators/``:

- ``simulator/emulators/`` holds fakes of *other people's* systems (Odoo, HubSpot, WhatsApp Cloud
  API, Twilio, an SMTP relay). They depend on nothing of the product but the simulator's data, so
  connector tests can trust them as an independent counterpart.
- The channel lab also starts *our own* webhook receiver (``connectors.webhooks``) and wires the
  emulators' callbacks to it. Something that imports both the product and the fakes is a
  composition root: it sits above both, at the level of the CLI and the benchmarks, and nothing
  below it (connectors, ml, flows, simulator) may import it. Inside ``simulator/`` it made the
  simulator depend on the production receiver (``simulator -> connectors.webhooks``).
- It is not ``bench/``: the product CLI's ``cobranza emulators`` demo starts it, and the product
  must not import the benchmarks.

Import direction: ``cobranza.cli``, ``bench``, tests -> ``lab`` -> (``connectors``, ``simulator.emulators``).
Modules: ``lab.channels`` (the channel lab; ``python -m lab.channels`` runs it as a process). The
package imports nothing itself, so ``python -m lab.channels`` runs the module only once.
"""
