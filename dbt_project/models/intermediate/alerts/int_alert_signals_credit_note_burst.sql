-- One row per (customer, day) with a burst of credit notes: at least alert_credit_note_burst notes
-- issued to one customer on one day, or any credit note issued on an invoice after it was settled
-- (credit after payment: money going back for nothing owed). first_seen_date = the notes' issue date.
with notes as (
    select * from {{ ref('stg_erp__credit_notes') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }}
),

invoices as (
    select invoice_id, settled_date from {{ ref('fct_invoices') }}
),

per_day as (
    select
        notes.customer_id,
        notes.issue_date,
        count(*) as n_notes,
        sum(case when invoices.settled_date < notes.issue_date then 1 else 0 end) as n_after_payment,
        sum(notes.amount_total) as amount,
        {{ any_value('notes.currency') }} as currency,
        string_agg(notes.credit_note_id, ',' order by notes.credit_note_id) as evidence
    from notes
    left join invoices on notes.invoice_id = invoices.invoice_id
    group by notes.customer_id, notes.issue_date
),

final as (
    select
        'credit_note_burst' as signal,
        customer_id,
        cast(issue_date as varchar) as evidence_key,
        case when n_notes >= {{ var('alert_credit_note_burst', 3) }} and n_after_payment > 0 then 'high' else 'medium' end
            as severity,
        cast(n_notes as double precision) as score,
        issue_date as first_seen_date,
        cast(amount as decimal(38, 2)) as amount,
        currency,
        evidence,
        cast(n_notes as varchar) || ' credit notes on one day, ' || cast(n_after_payment as varchar)
            || ' on invoices already paid' as description
    from per_day
    where n_notes >= {{ var('alert_credit_note_burst', 3) }} or n_after_payment > 0
)

select * from final
