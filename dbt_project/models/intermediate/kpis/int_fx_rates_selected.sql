-- One row per currency with a rate valid on the run date: units of var('reporting_currency') per
-- unit of the currency (macros/reporting.sql, seed fx_rates; a currency without a valid rate has
-- no row, so its reporting amounts stay null instead of silently 1). The KPI models convert with it.
with

{{ fx_valid_rates(as_of_date()) }},

final as (
    {{ fx_rates_to_reporting(as_of_date()) | indent(4) }}
)

select * from final
