-- One row per customer credit note (out_refund): the latest ERP version.
with source as (
    select * from {{ source('raw_erp', 'credit_notes') }}
    -- records the raw quality gate quarantined are left out (macros/quarantine.sql)
    where {{ not_quarantined('raw_erp.credit_notes', 'credit_note_id') }}
),

latest as (
    {{ first_row_per('source', 'credit_note_id', 'updated_at desc, _loaded_at desc') }}
),

final as (
    select
        credit_note_id,
        number as credit_note_number,
        customer_id,
        invoice_id,
        issue_date,
        upper(currency) as currency,
        amount_total,
        lower(status) as status,
        updated_at
    from latest
)

select * from final
