-- One row per bank credit left in suspense: booked at least alert_suspense_min_days before the run
-- date, not applied by cash application and not recorded by the ERP either (no allocation names the
-- line, and no allocation without a bank id covers its amount on its value date), of at least
-- alert_suspense_min_usd in USD (reference.fx_rates). Interest and reversals are not payments.
-- Severity is high from 5x the minimum. first_seen_date = the day it became overdue for a person.
with credits as (
    select * from {{ ref('fct_payments') }}
    where match_method = 'unmatched'
        and amount_unmatched > 0
        and booking_date <= {{ add_days(as_of_date(), '-' ~ var('alert_suspense_min_days', 5)) }}
        and coalesce(remittance_text, '') <> 'ABONO INTERESES'
),

allocations as (
    select * from {{ ref('stg_erp__payment_allocations') }}
    where recorded_date <= {{ as_of_date() }}
),

recorded_by_id as (
    select distinct bank_txn_id from allocations where bank_txn_id is not null
),

recorded_without_id as (
    select payment_date, currency, sum(amount) as amount
    from allocations
    where bank_txn_id is null
    group by customer_id, payment_date, currency
),

rates as (
    -- 38 digits: DuckDB keeps DECIMAL(18) x DECIMAL(18) in 18 digits and overflows on a large credit
    -- in a low-value currency (the L bench: 24,414,713.17 x 0.054 failed the build)
    select currency, cast(rate_to_usd as decimal(38, 10)) as rate_to_usd
    from (
        select currency, rate_to_usd, row_number() over (partition by currency order by valid_from desc) as k
        from {{ ref('fx_rates') }}
        where valid_from <= {{ as_of_date() }}
    ) as valid
    where k = 1
),

final as (
    select
        'suspense' as signal,
        cast(null as varchar) as customer_id,
        credits.bank_txn_id as evidence_key,
        case when credits.amount * rates.rate_to_usd >= 5 * {{ var('alert_suspense_min_usd', 5000) }} then 'high' else 'medium' end
            as severity,
        cast(credits.amount * rates.rate_to_usd as double precision) as score,
        {{ add_days('credits.booking_date', var('alert_suspense_min_days', 5)) }} as first_seen_date,
        cast(credits.amount_unmatched as decimal(38, 2)) as amount,
        credits.currency,
        credits.bank_txn_id as evidence,
        'credit of ' || cast(credits.amount as varchar) || ' ' || credits.currency || ' from '
            || coalesce(credits.counterparty_name, '(no name)') || ' unapplied since '
            || cast(credits.booking_date as varchar) as description
    from credits
    inner join rates on credits.currency = rates.currency
    where credits.bank_txn_id not in (select bank_txn_id from recorded_by_id)
        and not exists (
            select 1 from recorded_without_id as r
            where r.payment_date = credits.value_date and r.currency = credits.currency and r.amount = credits.amount
        )
        and credits.amount * rates.rate_to_usd >= {{ var('alert_suspense_min_usd', 5000) }}
)

select * from final
