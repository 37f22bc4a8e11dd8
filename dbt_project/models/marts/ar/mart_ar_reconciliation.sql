-- One row per currency on the run date: the open AR the marts carry against the open AR the ERP
-- states for the same posted invoices. A difference means rows were lost, duplicated or
-- mis-joined between raw and marts; the pre_dispatch gate stops the run when it exceeds the
-- tolerance, so nobody is dunned from figures that do not add up.
-- The ERP side is every invoice the ERP states (raw, latest version), including those the raw gate
-- quarantined (a negative amount, dated 1900, a customer the ERP does not have): the marts leave
-- them out, so their open amount is a named reconciling item, quarantined_open_total, and
-- marts + quarantined = ERP. The gate also stops the run when that item is a large share of AR
-- (expectations/suites/marts__mart_ar_reconciliation.py).
with erp_invoices as (
    select * from {{ source('raw_erp', 'invoices') }}
),

erp_latest as (
    {{ first_row_per('erp_invoices', 'invoice_id', 'updated_at desc, _loaded_at desc') }}
),

erp_open as (
    select
        invoice_id,
        upper(currency) as currency,
        amount_open as amount_open_erp,
        not ({{ not_quarantined('raw_erp.invoices', 'invoice_id') }}) as is_quarantined
    from erp_latest
    where lower(status) = 'posted' and issue_date <= {{ as_of_date() }} and amount_open > 0
),

erp as (
    select
        currency,
        sum(amount_open_erp) as erp_open_total,
        count(*) as erp_open_invoices,
        coalesce(sum(amount_open_erp) filter (where is_quarantined), 0) as quarantined_open_total,
        count(*) filter (where is_quarantined) as quarantined_open_invoices
    from erp_open
    group by currency
),

marts as (
    select
        currency,
        sum(amount_open_erp) as mart_open_erp_total,
        count(*) filter (where amount_open_erp > 0) as mart_open_invoices,
        sum(amount_open) as mart_open_total,
        sum(amount_open_erp - amount_open) as bank_unrecorded_applied
    from {{ ref('fct_invoices') }}
    where status = 'posted'
    group by currency
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        coalesce(erp.currency, marts.currency) as currency,
        coalesce(erp.erp_open_total, 0) as erp_open_total,
        coalesce(marts.mart_open_erp_total, 0) as mart_open_erp_total,
        coalesce(marts.mart_open_total, 0) as mart_open_total,
        coalesce(marts.bank_unrecorded_applied, 0) as bank_unrecorded_applied,
        coalesce(erp.quarantined_open_total, 0) as quarantined_open_total,
        coalesce(marts.mart_open_erp_total, 0) + coalesce(erp.quarantined_open_total, 0)
            - coalesce(erp.erp_open_total, 0) as difference,
        cast(
            case
                when coalesce(erp.erp_open_total, 0) = 0 then
                    case when coalesce(marts.mart_open_erp_total, 0) = 0 then 0 else 1 end
                else (
                    coalesce(marts.mart_open_erp_total, 0) + coalesce(erp.quarantined_open_total, 0)
                    - erp.erp_open_total
                ) / erp.erp_open_total
            end as {{ type_double() }}
        ) as relative_difference,
        cast(
            case
                when coalesce(erp.erp_open_total, 0) = 0 then 0
                else coalesce(erp.quarantined_open_total, 0) / erp.erp_open_total
            end as {{ type_double() }}
        ) as quarantined_share,
        coalesce(erp.erp_open_invoices, 0) as erp_open_invoices,
        coalesce(marts.mart_open_invoices, 0) as mart_open_invoices,
        coalesce(erp.quarantined_open_invoices, 0) as quarantined_open_invoices
    from erp
    full outer join marts on erp.currency = marts.currency
)

select * from final
