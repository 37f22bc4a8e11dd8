-- One row per customer with a dunnable overdue balance as of the run date (posted, open, overdue,
-- not disputed, not already paid in the bank): the consolidated set of invoices a contact covers.
with dunnable as (
    select * from {{ ref('fct_invoices') }}
    where is_dunnable
),

customers as (
    select * from {{ ref('stg_erp__customers') }}
),

final as (
    select
        dunnable.customer_id,
        customers.customer_name,
        customers.country,
        customers.timezone,
        customers.segment,
        dunnable.currency,
        cast(sum(dunnable.amount_open) as decimal(18, 2)) as overdue_amount,
        cast(count(*) as integer) as n_overdue_invoices,
        cast(max(dunnable.days_past_due) as integer) as max_days_past_due,
        {{ json_object_array(
            [
                ('invoice_id', 'dunnable.invoice_id'),
                ('number', 'dunnable.invoice_number'),
                ('due_date', 'dunnable.due_date'),
                ('amount_open', 'cast(dunnable.amount_open as varchar)'),
                ('days_past_due', 'dunnable.days_past_due'),
            ],
            'dunnable.due_date, dunnable.invoice_id'
        ) }} as invoices_json
    from dunnable
    inner join customers using (customer_id)
    group by
        dunnable.customer_id, customers.customer_name, customers.country, customers.timezone,
        customers.segment, dunnable.currency
)

select * from final
