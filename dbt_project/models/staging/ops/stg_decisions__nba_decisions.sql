-- One row per account decided on a business date (decisions.nba_decisions), the experiment arm
-- lower-cased.
with source as (
    select * from {{ source('decisions', 'nba_decisions') }}
),

final as (
    select
        cast(as_of_date as date) as decision_date,
        customer_id,
        contact_id,
        action,
        channel,
        scheduled_at,
        amount_at_stake,
        lower(arm) as arm,
        intent,
        segment,
        currency,
        risk_score,
        p_pay,
        expected_value_usd,
        value_over_wait_usd,
        rule_profile,
        cast(reason_codes as varchar) as reason_codes
    from source
)

select * from final
