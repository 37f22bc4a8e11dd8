{#-
    Planner statistics for the model just built (a post-hook on every model, dbt_project.yml).
    Postgres does not analyse a table created by CREATE TABLE AS, and autovacuum's analyse comes too
    late for the models built right after it: without statistics the planner guesses row counts
    from page counts and default selectivities (16 rows for 17k bank credits at profile S), then
    picks nested loops and evaluates expensive expressions once per joined pair instead of once per
    row. DuckDB keeps its statistics as it writes: nothing to do there.
-#}

{% macro analyze_this() -%}
    {{ return(adapter.dispatch('analyze_this', 'cobranza')()) }}
{%- endmacro %}

{% macro default__analyze_this() -%}
{%- endmacro %}

{% macro postgres__analyze_this() -%}
    {%- if model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
