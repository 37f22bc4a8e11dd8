-- One row per run date x segment x country x currency, plus roll-up rows ('all' markers) for
-- country x currency, currency, segment and the grand total: open AR and aging, DSO (standard,
-- countback, best possible), average days delinquent, CEI over the last 30 days, contact and
-- promise-kept rates, recovery by channel, auto-match rate and the decision log's treatment and
-- control arms with their 14-day paid rates (0 customers and null rates before any decision).
-- Native amounts are null on rows adding up several currencies; *_reporting amounts are in
-- var('reporting_currency') at the rates valid on the run date. Ratios (DSO, CEI, rates) use
-- native amounts where there is one currency and reporting amounts otherwise.
-- Each KPI family is summed per group in its own model (intermediate/kpis); this mart joins them on
-- the open-AR groups (int_kpis_ar_aged), rounds money and takes the ratios across families.
{%- set dso_days = 90 %}

with ar as (
    select * from {{ ref('int_kpis_ar_aged') }}
),

fx as (
    select * from {{ ref('int_fx_rates_selected') }}
),

sales as (
    select * from {{ ref('int_kpis_sales_summed') }}
),

countback as (
    select * from {{ ref('int_kpis_dso_counted_back') }}
),

opening_ar as (
    select * from {{ ref('int_kpis_opening_ar_rebuilt') }}
),

contact_rates as (
    select * from {{ ref('int_kpis_contacts_counted') }}
),

promise_rates as (
    select * from {{ ref('int_kpis_promises_kept') }}
),

recovery as (
    select * from {{ ref('int_kpis_recovery_attributed') }}
),

auto_match as (
    select * from {{ ref('int_kpis_auto_match_summed') }}
),

