-- One row per invoice that, on its own, pushed its customer's open exposure over the credit limit:
-- an invoice issued within alert_exposure_recent_days of the run date, still open, at least
-- alert_exposure_limit_share of the credit limit and alert_exposure_history_multiple times the
-- customer's median invoice before it (a first invoice of a new customer has no median and counts
-- on size alone), after which the customer's open exposure exceeds its limit. A customer drifting
-- over its limit through lateness is the risk model's business (dim_customers.credit_utilisation),
-- not an alert. first_seen_date = the invoice's issue date.
with invoices as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }}
),

customers as (
    select customer_id, credit_limit, amount_open as exposure from {{ ref('dim_customers') }}
    where credit_limit > 0
),

history as (
    select
        recent.invoice_id,
        percentile_cont(0.5) within group (order by earlier.amount_total) as median_before,
        count(earlier.invoice_id) as n_before
    from invoices as recent
    left join invoices as earlier
        on recent.customer_id = earlier.customer_id
        and earlier.issue_date < recent.issue_date
    where recent.issue_date > {{ add_days(as_of_date(), '-' ~ var('alert_exposure_recent_days', 60)) }}
        and recent.amount_open > 0
    group by recent.invoice_id
),

final as (
    select
        'exposure_over_limit' as signal,
        invoices.customer_id,
        invoices.invoice_id as evidence_key,
        case when customers.exposure > 2 * customers.credit_limit then 'high' else 'medium' end as severity,
        cast(customers.exposure / customers.credit_limit as double precision) as score,
        invoices.issue_date as first_seen_date,
        cast(invoices.amount_total as decimal(38, 2)) as amount,
        invoices.currency,
        invoices.invoice_id as evidence,
        'invoice ' || invoices.invoice_number || ' brings open exposure to '
            || cast(cast(customers.exposure as decimal(38, 2)) as varchar) || ' over a limit of '
            || cast(cast(customers.credit_limit as decimal(38, 2)) as varchar) as description
    from history
    inner join invoices on history.invoice_id = invoices.invoice_id
    inner join customers on invoices.customer_id = customers.customer_id
    where customers.exposure > customers.credit_limit
        and invoices.amount_total >= {{ var('alert_exposure_limit_share', 1.0) }} * customers.credit_limit
        and (history.n_before = 0
            or invoices.amount_total >= {{ var('alert_exposure_history_multiple', 3.0) }} * history.median_before)
)

select * from final
