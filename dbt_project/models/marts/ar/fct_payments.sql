-- One row per bank credit line booked up to the run date: how much cash application matched to
-- invoices, by which method, and whether the ERP has recorded it yet. A payment reversed or returned
-- by the run date matches nothing (match_method 'reversed', with the reversing line); a credit that
-- is itself a reversal (of a debit) is 'reversal'.
with credits as (
    select * from {{ ref('int_bank_credits_booked') }}
),

matches as (
    select
        bank_txn_id,
        sum(amount_allocated) as amount_matched,
        count(*) as n_invoices_matched,
        -- the most confident allocation's method; on a tie the cascade's earlier step
        {{ first_by('match_method', 'confidence desc, ' ~ cascade_step('match_method')) }} as match_method,
        bool_or(is_recorded_in_erp) as is_recorded_in_erp,
        {{ any_value('customer_id') }} as customer_id
    from {{ ref('int_payments_matched_to_invoices') }}
    group by bank_txn_id
),

reversed as (
    select bank_txn_id, reason, reversal_bank_txn_id
    from {{ ref('int_bank_lines_reversed') }}
),

final as (
    select
        credits.bank_txn_id,
        credits.account_iban,
        credits.booking_date,
        credits.value_date,
        credits.currency,
        credits.amount,
        credits.counterparty_name,
        credits.counterparty_iban,
        credits.remittance_text,
        credits.creditor_reference,
        matches.customer_id,
        coalesce(matches.amount_matched, 0) as amount_matched,
        -- a reversed payment (or a reversal credit) leaves no cash to apply or review
        case when reversed.bank_txn_id is null then credits.amount - coalesce(matches.amount_matched, 0) else 0 end
            as amount_unmatched,
        coalesce(matches.n_invoices_matched, 0) as n_invoices_matched,
        coalesce(reversed.reason, matches.match_method, 'unmatched') as match_method,
        coalesce(matches.is_recorded_in_erp, false) as is_recorded_in_erp,
        coalesce(reversed.reason = 'reversed', false) as is_reversed,
        case when reversed.reason = 'reversed' then reversed.reversal_bank_txn_id end as reversed_by_bank_txn_id
    from credits
    left join matches using (bank_txn_id)
    left join reversed using (bank_txn_id)
)

select * from final
