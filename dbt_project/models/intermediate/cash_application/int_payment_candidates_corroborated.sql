-- One row per (bank credit line booked up to the run date, evidence that it may pay an invoice, from
-- int_bank_credits_linked_to_invoices) that is still plausible when the line was booked, with what corroborates it:
-- whether the payer is known to pay for the invoice's customer, and how the line's amount compares
-- with what was still open on the invoice when the line was booked (amount due minus the ERP
-- allocations recorded before).
with bank_credits as (
    select * from {{ ref('int_bank_credits_booked') }}
),

evidence as (
    select * from {{ ref('int_bank_credits_linked_to_invoices') }}
),

payer_candidates as (
    select * from {{ ref('int_bank_credits_linked_to_payers') }}
),

invoices as (
    select * from {{ ref('int_invoices_awaiting_cash') }}
),

allocations as (
    select invoice_id, recorded_date, amount
    from {{ ref('stg_erp__payment_allocations') }}
    where recorded_date <= {{ as_of_date() }}
),

-- The line's facts first, in a step of its own: in one three-way join Postgres (when the evidence
-- was still CTEs of this model, overestimated) joined every bank credit with every invoice on the
-- date conditions alone (335M pairs at profile S) before meeting the evidence.
evidence_on_lines as materialized (
    select
        evidence.*,
        bank_credits.amount,
        bank_credits.currency,
        bank_credits.booking_date,
        bank_credits.value_date
    from evidence
    inner join bank_credits using (bank_txn_id)
),

plausible as (
    select
        evidence_on_lines.*,
        invoices.customer_id,
        invoices.due_date,
        invoices.amount_due
    from evidence_on_lines
    inner join invoices using (invoice_id)
    where {{ invoice_payable_on('invoices', 'evidence_on_lines.booking_date') }}
),

paid_before_booking as (
    select pairs.bank_txn_id, pairs.invoice_id, sum(allocations.amount) as amount_paid_erp
    from (select distinct bank_txn_id, invoice_id, booking_date from plausible) as pairs
    inner join allocations
        on pairs.invoice_id = allocations.invoice_id
        and allocations.recorded_date < pairs.booking_date
    group by pairs.bank_txn_id, pairs.invoice_id
),

open_at_booking as (
    select
        plausible.*,
        plausible.amount_due - coalesce(paid_before_booking.amount_paid_erp, 0) as amount_open_at_booking
    from plausible
    left join paid_before_booking using (bank_txn_id, invoice_id)
),

scored as (
    select
        open_at_booking.*,
        coalesce(payer_candidates.has_known_account, false) as is_known_payer_account,
        coalesce(payer_candidates.name_similarity, 0) as payer_name_similarity,
        open_at_booking.amount = open_at_booking.amount_open_at_booking as is_amount_equal,
        open_at_booking.amount <= open_at_booking.amount_open_at_booking as is_amount_within_open,
        -- How strongly the text points at the invoice, plus what corroborates it (see the yml).
        case open_at_booking.evidence
            when 'structured_reference' then 10
            when 'invoice_number' then 3
            when 'invoice_number_fuzzy' then 2
            when 'invoice_number_truncated' then 1
            else 0
        end
        + case
            when open_at_booking.amount = open_at_booking.amount_open_at_booking then 4
            when open_at_booking.amount <= open_at_booking.amount_open_at_booking then 1
            else 0
        end
        + case when payer_candidates.customer_id is not null then 2 else 0 end as match_score
    from open_at_booking
    left join payer_candidates using (bank_txn_id, customer_id)
    where open_at_booking.amount_open_at_booking > 0
),

final as (
    select
        scored.bank_txn_id,
        scored.invoice_id,
        scored.customer_id,
        scored.token_key,
        scored.evidence,
        scored.edit_distance,
        scored.currency,
        scored.amount,
        scored.booking_date,
        scored.value_date,
        scored.due_date,
        cast(scored.amount_open_at_booking as decimal(18, 2)) as amount_open_at_booking,
        scored.is_amount_equal,
        scored.is_amount_within_open,
        scored.is_known_payer_account,
        scored.payer_name_similarity,
        scored.match_score,
        cast(
            case
                when scored.evidence = 'structured_reference' then 1
                when scored.evidence = 'payer' and scored.is_known_payer_account then 0.9
                when scored.evidence = 'payer' then 0.85
                else least(0.99, 0.5 + 0.07 * scored.match_score)
            end as decimal(4, 3)
        ) as confidence
    from scored
)

select * from final
