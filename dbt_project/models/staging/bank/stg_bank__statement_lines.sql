-- One row per booked bank statement line; amount signed by direction; reversal/return marks as landed.
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
        upper(replace(creditor_reference, ' ', '')) as creditor_reference,
        -- reversals/returns (null in lines landed before the columns existed: not a reversal)
        coalesce(is_reversal, false) as is_reversal,
        nullif(trim(return_reason), '') as return_reason,
        nullif(trim(end_to_end_id), '') as end_to_end_id,
        nullif(trim(reversal_of), '') as reversal_of
    from deduplicated
)

select * from final
