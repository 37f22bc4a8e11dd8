-- The debtor-side agent over the 30 days up to the run date, one row: who handled the inbound
-- messages (the agent alone or a person), promises and plans taken and kept, disputes opened and
-- pay-link payments. A promise is kept as everywhere (macro promise_outcomes): the customer paid at
-- least the promised amount between the promise and its date + var promise_grace_days.
{%- set window_days = 30 %}
{%- set grace_days = promise_grace_days() %}

with decisions as (
    select * from {{ ref('stg_agent__decisions') }}
    where occurred_date <= {{ as_of_date() }}
      and occurred_date > {{ add_days(as_of_date(), -window_days) }}
),

interactions as (
    select * from {{ ref('fct_interactions') }}
    where cast(occurred_at as date) > {{ add_days(as_of_date(), -window_days) }}
),

payments as (
    select * from {{ ref('int_payments_converted_to_reporting') }}
),

promises as (
    select
        interaction_id,
        customer_id,
        occurred_date,
        promised_amount,
        {{ add_days('promised_date', grace_days) }} as deadline
    from decisions
    where agent_action in ('promise_recorded', 'plan_accepted') and promised_date is not null
),

promise_outcomes as (
    select
        outcomes.*,
        outcomes.deadline < {{ as_of_date() }} as is_due
    from (
        {{ promise_outcomes('promises', 'payments', ['interaction_id', 'deadline']) }}
    ) as outcomes
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        (select count(*) from decisions) as n_messages,
        (select count(*) from decisions where handled_by = 'agent') as n_agent_handled,
        (select count(*) from decisions where handled_by = 'human') as n_human_handled,
        (select count(*) filter (where handled_by = 'agent') / nullif(count(*), 0) from decisions)
            as share_agent_handled,
        (select count(*) from decisions where agent_action = 'promise_recorded') as n_promises_taken,
        (select count(*) from decisions where agent_action = 'plan_offered') as n_plans_offered,
        (select count(*) from decisions where agent_action = 'plan_accepted') as n_plans_taken,
        (select count(*) from promise_outcomes where is_due) as n_promises_due,
        (select count(*) from promise_outcomes where is_due and is_kept) as n_promises_kept,
        (select count(*) from decisions where agent_action = 'dispute_opened')
        + (select count(*) from interactions where channel = 'portal' and outcome = 'dispute') as n_disputes_opened,
        (select count(*) from decisions where agent_action = 'opt_out_confirmed') as n_opt_outs,
        (select count(*) from interactions where channel = 'portal' and outcome = 'paid_claim') as n_paylink_payments
)

select * from final
