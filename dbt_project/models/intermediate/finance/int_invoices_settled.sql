-- One row per posted invoice: what is due after credit notes, and when the ERP recorded it as
-- settled (the day the cumulative recorded allocations covered the amount due), as of the run date.
with invoices as (
    select * from {{ ref('stg_erp__invoices') }}
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

running as (
    select
        allocations.invoice_id,
        allocations.payment_date,
        allocations.recorded_date,
        sum(allocations.amount) over (
            partition by allocations.invoice_id
            order by allocations.payment_date, allocations.recorded_at, allocations.allocation_id
            rows between unbounded preceding and current row
        ) as cumulative_paid,
        max(allocations.recorded_date) over (
            partition by allocations.invoice_id
            order by allocations.payment_date, allocations.recorded_at, allocations.allocation_id
            rows between unbounded preceding and current row
        ) as cumulative_recorded_date
    from allocations
),

settlement as (
    select
        running.invoice_id,
        min(running.payment_date) as settled_date,
        min(running.cumulative_recorded_date) as settled_known_date
    from running
    inner join due using (invoice_id)
    where running.cumulative_paid >= due.amount_due
    group by running.invoice_id
),

paid as (
    select invoice_id, sum(amount) as amount_paid_erp, max(payment_date) as last_payment_date
    from allocations
    group by invoice_id
),

final as (
    select
        due.invoice_id,
        due.customer_id,
        due.amount_total,
        due.amount_credited,
        due.amount_due,
        coalesce(paid.amount_paid_erp, 0) as amount_paid_erp,
        paid.last_payment_date,
        settlement.settled_date,
        settlement.settled_known_date
    from due
    left join paid using (invoice_id)
    left join settlement using (invoice_id)
)

select * from final
