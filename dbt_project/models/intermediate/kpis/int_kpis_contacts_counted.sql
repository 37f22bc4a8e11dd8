-- One row per KPI group with a customer overdue on the run date: of those customers, how many had
-- an outbound contact that went out (CRM-logged, or handed to the provider by our outbox) within
-- the KPI window (var kpi_window_days, 30), and how many an effective one (delivered, read, replied
-- to, won a promise, or the customer wrote back). A customer overdue in two currencies counts
-- once in each. The numerators of the contact rates (the denominator is int_kpis_ar_aged's
-- n_overdue_customers).
{%- set window_days = var('kpi_window_days', 30) %}

with invoices as (
    select * from {{ ref('int_invoices_converted_to_reporting') }}
),

interactions as (
    select * from {{ ref('fct_interactions') }}
),

overdue_customers as (
    select distinct customer_id, dim_segment, dim_country, dim_currency
    from invoices
    where is_overdue
),

contacted as (
    select
        customer_id,
        max(case when direction = 'outbound' and outcome not in ('pending', 'sending', 'failed', 'dead')
                 then 1 else 0 end) as is_contacted,
        max(case when outcome in ('delivered', 'read', 'replied', 'promise_to_pay') or direction = 'inbound'
                 then 1 else 0 end) as is_effective
    from interactions
    where cast(occurred_at as date) > {{ add_days(as_of_date(), -window_days) }}
      and cast(occurred_at as date) <= {{ as_of_date() }}
    group by customer_id
),

final as (
    select
        {{ kpi_group_keys() }},
        count(*) filter (where contacted.is_contacted = 1) as n_customers_contacted,
        count(*) filter (where contacted.is_contacted = 1 and contacted.is_effective = 1) as n_customers_contacted_effective
    from overdue_customers
    left join contacted using (customer_id)
    group by {{ kpi_grouping_sets() }}
)

select * from final
