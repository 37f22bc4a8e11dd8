-- One row per deterministic early-warning signal found as of the run date (DESIGN.md §13), across
-- the whole history, so a signal keeps its key and first-seen date from one day to the next
-- (ml.alerts raises each key once). signal_id = md5 of signal, customer and evidence key.
{{ config(contract={'enforced': true}) }}

with signals as (
    select * from {{ ref('int_alert_signals_new_payer_account') }}
    union all
    select * from {{ ref('int_alert_signals_shared_payer_account') }}
    union all
    select * from {{ ref('int_alert_signals_lapping') }}
    union all
    select * from {{ ref('int_alert_signals_duplicate_payment') }}
    union all
    select * from {{ ref('int_alert_signals_payment_reversed') }}
    union all
    select * from {{ ref('int_alert_signals_credit_note_burst') }}
    union all
    select * from {{ ref('int_alert_signals_cancelled_after_payment') }}
    union all
    select * from {{ ref('int_alert_signals_exposure') }}
    union all
    select * from {{ ref('int_alert_signals_suspense') }}
    union all
    select * from {{ ref('int_alert_signals_stopped_paying') }}
),

final as (
    select
        cast(md5(signal || '|' || coalesce(customer_id, '') || '|' || evidence_key) as varchar) as signal_id,
        cast(signal as varchar) as signal,
        cast(customer_id as varchar) as customer_id,
        cast(evidence_key as varchar) as evidence_key,
        cast(severity as varchar) as severity,
        cast(score as double precision) as score,
        cast(first_seen_date as date) as first_seen_date,
        cast(amount as decimal(38, 2)) as amount,
        cast(currency as varchar) as currency,
        cast(evidence as varchar) as evidence,
        cast(description as varchar) as description
    from signals
)

select * from final
