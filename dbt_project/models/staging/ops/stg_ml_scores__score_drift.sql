-- One row per model feature (and __score__) and business date with its population stability index
-- (ml_scores.score_drift).
with source as (
    select * from {{ source('ml_scores', 'score_drift') }}
),

final as (
    select
        cast(as_of_date as date) as scored_on,
        feature,
        psi,
        n_reference_bins,
        n_current,
        is_drifted,
        is_exempt,
        model_version,
        scored_at
    from source
)

select * from final
