-- One row per KPI group with a customer payment dated within the KPI window (var kpi_window_days,
-- 30): the amount collected and, per channel, the amount credited to the latest outbound contact in
-- the var recovery_window_days (14) before the payment (last touch, so no payment counts twice),
-- in the reporting currency (unrounded; null where the currency has no rate).
{%- set window_days = var('kpi_window_days', 30) %}
{%- set recovery_days = var('recovery_window_days', 14) %}

with payments as (
    select * from {{ ref('int_payments_converted_to_reporting') }}
    where payment_date > {{ add_days(as_of_date(), -window_days) }}
),

outbound_attempts as (
    -- contacts that went out (CRM-logged, or handed to the provider by our outbox)
    select *, cast(occurred_at as date) as occurred_date
    from {{ ref('fct_interactions') }}
    where direction = 'outbound' and outcome not in ('pending', 'sending', 'failed', 'dead')
),

payment_touches as (
    select
        payments.payment_id,
        outbound_attempts.channel,
        row_number() over (
            partition by payments.payment_id
            order by outbound_attempts.occurred_at desc, outbound_attempts.interaction_id desc
        ) as touch_rank
    from payments
    inner join outbound_attempts
        on outbound_attempts.customer_id = payments.customer_id
        and outbound_attempts.occurred_date <= payments.payment_date
        and outbound_attempts.occurred_date >= {{ add_days('payments.payment_date', -recovery_days) }}
),

last_touch as (
    select payment_id, channel from payment_touches where touch_rank = 1
),

final as (
    select
        {{ kpi_group_keys() }},
        {{ reporting_sum('amount * fx_rate') }} as collected_rpt,
        {%- for channel in ['email', 'whatsapp', 'sms', 'call', 'letter'] %}
        {{ reporting_sum("case when last_touch.channel = '" ~ channel ~ "' then amount * fx_rate else 0 end") }} as recovered_{{ channel }}_rpt
        {{- "," if not loop.last }}
        {%- endfor %}
    from payments
    left join last_touch using (payment_id)
    group by {{ kpi_grouping_sets() }}
)

select * from final
