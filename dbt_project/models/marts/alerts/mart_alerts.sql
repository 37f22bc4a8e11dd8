-- One row per early-warning alert with its current status (the latest of its append-only status
-- events), when it got it and how many changes it had. A view, so a status changed with
-- `cobranza alerts ack|resolve|false-positive` shows at once, without a rebuild.
{{ config(materialized='view') }}

with alerts as (
    select * from {{ source('alerts', 'alerts') }}
),

events as (
    select
        *,
        row_number() over (partition by alert_id order by event_seq desc) as recency,
        count(*) over (partition by alert_id) as n_status_events
    from {{ source('alerts', 'alert_events') }}
),

final as (
    select
        alerts.alert_id,
        alerts.signal,
        alerts.customer_id,
        alerts.severity,
        alerts.score,
        alerts.rank_on_day,
        alerts.first_seen_date,
        alerts.raised_on,
        alerts.amount,
        alerts.currency,
        alerts.evidence,
        alerts.description,
        events.status,
        events.event_at as status_at,
        events.actor as status_by,
        events.n_status_events,
        events.status in ('new', 'acknowledged') as is_open
    from alerts
    inner join events on alerts.alert_id = events.alert_id and events.recency = 1
)

select * from final
