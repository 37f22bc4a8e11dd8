{#-
  Portable SQL for the two warehouse targets (DuckDB by default, Postgres for scale-out).

  dbt's own cross-database macros (dbt.datediff, dbt.dateadd, ...) cover most needs; these cover
  the rest. Each dispatches on the adapter, so a model reads the same on both targets.
-#}

{#- The first row per key, in place of QUALIFY (Postgres has none). Adds a `_row_number` column:
    select named columns from it. -#}
{% macro first_row_per(relation, partition_by, order_by) -%}
    select *
    from (
        select
            {{ relation }}.*,
            row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as _row_number
        from {{ relation }}
    ) as ranked
    where _row_number = 1
{%- endmacro %}

{#- Whole days from `start` to `end` (dates): end - start. -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between', 'cobranza')(start, end)) }}
{%- endmacro %}
{% macro default__days_between(start, end) -%}
    cast(cast({{ end }} as date) - cast({{ start }} as date) as integer)
{%- endmacro %}

{#- A date `n` days after `day` (n may be negative or an expression), as a DATE. -#}
{% macro add_days(day, n) -%}
    {{ return(adapter.dispatch('add_days', 'cobranza')(day, n)) }}
{%- endmacro %}
{% macro default__add_days(day, n) -%}
    cast(cast({{ day }} as date) + cast({{ n }} as integer) as date)
{%- endmacro %}

{#- Month number of `day` counted back from `anchor` (0 = same month). -#}
{% macro months_between(start, end) -%}
    cast((extract(year from {{ end }}) - extract(year from {{ start }})) * 12
         + extract(month from {{ end }}) - extract(month from {{ start }}) as integer)
{%- endmacro %}

{#- The last day of the month of `day`, as a DATE. -#}
{% macro last_day_of_month(day) -%}
    cast(cast(date_trunc('month', {{ day }}) as date) + interval '1 month' - interval '1 day' as date)
{%- endmacro %}

{#- A JSON array (as text) of one JSON object per row of the group, in `order_by` order.
    `fields` is a list of (key, sql expression) pairs. -#}
{% macro json_object_array(fields, order_by) -%}
    {{ return(adapter.dispatch('json_object_array', 'cobranza')(fields, order_by)) }}
{%- endmacro %}
{% macro default__json_object_array(fields, order_by) -%}
    cast(to_json(list(struct_pack(
        {%- for key, expr in fields %}
        {{ key }} := {{ expr }}{{ "," if not loop.last }}
        {%- endfor %}
    ) order by {{ order_by }})) as varchar)
{%- endmacro %}
{% macro postgres__json_object_array(fields, order_by) -%}
    cast(json_agg(json_build_object(
        {%- for key, expr in fields %}
        '{{ key }}', {{ expr }}{{ "," if not loop.last }}
        {%- endfor %}
    ) order by {{ order_by }}) as varchar)
{%- endmacro %}

{#- Every match of `pattern` in `text`, one row per match, as a set-returning expression. -#}
{% macro regexp_matches_unnested(text, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches_unnested', 'cobranza')(text, pattern)) }}
{%- endmacro %}
{% macro default__regexp_matches_unnested(text, pattern) -%}
    unnest(regexp_extract_all({{ text }}, '{{ pattern }}'))
{%- endmacro %}
{% macro postgres__regexp_matches_unnested(text, pattern) -%}
    (regexp_matches({{ text }}, '{{ pattern }}', 'g'))[1]
{%- endmacro %}

{#- The double-precision float type. -#}
{% macro type_double() -%}
    double precision
{%- endmacro %}
