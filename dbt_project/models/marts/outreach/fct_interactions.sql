-- One row per touch with a customer up to the run date, across channels and systems: the
-- omnichannel thread. Outbound and inbound interactions logged in the CRM, plus the contact tasks
-- our own outbox created (with their latest delivery state), ordered in time per customer
-- (thread_seq). Before the first dispatch the outbox is empty and only the CRM counts. An inbound
-- message the debtor-side agent answered carries its intent, confidence and the agent's action.
-- Incremental (macros/incremental.sql): thread_seq numbers a customer's whole thread, so a daily
-- run recomputes the whole thread of the customers with a touch, task or event in the look-back window.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_recomputed('customer_id', changed_interaction_customers()) }}"
) }}
-- depends_on: {{ ref('int_changed_interaction_customers') }}

with crm as (
    select
        interaction_id,
        customer_id,
        contact_id,
        channel,
        direction,
        occurred_at,
        outcome,
        promised_date,
        cast(promised_amount as decimal(18, 2)) as promised_amount,
        'crm' as source
    from {{ ref('stg_crm__interactions') }}
    where occurred_date <= {{ as_of_date() }}
    {%- if is_incremental() %}
        and customer_id in ({{ changed_interaction_customers() }})
    {%- endif %}
),

tasks as (
    select * from {{ ref('stg_outbox__contact_tasks') }}
    {%- if is_incremental() %}
    where customer_id in ({{ changed_interaction_customers() }})
    {%- endif %}
),

events as (
    select * from {{ ref('stg_outbox__task_events') }}
),

latest_events as (
    -- the current state of a task is its latest event (the outbox never updates rows)
    select task_id, state, event_at
    from (
        select
            task_id,
            state,
            event_at,
            row_number() over (partition by task_id order by event_seq desc) as _row_number
        from events
        where cast(event_at as date) <= {{ as_of_date() }}
    ) as ranked
    where _row_number = 1
),

sent_events as (
    select task_id, min(event_at) as sent_at
    from events
    where state = 'sent' and cast(event_at as date) <= {{ as_of_date() }}
    group by task_id
),

outbox as (
    select
        tasks.task_id as interaction_id,
        tasks.customer_id,
        tasks.contact_id,
        -- a call task is a call by an agent; internal tasks (dispute review) never reach the customer
        case when tasks.channel = 'call_task' then 'call' else tasks.channel end as channel,
        'outbound' as direction,
        coalesce(sent_events.sent_at, tasks.scheduled_at) as occurred_at,
        coalesce(latest_events.state, 'pending') as outcome,
        cast(null as date) as promised_date,
        cast(null as decimal(18, 2)) as promised_amount,
        'outbox' as source
    from tasks
    left join latest_events using (task_id)
    left join sent_events using (task_id)
    where tasks.decision_date <= {{ as_of_date() }}
      and tasks.channel <> 'internal'
),

agent as (
    select interaction_id, intent, confidence, agent_action from {{ ref('stg_agent__decisions') }}
),

unioned as (
    select * from crm
    union all
    select * from outbox
),

final as (
    select
        cast(interaction_id as varchar) as interaction_id,
        customer_id,
        contact_id,
        -- declared: PostgreSQL types the union of literals and columns differently on a table's
        -- first build and on an incremental one (text vs character varying)
        cast(channel as varchar) as channel,
        cast(direction as varchar) as direction,
        cast(occurred_at as timestamp) as occurred_at,
        cast(outcome as varchar) as outcome,
        promised_date,
        promised_amount,
        cast(source as varchar) as source,
        cast(row_number() over (
            partition by customer_id order by occurred_at, source, interaction_id
        ) as bigint) as thread_seq,
        agent.intent,
        agent.confidence,
        agent.agent_action
    from unioned
    left join agent using (interaction_id)
)

select * from final
