-- One row per posted invoice issued up to the run date, features as known on its issue date
-- (the snapshot date), with the label once its cohort is complete (due + late_days before the run date): late = paid more than var('late_days')
-- days after due, or still unpaid then.
with spine_source as (
    select invoice_id, customer_id, issue_date as snapshot_date
    from {{ ref('stg_erp__invoices') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }}
),

{{ invoice_features('spine_source') }},

labelled as (
    select
        final.*,
        s.settled_date,
        -- Only complete cohorts: before due + late_days both outcomes are not yet observable, and
        -- keeping the early payers alone would bias training and the test window towards 'not late'.
        final.due_date + interval {{ var('late_days') }} day < {{ as_of_date() }} as is_label_known
    from final
    inner join {{ ref('int_invoices_settled') }} as s using (invoice_id)
)

select
    * exclude (settled_date, is_label_known),
    is_label_known,
    case
        when not is_label_known then null
        when settled_date is null or settled_date > due_date + interval {{ var('late_days') }} day then true
        else false
    end as is_late
from labelled
