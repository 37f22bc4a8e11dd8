"""Cobranza simulator: a seeded, deterministic synthetic accounts-receivable world (DESIGN.md §8).

``simulate(out_dir, profile, seed, as_of, start_date)`` generates customers, invoices, credit notes,
payments, bank statement lines, CRM contacts, interactions and disputes, and writes them as the bulk
exports an ERP, a CRM and a bank deliver (see ``simulator.writers``), with the ground truth kept apart
in ``_truth/``. The latent world lives in ``simulator.world``; scale and country profiles in
``simulator.profiles``.
"""

from simulator.writers import SimulationManifest, simulate

__all__ = ["SimulationManifest", "simulate"]
