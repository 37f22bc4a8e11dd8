-- One row per contact task our outbox queued (outbox.contact_tasks; tasks are never updated).
with source as (
    select * from {{ source('outbox', 'contact_tasks') }}
),

final as (
    select
        task_id,
        customer_id,
        contact_id,
        decision_date,
        action,
        channel,
        scheduled_at,
        not_before,
        not_after,
        amount_at_stake,
        currency,
        created_at
    from source
)

select * from final
