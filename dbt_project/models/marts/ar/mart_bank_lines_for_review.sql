-- One row per bank credit line booked up to the run date that cash application did not settle on its
-- own, for a person to review: no allocation at all (reason 'ambiguous' when several candidate
-- invoices are equally good, 'low_confidence' when the best candidate is too weak, 'no_candidate'
-- when nothing points at any open invoice), or an allocation that leaves part of the cash unapplied
-- ('unallocated_remainder': over-payments, invoices not found). Candidates are listed, never applied.
with bank_credits as (
    select *
    from {{ ref('int_bank_credits_booked') }}
    -- a reversed payment or a reversal line is no cash to apply (fct_payments shows them)
    where bank_txn_id not in (select bank_txn_id from {{ ref('int_bank_lines_reversed') }})
),

matches as (
    select * from {{ ref('int_payments_matched_to_invoices') }}
),

candidates as (
    select * from {{ ref('int_payment_candidates_corroborated') }}
),

allocated as (
    select bank_txn_id, sum(amount_allocated) as amount_allocated, max(confidence) as best_confidence
    from matches
    group by bank_txn_id
),

best_candidates as (
    {{ select_qualified(
        'bank_txn_id, invoice_id, match_score, confidence',
        'candidates',
        'rank() over (partition by bank_txn_id order by match_score desc) = 1'
    ) }}
),

candidate_summary as (
    select
        bank_txn_id,
        max(match_score) as best_score,
        max(confidence) as best_confidence,
        count(distinct invoice_id) as n_best,
        {{ distinct_sorted_array_head('invoice_id', 10) }} as candidate_invoice_ids
    from best_candidates
    group by bank_txn_id
),

classified as (
    select
        bank_credits.bank_txn_id,
        bank_credits.booking_date,
        bank_credits.currency,
        bank_credits.amount,
        coalesce(allocated.amount_allocated, 0) as amount_allocated,
        case
            when allocated.bank_txn_id is not null and bank_credits.amount > allocated.amount_allocated
                then 'unallocated_remainder'
            when allocated.bank_txn_id is not null then null
            when candidate_summary.n_best > 1 and candidate_summary.best_score >= 4 then 'ambiguous'
            when candidate_summary.bank_txn_id is not null then 'low_confidence'
            else 'no_candidate'
        end as reason,
        case when allocated.bank_txn_id is null then candidate_summary.candidate_invoice_ids end
            as candidate_invoice_ids,
        coalesce(allocated.best_confidence, candidate_summary.best_confidence) as best_confidence
    from bank_credits
    left join allocated using (bank_txn_id)
    left join candidate_summary using (bank_txn_id)
),

final as (
    select
        bank_txn_id,
        booking_date,
        currency,
        amount,
        amount_allocated,
        reason,
        coalesce(candidate_invoice_ids, {{ empty_varchar_array() }}) as candidate_invoice_ids,
        cast(best_confidence as decimal(4, 3)) as best_confidence
    from classified
    where reason is not null
)

select * from final
