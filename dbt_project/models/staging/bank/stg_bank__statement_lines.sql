-- One row per booked bank statement line; amount signed by direction.
with source as (
    select * from {{ source('raw_bank', 'statement_lines') }}
),

deduplicated as (
    {{ first_row_per('source', 'bank_txn_id', '_loaded_at') }}
),

final as (
    select
        bank_txn_id,
        account_iban,
        booking_date,
        value_date,
        upper(currency) as currency,
        upper(credit_debit) as credit_debit,
        amount,
        case when upper(credit_debit) = 'CRDT' then amount else -amount end as amount_signed,
        counterparty_name,
        counterparty_iban,
        remittance_text,
        upper(replace(creditor_reference, ' ', '')) as creditor_reference
    from deduplicated
)

select * from final
