-- One row per KPI group with an invoice issued in the DSO period (the 90 days up to the run date):
-- credit sales of the period and of the KPI window (var kpi_window_days, 30), native (null on rows
-- adding up several currencies) and in the reporting currency (*_rpt). DSO and CEI denominators.
{%- set dso_days = 90 %}
{%- set window_days = var('kpi_window_days', 30) %}

with invoices as (
    select * from {{ ref('int_invoices_converted_to_reporting') }}
    where issue_date > {{ add_days(as_of_date(), -dso_days) }}
),

final as (
    select
        {{ kpi_group_keys() }},
        {{ native_sum("case when issue_date > " ~ add_days(as_of_date(), -dso_days) ~ " then amount_total else 0 end") }}
            as credit_sales_period,
        {{ reporting_sum("case when issue_date > " ~ add_days(as_of_date(), -dso_days) ~ " then amount_total * fx_rate else 0 end") }}
            as credit_sales_period_rpt,
        {{ native_sum("case when issue_date > " ~ add_days(as_of_date(), -window_days) ~ " then amount_total else 0 end") }}
            as credit_sales_window,
        {{ reporting_sum("case when issue_date > " ~ add_days(as_of_date(), -window_days) ~ " then amount_total * fx_rate else 0 end") }}
            as credit_sales_window_rpt
    from invoices
    group by {{ kpi_grouping_sets() }}
)

select * from final
