{#- When a promise to pay is kept: the one definition, used by the KPI groups
    (int_kpis_promises_kept) and the agent's KPIs (mart_agent_kpis).

    A promise is kept when the customer paid at least the promised amount (anything, when no
    amount was promised) between the day the promise was made and its deadline (the promised date
    + var promise_grace_days). `promises` is a relation or CTE with interaction_id, customer_id,
    occurred_date, promised_amount and deadline; `payments` one with customer_id, payment_date and
    amount (reporting currency). One row per promise: its columns `group_by` and is_kept. -#}
{% macro promise_grace_days() -%}
{{ return(var('promise_grace_days', 3)) }}
{%- endmacro %}

{% macro promise_outcomes(promises, payments, group_by) -%}
    select
        {%- for column in group_by %}
        {{ promises }}.{{ column }},
        {%- endfor %}
        coalesce(sum({{ payments }}.amount), 0) >= coalesce({{ promises }}.promised_amount, 0.01) as is_kept
    from {{ promises }}
    left join {{ payments }}
        on {{ payments }}.customer_id = {{ promises }}.customer_id
        and {{ payments }}.payment_date >= {{ promises }}.occurred_date
        and {{ payments }}.payment_date <= {{ promises }}.deadline
    group by
        {%- for column in group_by %}
        {{ promises }}.{{ column }},
        {%- endfor %}
        {{ promises }}.promised_amount
{%- endmacro %}