experiment as (
    select * from {{ ref('int_kpis_experiment_arms_counted') }}
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        ar.segment,
        ar.country,
        ar.currency,
        {{ reporting_currency() }} as reporting_currency,
        fx.fx_rate_to_reporting,
        cast(ar.ar_total as decimal(38, 2)) as ar_total,
        cast(ar.ar_current as decimal(38, 2)) as ar_current,
        cast(ar.ar_1_30 as decimal(38, 2)) as ar_1_30,
        cast(ar.ar_31_60 as decimal(38, 2)) as ar_31_60,
        cast(ar.ar_61_90 as decimal(38, 2)) as ar_61_90,
        cast(ar.ar_90_plus as decimal(38, 2)) as ar_90_plus,
        cast(ar.ar_total - ar.ar_current as decimal(38, 2)) as ar_overdue,
        coalesce({{ safe_ratio('coalesce(ar.ar_total, ar.ar_total_rpt) - coalesce(ar.ar_current, ar.ar_current_rpt)', 'coalesce(ar.ar_total, ar.ar_total_rpt)') }}, 0)
            as pct_overdue,
        cast(ar.n_open_invoices as bigint) as n_open_invoices,
        cast(ar.n_overdue_invoices as bigint) as n_overdue_invoices,
        cast(ar.n_overdue_customers as bigint) as n_overdue_customers,
        cast(case when ar.currency <> 'all' then coalesce(sales.credit_sales_period, 0) end as decimal(38, 2))
            as credit_sales_period,
        {{ safe_ratio('coalesce(ar.ar_total, ar.ar_total_rpt)', 'coalesce(sales.credit_sales_period, sales.credit_sales_period_rpt)', dso_days) }}
            as dso_standard,
        cast(countback.dso_countback as {{ type_double() }}) as dso_countback,
        {{ safe_ratio('coalesce(ar.ar_current, ar.ar_current_rpt)', 'coalesce(sales.credit_sales_period, sales.credit_sales_period_rpt)', dso_days) }}
            as dso_best_possible,
        {{ safe_ratio('coalesce(ar.ar_total, ar.ar_total_rpt) - coalesce(ar.ar_current, ar.ar_current_rpt)', 'coalesce(sales.credit_sales_period, sales.credit_sales_period_rpt)', dso_days) }}
            as avg_days_delinquent,
        {{ to_reporting('ar.ar_total_rpt', 1) }} as ar_total_reporting,
        {{ to_reporting('ar.ar_current_rpt', 1) }} as ar_current_reporting,
        {{ to_reporting('ar.ar_1_30_rpt', 1) }} as ar_1_30_reporting,
        {{ to_reporting('ar.ar_31_60_rpt', 1) }} as ar_31_60_reporting,
        {{ to_reporting('ar.ar_61_90_rpt', 1) }} as ar_61_90_reporting,
        {{ to_reporting('ar.ar_90_plus_rpt', 1) }} as ar_90_plus_reporting,
        {{ to_reporting('ar.ar_total_rpt - ar.ar_current_rpt', 1) }} as ar_overdue_reporting,
        {{ to_reporting('coalesce(sales.credit_sales_period_rpt, 0)', 1) }} as credit_sales_period_reporting,
        {{ to_reporting('coalesce(opening_ar.ar_opening_rpt, 0)', 1) }} as ar_opening_window_reporting,
        {{ to_reporting('coalesce(sales.credit_sales_window_rpt, 0)', 1) }} as credit_sales_window_reporting,
        {{ safe_ratio(
            'coalesce(opening_ar.ar_opening, opening_ar.ar_opening_rpt, 0) + coalesce(sales.credit_sales_window, sales.credit_sales_window_rpt, 0) - coalesce(ar.ar_total, ar.ar_total_rpt)',
            'coalesce(opening_ar.ar_opening, opening_ar.ar_opening_rpt, 0) + coalesce(sales.credit_sales_window, sales.credit_sales_window_rpt, 0) - coalesce(ar.ar_current, ar.ar_current_rpt)',
            100) }} as cei_30d,
        cast(coalesce(contact_rates.n_customers_contacted, 0) as bigint) as n_customers_contacted,
        cast(coalesce(contact_rates.n_customers_contacted_effective, 0) as bigint) as n_customers_contacted_effective,
        {{ safe_ratio('contact_rates.n_customers_contacted', 'ar.n_overdue_customers') }} as contact_rate,
        {{ safe_ratio('contact_rates.n_customers_contacted_effective', 'ar.n_overdue_customers') }} as effective_contact_rate,
        cast(coalesce(promise_rates.n_promises_due, 0) as bigint) as n_promises_due,
        cast(coalesce(promise_rates.n_promises_kept, 0) as bigint) as n_promises_kept,
        {{ safe_ratio('promise_rates.n_promises_kept', 'promise_rates.n_promises_due') }} as promise_kept_rate,
        {{ to_reporting('coalesce(recovery.collected_rpt, 0)', 1) }} as collected_window_reporting,
        {%- for channel in ['email', 'whatsapp', 'sms', 'call', 'letter'] %}
        {{ to_reporting('coalesce(recovery.recovered_' ~ channel ~ '_rpt, 0)', 1) }} as recovered_{{ channel }}_reporting,
        {%- endfor %}
        {{ to_reporting('auto_match.bank_credits_rpt', 1) }} as bank_credits_window_reporting,
        {{ to_reporting('auto_match.auto_matched_rpt', 1) }} as auto_matched_window_reporting,
        {{ safe_ratio('auto_match.auto_matched_basis', 'auto_match.bank_credits_basis') }} as auto_match_rate,
        cast(coalesce(experiment.n_customers_treatment, 0) as bigint) as n_customers_treatment,
        cast(coalesce(experiment.n_customers_control, 0) as bigint) as n_customers_control,
        {{ safe_ratio('experiment.n_paid_treatment', 'experiment.n_customers_treatment') }} as paid_rate_treatment,
        {{ safe_ratio('experiment.n_paid_control', 'experiment.n_customers_control') }} as paid_rate_control
    from ar
    left join fx on fx.currency = ar.currency
    {%- for cte in ['sales', 'countback', 'opening_ar', 'contact_rates', 'promise_rates', 'recovery', 'auto_match', 'experiment'] %}
    left join {{ cte }}
        on {{ cte }}.segment = ar.segment and {{ cte }}.country = ar.country and {{ cte }}.currency = ar.currency
    {%- endfor %}
)

select * from final
