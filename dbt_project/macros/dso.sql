{#-
  The one definition of countback DSO (mart_collections_kpis on the run date, mart_dso_trend at each
  point date): walk back month by month from the point date, consuming each month's credit sales
  until the open AR is used up; DSO = the whole months' days + the used fraction of the last month.
  The current month counts the days up to the point date.
-#}

{#- Days a month contributes to the walk: up to the point date in its own month, else the whole month. -#}
{% macro countback_month_days(month_start, point_date) -%}
    case
        when {{ month_start }} = cast(date_trunc('month', {{ point_date }}) as date)
        then extract(day from {{ point_date }})
        else extract(day from {{ last_day_of_month(month_start) }})
    end
{%- endmacro %}

{#- Sales of the months after this one (walking back from the point date), per `partition_by`. -#}
{% macro countback_sales_before(sales, partition_by, month_start='month_start') -%}
    coalesce(sum({{ sales }}) over (
        partition by {{ partition_by }} order by {{ month_start }} desc
        rows between unbounded preceding and 1 preceding
    ), 0)
{%- endmacro %}

{#- Days of DSO one month adds for open AR `ar` (sum it over the months with sales > 0). -#}
{% macro countback_days(ar, sales_before, sales, days_in_month) -%}
    case
        when {{ ar }} >= {{ sales_before }} + {{ sales }} then {{ days_in_month }}
        when {{ ar }} > {{ sales_before }}
        then {{ days_in_month }} * ({{ ar }} - {{ sales_before }}) / {{ sales }}
        else 0
    end
{%- endmacro %}
