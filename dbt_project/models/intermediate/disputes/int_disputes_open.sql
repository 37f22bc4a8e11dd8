-- One row per dispute open on the run date: opened by then, not resolved by then. A dispute the CRM
-- marks resolved is closed even when it carries no resolution date (finance does not hold dunning,
-- nor route a customer to dispute review, on a dispute the CRM has closed). The one definition of
-- "dispute open on the run date": fct_invoices (is_disputed) and mart_dunning_accounts
-- (needs_dispute_review) read it.
with disputes as (
    select * from {{ ref('stg_crm__disputes') }}
),

final as (
    select
        dispute_id,
        invoice_id,
        customer_id,
        opened_date,
        status
    from disputes
    where opened_date <= {{ as_of_date() }}
      and (resolved_date is null or resolved_date > {{ as_of_date() }})
      and not (status = 'resolved' and resolved_date is null)
)

select * from final
