-- One row per open invoice scored on a business date (ml_scores.invoice_scores).
with source as (
    select * from {{ source('ml_scores', 'invoice_scores') }}
),

final as (
    select
        cast(as_of_date as date) as scored_on,
        invoice_id,
        customer_id,
        risk_score,
        model_version,
        scored_at
    from source
)

select * from final
