-- One row per bank credit booked up to the run date that cash application applied to a customer,
-- with the payer that sent it: the base of the payer signals (new account, shared account, lapping).
-- payer_key is the counterparty account, or the upper-cased name when the bank gives no account.
-- seq_in_customer numbers the customer's payments in booking order (1 = first).
with payments as (
    select * from {{ ref('fct_payments') }}
    where customer_id is not null
        and match_method not in ('reversed', 'reversal')
        and booking_date <= {{ as_of_date() }}
),

final as (
    select
        bank_txn_id,
        customer_id,
        booking_date,
        currency,
        amount,
        counterparty_iban,
        counterparty_name,
        coalesce(counterparty_iban, 'name:' || upper(trim(counterparty_name))) as payer_key,
        row_number() over (partition by customer_id order by booking_date, bank_txn_id) as seq_in_customer
    from payments
)

select * from final
