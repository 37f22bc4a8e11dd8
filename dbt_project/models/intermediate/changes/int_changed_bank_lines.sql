-- One row per bank credit line booked in the incremental models' look-back window (macros/incremental.sql):
-- the lines a daily run tokenises, matches and learns payer accounts from again.
{{ config(materialized='table') }}

{{ changed_bank_lines_sql() }}
