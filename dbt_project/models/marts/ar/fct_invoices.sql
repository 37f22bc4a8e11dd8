-- One row per customer invoice issued up to the run date, with its open amount, days past due,
-- aging bucket and whether it may be dunned (posted, open, overdue, not disputed, not paid in the bank).
with invoices as (
    select * from {{ ref('stg_erp__invoices') }}
    where issue_date <= {{ as_of_date() }}
),

balances as (
    select * from {{ ref('int_invoice_balances_adjusted') }}
),

open_disputes as (
    select distinct invoice_id
    from {{ ref('int_disputes_open') }}
),

joined as (
    select
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.currency,
        invoices.issue_date,
        invoices.due_date,
        invoices.status,
        invoices.amount_total,
        coalesce(balances.amount_credited, 0) as amount_credited,
        case when invoices.status = 'posted' then invoices.amount_open_erp else 0 end as amount_open_erp,
        coalesce(balances.amount_paid_bank_unrecorded, 0) as amount_paid_bank_unrecorded,
        case when invoices.status = 'posted' then coalesce(balances.amount_open, invoices.amount_open_erp) else 0 end
            as amount_open,
        balances.settled_date,
        balances.last_payment_date,
        open_disputes.invoice_id is not null as is_disputed
    from invoices
    left join balances using (invoice_id)
    left join open_disputes using (invoice_id)
),

final as (
    select
        *,
        cast(case when amount_open > 0 and due_date < {{ as_of_date() }}
                  then {{ days_between('due_date', as_of_date()) }} else 0 end as integer) as days_past_due,
        cast(case when amount_open > 0 and due_date < {{ as_of_date() }}
                  then {{ business_days_between('due_date', as_of_date()) }} else 0 end as integer)
            as business_days_past_due,
        case
            when amount_open = 0 then 'closed'
            when due_date >= {{ as_of_date() }} then 'current'
            when {{ days_between('due_date', as_of_date()) }} <= 30 then '1-30'
            when {{ days_between('due_date', as_of_date()) }} <= 60 then '31-60'
            when {{ days_between('due_date', as_of_date()) }} <= 90 then '61-90'
            else '90+'
        end as aging_bucket,
        status = 'posted' and amount_open = 0 as is_paid,
        status = 'posted' and amount_paid_bank_unrecorded > 0 and amount_open = 0 as is_paid_in_bank_pending_erp,
        status = 'posted' and amount_open > 0 and due_date < {{ as_of_date() }} as is_overdue,
        status = 'posted' and amount_open > 0 and due_date < {{ as_of_date() }} and not is_disputed as is_dunnable
    from joined
)

select * from final
