{#- DuckDB's spill folder, set once per dbt invocation (on-run-start), never per cursor.

    The folder comes from the settings warehouse.temp_directory (flows.dbt_runner exports
    COBRANZA_DBT_DUCKDB_TEMP_DIRECTORY); run by hand, DuckDB's default (<database>.tmp) stays.
    DuckDB refuses to set it again once it has spilled there, even to the same folder, so it is only
    set when another folder is in force (issue 19: the L build failed on a per-cursor SET). -#}
{% macro set_temp_directory() %}
  {%- set wanted = env_var('COBRANZA_DBT_DUCKDB_TEMP_DIRECTORY', '') -%}
  {%- if target.type == 'duckdb' and wanted and execute -%}
    {%- set current = run_query("select current_setting('temp_directory')").columns[0].values()[0] -%}
    {%- if current != wanted -%}
      set temp_directory = '{{ wanted | replace("'", "''") }}'
    {%- endif -%}
  {%- endif -%}
{% endmacro %}
