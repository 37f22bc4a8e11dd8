-- One row per (customer, bank account) where one account with no established owner pays the
-- invoices of several unrelated customers (at least alert_shared_min_customers): an intermediary
-- or a fraudster's account collecting for a ring. An account one customer had long used before is
-- lapping instead (int_alert_signals_lapping). first_seen_date = the later of this customer's first
-- payment from it and the day the account reached the minimum number of customers.
with shared as (
    select * from {{ ref('int_alert_payer_accounts_shared') }}
    where n_customers >= {{ var('alert_shared_min_customers', 2) }}
),

established as (
    select distinct counterparty_iban
    from shared
    where owner_payments_before >= {{ var('alert_lapping_min_owner_payments', 5) }}
),

reached as (
    select counterparty_iban, first_paid_date as reached_date
    from (
        select counterparty_iban, first_paid_date,
            row_number() over (partition by counterparty_iban order by first_paid_date, customer_id) as k
        from shared
    ) as ranked
    where k = {{ var('alert_shared_min_customers', 2) }}
),

final as (
    select
        'shared_payer_account' as signal,
        shared.customer_id,
        shared.counterparty_iban as evidence_key,
        'high' as severity,
        cast(shared.n_customers as double precision) as score,
        greatest(shared.first_paid_date, reached.reached_date) as first_seen_date,
        cast(shared.amount as decimal(38, 2)) as amount,
        shared.currency,
        shared.evidence,
        'account ' || shared.counterparty_iban || ' pays the invoices of '
            || cast(shared.n_customers as varchar) || ' customers' as description
    from shared
    inner join reached on shared.counterparty_iban = reached.counterparty_iban
    where shared.counterparty_iban not in (select counterparty_iban from established)
)

select * from final
