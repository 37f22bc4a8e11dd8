-- One row per customer (and currency) with a dunnable overdue balance, or with invoices coming due
-- within var('predue_days') days, as of the run date (posted, open, not disputed, not already paid in
-- the bank): the consolidated set of invoices a contact covers (overdue in invoices_json, coming due
-- in upcoming_invoices_json: a customer with only the latter gets a pre-due reminder), and whether a
-- dispute opened since the previous run needs a review (routed to dispute review, no dunning that day).
-- predue_days defaults to NbaConfig.predue_days (60): a contact to a late payer covers the invoices
-- coming due in the next two months too (a statement of the open items).
{%- set predue_days = var('predue_days', 60) %}
with dunnable as (
    select * from {{ ref('fct_invoices') }}
    where is_dunnable
),

upcoming as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted'
      and amount_open > 0
      and not is_disputed
      and due_date >= {{ as_of_date() }}
      and due_date <= {{ add_days(as_of_date(), predue_days) }}
),

customers as (
    select * from {{ ref('stg_erp__customers') }}
),

new_disputes as (
    -- disputes open today that were opened since the previous run
    select distinct customer_id
    from {{ ref('int_disputes_open') }}
    where opened_date >= {{ add_days(as_of_date(), -1) }}
),

overdue_by_customer as (
    select
        customer_id,
        currency,
        cast(sum(amount_open) as decimal(18, 2)) as overdue_amount,
        cast(count(*) as integer) as n_overdue_invoices,
        cast(max(days_past_due) as integer) as max_days_past_due,
        {{ json_object_array(
            [
                ('invoice_id', 'invoice_id'),
                ('number', 'invoice_number'),
                ('due_date', 'due_date'),
                ('amount_open', 'cast(amount_open as varchar)'),
                ('days_past_due', 'days_past_due'),
            ],
            'due_date, invoice_id'
        ) }} as invoices_json
    from dunnable
    group by customer_id, currency
),

upcoming_by_customer as (
    select
        customer_id,
        currency,
        cast(sum(amount_open) as decimal(18, 2)) as upcoming_amount,
        {{ json_object_array(
            [
                ('invoice_id', 'invoice_id'),
                ('number', 'invoice_number'),
                ('due_date', 'due_date'),
                ('amount_open', 'cast(amount_open as varchar)'),
                ('days_past_due', days_between('due_date', as_of_date())),
            ],
            'due_date, invoice_id'
        ) }} as upcoming_invoices_json
    from upcoming
    group by customer_id, currency
),

accounts as (
    select
        coalesce(o.customer_id, u.customer_id) as customer_id,
        coalesce(o.currency, u.currency) as currency,
        coalesce(o.overdue_amount, 0) as overdue_amount,
        coalesce(o.n_overdue_invoices, 0) as n_overdue_invoices,
        coalesce(o.max_days_past_due, 0) as max_days_past_due,
        coalesce(o.invoices_json, '[]') as invoices_json,
        coalesce(u.upcoming_amount, 0) as upcoming_amount,
        coalesce(u.upcoming_invoices_json, '[]') as upcoming_invoices_json
    from overdue_by_customer as o
    full outer join upcoming_by_customer as u
        on o.customer_id = u.customer_id and o.currency = u.currency
),

final as (
    select
        accounts.customer_id,
        customers.customer_name,
        customers.country,
        customers.timezone,
        customers.segment,
        accounts.currency,
        cast(accounts.overdue_amount as decimal(18, 2)) as overdue_amount,
        cast(accounts.n_overdue_invoices as integer) as n_overdue_invoices,
        cast(accounts.max_days_past_due as integer) as max_days_past_due,
        accounts.invoices_json,
        cast(accounts.upcoming_amount as decimal(18, 2)) as upcoming_amount,
        accounts.upcoming_invoices_json,
        new_disputes.customer_id is not null as needs_dispute_review
    from accounts
    inner join customers using (customer_id)
    left join new_disputes using (customer_id)
    -- a quarantined allocation, credit note, dispute or interaction of the customer makes its balance or
    -- history unreliable: held from dunning until the record is fixed (macros/quarantine.sql)
    where {{ customer_not_held('accounts.customer_id', ['raw_erp.credit_notes', 'raw_erp.payment_allocations',
                                                       'raw_crm.disputes', 'raw_crm.interactions']) }}
)

select * from final
