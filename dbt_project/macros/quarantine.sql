{#
    Records the raw quality gate quarantined (source quarantine.raw_excluded, written by
    expectations/gates.py at every raw gate run, which creates it empty before the first build):
    the staging models leave them out, so nobody is contacted on a bad record while every other
    record proceeds (DESIGN.md §5).
#}

{# A predicate: `key` is not a record of `table_name` the raw gate quarantined. #}
{% macro not_quarantined(table_name, key) -%}
    {{ key }} not in (
        select record_key from {{ source('quarantine', 'raw_excluded') }} where table_name = '{{ table_name }}'
    )
{%- endmacro %}

{#
    A predicate: no record the raw gate quarantined in one of `table_names` concerns this customer
    (a quarantined payment allocation, credit note, dispute or interaction would make the balance,
    the dispute state or the contact history wrong: the customer is held from dunning until fixed).
#}
{% macro customer_not_held(customer_id, table_names) -%}
    {{ customer_id }} not in (
        select customer_id from {{ source('quarantine', 'raw_excluded') }}
        where customer_id is not null
          and table_name in ({% for t in table_names %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %})
    )
{%- endmacro %}
