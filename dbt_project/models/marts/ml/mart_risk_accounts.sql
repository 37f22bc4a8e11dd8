{{ config(materialized='view') }}
-- One row per customer with open invoices scored on the latest scoring date up to the run date:
-- expected loss (sum of risk score x open amount in the reporting currency), open and overdue
-- amounts, the worst days past due, the model version, and the customer's next-best action of the
-- run date (decisions.nba_decisions), if decided. A view for the same reason as
-- mart_open_invoice_risk: scores and decisions are written after the dbt build.
with scored as (
    select * from {{ ref('mart_open_invoice_risk') }}
),

decided_today as (
    select
        customer_id,
        {{ any_value('action') }} as action_today,
        {{ any_value('channel') }} as channel_today,
        {{ any_value('reason_codes') }} as reason_codes_today
    from {{ ref('stg_decisions__nba_decisions') }}
    where decision_date = {{ as_of_date() }}
    group by customer_id
),

accounts as (
    select
        customer_id,
        customer_name,
        segment,
        country,
        customer_currency as currency,
        scored_on,
        max(model_version) as model_version,
        count(*) as n_open_invoices,
        sum(amount_open_reporting) as amount_open_reporting,
        sum(case when days_past_due > 0 then amount_open_reporting else 0 end) as amount_overdue_reporting,
        max(days_past_due) as max_days_past_due,
        sum(risk_score * amount_open_reporting) as expected_loss_reporting,
        sum(risk_score * amount_open_reporting) / nullif(sum(amount_open_reporting), 0) as risk_weighted
    from scored
    group by customer_id, customer_name, segment, country, customer_currency, scored_on
),

final as (
    select
        accounts.*,
        decided_today.action_today,
        decided_today.channel_today,
        decided_today.reason_codes_today
    from accounts
    left join decided_today on decided_today.customer_id = accounts.customer_id
)

select * from final
