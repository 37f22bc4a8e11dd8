{#-
    What the Postgres planner needs around each model (pre- and post-hook on every model,
    dbt_project.yml). DuckDB needs neither: both macros render nothing there.

    - analyze_this (post-hook): statistics for the table just built. Postgres does not analyse a
      table created by CREATE TABLE AS, and autovacuum's analyse comes too late for the models built
      right after it: without statistics the planner guesses row counts from page counts and default
      selectivities (16 rows for 17k bank credits at profile S), then picks nested loops and
      evaluates expensive expressions once per joined pair instead of once per row.
    - without_jit (pre-hook, `set local`: this model's transaction only): no JIT compilation. Our
      models join CTEs, whose rows Postgres cannot estimate from statistics, so the estimated cost
      of a cash-application model reaches 10^10 and passes every JIT threshold: compiling its ~370
      expressions with inlining and optimisation took 6.3 s of the 9 s int_payment_candidates_corroborated
      needs at profile S (2.1 s without). JIT pays off on long scans evaluating one expression over
      many rows; these models spend their time in joins and sorts, and the warehouse would be
      configured for them anyway (jit = off is a server setting; this keeps the project's timings
      independent of it).
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

{% macro without_jit() -%}
    {{ return(adapter.dispatch('without_jit', 'cobranza')()) }}
{%- endmacro %}

{% macro default__without_jit() -%}
{%- endmacro %}

{% macro postgres__without_jit() -%}
    set local jit = off
{%- endmacro %}
