-- One row per logged customer interaction (immutable events, deduplicated by id).
with source as (
    select * from {{ source('raw_crm', 'interactions') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (partition by interaction_id order by _loaded_at) = 1
),

final as (
    select
        interaction_id,
        customer_id,
        contact_id,
        lower(channel) as channel,
        lower(direction) as direction,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        lower(outcome) as outcome,
        promised_date,
        promised_amount
    from deduplicated
)

select * from final
