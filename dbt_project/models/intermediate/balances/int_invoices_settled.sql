-- One row per posted invoice: what is due after credit notes, and when the ERP recorded it as
-- settled (the day the cumulative recorded allocations covered the amount due), as of the run date.
-- The running totals are computed on the invoice's own rows (invoice left join its allocations),
-- so the settlement and the amounts paid are one aggregate per invoice and nothing is joined back:
-- an aggregate over a CTE has no statistics on Postgres (estimated at 200 rows), and joining one
-- back to the 4M invoices of profile L became a nested loop that did not finish.
-- Incremental (macros/incremental.sql): a daily run recomputes the invoices changed in the
-- look-back window (new version, allocation recorded, credit note, quarantine).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_recomputed('invoice_id', changed_invoices()) }}"
) }}
-- depends_on: {{ ref('int_changed_invoices') }}

with invoices as (
    select * from {{ ref('stg_erp__invoices') }}
    {%- if is_incremental() %}
    where invoice_id in ({{ changed_invoices() }})
    {%- endif %}
),

credit_notes as (
    select invoice_id, sum(amount_total) as amount_credited
    from {{ ref('stg_erp__credit_notes') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }} and invoice_id is not null
    group by invoice_id
),

allocations as (
    select *
    from {{ ref('stg_erp__payment_allocations') }}
    where recorded_date <= {{ as_of_date() }}
),

due as (
    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.amount_total,
        coalesce(credit_notes.amount_credited, 0) as amount_credited,
        greatest(invoices.amount_total - coalesce(credit_notes.amount_credited, 0), 0) as amount_due
    from invoices
    left join credit_notes using (invoice_id)
    where invoices.status = 'posted'
),

-- one row per (invoice, allocation), or one row with null allocation columns when none
running as (
    select
        due.invoice_id,
        due.customer_id,
        due.amount_total,
        due.amount_credited,
        due.amount_due,
        allocations.amount,
        allocations.payment_date,
        sum(allocations.amount) over (
            partition by due.invoice_id
            order by allocations.payment_date, allocations.recorded_at, allocations.allocation_id
            rows between unbounded preceding and current row
        ) as cumulative_paid,
        max(allocations.recorded_date) over (
            partition by due.invoice_id
            order by allocations.payment_date, allocations.recorded_at, allocations.allocation_id
            rows between unbounded preceding and current row
        ) as cumulative_recorded_date
    from due
    left join allocations using (invoice_id)
),

final as (
    select
        invoice_id,
        customer_id,
        amount_total,
        amount_credited,
        amount_due,
        coalesce(sum(amount), 0) as amount_paid_erp,
        max(payment_date) as last_payment_date,
        min(payment_date) filter (where cumulative_paid >= amount_due) as settled_date,
        min(cumulative_recorded_date) filter (where cumulative_paid >= amount_due) as settled_known_date
    from running
    group by invoice_id, customer_id, amount_total, amount_credited, amount_due
)

select * from final
