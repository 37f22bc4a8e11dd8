-- One row per (bank account, customer) for the accounts that paid invoices of more than one
-- customer: who the account belonged to first and how established it was when the other customer's
-- payments began. owner_payments_before = payments of the account's first customer before this
-- customer's first payment from it (0 for the first customer itself).
with payments as (
    select * from {{ ref('int_alert_payments_by_payer') }}
    where counterparty_iban is not null
),

per_customer as (
    select
        counterparty_iban,
        customer_id,
        min(booking_date) as first_paid_date,
        max(booking_date) as last_paid_date,
        count(*) as n_payments,
        sum(amount) as amount,
        {{ any_value('currency') }} as currency,
        string_agg(bank_txn_id, ',' order by booking_date, bank_txn_id) as evidence
    from payments
    group by counterparty_iban, customer_id
),

shared as (
    select
        *,
        count(*) over (partition by counterparty_iban) as n_customers,
        row_number() over (partition by counterparty_iban order by first_paid_date, customer_id) as customer_rank
    from per_customer
),

owners as (
    select counterparty_iban, customer_id as owner_customer_id
    from shared
    where customer_rank = 1 and n_customers > 1
),

final as (
    select
        shared.counterparty_iban,
        shared.customer_id,
        owners.owner_customer_id,
        shared.n_customers,
        shared.first_paid_date,
        shared.last_paid_date,
        shared.n_payments,
        shared.amount,
        shared.currency,
        shared.evidence,
        (
            select count(*) from payments as p
            where p.counterparty_iban = shared.counterparty_iban
                and p.customer_id = owners.owner_customer_id
                and p.customer_id <> shared.customer_id
                and p.booking_date < shared.first_paid_date
        ) as owner_payments_before
    from shared
    inner join owners on shared.counterparty_iban = owners.counterparty_iban
)

select * from final
