-- One row per returned or reversed customer payment booked up to the run date (int_bank_lines_reversed):
-- the customer is the one the ERP or cash application applied the original credit to, else the one
-- its payer account is learned for. Severity is high when the customer had another return within
-- alert_reversal_window_days before. first_seen_date = booking of the reversal.
with reversals as (
    select * from {{ ref('int_bank_lines_reversed') }}
    where reason = 'reversal'
),

lines as (
    select * from {{ ref('stg_bank__statement_lines') }}
),

by_erp as (
    select bank_txn_id, min(customer_id) as customer_id
    from {{ ref('stg_erp__payment_allocations') }}
    where bank_txn_id is not null and recorded_date <= {{ as_of_date() }}
    group by bank_txn_id
),

by_payer as (
    select counterparty_iban, min(customer_id) as customer_id
    from {{ ref('int_payer_accounts_learned') }}
    group by counterparty_iban
),

attributed as (
    select
        reversals.bank_txn_id,
        reversals.reversed_bank_txn_id,
        reversals.reversed_on,
        reversals.return_reason,
        lines.amount,
        lines.currency,
        coalesce(by_erp.customer_id, by_payer.customer_id) as customer_id
    from reversals
    inner join lines on reversals.bank_txn_id = lines.bank_txn_id
    left join by_erp on reversals.reversed_bank_txn_id = by_erp.bank_txn_id
    left join by_payer on lines.counterparty_iban = by_payer.counterparty_iban
),

counted as (
    select
        *,
        count(*) over (
            partition by customer_id order by reversed_on
            range between interval '{{ var("alert_reversal_window_days", 90) }} days' preceding and current row
        ) as n_in_window
    from attributed
    where customer_id is not null
),

final as (
    select
        'payment_reversed' as signal,
        customer_id,
        bank_txn_id as evidence_key,
        case when n_in_window >= 2 then 'high' else 'medium' end as severity,
        cast(amount as double precision) as score,
        reversed_on as first_seen_date,
        cast(amount as decimal(38, 2)) as amount,
        currency,
        coalesce(reversed_bank_txn_id, '?') || ',' || bank_txn_id as evidence,
        'payment ' || coalesce(reversed_bank_txn_id, '(unlinked)') || ' returned'
            || coalesce(' (' || return_reason || ')', '') as description
    from counted
)

select * from final
