-- One row per inbound message the debtor-side agent decided on (agent.decisions, ml/agent/log.py).
with source as (
    select * from {{ source('agent', 'decisions') }}
),

final as (
    select
        interaction_id,
        customer_id,
        channel,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        intent,
        confidence,
        agent_action,
        handoff_reason,
        case when handoff_reason is null then 'agent' else 'human' end as handled_by,
        promised_date,
        cast(promised_amount as decimal(38, 6)) as promised_amount,
        hold_until,
        cast({{ json_field_text('plan', 'count') }} as integer) as plan_instalments
    from source
)

select * from final
