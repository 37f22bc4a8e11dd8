{#-
  Business-day arithmetic (Monday to Friday), portable across DuckDB and PostgreSQL.

  business_days_between(start, end): weekdays in (start, end], i.e. the business days that have
  passed since `start` by `end` (0 when end <= start). Closed form, no calendar table: with W(m) the
  number of weekdays among the first m days of weeks starting on Monday,
      W(m) = floor(m / 7) * 5 + least(m mod 7, 5),
  the weekdays in (start, start + n] are W(isodow(start) + n) - W(isodow(start)).
  Public holidays are not excluded here (they differ by country and region; the contact rules in
  ml/nba/rules.py apply them).
-#}
{% macro iso_weekday(day) -%}
    {{ return(adapter.dispatch('iso_weekday', 'cobranza')(day)) }}
{%- endmacro %}
{% macro default__iso_weekday(day) -%}
    cast(isodow(cast({{ day }} as date)) as integer)
{%- endmacro %}
{% macro postgres__iso_weekday(day) -%}
    cast(extract(isodow from cast({{ day }} as date)) as integer)
{%- endmacro %}

{% macro _weekdays_in_first(m) -%}
    (cast(floor(({{ m }}) / 7.0) as integer) * 5 + least(({{ m }}) % 7, 5))
{%- endmacro %}

{% macro business_days_between(start, end) -%}
    case
        when cast({{ end }} as date) <= cast({{ start }} as date) then 0
        else {{ _weekdays_in_first(iso_weekday(start) ~ ' + ' ~ days_between(start, end)) }}
             - {{ _weekdays_in_first(iso_weekday(start)) }}
    end
{%- endmacro %}
