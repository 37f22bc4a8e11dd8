-- One row per logged customer interaction (immutable events, deduplicated by id).
with source as (
    select * from {{ source('raw_crm', 'interactions') }}
    -- records the raw quality gate quarantined are left out (macros/quarantine.sql)
    where {{ not_quarantined('raw_crm.interactions', 'interaction_id') }}
),

deduplicated as (
    {{ first_row_per('source', 'interaction_id', '_loaded_at') }}
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
