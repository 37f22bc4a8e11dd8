{{ config(materialized='view') }}
-- One row per open invoice scored on the latest scoring date up to the run date: the champion's
-- probability of paying late (ml_scores.invoice_scores), the open amount in the reporting currency
-- at the run date's rates, days past due and the customer's segment and country. A view: the score
-- stage writes after the dbt build, and the KPI report reads the day's scores as soon as they land.
with scores as (
    select * from {{ ref('stg_ml_scores__invoice_scores') }}
    where scored_on <= {{ as_of_date() }}
),

latest as (
    select max(scored_on) as scored_on from scores
),

{{ fx_valid_rates(as_of_date()) }},

fx as (
    {{ fx_rates_to_reporting(as_of_date()) | indent(4) }}
),

final as (
    select
        scores.scored_on,
        scores.invoice_id,
        scores.customer_id,
        customers.customer_name,
        customers.segment,
        customers.country,
        customers.currency as customer_currency,
        invoices.currency,
        invoices.amount_open,
        cast(invoices.amount_open as {{ type_double() }}) * cast(fx.fx_rate_to_reporting as {{ type_double() }})
            as amount_open_reporting,
        invoices.days_past_due,
        scores.risk_score,
        scores.model_version
    from scores
    inner join latest on scores.scored_on = latest.scored_on
    inner join {{ ref('fct_invoices') }} as invoices on invoices.invoice_id = scores.invoice_id
    inner join fx on fx.currency = invoices.currency
    inner join {{ ref('dim_customers') }} as customers on customers.customer_id = invoices.customer_id
    where invoices.amount_open > 0
)

select * from final
