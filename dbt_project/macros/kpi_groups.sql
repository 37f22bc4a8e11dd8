{#-
  The KPI roll-up levels of mart_collections_kpis, as GROUP BY GROUPING SETS over the columns
  dim_segment, dim_country and dim_currency of the rows being aggregated:
    segment x country x currency, country x currency, currency (all segments and countries),
    segment (all countries and currencies, reporting currency only) and the grand total.
  `extra` adds columns to every set (for example a month, for the countback walk).
-#}
{% macro kpi_grouping_sets(extra=none) -%}
    {%- set more = (', ' ~ extra) if extra else '' -%}
    grouping sets (
        (dim_segment, dim_country, dim_currency{{ more }}),
        (dim_country, dim_currency{{ more }}),
        (dim_currency{{ more }}),
        (dim_segment{{ more }}),
        ({{ extra if extra else '' }})
    )
{%- endmacro %}

{#- The KPI group columns of a row of `rows` (an invoice or a payment) joined to int_customers_segmented
    as `customers` and int_fx_rates_selected as `fx`: the customer's segment and country ('unknown'
    when the customer is not known), the row's own currency, and its rate to the reporting currency
    (null without one). -#}
{% macro kpi_group_columns(rows) -%}
    coalesce(customers.dim_segment, 'unknown') as dim_segment,
    coalesce(customers.dim_country, 'unknown') as dim_country,
    {{ rows }}.currency as dim_currency,
    cast(fx.fx_rate_to_reporting as decimal(38, 10)) as fx_rate
{%- endmacro %}

{#- The group key columns segment, country, currency of a kpi_grouping_sets aggregate; a level
    that rolls a dimension up says 'all'. -#}
{% macro kpi_group_keys() -%}
    case when grouping(dim_segment) = 1 then 'all' else dim_segment end as segment,
    case when grouping(dim_country) = 1 then 'all' else dim_country end as country,
    case when grouping(dim_currency) = 1 then 'all' else dim_currency end as currency
{%- endmacro %}

{#- A native-currency sum (money, 2 decimals) that is null on the rows adding up several currencies.
    The type is spelt out so the KPI models have the same column types on DuckDB and PostgreSQL
    (a PostgreSQL sum of numerics has no declared scale). -#}
{% macro native_sum(expr) -%}
    cast(case when grouping(dim_currency) = 0 then sum({{ expr }}) end as decimal(38, 2))
{%- endmacro %}

{#- A sum of amount x fx_rate (2 + 10 decimals): a reporting-currency sum kept unrounded, 12 decimals. -#}
{% macro reporting_sum(expr) -%}
    cast(sum({{ expr }}) as decimal(38, 12))
{%- endmacro %}

{#- numerator / denominator as a double, null when the denominator is 0 or null. -#}
{% macro safe_ratio(numerator, denominator, scale=1) -%}
    case when {{ denominator }} <> 0
         then cast({{ numerator }} as {{ type_double() }}) / cast({{ denominator }} as {{ type_double() }}){{ (' * ' ~ scale) if scale != 1 else '' }}
    end
{%- endmacro %}

{#- The roll-up levels of mart_dso_trend over dim_segment and dim_country, each with `keys` (the
    point date, and the month for the countback walk): segment x country, segment, country, total. -#}
{% macro trend_grouping_sets(keys) -%}
    grouping sets (
        ({{ keys }}, dim_segment, dim_country),
        ({{ keys }}, dim_segment),
        ({{ keys }}, dim_country),
        ({{ keys }})
    )
{%- endmacro %}

{#- segment, country of a trend_grouping_sets aggregate ('all' where rolled up). -#}
{% macro trend_group_keys() -%}
    case when grouping(dim_segment) = 1 then 'all' else dim_segment end as segment,
    case when grouping(dim_country) = 1 then 'all' else dim_country end as country
{%- endmacro %}
