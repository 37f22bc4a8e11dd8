-- One row per (customer B, bank account) where an account that customer A had long paid its own
-- invoices from (at least alert_lapping_min_owner_payments payments before) repeatedly pays B's
-- invoices (at least alert_lapping_min_payments times): payments of A applied to B's older invoices,
-- the pattern of lapping (teeming and lading). An account that is itself a redirection finding
-- (int_alert_signals_new_payer_account or _shared_payer_account: A's payments moved to it, or it
-- pays for several customers without an owner) is reported there, not here: a ring of customers
-- paid from one intermediary's account looks like lapping once its first member has paid five
-- times. first_seen_date = booking of B's payment that completed the evidence.
with shared as (
    select * from {{ ref('int_alert_payer_accounts_shared') }}
    where customer_id <> owner_customer_id
        and owner_payments_before >= {{ var('alert_lapping_min_owner_payments', 5) }}
        and n_payments >= {{ var('alert_lapping_min_payments', 2) }}
),

nth_payment as (
    select p.customer_id, p.counterparty_iban, p.booking_date,
        row_number() over (partition by p.customer_id, p.counterparty_iban order by p.booking_date, p.bank_txn_id) as k
    from {{ ref('int_alert_payments_by_payer') }} as p
    inner join shared on p.customer_id = shared.customer_id and p.counterparty_iban = shared.counterparty_iban
),

final as (
    select
        'lapping' as signal,
        shared.customer_id,
        shared.counterparty_iban as evidence_key,
        'high' as severity,
        cast(shared.n_payments as double precision) as score,
        nth_payment.booking_date as first_seen_date,
        cast(shared.amount as decimal(38, 2)) as amount,
        shared.currency,
        shared.evidence,
        cast(shared.n_payments as varchar) || ' payments from the account of customer '
            || shared.owner_customer_id || ' (' || shared.counterparty_iban || ')' as description
    from shared
    inner join nth_payment
        on shared.customer_id = nth_payment.customer_id
        and shared.counterparty_iban = nth_payment.counterparty_iban
        and nth_payment.k = {{ var('alert_lapping_min_payments', 2) }}
    where shared.counterparty_iban not in (
        select evidence_key from {{ ref('int_alert_signals_new_payer_account') }}
        union all
        select evidence_key from {{ ref('int_alert_signals_shared_payer_account') }}
    )
)

select * from final
