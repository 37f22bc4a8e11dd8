-- One row per customer: its payment lateness in a recent window against its own history, point in
-- time as of the run date (the inputs of ml.alerts.behaviour, which scores the break). History =
-- invoices due between alert_behaviour_history_days and alert_behaviour_recent_days before the run
-- date and settled by it; recent = invoices due in the last alert_behaviour_recent_days (but at
-- least 15 days ago), their lateness = settlement - due date, or days past due so far if still open
-- (a lower bound, so a customer falling behind shows before it pays).
with invoices as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted' and amount_total > 0
),

lateness as (
    select
        customer_id,
        due_date,
        case
            when due_date > {{ add_days(as_of_date(), -var('alert_behaviour_recent_days', 120)) }} then 'recent'
            else 'history'
        end as period,
        case
            when settled_date is not null and settled_date <= {{ as_of_date() }}
                then {{ days_between('due_date', 'settled_date') }}
            else {{ days_between('due_date', as_of_date()) }}
        end as days_late,
        settled_date is null or settled_date > {{ as_of_date() }} as is_open
    from invoices
    where due_date > {{ add_days(as_of_date(), -var('alert_behaviour_history_days', 540)) }}
        and due_date <= {{ add_days(as_of_date(), -15) }}
),

kept as (
    -- history counts settled invoices only; recent ones count open too (lower bound)
    select * from lateness where period = 'recent' or not is_open
),

medians as (
    select
        customer_id,
        period,
        count(*) as n_invoices,
        percentile_cont(0.5) within group (order by days_late) as median_days_late,
        avg(case when is_open then 1.0 else 0.0 end) as share_open
    from kept
    group by customer_id, period
),

deviations as (
    select
        kept.customer_id,
        percentile_cont(0.5) within group (order by abs(kept.days_late - medians.median_days_late)) as mad_days_late
    from kept
    inner join medians on kept.customer_id = medians.customer_id and medians.period = 'history'
    where kept.period = 'history'
    group by kept.customer_id
),

final as (
    select
        history.customer_id,
        history.n_invoices as n_history,
        cast(history.median_days_late as double precision) as history_median_days_late,
        cast(deviations.mad_days_late as double precision) as history_mad_days_late,
        recent.n_invoices as n_recent,
        cast(recent.median_days_late as double precision) as recent_median_days_late,
        cast(recent.share_open as double precision) as recent_share_open
    from medians as history
    inner join medians as recent on history.customer_id = recent.customer_id and recent.period = 'recent'
    inner join deviations on history.customer_id = deviations.customer_id
    where history.period = 'history'
)

select * from final
