-- One row per customer that suddenly stopped paying everything: it paid regularly (at least
-- alert_stop_min_payments bank payments in the year before its last one), nothing has arrived for
-- longer than alert_stop_gap_multiple times its usual gap between payment days, longer than its
-- longest gap of that year (alert_stop_max_gap_multiple times it: a chronic payer whose payments
-- come months apart is silent that long as a habit) and at least alert_stop_min_days, and it has at
-- least alert_stop_min_overdue invoices that fell due after its last payment and are more than 30
-- days past due. The
-- evidence key is the last payment, so a customer that resumes and stops again raises a new signal.
-- first_seen_date = the day the silence passed the threshold.
with payments as (
    select distinct customer_id, booking_date from {{ ref('int_alert_payments_by_payer') }}
),

last_payment as (
    select customer_id, max(booking_date) as last_paid_date from payments group by customer_id
),

gaps as (
    select
        payments.customer_id,
        {{ days_between('lag(payments.booking_date) over (partition by payments.customer_id order by payments.booking_date)', 'payments.booking_date') }} as gap_days
    from payments
    inner join last_payment on payments.customer_id = last_payment.customer_id
    where payments.booking_date > {{ add_days('last_payment.last_paid_date', -365) }}
),

rhythm as (
    select
        customer_id,
        count(*) as n_payment_days,
        percentile_cont(0.5) within group (order by gap_days) as median_gap_days,
        max(gap_days) as max_gap_days
    from gaps
    where gap_days is not null
    group by customer_id
),

-- invoices that fell due after the last payment and are still open 30+ days later: a customer with
-- nothing due in the silence has not stopped paying, it has had nothing to pay
overdue as (
    select
        invoices.customer_id,
        count(*) as n_overdue,
        sum(invoices.amount_open) as amount_overdue,
        {{ any_value('invoices.currency') }} as currency
    from {{ ref('fct_invoices') }} as invoices
    inner join last_payment on invoices.customer_id = last_payment.customer_id
    where invoices.status = 'posted' and invoices.amount_open > 0 and invoices.days_past_due > 30
        and invoices.due_date > last_payment.last_paid_date
    group by invoices.customer_id
),

thresholds as (
    select
        last_payment.customer_id,
        last_payment.last_paid_date,
        rhythm.median_gap_days,
        overdue.n_overdue,
        overdue.amount_overdue,
        overdue.currency,
        cast(greatest(
            {{ var('alert_stop_min_days', 90) }},
            {{ var('alert_stop_gap_multiple', 4) }} * rhythm.median_gap_days,
            {{ var('alert_stop_max_gap_multiple', 1.0) }} * rhythm.max_gap_days
        ) as integer) as silence_threshold_days
    from last_payment
    inner join rhythm on last_payment.customer_id = rhythm.customer_id
    inner join overdue on last_payment.customer_id = overdue.customer_id
    where rhythm.n_payment_days + 1 >= {{ var('alert_stop_min_payments', 3) }} and overdue.n_overdue >= {{ var('alert_stop_min_overdue', 1) }}
),

final as (
    select
        'stopped_paying' as signal,
        customer_id,
        cast(last_paid_date as varchar) as evidence_key,
        'high' as severity,
        cast({{ days_between('last_paid_date', as_of_date()) }} as double precision) / greatest(median_gap_days, 1) as score,
        {{ add_days('last_paid_date', 'silence_threshold_days') }} as first_seen_date,
        cast(amount_overdue as decimal(38, 2)) as amount,
        currency,
        cast(last_paid_date as varchar) as evidence,
        'no payment since ' || cast(last_paid_date as varchar) || ' (usually every '
            || cast(cast(median_gap_days as integer) as varchar) || ' days); '
            || cast(n_overdue as varchar) || ' invoices due since and over 30 days past due' as description
    from thresholds
    where {{ days_between('last_paid_date', as_of_date()) }} > silence_threshold_days
)

select * from final
