-- One row per (bank credit line, invoice) allocation found by cash application, as of the run date.
-- Methods, in order of trust: the structured creditor reference (RF) the invoice asked for, then
-- invoice numbers quoted in the remittance text. A line quoting several invoices is spread over
-- them oldest due first, never beyond each invoice's amount due. Lines the ERP has already
-- reconciled are flagged, so balances only subtract what the ERP has not recorded yet.
with bank_credits as (
    select *
    from {{ ref('stg_bank__statement_lines') }}
    where credit_debit = 'CRDT' and booking_date <= {{ as_of_date() }}
),

invoices as (
    select
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.currency,
        invoices.due_date,
        upper(replace(invoices.payment_reference, ' ', '')) as payment_reference,
        settled.amount_due
    from {{ ref('stg_erp__invoices') }} as invoices
    inner join {{ ref('int_invoices_settled') }} as settled using (invoice_id)
),

by_reference as (
    select bank_credits.bank_txn_id, invoices.invoice_id, 'structured_reference' as match_method, 1.0 as confidence
    from bank_credits
    inner join invoices
        on bank_credits.creditor_reference = invoices.payment_reference
        and bank_credits.currency = invoices.currency
),

remittance_tokens as (
    select
        bank_txn_id,
        currency,
        unnest(regexp_extract_all(upper(coalesce(remittance_text, '')), '[A-Z0-9][A-Z0-9/_.-]{3,}[A-Z0-9]')) as token
    from bank_credits
    where bank_txn_id not in (select bank_txn_id from by_reference)
),

by_number as (
    select distinct remittance_tokens.bank_txn_id, invoices.invoice_id, 'invoice_number' as match_method, 0.95 as confidence
    from remittance_tokens
    inner join invoices
        on remittance_tokens.token = upper(invoices.invoice_number)
        and remittance_tokens.currency = invoices.currency
),

candidates as (
    select * from by_reference
    union all
    select * from by_number
),

ordered as (
    select
        candidates.*,
        bank_credits.amount as line_amount,
        bank_credits.booking_date,
        bank_credits.value_date,
        invoices.customer_id,
        invoices.amount_due,
        coalesce(
            sum(invoices.amount_due) over (
                partition by candidates.bank_txn_id
                order by invoices.due_date, invoices.invoice_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as due_before
    from candidates
    inner join bank_credits using (bank_txn_id)
    inner join invoices using (invoice_id)
),

recorded as (
    select distinct bank_txn_id
    from {{ ref('stg_erp__payment_allocations') }}
    where bank_txn_id is not null and recorded_date <= {{ as_of_date() }}
),

final as (
    select
        ordered.bank_txn_id,
        ordered.invoice_id,
        ordered.customer_id,
        ordered.booking_date,
        ordered.value_date,
        ordered.match_method,
        cast(ordered.confidence as decimal(4, 3)) as confidence,
        cast(least(ordered.amount_due, greatest(ordered.line_amount - ordered.due_before, 0)) as decimal(18, 2))
            as amount_allocated,
        ordered.bank_txn_id in (select bank_txn_id from recorded) as is_recorded_in_erp
    from ordered
)

select * from final where amount_allocated > 0
