{#
    Records the raw quality gate quarantined (quarantine.raw_excluded, written by
    expectations/gates.py at every raw gate run): the staging models leave them out, so nobody is
    contacted on a bad record while every other record proceeds (DESIGN.md §5). Before the first
    gate run (or on a warehouse without the table, e.g. a PostgreSQL copy of the raw layer only)
    nothing is excluded.
#}
{% macro quarantine_relation() -%}
    {%- if execute -%}
        {{ return(adapter.get_relation(database=target.database, schema='quarantine', identifier='raw_excluded')) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{# A predicate: `key` is not a record of `table_name` the raw gate quarantined. #}
{% macro not_quarantined(table_name, key) -%}
    {%- set rel = quarantine_relation() -%}
    {%- if rel is not none -%}
        {{ key }} not in (select record_key from {{ rel }} where table_name = '{{ table_name }}')
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#
    A predicate: no record the raw gate quarantined in one of `table_names` concerns this customer
    (a quarantined payment allocation, credit note, dispute or interaction would make the balance,
    the dispute state or the contact history wrong: the customer is held from dunning until fixed).
#}
{% macro customer_not_held(customer_id, table_names) -%}
    {%- set rel = quarantine_relation() -%}
    {%- if rel is not none -%}
        {{ customer_id }} not in (
            select customer_id from {{ rel }}
            where customer_id is not null
              and table_name in ({% for t in table_names %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %})
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
