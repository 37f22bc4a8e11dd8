-- One row per customer invoice: the latest ERP version.
with source as (
    select * from {{ source('raw_erp', 'invoices') }}
    -- records the raw quality gate quarantined are left out (macros/quarantine.sql)
    where {{ not_quarantined('raw_erp.invoices', 'invoice_id') }}
),

latest as (
    {{ first_row_per('source', 'invoice_id', 'updated_at desc, _loaded_at desc') }}
),

final as (
    select
        invoice_id,
        number as invoice_number,
        customer_id,
        issue_date,
        due_date,
        upper(currency) as currency,
        amount_total,
        amount_open as amount_open_erp,
        lower(status) as status,
        payment_reference,
        lower(trim(delivery_method)) as delivery_method,
        -- optional attributes ERP exports carry (issue 22; null when the source has none)
        upper(trim(document_type)) as document_type,
        upper(trim(payment_terms_code)) as payment_terms_code,
        nullif(trim(dunning_block), '') as dunning_block,
        trim(sales_org) as sales_org,
        trim(company_code) as company_code,
        updated_at
    from latest
)

select * from final
