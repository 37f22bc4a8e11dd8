-- One row per KPI group (macros/kpi_groups.sql: segment x country x currency plus the 'all'
-- roll-ups) with a posted invoice: open AR by aging bucket on the run date, native (null on rows
-- adding up several currencies) and in the reporting currency (*_rpt, unrounded), and the open and
-- overdue invoice and customer counts. Every row of mart_collections_kpis is one of these groups.
with invoices as (
    select * from {{ ref('int_invoices_converted_to_reporting') }}
),

final as (
    select
        {{ kpi_group_keys() }},
        {{ native_sum('amount_open') }} as ar_total,
        {{ native_sum("case when aging_bucket = 'current' then amount_open else 0 end") }} as ar_current,
        {{ native_sum("case when aging_bucket = '1-30' then amount_open else 0 end") }} as ar_1_30,
        {{ native_sum("case when aging_bucket = '31-60' then amount_open else 0 end") }} as ar_31_60,
        {{ native_sum("case when aging_bucket = '61-90' then amount_open else 0 end") }} as ar_61_90,
        {{ native_sum("case when aging_bucket = '90+' then amount_open else 0 end") }} as ar_90_plus,
        {{ reporting_sum("amount_open * fx_rate") }} as ar_total_rpt,
        {{ reporting_sum("case when aging_bucket = 'current' then amount_open * fx_rate else 0 end") }} as ar_current_rpt,
        {{ reporting_sum("case when aging_bucket = '1-30' then amount_open * fx_rate else 0 end") }} as ar_1_30_rpt,
        {{ reporting_sum("case when aging_bucket = '31-60' then amount_open * fx_rate else 0 end") }} as ar_31_60_rpt,
        {{ reporting_sum("case when aging_bucket = '61-90' then amount_open * fx_rate else 0 end") }} as ar_61_90_rpt,
        {{ reporting_sum("case when aging_bucket = '90+' then amount_open * fx_rate else 0 end") }} as ar_90_plus_rpt,
        count(*) filter (where amount_open > 0) as n_open_invoices,
        count(*) filter (where is_overdue) as n_overdue_invoices,
        count(distinct customer_id) filter (where is_overdue) as n_overdue_customers
    from invoices
    group by {{ kpi_grouping_sets() }}
)

select * from final
