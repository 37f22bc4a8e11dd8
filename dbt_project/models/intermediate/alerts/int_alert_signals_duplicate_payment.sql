-- One row per bank credit that repeats an earlier one: same company account, currency, amount,
-- payer (account, else name) and remittance text, booked within alert_duplicate_window_days after
-- it. The customer is the one cash application gave either line to. first_seen_date = booking of
-- the repeat.
with credits as (
    select * from {{ ref('fct_payments') }}
    where booking_date <= {{ as_of_date() }} and match_method <> 'reversal'
),

pairs as (
    select
        repeat.bank_txn_id,
        original.bank_txn_id as original_bank_txn_id,
        coalesce(original.customer_id, repeat.customer_id) as customer_id,
        repeat.booking_date,
        repeat.amount,
        repeat.currency,
        row_number() over (partition by repeat.bank_txn_id order by original.booking_date desc, original.bank_txn_id desc) as k
    from credits as repeat
    inner join credits as original
        on repeat.account_iban = original.account_iban
        and repeat.currency = original.currency
        and repeat.amount = original.amount
        and coalesce(repeat.counterparty_iban, '') = coalesce(original.counterparty_iban, '')
        and coalesce(repeat.counterparty_name, '') = coalesce(original.counterparty_name, '')
        and coalesce(repeat.remittance_text, '') = coalesce(original.remittance_text, '')
        and coalesce(repeat.creditor_reference, '') = coalesce(original.creditor_reference, '')
        and (original.booking_date < repeat.booking_date
            or (original.booking_date = repeat.booking_date and original.bank_txn_id < repeat.bank_txn_id))
        and repeat.booking_date <= {{ add_days('original.booking_date', var('alert_duplicate_window_days', 5)) }}
),

final as (
    select
        'duplicate_payment' as signal,
        customer_id,
        bank_txn_id as evidence_key,
        'medium' as severity,
        cast(amount as double precision) as score,
        booking_date as first_seen_date,
        cast(amount as decimal(38, 2)) as amount,
        currency,
        original_bank_txn_id || ',' || bank_txn_id as evidence,
        'bank credit ' || bank_txn_id || ' repeats ' || original_bank_txn_id || ' (same payer, amount and text)'
            as description
    from pairs
    where k = 1 and customer_id is not null
)

select * from final
