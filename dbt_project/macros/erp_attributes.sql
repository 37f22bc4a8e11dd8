{#-
  Optional ERP attributes as model features (issue 22): a credit rating as a number, a risk class as
  a rank, and the point-in-time late share of the invoices of a customer group (country, region).
-#}

{% macro credit_rating_score(col) -%}
    {#- 1 (best) .. 10: a numeric score as given, letter grades (AAA..D, +/- dropped) mapped in order -#}
    case
        when trim({{ col }}) ~ '^[0-9]+([.][0-9]+)?$' then cast(trim({{ col }}) as {{ type_double() }})
        else case replace(replace(upper(trim({{ col }})), '+', ''), '-', '')
            when 'AAA' then 1 when 'AA' then 2 when 'A' then 3 when 'BBB' then 4 when 'BB' then 5
            when 'B' then 6 when 'CCC' then 7 when 'CC' then 8 when 'C' then 9 when 'D' then 10
        end
    end
{%- endmacro %}

{% macro risk_class_rank(col) -%}
    {#- low 1, medium 2, high 3, very high 4; a numeric class as given -#}
    case
        when trim({{ col }}) ~ '^[0-9]+([.][0-9]+)?$' then cast(trim({{ col }}) as {{ type_double() }})
        else case lower(trim({{ col }}))
            when 'low' then 1 when 'medium' then 2 when 'high' then 3 when 'very high' then 4
            when 'very_high' then 4
        end
    end
{%- endmacro %}

{% macro group_prior_late_share(spine, group_col, min_known=10) %}
{#-
  CTE ``<group_col>_prior_late``: for each spine invoice, the share late (label of var('late_days'))
  among the invoices of customers in the same group whose label was known before the snapshot, as it
  was known then. An invoice's label becomes known the day after due + late_days: late unless the ERP
  had recorded a payment by due + late_days by then; a payment recorded later that was value-dated in
  time corrects it to not late on the day it was recorded; an invoice cancelled after its label was
  known leaves the counts on its cancellation day. One time line per group (spine rows and these
  events), running sums, a spine row sorting before an event of the same day: nothing from the
  snapshot day or later. Null below ``min_known`` labels or when the customer has no ``group_col``.
-#}
{{ group_col }}_labels as (
    select
        c.{{ group_col }} as grp,
        i.status,
        i.status_date,
        i.settled_known_date,
        {{ add_days('i.due_date', var('late_days') ~ ' + 1') }} as known_date,
        coalesce(i.settled_date <= {{ add_days('i.due_date', var('late_days')) }}, false) as paid_in_time
    from invoices as i
    inner join {{ ref('stg_erp__customers') }} as c using (customer_id)
    where c.{{ group_col }} is not null
),

{{ group_col }}_events as (
    select grp, known_date as event_date, 1 as dn,
        case when paid_in_time and settled_known_date < known_date then 0 else 1 end as dlate
    from {{ group_col }}_labels
    where status = 'posted' or status_date >= known_date
    union all
    -- paid in time, recorded after the label date: corrected to not late when recorded
    select grp, settled_known_date, 0, -1
    from {{ group_col }}_labels
    where paid_in_time and settled_known_date >= known_date and (status = 'posted' or status_date >= known_date)
    union all
    -- cancelled after its label was known: out of the counts from the cancellation on
    select grp, status_date, -1, case when paid_in_time and settled_known_date < known_date then 0 else -1 end
    from {{ group_col }}_labels
    where status <> 'posted' and status_date >= known_date
),

{{ group_col }}_timeline as (
    select
        invoice_id,
        is_spine,
        sum(dn) over w as n_known,
        sum(dlate) over w as n_late
    from (
        select s.invoice_id, c.{{ group_col }} as grp, s.snapshot_date as event_date, true as is_spine,
            0 as dn, 0 as dlate
        from {{ spine }} as s
        inner join {{ ref('stg_erp__customers') }} as c using (customer_id)
        where c.{{ group_col }} is not null
        union all
        select cast(null as varchar), grp, event_date, false, dn, dlate
        from {{ group_col }}_events
    ) as t
    window w as (partition by grp order by event_date, is_spine desc rows between unbounded preceding and current row)
),

{{ group_col }}_prior_late as (
    select
        invoice_id,
        case when n_known >= {{ min_known }} then cast(n_late as {{ type_double() }}) / n_known end as prior_late_share
    from {{ group_col }}_timeline
    where is_spine
)
{% endmacro %}
