-- One row per (bank credit line booked up to the run date, number quoted in its remittance text).
-- A "number" is a run of digits possibly broken by single separators (INV-2025-000123, 2025/000123,
-- INV 2025 000123, a cut-off INV-2025-00); its key is the digits alone, the form invoice numbers are
-- matched on. Texts quoting several invoices give several rows; texts with no number give none.
-- Incremental (macros/incremental.sql): a daily run tokenises the lines booked in the look-back
-- window; a line's tokens depend on its own text only.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_recomputed('bank_txn_id', changed_bank_lines()) }}"
) }}
-- depends_on: {{ ref('int_changed_bank_lines') }}

with bank_credits as (
    select * from {{ ref('int_bank_credits_booked') }}
    where remittance_text is not null
    {%- if is_incremental() %}
        and bank_txn_id in ({{ changed_bank_lines() }})
    {%- endif %}
),

numbers as (
    select
        bank_txn_id,
        {{ regexp_matches_unnested('upper(remittance_text)', '[0-9]+(?:[ /._-][0-9]+)*') }} as quoted_number
    from bank_credits
),

keyed as (
    select
        bank_txn_id,
        quoted_number,
        {{ number_key('quoted_number') }} as token_key
    from numbers
),

final as (
    select
        bank_txn_id,
        token_key,
        min(quoted_number) as quoted_number,
        length(token_key) as token_length
    from keyed
    where length(token_key) >= 4
    group by bank_txn_id, token_key
)

select * from final
