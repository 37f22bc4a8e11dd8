"""Build-time material of the labelled debtor-reply corpus (never imported by the product)."""
