-- One row per state change of an outbox task (outbox.task_events), in event_seq order.
with source as (
    select * from {{ source('outbox', 'task_events') }}
),

final as (
    select
        event_seq,
        task_id,
        state,
        event_at,
        detail,
        provider_message_id
    from source
)

select * from final
