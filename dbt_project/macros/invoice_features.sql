{#-
  CTEs (to follow a `with ... ,`) computing point-in-time features for a spine of (invoice_id, customer_id, snapshot_date) rows.

  Every customer-history feature only uses what was known on the snapshot date: other invoices
  issued before it, settlements the ERP had recorded by then (settled_known_date), disputes opened
  and contacts made before it. Nothing from after the snapshot can leak in; the test
  tests/dbt/test_feature_leakage.py proves it by changing future rows.
-#}
{% macro invoice_features(spine) %}
spine as (
    select * from {{ spine }}
),

invoices as (
    -- Cancelled invoices stay in the history until their cancellation (last update): on a
    -- snapshot before it they were posted and owed, and dropping them would leak the future.
    select
        fi.invoice_id, fi.customer_id, fi.issue_date, fi.due_date, fi.amount_total, fi.status,
        fi.delivery_method, fi.document_type,
        cast(fi.updated_at as date) as status_date,
        bal.settled_date, bal.settled_known_date
    from {{ ref('stg_erp__invoices') }} as fi
    left join {{ ref('int_invoices_settled') }} as bal using (invoice_id)
),

history as (
    -- one row per (spine invoice, earlier invoice of the same customer), as known at the snapshot
    select
        spine.invoice_id,
        h.amount_total,
        h.due_date,
        h.document_type = me.document_type as same_doc_type,
        case when h.settled_known_date <= spine.snapshot_date then h.settled_date end as settled_date_known,
        spine.snapshot_date
    from spine
    inner join invoices as me on me.invoice_id = spine.invoice_id
    inner join invoices as h
        on h.customer_id = spine.customer_id
        and h.issue_date < spine.snapshot_date
        and h.invoice_id <> spine.invoice_id
        and (h.status = 'posted' or h.status_date >= spine.snapshot_date)
),

history_agg as (
    select
        invoice_id,
        count(*) as n_prior,
        count(*) filter (where same_doc_type) as n_prior_same_doc_type,
        avg(amount_total) as mean_prior_amount,
        count(*) filter (where settled_date_known is not null) as n_prior_settled,
        avg({{ days_between('due_date', 'settled_date_known') }}) as mean_days_late,
        avg(case when settled_date_known is not null then greatest({{ days_between('due_date', 'settled_date_known') }}, 0) end)
            filter (where due_date >= {{ add_days('snapshot_date', -180) }}) as mean_days_late_recent,
        count(*) filter (where {{ add_days('due_date', var('late_days')) }} < snapshot_date) as n_prior_label_known,
        count(*) filter (
            where {{ add_days('due_date', var('late_days')) }} < snapshot_date
              and (settled_date_known is null or settled_date_known > {{ add_days('due_date', var('late_days')) }})
        ) as n_prior_late,
        count(*) filter (where due_date < snapshot_date and settled_date_known is null) as n_open_overdue,
        sum(case when due_date < snapshot_date and settled_date_known is null then amount_total else 0 end)
            as amount_open_overdue,
        sum(case when settled_date_known is null then amount_total else 0 end) as amount_open,
        max(settled_date_known) as last_settled_date,
        stddev_samp({{ days_between('due_date', 'settled_date_known') }}) as std_days_late,
        avg(case
            when settled_date_known is null then null
            when settled_date_known > {{ add_days('due_date', var('late_days')) }} then 1.0
            else 0.0
        end) as settled_late_share
    from history
    group by invoice_id
),

settled_seq as (
    -- the customer's settlements in the order the ERP learned of them (recency features below)
    select
        customer_id,
        settled_known_date,
        {{ days_between('due_date', 'settled_date') }} as days_late,
        row_number() over (
            partition by customer_id order by settled_known_date, settled_date, due_date, invoice_id
        ) as seq
    from invoices
    where settled_known_date is not null and settled_date is not null
),

settled_recent as (
    select
        customer_id,
        seq,
        days_late as last_days_late,
        avg(case when days_late > {{ var('late_days') }} then 1.0 else 0.0 end) over (
            partition by customer_id order by seq rows between 2 preceding and current row
        ) as last3_late_share
    from settled_seq
),

known_seq as (
    -- For each spine row, the customer's latest settlement known before its snapshot day: spine
    -- rows and settlements in one time line per customer, the running max of seq carries the
    -- latest settlement forward (a spine row sorts before a settlement of the same day, so an
    -- invoice paid on its issue day never describes itself). One sort over invoices + spine
    -- instead of ranking every (invoice, earlier invoice) pair of `history`.
    select
        invoice_id,
        customer_id,
        is_spine,
        max(seq) over (
            partition by customer_id order by event_date, is_spine desc, seq
            rows between unbounded preceding and current row
        ) as seq
    from (
        select invoice_id, customer_id, snapshot_date as event_date, true as is_spine, cast(null as bigint) as seq
        from spine
        union all
        select cast(null as varchar), customer_id, settled_known_date, false, seq
        from settled_seq
    ) as timeline
),

recent_agg as (
    select known_seq.invoice_id, settled_recent.last_days_late, settled_recent.last3_late_share
    from known_seq
    inner join settled_recent using (customer_id, seq)
    where known_seq.is_spine
),

disputes as (
    select spine.invoice_id, count(*) as n_disputes
    from spine
    inner join {{ ref('stg_crm__disputes') }} as d
        on d.customer_id = spine.customer_id and d.opened_date < spine.snapshot_date
    group by spine.invoice_id
),

contacts as (
    select
        spine.invoice_id,
        count(*) filter (where i.direction = 'outbound') as n_outbound_90d,
        count(*) filter (where i.outcome in ('replied', 'promise_to_pay')) as n_responses_90d,
        count(*) filter (where i.outcome = 'promise_to_pay') as n_promises_90d
    from spine
    inner join {{ ref('stg_crm__interactions') }} as i
        on i.customer_id = spine.customer_id
        and i.occurred_date < spine.snapshot_date
        and i.occurred_date >= {{ add_days('spine.snapshot_date', -90) }}
    group by spine.invoice_id
),

customer_attributes as (
    -- Optional ERP attributes (issue 22). The rating and the risk class are used only when their
    -- assessment is dated before the snapshot (point in time: the ERP keeps the latest rating with its
    -- date, so an older snapshot sees none rather than a later one); country and region are stable.
    select
        spine.invoice_id,
        case when c.credit_rating_date < spine.snapshot_date then {{ credit_rating_score('c.credit_rating') }} end
            as credit_rating_score,
        case when c.credit_rating_date < spine.snapshot_date then {{ risk_class_rank('c.risk_class') }} end
            as risk_class_rank
    from spine
    inner join {{ ref('stg_erp__customers') }} as c using (customer_id)
),

{{ group_prior_late_share('spine', 'country') }},

{{ group_prior_late_share('spine', 'region') }},

final as (
    select
        spine.invoice_id,
        spine.customer_id,
        spine.snapshot_date,
        inv.due_date,
        inv.amount_total,
        cast({{ days_between('inv.issue_date', 'inv.due_date') }} as {{ type_double() }}) as f_terms_days,
        ln(1 + cast(inv.amount_total as {{ type_double() }})) as f_log_amount,
        cast(inv.amount_total as {{ type_double() }}) / nullif(cast(h.mean_prior_amount as {{ type_double() }}), 0) as f_amount_vs_cust_mean,
        cast(extract(month from inv.due_date) as {{ type_double() }}) as f_due_month,
        cast(extract(dow from inv.due_date) as {{ type_double() }}) as f_due_dow,
        -- paper invoices arrive later and are keyed by hand; null when the ERP does not say
        case
            when inv.delivery_method = 'paper' then cast(1 as {{ type_double() }})
            when inv.delivery_method is not null then cast(0 as {{ type_double() }})
        end as f_inv_paper_delivery,
        cast(coalesce(h.n_prior, 0) as {{ type_double() }}) as f_cust_prior_invoices,
        cast(coalesce(h.n_prior_settled, 0) as {{ type_double() }}) as f_cust_prior_settled,
        cast(h.mean_days_late as {{ type_double() }}) as f_cust_mean_days_late,
        cast(h.mean_days_late_recent as {{ type_double() }}) - cast(h.mean_days_late as {{ type_double() }}) as f_cust_days_late_trend,
        cast(h.n_prior_late as {{ type_double() }}) / nullif(h.n_prior_label_known, 0) as f_cust_prior_late_share,
        cast(h.settled_late_share as {{ type_double() }}) as f_cust_settled_late_share,
        cast(h.std_days_late as {{ type_double() }}) as f_cust_days_late_std,
        cast(r.last_days_late as {{ type_double() }}) as f_cust_last_days_late,
        cast(r.last3_late_share as {{ type_double() }}) as f_cust_last3_late_share,
        cast(coalesce(h.n_open_overdue, 0) as {{ type_double() }}) as f_cust_open_overdue_count,
        -- Exposure is scaled by the customer's typical invoice, not the credit limit: the ERP keeps
        -- only the current limit, so a limit-based ratio would leak later limit changes.
        cast(coalesce(h.amount_open_overdue, 0) as {{ type_double() }})
            / nullif(cast(h.mean_prior_amount as {{ type_double() }}), 0) as f_cust_overdue_vs_mean_invoice,
        cast(coalesce(h.amount_open, 0) as {{ type_double() }})
            / nullif(cast(h.mean_prior_amount as {{ type_double() }}), 0) as f_cust_exposure_vs_mean_invoice,
        cast({{ days_between('h.last_settled_date', 'spine.snapshot_date') }} as {{ type_double() }}) as f_cust_days_since_payment,
        cast(coalesce(d.n_disputes, 0) as {{ type_double() }}) as f_cust_prior_disputes,
        cast(coalesce(ct.n_outbound_90d, 0) as {{ type_double() }}) as f_cust_contacts_90d,
        cast(coalesce(ct.n_responses_90d, 0) as {{ type_double() }}) as f_cust_responses_90d,
        cast(coalesce(ct.n_promises_90d, 0) as {{ type_double() }}) as f_cust_promises_90d,
        -- optional ERP attributes (issue 22): null when the export has none
        cast(ca.credit_rating_score as {{ type_double() }}) as f_cust_credit_rating,
        cast(ca.risk_class_rank as {{ type_double() }}) as f_cust_risk_class,
        cast(gc.prior_late_share as {{ type_double() }}) as f_country_prior_late_share,
        cast(gr.prior_late_share as {{ type_double() }}) as f_region_prior_late_share,
        case when inv.document_type is not null then
            cast(coalesce(h.n_prior_same_doc_type, 0) as {{ type_double() }}) / nullif(h.n_prior, 0)
        end as f_inv_doc_type_share
    from spine
    inner join invoices as inv using (invoice_id)
    left join history_agg as h using (invoice_id)
    left join recent_agg as r using (invoice_id)
    left join disputes as d using (invoice_id)
    left join contacts as ct using (invoice_id)
    left join customer_attributes as ca using (invoice_id)
    left join country_prior_late as gc using (invoice_id)
    left join region_prior_late as gr using (invoice_id)
)
{% endmacro %}
