-- One row per open posted invoice on the run date, features as known on the run date (the
-- snapshot date): what the champion model scores every day.
with spine_source as (
    select invoice_id, customer_id, {{ as_of_date() }} as snapshot_date
    from {{ ref('fct_invoices') }}
    where status = 'posted' and amount_open > 0
),

{{ invoice_features('spine_source') }}

select * from final
