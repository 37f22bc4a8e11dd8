-- One row per customer: its payment lateness in recent windows against its own history, point in
-- time as of the run date (the inputs of ml.alerts.behaviour, which scores the break). Two tests of
-- the same kind (the median lateness of a recent window against the median and MAD of the year
-- before it), on two windows:
--   * break: invoices due in the last alert_behaviour_recent_days (120) against those due in the
--     alert_behaviour_history_days (540) before the run date and before the window;
--   * drift: invoices due in the last alert_behaviour_drift_days (240) against the 365 days before
--     the window, so a customer paying a few days later every month (a slow drift) shows as a level
--     shift of the longer window, which the short window's own recent history hides.
-- Lateness = settlement - due date, or days past due so far if still open (a lower bound, so a
-- customer falling behind shows before it pays); only invoices due at least 15 days ago. History
-- counts settled invoices only; recent windows count open ones too.
with invoices as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted' and amount_total > 0
),

lateness as (
    select
        customer_id,
        due_date,
        due_date > {{ add_days(as_of_date(), -var('alert_behaviour_recent_days', 120)) }} as in_recent,
        due_date > {{ add_days(as_of_date(), -var('alert_behaviour_drift_days', 240)) }} as in_drift,
        due_date > {{ add_days(as_of_date(), -var('alert_behaviour_history_days', 540)) }} as in_history,
        due_date > {{ add_days(as_of_date(), -(var('alert_behaviour_drift_days', 240) + 365)) }} as in_drift_history,
        case
            when settled_date is not null and settled_date <= {{ as_of_date() }}
                then {{ days_between('due_date', 'settled_date') }}
            else {{ days_between('due_date', as_of_date()) }}
        end as days_late,
        settled_date is null or settled_date > {{ as_of_date() }} as is_open
    from invoices
    where due_date > {{ add_days(as_of_date(), -(var('alert_behaviour_drift_days', 240) + 365)) }}
        and due_date <= {{ add_days(as_of_date(), -15) }}
),

periods as (
    -- each invoice in the periods it belongs to: recent/history (break), drift/drift_history (drift)
    select customer_id, 'recent' as period, days_late, is_open from lateness where in_recent
    union all
    select customer_id, 'history', days_late, is_open from lateness where in_history and not in_recent and not is_open
    union all
    select customer_id, 'drift', days_late, is_open from lateness where in_drift
    union all
    select customer_id, 'drift_history', days_late, is_open from lateness
    where in_drift_history and not in_drift and not is_open
),

medians as (
    select
        customer_id,
        period,
        count(*) as n_invoices,
        percentile_cont(0.5) within group (order by days_late) as median_days_late,
        avg(case when is_open then 1.0 else 0.0 end) as share_open
    from periods
    group by customer_id, period
),

deviations as (
    select
        periods.customer_id,
        periods.period,
        percentile_cont(0.5) within group (order by abs(periods.days_late - medians.median_days_late)) as mad_days_late
    from periods
    inner join medians on periods.customer_id = medians.customer_id and periods.period = medians.period
    where periods.period in ('history', 'drift_history')
    group by periods.customer_id, periods.period
),

customers as (
    select distinct customer_id from medians where period in ('recent', 'drift')
),

final as (
    select
        customers.customer_id,
        coalesce(history.n_invoices, 0) as n_history,
        cast(history.median_days_late as double precision) as history_median_days_late,
        cast(history_mad.mad_days_late as double precision) as history_mad_days_late,
        coalesce(recent.n_invoices, 0) as n_recent,
        cast(recent.median_days_late as double precision) as recent_median_days_late,
        cast(recent.share_open as double precision) as recent_share_open,
        coalesce(drift_history.n_invoices, 0) as n_drift_history,
        cast(drift_history.median_days_late as double precision) as drift_history_median_days_late,
        cast(drift_mad.mad_days_late as double precision) as drift_history_mad_days_late,
        coalesce(drift.n_invoices, 0) as n_drift,
        cast(drift.median_days_late as double precision) as drift_median_days_late
    from customers
    left join medians as history on customers.customer_id = history.customer_id and history.period = 'history'
    left join medians as recent on customers.customer_id = recent.customer_id and recent.period = 'recent'
    left join medians as drift_history
        on customers.customer_id = drift_history.customer_id and drift_history.period = 'drift_history'
    left join medians as drift on customers.customer_id = drift.customer_id and drift.period = 'drift'
    left join deviations as history_mad
        on customers.customer_id = history_mad.customer_id and history_mad.period = 'history'
    left join deviations as drift_mad
        on customers.customer_id = drift_mad.customer_id and drift_mad.period = 'drift_history'
)

select * from final
