-- One row per KPI group with an invoice issued by the start of the KPI window (the run date minus
-- var kpi_window_days, 30): the open AR at the window start, rebuilt from the invoice history as
-- known on the run date (total - credit notes issued by then - payments dated by then; a bank
-- payment the ERP has not recorded yet counts from its value date), native (null on rows adding up
-- several currencies) and in the reporting currency (*_rpt). CEI's opening AR.
{%- set window_days = var('kpi_window_days', 30) %}

with invoices as (
    select * from {{ ref('int_invoices_converted_to_reporting') }}
    where issue_date <= {{ add_days(as_of_date(), -window_days) }}
),

credit_notes as (
    select invoice_id, sum(amount_total) as amount_credited
    from {{ ref('stg_erp__credit_notes') }}
    where status = 'posted' and invoice_id is not null
      and issue_date <= {{ add_days(as_of_date(), -window_days) }}
    group by invoice_id
),

allocations as (
    select invoice_id, sum(amount) as amount_paid
    from {{ ref('stg_erp__payment_allocations') }}
    where payment_date <= {{ add_days(as_of_date(), -window_days) }}
      and recorded_date <= {{ as_of_date() }}
    group by invoice_id
),

opening as (
    select
        invoices.*,
        greatest(
            invoices.amount_total
            - coalesce(credit_notes.amount_credited, 0)
            - coalesce(allocations.amount_paid, 0)
            - case when invoices.last_payment_date <= {{ add_days(as_of_date(), -window_days) }}
                   then invoices.amount_paid_bank_unrecorded else 0 end,
            0
        ) as amount_open_at_start
    from invoices
    left join credit_notes using (invoice_id)
    left join allocations using (invoice_id)
),

final as (
    select
        {{ kpi_group_keys() }},
        {{ native_sum('amount_open_at_start') }} as ar_opening,
        {{ reporting_sum("amount_open_at_start * fx_rate") }} as ar_opening_rpt
    from opening
    group by {{ kpi_grouping_sets() }}
)

select * from final
