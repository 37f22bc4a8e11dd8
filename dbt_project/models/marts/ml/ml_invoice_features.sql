-- One row per posted invoice issued up to the run date, features as known on its issue date
-- (the snapshot date), with the label once its cohort is complete (due + late_days before the run date): late = paid more than var('late_days')
-- days after due, or still unpaid then. A second label, paid after due (any delay, or unpaid at due), is known
-- once the due date has passed.
{%- set label_known = add_days('final.due_date', var('late_days')) ~ ' < ' ~ as_of_date() %}
{%- set after_due_known = 'final.due_date < ' ~ as_of_date() %}

with spine_source as (
    select invoice_id, customer_id, issue_date as snapshot_date
    from {{ ref('stg_erp__invoices') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }}
),

{{ invoice_features('spine_source') }},

labelled as (
    -- Only complete cohorts: before due + late_days both outcomes are not yet observable, and
    -- keeping the early payers alone would bias training and the test window towards 'not late'.
    select
        final.*,
        {{ label_known }} as is_label_known,
        case
            when not ({{ label_known }}) then null
            when s.settled_date is null or s.settled_date > {{ add_days('final.due_date', var('late_days')) }} then true
            else false
        end as is_late,
        {{ after_due_known }} as is_after_due_known,
        case
            when not ({{ after_due_known }}) then null
            when s.settled_date is null or s.settled_date > final.due_date then true
            else false
        end as is_paid_after_due
    from final
    inner join {{ ref('int_invoices_settled') }} as s using (invoice_id)
)

select * from labelled
