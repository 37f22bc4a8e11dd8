-- One row per posted invoice: open amount as of the run date = the ERP's open amount minus bank
-- payments matched to it that the ERP has not recorded yet (so a payment seen in the bank
-- suppresses dunning the same day), plus recorded payments the bank reversed since (so a bounced
-- payment is dunned again before the ERP catches up).
with invoices as (
    select * from {{ ref('stg_erp__invoices') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }}
),

settled as (
    select * from {{ ref('int_invoices_settled') }}
),

bank_pending as (
    select invoice_id, sum(amount_allocated) as amount_paid_bank_unrecorded, max(value_date) as last_bank_payment_date
    from {{ ref('int_payments_matched_to_invoices') }}
    where not is_recorded_in_erp
    group by invoice_id
),

-- Payments the ERP already recorded that the bank reversed afterwards (int_bank_lines_reversed), on
-- invoices the ERP has not updated since the reversal was booked: the ERP still counts them as paid,
-- so their amount is open again (never more than was paid: due minus open). Once the ERP updates the
-- invoice after the reversal, its own open amount is the truth again.
erp_recorded_reversed as (
    select allocations.invoice_id, sum(allocations.amount) as amount_reversed_recorded
    from {{ ref('stg_erp__payment_allocations') }} as allocations
    inner join {{ ref('int_bank_lines_reversed') }} as reversed
        on allocations.bank_txn_id = reversed.bank_txn_id
    inner join invoices on allocations.invoice_id = invoices.invoice_id
    where reversed.reason = 'reversed'
        and allocations.recorded_date <= {{ as_of_date() }}
        and cast(invoices.updated_at as date) <= reversed.reversed_on
    group by allocations.invoice_id
),

reopened as (
    select
        invoices.invoice_id,
        invoices.amount_open_erp + least(
            coalesce(erp_recorded_reversed.amount_reversed_recorded, 0),
            greatest(settled.amount_due - invoices.amount_open_erp, 0)
        ) as amount_open_erp_reopened
    from invoices
    inner join settled using (invoice_id)
    left join erp_recorded_reversed using (invoice_id)
),

final as (
    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.currency,
        invoices.amount_total,
        settled.amount_credited,
        settled.amount_due,
        invoices.amount_open_erp,
        coalesce(bank_pending.amount_paid_bank_unrecorded, 0) as amount_paid_bank_unrecorded,
        greatest(reopened.amount_open_erp_reopened - coalesce(bank_pending.amount_paid_bank_unrecorded, 0), 0)
            as amount_open,
        settled.settled_date,
        settled.settled_known_date,
        coalesce(bank_pending.last_bank_payment_date, settled.last_payment_date) as last_payment_date
    from invoices
    inner join settled using (invoice_id)
    inner join reopened using (invoice_id)
    left join bank_pending using (invoice_id)
)

select * from final
