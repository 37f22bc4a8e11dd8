-- One row per KPI group (the promising customer's segment, country and currency) with a promise to
-- pay whose deadline (promised date + var promise_grace_days, 3) passed within the 90 days before
-- the run date: promises due, and promises kept (the customer paid at least the promised amount,
-- or anything when no amount was promised, between the promise and the deadline: macro
-- promise_outcomes, the one definition).
{%- set dso_days = 90 %}
{%- set grace_days = promise_grace_days() %}

with interactions as (
    select * from {{ ref('fct_interactions') }}
),

payments as (
    select * from {{ ref('int_payments_converted_to_reporting') }}
),

customers as (
    select * from {{ ref('int_customers_segmented') }}
),

promises as (
    select
        interaction_id,
        customer_id,
        cast(occurred_at as date) as occurred_date,
        promised_amount,
        {{ add_days('promised_date', grace_days) }} as deadline
    from interactions
    where outcome = 'promise_to_pay'
      and promised_date is not null
      and {{ add_days('promised_date', grace_days) }} < {{ as_of_date() }}
      and {{ add_days('promised_date', grace_days) }} >= {{ add_days(as_of_date(), -dso_days) }}
),

promise_outcomes as (
    {{ promise_outcomes('promises', 'payments', ['interaction_id', 'customer_id']) }}
),

promises_grouped as (
    select
        promise_outcomes.*,
        customers.dim_segment,
        customers.dim_country,
        customers.customer_currency as dim_currency
    from promise_outcomes
    inner join customers using (customer_id)
),

final as (
    select
        {{ kpi_group_keys() }},
        count(*) as n_promises_due,
        count(*) filter (where is_kept) as n_promises_kept
    from promises_grouped
    group by {{ kpi_grouping_sets() }}
)

select * from final
