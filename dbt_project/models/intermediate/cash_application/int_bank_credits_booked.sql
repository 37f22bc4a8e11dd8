{{ config(materialized='view') }}
-- One row per bank credit line booked up to the run date: the one definition of "a credit known on
-- the run date" that cash application, the review queue and fct_payments start from. A view: a
-- plain filter, which the Postgres planner sees through (unlike the staging dedupe window).
with statement_lines as (
    select * from {{ ref('stg_bank__statement_lines') }}
),

final as (
    select *
    from statement_lines
    where credit_debit = 'CRDT' and booking_date <= {{ as_of_date() }}
)

select * from final
