{#-
  Shared building blocks of the AR marts: currency conversion to the reporting currency
  (var reporting_currency, default USD) and invoice open amounts as of an earlier date.
-#}

{#- The reporting currency (ISO 4217), upper-cased. -#}
{% macro reporting_currency() -%}
    '{{ var("reporting_currency", "USD") | upper }}'
{%- endmacro %}

{#- A query of (currency, fx_rate_to_reporting): units of the reporting currency per unit of each
    currency, through the rates of seed fx_rates valid on `day` (the latest valid_from <= day).
    A currency without a rate on that day gets no row (amounts stay null, never silently 1). -#}
{% macro fx_rates_to_reporting(day) -%}
    select
        rate.currency,
        cast(rate.rate_to_usd / reporting.rate_to_usd as decimal(18, 10)) as fx_rate_to_reporting
    from (
        {{ first_row_per('valid_rates', 'currency', 'valid_from desc') | indent(8) }}
    ) as rate
    cross join (
        {{ first_row_per('valid_reporting_rates', 'currency', 'valid_from desc') | indent(8) }}
    ) as reporting
{%- endmacro %}

{#- CTEs valid_rates / valid_reporting_rates that fx_rates_to_reporting reads (to follow a `with`). -#}
{% macro fx_valid_rates(day) -%}
valid_rates as (
    select currency, valid_from, rate_to_usd
    from {{ ref('fx_rates') }}
    where valid_from <= {{ day }}
),

valid_reporting_rates as (
    select currency, valid_from, rate_to_usd
    from valid_rates
    where currency = {{ reporting_currency() }}
)
{%- endmacro %}

{#- Converts a money expression with a rate column to the reporting currency, 2 decimals. -#}
{% macro to_reporting(amount, rate) -%}
    cast(cast({{ amount }} as decimal(38, 2)) * {{ rate }} as decimal(38, 2))
{%- endmacro %}
