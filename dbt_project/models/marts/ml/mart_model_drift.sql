{{ config(materialized='view') }}
-- One row per model input (and __score__, the score itself) with its population stability index on
-- the latest scoring date up to the run date (ml_scores.score_drift, written by the score stage
-- after the dbt build, hence a view): the KPI report's model-health section.
with drift as (
    select * from {{ ref('stg_ml_scores__score_drift') }}
    where scored_on <= {{ as_of_date() }}
),

latest as (
    select max(scored_on) as scored_on from drift
),

final as (
    select
        drift.scored_on,
        drift.feature,
        drift.psi,
        drift.n_reference_bins,
        drift.n_current,
        drift.is_drifted,
        drift.is_exempt,
        drift.model_version
    from drift
    inner join latest on drift.scored_on = latest.scored_on
)

select * from final
