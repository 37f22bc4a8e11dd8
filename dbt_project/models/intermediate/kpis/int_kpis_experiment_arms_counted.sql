-- One row per KPI group (the decided customer's segment, country and currency) with a customer the
-- decision log (stg_decisions__nba_decisions) put in an arm on a day whose outcome window (var
-- recovery_window_days, 14) closed within the KPI window (var kpi_window_days, 30): customers per
-- arm (treatment, control), and those who paid anything within the outcome window after the
-- decision. Treatment vs control paid rates.
{%- set window_days = var('kpi_window_days', 30) %}
{%- set recovery_days = var('recovery_window_days', 14) %}

with decisions as (
    select * from {{ ref('stg_decisions__nba_decisions') }}
),

payments as (
    select * from {{ ref('int_payments_converted_to_reporting') }}
),

customers as (
    select * from {{ ref('int_customers_segmented') }}
),

decided as (
    select distinct customer_id, decision_date, arm
    from decisions
    where arm is not null
      and decision_date <= {{ add_days(as_of_date(), -recovery_days) }}
      and decision_date > {{ add_days(as_of_date(), -(recovery_days + window_days)) }}
),

outcomes as (
    select
        decided.customer_id,
        decided.arm,
        customers.dim_segment,
        customers.dim_country,
        customers.customer_currency as dim_currency,
        exists (
            select 1 from payments
            where payments.customer_id = decided.customer_id
              and payments.payment_date > decided.decision_date
              and payments.payment_date <= {{ add_days('decided.decision_date', recovery_days) }}
        ) as has_paid
    from decided
    inner join customers using (customer_id)
),

final as (
    select
        {{ kpi_group_keys() }},
        count(*) filter (where arm = 'treatment') as n_customers_treatment,
        count(*) filter (where arm = 'control') as n_customers_control,
        count(*) filter (where arm = 'treatment' and has_paid) as n_paid_treatment,
        count(*) filter (where arm = 'control' and has_paid) as n_paid_control
    from outcomes
    group by {{ kpi_grouping_sets() }}
)

select * from final
