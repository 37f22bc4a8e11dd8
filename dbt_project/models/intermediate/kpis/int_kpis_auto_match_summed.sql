-- One row per bank credit currency booked within the KPI window (var kpi_window_days, 30), plus the
-- total (segment and country are 'all': a payment has no segment until it is matched): bank credit
-- amount and the amount cash application matched automatically (match_method not unmatched or
-- manual), in the reporting currency (*_rpt) and as the basis of the auto-match rate (native on a
-- currency's row, reporting currency on the total).
{%- set window_days = var('kpi_window_days', 30) %}

with bank as (
    select * from {{ ref('fct_payments') }}
    where booking_date > {{ add_days(as_of_date(), -window_days) }}
),

fx as (
    select currency, cast(fx_rate_to_reporting as decimal(38, 10)) as fx_rate_to_reporting
    from {{ ref('int_fx_rates_selected') }}
),

final as (
    select
        'all' as segment,
        'all' as country,
        case when grouping(bank.currency) = 1 then 'all' else bank.currency end as currency,
        cast(sum(bank.amount * fx.fx_rate_to_reporting) as decimal(38, 12)) as bank_credits_rpt,
        cast(sum(case when bank.match_method not in ('unmatched', 'manual') then bank.amount_matched else 0 end
            * fx.fx_rate_to_reporting) as decimal(38, 12)) as auto_matched_rpt,
        -- the basis: native on a currency's row, reporting currency on the total, in cents (what
        -- DuckDB makes of the coalesce; spelt out so PostgreSQL computes the same rate)
        cast(coalesce(
            case when grouping(bank.currency) = 0 then sum(bank.amount) end,
            sum(bank.amount * fx.fx_rate_to_reporting)
        ) as decimal(38, 2)) as bank_credits_basis,
        cast(coalesce(
            case when grouping(bank.currency) = 0
                 then sum(case when bank.match_method not in ('unmatched', 'manual') then bank.amount_matched else 0 end) end,
            sum(case when bank.match_method not in ('unmatched', 'manual') then bank.amount_matched else 0 end
                * fx.fx_rate_to_reporting)
        ) as decimal(38, 2)) as auto_matched_basis
    from bank
    left join fx using (currency)
    group by grouping sets ((bank.currency), ())
)

select * from final
