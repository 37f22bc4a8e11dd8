-- One row per currency on the run date: the open AR the marts carry against the open AR the ERP
-- states for the same posted invoices. A difference means rows were lost, duplicated or
-- mis-joined between raw and marts; the pre_dispatch gate stops the run when it exceeds the
-- tolerance, so nobody is dunned from figures that do not add up.
with erp as (
    select currency, sum(amount_open_erp) as erp_open_total, count(*) as erp_open_invoices
    from {{ ref('stg_erp__invoices') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }} and amount_open_erp > 0
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
        coalesce(marts.mart_open_erp_total, 0) - coalesce(erp.erp_open_total, 0) as difference,
        cast(
            case
                when coalesce(erp.erp_open_total, 0) = 0 then
                    case when coalesce(marts.mart_open_erp_total, 0) = 0 then 0 else 1 end
                else (coalesce(marts.mart_open_erp_total, 0) - erp.erp_open_total) / erp.erp_open_total
            end as {{ type_double() }}
        ) as relative_difference,
        coalesce(erp.erp_open_invoices, 0) as erp_open_invoices,
        coalesce(marts.mart_open_invoices, 0) as mart_open_invoices
    from erp
    full outer join marts on erp.currency = marts.currency
)

select * from final
