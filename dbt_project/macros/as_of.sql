{#- The run's business date as a DATE literal (var as_of_date). -#}
{% macro as_of_date() -%}
    cast('{{ var("as_of_date") }}' as date)
{%- endmacro %}
