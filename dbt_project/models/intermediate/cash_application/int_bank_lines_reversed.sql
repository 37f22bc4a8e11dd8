-- One row per bank line that cash application must not apply to invoices as of the run date,
-- because of a reversal or a return booked up to that date:
--   reason 'reversal': the reversal/return line itself (camt RvslInd or RtrInf, MT940 RC/RD, BAI2
--     return codes), linked to the credit it undoes when one is found (reversed_bank_txn_id);
--   reason 'reversed': the earlier credit it undoes (the payment that bounced). Netting it out of
--     cash application leaves its invoices open again, so the customer is chased for the money.
-- A reversal of a credit is a debit of the same amount, currency and account, booked on or after
-- the credit. It is linked, most trusted first, by (1) the reference it quotes (reversal_of: the
-- original's bank id, end-to-end id) or the same end-to-end id, else (2) the same counterparty
-- account, name, creditor reference or remittance text. Amount alone never links (it could reopen
-- the wrong customer's invoice): such a reversal stays unlinked, listed here with a null
-- reversed_bank_txn_id for a person to resolve. Each credit is undone by at most one reversal, the
-- first booked; each reversal undoes at most one credit, the latest booked before it.
with lines as (
    select * from {{ ref('stg_bank__statement_lines') }}
    where booking_date <= {{ as_of_date() }}
),

reversals as (
    select * from lines
    where is_reversal or return_reason is not null
),

originals as (
    select * from lines
    where credit_debit = 'CRDT' and not is_reversal and return_reason is null
),

pairs as (
    select
        reversals.bank_txn_id as reversal_bank_txn_id,
        originals.bank_txn_id as reversed_bank_txn_id,
        originals.booking_date as original_booking_date,
        case
            when reversals.reversal_of in (originals.bank_txn_id, originals.end_to_end_id)
                or reversals.end_to_end_id = originals.end_to_end_id
                then 1
            when reversals.counterparty_iban = originals.counterparty_iban
                or reversals.counterparty_name = originals.counterparty_name
                or reversals.creditor_reference = originals.creditor_reference
                or reversals.remittance_text = originals.remittance_text
                then 2
        end as link_rank
    from reversals
    inner join originals
        on reversals.account_iban = originals.account_iban
        and reversals.currency = originals.currency
        and reversals.amount = originals.amount
        and originals.booking_date <= reversals.booking_date
    where reversals.credit_debit = 'DBIT'
),

linkable as (
    select * from pairs where link_rank is not null
),

best_per_reversal as (
    {{ select_qualified(
        'reversal_bank_txn_id, reversed_bank_txn_id, link_rank',
        'linkable',
        'row_number() over (partition by reversal_bank_txn_id
            order by link_rank, original_booking_date desc, reversed_bank_txn_id desc) = 1'
    ) }}
),

linked as (
    {{ select_qualified(
        'reversal_bank_txn_id, reversed_bank_txn_id, link_rank',
        'best_per_reversal',
        'row_number() over (partition by reversed_bank_txn_id order by reversal_bank_txn_id) = 1'
    ) }}
),

final as (
    select
        reversals.bank_txn_id,
        'reversal' as reason,
        linked.reversed_bank_txn_id,
        reversals.bank_txn_id as reversal_bank_txn_id,
        reversals.booking_date as reversed_on,
        reversals.return_reason,
        case linked.link_rank when 1 then 'reference' when 2 then 'counterparty' end as link_method
    from reversals
    left join linked on reversals.bank_txn_id = linked.reversal_bank_txn_id
    union all
    select
        linked.reversed_bank_txn_id as bank_txn_id,
        'reversed' as reason,
        linked.reversed_bank_txn_id,
        linked.reversal_bank_txn_id,
        reversals.booking_date as reversed_on,
        reversals.return_reason,
        case linked.link_rank when 1 then 'reference' when 2 then 'counterparty' end as link_method
    from linked
    inner join reversals on linked.reversal_bank_txn_id = reversals.bank_txn_id
)

select * from final
