"""The adversarial corpus: hostile inputs and provider faults, each with the outcome it must end in."""
