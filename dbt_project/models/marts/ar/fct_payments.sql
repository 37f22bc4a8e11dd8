-- One row per bank credit line booked up to the run date: how much cash application matched to
-- invoices, by which method, and whether the ERP has recorded it yet.
with credits as (
    select * from {{ ref('stg_bank__statement_lines') }}
    where credit_debit = 'CRDT' and booking_date <= {{ as_of_date() }}
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
        credits.amount - coalesce(matches.amount_matched, 0) as amount_unmatched,
        coalesce(matches.n_invoices_matched, 0) as n_invoices_matched,
        coalesce(matches.match_method, 'unmatched') as match_method,
        coalesce(matches.is_recorded_in_erp, false) as is_recorded_in_erp
    from credits
    left join matches using (bank_txn_id)
)

select * from final
